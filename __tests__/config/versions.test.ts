import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { loadEstate } from '../../config/load';
import { ASSETS, defaultEstate, defaultRoster } from '../helpers/inputs';
import { synthEstate } from '../helpers/synth';
import { debianTool, runTool } from '../helpers/monitoring';
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
  const components = { nginx: 'nginx', keycloak: 'keycloak', postgres: 'postgres', oauth2Proxy: 'oauth2-proxy', litellm: 'litellm', codeServer: 'ide', monitoring: 'monitoring' } as const;
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

  it('the prometheus_client the unit tests load (LiteLLM /metrics/) is the one the image installs', () => {
    const pin = /^PROMETHEUS_CLIENT_VERSION="([^"]+)"/m.exec(fs.readFileSync(path.join(ROOT, 'scripts/litellm-venv.sh'), 'utf8'))?.[1];
    expect(pin).toMatch(/^\d+\.\d+\.\d+$/);
    const python = path.join(ROOT, '.work/litellm-venv/bin/python');
    const installed = spawnSync(python, ['-c', 'import importlib.metadata as m; print(m.version("prometheus_client"))'], { encoding: 'utf8' });
    expect(installed.stdout.trim()).toBe(pin);
    // The image build passes the same pin to images/litellm, which installs it.
    const build = fs.readFileSync(path.join(ROOT, 'scripts/docker/build-images.sh'), 'utf8');
    expect(build).toContain(`PROMETHEUS_CLIENT_VERSION="$(pin_from "$ROOT/scripts/litellm-venv.sh" '^PROMETHEUS_CLIENT_VERSION=')"`);
    expect(build).toMatch(/litellm\) printf '%s\\n' "PRISMA_VERSION=\$PRISMA_VERSION" "PROMETHEUS_CLIENT_VERSION=\$PROMETHEUS_CLIENT_VERSION"/);
    expect(fs.readFileSync(path.join(ROOT, 'images/litellm/Dockerfile'), 'utf8')).toContain('"prometheus_client==${PROMETHEUS_CLIENT_VERSION}"');
  });

  // The monitoring files are checked by the Debian tools installed here (scripts/setup.sh); the
  // image runs the same versions, so a check that passes here holds in the estate.
  it.each([
    ['PROMETHEUS_VERSION', 'promtool', 'prometheus', ['--version'], /^promtool, version (\S+?)\+ds /],
    ['ALERTMANAGER_VERSION', 'amtool', 'prometheus-alertmanager', ['--version'], /^amtool, version (\S+) /],
    ['MTAIL_VERSION', 'mtail', 'mtail', ['--version'], /^mtail version (\S+) /],
    ['NODE_EXPORTER_VERSION', 'prometheus-node-exporter', 'prometheus-node-exporter', ['--version'], /^node_exporter, version (\S+) /],
    ['NGINX_EXPORTER_VERSION', 'prometheus-nginx-exporter', 'prometheus-nginx-exporter', ['-version'], /version=(\d+\.\d+\.\d+)-/],
  ] as const)('the monitoring image pins %s to the %s the unit tests run', (pin, command, pkg, args, pattern) => {
    const pinned = new RegExp(`^${pin}=(\\S+)`, 'm').exec(fs.readFileSync(path.join(ROOT, 'scripts/docker/build-images.sh'), 'utf8'))?.[1];
    const installed = pattern.exec(runTool(debianTool(command, pkg), [...args], ROOT).output)?.[1];
    expect(pinned).toMatch(/^\d/);
    expect(installed).toBe(pinned);
  });
});

/**
 * One version per Terraform provider: providers/pins.json states it; the build script's lock, the
 * committed schema the bindings are generated from, the generated bindings and the synthesized
 * stacks all carry the same one.
 */
describe('Terraform provider versions agree', () => {
  const pins = JSON.parse(fs.readFileSync(path.join(ROOT, 'providers/pins.json'), 'utf8')).providers as { namespace: string; type: string; version: string; commit: string; bindings: string }[];
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'providers/providers.lock.json'), 'utf8')).providers as Record<string, { version: string; commit: string }>;

  it.each(pins.map((pin) => [`${pin.namespace}/${pin.type}`, pin] as const))('%s: the lock records the pinned version and commit', (key, pin) => {
    expect(lock[key]).toMatchObject({ version: pin.version, commit: pin.commit });
  });

  it.each(pins.filter((pin) => pin.bindings === 'generated').map((pin) => [pin.type, pin] as const))(
    '%s: the committed schema and the generated bindings are for the pinned version',
    (type, pin) => {
      const schema = JSON.parse(fs.readFileSync(path.join(ROOT, `providers/schemas/${type}-${pin.version}.json`), 'utf8'));
      expect(schema.provider_versions).toEqual({ [`${pin.namespace}/${type}`]: pin.version });
      const versions = JSON.parse(fs.readFileSync(path.join(ROOT, '.gen/versions.json'), 'utf8')) as Record<string, string>;
      const generated = Object.entries(versions).find(([source]) => source.endsWith(`/${pin.namespace}/${type}`));
      expect(generated?.[1]).toBe(pin.version);
    },
  );

  it('the docker provider the stacks require is the pinned one, and null the prebuilt bindings\' one', () => {
    const estate = defaultEstate();
    const stack = synthEstate(estate, defaultRoster(estate)).workspaces as any;
    const docker = pins.find((pin) => pin.type === 'docker')!;
    expect(stack.terraform.required_providers.docker.version).toBe(docker.version);
    const nullPin = pins.find((pin) => pin.type === 'null')!;
    expect(nullPin.bindings).toBe(`@cdktf/provider-null ${require('@cdktf/provider-null/package.json').version}`);
    expect(stack.terraform.required_providers.null.version).toBe(nullPin.version);
  });
});
