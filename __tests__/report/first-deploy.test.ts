import {
  declaredResources,
  explainTerraformFailure,
  firstDeploymentNote,
  ownStatePath,
  placeholderState,
  recordsResources,
  remoteStateOverride,
  StackConfig,
  upstreamReads,
} from '../../report/first-deploy';
import { analysePlans, exitCodeOf } from '../../report/analyse';
import { renderReportJson, renderReportMarkdown } from '../../report/render';
import { StackPlan } from '../../report/plan';
import { defaultEstate, defaultRoster } from '../helpers/inputs';
import { synthEstate } from '../helpers/synth';

/** A first deploy of a synthesized stack as a plan: every resource it declares created with its configured values. */
function createEverything(stack: string, config: StackConfig): StackPlan {
  const resource_changes = Object.entries(config.resource ?? {}).flatMap(([type, byName]) =>
    Object.entries(byName).map(([name, values]) => ({ address: `${type}.${name}`, type, change: { actions: ['create'], before: null, after: values as Record<string, any> } })),
  );
  return { stack, plan: { resource_changes } };
}

describe('planning a first deployment', () => {
  const estate = defaultEstate();
  const stacks = synthEstate(estate, defaultRoster(estate)) as unknown as Record<'platform' | 'identity' | 'workspaces' | 'edge', StackConfig>;

  it('finds which upstream state each stack reads (workspaces: platform, edge: identity) and its own state file', () => {
    expect(upstreamReads(stacks.platform)).toEqual([]);
    expect(upstreamReads(stacks.identity)).toEqual([]);
    expect(upstreamReads(stacks.workspaces)).toEqual([
      { dataSource: 'cross-stack-reference-input-platform', upstream: 'platform', statePath: '/var/lib/webide/state/terraform.platform.tfstate' },
    ]);
    expect(upstreamReads(stacks.edge)).toEqual([
      { dataSource: 'cross-stack-reference-input-identity', upstream: 'identity', statePath: '/var/lib/webide/state/terraform.identity.tfstate' },
    ]);
    expect(ownStatePath(stacks.workspaces)).toBe('/var/lib/webide/state/terraform.workspaces.tfstate');
  });

  it('stands in for an upstream state with every value the downstream stack reads, as a placeholder', () => {
    const state = placeholderState('platform', stacks.platform) as { version: number; resources: unknown[]; outputs: Record<string, { value: string }> };
    expect(state.version).toBe(4);
    expect(state.resources).toEqual([]);
    const read = JSON.stringify(stacks.workspaces).match(/cross-stack-reference-input-platform\.outputs\.([\w-]+)/g)!.map((m) => m.split('.outputs.')[1]);
    expect(read.length).toBeGreaterThan(0);
    for (const name of read) expect(state.outputs[name]).toEqual({ value: '(known after platform is applied)', type: 'string' });
  });

  it('counts a stack as applied only when its state records a resource', () => {
    expect(recordsResources(undefined)).toBe(false);
    expect(recordsResources('')).toBe(false); // a locking plan creates the file empty
    expect(recordsResources('{"version": 4, "outputs": {}, "resources": []}')).toBe(false);
    expect(recordsResources('{"version": 4, "resources": [{"type": "docker_network"}]}')).toBe(true);
    expect(recordsResources('not json')).toBe(false);
  });

  it('points the remote-state read at the stand-in through an override', () => {
    expect(remoteStateOverride([{ dataSource: 'cross-stack-reference-input-platform', placeholderStateFile: '/tmp/x/platform.tfstate' }])).toEqual({
      data: { terraform_remote_state: { 'cross-stack-reference-input-platform': { config: { path: '/tmp/x/platform.tfstate' } } } },
    });
  });

  it('lists what a stack with no state creates, and says why a plan has placeholders', () => {
    const resources = declaredResources(stacks.edge);
    expect(resources).toEqual([...resources].sort());
    expect(resources).toEqual(expect.arrayContaining(['docker_image.oauth2-proxy-image']));
    expect(firstDeploymentNote([])).toBe('first deployment (no state yet)');
    expect(firstDeploymentNote(['platform'])).toBe(
      'first deployment, planned before platform is applied: values read from platform show as "(known after platform is applied)"; plan again after applying platform',
    );
  });

  it('raises no identity risk for a first deploy: the MFA flow, the revocation window, the directory federation and its group memberships', () => {
    const directoryEstate = defaultEstate((text) =>
      text.replace('  events: { expirationDays: 90 }\n', '  events: { expirationDays: 90 }\n  directory: { url: "ldaps://ldap.corp.example:636", bindDn: "cn=kc,dc=corp", usersDn: "ou=people,dc=corp" }\n'),
    );
    const directory = synthEstate(directoryEstate, defaultRoster(directoryEstate)) as unknown as Record<'identity', StackConfig>;
    expect(Object.keys(stacks.identity.resource!)).toEqual(expect.arrayContaining(['keycloak_authentication_flow', 'keycloak_authentication_execution', 'keycloak_authentication_bindings']));
    expect(Object.keys(directory.identity.resource!)).toEqual(expect.arrayContaining(['keycloak_ldap_user_federation', 'keycloak_group_memberships']));
    const report = analysePlans([createEverything('identity', stacks.identity), createEverything('edge', stacks.edge), createEverything('identity', directory.identity)]);
    expect(report.risks.filter((r) => r.category === 'realm-security' || r.category === 'directory')).toEqual([]);
    expect(report.risks.filter((r) => r.stack === 'identity')).toEqual([]);
  });

  it('explains a terraform failure in one line, naming the service a plan needs', () => {
    const context = { dockerHost: 'unix:///var/run/docker.sock', keycloakUrl: 'https://ide.corp.example' };
    const docker = '╷\n│ Error: Error pinging Docker server: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n╵\n';
    expect(explainTerraformFailure(docker, context)).toBe(
      'needs the Docker engine at unix:///var/run/docker.sock, which is not reachable from here (Error pinging Docker server: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?)',
    );
    const keycloak = '│ Error: error sending POST request to https://ide.corp.example/realms/master/protocol/openid-connect/token: dial tcp: connection refused\n';
    expect(explainTerraformFailure(keycloak, context)).toMatch(/^needs Keycloak at https:\/\/ide\.corp\.example, which is not reachable from here/);
    expect(explainTerraformFailure('│ Error: No value for required variable\n', context)).toBe('a TF_VAR_* secret is missing or invalid (No value for required variable)');
  });
});

describe('a report with a stack that could not be planned', () => {
  const report = analysePlans([
    { stack: 'platform', plan: { resource_changes: [] }, note: 'first deployment (no state yet)' },
    { stack: 'workspaces', reason: 'needs the Docker engine at unix:///var/run/docker.sock, which is not reachable from here', creates: ['docker_network.a', 'docker_container.b'] },
  ]);

  it('is incomplete: exit 1, a headline that says so, the reason and what the stack will create', () => {
    expect(exitCodeOf(report)).toBe(1);
    const markdown = renderReportMarkdown(report, []);
    expect(markdown).toContain('**Incomplete: 1 stack(s) could not be planned (see "Not planned"); do not approve on this report alone.**');
    expect(markdown).toContain('| platform | 0 | 0 | 0 | 0 | first deployment (no state yet) |');
    expect(markdown).toContain('| workspaces | – | – | – | – | **not planned**: needs the Docker engine at unix:///var/run/docker.sock, which is not reachable from here |');
    expect(markdown).toContain('It has no state yet: its first apply creates all 2 resource(s) it declares:\n\n* `docker_network.a`\n* `docker_container.b`');
    expect(JSON.parse(renderReportJson(report, [])).exitCode).toBe(1);
  });
});
