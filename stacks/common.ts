import { LocalBackend, TerraformStack, TerraformVariable } from 'cdktf';
import { DockerProvider } from '../.gen/providers/docker/provider';
import { NullProvider } from '@cdktf/provider-null/lib/provider';
import { Image } from '../.gen/providers/docker/image';
import { Construct } from 'constructs';
import { EstateConfig } from '../config/estate';
import { Roster } from '../config/roster';
import { EstateNames } from '../constructs/naming';

/** What every stack of the estate is built from. */
export interface EstateStackProps {
  readonly estate: EstateConfig;
  readonly roster: Roster;
  /** This stack's Terraform state file (local backend). */
  readonly stateFile: string;
}

/**
 * Backend and providers, the same for every stack that manages containers: Docker, and null
 * for the local-exec steps the docker provider cannot do (pids limits, nginx's network links).
 */
export function useDocker(stack: TerraformStack, props: Pick<EstateStackProps, 'estate' | 'stateFile'>): void {
  new LocalBackend(stack, { path: props.stateFile });
  new DockerProvider(stack, 'docker', { host: props.estate.dockerHost });
  new NullProvider(stack, 'null');
}

/**
 * A pinned image, used from the host's local store (the closed network has no
 * registry to pull from at apply time). Destroy never deletes it.
 */
export function pinnedImage(scope: Construct, id: string, reference: string): Image {
  return new Image(scope, id, { name: reference, keepLocally: true });
}

export function estateNames(estate: EstateConfig): EstateNames {
  return new EstateNames(estate.name);
}

/**
 * A secret the operator supplies as TF_VAR_<name>. Declared at stack level, marked
 * sensitive, checked for a minimum length (and any extra rule) before anything runs.
 */
export function secretVariable(
  stack: TerraformStack,
  name: string,
  description: string,
  minLength: number,
  extra?: { condition: string; errorMessage: string },
): TerraformVariable {
  return new TerraformVariable(stack, name, {
    type: 'string',
    sensitive: true,
    nullable: false,
    description: `${description} Set TF_VAR_${name}; never commit it.`,
    validation: [
      { condition: `\${length(var.${name}) >= ${minLength}}`, errorMessage: `${name} must be at least ${minLength} characters.` },
      ...(extra ? [extra] : []),
    ],
  });
}
