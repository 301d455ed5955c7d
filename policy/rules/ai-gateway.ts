import { NGINX_PATHS } from '../../constructs/nginx-entry';
import { INTERNAL_PORTS } from '../../constructs/naming';
import { AI_GATEWAY_ROUTES, AiGatewayRoute } from '../../render/ai-gateway';
import { LITELLM_SECRET_ENV } from '../../render/litellm';
import { gatewayMethodPattern, gatewayProxyPassTarget } from '../../render/nginx';
import { allDirectives, FORWARDING_DIRECTIVES, NginxDirective, NginxLocation, locationsOf, parseNginxConf, serversListeningOn } from '../nginx-conf';
import { attributesOf, Compliance, filesOf, labelMap, PolicyRule } from '../rule';

/** The platform stack's variable that holds LiteLLM's master key. */
export const LITELLM_MASTER_KEY_VARIABLE = 'litellm_master_key';

const forwards = (directives: readonly NginxDirective[]) => allDirectives(directives).filter((d) => FORWARDING_DIRECTIVES.includes(d.name));

/** An allow-listed route, forwarded exactly as render/nginx.ts does: its path, its methods, its upstream path. */
function isAllowListed(location: NginxLocation, allowList: readonly AiGatewayRoute[]): boolean {
  const route = allowList.find((r) => location.modifier === '=' && r.path === location.path);
  if (!route) return false;
  const passes = forwards(location.block);
  const guard = location.block.find(
    (d) =>
      d.name === 'if' &&
      d.args.join(' ') === `($request_method !~ ${gatewayMethodPattern(route)})` &&
      (d.block ?? []).length === 1 &&
      d.block![0].name === 'return' &&
      d.block![0].args[0] === '404',
  );
  return passes.length === 1 && passes[0].name === 'proxy_pass' && passes[0].args[0] === gatewayProxyPassTarget(route) && guard !== undefined;
}

/** Paths the AI gateway forwards that are not on the allow-list (empty when it is closed). */
export function gatewayViolations(nginxConf: string, allowList: readonly AiGatewayRoute[] = AI_GATEWAY_ROUTES): string[] {
  let tree: NginxDirective[];
  try {
    tree = parseNginxConf(nginxConf);
  } catch (error) {
    return [`nginx.conf cannot be read: ${(error as Error).message}`];
  }
  const out: string[] = [];
  for (const server of serversListeningOn(tree, INTERNAL_PORTS.aiGateway)) {
    const block = server.block ?? [];
    if (block.some((d) => FORWARDING_DIRECTIVES.includes(d.name))) out.push('server-level forwarding');
    for (const location of locationsOf(server)) {
      if (forwards(location.block).length === 0) continue; // answers itself (404)
      if (!isAllowListed(location, allowList)) out.push(`location ${location.modifier ? `${location.modifier} ` : ''}${location.path}`);
    }
  }
  return out.sort();
}

/** Where the nginx container is given LiteLLM's master key: env entries and uploaded files. */
export function masterKeyExposures(env: readonly string[], uploads: readonly { file: string; content: string }[]): string[] {
  const mentions = (text: string) => text.includes(`var.${LITELLM_MASTER_KEY_VARIABLE}`) || new RegExp(`\\$\\{?${LITELLM_SECRET_ENV.masterKey}\\b`).test(text);
  return [
    ...env.filter((entry) => entry.startsWith(`${LITELLM_SECRET_ENV.masterKey}=`) || mentions(entry)).map((entry) => `env ${entry.split('=')[0]}`),
    ...uploads.filter((u) => mentions(u.content)).map((u) => `file ${u.file}`),
  ];
}

export const aiGatewayClosed: PolicyRule = {
  id: 'WEBIDE-A1',
  summary: "The AI gateway forwards only the allow-listed AI endpoints (exact paths and methods) and never holds LiteLLM's master key.",
  fix: 'Add the endpoint to AI_GATEWAY_ROUTES (render/ai-gateway.ts) instead of a location by hand; give nginx the litellm_gateway_key, never litellm_master_key.',
  check: (node) => {
    const c = attributesOf(node, 'docker_container');
    if (!c || labelMap(c)['webide.component'] !== 'nginx') return Compliance.NOT_APPLICABLE;
    // nginx's own files and those of the loader whose volume it mounts (ManagedFiles).
    const uploads = filesOf(node);
    const env: string[] = c.env ?? [];
    const conf = uploads.find((u) => u.file === NGINX_PATHS.config);
    const violations = [...(conf ? gatewayViolations(conf.content) : []), ...masterKeyExposures(env, uploads)];
    return violations.length > 0 ? Compliance.NON_COMPLIANT : Compliance.COMPLIANT;
  },
};

/**
 * What the AI gateway of an nginx.conf forwards, one line per location, e.g.
 * `POST /v1/chat/completions`, or `any /v1/ (prefix)` for a location outside the
 * allow-list's shape. For the plan report.
 */
export function gatewayForwards(nginxConf: string): string[] {
  let tree: NginxDirective[];
  try {
    tree = parseNginxConf(nginxConf);
  } catch {
    return ['(nginx.conf cannot be read)'];
  }
  const out: string[] = [];
  for (const server of serversListeningOn(tree, INTERNAL_PORTS.aiGateway)) {
    for (const location of locationsOf(server)) {
      if (forwards(location.block).length === 0) continue;
      const guard = location.block.find((d) => d.name === 'if' && d.args[0] === '($request_method' && d.args[1] === '!~');
      const methods = /^\^\(([A-Z|]+)\)\$\)$/.exec(guard?.args[2] ?? '')?.[1]?.split('|').join(',') ?? 'any';
      const shape = location.modifier === '=' ? '' : location.modifier === '' ? ' (prefix)' : ` (${location.modifier})`;
      out.push(`${methods} ${location.path}${shape}`);
    }
  }
  return [...new Set(out)].sort();
}
