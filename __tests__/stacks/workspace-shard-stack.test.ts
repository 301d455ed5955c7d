import { Testing } from 'cdktf';
import { WorkspaceShardStack } from '../../stacks/workspace-shard-stack';
import { WorkspacesStack } from '../../stacks/workspaces-stack';
import { defaultEstate, rosterFromText } from '../helpers/inputs';
import { removedOf, resourcesOf, StackJson } from '../helpers/json';

const ROSTER = `groups:
  - name: developers
users:
  - { username: alice, email: alice@corp.example, name: Alice Kim, groups: [developers] }
  - { username: bob, email: bob@corp.example, name: Bob Lee, groups: [developers], state: suspended }
  - { username: carol, email: carol@corp.example, name: Carol Park, groups: [developers] }
  - { username: erin, email: erin@corp.example, name: Erin Yoon, groups: [developers], state: archived }
retired:
  - { username: dave, reason: "CHG-1234: left the bank, home backed up" }
`;
const estate = defaultEstate((text) => text.replace('  allowFileTransfer: false\n', '  allowFileTransfer: false\n  shards: 4\n'));
const roster = rosterFromText(ROSTER, estate);

/** A shard stack holding alice, bob and erin, and retired dave (the unsharded stack's construct paths). */
function synthShard(): StackJson {
  const stack = new WorkspaceShardStack(Testing.app(), 'workspaces-ws-02', {
    estate,
    stateFile: '/state/terraform.workspaces-ws-02.tfstate',
    shard: 'ws-02',
    users: roster.users.filter((user) => user.username !== 'carol'),
    retiredUsernames: ['dave'],
    nginxContainerId: 'nginx-container-id',
    egressProxyContainerId: 'egress-proxy-container-id',
  });
  return JSON.parse(Testing.synth(stack));
}

/** The same users in the one workspaces stack of an unsharded estate. */
function synthUnsharded(): StackJson {
  const one = defaultEstate();
  const stack = new WorkspacesStack(Testing.app(), 'workspaces', {
    estate: one,
    roster: rosterFromText(ROSTER.replace('  - { username: carol, email: carol@corp.example, name: Carol Park, groups: [developers] }\n', ''), one),
    stateFile: '/state/terraform.workspaces.tfstate',
    nginxContainerId: 'nginx-container-id',
    egressProxyContainerId: 'egress-proxy-container-id',
  });
  return JSON.parse(Testing.synth(stack));
}

const withoutHash = (key: string) => key.replace(/_[0-9A-F]{8}$/, '');

describe('WorkspaceShardStack', () => {
  it("holds its users' IDEs, networks and links and its retired users' removed link blocks, at the unsharded stack's addresses", () => {
    const shard = [...resourcesOf(synthShard())].filter(([key]) => key.includes('.users_'));
    const unsharded = [...resourcesOf(synthUnsharded())].filter(([key]) => key.includes('.users_'));
    // The same resources under the same logical ids (construct paths below the stack are the same).
    expect(shard.map(([key]) => key)).toEqual(unsharded.map(([key]) => key));
    expect(shard.map(([key]) => key).some((key) => key.includes('carol'))).toBe(false);
    // Dave is retired: his links are removed blocks, which disconnect the services if the state still holds them.
    expect(shard.some(([key]) => key.includes('_dave_'))).toBe(false);
    const removed = [...removedOf(synthShard()).keys()].filter((from) => from.includes('_dave_')).map(withoutHash);
    expect(removed.sort()).toEqual(['null_resource.users_dave_egress-link', 'null_resource.users_dave_nginx-link']);
    expect([...removedOf(synthShard()).keys()].sort()).toEqual([...removedOf(synthUnsharded()).keys()].filter((from) => !from.includes('carol')).sort());
  });

  it('has its own code-server image and managed files, named by the shard, and no roster-wide part', () => {
    const json = synthShard();
    const resources = resourcesOf(json);
    expect([...resources.keys()].filter((key) => !key.includes('.users_')).map(withoutHash)).toEqual([
      'docker_container.ide-managed-files_loader',
      'docker_image.code-server-image',
      'docker_volume.ide-managed-files_volume',
      'null_resource.shard-count-guard_check',
    ]);
    const names = [...resources.values()].map((body) => body.name).filter(Boolean);
    expect(names).toEqual(expect.arrayContaining(['webide-managed-workspace-ws-02-loader', expect.stringMatching(/^webide-managed-workspace-ws-02-[0-9a-f]{12}$/)]));
    expect(Object.keys(json.output as object)).toEqual(['workspace_shards']);
    expect(json.variable).toBeUndefined();
    expect((json.terraform as { backend: unknown }).backend).toEqual({ local: { path: '/state/terraform.workspaces-ws-02.tfstate' } });
  });

  it('guards its own state file against a change of workspaces.shards', () => {
    const json = synthShard();
    expect(Object.values(json.locals as object)).toEqual(['${try(jsondecode(file("/state/terraform.workspaces-ws-02.tfstate")).outputs.workspace_shards.value, 4)}']);
    expect((json.output as Record<string, { value: number }>).workspace_shards.value).toBe(4);
  });

  it('needs the egress proxy container id when egress is configured', () => {
    expect(
      () =>
        new WorkspaceShardStack(Testing.app(), 'workspaces-ws-01', {
          estate,
          stateFile: 'x.tfstate',
          shard: 'ws-01',
          users: roster.users,
          retiredUsernames: [],
          nginxContainerId: 'nginx-container-id',
        }),
    ).toThrow('egress is set: a workspaces stack needs the egress proxy container id (egressProxyContainerId)');
  });
});
