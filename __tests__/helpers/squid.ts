import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { exited, sleep, tail } from './processes';

/** Debian's Squid (5.7 on bookworm, as images/egress-proxy); `scripts/setup.sh` installs it. */
export function squidBinary(): string {
  for (const candidate of ['/usr/sbin/squid', '/usr/bin/squid']) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error('squid is not installed: run `apt-get install squid` (scripts/setup.sh does)');
}

/**
 * Squid runs as a non-root user, as in its container: when the tests run as root, as nobody
 * (65534), and the files it must write (pid directory, stdout and stderr files) are given to it.
 */
export const squidOwner = (): { uid?: number; gid?: number } => (process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {});

/** Gives `file` to the user Squid runs as (a no-op when the tests do not run as root). */
export function giveToSquid(file: string): void {
  const { uid, gid } = squidOwner();
  if (uid !== undefined && gid !== undefined) fs.chownSync(file, uid, gid);
}

/** `squid -k parse -f conf` as Squid's user: its exit status and output. */
export function squidParse(confPath: string): { status: number; output: string } {
  const result = spawnSync(squidBinary(), ['-k', 'parse', '-f', confPath], { encoding: 'utf8', timeout: 30_000, ...squidOwner() });
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

export interface RunningSquid {
  readonly child: ChildProcess;
  /** Squid's stdout: the access records (`access_log stdio:/dev/stdout`; Squid opens it with O_APPEND). */
  readonly stdoutPath: string;
  /** Squid's stderr: its own log (`cache_log /dev/stderr`). */
  readonly logPath: string;
}

/**
 * Runs the real Squid in the foreground (`squid -N -f conf`, detached: end it with stopProcess)
 * as its container does, stdout and stderr to files in `dir`, then waits (bounded) until it
 * accepts connections on `address:port`.
 */
export async function startSquid(dir: string, confPath: string, address: string, port: number): Promise<RunningSquid> {
  const stdoutPath = path.join(dir, 'squid.stdout');
  const logPath = path.join(dir, 'squid.stderr');
  const out = fs.openSync(stdoutPath, 'a');
  const err = fs.openSync(logPath, 'a');
  giveToSquid(stdoutPath);
  giveToSquid(logPath);
  const child = spawn(squidBinary(), ['-N', '-f', confPath], {
    cwd: dir,
    detached: true,
    stdio: ['ignore', out, err],
    env: { PATH: '/usr/sbin:/usr/bin:/bin', LANG: 'C' },
    ...squidOwner(),
  });
  fs.closeSync(out);
  fs.closeSync(err);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (exited(child)) throw new Error(`squid exited during startup (code ${child.exitCode}, signal ${child.signalCode}):\n${tail(logPath)}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: address, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return { child, stdoutPath, logPath };
    await sleep(100);
  }
  throw new Error(`squid did not listen on ${address}:${port} within 20 s:\n${tail(logPath)}`);
}

/** The JSON records Squid wrote to stdout so far (each line must parse). */
export function squidRecords(squid: RunningSquid): Record<string, unknown>[] {
  if (!fs.existsSync(squid.stdoutPath)) return [];
  return fs
    .readFileSync(squid.stdoutPath, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`squid wrote a record that is not JSON: ${line}`);
      }
    });
}

/** Polls Squid's records until one satisfies `match` (bounded); returns it. */
export async function waitForRecord(squid: RunningSquid, match: (r: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = squidRecords(squid).find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no such squid record within ${timeoutMs / 1000} s; it has:\n${fs.readFileSync(squid.stdoutPath, 'utf8')}\nsquid:\n${tail(squid.logPath)}`);
    await sleep(100);
  }
}
