import { parse as parseYaml } from 'yaml';
import { USERNAME_PATTERN } from '../config/roster';
import { HOME_VOLUME_USERS_OUTPUT } from '../constructs/home-volume-guard';
import { LOADER_LABEL } from '../constructs/managed-files';
import { EstateNames } from '../constructs/naming';
import { NGINX_PATHS } from '../constructs/nginx-entry';
import { allDirectives, NginxDirective, parseNginxConf } from '../policy/nginx-conf';
import { AUDIT_SINK_ENV, AUDIT_SINK_PATHS } from '../render/audit-sink';
import { GATEWAY_LIMIT_ZONE, UserRate } from '../render/nginx';
import { LITELLM_CONFIG_FILE } from '../stacks/platform-stack';
import { actionOf, containsSensitive, envOf, labelsOf, maskAt, PlanJson, ResourceChange } from './plan';

/**
 * The estate's operations settings (estate.yaml `operations`, `litellm.logPrompts`) as they reach a
 * plan, read back for the change-approval report: what a change weakens. Strengthening changes and
 * first deploys are not risks, except two settings that are weak on purpose and need a second
 * approver even then: prompt logging on, and an estate deployed without backups.
 */

type Values = Record<string, any>;

/** The two kinds of per-user AI limit (operations.aiLimits) and the gateway's zone of each. */
const AI_LIMIT_ZONES = { chat: GATEWAY_LIMIT_ZONE.litellm, completion: GATEWAY_LIMIT_ZONE.tabby } as const;
type AiLimitKind = keyof typeof AI_LIMIT_ZONES;

/** The backup agent's environment (backupAgentContract in constructs/backup.ts). */
const BACKUP_ENV = {
  host: 'BACKUP_HOST',
  homes: 'BACKUP_HOMES',
  keep: { daily: 'BACKUP_KEEP_DAILY', weekly: 'BACKUP_KEEP_WEEKLY', monthly: 'BACKUP_KEEP_MONTHLY' },
} as const;
type KeepPeriod = keyof typeof BACKUP_ENV.keep;

/** What the operations checks need from all the plans, not one change. */
export interface OperationsContext {
  /**
   * Users who still have a home after these plans: the roster's users in any state (the workspaces
   * stack's `home_volume_users` output; retired users are not in it). Undefined when no plan says.
   */
  readonly homeUsers?: ReadonlySet<string>;
  /** Whether any plan keeps or creates the backup agent. */
  readonly backupAgentDeclared: boolean;
}

export function operationsContext(plans: readonly PlanJson[]): OperationsContext {
  let homeUsers: Set<string> | undefined;
  for (const plan of plans) {
    const users = homeUsersOf(plan);
    if (users) homeUsers = new Set([...(homeUsers ?? []), ...users]);
  }
  const backupAgentDeclared = plans.some((plan) =>
    (plan.resource_changes ?? []).some((c) => c.type === 'docker_container' && c.change.after !== null && isBackupAgent(c.change.after)),
  );
  return { homeUsers, backupAgentDeclared };
}

/** The `home_volume_users` output after a plan (its change, else the prior state's value when unchanged). */
function homeUsersOf(plan: PlanJson): string[] | undefined {
  const change = plan.output_changes?.[HOME_VOLUME_USERS_OUTPUT];
  const value = change ? (change.after_unknown === true ? undefined : change.after) : plan.prior_state?.values?.outputs?.[HOME_VOLUME_USERS_OUTPUT]?.value;
  return Array.isArray(value) ? value.filter((u): u is string => typeof u === 'string') : undefined;
}

/** Operations settings a docker_container change weakens, one message each. */
export function operationsRisks(change: ResourceChange, context: OperationsContext): string[] {
  if (change.type !== 'docker_container') return [];
  const action = actionOf(change)!;
  const { before, after } = change.change;
  const labels = labelsOf(before ?? after);
  const component = labels[LOADER_LABEL] === 'true' ? undefined : labels['webide.component'];
  const out: string[] = [];

  if (component === 'audit') out.push(...auditSinkRisks(change));
  if (component === 'audit-events' && action === 'delete') out.push(`audit trail switched off: the container-events collector ${before!.name} is removed`);
  out.push(...siemForwardingRisks(change));
  out.push(...aiLimitRisks(change));
  out.push(...promptLoggingRisks(change));
  if ((before !== null && isBackupAgent(before)) || (after !== null && isBackupAgent(after))) out.push(...backupRisks(change, context));
  if (component === 'postgres' && action === 'create' && !context.backupAgentDeclared) {
    out.push('no backups: the estate is deployed without a backup agent (operations.backup), so neither the Keycloak database nor the homes are backed up');
  }
  return out;
}

/** The audit sink removed (not replaced), or its retention shortened. */
function auditSinkRisks(change: ResourceChange): string[] {
  const { before, after } = change.change;
  if (!before) return [];
  if (!after) return [`audit trail switched off: the audit sink ${before.name} is removed`];
  const was = auditRetentionDays(before);
  const now = auditRetentionDays(after);
  if (was !== undefined && now !== undefined && now < was) return [`audit retention shortened from ${was} to ${now} days`];
  return [];
}

/** Days the audit sink keeps its records (its pruner's environment); undefined when not a number of days. */
export function auditRetentionDays(sink: Values): number | undefined {
  return wholeNumber(envOf(sink)[AUDIT_SINK_ENV.retentionDays]);
}

/** The sink's rsyslog.conf losing its SIEM forwarder. Its removal with the sink is the sink's risk. */
function siemForwardingRisks(change: ResourceChange): string[] {
  const was = uploadedFile(change.change.before, AUDIT_SINK_PATHS.conf);
  const now = uploadedFile(change.change.after, AUDIT_SINK_PATHS.conf);
  if (was === undefined || now === undefined) return [];
  return forwardsToSiem(was) && !forwardsToSiem(now) ? ["SIEM forwarding switched off: the audit records stay in the sink's volume only"] : [];
}

/** Whether the audit sink's rsyslog.conf forwards the records to the SIEM: an omfwd action (render/audit-sink.ts). */
export function forwardsToSiem(rsyslogConf: string): boolean {
  return /^\s*action\(type="omfwd"/m.test(rsyslogConf);
}

/** A per-user AI limit raised (rate or burst) or removed, in nginx.conf. */
function aiLimitRisks(change: ResourceChange): string[] {
  const was = uploadedFile(change.change.before, NGINX_PATHS.config);
  const now = uploadedFile(change.change.after, NGINX_PATHS.config);
  if (was === undefined || now === undefined || was === now) return [];
  const limitsWere = gatewayUserLimits(was);
  const limitsNow = gatewayUserLimits(now);
  if (!limitsWere || !limitsNow) return [];
  const out: string[] = [];
  for (const kind of Object.keys(AI_LIMIT_ZONES) as AiLimitKind[]) {
    const before = limitsWere[kind];
    const after = limitsNow[kind];
    if (!before) continue;
    if (!after) out.push(`per-user ${kind} limit removed (was ${rate(before)}): a user's ${kind} requests are not limited`);
    else if (after.perMinute > before.perMinute || after.burst > before.burst) out.push(`per-user ${kind} limit raised from ${rate(before)} to ${rate(after)}`);
  }
  return out;
}

function rate(limit: UserRate): string {
  return `${limit.perMinute}/min (burst ${limit.burst})`;
}

/**
 * The AI gateway's per-user limits in an nginx.conf: for each kind, the rate of its
 * `limit_req_zone` (per minute) and the largest burst of the `limit_req` lines that use the zone.
 * A kind whose zone is not declared or not used is absent: not limited. Undefined when the file
 * cannot be read (the ai-gateway check reports that).
 */
export function gatewayUserLimits(nginxConf: string): Partial<Record<AiLimitKind, UserRate>> | undefined {
  let directives: NginxDirective[];
  try {
    directives = allDirectives(parseNginxConf(nginxConf));
  } catch {
    return undefined;
  }
  const argument = (d: NginxDirective, key: string) => d.args.find((a) => a.startsWith(`${key}=`))?.slice(key.length + 1);
  const out: Partial<Record<AiLimitKind, UserRate>> = {};
  for (const kind of Object.keys(AI_LIMIT_ZONES) as AiLimitKind[]) {
    const zone = AI_LIMIT_ZONES[kind];
    const declared = directives.find((d) => d.name === 'limit_req_zone' && argument(d, 'zone')?.split(':')[0] === zone);
    const perMinute = perMinuteOf(declared && argument(declared, 'rate'));
    const bursts = directives.filter((d) => d.name === 'limit_req' && argument(d, 'zone') === zone).map((d) => wholeNumber(argument(d, 'burst') ?? '0'));
    if (perMinute === undefined || bursts.length === 0 || bursts.some((b) => b === undefined)) continue;
    out[kind] = { perMinute, burst: Math.max(...(bursts as number[])) };
  }
  return out;
}

/** nginx's `rate=` value (`30r/m`, `5r/s`) in requests per minute. */
function perMinuteOf(rateArg: string | undefined): number | undefined {
  const match = /^(\d+)r\/([sm])$/.exec(rateArg ?? '');
  if (!match) return undefined;
  return Number(match[1]) * (match[2] === 's' ? 60 : 1);
}

/** LiteLLM's config.yaml switching prompt logging on; on a first deploy, prompt logging on at all. */
function promptLoggingRisks(change: ResourceChange): string[] {
  const now = uploadedFile(change.change.after, LITELLM_CONFIG_FILE);
  if (now === undefined || litellmLogsPrompts(now) !== true) return [];
  const was = uploadedFile(change.change.before, LITELLM_CONFIG_FILE);
  if (was === undefined) return ['prompt logging on: LiteLLM logs prompt and response text (litellm.logPrompts)'];
  return litellmLogsPrompts(was) === false ? ['prompt logging switched on: LiteLLM logs prompt and response text'] : [];
}

/**
 * Whether a LiteLLM config.yaml lets LiteLLM log prompt and response text: unless
 * `litellm_settings.turn_off_message_logging` is true (LiteLLM's default is to log). Undefined
 * when the file is not YAML.
 */
export function litellmLogsPrompts(configYaml: string): boolean | undefined {
  let config: unknown;
  try {
    config = parseYaml(configYaml);
  } catch {
    return undefined;
  }
  const settings = (config as { litellm_settings?: { turn_off_message_logging?: unknown } } | null)?.litellm_settings;
  return settings?.turn_off_message_logging !== true;
}

/**
 * The backup agent (backupAgentContract): the container named `<estate>-backup` for the estate its
 * own BACKUP_HOST names.
 */
export function isBackupAgent(container: Values): boolean {
  const host = envOf(container)[BACKUP_ENV.host];
  return typeof host === 'string' && host !== '' && container.name === new EstateNames(host).service('backup');
}

/** What the backup agent keeps and covers, from its environment. Only numbers and usernames are read. */
export interface BackupAgentSettings {
  /** restic's --keep-daily/weekly/monthly; undefined where not a number. */
  readonly keep: Readonly<Record<KeepPeriod, number | undefined>>;
  /** Users whose homes it backs up (BACKUP_HOMES), each a valid username. */
  readonly homes: readonly string[];
}

export function backupAgentSettings(container: Values): BackupAgentSettings {
  const env = envOf(container);
  const keep = Object.fromEntries((Object.keys(BACKUP_ENV.keep) as KeepPeriod[]).map((period) => [period, wholeNumber(env[BACKUP_ENV.keep[period]])]));
  return {
    keep: keep as Record<KeepPeriod, number | undefined>,
    homes: (env[BACKUP_ENV.homes] ?? '').split(' ').filter((u) => USERNAME_PATTERN.test(u)),
  };
}

/**
 * The backup agent removed (not replaced), keeping fewer snapshots, or no longer backing up the
 * home of a user who still has one. A user who left the roster (retired, so their home is
 * deleted) dropping out of the list is a roster change, shown under People, not a risk. Its
 * environment is sensitive as a whole (the repository password): only numbers and usernames
 * are printed from it.
 */
function backupRisks(change: ResourceChange, context: OperationsContext): string[] {
  const { before, after } = change.change;
  if (!before) return [];
  if (!after) return [`backups switched off: the backup agent ${before.name} is removed`];
  // An environment known only at apply says nothing yet.
  if (containsSensitive(maskAt(change.change.after_unknown, 'env'))) return [];
  const was = backupAgentSettings(before);
  const now = backupAgentSettings(after);
  const out: string[] = [];
  const shorter = (Object.keys(BACKUP_ENV.keep) as KeepPeriod[]).filter((p) => was.keep[p] !== undefined && now.keep[p] !== undefined && now.keep[p]! < was.keep[p]!);
  if (shorter.length > 0) out.push(`backup retention shortened: ${shorter.map((p) => `keep-${p} ${was.keep[p]} → ${now.keep[p]}`).join(', ')}`);
  for (const username of was.homes.filter((u) => !now.homes.includes(u))) {
    if (context.homeUsers === undefined) out.push(`backup agent no longer backs up the home of ${username} (no plan here says whether ${username} is still on the roster)`);
    else if (context.homeUsers.has(username)) out.push(`backup agent no longer backs up the home of ${username}`);
  }
  return out;
}

/** A file a container receives (`upload`), or undefined. */
function uploadedFile(container: Values | null, file: string): string | undefined {
  return ((container?.upload ?? []) as { file: string; content?: unknown }[]).find((u) => u.file === file && typeof u.content === 'string')?.content as string | undefined;
}

/** A non-negative whole number written in decimal digits; undefined for anything else. */
function wholeNumber(text: string | undefined): number | undefined {
  return text !== undefined && /^\d{1,9}$/.test(text) ? Number(text) : undefined;
}
