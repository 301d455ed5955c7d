import { rendezvousPick } from './rendezvous';

/** Most workspace shards an estate may have (`workspaces.shards`). */
export const MAX_WORKSPACE_SHARDS = 256;

/**
 * The names of `count` workspace shards: `ws-01` … `ws-NN` (two digits, three from 100 on). A
 * shard's name never depends on the count, so raising it only adds names.
 */
export function workspaceShardNames(count: number): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_WORKSPACE_SHARDS) {
    throw new Error(`workspaceShardNames: ${count} shards; it must be a whole number from 1 to ${MAX_WORKSPACE_SHARDS}`);
  }
  return Array.from({ length: count }, (_, i) => `ws-${String(i + 1).padStart(2, '0')}`);
}

/**
 * The shard of every username, by the estate's rendezvous hash (config/rendezvous.ts, the one
 * `placeIdes` uses) over `count` equally weighted shards. Pure and stable:
 * - adding, removing or reordering users never moves another user;
 * - raising the count moves users only into the new shards (about 1/count of them each);
 * - the result never depends on the order of `usernames` (the map is in username order).
 *
 * Throws on a username listed twice and on a count outside 1..MAX_WORKSPACE_SHARDS.
 */
export function assignWorkspaceShards(usernames: readonly string[], count: number): Map<string, string> {
  const buckets = workspaceShardNames(count).map((name) => ({ name, weight: 1 }));
  const shards = new Map<string, string>();
  for (const username of [...usernames].sort()) {
    if (shards.has(username)) throw new Error(`assignWorkspaceShards: user ${username} is listed twice`);
    shards.set(username, rendezvousPick(username, buckets)!);
  }
  return shards;
}
