import { Testing } from 'cdktf';
import { EstateConfig } from '../../config/estate';
import { loadEstate } from '../../config/load';
import { placeIdes } from '../../config/placement';
import { ideNodesOf } from '../../config/swarm';
import { WORKSPACE_STOP_GRACE_PERIOD } from '../../constructs/swarm-workspace';
import { SwarmWorkspacesStack } from '../../stacks/swarm-workspaces-stack';
import { assetText, defaultEstate, rosterFromText, withoutEgress } from '../helpers/inputs';
import { resourcesOf, StackJson } from '../helpers/json';
import { SWARM_BLOCK, withDigests } from '../helpers/swarm';

const ROSTER = `groups:
  - name: developers
users:
  - { username: alice, email: alice@corp.example, name: Alice Kim, groups: [developers], node: ide-2 }
  - { username: bob, email: bob@corp.example, name: Bob Lee, groups: [developers], state: suspended }
  - { username: carol, email: carol@corp.example, name: Carol Park, groups: [developers] }
  - { username: erin, email: erin@corp.example, name: Erin Yoon, groups: [developers], state: archived }
`;
const CAROL = '  - { username: carol, email: carol@corp.example, name: Carol Park, groups: [developers] }\n';

function swarmEstate(edit: (text: string) => string = (text) => text): EstateConfig {
  return loadEstate({ file: 'estate.yaml', text: edit(`${withDigests(withoutEgress(assetText('estate.yaml')))}\n${SWARM_BLOCK}`) });
}

function synth(roster: string, estate = swarmEstate()): StackJson {
  const stack = new SwarmWorkspacesStack(Testing.app(), 'workspaces', { estate, roster: rosterFromText(roster, estate), stateFile: '/state/terraform.workspaces.tfstate' });
  return JSON.parse(Testing.synth(stack));
}

/** The user's resources by `type.name` without the hash suffix. */
function userResources(json: StackJson, username: string): Map<string, Record<string, unknown>> {
  return new Map([...resourcesOf(json)].filter(([key]) => key.includes(`.users_${username}_`)).map(([key, body]) => [key.replace(/_[0-9A-F]{8}$/, ''), body]));
}

type Service = { name: string; mode: { replicated: { replicas: number } }; task_spec: { container_spec: Record<string, unknown>; networks_advanced: { id: string; aliases?: string[] }[]; placement: { constraints: string[] }; resources: { limits: Record<string, number> } } };

describe('SwarmWorkspacesStack (the Swarm target: users’ IDEs)', () => {
  const json = synth(ROSTER);
  const estate = swarmEstate();

  it("gives each active user an internal encrypted overlay, the IDE on it alone, and the user's forwarder on it as ai-gateway", () => {
    const alice = userResources(json, 'alice');
    expect([...alice.keys()].sort()).toEqual([
      'docker_config.users_alice_forwarder-conf_config',
      'docker_network.users_alice_network',
      'docker_service.users_alice_forwarder',
      'docker_service.users_alice_ide',
      'null_resource.users_alice_forwarder-pids_pids-limit',
      'null_resource.users_alice_ide-pids_pids-limit',
    ]);
    expect(alice.get('docker_network.users_alice_network')).toMatchObject({ name: 'webide-ws-alice', driver: 'overlay', internal: true, attachable: false, options: { encrypted: '' } });
    const network = '${docker_network.users_alice_network_';
    const ide = alice.get('docker_service.users_alice_ide') as unknown as Service;
    expect(ide.task_spec.networks_advanced).toEqual([{ id: expect.stringContaining(network) }]);
    expect(ide.task_spec.container_spec).toMatchObject({ user: '1000:1000', read_only: true, cap_drop: ['ALL'], init: true });
    expect(ide.task_spec.resources.limits).toEqual({ memory_bytes: expect.any(Number), nano_cpus: expect.any(Number) });
    const forwarder = alice.get('docker_service.users_alice_forwarder') as unknown as Service;
    expect(forwarder.task_spec.networks_advanced).toEqual([
      { id: expect.stringContaining(network), aliases: ['ai-gateway'] },
      { id: expect.stringContaining('${data.docker_network.forwarders-network') },
    ]);
    expect(forwarder.mode.replicated.replicas).toBe(1);
    expect(forwarder.task_spec.container_spec).toMatchObject({ user: '101:101', read_only: true, cap_drop: ['ALL'] });
  });

  it("states both services' stop grace period, so that destroying them waits for their containers on the manager to go before the overlay is removed", () => {
    for (const user of ['alice', 'bob', 'carol']) {
      const resources = userResources(json, user);
      const graces = ['ide', 'forwarder'].map((part) => (resources.get(`docker_service.users_${user}_${part}`) as unknown as Service).task_spec.container_spec.stop_grace_period);
      expect([user, graces]).toEqual([user, [WORKSPACE_STOP_GRACE_PERIOD, WORKSPACE_STOP_GRACE_PERIOD]]);
    }
    expect(WORKSPACE_STOP_GRACE_PERIOD).toMatch(/^[1-9]\d*s$/);
  });

  it('places each IDE and its forwarder on the node placeIdes gives (a pin wins), and the home on the IDE', () => {
    const roster = rosterFromText(ROSTER, estate);
    const expected = placeIdes(roster.users, ideNodesOf(estate.swarm!));
    expect(expected.get('alice')).toBe('ide-2');
    for (const username of ['alice', 'bob', 'carol']) {
      for (const part of ['ide', 'forwarder']) {
        const service = userResources(json, username).get(`docker_service.users_${username}_${part}`) as unknown as Service;
        expect(service.task_spec.placement.constraints).toEqual([`node.hostname==${expected.get(username)}`]);
      }
      const mounts = (userResources(json, username).get(`docker_service.users_${username}_ide`) as unknown as Service).task_spec.container_spec.mounts as { type: string; source?: string; target: string }[];
      expect(mounts.filter((m) => m.type === 'volume')).toEqual([{ type: 'volume', source: `webide-home-${username}`, target: '/home/coder' }]);
    }
  });

  it('keeps a suspended user’s IDE running without a forwarder, and declares nothing for an archived user (the home stays on the node)', () => {
    const bob = userResources(json, 'bob');
    expect((bob.get('docker_service.users_bob_ide') as unknown as Service).mode.replicated.replicas).toBe(1);
    expect((bob.get('docker_service.users_bob_forwarder') as unknown as Service).mode.replicated.replicas).toBe(0);
    expect(userResources(json, 'erin').size).toBe(0);
    expect(JSON.stringify(json)).not.toContain('webide-home-erin');
  });

  it('mounts the managed files as Swarm configs named by their content, in a root-owned mount point', () => {
    const configs = [...resourcesOf(json)].filter(([key]) => key.startsWith('docker_config.managed-'));
    expect(configs.map(([, body]) => body.name as string).sort()).toEqual([
      expect.stringMatching(/^webide-ide-continue-config-[0-9a-f]{12}$/),
      expect.stringMatching(/^webide-ide-settings-[0-9a-f]{12}$/),
      expect.stringMatching(/^webide-ide-tabby-agent-config-[0-9a-f]{12}$/),
    ]);
    const spec = (userResources(json, 'carol').get('docker_service.users_carol_ide') as unknown as Service).task_spec.container_spec;
    expect((spec.configs as { file_name: string; file_mode: number; file_uid: string }[]).map((c) => [c.file_name, c.file_mode, c.file_uid])).toEqual([
      ['/var/lib/code-server/Machine/settings.json', 0o644, '0'],
      ['/var/lib/code-server/Machine/continue-config.yaml', 0o644, '0'],
      ['/var/lib/code-server/Machine/tabby-agent-config.toml', 0o644, '0'],
    ]);
    expect(spec.mounts).toContainEqual({ type: 'tmpfs', target: '/var/lib/code-server/Machine', tmpfs_options: { size_bytes: 1024 * 1024, mode: 0o555 } });
  });

  it("changes nobody else's resources when a user is added: ids and bodies come from usernames", () => {
    const without = resourcesOf(synth(ROSTER.replace(CAROL, '')));
    const withCarol = resourcesOf(json);
    const others = [...withCarol].filter(([key]) => !key.includes('_carol_'));
    expect(new Map(others)).toEqual(without);
    expect([...withCarol.keys()].filter((key) => key.includes('_carol_')).length).toBe(6);
  });

  it("records every user's node (archived ones too: the home stays there) for the placement guard, which reads this stack's own state", () => {
    const roster = rosterFromText(ROSTER, estate);
    const placement = placeIdes(roster.users, ideNodesOf(estate.swarm!));
    expect((json.output as Record<string, { value: unknown }>).home_nodes.value).toEqual(Object.fromEntries([...placement].sort()));
    expect(Object.keys((json.output as Record<string, unknown>).home_nodes as object)).toContain('value');
    expect(Object.values(json.locals as Record<string, unknown>)).toEqual(
      expect.arrayContaining([
        '${try(jsondecode(file("/state/terraform.workspaces.tfstate")).outputs.home_nodes.value, {})}',
        Object.fromEntries([...placement].sort()),
        { alice: 'ide-2' },
      ]),
    );
    const guard = [...resourcesOf(json)].find(([key]) => key.startsWith('null_resource.home-placement-guard'))![1] as { lifecycle: { precondition: { error_message: string }[] } };
    expect(guard.lifecycle.precondition[0].error_message).toContain('Placement would move users off the node their home is on');
  });

  it('leaves the overlays unencrypted only when the estate says so (refused in production)', () => {
    const local = swarmEstate((text) => text.replace(/^profile: production$/m, 'profile: local').replace('encryptOverlays: true', 'encryptOverlays: false'));
    const network = userResources(synth(ROSTER, local), 'alice').get('docker_network.users_alice_network') as { options?: unknown };
    expect(network.options).toBeUndefined();
  });

  it('is the swarm target’s only: refused for a docker estate, and (not built yet) with egress', () => {
    const docker = defaultEstate();
    expect(() => new SwarmWorkspacesStack(Testing.app(), 'w', { estate: docker, roster: rosterFromText(ROSTER.replace(', node: ide-2', ''), docker), stateFile: 'x' })).toThrow("the estate's target is docker; this stack is the swarm target's");
    const withEgress = loadEstate({ file: 'estate.yaml', text: `${withDigests(assetText('estate.yaml'))}\n${SWARM_BLOCK}` });
    expect(() => new SwarmWorkspacesStack(Testing.app(), 'w', { estate: withEgress, roster: rosterFromText(ROSTER, withEgress), stateFile: 'x' })).toThrow('egress on the swarm target is not built yet');
  });
});
