import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT, runTs } from '../helpers/run';
import { assetText } from '../helpers/inputs';
import { deployableSwarmEstateText, SWARM_BLOCK, withDigests } from '../helpers/swarm';
import { SYNTH_APP as APP } from '../live/terraform';

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
  it('synthesizes all four stacks from the default estate in assets/', () => {
    const result = synth({});
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.status).toBe(0);
    for (const id of ['platform', 'identity', 'workspaces', 'edge']) {
      expect(fs.existsSync(path.join(result.outdir, 'stacks', id, 'cdk.tf.json'))).toBe(true);
    }
  });

  it('synthesizes the Swarm target\'s five stacks from an estate with target: swarm', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'estate-'));
    const estateFile = path.join(dir, 'estate.yaml');
    fs.writeFileSync(estateFile, deployableSwarmEstateText());
    const result = synth({ ESTATE_FILE: estateFile });
    expect([result.status, result.stderr]).toEqual([0, '']);
    const manifest = JSON.parse(fs.readFileSync(path.join(result.outdir, 'manifest.json'), 'utf8')) as { stacks: Record<string, { dependencies: string[] }> };
    expect(Object.keys(manifest.stacks).sort()).toEqual(['ai', 'edge', 'entry', 'identity', 'workspaces']);
    expect(manifest.stacks.identity.dependencies).toEqual(['entry']);
    // Every IDE a Swarm service of its own, none a container on one engine.
    const workspaces = fs.readFileSync(path.join(result.outdir, 'stacks', 'workspaces', 'cdk.tf.json'), 'utf8');
    expect(workspaces).toContain('"name": "webide-ide-alice"');
    expect(workspaces).not.toContain('"docker_container"');
  });

  it('refuses, with file, line and field, what the swarm target does not deploy yet: production (no audit trail, monitoring or backups), egress, backups, audit forwarding', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'estate-'));
    const estateFile = path.join(dir, 'estate.yaml');
    const text = `${withDigests(assetText('estate.yaml'))}\n${SWARM_BLOCK}`.replace(/^ {4}# forward: (.*)$/m, '    forward: $1');
    fs.writeFileSync(estateFile, text);
    const result = synth({ ESTATE_FILE: estateFile });
    const lineOf = (pattern: RegExp) => text.split('\n').findIndex((line) => pattern.test(line)) + 1;
    expect(result.status).toBe(1);
    expect(result.stderr.split('\n').filter((line) => line.startsWith(estateFile))).toEqual([
      `${estateFile}:${lineOf(/^profile: /)}:1: profile: the swarm target has no audit trail yet (each service's records stay in its own log on its node: not collected, kept or forwarded), no monitoring and no backups, which the production profile needs: deploy production on target: docker; profile: local runs the swarm target without them`,
      `${estateFile}:${lineOf(/^egress:/)}:1: egress: the swarm target does not run the egress proxy yet, so no IDE would reach these services: remove egress, or use target: docker`,
      `${estateFile}:${lineOf(/^ {4}forward: /)}:5: operations.audit.forward: the swarm target has no audit sink yet, so nothing would be forwarded: remove forward, or use target: docker`,
      `${estateFile}:${lineOf(/^ {2}backup:$/)}:3: operations.backup: the swarm target does not run backups yet: nothing would back up the homes or Keycloak's database. Remove backup (and back up the nodes' volumes another way), or use target: docker`,
    ]);
    expect(fs.existsSync(path.join(result.outdir, 'manifest.json'))).toBe(false);
  });

  it('uses ROSTER_FILE instead of assets/roster.yaml', () => {
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
      `${roster}:3:56: users.nginx.grups: unknown key 'grups' (did you mean 'groups'?)`,
      '2 problem(s) found; nothing was synthesized.',
    ]);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(result.outdir)).toBe(false);
  });

  /** An output directory holding an older, complete synthesis. */
  function olderOutput(): string {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-old-'));
    fs.writeFileSync(path.join(outdir, 'manifest.json'), '{}');
    for (const id of ['platform', 'identity', 'workspaces', 'edge']) {
      fs.mkdirSync(path.join(outdir, 'stacks', id, '.terraform'), { recursive: true });
      fs.writeFileSync(path.join(outdir, 'stacks', id, 'cdk.tf.json'), '{"old": true}');
    }
    return outdir;
  }
  const writtenStacks = (outdir: string) =>
    fs.existsSync(path.join(outdir, 'stacks')) ? fs.readdirSync(path.join(outdir, 'stacks')).filter((id) => fs.existsSync(path.join(outdir, 'stacks', id, 'cdk.tf.json'))) : [];

  it('on a policy violation prints one line per finding with its fix, exits 1, and writes no cdk.tf.json (as under the cdktf CLI)', () => {
    const estateText = fs.readFileSync(path.join(ROOT, 'assets', 'estate.yaml'), 'utf8');
    // The sample estate waives the digest rule (WEBIDE-I1) for its tag-pinned images; without the waiver it fails.
    const estate = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'estate-')), 'estate.yaml');
    fs.writeFileSync(estate, `${estateText.slice(0, estateText.indexOf('\nsuppressions:'))}\nsuppressions: []\n`);
    const outdir = olderOutput();
    // The cdktf CLI sets this flag, which makes cdktf write every stack despite error annotations.
    const result = runTs('main.ts', [], { CDKTF_OUTDIR: outdir, ESTATE_FILE: estate, CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS: 'true' });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    const findings = lines.slice(0, -1);
    expect(findings).toHaveLength(16);
    const images = findings.filter((line) => line.includes('[WEBIDE-I1]'));
    expect(images).toHaveLength(12);
    for (const line of images) {
      expect(line).toMatch(/^\[(platform|workspaces|edge)\/[a-z0-9-]+-image\] \[WEBIDE-I1\] Images are pinned: .* Fix: Pin the image in the estate config as name:tag@sha256:<digest> .*$/);
    }
    // The audit trail's event collector holds the engine's socket as root, the node exporter reads the
    // host's /proc, /sys and /, the backup agent reads every home as root: waived in the sample, each with its reason.
    expect(findings.filter((line) => !line.includes('[WEBIDE-I1]')).map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual([
      '[platform/audit/events/container] [WEBIDE-C4]',
      '[platform/audit/events/container] [WEBIDE-C5]',
      '[platform/monitoring/node-exporter/container] [WEBIDE-C4]',
      '[workspaces/backup/agent/container] [WEBIDE-C5]',
    ]);
    expect(images).toContain(
      '[platform/monitoring-image] [WEBIDE-I1] Images are pinned: a tag that is not latest everywhere, a digest in the production profile. Fix: Pin the image in the estate config as name:tag@sha256:<digest> (the digest your registry mirror recorded).',
    );
    expect(findings).toContain(
      '[workspaces/code-server-image] [WEBIDE-I1] Images are pinned: a tag that is not latest everywhere, a digest in the production profile. Fix: Pin the image in the estate config as name:tag@sha256:<digest> (the digest your registry mirror recorded).',
    );
    expect(lines[lines.length - 1]).toBe(
      `16 policy violation(s); nothing was synthesized. Fix them, or waive a rule for a resource under "suppressions" in ${estate} with a reason.`,
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stderr).not.toMatch(/Error:/);
    // Nothing new was written and the older synthesis no longer looks current.
    expect(writtenStacks(outdir)).toEqual([]);
    expect(fs.existsSync(path.join(outdir, 'manifest.json'))).toBe(false);
    // Terraform's working files stay (no needless re-init).
    expect(fs.existsSync(path.join(outdir, 'stacks', 'platform', '.terraform'))).toBe(true);
  });

  it('on invalid input removes an older synthesis too', () => {
    const roster = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'roster-')), 'roster.yaml');
    fs.writeFileSync(roster, 'users:\n  - { username: zoe }\n');
    const outdir = olderOutput();
    const result = runTs('main.ts', [], { CDKTF_OUTDIR: outdir, ROSTER_FILE: roster });
    expect(result.status).toBe(1);
    expect(writtenStacks(outdir)).toEqual([]);
    expect(fs.existsSync(path.join(outdir, 'manifest.json'))).toBe(false);
  });

  it('writes the same files wherever the repository is checked out (state paths relative to the stack directory)', () => {
    const checkout = (parent: string) => {
      const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), parent)), 'nested', 'webide-estate');
      fs.mkdirSync(dir, { recursive: true });
      for (const entry of ['main.ts', 'tsconfig.json', 'package.json', 'assets', 'config', 'constructs', 'policy', 'render', 'stacks']) {
        fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
      }
      for (const linked of ['node_modules', '.gen']) fs.symlinkSync(fs.realpathSync(path.join(ROOT, linked)), path.join(dir, linked));
      const result = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'main.ts'], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, CDKTF_OUTDIR: '', STATE_DIR: '' },
        timeout: 120_000,
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const out = path.join(dir, 'cdktf.out');
      const files: Record<string, string> = {};
      const walk = (sub: string) => {
        for (const entry of fs.readdirSync(path.join(out, sub), { withFileTypes: true })) {
          const rel = path.join(sub, entry.name);
          if (entry.isDirectory()) walk(rel);
          else files[rel] = fs.readFileSync(path.join(out, rel), 'utf8');
        }
      };
      walk('');
      return { dir, files };
    };
    const a = checkout('clone-a-');
    const b = checkout('clone-b-');
    expect(Object.keys(a.files).sort()).toEqual(['manifest.json', ...['edge', 'identity', 'platform', 'workspaces'].map((id) => path.join('stacks', id, 'cdk.tf.json'))]);
    expect(b.files).toEqual(a.files);
    for (const text of Object.values(a.files)) expect(text).not.toContain(a.dir);
    expect(a.files[path.join('stacks', 'platform', 'cdk.tf.json')]).toContain('"path": "../../../terraform.platform.tfstate"');
  });
});
