import { Construct } from 'constructs';
import { Resource as NullResource } from '@cdktf/provider-null/lib/resource';
import { RemovedResource } from './removed-resource';

/**
 * How a linked service knows whose network a request came from: a directory of one file per
 * address (`<address>.conf`), each naming the user whose network that address is on, read by the
 * service on SIGHUP. The texts are shell commands printing the file to stdout, with `$ip` (the
 * service's address on the user's network) and `$USERNAME` set.
 */
export interface UserMapFormat {
  /** Where the files go inside the service's container (a root-owned volume: the service cannot change it). */
  readonly dir: string;
  /** Prints the file that maps `$ip` to `$USERNAME`. */
  readonly entryShell: string;
  /** Prints the file that makes `$ip` unknown again (written before the service leaves the network). */
  readonly unlinkedShell: string;
}

export interface WorkspaceLinkProps {
  /** The service's container name and id (a new id means it was recreated: link again). */
  readonly containerName: string;
  readonly containerId: string;
  readonly networkName: string;
  /** The service's name on the user's network (ai-gateway, egress-proxy). */
  readonly alias: string;
  /** The user the network belongs to: the service attributes requests from it to them. */
  readonly username: string;
  readonly userMap: UserMapFormat;
  readonly dockerHost: string;
  /**
   * False for a user whose network the service must not be on (suspended, archived, retired, or
   * linked from another stack): a `removed` block at the link's address takes the resource's
   * place (RemovedResource), with the same disconnect as its destroy-time provisioner, because
   * Terraform runs one only while a block for the address is still configured. Without it,
   * archiving a user would never disconnect the service, and Docker would refuse to remove the
   * user's network.
   * @default true
   */
  readonly linked?: boolean;
}

/**
 * Joins a shared service (nginx, the egress proxy) to one user's private network under its alias
 * without recreating the service (a change to a container's networks_advanced replaces it), so a
 * link per user keeps a roster edit to that user's own resources. Runs the docker CLI on the
 * Terraform runner.
 *
 * It also records the service's address on the network as the user's in the service's user map
 * (`<address>.conf`, by docker cp: root-owned, the service cannot change it) and has the service
 * reload it (SIGHUP). The service attributes a request to the user whose network it arrived on. The
 * file is named by the address, so a later network that gets the same address overwrites it;
 * unlinking neutralises it before the service leaves the network.
 */
export class WorkspaceLink extends Construct {
  constructor(scope: Construct, id: string, props: WorkspaceLinkProps) {
    super(scope, id);
    // What the state recorded at link time, not this synthesis's values: the service may have been renamed since.
    const unlink = {
      command: networkDisconnect(props.userMap),
      environment: {
        DOCKER_HOST: '${self.triggers.docker_host}',
        NETWORK: '${self.triggers.network}',
        CONTAINER: '${self.triggers.container}',
        MAP_DIR: props.userMap.dir,
      },
    };
    if (props.linked === false) {
      new RemovedResource(this, 'link', { resourceType: 'null_resource', destroyProvisioners: [unlink] });
      return;
    }
    new NullResource(this, 'link', {
      triggers: {
        container: props.containerName,
        container_id: props.containerId,
        network: props.networkName,
        alias: props.alias,
        username: props.username,
        docker_host: props.dockerHost,
      },
      provisioners: [
        {
          type: 'local-exec',
          command: networkConnect(props.userMap),
          environment: {
            DOCKER_HOST: props.dockerHost,
            NETWORK: props.networkName,
            CONTAINER: props.containerName,
            ALIAS: props.alias,
            USERNAME: props.username,
            MAP_DIR: props.userMap.dir,
          },
        },
        { type: 'local-exec', when: 'destroy', ...unlink },
      ],
    });
  }
}

/** The container's address on $NETWORK into $ip (empty when it is not on it). */
const CONTAINER_ADDRESS = 'ip=$(docker inspect --format "{{with index .NetworkSettings.Networks \\"$NETWORK\\"}}{{.IPAddress}}{{end}}" "$CONTAINER" 2>/dev/null)';
/** Writes $MAP_DIR/$ip.conf in the container with what `print` prints (docker cp of a one-file tar), then has it reload. */
function writeMapFile(print: string): string {
  return (
    `tmp=$(mktemp -d) && { ${print}; } >"$tmp/$ip.conf" && chmod 0644 "$tmp/$ip.conf" && ` +
    'tar -C "$tmp" -cf - "$ip.conf" | docker cp - "$CONTAINER:$MAP_DIR"; rc=$?; rm -rf "$tmp"; ' +
    '[ "$rc" = 0 ] && docker kill --signal HUP "$CONTAINER" >/dev/null'
  );
}
/** Connects the container to a workspace network (or finds it connected), then maps its address there to the user. */
function networkConnect(map: UserMapFormat): string {
  return (
    '{ docker network connect --alias "$ALIAS" "$NETWORK" "$CONTAINER" 2>/dev/null || ' +
    'docker network inspect --format "{{range .Containers}}{{.Name}} {{end}}" "$NETWORK" | tr " " "\\n" | grep -qx "$CONTAINER"; } && ' +
    `${CONTAINER_ADDRESS} && [ -n "$ip" ] && ${writeMapFile(map.entryShell)}`
  );
}
/**
 * Unmaps the container's address on the network (when it still has one), then disconnects it;
 * fails only if it is still on the network afterwards (gone already is fine).
 */
function networkDisconnect(map: UserMapFormat): string {
  return (
    `${CONTAINER_ADDRESS}; if [ -n "$ip" ]; then ${writeMapFile(map.unlinkedShell)} || exit 1; fi; ` +
    'docker network disconnect --force "$NETWORK" "$CONTAINER" 2>/dev/null || ' +
    '! docker network inspect --format "{{range .Containers}}{{.Name}} {{end}}" "$NETWORK" 2>/dev/null | tr " " "\\n" | grep -qx "$CONTAINER"'
  );
}
