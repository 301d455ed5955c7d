/**
 * The Swarm tier's handles on the lab (scripts/swarm/lab.sh): its nodes' engines and the running
 * tasks of services, shared by the tier's tests.
 */
import * as path from 'path';
import { mustRun, ROOT, run, sleep } from '../helpers/run';

export const LAB = path.join(ROOT, 'scripts', 'swarm', 'lab.sh');
export const NODES = ['swarm-m1', 'swarm-w1', 'swarm-w2'] as const;
export type NodeName = (typeof NODES)[number];
/** The DOCKER_HOST of a node's engine. */
export const engine = (node: NodeName) => mustRun('bash', [LAB, 'host', node]).trim();
/** The docker CLI against one node's engine (throws when it fails). */
export const on = (node: NodeName, ...args: string[]) => mustRun('docker', ['-H', engine(node), ...args]).trim();
export const manager = (...args: string[]) => on('swarm-m1', ...args);

/** Copies local images (the host engine's) into the lab registry; their references by digest, in order. */
export function pushToLab(...images: string[]): string[] {
  return mustRun('bash', [LAB, 'push', ...images], { timeout: 900_000 }).trim().split('\n').slice(-images.length);
}

/** The running container of a service's single task: on which node, and its id there. */
export function task(service: string): { node: NodeName; id: string } {
  for (const node of NODES) {
    const id = on(node, 'ps', '-q', '--filter', `label=com.docker.swarm.service.name=${service}`, '--filter', 'status=running');
    if (id) return { node, id: id.split('\n')[0] };
  }
  throw new Error(`no running task of ${service}`);
}

/** Waits (bounded) for a service's task to run, on `onNode` when given. */
export async function waitRunning(service: string, onNode?: NodeName, seconds = 60): Promise<{ node: NodeName; id: string }> {
  for (let i = 0; i < seconds * 2; i++) {
    try {
      const found = task(service);
      if (!onNode || found.node === onNode) return found;
    } catch {
      // not yet
    }
    await sleep(500);
  }
  throw new Error(`${service} is not running${onNode ? ` on ${onNode}` : ''} after ${seconds}s:\n${manager('service', 'ps', '--no-trunc', service)}`);
}

/** Runs a command in a service's running task; its output (stdout and stderr) and status. */
export function execIn(service: string, ...args: string[]): { out: string; status: number | null } {
  const { node, id } = task(service);
  const result = run('docker', ['-H', engine(node), 'exec', id, ...args], { timeout: 20_000 });
  return { out: result.out.trim(), status: result.status };
}
