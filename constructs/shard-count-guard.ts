import { Construct } from 'constructs';
import { TerraformLocal, TerraformOutput } from 'cdktf';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';

export interface ShardCountGuardProps {
  /** The estate's `workspaces.shards` now. */
  readonly shardCount: number;
  /** This stack's own state file (local backend): the guard reads the count its last apply recorded. */
  readonly stateFile: string;
}

/** Output that records the shard count a shard stack was applied with; the next plan compares against it. */
export const WORKSPACE_SHARDS_OUTPUT = 'workspace_shards';

/**
 * Fails the plan of a workspace shard stack when `workspaces.shards` changed since the stack's
 * last apply while it holds anything.
 *
 * A new count moves users to other shard stacks. The stack that loses a user drops the user's
 * link blocks, and Terraform runs a link's disconnect only while its block is configured: nginx
 * and the egress proxy would stay on the user's network, Docker would refuse to remove it, and
 * the apply would stop half done. So a count is changed with the shard stacks destroyed first
 * (`npm run shards:destroy` with the old count, which runs every disconnect). A stack with no
 * state yet, or destroyed, records nothing and passes. Reads the stack's own state file, as
 * HomeVolumeGuard does.
 */
export class ShardCountGuard extends Construct {
  constructor(scope: Construct, id: string, props: ShardCountGuardProps) {
    super(scope, id);
    const count = props.shardCount;
    // What the previous apply recorded; the current count when there is none (first apply, destroyed).
    const previous = new TerraformLocal(
      this,
      'recorded-workspace-shards',
      `\${try(jsondecode(file(${JSON.stringify(props.stateFile)})).outputs.${WORKSPACE_SHARDS_OUTPUT}.value, ${count})}`,
    );
    const recorded = `local.${previous.friendlyUniqueId}`;

    new NullResource(this, 'check', {
      lifecycle: {
        precondition: [
          {
            condition: `\${${recorded} == ${count}}`,
            errorMessage:
              `workspaces.shards is ${count}, but this shard stack was last applied with \${${recorded}}: users would move between shard stacks, ` +
              "and a stack that loses a user would leave nginx on the user's network. Nothing was changed. Set workspaces.shards back to " +
              `\${${recorded}}, run "npm run shards:destroy" (it removes the shard stacks' IDEs and networks; homes stay), then set it to ${count} ` +
              'and deploy (README, "Sharding the workspaces").',
          },
        ],
      },
    });

    new TerraformOutput(this, WORKSPACE_SHARDS_OUTPUT, {
      value: count,
      description: 'workspaces.shards when this shard stack was applied (the shard-count guard compares the next plan against it).',
    }).overrideLogicalId(WORKSPACE_SHARDS_OUTPUT);
  }
}
