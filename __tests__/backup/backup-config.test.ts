import * as fs from 'fs';
import * as path from 'path';
import { backupConfig, BackupConfig, parseBackupRepository } from '../../config/backup';
import { BACKUP_PATHS, backupAgentContract } from '../../constructs/backup';
import { ROOT } from '../helpers/run';

const valid = { repository: '/srv/webide-backup', schedule: '02:30', keep: { daily: 7, weekly: 4, monthly: 12 } };
const messages = (input: unknown) => {
  const result = backupConfig.safeParse(input);
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
};

describe('backup config (config/backup.ts)', () => {
  it('accepts a host path or a rest:https URL, a UTC time of day and the retention', () => {
    expect(backupConfig.parse(valid)).toEqual(valid);
    expect(backupConfig.parse({ ...valid, repository: 'rest:https://backup.corp.example:8000/webide/' }).repository).toBe('rest:https://backup.corp.example:8000/webide/');
    expect(backupConfig.parse({ ...valid, schedule: '23:59', keep: { daily: 1, weekly: 0, monthly: 0 } }).keep).toEqual({ daily: 1, weekly: 0, monthly: 0 });
  });

  it.each([
    ['relative/path', 'must be an absolute path on the Docker host or a rest:https:// URL'],
    ['/srv/backup/', 'must be an absolute path of letters'],
    ['/srv/a,b', 'must be an absolute path of letters'],
    ['/srv/a b', 'must be an absolute path of letters'],
    ['/', 'must be an absolute path of letters'],
    ['/srv/../etc', 'must be a path without . or .. parts'],
    ['rest:http://backup.corp.example/webide', 'must use https'],
    ['rest:https://ops:hunter2@backup.corp.example/webide', 'must not hold credentials'],
    ['rest:https://backup.corp.example/webide?x=1', 'must not have a query or fragment'],
    ['rest:not a url', 'must be a rest: URL'],
    ['s3:s3.amazonaws.com/bucket', 'must be an absolute path on the Docker host or a rest:https:// URL'],
  ])('fails for the repository %s', (repository, message) => {
    const found = messages({ ...valid, repository });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(new RegExp(`^repository: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('fails for a schedule that is not HH:MM, retention without a daily snapshot, and unknown keys, all at once', () => {
    expect(messages({ ...valid, schedule: '2:30', keep: { daily: 0, weekly: -1, monthly: 12 }, extra: true })).toEqual([
      "schedule: must be a UTC time of day HH:MM such as \"02:30\" (quoted)",
      'keep.daily: must be at least 1',
      'keep.weekly: Too small: expected number to be >=0',
      ': Unrecognized key: "extra"',
    ]);
    expect(messages({ ...valid, schedule: '24:00' })).toEqual(['schedule: must be a UTC time of day HH:MM such as "02:30" (quoted)']);
  });

  it('parseBackupRepository tells paths from REST servers', () => {
    expect(parseBackupRepository('/srv/webide-backup')).toEqual({ kind: 'path', hostPath: '/srv/webide-backup' });
    expect(parseBackupRepository('rest:https://10.20.0.5:8000/webide')).toEqual({ kind: 'rest', url: 'rest:https://10.20.0.5:8000/webide' });
  });
});

describe('backup agent contract (constructs/backup.ts)', () => {
  const config: BackupConfig = { repository: '/srv/webide-backup', schedule: '02:30', keep: { daily: 7, weekly: 4, monthly: 12 } };

  it('mounts the repository, the state volume and every home read-only, users sorted whatever the roster order', () => {
    const contract = backupAgentContract({ estateName: 'webide', backup: config, usernames: ['bob', 'alice', 'bob'] });
    expect(contract.containerName).toBe('webide-backup');
    expect(contract.mounts).toEqual([
      { type: 'bind', source: '/srv/webide-backup', target: '/backup/repository', readOnly: false },
      { type: 'volume', source: 'webide-data-backup', target: '/var/lib/webide-backup', readOnly: false },
      { type: 'volume', source: 'webide-home-alice', target: '/backup/homes/alice', readOnly: true },
      { type: 'volume', source: 'webide-home-bob', target: '/backup/homes/bob', readOnly: true },
    ]);
    expect(contract.env).toEqual({
      PGHOST: 'webide-postgres',
      PGPORT: '5432',
      PGUSER: 'keycloak',
      PGDATABASE: 'keycloak',
      RESTIC_REPOSITORY: '/backup/repository',
      BACKUP_HOST: 'webide',
      BACKUP_HOMES: 'alice bob',
      BACKUP_SCHEDULE: '02:30',
      BACKUP_KEEP_DAILY: '7',
      BACKUP_KEEP_WEEKLY: '4',
      BACKUP_KEEP_MONTHLY: '12',
    });
    expect(contract.secretEnv).toEqual({ RESTIC_PASSWORD: 'backup_repository_password', PGPASSWORD: 'keycloak_db_password' });
    expect([contract.user, contract.capabilitiesAdd, contract.command, contract.networks]).toEqual(['0:0', ['CAP_DAC_READ_SEARCH'], ['webide-backup', 'schedule'], ['database']]);
    expect(backupAgentContract({ estateName: 'webide', backup: config, usernames: ['alice', 'bob'] })).toEqual(contract);
  });

  it('passes a rest: URL as RESTIC_REPOSITORY, mounts no repository, and joins the edge network for the route out', () => {
    const contract = backupAgentContract({ estateName: 'webide', backup: { ...config, repository: 'rest:https://10.20.0.5:8000/webide' }, usernames: ['alice'] });
    expect(contract.env.RESTIC_REPOSITORY).toBe('rest:https://10.20.0.5:8000/webide');
    expect(contract.mounts.map((mount) => mount.target)).toEqual([BACKUP_PATHS.state, '/backup/homes/alice']);
    expect(contract.networks).toEqual(['database', 'edge']);
  });

  it('names only variables the backup program reads, and the program needs no other', () => {
    const script = fs.readFileSync(path.join(ROOT, 'images/backup/webide-backup'), 'utf8');
    const contract = backupAgentContract({ estateName: 'webide', backup: config, usernames: ['alice'] });
    const given = [...Object.keys(contract.env), ...Object.keys(contract.secretEnv)];
    // restic and libpq read RESTIC_* and PG* themselves; the program reads the rest.
    for (const name of given.filter((n) => n.startsWith('BACKUP_'))) expect([name, new RegExp(`\\$\\{?${name}\\b`).test(script)]).toEqual([name, true]);
    // Everything the program requires without a default is in the contract.
    const required = [...new Set([...script.matchAll(/for v in ([A-Z_ ]+);/g)].flatMap((m) => m[1].trim().split(/\s+/)))];
    for (const name of [...required, 'RESTIC_REPOSITORY', 'RESTIC_PASSWORD', 'BACKUP_HOST', 'BACKUP_HOMES', 'BACKUP_SCHEDULE']) expect(given).toContain(name);
    // The paths the program defaults to are the contract's.
    for (const [variable, dir] of [['BACKUP_HOMES_DIR', BACKUP_PATHS.homes], ['BACKUP_RESTORE_DIR', BACKUP_PATHS.restore], ['BACKUP_STATE_DIR', BACKUP_PATHS.state]]) {
      expect(script).toContain(`\${${variable}:-${dir}}`);
    }
  });

  it('throws, naming the value and the fix, for a repository that did not come through the schema', () => {
    expect(() => backupAgentContract({ estateName: 'webide', backup: { ...config, repository: 'backups' }, usernames: [] })).toThrow(
      'backup.repository "backups" must be an absolute path on the Docker host or a rest:https:// URL',
    );
  });
});
