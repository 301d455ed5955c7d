import { isMap, isSeq, LineCounter, parseDocument, visit, Document, Node } from 'yaml';
import { z } from 'zod';

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
  const issues: ConfigIssue[] = doc.errors.map((error) => {
    const pos = lineCounter.linePos(error.pos[0]);
    return { file, line: pos.line, col: pos.col, path: '', message: `YAML: ${firstLine(error.message)}` };
  });
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

/** Turns zod issues into located ConfigIssues, translating list indexes to the item's name where one exists. */
export function issuesFromZod(source: YamlSource, error: z.ZodError): ConfigIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path as PropertyKey[];
    const keyPath = issue.code === 'unrecognized_keys' ? [...path, issue.keys[0]] : path;
    const pos = source.locate(keyPath);
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`
        : issue.message;
    return { file: source.file, line: pos.line, col: pos.col, path: readablePath(source.data, keyPath), message };
  });
}

/** Located ConfigIssues for problems found by rules outside the schema. */
export function issuesFromRules(source: YamlSource, issues: readonly { path: PropertyKey[]; message: string }[]): ConfigIssue[] {
  return issues.map((issue) => {
    const pos = source.locate(issue.path);
    return { file: source.file, line: pos.line, col: pos.col, path: readablePath(source.data, issue.path), message: issue.message };
  });
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

function firstLine(message: string): string {
  return message.split('\n')[0];
}
