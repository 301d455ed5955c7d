import { Testing, TerraformStack } from 'cdktf';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';
import { ShardCountGuard, WORKSPACE_SHARDS_OUTPUT } from '../../constructs/shard-count-guard';

function synthGuard(shardCount: number) {
  const stack = new TerraformStack(Testing.app(), 'workspaces-ws-01');
  new ShardCountGuard(stack, 'shard-count-guard', { shardCount, stateFile: '/state/terraform.workspaces-ws-01.tfstate' });
  const synthesized = Testing.synth(stack);
  return { synthesized, json: JSON.parse(synthesized) };
}

describe('ShardCountGuard', () => {
  it("records the shard count in an output of the stack's own state", () => {
    const { json } = synthGuard(3);
    expect(json.output[WORKSPACE_SHARDS_OUTPUT]).toMatchObject({ value: 3 });
  });

  it('reads the count its last apply recorded from its own state file (none recorded: the current count, so a first apply passes)', () => {
    const { json } = synthGuard(3);
    const [[name, value]] = Object.entries(json.locals as Record<string, string>);
    expect(value).toBe('${try(jsondecode(file("/state/terraform.workspaces-ws-01.tfstate")).outputs.workspace_shards.value, 3)}');
    const [check] = Object.values(json.resource.null_resource) as Array<{ lifecycle: { precondition: Array<{ condition: string; error_message: string }> } }>;
    expect(check.lifecycle.precondition[0].condition).toBe(`\${local.${name} == 3}`);
  });

  it('fails the plan with what to do: set the count back, npm run shards:destroy, then set it again', () => {
    const { synthesized, json } = synthGuard(5);
    expect(synthesized).toHaveResource(NullResource);
    const [check] = Object.values(json.resource.null_resource) as Array<{ lifecycle: { precondition: Array<{ error_message: string }> } }>;
    const message = check.lifecycle.precondition[0].error_message;
    expect(message).toMatch(/^workspaces\.shards is 5, but this shard stack was last applied with \$\{local\.[\w-]+\}: users would move between shard stacks/);
    expect(message).toContain('Nothing was changed.');
    expect(message).toContain('run "npm run shards:destroy"');
    expect(message).toContain('then set it to 5 and deploy');
  });
});
