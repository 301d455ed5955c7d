import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT, terraformEnv } from './terraform';

jest.setTimeout(600_000);

/** Fake secrets that pass the variables' validation; never real ones. */
const FAKE_SECRETS = {
  TF_VAR_keycloak_admin_password: 'fake-admin-password-not-a-secret',
  TF_VAR_keycloak_terraform_client_secret: 'fake-terraform-client-secret-not-a-secret',
  TF_VAR_keycloak_db_password: 'fake-db-password-not-a-secret',
  TF_VAR_litellm_master_key: 'sk-fake-master-key-not-a-secret',
  TF_VAR_litellm_gateway_key: 'sk-fake-gateway-key-not-a-secret-0000',
  TF_VAR_vllm_api_key: 'fake-vllm-api-key-not-a-secret',
  TF_VAR_tabby_jwt_secret: '00000000-0000-4000-8000-000000000000',
  TF_VAR_tabby_api_token: 'fake-tabby-token-not-a-secret',
  TF_VAR_oauth2_proxy_cookie_secret: '0123456789abcdef0123456789abcdef',
  TF_VAR_backup_repository_password: 'fake-backup-password-not-a-secret',
};

/**
 * `npm run plan:report` on an estate with nothing deployed: real terraform plans of
 * every stack with the real providers, no Keycloak and no Docker engine needed.
 */
describe('plan:report on a first deployment', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'live-plan-report-'));
  const stateDir = path.join(work, 'state');
  const outdir = path.join(work, 'cdktf.out');
  fs.mkdirSync(stateDir);
  // What a locking plan leaves before anything is applied: an empty state file. Still a first deployment.
  fs.writeFileSync(path.join(stateDir, 'terraform.platform.tfstate'), '');
  terraformEnv(); // fails early, and clearly, without the provider mirror

  const result = spawnSync(process.execPath, ['-r', require.resolve('ts-node/register/transpile-only'), path.join(ROOT, 'scripts', 'plan-report.ts')], {
    cwd: work,
    encoding: 'utf8',
    env: { ...process.env, ...FAKE_SECRETS, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json'), STATE_DIR: stateDir, CDKTF_OUTDIR: outdir, TF_CLI_CONFIG_FILE: '/nonexistent' },
    timeout: 580_000,
  });

  it('plans every stack and says which ones were planned before the stack they read is applied', () => {
    expect(result.stderr).not.toMatch(/NOT PLANNED|Unable to find remote state/);
    // 2 changes, 3 changes with flagged risks (nginx publishes ports); anything else shows the output.
    expect(result.status === 2 || result.status === 3 ? 'planned' : `exit ${result.status}: ${result.stderr}`).toBe('planned');
    const report = JSON.parse(fs.readFileSync(path.join(work, 'plan-report.json'), 'utf8'));
    expect(report.unplanned).toEqual([]);
    expect(report.summary.map((s: { stack: string; note: string }) => [s.stack, s.note])).toEqual([
      ['platform', 'first deployment (no state yet)'],
      ['identity', 'first deployment (no state yet)'],
      ['workspaces', expect.stringMatching(/^first deployment, planned before platform is applied: values read from platform show as "\(known after platform is applied\)"/)],
      ['edge', expect.stringMatching(/^first deployment, planned before identity is applied/)],
    ]);
    for (const row of report.summary) expect(row.counts.create).toBeGreaterThan(0);
    // Four IDEs, their networks and pids-limit steps, nginx and egress proxy links for the three
    // active users (not suspended dave), the image, the guard, and the managed files' volume and loader.
    expect(report.summary.find((s: { stack: string }) => s.stack === 'workspaces').counts.create).toBe(25);
    expect(report.people.filter((p: { change: string }) => p.change === 'added').map((p: { username: string }) => p.username)).toEqual(['alice', 'bob', 'carol', 'dave']);
    const markdown = fs.readFileSync(path.join(work, 'plan-report.md'), 'utf8');
    expect(markdown).toContain('| workspaces | 25 | 0 | 0 | 0 | first deployment, planned before platform is applied');
  });

  it('leaves no state, no override and no plan made with placeholders behind', () => {
    expect(fs.readdirSync(stateDir)).toEqual(['terraform.platform.tfstate']);
    expect(fs.readFileSync(path.join(stateDir, 'terraform.platform.tfstate'), 'utf8')).toBe('');
    for (const stack of ['platform', 'identity', 'workspaces', 'edge']) {
      expect(fs.readdirSync(path.join(outdir, 'stacks', stack)).filter((f) => f.endsWith('_override.tf.json'))).toEqual([]);
    }
    expect(fs.existsSync(path.join(outdir, 'stacks', 'workspaces', 'plan.tfplan'))).toBe(false);
    expect(fs.existsSync(path.join(outdir, 'stacks', 'platform', 'plan.tfplan'))).toBe(true);
  });
});
