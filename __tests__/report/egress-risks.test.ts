import { Testing, TerraformStack } from 'cdktf';
import { Image } from '../../.gen/providers/docker/image';
import { DockerProvider } from '../../.gen/providers/docker/provider';
import { EGRESS_PROXY_LABELS } from '../../config/egress';
import { EgressProxy } from '../../constructs/egress-proxy';
import { LOADER_LABEL } from '../../constructs/managed-files';
import { EstateNames } from '../../constructs/naming';
import { analysePlans, exitCodeOf } from '../../report/analyse';
import { ResourceChange, StackPlan } from '../../report/plan';
import { renderReportMarkdown } from '../../report/render';
import { defaultEstate, withoutEgress } from '../helpers/inputs';

type Values = Record<string, any>;

/** An egress section in the shape of issue 18's contract: three services under bank.internal. */
const EGRESS = `egress:
  internalDomains: [bank.internal]
  services:
    - { name: git, kind: git, urls: [https://git.bank.internal/], caFile: /etc/webide/bank-ca.pem }
    - { name: npm, kind: npm, urls: [https://npm.bank.internal/], caFile: /etc/webide/bank-ca.pem }
    - { name: debian, kind: apt, urls: [https://apt.bank.internal/debian/], caFile: /etc/webide/bank-ca.pem, apt: { suite: bookworm, components: [main] } }
`;

/** Replaces `from` in the egress section, failing when it is not there. */
function replacing(from: string, to: string): (text: string) => string {
  return (text) => {
    if (!text.includes(from)) throw new Error(`the egress section has no "${from}"`);
    return text.replace(from, to);
  };
}

/**
 * The egress proxy's container as a plan shows it (`before` / `after`), for the sample estate with
 * the egress section above, edited. Until the egress construct lands, a HardenedContainer with the
 * contract's labels (from the validated config) stands in for it.
 */
function egressProxy(...edits: ((text: string) => string)[]): { address: string; values: Values } {
  const estate = defaultEstate((text) => `${withoutEgress(text)}\n${edits.reduce((t, e) => e(t), EGRESS)}`);
  const stack = new TerraformStack(Testing.app(), 'platform');
  new DockerProvider(stack, 'docker', { host: estate.dockerHost });
  const image = new Image(stack, 'egress-proxy-image', { name: estate.images.egressProxy! });
  const names = new EstateNames(estate.name);
  new EgressProxy(stack, 'egress-proxy', {
    egress: estate.egress!,
    names,
    image,
    identityNetworkName: names.network('identity'),
    auditSinkAddress: '172.31.251.253',
    deniedCidrs: [estate.edgeSubnet, estate.identitySubnet, estate.aiSubnet],
    labels: names.labels(estate, 'egress-proxy'),
    dockerHost: estate.dockerHost,
  });
  const containers = JSON.parse(Testing.synth(stack)).resource.docker_container as Record<string, Values>;
  const [id, values] = Object.entries(containers).find(([, v]) => v.name === 'webide-egress-proxy')!;
  return { address: `docker_container.${id}`, values };
}

const ACTIONS = { create: ['create'], update: ['update'], replace: ['delete', 'create'], delete: ['delete'] } as const;

function change(action: keyof typeof ACTIONS, address: string, before: Values | null, after: Values | null): ResourceChange {
  return { address, type: address.split('.')[0], change: { actions: [...ACTIONS[action]], before, after } };
}

function plan(...changes: ResourceChange[]): StackPlan {
  return { stack: 'platform', plan: { resource_changes: changes } };
}

/** The egress risks' messages the plans raise. */
function egressRisks(...plans: StackPlan[]): string[] {
  return analysePlans(plans)
    .risks.filter((r) => r.category === 'egress')
    .map((r) => r.message);
}

/** A container's values with one label set (a hand edit a plan could show). */
function withLabel(values: Values, label: string, value: string): Values {
  return { ...values, labels: [...values.labels.filter((l: { label: string }) => l.label !== label), { label, value }] };
}

const SAMPLE = egressProxy();
const WITH_DOCS = egressProxy(
  replacing('[bank.internal]', '[bank.internal, docs.corp.example]'),
  replacing('urls: [https://git.bank.internal/]', 'urls: [https://git.bank.internal/, https://git.bank.internal/mirror/, https://git.bank.internal:8443/]'),
  (text) => `${text}    - { name: docs, kind: https, urls: [https://docs.corp.example/], caFile: /etc/webide/bank-ca.pem }\n`,
);

describe('the egress proxy in the change-approval report', () => {
  it('carries the destinations and domains the config gives it (the labels the report reads)', () => {
    const labels = Object.fromEntries((SAMPLE.values.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]));
    expect(labels[EGRESS_PROXY_LABELS.destinations]).toBe('apt.bank.internal:443,git.bank.internal:443,npm.bank.internal:443');
    expect(labels[EGRESS_PROXY_LABELS.internalDomains]).toBe('bank.internal');
  });

  it('flags the proxy added: IDEs gain a way out, to each destination listed, under the internal domains', () => {
    expect(egressRisks(plan(change('create', SAMPLE.address, null, SAMPLE.values)))).toEqual([
      'egress proxy added: IDEs gain a way out of the estate, to apt.bank.internal:443, git.bank.internal:443, npm.bank.internal:443 (internal domains bank.internal; WEBIDE-E1: under bank.internal)',
    ]);
  });

  it('flags each destination added and each internal domain added; a URL on a host:port already allowed adds nothing', () => {
    expect(egressRisks(plan(change('replace', SAMPLE.address, SAMPLE.values, WITH_DOCS.values)))).toEqual([
      'egress destination added: IDEs can reach docs.corp.example:443 through the egress proxy (WEBIDE-E1: under bank.internal, docs.corp.example)',
      'egress destination added: IDEs can reach git.bank.internal:8443 through the egress proxy (WEBIDE-E1: under bank.internal, docs.corp.example)',
      'internal domain added: docs.corp.example (egress.internalDomains; services under it can be added without a policy failure)',
    ]);
    const sameHost = egressProxy(replacing('urls: [https://git.bank.internal/]', 'urls: [https://git.bank.internal/, https://GIT.bank.internal:443/mirror/]'));
    expect(egressRisks(plan(change('replace', SAMPLE.address, SAMPLE.values, sameHost.values)))).toEqual([]);
  });

  it('names a destination outside the internal domains (the policy rule suppressed, or a label edited by hand)', () => {
    const edited = withLabel(SAMPLE.values, EGRESS_PROXY_LABELS.destinations, 'git.bank.internal:443,registry.npmjs.example:443');
    expect(egressRisks(plan(change('update', SAMPLE.address, SAMPLE.values, edited)))).toEqual([
      'egress destination added: IDEs can reach registry.npmjs.example:443 through the egress proxy (WEBIDE-E1: OUTSIDE the internal domains: registry.npmjs.example:443 is not under bank.internal)',
    ]);
    const catchAll = withLabel(edited, EGRESS_PROXY_LABELS.internalDomains, 'bank.internal,example');
    expect(egressRisks(plan(change('create', SAMPLE.address, null, catchAll)))).toEqual([
      'egress proxy added: IDEs gain a way out of the estate, to git.bank.internal:443, registry.npmjs.example:443 (internal domains bank.internal, example; WEBIDE-E1: OUTSIDE the internal domains: registry.npmjs.example:443 is not under bank.internal)',
    ]);
  });

  it('says nothing when the proxy is removed, narrowed (a destination or domain removed) or replaced unchanged', () => {
    expect(egressRisks(plan(change('delete', SAMPLE.address, SAMPLE.values, null)))).toEqual([]);
    expect(egressRisks(plan(change('replace', WITH_DOCS.address, WITH_DOCS.values, SAMPLE.values)))).toEqual([]);
    expect(egressRisks(plan(change('replace', SAMPLE.address, SAMPLE.values, SAMPLE.values)))).toEqual([]);
    expect(egressRisks(plan(change('update', SAMPLE.address, SAMPLE.values, egressProxy(replacing('    - { name: npm, kind: npm, urls: [https://npm.bank.internal/], caFile: /etc/webide/bank-ca.pem }\n', '')).values)))).toEqual([]);
  });

  it("says nothing for a proxy that allows nothing, for the proxy's files' loader, or for another container with the labels", () => {
    expect(egressRisks(plan(change('create', SAMPLE.address, null, withLabel(SAMPLE.values, EGRESS_PROXY_LABELS.destinations, ''))))).toEqual([]);
    const loader = withLabel(SAMPLE.values, LOADER_LABEL, 'true');
    expect(egressRisks(plan(change('create', 'docker_container.egress-proxy_files_loader_1A2B3C4D', null, loader)))).toEqual([]);
    const other = withLabel(SAMPLE.values, 'webide.component', 'nginx');
    expect(egressRisks(plan(change('create', 'docker_container.nginx', null, other)))).toEqual([]);
  });

  it('lists the egress risks after the AI gateway and before the network ones, and asks for a second approver', () => {
    const egressNetwork = change('create', 'docker_network.egress_network_5E6F7A8B', null, { name: 'webide-net-egress', internal: false });
    const report = analysePlans([plan(egressNetwork, change('replace', SAMPLE.address, SAMPLE.values, WITH_DOCS.values))]);
    expect(report.risks.map((r) => r.category)).toEqual(['egress', 'egress', 'egress', 'network']);
    expect(exitCodeOf(report)).toBe(3);
    expect(renderReportMarkdown(report, [])).toContain(
      `| egress | platform | \`${SAMPLE.address}\` | internal domain added: docs.corp.example (egress.internalDomains; services under it can be added without a policy failure) |`,
    );
  });
});
