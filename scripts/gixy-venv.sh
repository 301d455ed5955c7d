#!/usr/bin/env bash
# Creates .work/gixy-venv with a pinned gixy-ng (an nginx configuration security checker), for
# __tests__/render/nginx-gixy.test.ts, which runs it over the rendered nginx.conf. Idempotent: a venv
# that already holds the pinned version is left as it is (fast). Usage: bash scripts/gixy-venv.sh
set -euo pipefail

# The one place the version is pinned.
GIXY_VERSION="0.2.59"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ROOT}/.work/gixy-venv"
PYTHON="${PYTHON:-python3}"

fail() {
  echo "gixy-venv: ERROR: $*" >&2
  echo "gixy-venv: to retry from scratch: rm -rf .work/gixy-venv && bash scripts/gixy-venv.sh" >&2
  exit 1
}

installed_version() {
  "${VENV}/bin/python" -c 'import importlib.metadata as m; print(m.version("gixy-ng"))' 2>/dev/null || true
}

if [[ -x "${VENV}/bin/gixy" && "$(installed_version)" == "${GIXY_VERSION}" ]]; then
  echo "gixy-venv: ${VENV} already has gixy-ng ${GIXY_VERSION}; nothing to do"
  exit 0
fi

command -v "${PYTHON}" >/dev/null 2>&1 || fail "${PYTHON} not found (need Python >= 3.9; set PYTHON=/path/to/python3)"

if [[ ! -x "${VENV}/bin/python" ]]; then
  echo "gixy-venv: creating ${VENV} with $("${PYTHON}" --version 2>&1)"
  mkdir -p "$(dirname "${VENV}")"
  "${PYTHON}" -m venv "${VENV}" || fail "could not create the venv (on Debian: apt-get install python3-venv)"
fi

echo "gixy-venv: installing gixy-ng==${GIXY_VERSION}"
"${VENV}/bin/python" -m pip install --quiet --progress-bar off "gixy-ng==${GIXY_VERSION}" \
  || fail "pip could not install gixy-ng==${GIXY_VERSION} (is the package index reachable?)"

[[ -x "${VENV}/bin/gixy" ]] || fail "the install finished but ${VENV}/bin/gixy is missing"
got="$(installed_version)"
[[ "${got}" == "${GIXY_VERSION}" ]] || fail "expected gixy-ng ${GIXY_VERSION} in the venv, found '${got}'"
"${VENV}/bin/gixy" --help >/dev/null || fail "gixy does not run in the venv"
echo "gixy-venv: ready: ${VENV}/bin/gixy (gixy-ng ${got})"
