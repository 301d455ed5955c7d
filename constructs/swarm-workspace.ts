import { Construct } from 'constructs';
import { Network } from '../.gen/providers/docker/network';
import { Service } from '../.gen/providers/docker/service';
import { RosterUser } from '../config/roster';
import { renderUserForwarderConf } from '../render/user-forwarder';
import { AI_GATEWAY_HOST, EstateNames, INTERNAL_PORTS } from './naming';
import { hardenedSwarmService, MiB, SHARED_TMPFS_MODE, SwarmConfigFile, swarmOverlay } from './swarm-files';
import { codeServerArgs, HOME_DIR, IDE_ENTRYPOINT, IDE_PIDS_LIMIT, MANAGED_DIR, USER_DATA_DIR } from './workspace';

export interface SwarmWorkspaceProps {
  readonly user: RosterUser;
  /** The node the user's IDE and home are on (config/placement.ts placeIdes). */
  readonly node: string;
  readonly names: EstateNames;
  /** The IDE image, by digest (each node pulls it itself). */
  readonly image: string;
  /** The forwarder's image (the estate's nginx), by digest. */
  readonly forwarderImage: string;
  /** The managed files, every IDE's the same (SwarmConfigFile), each mounted in MANAGED_DIR. */
  readonly managedFiles: readonly SwarmConfigFile[];
  /** The network of the entry point, the AI gateway and every forwarder. */
  readonly forwardersNetworkId: string;
  /** The AI gateway's service name and port on that network. */
  readonly gateway: { readonly host: string; readonly port: number };
  /** Encrypt the user's overlay (IPsec between nodes): swarm.encryptOverlays. */
  readonly encryptOverlay: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly idleTimeoutSeconds?: number;
  readonly allowFileTransfer?: boolean;
  /** The manager's Docker API (the estate's `dockerHost`): the pids limits are applied through it. */
  readonly dockerHost: string;
}

/** The user forwarder's listeners (render/user-forwarder.ts): AI calls on the IDE's AI port, the IDE session on the code-server port. */
export const FORWARDER_PORTS = { ai: INTERNAL_PORTS.aiGateway, ide: INTERNAL_PORTS.codeServer } as const;
/** nginx with one worker: a handful of processes. */
const FORWARDER_PIDS_LIMIT = 64;
/** The forwarder's user: the estate nginx image's unprivileged user. */
const FORWARDER_USER = '101:101';
const IDE_USER = '1000:1000';
/**
 * Docker's own default, stated: the provider waits for a service's containers on the engine it
 * talks to (the manager) to be removed only when a service sets it. Without that wait the manager
 * still held its copy of the user's overlay when the next stack created it again (the 1 → N split),
 * and refused the name (README, Sharding the workspaces).
 */
export const WORKSPACE_STOP_GRACE_PERIOD = '10s';

/**
 * One user's IDE on a Docker Swarm: a private internal overlay, the IDE service on it (pinned to
 * the user's node, where the home volume is), and the user's forwarder, the one other member of
 * that overlay (render/user-forwarder.ts). Absent while the user is archived, except the home,
 * which stays on the node. A suspended user's IDE keeps running with its forwarder scaled to
 * zero: no entry point, no AI gateway.
 *
 * Hardened as on one host: read-only root, non-root, every capability dropped, memory, CPU and
 * pids limits (SwarmPidsLimit), an init. no-new-privileges is not in Swarm's API of this engine:
 * it is the engines' own setting (README, the Swarm target).
 */
export class SwarmWorkspace extends Construct {
  public readonly network?: Network;
  public readonly ide?: Service;
  public readonly forwarder?: Service;
  public readonly homeVolumeName: string;

  constructor(scope: Construct, id: string, props: SwarmWorkspaceProps) {
    super(scope, id);
    const { user, names, node } = props;
    this.homeVolumeName = names.homeVolume(user.username);
    if (user.state === 'archived') return;

    const labels = (extra: Record<string, string>) => Object.entries({ ...props.labels, 'webide.user': user.username, ...extra }).map(([label, value]) => ({ label, value }));
    const onNode = [`node.hostname==${node}`];

    // No way out: the IDE reaches only what shares this network (its forwarder).
    this.network = swarmOverlay(this, 'network', {
      name: names.workspaceNetwork(user.username),
      internal: true,
      encrypted: props.encryptOverlay,
      labels: labels({ 'webide.component': 'workspace-network' }),
    });

    const ideName = names.workspaceContainer(user.username);
    this.ide = hardenedSwarmService(this, 'ide', {
      name: ideName,
      labels: labels({ 'webide.component': 'workspace', 'webide.node': node, 'webide.disk-quota-mib': String(user.resources.disk) }),
      container: {
        image: props.image,
        command: [IDE_ENTRYPOINT],
        args: codeServerArgs(props),
        env: { EXTENSIONS_GALLERY: '{}', HOME: HOME_DIR, WEBIDE_USER: user.username },
        user: IDE_USER,
        stopGracePeriod: WORKSPACE_STOP_GRACE_PERIOD,
        mounts: [
          // The home: a local volume on the user's node, created there on first use and never a
          // Terraform resource (as on one host), so no plan can delete it; the user stays on the node.
          { type: 'volume', source: this.homeVolumeName, target: HOME_DIR },
          { type: 'tmpfs', target: '/tmp', tmpfsOptions: { sizeBytes: 512 * MiB, mode: SHARED_TMPFS_MODE } },
          { type: 'tmpfs', target: USER_DATA_DIR, tmpfsOptions: { sizeBytes: 256 * MiB, mode: SHARED_TMPFS_MODE } },
          // A root-owned mount point for the managed files: the user can neither write it nor move it away.
          { type: 'tmpfs', target: MANAGED_DIR, tmpfsOptions: { sizeBytes: MiB, mode: 0o555 } },
        ],
        configs: props.managedFiles.map((file) => file.mount()),
        healthcheck: { test: ['CMD', 'curl', '-fsS', `http://127.0.0.1:${INTERNAL_PORTS.codeServer}/healthz`], interval: '15s', timeout: '5s', retries: 3, startPeriod: '30s' },
      },
      networks: [{ id: this.network.id }],
      constraints: onNode,
      resources: { memoryBytes: user.resources.memory * MiB, nanoCpus: Math.round(user.resources.cpus * 1e9) },
      pidsLimit: IDE_PIDS_LIMIT,
      dockerHost: props.dockerHost,
    }).service;

    const forwarderConf = new SwarmConfigFile(this, 'forwarder-conf', {
      names,
      purpose: `fwd-${user.username}`,
      upload: {
        file: '/etc/webide/forwarder.conf',
        content: renderUserForwarderConf({ username: user.username, ide: { host: ideName, port: INTERNAL_PORTS.codeServer }, gateway: props.gateway, listen: FORWARDER_PORTS }),
      },
      labels: { ...props.labels, 'webide.component': 'user-forwarder', 'webide.user': user.username },
    });
    this.forwarder = hardenedSwarmService(this, 'forwarder', {
      name: names.userForwarder(user.username),
      labels: labels({ 'webide.component': 'user-forwarder' }),
      // A suspended user's IDE runs on, cut off: no forwarder, so no entry point and no AI.
      replicas: user.state === 'active' ? 1 : 0,
      container: {
        image: props.forwarderImage,
        command: ['nginx', '-c', forwarderConf.file, '-g', 'daemon off; pid /tmp/nginx.pid;'],
        user: FORWARDER_USER,
        stopGracePeriod: WORKSPACE_STOP_GRACE_PERIOD,
        mounts: [{ type: 'tmpfs', target: '/tmp', tmpfsOptions: { sizeBytes: 64 * MiB, mode: SHARED_TMPFS_MODE } }],
        configs: [forwarderConf.mount()],
      },
      networks: [
        { id: this.network.id, aliases: [AI_GATEWAY_HOST] },
        { id: props.forwardersNetworkId },
      ],
      // Beside the IDE: its traffic stays on the node.
      constraints: onNode,
      resources: { memoryBytes: 64 * MiB, nanoCpus: 250_000_000 },
      pidsLimit: FORWARDER_PIDS_LIMIT,
      dockerHost: props.dockerHost,
    }).service;
  }
}
