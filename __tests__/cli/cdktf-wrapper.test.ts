import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT } from '../helpers/run';

/** A copy of scripts/cdktf.sh in a fresh directory, optionally with a providers/terraformrc. */
function checkout(terraformrc?: (dir: string) => string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdktf-wrapper-'));
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.copyFileSync(path.join(ROOT, 'scripts', 'cdktf.sh'), path.join(dir, 'scripts', 'cdktf.sh'));
  if (terraformrc) {
    fs.mkdirSync(path.join(dir, 'providers', 'mirror'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'providers', 'terraformrc'), terraformrc(dir));
  }
  return dir;
}

function wrapper(dir: string, args: string[]) {
  const result = spawnSync('bash', [path.join(dir, 'scripts', 'cdktf.sh'), ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const filesystemMirror = (mirror: string) => `provider_installation {\n  filesystem_mirror {\n    path = "${mirror}"\n  }\n}\n`;

describe('npm run diff / npm run deploy (scripts/cdktf.sh)', () => {
  it('says in one line that the provider mirror is missing, instead of a registry error', () => {
    for (const command of ['diff', 'deploy']) {
      const result = wrapper(checkout(), [command, 'workspaces']);
      expect(result.status).toBe(1);
      expect(result.stderr).toBe(`${command}: the offline provider mirror is missing (no providers/terraformrc): run 'npm run providers' first (see providers/README.md)\n`);
    }
  });

  it('says so when providers/terraformrc points at a mirror that is not there (a moved checkout)', () => {
    const result = wrapper(checkout(() => filesystemMirror('/nonexistent/providers/mirror')), ['diff', 'workspaces']);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      "diff: providers/terraformrc points at /nonexistent/providers/mirror, which does not exist (repository moved?): run 'npm run providers' again\n",
    );
  });

  it('asks for one stack to diff, and refuses an unknown stack', () => {
    const dir = checkout((d) => filesystemMirror(path.join(d, 'providers', 'mirror')));
    const none = wrapper(dir, ['diff']);
    expect(none.status).toBe(2);
    expect(none.stderr).toBe('diff: name one stack: npm run diff -- <stack> (platform identity workspaces edge); for all of them at once: npm run plan:report\n');
    const typo = wrapper(dir, ['deploy', 'workspace']);
    expect(typo.status).toBe(2);
    expect(typo.stderr).toBe("deploy: unknown stack 'workspace' (stacks: platform identity workspaces edge)\n");
    const usage = wrapper(dir, ['destroy']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/^usage: npm run diff -- <stack> {2}\| {2}npm run deploy -- \[<stack>…\]/);
  });

  describe('deploy runs the Keycloak bootstrap between the platform and identity stacks', () => {
    /** A checkout whose `npx` and `node` only record how they were called; the Keycloak bootstrap (`node`) exits with `nodeExit`. */
    function recorded(args: string[], nodeExit = 0): { status: number | null; calls: string[] } {
      const dir = checkout((d) => filesystemMirror(path.join(d, 'providers', 'mirror')));
      const bin = path.join(dir, 'bin');
      fs.mkdirSync(bin);
      const calls = path.join(dir, 'calls.log');
      for (const [name, exit] of [['npx', 0], ['node', nodeExit]] as const) {
        const exitLine = name === 'node' ? `case "$*" in *bootstrap*) exit ${exit} ;; esac\nexit 0` : `exit ${exit}`;
        fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >>"${calls}"\n${exitLine}\n`, { mode: 0o755 });
      }
      const result = spawnSync('bash', [path.join(dir, 'scripts', 'cdktf.sh'), ...args], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      });
      return { status: result.status, calls: fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim().split('\n') : [] };
    }
    const options = '--terraform-parallelism 50 --skip-provider-lock';
    const orphans = (stacks: string) => `node scripts/ts-run.js scripts/orphans.ts ${stacks}`;

    it('all stacks: one synth; platform, then the bootstrap, then the rest; each deploy after the orphan sweep of its stacks', () => {
      expect(recorded(['deploy'])).toEqual({
        status: 0,
        calls: [
          'npx cdktf synth',
          orphans('platform'),
          `npx cdktf deploy platform ${options} --skip-synth`,
          'node scripts/ts-run.js scripts/keycloak/bootstrap.ts',
          orphans('identity workspaces edge'),
          `npx cdktf deploy identity workspaces edge ${options} --ignore-missing-stack-dependencies --skip-synth`,
        ],
      });
    });

    it('identity alone: the bootstrap first; a stack without identity: no bootstrap', () => {
      expect(recorded(['deploy', 'identity']).calls).toEqual(['npx cdktf synth', 'node scripts/ts-run.js scripts/keycloak/bootstrap.ts', orphans('identity'), `npx cdktf deploy identity ${options} --skip-synth`]);
      expect(recorded(['deploy', 'workspaces']).calls).toEqual(['npx cdktf synth', orphans('workspaces'), `npx cdktf deploy workspaces ${options} --skip-synth`]);
    });

    it('a failed bootstrap stops the deploy before the identity stack', () => {
      expect(recorded(['deploy'], 1)).toEqual({
        status: 1,
        calls: ['npx cdktf synth', orphans('platform'), `npx cdktf deploy platform ${options} --skip-synth`, 'node scripts/ts-run.js scripts/keycloak/bootstrap.ts'],
      });
    });
  });
});
