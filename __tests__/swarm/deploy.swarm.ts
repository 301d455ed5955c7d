/**
 * `npm run deploy` on the Swarm target, on the lab's real swarm (scripts/swarm/lab.sh): the one
 * command an infra engineer runs, from an estate file (`target: swarm`) and a roster file, as on
 * one host. It runs the swarm preflight, then cdktf deploys ai and entry, runs the Keycloak
 * bootstrap, and deploys identity, workspaces and edge (scripts/cdktf.sh). The images are the
 * estate's own, by digest, from the registry the estate runs itself (swarm.registry.serve: `npm run
 * deploy -- registry`, then `npm run images:pin`, as a first deploy goes); vLLM and Tabby are the
 * GPU-less AI stand-in.
 *
 * Shown: a deploy with encrypted overlays on nodes whose kernel has no ESP is refused by the
 * preflight, naming every node, before anything is created; the deploy converges the whole
 * estate; from outside the swarm, sign-in goes through oauth2-proxy to the realm the identity
 * stack made (its login page answers), and each user's IDE runs; no secret in a service spec or
 * the synthesis; a refreshing plan of every stack then finds nothing to change; splitting the
 * workspaces into shard stacks (workspaces.shards: 2) is one more deploy that brings every IDE back
 * on its node with its home; the change-approval report (npm run plan:report) of a roster edit
 * names only the new user and plans changes in the new user's shard alone.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadEstate } from '../../config/load';
import { estateStackIds } from '../../stacks/estate';
import { testCertificates } from '../helpers/tls';
import { mustRun, ROOT, run, sleep } from '../helpers/run';
import { terraform, terraformEnv, terraformFailure } from '../live/terraform';
import {
  engine,
  estateRegistry,
  execIn,
  LAB,
  LabImages,
  labEstateText,
  labSecrets,
  LOCAL_LAB_IMAGES,
  LOCAL_REGISTRY_IMAGE,
  manager,
  MANAGER_ADDRESS,
  NODES,
  pushLabImages,
  removeEstateVolumes,
  task,
  waitRunning,
} from './lab';

jest.setTimeout(1_500_000);

const ESTATE_NAME = 'swd';
const ROSTER =
  'groups:\n  - name: developers\nusers:\n' +
  '  - { username: alice, email: alice@corp.example, name: Alice Kim, groups: [developers], node: swarm-m1 }\n' +
  '  - { username: bob, email: bob@corp.example, name: Bob Lee, groups: [developers], node: swarm-w1 }\n';

describe('npm run deploy on the Swarm target: the whole estate from an estate file and a roster, on the real swarm', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-deploy-'));
  const tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-deploy-tls-'));
  const modelsDir = path.join(work, 'models');
  const synthOut = path.join(work, 'cdktf.out');
  const stateDir = path.join(work, 'state');
  const estateFile = path.join(work, 'estate.yaml');
  const rosterFile = path.join(work, 'roster.yaml');
  // Random secrets for this run only; the test checks that none shows in a spec or the synthesis.
  const secrets = labSecrets();
  const caFile = path.join(tlsDir, 'ca.pem');
  const env = terraformEnv({
    ...Object.fromEntries(Object.entries(secrets).map(([name, value]) => [`TF_VAR_${name}`, value])),
    // Go's TLS (the Keycloak provider) and node's (the bootstrap) trust the test CA.
    SSL_CERT_FILE: caFile,
    NODE_EXTRA_CA_CERTS: caFile,
    ESTATE_FILE: estateFile,
    ROSTER_FILE: rosterFile,
    STATE_DIR: stateDir,
    SYNTH_OUT: synthOut,
    CI: 'true',
  });
  let images: LabImages | undefined;
  const estateText = (encryptOverlays: boolean) => labEstateText({ name: ESTATE_NAME, images: images!, tlsDir, modelsDir, encryptOverlays, servesRegistry: true });
  /** The unsharded estate's stacks: registry first (the estate runs it), then ai, entry, identity, workspaces, edge. */
  const stackIds = () => estateStackIds(loadEstate({ file: 'estate.yaml', text: estateText(false) }));
  /** The lab estate with its workspaces in two shard stacks (alice and bob hash into ws-02, carol into ws-01). */
  const shardedText = () => estateText(false).replace('  allowFileTransfer: false\n', '  allowFileTransfer: false\n  shards: 2\n');
  const shardedStackIds = () => estateStackIds(loadEstate({ file: 'estate.yaml', text: shardedText() }));
  let domain = '';

  const deploy = (...stacks: string[]) => run('npm', ['run', '--silent', 'deploy', '--', ...stacks, '--auto-approve'], { env, timeout: 1_200_000 });
  const estateServices = () => manager('service', 'ls', '--format', '{{.Name}}', '--filter', `name=${ESTATE_NAME}-`).split('\n').filter(Boolean).sort();
  /** An HTTPS request from this machine (outside the swarm) to the manager's entry: status and Location. */
  const fromOutside = (url: string) =>
    run('curl', ['-s', '--cacert', caFile, '--resolve', `${domain}:443:${MANAGER_ADDRESS}`, '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', '--max-time', '10', url]).out.trim();

  beforeAll(() => {
    // A first deploy with the estate's own registry: the registry (its image on its node, as an
    // approved import puts it there), then every image pinned into it.
    fs.mkdirSync(stateDir);
    mustRun('bash', [LAB, 'load', 'swarm-m1', LOCAL_REGISTRY_IMAGE], { timeout: 300_000 });
    fs.writeFileSync(estateFile, labEstateText({ name: ESTATE_NAME, images: LOCAL_LAB_IMAGES, tlsDir, modelsDir, encryptOverlays: false, servesRegistry: true }));
    fs.writeFileSync(rosterFile, ROSTER);
    const registry = deploy('registry');
    if (registry.status !== 0) throw new Error(`npm run deploy -- registry failed (${registry.status}):\n${registry.out.slice(-8000)}`);
    images = pushLabImages({ servesRegistry: true });
    fs.chmodSync(tlsDir, 0o755);
    for (const dir of ['chat', 'completion']) fs.mkdirSync(path.join(modelsDir, dir), { recursive: true, mode: 0o755 });
    domain = loadEstate({ file: 'estate.yaml', text: estateText(false) }).domain;
    testCertificates(tlsDir, domain, [MANAGER_ADDRESS]);
  }, 900_000);

  afterAll(async () => {
    // Keycloak's realm goes while Keycloak runs: the stacks backwards.
    for (const id of (images ? shardedStackIds() : ['registry']).reverse()) {
      const dir = path.join(synthOut, 'stacks', id);
      if (!fs.existsSync(path.join(dir, '.terraform'))) continue;
      const destroyed = terraform(dir, ['destroy', '-auto-approve', '-input=false'], env, 600_000);
      if (destroyed.status !== 0) process.stdout.write(`[swarm deploy] destroy of ${id} failed:\n${destroyed.output.slice(-3000)}\n`);
    }
    // The homes and PostgreSQL's data are what terraform never removes: this test's go once their tasks are gone.
    await removeEstateVolumes(ESTATE_NAME);
    run('docker', ['-H', engine('swarm-m1'), 'image', 'rm', LOCAL_REGISTRY_IMAGE]);
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(tlsDir, { recursive: true, force: true });
  }, 900_000);

  test("with encrypted overlays on nodes whose kernel has no ESP, the preflight refuses the deploy, naming every node, and nothing is created", () => {
    fs.writeFileSync(estateFile, estateText(true));
    const refused = deploy();
    expect(refused.status).toBe(1);
    for (const node of NODES) {
      expect(refused.out).toMatch(new RegExp(`swarm:preflight: ${node}: its kernel cannot do ESP \\(IPsec\\) with AES-GCM \\(ip xfrm: Error: Requested [^)]*not found\\.\\), and swarm.encryptOverlays is on`));
    }
    expect(refused.out).toContain('deploy: the swarm preflight found the problems above; nothing after the registry was deployed');
    expect(estateServices()).toEqual([]);
  });

  test('the deploy converges the estate: sign-in through oauth2-proxy to the realm the identity stack made, each IDE running; then every stack plans empty', async () => {
    fs.writeFileSync(estateFile, estateText(false));
    const deployed = deploy();
    if (deployed.status !== 0) throw new Error(`npm run deploy failed (${deployed.status}):\n${deployed.out.slice(-12000)}`);
    // The preflight, then the bootstrap between the entry and identity stacks.
    expect(deployed.out).toContain(`swarm:preflight: every node of ${estateFile} is in the swarm, ready, and runs containers with no-new-privileges`);
    expect(deployed.out.indexOf('swarm:preflight: every node')).toBeLessThan(deployed.out.indexOf('keycloak:bootstrap'));
    expect(estateServices()).toEqual(
      ['ai-gateway', 'fwd-alice', 'fwd-bob', 'ide-alice', 'ide-bob', 'keycloak', 'litellm', 'nginx', 'oauth2-proxy', 'postgres', 'tabby', 'vllm'].map((name) => `${ESTATE_NAME}-${name}`),
    );
    await waitRunning(`${ESTATE_NAME}-ide-alice`, 'swarm-m1', 300);
    await waitRunning(`${ESTATE_NAME}-ide-bob`, 'swarm-w1', 300);
    await waitRunning(`${ESTATE_NAME}-oauth2-proxy`, undefined, 300);
    // Not signed in: to sign-in; oauth2-proxy sends the browser to the realm's login with its client.
    const estate = loadEstate({ file: 'estate.yaml', text: estateText(false) });
    let start = '';
    for (let i = 0; i < 60 && !/^302 /.test(start); i++) {
      start = fromOutside(`https://${domain}/oauth2/start?rd=%2Fu%2Falice%2F`);
      if (!/^302 /.test(start)) await sleep(2000);
    }
    const login = start.split(' ')[1] ?? '';
    expect(start).toMatch(new RegExp(`^302 https://${domain.replace(/\./g, '\\.')}/realms/${estate.keycloak.realm}/protocol/openid-connect/auth\\?`));
    expect(new URL(login).searchParams.get('client_id')).toBeTruthy();
    // The realm and its client exist (the identity stack): Keycloak serves the login page.
    expect(fromOutside(login).split(' ')[0]).toBe('200');
    // Deploy converged: a refreshing plan of each stack, as cdktf left it, changes nothing.
    for (const id of stackIds()) {
      const plan = terraform(path.join(synthOut, 'stacks', id), ['plan', '-detailed-exitcode', '-input=false'], env);
      if (plan.status !== 0) throw new Error(terraformFailure(`a refreshing plan of ${id} after npm run deploy is not empty`, plan));
    }
    // Every IDE's node pulled its image by digest from the registry the estate runs.
    expect(images!.ide.startsWith(`${estateRegistry().host}:${estateRegistry().port}/webide/ide:`)).toBe(true);
    expect(manager('service', 'inspect', '-f', '{{.Spec.TaskTemplate.ContainerSpec.Image}}', `${ESTATE_NAME}-ide-bob`)).toBe(images!.ide);
    // No secret in any service's spec or in the synthesized JSON.
    const specs = manager('service', 'inspect', ...estateServices());
    const synthesized = stackIds().map((id) => fs.readFileSync(path.join(synthOut, 'stacks', id, 'cdk.tf.json'), 'utf8')).join('\n');
    expect(Object.entries(secrets).filter(([, value]) => specs.includes(value) || synthesized.includes(value)).map(([name]) => name)).toEqual([]);
    // Each stack's state where STATE_DIR says.
    expect(fs.readdirSync(stateDir).filter((file) => file.endsWith('.tfstate')).sort()).toEqual(stackIds().map((id) => `terraform.${id}.tfstate`).sort());
    // A file in alice's home, for the split below to keep.
    expect(execIn(`${ESTATE_NAME}-ide-alice`, 'sh', '-c', 'echo kept-across-the-split > /home/coder/split-proof.txt && cat /home/coder/split-proof.txt')).toEqual({ out: 'kept-across-the-split', status: 0 });
  });

  test('splitting the workspaces into shard stacks (workspaces.shards: 2) is one npm run deploy: each IDE comes back from its shard stack on its node, with its home; then every stack plans empty', async () => {
    const before = { alice: task(`${ESTATE_NAME}-ide-alice`).id, bob: task(`${ESTATE_NAME}-ide-bob`).id };
    fs.writeFileSync(estateFile, shardedText());
    const deployed = deploy();
    // The split's old race (README, Sharding the workspaces): the manager kept its own copy of a
    // moved user's overlay until the user's old task was gone from it and refused the name. The
    // workspace services' stop grace period makes the destroy wait for that task; one deploy is enough.
    expect(/network with name \S+ already exists/.exec(deployed.out)?.[0] ?? 'no overlay-name race').toBe('no overlay-name race');
    if (deployed.status !== 0) throw new Error(`npm run deploy of the split failed (${deployed.status}):\n${deployed.out.slice(-12000)}`);
    const stacks = shardedStackIds();
    expect(stacks).toEqual(['registry', 'ai', 'entry', 'identity', 'workspaces', 'workspaces-ws-01', 'workspaces-ws-02', 'edge']);
    // The IDE services now belong to ws-02's state, and the workspaces stack holds only its placement guard.
    const stateResources = (id: string) =>
      (JSON.parse(fs.readFileSync(path.join(stateDir, `terraform.${id}.tfstate`), 'utf8')) as { resources: { type: string; name: string }[] }).resources.map((r) => `${r.type}.${r.name}`);
    expect(stateResources('workspaces').filter((r) => r.startsWith('docker_'))).toEqual([]);
    expect(stateResources('workspaces-ws-02').filter((r) => r.startsWith('docker_service.')).sort()).toEqual([
      expect.stringMatching(/^docker_service\.users_alice_forwarder_/),
      expect.stringMatching(/^docker_service\.users_alice_ide_/),
      expect.stringMatching(/^docker_service\.users_bob_forwarder_/),
      expect.stringMatching(/^docker_service\.users_bob_ide_/),
    ]);
    expect(stateResources('workspaces-ws-01').filter((r) => r.startsWith('docker_service.'))).toEqual([]);
    // New tasks, on the same nodes as before, and alice's file is still in her home.
    for (const [user, node] of [['alice', 'swarm-m1'], ['bob', 'swarm-w1']] as const) {
      let now = await waitRunning(`${ESTATE_NAME}-ide-${user}`, node, 300);
      for (let i = 0; i < 120 && now.id === before[user]; i++) {
        await sleep(1000);
        now = await waitRunning(`${ESTATE_NAME}-ide-${user}`, node, 300);
      }
      expect(now.id).not.toBe(before[user]);
    }
    expect(execIn(`${ESTATE_NAME}-ide-alice`, 'cat', '/home/coder/split-proof.txt')).toEqual({ out: 'kept-across-the-split', status: 0 });
    for (const id of stacks) {
      const plan = terraform(path.join(synthOut, 'stacks', id), ['plan', '-detailed-exitcode', '-input=false'], env);
      if (plan.status !== 0) throw new Error(terraformFailure(`a refreshing plan of ${id} after the split is not empty`, plan));
    }
  });

  test("the change-approval report of a roster edit on the sharded swarm (carol added): identity and carol's shard change, for carol alone; every other stack, alice's and bob's shard included, does not", () => {
    fs.writeFileSync(rosterFile, `${ROSTER}  - { username: carol, email: carol@corp.example, name: Carol Park, groups: [developers] }\n`);
    const reportDir = path.join(work, 'report');
    fs.mkdirSync(reportDir);
    const result = run(process.execPath, [path.join(ROOT, 'scripts', 'ts-run.js'), path.join(ROOT, 'scripts', 'plan-report.ts')], {
      cwd: reportDir,
      env: { ...env, CDKTF_OUTDIR: path.join(reportDir, 'cdktf.out') },
      timeout: 600_000,
    });
    expect([result.status === 2 || result.status === 3, result.out]).toEqual([true, expect.stringContaining('wrote plan-report.md and plan-report.json: changes')]);
    type Row = { stack: string; counts: Record<string, number> };
    const report = JSON.parse(fs.readFileSync(path.join(reportDir, 'plan-report.json'), 'utf8')) as {
      summary: Row[];
      workspaces?: { users: { username: string; stack: string }[] };
      unplanned: unknown[];
      people: { username: string; change: string }[];
      risks: { address: string }[];
    };
    expect(report.unplanned).toEqual([]);
    expect(report.summary.map((row) => row.stack)).toEqual(shardedStackIds());
    expect(report.summary.filter((row) => Object.values(row.counts).some((n) => n > 0)).map((row) => row.stack)).toEqual(['identity', 'workspaces-ws-01']);
    // The workspaces part of the report (the roster-wide stack and its shards read together): carol's workspace, in her shard.
    expect(report.workspaces?.users.map((user) => [user.username, user.stack])).toEqual([['carol', 'workspaces-ws-01']]);
    for (const row of report.summary) expect([row.stack, row.counts.delete, row.counts.replace]).toEqual([row.stack, 0, 0]);
    // Carol added, and into her group: nobody else.
    expect(report.people.map((person) => [person.username, person.change])).toEqual([['carol', 'added'], ['carol', 'groups']]);
    expect(report.risks.filter((risk) => !risk.address.includes('carol'))).toEqual([]);
  });
});
