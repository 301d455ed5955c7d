import { loadEstate } from '../../config/load';
import { moveHome, moveHomeRefusals, parseMoveHomeArgs } from '../../scripts/swarm-move-home';
import { assetText, defaultEstate, rosterFromText, withoutEgress } from '../helpers/inputs';
import { SWARM_BLOCK, withDigests } from '../helpers/swarm';

const estate = loadEstate({ file: 'estate.yaml', text: `${withDigests(withoutEgress(assetText('estate.yaml')))}\n${SWARM_BLOCK}` });
const roster = rosterFromText(
  `groups:\n  - name: developers\nusers:\n  - { username: alice, email: alice@corp.example, name: Alice Kim, groups: [developers], node: ide-1 }\n`,
  estate,
);

describe('npm run swarm:move-home: arguments', () => {
  it('takes the user and the new node, with the defaults', () => {
    expect(parseMoveHomeArgs(['alice', 'ide-2'], {})).toEqual({
      args: { username: 'alice', to: 'ide-2', from: undefined, yes: false, estateFile: 'assets/estate.yaml', rosterFile: 'assets/roster.yaml', timeoutSeconds: 3600 },
    });
    expect(parseMoveHomeArgs(['alice', 'ide-2', '--from', 'ide-1', '--yes', '--timeout', '60'], { ESTATE_FILE: 'e.yaml', ROSTER_FILE: 'r.yaml' })).toEqual({
      args: { username: 'alice', to: 'ide-2', from: 'ide-1', yes: true, estateFile: 'e.yaml', rosterFile: 'r.yaml', timeoutSeconds: 60 },
    });
  });

  it('reports every problem at once', () => {
    expect(parseMoveHomeArgs(['Alice', 'Ide_2', 'extra', '--from', '--yes', '--timeout', '5', '--force'], {})).toEqual({
      errors: [
        '--from needs a value',
        'unknown option --force',
        '"Alice": not a username (a lowercase DNS label)',
        '<to-node> "Ide_2": not a node name (a lowercase DNS label)',
        'unexpected argument extra',
        '--timeout 5: whole seconds, 10 to 86400',
      ],
    });
    expect(parseMoveHomeArgs([], {})).toEqual({ errors: ['name the user whose home moves', 'name the node the home moves to'] });
  });
});

describe('npm run swarm:move-home: what it refuses', () => {
  it('refuses a docker estate, a user not in the roster, a node that runs no IDEs, and a move to where the home is', () => {
    const docker = defaultEstate();
    expect(moveHomeRefusals(docker, rosterFromText('groups: []\nusers: []\n', docker), 'alice', 'ide-2', undefined)).toEqual(["the estate's target is docker: homes move between nodes on the swarm target only"]);
    expect(moveHomeRefusals(estate, roster, 'bob', 'gpu-1', 'mgr-1')).toEqual([
      'bob is not a user of the roster (retired users have no home)',
      'the new node gpu-1 runs no IDEs (those that do: ide-1, ide-2)',
      '--from mgr-1 runs no IDEs (those that do: ide-1, ide-2)',
    ]);
    expect(moveHomeRefusals(estate, roster, 'alice', 'ide-1', 'ide-1')).toEqual(['the home is already on ide-1']);
    expect(moveHomeRefusals(estate, roster, 'alice', 'ide-2', 'ide-1')).toEqual([]);
  });

  it('without --yes says what it would do and runs nothing that changes the swarm', async () => {
    const calls: string[][] = [];
    const docker = (...args: string[]) => {
      calls.push(args);
      if (args.join(' ') === 'service inspect webide-ide-alice') return { status: 0, out: '[]' };
      if (args[0] === 'service' && args[1] === 'inspect') return { status: 0, out: '["node.hostname==ide-1"]' };
      throw new Error(`unexpected docker ${args.join(' ')}`);
    };
    const lines: string[] = [];
    await moveHome(estate, roster, { username: 'alice', to: 'ide-2', yes: false, estateFile: 'e', rosterFile: 'r', timeoutSeconds: 60 }, docker, (line) => lines.push(line));
    expect(calls.every((args) => args[1] === 'inspect')).toBe(true);
    expect(lines[0]).toBe("would move alice's home from ide-1 to ide-2 (nothing done; add --yes):");
    expect(lines.slice(1).join('\n')).toMatch(/stop webide-ide-alice[\s\S]*encrypted[\s\S]*on ide-2: webide-move-alice-to, receiving into webide-home-alice \(refused unless that home is empty\)[\s\S]*on ide-1: webide-move-alice-from/);
  });

  it('needs --from when the user has no IDE service to read the node from', async () => {
    const docker = () => ({ status: 1, out: 'Error: no such service' });
    await expect(moveHome(estate, roster, { username: 'alice', to: 'ide-2', yes: true, estateFile: 'e', rosterFile: 'r', timeoutSeconds: 60 }, docker, () => undefined)).rejects.toThrow(
      'alice has no IDE service (archived?): say which node the home is on with --from <node>',
    );
  });
});
