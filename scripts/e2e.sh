#!/usr/bin/env bash
# npm run test:e2e — the end-to-end tier: the estate deployed from empty onto a real Docker
# engine (Debian's docker.io, iptables on) with the local profile, a real Chromium session
# through nginx → oauth2-proxy → Keycloak with TOTP, probes, lifecycle, teardown.
#
#   bash scripts/e2e.sh         engine, images, browser, then the tests (prints each phase's time)
#   bash scripts/e2e.sh down    destroy what an E2E_KEEP=1 run left running
#
#   E2E_KEEP=1   leave the deployed estate running after the tests (how to reach it is printed)
#   E2E_REUSE=1  start from what a kept run left instead of from empty (developer loop; CI never sets it)
# Needs root (it installs and starts dockerd, builds images) and the provider mirror
# (npm run providers). Artefacts (screenshots) land in .work/e2e/artefacts.
set -euo pipefail
cd "$(dirname "$0")/.."
export CHECKPOINT_DISABLE=1

PHASE_LABEL=e2e
# shellcheck source=lib/phase.sh
source scripts/lib/phase.sh
trap report EXIT

[ -f providers/terraformrc ] || { echo "e2e: providers/terraformrc is missing: run 'npm run providers' first" >&2; exit 1; }

browser() {
  command -v chromium >/dev/null 2>&1 && return 0
  [ "$(id -u)" -eq 0 ] || { echo "e2e: chromium is missing; apt-get install chromium" >&2; return 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
}

phase 'Docker engine' bash scripts/docker/engine.sh start
if [ "${1:-}" = down ]; then
  phase 'tear down' npx ts-node --transpile-only __tests__/e2e/down.ts
  exit 0
fi
phase 'images (cached by inputs)' bash scripts/docker/build-images.sh
phase 'Chromium (Debian)' browser
phase 'tests (jest e2e)' npx jest --selectProjects e2e --runInBand
