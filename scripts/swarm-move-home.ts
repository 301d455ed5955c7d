/**
 * npm run swarm:move-home -- <username> <to-node> [--from <node>] [--yes]
 *                            [--estate <estate.yaml>] [--roster <roster.yaml>] [--timeout <seconds>]
 *
 * The Swarm target keeps each user's home as a volume on the node their IDE runs on. This copies
 * one user's home to another node that runs IDEs, through the swarm's manager only (the estate's
 * `dockerHost`): it stops the user's IDE, runs a one-off receiver on the new node and a sender on
 * the old one (the estate's IDE image, as the user's uid, on a private overlay made for the copy),
 * and compares the two trees (names, sizes, modes and every file's sha256). It never deletes: the
 * old copy stays on the old node until someone removes it there.
 *
 * Then pin the user to the new node in the roster (`node: <to-node>`) and deploy; until then a
 * deploy starts the IDE again where it was, on the old copy. The README's "Moving a user to
 * another node" has the whole procedure, draining a node included.
 *
 * Without --yes it prints what it would do and changes nothing. Refuses when the home on the new
 * node is not empty. Exit 0 done (or printed), 1 refused or failed, 2 bad arguments.
 */
import * as path from 'path';
import { EstateConfig } from '../config/estate';
import { readInputFile } from '../config/input-file';
import { loadInputs } from '../config/load';
import { Roster, USERNAME_PATTERN } from '../config/roster';
import { ConfigError, formatIssue } from '../config/source';
import { ideNodesOf, swarmNodeName } from '../config/swarm';
import { EstateNames } from '../constructs/naming';
import { HOME_DIR } from '../constructs/workspace';
import { Docker, managerDocker } from './swarm-docker';
import { readCommandLine } from './lib/command-line';

const USAGE = 'usage: npm run swarm:move-home -- <username> <to-node> [--from <node>] [--yes] [--estate <estate.yaml>] [--roster <roster.yaml>] [--timeout <seconds>]';

export interface MoveHomeArgs {
  readonly username: string;
  readonly to: string;
  /** The node the home is on. @default - the node the user's IDE service is pinned to */
  readonly from?: string;
  readonly yes: boolean;
  readonly estateFile: string;
  readonly rosterFile: string;
  /** Longest the copy may take. */
  readonly timeoutSeconds: number;
}

/** Parses the command line; every problem at once. */
export function parseMoveHomeArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): { args: MoveHomeArgs } | { errors: string[] } {
  const line = readCommandLine(argv, { valued: ['from', 'estate', 'roster', 'timeout'], flags: ['yes'], positionals: true });
  const errors = [...line.errors];
  const options = line.values;
  const yes = line.flags.has('yes');
  const [username, to, ...extra] = line.positionals;
  if (username === undefined) errors.push('name the user whose home moves');
  else if (!USERNAME_PATTERN.test(username)) errors.push(`${JSON.stringify(username)}: not a username (a lowercase DNS label)`);
  if (to === undefined) errors.push('name the node the home moves to');
  for (const [what, node] of [['<to-node>', to], ['--from', options.from]] as const) {
    if (node !== undefined && !swarmNodeName.safeParse(node).success) errors.push(`${what} ${JSON.stringify(node)}: not a node name (a lowercase DNS label)`);
  }
  if (extra.length > 0) errors.push(`unexpected argument ${extra[0]}`);
  const timeoutSeconds = options.timeout === undefined ? 3600 : Number(options.timeout);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 10 || timeoutSeconds > 86_400) errors.push(`--timeout ${options.timeout}: whole seconds, 10 to 86400`);
  if (errors.length > 0) return { errors };
  return {
    args: {
      username: username!,
      to: to!,
      from: options.from,
      yes,
      estateFile: options.estate ?? env.ESTATE_FILE ?? path.relative(process.cwd(), path.join(__dirname, '..', 'assets', 'estate.yaml')),
      rosterFile: options.roster ?? env.ROSTER_FILE ?? path.relative(process.cwd(), path.join(__dirname, '..', 'assets', 'roster.yaml')),
      timeoutSeconds,
    },
  };
}

/** What is wrong with moving this user's home to `to` in this estate and roster; none when it can go ahead. */
export function moveHomeRefusals(estate: EstateConfig, roster: Roster, username: string, to: string, from: string | undefined): string[] {
  if (estate.target !== 'swarm' || !estate.swarm) return [`the estate's target is ${estate.target}: homes move between nodes on the swarm target only`];
  const problems: string[] = [];
  const nodes = ideNodesOf(estate.swarm).map((node) => node.name);
  if (!roster.users.some((user) => user.username === username)) problems.push(`${username} is not a user of the roster (retired users have no home)`);
  for (const [what, node] of [['the new node', to], ['--from', from]] as const) {
    if (node !== undefined && !nodes.includes(node)) problems.push(`${what} ${node} runs no IDEs (those that do: ${nodes.join(', ')})`);
  }
  if (from !== undefined && from === to) problems.push(`the home is already on ${to}`);
  return problems;
}

/** Prints `webide-move:` lines: the tree (names, sizes, modes) and content (each file's sha256) digests of HOME_DIR, and the file count. */
const DIGESTS =
  `cd ${HOME_DIR} && echo "webide-move: files $(find . -type f | wc -l)" && ` +
  `echo "webide-move: tree $(find . -printf '%p %s %m %l\\n' | LC_ALL=C sort | sha256sum | cut -d' ' -f1)" && ` +
  `echo "webide-move: content $(find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1)"`;
const PORT = 9000;
/** The IDE user, who owns every file of a home. */
const HOME_OWNER = '1000:1000';
const AS_HOME_OWNER = 'setpriv --reuid=1000 --regid=1000 --clear-groups';
/**
 * Receives one tar stream on PORT into an empty home, then prints its digests. Starts as root only
 * to give the new volume's top directory to the user (a volume made without the image's copy is
 * root's); everything else runs as the user.
 */
const RECEIVE =
  `set -e; if [ -n "$(ls -A ${HOME_DIR})" ]; then echo "webide-move: REFUSED the home on this node is not empty"; exit 3; fi; ` +
  `chown ${HOME_OWNER} ${HOME_DIR}; exec ${AS_HOME_OWNER} sh -c "$WEBIDE_MOVE_RECEIVE"`;
/** The receiver's part as the user (in its environment: no second level of shell quoting). */
const RECEIVE_AS_OWNER =
  `set -e; perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalPort => ${PORT}, Listen => 1, ReuseAddr => 1) or die "listen: $!"; $c = $s->accept; binmode $c; binmode STDOUT; while (sysread($c, $b, 65536)) { print $b }' ` +
  `| tar -x -p -C ${HOME_DIR}; ${DIGESTS}`;
/** Prints the home's digests, then sends it as one tar stream to the receiver (retrying its start). */
const send = (receiver: string) =>
  `set -e; ${DIGESTS}; tar -c -C ${HOME_DIR} . | perl -MIO::Socket::INET -e 'for (1 .. 90) { $c = IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => ${PORT}, Timeout => 5) and last; sleep 2 } $c or die "connect: $!"; binmode $c; binmode STDIN; while (sysread(STDIN, $b, 65536)) { print $c $b } close $c or die "close: $!"' ${receiver}`;

/** Moves (copies and checks) the home; throws with what happened when a step fails. Logs each step. */
export async function moveHome(estate: EstateConfig, roster: Roster, args: MoveHomeArgs, docker: Docker, log: (line: string) => void): Promise<void> {
  const names = new EstateNames(estate.name);
  const ide = names.workspaceContainer(args.username);
  const home = names.homeVolume(args.username);
  const must = (...a: string[]) => {
    const result = docker(...a);
    if (result.status !== 0) throw new Error(`docker ${a.join(' ')} failed:\n${result.out}`);
    return result.out.trim();
  };
  const serviceExists = docker('service', 'inspect', ide).status === 0;
  let from = args.from;
  if (from === undefined) {
    if (!serviceExists) throw new Error(`${args.username} has no IDE service (archived?): say which node the home is on with --from <node>`);
    const constraints = JSON.parse(must('service', 'inspect', '-f', '{{json .Spec.TaskTemplate.Placement.Constraints}}', ide)) as string[] | null;
    from = (constraints ?? []).map((c) => /^node\.hostname\s*==\s*(\S+)$/.exec(c)?.[1]).find(Boolean);
    if (!from) throw new Error(`${ide} is not pinned to a node (constraints: ${JSON.stringify(constraints)}): say which node the home is on with --from <node>`);
  }
  const refusals = moveHomeRefusals(estate, roster, args.username, args.to, from);
  if (refusals.length > 0) throw new Error(refusals.join('\n'));

  const network = `${estate.name}-move-${args.username}`;
  const receiver = `${network}-to`;
  const sender = `${network}-from`;
  const steps = [
    serviceExists ? `stop ${ide} (scale to 0) and wait until it has no running task` : `${args.username} has no IDE running (no service)`,
    `make an internal overlay ${network}${estate.swarm?.encryptOverlays ? ' (encrypted)' : ''}`,
    `on ${args.to}: ${receiver}, receiving into ${home} (refused unless that home is empty)`,
    `on ${from}: ${sender}, sending ${home}`,
    'compare the trees on both nodes (names, sizes, modes, every file\'s sha256); remove the one-off services and the overlay',
  ];
  if (!args.yes) {
    log(`would move ${args.username}'s home from ${from} to ${args.to} (nothing done; add --yes):`);
    steps.forEach((step, i) => log(`  ${i + 1}. ${step}`));
    return;
  }
  const deadline = Date.now() + args.timeoutSeconds * 1000;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  if (serviceExists) {
    log(`stopping ${ide}`);
    must('service', 'scale', '-d', `${ide}=0`);
    while (must('service', 'ps', '-q', '--filter', 'desired-state=running', ide) !== '' || /Running/.test(must('service', 'ps', '--format', '{{.CurrentState}}', ide))) {
      if (Date.now() > deadline) throw new Error(`${ide} still runs a task; nothing was copied`);
      await sleep(1000);
    }
  }
  const common = ['--endpoint-mode', 'dnsrr', '--restart-condition', 'none', '--network', network, '--read-only', '--cap-drop', 'ALL', '--mount', `type=volume,source=${home},target=${HOME_DIR},volume-nocopy`, '--mount', 'type=tmpfs,target=/tmp', '--label', `webide.estate=${estate.name}`, '--label', `webide.user=${args.username}`, '--entrypoint', 'sh'];
  const outcome = (service: string) => must('service', 'ps', '--format', '{{.CurrentState}}|{{.Error}}', service).split('\n')[0] ?? '';
  try {
    log(`copying over ${network}`);
    must('network', 'create', '-d', 'overlay', '--internal', ...(estate.swarm?.encryptOverlays ? ['--opt', 'encrypted'] : []), '--label', `webide.estate=${estate.name}`, network);
    // The receiver as root with only what chown and setpriv need; the sender as the user, with nothing.
    must('service', 'create', '-d', '-q', '--name', receiver, '--constraint', `node.hostname==${args.to}`, ...common, '--user', '0:0', '--cap-add', 'CHOWN', '--cap-add', 'SETUID', '--cap-add', 'SETGID', '--env', `WEBIDE_MOVE_RECEIVE=${RECEIVE_AS_OWNER}`, estate.images.codeServer, '-c', RECEIVE);
    must('service', 'create', '-d', '-q', '--name', sender, '--constraint', `node.hostname==${from}`, ...common, '--user', HOME_OWNER, estate.images.codeServer, '-c', send(receiver));
    const finished = (service: string) => /^(Complete|Failed|Rejected|Shutdown|Orphaned)/.test(outcome(service));
    // Both done, or the receiver done first (refused or failed: the sender would wait for it in vain).
    while (!(finished(sender) && finished(receiver)) && !(finished(receiver) && !/^Complete/.test(outcome(receiver)))) {
      if (Date.now() > deadline) throw new Error(`the copy did not finish within ${args.timeoutSeconds}s (${sender}: ${outcome(sender)}; ${receiver}: ${outcome(receiver)})`);
      await sleep(1000);
    }
    const digests = (service: string) => {
      const lines = must('service', 'logs', '--raw', service).split('\n').filter((line) => line.startsWith('webide-move: '));
      return Object.fromEntries(lines.map((line) => line.slice('webide-move: '.length).split(' ')).map(([key, ...value]) => [key, value.join(' ')]));
    };
    const received = digests(receiver);
    if (received.REFUSED !== undefined) throw new Error(`refused on ${args.to}: ${received.REFUSED}; nothing was copied`);
    const sent = digests(sender);
    for (const service of [sender, receiver]) if (!/^Complete/.test(outcome(service))) throw new Error(`${service} failed (${outcome(service)}):\n${must('service', 'logs', '--raw', service)}`);
    if (!sent.tree || sent.tree !== received.tree || sent.content !== received.content || sent.files !== received.files) {
      throw new Error(`the copy on ${args.to} differs from the home on ${from}: sent ${JSON.stringify(sent)}, received ${JSON.stringify(received)}; the home on ${from} is untouched`);
    }
    log(`${args.username}'s home is on ${args.to} too: ${sent.files} files, the same tree and contents as on ${from} (sha256 ${sent.content.slice(0, 16)}…)`);
    log(`next: pin ${args.username} to ${args.to} in the roster (node: ${args.to}) and deploy; the copy on ${from} stays until you remove it there (docker volume rm ${home}, on ${from})`);
  } finally {
    for (const service of [sender, receiver]) docker('service', 'rm', service);
    for (let i = 0; i < 30 && docker('network', 'rm', network).status !== 0 && docker('network', 'inspect', network).status === 0; i++) await sleep(1000);
  }
}

async function main(): Promise<number> {
  const parsed = parseMoveHomeArgs(process.argv.slice(2), process.env);
  if ('errors' in parsed) {
    for (const error of parsed.errors) process.stderr.write(`swarm:move-home: ${error}\n`);
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const { args } = parsed;
  let estate: EstateConfig;
  let roster: Roster;
  try {
    ({ estate, roster } = loadInputs(readInputFile(args.estateFile), readInputFile(args.rosterFile)));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const issue of error.issues) process.stderr.write(`${formatIssue(issue)}\n`);
    return 1;
  }
  const docker = managerDocker(estate.dockerHost);
  try {
    await moveHome(estate, roster, args, docker, (line) => process.stdout.write(`${line}\n`));
    return 0;
  } catch (error) {
    process.stderr.write(`swarm:move-home: ${(error as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main().then((code) => process.exit(code));
}
