import { IConstruct } from 'constructs';
import { attributesOf, Compliance, PolicyRule } from '../rule';

export const realmHardened: PolicyRule = {
  id: 'WEBIDE-K1',
  summary: 'The realm has brute-force protection, a password policy and a TOTP policy.',
  fix: 'Build the realm with SecureRealm and keep keycloak.bruteForce / passwordPolicy / otp in the estate config.',
  check: (node) => {
    const realm = attributesOf(node, 'keycloak_realm');
    if (!realm) return Compliance.NOT_APPLICABLE;
    const bruteForce = realm.security_defenses?.brute_force_detection;
    const ok = bruteForce !== undefined && typeof realm.password_policy === 'string' && realm.password_policy.length > 0 && realm.otp_policy?.type === 'totp';
    return ok ? Compliance.COMPLIANT : Compliance.NON_COMPLIANT;
  },
};

export const realmEventsOn: PolicyRule = {
  id: 'WEBIDE-K2',
  summary: 'Login and admin events are on (with details) and expire.',
  fix: 'Keep the SecureRealm events resource: events_enabled, admin_events_enabled, admin_events_details_enabled, events_expiration > 0.',
  check: (node: IConstruct) => {
    const events = attributesOf(node, 'keycloak_realm_events');
    if (!events) return Compliance.NOT_APPLICABLE;
    const ok = events.events_enabled === true && events.admin_events_enabled === true && events.admin_events_details_enabled === true && events.events_expiration > 0;
    return ok ? Compliance.COMPLIANT : Compliance.NON_COMPLIANT;
  },
};

export const otpRequired: PolicyRule = {
  id: 'WEBIDE-K3',
  summary: 'Every user must enrol a TOTP device (CONFIGURE_TOTP required).',
  fix: 'Keep requiredActions: [CONFIGURE_TOTP] on roster users (RosterIdentities).',
  check: (node) => {
    const user = attributesOf(node, 'keycloak_user');
    if (!user) return Compliance.NOT_APPLICABLE;
    return (user.required_actions ?? []).includes('CONFIGURE_TOTP') ? Compliance.COMPLIANT : Compliance.NON_COMPLIANT;
  },
};
