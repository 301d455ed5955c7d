/**
 * The Terraform providers' versions, from providers/pins.json: the one place that states them
 * (providers/build.sh builds them, scripts/gen-bindings.js generates the bindings from their
 * committed schemas). Read by the bench and the tests, never by the constructs.
 */
// A committed file of the repository, read at module load like a source file.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pinsFile: { providers: ProviderPin[] } = require('../providers/pins.json');

export interface ProviderPin {
  readonly namespace: string;
  readonly type: string;
  readonly version: string;
  readonly tag: string;
  readonly commit: string;
  /** `generated` (from providers/schemas) or the prebuilt bindings package and its version. */
  readonly bindings: string;
}

export function providerPin(type: 'docker' | 'keycloak' | 'null'): ProviderPin {
  const pin = pinsFile.providers.find((p) => p.type === type);
  if (!pin) throw new Error(`providers/pins.json has no ${type} provider`);
  return pin;
}
