import { Aspects, Testing } from 'cdktf';
import { loadEstate } from '../../config/load';
import { buildSwarmEstate, estateStackIds, SWARM_STACK_IDS } from '../../stacks/estate';
import { REGISTRY_IMAGE, SwarmRegistryStack } from '../../stacks/swarm-registry-stack';
import { formatFinding } from '../../policy/pack';
import { defaultRoster } from '../helpers/inputs';
import { resourcesOf, StackJson } from '../helpers/json';
import { deployableSwarmEstateText, withRegistryImage } from '../helpers/swarm';


/**
 * The sample swarm estate as the swarm target deploys it today (the local profile), running its own
 * registry (swarm.registry.serve) from images.registry, which its node holds by tag.
 */
function servedRegistryEstateText(): string {
  const text = withRegistryImage(deployableSwarmEstateText())
    .replace('    caFile: /etc/webide/registry-ca.pem\n', '    caFile: /etc/webide/registry-ca.pem\n    serve:\n      certificateFile: /etc/webide/registry.pem\n      keyFile: /etc/webide/registry.key\n');
  return text;
}

const estate = loadEstate({ file: 'estate.yaml', text: servedRegistryEstateText() });
const json = JSON.parse(Testing.synth(new SwarmRegistryStack(Testing.app(), 'registry', { estate, roster: defaultRoster(estate), stateFile: '/state/terraform.registry.tfstate' }))) as StackJson;
const resources = resourcesOf(json);
type ContainerJson = Record<string, any>;
const containers = [...resources].filter(([key]) => key.startsWith('docker_container.')).map(([, body]) => body as ContainerJson);

describe('SwarmRegistryStack (the registry a swarm estate runs itself: swarm.registry.serve)', () => {
  it("runs Debian's docker-registry as one hardened plain container on the dockerHost engine, from that engine's image by its local id", () => {
    expect(containers).toHaveLength(1);
    const [registry] = containers;
    expect(registry.name).toBe('webide-registry');
    expect(registry.image).toBe('${docker_image.registry-image.image_id}');
    expect(resources.get('docker_image.registry-image')).toEqual({ name: 'webide-local/registry:2.8.2', keep_locally: true });
    expect(registry).toMatchObject({
      user: REGISTRY_IMAGE.user,
      read_only: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      security_opts: ['no-new-privileges:true'],
      memory: 512,
      memory_swap: 512,
      restart: 'unless-stopped',
    });
    expect((json.provider as Record<string, unknown>).docker).toEqual([{ host: estate.dockerHost }]);
  });

  it("publishes only the registry's port on the node, TLS files read-only from the node's paths, its images in a volume no plan can delete", () => {
    const [registry] = containers;
    expect(registry.ports).toEqual([{ internal: 5000, external: 5000, protocol: 'tcp' }]);
    expect(registry.mounts).toEqual([
      { type: 'volume', source: 'webide-data-registry', target: '/var/lib/docker-registry' },
      { type: 'bind', source: '/etc/webide/registry.pem', target: REGISTRY_IMAGE.certificate, read_only: true },
      { type: 'bind', source: '/etc/webide/registry.key', target: REGISTRY_IMAGE.key, read_only: true },
    ]);
    expect([...resources.keys()].filter((key) => key.startsWith('docker_volume.'))).toEqual([]);
    // A network of its own, not internal (the port is published), shared with no other container.
    const networks = [...resources].filter(([key]) => key.startsWith('docker_network.')).map(([, body]) => body as ContainerJson);
    expect(networks.map((n) => [n.name, n.internal])).toEqual([['webide-net-registry', false]]);
    expect(registry.networks_advanced).toEqual([{ name: '${docker_network.registry-network.name}' }]);
    // Deploy waits for it to answer: images:pin pushes right after.
    expect(registry).toMatchObject({ wait: true, healthcheck: { test: ['CMD', 'curl', '-fsS', '--max-time', '5', REGISTRY_IMAGE.health] } });
  });

  it('publishes on the port the estate names', () => {
    const other = loadEstate({ file: 'estate.yaml', text: servedRegistryEstateText().replace('    port: 5000\n', '    port: 5443\n') });
    const synthesized = JSON.parse(Testing.synth(new SwarmRegistryStack(Testing.app(), 'registry', { estate: other, roster: defaultRoster(other), stateFile: '/s' }))) as StackJson;
    const [registry] = [...resourcesOf(synthesized)].filter(([key]) => key.startsWith('docker_container.')).map(([, body]) => body as ContainerJson);
    expect(registry.ports).toEqual([{ internal: 5000, external: 5443, protocol: 'tcp' }]);
  });

  it('is the first stack of the swarm estate, which ai waits for; without serve there is none', () => {
    const app = Testing.app();
    const { registry, ai, all, policy } = buildSwarmEstate(app, { estate, roster: defaultRoster(estate), stateDir: '/state' });
    expect(estateStackIds(estate)).toEqual(['registry', ...SWARM_STACK_IDS]);
    expect(all.map((stack) => stack.node.id)).toEqual(estateStackIds(estate));
    expect(ai.dependencies).toEqual([registry]);
    expect(Aspects.of(registry!).all).toContain(policy);
    // The policy pack finds nothing: its host paths are allowed, its one port is the registry's (WEBIDE-N1).
    expect(policy.check(app).map(formatFinding)).toEqual([]);
    const bankRun = loadEstate({ file: 'estate.yaml', text: deployableSwarmEstateText() });
    expect(buildSwarmEstate(Testing.app(), { estate: bankRun, roster: defaultRoster(bankRun), stateDir: '/state' }).registry).toBeUndefined();
    expect(estateStackIds(bankRun)).toEqual([...SWARM_STACK_IDS]);
  });
});
