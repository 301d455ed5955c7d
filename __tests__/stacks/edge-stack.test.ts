import { defaultEstate, defaultRoster } from '../helpers/inputs';
import { resourcesOf, synthEstate } from '../helpers/synth';

function containersOf(json: ReturnType<typeof synthEstate>['edge']) {
  return new Map([...resourcesOf(json)].filter(([key]) => key.startsWith('docker_container.')).map(([, body]) => [body.name as string, body as Record<string, any>]));
}

describe('entry point: nginx (platform stack) and oauth2-proxy (edge stack)', () => {
  const estate = defaultEstate();
  const synthesized = synthEstate(estate, defaultRoster(estate));
  const edge = new Map([...containersOf(synthesized.edge), ...containersOf(synthesized.platform)]);

  it('makes nginx the only container in the whole estate that publishes host ports: 443 and 80', () => {
    const publishing = Object.entries(synthesized)
      .filter(([name]) => name !== 'stacks')
      .flatMap(([, json]) => [...resourcesOf(json as never)].filter(([key, body]) => key.startsWith('docker_container.') && body.ports));
    expect(publishing.map(([, body]) => body.name)).toEqual(['webide-nginx']);
    expect(containersOf(synthesized.platform).get('webide-nginx')!.ports).toEqual([
      { internal: 8443, external: 443, ip: '0.0.0.0', protocol: 'tcp' },
      { internal: 8080, external: 80, ip: '0.0.0.0', protocol: 'tcp' },
    ]);
  });

  it('mounts the TLS files read-only and uploads nginx.conf and a secrets template that holds no secret', () => {
    const nginx = edge.get('webide-nginx')!;
    expect(nginx.mounts).toEqual([
      { type: 'bind', source: '/etc/webide/tls/fullchain.pem', target: '/etc/nginx/tls/fullchain.pem', read_only: true },
      { type: 'bind', source: '/etc/webide/tls/privkey.pem', target: '/etc/nginx/tls/privkey.pem', read_only: true },
      // The gateway's user map: writable for root only (the links' docker cp), nginx runs as 101.
      { type: 'volume', source: expect.stringContaining('docker_volume.nginx_gateway-users'), target: '/etc/nginx/gateway-users' },
      // The files nginx is given: their volume, read-only (its root filesystem is read-only too).
      { type: 'volume', source: expect.stringContaining('docker_volume.nginx_config_volume'), target: '/etc/webide-nginx', read_only: true },
    ]);
    expect(nginx.read_only).toBe(true);
    const loader = edge.get('webide-managed-nginx-loader')!;
    expect(loader).toMatchObject({ start: false, must_run: false });
    expect(loader.upload.map((u: { file: string }) => u.file)).toEqual(['/etc/webide-nginx/nginx.conf', '/etc/webide-nginx/templates/ai-gateway.conf.template']);
    const template = loader.upload.find((u: { file: string }) => u.file === '/etc/webide-nginx/templates/ai-gateway.conf.template');
    // The file keeps the placeholders; nginx's entrypoint fills them from the environment.
    expect(template.content).toBe('set $litellm_authorization "Bearer $LITELLM_GATEWAY_KEY";\nset $tabby_authorization "Bearer $TABBY_API_TOKEN";\n');
    expect(nginx.env).toEqual(expect.arrayContaining(['LITELLM_GATEWAY_KEY=${var.litellm_gateway_key}', 'TABBY_API_TOKEN=${var.tabby_api_token}']));
    // The gateway never holds LiteLLM's master key.
    expect(JSON.stringify(nginx)).not.toMatch(/MASTER_KEY|litellm_master_key/);
    expect(JSON.stringify(loader.upload)).not.toContain('var.');
  });

  it('configures oauth2-proxy for Keycloak with the public issuer, internal token endpoints and the client secret from the identity stack', () => {
    const proxy = edge.get('webide-oauth2-proxy')!;
    const env = Object.fromEntries((proxy.env as string[]).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
    expect(env).toMatchObject({
      OAUTH2_PROXY_PROVIDER: 'keycloak-oidc',
      OAUTH2_PROXY_CLIENT_ID: 'webide-ide',
      OAUTH2_PROXY_OIDC_ISSUER_URL: 'https://ide.corp.example/realms/webide',
      OAUTH2_PROXY_REDEEM_URL: 'http://webide-keycloak:8080/realms/webide/protocol/openid-connect/token',
      OAUTH2_PROXY_REDIRECT_URL: 'https://ide.corp.example/oauth2/callback',
      OAUTH2_PROXY_SET_XAUTHREQUEST: 'true',
      OAUTH2_PROXY_REVERSE_PROXY: 'true',
      OAUTH2_PROXY_COOKIE_SECRET: '${var.oauth2_proxy_cookie_secret}',
    });
    expect(env.OAUTH2_PROXY_CLIENT_SECRET).toMatch(/^\$\{data\.terraform_remote_state\.cross-stack-reference-input-identity\.outputs\.[^}]+client_secret\}$/);
  });
});
