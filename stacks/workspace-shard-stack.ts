import { Construct } from 'constructs';
import { TerraformStack } from 'cdktf';
import { Network } from '../.gen/providers/docker/network';
import { RosterUser } from '../config/roster';
import { ShardCountGuard } from '../constructs/shard-count-guard';
import { EstateStackProps, estateNames, useDocker } from './common';
import { declareUserWorkspaces, LinkedServices } from './user-workspaces';

/**
 * One workspace shard (`workspaces.shards` > 1): its users' IDEs, networks and nginx's and the
 * egress proxy's links to them, and its retired users' empty link blocks. buildEstate puts each
 * user in one shard (config/shards.ts), so a roster edit plans only the edited users' shards.
 */
export interface WorkspaceShardStackProps extends Omit<EstateStackProps, 'roster'>, LinkedServices {
  /** The shard's name (`ws-01` …): it names the shard's managed files. */
  readonly shard: string;
  /** This shard's users (config/shards.ts, assignWorkspaceShards). */
  readonly users: readonly RosterUser[];
  /** This shard's retired users: their link blocks stay, empty. */
  readonly retiredUsernames: readonly string[];
}

export class WorkspaceShardStack extends TerraformStack {
  public readonly shard: string;
  /** Private networks of the shard's users who have a running IDE, by username (nginx joins each). */
  public readonly workspaceNetworks: ReadonlyMap<string, Network>;

  constructor(scope: Construct, id: string, props: WorkspaceShardStackProps) {
    super(scope, id);
    useDocker(this, props);
    this.shard = props.shard;
    // Its own image resource and managed files (loader and volume named by the shard): a change of
    // the files replaces this shard's IDEs and its volume in one apply, as in the unsharded stack.
    this.workspaceNetworks = declareUserWorkspaces(this, { ...props, managedFilesName: estateNames(props.estate).shardManagedFiles(props.shard) });
    new ShardCountGuard(this, 'shard-count-guard', { shardCount: props.estate.workspaces.shards, stateFile: props.stateFile });
  }
}
