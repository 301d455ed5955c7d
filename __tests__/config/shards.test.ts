import * as fs from 'fs';
import * as path from 'path';
import { placeIdes } from '../../config/placement';
import { rendezvousPick, rendezvousScore } from '../../config/rendezvous';
import { assignWorkspaceShards, MAX_WORKSPACE_SHARDS, workspaceShardNames } from '../../config/shards';
import { ROOT } from '../helpers/run';
import { shuffled, usernames } from '../helpers/names';

/** A few hundred generated usernames, as a roster allows them. */
const NAMES = usernames(300, 11);

/** The users whose shard differs between two assignments (users in both). */
function moved(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string[] {
  return [...before.keys()].filter((name) => after.has(name) && after.get(name) !== before.get(name));
}

describe('workspace shards: names and the assignment of users', () => {
  it('names shards ws-01 … ws-NN, the same names whatever the count (three digits from 100)', () => {
    expect(workspaceShardNames(1)).toEqual(['ws-01']);
    expect(workspaceShardNames(3)).toEqual(['ws-01', 'ws-02', 'ws-03']);
    const all = workspaceShardNames(MAX_WORKSPACE_SHARDS);
    expect(all.slice(98, 101)).toEqual(['ws-99', 'ws-100', 'ws-101']);
    expect(all[all.length - 1]).toBe('ws-256');
    expect(workspaceShardNames(40)).toEqual(all.slice(0, 40));
    for (const bad of [0, 257, 2.5]) expect(() => workspaceShardNames(bad)).toThrow(`workspaceShardNames: ${bad} shards; it must be a whole number from 1 to 256`);
  });

  it('is fixed by the hash of shard and username: the same shards in every release (changing it would move every IDE)', () => {
    // Checked against a Python implementation (hashlib.sha256 of "<shard>\0<username>", first 48 bits).
    expect([...assignWorkspaceShards(['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'], 4)]).toEqual([
      ['alice', 'ws-04'],
      ['bob', 'ws-02'],
      ['carol', 'ws-01'],
      ['dave', 'ws-02'],
      ['erin', 'ws-03'],
      ['frank', 'ws-03'],
      ['grace', 'ws-04'],
      ['heidi', 'ws-03'],
    ]);
    expect(new Set(assignWorkspaceShards(NAMES, 1).values())).toEqual(new Set(['ws-01']));
  });

  it('uses the one rendezvous hash of the estate: the same as placeIdes over equally weighted nodes named like the shards', () => {
    for (const count of [2, 5, 16]) {
      const shards = assignWorkspaceShards(NAMES, count);
      // Any equal weight: only the ratio of the weights counts.
      const nodes = workspaceShardNames(count).map((name) => ({ name, ideCapacity: 7 }));
      expect([...placeIdes(NAMES.map((username) => ({ username })), nodes)]).toEqual([...shards]);
      for (const name of NAMES.slice(0, 20)) {
        const buckets = workspaceShardNames(count).map((shard) => ({ name: shard, weight: 1 }));
        expect(shards.get(name)).toBe(rendezvousPick(name, buckets));
        const best = Math.max(...buckets.map((b) => rendezvousScore(b.name, name, 1)));
        expect(rendezvousScore(shards.get(name)!, name, 1)).toBe(best);
      }
    }
    // And no second hash: only config/rendezvous.ts hashes (placement and shards call it).
    for (const file of ['placement.ts', 'shards.ts']) expect(fs.readFileSync(path.join(ROOT, 'config', file), 'utf8')).not.toMatch(/createHash|crypto/);
  });

  it('does not depend on the order of the users (property: shuffles of 300 names; the map is in username order)', () => {
    const shards = assignWorkspaceShards(NAMES, 7);
    expect([...shards.keys()]).toEqual([...NAMES].sort());
    for (const seed of [2, 3, 4, 5, 6]) expect([...assignWorkspaceShards(shuffled(NAMES, seed), 7)]).toEqual([...shards]);
  });

  it('never moves another user when users are added or removed (property: 30 added one by one, every third removed)', () => {
    const shards = assignWorkspaceShards(NAMES, 7);
    for (const name of usernames(30, 99).filter((n) => !NAMES.includes(n))) {
      const after = assignWorkspaceShards([...NAMES, name], 7);
      expect(moved(shards, after)).toEqual([]);
      expect(after.size).toBe(NAMES.length + 1);
    }
    const fewer = NAMES.filter((_, i) => i % 3 !== 0);
    expect(moved(shards, assignWorkspaceShards(fewer, 7))).toEqual([]);
  });

  it('moves users only into the new shards when the count is raised, about their share', () => {
    for (const [from, to] of [
      [1, 2],
      [3, 4],
      [4, 8],
      [7, 16],
    ]) {
      const before = assignWorkspaceShards(NAMES, from);
      const after = assignWorkspaceShards(NAMES, to);
      const added = workspaceShardNames(to).slice(from);
      const movers = moved(before, after);
      for (const name of movers) expect(added).toContain(after.get(name));
      // Every user in a new shard came from an old one: the movers are exactly the new shards' users.
      expect(movers.length).toBe([...after.values()].filter((shard) => added.includes(shard)).length);
      const share = (to - from) / to;
      expect(Math.abs(movers.length / NAMES.length - share)).toBeLessThan(0.1);
    }
  });

  it('spreads users evenly: every one of 8 shards within 4 points of an eighth of 1000 users', () => {
    const names = [...usernames(700, 5), ...Array.from({ length: 300 }, (_, i) => `user-${String(i + 1).padStart(4, '0')}`)];
    const shards = assignWorkspaceShards(names, 8);
    for (const shard of workspaceShardNames(8)) {
      const share = [...shards.values()].filter((s) => s === shard).length / names.length;
      expect(Math.abs(share - 1 / 8)).toBeLessThan(0.04);
    }
  });

  it('throws on a user listed twice', () => {
    expect(() => assignWorkspaceShards(['alice', 'bob', 'alice'], 3)).toThrow('assignWorkspaceShards: user alice is listed twice');
  });
});
