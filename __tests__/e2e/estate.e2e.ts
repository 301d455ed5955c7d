import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import { Browser, Page } from 'puppeteer-core';
import { ARTEFACTS, docker, E2EEstate, E2E_DIR, httpsRequest, log, mustRun, rosterYaml, run, sleep } from './harness';
import { ROOT } from '../live/terraform';
import { cancelTerminalLine, Credentials, launchBrowser, openTerminal, screenshot, signIn, typeInTerminal, visit, watchWebSockets, WebSocketSeen } from './browser';
import { addresses, connectFrom, httpFrom, lookupFrom, processFacts, resolveFrom, routes } from './probes';
import { UNROUTABLE_DNS_UPSTREAM } from '../../constructs/hardened-container';
import { USER_DATA_DIR } from '../../constructs/workspace';
import { AI_GATEWAY_HOST, EGRESS_PROXY_HOST } from '../../constructs/naming';
import { AUDIT_SINK_PATHS } from '../../render/audit-sink';
import { SECURITY_HEADERS } from '../../render/nginx';

/**
 * The estate, end to end: deployed from empty by real terraform with the real providers on
 * the real Docker engine (local profile: locally built images, GPU-less stand-ins for vLLM
 * and Tabby), signed into with a real Chromium through nginx → oauth2-proxy → Keycloak with
 * TOTP, probed from inside its containers, taken through a roster lifecycle, torn down.
 * The tests run in order and share the deployment (jest --runInBand, one file).
 */
jest.setTimeout(900_000);

const KEEP = process.env.E2E_KEEP === '1';
/** Developer loop: start from what a kept run left (the deploy test then converges it) instead of from empty. */
const REUSE = process.env.E2E_REUSE === '1';
const ROSTER = rosterYaml([{ name: 'alice' }, { name: 'bob' }, { name: 'dave', state: 'suspended' }]);

describe('the estate on a real Docker engine', () => {
  let estate: E2EEstate;
  let browser: Browser | undefined;
  let page: Page;
  const passwords = new Map<string, Credentials>();
  const ide = (user: string) => estate.names.workspaceContainer(user);
  /** alice's and bob's IDE container ids: a roster edit about someone else must leave them as they are. */
  const aliceAndBobContainers = () => Object.fromEntries(['alice', 'bob'].map((user) => [user, docker('inspect', '-f', '{{.Id}}', ide(user))]));
  const service = (name: Parameters<E2EEstate['names']['service']>[0]) => estate.names.service(name);
  let failedDeploy = false;

  beforeAll(() => {
    estate = new E2EEstate(ROSTER);
    // A clean start: whatever an earlier (kept or interrupted) run left of this test estate.
    if (!REUSE) estate.purge();
    // Resuming a kept estate: its users' passwords and TOTP secrets as the kept run left them.
    const kept = path.join(E2E_DIR, 'passwords.json');
    if (REUSE && fs.existsSync(kept)) for (const [user, credentials] of Object.entries(JSON.parse(fs.readFileSync(kept, 'utf8')) as Record<string, Credentials>)) passwords.set(user, credentials);
    log(`estate ${estate.estate.name} at ${estate.origin} (work dir ${E2E_DIR})`);
  });

  afterAll(async () => {
    await browser?.close();
    if (KEEP) {
      // Sign-ins since the last password was written enrolled TOTP secrets that a reuse needs.
      savePasswords();
      log('E2E_KEEP=1: the estate is left running.');
      log(`  reach it: chromium --host-resolver-rules="MAP ${estate.estate.domain} 127.0.0.1" ${estate.origin}/u/alice/`);
      log(`  secrets (TF_VAR_*): ${path.join(E2E_DIR, 'secrets.json')}; user passwords: ${path.join(E2E_DIR, 'passwords.json')}`);
      log('  tear it down: npm run test:e2e:down');
    } else {
      // The test directory sits on the identity network, which the platform stack's destroy removes.
      estate.stopDirectory();
      // So is the bank's stand-in, on the egress network.
      estate.stopBank();
      for (const id of [...estate.stacks].reverse()) {
        try {
          estate.destroy(id);
        } catch (error) {
          log(`destroy ${id} failed: ${(error as Error).message.slice(0, 2000)}`);
        }
      }
      estate.purge();
    }
    for (const [phase, seconds] of estate.timings) log(`phase ${phase.padEnd(28)} ${seconds.toFixed(1)}s`);
  });

  /** Everyone in the bank's directory (the test's OpenLDAP): the roster's users, erin added later, and mallory, who is in no roster. */
  const DIRECTORY_PEOPLE = ['alice', 'bob', 'carol', 'dave', 'erin', 'mallory'];
  let directory: ReadonlyMap<string, { uid: string; password: string }>;

  /** A user's directory password (Keycloak never holds it), kept for E2E_KEEP runs. */
  function credentialsOf(username: string): Credentials {
    const credentials = passwords.get(username) ?? { username, password: directory.get(username)!.password };
    passwords.set(username, credentials);
    savePasswords();
    return credentials;
  }

  /** Writes the users' passwords and the TOTP secrets their sign-ins enrolled, for an E2E_REUSE run. */
  function savePasswords(): void {
    fs.writeFileSync(path.join(E2E_DIR, 'passwords.json'), JSON.stringify(Object.fromEntries(passwords), null, 2), { mode: 0o600 });
  }

  /** The Terraform client's token (the bootstrap admin is retired), fetched through nginx from the allow-listed host address. */
  async function adminToken(): Promise<string> {
    const reply = await httpsRequest(`https://127.0.0.1:${estate.estate.httpsPort}/realms/master/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: estate.names.terraformClient(), client_secret: estate.secrets.keycloak_terraform_client_secret }).toString(),
      host: estate.estate.domain,
    });
    if (reply.status !== 200) throw new Error(`admin token: ${reply.status} ${reply.body}`);
    return (JSON.parse(reply.body) as { access_token: string }).access_token;
  }

  /** GET/DELETE on the realm's admin API as the Terraform client. */
  async function realmApi(method: 'GET' | 'DELETE', route: string): Promise<{ status: number; json: any }> {
    const reply = await httpsRequest(`https://127.0.0.1:${estate.estate.httpsPort}/admin/realms/${estate.estate.keycloak.realm}${route}`, {
      method,
      headers: { Authorization: `Bearer ${await adminToken()}` },
      host: estate.estate.domain,
    });
    return { status: reply.status, json: reply.body ? JSON.parse(reply.body) : undefined };
  }

  async function userId(username: string): Promise<string> {
    const { json } = await realmApi('GET', `/users?exact=true&username=${username}`);
    expect(json).toHaveLength(1);
    return json[0].id as string;
  }

  /** Where /u/<user>/ takes this page now: the IDE, or (signed out, refused) somewhere else. */
  async function reachesIde(target: Page, user: string): Promise<boolean> {
    const response = await visit(target, `${estate.origin}/u/${user}/`);
    return response?.status() === 200 && new URL(target.url()).pathname === `/u/${user}/` && !(await target.$('#username, #kc-error-message, #kc-page-title'));
  }

  test('deploys from empty: platform, identity, workspaces (and its shard stacks), edge', async () => {
    failedDeploy = true;
    estate.apply('platform');
    await estate.waitHealthy(service('postgres'), 120);
    await estate.waitHealthy(service('keycloak'), 300);
    directory = estate.startDirectory(DIRECTORY_PEOPLE);
    // The bank's services (stand-in), on the egress network the platform stack made.
    await estate.startBank();
    log(estate.bootstrapKeycloak().trim());
    estate.apply('identity');
    // The workspaces stack, then its shard stacks (workspaces.shards > 1).
    for (const id of estate.workspaceStacks) estate.apply(id);
    estate.apply('edge');
    await estate.waitHealthy(service('litellm'), 180);
    await estate.waitHealthy(ide('alice'), 180);
    await estate.waitHealthy(ide('bob'), 180);
    failedDeploy = false;
    const names = estate.containers();
    for (const expected of [service('nginx'), service('keycloak'), service('postgres'), service('litellm'), service('vllm'), service('tabby'), service('oauth2-proxy'), ide('alice'), ide('bob'), ide('dave')]) {
      expect(names).toContain(expected);
    }
  });

  test('every stack converges: a refreshing plan right after deploy changes nothing', () => {
    if (failedDeploy) throw new Error('deploy failed');
    for (const id of estate.stacks) expect({ stack: id, changes: estate.changes(id) }).toEqual({ stack: id, changes: [] });
  });

  test('only nginx publishes host ports, and only on loopback', () => {
    const published = estate
      .containers()
      .map((name) => ({ name, ports: docker('inspect', '-f', '{{json .HostConfig.PortBindings}}', name) }))
      .filter((c) => c.ports !== '{}' && c.ports !== 'null');
    expect(published.map((c) => c.name)).toEqual([service('nginx')]);
    const bindings = JSON.parse(published[0].ports) as Record<string, { HostIp: string; HostPort: string }[]>;
    expect(Object.values(bindings).flat().map((b) => `${b.HostIp}:${b.HostPort}`).sort()).toEqual([
      `127.0.0.1:${estate.estate.httpPort}`,
      `127.0.0.1:${estate.estate.httpsPort}`,
    ]);
  });

  test('browser: alice signs in with her directory password, enrols TOTP, and lands in her VS Code with its websocket connected', async () => {
    const alice = credentialsOf('alice');
    browser = await launchBrowser(estate.estate.domain);
    page = await browser.newPage();
    const sockets = await watchWebSockets(page);
    // What the content security policy blocked, for the log (the workbench working is the test).
    const blocked: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) blocked.push(message.text().slice(0, 200));
    });
    const steps: string[] = [];
    const outcome = await signIn(page, `${estate.origin}/u/alice/`, alice, steps);
    log(`alice's sign-in: ${steps.join(' → ')}`);
    expect(outcome).toBe('ide');
    expect(steps.slice(0, 2)).toEqual(['password', 'totp-enrol']);
    expect(alice.totpSecret).toMatch(/^[A-Z2-7]{16,}$/);
    expect(new URL(page.url()).pathname).toBe('/u/alice/');
    // The workbench renders: an editor part and the activity bar exist.
    await page.waitForSelector('.monaco-workbench .part.activitybar', { timeout: 60_000 });
    // Its websocket to code-server (through nginx) was upgraded.
    for (let i = 0; i < 30 && !sockets.some((s) => s.status === 101); i++) await sleep(1000);
    expect(sockets.filter((s) => s.status === 101).map((s) => new URL(s.url).pathname.startsWith('/u/alice/'))).toContain(true);
    await screenshot(page, ARTEFACTS, 'alice-workbench');
    log(`CSP reports during sign-in and workbench load: ${blocked.length}${blocked.length ? `: ${JSON.stringify(blocked.slice(0, 5))}` : ''}`);
  });

  test("alice opening bob's IDE gets 403", async () => {
    const response = await visit(page, `${estate.origin}/u/bob/`);
    expect(response?.status()).toBe(403);
  });

  test('signed out, alice signs in again and is asked for her TOTP code', async () => {
    const { json: sessionsBefore } = await realmApi('GET', `/users/${await userId('alice')}/sessions`);
    expect(sessionsBefore.length).toBeGreaterThan(0);
    await visit(page, `${estate.origin}/oauth2/sign_out`);
    // Signing out of the estate ends the Keycloak session too (oauth2-proxy's back-channel logout).
    expect((await realmApi('GET', `/users/${await userId('alice')}/sessions`)).json).toEqual([]);
    const steps: string[] = [];
    const outcome = await signIn(page, `${estate.origin}/u/alice/`, passwords.get('alice')!, steps);
    log(`alice's second sign-in: ${steps.join(' → ')}`);
    expect(steps).toContain('password');
    expect(steps).toContain('otp');
    expect(steps).not.toContain('totp-enrol');
    expect(outcome).toBe('ide');
  });

  test('no shared admin: the bootstrap admin is retired by the first deploy, and every change to the realm names the Terraform client', async () => {
    const bootstrap = await httpsRequest(`https://127.0.0.1:${estate.estate.httpsPort}/realms/master/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', client_id: 'admin-cli', username: 'estate-admin', password: estate.secrets.keycloak_admin_password }).toString(),
      host: estate.estate.domain,
    });
    // Keycloak answers a password grant for a user that does not exist as for a wrong password.
    expect({ status: bootstrap.status, error: JSON.parse(bootstrap.body).error }).toEqual({ status: expect.any(Number), error: 'invalid_grant' });
    expect(bootstrap.status).toBeGreaterThanOrEqual(400);
    const { json: events } = await realmApi('GET', '/admin-events?max=2000');
    expect(events.length).toBeGreaterThan(10);
    const actors = new Set((events as { authDetails: { userId: string } }[]).map((e) => e.authDetails.userId));
    expect(actors.size).toBe(1);
    // The one actor is the Terraform client's service account (its id is not in the realm: look it up by name in the token).
    const token = JSON.parse(Buffer.from((await adminToken()).split('.')[1], 'base64url').toString());
    expect(token.azp).toBe(estate.names.terraformClient());
    expect([...actors]).toEqual([token.sub]);
  });

  test('a wrong TOTP code is refused and counts toward the brute-force lockout', async () => {
    const context = await browser!.createBrowserContext();
    const wrong = await context.newPage();
    const alice = passwords.get('alice')!;
    const id = await userId('alice');
    const before = (await realmApi('GET', `/attack-detection/brute-force/users/${id}`)).json.numFailures as number;
    expect(await signIn(wrong, `${estate.origin}/u/alice/`, { username: alice.username, password: alice.password }, [])).toBe('otp-asked');
    await wrong.type('#otp', '000000');
    await Promise.all([wrong.waitForNavigation({ timeout: 60_000 }).catch(() => undefined), wrong.click('#kc-login')]);
    expect(await wrong.$('#otp')).not.toBeNull();
    expect(await wrong.evaluate(() => document.body.innerText)).toMatch(/invalid authenticator code/i);
    expect((await realmApi('GET', `/attack-detection/brute-force/users/${id}`)).json.numFailures).toBe(before + 1);
    await context.close();
  });

  test("an admin deletes alice's TOTP device: her next sign-in must enrol a new one, and nothing gets her in without a code", async () => {
    const id = await userId('alice');
    const { json: credentials } = await realmApi('GET', `/users/${id}/credentials`);
    const otp = (credentials as { id: string; type: string }[]).filter((c) => c.type === 'otp');
    expect(otp).toHaveLength(1);
    expect((await realmApi('DELETE', `/users/${id}/credentials/${otp[0].id}`)).status).toBe(204);
    await visit(page, `${estate.origin}/oauth2/sign_out`);

    // Password only: Keycloak shows the enrolment page, a wrong code is refused, and the IDE stays shut.
    await visit(page, `${estate.origin}/u/alice/`);
    await page.type('#username', 'alice');
    await page.type('#password', passwords.get('alice')!.password);
    await Promise.all([page.waitForNavigation({ timeout: 60_000 }).catch(() => undefined), page.click('#kc-login')]);
    if (!(await page.$('#kc-totp-secret-key'))) await Promise.all([page.waitForNavigation({ timeout: 30_000 }).catch(() => undefined), page.click('#mode-manual')]);
    expect(await page.$('#kc-totp-secret-key')).not.toBeNull();
    await page.type('#totp', '000000');
    await Promise.all([page.waitForNavigation({ timeout: 60_000 }).catch(() => undefined), page.click('#saveTOTPBtn, [type=submit]')]);
    expect(await page.$('#totp')).not.toBeNull();
    expect(await reachesIde(page, 'alice')).toBe(false);

    const steps: string[] = [];
    const alice = passwords.get('alice')!;
    const oldSecret = alice.totpSecret;
    expect(await signIn(page, `${estate.origin}/u/alice/`, alice, steps)).toBe('ide');
    expect(steps).toContain('totp-enrol');
    expect(alice.totpSecret).not.toBe(oldSecret);
  });

  test("suspended while signed in: alice's browser loses her IDE within the revocation window with nothing restarted, and her IDE loses the AI gateway", async () => {
    expect(await reachesIde(page, 'alice')).toBe(true);
    expect(httpFrom(ide('alice'), `http://${AI_GATEWAY_HOST}:8081/v1/models`).status).toBe(200);
    const containersBefore = docker('inspect', '-f', '{{.Id}} {{.State.StartedAt}}', service('oauth2-proxy'), service('nginx'), service('keycloak'), ide('alice'));
    estate.setRoster(rosterYaml([{ name: 'alice', state: 'suspended' }, { name: 'bob' }, { name: 'dave', state: 'suspended' }]));
    // The identity stack alone first: what cuts the browser off is Keycloak refusing oauth2-proxy's refresh.
    estate.apply('identity');
    const suspendedAt = Date.now();
    const windowMs = 60_000;
    let cutAfterMs: number | undefined;
    while (Date.now() - suspendedAt < windowMs + 45_000) {
      if (!(await reachesIde(page, 'alice'))) {
        cutAfterMs = Date.now() - suspendedAt;
        break;
      }
      await sleep(5_000);
    }
    log(`alice's signed-in browser was refused ${cutAfterMs === undefined ? 'never' : `${(cutAfterMs / 1000).toFixed(0)} s`} after her suspension (window ${windowMs / 1000} s)`);
    expect(cutAfterMs).toBeDefined();
    // Within the window, plus the refresh that notices it and one poll.
    expect(cutAfterMs!).toBeLessThanOrEqual(windowMs + 15_000);
    expect(docker('inspect', '-f', '{{.Id}} {{.State.StartedAt}}', service('oauth2-proxy'), service('nginx'), service('keycloak'), ide('alice'))).toBe(containersBefore);
    // The workspaces stack unlinks nginx from her network: her still-running IDE has no gateway.
    estate.apply('workspaces');
    expect(httpFrom(ide('alice'), `http://${AI_GATEWAY_HOST}:8081/v1/models`).status).not.toBe(200);
    // … and no egress proxy: a suspended user reaches nothing outside the estate.
    expect(connectFrom(ide('alice'), EGRESS_PROXY_HOST, 3128)).not.toBe('connected');
    expect(docker('inspect', '-f', '{{.State.Running}}', ide('alice'))).toBe('true');

    estate.setRoster(ROSTER);
    estate.apply('identity');
    estate.apply('workspaces');
    expect(httpFrom(ide('alice'), `http://${AI_GATEWAY_HOST}:8081/v1/models`).status).toBe(200);
    expect(connectFrom(ide('alice'), EGRESS_PROXY_HOST, 3128)).toBe('connected');
  });

  test('a directory user who is not in the roster cannot sign in, and Keycloak never holds their account', async () => {
    const context = await browser!.createBrowserContext();
    const steps: string[] = [];
    expect(await signIn(await context.newPage(), `${estate.origin}/u/mallory/`, credentialsOf('mallory'), steps)).toBe('refused');
    log(`mallory's sign-in: ${steps.join(' → ')}`);
    expect(steps.join(' ')).toMatch(/invalid username or password/i);
    expect((await realmApi('GET', '/users?exact=true&username=mallory')).json).toEqual([]);
    // The realm's users are exactly the active roster users, imported from the directory.
    const { json: users } = await realmApi('GET', '/users?max=100');
    expect((users as { username: string; federationLink?: string }[]).map((u) => [u.username, u.federationLink !== undefined]).sort()).toEqual([
      ['alice', true],
      ['bob', true],
    ]);
    await context.close();
  });

  test('a suspended user cannot sign in', async () => {
    const dave = credentialsOf('dave');
    const context = await browser!.createBrowserContext();
    const davePage = await context.newPage();
    const steps: string[] = [];
    const outcome = await signIn(davePage, `${estate.origin}/u/dave/`, dave, steps);
    log(`dave's sign-in: ${steps.join(' → ')}`);
    expect(outcome).toBe('refused');
    expect(steps).not.toContain('ide');
    await context.close();
  });

  test("isolation, probed from inside alice's IDE: no other IDE, no service directly, nothing routed beyond its own network", () => {
    const from = ide('alice');
    const targets: [string, string, number][] = [
      ["bob's IDE", ide('bob'), 8080],
      ['Keycloak', service('keycloak'), 8080],
      ['PostgreSQL', service('postgres'), 5432],
      ['LiteLLM', service('litellm'), 4000],
      ['vLLM', service('vllm'), 8000],
      ['Tabby', service('tabby'), 8080],
      ['oauth2-proxy', service('oauth2-proxy'), 4180],
    ];
    const results: Record<string, string> = {};
    for (const [label, host, port] of targets) {
      // By name (Docker's DNS must not resolve it) and by address (no route must exist).
      results[`${label} by name`] = lookupFrom(from, host);
      for (const [network, ip] of Object.entries(addresses(host))) results[`${label} at ${ip} (${network})`] = connectFrom(from, ip, port);
    }
    log(`isolation probes from ${from}: ${JSON.stringify(results, null, 1)}`);
    for (const [probe, result] of Object.entries(results)) {
      // Docker's resolver forwards an unknown name only to the unroutable upstream (see the DNS
      // test below), so the lookup fails at once: nothing resolves.
      expect({ probe, result }).toEqual({ probe, result: expect.stringMatching(probe.endsWith('by name') ? /^(no-such-name|no-answer|EAI_AGAIN)$/ : /^(timeout|unreachable|refused)$/) });
    }
    // The one declared path: the AI gateway on alice's network.
    expect(connectFrom(from, 'ai-gateway', 8081)).toBe('connected');
    // Docker 20.10 gives a container on an internal network a default route to the network's own
    // gateway (the host's bridge address), where its isolation rules drop everything that would
    // leave the subnet (the address probes above). Nothing else is routed.
    for (const user of ['alice', 'bob']) {
      const network = estate.names.workspaceNetwork(user);
      const gateway = docker('network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Gateway}}{{end}}', network);
      const subnet = docker('network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', network);
      expect(routes(ide(user))).toEqual([`0.0.0.0/0 via ${gateway}`, `${subnet} direct`].sort());
    }
  });

  test("the AI path from alice's IDE: LiteLLM (real) → vLLM stand-in, and Tabby's stand-in, through the gateway", () => {
    const from = ide('alice');
    const models = httpFrom(from, 'http://ai-gateway:8081/v1/models');
    expect(models.status).toBe(200);
    expect(JSON.parse(models.body).data.map((m: { id: string }) => m.id)).toContain(estate.estate.models.chat.name);
    const chat = httpFrom(from, 'http://ai-gateway:8081/v1/chat/completions', 'POST', JSON.stringify({ model: estate.estate.models.chat.name, messages: [{ role: 'user', content: 'hello from alice' }] }));
    expect(chat.status).toBe(200);
    expect(JSON.parse(chat.body).choices[0].message.content).toContain('hello from alice');
    const completion = httpFrom(from, 'http://ai-gateway:8081/tabby/v1/completions', 'POST', JSON.stringify({ language: 'python', segments: { prefix: 'def f(', suffix: '' } }));
    expect(completion.status).toBe(200);
    expect(JSON.parse(completion.body).choices[0].text).toContain('completion');
    // Everything off the allow-list is answered by nginx itself (issue 17): LiteLLM's management
    // and data routes, and wrong methods on allowed ones.
    const refused: [string, string][] = [
      ['GET', '/v1/mcp/server'],
      ['GET', '/v1/model/info'],
      ['GET', '/v1/files'],
      ['GET', '/v1/vector_stores'],
      ['POST', '/key/generate'],
      ['POST', '/user/new'],
      ['POST', '/config/update'],
      ['DELETE', '/v1/models'],
      ['GET', '/tabby/v1beta/server_setting'],
    ];
    for (const [method, route] of refused) {
      expect({ method, route, status: httpFrom(from, `http://ai-gateway:8081${route}`, method, method === 'POST' ? '{}' : '').status }).toEqual({ method, route, status: 404 });
    }
  });

  /** Every record the audit sink holds from one source (all days), each parsed. */
  function sinkRecords(source: string): Record<string, any>[] {
    const out = run('docker', ['exec', service('audit'), 'sh', '-c', `cat ${AUDIT_SINK_PATHS.logDir}/*/${source}.jsonl 2>/dev/null || true`]).out;
    return out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, any>);
  }

  /** A bash script in a user's IDE, as that user, with the IDE's own environment (the proxy variables the estate set). */
  function inIde(user: string, script: string, timeoutMs = 240_000): { status: number | null; out: string } {
    return run('docker', ['exec', '-u', '1000:1000', '-w', '/home/coder', ide(user), 'bash', '-c', script], { timeout: timeoutMs });
  }

  /** The user's IDE websockets that were upgraded and are open now. */
  const openIdeSockets = (sockets: readonly WebSocketSeen[], user: string) => sockets.filter((s) => s.status === 101 && new URL(s.url).pathname.startsWith(`/u/${user}/`) && !s.closed);

  /** alice signed in, in a browser context of her own, on her VS Code; its websockets are watched. */
  async function aliceInHerIde() {
    browser ??= await launchBrowser(estate.estate.domain);
    const session = await browser.createBrowserContext();
    const idePage = await session.newPage();
    const sockets = await watchWebSockets(idePage);
    const steps: string[] = [];
    const outcome = await signIn(idePage, `${estate.origin}/u/alice/`, credentialsOf('alice'), steps);
    log(`alice signs in: ${outcome} (${steps.join(' → ')})`);
    expect(outcome).toBe('ide');
    return { session, idePage, sockets };
  }

  /** Where a terminal command typed in the browser leaves its output and exit status, in the user's home. */
  const TERMINAL_DIR = '.e2e-terminal';

  /**
   * Opens the integrated terminal in a signed-in IDE page and waits for its shell; returns the
   * shell's pid in the container (so the test can show it is the terminal's, on a pty).
   */
  async function startTerminal(target: Page, user: string): Promise<number> {
    // Nothing of an earlier run's terminal may answer for this one.
    inIde(user, `rm -rf ${TERMINAL_DIR}`);
    await openTerminal(target).catch(async (error) => {
      await screenshot(target, ARTEFACTS, `${user}-terminal-not-open`);
      throw error;
    });
    // Keys typed while the new terminal's shell is still starting can be lost on the way: the line is
    // typed again (after Ctrl+C) until the shell answers. History expansion off: a '!' stays a '!'.
    for (let attempt = 1; attempt <= 3; attempt++) {
      if (attempt > 1) await cancelTerminalLine(target);
      await typeInTerminal(target, `set +H 2>/dev/null; mkdir -p ~/${TERMINAL_DIR} && echo $$ > ~/${TERMINAL_DIR}/shell.pid`);
      for (let i = 0; i < 20; i++) {
        const pid = inIde(user, `cat ${TERMINAL_DIR}/shell.pid 2>/dev/null`).out.trim();
        if (/^\d+$/.test(pid)) return Number(pid);
        await sleep(1000);
      }
    }
    await screenshot(target, ARTEFACTS, `${user}-terminal-no-shell`);
    throw new Error(`${user}'s terminal: no shell answered in three tries of 20 s`);
  }

  /**
   * A command typed into the user's terminal in the browser, as they would type it; its output and
   * exit status go to files in their home, read back here. Newlines in `command` become spaces
   * (each line must end with ';' or a connective).
   */
  async function inTerminal(target: Page, user: string, name: string, command: string, timeoutMs = 240_000): Promise<{ status: number; out: string }> {
    const line = command.replace(/\n\s*/g, ' ');
    inIde(user, `rm -f ${TERMINAL_DIR}/${name}.out ${TERMINAL_DIR}/${name}.rc`);
    await typeInTerminal(target, `( ${line} ) > ~/${TERMINAL_DIR}/${name}.out 2>&1; echo $? > ~/${TERMINAL_DIR}/${name}.rc`);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const rc = inIde(user, `cat ${TERMINAL_DIR}/${name}.rc 2>/dev/null`).out.trim();
      if (/^\d+$/.test(rc)) return { status: Number(rc), out: inIde(user, `cat ${TERMINAL_DIR}/${name}.out`).out };
      await sleep(2000);
    }
    await screenshot(target, ARTEFACTS, `${user}-terminal-${name}`);
    throw new Error(`${user}'s terminal: '${name}' gave no exit status within ${timeoutMs / 1000} s`);
  }

  /** Writes argv[1], a wheel of the package bank_greeting 1.0.0 whose __init__.py is argv[2]. */
  const WHEEL_WRITER = [
    'import base64, hashlib, sys, zipfile',
    'files = {"bank_greeting/__init__.py": sys.argv[2].encode(),',
    '  "bank_greeting-1.0.0.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: bank-greeting\\nVersion: 1.0.0\\n",',
    '  "bank_greeting-1.0.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: webide-e2e\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}',
    'digest = lambda b: "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(b).digest()).decode().rstrip("=")',
    'record = "".join(f"{n},{digest(b)},{len(b)}\\n" for n, b in files.items()) + "bank_greeting-1.0.0.dist-info/RECORD,,\\n"',
    'with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:',
    '    [z.writestr(n, b) for n, b in files.items()]',
    '    z.writestr("bank_greeting-1.0.0.dist-info/RECORD", record)',
  ].join('\n');

  /** Seeds the bank's stand-in: an npm package and a wheel, made here and handed to it as the bank's own publishing would. */
  function seedBank(mark: string): void {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-bank-seed-'));
    const npmDir = path.join(work, 'npm');
    fs.mkdirSync(npmDir);
    // Named per run: a registry refuses a second publish of one version.
    fs.writeFileSync(path.join(npmDir, 'package.json'), JSON.stringify({ name: `bank-greeting-${mark}`, version: '1.0.0', main: 'index.js', license: 'UNLICENSED' }));
    fs.writeFileSync(path.join(npmDir, 'index.js'), `module.exports = 'npm ${mark}';\n`);
    mustRun('npm', ['pack', '--silent', '--pack-destination', work], { cwd: npmDir });
    mustRun('sh', ['-c', `docker exec -i ${estate.bankContainer} bank-standin publish-npm < ${work}/bank-greeting-${mark}-1.0.0.tgz`]);
    // A wheel is a zip with its metadata and a RECORD of sha256s (PEP 427): written directly, no build tool needed.
    const wheel = 'bank_greeting-1.0.0-py3-none-any.whl';
    mustRun('python3', ['-c', WHEEL_WRITER, path.join(work, wheel), `GREETING = "pypi ${mark}"\n`]);
    mustRun('sh', ['-c', `docker exec -i ${estate.bankContainer} bank-standin add-wheel ${wheel} < ${path.join(work, wheel)}`]);
    fs.rmSync(work, { recursive: true, force: true });
  }

  test("egress: as alice, typing in her IDE's terminal in the browser, git clone and push, npm install, pip install and a Maven dependency reach the bank's services (stand-ins) through the proxy with nothing configured by her, each logged as alice; undeclared hosts, the host, bob's IDE, Keycloak and a direct connection are refused; bob is logged as bob", async () => {
    const mark = crypto.randomBytes(4).toString('hex');
    seedBank(mark);
    // alice signs in afresh (the suspension test cut her first session) and opens a terminal in her VS Code.
    const { session, idePage, sockets } = await aliceInHerIde();
    const shell = await startTerminal(idePage, 'alice');
    // The shell is the terminal's: on a pty, a child of code-server's pty host, not a `docker exec`.
    const tty = inIde('alice', `readlink /proc/${shell}/fd/0; ps -o args= -p "$(ps -o ppid= -p ${shell} | tr -d ' ')"`).out.trim().split('\n');
    log(`alice's terminal: shell pid ${shell} on ${tty[0]}, started by: ${tty[1]?.slice(0, 120)}`);
    expect(tty[0]).toMatch(/^\/dev\/pts\/\d+$/);
    expect(tty[1]).toMatch(/code-server|ptyHost|node/);
    await screenshot(idePage, ARTEFACTS, 'alice-terminal');
    // Git: clone, commit, push to a repository she may write to; a read-only one refuses the push.
    const git = await inTerminal(idePage, 'alice', 'git', `set -e; d=$(mktemp -d); cd "$d"; git clone -q https://git.bank.internal/team/project.git p; cd p;
      git -c user.name=alice -c user.email=alice@bank.internal commit -q --allow-empty -m "alice ${mark}"; git push -q origin HEAD:main; echo PUSHED;
      cd "$d"; git clone -q https://git.bank.internal/team/readonly.git r; cd r; git -c user.name=alice -c user.email=alice@bank.internal commit -q --allow-empty -m x;
      if git push -q origin HEAD:main 2>/dev/null; then echo READONLY-PUSHED; else echo READONLY-REFUSED; fi`);
    log(`git in alice's IDE: exit ${git.status}; ${git.out.trim().split('\n').slice(-3).join(' | ')}`);
    expect(git.status).toBe(0);
    expect(git.out).toContain('PUSHED');
    expect(git.out).toContain('READONLY-REFUSED');
    // bob sees alice's commit: the push reached the bank's server.
    const bobLog = inIde('bob', 'set -e; d=$(mktemp -d); git clone -q https://git.bank.internal/team/project.git "$d/p"; git -C "$d/p" log --format=%s -1');
    expect(bobLog.status).toBe(0);
    expect(bobLog.out.trim()).toBe(`alice ${mark}`);
    // npm: the package the bank published, from the bank's registry (the IDE's npmrc, not hers).
    const npm = await inTerminal(idePage, 'alice', 'npm', `set -e; d=$(mktemp -d); cd "$d"; npm install --no-audit --no-fund --loglevel=error bank-greeting-${mark}@1.0.0 >/dev/null; node -p "require('bank-greeting-${mark}')"`);
    log(`npm in alice's IDE: exit ${npm.status}; ${npm.out.trim().slice(-300)}`);
    expect(npm.status).toBe(0);
    expect(npm.out.trim()).toBe(`npm ${mark}`);
    // pip: the wheel the bank uploaded, into a virtual environment of hers (in her home: /tmp is noexec).
    const venv = `$HOME/.venvs/bank-${mark}`;
    const pip = await inTerminal(idePage, 'alice', 'pip', `set -e; python3 -m venv ${venv}; ${venv}/bin/pip install -q --disable-pip-version-check bank-greeting==1.0.0; ${venv}/bin/python -c "import bank_greeting; print(bank_greeting.GREETING)"; rm -rf ${venv}`);
    log(`pip in alice's IDE: exit ${pip.status}; ${pip.out.trim().slice(-300)}`);
    expect(pip.status).toBe(0);
    expect(pip.out.trim().split('\n').pop()).toBe(`pypi ${mark}`);
    // Maven: a project of hers that depends on the bank's artifact, its dependencies resolved as a
    // build does, with the plugin itself fetched from the bank's repository. (The plugin's `get`
    // goal would not do: it fetches the artifact without the settings' proxy, so Docker's DNS,
    // which knows no bank name, answers "unknown host".)
    const pom = '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion><groupId>com.bank.alice</groupId><artifactId>app</artifactId><version>1.0.0</version><packaging>pom</packaging>'
      + '<dependencies><dependency><groupId>com.bank.demo</groupId><artifactId>greeting</artifactId><version>1.0.0</version></dependency></dependencies></project>';
    // Her project is in her home already (as a checkout would be); she builds it from the terminal.
    const project = `maven-app-${mark}`;
    expect(inIde('alice', `rm -rf ~/.m2/repository/com/bank; mkdir -p ${project}; printf '%s' '${pom}' > ${project}/pom.xml`).status).toBe(0);
    const maven = await inTerminal(idePage, 'alice', 'maven', `set -e; cd ~/${project};
      mvn -B -ntp org.apache.maven.plugins:maven-dependency-plugin:3.8.1:resolve | grep -E "ERROR|BUILD|greeting"; ls ~/.m2/repository/com/bank/demo/greeting/1.0.0/greeting-1.0.0.jar`, 420_000);
    await screenshot(idePage, ARTEFACTS, 'alice-terminal-after-maven');
    log(`maven in alice's IDE: exit ${maven.status}; ${maven.out.trim().slice(-2000)}`);
    expect(maven.status).toBe(0);
    expect(maven.out).toContain('greeting-1.0.0.jar');

    // Refused by the proxy: an undeclared bank host, a declared host on another port, the Docker
    // host, bob's IDE and Keycloak (by name and address); the code is what the proxy answered.
    const egressGateway = docker('network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Gateway}}{{end}}', estate.names.network('egress'));
    const bobIp = addresses(ide('bob'))[estate.names.workspaceNetwork('bob')];
    const keycloakIp = Object.values(addresses(service('keycloak')))[0];
    const refusedUrls = [
      'https://www.bank.internal/',
      'https://git.bank.internal:8443/',
      `http://${egressGateway}:${estate.estate.httpsPort}/`,
      `https://${egressGateway}/`,
      `http://${bobIp}:8080/`,
      `http://${service('keycloak')}:8080/`,
      `http://${keycloakIp}:8080/`,
    ];
    const probe = (url: string) => inIde('alice', `curl -s -o /dev/null -m 20 -w '%{http_connect} %{http_code}' '${url}'; echo " exit=$?"`).out.trim();
    const answers = Object.fromEntries(refusedUrls.map((url) => [url, probe(url)]));
    log(`refused through the proxy: ${JSON.stringify(answers)}`);
    for (const [url, answer] of Object.entries(answers)) expect({ url, answer }).toEqual({ url, answer: expect.stringMatching(/(^403 000 exit=56$)|(^000 403 exit=0$)/) });
    // Around the proxy: no name resolves and no route exists (the IDE's network is internal).
    const direct = inIde('alice', 'curl -sS --noproxy "*" -m 10 -o /dev/null https://git.bank.internal/ 2>&1; echo " exit=$?"').out.trim();
    const bankIp = Object.values(addresses(estate.bankContainer))[0];
    const directIp = connectFrom(ide('alice'), bankIp, 443);
    log(`direct from alice's IDE: by name: ${direct}; to ${bankIp}:443: ${directIp}`);
    expect(direct).toMatch(/exit=(6|7|28)$/);
    expect(directIp).toMatch(/^(timeout|unreachable|refused)$/);

    // The proxy's records, in the audit sink: alice's work under her name, bob's under his.
    const records = sinkRecords('squid');
    const of = (user: string, host: string, status: number) => records.filter((r) => r.user === user && r.host === host && r.status === status);
    for (const host of ['git.bank.internal', 'npm.bank.internal', 'pypi.bank.internal', 'maven.bank.internal']) {
      expect({ host, tunnels: of('alice', host, 200).filter((r) => r.method === 'CONNECT' && r.result === 'TCP_TUNNEL').length > 0 }).toEqual({ host, tunnels: true });
    }
    expect(of('bob', 'git.bank.internal', 200).length).toBeGreaterThan(0);
    for (const host of ['www.bank.internal', egressGateway, bobIp, service('keycloak'), keycloakIp]) {
      expect({ host, refused: of('alice', host, 403).length > 0 }).toEqual({ host, refused: true });
    }
    // No request is anyone else's: every one came from alice's or bob's network. (A connection that
    // sends no request, such as the suspension test's port probe, is logged by Squid without a
    // method and without a user: no ACL ran for it.)
    const requests = records.filter((r) => r.method !== '-' && r.method !== 'NONE' && !String(r.url).startsWith('error:'));
    log(`records without a request: ${records.length - requests.length}, e.g. ${JSON.stringify(records.find((r) => !requests.includes(r)) ?? null)}`);
    expect([...new Set(requests.map((r) => r.user))].sort()).toEqual(['alice', 'bob']);
    // Her browser session stayed open throughout: the IDE's websocket was never closed.
    expect(openIdeSockets(sockets, 'alice').length).toBeGreaterThan(0);
    inIde('alice', `rm -rf ${TERMINAL_DIR} maven-app-${mark}`);
    await session.close();
  });

  test("audit trail: alice's sign-in, her IDE and her AI request are in the sink under her name, so are her IDE's start and bob's failed login; no secret and no prompt in it", async () => {
    // alice's one AI request, with a prompt the sink must not hold.
    const prompt = `audit-prompt-${crypto.randomBytes(6).toString('hex')}`;
    const chat = httpFrom(ide('alice'), 'http://ai-gateway:8081/v1/chat/completions', 'POST', JSON.stringify({ model: estate.estate.models.chat.name, messages: [{ role: 'user', content: prompt }] }));
    expect(chat.status).toBe(200);
    // bob mistypes his password.
    const context = await browser!.createBrowserContext();
    expect(await signIn(await context.newPage(), `${estate.origin}/u/bob/`, { username: 'bob', password: 'not-bobs-password-7!' }, [])).toBe('refused');
    await context.close();
    const keycloakEvents = () => sinkRecords('keycloak').filter((r) => r.loggerName === 'org.keycloak.events').map((r) => String(r.message));
    let events = keycloakEvents();
    for (let i = 0; i < 30 && !events.some((m) => /type="?LOGIN_ERROR/.test(m) && /username="?bob/.test(m)); i++) {
      await sleep(1000);
      events = keycloakEvents();
    }
    log(`keycloak events in the sink: ${events.length}; e.g. ${events.find((m) => /LOGIN_ERROR/.test(m))?.slice(0, 300)}`);
    // Sign-in: Keycloak's login event names alice; bob's failed login is there too.
    expect(events.some((m) => /type="?LOGIN"?,/.test(m) && /username="?alice/.test(m))).toBe(true);
    expect(events.some((m) => /type="?LOGIN_ERROR/.test(m) && /username="?bob/.test(m))).toBe(true);
    // Her IDE and her AI request: nginx's records with her name.
    const access = sinkRecords('nginx-access');
    expect(access.some((r) => r.server === 'entry' && r.user === 'alice' && r.ide === 'alice' && String(r.uri).startsWith('/u/alice/') && r.status === 200)).toBe(true);
    expect(access.some((r) => r.server === 'ai-gateway' && r.user === 'alice' && r.uri === '/v1/chat/completions' && r.status === 200)).toBe(true);
    // Her IDE's container starting, from the engine's events.
    const lifecycle = sinkRecords('docker-events').filter((r) => r.Actor?.Attributes?.name === ide('alice'));
    expect(lifecycle.map((r) => r.Action)).toEqual(expect.arrayContaining(['create', 'start']));
    // Nothing secret and no prompt: the estate's secrets, the users' passwords, the prompt alice sent.
    const everything = run('docker', ['exec', service('audit'), 'sh', '-c', `cat ${AUDIT_SINK_PATHS.logDir}/*/*.jsonl`]).out;
    log(`the sink holds ${everything.split('\n').length} records`);
    const secrets = [...Object.values(estate.secrets), credentialsOf('alice').password, credentialsOf('bob').password, 'not-bobs-password-7!', passwords.get('alice')!.totpSecret!];
    for (const value of secrets) expect(everything.includes(value)).toBe(false);
    expect(everything).not.toContain(prompt);
  });

  /** An instant query to the estate's Prometheus, through promtool in its container: `series => value` lines. */
  function promQuery(expr: string): string[] {
    return run('docker', ['exec', service('prometheus'), 'promtool', 'query', 'instant', 'http://localhost:9090', expr])
      .out.split('\n')
      .filter((line) => line.includes('=>'));
  }

  test('monitoring: every target is up; a stopped model server fires ServiceDown and a slow Tabby fires AutocompleteLatencyHigh, both reaching Alertmanager', async () => {
    const jobs = ['alertmanager', 'keycloak', 'litellm', 'mtail', 'nginx', 'node', 'prometheus', 'tabby', 'vllm'];
    const upJobs = () => promQuery('up == 1').map((line) => /job="([^"]+)"/.exec(line)?.[1]).filter((job): job is string => !!job).sort();
    let up = upJobs();
    for (let i = 0; i < 30 && up.join() !== jobs.join(); i++) {
      await sleep(2000);
      up = upJobs();
    }
    log(`targets up: ${up.join(', ')}; nginx_up: ${promQuery('nginx_up').join(' ')}`);
    expect(up).toEqual(jobs);
    expect(promQuery('nginx_up == 1')).toHaveLength(1);

    // vLLM stops; Tabby's stand-in answers every completion 400 ms late (the target is 250 ms).
    docker('exec', service('tabby'), 'sh', '-c', 'echo 400 > /tmp/ai-standin-delay-ms');
    docker('stop', service('vllm'));
    const firing = () => promQuery('ALERTS{alertstate="firing"}').map((line) => `${/alertname="([^"]+)"/.exec(line)?.[1]}:${/job="([^"]+)"/.exec(line)?.[1] ?? ''}`);
    const started = Date.now();
    let alerts: string[] = [];
    let sent = 0;
    try {
      // alice's IDE keeps completing (one request at a time, at most 300 and 5 minutes) until both fire.
      while (Date.now() - started < 300_000 && sent < 300) {
        const completion = httpFrom(ide('alice'), 'http://ai-gateway:8081/tabby/v1/completions', 'POST', JSON.stringify({ language: 'python', segments: { prefix: 'def f(', suffix: '' } }));
        expect(completion.status).toBe(200);
        sent++;
        if (sent % 10 === 0) {
          alerts = firing();
          if (alerts.includes('ServiceDown:vllm') && alerts.some((a) => a.startsWith('AutocompleteLatencyHigh:'))) break;
        }
      }
      log(`after ${((Date.now() - started) / 1000).toFixed(0)} s and ${sent} slow completions, firing: ${alerts.join(', ')}; P95 ${promQuery('histogram_quantile(0.95, sum by (le) (rate(webide_ai_gateway_request_seconds_bucket{route="/tabby/v1/completions"}[5m])))').join(' ')}`);
      expect(alerts).toContain('ServiceDown:vllm');
      expect(alerts.some((a) => a.startsWith('AutocompleteLatencyHigh:'))).toBe(true);
      // Prometheus handed them to Alertmanager.
      let inAlertmanager = '';
      for (let i = 0; i < 15 && !(inAlertmanager.includes('ServiceDown') && inAlertmanager.includes('AutocompleteLatencyHigh')); i++) {
        await sleep(2000);
        inAlertmanager = run('docker', ['exec', service('alertmanager'), 'amtool', 'alert', 'query', '--alertmanager.url=http://localhost:9093']).out;
      }
      expect(inAlertmanager).toContain('ServiceDown');
      expect(inAlertmanager).toContain('AutocompleteLatencyHigh');
    } finally {
      run('docker', ['exec', service('tabby'), 'rm', '-f', '/tmp/ai-standin-delay-ms']);
      run('docker', ['start', service('vllm')]);
    }
    let health = '';
    for (let i = 0; i < 60 && health !== 'healthy'; i++) {
      await sleep(2000);
      health = docker('inspect', '-f', '{{.State.Health.Status}}', service('vllm'));
    }
    expect(health).toBe('healthy');
  });

  test('the stand-ins check credentials as the real servers do: without the key, 401', () => {
    // From LiteLLM's container (it shares the AI network with both), without credentials.
    const ask = (url: string, method = 'GET') =>
      run('docker', ['exec', service('litellm'), 'python3', '-c', `import urllib.request,sys\ntry:\n  urllib.request.urlopen(urllib.request.Request(sys.argv[1], method=sys.argv[2], data=b'{}' if sys.argv[2]=='POST' else None, headers={'Content-Type':'application/json'}), timeout=10); print(200)\nexcept urllib.error.HTTPError as e: print(e.code)`, url, method]).out.trim();
    expect(ask(`http://${service('vllm')}:8000/v1/models`)).toBe('401');
    expect(ask(`http://${service('tabby')}:8080/v1/completions`, 'POST')).toBe('401');
  });

  test('the IDE holds no credential: not in its environment, its files or its image', () => {
    const secretValues = Object.values(estate.secrets);
    for (const user of ['alice', 'bob']) {
      const env = docker('inspect', '-f', '{{json .Config.Env}}', ide(user));
      for (const value of secretValues) expect(env.includes(value)).toBe(false);
      // Every readable file of the container (home volume included) searched for every secret.
      const found = run('docker', ['exec', ide(user), 'grep', '-rlFs', ...secretValues.flatMap((v) => ['-e', v]), '/', '--exclude-dir=proc', '--exclude-dir=sys', '--exclude-dir=dev'], { timeout: 300_000 });
      expect({ user, files: found.out.trim() }).toEqual({ user, files: '' });
    }
    const image = docker('image', 'inspect', estate.estate.images.codeServer) + docker('history', '--no-trunc', estate.estate.images.codeServer);
    for (const value of secretValues) expect(image.includes(value)).toBe(false);
  });

  test("every container runs hardened on the engine: non-root (but the waived event collector and backup agent), no capabilities (but the agent's one), read-only root, its pids limit, no DNS upstream", () => {
    const all = estate.containers();
    // The managed files' loaders were created to receive files and have never run.
    const loaders = all.filter((name) => docker('inspect', '-f', '{{index .Config.Labels "webide.loader"}}', name) === 'true');
    expect(loaders.sort()).toEqual(
      ['alertmanager', 'audit', 'egress-proxy', 'litellm', 'mtail', 'nginx', 'prometheus', 'workspace'].map((purpose) => estate.names.managedFiles(purpose as 'nginx')).map((n) => `${n}-loader`).sort(),
    );
    for (const loader of loaders) expect(docker('inspect', '-f', '{{.State.Status}} {{.State.StartedAt}}', loader)).toBe('created 0001-01-01T00:00:00Z');
    const observed = all.filter((name) => !loaders.includes(name)).map((name) => {
      const host = JSON.parse(docker('inspect', '-f', '{{json .HostConfig}}', name)) as Record<string, any>;
      const labels = JSON.parse(docker('inspect', '-f', '{{json .Config.Labels}}', name)) as Record<string, string>;
      const kernel = processFacts(name);
      return {
        name,
        // From the kernel: the main process's uids, its effective capabilities, its root mount, its cgroup's pids.max.
        rootUid: kernel.uids.split(' ').includes('0'),
        capEff: kernel.capEff,
        rootMountReadOnly: kernel.rootMount.split(',')[0] === 'ro',
        pidsMax: kernel.pidsMax,
        // From the engine.
        pidsLimit: String(host.PidsLimit),
        labelledPidsLimit: labels['webide.pids-limit'],
        capAdd: host.CapAdd ?? [],
        dns: host.Dns,
      };
    });
    log(`hardening: ${JSON.stringify(observed.map((o) => `${o.name} pids.max=${o.pidsMax}`))}`);
    expect(observed.map((o) => o.name)).toEqual(
      expect.arrayContaining([service('nginx'), service('keycloak'), service('postgres'), service('litellm'), service('vllm'), service('tabby'), service('oauth2-proxy'), service('audit'), service('audit-events'), ide('alice')]),
    );
    // Two waived roots (WEBIDE-C5): the event collector opens the engine's socket with no capability; the
    // backup agent reads every home with one, DAC_READ_SEARCH (bit 2).
    const backupAgent = service('backup');
    for (const o of observed) {
      expect(o).toEqual({
        name: o.name,
        rootUid: o.name === service('audit-events') || o.name === backupAgent,
        capEff: o.name === backupAgent ? '0000000000000004' : '0000000000000000',
        rootMountReadOnly: true,
        pidsMax: o.labelledPidsLimit,
        pidsLimit: o.labelledPidsLimit,
        labelledPidsLimit: expect.stringMatching(/^[1-9]\d*$/),
        capAdd: o.name === backupAgent ? ['CAP_DAC_READ_SEARCH'] : [],
        dns: [UNROUTABLE_DNS_UPSTREAM],
      });
    }
  });

  test("no DNS way out: alice's IDE resolves the estate's names only; an outside name the host resolves gets no answer from its resolver", () => {
    const from = ide('alice');
    // A name this host's own resolver answers, taken at run time from its apt sources.
    const outside = new URL(mustRun('python3', [path.join(ROOT, 'scripts/docker/lib/apt_sources.py'), 'mirror', 'bookworm']).trim()).hostname;
    expect(run('getent', ['ahostsv4', outside]).status).toBe(0);
    // The container's only resolver is Docker's embedded DNS, whose only upstream is unroutable.
    expect(docker('exec', from, 'cat', '/etc/resolv.conf').split('\n').filter((l) => l.startsWith('nameserver'))).toEqual(['nameserver 127.0.0.11']);
    expect(JSON.parse(docker('inspect', '-f', '{{json .HostConfig.Dns}}', from))).toEqual([UNROUTABLE_DNS_UPSTREAM]);
    const answers = {
      estate: resolveFrom(from, 'ai-gateway'),
      outside: resolveFrom(from, outside),
      random: resolveFrom(from, `leak-probe-${Date.now()}.example.com`),
    };
    log(`DNS from ${from}: ${JSON.stringify(answers)}`);
    expect(answers.estate).toMatch(/^resolved:\d+\.\d+\.\d+\.\d+$/);
    // Docker's resolver answers SERVFAIL at once: its forward from the container's namespace has no way out.
    expect(answers.outside).toMatch(/^(ESERVFAIL|EREFUSED|ETIMEOUT)$/);
    expect(answers.random).toMatch(/^(ESERVFAIL|EREFUSED|ETIMEOUT)$/);
  });

  test("alice cannot change her IDE's managed settings: not by writing, removing or moving them, nor by restarting", () => {
    const from = ide('alice');
    const machine = `${USER_DATA_DIR}/Machine`;
    const managed = docker('exec', from, 'cat', `${machine}/settings.json`);
    expect(JSON.parse(managed)).toMatchObject({ 'remote.autoForwardPorts': false, 'telemetry.telemetryLevel': 'off', 'extensions.allowed': expect.any(Object) });
    const attempts: Record<string, string> = {
      write: `echo '{"remote.autoForwardPorts": true}' > ${machine}/settings.json`,
      remove: `rm -f ${machine}/settings.json`,
      'add a file': `echo '{}' > ${machine}/other.json`,
      'move the managed dir away': `mv ${machine} ${USER_DATA_DIR}/Machine.old`,
      'move the user-data dir away': `mv ${USER_DATA_DIR} /var/lib/code-server.old`,
      'write to the root filesystem': 'echo x > /usr/local/bin/x',
    };
    const outcomes = Object.fromEntries(Object.entries(attempts).map(([what, command]) => [what, run('docker', ['exec', '-u', '1000:1000', from, 'sh', '-c', command]).status === 0 ? 'done' : 'refused']));
    expect(outcomes).toEqual(Object.fromEntries(Object.keys(attempts).map((what) => [what, 'refused'])));
    // Her own settings may say the opposite; they live in her home, and the machine settings stay as they were.
    docker('exec', '-u', '1000:1000', from, 'sh', '-c', `echo '{"remote.autoForwardPorts": true, "telemetry.telemetryLevel": "all"}' > ${USER_DATA_DIR}/User/settings.json`);
    expect(docker('exec', from, 'readlink', `${USER_DATA_DIR}/User`)).toBe('/home/coder/.local/share/code-server/User');
    docker('restart', from);
    expect(docker('exec', from, 'cat', `${machine}/settings.json`)).toBe(managed);
    expect(docker('exec', from, 'cat', '/home/coder/.local/share/code-server/User/settings.json')).toContain('"telemetry.telemetryLevel": "all"');
  });

  test("no way out through code-server's port proxy: a file served inside alice's IDE cannot be fetched through /u/alice/", async () => {
    await estate.waitHealthy(ide('alice'), 180);
    const from = ide('alice');
    const marker = `port-proxy-marker-${Date.now()}`;
    // A server alice starts in her IDE (bounded: it exits after 120 s).
    docker('exec', '-d', '-u', '1000:1000', from, 'timeout', '120', 'node', '-e', `require('http').createServer((q, r) => r.end('${marker}')).listen(9999, '127.0.0.1')`);
    for (let i = 0; i < 20 && !httpFrom(from, 'http://127.0.0.1:9999/').body.includes(marker); i++) await sleep(500);
    expect(httpFrom(from, 'http://127.0.0.1:9999/').body).toBe(marker);
    // code-server itself no longer proxies (--disable-proxy) …
    for (const route of ['/proxy/9999/', '/absproxy/9999/']) {
      const direct = httpFrom(from, `http://127.0.0.1:8080${route}`);
      expect({ route, leaked: direct.body.includes(marker) }).toEqual({ route, leaked: false });
    }
    // … and through nginx, in alice's signed-in browser session, nothing comes back either.
    await visit(page, `${estate.origin}/u/alice/`);
    const fetched = await page.evaluate(async (paths: string[]) => {
      const out: Record<string, { status: number; text: string }> = {};
      for (const p of paths) {
        const response = await fetch(p, { redirect: 'manual' });
        const text = await response.text();
        out[p] = { status: response.status, text: text.slice(0, 200) };
      }
      return out;
    }, ['/u/alice/proxy/9999/', '/u/alice/absproxy/9999/', '/u/alice/%70roxy/9999/', '/u/alice/PROXY/9999/', '/u/alice/./proxy/9999/']);
    log(`port proxy through nginx: ${JSON.stringify(Object.fromEntries(Object.entries(fetched).map(([k, v]) => [k, v.status])))}`);
    for (const [route, result] of Object.entries(fetched)) {
      expect({ route, leaked: result.text.includes(marker), ok: result.status === 200 }).toEqual({ route, leaked: false, ok: false });
    }
  });

  test("from alice's IDE nginx answers only as the AI gateway: not as the entry point, Keycloak or oauth2-proxy, under any of its names or addresses", () => {
    const from = ide('alice');
    const own = estate.names.workspaceNetwork('alice');
    const results: Record<string, string> = {};
    for (const name of [AI_GATEWAY_HOST, service('nginx')]) {
      for (const port of [8443, 8080, 443, 80, 4180]) results[`${name}:${port}`] = connectFrom(from, name, port);
    }
    for (const [network, address] of Object.entries(addresses(service('nginx')))) {
      for (const port of [8443, 8080, 8081]) if (!(network === own && port === 8081)) results[`${address}:${port} (${network})`] = connectFrom(from, address, port);
    }
    log(`nginx from ${from}: ${JSON.stringify(results)}`);
    for (const [probe, result] of Object.entries(results)) expect({ probe, result }).toEqual({ probe, result: expect.stringMatching(/^(refused|unreachable|timeout)$/) });
    // The one thing it answers there: the gateway, which has nothing of Keycloak's or oauth2-proxy's.
    expect(connectFrom(from, AI_GATEWAY_HOST, 8081)).toBe('connected');
    for (const route of [`/realms/${estate.estate.keycloak.realm}/account`, '/oauth2/start', '/admin/', '/u/alice/']) {
      expect({ route, status: httpFrom(from, `http://${AI_GATEWAY_HOST}:8081${route}`).status }).toEqual({ route, status: 404 });
    }
  });

  test('the AI gateway answers only on the user networks: on the edge, identity and ai networks its port gives no answer', async () => {
    const fixed = addresses(service('nginx'));
    const on = (purpose: 'edge' | 'identity' | 'ai') => fixed[estate.names.network(purpose)];
    // From the host, on the edge network (the host is its gateway): the entry point answers, the gateway port does not.
    const entry = await rawRequest('https', 8443, estate.estate.domain, on('edge'));
    const gatewayOnEdge = await rawRequest('http', 8081, 'ai-gateway', on('edge'), '/v1/models');
    // From LiteLLM's container, on the ai network; from Keycloak's, on the identity network (bash's /dev/tcp).
    const ask = (container: string, address: string) =>
      run('docker', ['exec', container, 'bash', '-c', `exec 3<>/dev/tcp/${address}/8081 && printf 'GET /v1/models HTTP/1.0\\r\\nHost: ai-gateway\\r\\n\\r\\n' >&3 && head -c 12 <&3; echo "[end]"`]).out.trim();
    const gatewayOnAi = ask(service('litellm'), on('ai'));
    const gatewayOnIdentity = ask(service('keycloak'), on('identity'));
    log(`gateway port on fixed addresses: edge ${gatewayOnEdge}, ai ${JSON.stringify(gatewayOnAi)}, identity ${JSON.stringify(gatewayOnIdentity)}; entry on edge: ${entry}`);
    expect(entry).toMatch(/^(200|302)$/);
    expect(gatewayOnEdge).toMatch(/^closed/);
    // nginx closes without a byte of answer (444); a served request would start "HTTP/1.1".
    expect(gatewayOnAi).toBe('[end]');
    expect(gatewayOnIdentity).toBe('[end]');
  });

  test("every answer of the entry point carries the security headers, the IDE's included; a host the estate does not serve is refused", async () => {
    const port = estate.estate.httpsPort;
    const answers: Record<string, Record<string, unknown>> = {};
    for (const route of ['/', '/u/alice/', '/oauth2/start', `/realms/${estate.estate.keycloak.realm}/account`, '/no-such-page']) {
      const reply = await httpsRequest(`https://127.0.0.1:${port}${route}`, { host: estate.estate.domain });
      answers[`${route} (${reply.status})`] = reply.headers;
    }
    // The IDE's own answers, in alice's signed-in session: the workbench page and a static file.
    const workbench = await visit(page, `${estate.origin}/u/alice/`);
    answers[`IDE /u/alice/ (${workbench?.status()})`] = workbench?.headers() ?? {};
    const healthz = await page.evaluate(async () => {
      const r = await fetch('/u/alice/healthz');
      const headers: Record<string, string> = {};
      r.headers.forEach((value, name) => (headers[name] = value));
      return { status: r.status, headers };
    });
    answers[`IDE /u/alice/healthz (${healthz.status})`] = healthz.headers;
    log(`answers checked for headers: ${Object.keys(answers).join(', ')}`);
    for (const [answer, headers] of Object.entries(answers)) {
      for (const header of SECURITY_HEADERS) {
        // Keycloak adds a CSP of its own; the browser enforces both.
        expect({ answer, header: header.name, value: String(headers[header.name.toLowerCase()] ?? '') }).toEqual({ answer, header: header.name, value: expect.stringContaining(header.value) });
      }
    }
    // Another host name, on TLS (with its SNI) and on plain HTTP: nginx closes the connection without answering.
    const refusedTls = await rawRequest('https', estate.estate.httpsPort, 'evil.example');
    const refusedHttp = await rawRequest('http', estate.estate.httpPort, 'evil.example');
    const servedHttp = await rawRequest('http', estate.estate.httpPort, estate.estate.domain);
    log(`unknown host: https ${refusedTls}, http ${refusedHttp}; the estate's host on http: ${servedHttp}`);
    expect(refusedTls).toMatch(/^closed/);
    expect(refusedHttp).toMatch(/^closed/);
    expect(servedHttp).toBe('301');
  });

  test("the AI gateway limits each user on their own and names them: a burst from alice's IDE gets 429 while bob's IDE is served, each recorded with the user", () => {
    const since = new Date().toISOString();
    const burst = run('docker', ['exec', ide('alice'), 'node', '-e', BURST_JS, `http://${AI_GATEWAY_HOST}:8081/v1/models`, '120'], { timeout: 120_000 }).out.trim();
    const statuses = JSON.parse(burst.split('\n').pop() ?? '{}') as Record<string, number>;
    const bob = httpFrom(ide('bob'), `http://${AI_GATEWAY_HOST}:8081/v1/models`).status;
    log(`burst of 120 from alice's IDE: ${JSON.stringify(statuses)}; bob right after: ${bob}`);
    expect(statuses['429']).toBeGreaterThan(0);
    expect(statuses['200']).toBeGreaterThan(0);
    expect(bob).toBe(200);
    // nginx's own access records (stdout), the gateway's: each names the user whose network it came from.
    const records = run('docker', ['logs', '--since', since, estate.names.service('nginx')])
      .out.split('\n')
      .filter((line) => line.startsWith('{"time"'))
      .map((line) => JSON.parse(line) as { server: string; user: string; uri: string; status: number })
      .filter((r) => r.server === 'ai-gateway' && r.uri === '/v1/models');
    const count = (user: string, status: number) => records.filter((r) => r.user === user && r.status === status).length;
    expect({ alice200: count('alice', 200), alice429: count('alice', 429), bob200: count('bob', 200) }).toEqual({ alice200: statuses['200'], alice429: statuses['429'], bob200: 1 });
    expect(records.every((r) => r.user === 'alice' || r.user === 'bob')).toBe(true);
  });

  test("alice's IDE has exactly the estate's extensions, from hash-checked VSIX files, and she cannot add another", () => {
    const from = ide('alice');
    const listed = docker('exec', '-u', '1000:1000', from, 'code-server', '--list-extensions', '--show-versions', '--extensions-dir', '/opt/code-server/extensions');
    expect(listed.split('\n').filter(Boolean)).toEqual(estate.estate.extensions.map((e) => `${e.id}@${e.version}`).sort());
    // The directory is root's and read-only for her; so is every file under it.
    expect(run('docker', ['exec', '-u', '1000:1000', from, 'sh', '-c', 'touch /opt/code-server/extensions/x || mkdir /opt/code-server/extensions/y']).status).not.toBe(0);
    expect(docker('exec', from, 'find', '/opt/code-server/extensions', '!', '-user', 'root')).toBe('');
    // The image build itself refuses a VSIX whose sha256 is not the configured one (real builds).
    const check = run('bash', [path.join(ROOT, 'scripts/docker/check-ide-extensions.sh')], { timeout: 600_000 });
    log(`check-ide-extensions: ${check.out.split('\n').filter((l) => /^\[check-ide\] (PASS|FAIL)/.test(l)).join(' | ')}`);
    expect({ status: check.status, failures: check.out.split('\n').filter((l) => l.startsWith('[check-ide] FAIL')) }).toEqual({ status: 0, failures: [] });
    expect(check.out).toContain('[check-ide] PASS: wrong sha256: docker build fails');
  });

  test("restore drill: a marker in alice's home and her enrolled TOTP survive backup → emptied home and wiped database → npm run restore; she signs in again with the same TOTP secret", async () => {
    // alice signed in (enrolling TOTP if an earlier test took her device away): the secret to keep.
    const alice = credentialsOf('alice');
    const before = await browser!.createBrowserContext();
    expect(await signIn(await before.newPage(), `${estate.origin}/u/alice/`, alice, [])).toBe('ide');
    await before.close();
    const secret = alice.totpSecret!;
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    const marker = `drill-${crypto.randomBytes(8).toString('hex')}`;
    docker('exec', ide('alice'), 'sh', '-c', `printf %s ${marker} > /home/coder/restore-drill.txt && chmod 600 /home/coder/restore-drill.txt`);

    // The backup, on demand (the agent's schedule runs the same daily).
    const backup = run('docker', ['exec', service('backup'), 'webide-backup', 'now'], { timeout: 600_000 });
    log(`backup now: exit ${backup.status}; ${backup.out.trim().split('\n').slice(-3).join(' | ').slice(0, 600)}`);
    expect(backup.status).toBe(0);

    // Lost: alice's home emptied, Keycloak's database wiped while Keycloak runs.
    const backupImage = docker('inspect', '-f', '{{.Config.Image}}', service('backup'));
    docker('run', '--rm', '--network', 'none', '--entrypoint', 'find', '-v', `${estate.names.homeVolume('alice')}:/h`, backupImage, '/h', '-mindepth', '1', '-delete');
    expect(run('docker', ['exec', ide('alice'), 'test', '-e', '/home/coder/restore-drill.txt']).status).not.toBe(0);
    docker('exec', service('postgres'), 'psql', '-U', 'keycloak', '-d', 'keycloak', '-v', 'ON_ERROR_STOP=1', '-q', '-c', 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;');

    // npm run restore, as an operator runs it.
    const home = estate.restore(['home', 'alice']);
    log(`restore home alice: exit ${home.status}; ${home.out.trim().split('\n').slice(-3).join(' | ').slice(0, 600)}`);
    expect(home.status).toBe(0);
    expect(docker('exec', ide('alice'), 'cat', '/home/coder/restore-drill.txt')).toBe(marker);
    expect(docker('exec', ide('alice'), 'stat', '-c', '%a %u', '/home/coder/restore-drill.txt')).toBe('600 1000');
    // Her home itself is still hers: she can write in it.
    expect(docker('exec', ide('alice'), 'stat', '-c', '%u', '/home/coder')).toBe('1000');
    expect(run('docker', ['exec', ide('alice'), 'sh', '-c', 'touch /home/coder/.written-after-restore && rm /home/coder/.written-after-restore']).status).toBe(0);
    const database = estate.restore(['keycloak']);
    log(`restore keycloak: exit ${database.status}; ${database.out.trim().split('\n').slice(-3).join(' | ').slice(0, 600)}`);
    expect(database.status).toBe(0);
    let health = '';
    for (let i = 0; i < 90 && health !== 'healthy'; i++) {
      await sleep(2000);
      health = docker('inspect', '-f', '{{.State.Health.Status}}', service('keycloak'));
    }
    expect(health).toBe('healthy');

    // Her password and a code of the same secret: no new enrolment.
    const after = await browser!.createBrowserContext();
    const steps: string[] = [];
    expect(await signIn(await after.newPage(), `${estate.origin}/u/alice/`, alice, steps)).toBe('ide');
    await after.close();
    log(`alice after the restore: ${steps.join(' → ')}`);
    expect(steps).toContain('otp');
    expect(steps).not.toContain('totp-enrol');
    expect(alice.totpSecret).toBe(secret);
  });

  test("lifecycle with data: archive keeps alice's home, re-activation brings it back", () => {
    const marker = `marker-${Date.now()}`;
    docker('exec', ide('alice'), 'sh', '-c', `echo ${marker} > /home/coder/e2e-marker`);

    // Archive alice: container and network go, the home volume stays.
    estate.setRoster(rosterYaml([{ name: 'alice', state: 'archived' }, { name: 'bob' }, { name: 'dave', state: 'suspended' }]));
    estate.apply('identity');
    estate.apply('workspaces');
    expect(estate.containers()).not.toContain(ide('alice'));
    expect(estate.networks()).not.toContain(estate.names.workspaceNetwork('alice'));
    expect(estate.volumes()).toContain(estate.names.homeVolume('alice'));

    // Re-activate: the same home, the same marker.
    estate.setRoster(ROSTER);
    estate.apply('identity');
    estate.apply('workspaces');
    expect(docker('exec', ide('alice'), 'cat', '/home/coder/e2e-marker')).toBe(marker);
  });

  test("roster edits interrupt nobody else: with alice's VS Code open, carol is added and then archived, each by deploying every stack as npm run deploy does; nobody else's container is recreated, alice's websockets stay open and her terminal still runs what she types", async () => {
    const { session, idePage, sockets } = await aliceInHerIde();
    await startTerminal(idePage, 'alice');
    const aliceSockets = openIdeSockets(sockets, 'alice');
    expect(aliceSockets.length).toBeGreaterThan(0);
    const before = aliceAndBobContainers();

    const edits = [
      { step: 'carol added', roster: [{ name: 'alice' }, { name: 'bob' }, { name: 'carol' }, { name: 'dave', state: 'suspended' as const }], carolRuns: true },
      { step: 'carol archived', roster: [{ name: 'alice' }, { name: 'bob' }, { name: 'carol', state: 'archived' as const }, { name: 'dave', state: 'suspended' as const }], carolRuns: false },
    ];
    // nginx's processes ('master' or 'worker' by pid; a worker is 'old' once it is shutting down).
    const nginxProcesses = () =>
      docker('top', service('nginx'), '-o', 'pid,args').split('\n').slice(1).map((line) => {
        const [pid, ...args] = line.trim().split(/\s+/);
        const command = args.join(' ');
        return { pid, role: /master process/.test(command) ? 'master' : /shutting down/.test(command) ? 'old' : 'worker' };
      });
    for (const { step, roster, carolRuns } of edits) {
      const nginxBefore = nginxProcesses();
      estate.setRoster(rosterYaml(roster));
      for (const id of estate.stacks) estate.apply(id);
      expect(estate.containers().includes(ide('carol'))).toBe(carolRuns);
      expect(aliceAndBobContainers()).toEqual(before);
      // nginx reloaded its user map (the same master, new workers): old workers finish the connections they hold.
      await sleep(2000);
      const nginxAfter = nginxProcesses();
      log(`${step}: nginx before ${JSON.stringify(nginxBefore)}, after ${JSON.stringify(nginxAfter)}; alice's websockets closed since: ${aliceSockets.filter((s) => s.closed).map((s) => new URL(s.url).pathname).join(', ') || 'none'}`);
      expect(nginxAfter.filter((p) => p.role === 'master')).toEqual(nginxBefore.filter((p) => p.role === 'master'));
      const workersBefore = new Set(nginxBefore.filter((p) => p.role === 'worker').map((p) => p.pid));
      expect(nginxAfter.filter((p) => p.role === 'worker' && !workersBefore.has(p.pid)).length).toBeGreaterThan(0);
      expect(aliceSockets.filter((s) => s.closed)).toEqual([]);
      const typed = await inTerminal(idePage, 'alice', step.replace(/\W+/g, '-'), `echo "still here after ${step}"`);
      expect(typed).toEqual({ status: 0, out: `still here after ${step}\n` });
    }
    inIde('alice', `rm -rf ${TERMINAL_DIR}`);
    await session.close();
  });

  test('removing a user outright (not archived) is refused by the plan, with the guidance, and nothing changes', () => {
    const before = aliceAndBobContainers();
    estate.setRoster(rosterYaml([{ name: 'alice' }, { name: 'carol', state: 'archived' }, { name: 'dave', state: 'suspended' }]));
    const refused = estate.planOutput('workspaces');
    expect(refused.status).not.toBe(0);
    expect(refused.output).toMatch(/Users removed from the roster still have home volumes: bob\b/);
    expect(aliceAndBobContainers()).toEqual(before);
    estate.setRoster(rosterYaml([{ name: 'alice' }, { name: 'bob' }, { name: 'carol', state: 'archived' }, { name: 'dave', state: 'suspended' }]));
  });

  test('fault: Keycloak stopped during an identity deploy gives a clear error, and the next deploy converges', async () => {
    estate.setRoster(rosterYaml([{ name: 'alice' }, { name: 'bob' }, { name: 'carol' }, { name: 'dave', state: 'suspended' }, { name: 'erin' }]));
    docker('stop', service('keycloak'));
    const failed = estate.applyExpectingFailure('identity');
    log(`identity deploy with Keycloak down: exit ${failed.status}; ${failed.output.split('\n').filter((l) => /Error/.test(l)).slice(0, 3).join(' | ')}`);
    expect(failed.status).not.toBe(0);
    expect(failed.output).toMatch(/Error: .*(502|Bad Gateway|connection refused|error sending|timeout)/is);
    docker('start', service('keycloak'));
    await estate.waitHealthy(service('keycloak'), 300);
    // As `npm run deploy` does: the bootstrap admin stays retired across Keycloak's restart.
    expect(estate.bootstrapKeycloak()).toContain('done already');
    estate.apply('identity');
    expect(estate.changes('identity')).toEqual([]);
  });

  test('fault: a workspaces deploy interrupted mid-apply is finished by the next deploy: no duplicate, no home lost', async () => {
    const bobBefore = docker('inspect', '-f', '{{.Id}}', ide('bob'));
    docker('exec', ide('bob'), 'sh', '-c', 'echo bob-data > /home/coder/e2e-marker');
    const started = () => run('docker', ['ps', '-a', '-q', '--filter', `name=^/${ide('erin')}$`]).out.trim() !== '' || run('docker', ['network', 'ls', '-q', '--filter', `name=^${estate.names.workspaceNetwork('erin')}$`]).out.trim() !== '';
    const interrupted = await estate.applyInterrupted('workspaces', started, 300);
    log(`workspaces deploy interrupted: ${interrupted.interrupted}, exit ${interrupted.status}`);
    expect(interrupted.interrupted).toBe(true);
    estate.apply('workspaces');
    expect(estate.changes('workspaces')).toEqual([]);
    expect(run('docker', ['ps', '-a', '--filter', `name=^/${ide('erin')}$`, '--format', '{{.Names}}']).out.trim().split('\n')).toEqual([ide('erin')]);
    expect(docker('inspect', '-f', '{{.Id}}', ide('bob'))).toBe(bobBefore);
    expect(docker('exec', ide('bob'), 'cat', '/home/coder/e2e-marker')).toBe('bob-data');
  });
});

/** Fires `count` GETs at once from inside a container (bounded: each times out after 20 s); prints the statuses counted. */
const BURST_JS = `
const [url, count] = process.argv.slice(1);
Promise.all(Array.from({ length: Number(count) }, () => fetch(url, { signal: AbortSignal.timeout(20000) }).then((r) => r.status, () => 0)))
  .then((statuses) => console.log(JSON.stringify(statuses.reduce((n, s) => ({ ...n, [s]: (n[s] ?? 0) + 1 }), {}))));
`;

/**
 * One GET to nginx (on loopback unless another address is given) with a chosen Host (and, on TLS, the same SNI), the certificate
 * not checked: the status, or `closed: <error>` when nginx drops the connection unanswered.
 */
function rawRequest(scheme: 'http' | 'https', port: number, host: string, address = '127.0.0.1', route = '/'): Promise<string> {
  return new Promise((resolve) => {
    const options = { host: address, port, path: route, headers: { Host: `${host}:${port}` }, timeout: 10_000 };
    const request =
      scheme === 'https'
        ? https.request({ ...options, servername: host, rejectUnauthorized: false }, (r) => { r.resume(); resolve(String(r.statusCode)); })
        : http.request(options, (r) => { r.resume(); resolve(String(r.statusCode)); });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', (error) => resolve(`closed: ${(error as NodeJS.ErrnoException).code ?? error.message}`));
    request.end();
  });
}
