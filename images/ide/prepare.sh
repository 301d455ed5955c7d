#!/usr/bin/env bash
# Host side of the IDE image's build (scripts/docker/build-images.sh runs it; so does
# scripts/docker/check-ide-extensions.sh). Writes into $CTX:
#   extensions.manifest   from the estate config's `extensions` (scripts/extensions-manifest.ts)
#   vsix/                 the VSIX files: those in $WEBIDE_VSIX_DIR when set (the bank's mirror),
#                         else a stand-in for every extension listed, from standin-vsix.py
# The estate config is $WEBIDE_IDE_ESTATE (default: the e2e tier's, __tests__/e2e/estate.local.yaml).
# Nothing is checked here: the image build checks every file against the manifest.
set -euo pipefail
: "${CTX:?}" "${ROOT:?}"
ESTATE="${WEBIDE_IDE_ESTATE:-$ROOT/__tests__/e2e/estate.local.yaml}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

mkdir -p "$CTX/vsix"
node "$ROOT/scripts/ts-run.js" "$ROOT/scripts/extensions-manifest.ts" "$ESTATE" >"$CTX/extensions.manifest"
if [ -n "${WEBIDE_VSIX_DIR:-}" ]; then
  find "$WEBIDE_VSIX_DIR" -mindepth 1 -maxdepth 1 -type f -name '*.vsix' -exec cp -t "$CTX/vsix/" {} +
else
  mapfile -t specs < <(awk -F'\t' '!/^#/ && NF { print $1 "@" $2 }' "$CTX/extensions.manifest")
  [ "${#specs[@]}" -eq 0 ] || python3 "$HERE/standin-vsix.py" "$CTX/vsix" "${specs[@]}"
fi
echo "prepared: $(grep -vc '^#' "$CTX/extensions.manifest" || true) extension(s) from $ESTATE, $(ls "$CTX/vsix" | wc -l) VSIX file(s)"
