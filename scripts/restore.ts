/**
 * npm run restore -- <home <username> | keycloak> [--snapshot <id>|latest] [--yes]
 *                    [--estate <estate.yaml>] [--roster <roster.yaml>] [--image <image>]
 *
 * Restores one user's home volume or the Keycloak database from the estate's backups
 * (images/backup). Without --yes it prints what it would run and runs nothing.
 *
 *   home <username>  stops the user's IDE, replaces the home volume's contents with the snapshot
 *                    (ownership and modes kept), starts the IDE again
 *   keycloak         stops Keycloak, replaces the keycloak database's contents with the snapshot
 *                    in one transaction, starts Keycloak again (also when the restore failed: the
 *                    database is then as it was)
 *
 * Each restore runs in a one-off container of the backup agent's image (or --image), on the same
 * repository and state volume, so it waits for a backup in progress and no backup runs during it.
 * Secrets come from the environment, as for Terraform: TF_VAR_backup_repository_password, and for
 * keycloak TF_VAR_keycloak_db_password; docker gets their names only (--env NAME).
 * Exit 0 done (or printed), 1 refused or failed, 2 bad arguments.
 */
import { spawn, spawnSync } from 'child_process';
import * as path from 'path';
import { BackupConfig } from '../config/backup';
import { EstateConfig } from '../config/estate';
import { readInputFile } from '../config/input-file';
import { InputFile, loadInputs } from '../config/load';
import { USERNAME_PATTERN } from '../config/roster';
import { ConfigError, parseYaml } from '../config/source';
import {
  BACKUP_PATHS,
  BACKUP_PROGRAM,
  BACKUP_SECRETS,
  BackupMount,
  BackupSecretEnv,
  backupRepository,
  keycloakDatabaseEnv,
  repositoryAccess,
  restoreContainerFlags,
} from '../constructs/backup';
import { EstateNames } from '../constructs/naming';
import { readCommandLine } from './lib/command-line';

const USAGE = 'usage: npm run restore -- <home <username>|keycloak> [--snapshot <id>|latest] [--yes] [--estate <estate.yaml>] [--roster <roster.yaml>] [--image <image>]';
const HELP = `${USAGE}

Restores one user's home volume or the Keycloak database from the estate's backups.
Without --yes, prints the docker commands it would run and runs nothing.

  home <username>          the user's IDE is stopped, the home volume's contents replaced
                           with the snapshot's (ownership and modes kept), the IDE started
  keycloak                 Keycloak is stopped, the keycloak database's contents replaced
                           with the snapshot's in one transaction, Keycloak started
  --snapshot <id>|latest   the snapshot (an id from \`restic snapshots\` in the backup
                           container); default: the latest of that home or of the database
  --yes                    run it
  --estate <estate.yaml>   default: $ESTATE_FILE or assets/estate.yaml
  --roster <roster.yaml>   default: $ROSTER_FILE or assets/roster.yaml
  --image <image>          the backup image; default: the one the backup container runs

Environment: TF_VAR_backup_repository_password (both), TF_VAR_keycloak_db_password (keycloak).
Exit 0 done or printed, 1 refused or failed, 2 bad arguments.
`;

/** What to restore. A home of an archived user has no IDE to stop and start. */
export type RestoreTarget = { readonly kind: 'home'; readonly username: string } | { readonly kind: 'keycloak' };

export interface RestoreArgs {
  readonly target: RestoreTarget;
  /** `latest` or a snapshot id (8 to 64 hex digits). */
  readonly snapshot: string;
  readonly yes: boolean;
  readonly estateFile: string;
  readonly rosterFile: string;
  /** @default - the image of the running backup container */
  readonly image?: string;
}

const SNAPSHOT_PATTERN = /^(latest|[0-9a-f]{8,64})$/;

/** The environment variable each secret of a restore comes from (Terraform's name for it). */
export const SECRET_SOURCES: Readonly<Record<BackupSecretEnv, string>> = {
  RESTIC_PASSWORD: `TF_VAR_${BACKUP_SECRETS.RESTIC_PASSWORD}`,
  PGPASSWORD: `TF_VAR_${BACKUP_SECRETS.PGPASSWORD}`,
};

/**
 * The command line, checked all at once: every problem is one message naming the flag or
 * argument. Secrets must be in `env` only when the restore is to run (--yes).
 */
export function parseRestoreArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): { args: RestoreArgs } | { help: true } | { errors: string[] } {
  const line = readCommandLine(argv, { valued: ['snapshot', 'estate', 'roster', 'image'], flags: ['yes', 'help'], short: { h: 'help' }, positionals: true });
  if (line.flags.has('help')) return { help: true };
  const errors = [...line.errors];
  const { values } = line;
  const yes = line.flags.has('yes');
  const estateFile = values.estate ?? env.ESTATE_FILE ?? path.relative(process.cwd(), path.join(__dirname, '..', 'assets', 'estate.yaml'));
  const rosterFile = values.roster ?? env.ROSTER_FILE ?? path.relative(process.cwd(), path.join(__dirname, '..', 'assets', 'roster.yaml'));
  const image = values.image;
  const snapshot = values.snapshot ?? 'latest';
  if (!SNAPSHOT_PATTERN.test(snapshot)) errors.push(`--snapshot ${JSON.stringify(snapshot)}: must be latest or a snapshot id (8 to 64 hex digits, as restic snapshots shows them)`);

  let target: RestoreTarget | undefined;
  const [kind, ...rest] = line.positionals;
  if (kind === undefined) {
    errors.push('name what to restore: home <username> or keycloak');
  } else if (kind === 'home') {
    const [username, ...extra] = rest;
    if (username === undefined) errors.push('home needs a username');
    else if (!USERNAME_PATTERN.test(username)) errors.push(`home ${JSON.stringify(username)}: not a username (a lowercase DNS label)`);
    else target = { kind: 'home', username };
    if (extra.length > 0) errors.push(`unexpected argument ${extra[0]}`);
  } else if (kind === 'keycloak') {
    if (rest.length > 0) errors.push(`unexpected argument ${rest[0]}`);
    target = { kind: 'keycloak' };
  } else {
    errors.push(`unknown target ${JSON.stringify(kind)}: restore home <username> or keycloak`);
  }

  if (yes) {
    const needed: BackupSecretEnv[] = kind === 'keycloak' ? ['RESTIC_PASSWORD', 'PGPASSWORD'] : ['RESTIC_PASSWORD'];
    for (const secret of needed) {
      if (!env[SECRET_SOURCES[secret]]) errors.push(`${SECRET_SOURCES[secret]} must be set (the same value Terraform gets)`);
    }
  }
  if (errors.length > 0 || !target) return { errors };
  return { args: { target, snapshot, yes, estateFile, rosterFile, image } };
}

/** One docker command of a restore. */
export interface RestoreStep {
  /** Shown before it runs. */
  readonly purpose: string;
  /** The command, `docker` first; never holds a secret. */
  readonly argv: readonly string[];
  /** Secrets the command passes on by name (`--env NAME`): each name gets the value of this environment variable. */
  readonly secrets?: Readonly<Partial<Record<BackupSecretEnv, string>>>;
  /** Runs even after an earlier step failed (putting services back, removing the one-off container). */
  readonly always?: boolean;
}

export interface RestorePlanInput {
  /** The estate's name (`estate.name`). */
  readonly estateName: string;
  /** The Docker engine (`estate.dockerHost`). */
  readonly dockerHost: string;
  readonly backup: BackupConfig;
  /** The backup image (a reference or an image id). */
  readonly image: string;
  readonly target: RestoreTarget;
  /** `latest` or a snapshot id. */
  readonly snapshot: string;
  /** Whether the user has an IDE container (not when archived): it is stopped first and started after. @default true */
  readonly hasIde?: boolean;
}

/**
 * `--mount` of one mount. Volumes with volume-nocopy: Docker would otherwise copy the image's mount
 * point (root's) over the owner and mode of a volume that is empty, such as a lost home's, and its
 * user could no longer write their home (found by the e2e restore drill).
 */
const mountFlag = (mount: BackupMount) => [
  '--mount',
  `type=${mount.type},source=${mount.source},target=${mount.target}${mount.readOnly ? ',readonly' : ''}${mount.type === 'volume' ? ',volume-nocopy' : ''}`,
];

/**
 * The docker commands of a restore, in order. Pure: no I/O, no clock; every value comes from the
 * validated input, each as one argument (nothing is parsed by a shell).
 *
 * The one-off container is created before anything is stopped (a name still in use from an
 * earlier restore then stops the restore before it changed anything), runs the backup program's
 * restore-home or restore-keycloak, and is removed at the end whatever happened.
 */
export function restorePlan(input: RestorePlanInput): RestoreStep[] {
  const names = new EstateNames(input.estateName);
  const docker = ['docker', '--host', input.dockerHost];
  const repository = backupRepository(input.backup);
  const access = repositoryAccess(repository);
  const oneOff = names.restoreContainer();
  const state: BackupMount = { type: 'volume', source: names.dataVolume('backup'), target: BACKUP_PATHS.state, readOnly: false };
  const common = [
    '--name',
    oneOff,
    '--label',
    `webide.estate=${input.estateName}`,
    '--label',
    'webide.component=restore',
    ...mountFlag(state),
    ...(access.mount ? mountFlag(access.mount) : []),
    '--env',
    `RESTIC_REPOSITORY=${access.env}`,
    '--env',
    `BACKUP_HOST=${input.estateName}`,
    '--env',
    'RESTIC_PASSWORD',
  ];
  // A rest: repository is reached through the edge network, the only one with a route out.
  const routeOut = repository.kind === 'rest' ? names.network('edge') : undefined;
  const create = (purpose: string, flags: string[], command: string[], secrets: Partial<Record<BackupSecretEnv, string>>): RestoreStep => ({
    purpose,
    argv: [...docker, 'create', ...flags, '--entrypoint', BACKUP_PROGRAM, input.image, ...command],
    secrets,
  });
  const run: RestoreStep = { purpose: 'run the restore (its log follows)', argv: [...docker, 'start', '--attach', oneOff] };
  const remove: RestoreStep = { purpose: 'remove the one-off container', argv: [...docker, 'rm', '--force', oneOff], always: true };

  if (input.target.kind === 'home') {
    const { username } = input.target;
    const ide = names.workspaceContainer(username);
    const hasIde = input.hasIde ?? true;
    const home: BackupMount = { type: 'volume', source: names.homeVolume(username), target: BACKUP_PATHS.restore, readOnly: false };
    return [
      create(
        `create the restore container for ${username}'s home (${names.homeVolume(username)})`,
        [...restoreContainerFlags('home'), ...common, ...mountFlag(home), '--network', routeOut ?? 'none'],
        ['restore-home', username, input.snapshot],
        { RESTIC_PASSWORD: SECRET_SOURCES.RESTIC_PASSWORD },
      ),
      ...(hasIde ? [{ purpose: `stop ${username}'s IDE`, argv: [...docker, 'stop', ide] }] : []),
      run,
      ...(hasIde ? [{ purpose: `start ${username}'s IDE again`, argv: [...docker, 'start', ide] }] : []),
      remove,
    ];
  }

  const keycloak = names.service('keycloak');
  const database = Object.entries(keycloakDatabaseEnv(names)).flatMap(([name, value]) => ['--env', `${name}=${value}`]);
  return [
    create(
      'create the restore container for the Keycloak database',
      [...restoreContainerFlags('keycloak'), ...common, ...database, '--env', 'PGPASSWORD', '--network', names.network('database')],
      ['restore-keycloak', input.snapshot],
      { RESTIC_PASSWORD: SECRET_SOURCES.RESTIC_PASSWORD, PGPASSWORD: SECRET_SOURCES.PGPASSWORD },
    ),
    ...(routeOut ? [{ purpose: 'connect it to the edge network (the route to the REST server)', argv: [...docker, 'network', 'connect', routeOut, oneOff] }] : []),
    { purpose: 'stop Keycloak', argv: [...docker, 'stop', keycloak] },
    run,
    // The restore is one transaction: after a failure the database is as it was, so Keycloak comes back either way.
    { purpose: 'start Keycloak again', argv: [...docker, 'start', keycloak], always: true },
    remove,
  ];
}

/** A step as a line for the operator (no secret is ever in argv). */
export function describeStep(step: RestoreStep): string {
  return step.argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export interface PlanOutcome {
  /** 0 when every step succeeded. */
  readonly code: number;
  /** Index of the first step that failed. */
  readonly failedAt?: number;
  /** Steps not run because of it. */
  readonly skipped: readonly RestoreStep[];
}

/**
 * Runs the steps in order with spawn (no shell). After a failure only the `always` steps run.
 * A secret reaches docker only through its environment: `NAME=value` there, `--env NAME` in argv.
 */
export async function runPlan(
  steps: readonly RestoreStep[],
  env: Readonly<Record<string, string | undefined>>,
  say: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<PlanOutcome> {
  let failedAt: number | undefined;
  const skipped: RestoreStep[] = [];
  for (const [index, step] of steps.entries()) {
    if (failedAt !== undefined && !step.always) {
      skipped.push(step);
      continue;
    }
    say(`restore: ${step.purpose}\n  $ ${describeStep(step)}`);
    const childEnv: Record<string, string | undefined> = { ...env };
    for (const [name, source] of Object.entries(step.secrets ?? {})) childEnv[name] = env[source as string];
    const code = await new Promise<number>((resolve) => {
      const child = spawn(step.argv[0], step.argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], env: childEnv });
      child.once('error', (error) => {
        say(`restore: ${step.argv[0]}: ${error.message}`);
        resolve(127);
      });
      child.once('close', (status, signal) => resolve(status ?? (signal ? 128 : 1)));
    });
    if (code !== 0 && failedAt === undefined) {
      say(`restore: failed (exit ${code}): ${step.purpose}`);
      failedAt = index;
    }
  }
  return { code: failedAt === undefined ? 0 : 1, failedAt, skipped };
}

/**
 * Where a username stands in the roster file, for a message that names the line: its entry under
 * `retired`, or (not there either) the `users` list it is missing from.
 */
export function rosterPlace(roster: InputFile, username: string): { readonly line: number; readonly col: number; readonly retired: boolean } {
  const source = parseYaml(roster.text, roster.file);
  const data = source.data as { retired?: unknown } | null;
  const retired = Array.isArray(data?.retired) ? data.retired.findIndex((entry) => (entry as { username?: unknown })?.username === username) : -1;
  const at = retired >= 0 ? source.locate(['retired', retired, 'username']) : source.locate(['users']);
  return { ...at, retired: retired >= 0 };
}

/** The estate's backup settings (`operations.backup`). */
function backupOf(estate: EstateConfig): BackupConfig | undefined {
  return estate.operations.backup;
}

/** The image the backup container runs (its id), asked of the engine. */
function agentImage(dockerHost: string, container: string): string | { error: string } {
  const result = spawnSync('docker', ['--host', dockerHost, 'container', 'inspect', '--format', '{{.Image}}', container], { encoding: 'utf8', timeout: 60_000 });
  const id = result.status === 0 ? result.stdout.trim() : '';
  if (id) return id;
  return { error: `cannot read the image of ${container} (${(result.stderr || result.error?.message || '').trim() || `exit ${result.status}`}); name the backup image with --image` };
}

async function main(): Promise<number> {
  const parsed = parseRestoreArgs(process.argv.slice(2), process.env);
  if ('help' in parsed) {
    process.stdout.write(HELP);
    return 0;
  }
  if ('errors' in parsed) {
    process.stderr.write(`${parsed.errors.map((error) => `restore: ${error}`).join('\n')}\n${USAGE}\n`);
    return 2;
  }
  const { args } = parsed;
  let estate: EstateConfig;
  let hasIde = true;
  try {
    const rosterInput = readInputFile(args.rosterFile);
    const inputs = loadInputs(readInputFile(args.estateFile), rosterInput);
    estate = inputs.estate;
    if (args.target.kind === 'home') {
      const username = args.target.username;
      const user = inputs.roster.users.find((u) => u.username === username);
      if (!user) {
        const place = rosterPlace(rosterInput, username);
        process.stderr.write(
          place.retired
            ? `${args.rosterFile}:${place.line}:${place.col}: restore: ${username} is retired: their home volume was deleted on purpose; add them to users first to restore it\n`
            : `${args.rosterFile}:${place.line}:${place.col}: restore: no user ${username} under users; a home is restored only for a roster user\n`,
        );
        return 1;
      }
      hasIde = user.state !== 'archived';
    }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n${error.issues.length} problem(s) found; nothing was run.\n`);
    return 1;
  }
  const backup = backupOf(estate);
  if (!backup) {
    process.stderr.write(`${args.estateFile}: restore: the estate has no operations.backup, so there are no backups to restore from\n`);
    return 1;
  }
  const names = new EstateNames(estate.name);
  const image = args.image ?? agentImage(estate.dockerHost, names.service('backup'));
  if (typeof image !== 'string') {
    process.stderr.write(`restore: ${image.error}\n`);
    return 1;
  }
  const steps = restorePlan({ estateName: estate.name, dockerHost: estate.dockerHost, backup, image, target: args.target, snapshot: args.snapshot, hasIde });
  if (!args.yes) {
    process.stdout.write(`${steps.map((step) => `# ${step.purpose}${step.always ? ' (also after a failure)' : ''}\n${describeStep(step)}\n`).join('')}`);
    process.stdout.write('Nothing was run. Run again with --yes to do it.\n');
    return 0;
  }
  // Ctrl-C reaches docker too (it passes it to the restore, which stops cleanly); the steps that
  // put things back still run.
  process.on('SIGINT', () => undefined);
  const outcome = await runPlan(steps, process.env);
  if (outcome.code !== 0) {
    for (const step of outcome.skipped) process.stderr.write(`restore: not run: ${step.purpose}: ${describeStep(step)}\n`);
    const stoppedAt = steps.findIndex((step) => step.argv[3] === 'stop');
    if (args.target.kind === 'home' && stoppedAt >= 0 && (outcome.failedAt ?? 0) > stoppedAt) {
      process.stderr.write(
        `restore: ${args.target.username}'s IDE is left stopped. The restore's last log line says home=unchanged (start it again as it is) or home=partial (restore again first).\n`,
      );
    }
    return 1;
  }
  process.stderr.write('restore: done\n');
  return 0;
}

if (require.main === module) {
  main().then((code) => process.exit(code));
}
