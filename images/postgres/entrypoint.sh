#!/bin/bash
# First start: initialise PGDATA from POSTGRES_DB / POSTGRES_USER / POSTGRES_PASSWORD
# (scram-sha-256 for every TCP connection, trust only on the container-local socket),
# then run postgres in the foreground, listening on all container interfaces.
# Later starts find PG_VERSION and go straight to postgres.
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data/pgdata}"
export PGDATA
SOCKET_DIR=/run/postgresql

log() { printf 'webide-postgres: %s\n' "$*" >&2; }

# `docker run IMAGE -c foo=bar` means `postgres -c foo=bar`.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi
shift

if [ "$(id -u)" -eq 0 ]; then
  # Started as root (not how the estate runs it): fix ownership, then drop to postgres.
  mkdir -p "$PGDATA" "$SOCKET_DIR"
  chown postgres:postgres "$PGDATA" "$SOCKET_DIR"
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_USER:=postgres}"
  : "${POSTGRES_DB:=$POSTGRES_USER}"
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    log "ERROR: PGDATA ($PGDATA) is empty and POSTGRES_PASSWORD is not set; refusing to create a database nobody can log in to over TCP"
    exit 1
  fi
  mkdir -p "$PGDATA" || { log "ERROR: cannot create $PGDATA as uid $(id -u) (is the volume owned by 999?)"; exit 1; }
  chmod 0700 "$PGDATA"
  log "initialising $PGDATA (user '$POSTGRES_USER', database '$POSTGRES_DB')"
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 \
    -D "$PGDATA" >/dev/null
  {
    echo
    echo "# webide: every TCP client authenticates with a password (scram-sha-256)"
    echo "host all all all scram-sha-256"
  } >>"$PGDATA/pg_hba.conf"
  {
    echo
    echo "# webide (container): listen on every container interface; socket in the tmpfs"
    echo "listen_addresses = '*'"
    echo "unix_socket_directories = '$SOCKET_DIR'"
    echo "password_encryption = 'scram-sha-256'"
  } >>"$PGDATA/postgresql.conf"

  if [ "$POSTGRES_DB" != postgres ]; then
    # A socket-only server just long enough to create the database.
    pg_ctl -D "$PGDATA" -w -t 60 -o "-c listen_addresses='' -c unix_socket_directories=$SOCKET_DIR" start >/dev/null
    psql -v ON_ERROR_STOP=1 -q -h "$SOCKET_DIR" --username "$POSTGRES_USER" --dbname postgres \
      --set db="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE DATABASE %I', :'db') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db')\gexec
SQL
    pg_ctl -D "$PGDATA" -w -t 60 -m fast stop >/dev/null
  fi
  log "initialised"
fi

exec postgres -D "$PGDATA" "$@"
