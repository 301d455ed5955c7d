import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT } from '../helpers/run';

/** A copy of scripts/cdktf.sh in a fresh directory, optionally with a providers/terraformrc. */
function checkout(terraformrc?: (dir: string) => string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdktf-wrapper-'));
  fs.mkdirSync(path.join(dir, 'scripts', 'lib'), { recursive: true });
  for (const script of ['cdktf.sh', 'lib/synth-app.sh']) fs.copyFileSync(path.join(ROOT, 'scripts', script), path.join(dir, 'scripts', script));
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

/** The stacks of an estate as cdktf's manifest.json lists them (by name, as cdktf sorts them), with their dependencies. */
type Stacks = Record<string, string[]>;
const FOUR: Stacks = { edge: ['identity'], identity: ['platform'], platform: [], workspaces: ['platform'] };
/** The Swarm target's stacks (stacks/estate.ts, SWARM_STACK_IDS) with the dependencies buildSwarmEstate declares. */
const SWARM: Stacks = { ai: [], edge: ['entry', 'identity'], entry: ['ai'], identity: ['entry'], workspaces: ['ai'] };
const SHARDED: Stacks = { ...FOUR, 'workspaces-ws-01': ['platform', 'workspaces'], 'workspaces-ws-02': ['platform', 'workspaces'], 'workspaces-ws-10': ['platform', 'workspaces'] };

/**
 * Runs the wrapper in a checkout with a provider mirror and this repository's cdktf.json, whose `npx`
 * and `node` only record how they were called (`node -e`, the wrapper's own reading of cdktf.json
 * and the manifest, runs for real). cdktf.json's app (`node … main.ts`) is the synthesis: it
 * records its CDKTF_OUTDIR and how many TF_VAR_* variables it was given, and writes a manifest of
 * `stacks` and the workspaces stack's backend (state in `<dir>/state`) there; any other `node`
 * exits with `nodeExit`. `states` are written to the state directory first. `env` is added to the
 * wrapper's environment.
 */
function recorded(args: string[], opts: { stacks?: Stacks; nodeExit?: number; synthExit?: number; states?: Record<string, unknown>; env?: Record<string, string> } = {}) {
  const dir = checkout((d) => filesystemMirror(path.join(d, 'providers', 'mirror')));
  fs.copyFileSync(path.join(ROOT, 'cdktf.json'), path.join(dir, 'cdktf.json'));
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  const calls = path.join(dir, 'calls.log');
  const manifest = {
    stacks: Object.fromEntries(Object.entries(opts.stacks ?? FOUR).map(([name, dependencies]) => [name, { name, dependencies, workingDirectory: `stacks/${name}` }])),
  };
  fs.writeFileSync(path.join(dir, 'manifest.fixture.json'), JSON.stringify(manifest));
  fs.writeFileSync(path.join(dir, 'workspaces.fixture.json'), JSON.stringify({ terraform: { backend: { local: { path: '../../../state/terraform.workspaces.tfstate' } } } }));
  fs.mkdirSync(path.join(dir, 'state'));
  for (const [file, state] of Object.entries(opts.states ?? {})) fs.writeFileSync(path.join(dir, 'state', file), JSON.stringify(state));
  fs.writeFileSync(
    path.join(bin, 'npx'),
    `#!/bin/sh\necho "npx $*" >>"${calls}"\n`,
    { mode: 0o755 },
  );
  // The orphan sweep (scripts/orphans.ts) is recorded and succeeds; the Keycloak bootstrap exits with nodeExit.
  fs.writeFileSync(
    path.join(bin, 'node'),
    `#!/bin/sh\nif [ "$1" = -e ]; then exec "${process.execPath}" "$@"; fi\n` +
      `case "$*" in *main.ts) echo "synth into $CDKTF_OUTDIR with $(env | grep -c '^TF_VAR_') TF_VAR_* variable(s)" >>"${calls}"; mkdir -p "$CDKTF_OUTDIR/stacks/workspaces" && cp manifest.fixture.json "$CDKTF_OUTDIR/manifest.json" && cp workspaces.fixture.json "$CDKTF_OUTDIR/stacks/workspaces/cdk.tf.json"; echo "synth says why" >&2; exit ${opts.synthExit ?? 0} ;; esac\n` +
      `echo "node $*" >>"${calls}"\ncase "$*" in *orphans.ts*) exit 0 ;; esac\nexit ${opts.nodeExit ?? 0}\n`,
    { mode: 0o755 },
  );
  const result = spawnSync('bash', [path.join(dir, 'scripts', 'cdktf.sh'), ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, ...opts.env },
  });
  const lines = fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim().split('\n') : [];
  const synth = (line: string) => line.startsWith('synth into ');
  return { status: result.status, stderr: result.stderr, dir, calls: lines.filter((line) => !synth(line)), synthesized: lines.some(synth), synths: lines.filter(synth) };
}

const SYNTHESIZED = '--skip-synth --output cdktf.out';
const options = `--terraform-parallelism 50 --skip-provider-lock ${SYNTHESIZED} --parallelism 1 --ignore-missing-stack-dependencies`;
/** The orphan sweep scripts/cdktf.sh runs before each `cdktf deploy` (scripts/orphans.ts). */
const sweep = (stacks: string) => `node scripts/ts-run.js scripts/orphans.ts --out cdktf.out ${stacks}`;

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

  it('asks for one stack to diff, and refuses an unknown stack, naming the synthesized stacks in deploy order', () => {
    const none = recorded(['diff']);
    expect(none.status).toBe(2);
    expect(none.stderr).toBe('diff: name one stack: npm run diff -- <stack> (platform identity workspaces edge); for all of them at once: npm run plan:report\n');
    const typo = recorded(['deploy', 'workspace']);
    expect(typo.status).toBe(2);
    expect(typo.stderr).toBe("deploy: unknown stack 'workspace' (stacks: platform identity workspaces edge)\n");
    expect(typo.calls).toEqual([]);
    const usage = wrapper(checkout(), ['destroy']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/^usage: npm run diff -- <stack> {2}\| {2}npm run deploy -- \[<stack>…\] {2}\| {2}npm run shards:destroy/);
  });

  it("synthesizes by running cdktf.json's app itself, into SYNTH_OUT, with no TF_VAR_* secret in its environment", () => {
    const secrets = { TF_VAR_keycloak_admin_password: 'not-for-the-program', TF_VAR_keycloak_db_password: 'nor-this' };
    const plain = recorded(['diff', 'workspaces'], { env: secrets });
    expect(plain.status).toBe(0);
    expect(plain.synths).toEqual([`synth into cdktf.out with 0 TF_VAR_* variable(s)`]);
    // The secrets still reach cdktf (Terraform reads them).
    expect(plain.calls).toEqual([`npx cdktf diff workspaces --terraform-parallelism 50 --skip-provider-lock ${SYNTHESIZED}`]);
    const elsewhere = recorded(['diff', 'workspaces'], { env: { ...secrets, SYNTH_OUT: 'other.out' } });
    expect(elsewhere.synths).toEqual([`synth into other.out with 0 TF_VAR_* variable(s)`]);
    expect(elsewhere.calls).toEqual([`npx cdktf diff workspaces --terraform-parallelism 50 --skip-provider-lock --skip-synth --output other.out`]);
  });

  it('stops with the synthesis output when synth fails, running nothing', () => {
    const result = recorded(['deploy'], { synthExit: 1 });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('synth says why\ndeploy: synth failed (above); nothing was run\n');
    expect(result.calls).toEqual([]);
  });

  describe('with workspace shard stacks (workspaces.shards > 1), read from the synthesized manifest', () => {
    it('diffs a shard stack by its id, with the synthesis it just made', () => {
      const result = recorded(['diff', 'workspaces-ws-02'], { stacks: SHARDED });
      expect(result).toMatchObject({ status: 0, synthesized: true, calls: [`npx cdktf diff workspaces-ws-02 --terraform-parallelism 50 --skip-provider-lock ${SYNTHESIZED}`] });
      const unknown = recorded(['diff', 'workspaces-ws-03'], { stacks: SHARDED });
      expect(unknown.status).toBe(2);
      expect(unknown.stderr).toBe("diff: unknown stack 'workspaces-ws-03' (stacks: platform identity workspaces workspaces-ws-01 workspaces-ws-02 workspaces-ws-10 edge)\n");
      // A pattern that names several stacks is not one stack.
      expect(recorded(['diff', 'workspaces*'], { stacks: SHARDED }).stderr).toMatch(/^diff: name one stack/);
    });

    it('deploys every stack: platform, the bootstrap, then identity, workspaces, each shard stack and edge, one at a time', () => {
      expect(recorded(['deploy'], { stacks: SHARDED })).toMatchObject({
        status: 0,
        calls: [
          sweep('platform'),
          `npx cdktf deploy platform ${options}`,
          'node scripts/ts-run.js scripts/keycloak/bootstrap.ts',
          sweep('identity workspaces workspaces-ws-01 workspaces-ws-02 workspaces-ws-10 edge'),
          `npx cdktf deploy identity workspaces workspaces-ws-01 workspaces-ws-02 workspaces-ws-10 edge ${options}`,
        ],
      });
    });

    it("deploys the workspaces part by a pattern ('workspaces*'), in deploy order whatever the order given", () => {
      expect(recorded(['deploy', 'workspaces-ws-10', 'workspaces*'], { stacks: SHARDED }).calls).toEqual([
        sweep('workspaces workspaces-ws-01 workspaces-ws-02 workspaces-ws-10'),
        `npx cdktf deploy workspaces workspaces-ws-01 workspaces-ws-02 workspaces-ws-10 ${options}`,
      ]);
      expect(recorded(['deploy', 'workspaces-ws-02', '--auto-approve'], { stacks: SHARDED }).calls).toEqual([
        sweep('workspaces-ws-02'),
        `npx cdktf deploy workspaces-ws-02 --auto-approve ${options}`,
      ]);
    });

    it('refuses to deploy while a shard stack that is no longer declared still holds resources (the shard count lowered)', () => {
      const state = (resources: unknown[]) => ({ version: 4, serial: 3, lineage: 'x', outputs: {}, resources });
      const result = recorded(['deploy'], {
        stacks: SHARDED,
        states: {
          'terraform.workspaces-ws-02.tfstate': state([{ type: 'docker_network' }]),
          'terraform.workspaces-ws-11.tfstate': state([{ type: 'docker_network' }]),
          // Destroyed (npm run shards:destroy): nothing left in it.
          'terraform.workspaces-ws-12.tfstate': state([]),
        },
      });
      expect(result.status).toBe(1);
      expect(result.stderr).toBe(
        'deploy: these state files belong to workspace shard stacks this estate no longer has, and still hold IDEs (workspaces.shards lowered?):\n' +
          `  ${path.join(fs.realpathSync(result.dir), 'state', 'terraform.workspaces-ws-11.tfstate')}\n` +
          "Nothing was deployed. Set workspaces.shards back, run 'npm run shards:destroy' (homes stay), then lower it and deploy (README, Sharding the workspaces).\n",
      );
      expect(result.calls).toEqual([]);
    });

    it('npm run shards:destroy destroys every shard stack and nothing else; without shards it says there is nothing to do', () => {
      expect(recorded(['destroy-shards'], { stacks: SHARDED }).calls).toEqual([
        `npx cdktf destroy workspaces-ws-01 workspaces-ws-02 workspaces-ws-10 --terraform-parallelism 50 --skip-provider-lock ${SYNTHESIZED} --parallelism 1`,
      ]);
      const none = recorded(['destroy-shards']);
      expect(none.status).toBe(2);
      expect(none.stderr).toBe('shards:destroy: this estate has no workspace shard stacks (workspaces.shards is 1): nothing to destroy\n');
      expect(recorded(['destroy-shards', 'workspaces'], { stacks: SHARDED }).stderr).toBe("shards:destroy: it takes no stack ('workspaces'): it destroys every workspace shard stack\n");
    });
  });

  describe('deploy runs the Keycloak bootstrap between the platform and identity stacks', () => {
    it('all stacks: platform, then the bootstrap, then the rest; each deploy after the orphan sweep of its stacks', () => {
      expect(recorded(['deploy'])).toMatchObject({
        status: 0,
        calls: [sweep('platform'), `npx cdktf deploy platform ${options}`, 'node scripts/ts-run.js scripts/keycloak/bootstrap.ts', sweep('identity workspaces edge'), `npx cdktf deploy identity workspaces edge ${options}`],
      });
    });

    it('identity alone: the bootstrap first; a stack without identity: no bootstrap', () => {
      expect(recorded(['deploy', 'identity']).calls).toEqual(['node scripts/ts-run.js scripts/keycloak/bootstrap.ts', sweep('identity'), `npx cdktf deploy identity ${options}`]);
      expect(recorded(['deploy', 'workspaces']).calls).toEqual([sweep('workspaces'), `npx cdktf deploy workspaces ${options}`]);
    });

    it('a failed bootstrap stops the deploy before the identity stack', () => {
      expect(recorded(['deploy'], { nodeExit: 1 })).toMatchObject({ status: 1, calls: [sweep('platform'), `npx cdktf deploy platform ${options}`, 'node scripts/ts-run.js scripts/keycloak/bootstrap.ts'] });
    });
  });

  describe('on the Swarm target: the preflight first, then ai, entry, the bootstrap, identity, workspaces, edge', () => {
    const preflight = 'node scripts/ts-run.js scripts/swarm-preflight.ts';
    /** What a full deploy runs after the preflight. */
    const afterPreflight = [
      sweep('ai entry'),
      `npx cdktf deploy ai entry ${options}`,
      'node scripts/ts-run.js scripts/keycloak/bootstrap.ts',
      sweep('identity workspaces edge'),
      `npx cdktf deploy identity workspaces edge ${options}`,
    ];
    it('deploys every stack in that order, each after the orphan sweep of its stacks', () => {
      expect(recorded(['deploy'], { stacks: SWARM })).toMatchObject({ status: 0, calls: [preflight, ...afterPreflight] });
      expect(recorded(['diff'], { stacks: SWARM }).stderr).toBe('diff: name one stack: npm run diff -- <stack> (ai entry identity workspaces edge); for all of them at once: npm run plan:report\n');
    });

    it('runs the preflight for one stack too, and no bootstrap without identity', () => {
      expect(recorded(['deploy', 'workspaces'], { stacks: SWARM }).calls).toEqual([preflight, sweep('workspaces'), `npx cdktf deploy workspaces ${options}`]);
    });

    it("with workspaces.shards: the shard stacks after workspaces, before edge; 'workspaces*' names the workspaces part", () => {
      const sharded: Stacks = { ...SWARM, 'workspaces-ws-01': ['ai', 'workspaces'], 'workspaces-ws-02': ['ai', 'workspaces'] };
      expect(recorded(['deploy'], { stacks: sharded }).calls).toEqual([
        preflight,
        sweep('ai entry'),
        `npx cdktf deploy ai entry ${options}`,
        'node scripts/ts-run.js scripts/keycloak/bootstrap.ts',
        sweep('identity workspaces workspaces-ws-01 workspaces-ws-02 edge'),
        `npx cdktf deploy identity workspaces workspaces-ws-01 workspaces-ws-02 edge ${options}`,
      ]);
      expect(recorded(['deploy', 'workspaces*'], { stacks: sharded }).calls).toEqual([
        preflight,
        sweep('workspaces workspaces-ws-01 workspaces-ws-02'),
        `npx cdktf deploy workspaces workspaces-ws-01 workspaces-ws-02 ${options}`,
      ]);
    });

    it('with the registry the estate runs (swarm.registry.serve): the registry stack first and alone, before the preflight; by itself, no preflight', () => {
      const served: Stacks = { ...SWARM, ai: ['registry'], registry: [] };
      expect(recorded(['deploy'], { stacks: served }).calls).toEqual([sweep('registry'), `npx cdktf deploy registry ${options}`, preflight, ...afterPreflight]);
      // What comes before images:pin: the probe would pull the IDE image from a registry that holds nothing yet.
      expect(recorded(['deploy', 'registry'], { stacks: served }).calls).toEqual([sweep('registry'), `npx cdktf deploy registry ${options}`]);
      expect(recorded(['deploy', 'ai'], { stacks: served }).calls).toEqual([preflight, sweep('ai'), `npx cdktf deploy ai ${options}`]);
      // A preflight problem after the registry: nothing else is deployed.
      expect(recorded(['deploy'], { stacks: served, nodeExit: 1 })).toMatchObject({
        status: 1,
        calls: [sweep('registry'), `npx cdktf deploy registry ${options}`, preflight],
        stderr: expect.stringContaining('deploy: the swarm preflight found the problems above; nothing after the registry was deployed\n'),
      });
    });

    it('a problem the preflight finds stops the deploy before anything changes', () => {
      expect(recorded(['deploy'], { stacks: SWARM, nodeExit: 1 })).toMatchObject({
        status: 1,
        calls: [preflight],
        stderr: expect.stringContaining('deploy: the swarm preflight found the problems above; nothing was deployed\n'),
      });
    });
  });
});
