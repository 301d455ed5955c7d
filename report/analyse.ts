import { duration, durationSeconds } from '../config/units';
import { NGINX_PATHS } from '../constructs/nginx-entry';
import { LOADER_LABEL } from '../constructs/managed-files';
import { MFA_BROWSER_FLOW_ALIAS } from '../constructs/mfa-browser-flow';
import { aiGatewayClosed, gatewayForwards, gatewayViolations } from '../policy/rules/ai-gateway';
import { isWorkspaceShardStackId } from '../stacks/estate';
import { egressRisks } from './egress';
import { operationsContext, OperationsContext, operationsRisks } from './operations';
import { actionOf, Action, containsSensitive, labelsOf, maskAt, ResourceChange, shown, StackPlan, UnplannedStack } from './plan';

export type RiskCategory = 'data' | 'network' | 'privilege' | 'ai-gateway' | 'egress' | 'realm-security' | 'operations' | 'directory' | 'client' | 'gpu' | 'image';

export interface Risk {
  readonly category: RiskCategory;
  readonly stack: string;
  readonly address: string;
  readonly message: string;
}

export interface PersonChange {
  readonly username: string;
  readonly change: 'added' | 'removed' | 'archived' | 'suspended' | 're-activated' | 'groups' | 'quota' | 'profile';
  readonly detail: string;
}

export interface FileChange {
  readonly stack: string;
  readonly address: string;
  readonly file: string;
  /** Old and new content; undefined where Terraform marked it sensitive. */
  readonly before?: string;
  readonly after?: string;
  readonly sensitive: boolean;
}

export interface StackSummary {
  readonly stack: string;
  /** Planned changes; all 0 for a stack that was not planned (see `notPlanned`). */
  readonly counts: Record<Action, number>;
  readonly note?: string;
  /** Why the stack could not be planned. */
  readonly notPlanned?: string;
}

/** A user whose workspace resources change, and in which stack of the workspaces part. */
export interface WorkspaceUserChange {
  readonly username: string;
  readonly stack: string;
  readonly counts: Record<Action, number>;
}

/**
 * The workspaces stack and its shard stacks (`workspaces.shards` > 1) read as one part of the
 * estate: what they change together, and whose workspace each change is.
 */
export interface WorkspacesPart {
  /** The part's stacks in the order given: the roster-wide `workspaces`, then the shard stacks. */
  readonly stacks: readonly string[];
  /** Planned changes of all of them; stacks that were not planned count nothing (see `notPlanned`). */
  readonly counts: Record<Action, number>;
  readonly notPlanned: readonly string[];
  /** Each user with a change, by username (a user's resources are keyed `users_<username>_…`). */
  readonly users: readonly WorkspaceUserChange[];
}

export interface PlanReport {
  readonly summary: readonly StackSummary[];
  /** Present when the plans include workspace shard stacks. */
  readonly workspaces?: WorkspacesPart;
  /** Stacks that could not be planned; the report is incomplete while there are any. */
  readonly unplanned: readonly UnplannedStack[];
  readonly people: readonly PersonChange[];
  readonly risks: readonly Risk[];
  readonly files: readonly FileChange[];
}

/** Reads the plans of every stack into what an approver needs: who, what posture, what could lose data. */
export function analysePlans(outcomes: readonly (StackPlan | UnplannedStack)[]): PlanReport {
  const plans = outcomes.filter((o): o is StackPlan => 'plan' in o);
  const unplanned = outcomes.filter((o): o is UnplannedStack => !('plan' in o));
  // One row per stack, in the order given (deploy order).
  const summary = outcomes.map((outcome): StackSummary => {
    const counts: Record<Action, number> = { create: 0, update: 0, replace: 0, delete: 0 };
    if (!('plan' in outcome)) return { stack: outcome.stack, counts, notPlanned: outcome.reason };
    for (const change of outcome.plan.resource_changes ?? []) {
      const action = actionOf(change);
      if (action) counts[action]++;
    }
    return outcome.note === undefined ? { stack: outcome.stack, counts } : { stack: outcome.stack, counts, note: outcome.note };
  });
  const changes = plans.flatMap(({ stack, plan }) =>
    (plan.resource_changes ?? []).filter((c) => actionOf(c) !== undefined).map((change) => ({ stack, change, prior: plan.prior_state })),
  );
  const groupNames = new Map<string, string>();
  for (const { plan } of plans) {
    for (const r of plan.prior_state?.values?.root_module?.resources ?? []) {
      if (r.type === 'keycloak_group') groupNames.set(r.values.id, r.values.name);
    }
  }

  const risks: Risk[] = [];
  const people: PersonChange[] = [];
  const files: FileChange[] = [];
  const removedIdes = new Set<string>();
  for (const { change } of changes) {
    if (change.type === 'docker_container' && actionOf(change) === 'delete') {
      const labels = labelsOf(change.change.before);
      if (labels['webide.component'] === 'workspace') removedIdes.add(labels['webide.user']);
    }
  }
  const operations = operationsContext(plans.map((p) => p.plan));
  for (const { stack, change } of changes) {
    risks.push(...risksOf(stack, change, operations));
    people.push(...peopleOf(change, groupNames, removedIdes));
    files.push(...filesOf(stack, change));
  }
  const order: RiskCategory[] = ['data', 'realm-security', 'operations', 'directory', 'privilege', 'ai-gateway', 'egress', 'network', 'client', 'gpu', 'image'];
  risks.sort((a, b) => order.indexOf(a.category) - order.indexOf(b.category) || a.address.localeCompare(b.address));
  people.sort((a, b) => a.username.localeCompare(b.username) || a.change.localeCompare(b.change));
  const workspaces = outcomes.some((o) => isWorkspaceShardStackId(o.stack)) ? workspacesPart(outcomes, summary) : undefined;
  return { summary, ...(workspaces ? { workspaces } : {}), unplanned, people: mergeGroupChanges(people), risks, files };
}

/** The user a resource of a workspaces stack belongs to: `docker_network.users_erin_network_1A2B3C4D` → erin. */
export function workspaceUserOf(address: string): string | undefined {
  return /^[a-z_]+\.users_([a-z0-9-]+)_/.exec(address)?.[1];
}

function workspacesPart(outcomes: readonly (StackPlan | UnplannedStack)[], summary: readonly StackSummary[]): WorkspacesPart {
  const inPart = (stack: string) => stack === 'workspaces' || isWorkspaceShardStackId(stack);
  const rows = summary.filter((row) => inPart(row.stack));
  const counts: Record<Action, number> = { create: 0, update: 0, replace: 0, delete: 0 };
  for (const row of rows) for (const action of Object.keys(counts) as Action[]) counts[action] += row.counts[action];
  const users = new Map<string, WorkspaceUserChange>();
  for (const outcome of outcomes) {
    if (!inPart(outcome.stack) || !('plan' in outcome)) continue;
    for (const change of outcome.plan.resource_changes ?? []) {
      const action = actionOf(change);
      const username = workspaceUserOf(change.address);
      if (!action || !username) continue;
      const key = `${username}\u0000${outcome.stack}`;
      const user = users.get(key) ?? { username, stack: outcome.stack, counts: { create: 0, update: 0, replace: 0, delete: 0 } };
      user.counts[action]++;
      users.set(key, user);
    }
  }
  return {
    stacks: rows.map((row) => row.stack),
    counts,
    notPlanned: rows.filter((row) => row.notPlanned !== undefined).map((row) => row.stack),
    users: [...users.values()].sort((a, b) => a.username.localeCompare(b.username) || a.stack.localeCompare(b.stack)),
  };
}

/**
 * 0 no changes, 2 changes, 3 changes with flagged risks (CI can require a second approver),
 * 1 when a stack could not be planned (the report is incomplete).
 */
export function exitCodeOf(report: PlanReport): 0 | 1 | 2 | 3 {
  if (report.unplanned.length > 0) return 1;
  const total = report.summary.reduce((sum, s) => sum + Object.values(s.counts).reduce((a, b) => a + b, 0), 0);
  if (total === 0) return 0;
  return report.risks.length > 0 ? 3 : 2;
}

/**
 * Whether two mount lists differ in more than the content digest of a managed files' volume
 * (`<name>-<12 hex>`): a new digest is a rendered file's change, shown as a file diff instead.
 */
function mountsDiffer(before: unknown, after: unknown): boolean {
  const normalised = (mounts: unknown) =>
    JSON.stringify(((mounts ?? []) as { source?: string }[]).map((m) => ({ ...m, source: m.source?.replace(/-managed-([a-z0-9-]+)-[0-9a-f]{12}$/, '-managed-$1') })));
  return normalised(before) !== normalised(after);
}

function risksOf(stack: string, change: ResourceChange, operations: OperationsContext): Risk[] {
  const action = actionOf(change)!;
  const { before, after } = change.change;
  const risk = (category: RiskCategory, message: string): Risk => ({ category, stack, address: change.address, message });
  const differs = (key: string) => before !== null && after !== null && JSON.stringify(before[key]) !== JSON.stringify(after[key]);
  const value = (side: 'before' | 'after', key: string) =>
    shown(change.change[side]?.[key], maskAt(side === 'before' ? change.change.before_sensitive : change.change.after_sensitive, key));
  const out: Risk[] = [];

  switch (change.type) {
    case 'docker_volume':
      // A managed files' volume holds rendered files, no data: replacing it is how a file change applies.
      if (labelsOf(before ?? after)[LOADER_LABEL] === 'true') break;
      if (action === 'delete' || action === 'replace') out.push(risk('data', `volume ${before?.name} would be ${action === 'delete' ? 'destroyed' : 'replaced (emptied)'}`));
      break;
    case 'docker_network':
      if (action !== 'create' || after?.internal !== true) {
        out.push(risk('network', `network ${after?.name ?? before?.name} ${action}d${after && after.internal !== true ? ' (not internal: has a route out)' : ''}`));
      }
      break;
    case 'docker_image':
      if (action !== 'create' && before?.name !== after?.name) out.push(risk('image', `image ${before?.name} → ${after?.name ?? '(removed)'}`));
      break;
    case 'docker_container': {
      const labels = labelsOf(before ?? after);
      const component = labels['webide.component'];
      if ((component === 'postgres' || component === 'keycloak') && (action === 'delete' || action === 'replace')) {
        out.push(risk('data', `${component} container ${action === 'delete' ? 'removed' : 'replaced'} (service outage; its data volume is kept)`));
      }
      if (before && after) {
        for (const key of ['privileged', 'capabilities', 'security_opts', 'user', 'read_only', 'runtime', 'mounts', 'devices']) {
          if (key === 'mounts' ? mountsDiffer(before.mounts, after.mounts) : differs(key)) out.push(risk('privilege', `${key}: ${value('before', key)} → ${value('after', key)}`));
        }
        if (differs('ports')) out.push(risk('network', `published ports: ${value('before', 'ports')} → ${value('after', 'ports')}`));
        if (differs('networks_advanced')) out.push(risk('network', `networks: ${value('before', 'networks_advanced')} → ${value('after', 'networks_advanced')}`));
        const gpusBefore = labelsOf(before)['webide.gpus'];
        const gpusAfter = labelsOf(after)['webide.gpus'];
        if (gpusBefore !== gpusAfter) out.push(risk('gpu', `GPUs of ${after.name}: ${gpusBefore ?? '(none)'} → ${gpusAfter ?? '(none)'}`));
      } else if (after && action === 'create' && (after.ports ?? []).length > 0) {
        out.push(risk('network', `new container ${after.name} publishes ${value('after', 'ports')}`));
      }
      if (component === 'nginx') out.push(...gatewayRisks(change).map((message) => risk('ai-gateway', message)));
      if (component === 'oauth2-proxy') out.push(...cookieRefreshRisks(change).map((message) => risk('realm-security', message)));
      out.push(...operationsRisks(change, operations).map((message) => risk('operations', message)));
      out.push(...egressRisks(change).map((message) => risk('egress', message)));
      break;
    }
    case 'keycloak_realm':
      out.push(...realmRisks(change).map((message) => risk('realm-security', message)));
      break;
    case 'keycloak_authentication_flow':
    case 'keycloak_authentication_subflow':
    case 'keycloak_authentication_execution':
    case 'keycloak_authentication_bindings':
      out.push(...mfaRisks(change).map((message) => risk('realm-security', message)));
      break;
    case 'keycloak_ldap_user_federation':
      out.push(...directoryRisks(change).map((message) => risk('directory', message)));
      break;
    case 'keycloak_realm_events':
      for (const key of ['events_enabled', 'admin_events_enabled', 'admin_events_details_enabled']) {
        if ((before?.[key] === true && after?.[key] !== true) || (action === 'delete' && before?.[key])) out.push(risk('realm-security', `${key} turned off`));
      }
      if (differs('events_expiration')) out.push(risk('realm-security', `events kept ${before!.events_expiration}s → ${after!.events_expiration}s`));
      if (action === 'delete') out.push(risk('realm-security', 'realm events configuration removed'));
      break;
    case 'keycloak_required_action':
      if (action === 'delete' || (before && after && (before.enabled !== after.enabled || before.default_action !== after.default_action))) {
        out.push(risk('realm-security', `required action ${before?.alias ?? after?.alias}: ${action === 'delete' ? 'removed' : `enabled ${before!.enabled}→${after!.enabled}, default ${before!.default_action}→${after!.default_action}`}`));
      }
      break;
    case 'keycloak_openid_client':
      for (const key of ['valid_redirect_uris', 'web_origins', 'valid_post_logout_redirect_uris', 'direct_access_grants_enabled', 'implicit_flow_enabled', 'access_type']) {
        if (differs(key)) out.push(risk('client', `${after!.client_id} ${key}: ${value('before', key)} → ${value('after', key)}`));
      }
      if (action === 'delete') out.push(risk('client', `client ${before?.client_id} removed`));
      break;
    default:
      break;
  }
  return out;
}

/**
 * What IDEs can reach through the AI gateway, when that changes: endpoints added and
 * removed, and any outside the allow-list, named with the policy rule that guards it.
 */
function gatewayRisks(change: ResourceChange): string[] {
  const confOf = (values: Record<string, any> | null) =>
    ((values?.upload ?? []) as { file: string; content?: string }[]).find((u) => u.file === NGINX_PATHS.config)?.content;
  const before = confOf(change.change.before);
  const after = confOf(change.change.after);
  if (after === undefined || before === after) return [];
  const was = before === undefined ? [] : gatewayForwards(before);
  const now = gatewayForwards(after);
  const added = now.filter((f) => !was.includes(f));
  const removed = was.filter((f) => !now.includes(f));
  const outside = gatewayViolations(after);
  if (added.length + removed.length + outside.length === 0) return [];
  const parts = [...added.map((f) => `+${f}`), ...removed.map((f) => `-${f}`)];
  const verdict = outside.length > 0 ? `OUTSIDE the allow-list: ${outside.join(', ')}` : 'all on the allow-list';
  return [`AI gateway endpoints IDEs can reach: ${parts.join('; ') || '(unchanged)'} (${aiGatewayClosed.id}: ${verdict})`];
}

/** Realm settings that got weaker (or changed where weaker/stronger needs a human). */
function realmRisks(change: ResourceChange): string[] {
  const { before, after } = change.change;
  if (!before) return [];
  if (!after) return [`realm ${before.realm} destroyed`];
  const out: string[] = [];
  const bfBefore = before.security_defenses?.[0]?.brute_force_detection?.[0];
  const bfAfter = after.security_defenses?.[0]?.brute_force_detection?.[0];
  if (bfBefore && !bfAfter) out.push('brute-force protection removed');
  if (bfBefore && bfAfter) {
    if (bfAfter.max_login_failures > bfBefore.max_login_failures) out.push(`brute force: max login failures ${bfBefore.max_login_failures} → ${bfAfter.max_login_failures} (weaker)`);
    if (bfBefore.permanent_lockout && !bfAfter.permanent_lockout) out.push('brute force: permanent lockout turned off (weaker)');
    if (bfAfter.max_failure_wait_seconds < bfBefore.max_failure_wait_seconds) out.push(`brute force: lockout ${bfBefore.max_failure_wait_seconds}s → ${bfAfter.max_failure_wait_seconds}s (weaker)`);
  }
  if (before.password_policy !== after.password_policy) {
    const length = (policy: string) => Number(/length\((\d+)\)/.exec(policy ?? '')?.[1] ?? 0);
    const weaker = length(after.password_policy) < length(before.password_policy) || (after.password_policy ?? '').split(' and ').length < (before.password_policy ?? '').split(' and ').length;
    out.push(`password policy: "${before.password_policy}" → "${after.password_policy}"${weaker ? ' (weaker)' : ''}`);
  }
  if (JSON.stringify(before.otp_policy) !== JSON.stringify(after.otp_policy)) out.push(`OTP policy: ${JSON.stringify(before.otp_policy)} → ${JSON.stringify(after.otp_policy)}`);
  for (const key of ['sso_session_idle_timeout', 'sso_session_max_lifespan', 'access_token_lifespan', 'offline_session_idle_timeout']) {
    if (before[key] !== after[key] && after[key] !== '' && seconds(after[key]) > seconds(before[key])) out.push(`${key}: ${before[key]} → ${after[key]} (longer)`);
  }
  if (before.ssl_required !== after.ssl_required) out.push(`ssl_required: ${before.ssl_required} → ${after.ssl_required}`);
  if (before.registration_allowed !== after.registration_allowed && after.registration_allowed) out.push('self-registration turned on');
  return out;
}

/** The executions of the estate's browser flow that make sign-in take a password and a TOTP code. */
const MFA_STEPS: Record<string, string> = { 'auth-username-password-form': 'password', 'auth-otp-form': 'TOTP code' };

/**
 * Changes that let someone into the realm without both a password and a TOTP code: a
 * required step of the estate's browser flow no longer required or removed, the flow removed,
 * or the realm's browser binding pointed elsewhere (Keycloak's built-in `browser` flow asks
 * for OTP only from users who have enrolled a device). Creating any of them is not a weakening.
 */
function mfaRisks(change: ResourceChange): string[] {
  const action = actionOf(change)!;
  const { before, after } = change.change;
  if (!before) return [];
  switch (change.type) {
    case 'keycloak_authentication_flow':
    case 'keycloak_authentication_subflow': {
      const ours = before.alias === MFA_BROWSER_FLOW_ALIAS || before.alias === `${MFA_BROWSER_FLOW_ALIAS}-forms`;
      return ours && action === 'delete' ? [`MFA: ${change.type === 'keycloak_authentication_flow' ? 'browser flow' : 'subflow'} ${before.alias} removed`] : [];
    }
    case 'keycloak_authentication_execution': {
      const step = MFA_STEPS[before.authenticator];
      if (step === undefined || before.requirement !== 'REQUIRED') return [];
      if (!after) return [`MFA: ${before.authenticator} (${step}) removed from ${before.parent_flow_alias}`];
      if (after.requirement !== 'REQUIRED' && maskAt(change.change.after_unknown, 'requirement') !== true) return [`MFA: ${before.authenticator} (${step}) in ${before.parent_flow_alias}: REQUIRED → ${shown(after.requirement, undefined)} (weaker)`];
      return [];
    }
    case 'keycloak_authentication_bindings': {
      const builtIn = "Keycloak's built-in flow, which asks for OTP only from users who enrolled a device";
      // Deleting the bindings resets the realm to Keycloak's built-in flows.
      if (!after) return [`MFA: browser flow binding removed (the realm falls back to browser, ${builtIn})`];
      // Unknown until apply (the flow is replaced in the same plan): the flow's own changes say what happens.
      if (maskAt(change.change.after_unknown, 'browser_flow') === true || after.browser_flow === before.browser_flow || after.browser_flow === MFA_BROWSER_FLOW_ALIAS) return [];
      const why = after.browser_flow === 'browser' ? builtIn : `not the estate's flow ${MFA_BROWSER_FLOW_ALIAS}`;
      return [`MFA: browser flow ${shown(before.browser_flow, undefined)} → ${shown(after.browser_flow, undefined)} (${why})`];
    }
    default:
      return [];
  }
}

/**
 * oauth2-proxy's cookie refresh getting longer or removed: it bounds how long a suspended user
 * keeps a signed-in browser. Only that env entry is read: the others hold secrets.
 */
function cookieRefreshRisks(change: ResourceChange): string[] {
  const { before, after } = change.change;
  const refresh = (values: Record<string, any> | null): string | undefined => {
    const entry = ((values?.env ?? []) as unknown[]).find((e): e is string => typeof e === 'string' && e.startsWith('OAUTH2_PROXY_COOKIE_REFRESH='));
    return entry?.slice('OAUTH2_PROXY_COOKIE_REFRESH='.length);
  };
  const was = refresh(before);
  if (!before || !after || was === undefined) return [];
  const now = refresh(after);
  // env can be sensitive as a whole: print the value only in the shape of a duration.
  const display = (value: string) => (isDuration(value) ? value : '(not a duration)');
  if (now === undefined) {
    // An unknown env (known at apply) says nothing about the entry.
    if (containsSensitive(maskAt(change.change.after_unknown, 'env'))) return [];
    return [`oauth2-proxy cookie refresh ${display(was)} → (removed) (a suspended user keeps a signed-in browser until the cookie expires)`];
  }
  if (now === was) return [];
  if (!isDuration(now)) return [`oauth2-proxy cookie refresh ${display(was)} → ${display(now)} (check it: it bounds how long a suspended user keeps a signed-in browser)`];
  if (isDuration(was) && seconds(now) > seconds(was)) return [`oauth2-proxy cookie refresh ${was} → ${now} (longer: a suspended user keeps a signed-in browser longer)`];
  return [];
}

/**
 * The directory federation getting weaker: switched off, passwords over plain LDAP, Keycloak
 * allowed to write to the directory, a user cache (a cached user outlives a roster suspension),
 * no import (the TOTP devices are kept on the imported users), or a replacement (Keycloak deletes
 * the imported users with their TOTP devices). Its search filter changing is roster churn, shown
 * under People. Creating a federation is not a weakening (the estate config refuses plain LDAP
 * outside the local profile).
 */
function directoryRisks(change: ResourceChange): string[] {
  const action = actionOf(change)!;
  const { before, after } = change.change;
  if (!before) return [];
  const name = before.name;
  if (!after) return [`federation ${name} removed: directory sign-in switched off`];
  const out: string[] = [];
  if (action === 'replace') out.push(`federation ${name} replaced: Keycloak deletes the imported users with their TOTP devices, so each enrols a new one with the directory password alone`);
  if (before.enabled === true && after.enabled !== true) out.push(`federation ${name} disabled: directory sign-in switched off`);
  const plain = (values: Record<string, any>) => String(values.connection_url ?? '').split(/\s+/).some((url) => url.toLowerCase().startsWith('ldap://')) && values.start_tls !== true;
  const connection = (side: 'before' | 'after') => {
    const values = change.change[side]!;
    return `${shown(values.connection_url, maskAt(side === 'before' ? change.change.before_sensitive : change.change.after_sensitive, 'connection_url'))}${values.start_tls === true ? ' with StartTLS' : ''}`;
  };
  if (plain(after) && !plain(before)) out.push(`federation ${name}: ${connection('before')} → ${connection('after')} (plain LDAP: directory passwords in clear)`);
  if (before.edit_mode === 'READ_ONLY' && after.edit_mode !== 'READ_ONLY') out.push(`federation ${name}: edit_mode READ_ONLY → ${shown(after.edit_mode, undefined)} (Keycloak may write to the directory)`);
  const policy = (values: Record<string, any>): string => {
    const cache = Array.isArray(values.cache) ? values.cache[0] : values.cache;
    return cache?.policy ?? 'DEFAULT';
  };
  if (policy(before) === 'NO_CACHE' && policy(after) !== 'NO_CACHE') out.push(`federation ${name}: cache policy NO_CACHE → ${policy(after)} (a cached user outlives a roster suspension)`);
  if (before.import_enabled === true && after.import_enabled === false) out.push(`federation ${name}: import_enabled true → false (the TOTP devices of directory users are kept on Keycloak's imported copy)`);
  return out;
}

/** A Go duration as Terraform and oauth2-proxy write it (`150s`, `5m0s`, `1h`). */
/** A Go-style duration as the estate config writes them (the config's own schema decides). */
function isDuration(value: string): boolean {
  return duration.safeParse(value).success;
}

/** Seconds of a duration; 0 for anything else (a plan may hold a value the provider wrote). */
function seconds(value: string): number {
  return isDuration(value ?? '') ? durationSeconds(value) : 0;
}

function peopleOf(change: ResourceChange, groupNames: Map<string, string>, removedIdes: Set<string>): PersonChange[] {
  const action = actionOf(change)!;
  const { before, after } = change.change;
  if (change.type === 'keycloak_user') {
    const username = after?.username ?? before?.username;
    if (action === 'create') return [{ username, change: 'added', detail: `${after!.email}${after!.enabled ? '' : ' (disabled)'}` }];
    if (action === 'delete') return [{ username, change: 'removed', detail: 'Keycloak account deleted' }];
    const out: PersonChange[] = [];
    if (before!.enabled && !after!.enabled) {
      out.push(removedIdes.has(username) ? { username, change: 'archived', detail: 'sign-in disabled, IDE removed, home volume kept' } : { username, change: 'suspended', detail: 'sign-in disabled' });
    }
    if (!before!.enabled && after!.enabled) out.push({ username, change: 're-activated', detail: 'sign-in enabled' });
    for (const key of ['email', 'first_name', 'last_name']) {
      if (before![key] !== after![key]) out.push({ username, change: 'profile', detail: `${key}: ${before![key]} → ${after![key]}` });
    }
    return out;
  }
  if (change.type === 'keycloak_user_groups') {
    const username = /roster_users_(.+)_groups_[0-9A-F]{8}$/.exec(change.address)?.[1] ?? change.address;
    const names = (ids: unknown, unknown: unknown) =>
      Array.isArray(ids) ? ids.map((id, i) => (maskAt(unknown, i) === true || unknown === true ? '(new group)' : groupNames.get(id) ?? id)).sort() : [];
    const was = names(before?.group_ids, undefined);
    const now = names(after?.group_ids, maskAt(change.change.after_unknown, 'group_ids'));
    if (action === 'create' && now.length === 0) return [{ username, change: 'groups', detail: 'groups set at apply time' }];
    const added = now.filter((g) => !was.includes(g));
    const removed = was.filter((g) => !now.includes(g));
    if (added.length + removed.length === 0) return [];
    return [{ username, change: 'groups', detail: [...added.map((g) => `+${g}`), ...removed.map((g) => `-${g}`)].join(' ') }];
  }
  if (change.type === 'keycloak_group_memberships') {
    // Directory mode: one resource per group listing its members by username.
    if (maskAt(change.change.after_unknown, 'members') === true) return [];
    const group = groupNames.get(before?.group_id) ?? /roster_memberships_(.+)_[0-9A-F]{8}$/.exec(change.address)?.[1] ?? change.address;
    const was: string[] = before?.members ?? [];
    const now: string[] = after?.members ?? [];
    return [
      ...now.filter((u) => !was.includes(u)).map((username): PersonChange => ({ username, change: 'groups', detail: `+${group}` })),
      ...was.filter((u) => !now.includes(u)).map((username): PersonChange => ({ username, change: 'groups', detail: `-${group}` })),
    ];
  }
  if (change.type === 'keycloak_ldap_user_federation') {
    // Directory mode: the search filter admits the active roster users, so a change to it is who may sign in.
    const admitted = (side: 'before' | 'after'): string[] | undefined => {
      const values = change.change[side];
      const mask = side === 'before' ? change.change.before_sensitive : change.change.after_sensitive;
      if (values === null) return [];
      if (containsSensitive(maskAt(mask, 'custom_user_search_filter')) || (side === 'after' && maskAt(change.change.after_unknown, 'custom_user_search_filter') === true)) return undefined;
      return filterUsernames(values.custom_user_search_filter, values.username_ldap_attribute);
    };
    const was = admitted('before');
    const now = admitted('after');
    if (was === undefined || now === undefined) return [];
    return [
      ...now.filter((u) => !was.includes(u)).map((username): PersonChange => ({ username, change: 'added', detail: 'directory sign-in allowed (the roster filter admits them)' })),
      ...was
        .filter((u) => !now.includes(u))
        .map((username): PersonChange =>
          removedIdes.has(username)
            ? { username, change: 'archived', detail: 'directory sign-in blocked, IDE removed, home volume kept' }
            : { username, change: 'suspended', detail: 'directory sign-in blocked (the roster filter no longer admits them)' },
        ),
    ];
  }
  if (change.type === 'docker_container' && before && after && labelsOf(after)['webide.component'] === 'workspace') {
    const username = labelsOf(after)['webide.user'];
    const parts: string[] = [];
    if (before.memory !== after.memory) parts.push(`memory ${before.memory} MiB → ${after.memory} MiB`);
    const cpuBefore = labelsOf(before)['webide.cpu-limit'];
    const cpuAfter = labelsOf(after)['webide.cpu-limit'];
    if (cpuBefore !== cpuAfter) parts.push(`cpus ${cpuBefore} → ${cpuAfter}`);
    const diskBefore = labelsOf(before)['webide.disk-quota-mib'];
    const diskAfter = labelsOf(after)['webide.disk-quota-mib'];
    if (diskBefore !== diskAfter) parts.push(`disk ${diskBefore} MiB → ${diskAfter} MiB`);
    return parts.length > 0 ? [{ username, change: 'quota', detail: parts.join(', ') }] : [];
  }
  return [];
}

/** The usernames an LDAP filter made by `rosterFilter` admits: its `(attribute=name)` terms. */
function filterUsernames(filter: unknown, usernameAttribute: unknown): string[] {
  if (typeof filter !== 'string') return [];
  const attribute = typeof usernameAttribute === 'string' ? usernameAttribute.toLowerCase() : undefined;
  return [...filter.matchAll(/\(([^()=!&|]+)=([^()*]+)\)/g)]
    .filter((m) => attribute === undefined || m[1].toLowerCase() === attribute)
    .map((m) => m[2])
    .sort();
}

/** One `groups` row per user: directory mode changes a user's groups in one resource per group. */
function mergeGroupChanges(people: readonly PersonChange[]): PersonChange[] {
  const out: PersonChange[] = [];
  for (const p of people) {
    const last = out[out.length - 1];
    if (!(last && p.change === 'groups' && last.change === 'groups' && last.username === p.username)) {
      out.push(p);
      continue;
    }
    const parts = [...last.detail.split(' '), ...p.detail.split(' ')];
    // Additions first, then removals, each by group name (as for a user's keycloak_user_groups).
    const ordered = parts.every((part) => /^[+-]\S+$/.test(part)) ? parts.sort((x, y) => (x[0] === y[0] ? x.localeCompare(y) : x[0] === '+' ? -1 : 1)) : parts;
    out[out.length - 1] = { ...last, detail: ordered.join(' ') };
  }
  return out;
}

function filesOf(stack: string, change: ResourceChange): FileChange[] {
  if (change.type !== 'docker_container') return [];
  const uploads = (values: Record<string, any> | null) => new Map<string, { content: string; index: number }>(((values?.upload ?? []) as { file: string; content: string }[]).map((u, index) => [u.file, { content: u.content, index }]));
  const before = uploads(change.change.before);
  const after = uploads(change.change.after);
  const out: FileChange[] = [];
  for (const file of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const b = before.get(file);
    const a = after.get(file);
    if (b?.content === a?.content) continue;
    const sensitive =
      (b !== undefined && containsSensitive(maskAt(maskAt(change.change.before_sensitive, 'upload'), b.index))) ||
      (a !== undefined && containsSensitive(maskAt(maskAt(change.change.after_sensitive, 'upload'), a.index)));
    out.push({ stack, address: change.address, file, sensitive, before: sensitive ? undefined : b?.content, after: sensitive ? undefined : a?.content });
  }
  return out;
}
