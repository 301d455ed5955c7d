import { createHash } from 'crypto';
import { Construct } from 'constructs';
import { ITerraformDependable } from 'cdktf';
import { Container, ContainerHealthcheck, ContainerMounts, ContainerPorts, ContainerUpload } from '@cdktf/provider-docker/lib/container';
import { Image } from '@cdktf/provider-docker/lib/image';

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
  /** Read-only root filesystem. @default true */
  readonly readOnlyRootfs?: boolean;
  /** tmpfs mounts (path → options) for services with a read-only root. @default - none */
  readonly tmpfs?: Readonly<Record<string, string>>;
  /** Capabilities added back after dropping ALL. @default - none */
  readonly capabilitiesAdd?: readonly string[];
  readonly mounts?: readonly ContainerMounts[];
  /** Files written into the container at create; a change replaces the container. */
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
  /** Labels that identify the estate and component (for audit and `docker ps --filter`). */
  readonly labels: Readonly<Record<string, string>>;
  readonly dependsOn?: readonly ITerraformDependable[];
}

/** CFS period Docker uses for `--cpus`. */
const CPU_PERIOD_MICROS = 100_000;

/** Log options written out explicitly: daemon defaults read back as drift on provider 3.6.2. */
export const CONTAINER_LOG_OPTS = { 'max-file': '5', 'max-size': '50m' } as const;

/**
 * A Docker container with the estate's baseline controls always on: all
 * capabilities dropped, no-new-privileges, not privileged, cpu and memory limits,
 * no swap, bounded logs, restart unless stopped.
 */
export class HardenedContainer extends Construct {
  public readonly container: Container;

  constructor(scope: Construct, id: string, props: HardenedContainerProps) {
    super(scope, id);
    if (props.networks.length === 0) {
      throw new Error(`${props.containerName}: a container must join at least one network; the default bridge is never used`);
    }
    if (props.memoryMiB < 6) throw new Error(`${props.containerName}: memoryMiB ${props.memoryMiB} is below Docker's minimum of 6`);

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
      readOnly: props.readOnlyRootfs ?? true,
      tmpfs: props.tmpfs ? { ...props.tmpfs } : undefined,
      memory: props.memoryMiB,
      memorySwap: props.memoryMiB,
      // Provider 3.6.2 cannot apply `cpus` (it asserts a float on a string attribute)
      // and reads it back as NanoCPUs; the CFS quota is the same limit, set directly.
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
      mounts: props.mounts ? [...props.mounts] : undefined,
      upload: props.uploads ? [...props.uploads] : undefined,
      ports: props.ports ? [...props.ports] : undefined,
      healthcheck: props.healthcheck ? toHealthcheck(props.healthcheck) : undefined,
      ...(props.waitHealthySeconds !== undefined ? { wait: true, waitTimeout: props.waitHealthySeconds } : {}),
      // cpu_quota, healthcheck and tmpfs changes only reach Terraform state on provider
      // 3.6.2 (and then show as drift forever); labels force replacement, so these two make
      // such a change recreate the container, which applies it.
      labels: Object.entries({
        ...props.labels,
        'webide.cpu-limit': String(props.cpus),
        'webide.recreate-on': fingerprint({ healthcheck: props.healthcheck ?? null, tmpfs: props.tmpfs ?? null }),
      })
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([label, value]) => ({ label, value })),
      dependsOn: props.dependsOn ? [...props.dependsOn] : undefined,
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
