/**
 * Planning a stack whose upstream stack is not applied yet (a first deployment).
 *
 * cdktf connects stacks through `terraform_remote_state`: the workspaces stack reads
 * nginx's container id from the platform stack's state, the edge stack the OIDC client
 * secret from the identity stack's. Before the upstream stack is applied its state does
 * not exist and Terraform refuses the plan ("Unable to find remote state"). For review,
 * the report plans such a stack against a stand-in upstream state whose outputs all read
 * `(known after <upstream> is applied)`, through a Terraform override file: everything
 * else in the plan is real. Pure functions; scripts/plan-report.ts does the I/O.
 */

/** The parts of a synthesized stack (cdk.tf.json) read here. */
export interface StackConfig {
  readonly data?: { readonly terraform_remote_state?: Record<string, { readonly backend?: string; readonly config?: { readonly path?: string } }> };
  readonly output?: Record<string, unknown>;
  readonly resource?: Record<string, Record<string, unknown>>;
  readonly terraform?: { readonly backend?: { readonly local?: { readonly path?: string } } };
}

/** Prefix cdktf gives the remote-state data source that reads another stack's outputs. */
const REMOTE_STATE_PREFIX = 'cross-stack-reference-input-';
/** Prefix cdktf gives the outputs other stacks read. */
const CROSS_STACK_OUTPUT_PREFIX = 'cross-stack-output-';

/** One remote-state read of a stack: which upstream stack, and the state file as the JSON names it. */
export interface UpstreamRead {
  /** Name of the `terraform_remote_state` data source. */
  readonly dataSource: string;
  readonly upstream: string;
  /** As written in the JSON: relative to the stack's directory, or absolute. */
  readonly statePath: string;
}

export function upstreamReads(config: StackConfig): UpstreamRead[] {
  return Object.entries(config.data?.terraform_remote_state ?? {})
    .filter(([name, body]) => name.startsWith(REMOTE_STATE_PREFIX) && body.backend === 'local' && typeof body.config?.path === 'string')
    .map(([name, body]) => ({ dataSource: name, upstream: name.slice(REMOTE_STATE_PREFIX.length), statePath: body.config!.path! }));
}

/**
 * Whether a state file's text records an applied stack: at least one resource. A missing
 * file, an empty one (a locking plan creates it empty before it reads it) or a state
 * without resources means nothing is deployed yet.
 */
export function recordsResources(stateText: string | undefined): boolean {
  if (!stateText || stateText.trim() === '') return false;
  try {
    const state = JSON.parse(stateText) as { resources?: unknown[] };
    return Array.isArray(state.resources) && state.resources.length > 0;
  } catch {
    return false;
  }
}

/** The stack's own state file as its local backend names it. */
export function ownStatePath(config: StackConfig): string | undefined {
  return config.terraform?.backend?.local?.path;
}

/** What a value read from a stack that is not applied yet shows in the plan. */
export function placeholderValue(upstream: string): string {
  return `(known after ${upstream} is applied)`;
}

/** A Terraform state (format 4) with no resources whose cross-stack outputs all read the placeholder. */
export function placeholderState(upstream: string, upstreamConfig: StackConfig): Record<string, unknown> {
  const outputs = Object.fromEntries(
    Object.keys(upstreamConfig.output ?? {})
      .filter((name) => name.startsWith(CROSS_STACK_OUTPUT_PREFIX))
      .map((name) => [name, { value: placeholderValue(upstream), type: 'string' }]),
  );
  return { version: 4, terraform_version: '1.0.0', serial: 1, lineage: `placeholder-${upstream}`, outputs, resources: [] };
}

/** Override file content that points the given remote-state reads at stand-in state files. */
export function remoteStateOverride(reads: readonly { dataSource: string; placeholderStateFile: string }[]): Record<string, unknown> {
  return {
    data: {
      terraform_remote_state: Object.fromEntries(reads.map((r) => [r.dataSource, { config: { path: r.placeholderStateFile } }])),
    },
  };
}

/** Name of the override file; Terraform merges `*_override.tf.json` over the stack's configuration. */
export const OVERRIDE_FILE = 'first-deployment_override.tf.json';

/** Every resource the stack declares (`type.name`), sorted: what a first apply creates. */
export function declaredResources(config: StackConfig): string[] {
  return Object.entries(config.resource ?? {})
    .flatMap(([type, byName]) => Object.keys(byName).map((name) => `${type}.${name}`))
    .sort();
}

/** The note a first-deployment plan carries in the report. */
export function firstDeploymentNote(upstreams: readonly string[]): string {
  if (upstreams.length === 0) return 'first deployment (no state yet)';
  const list = upstreams.join(' and ');
  return `first deployment, planned before ${list} is applied: values read from ${list} show as "${placeholderValue(upstreams[0])}"; plan again after applying ${list}`;
}

/** Terraform's error summaries (`Error: …` lines) with a hint where the cause is known. */
export function explainTerraformFailure(output: string, context: { dockerHost: string; keycloakUrl: string }): string {
  const errors = [...new Set(output.split('\n').map((line) => line.replace(/^[│╷╵\s]+/, '')).filter((line) => line.startsWith('Error: ')))];
  const summary = errors.length > 0 ? errors.map((e) => e.slice('Error: '.length)).join('; ') : output.trim().split('\n').slice(-1)[0] ?? 'failed';
  if (/pinging Docker server|Cannot connect to the Docker daemon|docker\.sock/i.test(output)) {
    return `needs the Docker engine at ${context.dockerHost}, which is not reachable from here (${summary})`;
  }
  if (/keycloak|openid-connect|realms\/master/i.test(output) && /connection refused|no such host|timeout|dial tcp/i.test(output)) {
    return `needs Keycloak at ${context.keycloakUrl}, which is not reachable from here (${summary})`;
  }
  if (/No value for required variable|Invalid value for variable/.test(output)) {
    return `a TF_VAR_* secret is missing or invalid (${summary})`;
  }
  return summary;
}
