import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Aspects, Testing, TerraformStack } from 'cdktf';
import { DockerProvider } from '../../.gen/providers/docker/provider';
import { NullProvider } from '@cdktf/provider-null/lib/provider';
import { parse } from 'yaml';
import { NginxEntry } from '../../constructs/nginx-entry';
import { EstateNames } from '../../constructs/naming';
import { EstatePolicyPack } from '../../policy/pack';
import { aiGatewayClosed } from '../../policy/rules/ai-gateway';
import { LITELLM_AUTH_HOOK, litellmAuthHookInput, renderLitellmAuthHook } from '../../render/litellm';
import { alertRules } from '../../render/monitoring';
import { parseNginxConf, allDirectives } from '../../policy/nginx-conf';
import { pinnedImage } from '../../stacks/common';
import { PlatformStack } from '../../stacks/platform-stack';
import { defaultEstate, defaultRoster } from '../helpers/inputs';
import { resourcesOf } from '../helpers/json';

function synthPlatform(estate = defaultEstate()) {
  const stack = new PlatformStack(Testing.app(), 'platform', { estate, roster: defaultRoster(estate), stateFile: 'terraform.platform.tfstate' });
  const json = JSON.parse(Testing.synth(stack));
  const containers = new Map([...resourcesOf(json)].filter(([key]) => key.startsWith('docker_container.')).map(([, body]) => [body.name as string, body as Record<string, any>]));
  return { json, containers };
}

const env = (container: Record<string, any>) => Object.fromEntries((container.env as string[]).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));

describe('PlatformStack', () => {
  it('pins Tabby and vLLM to their own GPUs through the NVIDIA runtime (and never uses `gpus`)', () => {
    const { containers } = synthPlatform();
    const vllm = containers.get('webide-vllm')!;
    const tabby = containers.get('webide-tabby')!;
    expect(vllm.runtime).toBe('nvidia');
    expect(tabby.runtime).toBe('nvidia');
    expect(env(vllm).NVIDIA_VISIBLE_DEVICES).toBe('1,2');
    expect(env(tabby).NVIDIA_VISIBLE_DEVICES).toBe('0');
    expect(vllm.gpus).toBeUndefined();
    expect(tabby.gpus).toBeUndefined();
    expect(vllm.command).toEqual(expect.arrayContaining(['--tensor-parallel-size', '2', '--served-model-name', 'Qwen/Qwen2.5-Coder-7B-Instruct']));
  });

  it('runs Keycloak in production mode behind the proxy, on PostgreSQL', () => {
    const { containers } = synthPlatform();
    const keycloak = containers.get('webide-keycloak')!;
    expect(keycloak.command).toEqual(['start']);
    expect(env(keycloak)).toMatchObject({
      KC_DB: 'postgres',
      KC_DB_URL: 'jdbc:postgresql://webide-postgres:5432/keycloak',
      KC_PROXY_HEADERS: 'xforwarded',
      KC_HOSTNAME: 'https://ide.corp.example',
      KC_HTTP_ENABLED: 'true',
      KC_DB_PASSWORD: '${var.keycloak_db_password}',
      KC_BOOTSTRAP_ADMIN_PASSWORD: '${var.keycloak_admin_password}',
    });
    expect(JSON.stringify(keycloak)).not.toContain('start-dev');
  });

  it('keeps PostgreSQL data on a persistent named volume that Terraform never owns', () => {
    const { json, containers } = synthPlatform();
    expect(containers.get('webide-postgres')!.mounts).toEqual([
      expect.objectContaining({ type: 'volume', source: 'webide-data-postgres', target: '/var/lib/postgresql/data' }),
    ]);
    // The only volumes Terraform owns are the managed files' (their content is rendered, not data)
    // and the user maps of the gateway and the egress proxy (rewritten by the links of every deploy).
    expect(Object.values(json.resource.docker_volume).map((v: any) => v.name)).toEqual([
      expect.stringMatching(/^webide-managed-audit-[0-9a-f]{12}$/),
      expect.stringMatching(/^webide-managed-egress-proxy-[0-9a-f]{12}$/),
      'webide-egress-users',
      expect.stringMatching(/^webide-managed-litellm-[0-9a-f]{12}$/),
      expect.stringMatching(/^webide-managed-alertmanager-[0-9a-f]{12}$/),
      expect.stringMatching(/^webide-managed-mtail-[0-9a-f]{12}$/),
      expect.stringMatching(/^webide-managed-prometheus-[0-9a-f]{12}$/),
      expect.stringMatching(/^webide-managed-nginx-[0-9a-f]{12}$/),
      'webide-gateway-users',
    ]);
    expect(json.output.retained_volumes.value).toEqual([
      'webide-data-postgres',
      'webide-data-tabby',
      'webide-data-audit',
      'webide-data-audit-queue',
      'webide-data-prometheus',
      'webide-data-alertmanager',
    ]);
  });

  it('renders the LiteLLM config into the container: chat routed to vLLM, key from a sensitive variable, prompt logging off', () => {
    const { json, containers } = synthPlatform();
    const litellm = containers.get('webide-litellm')!;
    // Through the managed files' loader: LiteLLM mounts them read-only (its root is read-only).
    const loader = containers.get('webide-managed-litellm-loader')!;
    expect(loader).toMatchObject({ start: false, must_run: false });
    expect(litellm.mounts).toEqual([{ type: 'volume', source: expect.stringContaining('docker_volume.litellm-config_volume'), target: '/etc/litellm', read_only: true }]);
    expect(litellm.read_only).toBe(true);
    const config = parse(loader.upload.find((u: { file: string }) => u.file === '/etc/litellm/config.yaml').content);
    expect(config.model_list[0]).toMatchObject({
      model_name: 'qwen2.5-coder-7b-instruct',
      litellm_params: { model: 'openai/Qwen/Qwen2.5-Coder-7B-Instruct', api_base: 'http://webide-vllm:8000/v1' },
    });
    expect(config.litellm_settings.turn_off_message_logging).toBe(true);
    expect(env(litellm).LITELLM_MASTER_KEY).toBe('${var.litellm_master_key}');
    expect(json.variable.litellm_master_key).toMatchObject({ sensitive: true });
    expect(json.variable.litellm_master_key.validation[1].condition).toBe('${startswith(var.litellm_master_key, "sk-")}');
  });

  it("gives LiteLLM the gateway key and the auth hook that limits it; nginx gets the gateway key, never the master key", () => {
    const { json, containers } = synthPlatform();
    const litellm = containers.get('webide-litellm')!;
    expect(env(litellm).LITELLM_GATEWAY_KEY).toBe('${var.litellm_gateway_key}');
    const hook = containers.get('webide-managed-litellm-loader')!.upload.find((u: { file: string }) => u.file === `/etc/litellm/${LITELLM_AUTH_HOOK.file}`);
    expect(hook.content).toBe(renderLitellmAuthHook(litellmAuthHookInput('qwen2.5-coder-7b-instruct')));
    const nginx = containers.get('webide-nginx')!;
    expect(env(nginx).LITELLM_GATEWAY_KEY).toBe('${var.litellm_gateway_key}');
    expect(JSON.stringify(nginx)).not.toMatch(/MASTER_KEY|litellm_master_key/);
    const variable = json.variable.litellm_gateway_key;
    expect(variable).toMatchObject({ sensitive: true, nullable: false });
    expect(variable.validation.map((v: { condition: string }) => v.condition)).toEqual([
      '${length(var.litellm_gateway_key) >= 32}',
      '${var.litellm_gateway_key != var.litellm_master_key}',
    ]);
  });

  it('stops a real synth with WEBIDE-A1 when the AI gateway is given the master key', () => {
    const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-')) });
    const stack = new TerraformStack(app, 'platform');
    new DockerProvider(stack, 'docker', {});
    new NullProvider(stack, 'null');
    const estate = defaultEstate();
    new NginxEntry(stack, 'nginx', {
      estate,
      names: new EstateNames(estate.name),
      image: pinnedImage(stack, 'nginx-image', estate.images.nginx),
      networks: { edge: { name: 'edge', ipv4Address: '10.0.0.14' }, identity: { name: 'identity', ipv4Address: '10.0.0.30' }, ai: { name: 'ai', ipv4Address: '10.0.0.46' } },
      litellmGatewayKey: '${var.litellm_master_key}',
      tabbyApiToken: '${var.tabby_api_token}',
    });
    Aspects.of(stack).add(new EstatePolicyPack({ rules: [aiGatewayClosed], context: { profile: 'local', hostPathAllowList: [] }, suppressions: [] }));
    expect(() => app.synth()).toThrow(/\[platform\/nginx\/proxy\/container\] \[WEBIDE-A1\] The AI gateway forwards only the allow-listed/);
  });

  it('declares every secret as a sensitive variable and only the edge and egress networks with a route out', () => {
    const { json } = synthPlatform();
    for (const name of ['keycloak_admin_password', 'keycloak_db_password', 'litellm_master_key', 'litellm_gateway_key', 'vllm_api_key', 'tabby_jwt_secret']) {
      expect(json.variable[name]).toMatchObject({ sensitive: true, nullable: false });
    }
    const networks = Object.values(json.resource.docker_network) as Array<Record<string, unknown>>;
    expect(networks.map((n) => [n.name, n.internal]).sort()).toEqual([
      ['webide-net-ai', true],
      ['webide-net-audit', true],
      ['webide-net-database', true],
      ['webide-net-edge', false],
      // The egress proxy's way to the bank's services: only the proxy is on it.
      ['webide-net-egress', false],
      ['webide-net-identity', true],
      ['webide-net-monitoring', true],
    ]);
    const onEgress = [...synthPlatform().containers.entries()]
      .filter(([, c]) => (c.networks_advanced ?? []).some((n: { name: string }) => n.name.includes('docker_network.egress-proxy_network')))
      .map(([name]) => name);
    expect(onEgress).toEqual(['webide-egress-proxy']);
  });

  it('keeps PostgreSQL off every network but the database one', () => {
    const { containers } = synthPlatform();
    expect(containers.get('webide-postgres')!.networks_advanced).toEqual([{ name: '${docker_network.network-database.name}' }]);
    expect(containers.get('webide-keycloak')!.networks_advanced.map((n: { name: string }) => n.name)).toEqual([
      '${docker_network.network-identity.name}',
      '${docker_network.network-database.name}',
    ]);
  });

  describe('monitoring', () => {
    const loaderFile = (containers: Map<string, Record<string, any>>, loader: string, file: string): string =>
      containers.get(loader)!.upload.find((u: { file: string }) => u.file === file).content;

    it("lets only the nginx exporter, at its fixed identity address, read nginx's status page on nginx's identity address", () => {
      const { containers } = synthPlatform();
      const exporter = containers.get('webide-nginx-exporter')!;
      expect(exporter.networks_advanced).toContainEqual({ name: '${docker_network.network-identity.name}', ipv4_address: '172.31.251.252' });
      expect(exporter.command).toContain('-nginx.scrape-uri=http://172.31.251.254:8405/stub_status');
      const nginx = containers.get('webide-nginx')!;
      expect(nginx.networks_advanced).toContainEqual({ name: '${docker_network.network-identity.name}', ipv4_address: '172.31.251.254' });
      const conf = parseNginxConf(loaderFile(containers, 'webide-managed-nginx-loader', '/etc/webide-nginx/nginx.conf'));
      const status = allDirectives(conf).filter((d) => d.name === 'server' && d.block!.some((l) => l.name === 'listen' && /:8405$/.test(l.args[0])));
      expect(status.map((server) => server.block!.filter((d) => d.name === 'listen').map((d) => d.args[0]))).toEqual([['172.31.251.254:8405']]);
      const location = status[0].block!.find((d) => d.name === 'location' && d.args[1] === '/stub_status')!;
      expect(location.block!.map((d) => [d.name, ...d.args])).toEqual([['allow', '172.31.251.252'], ['deny', 'all'], ['stub_status']]);
    });

    it("scrapes the estate's services by name and takes the alert thresholds from operations.monitoring", () => {
      const estate = defaultEstate((text) => text.replace('autocompleteP95Ms: 250', 'autocompleteP95Ms: 180').replace('diskFreePercent: 10', 'diskFreePercent: 45'));
      const { containers } = synthPlatform(estate);
      const prometheusYml = parse(loaderFile(containers, 'webide-managed-prometheus-loader', '/etc/webide-monitoring/prometheus/prometheus.yml'));
      expect(Object.fromEntries(prometheusYml.scrape_configs.map((job: any) => [job.job_name, [job.static_configs[0].targets[0], job.metrics_path]]))).toEqual({
        alertmanager: ['webide-alertmanager:9093', '/metrics'],
        keycloak: ['webide-keycloak:9000', '/metrics'],
        litellm: ['webide-litellm:4000', '/metrics/'],
        mtail: ['webide-mtail:3903', '/metrics'],
        nginx: ['webide-nginx-exporter:9113', '/metrics'],
        node: ['webide-node-exporter:9100', '/metrics'],
        prometheus: ['localhost:9090', '/metrics'],
        tabby: ['webide-tabby:8080', '/metrics'],
        vllm: ['webide-vllm:8000', '/metrics'],
      });
      expect(prometheusYml.global.external_labels).toEqual({ estate: 'webide' });
      expect(prometheusYml.alerting.alertmanagers[0].static_configs[0].targets).toEqual(['webide-alertmanager:9093']);
      const rules = parse(loaderFile(containers, 'webide-managed-prometheus-loader', '/etc/webide-monitoring/prometheus/alerts.rules.yml')).groups[0].rules;
      // 45% free is above the predictive branch's 40%: that branch then starts at the threshold itself.
      expect(rules).toEqual(alertRules({ autocompleteP95TargetMs: 180, diskFreeMinPercent: 45, diskPredictBelowPercent: 45 }).map((r) => ({ ...r })));
      expect(rules.find((r: any) => r.alert === 'AutocompleteLatencyHigh').expr).toMatch(/> 0\.18$/);
      // Who is scraped is on the networks Prometheus joins.
      expect(containers.get('webide-prometheus')!.networks_advanced.map((n: { name: string }) => n.name)).toEqual([
        '${docker_network.monitoring_network_18A65B3C.name}',
        '${docker_network.network-identity.name}',
        '${docker_network.network-ai.name}',
      ]);
    });

    it("turns LiteLLM's /metrics/ on with operations.monitoring.litellmMetrics, and leaves it (and its scrape) out when off", () => {
      const on = synthPlatform();
      expect(parse(loaderFile(on.containers, 'webide-managed-litellm-loader', '/etc/litellm/config.yaml')).litellm_settings).toMatchObject({
        callbacks: ['prometheus'],
        require_auth_for_metrics_endpoint: false,
      });
      const off = synthPlatform(defaultEstate((text) => text.replace('litellmMetrics: true', 'litellmMetrics: false')));
      expect(parse(loaderFile(off.containers, 'webide-managed-litellm-loader', '/etc/litellm/config.yaml')).litellm_settings).not.toHaveProperty('callbacks');
      const jobs = parse(loaderFile(off.containers, 'webide-managed-prometheus-loader', '/etc/webide-monitoring/prometheus/prometheus.yml')).scrape_configs.map((j: any) => j.job_name);
      expect(jobs).not.toContain('litellm');
      expect(jobs).toContain('vllm');
    });
  });
});
