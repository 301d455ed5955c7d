import { DOCKER_DNS, NGINX_TMP_PATHS } from './user-forwarder';
import { accessLogs, ENTRY_HEAD, ENTRY_LOG_FORMAT, EntryInput, entryRouting, entryServers, signInLimitZone } from './nginx';

/**
 * The entry point of the Swarm target: the one-host entry's servers and routing (render/nginx.ts:
 * TLS, sign-in through oauth2-proxy, Keycloak's public side, one IDE per user reachable only by
 * that user), without the AI gateway, which is a service of its own on a swarm
 * (render/swarm-ai-gateway.ts). `/u/<name>/` goes to the user's forwarder (render/user-forwarder.ts)
 * on the forwarders' overlay, which passes it to the IDE.
 *
 * It listens on every address of its container: a Swarm task's addresses are assigned when it
 * starts, so no fixed address can be named as on one host. The container's other networks are
 * the forwarders' and the identity overlays, which hold only estate services (no IDE).
 */
export interface SwarmEntryInput extends EntryInput {
  /** nginx's syslog target for the audit sink, when the estate has one. @default - stdout only */
  readonly auditSyslog?: string;
}

/** nginx.conf of the Swarm entry point (run as `nginx -e stderr -c <file> -g 'daemon off; pid /tmp/nginx.pid;'`: the root is read-only). */
export function renderSwarmEntryConf(input: SwarmEntryInput): string {
  return `# The entry point (webide-estate, Swarm target): render/swarm-entry.ts. Do not edit by hand.
${ENTRY_HEAD}
  error_log stderr warn;
${NGINX_TMP_PATHS}
  # Docker's embedded DNS: forwarders and services are looked up per request, so a user's
  # forwarder that is not running yet does not stop nginx from starting.
  resolver ${DOCKER_DNS} valid=10s ipv6=off;
  resolver_timeout 5s;

  # Access records as JSON (no request bodies, headers or query strings), to stdout and to the
  # audit sink: the signed-in user and the IDE asked for.
  log_format entry escape=json '${ENTRY_LOG_FORMAT}';
${accessLogs('entry', input.auditSyslog, '  ')}

  # Sign-in: per client address; over the rate and burst, 429.
  ${signInLimitZone(input)}
  limit_req_status 429;

${entryRouting(input)}

${entryServers(input, '')}}
`;
}
