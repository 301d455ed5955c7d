import * as fs from 'fs';
import * as path from 'path';
import { analysePlans, exitCodeOf, workspaceUserOf } from '../../report/analyse';
import { ResourceChange, StackPlan, UnplannedStack } from '../../report/plan';
import { renderReportJson, renderReportMarkdown } from '../../report/render';

/** Plans produced by real terraform runs (see fixtures/plans/make-fixtures.ts). */
function fixture(name: string): StackPlan {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'plans', `${name}.json`), 'utf8'));
}

/**
 * The recorded first deploy of the workspaces stack, split the way workspaces.shards: 3 splits it:
 * the roster-wide stack keeps the guard and the outputs; each shard stack gets its users' resources
 * and its own image and managed files; ws-03 holds no user, and here nothing changes in it.
 */
function sharded(): StackPlan[] {
  const { plan } = fixture('workspaces-create');
  const changes = plan.resource_changes!;
  const of = (users: string[], shared: boolean) =>
    changes.filter((c) => (shared && !c.address.includes('.users_') && !c.address.includes('home-volume-guard')) || users.includes(workspaceUserOf(c.address) ?? ''));
  return [
    { stack: 'workspaces', plan: { ...plan, resource_changes: changes.filter((c) => c.address.includes('home-volume-guard')) } },
    { stack: 'workspaces-ws-01', plan: { resource_changes: of(['carol'], true) } },
    { stack: 'workspaces-ws-02', plan: { resource_changes: of(['alice', 'bob', 'dave'], true) } },
    { stack: 'workspaces-ws-03', plan: { resource_changes: of([], false) } },
  ];
}

describe('plan report: the workspaces stack and its shard stacks as one part', () => {
  it('finds the user of a workspaces resource by its address', () => {
    expect(workspaceUserOf('docker_network.users_erin_network_1A2B3C4D')).toBe('erin');
    expect(workspaceUserOf('null_resource.users_ops-7_nginx-link_4AABC6E3[0]')).toBe('ops-7');
    expect(workspaceUserOf('docker_image.code-server-image')).toBeUndefined();
  });

  it('adds the shard stacks up, keeps every stack in the summary for tools, and attributes each change to its user and stack', () => {
    const plans = sharded();
    const report = analysePlans([fixture('identity-create'), ...plans, fixture('edge-create')]);
    expect(report.summary.map((s) => [s.stack, s.counts.create])).toEqual([
      ['identity', expect.any(Number)],
      ['workspaces', 1],
      // Each shard has its own image and managed files (3), and its users' resources (4 each: network, IDE, pids limit, nginx link).
      ['workspaces-ws-01', 3 + 4],
      ['workspaces-ws-02', 3 + 3 * 4],
      ['workspaces-ws-03', 0],
      ['edge', expect.any(Number)],
    ]);
    expect(report.workspaces).toEqual({
      stacks: ['workspaces', 'workspaces-ws-01', 'workspaces-ws-02', 'workspaces-ws-03'],
      counts: { create: 23, update: 0, replace: 0, delete: 0 },
      notPlanned: [],
      users: [
        { username: 'alice', stack: 'workspaces-ws-02', counts: { create: 4, update: 0, replace: 0, delete: 0 } },
        { username: 'bob', stack: 'workspaces-ws-02', counts: { create: 4, update: 0, replace: 0, delete: 0 } },
        { username: 'carol', stack: 'workspaces-ws-01', counts: { create: 4, update: 0, replace: 0, delete: 0 } },
        { username: 'dave', stack: 'workspaces-ws-02', counts: { create: 4, update: 0, replace: 0, delete: 0 } },
      ],
    });
    expect(JSON.parse(renderReportJson(report, [])).workspaces.counts.create).toBe(23);
  });

  it('shows one workspaces row in the summary with the stacks that change below it, and a table of the users', () => {
    const markdown = renderReportMarkdown(analysePlans([fixture('identity-create'), ...sharded(), fixture('edge-create')]), []);
    const summary = markdown.slice(markdown.indexOf('## Summary'), markdown.indexOf('## Risks'));
    expect(summary.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| stack'))).toEqual([
      expect.stringMatching(/^\| identity \| \d+ \| 0 \| 0 \| 0 \| {2}\|$/),
      '| **workspaces (all)** | 23 | 0 | 0 | 0 | the roster-wide stack and 3 shard stack(s); 1 of them without changes |',
      '| ↳ workspaces | 1 | 0 | 0 | 0 |  |',
      '| ↳ workspaces-ws-01 | 7 | 0 | 0 | 0 |  |',
      '| ↳ workspaces-ws-02 | 15 | 0 | 0 | 0 |  |',
      expect.stringMatching(/^\| edge \| \d+ \| 0 \| 0 \| 0 \| {2}\|$/),
      '| user | stack | add | change | replace | destroy |',
      '| alice | workspaces-ws-02 | 4 | 0 | 0 | 0 |',
      '| bob | workspaces-ws-02 | 4 | 0 | 0 | 0 |',
      '| carol | workspaces-ws-01 | 4 | 0 | 0 | 0 |',
      '| dave | workspaces-ws-02 | 4 | 0 | 0 | 0 |',
    ]);
    // The same rendered file in each shard's loader: one diff, saying where.
    expect(markdown).toContain('### `/var/lib/code-server/Machine/settings.json` (2 containers in workspaces-ws-01, workspaces-ws-02)');
  });

  it('reads a user archived in a shard stack as archived (sign-in disabled in identity, IDE removed in the shard)', () => {
    const removed: ResourceChange = {
      address: 'docker_container.users_carol_ide_container_032671DD',
      type: 'docker_container',
      change: { actions: ['delete'], before: { name: 'webide-ide-carol', labels: [{ label: 'webide.component', value: 'workspace' }, { label: 'webide.user', value: 'carol' }] }, after: null },
    };
    const report = analysePlans([fixture('identity-roster-edit'), { stack: 'workspaces', plan: { resource_changes: [] } }, { stack: 'workspaces-ws-01', plan: { resource_changes: [removed] } }]);
    expect(report.people.find((p) => p.username === 'carol')).toEqual({ username: 'carol', change: 'archived', detail: 'sign-in disabled, IDE removed, home volume kept' });
    expect(report.workspaces!.users).toEqual([{ username: 'carol', stack: 'workspaces-ws-01', counts: { create: 0, update: 0, replace: 0, delete: 1 } }]);
  });

  it('names a shard stack that could not be planned, in the workspaces row and below it, and exits 1', () => {
    const [roster, one, two] = sharded();
    const notPlanned: UnplannedStack = { stack: 'workspaces-ws-03', reason: 'needs the Docker engine at unix:///var/run/docker.sock, which is not reachable from here' };
    const report = analysePlans([roster, one, two, notPlanned]);
    expect(report.workspaces!.notPlanned).toEqual(['workspaces-ws-03']);
    const markdown = renderReportMarkdown(report, []);
    expect(markdown).toContain('| **workspaces (all)** | 23 | 0 | 0 | 0 | the roster-wide stack and 3 shard stack(s); **not planned**: workspaces-ws-03 |');
    expect(markdown).toContain('| ↳ workspaces-ws-03 | – | – | – | – | **not planned**: needs the Docker engine');
    expect(exitCodeOf(report)).toBe(1);
  });

  it('leaves a report without shard stacks as it was: one workspaces row, no part, no user table', () => {
    const report = analysePlans([fixture('workspaces-create')]);
    expect(report.workspaces).toBeUndefined();
    const markdown = renderReportMarkdown(report, []);
    expect(markdown).toContain('| workspaces | 20 | 0 | 0 | 0 |  |');
    expect(markdown).not.toContain('workspaces (all)');
    expect(markdown).not.toContain('Workspaces by user');
    expect(Object.keys(JSON.parse(renderReportJson(report, [])))).toEqual(['exitCode', 'summary', 'unplanned', 'people', 'risks', 'files', 'suppressions']);
  });
});
