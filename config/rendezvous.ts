import { createHash } from 'crypto';

/**
 * Weighted rendezvous (highest-random-weight) hashing: the one hash by which the estate puts a
 * user somewhere, used for the swarm's ide nodes (config/placement.ts, `placeIdes`) and for the
 * workspace shards (config/shards.ts). Changing it would move every user, so it is fixed.
 */

/** One place a key can go, with its weight (equal weights: an equal share). */
export interface RendezvousBucket {
  readonly name: string;
  readonly weight: number;
}

/**
 * The score of `bucket` for `key` by the logarithmic method: `-weight / ln(h)`, where `h` in
 * (0, 1) comes from the sha256 of `<bucket>\0<key>`. It depends on that pair and the weight alone,
 * never on the other buckets or keys, which is what keeps assignments stable; a key goes to the
 * bucket with the highest score, and over many keys each bucket gets a share proportional to its
 * weight.
 */
export function rendezvousScore(bucket: string, key: string, weight: number): number {
  const digest = createHash('sha256').update(`${bucket}\u0000${key}`).digest();
  // The first 48 bits as (x + 1/2) / 2^48: strictly inside (0, 1), so ln(h) is finite and negative.
  const h = (digest.readUIntBE(0, 6) + 0.5) / 2 ** 48;
  return -weight / Math.log(h);
}

/**
 * The bucket `key` goes to: the highest `rendezvousScore`; equal scores (practically never seen)
 * go to the name first in sort order, so the result never depends on the order of `buckets`.
 * Adding a bucket moves keys only onto it; removing one moves only its keys. Undefined when
 * there is no bucket. The caller checks names and weights (each name once, weights positive).
 */
export function rendezvousPick(key: string, buckets: readonly RendezvousBucket[]): string | undefined {
  let best: { name: string; score: number } | undefined;
  for (const bucket of buckets) {
    const score = rendezvousScore(bucket.name, key, bucket.weight);
    if (best === undefined || score > best.score || (score === best.score && bucket.name < best.name)) best = { name: bucket.name, score };
  }
  return best?.name;
}
