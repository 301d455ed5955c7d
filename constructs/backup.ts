import { Construct } from 'constructs';
import { Image } from '../.gen/providers/docker/image';
import { BackupConfig, BackupRepository, parseBackupRepository } from '../config/backup';
import { HardenedContainer, UNROUTABLE_DNS_UPSTREAM } from './hardened-container';
import { EstateNames, INTERNAL_PORTS } from './naming';

/**
 * The backup image's contract (images/backup): the program, its paths inside the container, and
 * the environment it reads. Both the estate's backup agent (a long-running container) and the
 * one-off restore containers of `npm run restore` are built from these.
 */
export const BACKUP_PROGRAM = 'webide-backup';

export const BACKUP_PATHS = {
  /** Each home volume, read-only, at `<homes>/<username>`. */
  homes: '/backup/homes',
  /** A path repository's host directory (bind mount); unused for a rest: URL. */
  repository: '/backup/repository',
  /** The home volume being restored (read-write), in a restore-home container only. */
  restore: '/backup/restore',
  /** The state volume: the lock every run and restore takes, restic's cache, the last run's result. */
  state: '/var/lib/webide-backup',
} as const;

/**
 * Secrets the backup program reads, by environment name, each with the Terraform variable (and so
 * `TF_VAR_<variable>`) it comes from. Never in a file or on a command line.
 */
export const BACKUP_SECRETS = {
  RESTIC_PASSWORD: 'backup_repository_password',
  PGPASSWORD: 'keycloak_db_password',
} as const;
export type BackupSecretEnv = keyof typeof BACKUP_SECRETS;

/** The role and database Keycloak uses (platform-stack: POSTGRES_USER / POSTGRES_DB). */
export const KEYCLOAK_DATABASE = { user: 'keycloak', database: 'keycloak' } as const;

/** A mount in the provider's shape (`ContainerMounts`) and in `docker --mount` terms. */
export interface BackupMount {
  readonly type: 'volume' | 'bind';
  /** Volume name or host path. */
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

export interface BackupAgentProps {
  /** The estate's name (`estate.name`): names the containers and volumes and is every snapshot's host. */
  readonly estateName: string;
  readonly backup: BackupConfig;
  /** Every user with a home volume: the roster's users in any state (archived ones keep their home). */
  readonly usernames: readonly string[];
}

/** Everything a stack needs to declare the backup agent (with HardenedContainer), apart from the image. */
export interface BackupAgentContract {
  readonly containerName: string;
  /**
   * Root, with every capability dropped but DAC_READ_SEARCH: it reads every file of every home
   * whatever its mode, and writes only what root owns (the repository directory, the state volume,
   * tmpfs). Needs a WEBIDE-C5 suppression with that reason.
   */
  readonly user: '0:0';
  readonly capabilitiesAdd: readonly string[];
  readonly command: readonly string[];
  /** Non-secret environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Secret environment: name → the Terraform variable whose value it gets. */
  readonly secretEnv: Readonly<Record<BackupSecretEnv, string>>;
  /** Sorted by target: the repository (path repositories), the state volume, then each home. */
  readonly mounts: readonly BackupMount[];
  readonly tmpfs: Readonly<Record<string, string>>;
  /**
   * Networks by purpose: the database network (pg_dump), and for a rest: repository the edge
   * network, the only one with a route out. The estate's containers resolve no name outside
   * Docker's (UNROUTABLE_DNS_UPSTREAM), so a REST server must be named by an address Docker can
   * reach without DNS, or given to the container as an extra host.
   */
  readonly networks: readonly ('database' | 'edge')[];
  readonly healthcheck: readonly string[];
  readonly memoryMiB: number;
  readonly pidsLimit: number;
}

/** The repository's mount (path repositories) and RESTIC_REPOSITORY value. */
export function repositoryAccess(repository: BackupRepository): { readonly mount?: BackupMount; readonly env: string } {
  return repository.kind === 'path'
    ? { mount: { type: 'bind', source: repository.hostPath, target: BACKUP_PATHS.repository, readOnly: false }, env: BACKUP_PATHS.repository }
    : { env: repository.url };
}

/** The repository named by a validated backup config (a message naming the fix if it is not valid). */
export function backupRepository(backup: BackupConfig): BackupRepository {
  const parsed = parseBackupRepository(backup.repository);
  if ('error' in parsed) throw new Error(`backup.repository ${JSON.stringify(backup.repository)} ${parsed.error}`);
  return parsed;
}

/** PostgreSQL's address and role for the backup program (PGPASSWORD is a secret, apart). */
export function keycloakDatabaseEnv(names: EstateNames): Record<string, string> {
  return {
    PGHOST: names.service('postgres'),
    PGPORT: String(INTERNAL_PORTS.postgres),
    PGUSER: KEYCLOAK_DATABASE.user,
    PGDATABASE: KEYCLOAK_DATABASE.database,
  };
}

/**
 * The backup agent of an estate: one container that backs up the Keycloak database and every home
 * daily at `backup.schedule` (UTC) and on `docker exec <containerName> webide-backup now`.
 * Pure: the same props give the same contract; users are sorted, so roster order never matters.
 */
export function backupAgentContract(props: BackupAgentProps): BackupAgentContract {
  const names = new EstateNames(props.estateName);
  const repository = backupRepository(props.backup);
  const access = repositoryAccess(repository);
  const usernames = [...new Set(props.usernames)].sort();
  const homes: BackupMount[] = usernames.map((username) => ({
    type: 'volume',
    source: names.homeVolume(username),
    target: `${BACKUP_PATHS.homes}/${username}`,
    readOnly: true,
  }));
  const state: BackupMount = { type: 'volume', source: names.dataVolume('backup'), target: BACKUP_PATHS.state, readOnly: false };
  return {
    containerName: names.service('backup'),
    user: '0:0',
    // Written as the engine reads it back (Docker 20.10 adds the CAP_ prefix): no drift on refresh.
    capabilitiesAdd: ['CAP_DAC_READ_SEARCH'],
    command: [BACKUP_PROGRAM, 'schedule'],
    env: {
      ...keycloakDatabaseEnv(names),
      RESTIC_REPOSITORY: access.env,
      BACKUP_HOST: props.estateName,
      BACKUP_HOMES: usernames.join(' '),
      BACKUP_SCHEDULE: props.backup.schedule,
      BACKUP_KEEP_DAILY: String(props.backup.keep.daily),
      BACKUP_KEEP_WEEKLY: String(props.backup.keep.weekly),
      BACKUP_KEEP_MONTHLY: String(props.backup.keep.monthly),
    },
    secretEnv: { ...BACKUP_SECRETS },
    mounts: [...(access.mount ? [access.mount] : []), state, ...homes],
    // restic assembles pack files (16 MiB each) and check's cache in TMPDIR.
    tmpfs: { '/tmp': 'rw,nosuid,nodev,noexec,size=512m' },
    networks: repository.kind === 'rest' ? ['database', 'edge'] : ['database'],
    healthcheck: ['CMD', BACKUP_PROGRAM, 'health'],
    memoryMiB: 2048,
    pidsLimit: 256,
  };
}

/** Flags of every one-off restore container: the agent's controls, as `docker create` arguments. */
export function restoreContainerFlags(kind: 'home' | 'keycloak'): string[] {
  // Restoring a home writes files of any owner and mode and removes the old ones.
  const caps = kind === 'home' ? ['CHOWN', 'DAC_OVERRIDE', 'FOWNER'] : [];
  return [
    '--user',
    '0:0',
    '--cap-drop',
    'ALL',
    ...caps.flatMap((cap) => ['--cap-add', cap]),
    '--security-opt',
    'no-new-privileges',
    '--read-only',
    '--tmpfs',
    '/tmp:rw,nosuid,nodev,noexec,size=512m',
    '--memory',
    '2048m',
    '--memory-swap',
    '2048m',
    '--pids-limit',
    '256',
    '--dns',
    UNROUTABLE_DNS_UPSTREAM,
  ];
}

export interface BackupAgentConstructProps extends BackupAgentProps {
  readonly names: EstateNames;
  /** The backup image (images/backup). */
  readonly image: Image;
  /** Secret values by the environment name the program reads (sensitive variables of the stack). */
  readonly secrets: Readonly<Record<BackupSecretEnv, string>>;
  /** Networks by purpose, as the contract names them. */
  readonly networks: Readonly<Record<'database' | 'edge', string>>;
  readonly dockerHost: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The backup agent as a container (backupAgentContract), hardened like every other. */
export class BackupAgent extends Construct {
  public readonly agent: HardenedContainer;
  public readonly contract: BackupAgentContract;

  constructor(scope: Construct, id: string, props: BackupAgentConstructProps) {
    super(scope, id);
    const contract = backupAgentContract(props);
    this.contract = contract;
    this.agent = new HardenedContainer(this, 'agent', {
      containerName: contract.containerName,
      image: props.image,
      networks: contract.networks.map((purpose) => ({ name: props.networks[purpose] })),
      user: contract.user,
      capabilitiesAdd: contract.capabilitiesAdd,
      memoryMiB: contract.memoryMiB,
      cpus: 1,
      pidsLimit: contract.pidsLimit,
      dockerHost: props.dockerHost,
      // The program is the image's entrypoint too; named here so the command is the contract's whole.
      entrypoint: contract.command.slice(0, 1),
      command: contract.command.slice(1),
      env: { ...contract.env, ...props.secrets },
      tmpfs: contract.tmpfs,
      mounts: contract.mounts.map((m) => ({ type: m.type, source: m.source, target: m.target, ...(m.readOnly ? { readOnly: true } : {}) })),
      healthcheck: { test: [...contract.healthcheck], startPeriodSeconds: 30 },
      labels: props.labels,
    });
  }
}
