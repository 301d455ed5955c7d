import { z } from 'zod';
import { EstateConfig, RESERVED_NAMES, WorkspaceResources } from './estate';
import { cpuCount, formatMiB, sizeMiB } from './units';
import { asList, asRecord, RuleIssue } from './raw';
import { runsIdes, swarmNodeName } from './swarm';

/** A username is a DNS label: it names a container, a network, a volume and a URL path. */
export const USERNAME_PATTERN = /^[a-z][a-z0-9-]*[a-z0-9]$/;

const username = z
  .string()
  .min(2, 'must be 2-32 characters')
  .max(32, 'must be 2-32 characters')
  .regex(USERNAME_PATTERN, 'must be a lowercase DNS label: a-z first, then a-z, 0-9 or -, not ending in -');

const groupName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and -, starting with a letter');

export const USER_STATES = ['active', 'suspended', 'archived'] as const;
export type UserState = (typeof USER_STATES)[number];

const userShape = z.strictObject({
  username: username.describe('Login name; also names the IDE container, network and home volume. Lowercase DNS label, 2-32 chars.'),
  email: z.email('must be an email address').describe('Unique (case-insensitively) across the roster.'),
  /** Display name; split on the last space into Keycloak's first and last name. */
  name: z.string().min(1).max(100).describe('Display name, e.g. "Alice Kim".'),
  groups: z.array(groupName).default([]).describe('Groups (declared under groups) the user belongs to in Keycloak.'),
  /** active: IDE and login; suspended: IDE kept, login disabled; archived: IDE removed, login disabled, home kept. */
  state: z
    .enum(USER_STATES)
    .default('active')
    .describe('active: IDE and login. suspended: login disabled, IDE kept. archived: login disabled, IDE removed, home volume kept.'),
  resources: z
    .strictObject({
      cpus: cpuCount.optional().describe('CPU cores (at most the estate cap).'),
      memory: sizeMiB.optional().describe('Memory such as 4g (at most the estate cap).'),
      disk: sizeMiB.optional().describe('Home quota such as 20g (recorded on the volume; at most the estate cap).'),
    })
    .optional()
    .describe('Overrides of the estate defaults for this user.'),
  /**
   * Only with the estate's `target: swarm`: the ide node the user's IDE (and home) is pinned to,
   * instead of the one placement chooses (config/placement.ts). @default - placed by hashing
   */
  node: swarmNodeName
    .optional()
    .describe('Swarm target only: the ide node this IDE and its home are pinned to. Default: placed by hashing the username.'),
});

/** The roster's shape alone, independent of any estate (the source of roster.schema.json). */
export const rosterShape = z.strictObject({
  groups: z.array(z.strictObject({ name: groupName, description: z.string().max(255).optional() })).default([]),
  users: z.array(userShape).default([]),
  /** Users whose home volume was deleted on purpose; lets them leave the roster without tripping the volume guard. */
  retired: z
    .array(z.strictObject({ username, reason: z.string().min(10, 'must say why (ticket, approval), at least 10 characters') }))
    .default([]),
});

export interface RosterGroup {
  readonly name: string;
  readonly description?: string;
}

export interface RosterUser {
  readonly username: string;
  readonly email: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly groups: readonly string[];
  readonly state: UserState;
  /** Resolved from the user's own values over the estate defaults. */
  readonly resources: WorkspaceResources;
  /** The swarm ide node the user is pinned to (`target: swarm` only). @default - placed by `placeIdes` */
  readonly node?: string;
}

/** The validated roster: groups and users sorted by name, so output never depends on file order. */
export interface Roster {
  readonly groups: readonly RosterGroup[];
  readonly users: readonly RosterUser[];
  /** Usernames whose homes were deleted on purpose, sorted. */
  readonly retired: readonly string[];
}


/**
 * The rules that look across entries or need the estate's caps. They read the raw
 * document and skip anything malformed, so they report alongside the shape errors
 * instead of waiting for those to be fixed first.
 */
export function rosterRules(raw: unknown, estate: EstateConfig): RuleIssue[] {
  const issues: RuleIssue[] = [];
  const doc = asRecord(raw);
  const reserved = new Set<string>(RESERVED_NAMES);

  const declaredGroups = new Map<string, number>();
  asList(doc.groups).forEach((group, index) => {
    const name = asRecord(group).name;
    if (typeof name !== 'string') return;
    if (declaredGroups.has(name)) {
      const first = ['groups', declaredGroups.get(name)!, 'name'];
      issues.push({ path: ['groups', index, 'name'], message: (lineOf) => `group '${name}' is already declared on line ${lineOf(first)}` });
    } else {
      declaredGroups.set(name, index);
    }
  });

  const usernames = new Map<string, number>();
  const emails = new Map<string, number>();
  asList(doc.users).forEach((entry, index) => {
    const user = asRecord(entry);
    if (typeof user.username === 'string') {
      const name = user.username.toLowerCase();
      if (usernames.has(name)) {
        const first = ['users', usernames.get(name)!, 'username'];
        issues.push({ path: ['users', index, 'username'], message: (lineOf) => `username '${user.username}' is already used on line ${lineOf(first)}` });
      } else {
        usernames.set(name, index);
      }
      if (reserved.has(name)) {
        issues.push({ path: ['users', index, 'username'], message: `'${user.username}' is reserved for the estate's own services (${RESERVED_NAMES.join(', ')})` });
      }
    }
    if (typeof user.email === 'string') {
      const email = user.email.toLowerCase();
      if (emails.has(email)) {
        const first = ['users', emails.get(email)!, 'email'];
        issues.push({ path: ['users', index, 'email'], message: (lineOf) => `email '${user.email}' is already used on line ${lineOf(first)}` });
      } else {
        emails.set(email, index);
      }
    }
    asList(user.groups).forEach((group, groupIndex) => {
      if (typeof group === 'string' && !declaredGroups.has(group)) {
        const declared = declaredGroups.size > 0 ? `declared: ${[...declaredGroups.keys()].join(', ')}` : 'none is declared';
        issues.push({ path: ['users', index, 'groups', groupIndex], message: `group '${group}' is not declared under groups (${declared})` });
      }
    });
    if (typeof user.node === 'string' && swarmNodeName.safeParse(user.node).success) issues.push(...pinRules(user.node, ['users', index, 'node'], estate));
    const resources = asRecord(user.resources);
    for (const key of ['cpus', 'memory', 'disk'] as const) {
      // Absent means the estate default; parsing it would only build a ZodError to discard.
      if (resources[key] === undefined) continue;
      const parsed = (key === 'cpus' ? cpuCount : sizeMiB).safeParse(resources[key]);
      const cap = estate.workspaces.max[key];
      if (parsed.success && parsed.data > cap) {
        const shown = key === 'cpus' ? (n: number) => String(n) : formatMiB;
        issues.push({
          path: ['users', index, 'resources', key],
          message: `${shown(parsed.data)} is above the estate's cap of ${shown(cap)} (workspaces.max.${key})`,
        });
      }
    }
  });

  asList(doc.retired).forEach((entry, index) => {
    const name = asRecord(entry).username;
    if (typeof name === 'string' && usernames.has(name.toLowerCase())) {
      const listed = ['users', usernames.get(name.toLowerCase())!, 'username'];
      issues.push({
        path: ['retired', index, 'username'],
        message: (lineOf) => `'${name}' is retired but still listed under users (line ${lineOf(listed)}); keep one of the two`,
      });
    }
  });
  return issues;
}

/** A user's `node`: only with the swarm target, and naming one of its nodes that run IDEs. */
function pinRules(node: string, path: (string | number)[], estate: EstateConfig): RuleIssue[] {
  if (estate.target !== 'swarm' || estate.swarm === undefined) {
    return [{ path, message: `only the swarm target places IDEs on nodes (this estate's target is ${estate.target}): remove node` }];
  }
  const ideNodes = estate.swarm.nodes.filter(runsIdes).map((n) => n.name);
  const named = estate.swarm.nodes.find((n) => n.name === node);
  if (named && runsIdes(named)) return [];
  const what = named ? `'${node}' is a ${named.role} node${named.role === 'manager' ? ' without an ideCapacity' : ''}` : `no swarm node is named '${node}'`;
  return [{ path, message: `${what}: pin the user to an ide node (${ideNodes.join(', ')})` }];
}

/** The roster schema for one estate: the shape, normalised (sorted, defaults resolved). */
export function rosterSchema(estate: EstateConfig) {
  return rosterShape.transform((roster): Roster => ({
    groups: [...roster.groups].sort((a, b) => a.name.localeCompare(b.name)),
    users: roster.users
      .map((user) => ({
        username: user.username,
        email: user.email,
        ...splitName(user.name),
        groups: [...new Set(user.groups)].sort(),
        state: user.state,
        resources: { ...estate.workspaces.defaults, ...definedOnly(user.resources ?? {}) },
        // Absent rather than undefined when not pinned: a roster without pins reads as before.
        ...(user.node === undefined ? {} : { node: user.node }),
      }))
      .sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0)),
    retired: roster.retired.map((entry) => entry.username).sort(),
  }));
}



function splitName(name: string): { firstName: string; lastName: string } {
  const trimmed = name.trim();
  const cut = trimmed.lastIndexOf(' ');
  return cut < 0 ? { firstName: trimmed, lastName: '' } : { firstName: trimmed.slice(0, cut), lastName: trimmed.slice(cut + 1) };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
