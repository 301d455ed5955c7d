#!/usr/bin/env bash
# Creates .work/litellm-venv with a pinned LiteLLM proxy, for __tests__/render/litellm.test.ts,
# which starts the real `litellm` against a rendered config. Idempotent: a venv that already
# holds the pinned version is left as it is (fast). Usage: bash scripts/litellm-venv.sh
set -euo pipefail

# The one place the version is pinned. 1.103.7 is the newest release that installs with Python 3.11
# from the package index here: 1.103.8 and later require certifi>=2026.10.19, which the index lacks.
LITELLM_VERSION="1.103.7"
# litellm[proxy] leaves out prisma (it is in the extra-proxy extra), yet the proxy imports it while
# turning a failed API-key check into an error: without it a request with no key gets 500, not 401.
# The official LiteLLM image ships prisma; so does this venv.
PRISMA_VERSION="0.15.0"
# The proxy's Prometheus /metrics (the `prometheus` callback, render/litellm.ts `metrics`) needs
# prometheus_client, which litellm[proxy] leaves out too: without it the proxy does not start with
# that callback. The estate's monitoring scrapes it (render/monitoring, estateScrapeTargets).
PROMETHEUS_CLIENT_VERSION="0.26.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ROOT}/.work/litellm-venv"
PYTHON="${PYTHON:-python3}"

fail() {
  echo "litellm-venv: ERROR: $*" >&2
  echo "litellm-venv: to retry from scratch: rm -rf .work/litellm-venv && bash scripts/litellm-venv.sh" >&2
  exit 1
}

installed_version() {
  "${VENV}/bin/python" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "${1:-litellm}" 2>/dev/null || true
}

if [[ -x "${VENV}/bin/litellm" && "$(installed_version)" == "${LITELLM_VERSION}" && "$(installed_version prisma)" == "${PRISMA_VERSION}" \
      && "$(installed_version prometheus_client)" == "${PROMETHEUS_CLIENT_VERSION}" ]]; then
  echo "litellm-venv: ${VENV} already has litellm ${LITELLM_VERSION} (prisma ${PRISMA_VERSION}, prometheus_client ${PROMETHEUS_CLIENT_VERSION}); nothing to do"
  exit 0
fi

command -v "${PYTHON}" >/dev/null 2>&1 || fail "${PYTHON} not found (need Python >= 3.9; set PYTHON=/path/to/python3)"
"${PYTHON}" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
  || fail "$("${PYTHON}" --version 2>&1) is too old; LiteLLM needs Python >= 3.9"

if [[ ! -x "${VENV}/bin/python" ]]; then
  echo "litellm-venv: creating ${VENV} with $("${PYTHON}" --version 2>&1)"
  mkdir -p "$(dirname "${VENV}")"
  "${PYTHON}" -m venv "${VENV}" || fail "could not create the venv (on Debian: apt-get install python3-venv)"
fi

echo "litellm-venv: installing litellm[proxy]==${LITELLM_VERSION}, prisma==${PRISMA_VERSION} and prometheus_client==${PROMETHEUS_CLIENT_VERSION} (about a minute the first time)"
"${VENV}/bin/python" -m pip install --quiet --upgrade pip \
  || fail "could not upgrade pip in the venv (is the package index reachable?)"
"${VENV}/bin/python" -m pip install --progress-bar off "litellm[proxy]==${LITELLM_VERSION}" "prisma==${PRISMA_VERSION}" "prometheus_client==${PROMETHEUS_CLIENT_VERSION}" \
  || fail "pip could not install litellm[proxy]==${LITELLM_VERSION} prisma==${PRISMA_VERSION} prometheus_client==${PROMETHEUS_CLIENT_VERSION} (is the package index reachable?)"

[[ -x "${VENV}/bin/litellm" ]] || fail "the install finished but ${VENV}/bin/litellm is missing"
got="$(installed_version)"
[[ "${got}" == "${LITELLM_VERSION}" ]] || fail "expected litellm ${LITELLM_VERSION} in the venv, found '${got}'"
LITELLM_LOCAL_MODEL_COST_MAP=True "${VENV}/bin/python" -c 'import litellm.proxy.proxy_server, prisma.errors, prometheus_client' \
  || fail "litellm's proxy does not import in the venv"
echo "litellm-venv: ready: ${VENV}/bin/litellm (litellm ${got})"
