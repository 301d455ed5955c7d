/** Synthesized Terraform JSON of one stack, parsed. */
export type StackJson = { resource?: Record<string, Record<string, Record<string, unknown>>>; removed?: Array<Record<string, unknown>>; [key: string]: unknown };

/** `type.name` → resource body, for every resource in a stack. */
export function resourcesOf(json: StackJson): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const [type, byName] of Object.entries(json.resource ?? {})) {
    for (const [name, body] of Object.entries(byName)) out.set(`${type}.${name}`, body);
  }
  return out;
}

/** Address → `removed` block body, for every removed block in a stack (RemovedResource). */
export function removedOf(json: StackJson): Map<string, Record<string, unknown>> {
  return new Map((json.removed ?? []).map((block) => [block.from as string, block]));
}
