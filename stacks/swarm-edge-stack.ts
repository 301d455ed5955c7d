import { Construct } from 'constructs';
import { TerraformStack } from 'cdktf';
import { DataDockerNetwork } from '../.gen/providers/docker/data-docker-network';
import { Service } from '../.gen/providers/docker/service';
import { commandWithSecretEnv, envSecretFile, hardenedSwarmService, MiB } from '../constructs/swarm-files';
import { estateNames, useDocker } from './common';
import { EdgeStackProps, OAUTH2_PROXY_SECRET_ENV, oauth2ProxyCookieSecretVariable, oauth2ProxyEnv } from './edge-stack';

/** oauth2-proxy's image entrypoint (images/oauth2-proxy), which the secret reader runs after it. */
export const OAUTH2_PROXY_ENTRYPOINT = ['/bin/oauth2-proxy'] as const;
const OAUTH2_PROXY_USER = '65532:65532';

/**
 * oauth2-proxy on a Docker Swarm (`target: swarm`): the one-host edge stack's service
 * (stacks/edge-stack.ts, the same `oauth2ProxyEnv`), as a hardened Swarm service on a manager, on
 * the identity overlay (the entry stack's, looked up by name) where the entry's nginx and Keycloak
 * are. Its client secret and cookie secret are Swarm secret files, read into its environment by
 * the wrapper; neither is in the service spec. Last in the deploy order, as on one host: it needs
 * the OIDC client the identity stack creates.
 */
export class SwarmEdgeStack extends TerraformStack {
  public readonly service: Service;

  constructor(scope: Construct, id: string, props: EdgeStackProps) {
    super(scope, id);
    const { estate } = props;
    if (estate.target !== 'swarm' || estate.swarm === undefined) throw new Error(`SwarmEdgeStack: the estate's target is ${estate.target}; this stack is the swarm target's`);
    useDocker(this, props);
    const names = estateNames(estate);
    const labels = names.labels(estate, 'oauth2-proxy');
    const identity = new DataDockerNetwork(this, 'identity-network', { name: names.network('identity') });
    const secretFile = (variable: string, value: string) => envSecretFile(this, { names, variable, value, labels });
    const secrets = [
      secretFile(OAUTH2_PROXY_SECRET_ENV.clientSecret, props.oidcClientSecret),
      secretFile(OAUTH2_PROXY_SECRET_ENV.cookieSecret, oauth2ProxyCookieSecretVariable(this).stringValue),
    ];

    this.service = hardenedSwarmService(this, 'oauth2-proxy', {
      name: names.service('oauth2-proxy'),
      labels: Object.entries(labels).map(([label, value]) => ({ label, value })),
      container: {
        image: estate.images.oauth2Proxy,
        command: commandWithSecretEnv([OAUTH2_PROXY_SECRET_ENV.clientSecret, OAUTH2_PROXY_SECRET_ENV.cookieSecret], OAUTH2_PROXY_ENTRYPOINT),
        env: oauth2ProxyEnv(estate, props.oidcClientId, undefined),
        user: OAUTH2_PROXY_USER,
        secrets: secrets.map((secret) => secret.mount(OAUTH2_PROXY_USER)),
        healthcheck: { test: ['CMD', '/bin/oauth2-proxy', '--version'], interval: '30s', timeout: '5s', retries: 3, startPeriod: '10s' },
      },
      networks: [{ id: identity.id }],
      constraints: ['node.role==manager'],
      resources: { memoryBytes: 256 * MiB, nanoCpus: 500_000_000 },
      pidsLimit: 256,
      dockerHost: estate.dockerHost,
    }).service;
  }
}
