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
 *   estate's IDE image, read-only) runs on every node and reports the kernel's NoNewPrivs flag
 *   of its own process.
 * - With `swarm.encryptOverlays` (the default), every one of those kernels can do what an
 *   encrypted overlay needs: ESP (IPsec) with AES-GCM. Without it the engine creates the
 *   encrypted overlay anyway and traffic between nodes is dropped without an error. The same job
 *   adds the kind of security association the engine adds (ESP, transport mode,
 *   rfc4106(gcm(aes))) in its own network namespace, which it alone has and which goes with it;
 *   for that it runs as root with the one capability NET_ADMIN (read-only, every other capability
 *   dropped), and the IDE image carries `ip` (iproute2).
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
import { readCommandLine } from './lib/command-line';

const USAGE = 'usage: npm run swarm:preflight -- [--estate <estate.yaml>] [--timeout <seconds>]';

export interface PreflightArgs {
  readonly estateFile: string;
  /** Longest the probe job may take. */
  readonly timeoutSeconds: number;
}

/** Parses the command line; every problem at once. */
export function parsePreflightArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): { args: PreflightArgs } | { errors: string[] } {
  const { values, errors: lineErrors } = readCommandLine(argv, { valued: ['estate', 'timeout'] });
  const errors = [...lineErrors];
  const timeoutSeconds = values.timeout === undefined ? 300 : Number(values.timeout);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 10 || timeoutSeconds > 3600) errors.push(`--timeout ${values.timeout}: whole seconds, 10 to 3600`);
  if (errors.length > 0) return { errors };
  return { args: { estateFile: values.estate ?? env.ESTATE_FILE ?? path.relative(process.cwd(), path.join(__dirname, '..', 'assets', 'estate.yaml')), timeoutSeconds } };
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

/** What the probe found on one node. */
export interface NodeProbe {
  /** The NoNewPrivs flag of its process (/proc/self/status): `1` when the engine sets no-new-privileges. */
  readonly noNewPrivs: string;
  /** `ok` when the kernel took an ESP security association with AES-GCM; else what `ip xfrm` said. */
  readonly esp: string;
}

/** The probe's findings, by node hostname. */
export type ProbesByNode = ReadonlyMap<string, NodeProbe>;

/**
 * What stops a deploy of this estate on this swarm; none when it may go ahead. `taskErrors`: by
 * node, why the probe's task could not run there (`docker service ps`' error, such as an image
 * the node could not pull). Pure.
 */
export function preflightProblems(estate: EstateConfig, nodes: readonly SwarmNodeState[], probes: ProbesByNode, taskErrors: ReadonlyMap<string, string> = new Map()): string[] {
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
    const probe = probes.get(declared.name);
    if (node.status !== 'Ready') continue;
    if (node.availability !== 'Active') {
      problems.push(`${declared.name}: availability ${node.availability}, so its engine could not be checked (docker node update --availability active ${declared.name})`);
      continue;
    }
    if (probe === undefined) {
      const error = taskErrors.get(declared.name);
      if (error === undefined) problems.push(`${declared.name}: the probe did not report from it (no task ran there)`);
      else if (/image|manifest/i.test(error)) {
        problems.push(
          `${declared.name}: the probe could not run there: ${error}. The probe is the estate's IDE image (images.codeServer, ${estate.images.codeServer}), ` +
            `which every node pulls from swarm.registry: pin the estate's images there first (npm run images:pin)`,
        );
      } else problems.push(`${declared.name}: the probe could not run there: ${error}`);
      continue;
    }
    if (probe.noNewPrivs !== '1') {
      problems.push(`${declared.name}: its engine does not set no-new-privileges on containers (NoNewPrivs ${probe.noNewPrivs}): add "no-new-privileges": true to its daemon.json and restart dockerd`);
    }
    if (estate.swarm.encryptOverlays && probe.esp !== 'ok') {
      problems.push(
        `${declared.name}: its kernel cannot do ESP (IPsec) with AES-GCM (ip xfrm: ${probe.esp}), and swarm.encryptOverlays is on: ` +
          'an encrypted overlay would drop traffic between nodes without an error. Give the node a kernel with ESP (esp4, rfc4106(gcm(aes))), ' +
          'or, outside production, set swarm.encryptOverlays: false',
      );
    }
  }
  return problems;
}

/**
 * Prints `ok` when the kernel takes, in the current network namespace, the kind of security
 * association the engine adds for an encrypted overlay (ESP in transport mode with
 * rfc4106(gcm(aes))); otherwise what `ip xfrm` said, on one line. Needs `ip` and NET_ADMIN there.
 * Between two documentation addresses (192.0.2.0/24) with a fixed key: it never carries a
 * packet and goes with the namespace.
 */
export const ESP_PROBE =
  "if out=$(ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x00000100 reqid 1 mode transport aead 'rfc4106(gcm(aes))' " +
  `0x000102030405060708090a0b0c0d0e0f10111213 64 2>&1); then echo ok; else printf '%s\\n' "$out" | tr '\\n' ' '; echo; fi`;

/** The probe's one line per node: `webide-preflight: <node> NoNewPrivs=<0|1> ESP=<ok|what ip said>`. */
export const PROBE = `esp=$(${ESP_PROBE}); echo "webide-preflight: $WEBIDE_NODE NoNewPrivs=$(sed -n "s/^NoNewPrivs:[[:space:]]*//p" /proc/self/status) ESP=$esp"`;

/** One probe line (`PROBE`); undefined for any other line of the job's log. */
export function parseProbeLine(line: string): { node: string; probe: NodeProbe } | undefined {
  const match = /^webide-preflight: (\S+) NoNewPrivs=(\S*) ESP=(.*)$/.exec(line.trim());
  return match ? { node: match[1], probe: { noNewPrivs: match[2], esp: match[3].trim() || 'no answer' } } : undefined;
}

/**
 * The nodes where a task of the probe job has ended, from `docker service ps` lines
 * `<node>|<current state>`. Counted per node, not per task: a count of ended tasks reached the
 * number of nodes once in CI while one node's task had not ended (so another node listed two), and
 * that node was reported as "the probe did not report from it (no task ran there)".
 */
export function nodesWithEndedProbe(psLines: string): Set<string> {
  const ended = psLines
    .split('\n')
    .map((line) => line.split('|'))
    .filter(([node, state]) => node?.trim() && /^(Complete|Failed|Rejected)/.test(state?.trim() ?? ''));
  return new Set(ended.map(([node]) => node.trim()));
}

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
  const probes = new Map<string, NodeProbe>();
  const taskErrors = new Map<string, string>();
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  log(`probing every node with ${job} (a one-off global job)`);
  try {
    must('service', 'create', '-d', '-q', '--name', job, '--mode', 'global-job', '--restart-condition', 'none', '--read-only', '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN', '--user', '0:0',
      '--env', 'WEBIDE_NODE={{.Node.Hostname}}', '--label', `webide.estate=${estate.name}`, '--entrypoint', 'sh', estate.images.codeServer, '-c', PROBE);
    const deadline = Date.now() + args.timeoutSeconds * 1000;
    const ready = nodes.filter((node) => node.status === 'Ready' && node.availability === 'Active').map((node) => node.hostname);
    for (;;) {
      const tasks = must('service', 'ps', '--format', '{{.Node}}|{{.CurrentState}}', job);
      const ended = nodesWithEndedProbe(tasks);
      if (ready.every((node) => ended.has(node))) break;
      if (Date.now() > deadline) throw new Error(`the probe did not finish on every node within ${args.timeoutSeconds}s: ${tasks.split('\n').filter(Boolean).join('; ')}`);
      await sleep(1000);
    }
    for (const line of must('service', 'logs', '--raw', job).split('\n')) {
      const found = parseProbeLine(line);
      if (found) probes.set(found.node, found.probe);
    }
    for (const line of must('service', 'ps', '--no-trunc', '--format', '{{.Node}}|{{.Error}}', job).split('\n')) {
      const [node, error] = line.split('|');
      if (node && error?.trim() && !taskErrors.has(node)) taskErrors.set(node, error.trim());
    }
  } finally {
    docker('service', 'rm', job);
  }
  return preflightProblems(estate, nodes, probes, taskErrors);
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
    const esp = estate.swarm?.encryptOverlays ? ', and its kernel can do ESP for encrypted overlays' : '';
    process.stdout.write(`swarm:preflight: every node of ${parsed.args.estateFile} is in the swarm, ready, and runs containers with no-new-privileges${esp}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`swarm:preflight: ${(error as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main().then((code) => process.exit(code));
}
