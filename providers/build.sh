#!/usr/bin/env bash
# Builds the Terraform providers this project uses from the Go module proxy and
# lays them out as a Terraform filesystem mirror (unpacked layout), so that
# `terraform init` never needs the network:
#
#   providers/mirror/<host>/<namespace>/<type>/<version>/<os>_<arch>/terraform-provider-<type>_v<version>
#
# Also writes providers/terraformrc (CLI config: filesystem mirror only, no
# direct installation) and extracts the schema of each provider whose bindings are generated
# (keycloak, docker) into providers/schemas/<type>-<version>.json (input of `npm run gen`).
# The versions come from providers/pins.json, the one place that states them.
#
# Run as `npm run providers`. See providers/README.md.
#
# Environment:
#   PROVIDERS_UPDATE_LOCK=1   accept the freshly built binaries and rewrite providers/providers.lock.json
#   TF_PROVIDER_MIRROR_URL    render providers/terraformrc for an internal network mirror instead
#                             (no Go builds then)
#   GOPROXY, GONOSUMDB, ...   passed through to `go` (e.g. an internal Go module proxy)
#   PROVIDERS_SHARED_GOPROXY  a file-based Go module proxy serving the provider modules
#                             [<project>/../shared/goproxy, or beside the local repository this
#                             checkout was cloned from]; used first when it exists
#   PROVIDERS_OPENTOFU_VERSION  OpenTofu release built when no `terraform` is on PATH (default below)
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PDIR="$ROOT/providers"
MIRROR="$PDIR/mirror"
BIN_DIR="$PDIR/bin"
LOCK="$PDIR/providers.lock.json"
RC="$PDIR/terraformrc"
SCHEMA_DIR="$PDIR/schemas"
OPENTOFU_VERSION="${PROVIDERS_OPENTOFU_VERSION:-v1.10.10}"

# Pinned providers (from providers/pins.json), one per line:
#   namespace type version tag commit go-module pseudo-version code-module bindings
# code-module is "-" unless go.mod declares a module path different from where
# the code lives (docker: declared terraform-providers/..., code at kreuzwerker/...).
# bindings is "generated" for the providers whose schema is extracted for `npm run gen`.
PINS="$(node -e '
  const pins = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).providers;
  for (const p of pins) console.log([p.namespace, p.type, p.version, p.tag, p.commit, p.module, p.pseudoVersion, p.codeModule || "-", p.bindings === "generated" ? "generated" : "-"].join(" "));
' "$PDIR/pins.json")" || { echo "providers: cannot read providers/pins.json" >&2; exit 1; }

# ---------------------------------------------------------------- output helpers
T0="$(date +%s.%N)"
STEP="starting"
STEP_T="$T0"
LOG_DIR=""
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
say() { printf '[%7s] %s\n' "$(elapsed "$T0")" "$*"; }
step() { STEP="$*"; STEP_T="$(now)"; say "$*"; }
done_step() { say "  ok ($(elapsed "$STEP_T"))${1:+: $1}"; }
die() {
  trap - ERR
  printf '\nproviders: FAILED during: %s\n' "$STEP" >&2
  printf '  %s\n' "$@" >&2
  [ -n "$LOG_DIR" ] && printf '  logs: %s\n' "$LOG_DIR" >&2
  printf '  retry: npm run providers   (finished steps are skipped)\n' >&2
  exit 1
}
on_err() { die "command failed (exit $1) at providers/build.sh line $2"; }
trap 'on_err $? $LINENO' ERR

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH. $2"; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }

# ------------------------------------------------------------ lock file (JSON via node)
# lock_get <provider-key> <field>  -> prints the value or nothing
lock_get() {
  node -e '
    const fs = require("fs");
    const [file, key, field] = process.argv.slice(1);
    let lock = {};
    try { lock = JSON.parse(fs.readFileSync(file, "utf8")); } catch (e) { if (e.code !== "ENOENT") throw e; }
    const v = ((lock.providers || {})[key] || {})[field];
    if (v !== undefined && v !== null) process.stdout.write(String(v));
  ' "$LOCK" "$1" "$2"
}
# lock_put <provider-key> <json-object>
lock_put() {
  node -e '
    const fs = require("fs");
    const [file, key, json] = process.argv.slice(1);
    let lock = {};
    try { lock = JSON.parse(fs.readFileSync(file, "utf8")); } catch (e) { if (e.code !== "ENOENT") throw e; }
    lock.comment = "Written by providers/build.sh. Pins and sha256 of the provider binaries it builds. " +
      "Refresh with: PROVIDERS_UPDATE_LOCK=1 npm run providers";
    lock.providers = lock.providers || {};
    lock.providers[key] = JSON.parse(json);
    const sorted = {};
    for (const k of Object.keys(lock.providers).sort()) sorted[k] = lock.providers[k];
    fs.writeFileSync(file, JSON.stringify({ comment: lock.comment, providers: sorted }, null, 2) + "\n");
  ' "$LOCK" "$1" "$2"
}

# ---------------------------------------------------------------- preflight
cd "$ROOT"
say "providers: building the offline provider mirror in providers/mirror"
need node "Install Node.js (>= 20.9)."

# Default provider host of Terraform, derived at run time (never written into the repo).
step "resolving the default provider host"
TF_HOST="$(node -p "require('@cdktf/provider-docker/package.json').cdktf.provider.name.split('/')[0]" 2>/dev/null)" \
  || die "could not read @cdktf/provider-docker/package.json: run 'npm ci' first."
[ -n "$TF_HOST" ] || die "empty provider host from @cdktf/provider-docker/package.json"
done_step "$TF_HOST"

render_rc_network() {
  local url="$1"
  case "$url" in https://*) ;; *) die "TF_PROVIDER_MIRROR_URL must be an https:// URL (Terraform requires TLS for network mirrors), got: $url" ;; esac
  case "$url" in */) ;; *) url="$url/" ;; esac
  cat >"$RC.tmp" <<EOF
# Written by providers/build.sh (TF_PROVIDER_MIRROR_URL is set). Do not edit; re-run the script.
# Providers come only from the internal network mirror; nothing is installed directly.
provider_installation {
  network_mirror {
    url = "$url"
  }
}
EOF
  mv "$RC.tmp" "$RC"
}

render_rc_filesystem() {
  cat >"$RC.tmp" <<EOF
# Written by providers/build.sh. Do not edit; re-run the script.
# Providers come only from the local filesystem mirror; there is no "direct"
# block, so terraform init never contacts a registry.
provider_installation {
  filesystem_mirror {
    path = "$MIRROR"
  }
}
EOF
  mv "$RC.tmp" "$RC"
}

if [ -n "${TF_PROVIDER_MIRROR_URL:-}" ]; then
  step "writing providers/terraformrc for the network mirror (TF_PROVIDER_MIRROR_URL is set; no Go builds)"
  render_rc_network "$TF_PROVIDER_MIRROR_URL"
  done_step "$RC"
  say "use it with: export TF_CLI_CONFIG_FILE=$RC"
  exit 0
fi

LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/webide-providers.XXXXXX")"
WORK="$LOG_DIR/work"
mkdir -p "$WORK"

# ---------------------------------------------------------------- terraform binary
build_opentofu() {
  need go "Install Go (see https://go.dev/doc/install) to build OpenTofu."
  step "no terraform on PATH: building OpenTofu $OPENTOFU_VERSION from the Go module proxy into providers/bin (several minutes)"
  mkdir -p "$BIN_DIR"
  # OpenTofu's go.mod has replace directives, which `go install module@version` refuses:
  # build through a throwaway module that requires it and copies its replace/godebug lines.
  local mod=github.com/opentofu/opentofu tm="$WORK/opentofu" log="$LOG_DIR/opentofu.log" gomod
  mkdir -p "$tm"
  if ! gomod="$(cd "$WORK" && GOFLAGS= go mod download -json "$mod@$OPENTOFU_VERSION" 2>>"$log" \
      | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.Error)throw new Error(j.Error);process.stdout.write(j.GoMod)})' 2>>"$log")"; then
    tail -n 20 "$log" >&2
    die "could not download $mod@$OPENTOFU_VERSION from the Go module proxy (log: $log)." \
        "Install terraform on PATH instead, or set PROVIDERS_OPENTOFU_VERSION to a release your Go proxy has."
  fi
  {
    echo "module providers.local/build-opentofu"
    echo
    go mod edit -json "$gomod" | node -e '
      let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
        const m = JSON.parse(s), out = [];
        out.push("go " + m.Go);
        for (const g of m.GoDebug || m.Godebug || []) out.push("godebug " + g.Key + "=" + g.Value);
        out.push("", "require " + process.argv[1] + " " + process.argv[2], "");
        for (const r of m.Replace || []) {
          const side = (x) => x.Path + (x.Version ? " " + x.Version : "");
          out.push("replace " + side(r.Old) + " => " + side(r.New));
        }
        console.log(out.join("\n"));
      });' "$mod" "$OPENTOFU_VERSION"
  } >"$tm/go.mod"
  if ! (cd "$tm" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath \
      -ldflags="-s -w -X github.com/opentofu/opentofu/version.dev=no" \
      -o "$BIN_DIR/tofu" "$mod/cmd/tofu") >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "building OpenTofu $OPENTOFU_VERSION failed (log: $log)." \
        "Install terraform on PATH instead, or set PROVIDERS_OPENTOFU_VERSION to a release your Go proxy has."
  fi
  ln -sfn tofu "$BIN_DIR/terraform"
  done_step "$BIN_DIR/tofu"
}

step "locating the terraform binary"
if command -v terraform >/dev/null 2>&1 && [ "$(command -v terraform)" != "$BIN_DIR/terraform" ]; then
  TF="$(command -v terraform)"
elif [ -x "$BIN_DIR/terraform" ]; then
  TF="$BIN_DIR/terraform"
else
  build_opentofu
  TF="$BIN_DIR/terraform"
fi
TF_VERSION="$("$TF" version -json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{process.stdout.write(JSON.parse(s).terraform_version)}catch(e){}})' || true)"
IS_TOFU=0
if "$TF" version 2>/dev/null | head -n1 | grep -qi opentofu; then IS_TOFU=1; fi
done_step "using $TF ($([ "$IS_TOFU" = 1 ] && echo OpenTofu || echo Terraform) ${TF_VERSION:-unknown version})"

# ---------------------------------------------------------------- providers
PLATFORM=""
GO_VERSION=""
# Provider modules the usual Go proxy may refuse; a shared file-based proxy serves them.
PROVIDER_MODULES="github.com/keycloak/terraform-provider-keycloak,github.com/kreuzwerker/terraform-provider-docker,github.com/terraform-providers/terraform-provider-null"
# Where the shared proxy sits: beside the project, or beside the repository this checkout was
# cloned from when that is a local directory (CI builds a fresh clone in a temporary directory).
shared_goproxy() {
  [ -n "${PROVIDERS_SHARED_GOPROXY:-}" ] && { echo "$PROVIDERS_SHARED_GOPROXY"; return; }
  local origin
  origin="$(git -C "$ROOT" config --get remote.origin.url 2>/dev/null || true)"
  for dir in "$ROOT/../shared/goproxy" ${origin:+"${origin#file://}/../shared/goproxy"}; do
    [ -d "$dir/github.com" ] && { echo "$dir"; return; }
  done
}
SHARED_GOPROXY="$(shared_goproxy)"
go_env() {
  if [ -z "$GO_VERSION" ]; then
    need go "Install Go >= 1.25.8 (keycloak's go.mod requires it), or copy a mirror built elsewhere into providers/mirror."
    GO_VERSION="$(go env GOVERSION)"
    PLATFORM="$(go env GOOS)_$(go env GOARCH)"
    # A file-based proxy beside the project (the workplace's ../shared/goproxy) goes first;
    # everything it does not serve falls through to the configured proxy. Its modules are
    # not in the public checksum database, so they are listed in GONOSUMDB.
    if [ -n "$SHARED_GOPROXY" ] && [ -d "$SHARED_GOPROXY/github.com" ]; then
      local shared base
      shared="file://$(cd "$SHARED_GOPROXY" && pwd)"
      base="$(go env GOPROXY)"
      case ",$base," in *",$shared,"*) ;; *) export GOPROXY="$shared,$base" ;; esac
      base="$(go env GONOSUMDB)"
      export GONOSUMDB="${base:+$base,}$PROVIDER_MODULES"
      say "  Go modules: $SHARED_GOPROXY first, then the configured proxy; GONOSUMDB lists the provider modules"
    fi
  fi
}
# Platform without needing Go (for the all-cached fast path).
host_platform() {
  local os arch
  os="$(uname -s | tr '[:upper:]' '[:lower:]')"
  case "$(uname -m)" in x86_64 | amd64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; *) arch="$(uname -m)" ;; esac
  echo "${os}_${arch}"
}
PLATFORM="$(host_platform)"

explain_go_failure() { # <log> <module@version>
  local log="$1" what="$2"
  tail -n 15 "$log" >&2
  if grep -q 'verifying module' "$log"; then
    echo "The checksum database (GOSUMDB=$(go env GOSUMDB)) has no entry for $what." >&2
    echo "If your Go proxy serves modules the public checksum database does not know, list them in GONOSUMDB" >&2
    echo "(e.g. GONOSUMDB=${what%@*}) or point GOSUMDB at your proxy's checksum database, then retry." >&2
  elif grep -qE '403 Forbidden|404 Not Found|410 Gone|not available|unknown revision|invalid version' "$log"; then
    echo "The Go module proxy in use (GOPROXY=$(go env GOPROXY)) does not serve $what." >&2
    echo "Point GOPROXY at a proxy that has it (e.g. your organisation's internal Go proxy) and retry." >&2
  fi
}

LDFLAGS_FOR() { echo "-s -w -X main.version=$1 -X main.commit=$2"; }

# build_provider <ns> <type> <version> <commit> <module> <pseudo> <code-module> <out-file>; sets BUILD_METHOD
build_provider() {
  local ns="$1" type="$2" ver="$3" commit="$4" mod="$5" pseudo="$6" codemod="$7" out="$8"
  local gobin="$WORK/bin-$type" log="$LOG_DIR/$type.log" ldflags
  ldflags="$(LDFLAGS_FOR "$ver" "$commit")"
  rm -rf "$gobin" && mkdir -p "$gobin"
  say "  go install $mod@$pseudo (log: $log)"
  if (cd "$WORK" && GOFLAGS= CGO_ENABLED=0 GOBIN="$gobin" go install -trimpath -ldflags="$ldflags" "$mod@$pseudo") >"$log" 2>&1; then
    mv "$gobin/$(basename "$mod")" "$out"
    BUILD_METHOD="go install $mod@$pseudo"
    return 0
  fi
  if [ "$codemod" = "-" ]; then
    explain_go_failure "$log" "$mod@$pseudo"
    die "building $ns/$type $ver failed (log: $log)."
  fi
  # go.mod declares $mod but the code lives at $codemod: build through a throwaway
  # module that requires the declared path and replaces it with the real location.
  say "  refused ($(grep -m1 -oE 'declares its path as[^"]*|403 Forbidden|404 Not Found|not available' "$log" || echo 'see log')); retrying via a throwaway module replacing it with $codemod@$pseudo"
  local tm="$WORK/replace-$type" log2="$LOG_DIR/$type-replace.log"
  rm -rf "$tm" && mkdir -p "$tm"
  cat >"$tm/go.mod" <<EOF
module providers.local/build-$type

go $(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')

require $mod $pseudo

replace $mod => $codemod $pseudo
EOF
  if (cd "$tm" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" -o "$out" "$mod") >"$log2" 2>&1; then
    BUILD_METHOD="go build $mod (replace => $codemod@$pseudo)"
    return 0
  fi
  explain_go_failure "$log2" "$codemod@$pseudo"
  die "building $ns/$type $ver failed both ways (logs: $log, $log2)."
}

CHANGED_SCHEMAS=""
ALL_CACHED=1
while read -r ns type ver tag commit mod pseudo codemod bindings; do
  [ -n "$ns" ] || continue
  key="$ns/$type"
  dir="$MIRROR/$TF_HOST/$ns/$type/$ver/$PLATFORM"
  bin="$dir/terraform-provider-${type}_v$ver"
  step "$key $ver ($tag @ ${commit:0:12})"

  # The lock's pins must match the script's pins, or the recorded hash is for something else.
  locked_sha="$(lock_get "$key" sha256)"
  pins_match=1
  for pair in "version=$ver" "tag=$tag" "commit=$commit" "module=$mod" "pseudoVersion=$pseudo"; do
    if [ -n "$locked_sha" ] && [ "$(lock_get "$key" "${pair%%=*}")" != "${pair#*=}" ]; then pins_match=0; fi
  done
  if [ "$pins_match" = 0 ] && [ "${PROVIDERS_UPDATE_LOCK:-}" != 1 ]; then
    die "the pins for $key in providers/build.sh differ from providers/providers.lock.json." \
        "If you changed them on purpose, refresh the lock: PROVIDERS_UPDATE_LOCK=1 npm run providers"
  fi

  if [ -f "$bin" ] && [ -n "$locked_sha" ] && [ "$pins_match" = 1 ] && [ "$(sha256 "$bin")" = "$locked_sha" ]; then
    done_step "present, sha256 matches the lock"
    continue
  fi

  ALL_CACHED=0
  go_env
  dir="$MIRROR/$TF_HOST/$ns/$type/$ver/$PLATFORM"
  bin="$dir/terraform-provider-${type}_v$ver"
  if [ -f "$bin" ]; then
    say "  binary present but not matching the lock: removing it and rebuilding"
    rm -f "$bin"
  fi
  BUILD_METHOD=""
  built="$WORK/terraform-provider-${type}_v$ver"
  build_provider "$ns" "$type" "$ver" "$commit" "$mod" "$pseudo" "$codemod" "$built"
  sha="$(sha256 "$built")"
  entry="$(node -e '
    const [version, tag, commit, module, pseudoVersion, codeModule, build, ldflags, go, platform, sha256] = process.argv.slice(1);
    const e = { version, tag, commit, module, pseudoVersion };
    if (codeModule !== "-") e.codeModule = codeModule;
    Object.assign(e, { build, flags: "CGO_ENABLED=0 -trimpath -ldflags=\"" + ldflags + "\"", go, platform, sha256 });
    process.stdout.write(JSON.stringify(e));
  ' "$ver" "$tag" "$commit" "$mod" "$pseudo" "$codemod" "$BUILD_METHOD" "$(LDFLAGS_FOR "$ver" "$commit")" "$GO_VERSION" "$PLATFORM" "$sha")"
  if [ -z "$locked_sha" ]; then
    lock_put "$key" "$entry"
    say "  first build: recorded sha256 $sha in providers/providers.lock.json (commit it)"
  elif [ "$sha" != "$locked_sha" ]; then
    if [ "${PROVIDERS_UPDATE_LOCK:-}" = 1 ]; then
      lock_put "$key" "$entry"
      say "  PROVIDERS_UPDATE_LOCK=1: lock updated to sha256 $sha (commit providers/providers.lock.json)"
    else
      die "sha256 of the built $key $ver binary does not match providers/providers.lock.json:" \
          "  lock:  $locked_sha (built with $(lock_get "$key" go) for $(lock_get "$key" platform), $(lock_get "$key" build))" \
          "  built: $sha (built with $GO_VERSION for $PLATFORM, $BUILD_METHOD)" \
          "A different Go toolchain or platform changes the bytes; so does a changed module on the proxy." \
          "The new binary was NOT installed. If you trust it, refresh the lock:" \
          "  PROVIDERS_UPDATE_LOCK=1 npm run providers"
    fi
  elif [ "$pins_match" = 0 ]; then
    lock_put "$key" "$entry"
  fi
  mkdir -p "$dir"
  install -m 0755 "$built" "$bin.tmp" && mv "$bin.tmp" "$bin"
  [ "$bindings" = generated ] && CHANGED_SCHEMAS="$CHANGED_SCHEMAS $type"
  done_step "built, sha256 $sha"
done <<<"$PINS"

# OpenTofu resolves short provider sources against its own default host: make
# the mirror answer under that host too (a hard-linked copy of the same tree).
if [ "$IS_TOFU" = 1 ]; then
  step "OpenTofu: linking the mirror under its default provider host"
  probe="$WORK/tofu-probe"
  mkdir -p "$probe/empty"
  printf 'terraform {\n  required_providers {\n    null = { source = "hashicorp/null" }\n  }\n}\n' >"$probe/main.tf"
  printf 'provider_installation {\n  filesystem_mirror {\n    path = "%s"\n  }\n}\n' "$probe/empty" >"$probe/rc"
  TOFU_HOST="$(cd "$probe" && TF_CLI_CONFIG_FILE="$probe/rc" "$TF" init -input=false -no-color 2>&1 | grep -oE '[a-z0-9.-]+\.[a-z]+/hashicorp/null' | head -n1 | cut -d/ -f1 || true)"
  [ -n "$TOFU_HOST" ] || die "could not determine OpenTofu's default provider host (see: cd $probe && tofu init)"
  if [ "$TOFU_HOST" != "$TF_HOST" ]; then
    # The mirror scan does not follow a symlinked directory: hard-link the tree instead.
    rm -rf "${MIRROR:?}/$TOFU_HOST"
    cp -al "$MIRROR/$TF_HOST" "$MIRROR/$TOFU_HOST"
  fi
  done_step "$TOFU_HOST -> $TF_HOST"
fi

# ---------------------------------------------------------------- CLI config
step "writing providers/terraformrc (filesystem mirror only)"
render_rc_filesystem
done_step "$RC"

# ---------------------------------------------------------------- schema + install check
# Schemas to (re)extract: missing files, or a provider binary that changed in this run.
NEED_SCHEMAS=""
while read -r ns type ver tag commit mod pseudo codemod bindings; do
  [ "$bindings" = generated ] || continue
  if [ ! -f "$SCHEMA_DIR/$type-$ver.json" ] || [[ " $CHANGED_SCHEMAS " == *" $type "* ]]; then
    NEED_SCHEMAS="$NEED_SCHEMAS $ns/$type@$ver"
  fi
done <<<"$PINS"
if [ -z "$NEED_SCHEMAS" ]; then
  step "provider schemas"
  done_step "providers/schemas present and the binaries match the lock: skipped"
else
  step "terraform init against the mirror (all providers) and schema extraction:$NEED_SCHEMAS"
  tfdir="$WORK/schema"
  mkdir -p "$tfdir"
  node -e '
    const pins = process.argv[1].trim().split("\n").map((l) => l.trim().split(/\s+/));
    const rp = {};
    for (const [ns, type, ver] of pins) rp[type] = { source: ns + "/" + type, version: ver };
    process.stdout.write(JSON.stringify({ terraform: { required_providers: rp } }, null, 2));
  ' "$PINS" >"$tfdir/main.tf.json"
  (cd "$tfdir" && TF_CLI_CONFIG_FILE="$RC" TF_IN_AUTOMATION=1 "$TF" init -input=false -no-color) >"$LOG_DIR/init.log" 2>&1 \
    || { tail -n 25 "$LOG_DIR/init.log" >&2; die "terraform init against providers/mirror failed (log: $LOG_DIR/init.log)."; }
  (cd "$tfdir" && TF_CLI_CONFIG_FILE="$RC" "$TF" providers schema -json) >"$WORK/schema-all.json" 2>"$LOG_DIR/schema.log" \
    || die "terraform providers schema -json failed (log: $LOG_DIR/schema.log)."
  (cd "$tfdir" && TF_CLI_CONFIG_FILE="$RC" "$TF" version -json) >"$WORK/version.json" 2>>"$LOG_DIR/schema.log"
  mkdir -p "$SCHEMA_DIR"
  for want in $NEED_SCHEMAS; do
    source_name="${want%@*}" ver="${want#*@}"
    schema_file="$SCHEMA_DIR/${source_name#*/}-$ver.json"
    # Keep only this provider's entry. Provider addresses are stored without the
    # registry host (the host is added back at run time by scripts/gen-bindings.js).
    node -e '
      const fs = require("fs");
      const [allFile, versionFile, out, host, want] = process.argv.slice(1);
      const all = JSON.parse(fs.readFileSync(allFile, "utf8"));
      const sel = JSON.parse(fs.readFileSync(versionFile, "utf8")).provider_selections || {};
      const fq = Object.keys(all.provider_schemas || {}).find((k) => k.endsWith("/" + want));
      if (!fq) throw new Error("no " + want + " in the provider schema output: " + Object.keys(all.provider_schemas || {}));
      const fqHost = fq.split("/").length === 3 ? fq.split("/")[0] : host;
      const short = fq.split("/").slice(-2).join("/");
      const doc = { format_version: all.format_version, provider_schemas: { [short]: all.provider_schemas[fq] } };
      if (sel[fq]) doc.provider_versions = { [short]: sel[fq] };
      const text = JSON.stringify(doc, null, 2) + "\n";
      if (text.includes(host) || text.includes(fqHost)) throw new Error("schema text still mentions a registry host; refusing to write it");
      fs.writeFileSync(out + ".tmp", text);
      fs.renameSync(out + ".tmp", out);
    ' "$WORK/schema-all.json" "$WORK/version.json" "$schema_file" "$TF_HOST" "$source_name"
    say "  wrote providers/schemas/$(basename "$schema_file") ($(sha256 "$schema_file" | cut -c1-12)…)"
  done
  done_step "extracted"
  if [ "$IS_TOFU" = 1 ]; then
    say "  note: extracted with OpenTofu, whose schema output differs from Terraform's (e.g. no write_only flags);"
    say "  the committed schema should come from Terraform: do not commit this change unless intended."
  fi
fi

rm -rf "$LOG_DIR"
LOG_DIR=""
say "providers: done in $(elapsed "$T0")$([ "$ALL_CACHED" = 1 ] && echo ' (all cached)'). Use: export TF_CLI_CONFIG_FILE=$RC"
