import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Testing } from 'cdktf';
import { loadEstate } from '../../config/load';
import { commandWithSecretEnv, SWARM_SECRETS_DIR } from '../../constructs/swarm-files';
import { AI_IMAGE_ENTRYPOINTS, SwarmAiStack } from '../../stacks/swarm-ai-stack';
import { assetText, withoutEgress } from '../helpers/inputs';
import { resourcesOf, StackJson } from '../helpers/json';
import { SWARM_BLOCK, withDigests } from '../helpers/swarm';

type ServiceJson = {
  name: string;
  task_spec: {
    container_spec: { image: string; command?: string[]; env?: Record<string, string>; user: string; read_only: boolean; cap_drop: string[]; init: boolean; secrets?: { file_name: string; file_uid: string; file_gid: string; file_mode: number; secret_id: string }[] };
    networks_advanced: { id: string }[];
    placement: { constraints: string[] };
  };
};

const estate = loadEstate({ file: 'estate.yaml', text: `${withDigests(withoutEgress(assetText('estate.yaml')))}\n${SWARM_BLOCK}` });
const json: StackJson = JSON.parse(Testing.synth(new SwarmAiStack(Testing.app(), 'ai', { estate, roster: { users: [], groups: [], retired: [] } as never, stateFile: '/state/terraform.ai.tfstate' })));
const resources = resourcesOf(json);
const services = new Map([...resources].filter(([key]) => key.startsWith('docker_service.')).map(([, body]) => [(body as unknown as ServiceJson).name, body as unknown as ServiceJson]));
const service = (name: string) => services.get(name)!;

describe('SwarmAiStack (the Swarm target: the AI services)', () => {
  it('runs each model server on the gpu node that holds its GPUs, given only those GPUs', () => {
    // SWARM_BLOCK: tabby's GPU 0 on gpu-1, vllm's 1 and 2 on gpu-2.
    expect(service('webide-tabby').task_spec.placement.constraints).toEqual(['node.hostname==gpu-1']);
    expect(service('webide-vllm').task_spec.placement.constraints).toEqual(['node.hostname==gpu-2']);
    expect(service('webide-tabby').task_spec.container_spec.env).toMatchObject({ NVIDIA_VISIBLE_DEVICES: '0' });
    expect(service('webide-vllm').task_spec.container_spec.env).toMatchObject({ NVIDIA_VISIBLE_DEVICES: '1,2' });
    for (const name of ['webide-litellm', 'webide-ai-gateway']) expect([name, service(name).task_spec.placement.constraints]).toEqual([name, ['node.role==manager']]);
  });

  it('keeps every secret out of the service specs: Swarm secret files readable by the service user only, filled from variables', () => {
    const secretNames = ['LITELLM_MASTER_KEY', 'LITELLM_GATEWAY_KEY', 'VLLM_API_KEY', 'TABBY_WEBSERVER_JWT_TOKEN_SECRET', 'TABBY_API_TOKEN', 'KEY', 'PASSWORD', 'TOKEN', 'SECRET'];
    for (const [name, body] of services) {
      const env = Object.keys(body.task_spec.container_spec.env ?? {});
      expect([name, env.filter((key) => secretNames.some((secret) => key.includes(secret)))]).toEqual([name, []]);
    }
    const mounts = Object.fromEntries([...services].map(([name, body]) => [name, (body.task_spec.container_spec.secrets ?? []).map((s) => `${s.file_name} ${s.file_uid}:${s.file_gid} ${s.file_mode.toString(8)}`).sort()]));
    expect(mounts).toEqual({
      'webide-vllm': ['VLLM_API_KEY 2000:0 400'],
      'webide-tabby': ['TABBY_WEBSERVER_JWT_TOKEN_SECRET 1000:1000 400'],
      'webide-litellm': ['LITELLM_GATEWAY_KEY 1000:1000 400', 'LITELLM_MASTER_KEY 1000:1000 400', 'VLLM_API_KEY 1000:1000 400'],
      'webide-ai-gateway': ['ai-gateway-credentials.conf 101:101 400'],
    });
    const secrets = [...resources].filter(([key]) => key.startsWith('docker_secret.')).map(([, body]) => body as { name: string; data: string });
    for (const secret of secrets) {
      expect(secret.data).toMatch(/^\$\{base64encode\(.*var\.[a-z_]+.*\)\}$/s);
      expect(secret.name).toMatch(/^webide-secret-[a-z-]+-\$\{substr\(sha256\(/);
    }
    expect(JSON.stringify(json.variable)).toContain('"sensitive":true');
  });

  it('wraps each AI image’s own entrypoint with the secret reader, and runs the gateway as nginx on its rendered config', () => {
    const command = (name: string) => service(name).task_spec.container_spec.command!;
    expect(command('webide-vllm').slice(4, 6)).toEqual([...AI_IMAGE_ENTRYPOINTS.vllm]);
    expect(command('webide-tabby').slice(4, 6)).toEqual([...AI_IMAGE_ENTRYPOINTS.tabby, 'serve']);
    expect(command('webide-litellm').slice(4, 6)).toEqual([...AI_IMAGE_ENTRYPOINTS.litellm, '--config']);
    expect(command('webide-ai-gateway')).toEqual(['nginx', '-c', '/etc/webide/ai-gateway.conf', '-g', 'daemon off; pid /tmp/nginx.pid;']);
  });

  it('puts the gateway alone on both overlays: the model servers and LiteLLM only on the internal AI overlay', () => {
    const networks = Object.fromEntries([...services].map(([name, body]) => [name, body.task_spec.networks_advanced.map((n) => n.id.replace(/^\$\{docker_network\.([a-z]+)-network\.id\}$/, '$1')).sort()]));
    expect(networks).toEqual({ 'webide-vllm': ['ai'], 'webide-tabby': ['ai'], 'webide-litellm': ['ai'], 'webide-ai-gateway': ['ai', 'forwarders'] });
    const overlays = [...resources].filter(([key]) => key.startsWith('docker_network.')).map(([, body]) => body as { name: string });
    expect(overlays.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      expect.objectContaining({ name: 'webide-net-ai', driver: 'overlay', internal: true, attachable: false, options: { encrypted: '' } }),
      expect.objectContaining({ name: 'webide-net-forwarders', driver: 'overlay', internal: true, attachable: false, options: { encrypted: '' } }),
    ]);
  });

  it('hardens every service as on one host: read-only root, non-root, no capabilities, an init, memory, CPU and pids limits', () => {
    for (const [name, body] of services) {
      const spec = body.task_spec.container_spec;
      expect([name, spec.read_only, spec.cap_drop, spec.init, /^0:|^root/.test(spec.user)]).toEqual([name, true, ['ALL'], true, false]);
    }
    expect(service('webide-vllm').task_spec).toMatchObject({ resources: { limits: { memory_bytes: 65536 * 1024 * 1024, nano_cpus: 8e9 } } });
    // The pids limits: applied through the manager after every change of a service's task.
    const pids = Object.fromEntries(
      [...resources]
        .filter(([key]) => key.startsWith('null_resource.'))
        .map(([key, body]) => {
          const { triggers, provisioner } = body as { triggers: Record<string, string>; provisioner: { 'local-exec': { command: string } }[] };
          expect(triggers.task_spec).toMatch(/^[0-9a-f]{64}$/);
          expect(provisioner[0]['local-exec'].command).toContain('docker service update --quiet --limit-pids "$PIDS_LIMIT" "$SERVICE_ID"');
          return [key.replace(/^null_resource\.|-pids_pids-limit_[0-9A-F]{8}$/g, ''), triggers.pids_limit];
        }),
    );
    expect(pids).toEqual({ vllm: '4096', tabby: '2048', litellm: '1024', 'ai-gateway': '512' });
    // As the docker CLI writes them back after setting the pids limit: mounts by source, then target; an empty reservation.
    const vllm = service('webide-vllm').task_spec as unknown as { container_spec: { mounts: { source?: string; target: string }[] }; resources: { reservation: unknown } };
    expect(vllm.container_spec.mounts.map((m) => m.target)).toEqual(['/dev/shm', '/home/vllm', '/tmp', '/models/chat']);
    expect(vllm.resources.reservation).toEqual({ memory_bytes: 0, nano_cpus: 0 });
  });

  it("gives the local profile's model servers (the GPU-less stand-in) one CPU: a node refuses a limit above its own count", () => {
    const local = loadEstate({ file: 'estate.yaml', text: `${withDigests(withoutEgress(assetText('estate.yaml'))).replace(/^profile: .*$/m, 'profile: local')}\n${SWARM_BLOCK.replace('encryptOverlays: true', 'encryptOverlays: false')}` });
    const localJson: StackJson = JSON.parse(Testing.synth(new SwarmAiStack(Testing.app(), 'ai', { estate: local, roster: { users: [], groups: [], retired: [] } as never, stateFile: '/state/terraform.ai.tfstate' })));
    const cpus = [...resourcesOf(localJson)].filter(([key]) => key.startsWith('docker_service.')).map(([, body]) => [(body as unknown as ServiceJson).name, (body as { task_spec: { resources: { limits: { nano_cpus: number } } } }).task_spec.resources.limits.nano_cpus]);
    expect(Object.fromEntries(cpus)).toEqual({ 'webide-vllm': 1e9, 'webide-tabby': 1e9, 'webide-litellm': 2e9, 'webide-ai-gateway': 1e9 });
  });
});

describe('commandWithSecretEnv (run by the real /bin/sh)', () => {
  it('exports each secret file as its variable and runs the program with them, not touching the rest', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'secret-env-'));
    try {
      fs.writeFileSync(path.join(dir, 'FIRST_KEY'), 'sk-one two');
      fs.writeFileSync(path.join(dir, 'SECOND'), 'with "quotes" and $dollar');
      const [shell, flag, script, ...rest] = commandWithSecretEnv(['FIRST_KEY', 'SECOND'], ['sh', '-c', 'printf "%s|%s|%s" "$FIRST_KEY" "$SECOND" "$KEEP"']);
      const run = spawnSync(shell, [flag, script.split(SWARM_SECRETS_DIR).join(dir), ...rest], { env: { KEEP: 'kept', PATH: process.env.PATH }, encoding: 'utf8' });
      expect([run.status, run.stdout]).toEqual([0, 'sk-one two|with "quotes" and $dollar|kept']);
      fs.rmSync(path.join(dir, 'SECOND'));
      const missing = spawnSync(shell, [flag, script.split(SWARM_SECRETS_DIR).join(dir), ...rest], { encoding: 'utf8' });
      expect(missing.status).not.toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a name that is not an environment variable (it goes into a shell script)', () => {
    expect(() => commandWithSecretEnv(['A; rm -rf /'], ['true'])).toThrow("'A; rm -rf /' is not an environment variable name");
  });
});
