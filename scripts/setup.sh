#!/usr/bin/env bash
# Installs what the project needs on a fresh machine: Debian's nginx (for the real
# `nginx -t` check), the npm packages, the generated Keycloak bindings and the LiteLLM
# venv (for the real config-loading check). Idempotent; seconds when all is present.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '[setup] %s\n' "$*"; }

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: nginx is missing and this is not root; install Debian's nginx-light (apt-get install nginx-light) and retry" >&2
    exit 1
  fi
  step "installing Debian's nginx-light (for nginx -t)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light openssl >/dev/null
  # Only the binary is needed; the packaged service must not hold ports.
  (service nginx stop || pkill -x nginx || true) >/dev/null 2>&1
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step 'npm ci'
  npm ci --no-audit --no-fund --loglevel=error
fi

step 'generating Keycloak provider bindings (.gen/)'
node scripts/gen-keycloak-bindings.js

step 'LiteLLM venv (.work/litellm-venv)'
bash scripts/litellm-venv.sh
step 'done'
