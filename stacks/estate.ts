import { App, Aspects } from 'cdktf';
import { EstatePolicyPack } from '../policy/pack';
import { ESTATE_RULES } from '../policy/rules';
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
  /** The policy pack applied to every stack; lists the suppressions it honoured after synth. */
  readonly policy: EstatePolicyPack;
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
 * platform (databases, Keycloak, AI services, nginx) → identity (realm, client, users,
 * through nginx) and workspaces (one IDE per user, linked to nginx) → edge (oauth2-proxy,
 * which needs the identity stack's client).
 */
export function buildEstate(app: App, props: BuildEstateProps): EstateStacks {
  if (props.estate.target !== 'docker') {
    // These stacks run everything on one engine; building them for a swarm would deploy the wrong estate.
    throw new Error(`target ${props.estate.target}: the Swarm target is being built and nothing deploys it yet; these stacks are the docker target's (the default: remove target, or set target: docker)`);
  }
  const common = (id: string) => ({
    estate: props.estate,
    roster: props.roster,
    stateFile: `${props.stateDir}/terraform.${id}.tfstate`,
  });
  const platform = new PlatformStack(app, 'platform', common('platform'));
  const identity = new IdentityStack(app, 'identity', common('identity'));
  identity.addDependency(platform);
  const workspaces = new WorkspacesStack(app, 'workspaces', {
    ...common('workspaces'),
    nginxContainerId: platform.nginx.proxy.container.id,
    egressProxyContainerId: platform.egressProxy?.proxy.container.id,
  });
  workspaces.addDependency(platform);
  const edge = new EdgeStack(app, 'edge', {
    ...common('edge'),
    oidcClientId: identity.oidcClientId,
    oidcClientSecret: identity.oidcClientSecret,
  });
  edge.addDependency(identity);

  const { estate } = props;
  const policy = new EstatePolicyPack({
    rules: ESTATE_RULES,
    context: {
      profile: estate.profile,
      hostPathAllowList: [
        estate.tls.certificateFile,
        estate.tls.keyFile,
        estate.models.chat.hostPath,
        estate.models.completion.hostPath,
        ...(estate.operations.audit.forward ? [estate.operations.audit.forward.caFile] : []),
        ...(estate.operations.backup?.repository.startsWith('/') ? [estate.operations.backup.repository] : []),
        // The bank's CA certificates, mounted read-only into every IDE.
        ...(estate.egress?.services.map((service) => service.caFile) ?? []),
      ],
    },
    suppressions: estate.suppressions,
  });
  for (const stack of [platform, identity, workspaces, edge]) Aspects.of(stack).add(policy);
  return { platform, identity, workspaces, edge, policy };
}
