import { LocalBackend, TerraformStack, TerraformVariable } from 'cdktf';
import { DockerProvider } from '../.gen/providers/docker/provider';
import { NullProvider } from '@cdktf/provider-null/lib/provider';
import { Image } from '../.gen/providers/docker/image';
import { Construct } from 'constructs';
import { EstateConfig } from '../config/estate';
import { Roster } from '../config/roster';
import { EstateNames } from '../constructs/naming';

/** What every stack of the estate is built from. */
export interface EstateStackProps {
  readonly estate: EstateConfig;
  readonly roster: Roster;
  /** This stack's Terraform state file (local backend). */
  readonly stateFile: string;
}

/**
 * The Terraform versions every stack accepts: provisioners in `removed` blocks (RemovedResource,
 * the links of unlinked users) came in Terraform 1.9 (OpenTofu 1.10). An older one stops at
 * init or plan with this requirement instead of an unsupported-block error.
 */
export const REQUIRED_TERRAFORM_VERSION = '>= 1.9.0';

/** The stack's state file (local backend) and the Terraform versions it accepts. */
export function useLocalState(stack: TerraformStack, stateFile: string): void {
  new LocalBackend(stack, { path: stateFile });
  stack.addOverride('terraform.required_version', REQUIRED_TERRAFORM_VERSION);
}

/**
 * Backend and providers, the same for every stack that manages containers: Docker, and null
 * for the local-exec steps the docker provider cannot do (pids limits, nginx's network links).
 */
export function useDocker(stack: TerraformStack, props: Pick<EstateStackProps, 'estate' | 'stateFile'>): void {
  useLocalState(stack, props.stateFile);
  new DockerProvider(stack, 'docker', { host: props.estate.dockerHost });
  new NullProvider(stack, 'null');
}

/**
 * A pinned image, used from the host's local store (the closed network has no
 * registry to pull from at apply time). Destroy never deletes it.
 */
export function pinnedImage(scope: Construct, id: string, reference: string): Image {
  return new Image(scope, id, { name: reference, keepLocally: true });
}

export function estateNames(estate: EstateConfig): EstateNames {
  return new EstateNames(estate.name);
}

/**
 * A secret the operator supplies as TF_VAR_<name>. Declared at stack level, marked
 * sensitive, checked for a minimum length (and any extra rule) before anything runs.
 */
export function secretVariable(
  stack: TerraformStack,
  name: string,
  description: string,
  minLength: number,
  extra?: { condition: string; errorMessage: string },
): TerraformVariable {
  return new TerraformVariable(stack, name, {
    type: 'string',
    sensitive: true,
    nullable: false,
    description: `${description} Set TF_VAR_${name}; never commit it.`,
    validation: [
      { condition: `\${length(var.${name}) >= ${minLength}}`, errorMessage: `${name} must be at least ${minLength} characters.` },
      ...(extra ? [extra] : []),
    ],
  });
}

/** Keycloak's secrets (TF_VAR_<name>), one declaration for both targets. */
export function keycloakSecretVariables(stack: TerraformStack) {
  return {
    keycloakAdminPassword: secretVariable(stack, 'keycloak_admin_password', 'Password of the bootstrap admin Keycloak creates at its first start; npm run keycloak:bootstrap uses it once, then deletes that admin.', 12),
    keycloakDbPassword: secretVariable(stack, 'keycloak_db_password', "Password of Keycloak's PostgreSQL role.", 16),
  };
}

/**
 * The AI services' secrets (TF_VAR_<name>): LiteLLM's master and gateway keys, vLLM's API key,
 * Tabby's API token and JWT secret. One declaration for both targets (stacks/platform-stack.ts,
 * stacks/swarm-ai-stack.ts), so their names and rules cannot drift apart.
 */
export function aiSecretVariables(stack: TerraformStack) {
  return {
    litellmMasterKey: secretVariable(stack, 'litellm_master_key', "LiteLLM's master key; must start with sk-.", 20, {
      condition: '${startswith(var.litellm_master_key, "sk-")}',
      errorMessage: 'litellm_master_key must start with "sk-" (LiteLLM refuses other keys).',
    }),
    // The AI gateway's key: LiteLLM lets it call only the allow-listed routes and the chat model.
    litellmGatewayKey: secretVariable(stack, 'litellm_gateway_key', "Key the AI gateway (nginx) sends to LiteLLM; LiteLLM lets it call only the IDE's allow-listed routes and models.", 32, {
      condition: '${var.litellm_gateway_key != var.litellm_master_key}',
      errorMessage: 'litellm_gateway_key must differ from litellm_master_key (the gateway must never hold the master key).',
    }),
    vllmApiKey: secretVariable(stack, 'vllm_api_key', 'API key vLLM requires on /v1; LiteLLM sends it.', 20),
    tabbyApiToken: secretVariable(stack, 'tabby_api_token', 'Tabby API token the AI gateway adds to IDE completion requests.', 8),
    tabbyJwtSecret: secretVariable(stack, 'tabby_jwt_secret', "Tabby's JWT signing secret; must be a UUID.", 36, {
      condition: '${can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.tabby_jwt_secret))}',
      errorMessage: 'tabby_jwt_secret must be a lowercase UUID (Tabby exits otherwise); e.g. from `uuidgen`.',
    }),
  };
}
