/**
 * npm run plan:report — plans every stack for real (terraform plan -out + show -json,
 * providers from the offline mirror) and writes plan-report.md and plan-report.json.
 * Exit code: 0 no changes, 2 changes, 3 changes with flagged risks, 1 error.
 *
 *   ESTATE_FILE, ROSTER_FILE, STATE_DIR   as for synth
 *   PLAN_STACKS=identity,workspaces       plan only these stacks (default: all, in deploy order)
 *   TF_VAR_*                              the stacks' secrets, as for deploy
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { App } from 'cdktf';
import { loadInputs } from '../config/load';
import { ConfigError } from '../config/source';
import { analysePlans, exitCodeOf } from '../report/analyse';
import { StackPlan } from '../report/plan';
import { renderReportJson, renderReportMarkdown } from '../report/render';
import { buildEstate, STACK_IDS } from '../stacks/estate';
import { readInputFile } from '../config/input-file';

const ROOT = path.join(__dirname, '..');

function terraform(dir: string, args: string[], env: NodeJS.ProcessEnv): string {
  const result = spawnSync(process.env.TERRAFORM_BINARY_NAME ?? 'terraform', args, { cwd: dir, env, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`terraform ${args[0]} failed in stack ${path.basename(dir)}:\n${result.stderr || result.stdout}`);
  return result.stdout;
}

function main(): number {
  const cliConfig = path.join(ROOT, 'providers', 'terraformrc');
  if (!fs.existsSync(cliConfig)) {
    process.stderr.write('plan:report: providers/terraformrc is missing; run `npm run providers` first (offline provider mirror)\n');
    return 1;
  }
  const stacks = (process.env.PLAN_STACKS ?? STACK_IDS.join(',')).split(',').map((s) => s.trim());
  const unknown = stacks.filter((s) => !(STACK_IDS as readonly string[]).includes(s));
  if (unknown.length > 0) {
    process.stderr.write(`plan:report: PLAN_STACKS names unknown stack(s) ${unknown.join(', ')}; known: ${STACK_IDS.join(', ')}\n`);
    return 1;
  }

  const inputs = loadInputs(
    readInputFile(process.env.ESTATE_FILE ?? path.relative(process.cwd(), path.join(ROOT, 'assets', 'estate.yaml'))),
    readInputFile(process.env.ROSTER_FILE ?? path.relative(process.cwd(), path.join(ROOT, 'assets', 'roster.yaml'))),
  );
  const outdir = path.join(ROOT, 'cdktf.out');
  const app = new App({ outdir });
  const { policy } = buildEstate(app, { ...inputs, stateDir: path.resolve(process.env.STATE_DIR ?? ROOT) });
  app.synth();

  const env = { ...process.env, TF_CLI_CONFIG_FILE: cliConfig, TF_PLUGIN_CACHE_DIR: path.join(ROOT, '.work', 'tf-plugin-cache'), TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' };
  fs.mkdirSync(env.TF_PLUGIN_CACHE_DIR, { recursive: true });
  const plans: StackPlan[] = [];
  for (const stack of stacks) {
    const dir = path.join(outdir, 'stacks', stack);
    process.stderr.write(`[plan:report] ${stack}: init + plan\n`);
    terraform(dir, ['init', '-input=false', '-no-color'], env);
    terraform(dir, ['plan', '-out=plan.tfplan', '-input=false', '-no-color'], env);
    plans.push({ stack, plan: JSON.parse(terraform(dir, ['show', '-json', 'plan.tfplan'], env)) });
  }

  const report = analysePlans(plans);
  const suppressions = policy.applied.map(({ rule, path: p, reason }) => ({ rule, path: p, reason }));
  fs.writeFileSync(path.join(process.cwd(), 'plan-report.md'), renderReportMarkdown(report, suppressions));
  fs.writeFileSync(path.join(process.cwd(), 'plan-report.json'), renderReportJson(report, suppressions));
  const code = exitCodeOf(report);
  process.stderr.write(`[plan:report] wrote plan-report.md and plan-report.json: ${['no changes', '', 'changes', 'changes with flagged risks'][code]} (exit ${code})\n`);
  return code;
}

try {
  process.exitCode = main();
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : `plan:report: ${(error as Error).message}`}\n`);
  process.exitCode = 1;
}
