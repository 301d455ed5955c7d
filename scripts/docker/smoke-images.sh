#!/usr/bin/env bash
# Smoke checks for the locally built images, run the way the estate runs them (same users,
# read-only roots, tmpfs mounts, all capabilities dropped, no-new-privileges), plus the
# network-isolation premise the estate relies on. Leaves the engine and images alone and
# removes everything it creates (containers, networks, volumes named webide-smoke-*).
#
#   bash scripts/docker/smoke-images.sh [CHECK ...]
#   checks: nginx postgres keycloak oauth2-proxy litellm code-server ai-standin isolation (default: all)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TAGS="$(bash "$ROOT/scripts/docker/build-images.sh" --list)"
img() { printf '%s\n' "$TAGS" | grep -E "^webide-local/$1:" | head -n1; }
P=webide-smoke
HARDEN=(--cap-drop ALL --security-opt no-new-privileges:true)
TMP="$(mktemp -d)"
chmod 755 "$TMP"
FAILED=()

say() { printf '[smoke] %s\n' "$*"; }
pass() { say "PASS $*"; }
failed() { say "FAIL $*"; FAILED+=("$1"); }

cleanup() {
  local ids
  ids="$(docker ps -aq --filter "name=^/${P}-")"
  [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
  docker network ls -q --filter "name=^${P}-" | xargs -r docker network rm >/dev/null 2>&1
  docker volume ls -q --filter "name=^${P}-" | xargs -r docker volume rm >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT
cleanup_start() { cleanup; TMP="$(mktemp -d)"; chmod 755 "$TMP"; }

# wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND once a second, at most SECONDS times.
wait_for() {
  local limit="$1" what="$2" i
  shift 2
  for ((i = 1; i <= limit; i++)); do
    if "$@" >/dev/null 2>&1; then
      say "  $what after ${i}s"
      return 0
    fi
    sleep 1
  done
  say "  $what: not within ${limit}s"
  return 1
}

check_nginx() {
  local image; image="$(img nginx)"
  cat >"$TMP/trivial.conf" <<'EOF'
events {}
http { server { listen 8080; location / { return 200 "ok\n"; } } }
EOF
  # As constructs/nginx-entry.ts: nginx.conf includes the secrets file that the entrypoint
  # renders from /etc/nginx/templates into a uid-101 tmpfs at /etc/nginx/secrets.
  cat >"$TMP/nginx.conf" <<'EOF'
events {}
http {
  server {
    listen 8080;
    include /etc/nginx/secrets/ai-gateway.conf;
    location / { return 200 "smoke-ok $litellm_authorization|$tabby_authorization\n"; }
  }
}
EOF
  printf '%s\n' 'set $litellm_authorization "Bearer $LITELLM_GATEWAY_KEY";' 'set $tabby_authorization "Bearer $TABBY_API_TOKEN";' >"$TMP/ai-gateway.conf.template"
  # Not included by nginx.conf: shows a variable outside the filter stays as written.
  printf '%s\n' 'kept=$OTHER_VAR substituted=${TABBY_API_TOKEN}' >"$TMP/filter-check.template"
  chmod 644 "$TMP"/*.conf "$TMP"/*.template
  # 1) nginx -t as 101 on a trivial config, read-only root.
  if docker run --rm --user 101:101 "${HARDEN[@]}" --read-only --tmpfs /tmp --tmpfs /var/lib/nginx --tmpfs /var/cache/nginx \
    -v "$TMP/trivial.conf:/etc/nginx/nginx.conf:ro" "$image" nginx -t -g 'pid /tmp/x.pid;'; then
    pass "nginx: nginx -t as 101"
  else
    failed nginx "nginx -t as 101"
    return
  fi
  # 2) As the estate runs it: files put in by docker cp (root, 0644) before the start.
  docker network create "$P-edge" >/dev/null
  docker create --name "$P-nginx" --network "$P-edge" --user 101:101 "${HARDEN[@]}" \
    -e NGINX_ENVSUBST_OUTPUT_DIR=/etc/nginx/secrets -e 'NGINX_ENVSUBST_FILTER=^(LITELLM_GATEWAY_KEY|TABBY_API_TOKEN)$' \
    -e LITELLM_GATEWAY_KEY=sk-smoke-litellm -e TABBY_API_TOKEN=smoke-tabby -e OTHER_VAR=must-not-appear \
    --tmpfs /tmp:rw,nosuid,nodev,size=64m --tmpfs /var/lib/nginx:rw,nosuid,nodev,size=256m \
    --tmpfs /var/cache/nginx:rw,nosuid,nodev,size=256m \
    --tmpfs /etc/nginx/secrets:rw,nosuid,nodev,noexec,size=1m,mode=0700,uid=101,gid=101 \
    "$image" nginx -g 'daemon off; pid /tmp/nginx.pid;' >/dev/null
  docker cp "$TMP/nginx.conf" "$P-nginx:/etc/nginx/nginx.conf"
  docker cp "$TMP/ai-gateway.conf.template" "$P-nginx:/etc/nginx/templates/ai-gateway.conf.template"
  docker cp "$TMP/filter-check.template" "$P-nginx:/etc/nginx/templates/filter-check.template"
  docker start "$P-nginx" >/dev/null
  local out
  out="$(docker run --rm --network "$P-edge" --entrypoint curl "$(img ai-standin)" -fsS --retry 10 --retry-delay 1 --retry-connrefused --max-time 30 "http://$P-nginx:8080/")"
  if [ "$out" = "smoke-ok Bearer sk-smoke-litellm|Bearer smoke-tabby" ] \
    && [ "$(docker exec "$P-nginx" cat /etc/nginx/secrets/filter-check)" = 'kept=$OTHER_VAR substituted=smoke-tabby' ] \
    && docker exec "$P-nginx" nginx -t -q -g 'pid /tmp/nginx-check.pid;'; then
    pass "nginx: serves as 101; template rendered into the secrets tmpfs (only filtered variables); healthcheck command passes"
  else
    failed nginx "nginx container (got '$out')"; docker logs "$P-nginx" 2>&1 | tail -n 20
  fi
  docker logs "$P-nginx" 2>&1 | grep -q 'GET / HTTP' && pass "nginx: access log reaches docker logs" || failed nginx "no access log line in docker logs"
  docker rm -f "$P-nginx" >/dev/null
  docker network rm "$P-edge" >/dev/null
}

start_postgres() { # network
  docker run -d --name "$P-postgres" --network "$1" --user 999:999 "${HARDEN[@]}" --read-only \
    --tmpfs /run/postgresql:rw,nosuid,nodev,size=16m --tmpfs /tmp:rw,nosuid,nodev,size=64m \
    -e POSTGRES_DB=keycloak -e POSTGRES_USER=keycloak -e POSTGRES_PASSWORD=smoke-db-password \
    -e PGDATA=/var/lib/postgresql/data/pgdata \
    --mount "type=volume,source=$P-pgdata,target=/var/lib/postgresql/data" "$(img postgres)" >/dev/null
  wait_for 60 "pg_isready" docker exec "$P-postgres" pg_isready -U keycloak -d keycloak -h 127.0.0.1
}

check_postgres() {
  docker network create --internal "$P-db" >/dev/null
  if start_postgres "$P-db"; then
    pass "postgres: initialised on first start; pg_isready passes"
  else
    failed postgres "first start"; docker logs "$P-postgres" 2>&1 | tail -n 20; return
  fi
  if docker exec -e PGPASSWORD=smoke-db-password "$P-postgres" psql -h 127.0.0.1 -U keycloak -d keycloak -tAc 'select 1' | grep -qx 1 \
    && ! docker exec -e PGPASSWORD=wrong "$P-postgres" psql -h 127.0.0.1 -U keycloak -d keycloak -tAc 'select 1' >/dev/null 2>&1 \
    && docker exec "$P-postgres" psql -h /run/postgresql -U keycloak -d keycloak -tAc 'show password_encryption' | grep -qx scram-sha-256; then
    pass "postgres: TCP login needs the password (scram-sha-256)"
  else
    failed postgres "password authentication"
  fi
  # Reachable from another container on the network (listen_addresses='*').
  if docker run --rm --network "$P-db" --entrypoint pg_isready "$(img postgres)" -h "$P-postgres" -U keycloak -d keycloak >/dev/null; then
    pass "postgres: reachable by name from another container"
  else
    failed postgres "not reachable from another container"
  fi
  docker restart -t 20 "$P-postgres" >/dev/null
  if wait_for 60 "pg_isready after restart" docker exec "$P-postgres" pg_isready -U keycloak -d keycloak -h 127.0.0.1 \
    && [ "$(docker logs "$P-postgres" 2>&1 | grep -c 'initialising')" -eq 1 ]; then
    pass "postgres: restart keeps the data (no second initialisation)"
  else
    failed postgres "restart"
  fi
}

check_keycloak() {
  docker network create --internal "$P-kcnet" >/dev/null
  if ! docker inspect "$P-postgres" >/dev/null 2>&1; then
    start_postgres "$P-kcnet" || { failed keycloak "its postgres did not start"; return; }
  else
    docker network connect "$P-kcnet" "$P-postgres"
  fi
  local t0=$SECONDS
  docker run -d --name "$P-keycloak" --network "$P-kcnet" --user 1000:0 "${HARDEN[@]}" --memory 2g \
    --tmpfs /tmp:rw,nosuid,nodev,size=256m \
    -e KC_BOOTSTRAP_ADMIN_USERNAME=admin -e KC_BOOTSTRAP_ADMIN_PASSWORD=smoke-admin-password \
    -e KC_DB=postgres -e "KC_DB_URL=jdbc:postgresql://$P-postgres:5432/keycloak" \
    -e KC_DB_USERNAME=keycloak -e KC_DB_PASSWORD=smoke-db-password \
    -e KC_PROXY_HEADERS=xforwarded -e KC_HEALTH_ENABLED=true -e KC_METRICS_ENABLED=true \
    "$(img keycloak)" start --http-enabled=true --hostname-strict=false >/dev/null
  # The estate's healthcheck, verbatim.
  local hc='exec 3<>/dev/tcp/127.0.0.1/9000 && printf '"'"'GET /health/ready HTTP/1.0\r\n\r\n'"'"' >&3 && grep -q '"'"'"UP"'"'"' <&3'
  if wait_for 240 "keycloak /health/ready UP" docker exec "$P-keycloak" bash -c "$hc"; then
    pass "keycloak: start (production mode) on postgres became ready in $((SECONDS - t0))s"
  else
    failed keycloak "not ready"; docker logs "$P-keycloak" 2>&1 | tail -n 30; return
  fi
  if docker logs "$P-keycloak" 2>&1 | grep -qi 'Updating the configuration and installing your custom providers'; then
    failed keycloak "start re-ran the build (augmentation); the image's kc.sh build does not match"
  else
    pass "keycloak: start used the image's build (no re-augmentation)"
  fi
  # Readiness comes before the realms answer (bootstrap, first start): wait for discovery.
  local disco='exec 3<>/dev/tcp/127.0.0.1/8080 && printf "GET /realms/master/.well-known/openid-configuration HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3 && head -n1 <&3 | grep -q " 200"'
  if wait_for 240 "keycloak master realm discovery 200" docker exec "$P-keycloak" bash -c "$disco"; then
    pass "keycloak: master realm discovery answers, $((SECONDS - t0))s after start"
  else
    failed keycloak "discovery never answered 200"; docker logs "$P-keycloak" 2>&1 | tail -n 20
  fi
}

check_oauth2_proxy() {
  local out
  if out="$(docker run --rm --user 65532:65532 "${HARDEN[@]}" --read-only "$(img oauth2-proxy)" --version)"; then
    pass "oauth2-proxy: $out"
  else
    failed oauth2-proxy "--version"
  fi
  # It starts with an OIDC config of the estate's shape (discovery skipped, so no IdP needed).
  docker network create --internal "$P-id" >/dev/null
  docker run -d --name "$P-o2p" --network "$P-id" --user 65532:65532 "${HARDEN[@]}" --read-only \
    -e OAUTH2_PROXY_PROVIDER=keycloak-oidc -e OAUTH2_PROXY_CLIENT_ID=smoke -e OAUTH2_PROXY_CLIENT_SECRET=smoke \
    -e OAUTH2_PROXY_COOKIE_SECRET=0123456789abcdef0123456789abcdef -e OAUTH2_PROXY_EMAIL_DOMAINS='*' \
    -e OAUTH2_PROXY_OIDC_ISSUER_URL=https://ide.example.test/realms/r -e OAUTH2_PROXY_SKIP_OIDC_DISCOVERY=true \
    -e OAUTH2_PROXY_LOGIN_URL=https://ide.example.test/realms/r/protocol/openid-connect/auth \
    -e OAUTH2_PROXY_REDEEM_URL=http://kc:8080/realms/r/protocol/openid-connect/token \
    -e OAUTH2_PROXY_OIDC_JWKS_URL=http://kc:8080/realms/r/protocol/openid-connect/certs \
    -e OAUTH2_PROXY_HTTP_ADDRESS=0.0.0.0:4180 -e OAUTH2_PROXY_UPSTREAMS=static://202 \
    "$(img oauth2-proxy)" >/dev/null
  local code
  code="$(docker run --rm --network "$P-id" --entrypoint curl "$(img ai-standin)" -s -o /dev/null -w '%{http_code}' \
    --retry 10 --retry-delay 1 --retry-connrefused --max-time 30 "http://$P-o2p:4180/ping")"
  if [ "$code" = 200 ]; then pass "oauth2-proxy: runs as 65532 with an OIDC config; /ping 200"; else failed oauth2-proxy "/ping: $code"; docker logs "$P-o2p" 2>&1 | tail -n 10; fi
}

check_litellm() {
  cat >"$TMP/litellm.yaml" <<'EOF'
model_list:
  - model_name: chat
    litellm_params:
      model: openai/smoke-chat
      api_base: http://webide-smoke-vllm:8000/v1
      api_key: os.environ/VLLM_API_KEY
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
EOF
  chmod 644 "$TMP/litellm.yaml"
  docker network create --internal "$P-ai" >/dev/null
  docker run -d --name "$P-vllm" --network "$P-ai" --user 2000:0 "${HARDEN[@]}" -e STANDIN_ROLE=vllm -e VLLM_API_KEY=smoke-vllm-key \
    "$(img ai-standin)" /models/chat --served-model-name smoke-chat --host 0.0.0.0 --port 8000 >/dev/null
  docker run -d --name "$P-litellm" --network "$P-ai" --user 1000:1000 "${HARDEN[@]}" --read-only \
    --tmpfs /tmp:rw,nosuid,nodev,size=256m -e HOME=/tmp \
    -e LITELLM_MASTER_KEY=sk-smoke-master-key-0123 -e VLLM_API_KEY=smoke-vllm-key -e LITELLM_TELEMETRY=False \
    -v "$TMP/litellm.yaml:/etc/litellm/config.yaml:ro" "$(img litellm)" \
    --config /etc/litellm/config.yaml --port 4000 --num_workers 1 >/dev/null
  if wait_for 90 "litellm liveliness (the estate's healthcheck)" docker exec "$P-litellm" python3 -c \
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4000/health/liveliness')"; then
    pass "litellm: proxy loaded the config as 1000:1000 (read-only root, offline cost map)"
  else
    failed litellm "not live"; docker logs "$P-litellm" 2>&1 | tail -n 30; return
  fi
  local out
  out="$(docker exec "$P-litellm" python3 -c '
import json, urllib.request
req = urllib.request.Request("http://127.0.0.1:4000/v1/chat/completions",
    data=json.dumps({"model": "chat", "messages": [{"role": "user", "content": "ping"}]}).encode(),
    headers={"Authorization": "Bearer sk-smoke-master-key-0123", "Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(req, timeout=30))["choices"][0]["message"]["content"])')"
  case "$out" in *smoke-chat*) pass "litellm: chat completion through the vllm stand-in: $out" ;; *) failed litellm "completion: $out" ;; esac
}

check_code_server() {
  local image; image="$(img code-server)"
  echo '{"workbench.startupEditor": "none"}' >"$TMP/settings.json"
  echo 'name: smoke' >"$TMP/continue-config.yaml"
  echo '[server]' >"$TMP/tabby-agent-config.toml"
  chmod 644 "$TMP"/settings.json "$TMP"/continue-config.yaml "$TMP"/tabby-agent-config.toml
  docker network create --internal "$P-ws" >/dev/null
  # As constructs/workspace.ts: a read-only root, the user-data dir a tmpfs outside the home, its
  # Machine dir an anonymous volume that receives the managed files before the start.
  local name="$P-ide"
  docker create --name "$name" --network "$P-ws" --user 1000:1000 "${HARDEN[@]}" --read-only \
    --tmpfs /tmp:rw,nosuid,nodev,size=512m --tmpfs /var/lib/code-server:rw,nosuid,nodev,size=256m,uid=1000,gid=1000,mode=0700 \
    --mount "type=volume,source=$P-home,target=/home/coder" --mount type=volume,target=/var/lib/code-server/Machine \
    -e 'EXTENSIONS_GALLERY={}' -e HOME=/home/coder -e WEBIDE_USER=smoke \
    --entrypoint /usr/local/bin/webide-ide-entrypoint "$image" \
    --bind-addr 0.0.0.0:8080 --auth none --disable-telemetry --disable-update-check --disable-proxy \
    --disable-file-downloads --disable-file-uploads --idle-timeout-seconds 14400 \
    --extensions-dir /opt/code-server/extensions --user-data-dir /var/lib/code-server \
    /home/coder/project >/dev/null
  local f
  for f in settings.json continue-config.yaml tabby-agent-config.toml; do
    docker cp "$TMP/$f" "$name:/var/lib/code-server/Machine/$f" || failed code-server "docker cp $f"
  done
  docker start "$name" >/dev/null
  if wait_for 90 "code-server /healthz" docker exec "$name" curl -fsS http://127.0.0.1:8080/healthz; then
    pass "code-server (read-only root): /healthz $(docker exec "$name" curl -fsS http://127.0.0.1:8080/healthz)"
  else
    failed code-server "no /healthz"; docker logs "$name" 2>&1 | tail -n 30; return
  fi
  local code
  code="$(docker exec "$name" curl -s -o /dev/null -w '%{http_code}' -L http://127.0.0.1:8080/)"
  [ "$code" = 200 ] && pass "code-server: workbench page 200" || failed code-server "workbench page: $code"
  if docker logs "$name" 2>&1 | grep -qiE 'unknown option|error |EROFS|EACCES'; then
    failed code-server "flags rejected or errors in the log:"; docker logs "$name" 2>&1 | grep -iE 'unknown option|error |EROFS|EACCES' | head
  else
    pass "code-server: the estate's flags accepted (idle timeout included), no errors logged"
  fi
  if docker exec "$name" sh -c 'test -s /home/coder/.continue/config.yaml && test -s /home/coder/.tabby-client/agent/config.toml && test -d /home/coder/project && test -L /var/lib/code-server/User' \
    && ! docker exec "$name" sh -c 'echo {} >/var/lib/code-server/Machine/settings.json' 2>/dev/null; then
    pass "code-server: the entrypoint installed the AI configs into the home; the machine settings are not writable"
  else
    failed code-server "managed files not installed, or machine settings writable"
  fi
}

check_ai_standin() {
  local image; image="$(img ai-standin)"
  docker network create --internal "$P-gpu" >/dev/null
  # vllm role: as the estate declares it (runtime nvidia, uid 2000:0, GPU pinning env).
  docker run -d --name "$P-vllm2" --network "$P-gpu" --runtime nvidia --user 2000:0 "${HARDEN[@]}" \
    -e STANDIN_ROLE=vllm -e VLLM_API_KEY=smoke-key -e NVIDIA_VISIBLE_DEVICES=1,3 -e NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    "$image" /models/chat --served-model-name smoke-chat --host 0.0.0.0 --port 8000 --max-model-len 4096 \
    --gpu-memory-utilization 0.9 --tensor-parallel-size 2 >/dev/null
  docker run -d --name "$P-tabby" --network "$P-gpu" --runtime nvidia --user 0:0 "${HARDEN[@]}" \
    -e STANDIN_ROLE=tabby -e NVIDIA_VISIBLE_DEVICES=0 \
    "$image" serve --model TabbyML/StarCoder-1B --device cuda --host 0.0.0.0 --port 8080 >/dev/null
  wait_for 20 "vllm stand-in /health" docker exec "$P-vllm2" curl -fsS http://127.0.0.1:8000/health || failed ai-standin "vllm /health"
  wait_for 20 "tabby stand-in /v1/health" docker exec "$P-tabby" curl -fsS http://127.0.0.1:8080/v1/health || failed ai-standin "tabby /v1/health"
  local curl=(docker run --rm --network "$P-gpu" --entrypoint curl "$image" -s --max-time 10)
  local r1 r2 r3 r4
  r1="$("${curl[@]}" -o /dev/null -w '%{http_code}' "http://$P-vllm2:8000/v1/models")"
  r2="$("${curl[@]}" -H 'Authorization: Bearer smoke-key' -H 'Content-Type: application/json' \
    -d '{"model":"smoke-chat","messages":[{"role":"user","content":"hello"}]}' "http://$P-vllm2:8000/v1/chat/completions")"
  r3="$("${curl[@]}" -X POST "http://$P-tabby:8080/v1/health" -o /dev/null -w '%{http_code}')"
  r4="$("${curl[@]}" -H 'Content-Type: application/json' -d '{"language":"python","segments":{"prefix":"def f("}}' "http://$P-tabby:8080/v1/completions")"
  [ "$r1" = 401 ] && pass "ai-standin vllm: /v1/models without the key -> 401" || failed ai-standin "vllm no-key: $r1"
  case "$r2" in *'"chat.completion"'*smoke-chat*) pass "ai-standin vllm: chat completion names the model" ;; *) failed ai-standin "vllm chat: $r2" ;; esac
  [ "$r3" = 200 ] && pass "ai-standin tabby: POST /v1/health 200" || failed ai-standin "tabby POST health: $r3"
  case "$r4" in *'"choices"'*'"text"'*) pass "ai-standin tabby: /v1/completions in Tabby's shape" ;; *) failed ai-standin "tabby completion: $r4" ;; esac
  if docker logs "$P-vllm2" 2>&1 | grep -q 'NVIDIA_VISIBLE_DEVICES=1,3' && docker logs "$P-tabby" 2>&1 | grep -q 'NVIDIA_VISIBLE_DEVICES=0'; then
    pass "ai-standin: logs show the NVIDIA_VISIBLE_DEVICES each container got (1,3 and 0); runtime=nvidia started"
  else
    failed ai-standin "NVIDIA_VISIBLE_DEVICES not in the logs"
  fi
}

check_isolation() {
  local image; image="$(img ai-standin)"
  docker network create --internal "$P-net-a" >/dev/null
  docker network create --internal "$P-net-b" >/dev/null
  local n
  for n in a1:a a2:a b1:b; do
    docker run -d --name "$P-${n%%:*}" --network "$P-net-${n##*:}" -e STANDIN_ROLE=vllm "${HARDEN[@]}" "$image" --port 8000 >/dev/null
  done
  wait_for 20 "a2 up" docker exec "$P-a2" curl -fsS http://127.0.0.1:8000/health
  wait_for 20 "b1 up" docker exec "$P-b1" curl -fsS http://127.0.0.1:8000/health
  local ip_a2 ip_b1
  ip_a2="$(docker inspect -f "{{(index .NetworkSettings.Networks \"$P-net-a\").IPAddress}}" "$P-a2")"
  ip_b1="$(docker inspect -f "{{(index .NetworkSettings.Networks \"$P-net-b\").IPAddress}}" "$P-b1")"
  say "  a1,a2 on $P-net-a ($(docker network inspect -f '{{(index .IPAM.Config 0).Subnet}}' "$P-net-a")), b1 on $P-net-b ($(docker network inspect -f '{{(index .IPAM.Config 0).Subnet}}' "$P-net-b"))"
  if docker exec "$P-a1" curl -fsS --max-time 5 "http://$ip_a2:8000/health" >/dev/null; then
    pass "isolation: same internal network reaches by IP (a1 -> a2 $ip_a2)"
  else
    failed isolation "a1 cannot reach a2 on the same network"
  fi
  if docker exec "$P-a1" curl -sS --connect-timeout 5 --max-time 8 "http://$ip_b1:8000/health" >/dev/null 2>&1; then
    failed isolation "a1 REACHED b1 ($ip_b1) on another network"
  else
    pass "isolation: another internal network is unreachable by IP (a1 -> b1 $ip_b1 refused/timed out)"
  fi
  if docker exec "$P-a1" curl -sS --connect-timeout 5 --max-time 8 "http://$P-b1:8000/health" >/dev/null 2>&1; then
    failed isolation "a1 resolved and reached b1 by name"
  else
    pass "isolation: another network's container name does not resolve/reach"
  fi
  # And an internal network has no way out (no gateway to the host's networks).
  local host_ip
  host_ip="$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')"
  if [ -n "$host_ip" ] && docker exec "$P-a1" curl -sS --connect-timeout 3 --max-time 5 "http://$host_ip:1/" 2>&1 | grep -qi 'unreachable'; then
    pass "isolation: internal network has no route to the host ($host_ip)"
  fi
}

CHECKS=("$@")
[ ${#CHECKS[@]} -gt 0 ] || CHECKS=(nginx postgres keycloak oauth2-proxy litellm code-server ai-standin isolation)
timeout 15 docker info >/dev/null 2>&1 || { say "the Docker engine does not answer (bash scripts/docker/engine.sh start)"; exit 1; }
# Every check may use the ai-standin image (it has curl) as a client; nothing is ever pulled.
NEED=(ai-standin)
for c in "${CHECKS[@]}"; do
  case "$c" in
    keycloak) NEED+=(keycloak postgres) ;;
    isolation) ;;
    *) NEED+=("$c") ;;
  esac
done
for n in "${NEED[@]}"; do
  t="$(img "$n")"
  [ -n "$t" ] && docker image inspect "$t" >/dev/null 2>&1 || { say "missing image for $n (bash scripts/docker/build-images.sh)"; exit 1; }
done
cleanup_start
for c in "${CHECKS[@]}"; do
  say "== $c"
  case "$c" in
    nginx) check_nginx ;;
    postgres) check_postgres ;;
    keycloak) check_keycloak ;;
    oauth2-proxy) check_oauth2_proxy ;;
    litellm) check_litellm ;;
    code-server) check_code_server ;;
    ai-standin) check_ai_standin ;;
    isolation) check_isolation ;;
    *) failed "$c" "unknown check" ;;
  esac
done
if [ ${#FAILED[@]} -eq 0 ]; then
  say "all checks passed"
else
  say "FAILED: ${FAILED[*]}"
  exit 1
fi
