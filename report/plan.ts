/** The parts of `terraform show -json <plan>` the report reads. */
export interface PlanJson {
  readonly resource_changes?: readonly ResourceChange[];
  /** Every root output of the stack, by name. */
  readonly output_changes?: Readonly<Record<string, OutputChange>>;
  readonly prior_state?: {
    readonly values?: { readonly root_module?: StateModule; readonly outputs?: Readonly<Record<string, { readonly value?: unknown; readonly sensitive?: boolean }>> };
  };
}

export interface OutputChange {
  readonly actions: readonly string[];
  readonly before: unknown;
  readonly after: unknown;
  readonly after_unknown?: unknown;
}

export interface StateModule {
  readonly resources?: readonly { readonly address: string; readonly type: string; readonly values: Record<string, any> }[];
}

export interface ResourceChange {
  readonly address: string;
  readonly type: string;
  readonly change: {
    readonly actions: readonly string[];
    readonly before: Record<string, any> | null;
    readonly after: Record<string, any> | null;
    readonly after_unknown?: unknown;
    readonly before_sensitive?: unknown;
    readonly after_sensitive?: unknown;
  };
}

/** One stack's plan, as the report receives it. */
export interface StackPlan {
  readonly stack: string;
  readonly plan: PlanJson;
  /** What the approver must know about this plan, e.g. that it is a first deployment planned with placeholders. */
  readonly note?: string;
}

/** A stack the report could not plan: why, and what it declares (all created, when it has no state yet). */
export interface UnplannedStack {
  readonly stack: string;
  readonly reason: string;
  /** `type.name` of every resource, when the stack has no state yet and a first apply creates them all. */
  readonly creates?: readonly string[];
}

export type Action = 'create' | 'update' | 'replace' | 'delete';

/** Terraform's action list as one word; undefined for no-op and read. */
export function actionOf(change: ResourceChange): Action | undefined {
  const actions = change.change.actions;
  if (actions.includes('create') && actions.includes('delete')) return 'replace';
  if (actions.includes('create')) return 'create';
  if (actions.includes('delete')) return 'delete';
  if (actions.includes('update')) return 'update';
  return undefined;
}

/** The sensitivity mask below `key` (Terraform marks sensitive values with `true`). */
export function maskAt(mask: unknown, key: string | number): unknown {
  if (mask === true) return true;
  if (mask && typeof mask === 'object') return (mask as Record<string | number, unknown>)[key];
  return undefined;
}

/** A value for display, or `(sensitive)` where Terraform marked it (anywhere inside). */
export function shown(value: unknown, mask: unknown): string {
  if (containsSensitive(mask)) return '(sensitive)';
  if (value === null || value === undefined) return '(none)';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function containsSensitive(mask: unknown): boolean {
  if (mask === true) return true;
  if (mask && typeof mask === 'object') return Object.values(mask as Record<string, unknown>).some(containsSensitive);
  return false;
}

/** `labels` blocks of a docker resource as a map. */
export function labelsOf(values: Record<string, any> | null): Record<string, string> {
  return Object.fromEntries(((values?.labels ?? []) as { label: string; value: string }[]).map((l) => [l.label, l.value]));
}

/** `KEY=value` env entries as a map; an entry known only at apply (null in the plan) is left out. */
export function envOf(values: Record<string, any> | null): Record<string, string> {
  return Object.fromEntries(
    ((values?.env ?? []) as unknown[])
      .filter((pair): pair is string => typeof pair === 'string' && pair.includes('='))
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  );
}
