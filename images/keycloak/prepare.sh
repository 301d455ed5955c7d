#!/usr/bin/env bash
# Host side of webide-local/keycloak: fetches the Keycloak server distribution with mvn
# (org.keycloak:keycloak-quarkus-dist:<VERSION>:zip, from whatever repository this machine's
# Maven is configured for) and makes a Java runtime from this machine's JDK with jlink
# (Keycloak 26 needs Java >= 21; Debian bookworm has only 17).
# Env from build-images.sh: CTX VERSION STAGE JDK_HOME.
set -euo pipefail
: "${CTX:?}" "${VERSION:?}" "${STAGE:?}" "${JDK_HOME:?}"

dl="$STAGE/downloads/keycloak-$VERSION"
zip="$dl/keycloak-quarkus-dist-$VERSION.zip"
if [ ! -s "$zip" ]; then
  command -v mvn >/dev/null 2>&1 || { echo "mvn is needed to fetch Keycloak $VERSION" >&2; exit 1; }
  rm -rf "$dl.tmp"
  mkdir -p "$dl.tmp"
  # From an empty directory, so mvn never picks up a stray pom.xml.
  (cd "$dl.tmp" && timeout 900 mvn -B -q dependency:copy \
    "-Dartifact=org.keycloak:keycloak-quarkus-dist:$VERSION:zip" -DoutputDirectory="$dl.tmp")
  [ -s "$dl.tmp/keycloak-quarkus-dist-$VERSION.zip" ] || { echo "mvn did not produce keycloak-quarkus-dist-$VERSION.zip" >&2; exit 1; }
  rm -rf "$dl"
  mv "$dl.tmp" "$dl"
fi
command -v unzip >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip >/dev/null; }
rm -rf "$CTX/keycloak" "$CTX/unpack"
mkdir -p "$CTX/unpack"
unzip -q "$zip" -d "$CTX/unpack"
mv "$CTX/unpack/keycloak-$VERSION" "$CTX/keycloak"
rm -rf "$CTX/unpack"
[ -x "$CTX/keycloak/bin/kc.sh" ] || { echo "unexpected layout in $zip" >&2; exit 1; }

# A runtime (no man pages, headers or debug symbols) with every module of the JDK except the
# image tools (jlink cannot copy itself out of a JDK without jmods): smaller than the whole
# JDK, and nothing Keycloak or its libraries load can be missing.
"$JDK_HOME/bin/java" -version 2>&1 | head -n1
jre="$STAGE/downloads/jre-$(sed -n 's/^JAVA_RUNTIME_VERSION="\(.*\)"/\1/p' "$JDK_HOME/release")"
if [ ! -x "$jre/bin/java" ]; then
  modules="$("$JDK_HOME/bin/java" --list-modules | sed 's/@.*//' | grep -vxE 'jdk\.(jlink|jpackage)' | paste -sd, -)"
  rm -rf "$jre.tmp"
  "$JDK_HOME/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files \
    --compress=zip-6 --output "$jre.tmp"
  rm -rf "$jre"
  mv "$jre.tmp" "$jre"
fi
cp -a "$jre" "$CTX/jre"
echo "keycloak: context ready ($(du -sh "$CTX" | cut -f1))"
