import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { renderJsonSchemas } from '../../config/json-schema';
import { ASSETS } from '../helpers/inputs';
import { runTs } from '../helpers/run';

function tempFile(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roster-check-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe('npm run roster:check', () => {
  it('exits 0 and summarises a valid roster', () => {
    const result = runTs('scripts/roster-check.ts', [path.join(ASSETS, 'roster.yaml')]);
    expect(result.stdout).toMatch(/OK — 4 users \(3 active, 1 suspended, 0 archived\), 2 groups/);
    expect(result.status).toBe(0);
  });

  it('exits 1 with every problem as file:line:col: field: message and no stack trace', () => {
    const file = tempFile('bad.yaml', 'groups: []\nusers:\n  - { username: Root, email: x, name: R }\n  - { username: ok, email: ok@corp.example, name: O, groups: [ghosts] }\n');
    const result = runTs('scripts/roster-check.ts', [file]);
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual([
      `${file}:3:7: users.Root.username: must be a lowercase DNS label: a-z first, then a-z, 0-9 or -, not ending in -`,
      `${file}:3:7: users.Root.username: 'Root' is reserved for the estate's own services (nginx, keycloak, postgres, litellm, tabby, vllm, oauth2-proxy, admin, root)`,
      `${file}:3:23: users.Root.email: must be an email address`,
      `${file}:4:63: users.ok.groups.0: group 'ghosts' is not declared under groups (none is declared)`,
      '4 problem(s) found.',
    ]);
    expect(result.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });

  it('--help prints the usage on stdout and exits 0', () => {
    for (const flag of ['--help', '-h']) {
      const result = runTs('scripts/roster-check.ts', [flag]);
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/^usage: npm run roster:check -- <roster\.yaml> \[--estate <estate\.yaml>\]\n/);
      expect(result.stdout).toContain('--estate <estate.yaml>');
      expect(result.stderr).toBe('');
    }
  });

  /** Runs roster:check on `text` and returns its stderr lines; the run must fail with exit 1. */
  function problems(text: string): { file: string; lines: string[] } {
    const file = tempFile('roster.yaml', text);
    const result = runTs('scripts/roster-check.ts', [file]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    return { file, lines: result.stderr.trim().split('\n') };
  }

  const GROUPS = 'groups:\n  - name: developers\n  - name: platform-admins\n';

  it('names a missing required key', () => {
    const { file, lines } = problems(`${GROUPS}users:\n  - username: alice\n    name: Alice Kim\n`);
    expect(lines).toEqual([`${file}:5:5: users.alice: missing required key 'email'`, '1 problem(s) found.']);
  });

  it('suggests the nearest known key for an unknown one, and lists the known keys when none is near', () => {
    const { file, lines } = problems(`${GROUPS}users:\n  - username: alice\n    emial: alice@corp.example\n    name: Alice Kim\n    colour: blue\n`);
    expect(lines).toEqual([
      `${file}:5:5: users.alice: missing required key 'email'`,
      `${file}:6:5: users.alice.emial: unknown key 'emial' (did you mean 'email'?)`,
      `${file}:8:5: users.alice.colour: unknown key 'colour' (known keys: username, email, name, groups, state, resources, node)`,
      '3 problem(s) found.',
    ]);
  });

  it('names the line of the first occurrence of a duplicate, not a list index', () => {
    const text =
      `${GROUPS}users:\n  - username: alice\n    email: alice@corp.example\n    name: Alice Kim\n` +
      `  - username: bob\n    email: bob@corp.example\n    name: Bob Lee\n` +
      `  - username: alice\n    email: BOB@corp.example\n    name: Alice Two\n`;
    const { file, lines } = problems(text);
    expect(lines).toEqual([
      `${file}:11:5: users.alice.username: username 'alice' is already used on line 5`,
      `${file}:12:5: users.alice.email: email 'BOB@corp.example' is already used on line 9`,
      '2 problem(s) found.',
    ]);
    expect(lines.join('\n')).not.toMatch(/users\[\d+\]/);
  });

  it('lists the declared groups when a user names an undeclared one', () => {
    const { file, lines } = problems(`${GROUPS}users:\n  - { username: alice, email: a@corp.example, name: A, groups: [developers, ops] }\n`);
    expect(lines).toEqual([
      `${file}:5:77: users.alice.groups.1: group 'ops' is not declared under groups (declared: developers, platform-admins)`,
      '1 problem(s) found.',
    ]);
  });

  it('says in plain words what is wrong at a line with a YAML syntax error', () => {
    const { file, lines } = problems(`${GROUPS}users:\n  - username: alice\n    email: a@corp.example\n   name: Alice Kim\n`);
    expect(lines).toEqual([
      `${file}:7:1: YAML syntax: this line's indentation matches no entry above it: line its key up with the keys of the entry it belongs to (a new list entry starts with '- ')`,
      '1 problem(s) found.',
    ]);
    const unclosed = problems('groups: [developers\nusers: []\n');
    expect(unclosed.lines[0]).toBe(
      `${unclosed.file}:2:1: YAML syntax: the '[' opened on line 1 is not closed with ']' before this line (or this line is not indented enough to continue it)`,
    );
  });

  it("prints the README's example output for the sample roster with three bad entries added", () => {
    const README_EXAMPLE =
      '  - username: erin\n    name: Erin Yoon\n    grups: [developers]\n' +
      '  - username: bob\n    email: bob2@corp.example\n    name: Bob Two\n' +
      '  - { username: frank, email: frank@corp.example, name: Frank Cho, groups: [ops] }\n';
    const readme = fs.readFileSync(path.join(ASSETS, '..', 'README.md'), 'utf8');
    const shown = /roster-check\.test\.ts` added\):\n\n```\n([\s\S]*?)```/.exec(readme)![1].trim().split('\n');
    const { file, lines } = problems(fs.readFileSync(path.join(ASSETS, 'roster.yaml'), 'utf8') + README_EXAMPLE);
    expect(lines.map((line) => line.replace(file, 'assets/roster.yaml'))).toEqual(shown);
    const tab = problems(`${fs.readFileSync(path.join(ASSETS, 'roster.yaml'), 'utf8')}${README_EXAMPLE}\t- username: gina\n`);
    expect(readme).toContain(`\`${tab.lines[0].replace(tab.file, 'assets/roster.yaml')}\``);
  });

  it('exits 1 naming a file that cannot be read, and 2 on bad flags', () => {
    const missing = runTs('scripts/roster-check.ts', ['/nonexistent/roster.yaml']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('/nonexistent/roster.yaml:1:1: cannot read file: ENOENT');
    const usage = runTs('scripts/roster-check.ts', ['--frobnicate']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('unknown option --frobnicate');
  });
});

describe('JSON schemas for editors', () => {
  it('are in sync with the zod schemas (run `npm run schema` after changing them)', () => {
    for (const [name, text] of Object.entries(renderJsonSchemas())) {
      expect(fs.readFileSync(path.join(ASSETS, name), 'utf8')).toBe(text);
    }
  });

  it('are referenced from the YAML files so editors pick them up', () => {
    expect(fs.readFileSync(path.join(ASSETS, 'roster.yaml'), 'utf8')).toMatch(/^# yaml-language-server: \$schema=\.\/roster\.schema\.json$/m);
    expect(fs.readFileSync(path.join(ASSETS, 'estate.yaml'), 'utf8')).toMatch(/^# yaml-language-server: \$schema=\.\/estate\.schema\.json$/m);
  });

  it('describe the roster contract: strict objects and the user fields', () => {
    const schema = JSON.parse(renderJsonSchemas()['roster.schema.json']);
    const user = schema.properties.users.items;
    expect(user.additionalProperties).toBe(false);
    expect(Object.keys(user.properties).sort()).toEqual(['email', 'groups', 'name', 'node', 'resources', 'state', 'username']);
    expect(user.properties.state.enum).toEqual(['active', 'suspended', 'archived']);
  });
});
