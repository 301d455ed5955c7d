import { Testing, TerraformStack } from 'cdktf';
import { Container } from '@cdktf/provider-docker/lib/container';
import { Network } from '@cdktf/provider-docker/lib/network';
import { Image } from '@cdktf/provider-docker/lib/image';
import { goDuration, HardenedContainer } from '../../constructs/hardened-container';

function containerIn(build: (stack: TerraformStack) => void) {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'test');
  build(stack);
  return Testing.synth(stack);
}

function basic(stack: TerraformStack, extra: Partial<ConstructorParameters<typeof HardenedContainer>[2]> = {}) {
  const network = new Network(stack, 'net', { name: 'n', internal: true });
  const image = new Image(stack, 'img', { name: 'registry.corp.example/x:1.0' });
  return new HardenedContainer(stack, 'svc', {
    containerName: 'svc',
    image,
    networks: [{ name: network.name }],
    user: '1000:1000',
    memoryMiB: 512,
    cpus: 1.5,
    labels: { 'webide.component': 'svc' },
    ...extra,
  });
}

describe('HardenedContainer', () => {
  it('always drops every capability, forbids new privileges and privileged mode, and runs as the given user', () => {
    const synthesized = containerIn((stack) => basic(stack));
    expect(synthesized).toHaveResourceWithProperties(Container, {
      name: 'svc',
      user: '1000:1000',
      privileged: false,
      capabilities: { drop: ['ALL'] },
      security_opts: ['no-new-privileges:true'],
      read_only: true,
      restart: 'unless-stopped',
    });
  });

  it('limits memory without swap and CPU through the CFS quota, with a label that forces replacement on change', () => {
    const synthesized = containerIn((stack) => basic(stack));
    expect(synthesized).toHaveResourceWithProperties(Container, {
      memory: 512,
      memory_swap: 512,
      cpu_period: 100000,
      cpu_quota: 150000,
      labels: expect.arrayContaining([{ label: 'webide.cpu-limit', value: '1.5' }]),
    });
    const container = Object.values(JSON.parse(synthesized).resource.docker_container)[0] as Record<string, unknown>;
    expect(container).toHaveProperty('cpu_quota', 150000);
    expect(container).not.toHaveProperty('cpus');
  });

  it('makes apply wait for health only when asked', () => {
    expect(containerIn((s) => basic(s, { waitHealthySeconds: 300 }))).toHaveResourceWithProperties(Container, { wait: true, wait_timeout: 300 });
    expect(JSON.stringify(JSON.parse(containerIn((s) => basic(s))).resource.docker_container)).not.toContain('"wait"');
  });

  it('writes log options out so the daemon defaults cannot drift', () => {
    expect(containerIn((stack) => basic(stack))).toHaveResourceWithProperties(Container, {
      log_driver: 'json-file',
      log_opts: { 'max-file': '5', 'max-size': '50m' },
    });
  });

  it('publishes no ports unless asked', () => {
    const json = JSON.parse(containerIn((stack) => basic(stack)));
    const container = Object.values(json.resource.docker_container)[0] as Record<string, unknown>;
    expect(container.ports).toBeUndefined();
  });

  it('sorts environment variables so their order never causes a diff', () => {
    const json = JSON.parse(containerIn((stack) => basic(stack, { env: { B: '2', A: '1' } })));
    const container = Object.values(json.resource.docker_container)[0] as Record<string, unknown>;
    expect(container.env).toEqual(['A=1', 'B=2']);
  });

  it('refuses a container with no network (the default bridge is never used)', () => {
    expect(() =>
      containerIn((stack) => basic(stack, { networks: [] })),
    ).toThrow('svc: a container must join at least one network');
  });

  it('writes healthcheck durations the way the provider reads them back', () => {
    expect(goDuration(5)).toBe('5s');
    expect(goDuration(60)).toBe('1m0s');
    expect(goDuration(600)).toBe('10m0s');
    expect(goDuration(3725)).toBe('1h2m5s');
  });
});
