import { Construct } from 'constructs';
import { TerraformStack } from 'cdktf';
import { Network } from '@cdktf/provider-docker/lib/network';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';
import { NullProvider } from '@cdktf/provider-null/lib/provider';
import { publicOrigin, renderNginxConf, renderNginxSecretsInclude } from '../render/nginx';
import { HardenedContainer } from '../constructs/hardened-container';
import { AI_GATEWAY_HOST, INTERNAL_PORTS } from '../constructs/naming';
import { EstateStackProps, estateNames, pinnedImage, secretVariable, useDocker } from './common';

export interface EdgeStackProps extends EstateStackProps {
  readonly platformNetworks: { readonly edge: Network; readonly identity: Network; readonly ai: Network };
  /** Users' private networks, by username: nginx joins each to serve that IDE. */
  readonly workspaceNetworks: ReadonlyMap<string, Network>;
  /** The OIDC client oauth2-proxy signs users in with (from the identity stack). */
  readonly oidcClientId: string;
  readonly oidcClientSecret: string;
}

/** Paths inside the nginx container. */
const NGINX_PATHS = {
  config: '/etc/nginx/nginx.conf',
  secrets: '/etc/nginx/secrets/ai-gateway.conf',
  certificate: '/etc/nginx/tls/fullchain.pem',
  key: '/etc/nginx/tls/privkey.pem',
} as const;

/**
 * The only entry point: nginx (TLS, the only published ports) and oauth2-proxy
 * (OIDC sign-in against Keycloak). Stateless, so it can be replaced at any time.
 */
export class EdgeStack extends TerraformStack {
  constructor(scope: Construct, id: string, props: EdgeStackProps) {
    super(scope, id);
    useDocker(this, props);
    new NullProvider(this, 'null');
    const { estate } = props;
    const names = estateNames(estate);
    const origin = publicOrigin(estate.domain, estate.httpsPort);
    const realmUrl = (host: string) => `${host}/realms/${estate.keycloak.realm}`;
    const internalKeycloak = `http://${names.service('keycloak')}:${INTERNAL_PORTS.keycloak}`;

    const cookieSecret = secretVariable(this, 'oauth2_proxy_cookie_secret', "oauth2-proxy's cookie secret: exactly 32 characters, e.g. `openssl rand -hex 16`.", 32, {
      condition: '${contains([16, 24, 32], length(var.oauth2_proxy_cookie_secret))}',
      errorMessage: 'oauth2_proxy_cookie_secret must be 16, 24 or 32 characters long.',
    });
    const litellmMasterKey = secretVariable(this, 'litellm_master_key', "LiteLLM's master key (the AI gateway adds it to IDE requests).", 20);
    const tabbyToken = secretVariable(this, 'tabby_api_token', 'Tabby API token the AI gateway adds to IDE completion requests.', 8);

    const oauth2Proxy = new HardenedContainer(this, 'oauth2-proxy', {
      containerName: names.service('oauth2-proxy'),
      image: pinnedImage(this, 'oauth2-proxy-image', estate.images.oauth2Proxy),
      networks: [{ network: props.platformNetworks.identity }],
      user: '65532:65532',
      memoryMiB: 256,
      cpus: 0.5,
      env: {
        OAUTH2_PROXY_PROVIDER: 'keycloak-oidc',
        OAUTH2_PROXY_CLIENT_ID: props.oidcClientId,
        OAUTH2_PROXY_CLIENT_SECRET: props.oidcClientSecret,
        OAUTH2_PROXY_COOKIE_SECRET: cookieSecret.stringValue,
        OAUTH2_PROXY_COOKIE_SECURE: 'true',
        OAUTH2_PROXY_COOKIE_SAMESITE: 'lax',
        OAUTH2_PROXY_COOKIE_EXPIRE: `${estate.keycloak.session.maxLifespan}`,
        OAUTH2_PROXY_REDIRECT_URL: `${origin}/oauth2/callback`,
        // Browsers use the public issuer; tokens and keys are fetched inside the identity network.
        OAUTH2_PROXY_OIDC_ISSUER_URL: realmUrl(origin),
        OAUTH2_PROXY_SKIP_OIDC_DISCOVERY: 'true',
        OAUTH2_PROXY_LOGIN_URL: `${realmUrl(origin)}/protocol/openid-connect/auth`,
        OAUTH2_PROXY_REDEEM_URL: `${realmUrl(internalKeycloak)}/protocol/openid-connect/token`,
        OAUTH2_PROXY_OIDC_JWKS_URL: `${realmUrl(internalKeycloak)}/protocol/openid-connect/certs`,
        OAUTH2_PROXY_VALIDATE_URL: `${realmUrl(internalKeycloak)}/protocol/openid-connect/userinfo`,
        OAUTH2_PROXY_PROFILE_URL: `${realmUrl(internalKeycloak)}/protocol/openid-connect/userinfo`,
        OAUTH2_PROXY_BACKEND_LOGOUT_URL: `${realmUrl(internalKeycloak)}/protocol/openid-connect/logout?id_token_hint={id_token}`,
        OAUTH2_PROXY_CODE_CHALLENGE_METHOD: 'S256',
        OAUTH2_PROXY_EMAIL_DOMAINS: '*',
        OAUTH2_PROXY_HTTP_ADDRESS: `0.0.0.0:${INTERNAL_PORTS.oauth2Proxy}`,
        OAUTH2_PROXY_REVERSE_PROXY: 'true',
        OAUTH2_PROXY_SET_XAUTHREQUEST: 'true',
        OAUTH2_PROXY_SKIP_PROVIDER_BUTTON: 'true',
        OAUTH2_PROXY_UPSTREAMS: 'static://202',
        OAUTH2_PROXY_WHITELIST_DOMAINS: estate.httpsPort === 443 ? estate.domain : `${estate.domain}:${estate.httpsPort}`,
      },
      healthcheck: { test: ['CMD', '/bin/oauth2-proxy', '--version'], startPeriodSeconds: 10 },
      labels: names.labels(estate, 'oauth2-proxy'),
    });

    const nginxConf = renderNginxConf({
      domain: estate.domain,
      httpsPort: estate.httpsPort,
      tlsProtocols: estate.tls.protocols,
      tlsCurves: estate.tls.curves,
      certificatePath: NGINX_PATHS.certificate,
      keyPath: NGINX_PATHS.key,
      realm: estate.keycloak.realm,
      adminAllowCidrs: estate.keycloak.adminAllowCidrs,
      upstreams: {
        keycloak: names.service('keycloak'),
        oauth2Proxy: names.service('oauth2-proxy'),
        litellm: names.service('litellm'),
        tabby: names.service('tabby'),
      },
      workspaceHostPrefix: names.workspacePrefix(),
      workspacePort: INTERNAL_PORTS.codeServer,
      aiGatewayPort: INTERNAL_PORTS.aiGateway,
      secretsIncludePath: NGINX_PATHS.secrets,
    });

    const nginx = new HardenedContainer(this, 'nginx', {
      containerName: names.service('nginx'),
      image: pinnedImage(this, 'nginx-image', estate.images.nginx),
      networks: [
        { network: props.platformNetworks.edge },
        { network: props.platformNetworks.identity },
        { network: props.platformNetworks.ai },
      ],
      user: '101:101',
      memoryMiB: 512,
      cpus: 1,
      command: ['nginx', '-g', 'daemon off; pid /tmp/nginx.pid;'],
      tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m', '/var/lib/nginx': 'rw,nosuid,nodev,size=256m', '/var/cache/nginx': 'rw,nosuid,nodev,size=256m' },
      ports: [
        { internal: INTERNAL_PORTS.nginxHttps, external: estate.httpsPort, ip: estate.bindAddress, protocol: 'tcp' },
        { internal: INTERNAL_PORTS.nginxHttp, external: estate.httpPort, ip: estate.bindAddress, protocol: 'tcp' },
      ],
      mounts: [
        { type: 'bind', source: estate.tls.certificateFile, target: NGINX_PATHS.certificate, readOnly: true },
        { type: 'bind', source: estate.tls.keyFile, target: NGINX_PATHS.key, readOnly: true },
      ],
      uploads: [
        { file: NGINX_PATHS.config, content: nginxConf },
        // Secrets come from variables at apply time: the synthesized JSON holds only the references.
        { file: NGINX_PATHS.secrets, content: renderNginxSecretsInclude(litellmMasterKey.stringValue, tabbyToken.stringValue) },
      ],
      readOnlyRootfs: false,
      healthcheck: { test: ['CMD', 'nginx', '-t', '-q', '-g', 'pid /tmp/nginx-check.pid;'], startPeriodSeconds: 10 },
      labels: names.labels(estate, 'nginx'),
      dependsOn: [oauth2Proxy.container],
    });

    // nginx joins each user's network without being recreated: provider 3.6.2 never
    // reads networks back, and a link per user keeps a roster edit to that user's resources.
    const links = new Construct(this, 'workspace-links');
    for (const [username, network] of [...props.workspaceNetworks].sort(([a], [b]) => (a < b ? -1 : 1))) {
      new NullResource(links, username, {
        triggers: {
          container: nginx.container.name,
          container_id: nginx.container.id,
          network: network.name,
          alias: AI_GATEWAY_HOST,
          docker_host: estate.dockerHost,
        },
        provisioners: [
          {
            type: 'local-exec',
            command: NETWORK_CONNECT,
            environment: {
              DOCKER_HOST: estate.dockerHost,
              NETWORK: network.name,
              CONTAINER: nginx.container.name,
              ALIAS: AI_GATEWAY_HOST,
            },
          },
          {
            type: 'local-exec',
            when: 'destroy',
            command: NETWORK_DISCONNECT,
            environment: {
              DOCKER_HOST: '${self.triggers.docker_host}',
              NETWORK: '${self.triggers.network}',
              CONTAINER: '${self.triggers.container}',
            },
          },
        ],
      });
    }
  }
}

/** Connects nginx to a workspace network; succeeds if it is connected already. */
const NETWORK_CONNECT =
  'docker network connect --alias "$ALIAS" "$NETWORK" "$CONTAINER" 2>/dev/null || ' +
  'docker network inspect --format "{{range .Containers}}{{.Name}} {{end}}" "$NETWORK" | tr " " "\\n" | grep -qx "$CONTAINER"';
/** Disconnects nginx; a network or container already gone is not an error. */
const NETWORK_DISCONNECT = 'docker network disconnect --force "$NETWORK" "$CONTAINER" 2>/dev/null || true';
