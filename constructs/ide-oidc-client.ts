import { Construct } from 'constructs';
import { OpenidClient } from '../.gen/providers/keycloak/openid-client';
import { OpenidAudienceProtocolMapper } from '../.gen/providers/keycloak/openid-audience-protocol-mapper';
import { OpenidGroupMembershipProtocolMapper } from '../.gen/providers/keycloak/openid-group-membership-protocol-mapper';
import { Realm } from '../.gen/providers/keycloak/realm';

export interface IdeOidcClientProps {
  readonly realm: Realm;
  readonly clientId: string;
  /** Public origin, e.g. https://ide.corp.example; the only redirect target. */
  readonly origin: string;
}

/**
 * The confidential OIDC client oauth2-proxy signs users in with: code flow with
 * PKCE, one exact redirect URI, no password grant, tokens that name this client as
 * audience and carry the user's groups.
 */
export class IdeOidcClient extends Construct {
  public readonly client: OpenidClient;

  constructor(scope: Construct, id: string, props: IdeOidcClientProps) {
    super(scope, id);
    this.client = new OpenidClient(this, 'client', {
      realmId: props.realm.id,
      clientId: props.clientId,
      name: 'Browser IDE (oauth2-proxy)',
      enabled: true,
      accessType: 'CONFIDENTIAL',
      standardFlowEnabled: true,
      implicitFlowEnabled: false,
      directAccessGrantsEnabled: false,
      serviceAccountsEnabled: false,
      pkceCodeChallengeMethod: 'S256',
      rootUrl: props.origin,
      baseUrl: `${props.origin}/u/`,
      validRedirectUris: [`${props.origin}/oauth2/callback`],
      validPostLogoutRedirectUris: [`${props.origin}/`],
      webOrigins: [props.origin],
      fullScopeAllowed: false,
    });

    // oauth2-proxy rejects tokens whose audience is not its client id.
    new OpenidAudienceProtocolMapper(this, 'audience', {
      realmId: props.realm.id,
      clientId: this.client.id,
      name: 'audience',
      includedClientAudience: props.clientId,
      addToIdToken: true,
      addToAccessToken: true,
    });

    new OpenidGroupMembershipProtocolMapper(this, 'groups', {
      realmId: props.realm.id,
      clientId: this.client.id,
      name: 'groups',
      claimName: 'groups',
      fullPath: false,
      addToIdToken: true,
      addToAccessToken: true,
      addToUserinfo: true,
    });
  }
}
