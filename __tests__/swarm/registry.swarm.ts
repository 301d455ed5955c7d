/**
 * The registry an estate runs itself (`swarm.registry.serve`), on the lab's real swarm: `npm run
 * deploy -- registry` starts Debian's docker-registry as a hardened container on the first manager
 * (from that engine's own copy of the image, as an approved import puts it there), serving TLS
 * signed by the estate's CA only; before the images are in it the preflight stops a deploy and says
 * so; `npm run images:pin` pins the estate's images in it; `npm run deploy -- ai` then passes the preflight (its probe pulls the IDE image from it on every node) and
 * each AI service's node pulls its image from it by digest. Its images outlive its container.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { imageParts } from '../../config/estate';
import { loadEstate } from '../../config/load';
import { mustRun, run } from '../helpers/run';
import { terraform, terraformEnv, terraformFailure } from '../live/terraform';
import { engine, estateImages, estateRegistry, LAB, labEstateText, labSecrets, LOCAL_LAB_IMAGES, LOCAL_REGISTRY_IMAGE, NODES, on, pinImages, removeEstateVolumes, task, waitRunning } from './lab';

jest.setTimeout(1_200_000);

const ESTATE_NAME = 'swr';
const CONTAINER = `${ESTATE_NAME}-registry`;
/** The images the AI stack runs, and the IDE image the preflight's probe runs on every node. */
const PINNED = ['nginx', 'litellm', 'tabby', 'vllm', 'codeServer'];

describe('the registry the estate runs itself (swarm.registry.serve), on the real swarm', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-registry-'));
  const modelsDir = path.join(work, 'models');
  const estateFile = path.join(work, 'estate.yaml');
  const rosterFile = path.join(work, 'roster.yaml');
  const synthOut = path.join(work, 'cdktf.out');
  const stateDir = path.join(work, 'state');
  const env = terraformEnv({
    ...Object.fromEntries(Object.entries(labSecrets()).map(([name, value]) => [`TF_VAR_${name}`, value])),
    ESTATE_FILE: estateFile,
    ROSTER_FILE: rosterFile,
    STATE_DIR: stateDir,
    SYNTH_OUT: synthOut,
    CI: 'true',
  });
  const served = estateRegistry();
  const caFile = mustRun('bash', [LAB, 'ca']).trim();
  const deploy = (...stacks: string[]) => run('npm', ['run', '--silent', 'deploy', '--', ...stacks, '--auto-approve'], { env, timeout: 900_000 });
  /** An HTTPS request to the estate's registry from this machine, where the lab's names resolve; curl's status and output. */
  const request = (...args: string[]) => run('bash', [LAB, 'run', 'curl', '-s', '--max-time', '10', ...args], { timeout: 30_000 });
  const registryUrl = (urlPath: string) => `https://${served.host}:${served.port}${urlPath}`;

  beforeAll(() => {
    for (const dir of ['chat', 'completion']) fs.mkdirSync(path.join(modelsDir, dir), { recursive: true, mode: 0o755 });
    fs.mkdirSync(stateDir);
    fs.writeFileSync(rosterFile, 'groups:\n  - name: developers\nusers: []\n');
    fs.writeFileSync(estateFile, labEstateText({ name: ESTATE_NAME, images: LOCAL_LAB_IMAGES, tlsDir: work, modelsDir, encryptOverlays: false, servesRegistry: true }));
    // The registry's node runs it from its own engine: put the image there as an approved import would.
    mustRun('bash', [LAB, 'load', 'swarm-m1', LOCAL_REGISTRY_IMAGE], { timeout: 300_000 });
  }, 600_000);

  afterAll(async () => {
    for (const id of ['ai', 'registry']) {
      const dir = path.join(synthOut, 'stacks', id);
      if (!fs.existsSync(path.join(dir, '.terraform'))) continue;
      const destroyed = terraform(dir, ['destroy', '-auto-approve', '-input=false'], env, 600_000);
      if (destroyed.status !== 0) process.stdout.write(`[swarm registry] destroy of ${id} failed:\n${destroyed.output.slice(-3000)}\n`);
    }
    // The registry's images (a data volume) are what Terraform never removes.
    await removeEstateVolumes(ESTATE_NAME);
    run('docker', ['-H', engine('swarm-m1'), 'image', 'rm', LOCAL_REGISTRY_IMAGE]);
    fs.rmSync(work, { recursive: true, force: true });
  }, 900_000);

  test('npm run deploy -- registry runs it on the first manager alone, hardened, from that engine’s image id, with no preflight; it serves TLS the estate’s CA signed, and nothing in clear', () => {
    const deployed = deploy('registry');
    if (deployed.status !== 0) throw new Error(`npm run deploy -- registry failed (${deployed.status}):\n${deployed.out.slice(-8000)}`);
    expect(deployed.out).not.toContain('swarm:preflight');
    const [inspected] = JSON.parse(on('swarm-m1', 'container', 'inspect', CONTAINER)) as Record<string, any>[];
    expect(inspected.State).toMatchObject({ Running: true, Health: { Status: 'healthy' } });
    expect(inspected.Image).toBe(mustRun('docker', ['image', 'inspect', '-f', '{{.Id}}', LOCAL_REGISTRY_IMAGE]).trim());
    expect(inspected.Config.User).toBe('1010:1010');
    expect(inspected.HostConfig).toMatchObject({ ReadonlyRootfs: true, Privileged: false, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges:true'], Memory: 512 * 1024 * 1024, PidsLimit: 256 });
    expect(Object.keys(inspected.HostConfig.PortBindings)).toEqual(['5000/tcp']);
    // On the first manager only.
    for (const node of NODES.filter((n) => n !== 'swarm-m1')) expect(on(node, 'ps', '-aq', '--filter', `name=^${CONTAINER}$`)).toBe('');

    // TLS trusting the lab CA (the estate's) answers; without it, the certificate is refused; plain HTTP is not served.
    expect(request('--cacert', caFile, '-o', '/dev/null', '-w', '%{http_code}', registryUrl('/v2/')).out).toBe('200');
    const untrusted = request('-o', '/dev/null', registryUrl('/v2/'));
    expect(untrusted.status).toBe(60);
    expect(request('-o', '/dev/null', '-w', '%{http_code}', `http://${served.host}:${served.port}/v2/`).out).toBe('400');
  });

  test('before the images are in it, the preflight stops npm run deploy -- ai, naming every node and what to run; after npm run images:pin, the deploy passes the preflight and each AI service’s node pulls its image from it by digest', async () => {
    const before = fs.readFileSync(estateFile, 'utf8');
    // An IDE image pinned by a digest the new registry does not hold yet.
    const missing = `${served.host}:${served.port}/webide/ide:4.117.0@sha256:${'0'.repeat(64)}`;
    fs.writeFileSync(estateFile, before.replace(/^( {2}codeServer:) .*$/m, `$1 ${missing}`));
    const early = deploy('ai');
    expect(early.status).toBe(1);
    for (const node of NODES) expect(early.out).toContain(`swarm:preflight: ${node}: the probe could not run there: `);
    expect(early.out.split(`The probe is the estate's IDE image (images.codeServer, ${missing}), which every node pulls from swarm.registry: pin the estate's images there first (npm run images:pin)`)).toHaveLength(NODES.length + 1);
    expect(early.out).toContain('deploy: the swarm preflight found the problems above; nothing was deployed');
    fs.writeFileSync(estateFile, before);

    const pinned = pinImages(estateFile, '--only', PINNED.join(','));
    if (pinned.status !== 0) throw new Error(`npm run images:pin failed (${pinned.status}):\n${pinned.out}`);
    const images = estateImages(estateFile);
    for (const key of PINNED) expect([key, imageParts(images[key])?.name.startsWith(`${served.host}:${served.port}/webide/`), imageParts(images[key])?.digest]).toEqual([key, true, expect.stringMatching(/^sha256:/)]);
    // The registry's own image is not pinned into itself.
    expect(images.registry).toBe(LOCAL_REGISTRY_IMAGE);
    expect(fs.readFileSync(estateFile, 'utf8')).not.toBe(before);

    const deployed = deploy('ai');
    if (deployed.status !== 0) throw new Error(`npm run deploy -- ai failed (${deployed.status}):\n${deployed.out.slice(-8000)}`);
    expect(deployed.out).toContain(`swarm:preflight: every node of ${estateFile} is in the swarm, ready, and runs containers with no-new-privileges`);
    const estate = loadEstate({ file: 'estate.yaml', text: fs.readFileSync(estateFile, 'utf8') });
    for (const [service, key] of [['vllm', 'vllm'], ['litellm', 'litellm'], ['ai-gateway', 'nginx']] as const) {
      const { node, id } = await waitRunning(`${ESTATE_NAME}-${service}`, undefined, 300);
      const reference = estate.images[key];
      const digest = imageParts(reference)!.digest!;
      // The task runs the image its node pulled from the estate's registry by that digest.
      const imageId = on(node, 'inspect', '-f', '{{.Image}}', id);
      const repoDigests = JSON.parse(on(node, 'image', 'inspect', '-f', '{{json .RepoDigests}}', imageId)) as string[];
      expect([service, repoDigests]).toEqual([service, expect.arrayContaining([`${imageParts(reference)!.name}@${digest}`])]);
    }
    expect(task(`${ESTATE_NAME}-vllm`).node).toBe('swarm-w2');
  });

  test('its images outlive its container: removed and deployed again, it serves the same digests, and a refreshing plan is then empty', () => {
    const reference = estateImages(estateFile).litellm;
    const { name, digest } = imageParts(reference)!;
    const manifest = registryUrl(`/v2/${name.split('/').slice(1).join('/')}/manifests/${digest}`);
    const accept = ['-H', 'Accept: application/vnd.docker.distribution.manifest.v2+json', '-H', 'Accept: application/vnd.oci.image.manifest.v1+json'];
    on('swarm-m1', 'rm', '-f', CONTAINER);
    const deployed = deploy('registry');
    if (deployed.status !== 0) throw new Error(`npm run deploy -- registry failed (${deployed.status}):\n${deployed.out.slice(-8000)}`);
    expect(request('--cacert', caFile, ...accept, '-o', '/dev/null', '-w', '%{http_code}', manifest).out).toBe('200');
    // No delete API: an audited digest cannot be taken away through the registry.
    expect(request('--cacert', caFile, '-X', 'DELETE', '-o', '/dev/null', '-w', '%{http_code}', manifest).out).toBe('405');
    const plan = terraform(path.join(synthOut, 'stacks', 'registry'), ['plan', '-detailed-exitcode', '-input=false'], env);
    if (plan.status !== 0) throw new Error(terraformFailure('a refreshing plan of the registry stack after its deploy is not empty', plan));
  });
});
