import { Construct } from 'constructs';
import { TerraformStack } from 'cdktf';
import { DataDockerNetwork } from '../.gen/providers/docker/data-docker-network';
import { Network } from '../.gen/providers/docker/network';
import { Service } from '../.gen/providers/docker/service';
import { SwarmConfig } from '../config/swarm';
import { INTERNAL_PORTS } from '../constructs/naming';
import { commandWithSecretEnv, envSecretFile, hardenedSwarmService, MiB, SHARED_TMPFS_MODE, SwarmConfigFile, swarmOverlay } from '../constructs/swarm-files';
import { servedNames } from '../render/nginx';
import { renderSwarmEntryConf } from '../render/swarm-entry';
import { EstateStackProps, estateNames, keycloakSecretVariables, useDocker } from './common';
import { KEYCLOAK_HEALTH_TEST, KEYCLOAK_SECRET_ENV, keycloakEnv, POSTGRES_ENV, POSTGRES_HEALTH_TEST } from './platform-stack';

/** The images' own entrypoints, which the secret reader (commandWithSecretEnv) runs after it (images/postgres, images/keycloak). */
export const IDENTITY_IMAGE_ENTRYPOINTS = { postgres: ['/usr/local/bin/webide-postgres-entrypoint', 'postgres'], keycloak: ['/opt/keycloak/bin/kc.sh', 'start'] } as const;

/** The entry point's nginx.conf inside its container. */
const ENTRY_CONF = '/etc/webide/entry.conf';
/** Where the TLS certificate and key are mounted (read-only, from the same paths on every manager). */
const TLS_IN_CONTAINER = { certificate: '/etc/nginx/tls/fullchain.pem', key: '/etc/nginx/tls/privkey.pem' } as const;
/** The users of the images (as on one host). */
const USERS = { postgres: '999:999', keycloak: '1000:0', nginx: '101:101' } as const;

/**
 * The entry point and what sign-in needs behind it, on a Docker Swarm (`target: swarm`):
 * PostgreSQL, Keycloak and nginx, as on one host (stacks/platform-stack.ts) with the Swarm
 * target's differences:
 *
 * - nginx runs on every manager (a global service), its ports published on the node itself
 *   (`host` mode: the routing mesh needs IPVS, README), so the bank's load balancer or DNS names
 *   the managers. TLS certificate and key are read-only files at the same paths on every manager.
 * - Its config is render/swarm-entry.ts: `/u/<name>/` goes to the user's forwarder on the
 *   forwarders' overlay (the AI stack's, looked up by name), never to an IDE directly.
 * - PostgreSQL's data is a local volume on the first manager listed, and PostgreSQL is pinned
 *   there (moving it is a backup and restore). Keycloak runs on a manager.
 * - The database and Keycloak passwords are Swarm secrets read into the programs' environment by
 *   a wrapper (none in a service spec).
 *
 * Networks: `edge` (the one overlay with a way out: nginx only, for its published ports),
 * `identity` (internal: nginx, Keycloak and oauth2-proxy), `database` (internal: Keycloak and
 * PostgreSQL). Deployed after the AI stack (it joins the forwarders' overlay) and before the
 * identity stack (Terraform reaches Keycloak's admin API through this nginx).
 *
 * Not yet: the audit trail (Keycloak's and nginx's records go to their service logs only) and
 * monitoring on a swarm.
 */
export class SwarmEntryStack extends TerraformStack {
  public readonly networks: { readonly edge: Network; readonly identity: Network; readonly database: Network };
  public readonly services: { readonly postgres: Service; readonly keycloak: Service; readonly nginx: Service };

  constructor(scope: Construct, id: string, props: EstateStackProps) {
    super(scope, id);
    const { estate } = props;
    const swarm: SwarmConfig | undefined = estate.swarm;
    if (estate.target !== 'swarm' || swarm === undefined) throw new Error(`SwarmEntryStack: the estate's target is ${estate.target}; this stack is the swarm target's`);
    useDocker(this, props);
    const names = estateNames(estate);
    const secrets = keycloakSecretVariables(this);
    const labels = (component: string) => names.labels(estate, component);
    const labelList = (component: string) => Object.entries(labels(component)).map(([label, value]) => ({ label, value }));

    const overlay = (purpose: 'edge' | 'identity' | 'database', internal: boolean) =>
      swarmOverlay(this, `${purpose}-network`, { name: names.network(purpose), internal, encrypted: swarm.encryptOverlays, labels: labelList(`${purpose}-network`) });
    this.networks = { edge: overlay('edge', false), identity: overlay('identity', true), database: overlay('database', true) };
    const forwarders = new DataDockerNetwork(this, 'forwarders-network', { name: names.network('forwarders') });

    const secretFile = (variable: string, value: string) => envSecretFile(this, { names, variable, value, labels: labels('identity-secrets') });
    const dbPassword = { postgres: secretFile('POSTGRES_PASSWORD', secrets.keycloakDbPassword.stringValue), keycloak: secretFile(KEYCLOAK_SECRET_ENV.dbPassword, secrets.keycloakDbPassword.stringValue) };
    const adminPassword = secretFile(KEYCLOAK_SECRET_ENV.adminPassword, secrets.keycloakAdminPassword.stringValue);
    const tmpfs = (target: string, sizeMiB: number) => ({ type: 'tmpfs', target, tmpfsOptions: { sizeBytes: sizeMiB * MiB, mode: SHARED_TMPFS_MODE } });
    const managers = ['node.role==manager'];
    // The first manager listed keeps the database: its data is a local volume there.
    const dataNode = swarm.nodes.find((node) => node.role === 'manager')!.name;

    const postgres = hardenedSwarmService(this, 'postgres', {
      name: names.service('postgres'),
      labels: labelList('postgres'),
      container: {
        image: estate.images.postgres,
        command: commandWithSecretEnv(['POSTGRES_PASSWORD'], IDENTITY_IMAGE_ENTRYPOINTS.postgres),
        env: { ...POSTGRES_ENV },
        user: USERS.postgres,
        mounts: [
          // Created on first use on the data node, never a Terraform resource: no plan can delete it.
          { type: 'volume', source: names.dataVolume('postgres'), target: '/var/lib/postgresql/data' },
          tmpfs('/run/postgresql', 16),
          tmpfs('/tmp', 64),
        ],
        secrets: [dbPassword.postgres.mount(USERS.postgres)],
        healthcheck: { test: POSTGRES_HEALTH_TEST, interval: '10s', timeout: '5s', retries: 5, startPeriod: '30s' },
      },
      networks: [{ id: this.networks.database.id }],
      constraints: [`node.hostname==${dataNode}`],
      resources: { memoryBytes: 1024 * MiB, nanoCpus: 1e9 },
      // One backend process per connection (Keycloak's pool) plus PostgreSQL's own workers.
      pidsLimit: 512,
      dockerHost: estate.dockerHost,
    });

    const keycloak = hardenedSwarmService(this, 'keycloak', {
      name: names.service('keycloak'),
      labels: labelList('keycloak'),
      container: {
        image: estate.images.keycloak,
        // Production mode (`start`), its two passwords read from their secret files.
        command: commandWithSecretEnv([KEYCLOAK_SECRET_ENV.dbPassword, KEYCLOAK_SECRET_ENV.adminPassword], IDENTITY_IMAGE_ENTRYPOINTS.keycloak),
        env: keycloakEnv(estate, names, undefined),
        user: USERS.keycloak,
        // Keycloak's data dir holds only the run's temporary files (the database is PostgreSQL).
        mounts: [tmpfs('/tmp', 256), tmpfs('/opt/keycloak/data', 256)],
        secrets: [dbPassword.keycloak.mount(USERS.keycloak), adminPassword.mount(USERS.keycloak)],
        healthcheck: { test: KEYCLOAK_HEALTH_TEST, interval: '15s', timeout: '5s', retries: 3, startPeriod: '2m' },
      },
      networks: [{ id: this.networks.identity.id }, { id: this.networks.database.id }],
      constraints: managers,
      resources: { memoryBytes: 2048 * MiB, nanoCpus: 2e9 },
      // JVM threads count as pids: worker and I/O pools, GC, JIT.
      pidsLimit: 2048,
      dockerHost: estate.dockerHost,
      // Keycloak exits when its database is not there; PostgreSQL first, running with its final spec.
      dependsOn: [postgres.settled],
    });

    const entryConf = new SwarmConfigFile(this, 'entry-conf', {
      names,
      purpose: 'entry',
      upload: {
        file: ENTRY_CONF,
        content: renderSwarmEntryConf({
          domain: estate.domain,
          httpsPort: estate.httpsPort,
          tlsProtocols: estate.tls.protocols,
          tlsCurves: estate.tls.curves,
          certificatePath: TLS_IN_CONTAINER.certificate,
          keyPath: TLS_IN_CONTAINER.key,
          realm: estate.keycloak.realm,
          adminAllowCidrs: estate.keycloak.adminAllowCidrs,
          upstreams: { keycloak: `${names.service('keycloak')}:${INTERNAL_PORTS.keycloak}`, oauth2Proxy: `${names.service('oauth2-proxy')}:${INTERNAL_PORTS.oauth2Proxy}` },
          workspaceHostPrefix: names.userForwarderPrefix(),
          workspacePort: INTERNAL_PORTS.codeServer,
          // Terraform reaches Keycloak's admin API at providerUrl, through nginx: its host is served too.
          extraServerNames: servedNames(estate.domain, [estate.keycloak.providerUrl]),
        }),
      },
      labels: labels('nginx'),
    });
    const nginx = hardenedSwarmService(this, 'nginx', {
      name: names.service('nginx'),
      labels: labelList('nginx'),
      replicas: 'global',
      hostPorts: [
        { published: estate.httpsPort, target: INTERNAL_PORTS.nginxHttps },
        { published: estate.httpPort, target: INTERNAL_PORTS.nginxHttp },
      ],
      container: {
        image: estate.images.nginx,
        // -e: nginx opens its default error log before reading the config; the root is read-only.
        command: ['nginx', '-e', 'stderr', '-c', ENTRY_CONF, '-g', 'daemon off; pid /tmp/nginx.pid;'],
        user: USERS.nginx,
        mounts: [
          { type: 'bind', source: estate.tls.certificateFile, target: TLS_IN_CONTAINER.certificate, readOnly: true },
          { type: 'bind', source: estate.tls.keyFile, target: TLS_IN_CONTAINER.key, readOnly: true },
          tmpfs('/tmp', 64),
        ],
        configs: [entryConf.mount()],
        healthcheck: { test: ['CMD', 'nginx', '-t', '-q', '-e', 'stderr', '-c', ENTRY_CONF, '-g', 'pid /tmp/nginx-check.pid;'], interval: '30s', timeout: '5s', retries: 3, startPeriod: '10s' },
      },
      networks: [{ id: this.networks.edge.id }, { id: this.networks.identity.id }, { id: forwarders.id }],
      constraints: managers,
      resources: { memoryBytes: 512 * MiB, nanoCpus: 1e9 },
      // A master and one worker per core.
      pidsLimit: 512,
      dockerHost: estate.dockerHost,
    });

    this.services = { postgres: postgres.service, keycloak: keycloak.service, nginx: nginx.service };
  }
}
