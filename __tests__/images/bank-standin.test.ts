import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT } from '../helpers/run';

/**
 * The bank STAND-IN image (images/bank-standin, e2e tier only): its pins agree between
 * build-images.sh and the lock files beside the image, and the nginx config its entrypoint renders
 * passes the real `nginx -t` (Debian's nginx-light, as in the image). The running services (git
 * push, npm publish/install, pip, mvn) are proved by images/bank-standin/selftest.sh, which needs
 * root and the downloads prepare.sh fetches.
 */
const DIR = path.join(ROOT, 'images/bank-standin');
const PROGRAM = path.join(DIR, 'bank-standin');
const BUILD = fs.readFileSync(path.join(ROOT, 'scripts/docker/build-images.sh'), 'utf8');
const pin = (name: string) => new RegExp(`^${name}=(\\S+)`, 'm').exec(BUILD)?.[1];

const temps: string[] = [];
afterAll(() => temps.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-bank-standin-'));
  temps.push(dir);
  return dir;
}

/** A self-signed certificate for the four names (what the e2e harness's CA signs, minus the CA). */
function tlsDir(): string {
  const dir = tempDir();
  const san = 'subjectAltName=DNS:git.bank.internal,DNS:npm.bank.internal,DNS:pypi.bank.internal,DNS:maven.bank.internal';
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=git.bank.internal',
    '-addext', san, '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { encoding: 'utf8', timeout: 30_000 });
  expect(made.status).toBe(0);
  return dir;
}

function checkConfig(program: string, env: NodeJS.ProcessEnv) {
  // Through a pipe, as Docker gives the container's stdout: nginx opens /dev/stdout (its access
  // log), which works on a pipe or a file but not on the socket Node gives a child.
  const result = spawnSync('bash', ['-o', 'pipefail', '-c', 'bash "$0" check-config 2>&1 | cat', program], {
    encoding: 'utf8',
    timeout: 30_000,
    stdio: ['ignore', 'pipe', 'pipe'], // (a socket on stdin would make bash read ~/.bashrc)
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...env },
  });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

describe('bank-standin image: pins', () => {
  it('is listed by build-images.sh with its own version', () => {
    const list = spawnSync('bash', [path.join(ROOT, 'scripts/docker/build-images.sh'), '--list'], { encoding: 'utf8' }).stdout;
    expect(list.split('\n')).toContain(`webide-local/bank-standin:${pin('BANK_STANDIN_VERSION')}`);
  });

  it('Verdaccio: build-images.sh, package.json and the lock file name one version', () => {
    const version = pin('VERDACCIO_VERSION');
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    const manifest = JSON.parse(fs.readFileSync(path.join(DIR, 'verdaccio/package.json'), 'utf8'));
    const lock = JSON.parse(fs.readFileSync(path.join(DIR, 'verdaccio/package-lock.json'), 'utf8'));
    expect(manifest.dependencies).toEqual({ verdaccio: version });
    expect(lock.packages['node_modules/verdaccio'].version).toBe(version);
    // No registry is named in the repository: the lock carries integrity hashes, no `resolved` URLs.
    const entries = Object.values(lock.packages) as Array<Record<string, unknown>>;
    expect(entries.filter((entry) => 'resolved' in entry)).toEqual([]);
    expect(entries.filter((entry, i) => i > 0 && typeof entry.integrity !== 'string')).toEqual([]);
  });

  it('pypiserver: build-images.sh and the requirements file name one version, every line exact and hashed', () => {
    const lines = fs.readFileSync(path.join(DIR, 'pypiserver-requirements.txt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines) expect(line).toMatch(/^[a-z0-9-]+==[0-9][0-9a-z.]* --hash=sha256:[0-9a-f]{64}$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^pypiserver==${pin('PYPISERVER_VERSION')?.replace(/\./g, '\\.')} `)));
  });

  it('the Maven plugin version is exact and reaches prepare.sh', () => {
    expect(pin('MAVEN_DEPENDENCY_PLUGIN_VERSION')).toMatch(/^\d+\.\d+\.\d+$/);
    expect(BUILD).toMatch(/MAVEN_DEPENDENCY_PLUGIN_VERSION="\$MAVEN_DEPENDENCY_PLUGIN_VERSION" \\\n/);
  });
});

describe('bank-standin image: rendered nginx config (real nginx -t)', () => {
  it('serves the four names over TLS, git through fcgiwrap, npm and PyPI on loopback', () => {
    const run = path.join(tempDir(), 'run');
    const result = checkConfig(PROGRAM, { STANDIN_TLS_DIR: tlsDir(), STANDIN_RUN: run, STANDIN_HTTPS_PORT: '8443', STANDIN_LISTEN: '127.0.0.1' });
    expect(result).toEqual({ status: 0, out: '' });
    const conf = fs.readFileSync(path.join(run, 'nginx.conf'), 'utf8');
    expect(conf).not.toMatch(/@[A-Z_]+@/);
    for (const name of ['git', 'npm', 'pypi', 'maven']) expect(conf).toContain(`server_name ${name}.bank.internal;`);
    expect(conf.match(/listen 127\.0\.0\.1:8443 ssl/g)).toHaveLength(5);
    expect(conf).toContain(`fastcgi_pass unix:${run}/fcgiwrap.sock;`);
    expect(conf).toContain('proxy_pass http://127.0.0.1:4873;');
    expect(conf).toContain('proxy_pass http://127.0.0.1:8081;');
    // Verdaccio: loopback only, and no uplink (nothing falls back to a public registry).
    const verdaccio = fs.readFileSync(path.join(run, 'verdaccio.yaml'), 'utf8').split('\n').filter((l) => !l.startsWith('#')).join('\n');
    expect(verdaccio).toContain('listen: 127.0.0.1:4873');
    expect(verdaccio).not.toMatch(/uplinks|proxy:/);
  });

  it('fails when nginx rejects the config', () => {
    const dir = tempDir();
    fs.copyFileSync(PROGRAM, path.join(dir, 'bank-standin'));
    fs.copyFileSync(path.join(DIR, 'verdaccio.yaml.in'), path.join(dir, 'verdaccio.yaml.in'));
    const template = fs.readFileSync(path.join(DIR, 'nginx.conf.in'), 'utf8');
    fs.writeFileSync(path.join(dir, 'nginx.conf.in'), template.replace('client_max_body_size 0;', 'client_max_body_size zero;'));
    const result = checkConfig(path.join(dir, 'bank-standin'), { STANDIN_TLS_DIR: tlsDir(), STANDIN_RUN: path.join(dir, 'run') });
    expect(result.status).not.toBe(0);
    expect(result.out).toContain('client_max_body_size');
    expect(result.out).toContain('nginx -t failed');
  });

  it('refuses a bad port and a missing certificate, naming them', () => {
    const run = path.join(tempDir(), 'run');
    expect(checkConfig(PROGRAM, { STANDIN_TLS_DIR: tlsDir(), STANDIN_RUN: run, STANDIN_HTTPS_PORT: '70000' }).out).toContain("not a port: '70000'");
    const missing = checkConfig(PROGRAM, { STANDIN_TLS_DIR: '/nonexistent/tls', STANDIN_RUN: run });
    expect(missing.status).toBe(1);
    expect(missing.out).toContain('/nonexistent/tls/cert.pem and key.pem must exist');
  });
});
