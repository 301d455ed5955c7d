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
      `${file}:4:63: users.ok.groups.0: group 'ghosts' is not declared under groups`,
      '4 problem(s) found.',
    ]);
    expect(result.stderr).not.toMatch(/\bat .*\.ts:\d+/);
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
    expect(Object.keys(user.properties).sort()).toEqual(['email', 'groups', 'name', 'resources', 'state', 'username']);
    expect(user.properties.state.enum).toEqual(['active', 'suspended', 'archived']);
  });
});
