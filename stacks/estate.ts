import { App } from 'cdktf';
import { EstateConfig } from '../config/estate';
import { Roster } from '../config/roster';
import { EdgeStack } from './edge-stack';
import { IdentityStack } from './identity-stack';
import { PlatformStack } from './platform-stack';
import { WorkspacesStack } from './workspaces-stack';

export interface EstateStacks {
  readonly platform: PlatformStack;
  readonly identity: IdentityStack;
  readonly workspaces: WorkspacesStack;
  readonly edge: EdgeStack;
}

export interface BuildEstateProps {
  readonly estate: EstateConfig;
  readonly roster: Roster;
  /** Where each stack keeps its state: `<stateDir>/terraform.<stack>.tfstate`. */
  readonly stateDir: string;
}

/** Stack ids are part of the contract: they name state files and `cdktf deploy` targets. */
export const STACK_IDS = ['platform', 'identity', 'workspaces', 'edge'] as const;

/**
 * The whole estate as four stacks, split by blast radius and deployed in this order:
 * platform (databases, Keycloak, AI services) → identity (realm, clients, users) →
 * workspaces (one IDE per user) → edge (nginx, oauth2-proxy).
 */
export function buildEstate(app: App, props: BuildEstateProps): EstateStacks {
  const common = (id: string) => ({
    estate: props.estate,
    roster: props.roster,
    stateFile: `${props.stateDir}/terraform.${id}.tfstate`,
  });
  const platform = new PlatformStack(app, 'platform', common('platform'));
  const identity = new IdentityStack(app, 'identity', common('identity'));
  identity.addDependency(platform);
  const workspaces = new WorkspacesStack(app, 'workspaces', common('workspaces'));
  workspaces.addDependency(platform);
  const edge = new EdgeStack(app, 'edge', {
    ...common('edge'),
    platformNetworks: platform.networks,
    workspaceNetworks: workspaces.workspaceNetworks,
    oidcClientId: identity.oidcClientId,
    oidcClientSecret: identity.oidcClientSecret,
  });
  edge.addDependency(identity);
  edge.addDependency(workspaces);
  return { platform, identity, workspaces, edge };
}
