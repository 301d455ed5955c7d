import { Construct } from 'constructs';
import { TerraformLocal, TerraformOutput } from 'cdktf';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';

export interface HomePlacementGuardProps {
  /** Every user with a home (active, suspended, archived) and the node placement gives them now. */
  readonly placement: ReadonlyMap<string, string>;
  /** Users the roster pins (`node:`): a pin to another node is the engineer's move, made on purpose. */
  readonly pinned: ReadonlyMap<string, string>;
  /** This stack's own state file (local backend): the guard reads the nodes the last apply recorded. */
  readonly stateFile: string;
}

/** Output that records each user's node; the next plan compares against it. */
export const HOME_NODES_OUTPUT = 'home_nodes';

/**
 * On a swarm a user's home is a local volume on the node their IDE runs on, so a user who lands on
 * another node starts with an empty home there (the files stay behind, not lost, but not there).
 * This fails the plan when placement would move a user without the engineer saying so: a node
 * added, removed or re-weighted, or a pin removed. A move is made on purpose by copying the home
 * first (`npm run swarm:move-home`) and pinning the user to the new node in the roster; the guard
 * lets a pinned user's change through.
 *
 * It reads the nodes the previous apply recorded from this stack's own state (as HomeVolumeGuard
 * does) and refuses any plan that changes one of them, unless the roster pins the user there.
 */
export class HomePlacementGuard extends Construct {
  constructor(scope: Construct, id: string, props: HomePlacementGuardProps) {
    super(scope, id);
    const placement = Object.fromEntries([...props.placement].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const previous = new TerraformLocal(
      this,
      'recorded-home-nodes',
      `\${try(jsondecode(file(${JSON.stringify(props.stateFile)})).outputs.${HOME_NODES_OUTPUT}.value, {})}`,
    );
    const recorded = `local.${previous.friendlyUniqueId}`;
    const now = `local.${new TerraformLocal(this, 'home-nodes', placement).friendlyUniqueId}`;
    const pinned = `local.${new TerraformLocal(this, 'pinned-nodes', Object.fromEntries(props.pinned)).friendlyUniqueId}`;
    // Users still here whose node changes, where the roster does not pin them to the new node.
    const moved = `sort([for user, node in ${recorded} : "\${user} (\${node} → \${${now}[user]})" if contains(keys(${now}), user) && lookup(${now}, user, node) != node && lookup(${pinned}, user, "") != lookup(${now}, user, "")])`;

    new NullResource(this, 'check', {
      lifecycle: {
        precondition: [
          {
            condition: `\${length(${moved}) == 0}`,
            errorMessage:
              `Placement would move users off the node their home is on: \${join(", ", ${moved})}. Nothing was changed. ` +
              'A home is a volume on its node; a user placed elsewhere would start with an empty home. To keep them where they are, ' +
              'pin each to their node in the roster (node: <name>). To move one, copy the home first (npm run swarm:move-home -- <user> <node>), ' +
              'then pin the user to the new node; see "Moving a user to another node" in the README.',
          },
        ],
      },
    });

    new TerraformOutput(this, HOME_NODES_OUTPUT, {
      value: placement,
      description: "Each user's node, where their home is (the placement guard compares the next plan against it).",
    }).overrideLogicalId(HOME_NODES_OUTPUT);
  }
}
