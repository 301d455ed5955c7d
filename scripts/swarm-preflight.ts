/**
 * npm run swarm:preflight -- [--estate <estate.yaml>] [--timeout <seconds>]
 *
 * Before a deploy on the Swarm target: checks, through the swarm's manager only (the estate's
 * `dockerHost`), that the swarm can hold the estate as declared and that each engine sets what a
 * Swarm service cannot.
 *
 * - Every node of the estate's `swarm.nodes` is in the swarm, ready, with the role declared
 *   (a manager as a manager).
 * - Every one of those engines runs containers with no-new-privileges (its daemon.json has
 *   `"no-new-privileges": true`): on one host each container sets it; a Swarm service of this
 *   engine version cannot. Checked where it counts, inside a container: a one-off global job (the
 *   estate's IDE image, as uid 1000, read-only, no capabilities) runs on every node and reports
 *   the kernel's NoNewPrivs flag of its own process.
 *
 * Reports every problem at once. Exit 0 when all hold, 1 when any does not (or the check could
 * not run), 2 on bad arguments. Changes nothing but the one-off job, which it removes.
 */
import * as path from 'path';
import { EstateConfig } from '../config/estate';
import { readInputFile } from '../config/input-file';
import { loadEstate } from '../config/load';
import { ConfigError, formatIssue } from '../config/source';
import { Docker, managerDocker } from './swarm-docker';

const USAGE = 'usage: npm run swarm:preflight -- [--estate <estate.yaml>] [--timeout <seconds>]';

export interface PreflightArgs {
  readonly estateFile: string;
  /** Longest the probe job may take. */
  readonly timeoutSeconds: number;
}

/** Parses the command line; every problem at once. */
export function parsePreflightArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): { args: PreflightArgs } | { errors: string[] } {
  const errors: string[] = [];
  const options: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--estate' || arg === '--timeout') {
      const value = argv[i + 1];
      if (value === undefined || value === '' || value.startsWith('--')) {
        errors.push(`${arg} needs a value`);
        continue;
      }
      options[arg] = value;
      i++;
    } else errors.push(arg.startsWith('-') ? `unknown option ${arg}` : `unexpected argument ${arg}`);
  }
  const timeoutSeconds = options['--timeout'] === undefined ? 300 : Number(options['--timeout']);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 10 || timeoutSeconds > 3600) errors.push(`--timeout ${options['--timeout']}: whole seconds, 10 to 3600`);
  if (errors.length > 0) return { errors };
  return { args: { estateFile: options['--estate'] ?? env.ESTATE_FILE ?? path.relative(process.cwd(), path.join(__dirname, '..', 'assets', 'estate.yaml')), timeoutSeconds } };
}

/** A node as `docker node ls` shows it. */
export interface SwarmNodeState {
  readonly hostname: string;
  /** `Ready`, `Down`, … */
  readonly status: string;
  /** `Active`, `Pause` or `Drain`: only an active node runs the probe. */
  readonly availability: string;
  /** `Leader`, `Reachable` or `` (a worker). */
  readonly managerStatus: string;
}

/** The NoNewPrivs flag the probe read on each node (its process's /proc/self/status), by hostname. */
export type NoNewPrivsByNode = ReadonlyMap<string, string>;

/** What stops a deploy of this estate on this swarm; none when it may go ahead. Pure. */
export function preflightProblems(estate: EstateConfig, nodes: readonly SwarmNodeState[], noNewPrivs: NoNewPrivsByNode): string[] {
  if (estate.target !== 'swarm' || !estate.swarm) return [`the estate's target is ${estate.target}: the preflight is the swarm target's`];
  const problems: string[] = [];
  const byName = new Map(nodes.map((node) => [node.hostname, node]));
  for (const declared of estate.swarm.nodes) {
    const node = byName.get(declared.name);
    if (!node) {
      problems.push(`${declared.name}: not in the swarm (docker node ls on the manager lists ${nodes.map((n) => n.hostname).join(', ') || 'no node'})`);
      continue;
    }
    if (node.status !== 'Ready') problems.push(`${declared.name}: ${node.status}, not Ready`);
    const isManager = node.managerStatus !== '';
    if (declared.role === 'manager' && !isManager) problems.push(`${declared.name}: declared a manager, but it is a worker in the swarm (docker node promote ${declared.name})`);
    const flag = noNewPrivs.get(declared.name);
    if (node.status !== 'Ready') continue;
    if (node.availability !== 'Active') problems.push(`${declared.name}: availability ${node.availability}, so its engine could not be checked (docker node update --availability active ${declared.name})`);
    else if (flag === undefined) problems.push(`${declared.name}: the probe did not report from it (no task ran there)`);
    else if (flag !== '1') {
      problems.push(`${declared.name}: its engine does not set no-new-privileges on containers (NoNewPrivs ${flag}): add "no-new-privileges": true to its daemon.json and restart dockerd`);
    }
  }
  return problems;
}

/** The probe's one line per node: `webide-preflight: <node> NoNewPrivs=<0|1>`. */
const PROBE = 'echo "webide-preflight: $WEBIDE_NODE NoNewPrivs=$(sed -n "s/^NoNewPrivs:[[:space:]]*//p" /proc/self/status)"';

/** Runs the checks through the manager; the problems found (every one). */
export async function runPreflight(estate: EstateConfig, args: PreflightArgs, docker: Docker, log: (line: string) => void): Promise<string[]> {
  const must = (...a: string[]) => {
    const result = docker(...a);
    if (result.status !== 0) throw new Error(`docker ${a.join(' ')} failed:\n${result.out}`);
    return result.out.trim();
  };
  const nodes = must('node', 'ls', '--format', '{{.Hostname}}|{{.Status}}|{{.Availability}}|{{.ManagerStatus}}')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [hostname, status, availability, managerStatus] = line.split('|');
      return { hostname, status, availability, managerStatus: managerStatus ?? '' };
    });
  const job = `${estate.name}-preflight`;
  const noNewPrivs = new Map<string, string>();
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  log(`probing every node with ${job} (a one-off global job)`);
  try {
    must('service', 'create', '-d', '-q', '--name', job, '--mode', 'global-job', '--restart-condition', 'none', '--read-only', '--cap-drop', 'ALL', '--user', '1000:1000',
      '--env', 'WEBIDE_NODE={{.Node.Hostname}}', '--label', `webide.estate=${estate.name}`, '--entrypoint', 'sh', estate.images.codeServer, '-c', PROBE);
    const deadline = Date.now() + args.timeoutSeconds * 1000;
    const ready = nodes.filter((node) => node.status === 'Ready' && node.availability === 'Active').length;
    for (;;) {
      const states = must('service', 'ps', '--format', '{{.CurrentState}}', job).split('\n').filter(Boolean);
      if (states.filter((state) => /^(Complete|Failed|Rejected)/.test(state)).length >= ready) break;
      if (Date.now() > deadline) throw new Error(`the probe did not finish on every node within ${args.timeoutSeconds}s: ${states.join('; ')}`);
      await sleep(1000);
    }
    for (const line of must('service', 'logs', '--raw', job).split('\n')) {
      const match = /^webide-preflight: (\S+) NoNewPrivs=(\S*)$/.exec(line.trim());
      if (match) noNewPrivs.set(match[1], match[2]);
    }
  } finally {
    docker('service', 'rm', job);
  }
  return preflightProblems(estate, nodes, noNewPrivs);
}

async function main(): Promise<number> {
  const parsed = parsePreflightArgs(process.argv.slice(2), process.env);
  if ('errors' in parsed) {
    for (const error of parsed.errors) process.stderr.write(`swarm:preflight: ${error}\n`);
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let estate: EstateConfig;
  try {
    estate = loadEstate(readInputFile(parsed.args.estateFile));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const issue of error.issues) process.stderr.write(`${formatIssue(issue)}\n`);
    return 1;
  }
  try {
    const problems = await runPreflight(estate, parsed.args, managerDocker(estate.dockerHost), (line) => process.stdout.write(`${line}\n`));
    for (const problem of problems) process.stderr.write(`swarm:preflight: ${problem}\n`);
    if (problems.length > 0) return 1;
    process.stdout.write(`swarm:preflight: every node of ${parsed.args.estateFile} is in the swarm, ready, and runs containers with no-new-privileges\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`swarm:preflight: ${(error as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main().then((code) => process.exit(code));
}
