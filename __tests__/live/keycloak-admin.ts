import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
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

/** A small client for Keycloak's admin REST API (the server's own view, not Terraform's). */
export class KeycloakAdmin {
  private token?: { value: string; fetchedAt: number };

  constructor(private readonly server: KeycloakServer) {}

  async get<T = any>(pathName: string): Promise<T> {
    const response = await fetch(`${this.server.url}/admin/realms${pathName}`, { headers: { Authorization: `Bearer ${await this.accessToken()}` } });
    if (!response.ok) throw new Error(`GET ${pathName}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  async delete(pathName: string): Promise<number> {
    const response = await fetch(`${this.server.url}/admin/realms${pathName}`, { method: 'DELETE', headers: { Authorization: `Bearer ${await this.accessToken()}` } });
    return response.status;
  }

  private async accessToken(): Promise<string> {
    // master's access tokens live 60 s by default; fetch a fresh one well before that.
    if (this.token && Date.now() - this.token.fetchedAt < 30_000) return this.token.value;
    const response = await fetch(`${this.server.url}/realms/master/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', client_id: 'admin-cli', username: this.server.adminUser, password: this.server.adminPassword }),
    });
    if (!response.ok) throw new Error(`admin token: ${response.status} ${await response.text()}`);
    this.token = { value: ((await response.json()) as { access_token: string }).access_token, fetchedAt: Date.now() };
    return this.token.value;
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
