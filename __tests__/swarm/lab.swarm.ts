/**
 * The Swarm tier's ground floor, on a real swarm: three Docker engines on this machine, each in
 * its own network namespace (scripts/swarm/lab.sh), and a private registry reached over TLS.
 * What the estate's Swarm target will stand on is shown here with a small probe image: nodes
 * and roles, images pulled by digest from the registry on every node, internal overlays that
 * isolate across nodes, GPU ids as generic resources, and a drain that reschedules.
 * Run by `npm run test:swarm` (scripts/swarm/test.sh), which starts and removes the lab.
 */
import { mustRun, run, sleep } from '../helpers/run';
import { ESP_PROBE } from '../../scripts/swarm-preflight';
import { engine, execIn as execInTask, manager, NodeName, NODES, on, pushToLab, waitRunning } from './lab';

/** A TCP listener on 8080 that answers with the hostname, and a connect probe: perl is in the base image. */
const LISTEN_PL = 'use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => 8080, Listen => 8, ReuseAddr => 1) or die $!; while (my $c = $s->accept) { print $c "hello\\n"; close $c }';
const CONNECT_PL =
  'use IO::Socket::INET; my $c = IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => 8080, Timeout => 3); if ($c) { my $l = <$c>; print "connected\\n" } else { my $e = "$@ $!"; print(($e =~ /Bad hostname|Name or service/) ? "no-such-name\\n" : ($e =~ /timed out|Timeout/) ? "timeout\\n" : "failed: $e\\n") }';

const PREFIX = 'lab-';
let image = '';

function execIn(service: string, ...args: string[]): string {
  return execInTask(service, ...args).out;
}

const probe = (from: string, target: string) => execIn(from, 'perl', '-e', CONNECT_PL, target);

/**
 * A probe repeated until it connects, for at most `seconds`: a task's name reaches the other
 * nodes' DNS by gossip, a moment after the task starts. Returns the last result.
 */
async function probeUntilConnected(from: string, target: string, seconds = 20): Promise<string> {
  let result = '';
  for (let i = 0; i < seconds; i++) {
    result = probe(from, target);
    if (result === 'connected') break;
    await sleep(1000);
  }
  return result;
}

function createService(name: string, options: string[]): void {
  manager('service', 'create', '-d', '-q', '--name', PREFIX + name, '--endpoint-mode', 'dnsrr', '--read-only', '--user', '65534:65534', ...options, image, 'perl', '-e', LISTEN_PL);
}

beforeAll(() => {
  // The host engine's base image, copied into the registry; every node pulls it by digest.
  [image] = pushToLab('webide-local/base:bookworm');
}, 120_000);

afterAll(() => {
  const services = run('docker', ['-H', engine('swarm-m1'), 'service', 'ls', '-q', '--filter', `name=${PREFIX}`]).out.trim().split('\n').filter(Boolean);
  if (services.length) run('docker', ['-H', engine('swarm-m1'), 'service', 'rm', ...services]);
  for (const network of ['net-a', 'net-b', 'net-enc', 'net-gpu']) run('docker', ['-H', engine('swarm-m1'), 'network', 'rm', PREFIX + network]);
  run('docker', ['-H', engine('swarm-m1'), 'node', 'update', '--availability', 'active', 'swarm-w1']);
}, 120_000);

describe('a real three-node swarm on this machine (scripts/swarm/lab.sh)', () => {
  test('one manager and two workers, each its own engine and hostname, labelled by role', () => {
    const nodes = manager('node', 'ls', '--format', '{{.Hostname}}/{{.Status}}/{{.ManagerStatus}}').split('\n').sort();
    expect(nodes).toEqual(['swarm-m1/Ready/Leader', 'swarm-w1/Ready/', 'swarm-w2/Ready/']);
    const ids = NODES.map((node) => on(node, 'info', '--format', '{{.Swarm.NodeID}} {{.Name}}'));
    expect(new Set(ids.map((l) => l.split(' ')[0])).size).toBe(3);
    expect(ids.map((l) => l.split(' ')[1])).toEqual([...NODES]);
    expect(NODES.map((node) => manager('node', 'inspect', '-f', '{{index .Spec.Labels "webide.role"}}', node))).toEqual(['manager', 'ide', 'gpu']);
  });

  test('the GPU node offers its GPU ids as generic resources, the others none', () => {
    const resources = (node: NodeName) => manager('node', 'inspect', '-f', '{{json .Description.Resources.GenericResources}}', node);
    expect(JSON.parse(resources('swarm-w2'))).toEqual(
      expect.arrayContaining([{ NamedResourceSpec: { Kind: 'gpu', Value: 'GPU-0' } }, { NamedResourceSpec: { Kind: 'gpu', Value: 'GPU-1' } }]),
    );
    expect(resources('swarm-m1')).toBe('null');
    expect(resources('swarm-w1')).toBe('null');
  });

  test('images by digest from the private registry over TLS (the lab CA, not insecure-registries)', () => {
    expect(image).toMatch(/^registry\.swarm\.test:5000\/webide\/base@sha256:[0-9a-f]{64}$/);
    for (const node of NODES) {
      expect(on(node, 'info', '--format', '{{json .RegistryConfig.InsecureRegistryCIDRs}}')).not.toContain('10.203.');
      on(node, 'pull', '-q', image);
      expect(on(node, 'image', 'inspect', '-f', '{{json .RepoDigests}}', image)).toContain(image.split('@')[1]);
    }
    // Plain HTTP is not served.
    const plain = run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', '--resolve', 'registry.swarm.test:5000:10.203.0.2', 'http://registry.swarm.test:5000/v2/']);
    expect(plain.out.trim()).toBe('400');
  }, 120_000);

  test('internal overlays isolate across nodes: the same network answers from another node, another network neither resolves nor answers, nothing is routed out', async () => {
    manager('network', 'create', '-d', 'overlay', '--internal', PREFIX + 'net-a');
    manager('network', 'create', '-d', 'overlay', '--internal', PREFIX + 'net-b');
    createService('a1', ['--network', PREFIX + 'net-a', '--constraint', 'node.hostname==swarm-m1']);
    createService('a2', ['--network', PREFIX + 'net-a', '--constraint', 'node.hostname==swarm-w1']);
    createService('b1', ['--network', PREFIX + 'net-b', '--constraint', 'node.hostname==swarm-w2']);
    await waitRunning(PREFIX + 'a1', 'swarm-m1');
    await waitRunning(PREFIX + 'a2', 'swarm-w1');
    const b1 = await waitRunning(PREFIX + 'b1', 'swarm-w2');
    const b1Address = JSON.parse(on('swarm-w2', 'inspect', '-f', '{{json .NetworkSettings.Networks}}', b1.id))[PREFIX + 'net-b'].IPAddress as string;
    expect(b1Address).toMatch(/^10\.206\./);

    // Cross-node VXLAN on the same network; dnsrr: the name is the task's own address.
    expect(await probeUntilConnected(PREFIX + 'a1', PREFIX + 'a2')).toBe('connected');
    expect(await probeUntilConnected(PREFIX + 'a2', PREFIX + 'a1')).toBe('connected');
    expect(probe(PREFIX + 'a1', PREFIX + 'b1')).toBe('no-such-name');
    expect(probe(PREFIX + 'a1', b1Address)).not.toBe('connected');
    expect(probe(PREFIX + 'b1', PREFIX + 'a1')).toBe('no-such-name');
    // Internal: no default route, so nothing leaves the overlay.
    const routes = execIn(PREFIX + 'a1', 'cat', '/proc/net/route').split('\n').slice(1).map((line) => line.trim().split(/\s+/)[1]);
    expect(routes.length).toBeGreaterThan(0);
    expect(routes).not.toContain('00000000');
  }, 180_000);

  test("encrypted overlays: the preflight's ESP probe says whether this kernel can carry them, and a real encrypted overlay behaves as it says", async () => {
    // The probe npm run swarm:preflight runs in a task on every node, here in a network namespace
    // of its own on this machine, whose kernel the lab's nodes share.
    const namespace = `webide-esp-probe-${process.pid}`;
    mustRun('ip', ['netns', 'add', namespace]);
    let verdict: string;
    try {
      verdict = mustRun('ip', ['netns', 'exec', namespace, 'sh', '-c', ESP_PROBE]).trim();
    } finally {
      run('ip', ['netns', 'del', namespace]);
    }
    const espWorks = verdict === 'ok';
    process.stdout.write(`[swarm] ESP probe: ${verdict}\n`);
    if (!espWorks) expect(verdict).toMatch(/^Error: Requested .* not found\.$/);
    manager('network', 'create', '-d', 'overlay', '--internal', '--opt', 'encrypted', PREFIX + 'net-enc');
    createService('e1', ['--network', PREFIX + 'net-enc', '--constraint', 'node.hostname==swarm-m1']);
    createService('e2', ['--network', PREFIX + 'net-enc', '--constraint', 'node.hostname==swarm-w1']);
    await waitRunning(PREFIX + 'e1', 'swarm-m1');
    await waitRunning(PREFIX + 'e2', 'swarm-w1');
    // Docker created the network either way; only the check tells whether traffic crosses.
    const reached = await probeUntilConnected(PREFIX + 'e1', PREFIX + 'e2', 8);
    expect(reached === 'connected').toBe(espWorks);
  }, 180_000);

  test('a service asking for one GPU lands on the GPU node and is told which GPU; two such services get different GPUs', async () => {
    createService('gpu-a', ['--generic-resource', 'gpu=1']);
    createService('gpu-b', ['--generic-resource', 'gpu=1']);
    const a = await waitRunning(PREFIX + 'gpu-a');
    const b = await waitRunning(PREFIX + 'gpu-b');
    expect([a.node, b.node]).toEqual(['swarm-w2', 'swarm-w2']);
    const gpuOf = (service: string) => execIn(service, 'printenv', 'DOCKER_RESOURCE_GPU');
    const gpus = [gpuOf(PREFIX + 'gpu-a'), gpuOf(PREFIX + 'gpu-b')];
    expect(gpus.sort()).toEqual(['GPU-0', 'GPU-1']);
  }, 120_000);

  test('known Swarm limit: a task that reserves a GPU and joins an overlay is rejected (docker/for-linux#1201), so model servers are pinned by node and GPU name instead', async () => {
    manager('service', 'rm', PREFIX + 'gpu-a', PREFIX + 'gpu-b'); // both GPUs free again …
    // … once their tasks are gone from the GPU node: until then their GPUs count as reserved there,
    // and Swarm's constraint enforcer rejects the new task for that ("assigned node no longer meets
    // constraints", seen once in CI) before the network attachment is ever tried.
    for (const service of ['gpu-a', 'gpu-b']) {
      for (let i = 0; i < 120 && on('swarm-w2', 'ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${PREFIX}${service}`) !== ''; i++) await sleep(500);
      expect(on('swarm-w2', 'ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${PREFIX}${service}`)).toBe('');
    }
    manager('network', 'create', '-d', 'overlay', '--internal', PREFIX + 'net-gpu');
    createService('gpu-net', ['--network', PREFIX + 'net-gpu', '--generic-resource', 'gpu=1']);
    let errors = '';
    for (let i = 0; i < 120 && !/missing network attachments/.test(errors); i++) {
      await sleep(500);
      errors = manager('service', 'ps', '--no-trunc', '--format', '{{.CurrentState}} {{.Error}}', PREFIX + 'gpu-net');
    }
    expect(errors).toMatch(/Rejected .*node is missing network attachments/);
    expect(errors).not.toMatch(/^Running/m);
  }, 180_000);

  test('draining a worker reschedules its task onto another allowed node', async () => {
    createService('moves', ['--network', PREFIX + 'net-a', '--constraint', 'node.labels.webide.role!=gpu', '--placement-pref', 'spread=node.labels.webide.role']);
    // Put it on swarm-w1 first: drain the manager for a moment, then let it back.
    manager('node', 'update', '--availability', 'drain', 'swarm-m1');
    try {
      manager('service', 'update', '-d', '-q', '--force', PREFIX + 'moves');
      await waitRunning(PREFIX + 'moves', 'swarm-w1');
    } finally {
      manager('node', 'update', '--availability', 'active', 'swarm-m1');
    }
    const started = Date.now();
    manager('node', 'update', '--availability', 'drain', 'swarm-w1');
    const moved = await waitRunning(PREFIX + 'moves', 'swarm-m1');
    process.stdout.write(`[swarm] drained swarm-w1: the task runs on ${moved.node} after ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    // a2 may run on swarm-w1 only: drained, it waits for its node instead of running elsewhere.
    expect(manager('service', 'ps', '-f', 'desired-state=running', '--format', '{{.CurrentState}}', PREFIX + 'a2')).toMatch(/^Pending/);
    manager('node', 'update', '--availability', 'active', 'swarm-w1');
    await waitRunning(PREFIX + 'a2', 'swarm-w1');
    expect(await probeUntilConnected(PREFIX + 'a2', PREFIX + 'moves')).toBe('connected');
  }, 240_000);
});
