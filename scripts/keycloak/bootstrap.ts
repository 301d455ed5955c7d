/**
 * npm run keycloak:bootstrap [-- --estate <estate.yaml>] [--keep-bootstrap-admin]
 *
 * Run once Keycloak is up and before the identity stack (`npm run deploy` does it between the
 * platform and identity stacks). Signed in as the bootstrap admin (TF_VAR_keycloak_admin_password),
 * it:
 *   1. creates the master-realm client `<estate>-terraform` (service account only, secret
 *      TF_VAR_keycloak_terraform_client_secret) that Terraform signs in as. It gets the
 *      `create-realm` role; Keycloak grants whoever creates a realm its management roles, and
 *      an estate whose realm exists already gets those roles here (not `impersonation`);
 *   2. turns on brute-force protection and login and admin events (with details) in master;
 *   3. deletes the bootstrap admin, unless --keep-bootstrap-admin: from then on every change is
 *      made by a named client or person, and admin events say which.
 * Once the bootstrap admin is gone it checks that the Terraform client can sign in and exits 0.
 * It first waits, at most 5 minutes, for Keycloak to answer (a swarm's Keycloak is still starting
 * when the entry stack's deploy ends).
 * Lost access: `kc.sh bootstrap-admin user` on the Keycloak server (see README).
 * Exit 0 done (or nothing to do), 1 failed, 2 bad arguments.
 */
import * as path from 'path';
import { EstateConfig } from '../../config/estate';
import { loadEstate } from '../../config/load';
import { readInputFile } from '../../config/input-file';
import { ConfigError } from '../../config/source';
import { EstateNames } from '../../constructs/naming';
import { KEYCLOAK_ADMIN_USER } from '../../stacks/platform-stack';
import { KeycloakApi, untilKeycloakAnswers } from './api';
import { readCommandLine } from '../lib/command-line';

/** How long the bootstrap waits for Keycloak to answer (it starts in about a minute). */
const KEYCLOAK_WAIT_SECONDS = 300;

const USAGE = 'usage: npm run keycloak:bootstrap -- [--estate <estate.yaml>] [--keep-bootstrap-admin]';

export interface BootstrapOptions {
  readonly estate: EstateConfig;
  readonly adminPassword?: string;
  readonly clientSecret: string;
  readonly keepBootstrapAdmin: boolean;
  readonly log: (line: string) => void;
}

/** Roles of a realm's management client in master that the Terraform client gets: all but impersonation. */
const NOT_GRANTED = new Set(['impersonation']);

export async function bootstrapKeycloak(options: BootstrapOptions): Promise<void> {
  const { estate, log } = options;
  const url = estate.keycloak.providerUrl.replace(/\/$/, '');
  const clientId = new EstateNames(estate.name).terraformClient();
  const client = new KeycloakApi(url, { kind: 'client', clientId, clientSecret: options.clientSecret });
  const admin = options.adminPassword ? new KeycloakApi(url, { kind: 'user', username: KEYCLOAK_ADMIN_USER, password: options.adminPassword }) : undefined;

  if (!admin || !(await admin.canSignIn())) {
    if (await client.canSignIn()) {
      log(`keycloak:bootstrap: done already: ${clientId} signs in, the bootstrap admin ${KEYCLOAK_ADMIN_USER} is retired`);
      return;
    }
    throw new Error(
      `neither the bootstrap admin ${KEYCLOAK_ADMIN_USER} nor the client ${clientId} can sign in to ${url}: check TF_VAR_keycloak_admin_password and TF_VAR_keycloak_terraform_client_secret; ` +
        'to recover access run `kc.sh bootstrap-admin user` on the Keycloak server (README, "No shared admin")',
    );
  }

  const uuid = await ensureClient(admin, clientId, options.clientSecret);
  const serviceAccount = await admin.get<{ id: string; username: string }>(`/master/clients/${uuid}/service-account-user`);
  const createRealm = await admin.get(`/master/roles/create-realm`);
  await admin.post(`/master/users/${serviceAccount.id}/role-mappings/realm`, [createRealm]);
  const realmExists = (await admin.find(`/${estate.keycloak.realm}`)) !== undefined;
  if (realmExists) {
    const [management] = await admin.get<{ id: string }[]>(`/master/clients?clientId=${encodeURIComponent(`${estate.keycloak.realm}-realm`)}`);
    const roles = (await admin.get<{ name: string }[]>(`/master/clients/${management.id}/roles`)).filter((role) => !NOT_GRANTED.has(role.name));
    await admin.post(`/master/users/${serviceAccount.id}/role-mappings/clients/${management.id}`, roles);
  }
  log(`keycloak:bootstrap: ${clientId} (service account ${serviceAccount.username}) has create-realm${realmExists ? ` and manages realm ${estate.keycloak.realm}` : ''}`);

  await hardenMaster(admin, estate);
  log('keycloak:bootstrap: master realm: brute-force protection, login and admin events on');

  if (!(await client.canSignIn())) throw new Error(`the new client ${clientId} cannot sign in: is TF_VAR_keycloak_terraform_client_secret what was set?`);
  if (options.keepBootstrapAdmin) {
    log(`keycloak:bootstrap: --keep-bootstrap-admin: ${KEYCLOAK_ADMIN_USER} stays (retire it with a later run without the flag)`);
    return;
  }
  const [bootstrapUser] = await admin.get<{ id: string }[]>(`/master/users?exact=true&username=${KEYCLOAK_ADMIN_USER}`);
  await admin.delete(`/master/users/${bootstrapUser.id}`);
  log(`keycloak:bootstrap: the bootstrap admin ${KEYCLOAK_ADMIN_USER} is deleted; Terraform signs in as ${clientId}`);
}

async function ensureClient(admin: KeycloakApi, clientId: string, secret: string): Promise<string> {
  const representation = {
    clientId,
    name: 'Terraform (webide-estate identity stack)',
    description: 'Service account Terraform administers the estate realm as; created by npm run keycloak:bootstrap',
    enabled: true,
    protocol: 'openid-connect',
    publicClient: false,
    clientAuthenticatorType: 'client-secret',
    secret,
    serviceAccountsEnabled: true,
    standardFlowEnabled: false,
    implicitFlowEnabled: false,
    directAccessGrantsEnabled: false,
    frontchannelLogout: false,
  };
  const [existing] = await admin.get<{ id: string }[]>(`/master/clients?clientId=${encodeURIComponent(clientId)}`);
  if (existing) {
    // The secret given wins: this is also how it is rotated.
    await admin.put(`/master/clients/${existing.id}`, { ...representation, id: existing.id });
    return existing.id;
  }
  await admin.post('/master/clients', representation);
  const [created] = await admin.get<{ id: string }[]>(`/master/clients?clientId=${encodeURIComponent(clientId)}`);
  return created.id;
}

async function hardenMaster(admin: KeycloakApi, estate: EstateConfig): Promise<void> {
  const { bruteForce, events } = estate.keycloak;
  const expiration = events.expirationDays * 86_400;
  const master = await admin.get<Record<string, unknown>>('/master');
  await admin.put('/master', {
    ...master,
    bruteForceProtected: true,
    permanentLockout: bruteForce.permanentLockout,
    failureFactor: bruteForce.maxLoginFailures,
    waitIncrementSeconds: bruteForce.waitIncrementSeconds,
    maxFailureWaitSeconds: bruteForce.maxFailureWaitSeconds,
    maxDeltaTimeSeconds: bruteForce.failureResetTimeSeconds,
    attributes: { ...((master.attributes as Record<string, string>) ?? {}), adminEventsExpiration: String(expiration) },
  });
  await admin.put('/master/events/config', {
    eventsEnabled: true,
    eventsExpiration: expiration,
    eventsListeners: ['jboss-logging'],
    adminEventsEnabled: true,
    adminEventsDetailsEnabled: true,
  });
}

/** The command line; every problem at once. */
function parseBootstrapArgs(argv: string[]): { estate: string; keep: boolean } | { errors: readonly string[] } {
  const line = readCommandLine(argv, { valued: ['estate'], flags: ['keep-bootstrap-admin'] });
  if (line.errors.length > 0) return { errors: line.errors };
  return { estate: line.values.estate ?? process.env.ESTATE_FILE ?? path.join(__dirname, '..', '..', 'assets', 'estate.yaml'), keep: line.flags.has('keep-bootstrap-admin') };
}

async function main(): Promise<number> {
  const args = parseBootstrapArgs(process.argv.slice(2));
  if ('errors' in args) {
    console.error(`${args.errors.map((error) => `keycloak:bootstrap: ${error}`).join('\n')}\n${USAGE}`);
    return 2;
  }
  const clientSecret = process.env.TF_VAR_keycloak_terraform_client_secret ?? '';
  if (clientSecret.length < 32) {
    console.error('keycloak:bootstrap: TF_VAR_keycloak_terraform_client_secret must be set, at least 32 characters (e.g. `openssl rand -hex 24`)');
    return 2;
  }
  let estate: EstateConfig;
  try {
    estate = loadEstate(readInputFile(args.estate));
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
  try {
    await untilKeycloakAnswers(estate.keycloak.providerUrl, KEYCLOAK_WAIT_SECONDS, (line) => console.log(line));
    await bootstrapKeycloak({ estate, adminPassword: process.env.TF_VAR_keycloak_admin_password, clientSecret, keepBootstrapAdmin: args.keep, log: (line) => console.log(line) });
    return 0;
  } catch (error) {
    console.error(`keycloak:bootstrap: ${(error as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  main().then((code) => process.exit(code));
}
