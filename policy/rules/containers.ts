import { TerraformResource } from 'cdktf';
import { PIDS_LIMIT_LABEL } from '../../constructs/hardened-container';
import { attributesOf, Compliance, labelMap, neverStarts, PolicyRule } from '../rule';

const CONTAINER = 'docker_container';
const SERVICE = 'docker_service';

/**
 * The attributes of a container that runs a process. A container created with `start = false`
 * and `must_run = false` never runs one (ManagedFiles' loaders), so the runtime rules (limits,
 * capabilities, user, read-only root, pids) do not apply to it; privilege and mounts still do.
 */
function runningContainer(node: Parameters<PolicyRule['check']>[0]): Record<string, any> | undefined {
  const c = attributesOf(node, CONTAINER);
  return c && !neverStarts(c) ? c : undefined;
}

/**
 * A Swarm service (the swarm target) as the rules read it: its task's container spec, limits and
 * labels, and the ports it publishes. Its tasks are containers, so the container rules hold for
 * them too, each as a service can express it.
 */
function swarmService(node: Parameters<PolicyRule['check']>[0]):
  | { container: Record<string, any>; limits: Record<string, any>; labels: Record<string, string>; ports: unknown[] }
  | undefined {
  const s = attributesOf(node, SERVICE);
  if (!s) return undefined;
  return { container: s.task_spec?.container_spec ?? {}, limits: s.task_spec?.resources?.limits ?? {}, labels: labelMap(s), ports: s.endpoint_spec?.ports ?? [] };
}

/** The compliance of `holds`, or not applicable where the node is neither. */
const verdict = (holds: boolean | undefined) => (holds === undefined ? Compliance.NOT_APPLICABLE : holds ? Compliance.COMPLIANT : Compliance.NON_COMPLIANT);

export const containerLimits: PolicyRule = {
  id: 'WEBIDE-C1',
  summary: "Every container (and Swarm service's task) has a memory limit and a CPU quota.",
  fix: 'Give the HardenedContainer (or hardenedSwarmService) memoryMiB and cpus.',
  check: (node) => {
    const c = runningContainer(node);
    if (c) return verdict(c.memory > 0 && c.cpu_quota > 0 && c.cpu_period > 0);
    const service = swarmService(node);
    return verdict(service && service.limits.memory_bytes > 0 && service.limits.nano_cpus > 0);
  },
};

export const noPrivileged: PolicyRule = {
  id: 'WEBIDE-C2',
  summary: 'No container runs privileged.',
  fix: 'Remove privileged: true; add the one capability the service needs instead.',
  check: (node) => {
    const c = attributesOf(node, CONTAINER);
    if (!c) return Compliance.NOT_APPLICABLE;
    return c.privileged === true ? Compliance.NON_COMPLIANT : Compliance.COMPLIANT;
  },
};

export const capabilitiesDropped: PolicyRule = {
  id: 'WEBIDE-C3',
  summary: "Every container drops ALL capabilities and sets no-new-privileges (a Swarm service's task drops ALL; its engine sets no-new-privileges, which npm run swarm:preflight checks).",
  fix: 'Build the container with HardenedContainer (capabilities.drop = [ALL], security_opts = [no-new-privileges:true]), the service with hardenedSwarmService (cap_drop = [ALL]).',
  check: (node) => {
    const c = runningContainer(node);
    if (c) return verdict((c.capabilities?.drop ?? []).includes('ALL') && (c.security_opts ?? []).includes('no-new-privileges:true'));
    const service = swarmService(node);
    return verdict(service && (service.container.cap_drop ?? []).includes('ALL') && (service.container.cap_add ?? []).length === 0);
  },
};

export const noHostMounts: PolicyRule = {
  id: 'WEBIDE-C4',
  summary: 'No Docker socket and no host-path mount outside the allow-list (TLS files, model directories).',
  fix: 'Use a named volume; host paths are allowed only for the TLS files and model directories in the estate config.',
  check: (node, context) => {
    const c = attributesOf(node, CONTAINER) ?? swarmService(node)?.container;
    if (!c) return Compliance.NOT_APPLICABLE;
    const mounts: { type: string; source?: string }[] = c.mounts ?? [];
    const legacy: { host_path?: string }[] = c.volumes ?? [];
    const hostPaths = [...mounts.filter((m) => m.type === 'bind').map((m) => m.source ?? ''), ...legacy.map((v) => v.host_path).filter((p): p is string => !!p)];
    const allowed = (p: string) => !p.includes('docker.sock') && context.hostPathAllowList.includes(p);
    return hostPaths.every(allowed) ? Compliance.COMPLIANT : Compliance.NON_COMPLIANT;
  },
};

export const onlyNginxPublishes: PolicyRule = {
  id: 'WEBIDE-N1',
  summary:
    "Only nginx publishes host ports (a container or a Swarm service); on a swarm that runs its own registry, also the registry's plain container, which every node pulls from, and only its one port.",
  fix: 'Remove ports; reach the service through nginx on an internal network.',
  check: (node) => {
    const c = attributesOf(node, CONTAINER);
    const service = swarmService(node);
    if (!c && !service) return Compliance.NOT_APPLICABLE;
    const publishes = c ? (c.ports ?? []).length > 0 || c.publish_all_ports === true || c.network_mode === 'host' : service!.ports.length > 0;
    const component = c ? labelMap(c)['webide.component'] : service!.labels['webide.component'];
    if (!publishes || component === 'nginx') return Compliance.COMPLIANT;
    // The estate's registry (stacks/swarm-registry-stack.ts): one TCP port, nothing else published.
    const registryPort = c && component === 'registry' && (c.ports ?? []).length === 1 && c.ports[0].protocol === 'tcp' && c.publish_all_ports !== true && c.network_mode !== 'host';
    return registryPort ? Compliance.COMPLIANT : Compliance.NON_COMPLIANT;
  },
};

export const workspacesInternalOnly: PolicyRule = {
  id: 'WEBIDE-N2',
  summary: "IDE containers (and IDE Swarm services' tasks) join internal networks only (no route out, no other services).",
  fix: "Attach the IDE only to the user's own workspace network (internal: true).",
  check: (node, context) => {
    const c = attributesOf(node, CONTAINER);
    if (c) {
      if (labelMap(c)['webide.component'] !== 'workspace') return Compliance.NOT_APPLICABLE;
      const networks: { name: string }[] = c.networks_advanced ?? [];
      return verdict(networks.length > 0 && networks.every((n) => context.internalNetworks.has(n.name)));
    }
    const s = attributesOf(node, SERVICE);
    if (!s || labelMap(s)['webide.component'] !== 'workspace') return Compliance.NOT_APPLICABLE;
    const networks: { id: string }[] = s.task_spec?.networks_advanced ?? [];
    return verdict(networks.length > 0 && networks.every((n) => context.internalNetworks.has(n.id)));
  },
};

/** The user part of `uid:gid` (or `name:group`). */
const userOf = (user: unknown) => String(user ?? '').split(':')[0];

export const nonRoot: PolicyRule = {
  id: 'WEBIDE-C5',
  summary: "Every container (and Swarm service's task) runs as a non-root user.",
  fix: "Set user to the image's unprivileged uid:gid; give that uid the directories it writes (in the image or as volumes/tmpfs).",
  check: (node) => {
    const c = runningContainer(node) ?? swarmService(node)?.container;
    if (!c) return Compliance.NOT_APPLICABLE;
    const user = userOf(c.user);
    return user === '' || user === '0' || user === 'root' ? Compliance.NON_COMPLIANT : Compliance.COMPLIANT;
  },
};

export const readOnlyRoot: PolicyRule = {
  id: 'WEBIDE-C6',
  summary: "Every container (and Swarm service's task) has a read-only root filesystem.",
  fix: 'Leave readOnlyRootfs on; give the paths the service writes as tmpfs or volumes and its uploads a managedDir, or suppress WEBIDE-C6 for it with the reason its software needs a writable root.',
  check: (node) => {
    const c = runningContainer(node) ?? swarmService(node)?.container;
    if (!c) return Compliance.NOT_APPLICABLE;
    return c.read_only === true ? Compliance.COMPLIANT : Compliance.NON_COMPLIANT;
  },
};

export const pidsLimited: PolicyRule = {
  id: 'WEBIDE-C7',
  summary: 'Every container (and Swarm service) has a pids limit, applied by the null_resource beside it (the docker provider has no attribute for it).',
  fix: 'Build the container with HardenedContainer and give it pidsLimit (a service: hardenedSwarmService, pidsLimit).',
  check: (node) => {
    if (!TerraformResource.isTerraformResource(node)) return Compliance.NOT_APPLICABLE;
    if (swarmService(node)) {
      // SwarmPidsLimit: a null_resource in the same scope that applies the limit to this service.
      const serviceId = `\${docker_service.${node.friendlyUniqueId}.id}`;
      const applied = (node.node.scope?.node.findAll() ?? []).some((other) => {
        const triggers = attributesOf(other, 'null_resource')?.triggers;
        return triggers?.service_id === serviceId && /^[1-9]\d*$/.test(String(triggers?.pids_limit ?? ''));
      });
      return verdict(applied);
    }
    const c = runningContainer(node);
    if (!c) return Compliance.NOT_APPLICABLE;
    const limit = labelMap(c)[PIDS_LIMIT_LABEL];
    if (!limit || !/^[1-9]\d*$/.test(limit)) return Compliance.NON_COMPLIANT;
    const containerId = `\${docker_container.${node.friendlyUniqueId}.id}`;
    const applied = (node.node.scope?.node.children ?? []).some((sibling) => {
      const triggers = attributesOf(sibling, 'null_resource')?.triggers;
      return triggers?.container_id === containerId && triggers?.pids_limit === limit;
    });
    return applied ? Compliance.COMPLIANT : Compliance.NON_COMPLIANT;
  },
};
