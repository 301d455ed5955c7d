import { App, Aspects, TerraformStack } from 'cdktf';
import { EstatePolicyPack } from '../policy/pack';
import { ESTATE_RULES } from '../policy/rules';
import { EstateConfig } from '../config/estate';
import { Roster } from '../config/roster';
import { assignWorkspaceShards, workspaceShardNames } from '../config/shards';
import { EdgeStack } from './edge-stack';
import { IdentityStack } from './identity-stack';
import { PlatformStack } from './platform-stack';
import { WorkspaceShardStack } from './workspace-shard-stack';
import { WorkspacesStack } from './workspaces-stack';

export interface EstateStacks {
  readonly platform: PlatformStack;
  readonly identity: IdentityStack;
  readonly workspaces: WorkspacesStack;
  /** One stack per workspace shard (`workspaces.shards` > 1), in shard order; none with one shard. */
  readonly workspaceShards: readonly WorkspaceShardStack[];
  readonly edge: EdgeStack;
  /** Every stack above, in deploy order (as `estateStackIds` lists their ids). */
  readonly all: readonly TerraformStack[];
  /** The policy pack applied to every stack; lists the suppressions it honoured after synth. */
  readonly policy: EstatePolicyPack;
}

export interface BuildEstateProps {
  readonly estate: EstateConfig;
  readonly roster: Roster;
  /** Where each stack keeps its state: `<stateDir>/terraform.<stack>.tfstate`. */
  readonly stateDir: string;
}

/**
 * The stacks every estate has, in deploy order. Stack ids are part of the contract: they name
 * state files (`terraform.<id>.tfstate`) and `cdktf deploy` targets. With `workspaces.shards`
 * above 1 the shard stacks come after `workspaces` (`estateStackIds` lists them all).
 */
export const STACK_IDS = ['platform', 'identity', 'workspaces', 'edge'] as const;

/** The id of a workspace shard's stack: `workspaces-ws-01` (its state file: `terraform.workspaces-ws-01.tfstate`). */
export function workspaceShardStackId(shard: string): string {
  return `workspaces-${shard}`;
}

/** Whether a stack id is a workspace shard's (`workspaceShardStackId`). */
export function isWorkspaceShardStackId(id: string): boolean {
  return /^workspaces-ws-\d{2,}$/.test(id);
}

/**
 * The ids of the estate's stacks in deploy order: platform, identity, workspaces, then each
 * workspace shard's stack (`workspaces.shards` > 1), then edge.
 */
export function estateStackIds(estate: EstateConfig): string[] {
  const shards = estate.workspaces.shards > 1 ? workspaceShardNames(estate.workspaces.shards).map(workspaceShardStackId) : [];
  return ['platform', 'identity', 'workspaces', ...shards, 'edge'];
}

/**
 * The stacks `names` selects (comma-separated ids; `*` matches any characters, so
 * `workspaces*` is the workspaces stack and its shard stacks), in the order of `known` (deploy
 * order); all of them when `names` is undefined. `unknown`: the names that match no stack.
 */
export function selectStacks(known: readonly string[], names: string | undefined): { stacks: string[]; unknown: string[] } {
  if (names === undefined) return { stacks: [...known], unknown: [] };
  const patterns = names.split(',').map((name) => name.trim()).filter((name) => name !== '');
  const matcher = (pattern: string) => new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  const matched = patterns.map((pattern) => ({ pattern, stacks: known.filter((id) => matcher(pattern).test(id)) }));
  const selected = new Set(matched.flatMap((m) => m.stacks));
  return { stacks: known.filter((id) => selected.has(id)), unknown: matched.filter((m) => m.stacks.length === 0).map((m) => m.pattern) };
}

/**
 * The whole estate as four stacks, split by blast radius and deployed in this order:
 * platform (databases, Keycloak, AI services, nginx) → identity (realm, client, users,
 * through nginx) and workspaces (one IDE per user, linked to nginx) → edge (oauth2-proxy,
 * which needs the identity stack's client). With `workspaces.shards` above 1 the IDEs are
 * split over one stack per shard (`workspaces-ws-01` …, each user in one by the hash of their
 * name), deployed after `workspaces`, which keeps the roster-wide parts.
 */
export function buildEstate(app: App, props: BuildEstateProps): EstateStacks {
  const { estate, roster } = props;
  if (estate.target !== 'docker') {
    // These stacks run everything on one engine; building them for a swarm would deploy the wrong estate.
    throw new Error(`target ${estate.target}: the Swarm target is being built and nothing deploys it yet; these stacks are the docker target's (the default: remove target, or set target: docker)`);
  }
  const stateFile = (id: string) => `${props.stateDir}/terraform.${id}.tfstate`;
  const common = (id: string) => ({ estate, roster, stateFile: stateFile(id) });
  const platform = new PlatformStack(app, 'platform', common('platform'));
  const identity = new IdentityStack(app, 'identity', common('identity'));
  identity.addDependency(platform);
  const services = {
    nginxContainerId: platform.nginx.proxy.container.id,
    egressProxyContainerId: platform.egressProxy?.proxy.container.id,
  };
  const workspaces = new WorkspacesStack(app, 'workspaces', { ...common('workspaces'), ...services });
  workspaces.addDependency(platform);
  const workspaceShards = estate.workspaces.shards > 1 ? shardStacks(app, props, services, stateFile) : [];
  for (const shard of workspaceShards) {
    shard.addDependency(platform);
    // After the roster-wide stack: its home-volume guard stops a deploy that drops a user who has a home.
    shard.addDependency(workspaces);
  }
  const edge = new EdgeStack(app, 'edge', {
    ...common('edge'),
    oidcClientId: identity.oidcClientId,
    oidcClientSecret: identity.oidcClientSecret,
  });
  edge.addDependency(identity);

  const policy = new EstatePolicyPack({
    rules: ESTATE_RULES,
    context: {
      profile: estate.profile,
      hostPathAllowList: [
        estate.tls.certificateFile,
        estate.tls.keyFile,
        estate.models.chat.hostPath,
        estate.models.completion.hostPath,
        ...(estate.operations.audit.forward ? [estate.operations.audit.forward.caFile] : []),
        ...(estate.operations.backup?.repository.startsWith('/') ? [estate.operations.backup.repository] : []),
        // The bank's CA certificates, mounted read-only into every IDE.
        ...(estate.egress?.services.map((service) => service.caFile) ?? []),
      ],
    },
    suppressions: estate.suppressions,
  });
  const all = [platform, identity, workspaces, ...workspaceShards, edge];
  for (const stack of all) Aspects.of(stack).add(policy);
  return { platform, identity, workspaces, workspaceShards, edge, all, policy };
}

/** A stack per shard, each with the users (and retired users) the rendezvous hash puts in it. */
function shardStacks(
  app: App,
  props: BuildEstateProps,
  services: { nginxContainerId: string; egressProxyContainerId?: string },
  stateFile: (id: string) => string,
): WorkspaceShardStack[] {
  const { estate, roster } = props;
  const shardOf = assignWorkspaceShards([...roster.users.map((user) => user.username), ...roster.retired], estate.workspaces.shards);
  return workspaceShardNames(estate.workspaces.shards).map((shard) => {
    const id = workspaceShardStackId(shard);
    return new WorkspaceShardStack(app, id, {
      estate,
      stateFile: stateFile(id),
      shard,
      users: roster.users.filter((user) => shardOf.get(user.username) === shard),
      retiredUsernames: roster.retired.filter((username) => shardOf.get(username) === shard),
      ...services,
    });
  });
}
