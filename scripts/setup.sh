#!/usr/bin/env bash
# Installs what the project needs on a fresh machine: Debian's nginx (for the real
# `nginx -t` check), OpenLDAP's slapd and ldap-utils (the directory the Keycloak tier signs in
# against), Chromium (the browser tests), the npm packages, the generated Keycloak bindings, the LiteLLM
# venv (for the real config-loading check) and the gixy-ng venv (the outside checker of
# nginx.conf). Idempotent; seconds when all is present.
#
# Quiet: each step's output goes to a log that is printed only when the step fails;
# a successful run prints one line. SETUP_VERBOSE=1 shows every step's output.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
log="$(mktemp "${TMPDIR:-/tmp}/webide-setup.XXXXXX")"
policy_rc=''
cleanup() {
  [ -n "$policy_rc" ] && rm -f "$policy_rc"
  rm -f "$log"
}
trap cleanup EXIT

# step <what> <command...>: runs the command; on failure prints what failed and its output.
step() {
  local what=$1; shift
  if [ "${SETUP_VERBOSE:-}" = 1 ]; then
    printf '[setup] %s\n' "$what"
    "$@" && return 0
    printf 'setup: FAILED: %s\n' "$what" >&2
    exit 1
  fi
  if ! "$@" >"$log" 2>&1; then
    printf 'setup: FAILED: %s\n' "$what" >&2
    sed 's/^/  /' "$log" >&2
    exit 1
  fi
}

install_packages() {
  # Only the binaries are needed; the packaged services must not start and hold ports.
  # policy-rc.d (exit 101) is Debian's way to forbid service starts during an install;
  # an administrator's own policy-rc.d is left alone.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy_rc=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
    chmod 0755 "$policy_rc"
  fi
  local had_pid_file=0
  [ -e /run/nginx.pid ] && had_pid_file=1
  # (set -e does not apply inside a function called from `if`: every failure returns explicitly.)
  apt-get update -qq || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl "${missing[@]}" || return 1
  if [ -n "$policy_rc" ]; then rm -f "$policy_rc"; policy_rc=''; fi
  # If the service started anyway (an existing policy allowed it), stop exactly the
  # process this install started, by the pid file it wrote; never by name.
  if [ "$had_pid_file" = 0 ] && [ -s /run/nginx.pid ]; then
    kill -TERM "$(cat /run/nginx.pid)" 2>/dev/null || true
  fi
}

# command -> Debian package, installed when the command is missing.
missing=()
# promtool, rsyslogd (with its TLS driver), mtail and restic check the estate's operations files
# (monitoring rules, audit sink, log-derived metrics, backups) with the real tools; amtool checks
# Alertmanager's config, and the exporters' --help the flags the monitoring image runs them with.
# git, Debian's pip, Maven and keytool (its JRE) read the IDE's egress files and trust store;
# squid runs the egress proxy's rendered config.
for pair in nginx:nginx-light slapd:slapd ldapadd:ldap-utils chromium:chromium promtool:prometheus \
  rsyslogd:rsyslog /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so:rsyslog-gnutls mtail:mtail restic:restic \
  amtool:prometheus-alertmanager prometheus-node-exporter:prometheus-node-exporter \
  prometheus-nginx-exporter:prometheus-nginx-exporter git:git curl:curl /usr/lib/python3/dist-packages/pip:python3-pip \
  mvn:maven keytool:default-jre-headless squid:squid; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || [ -e "${pair%%:*}" ] || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages and this is not root: apt-get install ${missing[*]}, then retry" >&2
    exit 1
  fi
  step "installing Debian's ${missing[*]}" install_packages
fi

if [ -L node_modules ]; then
  # A link to another checkout's packages (a git worktree): npm ci would empty that
  # checkout's node_modules through the link. Leave it to its owner.
  [ -f node_modules/.package-lock.json ] || { echo "setup: node_modules links to $(readlink node_modules), which has no installed packages yet" >&2; exit 1; }
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step 'npm ci' npm ci --no-audit --no-fund --loglevel=error
fi

step 'generating the keycloak and docker provider bindings (.gen/)' node scripts/gen-bindings.js
step 'LiteLLM venv (.work/litellm-venv)' bash scripts/litellm-venv.sh
step 'gixy-ng venv (.work/gixy-venv)' bash scripts/gixy-venv.sh
printf 'setup: ready (%ds): nginx, npm packages, .gen/, .work/litellm-venv, .work/gixy-venv\n' $((SECONDS - started))
