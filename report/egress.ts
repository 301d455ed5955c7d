import { EGRESS_PROXY_LABELS, labelList } from '../config/egress';
import { LOADER_LABEL } from '../constructs/managed-files';
import { destinationProblem, EGRESS_PROXY_COMPONENT, egressInternalOnly, usableInternalDomains } from '../policy/rules/egress';
import { ResourceChange, labelsOf } from './plan';

/**
 * What a change to the egress proxy opens towards the bank, read from its labels (issue 18's
 * contract), one message each: the proxy added (IDEs gain a way out; its destinations listed),
 * a destination (host:port) added, an internal domain added. Each destination is named with the
 * verdict of WEBIDE-E1. Narrowing is not a risk: the proxy removed, a destination or domain removed,
 * a proxy added that allows nothing.
 */
export function egressRisks(change: ResourceChange): string[] {
  if (change.type !== 'docker_container') return [];
  const { before, after } = change.change;
  const now = proxyLabels(after);
  if (!now) return [];
  const was = proxyLabels(before);
  const domains = usableInternalDomains(now);
  const verdict = (entries: readonly string[]) => {
    const outside = entries.flatMap((entry) => {
      const problem = destinationProblem(entry, domains);
      return problem ? [`${entry} ${problem}`] : [];
    });
    return `${egressInternalOnly.id}: ${outside.length > 0 ? `OUTSIDE the internal domains: ${outside.join('; ')}` : `under ${domains.join(', ')}`}`;
  };
  const destinationsNow = labelList(now[EGRESS_PROXY_LABELS.destinations]);
  const domainsNow = labelList(now[EGRESS_PROXY_LABELS.internalDomains]);
  if (!was) {
    // A proxy that allows nothing opens nothing.
    if (destinationsNow.length === 0) return [];
    return [`egress proxy added: IDEs gain a way out of the estate, to ${destinationsNow.join(', ')} (internal domains ${domainsNow.join(', ') || '(none)'}; ${verdict(destinationsNow)})`];
  }
  const destinationsWere = labelList(was[EGRESS_PROXY_LABELS.destinations]);
  const domainsWere = labelList(was[EGRESS_PROXY_LABELS.internalDomains]);
  return [
    ...destinationsNow.filter((d) => !destinationsWere.includes(d)).map((d) => `egress destination added: IDEs can reach ${d} through the egress proxy (${verdict([d])})`),
    ...domainsNow.filter((d) => !domainsWere.includes(d)).map((d) => `internal domain added: ${d} (egress.internalDomains; services under it can be added without a policy failure)`),
  ];
}

/** The labels of the egress proxy's container, or undefined for any other container (its files' loader included). */
function proxyLabels(values: Record<string, any> | null): Record<string, string> | undefined {
  const labels = labelsOf(values);
  return values && labels['webide.component'] === EGRESS_PROXY_COMPONENT && labels[LOADER_LABEL] !== 'true' ? labels : undefined;
}
