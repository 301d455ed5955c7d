import { Construct } from 'constructs';
import { Image } from '../.gen/providers/docker/image';
import { Network } from '../.gen/providers/docker/network';
import { EstateConfig } from '../config/estate';
import { AUDIT_SINK_PATHS, AUDIT_SINK_PORTS, AUDIT_SINK_UID, auditSinkEnvironment, nginxAuditSyslogTarget, renderRsyslogConf } from '../render/audit-sink';
import { HardenedContainer } from './hardened-container';
import { ManagedFiles } from './managed-files';
import { EstateNames } from './naming';

export interface AuditTrailProps {
  readonly estate: EstateConfig;
  readonly names: EstateNames;
  /** The audit image (images/audit): the sink, and the Docker-events collector. */
  readonly image: Image;
  /** The identity network and the sink's fixed address on it, where nginx and Keycloak send their records. */
  readonly identity: { readonly name: string; readonly ipv4Address: string };
}

/** Where the SIEM's CA certificate is mounted in the sink. */
const SIEM_CA_PATH = '/etc/webide-audit-siem/ca.pem';
/** The engine's event stream, as the collector reads it. */
const DOCKER_SOCKET_IN_CONTAINER = '/var/run/docker.sock';

/**
 * The estate's audit trail, in one place: an rsyslog sink (render/audit-sink.ts) that keeps every
 * record for `operations.audit.retentionDays` and forwards them to the SIEM when configured, and a
 * collector of the engine's container lifecycle events. nginx and Keycloak send to the sink's
 * fixed address on the identity network (known before deploy, so they need no DNS to start); the
 * collector reaches it on a network of their own.
 *
 * The collector holds the engine's socket, which is root on the host: it runs one fixed command
 * (images/audit/docker-events.sh reads /events), has no capability and no other network, and needs
 * the WEBIDE-C4 and WEBIDE-C5 suppressions that say so (README, Operations).
 */
export class AuditTrail extends Construct {
  public readonly sink: HardenedContainer;
  public readonly events: HardenedContainer;
  /** nginx's `access_log` destination for the sink. */
  public readonly nginxTarget: string;
  /** Keycloak's syslog endpoint (`ip:port`, TCP). */
  public readonly syslogEndpoint: string;
  /** The Docker volume of the records (`<day>/<source>.jsonl`), which the sink creates on first use. */
  public readonly recordsVolume: string;

  constructor(scope: Construct, id: string, props: AuditTrailProps) {
    super(scope, id);
    const { estate, names } = props;
    const audit = estate.operations.audit;
    this.nginxTarget = nginxAuditSyslogTarget(props.identity.ipv4Address);
    this.syslogEndpoint = `${props.identity.ipv4Address}:${AUDIT_SINK_PORTS.tcp}`;
    this.recordsVolume = names.dataVolume('audit');
    const labels = (component: string) => names.labels(estate, component);

    const network = new Network(this, 'network', {
      name: names.network('audit'),
      driver: 'bridge',
      internal: true,
      attachable: false,
      labels: [
        { label: 'webide.component', value: 'network-audit' },
        { label: 'webide.estate', value: estate.name },
      ],
    });

    const confDir = AUDIT_SINK_PATHS.conf.slice(0, AUDIT_SINK_PATHS.conf.lastIndexOf('/'));
    const rsyslogConf = renderRsyslogConf({
      forward: audit.forward ? { host: audit.forward.host, port: audit.forward.port, caFilePath: SIEM_CA_PATH } : undefined,
    });
    this.sink = new HardenedContainer(this, 'sink', {
      containerName: names.service('audit'),
      image: props.image,
      networks: [{ name: props.identity.name, ipv4Address: props.identity.ipv4Address }, { name: network.name }],
      user: `${AUDIT_SINK_UID}:${AUDIT_SINK_UID}`,
      memoryMiB: 512,
      cpus: 1,
      pidsLimit: 256,
      dockerHost: estate.dockerHost,
      env: Object.fromEntries(auditSinkEnvironment({ retentionDays: audit.retentionDays }).map((line) => line.split('=', 2) as [string, string])),
      tmpfs: { '/tmp': 'rw,nosuid,nodev,size=16m' },
      mounts: [
        // The records and the SIEM forwarder's queue: data, created by Docker on first use and never deleted by Terraform.
        { type: 'volume', source: this.recordsVolume, target: AUDIT_SINK_PATHS.logDir },
        { type: 'volume', source: names.dataVolume('audit-queue'), target: AUDIT_SINK_PATHS.workDir },
        ...(audit.forward ? [{ type: 'bind', source: audit.forward.caFile, target: SIEM_CA_PATH, readOnly: true }] : []),
      ],
      managedFiles: new ManagedFiles(this, 'config', {
        name: names.managedFiles('audit'),
        image: props.image,
        directory: confDir,
        files: [{ file: AUDIT_SINK_PATHS.conf, content: rsyslogConf }],
        labels: labels('audit'),
      }),
      // A TCP connect to its own input: rsyslogd is up and listening (an empty connection writes no record).
      healthcheck: { test: ['CMD', 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${AUDIT_SINK_PORTS.tcp}`], startPeriodSeconds: 10 },
      waitHealthySeconds: 120,
      labels: labels('audit'),
    });

    this.events = new HardenedContainer(this, 'events', {
      containerName: names.service('audit-events'),
      image: props.image,
      networks: [{ name: network.name }],
      // The socket is root:docker 0660; root with no capability can open it and do nothing else as root.
      user: '0:0',
      memoryMiB: 64,
      cpus: 0.25,
      pidsLimit: 64,
      dockerHost: estate.dockerHost,
      command: ['webide-docker-events'],
      env: { WEBIDE_AUDIT_SINK: `${names.service('audit')}:${AUDIT_SINK_PORTS.tcp}`, WEBIDE_DOCKER_SOCKET: DOCKER_SOCKET_IN_CONTAINER },
      mounts: [{ type: 'bind', source: dockerSocketPath(estate.dockerHost), target: DOCKER_SOCKET_IN_CONTAINER }],
      labels: labels('audit-events'),
      dependsOn: [this.sink.container],
    });
  }
}

/** The engine's socket on the host, from a unix:// dockerHost (the config allows no other with the audit trail). */
export function dockerSocketPath(dockerHost: string): string {
  if (!dockerHost.startsWith('unix://')) throw new Error(`the audit trail reads container events from the engine's unix socket; dockerHost ${dockerHost} is not one`);
  return dockerHost.slice('unix://'.length);
}
