import * as fs from 'fs';
import * as path from 'path';
import { parse, stringify } from 'yaml';
import {
  AUTOCOMPLETE_ROUTE,
  AlertRulesInput,
  DEFAULT_CONTAINER_ACTIONS,
  DEFAULT_GATEWAY_BUCKETS_SECONDS,
  EstateScrapeTargetsInput,
  MONITORING_FILES,
  MONITORING_PATHS,
  MONITORING_PORTS,
  MTAIL_PROGRAM_FILES,
  PrometheusConfigInput,
  alertRules,
  estateScrapeTargets,
  monitoringCommands,
  renderAiGatewayProgram,
  renderAlertRules,
  renderAlertmanagerConfig,
  renderContainerEventsProgram,
  renderMtailPrograms,
  renderPrometheusConfig,
} from '../../render/monitoring';
import { debianTool, monitoringSandbox, mtailOneShot, removeSandbox, runTool, valueOf, writeFiles } from '../helpers/monitoring';

// ---------------------------------------------------------------------------------------------
// The monitoring files, each checked by the real Debian bookworm tool that reads it: promtool
// 2.42 (prometheus.yml, the rules and their unit tests), amtool 0.25 (alertmanager.yml) and
// mtail 3.0.0~rc50 (the programs, run over sample audit records).
// ---------------------------------------------------------------------------------------------

const PROMTOOL = debianTool('promtool', 'prometheus');

const sandboxes: string[] = [];
function sandbox(): string {
  const dir = monitoringSandbox();
  sandboxes.push(dir);
  return dir;
}
afterAll(() => sandboxes.forEach(removeSandbox));

const ESTATE: EstateScrapeTargetsInput = {
  keycloakManagement: 'webide-keycloak:9000',
  litellm: 'webide-litellm:4000',
  litellmMetrics: false,
  vllm: 'webide-vllm:8000',
  tabby: 'webide-tabby:8080',
  nginxExporter: 'webide-nginx-exporter:9113',
  nodeExporter: 'webide-node-exporter:9100',
  mtail: 'webide-mtail:3903',
  alertmanager: 'webide-alertmanager:9093',
};

function promInput(overrides: Partial<PrometheusConfigInput> = {}): PrometheusConfigInput {
  return { targets: estateScrapeTargets(ESTATE), alertmanagerAddress: 'webide-alertmanager:9093', externalLabels: { estate: 'webide' }, ...overrides };
}

const RULES: AlertRulesInput = { autocompleteP95TargetMs: 200, diskFreeMinPercent: 15 };

/** prometheus.yml with its rules file beside it, checked by `promtool check config` (which also checks the rules). */
function checkConfig(config: string, rules: string = renderAlertRules(RULES), extra: Record<string, string> = {}) {
  const dir = sandbox();
  writeFiles(dir, { [MONITORING_FILES.prometheusConfig]: config, [MONITORING_FILES.alertRules]: rules, ...extra });
  return runTool(PROMTOOL, ['check', 'config', MONITORING_FILES.prometheusConfig], dir);
}

describe('estateScrapeTargets', () => {
  it('lists every metrics source by job, sorted, at the addresses the stack gives', () => {
    expect(estateScrapeTargets(ESTATE)).toEqual([
      { job: 'alertmanager', address: 'webide-alertmanager:9093', metricsPath: '/metrics' },
      { job: 'keycloak', address: 'webide-keycloak:9000', metricsPath: '/metrics' },
      { job: 'mtail', address: 'webide-mtail:3903', metricsPath: '/metrics' },
      { job: 'nginx', address: 'webide-nginx-exporter:9113', metricsPath: '/metrics' },
      { job: 'node', address: 'webide-node-exporter:9100', metricsPath: '/metrics' },
      { job: 'prometheus', address: `localhost:${MONITORING_PORTS.prometheus}`, metricsPath: '/metrics' },
      { job: 'tabby', address: 'webide-tabby:8080', metricsPath: '/metrics' },
      { job: 'vllm', address: 'webide-vllm:8000', metricsPath: '/metrics' },
    ]);
  });

  it('scrapes LiteLLM only when its /metrics is switched on, with the token file when one is given', () => {
    expect(estateScrapeTargets(ESTATE).map((t) => t.job)).not.toContain('litellm');
    expect(estateScrapeTargets({ ...ESTATE, litellmMetrics: true }).find((t) => t.job === 'litellm')).toEqual({
      job: 'litellm',
      address: 'webide-litellm:4000',
      metricsPath: '/metrics/',
    });
    expect(estateScrapeTargets({ ...ESTATE, litellmMetrics: true, litellmMetricsTokenFile: '/run/webide/litellm-metrics-key' }).find((t) => t.job === 'litellm'))
      .toEqual({ job: 'litellm', address: 'webide-litellm:4000', metricsPath: '/metrics/', bearerTokenFile: '/run/webide/litellm-metrics-key' });
  });
});

describe('renderPrometheusConfig', () => {
  it('passes `promtool check config`, rules file included', () => {
    const check = checkConfig(renderPrometheusConfig(promInput()));
    expect(check.output).toContain('SUCCESS: 1 rule files found');
    expect(check.output).toContain('SUCCESS: 4 rules found');
    expect(check.status).toBe(0);
  });

  it('fails `promtool check config` when the rules file beside it is broken (the check can fail)', () => {
    const check = checkConfig(renderPrometheusConfig(promInput()), 'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: up ==\n');
    expect(check.status).not.toBe(0);
    expect(check.output).toMatch(/FAILED/);
  });

  it('scrapes each target as its own job, evaluates rules from the file beside it and alerts one Alertmanager', () => {
    const config = parse(renderPrometheusConfig(promInput({ scrapeIntervalSeconds: 15 })));
    expect(config.global).toEqual({ scrape_interval: '15s', scrape_timeout: '10s', evaluation_interval: '15s', external_labels: { estate: 'webide' } });
    expect(config.rule_files).toEqual([MONITORING_FILES.alertRules]);
    expect(config.alerting).toEqual({ alertmanagers: [{ static_configs: [{ targets: ['webide-alertmanager:9093'] }] }] });
    expect(config.scrape_configs.map((s: any) => s.job_name)).toEqual(['alertmanager', 'keycloak', 'mtail', 'nginx', 'node', 'prometheus', 'tabby', 'vllm']);
    expect(config.scrape_configs.find((s: any) => s.job_name === 'keycloak')).toEqual({
      job_name: 'keycloak',
      metrics_path: '/metrics',
      static_configs: [{ targets: ['webide-keycloak:9000'] }],
    });
  });

  it('sends LiteLLM the token from a file (never the token itself); promtool accepts the file', () => {
    const dir = sandbox();
    const tokenFile = path.join(dir, 'litellm-metrics-key');
    fs.writeFileSync(tokenFile, 'not-a-real-key\n');
    const text = renderPrometheusConfig(promInput({ targets: estateScrapeTargets({ ...ESTATE, litellmMetrics: true, litellmMetricsTokenFile: tokenFile }) }));
    expect(parse(text).scrape_configs.find((s: any) => s.job_name === 'litellm')).toEqual({
      job_name: 'litellm',
      metrics_path: '/metrics/',
      authorization: { type: 'Bearer', credentials_file: tokenFile },
      static_configs: [{ targets: ['webide-litellm:4000'] }],
    });
    expect(text).not.toContain('not-a-real-key');
    expect(checkConfig(text).status).toBe(0);
  });

  it('does not depend on the order of the targets or labels it is given', () => {
    const targets = estateScrapeTargets({ ...ESTATE, litellmMetrics: true });
    const a = renderPrometheusConfig(promInput({ targets, externalLabels: { estate: 'webide', site: 'dc1' } }));
    const b = renderPrometheusConfig(promInput({ targets: [...targets].reverse(), externalLabels: { site: 'dc1', estate: 'webide' } }));
    expect(a).toBe(b);
    expect(a).toMatch(/^# Rendered by webide-estate .*Do not edit by hand\.\n/);
  });

  it.each([
    ['a job listed twice', { targets: [{ job: 'x', address: 'a:1' }, { job: 'x', address: 'b:2' }] }, /job 'x' is listed twice/],
    ['a job name Prometheus would not want', { targets: [{ job: 'Key Cloak', address: 'a:1' }] }, /job name 'Key Cloak'/],
    ['an address without a port', { targets: [{ job: 'x', address: 'webide-keycloak' }] }, /host:port.*'webide-keycloak'/],
    ['a port out of range', { targets: [{ job: 'x', address: 'a:70000' }] }, /'a:70000'/],
    ['a metrics path without /', { targets: [{ job: 'x', address: 'a:1', metricsPath: 'metrics' }] }, /must start with \//],
    ['an Alertmanager without a port', { alertmanagerAddress: 'webide-alertmanager' }, /alertmanagerAddress/],
    ['a fractional interval', { scrapeIntervalSeconds: 0.5 }, /scrapeIntervalSeconds/],
    ['a reserved external label', { externalLabels: { __name__: 'x' } }, /external label name '__name__'/],
  ])('fails on %s', (_, overrides, message) => {
    expect(() => renderPrometheusConfig(promInput(overrides as Partial<PrometheusConfigInput>))).toThrow(message);
  });
});

// ---------------------------------------------------------------------------------------------
// Alert rules: `promtool check rules`, then `promtool test rules` cases for each alert, one
// where it fires (with its exact labels and annotations) and ones where it stays quiet.
// ---------------------------------------------------------------------------------------------

interface PromtoolAlertTest {
  eval_time: string;
  alertname: string;
  exp_alerts: { exp_labels: Record<string, string>; exp_annotations?: Record<string, string> }[];
}

/** Runs `promtool test rules` on the rendered rules with one test group; returns status and output. */
function promtoolTest(inputSeries: { series: string; values: string }[], alertTests: PromtoolAlertTest[], rules: string = renderAlertRules(RULES)) {
  const dir = sandbox();
  const tests = {
    rule_files: [MONITORING_FILES.alertRules],
    evaluation_interval: '1m',
    tests: [{ interval: '1m', input_series: inputSeries, alert_rule_test: alertTests }],
  };
  writeFiles(dir, { [MONITORING_FILES.alertRules]: rules, 'alerts.test.yml': stringify(tests, { lineWidth: 0 }) });
  return runTool(PROMTOOL, ['test', 'rules', 'alerts.test.yml'], dir);
}

/** Asserts promtool's verdict, showing its output when it differs. */
function expectPass(result: { status: number; output: string }): void {
  expect({ status: result.status, output: result.output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
}

const KEYCLOAK = { job: 'keycloak', instance: 'webide-keycloak:9000' };
const NGINX = { job: 'nginx', instance: 'webide-nginx-exporter:9113' };
const MTAIL_JOB = { job: 'mtail', instance: 'webide-mtail:3903' };
const NODE = { job: 'node', instance: 'webide-node-exporter:9100' };
const ROOT_FS = { device: '/dev/sda1', fstype: 'ext4', mountpoint: '/', ...NODE };

const series = (name: string, labels: Record<string, string>, values: string) => ({
  series: `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`,
  values,
});

/**
 * The gateway histogram's bucket series for one route, as mtail exports them (with the job and
 * instance Prometheus adds), from request times that repeat every minute: `perMinute` maps a
 * request time (seconds) to how many requests a minute take that long.
 */
function histogramSeries(route: string, perMinute: Record<number, number>, minutes = 40) {
  return [...DEFAULT_GATEWAY_BUCKETS_SECONDS.map(String), '+Inf'].map((le) => {
    const bound = le === '+Inf' ? Infinity : Number(le);
    const rate = Object.entries(perMinute).reduce((sum, [seconds, n]) => sum + (Number(seconds) <= bound ? n : 0), 0);
    return series('webide_ai_gateway_request_seconds_bucket', { route, le, ...MTAIL_JOB }, `0+${rate}x${minutes}`);
  });
}

describe('renderAlertRules', () => {
  it('passes `promtool check rules`', () => {
    const dir = sandbox();
    writeFiles(dir, { [MONITORING_FILES.alertRules]: renderAlertRules(RULES) });
    const check = runTool(PROMTOOL, ['check', 'rules', MONITORING_FILES.alertRules], dir);
    expect(check.output).toContain('SUCCESS: 4 rules found');
    expect(check.status).toBe(0);
  });

  it('has the four alerts, each with a severity and annotations that say what to do', () => {
    const groups = parse(renderAlertRules(RULES)).groups;
    expect(groups).toHaveLength(1);
    const rules = groups[0].rules;
    expect(rules.map((r: any) => [r.alert, r.labels.severity, r.for])).toEqual([
      ['AutocompleteLatencyHigh', 'warning', '10m'],
      ['ContainerRestarting', 'warning', undefined],
      ['DiskFilling', 'warning', '15m'],
      ['ServiceDown', 'critical', '2m'],
    ]);
    for (const rule of rules) {
      expect(Object.keys(rule.annotations).sort()).toEqual(['description', 'summary']);
      expect(rule.annotations.description.length).toBeGreaterThan(150);
    }
  });

  it('puts its inputs into the expressions (target in seconds, thresholds, windows)', () => {
    const rules = alertRules({
      autocompleteP95TargetMs: 150,
      autocompleteForMinutes: 5,
      diskFreeMinPercent: 10,
      diskFullWithinHours: 12,
      diskPredictBelowPercent: 30,
      containerExitsPerWindow: 5,
      containerWindowMinutes: 30,
      serviceDownForMinutes: 3,
    });
    const byName = Object.fromEntries(rules.map((r) => [r.alert, r]));
    expect(byName.AutocompleteLatencyHigh.expr).toBe(
      `histogram_quantile(0.95, sum by (le) (rate(webide_ai_gateway_request_seconds_bucket{route="${AUTOCOMPLETE_ROUTE}"}[5m]))) > 0.15`,
    );
    expect(byName.AutocompleteLatencyHigh.for).toBe('5m');
    expect(byName.ContainerRestarting.expr).toBe('sum by (container) (increase(webide_container_events_total{action="die"}[30m])) >= 5');
    expect(byName.DiskFilling.expr).toContain('< 10)\nor\n(');
    expect(byName.DiskFilling.expr).toContain('< 30 and predict_linear(node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs"}[6h], 12 * 3600) < 0');
    expect(byName.ServiceDown.for).toBe('3m');
    expect(AUTOCOMPLETE_ROUTE).toBe('/tabby/v1/completions');
  });

  it.each([
    [{ autocompleteP95TargetMs: 0 }, /autocompleteP95TargetMs/],
    [{ autocompleteP95TargetMs: 0.2 }, /autocompleteP95TargetMs.*0\.2/],
    [{ diskFreeMinPercent: 100 }, /diskFreeMinPercent/],
    [{ diskPredictBelowPercent: 10 }, /diskPredictBelowPercent must be a whole number from 15/],
    [{ containerExitsPerWindow: 0 }, /containerExitsPerWindow/],
  ])('fails on %j', (overrides, message) => {
    expect(() => renderAlertRules({ ...RULES, ...overrides })).toThrow(message);
  });

  it('the unit-test harness fails on a wrong expectation (so the passing cases below mean something)', () => {
    const result = promtoolTest([series('up', KEYCLOAK, '1x10')], [{ eval_time: '5m', alertname: 'ServiceDown', exp_alerts: [{ exp_labels: { severity: 'critical', ...KEYCLOAK } }] }]);
    expect(result.status).toBe(1);
    expect(result.output).toContain('FAILED');
    expect(result.output).toContain('alertname: ServiceDown');
  });

  describe('ServiceDown', () => {
    const down = {
      exp_labels: { severity: 'critical', ...KEYCLOAK },
      exp_annotations: {
        summary: 'keycloak is down',
        description:
          "Prometheus has not been able to read keycloak at webide-keycloak:9000 for 2 minutes (for nginx: its exporter cannot read nginx's status page). " +
          'The service has stopped, is restarting or is unreachable from the monitoring network. ' +
          'Look at its container (docker ps -a: status and restarts; docker logs --tail 100 <container>); if it is gone, npm run deploy creates it again.',
      },
    };

    it('fires when a target stays unreachable for 2 minutes (pending before)', () => {
      expectPass(
        promtoolTest(
          [series('up', KEYCLOAK, '1 1 0x10'), series('up', NGINX, '1x12'), series('nginx_up', NGINX, '1x12')],
          [
            { eval_time: '3m', alertname: 'ServiceDown', exp_alerts: [] },
            { eval_time: '5m', alertname: 'ServiceDown', exp_alerts: [down] },
          ],
        ),
      );
    });

    it('fires for nginx when its exporter is up but cannot read nginx', () => {
      const nginxDown = {
        exp_labels: { severity: 'critical', ...NGINX },
        exp_annotations: {
          summary: 'nginx is down',
          description: down.exp_annotations.description.replace('read keycloak at webide-keycloak:9000', 'read nginx at webide-nginx-exporter:9113'),
        },
      };
      expectPass(promtoolTest([series('up', NGINX, '1x12'), series('nginx_up', NGINX, '1 1 0x10')], [{ eval_time: '5m', alertname: 'ServiceDown', exp_alerts: [nginxDown] }]));
    });

    it('stays quiet for a one-minute blip and while everything answers', () => {
      expectPass(
        promtoolTest(
          [series('up', KEYCLOAK, '1 1 0 1 1 1 1 1 1 1'), series('up', NGINX, '1x12'), series('nginx_up', NGINX, '1x12')],
          [
            { eval_time: '5m', alertname: 'ServiceDown', exp_alerts: [] },
            { eval_time: '9m', alertname: 'ServiceDown', exp_alerts: [] },
          ],
        ),
      );
    });
  });

  describe('ContainerRestarting', () => {
    it('fires when one container exits again and again (crash loop)', () => {
      expectPass(
        promtoolTest(
          [
            series('webide_container_events_total', { action: 'die', container: 'webide-tabby', ...MTAIL_JOB }, '0+1x30'),
            series('webide_container_events_total', { action: 'start', container: 'webide-tabby', ...MTAIL_JOB }, '0+1x30'),
          ],
          [
            {
              eval_time: '20m',
              alertname: 'ContainerRestarting',
              exp_alerts: [
                {
                  exp_labels: { severity: 'warning', container: 'webide-tabby' },
                  exp_annotations: {
                    summary: 'Container webide-tabby keeps exiting',
                    description:
                      'Docker reported 15 exits of webide-tabby in 15 minutes (3 or more): it is crash-looping or being killed. ' +
                      'Read its last lines (docker logs --tail 100 webide-tabby) and its exit code and OOMKilled flag (docker inspect webide-tabby). ' +
                      'A deploy that replaces a container makes one exit, not several.',
                  },
                },
              ],
            },
          ],
        ),
      );
    });

    it('stays quiet for a deploy (one exit, one start) and for containers that only start', () => {
      expectPass(
        promtoolTest(
          [
            series('webide_container_events_total', { action: 'die', container: 'webide-litellm', ...MTAIL_JOB }, '0 0 0 1x27'),
            series('webide_container_events_total', { action: 'start', container: 'webide-litellm', ...MTAIL_JOB }, '1 1 1 2x27'),
            series('webide_container_events_total', { action: 'start', container: 'webide-ide-alice', ...MTAIL_JOB }, '0+1x30'),
          ],
          [
            { eval_time: '10m', alertname: 'ContainerRestarting', exp_alerts: [] },
            { eval_time: '20m', alertname: 'ContainerRestarting', exp_alerts: [] },
          ],
        ),
      );
    });
  });

  describe('DiskFilling', () => {
    const GiB = 1024 ** 3;
    const disk = (availGiB: string, sizeGiB = 100, labels: Record<string, string> = ROOT_FS) => [
      series('node_filesystem_avail_bytes', labels, availGiB),
      series('node_filesystem_size_bytes', labels, `${sizeGiB * GiB}x60`),
      series('node_filesystem_readonly', labels, '0x60'),
    ];
    const filling = {
      exp_labels: { severity: 'warning', ...ROOT_FS },
      exp_annotations: {
        summary: 'Disk / is filling up',
        description:
          '/ (/dev/sda1) has less than 15% free space, or less than 40% and, at the rate of the last 6 hours, will be full within 24 hours. ' +
          'When it is full, Docker, the audit sink and Prometheus stop writing. Find what grew (du -xh --max-depth=2 / | sort -h | tail): ' +
          'audit records past their retention, unused images (docker image prune), home volumes; then free space or grow the disk.',
      },
    };

    it('fires when free space stays below the threshold', () => {
      expectPass(promtoolTest(disk(`${10 * GiB}x60`), [{ eval_time: '20m', alertname: 'DiskFilling', exp_alerts: [filling] }]));
    });

    it('fires when a disk under 40% free will be full within a day at the current rate', () => {
      // 35 GiB free, 0.1 GiB a minute gone: full in under 6 hours.
      expectPass(promtoolTest(disk(`${35 * GiB}-${0.1 * GiB}x60`), [{ eval_time: '30m', alertname: 'DiskFilling', exp_alerts: [filling] }]));
    });

    it('stays quiet on a roomy disk, even one that fills fast for a while, and ignores tmpfs', () => {
      const tmpfs = { device: 'tmpfs', fstype: 'tmpfs', mountpoint: '/tmp', ...NODE };
      expectPass(
        promtoolTest(
          [...disk(`${80 * GiB}-${0.1 * GiB}x60`), ...disk(`${0.01 * GiB}x60`, 1, tmpfs)],
          [
            { eval_time: '20m', alertname: 'DiskFilling', exp_alerts: [] },
            { eval_time: '50m', alertname: 'DiskFilling', exp_alerts: [] },
          ],
        ),
      );
    });

    it('stays quiet on a disk at 20% free that is not shrinking', () => {
      expectPass(promtoolTest(disk(`${20 * GiB}x60`), [{ eval_time: '40m', alertname: 'DiskFilling', exp_alerts: [] }]));
    });
  });

  describe('AutocompleteLatencyHigh', () => {
    const slow = (p95: string) => ({
      exp_labels: { severity: 'warning' },
      exp_annotations: {
        summary: `Code completion is slow: P95 ${p95}, target 200ms`,
        description:
          "For 10 minutes the 95th percentile of the AI gateway's /tabby/v1/completions request time (5-minute window) " +
          `has been above 200ms; now ${p95}. Completions reach users late. The time covers nginx, Tabby and vLLM: ` +
          "check vLLM's load (GPU use, vllm:num_requests_waiting on its /metrics) and Tabby's log; if many users complete at once, the model server needs more GPU.",
      },
    });

    it('fires when more than 5% of completions take longer than the target, after 10 minutes', () => {
      // 18 a minute at 0.1 s, 2 at 0.3 s: the P95 falls in the (0.25, 0.3] bucket: 275 ms.
      const input = histogramSeries(AUTOCOMPLETE_ROUTE, { 0.1: 18, 0.3: 2 });
      expectPass(
        promtoolTest(input, [
          { eval_time: '6m', alertname: 'AutocompleteLatencyHigh', exp_alerts: [] },
          { eval_time: '20m', alertname: 'AutocompleteLatencyHigh', exp_alerts: [slow('275ms')] },
        ]),
      );
    });

    it('stays quiet when 5% or fewer are slow, when only chat is slow, and with no traffic', () => {
      const input = [
        // 19 a minute at 0.1 s, 1 at 0.3 s: P95 = 100 ms.
        ...histogramSeries(AUTOCOMPLETE_ROUTE, { 0.1: 19, 0.3: 1 }),
        // Chat answers take seconds; they are not completions.
        ...histogramSeries('/v1/chat/completions', { 2: 5, 5: 5 }),
      ];
      expectPass(promtoolTest(input, [{ eval_time: '20m', alertname: 'AutocompleteLatencyHigh', exp_alerts: [] }]));
      expectPass(promtoolTest(histogramSeries(AUTOCOMPLETE_ROUTE, {}), [{ eval_time: '20m', alertname: 'AutocompleteLatencyHigh', exp_alerts: [] }]));
    });

    it('follows the target it is given: the same traffic is quiet against 300 ms', () => {
      const input = histogramSeries(AUTOCOMPLETE_ROUTE, { 0.1: 18, 0.3: 2 });
      expectPass(promtoolTest(input, [{ eval_time: '20m', alertname: 'AutocompleteLatencyHigh', exp_alerts: [] }], renderAlertRules({ ...RULES, autocompleteP95TargetMs: 300 })));
    });
  });
});

describe('renderAlertmanagerConfig', () => {
  const AMTOOL = debianTool('amtool', 'prometheus-alertmanager');
  function checkAlertmanager(text: string) {
    const dir = sandbox();
    writeFiles(dir, { [MONITORING_FILES.alertmanagerConfig]: text });
    return runTool(AMTOOL, ['check-config', MONITORING_FILES.alertmanagerConfig], dir);
  }

  it('without a webhook: passes `amtool check-config`; alerts go to a receiver that sends nothing', () => {
    const text = renderAlertmanagerConfig();
    const check = checkAlertmanager(text);
    expect(check.output).toContain('SUCCESS');
    expect(check.status).toBe(0);
    expect(parse(text)).toEqual({
      route: { receiver: 'null', group_by: ['alertname', 'job'], group_wait: '30s', group_interval: '5m', repeat_interval: '4h' },
      receivers: [{ name: 'null' }],
    });
  });

  it('with a webhook and a token file: passes `amtool check-config`; resolved alerts are sent too', () => {
    const text = renderAlertmanagerConfig({ webhookUrl: 'https://incidents.bank.example/hooks/webide', webhookBearerTokenFile: '/run/webide/alert-webhook-token', repeatIntervalHours: 12 });
    expect(checkAlertmanager(text).status).toBe(0);
    const config = parse(text);
    expect(config.route.receiver).toBe('webhook');
    expect(config.route.repeat_interval).toBe('12h');
    expect(config.receivers).toEqual([
      {
        name: 'webhook',
        webhook_configs: [
          {
            url: 'https://incidents.bank.example/hooks/webide',
            send_resolved: true,
            http_config: { authorization: { type: 'Bearer', credentials_file: '/run/webide/alert-webhook-token' } },
          },
        ],
      },
    ]);
  });

  it('amtool rejects a broken config (the check can fail)', () => {
    const check = checkAlertmanager(renderAlertmanagerConfig().replace('receiver: "null"', 'receiver: nobody'));
    expect(check.status).not.toBe(0);
    expect(check.output).toMatch(/nobody/);
  });

  it.each([
    [{ webhookUrl: 'https://user:pw@incidents.bank.example/hook' }, /carries credentials/],
    [{ webhookUrl: 'not a url' }, /is not a URL/],
    [{ webhookUrl: 'ftp://incidents.bank.example/hook' }, /must be http/],
    [{ webhookBearerTokenFile: '/run/token' }, /webhookUrl is not/],
    [{ groupWaitSeconds: 0 }, /groupWaitSeconds/],
  ])('fails on %j', (input, message) => {
    expect(() => renderAlertmanagerConfig(input)).toThrow(message);
  });
});

// ---------------------------------------------------------------------------------------------
// mtail: the programs compile, and over sample audit records (the audit sink's layout, read
// through the production globs and flags) export what Prometheus will scrape.
// ---------------------------------------------------------------------------------------------

const MTAIL = debianTool('mtail', 'mtail');

/** One nginx access record, fields in nginx's order, strings JSON-escaped as nginx's escape=json does. */
function nginxRecord(server: string, uri: string, status: number, requestTime: string, user = 'alice'): string {
  return (
    `{"time":"2026-12-03T12:00:00+00:00","server":${JSON.stringify(server)},"client":"10.1.2.3","user":${JSON.stringify(user)},` +
    `"method":"POST","uri":${JSON.stringify(uri)},"status":${status},"bytes":512,"request_time":${requestTime},` +
    '"upstream":"10.202.0.35:8080","upstream_time":"0.120"}'
  );
}

/** One Docker engine event as /events streams it (current engines; `legacy` adds status/id/from). */
function dockerEvent(action: string, name: string, opts: { type?: string; legacy?: boolean; attributes?: Record<string, string> } = {}): string {
  const id = 'a'.repeat(64);
  const attributes = Object.fromEntries(Object.entries({ exitCode: '1', image: 'webide-local/ai-standin:1.0.0', name, ...(opts.attributes ?? {}) }).sort());
  const event = {
    ...(opts.legacy ? { status: action, id, from: 'webide-local/ai-standin:1.0.0' } : {}),
    Type: opts.type ?? 'container',
    Action: action,
    Actor: { ID: id, Attributes: attributes },
    scope: 'local',
    time: 1764763200,
    timeNano: 1764763200123456789,
  };
  return JSON.stringify(event);
}

describe('mtail programs', () => {
  it('compile with `mtail --compile_only`', () => {
    const dir = sandbox();
    writeFiles(dir, renderMtailPrograms());
    const result = runTool(MTAIL, ['--compile_only', '--progs', dir, '--logtostderr', '--address', '127.0.0.1', '--port', '0'], dir);
    expect(result.output).toContain('compile-only is set');
    expect(result.status).toBe(0);
  });

  it('a program mtail cannot compile fails the check (the check can fail)', () => {
    const dir = sandbox();
    writeFiles(dir, { 'broken.mtail': renderAiGatewayProgram().replace('counter ', 'countr ') });
    const result = runTool(MTAIL, ['--compile_only', '--progs', dir, '--logtostderr', '--address', '127.0.0.1', '--port', '0'], dir);
    expect(result.status).not.toBe(0);
    expect(result.output).toContain('broken.mtail');
  });

  it('are files named for the program directory, and deterministic', () => {
    expect(Object.keys(renderMtailPrograms()).sort()).toEqual([MTAIL_PROGRAM_FILES.aiGateway, MTAIL_PROGRAM_FILES.containerEvents].sort());
    expect(renderAiGatewayProgram({ routes: ['/b', '/a'] })).toBe(renderAiGatewayProgram({ routes: ['/a', '/b', '/a'] }));
    expect(renderContainerEventsProgram({ actions: ['stop', 'die'] })).toBe(renderContainerEventsProgram({ actions: ['die', 'stop'] }));
  });

  describe('the AI gateway program, over nginx records', () => {
    const completions = AUTOCOMPLETE_ROUTE;
    const bucket = (route: string, le: string) => ['webide_ai_gateway_request_seconds_bucket', { route, le }] as const;
    let run: ReturnType<typeof mtailOneShot>;

    beforeAll(() => {
      const day1 = [
        nginxRecord('ai-gateway', completions, 200, '0.123'),
        nginxRecord('ai-gateway', completions, 200, '0.180'),
        nginxRecord('ai-gateway', completions, 200, '0.200'), // on a bound: in le="0.2", as Prometheus counts
        nginxRecord('ai-gateway', completions, 200, '0.240'),
        nginxRecord('ai-gateway', completions, 429, '0.000'), // answered by nginx itself
        nginxRecord('ai-gateway', '/v1/chat/completions', 200, '7.500'),
        nginxRecord('ai-gateway', '/wp-login.php', 404, '0.000'),
        // Same path on the entry server: not the gateway.
        nginxRecord('entry', completions, 200, '0.900'),
        // A user name and a path that try to look like fields: they stay inside their strings.
        nginxRecord('entry', '/x', 200, '0.001', 'x","server":"ai-gateway","uri":"/tabby/v1/completions'),
        nginxRecord('ai-gateway', '/v1/models","status":200,"request_time":9.9,"x":"', 404, '0.002'),
        'not json at all',
      ];
      const day2 = [nginxRecord('ai-gateway', completions, 200, '0.260'), nginxRecord('ai-gateway', completions, 502, '3.000')];
      run = mtailOneShot(sandbox(), renderMtailPrograms(), {
        '2026-12-03/nginx-access.jsonl': `${day1.join('\n')}\n`,
        '2026-12-04/nginx-access.jsonl': `${day2.join('\n')}\n`,
      });
    });

    it('runs', () => {
      expect({ status: run.status, output: run.status === 0 ? '' : run.output }).toEqual({ status: 0, output: '' });
    });

    it('builds the request-time histogram of completions with fine buckets around the target, records of every day', () => {
      const counts = Object.fromEntries(
        [...DEFAULT_GATEWAY_BUCKETS_SECONDS.map(String), '+Inf'].map((le) => [le, valueOf(run.samples, ...bucket(completions, le))]),
      );
      // 0.000, 0.123, 0.180, 0.200, 0.240, 0.260, 3.000
      expect(counts).toEqual({ '0.05': 1, '0.1': 1, '0.15': 2, '0.2': 4, '0.25': 5, '0.3': 6, '0.5': 6, '1': 6, '2': 6, '5': 7, '+Inf': 7 });
      expect(valueOf(run.samples, 'webide_ai_gateway_request_seconds_count', { route: completions })).toBe(7);
      expect(valueOf(run.samples, 'webide_ai_gateway_request_seconds_sum', { route: completions })).toBeCloseTo(4.003, 6);
      // No bucket below the first bound leaks out (the program's -1 is only a lower edge).
      expect(run.samples.filter((s) => s.labels.le === '-1')).toEqual([]);
    });

    it('counts responses by route and status', () => {
      const responses = run.samples.filter((s) => s.name === 'webide_ai_gateway_responses_total').map((s) => [s.labels.route, s.labels.status, s.value]);
      expect(responses.sort()).toEqual(
        [
          [completions, '200', 5],
          [completions, '429', 1],
          [completions, '502', 1],
          ['/v1/chat/completions', '200', 1],
          ['other', '404', 2],
        ].sort(),
      );
    });

    it('puts paths off the allow-list under "other", and never reads the entry server or text inside a string as a field', () => {
      const routes = [...new Set(run.samples.filter((s) => s.labels.route !== undefined).map((s) => s.labels.route))].sort();
      expect(routes).toEqual(['/tabby/v1/completions', '/v1/chat/completions', 'other']);
      expect(valueOf(run.samples, 'webide_ai_gateway_request_seconds_count', { route: 'other' })).toBe(2);
      expect(valueOf(run.samples, 'webide_ai_gateway_request_seconds_sum', { route: 'other' })).toBeCloseTo(0.002, 6);
    });
  });

  describe('the container events program, over Docker events', () => {
    let run: ReturnType<typeof mtailOneShot>;

    beforeAll(() => {
      const events = [
        dockerEvent('start', 'webide-tabby'),
        dockerEvent('die', 'webide-tabby'),
        dockerEvent('start', 'webide-tabby'),
        dockerEvent('die', 'webide-tabby', { legacy: true }),
        // A label sorted after "name", and one before it whose value looks like a name field.
        dockerEvent('die', 'webide-tabby', { attributes: { 'webide.component': 'ai', 'com.example.note': 'x","name":"forged' } }),
        dockerEvent('oom', 'webide-vllm'),
        dockerEvent('health_status: unhealthy', 'webide-keycloak'),
        dockerEvent('restart', 'webide-ide-alice'),
        // Not counted: exec (its action carries a command line), other object types, other actions.
        dockerEvent('exec_start: bash -c cat /etc/passwd', 'webide-ide-alice'),
        dockerEvent('connect', 'webide-net-ai', { type: 'network' }),
        dockerEvent('attach', 'webide-tabby'),
      ];
      run = mtailOneShot(sandbox(), renderMtailPrograms(), { '2026-12-03/docker-events.jsonl': `${events.join('\n')}\n` });
    });

    it('runs', () => {
      expect({ status: run.status, output: run.status === 0 ? '' : run.output }).toEqual({ status: 0, output: '' });
    });

    it('counts container events by container name and Docker action', () => {
      const counted = run.samples.filter((s) => s.name === 'webide_container_events_total').map((s) => [s.labels.container, s.labels.action, s.value]);
      expect(counted.sort()).toEqual(
        [
          ['webide-ide-alice', 'restart', 1],
          ['webide-keycloak', 'health_status: unhealthy', 1],
          ['webide-tabby', 'die', 3],
          ['webide-tabby', 'start', 2],
          ['webide-vllm', 'oom', 1],
        ].sort(),
      );
      // Only the two labels (mtail's prog label is off).
      expect(run.samples.filter((s) => s.name === 'webide_container_events_total').every((s) => Object.keys(s.labels).sort().join() === 'action,container')).toBe(true);
    });

    it('counts only the actions it is given', () => {
      const onlyDie = mtailOneShot(sandbox(), { 'events.mtail': renderContainerEventsProgram({ actions: ['die'] }) }, {
        '2026-12-03/docker-events.jsonl': `${[dockerEvent('die', 'a'), dockerEvent('start', 'a')].join('\n')}\n`,
      });
      expect(onlyDie.status).toBe(0);
      expect(onlyDie.samples.map((s) => [s.labels.container, s.labels.action, s.value])).toEqual([['a', 'die', 1]]);
    });
  });

  it.each([
    [() => renderAiGatewayProgram({ routes: ['/v1/(x)'] }), /not a plain path/],
    [() => renderAiGatewayProgram({ routes: [] }), /at least one route/],
    [() => renderAiGatewayProgram({ bucketsSeconds: [0.2, 0.1] }), /ascending/],
    [() => renderAiGatewayProgram({ bucketsSeconds: [0, 0.1] }), /positive/],
    [() => renderContainerEventsProgram({ actions: ['die|start'] }), /not one of Docker's action names/],
  ])('fails on bad input (%#)', (render, message) => {
    expect(render).toThrow(message);
  });

  it('counts the default actions named in its documentation', () => {
    expect(DEFAULT_CONTAINER_ACTIONS).toEqual(expect.arrayContaining(['die', 'oom', 'restart', 'start']));
    expect(DEFAULT_CONTAINER_ACTIONS.some((a) => a.startsWith('exec'))).toBe(false);
  });
});

describe('monitoringCommands', () => {
  const commands = monitoringCommands({ nginxStubStatusUrl: 'http://webide-nginx:8090/stub_status' });
  const binaries: Record<keyof typeof commands, [string, string]> = {
    prometheus: ['prometheus', 'prometheus'],
    alertmanager: ['prometheus-alertmanager', 'prometheus-alertmanager'],
    nodeExporter: ['prometheus-node-exporter', 'prometheus-node-exporter'],
    nginxExporter: ['prometheus-nginx-exporter', 'prometheus-nginx-exporter'],
    mtail: ['mtail', 'mtail'],
  };

  it.each(Object.keys(binaries) as (keyof typeof commands)[])('%s: every flag is one the Debian binary knows', (role) => {
    const [command, pkg] = binaries[role];
    const argv = commands[role];
    expect(argv[0]).toBe(command);
    const help = runTool(debianTool(command, pkg), ['--help'], sandbox()).output;
    const flags = argv.filter((a) => a.startsWith('-')).map((a) => a.replace(/^-+/, '').replace(/=.*$/, ''));
    expect(flags.length).toBeGreaterThan(1);
    for (const flag of flags) expect({ flag, known: new RegExp(`-${flag.replace(/\./g, '\\.')}[=\\s]`).test(help) }).toEqual({ flag, known: true });
  });

  it('reads the rendered files from the image paths and listens on the monitoring ports', () => {
    expect(commands.prometheus).toContain(`--config.file=${MONITORING_PATHS.prometheusConfigDir}/${MONITORING_FILES.prometheusConfig}`);
    expect(commands.prometheus).toContain('--storage.tsdb.retention.time=15d');
    expect(commands.alertmanager).toContain('--cluster.listen-address=');
    expect(commands.nginxExporter).toContain('-nginx.scrape-uri=http://webide-nginx:8090/stub_status');
    // nginx is created beside it: the exporter waits for it rather than exiting at start.
    expect(commands.nginxExporter).toEqual(expect.arrayContaining(['-nginx.retries=60', '-nginx.retry-interval=5s']));
    expect(commands.mtail).toEqual([
      'mtail', '--progs', MONITORING_PATHS.mtailProgramsDir,
      '--logs', '/var/log/webide/audit/*/docker-events.jsonl', '--logs', '/var/log/webide/audit/*/nginx-access.jsonl',
      '--port', String(MONITORING_PORTS.mtail), '--emit_prog_label=false', '--logtostderr',
    ]);
  });

  it.each([
    [{ nginxStubStatusUrl: 'webide-nginx:8090' }, /nginxStubStatusUrl/],
    [{ nginxStubStatusUrl: 'http://webide-nginx:8090/stub_status', retentionDays: 0 }, /retentionDays/],
  ])('fails on %j', (input, message) => {
    expect(() => monitoringCommands(input)).toThrow(message);
  });
});
