#!/usr/bin/env bash
# Host-side build of webide-local/base:<suite>: a Debian minbase root filesystem made with
# debootstrap, then `docker import`ed. Called by scripts/docker/build-images.sh, which passes:
#   SUITE       Debian suite (bookworm)
#   TAG         the image tag to create
#   INPUTS_SHA  the value for the webide.inputs-sha256 label
#   WORK        a scratch directory this script may wipe
#   APT_SOURCES_PY  scripts/docker/lib/apt_sources.py (reads this machine's apt sources)
# The mirror is read from this machine's apt configuration at run time; the image gets the
# machine's Debian entries (SUITE, -updates, -security) as its own apt sources.
set -euo pipefail
: "${SUITE:?}" "${TAG:?}" "${INPUTS_SHA:?}" "${WORK:?}" "${APT_SOURCES_PY:?}"

if ! command -v debootstrap >/dev/null 2>&1; then
  echo "base: installing debootstrap from apt"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

MIRROR="$(python3 "$APT_SOURCES_PY" mirror "$SUITE")"
SOURCES="$(python3 "$APT_SOURCES_PY" deb822 "$SUITE")"
echo "base: debootstrap --variant=minbase ${SUITE} from this machine's apt mirror"

rm -rf "$WORK"
mkdir -p "$WORK"
ROOTFS="$WORK/rootfs"
# debian-archive-keyring: the images verify the archive with it (apt in the images).
debootstrap --variant=minbase --arch=amd64 --include=debian-archive-keyring \
  "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  echo "base: debootstrap failed; last lines of $WORK/debootstrap.log:" >&2
  tail -n 30 "$WORK/debootstrap.log" >&2
  exit 1
}

# apt: this machine's Debian sources; no recommends; no docs, man pages or locales
# (copyright files stay); no caches left behind by any later `apt-get install`.
rm -f "$ROOTFS/etc/apt/sources.list"
printf '%s\n' "$SOURCES" >"$ROOTFS/etc/apt/sources.list.d/debian.sources"
cat >"$ROOTFS/etc/apt/apt.conf.d/90webide" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
EOF
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/90webide" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
# Images never start services at install time.
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
  "$ROOTFS"/var/log/* "$ROOTFS"/tmp/* "$ROOTFS"/usr/share/doc/*/changelog* "$ROOTFS"/usr/share/man/* \
  "$ROOTFS"/usr/share/info/*
: >"$ROOTFS/etc/hostname"
: >"$ROOTFS/etc/resolv.conf"

tar --numeric-owner --xattrs -C "$ROOTFS" \
  --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
  -cf - . | docker import \
  --change 'CMD ["/bin/bash"]' \
  --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "LABEL webide.inputs-sha256=${INPUTS_SHA} webide.profile=local org.opencontainers.image.title=webide-local-base org.opencontainers.image.description=\"Debian ${SUITE} minbase made with debootstrap\"" \
  - "$TAG" >/dev/null
rm -rf "$WORK"
echo "base: imported $TAG"
