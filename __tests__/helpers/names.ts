/** A deterministic pseudo-random generator (mulberry32): the same "random" usernames on every run. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** `count` distinct usernames as a roster allows them (lowercase DNS labels of 2-12 characters). */
export function usernames(count: number, seed = 1): string[] {
  const next = random(seed);
  const pick = (chars: string) => chars[Math.floor(next() * chars.length)];
  const names = new Set<string>();
  while (names.size < count) {
    const length = 2 + Math.floor(next() * 11);
    let name = pick('abcdefghijklmnopqrstuvwxyz');
    for (let i = 1; i < length - 1; i++) name += pick('abcdefghijklmnopqrstuvwxyz0123456789-');
    names.add(name + pick('abcdefghijklmnopqrstuvwxyz0123456789'));
  }
  return [...names];
}

/** The list in a deterministic shuffled order. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const next = random(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
