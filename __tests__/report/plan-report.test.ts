import * as fs from 'fs';
import * as path from 'path';
import { analysePlans, exitCodeOf } from '../../report/analyse';
import { Testing } from 'cdktf';
import { ResourceChange, StackPlan } from '../../report/plan';
import { PlatformStack } from '../../stacks/platform-stack';
import { defaultEstate, defaultRoster } from '../helpers/inputs';
import { renderReportJson, renderReportMarkdown } from '../../report/render';
import { NGINX_PATHS } from '../../constructs/nginx-entry';

/** Plans produced by real terraform runs (see fixtures/plans/make-fixtures.ts). */
function fixture(name: string): StackPlan {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'plans', `${name}.json`), 'utf8'));
}

/** The fake secret values the fixtures were made with; a report must print none of them. */
const FIXTURE_SECRETS = [
  'fixture-db-password-not-a-secret',
  'sk-fixture-master-key-not-a-secret',
  'sk-fixture-gateway-key-not-a-secret-0123',
  'fixture-vllm-key-not-a-secret',
  '00000000-0000-4000-8000-000000000000',
  'fixture-tabby-token-not-a-secret',
  '0123456789abcdef0123456789abcdef',
  'fixture-admin-password-not-a-secret',
  'fixture-client-secret-not-a-secret',
];

describe('plan report on real plans', () => {
  it('reads a roster edit as people changes: added, suspended, archived-or-suspended, re-activated, groups', () => {
    const report = analysePlans([fixture('identity-roster-edit')]);
    expect(report.summary).toEqual([{ stack: 'identity', counts: { create: 2, update: 4, replace: 0, delete: 0 } }]);
    expect(report.people.map((p) => [p.username, p.change, p.detail])).toEqual([
      ['bob', 'suspended', 'sign-in disabled'],
      ['carol', 'suspended', 'sign-in disabled'],
      ['dave', 'groups', '+platform-admins'],
      ['dave', 're-activated', 'sign-in enabled'],
      ['erin', 'added', 'erin@corp.example'],
      ['erin', 'groups', '+developers'],
    ]);
    expect(report.risks).toEqual([]);
    expect(exitCodeOf(report)).toBe(2);
  });

  it('tells archived from suspended when the same change removes the IDE container', () => {
    const identity = fixture('identity-roster-edit');
    const ideRemoved: StackPlan = {
      stack: 'workspaces',
      plan: {
        resource_changes: [
          {
            address: 'docker_container.users_carol_ide_container_ABCDEF12',
            type: 'docker_container',
            change: {
              actions: ['delete'],
              before: { name: 'webide-ide-carol', labels: [{ label: 'webide.component', value: 'workspace' }, { label: 'webide.user', value: 'carol' }] },
              after: null,
            },
          },
        ],
      },
    };
    const carol = analysePlans([identity, ideRemoved]).people.find((p) => p.username === 'carol');
    expect(carol).toEqual({ username: 'carol', change: 'archived', detail: 'sign-in disabled, IDE removed, home volume kept' });
  });

  it('flags a weakened realm and changed redirect URIs, and exits 3', () => {
    const report = analysePlans([fixture('identity-weaken')]);
    const messages = report.risks.map((r) => `${r.category}: ${r.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        'realm-security: brute force: max login failures 5 → 20 (weaker)',
        expect.stringMatching(/^realm-security: password policy: "length\(12\) .*" → "length\(8\) .*" \(weaker\)$/),
        'realm-security: sso_session_max_lifespan: 10h0m0s → 24h (longer)',
        `realm-security: events kept ${90 * 86400}s → ${7 * 86400}s`,
        'client: webide-ide valid_redirect_uris: ["https://ide.corp.example/oauth2/callback"] → ["https://ide2.corp.example/oauth2/callback"]',
      ]),
    );
    expect(report.risks[0].category).toBe('realm-security');
    expect(exitCodeOf(report)).toBe(3);
  });

  it('counts a first deploy per stack and flags nginx publishing ports', () => {
    const report = analysePlans(['platform-create', 'identity-create', 'workspaces-create', 'edge-create'].map(fixture));
    expect(report.summary.map((s) => [s.stack, s.counts.create, s.counts.update + s.counts.replace + s.counts.delete])).toEqual([
      ['platform', expect.any(Number), 0],
      ['identity', expect.any(Number), 0],
      ['workspaces', expect.any(Number), 0],
      ['edge', expect.any(Number), 0],
    ]);
    // image + 4 × (network, IDE, its pids limit, nginx link) + the guard + the managed files' volume and loader
    expect(report.summary.find((s) => s.stack === 'workspaces')!.counts.create).toBe(20);
    expect(report.risks.filter((r) => r.category === 'network').map((r) => r.message)).toEqual([
      'new container webide-nginx publishes [{"external":443,"internal":8443,"ip":"0.0.0.0","protocol":"tcp"},{"external":80,"internal":8080,"ip":"0.0.0.0","protocol":"tcp"}]',
      'network webide-net-edge created (not internal: has a route out)',
    ]);
  });

  it('shows rendered files as unified diffs, and hides sensitive content', () => {
    const report = analysePlans([fixture('edge-create'), fixture('platform-create'), fixture('workspaces-create')]);
    const files = report.files.map((f) => f.file);
    expect(files).toEqual(expect.arrayContaining(['/etc/webide-nginx/nginx.conf', '/etc/litellm/config.yaml', '/var/lib/code-server/Machine/settings.json']));
    const markdown = renderReportMarkdown(report, []);
    expect(markdown).toContain('--- /dev/null');
    expect(markdown).toContain('+++ b/etc/webide-nginx/nginx.conf');
    // Every IDE mounts the same settings file, which one loader receives: one diff.
    expect(markdown).toMatch(/### `\/var\/lib\/code-server\/Machine\/settings\.json` \(workspaces: `docker_container\.ide-managed-files_loader_[0-9A-F]{8}`\)/);
    expect(markdown.match(/Machine\/settings\.json`/g)).toHaveLength(1);
    expect(markdown).toContain('+  ssl_protocols TLSv1.2 TLSv1.3;');
  });

  it('never prints a sensitive value, although the plans contain them', () => {
    const plans = ['platform-create', 'identity-create', 'workspaces-create', 'edge-create', 'identity-roster-edit', 'identity-weaken'].map(fixture);
    const raw = JSON.stringify(plans);
    const report = analysePlans(plans);
    const outputs = renderReportMarkdown(report, []) + renderReportJson(report, []);
    for (const secret of FIXTURE_SECRETS) {
      if (!raw.includes(secret)) continue;
      expect(outputs).not.toContain(secret);
    }
    expect(FIXTURE_SECRETS.filter((s) => raw.includes(s)).length).toBeGreaterThanOrEqual(4);
  });

  it('reports no changes with exit code 0', () => {
    const report = analysePlans([{ stack: 'identity', plan: { resource_changes: [] } }]);
    expect(exitCodeOf(report)).toBe(0);
    expect(renderReportMarkdown(report, [])).toContain('**No changes.**');
  });

  describe('the AI gateway (WEBIDE-A1)', () => {
    /** The loader of nginx's files in the recorded first deploy. */
    const recorded = fixture('platform-create').plan.resource_changes!.find((c) => c.type === 'docker_container' && c.address.startsWith('docker_container.nginx_config_loader'))!;
    /** The nginx.conf of an earlier release, whose gateway forwarded every /v1/ and /tabby/ path. */
    const OPEN_GATEWAY_CONF = fs.readFileSync(path.join(__dirname, '../fixtures/plans/nginx-open-gateway.conf'), 'utf8');
    /** nginx.conf as this code renders it for the default estate. */
    const current = (() => {
      const estate = defaultEstate();
      const json = JSON.parse(Testing.synth(new PlatformStack(Testing.app(), 'platform', { estate, roster: defaultRoster(estate), stateFile: 'x.tfstate' })));
      const loader = Object.values(json.resource.docker_container as Record<string, Record<string, any>>).find((c) => c.name === 'webide-managed-nginx-loader')!;
      return loader.upload.find((u: { file: string }) => u.file === NGINX_PATHS.config).content as string;
    })();
    const update = (beforeConf: string, afterConf: string): StackPlan => {
      const withConf = (conf: string) => ({ ...recorded.change.after, upload: recorded.change.after!.upload.map((u: { file: string }) => (u.file === NGINX_PATHS.config ? { ...u, content: conf } : u)) });
      const change: ResourceChange = { ...recorded, change: { ...recorded.change, actions: ['update'], before: withConf(beforeConf), after: withConf(afterConf) } };
      return { stack: 'platform', plan: { resource_changes: [change] } };
    };

    it('flags closing the gateway with the endpoints removed and the rule id', () => {
      const report = analysePlans([update(OPEN_GATEWAY_CONF, current)]);
      const risks = report.risks.filter((r) => r.category === 'ai-gateway');
      expect(risks).toHaveLength(1);
      expect(risks[0].message).toBe(
        'AI gateway endpoints IDEs can reach: +GET /tabby/v1/health; +GET /v1/models; +POST /tabby/v1/completions; +POST /tabby/v1/events; ' +
          '+POST /v1/chat/completions; +POST /v1/completions; -any /tabby/ (prefix); -any /v1/ (prefix) (WEBIDE-A1: all on the allow-list)',
      );
      expect(exitCodeOf(report)).toBe(3);
      expect(renderReportMarkdown(report, [])).toContain('| ai-gateway | platform |');
    });

    it('flags a gateway that forwards outside the allow-list, naming the location', () => {
      // A prefix location added to the gateway server (the last server in the file).
      const tail = '    location / {\n      return 404;\n    }\n  }\n}\n';
      expect(current.endsWith(tail)).toBe(true);
      const widened = `${current.slice(0, -tail.length)}    location /v1/ {\n      proxy_pass http://$litellm_upstream;\n    }\n${tail}`;
      const [risk] = analysePlans([update(current, widened)]).risks.filter((r) => r.category === 'ai-gateway');
      expect(risk.message).toBe('AI gateway endpoints IDEs can reach: +any /v1/ (prefix) (WEBIDE-A1: OUTSIDE the allow-list: location /v1/)');
    });

    it('says nothing when nginx.conf changes elsewhere', () => {
      const elsewhere = current.replace('client_max_body_size 64m;', 'client_max_body_size 32m;');
      expect(elsewhere).not.toBe(current);
      expect(analysePlans([update(current, elsewhere)]).risks.filter((r) => r.category === 'ai-gateway')).toEqual([]);
    });
  });

  describe('managed files (rendered files on a volume that read-only services mount)', () => {
    const container = (mounts: unknown[]) => ({ name: 'webide-ide-alice', user: '1000:1000', read_only: true, mounts, labels: [{ label: 'webide.component', value: 'workspace' }, { label: 'webide.user', value: 'alice' }] });
    const home = { type: 'volume', source: 'webide-home-alice', target: '/home/coder' };
    const managed = (digest: string) => ({ type: 'volume', source: `webide-managed-workspace-${digest}`, target: '/var/lib/code-server/Machine', read_only: true });
    const replace = (type: string, before: Record<string, unknown>, after: Record<string, unknown>): StackPlan => ({
      stack: 'workspaces',
      plan: { resource_changes: [{ address: `${type}.x`, type, name: 'x', change: { actions: ['delete', 'create'], before, after } } as ResourceChange] },
    });

    it('a new managed volume is no data risk and no privilege change; any other mount change still is', () => {
      const volumeLabels = [{ label: 'webide.loader', value: 'true' }];
      expect(analysePlans([replace('docker_volume', { name: 'webide-managed-workspace-aaaaaaaaaaaa', labels: volumeLabels }, { name: 'webide-managed-workspace-bbbbbbbbbbbb', labels: volumeLabels })]).risks).toEqual([]);
      expect(analysePlans([replace('docker_volume', { name: 'webide-home-alice' }, { name: 'webide-home-alice' })]).risks.map((r) => r.category)).toEqual(['data']);
      const digestOnly = replace('docker_container', container([home, managed('aaaaaaaaaaaa')]), container([home, managed('bbbbbbbbbbbb')]));
      expect(analysePlans([digestOnly]).risks).toEqual([]);
      const socket = replace('docker_container', container([home, managed('aaaaaaaaaaaa')]), container([home, managed('bbbbbbbbbbbb'), { type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock' }]));
      expect(analysePlans([socket]).risks.map((r) => [r.category, r.message.split(':')[0]])).toEqual([['privilege', 'mounts']]);
    });
  });

  it('lists the policy suppressions in force', () => {
    const markdown = renderReportMarkdown(analysePlans([]), [{ rule: 'WEBIDE-I1', path: 'platform/vllm-image', reason: 'Digest recorded at import (CHG-7).' }]);
    expect(markdown).toContain('| WEBIDE-I1 | `platform/vllm-image` | Digest recorded at import (CHG-7). |');
  });
});
