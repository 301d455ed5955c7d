import { Construct } from 'constructs';
import { TerraformOutput, TerraformStack } from 'cdktf';
import { Network } from '../.gen/providers/docker/network';
import { HomeVolumeGuard } from '../constructs/home-volume-guard';
import { BackupAgent } from '../constructs/backup';
import { EstateStackProps, estateNames, pinnedImage, secretVariable, useDocker } from './common';
import { declareUserWorkspaces, linkServices } from './user-workspaces';

/**
 * One IDE per roster user: its private network, its container, nginx's link to the
 * network. The blast radius of a roster edit; never the users' home volumes.
 *
 * With `workspaces.shards` above 1 the IDEs are in the shard stacks (WorkspaceShardStack) and
 * this stack keeps what spans the roster: the backup agent, the home-volume guard and its
 * outputs, and every user's link blocks, empty.
 */
export interface WorkspacesStackProps extends EstateStackProps {
  /** nginx's container id (from the platform stack): a new one means nginx was recreated and must be linked again. */
  readonly nginxContainerId: string;
  /** The egress proxy's container id (from the platform stack), when `egress` is configured. */
  readonly egressProxyContainerId?: string;
}

export class WorkspacesStack extends TerraformStack {
  /** Private networks of the users who have a running IDE, by username (nginx joins each); empty when sharded (see the shard stacks). */
  public readonly workspaceNetworks: ReadonlyMap<string, Network>;

  constructor(scope: Construct, id: string, props: WorkspacesStackProps) {
    super(scope, id);
    useDocker(this, props);
    const { estate, roster } = props;
    const names = estateNames(estate);

    if (estate.workspaces.shards === 1) {
      this.workspaceNetworks = declareUserWorkspaces(this, {
        ...props,
        users: roster.users,
        retiredUsernames: roster.retired,
        managedFilesName: names.managedFiles('workspace'),
      });
    } else {
      // Every user's link blocks stay here, empty, at the paths they had before the split: from one
      // stack to shards (1 → N) this stack's apply then disconnects nginx and the egress proxy from
      // each user's network before removing it (a removed block would not), and the shards recreate them.
      const users = new Construct(this, 'users');
      for (const username of [...roster.users.map((user) => user.username), ...roster.retired].sort()) {
        linkServices(new Construct(users, username), username, names.workspaceNetwork(username), false, props);
      }
      this.workspaceNetworks = new Map();
    }

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
