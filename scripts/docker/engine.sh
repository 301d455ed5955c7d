#!/usr/bin/env bash
# The local Docker engine for the end-to-end tier (a test machine, not production).
#
#   bash scripts/docker/engine.sh start    install Debian's docker.io if missing, write
#                                          /etc/docker/daemon.json, start dockerd, wait for it
#   bash scripts/docker/engine.sh stop     stop the dockerd this script started
#   bash scripts/docker/engine.sh status   say whether the engine answers (exit 0 if it does)
#
# Idempotent: `start` on a running engine only reports. Needs root.
# dockerd logs to /var/log/webide-dockerd.log. No systemd is assumed: dockerd runs in the
# background, detached from the calling shell, and manages its own containerd.
set -euo pipefail

DAEMON_JSON=/etc/docker/daemon.json
LOG=/var/log/webide-dockerd.log
PIDFILE=/var/run/docker.pid
SOCK=/var/run/docker.sock
WAIT_SECONDS="${WEBIDE_DOCKERD_WAIT_SECONDS:-90}"

# Address pools for user-defined networks. Every workspace user gets one small internal
# network, so the pool must hold hundreds of them: a /16 cut into /28s is 4096 networks of
# 14 hosts each. The default bridge (docker0, unused by the estate) gets its own /24.
POOL_BASE=10.201.0.0/16
POOL_SIZE=28
BRIDGE_IP=10.200.0.1/24

# The daemon configuration, exactly. Notes (daemon.json itself cannot hold comments):
#  * "iptables": true is deliberate and must stay: with iptables off, Docker installs no
#    isolation rules and containers on *different* networks reach each other by IP.
#  * runtime "nvidia" -> plain `runc` is a TEST-ONLY STAND-IN: the estate declares its GPU
#    services with runtime=nvidia; on this GPU-less machine the name must exist so those
#    containers start (with no GPU). Never use this daemon.json on a real GPU host, where
#    the runtime must be nvidia-container-runtime (it is what enforces NVIDIA_VISIBLE_DEVICES).
#  * json-file with the same bounds the estate's containers set explicitly.
desired_config() {
  cat <<EOF
{
  "iptables": true,
  "ip-forward": true,
  "bip": "${BRIDGE_IP}",
  "default-address-pools": [
    { "base": "${POOL_BASE}", "size": ${POOL_SIZE} }
  ],
  "runtimes": {
    "nvidia": { "path": "runc" }
  },
  "log-driver": "json-file",
  "log-opts": { "max-size": "50m", "max-file": "5" }
}
EOF
}

say() { printf 'engine: %s\n' "$*"; }
fail() { printf 'engine: ERROR: %s\n' "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" -eq 0 ] || fail "run as root (it installs packages and starts dockerd)"; }

engine_up() { timeout 10 docker -H "unix://${SOCK}" info >/dev/null 2>&1; }

dockerd_pid() {
  local pid
  [ -s "$PIDFILE" ] || return 1
  pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q dockerd "/proc/$pid/comm" 2>/dev/null || return 1
  echo "$pid"
}

install_engine() {
  if command -v dockerd >/dev/null 2>&1 && command -v runc >/dev/null 2>&1 && command -v iptables >/dev/null 2>&1; then
    return 0
  fi
  say "installing Debian's docker.io (apt-get update first)"
  # The package's maintainer scripts would try to start the service; this script starts
  # dockerd itself, so service starts are refused for the duration of the install.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    added_policy=1
  fi
  local rc=0
  apt-get update -qq || rc=$?
  if [ "$rc" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io iptables ca-certificates >/dev/null || rc=$?
  fi
  [ "$added_policy" -eq 1 ] && rm -f "$policy"
  [ "$rc" -eq 0 ] || fail "apt-get could not install docker.io (exit $rc)"
  command -v dockerd >/dev/null 2>&1 || fail "docker.io installed but dockerd is not on PATH"
}

# Refuses a pool or bridge range that overlaps a route the host already has.
check_ranges() {
  local routes
  routes="$(ip -4 route show table all 2>/dev/null | awk '{print $1}' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(/[0-9]+)?$' || true)"
  python3 - "$POOL_BASE" "${BRIDGE_IP}" "$routes" <<'PY' || fail "the Docker address ranges collide with a host route (edit POOL_BASE/BRIDGE_IP in $0)"
import ipaddress, sys
ours = [ipaddress.ip_network(sys.argv[1]), ipaddress.ip_interface(sys.argv[2]).network]
bad = []
for r in sys.argv[3].split():
    net = ipaddress.ip_network(r, strict=False)
    if net.prefixlen == 0:
        continue  # the default route overlaps everything by definition
    # Docker's own bridges (from an earlier start) live inside our ranges: not a collision.
    for o in ours:
        if net.overlaps(o) and not net.subnet_of(o):
            bad.append(f"{net} overlaps {o}")
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
PY
}

write_config() {
  mkdir -p /etc/docker
  local tmp
  tmp="$(mktemp)"
  desired_config >"$tmp"
  if [ -e "$DAEMON_JSON" ]; then
    if python3 - "$DAEMON_JSON" "$tmp" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
sys.exit(0 if a == b else 1)
PY
    then
      rm -f "$tmp"
      return 0
    fi
    echo "engine: ERROR: ${DAEMON_JSON} exists with other content; not overwriting it." >&2
    echo "engine: wanted:" >&2
    diff -u "$DAEMON_JSON" "$tmp" >&2 || true
    rm -f "$tmp"
    echo "engine: merge by hand (keep iptables=true, the nvidia runtime, the address pools) or move the file aside and retry." >&2
    exit 1
  fi
  install -m 0644 "$tmp" "$DAEMON_JSON"
  rm -f "$tmp"
  say "wrote ${DAEMON_JSON}"
}

cmd_start() {
  need_root
  if engine_up; then
    say "already running: $(docker info --format 'server {{.ServerVersion}}, {{.Containers}} containers, {{.Images}} images, runtimes: {{range $k, $v := .Runtimes}}{{$k}} {{end}}')"
    return 0
  fi
  install_engine
  check_ranges
  write_config
  if pid="$(dockerd_pid)"; then
    say "dockerd (pid $pid) is starting but does not answer yet; waiting"
  else
    say "starting dockerd (log: ${LOG})"
    mkdir -p "$(dirname "$LOG")"
    printf '\n==== %s engine.sh start ====\n' "$(date -Is)" >>"$LOG"
    # setsid + nohup: dockerd outlives the shell that ran this script.
    setsid nohup dockerd --config-file "$DAEMON_JSON" >>"$LOG" 2>&1 </dev/null &
  fi
  local deadline=$((SECONDS + WAIT_SECONDS)) tries=0
  while ! engine_up; do
    tries=$((tries + 1))
    if [ "$SECONDS" -ge "$deadline" ] || [ "$tries" -ge $((WAIT_SECONDS * 2)) ]; then
      echo "engine: ERROR: dockerd did not answer within ${WAIT_SECONDS}s; last log lines:" >&2
      tail -n 30 "$LOG" >&2 || true
      exit 1
    fi
    if ! dockerd_pid >/dev/null && [ "$tries" -gt 10 ]; then
      echo "engine: ERROR: dockerd exited; last log lines:" >&2
      tail -n 30 "$LOG" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  say "running: $(docker info --format 'server {{.ServerVersion}}, storage {{.Driver}}, cgroup {{.CgroupDriver}}, runtimes: {{range $k, $v := .Runtimes}}{{$k}} {{end}}')"
}

cmd_stop() {
  need_root
  local pid
  if ! pid="$(dockerd_pid)"; then
    say "not running"
    return 0
  fi
  say "stopping dockerd (pid $pid)"
  kill -TERM "$pid"
  local deadline=$((SECONDS + 60))
  while [ -d "/proc/$pid" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
  if [ -d "/proc/$pid" ]; then
    fail "dockerd (pid $pid) still running after 60s; see ${LOG}"
  fi
  say "stopped"
}

cmd_status() {
  if engine_up; then
    say "running: $(docker info --format 'server {{.ServerVersion}}, {{.ContainersRunning}} running containers, {{.Images}} images, runtimes: {{range $k, $v := .Runtimes}}{{$k}} {{end}}')"
    return 0
  fi
  if pid="$(dockerd_pid)"; then
    say "dockerd (pid $pid) is up but does not answer"
    return 1
  fi
  say "not running"
  return 3
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
