import { Construct } from 'constructs';
import { LocalBackend, TerraformOutput, TerraformStack } from 'cdktf';
import { KeycloakProvider } from '../.gen/providers/keycloak/provider';
import { publicOrigin } from '../render/nginx';
import { IdeOidcClient } from '../constructs/ide-oidc-client';
import { RosterIdentities } from '../constructs/roster-identities';
import { SecureRealm } from '../constructs/secure-realm';
import { EstateStackProps, secretVariable } from './common';
import { KEYCLOAK_ADMIN_USER } from './platform-stack';

/**
 * Who may sign in, and how: the realm, its security controls, the OIDC client for
 * oauth2-proxy, and the roster's groups and users. Needs a running Keycloak only at
 * plan/apply time, never at synth.
 */
export class IdentityStack extends TerraformStack {
  public readonly oidcClientId: string;
  public readonly oidcClientSecret: string;

  constructor(scope: Construct, id: string, props: EstateStackProps) {
    super(scope, id);
    new LocalBackend(this, { path: props.stateFile });
    const { estate } = props;

    const adminPassword = secretVariable(this, 'keycloak_admin_password', 'Password of the Keycloak bootstrap admin Terraform signs in as.', 12);
    new KeycloakProvider(this, 'keycloak', {
      url: estate.keycloak.providerUrl,
      realm: 'master',
      clientId: 'admin-cli',
      username: KEYCLOAK_ADMIN_USER,
      password: adminPassword.stringValue,
      // Keycloak may be created in the same deploy; sign in only when a call needs it.
      initialLogin: false,
      clientTimeout: 30,
    });

    const { realm } = new SecureRealm(this, 'realm', { settings: estate.keycloak });
    const clientId = `${estate.name}-ide`;
    const { client } = new IdeOidcClient(this, 'ide-client', {
      realm,
      clientId,
      origin: publicOrigin(estate.domain, estate.httpsPort),
    });
    new RosterIdentities(this, 'roster', { realm, roster: props.roster });

    // The id is known at synth; only the secret needs to cross stacks (as a sensitive value).
    this.oidcClientId = clientId;
    this.oidcClientSecret = client.clientSecret;

    new TerraformOutput(this, 'realm_name', { value: realm.realm }).overrideLogicalId('realm_name');
    new TerraformOutput(this, 'oidc_client_id', { value: client.clientId }).overrideLogicalId('oidc_client_id');
  }
}
