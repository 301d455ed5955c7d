import { EstateConfig } from '../config/estate';

/** The estate's service names: container names, host names on the networks, and construct ids. */
export const SERVICES = [
  'nginx',
  'keycloak',
  'postgres',
  'oauth2-proxy',
  'litellm',
  'tabby',
  'vllm',
  'audit',
  'audit-events',
  'backup',
  'prometheus',
  'alertmanager',
  'nginx-exporter',
  'node-exporter',
  'mtail',
  'egress-proxy',
  /** On a swarm: the AI gateway, a service of its own (stacks/swarm-ai-stack.ts); on one host nginx is both. */
  'ai-gateway',
  /** On a swarm that runs its own registry: Debian's docker-registry (stacks/swarm-registry-stack.ts). */
  'registry',
] as const;
export type ServiceName = (typeof SERVICES)[number];

/**
 * Docker object names for one estate. Every name starts with the estate's prefix so
 * several estates (or a test estate) can share a Docker host without collisions.
 */
export class EstateNames {
  constructor(private readonly prefix: string) {}

  service(name: ServiceName): string {
    return `${this.prefix}-${name}`;
  }

  /** `forwarders`: on a swarm, the entry point's and AI gateway's network with every user forwarder. */
  network(purpose: 'edge' | 'identity' | 'database' | 'ai' | 'audit' | 'monitoring' | 'egress' | 'forwarders' | 'registry'): string {
    return `${this.prefix}-net-${purpose}`;
  }

  workspacePrefix(): string {
    return `${this.prefix}-ide-`;
  }

  workspaceContainer(username: string): string {
    return `${this.workspacePrefix()}${username}`;
  }

  workspaceNetwork(username: string): string {
    return `${this.prefix}-ws-${username}`;
  }

  /** On a swarm: the user's forwarder (render/user-forwarder.ts), the entry point's way to the IDE and the IDE's to the AI gateway. */
  userForwarder(username: string): string {
    return `${this.userForwarderPrefix()}${username}`;
  }

  /** The part of a user forwarder's name before the username (the Swarm entry point routes `/u/<name>/` by it). */
  userForwarderPrefix(): string {
    return `${this.prefix}-fwd-`;
  }

  /**
   * A Swarm config (immutable: a new content needs a new name). `contentHash`: a digest of the
   * content, so a change makes a new config and the old one is removed after the services moved.
   */
  swarmConfig(purpose: string, contentHash: string): string {
    return `${this.prefix}-${purpose}-${contentHash.slice(0, 12)}`;
  }

  /** A Swarm secret's name without its content digest (constructs/swarm-files.ts SwarmSecretFile). */
  swarmSecretPrefix(purpose: string): string {
    return `${this.prefix}-secret-${purpose}`;
  }

  homeVolume(username: string): string {
    return `${this.prefix}-home-${username}`;
  }

  /** Volume (plus a content digest) and loader of the files the estate writes for a service. */
  managedFiles(purpose: 'nginx' | 'litellm' | 'workspace' | 'audit' | 'prometheus' | 'alertmanager' | 'mtail' | 'egress-proxy'): string {
    return `${this.prefix}-managed-${purpose}`;
  }

  /** The IDEs' managed files of one workspace shard (each shard stack has its own volume and loader). */
  shardManagedFiles(shard: string): string {
    return `${this.managedFiles('workspace')}-${shard}`;
  }

  dataVolume(service: 'postgres' | 'tabby' | 'backup' | 'audit' | 'audit-queue' | 'prometheus' | 'alertmanager' | 'registry'): string {
    return `${this.prefix}-data-${service}`;
  }

  /** The AI gateway's user map (nginx's address on each user network → username). */
  gatewayUsersVolume(): string {
    return `${this.prefix}-gateway-users`;
  }

  /** The egress proxy's user map (its address on each user network → username), written by the workspace links. */
  egressUsersVolume(): string {
    return `${this.prefix}-egress-users`;
  }

  /** The one-off container `npm run restore` runs a restore in (removed when it is done). */
  restoreContainer(): string {
    return `${this.prefix}-restore`;
  }

  /** The master-realm client Terraform administers the estate's realm as (never the bootstrap admin). */
  terraformClient(): string {
    return `${this.prefix}-terraform`;
  }

  /** Labels on every container: who owns it, which part it is, which profile made it. */
  labels(estate: EstateConfig, component: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      'webide.estate': this.prefix,
      'webide.component': component,
      'webide.profile': estate.profile,
      ...extra,
    };
  }
}

/** Ports inside the Docker networks (not published). */
export const INTERNAL_PORTS = {
  nginxHttps: 8443,
  nginxHttp: 8080,
  aiGateway: 8081,
  keycloak: 8080,
  keycloakManagement: 9000,
  /** nginx's stub_status page, on its fixed identity address only, for the nginx exporter. */
  nginxStatus: 8405,
  postgres: 5432,
  oauth2Proxy: 4180,
  litellm: 4000,
  tabby: 8080,
  vllm: 8000,
  codeServer: 8080,
  /** The egress proxy (Squid), on every user network as EGRESS_PROXY_HOST. */
  egressProxy: 3128,
} as const;

/** The AI gateway's name on every workspace network: the one address IDEs use for AI. */
export const AI_GATEWAY_HOST = 'ai-gateway';
/** The egress proxy's name on every workspace network: the one way out to the bank's declared services. */
export const EGRESS_PROXY_HOST = 'egress-proxy';
