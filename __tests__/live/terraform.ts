import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'cdktf';
import { EstateConfig } from '../../config/estate';
import { Roster } from '../../config/roster';
import { buildEstate } from '../../stacks/estate';
import { PlanJson } from '../../report/plan';

export const ROOT = path.join(__dirname, '..', '..');
const CLI_CONFIG = path.join(ROOT, 'providers', 'terraformrc');

/** Environment for terraform: offline provider mirror, shared plugin cache, no prompts. */
export function terraformEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  if (!fs.existsSync(CLI_CONFIG)) throw new Error('providers/terraformrc is missing: run `npm run providers` first (CI does)');
  const cache = path.join(ROOT, '.work', 'tf-plugin-cache');
  fs.mkdirSync(cache, { recursive: true });
  return { ...process.env, TF_CLI_CONFIG_FILE: CLI_CONFIG, TF_PLUGIN_CACHE_DIR: cache, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1', ...extra };
}

export interface TerraformResult {
  readonly status: number | null;
  readonly output: string;
}

export function terraform(dir: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 300_000): TerraformResult {
  const result = spawnSync(process.env.TERRAFORM_BINARY_NAME ?? 'terraform', [...args, '-no-color'], { cwd: dir, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/**
 * A failed terraform run as an error message: terraform's errors (each with the lines after it)
 * first, then the output's tail. CI shows only part of a long message, and the errors are what
 * a reader needs.
 */
export function terraformFailure(what: string, result: TerraformResult): string {
  const lines = result.output.split('\n');
  const errors = lines.flatMap((line, i) => (/^\s*(│\s*)?Error: /.test(line) ? [lines.slice(i, i + 14).join('\n')] : [])).slice(0, 5);
  return `${what} (exit ${result.status}); the errors:\n${errors.join('\n') || '(none named)'}\n--- the output's end:\n${result.output.slice(-4000)}`;
}

export function mustTerraform(dir: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs?: number): string {
  const result = terraform(dir, args, env, timeoutMs);
  if (result.status !== 0) throw new Error(`terraform ${args.join(' ')} failed in ${dir}:\n${result.output}`);
  return result.output;
}

/**
 * Synthesizes the estate in-process and copies one stack's JSON into `workDir` (which
 * keeps its .terraform and lock file across roster variants). State lives in stateDir.
 */
export function synthStackInto(workDir: string, stackId: string, estate: EstateConfig, roster: Roster, stateDir: string): void {
  synthStacksInto(() => workDir, [stackId], estate, roster, stateDir);
}

/** As synthStackInto, for several stacks of one synthesis: `workDirOf(id)` is each stack's work dir. */
export function synthStacksInto(workDirOf: (stackId: string) => string, stackIds: readonly string[], estate: EstateConfig, roster: Roster, stateDir: string): void {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'live-synth-'));
  try {
    const app = new App({ outdir });
    buildEstate(app, { estate, roster, stateDir });
    app.synth();
    copyStacks(outdir, workDirOf, stackIds);
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

/** Copies each stack's cdk.tf.json from a synthesis in `outdir` into its work dir. */
function copyStacks(outdir: string, workDirOf: (stackId: string) => string, stackIds: readonly string[]): void {
  for (const stackId of stackIds) {
    fs.mkdirSync(workDirOf(stackId), { recursive: true });
    fs.copyFileSync(path.join(outdir, 'stacks', stackId, 'cdk.tf.json'), path.join(workDirOf(stackId), 'cdk.tf.json'));
  }
}

/** cdktf.json's `app`: the command `cdktf synth` and `npm run diff`/`deploy` run to synthesize. */
export const SYNTH_APP: string = JSON.parse(fs.readFileSync(path.join(ROOT, 'cdktf.json'), 'utf8')).app;

/**
 * As synthStacksInto, but by running cdktf.json's app in its own process on estate and roster
 * files, as `npm run diff` and `deploy` do (CDKTF_OUTDIR set, the CLI's 4 GiB heap, no TF_VAR_*
 * in its environment): what a timing of the operator's synthesis must measure, since main.ts
 * tunes cdktf's synthesis and buildEstate alone does not.
 */
export function appSynthStacksInto(workDirOf: (stackId: string) => string, stackIds: readonly string[], files: { readonly estateFile: string; readonly rosterFile: string }, stateDir: string): void {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'app-synth-'));
  try {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TF_VAR_')));
    const result = spawnSync(SYNTH_APP, {
      shell: true,
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...env, CDKTF_OUTDIR: outdir, ESTATE_FILE: files.estateFile, ROSTER_FILE: files.rosterFile, STATE_DIR: stateDir, NODE_OPTIONS: '--max-old-space-size=4096' },
      timeout: 600_000,
      maxBuffer: 64 << 20,
    });
    if (result.status !== 0) throw new Error(`${SYNTH_APP} failed (exit ${result.status}):\n${result.stderr.slice(-4000)}`);
    copyStacks(outdir, workDirOf, stackIds);
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

export interface PlannedChange {
  readonly address: string;
  readonly actions: readonly string[];
}

/** `terraform plan -out` + `terraform show -json`: the real plan JSON. */
export function planJson(dir: string, env: NodeJS.ProcessEnv, timeoutMs?: number, parallelism = 10): PlanJson {
  mustTerraform(dir, ['plan', '-out=plan.tfplan', '-input=false', '-lock=false', `-parallelism=${parallelism}`], env, timeoutMs);
  const shown = spawnSync(process.env.TERRAFORM_BINARY_NAME ?? 'terraform', ['show', '-json', 'plan.tfplan'], { cwd: dir, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (shown.status !== 0) throw new Error(`terraform show failed:\n${shown.stderr}`);
  return JSON.parse(shown.stdout) as PlanJson;
}

/** Resources a plan would touch (no-op and read left out). */
export function plannedChanges(dir: string, env: NodeJS.ProcessEnv, timeoutMs?: number): PlannedChange[] {
  const plan = planJson(dir, env, timeoutMs);
  return (plan.resource_changes ?? [])
    .filter((rc) => !rc.change.actions.every((action) => action === 'no-op' || action === 'read'))
    .map((rc) => ({ address: rc.address, actions: rc.change.actions }))
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

/** `keycloak_user.roster_users_alice_account_1A2B3C4D` → `keycloak_user.roster_users_alice_account` */
export function withoutHash(address: string): string {
  return address.replace(/_[0-9A-F]{8}$/, '');
}

/** A state file holding only the stack's cross-stack outputs, with placeholder values. */
export function recordPlaceholderOutputs(stackDir: string, stateFile: string): void {
  const config = JSON.parse(fs.readFileSync(path.join(stackDir, 'cdk.tf.json'), 'utf8')) as { output?: Record<string, unknown> };
  const outputs = Object.fromEntries(
    Object.keys(config.output ?? {})
      .filter((name) => name.startsWith('cross-stack-output-'))
      .map((name) => [name, { value: `placeholder-${name.slice('cross-stack-output-'.length)}`, type: 'string', sensitive: true }]),
  );
  fs.writeFileSync(stateFile, JSON.stringify({ version: 4, terraform_version: '1.11.4', serial: 1, lineage: 'fixture', outputs, resources: [], check_results: null }));
}
