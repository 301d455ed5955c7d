import { spawnSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse } from 'yaml';
import { litellmGatewayRoutes } from '../../render/ai-gateway';
import {
  AI_GATEWAY_IDENTITY,
  LITELLM_AUTH_HOOK,
  LITELLM_SECRET_ENV,
  LitellmConfigInput,
  litellmAuthHookInput,
  renderLitellmAuthHook,
  renderLitellmConfig,
} from '../../render/litellm';
import { LITELLM_BIN, LITELLM_STARTUP_TIMEOUT_MS, RunningLitellm, startLitellm } from '../helpers/litellm';
import { RecordedRequest, request as httpRequest, startVllmStandIn } from '../helpers/processes';

function input(overrides: Partial<LitellmConfigInput> = {}): LitellmConfigInput {
  return {
    chatModelName: 'bank-coder',
    servedModelName: 'qwen2.5-coder-7b-instruct',
    vllmApiBase: 'http://webide-vllm:8000/v1',
    logPrompts: false,
    ...overrides,
  };
}

/** The rendered config as data (the header comment is dropped by the parser). */
function parsed(overrides: Partial<LitellmConfigInput> = {}): any {
  return parse(renderLitellmConfig(input(overrides)));
}

describe('renderLitellmConfig', () => {
  it('is deterministic and marked as generated', () => {
    expect(renderLitellmConfig(input())).toBe(renderLitellmConfig(input()));
    expect(renderLitellmConfig(input())).toMatch(/^# Rendered by webide-estate .*Do not edit by hand\.\n/);
  });

  it('routes the public model name to the served name on the given vLLM base', () => {
    const config = parsed({ chatModelName: 'chat-x', servedModelName: 'served-y', vllmApiBase: 'http://vllm.internal:8123/v1' });
    expect(config.model_list).toHaveLength(1);
    expect(config.model_list[0]).toEqual({
      model_name: 'chat-x',
      litellm_params: { model: 'openai/served-y', api_base: 'http://vllm.internal:8123/v1', api_key: 'os.environ/VLLM_API_KEY' },
      model_info: { mode: 'chat' },
    });
  });

  it('references secrets only through os.environ/, never as values', () => {
    const config = parsed();
    expect(config.general_settings.master_key).toBe(`os.environ/${LITELLM_SECRET_ENV.masterKey}`);
    expect(config.model_list[0].litellm_params.api_key).toBe(`os.environ/${LITELLM_SECRET_ENV.vllmApiKey}`);
    const text = renderLitellmConfig(input());
    expect(text).not.toMatch(/sk-[A-Za-z0-9]/);
    expect(text).not.toMatch(/Bearer/i);
    // Every *key* setting is an environment reference.
    const keyValues: unknown[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (/key/i.test(k)) keyValues.push(v);
          walk(v);
        }
      }
    };
    walk(config);
    expect(keyValues.length).toBeGreaterThanOrEqual(2);
    for (const value of keyValues) expect(value).toMatch(/^os\.environ\/[A-Z][A-Z0-9_]*$/);
  });

  it('turns message logging off unless prompts may be logged', () => {
    const off = parsed({ logPrompts: false });
    expect(off.litellm_settings.turn_off_message_logging).toBe(true);
    expect(off.general_settings.store_prompts_in_spend_logs).toBe(false);
    expect(off.general_settings.disable_spend_logs).toBe(true);
    const on = parsed({ logPrompts: true });
    expect(on.litellm_settings.turn_off_message_logging).toBe(false);
    expect(on.general_settings.store_prompts_in_spend_logs).toBe(true);
  });

  it('serves Prometheus metrics without a key only when asked to (the prometheus callback)', () => {
    expect(parsed().litellm_settings).not.toHaveProperty('callbacks');
    expect(parsed().litellm_settings).not.toHaveProperty('require_auth_for_metrics_endpoint');
    expect(parsed({ metrics: false }).litellm_settings).not.toHaveProperty('callbacks');
    expect(parsed({ metrics: true }).litellm_settings).toMatchObject({ callbacks: ['prometheus'], require_auth_for_metrics_endpoint: false });
    // Nothing else changes: the key checks stay as they are.
    const { callbacks: _c, require_auth_for_metrics_endpoint: _r, ...rest } = parsed({ metrics: true }).litellm_settings;
    expect(rest).toEqual(parsed().litellm_settings);
    expect(parsed({ metrics: true }).general_settings).toEqual(parsed().general_settings);
  });

  it('keeps telemetry off and drops unsupported params', () => {
    expect(parsed().litellm_settings).toMatchObject({ telemetry: false, drop_params: true });
  });

  it("checks keys with the estate's hook, and runs LiteLLM's own route and model checks on its identity", () => {
    const config = parsed();
    expect(config.general_settings).toMatchObject({
      custom_auth: `${LITELLM_AUTH_HOOK.module}.${LITELLM_AUTH_HOOK.function}`,
      custom_auth_run_common_checks: true,
    });
    expect(config.litellm_settings.enable_post_custom_auth_checks).toBe(true);
    expect(LITELLM_AUTH_HOOK.file).toBe(`${LITELLM_AUTH_HOOK.module}.py`);
  });
});

describe('renderLitellmAuthHook', () => {
  const hook = renderLitellmAuthHook(litellmAuthHookInput('bank-coder'));

  it('is deterministic and marked as generated', () => {
    expect(renderLitellmAuthHook(litellmAuthHookInput('bank-coder'))).toBe(hook);
    expect(hook).toMatch(/^# Rendered by webide-estate .*Do not edit by hand\.\n/);
  });

  it("limits the gateway's identity to the allow-list's LiteLLM routes and the chat model, sorted", () => {
    expect(litellmGatewayRoutes()).toEqual(['/v1/chat/completions', '/v1/completions', '/v1/models']);
    expect(hook).toContain('GATEWAY_ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/models",)');
    expect(hook).toContain('GATEWAY_MODELS = ("bank-coder",)');
    expect(renderLitellmAuthHook({ gatewayRoutes: ['/b', '/a', '/a'], gatewayModels: ['m'] })).toContain('GATEWAY_ROUTES = ("/a", "/b",)');
    expect(hook).toContain(`GATEWAY_IDENTITY = "${AI_GATEWAY_IDENTITY}"`);
  });

  it('reads keys only from the environment and holds no secret', () => {
    expect(hook).toContain(`MASTER_KEY_ENV = "${LITELLM_SECRET_ENV.masterKey}"`);
    expect(hook).toContain(`GATEWAY_KEY_ENV = "${LITELLM_SECRET_ENV.gatewayKey}"`);
    expect(hook).not.toMatch(/sk-[A-Za-z0-9]/);
    expect(hook).toContain('hmac.compare_digest');
  });

  it('is valid Python (compiled by the venv interpreter)', () => {
    const python = path.join(path.dirname(LITELLM_BIN), 'python');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-hook-'));
    const file = path.join(dir, LITELLM_AUTH_HOOK.file);
    fs.writeFileSync(file, hook);
    const result = spawnSync(python, ['-m', 'py_compile', file], { encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  });
});

// ---------------------------------------------------------------------------------------------
// The real LiteLLM proxy (from `bash scripts/litellm-venv.sh`) with the rendered config and
// auth hook, against an in-process stand-in for vLLM's OpenAI-compatible API. With /metrics/ on,
// as the estate runs it (operations.monitoring.litellmMetrics defaults to true).
// ---------------------------------------------------------------------------------------------

describe('the real LiteLLM proxy with the rendered config', () => {
  const masterKey = `sk-test-${randomBytes(16).toString('hex')}`;
  const gatewayKey = `sk-gateway-${randomBytes(16).toString('hex')}`;
  const vllmKey = 'test-vllm-key';
  const chatModelName = 'bank-coder';
  const servedModelName = 'qwen2.5-coder-7b-instruct';

  let standIn: Awaited<ReturnType<typeof startVllmStandIn>> | undefined;
  let litellm: RunningLitellm | undefined;

  const request = (method: 'GET' | 'POST', urlPath: string, opts: { key?: string; body?: unknown } = {}) => httpRequest(litellm!.baseUrl, method, urlPath, opts);
  const chatRequestsSeen = (): RecordedRequest[] =>
    (standIn?.requests ?? []).filter((r) => r.method === 'POST' && r.url === '/v1/chat/completions');
  const chat = (model = chatModelName) => ({ model, messages: [{ role: 'user', content: 'hi' }] });

  beforeAll(async () => {
    standIn = await startVllmStandIn(servedModelName, vllmKey);
    litellm = await startLitellm({ chatModelName, servedModelName, vllmApiBase: `http://127.0.0.1:${standIn.port}/v1`, masterKey, gatewayKey, vllmKey, metrics: true });
  }, LITELLM_STARTUP_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    if (litellm) await litellm.stop();
    if (standIn) await standIn.close();
  }, 30_000);

  it('lists exactly the public chat model name', async () => {
    const { status, json, text } = await request('GET', '/v1/models', { key: masterKey });
    expect({ status, text }).toEqual({ status: 200, text: expect.any(String) });
    expect((json as { data: { id: string }[] }).data.map((m) => m.id)).toEqual([chatModelName]);
  }, 60_000);

  it('refuses requests without a key or with an unknown key, and never forwards them', async () => {
    const before = chatRequestsSeen().length;
    expect((await request('GET', '/v1/models')).status).toBe(401);
    expect((await request('POST', '/v1/chat/completions', { body: chat() })).status).toBe(401);
    const wrong = await request('POST', '/v1/chat/completions', { key: `sk-test-wrong-${randomBytes(8).toString('hex')}`, body: chat() });
    expect(wrong.status).toBe(401);
    expect(chatRequestsSeen().length).toBe(before);
  }, 60_000);

  it('routes the public model name to vLLM under the served name, with the vLLM key', async () => {
    const before = chatRequestsSeen().length;
    const messages = [{ role: 'user', content: 'Write hello world in Go.' }];
    const { status, json, text } = await request('POST', '/v1/chat/completions', { key: masterKey, body: { model: chatModelName, messages } });
    if (status !== 200) throw new Error(`chat completion failed: ${status} ${text}\n${litellm!.logTail()}`);

    const seen = chatRequestsSeen().slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0].authorization).toBe(`Bearer ${vllmKey}`);
    expect(seen[0].body).toMatchObject({ model: servedModelName, messages });
    // The master key never travels upstream.
    expect(JSON.stringify(seen[0])).not.toContain(masterKey);

    const completion = json as { model: string; choices: { message: { role: string; content: string } }[] };
    expect(completion.choices[0].message).toMatchObject({ role: 'assistant', content: `stand-in answered for ${servedModelName}` });
    // Clients see the public name back, not the served one.
    expect(completion.model).toBe(chatModelName);
  }, 60_000);

  it('does not accept the served (internal) model name from clients', async () => {
    const before = chatRequestsSeen().length;
    const { status } = await request('POST', '/v1/chat/completions', { key: masterKey, body: chat(servedModelName) });
    expect(status).toBe(400);
    expect(chatRequestsSeen().length).toBe(before);
  }, 60_000);

  it('serves the gateway key on the allow-listed routes and the chat model', async () => {
    const models = await request('GET', '/v1/models', { key: gatewayKey });
    expect(models.status).toBe(200);
    expect((models.json as { data: { id: string }[] }).data.map((m) => m.id)).toEqual([chatModelName]);
    const before = chatRequestsSeen().length;
    const completion = await request('POST', '/v1/chat/completions', { key: gatewayKey, body: chat() });
    if (completion.status !== 200) throw new Error(`chat completion with the gateway key failed: ${completion.status} ${completion.text}\n${litellm!.logTail()}`);
    expect(chatRequestsSeen().length).toBe(before + 1);
    expect(JSON.stringify(chatRequestsSeen().at(-1))).not.toContain(gatewayKey);
  }, 60_000);

  // Before the management routes below: a failed upstream call there (embeddings, which the
  // stand-in does not serve) puts the one chat deployment in LiteLLM's cooldown for a few seconds.
  it('serves Prometheus metrics at /metrics/ without a key (what the estate scrapes), counting the requests it proxied', async () => {
    const proxied = await request('POST', '/v1/chat/completions', { key: gatewayKey, body: chat() });
    if (proxied.status !== 200) throw new Error(`chat completion failed: ${proxied.status} ${proxied.text}\n${litellm!.logTail()}`);
    const page = await request('GET', '/metrics/');
    if (page.status !== 200) throw new Error(`/metrics/ answered ${page.status} ${page.text}\n${litellm!.logTail()}`);
    expect(page.text).toMatch(/^# HELP /m);
    // LiteLLM's own series (the prometheus callback), not only the Python runtime's.
    const requests = page.text.split('\n').filter((line) => /^litellm_proxy_total_requests_metric_total\{/.test(line));
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.some((line) => line.includes(`requested_model="${chatModelName}"`))).toBe(true);
    // No key in the page: LiteLLM labels series with a hash of the key, never the key.
    for (const key of [masterKey, gatewayKey, vllmKey]) expect(page.text).not.toContain(key);
    // /metrics (no slash) only redirects to it: Prometheus is pointed at /metrics/ (estateScrapeTargets).
    const bare = await fetch(`${litellm!.baseUrl}/metrics`, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    expect([bare.status, bare.headers.get('location')?.endsWith('/metrics/')]).toEqual([307, true]);
  }, 60_000);

  it('still wants a key everywhere else with /metrics/ open: the gateway routes and the admin routes', async () => {
    const before = chatRequestsSeen().length;
    for (const [method, route, body] of [
      ['GET', '/v1/models', undefined],
      ['POST', '/v1/chat/completions', chat()],
      ['POST', '/v1/completions', { model: chatModelName, prompt: 'x' }],
      ['GET', '/model/info', undefined],
      ['POST', '/key/generate', {}],
    ] as const) {
      const answer = await request(method, route, { body });
      expect({ route, status: answer.status }).toEqual({ route, status: 401 });
    }
    expect(chatRequestsSeen().length).toBe(before);
  }, 60_000);

  // Each of these answers 200 (or reaches its handler) with the master key: checked in the same
  // run below, so a refusal here is the gateway key's, not a route that does not exist.
  const managementRoutes: Array<{ method: 'GET' | 'POST'; route: string; body?: unknown }> = [
    { method: 'GET', route: '/v1/mcp/server' },
    { method: 'GET', route: '/v1/model/info' },
    { method: 'GET', route: '/model/info' },
    { method: 'GET', route: '/v1/files' },
    { method: 'GET', route: '/v1/vector_stores' },
    { method: 'GET', route: '/v1/batches' },
    { method: 'GET', route: '/health' },
    { method: 'POST', route: '/key/generate', body: {} },
    { method: 'POST', route: '/user/new', body: {} },
    { method: 'POST', route: '/config/update', body: {} },
    { method: 'POST', route: '/v1/embeddings', body: { model: chatModelName, input: 'x' } },
  ];

  // The master key is let through to the same handlers (they may then fail for want of a
  // database or an upstream): a refusal of the gateway key is its own, not a missing route.
  it.each(managementRoutes)('refuses the gateway key on $method $route (403), which the master key passes', async ({ method, route, body }) => {
    const asGateway = await request(method, route, { key: gatewayKey, body });
    expect({ route, status: asGateway.status }).toEqual({ route, status: 403 });
    const asAdmin = await request(method, route, { key: masterKey, body });
    expect({ route, refused: [401, 403].includes(asAdmin.status) }).toEqual({ route, refused: false });
  }, 60_000);

  it("refuses the gateway key for a model outside its list (LiteLLM's own model check)", async () => {
    const before = chatRequestsSeen().length;
    const { status, text } = await request('POST', '/v1/chat/completions', { key: gatewayKey, body: chat(servedModelName) });
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
    expect(text).not.toContain(gatewayKey);
    expect(chatRequestsSeen().length).toBe(before);
  }, 60_000);
});
