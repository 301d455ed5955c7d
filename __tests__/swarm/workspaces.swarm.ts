/**
 * The Swarm target's workspaces (stacks/swarm-workspaces-stack.ts) deployed by real terraform on
 * the lab's real swarm (scripts/swarm/lab.sh), from a roster: the real IDE image (code-server,
 * the estate's extensions) and the estate's nginx as each user's forwarder, both pulled by every
 * node by digest from the lab registry, after the AI services (stacks/swarm-ai-stack.ts: the real
 * AI gateway and LiteLLM; vLLM and Tabby are the GPU-less AI stand-in image on the gpu node) and
 * the entry stack (stacks/swarm-entry-stack.ts: the real PostgreSQL, Keycloak and nginx), and for
 * the browser test the identity stack and oauth2-proxy (stacks/swarm-edge-stack.ts). The isolation
 * probes towards the forwarders come from a stand-in client on the forwarders' network (perl in
 * the base image), named as such.
 *
 * Shown: each IDE on the node placement gives it (pins win), reachable through its forwarder;
 * isolation across nodes (an IDE reaches its forwarder and through it the AI gateway as its user,
 * and nothing else: no other IDE, no other forwarder, not the gateway itself, not LiteLLM or the
 * model servers, no default route); the AI services' placement and secrets;
 * hardening; a roster edit that leaves everybody else's services and containers alone; archiving
 * keeps the home on the node, and re-activating finds it there.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'cdktf';
import { EstateConfig } from '../../config/estate';
import { loadEstate, loadRoster } from '../../config/load';
import { placeIdes } from '../../config/placement';
import { ideNodesOf } from '../../config/swarm';
import { TerraformStack } from 'cdktf';
import { SwarmAiStack } from '../../stacks/swarm-ai-stack';
import { SwarmEntryStack } from '../../stacks/swarm-entry-stack';
import { SwarmWorkspacesStack } from '../../stacks/swarm-workspaces-stack';
import { testCertificates, leafSpki } from '../helpers/tls';
import { launchBrowser, signIn, visit, watchWebSockets, WebSocketSeen } from '../e2e/browser';
import { Browser } from 'puppeteer-core';
import { IdentityStack } from '../../stacks/identity-stack';
import { SwarmEdgeStack } from '../../stacks/swarm-edge-stack';
import { run, sleep } from '../helpers/run';
import { terraform, terraformEnv, terraformFailure } from '../live/terraform';
import { engine, execIn, labEstateText, labSecrets, manager, MANAGER_ADDRESS, NodeName, on, pushLabImages, removeEstateVolumes, task, waitRunning } from './lab';

jest.setTimeout(600_000);

const ESTATE_NAME = 'swl';
const GATEWAY = `${ESTATE_NAME}-ai-gateway`;
const ENTRY = `${ESTATE_NAME}-entry-standin`;
const ide = (user: string) => `${ESTATE_NAME}-ide-${user}`;
const forwarder = (user: string) => `${ESTATE_NAME}-fwd-${user}`;
const home = (user: string) => `${ESTATE_NAME}-home-${user}`;

/** An HTTP GET from the entry point's stand-in (perl is in its image): the status line and body, or why not. */
const GET_PL =
  'use IO::Socket::INET; my $c = IO::Socket::INET->new(PeerAddr => $ARGV[0], Timeout => 5) or do { print "failed: $@ $!\\n"; exit 0 }; ' +
  'print $c "GET $ARGV[1] HTTP/1.0\\r\\nHost: ide.test\\r\\n\\r\\n"; local $/; my $r = <$c>; print $r';


const ROSTER_HEAD = 'groups:\n  - name: developers\nusers:\n';
const ALICE = '  - { username: alice, email: alice@corp.example, name: Alice Kim, groups: [developers], node: swarm-m1 }\n';
const BOB = '  - { username: bob, email: bob@corp.example, name: Bob Lee, groups: [developers], node: swarm-w1 }\n';
const carol = (state: string) => `  - { username: carol, email: carol@corp.example, name: Carol Park, groups: [developers], state: ${state} }\n`;

describe('the Swarm target: users’ IDEs from a roster on the real swarm', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-workspaces-'));
  const stackDir = path.join(work, 'workspaces');
  // Random secrets for this run only; the tests check that none shows in a service spec.
  const secrets = labSecrets();
  // The entry's TLS: a throwaway CA and a certificate for the domain and the manager's address
  // (Terraform's Keycloak provider and the scripts connect by address), at the same path on every
  // node (the lab's nodes share this file system).
  const tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-tls-'));
  const caFile = path.join(tlsDir, 'ca.pem');
  // Go's TLS (the Keycloak provider) trusts the lab CA through SSL_CERT_FILE, node's through NODE_EXTRA_CA_CERTS.
  const env = terraformEnv({ ...Object.fromEntries(Object.entries(secrets).map(([name, value]) => [`TF_VAR_${name}`, value])), SSL_CERT_FILE: caFile, NODE_EXTRA_CA_CERTS: caFile });
  const aiDir = path.join(work, 'ai');
  const entryDir = path.join(work, 'entry');
  const identityDir = path.join(work, 'identity');
  const edgeDir = path.join(work, 'edge');
  const estateFile = path.join(work, 'estate.yaml');
  const models = path.join(work, 'models');
  let estateText = '';
  let estate: EstateConfig;
  let baseImage = '';
  let browser: Browser | undefined;
  /** alice's websockets in the browser test, watched on through the roster edit after it. */
  let aliceSockets: WebSocketSeen[] = [];

  /** Synthesizes the stack for a roster into stackDir and applies it; then a refreshing plan must find nothing. */
  function deploy(roster: string, withEstate: EstateConfig = estate): void {
    const applied = tryDeploy(roster, withEstate);
    if (applied.status !== 0) throw new Error(terraformFailure('apply failed', applied));
    const plan = terraform(stackDir, ['plan', '-detailed-exitcode', '-input=false', '-no-color'], env);
    if (plan.status !== 0) throw new Error(terraformFailure('a refreshing plan after the apply is not empty', plan));
  }

  /** Synthesizes and applies; terraform's result, whatever it is. */
  function tryDeploy(roster: string, withEstate: EstateConfig): { status: number | null; output: string } {
    return synthAndApply(stackDir, (app) => new SwarmWorkspacesStack(app, 'workspaces', { estate: withEstate, roster: loadRoster({ file: 'roster.yaml', text: ROSTER_HEAD + roster }, withEstate), stateFile: path.join(work, 'terraform.tfstate') }));
  }

  /** Synthesizes one stack into `dir` (keeping its .terraform) and applies it; terraform's result. */
  function synthAndApply(dir: string, declare: (app: App) => TerraformStack): { status: number | null; output: string } {
    const outdir = fs.mkdtempSync(path.join(work, 'synth-'));
    const app = new App({ outdir });
    const stack = declare(app);
    app.synth();
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(outdir, 'stacks', stack.node.id, 'cdk.tf.json'), path.join(dir, 'cdk.tf.json'));
    if (!fs.existsSync(path.join(dir, '.terraform'))) {
      const init = terraform(dir, ['init', '-input=false'], env);
      if (init.status !== 0) throw new Error(init.output);
    }
    return terraform(dir, ['apply', '-auto-approve', '-input=false', '-no-color'], env);
  }

  /** The AI services, before the workspaces (their forwarders join its network); then a refreshing plan must find nothing. */
  function deployAi(): void {
    const applied = synthAndApply(aiDir, (app) => new SwarmAiStack(app, 'ai', { estate, roster: loadRoster({ file: 'roster.yaml', text: ROSTER_HEAD + ALICE }, estate), stateFile: path.join(work, 'terraform.ai.tfstate') }));
    if (applied.status !== 0) throw new Error(terraformFailure('AI stack apply failed', applied));
    const plan = terraform(aiDir, ['plan', '-detailed-exitcode', '-input=false', '-no-color'], env);
    if (plan.status !== 0) throw new Error(terraformFailure("a refreshing plan after the AI stack's apply is not empty", plan));
  }

  /** The entry stack (PostgreSQL, Keycloak, nginx), after the AI stack (nginx joins its forwarders' overlay); then a refreshing plan must find nothing. */
  function deployEntry(): void {
    const applied = synthAndApply(entryDir, (app) => new SwarmEntryStack(app, 'entry', { estate, roster: loadRoster({ file: 'roster.yaml', text: ROSTER_HEAD + ALICE }, estate), stateFile: path.join(work, 'terraform.entry.tfstate') }));
    if (applied.status !== 0) {
      throw new Error(`${terraformFailure('entry stack apply failed', applied)}\n${tasksOf('postgres', 'keycloak', 'nginx')}`);
    }
    const plan = terraform(entryDir, ['plan', '-detailed-exitcode', '-input=false', '-no-color'], env);
    if (plan.status !== 0) throw new Error(terraformFailure("a refreshing plan after the entry stack's apply is not empty", plan));
  }

  /** What services' tasks and logs say, for the reader of a failure. */
  const tasksOf = (...names: string[]) =>
    names
      .map((name) => `${ESTATE_NAME}-${name}`)
      .map((service) => `--- ${service}:\n${run('docker', ['-H', engine('swarm-m1'), 'service', 'ps', '--no-trunc', service]).out}\n${run('docker', ['-H', engine('swarm-m1'), 'service', 'logs', '--raw', '--tail', '30', service]).out}`)
      .join('\n');

  /** The AI gateway's access records (JSON lines of its service's log), as the manager collects them. */
  const gatewayRecords = () =>
    manager('service', 'logs', '--raw', GATEWAY)
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { user: string; uri: string; status: number });

  /**
   * An AI call from a user's IDE through its forwarder, claiming to be someone else: it must be
   * answered by LiteLLM (the model list, with the estate's chat model) and recorded by the gateway
   * as the IDE's own user. Returns the call's HTTP status.
   */
  async function aiCallAs(user: string): Promise<string> {
    const recorded = () => gatewayRecords().filter((r) => r.uri === '/v1/models' && r.user === user).length;
    const before = recorded();
    const answer = inIde(user, 'curl', '-sS', '-m', '20', '-H', 'X-Webide-User: mallory', 'http://ai-gateway:8081/v1/models');
    if (answer.status !== 0 || !answer.out.includes(estate.models.chat.name)) return `no model list: ${answer.out}`;
    for (let i = 0; i < 20 && recorded() === before; i++) await sleep(500);
    if (gatewayRecords().some((r) => r.user === 'mallory')) return 'recorded as mallory';
    return recorded() > before ? `answered as ${user}` : `not recorded as ${user}`;
  }

  /** What identifies a running service and its task: spec version and container id. */
  const identity = (service: string) => `${manager('service', 'inspect', '-f', '{{.Version.Index}}', service)} ${task(service).id}`;

  /** The entry point stand-in's HTTP GET of `url` (`host:port path`). */
  const getFromGateway = (target: string, urlPath: string) => execIn(ENTRY, 'perl', '-e', GET_PL, target, urlPath).out;

  /** A command in a user's IDE (curl is in the IDE image). */
  const inIde = (user: string, ...args: string[]) => execIn(ide(user), ...args);

  /** The IDE's code-server answering its health check (bounded); the service's tasks say why not. */
  async function untilHealthy(user: string, seconds = 120): Promise<void> {
    for (let i = 0; i < seconds / 2; i++) {
      try {
        if (inIde(user, 'curl', '-fsS', '-m', '3', 'http://127.0.0.1:8080/healthz').status === 0) return;
      } catch {
        // between tasks
      }
      await sleep(2000);
    }
    throw new Error(`${ide(user)} did not answer its health check in ${seconds}s:\n${manager('service', 'ps', '--no-trunc', ide(user))}`);
  }

  async function untilGatewayGets(target: string, urlPath: string, expected: RegExp, seconds = 60): Promise<string> {
    let last = '';
    for (let i = 0; i < seconds; i++) {
      last = getFromGateway(target, urlPath);
      if (expected.test(last)) return last;
      await sleep(1000);
    }
    return last;
  }

  beforeAll(async () => {
    const images = pushLabImages();
    fs.chmodSync(tlsDir, 0o755);
    // The model directories the model servers mount read-only (the stand-in reads nothing there).
    for (const dir of ['chat', 'completion']) fs.mkdirSync(path.join(models, dir), { recursive: true, mode: 0o755 });
    baseImage = images.base;
    estateText = labEstateText({ name: ESTATE_NAME, images, tlsDir, modelsDir: models, encryptOverlays: false });
    estate = loadEstate({ file: 'estate.yaml (swarm lab)', text: estateText });
    fs.writeFileSync(estateFile, estateText);
    testCertificates(tlsDir, estate.domain, [MANAGER_ADDRESS]);
    deployAi();
    deployEntry();
    deploy(ALICE + BOB);
    // The stand-in for the entry point (not built on a swarm yet), on the forwarders' network: a client only.
    manager('service', 'create', '-d', '-q', '--name', ENTRY, '--endpoint-mode', 'dnsrr', '--read-only', '--user', '65534:65534',
      '--network', `${ESTATE_NAME}-net-forwarders`, '--constraint', 'node.hostname==swarm-w2', '--label', 'webide.standin=entry point',
      baseImage, 'sleep', 'infinity');
    await waitRunning(ENTRY, 'swarm-w2', 120);
  }, 900_000);

  afterAll(async () => {
    run('docker', ['-H', engine('swarm-m1'), 'service', 'rm', ENTRY]);
    await browser?.close();
    // Keycloak's realm goes while Keycloak runs: the identity stack before the entry stack.
    for (const dir of [edgeDir, identityDir, stackDir, entryDir, aiDir]) {
      if (!fs.existsSync(path.join(dir, '.terraform'))) continue;
      const destroyed = terraform(dir, ['destroy', '-auto-approve', '-input=false', '-no-color'], env);
      if (destroyed.status !== 0) process.stdout.write(`[swarm] destroy of ${path.basename(dir)} failed:\n${destroyed.output.slice(-3000)}\n`);
    }
    // The homes and PostgreSQL's data are the things terraform never removes: this test's go once their tasks are gone.
    await removeEstateVolumes(ESTATE_NAME);
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(tlsDir, { recursive: true, force: true });
  }, 300_000);

  test('npm run swarm:preflight: every node of the estate is in the swarm, ready, in its role, and its engine sets no-new-privileges', () => {
    fs.writeFileSync(path.join(work, 'estate.yaml'), estateText);
    const checked = run('npm', ['run', '--silent', 'swarm:preflight', '--', '--estate', path.join(work, 'estate.yaml'), '--timeout', '180'], { timeout: 300_000 });
    expect([checked.status, checked.out.trim().split('\n').pop()]).toEqual([0, `swarm:preflight: every node of ${path.join(work, 'estate.yaml')} is in the swarm, ready, and runs containers with no-new-privileges`]);
    expect(manager('service', 'ls', '-q', '--filter', `name=${ESTATE_NAME}-preflight`)).toBe('');
  });

  test('each IDE runs the real code-server on its node (the roster pins here), reached through its forwarder', async () => {
    expect((await waitRunning(ide('alice'), 'swarm-m1', 300)).node).toBe('swarm-m1');
    expect((await waitRunning(ide('bob'), 'swarm-w1', 300)).node).toBe('swarm-w1');
    for (const user of ['alice', 'bob']) {
      expect(task(forwarder(user)).node).toBe(task(ide(user)).node);
      // The entry point's way in: forwarder → IDE, across the overlays.
      expect(await untilGatewayGets(`${forwarder(user)}:8080`, '/healthz', /HTTP\/1\.1 200[\s\S]*"status"/)).toMatch(/HTTP\/1\.1 200[\s\S]*"status"/);
    }
  });

  test("isolation across nodes: an IDE reaches the AI gateway only through its forwarder, as its user, and nothing else", async () => {
    await waitRunning(ide('alice'), 'swarm-m1', 300);
    const curl = (user: string, url: string) => inIde(user, 'curl', '-sS', '-m', '5', '-H', 'X-Webide-User: mallory', url);
    expect(await aiCallAs('alice')).toBe('answered as alice');
    expect(await aiCallAs('bob')).toBe('answered as bob');
    const outside = [`http://${ide('bob')}:8080/healthz`, `http://${forwarder('bob')}:8080/healthz`, `http://${GATEWAY}:8081/`, `http://${ESTATE_NAME}-litellm:4000/`, `http://${ESTATE_NAME}-vllm:8000/`, 'http://10.203.0.1:80/'];
    for (const target of outside) {
      const result = curl('alice', target);
      // Named with the target, so a failure says which one answered.
      expect([target, result.status === 0, result.out]).toEqual([target, false, expect.stringMatching(/Could not resolve host|timed out|Failed to connect|Network is unreachable|No route/)]);
    }
    const routes = inIde('alice', 'cat', '/proc/net/route').out.split('\n').slice(1).map((line) => line.trim().split(/\s+/)[1]);
    expect(routes.length).toBeGreaterThan(0);
    expect(routes).not.toContain('00000000');
  });

  test('the AI services: the model servers on the gpu node with only their GPUs, every secret a file of its service, none in a spec; chat and completion answered through the chain', async () => {
    for (const [service, gpus, pids] of [[`${ESTATE_NAME}-vllm`, 'GPU-1', '4096'], [`${ESTATE_NAME}-tabby`, 'GPU-0', '2048']]) {
      const { node, id } = await waitRunning(service, 'swarm-w2', 300);
      expect([service, node]).toEqual([service, 'swarm-w2']);
      expect(JSON.parse(on(node, 'inspect', '-f', '{{json .Config.Env}}', id))).toContain(`NVIDIA_VISIBLE_DEVICES=${gpus}`);
      expect([service, on(node, 'inspect', '-f', '{{.HostConfig.PidsLimit}} {{.HostConfig.ReadonlyRootfs}}', id)]).toEqual([service, `${pids} true`]);
    }
    const services = ['vllm', 'tabby', 'litellm', 'ai-gateway'].map((name) => `${ESTATE_NAME}-${name}`);
    for (const service of services) await waitRunning(service, undefined, 300);
    // No secret value in any service spec or container config; each service reads its own files only.
    const specs = services.map((service) => manager('service', 'inspect', service) + on(task(service).node, 'inspect', task(service).id)).join('\n');
    expect(Object.entries(secrets).filter(([, value]) => specs.includes(value)).map(([name]) => name)).toEqual([]);
    expect(execIn(`${ESTATE_NAME}-litellm`, 'stat', '-c', '%n %a %u', '/run/secrets/LITELLM_MASTER_KEY', '/run/secrets/LITELLM_GATEWAY_KEY', '/run/secrets/VLLM_API_KEY').out.split('\n')).toEqual([
      '/run/secrets/LITELLM_MASTER_KEY 400 1000',
      '/run/secrets/LITELLM_GATEWAY_KEY 400 1000',
      '/run/secrets/VLLM_API_KEY 400 1000',
    ]);
    expect(execIn(GATEWAY, 'ls', '/run/secrets').out.split('\n')).toEqual(['ai-gateway-credentials.conf']);
    expect(execIn(`${ESTATE_NAME}-vllm`, 'ls', '/run/secrets').out.split('\n')).toEqual(['VLLM_API_KEY']);
    // alice's chat: forwarder → gateway (its key) → LiteLLM (the master and vLLM keys) → vLLM's stand-in (its key).
    const chat = inIde('alice', 'curl', '-sS', '-m', '60', '-H', 'Content-Type: application/json', '-d', JSON.stringify({ model: estate.models.chat.name, messages: [{ role: 'user', content: 'hello from the swarm' }] }), 'http://ai-gateway:8081/v1/chat/completions');
    expect(chat.out).toContain("you said 'hello from the swarm'");
    // bob's completion: forwarder → gateway (the Tabby token from its credentials file) → Tabby's stand-in, which checks it.
    const completion = inIde('bob', 'curl', '-sS', '-m', '30', '-H', 'Content-Type: application/json', '-d', JSON.stringify({ language: 'python', segments: { prefix: 'def f(' } }), 'http://ai-gateway:8081/tabby/v1/completions');
    expect(completion.out).toContain('[ai-standin] completion from');
  });

  test("the entry point: PostgreSQL on the first manager with its data, Keycloak healthy on a manager, nginx published on the manager's own address; from outside the swarm, sign-in and Keycloak's public side through it, an allow-listed source reaches the admin side, no password in any spec", async () => {
    const postgres = await waitRunning(`${ESTATE_NAME}-postgres`, 'swarm-m1', 300);
    expect(on(postgres.node, 'inspect', '-f', '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}}{{end}}{{end}}', postgres.id)).toBe(`${ESTATE_NAME}-data-postgres`);
    const keycloak = await waitRunning(`${ESTATE_NAME}-keycloak`, 'swarm-m1', 300);
    for (let i = 0; i < 120 && on(keycloak.node, 'inspect', '-f', '{{.State.Health.Status}}', keycloak.id) !== 'healthy'; i++) await sleep(3000);
    expect(on(keycloak.node, 'inspect', '-f', '{{.State.Health.Status}}', keycloak.id)).toBe('healthy');
    await waitRunning(`${ESTATE_NAME}-nginx`, 'swarm-m1', 120);
    /** curl from this machine to the manager's address, as a browser outside the swarm: status and Location, or 000. */
    const fromOutside = (url: string, ...args: string[]) => {
      const answer = run('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', '--max-time', '10', '--resolve', `${estate.domain}:443:${MANAGER_ADDRESS}`, '--resolve', `${estate.domain}:80:${MANAGER_ADDRESS}`, ...args, url]);
      return answer.out.trim();
    };
    const origin = `https://${estate.domain}`;
    let first = '';
    for (let i = 0; i < 30 && !(first = fromOutside(`${origin}/`)).startsWith('302'); i++) await sleep(2000);
    expect(first).toBe(`302 ${origin}/oauth2/start?rd=/u/`);
    expect(fromOutside(`http://${estate.domain}/x`)).toBe(`301 ${origin}/x`);
    expect(fromOutside(`${origin}/`, '-H', 'Host: evil.example')).toMatch(/^000/);
    // Keycloak behind it, with the public origin as its issuer; the admin side answers this allow-listed address.
    const discovery = run('curl', ['-sk', '--max-time', '10', '--resolve', `${estate.domain}:443:${MANAGER_ADDRESS}`, `${origin}/realms/master/.well-known/openid-configuration`]).out;
    expect(JSON.parse(discovery)).toMatchObject({ issuer: `${origin}/realms/master` });
    expect(fromOutside(`https://${MANAGER_ADDRESS}/admin/master/console/`)).toBe('200');
    // Its ports are the node's own (host mode), not a routing mesh: the workers do not answer them.
    expect(run('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', 'https://10.203.0.12/']).out).toBe('000');
    // No password in a spec or container config; each service has only its own secret files, 0400.
    const services = ['postgres', 'keycloak', 'nginx'].map((name) => `${ESTATE_NAME}-${name}`);
    const specs = services.map((service) => manager('service', 'inspect', service) + on(task(service).node, 'inspect', task(service).id)).join('\n');
    expect(Object.entries(secrets).filter(([, value]) => specs.includes(value)).map(([name]) => name)).toEqual([]);
    expect(execIn(`${ESTATE_NAME}-keycloak`, 'stat', '-c', '%n %a %u', '/run/secrets/KC_DB_PASSWORD', '/run/secrets/KC_BOOTSTRAP_ADMIN_PASSWORD').out.split('\n')).toEqual([
      '/run/secrets/KC_DB_PASSWORD 400 1000',
      '/run/secrets/KC_BOOTSTRAP_ADMIN_PASSWORD 400 1000',
    ]);
    for (const [service, pids] of [[`${ESTATE_NAME}-postgres`, '512'], [`${ESTATE_NAME}-keycloak`, '2048'], [`${ESTATE_NAME}-nginx`, '512']]) {
      const running = task(service);
      expect([service, on(running.node, 'inspect', '-f', '{{.HostConfig.PidsLimit}} {{.HostConfig.ReadonlyRootfs}} {{.Config.User}}', running.id)]).toEqual([service, expect.stringMatching(new RegExp(`^${pids} true [1-9]`))]);
    }
  });

  test("a browser signs in through the swarm: Keycloak bootstrapped and the identity stack applied through the entry, oauth2-proxy on the swarm; alice's one-time password, TOTP enrolment and a new password, her VS Code through her forwarder with its websocket; bob's IDE refused", async () => {
    const script = (name: string, ...args: string[]) => run('node', [path.join(__dirname, '..', '..', 'scripts', 'ts-run.js'), path.join(__dirname, '..', '..', 'scripts', 'keycloak', `${name}.ts`), ...args, '--estate', estateFile], { env, timeout: 300_000 });
    const keycloak = await waitRunning(`${ESTATE_NAME}-keycloak`, 'swarm-m1', 300);
    for (let i = 0; i < 120 && on(keycloak.node, 'inspect', '-f', '{{.State.Health.Status}}', keycloak.id) !== 'healthy'; i++) await sleep(3000);
    // As on one host: the Terraform client made, the bootstrap admin retired; through the entry's TLS.
    const bootstrap = script('bootstrap');
    expect([bootstrap.status, bootstrap.out]).toEqual([0, expect.stringContaining('keycloak:bootstrap')]);
    // The identity stack (unchanged from one host) against the swarm's Keycloak, then oauth2-proxy with its client.
    const outdir = fs.mkdtempSync(path.join(work, 'synth-'));
    const app = new App({ outdir });
    const roster = loadRoster({ file: 'roster.yaml', text: ROSTER_HEAD + ALICE + BOB }, estate);
    const identity = new IdentityStack(app, 'identity', { estate, roster, stateFile: path.join(work, 'terraform.identity.tfstate') });
    new SwarmEdgeStack(app, 'edge', { estate, roster, stateFile: path.join(work, 'terraform.edge.tfstate'), oidcClientId: identity.oidcClientId, oidcClientSecret: identity.oidcClientSecret });
    app.synth();
    for (const [id, dir] of [['identity', identityDir], ['edge', edgeDir]]) {
      fs.mkdirSync(dir, { recursive: true });
      fs.copyFileSync(path.join(outdir, 'stacks', id, 'cdk.tf.json'), path.join(dir, 'cdk.tf.json'));
      const init = terraform(dir, ['init', '-input=false'], env);
      if (init.status !== 0) throw new Error(init.output);
      const applied = terraform(dir, ['apply', '-auto-approve', '-input=false', '-no-color'], env, 600_000);
      if (applied.status !== 0) throw new Error(`${terraformFailure(`${id} stack apply failed`, applied)}\n${tasksOf('keycloak', 'oauth2-proxy')}`);
    }
    await waitRunning(`${ESTATE_NAME}-oauth2-proxy`, 'swarm-m1', 120);
    // alice's first credential, as an operator issues it (printed once, never stored).
    const issued = script('first-password', 'alice');
    expect(issued.status).toBe(0);
    const printed = issued.out.split('\n');
    const alice = { username: 'alice', password: printed[printed.findIndex((line) => line.startsWith('One-time password for alice')) + 1] };
    expect(alice.password).toMatch(/^\S{16,}$/);
    browser = await launchBrowser(estate.domain, { address: MANAGER_ADDRESS, spki: leafSpki(path.join(tlsDir, 'leaf.pem')) });
    const page = await browser.newPage();
    const sockets = await watchWebSockets(page);
    aliceSockets = sockets;
    const steps: string[] = [];
    const outcome = await signIn(page, `https://${estate.domain}/u/alice/`, alice, steps);
    process.stdout.write(`[swarm] alice's sign-in: ${steps.join(' → ')}\n`);
    expect(outcome).toBe('ide');
    expect(steps.slice(0, 3)).toEqual(['password', 'totp-enrol', 'update-password']);
    expect(new URL(page.url()).pathname).toBe('/u/alice/');
    await page.waitForSelector('.monaco-workbench .part.activitybar', { timeout: 60_000 });
    for (let i = 0; i < 30 && !sockets.some((s) => s.status === 101); i++) await sleep(1000);
    expect(sockets.filter((s) => s.status === 101).map((s) => new URL(s.url).pathname.startsWith('/u/alice/'))).toContain(true);
    // The entry's access record names her, and the IDE she asked for.
    const records = manager('service', 'logs', '--raw', `${ESTATE_NAME}-nginx`).split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { user: string; ide: string; status: number });
    expect(records.some((r) => r.user === 'alice' && r.ide === 'alice' && r.status === 200)).toBe(true);
    // On a second tab of her session: her VS Code stays open for the roster-edit test.
    const otherTab = await browser.newPage();
    expect((await visit(otherTab, `https://${estate.domain}/u/bob/`))?.status()).toBe(403);
    await otherTab.close();
  });

  test('hardened as on one host: read-only root, uid 1000, no capabilities, memory, CPU and pids limits; managed files a read-only mount point', async () => {
    const { node, id } = await waitRunning(ide('alice'), 'swarm-m1', 300);
    const inspect = on(node, 'inspect', '-f', '{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.Config.User}}', id);
    expect(inspect).toMatch(/^true [1-9]\d* [1-9]\d* 4096 1000:1000$/);
    const fwd = task(forwarder('alice'));
    expect(on(fwd.node, 'inspect', '-f', '{{.HostConfig.PidsLimit}}', fwd.id)).toBe('64');
    expect(inIde('alice', 'grep', '^CapEff', '/proc/self/status').out).toMatch(/CapEff:\s+0000000000000000/);
    // no-new-privileges: the engine's setting (a service cannot say it), which swarm:preflight checks.
    expect(inIde('alice', 'grep', '^NoNewPrivs', '/proc/self/status').out).toMatch(/^NoNewPrivs:\s+1$/);
    expect(inIde('alice', 'touch', '/probe').status).not.toBe(0);
    expect(inIde('alice', 'cat', '/var/lib/code-server/Machine/settings.json').out).toContain('"extensions.autoUpdate"');
    expect(inIde('alice', 'touch', '/var/lib/code-server/Machine/mine.json').status).not.toBe(0);
    expect(inIde('alice', 'mv', '/var/lib/code-server/Machine', '/var/lib/code-server/Moved').status).not.toBe(0);
    expect(inIde('alice', 'sh', '-c', 'echo kept > /home/coder/alice.txt && cat /home/coder/alice.txt').out).toBe('kept');
  });

  test("a roster edit (carol added) leaves every other service and container as it was, and alice's open VS Code session (its websocket) stays connected", async () => {
    await waitRunning(ide('bob'), 'swarm-w1', 300);
    const before = ['alice', 'bob'].flatMap((user) => [ide(user), forwarder(user)]).map((service) => [service, identity(service)]);
    const open = aliceSockets.filter((socket) => socket.status === 101 && !socket.closed && new URL(socket.url).pathname.startsWith('/u/alice/'));
    deploy(ALICE + BOB + carol('active'));
    const carolNode = (await waitRunning(ide('carol'), undefined, 300)).node;
    expect(task(forwarder('carol')).node).toBe(carolNode);
    expect(before.map(([service]) => [service, identity(service)])).toEqual(before);
    // The browser test left alice in her VS Code: its websockets, open before the edit, are open after it.
    expect(open.length).toBeGreaterThan(0);
    await sleep(5000);
    expect(open.filter((socket) => socket.closed).map((socket) => socket.url)).toEqual([]);
    await untilHealthy('carol');
    expect(await aiCallAs('carol')).toBe('answered as carol');
  });

  test("archiving carol removes her IDE, forwarder and network and keeps her home on her node; re-activating finds it there", async () => {
    const { node } = await waitRunning(ide('carol'), undefined, 300);
    await untilHealthy('carol');
    expect(inIde('carol', 'sh', '-c', 'echo mine > /home/coder/carol.txt').status).toBe(0);
    deploy(ALICE + BOB + carol('archived'));
    expect(run('docker', ['-H', engine('swarm-m1'), 'service', 'inspect', ide('carol')]).status).not.toBe(0);
    expect(run('docker', ['-H', engine('swarm-m1'), 'service', 'inspect', forwarder('carol')]).status).not.toBe(0);
    expect(run('docker', ['-H', engine('swarm-m1'), 'network', 'inspect', `${ESTATE_NAME}-ws-carol`]).status).not.toBe(0);
    expect(on(node as NodeName, 'volume', 'ls', '-q', '--filter', `name=^${home('carol')}$`)).toBe(home('carol'));
    deploy(ALICE + BOB + carol('active'));
    expect((await waitRunning(ide('carol'), node, 300)).node).toBe(node);
    await untilHealthy('carol');
    expect(inIde('carol', 'cat', '/home/coder/carol.txt').out).toBe('mine');
  });

  test('homes stay on their node: a deploy that would move a user implicitly is refused, and nothing changes', async () => {
    const { node } = await waitRunning(ide('carol'), undefined, 300);
    const other = node === 'swarm-m1' ? 'swarm-w1' : 'swarm-m1';
    // The other node weighted 1000 times more: the hash would put carol there (checked, so the test shows a move).
    const heavier = loadEstate({ file: 'estate.yaml (heavier)', text: estateText.replace(`{ name: ${other}, role: ${other === 'swarm-m1' ? 'manager' : 'ide'}, ideCapacity: 10 }`, `{ name: ${other}, role: ${other === 'swarm-m1' ? 'manager' : 'ide'}, ideCapacity: 10000 }`) });
    const roster = ALICE + BOB + carol('active');
    expect(placeIdes(loadRoster({ file: 'roster.yaml', text: ROSTER_HEAD + roster }, heavier).users, ideNodesOf(heavier.swarm!)).get('carol')).toBe(other);
    const before = identity(ide('carol'));
    const refused = tryDeploy(roster, heavier);
    expect(refused.status).not.toBe(0);
    expect(refused.output.replace(/\s+/g, ' ')).toContain(`Placement would move users off the node their home is on: carol (${node} → ${other}). Nothing was changed.`);
    expect(identity(ide('carol'))).toBe(before);
  });

  test("draining a node: its users' homes moved with npm run swarm:move-home, then pinned; their IDEs come back on the other node with every file", async () => {
    const onW1 = ['bob', 'carol'].filter((user) => task(ide(user)).node === 'swarm-w1');
    expect(onW1).toContain('bob');
    for (const user of onW1) {
      await untilHealthy(user);
      expect(inIde(user, 'sh', '-c', `mkdir -p /home/coder/project/src && head -c 200000 /dev/urandom > /home/coder/project/src/blob && echo ${user}-moved > /home/coder/note.txt && chmod 600 /home/coder/note.txt`).status).toBe(0);
    }
    const sums = Object.fromEntries(onW1.map((user) => [user, inIde(user, 'sha256sum', '/home/coder/project/src/blob').out]));
    fs.writeFileSync(path.join(work, 'estate.yaml'), estateText);
    const pins = (users: string[]) => ALICE + BOB.replace('node: swarm-w1', users.includes('bob') ? 'node: swarm-m1' : 'node: swarm-w1') + (users.includes('carol') ? carol('active').replace(' }', ', node: swarm-m1 }') : carol('active'));
    fs.writeFileSync(path.join(work, 'roster.yaml'), ROSTER_HEAD + pins([]));
    for (const user of onW1) {
      const moved = run('npm', ['run', '--silent', 'swarm:move-home', '--', user, 'swarm-m1', '--yes', '--estate', path.join(work, 'estate.yaml'), '--roster', path.join(work, 'roster.yaml'), '--timeout', '600'], { timeout: 900_000 });
      process.stdout.write(`[swarm] move-home ${user}: ${moved.out.trim()}\n`);
      expect(moved.status).toBe(0);
      expect(moved.out).toContain(`${user}'s home is on swarm-m1 too`);
    }
    deploy(pins(onW1));
    manager('node', 'update', '--availability', 'drain', 'swarm-w1');
    try {
      for (const user of ['alice', ...onW1]) {
        expect((await waitRunning(ide(user), 'swarm-m1', 300)).node).toBe('swarm-m1');
        await untilHealthy(user);
      }
      for (const user of onW1) {
        expect(inIde(user, 'cat', '/home/coder/note.txt').out).toBe(`${user}-moved`);
        expect(inIde(user, 'stat', '-c', '%a %u', '/home/coder/note.txt').out).toBe('600 1000');
        expect(inIde(user, 'sha256sum', '/home/coder/project/src/blob').out).toBe(sums[user]);
        expect(await aiCallAs(user)).toBe(`answered as ${user}`);
      }
      expect(on('swarm-w1', 'ps', '-q', '--filter', `label=com.docker.swarm.service.name=${ide('bob')}`)).toBe('');
    } finally {
      manager('node', 'update', '--availability', 'active', 'swarm-w1');
    }
  });
});
