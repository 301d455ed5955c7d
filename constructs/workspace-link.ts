import { Construct } from 'constructs';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';
import { AI_GATEWAY_HOST } from './naming';
import { NGINX_PATHS } from './nginx-entry';

export interface WorkspaceLinkProps {
  /** nginx's container name and id (a new id means nginx was recreated: link again). */
  readonly nginxName: string;
  readonly nginxId: string;
  readonly networkName: string;
  /** The user the network belongs to: the AI gateway attributes requests from it to them. */
  readonly username: string;
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
 * nginx (a change to a container's networks_advanced replaces it), so a link per user keeps a roster
 * edit to that user's own resources. Runs the docker CLI on the Terraform runner.
 *
 * It also records nginx's address on the network as the user's in the AI gateway's user map
 * (`<address>.conf` in nginx's gateway-users volume, by docker cp: root-owned, nginx cannot
 * change it) and has nginx reload it. The gateway attributes a request to the user whose
 * network it arrived on. The file is named by the address, so a later network that gets the
 * same address overwrites it; unlinking neutralises it before nginx leaves the network.
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
        username: props.username,
        docker_host: props.dockerHost,
      },
      provisioners: [
        {
          type: 'local-exec',
          command: NETWORK_CONNECT,
          environment: {
            DOCKER_HOST: props.dockerHost,
            NETWORK: props.networkName,
            CONTAINER: props.nginxName,
            ALIAS: AI_GATEWAY_HOST,
            USERNAME: props.username,
            MAP_DIR: NGINX_PATHS.gatewayUsersDir,
          },
        },
        {
          type: 'local-exec',
          when: 'destroy',
          command: NETWORK_DISCONNECT,
          environment: {
            DOCKER_HOST: '${self.triggers.docker_host}',
            NETWORK: '${self.triggers.network}',
            CONTAINER: '${self.triggers.container}',
            MAP_DIR: NGINX_PATHS.gatewayUsersDir,
          },
        },
      ],
    });
  }
}

/** nginx's address on $NETWORK into $ip (empty when it is not on it). */
const NGINX_ADDRESS = 'ip=$(docker inspect --format "{{with index .NetworkSettings.Networks \\"$NETWORK\\"}}{{.IPAddress}}{{end}}" "$CONTAINER" 2>/dev/null)';
/** Writes $MAP_DIR/$ip.conf in nginx with the text in $line (docker cp of a one-file tar), then has nginx reload. */
const WRITE_MAP_ENTRY =
  'tmp=$(mktemp -d) && printf "%s\\n" "$line" >"$tmp/$ip.conf" && chmod 0644 "$tmp/$ip.conf" && ' +
  'tar -C "$tmp" -cf - "$ip.conf" | docker cp - "$CONTAINER:$MAP_DIR"; rc=$?; rm -rf "$tmp"; ' +
  '[ "$rc" = 0 ] && docker kill --signal HUP "$CONTAINER" >/dev/null';
/** Connects nginx to a workspace network (or finds it connected), then maps its address there to the user. */
const NETWORK_CONNECT =
  '{ docker network connect --alias "$ALIAS" "$NETWORK" "$CONTAINER" 2>/dev/null || ' +
  'docker network inspect --format "{{range .Containers}}{{.Name}} {{end}}" "$NETWORK" | tr " " "\\n" | grep -qx "$CONTAINER"; } && ' +
  `${NGINX_ADDRESS} && [ -n "$ip" ] && line="\\"$ip\\" $USERNAME;" && ${WRITE_MAP_ENTRY}`;
/**
 * Unmaps nginx's address on the network (when it still has one), then disconnects nginx; fails
 * only if nginx is still on the network afterwards (gone already is fine).
 */
const NETWORK_DISCONNECT =
  `${NGINX_ADDRESS}; if [ -n "$ip" ]; then line="# $ip: unlinked"; ${WRITE_MAP_ENTRY} || exit 1; fi; ` +
  'docker network disconnect --force "$NETWORK" "$CONTAINER" 2>/dev/null || ' +
  '! docker network inspect --format "{{range .Containers}}{{.Name}} {{end}}" "$NETWORK" 2>/dev/null | tr " " "\\n" | grep -qx "$CONTAINER"';
