import { NGINX_PATHS } from '../../constructs/nginx-entry';
import { INTERNAL_PORTS } from '../../constructs/naming';
import { allDirectives, FORWARDING_DIRECTIVES, NginxDirective, parseNginxConf } from '../nginx-conf';
import { attributesOf, Compliance, filesOf, labelMap, neverStarts, PolicyContext, PolicyRule } from '../rule';

/** `listen` arguments split into address (undefined for a wildcard) and port. */
function listenAddress(arg: string): { address?: string; port: number } {
  const m = /^(?:(.+):)?(\d+)$/.exec(arg);
  return m ? { address: m[1], port: Number(m[2]) } : { address: arg, port: NaN };
}

const listensOf = (server: NginxDirective) => (server.block ?? []).filter((d) => d.name === 'listen').map((d) => listenAddress(d.args[0] ?? ''));

/**
 * Where nginx's listeners break the placement, one line each (empty when they keep it): the TLS
 * entry and its redirect listen only on `edgeAddress`; the AI gateway port, on each of
 * `fixedAddresses`, only reaches a server that forwards nothing.
 */
export function listenerViolations(nginxConf: string, edgeAddress: string | undefined, fixedAddresses: readonly string[]): string[] {
  let tree: NginxDirective[];
  try {
    tree = parseNginxConf(nginxConf);
  } catch (error) {
    return [`nginx.conf cannot be read: ${(error as Error).message}`];
  }
  if (!edgeAddress) return ['nginx has no fixed address on a network with a route out (its edge network)'];
  const servers = allDirectives(tree).filter((d) => d.name === 'server');
  const out: string[] = [];
  for (const port of [INTERNAL_PORTS.nginxHttps, INTERNAL_PORTS.nginxHttp]) {
    const listens = servers.flatMap(listensOf).filter((l) => l.port === port);
    if (listens.length === 0) out.push(`nothing listens on ${port}`);
    for (const l of listens) if (l.address !== edgeAddress) out.push(`listen ${l.address ?? '*'}:${port} (only ${edgeAddress}:${port})`);
  }
  const gateway = INTERNAL_PORTS.aiGateway;
  for (const address of fixedAddresses) {
    const refusing = servers.filter((s) => listensOf(s).some((l) => l.port === gateway && l.address === address));
    if (refusing.length === 0) out.push(`the gateway port is not refused on ${address}:${gateway}`);
    for (const server of refusing) {
      if (allDirectives(server.block ?? []).some((d) => FORWARDING_DIRECTIVES.includes(d.name))) out.push(`the server on ${address}:${gateway} forwards`);
      if (!(server.block ?? []).some((d) => d.name === 'return')) out.push(`the server on ${address}:${gateway} does not refuse (no return)`);
    }
  }
  return out;
}

/** nginx's fixed addresses, and the one on its network with a route out (not internal). */
export function fixedAddressesOf(networks: readonly { name: string; ipv4_address?: string }[], context: PolicyContext): { edge?: string; all: string[] } {
  const fixed = networks.filter((n) => !!n.ipv4_address);
  const edge = fixed.filter((n) => !context.internalNetworks.has(n.name));
  return { edge: edge.length === 1 ? edge[0].ipv4_address : undefined, all: fixed.map((n) => n.ipv4_address!) };
}

export const listenersPlaced: PolicyRule = {
  id: 'WEBIDE-N3',
  summary: "nginx's TLS entry and HTTP redirect listen only on its fixed edge address, and the AI gateway port is refused on every fixed (service and edge) address.",
  fix: 'Render nginx.conf with renderNginxConf and the NginxEntry networks (each with its fixed address); never listen on a wildcard for 8443/8080.',
  check: (node, context) => {
    const c = attributesOf(node, 'docker_container');
    if (!c || labelMap(c)['webide.component'] !== 'nginx' || neverStarts(c)) return Compliance.NOT_APPLICABLE;
    // The file nginx runs: from the loader of the managed files it mounts (or its own upload).
    const conf = filesOf(node).find((u) => u.file === NGINX_PATHS.config);
    if (!conf) return Compliance.NON_COMPLIANT;
    const { edge, all } = fixedAddressesOf(c.networks_advanced ?? [], context);
    return listenerViolations(conf.content, edge, all).length > 0 ? Compliance.NON_COMPLIANT : Compliance.COMPLIANT;
  },
};
