import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { loadEstate } from '../../config/load';
import { ASSETS } from '../helpers/inputs';
import { ROOT } from '../helpers/run';

/**
 * One version per component: the images the tests build (scripts/docker/build-images.sh, which
 * reads the Keycloak and LiteLLM pins from the scripts the live and unit tiers use), the e2e
 * tier's estate, and the production estate all name the same versions.
 */
const built = spawnSync('bash', [path.join(ROOT, 'scripts/docker/build-images.sh'), '--list'], { encoding: 'utf8' })
  .stdout.trim()
  .split('\n');
const version = (reference: string) => /(\d+(\.\d+)*)/.exec(reference.split(':').pop() ?? '')?.[1];
const builtVersion = (name: string) => version(built.find((tag) => tag.startsWith(`webide-local/${name}:`)) ?? '');
const estate = (file: string) => loadEstate({ file, text: fs.readFileSync(file, 'utf8').split('__E2E__').join('/e2e') });

describe('versions agree between the tests and the estate', () => {
  // The e2e estate's IDE runs `ide`: the code-server image plus the estate's extensions (images/ide).
  const components = { nginx: 'nginx', keycloak: 'keycloak', postgres: 'postgres', oauth2Proxy: 'oauth2-proxy', litellm: 'litellm', codeServer: 'ide' } as const;
  const production = estate(path.join(ASSETS, 'estate.yaml'));
  const e2e = estate(path.join(ROOT, '__tests__/e2e/estate.local.yaml'));

  it.each(Object.entries(components))('%s: the built image, the e2e estate and the production estate name one version', (key, image) => {
    const expected = builtVersion(image);
    expect(expected).toMatch(/^\d+/);
    expect(e2e.images[key as keyof typeof components]).toBe(built.find((tag) => tag.startsWith(`webide-local/${image}:`)));
    expect(version(production.images[key as keyof typeof components])).toBe(expected);
  });

  it('the IDE image is built on the code-server image of the same version', () => {
    expect(builtVersion('ide')).toBe(builtVersion('code-server'));
  });

  it('the LiteLLM the unit tests load is the one the image is built from', () => {
    const pin = /^LITELLM_VERSION="([^"]+)"/m.exec(fs.readFileSync(path.join(ROOT, 'scripts/litellm-venv.sh'), 'utf8'))?.[1];
    expect(builtVersion('litellm')).toBe(pin);
  });
});
