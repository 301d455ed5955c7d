import { execFile, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { IDE_EGRESS_FILES, IDE_EGRESS_LINKS, IDE_EGRESS_PATHS, IdeEgressInput, IdeEgressService, ideEgressEnv, ideEgressFiles } from '../../render/ide-egress';
import { ROOT } from '../helpers/run';

/**
 * The IDE's egress files and environment (render/ide-egress.ts) and the image's trust step
 * (images/code-server/webide-egress-trust.sh), checked with the real tools this machine has from
 * Debian (git, pip, Maven, apt, keytool; npm is the one the image copies). Nothing leaves the
 * machine: the "bank" is a loopback HTTPS server whose certificate a test CA signs, reached
 * through a loopback stand-in of the proxy that answers CONNECT (not Squid: it tunnels every
 * CONNECT to that server and records the target).
 */

const SERVICES: IdeEgressService[] = [
  { name: 'git', kind: 'git', urls: ['https://git.bank.internal/'] },
  { name: 'npm', kind: 'npm', urls: ['https://npm.bank.internal/'] },
  { name: 'pypi', kind: 'pypi', urls: ['https://pypi.bank.internal/simple/', 'https://pypi.bank.internal/extra/simple/'] },
  { name: 'maven', kind: 'maven', urls: ['https://maven.bank.internal/maven2/'] },
  { name: 'debian', kind: 'apt', urls: ['https://apt.bank.internal/debian/'], apt: { suite: 'bookworm', components: ['main', 'contrib'] } },
  { name: 'docs', kind: 'https', urls: ['https://docs.bank.internal/'] },
];
const MANAGED = '/var/lib/code-server/Machine';
const INPUT: IdeEgressInput = { proxyUrl: 'http://egress-proxy:3128', noProxy: ['ai-gateway'], services: SERVICES, managedDir: MANAGED };
const BANK_HOSTS = ['apt.bank.internal', 'docs.bank.internal', 'git.bank.internal', 'maven.bank.internal', 'npm.bank.internal', 'pypi.bank.internal'];
const TRUST_SCRIPT = path.join(ROOT, 'images/code-server/webide-egress-trust.sh');
const SYSTEM_PEM = '/etc/ssl/certs/ca-certificates.crt';
const SYSTEM_JAVA = '/etc/ssl/certs/java/cacerts';

const made: string[] = [];
const tempDir = (prefix = 'ide-egress-') => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
};
afterAll(() => made.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

const fileOf = (files: { file: string; content: string }[], name: string) => {
  const found = files.find((f) => f.file === name);
  if (!found) throw new Error(`no ${name} among ${files.map((f) => f.file).join(', ')}`);
  return found.content;
};
/** Writes the rendered files into `dir`, as the managed volume holds them. */
function writeFiles(dir: string, input: IdeEgressInput): void {
  for (const { file, content } of ideEgressFiles(input)) fs.writeFileSync(path.join(dir, file), content);
}

/** A tool run with only the environment given (this machine's own CA and proxy variables stay out). */
function run(command: string, args: string[], env: NodeJS.ProcessEnv, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 32 << 20, encoding: 'utf8' }, (error, stdout, stderr) => {
      const status = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}
/** Debian's tools first (the image's): /usr/bin/python3 is Debian's with Debian's pip. */
const baseEnv = (home: string): NodeJS.ProcessEnv => ({ PATH: '/usr/bin:/bin:/usr/sbin:/sbin', HOME: home, LANG: 'C.UTF-8' });

describe('ideEgressFiles', () => {
  it('renders git always and each tool\'s file only for a declared kind, sorted by name', () => {
    expect(ideEgressFiles(INPUT).map((f) => f.file)).toEqual([
      IDE_EGRESS_FILES.aptSources,
      IDE_EGRESS_FILES.aptConf,
      IDE_EGRESS_FILES.git,
      IDE_EGRESS_FILES.maven,
      IDE_EGRESS_FILES.npm,
      IDE_EGRESS_FILES.pip,
    ]);
    const onlyHttps = { ...INPUT, services: SERVICES.filter((s) => s.kind === 'https' || s.kind === 'git') };
    expect(ideEgressFiles(onlyHttps).map((f) => f.file)).toEqual([IDE_EGRESS_FILES.git]);
    expect(ideEgressFiles({ ...INPUT, services: [] }).map((f) => f.file)).toEqual([IDE_EGRESS_FILES.git]);
  });

  it('does not depend on the order of the services', () => {
    expect(ideEgressFiles({ ...INPUT, services: [...SERVICES].reverse() })).toEqual(ideEgressFiles(INPUT));
    expect(ideEgressEnv({ ...INPUT, services: [...SERVICES].reverse(), noProxy: ['ai-gateway', 'ai-gateway'] })).toEqual(ideEgressEnv(INPUT));
  });

  it('names no host but the declared services\' and the proxy', () => {
    const hosts = new Set(ideEgressFiles(INPUT).flatMap((f) => [...f.content.matchAll(/https?:\/\/([^/:\s"<]+)/g)].map((m) => m[1])));
    expect([...hosts].sort()).toEqual(['apt.bank.internal', 'egress-proxy', 'maven.bank.internal', 'npm.bank.internal', 'pypi.bank.internal']);
  });

  it('points every file at the CA bundle the entrypoint writes, or the one given', () => {
    const files = ideEgressFiles(INPUT);
    for (const name of [IDE_EGRESS_FILES.git, IDE_EGRESS_FILES.npm, IDE_EGRESS_FILES.pip, IDE_EGRESS_FILES.aptConf]) {
      expect(fileOf(files, name)).toContain(IDE_EGRESS_PATHS.caBundle);
    }
    expect(fileOf(ideEgressFiles({ ...INPUT, caBundle: '/x/bundle.pem' }), IDE_EGRESS_FILES.git)).toContain('sslCAInfo = /x/bundle.pem');
  });

  it('lists every URL of every apt service with its suite and components', () => {
    const second: IdeEgressService = { name: 'security', kind: 'apt', urls: ['https://apt.bank.internal/security/'], apt: { suite: 'bookworm-security', components: ['main'] } };
    const sources = fileOf(ideEgressFiles({ ...INPUT, services: [...SERVICES, second] }), IDE_EGRESS_FILES.aptSources);
    expect(sources.split('\n').filter((l) => l.startsWith('deb '))).toEqual([
      'deb https://apt.bank.internal/debian/ bookworm main contrib',
      'deb https://apt.bank.internal/security/ bookworm-security main',
    ]);
  });

  it('fails on two registries of one kind, an apt service without its suite, or a proxy without a port', () => {
    const npm2: IdeEgressService = { name: 'npm2', kind: 'npm', urls: ['https://npm2.bank.internal/'] };
    expect(() => ideEgressFiles({ ...INPUT, services: [...SERVICES, npm2] })).toThrow(/npm, npm2: at most one service of kind npm/);
    expect(() => ideEgressFiles({ ...INPUT, services: [{ name: 'debian', kind: 'apt', urls: ['https://apt.bank.internal/debian/'] }] })).toThrow(/debian: kind apt needs apt/);
    expect(() => ideEgressFiles({ ...INPUT, proxyUrl: 'http://egress-proxy' })).toThrow(/must be http:\/\/<host>:<port>/);
    expect(() => ideEgressEnv({ ...INPUT, proxyUrl: 'https://egress-proxy:3128' })).toThrow(/must be http:\/\/<host>:<port>/);
  });
});

describe('ideEgressEnv', () => {
  it('sets the proxy in both spellings, loopback and the given hosts direct, the CA bundle for node, OpenSSL, curl and requests', () => {
    const bundle = IDE_EGRESS_PATHS.caBundle;
    expect(ideEgressEnv(INPUT)).toEqual({
      APT_CONFIG: `${MANAGED}/${IDE_EGRESS_FILES.aptConf}`,
      CURL_CA_BUNDLE: bundle,
      HTTPS_PROXY: 'http://egress-proxy:3128',
      HTTP_PROXY: 'http://egress-proxy:3128',
      NODE_EXTRA_CA_CERTS: bundle,
      NO_PROXY: '127.0.0.1,::1,ai-gateway,localhost',
      REQUESTS_CA_BUNDLE: bundle,
      SSL_CERT_FILE: bundle,
      http_proxy: 'http://egress-proxy:3128',
      https_proxy: 'http://egress-proxy:3128',
      no_proxy: '127.0.0.1,::1,ai-gateway,localhost',
    });
  });

  it('sets APT_CONFIG only when an apt service is declared', () => {
    expect(ideEgressEnv({ ...INPUT, services: SERVICES.filter((s) => s.kind !== 'apt') })).not.toHaveProperty('APT_CONFIG');
  });
});

describe('the image holds what the render relies on', () => {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'images/code-server/Dockerfile'), 'utf8');
  const entrypoint = fs.readFileSync(path.join(ROOT, 'images/code-server/webide-ide-entrypoint.sh'), 'utf8');

  it('links each tool\'s system config to its managed file', () => {
    expect(dockerfile).toContain(`managed=${MANAGED} \\`);
    for (const [link, file] of Object.entries(IDE_EGRESS_LINKS)) expect(dockerfile).toContain(`ln -sfn "$managed/${file}" ${link} \\`);
  });

  it('runs the trust step with the render\'s paths before code-server, and links the JRE\'s trust store to its output', () => {
    const out = path.dirname(IDE_EGRESS_PATHS.caBundle);
    expect(path.dirname(IDE_EGRESS_PATHS.javaTrustStore)).toBe(out);
    expect(entrypoint).toContain(`/usr/local/bin/webide-egress-trust ${IDE_EGRESS_PATHS.caDir} ${out} \\`);
    expect(entrypoint.indexOf('webide-egress-trust')).toBeLessThan(entrypoint.indexOf('exec /usr/bin/code-server'));
    expect(path.basename(IDE_EGRESS_PATHS.caBundle)).toBe('ca-bundle.pem');
    expect(path.basename(IDE_EGRESS_PATHS.javaTrustStore)).toBe('java-cacerts');
    expect(dockerfile).toContain(`ln -s ${IDE_EGRESS_PATHS.javaTrustStore} ${SYSTEM_JAVA} \\`);
    expect(dockerfile).toContain('COPY webide-egress-trust.sh /usr/local/bin/webide-egress-trust');
  });
});

describe('the real tools read the rendered files', () => {
  const dir = tempDir();
  const home = tempDir();
  beforeAll(() => writeFiles(dir, { ...INPUT, managedDir: dir }));
  const at = (name: string) => path.join(dir, name);

  it('git (as its system config) takes the proxy and the CA bundle', async () => {
    const env = { ...baseEnv(home), GIT_CONFIG_SYSTEM: at(IDE_EGRESS_FILES.git) };
    expect((await run('git', ['config', '--get', 'http.proxy'], env)).stdout).toBe('http://egress-proxy:3128\n');
    expect((await run('git', ['config', '--get', 'http.sslcainfo'], env)).stdout).toBe(`${IDE_EGRESS_PATHS.caBundle}\n`);
    expect((await run('git', ['config', '--show-scope', '--get', 'http.proxy'], env)).stdout).toMatch(/^system\t/);
  });

  it('npm (as its global npmrc) takes the registry, both proxies, the hosts reached directly and the CA file', async () => {
    const env = baseEnv(home);
    const get = async (key: string) => (await run('npm', ['config', 'get', key, '--globalconfig', at(IDE_EGRESS_FILES.npm), '--userconfig', '/dev/null'], env)).stdout.trim();
    expect(await get('registry')).toBe('https://npm.bank.internal/');
    expect(await get('https-proxy')).toBe('http://egress-proxy:3128');
    expect(await get('proxy')).toBe('http://egress-proxy:3128');
    expect(await get('noproxy')).toBe('127.0.0.1,::1,ai-gateway,localhost');
    expect(await get('cafile')).toBe(IDE_EGRESS_PATHS.caBundle);
  }, 30_000);

  it('npm run by /usr/bin/node (the image\'s node) reads its global npmrc at the linked place', async () => {
    const npmCli = fs.realpathSync(spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim());
    const result = await run('/usr/bin/node', [npmCli, 'config', 'get', 'globalconfig'], baseEnv(home));
    expect(result.stdout.trim()).toBe('/usr/etc/npmrc');
    expect(IDE_EGRESS_LINKS['/usr/etc/npmrc']).toBe(IDE_EGRESS_FILES.npm);
  });

  it('pip (Debian\'s) takes the index, the extra index, the proxy and the CA bundle, and reads /etc/pip.conf as its global config', async () => {
    const env = { ...baseEnv(home), PIP_CONFIG_FILE: at(IDE_EGRESS_FILES.pip) };
    const listed = await run('/usr/bin/python3', ['-m', 'pip', 'config', 'list'], env);
    expect(listed.stdout).toContain("global.index-url='https://pypi.bank.internal/simple/'");
    expect(listed.stdout).toContain("global.extra-index-url='\\nhttps://pypi.bank.internal/extra/simple/'");
    expect(listed.stdout).toContain("global.proxy='http://egress-proxy:3128'");
    expect(listed.stdout).toContain(`global.cert='${IDE_EGRESS_PATHS.caBundle}'`);
    const debug = await run('/usr/bin/python3', ['-m', 'pip', 'config', 'debug'], baseEnv(home));
    expect(debug.stdout).toMatch(/^global:\n(  .*\n)*  \/etc\/pip\.conf, exists: /m);
    expect(IDE_EGRESS_LINKS['/etc/pip.conf']).toBe(IDE_EGRESS_FILES.pip);
  });

  it('apt takes the proxy, the CA bundle and the managed sources in place of the image\'s', async () => {
    const dump = await run('apt-config', ['dump'], { ...baseEnv(home), APT_CONFIG: at(IDE_EGRESS_FILES.aptConf) });
    expect(dump.status).toBe(0);
    expect(dump.stdout).toContain('Acquire::http::Proxy "http://egress-proxy:3128";');
    expect(dump.stdout).toContain('Acquire::https::Proxy "http://egress-proxy:3128";');
    expect(dump.stdout).toContain(`Acquire::https::CaInfo "${IDE_EGRESS_PATHS.caBundle}";`);
    expect(dump.stdout).toContain(`Dir::Etc::sourcelist "${at(IDE_EGRESS_FILES.aptSources)}";`);
    expect(dump.stdout).toContain('Dir::Etc::sourceparts "/nonexistent";');
  });

  it('each tool takes a dangling link (an estate without egress, or without that kind) as no config', async () => {
    const gone = path.join(tempDir(), 'not-there');
    const git = await run('git', ['config', '--get', 'http.proxy'], { ...baseEnv(home), GIT_CONFIG_SYSTEM: gone });
    expect({ status: git.status, stderr: git.stderr }).toEqual({ status: 1, stderr: '' });
    const npm = await run('npm', ['config', 'get', 'registry', '--globalconfig', gone, '--userconfig', '/dev/null'], baseEnv(home));
    expect({ status: npm.status, stderr: npm.stderr }).toEqual({ status: 0, stderr: '' });
    expect(npm.stdout).not.toContain('bank.internal');
    const pip = await run('/usr/bin/python3', ['-m', 'pip', 'config', 'debug'], { ...baseEnv(home), PIP_CONFIG_FILE: gone });
    expect(pip.status).toBe(0);
    expect(pip.stdout).toContain(`${gone}, exists: False`);
    const conf = tempDir();
    fs.symlinkSync(gone, path.join(conf, 'settings.xml'));
    fs.symlinkSync('/etc/maven/logging', path.join(conf, 'logging'));
    const maven = await mavenOffline(conf, home);
    expect(maven.out).toContain(`Reading global settings from ${path.join(conf, 'settings.xml')}`);
    expect(maven.out).not.toMatch(/settings\.xml.*(does not exist|Non-parseable)/i);
  }, 60_000);
});

/** Maven offline (it never reaches out), global settings from `conf` (Debian's /etc/maven), debug output: what it read. */
async function mavenOffline(conf: string, home: string) {
  const work = tempDir();
  fs.writeFileSync(path.join(work, 'user-settings.xml'), '<settings/>\n');
  const env = { ...baseEnv(home), MAVEN_OPTS: `-Dmaven.conf=${conf} -Duser.home=${work}` };
  const result = await run('mvn', ['-B', '-X', '-o', '-s', path.join(work, 'user-settings.xml'), `-Dmaven.repo.local=${path.join(work, 'repo')}`, 'org.apache.maven.plugins:maven-help-plugin:3.4.0:effective-settings'], env, { cwd: work });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

/** A test CA, a server certificate it signs for every bank host, and a CA dir as the IDE gets it. */
function makeTestPki(dir: string) {
  const openssl = (...args: string[]) => {
    const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    if (result.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${result.stderr}`);
  };
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=webide test bank CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=bank services');
  fs.writeFileSync(path.join(dir, 'ext.cnf'), `subjectAltName=${BANK_HOSTS.map((h) => `DNS:${h}`).join(',')}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
  const caDir = path.join(dir, 'egress-ca');
  fs.mkdirSync(caDir);
  // As the estate mounts them: one file per service, here the same CA for all (the trust step keeps one copy).
  for (const name of ['git', 'npm', 'maven']) fs.copyFileSync(path.join(dir, 'ca.pem'), path.join(caDir, `${name}.pem`));
  return { caDir, caPem: path.join(dir, 'ca.pem'), key: fs.readFileSync(path.join(dir, 'server.key')), cert: fs.readFileSync(path.join(dir, 'server.pem')) };
}

const trust = (caDir: string, out: string, systemJava = SYSTEM_JAVA) =>
  spawnSync('sh', [TRUST_SCRIPT, caDir, out, SYSTEM_PEM, systemJava], { encoding: 'utf8', timeout: 60_000, env: { PATH: '/usr/bin:/bin' } });
const pemCount = (file: string) => (fs.readFileSync(file, 'utf8').match(/^-----BEGIN CERTIFICATE-----$/gm) ?? []).length;
const keytoolList = (store: string) => spawnSync('keytool', ['-list', '-keystore', store, '-storepass', 'changeit'], { encoding: 'utf8', timeout: 60_000 }).stdout;

describe('webide-egress-trust (the entrypoint\'s CA step)', () => {
  let pki: ReturnType<typeof makeTestPki>;
  beforeAll(() => {
    pki = makeTestPki(tempDir());
  });

  it('writes the system CAs plus each distinct bank certificate, as PEM and as a Java trust store', () => {
    const out = path.join(tempDir(), 'webide-egress');
    const result = trust(pki.caDir, out);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('1 bank CA certificate(s) trusted');
    const bundle = path.join(out, 'ca-bundle.pem');
    expect(pemCount(bundle)).toBe(pemCount(SYSTEM_PEM) + 1);
    expect(fs.readFileSync(bundle, 'utf8')).toContain(fs.readFileSync(pki.caPem, 'utf8').trim());
    const listed = keytoolList(path.join(out, 'java-cacerts'));
    expect(listed.match(/^webide-egress-[0-9a-f]{16},.*trustedCertEntry/gm)).toHaveLength(1);
    expect(fs.readdirSync(out).sort()).toEqual(['ca-bundle.pem', 'java-cacerts']);
  }, 60_000);

  it('with no CA dir writes the system CAs only, and fails nothing', () => {
    const out = path.join(tempDir(), 'webide-egress');
    const result = trust(path.join(out, 'no-such-dir'), out);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('0 bank CA certificate(s) trusted');
    // Buffer.equals: jest's toEqual walks a buffer byte by byte.
    expect(fs.readFileSync(path.join(out, 'ca-bundle.pem')).equals(fs.readFileSync(SYSTEM_PEM))).toBe(true);
    expect(fs.readFileSync(path.join(out, 'java-cacerts')).equals(fs.readFileSync(SYSTEM_JAVA))).toBe(true);
  });

  it('leaves out a certificate that does not parse and keeps the rest, chains split, CRLF line ends read', () => {
    const caDir = tempDir();
    const ca = fs.readFileSync(pki.caPem, 'utf8');
    fs.writeFileSync(path.join(caDir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    fs.writeFileSync(path.join(caDir, 'chain.pem'), `${ca}${fs.readFileSync(path.join(path.dirname(pki.caPem), 'server.pem'), 'utf8')}`.replace(/\n/g, '\r\n'));
    const out = path.join(tempDir(), 'webide-egress');
    const result = trust(caDir, out);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain(`left out certificate 1 of ${caDir}/broken.pem: it does not parse`);
    expect(result.stderr).toContain('2 bank CA certificate(s) trusted');
    expect(pemCount(path.join(out, 'ca-bundle.pem'))).toBe(pemCount(SYSTEM_PEM) + 2);
    expect(fs.readFileSync(path.join(out, 'ca-bundle.pem'), 'utf8')).not.toContain('\r');
  }, 60_000);

  it('without a system Java trust store (no JRE) writes the PEM bundle only', () => {
    const out = path.join(tempDir(), 'webide-egress');
    expect(trust(pki.caDir, out, path.join(out, 'no-jre')).status).toBe(0);
    expect(fs.readdirSync(out)).toEqual(['ca-bundle.pem']);
  });
});

/**
 * The whole path, every tool from its rendered file only (no proxy or CA variables, except curl,
 * which has no file): the tool asks the stand-in proxy to CONNECT to the bank host, checks the
 * bank's certificate against the trust step's output, and sends its request, which the bank
 * stand-in records and answers 404. The 404 in each tool's own words shows the TLS check passed.
 */
describe('through a loopback stand-in of the proxy to a stand-in bank (no network)', () => {
  const work = tempDir();
  const home = tempDir();
  let pki: ReturnType<typeof makeTestPki>;
  let out: string;
  let bank: https.Server;
  let proxy: http.Server;
  let direct: http.Server;
  let directPort: number;
  const connects: string[] = [];
  const plainProxied: string[] = [];
  const bankRequests: string[] = [];
  const directRequests: string[] = [];
  let input: IdeEgressInput;
  let managed: string;

  beforeAll(async () => {
    pki = makeTestPki(tempDir());
    out = path.join(work, 'webide-egress');
    expect(trust(pki.caDir, out).status).toBe(0);
    bank = https.createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
      bankRequests.push(`${req.method} ${req.headers.host}${req.url}`);
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not at the stand-in bank\n');
    });
    await new Promise<void>((resolve) => bank.listen(0, '127.0.0.1', resolve));
    const bankPort = (bank.address() as net.AddressInfo).port;
    proxy = http.createServer((req, res) => {
      plainProxied.push(`${req.method} ${req.url}`);
      res.writeHead(403).end();
    });
    proxy.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
      connects.push(req.url ?? '');
      const upstream = net.connect(bankPort, '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    direct = http.createServer((req, res) => {
      directRequests.push(`${req.method} ${req.headers.host}${req.url}`);
      res.writeHead(200).end('direct\n');
    });
    await new Promise<void>((resolve) => direct.listen(0, '127.0.0.1', resolve));
    directPort = (direct.address() as net.AddressInfo).port;
    managed = tempDir();
    input = { ...INPUT, proxyUrl: `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`, managedDir: managed, caBundle: path.join(out, 'ca-bundle.pem') };
    writeFiles(managed, input);
  }, 60_000);

  afterAll(async () => {
    for (const server of [bank, proxy, direct]) {
      if (!server) continue;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  const at = (name: string) => path.join(managed, name);
  const asked = (host: string) => bankRequests.filter((r) => r.split(' ')[1].startsWith(`${host}/`));

  it('curl, from the environment only, goes through the proxy, trusts the bank, and reaches loopback and the AI gateway directly', async () => {
    const env = { ...baseEnv(home), ...ideEgressEnv(input) };
    const viaProxy = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', 'https://docs.bank.internal/handbook/'], env);
    expect(viaProxy).toMatchObject({ status: 0, stdout: '404' });
    expect(connects).toContain('docs.bank.internal:443');
    expect(asked('docs.bank.internal')).toEqual(['GET docs.bank.internal/handbook/']);
    const gateway = await run('curl', ['-sS', '--resolve', `ai-gateway:${directPort}:127.0.0.1`, `http://ai-gateway:${directPort}/v1/models`], env);
    const health = await run('curl', ['-sS', `http://127.0.0.1:${directPort}/healthz`], env);
    expect([gateway.stdout, health.stdout]).toEqual(['direct\n', 'direct\n']);
    expect(directRequests).toEqual([`GET ai-gateway:${directPort}/v1/models`, `GET 127.0.0.1:${directPort}/healthz`]);
    expect(plainProxied).toEqual([]);
  });

  it('git fetches through the proxy and trusts the bank; with only the system CAs it refuses the bank\'s certificate', async () => {
    const env = { ...baseEnv(home), GIT_CONFIG_SYSTEM: at(IDE_EGRESS_FILES.git), GIT_TERMINAL_PROMPT: '0' };
    const result = await run('git', ['ls-remote', 'https://git.bank.internal/team/app.git'], env);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/repository 'https:\/\/git\.bank\.internal\/team\/app\.git\/' not found/);
    expect(asked('git.bank.internal')).toEqual(['GET git.bank.internal/team/app.git/info/refs?service=git-upload-pack']);
    expect(connects).toContain('git.bank.internal:443');

    const untrusting = tempDir();
    writeFiles(untrusting, { ...input, managedDir: untrusting, caBundle: SYSTEM_PEM });
    const refused = await run('git', ['ls-remote', 'https://git.bank.internal/team/other.git'], { ...env, GIT_CONFIG_SYSTEM: path.join(untrusting, IDE_EGRESS_FILES.git) });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/certificate|SSL/i);
    expect(asked('git.bank.internal')).toHaveLength(1);
  });

  it('npm asks the bank\'s registry through the proxy and trusts the bank', async () => {
    const cache = tempDir();
    const result = await run('npm', ['view', 'webide-probe', '--globalconfig', at(IDE_EGRESS_FILES.npm), '--userconfig', '/dev/null', '--cache', cache, '--update-notifier=false', '--fetch-retries=0'], baseEnv(home));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/404 Not Found - GET https:\/\/npm\.bank\.internal\/webide-probe/);
    expect(asked('npm.bank.internal')).toEqual(['GET npm.bank.internal/webide-probe']);
    expect(connects).toContain('npm.bank.internal:443');
  });

  it('pip (Debian\'s) asks the index and the extra index through the proxy and trusts the bank', async () => {
    const env = { ...baseEnv(home), PIP_CONFIG_FILE: at(IDE_EGRESS_FILES.pip), PIP_RETRIES: '0', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
    const result = await run('/usr/bin/python3', ['-m', 'pip', 'download', '--no-deps', '-d', tempDir(), 'webide-probe'], env);
    expect(result.status).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toMatch(/No matching distribution found for webide-probe/);
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/SSLError|CERTIFICATE_VERIFY_FAILED|ProxyError/);
    expect(asked('pypi.bank.internal').sort()).toEqual(['GET pypi.bank.internal/extra/simple/webide-probe/', 'GET pypi.bank.internal/simple/webide-probe/']);
    expect(connects).toContain('pypi.bank.internal:443');
  });

  it('Maven reads the settings from its global place through a link, resolves from the mirror of everything through the proxy, and trusts the bank with the trust step\'s store; with the system store it does not', async () => {
    // Maven's global settings are <maven.conf>/settings.xml (Debian: /etc/maven, where the image's link is).
    const conf = tempDir();
    fs.symlinkSync(at(IDE_EGRESS_FILES.maven), path.join(conf, 'settings.xml'));
    fs.symlinkSync('/etc/maven/logging', path.join(conf, 'logging'));
    // In the image the JRE's default trust store is a link to the trust step's store; here the property stands in for the link.
    const mvn = async (store: string) => {
      const repo = tempDir();
      fs.writeFileSync(path.join(repo, 'user-settings.xml'), '<settings/>\n');
      const env = { ...baseEnv(home), MAVEN_OPTS: `-Dmaven.conf=${conf} -Duser.home=${repo} -Djavax.net.ssl.trustStore=${store}` };
      const result = await run('mvn', ['-B', '-s', path.join(repo, 'user-settings.xml'), `-Dmaven.repo.local=${path.join(repo, 'repo')}`, 'org.apache.maven.plugins:maven-help-plugin:3.4.0:effective-settings'], env, { cwd: repo, timeoutMs: 90_000 });
      return `${result.stdout}${result.stderr}`;
    };
    const trusted = await mvn(path.join(out, 'java-cacerts'));
    expect(trusted).not.toMatch(/problems were encountered while building the effective settings|Non-parseable settings|Unrecognised tag/i);
    expect(trusted).toContain('Could not find artifact org.apache.maven.plugins:maven-help-plugin:jar:3.4.0 in maven (https://maven.bank.internal/maven2/)');
    expect(trusted).not.toMatch(/PKIX|SSLHandshake/);
    expect(asked('maven.bank.internal')).toContain('GET maven.bank.internal/maven2/org/apache/maven/plugins/maven-help-plugin/3.4.0/maven-help-plugin-3.4.0.pom');
    expect(connects).toContain('maven.bank.internal:443');
    const before = asked('maven.bank.internal').length;
    const refused = await mvn(SYSTEM_JAVA);
    expect(refused).toMatch(/PKIX path building failed/);
    expect(asked('maven.bank.internal')).toHaveLength(before);
  }, 120_000);

  it('apt fetches the bank\'s archive through the proxy and trusts the bank', async () => {
    const state = tempDir();
    // The host's own apt.conf.d stays out (it would be read after APT_CONFIG).
    const conf = path.join(state, 'apt.conf');
    fs.writeFileSync(conf, `Dir::Etc::parts "/nonexistent";\n${fs.readFileSync(at(IDE_EGRESS_FILES.aptConf), 'utf8')}`);
    const env = { ...baseEnv(home), APT_CONFIG: conf };
    const opts = ['-o', `Dir::State=${state}/state`, '-o', `Dir::Cache=${state}/cache`, '-o', 'Debug::NoLocking=1', '-o', 'APT::Sandbox::User=root', '-o', 'Acquire::Retries=0'];
    for (const sub of ['state/lists/partial', 'cache/archives/partial']) fs.mkdirSync(path.join(state, sub), { recursive: true });
    const result = await run('apt-get', [...opts, 'update'], env);
    const output = `${result.stdout}${result.stderr}`;
    expect(output).toMatch(/404\s+Not Found/);
    expect(output).not.toMatch(/certificate|handshake/i);
    expect(asked('apt.bank.internal')).toContain('GET apt.bank.internal/debian/dists/bookworm/InRelease');
    expect(connects).toContain('apt.bank.internal:443');
  });

  it('node (NODE_EXTRA_CA_CERTS) and Python\'s ssl (SSL_CERT_FILE) trust the bank from the environment', async () => {
    const env = { ...baseEnv(home), ...ideEgressEnv(input) };
    const port = String((bank.address() as net.AddressInfo).port);
    const nodeCheck = "const s=require('tls').connect({host:'127.0.0.1',port:+process.argv[1],servername:'npm.bank.internal'},()=>{console.log(s.authorized);s.end()});s.on('error',e=>{console.log(e.code);process.exit(1)})";
    expect((await run('/usr/bin/node', ['-e', nodeCheck, port], env)).stdout).toBe('true\n');
    const pyCheck = "import socket,ssl,sys; c=ssl.create_default_context(); s=c.wrap_socket(socket.create_connection(('127.0.0.1',int(sys.argv[1]))),server_hostname='pypi.bank.internal'); print(s.version() is not None)";
    expect((await run('/usr/bin/python3', ['-c', pyCheck, port], env)).stdout).toBe('True\n');
    const { SSL_CERT_FILE: _ignored, ...withoutBundle } = env;
    expect((await run('/usr/bin/python3', ['-c', pyCheck, port], withoutBundle)).stderr).toMatch(/CERTIFICATE_VERIFY_FAILED/);
  });
});
