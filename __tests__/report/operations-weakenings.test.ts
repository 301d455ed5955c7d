import { Testing } from 'cdktf';
import { BackupConfig } from '../../config/backup';
import { backupAgentContract } from '../../constructs/backup';
import { analysePlans, exitCodeOf } from '../../report/analyse';
import { forwardsToSiem, gatewayUserLimits, litellmLogsPrompts } from '../../report/operations';
import { ResourceChange, StackPlan } from '../../report/plan';
import { renderReportJson, renderReportMarkdown } from '../../report/render';
import { renderRsyslogConf } from '../../render/audit-sink';
import { PlatformStack } from '../../stacks/platform-stack';
import { defaultEstate, defaultRoster } from '../helpers/inputs';

type Values = Record<string, any>;

/** One container as the platform stack declares it: its address in a plan and its values. */
interface Declared {
  readonly address: string;
  readonly values: Values;
}

/**
 * The platform stack's containers by Docker name, for the sample estate with its text edited:
 * the values are what a plan shows as `before` / `after` (env, labels, uploaded files).
 */
function platformContainers(edit: (text: string) => string = (text) => text): Map<string, Declared> {
  const estate = defaultEstate(edit);
  const json = JSON.parse(Testing.synth(new PlatformStack(Testing.app(), 'platform', { estate, roster: defaultRoster(estate), stateFile: 'x.tfstate' })));
  const containers = json.resource.docker_container as Record<string, Values>;
  return new Map(Object.entries(containers).map(([id, values]) => [values.name as string, { address: `docker_container.${id}`, values }]));
}

/** Replaces `from` in the estate text, failing when it is not there (the sample changed). */
function replacing(from: string, to: string): (text: string) => string {
  return (text) => {
    if (!text.includes(from)) throw new Error(`the sample estate has no "${from}"`);
    return text.replace(from, to);
  };
}

const compose =
  (...edits: ((text: string) => string)[]) =>
  (text: string) =>
    edits.reduce((t, e) => e(t), text);

const SIEM = replacing('# forward: { host: siem.corp.example', 'forward: { host: siem.corp.example');
/** The sample estate: audit kept 400 days, not forwarded, chat 30/min (burst 10), completion 600/min (burst 40), prompts not logged. */
const SAMPLE = platformContainers();
/** Weaker in every operations setting the platform stack carries. */
const WEAK = platformContainers(
  compose(
    replacing('retentionDays: 400', 'retentionDays: 30'),
    replacing('chat: { perMinute: 30, burst: 10 }', 'chat: { perMinute: 300, burst: 100 }'),
    replacing('completion: { perMinute: 600, burst: 40 }', 'completion: { perMinute: 600, burst: 80 }'),
    replacing('logPrompts: false', 'logPrompts: true'),
  ),
);
/** Stronger in every one: kept longer, forwarded to the SIEM, lower limits. */
const STRONG = platformContainers(
  compose(
    replacing('retentionDays: 400', 'retentionDays: 800'),
    SIEM,
    replacing('chat: { perMinute: 30, burst: 10 }', 'chat: { perMinute: 20, burst: 5 }'),
    replacing('completion: { perMinute: 600, burst: 40 }', 'completion: { perMinute: 300, burst: 20 }'),
  ),
);

function container(estate: Map<string, Declared>, name: string): Declared {
  const found = estate.get(name);
  if (!found) throw new Error(`the platform stack declares no container ${name} (it has ${[...estate.keys()].join(', ')})`);
  return found;
}

type Action = 'create' | 'update' | 'replace' | 'delete';
const ACTIONS: Record<Action, string[]> = { create: ['create'], update: ['update'], replace: ['delete', 'create'], delete: ['delete'] };

/** A change of one container from its values in one estate to its values in another (null: absent). */
function change(action: Action, address: string, before: Values | null, after: Values | null, masks: Partial<ResourceChange['change']> = {}): ResourceChange {
  return { address, type: address.split('.')[0], change: { actions: ACTIONS[action], before, after, ...masks } };
}

/** The same container's values in two estates, as a replacement (how a managed file's change applies) or update. */
function between(name: string, from: Map<string, Declared>, to: Map<string, Declared>, action: Action = 'replace'): ResourceChange {
  return change(action, container(from, name).address, container(from, name).values, container(to, name).values);
}

function plan(stack: string, ...changes: ResourceChange[]): StackPlan {
  return { stack, plan: { resource_changes: changes } };
}

/** The operations risks' messages the plans raise. */
function operationsRisks(...plans: StackPlan[]): string[] {
  return analysePlans(plans)
    .risks.filter((r) => r.category === 'operations')
    .map((r) => r.message);
}

describe('the audit trail', () => {
  it('flags the retention shortened, with both numbers of days', () => {
    expect(operationsRisks(plan('platform', between('webide-audit', SAMPLE, WEAK, 'update')))).toEqual(['audit retention shortened from 400 to 30 days']);
  });

  it('says nothing when the retention gets longer or stays', () => {
    expect(operationsRisks(plan('platform', between('webide-audit', WEAK, SAMPLE, 'update')))).toEqual([]);
    expect(operationsRisks(plan('platform', between('webide-audit', SAMPLE, STRONG)))).toEqual([]);
    expect(operationsRisks(plan('platform', between('webide-audit', SAMPLE, SAMPLE)))).toEqual([]);
  });

  it('flags the sink or the container-events collector removed: the audit trail switched off', () => {
    const sink = container(SAMPLE, 'webide-audit');
    const events = container(SAMPLE, 'webide-audit-events');
    expect(operationsRisks(plan('platform', change('delete', sink.address, sink.values, null), change('delete', events.address, events.values, null)))).toEqual([
      'audit trail switched off: the container-events collector webide-audit-events is removed',
      'audit trail switched off: the audit sink webide-audit is removed',
    ]);
  });

  it('says nothing when the sink or the collector is replaced, or the sink\'s loader is removed with it', () => {
    expect(operationsRisks(plan('platform', between('webide-audit', SAMPLE, SAMPLE), between('webide-audit-events', SAMPLE, SAMPLE)))).toEqual([]);
    // The loader goes with the sink: the sink's own removal is what the approver reads.
    const loader = container(STRONG, 'webide-managed-audit-loader');
    expect(operationsRisks(plan('platform', change('delete', loader.address, loader.values, null)))).toEqual([]);
  });

  it('flags SIEM forwarding switched off in the rendered rsyslog.conf', () => {
    expect(forwardsToSiem(renderRsyslogConf({ forward: { host: 'siem.corp.example', port: 6514, caFilePath: '/etc/ca.pem' } }))).toBe(true);
    expect(forwardsToSiem(renderRsyslogConf())).toBe(false);
    expect(operationsRisks(plan('platform', between('webide-managed-audit-loader', STRONG, SAMPLE)))).toEqual([
      "SIEM forwarding switched off: the audit records stay in the sink's volume only",
    ]);
  });

  it('says nothing when SIEM forwarding is switched on or stays on', () => {
    expect(operationsRisks(plan('platform', between('webide-managed-audit-loader', SAMPLE, STRONG)))).toEqual([]);
    expect(operationsRisks(plan('platform', between('webide-managed-audit-loader', STRONG, STRONG)))).toEqual([]);
  });
});

describe('the per-user AI limits', () => {
  const nginxConf = (estate: Map<string, Declared>) =>
    container(estate, 'webide-managed-nginx-loader').values.upload.find((u: { file: string }) => u.file === '/etc/webide-nginx/nginx.conf').content as string;

  it('reads each kind\'s rate and burst from nginx.conf, in requests per minute', () => {
    expect(gatewayUserLimits(nginxConf(SAMPLE))).toEqual({ chat: { perMinute: 30, burst: 10 }, completion: { perMinute: 600, burst: 40 } });
    expect(gatewayUserLimits(nginxConf(SAMPLE).replace('zone=ai_completion:10m rate=600r/m', 'zone=ai_completion:10m rate=20r/s'))!.completion).toEqual({ perMinute: 1200, burst: 40 });
    expect(gatewayUserLimits('http {')).toBeUndefined();
  });

  it('flags a limit raised, from what to what', () => {
    expect(operationsRisks(plan('platform', between('webide-managed-nginx-loader', SAMPLE, WEAK)))).toEqual([
      'per-user chat limit raised from 30/min (burst 10) to 300/min (burst 100)',
      'per-user completion limit raised from 600/min (burst 40) to 600/min (burst 80)',
    ]);
  });

  it('flags a limit removed: the zone no longer used at the gateway', () => {
    const loader = container(SAMPLE, 'webide-managed-nginx-loader');
    const withConf = (conf: string) => ({ ...loader.values, upload: loader.values.upload.map((u: Values) => (u.file.endsWith('/nginx.conf') ? { ...u, content: conf } : u)) });
    const unlimited = nginxConf(SAMPLE).replace(/^ *limit_req zone=ai_chat burst=\d+ nodelay;\n/gm, '');
    expect(unlimited).not.toBe(nginxConf(SAMPLE));
    expect(operationsRisks(plan('platform', change('replace', loader.address, loader.values, withConf(unlimited))))).toEqual([
      "per-user chat limit removed (was 30/min (burst 10)): a user's chat requests are not limited",
    ]);
  });

  it('says nothing when the limits are lowered or stay', () => {
    expect(operationsRisks(plan('platform', between('webide-managed-nginx-loader', WEAK, SAMPLE)))).toEqual([]);
    expect(operationsRisks(plan('platform', between('webide-managed-nginx-loader', SAMPLE, STRONG)))).toEqual([]);
    expect(operationsRisks(plan('platform', between('webide-managed-nginx-loader', SAMPLE, SAMPLE)))).toEqual([]);
  });
});

describe('prompt logging', () => {
  it('reads turn_off_message_logging from LiteLLM\'s config.yaml', () => {
    const config = (estate: Map<string, Declared>) => container(estate, 'webide-managed-litellm-loader').values.upload.find((u: { file: string }) => u.file === '/etc/litellm/config.yaml').content;
    expect(litellmLogsPrompts(config(SAMPLE))).toBe(false);
    expect(litellmLogsPrompts(config(WEAK))).toBe(true);
    // LiteLLM logs unless told not to.
    expect(litellmLogsPrompts('litellm_settings:\n  drop_params: true\n')).toBe(true);
    expect(litellmLogsPrompts('litellm_settings: [')).toBeUndefined();
  });

  it('flags prompt logging switched on', () => {
    expect(operationsRisks(plan('platform', between('webide-managed-litellm-loader', SAMPLE, WEAK)))).toEqual(['prompt logging switched on: LiteLLM logs prompt and response text']);
  });

  it('says nothing when prompt logging is switched off or stays off', () => {
    expect(operationsRisks(plan('platform', between('webide-managed-litellm-loader', WEAK, SAMPLE)))).toEqual([]);
    expect(operationsRisks(plan('platform', between('webide-managed-litellm-loader', SAMPLE, SAMPLE)))).toEqual([]);
  });

  it('flags a first deploy with prompt logging on (weak on purpose), and not one with it off', () => {
    const on = container(WEAK, 'webide-managed-litellm-loader');
    const off = container(SAMPLE, 'webide-managed-litellm-loader');
    expect(operationsRisks(plan('platform', change('create', on.address, null, on.values)))).toEqual(['prompt logging on: LiteLLM logs prompt and response text (litellm.logPrompts)']);
    expect(operationsRisks(plan('platform', change('create', off.address, null, off.values)))).toEqual([]);
  });
});

describe('backups', () => {
  const BACKUP: BackupConfig = { repository: '/srv/webide-backup', schedule: '02:30', keep: { daily: 7, weekly: 4, monthly: 12 } };
  const AGENT = 'docker_container.backup_agent_container_0A1B2C3D';
  /** Fake secret values; the agent's env is sensitive as a whole because of them. */
  const SECRET_ENV = ['RESTIC_PASSWORD=fixture-restic-password-not-a-secret', 'PGPASSWORD=fixture-db-password-not-a-secret'];
  const sensitiveEnv = { before_sensitive: { env: true }, after_sensitive: { env: true } };

  /** The backup agent's container as backupAgentContract declares it (env as the plan shows it, secrets included). */
  function agent(backup: BackupConfig = BACKUP, usernames: readonly string[] = ['alice', 'bob', 'carol', 'dave']): Values {
    const contract = backupAgentContract({ estateName: 'webide', backup, usernames });
    return {
      name: contract.containerName,
      user: contract.user,
      command: contract.command,
      env: [...Object.entries(contract.env).map(([key, value]) => `${key}=${value}`), ...SECRET_ENV].sort(),
      labels: [{ label: 'webide.estate', value: 'webide' }],
    };
  }
  const update = (before: Values, after: Values) => change('update', AGENT, before, after, sensitiveEnv);
  /** The workspaces stack's record of who has a home after the plan (HomeVolumeGuard's output). */
  const homes = (...usernames: string[]): StackPlan => ({
    stack: 'workspaces',
    plan: { resource_changes: [], output_changes: { home_volume_users: { actions: ['update'], before: ['alice', 'bob', 'carol', 'dave'], after: usernames } } },
  });

  it('flags the backup agent removed: backups switched off', () => {
    expect(operationsRisks(plan('platform', change('delete', AGENT, agent(), null, sensitiveEnv)))).toEqual(['backups switched off: the backup agent webide-backup is removed']);
  });

  it('says nothing when the agent is replaced or its schedule moves', () => {
    expect(operationsRisks(plan('platform', change('replace', AGENT, agent(), agent(), sensitiveEnv)))).toEqual([]);
    expect(operationsRisks(plan('platform', update(agent(), agent({ ...BACKUP, schedule: '23:00' }))))).toEqual([]);
  });

  it('flags fewer snapshots kept, each period from what to what', () => {
    const fewer = agent({ ...BACKUP, keep: { daily: 3, weekly: 4, monthly: 6 } });
    expect(operationsRisks(plan('platform', update(agent(), fewer)))).toEqual(['backup retention shortened: keep-daily 7 → 3, keep-monthly 12 → 6']);
  });

  it('says nothing when more snapshots are kept', () => {
    expect(operationsRisks(plan('platform', update(agent(), agent({ ...BACKUP, keep: { daily: 14, weekly: 8, monthly: 24 } }))))).toEqual([]);
  });

  it('flags a home no longer backed up while its user is still on the roster', () => {
    const withoutCarol = agent(BACKUP, ['alice', 'bob', 'dave']);
    expect(operationsRisks(plan('platform', update(agent(), withoutCarol)), homes('alice', 'bob', 'carol', 'dave'))).toEqual(['backup agent no longer backs up the home of carol']);
    // No plan says who is on the roster (the workspaces stack is not in the report): flagged, saying so.
    expect(operationsRisks(plan('platform', update(agent(), withoutCarol)))).toEqual([
      'backup agent no longer backs up the home of carol (no plan here says whether carol is still on the roster)',
    ]);
    // The roster unchanged: the output is in the prior state only.
    const unchanged: StackPlan = { stack: 'workspaces', plan: { resource_changes: [], prior_state: { values: { outputs: { home_volume_users: { value: ['alice', 'bob', 'carol', 'dave'] } } } } } };
    expect(operationsRisks(plan('platform', update(agent(), withoutCarol)), unchanged)).toEqual(['backup agent no longer backs up the home of carol']);
  });

  it('says nothing when a user leaves the roster for good (retired: no home to back up) or joins it', () => {
    expect(operationsRisks(plan('platform', update(agent(), agent(BACKUP, ['alice', 'bob', 'dave']))), homes('alice', 'bob', 'dave'))).toEqual([]);
    expect(operationsRisks(plan('platform', update(agent(), agent(BACKUP, ['alice', 'bob', 'carol', 'dave', 'erin']))), homes('alice', 'bob', 'carol', 'dave', 'erin'))).toEqual([]);
  });

  it('says nothing while the agent\'s environment is known only at apply', () => {
    const unknown = { ...agent(), env: undefined };
    expect(operationsRisks(plan('platform', change('update', AGENT, agent(), unknown, { ...sensitiveEnv, after_unknown: { env: true } })))).toEqual([]);
  });

  it('flags a first deploy of the Keycloak database without a backup agent, and not one with it', () => {
    const postgres = container(SAMPLE, 'webide-postgres');
    const createPostgres = change('create', postgres.address, null, postgres.values);
    expect(operationsRisks(plan('platform', createPostgres))).toEqual([
      'no backups: the estate is deployed without a backup agent (operations.backup), so neither the Keycloak database nor the homes are backed up',
    ]);
    expect(operationsRisks(plan('platform', createPostgres, change('create', AGENT, null, agent(), { after_sensitive: { env: true } })))).toEqual([]);
    // The agent is deployed already (a no-op in the plan) and the database is created again.
    expect(operationsRisks(plan('platform', createPostgres, change('update', AGENT, agent(), agent(), sensitiveEnv)))).toEqual([]);
    expect(operationsRisks(plan('platform', { ...createPostgres, change: { ...createPostgres.change, actions: ['no-op'] } }))).toEqual([]);
  });

  it('never prints the agent\'s secret environment', () => {
    const plans = [plan('platform', update(agent(), agent({ ...BACKUP, keep: { daily: 1, weekly: 0, monthly: 0 } }, ['alice'])), change('delete', AGENT, agent(), null, sensitiveEnv)), homes('alice', 'bob')];
    const report = analysePlans(plans);
    expect(report.risks.map((r) => r.message)).toContain('backup agent no longer backs up the home of bob');
    const outputs = renderReportMarkdown(report, []) + renderReportJson(report, []);
    for (const entry of SECRET_ENV) expect(outputs).not.toContain(entry.split('=')[1]);
  });
});

describe('a first deploy and the report', () => {
  it('flags no operations setting of the sample estate when it is deployed with a backup agent', () => {
    const creates = [...SAMPLE.values()].map(({ address, values }) => change('create', address, null, values));
    const agent = backupAgentContract({ estateName: 'webide', backup: { repository: '/srv/webide-backup', schedule: '02:30', keep: { daily: 7, weekly: 4, monthly: 12 } }, usernames: ['alice'] });
    const agentValues = { name: agent.containerName, env: Object.entries(agent.env).map(([k, v]) => `${k}=${v}`) };
    expect(operationsRisks(plan('platform', ...creates, change('create', 'docker_container.backup_agent', null, agentValues)))).toEqual([]);
  });

  it('lists the operations risks in the report, after realm security and before the directory, and asks for a second approver', () => {
    const weakened = plan('platform', between('webide-audit', SAMPLE, WEAK, 'update'), between('webide-managed-litellm-loader', SAMPLE, WEAK));
    const identity = plan(
      'identity',
      change('update', 'keycloak_realm.realm_A9708BC4', { realm: 'webide', registration_allowed: false }, { realm: 'webide', registration_allowed: true }),
      change('delete', 'keycloak_ldap_user_federation.directory_ldap_40A37FDA', { name: 'directory', enabled: true }, null),
    );
    const report = analysePlans([weakened, identity]);
    expect(report.risks.map((r) => r.category)).toEqual(['realm-security', 'operations', 'operations', 'directory']);
    expect(exitCodeOf(report)).toBe(3);
    const markdown = renderReportMarkdown(report, []);
    expect(markdown).toContain(`| operations | platform | \`${container(SAMPLE, 'webide-audit').address}\` | audit retention shortened from 400 to 30 days |`);
    expect(markdown).toContain(`| operations | platform | \`${container(SAMPLE, 'webide-managed-litellm-loader').address}\` | prompt logging switched on: LiteLLM logs prompt and response text |`);
  });
});
