/** Readers for not-yet-validated YAML data: a wrong type reads as empty, never throws. */
export function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** A problem found by a cross-field rule: where (data path) and what. */
export interface RuleIssue {
  readonly path: (string | number)[];
  /** The message; a function when it names another place in the file by its line (`lineOf(path)`). */
  readonly message: string | ((lineOf: (path: readonly (string | number)[]) => number) => string);
}
