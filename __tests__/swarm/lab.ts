/**
 * The Swarm tier's handles on the lab (scripts/swarm/lab.sh): its nodes' engines and the running
 * tasks of services, shared by the tier's tests.
 */
import { randomBytes, randomUUID } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse } from 'yaml';
import { assetText, withoutBackup, withoutEgress } from '../helpers/inputs';
import { mustRun, ROOT, run, sleep } from '../helpers/run';
import { LOCAL_REGISTRY_IMAGE, withRegistryImage } from '../helpers/swarm';

/** The image of the estate-run registry, as the lab loads it onto swarm-m1. */
export { LOCAL_REGISTRY_IMAGE };

export const LAB = path.join(ROOT, 'scripts', 'swarm', 'lab.sh');
export const NODES = ['swarm-m1', 'swarm-w1', 'swarm-w2'] as const;
export type NodeName = (typeof NODES)[number];
/** The DOCKER_HOST of a node's engine. */
export const engine = (node: NodeName) => mustRun('bash', [LAB, 'host', node]).trim();
/** The docker CLI against one node's engine (throws when it fails). */
export const on = (node: NodeName, ...args: string[]) => mustRun('docker', ['-H', engine(node), ...args]).trim();
export const manager = (...args: string[]) => on('swarm-m1', ...args);

/** Copies local images (the host engine's) into the lab registry; their references by digest, in order. */
export function pushToLab(...images: string[]): string[] {
  return mustRun('bash', [LAB, 'push', ...images], { timeout: 900_000 }).trim().split('\n').slice(-images.length);
}

/** The running container of a service's single task: on which node, and its id there. */
export function task(service: string): { node: NodeName; id: string } {
  for (const node of NODES) {
    const id = on(node, 'ps', '-q', '--filter', `label=com.docker.swarm.service.name=${service}`, '--filter', 'status=running');
    if (id) return { node, id: id.split('\n')[0] };
  }
  throw new Error(`no running task of ${service}`);
}

/** Waits (bounded) for a service's task to run, on `onNode` when given. */
export async function waitRunning(service: string, onNode?: NodeName, seconds = 60): Promise<{ node: NodeName; id: string }> {
  for (let i = 0; i < seconds * 2; i++) {
    try {
      const found = task(service);
      if (!onNode || found.node === onNode) return found;
    } catch {
      // not yet
    }
    await sleep(500);
  }
  throw new Error(`${service} is not running${onNode ? ` on ${onNode}` : ''} after ${seconds}s:\n${manager('service', 'ps', '--no-trunc', service)}`);
}

/** Runs a command in a service's running task; its output (stdout and stderr) and status. */
export function execIn(service: string, ...args: string[]): { out: string; status: number | null } {
  const { node, id } = task(service);
  const result = run('docker', ['-H', engine(node), 'exec', id, ...args], { timeout: 20_000 });
  return { out: result.out.trim(), status: result.status };
}

/** The lab's bridge address (this machine, on the lab's network) and the manager's address there (scripts/swarm/lab.sh). */
export const LAB_BRIDGE = '10.203.0.1';
/** The lab registry's name and address (scripts/swarm/lab.sh); only lab.sh run resolves the name. */
export const LAB_REGISTRY = { host: 'registry.swarm.test', port: 5000, address: '10.203.0.2' } as const;
export const MANAGER_ADDRESS = '10.203.0.11';

/** Where an estate that runs its own registry publishes it on the lab (swarm-m1), and its TLS files there (lab.sh estate-registry). */
export function estateRegistry(): { host: string; port: number; certificateFile: string; keyFile: string } {
  const [host, port, certificateFile, keyFile] = mustRun('bash', [LAB, 'estate-registry']).trim().split(' ');
  return { host, port: Number(port), certificateFile, keyFile };
}

/** The estate's images in the lab registry, by digest; vLLM and Tabby are the GPU-less AI stand-in. */
export interface LabImages {
  readonly ide: string;
  readonly nginx: string;
  readonly base: string;
  readonly litellm: string;
  readonly aiStandIn: string;
  readonly postgres: string;
  readonly keycloak: string;
  readonly oauth2Proxy: string;
}

/** The local images the lab estate runs (scripts/swarm/test.sh builds them), by tag. */
export const LOCAL_LAB_IMAGES: LabImages = {
  ide: 'webide-local/ide:4.117.0',
  nginx: 'webide-local/nginx:1.22.1',
  base: 'webide-local/base:bookworm',
  litellm: 'webide-local/litellm:1.103.7',
  aiStandIn: 'webide-local/ai-standin:1.0.0',
  postgres: 'webide-local/postgres:15',
  keycloak: 'webide-local/keycloak:26.7.0',
  oauth2Proxy: 'webide-local/oauth2-proxy:7.15.3',
};
/** The estate's image keys a lab estate sets to the lab's images (labEstateText); the others keep the sample's. */
export const LAB_IMAGE_KEYS = ['nginx', 'keycloak', 'postgres', 'oauth2Proxy', 'litellm', 'tabby', 'vllm', 'codeServer'] as const;

/** Runs `npm run images:pin` on an estate file where the lab's names resolve (lab.sh run), from the host engine; its status and output. */
export function pinImages(estateFile: string, ...args: string[]): { status: number | null; out: string } {
  return run('bash', [LAB, 'run', 'npm', 'run', '--silent', 'images:pin', '--', '--estate', estateFile, ...args], { cwd: ROOT, timeout: 900_000 });
}

/** The `images` section of an estate file. */
export function estateImages(estateFile: string): Record<string, string> {
  return (parse(fs.readFileSync(estateFile, 'utf8')) as { images: Record<string, string> }).images;
}

/**
 * The lab's images in the lab registry (with `servesRegistry`, the one an estate runs on swarm-m1,
 * which must be running), by digest, pinned the way an estate's are: `npm run images:pin`
 * on a lab estate naming the local images by tag. The probes' base image is no image of the estate:
 * it goes in with lab.sh push.
 */
export function pushLabImages(options: { servesRegistry?: boolean } = {}): LabImages {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-lab-images-'));
  try {
    const file = path.join(dir, 'estate.yaml');
    fs.writeFileSync(file, labEstateText({ name: 'webide-pin', images: LOCAL_LAB_IMAGES, tlsDir: dir, modelsDir: dir, encryptOverlays: false, servesRegistry: options.servesRegistry }));
    const pinned = pinImages(file, '--only', LAB_IMAGE_KEYS.join(','));
    if (pinned.status !== 0) throw new Error(`npm run images:pin failed (${pinned.status}):\n${pinned.out}`);
    const images = estateImages(file);
    const [base] = pushToLab(LOCAL_LAB_IMAGES.base);
    return {
      ide: images.codeServer,
      nginx: images.nginx,
      base,
      litellm: images.litellm,
      aiStandIn: images.tabby,
      postgres: images.postgres,
      keycloak: images.keycloak,
      oauth2Proxy: images.oauth2Proxy,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The sample estate (assets/estate.yaml) on the lab's swarm, without what the swarm target does not
 * deploy yet (egress, backups; the local profile): the lab's images by digest, TLS files
 * and model directories under the test's own directories, Keycloak reached (and administered)
 * from this machine through the manager, the lab's three nodes (swarm-m1 a manager that also runs
 * IDEs, swarm-w1 an ide node, swarm-w2 the gpu node with two stand-in GPU ids). With
 * `servesRegistry`, the estate runs its own registry on swarm-m1 (swarm.registry.serve, images.registry)
 * in place of the lab's.
 */
export function labEstateText(options: { name: string; images: LabImages; tlsDir: string; modelsDir: string; encryptOverlays: boolean; servesRegistry?: boolean }): string {
  const { images, tlsDir, modelsDir } = options;
  const text = withoutBackup(withoutEgress(assetText('estate.yaml')))
    .replace(/^name: .*$/m, `name: ${options.name}`)
    .replace(/^profile: .*$/m, 'profile: local')
    .replace(/^dockerHost: .*$/m, `dockerHost: ${engine('swarm-m1')}`)
    .replace(/^( {2}codeServer:) .*$/m, `$1 ${images.ide}`)
    .replace(/^( {2}nginx:) .*$/m, `$1 ${images.nginx}`)
    .replace(/^( {2}litellm:) .*$/m, `$1 ${images.litellm}`)
    .replace(/^( {2}postgres:) .*$/m, `$1 ${images.postgres}`)
    .replace(/^( {2}keycloak:) registry.*$/m, `$1 ${images.keycloak}`)
    .replace(/^( {2}oauth2Proxy:) .*$/m, `$1 ${images.oauth2Proxy}`)
    .replace(/^( {2}certificateFile:) .*$/m, `$1 ${path.join(tlsDir, 'fullchain.pem')}`)
    .replace(/^( {2}keyFile:) .*$/m, `$1 ${path.join(tlsDir, 'privkey.pem')}`)
    // The lab's bridge: this machine, where the tests (and Terraform's Keycloak provider) connect from.
    .replace(/^( {2}adminAllowCidrs:) .*$/m, `$1 [${LAB_BRIDGE}/32]`)
    .replace(/^( {2}providerUrl:) .*$/m, `$1 https://${MANAGER_ADDRESS}`)
    // The images section's lines, not the gpus section's lists.
    .replace(/^( {2}(?:tabby|vllm):) (?!\[).*$/gm, `$1 ${images.aiStandIn}`)
    .replace(/^( {4}hostPath:) \/srv\/models\/Qwen.*$/m, `$1 ${path.join(modelsDir, 'chat')}`)
    .replace(/^( {4}hostPath:) \/srv\/models\/tabby$/m, `$1 ${path.join(modelsDir, 'completion')}`)
    .replace(/^( {2}tabby:) \["0"\]$/m, '$1 ["GPU-0"]')
    .replace(/^( {2}vllm:) \["1", "2"\]$/m, '$1 ["GPU-1"]')
    .replace(/^( {2}devices:) .*$/m, '$1 ["GPU-0", "GPU-1"]');
  const swarm = [
    'target: swarm',
    'swarm:',
    // The lab's kernel has no ESP: encrypted overlays would drop cross-node traffic (lab.swarm.ts shows it, the preflight finds it).
    `  encryptOverlays: ${options.encryptOverlays}`,
    registryLine(options.servesRegistry === true),
    '  nodes:',
    '    - { name: swarm-m1, role: manager, ideCapacity: 10 }',
    '    - { name: swarm-w1, role: ide, ideCapacity: 10 }',
    '    - { name: swarm-w2, role: gpu, gpuIds: ["GPU-0", "GPU-1"] }',
  ].join('\n');
  return `${options.servesRegistry ? withRegistryImage(text) : text}\n${swarm}\n`;
}

/** The lab estate's `swarm.registry` line: the lab's registry, or the one the estate runs (estateRegistry). */
function registryLine(servesRegistry: boolean): string {
  const caFile = mustRun('bash', [LAB, 'ca']).trim();
  if (!servesRegistry) return `  registry: { host: ${LAB_REGISTRY.host}, port: ${LAB_REGISTRY.port}, caFile: ${caFile} }`;
  const served = estateRegistry();
  return `  registry: { host: ${served.host}, port: ${served.port}, caFile: ${caFile}, serve: { certificateFile: ${served.certificateFile}, keyFile: ${served.keyFile} } }`;
}

/** Random values for every secret variable (TF_VAR_<name>) a lab estate needs, for one run only. */
export function labSecrets(): Record<string, string> {
  const hex = (bytes: number) => randomBytes(bytes).toString('hex');
  return {
    litellm_master_key: `sk-${hex(16)}`,
    litellm_gateway_key: `sk-gw-${hex(16)}`,
    vllm_api_key: `vllm-${hex(16)}`,
    tabby_api_token: `auth_${hex(16)}`,
    tabby_jwt_secret: randomUUID(),
    keycloak_admin_password: `kc-admin-${hex(12)}`,
    keycloak_db_password: `kc-db-${hex(12)}`,
    keycloak_terraform_client_secret: hex(20),
    oauth2_proxy_cookie_secret: hex(16),
  };
}

/** Removes an estate's homes and data volumes from every node (what terraform never removes), once their tasks are gone (bounded). */
export async function removeEstateVolumes(estateName: string): Promise<void> {
  for (const node of NODES) {
    for (let i = 0; i < 30; i++) {
      const left = ['home', 'data'].flatMap((kind) => run('docker', ['-H', engine(node), 'volume', 'ls', '-q', '--filter', `name=^${estateName}-${kind}-`]).out.trim().split('\n').filter(Boolean));
      if (left.length === 0 || run('docker', ['-H', engine(node), 'volume', 'rm', ...left]).status === 0) break;
      await sleep(1000);
    }
  }
}
