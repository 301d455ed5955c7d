import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { ROOT } from '../helpers/run';

/** cdktf.json's `app`: the command `cdktf synth` runs. */
const APP: string = JSON.parse(fs.readFileSync(path.join(ROOT, 'cdktf.json'), 'utf8')).app;

/** Runs the app the way `cdktf synth` does (its `app` command, CDKTF_OUTDIR set), against the given files. */
function synth(env: Record<string, string>) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-out-'));
  fs.rmSync(outdir, { recursive: true });
  const result = spawnSync(APP, {
    shell: true,
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CDKTF_OUTDIR: outdir, STATE_DIR: '/var/lib/webide/state', ...env },
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, outdir };
}

describe('cdktf.json\'s app (what `cdktf synth` runs)', () => {
  it('synthesizes all four stacks from the embedded default estate', () => {
    const result = synth({});
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.status).toBe(0);
    for (const id of ['platform', 'identity', 'workspaces', 'edge']) {
      expect(fs.existsSync(path.join(result.outdir, 'stacks', id, 'cdk.tf.json'))).toBe(true);
    }
  });

  it('uses ROSTER_FILE instead of the embedded roster', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roster-'));
    const roster = path.join(dir, 'roster.yaml');
    fs.writeFileSync(roster, 'groups: []\nusers:\n  - { username: zoe, email: zoe@corp.example, name: Zoe Han }\n');
    const result = synth({ ROSTER_FILE: roster });
    expect(result.status).toBe(0);
    const workspaces = fs.readFileSync(path.join(result.outdir, 'stacks', 'workspaces', 'cdk.tf.json'), 'utf8');
    expect(workspaces).toContain('webide-ide-zoe');
    expect(workspaces).not.toContain('webide-ide-alice');
  });

  it('on bad input prints every problem, exits 1 without a stack trace, and writes nothing', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roster-'));
    const roster = path.join(dir, 'roster.yaml');
    fs.writeFileSync(roster, 'groups: []\nusers:\n  - { username: nginx, email: n@corp.example, name: N, grups: [x] }\n');
    const result = synth({ ROSTER_FILE: roster });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual([
      `${roster}:3:7: users.nginx.username: 'nginx' is reserved for the estate's own services (nginx, keycloak, postgres, litellm, tabby, vllm, oauth2-proxy, admin, root)`,
      `${roster}:3:56: users.nginx.grups: unknown key 'grups'`,
      '2 problem(s) found; nothing was synthesized.',
    ]);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(result.outdir)).toBe(false);
  });
});
