import * as path from 'path';
import { App } from 'cdktf';
import { ConfigError } from './config/source';
import { loadInputs } from './config/load';
import { buildEstate } from './stacks/estate';
import { tuneCdktfSynthesis } from './stacks/cdktf-tuning';
import { readInputFile } from './scripts/input-file';

/**
 * The only place that touches the file system and the environment: it reads the
 * estate config and the roster, validates both, and hands typed objects to the stacks.
 *
 *   ESTATE_FILE  estate config        (default assets/estate.yaml)
 *   ROSTER_FILE  roster               (default assets/roster.yaml)
 *   STATE_DIR    Terraform state dir  (default: this directory)
 *   TOKEN_TRACES 1: record where each cdktf token is created, for a resolution error's
 *                "Object creation stack" (default off: it costs a large synth a third of its CPU)
 */
function main(): void {
  const estateFile = process.env.ESTATE_FILE ?? path.relative(process.cwd(), path.join(__dirname, 'assets', 'estate.yaml'));
  const rosterFile = process.env.ROSTER_FILE ?? path.relative(process.cwd(), path.join(__dirname, 'assets', 'roster.yaml'));
  const stateDir = path.resolve(process.env.STATE_DIR ?? __dirname);

  let inputs;
  try {
    inputs = loadInputs(readInputFile(estateFile), readInputFile(rosterFile));
  } catch (error) {
    if (error instanceof ConfigError) {
      // One line per problem, no stack trace, nothing synthesized.
      process.stderr.write(`${error.message}\n${error.issues.length} problem(s) found; nothing was synthesized.\n`);
      process.exit(1);
    }
    throw error;
  }

  tuneCdktfSynthesis({ tokenTraces: process.env.TOKEN_TRACES === '1' });
  const app = new App();
  buildEstate(app, { ...inputs, stateDir });
  app.synth();
}

main();
