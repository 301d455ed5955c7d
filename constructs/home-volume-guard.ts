import { Construct } from 'constructs';
import { DataTerraformRemoteStateLocal, TerraformOutput } from 'cdktf';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';

export interface HomeVolumeGuardProps {
  /** Every username that has a home volume: active, suspended and archived users. */
  readonly usernames: readonly string[];
  /** Users whose homes were deleted on purpose (roster `retired`); they may leave. */
  readonly retiredUsernames: readonly string[];
  /** This stack's own state file: the guard reads which users the last apply knew. */
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

    const previous = new DataTerraformRemoteStateLocal(this, 'previous', {
      path: props.stateFile,
      defaults: { [HOME_VOLUME_USERS_OUTPUT]: [] },
    });
    // The first deploy has no state file, and reading a missing local state is an
    // error: read it only when it exists. (Written as HCL: cdktf's Fn/Op helpers
    // render a literal 0 as `undefined` in 0.21.)
    previous.addOverride('count', `\${fileexists(${JSON.stringify(props.stateFile)}) ? 1 : 0}`);
    const data = `data.terraform_remote_state.${previous.friendlyUniqueId}`;
    const recorded = `(length(${data}) > 0 ? ${data}[0].outputs.${HOME_VOLUME_USERS_OUTPUT} : [])`;
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
