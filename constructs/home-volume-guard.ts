import { Construct } from 'constructs';
import { TerraformLocal, TerraformOutput } from 'cdktf';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';

export interface HomeVolumeGuardProps {
  /** Every username that has a home volume: active, suspended and archived users. */
  readonly usernames: readonly string[];
  /** Users whose homes were deleted on purpose (roster `retired`); they may leave. */
  readonly retiredUsernames: readonly string[];
  /** This stack's own state file (local backend): the guard reads which users the last apply recorded. */
  readonly stateFile: string;
}

/** Output that records the users with home volumes; the next plan compares against it. */
export const HOME_VOLUME_USERS_OUTPUT = 'home_volume_users';

/**
 * Fails the plan when a user who has a home volume vanishes from the roster.
 *
 * Terraform never owns home volumes, so nothing is deleted either way; the guard
 * stops the roster and the volumes from drifting apart silently. It reads the
 * users recorded by the previous apply (from this stack's own state) and refuses
 * any plan that drops one of them.
 */
export class HomeVolumeGuard extends Construct {
  constructor(scope: Construct, id: string, props: HomeVolumeGuardProps) {
    super(scope, id);
    const usernames = [...props.usernames].sort();

    // What the previous apply recorded, read from this stack's own state file. Not
    // terraform_remote_state: a first deploy has no state (an error there), and a
    // locking plan creates the file empty before it reads it. (Written as HCL: cdktf's
    // Fn/Op helpers render a literal 0 as `undefined` in 0.21.)
    // A local, because Terraform wants a condition to refer to some object.
    const previous = new TerraformLocal(
      this,
      'recorded-home-volume-users',
      `\${try(jsondecode(file(${JSON.stringify(props.stateFile)})).outputs.${HOME_VOLUME_USERS_OUTPUT}.value, [])}`,
    );
    const recorded = `local.${previous.friendlyUniqueId}`;
    const allowed = JSON.stringify([...usernames, ...props.retiredUsernames]);
    const vanished = `sort(tolist(setsubtract(toset(${recorded}), toset(${allowed}))))`;

    new NullResource(this, 'check', {
      lifecycle: {
        precondition: [
          {
            condition: `\${length(${vanished}) == 0}`,
            errorMessage:
              `Users removed from the roster still have home volumes: \${join(", ", ${vanished})}. ` +
              'Nothing was changed. To remove their IDE but keep their files, put them back in the roster with ' +
              '"state: archived". To delete a home for good, follow "Retiring a user for good" in the README ' +
              '(back up and delete the volume, then list the user under "retired" with a reason).',
          },
        ],
      },
    });

    new TerraformOutput(this, HOME_VOLUME_USERS_OUTPUT, {
      value: usernames,
      description: 'Users with a home volume (the volume guard compares the next roster against this list).',
    }).overrideLogicalId(HOME_VOLUME_USERS_OUTPUT);
  }
}
