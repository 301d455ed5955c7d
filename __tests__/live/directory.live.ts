import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Browser, Page } from 'puppeteer-core';
import { loadEstate, loadRoster } from '../../config/load';
import { launchBrowser, signIn, Credentials } from '../e2e/browser';
import { assetText } from '../helpers/inputs';
import { startDirectory, TestDirectory } from '../helpers/slapd';
import { bootstrapTerraformClient, KeycloakAdmin, keycloakServer } from './keycloak-admin';
import { mustTerraform, synthStackInto, terraform, terraformEnv } from './terraform';
import { ROOT } from './terraform';

jest.setTimeout(600_000);

const ORIGIN = 'https://ide.corp.example';

/**
 * How people get in, with a real Chromium on Keycloak's own pages: without a directory, the
 * one-time password of `npm run user:first-password`; with one, the directory's password (a real
 * OpenLDAP on loopback), the roster still deciding who may. Both end with TOTP.
 */
describe('signing in without and with a directory, in a real browser', () => {
  const server = keycloakServer();
  const admin = new KeycloakAdmin(server);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'live-directory-'));
  const rosterText = assetText('roster.yaml');
  let browser: Browser;
  let directory: TestDirectory;
  let clientSecret: string;
  let firstRealmAlice: Credentials | undefined;

  const estateText = (realm: string, extra = '') =>
    assetText('estate.yaml')
      .replace('providerUrl: https://ide.corp.example', `providerUrl: ${server.url}`)
      .replace('realm: webide', `realm: ${realm}`)
      .replace('  events: { expirationDays: 90 }\n', `  events: { expirationDays: 90 }\n${extra}`);

  function deploy(realm: string, text: string, roster: string, env: NodeJS.ProcessEnv): void {
    const estate = loadEstate({ file: 'estate.yaml', text });
    const stackDir = path.join(work, realm);
    synthStackInto(stackDir, 'identity', estate, loadRoster({ file: 'roster.yaml', text: roster }, estate), path.join(work, `${realm}-state`));
    if (!fs.existsSync(path.join(stackDir, '.terraform'))) mustTerraform(stackDir, ['init', '-input=false'], env);
    mustTerraform(stackDir, ['apply', '-auto-approve', '-input=false'], env);
  }

  /** Keycloak's sign-in for the IDE's client; the redirect back to the estate is answered here. */
  async function signInAt(realm: string, user: Credentials, steps: string[]): Promise<string> {
    return (await signInWithCode(realm, user, steps)).outcome;
  }

  /** signInAt, also giving the authorization code and its PKCE verifier when sign-in succeeded. */
  async function signInWithCode(realm: string, user: Credentials, steps: string[]): Promise<{ outcome: string; code?: string; verifier: string }> {
    const context = await browser.createBrowserContext();
    const page: Page = await context.newPage();
    await page.setRequestInterception(true);
    page.on('request', (request) => (request.url().startsWith(`${ORIGIN}/`) ? request.respond({ status: 200, contentType: 'text/plain', body: 'signed in' }) : request.continue()));
    const verifier = crypto.randomBytes(32).toString('base64url');
    const query = new URLSearchParams({
      client_id: 'webide-ide',
      redirect_uri: `${ORIGIN}/oauth2/callback`,
      response_type: 'code',
      scope: 'openid',
      state: crypto.randomBytes(8).toString('hex'),
      code_challenge: crypto.createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    const outcome = await signIn(page, `${server.url}/realms/${realm}/protocol/openid-connect/auth?${query}`, user, steps, (url) => url.startsWith(`${ORIGIN}/oauth2/callback?`) && url.includes('code='));
    const code = new URL(page.url()).searchParams.get('code') ?? undefined;
    await context.close();
    return { outcome, code, verifier };
  }

  /** The token endpoint of a realm, as oauth2-proxy calls it (confidential client, PKCE). */
  async function tokenCall(realm: string, form: Record<string, string>): Promise<{ status: number; body: any }> {
    const [client] = await admin.get<{ id: string }[]>(`/${realm}/clients?clientId=webide-ide`);
    const { value: secret } = await admin.get<{ value: string }>(`/${realm}/clients/${client.id}/client-secret`);
    const response = await fetch(`${server.url}/realms/${realm}/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'webide-ide', client_secret: secret, ...form }),
    });
    return { status: response.status, body: await response.json() };
  }

  beforeAll(async () => {
    for (const realm of ['webide-first', 'webide-dir']) await admin.remove(`/${realm}`);
    clientSecret = bootstrapTerraformClient(server, estateText('webide-first'));
    directory = await startDirectory(['alice', 'bob', 'carol', 'dave', 'mallory']);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    const env = terraformEnv({ TF_VAR_keycloak_terraform_client_secret: clientSecret, TF_VAR_directory_bind_password: directory?.bindPassword ?? '' });
    for (const realm of ['webide-first', 'webide-dir']) {
      if (fs.existsSync(path.join(work, realm))) terraform(path.join(work, realm), ['destroy', '-auto-approve', '-input=false'], env);
      await admin.remove(`/${realm}`);
    }
    await directory?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('without a directory: `npm run user:first-password` prints a one-time password that gets alice in once she sets her own and enrols TOTP', async () => {
    // A short idle timeout, for the idle test below.
    const text = estateText('webide-first').replace('idleTimeout: 30m', 'idleTimeout: 30s');
    deploy('webide-first', text, rosterText, terraformEnv({ TF_VAR_keycloak_terraform_client_secret: clientSecret }));
    const estateFile = path.join(work, 'estate-first.yaml');
    fs.writeFileSync(estateFile, text);
    const cli = (...args: string[]) =>
      spawnSync('node', [path.join(ROOT, 'scripts', 'ts-run.js'), path.join(ROOT, 'scripts', 'keycloak', 'first-password.ts'), ...args, '--estate', estateFile], {
        encoding: 'utf8',
        env: { ...process.env, TF_VAR_keycloak_terraform_client_secret: clientSecret },
      });
    const issued = cli('alice');
    expect(issued.status).toBe(0);
    const password = issued.stdout.trim().split('\n').pop()!;
    expect(password).toMatch(/^\S{16,}$/);
    // Suspended users get none, and a second one needs --reset.
    expect(cli('dave')).toMatchObject({ status: 1, stderr: expect.stringContaining('dave is not active') });
    expect(cli('alice')).toMatchObject({ status: 1, stderr: expect.stringContaining('has a password already') });

    const alice: Credentials = { username: 'alice', password };
    const steps: string[] = [];
    expect(await signInAt('webide-first', alice, steps)).toBe('signed-in');
    expect(steps).toEqual(['password', 'totp-enrol', 'update-password', 'signed-in']);
    // The one-time password is spent: only the one she chose works now.
    expect(await signInAt('webide-first', { username: 'alice', password }, [])).toBe('refused');
    const again: string[] = [];
    expect(await signInAt('webide-first', alice, again)).toBe('signed-in');
    expect(again).toEqual(['password', 'otp', 'signed-in']);
    firstRealmAlice = alice;
  });

  it("an idle session ends after the realm's idle timeout: the refresh oauth2-proxy would make is refused", async () => {
    const alice = firstRealmAlice!;
    const { outcome, code, verifier } = await signInWithCode('webide-first', alice, []);
    expect(outcome).toBe('signed-in');
    const tokens = await tokenCall('webide-first', { grant_type: 'authorization_code', code: code!, code_verifier: verifier, redirect_uri: `${ORIGIN}/oauth2/callback` });
    expect(tokens.status).toBe(200);
    // Active: a refresh works (and, with revokeRefreshToken, hands out the next refresh token).
    const active = await tokenCall('webide-first', { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token });
    expect(active.status).toBe(200);
    await new Promise((r) => setTimeout(r, 35_000));
    const idle = await tokenCall('webide-first', { grant_type: 'refresh_token', refresh_token: active.body.refresh_token });
    expect(idle).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  describe('with a directory (OpenLDAP on loopback)', () => {
    const text = () =>
      estateText('webide-dir', `  directory: { url: "${directory.url}", bindDn: "${directory.bindDn}", usersDn: "${directory.usersDn}" }\n`).replace('profile: production', 'profile: local');
    const env = () => terraformEnv({ TF_VAR_keycloak_terraform_client_secret: clientSecret, TF_VAR_directory_bind_password: directory.bindPassword });
    const person = (uid: string): Credentials => ({ username: uid, password: directory.people.get(uid)!.password });

    beforeAll(() => deploy('webide-dir', text(), rosterText, env()));

    it('a roster user signs in with the directory password plus TOTP, and is in their roster groups', async () => {
      const steps: string[] = [];
      expect(await signInAt('webide-dir', person('carol'), steps)).toBe('signed-in');
      expect(steps).toEqual(['password', 'totp-enrol', 'signed-in']);
      const [carol] = await admin.get<{ id: string; federationLink?: string }[]>('/webide-dir/users?exact=true&username=carol');
      expect(carol.federationLink).toBeDefined();
      expect((await admin.get<{ name: string }[]>(`/webide-dir/users/${carol.id}/groups`)).map((g) => g.name).sort()).toEqual(['developers', 'platform-admins']);
    });

    it('a directory user outside the roster, and one suspended in it, are refused; the federation is read-only', async () => {
      const mallory: string[] = [];
      expect(await signInAt('webide-dir', person('mallory'), mallory)).toBe('refused');
      expect(mallory.join(' ')).toMatch(/Invalid username or password/i);
      expect(await signInAt('webide-dir', person('dave'), [])).toBe('refused');
      expect(await admin.get('/webide-dir/users?exact=true&username=mallory')).toEqual([]);
      const [ldap] = await admin.get<{ config: Record<string, string[]> }[]>('/webide-dir/components?type=org.keycloak.storage.UserStorageProvider');
      expect(ldap.config.editMode).toEqual(['READ_ONLY']);
      expect(JSON.stringify(ldap)).not.toContain(directory.bindPassword);
    });

    it('converges, and suspending a signed-in user in the roster shuts them out on the next sign-in', async () => {
      expect(terraform(path.join(work, 'webide-dir'), ['plan', '-detailed-exitcode', '-input=false', '-lock=false'], env()).status).toBe(0);
      const bob = person('bob');
      expect(await signInAt('webide-dir', bob, [])).toBe('signed-in');
      deploy('webide-dir', text(), rosterText.replace('    name: Bob Lee\n', '    name: Bob Lee\n    state: suspended\n'), env());
      const steps: string[] = [];
      expect(await signInAt('webide-dir', bob, steps)).toBe('refused');
      expect(await admin.get('/webide-dir/users?exact=true&username=bob')).toEqual([]);
    });
  });
});
