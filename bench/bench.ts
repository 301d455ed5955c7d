/**
 * npm run bench — how synth and plan scale with the roster. A benchmark, not a test:
 * it prints min/median/max per figure and writes results.json and results.md to .work/bench/
 * (ignored). BENCH_UPDATE=1 writes the committed bench/results.md (and bench/results.json)
 * instead: sections this run did not measure (skipped, or sizes left out) are kept from the
 * committed file, and the synth section shows the previous committed medians next to the new.
 *
 *   BENCH_PLAN_SIZES=  (empty) no plan figures   BENCH_LIVE_DIFF=0  no real-plan diff
 *   BENCH_BASELINE=<git rev>  also measure that revision's synth, interleaved run by run with
 *                             this checkout's (same load), e.g. before a speed-up
 *   e.g. synth only: BENCH_PLAN_SIZES= BENCH_LIVE_DIFF=0 npm run bench
 *
 *   BENCH_SHARDS=<n>        also plan the workspaces split into n shards (workspaces.shards): the plan
 *                             figures add the largest shard stack of the same roster (what a one-user
 *                             roster edit plans, besides the small roster-wide stack), and the real-plan
 *                             diff deploys the roster-wide stack and every shard stack instead of one
 *                             stack (default: 1, unsharded)
 *
 *   BENCH_EDIT_SPLIT=<n>    also deploy BENCH_EDIT_USERS (default 1000) users twice, with the workspaces in one
 *                             stack and split into n shard stacks, and time a one-user roster edit's synth and
 *                             plans against each (section 5; the second layout takes over the first's
 *                             networks and nginx links; about an hour at 1000 users on 2 cores)
 *
 *   BENCH_DOCKER_BASELINE=<version>  also plan the same synthesized workspaces stack with that
 *                             docker provider version (it must be in providers/mirror), run by run
 *                             beside the pinned one (providers/pins.json), e.g. after an upgrade
 *
 *   BENCH_RUNS=3            runs per figure          BENCH_SIZES=10,100,500,1000   synth sizes
 *   BENCH_RUNS_LARGE=<runs> runs at sizes >= 1000    BENCH_PLAN_SIZES=10,100,500   plan sizes (10: scaling baseline)
 *   BENCH_DIFF_SIZE=500     roster size of the diff  BENCH_BUDGET_MIN=60           stop starting work after this
 *   BENCH_CMD_TIMEOUT_S=600 per command              BENCH_LIVE_DIFF=0             skip the real-plan diff
 *   BENCH_LIVE_STEPS=100,250  sizes deployed on the way to BENCH_DIFF_SIZE (refreshing plan timed at each)
 *
 * Every loop is bounded by those counts, every command by a timeout (its process group is
 * killed), the whole run by the budget (what did not run is reported as skipped).
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { defaultEstate, generatedRosterYaml, rosterFromText, withoutBackup, withoutEgress } from '../__tests__/helpers/inputs';
import { loadEstate } from '../config/load';
import { providerPin } from '../config/provider-pins';
import { MAX_WORKSPACE_SHARDS } from '../config/shards';
import { writeHclPeer } from './hcl-peer';
import { EditSplit, LiveDiff, liveDiff, oneUserEditSplit, PARALLELISM, stubUpstreamState } from './live-diff';
import { rosterVariants } from './rosters';

const ROOT = path.resolve(__dirname, '..');
// Unset: the default; set but empty: none (e.g. BENCH_PLAN_SIZES= skips the plan figures).
const ints = (text: string | undefined, fallback: number[]) =>
  text === undefined ? fallback : text.split(',').filter((s) => s.trim() !== '').map((s) => Number.parseInt(s, 10)).filter((n) => n >= 0);
const RUNS = ints(process.env.BENCH_RUNS, [3])[0];
const RUNS_LARGE = ints(process.env.BENCH_RUNS_LARGE, [RUNS])[0];
const SIZES = ints(process.env.BENCH_SIZES, [10, 100, 500, 1000]);
const PLAN_SIZES = ints(process.env.BENCH_PLAN_SIZES, [10, 100, 500]);
const DIFF_SIZE = ints(process.env.BENCH_DIFF_SIZE, [500])[0];
const LIVE_DIFF = process.env.BENCH_LIVE_DIFF !== '0';
const LIVE_STEPS = ints(process.env.BENCH_LIVE_STEPS, [100, 250]);
const DEADLINE = Date.now() + ints(process.env.BENCH_BUDGET_MIN, [60])[0] * 60_000;
const UPDATE = process.env.BENCH_UPDATE === '1';
const BASELINE = process.env.BENCH_BASELINE || undefined;
const DOCKER_BASELINE = process.env.BENCH_DOCKER_BASELINE || undefined;
const DOCKER_VERSION = providerPin('docker').version;
const SHARDS = ints(process.env.BENCH_SHARDS, [1])[0] || 1;
const EDIT_SPLIT = ints(process.env.BENCH_EDIT_SPLIT, [0])[0] || 0;
const EDIT_USERS = ints(process.env.BENCH_EDIT_USERS, [1000])[0];
if (EDIT_SPLIT > MAX_WORKSPACE_SHARDS) throw new Error(`BENCH_EDIT_SPLIT=${EDIT_SPLIT}: at most ${MAX_WORKSPACE_SHARDS}`);
if (SHARDS > MAX_WORKSPACE_SHARDS) throw new Error(`BENCH_SHARDS=${SHARDS}: at most ${MAX_WORKSPACE_SHARDS}`);
/**
 * The plan's configurations: the cdktf JSON, the HCL peer, with BENCH_SHARDS the largest shard stack of the
 * same roster split into that many shards, and with BENCH_DOCKER_BASELINE the cdktf JSON on the other docker provider.
 */
const PLAN_TOOLS = ['cdktf', 'hcl', ...(SHARDS > 1 ? ['cdktf-shard'] : []), ...(DOCKER_BASELINE ? ['cdktf-docker-baseline'] : [])] as const;
const OUT_DIR = UPDATE ? __dirname : path.join(path.resolve(__dirname, '..'), '.work', 'bench');
const CMD_TIMEOUT_MS = ints(process.env.BENCH_CMD_TIMEOUT_S, [600])[0] * 1000;
const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const runsFor = (size: number) => (size >= 1000 ? RUNS_LARGE : RUNS);
const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const notes: string[] = [];

// ---------------------------------------------------------------- measuring one command
interface Measured {
  ok: boolean;
  wallS: number;
  /** User + system CPU seconds of the whole tree (GNU time %U + %S): less sensitive to other load than wall time. */
  cpuS?: number;
  /** Peak memory: the larger of the summed RSS of the process tree (sampled every 200 ms) and GNU time's largest process. */
  peakKiB: number;
  output: string;
  /** First match of opts.watch in the output (the output kept is only its tail). */
  watched?: string;
}

function treeRssKiB(root: number): number {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* gone */
    }
  }
  let sum = 0;
  const todo = [root];
  for (let guard = 0; todo.length > 0 && guard < 10_000; guard++) {
    const pid = todo.pop()!;
    try {
      sum += Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* gone */
    }
    todo.push(...(children.get(pid) ?? []));
  }
  return sum;
}

function measure(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; watch?: RegExp } = {}): Promise<Measured> {
  const timeFile = path.join(os.tmpdir(), `bench-time-${process.pid}`);
  fs.rmSync(timeFile, { force: true });
  const argv = TIME ? [TIME, '-f', '%M %U %S', '-o', timeFile, cmd, ...args] : [cmd, ...args];
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let watched: string | undefined;
    const keep = (chunk: Buffer) => {
      watched ??= opts.watch?.exec(output.slice(-200) + chunk.toString())?.[0];
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let peakKiB = 0;
    const sampler = setInterval(() => (peakKiB = Math.max(peakKiB, treeRssKiB(child.pid!))), 200);
    const killer = setTimeout(() => {
      output += `\n[bench] killed after ${CMD_TIMEOUT_MS / 1000}s`;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, CMD_TIMEOUT_MS);
    child.on('close', (code) => {
      clearInterval(sampler);
      clearTimeout(killer);
      const wallS = Number(process.hrtime.bigint() - started) / 1e9;
      const [maxRss, user, sys] = fs.existsSync(timeFile) ? fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number) : [];
      resolve({ ok: code === 0, wallS, cpuS: user === undefined ? undefined : user + sys, peakKiB: Math.max(peakKiB, maxRss ?? 0), output, watched });
    });
  });
}

// ---------------------------------------------------------------- statistics
const samples = new Map<string, number[]>();
const record = (key: string, value: number | undefined) => value !== undefined && samples.set(key, [...(samples.get(key) ?? []), value]);
function stats(key: string): { min: number; median: number; max: number; values: number[] } | undefined {
  const values = samples.get(key);
  if (!values?.length) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return { min: sorted[0], median: sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2, max: sorted[sorted.length - 1], values };
}
const median = (key: string) => stats(key)?.median;
const fmt = (key: string, scale = 1, digits = 1) => {
  const s = stats(key);
  return s ? [s.min, s.median, s.max].map((v) => (v * scale).toFixed(digits)).join(' / ') : 'n/a';
};
const MiB = 1 / 1024;
const overBudget = (what: string) => {
  if (Date.now() < DEADLINE) return false;
  notes.push(`budget (BENCH_BUDGET_MIN) spent: skipped ${what}`);
  return true;
};

// ---------------------------------------------------------------- inputs
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-bench-'));
const estateFile = path.join(ROOT, 'assets', 'estate.yaml');
const estate = defaultEstate();
/**
 * The estate the plan figures use: the sample without its backup agent and egress proxy links. The
 * HCL peer writes the IDEs, their networks and nginx's links by hand and the bench checks that both
 * plan the same objects, so the parts the peer does not write are left out of both.
 */
const planEstateFile = path.join(tmp, 'estate-plan.yaml');
fs.writeFileSync(planEstateFile, withoutBackup(withoutEgress(fs.readFileSync(estateFile, 'utf8'))));
const planEstate = loadEstate({ file: planEstateFile, text: fs.readFileSync(planEstateFile, 'utf8') });
/** The same estate with the workspaces in BENCH_SHARDS shards. */
const shardedPlanEstateFile = path.join(tmp, 'estate-plan-sharded.yaml');
fs.writeFileSync(shardedPlanEstateFile, withWorkspaceShards(fs.readFileSync(planEstateFile, 'utf8'), SHARDS));
/** Sets `workspaces.shards` (a line after `workspaces:`) in an estate file. */
function withWorkspaceShards(text: string, shards: number): string {
  if (shards === 1) return text;
  const lines = text.split('\n').filter((line) => !/^  shards:/.test(line));
  const at = lines.findIndex((line) => line === 'workspaces:');
  if (at < 0) throw new Error('the estate file has no top-level workspaces: section');
  return [...lines.slice(0, at + 1), `  shards: ${shards}`, ...lines.slice(at + 1)].join('\n');
}
function rosterFile(name: string, text: string): string {
  rosterFromText(text, estate); // throws on an invalid roster: the benchmark only measures valid ones
  const file = path.join(tmp, `roster-${name}.yaml`);
  fs.writeFileSync(file, text);
  return file;
}
const rosters = new Map([...new Set([...SIZES, ...PLAN_SIZES])].map((n) => [n, rosterFile(String(n), generatedRosterYaml(n))]));
const freshDir = (name: string) => {
  const dir = path.join(tmp, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
};
const synthOk = (out: string) => fs.existsSync(path.join(out, 'manifest.json'));
const tail = (text: string) => text.trim().split('\n').slice(-8).join('\n');

// The program alone: main.ts compiled once, run by plain node (no CLI, no ts-node).
const jsDir = path.join(tmp, 'js');
const runProgram = (roster: string, outdir: string, stateDir: string, js = jsDir, estate = estateFile) =>
  // NODE_PATH: the compiled files live outside the repo; ESTATE_FILE: main.js's default is relative to its own dir.
  measure('node', [path.join(js, 'main.js')], { env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules'), ESTATE_FILE: estate, ROSTER_FILE: roster, STATE_DIR: stateDir, CDKTF_OUTDIR: outdir } });

// ---------------------------------------------------------------- 1. synth
/** BENCH_BASELINE's checkout (git archive, this checkout's node_modules and .gen) and its compiled program. */
let baseline: { rev: string; dir: string; js: string } | undefined;
async function prepareBaseline(rev: string): Promise<void> {
  const dir = freshDir('baseline');
  const js = path.join(tmp, 'baseline-js');
  const archive = spawnSync('bash', ['-c', `git -C "${ROOT}" archive "${rev}" | tar -x -C "${dir}"`], { encoding: 'utf8' });
  if (archive.status !== 0) throw new Error(`BENCH_BASELINE=${rev}: git archive failed: ${archive.stderr}`);
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  fs.cpSync(path.join(ROOT, '.gen'), path.join(dir, '.gen'), { recursive: true });
  await measure('npx', ['tsc', '-p', dir, '--outDir', js, '--incremental', 'false', '--noEmitOnError', 'false'], {});
  if (!fs.existsSync(path.join(js, 'main.js'))) throw new Error(`BENCH_BASELINE=${rev}: tsc emitted no main.js`);
  const label = spawnSync('git', ['-C', ROOT, 'log', '-1', '--format=%h %s', rev], { encoding: 'utf8' }).stdout.trim();
  baseline = { rev: label, dir, js };
}

async function benchSynth(): Promise<void> {
  const tfrc = path.join(ROOT, 'providers', 'terraformrc');
  // Runs outside, sizes inside: background load drifts over time, this spreads it over all sizes.
  for (let run = 1; run <= Math.max(...SIZES.map(runsFor)); run++) {
    for (const size of SIZES) {
      if (run > runsFor(size) || overBudget(`synth run ${run} at ${size}`)) continue;
      const roster = rosters.get(size)!;
      record(`load.${size}`, os.loadavg()[0]);
      let out = freshDir('synth-out');
      const env = { ...process.env, ROSTER_FILE: roster, ESTATE_FILE: estateFile, STATE_DIR: freshDir('synth-state'), CHECKPOINT_DISABLE: '1', CI: '1' };
      if (fs.existsSync(tfrc)) Object.assign(env, { TF_CLI_CONFIG_FILE: tfrc });
      const cli = await measure('npx', ['cdktf', 'synth', '--output', out], { env });
      if (!cli.ok || !synthOk(out)) throw new Error(`cdktf synth failed at ${size} users:\n${tail(cli.output)}`);
      out = freshDir('synth-out');
      const prog = await runProgram(roster, out, freshDir('synth-state'));
      if (!prog.ok || !synthOk(out)) throw new Error(`node main.js failed at ${size} users:\n${tail(prog.output)}`);
      const measured: [string, Measured][] = [['cli', cli], ['prog', prog]];
      if (baseline) {
        out = freshDir('synth-out');
        // The baseline reads its own estate config: the config's schema changes with the code.
        const baseEstate = path.join(baseline.dir, 'assets', 'estate.yaml');
        const baseCli = await measure('npx', ['cdktf', 'synth', '--output', out], { cwd: baseline.dir, env: { ...env, ESTATE_FILE: baseEstate, STATE_DIR: freshDir('synth-state') } });
        if (!baseCli.ok || !synthOk(out)) throw new Error(`baseline cdktf synth failed at ${size} users:\n${tail(baseCli.output)}`);
        out = freshDir('synth-out');
        const baseProg = await runProgram(roster, out, freshDir('synth-state'), baseline.js, baseEstate);
        if (!baseProg.ok || !synthOk(out)) throw new Error(`baseline node main.js failed at ${size} users:\n${tail(baseProg.output)}`);
        measured.push(['base.cli', baseCli], ['base.prog', baseProg]);
      }
      for (const [tool, m] of measured) {
        record(`${tool}.wall.${size}`, m.wallS);
        record(`${tool}.cpu.${size}`, m.cpuS);
        record(`${tool}.mem.${size}`, m.peakKiB);
      }
      log(`synth ${size} users, run ${run}: ${measured.map(([tool, m]) => `${tool} ${m.wallS.toFixed(1)}s`).join(', ')}`);
    }
  }
}

// ---------------------------------------------------------------- 2 + 4. plan: cdktf's stack vs the HCL peer
interface PlanInfo {
  skipped?: string;
  planned: Record<string, number>;
  equivalence?: string;
}

async function benchPlan(): Promise<PlanInfo> {
  const info: PlanInfo = { planned: {} };
  const tfrc = path.join(ROOT, 'providers', 'terraformrc');
  // The default provider host, read from the prebuilt bindings' metadata (never written here).
  const host = String(require('@cdktf/provider-docker/package.json').cdktf.provider.name).split('/')[0];
  const mirror = path.join(ROOT, 'providers', 'mirror', host);
  const terraform = process.env.TERRAFORM_BINARY_NAME ?? 'terraform';
  const needed = [`kreuzwerker/docker/${DOCKER_VERSION}`, `hashicorp/null/${providerPin('null').version}`, ...(DOCKER_BASELINE ? [`kreuzwerker/docker/${DOCKER_BASELINE}`] : [])];
  if (!fs.existsSync(tfrc) || !needed.every((p) => fs.existsSync(path.join(mirror, p)))) {
    return { ...info, skipped: 'plan figures skipped: no provider mirror (npm run providers)' };
  }
  if (spawnSync(terraform, ['version'], { encoding: 'utf8' }).status !== 0) return { ...info, skipped: `plan figures skipped: no terraform binary (${terraform})` };
  const cache = path.join(ROOT, '.work', 'tf-plugin-cache');
  fs.mkdirSync(cache, { recursive: true });
  const env = { ...process.env, TF_CLI_CONFIG_FILE: tfrc, TF_PLUGIN_CACHE_DIR: cache, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' };

  // Sources once per size: the workspaces stack as synthesized (empty state dir), the HCL peer and,
  // with BENCH_SHARDS, the largest shard stack of the same roster.
  const sources = new Map<number, { cdktf: string; hcl: string; shard?: string }>();
  for (const size of PLAN_SIZES) {
    const stateDir = freshDir(`plan-state-${size}`);
    const out = freshDir(`plan-synth-${size}`);
    const synth = await runProgram(rosters.get(size)!, out, stateDir, jsDir, planEstateFile);
    if (!synth.ok) throw new Error(`synth for plan failed:\n${tail(synth.output)}`);
    const stackDir = path.join(out, 'stacks', 'workspaces');
    const outputs = stubUpstreamState(path.join(stackDir, 'cdk.tf.json'));
    const hcl = freshDir(`hcl-src-${size}`);
    writeHclPeer(hcl, planEstate, rosterFromText(fs.readFileSync(rosters.get(size)!, 'utf8'), planEstate), stateDir, outputs.find((o) => o.includes('nginx')) ?? 'nginx_id');
    sources.set(size, { cdktf: stackDir, hcl, ...(SHARDS > 1 ? { shard: await largestShardStack(size) } : {}) });
  }
  for (let run = 1; run <= Math.max(...PLAN_SIZES.map(runsFor)); run++) {
    for (const size of PLAN_SIZES) {
      for (const tool of PLAN_TOOLS) {
        if (run > runsFor(size) || overBudget(`plan run ${run} of ${tool} at ${size}`)) continue;
        const dir = freshDir(`plan-${tool}`);
        const source = sources.get(size)!;
        fs.cpSync(tool === 'hcl' ? source.hcl : tool === 'cdktf-shard' ? source.shard! : source.cdktf, dir, { recursive: true });
        if (tool === 'cdktf-docker-baseline') pinDockerProvider(path.join(dir, 'cdk.tf.json'), DOCKER_BASELINE!);
        const init = await measure(terraform, ['init', '-input=false', '-no-color'], { cwd: dir, env });
        if (!init.ok) throw new Error(`terraform init (${tool}, ${size}) failed:\n${tail(init.output)}`);
        const plan = await measure(terraform, ['plan', '-input=false', '-lock=false', '-no-color', '-out=plan.tfplan'], { cwd: dir, env, watch: /Plan: (\d+) to add/ });
        if (!plan.ok) return { ...info, skipped: `plan failed (${tool}, ${size} users): ${tail(plan.output).split('\n').slice(-3).join(' ')}` };
        record(`${tool}.init.${size}`, init.wallS);
        record(`${tool}.plan.${size}`, plan.wallS);
        record(`${tool}.plancpu.${size}`, plan.cpuS);
        record(`${tool}.planmem.${size}`, plan.peakKiB);
        info.planned[`${tool}.${size}`] = Number(/\d+/.exec(plan.watched ?? '')?.[0] ?? -1);
        log(`plan ${tool} ${size} users, run ${run}: init ${init.wallS.toFixed(1)}s, plan ${plan.wallS.toFixed(1)}s`);
        if (run === 1 && size === PLAN_SIZES[0]) fs.cpSync(dir, path.join(tmp, `equiv-${tool}`), { recursive: true });
      }
    }
  }
  info.equivalence = comparePlans(terraform, env);
  return info;
}

/** Users in each shard stack at each plan size, for the table. */
const shardUsers = new Map<number, { stack: string; users: number }>();

/** The shard stack with the most users when the roster of `size` users is split into BENCH_SHARDS shards (synthesized, upstream stubbed). */
async function largestShardStack(size: number): Promise<string> {
  const out = freshDir(`plan-synth-sharded-${size}`);
  const synth = await runProgram(rosters.get(size)!, out, freshDir(`plan-state-sharded-${size}`), jsDir, shardedPlanEstateFile);
  if (!synth.ok) throw new Error(`sharded synth for plan failed:\n${tail(synth.output)}`);
  const stacks = fs.readdirSync(path.join(out, 'stacks')).filter((id) => id.startsWith('workspaces-'));
  const usersIn = (id: string) => Object.keys(JSON.parse(fs.readFileSync(path.join(out, 'stacks', id, 'cdk.tf.json'), 'utf8')).resource?.docker_network ?? {}).length;
  const [largest] = stacks.map((stack) => ({ stack, users: usersIn(stack) })).sort((a, b) => b.users - a.users || a.stack.localeCompare(b.stack));
  shardUsers.set(size, largest);
  const dir = path.join(out, 'stacks', largest.stack);
  stubUpstreamState(path.join(dir, 'cdk.tf.json'));
  return dir;
}

/** Rewrites a synthesized stack's docker provider requirement to another version (same configuration, other provider). */
function pinDockerProvider(file: string, version: string): void {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  const docker = doc.terraform?.required_providers?.docker;
  if (!docker) throw new Error(`${file}: no docker provider in terraform.required_providers`);
  docker.version = version;
  fs.writeFileSync(file, JSON.stringify(doc, null, 2));
}

/** Planned values of both configurations, keyed by type + Docker name: the peer must plan the same objects. */
function comparePlans(terraform: string, env: NodeJS.ProcessEnv): string {
  const planned = (tool: string) => {
    const shown = spawnSync(terraform, ['show', '-json', 'plan.tfplan'], { cwd: path.join(tmp, `equiv-${tool}`), env, encoding: 'utf8', maxBuffer: 1 << 30, timeout: CMD_TIMEOUT_MS });
    if (shown.status !== 0) return undefined;
    const changes = (JSON.parse(shown.stdout).resource_changes ?? []) as { type: string; change: { after: { name?: string; triggers?: { network?: string } } } }[];
    return new Map(changes.map((rc) => [`${rc.type}:${rc.change.after.name ?? rc.change.after.triggers?.network ?? ''}`, JSON.stringify(rc.change)]));
  };
  const [a, b] = [planned('cdktf'), planned('hcl')];
  if (!a || !b) return 'not checked (terraform show failed)';
  const differ = [...new Set([...a.keys(), ...b.keys()])].filter((key) => a.get(key) !== b.get(key));
  return differ.length === 0
    ? `identical planned values for all ${a.size} resources at ${PLAN_SIZES[0]} users`
    : `${differ.length} of ${a.size} resources differ, e.g. ${differ.slice(0, 3).join(', ')}`;
}

// ---------------------------------------------------------------- 3. diff minimality (real plans)
async function benchLiveDiff(): Promise<LiveDiff> {
  const steps = [...new Set([...LIVE_STEPS.filter((n) => n < DIFF_SIZE), DIFF_SIZE])];
  if (!LIVE_DIFF) return { skipped: 'real-plan diff skipped: BENCH_LIVE_DIFF=0', steps, seconds: {}, cases: [] };
  if (overBudget('the real-plan diff')) return { skipped: 'real-plan diff skipped: budget spent', steps, seconds: {}, cases: [] };
  return liveDiff(steps, generatedRosterYaml, rosterVariants(DIFF_SIZE), freshDir('live-diff'), log, SHARDS);
}

// ---------------------------------------------------------------- 5. one-user edit, split against unsplit
function benchEditSplit(): EditSplit {
  const none = (why: string): EditSplit => ({ skipped: `split against unsplit skipped: ${why}`, users: EDIT_USERS, shards: EDIT_SPLIT, parallelism: PARALLELISM[1], layouts: [] });
  if (!EDIT_SPLIT) return none('BENCH_EDIT_SPLIT not set');
  if (overBudget('the split against unsplit edit')) return none('budget spent');
  return oneUserEditSplit(EDIT_USERS, EDIT_SPLIT, generatedRosterYaml, fs.readFileSync(planEstateFile, 'utf8'), freshDir('edit-split'), log);
}

// ---------------------------------------------------------------- scaling
interface Scaling {
  figure: string;
  marginal: string;
  verdict: string;
}

function scaling(liveSteps: readonly number[]): Scaling[] {
  // CPU time, not wall time: on a shared machine wall time at the larger sizes soaks up other jobs' load.
  const figures: [string, string, readonly number[], number][] = [
    ['cdktf synth (CLI) CPU, ms/user', 'cli.cpu', SIZES, 1000],
    ['cdktf synth (CLI) peak memory, KiB/user', 'cli.mem', SIZES, 1],
    ['program alone CPU, ms/user', 'prog.cpu', SIZES, 1000],
    ['program alone peak memory, KiB/user', 'prog.mem', SIZES, 1],
    ['terraform plan (cdktf JSON) CPU, ms/user', 'cdktf.plancpu', PLAN_SIZES, 1000],
    ['terraform plan (cdktf JSON) peak memory, KiB/user', 'cdktf.planmem', PLAN_SIZES, 1],
    ['terraform plan (HCL peer) CPU, ms/user', 'hcl.plancpu', PLAN_SIZES, 1000],
    ['terraform plan (HCL peer) peak memory, KiB/user', 'hcl.planmem', PLAN_SIZES, 1],
    ...PARALLELISM.map((p): [string, string, readonly number[], number] => [`refreshing plan of the deployed workspaces stack, p=${p}, wall ms/user (1 run)`, `live.workspaces.plan.p${p}`, liveSteps, 1000]),
    ['refreshing plan of the deployed identity stack, p=10, wall ms/user (1 run)', 'live.identity.plan.p10', liveSteps, 1000],
  ];
  const out: Scaling[] = [];
  for (const [figure, key, sizes, scale] of figures) {
    const points = [...sizes].sort((a, b) => a - b).map((n) => [n, median(`${key}.${n}`)] as const).filter((p): p is readonly [number, number] => p[1] !== undefined);
    if (points.length < 3) continue;
    const marginal = points.slice(1).map(([n, v], i) => ((v - points[i][1]) / (n - points[i][0])) * scale);
    const [previous, last] = marginal.slice(-2);
    const verdict =
      previous <= 0 || last <= 0
        ? 'inconclusive (noise: a marginal cost is not positive)'
        : last > 1.5 * previous
          ? `SUPER-LINEAR: per-user cost x${(last / previous).toFixed(1)} between the last two intervals`
          : `linear or better (last interval x${(last / previous).toFixed(2)} the one before)`;
    out.push({ figure, marginal: points.slice(1).map(([n], i) => `${points[i][0]}→${n}: ${marginal[i].toFixed(1)}`).join(', '), verdict });
  }
  return out;
}

// ---------------------------------------------------------------- report
function table(plan: PlanInfo, live: LiveDiff, edit: EditSplit, scale: Scaling[], meta: Record<string, unknown>): string {
  const md: string[] = [];
  const row = (...cells: unknown[]) => md.push(`| ${cells.join(' | ')} |`);
  const short = (keys: readonly string[]) => keys.map((k) => `\`${k.replace(/_[0-9A-F]{8}$/, '')}\``).join(', ') || '—';
  md.push(`# npm run bench — results`, '', `${meta.date}; ${meta.machine}; load average ${meta.loadStart} at start, ${meta.loadEnd} at end.`, `Runs: ${RUNS} (${RUNS_LARGE} at ≥1000 users). Cells are min / median / max. Memory is the peak of the whole process tree.`, '');
  md.push('## 1. Synth', '', '| users | `cdktf synth` wall s | `cdktf synth` CPU s | `cdktf synth` peak MiB | program alone wall s | program alone CPU s | program alone peak MiB | load (1 min) before the runs |', '|---:|---|---|---|---|---|---|---|');
  for (const n of SIZES) row(n, fmt(`cli.wall.${n}`), fmt(`cli.cpu.${n}`), fmt(`cli.mem.${n}`, MiB, 0), fmt(`prog.wall.${n}`), fmt(`prog.cpu.${n}`), fmt(`prog.mem.${n}`, MiB, 0), fmt(`load.${n}`, 1, 2));
  md.push('', `One-off: \`tsc\` of the project for the program-alone runs: ${(meta.compileS as number).toFixed(1)} s.`, '');
  if (baseline) {
    md.push(`### Baseline measured in the same run: ${baseline.rev}`, '', 'Each of its runs right after the run of this checkout at the same size (same load). Cells are min / median / max; the ratio row is this checkout\'s median over the baseline\'s.', '');
    md.push('| users | | `cdktf synth` wall s | `cdktf synth` CPU s | `cdktf synth` peak MiB | program alone wall s | program alone CPU s | program alone peak MiB |', '|---:|---|---|---|---|---|---|---|');
    const keys = ['cli.wall', 'cli.cpu', 'cli.mem', 'prog.wall', 'prog.cpu', 'prog.mem'];
    for (const n of SIZES) {
      row(n, 'baseline', ...keys.map((k) => fmt(`base.${k}.${n}`, k.endsWith('mem') ? MiB : 1, k.endsWith('mem') ? 0 : 1)));
      row(n, 'this checkout', ...keys.map((k) => fmt(`${k}.${n}`, k.endsWith('mem') ? MiB : 1, k.endsWith('mem') ? 0 : 1)));
      row(n, '**ratio**', ...keys.map((k) => ((median(`${k}.${n}`) ?? NaN) / (median(`base.${k}.${n}`) ?? NaN)).toFixed(2)));
    }
    md.push('');
  }

  md.push('## 2+4. Plan of the workspaces stack (empty state): cdktf vs the HCL peer', '');
  if (plan.skipped) md.push(`**${plan.skipped}**`, '');
  if (plan.equivalence) md.push(`Equivalence check: ${plan.equivalence}.`, '');
  if (Object.keys(plan.planned).length) {
    md.push('| users | config | planned adds | init s | plan s | plan CPU s | plan peak MiB | synth+init+plan s (medians) |', '|---:|---|---:|---|---|---|---|---:|');
    const sum = (...keys: string[]) => keys.reduce((total, key) => total + (median(key) ?? NaN), 0);
    for (const n of PLAN_SIZES) {
      const totals = { cdktf: sum(`cli.wall.${n}`, `cdktf.init.${n}`, `cdktf.plan.${n}`), hcl: sum(`hcl.init.${n}`, `hcl.plan.${n}`) };
      for (const tool of ['cdktf', 'hcl'] as const) row(n, tool === 'cdktf' ? `cdktf (docker ${DOCKER_VERSION})` : tool, plan.planned[`${tool}.${n}`] ?? 'n/a', fmt(`${tool}.init.${n}`), fmt(`${tool}.plan.${n}`), fmt(`${tool}.plancpu.${n}`), fmt(`${tool}.planmem.${n}`, MiB, 0), totals[tool].toFixed(1));
      const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : 'n/a');
      if (SHARDS > 1) {
        const shard = 'cdktf-shard';
        const largest = shardUsers.get(n);
        row(n, `cdktf, largest of ${SHARDS} shards (\`${largest?.stack ?? '?'}\`, ${largest?.users ?? '?'} users)`, plan.planned[`${shard}.${n}`] ?? 'n/a', fmt(`${shard}.init.${n}`), fmt(`${shard}.plan.${n}`), fmt(`${shard}.plancpu.${n}`), fmt(`${shard}.planmem.${n}`, MiB, 0), '');
        row(n, `**ratio shard/unsharded**`, '', '', `plan only: ${ratio(sum(`${shard}.plan.${n}`), sum(`cdktf.plan.${n}`))}`, ratio(sum(`${shard}.plancpu.${n}`), sum(`cdktf.plancpu.${n}`)), ratio(sum(`${shard}.planmem.${n}`), sum(`cdktf.planmem.${n}`)), '');
      }
      if (DOCKER_BASELINE) {
        const base = 'cdktf-docker-baseline';
        row(n, `cdktf (docker ${DOCKER_BASELINE})`, plan.planned[`${base}.${n}`] ?? 'n/a', fmt(`${base}.init.${n}`), fmt(`${base}.plan.${n}`), fmt(`${base}.plancpu.${n}`), fmt(`${base}.planmem.${n}`, MiB, 0), sum(`cli.wall.${n}`, `${base}.init.${n}`, `${base}.plan.${n}`).toFixed(1));
        row(n, `**ratio docker ${DOCKER_VERSION}/${DOCKER_BASELINE}**`, '', '', `plan only: ${ratio(sum(`cdktf.plan.${n}`), sum(`${base}.plan.${n}`))}`, ratio(sum(`cdktf.plancpu.${n}`), sum(`${base}.plancpu.${n}`)), ratio(sum(`cdktf.planmem.${n}`), sum(`${base}.planmem.${n}`)), '');
      }
      row(n, '**ratio cdktf/HCL**', '', '', `plan only: ${ratio(sum(`cdktf.plan.${n}`), sum(`hcl.plan.${n}`))}`, ratio(sum(`cdktf.plancpu.${n}`), sum(`hcl.plancpu.${n}`)), ratio(sum(`cdktf.planmem.${n}`), sum(`hcl.planmem.${n}`)), ratio(totals.cdktf, totals.hcl));
    }
    md.push('', '`synth+init+plan` for cdktf adds the `cdktf synth` (CLI) median of the same roster size; n/a when that size was not in BENCH_SIZES.', '');
  }

  md.push(`## 3. Diff minimality at ${DIFF_SIZE} users: planned changes against a real deployed state`, '');
  if (live.skipped) md.push(`**${live.skipped}**`, '');
  if (live.cases.length) {
    md.push(
      'Deployed in steps (each apply adds users; IDE process: stand-in, see bench/live-diff.ts). Wall seconds of the apply and of a refreshing plan that finds no changes (every step converged), at Terraform\'s default `-parallelism=10` and at 50:',
      '',
      `| stack | ${live.steps.map((n) => `${n} users: apply / plan p=10 / plan p=50`).join(' | ')} |`,
      `|---|${live.steps.map(() => '---').join('|')}|`,
    );
    for (const stack of ['identity', 'workspaces']) {
      const label = stack === 'workspaces' && SHARDS > 1 ? `workspaces (the roster-wide stack and ${SHARDS} shard stacks, summed)` : stack;
      row(label, ...live.steps.map((n) => ['apply', ...PARALLELISM.map((p) => `plan.p${p}`)].map((k) => live.seconds[`${stack}.${k}.${n}`]?.toFixed(0) ?? 'n/a').join(' / ')));
    }
    if (SHARDS > 1) {
      // What a one-user roster edit plans: the roster-wide stack and the user's shard (here the slowest).
      row('workspaces, one roster edit (roster-wide + slowest shard)', ...live.steps.map((n) => ['–', ...PARALLELISM.map((p) => live.seconds[`workspaces.edit.plan.p${p}.${n}`]?.toFixed(0) ?? 'n/a')].join(' / ')));
    }
    md.push('', `Each roster edit planned against the ${DIFF_SIZE}-user state (\`-parallelism=${PARALLELISM[1]}\`):`, '', '| stack | case | planned resource changes | not the user\'s own | changed outputs |', '|---|---|---|---|---|');
    for (const c of live.cases) row(c.stack, c.case, `${c.changes.length}${c.changes.length ? `: ${short(c.changes)}` : ''}`, short(c.others), short(c.outputs));
  }
  md.push('', 'The platform and edge stacks do not depend on the roster; that every roster edit leaves them and all other users unchanged in the synthesized JSON is a unit-test property (`__tests__/stacks/estate.test.ts`).', '');
  md.push('', `## 5. One-user roster edit at ${edit.users} users: one workspaces stack against ${edit.shards} shard stacks`, '');
  if (edit.skipped) md.push(`**${edit.skipped}**`, '');
  if (edit.layouts.length) {
    md.push(
      `Both layouts deployed in this run, one after the other, on the real engine (IDE process: stand-in, as section 3; the sample estate without backup and egress, as section 2): the first from empty; the second takes over the first's user networks and nginx links (declared identically in both), and deploys its own IDE containers, managed files and everything else; each must then plan no changes. The edit adds user ${edit.users + 1}; its synth is cdktf.json's app in its own process on the estate and roster files (every stack of the estate), as \`npm run deploy\` runs it, its plan the refreshing \`terraform plan -parallelism=${edit.parallelism}\` of each stack the edit touches, one after the other, as \`npm run deploy\` runs them. Wall seconds:`,
      '',
      '| layout | deploy of all users | refreshing plan of every workspaces stack (no changes) | edit: synth | edit: plan (stacks) | **edit: synth + plan** | edit: planned changes |',
      '|---|---:|---:|---:|---|---:|---|',
    );
    for (const l of edit.layouts) row(l.layout, l.adopted ? `${l.applyS.toFixed(0)} (${l.adopted} taken over)` : l.applyS.toFixed(0), l.fullPlanS.toFixed(1), l.editSynthS.toFixed(1), `${l.editPlanS.toFixed(1)} (${l.editStacks.join(' + ')})`, `**${(l.editSynthS + l.editPlanS).toFixed(1)}**`, `${l.changes.length}: ${short(l.changes)}`);
    const [one, split] = edit.layouts;
    if (one && split) {
      const splitS = split.editSynthS + split.editPlanS;
      const verdict = splitS < 20 ? 'the goal (under 20 s) is met' : 'the goal (under 20 s) is **not** met';
      md.push('', `Split / unsplit, edit synth + plan: ${(splitS / (one.editSynthS + one.editPlanS)).toFixed(2)}; the split edit takes ${splitS.toFixed(1)} s: ${verdict}.`);
    }
  }
  md.push('', '## Scaling (marginal cost per added user between sizes, from medians)', '', '| figure | marginal cost per added user | verdict |', '|---|---|---|');
  for (const s of scale) row(s.figure, s.marginal, s.verdict);
  if (notes.length) md.push('', '## Notes', '', ...notes.map((n) => `* ${n}`));
  return `${md.join('\n')}\n`;
}

async function main(): Promise<void> {
  const loadStart = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  if (!TIME) notes.push("/usr/bin/time is missing (install Debian's `time` package): CPU figures are n/a and memory is the sampled tree only");
  log(`workdir ${tmp}; runs ${RUNS} (${RUNS_LARGE} at >=1000); sizes ${SIZES}; plan sizes ${PLAN_SIZES}; diff at ${DIFF_SIZE}`);
  const compile = await measure('npx', ['tsc', '--outDir', jsDir, '--incremental', 'false', '--noEmitOnError', 'false'], {});
  if (!fs.existsSync(path.join(jsDir, 'main.js'))) throw new Error(`tsc emitted no main.js:\n${tail(compile.output)}`);
  if (!compile.ok) notes.push(`tsc reported type errors, emitted anyway: ${compile.output.split('\n').find((line) => line.includes('error TS')) ?? tail(compile.output)}`);
  if (BASELINE && SIZES.length) await prepareBaseline(BASELINE);
  await benchSynth();
  const plan = await benchPlan();
  if (plan.skipped) log(plan.skipped);
  // Last: it deploys hundreds of containers, which would disturb the timings above.
  const live = await benchLiveDiff();
  if (live.skipped) log(live.skipped);
  for (const [key, value] of Object.entries(live.seconds)) record(`live.${key}`, value);
  const meta = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
    loadStart,
    loadEnd: os.loadavg().map((l) => l.toFixed(2)).join(' '),
    compileS: compile.wallS,
    runs: RUNS,
    runsLarge: RUNS_LARGE,
    sizes: SIZES,
    planSizes: PLAN_SIZES,
    diffSize: DIFF_SIZE,
  };
  // After the live diff, for the same reason.
  const edit = benchEditSplit();
  if (edit.skipped) log(edit.skipped);
  const scale = scaling(live.steps);
  const committed = path.join(__dirname, 'results.md');
  const fresh = table(plan, live, edit, scale, meta);
  const md = UPDATE && fs.existsSync(committed) ? mergeWithCommitted(fresh, fs.readFileSync(committed, 'utf8'), { synth: SIZES.length > 0, plan: !plan.skipped && PLAN_SIZES.length > 0, live: !live.skipped, edit: !edit.skipped }) : fresh;
  const all = Object.fromEntries([...samples.keys()].sort().map((key) => [key, stats(key)]));
  fs.mkdirSync(OUT_DIR, { recursive: true });
  fs.writeFileSync(path.join(OUT_DIR, 'results.json'), `${JSON.stringify({ meta, samples: all, plan, live, edit, scaling: scale, notes }, null, 2)}\n`);
  fs.writeFileSync(path.join(OUT_DIR, 'results.md'), md);
  log(`results written to ${path.relative(ROOT, OUT_DIR) || '.'}/results.md${UPDATE ? '' : ' (BENCH_UPDATE=1 updates the committed bench/results.md)'}`);
  process.stdout.write(md);
  fs.rmSync(tmp, { recursive: true, force: true });
}

// ---------------------------------------------------------------- updating the committed results
/** `## ` sections of a results.md: the header (before the first) under '', then each by its heading line. */
function sections(md: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = md.split(/^(?=## )/m);
  out.set('', parts[0]);
  for (const part of parts.slice(1)) out.set(part.slice(0, part.indexOf('\n')), part);
  return out;
}
const sectionKey = (heading: string) => /^## (\S+)/.exec(heading)?.[1] ?? heading;

/** Medians of a synth table (`| n | min / median / max | …`) by users, one per column. */
function synthMedians(section: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of section.split('\n### ')[0].split('\n')) {
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (!/^\d+$/.test(cells[0] ?? '')) continue;
    out.set(cells[0], cells.slice(1, 7).map((c) => c.split(' / ')[1] ?? c));
  }
  return out;
}

/**
 * The committed results with what this run measured put in: sections it did not measure are
 * kept (and say so), scaling rows are replaced figure by figure, and the synth section gets a
 * table of the previous committed medians next to the new ones.
 */
function mergeWithCommitted(fresh: string, old: string, ran: { synth: boolean; plan: boolean; live: boolean; edit: boolean }): string {
  const now = sections(fresh);
  const before = sections(old);
  const byKey = (all: Map<string, string>) => new Map([...all].map(([heading, text]) => [sectionKey(heading), text]));
  const [nowBy, beforeBy] = [byKey(now), byKey(before)];
  const previousRun = (before.get('') ?? '').split('\n').find((line) => /^\d{4}-\d\d-\d\dT/.test(line)) ?? 'an earlier run';
  const kept = (key: string) => {
    const text = beforeBy.get(key);
    // A section kept twice says so once: the older note goes.
    return text ? `${text.replace(/\n*_Kept from the previous committed run[^\n]*_\n*/g, '\n').trimEnd()}\n\n_Kept from the previous committed run (${previousRun.split(';')[0]}): not measured in this one._\n\n` : nowBy.get(key) ?? '';
  };
  const out: string[] = [now.get('') ?? ''];
  for (const [heading, text] of now) {
    if (heading === '') continue;
    const key = sectionKey(heading);
    if (key === '1.') {
      if (!ran.synth) {
        out.push(kept(key));
        continue;
      }
      const [oldMedians, newMedians] = [synthMedians(beforeBy.get(key) ?? ''), synthMedians(text)];
      const cols = ['`cdktf synth` wall s', '`cdktf synth` CPU s', '`cdktf synth` peak MiB', 'program alone wall s', 'program alone CPU s', 'program alone peak MiB'];
      const rows = [...newMedians.keys()].filter((n) => oldMedians.has(n)).map((n) => `| ${n} | ${cols.map((_, i) => `${oldMedians.get(n)![i]} → ${newMedians.get(n)![i]}`).join(' | ')} |`);
      const comparison = rows.length
        ? ['### Previous committed run → this run (medians)', '', `Previous: ${previousRun}`, '', `| users | ${cols.join(' | ')} |`, `|---:|${cols.map(() => '---').join('|')}|`, ...rows, '', ''].join('\n')
        : '';
      out.push(`${text.trimEnd()}\n\n${comparison}`);
    } else if (key === '2+4.') out.push(ran.plan ? text : kept(key));
    else if (key === '3.') out.push(ran.live ? text : kept(key));
    else if (key === '5.') out.push(ran.edit ? text : kept(key));
    else if (key === 'Scaling') {
      const rowsOf = (t: string) => new Map(t.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| figure')).map((l) => [l.split('|')[1].trim(), l]));
      const merged = new Map([...rowsOf(beforeBy.get(key) ?? ''), ...rowsOf(text)]);
      out.push(`${text.split('\n').filter((l) => !l.startsWith('| ') || l.startsWith('| figure')).join('\n').replace(/\|---\|---\|---\|\n?/, `|---|---|---|\n${[...merged.values()].join('\n')}\n`)}`);
    } else out.push(text);
  }
  return out.join('');
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n(work dir kept: ${tmp})\n`);
  process.exit(1);
});
