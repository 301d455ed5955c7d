import { TerraformResource } from 'cdktf';
import { Compliance, PolicyRule, resolvedTerraform } from '../rule';

/** Environment variable names that carry secrets. */
const SECRET_ENV = /(PASSWORD|SECRET|MASTER_KEY|API_KEY|TOKEN)/;
/** Attribute names that carry secrets (not `password_policy` and the like). */
const SECRET_ATTRIBUTE = /^(password|secret|client_secret|master_key|api_key|token|cookie_secret)$/;
/** A Terraform reference, not a literal: `${var.x}`, `${keycloak_openid_client.x.client_secret}`, … */
const REFERENCE = /^\$\{[^}]+\}$/;

function literalSecrets(value: unknown, key = ''): string[] {
  if (typeof value === 'string') {
    const envPair = /^([A-Z0-9_]+)=(.*)$/s.exec(value);
    if (envPair && SECRET_ENV.test(envPair[1]) && envPair[2] !== '' && !REFERENCE.test(envPair[2])) return [envPair[1]];
    if (SECRET_ATTRIBUTE.test(key) && value !== '' && !REFERENCE.test(value) && !value.startsWith('os.environ/')) return [key];
    return [];
  }
  if (Array.isArray(value)) return value.flatMap((v) => literalSecrets(v, key));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => literalSecrets(v, k));
  return [];
}

export const noSecretLiterals: PolicyRule = {
  id: 'WEBIDE-S1',
  summary: 'No secret literal in the synthesized configuration.',
  fix: 'Take the value from a sensitive TerraformVariable (TF_VAR_…) or from the resource that generates it.',
  check: (node) => {
    if (!TerraformResource.isTerraformResource(node)) return Compliance.NOT_APPLICABLE;
    const resolved = resolvedTerraform(node);
    return literalSecrets(resolved.resource).length > 0 ? Compliance.NON_COMPLIANT : Compliance.COMPLIANT;
  },
};
