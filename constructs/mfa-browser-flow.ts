import { Construct } from 'constructs';
import { AuthenticationBindings } from '../.gen/providers/keycloak/authentication-bindings';
import { AuthenticationExecution } from '../.gen/providers/keycloak/authentication-execution';
import { AuthenticationFlow } from '../.gen/providers/keycloak/authentication-flow';
import { AuthenticationSubflow } from '../.gen/providers/keycloak/authentication-subflow';
import { Realm } from '../.gen/providers/keycloak/realm';

export interface MfaBrowserFlowProps {
  readonly realm: Realm;
}

/** The flow's alias in Keycloak (the report and the tests look for it). */
export const MFA_BROWSER_FLOW_ALIAS = 'webide-browser-mfa';

/**
 * The realm's browser flow: the SSO cookie, or password and then a TOTP code, both
 * REQUIRED. Keycloak's built-in flow makes OTP conditional (skipped for a user without an
 * OTP credential); here a user without one is made to enrol before they get in.
 */
export class MfaBrowserFlow extends Construct {
  public readonly flow: AuthenticationFlow;

  constructor(scope: Construct, id: string, props: MfaBrowserFlowProps) {
    super(scope, id);
    const realmId = props.realm.id;
    this.flow = new AuthenticationFlow(this, 'flow', {
      realmId,
      alias: MFA_BROWSER_FLOW_ALIAS,
      description: 'Browser sign-in: SSO cookie, or password and TOTP (both required)',
    });

    const cookie = new AuthenticationExecution(this, 'cookie', {
      realmId,
      parentFlowAlias: this.flow.alias,
      authenticator: 'auth-cookie',
      requirement: 'ALTERNATIVE',
      priority: 10,
    });
    const forms = new AuthenticationSubflow(this, 'forms', {
      realmId,
      parentFlowAlias: this.flow.alias,
      alias: `${MFA_BROWSER_FLOW_ALIAS}-forms`,
      providerId: 'basic-flow',
      requirement: 'ALTERNATIVE',
      priority: 20,
      // Keycloak appends executions in creation order; priorities fix it, the chain keeps it readable.
      dependsOn: [cookie],
    });
    const password = new AuthenticationExecution(this, 'password', {
      realmId,
      parentFlowAlias: forms.alias,
      authenticator: 'auth-username-password-form',
      requirement: 'REQUIRED',
      priority: 10,
    });
    const otp = new AuthenticationExecution(this, 'otp', {
      realmId,
      parentFlowAlias: forms.alias,
      authenticator: 'auth-otp-form',
      requirement: 'REQUIRED',
      priority: 20,
      dependsOn: [password],
    });

    new AuthenticationBindings(this, 'bindings', {
      realmId,
      browserFlow: this.flow.alias,
      dependsOn: [otp],
    });
  }
}
