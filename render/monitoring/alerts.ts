import { stringify } from 'yaml';
import { AI_GATEWAY_ROUTES } from '../ai-gateway';
import { MTAIL_METRICS } from './mtail';

/** The gateway path of Tabby's code completion: the request autocomplete's latency target is about. */
export const AUTOCOMPLETE_ROUTE: string = (() => {
  const route = AI_GATEWAY_ROUTES.find((r) => r.upstream === 'tabby' && r.upstreamPath === '/v1/completions');
  if (route === undefined) throw new Error('monitoring: the AI gateway allow-list has no route to Tabby /v1/completions');
  return route.path;
})();

/**
 * Filesystems DiskFilling watches: all the node exporter reports (its defaults already leave
 * out overlay, proc, sysfs, squashfs and the like) except memory-backed ones.
 */
export const DISK_SELECTOR = 'fstype!~"tmpfs|ramfs"';

export interface AlertRulesInput {
  /** Autocomplete's target: the 95th percentile of the gateway's completion request time, milliseconds (e.g. 200). */
  readonly autocompleteP95TargetMs: number;
  /** How long the P95 must stay above the target before AutocompleteLatencyHigh fires. @default 10 (minutes) */
  readonly autocompleteForMinutes?: number;
  /** DiskFilling fires when a filesystem has less free space than this, percent of its size (e.g. 15). */
  readonly diskFreeMinPercent: number;
  /**
   * DiskFilling also fires when, at the rate of the last 6 hours, a filesystem will be full
   * within this many hours... @default 24 (hours)
   */
  readonly diskFullWithinHours?: number;
  /** ...and has less free space than this, percent (so a burst on a roomy disk stays quiet). @default 40 */
  readonly diskPredictBelowPercent?: number;
  /** ContainerRestarting fires at this many exits (Docker `die` events) of one container... @default 3 */
  readonly containerExitsPerWindow?: number;
  /** ...within this window. @default 15 (minutes) */
  readonly containerWindowMinutes?: number;
  /** How long a target must stay unreachable before ServiceDown fires. @default 2 (minutes) */
  readonly serviceDownForMinutes?: number;
}

/** One alerting rule, as Prometheus reads it. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  /** Prometheus duration, e.g. `2m`; absent: fires at the first evaluation that matches. */
  readonly for?: string;
  readonly labels: { readonly severity: 'critical' | 'warning' };
  readonly annotations: { readonly summary: string; readonly description: string };
}

/** The rules' group name in the rules file. */
export const ALERT_GROUP = 'webide-estate';

function whole(what: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`monitoring: ${what} must be a whole number from ${min} to ${max}, got ${value}`);
  return value;
}

/**
 * The estate's alerts, sorted by name. Each annotation says what the alert means and what to
 * do first (the README quotes them). Durations are whole minutes.
 */
export function alertRules(input: AlertRulesInput): AlertRule[] {
  const targetMs = input.autocompleteP95TargetMs;
  if (!Number.isInteger(targetMs) || targetMs < 1 || targetMs > 60_000) {
    throw new Error(`monitoring: autocompleteP95TargetMs must be a whole number of milliseconds from 1 to 60000, got ${targetMs}`);
  }
  const autocompleteFor = whole('autocompleteForMinutes', input.autocompleteForMinutes ?? 10, 1);
  const freeMin = whole('diskFreeMinPercent', input.diskFreeMinPercent, 1, 99);
  const fullWithin = whole('diskFullWithinHours', input.diskFullWithinHours ?? 24, 1);
  const predictBelow = whole('diskPredictBelowPercent', input.diskPredictBelowPercent ?? 40, freeMin, 100);
  const exits = whole('containerExitsPerWindow', input.containerExitsPerWindow ?? 3, 1);
  const window = whole('containerWindowMinutes', input.containerWindowMinutes ?? 15, 1);
  const downFor = whole('serviceDownForMinutes', input.serviceDownForMinutes ?? 2, 1);

  const M = MTAIL_METRICS;
  const freePercent = `100 * node_filesystem_avail_bytes{${DISK_SELECTOR}} / node_filesystem_size_bytes{${DISK_SELECTOR}}`;
  return [
    {
      alert: 'AutocompleteLatencyHigh',
      expr: `histogram_quantile(0.95, sum by (le) (rate(${M.gatewayRequestSeconds}_bucket{route="${AUTOCOMPLETE_ROUTE}"}[5m]))) > ${targetMs / 1000}`,
      for: `${autocompleteFor}m`,
      labels: { severity: 'warning' },
      annotations: {
        summary: `Code completion is slow: P95 {{ $value | humanizeDuration }}, target ${targetMs}ms`,
        description:
          `For ${autocompleteFor} minutes the 95th percentile of the AI gateway's ${AUTOCOMPLETE_ROUTE} request time (5-minute window) ` +
          `has been above ${targetMs}ms; now {{ $value | humanizeDuration }}. Completions reach users late. The time covers nginx, Tabby and vLLM: ` +
          "check vLLM's load (GPU use, vllm:num_requests_waiting on its /metrics) and Tabby's log; if many users complete at once, the model server needs more GPU.",
      },
    },
    {
      alert: 'ContainerRestarting',
      expr: `sum by (container) (increase(${M.containerEvents}{action="die"}[${window}m])) >= ${exits}`,
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Container {{ $labels.container }} keeps exiting',
        description:
          `Docker reported {{ $value | printf "%.0f" }} exits of {{ $labels.container }} in ${window} minutes (${exits} or more): it is crash-looping or being killed. ` +
          'Read its last lines (docker logs --tail 100 {{ $labels.container }}) and its exit code and OOMKilled flag (docker inspect {{ $labels.container }}). ' +
          'A deploy that replaces a container makes one exit, not several.',
      },
    },
    {
      alert: 'DiskFilling',
      expr: [
        `(${freePercent} < ${freeMin})`,
        'or',
        `(${freePercent} < ${predictBelow} and predict_linear(node_filesystem_avail_bytes{${DISK_SELECTOR}}[6h], ${fullWithin} * 3600) < 0 and node_filesystem_readonly{${DISK_SELECTOR}} == 0)`,
      ].join('\n'),
      for: '15m',
      labels: { severity: 'warning' },
      annotations: {
        summary: 'Disk {{ $labels.mountpoint }} is filling up',
        description:
          `{{ $labels.mountpoint }} ({{ $labels.device }}) has less than ${freeMin}% free space, or less than ${predictBelow}% and, at the rate of the last 6 hours, will be full within ${fullWithin} hours. ` +
          'When it is full, Docker, the audit sink and Prometheus stop writing. Find what grew (du -xh --max-depth=2 {{ $labels.mountpoint }} | sort -h | tail): ' +
          'audit records past their retention, unused images (docker image prune), home volumes; then free space or grow the disk.',
      },
    },
    {
      alert: 'ServiceDown',
      // nginx_up: the exporter runs but cannot read nginx's stub_status page.
      expr: 'up == 0 or nginx_up == 0',
      for: `${downFor}m`,
      labels: { severity: 'critical' },
      annotations: {
        summary: '{{ $labels.job }} is down',
        description:
          `Prometheus has not been able to read {{ $labels.job }} at {{ $labels.instance }} for ${downFor} minutes (for nginx: its exporter cannot read nginx's status page). ` +
          'The service has stopped, is restarting or is unreachable from the monitoring network. ' +
          'Look at its container (docker ps -a: status and restarts; docker logs --tail 100 <container>); if it is gone, npm run deploy creates it again.',
      },
    },
  ];
}

/**
 * The rules file (MONITORING_FILES.alertRules) for prometheus.yml's rule_files.
 * Pure: the same input always gives the same text.
 */
export function renderAlertRules(input: AlertRulesInput): string {
  const rules = alertRules(input).map((rule) => ({
    alert: rule.alert,
    expr: rule.expr,
    ...(rule.for === undefined ? {} : { for: rule.for }),
    labels: { ...rule.labels },
    annotations: { ...rule.annotations },
  }));
  return `# Rendered by webide-estate from the estate config. Do not edit by hand.\n${stringify({ groups: [{ name: ALERT_GROUP, rules }] }, { sortMapEntries: false, lineWidth: 0 })}`;
}
