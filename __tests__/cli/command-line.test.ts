import { readCommandLine } from '../../scripts/lib/command-line';

describe('readCommandLine (scripts/lib/command-line.ts): util.parseArgs, every problem at once', () => {
  const spec = { valued: ['estate', 'timeout'], flags: ['yes'] };

  it('reads valued options (both spellings), flags and, where the script takes them, arguments', () => {
    expect(readCommandLine(['--estate', 'e.yaml', '--timeout=60', '--yes'], spec)).toEqual({ values: { estate: 'e.yaml', timeout: '60' }, flags: new Set(['yes']), positionals: [], errors: [] });
    expect(readCommandLine(['alice', '--yes', 'ide-2', '--', '--not-an-option'], { ...spec, positionals: true })).toEqual({
      values: {},
      flags: new Set(['yes']),
      positionals: ['alice', 'ide-2', '--not-an-option'],
      errors: [],
    });
    // A value may start with dashes when it is written inline.
    expect(readCommandLine(['--estate=--odd.yaml'], spec).values).toEqual({ estate: '--odd.yaml' });
  });

  it('reports every problem in the order given, reading on after a valued option that met another option', () => {
    expect(readCommandLine(['extra', '--estate', '--yes', '--timeout', '--force', '--yes=1', '--timeout='], spec)).toEqual({
      values: {},
      flags: new Set(['yes']),
      positionals: [],
      errors: ['unexpected argument extra', '--estate needs a value', '--timeout needs a value', 'unknown option --force', '--yes takes no value', '--timeout needs a value'],
    });
    expect(readCommandLine(['--estate'], spec).errors).toEqual(['--estate needs a value']);
  });
});
