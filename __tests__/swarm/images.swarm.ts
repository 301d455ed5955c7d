/**
 * `npm run images:pin` against the lab's real registry (Debian's docker-registry over TLS signed by
 * the lab CA): images go from this machine's engine into the registry with skopeo, the estate file
 * is pinned by the digests the registry itself reports, a node pulls exactly that, and a failure
 * leaves the file as it was. Needs the lab (scripts/swarm/test.sh starts it).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { mustRun } from '../helpers/run';
import { estateImages, LAB, LAB_REGISTRY, labEstateText, LOCAL_LAB_IMAGES, on, pinImages } from './lab';

const PINNED = ['nginx', 'postgres', 'tabby', 'vllm'];
const DIGEST_PATTERN = /^(?<repository>[^:]+:\d+\/webide\/[a-z0-9-]+):(?<tag>[\w.-]+)@(?<digest>sha256:[0-9a-f]{64})$/;

/** The digest the lab registry itself stores for a tag (its Docker-Content-Digest header), through TLS trusting only the lab CA. */
function registryDigest(repository: string, tag: string): string {
  const { host, port, address } = LAB_REGISTRY;
  const url = `https://${host}:${port}/v2/${repository.split('/').slice(1).join('/')}/manifests/${tag}`;
  const headers = mustRun('curl', [
    '-sfI', '--max-time', '10', '--cacert', mustRun('bash', [LAB, 'ca']).trim(), '--resolve', `${host}:${port}:${address}`,
    '-H', 'Accept: application/vnd.docker.distribution.manifest.v2+json',
    '-H', 'Accept: application/vnd.oci.image.manifest.v1+json',
    url,
  ]);
  const digest = /^docker-content-digest: *(\S+)/im.exec(headers)?.[1];
  if (!digest) throw new Error(`no digest for ${url}:\n${headers}`);
  return digest;
}

describe('npm run images:pin on the lab registry', () => {
  let dir: string;
  let file: string;
  let before: string;
  let pinned: string;
  const lineOf = (text: string, start: string) => text.split('\n').findIndex((line) => line.startsWith(start)) + 1;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-images-pin-'));
    file = path.join(dir, 'estate.yaml');
    before = labEstateText({ name: 'webide-pin-test', images: LOCAL_LAB_IMAGES, tlsDir: dir, modelsDir: dir, encryptOverlays: false });
    fs.writeFileSync(file, before);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('pushes from the local engine and pins each image by the digest the registry stored; nothing else in the file changes', () => {
    const result = pinImages(file, '--only', PINNED.join(','));
    expect(result.out).toContain(`${file}: 4 image(s) pinned, 0 already pinned`);
    expect(result.status).toBe(0);
    // Tabby and vLLM are one image (the AI stand-in): pushed once.
    expect(result.out.match(/pushing webide-local\/ai-standin:1\.0\.0/g)).toHaveLength(1);

    pinned = fs.readFileSync(file, 'utf8');
    const images = estateImages(file);
    const changed = before.split('\n').flatMap((line, index) => (line === pinned.split('\n')[index] ? [] : [line.split(':')[0].trim()]));
    expect(changed).toEqual(PINNED);
    expect(pinned.split('\n')).toHaveLength(before.split('\n').length);
    for (const key of PINNED) {
      const parts = DIGEST_PATTERN.exec(images[key])?.groups;
      expect(parts?.repository).toBe(`${LAB_REGISTRY.host}:${LAB_REGISTRY.port}/webide/${key === 'tabby' || key === 'vllm' ? 'ai-standin' : key}`);
      expect(parts?.digest).toBe(registryDigest(parts!.repository, parts!.tag));
    }
    // A node pulls exactly the pinned bytes.
    on('swarm-w1', 'pull', '-q', images.nginx);
    expect(on('swarm-w1', 'image', 'inspect', '-f', '{{json .RepoDigests}}', images.nginx)).toContain(images.nginx.split('@')[1]);
  }, 900_000);

  test('a second run finds every image in the registry and leaves the file byte for byte', () => {
    const result = pinImages(file, '--only', PINNED.join(','));
    expect(result.out).toContain(`${file}: 0 image(s) pinned, 4 already pinned and found in the registry.`);
    expect(result.status).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toBe(pinned);
  }, 300_000);

  test('an image the engine lacks and a digest the registry lacks are both reported, with their lines, and nothing is written', () => {
    const broken = pinned
      .replace(/^( {2}nginx:) .*$/m, '$1 webide-local/nginx:no-such-tag')
      .replace(/^( {2}postgres:) (\S+)@sha256:\w+$/m, `$1 $2@sha256:${'0'.repeat(64)}`);
    fs.writeFileSync(file, broken);
    const result = pinImages(file, '--only', PINNED.join(','));
    expect(result.status).toBe(1);
    expect(result.out).toMatch(new RegExp(`${file}:${lineOf(broken, '  nginx:')}:3: images\\.nginx: pushing webide-local/nginx:no-such-tag to \\S+ failed: skopeo: .*no-such-tag`));
    expect(result.out).toContain(`${file}:${lineOf(broken, '  postgres:')}:3: images.postgres: could not find ${LAB_REGISTRY.host}:${LAB_REGISTRY.port}/webide/postgres@sha256:${'0'.repeat(64)} in the registry`);
    expect(result.out).toContain(`2 problem(s) found; ${file} is unchanged.`);
    expect(fs.readFileSync(file, 'utf8')).toBe(broken);
    fs.writeFileSync(file, pinned);
  }, 300_000);

  test('a registry whose certificate the given CA did not sign is refused for every image, and nothing is written', () => {
    const otherCa = path.join(dir, 'other-ca.pem');
    mustRun('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'other-ca.key'), '-out', otherCa, '-subj', '/CN=not the lab CA', '-days', '1']);
    const result = pinImages(file, '--only', 'nginx,postgres', '--ca-file', otherCa);
    expect(result.status).toBe(1);
    expect(result.out.match(/certificate signed by unknown authority/g)).toHaveLength(2);
    expect(result.out).toContain(`2 problem(s) found; ${file} is unchanged.`);
    expect(fs.readFileSync(file, 'utf8')).toBe(pinned);
    // The default CA (the estate's swarm.registry.caFile) still works: nothing was wrong with the file.
    expect(pinImages(file, '--only', 'nginx', '--dry-run').status).toBe(0);
  }, 300_000);
});
