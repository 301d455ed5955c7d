import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { sweepStack } from '../../scripts/orphans';
import { mustRun, run } from '../helpers/run';
import { terraform, terraformEnv } from './terraform';

jest.setTimeout(300_000);

/**
 * The orphan sweep `npm run deploy` runs before each stack, against the real Docker engine and
 * real terraform: objects with a stack's names and labels that the state does not hold (what an
 * interrupted apply leaves) make the apply fail on their names; after the sweep it succeeds.
 * A same-named object without the stack's labels is refused and kept.
 */
describe('orphans of an interrupted apply (scripts/orphans.ts) on a real engine', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'live-orphans-'));
  const stackDir = path.join(work, 'orphans');
  const suffix = String(process.pid);
  const image = `webide-test/empty:${suffix}`;
  const container = `webide-orphan-test-c-${suffix}`;
  const network = `webide-orphan-test-n-${suffix}`;
  const labels = [{ label: 'webide.estate', value: 'orphan-test' }];
  const env = terraformEnv();

  beforeAll(() => {
    // An image with no files: the container is created, never started.
    mustRun('bash', ['-c', `tar cf - --files-from /dev/null | docker import - ${image}`]);
    fs.mkdirSync(stackDir);
    const stack = {
      terraform: { required_providers: { docker: { source: 'kreuzwerker/docker', version: '4.5.0' } }, backend: { local: { path: path.join(work, 'terraform.orphans.tfstate') } } },
      provider: { docker: [{ host: 'unix:///var/run/docker.sock' }] },
      resource: {
        docker_network: { net: { name: network, internal: true, labels } },
        docker_container: { box: { name: container, image, start: false, must_run: false, command: ['none'], networks_advanced: [{ name: '${docker_network.net.name}' }], labels } },
      },
    };
    fs.writeFileSync(path.join(stackDir, 'cdk.tf.json'), JSON.stringify(stack, null, 2));
    const init = terraform(stackDir, ['init', '-input=false'], env);
    if (init.status !== 0) throw new Error(init.output);
  });

  afterAll(() => {
    terraform(stackDir, ['destroy', '-auto-approve', '-input=false'], env);
    run('docker', ['rm', '-f', container]);
    run('docker', ['network', 'rm', network]);
    run('docker', ['image', 'rm', image]);
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('a same-named object without the labels is refused and kept', () => {
    mustRun('docker', ['network', 'create', '--internal', network]);
    try {
      const sweep = sweepStack(stackDir, false);
      expect(sweep.refused).toBe(true);
      expect(sweep.lines.join('\n')).toMatch(new RegExp(`refused: network ${network} .*lacks the labels docker_network.net gives \\(webide.estate\\)`));
      expect(run('docker', ['network', 'inspect', network]).status).toBe(0);
    } finally {
      mustRun('docker', ['network', 'rm', network]);
    }
  });

  test('objects an interrupted apply left make the apply fail; after the sweep it converges', () => {
    // As a cancelled create leaves them: in Docker with the declared names and labels, not in the state.
    mustRun('docker', ['network', 'create', '--internal', '--label', 'webide.estate=orphan-test', network]);
    mustRun('docker', ['create', '--name', container, '--label', 'webide.estate=orphan-test', image, 'none']);
    const blocked = terraform(stackDir, ['apply', '-auto-approve', '-input=false', '-no-color'], env);
    expect(blocked.status).not.toBe(0);
    expect(blocked.output).toMatch(/already exists|already in use/);

    const sweep = sweepStack(stackDir, false);
    expect(sweep.refused).toBe(false);
    expect(sweep.lines).toEqual([
      expect.stringMatching(new RegExp(`removed container ${container} \\(.*\\), left by an interrupted apply of docker_container.box`)),
      expect.stringMatching(new RegExp(`removed network ${network} \\(.*\\), left by an interrupted apply of docker_network.net`)),
    ]);
    const applied = terraform(stackDir, ['apply', '-auto-approve', '-input=false', '-no-color'], env);
    expect(applied.status).toBe(0);
    // Now recorded: the next sweep leaves them alone.
    expect(sweepStack(stackDir, false)).toEqual({ lines: [], refused: false });
    expect(mustRun('docker', ['inspect', '-f', '{{index .Config.Labels "webide.estate"}}', container]).trim()).toBe('orphan-test');
  });
});
