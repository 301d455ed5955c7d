#!/usr/bin/env bash
# Host side of webide-local/litellm: hands the build stage this machine's pip settings
# (index, trusted hosts, CA bundle) so pip inside the build reaches the same package index.
# These files are used only by the build stage; the final image does not contain them.
# Env from build-images.sh: CTX.
set -euo pipefail
: "${CTX:?}"
mkdir -p "$CTX/build-only"
py="$(command -v python3)"
cfg="$("$py" -m pip config list 2>/dev/null || true)"
get() { # key -> value from `pip config list` (any scope) or PIP_<KEY>
  local v
  v="$(printf '%s\n' "$cfg" | sed -n "s/^[^.]*\.$1='\(.*\)'$/\1/p" | tail -n1)"
  if [ -z "$v" ]; then
    local envname="PIP_$(echo "$1" | tr 'a-z-' 'A-Z_')"
    v="${!envname:-}"
  fi
  printf '%s' "$v"
}
ca="$(get cert)"
for f in "$ca" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
  if [ -n "$f" ] && [ -s "$f" ]; then cp "$f" "$CTX/build-only/ca.crt"; break; fi
done
[ -s "$CTX/build-only/ca.crt" ] || { echo "no CA bundle found for pip" >&2; exit 1; }
{
  echo "[global]"
  echo "cert = /build/ca.crt"
  echo "timeout = $(get default-timeout | grep -E '^[0-9]+$' || echo 180)"
  echo "disable-pip-version-check = true"
  for key in index-url extra-index-url trusted-host; do
    v="$(get "$key")"
    [ -n "$v" ] && echo "$key = $v"
  done
} >"$CTX/build-only/pip.conf"
echo "litellm: pip settings for the build stage:"
sed 's/^/  /' "$CTX/build-only/pip.conf"
