#!/usr/bin/env bash
# npm run test:swarm — the Swarm tier: a real three-node swarm and a private registry on this
# machine (scripts/swarm/lab.sh), the tests in __tests__/swarm, then the lab removed again
# (also when a test fails). Needs root. Prints each phase's time.
#
#   SWARM_KEEP=1   leave the lab running afterwards (remove it with: bash scripts/swarm/lab.sh stop)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CHECKPOINT_DISABLE=1

PHASE_LABEL=swarm
# shellcheck source=../lib/phase.sh
source scripts/lib/phase.sh
finish() {
  local status=$?
  [ "${SWARM_KEEP:-}" = 1 ] || phase 'lab stop' bash scripts/swarm/lab.sh stop || status=$?
  report
  exit $status
}

phase 'Docker engine' bash scripts/docker/engine.sh start
phase 'probe image (base)' bash scripts/docker/build-images.sh --only base
# The workspaces test runs the estate's own IDE, nginx, LiteLLM, PostgreSQL, Keycloak and oauth2-proxy images and the AI stand-in on
# the swarm (cached for the e2e tier).
phase 'images (nginx, code-server, ide, litellm, ai-standin, postgres, keycloak, oauth2-proxy, registry)' bash -c 'for image in nginx code-server ide litellm ai-standin postgres keycloak oauth2-proxy registry; do bash scripts/docker/build-images.sh --only "$image" || exit; done'
trap finish EXIT
phase 'lab start (registry, 3 nodes)' bash scripts/swarm/lab.sh start
phase 'tests (jest swarm)' npx jest --selectProjects swarm --runInBand
