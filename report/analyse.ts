import { NGINX_PATHS } from '../constructs/nginx-entry';
import { LOADER_LABEL } from '../constructs/managed-files';
import { aiGatewayClosed, gatewayForwards, gatewayViolations } from '../policy/rules/ai-gateway';
import { actionOf, Action, containsSensitive, labelsOf, maskAt, ResourceChange, shown, StackPlan, UnplannedStack } from './plan';

export type RiskCategory = 'data' | 'network' | 'privilege' | 'ai-gateway' | 'realm-security' | 'client' | 'gpu' | 'image';

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

export interface PlanReport {
  readonly summary: readonly StackSummary[];
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
  for (const { stack, change } of changes) {
    risks.push(...risksOf(stack, change));
    people.push(...peopleOf(change, groupNames, removedIdes));
    files.push(...filesOf(stack, change));
  }
  const order: RiskCategory[] = ['data', 'realm-security', 'privilege', 'ai-gateway', 'network', 'client', 'gpu', 'image'];
  risks.sort((a, b) => order.indexOf(a.category) - order.indexOf(b.category) || a.address.localeCompare(b.address));
  people.sort((a, b) => a.username.localeCompare(b.username) || a.change.localeCompare(b.change));
  return { summary, unplanned, people, risks, files };
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

function risksOf(stack: string, change: ResourceChange): Risk[] {
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
      break;
    }
    case 'keycloak_realm':
      out.push(...realmRisks(change).map((message) => risk('realm-security', message)));
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

function seconds(duration: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration ?? '');
  return match ? Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0) : 0;
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
