import * as path from 'path';
import { ASSETS } from '../helpers/inputs';
import { ROOT, runTs } from '../helpers/run';

describe('scripts/extensions-manifest.ts (the IDE image build reads its output)', () => {
  it('prints the e2e estate manifest and exits 0', () => {
    const result = runTs('scripts/extensions-manifest.ts', [path.join(ROOT, '__tests__/e2e/estate.local.yaml')]);
    expect(result.status).toBe(0);
    expect(result.stdout.split('\n').filter((line) => !line.startsWith('#'))).toEqual([
      expect.stringMatching(/^webide-standin\.ai-standin\t1\.0\.0\t[0-9a-f]{64}\twebide-standin\.ai-standin-1\.0\.0\.vsix$/),
      '',
    ]);
  });

  it('exits 1 on the sample estate, whose hashes are pending, naming file, line and field of each', () => {
    const file = path.join(ASSETS, 'estate.yaml');
    const result = runTs('scripts/extensions-manifest.ts', [file]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^${file}:\\d+:\\d+: extensions\\.continue\\.continue\\.sha256Pending: the IDE image installs only VSIX files pinned by sha256; fill in sha256 \\(pending: Sample estate: `)),
      expect.stringMatching(/extensions\.tabbyml\.vscode-tabby\.sha256Pending: the IDE image installs only VSIX files pinned by sha256/),
      '2 problem(s) found.',
    ]);
  });

  it('exits 2 without exactly one file', () => {
    expect(runTs('scripts/extensions-manifest.ts', []).status).toBe(2);
  });
});
