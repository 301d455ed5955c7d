import { USERNAME_PATTERN } from '../config/roster';

/**
 * The user forwarder of the Swarm target: a small nginx per user, the one thing on the user's
 * private overlay besides the IDE, and on the shared gateway overlay too. On one host nginx joins
 * every user network itself (a `docker network connect`); a Swarm service cannot join a network
 * without being updated, and updating the one nginx for a roster edit would restart it and drop
 * everyone's sessions. So each user gets this forwarder instead, and nothing shared ever changes.
 *
 * Two listeners, both plain HTTP inside overlays:
 * - `aiPort`: the IDE's AI clients call `ai-gateway` (the forwarder's alias on the user's network);
 *   it passes the call to the AI gateway, naming the user in `X-Webide-User` (set here, so the IDE
 *   cannot choose it: whatever the client sent is replaced).
 * - `idePort`: the browser's IDE traffic, from the entry point on the gateway network, to the IDE.
 *
 * The forwarder's targets are fixed by this file: a user cannot make it connect anywhere else.
 * Names are looked up at request time (Docker's DNS), so a rescheduled IDE or gateway is found again.
 */
export interface UserForwarderInput {
  readonly username: string;
  /** The IDE's service name and port on the user's network. */
  readonly ide: { readonly host: string; readonly port: number };
  /** The AI gateway's service name and port on the gateway network. */
  readonly gateway: { readonly host: string; readonly port: number };
  /** Where the forwarder listens: `ai` for the IDE, `ide` for the entry point. */
  readonly listen: { readonly ai: number; readonly ide: number };
}

/** Docker's embedded DNS server, in every container on a user-defined network. */
export const DOCKER_DNS = '127.0.0.11';
/** nginx's temporary files on the tmpfs: the Swarm target's nginx services have a read-only root. */
export const NGINX_TMP_PATHS = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path /tmp/${kind};`).join('\n');
/** Longest AI answer (streamed); as the AI gateway's own limit on one host. */
const AI_READ_TIMEOUT = '300s';
/** An open IDE session (a websocket) may stay idle this long. */
const IDE_READ_TIMEOUT = '1d';

/** nginx.conf of one user's forwarder (run as `nginx -c <file> -g 'daemon off; pid /tmp/nginx.pid;'`). */
export function renderUserForwarderConf(input: UserForwarderInput): string {
  const { username, ide, gateway, listen } = input;
  if (!USERNAME_PATTERN.test(username)) throw new Error(`renderUserForwarderConf: '${username}' is not a roster username`);
  return `# The user forwarder of ${username} (webide-estate, Swarm target): render/user-forwarder.ts.
worker_processes 1;
error_log stderr warn;
events { worker_connections 1024; }
http {
  server_tokens off;
  access_log off;
${NGINX_TMP_PATHS}
  resolver ${DOCKER_DNS} valid=10s ipv6=off;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }

  # The IDE's AI calls, to the AI gateway, as ${username}'s.
  server {
    listen ${listen.ai};
    client_max_body_size 16m;
    location / {
      set $gateway http://${gateway.host}:${gateway.port};
      proxy_pass $gateway;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Webide-User "${username}";
      proxy_buffering off;
      proxy_read_timeout ${AI_READ_TIMEOUT};
    }
  }

  # The browser's IDE session, from the entry point, to ${username}'s IDE.
  server {
    listen ${listen.ide};
    client_max_body_size 64m;
    location / {
      set $ide http://${ide.host}:${ide.port};
      proxy_pass $ide;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_buffering off;
      proxy_read_timeout ${IDE_READ_TIMEOUT};
    }
  }
}
`;
}
