import { Annotations } from 'cdktf';
import { Construct } from 'constructs';
import { ContainerMounts } from '../.gen/providers/docker/container';
import { Image } from '../.gen/providers/docker/image';
import { Network } from '../.gen/providers/docker/network';
import { EstateConfig } from '../config/estate';
import {
  AlertmanagerConfigInput,
  AlertRulesInput,
  AUDIT_LOG_DIR,
  MONITORING_FILES,
  MONITORING_PATHS,
  MONITORING_PORTS,
  MONITORING_UID,
  monitoringCommands,
  renderAlertmanagerConfig,
  renderAlertRules,
  renderMtailPrograms,
  renderPrometheusConfig,
  ScrapeTarget,
} from '../render/monitoring';
import { AUDIT_SINK_UID } from '../render/audit-sink';
import { AuditTrail } from './audit-trail';
import { HardenedContainer } from './hardened-container';
import { ManagedFiles } from './managed-files';
import { EstateNames } from './naming';

export interface MonitoringProps {
  readonly estate: EstateConfig;
  readonly names: EstateNames;
  /** The monitoring image (images/monitoring): every role, one container each. */
  readonly image: Image;
  /**
   * The networks Prometheus joins besides the monitoring network, to scrape what lives there:
   * identity (Keycloak's management port) and ai (LiteLLM, vLLM, Tabby).
   */
  readonly networks: { readonly identity: Network; readonly ai: Network };
  /**
   * The nginx exporter's fixed address on the identity network (config/subnets.ts,
   * nginxExporterAddress): the one client nginx's status page answers.
   */
  readonly nginxExporterAddress: string;
  /** nginx's status page as the exporter reaches it (render/nginx.ts, stubStatusUrl). */
  readonly nginxStatusUrl: string;
  /** The audit trail: mtail reads its records volume (read-only), after its sink has created it. */
  readonly auditTrail: AuditTrail;
  /** What Prometheus scrapes (render/monitoring, estateScrapeTargets). */
  readonly scrapeTargets: readonly ScrapeTarget[];
  /** The alert rules' thresholds (from operations.monitoring). */
  readonly alertRules: AlertRulesInput;
  /** Where Alertmanager sends notifications. @default - nowhere: alerts show in Alertmanager only */
  readonly alertmanager?: AlertmanagerConfigInput;
  /** How long Prometheus keeps samples. @default 15 (days) */
  readonly retentionDays?: number;
  /** How often Prometheus scrapes every target and evaluates the rules. @default 30 (seconds) */
  readonly scrapeIntervalSeconds?: number;
}

/** A tmpfs for a role's temporary files (none of them needs more). */
const TMP = { '/tmp': 'rw,nosuid,nodev,noexec,size=16m' } as const;

/**
 * A Docker healthcheck that asks the role's own HTTP listener for `path` and wants a 200 (bash's
 * /dev/tcp: the image has no curl).
 */
function httpProbe(port: number, path: string): readonly string[] {
  return ['CMD', 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '`];
}

/**
 * The estate's monitoring (render/monitoring), one container per role from the monitoring image,
 * each run as MONITORING_UID with a read-only root, its command from monitoringCommands and its
 * rendered files mounted read-only (ManagedFiles):
 * - Prometheus: scrapes `scrapeTargets` and evaluates the alert rules; its TSDB is a data volume
 *   Docker creates on first use (`<estate>-data-prometheus`), never deleted by Terraform. It joins
 *   the monitoring network and, to scrape, the identity and ai networks.
 * - Alertmanager: groups the alerts and sends them to the webhook when there is one; silences
 *   survive restarts in `<estate>-data-alertmanager`. Monitoring network only.
 * - the nginx exporter: reads nginx's status page from its fixed address on the identity network
 *   (the only client nginx answers there) and serves it to Prometheus on the monitoring network.
 * - the node exporter: the host's disks, memory and CPU, from the host's /proc, /sys and /
 *   mounted read-only (host paths: WEBIDE-C4 needs a suppression with the reason).
 * - mtail: the AI gateway's request times and the containers' lifecycle events, from the audit
 *   sink's records (its volume, read-only), as 190 in the records' group.
 * Nothing is published: operators reach Prometheus and Alertmanager through `docker exec` or a
 * tunnel to the container's address.
 */
export class Monitoring extends Construct {
  public readonly network: Network;
  public readonly prometheus: HardenedContainer;
  public readonly alertmanager: HardenedContainer;
  public readonly nginxExporter: HardenedContainer;
  public readonly nodeExporter: HardenedContainer;
  public readonly mtail: HardenedContainer;
  /** Data volumes created by Docker on first use and never deleted by Terraform. */
  public readonly retainedVolumes: readonly string[];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { estate, names } = props;
    const labels = (component: string) => names.labels(estate, component);
    const commands = monitoringCommands({ nginxStubStatusUrl: props.nginxStatusUrl, retentionDays: props.retentionDays });
    const P = MONITORING_PATHS;
    const user = `${MONITORING_UID}:${MONITORING_UID}`;
    const common = { image: props.image, dockerHost: estate.dockerHost, tmpfs: TMP };

    this.network = new Network(this, 'network', {
      name: names.network('monitoring'),
      driver: 'bridge',
      internal: true,
      attachable: false,
      labels: [
        { label: 'webide.component', value: 'network-monitoring' },
        { label: 'webide.estate', value: estate.name },
      ],
    });
    const monitoring = { name: this.network.name };

    const prometheusData = names.dataVolume('prometheus');
    const alertmanagerData = names.dataVolume('alertmanager');
    this.retainedVolumes = [prometheusData, alertmanagerData];

    const managed = (id: string, purpose: 'prometheus' | 'alertmanager' | 'mtail', directory: string, files: Record<string, string>) =>
      new ManagedFiles(this, id, {
        name: names.managedFiles(purpose),
        image: props.image,
        directory,
        files: Object.entries(files)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([file, content]) => ({ file: `${directory}/${file}`, content })),
        labels: labels(purpose),
      });

    this.alertmanager = new HardenedContainer(this, 'alertmanager', {
      ...common,
      containerName: names.service('alertmanager'),
      networks: [monitoring],
      user,
      memoryMiB: 256,
      cpus: 0.25,
      pidsLimit: 128,
      // Go sizes its scheduler by the host's CPUs, not the container's quota.
      env: { GOMAXPROCS: '1' },
      command: commands.alertmanager,
      mounts: [dataVolume(alertmanagerData, P.alertmanagerData)],
      managedFiles: managed('alertmanager-config', 'alertmanager', P.alertmanagerConfigDir, {
        [MONITORING_FILES.alertmanagerConfig]: renderAlertmanagerConfig(props.alertmanager),
      }),
      healthcheck: { test: httpProbe(MONITORING_PORTS.alertmanager, '/-/healthy'), startPeriodSeconds: 30 },
      labels: labels('alertmanager'),
    });
    if (props.alertmanager?.webhookUrl !== undefined) {
      Annotations.of(this).addWarning(
        `monitoring: Alertmanager joins only the internal monitoring network and has no DNS upstream, so it cannot reach the alert webhook ${props.alertmanager.webhookUrl} yet; alerts show in Alertmanager only (README, Operations: monitoring).`,
      );
    }

    this.prometheus = new HardenedContainer(this, 'prometheus', {
      ...common,
      containerName: names.service('prometheus'),
      networks: [monitoring, { name: props.networks.identity.name }, { name: props.networks.ai.name }],
      user,
      memoryMiB: 2048,
      cpus: 1,
      pidsLimit: 512,
      env: { GOMAXPROCS: '2' },
      command: commands.prometheus,
      mounts: [dataVolume(prometheusData, P.prometheusData)],
      managedFiles: managed('prometheus-config', 'prometheus', P.prometheusConfigDir, {
        [MONITORING_FILES.prometheusConfig]: renderPrometheusConfig({
          targets: props.scrapeTargets,
          alertmanagerAddress: `${names.service('alertmanager')}:${MONITORING_PORTS.alertmanager}`,
          scrapeIntervalSeconds: props.scrapeIntervalSeconds,
          externalLabels: { estate: estate.name },
        }),
        [MONITORING_FILES.alertRules]: renderAlertRules(props.alertRules),
      }),
      // Healthy once it serves; a large TSDB's WAL replay comes before that.
      healthcheck: { test: httpProbe(MONITORING_PORTS.prometheus, '/-/healthy'), startPeriodSeconds: 120 },
      labels: labels('prometheus'),
    });

    this.nginxExporter = new HardenedContainer(this, 'nginx-exporter', {
      ...common,
      containerName: names.service('nginx-exporter'),
      // Its fixed address is the only one nginx's status page answers.
      networks: [monitoring, { name: props.networks.identity.name, ipv4Address: props.nginxExporterAddress }],
      user,
      memoryMiB: 64,
      cpus: 0.25,
      pidsLimit: 64,
      env: { GOMAXPROCS: '1' },
      command: commands.nginxExporter,
      healthcheck: { test: httpProbe(MONITORING_PORTS.nginxExporter, '/metrics'), startPeriodSeconds: 10 },
      labels: labels('nginx-exporter'),
    });

    this.nodeExporter = new HardenedContainer(this, 'node-exporter', {
      ...common,
      containerName: names.service('node-exporter'),
      networks: [monitoring],
      user,
      memoryMiB: 128,
      cpus: 0.25,
      pidsLimit: 64,
      env: { GOMAXPROCS: '1' },
      command: commands.nodeExporter,
      // The host's view, read-only: what DiskFilling and the host's memory and CPU series come from.
      mounts: [
        { type: 'bind', source: '/proc', target: P.hostProc, readOnly: true },
        { type: 'bind', source: '/sys', target: P.hostSys, readOnly: true },
        { type: 'bind', source: '/', target: P.hostRoot, readOnly: true },
      ],
      healthcheck: { test: httpProbe(MONITORING_PORTS.nodeExporter, '/metrics'), startPeriodSeconds: 10 },
      labels: labels('node-exporter'),
    });

    this.mtail = new HardenedContainer(this, 'mtail', {
      ...common,
      containerName: names.service('mtail'),
      networks: [monitoring],
      // The records are 0640 and their directories 0750, owned by the sink's uid and group: mtail reads them as that group.
      user: `${MONITORING_UID}:${AUDIT_SINK_UID}`,
      memoryMiB: 256,
      cpus: 0.5,
      pidsLimit: 128,
      env: { GOMAXPROCS: '1' },
      command: commands.mtail,
      mounts: [{ type: 'volume', source: props.auditTrail.recordsVolume, target: AUDIT_LOG_DIR, readOnly: true }],
      managedFiles: managed('mtail-programs', 'mtail', P.mtailProgramsDir, renderMtailPrograms()),
      healthcheck: { test: httpProbe(MONITORING_PORTS.mtail, '/metrics'), startPeriodSeconds: 10 },
      labels: labels('mtail'),
      // The sink creates the volume (as its own, 0750) before anything mounts it: Docker would
      // otherwise create it from mtail's image, owned by root.
      dependsOn: [props.auditTrail.sink.container],
    });
  }
}

/** A named volume Docker creates on first use; Terraform references it but never owns (or deletes) it. */
function dataVolume(name: string, target: string): ContainerMounts {
  // No volume_options: the provider then needs Docker API 1.45+ (3.6.2 sends Subpath, 4.5.0 refuses below 1.45).
  return { type: 'volume', source: name, target };
}
