/**
 * npm run images:pin -- [--estate <estate.yaml>] [--only <key>,<key>…] [--ca-file <ca.pem>]
 *                       [--engine <docker host>] [--dry-run]
 *
 * On the swarm target every node pulls each image itself, so the estate names its images by digest
 * in its own registry (`swarm.registry`). This copies each image the estate file names by tag from
 * a local Docker engine (where it was built or imported) into that registry with skopeo, over TLS
 * trusting only the registry's CA (`swarm.registry.caFile`, or --ca-file), and rewrites the file's
 * `images` lines to `<registry>/webide/<name>:<tag>@sha256:<digest>`: the digest the registry
 * stored, the bytes every node then runs. An image already pinned in that registry is checked to be
 * there. Only those values change in the file; comments and everything else stay as they were.
 *
 * Nothing is written unless every image was pushed or found; every problem is reported at once with
 * the file, line and field. Registry credentials, if the registry asks for them, are skopeo's own
 * (`skopeo login`, REGISTRY_AUTH_FILE); this command never takes a password.
 * Exit 0 pinned (or, with --dry-run, printed), 1 refused or failed, 2 bad arguments.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { estateSchema } from '../config/estate';
import { ImageKey, pinnedReference, PinStep, planImagePins, withPinnedImages } from '../config/image-pins';
import { readInputFile } from '../config/input-file';
import { loadEstate } from '../config/load';
import { ConfigError, ConfigIssue, formatIssue, knownKeysAt, parseYaml } from '../config/source';
import { readCommandLine } from './lib/command-line';

const USAGE = 'usage: npm run images:pin -- [--estate <estate.yaml>] [--only <key>,<key>…] [--ca-file <ca.pem>] [--engine <docker host>] [--dry-run]';
/** Longest one image's copy into the registry may take. */
const PUSH_TIMEOUT_MS = 15 * 60_000;

export interface ImagePinArgs {
  readonly estateFile: string;
  /** The images to pin. @default - every image of the estate file */
  readonly only?: readonly ImageKey[];
  /** The registry's CA certificate here. @default - the estate's swarm.registry.caFile */
  readonly caFile?: string;
  /** The engine the images are read from, as skopeo's --src-daemon-host takes it. */
  readonly engine: string;
  readonly dryRun: boolean;
}

/** Parses the command line; every problem at once. */
export function parseImagePinArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): { args: ImagePinArgs } | { errors: string[] } {
  const line = readCommandLine(argv, { valued: ['estate', 'only', 'ca-file', 'engine'], flags: ['dry-run'] });
  const errors = [...line.errors];
  const { values } = line;
  const dryRun = line.flags.has('dry-run');
  const known = knownKeysAt(estateSchema, ['images']);
  const only = values.only?.split(',').map((key) => key.trim());
  for (const key of only ?? []) {
    if (!known.includes(key)) errors.push(`--only ${JSON.stringify(key)}: not an image of the estate (${known.join(', ')})`);
  }
  if (errors.length > 0) return { errors };
  return {
    args: {
      estateFile: values.estate ?? env.ESTATE_FILE ?? path.relative(process.cwd(), path.join(__dirname, '..', 'assets', 'estate.yaml')),
      only: only && ([...new Set(only)] as ImageKey[]),
      caFile: values['ca-file'],
      engine: values.engine ?? env.DOCKER_HOST ?? 'unix:///var/run/docker.sock',
      dryRun,
    },
  };
}

/** Runs skopeo; its output, or the last lines of what it said when it failed. */
function skopeo(args: string[]): { ok: true; out: string } | { ok: false; error: string } {
  const result = spawnSync('skopeo', args, { encoding: 'utf8', timeout: PUSH_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  if (result.error) return { ok: false, error: `skopeo: ${result.error.message}` };
  if (result.status !== 0) {
    const said = (result.stderr || result.stdout).trim();
    // skopeo logs `time=… level=fatal msg="…"`: the message is what a reader needs.
    const message = /msg="((?:[^"\\]|\\.)*)"/.exec(said)?.[1].replace(/\\"/g, '"') ?? said.split('\n').slice(-3).join(' ');
    return { ok: false, error: `skopeo: ${message}` };
  }
  return { ok: true, out: result.stdout };
}

/** Pushes or checks one image; the reference to pin, or what went wrong. */
function carryOut(step: Exclude<PinStep, { kind: 'refuse' }>, certDir: string, engine: string): { reference: string } | { error: string } {
  if (step.kind === 'verify') {
    const found = skopeo(['inspect', '--cert-dir', certDir, '--format', '{{.Digest}}', `docker://${step.reference}`]);
    if (!found.ok) return { error: `could not find ${step.reference} in the registry: ${found.error}` };
    return { reference: step.current };
  }
  const digestFile = path.join(certDir, 'digest');
  const copied = skopeo(['copy', '--quiet', '--src-daemon-host', engine, '--dest-cert-dir', certDir, '--digestfile', digestFile, `docker-daemon:${step.source}`, `docker://${step.destination}`]);
  if (!copied.ok) return { error: `pushing ${step.source} to ${step.destination} failed: ${copied.error}` };
  return { reference: pinnedReference(step.destination, fs.readFileSync(digestFile, 'utf8').trim()) };
}

function main(): number {
  const parsed = parseImagePinArgs(process.argv.slice(2), process.env);
  if ('errors' in parsed) {
    process.stderr.write(`${parsed.errors.map((error) => `images:pin: ${error}`).join('\n')}\n${USAGE}\n`);
    return 2;
  }
  const { args } = parsed;
  const input = readInputFile(args.estateFile);
  const estate = loadEstate(input);
  const source = parseYaml(input.text, input.file);
  const issueAt = (at: readonly (string | number)[], message: string): ConfigIssue => ({ file: input.file, ...source.locate(at), path: at.join('.'), message });
  const fail = (issues: readonly ConfigIssue[]) => {
    process.stderr.write(`${issues.map(formatIssue).join('\n')}\n${issues.length} problem(s) found; ${input.file} is unchanged.\n`);
    return 1;
  };
  if (estate.target !== 'swarm' || !estate.swarm) {
    return fail([issueAt(['target'], `images:pin pushes to the swarm's registry (swarm.registry), and the target is ${estate.target}${'target' in (source.data as object) ? '' : ' (the default: the file sets no target)'}: on one host the engine that runs the images is the one they are built or imported on`)]);
  }
  const caFile = args.caFile ?? estate.swarm.registry.caFile;
  const issues: ConfigIssue[] = [];
  if (!fs.existsSync(caFile)) {
    issues.push(args.caFile ? { file: input.file, line: 1, col: 1, path: '', message: `--ca-file ${caFile}: no such file here` } : issueAt(['swarm', 'registry', 'caFile'], `${caFile}: no such file here (the registry's CA; give its copy on this machine with --ca-file)`));
  }
  for (const key of args.only ?? []) {
    if (estate.images[key] === undefined) issues.push(issueAt(['images'], `images.${key} is not set, so there is nothing to pin (--only)`));
  }
  const steps = planImagePins(estate.images, estate.swarm.registry, args.only);
  for (const step of steps) if (step.kind === 'refuse') issues.push(issueAt(['images', step.key], step.message));
  if (issues.length > 0) return fail(issues);

  if (args.dryRun) {
    for (const step of steps) {
      if (step.kind === 'refuse') continue;
      const what = step.kind === 'push' ? `push ${step.source} (engine ${args.engine}) to ${step.destination}, then pin its digest` : `check that the registry holds ${step.reference}`;
      process.stdout.write(`images.${step.key}: ${what}\n`);
    }
    process.stdout.write(`dry run: nothing pushed, ${input.file} is unchanged.\n`);
    return 0;
  }

  const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-images-pin-'));
  const pins: Partial<Record<ImageKey, string>> = {};
  try {
    // skopeo reads every *.crt of the directory as a CA for the registry: only the registry's CA.
    fs.copyFileSync(caFile, path.join(certDir, 'ca.crt'));
    // Two keys may name one image (the sample's AI stand-in): it is pushed or checked once.
    const results = new Map<string, ReturnType<typeof carryOut>>();
    for (const step of steps) {
      if (step.kind === 'refuse') continue;
      const target = step.kind === 'push' ? step.destination : step.reference;
      if (!results.has(target)) {
        process.stdout.write(`images.${step.key}: ${step.kind === 'push' ? `pushing ${step.source} to ${step.destination}` : `checking ${step.reference}`}\n`);
        results.set(target, carryOut(step, certDir, args.engine));
      }
      const done = results.get(target)!;
      if ('error' in done) issues.push(issueAt(['images', step.key], done.error));
      else if (done.reference !== step.current) pins[step.key] = done.reference;
    }
  } finally {
    fs.rmSync(certDir, { recursive: true, force: true });
  }
  if (issues.length > 0) return fail(issues);

  const pinned = Object.entries(pins);
  if (pinned.length > 0) {
    const edited = withPinnedImages(input.text, pins);
    // A new file renamed over the old one: a reader never sees half a file.
    const next = `${args.estateFile}.images-pin.${process.pid}`;
    fs.writeFileSync(next, edited, { mode: fs.statSync(args.estateFile).mode });
    fs.renameSync(next, args.estateFile);
  }
  for (const [key, reference] of pinned) process.stdout.write(`images.${key}: ${estate.images[key as ImageKey]} -> ${reference}\n`);
  process.stdout.write(`${input.file}: ${pinned.length} image(s) pinned, ${steps.length - pinned.length} already pinned and found in the registry.\n`);
  return 0;
}

if (require.main === module) {
  try {
    process.exitCode = main();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n${error.issues.length} problem(s) found; nothing pushed or written.\n`);
    process.exitCode = 1;
  }
}
