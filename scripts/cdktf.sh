#!/usr/bin/env bash
# npm run diff -- <stack> [cdktf options]      plan one stack (platform, identity, workspaces, edge)
# npm run deploy -- [<stack>…] [cdktf options] deploy the named stacks, or all four in dependency order
#
# Runs `cdktf diff|deploy` the way this project needs it: providers from the offline mirror
# (TF_CLI_CONFIG_FILE=providers/terraformrc and --skip-provider-lock, so nothing goes to a
# public registry) and `--terraform-parallelism 50` unless given (a refreshing plan of 500 users' workspaces:
# about 50 s instead of 130 s at Terraform's default of 10; see bench/).
# Secrets come from TF_VAR_* as usual; cdktf asks before it deploys.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACKS=(platform identity workspaces edge)

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  diff | deploy) ;;
  *) echo "usage: npm run diff -- <stack>  |  npm run deploy -- [<stack>…]   (stacks: ${STACKS[*]})" >&2; exit 2 ;;
esac

rc="$ROOT/providers/terraformrc"
if [ ! -f "$rc" ]; then
  echo "$command: the offline provider mirror is missing (no providers/terraformrc): run 'npm run providers' first (see providers/README.md)" >&2
  exit 1
fi
mirror="$(sed -n 's/^[[:space:]]*path[[:space:]]*=[[:space:]]*"\(.*\)"[[:space:]]*$/\1/p' "$rc" | head -n1)"
if [ -n "$mirror" ] && [ ! -d "$mirror" ]; then
  echo "$command: providers/terraformrc points at $mirror, which does not exist (repository moved?): run 'npm run providers' again" >&2
  exit 1
fi

stacks=()
options=()
previous=''
for arg in "$@"; do
  if [ "$arg" = '*' ] || [[ " ${STACKS[*]} " == *" $arg "* ]]; then
    stacks+=("$arg")
  elif [[ "$arg" == -* ]] || [[ "$previous" == -* && "$previous" != *=* ]]; then
    options+=("$arg") # an option, or its value (--terraform-parallelism 25)
  else
    echo "$command: unknown stack '$arg' (stacks: ${STACKS[*]})" >&2
    exit 2
  fi
  previous=$arg
done

if [ "$command" = diff ] && [ ${#stacks[@]} -ne 1 ]; then
  echo "diff: name one stack: npm run diff -- <stack> (${STACKS[*]}); for all of them at once: npm run plan:report" >&2
  exit 2
fi
[ ${#stacks[@]} -gt 0 ] || stacks=('*')
case " ${options[*]-} " in
  *" --terraform-parallelism"*) ;;
  *) options+=(--terraform-parallelism 50) ;;
esac
# cdktf would otherwise run `terraform providers lock`, which ignores the mirror and asks the public registry.
case " ${options[*]} " in
  *" --skip-provider-lock"*) ;;
  *) options+=(--skip-provider-lock) ;;
esac

export TF_CLI_CONFIG_FILE="$rc" CHECKPOINT_DISABLE=1
export TF_PLUGIN_CACHE_DIR="${TF_PLUGIN_CACHE_DIR:-$ROOT/.work/tf-plugin-cache}"
mkdir -p "$TF_PLUGIN_CACHE_DIR"
# Without terraform on PATH, `npm run providers` builds OpenTofu into providers/bin.
if [ -z "${TERRAFORM_BINARY_NAME:-}" ] && ! command -v terraform >/dev/null 2>&1 && [ -x "$ROOT/providers/bin/terraform" ]; then
  export TERRAFORM_BINARY_NAME="$ROOT/providers/bin/terraform"
fi
cd "$ROOT"
# A deploy synthesizes once, then before each `cdktf deploy` removes what an interrupted apply
# left unrecorded in Docker (scripts/orphans.ts), so the names are free again.
deploy() {
  node scripts/ts-run.js scripts/orphans.ts "$@"
  npx cdktf deploy "$@" "${options[@]}" --skip-synth
}
if [ "$command" = deploy ]; then
  [ "${stacks[*]}" = '*' ] && stacks=("${STACKS[@]}")
  npx cdktf synth
  # Terraform reaches Keycloak as its own service-account client, which the bootstrap admin creates
  # (and is then deleted) once Keycloak runs: between the platform stack and the identity stack.
  if [[ " ${stacks[*]} " == *" identity "* ]]; then
    rest=()
    for stack in "${stacks[@]}"; do [ "$stack" = platform ] || rest+=("$stack"); done
    if [ ${#rest[@]} -lt ${#stacks[@]} ]; then
      deploy platform
      options+=(--ignore-missing-stack-dependencies)
    fi
    node scripts/ts-run.js scripts/keycloak/bootstrap.ts
    stacks=("${rest[@]}")
  fi
  deploy "${stacks[@]}"
  exit 0
fi
exec npx cdktf "$command" "${stacks[@]}" "${options[@]}"
