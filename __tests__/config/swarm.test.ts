import { loadEstate, loadInputs } from '../../config/load';
import { ConfigError, formatIssue } from '../../config/source';
import { ideNodesOf } from '../../config/swarm';
import { assetText, estateErrors, estateWithBlock, withoutBackup, withoutEgress } from '../helpers/inputs';
import { SWARM_BLOCK as SWARM, withDigests, withRegistryImage } from '../helpers/swarm';

const SAMPLE = assetText('estate.yaml');
const ESTATE = withDigests(SAMPLE);

/** The sample as the swarm target can deploy it (loadInputs refuses the rest: swarmDeployableRules), with the swarm block. */
const DEPLOYABLE_SWARM = estateWithBlock(withDigests(withoutBackup(withoutEgress(SAMPLE))).replace('profile: production', 'profile: local'), SWARM, []);

/** The digest-pinned sample estate with the swarm block above, edited by each [search, replacement] (each must be there). */
function withSwarm(...edits: [string, string][]): string {
  return estateWithBlock(ESTATE, SWARM, edits);
}

/** `estate.yaml:<line>:<col>` of `token` on the first line at or after line `from` (1-based) that holds `line`. */
function at(text: string, line: string, token: string = line, from = ESTATE.split('\n').length): string {
  const lines = text.split('\n');
  const index = lines.findIndex((l, i) => i >= from - 1 && l.includes(line));
  if (index < 0 || !lines[index].includes(token)) throw new Error(`no line with "${line}" and "${token}"`);
  return `estate.yaml:${index + 1}:${lines[index].indexOf(token) + 1}`;
}

/** The line number alone of `at`. */
const lineOf = (text: string, line: string) => at(text, line).split(':')[1];

describe('the deployment target', () => {
  it('is docker when the file names none, with no swarm section: the single-host estate, unchanged', () => {
    expect(SAMPLE).not.toMatch(/^(target|swarm):/m);
    const estate = loadEstate({ file: 'estate.yaml', text: SAMPLE });
    expect(estate.target).toBe('docker');
    expect('swarm' in estate).toBe(false);
    expect(loadEstate({ file: 'estate.yaml', text: `${SAMPLE}target: docker\n` })).toEqual(estate);
  });

  it('accepts a swarm: nodes in file order, the registry port and encrypted overlays by default', () => {
    const estate = loadEstate({ file: 'estate.yaml', text: withSwarm(['    port: 5000\n', ''], ['  encryptOverlays: true\n', '']) });
    expect(estate.target).toBe('swarm');
    expect(estate.swarm).toEqual({
      encryptOverlays: true,
      registry: { host: 'mirror.bank.internal', port: 5000, caFile: '/etc/webide/registry-ca.pem' },
      nodes: [
        { name: 'mgr-1', role: 'manager' },
        { name: 'ide-1', role: 'ide', ideCapacity: 40 },
        { name: 'ide-2', role: 'ide', ideCapacity: 20 },
        { name: 'gpu-1', role: 'gpu', gpuIds: ['0'] },
        { name: 'gpu-2', role: 'gpu', gpuIds: ['1', '2', '3'] },
      ],
    });
    expect(ideNodesOf(estate.swarm!)).toEqual([{ name: 'ide-1', ideCapacity: 40 }, { name: 'ide-2', ideCapacity: 20 }]);
  });

  it('accepts both model servers on one gpu node, GPUs named by UUID, and a node with a digit first', () => {
    const text = withSwarm(['      gpuIds: ["0"]', '      gpuIds: ["GPU-6f1c2d3e-0000-4000-8000-000000000001"]'], ['"1", "2", "3"', '"0", "1", "2", "3"'], ['name: mgr-1', 'name: 01-mgr']);
    expect(estateErrors(text)).toEqual([]);
  });

  it('accepts workspaces.shards with target swarm (its IDEs then go in shard stacks, as on one host)', () => {
    const text = withSwarm().replace('  allowFileTransfer: false\n', '  allowFileTransfer: false\n  shards: 4\n');
    expect(text).toContain('  shards: 4\n');
    expect(estateErrors(text)).toEqual([]);
    expect(loadEstate({ file: 'estate.yaml', text }).workspaces.shards).toBe(4);
  });

  it('in the local profile: unencrypted overlays and tagged images are accepted (the GPU-less test tier)', () => {
    const text = `${SAMPLE.replace('profile: production', 'profile: local')}\n${SWARM.replace('encryptOverlays: true', 'encryptOverlays: false')}`;
    expect(loadEstate({ file: 'estate.yaml', text }).swarm!.encryptOverlays).toBe(false);
  });

  describe('fails, naming the file, line, column and field', () => {
    /** Where an error is: `at` of the first line holding `line`, after the sample estate (or after the line holding `after`). */
    const on = (line: string, token: string, after?: string) => (text: string) => at(text, line, token, after === undefined ? undefined : Number(lineOf(text, after)) + 1);
    const inGpus = (token: string) => (text: string) => at(text, 'vllm: ["1", "2"]', token, 1);
    it.each<[string, [string, string][], (text: string) => string, string, string]>([
      ['a node name listed twice', [['name: ide-2', 'name: ide-1']], on('- name: ide-1', 'name', '- name: ide-1'), 'swarm.nodes.ide-1.name', "node 'ide-1' is listed twice (first on line FIRST_IDE)"],
      ['an ide node without ideCapacity', [['      ideCapacity: 20\n', '']], on('- name: ide-2', 'name'), 'swarm.nodes.ide-2', "missing required key 'ideCapacity' for role ide (how many IDEs fit on the node)"],
      ['ideCapacity on a gpu node', [['      gpuIds: ["0"]\n', '      gpuIds: ["0"]\n      ideCapacity: 5\n']], on('ideCapacity: 5', 'ideCapacity'), 'swarm.nodes.gpu-1.ideCapacity', 'only a node that runs IDEs (an ide node, or a manager that runs IDEs too) takes ideCapacity (this one is gpu): remove it, or set role: ide'],
      ['a gpu node without gpuIds', [['      gpuIds: ["1", "2", "3"]\n', ''], ['["0"]', '["0", "1", "2", "3"]']], on('- name: gpu-2', 'name'), 'swarm.nodes.gpu-2', "missing required key 'gpuIds' for role gpu (the node's GPUs the model servers may use)"],
      ['gpuIds on an ide node', [['      ideCapacity: 20\n', '      ideCapacity: 20\n      gpuIds: ["GPU-abc"]\n']], on('gpuIds: ["GPU-abc"]', 'gpuIds'), 'swarm.nodes.ide-2.gpuIds', 'only a gpu node takes gpuIds (this one is ide): remove them, or set role: gpu'],
      ['no manager', [['role: manager', 'role: ide\n      ideCapacity: 1']], on('nodes:', 'nodes'), 'swarm.nodes', "needs at least one node with role: manager (the swarm's control plane)"],
      ['a GPU index on two nodes', [['["1", "2", "3"]', '["0", "1", "2", "3"]']], on('"0", "1"', '"0"'), 'swarm.nodes.gpu-2.gpuIds.0',
        "GPU '0' is also on node gpu-1 (line GPU_1_IDS): a GPU is on one node only; GPU indexes repeat on every host: name each node's GPUs by their GPU-<uuid> (nvidia-smi -L)"],
      ['a GPU UUID on two nodes', [['["0"]', '["0", "GPU-abc"]'], ['["1", "2", "3"]', '["1", "2", "GPU-abc"]']], on('"1", "2", "GPU-abc"', '"GPU-abc"'), 'swarm.nodes.gpu-2.gpuIds.2', "GPU 'GPU-abc' is also on node gpu-1 (line GPU_1_IDS): a GPU is on one node only"],
      ['a GPU listed twice on one node', [['["1", "2", "3"]', '["1", "2", "3", "2"]']], on('"3", "2"', '"2"]'), 'swarm.nodes.gpu-2.gpuIds.3', "GPU '2' is listed twice for this node"],
      ['a model server GPU on no node', [['["1", "2", "3"]', '["1", "3"]']], inGpus('"2"'), 'gpus.vllm.1', "GPU '2' of vllm is on no gpu node: add it to the gpuIds of the swarm node that has it"],
      ["a model server's GPUs on two nodes", [['["0"]', '["0", "1"]'], ['["1", "2", "3"]', '["2", "3"]']], inGpus('vllm'), 'gpus.vllm', 'vllm runs on one node, but its GPUs are on 2 (1 on gpu-1; 2 on gpu-2): give it GPUs of one gpu node'],
      ['unencrypted overlays in production', [['encryptOverlays: true', 'encryptOverlays: false']], on('encryptOverlays', 'encryptOverlays'), 'swarm.encryptOverlays',
        "must be true in the production profile: unencrypted overlays carry IDE sessions, code and prompts between nodes in clear. Encrypted overlays need the kernel's ESP (IPsec) support on every node; a test tier without it uses profile: local"],
      ['a node name that is not a DNS label', [['name: ide-2', 'name: IDE_2']], on('name: IDE_2', 'name'), 'swarm.nodes.IDE_2.name', "must be the node's hostname, a lowercase DNS label (a-z, 0-9 and -, not starting or ending with -, at most 63)"],
      ['an ideCapacity of 0', [['ideCapacity: 20', 'ideCapacity: 0']], on('ideCapacity: 0', 'ideCapacity'), 'swarm.nodes.ide-2.ideCapacity', 'Too small: expected number to be >=1'],
      ['an empty gpuIds list', [['["0"]', '[]'], ['["1", "2", "3"]', '["0", "1", "2", "3"]']], on('gpuIds: []', 'gpuIds'), 'swarm.nodes.gpu-1.gpuIds', 'must list at least one GPU'],
      ['a registry host that is not a DNS name', [['host: mirror.bank.internal', 'host: "https://mirror"']], on('host:', 'host'), 'swarm.registry.host', 'must be a DNS name such as mirror.bank.internal (its certificate must name it)'],
      ['a relative registry CA file', [['caFile: /etc/webide/registry-ca.pem', 'caFile: registry-ca.pem']], on('caFile', 'caFile'), 'swarm.registry.caFile', 'must be an absolute path on the Docker hosts'],
      ['a registry port out of range', [['port: 5000', 'port: 70000']], on('port: 70000', 'port'), 'swarm.registry.port', 'Too big: expected number to be <=65535'],
    ])('%s', (_label, edits, where, path, message) => {
      const text = withSwarm(...edits);
      const expected = message.replace('FIRST_IDE', lineOf(text, '- name: ide-1')).replace('GPU_1_IDS', lineOf(text, 'gpuIds: ["0"'));
      expect(estateErrors(text)).toEqual([`${where(text)}: ${path}: ${expected}`]);
    });

    it('on a misspelt node key, suggesting the known one', () => {
      const text = withSwarm(['ideCapacity: 20', 'ideCapacty: 20']);
      expect(estateErrors(text)).toEqual([
        `${at(text, '- name: ide-2', 'name')}: swarm.nodes.ide-2: missing required key 'ideCapacity' for role ide (how many IDEs fit on the node)`,
        `${at(text, 'ideCapacty', 'ideCapacty')}: swarm.nodes.ide-2.ideCapacty: unknown key 'ideCapacty' (did you mean 'ideCapacity'?)`,
      ]);
    });

    it('on an unknown role, naming the roles there are', () => {
      const text = withSwarm(['role: manager', 'role: leader']);
      expect(estateErrors(text)).toEqual([
        `${at(text, 'role: leader', 'role')}: swarm.nodes.mgr-1.role: Invalid option: expected one of "manager"|"ide"|"gpu"`,
        `${at(text, 'nodes:', 'nodes')}: swarm.nodes: needs at least one node with role: manager (the swarm's control plane)`,
      ].sort(byLine));
    });

    it('on an even number of managers (no more losses survived than with one fewer)', () => {
      const two = withSwarm(['      role: ide\n      ideCapacity: 40\n', '      role: manager\n      ideCapacity: 40\n']);
      expect(estateErrors(two)).toEqual([`${at(two, 'nodes:', 'nodes')}: swarm.nodes: has 2 managers: the swarm runs only while more than half of them are up, so 2 survive the loss of none, as 1 would. Use an odd number (1, 3 or 5)`]);
      const four = withSwarm(
        ['      role: ide\n      ideCapacity: 40\n', '      role: manager\n      ideCapacity: 40\n'],
        ['      role: ide\n      ideCapacity: 20\n', '      role: manager\n      ideCapacity: 20\n'],
        ['      role: gpu\n      gpuIds: ["0"]\n', '      role: manager\n    - name: gpu-1b\n      role: gpu\n      gpuIds: ["0"]\n'],
      );
      expect(estateErrors(four)).toEqual([`${at(four, 'nodes:', 'nodes')}: swarm.nodes: has 4 managers: the swarm runs only while more than half of them are up, so 4 survive the loss of 1, as 3 would. Use an odd number (1, 3 or 5)`]);
    });

    it('on a swarm without an ide node', () => {
      const text = withSwarm(['      role: ide\n      ideCapacity: 40\n', '      role: manager\n'], ['      role: ide\n      ideCapacity: 20\n', '      role: manager\n']);
      expect(estateErrors(text)).toEqual([`${at(text, 'nodes:', 'nodes')}: swarm.nodes: needs at least one node that runs the users' IDEs: role: ide, or a manager with an ideCapacity`]);
    });

    it('takes a manager with an ideCapacity as a node that runs IDEs: placed on and pinned to like an ide node', () => {
      const text = withSwarm(['      role: ide\n      ideCapacity: 40\n', '      role: manager\n'], ['      role: ide\n      ideCapacity: 20\n', '      role: manager\n'], ['name: mgr-1\n      role: manager\n', 'name: mgr-1\n      role: manager\n      ideCapacity: 7\n']);
      expect(estateErrors(text)).toEqual([]);
      expect(ideNodesOf(loadEstate({ file: 'estate.yaml', text }).swarm!)).toEqual([{ name: 'mgr-1', ideCapacity: 7 }]);
    });

    it('on a swarm section without target swarm, explicit or by default', () => {
      const block = SWARM.replace('target: swarm\n', '');
      const implicit = `${ESTATE}\n${block}`;
      const message = 'swarm: only target: swarm takes a swarm section (the target is docker, the default): set target: swarm, or remove the section';
      expect(estateErrors(implicit)).toEqual([`${at(implicit, 'swarm:', 'swarm')}: ${message}`]);
      const explicit = `${ESTATE}\ntarget: docker\n${block}`;
      expect(estateErrors(explicit)).toEqual([`${at(explicit, 'swarm:', 'swarm')}: ${message}`]);
    });

    it('on target swarm without a swarm section', () => {
      const text = `${ESTATE}\ntarget: swarm\n`;
      expect(estateErrors(text)).toEqual([`${at(text, 'target: swarm', 'target')}: target: target swarm needs a swarm section (nodes, registry): add it, or remove target (the default is docker, one engine)`]);
    });

    it('on an unknown target', () => {
      const text = `${ESTATE}\ntarget: kubernetes\n`;
      expect(estateErrors(text)).toEqual([`${at(text, 'target: kubernetes', 'target')}: target: Invalid option: expected one of "docker"|"swarm"`]);
    });

    it('on every image without a digest, with target swarm in the production profile', () => {
      const text = `${SAMPLE}\n${SWARM}`;
      const images = [...SAMPLE.matchAll(/^ {2}(\w+): \S+$/gm)].filter((m) => SAMPLE.indexOf(m[0]) > SAMPLE.indexOf('\nimages:') && SAMPLE.indexOf(m[0]) < SAMPLE.indexOf('\ngpus:'));
      expect(images).toHaveLength(12);
      const message = 'target swarm in the production profile needs every image by digest (name:tag@sha256:<digest>): each node pulls the image itself, and a tag can name other bytes on another node';
      expect(estateErrors(text)).toEqual(images.map((m) => `${at(text, m[0], m[1], 1)}: images.${m[1]}: ${message}`));
      // The Docker target leaves this to the policy rule WEBIDE-I1 (which the sample waives).
      expect(estateErrors(SAMPLE)).toEqual([]);
    });
  });

  describe('the registry the estate runs itself (swarm.registry.serve)', () => {
    const SERVE = '    caFile: /etc/webide/registry-ca.pem\n    serve:\n      certificateFile: /etc/webide/registry.pem\n      keyFile: /etc/webide/registry.key\n';
    const withImage = (text: string) => withRegistryImage(text);

    it('takes its TLS files from the node and its image from images.registry', () => {
      const estate = loadEstate({ file: 'estate.yaml', text: withImage(withSwarm(['    caFile: /etc/webide/registry-ca.pem\n', SERVE])).replace('profile: production', 'profile: local') });
      expect(estate.swarm!.registry).toEqual({
        host: 'mirror.bank.internal',
        port: 5000,
        caFile: '/etc/webide/registry-ca.pem',
        serve: { certificateFile: '/etc/webide/registry.pem', keyFile: '/etc/webide/registry.key' },
      });
      expect(estate.images.registry).toBe('webide-local/registry:2.8.2');
      // The bank runs it: nothing to serve.
      expect(loadEstate({ file: 'estate.yaml', text: withSwarm() }).swarm!.registry.serve).toBeUndefined();
    });

    it('refuses serve without images.registry, images.registry without serve (on either target), and relative TLS paths, all at once', () => {
      const noImage = withSwarm(['    caFile: /etc/webide/registry-ca.pem\n', SERVE.replace('keyFile: /etc/webide/registry.key', 'keyFile: registry.key')]);
      expect(estateErrors(noImage)).toEqual([
        `${at(noImage, 'images:', 'images', 1)}: images: missing required key 'registry' (the docker-registry image the estate runs; swarm.registry.serve is set)`,
        `${at(noImage, 'keyFile: registry.key', 'keyFile')}: swarm.registry.serve.keyFile: must be an absolute path on the Docker hosts`,
      ]);
      const message = 'only a swarm estate that runs its own registry (swarm.registry.serve) takes images.registry: remove it, or add serve';
      const unserved = withImage(withSwarm()).replace('profile: production', 'profile: local');
      expect(estateErrors(unserved)).toEqual([`${at(unserved, 'registry: webide-local', 'registry', 1)}: images.registry: ${message}`]);
      const oneHost = withImage(SAMPLE);
      expect(estateErrors(oneHost)).toEqual([`${at(oneHost, 'registry: webide-local', 'registry', 1)}: images.registry: ${message}`]);
    });
  });

  it('reports every problem at once, in file order, with those of other sections', () => {
    const text = withSwarm(
      ['encryptOverlays: true', 'encryptOverlays: false'],
      ['caFile: /etc/webide/registry-ca.pem', 'caFile: ca.pem'],
      ['      ideCapacity: 40\n', ''],
      ['["1", "2", "3"]', '["0", "2", "3"]'],
    ).replace('httpPort: 80', 'httpPort: 443');
    const from = 1;
    expect(estateErrors(text)).toEqual([
      `${at(text, 'httpPort: 443', 'httpPort', from)}: httpPort: must differ from httpsPort`,
      `${at(text, 'vllm: ["1", "2"]', '"1"', from)}: gpus.vllm.0: GPU '1' of vllm is on no gpu node: add it to the gpuIds of the swarm node that has it`,
      `${at(text, 'encryptOverlays', 'encryptOverlays')}: swarm.encryptOverlays: must be true in the production profile: unencrypted overlays carry IDE sessions, code and prompts between nodes in clear. Encrypted overlays need the kernel's ESP (IPsec) support on every node; a test tier without it uses profile: local`,
      `${at(text, 'caFile: ca.pem', 'caFile')}: swarm.registry.caFile: must be an absolute path on the Docker hosts`,
      `${at(text, '- name: ide-1', 'name')}: swarm.nodes.ide-1: missing required key 'ideCapacity' for role ide (how many IDEs fit on the node)`,
      `${at(text, '"0", "2"', '"0"')}: swarm.nodes.gpu-2.gpuIds.0: GPU '0' is also on node gpu-1 (line ${lineOf(text, 'gpuIds: ["0"]')}): a GPU is on one node only; GPU indexes repeat on every host: name each node's GPUs by their GPU-<uuid> (nvidia-smi -L)`,
    ]);
  });
});

describe("a roster user's node (the swarm target only)", () => {
  const ROSTER = 'groups:\n  - name: developers\nusers:\n  - username: alice\n    email: alice@corp.example\n    name: Alice Kim\n    node: NODE\n  - { username: bob, email: bob@corp.example, name: Bob Lee }\n';
  const roster = (node: string) => ({ file: 'roster.yaml', text: ROSTER.replace('NODE', node) });
  const errors = (estate: string, node: string) => {
    try {
      loadInputs({ file: 'estate.yaml', text: estate }, roster(node));
      return [];
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return error.issues.map(formatIssue);
    }
  };

  it('pins the user to an ide node; users without one have no node', () => {
    const { roster: users } = loadInputs({ file: 'estate.yaml', text: DEPLOYABLE_SWARM }, roster('ide-2'));
    expect(users.users.map((u) => [u.username, u.node])).toEqual([['alice', 'ide-2'], ['bob', undefined]]);
    expect('node' in users.users[1]).toBe(false);
  });

  it.each([
    ['with the docker target', SAMPLE, 'ide-1', "only the swarm target places IDEs on nodes (this estate's target is docker): remove node"],
    ['naming a gpu node', DEPLOYABLE_SWARM, 'gpu-1', "'gpu-1' is a gpu node: pin the user to an ide node (ide-1, ide-2)"],
    ['naming a manager', DEPLOYABLE_SWARM, 'mgr-1', "'mgr-1' is a manager node without an ideCapacity: pin the user to an ide node (ide-1, ide-2)"],
    ['naming no node of the swarm', DEPLOYABLE_SWARM, 'ide-9', "no swarm node is named 'ide-9': pin the user to an ide node (ide-1, ide-2)"],
    ['that is not a DNS label', DEPLOYABLE_SWARM, 'Ide_1', "must be the node's hostname, a lowercase DNS label (a-z, 0-9 and -, not starting or ending with -, at most 63)"],
  ])('fails %s, naming the file, line, column and field', (_label, estate, node, message) => {
    expect(errors(estate, node)).toEqual([`roster.yaml:7:5: users.alice.node: ${message}`]);
  });
});

function byLine(a: string, b: string): number {
  const [, la, ca] = a.split(':').map(Number);
  const [, lb, cb] = b.split(':').map(Number);
  return la - lb || ca - cb;
}
