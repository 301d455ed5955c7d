import { createHash } from 'crypto';
import { Construct } from 'constructs';
import { DefaultTokenResolver, Fn, ITerraformDependable, StringConcat, Tokenization } from 'cdktf';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';
import { Config } from '../.gen/providers/docker/config';
import { Network, NetworkLabels } from '../.gen/providers/docker/network';
import { Secret } from '../.gen/providers/docker/secret';
import {
  Service,
  ServiceEndpointSpecPorts,
  ServiceLabels,
  ServiceTaskSpecContainerSpec,
  ServiceTaskSpecContainerSpecConfigs,
  ServiceTaskSpecContainerSpecMounts,
  ServiceTaskSpecContainerSpecSecrets,
  ServiceTaskSpecNetworksAdvanced,
} from '../.gen/providers/docker/service';
import { EstateNames } from './naming';

/** What the Swarm target's services share (constructs/swarm-workspace.ts, stacks/swarm-ai-stack.ts). */
export const MiB = 1024 * 1024;
/**
 * Swarm tmpfs mounts are root-owned; 0777 lets the one non-root user of the container write there
 * (no sticky bit: the API reads it back without one, which would show as a change on every plan).
 */
export const SHARED_TMPFS_MODE = 0o777;
/** Written as the manager reads it back, so a refresh shows no drift (the lab's provider test found it); so are durations (`1m`, not `60s`). */
export const SWARM_PLATFORM = [{ architecture: 'amd64', os: 'linux' }];
export const SWARM_RESTART = { condition: 'any', delay: '5s', window: '0s' };

/**
 * A service's mounts and resources in the form the docker CLI writes them back when SwarmPidsLimit
 * runs `docker service update` (the lab showed it): mounts sorted by source, then target, and a
 * reservation present though empty. Declared so, the refresh after it finds nothing changed.
 */
export function swarmMounts(mounts: readonly ServiceTaskSpecContainerSpecMounts[]): ServiceTaskSpecContainerSpecMounts[] {
  return [...mounts].sort((a, b) => (a.source ?? '').localeCompare(b.source ?? '') || a.target.localeCompare(b.target));
}

/** Limits, with the empty reservation the CLI writes (see swarmMounts). */
export function swarmResources(limits: { readonly memoryBytes: number; readonly nanoCpus: number }) {
  return { limits: { ...limits }, reservation: { memoryBytes: 0, nanoCpus: 0 } };
}

/**
 * An overlay network of the estate. `internal`: no way out of the swarm (every overlay but the
 * entry point's edge). `encrypted`: IPsec between nodes (swarm.encryptOverlays; the nodes' kernels
 * need ESP). Not attachable: only the estate's services join it.
 */
export function swarmOverlay(scope: Construct, id: string, props: { readonly name: string; readonly internal: boolean; readonly encrypted: boolean; readonly labels: NetworkLabels[] }): Network {
  return new Network(scope, id, {
    name: props.name,
    driver: 'overlay',
    internal: props.internal,
    attachable: false,
    options: props.encrypted ? { encrypted: '' } : undefined,
    labels: props.labels,
  });
}

/** What a hardened Swarm service declares; the hardening itself is not a choice (hardenedSwarmService). */
export interface HardenedSwarmServiceProps {
  readonly name: string;
  readonly labels: ServiceLabels[];
  /** The container as the service runs it: a non-root `user` always; read-only root, no capabilities and an init are added. */
  readonly container: Omit<ServiceTaskSpecContainerSpec, 'readOnly' | 'capDrop' | 'init' | 'user'> & { readonly user: string };
  readonly networks: ServiceTaskSpecNetworksAdvanced[];
  /** Placement constraints, e.g. `node.role==manager`. */
  readonly constraints: string[];
  readonly resources: { readonly memoryBytes: number; readonly nanoCpus: number };
  readonly pidsLimit: number;
  /** The manager's engine (SwarmPidsLimit runs `docker service update` against it). */
  readonly dockerHost: string;
  /** Tasks: a count (default 1; 0 stops the service) or `global` (one on every node the constraints allow). */
  readonly replicas?: number | 'global';
  /** Ports published on the node itself (`host` mode: this kernel has no IPVS for the routing mesh). */
  readonly hostPorts?: readonly { readonly published: number; readonly target: number }[];
  /** Created only after these (e.g. another service's `settled`: that service running with its final spec). */
  readonly dependsOn?: ITerraformDependable[];
}

/** A hardened Swarm service, and the step after which it runs with its final spec (its pids limit applied). */
export interface HardenedSwarmService {
  readonly service: Service;
  readonly settled: ITerraformDependable;
}

/**
 * A Swarm service hardened as a one-host HardenedContainer is: read-only root, a non-root user,
 * every capability dropped, an init, memory/CPU limits and a pids limit (SwarmPidsLimit, the one
 * the provider cannot write); endpoint mode `dnsrr` (no VIPs: no IPVS on the lab's kernel, and
 * one name per task is all the estate needs). Made in `scope` as `id` and `<id>-pids`, so the
 * services keep their Terraform identities.
 */
export function hardenedSwarmService(scope: Construct, id: string, props: HardenedSwarmServiceProps): HardenedSwarmService {
  const { container } = props;
  const service = new Service(scope, id, {
    name: props.name,
    labels: props.labels,
    endpointSpec: {
      mode: 'dnsrr',
      ...(props.hostPorts ? { ports: props.hostPorts.map((port): ServiceEndpointSpecPorts => ({ publishMode: 'host', publishedPort: port.published, targetPort: port.target, protocol: 'tcp' })) } : {}),
    },
    mode: props.replicas === 'global' ? { global: true } : { replicated: { replicas: props.replicas ?? 1 } },
    taskSpec: {
      containerSpec: { ...container, readOnly: true, capDrop: ['ALL'], init: true, mounts: swarmMounts((container.mounts ?? []) as ServiceTaskSpecContainerSpecMounts[]) },
      networksAdvanced: props.networks,
      placement: { constraints: props.constraints, platforms: SWARM_PLATFORM },
      resources: swarmResources(props.resources),
      restartPolicy: SWARM_RESTART,
    },
    dependsOn: props.dependsOn,
  });
  const pids = new SwarmPidsLimit(scope, `${id}-pids`, { service, limit: props.pidsLimit, dockerHost: props.dockerHost });
  return { service, settled: pids.apply };
}

/** A rendered file as a Swarm config: immutable, named by its content (EstateNames.swarmConfig). */
export class SwarmConfigFile extends Construct {
  public readonly config: Config;
  /** Where it appears in the containers that mount it. */
  public readonly file: string;

  constructor(scope: Construct, id: string, props: { readonly names: EstateNames; readonly purpose: string; readonly upload: { readonly file: string; readonly content: string }; readonly labels: Readonly<Record<string, string>> }) {
    super(scope, id);
    this.file = props.upload.file;
    const digest = createHash('sha256').update(props.upload.content).digest('hex');
    this.config = new Config(this, 'config', {
      name: props.names.swarmConfig(props.purpose, digest),
      dataRaw: props.upload.content,
      labels: Object.entries(props.labels).map(([label, value]) => ({ label, value })),
      // A new content is a new config: the services move to it before the old one goes.
      lifecycle: { createBeforeDestroy: true },
    });
  }

  /**
   * Root-owned 0644, as the managed files are on one host: readable by the IDE user, writable by
   * no one (a config mount is read-only). Not 0444: the IDE's entrypoint copies the AI clients'
   * configs into the home, and a copy of a 0444 file could not be overwritten at the next start.
   */
  mount(): ServiceTaskSpecContainerSpecConfigs {
    return { configId: this.config.id, configName: this.config.name, fileName: this.file, fileUid: '0', fileGid: '0', fileMode: 0o644 };
  }
}


/**
 * A secret as a Swarm secret: a file in the containers that mount it (/run/secrets/<file>), never
 * an environment variable, so `docker service inspect` and `docker inspect` show no value. The
 * content is a template whose placeholders are filled with Terraform references to secret
 * variables: the synthesized JSON holds references, the state the value (as for every secret of
 * the estate). Named by a digest of the content, so a rotated secret is a new Swarm secret the
 * services move to before the old one goes (12 hex digits of a SHA-256 of a long random value
 * give nothing away).
 */
export class SwarmSecretFile extends Construct {
  public readonly secret: Secret;
  public readonly file: string;

  constructor(
    scope: Construct,
    id: string,
    props: {
      readonly names: EstateNames;
      readonly purpose: string;
      readonly file: string;
      /** The file's text; each placeholder (a key of `values`) becomes its value. */
      readonly template: string;
      /** Placeholder → Terraform reference (a secret variable's value). */
      readonly values: Readonly<Record<string, string>>;
      readonly labels: Readonly<Record<string, string>>;
    },
  ) {
    super(scope, id);
    this.file = props.file;
    const content = filledTemplate(props.template, props.values);
    this.secret = new Secret(this, 'secret', {
      name: `${props.names.swarmSecretPrefix(props.purpose)}-${Fn.substr(Fn.sha256(content), 0, 12)}`,
      data: Fn.base64encode(content),
      labels: Object.entries(props.labels).map(([label, value]) => ({ label, value })),
      lifecycle: { createBeforeDestroy: true },
    });
  }

  /** Readable by the service's user only (`uid:gid`), writable by no one. */
  mount(user: string): ServiceTaskSpecContainerSpecSecrets {
    const [uid, gid] = user.split(':');
    return { secretId: this.secret.id, secretName: this.secret.name, fileName: this.file, fileUid: uid, fileGid: gid ?? uid, fileMode: 0o400 };
  }
}

/**
 * The secret a program reads from one environment variable, as a Swarm secret file named after
 * the variable (commandWithSecretEnv reads it into the environment).
 */
export function envSecretFile(scope: Construct, props: { readonly names: EstateNames; readonly variable: string; readonly value: string; readonly labels: Readonly<Record<string, string>> }): SwarmSecretFile {
  const purpose = props.variable.toLowerCase().replace(/_/g, '-');
  return new SwarmSecretFile(scope, `secret-${purpose}`, { names: props.names, purpose, file: props.variable, template: '$VALUE', values: { $VALUE: props.value }, labels: props.labels });
}

/**
 * A template with its placeholders replaced by Terraform references, as one Terraform expression:
 * the literal text is passed raw (cdktf refuses quotes in a function argument otherwise).
 */
function filledTemplate(template: string, values: Readonly<Record<string, string>>): string {
  const placeholders = Object.keys(values).sort((a, b) => b.length - a.length);
  if (placeholders.length === 0) throw new Error('SwarmSecretFile: a secret needs at least one value');
  const pattern = new RegExp(placeholders.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  const parts: string[] = [];
  let last = 0;
  for (const match of template.matchAll(pattern)) {
    if (match.index > last) parts.push(Fn.rawString(template.slice(last, match.index)));
    parts.push(values[match[0]]);
    last = match.index + match[0].length;
  }
  if (last < template.length) parts.push(Fn.rawString(template.slice(last)));
  if (parts.length === 1) return parts[0];
  return Fn.join('', parts);
}

/** Where a Swarm secret file is in the container (a relative file name lands in /run/secrets). */
export const SWARM_SECRETS_DIR = '/run/secrets';

/**
 * A service command that reads secrets from their Swarm secret files into the environment
 * variables its program expects, then runs the program (`exec`, so it stays PID 1's child with
 * the init): for images that take a secret only from the environment (LiteLLM, vLLM, Tabby).
 * The files are named after the variables. The values live in that process's environment only,
 * never in the service's spec.
 */
export function commandWithSecretEnv(variables: readonly string[], program: readonly string[]): string[] {
  for (const name of variables) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw new Error(`commandWithSecretEnv: '${name}' is not an environment variable name`);
  }
  const reads = variables.map((name) => `${name}="$(cat ${SWARM_SECRETS_DIR}/${name})"; export ${name}; `).join('');
  return ['/bin/sh', '-c', `set -e; ${reads}exec "$@"`, 'secret-env', ...program];
}

/**
 * A Swarm service's pids limit. Swarm has one (API 1.41, `docker service update --limit-pids`),
 * but the provider cannot write it, so it is applied through the manager right after the
 * provider wrote the service, and again after every change of the service's declared task (the
 * provider sends its whole spec, without the limit). Each application rolls the task once.
 *
 * The triggers are a digest of the task as declared (references as written, such as
 * `${docker_network.x.id}`) and the ids of the networks, configs and secrets it attaches (a
 * replaced one changes the service too), not the task as the provider reads it back: the CLI's
 * update rewrites empty fields in a form the provider reads differently, which would trigger it
 * again on every plan. So one change is not followed by the limit: the provider undoing a change
 * made to the service by hand. The next change of the service restores it.
 */
export class SwarmPidsLimit extends Construct {
  public readonly apply: NullResource;

  constructor(scope: Construct, id: string, props: { readonly service: Service; readonly limit: number; readonly dockerHost: string }) {
    super(scope, id);
    if (!Number.isInteger(props.limit) || props.limit < 1) throw new Error(`${id}: a pids limit must be a positive integer`);
    this.apply = new NullResource(this, 'pids-limit', {
      triggers: {
        service_id: props.service.id,
        task_spec: declaredDigest(props.service),
        attached: Fn.join(',', attachedIds(props.service)),
        pids_limit: String(props.limit),
        docker_host: props.dockerHost,
      },
      provisioners: [
        {
          type: 'local-exec',
          // Not detached: the deploy ends when the task runs (and is healthy) with its limit.
          command: 'docker service update --quiet --limit-pids "$PIDS_LIMIT" "$SERVICE_ID" >/dev/null',
          environment: { DOCKER_HOST: props.dockerHost, PIDS_LIMIT: String(props.limit), SERVICE_ID: props.service.id },
        },
      ],
    });
  }
}

/** sha256 of a service's task as declared, in its synthesized form (so stable across synths). */
function declaredDigest(service: Service): string {
  const declared = Tokenization.resolve(service.toTerraform(), { scope: service, resolver: new DefaultTokenResolver(new StringConcat()) }) as { resource: Record<string, Record<string, { task_spec: unknown }>> };
  const taskSpec = Object.values(Object.values(declared.resource)[0])[0].task_spec;
  return createHash('sha256').update(JSON.stringify(taskSpec)).digest('hex');
}

/** The ids of the networks, configs and secrets a service's task attaches (Terraform references). */
function attachedIds(service: Service): string[] {
  const task = service.taskSpecInput as { networksAdvanced?: { id: string }[]; containerSpec: { configs?: { configId: string }[]; secrets?: { secretId: string }[] } };
  return [...(task.networksAdvanced ?? []).map((n) => n.id), ...(task.containerSpec.configs ?? []).map((c) => c.configId), ...(task.containerSpec.secrets ?? []).map((s) => s.secretId)];
}
