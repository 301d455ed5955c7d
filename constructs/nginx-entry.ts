import { Construct } from 'constructs';
import type { UserMapFormat } from './workspace-link';
import { Image } from '../.gen/providers/docker/image';
import { Volume } from '../.gen/providers/docker/volume';
import { EstateConfig } from '../config/estate';
import { AI_GATEWAY_SECRET_ENV, renderNginxConf, renderNginxSecretsTemplate, servedNames } from '../render/nginx';
import { AI_GATEWAY_ROUTES } from '../render/ai-gateway';
import { HardenedContainer } from './hardened-container';
import { ManagedFiles } from './managed-files';
import { EstateNames, INTERNAL_PORTS } from './naming';

export interface NginxEntryProps {
  readonly estate: EstateConfig;
  readonly names: EstateNames;
  readonly image: Image;
  /**
   * Networks nginx joins at create, each with nginx's fixed address on it (the TLS entry listens
   * on the edge address only; the AI gateway port is refused on all three). Workspace networks
   * are linked per user.
   */
  readonly networks: { readonly edge: FixedAddress; readonly identity: FixedAddress; readonly ai: FixedAddress };
  /**
   * The AI gateway's credentials (sensitive variable values), passed as environment only.
   * LiteLLM's is the gateway key, which LiteLLM lets call only the allow-listed routes and
   * models; never the master key (policy rule WEBIDE-A1 fails synth if it is).
   */
  readonly litellmGatewayKey: string;
  readonly tabbyApiToken: string;
  /** The audit sink's syslog address (`ip:port`, UDP). @default - access records to stdout only */
  readonly auditSyslog?: string;
  /**
   * The one client of nginx's status page (stub_status): the nginx exporter's fixed address on the
   * identity network. The page listens on nginx's identity address, port INTERNAL_PORTS.nginxStatus.
   * @default - no status page
   */
  readonly statusPageClient?: string;
}

/** A network nginx joins and its fixed address on it. */
export interface FixedAddress {
  /** Network name. */
  readonly name: string;
  readonly ipv4Address: string;
}

/** Paths inside the nginx container. */
export const NGINX_PATHS = {
  /** The files the estate writes (ManagedFiles: the root filesystem is read-only). */
  managedDir: '/etc/webide-nginx',
  config: '/etc/webide-nginx/nginx.conf',
  /** nginx's entrypoint renders <templates>/<name>.template into NGINX_ENVSUBST_OUTPUT_DIR/<name>. */
  templates: '/etc/webide-nginx/templates',
  secretsTemplate: '/etc/webide-nginx/templates/ai-gateway.conf.template',
  secretsDir: '/etc/nginx/secrets',
  secrets: '/etc/nginx/secrets/ai-gateway.conf',
  /**
   * The gateway's user map: one `<address>.conf` per linked user network, written by the link
   * (docker cp, root-owned: nginx itself cannot change it). A volume: the root is read-only.
   */
  gatewayUsersDir: '/etc/nginx/gateway-users',
  certificate: '/etc/nginx/tls/fullchain.pem',
  key: '/etc/nginx/tls/privkey.pem',
} as const;

/**
 * The AI gateway's user map as the workspace links write it: `"<address>" <username>;` per file,
 * included into nginx's `map $server_addr $gateway_user`.
 */
export const NGINX_GATEWAY_USER_MAP: UserMapFormat = {
  dir: NGINX_PATHS.gatewayUsersDir,
  entryShell: `printf '"%s" %s;\\n' "$ip" "$USERNAME"`,
  unlinkedShell: `printf '# %s: unlinked\\n' "$ip"`,
};

/**
 * nginx, the estate's only published entry point: TLS, sign-in through oauth2-proxy,
 * one IDE per user, Keycloak's public side, and the AI gateway for IDEs. Stateless.
 */
export class NginxEntry extends Construct {
  public readonly proxy: HardenedContainer;
  /** Holds the gateway's user map; the workspaces stack's links write into it. */
  public readonly gatewayUsers: Volume;

  constructor(scope: Construct, id: string, props: NginxEntryProps) {
    super(scope, id);
    const { estate, names } = props;
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
        keycloak: `${names.service('keycloak')}:${INTERNAL_PORTS.keycloak}`,
        oauth2Proxy: `${names.service('oauth2-proxy')}:${INTERNAL_PORTS.oauth2Proxy}`,
        litellm: `${names.service('litellm')}:${INTERNAL_PORTS.litellm}`,
        tabby: `${names.service('tabby')}:${INTERNAL_PORTS.tabby}`,
      },
      workspaceHostPrefix: names.workspacePrefix(),
      workspacePort: INTERNAL_PORTS.codeServer,
      aiGatewayPort: INTERNAL_PORTS.aiGateway,
      secretsIncludePath: NGINX_PATHS.secrets,
      aiGatewayRoutes: AI_GATEWAY_ROUTES,
      listenAddresses: { edge: props.networks.edge.ipv4Address, identity: props.networks.identity.ipv4Address, ai: props.networks.ai.ipv4Address },
      // Terraform reaches Keycloak's admin API at providerUrl, through nginx: its host is served too.
      extraServerNames: servedNames(estate.domain, [estate.keycloak.providerUrl]),
      aiLimits: estate.operations.aiLimits,
      gatewayUsersInclude: `${NGINX_PATHS.gatewayUsersDir}/*.conf`,
      auditSyslog: props.auditSyslog,
      stubStatus: props.statusPageClient === undefined ? undefined : { port: INTERNAL_PORTS.nginxStatus, allow: [props.statusPageClient] },
    });
    // Owned by Terraform: nothing in it outlives the links that write it.
    this.gatewayUsers = new Volume(this, 'gateway-users', { name: names.gatewayUsersVolume(), labels: [{ label: 'webide.estate', value: estate.name }] });

    this.proxy = new HardenedContainer(this, 'proxy', {
      containerName: names.service('nginx'),
      image: props.image,
      networks: [props.networks.edge, props.networks.identity, props.networks.ai].map(({ name, ipv4Address }) => ({ name, ipv4Address })),
      user: '101:101',
      memoryMiB: 512,
      cpus: 1,
      // A master and one worker per core.
      pidsLimit: 512,
      dockerHost: estate.dockerHost,
      // -e: nginx opens its default error log before reading the config; the root is read-only.
      command: ['nginx', '-e', 'stderr', '-c', NGINX_PATHS.config, '-g', 'daemon off; pid /tmp/nginx.pid;'],
      env: {
        // The entrypoint substitutes only these into the templates (nginx's own $variables stay).
        NGINX_ENVSUBST_TEMPLATE_DIR: NGINX_PATHS.templates,
        NGINX_ENVSUBST_OUTPUT_DIR: NGINX_PATHS.secretsDir,
        NGINX_ENVSUBST_FILTER: `^(${AI_GATEWAY_SECRET_ENV.litellmKey}|${AI_GATEWAY_SECRET_ENV.tabbyToken})$`,
        [AI_GATEWAY_SECRET_ENV.litellmKey]: props.litellmGatewayKey,
        [AI_GATEWAY_SECRET_ENV.tabbyToken]: props.tabbyApiToken,
      },
      tmpfs: {
        '/tmp': 'rw,nosuid,nodev,size=64m',
        '/var/lib/nginx': 'rw,nosuid,nodev,size=256m',
        '/var/cache/nginx': 'rw,nosuid,nodev,size=256m',
        [NGINX_PATHS.secretsDir]: 'rw,nosuid,nodev,noexec,size=1m,mode=0700,uid=101,gid=101',
      },
      ports: [
        { internal: INTERNAL_PORTS.nginxHttps, external: estate.httpsPort, ip: estate.bindAddress, protocol: 'tcp' },
        { internal: INTERNAL_PORTS.nginxHttp, external: estate.httpPort, ip: estate.bindAddress, protocol: 'tcp' },
      ],
      mounts: [
        { type: 'bind', source: estate.tls.certificateFile, target: NGINX_PATHS.certificate, readOnly: true },
        { type: 'bind', source: estate.tls.keyFile, target: NGINX_PATHS.key, readOnly: true },
        // Writable only for root (docker cp); nginx runs as 101.
        { type: 'volume', source: this.gatewayUsers.name, target: NGINX_PATHS.gatewayUsersDir },
      ],
      managedFiles: new ManagedFiles(this, 'config', {
        name: names.managedFiles('nginx'),
        image: props.image,
        directory: NGINX_PATHS.managedDir,
        // No secret in any of these files, so plans show nginx.conf diffs (an upload set
        // holding one sensitive value would be hidden whole).
        files: [
          { file: NGINX_PATHS.config, content: nginxConf },
          { file: NGINX_PATHS.secretsTemplate, content: renderNginxSecretsTemplate() },
        ],
        labels: names.labels(estate, 'nginx'),
      }),
      healthcheck: {
        test: ['CMD', 'nginx', '-t', '-q', '-e', 'stderr', '-c', NGINX_PATHS.config, '-g', 'pid /tmp/nginx-check.pid;'],
        startPeriodSeconds: 10,
      },
      labels: names.labels(estate, 'nginx'),
    });
  }
}
