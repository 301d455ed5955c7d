import { App, Aspects, Testing, TerraformStack } from 'cdktf';
import { Container, ContainerConfig } from '../../.gen/providers/docker/container';
import { Image } from '../../.gen/providers/docker/image';
import { Network } from '../../.gen/providers/docker/network';
import { DockerProvider } from '../../.gen/providers/docker/provider';
import { Realm, RealmConfig } from '../../.gen/providers/keycloak/realm';
import { RealmEvents } from '../../.gen/providers/keycloak/realm-events';
import { User } from '../../.gen/providers/keycloak/user';
import { HardenedContainer, HardenedContainerProps } from '../../constructs/hardened-container';
import { Service, ServiceConfig } from '../../.gen/providers/docker/service';
import { hardenedSwarmService, HardenedSwarmServiceProps } from '../../constructs/swarm-files';
import { EstatePolicyPack, suppressionCovers } from '../../policy/pack';
import { Compliance, PolicyContext, PolicyRule } from '../../policy/rule';
import { ESTATE_RULES } from '../../policy/rules';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';
import {
  capabilitiesDropped,
  containerLimits,
  noHostMounts,
  noPrivileged,
  nonRoot,
  onlyNginxPublishes,
  pidsLimited,
  readOnlyRoot,
  workspacesInternalOnly,
} from '../../policy/rules/containers';
import { otpRequired, realmEventsOn, realmHardened } from '../../policy/rules/identity';
import { imagesPinned } from '../../policy/rules/images';
import { noSecretLiterals } from '../../policy/rules/secrets';
import { aiGatewayClosed, gatewayForwards, gatewayViolations, masterKeyExposures } from '../../policy/rules/ai-gateway';
import { listenerViolations, listenersPlaced } from '../../policy/rules/listeners';
import { egressInternalOnly, egressViolations } from '../../policy/rules/egress';
import { EGRESS_PROXY_LABELS, egressProxyLabels } from '../../config/egress';
import { NGINX_PATHS } from '../../constructs/nginx-entry';
import { ManagedFiles } from '../../constructs/managed-files';
import { AI_GATEWAY_ROUTES } from '../../render/ai-gateway';
import { NginxConfigInput, renderNginxConf, renderNginxSecretsTemplate } from '../../render/nginx';

const context: PolicyContext = {
  profile: 'production',
  hostPathAllowList: ['/etc/webide/tls/fullchain.pem'],
  internalNetworks: new Set(['${docker_network.internal.name}', '${docker_network.internal.id}', '${docker_network.identity.name}', '${docker_network.ai.name}']),
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
    pidsLimit: 128,
    dockerHost: 'unix:///var/run/docker.sock',
    labels: { 'webide.component': 'svc' },
    ...props,
  }).container;
}

/** A HardenedContainer whose pids-limit step was tampered with: another limit, or no step at all. */
function pidsStepAltered(scope: TerraformStack, alter: 'other-limit' | 'removed'): Container {
  const container = hardened(scope);
  const wrapper = container.node.scope!;
  wrapper.node.tryRemoveChild('pids-limit');
  if (alter === 'other-limit') {
    new NullResource(wrapper, 'pids-limit', { triggers: { container_id: container.id, pids_limit: '999999' } });
  }
  return container;
}

/** A Swarm service as the swarm target's stacks make them (hardenedSwarmService), with its pids step. */
function swarmService(scope: TerraformStack, props: Partial<HardenedSwarmServiceProps> = {}): Service {
  return hardenedSwarmService(scope, `svc-${Math.random().toString(36).slice(2)}`, {
    name: 'svc',
    labels: [{ label: 'webide.component', value: 'svc' }],
    container: { image: 'registry.corp.example/x:1@sha256:' + 'a'.repeat(64), user: '1000:1000' },
    networks: [{ id: '${docker_network.internal.id}' }],
    constraints: ['node.role==manager'],
    resources: { memoryBytes: 256 << 20, nanoCpus: 1e9 },
    pidsLimit: 128,
    dockerHost: 'unix:///var/run/docker.sock',
    ...props,
  }).service;
}

/** A Swarm service written by hand, without the hardening. */
function rawService(scope: TerraformStack, containerSpec: Partial<ServiceConfig['taskSpec']['containerSpec']> = {}, config: Partial<ServiceConfig> = {}): Service {
  return new Service(scope, `raw-svc-${Math.random().toString(36).slice(2)}`, { name: 'raw', taskSpec: { containerSpec: { image: 'x', ...containerSpec } }, ...config });
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

function nginxInput(overrides: Partial<NginxConfigInput> = {}): NginxConfigInput {
  return {
    domain: 'ide.corp.example',
    httpsPort: 443,
    tlsProtocols: ['TLSv1.2', 'TLSv1.3'],
    tlsCurves: ['X25519'],
    certificatePath: '/etc/nginx/tls/fullchain.pem',
    keyPath: '/etc/nginx/tls/privkey.pem',
    realm: 'webide',
    adminAllowCidrs: [],
    upstreams: { keycloak: 'k:8080', oauth2Proxy: 'o:4180', litellm: 'l:4000', tabby: 't:8080' },
    workspaceHostPrefix: 'webide-ide-',
    workspacePort: 8080,
    aiGatewayPort: 8081,
    secretsIncludePath: '/etc/nginx/secrets/ai-gateway.conf',
    listenAddresses: { edge: '10.202.0.14', identity: '10.202.0.30', ai: '10.202.0.46' },
    aiLimits: { chat: { perMinute: 30, burst: 10 }, completion: { perMinute: 600, burst: 40 } },
    gatewayUsersInclude: '/etc/nginx/gateway-users/*.conf',
    ...overrides,
  };
}

/**
 * The rendered files and the gateway's env on one nginx-labelled container (NginxEntry splits
 * them between nginx and its files' loader; the rules check each container they are given).
 */
function nginxContainer(s: TerraformStack, opts: { conf?: string; template?: string; env?: Record<string, string>; networks?: HardenedContainerProps['networks'] } = {}): Container {
  return hardened(s, {
    labels: { 'webide.component': 'nginx' },
    readOnlyRootfs: false,
    ...(opts.networks ? { networks: opts.networks } : {}),
    env: opts.env ?? { LITELLM_GATEWAY_KEY: '${var.litellm_gateway_key}', TABBY_API_TOKEN: '${var.tabby_api_token}' },
    uploads: [
      { file: NGINX_PATHS.config, content: opts.conf ?? renderNginxConf(nginxInput()) },
      { file: NGINX_PATHS.secretsTemplate, content: opts.template ?? renderNginxSecretsTemplate() },
    ],
  });
}

/** nginx's networks as the platform stack gives them: edge (with a route out), identity and ai, each with nginx's fixed address. */
const NGINX_NETWORKS = [
  { name: '${docker_network.edge.name}', ipv4Address: '10.202.0.14' },
  { name: '${docker_network.identity.name}', ipv4Address: '10.202.0.30' },
  { name: '${docker_network.ai.name}', ipv4Address: '10.202.0.46' },
];

/** The egress proxy as issue 18's contract labels it: its destinations and the bank's internal domains. */
function egressProxy(s: TerraformStack, destinations: string | undefined, internalDomains = 'bank.internal'): Container {
  const labels: Record<string, string> = { 'webide.component': 'egress-proxy', [EGRESS_PROXY_LABELS.internalDomains]: internalDomains };
  if (destinations !== undefined) labels[EGRESS_PROXY_LABELS.destinations] = destinations;
  return hardened(s, { labels });
}

/** The rendered gateway with one more location written by hand. */
const withLocation = (location: string) => renderNginxConf(nginxInput()).replace('    location / {\n      return 404;\n    }\n  }\n}\n', `${location}\n    location / {\n      return 404;\n    }\n  }\n}\n`);

const cases: Array<[PolicyRule, (s: TerraformStack) => unknown, (s: TerraformStack) => unknown]> = [
  [containerLimits, (s) => hardened(s), (s) => raw(s, { memory: 512 })],
  [noPrivileged, (s) => hardened(s), (s) => raw(s, { privileged: true })],
  [capabilitiesDropped, (s) => hardened(s), (s) => raw(s, { capabilities: { drop: ['NET_RAW'] }, securityOpts: ['no-new-privileges:true'] })],
  [noHostMounts, (s) => hardened(s, { mounts: [{ type: 'bind', source: '/etc/webide/tls/fullchain.pem', target: '/tls.pem', readOnly: true }] }),
    (s) => hardened(s, { mounts: [{ type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock' }] })],
  [nonRoot, (s) => hardened(s, { user: '101:101' }), (s) => hardened(s, { user: '0:0' })],
  [nonRoot, (s) => hardened(s, { user: '2000:0' }), (s) => raw(s, {})],
  [readOnlyRoot, (s) => hardened(s), (s) => hardened(s, { readOnlyRootfs: false })],
  [pidsLimited, (s) => hardened(s), (s) => raw(s, { labels: [{ label: 'webide.pids-limit', value: '128' }] })],
  [pidsLimited, (s) => hardened(s), (s) => pidsStepAltered(s, 'other-limit')],
  [pidsLimited, (s) => hardened(s), (s) => pidsStepAltered(s, 'removed')],
  [onlyNginxPublishes, (s) => hardened(s, { labels: { 'webide.component': 'nginx' }, ports: [{ internal: 8443, external: 443 }] }),
    (s) => hardened(s, { ports: [{ internal: 4000, external: 4000 }] })],
  // The estate's own registry on a swarm (stacks/swarm-registry-stack.ts): its one TCP port, nothing more.
  [onlyNginxPublishes, (s) => hardened(s, { labels: { 'webide.component': 'registry' }, ports: [{ internal: 5000, external: 5000, protocol: 'tcp' }] }),
    (s) => hardened(s, { labels: { 'webide.component': 'registry' }, ports: [{ internal: 5000, external: 5000, protocol: 'tcp' }, { internal: 5001, external: 5001, protocol: 'tcp' }] })],
  [onlyNginxPublishes, (s) => hardened(s, { labels: { 'webide.component': 'registry' }, ports: [{ internal: 5000, external: 5000, protocol: 'tcp' }] }),
    (s) => hardened(s, { labels: { 'webide.component': 'litellm' }, ports: [{ internal: 5000, external: 5000, protocol: 'tcp' }] })],
  [workspacesInternalOnly, (s) => hardened(s, { labels: { 'webide.component': 'workspace' } }),
    (s) => hardened(s, { labels: { 'webide.component': 'workspace' }, networks: [{ name: 'bridge' }] })],
  // The same rules on the swarm target's services (their tasks are containers).
  [containerLimits, (s) => swarmService(s), (s) => rawService(s, {}, { taskSpec: { containerSpec: { image: 'x' }, resources: { limits: { memoryBytes: 256 << 20 } } } })],
  [capabilitiesDropped, (s) => swarmService(s), (s) => rawService(s, { capDrop: ['ALL'], capAdd: ['NET_ADMIN'] })],
  [noHostMounts, (s) => swarmService(s, { container: { image: 'x', user: '1000:1000', mounts: [{ type: 'bind', source: '/etc/webide/tls/fullchain.pem', target: '/tls.pem', readOnly: true }] } }),
    (s) => swarmService(s, { container: { image: 'x', user: '1000:1000', mounts: [{ type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock' }] } })],
  [nonRoot, (s) => swarmService(s), (s) => swarmService(s, { container: { image: 'x', user: '0:0' } })],
  [readOnlyRoot, (s) => swarmService(s), (s) => rawService(s, { user: '1000:1000' })],
  [pidsLimited, (s) => swarmService(s), (s) => rawService(s, { user: '1000:1000', readOnly: true })],
  [onlyNginxPublishes, (s) => swarmService(s, { labels: [{ label: 'webide.component', value: 'nginx' }], hostPorts: [{ published: 443, target: 8443 }] }),
    (s) => swarmService(s, { hostPorts: [{ published: 4000, target: 4000 }] })],
  [workspacesInternalOnly, (s) => swarmService(s, { labels: [{ label: 'webide.component', value: 'workspace' }] }),
    (s) => swarmService(s, { labels: [{ label: 'webide.component', value: 'workspace' }], networks: [{ id: '${docker_network.internal.id}' }, { id: '${data.docker_network.forwarders-network.id}' }] })],
  [imagesPinned, (s) => new Image(s, 'pinned', { name: `registry.corp.example/x:1@sha256:${'b'.repeat(64)}` }), (s) => new Image(s, 'tag-only', { name: 'registry.corp.example/x:1' })],
  [realmHardened, (s) => realm(s), (s) => realm(s, { securityDefenses: undefined })],
  [realmEventsOn, (s) => new RealmEvents(s, 'ev', { realmId: 'r', eventsEnabled: true, adminEventsEnabled: true, adminEventsDetailsEnabled: true, eventsExpiration: 86400 }),
    (s) => new RealmEvents(s, 'ev', { realmId: 'r', eventsEnabled: true, adminEventsEnabled: false })],
  [otpRequired, (s) => new User(s, 'u', { realmId: 'r', username: 'a', requiredActions: ['CONFIGURE_TOTP'] }), (s) => new User(s, 'u', { realmId: 'r', username: 'a' })],
  [noSecretLiterals, (s) => hardened(s, { env: { DB_PASSWORD: '${var.db_password}' } }), (s) => hardened(s, { env: { DB_PASSWORD: 'hunter2hunter2' } })],
  [aiGatewayClosed, (s) => nginxContainer(s), (s) => nginxContainer(s, { conf: withLocation('    location /v1/ {\n      proxy_pass http://$litellm_upstream;\n    }') })],
  [listenersPlaced, (s) => nginxContainer(s, { networks: NGINX_NETWORKS }),
    (s) => nginxContainer(s, { networks: NGINX_NETWORKS, conf: renderNginxConf(nginxInput()).replace('listen 10.202.0.14:8443 ssl http2;', 'listen 8443 ssl http2;') })],
  [egressInternalOnly, (s) => egressProxy(s, 'git.bank.internal:443,npm.bank.internal:443'), (s) => egressProxy(s, 'git.bank.internal:443,registry.npmjs.example:443')],
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

describe('runtime rules and containers that never start (ManagedFiles loaders)', () => {
  it.each([containerLimits, capabilitiesDropped, nonRoot, readOnlyRoot, pidsLimited])('%s does not apply to a container created with start = false and must_run = false, and applies once it could start', (rule) => {
    expect(rule.check(raw(stack(), { start: false, mustRun: false }) as never, context)).toBe(Compliance.NOT_APPLICABLE);
    expect(rule.check(raw(stack(), { start: false }) as never, context)).toBe(Compliance.NON_COMPLIANT);
    expect(rule.check(raw(stack(), { mustRun: false }) as never, context)).toBe(Compliance.NON_COMPLIANT);
  });
  it('WEBIDE-C2 still applies to it', () => {
    expect(noPrivileged.check(raw(stack(), { start: false, mustRun: false, privileged: true }) as never, context)).toBe(Compliance.NON_COMPLIANT);
  });
});

describe('WEBIDE-A1: the AI gateway stays closed', () => {
  const firesOn = (opts: Parameters<typeof nginxContainer>[1]) => aiGatewayClosed.check(nginxContainer(stack(), opts) as never, context);

  it('fires on a path outside the allow-list, a prefix or regex location, a widened method, a rewritten upstream path', () => {
    const litellmPass = 'proxy_pass http://$litellm_upstream/v1/models$is_args$args;';
    const nonCompliant = [
      withLocation(`    location = /v1/model/info {\n      if ($request_method !~ ^(GET)$) {\n        return 404;\n      }\n      proxy_pass http://$litellm_upstream/v1/model/info$is_args$args;\n    }`),
      withLocation('    location ~ ^/v1/ {\n      proxy_pass http://$litellm_upstream;\n    }'),
      withLocation('    location ^~ /tabby/ {\n      proxy_pass http://$tabby_upstream;\n    }'),
      renderNginxConf(nginxInput()).replace('location = /v1/models {\n      limit_req zone=ai_chat burst=10 nodelay;\n      if ($request_method !~ ^(GET)$)', 'location = /v1/models {\n      if ($request_method !~ ^(GET|POST)$)'),
      renderNginxConf(nginxInput()).replace(litellmPass, 'proxy_pass http://$litellm_upstream$request_uri;'),
      renderNginxConf(nginxInput()).replace('    include /etc/nginx/secrets/ai-gateway.conf;', '    include /etc/nginx/secrets/ai-gateway.conf;\n    proxy_pass http://$litellm_upstream;'),
      renderNginxConf(nginxInput({ aiGatewayRoutes: [...AI_GATEWAY_ROUTES, { path: '/v1/files', upstream: 'litellm', upstreamPath: '/v1/files', methods: ['GET'], usedBy: 'x' }] })),
      'http { server { listen 8081; location / { proxy_pass http://x; ',
    ];
    for (const conf of nonCompliant) expect({ conf, compliance: firesOn({ conf }) }).toEqual({ conf, compliance: Compliance.NON_COMPLIANT });
    expect(gatewayViolations(nonCompliant[1])).toEqual(['location ~ ^/v1/']);
  });

  it('fires when nginx is given the master key, in its env or in the secrets template', () => {
    expect(firesOn({ env: { LITELLM_GATEWAY_KEY: '${var.litellm_master_key}' } })).toBe(Compliance.NON_COMPLIANT);
    expect(firesOn({ env: { LITELLM_MASTER_KEY: '${var.litellm_gateway_key}' } })).toBe(Compliance.NON_COMPLIANT);
    expect(firesOn({ template: 'set $litellm_authorization "Bearer $LITELLM_MASTER_KEY";\n' })).toBe(Compliance.NON_COMPLIANT);
    expect(masterKeyExposures(['LITELLM_GATEWAY_KEY=${var.litellm_master_key}'], [])).toEqual(['env LITELLM_GATEWAY_KEY']);
  });

  it('stays quiet on the rendered gateway, on a narrower allow-list and on other containers', () => {
    expect(gatewayViolations(renderNginxConf(nginxInput()))).toEqual([]);
    expect(firesOn({ conf: renderNginxConf(nginxInput({ aiGatewayRoutes: AI_GATEWAY_ROUTES.slice(0, 2) })) })).toBe(Compliance.COMPLIANT);
    expect(aiGatewayClosed.check(hardened(stack(), { env: { LITELLM_MASTER_KEY: '${var.litellm_master_key}' } }) as never, context)).toBe(Compliance.NOT_APPLICABLE);
  });

  it('lists what the gateway forwards, for the plan report', () => {
    expect(gatewayForwards(renderNginxConf(nginxInput()))).toEqual(AI_GATEWAY_ROUTES.map((r) => `${r.methods.join(',')} ${r.path}`).sort());
    expect(gatewayForwards(withLocation('    location /v1/ {\n      proxy_pass http://$litellm_upstream;\n    }'))).toContain('any /v1/ (prefix)');
  });
});

describe('WEBIDE-N3: nginx listens only where it must', () => {
  const verdict = (conf: string, networks: HardenedContainerProps['networks'] = NGINX_NETWORKS) => listenersPlaced.check(nginxContainer(stack(), { conf, networks }) as never, context);
  const rendered = renderNginxConf(nginxInput());

  it('stays quiet on the rendered listeners, and on other containers', () => {
    expect(listenerViolations(rendered, '10.202.0.14', ['10.202.0.14', '10.202.0.30', '10.202.0.46'])).toEqual([]);
    expect(verdict(rendered)).toBe(Compliance.COMPLIANT);
    expect(listenersPlaced.check(hardened(stack()) as never, context)).toBe(Compliance.NOT_APPLICABLE);
  });

  it('fires on a wildcard or another address for 8443/8080, a gateway port left open on a fixed address, a refusing server that forwards', () => {
    const nonCompliant: Array<[string, string]> = [
      [rendered.replace('listen 10.202.0.14:8443 ssl http2;', 'listen 8443 ssl http2;'), 'listen *:8443 (only 10.202.0.14:8443)'],
      [rendered.replace('listen 10.202.0.14:8080;', 'listen 10.202.0.14:8080;\n    listen 10.202.0.30:8080;'), 'listen 10.202.0.30:8080 (only 10.202.0.14:8080)'],
      [rendered.replace('    listen 10.202.0.30:8081;\n', ''), 'the gateway port is not refused on 10.202.0.30:8081'],
      [rendered.replace('    listen 10.202.0.46:8081;\n    return 444;', '    listen 10.202.0.46:8081;\n    return 444;\n    location / {\n      proxy_pass http://$litellm_upstream;\n    }'), 'the server on 10.202.0.14:8081 forwards'],
      [rendered.replace('    listen 10.202.0.46:8081;\n    return 444;', '    listen 10.202.0.46:8081;'), 'the server on 10.202.0.14:8081 does not refuse (no return)'],
    ];
    for (const [conf, violation] of nonCompliant) {
      expect(listenerViolations(conf, '10.202.0.14', ['10.202.0.14', '10.202.0.30', '10.202.0.46'])).toContain(violation);
      expect({ violation, verdict: verdict(conf) }).toEqual({ violation, verdict: Compliance.NON_COMPLIANT });
    }
  });

  it('fires when nginx has no fixed address on its edge network, or listens on an address it does not have', () => {
    expect(verdict(rendered, NGINX_NETWORKS.map((n) => ({ name: n.name })))).toBe(Compliance.NON_COMPLIANT);
    expect(verdict(rendered, [{ name: NGINX_NETWORKS[0].name, ipv4Address: '10.202.0.13' }, ...NGINX_NETWORKS.slice(1)])).toBe(Compliance.NON_COMPLIANT);
    expect(listenerViolations(rendered, undefined, [])).toEqual(['nginx has no fixed address on a network with a route out (its edge network)']);
  });
});

describe('WEBIDE-N3 and WEBIDE-A1 read the nginx.conf nginx runs: from the loader of the managed files it mounts', () => {
  /** nginx as NginxEntry builds it: a read-only root, its files on a volume filled by a never-started loader. */
  const split = (conf: string, env?: Record<string, string>) => {
    const s = stack();
    const image = new Image(s, 'nginx-img', { name: 'registry.corp.example/nginx:1@sha256:' + 'c'.repeat(64) });
    const managedFiles = new ManagedFiles(s, 'files', {
      name: 'webide-managed-nginx',
      image,
      directory: NGINX_PATHS.managedDir,
      files: [{ file: NGINX_PATHS.config, content: conf }, { file: NGINX_PATHS.secretsTemplate, content: renderNginxSecretsTemplate() }],
      labels: { 'webide.component': 'nginx' },
    });
    const nginx = hardened(s, { labels: { 'webide.component': 'nginx' }, networks: NGINX_NETWORKS, managedFiles, ...(env ? { env } : {}) });
    return { nginx, loader: managedFiles.loader };
  };
  const rendered = renderNginxConf(nginxInput());
  const wildcard = rendered.replace('listen 10.202.0.14:8443 ssl http2;', 'listen 8443 ssl http2;');

  it('N3: quiet on the rendered file, fires on a wildcard listener in the loaded file; the loader itself runs nothing and is not judged', () => {
    expect(listenersPlaced.check(split(rendered).nginx as never, context)).toBe(Compliance.COMPLIANT);
    expect(listenersPlaced.check(split(wildcard).nginx as never, context)).toBe(Compliance.NON_COMPLIANT);
    expect(listenersPlaced.check(split(wildcard).loader as never, context)).toBe(Compliance.NOT_APPLICABLE);
  });

  it("A1: fires on a widened gateway in the loaded file, and on nginx's env holding the master key", () => {
    expect(aiGatewayClosed.check(split(rendered).nginx as never, context)).toBe(Compliance.COMPLIANT);
    expect(aiGatewayClosed.check(split(withLocation('    location /v1/ {\n      proxy_pass http://$litellm_upstream;\n    }')).nginx as never, context)).toBe(Compliance.NON_COMPLIANT);
    expect(aiGatewayClosed.check(split(rendered, { LITELLM_GATEWAY_KEY: '${var.litellm_master_key}' }).nginx as never, context)).toBe(Compliance.NON_COMPLIANT);
  });
});

describe('WEBIDE-E1: the egress proxy reaches only the internal domains', () => {
  const verdict = (destinations: string | undefined, internalDomains?: string) => egressInternalOnly.check(egressProxy(stack(), destinations, internalDomains) as never, context);

  it('stays quiet on hosts under a domain (or the domain itself), on any port, and on the labels a valid egress section gives', () => {
    expect(verdict('bank.internal:443,docs.bank.internal:8443,git.corp.example:443', 'bank.internal,corp.example')).toBe(Compliance.COMPLIANT);
    // No destinations: a proxy that allows nothing lets nothing out.
    expect(verdict('')).toBe(Compliance.COMPLIANT);
    const labels = egressProxyLabels({
      internalDomains: ['corp.example', 'bank.internal', 'bank.internal'],
      services: [
        { name: 'git', kind: 'git', urls: ['https://git.bank.internal/', 'https://git.bank.internal:443/x/'], caFile: '/ca.pem' },
        { name: 'docs', kind: 'https', urls: ['https://docs.corp.example:8443/'], caFile: '/ca.pem' },
      ],
    });
    expect(labels).toEqual({ [EGRESS_PROXY_LABELS.destinations]: 'docs.corp.example:8443,git.bank.internal:443', [EGRESS_PROXY_LABELS.internalDomains]: 'bank.internal,corp.example' });
    expect(egressInternalOnly.check(hardened(stack(), { labels: { 'webide.component': 'egress-proxy', ...labels } }) as never, context)).toBe(Compliance.COMPLIANT);
  });

  it('does not judge other containers, nor the loader of the proxy\'s files', () => {
    expect(egressInternalOnly.check(hardened(stack(), { labels: { 'webide.component': 'nginx', [EGRESS_PROXY_LABELS.destinations]: 'evil.example:443' } }) as never, context)).toBe(Compliance.NOT_APPLICABLE);
    expect(egressInternalOnly.check(hardened(stack(), { labels: { 'webide.component': 'egress-proxy', 'webide.loader': 'true' } }) as never, context)).toBe(Compliance.NOT_APPLICABLE);
    expect(egressInternalOnly.check(new Image(stack(), 'img', { name: 'x:1' }) as never, context)).toBe(Compliance.NOT_APPLICABLE);
  });

  it('fires on a host outside the domains, one that only ends like one, an IP address, a wildcard, or no destinations label', () => {
    for (const destinations of ['registry.npmjs.example:443', 'evilbank.internal:443', 'bank.internal.example.com:443', '10.1.2.3:443', '*.bank.internal:443', 'git.bank.internal', undefined]) {
      expect({ destinations, verdict: verdict(destinations) }).toEqual({ destinations, verdict: Compliance.NON_COMPLIANT });
    }
    expect(egressViolations({ [EGRESS_PROXY_LABELS.destinations]: 'git.bank.internal:443,evilbank.internal:443,10.1.2.3:443', [EGRESS_PROXY_LABELS.internalDomains]: 'bank.internal' })).toEqual([
      'evilbank.internal:443 is not under bank.internal',
      '10.1.2.3:443 is not a DNS host and port',
    ]);
  });

  it('counts a catch-all internal domain (a top-level domain, a wildcard) for nothing', () => {
    expect(verdict('git.bank.internal:443,registry.npmjs.example:443', 'bank.internal,example')).toBe(Compliance.NON_COMPLIANT);
    expect(verdict('git.bank.internal:443', '*')).toBe(Compliance.NON_COMPLIANT);
    expect(egressViolations({ [EGRESS_PROXY_LABELS.destinations]: 'registry.npmjs.example:443', [EGRESS_PROXY_LABELS.internalDomains]: 'bank.internal,example' })).toEqual([
      "internal domain 'example' must have at least two labels (such as bank.internal): 'example' alone would take in every host under a top-level domain",
      'registry.npmjs.example:443 is not under bank.internal',
    ]);
  });

  it('stops a real synth with its fix', () => {
    const app = new App({ outdir: require('fs').mkdtempSync(require('path').join(require('os').tmpdir(), 'pack-')) });
    const s = new TerraformStack(app, 'platform');
    new DockerProvider(s, 'docker', {});
    new Container(s, 'egress-proxy', { name: 'webide-egress-proxy', image: 'x', labels: [{ label: 'webide.component', value: 'egress-proxy' }, { label: EGRESS_PROXY_LABELS.destinations, value: 'github.example:443' }, { label: EGRESS_PROXY_LABELS.internalDomains, value: 'bank.internal' }] });
    Aspects.of(s).add(new EstatePolicyPack({ rules: [egressInternalOnly], context: { profile: 'local', hostPathAllowList: [] }, suppressions: [] }));
    expect(() => app.synth()).toThrow(/\[platform\/egress-proxy\] \[WEBIDE-E1\] The egress proxy lets IDEs reach only hosts under .* Fix: Add the domain to egress\.internalDomains only if the bank owns it; otherwise remove the service/);
  });
});

describe('the policy pack', () => {
  it('has a test case for every rule', () => {
    expect([...new Set(cases.map(([rule]) => rule.id))].sort()).toEqual(ESTATE_RULES.map((rule) => rule.id).sort());
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

  it("reads a stack's internal networks by name and by id: an IDE service on its internal overlay passes WEBIDE-N2, one also on a network with a route out does not", () => {
    const s = stack();
    const internal = new Network(s, 'ws-alice', { name: 'ws-alice', driver: 'overlay', internal: true });
    const routed = new Network(s, 'routed', { name: 'routed', driver: 'overlay' });
    const ide = (networks: { id: string }[]) => swarmService(s, { labels: [{ label: 'webide.component', value: 'workspace' }], networks });
    const kept = ide([{ id: internal.id }]);
    const leaking = ide([{ id: internal.id }, { id: routed.id }]);
    const pack = new EstatePolicyPack({ rules: [workspacesInternalOnly], context: { profile: 'production', hostPathAllowList: [] }, suppressions: [] });
    expect(pack.check(s).map((finding) => [finding.rule, finding.path])).toEqual([['WEBIDE-N2', leaking.node.path]]);
    expect(kept.node.path).not.toBe(leaking.node.path);
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

  it('matches a suppression on a construct path prefix in whole segments; * matches within one segment (workspaces* for the shard stacks)', () => {
    const covered = (resource: string) =>
      ['workspaces/backup/agent/container', 'workspaces-ws-01/code-server-image', 'workspaces-ws-12/users/alice/ide/container', 'workspacesx/a', 'platform/vllm-image'].filter((path) =>
        suppressionCovers(resource, path),
      );
    expect(covered('workspaces')).toEqual(['workspaces/backup/agent/container']);
    expect(covered('workspaces/backup')).toEqual(['workspaces/backup/agent/container']);
    expect(covered('workspaces/back')).toEqual([]);
    expect(covered('workspaces-*')).toEqual(['workspaces-ws-01/code-server-image', 'workspaces-ws-12/users/alice/ide/container']);
    expect(covered('workspaces*')).toEqual(['workspaces/backup/agent/container', 'workspaces-ws-01/code-server-image', 'workspaces-ws-12/users/alice/ide/container', 'workspacesx/a']);
    expect(covered('workspaces-*/users/*/ide')).toEqual(['workspaces-ws-12/users/alice/ide/container']);
    expect(covered('*/vllm-image')).toEqual(['platform/vllm-image']);
    // Characters other than * are literal.
    expect(suppressionCovers('platform/vllm.image', 'platform/vllmximage')).toBe(false);
  });
});
