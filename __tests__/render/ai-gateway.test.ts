import { ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { AI_GATEWAY_ROUTES } from '../../render/ai-gateway';
import { AI_GATEWAY_SECRET_ENV, renderNginxConf, renderNginxSecretsTemplate } from '../../render/nginx';
import { LITELLM_STARTUP_TIMEOUT_MS, RunningLitellm, startLitellm } from '../helpers/litellm';
import { gatewayUsers, loopbackPortsFor, nginxSandbox, onLoopback, startNginx, UNREACHED_AI_LIMITS } from '../helpers/nginx';
import { request, startRecordingServer, startVllmStandIn, stopProcess, tail, waitUntilAnswers } from '../helpers/processes';

// ---------------------------------------------------------------------------------------------
// The AI gateway end to end, all real but the model servers: the real nginx runs the rendered
// nginx.conf (listeners moved to loopback) in front of the real LiteLLM with the rendered
// config and auth hook. vLLM and Tabby are stand-ins (small HTTP servers in this test that
// check their API key), not the real servers.
// ---------------------------------------------------------------------------------------------

/** Stand-in for Tabby's HTTP API (not Tabby): completion, health and events, only with its token. */
function startTabbyStandIn(token: string) {
  return startRecordingServer((req) => {
    if (req.authorization !== `Bearer ${token}`) return { status: 401, payload: { error: 'stand-in: wrong Tabby token' } };
    if (req.method === 'POST' && req.url === '/v1/completions') return { status: 200, payload: { id: 'cmpl-stand-in', choices: [{ index: 0, text: 'stand-in' }] } };
    if (req.method === 'GET' && req.url === '/v1/health') return { status: 200, payload: { model: 'stand-in', device: 'cpu' } };
    if (req.method === 'POST' && req.url === '/v1/events') return { status: 200, payload: {} };
    return { status: 404, payload: { error: `stand-in has no ${req.method} ${req.url}` } };
  });
}

/** A request with the path sent exactly as written (fetch would resolve `..` and `%2E%2E` first). */
function rawRequest(base: string, method: string, rawPath: string, body?: unknown): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(base);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: hostname, port: Number(port), method, path: rawPath, timeout: 20_000, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${rawPath}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

interface AccessLogLine {
  method: string;
  uri: string;
  status: number;
  upstream: string;
}

describe('the AI gateway: real nginx with the rendered nginx.conf, in front of the real LiteLLM', () => {
  const masterKey = `sk-test-${randomBytes(16).toString('hex')}`;
  const gatewayKey = `sk-gateway-${randomBytes(16).toString('hex')}`;
  const vllmKey = `vllm-${randomBytes(8).toString('hex')}`;
  const tabbyToken = `tabby-${randomBytes(8).toString('hex')}`;
  const chatModelName = 'bank-coder';
  const servedModelName = 'qwen2.5-coder-7b-instruct';

  let vllm: Awaited<ReturnType<typeof startVllmStandIn>> | undefined;
  let tabby: Awaited<ReturnType<typeof startTabbyStandIn>> | undefined;
  let litellm: RunningLitellm | undefined;
  let nginx: ChildProcess | undefined;
  let sandboxDir = '';
  let nginxLog = '';
  let gateway = '';

  /** nginx's own audit log (JSON lines): `upstream` is empty when nginx answered itself. */
  const accessLog = (): AccessLogLine[] =>
    fs
      .readFileSync(nginxLog, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as AccessLogLine);

  /** Waits (bounded) until nginx has logged the request, then returns that log line. */
  const logged = async (method: string, uri: string): Promise<AccessLogLine> => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const line = accessLog().filter((l) => l.method === method && l.uri === uri).at(-1);
      if (line) return line;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`nginx did not log ${method} ${uri}:\n${tail(nginxLog)}`);
  };

  beforeAll(async () => {
    vllm = await startVllmStandIn(servedModelName, vllmKey);
    tabby = await startTabbyStandIn(tabbyToken);
    litellm = await startLitellm({ chatModelName, servedModelName, vllmApiBase: `http://127.0.0.1:${vllm.port}/v1`, masterKey, gatewayKey, vllmKey });

    const sandbox = nginxSandbox();
    sandboxDir = sandbox.dir;
    // nginx's workers (nobody, when started as root) need to reach their temp paths.
    fs.chmodSync(sandbox.dir, 0o755);
    const secrets = path.join(sandbox.dir, 'ai-gateway.conf');
    // What nginx's entrypoint does at start: envsubst of the template with the container's env.
    fs.writeFileSync(
      secrets,
      renderNginxSecretsTemplate().replace(`$${AI_GATEWAY_SECRET_ENV.litellmKey}`, gatewayKey).replace(`$${AI_GATEWAY_SECRET_ENV.tabbyToken}`, tabbyToken),
    );
    const aiGatewayPort = 8081;
    const rendered = renderNginxConf({
      domain: 'ide.test.example',
      httpsPort: 443,
      tlsProtocols: ['TLSv1.2', 'TLSv1.3'],
      tlsCurves: ['X25519', 'prime256v1'],
      certificatePath: sandbox.cert,
      keyPath: sandbox.key,
      realm: 'webide',
      adminAllowCidrs: [],
      upstreams: { keycloak: '127.0.0.1:9', oauth2Proxy: '127.0.0.1:9', litellm: `127.0.0.1:${litellm.port}`, tabby: `127.0.0.1:${tabby.port}` },
      workspaceHostPrefix: 'webide-ide-',
      workspacePort: 8080,
      aiGatewayPort,
      secretsIncludePath: secrets,
      aiGatewayRoutes: AI_GATEWAY_ROUTES,
      listenAddresses: { edge: '10.202.0.14', identity: '10.202.0.30', ai: '10.202.0.46' },
      aiLimits: UNREACHED_AI_LIMITS,
      // The gateway's wildcard listener moves to 127.0.0.1 (onLoopback): that address is alice's network here.
      gatewayUsersInclude: gatewayUsers(sandbox.dir, { '127.0.0.1': 'alice' }),
    });
    const ports = await loopbackPortsFor(rendered);
    ({ nginx, logPath: nginxLog } = startNginx(sandbox.dir, onLoopback(rendered, ports)));
    gateway = `http://127.0.0.1:${ports.get(aiGatewayPort)}`;
    // /tabby/v1/health is allow-listed: it answers once nginx and the Tabby stand-in are up.
    await waitUntilAnswers(`${gateway}/tabby/v1/health`, nginx, nginxLog, 20_000, 'nginx');
  }, LITELLM_STARTUP_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    if (nginx) await stopProcess(nginx);
    if (litellm) await litellm.stop();
    if (vllm) await vllm.close();
    if (tabby) await tabby.close();
    if (sandboxDir) fs.rmSync(sandboxDir, { recursive: true, force: true });
  }, 40_000);

  it('lists the chat model through the gateway, with no key from the IDE', async () => {
    const { status, json, text } = await request(gateway, 'GET', '/v1/models');
    if (status !== 200) throw new Error(`GET /v1/models through the gateway: ${status} ${text}\n${litellm!.logTail()}`);
    expect((json as { data: { id: string }[] }).data.map((m) => m.id)).toEqual([chatModelName]);
    expect((await logged('GET', '/v1/models')).upstream).toBe(`127.0.0.1:${litellm!.port}`);
  }, 30_000);

  it('serves a chat completion through the gateway to the vLLM stand-in, with the vLLM key only there', async () => {
    const before = vllm!.requests.length;
    const body = { model: chatModelName, messages: [{ role: 'user', content: 'Write hello world in Go.' }] };
    const { status, json, text } = await request(gateway, 'POST', '/v1/chat/completions', { body });
    if (status !== 200) throw new Error(`chat completion through the gateway: ${status} ${text}\n${litellm!.logTail()}`);
    expect((json as { choices: { message: { content: string } }[] }).choices[0].message.content).toBe(`stand-in answered for ${servedModelName}`);
    const seen = vllm!.requests.slice(before);
    expect(seen.map((r) => [r.method, r.url, r.authorization])).toEqual([['POST', '/v1/chat/completions', `Bearer ${vllmKey}`]]);
    expect(JSON.stringify(seen)).not.toContain(gatewayKey);
    expect(JSON.stringify(seen)).not.toContain(masterKey);
  }, 30_000);

  it("ignores the IDE's own credentials: the gateway sends its key whatever the client says", async () => {
    // A client that knew the master key still only gets the gateway's identity (and a bogus key is no obstacle).
    const clientHeaders: Record<string, string>[] = [{ authorization: `Bearer ${masterKey}` }, { authorization: 'Bearer sk-bogus-0000000000000000' }, { 'x-litellm-api-key': 'sk-bogus-0000000000000000' }];
    for (const headers of clientHeaders) {
      expect((await request(gateway, 'GET', '/v1/models', { headers })).status).toBe(200);
    }
  }, 30_000);

  it("forwards Tabby's completion, health and events to the Tabby stand-in with the Tabby token", async () => {
    const before = tabby!.requests.length;
    expect((await request(gateway, 'POST', '/tabby/v1/completions', { body: { language: 'go', segments: { prefix: 'func main() {' } } })).status).toBe(200);
    expect((await request(gateway, 'GET', '/tabby/v1/health')).status).toBe(200);
    expect((await request(gateway, 'POST', '/tabby/v1/events', { body: { type: 'view' } })).status).toBe(200);
    expect(tabby!.requests.slice(before).map((r) => [r.method, r.url, r.authorization])).toEqual([
      ['POST', '/v1/completions', `Bearer ${tabbyToken}`],
      ['GET', '/v1/health', `Bearer ${tabbyToken}`],
      ['POST', '/v1/events', `Bearer ${tabbyToken}`],
    ]);
  }, 30_000);

  // LiteLLM's management and data routes (each passes LiteLLM's authorization with the master
  // key, see litellm.test.ts), other Tabby routes, wrong methods and spellings that normalise
  // to a refused path. nginx answers each with 404 itself: its log shows no upstream.
  const refused: Array<{ method: string; path: string; body?: unknown }> = [
    { method: 'GET', path: '/v1/mcp/server' },
    { method: 'GET', path: '/v1/model/info' },
    { method: 'GET', path: '/v1/files' },
    { method: 'POST', path: '/v1/files', body: {} },
    { method: 'GET', path: '/v1/vector_stores' },
    { method: 'GET', path: '/v1/batches' },
    { method: 'POST', path: '/v1/embeddings', body: { model: chatModelName, input: 'x' } },
    { method: 'POST', path: '/key/generate', body: {} },
    { method: 'POST', path: '/v1/key/generate', body: {} },
    { method: 'POST', path: '/user/new', body: {} },
    { method: 'POST', path: '/config/update', body: {} },
    { method: 'GET', path: '/model/info' },
    { method: 'GET', path: '/health' },
    { method: 'GET', path: '/v1/models/' },
    { method: 'GET', path: '/v1/models/../model/info' },
    { method: 'GET', path: '/v1/chat/completions/%2E%2E/%2E%2E/model/info' },
    { method: 'POST', path: '/v1/models', body: {} },
    { method: 'GET', path: '/v1/chat/completions' },
    { method: 'DELETE', path: '/v1/chat/completions' },
    { method: 'PUT', path: '/v1/completions', body: {} },
    { method: 'GET', path: '/tabby/v1/completions' },
    { method: 'GET', path: '/tabby/v1beta/server_setting' },
    { method: 'GET', path: '/tabby/' },
    { method: 'GET', path: '/' },
  ];

  it.each(refused)('answers $method $path with 404 from nginx itself, never from LiteLLM or Tabby', async ({ method, path: urlPath, body }) => {
    const tabbyBefore = tabby!.requests.length;
    const vllmBefore = vllm!.requests.length;
    const response = await rawRequest(gateway, method, urlPath, body);
    expect({ method, urlPath, status: response.status }).toEqual({ method, urlPath, status: 404 });
    // nginx's own 404 page, not LiteLLM's JSON.
    expect(response.text).toContain('<center>nginx</center>');
    const line = accessLog().filter((l) => l.method === method && l.status === 404).at(-1);
    expect(line).toBeDefined();
    expect(line!.upstream).toBe('');
    expect(tabby!.requests.length).toBe(tabbyBefore);
    expect(vllm!.requests.length).toBe(vllmBefore);
  }, 30_000);

  it('has the same locations as the allow-list, and a 404 for everything else', () => {
    const forwarded = accessLog()
      .filter((l) => l.upstream !== '')
      .map((l) => l.uri);
    for (const uri of forwarded) expect(AI_GATEWAY_ROUTES.map((r) => r.path)).toContain(uri);
  });
});
