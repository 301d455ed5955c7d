import { ChildProcess, execFileSync, spawnSync } from 'child_process';
import * as dgram from 'dgram';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { exited, sleep, spawnLogged, tail } from './processes';

/** Debian's rsyslogd; `scripts/setup.sh` installs it (rsyslog, with rsyslog-gnutls for TLS). */
export function rsyslogdBinary(): string {
  for (const candidate of ['/usr/sbin/rsyslogd', '/usr/bin/rsyslogd']) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error('rsyslogd is not installed: run `apt-get install rsyslog rsyslog-gnutls` (scripts/setup.sh does)');
}

/** `rsyslogd -N1 -f conf`: rsyslog's own check of a config; its exit status and output. */
export function rsyslogCheck(confPath: string): { status: number; output: string } {
  const result = spawnSync(rsyslogdBinary(), ['-N1', '-f', confPath], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

export interface RunningRsyslogd {
  readonly child: ChildProcess;
  /** rsyslogd's stdout and stderr (its own messages: errors, TLS refusals). */
  readonly logPath: string;
  readonly pidFile: string;
}

/**
 * Writes `conf` to `<dir>/<name>.conf`, checks it with -N1 and runs the real rsyslogd on it in
 * the foreground (`-n -f conf -i pidfile`, detached: end it with stopProcess), then waits until
 * its TCP input at 127.0.0.1:`tcpPort` accepts connections (its UDP inputs are bound by then too:
 * rsyslog binds every input before it starts any).
 */
export async function startRsyslogd(dir: string, name: string, conf: string, tcpPort: number, env: NodeJS.ProcessEnv = {}): Promise<RunningRsyslogd> {
  const confPath = path.join(dir, `${name}.conf`);
  fs.writeFileSync(confPath, conf);
  const check = rsyslogCheck(confPath);
  if (check.status !== 0) throw new Error(`rsyslogd -N1 refused ${name}.conf:\n${check.output}`);
  const logPath = path.join(dir, `${name}.log`);
  const pidFile = path.join(dir, `${name}.pid`);
  const child = spawnLogged(rsyslogdBinary(), ['-n', '-f', confPath, '-i', pidFile], { cwd: dir, env: { PATH: '/usr/sbin:/usr/bin:/bin', ...env }, logPath });
  await waitForTcp(tcpPort, child, logPath, name);
  return { child, logPath, pidFile };
}

/** Waits (bounded) until 127.0.0.1:`port` accepts a connection; throws with the log tail when the process exits or time runs out. */
export async function waitForTcp(port: number, child: ChildProcess, logPath: string, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited(child)) throw new Error(`${what} exited during startup (code ${child.exitCode}, signal ${child.signalCode}):\n${tail(logPath)}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs / 1000} s:\n${tail(logPath)}`);
}

/** One UDP datagram to 127.0.0.1:`port`. */
export function sendUdp(port: number, payload: Buffer): Promise<void> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve, reject) =>
    socket.send(payload, port, '127.0.0.1', (error) => {
      socket.close();
      if (error) reject(error);
      else resolve();
    }),
  );
}

/** Bytes over one TCP connection to 127.0.0.1:`port`, then a clean close. */
export function sendTcp(port: number, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(payload));
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
}

/**
 * What Keycloak 26's syslog handler puts on the wire over TCP, byte for byte: JBoss Log Manager's
 * SyslogHandler as Quarkus configures it (LoggingSetupRecorder: `new SyslogHandler(host, port)`,
 * then TCP, and counting framing when `log-syslog-counting-framing` is `protocol-dependent`, the
 * default, for TCP; no trailing delimiter, the handler being built for UDP first): an RFC 6587
 * octet count, then the RFC 5424 header `<PRI>1 TIMESTAMP HOST APP-NAME PROCID MSGID - ` (MSGID is
 * the logger's category, cut at 32 characters), a UTF-8 BOM (the handler writes one for UTF-8) and
 * the formatted record. `trailingNewline` adds a newline inside the frame, as a JSON formatter
 * with a record delimiter would.
 */
export function keycloakSyslogFrame(json: string, opts: { category?: string; trailingNewline?: boolean } = {}): Buffer {
  // facility user (Quarkus's default) and severity informational: 1 * 8 + 6.
  const header = `<14>1 2026-12-03T12:00:00.123+00:00 keycloak-host keycloak 4242 ${(opts.category ?? 'org.keycloak.events').slice(0, 32)} - `;
  const message = Buffer.concat([Buffer.from(header, 'ascii'), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json + (opts.trailingNewline ? '\n' : ''), 'utf8')]);
  return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
}

/** The lines of a file, [] while it does not exist. */
export function readLines(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((line, i, all) => line !== '' || i < all.length - 1);
}

/** Polls `file` until `done(lines)` holds; bounded in time. Returns the lines; throws with `logPath`'s tail otherwise. */
export async function waitForLines(file: string, done: (lines: string[]) => boolean, logPath: string, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = readLines(file);
    if (done(lines)) return lines;
    if (Date.now() > deadline) throw new Error(`${file}: not as expected within ${timeoutMs / 1000} s; it has ${JSON.stringify(lines)}\nrsyslogd:\n${tail(logPath)}`);
    await sleep(100);
  }
}

/** YYYY-MM-DD of a time in UTC: the name of the day directory a record received then is in. */
export const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * A time zone whose date differs from UTC's at `ms` (UTC-12 before noon UTC, UTC+14 after), so a
 * process run in it names a different day than UTC unless it asks for UTC. (POSIX Etc/GMT signs are inverted.)
 */
export const zoneOffDay = (ms: number) => (new Date(ms).getUTCHours() < 12 ? 'Etc/GMT+12' : 'Etc/GMT-14');

/** A throwaway CA, made with openssl in `dir`; `issue` makes a server certificate for `name` signed by it. */
export function testCa(dir: string, label: string) {
  fs.mkdirSync(dir, { recursive: true });
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const cert = path.join(dir, `${label}-ca.pem`);
  const key = path.join(dir, `${label}-ca.key`);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${label} test CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', key, '-out', cert]);
  return {
    cert,
    issue(name: string): { cert: string; key: string } {
      const serverKey = path.join(dir, `${name}.key`);
      const csr = path.join(dir, `${name}.csr`);
      const serverCert = path.join(dir, `${name}.pem`);
      const ext = path.join(dir, `${name}.ext`);
      fs.writeFileSync(ext, `subjectAltName=DNS:${name}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
      openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`, '-keyout', serverKey, '-out', csr]);
      openssl(['x509', '-req', '-in', csr, '-CA', cert, '-CAkey', key, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', serverCert]);
      return { cert: serverCert, key: serverKey };
    },
  };
}

/**
 * rsyslog.conf of a STAND-IN for the bank's SIEM (not the SIEM): rsyslog receiving syslog over
 * TLS (imtcp, GnuTLS, server certificate `cert`, clients not asked for one) on 127.0.0.1:`port`
 * and writing each message it receives, as received, as one line of `receivedPath`.
 */
export function siemStandInConf(opts: { port: number; caFile: string; cert: string; key: string; workDir: string; receivedPath: string }): string {
  return [
    `global(workDirectory="${opts.workDir}" defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="${opts.caFile}"`,
    `  defaultNetstreamDriverCertFile="${opts.cert}" defaultNetstreamDriverKeyFile="${opts.key}")`,
    'module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")',
    `input(type="imtcp" address="127.0.0.1" port="${opts.port}" ruleset="siem")`,
    'template(name="received" type="string" string="%rawmsg%\\n")',
    `ruleset(name="siem") { action(type="omfile" file="${opts.receivedPath}" template="received") }`,
    '',
  ].join('\n');
}

/** Temporary directories for an audit test file, removed after its tests: `tempDir(prefix)`. */
export function auditTempDirs(): (prefix: string) => string {
  const made: string[] = [];
  afterAll(() => made.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
  return (prefix: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `webide-audit-${prefix}-`));
    made.push(dir);
    return dir;
  };
}
