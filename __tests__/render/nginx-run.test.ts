import { ChildProcess, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import * as path from 'path';
import { DEFAULT_RATE_LIMITS, GATEWAY_USER_HEADER, SECURITY_HEADERS, renderNginxConf, renderNginxSecretsTemplate, STUB_STATUS_PATH, stubStatusUrl } from '../../render/nginx';
import { MONITORING_PORTS, monitoringCommands } from '../../render/monitoring';
import { fixedAddressStandIns, gatewayUsers, loopbackPortsFor, nginxSandbox, onLoopback, startDnsStandIn, startNginx, withResolver } from '../helpers/nginx';
import { debianTool, parseExposition, valueOf } from '../helpers/monitoring';
import { freePort, spawnLogged, stopProcess, tail, waitUntilAnswers } from '../helpers/processes';

// ---------------------------------------------------------------------------------------------
// The entry point end to end, all real but the services behind it: the real nginx runs the
// rendered nginx.conf (listeners moved to loopback: the fixed addresses to 127.0.0.2-4, the
// gateway's wildcard to 127.0.0.1) in front of stand-ins for oauth2-proxy, Keycloak and an IDE
// (small HTTP servers in this test that record what reaches them), with a DNS stand-in for
// Docker's.
// ---------------------------------------------------------------------------------------------

const DOMAIN = 'ide.test.example';
const PUBLIC_PORT = 18443;
const EDGE = '10.202.0.14';
/**
 * Stand-ins for nginx's addresses on two users' networks: the gateway's wildcard listener also
 * listens on these, and the user map names them (127.0.0.1 stays unmapped: an unknown network).
 */
const ALICE_NETWORK = '127.0.0.5';
const BOB_NETWORK = '127.0.0.6';
const AI_LIMITS = { chat: { perMinute: 60, burst: 5 }, completion: { perMinute: 60, burst: 8 } };
/**
 * The nginx exporter's address, the status page's one client: 127.0.0.1, where the real exporter's
 * connections to the loopback stand-ins come from. Any other source (127.0.0.8 here) stands for
 * every other container on the identity network.
 */
const EXPORTER = '127.0.0.1';
const NOT_THE_EXPORTER = '127.0.0.8';
const IDENTITY = '10.202.0.30';
const STATUS_PORT = 8405;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** A loopback server that records each request and answers with `answer`. */
function standIn(answer: (req: http.IncomingMessage) => { status: number; headers?: Record<string, string | undefined>; body?: string }) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const { status, headers, body } = answer(req);
    res.writeHead(status, { 'content-type': 'text/plain', ...Object.fromEntries(Object.entries(headers ?? {}).filter(([, v]) => v !== undefined)) });
    res.end(body ?? 'stand-in');
  });
  return new Promise<{ port: number; seen: Seen[]; close: () => Promise<void> }>((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        seen,
        close: () => new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      }),
    );
  });
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request, path sent as written; `tls` sends SNI `servername`. Rejects when nginx closes without an answer (444). */
function call(opts: { tls: boolean; address: string; port: number; path: string; host: string; servername?: string; localAddress?: string; agent?: http.Agent; headers?: Record<string, string> }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const common = { host: opts.address, port: opts.port, path: opts.path, method: 'GET', headers: { ...opts.headers, host: opts.host }, localAddress: opts.localAddress, timeout: 10_000, agent: opts.agent };
    const done = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    };
    const req = opts.tls
      ? https.request({ ...common, servername: opts.servername ?? DOMAIN, rejectUnauthorized: false }, done)
      : http.request(common, done);
    req.on('timeout', () => req.destroy(new Error(`timeout: ${opts.path}`)));
    req.on('error', reject);
    req.end();
  });
}

/** curl's view of one request: the HTTP status (000 when there was no answer) and curl's exit code. */
function curl(args: string[]): { code: string; exit: number } {
  const result = spawnSync('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', ...args], { encoding: 'utf8' });
  return { code: result.stdout.trim(), exit: result.status ?? -1 };
}

describe('the entry point: real nginx with the rendered nginx.conf, in front of stand-ins', () => {
  let nginx: ChildProcess | undefined;
  let sandboxDir = '';
  let nginxLog = '';
  let oauth2: Awaited<ReturnType<typeof standIn>>;
  let keycloak: Awaited<ReturnType<typeof standIn>>;
  let ide: Awaited<ReturnType<typeof standIn>>;
  let ai: Awaited<ReturnType<typeof standIn>>;
  let dns: Awaited<ReturnType<typeof startDnsStandIn>>;
  let ports = new Map<number, number>();
  let edge = '';
  let fixed = new Map<string, string>();

  const entry = (p: string, extra: Partial<Parameters<typeof call>[0]> = {}) =>
    call({ tls: true, address: edge, port: ports.get(8443)!, path: p, host: `${DOMAIN}:${PUBLIC_PORT}`, ...extra });

  beforeAll(async () => {
    // oauth2-proxy stand-in: every user is alice; sign-in redirects to "Keycloak".
    oauth2 = await standIn((req) =>
      req.url?.startsWith('/oauth2/auth')
        ? { status: 202, headers: { 'x-auth-request-preferred-username': 'alice' } }
        : { status: 302, headers: { location: '/realms/webide/protocol/openid-connect/auth' } },
    );
    // Keycloak stand-in, with the headers Keycloak sends on its pages.
    keycloak = await standIn(() => ({
      status: 200,
      headers: { 'strict-transport-security': 'max-age=31536000; includeSubDomains', 'x-frame-options': 'SAMEORIGIN', 'content-security-policy': "frame-src 'self'; frame-ancestors 'self'; object-src 'none';" },
    }));
    ide = await standIn(() => ({ status: 200, body: 'the IDE' }));
    ai = await standIn(() => ({ status: 200, body: '{}' }));
    dns = await startDnsStandIn();

    const sandbox = nginxSandbox();
    sandboxDir = sandbox.dir;
    fs.chmodSync(sandbox.dir, 0o755);
    const secrets = path.join(sandbox.dir, 'ai-gateway.conf');
    fs.writeFileSync(secrets, renderNginxSecretsTemplate().replace('$LITELLM_GATEWAY_KEY', 'sk-test-only').replace('$TABBY_API_TOKEN', 'test-only'));
    const rendered = renderNginxConf({
      domain: DOMAIN,
      httpsPort: PUBLIC_PORT,
      tlsProtocols: ['TLSv1.2', 'TLSv1.3'],
      tlsCurves: ['X25519', 'prime256v1'],
      certificatePath: sandbox.cert,
      keyPath: sandbox.key,
      realm: 'webide',
      adminAllowCidrs: [],
      upstreams: { keycloak: `127.0.0.1:${keycloak.port}`, oauth2Proxy: `127.0.0.1:${oauth2.port}`, litellm: `127.0.0.1:${ai.port}`, tabby: `127.0.0.1:${ai.port}` },
      workspaceHostPrefix: 'webide-ide-',
      workspacePort: ide.port,
      aiGatewayPort: 8081,
      secretsIncludePath: secrets,
      listenAddresses: { edge: EDGE, identity: IDENTITY, ai: '10.202.0.46' },
      aiLimits: AI_LIMITS,
      gatewayUsersInclude: gatewayUsers(sandbox.dir, { [ALICE_NETWORK]: 'alice', [BOB_NETWORK]: 'bob' }),
      // Stands for keycloak.providerUrl's host: an IP literal, as in the e2e estate (its stand-in here).
      extraServerNames: ['127.0.0.2'],
      stubStatus: { port: STATUS_PORT, allow: [EXPORTER] },
    });
    fixed = fixedAddressStandIns(rendered);
    edge = fixed.get(EDGE)!;
    expect(edge).toBe('127.0.0.2');
    ports = await loopbackPortsFor(rendered);
    const gatewayListen = `listen 127.0.0.1:${ports.get(8081)};`;
    const onUserNetworks = [gatewayListen, ...[ALICE_NETWORK, BOB_NETWORK].map((a) => `    listen ${a}:${ports.get(8081)};`)].join('\n');
    const conf = onLoopback(rendered, ports, fixed);
    expect(conf.split(gatewayListen).length).toBe(2);
    ({ nginx, logPath: nginxLog } = startNginx(sandbox.dir, withResolver(conf.replace(gatewayListen, onUserNetworks), dns.port)));
    for (let attempt = 0; ; attempt++) {
      try {
        await entry('/');
        break;
      } catch (error) {
        if (attempt > 40) throw new Error(`nginx did not answer: ${(error as Error).message}\n${tail(nginxLog)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }, 60_000);

  afterAll(async () => {
    if (nginx) await stopProcess(nginx);
    await Promise.all([oauth2?.close(), keycloak?.close(), ide?.close(), ai?.close(), dns?.close()]);
    if (sandboxDir) fs.rmSync(sandboxDir, { recursive: true, force: true });
  }, 30_000);

  /** Ours, each once; only the CSP may come twice (an upstream's own on top: browsers enforce both). */
  const expectSecurityHeaders = (answer: Answer, what: string) => {
    for (const { name, value } of SECURITY_HEADERS) {
      const got = String(answer.headers[name.toLowerCase()] ?? '');
      if (name === 'Content-Security-Policy') expect({ what, name, ours: got.includes(value) }).toEqual({ what, name, ours: true });
      else expect({ what, name, got }).toEqual({ what, name, got: value });
    }
  };

  it('sends the security headers on every answer: redirects, errors, the IDE, Keycloak, the HTTP redirect', async () => {
    expectSecurityHeaders(await entry('/'), 'redirect to sign-in');
    expectSecurityHeaders(await entry('/nothing-here'), '404');
    const own = await entry('/u/alice/');
    expect(own.body).toBe('the IDE');
    expectSecurityHeaders(own, "the user's IDE");
    const other = await entry('/u/bob/');
    expect(other.status).toBe(403);
    expectSecurityHeaders(other, "someone else's IDE");
    const page = await entry('/realms/webide/account');
    expect(page.status).toBe(200);
    expectSecurityHeaders(page, "Keycloak's page");
    expect(page.headers['strict-transport-security']).toBe('max-age=63072000');
    const redirect = await call({ tls: false, address: edge, port: ports.get(8080)!, path: '/x', host: DOMAIN });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe(`https://${DOMAIN}:${PUBLIC_PORT}/x`);
    expectSecurityHeaders(redirect, 'HTTP redirect');
  }, 30_000);

  it('gives the IDE the public authority as Host (its websocket origin check needs the port) and Keycloak $host', async () => {
    const before = ide.seen.length;
    await entry('/u/alice/some/path?q=1', { host: `IDE.test.example:${PUBLIC_PORT}` });
    expect(ide.seen.slice(before).map((r) => [r.url, r.headers.host, r.headers['x-forwarded-host']])).toEqual([['/some/path?q=1', `${DOMAIN}:${PUBLIC_PORT}`, `${DOMAIN}:${PUBLIC_PORT}`]]);
    const kcBefore = keycloak.seen.length;
    await entry('/realms/webide/account', { host: `${DOMAIN}:${PUBLIC_PORT}` });
    const seen = keycloak.seen.slice(kcBefore)[0];
    expect([seen.headers.host, seen.headers['x-forwarded-host'], seen.headers['x-forwarded-port']]).toEqual([DOMAIN, DOMAIN, String(PUBLIC_PORT)]);
  }, 30_000);

  it.each([
    '/u/alice/proxy/8080/',
    '/u/alice/absproxy/8080/',
    '/u/alice/proxy',
    '/u/alice/PROXY/8080/',
    '/u/alice/AbsProxy/8080/x',
    '/u/alice/%70roxy/8080/',
    '/u/alice/%61bsproxy/8080/',
    '/u/alice//proxy/8080/',
    '/u/alice/x/../proxy/8080/',
    '/u/alice/x/%2e%2e/proxy/8080/',
    '/u/alice/./absproxy/8080/',
  ])("refuses code-server's port proxy %s at nginx: it never reaches the IDE", async (p) => {
    const before = ide.seen.length;
    const answer = await entry(p);
    expect({ p, status: answer.status }).toEqual({ p, status: 404 });
    expectSecurityHeaders(answer, p);
    expect(ide.seen.length).toBe(before);
  }, 30_000);

  it('serves only the estate names: another Host gets no answer, on TLS (with or without SNI) and on HTTP', () => {
    const tls = ports.get(8443)!;
    const plain = ports.get(8080)!;
    // Served: the domain (SNI and Host), and the providerUrl host by IP literal (no SNI, as Terraform connects).
    expect(curl(['--resolve', `${DOMAIN}:${tls}:${edge}`, `https://${DOMAIN}:${tls}/`]).code).toBe('302');
    expect(curl([`https://${edge}:${tls}/`]).code).toBe('302');
    expect(curl(['--resolve', `${DOMAIN}:${plain}:${edge}`, `http://${DOMAIN}:${plain}/`]).code).toBe('301');
    // Refused: an unknown name as SNI and Host, a known SNI with an unknown Host, an unknown Host without SNI, on HTTP.
    for (const args of [
      ['--resolve', `evil.example:${tls}:${edge}`, `https://evil.example:${tls}/`],
      ['--resolve', `${DOMAIN}:${tls}:${edge}`, '-H', 'Host: evil.example', `https://${DOMAIN}:${tls}/`],
      ['-H', 'Host: evil.example', `https://${edge}:${tls}/`],
      ['--http1.1', '--resolve', `evil.example:${tls}:${edge}`, `https://evil.example:${tls}/u/alice/`],
      ['--resolve', `evil.example:${plain}:${edge}`, `http://evil.example:${plain}/`],
      ['-H', 'Host: evil.example', `http://${edge}:${plain}/`],
    ]) {
      expect({ args, result: curl(args) }).toEqual({ args, result: { code: '000', exit: expect.any(Number) } });
    }
  }, 30_000);

  it('listens for the entry point on the edge address only, and refuses the gateway there and on the other fixed addresses', async () => {
    for (const address of ['127.0.0.1', fixed.get('10.202.0.30')!, fixed.get('10.202.0.46')!]) {
      await expect(entry('/', { address })).rejects.toThrow(/ECONNREFUSED/);
    }
    const gateway = ports.get(8081)!;
    for (const address of [edge, fixed.get('10.202.0.30')!, fixed.get('10.202.0.46')!]) {
      await expect(call({ tls: false, address, port: gateway, path: '/v1/models', host: 'x' })).rejects.toThrow(/socket hang up|ECONNRESET/);
    }
    // A user network's address: the gateway answers.
    expect((await call({ tls: false, address: ALICE_NETWORK, port: gateway, path: '/', host: 'x' })).status).toBe(404);
  }, 30_000);

  /** `count` requests as fast as keep-alive allows; the statuses in order. Bounded: at most 100. */
  const burstAnswers = async (count: number, send: (agent: http.Agent) => Promise<Answer>, tls: boolean): Promise<Answer[]> => {
    expect(count).toBeLessThanOrEqual(100);
    const agent = tls ? new https.Agent({ keepAlive: true, maxSockets: 4 }) : new http.Agent({ keepAlive: true, maxSockets: 4 });
    try {
      return await Promise.all(Array.from({ length: count }, () => send(agent)));
    } finally {
      agent.destroy();
    }
  };
  const burst = async (count: number, send: (agent: http.Agent) => Promise<Answer>, tls: boolean): Promise<number[]> =>
    (await burstAnswers(count, send, tls)).map((a) => a.status);

  it('rate-limits sign-in per client address: a burst gets 429, another client is still served', async () => {
    const limit = DEFAULT_RATE_LIMITS.signInBurst + 1;
    // A burst at Keycloak's sign-in page, then one at oauth2-proxy's start: one zone per client
    // address for both. (A single request after the burst would depend on the machine's speed:
    // the zone refills at signInPerSecond, so the 429s are taken from within the bursts.)
    const answers = [
      ...(await burstAnswers(100, (agent) => entry('/oauth2/start?rd=/u/', { localAddress: '127.0.0.20', agent }), true)),
      ...(await burstAnswers(50, (agent) => entry('/realms/webide/protocol/openid-connect/auth', { localAddress: '127.0.0.20', agent }), true)),
    ];
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 302 || s === 200).length).toBeGreaterThanOrEqual(limit - 1);
    expect(statuses.slice(0, 100).filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.slice(100).filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 302 || s === 200 || s === 429)).toBe(true);
    expectSecurityHeaders(answers.find((a) => a.status === 429)!, '429');
    expect((await entry('/oauth2/start?rd=/u/', { localAddress: '127.0.0.21' })).status).toBe(302);
    expect((await entry('/realms/webide/login-actions/authenticate', { localAddress: '127.0.0.21' })).status).toBe(200);
  }, 30_000);

  /** nginx's JSON access records of one server (entry or ai-gateway) so far, once nginx has written them. */
  const accessRecords = async (server: 'entry' | 'ai-gateway'): Promise<Record<string, unknown>[]> => {
    await new Promise((r) => setTimeout(r, 200));
    return fs
      .readFileSync(nginxLog, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((r) => r.server === server);
  };

  const gatewayCall = (address: string, p: string, extra: Partial<Parameters<typeof call>[0]> = {}) =>
    call({ tls: false, address, port: ports.get(8081)!, path: p, host: 'ai-gateway', ...extra });

  it('answers the AI gateway only on a user network it has a user for, and names that user to the AI services and in its log', async () => {
    // Unmapped address: no user to attribute the request to.
    const before = ai.seen.length;
    expect((await gatewayCall('127.0.0.1', '/tabby/v1/health')).status).toBe(403);
    expect(ai.seen.length).toBe(before);
    // alice's network, whatever the IDE says about itself.
    const answer = await gatewayCall(ALICE_NETWORK, '/tabby/v1/health', { headers: { [GATEWAY_USER_HEADER]: 'bob' } });
    expect(answer.status).toBe(200);
    expect(ai.seen.slice(before).map((r) => r.headers[GATEWAY_USER_HEADER.toLowerCase()])).toEqual(['alice']);
    expect((await gatewayCall(BOB_NETWORK, '/v1/models')).status).toBe(200);
    expect(ai.seen.at(-1)!.headers[GATEWAY_USER_HEADER.toLowerCase()]).toBe('bob');
    // The access records, as the audit sink receives them.
    const records = await accessRecords('ai-gateway');
    expect(records.slice(-3).map((r) => [r.user, r.uri, r.status])).toEqual([
      ['', '/tabby/v1/health', 403],
      ['alice', '/tabby/v1/health', 200],
      ['bob', '/v1/models', 200],
    ]);
  }, 30_000);

  it("the entry's access records name the signed-in user and the IDE asked for", async () => {
    await entry('/u/alice/some/file?secret-query=1');
    await entry('/u/bob/');
    const records = (await accessRecords('entry')).filter((r) => String(r.uri).startsWith('/u/'));
    expect(records.slice(-2).map((r) => [r.user, r.ide, r.uri, r.status])).toEqual([
      ['alice', 'alice', '/u/alice/some/file', 200],
      ['alice', 'bob', '/u/bob/', 403],
    ]);
  }, 30_000);

  it("serves the status page on the identity address to the exporter's address only; on no other address, nor through the gateway", async () => {
    const identity = fixed.get(IDENTITY)!;
    const status = ports.get(STATUS_PORT)!;
    const page = await call({ tls: false, address: identity, port: status, path: STUB_STATUS_PATH, host: 'x', localAddress: EXPORTER });
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/^Active connections: \d+ \nserver accepts handled requests\n \d+ \d+ \d+ \nReading: \d+ Writing: \d+ Waiting: \d+ \n$/);
    expect((await call({ tls: false, address: identity, port: status, path: STUB_STATUS_PATH, host: 'x', localAddress: NOT_THE_EXPORTER })).status).toBe(403);
    expect((await call({ tls: false, address: identity, port: status, path: '/', host: 'x', localAddress: EXPORTER })).status).toBe(404);
    for (const address of [edge, fixed.get('10.202.0.46')!, '127.0.0.1', ALICE_NETWORK]) {
      await expect(call({ tls: false, address, port: status, path: STUB_STATUS_PATH, host: 'x', localAddress: EXPORTER })).rejects.toThrow(/ECONNREFUSED/);
    }
    expect((await gatewayCall(ALICE_NETWORK, STUB_STATUS_PATH)).status).toBe(404);
    // Read every scrape: no access record of its own (the one record is the gateway's 404 above).
    await new Promise((r) => setTimeout(r, 200));
    const records = fs
      .readFileSync(nginxLog, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((r) => r.uri === STUB_STATUS_PATH);
    expect(records.filter((r) => r.uri === STUB_STATUS_PATH).map((r) => [r.server, r.status])).toEqual([['ai-gateway', 404]]);
  }, 30_000);

  it('the real nginx exporter, run as the estate runs it, reads the page: nginx_up 1', async () => {
    const identity = fixed.get(IDENTITY)!;
    const listen = await freePort();
    const argv = monitoringCommands({ nginxStubStatusUrl: stubStatusUrl(identity, ports.get(STATUS_PORT)!) }).nginxExporter.map((arg) =>
      arg === `-web.listen-address=:${MONITORING_PORTS.nginxExporter}` ? `-web.listen-address=127.0.0.1:${listen}` : arg,
    );
    expect(argv).toContain(`-web.listen-address=127.0.0.1:${listen}`);
    const logPath = path.join(sandboxDir, 'nginx-exporter.log');
    const exporter = spawnLogged(debianTool(argv[0], 'prometheus-nginx-exporter'), argv.slice(1), { cwd: sandboxDir, logPath, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    try {
      await waitUntilAnswers(`http://127.0.0.1:${listen}/metrics`, exporter, logPath, 20_000, 'the nginx exporter');
      const samples = parseExposition(await (await fetch(`http://127.0.0.1:${listen}/metrics`, { signal: AbortSignal.timeout(10_000) })).text());
      expect(valueOf(samples, 'nginx_up', {})).toBe(1);
      expect(valueOf(samples, 'nginx_connections_active', {})).toBeGreaterThanOrEqual(1);
      expect(valueOf(samples, 'nginx_http_requests_total', {})).toBeGreaterThan(0);
    } finally {
      await stopProcess(exporter);
    }
  }, 40_000);

  it('rate-limits the AI gateway per user: a burst over her limit gets 429 from any of her sources, another user is still served', async () => {
    const statuses = await burst(40, (agent) => gatewayCall(ALICE_NETWORK, '/tabby/v1/health', { localAddress: '127.0.0.30', agent }), false);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(AI_LIMITS.completion.burst);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(AI_LIMITS.completion.burst + 2);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    // Still alice from another source address: the limit is hers, not her address's.
    expect((await gatewayCall(ALICE_NETWORK, '/tabby/v1/health', { localAddress: '127.0.0.31' })).status).toBe(429);
    // Chat counts apart from completion; bob is served.
    expect((await gatewayCall(ALICE_NETWORK, '/v1/models')).status).toBe(200);
    expect((await gatewayCall(BOB_NETWORK, '/tabby/v1/health')).status).toBe(200);
  }, 30_000);
});
