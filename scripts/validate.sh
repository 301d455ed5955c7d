#!/usr/bin/env bash
# npm run validate — synthesizes the estate, then `terraform init` (offline, from the
# provider mirror) and `terraform validate` for every stack. Exits non-zero on any
# error, naming the stack and terraform's message.
#   ESTATE_FILE / ROSTER_FILE  as for synth
#   SKIP_SYNTH=1               validate what is already in cdktf.out
set -euo pipefail
cd "$(dirname "$0")/.."
export CHECKPOINT_DISABLE=1

if [ ! -f providers/terraformrc ]; then
  echo "validate: providers/terraformrc is missing; run 'npm run providers' first (builds the offline provider mirror)" >&2
  exit 1
fi
export TF_CLI_CONFIG_FILE="$PWD/providers/terraformrc"
export TF_IN_AUTOMATION=1 TF_INPUT=0
# Providers are linked from one cache instead of copied into every stack.
export TF_PLUGIN_CACHE_DIR="$PWD/.work/tf-plugin-cache"
mkdir -p "$TF_PLUGIN_CACHE_DIR"
TERRAFORM="${TERRAFORM_BINARY_NAME:-terraform}"
if ! command -v "$TERRAFORM" >/dev/null 2>&1 && [ -x providers/bin/terraform ]; then TERRAFORM="$PWD/providers/bin/terraform"; fi

if [ "${SKIP_SYNTH:-}" != 1 ]; then
  echo "[validate] synth"
  # shellcheck source=lib/synth-app.sh
  source scripts/lib/synth-app.sh
  synth_app cdktf.out || { echo "[validate] synth failed (above); nothing was validated" >&2; exit 1; }
fi

failed=()
# The stacks this synthesis declares (manifest.json), not every directory an earlier one left
# (say, of workspace shard stacks before workspaces.shards was lowered).
stacks=$(node -e 'console.log(Object.keys(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).stacks).join("\n"))' cdktf.out/manifest.json)
for stack in $stacks; do
  dir="cdktf.out/stacks/$stack/"
  started=$SECONDS
  if ! out=$(cd "$dir" && "$TERRAFORM" init -backend=false -input=false -no-color 2>&1); then
    echo "[validate] $stack: terraform init FAILED" >&2
    echo "$out" | sed "s/^/  $stack: /" >&2
    failed+=("$stack")
    continue
  fi
  if out=$(cd "$dir" && "$TERRAFORM" validate -no-color 2>&1); then
    echo "[validate] $stack: $(echo "$out" | tail -n1) ($((SECONDS - started))s)"
  else
    echo "[validate] $stack: terraform validate FAILED" >&2
    echo "$out" | sed "s/^/  $stack: /" >&2
    failed+=("$stack")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "validate: ${#failed[@]} stack(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "validate: all stacks valid"
