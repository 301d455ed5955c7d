import { Testing, TerraformStack } from 'cdktf';
import { Container } from '../../.gen/providers/docker/container';
import { Network } from '../../.gen/providers/docker/network';
import { Image } from '../../.gen/providers/docker/image';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';
import { goDuration, HardenedContainer, UNROUTABLE_DNS_UPSTREAM } from '../../constructs/hardened-container';
import { ManagedFiles } from '../../constructs/managed-files';

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
    pidsLimit: 256,
    dockerHost: 'unix:///var/run/docker.sock',
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

  it('applies its pids limit with docker update on every new container id, and records it in a label', () => {
    const synthesized = containerIn((stack) => basic(stack));
    expect(synthesized).toHaveResourceWithProperties(Container, { labels: expect.arrayContaining([{ label: 'webide.pids-limit', value: '256' }]) });
    const json = JSON.parse(synthesized);
    const containerKey = Object.keys(json.resource.docker_container)[0];
    const step = Object.values(json.resource.null_resource)[0] as { triggers: Record<string, string>; provisioner: { 'local-exec': { command: string; environment: Record<string, string> } }[] };
    expect(step.triggers).toEqual({ container_id: `\${docker_container.${containerKey}.id}`, pids_limit: '256', docker_host: 'unix:///var/run/docker.sock' });
    const exec = step.provisioner[0]['local-exec'];
    expect(exec.command).toContain('docker update --pids-limit "$PIDS_LIMIT" "$CONTAINER_ID"');
    expect(exec.environment).toEqual({ DOCKER_HOST: 'unix:///var/run/docker.sock', PIDS_LIMIT: '256', CONTAINER_ID: `\${docker_container.${containerKey}.id}` });
    expect(synthesized).toHaveResource(NullResource);
    expect(() => containerIn((stack) => basic(stack, { pidsLimit: 0 }))).toThrow('svc: pidsLimit must be a positive integer');
  });

  it('gives every container only an unroutable DNS upstream', () => {
    expect(containerIn((stack) => basic(stack))).toHaveResourceWithProperties(Container, { dns: [UNROUTABLE_DNS_UPSTREAM] });
    expect(UNROUTABLE_DNS_UPSTREAM).toMatch(/^192\.0\.2\.\d+$/); // TEST-NET-1, RFC 5737
  });

  it('mounts managed files read-only from the volume their never-started loader received them in, and refuses uploads into a read-only root', () => {
    const upload = { file: '/etc/svc/config.yaml', content: 'a: 1\n' };
    const json = JSON.parse(
      containerIn((stack) => {
        const image = new Image(stack, 'files-img', { name: 'registry.corp.example/x:1.0' });
        const managedFiles = new ManagedFiles(stack, 'files', { name: 'svc-managed', image, directory: '/etc/svc', files: [upload], labels: { 'webide.component': 'svc' } });
        basic(stack, { managedFiles });
      }),
    );
    const containers = Object.values(json.resource.docker_container) as Record<string, any>[];
    const service = containers.find((c) => c.name === 'svc')!;
    const loader = containers.find((c) => c.name === 'svc-managed-loader')!;
    const volume = Object.values(json.resource.docker_volume)[0] as Record<string, any>;
    expect(volume.name).toMatch(/^svc-managed-[0-9a-f]{12}$/);
    expect(service.read_only).toBe(true);
    expect(service.upload).toBeUndefined();
    expect(service.mounts).toEqual([{ type: 'volume', source: expect.stringContaining('docker_volume.files_volume'), target: '/etc/svc', read_only: true }]);
    expect(service.depends_on).toEqual([expect.stringContaining('docker_container.files_loader')]);
    expect(loader).toMatchObject({ start: false, must_run: false, network_mode: 'none', upload: [upload], capabilities: { drop: ['ALL'] } });
    expect(loader.mounts).toEqual([{ type: 'volume', source: expect.stringContaining('docker_volume.files_volume'), target: '/etc/svc' }]);
    expect(() => containerIn((stack) => basic(stack, { uploads: [upload] }))).toThrow("svc: Docker refuses uploads into a read-only root; give the files as managedFiles");
    expect(() => containerIn((stack) => basic(stack, { readOnlyRootfs: false, uploads: [upload] }))).not.toThrow();
  });

  it('gives managed files a new volume when a file changes, so the containers using them are replaced', () => {
    const volumeName = (content: string) =>
      (Object.values(JSON.parse(containerIn((stack) => {
        const image = new Image(stack, 'files-img', { name: 'registry.corp.example/x:1.0' });
        new ManagedFiles(stack, 'files', { name: 'svc-managed', image, directory: '/etc/svc', files: [{ file: '/etc/svc/a', content }], labels: {} });
      })).resource.docker_volume)[0] as { name: string }).name;
    expect(volumeName('one')).toBe(volumeName('one'));
    expect(volumeName('one')).not.toBe(volumeName('two'));
    expect(() => containerIn((stack) => {
      const image = new Image(stack, 'files-img', { name: 'registry.corp.example/x:1.0' });
      new ManagedFiles(stack, 'files', { name: 'svc-managed', image, directory: '/etc/svc', files: [{ file: '/etc/other/a', content: 'x' }], labels: {} });
    })).toThrow('svc-managed: managed files outside /etc/svc: /etc/other/a');
  });

  it('writes healthcheck durations the way the provider reads them back', () => {
    expect(goDuration(5)).toBe('5s');
    expect(goDuration(60)).toBe('1m0s');
    expect(goDuration(600)).toBe('10m0s');
    expect(goDuration(3725)).toBe('1h2m5s');
  });
});
