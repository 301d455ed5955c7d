import * as fs from 'fs';
import * as path from 'path';
import { docker, run } from './harness';

/** What a TCP connection attempt from inside a container met. */
export type ProbeResult = 'connected' | 'refused' | 'timeout' | 'no-such-name' | 'unreachable' | string;

/**
 * A TCP connection attempt made by node inside the container (the IDE image has node; no
 * shell tools are assumed). Targets are the estate's own containers only.
 */
const CONNECT_JS = `
const net = require('net');
const [host, port] = process.argv.slice(1);
const socket = net.connect({ host, port: Number(port) });
const done = (r) => { console.log(r); socket.destroy(); process.exit(0); };
socket.setTimeout(3000, () => done('timeout'));
socket.on('connect', () => done('connected'));
socket.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' ? 'no-such-name' : e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH' ? 'unreachable' : e.code));
`;

export function connectFrom(container: string, host: string, port: number): ProbeResult {
  return run('docker', ['exec', container, 'node', '-e', CONNECT_JS, host, String(port)], { timeout: 20_000 }).out.trim();
}

/**
 * A name lookup by node inside the container (through the container's resolver, Docker's
 * embedded DNS): `resolved:<address>`, `no-such-name`, or `no-answer` within 3 s.
 */
const LOOKUP_JS = `
const dns = require('dns');
const timer = setTimeout(() => { console.log('no-answer'); process.exit(0); }, 3000);
dns.lookup(process.argv[1], { family: 4 }, (err, address) => {
  clearTimeout(timer);
  console.log(err ? (err.code === 'ENOTFOUND' ? 'no-such-name' : err.code) : 'resolved:' + address);
});
`;

export function lookupFrom(container: string, name: string): string {
  return run('docker', ['exec', container, 'node', '-e', LOOKUP_JS, name], { timeout: 20_000 }).out.trim();
}

/** An HTTP request made by node inside the container; returns status and body. */
const HTTP_JS = `
const [url, method, body] = process.argv.slice(1);
fetch(url, { method, headers: body ? { 'Content-Type': 'application/json' } : {}, body: body || undefined, signal: AbortSignal.timeout(20000) })
  .then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })))
  .catch((e) => console.log(JSON.stringify({ status: 0, body: String(e.cause?.code ?? e) })));
`;

export function httpFrom(container: string, url: string, method = 'GET', body = ''): { status: number; body: string } {
  const out = run('docker', ['exec', container, 'node', '-e', HTTP_JS, url, method, body], { timeout: 40_000 }).out.trim();
  try {
    return JSON.parse(out.split('\n').pop() ?? '') as { status: number; body: string };
  } catch {
    return { status: -1, body: out };
  }
}

/** The container's IPv4 routes, as `<destination>/<prefix> via <gateway>` or `<net>/<prefix> direct`, sorted. */
export function routes(container: string): string[] {
  const hexIp = (hex: string) => hex.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join('.');
  const prefix = (hexMask: string) => parseInt(hexMask, 16).toString(2).split('1').length - 1;
  return docker('exec', container, 'cat', '/proc/net/route')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols.length >= 8)
    .map(([, dest, gateway, , , , , mask]) => `${hexIp(dest)}/${prefix(mask)} ${gateway === '00000000' ? 'direct' : `via ${hexIp(gateway)}`}`)
    .sort();
}

/** Addresses of a container on each of its networks. */
export function addresses(container: string): Record<string, string> {
  const json = docker('inspect', '-f', '{{json .NetworkSettings.Networks}}', container);
  const networks = JSON.parse(json) as Record<string, { IPAddress: string }>;
  return Object.fromEntries(Object.entries(networks).map(([name, n]) => [name, n.IPAddress]));
}

/** What the kernel says about a container's main process, read from the host's /proc and cgroup files. */
export interface ProcessFacts {
  /** Real, effective, saved and filesystem uid. */
  readonly uids: string;
  /** Effective capability set, hex. */
  readonly capEff: string;
  /** Mount options of its root filesystem (`ro` first when read-only). */
  readonly rootMount: string;
  /** pids.max of its cgroup. */
  readonly pidsMax: string;
}

export function processFacts(container: string): ProcessFacts {
  const pid = docker('inspect', '-f', '{{.State.Pid}}', container);
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1].trim().replace(/\s+/g, ' ') ?? '';
  // mountinfo: id parent major:minor root mount-point options …
  const root = fs
    .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .find((cols) => cols[4] === '/');
  return { uids: field('Uid'), capEff: field('CapEff'), rootMount: root?.[5] ?? '', pidsMax: pidsMaxOf(pid) };
}

/** pids.max of a process's cgroup (cgroup v1 `pids` controller or the v2 unified tree). */
function pidsMaxOf(pid: string): string {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.map((l) => l.split(':')).find(([, controllers]) => controllers.split(',').includes('pids'));
  const file = v1 ? path.join('/sys/fs/cgroup/pids', v1[2], 'pids.max') : path.join('/sys/fs/cgroup', lines.find((l) => l.startsWith('0::'))!.slice(3), 'pids.max');
  return fs.readFileSync(file, 'utf8').trim();
}

/**
 * A DNS query for an A record sent by node (c-ares) straight to the container's configured
 * resolver: `resolved:<addresses>` or the resolver's answer as an error code (ESERVFAIL,
 * ENOTFOUND, EREFUSED, ETIMEOUT …). Nothing but the resolver is contacted.
 */
const RESOLVE_JS = `
const dns = require('dns');
const resolver = new dns.Resolver({ timeout: 2000, tries: 1 });
resolver.resolve4(process.argv[1], (err, addresses) => console.log(err ? err.code : 'resolved:' + addresses.join(',')));
`;

export function resolveFrom(container: string, name: string): string {
  return run('docker', ['exec', container, 'node', '-e', RESOLVE_JS, name], { timeout: 20_000 }).out.trim();
}
