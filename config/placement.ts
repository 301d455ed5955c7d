import { RuleIssue } from './raw';
import { rendezvousPick } from './rendezvous';
import { RosterUser, UserState } from './roster';
import { IdeNode, ideNodesOf, SwarmConfig } from './swarm';

/**
 * The states whose users hold an IDE container, and so count against a node's `ideCapacity`:
 * `active`, and `suspended` (the IDE keeps running, cut off). An `archived` user has no
 * container but keeps a home, so is still placed (the home stays where the user is placed).
 */
export const STATES_WITH_IDE: readonly UserState[] = ['active', 'suspended'];

/** A user as placement sees them. */
export interface PlacedUser {
  readonly username: string;
  /** The ide node the user is pinned to (the roster's `node`). @default - chosen by score */
  readonly node?: string;
}

/**
 * The ide node of every user: the one pinned in the roster, else the node the estate's rendezvous
 * hash picks (config/rendezvous.ts, `rendezvousPick`), weighted by `ideCapacity` (equal scores,
 * practically never seen, go to the name first in sort order). Pure and stable:
 * - adding, removing or reordering users never moves another user;
 * - adding a node moves users onto the new node only; removing one moves only that node's users;
 * - the result never depends on the order of either list (the map is in username order).
 *
 * Capacity is a weight, not a limit: a limit would make one user's placement depend on the others
 * (and a new user could push an existing one off a full node). `placementRules` reports a node
 * that holds more IDEs than fit, for the engineer to pin users or add a node.
 *
 * Throws on misuse: duplicate usernames or node names, a pin to a node not in `ideNodes`, a weight
 * that is not a positive number, users without any node.
 */
export function placeIdes(users: readonly PlacedUser[], ideNodes: readonly IdeNode[]): Map<string, string> {
  const names = new Set<string>();
  for (const node of ideNodes) {
    if (names.has(node.name)) throw new Error(`placeIdes: ide node ${node.name} is listed twice`);
    if (!(node.ideCapacity > 0) || !Number.isFinite(node.ideCapacity)) throw new Error(`placeIdes: ide node ${node.name} has ideCapacity ${node.ideCapacity}; it must be a positive number`);
    names.add(node.name);
  }
  const buckets = ideNodes.map((node) => ({ name: node.name, weight: node.ideCapacity }));
  const placement = new Map<string, string>();
  for (const user of [...users].sort((a, b) => compare(a.username, b.username))) {
    if (placement.has(user.username)) throw new Error(`placeIdes: user ${user.username} is listed twice`);
    if (user.node !== undefined) {
      if (!names.has(user.node)) throw new Error(`placeIdes: user ${user.username} is pinned to ${user.node}, which is not an ide node (${[...names].join(', ')})`);
      placement.set(user.username, user.node);
      continue;
    }
    const node = rendezvousPick(user.username, buckets);
    if (node === undefined) throw new Error(`placeIdes: no ide node to place user ${user.username} on`);
    placement.set(user.username, node);
  }
  return placement;
}

/** How full an ide node is. */
export interface NodeLoad {
  readonly node: string;
  readonly ideCapacity: number;
  /** IDEs placed on it: users in STATES_WITH_IDE. */
  readonly ides: number;
  /** Of those, the ones pinned to it in the roster. */
  readonly pinned: number;
}

/** The IDEs each ide node holds under `placement`, in the order of `ideNodes`. */
export function nodeLoads(users: readonly (PlacedUser & { readonly state: UserState })[], ideNodes: readonly IdeNode[], placement: ReadonlyMap<string, string>): NodeLoad[] {
  return ideNodes.map((node) => {
    const here = users.filter((user) => STATES_WITH_IDE.includes(user.state) && placement.get(user.username) === node.name);
    return { node: node.name, ideCapacity: node.ideCapacity, ides: here.length, pinned: here.filter((user) => user.node === node.name).length };
  });
}

/**
 * Every ide node that holds more IDEs than its `ideCapacity`, all at once, each at the node's
 * `ideCapacity` in the estate file (paths start at `swarm`). For validated inputs: the swarm
 * section and a roster whose pins name its ide nodes.
 */
export function placementRules(swarm: SwarmConfig, users: readonly RosterUser[]): RuleIssue[] {
  const ideNodes = ideNodesOf(swarm);
  const loads = nodeLoads(users, ideNodes, placeIdes(users, ideNodes));
  const room = loads.filter((load) => load.ides < load.ideCapacity).map((load) => `${load.node} has ${load.ideCapacity - load.ides} free`);
  const fix =
    room.length > 0
      ? `pin users to an ide node with room (${room.join(', ')}) with node: <name> in the roster, or add an ide node`
      : 'no ide node has room for users pinned there with node: <name> in the roster, so add an ide node';
  return loads
    .filter((load) => load.ides > load.ideCapacity)
    .map((load) => ({
      path: ['swarm', 'nodes', swarm.nodes.findIndex((node) => node.name === load.node), 'ideCapacity'],
      message: `${load.ides} IDEs (active and suspended users${load.pinned > 0 ? `, ${load.pinned} of them pinned here` : ''}) are placed on ${load.node}, above its ideCapacity of ${load.ideCapacity}: ${fix}`,
    }));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
