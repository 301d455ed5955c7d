import { Construct } from 'constructs';
import { Group } from '../.gen/providers/keycloak/group';
import { GroupMemberships } from '../.gen/providers/keycloak/group-memberships';
import { Realm } from '../.gen/providers/keycloak/realm';
import { User } from '../.gen/providers/keycloak/user';
import { UserGroups } from '../.gen/providers/keycloak/user-groups';
import { Roster } from '../config/roster';
import { DirectoryFederation } from './directory-federation';

export interface RosterIdentitiesProps {
  readonly realm: Realm;
  readonly roster: Roster;
  /**
   * The bank's directory, when users sign in with its passwords: then the directory owns the
   * accounts and only group memberships are declared here.
   */
  readonly directory?: DirectoryFederation;
}

/**
 * Roster groups as Keycloak groups and roster users in their groups. Without a directory,
 * roster users are Keycloak users: only active ones may sign in; suspended and archived users
 * stay (for the audit trail) but are disabled. With a directory, the accounts are the
 * directory's (the federation's filter admits the active roster users only) and the groups
 * list their active members by username. Ids are group names and usernames, never positions.
 */
export class RosterIdentities extends Construct {
  public readonly users: ReadonlyMap<string, User>;
  public readonly groups: ReadonlyMap<string, Group>;

  constructor(scope: Construct, id: string, props: RosterIdentitiesProps) {
    super(scope, id);
    const realmId = props.realm.id;

    const groupScope = new Construct(this, 'groups');
    const groups = new Map<string, Group>();
    for (const group of props.roster.groups) {
      groups.set(group.name, new Group(groupScope, group.name, { realmId, name: group.name }));
    }
    this.groups = groups;
    this.users = props.directory ? new Map() : this.keycloakUsers(realmId, props.roster, groups);

    if (props.directory) {
      const active = props.roster.users.filter((user) => user.state === 'active');
      const membershipScope = new Construct(this, 'memberships');
      // Naming a user imports them from the directory; the filter must admit them first. One group
      // after another: two imports of the same new user at once make one of them miss the user.
      let previous: GroupMemberships | undefined;
      for (const [name, group] of groups) {
        previous = new GroupMemberships(membershipScope, name, {
          realmId,
          groupId: group.id,
          members: active.filter((user) => user.groups.includes(name)).map((user) => user.username),
          dependsOn: [previous ?? props.directory.federation],
        });
      }
    }
  }

  private keycloakUsers(realmId: string, roster: Roster, groups: ReadonlyMap<string, Group>): Map<string, User> {
    const userScope = new Construct(this, 'users');
    const users = new Map<string, User>();
    for (const member of roster.users) {
      const user = new Construct(userScope, member.username);
      const account = new User(user, 'account', {
        realmId,
        username: member.username,
        email: member.email,
        emailVerified: true,
        firstName: member.firstName,
        lastName: member.lastName,
        enabled: member.state === 'active',
        // Everyone enrols a TOTP device at first sign-in. Keycloak removes the action once
        // done, so later reads are not drift.
        requiredActions: ['CONFIGURE_TOTP'],
        lifecycle: { ignoreChanges: ['required_actions'] },
      });
      users.set(member.username, account);

      if (member.groups.length > 0) {
        new UserGroups(user, 'groups', {
          realmId,
          userId: account.id,
          groupIds: member.groups.map((name) => groups.get(name)!.id),
          exhaustive: true,
        });
      }
    }
    return users;
  }
}
