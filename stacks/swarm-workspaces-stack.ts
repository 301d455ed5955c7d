import { Construct } from 'constructs';
import { TerraformStack } from 'cdktf';
import { DataDockerNetwork } from '../.gen/providers/docker/data-docker-network';
import { placeIdes } from '../config/placement';
import { ideNodesOf, SwarmConfig } from '../config/swarm';
import { durationSeconds } from '../config/units';
import { HomePlacementGuard } from '../constructs/home-placement-guard';
import { INTERNAL_PORTS } from '../constructs/naming';
import { SwarmConfigFile } from '../constructs/swarm-files';
import { SwarmWorkspace } from '../constructs/swarm-workspace';
import { workspaceManagedFiles } from '../constructs/workspace';
import { EstateStackProps, estateNames, useDocker } from './common';
import { renderWorkspaceFiles } from './user-workspaces';

/**
 * The users' IDEs on a Docker Swarm (`target: swarm`), driven through the manager's Docker API
 * (`dockerHost`): per user an internal overlay, the IDE service on the user's node
 * (config/placement.ts) and the user's forwarder (constructs/swarm-workspace.ts); the managed
 * files as Swarm configs. Each forwarder joins the forwarders' network, which the AI stack
 * (stacks/swarm-ai-stack.ts, deployed first) owns and this stack looks up by name. A roster edit
 * changes only the edited users' resources: nothing shared is per user.
 * Each home is a volume on its user's node; HomePlacementGuard keeps users on their node.
 *
 * One of the Swarm target's stacks (stacks/estate.ts, buildSwarmEstate), after the AI stack.
 */
export class SwarmWorkspacesStack extends TerraformStack {
  public readonly forwardersNetwork: DataDockerNetwork;
  /** By username; the placement every user's IDE and home follow. */
  public readonly workspaces: ReadonlyMap<string, SwarmWorkspace>;
  public readonly placement: ReadonlyMap<string, string>;

  constructor(scope: Construct, id: string, props: EstateStackProps) {
    super(scope, id);
    const { estate, roster } = props;
    const swarm: SwarmConfig | undefined = estate.swarm;
    if (estate.target !== 'swarm' || swarm === undefined) throw new Error(`SwarmWorkspacesStack: the estate's target is ${estate.target}; this stack is the swarm target's`);
    // The proxy's way out per user is not built for a swarm yet; an IDE without it would fail quietly.
    if (estate.egress) throw new Error('SwarmWorkspacesStack: egress on the swarm target is not built yet: remove egress from the estate for a swarm');
    useDocker(this, props);
    const names = estateNames(estate);
    const labels = names.labels(estate, 'workspace');

    this.forwardersNetwork = new DataDockerNetwork(this, 'forwarders-network', { name: names.network('forwarders') });

    const managedFiles = workspaceManagedFiles(renderWorkspaceFiles(estate)).map(({ file, content }) => {
      if (content === undefined) throw new Error(`managed file ${file} has no content`);
      const base = file.slice(file.lastIndexOf('/') + 1).replace(/\.[a-z]+$/, '');
      return new SwarmConfigFile(this, `managed-${base}`, { names, purpose: `ide-${base}`, upload: { file, content }, labels: { ...labels, 'webide.component': 'workspace-managed-files' } });
    });

    this.placement = placeIdes(roster.users, ideNodesOf(swarm));
    // Keyed by username under a fixed namespace: list order never reaches an id.
    const users = new Construct(this, 'users');
    const workspaces = new Map<string, SwarmWorkspace>();
    for (const user of roster.users) {
      workspaces.set(
        user.username,
        new SwarmWorkspace(users, user.username, {
          user,
          node: this.placement.get(user.username)!,
          names,
          image: estate.images.codeServer,
          forwarderImage: estate.images.nginx,
          managedFiles,
          forwardersNetworkId: this.forwardersNetwork.id,
          gateway: { host: names.service('ai-gateway'), port: INTERNAL_PORTS.aiGateway },
          encryptOverlay: swarm.encryptOverlays,
          labels,
          idleTimeoutSeconds: estate.workspaces.idleTimeout ? durationSeconds(estate.workspaces.idleTimeout) : undefined,
          allowFileTransfer: estate.workspaces.allowFileTransfer,
          dockerHost: estate.dockerHost,
        }),
      );
    }
    this.workspaces = workspaces;

    // Homes stay on their node: no user moves unless the roster pins them to the new node.
    new HomePlacementGuard(this, 'home-placement-guard', {
      placement: this.placement,
      pinned: new Map(roster.users.flatMap((user) => (user.node ? [[user.username, user.node] as const] : []))),
      stateFile: props.stateFile,
    });
  }
}
