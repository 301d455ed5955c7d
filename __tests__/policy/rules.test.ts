import { App, Aspects, Testing, TerraformStack } from 'cdktf';
import { Container, ContainerConfig } from '@cdktf/provider-docker/lib/container';
import { Image } from '@cdktf/provider-docker/lib/image';
import { Network } from '@cdktf/provider-docker/lib/network';
import { DockerProvider } from '@cdktf/provider-docker/lib/provider';
import { Realm, RealmConfig } from '../../.gen/providers/keycloak/realm';
import { RealmEvents } from '../../.gen/providers/keycloak/realm-events';
import { User } from '../../.gen/providers/keycloak/user';
import { HardenedContainer, HardenedContainerProps } from '../../constructs/hardened-container';
import { EstatePolicyPack } from '../../policy/pack';
import { Compliance, PolicyContext, PolicyRule } from '../../policy/rule';
import { ESTATE_RULES } from '../../policy/rules';
import { capabilitiesDropped, containerLimits, noHostMounts, noPrivileged, onlyNginxPublishes, workspacesInternalOnly } from '../../policy/rules/containers';
import { otpRequired, realmEventsOn, realmHardened } from '../../policy/rules/identity';
import { imagesPinned } from '../../policy/rules/images';
import { noSecretLiterals } from '../../policy/rules/secrets';

const context: PolicyContext = {
  profile: 'production',
  hostPathAllowList: ['/etc/webide/tls/fullchain.pem'],
  internalNetworkNames: new Set(['${docker_network.internal.name}']),
};

function stack(): TerraformStack {
  return new TerraformStack(Testing.app(), 'test');
}

function hardened(scope: TerraformStack, props: Partial<HardenedContainerProps> = {}): Container {
  const image = new Image(scope, `img-${Math.random().toString(36).slice(2)}`, { name: 'registry.corp.example/x:1@sha256:' + 'a'.repeat(64) });
  return new HardenedContainer(scope, `svc-${Math.random().toString(36).slice(2)}`, {
    containerName: 'svc',
    image,
    networks: [{ name: '${docker_network.internal.name}' }],
    user: '1000:1000',
    memoryMiB: 256,
    cpus: 1,
    labels: { 'webide.component': 'svc' },
    ...props,
  }).container;
}

function raw(scope: TerraformStack, config: Partial<ContainerConfig>): Container {
  return new Container(scope, `raw-${Math.random().toString(36).slice(2)}`, { name: 'raw', image: 'x', ...config });
}

function realm(scope: TerraformStack, config: Partial<RealmConfig> = {}): Realm {
  return new Realm(scope, `realm-${Math.random().toString(36).slice(2)}`, {
    realm: 'r',
    passwordPolicy: 'length(12)',
    otpPolicy: { type: 'totp' },
    securityDefenses: { bruteForceDetection: { maxLoginFailures: 5 } },
    ...config,
  });
}

const cases: Array<[PolicyRule, (s: TerraformStack) => unknown, (s: TerraformStack) => unknown]> = [
  [containerLimits, (s) => hardened(s), (s) => raw(s, { memory: 512 })],
  [noPrivileged, (s) => hardened(s), (s) => raw(s, { privileged: true })],
  [capabilitiesDropped, (s) => hardened(s), (s) => raw(s, { capabilities: { drop: ['NET_RAW'] }, securityOpts: ['no-new-privileges:true'] })],
  [noHostMounts, (s) => hardened(s, { mounts: [{ type: 'bind', source: '/etc/webide/tls/fullchain.pem', target: '/tls.pem', readOnly: true }] }),
    (s) => hardened(s, { mounts: [{ type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock' }] })],
  [onlyNginxPublishes, (s) => hardened(s, { labels: { 'webide.component': 'nginx' }, ports: [{ internal: 8443, external: 443 }] }),
    (s) => hardened(s, { ports: [{ internal: 4000, external: 4000 }] })],
  [workspacesInternalOnly, (s) => hardened(s, { labels: { 'webide.component': 'workspace' } }),
    (s) => hardened(s, { labels: { 'webide.component': 'workspace' }, networks: [{ name: 'bridge' }] })],
  [imagesPinned, (s) => new Image(s, 'pinned', { name: `registry.corp.example/x:1@sha256:${'b'.repeat(64)}` }), (s) => new Image(s, 'tag-only', { name: 'registry.corp.example/x:1' })],
  [realmHardened, (s) => realm(s), (s) => realm(s, { securityDefenses: undefined })],
  [realmEventsOn, (s) => new RealmEvents(s, 'ev', { realmId: 'r', eventsEnabled: true, adminEventsEnabled: true, adminEventsDetailsEnabled: true, eventsExpiration: 86400 }),
    (s) => new RealmEvents(s, 'ev', { realmId: 'r', eventsEnabled: true, adminEventsEnabled: false })],
  [otpRequired, (s) => new User(s, 'u', { realmId: 'r', username: 'a', requiredActions: ['CONFIGURE_TOTP'] }), (s) => new User(s, 'u', { realmId: 'r', username: 'a' })],
  [noSecretLiterals, (s) => hardened(s, { env: { DB_PASSWORD: '${var.db_password}' } }), (s) => hardened(s, { env: { DB_PASSWORD: 'hunter2hunter2' } })],
];

describe.each(cases.map(([rule, good, bad]) => [rule.id, rule, good, bad] as const))('policy rule %s', (_id, rule, compliant, nonCompliant) => {
  it(`${rule.id} stays quiet on a compliant resource`, () => {
    const s = stack();
    const node = compliant(s) as never;
    expect(rule.check(node, context)).toBe(Compliance.COMPLIANT);
  });
  it(`${rule.id} fires on a non-compliant resource`, () => {
    const s = stack();
    const node = nonCompliant(s) as never;
    expect(rule.check(node, context)).toBe(Compliance.NON_COMPLIANT);
  });
});

describe('the policy pack', () => {
  it('has a test case for every rule', () => {
    expect(cases.map(([rule]) => rule.id).sort()).toEqual(ESTATE_RULES.map((rule) => rule.id).sort());
  });

  it('stops a real synth with the rule id, the resource path and the fix', () => {
    const app = new App({ outdir: require('fs').mkdtempSync(require('path').join(require('os').tmpdir(), 'pack-')) });
    const s = new TerraformStack(app, 'platform');
    new DockerProvider(s, 'docker', {});
    new Network(s, 'internal', { name: 'n', internal: true });
    raw(s, { privileged: true, memory: 256, cpuQuota: 1, cpuPeriod: 1, capabilities: { drop: ['ALL'] }, securityOpts: ['no-new-privileges:true'] }).node;
    Aspects.of(s).add(new EstatePolicyPack({ rules: [noPrivileged], context: { profile: 'local', hostPathAllowList: [] }, suppressions: [] }));
    expect(() => app.synth()).toThrow(/\[platform\/raw-\w+\] \[WEBIDE-C2\] No container runs privileged\. Fix: Remove privileged: true/);
  });

  it('turns a suppressed violation into a warning that carries the reason, and records it', () => {
    const s = stack();
    new Image(s, 'tag-only', { name: 'registry.corp.example/x:1' });
    const pack = new EstatePolicyPack({
      rules: [imagesPinned],
      context: { profile: 'production', hostPathAllowList: [] },
      suppressions: [{ rule: 'WEBIDE-I1', resource: 'test/tag-only', reason: 'Digest recorded at import under CHG-42.' }],
    });
    Aspects.of(s).add(pack);
    Testing.synth(s);
    expect(pack.applied).toEqual([{ rule: 'WEBIDE-I1', resource: 'test/tag-only', reason: 'Digest recorded at import under CHG-42.', path: 'test/tag-only' }]);
    const annotations = s.node
      .findAll()
      .flatMap((n) => n.node.metadata.filter((m) => m.type.startsWith('@cdktf/')).map((m) => [m.type, m.data]));
    expect(annotations).toEqual([['@cdktf/warn', expect.stringContaining('[WEBIDE-I1] suppressed')]]);
  });
});
