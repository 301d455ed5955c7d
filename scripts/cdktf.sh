#!/usr/bin/env bash
# npm run diff -- <stack> [cdktf options]      plan one stack (platform, identity, workspaces, workspaces-ws-NN, edge;
#                                              on a swarm: [registry,] ai, entry, identity, workspaces, workspaces-ws-NN, edge)
# npm run deploy -- [<stack>…] [cdktf options] deploy the named stacks ('workspaces*' names the workspaces
#                                              stack and its shard stacks), or all of them, in deploy order
# npm run shards:destroy -- [cdktf options]    destroy every workspace shard stack (workspaces-ws-NN): what
#                                              a change of workspaces.shards needs first (README, Sharding)
#
# Runs `cdktf diff|deploy|destroy` the way this project needs it: providers from the offline mirror
# (TF_CLI_CONFIG_FILE=providers/terraformrc and --skip-provider-lock, so nothing goes to a
# public registry) and `--terraform-parallelism 50` unless given (a refreshing plan of 500 users' workspaces:
# about 50 s instead of 130 s at Terraform's default of 10; see bench/).
# It synthesizes first and reads the stacks from cdktf.out/manifest.json (the shard stacks exist only
# with workspaces.shards > 1), then runs cdktf with --skip-synth. Deploy order: a stack after the
# stacks it depends on; among stacks free to go, platform, ai, entry, identity, workspaces, the shard
# stacks, then the rest (edge); one stack at a time (cdktf's --parallelism 1 unless given), stopping at
# the first failure. On the Swarm target (its stacks include entry) `npm run swarm:preflight` runs
# first, and a problem it finds stops the deploy before anything changes; only the registry the
# estate runs itself (the `registry` stack) is deployed before it, since the probe pulls from it.
# Secrets come from TF_VAR_* as usual; cdktf asks before it deploys or destroys.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Where the synthesis goes: cdktf.out unless SYNTH_OUT names another directory (a test's own).
OUTDIR=${SYNTH_OUT:-cdktf.out}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  diff | deploy | destroy-shards) ;;
  *) echo "usage: npm run diff -- <stack>  |  npm run deploy -- [<stack>…]  |  npm run shards:destroy" >&2; exit 2 ;;
esac
name=$command
[ "$command" = destroy-shards ] && name=shards:destroy

rc="$ROOT/providers/terraformrc"
if [ ! -f "$rc" ]; then
  echo "$name: the offline provider mirror is missing (no providers/terraformrc): run 'npm run providers' first (see providers/README.md)" >&2
  exit 1
fi
mirror="$(sed -n 's/^[[:space:]]*path[[:space:]]*=[[:space:]]*"\(.*\)"[[:space:]]*$/\1/p' "$rc" | head -n1)"
if [ -n "$mirror" ] && [ ! -d "$mirror" ]; then
  echo "$name: providers/terraformrc points at $mirror, which does not exist (repository moved?): run 'npm run providers' again" >&2
  exit 1
fi

cd "$ROOT"
export CHECKPOINT_DISABLE=1
# The stacks as this synthesis declares them (ESTATE_FILE, ROSTER_FILE and STATE_DIR apply).
# shellcheck source=lib/synth-app.sh
source scripts/lib/synth-app.sh
if ! synth_app "$OUTDIR"; then
  echo "$name: synth failed (above); nothing was run" >&2
  exit 1
fi
# One line per stack, in deploy order; then `stale <file>` for each state file of a shard stack that
# this synthesis no longer declares but that still holds resources (workspaces.shards lowered).
listing=$(node -e '
const fs = require("fs");
const path = require("path");
const outdir = process.argv[1];
const stacks = Object.values(JSON.parse(fs.readFileSync(path.join(outdir, "manifest.json"), "utf8")).stacks);
// platform, identity, workspaces, edge on one engine; [registry,] ai, entry, identity, workspaces, edge on a swarm.
const families = ["registry", "platform", "ai", "entry", "identity", "workspaces", "edge"];
const family = (name) => { const i = families.findIndex((f) => name === f || name.startsWith(`${f}-`)); return i < 0 ? families.length : i; };
const before = (a, b) => family(a) - family(b) || (a < b ? -1 : a > b ? 1 : 0);
const done = new Set();
const order = [];
while (order.length < stacks.length) {
  const ready = stacks.filter((s) => !done.has(s.name) && (s.dependencies || []).every((d) => done.has(d) || !stacks.some((o) => o.name === d)));
  if (ready.length === 0) throw new Error("the stacks in manifest.json depend on each other in a circle");
  const next = ready.map((s) => s.name).sort(before)[0];
  done.add(next);
  order.push(next);
}
for (const name of order) console.log(name);
const workspaces = path.join(outdir, "stacks", "workspaces");
const backend = fs.existsSync(path.join(workspaces, "cdk.tf.json")) ? JSON.parse(fs.readFileSync(path.join(workspaces, "cdk.tf.json"), "utf8")).terraform?.backend?.local?.path : undefined;
if (backend) {
  const dir = path.dirname(path.resolve(workspaces, backend));
  for (const file of fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []) {
    const id = /^terraform\.(workspaces-.+)\.tfstate$/.exec(file)?.[1];
    if (!id || done.has(id)) continue;
    let resources = 0;
    try { resources = (JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")).resources || []).length; } catch { resources = 0; }
    if (resources > 0) console.log(`stale ${path.join(dir, file)}`);
  }
}
' "$OUTDIR")
STACKS=()
STALE=()
while IFS= read -r line; do
  case "$line" in
    'stale '*) STALE+=("${line#stale }") ;;
    ?*) STACKS+=("$line") ;;
  esac
done <<<"$listing"

stacks=()
options=()
previous=''
add_stack() { for s in "${stacks[@]}"; do [ "$s" = "$1" ] && return; done; stacks+=("$1"); }
for arg in "$@"; do
  matched=()
  if [ "$command" != destroy-shards ] && [[ "$arg" != -* ]]; then
    # A stack's name, or a pattern such as '*' or 'workspaces*' (quoted, so the shell leaves it).
    for stack in "${STACKS[@]}"; do
      # shellcheck disable=SC2053 # $arg is a pattern on purpose
      [[ "$stack" == $arg ]] && matched+=("$stack")
    done
  fi
  if [ ${#matched[@]} -gt 0 ]; then
    for stack in "${matched[@]}"; do add_stack "$stack"; done
  elif [[ "$arg" == -* ]] || [[ "$previous" == -* && "$previous" != *=* ]]; then
    options+=("$arg") # an option, or its value (--terraform-parallelism 25)
  elif [ "$command" = destroy-shards ]; then
    echo "shards:destroy: it takes no stack ('$arg'): it destroys every workspace shard stack" >&2
    exit 2
  else
    echo "$name: unknown stack '$arg' (stacks: ${STACKS[*]})" >&2
    exit 2
  fi
  previous=$arg
done

if [ "$command" = diff ] && [ ${#stacks[@]} -ne 1 ]; then
  echo "diff: name one stack: npm run diff -- <stack> (${STACKS[*]}); for all of them at once: npm run plan:report" >&2
  exit 2
fi
case " ${options[*]-} " in
  *" --terraform-parallelism"*) ;;
  *) options+=(--terraform-parallelism 50) ;;
esac
# cdktf would otherwise run `terraform providers lock`, which ignores the mirror and asks the public registry.
case " ${options[*]} " in
  *" --skip-provider-lock"*) ;;
  *) options+=(--skip-provider-lock) ;;
esac
options+=(--skip-synth --output "$OUTDIR")

export TF_CLI_CONFIG_FILE="$rc"
export TF_PLUGIN_CACHE_DIR="${TF_PLUGIN_CACHE_DIR:-$ROOT/.work/tf-plugin-cache}"
mkdir -p "$TF_PLUGIN_CACHE_DIR"
# Without terraform on PATH, `npm run providers` builds OpenTofu into providers/bin.
if [ -z "${TERRAFORM_BINARY_NAME:-}" ] && ! command -v terraform >/dev/null 2>&1 && [ -x "$ROOT/providers/bin/terraform" ]; then
  export TERRAFORM_BINARY_NAME="$ROOT/providers/bin/terraform"
fi

if [ "$command" = diff ]; then
  exec npx cdktf diff "${stacks[0]}" "${options[@]}"
fi

# One stack at a time, in the order given; a failed stack stops the rest.
case " ${options[*]} " in
  *" --parallelism"*) ;;
  *) options+=(--parallelism 1) ;;
esac

if [ "$command" = destroy-shards ]; then
  shards=()
  for stack in "${STACKS[@]}"; do [[ "$stack" == workspaces-* ]] && shards+=("$stack"); done
  if [ ${#shards[@]} -eq 0 ]; then
    echo "shards:destroy: this estate has no workspace shard stacks (workspaces.shards is 1): nothing to destroy" >&2
    exit 2
  fi
  exec npx cdktf destroy "${shards[@]}" "${options[@]}"
fi

# deploy
# Before each `cdktf deploy`, what an interrupted apply left unrecorded in Docker is removed
# (scripts/orphans.ts: only objects with a stack's exact names and labels), so the names are free again.
deploy() {
  node scripts/ts-run.js scripts/orphans.ts --out "$OUTDIR" "$@"
  npx cdktf deploy "$@" "${options[@]}"
}
if [ ${#STALE[@]} -gt 0 ]; then
  echo "deploy: these state files belong to workspace shard stacks this estate no longer has, and still hold IDEs (workspaces.shards lowered?):" >&2
  printf '  %s\n' "${STALE[@]}" >&2
  echo "Nothing was deployed. Set workspaces.shards back, run 'npm run shards:destroy' (homes stay), then lower it and deploy (README, Sharding the workspaces)." >&2
  exit 1
fi
[ ${#stacks[@]} -gt 0 ] || stacks=("${STACKS[@]}")
# Put the named stacks in deploy order.
ordered=()
for stack in "${STACKS[@]}"; do
  for s in "${stacks[@]}"; do [ "$s" = "$stack" ] && ordered+=("$stack"); done
done
options+=(--ignore-missing-stack-dependencies)
# The registry the estate runs itself (swarm.registry.serve) goes first and alone, before the
# preflight: the preflight's probe pulls the estate's IDE image from it, and the images are pinned
# into it (npm run images:pin) after it runs.
not_deployed="nothing was deployed"
if [ "${ordered[0]:-}" = registry ]; then
  deploy registry
  ordered=("${ordered[@]:1}")
  [ ${#ordered[@]} -gt 0 ] || exit 0
  not_deployed="nothing after the registry was deployed"
fi
# The Swarm target (its stacks: ai, entry, …): the swarm must hold the estate as declared, and each
# engine set what a Swarm service cannot, before anything else is deployed (scripts/swarm-preflight.ts).
if [[ " ${STACKS[*]} " == *" entry "* ]]; then
  if ! node scripts/ts-run.js scripts/swarm-preflight.ts; then
    echo "deploy: the swarm preflight found the problems above; $not_deployed" >&2
    exit 1
  fi
fi
# Terraform reaches Keycloak as its own service-account client, which the bootstrap admin creates
# (and is then deleted) once Keycloak runs: after the stacks before identity (platform on one
# engine; ai and entry on a swarm), before identity.
if [[ " ${ordered[*]} " == *" identity "* ]]; then
  before=()
  for stack in "${ordered[@]}"; do
    [ "$stack" = identity ] && break
    before+=("$stack")
  done
  [ ${#before[@]} -gt 0 ] && deploy "${before[@]}"
  node scripts/ts-run.js scripts/keycloak/bootstrap.ts
  deploy "${ordered[@]:${#before[@]}}"
  exit 0
fi
deploy "${ordered[@]}"
