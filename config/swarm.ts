import { z } from 'zod';
import { isDnsHost } from './egress';
import { gpuId } from './gpus';
import { asList as list, asRecord as record, RuleIssue } from './raw';

/**
 * Where the estate runs: `docker`, one Docker engine (the estate the stacks build today), or
 * `swarm`, a Docker Swarm of several nodes (stacks/estate.ts, buildSwarmEstate; what it does not
 * deploy yet is refused by `swarmDeployableRules`).
 */
export const DEPLOY_TARGETS = ['docker', 'swarm'] as const;
export type DeployTarget = (typeof DEPLOY_TARGETS)[number];

/**
 * What a swarm node is for. `manager`: the swarm's control plane. `ide`: users' IDEs, each
 * user's home on the node the IDE is placed on (config/placement.ts). `gpu`: the model servers
 * (vLLM, Tabby) on the node's GPUs.
 */
export const SWARM_ROLES = ['manager', 'ide', 'gpu'] as const;
export type SwarmRole = (typeof SWARM_ROLES)[number];

/** A node's hostname as `docker node ls` shows it, which placement constraints name: a lowercase DNS label. */
export const swarmNodeName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be the node's hostname, a lowercase DNS label (a-z, 0-9 and -, not starting or ending with -, at most 63)");

const swarmNode = z.strictObject({
  /** The node's hostname (`docker node ls`); each node once. */
  name: swarmNodeName,
  /** `manager`, `ide` or `gpu` (SWARM_ROLES). */
  role: z.enum(SWARM_ROLES),
  /**
   * Required for an `ide` node; on a `manager`, it makes the manager run IDEs too (as a small swarm's
   * managers may); refused on a `gpu` node. How many IDEs (of active and suspended users) fit on
   * the node; also its weight when users are placed: a node of capacity 40 gets about twice the
   * users of one of 20.
   */
  ideCapacity: z.number().int().min(1).max(10_000).optional(),
  /**
   * Only for a `gpu` node, and required there: the node's GPUs the model servers may use, as
   * `gpus` names them. Each GPU is on one node only; GPU indexes (0, 1, …) repeat on every host,
   * so with two gpu nodes name them by their `GPU-<uuid>` (`nvidia-smi -L`).
   */
  gpuIds: z.array(gpuId).min(1, 'must list at least one GPU').optional(),
});
export type SwarmNode = z.output<typeof swarmNode>;

const hostFile = z.string().startsWith('/', 'must be an absolute path on the Docker hosts');

/**
 * The estate runs the registry itself (stacks/swarm-registry-stack.ts): Debian's docker-registry
 * (images.registry, images/registry) as a hardened container on the engine `dockerHost` reaches (a
 * manager), serving TLS only on `port` of that node. `host` must name that node in the bank's DNS.
 */
const servedRegistry = z.strictObject({
  /** PEM certificate chain of the registry, naming `host`, signed by the CA of `caFile`; at this path on the registry's node. */
  certificateFile: hostFile,
  /** Its private key, readable by the image's user (uid 1010); at this path on the registry's node. */
  keyFile: hostFile,
});

/** The registry the nodes pull the estate's images from (each node pulls on its own). */
const swarmRegistry = z.strictObject({
  /** The registry's DNS name, such as mirror.bank.internal; its TLS certificate must name it. */
  host: z.string().refine(isDnsHost, 'must be a DNS name such as mirror.bank.internal (its certificate must name it)'),
  port: z.number().int().min(1).max(65535).default(5000),
  /** PEM CA certificate that signs the registry's certificate, at this path on every node. */
  caFile: hostFile,
  /**
   * Set when the estate runs this registry itself (the `registry` stack, deployed first); absent
   * when the bank runs it. Needs `images.registry`.
   */
  serve: servedRegistry.optional(),
});

/**
 * The estate's `swarm` section: the nodes of a Docker Swarm and how they are reached. Required
 * with `target: swarm`, refused without it.
 *
 * ```yaml
 * target: swarm
 * swarm:
 *   registry: { host: mirror.bank.internal, port: 5000, caFile: /etc/webide/registry-ca.pem }
 *   nodes:
 *     - { name: mgr-1, role: manager }
 *     - { name: ide-1, role: ide, ideCapacity: 40 }
 *     - { name: ide-2, role: ide, ideCapacity: 20 }
 *     - { name: gpu-1, role: gpu, gpuIds: ["GPU-6f1c…"] }
 * ```
 * Rules across fields (names unique, role fields, the model servers' GPUs on one gpu node each,
 * encrypted overlays in production) are in `swarmRules`; users are placed on the ide nodes by
 * `placeIdes` (config/placement.ts).
 */
export const swarmConfig = z.strictObject({
  /** At least one `manager` and one `ide` node; every GPU of `gpus.tabby` and `gpus.vllm` on a `gpu` node. */
  nodes: z.array(swarmNode).min(1, "must list the swarm's nodes"),
  /**
   * Encrypt the overlay networks between nodes (IPsec). Required in the production profile:
   * without it IDE sessions, code and AI prompts cross the bank's network in clear. It needs the
   * kernel's ESP (IPsec) support on every node; a test tier without it uses `profile: local`.
   * @default true
   */
  encryptOverlays: z.boolean().default(true),
  registry: swarmRegistry,
});

/** The validated `swarm` section. */
export type SwarmConfig = z.output<typeof swarmConfig>;

/** An ide node as placement sees it. */
export interface IdeNode {
  readonly name: string;
  /** How many IDEs fit; also the node's placement weight. */
  readonly ideCapacity: number;
}

/** Whether users' IDEs run on the node: an `ide` node, or a `manager` given an `ideCapacity`. */
export function runsIdes(node: Pick<SwarmNode, 'role' | 'ideCapacity'>): boolean {
  return node.role === 'ide' || (node.role === 'manager' && node.ideCapacity !== undefined);
}

/** The nodes that run IDEs (runsIdes) of a validated swarm section, in file order. */
export function ideNodesOf(swarm: SwarmConfig): IdeNode[] {
  return swarm.nodes
    .filter(runsIdes)
    .map((node) => {
      if (node.ideCapacity === undefined) throw new Error(`swarm node ${node.name}: an ide node without ideCapacity (validate the config with swarmRules first)`);
      return { name: node.name, ideCapacity: node.ideCapacity };
    });
}

/**
 * Rules of the `swarm` section across fields and sections, read raw from the whole estate
 * document (as `estateRules` does) so they report with the shape errors: `swarm` with target
 * swarm only, and required there; node names unique; `ideCapacity` on ide nodes and `gpuIds` on
 * gpu nodes, required there and refused elsewhere; a manager and an ide node at least; each GPU on
 * one node; every GPU of a model server on a gpu node, all of one server's on the same node;
 * encrypted overlays in production. Values the schema refuses are skipped here (it reports them).
 */
export function swarmRules(raw: unknown): RuleIssue[] {
  const doc = record(raw);
  const target = doc.target ?? 'docker';
  if (target === 'docker' && doc.swarm !== undefined) {
    return [{ path: ['swarm'], message: 'only target: swarm takes a swarm section (the target is docker, the default): set target: swarm, or remove the section' }];
  }
  if (target !== 'swarm') return [];
  if (doc.swarm === undefined) {
    return [{ path: ['target'], message: "target swarm needs a swarm section (nodes, registry): add it, or remove target (the default is docker, one engine)" }];
  }
  const issues: RuleIssue[] = [];
  const swarm = record(doc.swarm);
  const nodes = list(swarm.nodes);
  const at = (index: number, ...rest: (string | number)[]) => ['swarm', 'nodes', index, ...rest];

  const names = new Map<string, number>();
  /** Where each GPU is: the node's index and name, and the place in its list. */
  const gpuNodes = new Map<string, { node: number; name: string; index: number }>();
  nodes.forEach((item, index) => {
    const node = record(item);
    const name = typeof node.name === 'string' ? node.name : undefined;
    if (name !== undefined) {
      const first = names.get(name);
      if (first !== undefined) {
        issues.push({ path: at(index, 'name'), message: (lineOf) => `node '${name}' is listed twice (first on line ${lineOf(at(first))})` });
      } else names.set(name, index);
    }
    const role = node.role;
    if (typeof role !== 'string' || !(SWARM_ROLES as readonly string[]).includes(role)) return;
    if (role === 'ide' && node.ideCapacity === undefined) {
      issues.push({ path: at(index), message: "missing required key 'ideCapacity' for role ide (how many IDEs fit on the node)" });
    }
    if (role === 'gpu' && node.ideCapacity !== undefined) {
      issues.push({ path: at(index, 'ideCapacity'), message: 'only a node that runs IDEs (an ide node, or a manager that runs IDEs too) takes ideCapacity (this one is gpu): remove it, or set role: ide' });
    }
    if (role === 'gpu' && node.gpuIds === undefined) {
      issues.push({ path: at(index), message: "missing required key 'gpuIds' for role gpu (the node's GPUs the model servers may use)" });
    }
    if (role !== 'gpu' && node.gpuIds !== undefined) {
      issues.push({ path: at(index, 'gpuIds'), message: `only a gpu node takes gpuIds (this one is ${role}): remove them, or set role: gpu` });
    }
    list(node.gpuIds).forEach((id, idIndex) => {
      if (typeof id !== 'string' || !gpuId.safeParse(id).success) return;
      const first = gpuNodes.get(id);
      if (first === undefined) {
        gpuNodes.set(id, { node: index, name: name ?? String(index), index: idIndex });
      } else if (first.node === index) {
        issues.push({ path: at(index, 'gpuIds', idIndex), message: `GPU '${id}' is listed twice for this node` });
      } else {
        const hint = /^\d+$/.test(id) ? "; GPU indexes repeat on every host: name each node's GPUs by their GPU-<uuid> (nvidia-smi -L)" : '';
        issues.push({
          path: at(index, 'gpuIds', idIndex),
          message: (lineOf) => `GPU '${id}' is also on node ${first.name} (line ${lineOf(at(first.node, 'gpuIds', first.index))}): a GPU is on one node only${hint}`,
        });
      }
    });
  });

  const roles = new Set(nodes.map((node) => record(node).role));
  if (nodes.length > 0) {
    if (!roles.has('manager')) issues.push({ path: ['swarm', 'nodes'], message: "needs at least one node with role: manager (the swarm's control plane)" });
    // Raft needs more than half of the managers up: an even count adds a node to lose and no tolerance.
    const managers = nodes.filter((node) => record(node).role === 'manager').length;
    if (managers > 0 && managers % 2 === 0) {
      const tolerated = (managers - 2) / 2;
      issues.push({
        path: ['swarm', 'nodes'],
        message: `has ${managers} managers: the swarm runs only while more than half of them are up, so ${managers} survive the loss of ${tolerated === 0 ? 'none' : tolerated}, as ${managers - 1} would. Use an odd number (1, 3 or 5)`,
      });
    }
    const runIdes = nodes.some((node) => record(node).role === 'ide' || (record(node).role === 'manager' && record(node).ideCapacity !== undefined));
    if (!runIdes) issues.push({ path: ['swarm', 'nodes'], message: "needs at least one node that runs the users' IDEs: role: ide, or a manager with an ideCapacity" });
  }

  // Each model server runs on one gpu node, on GPUs of that node.
  const gpus = record(doc.gpus);
  for (const service of ['tabby', 'vllm'] as const) {
    const placed = new Map<string, string[]>();
    list(gpus[service]).forEach((id, index) => {
      if (typeof id !== 'string' || !gpuId.safeParse(id).success) return;
      const where = gpuNodes.get(id);
      if (where === undefined) {
        issues.push({ path: ['gpus', service, index], message: `GPU '${id}' of ${service} is on no gpu node: add it to the gpuIds of the swarm node that has it` });
      } else placed.set(where.name, [...(placed.get(where.name) ?? []), id]);
    });
    if (placed.size > 1) {
      const spread = [...placed].map(([node, ids]) => `${ids.join(', ')} on ${node}`).join('; ');
      issues.push({ path: ['gpus', service], message: `${service} runs on one node, but its GPUs are on ${placed.size} (${spread}): give it GPUs of one gpu node` });
    }
  }

  const registry = record(swarm.registry);
  if (registry.serve !== undefined && typeof doc.images === 'object' && doc.images !== null && record(doc.images).registry === undefined) {
    issues.push({ path: ['images'], message: "missing required key 'registry' (the docker-registry image the estate runs; swarm.registry.serve is set)" });
  }
  if (swarm.encryptOverlays === false && doc.profile === 'production') {
    issues.push({
      path: ['swarm', 'encryptOverlays'],
      message: "must be true in the production profile: unencrypted overlays carry IDE sessions, code and prompts between nodes in clear. Encrypted overlays need the kernel's ESP (IPsec) support on every node; a test tier without it uses profile: local",
    });
  }
  return issues;
}

/**
 * What the swarm target's stacks do not deploy yet, refused at synthesis (loadInputs) rather than
 * left out without a word: the production profile (it needs the audit trail, monitoring and
 * backups, which only the docker target runs), and the egress proxy, backups and audit forwarding
 * where they are configured. loadEstate still accepts such a file: it is a valid description of
 * the estate, which this version cannot deploy on a swarm. Read raw from the estate document, as
 * `swarmRules`; empty for another target.
 */
export function swarmDeployableRules(raw: unknown): RuleIssue[] {
  const doc = record(raw);
  if (doc.target !== 'swarm') return [];
  const issues: RuleIssue[] = [];
  if (doc.profile === 'production') {
    issues.push({
      path: ['profile'],
      message:
        "the swarm target has no audit trail yet (each service's records stay in its own log on its node: not collected, kept or forwarded), no monitoring and no backups, " +
        'which the production profile needs: deploy production on target: docker; profile: local runs the swarm target without them',
    });
  }
  if (doc.egress !== undefined) {
    issues.push({ path: ['egress'], message: 'the swarm target does not run the egress proxy yet, so no IDE would reach these services: remove egress, or use target: docker' });
  }
  const operations = record(doc.operations);
  if (operations.backup !== undefined) {
    issues.push({ path: ['operations', 'backup'], message: "the swarm target does not run backups yet: nothing would back up the homes or Keycloak's database. Remove backup (and back up the nodes' volumes another way), or use target: docker" });
  }
  if (record(operations.audit).forward !== undefined) {
    issues.push({ path: ['operations', 'audit', 'forward'], message: 'the swarm target has no audit sink yet, so nothing would be forwarded: remove forward, or use target: docker' });
  }
  return issues;
}
