import { loadInputs } from '../../config/load';
import { nodeLoads, placeIdes, PlacedUser, STATES_WITH_IDE } from '../../config/placement';
import { rendezvousScore } from '../../config/rendezvous';
import { UserState } from '../../config/roster';
import { ConfigError, formatIssue } from '../../config/source';
import { IdeNode } from '../../config/swarm';
import { assetText, withoutBackup, withoutEgress } from '../helpers/inputs';
import { shuffled, usernames } from '../helpers/names';

const users = (names: readonly string[]): PlacedUser[] => names.map((username) => ({ username }));

const NODES: IdeNode[] = [
  { name: 'ide-1', ideCapacity: 40 },
  { name: 'ide-2', ideCapacity: 20 },
  { name: 'ide-3', ideCapacity: 30 },
];
const NAMES = usernames(200);

/** The users whose node differs between two placements. */
function moved(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string[] {
  return [...before.keys()].filter((name) => after.has(name) && after.get(name) !== before.get(name));
}

describe('placeIdes: weighted rendezvous hashing of users onto ide nodes', () => {
  it('is fixed by the hash of node and username: the same placement in every release (changing it would move homes)', () => {
    // `printf 'ide-1\0alice' | sha256sum` starts 8edded708bc4; checked against a Python implementation.
    expect(rendezvousScore('ide-1', 'alice', 40)).toBe(-40 / Math.log((0x8edded708bc4 + 0.5) / 2 ** 48));
    const placement = placeIdes(users(['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi']), NODES);
    expect([...placement]).toEqual([
      ['alice', 'ide-1'],
      ['bob', 'ide-1'],
      ['carol', 'ide-2'],
      ['dave', 'ide-1'],
      ['erin', 'ide-2'],
      ['frank', 'ide-1'],
      ['grace', 'ide-2'],
      ['heidi', 'ide-1'],
    ]);
  });

  it('does not depend on the order of users or nodes (the map is in username order)', () => {
    const placement = placeIdes(users(NAMES), NODES);
    expect([...placement.keys()]).toEqual([...NAMES].sort());
    for (const seed of [2, 3, 4]) {
      expect([...placeIdes(users(shuffled(NAMES, seed)), shuffled(NODES, seed))]).toEqual([...placement]);
    }
  });

  it('never moves another user when users are added or removed', () => {
    const placement = placeIdes(users(NAMES), NODES);
    const added = usernames(20, 99).filter((name) => !NAMES.includes(name));
    for (const name of added) {
      const after = placeIdes(users([...NAMES, name]), NODES);
      expect(moved(placement, after)).toEqual([]);
    }
    const fewer = NAMES.filter((_, i) => i % 3 !== 0);
    const after = placeIdes(users(fewer), NODES);
    expect(moved(placement, after)).toEqual([]);
    expect(after.size).toBe(fewer.length);
  });

  it('moves users only onto an added node, about its share of them', () => {
    const placement = placeIdes(users(NAMES), NODES);
    const after = placeIdes(users(NAMES), [...NODES, { name: 'ide-4', ideCapacity: 30 }]);
    const movers = moved(placement, after);
    for (const name of movers) expect(after.get(name)).toBe('ide-4');
    expect([...after.values()].filter((node) => node === 'ide-4')).toHaveLength(movers.length);
    // Its weight is 30 of 120: about a quarter of the 200 users.
    expect(movers.length).toBeGreaterThan(35);
    expect(movers.length).toBeLessThan(65);
  });

  it("moves only a removed node's users, each onto another node", () => {
    const placement = placeIdes(users(NAMES), NODES);
    const after = placeIdes(users(NAMES), NODES.filter((node) => node.name !== 'ide-3'));
    const onRemoved = NAMES.filter((name) => placement.get(name) === 'ide-3');
    expect(onRemoved.length).toBeGreaterThan(0);
    expect(moved(placement, after).sort()).toEqual([...onRemoved].sort());
    for (const name of onRemoved) expect(['ide-1', 'ide-2']).toContain(after.get(name));
  });

  it("moves users only to or from a node whose capacity changes", () => {
    const placement = placeIdes(users(NAMES), NODES);
    const after = placeIdes(users(NAMES), NODES.map((node) => (node.name === 'ide-2' ? { ...node, ideCapacity: 60 } : node)));
    const movers = moved(placement, after);
    expect(movers.length).toBeGreaterThan(0);
    for (const name of movers) expect(after.get(name)).toBe('ide-2');
  });

  it("puts a pinned user on the pinned node, and moves no one else", () => {
    const placement = placeIdes(users(NAMES), NODES);
    const name = NAMES.find((n) => placement.get(n) !== 'ide-2')!;
    const after = placeIdes(NAMES.map((username) => (username === name ? { username, node: 'ide-2' } : { username })), NODES);
    expect(after.get(name)).toBe('ide-2');
    expect(moved(placement, after)).toEqual([name]);
  });

  it('spreads 1000 users in proportion to capacity (each node within 3 points of its share)', () => {
    const nodes: IdeNode[] = [
      { name: 'ide-a', ideCapacity: 10 },
      { name: 'ide-b', ideCapacity: 20 },
      { name: 'ide-c', ideCapacity: 30 },
      { name: 'ide-d', ideCapacity: 40 },
    ];
    for (const names of [usernames(1000, 7), Array.from({ length: 1000 }, (_, i) => `user-${String(i + 1).padStart(4, '0')}`)]) {
      const placement = placeIdes(users(names), nodes);
      for (const node of nodes) {
        const share = [...placement.values()].filter((n) => n === node.name).length / names.length;
        expect(Math.abs(share - node.ideCapacity / 100)).toBeLessThan(0.03);
      }
    }
  });

  it.each<[string, PlacedUser[], IdeNode[], RegExp]>([
    ['a user listed twice', users(['alice', 'alice']), NODES, /user alice is listed twice/],
    ['a node listed twice', users(['alice']), [...NODES, NODES[0]], /ide node ide-1 is listed twice/],
    ['a pin to a node that is not an ide node', [{ username: 'alice', node: 'gpu-1' }], NODES, /alice is pinned to gpu-1, which is not an ide node \(ide-1, ide-2, ide-3\)/],
    ['a capacity that is not positive', users(['alice']), [{ name: 'ide-1', ideCapacity: 0 }], /ide-1 has ideCapacity 0; it must be a positive number/],
    ['users without any node', users(['alice']), [], /no ide node to place user alice on/],
  ])('throws on misuse: %s', (_label, placed, nodes, message) => {
    expect(() => placeIdes(placed, nodes)).toThrow(message);
  });

  it('counts the IDEs of active and suspended users against capacity, not archived ones (who keep only a home)', () => {
    expect(STATES_WITH_IDE).toEqual(['active', 'suspended']);
    const states: UserState[] = ['active', 'suspended', 'archived'];
    const placed = NAMES.slice(0, 30).map((username, i) => ({ username, state: states[i % 3], ...(i === 0 ? { node: 'ide-2' } : {}) }));
    const placement = placeIdes(placed, NODES);
    expect(placement.size).toBe(30);
    const loads = nodeLoads(placed, NODES, placement);
    expect(loads.map((load) => load.node)).toEqual(['ide-1', 'ide-2', 'ide-3']);
    expect(loads.reduce((sum, load) => sum + load.ides, 0)).toBe(20);
    expect(loads.find((load) => load.node === 'ide-2')!.pinned).toBe(1);
  });
});

describe('ide node capacity, checked with the roster', () => {
  // As the swarm target can deploy it (loadInputs refuses the rest: swarmDeployableRules).
  const ESTATE = withoutBackup(withoutEgress(assetText('estate.yaml'))).replace('profile: production', 'profile: local');
  /** The sample estate (local profile) on a swarm whose ide nodes hold `capacities` IDEs. */
  const estate = (capacities: Record<string, number>) =>
    `${ESTATE}\ntarget: swarm\nswarm:\n  registry: { host: mirror.bank.internal, caFile: /etc/webide/registry-ca.pem }\n  nodes:\n    - { name: mgr-1, role: manager }\n` +
    Object.entries(capacities).map(([name, capacity]) => `    - name: ${name}\n      role: ide\n      ideCapacity: ${capacity}\n`).join('') +
    '    - { name: gpu-1, role: gpu, gpuIds: ["0", "1", "2", "3"] }\n';
  /** The state of the i-th generated user: every fifth archived, of the others every third suspended. */
  const stateOf = (i: number): UserState => (i % 5 === 4 ? 'archived' : i % 3 === 2 ? 'suspended' : 'active');
  /** A roster of `count` generated users in the states of `stateOf`, some pinned. */
  const roster = (count: number, pins: Record<string, string> = {}) => {
    const lines = usernames(count, 5).map((username, i) => {
      const state = stateOf(i);
      const pin = pins[username] ? `, node: ${pins[username]}` : '';
      return `  - { username: ${username}, email: ${username}@corp.example, name: U ${i}, state: ${state}${pin} }`;
    });
    return `users:\n${lines.join('\n')}\n`;
  };
  const errors = (estateText: string, rosterText: string): string[] => {
    try {
      loadInputs({ file: 'estate.yaml', text: estateText }, { file: 'roster.yaml', text: rosterText });
      return [];
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return error.issues.map(formatIssue);
    }
  };
  const capacityAt = (text: string, node: string) => {
    const lines = text.split('\n');
    const index = lines.findIndex((line, i) => line.includes('ideCapacity:') && lines[i - 2]?.includes(`name: ${node}`));
    return `estate.yaml:${index + 1}:7`;
  };
  /** The IDEs (active and suspended users) each node gets, as the check counts them. */
  const load = (count: number, capacities: Record<string, number>) => {
    const names = usernames(count, 5);
    const placed = names.map((username, i) => ({ username, state: stateOf(i) }));
    const nodes = Object.entries(capacities).map(([name, ideCapacity]) => ({ name, ideCapacity }));
    return new Map(nodeLoads(placed, nodes, placeIdes(placed, nodes)).map((l) => [l.node, l.ides]));
  };

  it('accepts nodes with room for every IDE placed on them; archived users count for nothing', () => {
    // Equal capacities give the same placement whatever their value (only the weights' ratio counts).
    const ides = load(100, { 'ide-1': 1, 'ide-2': 1 });
    const capacity = Math.max(ides.get('ide-1')!, ides.get('ide-2')!);
    const fullest = ides.get('ide-1')! === capacity ? 'ide-1' : 'ide-2';
    const names = usernames(100, 5);
    const placement = placeIdes(users(names), [{ name: 'ide-1', ideCapacity: 1 }, { name: 'ide-2', ideCapacity: 1 }]);
    // The fullest node holds more users than its capacity, but its archived users hold no IDE.
    expect(names.filter((name) => placement.get(name) === fullest).length).toBeGreaterThan(capacity);
    expect(errors(estate({ 'ide-1': capacity, 'ide-2': capacity }), roster(100))).toEqual([]);
    expect(errors(estate({ 'ide-1': capacity - 1, 'ide-2': capacity - 1 }), roster(100))).toContainEqual(expect.stringContaining(`swarm.nodes.${fullest}.ideCapacity: ${capacity} IDEs`));
  });

  /** The IDEs on each of three nodes of equal capacity (equal capacities place alike whatever their value), fewest first. */
  const EQUAL = { 'ide-1': 1, 'ide-2': 1, 'ide-3': 1 };
  const equalLoads = () => [...load(120, EQUAL)].sort((a, b) => a[1] - b[1]);

  it('reports every overfull node at once, at its ideCapacity, saying how to fix it', () => {
    const [[, fewest], ...fuller] = equalLoads();
    // The two fuller nodes are above the capacity of the least full one.
    for (const [, ides] of fuller) expect(ides).toBeGreaterThan(fewest);
    const capacities = { 'ide-1': fewest, 'ide-2': fewest, 'ide-3': fewest };
    const text = estate(capacities);
    expect(errors(text, roster(120))).toEqual(
      fuller
        .sort((a, b) => a[0].localeCompare(b[0]))
        .map(([node, ides]) => `${capacityAt(text, node)}: swarm.nodes.${node}.ideCapacity: ${ides} IDEs (active and suspended users) are placed on ${node}, above its ideCapacity of ${fewest}: no ide node has room for users pinned there with node: <name> in the roster, so add an ide node`),
    );
  });

  it('names the nodes with room, and how many of the IDEs are pinned to the full node; pinning users elsewhere clears it', () => {
    const loads = equalLoads();
    const [fullest, ides] = loads[2];
    const capacity = ides - 1;
    const capacities = { 'ide-1': capacity, 'ide-2': capacity, 'ide-3': capacity };
    const withRoom = loads.slice(0, 2).filter(([, n]) => n < capacity).sort((a, b) => a[0].localeCompare(b[0]));
    expect(withRoom.length).toBeGreaterThan(0);
    const room = withRoom.map(([node, n]) => `${node} has ${capacity - n} free`).join(', ');
    const names = usernames(120, 5);
    const placement = placeIdes(users(names), Object.entries(EQUAL).map(([name, ideCapacity]) => ({ name, ideCapacity })));
    const onFullest = names.filter((name, i) => stateOf(i) === 'active' && placement.get(name) === fullest);
    const text = estate(capacities);
    // One of the fullest node's users is pinned there (no move); the message counts it.
    expect(errors(text, roster(120, { [onFullest[0]]: fullest }))).toEqual([
      `${capacityAt(text, fullest)}: swarm.nodes.${fullest}.ideCapacity: ${ides} IDEs (active and suspended users, 1 of them pinned here) are placed on ${fullest}, above its ideCapacity of ${capacity}: ` +
        `pin users to an ide node with room (${room}) with node: <name> in the roster, or add an ide node`,
    ]);
    // Pinned to the least full node instead, the fullest is back at its capacity.
    expect(errors(text, roster(120, { [onFullest[0]]: loads[0][0] }))).toEqual([]);
  });

  it('is not checked for the docker target (which has no nodes)', () => {
    expect(errors(assetText('estate.yaml'), roster(500))).toEqual([]);
  });
});
