import { loadEstate } from '../../config/load';
import { planImagePins, pinnedReference, registryRepository, withPinnedImages } from '../../config/image-pins';
import { assetText } from '../helpers/inputs';
import { SWARM_BLOCK, withDigests } from '../helpers/swarm';

const REGISTRY = { host: 'mirror.bank.internal', port: 5000, caFile: '/etc/webide/registry-ca.pem' };
const DIGEST = `sha256:${'b'.repeat(64)}`;

describe('where images:pin puts an image', () => {
  it('keeps only the last path part, under webide/, whatever registry or namespace it came from', () => {
    expect(registryRepository('nginx', 'mirror.bank.internal:5000')).toBe('mirror.bank.internal:5000/webide/nginx');
    expect(registryRepository('registry.corp.example/webide/vllm-openai', 'mirror.bank.internal:5000')).toBe('mirror.bank.internal:5000/webide/vllm-openai');
    expect(registryRepository('localhost:5000/team/a/tabby', 'r:443')).toBe('r:443/webide/tabby');
  });
});

describe('planImagePins', () => {
  it('pushes every image of the sample estate by its tag, in file order', () => {
    const estate = loadEstate({ file: 'estate.yaml', text: `${withDigests(assetText('estate.yaml'))}\n${SWARM_BLOCK}` });
    const steps = planImagePins(estate.images, REGISTRY);
    expect(steps.map((step) => step.key)).toEqual(Object.keys(estate.images));
    expect(steps.every((step) => step.kind === 'push')).toBe(true);
    expect(steps[0]).toEqual({
      kind: 'push',
      key: 'nginx',
      current: `registry.corp.example/webide/nginx:1.22.1-deb12@sha256:${'a'.repeat(64)}`,
      source: 'registry.corp.example/webide/nginx:1.22.1-deb12',
      destination: 'mirror.bank.internal:5000/webide/nginx:1.22.1-deb12',
    });
    expect(steps.find((step) => step.key === 'vllm')).toMatchObject({ destination: 'mirror.bank.internal:5000/webide/vllm-openai:v0.11.0' });
  });

  it('verifies what is already pinned in the estate registry, refuses a digest elsewhere without a tag, and takes only the keys asked for', () => {
    const images = {
      nginx: `mirror.bank.internal:5000/webide/nginx:1.22.1-deb12@${DIGEST}`,
      keycloak: `registry.corp.example/webide/keycloak@${DIGEST}`,
      postgres: 'webide-local/postgres:15-deb12',
    } as Parameters<typeof planImagePins>[0];
    expect(planImagePins(images, REGISTRY)).toEqual([
      { kind: 'verify', key: 'nginx', current: images.nginx, reference: `mirror.bank.internal:5000/webide/nginx@${DIGEST}` },
      { kind: 'refuse', key: 'keycloak', current: images.keycloak, message: expect.stringContaining('pinned by digest outside the estate\'s registry (mirror.bank.internal:5000)') },
      { kind: 'push', key: 'postgres', current: images.postgres, source: 'webide-local/postgres:15-deb12', destination: 'mirror.bank.internal:5000/webide/postgres:15-deb12' },
    ]);
    expect(planImagePins(images, REGISTRY, ['postgres', 'tabby']).map((step) => step.key)).toEqual(['postgres']);
  });

  it("leaves the registry's own image out (its node runs it from its engine), and refuses it when asked for by name", () => {
    const images = { postgres: 'webide-local/postgres:15', registry: 'webide-local/registry:2.8.2' } as Parameters<typeof planImagePins>[0];
    expect(planImagePins(images, REGISTRY).map((step) => step.key)).toEqual(['postgres']);
    expect(planImagePins(images, REGISTRY, ['registry'])).toEqual([
      { kind: 'refuse', key: 'registry', current: images.registry, message: expect.stringContaining("is the registry's own image: its node runs it from that engine's images") },
    ]);
  });

  it('pushes one image named by two keys once, and refuses two different images that would land on one name', () => {
    const images = {
      tabby: 'webide-local/ai-standin:1',
      vllm: 'webide-local/ai-standin:1',
      litellm: 'other/ai-standin:1',
    } as Parameters<typeof planImagePins>[0];
    const steps = planImagePins(images, REGISTRY);
    expect(steps.map((step) => step.kind)).toEqual(['push', 'push', 'refuse']);
    expect(steps[2]).toMatchObject({
      key: 'litellm',
      message: 'would be pushed as mirror.bank.internal:5000/webide/ai-standin:1, as webide-local/ai-standin:1 already is: give the two images different names or tags',
    });
  });
});

describe('pinnedReference', () => {
  it('is the pushed tag and the stored digest, and refuses anything that is not a sha256 digest', () => {
    expect(pinnedReference('r:5000/webide/nginx:1', DIGEST)).toBe(`r:5000/webide/nginx:1@${DIGEST}`);
    expect(() => pinnedReference('r:5000/webide/nginx:1', 'sha256:short')).toThrow('"sha256:short" is not a sha256 digest (from pushing r:5000/webide/nginx:1)');
  });
});

describe('withPinnedImages', () => {
  const text = [
    '# the estate',
    'images:',
    '  nginx: registry.corp.example/webide/nginx:1.22.1-deb12   # the proxy',
    "  keycloak: 'registry.corp.example/webide/keycloak:26.7.0'",
    '  postgres: "registry.corp.example/webide/postgres:15-deb12"',
    '',
    'gpus: { tabby: ["0"] }   # untouched',
    '',
  ].join('\n');

  it('replaces only the values it is given and keeps every other byte', () => {
    const nginx = `r:5000/webide/nginx:1.22.1-deb12@${DIGEST}`;
    const postgres = `r:5000/webide/postgres:15-deb12@${DIGEST}`;
    const edited = withPinnedImages(text, { nginx, postgres });
    expect(edited).toBe(
      text
        .replace('registry.corp.example/webide/nginx:1.22.1-deb12', nginx)
        .replace('"registry.corp.example/webide/postgres:15-deb12"', postgres),
    );
    expect(withPinnedImages(text, {})).toBe(text);
  });

  it('edits a flow-style images map too', () => {
    const flow = 'images: { nginx: a/nginx:1, keycloak: a/keycloak:2 }\n';
    expect(withPinnedImages(flow, { keycloak: `r/keycloak:2@${DIGEST}` })).toBe(`images: { nginx: a/nginx:1, keycloak: r/keycloak:2@${DIGEST} }\n`);
  });

  it('refuses a key the file does not set, and a file without an images map', () => {
    expect(() => withPinnedImages(text, { tabby: `r/tabby:1@${DIGEST}` })).toThrow('images.tabby is not a value in the estate file');
    expect(() => withPinnedImages('gpus: {}\n', { nginx: 'x' })).toThrow('the estate file has no images map');
  });

  it('refuses a reference that would not read back as written', () => {
    expect(() => withPinnedImages(text, { nginx: 'a: b' })).toThrow('images.nginx does not read back as a: b after the edit');
  });
});
