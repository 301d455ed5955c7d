import { ConfigError, formatIssue } from '../../config/source';
import { defaultEstate, defaultRoster, generatedRosterYaml, rosterFromText } from '../helpers/inputs';

/** The formatted messages a roster produces, or [] when it is valid. */
function rosterErrors(text: string): string[] {
  try {
    rosterFromText(text);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.issues.map(formatIssue);
  }
}

const GROUPS = 'groups:\n  - name: developers\n';

describe('roster validation', () => {
  it('accepts the embedded default roster, sorted by username with defaults filled in', () => {
    const roster = defaultRoster();
    expect(roster.users.map((u) => u.username)).toEqual(['alice', 'bob', 'carol', 'dave']);
    const bob = roster.users.find((u) => u.username === 'bob')!;
    expect(bob.state).toBe('active');
    expect(bob.resources).toEqual({ cpus: 2, memory: 4096, disk: 20480 });
    expect(bob.firstName).toBe('Bob');
    expect(bob.lastName).toBe('Lee');
    const alice = roster.users.find((u) => u.username === 'alice')!;
    expect(alice.resources).toEqual({ cpus: 4, memory: 8192, disk: 40960 });
  });

  it('fails on an unknown or misspelt key, naming file, line, column and field', () => {
    const text = `${GROUPS}users:\n  - username: alice\n    emial: alice@corp.example\n    name: Alice\n`;
    expect(rosterErrors(text)).toEqual([
      "roster.yaml:4:5: users.alice: missing required key 'email'",
      "roster.yaml:5:5: users.alice.emial: unknown key 'emial' (did you mean 'email'?)",
    ]);
  });

  it('fails on usernames that are not lowercase DNS labels', () => {
    const text = `${GROUPS}users:\n  - { username: Alice_1, email: a@corp.example, name: A }\n  - { username: x, email: x@corp.example, name: X }\n  - { username: bob-, email: b@corp.example, name: B }\n`;
    const errors = rosterErrors(text);
    expect(errors).toEqual([
      'roster.yaml:4:7: users.Alice_1.username: must be a lowercase DNS label: a-z first, then a-z, 0-9 or -, not ending in -',
      'roster.yaml:5:7: users.x.username: must be 2-32 characters',
      'roster.yaml:5:7: users.x.username: must be a lowercase DNS label: a-z first, then a-z, 0-9 or -, not ending in -',
      'roster.yaml:6:7: users.bob-.username: must be a lowercase DNS label: a-z first, then a-z, 0-9 or -, not ending in -',
    ]);
  });

  it('fails on duplicate usernames and emails, case-insensitively for emails', () => {
    const text = `${GROUPS}users:\n  - { username: alice, email: Alice@corp.example, name: A }\n  - { username: alice, email: alice@CORP.example, name: B }\n`;
    expect(rosterErrors(text)).toEqual([
      "roster.yaml:5:7: users.alice.username: username 'alice' is already used on line 4",
      "roster.yaml:5:24: users.alice.email: email 'alice@CORP.example' is already used on line 4",
    ]);
  });

  it('fails on a group that is not declared', () => {
    const text = `${GROUPS}users:\n  - { username: alice, email: a@corp.example, name: A, groups: [developers, ops] }\n`;
    expect(rosterErrors(text)).toEqual(["roster.yaml:4:77: users.alice.groups.1: group 'ops' is not declared under groups (declared: developers)"]);
  });

  it.each(['nginx', 'keycloak', 'postgres', 'litellm', 'tabby', 'vllm', 'oauth2-proxy', 'admin', 'root'])(
    'fails on the reserved username %s',
    (name) => {
      const errors = rosterErrors(`${GROUPS}users:\n  - { username: ${name}, email: x@corp.example, name: X }\n`);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(new RegExp(`^roster\\.yaml:4:7: users\\.${name}\\.username: '${name}' is reserved`));
    },
  );

  it('fails on resources above the estate caps and names the cap', () => {
    const text = `${GROUPS}users:\n  - username: alice\n    email: a@corp.example\n    name: A\n    resources: { cpus: 16, memory: 32g, disk: 20g }\n`;
    expect(rosterErrors(text)).toEqual([
      "roster.yaml:7:18: users.alice.resources.cpus: 16 is above the estate's cap of 8 (workspaces.max.cpus)",
      "roster.yaml:7:28: users.alice.resources.memory: 32g is above the estate's cap of 16g (workspaces.max.memory)",
    ]);
  });

  it('fails on a bad size and a bad state', () => {
    const text = `${GROUPS}users:\n  - { username: alice, email: a@corp.example, name: A, state: gone, resources: { memory: 4 gigs } }\n`;
    const errors = rosterErrors(text);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/users\.alice\.state: Invalid option: expected one of "active"\|"suspended"\|"archived"/);
    expect(errors[1]).toMatch(/users\.alice\.resources\.memory: must be a size such as 512m, 4g or 1t/);
  });

  it('reports every problem of a file at once', () => {
    const text = `${GROUPS}users:\n  - { username: root, email: nope, name: R, groups: [ghosts] }\n  - { username: bob, email: b@corp.example, name: B, colour: blue }\n`;
    expect(rosterErrors(text)).toEqual([
      "roster.yaml:4:7: users.root.username: 'root' is reserved for the estate's own services (nginx, keycloak, postgres, litellm, tabby, vllm, oauth2-proxy, admin, root)",
      'roster.yaml:4:23: users.root.email: must be an email address',
      "roster.yaml:4:54: users.root.groups.0: group 'ghosts' is not declared under groups (declared: developers)",
      "roster.yaml:5:54: users.bob.colour: unknown key 'colour' (known keys: username, email, name, groups, state, resources, node)",
    ]);
  });

  it('rejects YAML aliases (an alias bomb) quickly, without expanding them', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 12; i++) {
      const prev = String.fromCharCode(96 + i);
      const next = String.fromCharCode(97 + i);
      levels.push(`${next}: &${next} [${Array(10).fill(`*${prev}`).join(',')}]`);
    }
    const started = process.hrtime.bigint();
    const errors = rosterErrors(levels.join('\n'));
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatch(/^roster\.yaml:2:\d+: YAML aliases \(\*name\) are not allowed/);
    // Expanded, this document would hold 10^12 strings; refusing it takes milliseconds.
    expect(elapsedMs).toBeLessThan(2000);
  });

  it('rejects a huge file before parsing it', () => {
    const text = `# ${'x'.repeat(3 * 1024 * 1024)}\n`;
    expect(rosterErrors(text)).toEqual(['roster.yaml:1:1: file is larger than 2097152 bytes; refusing to parse it']);
  });

  it.each([
    ['a key indented unlike its neighbours', 'users:\n  - username: alice\n   email: broken\n',
      "roster.yaml:3:1: YAML syntax: this line's indentation matches no entry above it: line its key up with the keys of the entry it belongs to (a new list entry starts with '- ')"],
    ['a tab as indentation', 'users:\n\t- username: alice\n', 'roster.yaml:2:1: YAML syntax: this line is indented with a tab; YAML allows only spaces for indentation'],
    ['a key given twice', 'users:\n  - username: alice\n    username: bob\n',
      "roster.yaml:3:5: YAML syntax: key 'username' appears twice in the same entry (first on line 2); keep one"],
    ['an unclosed [', 'groups: [developers\nusers: []\n',
      "roster.yaml:2:1: YAML syntax: the '[' opened on line 1 is not closed with ']' before this line (or this line is not indented enough to continue it)"],
    ['an unclosed {', 'users:\n  - { username: alice, email: a@corp.example, name: A\n',
      "roster.yaml:3:1: YAML syntax: the '{' opened on line 2 is not closed with '}' before this line (or this line is not indented enough to continue it)"],
    ['an unclosed quote', 'users:\n  - username: alice\n    name: "Alice Kim\n',
      'roster.yaml:4:1: YAML syntax: a quoted value opened on line 3 is never closed: add the closing quote'],
    ["a value with ': ' in it", 'users:\n  - username: alice\n    name: Kim: Alice\n',
      "roster.yaml:3:11: YAML syntax: a value contains ': ' (a colon and a space), which starts a new key: put the value in quotes"],
    ['a value starting with @', 'users:\n  - username: @alice\n',
      'roster.yaml:2:15: YAML syntax: a value cannot start with \'@\' unless it is quoted: write it in quotes ("@alice")'],
    ['two documents', 'users: []\n---\ngroups: []\n',
      "roster.yaml:2:1: YAML syntax: the file holds more than one YAML document (a '---' line starts a second one); put everything in one document"],
  ])('explains a YAML syntax error in plain words: %s', (_case, text, message) => {
    expect(rosterErrors(text)).toEqual([message]);
  });

  it('fails when a retired user is still in the roster', () => {
    const text = `${GROUPS}users:\n  - { username: alice, email: a@corp.example, name: A }\nretired:\n  - { username: alice, reason: CHG-1234 deleted home }\n`;
    expect(rosterErrors(text)).toEqual(["roster.yaml:6:7: retired.alice.username: 'alice' is retired but still listed under users (line 4); keep one of the two"]);
  });

  it('gives the same roster for any order of users and groups', () => {
    const a = rosterFromText(generatedRosterYaml(20));
    const lines = generatedRosterYaml(20).split('\n');
    const header = lines.slice(0, 3);
    const users = lines.slice(3).filter((line) => line.length > 0).reverse();
    const b = rosterFromText([...header, ...users, ''].join('\n'));
    expect(b).toEqual(a);
  });

  it('accepts an estate-independent 1000-user roster', () => {
    expect(rosterFromText(generatedRosterYaml(1000), defaultEstate()).users).toHaveLength(1000);
  });
});
