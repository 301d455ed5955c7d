import { Construct } from 'constructs';
import { Image } from '../.gen/providers/docker/image';
import { Network } from '../.gen/providers/docker/network';
import { RosterUser } from '../config/roster';
import { ContainerUpload } from '../.gen/providers/docker/container';
import { HardenedContainer } from './hardened-container';
import { ManagedFiles } from './managed-files';
import { EstateNames, INTERNAL_PORTS } from './naming';
import { IDE_EGRESS_PATHS, IdeEgressFile } from '../render/ide-egress';

/** Rendered files every IDE gets, identical for all users. */
export interface WorkspaceFiles {
  readonly machineSettings: string;
  readonly continueConfig: string;
  readonly tabbyClientConfig: string;
}

/**
 * The managed files every IDE mounts, as ManagedFiles takes them: all in MANAGED_DIR.
 * `egressFiles`: render/ide-egress.ts ideEgressFiles, names relative to MANAGED_DIR. @default - none
 */
export function workspaceManagedFiles(files: WorkspaceFiles, egressFiles: readonly IdeEgressFile[] = []): ContainerUpload[] {
  return [
    { file: `${MANAGED_DIR}/settings.json`, content: files.machineSettings },
    { file: `${MANAGED_DIR}/continue-config.yaml`, content: files.continueConfig },
    { file: `${MANAGED_DIR}/tabby-agent-config.toml`, content: files.tabbyClientConfig },
    ...egressFiles.map(({ file, content }) => ({ file: `${MANAGED_DIR}/${file}`, content })),
  ];
}

/** What an IDE needs for the egress proxy (issue 18), besides its managed files. */
export interface WorkspaceEgress {
  /** render/ide-egress.ts ideEgressEnv: the proxy, the hosts reached directly, the CA bundle. */
  readonly env: Readonly<Record<string, string>>;
  /** The bank's CA files on the Docker host, by service; each mounted read-only at IDE_EGRESS_PATHS.caDir/<service>.pem. */
  readonly caFiles: readonly { readonly service: string; readonly hostPath: string }[];
}

export interface WorkspaceProps {
  readonly user: RosterUser;
  readonly names: EstateNames;
  readonly image: Image;
  /** The managed files (workspaceManagedFiles), one volume shared read-only by every IDE. */
  readonly managedFiles: ManagedFiles;
  /** Labels shared by every estate container (estate, profile); the workspace adds its own. */
  readonly labels: Readonly<Record<string, string>>;
  /** code-server exits after this many idle seconds. @default - never (the flag is not passed) */
  readonly idleTimeoutSeconds?: number;
  /** Allow browser downloads and uploads of files. @default false (data stays in the VDE) */
  readonly allowFileTransfer?: boolean;
  /** Docker host the IDE's pids limit is applied through. */
  readonly dockerHost: string;
  /** The egress proxy's environment and the bank's CAs. @default - no egress: no proxy variables, no CA mounts */
  readonly egress?: WorkspaceEgress;
}

/** Where the user's home lives inside the IDE container. */
export const HOME_DIR = '/home/coder';
/** Extensions are baked into the image here, read-only; users cannot add their own. */
export const EXTENSIONS_DIR = '/opt/code-server/extensions';
/**
 * VS Code's user-data dir: a tmpfs mounted outside the home, in the read-only root. A path in
 * the home would not do: the user owns its ancestors and could rename one of them, taking the
 * managed settings out of the way (a mount moves with a renamed parent). A mount point itself
 * cannot be renamed or removed. The image's entrypoint links its `User` dir (the user's own
 * settings and extension state) to the home, so those persist.
 */
export const USER_DATA_DIR = '/var/lib/code-server';
/**
 * VS Code's Machine settings dir, which outranks the user's settings: the managed files' volume,
 * mounted read-only (and, being a mount point, it cannot be moved either). It holds the machine
 * settings and the AI clients' configs; the entrypoint copies the latter into the home, where
 * the clients read them.
 */
export const MANAGED_DIR = `${USER_DATA_DIR}/Machine`;
export const IDE_ENTRYPOINT = '/usr/local/bin/webide-ide-entrypoint';
/** Processes and threads an IDE may hold: room for parallel builds, not for a fork bomb. */
export const IDE_PIDS_LIMIT = 4096;

/** code-server's arguments, after the IDE entrypoint: the same on one host and on a swarm. */
export function codeServerArgs(props: Pick<WorkspaceProps, 'allowFileTransfer' | 'idleTimeoutSeconds'>): string[] {
  const transfer = props.allowFileTransfer ?? false;
  return [
    '--bind-addr',
    `0.0.0.0:${INTERNAL_PORTS.codeServer}`,
    // nginx and oauth2-proxy authenticate; only nginx (on a swarm, the user's forwarder) reaches this port.
    '--auth',
    'none',
    '--disable-telemetry',
    '--disable-update-check',
    // No port proxy (/proxy/<port>/, /absproxy/<port>/): a server started in the IDE would
    // otherwise be a way to fetch files through the browser.
    '--disable-proxy',
    ...(transfer ? [] : ['--disable-file-downloads', '--disable-file-uploads']),
    ...(props.idleTimeoutSeconds !== undefined ? ['--idle-timeout-seconds', String(props.idleTimeoutSeconds)] : []),
    '--extensions-dir',
    EXTENSIONS_DIR,
    '--user-data-dir',
    USER_DATA_DIR,
    `${HOME_DIR}/project`,
  ];
}

/**
 * One user's IDE: a private internal network that only this IDE and nginx join, and
 * a code-server container on it (absent while the user is archived).
 *
 * The home volume is referenced by name and created by Docker on first use, so it is
 * never a Terraform resource and no plan — not a removed user, not `destroy` — can
 * delete it. The volume guard makes a vanished user fail the plan instead.
 */
export class Workspace extends Construct {
  /** The user's private network; nginx joins it to serve the IDE and the AI gateway. */
  public readonly network?: Network;
  public readonly ide?: HardenedContainer;
  public readonly homeVolumeName: string;

  constructor(scope: Construct, id: string, props: WorkspaceProps) {
    super(scope, id);
    const { user, names } = props;
    this.homeVolumeName = names.homeVolume(user.username);
    if (user.state === 'archived') return;

    this.network = new Network(this, 'network', {
      name: names.workspaceNetwork(user.username),
      driver: 'bridge',
      // No gateway to the host or the outside: the IDE can reach only what shares this network.
      internal: true,
      attachable: false,
      labels: [
        { label: 'webide.component', value: 'workspace-network' },
        { label: 'webide.user', value: user.username },
      ],
    });

    this.ide = new HardenedContainer(this, 'ide', {
      containerName: names.workspaceContainer(user.username),
      image: props.image,
      networks: [{ name: this.network.name }],
      user: '1000:1000',
      cpus: user.resources.cpus,
      memoryMiB: user.resources.memory,
      entrypoint: [IDE_ENTRYPOINT],
      command: codeServerArgs(props),
      env: {
        ...props.egress?.env,
        // No gallery at all: extensions come only from the image (the allow-list).
        EXTENSIONS_GALLERY: '{}',
        HOME: HOME_DIR,
        WEBIDE_USER: user.username,
      },
      pidsLimit: IDE_PIDS_LIMIT,
      dockerHost: props.dockerHost,
      tmpfs: {
        '/tmp': 'rw,nosuid,nodev,size=512m',
        [USER_DATA_DIR]: 'rw,nosuid,nodev,size=256m,uid=1000,gid=1000,mode=0700',
      },
      managedFiles: props.managedFiles,
      // No volume_options: provider 3.6.2 then always sends VolumeOptions.Subpath, which Docker
      // before API 1.45 (Debian 12's 20.10 among them) refuses; 4.5.0 refuses them itself there.
      mounts: [
        { type: 'volume', target: HOME_DIR, source: this.homeVolumeName },
        // Sorted by service, so the order of the estate config never shows as a change.
        ...[...(props.egress?.caFiles ?? [])]
          .sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0))
          .map((ca) => ({ type: 'bind', source: ca.hostPath, target: `${IDE_EGRESS_PATHS.caDir}/${ca.service}.pem`, readOnly: true })),
      ],
      healthcheck: { test: ['CMD', 'curl', '-fsS', `http://127.0.0.1:${INTERNAL_PORTS.codeServer}/healthz`], startPeriodSeconds: 30 },
      labels: {
        ...props.labels,
        'webide.component': 'workspace',
        'webide.user': user.username,
        // Quota of the home volume, for a quota-capable volume driver and for auditors.
        'webide.disk-quota-mib': String(user.resources.disk),
      },
    });
  }
}
