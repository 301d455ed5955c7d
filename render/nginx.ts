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
}

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
  return httpsPort === 443 ? `https://${domain}` : `https://${domain}:${httpsPort}`;
}

export function renderNginxConf(input: NginxConfigInput): string {
  const origin = publicOrigin(input.domain, input.httpsPort);
  const adminRules = [...input.adminAllowCidrs].sort().map((cidr) => `      allow ${cidr};`);
  const up = input.upstreams;
  // Headers every proxied request to Keycloak and oauth2-proxy carries: the public
  // host and port, not nginx's internal listener.
  const forwarded = [
    'proxy_set_header Host $http_host;',
    'proxy_set_header X-Forwarded-For $remote_addr;',
    'proxy_set_header X-Forwarded-Proto https;',
    'proxy_set_header X-Forwarded-Host $host;',
    `proxy_set_header X-Forwarded-Port ${input.httpsPort};`,
  ]
    .map((line) => `      ${line}`)
    .join('\n');
  return `# Rendered by webide-estate from the estate config. Do not edit by hand.
worker_processes auto;
events {
  worker_connections 4096;
}

http {
  server_tokens off;
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  # Docker's embedded DNS: IDE and service names are resolved per request, so an
  # IDE that is not running yet does not stop nginx from starting.
  resolver 127.0.0.11 valid=10s ipv6=off;
  resolver_timeout 5s;

  log_format audit escape=json '{"time":"$time_iso8601","client":"$remote_addr","user":"$auth_user",'
                               '"method":"$request_method","uri":"$uri","status":$status,'
                               '"bytes":$body_bytes_sent,"request_time":$request_time,"upstream":"$upstream_addr"}';
  access_log /dev/stdout audit;
  error_log /dev/stderr warn;

  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
  }

  # Upstreams as variables: resolved per request through Docker's DNS, so nginx starts
  # (and \`nginx -t\` passes) even while a service is down.
  map $host $keycloak_upstream { default "${up.keycloak}"; }
  map $host $oauth2_proxy_upstream { default "${up.oauth2Proxy}"; }
  map $host $litellm_upstream { default "${up.litellm}"; }
  map $host $tabby_upstream { default "${up.tabby}"; }

  # The part of the original, still-encoded request after /u/<name>/ (query included).
  map $request_uri $ws_request_rest {
    "~^/u/[^/?]+/(?<rest>.*)$" $rest;
    default "";
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
  ssl_session_tickets off;

  # Plain HTTP only redirects.
  server {
    listen 8080 default_server;
    location / {
      return 301 ${origin}$request_uri;
    }
  }

  server {
    listen 8443 ssl http2 default_server;
    server_name ${input.domain};
    # Relative redirects: nginx would otherwise put its own listener port (8443), not the
    # published one, into every Location it makes absolute (found by the e2e browser test).
    absolute_redirect off;
    ssl_certificate ${input.certificatePath};
    ssl_certificate_key ${input.keyPath};

    add_header Strict-Transport-Security "max-age=63072000" always;
    add_header X-Content-Type-Options nosniff always;
    add_header Referrer-Policy same-origin always;

    # Overwritten by auth_request_set in protected locations; logged as the user.
    set $auth_user "";

    location = / {
      return 302 /oauth2/start?rd=/u/;
    }

    # oauth2-proxy: sign-in, callback and sign-out.
    location /oauth2/ {
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
      return 302 /oauth2/start?rd=$scheme://$http_host$request_uri;
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
    location ~ ^/(admin|realms/master)/ {
${adminRules.length > 0 ? `${adminRules.join('\n')}\n` : ''}      deny all;
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

    # One IDE per user, reachable only by that user.
    location ~ ^/u/${USERNAME_CAPTURE}/ {
      auth_request /oauth2/auth;
      error_page 401 = @oauth2_signin;
      auth_request_set $auth_user $upstream_http_x_auth_request_preferred_username;
      auth_request_set $auth_cookie $upstream_http_set_cookie;
      add_header Set-Cookie $auth_cookie;

      proxy_pass http://$ws_upstream/$ws_request_rest;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
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

  # The one path from IDE containers to the AI services. Reached only on the
  # workspace networks; nginx adds the gateway's credentials, so no IDE holds them.
  # Only the allow-listed endpoints, each an exact location with its methods; every
  # other path and method gets 404 here and never reaches LiteLLM or Tabby.
  server {
    listen ${input.aiGatewayPort};
    include ${input.secretsIncludePath};
    client_max_body_size 16m;

${gatewayLocations(input.aiGatewayRoutes ?? AI_GATEWAY_ROUTES)}
    location / {
      return 404;
    }
  }
}
`;
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
function gatewayLocations(routes: readonly AiGatewayRoute[]): string {
  return [...routes]
    .sort((a, b) => a.path.localeCompare(b.path))
    .map((route) =>
      [
        `    # ${route.usedBy}`,
        `    location = ${route.path} {`,
        `      if ($request_method !~ ${gatewayMethodPattern(route)}) {`,
        '        return 404;',
        '      }',
        `      proxy_pass ${gatewayProxyPassTarget(route)};`,
        '      proxy_http_version 1.1;',
        `      proxy_set_header Authorization ${AUTHORIZATION_VARIABLE[route.upstream]};`,
        ...(route.upstream === 'litellm' ? CLEARED_KEY_HEADERS.map((header) => `      proxy_set_header ${header} "";`) : []),
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
