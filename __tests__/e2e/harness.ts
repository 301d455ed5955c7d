import { spawn, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as https from 'https';
import * as path from 'path';
import { EstateConfig } from '../../config/estate';
import { loadEstate, loadRoster } from '../../config/load';
import { Roster } from '../../config/roster';
import { EstateNames } from '../../constructs/naming';
import { estateStackIds, isWorkspaceShardStackId } from '../../stacks/estate';
import { leafSpki as spkiOf, testCertificates } from '../helpers/tls';
import { planJson, ROOT, synthStackInto, terraform, terraformEnv, terraformFailure } from '../live/terraform';
import { DirectoryPerson, directoryFiles } from '../helpers/slapd';
import { mustRun, run, sleep } from '../helpers/run';
import { sweepStack } from '../../scripts/orphans';

export { mustRun, run, sleep };

/**
 * The e2e tier's harness: the estate of `estate.local.yaml` deployed by real terraform with
 * the real providers onto the real Docker engine, stack by stack, as an operator would.
 * Everything lives under .work/e2e (state, stack dirs, the throwaway CA, artefacts).
 */
export const E2E_DIR = path.join(ROOT, '.work', 'e2e');
export const ARTEFACTS = path.join(E2E_DIR, 'artefacts');
const STATE_DIR = path.join(E2E_DIR, 'state');
const TLS_DIR = path.join(E2E_DIR, 'tls');

/** The test directory's image: images/directory, tagged with the slapd version build-images.sh pins. */
const DIRECTORY_IMAGE = `webide-local/directory:${/^SLAPD_VERSION=(\S+)/m.exec(fs.readFileSync(path.join(ROOT, 'scripts', 'docker', 'build-images.sh'), 'utf8'))![1]}`;

/**
 * A stack of the test estate: platform, identity, workspaces, edge and, with workspaces.shards above
 * 1, the shard stacks workspaces-ws-01 … (E2EEstate.stacks lists them in deploy order).
 */
export type StackId = string;

export function log(message: string): void {
  process.stdout.write(`[e2e ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export function docker(...args: string[]): string {
  return mustRun('docker', args).trim();
}

/** Random secrets for every TF_VAR the stacks declare, kept (mode 600) so E2E_KEEP runs can be resumed. */
function secrets(): Record<string, string> {
  const file = path.join(E2E_DIR, 'secrets.json');
  const kept = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>) : {};
  const hex = (bytes: number) => crypto.randomBytes(bytes).toString('hex');
  const values = {
    keycloak_admin_password: `Adm-${hex(12)}`,
    keycloak_db_password: hex(16),
    litellm_master_key: `sk-${hex(16)}`,
    vllm_api_key: `vllm-${hex(16)}`,
    tabby_api_token: `auth_${hex(16)}`,
    tabby_jwt_secret: crypto.randomUUID(),
    oauth2_proxy_cookie_secret: hex(16),
    litellm_gateway_key: `sk-gw-${hex(16)}`,
    keycloak_terraform_client_secret: hex(24),
    directory_bind_password: `Bind-${hex(12)}`,
    backup_repository_password: `Restic-${hex(16)}`,
    // Kept values win: the data volumes were initialised with them.
    ...kept,
  };
  fs.mkdirSync(E2E_DIR, { recursive: true });
  fs.writeFileSync(file, JSON.stringify(values), { mode: 0o600 });
  return values;
}

/** A throwaway CA and a certificate for the estate's domain and 127.0.0.1. */
function tls(domain: string): void {
  testCertificates(TLS_DIR, domain, ['127.0.0.1']);
}

export const CA_FILE = path.join(TLS_DIR, 'ca.pem');

/** The bank's services in this test (the stand-in's names; estate.local.yaml's egress.services). */
export const BANK_DOMAIN = 'bank.internal';
export const BANK_HOSTS = ['git', 'npm', 'pypi', 'maven'].map((name) => `${name}.${BANK_DOMAIN}`);
const BANK_DIR = path.join(E2E_DIR, 'bank');
/** The stand-in image (images/bank-standin), built with the others. */
const BANK_IMAGE = 'webide-local/bank-standin:1.0.0';

/**
 * The bank's own CA (not the estate's: the estate lists it as egress.services[].caFile) and one
 * certificate for the stand-in's four names, readable by its uid 1000.
 */
function bankTls(): void {
  if (fs.existsSync(path.join(BANK_DIR, 'cert.pem'))) return;
  fs.mkdirSync(BANK_DIR, { recursive: true });
  const openssl = (...args: string[]) => mustRun('openssl', args, { cwd: BANK_DIR });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '7', '-subj', '/CN=bank e2e test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${BANK_HOSTS[0]}`, '-keyout', 'key.pem', '-out', 'leaf.csr');
  fs.writeFileSync(path.join(BANK_DIR, 'leaf.ext'), `subjectAltName=${BANK_HOSTS.map((h) => `DNS:${h}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '7', '-extfile', 'leaf.ext', '-out', 'cert.pem');
  for (const file of ['cert.pem', 'key.pem', 'ca.pem']) fs.chmodSync(path.join(BANK_DIR, file), 0o644);
}

/** The SPKI hash of the leaf certificate, for Chromium's --ignore-certificate-errors-spki-list (trust exactly this one). */
export function leafSpki(): string {
  return spkiOf(path.join(TLS_DIR, 'leaf.pem'));
}

export function rosterYaml(users: { name: string; state?: 'active' | 'suspended' | 'archived' }[]): string {
  const lines = users.map(
    (u) => `  - { username: ${u.name}, email: ${u.name}@corp.example, name: ${u.name[0].toUpperCase()}${u.name.slice(1)} Test, groups: [developers]${u.state ? `, state: ${u.state}` : ''} }`,
  );
  return `groups:\n  - name: developers\nusers:\n${lines.join('\n')}\n`;
}

export interface PlanChange {
  readonly address: string;
  readonly actions: readonly string[];
}

/** The deployed test estate: synth + terraform per stack, with the inputs it was last given. */
export class E2EEstate {
  readonly estate: EstateConfig;
  readonly names: EstateNames;
  readonly secrets = secrets();
  private readonly estateText: string;
  private roster: Roster;
  private rosterText: string;
  private readonly env: NodeJS.ProcessEnv;
  /** Seconds each named phase took, printed at the end. */
  readonly timings: [string, number][] = [];

  constructor(rosterText: string) {
    this.rosterText = rosterText;
    const template = fs.readFileSync(path.join(__dirname, 'estate.local.yaml'), 'utf8');
    this.estateText = template.split('__E2E__').join(E2E_DIR);
    this.estate = loadEstate({ file: '__tests__/e2e/estate.local.yaml', text: this.estateText });
    this.names = new EstateNames(this.estate.name);
    this.roster = loadRoster({ file: 'e2e-roster.yaml', text: rosterText }, this.estate);
    tls(this.estate.domain);
    bankTls();
    for (const dir of [this.estate.models.chat.hostPath, this.estate.models.completion.hostPath, STATE_DIR, ARTEFACTS]) fs.mkdirSync(dir, { recursive: true });
    // The backup repository: a host directory of root's, mode 0700 (the agent writes it as root).
    const repository = this.estate.operations.backup?.repository;
    if (repository?.startsWith('/')) fs.mkdirSync(repository, { recursive: true, mode: 0o700 });
    const tfVars = Object.fromEntries(Object.entries(this.secrets).filter(([k]) => !k.startsWith('directory_person_')).map(([k, v]) => [`TF_VAR_${k}`, v]));
    // Go's TLS (the keycloak provider) reads its trusted roots from SSL_CERT_FILE.
    this.env = terraformEnv({ ...tfVars, SSL_CERT_FILE: CA_FILE });
  }

  get origin(): string {
    return `https://${this.estate.domain}:${this.estate.httpsPort}`;
  }

  setRoster(rosterText: string): void {
    this.rosterText = rosterText;
    this.roster = loadRoster({ file: 'e2e-roster.yaml', text: rosterText }, this.estate);
  }

  /** Every stack of the estate in deploy order, the workspace shard stacks included; destroy runs it backwards. */
  get stacks(): StackId[] {
    return estateStackIds(this.estate);
  }

  /** The workspaces stack and its shard stacks (workspaces.shards > 1), in deploy order: what a roster edit applies besides identity. */
  get workspaceStacks(): StackId[] {
    return this.stacks.filter((id) => id === 'workspaces' || isWorkspaceShardStackId(id));
  }

  stackDir(id: StackId): string {
    return path.join(E2E_DIR, 'stacks', id);
  }

  private prepare(id: StackId): string {
    const dir = this.stackDir(id);
    synthStackInto(dir, id, this.estate, this.roster, STATE_DIR);
    if (!fs.existsSync(path.join(dir, '.terraform'))) this.must(id, ['init', '-input=false']);
    return dir;
  }

  private must(id: StackId, args: string[], timeoutMs = 600_000): string {
    const result = terraform(this.stackDir(id), args, this.env, timeoutMs);
    if (result.status !== 0) {
      throw new Error(terraformFailure(`terraform ${args[0]} of stack ${id} failed`, result));
    }
    return result.output;
  }

  /**
   * `npm run keycloak:bootstrap` for real, as `npm run deploy` runs it between the platform and
   * identity stacks: the Terraform client is made and the bootstrap admin retired. Returns its output.
   */
  bootstrapKeycloak(): string {
    const started = Date.now();
    const estateFile = path.join(E2E_DIR, 'estate.yaml');
    fs.writeFileSync(estateFile, this.estateText);
    const out = mustRun('node', [path.join(ROOT, 'scripts', 'ts-run.js'), path.join(ROOT, 'scripts', 'keycloak', 'bootstrap.ts'), '--estate', estateFile], {
      env: { ...this.env, NODE_EXTRA_CA_CERTS: CA_FILE },
    });
    this.timings.push(['keycloak bootstrap', (Date.now() - started) / 1000]);
    return out;
  }

  /** `npm run restore -- <args> --yes` for real, on this estate's config, roster and secrets. */
  restore(args: readonly string[]): { status: number | null; out: string } {
    const estateFile = path.join(E2E_DIR, 'estate.yaml');
    const rosterFile = path.join(E2E_DIR, 'roster.yaml');
    fs.writeFileSync(estateFile, this.estateText);
    fs.writeFileSync(rosterFile, this.rosterText);
    const started = Date.now();
    const result = run('node', [path.join(ROOT, 'scripts', 'ts-run.js'), path.join(ROOT, 'scripts', 'restore.ts'), ...args, '--yes', '--estate', estateFile, '--roster', rosterFile], {
      env: this.env,
      timeout: 600_000,
    });
    this.timings.push([`restore ${args.join(' ')}`, (Date.now() - started) / 1000]);
    return result;
  }

  /** The bank's directory in this test: a real OpenLDAP container on the identity network (never part of the estate). */
  get directoryContainer(): string {
    return `${this.estate.name}-test-directory`;
  }

  /**
   * Starts the test directory (images/directory) with these people, each with a random
   * password (kept with the secrets, mode 600, so an E2E_KEEP run can be resumed). Keycloak
   * reaches it as keycloak.directory.url says; nothing else joins that network for it.
   */
  startDirectory(uids: readonly string[]): ReadonlyMap<string, DirectoryPerson> {
    this.stopDirectory();
    const known = new Map(Object.entries(this.secrets).filter(([k]) => k.startsWith('directory_person_')).map(([k, v]) => [k.slice('directory_person_'.length), v]));
    known.set('__bind__', this.secrets.directory_bind_password);
    const files = directoryFiles(uids, '/var/lib/webide-directory', '/var/lib/webide-directory/slapd.pid', known);
    const dir = path.join(E2E_DIR, 'directory');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'slapd.conf'), files.conf, { mode: 0o644 });
    fs.writeFileSync(path.join(dir, 'data.ldif'), files.ldif, { mode: 0o644 });
    for (const person of files.people.values()) this.secrets[`directory_person_${person.uid}`] = person.password;
    fs.writeFileSync(path.join(E2E_DIR, 'secrets.json'), JSON.stringify(this.secrets), { mode: 0o600 });
    docker(
      'run', '-d', '--name', this.directoryContainer,
      '--label', `webide.test-directory=${this.estate.name}`,
      '--network', this.names.network('identity'),
      '--user', '1000:1000', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
      '--tmpfs', '/var/lib/webide-directory:rw,size=64m,uid=1000,gid=1000,mode=0700',
      '-v', `${dir}:/directory:ro`,
      DIRECTORY_IMAGE,
    );
    for (let i = 0; ; i++) {
      const probe = run('docker', ['exec', this.directoryContainer, 'ldapsearch', '-x', '-H', 'ldap://127.0.0.1:3389', '-b', '', '-s', 'base', 'namingContexts']);
      if (probe.status === 0) break;
      if (i >= 60) throw new Error(`the test directory did not come up: ${run('docker', ['logs', this.directoryContainer]).out.slice(-2000)}`);
      spawnSync('sleep', ['0.5']);
    }
    return files.people;
  }

  stopDirectory(): void {
    run('docker', ['rm', '-f', this.directoryContainer]);
  }

  /** The bank's services in this test: the STAND-IN (images/bank-standin), never part of the estate. */
  get bankContainer(): string {
    return `${this.estate.name}-test-bank`;
  }

  /**
   * Starts the bank's stand-in on the egress network (the platform stack's), where the egress
   * proxy resolves its four names; waits until it answers.
   */
  async startBank(): Promise<void> {
    this.stopBank();
    docker(
      'run', '-d', '--name', this.bankContainer,
      '--label', `webide.test-bank=${this.estate.name}`,
      '--network', this.names.network('egress'),
      ...BANK_HOSTS.flatMap((host) => ['--network-alias', host]),
      '--user', '1000:1000', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
      '--tmpfs', '/var/lib/bank-standin:rw,size=256m', '--tmpfs', '/tmp:rw,size=256m',
      '-v', `${BANK_DIR}/cert.pem:/etc/standin/tls/cert.pem:ro`, '-v', `${BANK_DIR}/key.pem:/etc/standin/tls/key.pem:ro`,
      BANK_IMAGE,
    );
    await this.waitHealthy(this.bankContainer, 120);
  }

  stopBank(): void {
    run('docker', ['rm', '-f', this.bankContainer]);
  }

  /**
   * terraform apply of one stack with the current roster, as `npm run deploy` does it: first the
   * objects an interrupted apply left unrecorded are removed (scripts/orphans.ts); returns its output.
   */
  apply(id: StackId): string {
    const started = Date.now();
    this.prepare(id);
    const sweep = sweepStack(this.stackDir(id), false);
    for (const line of sweep.lines) log(line);
    if (sweep.refused) throw new Error(`stack ${id}: objects in the way that are not this estate's:\n${sweep.lines.join('\n')}`);
    const out = this.must(id, ['apply', '-auto-approve', '-input=false', '-parallelism=20']);
    this.timings.push([`apply ${id}`, (Date.now() - started) / 1000]);
    log(`applied ${id} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return out;
  }

  /** apply, but expected to fail: returns the output. */
  applyExpectingFailure(id: StackId): { status: number | null; output: string } {
    this.prepare(id);
    return terraform(this.stackDir(id), ['apply', '-auto-approve', '-input=false'], this.env, 600_000);
  }

  /**
   * apply, interrupted as a CI runner or Ctrl-C does (SIGTERM) once `when` says so; resolves
   * with terraform's exit status and output.
   */
  async applyInterrupted(id: StackId, when: () => boolean, limitSeconds: number): Promise<{ status: number | null; output: string; interrupted: boolean }> {
    this.prepare(id);
    const child = spawn(process.env.TERRAFORM_BINARY_NAME ?? 'terraform', ['apply', '-auto-approve', '-input=false', '-no-color'], { cwd: this.stackDir(id), env: this.env });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let interrupted = false;
    for (let i = 0; i < limitSeconds * 4 && child.exitCode === null; i++) {
      if (when()) {
        child.kill('SIGTERM');
        interrupted = true;
        break;
      }
      await sleep(250);
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    const status = await exited;
    clearTimeout(timer);
    return { status, output, interrupted };
  }

  /** A refreshing plan: the resources it would change (no-op and read left out). */
  changes(id: StackId): PlanChange[] {
    this.prepare(id);
    const plan = planJson(this.stackDir(id), this.env, 600_000, 20);
    return (plan.resource_changes ?? [])
      .filter((rc) => !rc.change.actions.every((a) => a === 'no-op' || a === 'read'))
      .map((rc) => ({ address: rc.address, actions: rc.change.actions }));
  }

  /** A plan expected to fail (the home-volume guard): status and output. */
  planOutput(id: StackId): { status: number | null; output: string } {
    this.prepare(id);
    return terraform(this.stackDir(id), ['plan', '-input=false', '-lock=false'], this.env, 600_000);
  }

  destroy(id: StackId): void {
    const started = Date.now();
    if (!fs.existsSync(path.join(this.stackDir(id), '.terraform'))) return;
    this.prepare(id);
    this.must(id, ['destroy', '-auto-approve', '-input=false', '-parallelism=20']);
    this.timings.push([`destroy ${id}`, (Date.now() - started) / 1000]);
  }

  /** Waits (bounded) until a container's healthcheck says healthy. */
  async waitHealthy(container: string, limitSeconds: number): Promise<void> {
    const deadline = Date.now() + limitSeconds * 1000;
    let status = '';
    for (let i = 0; i < limitSeconds && Date.now() < deadline; i++) {
      status = run('docker', ['inspect', '-f', '{{.State.Health.Status}}', container]).out.trim();
      if (status === 'healthy') return;
      await sleep(1000);
    }
    throw new Error(`${container} not healthy within ${limitSeconds}s (last: ${status}); logs:\n${run('docker', ['logs', '--tail', '40', container]).out}`);
  }

  /** Everything of this estate on the engine, by label and name prefix (the test's own objects only). */
  containers(): string[] {
    return docker('ps', '-a', '--filter', `label=webide.estate=${this.estate.name}`, '--format', '{{.Names}}').split('\n').filter(Boolean).sort();
  }

  volumes(): string[] {
    return docker('volume', 'ls', '--format', '{{.Name}}').split('\n').filter((v) => v.startsWith(`${this.estate.name}-`)).sort();
  }

  networks(): string[] {
    return docker('network', 'ls', '--format', '{{.Name}}').split('\n').filter((n) => n.startsWith(`${this.estate.name}-`)).sort();
  }

  /** Removes what destroy keeps on purpose (the retained volumes) and the work dir: the test's own objects only. */
  purge(): void {
    this.stopDirectory();
    this.stopBank();
    for (const id of this.containers()) run('docker', ['rm', '-f', id]);
    for (const v of this.volumes()) run('docker', ['volume', 'rm', v]);
    for (const n of this.networks()) run('docker', ['network', 'rm', n]);
    // Every stack's work dir, those of shard stacks an earlier run had included.
    fs.rmSync(path.join(E2E_DIR, 'stacks'), { recursive: true, force: true });
    fs.rmSync(STATE_DIR, { recursive: true, force: true });
    // Backups of this test estate's homes and database: nothing to keep after the run.
    const repository = this.estate.operations.backup?.repository;
    if (repository?.startsWith(E2E_DIR)) {
      fs.rmSync(repository, { recursive: true, force: true });
      fs.mkdirSync(repository, { recursive: true, mode: 0o700 });
    }
  }
}

export interface HttpReply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** HTTPS to nginx on loopback, trusting only the test CA; the Host header names the estate's domain. */
export function httpsRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: string; host?: string } = {}): Promise<HttpReply> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: '127.0.0.1',
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: options.method ?? 'GET',
        ca: fs.readFileSync(CA_FILE),
        servername: options.host ?? target.hostname,
        headers: { Host: `${options.host ?? target.hostname}:${target.port}`, ...(options.headers ?? {}) },
        timeout: 30_000,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      },
    );
    request.on('timeout', () => request.destroy(new Error(`timeout: ${url}`)));
    request.on('error', reject);
    if (options.body) request.write(options.body);
    request.end();
  });
}
