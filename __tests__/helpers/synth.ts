import { App, Testing, TerraformStack } from 'cdktf';
import { EstateConfig } from '../../config/estate';
import { Roster } from '../../config/roster';
import { buildEstate, EstateStacks, STACK_IDS } from '../../stacks/estate';
import { StackJson } from './json';

export { resourcesOf } from './json';


export function stackJson(stack: TerraformStack): StackJson {
  return JSON.parse(Testing.synth(stack));
}

/** Every stack of an estate, synthesized with a fixed state directory so output is reproducible. */
export function synthEstate(estate: EstateConfig, roster: Roster): Record<(typeof STACK_IDS)[number], StackJson> & { stacks: EstateStacks } {
  const app: App = Testing.app();
  const stacks = buildEstate(app, { estate, roster, stateDir: '/var/lib/webide/state' });
  return {
    stacks,
    platform: stackJson(stacks.platform),
    identity: stackJson(stacks.identity),
    workspaces: stackJson(stacks.workspaces),
    edge: stackJson(stacks.edge),
  };
}

