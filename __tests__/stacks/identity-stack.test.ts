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

  it('signs in with a sensitive admin password variable, lazily (no live Keycloak needed at synth or first plan)', () => {
    const { json } = synthIdentity();
    expect(json.variable.keycloak_admin_password).toMatchObject({ sensitive: true, type: 'string' });
    expect(json.provider.keycloak[0]).toMatchObject({
      url: 'https://ide.corp.example',
      username: 'estate-admin',
      password: '${var.keycloak_admin_password}',
      initial_login: false,
    });
  });

  it('writes the password policy in the form Keycloak stores', () => {
    expect(
      passwordPolicyString({ minLength: 14, upperCase: 0, lowerCase: 2, digits: 0, specialChars: 0, notUsername: false, history: 0, expireDays: 0 }),
    ).toBe('length(14) and lowerCase(2)');
  });
});
