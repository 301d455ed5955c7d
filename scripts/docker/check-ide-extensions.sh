#!/usr/bin/env bash
# Proves with real `docker build`s that the IDE image (images/ide) installs exactly the estate
# config's extensions and nothing whose bytes differ from the config's sha256:
#
#   bash scripts/docker/check-ide-extensions.sh
#
#  1. wrong hash: the e2e estate's stand-in with one hex digit of its sha256 changed -> the build
#     fails, saying "sha256 mismatch";
#  2. right hash: the e2e estate's extensions as they are -> the build succeeds, and as uid 1000
#     (`docker run --rm`) `code-server --list-extensions --show-versions` shows exactly the
#     configured id@version, the extensions dir cannot be written, and `--install-extension`
#     of another (stand-in) VSIX fails and leaves the list as it was.
# Builds FROM the local code-server image (build-images.sh --only code-server). The images it
# builds are tagged ${WEBIDE_CHECK_PREFIX:-webide-check}-ide:{wrong,ok} and removed at the end,
# with the untagged layers their builds left. Exit 0 when every check passes. Needs the engine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PREFIX="${WEBIDE_CHECK_PREFIX:-webide-check}"
ESTATE="$ROOT/__tests__/e2e/estate.local.yaml"
EXT_DIR=/opt/code-server/extensions
export DOCKER_BUILDKIT=0

say() { printf '[check-ide] %s\n' "$*"; }
failures=0
pass() { say "PASS: $*"; }
failed() { say "FAIL: $*"; failures=$((failures + 1)); }

CODE_SERVER_IMAGE="$(bash "$ROOT/scripts/docker/build-images.sh" --list | grep '^webide-local/code-server:')"
VERSION="${CODE_SERVER_IMAGE##*:}"
docker image inspect "$CODE_SERVER_IMAGE" >/dev/null 2>&1 \
  || { say "no $CODE_SERVER_IMAGE: bash scripts/docker/build-images.sh --only code-server"; exit 1; }

WORK="$(mktemp -d)"
layers=()
cleanup() {
  local id
  docker image rm "$PREFIX-ide:wrong" "$PREFIX-ide:ok" >/dev/null 2>&1 || true
  # The intermediate images the builds left, newest first; never one that carries a tag.
  for ((i = ${#layers[@]} - 1; i >= 0; i--)); do
    id="${layers[$i]}"
    [ "$(docker image inspect -f '{{len .RepoTags}}' "$id" 2>/dev/null || echo 1)" = 0 ] && docker image rm "$id" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# build NAME ESTATE -> docker build's status; its log in $WORK/NAME.log
build() {
  local name="$1" estate="$2" ctx="$WORK/ctx-$1" status=0
  mkdir -p "$ctx"
  cp -a "$ROOT/images/ide/." "$ctx/"
  CTX="$ctx" ROOT="$ROOT" WEBIDE_IDE_ESTATE="$estate" bash "$ROOT/images/ide/prepare.sh" >"$WORK/$name.log" 2>&1 || return 1
  docker build --network host --pull=false --rm --force-rm -t "$PREFIX-ide:$name" \
    --build-arg "CODE_SERVER_IMAGE=$CODE_SERVER_IMAGE" --build-arg "VERSION=$VERSION" "$ctx" >>"$WORK/$name.log" 2>&1 || status=$?
  mapfile -t -O "${#layers[@]}" layers < <(sed -n 's/^ ---> \([0-9a-f]\{12\}\)$/\1/p' "$WORK/$name.log")
  return $status
}

t0=$SECONDS
# 1. One hex digit of the stand-in's sha256 changed.
good_sha="$(grep -m1 -oE '^ +sha256: [0-9a-f]{64}$' "$ESTATE" | grep -oE '[0-9a-f]{64}')" \
  || { say "no sha256 in $ESTATE"; exit 1; }
bad_sha="$([ "${good_sha:0:1}" = 0 ] && echo 1 || echo 0)${good_sha:1}"
sed "s/$good_sha/$bad_sha/" "$ESTATE" >"$WORK/estate-wrong.yaml"
if build wrong "$WORK/estate-wrong.yaml"; then
  failed "the build with a wrong sha256 succeeded"
elif grep -q "sha256 mismatch: the file has $good_sha, the estate config says $bad_sha" "$WORK/wrong.log" \
  && grep -q 'nothing installed' "$WORK/wrong.log"; then
  pass "wrong sha256: docker build fails ($(grep -m1 'FAIL:' "$WORK/wrong.log" | sed 's/^\[extensions\] //'))"
else
  failed "the build with a wrong sha256 failed, but not at the hash check:"; tail -n 20 "$WORK/wrong.log" >&2
fi
say "wrong-hash build: $((SECONDS - t0))s"

# 2. The e2e estate as it is.
t1=$SECONDS
if ! build ok "$ESTATE"; then
  failed "the build with the right sha256 failed:"; tail -n 20 "$WORK/ok.log" >&2
else
  pass "right sha256: docker build succeeds"
  expected="$(awk -F'\t' '!/^#/ && NF { print tolower($1) "@" $2 }' "$WORK/ctx-ok/extensions.manifest" | LC_ALL=C sort)"
  other="webide-standin.not-listed@9.9.9"
  python3 "$ROOT/images/ide/standin-vsix.py" "$WORK/other" "$other" >/dev/null
  out="$(docker run --rm --name "$PREFIX-ide-run-$$" -u 1000:1000 -v "$WORK/other:/other:ro" --entrypoint bash "$PREFIX-ide:ok" -c '
    set -u
    list() { code-server --list-extensions --show-versions --extensions-dir '"$EXT_DIR"' 2>/dev/null | grep -E "^[^ ]+@[^ ]+$" | tr "[:upper:]" "[:lower:]" | LC_ALL=C sort; }
    echo "uid=$(id -u)"
    list | sed "s/^/listed=/"
    find '"$EXT_DIR"' -printf "owner=%u:%g %m %p\n"
    touch '"$EXT_DIR"'/probe 2>/dev/null && echo "touch=written" || echo "touch=refused"
    for d in '"$EXT_DIR"'/*/; do touch "$d/probe" 2>/dev/null && echo "touch-sub=written $d" || true; done
    code-server --install-extension /other/*.vsix --extensions-dir '"$EXT_DIR"' >/tmp/install.log 2>&1 && echo "install=succeeded" || echo "install=refused"
    list | sed "s/^/after=/"
    grep -m1 -E "EACCES|denied|Error" /tmp/install.log | sed "s/^/install-log: /"
  ' 2>&1)" || true
  printf '%s\n' "$out" | sed 's/^/  | /'
  listed="$(printf '%s\n' "$out" | sed -n 's/^listed=//p')"
  after="$(printf '%s\n' "$out" | sed -n 's/^after=//p')"
  [ "$(printf '%s\n' "$out" | sed -n 's/^uid=//p')" = 1000 ] && pass "runs as uid 1000" || failed "not uid 1000"
  [ -n "$expected" ] && [ "$listed" = "$expected" ] && pass "code-server lists exactly: $(echo $listed)" || failed "listed '$(echo $listed)', the estate config says '$(echo $expected)'"
  printf '%s\n' "$out" | grep '^owner=' | grep -qvE '^owner=root:root (755|644) ' && failed "something in $EXT_DIR is not root's 755/644" || pass "$EXT_DIR and everything in it: root's, mode 755/644"
  printf '%s\n' "$out" | grep -q '^touch=refused$' && ! printf '%s\n' "$out" | grep -q '^touch-sub=written' \
    && pass "uid 1000 cannot write into $EXT_DIR (nor into an extension's dir)" || failed "uid 1000 can write into $EXT_DIR"
  printf '%s\n' "$out" | grep -q '^install=refused$' && [ "$after" = "$listed" ] \
    && pass "uid 1000 cannot --install-extension $other there; the list is unchanged" || failed "uid 1000 installed $other (or the list changed)"
fi
say "right-hash build and checks: $((SECONDS - t1))s"
say "$([ "$failures" -eq 0 ] && echo "all passed" || echo "$failures check(s) FAILED") in $((SECONDS - t0))s"
[ "$failures" -eq 0 ]
