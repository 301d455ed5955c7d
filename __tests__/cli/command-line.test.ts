import { spawnSync } from 'child_process';
import * as path from 'path';
import { readCommandLine } from '../../scripts/lib/command-line';

describe('readCommandLine (scripts/lib/command-line.ts): util.parseArgs, every problem at once', () => {
  const spec = { valued: ['estate', 'timeout'], flags: ['yes'] };

  it('reads valued options (both spellings), flags and, where the script takes them, arguments', () => {
    expect(readCommandLine(['--estate', 'e.yaml', '--timeout=60', '--yes'], spec)).toEqual({ values: { estate: 'e.yaml', timeout: '60' }, flags: new Set(['yes']), positionals: [], errors: [] });
    expect(readCommandLine(['alice', '--yes', 'ide-2', '--', '--not-an-option'], { ...spec, positionals: true })).toEqual({
      values: {},
      flags: new Set(['yes']),
      positionals: ['alice', 'ide-2', '--not-an-option'],
      errors: [],
    });
    // A value may start with dashes when it is written inline.
    expect(readCommandLine(['--estate=--odd.yaml'], spec).values).toEqual({ estate: '--odd.yaml' });
  });

  it('reports every problem in the order given, reading on after a valued option that met another option', () => {
    expect(readCommandLine(['extra', '--estate', '--yes', '--timeout', '--force', '--yes=1', '--timeout='], spec)).toEqual({
      values: {},
      flags: new Set(['yes']),
      positionals: [],
      errors: ['unexpected argument extra', '--estate needs a value', '--timeout needs a value', 'unknown option --force', '--yes takes no value', '--timeout needs a value'],
    });
    expect(readCommandLine(['--estate'], spec).errors).toEqual(['--estate needs a value']);
  });

  it("the scripts that use it refuse bad flags with every problem, the usage and exit 2, before doing anything", () => {
    const cli = (script: string, ...args: string[]) => {
      const result = spawnSync(process.execPath, [path.join('scripts', 'ts-run.js'), path.join('scripts', ...script.split('/')), ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, TF_VAR_keycloak_terraform_client_secret: '' } });
      return { status: result.status, lines: result.stderr.trim().split('\n') };
    };
    const bootstrap = cli('keycloak/bootstrap.ts', '--estate', '--nope', 'extra');
    expect(bootstrap.status).toBe(2);
    expect(bootstrap.lines.slice(0, 4)).toEqual(['keycloak:bootstrap: --estate needs a value', 'keycloak:bootstrap: unknown option --nope', 'keycloak:bootstrap: unexpected argument extra', expect.stringMatching(/^usage: /)]);
    const firstPassword = cli('keycloak/first-password.ts', 'Alice', 'bob', '--reset=yes');
    expect(firstPassword.status).toBe(2);
    expect(firstPassword.lines.slice(0, 3)).toEqual(['user:first-password: --reset takes no value', 'user:first-password: name one roster username', 'user:first-password: unexpected argument bob']);
    const rosterCheck = cli('roster-check.ts', 'a.yaml', 'b.yaml', '--estate');
    expect(rosterCheck.status).toBe(2);
    expect(rosterCheck.lines.slice(0, 2)).toEqual(['roster:check: --estate needs a value', 'roster:check: unexpected argument b.yaml']);
  });
});
