import { IConstruct } from 'constructs';
import { TerraformResource, TerraformStack } from 'cdktf';
// cdktf's own resolver (what synth uses); not re-exported from the package root in 0.21.
import { resolve } from 'cdktf/lib/_tokens';

export enum Compliance {
  COMPLIANT = 'COMPLIANT',
  NON_COMPLIANT = 'NON_COMPLIANT',
  NOT_APPLICABLE = 'NOT_APPLICABLE',
}

/** What a rule may know beyond the resource itself; built once per estate. */
export interface PolicyContext {
  readonly profile: 'production' | 'local';
  /** Host paths that may be bind-mounted (TLS files, model directories). */
  readonly hostPathAllowList: readonly string[];
  /**
   * The Docker networks declared `internal: true`, as a container or service refers to them once
   * resolved: by name (`${docker_network.x.name}`, how a container joins one) and by id
   * (`${docker_network.x.id}`, how a Swarm service's task does).
   */
  readonly internalNetworks: ReadonlySet<string>;
}

/** One pure check, in the cdk-nag shape: `(node, context) → compliance`, with the fix to print. */
export interface PolicyRule {
  /** `WEBIDE-<area><n>`, e.g. WEBIDE-C1; suppressions name it. */
  readonly id: string;
  readonly summary: string;
  /** One line telling the engineer how to make the resource comply. */
  readonly fix: string;
  readonly check: (node: IConstruct, context: PolicyContext) => Compliance;
}

/** A resource's synthesized attributes (snake_case, tokens resolved), or undefined for non-resources. */
export function attributesOf(node: IConstruct, type: string): Record<string, any> | undefined {
  if (!TerraformResource.isTerraformResource(node) || node.terraformResourceType !== type) return undefined;
  const body = resolvedTerraform(node).resource?.[type];
  return body ? (Object.values(body)[0] as Record<string, any>) : undefined;
}

/** `labels` of a docker_container as a map. */
export function labelMap(attributes: Record<string, any>): Record<string, string> {
  return Object.fromEntries(((attributes.labels ?? []) as { label: string; value: string }[]).map((l) => [l.label, l.value]));
}

/** Resolved fragments of the current pack visit (see withResolvedTerraformShared); none outside one. */
let shared: WeakMap<TerraformResource, Record<string, any>> | undefined;

/**
 * A resource's Terraform JSON fragment with every token resolved, as synth would write it.
 * Inside withResolvedTerraformShared each resource is resolved once: a container is checked
 * by seven rules, and resolving it is most of what a rule costs. Rules only read the result.
 */
export function resolvedTerraform(node: TerraformResource): Record<string, any> {
  const known = shared?.get(node);
  if (known) return known;
  const resolved = resolve(TerraformStack.of(node), node.toTerraform());
  shared?.set(node, resolved);
  return resolved;
}

/**
 * Runs `check` with one resolution per resource shared by every rule it applies. Only for a
 * span in which the construct tree does not change (one Aspect visit); outside it every call
 * resolves afresh.
 */
export function withResolvedTerraformShared<T>(check: () => T): T {
  const outer = shared;
  shared = new WeakMap();
  try {
    return check();
  } finally {
    shared = outer;
  }
}

/** Whether a container's attributes say it never starts (ManagedFiles' loaders). */
export function neverStarts(attributes: Record<string, any>): boolean {
  return attributes.start === false && attributes.must_run === false;
}

/**
 * The files a container sees that the estate wrote: its own uploads, and the uploads of the
 * loaders (ManagedFiles) whose volume it mounts, found in the same stack by the volume's source.
 */
export function filesOf(node: IConstruct): { file: string; content: string }[] {
  const c = attributesOf(node, 'docker_container');
  if (!c) return [];
  const own = (c.upload ?? []) as { file: string; content: string }[];
  const sources = new Set(((c.mounts ?? []) as { type: string; source?: string }[]).filter((m) => m.type === 'volume' && m.source).map((m) => m.source!));
  if (sources.size === 0 || neverStarts(c)) return own;
  const loaded = TerraformStack.of(node)
    .node.findAll()
    .flatMap((other) => {
      const o = other === node ? undefined : attributesOf(other, 'docker_container');
      if (!o || !neverStarts(o) || !((o.mounts ?? []) as { source?: string }[]).some((m) => m.source && sources.has(m.source))) return [];
      return (o.upload ?? []) as { file: string; content: string }[];
    });
  return [...own, ...loaded];
}
