import { Testing } from 'cdktf';
import { Container } from '../../.gen/providers/docker/container';
import { Network } from '../../.gen/providers/docker/network';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';
import { WorkspacesStack } from '../../stacks/workspaces-stack';
import { defaultEstate, rosterFromText } from '../helpers/inputs';
import { removedOf, resourcesOf } from '../helpers/json';

const ROSTER = `groups:
  - name: developers
users:
  - { username: alice, email: alice@corp.example, name: Alice Kim, groups: [developers], resources: { cpus: 4, memory: 8g } }
  - { username: bob, email: bob@corp.example, name: Bob Lee, groups: [developers], state: suspended }
  - { username: erin, email: erin@corp.example, name: Erin Yoon, groups: [developers], state: archived }
`;

function synthWorkspaces(rosterText = ROSTER) {
  const estate = defaultEstate();
  const stack = new WorkspacesStack(Testing.app(), 'workspaces', {
    estate,
    roster: rosterFromText(rosterText, estate),
    stateFile: 'terraform.workspaces.tfstate',
    nginxContainerId: 'nginx-container-id',
    egressProxyContainerId: 'egress-proxy-container-id',
  });
  const synthesized = Testing.synth(stack);
  return { stack, synthesized, json: JSON.parse(synthesized) };
}

function ideOf(json: ReturnType<typeof synthWorkspaces>['json'], username: string): Record<string, any> {
  const match = [...resourcesOf(json)].find(([key, body]) => key.startsWith('docker_container.') && body.name === `webide-ide-${username}`);
  if (!match) throw new Error(`no IDE container for ${username}`);
  return match[1];
}

describe('WorkspacesStack', () => {
  it('gives every active or suspended user an IDE on a private internal network, and archived users none', () => {
    const { synthesized, json } = synthWorkspaces();
    expect(synthesized).toHaveResourceWithProperties(Network, { name: 'webide-ws-alice', internal: true });
    expect(synthesized).toHaveResourceWithProperties(Network, { name: 'webide-ws-bob', internal: true });
    const names = [...resourcesOf(json).values()].map((body) => body.name);
    expect(names).toContain('webide-ide-alice');
    expect(names).toContain('webide-ide-bob');
    expect(names.filter((name) => String(name).includes('erin'))).toEqual([]);
  });

  it('runs the IDE hardened: uid 1000, no capabilities, no docker socket, only its own network, limits from the roster', () => {
    const alice = ideOf(synthWorkspaces().json, 'alice');
    expect(alice.user).toBe('1000:1000');
    expect(alice.privileged).toBe(false);
    expect(alice.capabilities).toEqual({ drop: ['ALL'] });
    expect(alice.security_opts).toEqual(['no-new-privileges:true']);
    expect(alice.memory).toBe(8192);
    expect(alice.cpu_quota).toBe(400000);
    expect(alice.networks_advanced).toEqual([{ name: expect.stringContaining('docker_network.users_alice_network') }]);
    expect(JSON.stringify(alice)).not.toContain('docker.sock');
    expect(alice.ports).toBeUndefined();
  });

  it("mounts the user's home volume by name, so Terraform never owns or deletes it", () => {
    const { json } = synthWorkspaces();
    // The only volume Terraform owns here is the managed files' (rendered settings, no user data).
    expect(Object.values(json.resource.docker_volume).map((v: any) => v.name)).toEqual([expect.stringMatching(/^webide-managed-workspace-[0-9a-f]{12}$/)]);
    const alice = ideOf(json, 'alice');
    expect(alice.mounts.filter((m: Record<string, unknown>) => m.type === 'volume')).toEqual([
      expect.objectContaining({ type: 'volume', source: 'webide-home-alice', target: '/home/coder' }),
      // The managed files: one volume shared read-only by every IDE, at VS Code's Machine settings dir.
      { type: 'volume', source: expect.stringContaining('docker_volume.ide-managed-files_volume'), target: '/var/lib/code-server/Machine', read_only: true },
    ]);
  });

  it('writes the managed settings, Continue and Tabby configs into the IDE, and turns the gallery off', () => {
    const { json } = synthWorkspaces();
    const alice = ideOf(json, 'alice');
    const loader = [...resourcesOf(json).values()].find((body) => body.name === 'webide-managed-workspace-loader') as Record<string, any>;
    const files = loader.upload.map((u: { file: string }) => u.file);
    // Into the managed files' volume, mounted read-only at VS Code's Machine settings dir (the
    // user-data dir is a tmpfs in the read-only root), which the user can neither write nor move.
    // The image's entrypoint copies the AI clients' configs into the home at every start.
    expect(alice.upload).toBeUndefined();
    expect(files).toEqual([
      '/var/lib/code-server/Machine/settings.json',
      '/var/lib/code-server/Machine/continue-config.yaml',
      '/var/lib/code-server/Machine/tabby-agent-config.toml',
      // The sample estate declares the bank's services: the tools' configs for the egress proxy (render/ide-egress.ts).
      ...['egress-apt-sources.list', 'egress-apt.conf', 'egress-gitconfig', 'egress-maven-settings.xml', 'egress-npmrc', 'egress-pip.conf'].map((f) => `/var/lib/code-server/Machine/${f}`),
    ]);
    expect(alice.read_only).toBe(true);
    expect(alice.tmpfs).toEqual({ '/tmp': 'rw,nosuid,nodev,size=512m', '/var/lib/code-server': 'rw,nosuid,nodev,size=256m,uid=1000,gid=1000,mode=0700' });
    expect(alice.entrypoint).toEqual(['/usr/local/bin/webide-ide-entrypoint']);
    expect(alice.env).toContain('EXTENSIONS_GALLERY={}');
    expect(alice.command).toEqual(expect.arrayContaining(['--disable-telemetry', '--disable-update-check', '--disable-file-downloads', '--disable-proxy']));
    expect(alice.command.join(' ')).toContain('--user-data-dir /var/lib/code-server');
  });

  it('keys every per-user resource by username (no list positions in ids)', () => {
    const keys = [...resourcesOf(synthWorkspaces().json).keys()];
    const perUser = keys.filter((key) => key.includes('users_'));
    expect(perUser.length).toBeGreaterThan(0);
    // erin is archived: she has no resource, only removed blocks for her nginx and egress links.
    for (const key of perUser) expect(key).toMatch(/users_(alice|bob)_/);
    for (const address of removedOf(synthWorkspaces().json).keys()) expect(address).toMatch(/^null_resource\.users_(bob|erin)_(nginx|egress)-link_[0-9A-F]{8}$/);
  });

  it('links nginx to each active user\'s IDE network with one resource per user (a suspended user keeps the IDE but is unlinked: no entry point, no AI gateway; archived users keep a removed block that disconnects nginx)', () => {
    const { json } = synthWorkspaces();
    const links = [...resourcesOf(json)].filter(([key]) => /^null_resource\.users_.*_nginx-link_/.test(key));
    expect(links.map(([key, body]) => [key.replace(/_[0-9A-F]{8}$/, ''), (body.triggers as Record<string, string>).network])).toEqual([
      ['null_resource.users_alice_nginx-link', '${docker_network.users_alice_network_295142C3.name}'],
    ]);
    // Terraform runs a destroy-time provisioner only while a block names its address: these disconnect nginx when bob is suspended and erin archived.
    const unlinked = [...removedOf(json)].filter(([address]) => /_nginx-link_/.test(address));
    expect(unlinked.map(([address]) => address.replace(/_[0-9A-F]{8}$/, ''))).toEqual(['null_resource.users_bob_nginx-link', 'null_resource.users_erin_nginx-link']);
    for (const [, block] of unlinked) {
      expect(block.lifecycle).toEqual({ destroy: true });
      const [disconnect] = (block.provisioner as Array<Record<string, any>>).map((p) => p['local-exec']);
      expect(disconnect).toMatchObject({ when: 'destroy', environment: { NETWORK: '${self.triggers.network}', CONTAINER: '${self.triggers.container}', MAP_DIR: '/etc/nginx/gateway-users' } });
      expect(disconnect.command).toMatch(/docker network disconnect/);
    }
    const [, alice] = links[0];
    // The username is a trigger: the gateway's user map entry is rewritten if it ever changed.
    expect(alice.triggers).toMatchObject({ container: 'webide-nginx', container_id: 'nginx-container-id', alias: 'ai-gateway', username: 'alice' });
    const provisioners = (alice.provisioner as Array<Record<string, any>>).map((p) => p['local-exec']);
    expect(provisioners.map((p) => p.when ?? 'create')).toEqual(['create', 'destroy']);
    // Both write the gateway's user map (the destroy first neutralises the entry) and have nginx reload it.
    expect(provisioners[0].environment).toMatchObject({ USERNAME: 'alice', MAP_DIR: '/etc/nginx/gateway-users' });
    expect(provisioners[1].environment).toMatchObject({ MAP_DIR: '/etc/nginx/gateway-users' });
    for (const p of provisioners) expect(p.command).toMatch(/docker cp - "\$CONTAINER:\$MAP_DIR".*docker kill --signal HUP "\$CONTAINER"/);
  });

  it("links the egress proxy to the same networks as nginx, with the proxy's user map (suspended, archived: a removed block); the IDE gets the proxy env and the bank's CAs, read-only", () => {
    const { json } = synthWorkspaces();
    const links = [...resourcesOf(json)].filter(([key]) => /^null_resource\.users_.*_egress-link_/.test(key));
    expect(links.map(([key]) => key.replace(/_[0-9A-F]{8}$/, ''))).toEqual(['null_resource.users_alice_egress-link']);
    const unlinked = [...removedOf(json)].filter(([address]) => /_egress-link_/.test(address));
    expect(unlinked.map(([address]) => address.replace(/_[0-9A-F]{8}$/, ''))).toEqual(['null_resource.users_bob_egress-link', 'null_resource.users_erin_egress-link']);
    for (const [, block] of unlinked) expect((block.provisioner as Array<Record<string, any>>)[0]['local-exec'].environment).toMatchObject({ MAP_DIR: '/var/lib/webide-egress/users.d' });
    const [, alice] = links[0];
    expect(alice.triggers).toMatchObject({ container: 'webide-egress-proxy', container_id: 'egress-proxy-container-id', alias: 'egress-proxy', username: 'alice' });
    const create = (alice.provisioner as Array<Record<string, any>>)[0]['local-exec'];
    expect(create.environment).toMatchObject({ USERNAME: 'alice', MAP_DIR: '/var/lib/webide-egress/users.d' });
    expect(create.command).toContain('note webide-user');
    const ide = ideOf(json, 'alice');
    expect(ide.env).toEqual(expect.arrayContaining(['HTTPS_PROXY=http://egress-proxy:3128', 'HTTP_PROXY=http://egress-proxy:3128']));
    expect(ide.env.find((e: string) => e.startsWith('NO_PROXY='))).toContain('ai-gateway');
    const caMounts = (ide.mounts as Array<Record<string, any>>).filter((m) => m.type === 'bind');
    expect(caMounts.map((m) => [m.source, m.target, m.read_only])).toEqual(
      ['debian', 'gitlab', 'maven', 'npm', 'pypi'].map((service) => ['/etc/webide/bank-ca.pem', `/etc/webide/egress-ca/${service}.pem`, true]),
    );
  });

  it('backs up every home of the roster (archived too) with the agent: homes read-only, the repository its only writable bind, the password a sensitive variable', () => {
    const { json } = synthWorkspaces();
    const agent = Object.values(json.resource.docker_container as Record<string, Record<string, any>>).find((c) => c.name === 'webide-backup')!;
    expect(agent.mounts.map((m: Record<string, unknown>) => [m.source, m.target, m.read_only ?? false])).toEqual([
      ['/srv/webide-backups', '/backup/repository', false],
      ['webide-data-backup', '/var/lib/webide-backup', false],
      ['webide-home-alice', '/backup/homes/alice', true],
      ['webide-home-bob', '/backup/homes/bob', true],
      ['webide-home-erin', '/backup/homes/erin', true],
    ]);
    expect(agent.env).toEqual(expect.arrayContaining(['BACKUP_HOMES=alice bob erin', 'BACKUP_SCHEDULE=02:00', 'RESTIC_PASSWORD=${var.backup_repository_password}']));
    expect(json.variable.backup_repository_password).toMatchObject({ sensitive: true, nullable: false });
    expect(agent.networks_advanced).toEqual([{ name: 'webide-net-database' }]);
  });

  it('records every user with a home (archived too) and guards against users vanishing', () => {
    const { synthesized, json } = synthWorkspaces();
    expect(json.output.home_volume_users.value).toEqual(['alice', 'bob', 'erin']);
    const guard = JSON.parse(synthesized).resource.null_resource;
    const [check] = Object.entries(guard)
      .filter(([key]) => key.startsWith('home-volume-guard'))
      .map(([, value]) => value) as Array<{ lifecycle: { precondition: Array<{ condition: string; error_message: string }> } }>;
    expect(check.lifecycle.precondition[0].condition).toMatch(/^\$\{length\(sort\(tolist\(setsubtract\(toset\(local\.home-volume-guard_recorded-home-volume-users_\w+\), toset\(\["alice","bob","erin"\]\)\)\)\)\) == 0\}$/);
    const locals = Object.values(json.locals) as string[];
    expect(locals).toContain('${try(jsondecode(file("terraform.workspaces.tfstate")).outputs.home_volume_users.value, [])}');
    expect(check.lifecycle.precondition[0].error_message).toContain('state: archived');
    expect(synthesized).toHaveResource(NullResource);
    expect(synthesized).toHaveResource(Container);
  });

  it('with workspaces.shards above 1 keeps the roster-wide parts and a removed block for every user\'s links (the IDEs are in the shard stacks)', () => {
    const estate = defaultEstate((text) => text.replace('  allowFileTransfer: false\n', '  allowFileTransfer: false\n  shards: 2\n'));
    const stack = new WorkspacesStack(Testing.app(), 'workspaces', {
      estate,
      roster: rosterFromText(`${ROSTER}retired:\n  - { username: dave, reason: "CHG-1234: left the bank, home backed up" }\n`, estate),
      stateFile: 'terraform.workspaces.tfstate',
      nginxContainerId: 'nginx-container-id',
      egressProxyContainerId: 'egress-proxy-container-id',
    });
    const json = JSON.parse(Testing.synth(stack));
    expect(stack.workspaceNetworks.size).toBe(0);
    const resources = [...resourcesOf(json)];
    // From one stack to shards, this stack's apply disconnects nginx and the egress proxy (removed blocks at the links' addresses).
    expect(resources.filter(([key]) => key.includes('.users_'))).toEqual([]);
    expect([...removedOf(json).keys()].map((address) => address.replace(/_[0-9A-F]{8}$/, ''))).toEqual(
      ['alice', 'bob', 'dave', 'erin'].flatMap((user) => [`null_resource.users_${user}_nginx-link`, `null_resource.users_${user}_egress-link`]),
    );
    expect(resources.filter(([key]) => !key.includes('.users_')).map(([key]) => key.replace(/_[0-9A-F]{8}$/, ''))).toEqual([
      'docker_container.backup_agent_container',
      'docker_image.backup-image',
      'null_resource.backup_agent_pids-limit',
      'null_resource.home-volume-guard_check',
    ]);
    expect(json.output.home_volume_users.value).toEqual(['alice', 'bob', 'erin']);
    expect(json.output.retained_volumes.value).toEqual(['webide-home-alice', 'webide-home-bob', 'webide-home-erin']);
  });
});
