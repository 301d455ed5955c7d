// Three costs of cdktf 0.21's synthesis that do not shape its output, switched off by the app's
// entry point. Measured at 1000 roster users (bench/results.md): together a third of the
// program's CPU time and a quarter of its memory. cdktf is archived and pinned exactly
// (package.json), so the private module and the method replaced here no longer move.
import { App, TerraformResource, TerraformStack, Token } from 'cdktf';
// cdktf's own resolver (what synth uses); not re-exported from the package root in 0.21.
import { resolve } from 'cdktf/lib/_tokens';
import { extractTokenDouble } from 'cdktf/lib/tokens/private/encoding';
import * as tokenResolution from 'cdktf/lib/tokens/private/resolve';
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

type ResolveOptions = tokenResolution.IResolveOptions;
const RESOLVE_EVERY_VALUE = tokenResolution.resolve;

/** cdktf's pattern for a token number written into a string (encoding.js NUMBER_TOKEN_REGEX), without its `g` flag. */
const ENCODED_NUMBER = /[-|\d|.\+]+(e[-|\d|.|e|E|\+]+)/;

/** A string cdktf's resolver returns unchanged: no token marker, nothing that may be an encoded number. */
function isPlainString(value: string): boolean {
  return !value.includes('TfToken[') && !ENCODED_NUMBER.test(value) && value !== Token.STRING_MAP_TOKEN_VALUE && value !== Token.ANY_MAP_TOKEN_VALUE;
}

function isPlainNumber(value: number): boolean {
  return value !== Token.NUMBER_MAP_TOKEN_VALUE && extractTokenDouble(value, false) === undefined && extractTokenDouble(value, true) === undefined;
}

/**
 * cdktf's resolver, entered only where there is something to resolve. cdktf walks every value of
 * every resource (a fresh context with two closures per value, three regular expressions per
 * string and per key) on each of its passes: the policy pack, preparing, each element, the whole
 * stack. At 1000 users that was half the program's time, almost all of it spent on plain strings.
 * This walk copies plain data as cdktf would (undefined dropped from objects and arrays) and hands
 * every subtree that holds a token, a class instance or anything unusual to cdktf's own resolver,
 * at the same path and in the same order, so references and their side effects are unchanged.
 */
function resolveOnlyTokens(value: unknown, options: ResolveOptions): unknown {
  // Only a top-level call starts here (cdktf's own recursion calls its own function); any other
  // shape of call goes to cdktf as it is.
  if (options.previousContext !== undefined || (options.prefix?.length ?? 0) > 0) return RESOLVE_EVERY_VALUE(value, options);
  const path: string[] = [];
  const byCdktf = (subtree: unknown) => RESOLVE_EVERY_VALUE(subtree, { ...options, prefix: [...path] });
  const walk = (item: unknown): unknown => {
    switch (typeof item) {
      case 'undefined':
      case 'boolean':
        return item;
      case 'string':
        return isPlainString(item) ? item : byCdktf(item);
      case 'number':
        return isPlainNumber(item) ? item : byCdktf(item);
      case 'object':
        break;
      default:
        return byCdktf(item); // functions and the like: cdktf reports them
    }
    if (item === null) return null;
    if (path.length >= 200) return byCdktf(item); // cdktf's guard against cycles reports it
    if (Array.isArray(item)) {
      // A list token is resolved by cdktf as a whole list.
      if (item.some((x) => (typeof x === 'string' && !isPlainString(x)) || (typeof x === 'number' && !isPlainNumber(x)))) return byCdktf(item);
      const out: unknown[] = [];
      item.forEach((x, i) => {
        path.push(String(i));
        const resolved = walk(x);
        path.pop();
        if (resolved !== undefined) out.push(resolved);
      });
      return out;
    }
    const prototype = Object.getPrototypeOf(item);
    const record = item as Record<string, unknown>;
    // Tokens, constructs, dates and other class instances, and maps keyed by tokens: cdktf's.
    if ((prototype !== Object.prototype && prototype !== null) || typeof record.resolve === 'function') return byCdktf(item);
    const keys = Object.keys(record);
    if (!keys.every(isPlainString)) return byCdktf(item);
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      path.push(key);
      const resolved = walk(record[key]);
      path.pop();
      if (resolved !== undefined) out[key] = resolved;
    }
    return out;
  };
  return walk(value);
}

/** Whether cdktf's resolver walks plain data itself (true: cdktf as shipped) or only the parts that hold tokens. */
export function resolveEveryValue(every: boolean): void {
  (tokenResolution as { resolve: typeof RESOLVE_EVERY_VALUE }).resolve = every ? RESOLVE_EVERY_VALUE : (resolveOnlyTokens as typeof RESOLVE_EVERY_VALUE);
}

/**
 * Runs `body` (the policy pack, then the writing of the files) with every resource resolved once.
 *
 * cdktf resolves each resource on every pass over the tree (preparing, then writing, after the
 * policy pack has resolved it for its rules): three times per synth. Here cdktf's preparation runs
 * first, for every stack, and keeps each resource's fragment: preparing differs from writing only
 * in that resolving a cross-stack reference registers it (cdktf's `Reference`), after which both
 * give the same text. From then until `body` returns the tree must not change (the policy only
 * reads it), so later passes get that fragment back instead of resolving the resource again.
 */
export function withEachResourceResolvedOnce<T>(app: App, body: () => T): T {
  const resolved = new WeakMap<TerraformResource, unknown>();
  let preparing = true;
  const toTerraform = TerraformResource.prototype.toTerraform;
  TerraformResource.prototype.toTerraform = function toTerraformResolvedOnce(this: TerraformResource) {
    if (!resolved.has(this)) resolved.set(this, resolve(TerraformStack.of(this), toTerraform.call(this), preparing));
    // Every caller resolves (and so copies) what it gets before merging it anywhere.
    return resolved.get(this) as ReturnType<typeof toTerraform>;
  };
  try {
    app.node.findAll().filter(TerraformStack.isStack).forEach((stack) => stack.prepareStack());
    preparing = false;
    return body();
  } finally {
    TerraformResource.prototype.toTerraform = toTerraform;
  }
}

/** The entry point's choice for a real synth: all three costs off unless TOKEN_TRACES=1 asks for traces. */
export function tuneCdktfSynthesis(options: { readonly tokenTraces: boolean }): void {
  recordTokenTraces(options.tokenTraces);
  resolveUnsetAttributes(false);
  resolveEveryValue(false);
}
