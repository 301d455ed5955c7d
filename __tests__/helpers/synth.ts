import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Testing, TerraformStack } from 'cdktf';
import { EstateConfig } from '../../config/estate';
import { Roster } from '../../config/roster';
import { buildEstate, EstateStacks, STACK_IDS } from '../../stacks/estate';
import { StackJson } from './json';

export { resourcesOf } from './json';


export function stackJson(stack: TerraformStack): StackJson {
  return JSON.parse(Testing.synth(stack));
}

/**
 * Every stack of an estate, synthesized by a real `app.synth()` (so cross-stack
 * references become remote-state reads, as in `cdktf synth`) with a fixed state
 * directory so output is reproducible.
 */
export function synthEstate(
  estate: EstateConfig,
  roster: Roster,
  /** How the app is synthesized, e.g. the way main.ts does it. @default app.synth() */
  synthesize: (app: App, stacks: EstateStacks) => void = (app) => app.synth(),
): Record<(typeof STACK_IDS)[number], StackJson> & { stacks: EstateStacks } {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-synth-'));
  try {
    const app = new App({ outdir, skipValidation: false });
    const stacks = buildEstate(app, { estate, roster, stateDir: '/var/lib/webide/state' });
    synthesize(app, stacks);
    const read = (id: string): StackJson => JSON.parse(fs.readFileSync(path.join(outdir, 'stacks', id, 'cdk.tf.json'), 'utf8'));
    return { stacks, platform: read('platform'), identity: read('identity'), workspaces: read('workspaces'), edge: read('edge') };
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * Every stack of an estate (the workspace shard stacks included), synthesized as `synthEstate`
 * does, as its cdk.tf.json text by stack id, in deploy order.
 */
export function synthAllStacks(estate: EstateConfig, roster: Roster): Map<string, string> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-synth-'));
  try {
    const app = new App({ outdir, skipValidation: false });
    const { all } = buildEstate(app, { estate, roster, stateDir: '/var/lib/webide/state' });
    app.synth();
    return new Map(all.map((stack) => [stack.node.id, fs.readFileSync(path.join(outdir, 'stacks', stack.node.id, 'cdk.tf.json'), 'utf8')]));
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}
