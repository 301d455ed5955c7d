#!/usr/bin/env bash
# Host side of webide-local/oauth2-proxy: builds the binary from the Go module proxy this
# machine's Go is configured for (module …/v7@v<VERSION>), static and trimmed, the version
# stamped in as upstream's Makefile does. Env from build-images.sh: CTX VERSION STAGE.
set -euo pipefail
: "${CTX:?}" "${VERSION:?}" "${STAGE:?}"
command -v go >/dev/null 2>&1 || { echo "go is needed to build oauth2-proxy" >&2; exit 1; }
gobin="$STAGE/downloads/oauth2-proxy-v$VERSION-$(go env GOVERSION)"
if [ ! -x "$gobin/oauth2-proxy" ]; then
  # What `go install github.com/oauth2-proxy/oauth2-proxy/v7@v$VERSION` does, in two steps:
  # `go install pkg@version` also asks the proxy for the module's version list (to report
  # deprecations), which the proxy here refuses (403); fetching the exact version works.
  # The build uses the module's own go.mod/go.sum (read-only), so dependencies are as pinned.
  src="$(go mod download -json "github.com/oauth2-proxy/oauth2-proxy/v7@v$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -f "$src/go.mod" ] || { echo "go mod download gave no source directory" >&2; exit 1; }
  rm -rf "$gobin.tmp"
  mkdir -p "$gobin.tmp"
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=readonly timeout 1200 go build -trimpath \
    -ldflags "-s -w -X github.com/oauth2-proxy/oauth2-proxy/v7/pkg/version.VERSION=v$VERSION" \
    -o "$gobin.tmp/oauth2-proxy" .)
  rm -rf "$gobin"
  mv "$gobin.tmp" "$gobin"
fi
"$gobin/oauth2-proxy" --version
cp "$gobin/oauth2-proxy" "$CTX/oauth2-proxy"
