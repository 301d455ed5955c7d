import { App, Aspects, TerraformStack, Testing } from 'cdktf';
import { assignWorkspaceShards } from '../../config/shards';
import { buildEstate, buildSwarmEstate, buildTargetEstate, estateStackIds, isWorkspaceShardStackId, selectStacks, STACK_IDS, SWARM_STACK_IDS } from '../../stacks/estate';
import { loadEstate } from '../../config/load';
import { formatFinding } from '../../policy/pack';
import { assetText, withoutEgress } from '../helpers/inputs';
import { SWARM_BLOCK, withDigests } from '../helpers/swarm';
import { defaultEstate, defaultRoster, generatedRosterYaml, rosterFromText } from '../helpers/inputs';
import { removedOf, resourcesOf, StackJson } from '../helpers/json';
import { synthAllStacks, synthEstate } from '../helpers/synth';

/** Every top-level key path of the estate's JSON (`stack/resource/type/name`, `stack/output/name` …) with its value. */
function flatten(estate: Record<string, StackJson>): Map<string, string> {
  const out = new Map<string, string>();
  for (const stack of STACK_IDS) {
    const json = estate[stack];
    for (const [section, byType] of Object.entries(json)) {
      if (section === 'resource' || section === 'data') {
        for (const [type, byName] of Object.entries(byType as Record<string, Record<string, unknown>>)) {
          for (const [name, body] of Object.entries(byName)) out.set(`${stack}/${section}/${type}/${name}`, JSON.stringify(body));
        }
      } else if (section === 'output' || section === 'variable') {
        for (const [name, body] of Object.entries(byType as Record<string, unknown>)) out.set(`${stack}/${section}/${name}`, JSON.stringify(body));
      } else {
        out.set(`${stack}/${section}`, JSON.stringify(byType));
      }
    }
  }
  return out;
}

function changedKeys(a: Map<string, string>, b: Map<string, string>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((key) => a.get(key) !== b.get(key)).sort();
}

const withoutMeta = (json: StackJson) => {
  const { ['//']: _meta, ...rest } = json as Record<string, unknown>;
  return rest;
};

describe('the whole estate', () => {
  const estate = defaultEstate();

  it.each(STACK_IDS)('matches the snapshot of the %s stack for the default roster', (id) => {
    const synthesized = synthEstate(estate, defaultRoster(estate));
    expect(withoutMeta(synthesized[id])).toMatchSnapshot();
  });

  it('contains every component of the estate', () => {
    const { stacks: _stacks, ...synthesized } = synthEstate(estate, defaultRoster(estate));
    const json = JSON.stringify(synthesized);
    for (const name of [
      'webide-nginx',
      'webide-oauth2-proxy',
      'webide-keycloak',
      'webide-postgres',
      'webide-litellm',
      'webide-tabby',
      'webide-vllm',
      'webide-ide-alice',
      'webide-prometheus',
      'webide-alertmanager',
      'webide-nginx-exporter',
      'webide-node-exporter',
      'webide-mtail',
    ]) {
      expect(json).toContain(`"name":"${name}"`);
    }
    for (const type of ['keycloak_realm', 'keycloak_realm_events', 'keycloak_openid_client', 'keycloak_group', 'keycloak_user', 'keycloak_user_groups', 'docker_network']) {
      expect(json).toContain(`"${type}"`);
    }
  });

  it('hardens every container it declares: non-root (but the waived event collector), read-only root, a pids limit, no capabilities, no DNS upstream', () => {
    const { stacks: _stacks, ...synthesized } = synthEstate(estate, defaultRoster(estate));
    const declared = Object.values(synthesized).flatMap((json) => Object.values(((json as StackJson).resource?.docker_container ?? {}) as Record<string, Record<string, any>>));
    // The managed files' loaders are created to receive files and never started: no process, nothing to harden.
    const loaders = declared.filter((c) => c.start === false && c.must_run === false);
    expect(loaders.map((c) => c.name).sort()).toEqual([
      'webide-managed-alertmanager-loader',
      'webide-managed-audit-loader',
      'webide-managed-egress-proxy-loader',
      'webide-managed-litellm-loader',
      'webide-managed-mtail-loader',
      'webide-managed-nginx-loader',
      'webide-managed-prometheus-loader',
      'webide-managed-workspace-loader',
    ]);
    const containers = declared.filter((c) => !loaders.includes(c));
    const names = containers.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['webide-nginx', 'webide-oauth2-proxy', 'webide-keycloak', 'webide-postgres', 'webide-litellm', 'webide-tabby', 'webide-vllm', 'webide-ide-alice']));
    for (const c of containers) {
      const facts = {
        name: c.name,
        root: c.user.split(':')[0] === '0',
        readOnly: c.read_only,
        pids: Number(c.labels.find((l: { label: string }) => l.label === 'webide.pids-limit')?.value) > 0,
        capabilities: c.capabilities,
        dns: c.dns,
      };
      // Two root containers, each with WEBIDE-C5 waived with its reason: the audit trail's event collector,
      // which opens the engine's socket, and the backup agent, which reads every home (its one capability).
      expect(facts).toEqual({
        name: c.name,
        root: ['webide-audit-events', 'webide-backup'].includes(c.name),
        readOnly: true,
        pids: true,
        capabilities: c.name === 'webide-backup' ? { add: ['CAP_DAC_READ_SEARCH'], drop: ['ALL'] } : { drop: ['ALL'] },
        // The egress proxy alone resolves the bank's names, through the resolvers egress.dnsServers names.
        dns: c.name === 'webide-egress-proxy' ? estate.egress!.dnsServers : ['192.0.2.53'],
      });
    }
  });

  it('is identical for any order of the roster (property: 25 random shuffles of 40 users)', () => {
    const base = generatedRosterYaml(40).split('\n');
    const header = base.slice(0, 3);
    const users = base.slice(3).filter(Boolean);
    const reference = flatten(synthEstate(estate, rosterFromText(generatedRosterYaml(40), estate)) as never);
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let round = 0; round < 25; round++) {
      const shuffled = [...users].sort(() => random() - 0.5);
      const text = [...header, ...shuffled, ''].join('\n');
      expect(changedKeys(reference, flatten(synthEstate(estate, rosterFromText(text, estate)) as never))).toEqual([]);
    }
  });

  it('adds only the new user\'s resources when a user is added (property: any position in a 30-user roster)', () => {
    const before = flatten(synthEstate(estate, rosterFromText(generatedRosterYaml(30), estate)) as never);
    for (const position of [0, 13, 30]) {
      const lines = generatedRosterYaml(30).split('\n');
      const newcomer = '  - { username: zz-newcomer, email: newcomer@corp.example, name: New Comer, groups: [developers] }';
      lines.splice(3 + position, 0, newcomer);
      const after = flatten(synthEstate(estate, rosterFromText(lines.join('\n'), estate)) as never);
      const changed = changedKeys(before, after);
      const unrelated = changed.filter((key) => !key.includes('zz-newcomer'));
      // Only outputs that list users change besides the newcomer's own resources.
      // (The guard's precondition lists users too; a lifecycle condition is not an attribute, so the plan shows no change.)
      expect(unrelated.map((key) => key.replace(/_[0-9A-F]{8}$/, ''))).toEqual([
        'workspaces/output/home_volume_users',
        'workspaces/output/retained_volumes',
        // The backup agent mounts every home: it is replaced (it holds no state; its volume stays).
        'workspaces/resource/docker_container/backup_agent_container',
        'workspaces/resource/null_resource/home-volume-guard_check',
      ]);
      const added = changed.filter((key) => key.includes('zz-newcomer'));
      expect(added.map((key) => key.replace(/_[0-9A-F]{8}$/, ''))).toEqual([
        'identity/resource/keycloak_user/roster_users_zz-newcomer_account',
        'identity/resource/keycloak_user_groups/roster_users_zz-newcomer_groups',
        'workspaces/resource/docker_container/users_zz-newcomer_ide_container',
        'workspaces/resource/docker_network/users_zz-newcomer_network',
        // The egress proxy's link to the new user's network (the sample estate declares egress).
        'workspaces/resource/null_resource/users_zz-newcomer_egress-link',
        'workspaces/resource/null_resource/users_zz-newcomer_ide_pids-limit',
        'workspaces/resource/null_resource/users_zz-newcomer_nginx-link',
      ]);
      for (const key of added) expect(before.has(key)).toBe(false);
    }
  });

  it('writes no secret into the synthesized JSON: every secret is a sensitive variable reference', () => {
    const synthesized = synthEstate(estate, defaultRoster(estate));
    const { stacks: _stacks, ...stacksJson } = synthesized;
    const json = JSON.stringify(stacksJson);
    expect(json).not.toMatch(/sk-[A-Za-z0-9]{8,}/);
    expect(json).not.toMatch(/(PASSWORD|SECRET|MASTER_KEY|API_KEY)=(?!\$\{)[^"]+"/);
    const variables = STACK_IDS.flatMap((id) => Object.entries((synthesized[id].variable ?? {}) as Record<string, { sensitive?: boolean }>));
    expect(variables.length).toBeGreaterThan(0);
    for (const [, variable] of variables) expect(variable.sensitive).toBe(true);
  });

  it('deploys in dependency order: platform (with nginx) → identity and workspaces → edge', () => {
    const app: App = Testing.app();
    const { platform, identity, workspaces, edge } = buildEstate(app, { estate, roster: defaultRoster(estate), stateDir: '/state' });
    // identity reaches Keycloak's admin API through nginx, so nginx must be in platform.
    expect(identity.dependencies).toContain(platform);
    expect(workspaces.dependencies).toContain(platform);
    expect(edge.dependencies).toContain(identity);
    expect(platform.dependencies).toEqual([]);
    expect(platform.nginx.proxy.container.node.path).toBe('platform/nginx/proxy/container');
  });

  it("refuses an estate with target swarm: these stacks would put it all on one engine", () => {
    const swarm = { ...estate, target: 'swarm' as const };
    expect(() => buildEstate(Testing.app(), { estate: swarm, roster: defaultRoster(estate), stateDir: '/state' })).toThrow(
      "target swarm: these stacks are the docker target's; buildTargetEstate builds the one the estate names",
    );
    expect(() => buildSwarmEstate(Testing.app(), { estate, roster: defaultRoster(estate), stateDir: '/state' })).toThrow(
      "target docker: these stacks are the swarm target's; buildTargetEstate builds the one the estate names",
    );
  });
});

describe('the estate on a swarm (target: swarm)', () => {
  const swarmEstate = loadEstate({ file: 'estate.yaml', text: `${withDigests(withoutEgress(assetText('estate.yaml')))}\n${SWARM_BLOCK}` });
  const roster = defaultRoster(swarmEstate);

  it('is five stacks in deploy order, each after what it looks up: ai → entry → identity; ai → workspaces; entry and identity → edge', () => {
    const { ai, entry, identity, workspaces, edge, all } = buildSwarmEstate(Testing.app(), { estate: swarmEstate, roster, stateDir: '/state' });
    expect(all.map((stack) => stack.node.id)).toEqual([...SWARM_STACK_IDS]);
    expect(estateStackIds(swarmEstate)).toEqual(['ai', 'entry', 'identity', 'workspaces', 'edge']);
    expect(ai.dependencies).toEqual([]);
    expect(entry.dependencies).toEqual([ai]);
    expect(identity.dependencies).toEqual([entry]);
    expect(workspaces.dependencies).toEqual([ai]);
    expect(edge.dependencies).toEqual(expect.arrayContaining([entry, identity]));
  });

  it('keeps what outlives a stack under the same names as on one host: each home, Keycloak\'s database volume, and the identity stack itself (what moving an estate to a swarm relies on)', () => {
    const oneHost = loadEstate({ file: 'estate.yaml', text: withoutEgress(assetText('estate.yaml')) });
    const docker = buildEstate(Testing.app(), { estate: oneHost, roster: defaultRoster(oneHost), stateDir: '/state' });
    const swarm = buildSwarmEstate(Testing.app(), { estate: swarmEstate, roster, stateDir: '/state' });
    const json = (stack: TerraformStack) => Testing.synth(stack);
    /** The sources of the volume mounts in a stack's JSON (containers' and services'). */
    const volumes = (stack: TerraformStack) => [...json(stack).matchAll(/"source": "([^"$]+)",\s*"target": "([^"]+)",\s*"type": "volume"|"type": "volume",\s*"source": "([^"$]+)"/g)].map((m) => m[1] ?? m[3]);
    for (const user of roster.users.filter((u) => u.state !== 'archived')) {
      expect(volumes(docker.workspaces)).toContain(`webide-home-${user.username}`);
      expect(volumes(swarm.workspaces)).toContain(`webide-home-${user.username}`);
    }
    expect(volumes(docker.platform)).toContain('webide-data-postgres');
    expect(volumes(swarm.entry)).toContain('webide-data-postgres');
    expect(json(swarm.identity)).toBe(json(docker.identity));
  });

  it('buildTargetEstate builds the stacks of the target the estate names, each with its own state file and Terraform 1.9 or later, under the policy pack', () => {
    const app = Testing.app();
    const { all, policy } = buildTargetEstate(app, { estate: swarmEstate, roster, stateDir: '/state' });
    expect(all.map((stack) => stack.node.id)).toEqual([...SWARM_STACK_IDS]);
    const terraformOf = (stack: TerraformStack) => (JSON.parse(Testing.synth(stack)) as { terraform: { backend: { local: { path: string } }; required_version?: string } }).terraform;
    for (const stack of all) {
      expect(terraformOf(stack).backend.local.path).toBe(`/state/terraform.${stack.node.id}.tfstate`);
      expect(terraformOf(stack).required_version).toBe('>= 1.9.0');
    }
    for (const stack of all) expect(Aspects.of(stack).all).toContain(policy);
    // Every service complies: limits, capabilities, user, read-only root, pids, mounts, ports (the rules read services too).
    expect(policy.check(app).map(formatFinding)).toEqual([]);
    const oneHost = defaultEstate();
    const oneHostStacks = buildTargetEstate(Testing.app(), { estate: oneHost, roster: defaultRoster(oneHost), stateDir: '/state' }).all;
    expect(oneHostStacks.map((stack) => stack.node.id)).toEqual([...STACK_IDS]);
    // Removed blocks with provisioners (the links of unlinked users) came in Terraform 1.9.
    for (const stack of oneHostStacks) expect({ stack: stack.node.id, required: terraformOf(stack).required_version }).toEqual({ stack: stack.node.id, required: '>= 1.9.0' });
  });
});

describe('the estate on a swarm with its workspaces in shards (target: swarm, workspaces.shards: 3)', () => {
  const text = `${withDigests(withoutEgress(assetText('estate.yaml')))}\n${SWARM_BLOCK}`;
  const estate = loadEstate({ file: 'estate.yaml', text: text.replace('  allowFileTransfer: false\n', '  allowFileTransfer: false\n  shards: 3\n') });
  const unsharded = loadEstate({ file: 'estate.yaml', text });
  const SHARD_STACKS = ['workspaces-ws-01', 'workspaces-ws-02', 'workspaces-ws-03'];
  const rosterOf = (count: number) => rosterFromText(generatedRosterYaml(count), estate);
  const roster = rosterOf(30);
  const shardOf = assignWorkspaceShards(roster.users.map((u) => u.username), 3);
  const build = (r = roster, e = estate) => buildSwarmEstate(Testing.app(), { estate: e, roster: r, stateDir: '/state' });
  const jsonOf = (stack: TerraformStack) => JSON.parse(Testing.synth(stack)) as StackJson;
  /** The usernames whose services a stack declares. */
  const servedUsers = (json: StackJson) =>
    [...resourcesOf(json).keys()].flatMap((key) => /^docker_service\.users_(.+)_ide_[0-9A-F]{8}$/.exec(key)?.[1] ?? []).sort();

  it('has a stack per shard after workspaces, each depending on ai (the forwarders’ overlay) and workspaces', () => {
    const { ai, workspaces, workspaceShards, all } = build();
    expect(estateStackIds(estate)).toEqual(['ai', 'entry', 'identity', 'workspaces', ...SHARD_STACKS, 'edge']);
    expect(all.map((stack) => stack.node.id)).toEqual(estateStackIds(estate));
    expect(workspaceShards.map((stack) => [stack.node.id, stack.shard])).toEqual(SHARD_STACKS.map((id) => [id, id.slice('workspaces-'.length)]));
    for (const shard of workspaceShards) {
      expect(shard.dependencies).toEqual([ai, workspaces]);
      expect((jsonOf(shard) as unknown as { terraform: { backend: unknown } }).terraform.backend).toEqual({ local: { path: `/state/terraform.${shard.node.id}.tfstate` } });
    }
  });

  it("puts each user's IDE in exactly one stack, their shard's, on the node the whole roster's placement gives; the workspaces stack keeps only the placement guard over everyone", () => {
    const { workspaces, workspaceShards } = build();
    const workspacesJson = jsonOf(workspaces);
    expect(servedUsers(workspacesJson)).toEqual([]);
    expect([...resourcesOf(workspacesJson).keys()].map((key) => key.split('.')[0])).toEqual(['null_resource']);
    expect((workspacesJson.output as Record<string, { value: unknown }>).home_nodes.value).toEqual(Object.fromEntries(workspaces.placement));
    const active = roster.users.filter((u) => u.state !== 'archived').map((u) => u.username).sort();
    const seen: string[] = [];
    for (const shard of workspaceShards) {
      const users = servedUsers(jsonOf(shard));
      expect(users.length).toBeGreaterThan(0);
      for (const username of users) expect(shardOf.get(username)).toBe(shard.shard);
      for (const [key, body] of resourcesOf(jsonOf(shard))) {
        const username = /^docker_service\.users_(.+)_ide_[0-9A-F]{8}$/.exec(key)?.[1];
        if (username) expect((body as { task_spec: { placement: { constraints: string[] } } }).task_spec.placement.constraints).toEqual([`node.hostname==${workspaces.placement.get(username)}`]);
      }
      seen.push(...users);
    }
    expect(seen.sort()).toEqual(active);
    // The same placement as the unsharded swarm estate: a split moves nobody's home.
    expect(workspaces.placement).toEqual(build(roster, unsharded).workspaces.placement);
  });

  it('gives each shard its own managed-file configs (Swarm config names are unique across the swarm)', () => {
    const configNames = (stack: TerraformStack) =>
      [...resourcesOf(jsonOf(stack))].filter(([key]) => key.startsWith('docker_config.managed-')).map(([, body]) => (body as { name: string }).name);
    const byShard = build().workspaceShards.map(configNames);
    for (const names of byShard) expect(names.length).toBeGreaterThan(0);
    const all = byShard.flat();
    expect(new Set(all).size).toBe(all.length);
  });

  it("a one-user roster edit changes only that user's shard stack and the workspaces stack's record of nodes", () => {
    const before = build(rosterOf(30));
    const after = build(rosterOf(31));
    const added = 'user-0031';
    const shard = `workspaces-${assignWorkspaceShards([added], 3).get(added)}`;
    const changed = after.all.filter((stack, i) => Testing.synth(stack) !== Testing.synth(before.all[i])).map((stack) => stack.node.id);
    expect(changed).toEqual(['identity', 'workspaces', shard]);
    const shardJson = (stacks: typeof before) => jsonOf(stacks.workspaceShards.find((s) => s.node.id === shard)!);
    expect(servedUsers(shardJson(after))).toEqual([...servedUsers(shardJson(before)), added].sort());
  });

  it('passes the policy pack', () => {
    const app = Testing.app();
    const { policy } = buildSwarmEstate(app, { estate, roster, stateDir: '/state' });
    expect(policy.check(app).map(formatFinding)).toEqual([]);
  });
});

describe('the estate with its workspaces in shards (workspaces.shards: 3)', () => {
  const estate = defaultEstate((text) => text.replace('  allowFileTransfer: false\n', '  allowFileTransfer: false\n  shards: 3\n'));
  const RETIRED = 'retired:\n  - { username: ret-one, reason: "CHG-1: left the bank, home archived" }\n  - { username: ret-two, reason: "CHG-2: left the bank, home archived" }\n';
  /** 40 generated users (user-0007 suspended, user-0011 archived) and two retired ones. */
  const rosterText = (extraUsers: string[] = []) => {
    const lines = generatedRosterYaml(40).trimEnd().split('\n');
    const users = lines
      .slice(3)
      .map((line) => (line.includes('user-0007,') ? line.replace(/ }$/, ', state: suspended }') : line.includes('user-0011,') ? line.replace(/ }$/, ', state: archived }') : line));
    return [...lines.slice(0, 3), ...users, ...extraUsers, ''].join('\n') + RETIRED;
  };
  const roster = rosterFromText(rosterText(), estate);
  const shardOf = assignWorkspaceShards([...roster.users.map((u) => u.username), ...roster.retired], 3);
  const synthesized = synthAllStacks(estate, roster);
  const SHARD_STACKS = ['workspaces-ws-01', 'workspaces-ws-02', 'workspaces-ws-03'];

  it('has a stack per shard, workspaces-ws-01 … after the workspaces stack, each depending on platform and workspaces', () => {
    expect(estateStackIds(estate)).toEqual(['platform', 'identity', 'workspaces', ...SHARD_STACKS, 'edge']);
    expect([...synthesized.keys()]).toEqual(estateStackIds(estate));
    const { workspaceShards, all, platform, workspaces } = buildEstate(Testing.app(), { estate, roster, stateDir: '/state' });
    expect(workspaceShards.map((stack) => [stack.node.id, stack.shard])).toEqual(SHARD_STACKS.map((id) => [id, id.slice('workspaces-'.length)]));
    for (const shard of workspaceShards) expect(shard.dependencies).toEqual([platform, workspaces]);
    expect(all.map((stack) => stack.node.id)).toEqual(estateStackIds(estate));
    // Each names its own state file.
    for (const id of SHARD_STACKS) expect(JSON.parse(synthesized.get(id)!).terraform.backend).toEqual({ local: { path: `/var/lib/webide/state/terraform.${id}.tfstate` } });
  });

  it("puts each user's resources in exactly one stack, their shard's; the workspaces stack keeps only removed blocks for their links", () => {
    const json = new Map([...synthesized].map(([id, text]) => [id, JSON.parse(text) as StackJson]));
    // The users of the test roster spread over all three shards.
    expect(new Set(shardOf.values())).toEqual(new Set(['ws-01', 'ws-02', 'ws-03']));
    const withoutHash = (address: string) => address.replace(/_[0-9A-F]{8}$/, '');
    for (const username of [...roster.users.map((u) => u.username), ...roster.retired]) {
      const isMine = (address: string) => address.split('.')[1].startsWith(`users_${username}_`);
      const mine = (id: string) => [...resourcesOf(json.get(id)!).keys()].filter(isMine);
      const removedLinks = (id: string) => [...removedOf(json.get(id)!).keys()].filter(isMine).map(withoutHash).sort();
      const bothLinks = [`null_resource.users_${username}_egress-link`, `null_resource.users_${username}_nginx-link`];
      const withoutNetwork = roster.retired.includes(username) || username === 'user-0011';
      // A suspended user keeps their network and home, and no service is linked to them.
      const unlinked = withoutNetwork || username === 'user-0007';
      // In the roster-wide stack: removed blocks for nginx's and the egress proxy's links, which
      // disconnect the services from the network of a user moved here from an unsharded estate.
      expect({ username, resources: mine('workspaces'), removed: removedLinks('workspaces') }).toEqual({ username, resources: [], removed: bothLinks });
      const holders = [...json.keys()].filter((id) => mine(id).length > 0);
      expect({ username, holders }).toEqual({ username, holders: withoutNetwork ? [] : [`workspaces-${shardOf.get(username)}`] });
      const removers = [...json.keys()].filter((id) => id !== 'workspaces' && removedLinks(id).length > 0);
      expect({ username, removers }).toEqual({ username, removers: unlinked ? [`workspaces-${shardOf.get(username)}`] : [] });
    }
    // The roster-wide parts stay in the workspaces stack.
    const workspaces = json.get('workspaces')!;
    expect(Object.keys(workspaces.output as object)).toEqual(['home_volume_users', 'retained_volumes']);
    expect([...resourcesOf(workspaces).keys()].filter((key) => !key.includes('.users_')).map((key) => key.replace(/_[0-9A-F]{8}$/, ''))).toEqual([
      'docker_container.backup_agent_container',
      'docker_image.backup-image',
      'null_resource.backup_agent_pids-limit',
      'null_resource.home-volume-guard_check',
    ]);
    expect((workspaces.output as Record<string, { value: string[] }>).home_volume_users.value).toHaveLength(40);
  });

  it('gives every Docker object a name of its own across all stacks (each shard has its own managed files)', () => {
    const names = [...synthesized.values()].flatMap((text) =>
      [...resourcesOf(JSON.parse(text))].filter(([key]) => /^docker_(container|network|volume)\./.test(key)).map(([, body]) => String(body.name)),
    );
    expect(names.length).toBeGreaterThan(80);
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
    expect(names.filter((name) => name.endsWith('-loader') && name.includes('workspace')).sort()).toEqual([
      'webide-managed-workspace-ws-01-loader',
      'webide-managed-workspace-ws-02-loader',
      'webide-managed-workspace-ws-03-loader',
    ]);
  });

  it("changes only the new user's shard stack, the workspaces stack and identity when a user is added (property: 6 newcomers)", () => {
    for (const newcomer of ['zz-newcomer', 'erin', 'mallory', 'a1', 'ops-7', 'quentin']) {
      const after = synthAllStacks(estate, rosterFromText(rosterText([`  - { username: ${newcomer}, email: ${newcomer}@corp.example, name: New Comer, groups: [developers] }`]), estate));
      const changed = [...after.keys()].filter((id) => after.get(id) !== synthesized.get(id));
      const shard = assignWorkspaceShards([newcomer], 3).get(newcomer);
      expect({ newcomer, changed }).toEqual({ newcomer, changed: ['identity', 'workspaces', `workspaces-${shard}`] });
    }
  });

  it('is identical, stack by stack, for any order of the roster (property: 5 shuffles)', () => {
    const lines = rosterText().split('\n');
    const users = lines.filter((line) => line.startsWith('  - { username: user-'));
    let seed = 11;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let round = 0; round < 5; round++) {
      const shuffledUsers = [...users].sort(() => random() - 0.5);
      const text = lines.map((line) => (line.startsWith('  - { username: user-') ? shuffledUsers.shift()! : line)).join('\n');
      const again = synthAllStacks(estate, rosterFromText(text, estate));
      expect([...again.keys()].filter((id) => again.get(id) !== synthesized.get(id))).toEqual([]);
    }
  });

  it('leaves platform and edge as they are with one shard, and has no shard stacks then', () => {
    const one = synthAllStacks(defaultEstate(), rosterFromText(rosterText(), defaultEstate()));
    expect([...one.keys()]).toEqual([...STACK_IDS]);
    expect(estateStackIds(defaultEstate())).toEqual([...STACK_IDS]);
    for (const id of ['platform', 'edge']) expect(synthesized.get(id)).toBe(one.get(id));
  });

  it('applies the policy pack to the shard stacks: an unpinned IDE image is found in each, and a workspaces* suppression waives it', () => {
    const findings = (suppressions: typeof estate.suppressions) => {
      const app = Testing.app();
      const { policy } = buildEstate(app, { estate: { ...estate, suppressions }, roster, stateDir: '/state' });
      return policy.check(app).map((f) => `${f.path} ${f.rule}`);
    };
    const others = estate.suppressions.filter((s) => s.rule !== 'WEBIDE-I1' || !s.resource.startsWith('workspaces'));
    expect(findings(others).filter((f) => f.startsWith('workspaces'))).toEqual([
      'workspaces/backup-image WEBIDE-I1',
      ...SHARD_STACKS.map((id) => `${id}/code-server-image WEBIDE-I1`),
    ]);
    expect(findings(estate.suppressions)).toEqual([]);
  });

  it('selects stacks by id or pattern in deploy order (PLAN_STACKS), naming what matches nothing', () => {
    const known = estateStackIds(estate);
    expect(selectStacks(known, undefined)).toEqual({ stacks: known, unknown: [] });
    expect(selectStacks(known, 'workspaces*, identity')).toEqual({ stacks: ['identity', 'workspaces', ...SHARD_STACKS], unknown: [] });
    expect(selectStacks(known, 'workspaces-ws-02,workspaces-ws-09,nope*')).toEqual({ stacks: ['workspaces-ws-02'], unknown: ['workspaces-ws-09', 'nope*'] });
    expect(known.filter(isWorkspaceShardStackId)).toEqual(SHARD_STACKS);
    expect(['workspaces', 'workspaces-x', 'edge'].filter(isWorkspaceShardStackId)).toEqual([]);
  });
});
