import { declaredObjects, findOrphans, PresentObject, recordedIds } from '../../scripts/orphans';

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

  it('ignores objects the stack does not declare', () => {
    expect(findOrphans(declared, new Set(), [present({ kind: 'container', name: 'est-ide-zoe', id: 'z', labels: {} })])).toEqual({ orphans: [], refused: [] });
  });
});
