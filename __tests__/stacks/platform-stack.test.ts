import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Aspects, Testing, TerraformStack } from 'cdktf';
import { DockerProvider } from '@cdktf/provider-docker/lib/provider';
import { NullProvider } from '@cdktf/provider-null/lib/provider';
import { parse } from 'yaml';
import { NginxEntry } from '../../constructs/nginx-entry';
import { EstateNames } from '../../constructs/naming';
import { EstatePolicyPack } from '../../policy/pack';
import { aiGatewayClosed } from '../../policy/rules/ai-gateway';
import { LITELLM_AUTH_HOOK, litellmAuthHookInput, renderLitellmAuthHook } from '../../render/litellm';
import { pinnedImage } from '../../stacks/common';
import { PlatformStack } from '../../stacks/platform-stack';
import { defaultEstate, defaultRoster } from '../helpers/inputs';
import { resourcesOf } from '../helpers/json';

function synthPlatform() {
  const estate = defaultEstate();
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
    // and the gateway's user map (rewritten by the links of every deploy).
    expect(Object.values(json.resource.docker_volume).map((v: any) => v.name)).toEqual([
      expect.stringMatching(/^webide-managed-audit-[0-9a-f]{12}$/),
      expect.stringMatching(/^webide-managed-litellm-[0-9a-f]{12}$/),
      expect.stringMatching(/^webide-managed-nginx-[0-9a-f]{12}$/),
      'webide-gateway-users',
    ]);
    expect(json.output.retained_volumes.value).toEqual(['webide-data-postgres', 'webide-data-tabby', 'webide-data-audit', 'webide-data-audit-queue']);
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

  it('declares every secret as a sensitive variable and only the edge network with a route out', () => {
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
      ['webide-net-identity', true],
    ]);
  });

  it('keeps PostgreSQL off every network but the database one', () => {
    const { containers } = synthPlatform();
    expect(containers.get('webide-postgres')!.networks_advanced).toEqual([{ name: '${docker_network.network-database.name}' }]);
    expect(containers.get('webide-keycloak')!.networks_advanced.map((n: { name: string }) => n.name)).toEqual([
      '${docker_network.network-identity.name}',
      '${docker_network.network-database.name}',
    ]);
  });
});
