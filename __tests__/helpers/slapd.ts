import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { freePort } from './processes';

/** One person in the test directory; the password is generated here, never written anywhere but the directory. */
export interface DirectoryPerson {
  readonly uid: string;
  readonly password: string;
}

export interface TestDirectory {
  readonly url: string;
  readonly bindDn: string;
  readonly bindPassword: string;
  readonly usersDn: string;
  readonly people: ReadonlyMap<string, DirectoryPerson>;
  stop(): Promise<void>;
}

const SUFFIX = 'dc=bank,dc=test';
const SLAPD = fs.existsSync('/usr/sbin/slapd') ? '/usr/sbin/slapd' : 'slapd';

/** OpenLDAP's salted SHA-1 ({SSHA}): base64(sha1(password + salt) + salt). */
function hash(password: string): string {
  const salt = crypto.randomBytes(8);
  const digest = crypto.createHash('sha1').update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

const randomPassword = () => `Ldap-${crypto.randomBytes(9).toString('base64url')}-7!`;

/** A test directory's files and facts: slapd.conf, the LDIF to load (hashed passwords only), and who is in it. */
export interface DirectoryFiles {
  readonly conf: string;
  readonly ldif: string;
  readonly bindDn: string;
  readonly bindPassword: string;
  readonly usersDn: string;
  readonly people: ReadonlyMap<string, DirectoryPerson>;
}

/**
 * slapd.conf and the entries of a test directory: a bind account with read access (and nothing
 * else) and one person per uid, each with a random password (kept in memory, only its hash is
 * in the LDIF). `dataDir` and `pidFile` are where slapd will run: the host or a container.
 */
export function directoryFiles(uids: readonly string[], dataDir: string, pidFile: string, known: ReadonlyMap<string, string> = new Map()): DirectoryFiles {
  const bindDn = `cn=keycloak,ou=services,${SUFFIX}`;
  const bindPassword = known.get('__bind__') ?? randomPassword();
  const usersDn = `ou=people,${SUFFIX}`;
  const conf = [
    'include /etc/ldap/schema/core.schema',
    'include /etc/ldap/schema/cosine.schema',
    'include /etc/ldap/schema/inetorgperson.schema',
    `pidfile ${pidFile}`,
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    'database mdb',
    `suffix "${SUFFIX}"`,
    `rootdn "cn=admin,${SUFFIX}"`,
    `directory ${dataDir}`,
    // Passwords only for binding; the bind account reads, nobody else reads anything.
    'access to attrs=userPassword by anonymous auth by * none',
    `access to * by dn.exact="${bindDn}" read by self read by * none`,
    '',
  ].join('\n');
  const people = new Map(uids.map((uid) => [uid, { uid, password: known.get(uid) ?? randomPassword() }]));
  const entries = [
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Test bank\ndc: bank`,
    `dn: ou=services,${SUFFIX}\nobjectClass: organizationalUnit\nou: services`,
    `dn: ${usersDn}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ${bindDn}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: keycloak\nuserPassword: ${hash(bindPassword)}`,
    ...[...people.values()].map(
      (p) => `dn: uid=${p.uid},${usersDn}\nobjectClass: inetOrgPerson\nuid: ${p.uid}\ncn: ${p.uid}\nsn: ${p.uid}\ngivenName: ${p.uid}\nmail: ${p.uid}@bank.test\nuserPassword: ${hash(p.password)}`,
    ),
  ];
  return { conf, ldif: `${entries.join('\n\n')}\n`, bindDn, bindPassword, usersDn, people };
}

/** A real OpenLDAP (Debian's slapd) on 127.0.0.1, in a temporary directory; plain LDAP, as the `local` profile allows. Stopped by its pid. */
export async function startDirectory(uids: readonly string[]): Promise<TestDirectory> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-slapd-'));
  const port = await freePort();
  fs.mkdirSync(path.join(dir, 'data'));
  const files = directoryFiles(uids, path.join(dir, 'data'), path.join(dir, 'slapd.pid'));
  const { bindDn, bindPassword, usersDn, people } = files;
  const conf = path.join(dir, 'slapd.conf');
  fs.writeFileSync(conf, files.conf);
  const ldif = path.join(dir, 'data.ldif');
  fs.writeFileSync(ldif, files.ldif);
  const load = spawnSync('slapadd', ['-f', conf, '-l', ldif], { encoding: 'utf8' });
  if (load.status !== 0) throw new Error(`slapadd: ${load.stderr}`);
  fs.rmSync(ldif);

  const url = `ldap://127.0.0.1:${port}`;
  // -d 0 keeps slapd in the foreground as our child, so its pid is ours to stop.
  const child: ChildProcess = spawn(SLAPD, ['-f', conf, '-h', `${url}/`, '-d', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += String(chunk)));
  for (let i = 0; ; i++) {
    const probe = spawnSync('ldapwhoami', ['-x', '-H', url, '-D', bindDn, '-w', bindPassword], { encoding: 'utf8' });
    if (probe.status === 0) break;
    if (i >= 50 || child.exitCode !== null) {
      child.kill('SIGTERM');
      throw new Error(`slapd did not come up on ${url}: ${stderr.slice(0, 500)} ${probe.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    bindDn,
    bindPassword,
    usersDn,
    people,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
