import * as path from 'path';
import { Construct } from 'constructs';
import { Image } from '../.gen/providers/docker/image';
import { Network } from '../.gen/providers/docker/network';
import { Volume } from '../.gen/providers/docker/volume';
import { EgressConfig, egressDestinations, egressProxyLabels } from '../config/egress';
import { AUDIT_SINK_PORTS } from '../render/audit-sink';
import { EGRESS_PROXY_PATHS, EGRESS_PROXY_UID, renderSquidConf, SQUID_USER_MAP_SHELL } from '../render/egress-proxy';
import { HardenedContainer } from './hardened-container';
import { ManagedFiles } from './managed-files';
import { EstateNames, INTERNAL_PORTS } from './naming';
import type { UserMapFormat } from './workspace-link';

export interface EgressProxyProps {
  readonly egress: EgressConfig;
  readonly names: EstateNames;
  /** The egress proxy image (images/egress-proxy: Debian's Squid). */
  readonly image: Image;
  /** The identity network, where the proxy sends its records to the audit sink's fixed address. */
  readonly identityNetworkName: string;
  readonly auditSinkAddress: string;
  /** The estate's own fixed subnets: no declared name may resolve into them. */
  readonly deniedCidrs: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly dockerHost: string;
}

/** The proxy's user map as the workspace links write it (render/egress-proxy.ts squidUserMapEntry). */
export const EGRESS_PROXY_USER_MAP: UserMapFormat = {
  dir: EGRESS_PROXY_PATHS.usersDir,
  entryShell: SQUID_USER_MAP_SHELL.entry,
  unlinkedShell: SQUID_USER_MAP_SHELL.unlinked,
};

/**
 * The one way out of the workspaces (issue 18): a Squid that allows only the bank's declared
 * services (`egress.services`), on a network of its own with a route out (`<estate>-net-egress`).
 * The workspaces stack links it to every active user's internal network (alias egress-proxy) and
 * records its address there as that user's, so every request it logs names the user whose network
 * it came from, whatever the IDE says. Records go to stdout and to the audit sink.
 */
export class EgressProxy extends Construct {
  public readonly network: Network;
  public readonly proxy: HardenedContainer;

  constructor(scope: Construct, id: string, props: EgressProxyProps) {
    super(scope, id);
    const { names, egress } = props;
    const destinations = egressDestinations(egress);

    // Not internal: the proxy's route to the bank's services. Nothing else of the estate joins it.
    this.network = new Network(this, 'network', {
      name: names.network('egress'),
      driver: 'bridge',
      internal: false,
      attachable: false,
      labels: [
        { label: 'webide.component', value: 'network-egress' },
        { label: 'webide.estate', value: props.labels['webide.estate'] ?? '' },
      ],
    });
    // Owned by Terraform: nothing in it outlives the links that write it.
    const users = new Volume(this, 'users', { name: names.egressUsersVolume(), labels: [{ label: 'webide.estate', value: props.labels['webide.estate'] ?? '' }] });

    const squidConf = renderSquidConf({
      destinations: destinations.map(({ host, port }) => ({ host, port })),
      port: INTERNAL_PORTS.egressProxy,
      deniedCidrs: props.deniedCidrs,
      audit: { address: props.auditSinkAddress, port: AUDIT_SINK_PORTS.udp },
    });
    this.proxy = new HardenedContainer(this, 'proxy', {
      containerName: names.service('egress-proxy'),
      image: props.image,
      networks: [{ name: this.network.name }, { name: props.identityNetworkName }],
      user: `${EGRESS_PROXY_UID}:${EGRESS_PROXY_UID}`,
      memoryMiB: 512,
      cpus: 1,
      pidsLimit: 256,
      dockerHost: props.dockerHost,
      command: ['squid', '-N', '-f', EGRESS_PROXY_PATHS.conf],
      ...(egress.dnsServers ? { dnsServers: egress.dnsServers } : {}),
      tmpfs: { [EGRESS_PROXY_PATHS.runDir]: `rw,nosuid,nodev,noexec,size=1m,mode=0700,uid=${EGRESS_PROXY_UID},gid=${EGRESS_PROXY_UID}` },
      mounts: [
        // Writable only for root (docker cp by the links); Squid runs as EGRESS_PROXY_UID.
        { type: 'volume', source: users.name, target: EGRESS_PROXY_PATHS.usersDir },
      ],
      managedFiles: new ManagedFiles(this, 'config', {
        name: names.managedFiles('egress-proxy'),
        image: props.image,
        directory: path.posix.dirname(EGRESS_PROXY_PATHS.conf),
        files: [{ file: EGRESS_PROXY_PATHS.conf, content: squidConf }],
        labels: { ...props.labels, 'webide.component': 'egress-proxy-files' },
      }),
      healthcheck: { test: ['CMD', 'squid', '-k', 'check', '-f', EGRESS_PROXY_PATHS.conf] },
      labels: { ...props.labels, 'webide.component': 'egress-proxy', ...egressProxyLabels(egress) },
    });
  }
}
