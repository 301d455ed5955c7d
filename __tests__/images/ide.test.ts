import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readInputFile } from '../../config/input-file';
import { loadPinnedExtensions } from '../../config/load';
import { renderExtensionManifest } from '../../render/code-server';
import { ROOT } from '../helpers/run';

/**
 * The pieces of the IDE image (images/ide) that run without Docker: the stand-in VSIX builder
 * and the script that checks and installs the VSIX files (with a fake code-server). The real
 * builds are scripts/docker/check-ide-extensions.sh.
 */
const BUILDER = path.join(ROOT, 'images/ide/standin-vsix.py');
const INSTALLER = path.join(ROOT, 'images/ide/install-extensions.sh');
const E2E_ESTATE = path.join(ROOT, '__tests__/e2e/estate.local.yaml');
const STANDIN = 'webide-standin.ai-standin-1.0.0.vsix';

const made: string[] = [];
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ide-ext-'));
  made.push(dir);
  return dir;
};
afterAll(() => made.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const run = (command: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
};
const buildStandins = (dir: string, ...specs: string[]) => run('python3', [BUILDER, dir, ...specs]);

/** A VSIX dir holding the e2e estate's stand-in and a manifest rendered from that estate. */
function e2eFixture() {
  const dir = tempDir();
  const vsix = path.join(dir, 'vsix');
  expect(buildStandins(vsix).status).toBe(0);
  const manifest = path.join(dir, 'extensions.manifest');
  fs.writeFileSync(manifest, renderExtensionManifest(loadPinnedExtensions(readInputFile(E2E_ESTATE))));
  return { dir, vsix, manifest };
}

describe('stand-in VSIX (images/ide/standin-vsix.py)', () => {
  it('is byte-reproducible, and its sha256 is the one the e2e estate pins', () => {
    const [a, b] = [tempDir(), tempDir()];
    const first = buildStandins(a);
    expect(first.status).toBe(0);
    expect(buildStandins(b).out).toBe(first.out);
    expect(sha256(path.join(a, STANDIN))).toBe(sha256(path.join(b, STANDIN)));
    expect(first.out).toBe(`${sha256(path.join(a, STANDIN))}  ${STANDIN}\n`);
    const pinned = loadPinnedExtensions(readInputFile(E2E_ESTATE));
    expect(pinned).toEqual([{ id: 'webide-standin.ai-standin', version: '1.0.0', vsix: STANDIN, sha256: sha256(path.join(a, STANDIN)) }]);
  });

  it('is a VSIX with the manifest and package.json code-server reads, saying it is a stand-in', () => {
    const dir = tempDir();
    buildStandins(dir, 'webide-standin.other@2.0.1');
    const listing = run('python3', ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.namelist()); print(z.read("extension/package.json").decode())', path.join(dir, 'webide-standin.other-2.0.1.vsix')]);
    expect(listing.status).toBe(0);
    const [names, ...json] = listing.out.split('\n');
    expect(names).toBe("['[Content_Types].xml', 'extension.vsixmanifest', 'extension/package.json', 'extension/extension.js']");
    expect(JSON.parse(json.join('\n'))).toMatchObject({ publisher: 'webide-standin', name: 'other', version: '2.0.1', displayName: expect.stringMatching(/^STAND-IN /) });
  });

  it('refuses to build a stand-in under a real publisher', () => {
    const result = buildStandins(tempDir(), 'continue.continue@1.2.10');
    expect(result.status).not.toBe(0);
    expect(result.out).toMatch(/a stand-in's publisher must be webide-standin/);
  });
});

describe('install-extensions.sh verify: the files against the manifest', () => {
  it('passes when every listed file is there with its sha256', () => {
    const { vsix, manifest } = e2eFixture();
    expect(run('bash', [INSTALLER, 'verify', manifest, vsix])).toEqual({ status: 0, out: '[extensions] verified: 1 VSIX file(s) match the manifest\'s sha256\n' });
  });

  it('refuses a wrong sha256, naming the file, both hashes and installing nothing', () => {
    const { vsix, manifest } = e2eFixture();
    const good = sha256(path.join(vsix, STANDIN));
    const bad = `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`;
    fs.writeFileSync(manifest, fs.readFileSync(manifest, 'utf8').replace(good, bad));
    const result = run('bash', [INSTALLER, 'verify', manifest, vsix]);
    expect(result.status).toBe(1);
    expect(result.out).toBe(
      `[extensions] FAIL: ${STANDIN} (webide-standin.ai-standin@1.0.0): sha256 mismatch: the file has ${good}, the estate config says ${bad}\n` +
        '[extensions] refused: 1 problem(s); nothing installed\n',
    );
  });

  it('refuses a missing file, an extra file and a malformed line, all at once', () => {
    const { vsix, manifest } = e2eFixture();
    fs.renameSync(path.join(vsix, STANDIN), path.join(vsix, 'unlisted.vsix'));
    fs.appendFileSync(manifest, 'not a manifest line\n');
    const result = run('bash', [INSTALLER, 'verify', manifest, vsix]);
    expect(result.status).toBe(1);
    expect(result.out.split('\n').filter(Boolean)).toEqual([
      `[extensions] FAIL: ${STANDIN} (webide-standin.ai-standin@1.0.0): missing from ${vsix}`,
      `[extensions] FAIL: ${manifest}:3: not '<id> TAB <version> TAB <sha256> TAB <file.vsix>': not a manifest line`,
      `[extensions] FAIL: unlisted.vsix: in ${vsix} but not in the manifest (the image installs only what the estate config lists)`,
      '[extensions] refused: 3 problem(s); nothing installed',
    ]);
  });
});

describe('install-extensions.sh install (a fake code-server)', () => {
  /** A code-server that logs its arguments and lists what LISTED says is installed. */
  function fakeCodeServer(dir: string, listed: string): string {
    const fake = path.join(dir, 'code-server');
    fs.writeFileSync(fake, `#!/bin/sh\necho "$*" >>"${dir}/calls"\ncase "$*" in *--list-extensions*) echo 'info  a log line'; printf '${listed}' ;; esac\n`, { mode: 0o755 });
    return fake;
  }
  const owner = `${process.getuid?.()}:${process.getgid?.()}`;

  it('installs each file into the extensions dir, then passes when code-server lists exactly the manifest', () => {
    const { dir, vsix, manifest } = e2eFixture();
    const extensions = path.join(dir, 'extensions');
    const result = run('bash', [INSTALLER, 'install', manifest, vsix, extensions], { CODE_SERVER: fakeCodeServer(dir, 'Webide-Standin.ai-standin@1.0.0\\n'), EXTENSIONS_OWNER: owner });
    expect(result.out).toMatch(/installed exactly: webide-standin\.ai-standin@1\.0\.0/);
    expect(result.status).toBe(0);
    const calls = fs.readFileSync(path.join(dir, 'calls'), 'utf8').split('\n');
    expect(calls[0]).toMatch(new RegExp(`^--extensions-dir ${extensions} --user-data-dir \\S+ --install-extension ${vsix}/${STANDIN}$`));
    expect((fs.statSync(extensions).mode & 0o777).toString(8)).toBe('755');
  });

  it('fails when the installed set is not the manifest (a VSIX that holds another extension, or one more)', () => {
    const { dir, vsix, manifest } = e2eFixture();
    const result = run('bash', [INSTALLER, 'install', manifest, vsix, path.join(dir, 'extensions')], {
      CODE_SERVER: fakeCodeServer(dir, 'webide-standin.ai-standin@1.0.1\\nsomeone.else@1.0.0\\n'),
      EXTENSIONS_OWNER: owner,
    });
    expect(result.status).toBe(1);
    expect(result.out).toContain('[extensions] FAIL: installed extensions differ from the manifest');
    expect(result.out).toContain('expected, not installed: webide-standin.ai-standin@1.0.0');
    expect(result.out).toContain('installed, not expected: someone.else@1.0.0');
  });
});
