import { parseArgs } from 'util';

/** What a script's command line gave, read by readCommandLine. */
export interface CommandLine {
  /** Options that take a value, by name without the dashes (`--estate e.yaml` or `--estate=e.yaml`); the last one given wins. */
  readonly values: Readonly<Record<string, string>>;
  /** Options without a value that were given (`--yes`). */
  readonly flags: ReadonlySet<string>;
  /** The other arguments in order; empty when the spec takes none (they are errors then). */
  readonly positionals: readonly string[];
  /** Every problem, in the order given: unknown options, options without their value, arguments the script does not take. */
  readonly errors: readonly string[];
}

export interface CommandLineSpec {
  /** Names of the options that take a value. */
  readonly valued: readonly string[];
  /** Names of the options that take none. */
  readonly flags?: readonly string[];
  /** Whether the script takes arguments besides its options. */
  readonly positionals?: boolean;
  /** One-letter spellings of options (`{ h: 'help' }`: `-h` is `--help`). */
  readonly short?: Readonly<Record<string, string>>;
}

/**
 * Reads a script's arguments with node's util.parseArgs, collecting every problem instead of
 * stopping at the first, so a CLI can report them all at once (as DEVELOPERS.md asks). A valued
 * option followed by another option (`--from --yes`) has no value: util.parseArgs would take
 * `--yes` as it, so that is reported and the rest is read from `--yes` on.
 */
export function readCommandLine(argv: readonly string[], spec: CommandLineSpec): CommandLine {
  const flagNames = spec.flags ?? [];
  const { tokens } = parseArgs({
    args: [...argv],
    strict: false,
    allowPositionals: true,
    tokens: true,
    options: {
      ...Object.fromEntries(spec.valued.map((name) => [name, { type: 'string' as const, ...shortOf(spec, name) }])),
      ...Object.fromEntries(flagNames.map((name) => [name, { type: 'boolean' as const, ...shortOf(spec, name) }])),
    },
  });
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  const positionals: string[] = [];
  const errors: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      if (spec.positionals) positionals.push(token.value);
      else errors.push(`unexpected argument ${token.value}`);
      continue;
    }
    if (flagNames.includes(token.name)) {
      if (token.value === undefined) flags.add(token.name);
      else errors.push(`${token.rawName} takes no value`);
    } else if (!spec.valued.includes(token.name)) {
      errors.push(`unknown option ${token.rawName}`);
    } else if (token.value === undefined || token.value === '') {
      errors.push(`${token.rawName} needs a value`);
    } else if (!token.inlineValue && token.value.startsWith('--')) {
      errors.push(`${token.rawName} needs a value`);
      const rest = readCommandLine(argv.slice(token.index + 1), spec);
      Object.assign(values, rest.values);
      for (const flag of rest.flags) flags.add(flag);
      positionals.push(...rest.positionals);
      errors.push(...rest.errors);
      break;
    } else {
      values[token.name] = token.value;
    }
  }
  return { values, flags, positionals, errors };
}

/** The `short` property util.parseArgs takes for option `name`, where the spec gives it one. */
function shortOf(spec: CommandLineSpec, name: string): { short?: string } {
  const letter = Object.entries(spec.short ?? {}).find(([, long]) => long === name)?.[0];
  return letter === undefined ? {} : { short: letter };
}
