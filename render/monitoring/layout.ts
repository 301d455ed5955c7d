/**
 * Where the monitoring roles live: ports, file names and paths inside the monitoring image
 * (images/monitoring), and the command each role's container runs. Prometheus, Alertmanager,
 * the node exporter, the nginx exporter and mtail all come from Debian bookworm's packages in
 * that one image; the estate runs one container per role, each with its command from
 * monitoringCommands.
 */

/** Ports the roles listen on inside their containers (Debian's defaults, written out). */
export const MONITORING_PORTS = {
  prometheus: 9090,
  alertmanager: 9093,
  nodeExporter: 9100,
  nginxExporter: 9113,
  mtail: 3903,
} as const;

/** The user (and group) every role runs as. A system uid: the packages' maintainer scripts
 * (`adduser --system prometheus`) accept an existing user only in Debian's system range. */
export const MONITORING_UID = 190;

/** File names of the rendered files. Prometheus reads rule files relative to prometheus.yml, so the two lie side by side. */
export const MONITORING_FILES = {
  prometheusConfig: 'prometheus.yml',
  alertRules: 'alerts.rules.yml',
  alertmanagerConfig: 'alertmanager.yml',
} as const;

/** Paths inside the monitoring image (images/monitoring/Dockerfile creates the directories). */
export const MONITORING_PATHS = {
  /** Rendered prometheus.yml and alerts.rules.yml (mounted read-only). */
  prometheusConfigDir: '/etc/webide-monitoring/prometheus',
  /** Rendered alertmanager.yml (mounted read-only). */
  alertmanagerConfigDir: '/etc/webide-monitoring/alertmanager',
  /** Rendered mtail programs, one file each (mounted read-only). */
  mtailProgramsDir: '/etc/webide-monitoring/mtail',
  /** Prometheus's TSDB (a volume owned by MONITORING_UID). */
  prometheusData: '/var/lib/webide-monitoring/prometheus',
  /** Alertmanager's silences and notification log (a volume owned by MONITORING_UID). */
  alertmanagerData: '/var/lib/webide-monitoring/alertmanager',
  /** The host's /proc, /sys and / for the node exporter (read-only bind mounts). */
  hostProc: '/host/proc',
  hostSys: '/host/sys',
  hostRoot: '/host/root',
} as const;

/**
 * The audit sink's records as mtail's container sees them (the sink's volume, mounted
 * read-only): `<dir>/<YYYY-MM-DD>/<source>.jsonl`, one JSON object per line.
 */
export const AUDIT_LOG_DIR = '/var/log/webide/audit';

/** The audit sink's sources mtail reads (file names without `.jsonl`; the sink's AUDIT_SOURCES). */
export const AUDIT_LOG_SOURCES = { nginx: 'nginx-access', dockerEvents: 'docker-events' } as const;

/** mtail's `--logs` patterns: every day's file of each source, new days included (mtail re-globs). */
export function auditLogGlobs(auditLogDir: string = AUDIT_LOG_DIR): string[] {
  return [AUDIT_LOG_SOURCES.dockerEvents, AUDIT_LOG_SOURCES.nginx].map((source) => `${auditLogDir}/*/${source}.jsonl`);
}

export interface MtailArgsInput {
  /** Directory of the rendered programs. */
  readonly progsDir: string;
  /** Log files or glob patterns to read. */
  readonly logs: readonly string[];
  /** Port of the /metrics listener. @default MONITORING_PORTS.mtail */
  readonly port?: number;
  /** Address of the listener. @default - all addresses (the container's own) */
  readonly address?: string;
}

/**
 * mtail's arguments. The `prog` label is off: every metric name belongs to one program, so it
 * would only add a label to select on. Logs go to stderr (the container's log), not to files.
 */
export function mtailArgs(input: MtailArgsInput): string[] {
  return [
    '--progs', input.progsDir,
    ...input.logs.flatMap((pattern) => ['--logs', pattern]),
    ...(input.address === undefined ? [] : ['--address', input.address]),
    '--port', String(input.port ?? MONITORING_PORTS.mtail),
    '--emit_prog_label=false',
    '--logtostderr',
  ];
}

export interface MonitoringCommandsInput {
  /**
   * nginx's stub_status page as the nginx exporter reaches it, e.g.
   * `http://webide-nginx:8090/stub_status` (nginx must serve it on a listener the exporter's
   * network reaches, and nowhere else).
   */
  readonly nginxStubStatusUrl: string;
  /** How long Prometheus keeps samples. @default 15 (days) */
  readonly retentionDays?: number;
  /** The audit sink's records in mtail's container. @default AUDIT_LOG_DIR */
  readonly auditLogDir?: string;
}

/** The argv of each role's container (the image has no entrypoint of its own). */
export interface MonitoringCommands {
  readonly prometheus: readonly string[];
  readonly alertmanager: readonly string[];
  readonly nodeExporter: readonly string[];
  readonly nginxExporter: readonly string[];
  readonly mtail: readonly string[];
}

export function monitoringCommands(input: MonitoringCommandsInput): MonitoringCommands {
  const retentionDays = input.retentionDays ?? 15;
  if (!Number.isInteger(retentionDays) || retentionDays < 1) {
    throw new Error(`monitoring: retentionDays must be a whole number of days >= 1, got ${retentionDays}`);
  }
  if (!/^https?:\/\/[^\s/@]+(:\d+)?\/\S*$/.test(input.nginxStubStatusUrl)) {
    throw new Error(`monitoring: nginxStubStatusUrl must be an http(s) URL with a host and a path (e.g. http://webide-nginx:8090/stub_status), got '${input.nginxStubStatusUrl}'`);
  }
  const P = MONITORING_PATHS;
  return {
    prometheus: [
      'prometheus',
      `--config.file=${P.prometheusConfigDir}/${MONITORING_FILES.prometheusConfig}`,
      `--storage.tsdb.path=${P.prometheusData}`,
      `--storage.tsdb.retention.time=${retentionDays}d`,
      `--web.listen-address=:${MONITORING_PORTS.prometheus}`,
    ],
    alertmanager: [
      'prometheus-alertmanager',
      `--config.file=${P.alertmanagerConfigDir}/${MONITORING_FILES.alertmanagerConfig}`,
      `--storage.path=${P.alertmanagerData}`,
      `--web.listen-address=:${MONITORING_PORTS.alertmanager}`,
      // One Alertmanager: no gossip cluster (and no port 9094).
      '--cluster.listen-address=',
    ],
    nodeExporter: [
      'prometheus-node-exporter',
      `--path.procfs=${P.hostProc}`,
      `--path.sysfs=${P.hostSys}`,
      `--path.rootfs=${P.hostRoot}`,
      `--web.listen-address=:${MONITORING_PORTS.nodeExporter}`,
    ],
    nginxExporter: [
      'prometheus-nginx-exporter',
      `-nginx.scrape-uri=${input.nginxStubStatusUrl}`,
      // It exits at start when nginx does not answer yet (nginx is created beside it): it waits up to 5 minutes.
      '-nginx.retries=60',
      '-nginx.retry-interval=5s',
      `-web.listen-address=:${MONITORING_PORTS.nginxExporter}`,
    ],
    mtail: ['mtail', ...mtailArgs({ progsDir: P.mtailProgramsDir, logs: auditLogGlobs(input.auditLogDir ?? AUDIT_LOG_DIR) })],
  };
}
