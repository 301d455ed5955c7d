import { createHash } from 'crypto';
import { Construct } from 'constructs';
import { Fn } from 'cdktf';
import { Config } from '../.gen/providers/docker/config';
import { Secret } from '../.gen/providers/docker/secret';
import { ServiceTaskSpecContainerSpecConfigs, ServiceTaskSpecContainerSpecSecrets } from '../.gen/providers/docker/service';
import { EstateNames } from './naming';

/** What the Swarm target's services share (constructs/swarm-workspace.ts, stacks/swarm-ai-stack.ts). */
export const MiB = 1024 * 1024;
/**
 * Swarm tmpfs mounts are root-owned; 0777 lets the one non-root user of the container write there
 * (no sticky bit: the API reads it back without one, which would show as a change on every plan).
 */
export const SHARED_TMPFS_MODE = 0o777;
/** Written as the manager reads it back, so a refresh shows no drift (the lab's provider test found it). */
export const SWARM_PLATFORM = [{ architecture: 'amd64', os: 'linux' }];
export const SWARM_RESTART = { condition: 'any', delay: '5s', window: '0s' };

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
