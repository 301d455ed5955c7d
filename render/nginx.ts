import { AI_GATEWAY_ROUTES, AiGatewayRoute } from './ai-gateway';

/**
 * nginx.conf for the estate's only published entry point. A pure function of its
 * input: no clock, no file reads; the same input always gives the same text.
 *
 * The file does not list users. `/u/<name>/` is routed by pattern and authorised
 * by comparing <name> with the username oauth2-proxy vouches for, so a roster
 * edit never changes this file.
 */
export interface NginxConfigInput {
  /** Public host name, e.g. ide.corp.example. */
  readonly domain: string;
  /** Published HTTPS port; URLs carry it when it is not 443. */
  readonly httpsPort: number;
  readonly tlsProtocols: readonly string[];
  readonly tlsCurves: readonly string[];
  /** Paths inside the nginx container. */
  readonly certificatePath: string;
  readonly keyPath: string;
  /** Keycloak realm whose public endpoints are proxied. */
  readonly realm: string;
  /** Sources allowed to reach Keycloak's admin console and API; empty means nobody. */
  readonly adminAllowCidrs: readonly string[];
  /** Upstream addresses (`host:port`) on the Docker networks. */
  readonly upstreams: {
    readonly keycloak: string;
    readonly oauth2Proxy: string;
    readonly litellm: string;
    readonly tabby: string;
  };
  /** Host-name prefix of IDE containers: `<prefix><username>`. */
  readonly workspaceHostPrefix: string;
  /** Port the IDE containers and the AI gateway listen on inside the networks. */
  readonly workspacePort: number;
  readonly aiGatewayPort: number;
  /** File (inside the container) that sets `$litellm_authorization` and `$tabby_authorization`; kept out of this file because it holds secrets. */
  readonly secretsIncludePath: string;
  /** What the AI gateway forwards, each as an exact location. @default AI_GATEWAY_ROUTES */
  readonly aiGatewayRoutes?: readonly AiGatewayRoute[];
  /**
   * nginx's fixed addresses on its networks. The TLS entry and its HTTP redirect listen only on
   * the edge address; the AI gateway port is refused on all three (it answers only on the
   * workspace networks, whose addresses Docker assigns).
   */
  readonly listenAddresses: { readonly edge: string; readonly identity: string; readonly ai: string };
  /**
   * Host names served besides `domain` (e.g. the host of keycloak.providerUrl, which Terraform
   * reaches Keycloak's admin API through). Every other Host is refused. @default - none
   */
  readonly extraServerNames?: readonly string[];
  /** Sign-in request rates per client address. @default DEFAULT_RATE_LIMITS */
  readonly rateLimits?: Partial<RateLimits>;
  /** The AI gateway's limits per user (operations.aiLimits). */
  readonly aiLimits: AiLimits;
  /**
   * Files (a glob) that map nginx's own address on each user's network to that user:
   * `"<address>" <username>;` lines, written by the workspaces stack when it links nginx to the
   * network (constructs/workspace-link.ts). The gateway answers only requests that arrived on
   * one of these addresses, and attributes them to its user.
   */
  readonly gatewayUsersInclude: string;
  /**
   * The audit sink as an `access_log` destination (render/audit-sink.ts, nginxAuditSyslogTarget):
   * every access record goes there as well as to stdout. @default - stdout only
   */
  readonly auditSyslog?: string;
  /**
   * nginx's status page (`stub_status`: connections and requests), for the nginx exporter: a
   * server on `listenAddresses.identity` only, on its own port, answering `GET STUB_STATUS_PATH`
   * to the listed client addresses only (403 to any other; 404 on any other path), with no
   * access records. @default - no status page
   */
  readonly stubStatus?: StubStatusInput;
}

/** nginx's status page: where it listens (on the identity address) and whom it answers. */
export interface StubStatusInput {
  /** Port on nginx's identity address, e.g. 8405; no other listener may use it. */
  readonly port: number;
  /** IPv4 addresses (the nginx exporter's fixed address) the page answers; everyone else gets 403. */
  readonly allow: readonly string[];
}

/** The path of nginx's status page. */
export const STUB_STATUS_PATH = '/stub_status';

/** The status page's URL as a client on the identity network reaches it, e.g. `http://10.202.0.30:8405/stub_status`. */
export function stubStatusUrl(identityAddress: string, port: number): string {
  return `http://${identityAddress}:${port}${STUB_STATUS_PATH}`;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** The status page's server block, or nothing; throws on a port that another listener uses or a client that is not an address. */
function stubStatusServer(input: NginxConfigInput): string {
  const status = input.stubStatus;
  if (status === undefined) return '';
  const taken = [8080, 8443, input.aiGatewayPort, 8403, 8404];
  if (!Number.isInteger(status.port) || status.port < 1 || status.port > 65535 || taken.includes(status.port)) {
    throw new Error(`nginx: stubStatus.port ${status.port} must be a free port from 1 to 65535 (not one of ${taken.join(', ')}), e.g. 8405`);
  }
  if (status.allow.length === 0) throw new Error("nginx: stubStatus.allow is empty; name the nginx exporter's address (nobody else may read the page)");
  const bad = status.allow.filter((address) => !IPV4.test(address));
  if (bad.length > 0) throw new Error(`nginx: stubStatus.allow must hold IPv4 addresses (the nginx exporter's), got ${bad.join(', ')}`);
  const allow = [...new Set(status.allow)].sort().map((address) => `      allow ${address};`);
  return `
  # nginx's status page (connections, requests) for the nginx exporter: on the identity address
  # only, to the exporter's address only. Not an access record (it is read every scrape).
  server {
    listen ${input.listenAddresses.identity}:${status.port};
    access_log off;
    location = ${STUB_STATUS_PATH} {
${allow.join('\n')}
      deny all;
      stub_status;
    }
    location / {
      return 404;
    }
  }
`;
}

/** Requests per minute and burst of one user at one kind of AI endpoint. */
export interface UserRate {
  readonly perMinute: number;
  readonly burst: number;
}

/** Per-user limits of the AI gateway: chat (LiteLLM) and completion (Tabby) count apart. */
export interface AiLimits {
  readonly chat: UserRate;
  readonly completion: UserRate;
}

/**
 * `limit_req` rate (requests per second, per client address) and burst (requests over the rate
 * served at once before nginx answers 429) of the sign-in endpoints: oauth2-proxy's /oauth2/
 * (start, callback) and Keycloak's auth, token and login-actions endpoints.
 */
export interface RateLimits {
  readonly signInPerSecond: number;
  readonly signInBurst: number;
}

/**
 * Generous enough for normal use: one sign-in is about six limited requests, and users behind
 * one shared desktop host (a VDI farm) share an address; Keycloak's brute-force detection guards
 * the passwords, this only floods.
 */
export const DEFAULT_RATE_LIMITS: RateLimits = { signInPerSecond: 5, signInBurst: 50 };

/** The fields of the access records, in order: the audit sink and monitoring read them as JSON. */
export const ENTRY_LOG_FORMAT =
  '{"time":"$time_iso8601","server":"entry","client":"$remote_addr","user":"$auth_user","ide":"$ide_owner",' +
  '"method":"$request_method","uri":"$uri","status":$status,"bytes":$body_bytes_sent,"request_time":$request_time,"upstream":"$upstream_addr"}';
export const GATEWAY_LOG_FORMAT =
  '{"time":"$time_iso8601","server":"ai-gateway","client":"$remote_addr","user":"$gateway_user",' +
  '"method":"$request_method","uri":"$uri","status":$status,"bytes":$body_bytes_sent,"request_time":$request_time,"upstream":"$upstream_addr","upstream_time":"$upstream_response_time"}';

/** The gateway's per-user limit zone of each upstream. */
export const GATEWAY_LIMIT_ZONE: Record<AiGatewayRoute['upstream'], 'ai_chat' | 'ai_completion'> = { litellm: 'ai_chat', tabby: 'ai_completion' };

/**
 * The Content-Security-Policy nginx adds to every answer. What VS Code web (code-server 4.117)
 * needs: eval and inline scripts and styles, blob:/data: workers, fonts and images, same-origin
 * connections (https and wss: 'self' covers both in CSP 3) and same-origin frames (webviews).
 * An upstream's own policy (code-server's, Keycloak's) comes on top: browsers enforce both.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data: blob:",
  "media-src 'self' data: blob:",
  "worker-src 'self' data: blob:",
  "child-src 'self' blob:",
  "frame-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'self'",
].join('; ');

/**
 * Security headers on every answer of the TLS entry and its redirect, nginx's own (redirects,
 * errors, 429) and the upstreams' alike. The upstreams' own copies of all but the CSP are
 * hidden, so each is sent once.
 */
export const SECURITY_HEADERS: readonly { readonly name: string; readonly value: string }[] = [
  { name: 'Strict-Transport-Security', value: 'max-age=63072000' },
  { name: 'X-Content-Type-Options', value: 'nosniff' },
  { name: 'Referrer-Policy', value: 'same-origin' },
  { name: 'X-Frame-Options', value: 'SAMEORIGIN' },
  { name: 'Content-Security-Policy', value: CONTENT_SECURITY_POLICY },
];

/** code-server's port proxies (`/proxy/<port>/`, `/absproxy/<port>/`): refused at nginx, any case, matched on the normalised $uri. */
export const IDE_PORT_PROXY_LOCATION = '^/u/[^/]+/(abs)?proxy(/|$)';

export const MOZILLA_INTERMEDIATE_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

/** A username as the roster allows it; the same pattern routes and authorises. */
const USERNAME_CAPTURE = '(?<ws_user>[a-z][a-z0-9-]*[a-z0-9])';

export function publicOrigin(domain: string, httpsPort: number): string {
  return `https://${publicAuthority(domain, httpsPort)}`;
}

/** `host[:port]` as browsers send it in Host and Origin: the port only when it is not 443. */
export function publicAuthority(domain: string, httpsPort: number): string {
  return httpsPort === 443 ? domain : `${domain}:${httpsPort}`;
}

/** The host names nginx serves: the public domain, then the host of every other URL the estate is reached at, once each. */
export function servedNames(domain: string, otherUrls: readonly string[]): string[] {
  const hosts = otherUrls.map((url) => new URL(url).hostname.replace(/^\[(.*)\]$/, '$1'));
  return [...new Set([domain, ...hosts])];
}

function addHeaderLines(indent: string): string {
  return SECURITY_HEADERS.map((h) => `${indent}add_header ${h.name} "${h.value}" always;`).join('\n');
}

/** The entry's process settings and the start of its http block, on either target. */
export const ENTRY_HEAD = `worker_processes auto;
worker_rlimit_nofile 8192;
events {
  worker_connections 4096;
}

http {
  server_tokens off;
  include /etc/nginx/mime.types;
  default_type application/octet-stream;`;

/**
 * What the TLS entry itself needs (sign-in, Keycloak's public side, one IDE per user), whichever
 * target it runs on: the one-host nginx (renderNginxConf) and the Swarm entry
 * (render/swarm-entry.ts) render it with the same functions.
 */
export type EntryInput = Pick<
  NginxConfigInput,
  'domain' | 'httpsPort' | 'tlsProtocols' | 'tlsCurves' | 'certificatePath' | 'keyPath' | 'realm' | 'adminAllowCidrs' | 'workspaceHostPrefix' | 'workspacePort' | 'extraServerNames' | 'rateLimits'
> & { readonly upstreams: Pick<NginxConfigInput['upstreams'], 'keycloak' | 'oauth2Proxy'> };

/** The sign-in rate and burst: the estate's, or the defaults. */
function signInRates(input: EntryInput): RateLimits {
  return { ...DEFAULT_RATE_LIMITS, ...(input.rateLimits ?? {}) };
}

/** The sign-in limit zone (per client address), for the http block. */
export function signInLimitZone(input: EntryInput): string {
  return `limit_req_zone $binary_remote_addr zone=signin:10m rate=${signInRates(input).signInPerSecond}r/s;`;
}

/**
 * The entry's http-level routing: websocket upgrade, upstreams as variables (Keycloak,
 * oauth2-proxy, then `extraUpstreamMaps`), the IDE routing maps, body and buffer sizes, TLS.
 */
export function entryRouting(input: EntryInput, extraUpstreamMaps: readonly string[] = []): string {
  const up = input.upstreams;
  return `  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
  }

  # Upstreams as variables: resolved per request through Docker's DNS, so nginx starts
  # (and \`nginx -t\` passes) even while a service is down.
  map $host $keycloak_upstream { default "${up.keycloak}"; }
  map $host $oauth2_proxy_upstream { default "${up.oauth2Proxy}"; }
${extraUpstreamMaps.map((map) => `  ${map}\n`).join('')}
  # The part of the original, still-encoded request from the / after /u/<name> (query included).
  map $request_uri $ws_request_rest {
    "~^/u/[^/?]+(?<rest>/.*)$" $rest;
    default "/";
  }

  # A user reaches /u/<name>/ only when <name> is the username oauth2-proxy vouched for.
  # Evaluated lazily, when proxy_pass needs it: after auth_request has run.
  map "$ws_user:$auth_user" $ws_upstream {
    "~^(?<owner>[a-z][a-z0-9-]*[a-z0-9]):\\k<owner>$" "${input.workspaceHostPrefix}$owner:${input.workspacePort}";
    default "127.0.0.1:8403";
  }

  client_max_body_size 64m;
  proxy_buffer_size 16k;
  proxy_buffers 8 16k;

  ssl_protocols ${input.tlsProtocols.join(' ')};
  ssl_ciphers ${MOZILLA_INTERMEDIATE_CIPHERS.join(':')};
  ssl_prefer_server_ciphers off;
  ssl_ecdh_curve ${input.tlsCurves.join(':')};
  ssl_session_timeout 1d;
  ssl_session_cache shared:MozSSL:10m;
  ssl_session_tickets off;`;
}

/**
 * The entry's servers: the default servers (444 to unknown names), the HTTP redirect, the TLS
 * server (sign-in, Keycloak's public and allow-listed admin side, one IDE per user) and the two
 * loopback helpers. Its public ports listen on `listenOn` (`<address>:`, or '' for every address).
 */
export function entryServers(input: EntryInput, listenOn: string): string {
  const origin = publicOrigin(input.domain, input.httpsPort);
  const authority = publicAuthority(input.domain, input.httpsPort);
  const serverNames = [...new Set([input.domain, ...(input.extraServerNames ?? [])])].join(' ');
  const adminRules = [...input.adminAllowCidrs].sort().map((cidr) => `      allow ${cidr};`);
  // Headers every proxied request to Keycloak and oauth2-proxy carries: the public host (as
  // validated by server_name) and port, not nginx's internal listener.
  const forwarded = [
    'proxy_set_header Host $host;',
    'proxy_set_header X-Forwarded-For $remote_addr;',
    'proxy_set_header X-Forwarded-Proto https;',
    'proxy_set_header X-Forwarded-Host $host;',
    `proxy_set_header X-Forwarded-Port ${input.httpsPort};`,
  ]
    .map((line) => `      ${line}`)
    .join('\n');
  const signInLimit = `      limit_req zone=signin burst=${signInRates(input).signInBurst} nodelay;`;
  return `  # The published ports reach nginx on its edge address only. A request whose Host is not one
  # of the estate's names gets no answer (444): the first server of each port is the default.
  # TLS is not refused at the handshake (ssl_reject_handshake): a client that connects by IP
  # address sends no SNI and would be refused with it, whatever its Host.
  server {
    listen ${listenOn}8080 default_server;
    return 444;
  }

  server {
    listen ${listenOn}8443 ssl http2 default_server;
    ssl_certificate ${input.certificatePath};
    ssl_certificate_key ${input.keyPath};
    return 444;
  }

  # Plain HTTP only redirects.
  server {
    listen ${listenOn}8080;
    server_name ${serverNames};
${addHeaderLines('    ')}
    location / {
      return 301 ${origin}$request_uri;
    }
  }

  server {
    listen ${listenOn}8443 ssl http2;
    server_name ${serverNames};
    # Relative redirects: nginx would otherwise put its own listener port (8443), not the
    # published one, into every Location it makes absolute (found by the e2e browser test).
    absolute_redirect off;
    ssl_certificate ${input.certificatePath};
    ssl_certificate_key ${input.keyPath};

    # On every answer; a location with an add_header of its own repeats them (nginx does not
    # inherit add_header into it). The upstreams' own copies are hidden: each is sent once.
${addHeaderLines('    ')}
${SECURITY_HEADERS.filter((h) => h.name !== 'Content-Security-Policy')
  .map((h) => `    proxy_hide_header ${h.name};`)
  .join('\n')}

    # Overwritten by auth_request_set in protected locations; logged as the user (and the IDE).
    set $auth_user "";
    set $ide_owner "";

    location = / {
      return 302 /oauth2/start?rd=/u/;
    }

    # oauth2-proxy: sign-in (start, callback) and sign-out.
    location /oauth2/ {
${signInLimit}
      proxy_pass http://$oauth2_proxy_upstream;
${forwarded}
      proxy_set_header X-Auth-Request-Redirect $request_uri;
    }

    # Sign-out without X-Auth-Request-Redirect: oauth2-proxy redirects there after signing out,
    # which for the sign-out URL itself is a redirect loop (found by the e2e browser test).
    location = /oauth2/sign_out {
      proxy_pass http://$oauth2_proxy_upstream;
${forwarded}
    }

    location = /oauth2/auth {
      internal;
      proxy_pass http://$oauth2_proxy_upstream;
${forwarded}
      proxy_set_header X-Forwarded-Uri $request_uri;
      proxy_set_header Content-Length "";
      proxy_pass_request_body off;
    }

    location @oauth2_signin {
      return 302 /oauth2/start?rd=$request_uri;
    }

    # Keycloak's public endpoints (login pages, OIDC). Only this realm.
    location /realms/${input.realm}/ {
      proxy_pass http://$keycloak_upstream;
${forwarded}
    }
    location /resources/ {
      proxy_pass http://$keycloak_upstream;
${forwarded}
    }

    # Keycloak's admin side (console, admin API, master realm): allow-listed sources only.
    # Before the sign-in location below, so that a realm named master stays allow-listed.
    location ~ ^/(admin|realms/master)/ {
${adminRules.length > 0 ? `${adminRules.join('\n')}\n` : ''}      deny all;
      proxy_pass http://$keycloak_upstream;
${forwarded}
    }

    # Keycloak's sign-in endpoints of this realm: rate-limited per client address.
    location ~ ^/realms/${input.realm}/(protocol/openid-connect/(auth|token)|login-actions/) {
${signInLimit}
      proxy_pass http://$keycloak_upstream;
${forwarded}
    }

    # /u/ sends a signed-in user to their own IDE. (A plain "return" would run
    # before auth_request, so the redirect comes from a local server after it.)
    location = /u/ {
      auth_request /oauth2/auth;
      error_page 401 = @oauth2_signin;
      auth_request_set $auth_user $upstream_http_x_auth_request_preferred_username;
      proxy_pass http://127.0.0.1:8404/$auth_user;
    }

    # code-server's port proxies would reach any port inside the IDE container: refused, before
    # the IDE location (regex locations match in order), on the normalised $uri.
    location ~* ${IDE_PORT_PROXY_LOCATION} {
      return 404;
    }

    # One IDE per user, reachable only by that user.
    location ~ ^/u/${USERNAME_CAPTURE}/ {
      auth_request /oauth2/auth;
      error_page 401 = @oauth2_signin;
      auth_request_set $auth_user $upstream_http_x_auth_request_preferred_username;
      # After the sign-in check: its subrequest shares the variables and runs the server's set.
      auth_request_set $ide_owner $ws_user;
      auth_request_set $auth_cookie $upstream_http_set_cookie;
      add_header Set-Cookie $auth_cookie;
${addHeaderLines('      ')}

      proxy_pass http://$ws_upstream$ws_request_rest;
      proxy_http_version 1.1;
      # The public authority, port included: code-server compares a websocket's Origin with it.
      proxy_set_header Host ${authority};
      proxy_set_header X-Forwarded-Host ${authority};
      proxy_set_header Forwarded "";
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header Accept-Encoding gzip;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }

    location / {
      return 404;
    }
  }

  # Answers requests for someone else's IDE.
  server {
    listen 127.0.0.1:8403;
    location / {
      default_type text/plain;
      return 403 "This workspace belongs to another user.\\n";
    }
  }

  # Redirects a signed-in user from /u/ to /u/<their name>/.
  server {
    listen 127.0.0.1:8404;
    absolute_redirect off;
    location ~ ^/${USERNAME_CAPTURE}$ {
      return 302 /u/$ws_user/;
    }
    location / {
      return 403;
    }
  }
`;
}

export function renderNginxConf(input: NginxConfigInput): string {
  const at = input.listenAddresses;
  return `# Rendered by webide-estate from the estate config. Do not edit by hand.
${ENTRY_HEAD}
  # Docker's embedded DNS: IDE and service names are resolved per request, so an
  # IDE that is not running yet does not stop nginx from starting.
  resolver 127.0.0.11 valid=10s ipv6=off;
  resolver_timeout 5s;

  # Access records as JSON (no request bodies, headers or query strings: no prompt, no secret),
  # to stdout and to the audit sink. The entry's name the signed-in user and the IDE asked for;
  # the gateway's the user whose network the request came from.
  log_format entry escape=json '${ENTRY_LOG_FORMAT}';
  log_format gateway escape=json '${GATEWAY_LOG_FORMAT}';
${accessLogs('entry', input.auditSyslog, '  ')}
  error_log /dev/stderr warn;

  # The user whose IDE sent an AI request: nginx's own address on that user's network, as the
  # workspaces stack recorded it when it linked nginx to the network. Each IDE is alone on its
  # network, so the address a request arrived on names its user; nothing the IDE sends counts.
  map $server_addr $gateway_user {
    default "";
    include ${input.gatewayUsersInclude};
  }

  # Sign-in: per client address. The AI gateway: per user, chat and completion apart.
  # Over the rate and burst: 429.
  ${signInLimitZone(input)}
  limit_req_zone $gateway_user zone=${GATEWAY_LIMIT_ZONE.litellm}:10m rate=${input.aiLimits.chat.perMinute}r/m;
  limit_req_zone $gateway_user zone=${GATEWAY_LIMIT_ZONE.tabby}:10m rate=${input.aiLimits.completion.perMinute}r/m;
  limit_req_status 429;

${entryRouting(input, [`map $host $litellm_upstream { default "${input.upstreams.litellm}"; }`, `map $host $tabby_upstream { default "${input.upstreams.tabby}"; }`])}

${entryServers(input, `${at.edge}:`)}
  # The AI gateway port on the edge, identity and AI networks: no answer. nginx prefers these
  # addresses to the gateway's wildcard below.
  server {
    listen ${at.edge}:${input.aiGatewayPort};
    listen ${at.identity}:${input.aiGatewayPort};
    listen ${at.ai}:${input.aiGatewayPort};
    return 444;
  }
${stubStatusServer(input)}
  # The one path from IDE containers to the AI services. Reached only on the workspace
  # networks: the server above refuses the port on nginx's own fixed addresses, which nginx
  # prefers to this wildcard. nginx adds the gateway's credentials, so no IDE holds them.
  # Only the allow-listed endpoints, each an exact location with its methods; every
  # other path and method gets 404 here and never reaches LiteLLM or Tabby.
  server {
    listen ${input.aiGatewayPort};
    include ${input.secretsIncludePath};
    client_max_body_size 16m;
${accessLogs('gateway', input.auditSyslog, '    ')}
    # An address no user's network was recorded for: nobody to attribute the request to.
    if ($gateway_user = "") {
      return 403;
    }

${gatewayLocations(input.aiGatewayRoutes ?? AI_GATEWAY_ROUTES, input.aiLimits)}
    location / {
      return 404;
    }
  }
}
`;
}

/** The header the gateway names the requesting user in, to LiteLLM and Tabby. */
export const GATEWAY_USER_HEADER = 'X-Webide-User';

/** `access_log` lines of one format: stdout, and the audit sink when there is one. */
export function accessLogs(format: 'entry' | 'gateway', auditSyslog: string | undefined, indent: string): string {
  const sinks = ['/dev/stdout', ...(auditSyslog ? [auditSyslog] : [])];
  return sinks.map((sink) => `${indent}access_log ${sink} ${format};`).join('\n');
}

/** The variable that carries the upstream address, per upstream. */
const UPSTREAM_VARIABLE: Record<AiGatewayRoute['upstream'], string> = { litellm: '$litellm_upstream', tabby: '$tabby_upstream' };
/** The variable (set in the secrets include) that carries the upstream's credential. */
const AUTHORIZATION_VARIABLE: Record<AiGatewayRoute['upstream'], string> = { litellm: '$litellm_authorization', tabby: '$tabby_authorization' };
const READ_TIMEOUT: Record<AiGatewayRoute['upstream'], string> = { litellm: '10m', tabby: '2m' };
/** Other headers LiteLLM reads a key from; cleared so only the gateway's key counts. */
const CLEARED_KEY_HEADERS = ['Api-Key', 'Ocp-Apim-Subscription-Key', 'X-Api-Key', 'X-Goog-Api-Key', 'X-LiteLLM-Api-Key'];

/** The regex of the methods a gateway location forwards, e.g. `^(GET)$`. */
export function gatewayMethodPattern(route: AiGatewayRoute): string {
  return `^(${[...route.methods].sort().join('|')})$`;
}

/** Where a gateway location forwards: the allow-listed upstream path, plus the query string. */
export function gatewayProxyPassTarget(route: AiGatewayRoute): string {
  return `http://${UPSTREAM_VARIABLE[route.upstream]}${route.upstreamPath}$is_args$args`;
}

/**
 * One exact location per allow-listed route. The upstream gets the allow-listed path
 * itself (plus the query string), never the client's spelling of it, so nginx and the
 * upstream cannot disagree about which endpoint was asked for.
 */
export function gatewayLocations(routes: readonly AiGatewayRoute[], limits: AiLimits): string {
  return [...routes]
    .sort((a, b) => a.path.localeCompare(b.path))
    .map((route) =>
      [
        `    # ${route.usedBy}`,
        `    location = ${route.path} {`,
        `      limit_req zone=${GATEWAY_LIMIT_ZONE[route.upstream]} burst=${limits[route.upstream === 'litellm' ? 'chat' : 'completion'].burst} nodelay;`,
        `      if ($request_method !~ ${gatewayMethodPattern(route)}) {`,
        '        return 404;',
        '      }',
        `      proxy_pass ${gatewayProxyPassTarget(route)};`,
        '      proxy_http_version 1.1;',
        `      proxy_set_header Authorization ${AUTHORIZATION_VARIABLE[route.upstream]};`,
        ...(route.upstream === 'litellm' ? CLEARED_KEY_HEADERS.map((header) => `      proxy_set_header ${header} "";`) : []),
        // Who asked, as the gateway knows it (LiteLLM records it); the IDE's own value is replaced.
        `      proxy_set_header ${GATEWAY_USER_HEADER} $gateway_user;`,
        '      proxy_set_header Connection "";',
        '      proxy_buffering off;',
        `      proxy_read_timeout ${READ_TIMEOUT[route.upstream]};`,
        '    }',
        '',
      ].join('\n'),
    )
    .join('\n');
}

/**
 * Environment variables that carry the AI gateway's credentials into the nginx container.
 * LiteLLM's is the gateway key, never the master key (see render/litellm.ts).
 */
export const AI_GATEWAY_SECRET_ENV = { litellmKey: 'LITELLM_GATEWAY_KEY', tabbyToken: 'TABBY_API_TOKEN' } as const;

/**
 * Template of the AI gateway's secrets include. nginx's entrypoint fills the
 * placeholders from the environment at start (envsubst on /etc/nginx/templates), so
 * the uploaded files hold no secret and stay readable in plans. Placeholders are
 * written `$NAME`, not `${NAME}`, which Terraform would read as an interpolation.
 */
export function renderNginxSecretsTemplate(): string {
  return (
    `set $litellm_authorization "Bearer $${AI_GATEWAY_SECRET_ENV.litellmKey}";\n` +
    `set $tabby_authorization "Bearer $${AI_GATEWAY_SECRET_ENV.tabbyToken}";\n`
  );
}
