#!/usr/bin/env bash
# scripts/keycloak/server.sh — a real Keycloak (production mode) on a real
# PostgreSQL, both bound to 127.0.0.1, for the project's live tests.
#
#   scripts/keycloak/server.sh start    download/unpack/build as needed, start PostgreSQL + Keycloak,
#                                       wait until /health/ready is UP, write .work/keycloak/admin.env
#   scripts/keycloak/server.sh stop     stop Keycloak, then PostgreSQL (both cleanly)
#   scripts/keycloak/server.sh status   report both (exit 0 only when both are up)
#   scripts/keycloak/server.sh env      print the path of admin.env (for `set -a; . "$(… env)"`)
#   scripts/keycloak/server.sh reset    stop and delete all state (database, credentials);
#                                       the downloaded distribution is kept
#
# Everything lives under <repo>/.work/ (git-ignored):
#   .work/keycloak/keycloak-<version>/   the unpacked distribution (cached)
#   .work/keycloak/server.log            Keycloak console log (appended; one banner per start)
#   .work/keycloak/keycloak.pid          pid of the kc.sh process (its own session/process group)
#   .work/keycloak/secrets.env           generated DB + bootstrap-admin passwords (mode 600)
#   .work/keycloak/admin.env             connection facts for tests (mode 600)
#   .work/postgres/data/                 private PostgreSQL cluster (owned by `postgres` when run as root;
#                                        under /var/tmp/webide-postgres-<hash> when `postgres` cannot traverse the checkout)
#   .work/postgres/postgres.log          PostgreSQL server log
#
# Environment overrides (defaults in brackets):
#   KEYCLOAK_VERSION [26.7.0]           Keycloak release (org.keycloak:keycloak-quarkus-dist:<v>:zip)
#   KEYCLOAK_JAVA_HOME                  JDK to run Keycloak with [Temurin 25 if present, else JAVA_HOME/PATH]
#   KEYCLOAK_HTTP_PORT [8180]           main HTTP listener (127.0.0.1)
#   KEYCLOAK_MANAGEMENT_PORT [9180]     management listener with /health (127.0.0.1)
#   KEYCLOAK_PG_PORT [55432]            PostgreSQL TCP port (127.0.0.1)
#   KEYCLOAK_ADMIN_USER [estate-admin]        bootstrap admin user name (only used when the master realm is created)
#   KEYCLOAK_START_TIMEOUT [180]        seconds `start` waits for /health/ready
set -euo pipefail

# ---------------------------------------------------------------------------
# Configuration (single place for the version)
# ---------------------------------------------------------------------------
# Newest Keycloak on Maven Central inside keycloak/keycloak provider v5.9.0's
# tested range (26.0.8 … 26.7.0). Override with KEYCLOAK_VERSION=...
KEYCLOAK_VERSION="${KEYCLOAK_VERSION:-26.7.0}"
KC_TESTED_MIN="26.0.8"
KC_TESTED_MAX="26.7.0"

HTTP_HOST="127.0.0.1"
HTTP_PORT="${KEYCLOAK_HTTP_PORT:-8180}"
MGMT_PORT="${KEYCLOAK_MANAGEMENT_PORT:-9180}"
PG_PORT="${KEYCLOAK_PG_PORT:-55432}"
ADMIN_USER_DEFAULT="${KEYCLOAK_ADMIN_USER:-estate-admin}"  # the user the identity stack signs in as
START_TIMEOUT="${KEYCLOAK_START_TIMEOUT:-180}"
STOP_TIMEOUT=60

# Build-time options (baked into lib/quarkus by `kc.sh build`; a change here
# triggers a rebuild on the next start).
BUILD_OPTS=(--db=postgres --health-enabled=true)
# Run-time options for `kc.sh start --optimized`. `--cache=local` (a run-time
# option in 26.7) keeps Keycloak single-node: the production default (`ispn`)
# starts a JGroups cluster transport on a site-local address (port 7800) and a
# failure-detection socket on all interfaces, which would break the
# "listen on 127.0.0.1 only" rule. Secrets are passed via the environment.
START_OPTS=(
  --http-enabled=true
  --http-host="$HTTP_HOST"
  --http-port="$HTTP_PORT"
  --http-management-host="$HTTP_HOST"
  --http-management-port="$MGMT_PORT"
  --hostname-strict=false
  --proxy-headers=xforwarded
  --cache=local
)

DB_NAME="keycloak"
DB_USER="keycloak"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
WORK_DIR="$REPO_ROOT/.work"
KC_ROOT="$WORK_DIR/keycloak"
KC_HOME="$KC_ROOT/keycloak-$KEYCLOAK_VERSION"
KC_LOG="$KC_ROOT/server.log"
KC_PID_FILE="$KC_ROOT/keycloak.pid"
KC_BUILD_STAMP="$KC_HOME/.build-options"
SECRETS_FILE="$KC_ROOT/secrets.env"
ADMIN_ENV="$KC_ROOT/admin.env"
PG_DIR="$WORK_DIR/postgres"
# As root, PostgreSQL runs as the OS user `postgres`, which must reach its directory. A checkout
# it cannot traverse (CI clones into a private `mktemp -d`) gets the cluster under /var/tmp
# instead, named after the checkout, rather than having its permissions changed.
if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$REPO_ROOT" 2>/dev/null; then
  PG_DIR="/var/tmp/webide-postgres-$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12)"
fi
PG_DATA="$PG_DIR/data"
PG_LOG="$PG_DIR/postgres.log"
PG_SOCKET_DIR="$PG_DATA" # unix socket lives in the data dir, nowhere shared

KC_URL="http://$HTTP_HOST:$HTTP_PORT"
KC_READY_URL="http://$HTTP_HOST:$MGMT_PORT/health/ready"

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
log() { printf '[keycloak] %s\n' "$*"; }
warn() { printf '[keycloak] WARNING: %s\n' "$*" >&2; }
die() {
  printf '[keycloak] ERROR: %s\n' "$*" >&2
  exit 1
}
now() { date +%s; }

# Version compare: is $1 <= $2 ?
version_le() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$1" ]; }

# Locate PostgreSQL server binaries (Debian keeps them off PATH).
find_pg_bin() {
  if [ -n "${PG_BIN:-}" ]; then return; fi
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && PG_BIN="$d"
  done
  if [ -z "${PG_BIN:-}" ] && command -v initdb >/dev/null 2>&1; then
    PG_BIN="$(dirname "$(command -v initdb)")"
  fi
  [ -n "${PG_BIN:-}" ] || die "PostgreSQL server binaries (initdb, pg_ctl) not found; install PostgreSQL (e.g. apt-get install postgresql) and retry"
}

# initdb/postgres refuse to run as root: when root, run them as the `postgres`
# OS user; otherwise run them as the current user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

psql_admin() { # psql as the cluster superuser over the private unix socket
  as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres "$@"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Choose the JDK. Keycloak 26 needs Java >= 21; 26.7 supports 21 and 25.
select_java() {
  local candidates=() c
  [ -n "${KEYCLOAK_JAVA_HOME:-}" ] && candidates+=("$KEYCLOAK_JAVA_HOME")
  for c in /usr/lib/jvm/temurin-25-jdk*; do [ -x "$c/bin/java" ] && candidates+=("$c"); done
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  if command -v java >/dev/null 2>&1; then
    candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  fi
  for c in "${candidates[@]}"; do
    [ -x "$c/bin/java" ] || continue
    local ver
    ver="$("$c/bin/java" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2; exit}')"
    if [ -n "$ver" ] && [ "${ver%%.*}" -ge 21 ]; then
      KC_JAVA_HOME="$c"
      KC_JAVA_VERSION="$ver"
      return
    fi
    [ -n "${KEYCLOAK_JAVA_HOME:-}" ] && [ "$c" = "$KEYCLOAK_JAVA_HOME" ] &&
      die "KEYCLOAK_JAVA_HOME=$c is Java $ver; Keycloak 26 needs Java 21 or newer"
  done
  die "no Java >= 21 found (Keycloak 26 requires it; /usr/bin/java here may be 17). Install a JDK 21/25 and set KEYCLOAK_JAVA_HOME=/path/to/jdk, then retry"
}

# ---------------------------------------------------------------------------
# Keycloak distribution: download via mvn, unpack, build
# ---------------------------------------------------------------------------
ensure_distribution() {
  if [ -x "$KC_HOME/bin/kc.sh" ] && [ -f "$KC_HOME/version.txt" ]; then
    log "distribution cached: $KC_HOME"
    return
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found; it is needed to fetch org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip"
  command -v unzip >/dev/null 2>&1 || die "unzip not found (apt-get install unzip), then retry"
  local t0 dl tmp zip
  t0=$(now)
  dl="$KC_ROOT/download"
  rm -rf "$dl"
  mkdir -p "$dl"
  log "downloading org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip with mvn ..."
  # Run from the empty download dir so mvn never picks up a stray pom.xml.
  if ! (cd "$dl" && mvn -B -q dependency:copy \
    "-Dartifact=org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
    -DoutputDirectory="$dl" >"$dl/mvn.log" 2>&1); then
    tail -n 30 "$dl/mvn.log" >&2 || true
    die "mvn could not fetch keycloak-quarkus-dist $KEYCLOAK_VERSION (log: $dl/mvn.log). Check the version exists and that mvn can reach its repository, then retry"
  fi
  zip="$dl/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
  [ -f "$zip" ] || die "mvn finished but $zip is missing; retry or inspect $dl/mvn.log"
  log "unpacking $(du -h "$zip" | cut -f1) archive ..."
  # Unpack into a temp dir and move into place, so an interrupted unpack is never mistaken for a cached one.
  tmp="$KC_ROOT/unpack.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  unzip -q "$zip" -d "$tmp" || die "unzip of $zip failed; delete $dl and retry"
  [ -x "$tmp/keycloak-$KEYCLOAK_VERSION/bin/kc.sh" ] || die "unexpected archive layout in $zip (no keycloak-$KEYCLOAK_VERSION/bin/kc.sh)"
  rm -rf "$KC_HOME"
  mv "$tmp/keycloak-$KEYCLOAK_VERSION" "$KC_HOME"
  rm -rf "$tmp" "$dl" # mvn keeps its own copy in the local repository
  log "distribution ready in $(($(now) - t0)) s: $KC_HOME"
}

# `kc.sh build` (augmentation) is slow; run it only when the build options or the
# distribution changed, then always start with --optimized.
ensure_build() {
  local want
  want="${BUILD_OPTS[*]}"
  if [ -f "$KC_BUILD_STAMP" ] && [ "$(cat "$KC_BUILD_STAMP")" = "$want" ]; then
    log "build up to date ($want)"
    return
  fi
  local t0
  t0=$(now)
  log "kc.sh build $want ..."
  if ! JAVA_HOME="$KC_JAVA_HOME" "$KC_HOME/bin/kc.sh" build "${BUILD_OPTS[@]}" >"$KC_ROOT/build.log" 2>&1; then
    tail -n 40 "$KC_ROOT/build.log" >&2 || true
    die "kc.sh build failed (log: $KC_ROOT/build.log); fix the cause and rerun: $0 start"
  fi
  printf '%s\n' "$want" >"$KC_BUILD_STAMP"
  log "build done in $(($(now) - t0)) s"
}

# ---------------------------------------------------------------------------
# Secrets (generated at run time, never committed; .work/ is git-ignored)
# ---------------------------------------------------------------------------
load_or_create_secrets() {
  if [ -f "$SECRETS_FILE" ]; then
    # shellcheck disable=SC1090
    . "$SECRETS_FILE"
  else
    if [ -d "$PG_DATA" ] && [ -f "$PG_DATA/PG_VERSION" ]; then
      # The database may already hold a master realm whose admin password we no longer know.
      NEED_ADMIN_CHECK=1
    fi
    command -v openssl >/dev/null 2>&1 || die "openssl not found; it is needed to generate passwords"
    DB_PASSWORD="$(openssl rand -hex 24)"
    ADMIN_USER="$ADMIN_USER_DEFAULT"
    ADMIN_PASSWORD="$(openssl rand -hex 24)"
    (
      umask 077
      cat >"$SECRETS_FILE" <<EOF
# Generated by scripts/keycloak/server.sh — local test credentials, never commit.
DB_PASSWORD=$DB_PASSWORD
ADMIN_USER=$ADMIN_USER
ADMIN_PASSWORD=$ADMIN_PASSWORD
EOF
    )
    log "generated new DB and bootstrap-admin passwords ($SECRETS_FILE)"
  fi
  local v
  for v in DB_PASSWORD ADMIN_USER ADMIN_PASSWORD; do
    [ -n "${!v:-}" ] || die "$SECRETS_FILE lacks $v; run '$0 reset' (wipes the test database), then '$0 start'"
  done
}

write_admin_env() {
  local tmp="$ADMIN_ENV.tmp.$$"
  (
    umask 077
    cat >"$tmp" <<EOF
# Written by scripts/keycloak/server.sh start — connection facts for live tests. Never commit.
KEYCLOAK_URL=$KC_URL
KEYCLOAK_ADMIN_USER=$ADMIN_USER
KEYCLOAK_ADMIN_PASSWORD=$ADMIN_PASSWORD
KEYCLOAK_VERSION=$KEYCLOAK_VERSION
KEYCLOAK_ADMIN_REALM=master
KEYCLOAK_ADMIN_CLIENT_ID=admin-cli
KEYCLOAK_MANAGEMENT_URL=http://$HTTP_HOST:$MGMT_PORT
EOF
  )
  chmod 600 "$tmp"
  mv -f "$tmp" "$ADMIN_ENV"
}

# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------
pg_running() {
  [ -f "$PG_DATA/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

ensure_pg_cluster() {
  [ -f "$PG_DATA/PG_VERSION" ] && return
  local t0
  t0=$(now)
  log "creating PostgreSQL cluster in $PG_DATA ..."
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "OS user 'postgres' does not exist (needed because initdb refuses to run as root); install the postgresql package and retry"
    chown postgres:postgres "$PG_DIR"
    chmod 700 "$PG_DIR"
    # The postgres user must be able to reach the directory through the repo path.
    runuser -u postgres -- test -w "$PG_DIR" ||
      die "user 'postgres' cannot write $PG_DIR (a parent directory is not traversable?); make the path to it world-executable (chmod o+x) and retry"
  fi
  # Password auth (scram) on TCP; peer auth on the private unix socket.
  if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --encoding=UTF8 --no-locale \
    --auth-local=peer --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1; then
    tail -n 20 "$PG_DIR/initdb.log" >&2 || true
    rm -rf "$PG_DATA"
    die "initdb failed (log: $PG_DIR/initdb.log); fix the cause and rerun: $0 start"
  fi
  log "cluster created in $(($(now) - t0)) s"
}

start_pg() {
  if pg_running; then
    log "PostgreSQL already running (port $PG_PORT)"
    return
  fi
  if port_in_use "$PG_PORT"; then
    die "port 127.0.0.1:$PG_PORT is taken by another process; set KEYCLOAK_PG_PORT=<free port> and retry"
  fi
  [ ${#PG_SOCKET_DIR} -lt 90 ] || die "unix socket path under $PG_SOCKET_DIR is too long for PostgreSQL (max ~107 bytes); move the repo to a shorter path"
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT ..."
  [ "$(id -u)" = 0 ] && { touch "$PG_LOG"; chown postgres:postgres "$PG_LOG"; }
  # Settings passed on the command line so that port overrides need no config edits.
  if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_SOCKET_DIR" >/dev/null; then
    tail -n 20 "$PG_LOG" >&2 || true
    die "PostgreSQL failed to start (log: $PG_LOG); fix the cause and rerun: $0 start"
  fi
}

# Create (or re-password) role and database `keycloak`. Idempotent.
ensure_pg_db() {
  # The password is hex (no quoting issues) and goes through stdin, not argv.
  psql_admin -d postgres >/dev/null <<SQL || die "could not create role/database '$DB_NAME' in PostgreSQL (log: $PG_LOG)"
SELECT format('CREATE ROLE %I LOGIN', '$DB_USER') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER')\gexec
ALTER ROLE "$DB_USER" WITH LOGIN PASSWORD '$DB_PASSWORD';
SELECT format('CREATE DATABASE %I OWNER %I ENCODING ''UTF8''', '$DB_NAME', '$DB_USER') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB_NAME')\gexec
SQL
  if [ "${NEED_ADMIN_CHECK:-0}" = 1 ]; then
    local n
    n="$(psql_admin -d "$DB_NAME" -tA -c "SELECT count(*) FROM information_schema.tables WHERE table_name = 'realm'" 2>/dev/null || echo 0)"
    if [ "$n" != 0 ]; then
      rm -f "$SECRETS_FILE"
      die "the database already holds a Keycloak master realm but $SECRETS_FILE was lost, so the admin password is unknown; run '$0 reset' (wipes the test database) and then '$0 start'"
    fi
  fi
}

stop_pg() {
  find_pg_bin
  if ! pg_running; then
    log "PostgreSQL not running"
    return
  fi
  log "stopping PostgreSQL ..."
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null ||
    die "PostgreSQL did not stop (log: $PG_LOG); retry '$0 stop'"
  log "PostgreSQL stopped"
}

# ---------------------------------------------------------------------------
# Keycloak process
# ---------------------------------------------------------------------------
kc_pid() { # prints the pid when our Keycloak (kc.sh for this KC_ROOT) is alive
  [ -f "$KC_PID_FILE" ] || return 1
  local pid
  pid="$(cat "$KC_PID_FILE")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: the process must be a kc.sh from our .work/keycloak.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$KC_ROOT/" || return 1
  printf '%s\n' "$pid"
}

# Fail early (before PostgreSQL is touched) when Keycloak's ports are taken by someone else.
check_kc_ports() {
  kc_pid >/dev/null && return 0
  local p
  for p in "$HTTP_PORT" "$MGMT_PORT"; do
    if port_in_use "$p"; then
      die "port 127.0.0.1:$p is taken by another process; stop it or set KEYCLOAK_HTTP_PORT / KEYCLOAK_MANAGEMENT_PORT and retry"
    fi
  done
}

kc_ready() {
  curl -fsS --max-time 3 "$KC_READY_URL" 2>/dev/null | grep -q '"status"[[:space:]]*:[[:space:]]*"UP"'
}

start_kc() {
  local pid
  if pid="$(kc_pid)"; then
    log "Keycloak already running (pid $pid)"
    return
  fi
  rm -f "$KC_PID_FILE"
  check_kc_ports
  log "starting Keycloak $KEYCLOAK_VERSION (production mode, Java $KC_JAVA_VERSION from $KC_JAVA_HOME) on $KC_URL ..."
  printf '\n===== %s server.sh start: Keycloak %s =====\n' "$(date -Is)" "$KEYCLOAK_VERSION" >>"$KC_LOG"
  # Secrets go through the environment (not argv, which is world-readable in /proc).
  # The bootstrap admin is only created when the master realm is created (first start).
  # setsid: own session/process group, so it outlives this shell and can be stopped as a group;
  # the inner bash records its pid (== kc.sh's pid after exec) in the pid file.
  # shellcheck disable=SC2016 # $$, $0 and $@ belong to the inner shell
  JAVA_HOME="$KC_JAVA_HOME" \
    KC_DB_URL="jdbc:postgresql://127.0.0.1:$PG_PORT/$DB_NAME" \
    KC_DB_USERNAME="$DB_USER" \
    KC_DB_PASSWORD="$DB_PASSWORD" \
    KC_BOOTSTRAP_ADMIN_USERNAME="$ADMIN_USER" \
    KC_BOOTSTRAP_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$KC_PID_FILE" \
    "$KC_HOME/bin/kc.sh" start --optimized "${START_OPTS[@]}" \
    </dev/null >>"$KC_LOG" 2>&1 &
  local t0 waited=0
  t0=$(now)
  while [ ! -s "$KC_PID_FILE" ] && [ $waited -lt 50 ]; do sleep 0.1; waited=$((waited + 1)); done
  pid="$(cat "$KC_PID_FILE" 2>/dev/null || true)"
  [ -n "$pid" ] || die "Keycloak launcher did not start (log: $KC_LOG)"

  log "waiting up to ${START_TIMEOUT}s for $KC_READY_URL ..."
  local last=0 elapsed
  while :; do
    elapsed=$(($(now) - t0))
    if kc_ready; then
      log "Keycloak is UP after ${elapsed}s (pid $pid)"
      KC_START_SECONDS=$elapsed
      return
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "----- last 40 lines of $KC_LOG -----" >&2
      tail -n 40 "$KC_LOG" >&2 || true
      rm -f "$KC_PID_FILE"
      die "Keycloak exited during start-up (see $KC_LOG); fix the cause and rerun: $0 start"
    fi
    if [ "$elapsed" -ge "$START_TIMEOUT" ]; then
      echo "----- last 40 lines of $KC_LOG -----" >&2
      tail -n 40 "$KC_LOG" >&2 || true
      die "Keycloak not ready after ${START_TIMEOUT}s (still running as pid $pid; log: $KC_LOG). Run '$0 stop', then retry (KEYCLOAK_START_TIMEOUT raises the limit)"
    fi
    if [ $((elapsed - last)) -ge 10 ]; then
      log "  ... not ready yet (${elapsed}s)"
      last=$elapsed
    fi
    sleep 2
  done
}

stop_kc() {
  local pid
  if ! pid="$(kc_pid)"; then
    rm -f "$KC_PID_FILE"
    log "Keycloak not running"
    return
  fi
  log "stopping Keycloak (pid $pid) ..."
  # kc.sh forwards TERM to the JVM, which shuts down gracefully.
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < STOP_TIMEOUT; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    warn "Keycloak did not stop within ${STOP_TIMEOUT}s; killing its process group"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    sleep 1
  fi
  rm -f "$KC_PID_FILE"
  log "Keycloak stopped"
}

# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------
print_status() {
  local rc=0 pid
  find_pg_bin
  if pg_running; then
    log "PostgreSQL: running on 127.0.0.1:$PG_PORT (data $PG_DATA)"
  else
    log "PostgreSQL: stopped"
    rc=1
  fi
  if pid="$(kc_pid)"; then
    if kc_ready; then
      log "Keycloak $KEYCLOAK_VERSION: UP at $KC_URL (pid $pid, health $KC_READY_URL)"
    else
      log "Keycloak $KEYCLOAK_VERSION: running (pid $pid) but not ready at $KC_READY_URL"
      rc=1
    fi
  else
    log "Keycloak $KEYCLOAK_VERSION: stopped"
    rc=1
  fi
  [ -f "$ADMIN_ENV" ] && log "connection facts: $ADMIN_ENV"
  return $rc
}

cmd_start() {
  log "Keycloak version: $KEYCLOAK_VERSION"
  if ! version_le "$KC_TESTED_MIN" "$KEYCLOAK_VERSION" || ! version_le "$KEYCLOAK_VERSION" "$KC_TESTED_MAX"; then
    warn "Keycloak $KEYCLOAK_VERSION is outside the provider's tested range $KC_TESTED_MIN..$KC_TESTED_MAX"
  fi
  command -v curl >/dev/null 2>&1 || die "curl not found; it is needed for the readiness check"
  find_pg_bin
  local pid
  if pid="$(kc_pid)" && pg_running && kc_ready; then
    log "already running"
    print_status || true
    return 0
  fi
  local t0
  t0=$(now)
  mkdir -p "$KC_ROOT"
  select_java
  log "Java: $KC_JAVA_VERSION ($KC_JAVA_HOME)"
  check_kc_ports
  ensure_distribution
  ensure_build
  load_or_create_secrets
  ensure_pg_cluster
  start_pg
  ensure_pg_db
  start_kc
  write_admin_env
  log "ready in $(($(now) - t0)) s total (Keycloak start ${KC_START_SECONDS:-?} s)"
  log "admin console: $KC_URL/admin/  (user $ADMIN_USER; password in $ADMIN_ENV)"
  log "connection facts: $ADMIN_ENV"
}

cmd_stop() {
  stop_kc
  stop_pg
}

cmd_env() {
  if [ ! -f "$ADMIN_ENV" ]; then
    echo "[keycloak] ERROR: $ADMIN_ENV does not exist yet; run: $0 start" >&2
    echo "$ADMIN_ENV"
    return 1
  fi
  echo "$ADMIN_ENV"
}

cmd_reset() {
  cmd_stop
  log "deleting PostgreSQL cluster and generated credentials ..."
  rm -rf "$PG_DIR" "$SECRETS_FILE" "$ADMIN_ENV" "$KC_PID_FILE"
  log "reset done (distribution kept in $KC_ROOT)"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) print_status ;;
  env) cmd_env ;;
  reset) cmd_reset ;;
  *)
    echo "usage: $0 start|stop|status|env|reset" >&2
    exit 2
    ;;
esac
