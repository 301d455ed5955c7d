import { AnnotationMetadataEntryType, Testing, TerraformStack } from 'cdktf';
import { Network } from '../../.gen/providers/docker/network';
import { Image } from '../../.gen/providers/docker/image';
import { DockerProvider } from '../../.gen/providers/docker/provider';
import { NullProvider } from '@cdktf/provider-null/lib/provider';
import { EstateConfig } from '../../config/estate';
import { AuditTrail } from '../../constructs/audit-trail';
import { Monitoring, MonitoringProps } from '../../constructs/monitoring';
import { EstateNames } from '../../constructs/naming';
import { EstatePolicyPack } from '../../policy/pack';
import { ESTATE_RULES } from '../../policy/rules';
import { AUDIT_SINK_UID } from '../../render/audit-sink';
import {
  AUDIT_LOG_DIR,
  estateScrapeTargets,
  MONITORING_PATHS,
  monitoringCommands,
  renderAlertmanagerConfig,
  renderAlertRules,
  renderMtailPrograms,
  renderPrometheusConfig,
} from '../../render/monitoring';
import { defaultEstate } from '../helpers/inputs';

const NGINX_STATUS_URL = 'http://10.202.0.30:8405/stub_status';
const EXPORTER_ADDRESS = '10.202.0.28';
const ALERTS = { autocompleteP95TargetMs: 250, diskFreeMinPercent: 10 };
const TARGETS = estateScrapeTargets({
  keycloakManagement: 'webide-keycloak:9000',
  litellm: 'webide-litellm:4000',
  litellmMetrics: true,
  vllm: 'webide-vllm:8000',
  tabby: 'webide-tabby:8080',
  nginxExporter: 'webide-nginx-exporter:9113',
  nodeExporter: 'webide-node-exporter:9100',
  mtail: 'webide-mtail:3903',
  alertmanager: 'webide-alertmanager:9093',
});

/** The monitoring in a stack of its own, beside the networks and the audit trail it needs, as the platform stack declares them. */
function build(overrides: Partial<MonitoringProps> = {}, estate: EstateConfig = defaultEstate()) {
  const stack = new TerraformStack(Testing.app(), 'platform');
  new DockerProvider(stack, 'docker', {});
  new NullProvider(stack, 'null');
  const names = new EstateNames(estate.name);
  const network = (purpose: 'identity' | 'ai') => new Network(stack, `network-${purpose}`, { name: names.network(purpose), internal: true });
  const networks = { identity: network('identity'), ai: network('ai') };
  const auditTrail = new AuditTrail(stack, 'audit', {
    estate,
    names,
    image: new Image(stack, 'audit-image', { name: estate.images.audit }),
    identity: { name: networks.identity.name, ipv4Address: '10.202.0.29' },
  });
  const monitoring = new Monitoring(stack, 'monitoring', {
    estate,
    names,
    image: new Image(stack, 'monitoring-image', { name: estate.images.monitoring }),
    networks,
    nginxExporterAddress: EXPORTER_ADDRESS,
    nginxStatusUrl: NGINX_STATUS_URL,
    auditTrail,
    scrapeTargets: TARGETS,
    alertRules: ALERTS,
    ...overrides,
  });
  const json = JSON.parse(Testing.synth(stack));
  const containers = new Map(Object.values(json.resource.docker_container as Record<string, Record<string, any>>).map((c) => [c.name as string, c]));
  return { stack, monitoring, json, containers };
}

const SERVICES = ['webide-alertmanager', 'webide-mtail', 'webide-nginx-exporter', 'webide-node-exporter', 'webide-prometheus'];
const MONITORING_NETWORK = '${docker_network.monitoring_network_18A65B3C.name}';
const env = (c: Record<string, any>) => Object.fromEntries((c.env as string[]).map((pair) => pair.split('=', 2) as [string, string]));
const label = (c: Record<string, any>, name: string) => (c.labels as { label: string; value: string }[]).find((l) => l.label === name)?.value;
const upload = (loader: Record<string, any>, file: string) => (loader.upload as { file: string; content: string }[]).find((u) => u.file === file)?.content;

describe('Monitoring', () => {
  const { json, containers, monitoring, stack } = build();

  it('declares one container per role, each on a new internal monitoring network; Prometheus also on the identity and ai networks, the nginx exporter at its fixed identity address', () => {
    const networks = Object.values(json.resource.docker_network as Record<string, Record<string, unknown>>).filter((n) => n.name === 'webide-net-monitoring');
    expect(networks).toEqual([expect.objectContaining({ name: 'webide-net-monitoring', internal: true, attachable: false, driver: 'bridge' })]);
    const on = (name: string) => containers.get(name)!.networks_advanced;
    expect(on('webide-prometheus')).toEqual([
      { name: MONITORING_NETWORK },
      { name: '${docker_network.network-identity.name}' },
      { name: '${docker_network.network-ai.name}' },
    ]);
    expect(on('webide-nginx-exporter')).toEqual([{ name: MONITORING_NETWORK }, { name: '${docker_network.network-identity.name}', ipv4_address: EXPORTER_ADDRESS }]);
    for (const name of ['webide-alertmanager', 'webide-mtail', 'webide-node-exporter']) expect({ name, on: on(name) }).toEqual({ name, on: [{ name: MONITORING_NETWORK }] });
    // Nothing is published.
    for (const name of SERVICES) expect({ name, ports: containers.get(name)!.ports }).toEqual({ name, ports: undefined });
  });

  it('runs every role as uid 190 with a read-only root, no capability, limits and a healthcheck; mtail in the audit records\' group', () => {
    for (const name of SERVICES) {
      const c = containers.get(name)!;
      expect({ name, user: c.user }).toEqual({ name, user: name === 'webide-mtail' ? `190:${AUDIT_SINK_UID}` : '190:190' });
      expect(c).toMatchObject({ read_only: true, privileged: false, capabilities: { drop: ['ALL'] }, security_opts: ['no-new-privileges:true'] });
      expect(c.memory).toBeGreaterThan(0);
      expect(c.cpu_quota).toBeGreaterThan(0);
      expect(Number(label(c, 'webide.pids-limit'))).toBeGreaterThan(0);
      expect(c.tmpfs).toEqual({ '/tmp': 'rw,nosuid,nodev,noexec,size=16m' });
      // Go's scheduler sized to the container, not to the host's cores.
      expect(Number(env(c).GOMAXPROCS)).toBeGreaterThanOrEqual(1);
      expect(c.healthcheck.test.slice(0, 3)).toEqual(['CMD', 'bash', '-c']);
    }
    const probe = (name: string) => /\/dev\/tcp\/127\.0\.0\.1\/(\d+) .*GET (\S+) HTTP/.exec(containers.get(name)!.healthcheck.test[3])!.slice(1);
    expect(Object.fromEntries(SERVICES.map((name) => [name, probe(name)]))).toEqual({
      'webide-alertmanager': ['9093', '/-/healthy'],
      'webide-mtail': ['3903', '/metrics'],
      'webide-nginx-exporter': ['9113', '/metrics'],
      'webide-node-exporter': ['9100', '/metrics'],
      'webide-prometheus': ['9090', '/-/healthy'],
    });
  });

  it("runs each role's command from monitoringCommands", () => {
    const commands = monitoringCommands({ nginxStubStatusUrl: NGINX_STATUS_URL });
    expect(containers.get('webide-prometheus')!.command).toEqual(commands.prometheus);
    expect(containers.get('webide-alertmanager')!.command).toEqual(commands.alertmanager);
    expect(containers.get('webide-nginx-exporter')!.command).toEqual(commands.nginxExporter);
    expect(containers.get('webide-node-exporter')!.command).toEqual(commands.nodeExporter);
    expect(containers.get('webide-mtail')!.command).toEqual(commands.mtail);
    expect(containers.get('webide-nginx-exporter')!.command).toContain(`-nginx.scrape-uri=${NGINX_STATUS_URL}`);
    expect(containers.get('webide-prometheus')!.command).toContain('--storage.tsdb.retention.time=15d');
  });

  it('keeps the TSDB and the silences in data volumes Terraform never owns; mtail reads the audit records read-only; the node exporter the host read-only', () => {
    const mounts = (name: string) => containers.get(name)!.mounts as Record<string, unknown>[];
    expect(mounts('webide-prometheus')).toEqual([
      { type: 'volume', source: 'webide-data-prometheus', target: MONITORING_PATHS.prometheusData },
      { type: 'volume', source: expect.stringContaining('docker_volume.monitoring_prometheus-config_volume'), target: MONITORING_PATHS.prometheusConfigDir, read_only: true },
    ]);
    expect(mounts('webide-alertmanager')).toEqual([
      { type: 'volume', source: 'webide-data-alertmanager', target: MONITORING_PATHS.alertmanagerData },
      { type: 'volume', source: expect.stringContaining('docker_volume.monitoring_alertmanager-config_volume'), target: MONITORING_PATHS.alertmanagerConfigDir, read_only: true },
    ]);
    expect(mounts('webide-mtail')).toEqual([
      { type: 'volume', source: 'webide-data-audit', target: AUDIT_LOG_DIR, read_only: true },
      { type: 'volume', source: expect.stringContaining('docker_volume.monitoring_mtail-programs_volume'), target: MONITORING_PATHS.mtailProgramsDir, read_only: true },
    ]);
    // The audit sink's own mount of the same volume, where it writes.
    expect(containers.get('webide-audit')!.mounts).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'volume', source: 'webide-data-audit', target: AUDIT_LOG_DIR })]));
    expect(mounts('webide-node-exporter')).toEqual([
      { type: 'bind', source: '/proc', target: '/host/proc', read_only: true },
      { type: 'bind', source: '/sys', target: '/host/sys', read_only: true },
      { type: 'bind', source: '/', target: '/host/root', read_only: true },
    ]);
    expect(mounts('webide-nginx-exporter')).toBeUndefined();
    // Terraform owns only the managed files' volumes; the data volumes are Docker's.
    const volumes = Object.values(json.resource.docker_volume as Record<string, { name: string }>).map((v) => v.name);
    expect(volumes.filter((n) => !n.startsWith('webide-managed-audit-')).sort()).toEqual([
      expect.stringMatching(/^webide-managed-alertmanager-[0-9a-f]{12}$/),
      expect.stringMatching(/^webide-managed-mtail-[0-9a-f]{12}$/),
      expect.stringMatching(/^webide-managed-prometheus-[0-9a-f]{12}$/),
    ]);
    expect(monitoring.retainedVolumes).toEqual(['webide-data-prometheus', 'webide-data-alertmanager']);
  });

  it('creates mtail after the audit sink, which creates the records volume as its own', () => {
    const sinkId = Object.entries(json.resource.docker_container as Record<string, { name: string }>).find(([, c]) => c.name === 'webide-audit')![0];
    expect(containers.get('webide-mtail')!.depends_on).toEqual(expect.arrayContaining([`docker_container.${sinkId}`]));
  });

  it('hands each role its rendered files through a loader that never starts, and mounts them read-only', () => {
    const loader = (name: string) => containers.get(`webide-managed-${name}-loader`)!;
    for (const name of ['prometheus', 'alertmanager', 'mtail']) expect(loader(name)).toMatchObject({ start: false, must_run: false, network_mode: 'none' });
    const P = MONITORING_PATHS;
    expect(upload(loader('prometheus'), `${P.prometheusConfigDir}/prometheus.yml`)).toBe(
      renderPrometheusConfig({ targets: TARGETS, alertmanagerAddress: 'webide-alertmanager:9093', externalLabels: { estate: 'webide' } }),
    );
    expect(upload(loader('prometheus'), `${P.prometheusConfigDir}/alerts.rules.yml`)).toBe(renderAlertRules(ALERTS));
    expect(upload(loader('alertmanager'), `${P.alertmanagerConfigDir}/alertmanager.yml`)).toBe(renderAlertmanagerConfig());
    const programs = renderMtailPrograms();
    expect(loader('mtail').upload.map((u: { file: string }) => u.file)).toEqual(Object.keys(programs).sort().map((f) => `${P.mtailProgramsDir}/${f}`));
    for (const [file, content] of Object.entries(programs)) expect(upload(loader('mtail'), `${P.mtailProgramsDir}/${file}`)).toBe(content);
    // Every target of the estate is in the file Prometheus reads.
    const prometheusYml = upload(loader('prometheus'), `${P.prometheusConfigDir}/prometheus.yml`)!;
    for (const target of TARGETS) expect(prometheusYml).toContain(`- ${target.address}`);
  });

  it('passes the policy pack but for the node exporter\'s host paths (WEBIDE-C4), which the estate waives with a reason', () => {
    const pack = new EstatePolicyPack({ rules: ESTATE_RULES, context: { profile: 'local', hostPathAllowList: [] }, suppressions: [] });
    const findings = pack.check(stack).filter((f) => f.path.startsWith('platform/monitoring/'));
    expect(findings.map((f) => `${f.path} ${f.rule}`)).toEqual(['platform/monitoring/node-exporter/container WEBIDE-C4']);
  });

  it('warns that Alertmanager cannot reach an alert webhook from the internal network; no warning without one', () => {
    const warnings = (s: TerraformStack) =>
      s.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === AnnotationMetadataEntryType.WARN).map((m) => String(m.data)));
    expect(warnings(stack)).toEqual([]);
    const url = 'https://alerts.bank.example/hooks/webide';
    const withHook = build({ alertmanager: { webhookUrl: url } });
    expect(warnings(withHook.stack)).toEqual([expect.stringContaining(`cannot reach the alert webhook ${url}`)]);
    expect(upload(withHook.containers.get('webide-managed-alertmanager-loader')!, `${MONITORING_PATHS.alertmanagerConfigDir}/alertmanager.yml`)).toBe(renderAlertmanagerConfig({ webhookUrl: url }));
  });

  it('throws early on a status page URL the exporter cannot use', () => {
    expect(() => build({ nginxStatusUrl: 'webide-nginx:8405' })).toThrow(/nginxStubStatusUrl must be an http\(s\) URL/);
  });
});
