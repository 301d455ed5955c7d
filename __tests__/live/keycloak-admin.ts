import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { KeycloakApi, KeycloakApiError } from '../../scripts/keycloak/api';
import { ROOT } from './terraform';

export interface KeycloakServer {
  readonly url: string;
  readonly adminUser: string;
  readonly adminPassword: string;
  readonly version: string;
}

/** Connection facts written by `scripts/keycloak/server.sh start`. */
export function keycloakServer(): KeycloakServer {
  const file = path.join(ROOT, '.work', 'keycloak', 'admin.env');
  if (!fs.existsSync(file)) throw new Error('No Keycloak server: run `KEYCLOAK_ADMIN_USER=estate-admin bash scripts/keycloak/server.sh start` first (CI does)');
  const env = Object.fromEntries(
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .map((line) => /^([A-Z_]+)=['"]?(.*?)['"]?$/.exec(line.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], m[2]]),
  );
  return { url: env.KEYCLOAK_URL, adminUser: env.KEYCLOAK_ADMIN_USER, adminPassword: env.KEYCLOAK_ADMIN_PASSWORD, version: env.KEYCLOAK_VERSION };
}

/** The operator scripts' admin API client, signed in as the test server's bootstrap admin (the server's own view, not Terraform's). */
export class KeycloakAdmin extends KeycloakApi {
  constructor(server: KeycloakServer) {
    super(server.url, { kind: 'user', username: server.adminUser, password: server.adminPassword });
  }

  /** Deletes, and is content when there was nothing to delete (a clean slate before a test). */
  async remove(pathName: string): Promise<void> {
    try {
      await this.delete(pathName);
    } catch (error) {
      if (!(error instanceof KeycloakApiError && error.status === 404)) throw error;
    }
  }
}

/**
 * Runs `npm run keycloak:bootstrap` for real (its CLI, as `npm run deploy` does) against the test
 * server for this estate text, keeping the server's bootstrap admin (the other live tests read the
 * server's state as that admin; the e2e tier shows the admin retired). Returns the Terraform
 * client's new secret, for TF_VAR_keycloak_terraform_client_secret.
 */
export function bootstrapTerraformClient(server: KeycloakServer, estateText: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'live-bootstrap-'));
  const estateFile = path.join(dir, 'estate.yaml');
  fs.writeFileSync(estateFile, estateText);
  const clientSecret = crypto.randomBytes(24).toString('hex');
  const result = spawnSync('node', [path.join(ROOT, 'scripts', 'ts-run.js'), path.join(ROOT, 'scripts', 'keycloak', 'bootstrap.ts'), '--estate', estateFile, '--keep-bootstrap-admin'], {
    encoding: 'utf8',
    env: { ...process.env, TF_VAR_keycloak_admin_password: server.adminPassword, TF_VAR_keycloak_terraform_client_secret: clientSecret },
    timeout: 120_000,
  });
  fs.rmSync(dir, { recursive: true, force: true });
  if (result.status !== 0) throw new Error(`keycloak:bootstrap failed (${result.status}): ${result.stdout}${result.stderr}`);
  return clientSecret;
}
