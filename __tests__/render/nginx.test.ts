import * as fs from 'fs';
import * as path from 'path';
import { parseNginxConf, locationsOf, serversListeningOn, allDirectives } from '../../policy/nginx-conf';
import { AI_GATEWAY_ROUTES } from '../../render/ai-gateway';
import { DEFAULT_RATE_LIMITS, NginxConfigInput, publicOrigin, renderNginxConf, renderNginxSecretsTemplate, SECURITY_HEADERS, servedNames, STUB_STATUS_PATH, stubStatusUrl } from '../../render/nginx';
import { NginxDirective } from '../../policy/nginx-conf';
import { nginxAuditSyslogTarget } from '../../render/audit-sink';
import { loopbackPortsFor, nginxSandbox, nginxTest, onLoopback } from '../helpers/nginx';

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
    aiLimits: { chat: { perMinute: 30, burst: 10 }, completion: { perMinute: 600, burst: 40 } },
    gatewayUsersInclude: '/etc/nginx/gateway-users/*.conf',
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

  describe('listeners, names, headers and limits (read from the parsed file)', () => {
    const tree = () => parseNginxConf(renderNginxConf(input({ extraServerNames: ['127.0.0.1'] })));
    const servers = () => allDirectives(tree()).filter((d) => d.name === 'server');
    const listens = (server: NginxDirective) => server.block!.filter((d) => d.name === 'listen').map((d) => d.args.join(' '));
    const has = (block: readonly NginxDirective[], name: string, ...args: string[]) => block.some((d) => d.name === name && args.every((a, i) => d.args[i] === a));

    it('listens for the entry point and its redirect on the edge address only; the gateway is a wildcard refused on the fixed addresses', () => {
      expect(servers().map(listens)).toEqual([
        ['10.202.0.14:8080 default_server'],
        ['10.202.0.14:8443 ssl http2 default_server'],
        ['10.202.0.14:8080'],
        ['10.202.0.14:8443 ssl http2'],
        ['127.0.0.1:8403'],
        ['127.0.0.1:8404'],
        ['10.202.0.14:8081', '10.202.0.30:8081', '10.202.0.46:8081'],
        ['8081'],
      ]);
      const refusing = servers().filter((s) => listens(s).some((l) => /default_server|^10\.202\.0\.\d+:8081$/.test(l)));
      expect(refusing).toHaveLength(3);
      for (const server of refusing) expect(server.block!.filter((d) => d.name === 'return').map((d) => d.args)).toEqual([['444']]);
    });

    it('serves only the domain and the extra names; everything else falls to the 444 default servers', () => {
      const named = servers().filter((s) => s.block!.some((d) => d.name === 'server_name'));
      expect(named.map((s) => s.block!.find((d) => d.name === 'server_name')!.args)).toEqual([
        ['ide.corp.example', '127.0.0.1'],
        ['ide.corp.example', '127.0.0.1'],
      ]);
      expect(servedNames('ide.corp.example', ['https://127.0.0.1:18443'])).toEqual(['ide.corp.example', '127.0.0.1']);
      expect(servedNames('ide.corp.example', ['https://ide.corp.example'])).toEqual(['ide.corp.example']);
      expect(servedNames('ide.corp.example', ['https://[::1]:8443/'])).toEqual(['ide.corp.example', '::1']);
    });

    it('sends the security headers from every answering server, and repeats them in every location that has an add_header of its own', () => {
      const expected = SECURITY_HEADERS.map((h) => [h.name, h.value, 'always']);
      const headersOf = (block: readonly NginxDirective[]) => block.filter((d) => d.name === 'add_header' && SECURITY_HEADERS.some((h) => h.name === d.args[0])).map((d) => d.args);
      const answering = servers().filter((s) => s.block!.some((d) => d.name === 'server_name'));
      for (const server of answering) {
        expect(headersOf(server.block!)).toEqual(expected);
        for (const location of locationsOf(server).filter((l) => l.block.some((d) => d.name === 'add_header'))) {
          expect({ location: location.path, headers: headersOf(location.block) }).toEqual({ location: location.path, headers: expected });
        }
      }
      // The /u/ location is one of them (it adds Set-Cookie), so the check above is not empty.
      const entry = answering.find((s) => listens(s).some((l) => l.includes(':8443')))!;
      expect(locationsOf(entry).filter((l) => l.block.some((d) => d.name === 'add_header')).map((l) => l.path)).toEqual(['^/u/(?<ws_user>[a-z][a-z0-9-]*[a-z0-9])/']);
      // The upstreams' own copies are hidden, but for the CSP (browsers enforce both).
      expect(entry.block!.filter((d) => d.name === 'proxy_hide_header').map((d) => d.args[0])).toEqual(SECURITY_HEADERS.map((h) => h.name).filter((n) => n !== 'Content-Security-Policy'));
      expect(SECURITY_HEADERS.find((h) => h.name === 'Content-Security-Policy')!.value).toContain("frame-ancestors 'self'");
    });

    it("never forwards the client's Host: upstreams get $host, the IDE the public authority", () => {
      const conf = renderNginxConf(input({ httpsPort: 18443 }));
      expect(conf).not.toContain('$http_host');
      const hosts = allDirectives(parseNginxConf(conf)).filter((d) => d.name === 'proxy_set_header' && d.args[0] === 'Host').map((d) => d.args[1]);
      expect([...new Set(hosts)].sort()).toEqual(['$host', 'ide.corp.example:18443']);
      const ide = locationsOf(servers()[3]).find((l) => l.path.startsWith('^/u/(?<ws_user>'))!;
      expect(ide.block.filter((d) => d.name === 'proxy_set_header' && ['Host', 'X-Forwarded-Host'].includes(d.args[0])).map((d) => d.args)).toEqual([
        ['Host', 'ide.corp.example'],
        ['X-Forwarded-Host', 'ide.corp.example'],
      ]);
    });

    it("refuses code-server's port proxy before the IDE location, case-insensitively", () => {
      const locations = locationsOf(servers()[3]);
      const proxy = locations.findIndex((l) => l.modifier === '~*' && l.path === '^/u/[^/]+/(abs)?proxy(/|$)');
      const ide = locations.findIndex((l) => l.path.startsWith('^/u/(?<ws_user>'));
      expect(proxy).toBeGreaterThan(-1);
      expect(proxy).toBeLessThan(ide);
      expect(locations[proxy].block).toEqual([{ name: 'return', args: ['404'] }]);
    });

    it('rate-limits sign-in per client (oauth2-proxy and the realm sign-in endpoints) and the gateway per user (chat and completion apart), with 429', () => {
      const http = tree().find((d) => d.name === 'http')!.block!;
      expect(http.filter((d) => d.name === 'limit_req_zone').map((d) => d.args)).toEqual([
        ['$binary_remote_addr', 'zone=signin:10m', `rate=${DEFAULT_RATE_LIMITS.signInPerSecond}r/s`],
        ['$gateway_user', 'zone=ai_chat:10m', 'rate=30r/m'],
        ['$gateway_user', 'zone=ai_completion:10m', 'rate=600r/m'],
      ]);
      expect(has(http, 'limit_req_status', '429')).toBe(true);
      const limited = locationsOf(servers()[3]).filter((l) => has(l.block, 'limit_req', 'zone=signin')).map((l) => l.path);
      expect(limited).toEqual(['/oauth2/', '^/realms/webide/(protocol/openid-connect/(auth|token)|login-actions/)']);
      const gateway = locationsOf(servers()[7]).filter((l) => l.modifier === '=');
      expect(gateway.map((l) => [l.path, l.block.find((d) => d.name === 'limit_req')?.args])).toEqual(
        AI_GATEWAY_ROUTES.map((r) => [r.path, r.upstream === 'litellm' ? ['zone=ai_chat', 'burst=10', 'nodelay'] : ['zone=ai_completion', 'burst=40', 'nodelay']]),
      );
      const custom = renderNginxConf(input({ rateLimits: { signInPerSecond: 1, signInBurst: 2 }, aiLimits: { chat: { perMinute: 5, burst: 1 }, completion: { perMinute: 120, burst: 3 } } }));
      expect(custom).toContain('zone=signin:10m rate=1r/s;');
      expect(custom).toContain('limit_req zone=signin burst=2 nodelay;');
      expect(custom).toContain('zone=ai_chat:10m rate=5r/m;');
      expect(custom).toContain('limit_req zone=ai_completion burst=3 nodelay;');
    });

    it('attributes a gateway request to the user whose network it arrived on, refuses other addresses, and tells the upstreams who asked', () => {
      const http = tree().find((d) => d.name === 'http')!.block!;
      const map = http.find((d) => d.name === 'map' && d.args[0] === '$server_addr')!;
      expect(map.args).toEqual(['$server_addr', '$gateway_user']);
      expect(map.block).toEqual([
        { name: 'default', args: [''] },
        { name: 'include', args: ['/etc/nginx/gateway-users/*.conf'] },
      ]);
      const gateway = servers()[7].block!;
      const refuse = gateway.find((d) => d.name === 'if')!;
      expect([refuse.args, refuse.block]).toEqual([['($gateway_user', '=', '', ')'], [{ name: 'return', args: ['403'] }]]);
      for (const location of locationsOf(servers()[7]).filter((l) => l.modifier === '=')) {
        expect(location.block.filter((d) => d.name === 'proxy_set_header' && d.args[0] === 'X-Webide-User').map((d) => d.args[1])).toEqual(['$gateway_user']);
      }
    });

    it('logs access records as JSON with the user (and the IDE at the entry), to stdout and to the audit sink when there is one', () => {
      const http = tree().find((d) => d.name === 'http')!.block!;
      expect(http.filter((d) => d.name === 'access_log').map((d) => d.args)).toEqual([['/dev/stdout', 'entry']]);
      expect(servers()[7].block!.filter((d) => d.name === 'access_log').map((d) => d.args)).toEqual([['/dev/stdout', 'gateway']]);
      const withSink = parseNginxConf(renderNginxConf(input({ auditSyslog: nginxAuditSyslogTarget('10.202.0.62') })));
      const sink = 'syslog:server=10.202.0.62:5514,facility=local5,tag=nginx,nohostname';
      expect(allDirectives(withSink).filter((d) => d.name === 'access_log').map((d) => d.args)).toEqual([
        ['/dev/stdout', 'entry'],
        [sink, 'entry'],
        ['/dev/stdout', 'gateway'],
        [sink, 'gateway'],
      ]);
      const formats = Object.fromEntries(http.filter((d) => d.name === 'log_format').map((d) => [d.args[0], d.args.slice(2).join('')]));
      expect(Object.keys(formats)).toEqual(['entry', 'gateway']);
      expect(formats.entry).toContain('"user":"$auth_user","ide":"$ide_owner"');
      expect(formats.gateway).toContain('"user":"$gateway_user"');
      // Nothing that can carry a prompt or a secret: no bodies, headers, cookies or query strings.
      expect(Object.values(formats).join('')).not.toMatch(/\$(request_body|http_|cookie_|args|query_string|request_uri|request\b)/);
    });
  });

  describe("the status page for the nginx exporter", () => {
    const STATUS = { port: 8405, allow: ['10.202.0.28'] };
    const serversOf = (conf: string) => allDirectives(parseNginxConf(conf)).filter((d) => d.name === 'server');
    const listensOf = (server: NginxDirective) => server.block!.filter((d) => d.name === 'listen').map((d) => d.args.join(' '));

    it('is off unless asked for: no stub_status and no listener on its port', () => {
      const conf = renderNginxConf(input());
      expect(allDirectives(parseNginxConf(conf)).some((d) => d.name === 'stub_status')).toBe(false);
      expect(conf).not.toContain(':8405');
    });

    it("listens on nginx's identity address only and answers the exporter's address only, logging nothing and forwarding nothing", () => {
      const conf = renderNginxConf(input({ stubStatus: STATUS }));
      const all = serversOf(conf);
      const onPort = all.filter((s) => listensOf(s).some((l) => /:8405\b/.test(l)));
      expect(onPort.map(listensOf)).toEqual([['10.202.0.30:8405']]);
      const server = onPort[0].block!;
      expect(server.filter((d) => d.name === 'access_log').map((d) => d.args)).toEqual([['off']]);
      const locations = server.filter((d) => d.name === 'location');
      expect(locations.map((l) => l.args)).toEqual([['=', STUB_STATUS_PATH], ['/']]);
      expect(locations[0].block!.map((d) => [d.name, ...d.args])).toEqual([['allow', '10.202.0.28'], ['deny', 'all'], ['stub_status']]);
      expect(locations[1].block!.map((d) => [d.name, ...d.args])).toEqual([['return', '404']]);
      expect(allDirectives(server).some((d) => /^(proxy_pass|fastcgi_pass|uwsgi_pass|grpc_pass|include)$/.test(d.name))).toBe(false);
      // The only stub_status of the file; the other servers are as before.
      expect(allDirectives(parseNginxConf(conf)).filter((d) => d.name === 'stub_status')).toHaveLength(1);
      expect(all.filter((s) => !onPort.includes(s)).map(listensOf)).toEqual(serversOf(renderNginxConf(input())).map(listensOf));
      expect(stubStatusUrl('10.202.0.30', 8405)).toBe('http://10.202.0.30:8405/stub_status');
    });

    it.each([
      [{ port: 8443, allow: ['10.202.0.28'] }, /stubStatus\.port 8443 must be a free port/],
      [{ port: 8081, allow: ['10.202.0.28'] }, /stubStatus\.port 8081 must be a free port/],
      [{ port: 0, allow: ['10.202.0.28'] }, /stubStatus\.port 0/],
      [{ port: 8405, allow: [] }, /stubStatus\.allow is empty/],
      [{ port: 8405, allow: ['10.202.0.16/29'] }, /must hold IPv4 addresses .* got 10\.202\.0\.16\/29/],
      [{ port: 8405, allow: ['all'] }, /must hold IPv4 addresses .* got all/],
    ])('refuses %j', (stubStatus, message) => {
      expect(() => renderNginxConf(input({ stubStatus }))).toThrow(message);
    });
  });

  it('passes the real `nginx -t`', async () => {
    const sandbox = nginxSandbox();
    const secrets = path.join(sandbox.dir, 'ai-gateway.conf');
    // What nginx's entrypoint does at start: envsubst of the template.
    fs.writeFileSync(secrets, renderNginxSecretsTemplate().replace('$LITELLM_GATEWAY_KEY', 'sk-test-only').replace('$TABBY_API_TOKEN', 'test-only'));
    const conf = path.join(sandbox.dir, 'nginx.conf');
    // nginx -t binds the listeners: moved to loopback (the fixed addresses to stand-ins), on free ports.
    // With the status page, as the estate renders it (Debian's nginx-light has the stub_status module).
    const rendered = renderNginxConf(input({ certificatePath: sandbox.cert, keyPath: sandbox.key, secretsIncludePath: secrets, stubStatus: { port: 8405, allow: ['10.202.0.28'] } }));
    expect(rendered).toContain('stub_status;');
    const ports = await loopbackPortsFor(rendered);
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
