import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { randomUUID } from 'crypto';
import { EstateConfig } from '../config/estate';
import { loadEstate, loadRoster } from '../config/load';
import { assetText } from '../__tests__/helpers/inputs';
import { KeycloakAdmin, keycloakServer } from '../__tests__/live/keycloak-admin';
import { RosterVariant } from './rosters';
import { appSynthStacksInto, mustTerraform, planJson, synthStacksInto, terraformEnv, withoutHash } from '../__tests__/live/terraform';
import { estateStackIds, isWorkspaceShardStackId } from '../stacks/estate';
import { assignWorkspaceShards } from '../config/shards';
import { NGINX_GATEWAY_USER_MAP } from '../constructs/nginx-entry';

/**
 * Diff minimality as Terraform itself sees it: the identity stack applied to a real Keycloak
 * and the workspaces stack applied to a real Docker engine at N users, then each roster
 * variant planned against that real state. Only the IDE process is a stand-in
 * (images/ide-standin: the real IDE image with code-server replaced by a sleeper), because
 * N real IDEs do not fit this machine; networks, containers, uploads, home volumes and the
 * nginx links are real. Needs: the Docker engine (scripts/docker/engine.sh start), the
 * local code-server image (scripts/docker/build-images.sh --only code-server) and a
 * Keycloak (npm run keycloak:start).
 */
export interface PlannedCase {
  readonly stack: string;
  readonly case: string;
  /** Planned resource changes (no-op and read left out), hash suffix dropped. */
  readonly changes: readonly string[];
  /** Of those, the ones that are not the variant user's. */
  readonly others: readonly string[];
  readonly outputs: readonly string[];
}

export interface LiveDiff {
  readonly skipped?: string;
  /** Roster sizes deployed one after the other (each apply adds the difference). */
  readonly steps: readonly number[];
  /** Wall seconds: `<stack>.apply.<n>`, and `<stack>.plan.p<parallelism>.<n>` for a refreshing plan with no changes. */
  readonly seconds: Record<string, number>;
  readonly cases: PlannedCase[];
}

/** Terraform's default, and the one the README recommends for large rosters (see the docker_network note there). */
export const PARALLELISM = [10, 50] as const;
const ESTATE = 'webide-bench';
const REALM = 'webide-bench';
const STANDIN = 'webide-local/ide-standin:bench';
// The first deploy of 1000 users takes most of an hour on 2 cores (nginx joins each network in turn).
const APPLY_TIMEOUT_MS = 90 * 60_000;
const docker = (...args: string[]) => spawnSync('docker', args, { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20 });

/** The default estate (or `base`, an edited copy of it) under its own name (nothing of a real deploy on the same engine is touched), its workspaces in `shards` shards. */
function benchEstate(keycloakUrl: string, shards: number, base = assetText('estate.yaml')): EstateConfig {
  return loadEstate({ file: 'assets/estate.yaml (bench copy)', text: benchEstateText(keycloakUrl, shards, base) });
}

/** benchEstate's text, for what reads the estate from a file (cdktf.json's app). */
function benchEstateText(keycloakUrl: string, shards: number, base: string): string {
  return base
    .replace(/^workspaces:$/m, shards > 1 ? `workspaces:\n  shards: ${shards}` : 'workspaces:')
    .replace(/^name: .*$/m, `name: ${ESTATE}`)
    .replace(/^(\s+codeServer:) .*$/m, `$1 ${STANDIN}`)
    .replace(/^(\s+providerUrl:) .*$/m, `$1 ${keycloakUrl}`)
    .replace(/^(\s+realm:) .*$/m, `$1 ${REALM}`);
}

/** What must be there before anything is deployed; a reason to skip otherwise. */
function missing(): string | undefined {
  const engine = missingEngine();
  if (engine) return engine;
  try {
    keycloakServer();
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}

/** The engine and the stand-in IDE image (built here); a reason to skip otherwise. */
function missingEngine(): string | undefined {
  if (docker('info', '--format', '{{.ServerVersion}}').status !== 0) return 'no Docker engine (bash scripts/docker/engine.sh start)';
  const list = spawnSync('bash', ['scripts/docker/build-images.sh', '--list'], { encoding: 'utf8' }).stdout ?? '';
  const ide = list.split('\n').find((tag) => tag.includes('/code-server:'));
  if (!ide || docker('image', 'inspect', ide).status !== 0) return `no local IDE image ${ide ?? ''} (bash scripts/docker/build-images.sh --only code-server)`;
  const built = docker('build', '-q', '--build-arg', `IDE_IMAGE=${ide}`, '-t', STANDIN, 'images/ide-standin');
  if (built.status !== 0) return `stand-in image build failed: ${built.stderr.trim().split('\n').pop()}`;
  return undefined;
}

/**
 * A sleeper in nginx's place: the links connect it to each user's network and copy its user map
 * into the directory nginx has for it (made here, as root). As PID 1 the sleeper ignores the
 * links' HUP.
 */
function startNginxStandin(): void {
  const dir = NGINX_GATEWAY_USER_MAP.dir;
  const started = docker('run', '-d', '--name', `${ESTATE}-nginx`, '--label', `webide.estate=${ESTATE}`, '--label', 'webide.standin=nginx (a sleeper that nginx links attach to)', '--user', '0', '--entrypoint', 'sh', STANDIN, '-c', `mkdir -p ${dir} && exec sleep infinity`);
  if (started.status !== 0) throw new Error(`the nginx stand-in did not start: ${started.stderr.trim()}`);
}

/** Removes the bench estate's containers but the nginx stand-in, and its managed-files volumes: what the second layout of oneUserEditSplit does not adopt. */
function removeBenchContainers(): void {
  const ids = (args: string[]) => docker(...args).stdout.split('\n').filter(Boolean);
  const standin = docker('inspect', '--format', '{{.Id}}', `${ESTATE}-nginx`).stdout.trim();
  const containers = ids(['ps', '-aq', '--no-trunc', '--filter', `label=webide.estate=${ESTATE}`]).filter((id) => id !== standin);
  if (containers.length) docker('rm', '-f', ...containers);
  const volumes = ids(['volume', 'ls', '-q', '--filter', `name=^${ESTATE}-managed-`]);
  if (volumes.length) docker('volume', 'rm', '-f', ...volumes);
}

/** Removes everything of the bench estate from the engine: by its labels and name prefix only. */
function removeBenchObjects(): void {
  const ids = (args: string[]) => docker(...args).stdout.split('\n').filter(Boolean);
  const containers = ids(['ps', '-aq', '--filter', `label=webide.estate=${ESTATE}`]);
  if (containers.length) docker('rm', '-f', ...containers);
  const networks = ids(['network', 'ls', '-q', '--filter', `name=^${ESTATE}-ws-`]);
  if (networks.length) docker('network', 'rm', ...networks);
  const volumes = [...ids(['volume', 'ls', '-q', '--filter', `name=^${ESTATE}-home-`]), ...ids(['volume', 'ls', '-q', '--filter', `name=^${ESTATE}-managed-`])];
  if (volumes.length) docker('volume', 'rm', '-f', ...volumes);
}

/**
 * Docker runs each IDE's healthcheck (an exec) every 15 s: at 500 containers that is a
 * busy machine. Paused containers still count as running for the provider, and their probes
 * fail at once without an exec. Bounded: at most two hours, then it stops by itself.
 */
function pauseIdesWhileApplying(): () => void {
  const filter = `--filter label=webide.estate=${ESTATE} --filter label=webide.component=workspace --filter status=running`;
  // It also ends when the bench is gone (killed during a long apply, when no handler of ours can run).
  const loop = spawn('bash', ['-c', `for i in $(seq 1 1440); do kill -0 ${process.pid} 2>/dev/null || exit 0; docker ps -q ${filter} | xargs -r docker pause >/dev/null 2>&1; sleep 5; done`], { detached: true, stdio: 'ignore' });
  return () => {
    try {
      process.kill(-loop.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
}

/**
 * `shards` > 1: the workspaces are split into that many shard stacks (workspaces.shards); the
 * workspaces part (the roster-wide stack and every shard stack) is then deployed and planned stack
 * by stack. Its figures are the sum over its stacks, and `workspaces.edit.plan.p<p>.<n>` the
 * refreshing plan a one-user roster edit needs: the roster-wide stack and the largest shard.
 */
export async function liveDiff(steps: readonly number[], rosterOf: (n: number) => string, variants: readonly RosterVariant[], work: string, log: (line: string) => void, shards = 1): Promise<LiveDiff> {
  const reason = missing();
  if (reason) return { skipped: `real-plan diff skipped: ${reason}`, steps, seconds: {}, cases: [] };
  const server = keycloakServer();
  const estate = benchEstate(server.url, shards);
  const env = terraformEnv({ TF_VAR_keycloak_admin_password: server.adminPassword });
  const stateDir = path.join(work, 'state');
  fs.mkdirSync(stateDir, { recursive: true });
  const roster = (text: string) => loadRoster({ file: 'roster.yaml', text }, estate);
  const seconds: Record<string, number> = {};
  const cases: PlannedCase[] = [];
  /** The stacks of each measured part: identity alone; the workspaces stack and its shard stacks. */
  const parts = { identity: ['identity'], workspaces: estateStackIds(estate).filter((id) => id === 'workspaces' || isWorkspaceShardStackId(id)) };
  const sharded = parts.workspaces.length > 1;

  removeBenchObjects();
  startNginxStandin();
  try {
    for (const [part, stacks] of Object.entries(parts)) {
      const dirOf = (stack: string) => path.join(work, stack);
      const deploy = (text: string) => {
        synthStacksInto(dirOf, stacks, estate, roster(text), stateDir);
        if (part === 'workspaces') for (const stack of stacks) stubUpstreamState(path.join(dirOf(stack), 'cdk.tf.json'));
      };
      /** Runs terraform in each stack of the part; the part's key gets the sum, `<key>@<stack>` each stack's wall seconds. */
      const timed = (key: string, args: string[]) => {
        const outputs = stacks.map((stack) => {
          const started = Date.now();
          const output = mustTerraform(dirOf(stack), [...args, '-input=false', '-lock=false'], env, APPLY_TIMEOUT_MS);
          seconds[`${key}@${stack}`] = (Date.now() - started) / 1000;
          return { stack, output };
        });
        seconds[key] = stacks.reduce((sum, stack) => sum + seconds[`${key}@${stack}`], 0);
        return outputs;
      };
      deploy(rosterOf(steps[0]));
      for (const stack of stacks) mustTerraform(dirOf(stack), ['init', '-input=false'], env);
      // Deployed in steps, each apply adding users: the refreshing plan is timed at every size.
      for (const n of steps) {
        deploy(rosterOf(n));
        const stopPausing = part === 'workspaces' ? pauseIdesWhileApplying() : () => undefined;
        try {
          timed(`${part}.apply.${n}`, ['apply', '-auto-approve', '-parallelism=25']);
        } finally {
          stopPausing();
        }
        for (const p of PARALLELISM) {
          for (const { stack, output } of timed(`${part}.plan.p${p}.${n}`, ['plan', `-parallelism=${p}`])) {
            if (!output.includes('No changes.')) throw new Error(`${stack} at ${n} users did not converge: a second plan has changes`);
          }
          if (sharded && part === 'workspaces') {
            const slowest = Math.max(...stacks.filter((stack) => stack !== 'workspaces').map((stack) => seconds[`${part}.plan.p${p}.${n}@${stack}`]));
            seconds[`${part}.edit.plan.p${p}.${n}`] = seconds[`${part}.plan.p${p}.${n}@workspaces`] + slowest;
          }
        }
        log(`live diff: ${part} at ${n} users: apply ${seconds[`${part}.apply.${n}`].toFixed(0)}s, refreshing plan ${PARALLELISM.map((p) => `${seconds[`${part}.plan.p${p}.${n}`].toFixed(0)}s (p=${p})`).join(', ')}`);
      }
      for (const variant of variants) {
        deploy(variant.text);
        const changes: string[] = [];
        const outputs: string[] = [];
        for (const stack of stacks) {
          const plan = planJson(dirOf(stack), env, APPLY_TIMEOUT_MS, PARALLELISM[1]) as ReturnType<typeof planJson> & { output_changes?: Record<string, { actions: string[] }> };
          // With shards, each change is named with its stack.
          const where = sharded ? `${stack}: ` : '';
          changes.push(
            ...(plan.resource_changes ?? [])
              .filter((rc) => !rc.change.actions.every((action) => action === 'no-op' || action === 'read'))
              .map((rc) => `${where}${withoutHash(rc.address)} (${rc.change.actions.join('+')})`),
          );
          outputs.push(...Object.entries(plan.output_changes ?? {}).filter(([, c]) => !c.actions.includes('no-op')).map(([name]) => `${where}${name}`));
        }
        changes.sort();
        const mine = (line: string) => variant.user !== undefined && line.includes(`_${variant.user}_`);
        cases.push({ stack: part, case: variant.case, changes, others: changes.filter((line) => !mine(line)), outputs });
        log(`live diff: ${part}: ${variant.case}: ${changes.length} planned change(s)`);
      }
    }
  } finally {
    removeBenchObjects();
    await new KeycloakAdmin(server).delete(`/${REALM}`);
  }
  return { steps, seconds, cases };
}

/**
 * The workspaces stack reads the platform stack's state (nginx's container id), which a real
 * deploy creates first. Here the upstream state is stubbed: one state file per referenced
 * remote state, holding only the outputs the stack reads (placeholder strings, sensitive like
 * cdktf's cross-stack outputs). Returns the names of the stubbed outputs.
 */
export function stubUpstreamState(stackJsonFile: string): string[] {
  const json = JSON.parse(fs.readFileSync(stackJsonFile, 'utf8'));
  const text = JSON.stringify(json);
  const all: string[] = [];
  for (const [name, body] of Object.entries((json.data?.terraform_remote_state ?? {}) as Record<string, { config?: { path?: string } }>)) {
    const file = body.config?.path;
    if (!file) continue;
    const used = [...new Set([...text.matchAll(new RegExp(`data\\.terraform_remote_state\\.${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.outputs\\.([A-Za-z0-9_-]+)`, 'g'))].map((m) => m[1]))];
    const outputs = Object.fromEntries(used.map((o) => [o, { value: `bench-stub-${o}`, type: 'string', sensitive: true }]));
    fs.writeFileSync(file, JSON.stringify({ version: 4, terraform_version: '1.11.4', serial: 1, lineage: 'bench-stub', outputs, resources: [], check_results: null }));
    all.push(...used);
  }
  return all;
}

/** One layout's figures for the one-user roster edit (wall seconds). */
export interface EditLayout {
  /** `one workspaces stack` or `N shard stacks`. */
  readonly layout: string;
  /** Deploying the N users (every stack of the layout, one after the other). */
  readonly applyS: number;
  /** Set when the deploy did not start from empty: what it took over from the layout before. */
  readonly adopted?: string;
  /** A refreshing plan of every stack of the layout, finding no changes. */
  readonly fullPlanS: number;
  /** Synthesizing the estate with the edited roster (the program in-process, every stack). */
  readonly editSynthS: number;
  /** The refreshing plans the edit needs: the stacks in `editStacks`, one after the other. */
  readonly editPlanS: number;
  readonly editStacks: readonly string[];
  /** What those plans would change (hash suffix dropped). */
  readonly changes: readonly string[];
}

export interface EditSplit {
  readonly skipped?: string;
  readonly users: number;
  readonly shards: number;
  readonly parallelism: number;
  readonly layouts: readonly EditLayout[];
}

/**
 * Issue 16's scale figure: a one-user roster edit (N → N+1 users) against N users deployed on the
 * real engine, planned once with the workspaces in one stack and once split into `shards` stacks
 * (workspaces.shards), in one run. Each layout is deployed from empty, converged (a refreshing plan
 * must find no changes), then the edit is synthesized and planned: the one stack, or the roster-wide
 * stack and the new user's shard, which is what `npm run deploy` plans for it. `estateText` is the
 * estate file the bench uses (the sample without backup and egress, as the plan figures). IDE process:
 * the stand-in, as liveDiff; only the workspaces stacks are deployed (no Keycloak needed).
 */
export function oneUserEditSplit(users: number, shards: number, rosterOf: (n: number) => string, estateText: string, work: string, log: (line: string) => void): EditSplit {
  const parallelism = PARALLELISM[1];
  const reason = missingEngine();
  if (reason) return { skipped: `split against unsplit skipped: ${reason}`, users, shards, parallelism, layouts: [] };
  if (shards < 2) return { skipped: 'split against unsplit skipped: BENCH_EDIT_SPLIT must be 2 or more shards', users, shards, parallelism, layouts: [] };
  const env = terraformEnv();
  const layouts: EditLayout[] = [];
  const added = `user-${String(users + 1).padStart(4, '0')}`;
  /** The first layout's state files: the second layout takes over its networks and nginx links. */
  let previousStates: string[] = [];
  try {
    for (const count of [1, shards]) {
      const estateFile = path.join(work, `estate-${count}.yaml`);
      fs.writeFileSync(estateFile, benchEstateText('https://keycloak.bench.invalid', count, estateText));
      const estate = loadEstate({ file: estateFile, text: fs.readFileSync(estateFile, 'utf8') });
      const roster = (n: number) => loadRoster({ file: 'roster.yaml', text: rosterOf(n) }, estate);
      const stacks = estateStackIds(estate).filter((id) => id === 'workspaces' || isWorkspaceShardStackId(id));
      const layoutDir = path.join(work, `edit-${count}`);
      const dirOf = (stack: string) => path.join(layoutDir, stack);
      const stateDir = path.join(layoutDir, 'state');
      fs.mkdirSync(stateDir, { recursive: true });
      // Timed as the operator's synthesis runs: cdktf.json's app on the estate and roster files.
      const synth = (n: number) => {
        const rosterFile = path.join(layoutDir, `roster-${n}.yaml`);
        fs.writeFileSync(rosterFile, rosterOf(n));
        const started = Date.now();
        appSynthStacksInto(dirOf, stacks, { estateFile, rosterFile }, stateDir);
        const seconds = (Date.now() - started) / 1000;
        for (const stack of stacks) stubUpstreamState(path.join(dirOf(stack), 'cdk.tf.json'));
        return seconds;
      };
      const timedAll = (ids: readonly string[], args: string[]) => {
        const started = Date.now();
        const outputs = ids.map((stack) => ({ stack, output: mustTerraform(dirOf(stack), [...args, '-input=false', '-lock=false'], env, APPLY_TIMEOUT_MS) }));
        return { seconds: (Date.now() - started) / 1000, outputs };
      };
      const layout = count === 1 ? 'one workspaces stack' : `${count} shard stacks`;
      const first = previousStates.length === 0;
      log(`split against unsplit: ${layout}: deploying ${users} users${first ? '' : ' (networks and nginx links taken over from the first layout)'}`);
      if (first) {
        removeBenchObjects();
        startNginxStandin();
      } else {
        removeBenchContainers();
      }
      synth(users);
      const stateOf = (stack: string) => path.join(stateDir, `terraform.${stack}.tfstate`);
      const adopted = first ? [] : stacks.flatMap((stack) => adoptNetworksAndLinks(previousStates, path.join(dirOf(stack), 'cdk.tf.json'), stateOf(stack)));
      for (const stack of stacks) mustTerraform(dirOf(stack), ['init', '-input=false'], env);
      const stopPausing = pauseIdesWhileApplying();
      let apply: { seconds: number };
      try {
        apply = timedAll(stacks, ['apply', '-auto-approve', '-parallelism=25']);
      } finally {
        stopPausing();
      }
      // Taken over means kept: an apply that replaced them would have deployed them again after all.
      const kept = new Set(stacks.flatMap((stack) => resourceIds(stateOf(stack))));
      const replaced = adopted.filter((id) => !kept.has(id));
      if (replaced.length) throw new Error(`${layout}: the apply replaced ${replaced.length} of the ${adopted.length} resources taken over, e.g. ${replaced[0]}`);
      const full = timedAll(stacks, ['plan', `-parallelism=${parallelism}`]);
      for (const { stack, output } of full.outputs) if (!output.includes('No changes.')) throw new Error(`${stack} at ${users} users did not converge: a second plan has changes`);
      // The edit: the roster with one user more, and the stacks it touches.
      const editSynthS = synth(users + 1);
      const shard = count === 1 ? undefined : assignWorkspaceShards(roster(users + 1).users.map((u) => u.username), count).get(added);
      const editStacks = shard ? ['workspaces', stacks.find((id) => id.endsWith(`-${shard}`))!] : ['workspaces'];
      const edit = timedAll(editStacks, ['plan', `-parallelism=${parallelism}`, '-out=edit.tfplan']);
      const changes = editStacks.flatMap((stack) => {
        const shown = spawnSync(process.env.TERRAFORM_BINARY_NAME ?? 'terraform', ['show', '-json', 'edit.tfplan'], { cwd: dirOf(stack), env, encoding: 'utf8', maxBuffer: 256 << 20 });
        if (shown.status !== 0) throw new Error(`terraform show failed in ${stack}:\n${shown.stderr}`);
        const plan = JSON.parse(shown.stdout) as { resource_changes?: { address: string; change: { actions: string[] } }[] };
        return (plan.resource_changes ?? [])
          .filter((rc) => !rc.change.actions.every((action) => action === 'no-op' || action === 'read'))
          .map((rc) => `${stacks.length > 1 ? `${stack}: ` : ''}${withoutHash(rc.address)} (${rc.change.actions.join('+')})`);
      });
      layouts.push({ layout, applyS: apply.seconds, ...(first ? {} : { adopted: `${adopted.length} networks and nginx links, kept by the apply,` }), fullPlanS: full.seconds, editSynthS, editPlanS: edit.seconds, editStacks, changes: changes.sort() });
      previousStates = stacks.map(stateOf);
      log(`split against unsplit: ${layout}: apply ${apply.seconds.toFixed(0)}s, full plan ${full.seconds.toFixed(0)}s, edit: synth ${editSynthS.toFixed(1)}s + plan ${edit.seconds.toFixed(1)}s (${editStacks.join(', ')}), ${changes.length} change(s)`);
    }
  } finally {
    removeBenchObjects();
  }
  return { users, shards, parallelism, layouts };
}

/** A Terraform state file's resources (version 4), as far as adoptNetworksAndLinks reads them. */
interface StateResource {
  readonly mode: string;
  readonly type: string;
  readonly name: string;
  readonly instances: readonly unknown[];
}

/**
 * Starts a stack's state (`stateFile`, which must not exist) with the users' networks and nginx
 * (and egress proxy) links from `fromStates` that the stack declares by the same address.
 * Both layouts of oneUserEditSplit declare these identically (same names, same triggers), so
 * taking them over spares the second layout an hour of joining nginx to 1000 networks on this
 * machine; the refreshing plan after its apply must still find no changes, or the bench fails.
 * Returns the ones it took over (resourceIds).
 */
function adoptNetworksAndLinks(fromStates: readonly string[], stackJsonFile: string, stateFile: string): string[] {
  // An unlinked user's link is a removed block, not a resource, so it is not taken over.
  const declared = JSON.parse(fs.readFileSync(stackJsonFile, 'utf8')).resource as Record<string, Record<string, unknown>>;
  const wanted = (r: StateResource) =>
    r.mode === 'managed' &&
    (r.type === 'docker_network' || (r.type === 'null_resource' && /_(nginx|egress)-link_/.test(r.name))) &&
    declared[r.type]?.[r.name] !== undefined &&
    r.instances.length > 0;
  const states = fromStates.map((file) => JSON.parse(fs.readFileSync(file, 'utf8')) as { terraform_version: string; resources: StateResource[] });
  const resources = states.flatMap((state) => state.resources.filter(wanted));
  if (fs.existsSync(stateFile)) throw new Error(`${stateFile} exists: a taken-over state starts a stack`);
  fs.writeFileSync(stateFile, JSON.stringify({ version: 4, terraform_version: states[0].terraform_version, serial: 1, lineage: randomUUID(), outputs: {}, resources, check_results: null }));
  return resources.flatMap(instanceIds);
}

/** `<type>.<name> <id>` of each instance in a state file. */
function resourceIds(stateFile: string): string[] {
  return (JSON.parse(fs.readFileSync(stateFile, 'utf8')).resources as StateResource[]).flatMap(instanceIds);
}

function instanceIds(r: StateResource): string[] {
  return r.instances.map((instance) => `${r.type}.${r.name} ${(instance as { attributes?: { id?: string } }).attributes?.id}`);
}
