/**
 * npm run user:first-password -- <username> [--estate <estate.yaml>]
 *
 * How a new user gets their first credential when the estate has no directory: a random,
 * one-time password that Keycloak makes them replace at the first sign-in (then they enrol
 * TOTP). It is printed once, on this terminal, for the operator to hand over out of band; it is
 * never written to a file, the roster, a plan or a log. Signs in as the Terraform client
 * (TF_VAR_keycloak_terraform_client_secret). Refused for a user who is not active in Keycloak,
 * who already has a password (add --reset to replace it), or when a directory holds the passwords.
 * Exit 0 done, 1 refused or failed, 2 bad arguments.
 */
import * as crypto from 'crypto';
import * as path from 'path';
import { EstateConfig } from '../../config/estate';
import { loadEstate } from '../../config/load';
import { readInputFile } from '../../config/input-file';
import { ConfigError } from '../../config/source';
import { USERNAME_PATTERN } from '../../config/roster';
import { EstateNames } from '../../constructs/naming';
import { KeycloakApi } from './api';
import { readCommandLine } from '../lib/command-line';

const USAGE = 'usage: npm run user:first-password -- <username> [--estate <estate.yaml>] [--reset]';

/** Characters without look-alikes (no 0/O, 1/l/I), so a password read out over the phone survives. */
const ALPHABETS = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789', '!#%+-=?@'];

/** A random password with every character class the realm's policy can ask for. */
export function oneTimePassword(length: number): string {
  const pick = (alphabet: string) => alphabet[crypto.randomInt(alphabet.length)];
  const all = ALPHABETS.join('');
  const chars = [...ALPHABETS.map(pick), ...Array.from({ length: Math.max(length, 16) - ALPHABETS.length }, () => pick(all))];
  for (let i = chars.length - 1; i > 0; i--) {
    const j = crypto.randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j], chars[i]];
  }
  return chars.join('');
}

export async function issueFirstPassword(estate: EstateConfig, username: string, clientSecret: string, reset: boolean): Promise<string> {
  if (estate.keycloak.directory) throw new Error(`${estate.name} signs users in with the directory (keycloak.directory): their first password comes from there`);
  const api = new KeycloakApi(estate.keycloak.providerUrl.replace(/\/$/, ''), { kind: 'client', clientId: new EstateNames(estate.name).terraformClient(), clientSecret });
  const realm = estate.keycloak.realm;
  const [user] = await api.get<{ id: string; username: string; enabled: boolean }[]>(`/${realm}/users?exact=true&username=${encodeURIComponent(username)}`);
  if (!user) throw new Error(`no user ${username} in realm ${realm}: add them to the roster and deploy the identity stack first`);
  if (!user.enabled) throw new Error(`${username} is not active (suspended or archived in the roster): no password issued`);
  const credentials = await api.get<{ type: string }[]>(`/${realm}/users/${user.id}/credentials`);
  if (credentials.some((credential) => credential.type === 'password') && !reset) {
    throw new Error(`${username} has a password already; add --reset to replace it with a new one-time password`);
  }
  const password = oneTimePassword(estate.keycloak.passwordPolicy.minLength + 4);
  await api.put(`/${realm}/users/${user.id}/reset-password`, { type: 'password', value: password, temporary: true });
  return password;
}

async function main(): Promise<number> {
  const line = readCommandLine(process.argv.slice(2), { valued: ['estate'], flags: ['reset'], positionals: true });
  const errors = [...line.errors];
  const [username, ...extra] = line.positionals;
  if (username === undefined || !USERNAME_PATTERN.test(username)) errors.push('name one roster username');
  if (extra.length > 0) errors.push(`unexpected argument ${extra[0]}`);
  if (errors.length > 0 || username === undefined) {
    console.error(`${errors.map((error) => `user:first-password: ${error}`).join('\n')}\n${USAGE}`);
    return 2;
  }
  const estateFile = line.values.estate ?? process.env.ESTATE_FILE ?? path.join(__dirname, '..', '..', 'assets', 'estate.yaml');
  const reset = line.flags.has('reset');
  const clientSecret = process.env.TF_VAR_keycloak_terraform_client_secret;
  if (!clientSecret) {
    console.error('user:first-password: TF_VAR_keycloak_terraform_client_secret must be set');
    return 2;
  }
  try {
    const estate = loadEstate(readInputFile(estateFile));
    const password = await issueFirstPassword(estate, username, clientSecret, reset);
    console.log(`One-time password for ${username} (hand it over out of band; they must change it and enrol TOTP at the first sign-in):`);
    console.log(password);
    return 0;
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : `user:first-password: ${(error as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  main().then((code) => process.exit(code));
}
