import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT } from '../helpers/run';

// scripts/ts-run.js: what cdktf.json's app runs main.ts with. It keeps transpiled files, so
// the property that matters is that it never runs one that is not made from the source as it is now.
describe('scripts/ts-run.js', () => {
  // Inside the repo (under the ignored .work/), where the in-tree .js rule applies; its own cache.
  const dir = fs.mkdtempSync(path.join(ROOT, '.work', 'ts-run-test-'));
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-run-cache-'));
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(cache, { recursive: true, force: true });
  });
  const run = (entry: string, ...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'ts-run.js'), entry, ...args], { encoding: 'utf8', env: { ...process.env, TS_RUN_CACHE_DIR: cache } });

  it('runs TypeScript with its arguments, and runs an edited file as edited', () => {
    const entry = path.join(dir, 'entry.ts');
    const dep = path.join(dir, 'dep.ts');
    fs.writeFileSync(entry, "import { word } from './dep';\nconst n: number = 1;\nprocess.stdout.write(`${word} ${n} ${process.argv.slice(2).join(',')}`);\n");
    fs.writeFileSync(dep, "export const word: string = 'first';\n");
    expect(run(entry, 'a', 'b').stdout).toBe('first 1 a,b');
    expect(fs.readdirSync(cache).length).toBe(2);
    expect(run(entry).stdout).toBe('first 1 '); // from the cache
    fs.writeFileSync(dep, "export const word: string = 'second';\n");
    expect(run(entry).stdout).toBe('second 1 ');
  });

  it('never loads a compiled .js left next to a .ts of the repo', () => {
    const entry = path.join(dir, 'stale-entry.ts');
    fs.writeFileSync(entry, "import { word } from './stale';\nprocess.stdout.write(word);\n");
    fs.writeFileSync(path.join(dir, 'stale.ts'), "export const word = 'fresh';\n");
    fs.writeFileSync(path.join(dir, 'stale.js'), "exports.word = 'stale';\n");
    expect(run(entry).stdout).toBe('fresh');
  });

  it('fails like node does when the program throws', () => {
    const entry = path.join(dir, 'throws.ts');
    fs.writeFileSync(entry, "throw new Error('boom');\n");
    const result = run(entry);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('boom');
  });
});
