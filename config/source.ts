import { isMap, isSeq, LineCounter, parseDocument, visit, Document, Node } from 'yaml';
import { z } from 'zod';
import { RuleIssue } from './raw';
import { explainYamlError } from './yaml-errors';

/** One problem found in an input file, located by line and column (1-based). */
export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Dotted path into the document, e.g. `users.alice.resources.cpus`; empty for the whole file. */
  readonly path: string;
  readonly message: string;
}

/** Thrown by the loaders: carries every issue found, never just the first. */
export class ConfigError extends Error {
  constructor(public readonly issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.path ? `${issue.path}: ` : '';
  return `${issue.file}:${issue.line}:${issue.col}: ${where}${issue.message}`;
}

/** Inputs larger than this are refused before parsing: a roster of 5,000 users is ~1 MiB. */
export const MAX_INPUT_BYTES = 2 * 1024 * 1024;
/** YAML aliases are never needed in a roster; refusing them stops alias bombs before expansion. */
const MAX_ALIASES = 0;

/** A parsed YAML file that can map a data path back to its position in the text. */
export interface YamlSource {
  readonly file: string;
  readonly data: unknown;
  /** Position of the node at `path`, or of its nearest existing ancestor. */
  locate(path: readonly PropertyKey[]): { line: number; col: number };
}

/**
 * Parses YAML text. Syntax errors, aliases and oversized input are reported as
 * ConfigIssues (all of them), so callers never see a YAML library exception.
 */
export function parseYaml(text: string, file: string): YamlSource {
  if (Buffer.byteLength(text, 'utf8') > MAX_INPUT_BYTES) {
    throw new ConfigError([
      { file, line: 1, col: 1, path: '', message: `file is larger than ${MAX_INPUT_BYTES} bytes; refusing to parse it` },
    ]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  // One message per line: the parser's follow-on errors on the same line add nothing.
  const seenLines = new Set<number>();
  const issues: ConfigIssue[] = [];
  for (const error of doc.errors) {
    const pos = lineCounter.linePos(error.pos[0]);
    if (seenLines.has(pos.line)) continue;
    seenLines.add(pos.line);
    issues.push({ file, line: pos.line, col: pos.col, path: '', message: `YAML syntax: ${explainYamlError(error, doc, text, lineCounter)}` });
  }
  issues.push(...findAliases(doc, file, lineCounter));
  if (issues.length > 0) throw new ConfigError(issues);

  const data = doc.toJS({ maxAliasCount: MAX_ALIASES });
  return {
    file,
    data,
    locate(path) {
      const node = nearestNode(doc, path);
      const offset = node?.range?.[0] ?? 0;
      return lineCounter.linePos(offset);
    },
  };
}

/**
 * Turns zod issues into located ConfigIssues, translating list indexes to the item's
 * name where one exists. `schema` is the one that produced the error: it names the
 * known keys, so an unknown key can be answered with the nearest known one.
 */
export function issuesFromZod(source: YamlSource, error: z.ZodError, schema: z.ZodType): ConfigIssue[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path as PropertyKey[];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(schema, path);
      return issue.keys.map((key) => located(source, [...path, key], `unknown key '${key}'${suggestKey(key, known)}`));
    }
    const parent = valueAt(source.data, path.slice(0, -1));
    const last = path[path.length - 1];
    if (issue.code === 'invalid_type' && isPlainObject(parent) && typeof last === 'string' && !(last in parent)) {
      return located(source, path.slice(0, -1), `missing required key '${last}'`);
    }
    return located(source, path, issue.message);
  });
}

/** Located ConfigIssues for problems found by rules outside the schema. */
export function issuesFromRules(source: YamlSource, issues: readonly RuleIssue[]): ConfigIssue[] {
  const lineOf = (path: readonly PropertyKey[]) => source.locate(path).line;
  return issues.map((issue) => located(source, issue.path, typeof issue.message === 'string' ? issue.message : issue.message(lineOf)));
}

function located(source: YamlSource, path: readonly PropertyKey[], message: string): ConfigIssue {
  const pos = source.locate(path);
  return { file: source.file, line: pos.line, col: pos.col, path: readablePath(source.data, path), message };
}

/** The keys a strict object accepts at `path` of the data (list indexes step into the item schema). */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node: SchemaNode | undefined = unwrap(schema as unknown as SchemaNode);
  for (const key of path) {
    const def: SchemaNode['_zod']['def'] | undefined = node?._zod.def;
    if (def?.type === 'object' && typeof key === 'string') node = def.shape?.[key];
    else if (def?.type === 'array' && typeof key === 'number') node = def.element;
    else if (def?.type === 'record') node = def.valueType;
    else return [];
    node = node && unwrap(node);
  }
  const def = node?._zod.def;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

/** The parts of zod's schema definitions a path walk needs. */
interface SchemaNode {
  readonly _zod: {
    readonly def: {
      readonly type: string;
      readonly innerType?: SchemaNode;
      readonly in?: SchemaNode;
      readonly shape?: Record<string, SchemaNode>;
      readonly element?: SchemaNode;
      readonly valueType?: SchemaNode;
    };
  };
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

function unwrap(node: SchemaNode): SchemaNode {
  let current = node;
  for (;;) {
    const def = current._zod.def;
    if (WRAPPERS.has(def.type) && def.innerType) current = def.innerType;
    else if (def.type === 'pipe' && def.in) current = def.in;
    else return current;
  }
}

/** ` (did you mean 'groups'?)` for a near miss, else the list of known keys. */
export function suggestKey(key: string, known: readonly string[]): string {
  if (known.length === 0) return '';
  const ranked = known
    .map((candidate) => ({ candidate, distance: editDistance(key.toLowerCase(), candidate.toLowerCase()) }))
    .sort((a, b) => a.distance - b.distance || a.candidate.localeCompare(b.candidate));
  const best = ranked[0];
  if (best.distance <= Math.max(2, Math.floor(key.length / 3))) return ` (did you mean '${best.candidate}'?)`;
  return ` (known keys: ${known.join(', ')})`;
}

/** Levenshtein distance with adjacent transpositions counted as one edit. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let cursor = data;
  for (const key of path) {
    if (cursor === null || typeof cursor !== 'object') return undefined;
    cursor = (cursor as Record<PropertyKey, unknown>)[key];
  }
  return cursor;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * `users.3.email` becomes `users.alice.email` when item 3 has a username, so the
 * message names the person rather than a position an editor has to count to.
 */
export function readablePath(data: unknown, path: readonly PropertyKey[]): string {
  const parts: string[] = [];
  let cursor: unknown = data;
  for (const key of path) {
    const next = cursor !== null && typeof cursor === 'object' ? (cursor as Record<PropertyKey, unknown>)[key] : undefined;
    if (typeof key === 'number' && next && typeof next === 'object') {
      const item = next as Record<string, unknown>;
      const label = [item.username, item.name, item.id].find((v) => typeof v === 'string' && v.length > 0);
      parts.push(typeof label === 'string' ? label : String(key));
    } else {
      parts.push(String(key));
    }
    cursor = next;
  }
  return parts.join('.');
}

function nearestNode(doc: Document, path: readonly PropertyKey[]): Node | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const sub = path.slice(0, depth);
    if (sub.length === 0) return doc.contents ?? undefined;
    const parent = sub.length === 1 ? doc.contents : doc.getIn(sub.slice(0, -1), true);
    const last = sub[sub.length - 1];
    if (isMap(parent)) {
      // Point at the field's key: that is where an editor puts the cursor to fix it.
      const pair = parent.items.find((p) => (p.key as { value?: unknown })?.value === last);
      if (pair) return (depth === path.length ? pair.key : pair.value ?? pair.key) as Node;
    } else if (isSeq(parent) && typeof last === 'number') {
      const item = parent.items[last];
      if (item) return item as Node;
    }
  }
  return doc.contents ?? undefined;
}

function findAliases(doc: Document, file: string, lineCounter: LineCounter): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  visit(doc, {
    Alias(_key, node) {
      const pos = lineCounter.linePos(node.range?.[0] ?? 0);
      issues.push({ file, line: pos.line, col: pos.col, path: '', message: 'YAML aliases (*name) are not allowed in this file; write the value out' });
      return issues.length >= MAX_REPORTED_ALIASES ? visit.BREAK : undefined;
    },
  });
  return issues;
}

/** An alias bomb can hold thousands of aliases; a handful of reports says all there is to say. */
const MAX_REPORTED_ALIASES = 5;
