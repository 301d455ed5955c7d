import { Construct } from 'constructs';
import { TerraformStack } from 'cdktf';
import { Network } from '../.gen/providers/docker/network';
import { EstateConfig } from '../config/estate';
import { RosterUser } from '../config/roster';
import { durationSeconds } from '../config/units';
import { renderContinueConfig, renderMachineSettings, renderTabbyClientConfig } from '../render/code-server';
import { ideEgressEnv, ideEgressFiles } from '../render/ide-egress';
import { EGRESS_PROXY_USER_MAP } from '../constructs/egress-proxy';
import { ManagedFiles } from '../constructs/managed-files';
import { AI_GATEWAY_HOST, EGRESS_PROXY_HOST, EstateNames, INTERNAL_PORTS } from '../constructs/naming';
import { NGINX_GATEWAY_USER_MAP } from '../constructs/nginx-entry';
import { MANAGED_DIR, Workspace, WorkspaceFiles, workspaceManagedFiles } from '../constructs/workspace';
import { WorkspaceLink } from '../constructs/workspace-link';
import { estateNames, pinnedImage } from './common';

/** The shared services a user's network is linked to: nginx and, with `egress`, the egress proxy. */
export interface LinkedServices {
  readonly estate: EstateConfig;
  /** nginx's container id (from the platform stack): a new one means nginx was recreated and must be linked again. */
  readonly nginxContainerId: string;
  /** The egress proxy's container id (from the platform stack); required when `egress` is configured. @default - no egress link */
  readonly egressProxyContainerId?: string;
}

/** One stack's share of the users' workspaces. */
export interface UserWorkspacesProps extends LinkedServices {
  /** The users whose IDEs, networks and links the stack holds (each keyed by username: their order never reaches an id). */
  readonly users: readonly RosterUser[];
  /** Retired users whose empty link blocks the stack keeps (see `linkServices`). */
  readonly retiredUsernames: readonly string[];
  /** Docker name of the IDEs' managed files (EstateNames.managedFiles('workspace') or shardManagedFiles). */
  readonly managedFilesName: string;
}

/**
 * The users' workspaces, declared directly in `stack` at the paths every workspaces stack uses:
 * the code-server image (`code-server-image`), the IDEs' managed files (`ide-managed-files`) and,
 * under `users/<username>`, each user's Workspace and links, and each retired user's empty link
 * blocks. Returns the private networks of the users who have one, by username.
 *
 * Shared by the workspaces stack (all users, `workspaces.shards` 1) and the shard stacks (their
 * users), so both declare the same thing at the same construct paths.
 */
export function declareUserWorkspaces(stack: TerraformStack, props: UserWorkspacesProps): ReadonlyMap<string, Network> {
  const { estate } = props;
  const names = estateNames(estate);
  egressProxyIdOf(props); // refuses a missing egress proxy id before anything is declared
  const image = pinnedImage(stack, 'code-server-image', estate.images.codeServer);
  const files = renderWorkspaceFiles(estate);
  // The bank's services through the egress proxy: the tools' configs, the proxy env, the CAs.
  const egressInput = estate.egress && {
    proxyUrl: `http://${EGRESS_PROXY_HOST}:${INTERNAL_PORTS.egressProxy}`,
    noProxy: [AI_GATEWAY_HOST],
    services: estate.egress.services.map(({ name, kind, urls, apt }) => ({ name, kind, urls, apt })),
    managedDir: MANAGED_DIR,
  };
  const egress = estate.egress && egressInput
    ? { env: ideEgressEnv(egressInput), caFiles: estate.egress.services.map((service) => ({ service: service.name, hostPath: service.caFile })) }
    : undefined;
  // One volume of managed files, mounted read-only by every IDE of the stack.
  const managedFiles = new ManagedFiles(stack, 'ide-managed-files', {
    name: props.managedFilesName,
    image,
    directory: MANAGED_DIR,
    files: workspaceManagedFiles(files, egressInput ? ideEgressFiles(egressInput) : []),
    labels: names.labels(estate, 'workspace-managed-files'),
  });

  // Keyed by username under a fixed namespace: list order never reaches an id.
  const users = new Construct(stack, 'users');
  const networks = new Map<string, Network>();
  for (const user of props.users) {
    const workspace = new Workspace(users, user.username, {
      user,
      names,
      image,
      managedFiles,
      labels: names.labels(estate, 'workspace'),
      idleTimeoutSeconds: estate.workspaces.idleTimeout ? durationSeconds(estate.workspaces.idleTimeout) : undefined,
      allowFileTransfer: estate.workspaces.allowFileTransfer,
      dockerHost: estate.dockerHost,
      egress,
    });
    if (workspace.network) networks.set(user.username, workspace.network);
    // A suspended user's IDE keeps running but is cut off: no entry point, no AI gateway, no way out.
    linkServices(workspace, user.username, workspace.network?.name ?? names.workspaceNetwork(user.username), workspace.network !== undefined && user.state === 'active', props);
  }
  // Retired users keep empty link blocks too, so retiring an active user still disconnects the services.
  for (const username of props.retiredUsernames) linkServices(new Construct(users, username), username, names.workspaceNetwork(username), false, props);
  return networks;
}

/** The files every IDE gets (the same on one host and on a swarm): settings and the AI clients' configs, pointed at the AI gateway. */
export function renderWorkspaceFiles(estate: EstateConfig): WorkspaceFiles {
  const input = {
    extensions: estate.extensions,
    aiGatewayUrl: `http://${AI_GATEWAY_HOST}:${INTERNAL_PORTS.aiGateway}`,
    chatModelName: estate.models.chat.name,
  };
  return {
    machineSettings: renderMachineSettings(input),
    continueConfig: renderContinueConfig(input),
    tabbyClientConfig: renderTabbyClientConfig(input),
  };
}

/**
 * nginx's link (entry point and AI gateway) and, with `egress`, the egress proxy's link to one
 * user's network, under `scope`. `linked: false` keeps the blocks with no instance: Terraform runs
 * a link's disconnect (a destroy-time provisioner) only while its block is configured, so a stack
 * that drops a user's links keeps their empty blocks (see WorkspaceLink).
 */
export function linkServices(scope: Construct, username: string, networkName: string, linked: boolean, services: LinkedServices): void {
  const { estate } = services;
  const names: EstateNames = estateNames(estate);
  const egressProxyId = egressProxyIdOf(services);
  const common = { networkName, username, dockerHost: estate.dockerHost, linked };
  new WorkspaceLink(scope, 'nginx-link', { ...common, containerName: names.service('nginx'), containerId: services.nginxContainerId, alias: AI_GATEWAY_HOST, userMap: NGINX_GATEWAY_USER_MAP });
  if (egressProxyId) {
    new WorkspaceLink(scope, 'egress-link', { ...common, containerName: names.service('egress-proxy'), containerId: egressProxyId, alias: EGRESS_PROXY_HOST, userMap: EGRESS_PROXY_USER_MAP });
  }
}

/** The egress proxy's container id when `egress` is configured (then required). */
function egressProxyIdOf(services: LinkedServices): string | undefined {
  if (!services.estate.egress) return undefined;
  if (!services.egressProxyContainerId) throw new Error('egress is set: a workspaces stack needs the egress proxy container id (egressProxyContainerId)');
  return services.egressProxyContainerId;
}
