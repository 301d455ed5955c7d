import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';

/** Servers started by tests listen on loopback only; ports come from the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * `count` distinct free loopback ports. The probes are held open together: probing one at a
 * time can hand the same port out twice (the kernel may reuse a port as soon as it is closed).
 */
export async function freePorts(count: number): Promise<number[]> {
  const probes: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const probe = net.createServer();
      probes.push(probe);
      await new Promise<void>((resolve, reject) => {
        probe.once('error', reject);
        probe.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return probes.map((probe) => (probe.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(probes.map((probe) => new Promise<void>((resolve) => probe.close(() => resolve()))));
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function exited(child: ChildProcess): boolean {
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

/** SIGTERM to the process group of a child this test spawned detached, then SIGKILL after 10 s. */
export async function stopProcess(child: ChildProcess): Promise<void> {
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

export function tail(file: string, lines = 60): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${path.basename(file)})`;
  }
}

/** Polls `url` until it answers 2xx; bounded in attempts and time. Throws with the log tail otherwise. */
export async function waitUntilAnswers(url: string, child: ChildProcess, logPath: string, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < 400 && Date.now() < deadline; attempt++) {
    if (exited(child)) throw new Error(`${what} exited during startup (code ${child.exitCode}, signal ${child.signalCode}):\n${tail(logPath)}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
    } catch {
      /* not listening yet */
    }
    await sleep(500);
  }
  throw new Error(`${what} did not answer ${url} within ${timeoutMs / 1000} s:\n${tail(logPath)}`);
}

export interface RecordedRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

/** A loopback HTTP server that records every request and answers with `handle`. */
export function startRecordingServer(
  handle: (req: RecordedRequest) => { status: number; payload: unknown },
): Promise<{ server: http.Server; port: number; requests: RecordedRequest[]; close: () => Promise<void> }> {
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
      const recorded = { method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, headers: req.headers, body };
      requests.push(recorded);
      const { status, payload } = handle(recorded);
      const text = JSON.stringify(payload);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        port: (server.address() as net.AddressInfo).port,
        requests,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      }),
    );
  });
}

/**
 * Stand-in for vLLM's OpenAI-compatible API (not vLLM): GET /v1/models and POST
 * /v1/chat/completions, answered only with `Bearer <apiKey>` (401 otherwise, as vLLM's
 * --api-key does).
 */
export function startVllmStandIn(servedModelName: string, apiKey: string) {
  return startRecordingServer((req) => {
    if (req.authorization !== `Bearer ${apiKey}`) return { status: 401, payload: { error: 'stand-in: wrong vLLM key' } };
    if (req.method === 'GET' && req.url === '/v1/models') {
      return { status: 200, payload: { object: 'list', data: [{ id: servedModelName, object: 'model', created: 0, owned_by: 'vllm', max_model_len: 8192 }] } };
    }
    if (req.method === 'POST' && req.url === '/v1/chat/completions') {
      const model = (req.body as { model?: unknown } | undefined)?.model;
      return {
        status: 200,
        payload: {
          id: 'chatcmpl-stand-in',
          object: 'chat.completion',
          created: 1_700_000_000,
          model,
          choices: [{ index: 0, message: { role: 'assistant', content: `stand-in answered for ${String(model)}` }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
        },
      };
    }
    return { status: 404, payload: { error: { message: `stand-in has no ${req.method} ${req.url}` } } };
  });
}

/**
 * Spawns a server detached (its own process group, so stopProcess ends all of it), output to a
 * file; as another uid/gid when given (a test running as root starting a server that refuses root).
 */
export function spawnLogged(command: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; logPath: string; uid?: number; gid?: number }): ChildProcess {
  const log = fs.openSync(opts.logPath, 'w');
  const child = spawn(command, args, { cwd: opts.cwd, detached: true, stdio: ['ignore', log, log], env: opts.env, uid: opts.uid, gid: opts.gid });
  fs.closeSync(log);
  return child;
}

/** An HTTP request with a bounded wait; the body parsed as JSON where it is JSON. */
export async function request(
  baseUrl: string,
  method: string,
  urlPath: string,
  opts: { key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; text: string; json: unknown }> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
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
}
