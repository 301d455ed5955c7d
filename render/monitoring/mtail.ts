import { AI_GATEWAY_ROUTES } from '../ai-gateway';

/**
 * mtail programs that turn the audit sink's records into metrics (Debian bookworm's mtail
 * 3.0.0~rc50). mtail has no JSON parser: the programs match the JSON text with regular
 * expressions (RE2). Every string field is matched as a whole JSON string
 * (`"(?:[^"\\]|\\.)*"`), so text inside a value (a user name, a URI, a label) can never be
 * taken for a field: JSON escapes every `"` inside a string. Fields the programs do not use
 * are skipped as whole `"key":value` pairs, so a field added between them does not break
 * them; only the order of the fields they read must stay as their writers write it.
 */

/** One JSON string value: quotes, then anything but a quote or backslash, or an escape pair. */
const JSON_STRING_BODY = '(?:[^"\\\\]|\\\\.)*';
const JSON_STRING = `"${JSON_STRING_BODY}"`;
/** One `"key":value,` pair of nginx's record (string or number values), skipped. */
const NGINX_FIELD = `"[a-z_]+":(?:${JSON_STRING}|-?[0-9.]+),`;

/** File names of the programs (mtail loads every `*.mtail` in its directory). */
export const MTAIL_PROGRAM_FILES = {
  aiGateway: 'ai-gateway.mtail',
  containerEvents: 'container-events.mtail',
} as const;

/** The `server` field of nginx's records for requests to the AI gateway. */
export const AI_GATEWAY_LOG_SERVER = 'ai-gateway';

/** The `route` label of gateway requests to paths off the allow-list. */
export const OTHER_ROUTE = 'other';

/**
 * Histogram bounds (seconds) of the gateway's request times: fine between 0.1 and 0.3 s, where
 * the autocomplete target lies, so the P95 interpolates within 50 ms.
 */
export const DEFAULT_GATEWAY_BUCKETS_SECONDS: readonly number[] = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1, 2, 5];

export interface AiGatewayProgramInput {
  /**
   * Paths that get a `route` label of their own (the gateway's allow-list). Any other path is
   * counted as `other`, so requests to random paths cannot create series.
   * @default the paths of AI_GATEWAY_ROUTES
   */
  readonly routes?: readonly string[];
  /** Upper bounds of the histogram's buckets, seconds, ascending. @default DEFAULT_GATEWAY_BUCKETS_SECONDS */
  readonly bucketsSeconds?: readonly number[];
}

/** Metric names the programs define (the alert rules use them). */
export const MTAIL_METRICS = {
  gatewayRequestSeconds: 'webide_ai_gateway_request_seconds',
  gatewayResponses: 'webide_ai_gateway_responses_total',
  containerEvents: 'webide_container_events_total',
} as const;

/** A string as an RE2 pattern that matches it literally, with mtail's `/` delimiter escaped. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** A number as mtail writes it (no exponent). */
function bound(value: number): string {
  return String(value);
}

/**
 * The AI gateway's requests, from nginx's records in `<day>/nginx-access.jsonl`:
 * - `webide_ai_gateway_request_seconds{route}`: histogram of nginx's `request_time` (seconds,
 *   from the first byte read from the IDE to the last byte sent back);
 * - `webide_ai_gateway_responses_total{route,status}`: responses by HTTP status.
 * Only records whose `server` is `ai-gateway` count. The fields read, in nginx's order:
 * `time`, `server` (right after `time`), `uri`, `status`, `request_time`.
 */
export function renderAiGatewayProgram(input: AiGatewayProgramInput = {}): string {
  const routes = [...new Set(input.routes ?? AI_GATEWAY_ROUTES.map((r) => r.path))].sort();
  if (routes.length === 0) throw new Error('monitoring: the AI gateway program needs at least one route');
  for (const route of routes) {
    if (!/^\/[A-Za-z0-9._~/-]*$/.test(route)) {
      throw new Error(`monitoring: gateway route '${route}' is not a plain path (letters, digits, ._~-/ after a leading /)`);
    }
  }
  const buckets = input.bucketsSeconds ?? DEFAULT_GATEWAY_BUCKETS_SECONDS;
  if (buckets.length < 2 || buckets.some((b, i) => !Number.isFinite(b) || b <= 0 || (i > 0 && b <= buckets[i - 1]))) {
    throw new Error(`monitoring: bucketsSeconds must be two or more positive numbers in ascending order, got [${buckets.join(', ')}]`);
  }
  const record =
    `^\\{"time":${JSON_STRING},"server":"${literal(AI_GATEWAY_LOG_SERVER)}",(?:${NGINX_FIELD})*` +
    `"uri":"(?P<uri>${JSON_STRING_BODY})","status":(?P<status>\\d{3}),(?:${NGINX_FIELD})*` +
    '"request_time":(?P<request_time>\\d+(?:\\.\\d+)?)[,}]';
  const allowed = `^(?:${routes.map(literal).join('|')})$`;
  const M = MTAIL_METRICS;
  return `# Rendered by webide-estate from the estate config. Do not edit by hand.
# The AI gateway's requests, from nginx's access records as the audit sink keeps them
# (<day>/nginx-access.jsonl, one JSON object per line, fields in nginx's order).
# route: the request's path when it is on the gateway's allow-list, "${OTHER_ROUTE}" otherwise.

# mtail 3.0.0~rc50 counts a value v in the bucket (lower, upper] and, when the first bound is
# above 0, adds a bucket (0, first]: a request_time of exactly 0.000 (an answer nginx gives
# itself, such as a 404 or 429) would be counted in _count but in no bucket. The leading -1 is
# only the lower edge of the first bucket (mtail exports no le="-1" series).
histogram ${M.gatewayRequestSeconds} by route buckets -1, ${buckets.map(bound).join(', ')}
counter ${M.gatewayResponses} by route, status

/${record}/ {
  $uri =~ /${allowed}/ {
    ${M.gatewayRequestSeconds}[$uri] = $request_time
    ${M.gatewayResponses}[$uri][$status]++
  } else {
    ${M.gatewayRequestSeconds}["${OTHER_ROUTE}"] = $request_time
    ${M.gatewayResponses}["${OTHER_ROUTE}"][$status]++
  }
}
`;
}

/**
 * Docker's container actions counted by default: the lifecycle ones and a failed health check.
 * Not `exec_*` (their action text carries the command line) nor `attach`, `resize`, `top` and
 * the like, which say nothing about a container's health.
 */
export const DEFAULT_CONTAINER_ACTIONS: readonly string[] = ['create', 'destroy', 'die', 'health_status: unhealthy', 'kill', 'oom', 'restart', 'start', 'stop'];

export interface ContainerEventsProgramInput {
  /** Docker's `Action` values to count (an `action` label each). @default DEFAULT_CONTAINER_ACTIONS */
  readonly actions?: readonly string[];
}

/**
 * `webide_container_events_total{container,action}`: Docker's container events, from the
 * Docker-events collector's records in `<day>/docker-events.jsonl` (each one event as the
 * engine's /events API streams it). `container` is `Actor.Attributes.name`, `action` the
 * event's `Action`. The engine writes the event's fields in a fixed order (`status`, `id` and
 * `from` only on older API versions) and the attributes (the container's labels among them)
 * sorted by key, so `name` is found by skipping whole `"key":"value"` pairs.
 */
export function renderContainerEventsProgram(input: ContainerEventsProgramInput = {}): string {
  const actions = [...new Set(input.actions ?? DEFAULT_CONTAINER_ACTIONS)].sort();
  if (actions.length === 0) throw new Error('monitoring: the container events program needs at least one action');
  for (const action of actions) {
    if (!/^[a-z_]+(: [a-z]+)?$/.test(action)) {
      throw new Error(`monitoring: container action '${action}' is not one of Docker's action names (e.g. die, oom, 'health_status: unhealthy')`);
    }
  }
  const legacy = ['status', 'id', 'from'].map((key) => `(?:"${key}":${JSON_STRING},)?`).join('');
  const event =
    `^\\{${legacy}"Type":"container","Action":"(?P<action>${actions.map(literal).join('|')})",` +
    `"Actor":\\{"ID":"[0-9a-f]*","Attributes":\\{(?:${JSON_STRING}:${JSON_STRING},)*"name":"(?P<container>${JSON_STRING_BODY})"`;
  return `# Rendered by webide-estate from the estate config. Do not edit by hand.
# Docker's container events, from the Docker-events collector's records as the audit sink keeps
# them (<day>/docker-events.jsonl, one event per line as the engine's /events API streams it).
# container: the container's name; action: Docker's action (${actions.join(', ')}).
counter ${MTAIL_METRICS.containerEvents} by container, action

/${event}/ {
  ${MTAIL_METRICS.containerEvents}[$container][$action]++
}
`;
}

export interface MtailProgramsInput {
  readonly aiGateway?: AiGatewayProgramInput;
  readonly containerEvents?: ContainerEventsProgramInput;
}

/** Every program, by file name (MTAIL_PROGRAM_FILES), for mtail's program directory. */
export function renderMtailPrograms(input: MtailProgramsInput = {}): Record<string, string> {
  return {
    [MTAIL_PROGRAM_FILES.aiGateway]: renderAiGatewayProgram(input.aiGateway),
    [MTAIL_PROGRAM_FILES.containerEvents]: renderContainerEventsProgram(input.containerEvents),
  };
}
