import { stringify } from 'yaml';

export interface LitellmConfigInput {
  /** Name clients ask for (`model` in their requests). */
  readonly chatModelName: string;
  /** Name vLLM serves the model under. */
  readonly servedModelName: string;
  /** OpenAI-compatible base URL of vLLM, e.g. http://vllm:8000/v1. */
  readonly vllmApiBase: string;
  /** Prompt and response bodies in logs and callbacks; the bank's default is off. */
  readonly logPrompts: boolean;
}

/** Environment variables the rendered config reads its secrets from (values come from Terraform). */
export const LITELLM_SECRET_ENV = { masterKey: 'LITELLM_MASTER_KEY', vllmApiKey: 'VLLM_API_KEY' } as const;

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
    },
    general_settings: {
      master_key: `os.environ/${LITELLM_SECRET_ENV.masterKey}`,
      disable_spend_logs: !input.logPrompts,
      store_prompts_in_spend_logs: input.logPrompts,
    },
  };
  return `# Rendered by webide-estate from the estate config. Do not edit by hand.\n${stringify(config, { sortMapEntries: false, lineWidth: 0 })}`;
}
