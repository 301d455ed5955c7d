#!/bin/sh
# webide-docker-events: the Docker engine's container lifecycle events, each the engine's own JSON
# line, to the audit sink (syslog over TCP, tag docker-events; the sink files them under
# <date>/docker-events.jsonl). Reconnects when the engine's stream or the sink drops.
#
# Only lifecycle events: exec events are left out because they carry the command line of
# `docker exec`, which may hold a secret, and nothing secret may reach the sink.
set -u
: "${WEBIDE_AUDIT_SINK:?the audit sink as host:port}"
socket="${WEBIDE_DOCKER_SOCKET:-/var/run/docker.sock}"
host="${WEBIDE_AUDIT_SINK%:*}"
port="${WEBIDE_AUDIT_SINK##*:}"
filters='{"type":["container"],"event":["create","start","restart","stop","kill","die","oom","destroy","pause","unpause","rename","update"]}'
# `docker stop`: end the stream and the sender too (they share this process group).
trap 'trap - TERM INT; kill 0 2>/dev/null; exit 0' TERM INT
while :; do
  curl -sSN --unix-socket "$socket" -G --data-urlencode "filters=$filters" http://docker/events |
    logger --tcp --octet-count -n "$host" -P "$port" -t docker-events --size 65536 --rfc5424=notq &
  wait $!
  sleep 2 &
  wait $!
done
