import { execFile } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import { SECURITY_HEADERS } from '../../render/nginx';
import { renderSwarmEntryConf, SwarmEntryInput } from '../../render/swarm-entry';
import { listenPorts, loopbackPortsFor, nginxSandbox, nginxTest, onLoopback, startDnsStandIn, startNginx, withResolver } from '../helpers/nginx';
import { startRecordingServer, stopProcess, tail } from '../helpers/processes';

const DOMAIN = 'ide.test.example';

const input = (over: Partial<SwarmEntryInput> = {}): SwarmEntryInput => ({
  domain: DOMAIN,
  httpsPort: 443,
  tlsProtocols: ['TLSv1.2', 'TLSv1.3'],
  tlsCurves: ['X25519', 'prime256v1'],
  certificatePath: '/run/secrets/tls-certificate',
  keyPath: '/run/secrets/tls-key',
  realm: 'webide',
  adminAllowCidrs: [],
  upstreams: { keycloak: 'swl-keycloak:8080', oauth2Proxy: 'swl-oauth2-proxy:4180' },
  workspaceHostPrefix: 'swl-fwd-',
  workspacePort: 8080,
  ...over,
});

/**
 * curl's view of one GET: status (000: no answer), the headers (lower-case names) and the body.
 * Asynchronous: the stand-ins (DNS included) answer from this process's event loop.
 */
async function get(url: string, args: string[] = []): Promise<{ status: string; headers: Record<string, string>; body: string }> {
  const stdout = await new Promise<string>((resolve) => execFile('curl', ['-sk', '--max-time', '10', '-D', '-', ...args, url], { encoding: 'utf8' }, (_error, out) => resolve(out)));
  const [head, ...rest] = stdout.split('\r\n\r\n');
  const lines = head.split('\r\n');
  const status = /^HTTP\/\S+ (\d{3})/.exec(lines[0] ?? '')?.[1] ?? '000';
  const headers = Object.fromEntries(lines.slice(1).map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  return { status, headers, body: rest.join('\r\n\r\n') };
}

describe('renderSwarmEntryConf (the Swarm target: the entry point, published in host mode)', () => {
  it('is a pure function of its input; the public ports on every address, the helpers on loopback, no AI gateway; real nginx -t accepts it', () => {
    const conf = renderSwarmEntryConf(input());
    expect(renderSwarmEntryConf(input())).toBe(conf);
    expect([...conf.matchAll(/^\s*listen ([^;]+);/gm)].map((m) => m[1]).sort()).toEqual([
      '127.0.0.1:8403',
      '127.0.0.1:8404',
      '8080',
      '8080 default_server',
      '8443 ssl http2',
      '8443 ssl http2 default_server',
    ]);
    expect(conf).not.toMatch(/gateway|litellm|tabby|8081/);
    expect(conf).toContain('"swl-fwd-$owner:8080"');
    const sandbox = nginxSandbox();
    try {
      const path = `${sandbox.dir}/entry.conf`;
      fs.writeFileSync(path, renderSwarmEntryConf(input({ certificatePath: sandbox.cert, keyPath: sandbox.key })));
      const check = nginxTest(path, sandbox.dir);
      expect(check.output).toContain('test is successful');
      expect(check.status).toBe(0);
    } finally {
      fs.rmSync(sandbox.dir, { recursive: true, force: true });
    }
  });

  describe('run by the real nginx (oauth2-proxy, Keycloak and the forwarders: recording servers on loopback; names: a DNS stand-in)', () => {
    const sandbox = nginxSandbox();
    let stop: () => Promise<void> = async () => undefined;
    let ports = new Map<number, number>();
    let forwarder: Awaited<ReturnType<typeof startRecordingServer>>;
    let keycloak: Awaited<ReturnType<typeof startRecordingServer>>;
    let dns: Awaited<ReturnType<typeof startDnsStandIn>>;
    const tls = async (p: string, args: string[] = []) => get(`https://${DOMAIN}:${ports.get(8443)}${p}`, ['--resolve', `${DOMAIN}:${ports.get(8443)}:127.0.0.1`, ...args]);

    beforeAll(async () => {
      keycloak = await startRecordingServer((req) => ({ status: 200, payload: { keycloak: req.url } }));
      // oauth2-proxy: a request with the stand-in's cookie is alice's (the 202 names her); any other must sign in.
      const authServer = http.createServer((req, res) => {
        const isAuth = req.url?.startsWith('/oauth2/auth') ?? false;
        if (isAuth) res.writeHead(String(req.headers.cookie).includes('signed-in') ? 202 : 401, { 'x-auth-request-preferred-username': 'alice' });
        else res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(isAuth ? '' : `oauth2-proxy ${req.url}`);
      });
      await new Promise<void>((resolve) => authServer.listen(0, '127.0.0.1', () => resolve()));
      const authPort = (authServer.address() as AddressInfo).port;
      forwarder = await startRecordingServer((req) => ({ status: 200, payload: { forwarder: req.url } }));
      dns = await startDnsStandIn();
      const rendered = renderSwarmEntryConf(
        input({
          certificatePath: sandbox.cert,
          keyPath: sandbox.key,
          upstreams: { keycloak: `swl-keycloak:${keycloak.port}`, oauth2Proxy: `swl-oauth2-proxy:${authPort}` },
          workspacePort: forwarder.port,
        }),
      );
      ports = await loopbackPortsFor(rendered);
      const { nginx, logPath } = startNginx(sandbox.dir, withResolver(onLoopback(rendered, ports, new Map()), dns.port));
      stop = async () => {
        await stopProcess(nginx);
        authServer.closeAllConnections();
        await new Promise<void>((resolve) => authServer.close(() => resolve()));
        await Promise.all([keycloak.close(), forwarder.close(), dns.close()]);
      };
      for (let attempt = 0; (await tls('/')).status !== '302'; attempt++) {
        if (attempt >= 40) throw new Error(`the entry did not answer:\n${tail(logPath)}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }, 30_000);

    afterAll(async () => {
      await stop();
      fs.rmSync(sandbox.dir, { recursive: true, force: true });
    });

    it("sends a signed-in user to their own IDE through the user's forwarder (looked up by name), with the public authority", async () => {
      const before = forwarder.requests.length;
      const own = await tls('/u/alice/some/path?q=1', ['-b', 'session=signed-in']);
      expect([own.status, own.body]).toEqual(['200', JSON.stringify({ forwarder: '/some/path?q=1' })]);
      expect(forwarder.requests.slice(before).map((r) => [r.headers.host, r.headers['x-forwarded-proto']])).toEqual([[DOMAIN, 'https']]);
      expect(dns.queries).toContain('swl-fwd-alice');
      for (const { name, value } of SECURITY_HEADERS) expect([name, own.headers[name.toLowerCase()]]).toEqual([name, value]);
    });

    it("refuses someone else's IDE (403) and sends a user who is not signed in to sign-in; neither reaches a forwarder", async () => {
      const before = forwarder.requests.length;
      expect((await tls('/u/bob/', ['-b', 'session=signed-in'])).status).toBe('403');
      const anonymous = await tls('/u/alice/');
      expect([anonymous.status, anonymous.headers.location]).toEqual(['302', '/oauth2/start?rd=/u/alice/']);
      expect((await tls('/u/alice/proxy/8080/', ['-b', 'session=signed-in'])).status).toBe('404');
      expect(forwarder.requests.length).toBe(before);
      expect(dns.queries).not.toContain('swl-fwd-bob');
    });

    it("passes Keycloak's public side of the realm with the public host; refuses its admin side to a source not allow-listed", async () => {
      const before = keycloak.requests.length;
      expect((await tls('/realms/webide/account')).status).toBe('200');
      expect((await tls('/admin/master/console/')).status).toBe('403');
      expect(keycloak.requests.slice(before).map((r) => [r.url, r.headers['x-forwarded-host']])).toEqual([['/realms/webide/account', DOMAIN]]);
    });

    it('serves only the estate name (another Host gets no answer) and redirects plain HTTP to the public origin', async () => {
      expect((await get(`https://127.0.0.1:${ports.get(8443)}/`, ['-H', 'Host: evil.example'])).status).toBe('000');
      const redirect = await get(`http://127.0.0.1:${ports.get(8080)}/x`, ['-H', `Host: ${DOMAIN}`]);
      expect([redirect.status, redirect.headers.location]).toEqual(['301', `https://${DOMAIN}/x`]);
      expect((await get(`http://127.0.0.1:${ports.get(8080)}/x`, ['-H', 'Host: evil.example'])).status).toBe('000');
    });
  });

  it('listens on the ports the service publishes and no other', () => {
    expect(listenPorts(renderSwarmEntryConf(input()))).toEqual([8080, 8403, 8404, 8443]);
  });
});
