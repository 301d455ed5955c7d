import { Construct } from 'constructs';
import { TerraformStack } from 'cdktf';
import { DataDockerNetwork } from '../.gen/providers/docker/data-docker-network';
import { placeIdes } from '../config/placement';
import { RosterUser } from '../config/roster';
import { ideNodesOf, SwarmConfig } from '../config/swarm';
import { durationSeconds } from '../config/units';
import { EstateConfig } from '../config/estate';
import { HomePlacementGuard } from '../constructs/home-placement-guard';
import { INTERNAL_PORTS } from '../constructs/naming';
import { ShardCountGuard } from '../constructs/shard-count-guard';
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
 * With `workspaces.shards` above 1 the IDEs are in the shard stacks (SwarmWorkspaceShardStack)
 * and this stack keeps only the placement guard over every user: its record of each user's node
 * is the same before and after a split, so a split moves nobody's home.
 *
 * One of the Swarm target's stacks (stacks/estate.ts, buildSwarmEstate), after the AI stack.
 */
export class SwarmWorkspacesStack extends TerraformStack {
  /** By username; empty when sharded (see the shard stacks). */
  public readonly workspaces: ReadonlyMap<string, SwarmWorkspace>;
  /** Every user's node: the placement every user's IDE and home follow. */
  public readonly placement: ReadonlyMap<string, string>;

  constructor(scope: Construct, id: string, props: EstateStackProps) {
    super(scope, id);
    const { estate, roster } = props;
    const swarm = swarmOf(estate, 'SwarmWorkspacesStack');
    useDocker(this, props);
    this.placement = placeIdes(roster.users, ideNodesOf(swarm));
    this.workspaces = estate.workspaces.shards === 1 ? declareSwarmWorkspaces(this, { estate, users: roster.users, placement: this.placement, configPurpose: 'ide' }) : new Map();

    // Homes stay on their node: no user moves unless the roster pins them to the new node.
    new HomePlacementGuard(this, 'home-placement-guard', {
      placement: this.placement,
      pinned: new Map(roster.users.flatMap((user) => (user.node ? [[user.username, user.node] as const] : []))),
      stateFile: props.stateFile,
    });
  }
}

export interface SwarmWorkspaceShardStackProps extends Omit<EstateStackProps, 'roster'> {
  /** The shard's name (`ws-01` …): it names the shard's managed-file configs. */
  readonly shard: string;
  /** This shard's users (config/shards.ts, assignWorkspaceShards). */
  readonly users: readonly RosterUser[];
  /** Every user's node (placeIdes over the whole roster, as SwarmWorkspacesStack computes it). */
  readonly placement: ReadonlyMap<string, string>;
}

/**
 * One workspace shard on a swarm (`workspaces.shards` > 1): its users' overlays, IDEs and
 * forwarders, and its own managed-file configs. buildSwarmEstate puts each user in one shard by
 * the hash of their name (config/shards.ts), so a one-user roster edit plans only that user's
 * shard and the workspaces stack's placement guard. ShardCountGuard refuses a changed count
 * while the stack holds anything: a user moving to a shard deployed earlier would meet their old
 * service's name still taken.
 */
export class SwarmWorkspaceShardStack extends TerraformStack {
  public readonly shard: string;
  public readonly workspaces: ReadonlyMap<string, SwarmWorkspace>;

  constructor(scope: Construct, id: string, props: SwarmWorkspaceShardStackProps) {
    super(scope, id);
    swarmOf(props.estate, 'SwarmWorkspaceShardStack');
    useDocker(this, props);
    this.shard = props.shard;
    this.workspaces = declareSwarmWorkspaces(this, { estate: props.estate, users: props.users, placement: props.placement, configPurpose: `ide-${props.shard}` });
    new ShardCountGuard(this, 'shard-count-guard', { shardCount: props.estate.workspaces.shards, stateFile: props.stateFile });
  }
}

function swarmOf(estate: EstateConfig, stack: string): SwarmConfig {
  if (estate.target !== 'swarm' || estate.swarm === undefined) throw new Error(`${stack}: the estate's target is ${estate.target}; this stack is the swarm target's`);
  // The proxy's way out per user is not built for a swarm yet; an IDE without it would fail quietly.
  if (estate.egress) throw new Error(`${stack}: egress on the swarm target is not built yet: remove egress from the estate for a swarm`);
  return estate.swarm;
}

/**
 * `users`' workspaces in `scope`: the forwarders' network looked up by name, the managed files as
 * Swarm configs (named `<configPurpose>-<file>` and their digest: two stacks never share one), and
 * per user, keyed by username under a fixed namespace, a SwarmWorkspace on the user's node.
 */
function declareSwarmWorkspaces(
  scope: Construct,
  props: { readonly estate: EstateConfig; readonly users: readonly RosterUser[]; readonly placement: ReadonlyMap<string, string>; readonly configPurpose: string },
): Map<string, SwarmWorkspace> {
  const { estate } = props;
  const swarm = estate.swarm!;
  const names = estateNames(estate);
  const labels = names.labels(estate, 'workspace');
  const forwardersNetwork = new DataDockerNetwork(scope, 'forwarders-network', { name: names.network('forwarders') });

  const managedFiles = workspaceManagedFiles(renderWorkspaceFiles(estate)).map(({ file, content }) => {
    if (content === undefined) throw new Error(`managed file ${file} has no content`);
    const base = file.slice(file.lastIndexOf('/') + 1).replace(/\.[a-z]+$/, '');
    return new SwarmConfigFile(scope, `managed-${base}`, { names, purpose: `${props.configPurpose}-${base}`, upload: { file, content }, labels: { ...labels, 'webide.component': 'workspace-managed-files' } });
  });

  // Keyed by username under a fixed namespace: list order never reaches an id.
  const users = new Construct(scope, 'users');
  const workspaces = new Map<string, SwarmWorkspace>();
  for (const user of props.users) {
    const node = props.placement.get(user.username);
    if (node === undefined) throw new Error(`declareSwarmWorkspaces: user ${user.username} has no node in the placement`);
    workspaces.set(
      user.username,
      new SwarmWorkspace(users, user.username, {
        user,
        node,
        names,
        image: estate.images.codeServer,
        forwarderImage: estate.images.nginx,
        managedFiles,
        forwardersNetworkId: forwardersNetwork.id,
        gateway: { host: names.service('ai-gateway'), port: INTERNAL_PORTS.aiGateway },
        encryptOverlay: swarm.encryptOverlays,
        labels,
        idleTimeoutSeconds: estate.workspaces.idleTimeout ? durationSeconds(estate.workspaces.idleTimeout) : undefined,
        allowFileTransfer: estate.workspaces.allowFileTransfer,
        dockerHost: estate.dockerHost,
      }),
    );
  }
  return workspaces;
}
