import { execFile, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { AUDIT_SOURCES, renderRsyslogConf } from '../../render/audit-sink';
import {
  EGRESS_ALWAYS_DENIED_CIDRS,
  EGRESS_AUDIT_TAG,
  EGRESS_ERROR_PAGES,
  EGRESS_LOG_FIELDS,
  EGRESS_PROXY_PATHS,
  EGRESS_PROXY_UID,
  EGRESS_REFUSAL_HEADER,
  renderSquidConf,
  SQUID_USER_MAP_SHELL,
  SquidConfInput,
  squidUserMapEntry,
  squidUserMapUnlinked,
} from '../../render/egress-proxy';
import { freePort, sleep, stopProcess } from '../helpers/processes';
import { RunningRsyslogd, startRsyslogd, testCa, utcDay, waitForLines } from '../helpers/rsyslog';
import { ROOT } from '../helpers/run';
import { giveToSquid, RunningSquid, squidBinary, squidParse, squidRecords, startSquid, waitForRecord } from '../helpers/squid';

const IMAGE_DIR = path.join(ROOT, 'images', 'egress-proxy');
/** Squid's own English error pages (Debian's squid-langpack); the image copies them as the sandbox does. */
const SQUID_TEMPLATES = '/usr/share/squid/errors/templates';

const made: string[] = [];
afterAll(() => made.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
/** A temporary directory Squid's user (nobody, when the tests run as root) can read. */
function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `webide-egress-${prefix}-`));
  fs.chmodSync(dir, 0o755);
  made.push(dir);
  return dir;
}

/**
 * A sandbox laid out as the container is: error pages and base.d/ from images/egress-proxy, an
 * empty users.d/ beside base.d/, the pid file's directory writable by Squid's user only.
 */
function sandbox(prefix: string) {
  const dir = tempDir(prefix);
  // The error directory as the image builds it: Squid's English templates, then the estate's pages.
  const errors = path.join(dir, 'errors');
  fs.mkdirSync(errors);
  for (const name of fs.readdirSync(SQUID_TEMPLATES).filter((n) => n.startsWith('ERR_'))) fs.copyFileSync(path.join(SQUID_TEMPLATES, name), path.join(errors, name));
  fs.cpSync(path.join(IMAGE_DIR, 'errors'), errors, { recursive: true });
  const map = path.join(dir, 'map');
  fs.cpSync(path.join(IMAGE_DIR, 'base.d'), path.join(map, 'base.d'), { recursive: true });
  const usersDir = path.join(map, 'users.d');
  fs.mkdirSync(usersDir, { mode: 0o755 });
  const run = path.join(dir, 'run');
  fs.mkdirSync(run, { mode: 0o755 });
  giveToSquid(run);
  for (const p of [errors, map, path.join(map, 'base.d')]) fs.chmodSync(p, 0o755);
  return {
    dir,
    usersDir,
    paths: { usersInclude: path.join(map, '*.d', '*.conf'), errorDirectory: errors, pidFile: path.join(run, 'squid.pid') },
    write(name: string, text: string): string {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text, { mode: 0o644 });
      return file;
    },
  };
}

/** Every file under `dir`, relative, sorted. */
function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

/** A user file as the estate writes it: the documented printf, run by a POSIX shell. */
function writeUserFile(usersDir: string, ip: string, text: { username: string } | 'unlinked'): void {
  const command = text === 'unlinked' ? SQUID_USER_MAP_SHELL.unlinked : SQUID_USER_MAP_SHELL.entry;
  const result = spawnSync('sh', ['-c', command], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', ip, USERNAME: text === 'unlinked' ? '' : text.username } });
  if (result.status !== 0) throw new Error(`sh -c ${command} failed: ${result.stderr}`);
  fs.writeFileSync(path.join(usersDir, `${ip}.conf`), result.stdout, { mode: 0o644 });
}

const DESTINATIONS = [
  { host: 'npm.bank.internal', port: 443 },
  { host: 'git.bank.internal', port: 443 },
  { host: 'git.bank.internal', port: 8443 },
  { host: 'pypi.bank.internal', port: 443 },
  { host: 'git.bank.internal', port: 443 },
];
const BASE: SquidConfInput = { destinations: DESTINATIONS, deniedCidrs: ['10.202.0.0/24', '10.201.0.0/16'], audit: { address: '10.202.0.61', port: 5514 } };

/** The statements of a rendered config without its comments and blank lines. */
const statements = (conf: string) => conf.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));

describe('renderSquidConf', () => {
  const conf = renderSquidConf(BASE);

  it('listens on 3128 on every address, as egress-proxy, the pid file in /run/squid', () => {
    expect(statements(conf).filter((l) => l.startsWith('http_port'))).toEqual(['http_port 3128']);
    expect(conf).toContain('\nvisible_hostname egress-proxy\n');
    expect(conf).toContain(`\npid_filename ${EGRESS_PROXY_PATHS.pidFile}\n`);
    expect(EGRESS_PROXY_PATHS.pidFile.startsWith(`${EGRESS_PROXY_PATHS.runDir}/`)).toBe(true);
    expect(renderSquidConf({ ...BASE, port: 13128, listenAddresses: ['127.0.0.3', '127.0.0.2'] })).toContain('\nhttp_port 127.0.0.2:13128\nhttp_port 127.0.0.3:13128\n');
  });

  it('allows exactly the declared host:port pairs, CONNECT or plain http, grouped by port, sorted, once each', () => {
    expect(statements(conf).filter((l) => /^acl webide-(to|port|declared)/.test(l))).toEqual([
      'acl webide-declared dstdomain -n git.bank.internal npm.bank.internal pypi.bank.internal',
      'acl webide-port-443 port 443',
      'acl webide-to-443 dstdomain -n git.bank.internal npm.bank.internal pypi.bank.internal',
      'acl webide-port-8443 port 8443',
      'acl webide-to-8443 dstdomain -n git.bank.internal',
    ]);
    expect(statements(conf).filter((l) => l.startsWith('http_access'))).toEqual([
      'http_access deny !webide-users webide-no-user',
      'http_access deny webide-declared webide-denied-dst webide-denied-address',
      'http_access allow webide-connect webide-port-443 webide-to-443',
      'http_access allow webide-http webide-port-443 webide-to-443',
      'http_access allow webide-connect webide-port-8443 webide-to-8443',
      'http_access allow webide-http webide-port-8443 webide-to-8443',
      'http_access deny webide-not-allowed',
    ]);
  });

  it('refuses the estate\'s own subnets besides loopback, link-local and multicast, whatever a declared name resolves to', () => {
    const line = statements(conf).find((l) => l.startsWith('acl webide-denied-dst dst '));
    const ranges = line!.split(' ').slice(3);
    expect(ranges).toEqual([...ranges].sort());
    expect(ranges).toEqual(expect.arrayContaining(['10.202.0.0/24', '10.201.0.0/16', '127.0.0.0/8', '169.254.0.0/16', '::1/128', 'fe80::/10']));
    expect(ranges).toHaveLength(EGRESS_ALWAYS_DENIED_CIDRS.length + 2);
  });

  it('caches nothing and adds no Via or X-Forwarded-For', () => {
    expect(conf).not.toMatch(/^cache_dir/m);
    for (const line of ['cache deny all', 'cache_mem 0 MB', 'via off', 'forwarded_for delete']) expect(statements(conf)).toContain(line);
  });

  it('maps users through the include, with webide-users defined before it so that no users is a valid config', () => {
    const lines = statements(conf);
    expect(lines.indexOf('acl webide-users localip 255.255.255.255/32')).toBeLessThan(lines.indexOf(`include ${EGRESS_PROXY_PATHS.usersInclude}`));
    expect(lines.indexOf(`include ${EGRESS_PROXY_PATHS.usersInclude}`)).toBeGreaterThan(-1);
  });

  it('the include glob matches the image\'s base.d file beside the users directory', () => {
    expect(EGRESS_PROXY_PATHS.usersInclude).toBe(`${path.dirname(EGRESS_PROXY_PATHS.usersDir)}/*.d/*.conf`);
    expect(fs.readdirSync(path.join(IMAGE_DIR, 'base.d'))).toEqual(['000-no-users.conf']);
    expect(EGRESS_PROXY_PATHS.usersDir.endsWith('.d')).toBe(true);
  });

  it('has an error page in images/egress-proxy/errors for each refusal, each named by its deny_info', () => {
    expect(fs.readdirSync(path.join(IMAGE_DIR, 'errors')).sort()).toEqual(Object.values(EGRESS_ERROR_PAGES).sort());
    expect(statements(conf).filter((l) => l.startsWith('deny_info'))).toEqual([
      `deny_info ${EGRESS_ERROR_PAGES.noUser} webide-no-user`,
      `deny_info ${EGRESS_ERROR_PAGES.deniedAddress} webide-denied-address`,
      `deny_info ${EGRESS_ERROR_PAGES.notAllowed} webide-not-allowed`,
    ]);
    expect(conf).toContain(`\nerror_directory ${EGRESS_PROXY_PATHS.errorDir}\n`);
  });

  it('logs one JSON object per request to stdout and, with the RFC 3164 header and tag squid, to the sink over UDP', () => {
    const json = `{${EGRESS_LOG_FIELDS.map((f) => (f.quoted ? `"${f.key}":"${f.code}"` : `"${f.key}":${f.code}`)).join(',')}}`;
    expect(statements(conf)).toEqual(
      expect.arrayContaining([
        `logformat webide-json ${json}`,
        `logformat webide-syslog <166>%{%b %e %H:%M:%S}tg squid: ${json}`,
        'access_log stdio:/dev/stdout logformat=webide-json',
        'access_log udp://10.202.0.61:5514 logformat=webide-syslog buffer-size=0bytes',
      ]),
    );
    expect(EGRESS_LOG_FIELDS.map((f) => f.key)).toEqual(
      expect.arrayContaining(['time', 'user', 'client', 'local', 'method', 'host', 'port', 'url', 'status', 'result', 'bytes_to_client']),
    );
    expect(statements(renderSquidConf({ ...BASE, audit: undefined })).filter((l) => l.startsWith('access_log'))).toEqual(['access_log stdio:/dev/stdout logformat=webide-json']);
  });

  it('the sink files the tag under source squid', () => {
    expect(AUDIT_SOURCES).toContainEqual({ tag: EGRESS_AUDIT_TAG, source: 'squid' });
  });

  it('is deterministic and does not depend on the order of destinations or denied ranges', () => {
    const shuffled: SquidConfInput = { ...BASE, destinations: [...DESTINATIONS].reverse(), deniedCidrs: [...BASE.deniedCidrs].reverse() };
    expect(renderSquidConf(BASE)).toBe(conf);
    expect(renderSquidConf(shuffled)).toBe(conf);
  });

  it('with no destinations, refuses everything (and still loads)', () => {
    const none = renderSquidConf({ ...BASE, destinations: [] });
    expect(statements(none).filter((l) => l.startsWith('http_access'))).toEqual(['http_access deny !webide-users webide-no-user', 'http_access deny webide-not-allowed']);
  });

  it.each<[string, Partial<SquidConfInput>, RegExp]>([
    ['an IPv4 literal destination', { destinations: [{ host: '10.1.2.3', port: 443 }] }, /"10\.1\.2\.3" is an IP address/],
    ['an IPv6 literal destination', { destinations: [{ host: '[fe80::1]', port: 443 }] }, /is an IP address/],
    ['a wildcard', { destinations: [{ host: '*.bank.internal', port: 443 }] }, /"\*\.bank\.internal" is not a lower-case DNS name/],
    ['an upper-case name', { destinations: [{ host: 'Git.bank.internal', port: 443 }] }, /not a lower-case DNS name/],
    ['a leading dot (a domain, not a host)', { destinations: [{ host: '.bank.internal', port: 443 }] }, /not a lower-case DNS name/],
    ['port 0', { destinations: [{ host: 'git.bank.internal', port: 0 }] }, /port of git\.bank\.internal 0 is not a port/],
    ['a denied range that is not a CIDR', { deniedCidrs: ['10.0.0.0/33'] }, /"10\.0\.0\.0\/33" is not an IPv4 or IPv6 CIDR/],
    ['a listen address that is a name', { listenAddresses: ['localhost'] }, /listen address "localhost"/],
    ['an audit address that is a name', { audit: { address: 'audit', port: 5514 } }, /audit\.address "audit"/],
    ['a pid file path with a space', { pidFile: '/run/squid/a b.pid' }, /pidFile/],
    ['no denied ranges at all', { alwaysDeniedCidrs: [], deniedCidrs: [] }, /no denied ranges/],
  ])('refuses %s, naming it', (_what, change, message) => {
    expect(() => renderSquidConf({ ...BASE, ...change })).toThrow(message);
  });
});

describe('the user map files', () => {
  it('one user: three lines that add the address to webide-users and map it to the user', () => {
    expect(squidUserMapEntry('10.210.3.2', 'alice')).toBe(
      'acl webide-users localip 10.210.3.2\nacl webide-at-10.210.3.2 localip 10.210.3.2\nnote webide-user alice webide-at-10.210.3.2\n',
    );
  });

  it('unlinked: one comment line, so the address is unknown again', () => {
    expect(squidUserMapUnlinked('10.210.3.2')).toBe('# 10.210.3.2: unlinked\n');
  });

  it('a POSIX shell\'s printf (SQUID_USER_MAP_SHELL) writes exactly these texts', () => {
    for (const shell of ['sh', 'bash']) {
      const run = (command: string) => spawnSync(shell, ['-c', command], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', ip: '10.210.3.2', USERNAME: 'bob-2' } });
      expect(run(SQUID_USER_MAP_SHELL.entry).stdout).toBe(squidUserMapEntry('10.210.3.2', 'bob-2'));
      expect(run(SQUID_USER_MAP_SHELL.unlinked).stdout).toBe(squidUserMapUnlinked('10.210.3.2'));
    }
  });

  it.each([
    ['10.210.3', 'alice', /address "10\.210\.3"/],
    ['10.210.3.2', 'Alice', /username "Alice"/],
    ['10.210.3.2', 'alice bob', /username "alice bob"/],
    ['10.210.3.2', 'a"b', /username/],
  ])('refuses %s / %s', (address, username, message) => {
    expect(() => squidUserMapEntry(address, username)).toThrow(message);
  });
});

describe('squid -k parse (the real Squid 5.7) accepts the rendered config', () => {
  it('as the container gets it, with users, with none, and with an unlinked one', () => {
    const box = sandbox('parse');
    const confPath = box.write('squid.conf', renderSquidConf({ ...BASE, ...box.paths }));
    const none = squidParse(confPath);
    expect(none.output).not.toMatch(/FATAL|ERROR|WARNING: failed/);
    expect(none.status).toBe(0);
    writeUserFile(box.usersDir, '10.210.3.2', { username: 'alice' });
    writeUserFile(box.usersDir, '10.210.4.2', 'unlinked');
    const some = squidParse(confPath);
    expect(some.output).toContain('note webide-user alice webide-at-10.210.3.2');
    expect(some.status).toBe(0);
    const noDestinations = squidParse(box.write('none.conf', renderSquidConf({ ...BASE, ...box.paths, destinations: [] })));
    expect(noDestinations.status).toBe(0);
  });

  it('the image pins SQUID_VERSION to the Squid these tests run (images/egress-proxy checks it at build)', () => {
    const pinned = /^SQUID_VERSION=(\S+)/m.exec(fs.readFileSync(path.join(ROOT, 'scripts/docker/build-images.sh'), 'utf8'))?.[1];
    const installed = /^Squid Cache: Version (\S+)$/m.exec(spawnSync(squidBinary(), ['-v'], { encoding: 'utf8' }).stdout)?.[1];
    expect(pinned).toMatch(/^\d+\.\d+/);
    expect(installed).toBe(pinned);
  });

  it('the image runs `squid -N -f <conf>` as EGRESS_PROXY_UID, with the directories EGRESS_PROXY_PATHS names', () => {
    const dockerfile = fs.readFileSync(path.join(IMAGE_DIR, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`USER ${EGRESS_PROXY_UID}:${EGRESS_PROXY_UID}`);
    expect(dockerfile).toContain(`ENTRYPOINT ["/usr/sbin/squid", "-N", "-f", "${EGRESS_PROXY_PATHS.conf}"]`);
    expect(dockerfile).toContain(`COPY errors/ ${EGRESS_PROXY_PATHS.errorDir}/`);
    expect(dockerfile).toContain(`COPY base.d/000-no-users.conf ${path.dirname(EGRESS_PROXY_PATHS.usersDir)}/base.d/000-no-users.conf`);
    expect(dockerfile).toContain(` ${EGRESS_PROXY_PATHS.usersDir} `);
    expect(dockerfile).toContain(`install -d -m 1777 ${EGRESS_PROXY_PATHS.runDir}`);
  });

  it('(the check can fail: an include that matches no file is fatal, which base.d/ prevents)', () => {
    const box = sandbox('parse-empty');
    const result = squidParse(box.write('squid.conf', renderSquidConf({ ...BASE, ...box.paths, usersInclude: path.join(box.usersDir, '*.conf') })));
    expect(result.output).toMatch(/Unable to find configuration file/);
    expect(result.status).not.toBe(0);
  });
});

// -------------------------------------------------------------------------------------------
// The real Squid on the rendered config, on loopback: it listens on 127.0.0.1-4 (all of 127/8
// is local); 127.0.0.2 stands for its address on alice's network, 127.0.0.3 for bob's, and
// 127.0.0.1 and 127.0.0.4 are addresses no user file names. A hosts file maps the declared
// names to this test's servers on 127.0.0.1 (so the always-denied list here lacks 127.0.0.0/8),
// one name into a denied range, one to the link-local metadata address. Its records go to the
// real rsyslogd with the audit sink's rendered config. Clients are the real curl.
// -------------------------------------------------------------------------------------------

const ALICE = '127.0.0.2';
const BOB = '127.0.0.3';
const NOBODY = '127.0.0.4';

interface Curl {
  code: number;
  stdout: string;
  stderr: string;
}

/** curl through the proxy at `proxyAddress`, asynchronously (the servers it reaches run in this process). */
function curl(proxyAddress: string, proxyPort: number, args: string[]): Promise<Curl> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', '--noproxy', '', '--proxy', `http://${proxyAddress}:${proxyPort}`, ...args], { encoding: 'utf8', timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

/** A raw request line sent to the proxy; the status line of its answer. */
function rawRequest(proxyAddress: string, proxyPort: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: proxyAddress, port: proxyPort }, () => socket.write(text));
    let answer = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) {
        socket.destroy();
        resolve(answer.split('\r\n')[0]);
      }
    });
    socket.on('error', reject);
  });
}

describe('the real Squid with the rendered config', () => {
  let box: ReturnType<typeof sandbox>;
  let proxyPort = 0;
  let tlsPort = 0;
  let httpPort = 0;
  let caCert = '';
  let squid: RunningSquid | undefined;
  let sink: RunningRsyslogd | undefined;
  let sinkLogDir = '';
  let tlsServer: https.Server | undefined;
  let httpServer: http.Server | undefined;
  const seenByHttp: http.IncomingHttpHeaders[] = [];
  const seenUrls: string[] = [];
  let before: string[] = [];

  beforeAll(async () => {
    box = sandbox('run');
    const ca = testCa(path.join(box.dir, 'ca'), 'egress');
    caCert = ca.cert;
    const issued = ca.issue('git.bank.internal');
    tlsServer = https.createServer({ cert: fs.readFileSync(issued.cert), key: fs.readFileSync(issued.key) }, (_req, res) => res.end('hello from git\n'));
    httpServer = http.createServer((req, res) => {
      seenByHttp.push(req.headers);
      seenUrls.push(req.url ?? '');
      res.end('hello from plain\n');
    });
    tlsPort = await new Promise<number>((resolve) => tlsServer!.listen(0, '127.0.0.1', () => resolve((tlsServer!.address() as net.AddressInfo).port)));
    httpPort = await new Promise<number>((resolve) => httpServer!.listen(0, '127.0.0.1', () => resolve((httpServer!.address() as net.AddressInfo).port)));

    // The audit sink, as render/audit-sink.ts renders it (its default sources).
    const sinkDir = path.join(box.dir, 'sink');
    fs.mkdirSync(path.join(sinkDir, 'work'), { recursive: true });
    sinkLogDir = path.join(sinkDir, 'logs');
    const sinkPort = await freePort();
    sink = await startRsyslogd(sinkDir, 'sink', renderRsyslogConf({ listenAddress: '127.0.0.1', udpPort: sinkPort, tcpPort: sinkPort, logDir: sinkLogDir, workDir: path.join(sinkDir, 'work') }), sinkPort);

    const hostsFile = box.write(
      'hosts',
      ['127.0.0.1 git.bank.internal plain.bank.internal', '127.0.0.9 rebound.bank.internal', '169.254.169.254 meta.bank.internal', ''].join('\n'),
    );
    proxyPort = await freePort();
    const conf = renderSquidConf({
      ...box.paths,
      destinations: [
        { host: 'git.bank.internal', port: tlsPort },
        { host: 'plain.bank.internal', port: httpPort },
        { host: 'rebound.bank.internal', port: tlsPort },
        { host: 'meta.bank.internal', port: tlsPort },
      ],
      port: proxyPort,
      listenAddresses: ['127.0.0.1', ALICE, BOB, NOBODY],
      deniedCidrs: ['127.0.0.8/29', '10.202.0.0/24'],
      alwaysDeniedCidrs: EGRESS_ALWAYS_DENIED_CIDRS.filter((c) => c !== '127.0.0.0/8'),
      audit: { address: '127.0.0.1', port: sinkPort },
      hostsFile,
    });
    writeUserFile(box.usersDir, ALICE, { username: 'alice' });
    writeUserFile(box.usersDir, BOB, { username: 'bob' });
    const confPath = box.write('squid.conf', conf);
    const parsed = squidParse(confPath);
    if (parsed.status !== 0) throw new Error(`squid -k parse refused the rendered config:\n${parsed.output}`);
    before = filesUnder(box.dir);
    squid = await startSquid(box.dir, confPath, '127.0.0.1', proxyPort);
  }, 60_000);

  afterAll(async () => {
    if (squid) await stopProcess(squid.child);
    if (sink) await stopProcess(sink.child);
    await new Promise<void>((resolve) => (tlsServer ? tlsServer.close(() => resolve()) : resolve()));
    httpServer?.closeAllConnections();
    await new Promise<void>((resolve) => (httpServer ? httpServer.close(() => resolve()) : resolve()));
  }, 30_000);

  const record = (match: Record<string, unknown>) => waitForRecord(squid!, (r) => Object.entries(match).every(([k, v]) => r[k] === v));

  it('starts without an error (every error page found, every directive known)', () => {
    const log = fs.readFileSync(squid!.logPath, 'utf8');
    expect(log).toContain('Accepting HTTP Socket connections');
    expect(log).not.toMatch(/ERROR|FATAL|WARNING: failed/);
  });

  it('runs as a non-root user and writes only its pid file (besides the stdout and stderr it was given)', () => {
    const sandboxFiles = (files: string[]) => files.filter((f) => !f.startsWith('sink/') && !f.startsWith('ca/'));
    const added = sandboxFiles(filesUnder(box.dir)).filter((f) => !before.includes(f));
    expect(added).toEqual(['run/squid.pid', 'squid.stderr', 'squid.stdout']);
    const pid = Number(fs.readFileSync(box.paths.pidFile, 'utf8').trim());
    expect(pid).toBe(squid!.child.pid);
    const uid = Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    expect(uid).not.toBe(0);
  });

  it('CONNECT to a declared host:port works end to end (TLS to the service), and the record names alice', async () => {
    const result = await curl(ALICE, proxyPort, ['--cacert', caCert, `https://git.bank.internal:${tlsPort}/`]);
    expect(result).toMatchObject({ code: 0, stdout: 'hello from git\n' });
    const r = await record({ user: 'alice', method: 'CONNECT', host: 'git.bank.internal' });
    expect(r).toMatchObject({ client: '127.0.0.1', local: ALICE, port: String(tlsPort), url: `git.bank.internal:${tlsPort}`, status: 200, result: 'TCP_TUNNEL', error: '-', server: '127.0.0.1' });
    expect(r.bytes_to_client).toBeGreaterThan(0);
    expect(r.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(r.time as string) - Date.now())).toBeLessThan(60_000);
  }, 30_000);

  it('bob\'s request, on his network\'s address, is logged as bob', async () => {
    const result = await curl(BOB, proxyPort, ['--cacert', caCert, `https://git.bank.internal:${tlsPort}/`]);
    expect(result.code).toBe(0);
    expect(await record({ user: 'bob', method: 'CONNECT', local: BOB })).toMatchObject({ result: 'TCP_TUNNEL', status: 200 });
  }, 30_000);

  it('plain http to a declared host:port works; no Via or X-Forwarded-For reaches the service; the record has the URL without its query', async () => {
    const result = await curl(ALICE, proxyPort, [`http://plain.bank.internal:${httpPort}/simple/pkg/?token=s3cret`]);
    expect(result).toMatchObject({ code: 0, stdout: 'hello from plain\n' });
    expect(seenUrls).toContain('/simple/pkg/?token=s3cret');
    const headers = seenByHttp[seenByHttp.length - 1];
    expect(Object.keys(headers)).not.toEqual(expect.arrayContaining(['via']));
    expect(headers.via).toBeUndefined();
    expect(headers['x-forwarded-for']).toBeUndefined();
    expect(headers.forwarded).toBeUndefined();
    const r = await record({ user: 'alice', method: 'GET', host: 'plain.bank.internal' });
    expect(r).toMatchObject({ status: 200, port: String(httpPort), url: expect.stringMatching(new RegExp(`^http://plain\\.bank\\.internal:${httpPort}/simple/pkg/\\??$`)) });
    expect(JSON.stringify(squidRecords(squid!))).not.toContain('s3cret');
  }, 30_000);

  /** A refused CONNECT as curl shows it (exit 56), with the proxy's headers from -v. */
  async function refusedConnect(proxyAddress: string, url: string, extra: string[] = []) {
    const result = await curl(proxyAddress, proxyPort, ['-v', ...extra, url]);
    expect(result.code).toBe(56);
    expect(result.stderr).toContain('CONNECT tunnel failed, response 403');
    return result.stderr;
  }

  it('an address no user file names is refused, with a message that says so, and logged without a user', async () => {
    for (const address of [NOBODY, '127.0.0.1']) {
      const stderr = await refusedConnect(address, `https://git.bank.internal:${tlsPort}/`);
      expect(stderr).toContain(`< ${EGRESS_REFUSAL_HEADER}: refused: ${address} is not a linked workspace network of this proxy`);
      expect(stderr).toContain(`< X-Squid-Error: ${EGRESS_ERROR_PAGES.noUser} 0`);
      expect(await record({ local: address, method: 'CONNECT' })).toMatchObject({ user: '-', status: 403, result: 'TCP_DENIED', error: EGRESS_ERROR_PAGES.noUser, server: '-' });
    }
    const page = await curl(NOBODY, proxyPort, ['-i', `http://plain.bank.internal:${httpPort}/`]);
    expect(page.stdout).toMatch(/^HTTP\/1\.1 403 Forbidden/);
    expect(page.stdout).toContain(`Refused: ${NOBODY} is not a linked workspace network of this proxy`);
  }, 30_000);

  it.each<[string, string]>([
    ['a host not declared', 'https://other.bank.internal:TLS/'],
    ['a declared host on another port', 'https://git.bank.internal:HTTP/'],
    ['an IP literal (the declared service\'s own address)', 'https://127.0.0.1:TLS/'],
    ['an IP literal in a denied range (the audit sink\'s subnet)', 'https://10.202.0.60:5514/'],
  ])('%s is refused as not on the allow-list, and logged with the user', async (_what, template) => {
    const url = template.replace('TLS', String(tlsPort)).replace('HTTP', String(httpPort));
    const { hostname, port } = new URL(url);
    const stderr = await refusedConnect(ALICE, url);
    expect(stderr).toContain(`< ${EGRESS_REFUSAL_HEADER}: refused: ${hostname}:${port} is not on this estate's egress allow-list (estate.yaml egress.services)`);
    expect(stderr).toContain(`< X-Squid-Error: ${EGRESS_ERROR_PAGES.notAllowed} 0`);
    expect(await record({ user: 'alice', method: 'CONNECT', host: hostname, port })).toMatchObject({ status: 403, result: 'TCP_DENIED', error: EGRESS_ERROR_PAGES.notAllowed, server: '-' });
  }, 30_000);

  it('plain http to a host not declared gets the page that names the estate\'s egress allow-list', async () => {
    const page = await curl(ALICE, proxyPort, ['-i', 'http://other.bank.internal/x?y=1']);
    expect(page.stdout).toMatch(/^HTTP\/1\.1 403 Forbidden/);
    expect(page.stdout).toContain("Refused: other.bank.internal:80 is not on this estate's egress allow-list");
    expect(page.stdout).toContain('egress.services');
    expect(await record({ user: 'alice', method: 'GET', host: 'other.bank.internal' })).toMatchObject({ status: 403, error: EGRESS_ERROR_PAGES.notAllowed });
  }, 30_000);

  it('a declared host:port asked for by another method than CONNECT or plain http (an https:// URL) is refused', async () => {
    const status = await rawRequest(ALICE, proxyPort, `GET https://git.bank.internal:${tlsPort}/ HTTP/1.1\r\nHost: git.bank.internal:${tlsPort}\r\n\r\n`);
    expect(status).toBe('HTTP/1.1 403 Forbidden');
    expect(await record({ user: 'alice', method: 'GET', host: 'git.bank.internal' })).toMatchObject({ error: EGRESS_ERROR_PAGES.notAllowed });
  }, 30_000);

  it.each([
    ['a denied range (the estate\'s own)', 'rebound.bank.internal'],
    ['the link-local metadata address', 'meta.bank.internal'],
  ])('a declared name that resolves into %s is refused, nothing is connected to', async (_what, host) => {
    const stderr = await refusedConnect(ALICE, `https://${host}:${tlsPort}/`);
    expect(stderr).toContain(`< ${EGRESS_REFUSAL_HEADER}: refused: ${host} resolves to an address the egress proxy never connects to`);
    expect(await record({ user: 'alice', host })).toMatchObject({ status: 403, error: EGRESS_ERROR_PAGES.deniedAddress, server: '-' });
  }, 30_000);

  it('every record is one JSON object with every field', () => {
    const records = squidRecords(squid!);
    expect(records.length).toBeGreaterThanOrEqual(10);
    for (const r of records) expect(Object.keys(r)).toEqual(EGRESS_LOG_FIELDS.map((f) => f.key));
  });

  it('the records reach the real audit sink over UDP syslog, filed under source squid, each exactly as on stdout', async () => {
    const stdout = fs.readFileSync(squid!.stdoutPath, 'utf8').split('\n').filter(Boolean);
    const file = path.join(sinkLogDir, utcDay(Date.now()), 'squid.jsonl');
    const lines = await waitForLines(file, (l) => l.length >= stdout.length, sink!.logPath);
    expect(lines.slice(0, stdout.length)).toEqual(stdout);
    expect(lines.map((l) => JSON.parse(l).user)).toEqual(expect.arrayContaining(['alice', 'bob', '-']));
    expect(fs.readdirSync(path.join(sinkLogDir, utcDay(Date.now())))).not.toContain('other.jsonl');
  }, 30_000);

  it('after bob\'s file is rewritten to the unlinked text and Squid gets SIGHUP, his address is refused; alice\'s still works', async () => {
    writeUserFile(box.usersDir, BOB, 'unlinked');
    expect(fs.readFileSync(path.join(box.usersDir, `${BOB}.conf`), 'utf8')).toBe(squidUserMapUnlinked(BOB));
    process.kill(squid!.child.pid!, 'SIGHUP');
    // Squid re-reads its config and reopens its listeners; bounded wait for the change.
    let last: Curl | undefined;
    for (let attempt = 0; attempt < 50; attempt++) {
      await sleep(200);
      last = await curl(BOB, proxyPort, ['-v', '--cacert', caCert, `https://git.bank.internal:${tlsPort}/`]);
      if (last.code === 56) break;
    }
    expect(last!.stderr).toContain(`< ${EGRESS_REFUSAL_HEADER}: refused: ${BOB} is not a linked workspace network of this proxy`);
    expect(await record({ local: BOB, user: '-', error: EGRESS_ERROR_PAGES.noUser })).toMatchObject({ status: 403 });
    expect(await curl(ALICE, proxyPort, ['--cacert', caCert, `https://git.bank.internal:${tlsPort}/`])).toMatchObject({ code: 0, stdout: 'hello from git\n' });
    expect(squid!.child.exitCode).toBeNull();
    expect(fs.readFileSync(squid!.logPath, 'utf8')).toMatch(/Reconfiguring Squid Cache/);
  }, 60_000);
});
