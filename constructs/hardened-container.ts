import { createHash } from 'crypto';
import { Construct } from 'constructs';
import { ITerraformDependable } from 'cdktf';
import { Container, ContainerHealthcheck, ContainerMounts, ContainerPorts, ContainerUpload } from '../.gen/providers/docker/container';
import { Image } from '../.gen/providers/docker/image';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';

export interface NetworkAttachment {
  /** Network name: `network.name` for a network of the same stack, the plain name across stacks. */
  readonly name: string;
  /** Extra DNS names on that network. @default - only the container name */
  readonly aliases?: readonly string[];
  /** A fixed IPv4 address on that network (the network needs a subnet). @default - Docker picks one */
  readonly ipv4Address?: string;
}

export interface HealthcheckProps {
  /** Docker healthcheck test, e.g. `['CMD', 'curl', '-fsS', 'http://127.0.0.1:8080/healthz']`. */
  readonly test: readonly string[];
  /** Grace period while starting, so slow services (Keycloak, vLLM) get time. @default 60 */
  readonly startPeriodSeconds?: number;
}

/** Files on a volume that a container mounts once their loader has received them (ManagedFiles). */
export interface MountableFiles {
  /** The container that receives the files; the mounting container is created after it. */
  readonly loader: ITerraformDependable;
  mount(): ContainerMounts;
}

export interface HardenedContainerProps {
  /** Docker container name; also its host name on every attached network. */
  readonly containerName: string;
  readonly image: Image;
  readonly networks: readonly NetworkAttachment[];
  /** Hard memory limit; swap is disabled by setting memory_swap to the same value. */
  readonly memoryMiB: number;
  /** CPU limit in cores. */
  readonly cpus: number;
  /** Environment; written sorted so attribute order never causes a diff. @default - none */
  readonly env?: Readonly<Record<string, string>>;
  /** @default - the image's */
  readonly entrypoint?: readonly string[];
  /** @default - the image's */
  readonly command?: readonly string[];
  /** `uid:gid`; every estate container runs as non-root unless a service cannot. */
  readonly user: string;
  /**
   * Read-only root filesystem. False only where the software cannot run without writing to its
   * root; the policy pack (WEBIDE-C6) then needs a suppression with the reason. @default true
   */
  readonly readOnlyRootfs?: boolean;
  /** tmpfs mounts (path → options) for services with a read-only root. @default - none */
  readonly tmpfs?: Readonly<Record<string, string>>;
  /** Files the estate writes for it, mounted read-only (ManagedFiles). @default - none */
  readonly managedFiles?: MountableFiles;
  /** Most processes (threads included) the container may hold: a fork bomb stops there. */
  readonly pidsLimit: number;
  /** Docker host the pids limit is applied through (the estate's `dockerHost`). */
  readonly dockerHost: string;
  /** Capabilities added back after dropping ALL, as `CAP_<NAME>` (how Docker 20.10 reads them back). @default - none */
  readonly capabilitiesAdd?: readonly string[];
  readonly mounts?: readonly ContainerMounts[];
  /**
   * Files written into the container's root at create; a change replaces the container. Only
   * for a writable root (Docker refuses uploads into a read-only one): use managedFiles.
   */
  readonly uploads?: readonly ContainerUpload[];
  /** Host ports; the policy allows them on nginx only. @default - none */
  readonly ports?: readonly ContainerPorts[];
  readonly healthcheck?: HealthcheckProps;
  /**
   * Apply waits until the healthcheck says healthy, for at most this long, so that a stack
   * deployed next can use the service at once.
   * @default - apply does not wait
   */
  readonly waitHealthySeconds?: number;
  /** Docker runtime, e.g. `nvidia` for GPU services. @default - the daemon's default */
  readonly runtime?: string;
  /** /dev/shm size. @default - Docker's 64 MiB */
  readonly shmSizeMiB?: number;
  /**
   * Upstream resolvers behind Docker's embedded DNS: only for a service that must resolve the
   * bank's names (the egress proxy). @default [UNROUTABLE_DNS_UPSTREAM] (no name outside the estate resolves)
   */
  readonly dnsServers?: readonly string[];
  /** Labels that identify the estate and component (for audit and `docker ps --filter`). */
  readonly labels: Readonly<Record<string, string>>;
  readonly dependsOn?: readonly ITerraformDependable[];
}

/** CFS period Docker uses for `--cpus`. */
const CPU_PERIOD_MICROS = 100_000;

/**
 * The only DNS upstream any container has: an address of TEST-NET-1 (RFC 5737), which is never
 * routed. Docker's embedded DNS still answers the estate's own names; a name it does not know is
 * forwarded from the container's own network namespace (the upstream is not a host loopback
 * address), where there is no route. So no container can resolve, or leak through a query, any
 * name outside the estate, even on Docker 20.10, which forwards from internal networks
 * (CVE-2024-29018; from the host's namespace when the host's resolver is on loopback).
 */
export const UNROUTABLE_DNS_UPSTREAM = '192.0.2.53';

/** Label that records a container's pids limit (applied by `docker update`, see below). */
export const PIDS_LIMIT_LABEL = 'webide.pids-limit';

/** Log options written out explicitly: daemon defaults read back as drift on provider 3.6.2. */
export const CONTAINER_LOG_OPTS = { 'max-file': '5', 'max-size': '50m' } as const;

/**
 * A Docker container with the estate's baseline controls always on: all
 * capabilities dropped, no-new-privileges, not privileged, cpu, memory and pids limits,
 * no swap, no DNS upstream, a read-only root unless said otherwise, bounded logs, restart
 * unless stopped.
 */
export class HardenedContainer extends Construct {
  public readonly container: Container;
  /** Applies the pids limit (see the constructor). */
  public readonly pidsLimit: NullResource;

  constructor(scope: Construct, id: string, props: HardenedContainerProps) {
    super(scope, id);
    if (props.networks.length === 0) {
      throw new Error(`${props.containerName}: a container must join at least one network; the default bridge is never used`);
    }
    if (props.memoryMiB < 6) throw new Error(`${props.containerName}: memoryMiB ${props.memoryMiB} is below Docker's minimum of 6`);
    if (!Number.isInteger(props.pidsLimit) || props.pidsLimit < 1) throw new Error(`${props.containerName}: pidsLimit must be a positive integer`);
    const readOnlyRootfs = props.readOnlyRootfs ?? true;
    const uploads = props.uploads ?? [];
    if (readOnlyRootfs && uploads.length > 0) {
      throw new Error(`${props.containerName}: Docker refuses uploads into a read-only root; give the files as managedFiles`);
    }
    const mounts = [...(props.mounts ?? []), ...(props.managedFiles ? [props.managedFiles.mount()] : [])];
    const dependsOn = [...(props.dependsOn ?? []), ...(props.managedFiles ? [props.managedFiles.loader] : [])];

    this.container = new Container(this, 'container', {
      name: props.containerName,
      image: props.image.imageId,
      hostname: props.containerName,
      user: props.user,
      entrypoint: props.entrypoint ? [...props.entrypoint] : undefined,
      command: props.command ? [...props.command] : undefined,
      env: Object.entries(props.env ?? {})
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, value]) => `${key}=${value}`),
      privileged: false,
      capabilities: { drop: ['ALL'], add: props.capabilitiesAdd ? [...props.capabilitiesAdd].sort() : undefined },
      securityOpts: ['no-new-privileges:true'],
      readOnly: readOnlyRootfs,
      dns: props.dnsServers && props.dnsServers.length > 0 ? [...props.dnsServers] : [UNROUTABLE_DNS_UPSTREAM],
      tmpfs: props.tmpfs ? { ...props.tmpfs } : undefined,
      memory: props.memoryMiB,
      memorySwap: props.memoryMiB,
      // Provider 3.6.2 cannot apply `cpus` (it asserts a float on a string attribute; 4.5.0
      // can) and reads it back as NanoCPUs; the CFS quota is the same limit, set directly,
      // and keeps plans unchanged across the upgrade.
      cpuPeriod: CPU_PERIOD_MICROS,
      cpuQuota: Math.round(props.cpus * CPU_PERIOD_MICROS),
      shmSize: props.shmSizeMiB,
      runtime: props.runtime,
      restart: 'unless-stopped',
      logDriver: 'json-file',
      logOpts: { ...CONTAINER_LOG_OPTS },
      networkMode: 'bridge',
      networksAdvanced: props.networks.map((attachment) => ({
        name: attachment.name,
        aliases: attachment.aliases ? [...attachment.aliases] : undefined,
        ipv4Address: attachment.ipv4Address,
      })),
      mounts: mounts.length > 0 ? mounts : undefined,
      upload: uploads.length > 0 ? [...uploads] : undefined,
      ports: props.ports ? [...props.ports] : undefined,
      healthcheck: props.healthcheck ? toHealthcheck(props.healthcheck) : undefined,
      ...(props.waitHealthySeconds !== undefined ? { wait: true, waitTimeout: props.waitHealthySeconds } : {}),
      // cpu_quota, healthcheck and tmpfs changes only reach Terraform state on provider
      // 3.6.2 (and then show as drift forever); labels force replacement, so these two make
      // such a change recreate the container, which applies it.
      labels: Object.entries({
        ...props.labels,
        'webide.cpu-limit': String(props.cpus),
        [PIDS_LIMIT_LABEL]: String(props.pidsLimit),
        'webide.recreate-on': fingerprint({ healthcheck: props.healthcheck ?? null, tmpfs: props.tmpfs ?? null }),
      })
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([label, value]) => ({ label, value })),
      dependsOn: dependsOn.length > 0 ? dependsOn : undefined,
    });

    // Neither provider 3.6.2 nor 4.5.0 has a pids limit, and dockerd sets none by default, so
    // the limit is applied to each new container right after it starts (a new id runs it again).
    // `docker update` keeps it in the container's host config, across restarts.
    this.pidsLimit = new NullResource(this, 'pids-limit', {
      triggers: { container_id: this.container.id, pids_limit: String(props.pidsLimit), docker_host: props.dockerHost },
      provisioners: [
        {
          type: 'local-exec',
          command: 'docker update --pids-limit "$PIDS_LIMIT" "$CONTAINER_ID" >/dev/null',
          environment: { DOCKER_HOST: props.dockerHost, PIDS_LIMIT: String(props.pidsLimit), CONTAINER_ID: this.container.id },
        },
      ],
    });
  }
}

function toHealthcheck(props: HealthcheckProps): ContainerHealthcheck {
  return {
    test: [...props.test],
    interval: goDuration(15),
    timeout: goDuration(5),
    startPeriod: goDuration(props.startPeriodSeconds ?? 60),
    retries: 5,
  };
}

/** A short, stable digest of settings whose change must recreate the container. */
function fingerprint(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/**
 * Seconds written the way Go's time.Duration prints them (`1m30s`): the provider
 * reads healthcheck durations back in that form, so any other spelling is a perpetual diff.
 */
export function goDuration(seconds: number): string {
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  if (hours > 0) return `${hours}h${minutes}m${rest}s`;
  if (minutes > 0) return `${minutes}m${rest}s`;
  return `${rest}s`;
}
