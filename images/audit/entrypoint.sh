#!/bin/sh
# The audit sink's entrypoint: rsyslogd in the foreground plus the retention pruner beside it,
# both stopped together.
#
#   (no arguments)  checks the config (rsyslogd -N1: rsyslogd itself would start with a broken
#                   one, half configured), then runs rsyslogd and, every
#                   WEBIDE_AUDIT_PRUNE_INTERVAL_SECONDS (default 3600, and once at start),
#                   webide-audit-prune on the log directory with WEBIDE_AUDIT_RETENTION_DAYS.
#   COMMAND ...     runs COMMAND instead (the Docker-events collector runs from this image).
#
# Signals: this shell is PID 1, which the kernel shields from signals it has no handler for, so
# it traps TERM and INT (docker stop, Ctrl-C), passes TERM to rsyslogd (which flushes its
# queues, the SIEM queue to disk, and exits) and to the pruner, waits for both and exits with
# rsyslogd's status. If rsyslogd exits on its own, the pruner is stopped and the container
# exits, so Docker's restart policy sees it. Paths: WEBIDE_AUDIT_CONF, WEBIDE_AUDIT_LOG_DIR.
set -eu

if [ "$#" -gt 0 ]; then
  exec "$@"
fi

conf=${WEBIDE_AUDIT_CONF:-/etc/webide-audit/rsyslog.conf}
log_dir=${WEBIDE_AUDIT_LOG_DIR:-/var/log/webide/audit}
days=${WEBIDE_AUDIT_RETENTION_DAYS:-}
interval=${WEBIDE_AUDIT_PRUNE_INTERVAL_SECONDS:-3600}

fail() {
  echo "webide-audit: $*" >&2
  exit 2
}
positive() {
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  [ "$1" -ge 1 ]
}
positive "$days" || fail "WEBIDE_AUDIT_RETENTION_DAYS must be a positive number of days, not '$days'"
positive "$interval" || fail "WEBIDE_AUDIT_PRUNE_INTERVAL_SECONDS must be a positive number of seconds, not '$interval'"
[ -r "$conf" ] || fail "$conf is missing or unreadable (mount the rendered rsyslog.conf there)"
[ -d "$log_dir" ] || fail "$log_dir is not a directory"
rsyslogd -N1 -f "$conf" || fail "rsyslogd refused $conf (above)"

rsyslog_pid=
prune_pid=
signalled=0
stop() {
  signalled=1
  [ -z "$rsyslog_pid" ] || kill -TERM "$rsyslog_pid" 2>/dev/null || :
  [ -z "$prune_pid" ] || kill -TERM "$prune_pid" 2>/dev/null || :
}
trap stop TERM INT

# The pruner: a subshell whose pruning and sleeping run in the background while it waits, so
# TERM ends it at once (and its child with it) rather than after the sleep.
(
  child=
  trap '[ -z "$child" ] || kill -TERM "$child" 2>/dev/null; exit 0' TERM
  while :; do
    webide-audit-prune "$log_dir" "$days" &
    child=$!
    wait "$child" || echo "webide-audit: pruning $log_dir failed; next try in ${interval}s" >&2
    sleep "$interval" &
    child=$!
    wait "$child" || :
  done
) &
prune_pid=$!

rsyslogd -n -f "$conf" -i NONE &
rsyslog_pid=$!

# `wait` also returns when a trapped signal arrives (status > 128); then wait again, for
# rsyslogd's own exit status once it has flushed and gone.
while :; do
  signalled=0
  if wait "$rsyslog_pid"; then status=0; else status=$?; fi
  [ "$signalled" = 1 ] || break
done
kill -TERM "$prune_pid" 2>/dev/null || :
wait "$prune_pid" 2>/dev/null || :
exit "$status"
