/**
 * npm run roster:check -- <roster.yaml> [--estate <estate.yaml>]
 * Validates a roster (against the estate's caps) without synthesizing. Exit 0 valid, 1 invalid, 2 usage.
 * --help prints the usage and exits 0.
 */
import * as path from 'path';
import { loadInputs } from '../config/load';
import { ConfigError } from '../config/source';
import { readInputFile } from '../config/input-file';

const USAGE = 'usage: npm run roster:check -- <roster.yaml> [--estate <estate.yaml>]';
const HELP = `${USAGE}

Checks a roster without synthesizing anything: every problem is printed as
file:line:col: field: message, all at once. Exit 0 valid, 1 invalid, 2 bad arguments.

  <roster.yaml>            the roster to check (the estate's is assets/roster.yaml)
  --estate <estate.yaml>   the estate config whose caps apply (default: assets/estate.yaml)
  -h, --help               this text
`;

function parseArgs(argv: string[]): { roster: string; estate: string } | { help: true } | string {
  let roster: string | undefined;
  let estate = path.join(__dirname, '..', 'assets', 'estate.yaml');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      return { help: true };
    } else if (arg === '--estate') {
      const value = argv[++i];
      if (!value) return '--estate needs a file';
      estate = value;
    } else if (arg.startsWith('-')) {
      return `unknown option ${arg}`;
    } else if (roster === undefined) {
      roster = arg;
    } else {
      return `unexpected argument ${arg}`;
    }
  }
  return roster ? { roster, estate } : 'a roster file is required';
}

function main(): number {
  const args = parseArgs(process.argv.slice(2));
  if (typeof args === 'string') {
    process.stderr.write(`roster:check: ${args}\n${USAGE}\n`);
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
