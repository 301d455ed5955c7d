import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LITELLM_AUTH_HOOK, LITELLM_SECRET_ENV, litellmAuthHookInput, renderLitellmAuthHook, renderLitellmConfig } from '../../render/litellm';
import { freePort, spawnLogged, stopProcess, tail, waitUntilAnswers } from './processes';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const LITELLM_BIN = path.join(REPO_ROOT, '.work', 'litellm-venv', 'bin', 'litellm');
export const LITELLM_STARTUP_TIMEOUT_MS = 90_000;

export interface RunningLitellm {
  readonly baseUrl: string;
  readonly port: number;
  readonly logTail: () => string;
  readonly stop: () => Promise<void>;
}

/**
 * The real LiteLLM proxy (from `bash scripts/litellm-venv.sh`) on loopback, loading the
 * rendered config.yaml and auth hook from a scratch directory, as the container does
 * from /etc/litellm.
 */
export async function startLitellm(opts: {
  chatModelName: string;
  servedModelName: string;
  vllmApiBase: string;
  masterKey: string;
  gatewayKey: string;
  vllmKey: string;
  /** Prometheus /metrics/ (render/litellm.ts `metrics`). @default false */
  metrics?: boolean;
}): Promise<RunningLitellm> {
  if (!fs.existsSync(LITELLM_BIN)) {
    throw new Error(`LiteLLM is not installed at ${LITELLM_BIN}: run \`bash scripts/litellm-venv.sh\` first (CI does).`);
  }
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-litellm-'));
  const logPath = path.join(workDir, 'litellm.log');
  const configPath = path.join(workDir, 'config.yaml');
  fs.writeFileSync(
    configPath,
    renderLitellmConfig({ chatModelName: opts.chatModelName, servedModelName: opts.servedModelName, vllmApiBase: opts.vllmApiBase, logPrompts: false, metrics: opts.metrics }),
  );
  fs.writeFileSync(path.join(workDir, LITELLM_AUTH_HOOK.file), renderLitellmAuthHook(litellmAuthHookInput(opts.chatModelName)));

  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  // Another directory as the working directory: LiteLLM must find the hook beside the config, not in cwd.
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-litellm-cwd-'));
  const child: ChildProcess = spawnLogged(LITELLM_BIN, ['--config', configPath, '--host', '127.0.0.1', '--port', String(port)], {
    cwd,
    logPath,
    // A clean environment: nothing from the developer's shell (proxies, DATABASE_URL, keys) leaks in.
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: workDir,
      LANG: 'C.UTF-8',
      NO_PROXY: '127.0.0.1,localhost',
      no_proxy: '127.0.0.1,localhost',
      [LITELLM_SECRET_ENV.masterKey]: opts.masterKey,
      [LITELLM_SECRET_ENV.gatewayKey]: opts.gatewayKey,
      [LITELLM_SECRET_ENV.vllmApiKey]: opts.vllmKey,
      // Offline: no telemetry, no fetch of the remote model cost map at startup.
      LITELLM_TELEMETRY: 'False',
      LITELLM_LOCAL_MODEL_COST_MAP: 'True',
      DISABLE_ADMIN_UI: 'True',
    },
  });
  const stop = async () => {
    await stopProcess(child);
    fs.rmSync(workDir, { recursive: true, force: true });
    fs.rmSync(cwd, { recursive: true, force: true });
  };
  try {
    await waitUntilAnswers(`${baseUrl}/health/liveliness`, child, logPath, LITELLM_STARTUP_TIMEOUT_MS, 'LiteLLM');
  } catch (error) {
    await stop();
    throw error;
  }
  return { baseUrl, port, logTail: () => tail(logPath), stop };
}
