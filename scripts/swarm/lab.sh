#!/usr/bin/env bash
# A real three-node Docker Swarm and a private registry on this one machine, for the Swarm
# test tier (a test lab, not production).
#
#   bash scripts/swarm/lab.sh start      the registry (Debian's docker-registry, TLS from the lab's
#                                        own CA) and three dockerd, each in its own network, mount
#                                        and UTS namespace, joined into one swarm (one manager, two
#                                        workers); every node trusts the lab CA for the registry
#   bash scripts/swarm/lab.sh stop       leave nothing behind: the dockerd and registry this script
#                                        started (by pid), every process left in the lab's network
#                                        namespaces, the namespaces, the bridge, the FORWARD rule, the data
#   bash scripts/swarm/lab.sh status     each engine, the registry and the swarm's node list (exit 0 if all answer)
#   bash scripts/swarm/lab.sh host <n>   the DOCKER_HOST of node n (unix socket)
#   bash scripts/swarm/lab.sh push <image>...  copies local images (the host engine's) into the
#                                        registry and prints, per image, its reference by digest
#   bash scripts/swarm/lab.sh ca         the path of the lab CA's certificate
#   bash scripts/swarm/lab.sh run <command>...  runs a command where the lab's names resolve (the
#                                        registry's, for npm run images:pin): as the bank's DNS would
#   bash scripts/swarm/lab.sh load <node> <image>...  copies local images (the host engine's) into one
#                                        node's engine, as an approved import onto that host would: only for
#                                        the image a node runs from its own store (the estate's own registry)
#   bash scripts/swarm/lab.sh estate-registry  the estate-run registry's name, port, certificate and key
#
# The registry: registry.swarm.test:5000 at 10.203.0.2, in its own network namespace (the bank's
# registry, which the lab runs). A second name, estate-registry.swarm.test, is swarm-m1's address:
# where an estate that runs its own registry (swarm.registry.serve) publishes it. Its certificate,
# signed by the lab CA, is made here; every node trusts the lab CA for both names.

# Nodes (name, role, address on the bridge):
#   swarm-m1  manager, also runs IDEs   10.203.0.11
#   swarm-w1  worker, runs IDEs         10.203.0.12
#   swarm-w2  worker, the GPU node      10.203.0.13   (generic resources stand in for GPUs)
# Each node's hostname is its name, so placement constraints can say node.hostname==swarm-w1.
#
# Why each piece (what was found on this kind of machine, Debian docker.io 20.10):
#  * A network namespace per node, joined to a host bridge by a veth pair: three engines with
#    their own addresses, iptables and VXLAN endpoints, as three hosts would have.
#  * A private mount namespace per node: dockerd 20.10 writes /var/lib/docker/network/files/
#    whatever --data-root says, so each node gets its own /var/lib/docker (and /etc/docker for
#    its registry CA under certs.d) bind-mounted there; the host's own engine sees none of it.
#  * The host's Docker engine sets FORWARD to drop; one rule lets the bridge forward to itself.
#  * This kernel has no IPVS: service VIPs and the ingress routing mesh do not work here, so
#    the estate's services use endpoint mode dnsrr and nginx publishes in host mode.
#
# Needs root, Debian's docker.io (scripts/docker/engine.sh start installs it), iproute2,
# util-linux and openssl; installs Debian's docker-registry and skopeo when missing. Idempotent: start on a running swarm only reports. State: /var/lib/webide-swarm,
# sockets and pid files: /run/webide-swarm, logs: /var/log/webide-swarm-<node>.log.
set -euo pipefail

NODES=(swarm-m1 swarm-w1 swarm-w2)
declare -A ROLE=([swarm-m1]=manager [swarm-w1]=ide [swarm-w2]=gpu)
declare -A ADDRESS=([swarm-m1]=10.203.0.11 [swarm-w1]=10.203.0.12 [swarm-w2]=10.203.0.13)
# Each node's own bridge (docker0) and local-scope networks, apart from every other range here.
declare -A BIP=([swarm-m1]=10.204.1.1/24 [swarm-w1]=10.204.2.1/24 [swarm-w2]=10.204.3.1/24)
declare -A LOCAL_POOL=([swarm-m1]=10.205.0.0/18 [swarm-w1]=10.205.64.0/18 [swarm-w2]=10.205.128.0/18)
BRIDGE=wswarm0
BRIDGE_ADDRESS=10.203.0.1
BRIDGE_PREFIX=24
# Overlay subnets: a /16 cut into /28s, one per user network (as the single host's pool).
OVERLAY_POOL=10.206.0.0/16
OVERLAY_MASK=28
# The GPU ids the GPU node offers (generic resources named gpu; the estate's test config uses them).
GPU_IDS="${WEBIDE_SWARM_GPU_IDS:-GPU-0 GPU-1}"
REGISTRY_NAME=registry.swarm.test
REGISTRY_ADDRESS=10.203.0.2
REGISTRY_PORT=5000
REGISTRY=${REGISTRY_NAME}:${REGISTRY_PORT}
# The registry an estate runs itself (stacks/swarm-registry-stack.ts), on the first manager.
ESTATE_REGISTRY_NAME=estate-registry.swarm.test
ESTATE_REGISTRY_PORT=5000
ESTATE_REGISTRY=${ESTATE_REGISTRY_NAME}:${ESTATE_REGISTRY_PORT}
# The uid:gid the registry image runs as (images/registry): its key must be readable by it.
ESTATE_REGISTRY_GID=1010
STATE=/var/lib/webide-swarm
CA_DIR=${STATE}/ca
RUN=/run/webide-swarm
WAIT_SECONDS="${WEBIDE_SWARM_WAIT_SECONDS:-90}"

say() { printf 'swarm: %s\n' "$*"; }
fail() { printf 'swarm: ERROR: %s\n' "$*" >&2; exit 1; }
need_root() { [ "$(id -u)" -eq 0 ] || fail "run as root (it creates network namespaces and starts dockerd)"; }

netns() { echo "webide-$1"; }
host_of() { echo "unix://${RUN}/$1.sock"; }
node_docker() { local n=$1; shift; timeout 30 docker -H "$(host_of "$n")" "$@"; }
node_up() { timeout 10 docker -H "$(host_of "$1")" info >/dev/null 2>&1; }

# The pid in RUN/<name>.pid if that process still runs the expected program.
started_pid() {
  local pid
  [ -s "${RUN}/$1.pid" ] || return 1
  pid="$(cat "${RUN}/$1.pid")"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q "$2" "/proc/$pid/comm" 2>/dev/null || return 1
  echo "$pid"
}
node_pid() { started_pid "$1" dockerd; }
registry_pid() { started_pid registry docker-regis; }

hosts_file() {
  local n
  printf '127.0.0.1 localhost\n%s %s\n%s %s\n' "$REGISTRY_ADDRESS" "$REGISTRY_NAME" "${ADDRESS[swarm-m1]}" "$ESTATE_REGISTRY_NAME"
  for n in "${NODES[@]}"; do printf '%s %s\n' "${ADDRESS[$n]}" "$n"; done
}

install_tools() {
  command -v docker-registry >/dev/null 2>&1 && command -v skopeo >/dev/null 2>&1 && return 0
  say "installing Debian's docker-registry and skopeo"
  # The package would start its own service on the default port; this script runs it itself.
  local policy=/usr/sbin/policy-rc.d added_policy=0 rc=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; added_policy=1; fi
  apt-get update -qq || rc=$?
  [ $rc -eq 0 ] && { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry skopeo >/dev/null || rc=$?; }
  [ "$added_policy" -eq 1 ] && rm -f "$policy"
  [ $rc -eq 0 ] || fail "apt-get could not install docker-registry and skopeo (exit $rc)"
}

# The lab's own CA and the certificates of both registry names; kept across starts.
lab_ca() {
  [ -s "$CA_DIR/estate-registry.pem" ] && return 0
  mkdir -p "$CA_DIR"
  openssl req -x509 -newkey rsa:3072 -nodes -days 30 -subj '/CN=webide swarm lab CA' \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
    -keyout "$CA_DIR/ca.key" -out "$CA_DIR/ca.pem" 2>/dev/null
  lab_certificate registry "$REGISTRY_NAME"
  lab_certificate estate-registry "$ESTATE_REGISTRY_NAME"
  chmod 600 "$CA_DIR"/*.key
  # The estate-run registry reads its key as the image's user, from the first manager's filesystem.
  chgrp "$ESTATE_REGISTRY_GID" "$CA_DIR/estate-registry.key"
  chmod 640 "$CA_DIR/estate-registry.key"
}

# lab_certificate <file stem> <DNS name>: a server certificate for the name, signed by the lab CA.
lab_certificate() {
  openssl req -newkey rsa:3072 -nodes -subj "/CN=$2" -keyout "$CA_DIR/$1.key" -out "$CA_DIR/$1.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$2" >"$CA_DIR/$1.ext"
  openssl x509 -req -in "$CA_DIR/$1.csr" -CA "$CA_DIR/ca.pem" -CAkey "$CA_DIR/ca.key" -CAcreateserial -days 30 \
    -extfile "$CA_DIR/$1.ext" -out "$CA_DIR/$1.pem" 2>/dev/null
}

registry_up() { curl -sf --max-time 5 --cacert "$CA_DIR/ca.pem" --resolve "${REGISTRY}:${REGISTRY_ADDRESS}" "https://${REGISTRY}/v2/" >/dev/null 2>&1; }

# docker-registry (CNCF distribution 2.8) in its own network namespace, serving TLS only.
registry_start() {
  local dir="${STATE}/registry" ns deadline
  ns="$(netns registry)"
  registry_up && return 0
  mkdir -p "$dir/data" "$RUN"
  ip netns list | grep -q "^$ns\b" || ip netns add "$ns"
  if ! ip link show ws-registry >/dev/null 2>&1; then
    ip link add ws-registry type veth peer name eth0 netns "$ns"
    ip link set ws-registry master "$BRIDGE" up
    ip -n "$ns" addr add "${REGISTRY_ADDRESS}/${BRIDGE_PREFIX}" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  fi
  registry_config "$dir" >"$dir/config.yml"
  if ! registry_pid >/dev/null; then
    printf '\n==== %s lab.sh start ====\n' "$(date -Is)" >>/var/log/webide-swarm-registry.log
    setsid nohup nsenter --net="/run/netns/$ns" docker-registry serve "$dir/config.yml" >>/var/log/webide-swarm-registry.log 2>&1 </dev/null &
    echo $! >"${RUN}/registry.pid"
  fi
  deadline=$((SECONDS + 30))
  until registry_up; do
    [ "$SECONDS" -lt "$deadline" ] || { tail -n 20 /var/log/webide-swarm-registry.log >&2; fail "the registry did not answer within 30s"; }
    sleep 0.5
  done
}

registry_config() {
  printf '%s\n' \
    'version: 0.1' \
    'log:' '  level: info' \
    'storage:' '  filesystem:' "    rootdirectory: $1/data" '  delete:' '    enabled: false' \
    'http:' "  addr: ${REGISTRY_ADDRESS}:${REGISTRY_PORT}" \
    '  tls:' "    certificate: ${CA_DIR}/registry.pem" "    key: ${CA_DIR}/registry.key" '    minimumtls: tls1.2' \
    '  headers:' '    X-Content-Type-Options: [nosniff]'
}

# skopeo copies from the host engine into the registry; it runs where the registry's name
# resolves (a private mount namespace with the lab's hosts file), trusting only the lab CA.
cmd_push() {
  need_root
  [ $# -gt 0 ] || fail "usage: $0 push <image>..."
  registry_up || fail "the registry does not answer: run '$0 start' first"
  local image repo tag certs
  certs="$(mktemp -d)"
  cp "$CA_DIR/ca.pem" "$certs/ca.crt"
  for image in "$@"; do
    repo="${image%%@*}"; tag=latest
    if [[ "${repo##*/}" == *:* ]]; then tag="${repo##*:}"; repo="${repo%:*}"; fi
    repo="${repo##*/}"
    unshare --mount --propagation private bash -c '
      set -e
      mount --bind "$1" /etc/hosts
      skopeo copy --quiet --dest-cert-dir "$2" --digestfile "$2/digest" "docker-daemon:$3" "docker://$4"
    ' push "${STATE}/hosts" "$certs" "$image" "${REGISTRY}/webide/${repo}:${tag}"
    echo "${REGISTRY}/webide/${repo}@$(cat "$certs/digest")"
  done
  rm -rf "$certs"
}

# Copies local images from the host engine into one node's engine (its image id unchanged).
cmd_load() {
  need_root
  [ $# -ge 2 ] && [ -n "${ROLE[$1]:-}" ] || fail "usage: $0 load <${NODES[*]}> <image>..."
  local n=$1 image
  shift
  node_up "$n" || fail "$n does not answer: run '$0 start' first"
  for image in "$@"; do
    skopeo copy --quiet --dest-daemon-host "$(host_of "$n")" "docker-daemon:$image" "docker-daemon:$image"
  done
}

# A private mount namespace with the lab's hosts file: the command sees registry.swarm.test, the
# rest of the machine does not.
cmd_run() {
  need_root
  [ $# -gt 0 ] || fail "usage: $0 run <command>..."
  [ -s "${STATE}/hosts" ] || fail "the lab is not started: run '$0 start' first"
  exec unshare --mount --propagation private bash -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' run "${STATE}/hosts" "$@"
}

# Every engine sets no-new-privileges on its containers, as the estate requires of a swarm's engines
# (a Swarm service cannot; npm run swarm:preflight checks it). The gpu node's default runtime is
# "nvidia", as production's gpu nodes need (a service cannot choose a runtime); here that name is runc.
node_config() {
  local n=$1 resources='' id default_runtime=''
  if [ "${ROLE[$n]}" = gpu ]; then
    for id in $GPU_IDS; do resources+="${resources:+, }\"gpu=${id}\""; done
    default_runtime='"default-runtime": "nvidia",'
  fi
  cat <<EOF
{
  "iptables": true,
  "ip-forward": true,
  "no-new-privileges": true,
  ${default_runtime}
  "bip": "${BIP[$n]}",
  "default-address-pools": [ { "base": "${LOCAL_POOL[$n]}", "size": 28 } ],
  "node-generic-resources": [ ${resources} ],
  "runtimes": { "nvidia": { "path": "runc" } },
  "log-driver": "json-file",
  "log-opts": { "max-size": "50m", "max-file": "5" }
}
EOF
}

# The host bridge the nodes' veths join, and the one FORWARD rule that lets it forward to itself.
host_network_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "${BRIDGE_ADDRESS}/${BRIDGE_PREFIX}" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  iptables -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null || iptables -I FORWARD 1 -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
}

node_network_up() {
  local n=$1 ns veth
  ns="$(netns "$n")"
  veth="ws-${n#swarm-}"
  ip netns list | grep -qx "$ns\( (id: [0-9]*)\)\?" || ip netns add "$ns"
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master "$BRIDGE" up
    ip -n "$ns" addr add "${ADDRESS[$n]}/${BRIDGE_PREFIX}" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" route add default via "$BRIDGE_ADDRESS"
  fi
}

# dockerd in the node's network namespace, with its own mount and UTS namespaces.
node_engine_up() {
  local n=$1 dir="${STATE}/$1" pid
  if node_up "$n"; then return 0; fi
  mkdir -p "$dir/data" "$dir/var-lib-docker" "$dir/etc-docker/certs.d/${REGISTRY}" "$dir/etc-docker/certs.d/${ESTATE_REGISTRY}" "$RUN"
  node_config "$n" >"$dir/daemon.json"
  # Both registries are trusted through the lab CA, never as insecure registries.
  cp "$CA_DIR/ca.pem" "$dir/etc-docker/certs.d/${REGISTRY}/ca.crt"
  cp "$CA_DIR/ca.pem" "$dir/etc-docker/certs.d/${ESTATE_REGISTRY}/ca.crt"
  if pid="$(node_pid "$n")"; then
    say "$n: dockerd (pid $pid) is starting; waiting"
  else
    printf '\n==== %s nodes.sh start ====\n' "$(date -Is)" >>"/var/log/webide-swarm-$n.log"
    setsid nohup nsenter --net="/run/netns/$(netns "$n")" unshare --mount --uts --propagation private \
      bash -c '
        set -e
        n=$1 dir=$2 run=$3
        hostname "$n"
        # /sys is left as it is: a fresh sysfs here would hide the cgroup mounts runc needs.
        mount --bind "$dir/var-lib-docker" /var/lib/docker
        mount --bind "$dir/etc-docker" /etc/docker
        mount --bind "$4" /etc/hosts
        exec dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" --exec-root "$run/$n" \
          --pidfile "$run/$n.pid" -H "unix://$run/$n.sock"
      ' node "$n" "$dir" "$RUN" "${STATE}/hosts" >>"/var/log/webide-swarm-$n.log" 2>&1 </dev/null &
  fi
}

wait_engine() {
  local n=$1 deadline=$((SECONDS + WAIT_SECONDS))
  until node_up "$n"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "swarm: ERROR: $n's dockerd did not answer within ${WAIT_SECONDS}s; last log lines:" >&2
      tail -n 30 "/var/log/webide-swarm-$n.log" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}

swarm_state() { node_docker "$1" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown; }

swarm_up() {
  local manager=swarm-m1 n token
  if [ "$(swarm_state "$manager")" != active ]; then
    say "swarm init on $manager"
    node_docker "$manager" swarm init --advertise-addr "${ADDRESS[$manager]}" --listen-addr "${ADDRESS[$manager]}:2377" \
      --default-addr-pool "$OVERLAY_POOL" --default-addr-pool-mask-length "$OVERLAY_MASK" >/dev/null
  fi
  token="$(node_docker "$manager" swarm join-token -q worker)"
  for n in "${NODES[@]}"; do
    [ "${ROLE[$n]}" = manager ] && continue
    if [ "$(swarm_state "$n")" != active ]; then
      say "$n joins"
      node_docker "$n" swarm join --token "$token" --advertise-addr "${ADDRESS[$n]}" "${ADDRESS[$manager]}:2377" >/dev/null
    fi
  done
  # Labels say what each node is for; the estate's placement constraints read them.
  for n in "${NODES[@]}"; do
    node_docker "$manager" node update --label-add "webide.role=${ROLE[$n]}" "$n" >/dev/null
  done
}

cmd_start() {
  need_root
  command -v dockerd >/dev/null 2>&1 || fail "dockerd is missing: run 'bash scripts/docker/engine.sh start' first (it installs Debian's docker.io)"
  install_tools
  modprobe vxlan 2>/dev/null || true
  host_network_up
  mkdir -p "$STATE"
  hosts_file >"${STATE}/hosts"
  lab_ca
  registry_start
  local n
  for n in "${NODES[@]}"; do node_network_up "$n"; node_engine_up "$n"; done
  for n in "${NODES[@]}"; do wait_engine "$n"; done
  swarm_up
  cmd_status
}

# Ends the dockerd this script started (pid file), then every process still in a node's network
# namespace (container shims and containers it left), then removes what start created.
cmd_stop() {
  need_root
  local n pid ns deadline pids
  for n in "${NODES[@]}"; do
    if pid="$(node_pid "$n")"; then
      say "$n: stopping dockerd (pid $pid)"
      kill -TERM "$pid"
    fi
  done
  for n in "${NODES[@]}"; do
    if pid="$(node_pid "$n")"; then
      deadline=$((SECONDS + 60))
      while [ -d "/proc/$pid" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
      [ -d "/proc/$pid" ] && kill -KILL "$pid"
    fi
    ns="$(netns "$n")"
    if ip netns list | grep -q "^$ns\b"; then
      pids="$(ip netns pids "$ns" 2>/dev/null || true)"
      if [ -n "$pids" ]; then
        say "$n: ending $(echo $pids | wc -w) process(es) left in its namespace"
        kill -KILL $pids 2>/dev/null || true
        sleep 1
      fi
      ip netns del "$ns"
    fi
    ip link del "ws-${n#swarm-}" 2>/dev/null || true
    rm -f "${RUN}/$n.pid" "${RUN}/$n.sock"
  done
  if pid="$(registry_pid)"; then
    say "registry: stopping (pid $pid)"
    kill -TERM "$pid"
    deadline=$((SECONDS + 20))
    while [ -d "/proc/$pid" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
    [ -d "/proc/$pid" ] && kill -KILL "$pid"
  fi
  if ip netns list | grep -q "^$(netns registry)\b"; then ip netns del "$(netns registry)"; fi
  ip link del ws-registry 2>/dev/null || true
  iptables -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
  # The nodes' mounts lived in their own mount namespaces, gone with their processes.
  rm -rf "$STATE" "$RUN"
  say "stopped; nothing left"
}

cmd_status() {
  local n ok=0
  if registry_up; then say "registry ${REGISTRY} (${REGISTRY_ADDRESS}): answering over TLS"; else say "registry: not answering"; ok=1; fi
  for n in "${NODES[@]}"; do
    if node_up "$n"; then
      say "$n (${ROLE[$n]}, ${ADDRESS[$n]}): $(node_docker "$n" info --format 'server {{.ServerVersion}}, swarm {{.Swarm.LocalNodeState}}, {{.ContainersRunning}} running')"
    else
      say "$n: not answering"
      ok=1
    fi
  done
  if [ $ok -eq 0 ]; then
    node_docker swarm-m1 node ls --format '{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}' | sed 's/^/swarm:   /'
  fi
  return $ok
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  push) shift; cmd_push "$@" ;;
  run) shift; cmd_run "$@" ;;
  load) shift; cmd_load "$@" ;;
  ca) echo "$CA_DIR/ca.pem" ;;
  estate-registry) printf '%s %s %s %s\n' "$ESTATE_REGISTRY_NAME" "$ESTATE_REGISTRY_PORT" "$CA_DIR/estate-registry.pem" "$CA_DIR/estate-registry.key" ;;
  host) [ -n "${2:-}" ] && [ -n "${ROLE[${2}]:-}" ] || fail "usage: $0 host <${NODES[*]}>"; host_of "$2" ;;
  *) echo "usage: $0 start|stop|status|host <node>|push <image>...|run <command>...|load <node> <image>...|ca|estate-registry" >&2; exit 2 ;;
esac
