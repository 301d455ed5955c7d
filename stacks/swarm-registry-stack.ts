import { Construct } from 'constructs';
import { TerraformStack } from 'cdktf';
import { Network } from '../.gen/providers/docker/network';
import { HardenedContainer } from '../constructs/hardened-container';
import { EstateStackProps, estateNames, pinnedImage, useDocker } from './common';

/** What the registry image promises (images/registry/Dockerfile). */
export const REGISTRY_IMAGE = {
  user: '1010:1010',
  /** TLS only, inside the container. */
  port: 5000,
  /** The images it stores: a volume, never a Terraform resource. */
  dataDir: '/var/lib/docker-registry',
  certificate: '/etc/webide/registry/tls/fullchain.pem',
  key: '/etc/webide/registry/tls/privkey.pem',
  /** Loopback only, inside the container. */
  health: 'http://127.0.0.1:5001/debug/health',
} as const;

/**
 * The registry a swarm estate runs itself (`swarm.registry.serve`): Debian's docker-registry as
 * a hardened plain container on the engine `dockerHost` reaches (a manager), not a Swarm service:
 * a service's tasks would pull their image from the registry they are, and a plain container
 * runs its image from that engine's own store, by the local image id Terraform records. Its
 * port is published on that node, where every node pulls from (`swarm.registry.host` names it);
 * it serves TLS only, with the certificate and key read-only from the node. The images live in
 * a named volume that Docker creates on first use and no plan can delete.
 *
 * The first stack of the swarm order: the others' services pull from it, so it must answer and
 * hold the estate's images (`npm run images:pin`) before they deploy.
 */
export class SwarmRegistryStack extends TerraformStack {
  public readonly registry: HardenedContainer;

  constructor(scope: Construct, id: string, props: EstateStackProps) {
    super(scope, id);
    const { estate } = props;
    const registry = estate.swarm?.registry;
    const serve = registry?.serve;
    const image = estate.images.registry;
    if (estate.target !== 'swarm' || !registry || !serve || !image) {
      throw new Error('SwarmRegistryStack: only a swarm estate that runs its registry (swarm.registry.serve, images.registry) has this stack');
    }
    useDocker(this, props);
    const names = estateNames(estate);
    const labels = (component: string) => names.labels(estate, component);

    // Not internal: the port is published to the other nodes. A network of its own, so the
    // registry shares no network with any other container.
    const network = new Network(this, 'registry-network', {
      name: names.network('registry'),
      driver: 'bridge',
      internal: false,
      attachable: false,
      labels: Object.entries(labels('network-registry')).map(([label, value]) => ({ label, value })),
    });

    this.registry = new HardenedContainer(this, 'registry', {
      containerName: names.service('registry'),
      image: pinnedImage(this, 'registry-image', image),
      networks: [{ name: network.name }],
      memoryMiB: 512,
      cpus: 1,
      user: REGISTRY_IMAGE.user,
      // It writes only its images (uploads are staged in the volume too); /tmp for anything else.
      tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m' },
      mounts: [
        { type: 'volume', source: names.dataVolume('registry'), target: REGISTRY_IMAGE.dataDir },
        { type: 'bind', source: serve.certificateFile, target: REGISTRY_IMAGE.certificate, readOnly: true },
        { type: 'bind', source: serve.keyFile, target: REGISTRY_IMAGE.key, readOnly: true },
      ],
      ports: [{ internal: REGISTRY_IMAGE.port, external: registry.port, protocol: 'tcp' }],
      healthcheck: { test: ['CMD', 'curl', '-fsS', '--max-time', '5', REGISTRY_IMAGE.health], startPeriodSeconds: 10 },
      // `npm run images:pin` pushes right after this stack's deploy.
      waitHealthySeconds: 60,
      // Go's HTTP server: a goroutine per connection on a few threads.
      pidsLimit: 256,
      dockerHost: estate.dockerHost,
      labels: labels('registry'),
    });
  }
}
