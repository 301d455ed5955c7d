import { generatedRosterYaml } from '../__tests__/helpers/inputs';

export interface RosterVariant {
  readonly case: string;
  /** The user the change is about (none for a reorder). */
  readonly user?: string;
  readonly text: string;
}

const userName = (i: number) => `user-${String(i).padStart(4, '0')}`;

/** The three roster edits of the diff-minimality figure, each against generatedRosterYaml(n). */
export function rosterVariants(n: number): RosterVariant[] {
  const lines = generatedRosterYaml(n).split('\n');
  const header = lines.slice(0, 3);
  const users = lines.slice(3).filter(Boolean);
  const archivedAt = Math.ceil(n / 2);
  // A fixed-seed shuffle (Park-Miller): the same "random" order on every run.
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const shuffled = users.map((line) => ({ line, key: random() })).sort((x, y) => x.key - y.key).map((x) => x.line);
  return [
    { case: `add one user (${n} → ${n + 1})`, user: userName(n + 1), text: generatedRosterYaml(n + 1) },
    { case: `archive one user (of ${n})`, user: userName(archivedAt), text: [...header, ...users.map((l, i) => (i + 1 === archivedAt ? l.replace(/ }$/, ', state: archived }') : l)), ''].join('\n') },
    { case: `reorder all ${n} users`, text: [...header, ...shuffled, ''].join('\n') },
  ];
}
