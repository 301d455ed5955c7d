import { App, Aspects, TerraformStack } from 'cdktf';
import { EstatePolicyPack } from '../policy/pack';
import { ESTATE_RULES } from '../policy/rules';
import { EstateConfig } from '../config/estate';
import { Roster } from '../config/roster';
import { assignWorkspaceShards, workspaceShardNames } from '../config/shards';
import { EdgeStack } from './edge-stack';
import { IdentityStack } from './identity-stack';
import { PlatformStack } from './platform-stack';
import { SwarmAiStack } from './swarm-ai-stack';
import { SwarmEdgeStack } from './swarm-edge-stack';
import { SwarmEntryStack } from './swarm-entry-stack';
import { SwarmRegistryStack } from './swarm-registry-stack';
import { SwarmWorkspaceShardStack, SwarmWorkspacesStack } from './swarm-workspaces-stack';
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

/**
 * The Swarm target's stacks in deploy order: ai (the AI services, and the forwarders' overlay the
 * others look up) → entry (PostgreSQL, Keycloak, nginx) → identity (the one-host identity stack,
 * unchanged, through the entry) → workspaces (one IDE and forwarder per user) → edge
 * (oauth2-proxy). Keycloak's bootstrap runs between entry and identity, as after platform on one host.
 * With `workspaces.shards` above 1 the shard stacks come after `workspaces`, as on one host; with
 * `swarm.registry.serve` the `registry` stack comes first (`estateStackIds` lists them all).
 */
export const SWARM_STACK_IDS = ['ai', 'entry', 'identity', 'workspaces', 'edge'] as const;

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
 * workspace shard's stack (`workspaces.shards` > 1), then edge; on a swarm ai and entry in place of
 * platform (`SWARM_STACK_IDS`, with the shard stacks after workspaces, and `registry` first when
 * the estate runs its registry).
 */
export function estateStackIds(estate: EstateConfig): string[] {
  const shards = estate.workspaces.shards > 1 ? workspaceShardNames(estate.workspaces.shards).map(workspaceShardStackId) : [];
  if (estate.target === 'swarm') return [...(estate.swarm?.registry.serve ? ['registry'] : []), 'ai', 'entry', 'identity', 'workspaces', ...shards, 'edge'];
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
    throw new Error(`target ${estate.target}: these stacks are the docker target's; buildTargetEstate builds the one the estate names`);
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
  const workspaceShards = estate.workspaces.shards > 1 ? shardStacks(app, props, services) : [];
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

  const policy = estatePolicy(estate);
  const all = [platform, identity, workspaces, ...workspaceShards, edge];
  for (const stack of all) Aspects.of(stack).add(policy);
  return { platform, identity, workspaces, workspaceShards, edge, all, policy };
}

/** The Swarm target's stacks (`SWARM_STACK_IDS`). */
export interface SwarmEstateStacks {
  /** The registry the estate runs itself (`swarm.registry.serve`); absent when the bank runs it. */
  readonly registry?: SwarmRegistryStack;
  readonly ai: SwarmAiStack;
  readonly entry: SwarmEntryStack;
  readonly identity: IdentityStack;
  readonly workspaces: SwarmWorkspacesStack;
  /** One stack per workspace shard (`workspaces.shards` > 1), in shard order; none with one shard. */
  readonly workspaceShards: readonly SwarmWorkspaceShardStack[];
  readonly edge: SwarmEdgeStack;
  /** Every stack above, in deploy order. */
  readonly all: readonly TerraformStack[];
  readonly policy: EstatePolicyPack;
}

/**
 * The estate on a Docker Swarm (`target: swarm`), as `SWARM_STACK_IDS` lists it. Each stack
 * depends on the ones whose objects it looks up by name: entry and workspaces join the AI stack's
 * forwarders' overlay, identity reaches Keycloak through the entry, edge joins the entry's
 * identity overlay and takes the identity stack's client. With `workspaces.shards` above 1 the
 * IDEs are split over one stack per shard (each user in one by the hash of their name, as on one
 * host), deployed after `workspaces`, which keeps the placement guard over every user.
 */
export function buildSwarmEstate(app: App, props: BuildEstateProps): SwarmEstateStacks {
  const { estate, roster } = props;
  if (estate.target !== 'swarm') throw new Error(`target ${estate.target}: these stacks are the swarm target's; buildTargetEstate builds the one the estate names`);
  const common = (id: string) => ({ estate, roster, stateFile: `${props.stateDir}/terraform.${id}.tfstate` });
  // First: every other stack's services pull their images from it.
  const registry = estate.swarm?.registry.serve ? new SwarmRegistryStack(app, 'registry', common('registry')) : undefined;
  const ai = new SwarmAiStack(app, 'ai', common('ai'));
  if (registry) ai.addDependency(registry);
  const entry = new SwarmEntryStack(app, 'entry', common('entry'));
  entry.addDependency(ai);
  const identity = new IdentityStack(app, 'identity', common('identity'));
  identity.addDependency(entry);
  const workspaces = new SwarmWorkspacesStack(app, 'workspaces', common('workspaces'));
  workspaces.addDependency(ai);
  const workspaceShards = estate.workspaces.shards > 1 ? swarmShardStacks(app, props, workspaces.placement) : [];
  for (const shard of workspaceShards) {
    shard.addDependency(ai);
    // After the roster-wide stack: its placement guard stops a deploy that would move a home, and
    // on a split (1 → N) its apply removes the IDE services before the shards create them again.
    shard.addDependency(workspaces);
  }
  const edge = new SwarmEdgeStack(app, 'edge', { ...common('edge'), oidcClientId: identity.oidcClientId, oidcClientSecret: identity.oidcClientSecret });
  edge.addDependency(entry);
  edge.addDependency(identity);
  const policy = estatePolicy(estate);
  const all = [...(registry ? [registry] : []), ai, entry, identity, workspaces, ...workspaceShards, edge];
  for (const stack of all) Aspects.of(stack).add(policy);
  return { registry, ai, entry, identity, workspaces, workspaceShards, edge, all, policy };
}

/** The estate's stacks for the target it names (`docker`: one engine, `swarm`): what synth and the plan report build. */
export function buildTargetEstate(app: App, props: BuildEstateProps): { readonly all: readonly TerraformStack[]; readonly policy: EstatePolicyPack } {
  return props.estate.target === 'swarm' ? buildSwarmEstate(app, props) : buildEstate(app, props);
}

/** The policy pack every stack of the estate gets, with the estate's allowed host paths and waivers. */
function estatePolicy(estate: EstateConfig): EstatePolicyPack {
  return new EstatePolicyPack({
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
        // The registry's own certificate and key, where the estate runs it (swarm.registry.serve).
        ...(estate.swarm?.registry.serve ? [estate.swarm.registry.serve.certificateFile, estate.swarm.registry.serve.keyFile] : []),
        // The bank's CA certificates, mounted read-only into every IDE.
        ...(estate.egress?.services.map((service) => service.caFile) ?? []),
      ],
    },
    suppressions: estate.suppressions,
  });
}

/**
 * Each workspace shard of the estate (`workspaces.shards`) with its stack id, its state file, and
 * whether the rendezvous hash (config/shards.ts) puts a username in it; both targets build their
 * shard stacks from it.
 */
function workspaceShardPlan(props: BuildEstateProps, usernames: readonly string[]): { shard: string; id: string; stateFile: string; holds: (username: string) => boolean }[] {
  const count = props.estate.workspaces.shards;
  const shardOf = assignWorkspaceShards(usernames, count);
  return workspaceShardNames(count).map((shard) => {
    const id = workspaceShardStackId(shard);
    return { shard, id, stateFile: `${props.stateDir}/terraform.${id}.tfstate`, holds: (username: string) => shardOf.get(username) === shard };
  });
}

/** A swarm stack per shard, each with the users the rendezvous hash puts in it, on the nodes `placement` gives them. */
function swarmShardStacks(app: App, props: BuildEstateProps, placement: ReadonlyMap<string, string>): SwarmWorkspaceShardStack[] {
  const { estate, roster } = props;
  return workspaceShardPlan(props, roster.users.map((user) => user.username)).map(
    ({ shard, id, stateFile, holds }) => new SwarmWorkspaceShardStack(app, id, { estate, stateFile, shard, users: roster.users.filter((user) => holds(user.username)), placement }),
  );
}

/** A stack per shard, each with the users (and retired users) the rendezvous hash puts in it. */
function shardStacks(app: App, props: BuildEstateProps, services: { nginxContainerId: string; egressProxyContainerId?: string }): WorkspaceShardStack[] {
  const { estate, roster } = props;
  return workspaceShardPlan(props, [...roster.users.map((user) => user.username), ...roster.retired]).map(
    ({ shard, id, stateFile, holds }) =>
      new WorkspaceShardStack(app, id, {
        estate,
        stateFile,
        shard,
        users: roster.users.filter((user) => holds(user.username)),
        retiredUsernames: roster.retired.filter(holds),
        ...services,
      }),
  );
}
