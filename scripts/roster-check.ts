/**
 * npm run roster:check -- <roster.yaml> [--estate <estate.yaml>]
 * Validates a roster (against the estate's caps) without synthesizing. Exit 0 valid, 1 invalid, 2 usage.
 * --help prints the usage and exits 0.
 */
import * as path from 'path';
import { loadInputs } from '../config/load';
import { ConfigError } from '../config/source';
import { readInputFile } from '../config/input-file';
import { readCommandLine } from './lib/command-line';

const USAGE = 'usage: npm run roster:check -- <roster.yaml> [--estate <estate.yaml>]';
const HELP = `${USAGE}

Checks a roster without synthesizing anything: every problem is printed as
file:line:col: field: message, all at once. Exit 0 valid, 1 invalid, 2 bad arguments.

  <roster.yaml>            the roster to check (the estate's is assets/roster.yaml)
  --estate <estate.yaml>   the estate config whose caps apply (default: assets/estate.yaml)
  -h, --help               this text
`;

/** The command line; every problem at once. */
function parseRosterCheckArgs(argv: string[]): { roster: string; estate: string } | { help: true } | { errors: string[] } {
  const line = readCommandLine(argv, { valued: ['estate'], flags: ['help'], short: { h: 'help' }, positionals: true });
  if (line.flags.has('help')) return { help: true };
  const errors = [...line.errors];
  const [roster, ...extra] = line.positionals;
  if (roster === undefined) errors.push('a roster file is required');
  if (extra.length > 0) errors.push(`unexpected argument ${extra[0]}`);
  if (errors.length > 0 || roster === undefined) return { errors };
  return { roster, estate: line.values.estate ?? path.join(__dirname, '..', 'assets', 'estate.yaml') };
}

function main(): number {
  const args = parseRosterCheckArgs(process.argv.slice(2));
  if ('errors' in args) {
    for (const error of args.errors) process.stderr.write(`roster:check: ${error}\n`);
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if ('help' in args) {
    process.stdout.write(HELP);
    return 0;
  }
  try {
    const { roster } = loadInputs(readInputFile(path.relative(process.cwd(), args.estate) || args.estate), readInputFile(args.roster));
    const counts = ['active', 'suspended', 'archived'].map((state) => `${roster.users.filter((u) => u.state === state).length} ${state}`);
    process.stdout.write(`${args.roster}: OK — ${roster.users.length} users (${counts.join(', ')}), ${roster.groups.length} groups\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n${error.issues.length} problem(s) found.\n`);
    return 1;
  }
}

process.exitCode = main();
