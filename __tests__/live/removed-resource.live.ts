import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, LocalBackend, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { NullProvider } from '@cdktf/provider-null/lib/provider';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';
import { DestroyCommand, RemovedResource } from '../../constructs/removed-resource';
import { mustTerraform, plannedChanges, terraformEnv, withoutHash } from './terraform';

jest.setTimeout(300_000);

/**
 * RemovedResource with the real terraform and null provider: what WorkspaceLink relies on when a
 * user is unlinked (a resource's destroy-time provisioner still runs once its block is gone).
 */
describe('a removed block in place of a resource (real terraform)', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'live-removed-'));
  const stackDir = path.join(work, 'stack');
  const marker = path.join(work, 'unlinked');
  const env = terraformEnv();
  // Writes the destroyed instance's trigger, as the links' disconnect reads the network from it.
  const unlink: DestroyCommand = { command: 'printf %s "$NETWORK" > "$MARKER"', environment: { NETWORK: '${self.triggers.network}', MARKER: marker } };

  /** The stack with alice's link as a resource (linked) or as a removed block. */
  function synth(linked: boolean): void {
    const outdir = fs.mkdtempSync(path.join(work, 'out-'));
    const app = new App({ outdir });
    const stack = new TerraformStack(app, 'links');
    new LocalBackend(stack, { path: path.join(work, 'terraform.tfstate') });
    new NullProvider(stack, 'null');
    const alice = new Construct(new Construct(stack, 'users'), 'alice');
    if (linked) {
      new NullResource(alice, 'link', { triggers: { network: 'webide-user-alice' }, provisioners: [{ type: 'local-exec', when: 'destroy', ...unlink }] });
    } else {
      new RemovedResource(alice, 'link', { resourceType: 'null_resource', destroyProvisioners: [unlink] });
    }
    app.synth();
    fs.mkdirSync(stackDir, { recursive: true });
    fs.copyFileSync(path.join(outdir, 'stacks', 'links', 'cdk.tf.json'), path.join(stackDir, 'cdk.tf.json'));
  }

  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it('does nothing where the state holds nothing at its address', () => {
    synth(false);
    mustTerraform(stackDir, ['init', '-input=false'], env);
    mustTerraform(stackDir, ['validate'], env);
    expect(plannedChanges(stackDir, env)).toEqual([]);
  });

  it("destroys what the state holds at the resource's address, running the destroy provisioner with the instance's own triggers; the next plan is empty", () => {
    synth(true);
    mustTerraform(stackDir, ['apply', '-auto-approve', '-input=false'], env);
    expect(fs.existsSync(marker)).toBe(false);
    synth(false);
    expect(plannedChanges(stackDir, env).map(({ address, actions }) => [withoutHash(address), actions])).toEqual([['null_resource.users_alice_link', ['delete']]]);
    mustTerraform(stackDir, ['apply', '-auto-approve', '-input=false'], env);
    expect(fs.readFileSync(marker, 'utf8')).toBe('webide-user-alice');
    expect(plannedChanges(stackDir, env)).toEqual([]);
    expect(JSON.parse(fs.readFileSync(path.join(work, 'terraform.tfstate'), 'utf8')).resources).toEqual([]);
  });
});
