/**
 * Swarm estates for tests: the sample estate pinned by digest (as the production profile needs
 * with target swarm) and a swarm block in block style (each field has a line).
 */
import { assetText, withoutBackup, withoutEgress } from './inputs';

const DIGEST = `sha256:${'a'.repeat(64)}`;

/**
 * The sample estate as the swarm target can deploy it today (config/swarm.ts,
 * swarmDeployableRules): the local profile, no egress, no backups; images by digest; SWARM_BLOCK.
 */
export function deployableSwarmEstateText(): string {
  return `${withDigests(withoutBackup(withoutEgress(assetText('estate.yaml')))).replace(/^profile: .*$/m, 'profile: local')}\n${SWARM_BLOCK}`;
}

/** The registry image an estate that runs its own registry names (scripts/docker/build-images.sh builds it). */
export const LOCAL_REGISTRY_IMAGE = 'webide-local/registry:2.8.2';

/** An estate text with `images.registry` added (after `images.monitoring`), as swarm.registry.serve needs. */
export function withRegistryImage(text: string, image: string = LOCAL_REGISTRY_IMAGE): string {
  return text.replace(/^( {2}monitoring: .*)$/m, `$1\n  registry: ${image}`);
}

/** The sample estate with every image pinned by digest, as the production profile needs with target swarm. */
export function withDigests(text: string): string {
  const start = text.indexOf('\nimages:\n') + 1;
  const end = text.indexOf('\n\n', start);
  const images = text.slice(start, end).replace(/^( {2}\w+: \S+)$/gm, `$1@${DIGEST}`);
  return text.slice(0, start) + images + text.slice(end);
}

/** A swarm of one manager, two ide nodes and two gpu nodes (tabby's GPU 0 on gpu-1, vllm's 1 and 2 on gpu-2), block style so each field has a line. */
export const SWARM_BLOCK = `target: swarm
swarm:
  encryptOverlays: true
  registry:
    host: mirror.bank.internal
    port: 5000
    caFile: /etc/webide/registry-ca.pem
  nodes:
    - name: mgr-1
      role: manager
    - name: ide-1
      role: ide
      ideCapacity: 40
    - name: ide-2
      role: ide
      ideCapacity: 20
    - name: gpu-1
      role: gpu
      gpuIds: ["0"]
    - name: gpu-2
      role: gpu
      gpuIds: ["1", "2", "3"]
`;

