import { Construct } from 'constructs';
import { LdapUserFederation } from '../.gen/providers/keycloak/ldap-user-federation';
import { Realm } from '../.gen/providers/keycloak/realm';
import { DirectorySettings } from '../config/estate';

export interface DirectoryFederationProps {
  readonly realm: Realm;
  readonly settings: DirectorySettings;
  /** The bind password (a sensitive variable's value). */
  readonly bindCredential: string;
  /** Who may sign in: the roster's active users. Everyone else in the directory is invisible. */
  readonly allowedUsernames: readonly string[];
}

/**
 * The LDAP filter that lets Keycloak see exactly these directory users. Usernames are DNS
 * labels (config/roster.ts), so none needs LDAP escaping. With nobody allowed it matches nothing.
 */
export function rosterFilter(usernameAttribute: string, usernames: readonly string[]): string {
  if (usernames.length === 0) return '(!(objectClass=*))';
  const terms = [...usernames].sort().map((name) => `(${usernameAttribute}=${name})`);
  return terms.length === 1 ? terms[0] : `(|${terms.join('')})`;
}

/**
 * The bank's directory as Keycloak's password source: read-only (Keycloak never writes to
 * it), users imported on first sign-in so their TOTP credential can be kept, and a search
 * filter made from the roster. A directory user outside the roster, or suspended in it, is not
 * found, so they cannot sign in; one whose entry leaves the filter is removed from Keycloak the
 * next time it is loaded (a refresh, a sign-in), so a session cannot outlive the roster edit.
 */
export class DirectoryFederation extends Construct {
  public readonly federation: LdapUserFederation;

  constructor(scope: Construct, id: string, props: DirectoryFederationProps) {
    super(scope, id);
    const { settings } = props;
    this.federation = new LdapUserFederation(this, 'ldap', {
      realmId: props.realm.id,
      name: 'directory',
      enabled: true,
      vendor: settings.vendor === 'ad' ? 'AD' : 'OTHER',
      connectionUrl: settings.url,
      startTls: settings.startTls,
      useTruststoreSpi: 'ALWAYS',
      bindDn: settings.bindDn,
      bindCredential: props.bindCredential,
      usersDn: settings.usersDn,
      searchScope: 'SUBTREE',
      usernameLdapAttribute: settings.usernameAttribute,
      rdnLdapAttribute: settings.usernameAttribute,
      uuidLdapAttribute: settings.uuidAttribute,
      userObjectClasses: [...settings.userObjectClasses],
      customUserSearchFilter: rosterFilter(settings.usernameAttribute, props.allowedUsernames),
      editMode: 'READ_ONLY',
      importEnabled: true,
      syncRegistrations: false,
      // Passwords are the directory's; the realm's password policy does not apply to them.
      validatePasswordPolicy: false,
      trustEmail: true,
      pagination: true,
      connectionTimeout: '10s',
      readTimeout: '10s',
      // No periodic sync: users are imported when they sign in or Terraform names them.
      fullSyncPeriod: -1,
      changedSyncPeriod: -1,
      // Every load of a user asks the directory again: a cached copy would outlive the roster edit.
      cache: { policy: 'NO_CACHE' },
    });
  }
}
