import { Construct } from 'constructs';
import { TerraformElement } from 'cdktf';

/** A `local-exec` provisioner run at destroy time. */
export interface DestroyCommand {
  readonly command: string;
  /** @default - none */
  readonly environment?: Readonly<Record<string, string>>;
}

export interface RemovedResourceProps {
  /** The Terraform type of the resource this construct's path declared before (`null_resource`). */
  readonly resourceType: string;
  /**
   * What Terraform runs as it destroys an instance the state still holds (`when` is set to
   * `destroy`); they may refer to the destroyed instance as `self`, as a resource's own
   * destroy-time provisioners do.
   */
  readonly destroyProvisioners: readonly DestroyCommand[];
}

/**
 * Terraform's `removed` block (Terraform 1.9 or later) for the resource that a resource construct
 * at this construct's path would declare: the same logical id, so the same address. Terraform
 * destroys whatever the state holds at that address and runs the destroy-time provisioners as it
 * does; where the state holds nothing, the block does nothing.
 *
 * Why not a resource block with `count = 0`, which does the same: Terraform evaluates every
 * resource block on every plan, and a workspaces stack keeps one per user and linked service (the
 * unlinked users of a roster, or all of them when the workspaces are sharded). At 1000 users those
 * empty blocks made the roster-wide stack's plan take 6 to 8 s instead of under 2 s with nothing
 * in state (terraform 1.11.4, measured by hand, not by the bench).
 */
export class RemovedResource extends TerraformElement {
  private readonly props: RemovedResourceProps;

  constructor(scope: Construct, id: string, props: RemovedResourceProps) {
    super(scope, id, props.resourceType);
    this.props = props;
  }

  /** The address the removed block names. */
  public get address(): string {
    return `${this.props.resourceType}.${this.friendlyUniqueId}`;
  }

  public override toTerraform(): Record<string, unknown> {
    return {
      removed: [
        {
          '//': { metadata: { path: this.node.path, uniqueId: this.friendlyUniqueId } },
          from: this.address,
          lifecycle: { destroy: true },
          provisioner: this.props.destroyProvisioners.map(({ command, environment }) => ({ 'local-exec': { command, ...(environment ? { environment: { ...environment } } : {}), when: 'destroy' } })),
        },
      ],
    };
  }
}
