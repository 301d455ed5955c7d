import { Testing } from 'cdktf';
import { Realm } from '../../.gen/providers/keycloak/realm';
import { RealmEvents } from '../../.gen/providers/keycloak/realm-events';
import { OpenidClient } from '../../.gen/providers/keycloak/openid-client';
import { RequiredAction } from '../../.gen/providers/keycloak/required-action';
import { passwordPolicyString } from '../../constructs/secure-realm';
import { IdentityStack } from '../../stacks/identity-stack';
import { defaultEstate, defaultRoster, rosterFromText } from '../helpers/inputs';
import { resourcesOf } from '../helpers/json';

function synthIdentity(rosterText?: string) {
  const estate = defaultEstate();
  const roster = rosterText ? rosterFromText(rosterText, estate) : defaultRoster(estate);
  const stack = new IdentityStack(Testing.app(), 'identity', { estate, roster, stateFile: 'terraform.identity.tfstate' });
  const synthesized = Testing.synth(stack);
  return { synthesized, json: JSON.parse(synthesized) };
}

describe('IdentityStack', () => {
  it('hardens the realm: brute force, password policy, TOTP, session limits, no self-registration', () => {
    expect(synthIdentity().synthesized).toHaveResourceWithProperties(Realm, {
      realm: 'webide',
      enabled: true,
      registration_allowed: false,
      reset_password_allowed: false,
      password_policy:
        'length(12) and upperCase(1) and lowerCase(1) and digits(1) and specialChars(1) and notUsername(undefined) and passwordHistory(5) and forceExpiredPasswordChange(90)',
      sso_session_idle_timeout: '30m',
      sso_session_max_lifespan: '10h',
      otp_policy: { type: 'totp', algorithm: 'HmacSHA1', digits: 6, period: 30, look_ahead_window: 1 },
      security_defenses: expect.objectContaining({
        brute_force_detection: {
          permanent_lockout: false,
          max_login_failures: 5,
          wait_increment_seconds: 60,
          max_failure_wait_seconds: 900,
          failure_reset_time_seconds: 43200,
        },
      }),
      attributes: { adminEventsExpiration: String(90 * 86400) },
    });
  });

  it('turns login and admin events on, with details and an expiry, keeping the server-log listener', () => {
    expect(synthIdentity().synthesized).toHaveResourceWithProperties(RealmEvents, {
      events_enabled: true,
      events_expiration: 90 * 86400,
      admin_events_enabled: true,
      admin_events_details_enabled: true,
      events_listeners: ['jboss-logging'],
    });
  });

  it('requires every user to configure TOTP', () => {
    const { synthesized, json } = synthIdentity();
    expect(synthesized).toHaveResourceWithProperties(RequiredAction, { alias: 'CONFIGURE_TOTP', enabled: true, default_action: true });
    const users = Object.values(json.resource.keycloak_user) as Array<Record<string, any>>;
    for (const user of users) {
      expect(user.required_actions).toEqual(['CONFIGURE_TOTP']);
      expect(user.lifecycle.ignore_changes).toEqual(['required_actions']);
    }
  });

  it('has one confidential client with PKCE and exactly the oauth2-proxy callback as redirect URI', () => {
    expect(synthIdentity().synthesized).toHaveResourceWithProperties(OpenidClient, {
      client_id: 'webide-ide',
      access_type: 'CONFIDENTIAL',
      standard_flow_enabled: true,
      implicit_flow_enabled: false,
      direct_access_grants_enabled: false,
      pkce_code_challenge_method: 'S256',
      valid_redirect_uris: ['https://ide.corp.example/oauth2/callback'],
      web_origins: ['https://ide.corp.example'],
    });
  });

  it('makes roster groups Keycloak groups and roster users Keycloak users in them; suspended and archived users are disabled', () => {
    const { json } = synthIdentity(`groups:
  - name: developers
  - name: platform-admins
users:
  - { username: alice, email: alice@corp.example, name: Alice Kim, groups: [developers, platform-admins] }
  - { username: dave, email: dave@corp.example, name: Dave Choi, groups: [developers], state: suspended }
  - { username: erin, email: erin@corp.example, name: Erin Yoon, state: archived }
`);
    const resources = resourcesOf(json);
    const groups = [...resources].filter(([key]) => key.startsWith('keycloak_group.')).map(([, body]) => body.name);
    expect(groups.sort()).toEqual(['developers', 'platform-admins']);
    const users = new Map([...resources].filter(([key]) => key.startsWith('keycloak_user.')).map(([, body]) => [body.username, body]));
    expect(users.get('alice')).toMatchObject({ enabled: true, email: 'alice@corp.example', email_verified: true, first_name: 'Alice', last_name: 'Kim' });
    expect(users.get('dave')).toMatchObject({ enabled: false });
    expect(users.get('erin')).toMatchObject({ enabled: false });
    const memberships = [...resources].filter(([key]) => key.startsWith('keycloak_user_groups.'));
    expect(memberships.map(([key]) => key).sort()).toEqual([
      expect.stringMatching(/^keycloak_user_groups\.roster_users_alice_groups_/),
      expect.stringMatching(/^keycloak_user_groups\.roster_users_dave_groups_/),
    ]);
    const alice = memberships.find(([key]) => key.includes('_alice_'))![1];
    expect(alice.exhaustive).toBe(true);
    expect(alice.group_ids).toEqual([
      expect.stringMatching(/^\$\{keycloak_group\.roster_groups_developers_.*\.id\}$/),
      expect.stringMatching(/^\$\{keycloak_group\.roster_groups_platform-admins_.*\.id\}$/),
    ]);
  });

  it('signs in as its own service-account client of the master realm (never the bootstrap admin), lazily', () => {
    const { json } = synthIdentity();
    expect(json.variable.keycloak_admin_password).toBeUndefined();
    expect(json.variable.keycloak_terraform_client_secret).toMatchObject({ sensitive: true, type: 'string' });
    expect(json.provider.keycloak[0]).toEqual({
      url: 'https://ide.corp.example',
      realm: 'master',
      client_id: 'webide-terraform',
      client_secret: '${var.keycloak_terraform_client_secret}',
      initial_login: false,
      client_timeout: 30,
    });
  });

  it('binds its own browser flow: the SSO cookie, or password and TOTP, both REQUIRED (never conditional)', () => {
    const { json } = synthIdentity();
    const flows = Object.values(json.resource.keycloak_authentication_flow) as Array<Record<string, any>>;
    expect(flows.map((flow) => flow.alias)).toEqual(['webide-browser-mfa']);
    const subflows = Object.values(json.resource.keycloak_authentication_subflow) as Array<Record<string, any>>;
    expect(subflows).toEqual([expect.objectContaining({ alias: 'webide-browser-mfa-forms', requirement: 'ALTERNATIVE', provider_id: 'basic-flow' })]);
    const executions = (Object.values(json.resource.keycloak_authentication_execution) as Array<Record<string, any>>).map((e) => [e.parent_flow_alias, e.authenticator, e.requirement, e.priority]).sort((a, b) => String(a[0]).localeCompare(String(b[0])) || a[3] - b[3]);
    expect(executions).toEqual([
      [expect.stringContaining('keycloak_authentication_flow.'), 'auth-cookie', 'ALTERNATIVE', 10],
      [expect.stringContaining('keycloak_authentication_subflow.'), 'auth-username-password-form', 'REQUIRED', 10],
      [expect.stringContaining('keycloak_authentication_subflow.'), 'auth-otp-form', 'REQUIRED', 20],
    ]);
    const bindings = Object.values(json.resource.keycloak_authentication_bindings) as Array<Record<string, any>>;
    expect(bindings).toEqual([expect.objectContaining({ browser_flow: expect.stringContaining('keycloak_authentication_flow.') })]);
  });

  it('makes access tokens live the revocation window, which oauth2-proxy refreshes inside', () => {
    expect(synthIdentity().synthesized).toHaveResourceWithProperties(Realm, { access_token_lifespan: '5m' });
  });

  it('with a directory: no Keycloak accounts, a read-only LDAP federation that sees only active roster users, groups by username', () => {
    const estate = defaultEstate((text) =>
      text.replace('  events: { expirationDays: 90 }\n', '  events: { expirationDays: 90 }\n  directory: { url: "ldaps://ldap.corp.example:636", bindDn: "cn=kc,dc=corp", usersDn: "ou=people,dc=corp" }\n'),
    );
    const stack = new IdentityStack(Testing.app(), 'identity', { estate, roster: defaultRoster(estate), stateFile: 'terraform.identity.tfstate' });
    const json = JSON.parse(Testing.synth(stack));
    expect(json.resource.keycloak_user).toBeUndefined();
    expect(json.variable.directory_bind_password).toMatchObject({ sensitive: true });
    const [ldap] = Object.values(json.resource.keycloak_ldap_user_federation) as Array<Record<string, any>>;
    expect(ldap).toMatchObject({
      connection_url: 'ldaps://ldap.corp.example:636',
      edit_mode: 'READ_ONLY',
      import_enabled: true,
      sync_registrations: false,
      bind_credential: '${var.directory_bind_password}',
      custom_user_search_filter: '(|(uid=alice)(uid=bob)(uid=carol))',
      cache: { policy: 'NO_CACHE' },
    });
    const memberships = Object.values(json.resource.keycloak_group_memberships) as Array<Record<string, any>>;
    expect(memberships.map((m) => m.members)).toEqual([['alice', 'bob', 'carol'], ['carol']]);
    expect(JSON.stringify(json)).not.toContain('dave');
  });

  it('writes the password policy in the form Keycloak stores', () => {
    expect(
      passwordPolicyString({ minLength: 14, upperCase: 0, lowerCase: 2, digits: 0, specialChars: 0, notUsername: false, history: 0, expireDays: 0 }),
    ).toBe('length(14) and lowerCase(2)');
  });
});
