#!/usr/bin/env bash
# Installs exactly the extensions of a manifest from a directory of VSIX files, each only if its
# bytes have the manifest's sha256. Runs in the IDE image's build (images/ide/Dockerfile) as root;
# the unit tests run it here with a fake code-server.
#
#   install-extensions.sh verify  MANIFEST VSIX_DIR                  check files and hashes only
#   install-extensions.sh install MANIFEST VSIX_DIR EXTENSIONS_DIR   verify, install, check, lock
#
# MANIFEST is what scripts/extensions-manifest.ts prints from the estate config: `#` comments,
# then `<id> TAB <version> TAB <sha256> TAB <vsix file>` per extension.
# verify fails (exit 1, every problem listed) on a malformed line, a VSIX file the manifest names
# that is missing, a file in VSIX_DIR the manifest does not name, or a sha256 that differs.
# install then runs `code-server --install-extension` for each file, fails unless
# `code-server --list-extensions --show-versions` shows exactly the manifest's id@version set,
# and leaves EXTENSIONS_DIR owned by root and not writable by anyone else.
# CODE_SERVER names the code-server command (default: code-server); EXTENSIONS_OWNER the owner
# EXTENSIONS_DIR is given (default: 0:0, root; the unit tests, not root, pass their own).
set -euo pipefail

say() { printf '[extensions] %s\n' "$*"; }
usage() { sed -n '6,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

MODE="${1:-}"
case "$MODE" in
  verify) [ $# -eq 3 ] || usage ;;
  install) [ $# -eq 4 ] || usage ;;
  *) usage ;;
esac
MANIFEST="$2"
VSIX_DIR="$3"
[ -f "$MANIFEST" ] || { say "FAIL: no manifest at $MANIFEST"; exit 1; }
[ -d "$VSIX_DIR" ] || { say "FAIL: no VSIX directory at $VSIX_DIR"; exit 1; }

problems=()
ids=()
versions=()
files=()
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  case "$line" in '' | '#'*) continue ;; esac
  IFS=$'\t' read -r id version sha file extra <<<"$line"
  if [ -n "${extra:-}" ] || ! [[ "${id:-}" =~ ^[A-Za-z0-9][A-Za-z0-9-]*\.[A-Za-z0-9][A-Za-z0-9-]*$ ]] \
    || [ -z "${version:-}" ] || ! [[ "${sha:-}" =~ ^[0-9a-f]{64}$ ]] || ! [[ "${file:-}" =~ ^[A-Za-z0-9_.+-]+\.vsix$ ]]; then
    problems+=("$MANIFEST:$lineno: not '<id> TAB <version> TAB <sha256> TAB <file.vsix>': $line")
    continue
  fi
  ids+=("$id")
  versions+=("$version")
  files+=("$file")
  if [ ! -f "$VSIX_DIR/$file" ]; then
    problems+=("$file ($id@$version): missing from $VSIX_DIR")
    continue
  fi
  actual="$(sha256sum "$VSIX_DIR/$file" | cut -d' ' -f1)"
  [ "$actual" = "$sha" ] || problems+=("$file ($id@$version): sha256 mismatch: the file has $actual, the estate config says $sha")
done <"$MANIFEST"

while IFS= read -r -d '' present; do
  name="${present##*/}"
  listed=0
  for file in "${files[@]}"; do [ "$file" = "$name" ] && listed=1; done
  [ "$listed" -eq 1 ] || problems+=("$name: in $VSIX_DIR but not in the manifest (the image installs only what the estate config lists)")
done < <(find "$VSIX_DIR" -mindepth 1 -maxdepth 1 -print0 | LC_ALL=C sort -z)

if [ "${#problems[@]}" -gt 0 ]; then
  for p in "${problems[@]}"; do say "FAIL: $p"; done
  say "refused: ${#problems[@]} problem(s); nothing installed"
  exit 1
fi
say "verified: ${#files[@]} VSIX file(s) match the manifest's sha256"
[ "$MODE" = verify ] && exit 0

EXT_DIR="$4"
CODE_SERVER="${CODE_SERVER:-code-server}"
# code-server writes its config and user data under HOME: keep that out of the image's home.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
run_code_server() { HOME="$scratch" "$CODE_SERVER" --extensions-dir "$EXT_DIR" --user-data-dir "$scratch/data" "$@"; }

mkdir -p "$EXT_DIR"
for i in "${!files[@]}"; do
  say "installing ${ids[$i]}@${versions[$i]} from ${files[$i]}"
  run_code_server --install-extension "$VSIX_DIR/${files[$i]}" || { say "FAIL: code-server could not install ${files[$i]}"; exit 1; }
done

expected="$(for i in "${!ids[@]}"; do printf '%s@%s\n' "${ids[$i]}" "${versions[$i]}"; done | tr '[:upper:]' '[:lower:]' | LC_ALL=C sort)"
# Only the id@version lines: code-server may log an info line first.
installed="$(run_code_server --list-extensions --show-versions | { grep -E '^[^ ]+@[^ ]+$' || true; } | tr '[:upper:]' '[:lower:]' | LC_ALL=C sort)"
if [ "$installed" != "$expected" ]; then
  say "FAIL: installed extensions differ from the manifest"
  diff <(printf '%s\n' "$expected") <(printf '%s\n' "$installed") | sed -n 's/^</  expected, not installed:/p; s/^>/  installed, not expected:/p' >&2 || true
  exit 1
fi
chown -R "${EXTENSIONS_OWNER:-0:0}" "$EXT_DIR"
chmod -R u=rwX,go=rX "$EXT_DIR"
say "installed exactly: $(printf '%s ' $installed)"
