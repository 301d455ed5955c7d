import { USERNAME_PATTERN } from '../config/roster';
import { AI_GATEWAY_ROUTES, AiGatewayRoute } from './ai-gateway';
import { DOCKER_DNS, NGINX_TMP_PATHS } from './user-forwarder';
import { accessLogs, AiLimits, GATEWAY_LIMIT_ZONE, GATEWAY_LOG_FORMAT, GATEWAY_USER_HEADER, gatewayLocations } from './nginx';

/**
 * The AI gateway of the Swarm target: nginx on the forwarders' overlay, alone (the entry point is
 * a service of its own there). The same allow-list, credentials, rate limits and access records
 * as on one host (render/nginx.ts); what differs is how it knows the user. On one host that is the
 * address a request arrived on (each user network has its own); on a swarm every call comes from
 * a user forwarder (render/user-forwarder.ts), which names its user in `X-Webide-User` and
 * replaces whatever the IDE sent. No IDE is on the forwarders' overlay, so no IDE can send the
 * header here itself.
 */
export interface SwarmAiGatewayInput {
  /** Where the gateway listens on the forwarders' overlay. */
  readonly port: number;
  /** LiteLLM and Tabby as `host:port` on the AI overlay (looked up per request). */
  readonly upstreams: { readonly litellm: string; readonly tabby: string };
  /** The secrets include (renderNginxSecrets): a Swarm secret file. */
  readonly secretsIncludePath: string;
  readonly aiLimits: AiLimits;
  /** nginx's syslog target for the audit sink, when the estate has one. */
  readonly auditSyslog?: string;
  /** Defaults to AI_GATEWAY_ROUTES; tests pass other lists. */
  readonly aiGatewayRoutes?: readonly AiGatewayRoute[];
}

/** The nginx variable of the forwarder's header (`X-Webide-User` → `$http_x_webide_user`). */
const USER_HEADER_VARIABLE = `$http_${GATEWAY_USER_HEADER.toLowerCase().replace(/-/g, '_')}`;

/** nginx.conf of the Swarm AI gateway (run as `nginx -c <file> -g 'daemon off; pid /tmp/nginx.pid;'`). */
export function renderSwarmAiGatewayConf(input: SwarmAiGatewayInput): string {
  return `# The AI gateway (webide-estate, Swarm target): render/swarm-ai-gateway.ts.
worker_processes auto;
error_log stderr warn;
events { worker_connections 4096; }
http {
  server_tokens off;
${NGINX_TMP_PATHS}
  resolver ${DOCKER_DNS} valid=10s ipv6=off;
  resolver_timeout 5s;

  # The user the forwarder named; anything that is not a roster username counts as nobody.
  map ${USER_HEADER_VARIABLE} $gateway_user {
    default "";
    "~${USERNAME_PATTERN.source}" ${USER_HEADER_VARIABLE};
  }
  log_format gateway escape=json '${GATEWAY_LOG_FORMAT}';

  limit_req_zone $gateway_user zone=${GATEWAY_LIMIT_ZONE.litellm}:10m rate=${input.aiLimits.chat.perMinute}r/m;
  limit_req_zone $gateway_user zone=${GATEWAY_LIMIT_ZONE.tabby}:10m rate=${input.aiLimits.completion.perMinute}r/m;
  limit_req_status 429;

  map $host $litellm_upstream { default "${input.upstreams.litellm}"; }
  map $host $tabby_upstream { default "${input.upstreams.tabby}"; }

  server {
    listen ${input.port};
    include ${input.secretsIncludePath};
    client_max_body_size 16m;
${accessLogs('gateway', input.auditSyslog, '    ')}
    # No user named: nobody to attribute the request to.
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
