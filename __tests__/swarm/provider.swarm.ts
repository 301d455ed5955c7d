/**
 * The docker provider (v4.5.0, from the offline mirror) driving the real swarm of
 * scripts/swarm/lab.sh through its manager: what the estate's Swarm constructs will be made of,
 * applied by real terraform, then a refreshing plan that must find nothing to change.
 * An IDE-like service on its own internal overlay, hardened as on one host where a service can
 * say it (read-only root, non-root, every capability dropped, memory and CPU limits), its secret
 * as a Swarm secret (a file, not an environment variable), a rendered file as a Swarm config, dnsrr,
 * placed by node label; and a model-server-like service reserving one GPU (a generic resource).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { terraform, terraformEnv } from '../live/terraform';
import { run } from '../helpers/run';
import { engine, on, pushToLab, waitRunning } from './lab';

jest.setTimeout(300_000);

describe('docker provider 4.5.0 on the real swarm: services, overlays, secrets, configs', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-provider-'));
  const stackDir = path.join(work, 'swarm-services');
  const env = terraformEnv();
  // A test value, not a credential: it shows where a secret ends up, and that it is not in the environment.
  const secretValue = `lab-secret-${process.pid}`;
  let image = '';

  beforeAll(() => {
    [image] = pushToLab('webide-local/base:bookworm');
    const listener = 'use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => 8080, Listen => 8, ReuseAddr => 1) or die $!; while (my $c = $s->accept) { print $c "hello\\n"; close $c }';
    const stack = {
      terraform: { required_providers: { docker: { source: 'kreuzwerker/docker', version: '4.5.0' } }, backend: { local: { path: path.join(work, 'terraform.tfstate') } } },
      provider: { docker: [{ host: engine('swarm-m1') }] },
      resource: {
        docker_network: { ide_net: { name: 'tf-ws-alice', driver: 'overlay', internal: true, labels: [{ label: 'webide.user', value: 'alice' }] } },
        docker_secret: { token: { name: 'tf-alice-token', data: Buffer.from(secretValue).toString('base64') } },
        docker_config: { settings: { name: 'tf-alice-settings', data_raw: '{ "editor.fontSize": 14 }\n' } },
        docker_service: {
          ide: {
            name: 'tf-ide-alice',
            labels: [{ label: 'webide.user', value: 'alice' }],
            endpoint_spec: [{ mode: 'dnsrr' }],
            mode: [{ replicated: [{ replicas: 1 }] }],
            task_spec: [
              {
                container_spec: [
                  {
                    image,
                    command: ['perl', '-e', listener],
                    user: '65534:65534',
                    read_only: true,
                    cap_drop: ['ALL'],
                    init: true,
                    secrets: [{ secret_id: '${docker_secret.token.id}', secret_name: '${docker_secret.token.name}', file_name: '/run/secrets/token', file_uid: '65534', file_gid: '65534', file_mode: 256 }],
                    configs: [{ config_id: '${docker_config.settings.id}', config_name: '${docker_config.settings.name}', file_name: '/etc/webide/settings.json', file_uid: '0', file_gid: '0', file_mode: 292 }],
                    mounts: [{ type: 'tmpfs', target: '/tmp', tmpfs_options: [{ size_bytes: 64 * 1024 * 1024, mode: 448 }] }],
                  },
                ],
                networks_advanced: [{ id: '${docker_network.ide_net.id}' }],
                // Written as the manager reads them back (the platform it resolved, the window's 0s): no drift.
                placement: [{ constraints: ['node.labels.webide.role==ide'], platforms: [{ architecture: 'amd64', os: 'linux' }] }],
                resources: [{ limits: [{ memory_bytes: 256 * 1024 * 1024, nano_cpus: 500_000_000 }] }],
                restart_policy: [{ condition: 'any', delay: '2s', window: '0s' }],
              },
            ],
          },
          model: {
            name: 'tf-vllm',
            endpoint_spec: [{ mode: 'dnsrr' }],
            mode: [{ replicated: [{ replicas: 1 }] }],
            task_spec: [
              {
                // Pinned to its GPU node and GPUs by name, not by a generic-resource reservation: Swarm
                // rejects a task that reserves one and joins an overlay (lab.swarm.ts shows it).
                container_spec: [{ image, command: ['sleep', '3600'], user: '65534:65534', read_only: true, cap_drop: ['ALL'], env: { NVIDIA_VISIBLE_DEVICES: 'GPU-1' } }],
                networks_advanced: [{ id: '${docker_network.ide_net.id}' }],
                placement: [{ constraints: ['node.hostname==swarm-w2'], platforms: [{ architecture: 'amd64', os: 'linux' }] }],
                restart_policy: [{ condition: 'any', delay: '2s', window: '0s' }],
              },
            ],
          },
        },
      },
    };
    fs.mkdirSync(stackDir);
    fs.writeFileSync(path.join(stackDir, 'cdk.tf.json'), JSON.stringify(stack, null, 2));
    const init = terraform(stackDir, ['init', '-input=false'], env);
    if (init.status !== 0) throw new Error(init.output);
  }, 120_000);

  afterAll(() => {
    const destroyed = terraform(stackDir, ['destroy', '-auto-approve', '-input=false', '-no-color'], env);
    if (destroyed.status !== 0) process.stdout.write(`[swarm] destroy failed:\n${destroyed.output.slice(-3000)}\n`);
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('apply converges: a refreshing plan right after it changes nothing', () => {
    const applied = terraform(stackDir, ['apply', '-auto-approve', '-input=false', '-no-color'], env);
    expect(applied.output).not.toMatch(/Error:/);
    expect(applied.status).toBe(0);
    const plan = terraform(stackDir, ['plan', '-detailed-exitcode', '-input=false', '-no-color'], env);
    if (plan.status !== 0) process.stdout.write(`[swarm] plan after apply:\n${plan.output.slice(-4000)}\n`);
    expect(plan.status).toBe(0);
  });

  test('the IDE-like service: on an ide node, read-only, non-root, no capabilities, its secret a file only it can read, its config a file', async () => {
    const { node, id } = await waitRunning('tf-ide-alice', undefined, 90);
    expect(on('swarm-m1', 'node', 'inspect', '-f', '{{index .Spec.Labels "webide.role"}}', node)).toBe('ide');
    const exec = (...args: string[]) => run('docker', ['-H', engine(node), 'exec', id, ...args]);
    expect(exec('cat', '/run/secrets/token').out.trim()).toBe(secretValue);
    expect(exec('stat', '-c', '%a %u', '/run/secrets/token').out.trim()).toBe('400 65534');
    expect(exec('printenv').out).not.toContain(secretValue);
    expect(exec('cat', '/etc/webide/settings.json').out).toContain('"editor.fontSize": 14');
    expect(exec('id', '-u').out.trim()).toBe('65534');
    expect(exec('touch', '/probe').status).not.toBe(0);
    expect(exec('grep', '^CapEff', '/proc/self/status').out).toMatch(/CapEff:\s+0000000000000000/);
    const limits = on(node, 'inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.ReadonlyRootfs}}', id);
    expect(limits).toBe(`${256 * 1024 * 1024} 500000000 true`);
    // The secret's value is not in the service's spec either (only its id).
    expect(on('swarm-m1', 'service', 'inspect', 'tf-ide-alice')).not.toContain(secretValue);
  });

  test('the model-like service runs on its GPU node, on the overlay, told its GPUs by name', async () => {
    const { node, id } = await waitRunning('tf-vllm', undefined, 90);
    expect(node).toBe('swarm-w2');
    expect(run('docker', ['-H', engine(node), 'exec', id, 'printenv', 'NVIDIA_VISIBLE_DEVICES']).out.trim()).toBe('GPU-1');
    const networks = Object.keys(JSON.parse(on(node, 'inspect', '-f', '{{json .NetworkSettings.Networks}}', id)) as object);
    expect(networks).toEqual(['tf-ws-alice']);
  });
});
