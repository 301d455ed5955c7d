import * as fs from 'fs';
import * as path from 'path';
import { parseNginxConf, locationsOf, serversListeningOn, allDirectives } from '../../policy/nginx-conf';
import { AI_GATEWAY_ROUTES } from '../../render/ai-gateway';
import { NginxConfigInput, publicOrigin, renderNginxConf, renderNginxSecretsTemplate } from '../../render/nginx';
import { listenPorts, nginxSandbox, nginxTest, onLoopback } from '../helpers/nginx';
import { freePort } from '../helpers/processes';

function input(overrides: Partial<NginxConfigInput> = {}): NginxConfigInput {
  return {
    domain: 'ide.corp.example',
    httpsPort: 443,
    tlsProtocols: ['TLSv1.2', 'TLSv1.3'],
    tlsCurves: ['X25519', 'prime256v1', 'secp384r1'],
    certificatePath: '/etc/nginx/tls/fullchain.pem',
    keyPath: '/etc/nginx/tls/privkey.pem',
    realm: 'webide',
    adminAllowCidrs: ['10.20.0.0/24'],
    upstreams: { keycloak: 'webide-keycloak:8080', oauth2Proxy: 'webide-oauth2-proxy:4180', litellm: 'webide-litellm:4000', tabby: 'webide-tabby:8080' },
    workspaceHostPrefix: 'webide-ide-',
    workspacePort: 8080,
    aiGatewayPort: 8081,
    secretsIncludePath: '/etc/nginx/secrets/ai-gateway.conf',
    listenAddresses: { edge: '10.202.0.14', identity: '10.202.0.30', ai: '10.202.0.46' },
    ...overrides,
  };
}

describe('renderNginxConf', () => {
  it('is deterministic and independent of the roster', () => {
    expect(renderNginxConf(input())).toBe(renderNginxConf(input()));
    expect(renderNginxConf(input())).not.toMatch(/alice|bob/);
  });

  it('uses the modern TLS policy: TLS 1.2/1.3 only, ECDHE AEAD ciphers, HSTS, no session tickets', () => {
    const conf = renderNginxConf(input());
    expect(conf).toContain('ssl_protocols TLSv1.2 TLSv1.3;');
    expect(conf).toMatch(/ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:[A-Z0-9-:]+;/);
    expect(conf).not.toMatch(/ssl_ciphers[^;]*(RC4|3DES|CBC|[ :]DHE-)/);
    expect(conf).toContain('add_header Strict-Transport-Security "max-age=63072000" always;');
    expect(conf).toContain('ssl_session_tickets off;');
  });

  it('only redirects on plain HTTP', () => {
    const conf = renderNginxConf(input());
    const httpServer = conf.slice(conf.indexOf('listen 10.202.0.14:8080;'), conf.indexOf('listen 10.202.0.14:8443 ssl http2;'));
    expect(httpServer).toContain('return 301 https://ide.corp.example$request_uri;');
    expect(httpServer).not.toContain('proxy_pass');
  });

  it('carries a non-default HTTPS port in redirects and forwarded headers', () => {
    const conf = renderNginxConf(input({ httpsPort: 8443 }));
    expect(publicOrigin('ide.corp.example', 8443)).toBe('https://ide.corp.example:8443');
    expect(conf).toContain('return 301 https://ide.corp.example:8443$request_uri;');
    expect(conf).toContain('proxy_set_header X-Forwarded-Port 8443;');
  });

  it("makes no absolute redirect on the entry server: its listener port (8443) is not the published one", () => {
    const conf = renderNginxConf(input({ httpsPort: 18443 }));
    const entry = conf.slice(conf.indexOf('listen 10.202.0.14:8443 ssl http2;'), conf.indexOf('location = / {'));
    expect(entry).toContain('absolute_redirect off;');
  });

  it('signs out without naming the sign-out URL as where to go next (oauth2-proxy would redirect to itself)', () => {
    const conf = renderNginxConf(input());
    const start = conf.indexOf('location = /oauth2/sign_out {');
    expect(start).toBeGreaterThan(0);
    const block = conf.slice(start, conf.indexOf('}', start));
    expect(block).toContain('proxy_pass http://$oauth2_proxy_upstream;');
    expect(block).not.toContain('X-Auth-Request-Redirect');
  });

  it('protects /u/<name>/ with auth_request and routes only to the signed-in user', () => {
    const conf = renderNginxConf(input());
    const location = conf.slice(conf.indexOf('location ~ ^/u/'), conf.indexOf('location / {', conf.indexOf('location ~ ^/u/')));
    expect(location).toContain('auth_request /oauth2/auth;');
    expect(location).toContain('auth_request_set $auth_user $upstream_http_x_auth_request_preferred_username;');
    expect(location).toContain('proxy_set_header Upgrade $http_upgrade;');
    expect(location).toContain('proxy_pass http://$ws_upstream$ws_request_rest;');
    expect(conf).toContain('"~^(?<owner>[a-z][a-z0-9-]*[a-z0-9]):\\k<owner>$" "webide-ide-$owner:8080";');
    expect(conf).toContain('default "127.0.0.1:8403";');
  });

  it('allow-lists the Keycloak admin side and denies it when the list is empty', () => {
    expect(renderNginxConf(input())).toMatch(/location ~ \^\/\(admin\|realms\/master\)\/ \{\n\s+allow 10\.20\.0\.0\/24;\n\s+deny all;/);
    expect(renderNginxConf(input({ adminAllowCidrs: [] }))).toMatch(/location ~ \^\/\(admin\|realms\/master\)\/ \{\n\s+deny all;/);
  });

  it('keeps secrets out: the AI gateway includes them from a separate file', () => {
    const conf = renderNginxConf(input());
    expect(conf).toContain('include /etc/nginx/secrets/ai-gateway.conf;');
    expect(conf).toContain('proxy_set_header Authorization $litellm_authorization;');
    expect(conf).not.toMatch(/Bearer/);
    expect(renderNginxSecretsTemplate()).toBe('set $litellm_authorization "Bearer $LITELLM_GATEWAY_KEY";\nset $tabby_authorization "Bearer $TABBY_API_TOKEN";\n');
  });

  describe('the AI gateway server', () => {
    const gatewayServer = (conf = renderNginxConf(input())) => {
      const servers = serversListeningOn(parseNginxConf(conf), 8081).filter((server) => server.block!.some((d) => d.name === 'listen' && d.args[0] === '8081'));
      expect(servers).toHaveLength(1);
      return servers[0];
    };

    it('has exactly one exact location per allow-listed route, and a catch-all that answers 404', () => {
      const locations = locationsOf(gatewayServer());
      const forwarding = locations.filter((l) => allDirectives(l.block).some((d) => d.name === 'proxy_pass'));
      expect(forwarding.map((l) => `${l.modifier} ${l.path}`).sort()).toEqual(AI_GATEWAY_ROUTES.map((r) => `= ${r.path}`).sort());
      const others = locations.filter((l) => !forwarding.includes(l));
      expect(others.map((l) => [l.modifier, l.path, l.block.map((d) => [d.name, ...d.args])])).toEqual([['', '/', [['return', '404']]]]);
      // Nothing forwards outside a location.
      expect((gatewayServer().block ?? []).filter((d) => d.name.endsWith('_pass'))).toEqual([]);
    });

    it('forwards each route to its fixed upstream path, only for its methods (others get 404)', () => {
      const locations = locationsOf(gatewayServer());
      for (const route of AI_GATEWAY_ROUTES) {
        const location = locations.find((l) => l.modifier === '=' && l.path === route.path)!;
        const variable = route.upstream === 'litellm' ? '$litellm_upstream' : '$tabby_upstream';
        expect(location.block.filter((d) => d.name === 'proxy_pass').map((d) => d.args)).toEqual([[`http://${variable}${route.upstreamPath}$is_args$args`]]);
        const guard = location.block.find((d) => d.name === 'if')!;
        expect(guard.args.join(' ')).toBe(`($request_method !~ ^(${[...route.methods].sort().join('|')})$)`);
        expect(guard.block).toEqual([{ name: 'return', args: ['404'] }]);
      }
    });

    it("sends LiteLLM the gateway's credential, never the master key, and clears other key headers", () => {
      const conf = renderNginxConf(input());
      const locations = locationsOf(gatewayServer(conf));
      for (const route of AI_GATEWAY_ROUTES) {
        const location = locations.find((l) => l.path === route.path)!;
        const headers = location.block.filter((d) => d.name === 'proxy_set_header').map((d) => d.args);
        expect(headers).toContainEqual(['Authorization', route.upstream === 'litellm' ? '$litellm_authorization' : '$tabby_authorization']);
        if (route.upstream === 'litellm') expect(headers).toContainEqual(['X-LiteLLM-Api-Key', '']);
      }
      expect(conf).not.toContain('MASTER_KEY');
      expect(renderNginxSecretsTemplate()).not.toContain('MASTER_KEY');
      expect(renderNginxSecretsTemplate()).toContain('$LITELLM_GATEWAY_KEY');
    });

    it('renders only the routes it is given (the policy rule checks them against the allow-list)', () => {
      const one = renderNginxConf(input({ aiGatewayRoutes: [AI_GATEWAY_ROUTES[0]] }));
      expect(locationsOf(gatewayServer(one)).map((l) => l.path)).toEqual([AI_GATEWAY_ROUTES[0].path, '/']);
    });
  });

  it('passes the real `nginx -t`', async () => {
    const sandbox = nginxSandbox();
    const secrets = path.join(sandbox.dir, 'ai-gateway.conf');
    // What nginx's entrypoint does at start: envsubst of the template.
    fs.writeFileSync(secrets, renderNginxSecretsTemplate().replace('$LITELLM_GATEWAY_KEY', 'sk-test-only').replace('$TABBY_API_TOKEN', 'test-only'));
    const conf = path.join(sandbox.dir, 'nginx.conf');
    // nginx -t binds the listeners: moved to loopback (the fixed addresses to stand-ins), on free ports.
    const rendered = renderNginxConf(input({ certificatePath: sandbox.cert, keyPath: sandbox.key, secretsIncludePath: secrets }));
    const ports = new Map<number, number>();
    for (const port of listenPorts(rendered)) ports.set(port, await freePort());
    fs.writeFileSync(conf, onLoopback(rendered, ports));
    const result = nginxTest(conf, sandbox.dir);
    expect(result.output).toContain('test is successful');
    expect(result.status).toBe(0);
  });

  it('fails the real `nginx -t` on a curve the OpenSSL does not know (the check can fail)', () => {
    const sandbox = nginxSandbox();
    const secrets = path.join(sandbox.dir, 'ai-gateway.conf');
    // What nginx's entrypoint does at start: envsubst of the template.
    fs.writeFileSync(secrets, renderNginxSecretsTemplate().replace('$LITELLM_GATEWAY_KEY', 'sk-test-only').replace('$TABBY_API_TOKEN', 'test-only'));
    const conf = path.join(sandbox.dir, 'nginx.conf');
    fs.writeFileSync(conf, renderNginxConf(input({ certificatePath: sandbox.cert, keyPath: sandbox.key, secretsIncludePath: secrets, tlsCurves: ['NotACurve'] })));
    expect(nginxTest(conf, sandbox.dir).status).not.toBe(0);
  });
});
