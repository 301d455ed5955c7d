/**
 * A small reader for nginx.conf, enough to check what a server forwards: blocks and
 * directives, with quotes and comments honoured. Not a validator (the real `nginx -t`
 * is, in the tests).
 */
export interface NginxDirective {
  readonly name: string;
  readonly args: readonly string[];
  /** Directives inside `{ … }`, or undefined for a simple directive. */
  readonly block?: readonly NginxDirective[];
}

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '{' || c === '}' || c === ';') {
      tokens.push(c);
      i++;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let value = '';
      while (j < text.length && text[j] !== c) {
        if (text[j] === '\\' && j + 1 < text.length) j++;
        value += text[j];
        j++;
      }
      if (j >= text.length) throw new Error(`nginx.conf: unterminated quote at offset ${i}`);
      tokens.push(`\u0000${value}`); // marked as quoted, so "{" in a string is not a brace
      i = j + 1;
    } else {
      let j = i;
      // As in nginx, `{`, `}` and `;` end a word (a regex with them must be quoted).
      while (j < text.length && !/[\s;{}"'#]/.test(text[j])) j++;
      tokens.push(text.slice(i, j));
      i = j;
    }
  }
  return tokens;
}

/** Parses nginx.conf text into a directive tree; throws on unbalanced braces. */
export function parseNginxConf(text: string): NginxDirective[] {
  const tokens = tokenize(text);
  let pos = 0;
  const unquote = (t: string) => (t.startsWith('\u0000') ? t.slice(1) : t);
  const parseBlock = (nested: boolean): NginxDirective[] => {
    const out: NginxDirective[] = [];
    while (pos < tokens.length) {
      const token = tokens[pos];
      if (token === '}') {
        if (!nested) throw new Error('nginx.conf: unexpected }');
        pos++;
        return out;
      }
      const words: string[] = [];
      while (pos < tokens.length && tokens[pos] !== ';' && tokens[pos] !== '{' && tokens[pos] !== '}') words.push(unquote(tokens[pos++]));
      if (words.length === 0) throw new Error(`nginx.conf: unexpected ${tokens[pos]}`);
      const end = tokens[pos++];
      if (end === ';') out.push({ name: words[0], args: words.slice(1) });
      else if (end === '{') out.push({ name: words[0], args: words.slice(1), block: parseBlock(true) });
      else throw new Error(`nginx.conf: directive ${words[0]} is not terminated`);
    }
    if (nested) throw new Error('nginx.conf: missing }');
    return out;
  };
  return parseBlock(false);
}

/** Every directive of the tree, depth first. */
export function allDirectives(directives: readonly NginxDirective[]): NginxDirective[] {
  return directives.flatMap((d) => [d, ...allDirectives(d.block ?? [])]);
}

/** The `server` blocks (inside `http`) that listen on `port` (any address). */
export function serversListeningOn(directives: readonly NginxDirective[], port: number): NginxDirective[] {
  return allDirectives(directives).filter(
    (d) => d.name === 'server' && (d.block ?? []).some((l) => l.name === 'listen' && new RegExp(`^(.*:)?${port}$`).test(l.args[0] ?? '')),
  );
}

/** A location of a server: `modifier` is `=`, `~`, `~*`, `^~` or '' (prefix), `@` for named ones. */
export interface NginxLocation {
  readonly modifier: string;
  readonly path: string;
  readonly block: readonly NginxDirective[];
}

/** Every location in a server, nested ones included. */
export function locationsOf(server: NginxDirective): NginxLocation[] {
  return allDirectives(server.block ?? [])
    .filter((d) => d.name === 'location')
    .map((d) => {
      if (d.args.length >= 2) return { modifier: d.args[0], path: d.args[1], block: d.block ?? [] };
      const arg = d.args[0] ?? '';
      return arg.startsWith('@') ? { modifier: '@', path: arg, block: d.block ?? [] } : { modifier: '', path: arg, block: d.block ?? [] };
    });
}

/** Directives that hand a request to another server. */
export const FORWARDING_DIRECTIVES = ['proxy_pass', 'fastcgi_pass', 'grpc_pass', 'uwsgi_pass', 'scgi_pass', 'memcached_pass'];
