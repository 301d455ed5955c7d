import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { declaredObjects, findOrphans, PresentObject, recordedIds, synthesisRecordedIds } from '../../scripts/orphans';

/** A synthesized stack as cdktf writes it: one IDE container and its network, labelled. */
const STACK = {
  resource: {
    docker_container: {
      users_erin_ide_container_1: { name: 'est-ide-erin', labels: [{ label: 'webide.estate', value: 'est' }, { label: 'webide.user', value: 'erin' }] },
      computed_name: { name: '${docker_network.x.name}-c', labels: [] },
    },
    docker_network: { users_erin_network_2: { name: 'est-ws-erin', labels: [{ label: 'webide.user', value: 'erin' }] } },
    docker_volume: { homes_erin: { name: 'est-home-erin' } },
  },
};
const present = (o: Partial<PresentObject> & Pick<PresentObject, 'kind' | 'name' | 'id'>): PresentObject => ({ labels: {}, attached: 0, ...o });

describe('scripts/orphans.ts: what an interrupted apply left unrecorded', () => {
  const declared = declaredObjects(STACK);

  it('reads the containers and networks a stack declares by literal name, never volumes', () => {
    expect(declared.map((d) => `${d.address} ${d.name}`)).toEqual([
      'docker_container.users_erin_ide_container_1 est-ide-erin',
      'docker_network.users_erin_network_2 est-ws-erin',
    ]);
    expect(declared[0].labels).toEqual({ 'webide.estate': 'est', 'webide.user': 'erin' });
  });

  it('reads the recorded ids of containers and networks from a state', () => {
    const state = { resources: [{ type: 'docker_container', instances: [{ attributes: { id: 'c1' } }] }, { type: 'docker_volume', instances: [{ attributes: { id: 'v1' } }] }, { type: 'docker_network', instances: [{ attributes: { id: 'n1' } }, {}] }] };
    expect([...recordedIds(state)].sort()).toEqual(['c1', 'n1']);
    expect(recordedIds(undefined).size).toBe(0);
  });

  it('an unrecorded object with the declared name and labels is an orphan; a recorded one is not', () => {
    const labelled = { 'webide.estate': 'est', 'webide.user': 'erin', 'com.docker.extra': 'x' };
    const verdict = findOrphans(declared, new Set(['n-recorded']), [
      present({ kind: 'container', name: 'est-ide-erin', id: 'c-orphan', labels: labelled }),
      present({ kind: 'network', name: 'est-ws-erin', id: 'n-recorded', labels: { 'webide.user': 'erin' } }),
    ]);
    expect(verdict.refused).toEqual([]);
    expect(verdict.orphans.map((o) => `${o.kind} ${o.id} ${o.address}`)).toEqual(['container c-orphan docker_container.users_erin_ide_container_1']);
  });

  it('refuses a same-named object without the declared labels, and an unrecorded network in use', () => {
    const verdict = findOrphans(declared, new Set(), [
      present({ kind: 'container', name: 'est-ide-erin', id: 'someone-elses', labels: { 'webide.user': 'erin' } }),
      present({ kind: 'network', name: 'est-ws-erin', id: 'n-busy', labels: { 'webide.user': 'erin' }, attached: 2 }),
    ]);
    expect(verdict.orphans).toEqual([]);
    expect(verdict.refused.map((r) => `${r.object.id}: ${r.reason}`)).toEqual([
      'someone-elses: it lacks the labels docker_container.users_erin_ide_container_1 gives (webide.estate), so this estate did not make it: remove or rename it by hand',
      'n-busy: 2 container(s) are attached to it: detach them (docker network disconnect) first',
    ]);
  });

  it("reads the ids every stack's state of a synthesis records: an object another stack holds (a user's network moving into a shard stack) is that stack's, not an orphan", () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'orphans-unit-'));
    try {
      const stack = (id: string, state?: object) => {
        fs.mkdirSync(path.join(work, 'out', 'stacks', id), { recursive: true });
        const statePath = path.join(work, `terraform.${id}.tfstate`);
        fs.writeFileSync(path.join(work, 'out', 'stacks', id, 'cdk.tf.json'), JSON.stringify({ terraform: { backend: { local: { path: statePath } } } }));
        if (state) fs.writeFileSync(statePath, JSON.stringify(state));
      };
      stack('workspaces', { resources: [{ type: 'docker_network', instances: [{ attributes: { id: 'n-alice' } }] }, { type: 'docker_service', instances: [{ attributes: { id: 's-alice' } }] }] });
      stack('workspaces-ws-02', { resources: [{ type: 'docker_container', instances: [{ attributes: { id: 'c-bob' } }] }] });
      stack('workspaces-ws-01'); // never applied: no state file yet
      fs.mkdirSync(path.join(work, 'out', 'stacks', 'not-a-stack'));
      const recorded = synthesisRecordedIds(path.join(work, 'out'));
      expect([...recorded].sort()).toEqual(['c-bob', 'n-alice']);
      // In the shard stack that declares the same network, it is not an orphan.
      expect(findOrphans(declared, recorded, [present({ kind: 'network', name: 'est-ws-erin', id: 'n-alice', labels: { 'webide.user': 'erin' }, attached: 1 })])).toEqual({ orphans: [], refused: [] });
      expect(synthesisRecordedIds(path.join(work, 'missing')).size).toBe(0);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  it('ignores objects the stack does not declare', () => {
    expect(findOrphans(declared, new Set(), [present({ kind: 'container', name: 'est-ide-zoe', id: 'z', labels: {} })])).toEqual({ orphans: [], refused: [] });
  });
});
