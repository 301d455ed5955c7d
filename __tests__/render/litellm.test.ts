import { ChildProcess, spawn } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { parse } from 'yaml';
import { LITELLM_SECRET_ENV, LitellmConfigInput, renderLitellmConfig } from '../../render/litellm';

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

  it('keeps telemetry off and drops unsupported params', () => {
    expect(parsed().litellm_settings).toMatchObject({ telemetry: false, drop_params: true });
  });
});

// ---------------------------------------------------------------------------------------------
// The real LiteLLM proxy (from `bash scripts/litellm-venv.sh`) against an in-process stand-in
// for vLLM's OpenAI-compatible API.
// ---------------------------------------------------------------------------------------------

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const LITELLM_BIN = path.join(REPO_ROOT, '.work', 'litellm-venv', 'bin', 'litellm');
const STARTUP_TIMEOUT_MS = 90_000;

interface RecordedRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
}

/** Minimal vLLM stand-in: GET /v1/models and POST /v1/chat/completions; records what it was sent. */
function startStandIn(servedModelName: string): Promise<{ server: http.Server; port: number; requests: RecordedRequest[] }> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = raw;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        /* keep the raw text */
      }
      requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
      const send = (status: number, payload: unknown): void => {
        const text = JSON.stringify(payload);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (req.method === 'GET' && req.url === '/v1/models') {
        send(200, { object: 'list', data: [{ id: servedModelName, object: 'model', created: 0, owned_by: 'vllm', max_model_len: 8192 }] });
      } else if (req.method === 'POST' && req.url === '/v1/chat/completions') {
        const model = (body as { model?: unknown } | undefined)?.model;
        send(200, {
          id: 'chatcmpl-stand-in',
          object: 'chat.completion',
          created: 1_700_000_000,
          model,
          choices: [{ index: 0, message: { role: 'assistant', content: `stand-in answered for ${String(model)}` }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
        });
      } else {
        send(404, { error: { message: `stand-in has no ${req.method} ${req.url}` } });
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as net.AddressInfo).port, requests }));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM to LiteLLM's process group, then SIGKILL if it is still there after 10 s. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || exited(child)) return;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, sig); // its own group (spawned detached)
    } catch {
      try {
        child.kill(sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal('SIGTERM');
  if (await waitForExit(child, 10_000)) return;
  signal('SIGKILL');
  await waitForExit(child, 5_000);
}

describe('the real LiteLLM proxy with the rendered config', () => {
  const masterKey = `sk-test-${randomBytes(16).toString('hex')}`;
  const vllmKey = 'test-vllm-key';
  const chatModelName = 'bank-coder';
  const servedModelName = 'qwen2.5-coder-7b-instruct';

  let workDir: string | undefined;
  let logPath = '';
  let standIn: Awaited<ReturnType<typeof startStandIn>> | undefined;
  let litellm: ChildProcess | undefined;
  let baseUrl = '';

  const logTail = (): string => {
    try {
      return fs.readFileSync(logPath, 'utf8').split('\n').slice(-60).join('\n');
    } catch {
      return '(no LiteLLM log)';
    }
  };

  const request = async (method: 'GET' | 'POST', urlPath: string, opts: { key?: string; body?: unknown } = {}) => {
    const headers: Record<string, string> = {};
    if (opts.key !== undefined) headers.authorization = `Bearer ${opts.key}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${baseUrl}${urlPath}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, text, json };
  };

  const chatRequestsSeen = (): RecordedRequest[] =>
    (standIn?.requests ?? []).filter((r) => r.method === 'POST' && r.url === '/v1/chat/completions');

  beforeAll(async () => {
    if (!fs.existsSync(LITELLM_BIN)) {
      throw new Error(`LiteLLM is not installed at ${LITELLM_BIN}: run \`bash scripts/litellm-venv.sh\` first (CI does).`);
    }
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-litellm-'));
    logPath = path.join(workDir, 'litellm.log');
    standIn = await startStandIn(servedModelName);

    const configPath = path.join(workDir, 'config.yaml');
    fs.writeFileSync(
      configPath,
      renderLitellmConfig({ chatModelName, servedModelName, vllmApiBase: `http://127.0.0.1:${standIn.port}/v1`, logPrompts: false }),
    );

    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    const log = fs.openSync(logPath, 'w');
    litellm = spawn(LITELLM_BIN, ['--config', configPath, '--host', '127.0.0.1', '--port', String(port)], {
      cwd: workDir,
      detached: true,
      stdio: ['ignore', log, log],
      // A clean environment: nothing from the developer's shell (proxies, DATABASE_URL, keys) leaks in.
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: workDir,
        LANG: 'C.UTF-8',
        NO_PROXY: '127.0.0.1,localhost',
        no_proxy: '127.0.0.1,localhost',
        [LITELLM_SECRET_ENV.masterKey]: masterKey,
        [LITELLM_SECRET_ENV.vllmApiKey]: vllmKey,
        // Offline: no telemetry, no fetch of the remote model cost map at startup.
        LITELLM_TELEMETRY: 'False',
        LITELLM_LOCAL_MODEL_COST_MAP: 'True',
        DISABLE_ADMIN_UI: 'True',
      },
    });
    fs.closeSync(log);

    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (let attempt = 0; attempt < 400 && Date.now() < deadline; attempt++) {
      if (exited(litellm)) {
        throw new Error(`LiteLLM exited during startup (code ${litellm.exitCode}, signal ${litellm.signalCode}):\n${logTail()}`);
      }
      try {
        const response = await fetch(`${baseUrl}/health/liveliness`, { signal: AbortSignal.timeout(2_000) });
        if (response.ok) return;
      } catch {
        /* not listening yet */
      }
      await sleep(500);
    }
    throw new Error(`LiteLLM did not answer /health/liveliness within ${STARTUP_TIMEOUT_MS / 1000} s:\n${logTail()}`);
  }, STARTUP_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    if (litellm) await stopProcess(litellm);
    if (standIn) {
      standIn.server.closeAllConnections();
      await new Promise<void>((resolve) => standIn!.server.close(() => resolve()));
    }
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  }, 30_000);

  it('lists exactly the public chat model name', async () => {
    const { status, json, text } = await request('GET', '/v1/models', { key: masterKey });
    expect({ status, text }).toEqual({ status: 200, text: expect.any(String) });
    expect((json as { data: { id: string }[] }).data.map((m) => m.id)).toEqual([chatModelName]);
  }, 60_000);

  it('refuses requests without the master key, and never forwards them', async () => {
    const before = chatRequestsSeen().length;
    expect([401, 403]).toContain((await request('GET', '/v1/models')).status);
    const chat = await request('POST', '/v1/chat/completions', { body: { model: chatModelName, messages: [{ role: 'user', content: 'hi' }] } });
    expect([401, 403]).toContain(chat.status);
    // A key that is not the master key is refused too (without a database LiteLLM answers 400 "No connected db").
    const wrong = await request('POST', '/v1/chat/completions', {
      key: `sk-test-wrong-${randomBytes(8).toString('hex')}`,
      body: { model: chatModelName, messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(wrong.status).toBeGreaterThanOrEqual(400);
    expect(wrong.status).toBeLessThan(500);
    expect(chatRequestsSeen().length).toBe(before);
  }, 60_000);

  it('routes the public model name to vLLM under the served name, with the vLLM key', async () => {
    const before = chatRequestsSeen().length;
    const messages = [{ role: 'user', content: 'Write hello world in Go.' }];
    const { status, json, text } = await request('POST', '/v1/chat/completions', { key: masterKey, body: { model: chatModelName, messages } });
    if (status !== 200) throw new Error(`chat completion failed: ${status} ${text}\n${logTail()}`);

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
    const { status } = await request('POST', '/v1/chat/completions', {
      key: masterKey,
      body: { model: servedModelName, messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(status).toBe(400);
    expect(chatRequestsSeen().length).toBe(before);
  }, 60_000);
});
