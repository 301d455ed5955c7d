import { aiGatewayClosed } from './ai-gateway';
import {
  capabilitiesDropped,
  containerLimits,
  noHostMounts,
  noPrivileged,
  nonRoot,
  onlyNginxPublishes,
  pidsLimited,
  readOnlyRoot,
  workspacesInternalOnly,
} from './containers';
import { egressInternalOnly } from './egress';
import { otpRequired, realmEventsOn, realmHardened } from './identity';
import { imagesPinned } from './images';
import { listenersPlaced } from './listeners';
import { noSecretLiterals } from './secrets';
import { PolicyRule } from '../rule';

/** Every rule of the estate's policy pack, in report order. */
export const ESTATE_RULES: readonly PolicyRule[] = [
  containerLimits,
  noPrivileged,
  capabilitiesDropped,
  noHostMounts,
  nonRoot,
  readOnlyRoot,
  pidsLimited,
  onlyNginxPublishes,
  workspacesInternalOnly,
  listenersPlaced,
  imagesPinned,
  realmHardened,
  realmEventsOn,
  otpRequired,
  noSecretLiterals,
  aiGatewayClosed,
  egressInternalOnly,
];
