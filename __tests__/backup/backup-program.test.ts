import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PG_BIN, startPostgres, TestPostgres } from '../helpers/postgres';
import { exited, sleep, stopProcess } from '../helpers/processes';
import { ROOT } from '../helpers/run';

// ---------------------------------------------------------------------------------------------
// The backup program (images/backup/webide-backup), the very file the image runs, run here on
// the host with the real restic 0.14 and a real PostgreSQL 15: a throwaway cluster holding a
// `keycloak` role and database with a credential row like a TOTP secret, and two homes in
// temporary directories standing in for the read-only home mounts. The restores run the same
// program's restore-home / restore-keycloak, which `npm run restore` runs in a one-off container.
// ---------------------------------------------------------------------------------------------

const PROGRAM = path.join(ROOT, 'images/backup/webide-backup');
const ESTATE = 'webide';
const IDE_UID = 1000;
const asRoot = process.getuid?.() === 0;

interface LogLine {
  ts: string;
  step: string;
  status: string;
  [field: string]: unknown;
}

let pg: TestPostgres;
let work: string;
let homes: string;
const secrets = { restic: `Restic-${crypto.randomBytes(12).toString('base64url')}`, keycloak: `Kc-${crypto.randomBytes(12).toString('base64url')}` };
const marker = `MARKER-${crypto.randomBytes(8).toString('hex')}`;
const totpSecret = crypto.randomBytes(20).toString('hex').toUpperCase();
const keycloakRole = () => ({ user: 'keycloak', password: secrets.keycloak, database: 'keycloak' });

/** The program's environment as the container has it, with the container's paths moved into `work`. */
function programEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const base: Record<string, string | undefined> = {
    PATH: `${PG_BIN}:${process.env.PATH}`,
    HOME: work,
    TMPDIR: path.join(work, 'tmp'),
    RESTIC_REPOSITORY: path.join(work, 'repository'),
    RESTIC_PASSWORD: secrets.restic,
    ...pg.env,
    PGUSER: 'keycloak',
    PGDATABASE: 'keycloak',
    PGPASSWORD: secrets.keycloak,
    BACKUP_HOST: ESTATE,
    BACKUP_HOMES: 'bob alice',
    BACKUP_HOMES_DIR: homes,
    BACKUP_STATE_DIR: path.join(work, 'state'),
    BACKUP_KEEP_DAILY: '7',
    BACKUP_KEEP_WEEKLY: '4',
    BACKUP_KEEP_MONTHLY: '12',
    ...extra,
  };
  return Object.fromEntries(Object.entries(base).filter(([, value]) => value !== undefined)) as NodeJS.ProcessEnv;
}

function program(args: string[], extra: Record<string, string | undefined> = {}) {
  const result = spawnSync(PROGRAM, args, { encoding: 'utf8', env: programEnv(extra), timeout: 180_000 });
  const lines = result.stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as LogLine);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, lines };
}

/** restic itself, on the test repository. */
function restic(args: string[], extra: Record<string, string | undefined> = {}) {
  return spawnSync('restic', args, { encoding: 'utf8', env: programEnv(extra), timeout: 120_000 });
}

interface Snapshot {
  id: string;
  short_id: string;
  time: string;
  hostname: string;
  tags?: string[];
  paths: string[];
}

function snapshots(tags?: string): Snapshot[] {
  const result = restic(['snapshots', '--json', ...(tags ? ['--tag', tags] : [])]);
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout) as Snapshot[];
}

const steps = (lines: LogLine[]) => lines.map((line) => (line.user ? `${line.step}:${line.user}:${line.status}` : `${line.step}:${line.status}`));
const modeOf = (file: string) => fs.lstatSync(file).mode & 0o7777;

/** Alice's home: files with distinct modes, a symlink, a marker, and a cache directory (CACHEDIR.TAG). */
function makeHomes(): void {
  const alice = path.join(homes, 'alice');
  const bob = path.join(homes, 'bob');
  fs.mkdirSync(path.join(alice, '.ssh'), { recursive: true });
  fs.mkdirSync(path.join(alice, 'notes'));
  fs.mkdirSync(path.join(alice, 'bin'));
  fs.mkdirSync(path.join(alice, '.cache', 'pip'), { recursive: true });
  fs.mkdirSync(bob);
  fs.writeFileSync(path.join(alice, '.ssh', 'id_ed25519'), `${marker}\n`);
  fs.writeFileSync(path.join(alice, 'notes', 'plan.txt'), 'quarterly plan\n');
  fs.writeFileSync(path.join(alice, 'bin', 'run.sh'), '#!/bin/sh\necho run\n');
  fs.writeFileSync(path.join(alice, '.cache', 'CACHEDIR.TAG'), 'Signature: 8a477f597d28d172789f06886806bc55\n');
  fs.writeFileSync(path.join(alice, '.cache', 'pip', 'wheel'), 'cached\n');
  fs.symlinkSync('notes/plan.txt', path.join(alice, 'plan'));
  fs.writeFileSync(path.join(bob, 'todo.txt'), 'bob\n');
  fs.chmodSync(path.join(alice, '.ssh'), 0o700);
  fs.chmodSync(path.join(alice, '.ssh', 'id_ed25519'), 0o600);
  fs.chmodSync(path.join(alice, 'notes', 'plan.txt'), 0o640);
  fs.chmodSync(path.join(alice, 'bin', 'run.sh'), 0o750);
  if (asRoot) {
    for (const home of [alice, bob]) {
      const walk = (entry: string): void => {
        fs.lchownSync(entry, IDE_UID, IDE_UID);
        if (fs.lstatSync(entry).isDirectory()) fs.readdirSync(entry).forEach((name) => walk(path.join(entry, name)));
      };
      walk(home);
    }
  }
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-backup-'));
  homes = path.join(work, 'homes');
  for (const dir of ['tmp', 'state', 'homes']) fs.mkdirSync(path.join(work, dir), { mode: 0o700 });
  makeHomes();
  pg = await startPostgres();
  // As in the estate's database: Keycloak's role owns its database and everything in it.
  pg.sql(pg.superuser, `CREATE ROLE keycloak LOGIN PASSWORD '${secrets.keycloak}';`);
  pg.sql(pg.superuser, 'CREATE DATABASE keycloak OWNER keycloak;');
  pg.sql(
    keycloakRole(),
    [
      'CREATE TABLE credential (id varchar(36) PRIMARY KEY, user_id varchar(36) NOT NULL, type varchar(255), secret_data text, created_date bigint);',
      'CREATE INDEX idx_user_credential ON credential (user_id);',
      `INSERT INTO credential VALUES ('cred-1', 'user-alice', 'otp', '{"value":"${totpSecret}"}', 1764000000000);`,
    ].join('\n'),
  );
}, 120_000);

afterAll(async () => {
  await pg?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('webide-backup (images/backup), real restic and PostgreSQL', () => {
  it('runs the restic version the image pins', () => {
    const pinned = spawnSync('bash', [path.join(ROOT, 'scripts/docker/build-images.sh'), '--list'], { encoding: 'utf8' }).stdout;
    const version = /webide-local\/backup:(\S+)/.exec(pinned)?.[1];
    expect(version).toBe('0.14.0');
    expect(spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout).toMatch(new RegExp(`^restic ${version!.replace(/\./g, '\\.')} `));
  });

  it('refuses to run without its environment, naming every problem (exit 2), and touches nothing', () => {
    const result = program(['now'], { RESTIC_PASSWORD: undefined, BACKUP_KEEP_DAILY: '0', BACKUP_HOMES: 'alice Bob' });
    expect(result.status).toBe(2);
    expect(result.lines.map((line) => `${line.step}:${line.status}:${line.error}`)).toEqual([
      'config:failed:RESTIC_PASSWORD is not set',
      "config:failed:BACKUP_HOMES: 'Bob' is not a username",
      'config:failed:BACKUP_KEEP_DAILY must be at least 1',
    ]);
    expect(fs.existsSync(path.join(work, 'repository'))).toBe(false);
  });

  it('creates the repository and backs up the database and each home, one JSON line per step', () => {
    const result = program(['now']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(steps(result.lines)).toEqual(['repository:ok', 'keycloak:ok', 'home:alice:ok', 'home:bob:ok', 'forget:ok', 'check:ok', 'run:ok']);
    expect(result.lines[0].action).toBe('created');
    for (const line of result.lines) expect(line.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const all = snapshots();
    expect(all).toHaveLength(3);
    const keycloak = all.find((s) => s.tags?.includes('keycloak'))!;
    expect(keycloak).toMatchObject({ hostname: ESTATE, tags: ['keycloak'], paths: ['/keycloak.dump'] });
    expect(keycloak.short_id).toBe(result.lines[1].snapshot);
    const alice = all.find((s) => s.tags?.includes('user:alice'))!;
    expect(alice).toMatchObject({ hostname: ESTATE, tags: ['home', 'user:alice'], paths: [path.join(homes, 'alice')] });
    expect(all.find((s) => s.tags?.includes('user:bob'))?.tags).toEqual(['home', 'user:bob']);

    // The home's contents are at the snapshot's root (restored at the volume's root), without the cache directory.
    const listed = restic(['ls', alice.id]).stdout;
    expect(listed).toContain('\n/.ssh/id_ed25519\n');
    expect(listed).not.toContain('/.cache/pip');
  });

  it('logs no secret and no name of a file inside a home', () => {
    const result = program(['now']);
    expect(result.status).toBe(0);
    expect(result.lines[0]).toMatchObject({ step: 'repository', status: 'ok', action: 'opened' });
    const output = `${result.stdout}${result.stderr}`;
    for (const secret of [secrets.restic, secrets.keycloak, totpSecret, marker]) expect(output).not.toContain(secret);
    for (const name of ['id_ed25519', 'plan.txt', 'run.sh', '.ssh', 'notes']) expect(output).not.toContain(name);
  });

  it('encrypts the repository: a wrong password lists nothing, and no file holds the secrets in clear', () => {
    const wrong = restic(['snapshots'], { RESTIC_PASSWORD: `${secrets.restic}-wrong` });
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toMatch(/wrong password/);
    const files: string[] = [];
    const walk = (dir: string): void =>
      fs.readdirSync(dir, { withFileTypes: true }).forEach((entry) => (entry.isDirectory() ? walk(path.join(dir, entry.name)) : files.push(path.join(dir, entry.name))));
    walk(path.join(work, 'repository'));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const bytes = fs.readFileSync(file);
      for (const secret of [marker, totpSecret, 'quarterly plan', 'CREATE TABLE']) expect(bytes.includes(secret)).toBe(false);
    }
  });

  it('restores a home: contents, modes and owners as backed up, later files gone, the other home untouched', () => {
    const alice = path.join(homes, 'alice');
    fs.rmSync(path.join(alice, '.ssh'), { recursive: true });
    fs.rmSync(path.join(alice, 'notes'), { recursive: true });
    fs.writeFileSync(path.join(alice, 'made-after-the-backup'), 'x');
    fs.writeFileSync(path.join(homes, 'bob', 'todo.txt'), 'bob, changed\n');

    const result = program(['restore-home', 'alice'], { BACKUP_RESTORE_DIR: alice });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(steps(result.lines)).toEqual(['repository:ok', 'restore-home:alice:ok']);

    expect(fs.readFileSync(path.join(alice, '.ssh', 'id_ed25519'), 'utf8')).toBe(`${marker}\n`);
    expect(modeOf(path.join(alice, '.ssh'))).toBe(0o700);
    expect(modeOf(path.join(alice, '.ssh', 'id_ed25519'))).toBe(0o600);
    expect(modeOf(path.join(alice, 'notes', 'plan.txt'))).toBe(0o640);
    expect(modeOf(path.join(alice, 'bin', 'run.sh'))).toBe(0o750);
    expect(fs.readlinkSync(path.join(alice, 'plan'))).toBe('notes/plan.txt');
    expect(fs.existsSync(path.join(alice, 'made-after-the-backup'))).toBe(false);
    // The cache was not backed up, so it is not there after a restore.
    expect(fs.existsSync(path.join(alice, '.cache', 'pip'))).toBe(false);
    expect(fs.readdirSync(alice).sort()).toEqual(['.cache', '.ssh', 'bin', 'notes', 'plan']);
    if (asRoot) {
      for (const entry of ['.ssh', '.ssh/id_ed25519', 'notes/plan.txt', 'plan']) {
        const stat = fs.lstatSync(path.join(alice, entry));
        expect([entry, stat.uid, stat.gid]).toEqual([entry, IDE_UID, IDE_UID]);
      }
    }
    expect(fs.readFileSync(path.join(homes, 'bob', 'todo.txt'), 'utf8')).toBe('bob, changed\n');
  });

  it('restores the Keycloak database in one transaction: the credential is back, what was made since is gone', () => {
    pg.sql(keycloakRole(), "DELETE FROM credential; CREATE TABLE made_after (x int); INSERT INTO made_after VALUES (1);");
    const result = program(['restore-keycloak', 'latest']);
    expect(result.status).toBe(0);
    expect(steps(result.lines)).toEqual(['repository:ok', 'restore-keycloak:ok']);
    expect(pg.sql(keycloakRole(), 'SELECT id, type, secret_data FROM credential;').trim()).toBe(`cred-1|otp|{"value":"${totpSecret}"}`);
    expect(pg.sql(keycloakRole(), "SELECT string_agg(tablename || ':' || tableowner, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public';").trim()).toBe(
      'credential:keycloak',
    );
    expect(pg.sql(keycloakRole(), "SELECT indexname FROM pg_indexes WHERE tablename = 'credential' ORDER BY 1;").trim().split('\n')).toEqual([
      'credential_pkey',
      'idx_user_credential',
    ]);
    expect(`${result.stdout}${result.stderr}`).not.toContain(totpSecret);
  });

  it('refuses a snapshot of another kind or user, and leaves the database and the home as they were', () => {
    const alice = snapshots('home,user:alice')[0];
    pg.sql(keycloakRole(), "INSERT INTO credential VALUES ('cred-2', 'user-bob', 'otp', 'x', 1);");
    const keycloak = program(['restore-keycloak', alice.short_id]);
    expect(keycloak.status).toBe(1);
    expect(keycloak.lines.at(-1)).toMatchObject({ step: 'restore-keycloak', status: 'failed', database: 'unchanged' });
    expect(pg.sql(keycloakRole(), 'SELECT count(*) FROM credential;').trim()).toBe('2');

    const bob = program(['restore-home', 'bob', alice.id], { BACKUP_RESTORE_DIR: path.join(homes, 'bob') });
    expect(bob.status).toBe(1);
    expect(bob.lines.at(-1)).toMatchObject({ step: 'restore-home', status: 'failed', user: 'bob', home: 'unchanged' });
    expect(fs.readdirSync(path.join(homes, 'bob'))).toEqual(['todo.txt']);
  });

  it('a restore that fails half-way leaves the database as it was (a truncated archive never commits)', () => {
    // A keycloak snapshot holding only the first part of a real dump, made the newest.
    const dump = spawnSync(path.join(PG_BIN, 'pg_dump'), ['--format=custom', '--compress=0'], { env: programEnv() }).stdout;
    expect(dump.length).toBeGreaterThan(1000);
    const made = spawnSync('restic', ['backup', '--stdin', '--stdin-filename', 'keycloak.dump', '--tag', 'keycloak', '--host', ESTATE, '--json', '--quiet'], {
      input: dump.subarray(0, Math.floor(dump.length * 0.8)),
      env: programEnv(),
      encoding: 'utf8',
    });
    expect(made.status).toBe(0);
    const result = program(['restore-keycloak']);
    expect(result.status).toBe(1);
    expect(result.lines.at(-1)).toMatchObject({ step: 'restore-keycloak', status: 'failed', database: 'unchanged' });
    expect(result.lines.at(-1)?.error).toMatch(/pg_restore: error: could not read from input file: end of file/);
    expect(pg.sql(keycloakRole(), 'SELECT id FROM credential ORDER BY id;').trim().split('\n')).toEqual(['cred-1', 'cred-2']);
    const id = (JSON.parse(made.stdout.trim().split('\n').at(-1)!) as { snapshot_id: string }).snapshot_id;
    expect(restic(['forget', id]).status).toBe(0);
  });

  it('a pg_dump that fails leaves no keycloak snapshot; the homes are still backed up; the run fails and health says so', () => {
    const before = snapshots('keycloak').map((s) => s.id);
    const result = program(['now'], { PGPASSWORD: 'not-the-password', BACKUP_HOMES: 'bob alice carol' });
    expect(result.status).toBe(1);
    expect(steps(result.lines)).toEqual(['repository:ok', 'keycloak:failed', 'home:alice:ok', 'home:bob:ok', 'home:carol:failed', 'forget:ok', 'check:ok', 'run:failed']);
    expect(result.lines[1].error).toMatch(/^pg_dump: .*password authentication failed/);
    expect(result.lines[4].error).toBe('the home is not mounted');
    expect(result.lines.at(-1)?.failed).toBe('keycloak,home:carol');
    expect(snapshots('keycloak').map((s) => s.id)).toEqual(before);
    expect(`${result.stdout}${result.stderr}`).not.toContain('not-the-password');

    const health = spawnSync(PROGRAM, ['health'], { encoding: 'utf8', env: programEnv() });
    expect(health.status).toBe(1);
    expect(health.stdout).toMatch(/last run failed/);
  });

  it('keeps the newest snapshot of each day per group with keep-daily 1 (older days made with backup --time)', () => {
    const day = 24 * 3600 * 1000;
    const at = (ms: number) => new Date(Date.now() - ms).toISOString().replace('T', ' ').slice(0, 19);
    for (const ago of [3 * day, 10 * day]) {
      const made = spawnSync('restic', ['backup', '--stdin', '--stdin-filename', 'keycloak.dump', '--tag', 'keycloak', '--host', ESTATE, '--time', at(ago), '--quiet'], {
        input: 'an older dump',
        env: programEnv(),
      });
      expect(made.status).toBe(0);
    }
    const old = spawnSync('restic', ['backup', '.', '--tag', 'home,user:alice', '--host', ESTATE, '--time', at(5 * day), '--quiet'], { cwd: path.join(homes, 'alice'), env: programEnv() });
    expect(old.status).toBe(0);
    // Today's (the earlier runs' newest, the others are gone already) and the two older ones.
    expect(snapshots('keycloak')).toHaveLength(3);
    const before = snapshots().length;

    const result = program(['now'], { BACKUP_KEEP_DAILY: '1', BACKUP_KEEP_WEEKLY: '0', BACKUP_KEEP_MONTHLY: '0' });
    expect(result.status).toBe(0);
    const forget = result.lines.find((line) => line.step === 'forget')!;
    expect(forget).toMatchObject({ status: 'ok', keep_daily: 1, keep_weekly: 0, keep_monthly: 0 });
    // This run made three snapshots and kept three: as many went as there were before it.
    expect(forget.removed).toBe(before);
    const kept = snapshots();
    expect(kept.map((s) => s.tags?.join(',')).sort()).toEqual(['home,user:alice', 'home,user:bob', 'keycloak']);
    expect(kept.find((s) => s.tags?.includes('keycloak'))?.short_id).toBe(result.lines.find((line) => line.step === 'keycloak')?.snapshot);

    const health = spawnSync(PROGRAM, ['health'], { encoding: 'utf8', env: programEnv() });
    expect([health.status, health.stdout.trim()]).toEqual([0, 'ok']);
  });

  it('waits for the lock another run or restore holds, and gives up after BACKUP_LOCK_WAIT_SECONDS', async () => {
    const lock = path.join(work, 'state', 'lock');
    const holder = spawn('flock', [lock, 'sleep', '60'], { detached: true, stdio: 'ignore' });
    try {
      for (let i = 0; i < 50 && spawnSync('flock', ['-n', lock, 'true']).status === 0; i++) await sleep(100);
      const before = snapshots().length;
      const result = program(['now'], { BACKUP_LOCK_WAIT_SECONDS: '1' });
      expect(result.status).toBe(1);
      expect(steps(result.lines)).toEqual(['lock:waiting', 'lock:failed']);
      expect(snapshots()).toHaveLength(before);
    } finally {
      await stopProcess(holder);
    }
  });

  describe('schedule', () => {
    let child: ChildProcess | undefined;
    afterEach(async () => {
      if (child) await stopProcess(child);
      child = undefined;
    });

    /** The expected next run of HH:MM (UTC): today if still ahead, else tomorrow. */
    function nextRun(hhmm: string, now: Date): string {
      const [h, m] = hhmm.split(':').map(Number);
      const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), h, m);
      return new Date(today > now.getTime() ? today : today + 24 * 3600 * 1000).toISOString().replace('.000Z', 'Z');
    }

    async function startSchedule(hhmm: string): Promise<{ lines: () => LogLine[] }> {
      let out = '';
      child = spawn(PROGRAM, ['schedule'], { env: programEnv({ BACKUP_SCHEDULE: hhmm }), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const lines = () => out.split('\n').filter(Boolean).map((line) => JSON.parse(line) as LogLine);
      for (let i = 0; i < 100 && !lines().some((line) => line.step === 'schedule'); i++) await sleep(100);
      return { lines };
    }

    it.each([
      ['later today', 2 * 3600 * 1000],
      ['earlier today, so tomorrow', -2 * 3600 * 1000],
    ])('waits for the next HH:MM in UTC (%s) and stops at once on SIGTERM', async (_label, offset) => {
      const at = new Date(Date.now() + offset);
      const hhmm = `${String(at.getUTCHours()).padStart(2, '0')}:${String(at.getUTCMinutes()).padStart(2, '0')}`;
      const now = new Date();
      const { lines } = await startSchedule(hhmm);
      expect(lines()).toEqual([expect.objectContaining({ step: 'schedule', status: 'waiting', next: nextRun(hhmm, now) })]);
      const started = Date.now();
      process.kill(child!.pid!, 'SIGTERM');
      for (let i = 0; i < 100 && !exited(child!); i++) await sleep(100);
      expect(exited(child!)).toBe(true);
      // Within docker stop's grace period (not hours later, at the scheduled time); a tighter
      // bound would time the machine's load, not the program.
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(child!.exitCode).toBe(0);
      expect(steps(lines())).toEqual(['schedule:waiting', 'schedule:stopping', 'schedule:stopped']);
    });

    /** HH:MM:SS (UTC) a few seconds from now. */
    const secondsAhead = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString().slice(11, 19);

    async function waitFor(lines: () => LogLine[], test: (line: LogLine) => boolean, ms: number): Promise<void> {
      for (let waited = 0; waited < ms && !lines().some(test); waited += 100) await sleep(100);
      expect(lines().some(test)).toBe(true);
    }

    it('runs at the scheduled time, then waits for the same time tomorrow', async () => {
      const at = secondsAhead(2);
      const { lines } = await startSchedule(at);
      await waitFor(lines, (line) => line.step === 'run', 60_000);
      await waitFor(lines, (line) => line.step === 'schedule' && line.next !== lines()[0].next, 5_000);
      expect(steps(lines())).toEqual(['schedule:waiting', 'repository:ok', 'keycloak:ok', 'home:alice:ok', 'home:bob:ok', 'forget:ok', 'check:ok', 'run:ok', 'schedule:waiting']);
      const [first, , , , , , , , second] = lines();
      expect(Date.parse(String(second.next)) - Date.parse(String(first.next))).toBe(24 * 3600 * 1000);
    }, 90_000);

    it('stops a run in progress on SIGTERM: restic stops cleanly (no lock left in the repository), no further step runs', async () => {
      const { lines } = await startSchedule(secondsAhead(1));
      await waitFor(lines, (line) => line.step === 'keycloak', 30_000);
      const started = Date.now();
      process.kill(child!.pid!, 'SIGTERM');
      for (let i = 0; i < 100 && !exited(child!); i++) await sleep(100);
      expect(exited(child!)).toBe(true);
      expect(Date.now() - started).toBeLessThan(10_000); // docker stop's grace period
      const seen = steps(lines());
      // The scheduler passes the stop on; the run finishes the step it is in (as failed) and stops.
      expect(seen.slice(-2)).toEqual(['run:stopped', 'schedule:stopped']);
      expect(seen.indexOf('schedule:stopping')).toBeGreaterThan(seen.indexOf('keycloak:ok'));
      expect(seen.filter((step) => /^(forget|check|run):(ok|failed)$/.test(step))).toEqual([]);
      expect(fs.readdirSync(path.join(work, 'repository', 'locks'))).toEqual([]);
    }, 60_000);

    it('refuses a schedule that is not HH:MM (exit 2)', () => {
      const result = program(['schedule'], { BACKUP_SCHEDULE: '24:00' });
      expect(result.status).toBe(2);
      expect(result.lines).toEqual([expect.objectContaining({ step: 'schedule', status: 'failed', error: 'BACKUP_SCHEDULE must be a UTC time of day HH:MM' })]);
    });
  });
});
