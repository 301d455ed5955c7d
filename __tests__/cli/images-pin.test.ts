import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseImagePinArgs } from '../../scripts/images-pin';
import { assetText } from '../helpers/inputs';
import { runTs } from '../helpers/run';
import { deployableSwarmEstateText } from '../helpers/swarm';

const DIGEST = `sha256:${'c'.repeat(64)}`;

describe('npm run images:pin: arguments', () => {
  it('takes the defaults from the environment, then the flags', () => {
    expect(parseImagePinArgs([], { ESTATE_FILE: 'e.yaml', DOCKER_HOST: 'unix:///run/x.sock' })).toEqual({
      args: { estateFile: 'e.yaml', only: undefined, caFile: undefined, engine: 'unix:///run/x.sock', dryRun: false },
    });
    expect(parseImagePinArgs(['--estate', 'a.yaml', '--only', 'nginx, tabby,nginx', '--ca-file=ca.pem', '--engine', 'tcp://127.0.0.1:2375', '--dry-run'], {})).toEqual({
      args: { estateFile: 'a.yaml', only: ['nginx', 'tabby'], caFile: 'ca.pem', engine: 'tcp://127.0.0.1:2375', dryRun: true },
    });
    expect(parseImagePinArgs([], {})).toMatchObject({ args: { estateFile: 'assets/estate.yaml', engine: 'unix:///var/run/docker.sock' } });
  });

  it('reports every problem at once', () => {
    expect(parseImagePinArgs(['extra', '--estate', '--force', '--only', 'nginx,gpu', '--ca-file='], {})).toEqual({
      errors: [
        'unexpected argument extra',
        '--estate needs a value',
        'unknown option --force',
        '--ca-file needs a value',
        expect.stringMatching(/^--only "gpu": not an image of the estate \(nginx, keycloak, .*codeServer/),
      ],
    });
  });
});

describe('npm run images:pin: what it refuses, before pushing anything', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'images-pin-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Writes the estate file, runs the command on it, and checks the file was left as it was. */
  function pin(text: string, args: string[]) {
    const file = path.join(dir, 'estate.yaml');
    fs.writeFileSync(file, text);
    const result = runTs('scripts/images-pin.ts', ['--estate', file, ...args], { DOCKER_HOST: 'unix:///nonexistent.sock' });
    expect(fs.readFileSync(file, 'utf8')).toBe(text);
    expect(fs.readdirSync(dir)).toEqual(['estate.yaml']);
    return { ...result, file };
  }
  const withoutImage = (text: string, key: string) => text.replace(new RegExp(`^ {2}${key}: .*\\n`, 'm'), '');
  const lineOf = (text: string, start: string) => text.split('\n').findIndex((line) => line.startsWith(start)) + 1;

  it('refuses a one-host estate at its target line', () => {
    const text = assetText('estate.yaml');
    const result = pin(text, []);
    expect(result.status).toBe(1);
    // The sample sets no target: the issue points at the file's first key.
    expect(result.stderr).toContain(`${result.file}:${lineOf(text, 'name:')}:1: target: images:pin pushes to the swarm's registry (swarm.registry), and the target is docker (the default: the file sets no target)`);
    expect(result.stderr).toContain(`1 problem(s) found; ${result.file} is unchanged.`);
  });

  it("reports a missing registry CA, an image it cannot read from an engine and an unset --only key together", () => {
    const text = withoutImage(deployableSwarmEstateText(), 'egressProxy').replace(/^( {2}keycloak: )\S+$/m, `$1registry.corp.example/webide/keycloak@${DIGEST}`);
    const result = pin(text, ['--only', 'keycloak,egressProxy']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${result.file}:${lineOf(text, '    caFile:')}:5: swarm.registry.caFile: /etc/webide/registry-ca.pem: no such file here`);
    expect(result.stderr).toContain(`${result.file}:${lineOf(text, 'images:')}:1: images: images.egressProxy is not set, so there is nothing to pin (--only)`);
    expect(result.stderr).toContain(`${result.file}:${lineOf(text, '  keycloak:')}:3: images.keycloak: pinned by digest outside the estate's registry`);
    expect(result.stderr).toContain('3 problem(s) found;');
    expect(result.stdout).not.toContain('pushing');
  });

  it('with --dry-run says what it would push and writes nothing', () => {
    const ca = path.join(dir, '..', `${path.basename(dir)}-ca.pem`);
    fs.writeFileSync(ca, 'not read by a dry run\n');
    try {
      const result = pin(deployableSwarmEstateText().replace(/^( {2}nginx: )\S+$/m, `$1mirror.bank.internal:5000/webide/nginx:1@${DIGEST}`), ['--dry-run', '--ca-file', ca, '--only', 'nginx,tabby']);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(result.stdout.split('\n')).toEqual([
        `images.nginx: check that the registry holds mirror.bank.internal:5000/webide/nginx@${DIGEST}`,
        'images.tabby: push registry.corp.example/webide/tabby:0.32.0 (engine unix:///nonexistent.sock) to mirror.bank.internal:5000/webide/tabby:0.32.0, then pin its digest',
        `dry run: nothing pushed, ${result.file} is unchanged.`,
        '',
      ]);
    } finally {
      fs.rmSync(ca, { force: true });
    }
  });
});
