import { isIP } from 'net';

/**
 * The egress proxy: Debian bookworm's Squid 5.7 (images/egress-proxy), the one way out of the
 * workspaces to the bank's declared services. This file renders its squid.conf and the text of
 * the per-address user files; both are pure (no clock, no file reads).
 *
 * What the rendered Squid does, in this order:
 * 1. Serves only requests that arrive on one of its own addresses that a user file names (one
 *    file per user network, `<address>.conf`, written by the estate; squidUserMapEntry). Anything
 *    else gets 403 ERR_WEBIDE_EGRESS_NO_USER. The IDE cannot claim an identity: the address is
 *    the proxy's own, on the network Docker gave that user.
 * 2. Refuses a declared host whose DNS answer falls in a denied range (the estate's own subnets,
 *    loopback, link-local, multicast: EGRESS_ALWAYS_DENIED_CIDRS plus deniedCidrs):
 *    ERR_WEBIDE_EGRESS_DENIED_ADDRESS.
 * 3. Allows CONNECT and plain-http requests to exactly the declared `host:port` pairs (dstdomain
 *    without leading dots: exact names; an IP literal never matches one).
 * 4. Refuses everything else: ERR_WEBIDE_EGRESS_NOT_ALLOWED, which names the estate's egress
 *    allow-list. Every refusal also carries an `X-WebIDE-Egress` header saying why (what `curl
 *    -v` and `GIT_CURL_VERBOSE=1` show after a refused CONNECT, whose body clients do not print).
 *
 * Nothing is cached; no Via or X-Forwarded-For header leaves. Every request is logged as one
 * JSON object (EGRESS_LOG_FIELDS) to stdout and, when configured, as RFC 3164 syslog over UDP
 * with tag `squid` to the audit sink (render/audit-sink.ts routes it to `squid.jsonl`).
 */

/** Port Squid listens on inside its container (constructs/naming.ts INTERNAL_PORTS.egressProxy). */
export const EGRESS_PROXY_PORT = 3128;

/** The non-root user (and group) the proxy's container runs as (images/egress-proxy/Dockerfile). */
export const EGRESS_PROXY_UID = 13128;

/** Paths inside the proxy's container (images/egress-proxy/Dockerfile creates the directories). */
export const EGRESS_PROXY_PATHS = {
  /** The rendered squid.conf; Squid runs as `squid -N -f <conf>`. */
  conf: '/etc/webide-egress/squid.conf',
  /**
   * The user map: `<address>.conf` files, root-owned (a volume the estate writes with docker cp;
   * Squid, not root, cannot change them). Mount point of the estate's egress-users volume.
   */
  usersDir: '/var/lib/webide-egress/users.d',
  /**
   * What squid.conf includes: the user files plus the image's `base.d/000-no-users.conf`, which
   * always matches, because Squid refuses to start when an include glob matches no file (as it
   * would before the first user is linked).
   */
  usersInclude: '/var/lib/webide-egress/*.d/*.conf',
  /** The estate's error pages (images/egress-proxy/errors, copied into the image). */
  errorDir: '/usr/share/webide-egress/errors',
  /** Squid's only writable place: a tmpfs (the pid file). */
  runDir: '/run/squid',
  pidFile: '/run/squid/squid.pid',
} as const;

/**
 * Destinations no declared name may resolve to, whatever the estate declares: "this network",
 * loopback, link-local (cloud metadata services included), multicast and reserved ranges, in
 * both families. The estate's own subnets come on top (SquidConfInput.deniedCidrs).
 */
export const EGRESS_ALWAYS_DENIED_CIDRS: readonly string[] = [
  '0.0.0.0/8',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/128',
  '::1/128',
  'fe80::/10',
  'ff00::/8',
];

/** The estate's error pages (files of that name in EGRESS_PROXY_PATHS.errorDir), one per reason. */
export const EGRESS_ERROR_PAGES = {
  /** The request arrived on an address no user file names. */
  noUser: 'ERR_WEBIDE_EGRESS_NO_USER',
  /** A declared host resolved into a denied range. */
  deniedAddress: 'ERR_WEBIDE_EGRESS_DENIED_ADDRESS',
  /** Not a declared host:port (or not CONNECT / plain http). */
  notAllowed: 'ERR_WEBIDE_EGRESS_NOT_ALLOWED',
} as const;

/** Response header that says why the proxy refused a request. */
export const EGRESS_REFUSAL_HEADER = 'X-WebIDE-Egress';

/** The syslog tag the proxy's records carry (AUDIT_SOURCES routes it to `squid.jsonl`). */
export const EGRESS_AUDIT_TAG = 'squid';

/** The Squid annotation (note) that carries the user; `%{webide-user}note` in the log format. */
const USER_NOTE = 'webide-user';
/** The annotation a refusing http_access line sets (annotate_transaction): the reason. */
const REFUSAL_NOTE = 'webide-egress';

/**
 * The fields of a record, in order: JSON key and Squid logformat code. Quoted values are
 * escaped by Squid's `%"` (backslash before `"` and `\`, \r \n \t); `url` is Squid's logging
 * form of the URL (`%ru`: query terms stripped, unsafe characters %-encoded). A value Squid
 * does not have is `"-"`; numbers are always numbers.
 */
export const EGRESS_LOG_FIELDS: readonly { readonly key: string; readonly code: string; readonly quoted: boolean }[] = [
  /** When the request ended, UTC, milliseconds. */
  { key: 'time', code: '%{%Y-%m-%dT%H:%M:%S}tg.%03tuZ', quoted: true },
  /** The user the address it arrived on belongs to; `-` when none. */
  { key: 'user', code: `%"{${USER_NOTE}}note`, quoted: true },
  /** The client (the IDE container) and the proxy's own address it connected to. */
  { key: 'client', code: '%>a', quoted: true },
  { key: 'local', code: '%>la', quoted: true },
  { key: 'method', code: '%"rm', quoted: true },
  /** Destination: the CONNECT authority's or the URL's host and port (port as a string: `-` when unparsed). */
  { key: 'host', code: '%">rd', quoted: true },
  { key: 'port', code: '%>rP', quoted: true },
  /** `host:port` for CONNECT; the URL without its query for plain http. */
  { key: 'url', code: '%"ru', quoted: true },
  /** HTTP status sent to the client, and Squid's result (TCP_TUNNEL, TCP_MISS, TCP_DENIED…). */
  { key: 'status', code: '%>Hs', quoted: false },
  { key: 'result', code: '%Ss', quoted: true },
  /** The error page sent (one of EGRESS_ERROR_PAGES for a refusal), `-` when none. */
  { key: 'error', code: '%err_code', quoted: true },
  /** The address Squid connected to for it; `-` when it did not. */
  { key: 'server', code: '%<a', quoted: true },
  { key: 'bytes_to_client', code: '%<st', quoted: false },
  { key: 'bytes_from_client', code: '%>st', quoted: false },
  { key: 'duration_ms', code: '%tr', quoted: false },
];

/** One allowed destination: an exact DNS name and a port. */
export interface EgressDestination {
  /** Lower-case DNS name, e.g. `git.bank.internal` (no IP literal, no wildcard). */
  readonly host: string;
  readonly port: number;
}

/** Where the records go besides stdout: the audit sink's UDP syslog input. */
export interface EgressAuditTarget {
  /** The sink's IPv4 address (subnetPlan().auditAddress). */
  readonly address: string;
  /** The sink's UDP port (AUDIT_SINK_PORTS.udp, 5514). */
  readonly port: number;
}

/** Input of renderSquidConf. Paths default to the container's (EGRESS_PROXY_PATHS). */
export interface SquidConfInput {
  /** The declared `host:port` pairs; sorted and deduplicated here. Empty: every request is refused. */
  readonly destinations: readonly EgressDestination[];
  /** Port Squid listens on. @default EGRESS_PROXY_PORT */
  readonly port?: number;
  /** Addresses Squid listens on (one http_port each). @default - every address of the container */
  readonly listenAddresses?: readonly string[];
  /** Glob of the user files (see EGRESS_PROXY_PATHS.usersInclude; it must match at least one file). @default EGRESS_PROXY_PATHS.usersInclude */
  readonly usersInclude?: string;
  /** Ranges no declared name may resolve to, on top of alwaysDeniedCidrs: the estate's own fixed subnets. */
  readonly deniedCidrs: readonly string[];
  /**
   * The ranges every estate refuses. @default EGRESS_ALWAYS_DENIED_CIDRS
   * (tests that run Squid and its destinations on loopback pass a list without 127.0.0.0/8)
   */
  readonly alwaysDeniedCidrs?: readonly string[];
  /** The audit sink. @default - records go to stdout only */
  readonly audit?: EgressAuditTarget;
  /** @default EGRESS_PROXY_PATHS.pidFile */
  readonly pidFile?: string;
  /** @default EGRESS_PROXY_PATHS.errorDir */
  readonly errorDirectory?: string;
  /** A hosts file Squid reads before DNS. @default - Squid's own (/etc/hosts); tests map declared names to loopback with one */
  readonly hostsFile?: string;
  /** Name Squid gives itself in error pages. @default 'egress-proxy' (constructs/naming.ts EGRESS_PROXY_HOST) */
  readonly visibleHostname?: string;
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** A username as the roster allows it (config/roster.ts), and nothing squid.conf would read specially. */
const USERNAME = /^[a-z][a-z0-9-]{0,62}$/;
/** Absolute, and nothing squid.conf or a shell would read specially (`*` `?` `[` `]` for the include glob only). */
const SAFE_PATH = /^\/[A-Za-z0-9_./-]*$/;
const SAFE_GLOB = /^\/[A-Za-z0-9_./*?[\]-]*$/;

function fail(message: string): never {
  throw new Error(`egress proxy: ${message}`);
}

function checkPort(what: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`${what} ${port} is not a port (an integer 1-65535)`);
  return port;
}

function checkPath(what: string, p: string, pattern = SAFE_PATH): string {
  if (!pattern.test(p) || p.split('/').includes('..')) fail(`${what} "${p}" must be an absolute path of letters, digits, '_', '.', '-' and '/' without '..'`);
  return p;
}

function checkHost(host: string): string {
  if (isIP(host) !== 0 || isIP(host.replace(/^\[|\]$/g, '')) !== 0) fail(`destination "${host}" is an IP address; declare services by DNS name`);
  if (!DNS_NAME.test(host)) fail(`destination "${host}" is not a lower-case DNS name (letters, digits, '-' and '.'; no wildcard)`);
  return host;
}

/** `a.b.c.d/n` or an IPv6 prefix, as Squid's `dst` ACL takes them; a bare address is a /32 (/128). */
function checkCidr(cidr: string): string {
  const [address, prefixText, ...rest] = cidr.split('/');
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (family === 0 || rest.length > 0 || !/^\d{1,3}$/.test(prefixText ?? String(max)) || prefix > max) fail(`"${cidr}" is not an IPv4 or IPv6 CIDR`);
  return `${address}/${prefix}`;
}

function checkIpv4(what: string, address: string): string {
  if (!IPV4.test(address)) fail(`${what} "${address}" is not an IPv4 address`);
  return address;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const sortedUnique = (values: readonly string[]) => [...new Set(values)].sort(compare);

/** The JSON record, as a Squid logformat. */
function jsonFormat(): string {
  return `{${EGRESS_LOG_FIELDS.map((f) => (f.quoted ? `"${f.key}":"${f.code}"` : `"${f.key}":${f.code}`)).join(',')}}`;
}

/**
 * squid.conf of the egress proxy. A pure function of its input: the same input always gives
 * the same text (destinations grouped by port, ports and names sorted, duplicates removed).
 */
export function renderSquidConf(input: SquidConfInput): string {
  const port = checkPort('port', input.port ?? EGRESS_PROXY_PORT);
  const listen = sortedUnique((input.listenAddresses ?? []).map((a) => checkIpv4('listen address', a)));
  const usersInclude = checkPath('usersInclude', input.usersInclude ?? EGRESS_PROXY_PATHS.usersInclude, SAFE_GLOB);
  const pidFile = checkPath('pidFile', input.pidFile ?? EGRESS_PROXY_PATHS.pidFile);
  const errorDirectory = checkPath('errorDirectory', input.errorDirectory ?? EGRESS_PROXY_PATHS.errorDir);
  const hostsFile = input.hostsFile === undefined ? undefined : checkPath('hostsFile', input.hostsFile);
  const visibleHostname = input.visibleHostname ?? 'egress-proxy';
  if (!DNS_NAME.test(visibleHostname)) fail(`visibleHostname "${visibleHostname}" is not a DNS name`);
  const denied = sortedUnique([...(input.alwaysDeniedCidrs ?? EGRESS_ALWAYS_DENIED_CIDRS), ...input.deniedCidrs].map(checkCidr));
  if (denied.length === 0) fail('no denied ranges: pass EGRESS_ALWAYS_DENIED_CIDRS (or the estate\'s subnets)');
  const audit = input.audit && { address: checkIpv4('audit.address', input.audit.address), port: checkPort('audit.port', input.audit.port) };

  const hostsByPort = new Map<number, Set<string>>();
  for (const d of input.destinations) {
    const p = checkPort(`port of ${d.host}`, d.port);
    hostsByPort.set(p, (hostsByPort.get(p) ?? new Set()).add(checkHost(d.host)));
  }
  const ports = [...hostsByPort.keys()].sort((a, b) => a - b);
  const allHosts = sortedUnique([...hostsByPort.values()].flatMap((s) => [...s]));

  const json = jsonFormat();
  return [
    "# The estate's egress proxy (rendered by render/egress-proxy.ts; do not edit).",
    ...(listen.length === 0 ? [`http_port ${port}`] : listen.map((a) => `http_port ${a}:${port}`)),
    `visible_hostname ${visibleHostname}`,
    'httpd_suppress_version_string on',
    '',
    '# Read-only container: the pid file is the only thing Squid writes (a tmpfs); its log goes to',
    '# stderr, access records to stdout (and the sink); no rotation, no state files, no helpers.',
    `pid_filename ${pidFile}`,
    'cache_log /dev/stderr',
    'logfile_rotate 0',
    'coredump_dir none',
    'netdb_filename none',
    'pinger_enable off',
    'client_db off',
    // docker stop waits 10 s before SIGKILL; Squid's default is to drain for 30.
    'shutdown_lifetime 3 seconds',
    `error_directory ${errorDirectory}`,
    ...(hostsFile === undefined ? [] : [`hosts_file ${hostsFile}`]),
    '',
    '# Nothing is cached.',
    'cache deny all',
    'cache_mem 0 MB',
    '',
    '# Nothing about the client or this proxy is added to requests.',
    'via off',
    'forwarded_for delete',
    '',
    '# Users: each user file adds its address to webide-users and maps it to its user',
    '# (squidUserMapEntry). Defined here first, with an address that is never local, so that the',
    '# config loads with no users at all.',
    'acl webide-users localip 255.255.255.255/32',
    `include ${usersInclude}`,
    '',
    '# Destinations: exact names, per port.',
    'acl webide-connect method CONNECT',
    'acl webide-http proto HTTP',
    ...(allHosts.length === 0 ? [] : [`acl webide-declared dstdomain -n ${allHosts.join(' ')}`]),
    `acl webide-denied-dst dst ${denied.join(' ')}`,
    ...ports.flatMap((p) => [`acl webide-port-${p} port ${p}`, `acl webide-to-${p} dstdomain -n ${[...hostsByPort.get(p)!].sort(compare).join(' ')}`]),
    '',
    '# Why a request was refused: annotate_transaction always matches, so each sets the reason as the',
    '# last ACL of its deny line, which is also the one deny_info picks the error page by.',
    `acl webide-no-user annotate_transaction ${REFUSAL_NOTE}=no-user`,
    `acl webide-denied-address annotate_transaction ${REFUSAL_NOTE}=denied-address`,
    `acl webide-not-allowed annotate_transaction ${REFUSAL_NOTE}=not-allowed`,
    `acl webide-refused-no-user note ${REFUSAL_NOTE} no-user`,
    `acl webide-refused-denied-address note ${REFUSAL_NOTE} denied-address`,
    `acl webide-refused-not-allowed note ${REFUSAL_NOTE} not-allowed`,
    '',
    'http_access deny !webide-users webide-no-user',
    ...(allHosts.length === 0 ? [] : ['http_access deny webide-declared webide-denied-dst webide-denied-address']),
    ...ports.flatMap((p) => [
      `http_access allow webide-connect webide-port-${p} webide-to-${p}`,
      `http_access allow webide-http webide-port-${p} webide-to-${p}`,
    ]),
    'http_access deny webide-not-allowed',
    '',
    `deny_info ${EGRESS_ERROR_PAGES.noUser} webide-no-user`,
    `deny_info ${EGRESS_ERROR_PAGES.deniedAddress} webide-denied-address`,
    `deny_info ${EGRESS_ERROR_PAGES.notAllowed} webide-not-allowed`,
    `reply_header_add ${EGRESS_REFUSAL_HEADER} "refused: %>la is not a linked workspace network of this proxy" webide-refused-no-user`,
    `reply_header_add ${EGRESS_REFUSAL_HEADER} "refused: %>rd resolves to an address the egress proxy never connects to" webide-refused-denied-address`,
    `reply_header_add ${EGRESS_REFUSAL_HEADER} "refused: %>rd:%>rP is not on this estate's egress allow-list (estate.yaml egress.services)" webide-refused-not-allowed`,
    '',
    '# One JSON object per request; to the sink with an RFC 3164 header (local4.info, no host name,',
    `# tag ${EGRESS_AUDIT_TAG}), one datagram per record (buffer-size=0bytes: Squid's UDP module would`,
    '# otherwise pack several records into one datagram).',
    `logformat webide-json ${json}`,
    `logformat webide-syslog <166>%{%b %e %H:%M:%S}tg ${EGRESS_AUDIT_TAG}: ${json}`,
    'access_log stdio:/dev/stdout logformat=webide-json',
    ...(audit === undefined ? [] : [`access_log udp://${audit.address}:${audit.port} logformat=webide-syslog buffer-size=0bytes`]),
    '',
  ].join('\n');
}

/**
 * The user file for one address: `<address>.conf` in the users directory says that requests
 * arriving on `address` (the proxy's own address on a user's network) are `username`'s.
 * Exactly three lines:
 *
 *   acl webide-users localip <address>
 *   acl webide-at-<address> localip <address>
 *   note webide-user <username> webide-at-<address>
 *
 * which a POSIX shell writes as (SQUID_USER_MAP_SHELL.entry, with $ip and $USERNAME set):
 *
 *   printf 'acl webide-users localip %s\nacl webide-at-%s localip %s\nnote webide-user %s webide-at-%s\n' "$ip" "$ip" "$ip" "$USERNAME" "$ip"
 *
 * Squid reads it on start and on SIGHUP (reconfigure).
 */
export function squidUserMapEntry(address: string, username: string): string {
  const ip = checkIpv4('user map address', address);
  if (!USERNAME.test(username)) fail(`username "${username}" must be a lower-case DNS label (a-z first, then a-z, 0-9, -)`);
  return `acl webide-users localip ${ip}\nacl webide-at-${ip} localip ${ip}\nnote ${USER_NOTE} ${username} webide-at-${ip}\n`;
}

/**
 * What replaces an address's user file when the proxy leaves that user's network: one comment
 * line, `# <address>: unlinked`, so after SIGHUP the address is unknown again (its requests are
 * refused). The shell: `printf '# %s: unlinked\n' "$ip"` (SQUID_USER_MAP_SHELL.unlinked).
 */
export function squidUserMapUnlinked(address: string): string {
  return `# ${checkIpv4('user map address', address)}: unlinked\n`;
}

/**
 * The same texts as POSIX shell commands (printf to stdout), for a Terraform local-exec that has
 * `$ip` (the proxy's address on the network) and `$USERNAME` in its environment.
 */
export const SQUID_USER_MAP_SHELL = {
  entry: `printf 'acl webide-users localip %s\\nacl webide-at-%s localip %s\\nnote ${USER_NOTE} %s webide-at-%s\\n' "$ip" "$ip" "$ip" "$USERNAME" "$ip"`,
  unlinked: `printf '# %s: unlinked\\n' "$ip"`,
} as const;
