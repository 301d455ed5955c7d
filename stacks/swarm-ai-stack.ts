import { Construct } from 'constructs';
import { TerraformStack } from 'cdktf';
import { Network } from '../.gen/providers/docker/network';
import { Service } from '../.gen/providers/docker/service';
import { SwarmConfig } from '../config/swarm';
import { INTERNAL_PORTS } from '../constructs/naming';
import { commandWithSecretEnv, envSecretFile, hardenedSwarmService, HardenedSwarmServiceProps, MiB, SHARED_TMPFS_MODE, SWARM_SECRETS_DIR, SwarmConfigFile, swarmOverlay, SwarmSecretFile } from '../constructs/swarm-files';
import { LITELLM_AUTH_HOOK, LITELLM_SECRET_ENV, litellmAuthHookInput, renderLitellmAuthHook, renderLitellmConfig } from '../render/litellm';
import { AI_GATEWAY_SECRET_ENV, renderNginxSecretsTemplate } from '../render/nginx';
import { renderSwarmAiGatewayConf } from '../render/swarm-ai-gateway';
import { aiSecretVariables, EstateStackProps, estateNames, useDocker } from './common';
import { AI_SERVICE_LIMITS, gpuPinning, LITELLM_CONFIG_DIR, LITELLM_CONFIG_FILE, localProfileStandIn, MODELS_DIR, tabbyArgs, vllmArgs } from './platform-stack';

/**
 * The entrypoints of the AI images, as their images declare them. A Swarm service that reads its
 * secrets from files (commandWithSecretEnv) replaces the image's entrypoint, so it names it here:
 * LiteLLM's is the estate's own image's contract (images/litellm), vLLM's and Tabby's those of
 * their upstream images (../shared/facts.md); the GPU-less stand-in answers to the same two.
 */
export const AI_IMAGE_ENTRYPOINTS = { litellm: ['litellm'], vllm: ['vllm', 'serve'], tabby: ['/opt/tabby/bin/tabby'] } as const;

/** The Swarm AI gateway's nginx.conf and its credentials, inside its container. */
const GATEWAY_CONF = '/etc/webide/ai-gateway.conf';
const GATEWAY_CREDENTIALS = 'ai-gateway-credentials.conf';
/** The estate nginx image's unprivileged user (as the forwarders). */
const NGINX_USER = '101:101';
/** As the entry point's nginx on one host. */
const GATEWAY_PIDS_LIMIT = 512;

/**
 * The AI services on a Docker Swarm (`target: swarm`): the model servers on the gpu node that
 * holds their GPUs, LiteLLM and the AI gateway on the managers, and the two overlays they meet
 * on: `ai` (internal: the gateway, LiteLLM and the model servers) and `forwarders` (internal:
 * the gateway, the entry point and every user's forwarder, which the workspaces stack looks up
 * by name). Every secret is a Swarm secret, a file; none is in an environment variable of a
 * service spec. Deployed before the workspaces (SwarmWorkspacesStack), which joins its network.
 *
 * The first of the Swarm target's stacks (stacks/estate.ts, buildSwarmEstate).
 */
export class SwarmAiStack extends TerraformStack {
  public readonly forwardersNetwork: Network;
  public readonly aiNetwork: Network;
  public readonly services: { readonly vllm: Service; readonly tabby: Service; readonly litellm: Service; readonly gateway: Service };

  constructor(scope: Construct, id: string, props: EstateStackProps) {
    super(scope, id);
    const { estate } = props;
    const swarm: SwarmConfig | undefined = estate.swarm;
    if (estate.target !== 'swarm' || swarm === undefined) throw new Error(`SwarmAiStack: the estate's target is ${estate.target}; this stack is the swarm target's`);
    useDocker(this, props);
    const names = estateNames(estate);
    const secrets = aiSecretVariables(this);

    const overlay = (purpose: 'forwarders' | 'ai') =>
      // Neither has a way out; the gateway is the one member of both.
      swarmOverlay(this, `${purpose}-network`, {
        name: names.network(purpose),
        internal: true,
        encrypted: swarm.encryptOverlays,
        labels: [
          { label: 'webide.estate', value: estate.name },
          { label: 'webide.component', value: `${purpose}-network` },
        ],
      });
    this.forwardersNetwork = overlay('forwarders');
    this.aiNetwork = overlay('ai');

    const labels = (component: string) => names.labels(estate, component);
    const labelList = (component: string, extra: Record<string, string> = {}) => Object.entries({ ...labels(component), ...extra }).map(([label, value]) => ({ label, value }));
    const secretFile = (purpose: string, file: string, template: string, values: Record<string, string>) =>
      new SwarmSecretFile(this, `secret-${purpose}`, { names, purpose, file, template, values, labels: labels('ai-secrets') });
    // The secrets a program reads from its environment, one file each, named after the variable;
    // each made once, when a service first needs it.
    const envSecretValues = {
      [LITELLM_SECRET_ENV.masterKey]: secrets.litellmMasterKey.stringValue,
      [LITELLM_SECRET_ENV.gatewayKey]: secrets.litellmGatewayKey.stringValue,
      [LITELLM_SECRET_ENV.vllmApiKey]: secrets.vllmApiKey.stringValue,
      TABBY_WEBSERVER_JWT_TOKEN_SECRET: secrets.tabbyJwtSecret.stringValue,
      TABBY_API_TOKEN: secrets.tabbyApiToken.stringValue,
    };
    type EnvSecret = keyof typeof envSecretValues;
    const envSecrets = new Map<EnvSecret, SwarmSecretFile>();
    const envSecret = (name: EnvSecret) => {
      if (!envSecrets.has(name)) envSecrets.set(name, envSecretFile(this, { names, variable: name, value: envSecretValues[name], labels: labels('ai-secrets') }));
      return envSecrets.get(name)!;
    };
    /** The command that reads these secret files into the program's environment, and their mounts. */
    const withSecrets = (variables: readonly EnvSecret[], user: string, program: readonly string[]) => ({
      command: commandWithSecretEnv(variables, program),
      secrets: variables.map((name) => envSecret(name).mount(user)),
    });

    const onManagers = ['node.role==manager'];
    const tmpfs = (target: string, sizeMiB: number, mode = SHARED_TMPFS_MODE) => ({ type: 'tmpfs', target, tmpfsOptions: { sizeBytes: sizeMiB * MiB, mode } });
    const service = (
      name: 'vllm' | 'tabby' | 'litellm' | 'ai-gateway',
      pidsLimit: number,
      resources: { memoryBytes: number; nanoCpus: number },
      task: Pick<HardenedSwarmServiceProps, 'container' | 'networks' | 'constraints'>,
      extraLabels: Record<string, string> = {},
    ) => hardenedSwarmService(this, name, { ...task, name: names.service(name), labels: labelList(name, extraLabels), resources, pidsLimit, dockerHost: estate.dockerHost }).service;

    // A Swarm node refuses a CPU limit above its own count. The local profile's model servers are
    // the GPU-less stand-in, which needs one CPU, on test machines that may have two.
    const modelServerCpus = (production: number) => (estate.profile === 'local' ? 1 : production) * 1e9;
    const limits = (name: keyof typeof AI_SERVICE_LIMITS, nanoCpus = AI_SERVICE_LIMITS[name].cpus * 1e9) => ({ memoryBytes: AI_SERVICE_LIMITS[name].memoryMiB * MiB, nanoCpus });
    const vllmHost = names.service('vllm');
    const chat = estate.models.chat;
    const vllmUser = '2000:0';
    const vllmSecrets = withSecrets([LITELLM_SECRET_ENV.vllmApiKey], vllmUser, [...AI_IMAGE_ENTRYPOINTS.vllm, ...vllmArgs(estate)]);
    const vllm = service(
      'vllm',
      AI_SERVICE_LIMITS.vllm.pids,
      limits('vllm', modelServerCpus(AI_SERVICE_LIMITS.vllm.cpus)),
      {
        container: {
          image: estate.images.vllm,
          ...vllmSecrets,
          env: { ...gpuPinning(estate.gpus.vllm), ...localProfileStandIn(estate.profile, 'vllm'), HF_HUB_OFFLINE: '1', HOME: '/home/vllm' },
          user: vllmUser,
          mounts: [
            { type: 'bind', source: chat.hostPath, target: `${MODELS_DIR}/chat`, readOnly: true },
            tmpfs('/tmp', 1024),
            tmpfs('/home/vllm', 4096),
            // PyTorch's shared memory between workers (one host: shm_size).
            tmpfs('/dev/shm', 8192),
          ],
          healthcheck: { test: ['CMD', 'curl', '-fsS', `http://127.0.0.1:${INTERNAL_PORTS.vllm}/health`], interval: '15s', timeout: '5s', retries: 3, startPeriod: '10m' },
        },
        networks: [{ id: this.aiNetwork.id }],
        constraints: onGpuNode(swarm, estate.gpus.vllm),
      },
      { 'webide.gpus': estate.gpus.vllm.join(',') },
    );

    const tabbyUser = '1000:1000';
    const tabbyVariables: EnvSecret[] = ['TABBY_WEBSERVER_JWT_TOKEN_SECRET', ...(estate.profile === 'local' ? (['TABBY_API_TOKEN'] as const) : [])];
    const tabby = service(
      'tabby',
      AI_SERVICE_LIMITS.tabby.pids,
      limits('tabby', modelServerCpus(AI_SERVICE_LIMITS.tabby.cpus)),
      {
        container: {
          image: estate.images.tabby,
          ...withSecrets(tabbyVariables, tabbyUser, [...AI_IMAGE_ENTRYPOINTS.tabby, ...tabbyArgs(estate)]),
          env: {
            ...gpuPinning(estate.gpus.tabby),
            TABBY_DISABLE_USAGE_COLLECTION: '1',
            TABBY_ROOT: '/data',
            HOME: '/data',
            TABBY_MODEL_CACHE_ROOT: `${MODELS_DIR}/completion`,
            // The stand-in's role only; its token comes from the secret file like the JWT secret.
            ...(estate.profile === 'local' ? localProfileStandIn(estate.profile, 'tabby') : {}),
          },
          user: tabbyUser,
          mounts: [
            { type: 'bind', source: estate.models.completion.hostPath, target: `${MODELS_DIR}/completion`, readOnly: true },
            // Tabby's data: a volume on the gpu node, created on first use, never a Terraform resource.
            { type: 'volume', source: names.dataVolume('tabby'), target: '/data' },
            tmpfs('/tmp', 1024),
          ],
          healthcheck: { test: ['CMD', 'curl', '-fsS', `http://127.0.0.1:${INTERNAL_PORTS.tabby}/v1/health`], interval: '15s', timeout: '5s', retries: 3, startPeriod: '5m' },
        },
        networks: [{ id: this.aiNetwork.id }],
        constraints: onGpuNode(swarm, estate.gpus.tabby),
      },
      { 'webide.gpus': estate.gpus.tabby.join(',') },
    );

    const litellmUser = '1000:1000';
    const litellmFile = (purpose: string, file: string, content: string) => new SwarmConfigFile(this, purpose, { names, purpose, upload: { file, content }, labels: labels('litellm') });
    const litellmFiles = [
      litellmFile(
        'litellm-config',
        LITELLM_CONFIG_FILE,
        renderLitellmConfig({
          chatModelName: chat.name,
          servedModelName: chat.servedName,
          vllmApiBase: `http://${vllmHost}:${INTERNAL_PORTS.vllm}/v1`,
          logPrompts: estate.litellm.logPrompts,
          metrics: estate.operations.monitoring.litellmMetrics,
        }),
      ),
      litellmFile('litellm-auth-hook', `${LITELLM_CONFIG_DIR}/${LITELLM_AUTH_HOOK.file}`, renderLitellmAuthHook(litellmAuthHookInput(chat.name))),
    ];
    const litellm = service('litellm', AI_SERVICE_LIMITS.litellm.pids, limits('litellm'), {
      container: {
        image: estate.images.litellm,
        ...withSecrets([LITELLM_SECRET_ENV.masterKey, LITELLM_SECRET_ENV.gatewayKey, LITELLM_SECRET_ENV.vllmApiKey], litellmUser, [
          ...AI_IMAGE_ENTRYPOINTS.litellm,
          '--config',
          LITELLM_CONFIG_FILE,
          '--port',
          String(INTERNAL_PORTS.litellm),
          '--num_workers',
          String(estate.litellm.numWorkers),
        ]),
        // Use the bundled model price list: no download attempt from the closed network.
        env: { LITELLM_LOCAL_MODEL_COST_MAP: 'True', LITELLM_LOG: 'INFO', HOME: '/tmp' },
        user: litellmUser,
        mounts: [tmpfs('/tmp', 256)],
        configs: litellmFiles.map((file) => file.mount()),
        healthcheck: {
          test: ['CMD', 'python3', '-c', `import urllib.request; urllib.request.urlopen('http://127.0.0.1:${INTERNAL_PORTS.litellm}/health/liveliness')`],
          interval: '15s',
          timeout: '5s',
          retries: 3,
          startPeriod: '1m',
        },
      },
      networks: [{ id: this.aiNetwork.id }],
      constraints: onManagers,
    });

    const gatewayConf = new SwarmConfigFile(this, 'ai-gateway-conf', {
      names,
      purpose: 'ai-gateway',
      upload: {
        file: GATEWAY_CONF,
        content: renderSwarmAiGatewayConf({
          port: INTERNAL_PORTS.aiGateway,
          upstreams: { litellm: `${names.service('litellm')}:${INTERNAL_PORTS.litellm}`, tabby: `${names.service('tabby')}:${INTERNAL_PORTS.tabby}` },
          secretsIncludePath: `${SWARM_SECRETS_DIR}/${GATEWAY_CREDENTIALS}`,
          aiLimits: estate.operations.aiLimits,
        }),
      },
      labels: labels('ai-gateway'),
    });
    // The gateway's two credentials in one nginx include (the one-host template, filled): a Swarm secret as a whole.
    const gatewayCredentials = secretFile('ai-gateway-credentials', GATEWAY_CREDENTIALS, renderNginxSecretsTemplate(), {
      [`$${AI_GATEWAY_SECRET_ENV.litellmKey}`]: secrets.litellmGatewayKey.stringValue,
      [`$${AI_GATEWAY_SECRET_ENV.tabbyToken}`]: secrets.tabbyApiToken.stringValue,
    });
    const gateway = service('ai-gateway', GATEWAY_PIDS_LIMIT, { memoryBytes: 256 * MiB, nanoCpus: 1e9 }, {
      container: {
        image: estate.images.nginx,
        command: ['nginx', '-c', GATEWAY_CONF, '-g', 'daemon off; pid /tmp/nginx.pid;'],
        user: NGINX_USER,
        mounts: [tmpfs('/tmp', 64)],
        configs: [gatewayConf.mount()],
        secrets: [gatewayCredentials.mount(NGINX_USER)],
      },
      networks: [{ id: this.forwardersNetwork.id }, { id: this.aiNetwork.id }],
      constraints: onManagers,
    });

    this.services = { vllm, tabby, litellm, gateway };
  }
}

/**
 * The placement of a model server: the gpu node that holds its GPUs (swarmRules: all of one
 * server's GPUs are on one gpu node), and only the GPUs it is given (gpuPinning), as on one host.
 */
function onGpuNode(swarm: SwarmConfig, gpuIds: readonly string[]) {
  const node = swarm.nodes.find((candidate) => candidate.role === 'gpu' && gpuIds.every((gpu) => candidate.gpuIds?.includes(gpu)));
  if (!node) throw new Error(`no gpu node of the swarm holds the GPUs ${gpuIds.join(', ')} (the config rules require one)`);
  return [`node.hostname==${node.name}`];
}
