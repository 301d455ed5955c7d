import * as path from 'path';
import { App, DISABLE_STACK_TRACE_IN_METADATA } from 'cdktf';
import { readInputFile } from './config/input-file';
import { loadInputs } from './config/load';
import { ConfigError } from './config/source';
import { removeSynthOutput, stateDirForStacks, synthOutdir } from './config/synth-output';
import { formatFinding } from './policy/pack';
import { buildTargetEstate } from './stacks/estate';
import { tuneCdktfSynthesis, withEachResourceResolvedOnce } from './stacks/cdktf-tuning';

/**
 * The only place that touches the file system and the environment: it reads the
 * estate config and the roster, validates both, and hands typed objects to the stacks.
 * Nothing is written unless the inputs are valid and the policy holds; a failed run
 * removes the previous synthesis so it cannot be mistaken for this one.
 *
 *   ESTATE_FILE  estate config        (default assets/estate.yaml)
 *   ROSTER_FILE  roster               (default assets/roster.yaml)
 *   STATE_DIR    Terraform state dir  (default: this directory; relative paths are written relative to each stack's directory)
 *   TOKEN_TRACES 1: record where each cdktf token is created, for a resolution error's
 *                "Object creation stack" (default off: it costs a large synth a third of its CPU)
 */
function main(): void {
  const estateFile = process.env.ESTATE_FILE ?? path.relative(process.cwd(), path.join(__dirname, 'assets', 'estate.yaml'));
  const rosterFile = process.env.ROSTER_FILE ?? path.relative(process.cwd(), path.join(__dirname, 'assets', 'roster.yaml'));
  const outdir = synthOutdir(process.env);
  const fail = (lines: string[]) => {
    removeSynthOutput(outdir);
    process.stderr.write(`${lines.join('\n')}\n`);
    process.exit(1);
  };

  let inputs;
  try {
    inputs = loadInputs(readInputFile(estateFile), readInputFile(rosterFile));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // One line per problem, no stack trace, nothing synthesized.
    return fail([error.message, `${error.issues.length} problem(s) found; nothing was synthesized.`]);
  }

  tuneCdktfSynthesis({ tokenTraces: process.env.TOKEN_TRACES === '1' });
  // No stack traces in manifest.json: they name this checkout's absolute paths.
  const app = new App({ outdir, context: { [DISABLE_STACK_TRACE_IN_METADATA]: true } });
  const { policy } = buildTargetEstate(app, { ...inputs, stateDir: stateDirForStacks(process.env.STATE_DIR || undefined, __dirname, outdir) });
  let findings;
  try {
    // Files are written only when the policy holds.
    findings = withEachResourceResolvedOnce(app, () => {
      const found = policy.check(app);
      if (found.length === 0) app.synth();
      return found;
    });
  } catch (error) {
    removeSynthOutput(outdir);
    throw error;
  }
  if (findings.length > 0) {
    return fail([
      ...findings.map(formatFinding),
      `${findings.length} policy violation(s); nothing was synthesized. Fix them, or waive a rule for a resource under "suppressions" in ${estateFile} with a reason.`,
    ]);
  }
}

main();
