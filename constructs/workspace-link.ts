import { Construct } from 'constructs';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';
import { AI_GATEWAY_HOST } from './naming';

export interface WorkspaceLinkProps {
  /** nginx's container name and id (a new id means nginx was recreated: link again). */
  readonly nginxName: string;
  readonly nginxId: string;
  readonly networkName: string;
  readonly dockerHost: string;
  /**
   * False for a user without a network (archived or retired): the resource block stays in
   * the configuration with no instance, because Terraform runs a destroy-time provisioner
   * only while its block is still configured. Without it, archiving a user would never
   * disconnect nginx, and Docker would refuse to remove the user's network.
   * @default true
   */
  readonly linked?: boolean;
}

/**
 * Joins nginx to one user's private network (alias ai-gateway) without recreating
 * nginx: provider 3.6.2 never reads networks back, so a link per user keeps a roster
 * edit to that user's own resources. Runs the docker CLI on the Terraform runner.
 */
export class WorkspaceLink extends Construct {
  constructor(scope: Construct, id: string, props: WorkspaceLinkProps) {
    super(scope, id);
    new NullResource(this, 'link', {
      count: props.linked === false ? 0 : undefined,
      triggers: {
        container: props.nginxName,
        container_id: props.nginxId,
        network: props.networkName,
        alias: AI_GATEWAY_HOST,
        docker_host: props.dockerHost,
      },
      provisioners: [
        {
          type: 'local-exec',
          command: NETWORK_CONNECT,
          environment: { DOCKER_HOST: props.dockerHost, NETWORK: props.networkName, CONTAINER: props.nginxName, ALIAS: AI_GATEWAY_HOST },
        },
        {
          type: 'local-exec',
          when: 'destroy',
          command: NETWORK_DISCONNECT,
          environment: { DOCKER_HOST: '${self.triggers.docker_host}', NETWORK: '${self.triggers.network}', CONTAINER: '${self.triggers.container}' },
        },
      ],
    });
  }
}

/** Connects nginx to a workspace network; succeeds if it is connected already. */
const NETWORK_CONNECT =
  'docker network connect --alias "$ALIAS" "$NETWORK" "$CONTAINER" 2>/dev/null || ' +
  'docker network inspect --format "{{range .Containers}}{{.Name}} {{end}}" "$NETWORK" | tr " " "\\n" | grep -qx "$CONTAINER"';
/** Disconnects nginx; fails only if nginx is still on the network afterwards (gone already is fine). */
const NETWORK_DISCONNECT =
  'docker network disconnect --force "$NETWORK" "$CONTAINER" 2>/dev/null || ' +
  '! docker network inspect --format "{{range .Containers}}{{.Name}} {{end}}" "$NETWORK" 2>/dev/null | tr " " "\\n" | grep -qx "$CONTAINER"';
