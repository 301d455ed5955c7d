#!/bin/sh
# webide-egress-trust <ca-dir> <out-dir> <system-pem-bundle> <system-java-store>
#
# The IDE's trust in the bank's CAs (issue 18), run by the entrypoint at every start (the bank's
# CA files are mounted read-only at run time, so nothing of this can be built into the image):
#  * <out-dir>/ca-bundle.pem: the system CAs, then every distinct certificate of <ca-dir>/*.pem.
#    git, npm, pip, apt, curl, Python and node are pointed at it (render/ide-egress.ts).
#  * <out-dir>/java-cacerts: a copy of the system Java trust store with the same certificates
#    added (keytool). The JRE's default trust store links to it in the image, so Maven and every
#    other JVM tool trusts them with no option.
# Both are written also with no CA (then they hold only the system CAs), because the JRE's link
# is always there. Each is written beside and then renamed, so a reader never sees half a file.
# A certificate that does not parse is left out with a warning; the others are still trusted.
# <out-dir> is in the user's /tmp: a user who edits it changes only whom their own tools trust.
set -u
if [ $# -ne 4 ]; then
  echo "usage: webide-egress-trust <ca-dir> <out-dir> <system-pem-bundle> <system-java-store>" >&2
  exit 2
fi
ca_dir=$1 out=$2 system_pem=$3 system_java=$4
# The well-known password of Debian's Java trust store. It guards nothing: a trust store holds
# only public certificates, and Java reads one without the password.
storepass=changeit
say() { echo "webide-egress-trust: $*" >&2; }

umask 022
mkdir -p "$out" || exit 1
work="$(mktemp -d "$out/.work.XXXXXX")" || exit 1
trap 'rm -rf "$work"' EXIT
mkdir "$work/split" "$work/certs"

# One file per certificate (a CA file may hold a chain), CRs dropped.
for ca in "$ca_dir"/*.pem; do
  [ -f "$ca" ] || continue
  base="$(basename "$ca" .pem)"
  awk -v prefix="$work/split/$base." '
    { sub(/\r$/, "") }
    /^-----BEGIN CERTIFICATE-----$/ { n++; file = prefix n; inside = 1 }
    inside { print > file }
    /^-----END CERTIFICATE-----$/ { if (inside) close(file); inside = 0 }
  ' "$ca" || say "cannot read $ca"
done
# Distinct certificates only (one bank CA is often the CA of every service), named by digest.
for cert in "$work"/split/*; do
  [ -f "$cert" ] || continue
  if command -v openssl >/dev/null 2>&1 && ! openssl x509 -noout -in "$cert" >/dev/null 2>&1; then
    name="${cert##*/}"
    say "left out certificate ${name##*.} of $ca_dir/${name%.*}.pem: it does not parse"
    continue
  fi
  digest="$(sha256sum "$cert" | cut -c1-16)"
  mv -f "$cert" "$work/certs/$digest.pem"
done
count=0
for cert in "$work"/certs/*.pem; do [ -f "$cert" ] && count=$((count + 1)); done

# The PEM bundle.
{
  if [ -f "$system_pem" ]; then cat "$system_pem"; fi
  for cert in "$work"/certs/*.pem; do
    [ -f "$cert" ] || continue
    cat "$cert"
  done
} >"$work/ca-bundle.pem" && mv -f "$work/ca-bundle.pem" "$out/ca-bundle.pem" || { say "cannot write $out/ca-bundle.pem"; exit 1; }

# The Java trust store (only where the system has one, i.e. a JRE is installed).
if [ -f "$system_java" ]; then
  cp "$system_java" "$work/java-cacerts" || { say "cannot copy $system_java"; exit 1; }
  if [ "$count" -gt 0 ] && ! command -v keytool >/dev/null 2>&1; then
    say "no keytool: Java trusts only the system CAs"
  elif [ "$count" -gt 0 ]; then
    for cert in "$work"/certs/*.pem; do
      alias="webide-egress-$(basename "$cert" .pem)"
      keytool -importcert -noprompt -alias "$alias" -file "$cert" -keystore "$work/java-cacerts" -storepass "$storepass" >"$work/keytool.log" 2>&1 \
        || { say "keytool could not add $alias:"; cat "$work/keytool.log" >&2; }
    done
  fi
  mv -f "$work/java-cacerts" "$out/java-cacerts" || { say "cannot write $out/java-cacerts"; exit 1; }
fi
say "$count bank CA certificate(s) trusted (from $ca_dir)"
