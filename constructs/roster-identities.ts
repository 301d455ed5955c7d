import { Construct } from 'constructs';
import { Group } from '../.gen/providers/keycloak/group';
import { Realm } from '../.gen/providers/keycloak/realm';
import { User } from '../.gen/providers/keycloak/user';
import { UserGroups } from '../.gen/providers/keycloak/user-groups';
import { Roster } from '../config/roster';

export interface RosterIdentitiesProps {
  readonly realm: Realm;
  readonly roster: Roster;
}

/**
 * Roster groups as Keycloak groups, roster users as Keycloak users in their groups.
 * Only active users may sign in; suspended and archived users stay (for the audit
 * trail) but are disabled. Ids are group names and usernames, never positions.
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

    const userScope = new Construct(this, 'users');
    const users = new Map<string, User>();
    for (const member of props.roster.users) {
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
    this.users = users;
    this.groups = groups;
  }
}
