/**
 * A small client for Keycloak's admin REST API, for the operator scripts (bootstrap, first
 * password). It signs in either as a user of the master realm (the bootstrap admin) or as a
 * service-account client, and says which call failed and how.
 */
export type KeycloakLogin =
  | { readonly kind: 'user'; readonly username: string; readonly password: string }
  | { readonly kind: 'client'; readonly clientId: string; readonly clientSecret: string };

export class KeycloakApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Waits, at most `seconds`, until Keycloak at `url` answers its master realm's discovery document.
 * On one engine the platform stack's deploy ends with Keycloak healthy; on a swarm the entry
 * stack's ends when Keycloak's service is created, before Keycloak has started (about a minute).
 */
export async function untilKeycloakAnswers(url: string, seconds: number, log: (line: string) => void): Promise<void> {
  const discovery = `${url.replace(/\/$/, '')}/realms/master/.well-known/openid-configuration`;
  const deadline = Date.now() + seconds * 1000;
  let last = '';
  for (let attempt = 0; ; attempt++) {
    try {
      const response = await fetch(discovery, { signal: AbortSignal.timeout(10_000) });
      if (response.ok) return;
      last = `${response.status}`;
    } catch (error) {
      last = `${(error as Error).message}${(error as { cause?: Error }).cause ? ` (${(error as { cause: Error }).cause.message})` : ''}`;
    }
    if (Date.now() > deadline) throw new Error(`Keycloak did not answer ${discovery} within ${seconds}s (last: ${last})`);
    if (attempt === 0) log(`keycloak:bootstrap: waiting for Keycloak at ${discovery} (${last})`);
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

export class KeycloakApi {
  private token?: { value: string; fetchedAt: number };

  constructor(
    readonly url: string,
    private readonly login: KeycloakLogin,
  ) {}

  /** Signs in now; false when Keycloak refuses these credentials (any other failure throws). */
  async canSignIn(): Promise<boolean> {
    try {
      await this.accessToken();
      return true;
    } catch (error) {
      if (error instanceof KeycloakApiError && (error.status === 400 || error.status === 401)) return false;
      throw error;
    }
  }

  get<T = any>(path: string): Promise<T> {
    return this.call('GET', path) as Promise<T>;
  }

  /** A GET that answers undefined for 404. */
  async find<T = any>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (error) {
      if (error instanceof KeycloakApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  post(path: string, body: unknown): Promise<unknown> {
    return this.call('POST', path, body);
  }

  put(path: string, body: unknown): Promise<unknown> {
    return this.call('PUT', path, body);
  }

  delete(path: string, body?: unknown): Promise<unknown> {
    return this.call('DELETE', path, body);
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.url}/admin/realms${path}`, {
      method,
      headers: { Authorization: `Bearer ${await this.accessToken()}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new KeycloakApiError(response.status, `${method} /admin/realms${path}: ${response.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  }

  private async accessToken(): Promise<string> {
    // Master's access tokens live 60 s by default; fetch a fresh one well before that.
    if (this.token && Date.now() - this.token.fetchedAt < 30_000) return this.token.value;
    const form: Record<string, string> =
      this.login.kind === 'user'
        ? { grant_type: 'password', client_id: 'admin-cli', username: this.login.username, password: this.login.password }
        : { grant_type: 'client_credentials', client_id: this.login.clientId, client_secret: this.login.clientSecret };
    const response = await fetch(`${this.url}/realms/master/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });
    const text = await response.text();
    if (!response.ok) {
      const who = this.login.kind === 'user' ? `user ${this.login.username}` : `client ${this.login.clientId}`;
      throw new KeycloakApiError(response.status, `sign-in to ${this.url} as ${who}: ${response.status} ${text.slice(0, 200)}`);
    }
    this.token = { value: (JSON.parse(text) as { access_token: string }).access_token, fetchedAt: Date.now() };
    return this.token.value;
  }
}
