#!/bin/sh
# webide-audit-prune LOG_DIR DAYS [TODAY]
#
# Deletes the audit sink's day directories (LOG_DIR/YYYY-MM-DD) whose date is more than DAYS
# days before TODAY (default: today in UTC, the clock the sink names directories by), so every
# record is kept at least DAYS full days: with DAYS=30 on 2026-12-31, 2026-12-01 stays and
# 2026-11-30 goes.
#
# The age is read from the directory's name, not its mtime: the name is the day the records in
# it were received (the sink's layout), while a directory's mtime moves whenever a file is added
# to it (a sender's first record of the day, hours later) and is lost on a copy or restore, and
# `find -mtime` counts 24-hour periods from now rather than calendar days. By name the result
# depends only on the date, so it is exact and testable.
#
# Only names that are a date are touched (lost+found or anything else on the volume stays), and
# symbolic links are never followed. POSIX sh; `date -d` is GNU coreutils' (Debian's).
set -eu

usage() {
  echo "usage: webide-audit-prune LOG_DIR DAYS [TODAY as YYYY-MM-DD]" >&2
  exit 2
}
[ "$#" -ge 2 ] && [ "$#" -le 3 ] || usage
log_dir=$1
days=$2
case $days in
  '' | *[!0-9]*) echo "webide-audit-prune: DAYS must be a positive integer, not '$days'" >&2; exit 2 ;;
esac
[ "$days" -ge 1 ] || { echo "webide-audit-prune: DAYS must be at least 1, not '$days'" >&2; exit 2; }
today=${3:-$(date -u +%Y-%m-%d)}
case $today in
  [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]) ;;
  *) echo "webide-audit-prune: TODAY must be YYYY-MM-DD, not '$today'" >&2; exit 2 ;;
esac
[ -d "$log_dir" ] || { echo "webide-audit-prune: $log_dir is not a directory" >&2; exit 1; }

# The oldest day kept, as a number (YYYYMMDD) to compare with.
oldest=$(date -u -d "$today -$days days" +%Y%m%d)

for dir in "$log_dir"/*; do
  name=${dir##*/}
  case $name in
    [0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]) ;;
    *) continue ;;
  esac
  [ -d "$dir" ] && [ ! -L "$dir" ] || continue
  day=$(printf '%s' "$name" | tr -d -)
  if [ "$day" -lt "$oldest" ]; then
    rm -rf -- "$dir"
    echo "webide-audit-prune: deleted $name (older than $days days before $today)"
  fi
done
