import { Document, isCollection, isMap, isScalar, LineCounter, Node, Scalar, visit, YAMLError } from 'yaml';

/**
 * Says in plain words what a YAML syntax error means and how to fix it. The position
 * comes from the `yaml` library; where the cause is elsewhere (an unclosed bracket or
 * quote, the first of two equal keys), the message names that line too.
 */
export function explainYamlError(error: YAMLError, doc: Document, text: string, lineCounter: LineCounter): string {
  const at = error.pos[0];
  const lineOf = (offset: number) => lineCounter.linePos(offset).line;
  const message = error.message.split('\n')[0];
  switch (error.code) {
    case 'TAB_AS_INDENT':
      return 'this line is indented with a tab; YAML allows only spaces for indentation';
    case 'DUPLICATE_KEY': {
      const first = firstOfDuplicateKey(doc, at);
      return first
        ? `key '${first.key}' appears twice in the same entry (first on line ${lineOf(first.offset)}); keep one`
        : 'a key appears twice in the same entry; keep one';
    }
    case 'MULTIPLE_DOCS':
      return "the file holds more than one YAML document (a '---' line starts a second one); put everything in one document";
    case 'BAD_DQ_ESCAPE':
      return 'a double-quoted value has an invalid backslash escape; use single quotes, or write \\\\ for a backslash';
    case 'BAD_SCALAR_START': {
      const char = text[at] ?? '';
      return `a value cannot start with '${char}' unless it is quoted: write it in quotes ("${valueAt(text, at)}")`;
    }
    case 'BLOCK_IN_FLOW':
      return 'an indented block inside [ ] or { }: inside brackets write every value on the same line, separated by commas';
    case 'UNEXPECTED_TOKEN':
      return /at node end/.test(message)
        ? 'unexpected text after the value on this line: quote the whole value, or remove what follows it'
        : `unexpected '${text[at] ?? ''}' here: check the brackets, quotes and indentation of this line`;
    case 'MULTILINE_IMPLICIT_KEY':
      return "a key runs over more than one line: the line above probably lacks its ':', or this line is indented too far";
    case 'BLOCK_AS_IMPLICIT_KEY':
      return /compact mappings/.test(message)
        ? "a value contains ': ' (a colon and a space), which starts a new key: put the value in quotes"
        : "a '- ' list item where a key was expected: line it up with the other '- ' items of its list";
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
      return explainStructure(message, doc, at, lineOf);
    default:
      return `YAML syntax error: ${message}`;
  }
}

function explainStructure(message: string, doc: Document, at: number, lineOf: (offset: number) => number): string {
  const unclosed = (bracket: '[' | '{') => {
    const node = lastFlowCollectionBefore(doc, at, bracket === '[' ? 'seq' : 'map');
    const where = node?.range ? ` on line ${lineOf(node.range[0])}` : '';
    const close = bracket === '[' ? ']' : '}';
    return `the '${bracket}' opened${where} is not closed with '${close}' before this line (or this line is not indented enough to continue it)`;
  };
  if (/Flow sequence/.test(message)) return unclosed('[');
  if (/Flow map/.test(message)) return unclosed('{');
  if (/closing "?quote|Missing closing/.test(message)) {
    const quoted = lastQuotedScalarBefore(doc, at);
    const where = quoted?.range ? ` on line ${lineOf(quoted.range[0])}` : '';
    return `a quoted value opened${where} is never closed: add the closing quote`;
  }
  if (/same column/.test(message)) return 'this key is not lined up with the keys above it in the same entry: indent it exactly like them';
  if (/without - indicator/.test(message)) {
    return "this line's indentation matches no entry above it: line its key up with the keys of the entry it belongs to (a new list entry starts with '- ')";
  }
  if (/followed by map values/.test(message)) return "a key without ':' (or a line indented so that it continues the key above): write 'key: value'";
  return `YAML syntax error: ${message}`;
}

/** The value text starting at `offset`, up to the end of the line. */
function valueAt(text: string, offset: number): string {
  const end = text.indexOf('\n', offset);
  return text.slice(offset, end < 0 ? undefined : end).trim();
}

function firstOfDuplicateKey(doc: Document, keyOffset: number): { key: string; offset: number } | undefined {
  let found: { key: string; offset: number } | undefined;
  visit(doc, {
    Map(_key, map) {
      const dup = map.items.find((pair) => isScalar(pair.key) && pair.key.range?.[0] === keyOffset);
      if (!dup) return undefined;
      const name = (dup.key as Scalar).value;
      const first = map.items.find((pair) => pair !== dup && isScalar(pair.key) && pair.key.value === name);
      if (first) found = { key: String(name), offset: (first.key as Scalar).range?.[0] ?? keyOffset };
      return visit.BREAK;
    },
  });
  return found;
}

function lastFlowCollectionBefore(doc: Document, offset: number, kind: 'seq' | 'map'): Node | undefined {
  let best: Node | undefined;
  visit(doc, {
    Node(_key, node) {
      if (!isCollection(node) || !node.flow || !node.range || node.range[0] > offset) return;
      if ((kind === 'map') !== isMap(node)) return;
      // Prefer the collection that runs up to the error (the unclosed one), then the innermost.
      const reaches = (n: Node) => (n.range![1] >= offset ? 1 : 0);
      if (!best || reaches(node) > reaches(best) || (reaches(node) === reaches(best) && node.range[0] > best.range![0])) best = node;
    },
  });
  return best;
}

function lastQuotedScalarBefore(doc: Document, offset: number): Scalar | undefined {
  let best: Scalar | undefined;
  visit(doc, {
    Scalar(_key, node) {
      if ((node.type !== 'QUOTE_DOUBLE' && node.type !== 'QUOTE_SINGLE') || !node.range || node.range[0] > offset) return;
      if (!best || node.range[0] > best.range![0]) best = node;
    },
  });
  return best;
}
