import * as fs from 'fs';
import * as path from 'path';
import { App } from 'cdktf';
import { ConfigError } from './config/source';
import { loadInputs } from './config/load';
import { buildEstate } from './stacks/estate';

/**
 * The only place that touches the file system and the environment: it reads the
 * estate config and the roster, validates both, and hands typed objects to the stacks.
 *
 *   ESTATE_FILE  estate config        (default assets/estate.yaml)
 *   ROSTER_FILE  roster               (default assets/roster.yaml)
 *   STATE_DIR    Terraform state dir  (default: this directory)
 */
function main(): void {
  const estateFile = process.env.ESTATE_FILE ?? path.join(__dirname, 'assets', 'estate.yaml');
  const rosterFile = process.env.ROSTER_FILE ?? path.join(__dirname, 'assets', 'roster.yaml');
  const stateDir = path.resolve(process.env.STATE_DIR ?? __dirname);

  let inputs;
  try {
    inputs = loadInputs(readInput(estateFile), readInput(rosterFile));
  } catch (error) {
    if (error instanceof ConfigError) {
      // One line per problem, no stack trace, nothing synthesized.
      process.stderr.write(`${error.message}\n${error.issues.length} problem(s) found; nothing was synthesized.\n`);
      process.exit(1);
    }
    throw error;
  }

  const app = new App();
  buildEstate(app, { ...inputs, stateDir });
  app.synth();
}

function readInput(file: string): { file: string; text: string } {
  const shown = path.relative(process.cwd(), file) || file;
  try {
    return { file: shown, text: fs.readFileSync(file, 'utf8') };
  } catch (error) {
    throw new ConfigError([{ file: shown, line: 1, col: 1, path: '', message: `cannot read file: ${(error as Error).message}` }]);
  }
}

main();
