import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AUDIT_SINK_ENV, AUDIT_SINK_PATHS, AUDIT_SINK_PORTS, AUDIT_SINK_UID, renderRsyslogConf } from '../../render/audit-sink';
import { freePort, sleep, spawnLogged, stopProcess } from '../helpers/processes';
import { auditTempDirs, readLines, utcDay, waitForLines, waitForTcp } from '../helpers/rsyslog';
import { ROOT } from '../helpers/run';

/**
 * The pieces of the audit sink's image (images/audit) that run without Docker, under /bin/sh
 * (dash, a POSIX shell): the retention pruner against a temp tree, and the entrypoint running the
 * real rsyslogd and the pruner, then stopped the way `docker stop` stops it (TERM to the
 * entrypoint alone).
 */
const PRUNE = path.join(ROOT, 'images/audit/prune.sh');
const DOCKERFILE = path.join(ROOT, 'images/audit/Dockerfile');
const ENTRYPOINT = path.join(ROOT, 'images/audit/entrypoint.sh');

const tempDir = auditTempDirs();

const prune = (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const result = spawnSync('/bin/sh', [PRUNE, ...args], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', ...env }, timeout: 30_000 });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
};

/** A log directory holding a day directory (with a file) per name. */
function tree(names: readonly string[]): string {
  const dir = tempDir('prune');
  for (const name of names) {
    fs.mkdirSync(path.join(dir, name));
    fs.writeFileSync(path.join(dir, name, 'keycloak.jsonl'), '{}\n');
  }
  return dir;
}
const left = (dir: string) => fs.readdirSync(dir).sort();
const dayBefore = (day: string, days: number) => new Date(Date.parse(`${day}T00:00:00Z`) - days * 86_400_000).toISOString().slice(0, 10);

describe('images/audit agrees with render/audit-sink.ts and with the rsyslog the tests run', () => {
  const dockerfile = fs.readFileSync(DOCKERFILE, 'utf8');
  const entrypoint = fs.readFileSync(ENTRYPOINT, 'utf8');

  it('the user, the ports, the directories and the config path', () => {
    expect(dockerfile).toMatch(new RegExp(`^USER ${AUDIT_SINK_UID}:${AUDIT_SINK_UID}$`, 'm'));
    expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${AUDIT_SINK_PORTS.udp}/udp ${AUDIT_SINK_PORTS.tcp}/tcp$`, 'm'));
    expect(dockerfile).toContain(`install -d -m 0750 -o ${AUDIT_SINK_UID} -g ${AUDIT_SINK_UID} ${AUDIT_SINK_PATHS.logDir} ${AUDIT_SINK_PATHS.workDir}`);
    expect(dockerfile).toContain(`${AUDIT_SINK_ENV.conf}=${AUDIT_SINK_PATHS.conf}`);
    expect(dockerfile).toContain(`${AUDIT_SINK_ENV.logDir}=${AUDIT_SINK_PATHS.logDir}`);
    expect(entrypoint).toContain(`conf=\${${AUDIT_SINK_ENV.conf}:-${AUDIT_SINK_PATHS.conf}}`);
    expect(entrypoint).toContain(`log_dir=\${${AUDIT_SINK_ENV.logDir}:-${AUDIT_SINK_PATHS.logDir}}`);
    expect(entrypoint).toContain(`days=\${${AUDIT_SINK_ENV.retentionDays}:-}`);
    expect(entrypoint).toContain(`interval=\${${AUDIT_SINK_ENV.pruneIntervalSeconds}:-3600}`);
  });

  it('the image pins the rsyslog version these tests prove the config with', () => {
    const tags = spawnSync('bash', [path.join(ROOT, 'scripts/docker/build-images.sh'), '--list'], { encoding: 'utf8' }).stdout;
    const pinned = /^webide-local\/audit:(\S+)$/m.exec(tags)?.[1];
    const here = /^rsyslogd\s+(\S+)/.exec(spawnSync('rsyslogd', ['-v'], { encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/bin' } }).stdout)?.[1];
    expect(pinned).toBe('8.2302.0');
    expect(here).toBe(pinned);
    expect(dockerfile).toContain('grep -q "^${VERSION}"');
  });
});

describe('images/audit/prune.sh: deletes day directories older than DAYS days, by their name', () => {
  it('keeps TODAY and the DAYS days before it, deletes older ones, leaves every other name alone', () => {
    const dir = tree(['2026-11-29', '2026-11-30', '2026-12-01', '2026-12-15', '2026-12-31', 'lost+found', '2026-1-05', '20261101']);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a day');
    const result = prune([dir, '30', '2026-12-31']);
    expect(result.status).toBe(0);
    expect(left(dir)).toEqual(['2026-1-05', '2026-12-01', '2026-12-15', '2026-12-31', '20261101', 'lost+found', 'notes.txt']);
    expect(result.out).toContain('deleted 2026-11-29');
    expect(result.out).toContain('deleted 2026-11-30');
  });

  it('goes by the name, not the mtime: an old name with a fresh mtime goes, a new name with an old mtime stays', () => {
    const dir = tree(['2026-01-01', '2026-12-30']);
    const now = Date.now() / 1000;
    fs.utimesSync(path.join(dir, '2026-01-01'), now, now);
    fs.utimesSync(path.join(dir, '2026-12-30'), now - 400 * 86_400, now - 400 * 86_400);
    expect(prune([dir, '7', '2026-12-31']).status).toBe(0);
    expect(left(dir)).toEqual(['2026-12-30']);
  });

  it('counts calendar days across month, year and leap-day boundaries', () => {
    const years = tree(['2026-12-25', '2026-12-26']);
    expect(prune([years, '10', '2027-01-05']).status).toBe(0);
    expect(left(years)).toEqual(['2026-12-26']);
    const leap = tree(['2028-02-28', '2028-02-29']);
    expect(prune([leap, '1', '2028-03-01']).status).toBe(0);
    expect(left(leap)).toEqual(['2028-02-29']);
  });

  it('never follows a symbolic link: a link named like an old day stays, and so does what it points at', () => {
    const dir = tree([]);
    const elsewhere = tree(['keep']);
    fs.symlinkSync(elsewhere, path.join(dir, '2020-01-01'));
    expect(prune([dir, '1', '2026-12-31']).status).toBe(0);
    expect(left(dir)).toEqual(['2020-01-01']);
    expect(left(elsewhere)).toEqual(['keep']);
  });

  it('without TODAY, today is the UTC date whatever the local zone (TZ set to zones a day apart from UTC)', () => {
    const today = utcDay(Date.now());
    for (const zone of ['Etc/GMT+12', 'Etc/GMT-14']) {
      const dir = tree([dayBefore(today, 3), dayBefore(today, 2), today]);
      expect(prune([dir, '2'], { TZ: zone }).status).toBe(0);
      expect({ zone, left: left(dir) }).toEqual({ zone, left: [dayBefore(today, 2), today] });
    }
  });

  it.each([
    ['DAYS 0', ['0', '2026-12-31'], /DAYS must be at least 1/],
    ['DAYS not a number', ['30d', '2026-12-31'], /DAYS must be a positive integer/],
    ['an empty DAYS', ['', '2026-12-31'], /DAYS must be a positive integer/],
    ['TODAY not a date', ['30', 'yesterday'], /TODAY must be YYYY-MM-DD/],
  ])('refuses %s and deletes nothing', (_what, args, message) => {
    const dir = tree(['2000-01-01']);
    const result = prune([dir, ...args]);
    expect(result.status).toBe(2);
    expect(result.out).toMatch(message);
    expect(left(dir)).toEqual(['2000-01-01']);
  });

  it('refuses a missing log directory', () => {
    const result = prune([path.join(os.tmpdir(), 'webide-audit-no-such-dir'), '30']);
    expect(result.status).toBe(1);
    expect(result.out).toMatch(/is not a directory/);
  });
});

/** Whether a process is still running (a zombie, dead but not yet reaped, counts as gone). */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A process and all its descendants, from /proc (Linux). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

function commandOf(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return []; // gone meanwhile
  }
}

/** Ends what is left of processes this test started (by pid), so a failing run leaks nothing. */
function killLeft(pids: readonly number[]): void {
  for (const pid of pids.filter(running)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
}

function waitForExit(child: ReturnType<typeof spawnLogged>, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

describe('images/audit/entrypoint.sh: rsyslogd and the pruner together, stopped together', () => {
  /** A sink set up as in the container, but on loopback in a temp dir; the prune script on PATH under its image name. */
  async function sandbox() {
    const dir = tempDir('entry');
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(PRUNE, path.join(bin, 'webide-audit-prune'));
    const logDir = path.join(dir, 'logs');
    const workDir = path.join(dir, 'work');
    fs.mkdirSync(logDir);
    fs.mkdirSync(workDir);
    const port = await freePort();
    const conf = path.join(dir, 'rsyslog.conf');
    fs.writeFileSync(conf, renderRsyslogConf({ listenAddress: '127.0.0.1', udpPort: port, tcpPort: port, logDir, workDir }));
    const env = {
      PATH: `${bin}:/usr/sbin:/usr/bin:/bin`,
      WEBIDE_AUDIT_CONF: conf,
      WEBIDE_AUDIT_LOG_DIR: logDir,
      WEBIDE_AUDIT_RETENTION_DAYS: '3',
      WEBIDE_AUDIT_PRUNE_INTERVAL_SECONDS: '1',
    };
    return { dir, logDir, port, conf, env };
  }

  const run = (env: NodeJS.ProcessEnv, args: string[] = []) => {
    const result = spawnSync('/bin/sh', [ENTRYPOINT, ...args], { encoding: 'utf8', env, timeout: 30_000 });
    return { status: result.status, out: `${result.stdout}${result.stderr}` };
  };

  it.each([
    ['no retention', { WEBIDE_AUDIT_RETENTION_DAYS: '' }, /WEBIDE_AUDIT_RETENTION_DAYS must be a positive number of days, not ''/],
    ['a retention of 0 days', { WEBIDE_AUDIT_RETENTION_DAYS: '00' }, /WEBIDE_AUDIT_RETENTION_DAYS must be/],
    ['an interval that is not a number', { WEBIDE_AUDIT_PRUNE_INTERVAL_SECONDS: '1h' }, /WEBIDE_AUDIT_PRUNE_INTERVAL_SECONDS must be/],
    ['a missing config', { WEBIDE_AUDIT_CONF: '/nonexistent/rsyslog.conf' }, /rsyslog.conf is missing/],
  ])('refuses to start with %s', async (_what, override, message) => {
    const box = await sandbox();
    const result = run({ ...box.env, ...override });
    expect(result.status).toBe(2);
    expect(result.out).toMatch(message);
  });

  it('refuses to start with a config rsyslogd refuses (rsyslogd itself would run half configured)', async () => {
    const box = await sandbox();
    fs.writeFileSync(box.conf, fs.readFileSync(box.conf, 'utf8').replace('dirCreateMode=', 'dirCreatMode='));
    const result = run(box.env);
    expect(result.status).toBe(2);
    expect(result.out).toMatch(/dirCreatMode.*not known/);
    expect(result.out).toMatch(/rsyslogd refused/);
  });

  it('with a command, runs that command instead (the Docker-events collector)', async () => {
    const box = await sandbox();
    const result = run({ ...box.env, WEBIDE_AUDIT_RETENTION_DAYS: '' }, ['sh', '-c', 'echo collector "$0"', 'ran']);
    expect(result).toEqual({ status: 0, out: 'collector ran\n' });
  });

  it('runs rsyslogd and the pruner; TERM to the entrypoint alone stops both promptly, with rsyslogd\'s status', async () => {
    const box = await sandbox();
    const today = utcDay(Date.now());
    fs.mkdirSync(path.join(box.logDir, dayBefore(today, 4)));
    fs.mkdirSync(path.join(box.logDir, dayBefore(today, 3)));
    const logPath = path.join(box.dir, 'entrypoint.log');
    // A long interval: the pruner is asleep when TERM comes, and its sleep must end with it.
    const entry = spawnLogged('/bin/sh', [ENTRYPOINT], { cwd: box.dir, env: { ...box.env, WEBIDE_AUDIT_PRUNE_INTERVAL_SECONDS: '300' }, logPath });
    let family: number[] = [];
    try {
      await waitForTcp(box.port, entry, logPath, 'the entrypoint\'s rsyslogd');
      // The pruner ran at start: the day beyond the retention is gone, the oldest one kept stays.
      for (let i = 0; i < 100 && fs.existsSync(path.join(box.logDir, dayBefore(today, 4))); i++) await sleep(100);
      expect(left(box.logDir)).toEqual([dayBefore(today, 3)]);
      // rsyslogd receives.
      expect(spawnSync('logger', ['--tcp', '-n', '127.0.0.1', '-P', String(box.port), '-t', 'docker-events', '{"id":"via-entrypoint"}']).status).toBe(0);
      const file = path.join(box.logDir, utcDay(Date.now()), 'docker-events.jsonl');
      expect(await waitForLines(file, (l) => l.length === 1, logPath)).toEqual(['{"id":"via-entrypoint"}']);

      family = descendants(entry.pid!);
      expect(family.some((pid) => commandOf(pid)[0] === 'rsyslogd')).toBe(true);
      expect(family.length).toBeGreaterThanOrEqual(3); // rsyslogd, the pruner's subshell and its sleep (or prune run)
      const started = Date.now();
      process.kill(entry.pid!, 'SIGTERM'); // the entrypoint only, as Docker signals PID 1
      const exit = await waitForExit(entry, 8_000);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(Date.now() - started).toBeLessThan(5_000);
      for (let i = 0; i < 20 && family.some(running); i++) await sleep(100);
      expect(family.filter(running)).toEqual([]);
      expect(readLines(file)).toEqual(['{"id":"via-entrypoint"}']);
    } finally {
      await stopProcess(entry);
      killLeft(family);
    }
  }, 60_000);

  it('prunes again every interval', async () => {
    const box = await sandbox();
    const logPath = path.join(box.dir, 'entrypoint.log');
    const entry = spawnLogged('/bin/sh', [ENTRYPOINT], { cwd: box.dir, env: box.env, logPath });
    try {
      await waitForTcp(box.port, entry, logPath, 'the entrypoint\'s rsyslogd');
      await sleep(500);
      const old = path.join(box.logDir, dayBefore(utcDay(Date.now()), 10));
      fs.mkdirSync(old);
      for (let i = 0; i < 50 && fs.existsSync(old); i++) await sleep(100);
      expect(fs.existsSync(old)).toBe(false);
    } finally {
      await stopProcess(entry);
    }
  }, 30_000);

  it('when rsyslogd dies on its own, the entrypoint stops the pruner and exits with rsyslogd\'s status', async () => {
    const box = await sandbox();
    const logPath = path.join(box.dir, 'entrypoint.log');
    const entry = spawnLogged('/bin/sh', [ENTRYPOINT], { cwd: box.dir, env: { ...box.env, WEBIDE_AUDIT_PRUNE_INTERVAL_SECONDS: '300' }, logPath });
    let family: number[] = [];
    try {
      await waitForTcp(box.port, entry, logPath, 'the entrypoint\'s rsyslogd');
      family = descendants(entry.pid!);
      const rsyslogd = family.find((pid) => commandOf(pid)[0] === 'rsyslogd');
      expect(rsyslogd).toBeDefined();
      process.kill(rsyslogd!, 'SIGKILL');
      const exit = await waitForExit(entry, 8_000);
      expect(exit).toEqual({ code: 137, signal: null });
      for (let i = 0; i < 20 && family.some(running); i++) await sleep(100);
      expect(family.filter(running)).toEqual([]);
    } finally {
      await stopProcess(entry);
      killLeft(family);
    }
  }, 60_000);
});
