import { EGRESS_PROXY_LABELS, internalDomainProblem, isDnsHost, isUnderDomain, labelList } from '../../config/egress';
import { LOADER_LABEL } from '../../constructs/managed-files';
import { attributesOf, Compliance, labelMap, PolicyRule } from '../rule';

/** The egress proxy's `webide.component` label (issue 18's contract). */
export const EGRESS_PROXY_COMPONENT = 'egress-proxy';

/** `host:port` as the destinations label writes it. */
const DESTINATION = /^(?<host>[^:]+):(?<port>\d{1,5})$/;

/** The internal domains of the egress proxy's label that are domains the bank can own (`com`, `*` are not). */
export function usableInternalDomains(labels: Readonly<Record<string, string>>): string[] {
  return labelList(labels[EGRESS_PROXY_LABELS.internalDomains]).filter((d) => internalDomainProblem(d) === undefined);
}

/** Why a `host:port` entry of the destinations label lets IDEs out of the bank, or undefined when it is under one of `domains`. */
export function destinationProblem(entry: string, domains: readonly string[]): string | undefined {
  const match = DESTINATION.exec(entry);
  const port = Number(match?.groups?.port);
  if (!match || !isDnsHost(match.groups!.host) || port < 1 || port > 65535) return 'is not a DNS host and port';
  if (!domains.some((d) => isUnderDomain(match.groups!.host, d))) return `is not under ${domains.length > 0 ? domains.join(', ') : 'any internal domain'}`;
  return undefined;
}

/**
 * What in an egress proxy's labels lets IDEs out of the bank: a destination that is not a DNS
 * host and port, one not under an internal domain, an internal domain that is no domain the bank
 * can own (`com`, `*`; it counts for nothing), or no destinations label at all (nothing to check
 * the proxy against). Empty when every destination is under one of the domains.
 */
export function egressViolations(labels: Readonly<Record<string, string>>): string[] {
  const destinations = labels[EGRESS_PROXY_LABELS.destinations];
  if (destinations === undefined) return [`no ${EGRESS_PROXY_LABELS.destinations} label: what the proxy allows cannot be checked`];
  const domains = usableInternalDomains(labels);
  const out = labelList(labels[EGRESS_PROXY_LABELS.internalDomains])
    .filter((d) => !domains.includes(d))
    .map((d) => `internal domain '${d}' ${internalDomainProblem(d)}`);
  for (const entry of labelList(destinations)) {
    const problem = destinationProblem(entry, domains);
    if (problem) out.push(`${entry} ${problem}`);
  }
  return out;
}

export const egressInternalOnly: PolicyRule = {
  id: 'WEBIDE-E1',
  summary: "The egress proxy lets IDEs reach only hosts under the domains the bank calls internal (its webide.egress-internal-domains).",
  fix: 'Add the domain to egress.internalDomains only if the bank owns it; otherwise remove the service (or its URL) from egress.services.',
  check: (node) => {
    const c = attributesOf(node, 'docker_container');
    if (!c) return Compliance.NOT_APPLICABLE;
    const labels = labelMap(c);
    // The proxy's files' loader carries its component label too, and runs nothing.
    if (labels['webide.component'] !== EGRESS_PROXY_COMPONENT || labels[LOADER_LABEL] === 'true') return Compliance.NOT_APPLICABLE;
    return egressViolations(labels).length > 0 ? Compliance.NON_COMPLIANT : Compliance.COMPLIANT;
  },
};
