import { spawnSync } from 'child_process';

/** The docker CLI against one engine: exit status and output (stdout and stderr), never a throw. */
export type Docker = (...args: string[]) => { status: number; out: string };

/** The docker CLI against the swarm's manager (the estate's `dockerHost`), each call bounded. */
export function managerDocker(host: string, timeoutMs = 120_000): Docker {
  return (...args) => {
    const result = spawnSync('docker', ['-H', host, ...args], { encoding: 'utf8', timeout: timeoutMs });
    return { status: result.status ?? 1, out: `${result.stdout ?? ''}${result.stderr ?? ''}` };
  };
}
