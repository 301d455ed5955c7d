import { stringify } from 'yaml';
import { MONITORING_FILES, MONITORING_PORTS } from './layout';

/** One thing Prometheus scrapes. */
export interface ScrapeTarget {
  /** Prometheus's job name, e.g. `keycloak`: the `job` label of its series (and of ServiceDown). Lower-case letters, digits, `-` and `_`. */
  readonly job: string;
  /** `host:port` Prometheus connects to, e.g. `webide-keycloak:9000`. */
  readonly address: string;
  /** Path of the metrics page. @default '/metrics' */
  readonly metricsPath?: string;
  /**
   * A file (in Prometheus's container) holding a bearer token Prometheus sends with each
   * scrape, for a target that wants one. @default - none: the scrape is unauthenticated
   */
  readonly bearerTokenFile?: string;
}

export interface PrometheusConfigInput {
  /** What to scrape. Sorted by job in the output; job names must be unique. */
  readonly targets: readonly ScrapeTarget[];
  /** Alertmanager's `host:port`, e.g. `webide-alertmanager:9093`. */
  readonly alertmanagerAddress: string;
  /** How often every target is scraped. @default 30 (seconds) */
  readonly scrapeIntervalSeconds?: number;
  /** How often the alert rules are evaluated. @default the scrape interval */
  readonly evaluationIntervalSeconds?: number;
  /** Labels on every alert and series Prometheus sends on, e.g. `{ estate: 'webide' }`. @default - none */
  readonly externalLabels?: Readonly<Record<string, string>>;
}

const JOB = /^[a-z][a-z0-9_-]*$/;
const ADDRESS = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:\d{1,5}$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function checkAddress(what: string, address: string): void {
  const port = Number(address.split(':').pop());
  if (!ADDRESS.test(address) || port < 1 || port > 65535) {
    throw new Error(`monitoring: ${what} must be host:port (e.g. webide-keycloak:9000), got '${address}'`);
  }
}

function seconds(what: string, value: number): string {
  if (!Number.isInteger(value) || value < 1) throw new Error(`monitoring: ${what} must be a whole number of seconds >= 1, got ${value}`);
  return `${value}s`;
}

/**
 * prometheus.yml: the targets as static configs (one job each, sorted), the alert rules file
 * beside it (MONITORING_FILES.alertRules, read relative to this file) and one Alertmanager.
 * Pure: the same input always gives the same text.
 */
export function renderPrometheusConfig(input: PrometheusConfigInput): string {
  const jobs = new Set<string>();
  for (const target of input.targets) {
    if (!JOB.test(target.job)) throw new Error(`monitoring: job name '${target.job}' must be lower-case letters, digits, - and _, starting with a letter`);
    if (jobs.has(target.job)) throw new Error(`monitoring: job '${target.job}' is listed twice; give each target a job name of its own`);
    jobs.add(target.job);
    checkAddress(`the address of job '${target.job}'`, target.address);
    if (target.metricsPath !== undefined && !/^\/\S*$/.test(target.metricsPath)) {
      throw new Error(`monitoring: the metrics path of job '${target.job}' must start with / and hold no spaces, got '${target.metricsPath}'`);
    }
  }
  checkAddress('alertmanagerAddress', input.alertmanagerAddress);
  const labels = Object.entries(input.externalLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name] of labels) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`monitoring: external label name '${name}' is not a Prometheus label name`);
  }
  const scrape = input.scrapeIntervalSeconds ?? 30;
  const config = {
    global: {
      scrape_interval: seconds('scrapeIntervalSeconds', scrape),
      // A slow target is cut off before the next scrape starts.
      scrape_timeout: seconds('scrapeIntervalSeconds', Math.min(10, scrape)),
      evaluation_interval: seconds('evaluationIntervalSeconds', input.evaluationIntervalSeconds ?? scrape),
      ...(labels.length > 0 ? { external_labels: Object.fromEntries(labels) } : {}),
    },
    rule_files: [MONITORING_FILES.alertRules],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [input.alertmanagerAddress] }] }] },
    scrape_configs: [...input.targets]
      .sort((a, b) => (a.job < b.job ? -1 : 1))
      .map((target) => ({
        job_name: target.job,
        metrics_path: target.metricsPath ?? '/metrics',
        ...(target.bearerTokenFile === undefined ? {} : { authorization: { type: 'Bearer', credentials_file: target.bearerTokenFile } }),
        static_configs: [{ targets: [target.address] }],
      })),
  };
  return `# Rendered by webide-estate from the estate config. Do not edit by hand.\n${stringify(config, { sortMapEntries: false, lineWidth: 0 })}`;
}

export interface EstateScrapeTargetsInput {
  /** Keycloak's management interface (`KC_METRICS_ENABLED`), e.g. `webide-keycloak:9000`. */
  readonly keycloakManagement: string;
  /** LiteLLM's proxy, e.g. `webide-litellm:4000`. Scraped only when litellmMetrics is on. */
  readonly litellm: string;
  /**
   * Scrape LiteLLM's /metrics. LiteLLM 1.103.7 serves it (no enterprise licence needed) only
   * with the `prometheus` callback in its config (`litellm_settings.callbacks: ["prometheus"]`)
   * and the `prometheus_client` package installed, which `litellm[proxy]` leaves out (without
   * it the proxy does not start). The page asks for an API key unless
   * `litellm_settings.require_auth_for_metrics_endpoint: false`. Off until the estate's
   * LiteLLM serves it.
   */
  readonly litellmMetrics: boolean;
  /** A file holding the key Prometheus sends to LiteLLM's /metrics. @default - none (LiteLLM must allow unauthenticated /metrics) */
  readonly litellmMetricsTokenFile?: string;
  /** vLLM's OpenAI-compatible server, e.g. `webide-vllm:8000`. */
  readonly vllm: string;
  /** Tabby's server, e.g. `webide-tabby:8080`. */
  readonly tabby: string;
  /** The nginx exporter, e.g. `webide-nginx-exporter:9113` (it reads nginx's stub_status). */
  readonly nginxExporter: string;
  /** The node exporter (the host's disks, memory, CPU), e.g. `webide-node-exporter:9100`. */
  readonly nodeExporter: string;
  /** mtail (metrics from the audit records), e.g. `webide-mtail:3903`. */
  readonly mtail: string;
  /** Alertmanager, e.g. `webide-alertmanager:9093`. */
  readonly alertmanager: string;
}

/**
 * The estate's scrape targets, by job name; addresses come from the stack (container names
 * on the monitoring network). Prometheus scrapes itself on localhost. Sorted by job.
 */
export function estateScrapeTargets(input: EstateScrapeTargetsInput): ScrapeTarget[] {
  const targets: ScrapeTarget[] = [
    { job: 'alertmanager', address: input.alertmanager },
    { job: 'keycloak', address: input.keycloakManagement },
    { job: 'mtail', address: input.mtail },
    // The exporter's own series carry job="nginx": they describe nginx (nginx_up: the exporter could read it).
    { job: 'nginx', address: input.nginxExporter },
    { job: 'node', address: input.nodeExporter },
    { job: 'prometheus', address: `localhost:${MONITORING_PORTS.prometheus}` },
    { job: 'tabby', address: input.tabby },
    { job: 'vllm', address: input.vllm },
  ];
  if (input.litellmMetrics) {
    targets.push({
      job: 'litellm',
      address: input.litellm,
      // LiteLLM mounts its metrics app at /metrics; /metrics itself answers with a redirect to /metrics/.
      metricsPath: '/metrics/',
      ...(input.litellmMetricsTokenFile === undefined ? {} : { bearerTokenFile: input.litellmMetricsTokenFile }),
    });
  }
  return targets.map((t) => ({ metricsPath: '/metrics', ...t })).sort((a, b) => (a.job < b.job ? -1 : 1));
}
