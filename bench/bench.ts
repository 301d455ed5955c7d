/**
 * npm run bench — how synth and plan scale with the roster. A benchmark, not a test:
 * it prints min/median/max per figure and writes bench/results.json and bench/results.md.
 *
 *   BENCH_RUNS=3            runs per figure          BENCH_SIZES=10,100,500,1000   synth sizes
 *   BENCH_RUNS_LARGE=<runs> runs at sizes >= 1000    BENCH_PLAN_SIZES=10,100,500   plan sizes (10: scaling baseline)
 *   BENCH_DIFF_SIZE=500     roster size of the diff  BENCH_BUDGET_MIN=45           stop starting work after this
 *   BENCH_CMD_TIMEOUT_S=600 per command
 *
 * Every loop is bounded by those counts, every command by a timeout (its process group is
 * killed), the whole run by the budget (what did not run is reported as skipped).
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { defaultEstate, generatedRosterYaml, rosterFromText } from '../__tests__/helpers/inputs';
import { writeHclPeer } from './hcl-peer';

const ROOT = path.resolve(__dirname, '..');
const ints = (text: string | undefined, fallback: number[]) => (text ? text.split(',').map((s) => Number.parseInt(s, 10)).filter((n) => n > 0) : fallback);
const RUNS = ints(process.env.BENCH_RUNS, [3])[0];
const RUNS_LARGE = ints(process.env.BENCH_RUNS_LARGE, [RUNS])[0];
const SIZES = ints(process.env.BENCH_SIZES, [10, 100, 500, 1000]);
const PLAN_SIZES = ints(process.env.BENCH_PLAN_SIZES, [10, 100, 500]);
const DIFF_SIZE = ints(process.env.BENCH_DIFF_SIZE, [500])[0];
const DEADLINE = Date.now() + ints(process.env.BENCH_BUDGET_MIN, [45])[0] * 60_000;
const CMD_TIMEOUT_MS = ints(process.env.BENCH_CMD_TIMEOUT_S, [600])[0] * 1000;
const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const runsFor = (size: number) => (size >= 1000 ? RUNS_LARGE : RUNS);
const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const notes: string[] = [];

// ---------------------------------------------------------------- measuring one command
interface Measured {
  ok: boolean;
  wallS: number;
  /** GNU time %M: max RSS of the largest single process in the tree (KiB). */
  maxRssKiB?: number;
  /** User + system CPU seconds of the whole tree (GNU time %U + %S): less sensitive to other load than wall time. */
  cpuS?: number;
  /** Peak of the summed RSS of the whole process tree, sampled every 200 ms (KiB). */
  treeKiB: number;
  output: string;
  /** First match of opts.watch in the output (the output kept is only its tail). */
  watched?: string;
}

function procTreeRssKiB(root: number): number {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      (children.get(ppid) ?? children.set(ppid, []).get(ppid)!).push(Number(entry));
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

const TIME_FORMAT = '%e %M %U %S';
/** GNU time's last line: `wall maxRssKiB user sys`. */
function readTime(file: string): { wallS: number; rssKiB: number; cpuS: number } | undefined {
  if (!fs.existsSync(file)) return undefined;
  const [wallS, rssKiB, user, sys] = fs.readFileSync(file, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { wallS, rssKiB, cpuS: user + sys };
}

function measure(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeFile?: string; watch?: RegExp } = {}): Promise<Measured> {
  const timeFile = opts.timeFile ?? path.join(os.tmpdir(), `bench-time-${process.pid}`);
  fs.rmSync(timeFile, { force: true });
  const argv = TIME ? [TIME, '-f', TIME_FORMAT, '-o', timeFile, cmd, ...args] : [cmd, ...args];
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let watched: string | undefined;
    const keep = (chunk: Buffer) => {
      const text = output.slice(-200) + chunk.toString();
      watched ??= opts.watch?.exec(text)?.[0];
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let treeKiB = 0;
    const sampler = setInterval(() => (treeKiB = Math.max(treeKiB, procTreeRssKiB(child.pid!))), 200);
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
      const timed = TIME ? readTime(timeFile) : undefined;
      resolve({ ok: code === 0, wallS, maxRssKiB: timed?.rssKiB, cpuS: timed?.cpuS, treeKiB, output, watched });
    });
  });
}

// ---------------------------------------------------------------- statistics
interface Stats {
  min: number;
  median: number;
  max: number;
  values: number[];
}
const samples = new Map<string, number[]>();
const record = (key: string, value: number | undefined) => value !== undefined && (samples.get(key) ?? samples.set(key, []).get(key)!).push(value);
function stats(key: string): Stats | undefined {
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
function programEnv(roster: string, outdir: string, stateDir: string): NodeJS.ProcessEnv {
  // NODE_PATH: the compiled files live outside the repo; ESTATE_FILE: main.js's default is relative to its own dir.
  return { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules'), ESTATE_FILE: estateFile, ROSTER_FILE: roster, STATE_DIR: stateDir, CDKTF_OUTDIR: outdir };
}
const runProgram = (roster: string, outdir: string, stateDir: string) => measure('node', [path.join(jsDir, 'main.js')], { env: programEnv(roster, outdir, stateDir) });

// ---------------------------------------------------------------- 1. synth
async function benchSynth(): Promise<void> {
  const app = JSON.parse(fs.readFileSync(path.join(ROOT, 'cdktf.json'), 'utf8')).app as string;
  const appTime = path.join(tmp, 'app-time');
  // The CLI runs the app through a shell; GNU time around it measures the app child alone.
  const wrappedApp = TIME ? `${TIME} -f '${TIME_FORMAT}' -o ${appTime} ${app}` : app;
  const tfrc = path.join(ROOT, 'providers', 'terraformrc');
  const maxRuns = Math.max(...SIZES.map(runsFor));
  // Runs outside, sizes inside: background load drifts over time, this spreads it over all sizes.
  for (let run = 1; run <= maxRuns; run++) {
    for (const size of SIZES) {
      if (run > runsFor(size) || overBudget(`synth run ${run} at ${size}`)) continue;
      const roster = rosters.get(size)!;
      let out = freshDir('synth-out');
      const env = { ...process.env, ROSTER_FILE: roster, ESTATE_FILE: estateFile, STATE_DIR: freshDir('synth-state'), CHECKPOINT_DISABLE: '1', CI: '1' };
      if (fs.existsSync(tfrc)) Object.assign(env, { TF_CLI_CONFIG_FILE: tfrc });
      fs.rmSync(appTime, { force: true });
      const cli = await measure('npx', ['cdktf', 'synth', '--output', out, '--app', wrappedApp], { env });
      if (!cli.ok || !synthOk(out)) throw new Error(`cdktf synth failed at ${size} users:\n${tail(cli.output)}`);
      record(`cli.wall.${size}`, cli.wallS);
      record(`cli.rss.${size}`, cli.maxRssKiB);
      record(`cli.cpu.${size}`, cli.cpuS);
      record(`cli.tree.${size}`, cli.treeKiB);
      const appTimed = readTime(appTime);
      record(`app.wall.${size}`, appTimed?.wallS);
      record(`app.cpu.${size}`, appTimed?.cpuS);
      record(`app.rss.${size}`, appTimed?.rssKiB);
      out = freshDir('synth-out');
      const prog = await runProgram(roster, out, freshDir('synth-state'));
      if (!prog.ok || !synthOk(out)) throw new Error(`node main.js failed at ${size} users:\n${tail(prog.output)}`);
      record(`prog.wall.${size}`, prog.wallS);
      record(`prog.cpu.${size}`, prog.cpuS);
      record(`prog.rss.${size}`, prog.maxRssKiB);
      log(`synth ${size} users, run ${run}: cli ${cli.wallS.toFixed(1)}s, program ${prog.wallS.toFixed(1)}s`);
    }
  }
}

// ---------------------------------------------------------------- 2 + 4. plan: cdktf's stack vs the HCL peer
interface PlanInfo {
  skipped?: string;
  docker?: string;
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
  if (!fs.existsSync(tfrc) || !['kreuzwerker/docker/3.6.2', 'hashicorp/null/3.2.4'].every((p) => fs.existsSync(path.join(mirror, p)))) {
    info.skipped = 'plan figures skipped: no provider mirror (npm run providers)';
    return info;
  }
  if (spawnSync(terraform, ['version'], { encoding: 'utf8' }).status !== 0) {
    info.skipped = `plan figures skipped: no terraform binary (${terraform})`;
    return info;
  }
  const docker = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 20_000 });
  info.docker = docker.status === 0 ? `daemon ${docker.stdout.trim()} answers` : `no daemon (docker info: ${(docker.stderr || docker.error?.message || '').trim().split('\n')[0]})`;
  const cache = path.join(ROOT, '.work', 'tf-plugin-cache');
  fs.mkdirSync(cache, { recursive: true });
  const env = { ...process.env, TF_CLI_CONFIG_FILE: tfrc, TF_PLUGIN_CACHE_DIR: cache, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' };

  // Sources once per size: the workspaces stack as synthesized (empty state dir) and the HCL peer.
  const sources = new Map<number, { cdktf: string; hcl: string }>();
  for (const size of PLAN_SIZES) {
    const stateDir = freshDir(`plan-state-${size}`);
    const out = freshDir(`plan-synth-${size}`);
    const synth = await runProgram(rosters.get(size)!, out, stateDir);
    if (!synth.ok) throw new Error(`synth for plan failed:\n${tail(synth.output)}`);
    const stackDir = path.join(out, 'stacks', 'workspaces');
    const outputs = stubUpstreamState(path.join(stackDir, 'cdk.tf.json'));
    const hcl = freshDir(`hcl-src-${size}`);
    writeHclPeer(hcl, estate, rosterFromText(fs.readFileSync(rosters.get(size)!, 'utf8'), estate), stateDir, outputs.find((o) => o.includes('nginx')) ?? 'nginx_id');
    sources.set(size, { cdktf: stackDir, hcl });
  }
  const maxRuns = Math.max(...PLAN_SIZES.map(runsFor));
  for (let run = 1; run <= maxRuns; run++) {
    for (const size of PLAN_SIZES) {
      for (const tool of ['cdktf', 'hcl'] as const) {
        if (run > runsFor(size) || overBudget(`plan run ${run} of ${tool} at ${size}`)) continue;
        const dir = freshDir(`plan-${tool}`);
        fs.cpSync(sources.get(size)![tool], dir, { recursive: true });
        const init = await measure(terraform, ['init', '-input=false', '-no-color'], { cwd: dir, env });
        if (!init.ok) throw new Error(`terraform init (${tool}, ${size}) failed:\n${tail(init.output)}`);
        const plan = await measure(terraform, ['plan', '-input=false', '-lock=false', '-no-color', '-out=plan.tfplan'], { cwd: dir, env, watch: /Plan: (\d+) to add/ });
        if (!plan.ok) {
          info.skipped = `plan failed (${tool}, ${size} users; docker: ${info.docker}): ${tail(plan.output).split('\n').slice(-3).join(' ')}`;
          return info;
        }
        record(`${tool}.init.${size}`, init.wallS);
        record(`${tool}.plan.${size}`, plan.wallS);
        record(`${tool}.plancpu.${size}`, plan.cpuS);
        record(`${tool}.planrss.${size}`, plan.maxRssKiB);
        record(`${tool}.plantree.${size}`, plan.treeKiB);
        info.planned[`${tool}.${size}`] = Number(/\d+/.exec(plan.watched ?? '')?.[0] ?? -1);
        log(`plan ${tool} ${size} users, run ${run}: init ${init.wallS.toFixed(1)}s, plan ${plan.wallS.toFixed(1)}s`);
        if (run === 1 && size === PLAN_SIZES[0]) fs.cpSync(dir, path.join(tmp, `equiv-${tool}`), { recursive: true });
      }
    }
  }
  info.equivalence = comparePlans(terraform, env);
  return info;
}

/**
 * The workspaces stack reads the platform stack's state (nginx's container id), which a real
 * deploy creates first. The benchmark plans the workspaces stack with its OWN state empty and
 * the upstream state stubbed: one state file per referenced remote state, holding only the
 * outputs the stack reads (placeholder strings, sensitive like cdktf's cross-stack outputs).
 */
function stubUpstreamState(stackJsonFile: string): string[] {
  const json = JSON.parse(fs.readFileSync(stackJsonFile, 'utf8'));
  const text = JSON.stringify(json);
  const all: string[] = [];
  for (const [name, body] of Object.entries((json.data?.terraform_remote_state ?? {}) as Record<string, { config?: { path?: string } }>)) {
    const file = body.config?.path;
    if (!file) continue;
    const used = [...new Set([...text.matchAll(new RegExp(`data\\.terraform_remote_state\\.${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.outputs\\.([A-Za-z0-9_-]+)`, 'g'))].map((m) => m[1]))];
    const outputs = Object.fromEntries(used.map((o) => [o, { value: `bench-stub-${o}`, type: 'string', sensitive: true }]));
    fs.writeFileSync(file, JSON.stringify({ version: 4, terraform_version: '1.11.4', serial: 1, lineage: 'bench-stub', outputs, resources: [], check_results: null }));
    all.push(...used);
  }
  return all;
}

/** Planned values of both configurations, keyed by type + Docker name: the peer must plan the same objects. */
function comparePlans(terraform: string, env: NodeJS.ProcessEnv): string {
  const planned = (tool: string) => {
    const shown = spawnSync(terraform, ['show', '-json', 'plan.tfplan'], { cwd: path.join(tmp, `equiv-${tool}`), env, encoding: 'utf8', maxBuffer: 1 << 30, timeout: CMD_TIMEOUT_MS });
    if (shown.status !== 0) return undefined;
    const changes = (JSON.parse(shown.stdout).resource_changes ?? []) as { type: string; change: { after: { name?: string; triggers?: { network?: string } }; after_unknown: unknown } }[];
    return new Map(changes.map((rc) => [`${rc.type}:${rc.change.after.name ?? rc.change.after.triggers?.network ?? ''}`, JSON.stringify(rc.change)]));
  };
  const [a, b] = [planned('cdktf'), planned('hcl')];
  if (!a || !b) return 'not checked (terraform show failed)';
  const differ = [...new Set([...a.keys(), ...b.keys()])].filter((key) => a.get(key) !== b.get(key));
  return differ.length === 0
    ? `identical planned values for all ${a.size} resources at ${PLAN_SIZES[0]} users`
    : `${differ.length} of ${a.size} resources differ, e.g. ${differ.slice(0, 3).join(', ')}`;
}

// ---------------------------------------------------------------- 3. diff minimality (synthesized JSON)
interface DiffCase {
  case: string;
  user?: string;
  changedResources: number;
  userResources: string[];
  otherResources: string[];
  lifecycleOnly: string[];
  changedOutputs: string[];
}

function flatten(out: string): Map<string, string> {
  const flat = new Map<string, string>();
  for (const stack of fs.readdirSync(path.join(out, 'stacks')).sort()) {
    const json = JSON.parse(fs.readFileSync(path.join(out, 'stacks', stack, 'cdk.tf.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    for (const [section, byType] of Object.entries(json)) {
      if (section === '//') continue;
      if (section === 'resource' || section === 'data') {
        for (const [type, byName] of Object.entries(byType as Record<string, Record<string, unknown>>)) {
          for (const [name, body] of Object.entries(byName)) flat.set(`${stack}/${section}/${type}/${name}`, JSON.stringify(body));
        }
      } else if (section === 'output' || section === 'variable') {
        for (const [name, body] of Object.entries(byType)) flat.set(`${stack}/${section}/${name}`, JSON.stringify(body));
      } else flat.set(`${stack}/${section}`, JSON.stringify(byType));
    }
  }
  return flat;
}

async function benchDiff(): Promise<DiffCase[]> {
  const n = DIFF_SIZE;
  const lines = generatedRosterYaml(n).split('\n');
  const header = lines.slice(0, 3);
  const users = lines.slice(3).filter(Boolean);
  const name = (i: number) => `user-${String(i).padStart(4, '0')}`;
  const archivedAt = Math.ceil(n / 2);
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const shuffled = users.map((line) => ({ line, key: random() })).sort((x, y) => x.key - y.key).map((x) => x.line);
  const variants: { case: string; user?: string; text: string }[] = [
    { case: `add one user (${n} → ${n + 1})`, user: name(n + 1), text: generatedRosterYaml(n + 1) },
    { case: `archive one user (of ${n})`, user: name(archivedAt), text: [...header, ...users.map((l, i) => (i + 1 === archivedAt ? l.replace(/ }$/, ', state: archived }') : l)), ''].join('\n') },
    { case: `reorder all ${n} users`, text: [...header, ...shuffled, ''].join('\n') },
  ];
  const stateDir = freshDir('diff-state');
  const synth = async (label: string, text: string) => {
    const out = freshDir(`diff-${label}`);
    const result = await runProgram(rosterFile(`diff-${label}`, text), out, stateDir);
    if (!result.ok) throw new Error(`synth (${label}) failed:\n${tail(result.output)}`);
    return flatten(out);
  };
  const base = await synth('base', generatedRosterYaml(n));
  const cases: DiffCase[] = [];
  for (const [index, variant] of variants.entries()) {
    if (overBudget(`diff case ${variant.case}`)) continue;
    const after = await synth(String(index), variant.text);
    const changed = [...new Set([...base.keys(), ...after.keys()])].filter((key) => base.get(key) !== after.get(key)).sort();
    const resources = changed.filter((key) => /\/(resource|data)\//.test(key));
    const mine = (key: string) => variant.user !== undefined && new RegExp(`[_/]${variant.user}(_|$)`).test(key);
    const withoutLifecycle = (body: string | undefined) => body && JSON.stringify({ ...JSON.parse(body), lifecycle: undefined });
    const others = resources.filter((key) => !mine(key));
    cases.push({
      case: variant.case,
      user: variant.user,
      changedResources: resources.length,
      userResources: resources.filter(mine),
      otherResources: others,
      lifecycleOnly: others.filter((key) => base.has(key) && after.has(key) && withoutLifecycle(base.get(key)) === withoutLifecycle(after.get(key))),
      changedOutputs: changed.filter((key) => key.includes('/output/')),
    });
    log(`diff: ${variant.case}: ${resources.length} resource address(es) changed`);
  }
  return cases;
}

// ---------------------------------------------------------------- scaling
interface Scaling {
  figure: string;
  marginalMsPerUser: string;
  verdict: string;
}

function scaling(): Scaling[] {
  // CPU time, not wall time: on a shared machine wall time at the larger sizes soaks up other jobs' load.
  const figures: [string, string, number[], number][] = [
    ['cdktf synth (CLI) CPU, ms/user', 'cli.cpu', SIZES, 1000],
    ['CLI app child (ts-node) CPU, ms/user', 'app.cpu', SIZES, 1000],
    ['program alone CPU, ms/user', 'prog.cpu', SIZES, 1000],
    ['program alone peak RSS, KiB/user', 'prog.rss', SIZES, 1],
    ['CLI largest process RSS, KiB/user', 'cli.rss', SIZES, 1],
    ['terraform plan (cdktf JSON) CPU, ms/user', 'cdktf.plancpu', PLAN_SIZES, 1000],
    ['terraform plan (HCL peer) CPU, ms/user', 'hcl.plancpu', PLAN_SIZES, 1000],
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
    out.push({ figure, marginalMsPerUser: points.slice(1).map(([n], i) => `${points[i][0]}→${n}: ${marginal[i].toFixed(1)}`).join(', '), verdict });
  }
  return out;
}

// ---------------------------------------------------------------- report
function table(plan: PlanInfo, diff: DiffCase[], scale: Scaling[], meta: Record<string, unknown>): string {
  const md: string[] = [];
  md.push(`# npm run bench — results`, '', `${meta.date}; ${meta.machine}; load average ${meta.loadStart} at start, ${meta.loadEnd} at end.`, `Runs: ${RUNS} (${RUNS_LARGE} at ≥1000 users). Cells are min / median / max.`, '');
  md.push('## 1. Synth', '', '| users | `cdktf synth` wall s | `cdktf synth` CPU s | CLI largest process MiB | CLI process tree MiB | app child wall s | app child CPU s | app child MiB | program alone wall s | program alone CPU s | program alone MiB |', '|---:|---|---|---|---|---|---|---|---|---|---|');
  for (const n of SIZES) {
    md.push(
      `| ${n} | ${fmt(`cli.wall.${n}`)} | ${fmt(`cli.cpu.${n}`)} | ${fmt(`cli.rss.${n}`, MiB, 0)} | ${fmt(`cli.tree.${n}`, MiB, 0)} | ${fmt(`app.wall.${n}`)} | ${fmt(`app.cpu.${n}`)} | ${fmt(`app.rss.${n}`, MiB, 0)} | ${fmt(`prog.wall.${n}`)} | ${fmt(`prog.cpu.${n}`)} | ${fmt(`prog.rss.${n}`, MiB, 0)} |`,
    );
  }
  md.push('', `One-off: \`tsc\` of the project for the program-alone runs: ${(meta.compileS as number).toFixed(1)} s.`, '');
  md.push('## 2+4. Plan of the workspaces stack (empty state): cdktf vs the hand-written-style HCL peer', '');
  if (plan.skipped) md.push(`**${plan.skipped}**`, '');
  if (plan.docker) md.push(`Docker: ${plan.docker}. Equivalence check: ${plan.equivalence ?? 'not run'}.`, '');
  if (!plan.skipped || Object.keys(plan.planned).length) {
    md.push('| users | config | planned adds | init s | plan s | plan CPU s | plan largest process MiB | plan tree MiB | synth+init+plan s (medians) |', '|---:|---|---:|---|---|---|---|---|---:|');
    for (const n of PLAN_SIZES) {
      for (const tool of ['cdktf', 'hcl']) {
        const total = (tool === 'cdktf' ? (median(`cli.wall.${n}`) ?? NaN) : 0) + (median(`${tool}.init.${n}`) ?? NaN) + (median(`${tool}.plan.${n}`) ?? NaN);
        md.push(`| ${n} | ${tool} | ${plan.planned[`${tool}.${n}`] ?? 'n/a'} | ${fmt(`${tool}.init.${n}`)} | ${fmt(`${tool}.plan.${n}`)} | ${fmt(`${tool}.plancpu.${n}`)} | ${fmt(`${tool}.planrss.${n}`, MiB, 0)} | ${fmt(`${tool}.plantree.${n}`, MiB, 0)} | ${total.toFixed(1)} |`);
      }
      const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined ? (a / b).toFixed(2) : 'n/a');
      const cdktfTotal = (median(`cli.wall.${n}`) ?? NaN) + (median(`cdktf.init.${n}`) ?? NaN) + (median(`cdktf.plan.${n}`) ?? NaN);
      const hclTotal = (median(`hcl.init.${n}`) ?? NaN) + (median(`hcl.plan.${n}`) ?? NaN);
      md.push(`| ${n} | **ratio cdktf/HCL** | | | plan only: ${ratio(median(`cdktf.plan.${n}`), median(`hcl.plan.${n}`))} | ${ratio(median(`cdktf.plancpu.${n}`), median(`hcl.plancpu.${n}`))} | | | ${Number.isFinite(cdktfTotal / hclTotal) ? (cdktfTotal / hclTotal).toFixed(2) : 'n/a'} |`);
    }
    md.push('', '`synth+init+plan` for cdktf uses the `cdktf synth` (CLI) median of the same roster size; it is n/a when that size was not in BENCH_SIZES.', '');
  }
  md.push(`## 3. Diff minimality at ${DIFF_SIZE} users (synthesized JSON of all four stacks, not a plan)`, '');
  md.push('| case | changed resource addresses | the user\'s own | others (lifecycle-only: no planned change) | changed outputs |', '|---|---:|---|---|---|');
  const short = (keys: string[]) => keys.map((k) => `\`${k.replace(/_[0-9A-F]{8}$/, '')}\``).join(', ') || '—';
  for (const c of diff) md.push(`| ${c.case} | ${c.changedResources} | ${c.userResources.length}: ${short(c.userResources)} | ${c.otherResources.length}: ${short(c.otherResources)}${c.lifecycleOnly.length ? ` (lifecycle-only: ${c.lifecycleOnly.length})` : ''} | ${short(c.changedOutputs)} |`);
  md.push('', '## Scaling (marginal cost per added user between sizes, from medians)', '', '| figure | marginal cost per added user | verdict |', '|---|---|---|');
  for (const s of scale) md.push(`| ${s.figure} | ${s.marginalMsPerUser} | ${s.verdict} |`);
  if (notes.length) md.push('', '## Notes', '', ...notes.map((n) => `* ${n}`));
  return `${md.join('\n')}\n`;
}

async function main(): Promise<void> {
  const loadStart = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  if (!TIME) notes.push("/usr/bin/time is missing (install Debian's `time` package): the 'largest process' and app-child figures are n/a; the sampled tree figure remains");
  log(`workdir ${tmp}; runs ${RUNS} (${RUNS_LARGE} at >=1000); sizes ${SIZES}; plan sizes ${PLAN_SIZES}; diff at ${DIFF_SIZE}`);
  const compile = await measure('npx', ['tsc', '--outDir', jsDir, '--incremental', 'false', '--noEmitOnError', 'false'], {});
  if (!fs.existsSync(path.join(jsDir, 'main.js'))) throw new Error(`tsc emitted no main.js:\n${tail(compile.output)}`);
  const tsError = compile.output.split('\n').find((line) => line.includes('error TS'));
  if (!compile.ok) notes.push(`tsc reported type errors, emitted anyway (another file of the repo): ${tsError ?? tail(compile.output)}`);
  log(`compiled in ${compile.wallS.toFixed(1)}s`);
  await benchSynth();
  const plan = await benchPlan();
  if (plan.skipped) log(plan.skipped);
  const diff = await benchDiff();
  const scale = scaling();
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
    memory: {
      'cli.rss': "GNU time %M of `npx cdktf synth`: max RSS of the largest single process in the tree (the app child, ts-node, is usually the largest), not a sum",
      'cli.tree': 'sum of VmRSS over the whole process tree (npx, cdktf CLI, shell, app), sampled every 200 ms, peak; shared pages count once per process, so this is an upper bound',
      'app.rss': "GNU time %M around the app command the CLI spawns (cdktf.json's app), i.e. ts-node running main.ts",
    },
  };
  const md = table(plan, diff, scale, meta);
  const all = Object.fromEntries([...samples.keys()].sort().map((key) => [key, stats(key)]));
  fs.writeFileSync(path.join(__dirname, 'results.json'), `${JSON.stringify({ meta, samples: all, plan, diff, scaling: scale, notes }, null, 2)}\n`);
  fs.writeFileSync(path.join(__dirname, 'results.md'), md);
  process.stdout.write(md);
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n(work dir kept: ${tmp})\n`);
  process.exit(1);
});
