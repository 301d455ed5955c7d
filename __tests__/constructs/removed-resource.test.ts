import { Testing, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';
import { RemovedResource } from '../../constructs/removed-resource';
import { removedOf, resourcesOf, StackJson } from '../helpers/json';

/** One stack with a null_resource at users/<name>/link for each linked name and a removed block for the others. */
function synth(linked: readonly string[], unlinked: readonly string[]): StackJson {
  const stack = new TerraformStack(Testing.app(), 'links');
  const users = new Construct(stack, 'users');
  for (const name of linked) new NullResource(new Construct(users, name), 'link', {});
  for (const name of unlinked) new RemovedResource(new Construct(users, name), 'link', { resourceType: 'null_resource', destroyProvisioners: [{ command: 'true' }] });
  return JSON.parse(Testing.synth(stack));
}

describe('RemovedResource', () => {
  it("names the address the resource construct at the same path had, so unlinking a user destroys that user's instance", () => {
    const linked = [...resourcesOf(synth(['alice', 'bob'], [])).keys()];
    const removed = [...removedOf(synth(['bob'], ['alice'])).keys()];
    expect(removed).toHaveLength(1);
    expect(removed[0]).toMatch(/^null_resource\.users_alice_link_[0-9A-F]{8}$/);
    expect(linked).toContain(removed[0]);
  });

  it('asks Terraform to destroy (not forget) the instance and runs each command at destroy time, with its environment only where given', () => {
    const stack = new TerraformStack(Testing.app(), 'links');
    new RemovedResource(stack, 'link', {
      resourceType: 'null_resource',
      destroyProvisioners: [{ command: 'first' }, { command: 'second', environment: { NETWORK: '${self.triggers.network}' } }],
    });
    const [block] = removedOf(JSON.parse(Testing.synth(stack))).values();
    expect(block.lifecycle).toEqual({ destroy: true });
    expect(block.provisioner).toEqual([
      { 'local-exec': { command: 'first', when: 'destroy' } },
      { 'local-exec': { command: 'second', environment: { NETWORK: '${self.triggers.network}' }, when: 'destroy' } },
    ]);
  });
});
