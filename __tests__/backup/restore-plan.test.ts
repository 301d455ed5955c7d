import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BackupConfig } from '../../config/backup';
import { describeStep, parseRestoreArgs, RestorePlanInput, restorePlan, RestoreStep, rosterPlace, runPlan } from '../../scripts/restore';
import { ASSETS } from '../helpers/inputs';
import { runTs } from '../helpers/run';

const backup: BackupConfig = { repository: '/srv/webide-backup', schedule: '02:30', keep: { daily: 7, weekly: 4, monthly: 12 } };
const IMAGE = 'sha256:0f3e1c9a55c8b1f1bb4a7f0e7c0b7f9d2a4e4d1b7c3f9e2a1b0c9d8e7f6a5b4c';
const input = (over: Partial<RestorePlanInput> = {}): RestorePlanInput => ({
  estateName: 'webide',
  dockerHost: 'unix:///var/run/docker.sock',
  backup,
  image: IMAGE,
  target: { kind: 'home', username: 'alice' },
  snapshot: 'latest',
  ...over,
});
const D = ['docker', '--host', 'unix:///var/run/docker.sock'];
const HARDENING = [
  '--user', '0:0', '--cap-drop', 'ALL',
] as const;
const LIMITS = [
  '--security-opt', 'no-new-privileges', '--read-only', '--tmpfs', '/tmp:rw,nosuid,nodev,noexec,size=512m',
  '--memory', '2048m', '--memory-swap', '2048m', '--pids-limit', '256', '--dns', '192.0.2.53',
] as const;
const COMMON = [
  '--name', 'webide-restore', '--label', 'webide.estate=webide', '--label', 'webide.component=restore',
  '--mount', 'type=volume,source=webide-data-backup,target=/var/lib/webide-backup,volume-nocopy',
  '--mount', 'type=bind,source=/srv/webide-backup,target=/backup/repository',
  '--env', 'RESTIC_REPOSITORY=/backup/repository', '--env', 'BACKUP_HOST=webide', '--env', 'RESTIC_PASSWORD',
] as const;

describe('restore plan (scripts/restore.ts)', () => {
  it('home: creates the one-off container first, stops the IDE, restores, starts the IDE, removes the container', () => {
    const steps = restorePlan(input());
    expect(steps.map((step) => step.argv)).toEqual([
      [
        ...D, 'create', ...HARDENING, '--cap-add', 'CHOWN', '--cap-add', 'DAC_OVERRIDE', '--cap-add', 'FOWNER', ...LIMITS, ...COMMON,
        '--mount', 'type=volume,source=webide-home-alice,target=/backup/restore,volume-nocopy', '--network', 'none',
        '--entrypoint', 'webide-backup', IMAGE, 'restore-home', 'alice', 'latest',
      ],
      [...D, 'stop', 'webide-ide-alice'],
      [...D, 'start', '--attach', 'webide-restore'],
      [...D, 'start', 'webide-ide-alice'],
      [...D, 'rm', '--force', 'webide-restore'],
    ]);
    expect(steps.map((step) => step.always ?? false)).toEqual([false, false, false, false, true]);
    expect(steps[0].secrets).toEqual({ RESTIC_PASSWORD: 'TF_VAR_backup_repository_password' });
    expect(steps.slice(1).every((step) => step.secrets === undefined)).toBe(true);
  });

  it('home of an archived user (no IDE): nothing to stop or start; a given snapshot id is passed on', () => {
    const steps = restorePlan(input({ hasIde: false, snapshot: '4f2a9c1d' }));
    expect(steps.map((step) => step.argv.slice(3, 5))).toEqual([['create', '--user'], ['start', '--attach'], ['rm', '--force']]);
    expect(steps[0].argv.slice(-3)).toEqual(['restore-home', 'alice', '4f2a9c1d']);
  });

  it('keycloak: on the database network with its address, stops Keycloak, restores, and starts Keycloak even after a failure', () => {
    const steps = restorePlan(input({ target: { kind: 'keycloak' } }));
    expect(steps.map((step) => step.argv)).toEqual([
      [
        ...D, 'create', ...HARDENING, ...LIMITS, ...COMMON,
        '--env', 'PGHOST=webide-postgres', '--env', 'PGPORT=5432', '--env', 'PGUSER=keycloak', '--env', 'PGDATABASE=keycloak', '--env', 'PGPASSWORD',
        '--network', 'webide-net-database',
        '--entrypoint', 'webide-backup', IMAGE, 'restore-keycloak', 'latest',
      ],
      [...D, 'stop', 'webide-keycloak'],
      [...D, 'start', '--attach', 'webide-restore'],
      [...D, 'start', 'webide-keycloak'],
      [...D, 'rm', '--force', 'webide-restore'],
    ]);
    expect(steps.map((step) => step.always ?? false)).toEqual([false, false, false, true, true]);
    expect(steps[0].secrets).toEqual({ RESTIC_PASSWORD: 'TF_VAR_backup_repository_password', PGPASSWORD: 'TF_VAR_keycloak_db_password' });
  });

  it('a rest: repository: no bind mount, the URL as RESTIC_REPOSITORY, and the edge network for the route out', () => {
    const rest = { ...backup, repository: 'rest:https://10.20.0.5:8000/webide' };
    const home = restorePlan(input({ backup: rest }));
    expect(home[0].argv).toContain('RESTIC_REPOSITORY=rest:https://10.20.0.5:8000/webide');
    expect(home[0].argv.join(' ')).not.toContain('type=bind');
    expect(home[0].argv.slice(home[0].argv.indexOf('--network'), home[0].argv.indexOf('--network') + 2)).toEqual(['--network', 'webide-net-edge']);
    const keycloak = restorePlan(input({ backup: rest, target: { kind: 'keycloak' } }));
    expect(keycloak[1].argv).toEqual([...D, 'network', 'connect', 'webide-net-edge', 'webide-restore']);
    expect(keycloak.map((step) => step.argv[3])).toEqual(['create', 'network', 'stop', 'start', 'start', 'rm']);
  });

  it('never puts a secret on a command line: they are passed by name only', () => {
    for (const step of [...restorePlan(input()), ...restorePlan(input({ target: { kind: 'keycloak' } }))]) {
      for (const arg of step.argv) expect(arg).not.toMatch(/^(RESTIC_PASSWORD|PGPASSWORD)=/);
    }
  });

  it('describeStep quotes only what a shell would split', () => {
    expect(describeStep({ purpose: 'x', argv: ['docker', 'stop', 'webide-ide-alice'] })).toBe('docker stop webide-ide-alice');
    expect(describeStep({ purpose: 'x', argv: ['echo', "it's here", 'a b'] })).toBe(`echo 'it'\\''s here' 'a b'`);
  });
});

describe('restore arguments', () => {
  const env = { TF_VAR_backup_repository_password: 'set', TF_VAR_keycloak_db_password: 'set' };

  it('reads home <username> and keycloak with their flags', () => {
    expect(parseRestoreArgs(['home', 'alice', '--snapshot', '4f2a9c1d', '--yes', '--estate', 'e.yaml', '--roster=r.yaml'], env)).toEqual({
      args: { target: { kind: 'home', username: 'alice' }, snapshot: '4f2a9c1d', yes: true, estateFile: 'e.yaml', rosterFile: 'r.yaml', image: undefined },
    });
    expect(parseRestoreArgs(['keycloak', '--image', 'webide-local/backup:0.14.0'], {})).toMatchObject({
      args: { target: { kind: 'keycloak' }, snapshot: 'latest', yes: false, image: 'webide-local/backup:0.14.0' },
    });
  });

  it('reports every bad flag and argument at once, each naming it', () => {
    expect(parseRestoreArgs(['home', 'Alice', 'extra', '--snapshot', 'last-week', '--force', '--estate'], env)).toEqual({
      errors: [
        'unknown option --force',
        '--estate needs a value',
        '--snapshot "last-week": must be latest or a snapshot id (8 to 64 hex digits, as restic snapshots shows them)',
        'home "Alice": not a username (a lowercase DNS label)',
        'unexpected argument extra',
      ],
    });
    expect(parseRestoreArgs([], env)).toEqual({ errors: ['name what to restore: home <username> or keycloak'] });
    expect(parseRestoreArgs(['volume', 'x'], env)).toEqual({ errors: ['unknown target "volume": restore home <username> or keycloak'] });
    expect(parseRestoreArgs(['home', '--snapshot'], env)).toEqual({ errors: ['--snapshot needs a value', 'home needs a username'] });
    expect(parseRestoreArgs(['home', 'alice', '-h'], env)).toEqual({ help: true });
    expect(parseRestoreArgs(['--yes=1', 'keycloak'], env)).toEqual({ errors: ['--yes takes no value'] });
  });

  it('needs the secrets (as Terraform gets them) only to run: --yes', () => {
    expect(parseRestoreArgs(['keycloak', '--yes'], {})).toEqual({
      errors: ['TF_VAR_backup_repository_password must be set (the same value Terraform gets)', 'TF_VAR_keycloak_db_password must be set (the same value Terraform gets)'],
    });
    expect(parseRestoreArgs(['home', 'alice', '--yes'], { TF_VAR_backup_repository_password: 'set' })).toHaveProperty('args');
    expect(parseRestoreArgs(['keycloak'], {})).toHaveProperty('args');
  });

  it('rosterPlace points at a retired entry, or at the users list a name is missing from', () => {
    const roster = { file: 'roster.yaml', text: 'groups: []\nusers:\n  - { username: alice, email: a@corp.example, name: A }\nretired:\n  - username: zed\n    reason: left in 2026, ticket OPS-1\n' };
    expect(rosterPlace(roster, 'zed')).toEqual({ line: 5, col: 5, retired: true });
    expect(rosterPlace(roster, 'nobody')).toEqual({ line: 2, col: 1, retired: false });
  });
});

describe('runPlan', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restore-plan-'));
    // A stand-in docker: records its arguments and a sha256 of RESTIC_PASSWORD (never the value); `fail` exits 3.
    fs.writeFileSync(
      path.join(dir, 'docker'),
      '#!/bin/sh\nsecret=unset\n[ -n "${RESTIC_PASSWORD+x}" ] && secret=$(printf %s "$RESTIC_PASSWORD" | sha256sum | cut -c1-64)\necho "$* secret=$secret" >>"$CALLS"\n[ "$1" = fail ] && exit 3\nexit 0\n',
      { mode: 0o755 },
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const calls = () => fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n');
  const env = () => ({ PATH: `${dir}:${process.env.PATH}`, CALLS: path.join(dir, 'calls'), TF_VAR_backup_repository_password: 'the-repository-password' });
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');

  it('runs the steps in order; a secret reaches docker as its environment, only on the step that names it', async () => {
    const steps: RestoreStep[] = [
      { purpose: 'create', argv: ['docker', 'create', '--env', 'RESTIC_PASSWORD'], secrets: { RESTIC_PASSWORD: 'TF_VAR_backup_repository_password' } },
      { purpose: 'start', argv: ['docker', 'start', 'x'] },
    ];
    const said: string[] = [];
    const outcome = await runPlan(steps, env(), (line) => said.push(line));
    expect(outcome).toEqual({ code: 0, failedAt: undefined, skipped: [] });
    expect(calls()).toEqual([`create --env RESTIC_PASSWORD secret=${sha('the-repository-password')}`, 'start x secret=unset']);
    expect(said.join('\n')).not.toContain('the-repository-password');
  });

  it('after a failure runs only the steps marked always, and says which failed', async () => {
    const steps: RestoreStep[] = [
      { purpose: 'stop', argv: ['docker', 'stop', 'kc'] },
      { purpose: 'restore', argv: ['docker', 'fail'] },
      { purpose: 'start the IDE', argv: ['docker', 'start', 'ide'] },
      { purpose: 'start Keycloak', argv: ['docker', 'start', 'kc'], always: true },
      { purpose: 'remove', argv: ['docker', 'rm', 'x'], always: true },
    ];
    const said: string[] = [];
    const outcome = await runPlan(steps, env(), (line) => said.push(line));
    expect(outcome.code).toBe(1);
    expect(outcome.failedAt).toBe(1);
    expect(outcome.skipped.map((step) => step.purpose)).toEqual(['start the IDE']);
    expect(calls()).toEqual(['stop kc secret=unset', 'fail secret=unset', 'start kc secret=unset', 'rm x secret=unset']);
    expect(said).toContain('restore: failed (exit 3): restore');
  });
});

describe('npm run restore (the CLI)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restore-cli-'));
    fs.writeFileSync(path.join(dir, 'docker'), '#!/bin/sh\necho "$*" >>"$CALLS"\nexit 0\n', { mode: 0o755 });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[], env: Record<string, string> = {}) =>
    runTs('scripts/restore.ts', args, { PATH: `${dir}:${process.env.PATH}`, CALLS: path.join(dir, 'calls'), TF_VAR_backup_repository_password: '', TF_VAR_keycloak_db_password: '', ...env });
  const ranDocker = () => fs.existsSync(path.join(dir, 'calls'));

  it('bad flags: every problem on its own line, the usage, exit 2, nothing run', () => {
    const result = run(['home', 'alice', '--snapshot', 'yesterday', '--forse', '--yes']);
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      'restore: unknown option --forse',
      'restore: --snapshot "yesterday": must be latest or a snapshot id (8 to 64 hex digits, as restic snapshots shows them)',
      'restore: TF_VAR_backup_repository_password must be set (the same value Terraform gets)',
      expect.stringMatching(/^usage: npm run restore -- <home <username>\|keycloak>/),
    ]);
    expect(result.stdout).toBe('');
    expect(ranDocker()).toBe(false);
  });

  it('refuses a user who is not in the roster, naming the roster line, and runs nothing (exit 1)', () => {
    const result = run(['home', 'zed', '--yes'], { TF_VAR_backup_repository_password: 'x' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^assets\/roster\.yaml:14:1: restore: no user zed under users; a home is restored only for a roster user\n$/);
    expect(ranDocker()).toBe(false);
  });

  it('refuses an estate without backups, and runs nothing (exit 1)', () => {
    const sample = fs.readFileSync(path.join(ASSETS, 'estate.yaml'), 'utf8');
    const start = sample.indexOf('  backup:\n');
    const end = sample.indexOf('  # Per user, at the AI gateway');
    expect(start).toBeGreaterThan(0);
    const estateFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'restore-')), 'estate.yaml');
    fs.writeFileSync(estateFile, sample.slice(0, start) + sample.slice(end));
    const result = run(['keycloak', '--estate', estateFile]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`${estateFile}: restore: the estate has no operations.backup, so there are no backups to restore from\n`);
    expect(ranDocker()).toBe(false);
  });

  it('--help prints the usage and exits 0', () => {
    const result = run(['--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^usage: npm run restore -- /);
  });
});
