import { stringify } from 'yaml';
import { litellmGatewayRoutes } from './ai-gateway';

export interface LitellmConfigInput {
  /** Name clients ask for (`model` in their requests). */
  readonly chatModelName: string;
  /** Name vLLM serves the model under. */
  readonly servedModelName: string;
  /** OpenAI-compatible base URL of vLLM, e.g. http://vllm:8000/v1. */
  readonly vllmApiBase: string;
  /** Prompt and response bodies in logs and callbacks; the bank's default is off. */
  readonly logPrompts: boolean;
  /**
   * Serve Prometheus metrics at /metrics/ (the `prometheus` callback), without a key: the
   * estate's Prometheus scrapes it on the AI network (the AI gateway's allow-list never forwards
   * it). Needs the prometheus_client package (scripts/litellm-venv.sh pins it, images/litellm
   * installs it); without it LiteLLM does not start with this on. Every other route still wants a key.
   * @default false
   */
  readonly metrics?: boolean;
}

/**
 * Environment variables the rendered config and auth hook read their secrets from (values
 * come from Terraform). The master key stays with LiteLLM; the AI gateway (nginx) holds
 * only the gateway key.
 */
export const LITELLM_SECRET_ENV = { masterKey: 'LITELLM_MASTER_KEY', gatewayKey: 'LITELLM_GATEWAY_KEY', vllmApiKey: 'VLLM_API_KEY' } as const;

/** The auth hook's module, a file beside config.yaml (LiteLLM loads it from the config's directory). */
export const LITELLM_AUTH_HOOK = { module: 'webide_gateway_auth', file: 'webide_gateway_auth.py', function: 'user_api_key_auth' } as const;

/** The identity LiteLLM records for requests that came through the AI gateway. */
export const AI_GATEWAY_IDENTITY = 'webide-ai-gateway';

/**
 * LiteLLM proxy config.yaml. Secrets are referenced as `os.environ/…`, never written.
 */
export function renderLitellmConfig(input: LitellmConfigInput): string {
  const config = {
    model_list: [
      {
        model_name: input.chatModelName,
        litellm_params: {
          model: `openai/${input.servedModelName}`,
          api_base: input.vllmApiBase,
          api_key: `os.environ/${LITELLM_SECRET_ENV.vllmApiKey}`,
        },
        model_info: { mode: 'chat' },
      },
    ],
    litellm_settings: {
      drop_params: true,
      // Redacts message content from every logging callback.
      turn_off_message_logging: !input.logPrompts,
      telemetry: false,
      // Key expiry and the key's model allow-list are enforced on the hook's identity too.
      enable_post_custom_auth_checks: true,
      // /metrics/ for the estate's Prometheus: the one route that answers without a key.
      ...(input.metrics === true ? { callbacks: ['prometheus'], require_auth_for_metrics_endpoint: false } : {}),
    },
    general_settings: {
      master_key: `os.environ/${LITELLM_SECRET_ENV.masterKey}`,
      // Keys are checked by the estate's hook (renderLitellmAuthHook), then by LiteLLM's own
      // route and model checks on the identity the hook returns.
      custom_auth: `${LITELLM_AUTH_HOOK.module}.${LITELLM_AUTH_HOOK.function}`,
      custom_auth_run_common_checks: true,
      disable_spend_logs: !input.logPrompts,
      store_prompts_in_spend_logs: input.logPrompts,
    },
  };
  return `# Rendered by webide-estate from the estate config. Do not edit by hand.\n${stringify(config, { sortMapEntries: false, lineWidth: 0 })}`;
}

export interface LitellmAuthHookInput {
  /** LiteLLM routes the gateway key may call (the allow-list's LiteLLM part). */
  readonly gatewayRoutes: readonly string[];
  /** Model names the gateway key may use. */
  readonly gatewayModels: readonly string[];
}

/** The hook's input for an estate: the allow-listed LiteLLM routes and the chat model. */
export function litellmAuthHookInput(chatModelName: string): LitellmAuthHookInput {
  return { gatewayRoutes: litellmGatewayRoutes(), gatewayModels: [chatModelName] };
}

/** A Python string literal (JSON's escaping is valid Python for these ASCII names). */
const py = (value: string): string => JSON.stringify(value);

/**
 * LiteLLM's `general_settings.custom_auth` hook. LiteLLM's virtual keys need its
 * PostgreSQL database through Prisma; this hook gives the gateway a key of its own
 * without one:
 * - the master key (env LITELLM_MASTER_KEY) is proxy admin, for the estate's operators;
 * - the gateway key (env LITELLM_GATEWAY_KEY) is a non-admin identity that may call only
 *   the allow-listed routes and models: the hook refuses any other route itself, and
 *   LiteLLM's own checks (`custom_auth_run_common_checks`, `enable_post_custom_auth_checks`)
 *   enforce the identity's `allowed_routes` and `models` again;
 * - every other key is refused (401). A gateway key equal to the master key refuses
 *   everything (the platform stack's validation already forbids it).
 * Keys are compared in constant time. Pure: the same input always gives the same text.
 */
export function renderLitellmAuthHook(input: LitellmAuthHookInput): string {
  const routes = [...new Set(input.gatewayRoutes)].sort();
  const models = [...new Set(input.gatewayModels)].sort();
  return `# Rendered by webide-estate from the estate config. Do not edit by hand.
"""Key check for the estate's LiteLLM: master key = admin, gateway key = allow-listed routes and models only."""
import hmac
import os

from fastapi import HTTPException, Request
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth
from litellm.proxy.auth.auth_utils import get_request_route

MASTER_KEY_ENV = ${py(LITELLM_SECRET_ENV.masterKey)}
GATEWAY_KEY_ENV = ${py(LITELLM_SECRET_ENV.gatewayKey)}
GATEWAY_IDENTITY = ${py(AI_GATEWAY_IDENTITY)}
GATEWAY_ROUTES = (${routes.map((r) => `${py(r)},`).join(' ')})
GATEWAY_MODELS = (${models.map((m) => `${py(m)},`).join(' ')})


def _secret(name):
    value = os.environ.get(name, "")
    return value.encode("utf-8") if len(value) >= 16 else None


def _same(candidate, expected):
    return expected is not None and hmac.compare_digest(candidate.encode("utf-8"), expected)


async def ${LITELLM_AUTH_HOOK.function}(request: Request, api_key: str) -> UserAPIKeyAuth:
    candidate = api_key if isinstance(api_key, str) else ""
    if candidate.lower().startswith("bearer "):
        candidate = candidate[7:].strip()
    master = _secret(MASTER_KEY_ENV)
    gateway = _secret(GATEWAY_KEY_ENV)
    if master is not None and gateway is not None and hmac.compare_digest(master, gateway):
        raise HTTPException(status_code=500, detail="LITELLM_GATEWAY_KEY equals the master key; refusing every request")
    if _same(candidate, master):
        return UserAPIKeyAuth(api_key=candidate, user_role=LitellmUserRoles.PROXY_ADMIN)
    if _same(candidate, gateway):
        route = get_request_route(request)
        if route not in GATEWAY_ROUTES:
            raise HTTPException(status_code=403, detail="the AI gateway's key may not call " + route)
        return UserAPIKeyAuth(
            user_id=GATEWAY_IDENTITY,
            key_alias=GATEWAY_IDENTITY,
            user_role=LitellmUserRoles.INTERNAL_USER,
            allowed_routes=list(GATEWAY_ROUTES),
            models=list(GATEWAY_MODELS),
        )
    raise HTTPException(status_code=401, detail="invalid API key")
`;
}
