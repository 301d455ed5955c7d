import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { debianTool, parseExposition, runTool, Sample, valueOf } from '../helpers/monitoring';
import { freePort, request, spawnLogged, stopProcess, tail, waitUntilAnswers } from '../helpers/processes';
import { ROOT } from '../helpers/run';

/**
 * The AI stand-in (images/ai-standin/ai_standin.py, the GPU-less vLLM and Tabby of the test
 * tier) run with the system python3 on loopback, as its image runs it: its Prometheus /metrics
 * (read by the real promtool) and the slow mode the e2e test switches through a file inside
 * the container.
 */
const STANDIN = path.join(ROOT, 'images/ai-standin/ai_standin.py');
const TOKEN = 'test-only-tabby-token';
const VLLM_KEY = 'test-only-vllm-key';

interface RunningStandIn {
  readonly baseUrl: string;
  readonly delayFile: string;
  readonly metrics: () => Promise<{ text: string; samples: Sample[] }>;
  readonly stop: () => Promise<void>;
}

async function startStandIn(role: 'tabby' | 'vllm'): Promise<RunningStandIn> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `webide-ai-standin-${role}-`));
  const port = await freePort();
  const delayFile = path.join(dir, 'delay-ms');
  const logPath = path.join(dir, 'standin.log');
  // The real servers' command lines, as the platform stack gives them (the stand-in honours --host and --port).
  const args =
    role === 'tabby'
      ? ['serve', '--model', 'Qwen2.5-Coder-1.5B', '--device', 'cuda', '--host', '127.0.0.1', '--port', String(port)]
      : ['/models/chat', '--served-model-name', 'served-chat', '--host', '127.0.0.1', '--port', String(port)];
  const child: ChildProcess = spawnLogged('python3', [STANDIN, ...args], {
    cwd: dir,
    logPath,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      STANDIN_ROLE: role,
      STANDIN_DELAY_FILE: delayFile,
      ...(role === 'tabby' ? { TABBY_API_TOKEN: TOKEN } : { VLLM_API_KEY: VLLM_KEY }),
    },
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopProcess(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilAnswers(`${baseUrl}/metrics`, child, logPath, 30_000, `the ${role} stand-in`);
  } catch (error) {
    await stop();
    throw error;
  }
  const metrics = async () => {
    const answer = await request(baseUrl, 'GET', '/metrics');
    if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}:\n${tail(logPath)}`);
    return { text: answer.text, samples: parseExposition(answer.text) };
  };
  return { baseUrl, delayFile, metrics, stop };
}

/** The stand-in's /metrics as the real promtool lints it (the exposition format Prometheus parses). */
function promtoolCheck(text: string): { status: number; output: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-promtool-'));
  try {
    const file = path.join(dir, 'metrics.txt');
    fs.writeFileSync(file, text);
    return runTool('/bin/sh', ['-c', `${debianTool('promtool', 'prometheus')} check metrics < ${file}`], dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const COMPLETION = { language: 'python', segments: { prefix: 'def add(a, b):\n    ', suffix: '' } };
/** A completion request with Tabby's token, another key, or (null) none. */
const completion = (s: RunningStandIn, key: string | null = TOKEN) => request(s.baseUrl, 'POST', '/v1/completions', { key: key ?? undefined, body: COMPLETION });

/** The seconds one call takes, with its answer. */
async function timed<T>(call: () => Promise<T>): Promise<{ seconds: number; answer: T }> {
  const start = process.hrtime.bigint();
  const answer = await call();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, answer };
}

describe('the AI stand-in as Tabby: /metrics and slow mode', () => {
  let tabby: RunningStandIn;

  beforeAll(async () => {
    tabby = await startStandIn('tabby');
  }, 40_000);
  afterAll(async () => {
    await tabby?.stop();
  }, 20_000);

  const requests = (samples: Sample[], labels: Record<string, string>) => valueOf(samples, 'ai_standin_requests_total', { role: 'tabby', ...labels }) ?? 0;
  const histogram = (samples: Sample[], suffix: '_count' | '_bucket', labels: Record<string, string>) =>
    valueOf(samples, `ai_standin_request_duration_seconds${suffix}`, { role: 'tabby', path: '/v1/completions', ...labels }) ?? 0;

  it('serves Prometheus text without a token (promtool finds no problem) while completions still need it', async () => {
    expect((await completion(tabby, null)).status).toBe(401);
    expect((await completion(tabby)).status).toBe(200);
    const answer = await request(tabby.baseUrl, 'GET', '/metrics');
    expect(answer.status).toBe(200);
    expect(promtoolCheck(answer.text)).toEqual({ status: 0, output: '' });
    expect(answer.text).toContain('# TYPE ai_standin_requests_total counter');
    expect(answer.text).toContain('# TYPE ai_standin_request_duration_seconds histogram');
  }, 30_000);

  it('counts each request by method, path and status, and times it in the histogram', async () => {
    const before = (await tabby.metrics()).samples;
    expect((await completion(tabby)).status).toBe(200);
    expect((await completion(tabby)).status).toBe(200);
    expect((await completion(tabby, 'wrong')).status).toBe(401);
    expect((await request(tabby.baseUrl, 'GET', '/v1/health')).status).toBe(200);
    const after = (await tabby.metrics()).samples;
    const delta = (labels: Record<string, string>) => requests(after, labels) - requests(before, labels);
    expect(delta({ method: 'POST', path: '/v1/completions', status: '200' })).toBe(2);
    expect(delta({ method: 'POST', path: '/v1/completions', status: '401' })).toBe(1);
    expect(delta({ method: 'GET', path: '/v1/health', status: '200' })).toBe(1);
    // The histogram holds every completion request (answered or refused): fast ones, below 0.25 s.
    expect(histogram(after, '_count', {}) - histogram(before, '_count', {})).toBe(3);
    expect(histogram(after, '_bucket', { le: '0.25' }) - histogram(before, '_bucket', { le: '0.25' })).toBe(3);
    expect(histogram(after, '_bucket', { le: '+Inf' })).toBe(histogram(after, '_count', {}));
  }, 30_000);

  it('counts paths it does not serve as "other", so random paths add no series', async () => {
    for (const p of ['/a', '/b/c', '/v1/completions/x']) expect((await request(tabby.baseUrl, 'GET', p)).status).toBe(404);
    const { samples } = await tabby.metrics();
    const paths = new Set(samples.filter((s) => s.name === 'ai_standin_requests_total').map((s) => s.labels.path));
    expect([...paths].sort()).toEqual(expect.arrayContaining(['other']));
    expect([...paths].filter((p) => !['/metrics', '/v1/completions', '/v1/events', '/v1/health', 'other'].includes(p))).toEqual([]);
    expect(requests(samples, { method: 'GET', path: 'other', status: '404' })).toBe(3);
  }, 30_000);

  it('answers completions slowly while the delay file holds milliseconds, health and metrics stay fast, and is fast again once it is gone', async () => {
    const before = (await tabby.metrics()).samples;
    fs.writeFileSync(tabby.delayFile, '400\n');
    try {
      expect(valueOf((await tabby.metrics()).samples, 'ai_standin_delay_seconds', { role: 'tabby' })).toBe(0.4);
      const slow = await timed(() => completion(tabby));
      expect(slow.answer.status).toBe(200);
      expect(slow.seconds).toBeGreaterThanOrEqual(0.4);
      // A refused request does no model work: it does not wait.
      const refused = await timed(() => completion(tabby, 'wrong'));
      expect(refused.answer.status).toBe(401);
      expect(refused.seconds).toBeLessThan(0.3);
      const health = await timed(() => request(tabby.baseUrl, 'GET', '/v1/health'));
      expect(health.seconds).toBeLessThan(0.3);
      const after = (await tabby.metrics()).samples;
      // The slow answer lies above 0.3 s and within 0.5 s... or above, on a loaded machine: never at or below 0.3.
      expect(histogram(after, '_count', {}) - histogram(before, '_count', {})).toBe(2);
      expect(histogram(after, '_bucket', { le: '0.3' }) - histogram(before, '_bucket', { le: '0.3' })).toBe(1);
    } finally {
      fs.rmSync(tabby.delayFile, { force: true });
    }
    expect(valueOf((await tabby.metrics()).samples, 'ai_standin_delay_seconds', { role: 'tabby' })).toBe(0);
    const fast = await timed(() => completion(tabby));
    expect(fast.answer.status).toBe(200);
    expect(fast.seconds).toBeLessThan(0.3);
  }, 30_000);

  it.each([
    ['not a number', 'slow'],
    ['a negative number', '-400'],
    ['over 60 s', '60001'],
    ['a fraction', '0.4'],
  ])('ignores a delay file holding %s', async (_what, content) => {
    fs.writeFileSync(tabby.delayFile, content);
    try {
      expect(valueOf((await tabby.metrics()).samples, 'ai_standin_delay_seconds', { role: 'tabby' })).toBe(0);
      const answer = await timed(() => completion(tabby));
      expect(answer.answer.status).toBe(200);
      expect(answer.seconds).toBeLessThan(0.3);
    } finally {
      fs.rmSync(tabby.delayFile, { force: true });
    }
  }, 30_000);
});

describe('the AI stand-in as vLLM: /metrics and slow mode', () => {
  let vllm: RunningStandIn;

  beforeAll(async () => {
    vllm = await startStandIn('vllm');
  }, 40_000);
  afterAll(async () => {
    await vllm?.stop();
  }, 20_000);

  const chat = (key: string | null = VLLM_KEY) =>
    request(vllm.baseUrl, 'POST', '/v1/chat/completions', { key: key ?? undefined, body: { model: 'served-chat', messages: [{ role: 'user', content: 'hi' }] } });

  it('serves /metrics without the key (as vLLM does) and counts chat completions; the delay file slows them', async () => {
    expect((await chat(null)).status).toBe(401);
    expect((await chat()).status).toBe(200);
    let { text, samples } = await vllm.metrics();
    expect(promtoolCheck(text)).toEqual({ status: 0, output: '' });
    expect(valueOf(samples, 'ai_standin_requests_total', { role: 'vllm', method: 'POST', path: '/v1/chat/completions', status: '200' })).toBe(1);
    expect(valueOf(samples, 'ai_standin_requests_total', { role: 'vllm', method: 'POST', path: '/v1/chat/completions', status: '401' })).toBe(1);
    fs.writeFileSync(vllm.delayFile, '300');
    try {
      const slow = await timed(() => chat());
      expect(slow.answer.status).toBe(200);
      expect(slow.seconds).toBeGreaterThanOrEqual(0.3);
      expect((await timed(() => request(vllm.baseUrl, 'GET', '/health'))).seconds).toBeLessThan(0.3);
    } finally {
      fs.rmSync(vllm.delayFile, { force: true });
    }
    ({ samples } = await vllm.metrics());
    expect(valueOf(samples, 'ai_standin_request_duration_seconds_count', { role: 'vllm', path: '/v1/chat/completions' })).toBe(3);
    expect(valueOf(samples, 'ai_standin_request_duration_seconds_bucket', { role: 'vllm', path: '/v1/chat/completions', le: '0.25' })).toBe(2);
  }, 30_000);
});
