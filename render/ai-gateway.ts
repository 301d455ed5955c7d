/**
 * The AI gateway's allow-list: the only requests nginx forwards from an IDE to the AI
 * services. One list feeds the nginx locations (render/nginx.ts), the routes LiteLLM
 * lets the gateway's key call (render/litellm.ts) and the policy rule that keeps the
 * gateway closed (policy/rules/ai-gateway.ts), so the three cannot drift apart.
 *
 * What the IDE's tools call, and nothing else:
 * - Continue (provider `openai`, apiBase `<gateway>/v1`): chat completions, completions, models.
 *   Embeddings would be added here only with an embedding model; the estate configures none.
 * - Tabby's VS Code extension (endpoint `<gateway>/tabby`): completion, health, events.
 */
export type AiGatewayUpstream = 'litellm' | 'tabby';
export type HttpMethod = 'GET' | 'POST';

export interface AiGatewayRoute {
  /** Exact path an IDE requests on the gateway (an nginx `location =`). */
  readonly path: string;
  readonly upstream: AiGatewayUpstream;
  /** Exact path forwarded to the upstream; nothing of the client's path is passed on. */
  readonly upstreamPath: string;
  /** Methods forwarded; any other method gets 404 from nginx. */
  readonly methods: readonly HttpMethod[];
  /** Which IDE tool needs it, for the README and the plan report. */
  readonly usedBy: string;
}

/** The allow-list, sorted by path. */
export const AI_GATEWAY_ROUTES: readonly AiGatewayRoute[] = [
  { path: '/tabby/v1/completions', upstream: 'tabby', upstreamPath: '/v1/completions', methods: ['POST'], usedBy: "Tabby's extension: code completion" },
  { path: '/tabby/v1/events', upstream: 'tabby', upstreamPath: '/v1/events', methods: ['POST'], usedBy: "Tabby's extension: accepted/dismissed completion events" },
  { path: '/tabby/v1/health', upstream: 'tabby', upstreamPath: '/v1/health', methods: ['GET'], usedBy: "Tabby's extension: server check" },
  { path: '/v1/chat/completions', upstream: 'litellm', upstreamPath: '/v1/chat/completions', methods: ['POST'], usedBy: 'Continue: chat, edit, apply' },
  { path: '/v1/completions', upstream: 'litellm', upstreamPath: '/v1/completions', methods: ['POST'], usedBy: 'Continue: completions' },
  { path: '/v1/models', upstream: 'litellm', upstreamPath: '/v1/models', methods: ['GET'], usedBy: 'Continue: model list' },
];

/** The LiteLLM routes the gateway's key may call: exactly the allow-listed ones, sorted. */
export function litellmGatewayRoutes(routes: readonly AiGatewayRoute[] = AI_GATEWAY_ROUTES): string[] {
  return routes
    .filter((r) => r.upstream === 'litellm')
    .map((r) => r.upstreamPath)
    .sort();
}
