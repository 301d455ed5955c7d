import { ChildProcess, execFileSync, spawnSync } from 'child_process';
import * as dgram from 'dgram';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { freePorts, spawnLogged } from './processes';

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

/** Per-user AI limits for tests that do not test them: high enough never to be reached. */
export const UNREACHED_AI_LIMITS = { chat: { perMinute: 6000, burst: 1000 }, completion: { perMinute: 6000, burst: 1000 } } as const;

/**
 * The AI gateway's user map in a sandbox, as the workspace links write it in production: one
 * `<address>.conf` per address (`"<address>" <username>;`). Returns the glob nginx includes.
 */
export function gatewayUsers(sandboxDir: string, users: Readonly<Record<string, string>>): string {
  const dir = path.join(sandboxDir, 'gateway-users');
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const [address, username] of Object.entries(users)) fs.writeFileSync(path.join(dir, `${address}.conf`), `"${address}" ${username};\n`, { mode: 0o644 });
  return path.join(dir, '*.conf');
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
 * The rendered nginx.conf with every listener moved to loopback on a port of the caller's
 * choosing (`from → to`), and the internal 127.0.0.1 references with them, so the real file
 * can run next to other tests without touching a public address. A wildcard listener
 * (`listen 8081`) goes to 127.0.0.1; each fixed address to its loopback stand-in in
 * `addresses` (default: LOOPBACK_STAND_INS, by order of first appearance), so servers that
 * tell addresses apart still do. Throws when a listener is left unmapped, so a change to the
 * rendered listeners shows here.
 */
export function onLoopback(conf: string, ports: ReadonlyMap<number, number>, addresses: ReadonlyMap<string, string> = fixedAddressStandIns(conf)): string {
  let out = conf;
  for (const [from, to] of ports) {
    out = out.replace(new RegExp(`listen (127\\.0\\.0\\.1:)?${from}\\b`, 'g'), `listen 127.0.0.1:${to}`);
    out = out.replace(new RegExp(`127\\.0\\.0\\.1:${from}\\b`, 'g'), `127.0.0.1:${to}`);
    for (const [address, standIn] of addresses) {
      out = out.replace(new RegExp(`listen ${address.replace(/\./g, '\\.')}:${from}\\b`, 'g'), `listen ${standIn}:${to}`);
    }
  }
  const loopbackPorts = [...ports.values()];
  const listeners = [...out.matchAll(/^\s*listen ([^;]+);/gm)].map((m) => m[1]);
  const stray = listeners.filter((l) => {
    const m = /^(127\.\d+\.\d+\.\d+):(\d+)( |$)/.exec(l);
    return !m || !loopbackPorts.includes(Number(m[2]));
  });
  if (stray.length > 0) throw new Error(`onLoopback: listeners not moved to loopback: ${stray.join(', ')}`);
  return out;
}

/** Loopback addresses that stand in for nginx's fixed addresses (Linux routes all of 127/8 to lo). */
export const LOOPBACK_STAND_INS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];

/** The fixed (non-loopback) listen addresses of a rendered nginx.conf, each with its loopback stand-in. */
export function fixedAddressStandIns(conf: string): Map<string, string> {
  const fixed = [...new Set([...conf.matchAll(/^\s*listen (\d+\.\d+\.\d+\.\d+):\d+/gm)].map((m) => m[1]).filter((a) => !a.startsWith('127.')))];
  if (fixed.length > LOOPBACK_STAND_INS.length) throw new Error(`onLoopback: more fixed addresses than stand-ins: ${fixed.join(', ')}`);
  return new Map(fixed.map((address, i) => [address, LOOPBACK_STAND_INS[i]]));
}

/** The listen ports of a rendered nginx.conf (for onLoopback). */
export function listenPorts(conf: string): number[] {
  return [...new Set([...conf.matchAll(/^\s*listen (?:\d+\.\d+\.\d+\.\d+:)?(\d+)/gm)].map((m) => Number(m[1])))].sort((a, b) => a - b);
}

/** Each listen port of a rendered nginx.conf mapped to its own free loopback port (distinct, so no two listeners collide). */
export async function loopbackPortsFor(conf: string): Promise<Map<number, number>> {
  const rendered = listenPorts(conf);
  const free = await freePorts(rendered.length);
  return new Map(rendered.map((port, i) => [port, free[i]]));
}

/**
 * A stand-in for Docker's embedded DNS (not a DNS server): answers every A query with
 * 127.0.0.1, so the rendered config's per-request name lookups (IDE containers, services)
 * reach loopback stand-ins. Point the config at it with withResolver.
 */
export function startDnsStandIn(): Promise<{ port: number; queries: string[]; close: () => Promise<void> }> {
  const socket = dgram.createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (query, peer) => {
    // Header (12 bytes), then one question: labels, a zero byte, type and class.
    let offset = 12;
    const labels: string[] = [];
    while (offset < query.length && query[offset] !== 0) {
      labels.push(query.subarray(offset + 1, offset + 1 + query[offset]).toString('ascii'));
      offset += query[offset] + 1;
    }
    const questionEnd = offset + 5;
    queries.push(labels.join('.'));
    const isA = query.readUInt16BE(offset + 1) === 1;
    const header = Buffer.from(query.subarray(0, 12));
    header.writeUInt16BE(0x8180, 2); // a response, recursion available, no error
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(isA ? 1 : 0, 6);
    header.writeUInt32BE(0, 8);
    // The answer: a pointer to the question's name, type A, class IN, TTL 10 s, 127.0.0.1.
    const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 10, 0, 4, 127, 0, 0, 1]);
    socket.send(Buffer.concat([header, query.subarray(12, questionEnd), ...(isA ? [answer] : [])]), peer.port, peer.address);
  });
  return new Promise((resolve) => {
    socket.bind(0, '127.0.0.1', () =>
      resolve({ port: socket.address().port, queries, close: () => new Promise<void>((done) => socket.close(() => done())) }),
    );
  });
}

/** The rendered config with Docker's DNS (127.0.0.11) replaced by a stand-in on loopback. */
export function withResolver(conf: string, port: number): string {
  if (!conf.includes('resolver 127.0.0.11 ')) throw new Error('withResolver: the config no longer names Docker DNS');
  return conf.replace('resolver 127.0.0.11 ', `resolver 127.0.0.1:${port} `);
}

/**
 * Writes `conf` into the sandbox, checks it with the real `nginx -t` and starts the real nginx
 * on it in the foreground (end it with stopProcess). Throws with nginx's output when the check fails.
 */
export function startNginx(sandboxDir: string, conf: string): { nginx: ChildProcess; logPath: string } {
  const confPath = path.join(sandboxDir, 'nginx.conf');
  fs.writeFileSync(confPath, conf);
  const check = nginxTest(confPath, sandboxDir);
  if (check.status !== 0) throw new Error(`nginx -t failed:\n${check.output}`);
  const logPath = path.join(sandboxDir, 'nginx.log');
  const nginx = spawnLogged(nginxBinary(), ['-e', 'stderr', '-p', sandboxDir, '-c', confPath, '-g', `daemon off; pid ${sandboxDir}/nginx.pid;`], {
    cwd: sandboxDir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    logPath,
  });
  return { nginx, logPath };
}
