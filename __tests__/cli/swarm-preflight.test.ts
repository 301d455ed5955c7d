import { spawnSync } from 'child_process';
import * as path from 'path';
import { loadEstate } from '../../config/load';
import { NodeProbe, nodesWithEndedProbe, parsePreflightArgs, parseProbeLine, preflightProblems, SwarmNodeState } from '../../scripts/swarm-preflight';
import { assetText, defaultEstate, withoutEgress } from '../helpers/inputs';
import { SWARM_BLOCK, withDigests } from '../helpers/swarm';

// SWARM_BLOCK: mgr-1 (manager), ide-1 and ide-2 (ide), gpu-1 and gpu-2 (gpu).
const estate = loadEstate({ file: 'estate.yaml', text: `${withDigests(withoutEgress(assetText('estate.yaml')))}\n${SWARM_BLOCK}` });
const NAMES = ['mgr-1', 'ide-1', 'ide-2', 'gpu-1', 'gpu-2'];
const ready = (hostname: string, managerStatus = ''): SwarmNodeState => ({ hostname, status: 'Ready', availability: 'Active', managerStatus });
const healthy = () => [ready('mgr-1', 'Leader'), ...NAMES.slice(1).map((name) => ready(name))];
const sound: NodeProbe = { noNewPrivs: '1', esp: 'ok' };
const allSet = () => new Map(NAMES.map((name) => [name, sound]));
/** The same estate with unencrypted overlays (allowed outside production). */
const unencrypted = { ...estate, swarm: { ...estate.swarm!, encryptOverlays: false } };

describe('npm run swarm:preflight: arguments', () => {
  it('takes the estate file and a timeout, with defaults', () => {
    expect(parsePreflightArgs([], {})).toEqual({ args: { estateFile: 'assets/estate.yaml', timeoutSeconds: 300 } });
    expect(parsePreflightArgs(['--estate', 'e.yaml', '--timeout', '60'], {})).toEqual({ args: { estateFile: 'e.yaml', timeoutSeconds: 60 } });
    expect(parsePreflightArgs([], { ESTATE_FILE: 'env.yaml' })).toEqual({ args: { estateFile: 'env.yaml', timeoutSeconds: 300 } });
  });

  it('reports every problem at once, and the CLI exits 2 on them', () => {
    expect(parsePreflightArgs(['--estate', '--timeout', '5', 'extra', '--force'], {})).toEqual({
      errors: ['--estate needs a value', 'unexpected argument extra', 'unknown option --force', '--timeout 5: whole seconds, 10 to 3600'],
    });
    const cli = spawnSync(process.execPath, [path.join('scripts', 'ts-run.js'), path.join('scripts', 'swarm-preflight.ts'), '--nope'], { encoding: 'utf8', timeout: 60_000 });
    expect([cli.status, cli.stderr]).toEqual([2, 'swarm:preflight: unknown option --nope\nusage: npm run swarm:preflight -- [--estate <estate.yaml>] [--timeout <seconds>]\n']);
  });
});

describe('npm run swarm:preflight: what stops a deploy', () => {
  it('finds nothing when every declared node is in the swarm, ready, in its role, and sets no-new-privileges', () => {
    expect(preflightProblems(estate, healthy(), allSet())).toEqual([]);
  });

  it('names every node that is missing, down, drained, in the wrong role, unprobed or without no-new-privileges, all at once', () => {
    const nodes = healthy()
      .filter((node) => node.hostname !== 'gpu-2')
      .map((node) => {
        if (node.hostname === 'mgr-1') return { ...node, managerStatus: '' };
        if (node.hostname === 'ide-2') return { ...node, status: 'Down' };
        if (node.hostname === 'gpu-1') return { ...node, availability: 'Drain' };
        return node;
      });
    const flags = new Map([['mgr-1', { noNewPrivs: '0', esp: 'ok' }]]);
    expect(preflightProblems(estate, nodes, flags)).toEqual([
      'mgr-1: declared a manager, but it is a worker in the swarm (docker node promote mgr-1)',
      'mgr-1: its engine does not set no-new-privileges on containers (NoNewPrivs 0): add "no-new-privileges": true to its daemon.json and restart dockerd',
      'ide-1: the probe did not report from it (no task ran there)',
      'ide-2: Down, not Ready',
      'gpu-1: availability Drain, so its engine could not be checked (docker node update --availability active gpu-1)',
      'gpu-2: not in the swarm (docker node ls on the manager lists mgr-1, ide-1, ide-2, gpu-1)',
    ]);
  });

  it('with encrypted overlays (the default), names every node whose kernel cannot do ESP, with what ip xfrm said; without them, does not ask', () => {
    const noEsp = new Map(NAMES.map((name) => [name, name.startsWith('ide-') ? { noNewPrivs: '1', esp: 'Error: Requested type not found.' } : sound]));
    const message = (node: string) =>
      `${node}: its kernel cannot do ESP (IPsec) with AES-GCM (ip xfrm: Error: Requested type not found.), and swarm.encryptOverlays is on: ` +
      'an encrypted overlay would drop traffic between nodes without an error. Give the node a kernel with ESP (esp4, rfc4106(gcm(aes))), or, outside production, set swarm.encryptOverlays: false';
    expect(estate.swarm!.encryptOverlays).toBe(true);
    expect(preflightProblems(estate, healthy(), noEsp)).toEqual([message('ide-1'), message('ide-2')]);
    expect(preflightProblems(unencrypted, healthy(), noEsp)).toEqual([]);
  });

  it("says why the probe could not run on a node, and for an image it could not pull, that the estate's images go into the registry first", () => {
    const probes = new Map(NAMES.filter((name) => name.startsWith('mgr') || name.startsWith('gpu')).map((name) => [name, sound]));
    const pullError = `No such image: ${estate.images.codeServer}`;
    expect(preflightProblems(estate, healthy(), probes, new Map([['ide-1', pullError], ['ide-2', 'starting container failed: OCI runtime create failed']]))).toEqual([
      `ide-1: the probe could not run there: ${pullError}. The probe is the estate's IDE image (images.codeServer, ${estate.images.codeServer}), which every node pulls from swarm.registry: pin the estate's images there first (npm run images:pin)`,
      'ide-2: the probe could not run there: starting container failed: OCI runtime create failed',
    ]);
  });

  it("reads the probe's lines, and nothing else from the job's log", () => {
    expect(parseProbeLine('webide-preflight: ide-1 NoNewPrivs=1 ESP=ok')).toEqual({ node: 'ide-1', probe: { noNewPrivs: '1', esp: 'ok' } });
    expect(parseProbeLine('webide-preflight: gpu-1 NoNewPrivs=0 ESP=Error: Requested AEAD algorithm not found. ')).toEqual({
      node: 'gpu-1',
      probe: { noNewPrivs: '0', esp: 'Error: Requested AEAD algorithm not found.' },
    });
    expect(parseProbeLine('webide-preflight: gpu-1 NoNewPrivs=1 ESP=')).toEqual({ node: 'gpu-1', probe: { noNewPrivs: '1', esp: 'no answer' } });
    expect(parseProbeLine('sh: 1: ip: not found')).toBeUndefined();
  });

  it('refuses an estate on one Docker engine', () => {
    expect(preflightProblems(defaultEstate(), healthy(), allSet())).toEqual(["the estate's target is docker: the preflight is the swarm target's"]);
  });
});

describe('npm run swarm:preflight: waiting for the probe job', () => {
  it('counts nodes, not tasks: two ended tasks on one node leave a node whose task has not ended still waited for', () => {
    const ps = ['swarm-m1|Rejected 2 seconds ago', 'swarm-m1|Rejected 4 seconds ago', 'swarm-w2|Complete 1 second ago', 'swarm-w1|Preparing 3 seconds ago', '|Pending 1 second ago', ''].join('\n');
    const ended = nodesWithEndedProbe(ps);
    expect([...ended].sort()).toEqual(['swarm-m1', 'swarm-w2']);
    expect(['swarm-m1', 'swarm-w1', 'swarm-w2'].every((node) => ended.has(node))).toBe(false);
    expect([...nodesWithEndedProbe(`${ps}\nswarm-w1|Failed 1 second ago`)].sort()).toEqual(['swarm-m1', 'swarm-w1', 'swarm-w2']);
  });
});
