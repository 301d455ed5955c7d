import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** Debian's nginx binary; `.ci/run` installs it, so the real check never skips in CI. */
export function nginxBinary(): string {
  for (const candidate of ['/usr/sbin/nginx', '/usr/bin/nginx']) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error('nginx is not installed: run `apt-get install nginx-light` (the .ci/run script does)');
}

/** A scratch directory with a self-signed certificate, for running the real nginx against a rendered config. */
export function nginxSandbox(): { dir: string; cert: string; key: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-nginx-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=ide.test.example', '-keyout', key, '-out', cert], { stdio: 'pipe' });
  return { dir, cert, key };
}

/** Runs `nginx -t` on a config file; returns nginx's exit status and its output. */
export function nginxTest(confPath: string, prefix: string): { status: number; output: string } {
  // A file, not a pipe: node's pipes are sockets, which nginx cannot open as /dev/stdout.
  const logPath = path.join(prefix, 'nginx-t.log');
  const log = fs.openSync(logPath, 'w');
  const result = spawnSync(nginxBinary(), ['-t', '-e', 'stderr', '-p', prefix, '-c', confPath, '-g', `pid ${prefix}/nginx.pid;`], {
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  return { status: result.status ?? -1, output: fs.readFileSync(logPath, 'utf8') };
}

/**
 * The rendered nginx.conf with every listener moved to 127.0.0.1 on a port of the
 * caller's choosing (`from → to`), and the internal 127.0.0.1 references with them, so
 * the real file can run next to other tests without touching a public address. Throws
 * when a listener is left unmapped, so a change to the rendered listeners shows here.
 */
export function onLoopback(conf: string, ports: ReadonlyMap<number, number>): string {
  let out = conf;
  for (const [from, to] of ports) {
    out = out.replace(new RegExp(`listen (127\\.0\\.0\\.1:)?${from}\\b`, 'g'), `listen 127.0.0.1:${to}`);
    out = out.replace(new RegExp(`127\\.0\\.0\\.1:${from}\\b`, 'g'), `127.0.0.1:${to}`);
  }
  const listeners = [...out.matchAll(/^\s*listen ([^;]+);/gm)].map((m) => m[1]);
  const stray = listeners.filter((l) => !/^127\.0\.0\.1:\d+( |$)/.test(l) || ![...ports.values()].includes(Number(/^127\.0\.0\.1:(\d+)/.exec(l)?.[1])));
  if (stray.length > 0) throw new Error(`onLoopback: listeners not moved to loopback: ${stray.join(', ')}`);
  return out;
}

/** The listen ports of a rendered nginx.conf (for onLoopback). */
export function listenPorts(conf: string): number[] {
  return [...new Set([...conf.matchAll(/^\s*listen (?:127\.0\.0\.1:)?(\d+)/gm)].map((m) => Number(m[1])))].sort((a, b) => a - b);
}
