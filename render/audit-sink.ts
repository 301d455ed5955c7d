/**
 * The audit sink: one rsyslog (Debian bookworm's 8.2302, images/audit) that receives every audit
 * record of the estate, keeps it as one JSON line per record under
 * `<logDir>/<YYYY-MM-DD>/<source>.jsonl` (the date is the day rsyslog received the record, UTC)
 * and, when configured, forwards every record to the bank's SIEM over syslog-over-TLS (RFC 5425).
 *
 * Senders (each sends its own JSON object as the syslog message):
 * - nginx: `access_log syslog:…` over UDP, RFC 3164 header without a host name (nginxAuditSyslogTarget).
 * - Keycloak: Quarkus's syslog handler over TCP, RFC 5424 with octet-counted framing (Keycloak's
 *   default for TCP, `log-syslog-counting-framing=protocol-dependent`), app-name `keycloak`; the
 *   handler puts a UTF-8 BOM before the message, which the sink removes.
 * - the Docker-events collector: `logger --tcp` (RFC 5424, newline framing), tag `docker-events`.
 * - the egress proxy (Squid): `access_log udp://…` with an RFC 3164 header in its log format, no
 *   host name, tag `squid` (render/egress-proxy.ts).
 * imtcp takes octet-counted and newline-framed messages on the same port.
 *
 * Retention is not rsyslog's: the image's entrypoint runs images/audit/prune.sh beside rsyslogd
 * (auditSinkEnvironment).
 */

/** Ports the sink listens on inside its container (it runs as a non-root user, so above 1023). */
export const AUDIT_SINK_PORTS = {
  /** nginx's and the egress proxy's access records. */
  udp: 5514,
  /** Keycloak's records and the Docker-events collector's. */
  tcp: 5514,
} as const;

/** The non-root user (and group) the sink's container runs as; owns the records and the queue files. */
export const AUDIT_SINK_UID = 10514;

/** Paths inside the sink's container (images/audit/Dockerfile creates them). */
export const AUDIT_SINK_PATHS = {
  /** The rendered rsyslog.conf (mounted read-only). */
  conf: '/etc/webide-audit/rsyslog.conf',
  /** Root of the records: `<YYYY-MM-DD>/<source>.jsonl` (a volume). */
  logDir: '/var/log/webide/audit',
  /** rsyslog's work directory: the SIEM forwarder's disk-assisted queue (a volume, so a restart keeps it). */
  workDir: '/var/lib/webide-audit',
} as const;

/** Environment variables the image's entrypoint reads (auditSinkEnvironment sets them). */
export const AUDIT_SINK_ENV = {
  retentionDays: 'WEBIDE_AUDIT_RETENTION_DAYS',
  pruneIntervalSeconds: 'WEBIDE_AUDIT_PRUNE_INTERVAL_SECONDS',
  conf: 'WEBIDE_AUDIT_CONF',
  logDir: 'WEBIDE_AUDIT_LOG_DIR',
} as const;

/** Largest message the sink accepts (bytes); senders should cap theirs at this (Keycloak's default is 2048). */
export const AUDIT_SINK_MAX_MESSAGE_BYTES = 65536;

/** One sender: the syslog tag (rsyslog's programname; the RFC 5424 APP-NAME) it sends under, and its file name. */
export interface AuditSource {
  /** Tag the sender sends under, e.g. `nginx`. Letters, digits, `_`, `.` and `-`. */
  readonly tag: string;
  /** File name without `.jsonl`, e.g. `nginx-access`. Lower-case kebab-case; `other` is reserved. */
  readonly source: string;
}

/** The tag nginx sends its access records under (nginx allows letters, digits and `_` in tags). */
export const NGINX_AUDIT_TAG = 'nginx';

/** The estate's senders. A new sender (e.g. `{ tag: 'squid', source: 'squid' }`) is one entry here. */
export const AUDIT_SOURCES: readonly AuditSource[] = [
  { tag: NGINX_AUDIT_TAG, source: 'nginx-access' },
  { tag: 'keycloak', source: 'keycloak' },
  { tag: 'docker-events', source: 'docker-events' },
  // The egress proxy (render/egress-proxy.ts EGRESS_AUDIT_TAG).
  { tag: 'squid', source: 'squid' },
];

/**
 * Where records from a tag not in the list go, each wrapped as
 * `{"received":…,"from":…,"tag":…,"msg":…}` (rsyslog's JSON escaping), so nothing is lost.
 */
export const AUDIT_OTHER_SOURCE = 'other';

/** Forwarding of every record to the SIEM: RFC 5424 over TLS (RFC 5425, octet-counted), the server's certificate checked. */
export interface SiemForwardInput {
  /** The SIEM's host name or address, as the sink connects to it. */
  readonly host: string;
  /** The SIEM's syslog-over-TLS port (6514 is RFC 5425's). */
  readonly port: number;
  /** CA certificate (PEM, a path inside the container) the SIEM's server certificate must chain to. */
  readonly caFilePath: string;
  /**
   * Name the SIEM's certificate must carry (a subjectAltName DNS name, else its CN); any other
   * certificate is refused. @default - host
   */
  readonly permittedPeer?: string;
  /** Records the forwarder holds in memory before it spills to disk. @default 10000 */
  readonly queueMaxMessages?: number;
  /** Disk the forwarder's queue may use while the SIEM is unreachable; past it new records are not forwarded (still written locally). @default 1024 */
  readonly queueMaxDiskMiB?: number;
  /** Seconds between reconnection attempts while the SIEM is unreachable. @default 30 */
  readonly retryIntervalSeconds?: number;
}

/** Input of renderRsyslogConf. Every field has the container's value as its default. */
export interface AuditSinkInput {
  /** IPv4 address the inputs listen on. @default '0.0.0.0' (tests pass 127.0.0.1) */
  readonly listenAddress?: string;
  /** UDP port (nginx). @default AUDIT_SINK_PORTS.udp */
  readonly udpPort?: number;
  /** TCP port (Keycloak, the Docker-events collector). @default AUDIT_SINK_PORTS.tcp */
  readonly tcpPort?: number;
  /** Root of the records. @default AUDIT_SINK_PATHS.logDir */
  readonly logDir?: string;
  /** rsyslog's work directory (the forwarder's queue files). @default AUDIT_SINK_PATHS.workDir */
  readonly workDir?: string;
  /** The senders, routed by tag. @default AUDIT_SOURCES */
  readonly sources?: readonly AuditSource[];
  /** Forwarding to the SIEM. @default - none: records are kept locally only */
  readonly forward?: SiemForwardInput;
}

const TAG = /^[A-Za-z0-9_.-]{1,32}$/;
const SOURCE = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const HOST = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** Absolute, and nothing rsyslog's string quoting or a shell would read specially. */
const SAFE_PATH = /^\/[A-Za-z0-9_./-]*$/;

function checkPort(what: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`audit sink: ${what} ${port} is not a port (an integer 1-65535)`);
  return port;
}

function checkPath(what: string, p: string): string {
  if (!SAFE_PATH.test(p) || p.split('/').includes('..')) throw new Error(`audit sink: ${what} "${p}" must be an absolute path of letters, digits, '_', '.', '-' and '/' without '..'`);
  return p.replace(/\/+$/, '') || '/';
}

function checkPositive(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`audit sink: ${what} ${value} must be a positive integer`);
  return value;
}

function checkSources(sources: readonly AuditSource[]): AuditSource[] {
  if (sources.length === 0) throw new Error('audit sink: sources is empty; list at least one sender (AUDIT_SOURCES)');
  for (const s of sources) {
    if (!TAG.test(s.tag)) throw new Error(`audit sink: tag "${s.tag}" must be 1-32 letters, digits, '_', '.' or '-'`);
    if (!SOURCE.test(s.source)) throw new Error(`audit sink: source "${s.source}" must be lower-case kebab-case (it names a file)`);
    if (s.source === AUDIT_OTHER_SOURCE) throw new Error(`audit sink: source "${AUDIT_OTHER_SOURCE}" is reserved for records of unknown tags`);
  }
  for (const key of ['tag', 'source'] as const) {
    const seen = sources.map((s) => s[key]);
    const twice = seen.find((v, i) => seen.indexOf(v) !== i);
    if (twice !== undefined) throw new Error(`audit sink: ${key} "${twice}" is listed twice; each sender is one entry`);
  }
  return [...sources].sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
}

/** The day directory of a record, from rsyslog's receive time in UTC: `YYYY-MM-DD`. */
const DAY = '%timegenerated:1:10:date-rfc3339,date-utc%';

function fileTemplate(logDir: string, source: string): string {
  return `template(name="webide-audit-path-${source}" type="string" string="${logDir}/${DAY}/${source}.jsonl")`;
}

/** omfile for one file of the tree: directories 0750 and files 0640, owned by the user rsyslogd runs as. */
function fileAction(source: string): string {
  return (
    `action(type="omfile" name="audit-${source}" dynaFile="webide-audit-path-${source}" ` +
    `template="${source === AUDIT_OTHER_SOURCE ? 'webide-audit-other' : 'webide-audit-line'}" ` +
    'dirCreateMode="0750" fileCreateMode="0640" createDirs="on")'
  );
}

function forwardBlock(forward: SiemForwardInput): string[] {
  if (!HOST.test(forward.host)) throw new Error(`audit sink: forward.host "${forward.host}" is not a host name or IPv4 address`);
  const peer = forward.permittedPeer ?? forward.host;
  if (!HOST.test(peer)) throw new Error(`audit sink: forward.permittedPeer "${peer}" is not a host name`);
  const port = checkPort('forward.port', forward.port);
  const queueMaxMessages = checkPositive('forward.queueMaxMessages', forward.queueMaxMessages ?? 10000);
  const queueMaxDiskMiB = checkPositive('forward.queueMaxDiskMiB', forward.queueMaxDiskMiB ?? 1024);
  const retryIntervalSeconds = checkPositive('forward.retryIntervalSeconds', forward.retryIntervalSeconds ?? 30);
  return [
    '  # Every record to the SIEM, first and on its own queue: RFC 5424 (the sender\'s tag as APP-NAME,',
    '  # the same message as the files) over TLS with octet-counted framing (RFC 5425). The server must',
    `  # present a certificate from the CA file, for ${peer}, issued for serverAuth; TLS 1.2 or 1.3.`,
    '  # The queue is disk-assisted (memory, then the work directory; kept across restarts) and bounded:',
    '  # while the SIEM is down records wait, retried forever; when the queue is full a record is not',
    '  # forwarded rather than waited for (timeoutEnqueue 0), so local writing never blocks on the SIEM.',
    '  action(type="omfwd" name="siem"',
    `    target="${forward.host}" port="${port}" protocol="tcp" TCP_Framing="octet-counted" template="webide-audit-forward"`,
    '    StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"',
    `    StreamDriverPermittedPeers="${peer}" StreamDriver.CheckExtendedKeyPurpose="on" StreamDriver.PrioritizeSAN="on"`,
    '    gnutlsPriorityString="NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"',
    `    queue.type="LinkedList" queue.filename="siem" queue.size="${queueMaxMessages}" queue.maxDiskSpace="${queueMaxDiskMiB}m"`,
    '    queue.saveOnShutdown="on" queue.timeoutEnqueue="0"',
    `    action.resumeRetryCount="-1" action.resumeInterval="${retryIntervalSeconds}" action.reportSuspension="on")`,
    '',
  ];
}

/**
 * rsyslog.conf of the audit sink. A pure function of its input: no clock, no file reads; the
 * same input always gives the same text (sources in tag order).
 *
 * Each record is routed by its tag to `<logDir>/<day>/<source>.jsonl` as exactly the sender's
 * message (its JSON object, without the space after an RFC 3164 header or an RFC 5424 BOM) and
 * a newline; records of other tags go to `<day>/other.jsonl`, wrapped. The path holds nothing
 * a sender chooses but the tag, and tags only pick from the list. rsyslog's own messages go to
 * stderr (the container's log).
 */
export function renderRsyslogConf(input: AuditSinkInput = {}): string {
  const listenAddress = input.listenAddress ?? '0.0.0.0';
  if (!IPV4.test(listenAddress)) throw new Error(`audit sink: listenAddress "${listenAddress}" is not an IPv4 address (0.0.0.0 in the container)`);
  const udpPort = checkPort('udpPort', input.udpPort ?? AUDIT_SINK_PORTS.udp);
  const tcpPort = checkPort('tcpPort', input.tcpPort ?? AUDIT_SINK_PORTS.tcp);
  const logDir = checkPath('logDir', input.logDir ?? AUDIT_SINK_PATHS.logDir);
  const workDir = checkPath('workDir', input.workDir ?? AUDIT_SINK_PATHS.workDir);
  const sources = checkSources(input.sources ?? AUDIT_SOURCES);
  const forward = input.forward;
  const caFile = forward === undefined ? undefined : checkPath('forward.caFilePath', forward.caFilePath);

  const globals = [
    `workDirectory="${workDir}"`,
    `maxMessageSize="${AUDIT_SINK_MAX_MESSAGE_BYTES}"`,
    // Senders are known by address; no reverse lookups (a slow resolver must not slow the sink).
    'net.enableDNS="off"',
    ...(caFile === undefined ? [] : [`defaultNetstreamDriverCAFile="${caFile}"`]),
  ];
  const routes = sources.flatMap((s) => [`  if $programname == "${s.tag}" then {`, `    ${fileAction(s.source)}`, '    stop', '  }']);

  return [
    '# The estate\'s audit sink (rendered by render/audit-sink.ts; do not edit).',
    '# Records: <logDir>/<YYYY-MM-DD, receive day in UTC>/<source>.jsonl, one sender message per line.',
    `global(${globals.join(' ')})`,
    '',
    'module(load="imudp")',
    'module(load="imtcp")',
    '# UDP: nginx. TCP: octet-counted (Keycloak) and newline-framed (logger) messages alike.',
    `input(type="imudp" name="audit-udp" address="${listenAddress}" port="${udpPort}" ruleset="webide-audit")`,
    `input(type="imtcp" name="audit-tcp" address="${listenAddress}" port="${tcpPort}" ruleset="webide-audit")`,
    '',
    '# One line: the sender\'s message as it sent it.',
    'template(name="webide-audit-line" type="list") {',
    '  property(name="$.line")',
    '  constant(value="\\n")',
    '}',
    '# A record of an unknown tag, wrapped so that the line is still one JSON object.',
    'template(name="webide-audit-other" type="list") {',
    '  constant(value="{\\"received\\":\\"")',
    '  property(name="timegenerated" dateFormat="rfc3339" date.inUTC="on")',
    '  constant(value="\\",\\"from\\":\\"")',
    '  property(name="fromhost-ip" format="json")',
    '  constant(value="\\",\\"tag\\":\\"")',
    '  property(name="programname" format="json")',
    '  constant(value="\\",\\"msg\\":\\"")',
    '  property(name="$.line" format="json")',
    '  constant(value="\\"}\\n")',
    '}',
    ...(forward === undefined
      ? []
      : [
          '# RFC 5424 for the SIEM (no newline: the frame is octet-counted).',
          'template(name="webide-audit-forward" type="list") {',
          '  constant(value="<") property(name="pri") constant(value=">1 ")',
          '  property(name="timereported" dateFormat="rfc3339") constant(value=" ")',
          '  property(name="hostname") constant(value=" ")',
          '  property(name="app-name") constant(value=" ")',
          '  property(name="procid") constant(value=" ")',
          '  property(name="msgid") constant(value=" ")',
          '  property(name="structured-data") constant(value=" ")',
          '  property(name="$.line")',
          '}',
        ]),
    ...[...sources.map((s) => s.source), AUDIT_OTHER_SOURCE].sort().map((source) => fileTemplate(logDir, source)),
    '',
    'ruleset(name="webide-audit") {',
    '  # The message without the space after an RFC 3164 header and without the UTF-8 BOM that',
    '  # Keycloak\'s (JBoss Log Manager\'s) RFC 5424 handler puts before it.',
    '  set $.line = ltrim($msg);',
    '  if substring($.line, 0, 3) == "\\xEF\\xBB\\xBF" then {',
    `    set $.line = substring($.line, 3, ${AUDIT_SINK_MAX_MESSAGE_BYTES});`,
    '  }',
    '',
    ...(forward === undefined ? [] : forwardBlock(forward)),
    '  # By tag (the RFC 3164 tag up to ":" or "[", the RFC 5424 APP-NAME).',
    ...routes,
    `  ${fileAction(AUDIT_OTHER_SOURCE)}`,
    '}',
    '',
  ].join('\n');
}

/** Input of auditSinkEnvironment. */
export interface AuditSinkEnvironmentProps {
  /**
   * Days the records are kept: day directories whose date is more than this many days before
   * today (UTC) are deleted, so every record is kept at least this many full days.
   */
  readonly retentionDays: number;
  /** Seconds between two prunings (the first runs when the container starts). @default 3600 */
  readonly pruneIntervalSeconds?: number;
}

/** The environment of the sink's container (`KEY=value`, sorted): what the entrypoint's pruner applies. */
export function auditSinkEnvironment(props: AuditSinkEnvironmentProps): string[] {
  const days = checkPositive('retentionDays', props.retentionDays);
  const interval = checkPositive('pruneIntervalSeconds', props.pruneIntervalSeconds ?? 3600);
  return [`${AUDIT_SINK_ENV.pruneIntervalSeconds}=${interval}`, `${AUDIT_SINK_ENV.retentionDays}=${days}`];
}

/**
 * nginx's `access_log` destination for the sink: UDP, facility local5, tag `nginx` (the tag
 * AUDIT_SOURCES routes to nginx-access.jsonl), no host name in the header. Use it as
 * `access_log ${nginxAuditSyslogTarget(address)} <format>;` with an `escape=json` format.
 */
export function nginxAuditSyslogTarget(sinkAddress: string, port: number = AUDIT_SINK_PORTS.udp): string {
  if (!HOST.test(sinkAddress)) throw new Error(`audit sink: sinkAddress "${sinkAddress}" is not a host name or IPv4 address`);
  return `syslog:server=${sinkAddress}:${checkPort('port', port)},facility=local5,tag=${NGINX_AUDIT_TAG},nohostname`;
}
