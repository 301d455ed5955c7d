import { isIP } from 'net';
import { z } from 'zod';
import { asList as list, asRecord as record, RuleIssue } from './raw';

/** What a service is, which decides how the IDE is pointed at it (git config, .npmrc, pip.conf, settings.xml, sources.list). */
export const EGRESS_KINDS = ['git', 'npm', 'pypi', 'maven', 'apt', 'https'] as const;
export type EgressKind = (typeof EGRESS_KINDS)[number];

/** Kinds whose client takes one registry: the URL the IDE's config points it at. */
const SINGLE_URL_KINDS: readonly EgressKind[] = ['npm', 'pypi', 'maven'];

/** A lowercase DNS name of two labels or more whose last label starts with a letter (so never an IPv4 address). */
const DNS_SUFFIX = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;
/** The same, one label allowed: the host part of a URL (it must still be under an internal domain). */
const DNS_HOST = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z][a-z0-9-]{0,61}[a-z0-9]$/;

/**
 * What is wrong with an `internalDomains` entry, or undefined when it is a DNS suffix the proxy may
 * allow. At least two labels (`bank.internal`, not `internal`): a single label would take in every
 * host under a top-level domain (`com`, `internal`), which the bank cannot own. A bank whose hosts
 * sit under a single-label name lists their parents instead (`git.corp`, or each host itself).
 */
export function internalDomainProblem(text: string): string | undefined {
  if (text.trim() === '') return 'must not be empty';
  if (text.includes('*')) return 'must not be a wildcard: write the suffix itself (bank.internal covers every host under it)';
  if (text.startsWith('.') || text.endsWith('.')) return 'must be written without a leading or trailing dot (bank.internal, not .bank.internal)';
  if (isIP(text) !== 0) return 'must be a DNS suffix, not an IP address';
  if (text !== text.toLowerCase()) return 'must be lowercase';
  if (!text.includes('.')) return `must have at least two labels (such as bank.internal): '${text}' alone would take in every host under a top-level domain`;
  if (!DNS_SUFFIX.test(text)) return 'must be a DNS suffix such as bank.internal (letters, digits and -, labels separated by .)';
  return undefined;
}

/** Whether `host` is a lowercase DNS name whose last label starts with a letter (never an IP address, never a wildcard). */
export function isDnsHost(host: string): boolean {
  return DNS_HOST.test(host);
}

/** Whether `host` is `domain` or a name under it (`git.bank.internal` is under `bank.internal`; `evilbank.internal` is not). */
export function isUnderDomain(host: string, domain: string): boolean {
  return host === domain || host.endsWith(`.${domain}`);
}

/** A destination the egress proxy allows: a DNS host and a TCP port. */
export interface EgressUrl {
  /** Lowercase, as the URL parser normalizes it (an internationalized name in its xn-- form). */
  readonly host: string;
  /** The URL's port; 443 when it names none. */
  readonly port: number;
}

/**
 * The host and port of a service URL, or a message saying what is wrong with it: it must be an
 * absolute `https://` URL on a DNS name, without a wildcard, an IP literal, a user name or
 * password (estate.yaml is committed), a query or a fragment.
 */
export function parseEgressUrl(text: string): EgressUrl | { readonly error: string } {
  if (/\s/.test(text)) return { error: 'must not contain spaces' };
  if (text.includes('*')) return { error: 'must not hold a wildcard (*): the proxy allows named hosts only; list each one' };
  if (!/^https:\/\//i.test(text)) return { error: 'must be an absolute https:// URL such as https://git.bank.internal/' };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { error: 'must be an absolute https:// URL such as https://git.bank.internal/' };
  }
  const authority = text.slice('https://'.length).split(/[/?#]/)[0];
  if (authority.includes('@')) return { error: 'must not hold a user name or password: estate.yaml is committed (the service authenticates users another way)' };
  if (text.includes('?') || text.includes('#')) return { error: 'must not have a query or fragment' };
  // The parser has already turned forms such as 0x7f.1 into 127.0.0.1.
  if (url.hostname.startsWith('[') || isIP(url.hostname) !== 0) {
    return { error: 'must name a DNS host, not an IP address: the proxy allows destinations by name, under egress.internalDomains' };
  }
  if (!isDnsHost(url.hostname)) return { error: 'must name a DNS host such as git.bank.internal (letters, digits and -, labels separated by .)' };
  const port = url.port === '' ? 443 : Number(url.port);
  if (port < 1) return { error: 'must have a port from 1 to 65535 (or none: 443)' };
  return { host: url.hostname, port };
}

const egressUrl = z.string().superRefine((text, ctx) => {
  const parsed = parseEgressUrl(text);
  if ('error' in parsed) ctx.addIssue({ code: 'custom', message: parsed.error });
});

const internalDomain = z.string().superRefine((text, ctx) => {
  const problem = internalDomainProblem(text);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Where an `apt` service's packages come from: one `deb` line in the IDE's sources.list per URL. */
const aptSource = z.strictObject({
  /** The distribution, as in a sources.list line: `bookworm`, `bookworm-updates`. */
  suite: z.string().regex(/^[a-z0-9][a-z0-9.+_/-]{0,63}$/, 'must be a suite name such as bookworm'),
  /** Archive areas: `main`, `contrib`, `non-free-firmware`. */
  components: z.array(z.string().regex(/^[a-z0-9][a-z0-9.+_-]{0,63}$/, 'must be a component name such as main')).min(1),
});

const egressService = z.strictObject({
  /** Unique; also the file name of its CA inside the IDE (`/etc/webide/egress-ca/<name>.pem`). */
  name: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'must be a short lowercase name such as git (letters, digits and -, at most 31)'),
  /** How the IDE is pointed at it; `https` for anything else reached over HTTPS. */
  kind: z.enum(EGRESS_KINDS),
  /**
   * Absolute https URLs on DNS names under `internalDomains` (port 443 unless the URL names one).
   * npm, pypi and maven take exactly one: the registry their client is pointed at.
   */
  urls: z.array(egressUrl).min(1, 'must list at least one URL'),
  /** PEM CA certificate that signs the service's certificate, on the Docker host; bind-mounted read-only into every IDE. */
  caFile: z.string().startsWith('/', 'must be an absolute path on the Docker host'),
  /** Only for kind `apt`, and required there. */
  apt: aptSource.optional(),
});

/**
 * The estate's `egress` section: the bank's services IDEs may reach, through the egress proxy
 * (Squid) only, each request recorded in the audit trail under its user. Nothing else is reachable:
 * the proxy allows these hosts and ports and refuses the rest, and every host must be under a
 * domain the bank calls internal.
 *
 * ```yaml
 * egress:
 *   internalDomains: [bank.internal]
 *   services:
 *     - { name: git, kind: git, urls: [https://git.bank.internal/], caFile: /etc/webide/bank-ca.pem }
 *     - { name: npm, kind: npm, urls: [https://npm.bank.internal/], caFile: /etc/webide/bank-ca.pem }
 *     - name: debian
 *       kind: apt
 *       urls: [https://apt.bank.internal/debian/]
 *       caFile: /etc/webide/bank-ca.pem
 *       apt: { suite: bookworm, components: [main] }
 * ```
 * Rules across fields (names unique, hosts under the domains, the URL count of npm/pypi/maven,
 * `apt` with kind apt only) are in `egressRules`.
 */
export const egressConfig = z.strictObject({
  /**
   * DNS suffixes the bank calls internal: every service host must be one of them or under one.
   * No wildcard, at least two labels (`bank.internal`, not `internal`).
   */
  internalDomains: z.array(internalDomain).min(1, 'must list at least one domain (such as bank.internal)'),
  /** The services IDEs may reach; each name once. */
  services: z.array(egressService).min(1, 'must list at least one service (without any, leave out the egress section)'),
  /**
   * The bank's DNS resolvers, for the egress proxy only (every other container has an unroutable
   * upstream). @default - Docker's embedded DNS alone: names of containers on the egress network
   * (the e2e tier's stand-ins) resolve, nothing else
   */
  dnsServers: z.array(z.ipv4()).min(1).optional(),
});

/** The validated `egress` section. */
export type EgressConfig = z.output<typeof egressConfig>;
export type EgressService = EgressConfig['services'][number];

/** One destination the proxy allows, with the services that use it. */
export interface EgressDestination {
  readonly host: string;
  readonly port: number;
  /** Names of the services with a URL on this host and port, sorted. */
  readonly services: string[];
}

/** Every host:port the services' URLs name, once, sorted by host then port (deterministic, for labels and squid.conf). */
export function egressDestinations(egress: EgressConfig): EgressDestination[] {
  const byKey = new Map<string, { host: string; port: number; services: Set<string> }>();
  for (const service of egress.services) {
    for (const text of service.urls) {
      const parsed = parseEgressUrl(text);
      if ('error' in parsed) throw new Error(`egress service ${service.name}: URL ${text} ${parsed.error} (validate the config with egressConfig first)`);
      const key = `${parsed.host}:${parsed.port}`;
      const entry = byKey.get(key) ?? { host: parsed.host, port: parsed.port, services: new Set<string>() };
      entry.services.add(service.name);
      byKey.set(key, entry);
    }
  }
  return [...byKey.values()]
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port))
    .map(({ host, port, services }) => ({ host, port, services: [...services].sort() }));
}

/**
 * Rules across the fields of the `egress` section, read raw (as `estateRules` does) so they report
 * with the shape errors: names unique; every URL's host under one of `internalDomains`; npm, pypi
 * and maven with exactly one URL; an `apt` block with kind apt, and only there. Values the schema
 * refuses are skipped here (it reports them). Paths start at `egress`.
 */
export function egressRules(raw: unknown): RuleIssue[] {
  if (raw === undefined) return [];
  const issues: RuleIssue[] = [];
  const egress = record(raw);
  // A malformed domain is read as meant (`*.bank.internal`, `.Bank.Internal`: bank.internal), so
  // its hosts are not reported twice; a list with none usable (missing, empty, `*`) is the schema's error.
  const written = list(egress.internalDomains).filter((d): d is string => typeof d === 'string');
  const domains = written.map((d) => d.trim().toLowerCase().replace(/^(\*?\.)+/, '').replace(/\.$/, '')).filter((d) => d !== '');
  const judgeHosts = domains.some((d) => !d.includes('*'));
  const names = new Map<string, number>();
  list(egress.services).forEach((item, index) => {
    const service = record(item);
    const at = (...rest: (string | number)[]) => ['egress', 'services', index, ...rest];
    if (typeof service.name === 'string') {
      const first = names.get(service.name);
      if (first !== undefined) {
        issues.push({ path: at('name'), message: (lineOf) => `service '${service.name}' is listed twice (first on line ${lineOf(['egress', 'services', first])})` });
      } else names.set(service.name, index);
    }
    const urls = list(service.urls);
    const kind = service.kind;
    if (typeof kind === 'string' && SINGLE_URL_KINDS.includes(kind as EgressKind) && urls.length > 1) {
      issues.push({ path: at('urls'), message: `kind ${kind} takes exactly one URL (the registry its client is pointed at), not ${urls.length}: give each registry its own service` });
    }
    if (kind === 'apt' && service.apt === undefined && isRecordLike(item)) {
      issues.push({ path: at(), message: "missing required key 'apt' for kind apt ({ suite: bookworm, components: [main] })" });
    }
    if (kind !== 'apt' && service.apt !== undefined && typeof kind === 'string') {
      issues.push({ path: at('apt'), message: `only a service of kind apt takes an apt block (this one is ${kind}): remove it, or set kind: apt` });
    }
    if (!judgeHosts) return;
    urls.forEach((text, urlIndex) => {
      if (typeof text !== 'string') return;
      const parsed = parseEgressUrl(text);
      if ('error' in parsed || domains.some((domain) => isUnderDomain(parsed.host, domain))) return;
      issues.push({
        path: at('urls', urlIndex),
        message: `host ${parsed.host} is not under any of egress.internalDomains (${written.join(', ')}): add its domain there only if the bank owns it, or remove the URL`,
      });
    });
  });
  return issues;
}

function isRecordLike(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Labels of the egress proxy's container (issue 18's contract), which the policy rule WEBIDE-E1
 * and the change-approval report read: what the proxy allows, in words a reviewer can check.
 */
export const EGRESS_PROXY_LABELS = {
  /** `host:port,host:port`: egressDestinations, in its order. */
  destinations: 'webide.egress-destinations',
  /** `bank.internal,corp.example`: internalDomains, sorted, each once. */
  internalDomains: 'webide.egress-internal-domains',
} as const;

/** The values of EGRESS_PROXY_LABELS for a validated egress section. */
export function egressProxyLabels(egress: EgressConfig): Record<string, string> {
  return {
    [EGRESS_PROXY_LABELS.destinations]: egressDestinations(egress).map((d) => `${d.host}:${d.port}`).join(','),
    [EGRESS_PROXY_LABELS.internalDomains]: [...new Set(egress.internalDomains)].sort().join(','),
  };
}

/** The entries of a comma-separated label (EGRESS_PROXY_LABELS), blanks dropped; none for a missing label. */
export function labelList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
}
