import { Construct } from 'constructs';
import { Realm } from '../.gen/providers/keycloak/realm';
import { RealmEvents } from '../.gen/providers/keycloak/realm-events';
import { RequiredAction } from '../.gen/providers/keycloak/required-action';
import { EstateConfig } from '../config/estate';

type KeycloakSettings = EstateConfig['keycloak'];

export interface SecureRealmProps {
  readonly settings: KeycloakSettings;
}

const SECONDS_PER_DAY = 86_400;

/**
 * Keycloak's password policy string, in the exact form Keycloak stores it (so the
 * provider reads back what it wrote and shows no drift).
 */
export function passwordPolicyString(policy: KeycloakSettings['passwordPolicy']): string {
  const rules = [
    `length(${policy.minLength})`,
    policy.upperCase > 0 ? `upperCase(${policy.upperCase})` : undefined,
    policy.lowerCase > 0 ? `lowerCase(${policy.lowerCase})` : undefined,
    policy.digits > 0 ? `digits(${policy.digits})` : undefined,
    policy.specialChars > 0 ? `specialChars(${policy.specialChars})` : undefined,
    policy.notUsername ? 'notUsername(undefined)' : undefined,
    policy.history > 0 ? `passwordHistory(${policy.history})` : undefined,
    policy.expireDays > 0 ? `forceExpiredPasswordChange(${policy.expireDays})` : undefined,
  ];
  return rules.filter((rule): rule is string => rule !== undefined).join(' and ');
}

/**
 * The estate's realm with its security controls: brute-force protection, password
 * policy, TOTP as a required action for everyone, session limits, and login and
 * admin events kept for a set time.
 */
export class SecureRealm extends Construct {
  public readonly realm: Realm;

  constructor(scope: Construct, id: string, props: SecureRealmProps) {
    super(scope, id);
    const { settings } = props;
    const eventsExpirationSeconds = settings.events.expirationDays * SECONDS_PER_DAY;

    this.realm = new Realm(this, 'realm', {
      realm: settings.realm,
      displayName: settings.displayName,
      enabled: true,
      // TLS ends at nginx; "external" still refuses plain HTTP from any public address.
      sslRequired: 'external',
      registrationAllowed: false,
      // No self-service reset: accounts and credentials come from the roster's change process.
      resetPasswordAllowed: false,
      rememberMe: false,
      verifyEmail: false,
      loginWithEmailAllowed: true,
      duplicateEmailsAllowed: false,
      editUsernameAllowed: false,
      passwordPolicy: passwordPolicyString(settings.passwordPolicy),
      ssoSessionIdleTimeout: settings.session.idleTimeout,
      ssoSessionMaxLifespan: settings.session.maxLifespan,
      // oauth2-proxy refreshes its session at half this; once Keycloak refuses the refresh (user
      // suspended, signed out, idle), the session ends when this token runs out.
      accessTokenLifespan: settings.session.revocationWindow,
      revokeRefreshToken: true,
      otpPolicy: {
        type: 'totp',
        algorithm: settings.otp.algorithm,
        digits: settings.otp.digits,
        period: settings.otp.periodSeconds,
        lookAheadWindow: 1,
      },
      securityDefenses: {
        bruteForceDetection: {
          permanentLockout: settings.bruteForce.permanentLockout,
          maxLoginFailures: settings.bruteForce.maxLoginFailures,
          waitIncrementSeconds: settings.bruteForce.waitIncrementSeconds,
          maxFailureWaitSeconds: settings.bruteForce.maxFailureWaitSeconds,
          failureResetTimeSeconds: settings.bruteForce.failureResetTimeSeconds,
        },
        headers: {
          xFrameOptions: 'SAMEORIGIN',
          contentSecurityPolicy: "frame-src 'self'; frame-ancestors 'self'; object-src 'none';",
          xContentTypeOptions: 'nosniff',
          xRobotsTag: 'none',
          xXssProtection: '1; mode=block',
          strictTransportSecurity: 'max-age=31536000; includeSubDomains',
          referrerPolicy: 'no-referrer',
        },
      },
      // Admin events have their own expiry attribute (the events resource covers login events only).
      attributes: { adminEventsExpiration: String(eventsExpirationSeconds) },
    });

    new RealmEvents(this, 'events', {
      realmId: this.realm.id,
      eventsEnabled: true,
      eventsExpiration: eventsExpirationSeconds,
      adminEventsEnabled: true,
      adminEventsDetailsEnabled: true,
      // Listing jboss-logging keeps events in the server log too (the resource drops it otherwise).
      eventsListeners: ['jboss-logging'],
    });

    new RequiredAction(this, 'configure-totp', {
      realmId: this.realm.realm,
      alias: 'CONFIGURE_TOTP',
      name: 'Configure OTP',
      enabled: true,
      defaultAction: true,
    });
  }
}
