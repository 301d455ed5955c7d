import { Construct } from 'constructs';
import { TerraformOutput, TerraformStack } from 'cdktf';
import { Network } from '../.gen/providers/docker/network';
import { EstateConfig } from '../config/estate';
import { subnetPlan } from '../config/subnets';
import { publicOrigin, stubStatusUrl } from '../render/nginx';
import { estateScrapeTargets, MONITORING_PORTS } from '../render/monitoring';
import { LITELLM_AUTH_HOOK, LITELLM_SECRET_ENV, litellmAuthHookInput, renderLitellmAuthHook, renderLitellmConfig } from '../render/litellm';
import { HardenedContainer } from '../constructs/hardened-container';
import { ManagedFiles } from '../constructs/managed-files';
import { EgressProxy } from '../constructs/egress-proxy';
import { NginxEntry } from '../constructs/nginx-entry';
import { AuditTrail } from '../constructs/audit-trail';
import { Monitoring } from '../constructs/monitoring';
import { EstateNames, INTERNAL_PORTS } from '../constructs/naming';
import { aiSecretVariables, EstateStackProps, estateNames, keycloakSecretVariables, pinnedImage, useDocker } from './common';

/** The Keycloak admin that Terraform signs in as (bootstrap admin of the master realm). */
export const KEYCLOAK_ADMIN_USER = 'estate-admin';

/** LiteLLM's config and auth hook (ManagedFiles: the root filesystem is read-only). */
export const LITELLM_CONFIG_DIR = '/etc/litellm';
/** LiteLLM's config.yaml (render/litellm.ts), as its loader receives it and LiteLLM reads it. */
export const LITELLM_CONFIG_FILE = `${LITELLM_CONFIG_DIR}/config.yaml`;

/**
 * The AI services' limits, on one host and on a swarm (stacks/swarm-ai-stack.ts). Pids: PyTorch,
 * NCCL and vLLM's API server start many threads per GPU; Tabby fewer; LiteLLM a few per worker.
 */
export const AI_SERVICE_LIMITS = {
  vllm: { memoryMiB: 65536, cpus: 8, pids: 4096 },
  tabby: { memoryMiB: 16384, cpus: 4, pids: 2048 },
  litellm: { memoryMiB: 2048, cpus: 2, pids: 1024 },
} as const;

/** Mount point of the model directories inside the model servers. */
export const MODELS_DIR = '/models';

/** vLLM's arguments (after its image's entrypoint), on one host and on a swarm. */
export function vllmArgs(estate: EstateConfig): string[] {
  const chat = estate.models.chat;
  return [
    `${MODELS_DIR}/chat`,
    '--served-model-name',
    chat.servedName,
    '--host',
    '0.0.0.0',
    '--port',
    String(INTERNAL_PORTS.vllm),
    '--max-model-len',
    String(chat.maxModelLen),
    '--gpu-memory-utilization',
    String(chat.gpuMemoryUtilization),
    '--tensor-parallel-size',
    String(estate.gpus.vllm.length),
  ];
}

/** Tabby's arguments (after its image's entrypoint), on one host and on a swarm. */
export function tabbyArgs(estate: EstateConfig): string[] {
  return ['serve', '--model', estate.models.completion.model, '--device', 'cuda', '--host', '0.0.0.0', '--port', String(INTERNAL_PORTS.tabby)];
}

/** Keycloak's two secrets, as environment variables of its image. */
export const KEYCLOAK_SECRET_ENV = { adminPassword: 'KC_BOOTSTRAP_ADMIN_PASSWORD', dbPassword: 'KC_DB_PASSWORD' } as const;

/**
 * Keycloak's environment on either target: production mode behind the entry's TLS, its database,
 * health and metrics, records as JSON to the console and, when the estate has one, the audit
 * sink. `secrets`: their values as environment variables (one host); without them, the caller
 * provides them otherwise (a Swarm service reads them from secret files).
 */
export function keycloakEnv(estate: EstateConfig, names: EstateNames, secrets: { readonly adminPassword: string; readonly dbPassword: string } | undefined, auditSyslogEndpoint?: string): Record<string, string> {
  return {
    KC_BOOTSTRAP_ADMIN_USERNAME: KEYCLOAK_ADMIN_USER,
    ...(secrets ? { [KEYCLOAK_SECRET_ENV.adminPassword]: secrets.adminPassword } : {}),
    KC_DB: 'postgres',
    KC_DB_URL: `jdbc:postgresql://${names.service('postgres')}:${INTERNAL_PORTS.postgres}/keycloak`,
    KC_DB_USERNAME: 'keycloak',
    ...(secrets ? { [KEYCLOAK_SECRET_ENV.dbPassword]: secrets.dbPassword } : {}),
    KC_HOSTNAME: publicOrigin(estate.domain, estate.httpsPort),
    KC_HOSTNAME_BACKCHANNEL_DYNAMIC: 'true',
    // TLS ends at nginx; Keycloak trusts its X-Forwarded-* headers and nothing else reaches it.
    KC_HTTP_ENABLED: 'true',
    KC_PROXY_HEADERS: 'xforwarded',
    KC_HEALTH_ENABLED: 'true',
    KC_METRICS_ENABLED: 'true',
    // Console and the audit sink: every record, login and admin events included (the
    // jboss-logging listener, at info for successes; never with representations).
    KC_LOG: auditSyslogEndpoint ? 'console,syslog' : 'console',
    KC_LOG_CONSOLE_OUTPUT: 'json',
    ...(auditSyslogEndpoint
      ? {
          KC_LOG_SYSLOG_ENDPOINT: auditSyslogEndpoint,
          KC_LOG_SYSLOG_PROTOCOL: 'tcp',
          KC_LOG_SYSLOG_OUTPUT: 'json',
          KC_LOG_SYSLOG_APP_NAME: 'keycloak',
          // Long admin events are not cut (the sink takes 64 KiB).
          KC_LOG_SYSLOG_MAX_LENGTH: '65536',
        }
      : {}),
    KC_SPI_EVENTS_LISTENER_JBOSS_LOGGING_SUCCESS_LEVEL: 'info',
    KC_SPI_EVENTS_LISTENER_JBOSS_LOGGING_ERROR_LEVEL: 'warn',
  };
}

/**
 * Keycloak's health test. The image has no curl; bash's /dev/tcp asks the management port
 * instead (bash explicitly: /dev/tcp is a bash feature and /bin/sh is not bash everywhere).
 * Ready is not enough: on a first start Keycloak answers 503 while it bootstraps the master
 * realm, so healthy also needs the master realm to answer 200.
 */
export const KEYCLOAK_HEALTH_TEST = [
  'CMD',
  'bash',
  '-c',
  `exec 3<>/dev/tcp/127.0.0.1/${INTERNAL_PORTS.keycloakManagement} && printf 'GET /health/ready HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '"UP"' <&3 && ` +
    `exec 4<>/dev/tcp/127.0.0.1/${INTERNAL_PORTS.keycloak} && printf 'GET /realms/master HTTP/1.0\\r\\n\\r\\n' >&4 && head -n 1 <&4 | grep -q ' 200 '`,
];

/** PostgreSQL's environment (its password aside) and health test, on either target. */
export const POSTGRES_ENV = { POSTGRES_DB: 'keycloak', POSTGRES_USER: 'keycloak', PGDATA: '/var/lib/postgresql/data/pgdata' } as const;
export const POSTGRES_HEALTH_TEST = ['CMD', 'pg_isready', '-U', 'keycloak', '-d', 'keycloak', '-h', '127.0.0.1'];

/**
 * Long-lived services and the networks between them: PostgreSQL, Keycloak, LiteLLM,
 * Tabby, vLLM, nginx, the audit trail and the monitoring. Holds the estate's databases, so it
 * changes rarely and alone.
 */
export class PlatformStack extends TerraformStack {
  public readonly networks: { readonly edge: Network; readonly identity: Network; readonly database: Network; readonly ai: Network };
  /** The entry point; the workspaces stack links it to each user's network. */
  public readonly nginx: NginxEntry;
  /** The egress proxy to the bank's declared services, when `egress` is configured. */
  public readonly egressProxy?: EgressProxy;

  constructor(scope: Construct, id: string, props: EstateStackProps) {
    super(scope, id);
    useDocker(this, props);
    const { estate } = props;
    const names = estateNames(estate);

    const secrets = {
      ...keycloakSecretVariables(this),
      ...aiSecretVariables(this),
    };

    // nginx has a fixed address on the edge, identity and ai networks (the last host of each
    // subnet); Docker hands out the lower half of each to the other containers.
    const plans = { edge: subnetPlan(estate.edgeSubnet), identity: subnetPlan(estate.identitySubnet), ai: subnetPlan(estate.aiSubnet) };
    const network = (purpose: 'edge' | 'identity' | 'database' | 'ai', internal: boolean) =>
      new Network(this, `network-${purpose}`, {
        name: names.network(purpose),
        driver: 'bridge',
        internal,
        attachable: false,
        ...(purpose !== 'database' ? { ipamConfig: [{ subnet: plans[purpose].subnet, ipRange: plans[purpose].ipRange }] } : {}),
        labels: [
          { label: 'webide.component', value: `network-${purpose}` },
          { label: 'webide.estate', value: estate.name },
        ],
      });
    // Only the edge network has a route out (nginx must publish ports); all others are internal.
    this.networks = {
      edge: network('edge', false),
      identity: network('identity', true),
      database: network('database', true),
      ai: network('ai', true),
    };

    const labels = (component: string) => names.labels(estate, component);

    const postgres = new HardenedContainer(this, 'postgres', {
      containerName: names.service('postgres'),
      image: pinnedImage(this, 'postgres-image', estate.images.postgres),
      networks: [{ name: this.networks.database.name }],
      user: '999:999',
      memoryMiB: 1024,
      cpus: 1,
      // One backend process per connection (Keycloak's pool) plus PostgreSQL's own workers.
      pidsLimit: 512,
      dockerHost: estate.dockerHost,
      env: { POSTGRES_DB: POSTGRES_ENV.POSTGRES_DB, POSTGRES_USER: POSTGRES_ENV.POSTGRES_USER, POSTGRES_PASSWORD: secrets.keycloakDbPassword.stringValue, PGDATA: POSTGRES_ENV.PGDATA },
      tmpfs: { '/run/postgresql': 'rw,nosuid,nodev,size=16m', '/tmp': 'rw,nosuid,nodev,size=64m' },
      mounts: [dataVolume(names.dataVolume('postgres'), '/var/lib/postgresql/data')],
      healthcheck: { test: POSTGRES_HEALTH_TEST, startPeriodSeconds: 30 },
      labels: labels('postgres'),
    });

    // The audit trail first: nginx and Keycloak send their records to its sink.
    const audit = new AuditTrail(this, 'audit', {
      estate,
      names,
      image: pinnedImage(this, 'audit-image', estate.images.audit),
      identity: { name: this.networks.identity.name, ipv4Address: plans.identity.auditAddress },
    });

    new HardenedContainer(this, 'keycloak', {
      containerName: names.service('keycloak'),
      image: pinnedImage(this, 'keycloak-image', estate.images.keycloak),
      networks: [{ name: this.networks.identity.name }, { name: this.networks.database.name }],
      user: '1000:0',
      memoryMiB: 2048,
      cpus: 2,
      // JVM threads count as pids: worker and I/O pools, GC, JIT.
      pidsLimit: 2048,
      dockerHost: estate.dockerHost,
      // Production mode: `start`, never `start-dev`.
      command: ['start'],
      env: keycloakEnv(estate, names, { adminPassword: secrets.keycloakAdminPassword.stringValue, dbPassword: secrets.keycloakDbPassword.stringValue }, audit.syslogEndpoint),
      // Keycloak's data dir holds only the run's temporary files and transaction logs here (the
      // database is PostgreSQL), so it is a tmpfs and the root stays read-only.
      tmpfs: { '/tmp': 'rw,nosuid,nodev,size=256m', '/opt/keycloak/data': 'rw,nosuid,nodev,size=256m,uid=1000,gid=0,mode=0770' },
      healthcheck: { test: KEYCLOAK_HEALTH_TEST, startPeriodSeconds: 120 },
      // The identity stack, deployed next, signs in to Keycloak at once.
      waitHealthySeconds: 600,
      labels: labels('keycloak'),
      dependsOn: [postgres.container],
    });

    const vllmHost = names.service('vllm');
    const chat = estate.models.chat;
    new HardenedContainer(this, 'vllm', {
      containerName: vllmHost,
      image: pinnedImage(this, 'vllm-image', estate.images.vllm),
      networks: [{ name: this.networks.ai.name }],
      user: '2000:0',
      memoryMiB: AI_SERVICE_LIMITS.vllm.memoryMiB,
      cpus: AI_SERVICE_LIMITS.vllm.cpus,
      pidsLimit: AI_SERVICE_LIMITS.vllm.pids,
      dockerHost: estate.dockerHost,
      runtime: estate.gpus.runtime,
      command: vllmArgs(estate),
      env: {
        ...gpuPinning(estate.gpus.vllm),
        VLLM_API_KEY: secrets.vllmApiKey.stringValue,
        ...localProfileStandIn(estate.profile, 'vllm'),
        HF_HUB_OFFLINE: '1',
        HOME: '/home/vllm',
      },
      shmSizeMiB: 8192,
      // Its caches (compiled kernels, the tokenizer's) go to HOME; the models are read-only mounts.
      tmpfs: { '/tmp': 'rw,nosuid,nodev,size=1g', '/home/vllm': 'rw,nosuid,nodev,size=4g,uid=2000,gid=0,mode=0770' },
      mounts: [{ type: 'bind', source: chat.hostPath, target: `${MODELS_DIR}/chat`, readOnly: true }],
      healthcheck: { test: ['CMD', 'curl', '-fsS', `http://127.0.0.1:${INTERNAL_PORTS.vllm}/health`], startPeriodSeconds: 600 },
      labels: { ...labels('vllm'), 'webide.gpus': estate.gpus.vllm.join(',') },
    });

    new HardenedContainer(this, 'tabby', {
      containerName: names.service('tabby'),
      image: pinnedImage(this, 'tabby-image', estate.images.tabby),
      networks: [{ name: this.networks.ai.name }],
      // Non-root: the image's data directory (/data, Tabby's root) must belong to this uid.
      user: '1000:1000',
      memoryMiB: AI_SERVICE_LIMITS.tabby.memoryMiB,
      cpus: AI_SERVICE_LIMITS.tabby.cpus,
      pidsLimit: AI_SERVICE_LIMITS.tabby.pids,
      dockerHost: estate.dockerHost,
      runtime: estate.gpus.runtime,
      command: tabbyArgs(estate),
      env: {
        ...gpuPinning(estate.gpus.tabby),
        TABBY_DISABLE_USAGE_COLLECTION: '1',
        TABBY_ROOT: '/data',
        HOME: '/data',
        TABBY_MODEL_CACHE_ROOT: `${MODELS_DIR}/completion`,
        TABBY_WEBSERVER_JWT_TOKEN_SECRET: secrets.tabbyJwtSecret.stringValue,
        ...localProfileStandIn(estate.profile, 'tabby', secrets.tabbyApiToken.stringValue),
      },
      tmpfs: { '/tmp': 'rw,nosuid,nodev,size=1g' },
      mounts: [
        { type: 'bind', source: estate.models.completion.hostPath, target: `${MODELS_DIR}/completion`, readOnly: true },
        dataVolume(names.dataVolume('tabby'), '/data'),
      ],
      healthcheck: { test: ['CMD', 'curl', '-fsS', `http://127.0.0.1:${INTERNAL_PORTS.tabby}/v1/health`], startPeriodSeconds: 300 },
      labels: { ...labels('tabby'), 'webide.gpus': estate.gpus.tabby.join(',') },
    });

    const litellmImage = pinnedImage(this, 'litellm-image', estate.images.litellm);
    new HardenedContainer(this, 'litellm', {
      containerName: names.service('litellm'),
      image: litellmImage,
      networks: [{ name: this.networks.ai.name }],
      user: '1000:1000',
      memoryMiB: AI_SERVICE_LIMITS.litellm.memoryMiB,
      cpus: AI_SERVICE_LIMITS.litellm.cpus,
      pidsLimit: AI_SERVICE_LIMITS.litellm.pids,
      dockerHost: estate.dockerHost,
      command: ['--config', LITELLM_CONFIG_FILE, '--port', String(INTERNAL_PORTS.litellm), '--num_workers', String(estate.litellm.numWorkers)],
      env: {
        [LITELLM_SECRET_ENV.masterKey]: secrets.litellmMasterKey.stringValue,
        [LITELLM_SECRET_ENV.gatewayKey]: secrets.litellmGatewayKey.stringValue,
        [LITELLM_SECRET_ENV.vllmApiKey]: secrets.vllmApiKey.stringValue,
        // Use the bundled model price list: no download attempt from the closed network.
        LITELLM_LOCAL_MODEL_COST_MAP: 'True',
        LITELLM_LOG: 'INFO',
        HOME: '/tmp',
      },
      tmpfs: { '/tmp': 'rw,nosuid,nodev,size=256m' },
      managedFiles: new ManagedFiles(this, 'litellm-config', {
        name: names.managedFiles('litellm'),
        image: litellmImage,
        directory: LITELLM_CONFIG_DIR,
        files: [
          {
            file: LITELLM_CONFIG_FILE,
            content: renderLitellmConfig({
              chatModelName: chat.name,
              servedModelName: chat.servedName,
              vllmApiBase: `http://${vllmHost}:${INTERNAL_PORTS.vllm}/v1`,
              logPrompts: estate.litellm.logPrompts,
              metrics: estate.operations.monitoring.litellmMetrics,
            }),
          },
          { file: `${LITELLM_CONFIG_DIR}/${LITELLM_AUTH_HOOK.file}`, content: renderLitellmAuthHook(litellmAuthHookInput(chat.name)) },
        ],
        labels: labels('litellm'),
      }),
      healthcheck: {
        test: ['CMD', 'python3', '-c', `import urllib.request; urllib.request.urlopen('http://127.0.0.1:${INTERNAL_PORTS.litellm}/health/liveliness')`],
        startPeriodSeconds: 60,
      },
      labels: labels('litellm'),
    });

    // nginx comes with the platform: Terraform reaches Keycloak's admin API through it when
    // the identity stack deploys, and the workspaces stack links it to each user's network.
    this.nginx = new NginxEntry(this, 'nginx', {
      estate,
      names,
      image: pinnedImage(this, 'nginx-image', estate.images.nginx),
      networks: {
        edge: { name: this.networks.edge.name, ipv4Address: plans.edge.nginxAddress },
        identity: { name: this.networks.identity.name, ipv4Address: plans.identity.nginxAddress },
        ai: { name: this.networks.ai.name, ipv4Address: plans.ai.nginxAddress },
      },
      litellmGatewayKey: secrets.litellmGatewayKey.stringValue,
      tabbyApiToken: secrets.tabbyApiToken.stringValue,
      auditSyslog: audit.nginxTarget,
      statusPageClient: plans.identity.nginxExporterAddress,
    });

    if (estate.egress) {
      if (!estate.images.egressProxy) throw new Error('egress is set but images.egressProxy is not (the config rules require it)');
      this.egressProxy = new EgressProxy(this, 'egress-proxy', {
        egress: estate.egress,
        names,
        image: pinnedImage(this, 'egress-proxy-image', estate.images.egressProxy),
        identityNetworkName: this.networks.identity.name,
        auditSinkAddress: plans.identity.auditAddress,
        deniedCidrs: [estate.edgeSubnet, estate.identitySubnet, estate.aiSubnet],
        labels: labels('egress-proxy'),
        dockerHost: estate.dockerHost,
      });
    }

    // Monitoring: Prometheus scrapes the services on their networks; mtail reads the audit records.
    const monitoringSettings = estate.operations.monitoring;
    const monitoring = new Monitoring(this, 'monitoring', {
      estate,
      names,
      image: pinnedImage(this, 'monitoring-image', estate.images.monitoring),
      networks: { identity: this.networks.identity, ai: this.networks.ai },
      nginxExporterAddress: plans.identity.nginxExporterAddress,
      nginxStatusUrl: stubStatusUrl(plans.identity.nginxAddress, INTERNAL_PORTS.nginxStatus),
      auditTrail: audit,
      scrapeTargets: estateScrapeTargets({
        keycloakManagement: `${names.service('keycloak')}:${INTERNAL_PORTS.keycloakManagement}`,
        litellm: `${names.service('litellm')}:${INTERNAL_PORTS.litellm}`,
        litellmMetrics: monitoringSettings.litellmMetrics,
        vllm: `${vllmHost}:${INTERNAL_PORTS.vllm}`,
        tabby: `${names.service('tabby')}:${INTERNAL_PORTS.tabby}`,
        nginxExporter: `${names.service('nginx-exporter')}:${MONITORING_PORTS.nginxExporter}`,
        nodeExporter: `${names.service('node-exporter')}:${MONITORING_PORTS.nodeExporter}`,
        mtail: `${names.service('mtail')}:${MONITORING_PORTS.mtail}`,
        alertmanager: `${names.service('alertmanager')}:${MONITORING_PORTS.alertmanager}`,
      }),
      scrapeIntervalSeconds: monitoringSettings.scrapeIntervalSeconds,
      alertRules: {
        autocompleteP95TargetMs: monitoringSettings.autocompleteP95Ms,
        autocompleteForMinutes: monitoringSettings.autocompleteForMinutes,
        serviceDownForMinutes: monitoringSettings.serviceDownForMinutes,
        diskFreeMinPercent: monitoringSettings.diskFreePercent,
        // The early warning ("full within a day") only below 40% free, or below the threshold itself
        // when that is higher (then the threshold alone already fires).
        diskPredictBelowPercent: Math.max(40, monitoringSettings.diskFreePercent),
      },
      alertmanager: { webhookUrl: monitoringSettings.alertWebhookUrl },
    });

    new TerraformOutput(this, 'retained_volumes', {
      value: [names.dataVolume('postgres'), names.dataVolume('tabby'), names.dataVolume('audit'), names.dataVolume('audit-queue'), ...monitoring.retainedVolumes],
      description: 'Data volumes created by Docker on first use and never deleted by Terraform (not even by destroy).',
    }).overrideLogicalId('retained_volumes');
  }
}

/**
 * GPU pinning through the NVIDIA runtime, which exposes only the devices in
 * NVIDIA_VISIBLE_DEVICES. (On provider 3.6.2 `gpus = "device=…"` read back as `all` and
 * replaced the container on every apply; 4.5.0 parses it, but no GPU here proves it: see README.)
 */
export function gpuPinning(deviceIds: readonly string[]): Record<string, string> {
  return {
    NVIDIA_VISIBLE_DEVICES: deviceIds.join(','),
    NVIDIA_DRIVER_CAPABILITIES: 'compute,utility',
  };
}

/**
 * The `local` profile's one difference in the model servers: their images are the GPU-less
 * stand-in (images/ai-standin), which needs its role, and, as Tabby, the API token a real
 * Tabby would have issued, so that a missing or wrong token still fails. Nothing in production.
 */
export function localProfileStandIn(profile: 'production' | 'local', role: 'vllm' | 'tabby', tabbyApiToken?: string): Record<string, string> {
  if (profile !== 'local') return {};
  return { STANDIN_ROLE: role, ...(tabbyApiToken === undefined ? {} : { TABBY_API_TOKEN: tabbyApiToken }) };
}

/** A named volume Docker creates on first use; Terraform references it but never owns (or deletes) it. */
function dataVolume(name: string, target: string) {
  // No volume_options: the provider then needs Docker API 1.45+ (3.6.2 sends Subpath, 4.5.0 refuses below 1.45).
  return { type: 'volume', target, source: name };
}
