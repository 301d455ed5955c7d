/**
 * node scripts/ts-run.js scripts/orphans.ts [--dry-run] [--out <cdktf.out>] <stack>…
 *
 * Removes the Docker containers and networks that an interrupted apply created but Terraform
 * never recorded, so that the next deploy can create them. `npm run deploy` runs it on the
 * synthesized stacks before each `cdktf deploy`.
 *
 * Why: when an apply is interrupted (Ctrl-C, a CI runner's SIGTERM), Terraform cancels the
 * provider's requests in flight. Docker may already have created the object when the cancelled
 * request returns, so it exists while Terraform's state does not hold it, and the next apply
 * fails on its name ("Conflict. The container name … is already in use", "network with name …
 * already exists"). Found by the e2e tier's interrupted-deploy test.
 *
 * An object is removed only when all of these hold: the stack declares a container or network of
 * exactly that name; no resource in the state of any stack of the synthesis has its id (an object
 * another stack records is that stack's: splitting the workspaces into shards moves a user's
 * network to a shard stack, and the workspaces stack's apply, earlier in the deploy order, removes
 * it first); and it carries every label the
 * declaration gives it (so it was made from this declaration, not by someone else). A same-named
 * object without those labels, or an unrecorded network that a container is attached to, is
 * refused with the reason and nothing is removed. Volumes are never touched: Docker creates an
 * existing volume again without error, and homes live in volumes.
 * Exit 0 nothing left in the way, 1 refused, 2 bad arguments or unreadable files.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readCommandLine } from './lib/command-line';

export type OrphanKind = 'container' | 'network';
const RESOURCE_TYPE: Readonly<Record<OrphanKind, string>> = { container: 'docker_container', network: 'docker_network' };

/** A container or network a stack declares: its Terraform address, Docker name and labels. */
export interface DeclaredObject {
  readonly kind: OrphanKind;
  readonly address: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** What Docker holds under a declared name. */
export interface PresentObject {
  readonly kind: OrphanKind;
  readonly id: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Containers attached (networks only). */
  readonly attached: number;
}

export interface OrphanVerdict {
  /** Unrecorded objects made from this stack's declarations: safe to remove. */
  readonly orphans: readonly (PresentObject & { readonly address: string })[];
  /** Same-named objects that must not be removed, each with the reason. */
  readonly refused: readonly { readonly object: PresentObject; readonly reason: string }[];
}

interface StackJson {
  readonly resource?: Readonly<Record<string, Readonly<Record<string, { name?: unknown; labels?: unknown }>>>>;
  readonly terraform?: { readonly backend?: { readonly local?: { readonly path?: string } } };
  readonly provider?: { readonly docker?: readonly { readonly host?: string }[] };
}

interface StateJson {
  readonly resources?: readonly { readonly type: string; readonly instances?: readonly { readonly attributes?: { readonly id?: string } }[] }[];
}

/** The containers and networks a synthesized stack declares with a literal name. */
export function declaredObjects(stack: StackJson): DeclaredObject[] {
  const objects: DeclaredObject[] = [];
  for (const kind of Object.keys(RESOURCE_TYPE) as OrphanKind[]) {
    for (const [logicalId, body] of Object.entries(stack.resource?.[RESOURCE_TYPE[kind]] ?? {})) {
      // A name computed at apply time (`${…}`) cannot be matched before it; the estate has none.
      if (typeof body.name !== 'string' || body.name.includes('${')) continue;
      const labels = Array.isArray(body.labels) ? (body.labels as { label?: unknown; value?: unknown }[]) : [];
      objects.push({
        kind,
        address: `${RESOURCE_TYPE[kind]}.${logicalId}`,
        name: body.name,
        labels: Object.fromEntries(labels.filter((l) => typeof l.label === 'string' && typeof l.value === 'string' && !l.value.includes('${')).map((l) => [l.label, l.value])),
      });
    }
  }
  return objects;
}

/** Ids of the containers and networks the state records. */
export function recordedIds(state: StateJson | undefined): Set<string> {
  const types = new Set(Object.values(RESOURCE_TYPE));
  return new Set(
    (state?.resources ?? [])
      .filter((r) => types.has(r.type))
      .flatMap((r) => r.instances ?? [])
      .map((i) => i.attributes?.id)
      .filter((id): id is string => typeof id === 'string' && id !== ''),
  );
}

/** Pure: which present objects an interrupted apply left behind, and which must be left alone. */
export function findOrphans(declared: readonly DeclaredObject[], recorded: ReadonlySet<string>, present: readonly PresentObject[]): OrphanVerdict {
  const byName = new Map(declared.map((d) => [`${d.kind}/${d.name}`, d]));
  const orphans: (PresentObject & { address: string })[] = [];
  const refused: { object: PresentObject; reason: string }[] = [];
  for (const object of [...present].sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`))) {
    const declaration = byName.get(`${object.kind}/${object.name}`);
    if (!declaration || recorded.has(object.id)) continue;
    const missing = Object.entries(declaration.labels).filter(([label, value]) => object.labels[label] !== value).map(([label]) => label);
    if (missing.length > 0) {
      refused.push({ object, reason: `it lacks the labels ${declaration.address} gives (${missing.join(', ')}), so this estate did not make it: remove or rename it by hand` });
    } else if (object.kind === 'network' && object.attached > 0) {
      refused.push({ object, reason: `${object.attached} container(s) are attached to it: detach them (docker network disconnect) first` });
    } else {
      orphans.push({ ...object, address: declaration.address });
    }
  }
  return { orphans, refused };
}

/** What Docker holds under the declared names (docker inspect; a name Docker lacks is skipped). */
function presentObjects(dockerHost: string, declared: readonly DeclaredObject[]): PresentObject[] {
  const found: PresentObject[] = [];
  for (const kind of Object.keys(RESOURCE_TYPE) as OrphanKind[]) {
    const names = [...new Set(declared.filter((d) => d.kind === kind).map((d) => d.name))];
    if (names.length === 0) continue;
    // Exit 1 when some name is missing; the JSON still lists every object found.
    const result = spawnSync('docker', ['-H', dockerHost, kind, 'inspect', ...names], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, timeout: 120_000 });
    if (result.error) throw result.error;
    const list = JSON.parse(result.stdout.trim() || '[]') as { Id: string; Name: string; Config?: { Labels?: Record<string, string> | null }; Labels?: Record<string, string> | null; Containers?: Record<string, unknown> | null }[];
    for (const item of list) {
      found.push({
        kind,
        id: item.Id,
        name: item.Name.replace(/^\//, ''),
        labels: (kind === 'container' ? item.Config?.Labels : item.Labels) ?? {},
        attached: Object.keys(item.Containers ?? {}).length,
      });
    }
  }
  return found;
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** The state a synthesized stack directory's local backend names, when it exists. */
function stackState(stackDir: string): StateJson | undefined {
  const statePath = readJson<StackJson>(path.join(stackDir, 'cdk.tf.json')).terraform?.backend?.local?.path;
  return statePath && fs.existsSync(statePath) ? readJson<StateJson>(statePath) : undefined;
}

/** The ids of the containers and networks that the states of every stack in a synthesis (`<outDir>/stacks/*`) record. */
export function synthesisRecordedIds(outDir: string): Set<string> {
  const stacksDir = path.join(outDir, 'stacks');
  const ids = new Set<string>();
  for (const id of fs.existsSync(stacksDir) ? fs.readdirSync(stacksDir).sort() : []) {
    if (!fs.existsSync(path.join(stacksDir, id, 'cdk.tf.json'))) continue;
    for (const recorded of recordedIds(stackState(path.join(stacksDir, id)))) ids.add(recorded);
  }
  return ids;
}

/**
 * Sweeps one synthesized stack directory; returns the lines to print and whether anything was
 * refused. `recordedElsewhere`: ids other stacks' states record (synthesisRecordedIds), never orphans.
 */
export function sweepStack(stackDir: string, dryRun: boolean, recordedElsewhere: ReadonlySet<string> = new Set()): { lines: string[]; refused: boolean } {
  const stack = readJson<StackJson>(path.join(stackDir, 'cdk.tf.json'));
  const id = path.basename(stackDir);
  const dockerHost = stack.provider?.docker?.[0]?.host;
  if (!dockerHost) return { lines: [], refused: false }; // a stack without Docker objects
  const declared = declaredObjects(stack);
  const recorded = new Set([...recordedIds(stackState(stackDir)), ...recordedElsewhere]);
  const verdict = findOrphans(declared, recorded, presentObjects(dockerHost, declared));
  const lines: string[] = [];
  for (const { object, reason } of verdict.refused) lines.push(`orphans: ${id}: refused: ${object.kind} ${object.name} (${object.id.slice(0, 12)}) is not in the state: ${reason}`);
  if (verdict.refused.length > 0) return { lines, refused: true };
  for (const orphan of verdict.orphans) {
    if (!dryRun) {
      const removed = spawnSync('docker', ['-H', dockerHost, orphan.kind, 'rm', ...(orphan.kind === 'container' ? ['--force'] : []), orphan.id], { encoding: 'utf8', timeout: 120_000 });
      if (removed.status !== 0) throw new Error(`docker ${orphan.kind} rm ${orphan.name} failed: ${removed.stderr.trim()}`);
    }
    lines.push(`orphans: ${id}: ${dryRun ? 'would remove' : 'removed'} ${orphan.kind} ${orphan.name} (${orphan.id.slice(0, 12)}), left by an interrupted apply of ${orphan.address}`);
  }
  return { lines, refused: false };
}

function main(argv: string[]): number {
  const line = readCommandLine(argv, { valued: ['out'], flags: ['dry-run'], positionals: true });
  const outDir = line.values.out ?? 'cdktf.out';
  const dryRun = line.flags.has('dry-run');
  const stacks = line.positionals;
  const errors = [...line.errors, ...(stacks.length === 0 ? ['name the stacks to sweep'] : [])];
  if (errors.length > 0) {
    for (const error of errors) process.stderr.write(`orphans: ${error}\n`);
    process.stderr.write('usage: orphans.ts [--dry-run] [--out <cdktf.out>] <stack>…\n');
    return 2;
  }
  let refused = false;
  const recordedElsewhere = synthesisRecordedIds(outDir);
  for (const stack of stacks) {
    const dir = path.join(outDir, 'stacks', stack);
    if (!fs.existsSync(path.join(dir, 'cdk.tf.json'))) {
      process.stderr.write(`orphans: ${dir}/cdk.tf.json is missing: synthesize first (npx cdktf synth)\n`);
      return 2;
    }
    const result = sweepStack(dir, dryRun, recordedElsewhere);
    for (const line of result.lines) (result.refused ? process.stderr : process.stdout).write(`${line}\n`);
    refused ||= result.refused;
  }
  return refused ? 1 : 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
