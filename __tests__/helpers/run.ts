import { spawnSync, SpawnSyncOptions } from 'child_process';
import * as path from 'path';

export const ROOT = path.join(__dirname, '..', '..');

/** Runs a TypeScript entry point of this repo the way npm scripts do; returns status and output. */
export function runTs(script: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(ROOT, script), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs a command; returns status and output. Never a shell. */
export function run(command: string, args: string[], options: SpawnSyncOptions = {}): { status: number | null; out: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024, ...options });
  return { status: result.status, out: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

export function mustRun(command: string, args: string[], options: SpawnSyncOptions = {}): string {
  const result = run(command, args, options);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}):\n${result.out}`);
  return result.out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
