import { Construct } from 'constructs';
import { TerraformOutput, TerraformStack } from 'cdktf';
import { Network } from '../.gen/providers/docker/network';
import { renderContinueConfig, renderMachineSettings, renderTabbyClientConfig } from '../render/code-server';
import { ideEgressEnv, ideEgressFiles } from '../render/ide-egress';
import { durationSeconds } from '../config/units';
import { HomeVolumeGuard } from '../constructs/home-volume-guard';
import { AI_GATEWAY_HOST, EGRESS_PROXY_HOST, INTERNAL_PORTS } from '../constructs/naming';
import { EGRESS_PROXY_USER_MAP } from '../constructs/egress-proxy';
import { MANAGED_DIR, Workspace, WorkspaceFiles, workspaceManagedFiles } from '../constructs/workspace';
import { ManagedFiles } from '../constructs/managed-files';
import { WorkspaceLink } from '../constructs/workspace-link';
import { NGINX_GATEWAY_USER_MAP } from '../constructs/nginx-entry';
import { BackupAgent } from '../constructs/backup';
import { EstateStackProps, estateNames, pinnedImage, secretVariable, useDocker } from './common';

/**
 * One IDE per roster user: its private network, its container, nginx's link to the
 * network. The blast radius of a roster edit; never the users' home volumes.
 */
export interface WorkspacesStackProps extends EstateStackProps {
  /** nginx's container id (from the platform stack): a new one means nginx was recreated and must be linked again. */
  readonly nginxContainerId: string;
  /** The egress proxy's container id (from the platform stack), when `egress` is configured. */
  readonly egressProxyContainerId?: string;
}

export class WorkspacesStack extends TerraformStack {
  /** Private networks of the users who have a running IDE, by username (nginx joins each). */
  public readonly workspaceNetworks: ReadonlyMap<string, Network>;

  constructor(scope: Construct, id: string, props: WorkspacesStackProps) {
    super(scope, id);
    useDocker(this, props);
    const { estate, roster } = props;
    const names = estateNames(estate);

    const image = pinnedImage(this, 'code-server-image', estate.images.codeServer);
    const egressProxyId = estate.egress ? props.egressProxyContainerId : undefined;
    if (estate.egress && !egressProxyId) throw new Error('egress is set: the workspaces stack needs the egress proxy container id (egressProxyContainerId)');
    const fileInput = {
      extensions: estate.extensions,
      aiGatewayUrl: `http://${AI_GATEWAY_HOST}:${INTERNAL_PORTS.aiGateway}`,
      chatModelName: estate.models.chat.name,
    };
    const files: WorkspaceFiles = {
      machineSettings: renderMachineSettings(fileInput),
      continueConfig: renderContinueConfig(fileInput),
      tabbyClientConfig: renderTabbyClientConfig(fileInput),
    };
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
    // One volume of managed files, mounted read-only by every IDE.
    const managedFiles = new ManagedFiles(this, 'ide-managed-files', {
      name: names.managedFiles('workspace'),
      image,
      directory: MANAGED_DIR,
      files: workspaceManagedFiles(files, egressInput ? ideEgressFiles(egressInput) : []),
      labels: names.labels(estate, 'workspace-managed-files'),
    });

    /**
     * The shared services each user's network is linked to: nginx (entry point and AI gateway) and,
     * with `egress`, the egress proxy. `linked: false` keeps the block with no instance (see WorkspaceLink).
     */
    const linkServices = (scope: Construct, username: string, networkName: string, linked: boolean) => {
      const common = { networkName, username, dockerHost: estate.dockerHost, linked };
      new WorkspaceLink(scope, 'nginx-link', { ...common, containerName: names.service('nginx'), containerId: props.nginxContainerId, alias: AI_GATEWAY_HOST, userMap: NGINX_GATEWAY_USER_MAP });
      if (egressProxyId) {
        new WorkspaceLink(scope, 'egress-link', { ...common, containerName: names.service('egress-proxy'), containerId: egressProxyId, alias: EGRESS_PROXY_HOST, userMap: EGRESS_PROXY_USER_MAP });
      }
    };

    // Keyed by username under a fixed namespace: list order never reaches an id.
    const users = new Construct(this, 'users');
    const networks = new Map<string, Network>();
    for (const user of roster.users) {
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
      linkServices(workspace, user.username, workspace.network?.name ?? names.workspaceNetwork(user.username), workspace.network !== undefined && user.state === 'active');
    }
    // Retired users keep empty link blocks too, so retiring an active user still disconnects the services.
    for (const username of roster.retired) linkServices(new Construct(users, username), username, names.workspaceNetwork(username), false);
    this.workspaceNetworks = networks;

    // Backups of every home (and Keycloak's database): here, because the agent mounts the homes.
    const backup = estate.operations.backup;
    if (backup) {
      new BackupAgent(this, 'backup', {
        estateName: estate.name,
        backup,
        // Archived users keep their home, so it is backed up too; retired users' homes are gone.
        usernames: roster.users.map((user) => user.username),
        names,
        image: pinnedImage(this, 'backup-image', estate.images.backup),
        secrets: {
          RESTIC_PASSWORD: secretVariable(this, 'backup_repository_password', "Password of the backup repository (restic encrypts every backup with it); without it no backup can be read.", 16).stringValue,
          PGPASSWORD: secretVariable(this, 'keycloak_db_password', "Password of Keycloak's PostgreSQL role (the backup agent dumps the database as it).", 16).stringValue,
        },
        networks: { database: names.network('database'), edge: names.network('edge') },
        dockerHost: estate.dockerHost,
        labels: names.labels(estate, 'backup'),
      });
    }

    new HomeVolumeGuard(this, 'home-volume-guard', {
      usernames: roster.users.map((user) => user.username),
      retiredUsernames: roster.retired,
      stateFile: props.stateFile,
    });

    new TerraformOutput(this, 'retained_volumes', {
      value: roster.users.map((user) => names.homeVolume(user.username)),
      description: 'Home volumes, created by Docker on first use and never deleted by Terraform (not even by destroy).',
    }).overrideLogicalId('retained_volumes');
  }
}
