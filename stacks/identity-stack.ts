import { Construct } from 'constructs';
import { TerraformOutput, TerraformStack } from 'cdktf';
import { KeycloakProvider } from '../.gen/providers/keycloak/provider';
import { publicOrigin } from '../render/nginx';
import { IdeOidcClient } from '../constructs/ide-oidc-client';
import { RosterIdentities } from '../constructs/roster-identities';
import { SecureRealm } from '../constructs/secure-realm';
import { DirectoryFederation } from '../constructs/directory-federation';
import { MfaBrowserFlow } from '../constructs/mfa-browser-flow';
import { EstateStackProps, estateNames, secretVariable, useLocalState } from './common';

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
    useLocalState(this, props.stateFile);
    const { estate } = props;

    // A service-account client of the master realm, made by `npm run keycloak:bootstrap`: admin
    // events name it, and it holds only create-realm plus the management of the realm it made.
    const clientSecret = secretVariable(this, 'keycloak_terraform_client_secret', 'Secret of the Keycloak client Terraform signs in as (set by `npm run keycloak:bootstrap`).', 32);
    new KeycloakProvider(this, 'keycloak', {
      url: estate.keycloak.providerUrl,
      realm: 'master',
      clientId: estateNames(estate).terraformClient(),
      clientSecret: clientSecret.stringValue,
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
    new MfaBrowserFlow(this, 'browser-flow', { realm });
    const directory = estate.keycloak.directory && new DirectoryFederation(this, 'directory', {
      realm,
      settings: estate.keycloak.directory,
      bindCredential: secretVariable(this, 'directory_bind_password', "Password of the directory account Keycloak binds as (keycloak.directory.bindDn).", 8).stringValue,
      allowedUsernames: props.roster.users.filter((user) => user.state === 'active').map((user) => user.username),
    });
    new RosterIdentities(this, 'roster', { realm, roster: props.roster, directory });

    // The id is known at synth; only the secret needs to cross stacks (as a sensitive value).
    this.oidcClientId = clientId;
    this.oidcClientSecret = client.clientSecret;

    new TerraformOutput(this, 'realm_name', { value: realm.realm }).overrideLogicalId('realm_name');
    new TerraformOutput(this, 'oidc_client_id', { value: client.clientId }).overrideLogicalId('oidc_client_id');
  }
}
