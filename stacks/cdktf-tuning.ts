// Two costs of cdktf 0.21's synthesis that do not shape its output, switched off by the app's
// entry point. Measured at 1000 roster users (bench/results.md): together a third of the
// program's CPU time and a quarter of its memory. cdktf is archived and pinned exactly
// (package.json), so the private module and the method replaced here no longer move.
import { TerraformResource } from 'cdktf';
import * as stackTrace from 'cdktf/lib/tokens/private/stack-trace';

type Capture = (below?: Function) => string[];

/** cdktf's own recorder. */
const RECORDING: Capture = stackTrace.captureStackTrace;

/** What a token's creation stack reads when it was not recorded; cdktf prints it in resolution errors. */
export const TOKEN_TRACES_OFF_NOTE = 'creation stack not recorded: set TOKEN_TRACES=1 to record it';
const NOT_RECORDED: Capture = () => [TOKEN_TRACES_OFF_NOTE];

/**
 * Whether cdktf records a creation stack for every token, list and map reference it creates.
 *
 * cdktf does so eagerly and in full (`Error.stackTraceLimit` raised to its maximum, every
 * frame formatted to a string), about 22 times per roster user, only to print it if that
 * token later fails to resolve. Under ts-node every frame was also source-mapped. The
 * synthesized output does not depend on it; annotation stack traces in the manifest are
 * recorded by `constructs` and stay.
 */
export function recordTokenTraces(record: boolean): void {
  (stackTrace as { captureStackTrace: Capture }).captureStackTrace = record ? RECORDING : NOT_RECORDED;
}

const TO_TERRAFORM = TerraformResource.prototype.toTerraform;

/**
 * Whether resources hand cdktf's resolver their unset attributes.
 *
 * A generated resource class returns every attribute of the provider schema, `undefined` when
 * unset (a docker_container: 170 values, 69 of them unset), and cdktf resolves each one, key
 * included, on every pass (preparing, the policy pack, writing) before dropping it. Leaving
 * them out first gives the resolver the same output with less to walk: plain objects only,
 * tokens and arrays are passed through as they are.
 */
export function resolveUnsetAttributes(resolve: boolean): void {
  TerraformResource.prototype.toTerraform = resolve
    ? TO_TERRAFORM
    : function toTerraformWithoutUnset(this: TerraformResource) {
        return withoutUndefined(TO_TERRAFORM.call(this));
      };
}

/** `value` with every `undefined` property of its plain objects removed, at any depth (arrays are walked). */
export function withoutUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutUndefined) as T;
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== undefined) out[key] = withoutUndefined(item);
  }
  return out as T;
}

/** The entry point's choice for a real synth: both costs off unless TOKEN_TRACES=1 asks for traces. */
export function tuneCdktfSynthesis(options: { readonly tokenTraces: boolean }): void {
  recordTokenTraces(options.tokenTraces);
  resolveUnsetAttributes(false);
}
