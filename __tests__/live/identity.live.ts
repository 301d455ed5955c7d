import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EstateConfig } from '../../config/estate';
import { loadEstate, loadRoster } from '../../config/load';
import { assetText } from '../helpers/inputs';
import { KeycloakApi } from '../../scripts/keycloak/api';
import { bootstrapTerraformClient, KeycloakAdmin, keycloakServer } from './keycloak-admin';
import { analysePlans, exitCodeOf } from '../../report/analyse';
import { mustTerraform, planJson, plannedChanges, synthStackInto, terraform, terraformEnv, withoutHash } from './terraform';

jest.setTimeout(600_000);

/**
 * The identity stack deployed for real against a real Keycloak (scripts/keycloak/server.sh):
 * what the roster and estate config say is what the server has, a second plan is empty,
 * and roster edits touch exactly that user's resources.
 */
describe('identity stack on a real Keycloak', () => {
  const server = keycloakServer();
  const admin = new KeycloakAdmin(server);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'live-identity-'));
  const stackDir = path.join(work, 'identity');
  const stateDir = path.join(work, 'state');
  fs.mkdirSync(stateDir);
  // The default estate, pointed at the test server, with a realm name of its own.
  const estateText = assetText('estate.yaml')
    .replace('providerUrl: https://ide.corp.example', `providerUrl: ${server.url}`)
    .replace('realm: webide', 'realm: webide-live');
  let env: NodeJS.ProcessEnv;
  const startedAt = Date.now();
  const estate: EstateConfig = loadEstate({ file: 'estate.yaml', text: estateText });
  const rosterText = assetText('roster.yaml');
  const deploy = (text: string) => synthStackInto(stackDir, 'identity', estate, loadRoster({ file: 'roster.yaml', text }, estate), stateDir);
  const realm = '/webide-live';

  beforeAll(async () => {
    // A clean slate if an earlier run left the realm behind.
    await admin.remove(realm);
    env = terraformEnv({ TF_VAR_keycloak_terraform_client_secret: bootstrapTerraformClient(server, estateText) });
    deploy(rosterText);
    mustTerraform(stackDir, ['init', '-input=false'], env);
    mustTerraform(stackDir, ['apply', '-auto-approve', '-input=false'], env);
  });

  afterAll(async () => {
    terraform(stackDir, ['destroy', '-auto-approve', '-input=false'], env);
    await admin.remove(realm);
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('has the realm security the estate config asks for', async () => {
    const r = await admin.get(realm);
    expect(r).toMatchObject({
      enabled: true,
      bruteForceProtected: true,
      failureFactor: 5,
      waitIncrementSeconds: 60,
      maxFailureWaitSeconds: 900,
      maxDeltaTimeSeconds: 43200,
      permanentLockout: false,
      passwordPolicy:
        'length(12) and upperCase(1) and lowerCase(1) and digits(1) and specialChars(1) and notUsername(undefined) and passwordHistory(5) and forceExpiredPasswordChange(90)',
      otpPolicyType: 'totp',
      otpPolicyAlgorithm: 'HmacSHA1',
      otpPolicyDigits: 6,
      otpPolicyPeriod: 30,
      ssoSessionIdleTimeout: 1800,
      ssoSessionMaxLifespan: 36000,
      registrationAllowed: false,
      resetPasswordAllowed: false,
      sslRequired: 'external',
    });
    expect(r.attributes.adminEventsExpiration).toBe(String(90 * 86400));
    const events = await admin.get(`${realm}/events/config`);
    expect(events).toMatchObject({ eventsEnabled: true, eventsExpiration: 90 * 86400, adminEventsEnabled: true, adminEventsDetailsEnabled: true, eventsListeners: ['jboss-logging'] });
    const totp = await admin.get(`${realm}/authentication/required-actions/CONFIGURE_TOTP`);
    expect(totp).toMatchObject({ enabled: true, defaultAction: true });
  });

  it("signs users in with the estate's own flow: the SSO cookie, or password and then TOTP, both REQUIRED", async () => {
    expect((await admin.get(realm)).browserFlow).toBe('webide-browser-mfa');
    const executions = await admin.get<{ providerId?: string; displayName: string; requirement: string; level: number }[]>(`${realm}/authentication/flows/webide-browser-mfa/executions`);
    expect(executions.map((e) => [e.level, e.providerId ?? e.displayName, e.requirement])).toEqual([
      [0, 'auth-cookie', 'ALTERNATIVE'],
      [0, 'webide-browser-mfa-forms', 'ALTERNATIVE'],
      [1, 'auth-username-password-form', 'REQUIRED'],
      [1, 'auth-otp-form', 'REQUIRED'],
    ]);
    // Access tokens live the revocation window (5m): what a suspended user keeps at most.
    expect((await admin.get(realm)).accessTokenLifespan).toBe(300);
  });

  it('was changed by the Terraform client alone, which holds create-realm and its realm, and is no admin; master is hardened', async () => {
    const [client] = await admin.get<{ id: string }[]>('/master/clients?clientId=webide-terraform');
    const account = await admin.get<{ id: string; username: string }>(`/master/clients/${client.id}/service-account-user`);
    const realmRoles = (await admin.get<{ name: string }[]>(`/master/users/${account.id}/role-mappings/realm/composite`)).map((r) => r.name);
    expect(realmRoles).toContain('create-realm');
    expect(realmRoles).not.toContain('admin');
    const [management] = await admin.get<{ id: string }[]>('/master/clients?clientId=webide-live-realm');
    const realmAdmin = (await admin.get<{ name: string }[]>(`/master/users/${account.id}/role-mappings/clients/${management.id}`)).map((r) => r.name);
    expect(realmAdmin).toEqual(expect.arrayContaining(['manage-realm', 'manage-users', 'manage-clients']));
    // Every admin event of the deploy names the Terraform client's service account.
    // (Events of an earlier run's realm of the same name outlive it: only this run's count.)
    const events = (await admin.get<{ time: number; authDetails: { userId: string } }[]>(`${realm}/admin-events?max=1000`)).filter((e) => e.time >= startedAt);
    expect(events.length).toBeGreaterThan(10);
    expect(new Set(events.map((e) => e.authDetails.userId))).toEqual(new Set([account.id]));
    const master = await admin.get('/master');
    expect(master).toMatchObject({ bruteForceProtected: true, failureFactor: 5, adminEventsEnabled: true, adminEventsDetailsEnabled: true, eventsEnabled: true });
  });

  it('an estate whose realm exists already (made by the bootstrap admin before): the bootstrap grants the Terraform client its management, not impersonation', async () => {
    const upgrade = '/webide-upgrade';
    await admin.remove(upgrade);
    await admin.post('', { realm: 'webide-upgrade', enabled: true });
    try {
      const secret = bootstrapTerraformClient(server, estateText.replace('realm: webide-live', 'realm: webide-upgrade'));
      const [client] = await admin.get<{ id: string }[]>('/master/clients?clientId=webide-terraform');
      const account = await admin.get<{ id: string }>(`/master/clients/${client.id}/service-account-user`);
      const [management] = await admin.get<{ id: string }[]>('/master/clients?clientId=webide-upgrade-realm');
      const granted = (await admin.get<{ name: string }[]>(`/master/users/${account.id}/role-mappings/clients/${management.id}`)).map((r) => r.name);
      expect(granted).toEqual(expect.arrayContaining(['manage-realm', 'manage-users', 'manage-clients', 'view-events']));
      expect(granted).not.toContain('impersonation');
      // The client itself can now read the realm it will manage.
      const asClient = new KeycloakApi(server.url, { kind: 'client', clientId: 'webide-terraform', clientSecret: secret });
      expect((await asClient.get(upgrade)).realm).toBe('webide-upgrade');
      env = terraformEnv({ TF_VAR_keycloak_terraform_client_secret: secret });
    } finally {
      await admin.remove(upgrade);
    }
  });

  it('has the OIDC client with exactly the redirect URI, PKCE and no password grant', async () => {
    const [client] = await admin.get(`${realm}/clients?clientId=webide-ide`);
    expect(client).toMatchObject({
      publicClient: false,
      standardFlowEnabled: true,
      implicitFlowEnabled: false,
      directAccessGrantsEnabled: false,
      redirectUris: ['https://ide.corp.example/oauth2/callback'],
      webOrigins: ['https://ide.corp.example'],
    });
    expect(client.attributes['pkce.code.challenge.method']).toBe('S256');
    const mappers = (client.protocolMappers as { name: string; protocolMapper: string }[]).map((m) => [m.name, m.protocolMapper]).sort();
    expect(mappers).toEqual([
      ['audience', 'oidc-audience-mapper'],
      ['groups', 'oidc-group-membership-mapper'],
    ]);
  });

  it('has the roster groups and users, with memberships, and the suspended user disabled', async () => {
    const groups = (await admin.get<{ name: string }[]>(`${realm}/groups`)).map((g) => g.name).sort();
    expect(groups).toEqual(['developers', 'platform-admins']);
    const users = await admin.get<{ id: string; username: string; enabled: boolean; email: string; emailVerified: boolean; requiredActions: string[] }[]>(`${realm}/users?max=100`);
    const byName = new Map(users.map((u) => [u.username, u]));
    expect([...byName.keys()].sort()).toEqual(['alice', 'bob', 'carol', 'dave']);
    expect(byName.get('alice')).toMatchObject({ enabled: true, email: 'alice@corp.example', emailVerified: true, requiredActions: ['CONFIGURE_TOTP'] });
    expect(byName.get('dave')!.enabled).toBe(false);
    const memberships = async (name: string) => (await admin.get<{ name: string }[]>(`${realm}/users/${byName.get(name)!.id}/groups`)).map((g) => g.name).sort();
    expect(await memberships('carol')).toEqual(['developers', 'platform-admins']);
    expect(await memberships('bob')).toEqual(['developers']);
  });

  it('converges: a plan right after apply shows no changes', () => {
    const result = terraform(stackDir, ['plan', '-detailed-exitcode', '-input=false', '-lock=false'], env);
    expect(result.output).toContain('No changes.');
    expect(result.status).toBe(0);
  });

  it('plans exactly the new user\'s resources when a user is added', () => {
    deploy(`${rosterText}  - { username: erin, email: erin@corp.example, name: Erin Yoon, groups: [developers] }\n`);
    expect(plannedChanges(stackDir, env).map((c) => [withoutHash(c.address), c.actions.join(',')])).toEqual([
      ['keycloak_user.roster_users_erin_account', 'create'],
      ['keycloak_user_groups.roster_users_erin_groups', 'create'],
    ]);
  });

  it('plans one in-place update of that user when a user is suspended or archived', () => {
    deploy(rosterText.replace('    name: Bob Lee\n    groups: [developers]\n', '    name: Bob Lee\n    groups: [developers]\n    state: suspended\n'));
    expect(plannedChanges(stackDir, env).map((c) => [withoutHash(c.address), c.actions.join(',')])).toEqual([['keycloak_user.roster_users_bob_account', 'update']]);
    deploy(rosterText.replace('    name: Carol Park\n', '    name: Carol Park\n    state: archived\n'));
    expect(plannedChanges(stackDir, env).map((c) => [withoutHash(c.address), c.actions.join(',')])).toEqual([['keycloak_user.roster_users_carol_account', 'update']]);
  });

  it('reads a real roster edit and a real realm weakening correctly in the change-approval report', () => {
    deploy(
      `${rosterText.replace('    name: Bob Lee\n', '    name: Bob Lee\n    state: suspended\n')}  - { username: erin, email: erin@corp.example, name: Erin Yoon, groups: [developers] }\n`,
    );
    const edit = analysePlans([{ stack: 'identity', plan: planJson(stackDir, env) }]);
    expect(edit.people.map((p) => `${p.username} ${p.change}`)).toEqual(['bob suspended', 'erin added', 'erin groups']);
    expect(exitCodeOf(edit)).toBe(2);

    const weakerEstate = loadEstate({ file: 'estate.yaml', text: estateText.replace('maxLoginFailures: 5', 'maxLoginFailures: 25') });
    synthStackInto(stackDir, 'identity', weakerEstate, loadRoster({ file: 'roster.yaml', text: rosterText }, weakerEstate), stateDir);
    const weaker = analysePlans([{ stack: 'identity', plan: planJson(stackDir, env) }]);
    expect(weaker.risks.map((r) => r.message)).toEqual(['brute force: max login failures 5 → 25 (weaker)']);
    expect(exitCodeOf(weaker)).toBe(3);
  });
});
