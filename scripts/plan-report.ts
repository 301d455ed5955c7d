/**
 * npm run plan:report — plans every stack for real (terraform plan -out + show -json,
 * providers from the offline mirror) and writes plan-report.md and plan-report.json.
 * Exit code: 0 no changes, 2 changes, 3 changes with flagged risks, 1 error or a stack
 * that could not be planned (the report then says which and why).
 *
 * A first deployment is planned too: a stack that reads the state of a stack not applied
 * yet (workspaces reads platform's, edge reads identity's) is planned against a stand-in
 * of that state whose values read "(known after <stack> is applied)"; the report says so.
 *
 *   ESTATE_FILE, ROSTER_FILE, STATE_DIR   as for synth
 *   PLAN_STACKS=identity,workspaces       plan only these stacks (default: all, in deploy order); `*` matches
 *                                         within a name: PLAN_STACKS='identity,workspaces*' is identity and the
 *                                         workspaces stack with its shard stacks (workspaces.shards > 1)
 *   TF_VAR_*                              the stacks' secrets, as for deploy
 *   TF_PARALLELISM                        terraform plan -parallelism (default 50)
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, DISABLE_STACK_TRACE_IN_METADATA } from 'cdktf';
import { readInputFile } from '../config/input-file';
import { loadInputs } from '../config/load';
import { ConfigError } from '../config/source';
import { removeSynthOutput, stateDirForStacks, synthOutdir } from '../config/synth-output';
import { formatFinding } from '../policy/pack';
import { analysePlans, exitCodeOf } from '../report/analyse';
import {
  declaredResources,
  explainTerraformFailure,
  firstDeploymentNote,
  OVERRIDE_FILE,
  ownStatePath,
  placeholderState,
  recordsResources,
  remoteStateOverride,
  StackConfig,
  upstreamReads,
} from '../report/first-deploy';
import { StackPlan, UnplannedStack } from '../report/plan';
import { renderReportJson, renderReportMarkdown } from '../report/render';
import { buildTargetEstate, selectStacks } from '../stacks/estate';

const ROOT = path.join(__dirname, '..');

class TerraformFailure extends Error {
  constructor(public readonly output: string) {
    super(output);
  }
}

function terraformBinary(): string {
  if (process.env.TERRAFORM_BINARY_NAME) return process.env.TERRAFORM_BINARY_NAME;
  const onPath = spawnSync('terraform', ['version'], { stdio: 'ignore' });
  const built = path.join(ROOT, 'providers', 'bin', 'terraform');
  // Without terraform on PATH, `npm run providers` builds OpenTofu into providers/bin.
  return onPath.error && fs.existsSync(built) ? built : 'terraform';
}

function main(): number {
  const cliConfig = path.join(ROOT, 'providers', 'terraformrc');
  if (!fs.existsSync(cliConfig)) {
    process.stderr.write('plan:report: the offline provider mirror is missing (no providers/terraformrc): run `npm run providers` first (see providers/README.md)\n');
    return 1;
  }
  const estateFile = process.env.ESTATE_FILE ?? path.relative(process.cwd(), path.join(ROOT, 'assets', 'estate.yaml'));
  const inputs = loadInputs(
    readInputFile(estateFile),
    readInputFile(process.env.ROSTER_FILE ?? path.relative(process.cwd(), path.join(ROOT, 'assets', 'roster.yaml'))),
  );
  const outdir = synthOutdir({ CDKTF_OUTDIR: process.env.CDKTF_OUTDIR || path.join(ROOT, 'cdktf.out') });
  const app = new App({ outdir, context: { [DISABLE_STACK_TRACE_IN_METADATA]: true } });
  const { policy, all } = buildTargetEstate(app, { ...inputs, stateDir: stateDirForStacks(process.env.STATE_DIR || undefined, ROOT, outdir) });
  // Every stack in deploy order, the workspace shard stacks included; or those PLAN_STACKS names.
  const known = all.map((stack) => stack.node.id);
  const { stacks, unknown } = selectStacks(known, process.env.PLAN_STACKS);
  if (unknown.length > 0) {
    process.stderr.write(`plan:report: PLAN_STACKS names unknown stack(s) ${unknown.join(', ')}; known: ${known.join(', ')}\n`);
    return 1;
  }
  const findings = policy.check(app);
  if (findings.length > 0) {
    removeSynthOutput(outdir);
    process.stderr.write(`${findings.map(formatFinding).join('\n')}\n${findings.length} policy violation(s); nothing was planned.\n`);
    return 1;
  }
  app.synth();

  const terraform = terraformBinary();
  const env = { ...process.env, TF_CLI_CONFIG_FILE: cliConfig, TF_PLUGIN_CACHE_DIR: path.join(ROOT, '.work', 'tf-plugin-cache'), TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' };
  fs.mkdirSync(env.TF_PLUGIN_CACHE_DIR, { recursive: true });
  const run = (dir: string, args: string[]): string => {
    const result = spawnSync(terraform, args, { cwd: dir, env, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
    if (result.error) throw new Error(`cannot run ${terraform}: ${result.error.message}`);
    if (result.status !== 0) throw new TerraformFailure(`${result.stderr}\n${result.stdout}`);
    return result.stdout;
  };
  const stackDir = (stack: string) => path.join(outdir, 'stacks', stack);
  const configOf = (stack: string): StackConfig => JSON.parse(fs.readFileSync(path.join(stackDir(stack), 'cdk.tf.json'), 'utf8'));
  const applied = (stack: string, statePath: string) => {
    const file = path.resolve(stackDir(stack), statePath);
    return recordsResources(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined);
  };
  const parallelism = process.env.TF_PARALLELISM ?? '50';
  const placeholders = fs.mkdtempSync(path.join(os.tmpdir(), 'plan-report-'));

  const outcomes: (StackPlan | UnplannedStack)[] = [];
  const unplanned: UnplannedStack[] = [];
  try {
    for (const stack of stacks) {
      const dir = stackDir(stack);
      const config = configOf(stack);
      const ownState = ownStatePath(config);
      const firstDeployment = ownState !== undefined && !applied(stack, ownState);
      // Upstream stacks not applied yet: plan against a stand-in of their state.
      const missing = upstreamReads(config).filter((read) => !applied(stack, read.statePath));
      const overrideFile = path.join(dir, OVERRIDE_FILE);
      fs.rmSync(overrideFile, { force: true });
      if (missing.length > 0) {
        const reads = missing.map((read) => {
          const placeholderStateFile = path.join(placeholders, `${read.upstream}.tfstate`);
          fs.writeFileSync(placeholderStateFile, JSON.stringify(placeholderState(read.upstream, configOf(read.upstream))));
          return { dataSource: read.dataSource, placeholderStateFile };
        });
        fs.writeFileSync(overrideFile, JSON.stringify(remoteStateOverride(reads), null, 2));
      }
      const note = firstDeployment || missing.length > 0 ? firstDeploymentNote(missing.map((read) => read.upstream)) : undefined;
      process.stderr.write(`[plan:report] ${stack}: init + plan${note ? ` (${note.split(':')[0]})` : ''}\n`);
      try {
        // -reconfigure: the backend is whatever this synthesis says (STATE_DIR may differ from the last run); no state is migrated.
        run(dir, ['init', '-input=false', '-no-color', '-reconfigure']);
        run(dir, ['plan', '-out=plan.tfplan', '-input=false', '-no-color', `-parallelism=${parallelism}`]);
        outcomes.push({ stack, plan: JSON.parse(run(dir, ['show', '-json', 'plan.tfplan'])), ...(note ? { note } : {}) });
        // A plan made against stand-in values must never be applied.
        if (missing.length > 0) fs.rmSync(path.join(dir, 'plan.tfplan'), { force: true });
      } catch (error) {
        if (!(error instanceof TerraformFailure)) throw error;
        const reason = explainTerraformFailure(error.output, { dockerHost: inputs.estate.dockerHost, keycloakUrl: inputs.estate.keycloak.providerUrl });
        process.stderr.write(`[plan:report] ${stack}: NOT PLANNED: ${reason}\n`);
        const outcome = { stack, reason, ...(firstDeployment ? { creates: declaredResources(config) } : {}) };
        outcomes.push(outcome);
        unplanned.push(outcome);
      } finally {
        fs.rmSync(overrideFile, { force: true });
      }
    }
  } finally {
    fs.rmSync(placeholders, { recursive: true, force: true });
  }

  const report = analysePlans(outcomes);
  const suppressions = policy.applied.map(({ rule, path: p, reason }) => ({ rule, path: p, reason }));
  fs.writeFileSync(path.join(process.cwd(), 'plan-report.md'), renderReportMarkdown(report, suppressions));
  fs.writeFileSync(path.join(process.cwd(), 'plan-report.json'), renderReportJson(report, suppressions));
  const code = exitCodeOf(report);
  const outcome = { 0: 'no changes', 1: `INCOMPLETE, not planned: ${unplanned.map((u) => u.stack).join(', ')}`, 2: 'changes', 3: 'changes with flagged risks' }[code];
  process.stderr.write(`[plan:report] wrote plan-report.md and plan-report.json: ${outcome} (exit ${code})\n`);
  return code;
}

try {
  process.exitCode = main();
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : `plan:report: ${(error as Error).message}`}\n`);
  process.exitCode = 1;
}
