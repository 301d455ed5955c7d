import { analysePlans, exitCodeOf } from '../../report/analyse';
import { ResourceChange, StackPlan } from '../../report/plan';
import { renderReportJson, renderReportMarkdown } from '../../report/render';
import { MFA_BROWSER_FLOW_ALIAS } from '../../constructs/mfa-browser-flow';

type Values = Record<string, any>;

/** One resource change as `terraform show -json` writes it; `before` null for a create, `after` null for a delete. */
function change(address: string, before: Values | null, after: Values | null, masks: Partial<ResourceChange['change']> = {}): ResourceChange {
  const actions = before === null ? ['create'] : after === null ? ['delete'] : ['update'];
  return { address, type: address.split('.')[0], change: { actions, before, after, ...masks } };
}

function replaced(c: ResourceChange): ResourceChange {
  return { ...c, change: { ...c.change, actions: ['delete', 'create'] } };
}

function plan(stack: string, ...changes: ResourceChange[]): StackPlan {
  return { stack, plan: { resource_changes: changes } };
}

/** `category: message` of every risk the plans raise. */
function risksOf(...plans: StackPlan[]): string[] {
  return analysePlans(plans).risks.map((r) => `${r.category}: ${r.message}`);
}

describe('MFA: the estate browser flow (password and TOTP both required)', () => {
  const FORMS = `${MFA_BROWSER_FLOW_ALIAS}-forms`;
  const flow = { alias: MFA_BROWSER_FLOW_ALIAS, provider_id: 'basic-flow' };
  const forms = { alias: FORMS, parent_flow_alias: MFA_BROWSER_FLOW_ALIAS, requirement: 'ALTERNATIVE' };
  const execution = (authenticator: string, requirement: string, parent = FORMS) => ({ authenticator, requirement, parent_flow_alias: parent, realm_id: 'webide' });
  const otp = (requirement: string) => execution('auth-otp-form', requirement);
  const password = (requirement: string) => execution('auth-username-password-form', requirement);
  const bindings = (browserFlow: string) => ({ realm_id: 'webide', browser_flow: browserFlow, direct_grant_flow: 'direct grant' });
  const OTP = 'keycloak_authentication_execution.browser-flow_otp_8A4E0A51';
  const PASSWORD = 'keycloak_authentication_execution.browser-flow_password_3F1C2B7D';
  const BINDINGS = 'keycloak_authentication_bindings.browser-flow_bindings_1B2C3D4E';

  it('flags the TOTP or password step no longer REQUIRED', () => {
    expect(risksOf(plan('identity', change(OTP, otp('REQUIRED'), otp('CONDITIONAL')), change(PASSWORD, password('REQUIRED'), password('DISABLED'))))).toEqual([
      `realm-security: MFA: auth-otp-form (TOTP code) in ${FORMS}: REQUIRED → CONDITIONAL (weaker)`,
      `realm-security: MFA: auth-username-password-form (password) in ${FORMS}: REQUIRED → DISABLED (weaker)`,
    ]);
  });

  it('flags the TOTP step removed, and the flow or its subflow removed', () => {
    expect(risksOf(plan('identity', change(OTP, otp('REQUIRED'), null)))).toEqual([`realm-security: MFA: auth-otp-form (TOTP code) removed from ${FORMS}`]);
    expect(
      risksOf(plan('identity', change('keycloak_authentication_flow.browser-flow_flow_5D6E7F80', flow, null), change('keycloak_authentication_subflow.browser-flow_forms_91024C13', forms, null))),
    ).toEqual([`realm-security: MFA: browser flow ${MFA_BROWSER_FLOW_ALIAS} removed`, `realm-security: MFA: subflow ${FORMS} removed`]);
  });

  it("flags the realm's browser binding moved back to Keycloak's built-in flow, to another flow, or removed", () => {
    expect(risksOf(plan('identity', change(BINDINGS, bindings(MFA_BROWSER_FLOW_ALIAS), bindings('browser'))))).toEqual([
      `realm-security: MFA: browser flow ${MFA_BROWSER_FLOW_ALIAS} → browser (Keycloak's built-in flow, which asks for OTP only from users who enrolled a device)`,
    ]);
    expect(risksOf(plan('identity', change(BINDINGS, bindings(MFA_BROWSER_FLOW_ALIAS), bindings('password-only'))))).toEqual([
      `realm-security: MFA: browser flow ${MFA_BROWSER_FLOW_ALIAS} → password-only (not the estate's flow ${MFA_BROWSER_FLOW_ALIAS})`,
    ]);
    expect(risksOf(plan('identity', change(BINDINGS, bindings(MFA_BROWSER_FLOW_ALIAS), null)))).toEqual([
      "realm-security: MFA: browser flow binding removed (the realm falls back to browser, Keycloak's built-in flow, which asks for OTP only from users who enrolled a device)",
    ]);
  });

  it('says nothing when a first deploy creates the flow, or when nothing weakens', () => {
    const firstDeploy = plan(
      'identity',
      change('keycloak_authentication_flow.browser-flow_flow_5D6E7F80', null, flow),
      change('keycloak_authentication_subflow.browser-flow_forms_91024C13', null, forms),
      change('keycloak_authentication_execution.browser-flow_cookie_0A1B2C3D', null, execution('auth-cookie', 'ALTERNATIVE', MFA_BROWSER_FLOW_ALIAS)),
      change(PASSWORD, null, password('REQUIRED')),
      change(OTP, null, otp('REQUIRED')),
      change(BINDINGS, null, bindings(MFA_BROWSER_FLOW_ALIAS)),
    );
    expect(risksOf(firstDeploy)).toEqual([]);
    expect(exitCodeOf(analysePlans([firstDeploy]))).toBe(2);
    // From Keycloak's built-in flow to the estate's: stronger.
    expect(risksOf(plan('identity', change(BINDINGS, bindings('browser'), bindings(MFA_BROWSER_FLOW_ALIAS))))).toEqual([]);
    // Another binding of the realm changes; the browser flow stays.
    expect(risksOf(plan('identity', change(BINDINGS, bindings(MFA_BROWSER_FLOW_ALIAS), { ...bindings(MFA_BROWSER_FLOW_ALIAS), direct_grant_flow: 'other' })))).toEqual([]);
    // The browser flow is known at apply only (the flow is replaced in the same plan).
    expect(risksOf(plan('identity', change(BINDINGS, bindings(MFA_BROWSER_FLOW_ALIAS), { realm_id: 'webide' }, { after_unknown: { browser_flow: true } })))).toEqual([]);
    // Re-created as it was; the SSO cookie step is no MFA step; an execution that was not required.
    expect(risksOf(plan('identity', replaced(change(OTP, otp('REQUIRED'), otp('REQUIRED')))))).toEqual([]);
    expect(risksOf(plan('identity', change('keycloak_authentication_execution.c', execution('auth-cookie', 'ALTERNATIVE'), execution('auth-cookie', 'DISABLED'))))).toEqual([]);
    expect(risksOf(plan('identity', change(OTP, otp('CONDITIONAL'), otp('DISABLED'))))).toEqual([]);
    // Another flow removed.
    expect(risksOf(plan('identity', change('keycloak_authentication_flow.other', { alias: 'other' }, null)))).toEqual([]);
  });
});

describe('the revocation window', () => {
  const SECRET = 'fixture-cookie-secret-not-a-secret';
  const proxy = (refresh: string | undefined) => ({
    name: 'webide-oauth2-proxy',
    env: ['OAUTH2_PROXY_CLIENT_ID=webide-ide', `OAUTH2_PROXY_COOKIE_SECRET=${SECRET}`, ...(refresh === undefined ? [] : [`OAUTH2_PROXY_COOKIE_REFRESH=${refresh}`])].sort(),
    labels: [{ label: 'webide.component', value: 'oauth2-proxy' }],
  });
  const PROXY = 'docker_container.oauth2-proxy_container_122DFCFC';
  /** The env is sensitive as a whole, as in real plans (it holds the cookie and client secrets). */
  const sensitiveEnv = { before_sensitive: { env: true }, after_sensitive: { env: true } };
  const realm = (accessTokenLifespan: string) => ({ realm: 'webide', access_token_lifespan: accessTokenLifespan, sso_session_idle_timeout: '30m0s' });
  const REALM = 'keycloak_realm.realm_A9708BC4';

  it("flags oauth2-proxy's cookie refresh getting longer or removed, printing no other env entry", () => {
    const longer = plan('edge', change(PROXY, proxy('150s'), proxy('600s'), sensitiveEnv));
    expect(risksOf(longer)).toEqual(['realm-security: oauth2-proxy cookie refresh 150s → 600s (longer: a suspended user keeps a signed-in browser longer)']);
    const removed = plan('edge', change(PROXY, proxy('150s'), proxy(undefined), sensitiveEnv));
    expect(risksOf(removed)).toEqual(['realm-security: oauth2-proxy cookie refresh 150s → (removed) (a suspended user keeps a signed-in browser until the cookie expires)']);
    const unreadable = plan('edge', change(PROXY, proxy('150s'), proxy(`x${SECRET}`), sensitiveEnv));
    expect(risksOf(unreadable)).toEqual(['realm-security: oauth2-proxy cookie refresh 150s → (not a duration) (check it: it bounds how long a suspended user keeps a signed-in browser)']);
    const report = analysePlans([longer, removed, unreadable]);
    expect(renderReportMarkdown(report, []) + renderReportJson(report, [])).not.toContain(SECRET);
  });

  it('says nothing when the cookie refresh gets shorter, stays, or the env is known at apply only', () => {
    expect(risksOf(plan('edge', change(PROXY, proxy('300s'), proxy('150s'), sensitiveEnv)))).toEqual([]);
    expect(risksOf(plan('edge', change(PROXY, proxy('150s'), { ...proxy('150s'), memory: 256 }, sensitiveEnv)))).toEqual([]);
    expect(risksOf(plan('edge', change(PROXY, proxy('150s'), { ...proxy(undefined), env: undefined }, { ...sensitiveEnv, after_unknown: { env: true } })))).toEqual([]);
    expect(risksOf(plan('edge', change(PROXY, null, proxy('150s'), sensitiveEnv)))).toEqual([]);
  });

  it("flags the access token's life (the revocation window) getting longer, not shorter", () => {
    expect(risksOf(plan('identity', change(REALM, realm('5m0s'), realm('15m0s'))))).toEqual(['realm-security: access_token_lifespan: 5m0s → 15m0s (longer)']);
    expect(risksOf(plan('identity', change(REALM, realm('5m0s'), realm('2m30s'))))).toEqual([]);
  });
});

describe('the directory federation', () => {
  const BIND_PASSWORD = 'fixture-bind-password-not-a-secret';
  const LDAP = 'keycloak_ldap_user_federation.directory_ldap_40A37FDA';
  const federation = (overrides: Values = {}) => ({
    name: 'directory',
    enabled: true,
    connection_url: 'ldaps://ldap.corp.example:636',
    start_tls: false,
    edit_mode: 'READ_ONLY',
    import_enabled: true,
    username_ldap_attribute: 'uid',
    custom_user_search_filter: '(|(uid=alice)(uid=bob))',
    bind_credential: BIND_PASSWORD,
    cache: [{ policy: 'NO_CACHE', max_lifespan: '', eviction_day: null }],
    ...overrides,
  });
  const masks = { before_sensitive: { bind_credential: true }, after_sensitive: { bind_credential: true } };
  const update = (before: Values, after: Values) => plan('identity', change(LDAP, federation(before), federation(after), masks));

  it('flags directory sign-in switched off: the federation removed or disabled', () => {
    expect(risksOf(plan('identity', change(LDAP, federation(), null, masks)))).toEqual(['directory: federation directory removed: directory sign-in switched off']);
    expect(risksOf(update({}, { enabled: false }))).toEqual(['directory: federation directory disabled: directory sign-in switched off']);
  });

  it('flags plain LDAP: ldaps:// to ldap:// without StartTLS, or StartTLS turned off', () => {
    expect(risksOf(update({}, { connection_url: 'ldap://ldap.corp.example:389' }))).toEqual([
      'directory: federation directory: ldaps://ldap.corp.example:636 → ldap://ldap.corp.example:389 (plain LDAP: directory passwords in clear)',
    ]);
    expect(risksOf(update({ connection_url: 'ldap://ldap.corp.example:389', start_tls: true }, { connection_url: 'ldap://ldap.corp.example:389', start_tls: false }))).toEqual([
      'directory: federation directory: ldap://ldap.corp.example:389 with StartTLS → ldap://ldap.corp.example:389 (plain LDAP: directory passwords in clear)',
    ]);
  });

  it('flags a writable directory, a user cache, no import, and a replaced federation', () => {
    expect(risksOf(update({}, { edit_mode: 'WRITABLE' }))).toEqual(['directory: federation directory: edit_mode READ_ONLY → WRITABLE (Keycloak may write to the directory)']);
    expect(risksOf(update({}, { cache: [{ policy: 'DEFAULT' }] }))).toEqual(['directory: federation directory: cache policy NO_CACHE → DEFAULT (a cached user outlives a roster suspension)']);
    expect(risksOf(update({}, { cache: [] }))).toEqual(['directory: federation directory: cache policy NO_CACHE → DEFAULT (a cached user outlives a roster suspension)']);
    expect(risksOf(update({}, { import_enabled: false }))).toEqual([
      "directory: federation directory: import_enabled true → false (the TOTP devices of directory users are kept on Keycloak's imported copy)",
    ]);
    expect(risksOf(plan('identity', replaced(change(LDAP, federation(), federation({ vendor: 'AD' }), masks))))).toEqual([
      'directory: federation directory replaced: Keycloak deletes the imported users with their TOTP devices, so each enrols a new one with the directory password alone',
    ]);
  });

  it('shows directory risks under their own category, and never the bind password', () => {
    const report = analysePlans([update({}, { edit_mode: 'WRITABLE', bind_credential: `${BIND_PASSWORD}-2` })]);
    const outputs = renderReportMarkdown(report, []) + renderReportJson(report, []);
    expect(outputs).toContain(`| directory | identity | \`${LDAP}\` | federation directory: edit_mode READ_ONLY → WRITABLE (Keycloak may write to the directory) |`);
    expect(outputs).not.toContain(BIND_PASSWORD);
  });

  it('says nothing for roster churn in the filter, StartTLS turned on, ldaps:// adopted, or a first deploy', () => {
    expect(risksOf(update({}, { custom_user_search_filter: '(|(uid=alice)(uid=carol))' }))).toEqual([]);
    expect(risksOf(update({ connection_url: 'ldap://ldap.corp.example:389' }, { connection_url: 'ldap://ldap.corp.example:389', start_tls: true }))).toEqual([]);
    expect(risksOf(update({ connection_url: 'ldap://ldap.corp.example:389', start_tls: true }, {}))).toEqual([]);
    expect(risksOf(update({ cache: [{ policy: 'DEFAULT' }] }, {}))).toEqual([]);
    expect(risksOf(plan('identity', change(LDAP, null, federation(), { after_sensitive: { bind_credential: true } })))).toEqual([]);
  });
});

describe('people in directory mode', () => {
  const LDAP = 'keycloak_ldap_user_federation.directory_ldap_40A37FDA';
  const DEVELOPERS = 'keycloak_group_memberships.roster_memberships_developers_A4B850AA';
  const ADMINS = 'keycloak_group_memberships.roster_memberships_platform-admins_C08C8E1C';
  const federation = (filter: string) => ({ name: 'directory', enabled: true, username_ldap_attribute: 'uid', custom_user_search_filter: filter });
  const members = (groupId: string | undefined, usernames: string[]) => ({ realm_id: 'webide', group_id: groupId, members: usernames });
  const people = (...plans: StackPlan[]) => analysePlans(plans).people.map((p) => [p.username, p.change, p.detail]);

  it('reads group membership changes per user, one row per user', () => {
    const edit = plan(
      'identity',
      change(DEVELOPERS, members('g-dev', ['alice', 'bob']), members('g-dev', ['alice', 'carol'])),
      change(ADMINS, members('g-admins', ['bob']), members('g-admins', ['carol'])),
    );
    expect(people(edit)).toEqual([
      ['bob', 'groups', '-developers -platform-admins'],
      ['carol', 'groups', '+developers +platform-admins'],
    ]);
  });

  it('names a group by its Keycloak name where the prior state has it', () => {
    const edit: StackPlan = {
      stack: 'identity',
      plan: {
        resource_changes: [change(DEVELOPERS, members('g-dev', ['alice']), members('g-dev', ['alice', 'bob']))],
        prior_state: { values: { root_module: { resources: [{ address: 'keycloak_group.x', type: 'keycloak_group', values: { id: 'g-dev', name: 'devs' } }] } } },
      },
    };
    expect(people(edit)).toEqual([['bob', 'groups', '+devs']]);
  });

  it('reads the roster filter as who may sign in: admitted, suspended, archived (IDE removed)', () => {
    const ideRemoved = plan('workspaces', {
      address: 'docker_container.users_dave_ide_container_ABCDEF12',
      type: 'docker_container',
      change: { actions: ['delete'], before: { name: 'webide-ide-dave', labels: [{ label: 'webide.component', value: 'workspace' }, { label: 'webide.user', value: 'dave' }] }, after: null },
    });
    const edit = plan('identity', change(LDAP, federation('(|(uid=alice)(uid=bob)(uid=dave))'), federation('(|(uid=alice)(uid=carol))')));
    expect(people(edit, ideRemoved)).toEqual([
      ['bob', 'suspended', 'directory sign-in blocked (the roster filter no longer admits them)'],
      ['carol', 'added', 'directory sign-in allowed (the roster filter admits them)'],
      ['dave', 'archived', 'directory sign-in blocked, IDE removed, home volume kept'],
    ]);
    expect(exitCodeOf(analysePlans([edit]))).toBe(2);
  });

  it('on a first deploy lists the admitted users and their groups; nobody admitted reads as nobody', () => {
    const firstDeploy = plan(
      'identity',
      change(LDAP, null, federation('(uid=alice)')),
      change(DEVELOPERS, null, members(undefined, ['alice']), { after_unknown: { group_id: true } }),
      change(ADMINS, null, members(undefined, []), { after_unknown: { group_id: true } }),
    );
    expect(people(firstDeploy)).toEqual([
      ['alice', 'added', 'directory sign-in allowed (the roster filter admits them)'],
      ['alice', 'groups', '+developers'],
    ]);
    expect(people(plan('identity', change(LDAP, null, federation('(!(objectClass=*))'))))).toEqual([]);
  });
});
