import { App, Testing } from 'cdktf';
import { buildEstate, STACK_IDS } from '../../stacks/estate';
import { defaultEstate, defaultRoster, generatedRosterYaml, rosterFromText } from '../helpers/inputs';
import { StackJson } from '../helpers/json';
import { synthEstate } from '../helpers/synth';

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

  it('refuses an estate with target swarm: nothing deploys it yet, and these stacks would put it all on one engine', () => {
    const swarm = { ...estate, target: 'swarm' as const };
    expect(() => buildEstate(Testing.app(), { estate: swarm, roster: defaultRoster(estate), stateDir: '/state' })).toThrow(
      "target swarm: the Swarm target is being built and nothing deploys it yet; these stacks are the docker target's (the default: remove target, or set target: docker)",
    );
  });
});
