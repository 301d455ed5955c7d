import { Construct } from 'constructs';
import { Image } from '@cdktf/provider-docker/lib/image';
import { Network } from '@cdktf/provider-docker/lib/network';
import { RosterUser } from '../config/roster';
import { HardenedContainer } from './hardened-container';
import { EstateNames, INTERNAL_PORTS } from './naming';

/** Rendered files every IDE gets, identical for all users. */
export interface WorkspaceFiles {
  readonly machineSettings: string;
  readonly continueConfig: string;
  readonly tabbyClientConfig: string;
}

export interface WorkspaceProps {
  readonly user: RosterUser;
  readonly names: EstateNames;
  readonly image: Image;
  readonly files: WorkspaceFiles;
  /** Labels shared by every estate container (estate, profile); the workspace adds its own. */
  readonly labels: Readonly<Record<string, string>>;
  /** code-server exits after this many idle seconds. @default - never (the flag is not passed) */
  readonly idleTimeoutSeconds?: number;
  /** Allow browser downloads and uploads of files. @default false (data stays in the VDE) */
  readonly allowFileTransfer?: boolean;
}

/** Where the user's home lives inside the IDE container. */
export const HOME_DIR = '/home/coder';
/** Extensions are baked into the image here, read-only; users cannot add their own. */
export const EXTENSIONS_DIR = '/opt/code-server/extensions';
const USER_DATA_DIR = `${HOME_DIR}/.local/share/code-server`;
/**
 * Managed files go to the image's filesystem, not the home volume: the provider uploads
 * before the container starts, when the volume is not mounted yet. The image's entrypoint
 * (images/code-server/webide-ide-entrypoint.sh) installs them into the home at every start.
 */
export const MANAGED_DIR = '/etc/webide/managed';
export const IDE_ENTRYPOINT = '/usr/local/bin/webide-ide-entrypoint';

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

    const transfer = props.allowFileTransfer ?? false;
    this.ide = new HardenedContainer(this, 'ide', {
      containerName: names.workspaceContainer(user.username),
      image: props.image,
      networks: [{ name: this.network.name }],
      user: '1000:1000',
      cpus: user.resources.cpus,
      memoryMiB: user.resources.memory,
      entrypoint: [IDE_ENTRYPOINT],
      command: [
        '--bind-addr',
        `0.0.0.0:${INTERNAL_PORTS.codeServer}`,
        // nginx and oauth2-proxy authenticate; only nginx can reach this port.
        '--auth',
        'none',
        '--disable-telemetry',
        '--disable-update-check',
        ...(transfer ? [] : ['--disable-file-downloads', '--disable-file-uploads']),
        ...(props.idleTimeoutSeconds !== undefined ? ['--idle-timeout-seconds', String(props.idleTimeoutSeconds)] : []),
        '--extensions-dir',
        EXTENSIONS_DIR,
        '--user-data-dir',
        USER_DATA_DIR,
        `${HOME_DIR}/project`,
      ],
      env: {
        // No gallery at all: extensions come only from the image (the allow-list).
        EXTENSIONS_GALLERY: '{}',
        HOME: HOME_DIR,
        WEBIDE_USER: user.username,
      },
      // Docker refuses uploads into a read-only root filesystem, and uploads happen before
      // start. As uid 1000 without capabilities the user can write only to home and /tmp anyway.
      readOnlyRootfs: false,
      tmpfs: { '/tmp': 'rw,nosuid,nodev,size=512m' },
      // No volume_options: provider 3.6.2 then always sends VolumeOptions.Subpath, which
      // Docker before API 1.45 (Debian 12's 20.10 among them) refuses.
      mounts: [{ type: 'volume', target: HOME_DIR, source: this.homeVolumeName }],
      uploads: [
        { file: `${MANAGED_DIR}/machine-settings.json`, content: props.files.machineSettings },
        { file: `${MANAGED_DIR}/continue-config.yaml`, content: props.files.continueConfig },
        { file: `${MANAGED_DIR}/tabby-agent-config.toml`, content: props.files.tabbyClientConfig },
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
