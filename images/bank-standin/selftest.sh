#!/usr/bin/env bash
# Proves webide-local/bank-standin's parts on this machine without Docker: prepare.sh fills a
# build context exactly as build-images.sh would, `bank-standin serve` (the image's entrypoint)
# runs from it as an unprivileged uid, and real clients (git, npm, pip, mvn) use it over HTTPS
# with a test CA made here, inside a fresh network namespace whose only interface is loopback:
# whatever works there came from the stand-in, not from the internet or this machine's mirrors.
# /etc/hosts is replaced in a private mount namespace (the machine's own file is untouched).
#
#   sudo bash images/bank-standin/selftest.sh          prepare (cached downloads) + every check
#   STANDIN_SELFTEST_CTX=<dir> ... selftest.sh          reuse a context prepare.sh already filled
#
# Needs root (unshare, mount), openssl, keytool, git, npm, mvn, Debian's python3 with venv,
# nginx-light and fcgiwrap. Prints one line per check; exits non-zero at the first failure.
# Everything it starts is ended by pid; its files live in one temp directory (removed unless
# STANDIN_SELFTEST_KEEP=1).
set -euo pipefail

HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TEST_UID="${STANDIN_SELFTEST_UID:-65534}" # the servers' uid (nobody): not root, as in the image
DOMAIN=bank.internal
PORT=443 # in the namespace, so the URLs are the estate's (no port in them)

say() { printf '[bank-standin selftest] %s\n' "$*"; }
fail() { printf '[bank-standin selftest] FAIL: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Inside: the private network + mount namespace (re-entered as `selftest.sh inside WORK`).
# ---------------------------------------------------------------------------------------------
inside() {
  local W="$1"
  ip link set lo up
  sysctl -qw net.ipv4.ip_unprivileged_port_start=0 # as Docker sets it in every container
  mount --bind "$W/hosts" /etc/hosts
  local CA="$W/tls/ca.pem"
  local clean=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$W/home"
    LANG=C.UTF-8 GIT_CONFIG_NOSYSTEM=1 npm_config_globalconfig="$W/home/empty" npm_config_userconfig="$W/home/.npmrc"
    PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1)
  local svc=(setpriv --reuid "$TEST_UID" --regid "$TEST_UID" --clear-groups env -i
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$W/run" LANG=C.UTF-8
    STANDIN_HTTPS_PORT="$PORT" STANDIN_LISTEN=127.0.0.1 STANDIN_TLS_DIR="$W/tls/server"
    STANDIN_STATE="$W/state" STANDIN_RUN="$W/run/standin" STANDIN_APP="$W/app")
  local T=120 # seconds any one client command may take

  # The log belongs to the servers' uid: nginx reopens /dev/stdout (in Docker, a pipe anyone may open).
  install -m 0644 -o "$TEST_UID" /dev/null "$W/serve.log"
  "${svc[@]}" "$W/app/lib/bank-standin" serve >>"$W/serve.log" 2>&1 &
  local serve_pid=$!
  trap 'kill -TERM '"$serve_pid"' 2>/dev/null || true; wait '"$serve_pid"' 2>/dev/null || true' EXIT
  local i
  for i in $(seq 1 120); do
    grep -q 'bank-standin: ready' "$W/serve.log" && break
    kill -0 "$serve_pid" 2>/dev/null || { cat "$W/serve.log" >&2; fail "bank-standin serve exited early"; }
    sleep 0.5
  done
  grep -q 'bank-standin: ready' "$W/serve.log" || { cat "$W/serve.log" >&2; fail "not ready after 60 s"; }
  say "serve: ready as uid $TEST_UID on https://{git,npm,pypi,maven}.$DOMAIN/ (namespace with loopback only)"
  curl -s --max-time 3 -o /dev/null https://example.org/ 2>/dev/null && fail "the namespace reaches the internet"
  "${svc[@]}" "$W/app/lib/bank-standin" health || fail "bank-standin health"
  say "health: ok"

  # --- Git ------------------------------------------------------------------------------------
  local g="$W/client/git" out
  mkdir -p "$g"
  (
    cd "$g"
    G=("${clean[@]}" timeout "$T" git -c http.sslCAInfo="$CA" -c user.name=Tester -c user.email=tester@bank.internal)
    "${G[@]}" clone -q "https://git.$DOMAIN/team/project.git" project
    cd project
    echo "pushed through the stand-in" >pushed.txt
    "${G[@]}" add pushed.txt
    "${G[@]}" commit -q -m 'Add pushed.txt'
    "${G[@]}" push -q origin main
    [ "$("${G[@]}" ls-remote origin refs/heads/main | cut -f1)" = "$("${G[@]}" rev-parse HEAD)" ] || exit 1
    cd ..
    "${G[@]}" clone -q "https://git.$DOMAIN/team/project.git" again
    [ -f again/pushed.txt ] || exit 1
  ) || fail "git: clone, commit, push to team/project.git"
  say "git: clone + commit + push to team/project.git, a fresh clone has the commit"
  out="$(
    cd "$g"
    G=("${clean[@]}" timeout "$T" git -c http.sslCAInfo="$CA" -c user.name=Tester -c user.email=tester@bank.internal)
    "${G[@]}" clone -q "https://git.$DOMAIN/team/readonly.git" readonly
    cd readonly
    before="$("${G[@]}" rev-parse HEAD)"
    echo x >x.txt && "${G[@]}" add x.txt && "${G[@]}" commit -q -m x
    if "${G[@]}" push origin main 2>&1; then echo "PUSH-ACCEPTED"; fi
    [ "$("${G[@]}" ls-remote origin refs/heads/main | cut -f1)" = "$before" ] || echo "REMOTE-CHANGED"
  )" || fail "git: readonly.git clone"
  if [[ "$out" == *PUSH-ACCEPTED* || "$out" == *REMOTE-CHANGED* || "$out" != *403* ]]; then
    printf '%s\n' "$out" >&2
    fail "git: a push to team/readonly.git was not refused with 403"
  fi
  say "git: push to team/readonly.git refused ($(printf '%s\n' "$out" | grep -m1 -o 'error: 403'))"

  # --- npm ------------------------------------------------------------------------------------
  local n="$W/client/npm"
  (
    N=("${clean[@]}" timeout "$T" npm --no-audit --no-fund --loglevel=error)
    cd "$n/bank-standin-hello" && "${N[@]}" publish >/dev/null
    mkdir -p "$n/consumer" && cd "$n/consumer"
    echo '{"name":"consumer","private":true}' >package.json
    "${N[@]}" install --save-exact bank-standin-hello@1.0.0 >/dev/null
    [ "$("${clean[@]}" node -p 'require("bank-standin-hello")')" = "hello from the npm stand-in" ] || exit 1
    grep -q "\"resolved\": \"https://npm.$DOMAIN/bank-standin-hello/-/bank-standin-hello-1.0.0.tgz\"" package-lock.json || exit 1
  ) || fail "npm: publish then install of bank-standin-hello@1.0.0"
  say "npm: npm publish of bank-standin-hello@1.0.0, npm install of it (tarball URL https://npm.$DOMAIN/...)"
  "${svc[@]}" "$W/app/lib/bank-standin" publish-npm <"$n/bank-standin-hello-1.0.1.tgz" >/dev/null \
    || fail "npm: bank-standin publish-npm"
  (
    cd "$n/consumer"
    "${clean[@]}" timeout "$T" npm --no-audit --no-fund --loglevel=error install --save-exact bank-standin-hello@1.0.1 >/dev/null
  ) || fail "npm: install of the version bank-standin publish-npm published"
  say "npm: bank-standin publish-npm <tarball (the docker exec path), then npm install of it"
  out="$(cd "$n/consumer" && "${clean[@]}" timeout "$T" npm view left-pad version 2>&1)" \
    && fail "npm: a package nobody published here resolved (an uplink?)"
  [[ "$out" == *E404* ]] || { printf '%s\n' "$out" >&2; fail "npm: expected E404 for a package not published here"; }
  say "npm: a name not published here is not found (no uplinks)"

  # --- PyPI -----------------------------------------------------------------------------------
  local p="$W/client/pypi" py="$W/client/venv/bin/python"
  "${svc[@]}" "$W/app/lib/bank-standin" add-wheel bank_standin_hello-1.0.0-py3-none-any.whl \
    <"$p/bank_standin_hello-1.0.0-py3-none-any.whl" || fail "pypi: bank-standin add-wheel"
  (
    cd "$p"
    PIP=("${clean[@]}" timeout "$T" "$py" -m pip)
    IDX=(--no-cache-dir --cert "$CA" --index-url "https://pypi.$DOMAIN/simple/")
    "${PIP[@]}" download "${IDX[@]}" -q --no-deps -d dl bank-standin-hello==1.0.0
    cmp dl/bank_standin_hello-1.0.0-py3-none-any.whl bank_standin_hello-1.0.0-py3-none-any.whl
    "${PIP[@]}" install "${IDX[@]}" -q --target site bank-standin-hello==1.0.0
    [ "$(PYTHONPATH=site "$py" -c 'import bank_standin_hello as m; print(m.GREETING)')" = "hello from the pypi stand-in" ]
  ) || fail "pypi: pip download/install of bank-standin-hello==1.0.0"
  say "pypi: bank-standin add-wheel <wheel (the docker exec path), pip download + pip install of it"
  (
    cd "$p"
    # The upload a `twine upload --repository-url https://pypi.$DOMAIN/` makes (any user/password).
    "${clean[@]}" timeout "$T" curl -fsS --cacert "$CA" -u anyone:anything -o /dev/null \
      -F ':action=file_upload' -F name=bank-standin-hello -F version=1.0.1 \
      -F "content=@bank_standin_hello-1.0.1-py3-none-any.whl" "https://pypi.$DOMAIN/"
    "${clean[@]}" timeout "$T" "$py" -m pip download --no-cache-dir --cert "$CA" --index-url "https://pypi.$DOMAIN/simple/" \
      -q --no-deps -d dl2 bank-standin-hello==1.0.1
    [ -f dl2/bank_standin_hello-1.0.1-py3-none-any.whl ]
  ) || fail "pypi: upload over HTTPS, then pip download"
  say "pypi: upload over HTTPS (POST :action=file_upload), then pip download of it"
  local code
  code="$("${clean[@]}" curl -s --cacert "$CA" -o /dev/null -w '%{http_code}' "https://pypi.$DOMAIN/simple/requests/")"
  [ "$code" = 404 ] || fail "pypi: a name not here answered $code (fallback to the public index?)"
  say "pypi: a name not here is a 404 (no fallback)"

  # --- Maven ----------------------------------------------------------------------------------
  local m="$W/client/maven" v
  v="$(sed -n 's/^MAVEN_DEPENDENCY_PLUGIN_VERSION=\([^ ]*\).*/\1/p' "$ROOT/scripts/docker/build-images.sh")"
  local MVN=("${clean[@]}" MAVEN_OPTS="-Djavax.net.ssl.trustStore=$m/truststore.p12 -Djavax.net.ssl.trustStoreType=PKCS12 -Djavax.net.ssl.trustStorePassword=changeit"
    timeout 300 mvn -B -ntp -s "$m/settings.xml")
  (
    cd "$m/empty-dir"
    "${MVN[@]}" "-Dmaven.repo.local=$m/repo-explicit" "org.apache.maven.plugins:maven-dependency-plugin:$v:get" \
      -Dartifact=com.bank.demo:greeting:1.0.0 >"$m/explicit.log" 2>&1 || { tail -n 40 "$m/explicit.log" >&2; exit 1; }
    cmp "$m/repo-explicit/com/bank/demo/greeting/1.0.0/greeting-1.0.0.jar" "$W/app/maven2/com/bank/demo/greeting/1.0.0/greeting-1.0.0.jar"
  ) || fail "maven: maven-dependency-plugin:$v:get of com.bank.demo:greeting:1.0.0"
  # The repository is complete for this goal: Maven asked for nothing it lacks.
  grep ' "Apache-Maven/' "$W/serve.log" | awk '$9 != 200 { bad = 1; print } END { exit bad }' >&2 \
    || fail "maven: the stand-in answered Maven with something other than 200 (above)"
  say "maven: mvn maven-dependency-plugin:$v:get -Dartifact=com.bank.demo:greeting:1.0.0 from an empty local repository (all 200)"
  # --- The entrypoint ends when a part dies -----------------------------------------------------
  local vpid
  vpid="$(cat "$W/run/standin/pids/verdaccio.pid")"
  kill -TERM "$vpid"
  local rc=0
  for i in $(seq 1 40); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$serve_pid" 2>/dev/null && fail "serve still runs 20 s after verdaccio (pid $vpid) was killed"
  wait "$serve_pid" || rc=$?
  trap - EXIT
  [ "$rc" -ne 0 ] || fail "serve exited with 0 after verdaccio died"
  grep -q "verdaccio (pid $vpid) exited" "$W/serve.log" || fail "serve did not say which part died"
  for i in nginx fcgiwrap pypiserver; do
    kill -0 "$(cat "$W/run/standin/pids/$i.pid")" 2>/dev/null && fail "$i still runs after serve exited"
  done
  sleep 0.5
  if pgrep -f "$W/run/standin/" >/dev/null; then
    pgrep -af "$W/run/standin/" >&2
    fail "processes of the stand-in outlived serve"
  fi
  say "serve: exited with status $rc when verdaccio died, and stopped the others"

  # --- docker stop: TERM to the entrypoint alone ends everything, status 0 ----------------------
  : >"$W/serve.log"
  "${svc[@]}" "$W/app/lib/bank-standin" serve >>"$W/serve.log" 2>&1 &
  serve_pid=$!
  trap 'kill -TERM '"$serve_pid"' 2>/dev/null || true; wait '"$serve_pid"' 2>/dev/null || true' EXIT
  for i in $(seq 1 120); do
    grep -q 'bank-standin: ready' "$W/serve.log" && break
    sleep 0.5
  done
  grep -q 'bank-standin: ready' "$W/serve.log" || fail "second start: not ready after 60 s"
  kill -TERM "$serve_pid"
  for i in $(seq 1 40); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$serve_pid" 2>/dev/null && fail "serve still runs 20 s after TERM"
  rc=0
  wait "$serve_pid" || rc=$?
  trap - EXIT
  [ "$rc" -eq 0 ] || fail "serve exited with $rc after TERM"
  for i in nginx fcgiwrap pypiserver verdaccio; do
    kill -0 "$(cat "$W/run/standin/pids/$i.pid")" 2>/dev/null && fail "$i still runs after TERM"
  done
  # Nothing of it is left (fcgiwrap's preforked children included): no process names this run's dir.
  sleep 0.5
  if pgrep -f "$W/run/standin/" >/dev/null; then
    pgrep -af "$W/run/standin/" >&2
    fail "processes of the stand-in outlived serve"
  fi
  say "serve: restarted on the same state, then TERM (docker stop) ended everything with status 0"
}

if [ "${1:-}" = inside ]; then
  inside "$2"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# Outside: prepare the context, the app tree, the CA, the clients' inputs.
# ---------------------------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || fail "run as root (unshare and mount need it)"
for tool in openssl keytool git npm mvn curl unshare setpriv nginx /usr/sbin/fcgiwrap /usr/bin/python3; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (apt-get install nginx-light fcgiwrap git curl openssl ...)"
done
t0=$SECONDS
pin() { sed -n "s/^$1=\([^ ]*\).*/\1/p" "$ROOT/scripts/docker/build-images.sh"; }
NODE_VERSION="$(pin CODE_SERVER_NODE_VERSION)"
VERDACCIO_VERSION="$(pin VERDACCIO_VERSION)"
PYPISERVER_VERSION="$(pin PYPISERVER_VERSION)"
MAVEN_DEPENDENCY_PLUGIN_VERSION="$(pin MAVEN_DEPENDENCY_PLUGIN_VERSION)"

W="$(mktemp -d "${TMPDIR:-/tmp}/bank-standin-selftest.XXXXXX")"
[ "${STANDIN_SELFTEST_KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT
chmod 0755 "$W"

if [ -n "${STANDIN_SELFTEST_CTX:-}" ]; then
  CTX="$STANDIN_SELFTEST_CTX"
  say "context: reusing $CTX"
else
  CTX="$W/ctx"
  mkdir -p "$CTX"
  cp -a "$HERE/." "$CTX/"
  env CTX="$CTX" STAGE="${WEBIDE_IMAGE_STAGE:-/var/cache/webide-images}" NODE_VERSION="$NODE_VERSION" \
    VERDACCIO_VERSION="$VERDACCIO_VERSION" PYPISERVER_VERSION="$PYPISERVER_VERSION" \
    MAVEN_DEPENDENCY_PLUGIN_VERSION="$MAVEN_DEPENDENCY_PLUGIN_VERSION" \
    bash "$HERE/prepare.sh" >"$W/prepare.log" 2>&1 || { tail -n 40 "$W/prepare.log" >&2; fail "prepare.sh"; }
  say "prepare.sh: $(tail -n1 "$W/prepare.log")"
fi

# The tree the image has at /opt/bank-standin (the Dockerfile's COPY and venv steps).
A="$W/app"
mkdir -p "$A/lib"
ln -s "$CTX/node" "$A/node"
ln -s "$CTX/npm" "$A/npm"
ln -s "$CTX/verdaccio" "$A/verdaccio"
ln -s "$CTX/maven2" "$A/maven2"
cp "$HERE/bank-standin" "$HERE/nginx.conf.in" "$HERE/verdaccio.yaml.in" "$A/lib/"
env -i PATH=/usr/bin:/bin /usr/bin/python3 -m venv "$A/pypiserver"
env -i PATH=/usr/bin:/bin PIP_CONFIG_FILE=/dev/null "$A/pypiserver/bin/pip" install -q --no-index --disable-pip-version-check \
  --find-links "$CTX/wheels" --require-hashes -r "$HERE/pypiserver-requirements.txt"
chmod -R a+rX "$A" "$CTX"

# The test CA and the stand-in's certificate (one, with the four names), as the e2e harness makes them.
T="$W/tls"
mkdir -p "$T/server"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bank stand-in test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=git.$DOMAIN" -keyout "$T/server/key.pem" -out "$T/server.csr" 2>/dev/null
printf '%s\n' "subjectAltName=DNS:git.$DOMAIN,DNS:npm.$DOMAIN,DNS:pypi.$DOMAIN,DNS:maven.$DOMAIN" \
  "extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature,keyEncipherment" >"$T/server.ext"
openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 2 \
  -extfile "$T/server.ext" -out "$T/server/cert.pem" 2>/dev/null
chmod 0644 "$T/server/key.pem" "$T/server/cert.pem" "$T/ca.pem"
printf '127.0.0.1 localhost\n127.0.0.1 git.%s npm.%s pypi.%s maven.%s\n' "$DOMAIN" "$DOMAIN" "$DOMAIN" "$DOMAIN" >"$W/hosts"
mkdir -p "$W/state" "$W/run"
chown "$TEST_UID:$TEST_UID" "$W/state" "$W/run"

# Client side: a home with only the stand-in's npm settings (as an IDE user would have them).
mkdir -p "$W/home" "$W/client/git" "$W/client/npm/bank-standin-hello" "$W/client/pypi" "$W/client/maven/empty-dir"
: >"$W/home/empty"
{
  echo "registry=https://npm.$DOMAIN/"
  echo "cafile=$T/ca.pem"
  # Verdaccio takes anonymous publishes; npm wants some token before it sends one.
  echo "//npm.$DOMAIN/:_authToken=anonymous"
} >"$W/home/.npmrc"
nd="$W/client/npm/bank-standin-hello"
echo '{"name":"bank-standin-hello","version":"1.0.1","main":"index.js","license":"MIT"}' >"$nd/package.json"
echo 'module.exports = "hello from the npm stand-in";' >"$nd/index.js"
(cd "$W/client/npm" && env -i PATH=/usr/bin:/bin HOME="$W/home" npm_config_globalconfig="$W/home/empty" \
  npm pack --silent ./bank-standin-hello >/dev/null)
[ -s "$W/client/npm/bank-standin-hello-1.0.1.tgz" ] || fail "npm pack"
sed -i 's/"1.0.1"/"1.0.0"/' "$nd/package.json"
# Two versions of a pure-Python wheel (written directly: building one would need setuptools).
/usr/bin/python3 - "$W/client/pypi" <<'PY'
import base64, hashlib, sys, zipfile, os
out = sys.argv[1]
for version in ("1.0.0", "1.0.1"):
    dist = f"bank_standin_hello-{version}.dist-info"
    files = {
        "bank_standin_hello/__init__.py": 'GREETING = "hello from the pypi stand-in"\n',
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: bank-standin-hello\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: bank-standin-selftest\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = ""
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record += f"{name},sha256={digest},{len(text.encode())}\n"
    files[f"{dist}/RECORD"] = record + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(os.path.join(out, f"bank_standin_hello-{version}-py3-none-any.whl"), "w") as z:
        for name, text in files.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)
PY
env -i PATH=/usr/bin:/bin /usr/bin/python3 -m venv "$W/client/venv"
# Maven: the mirror an IDE user's settings.xml would name, and a truststore with the test CA
# (changeit: the JDK's well-known default, guarding nothing but a public certificate).
cat >"$W/client/maven/settings.xml" <<EOF
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <mirrors>
    <mirror>
      <id>bank</id>
      <mirrorOf>*</mirrorOf>
      <url>https://maven.$DOMAIN/maven2/</url>
    </mirror>
  </mirrors>
</settings>
EOF
keytool -importcert -noprompt -alias bank-standin-ca -file "$T/ca.pem" -storetype PKCS12 \
  -keystore "$W/client/maven/truststore.p12" -storepass changeit >/dev/null 2>&1 || fail "keytool"

unshare --net --mount --fork bash "$HERE/selftest.sh" inside "$W" || {
  [ -f "$W/serve.log" ] && { echo "--- serve.log (last 30 lines)" >&2; tail -n 30 "$W/serve.log" >&2; }
  fail "see above"
}
say "all checks passed in $((SECONDS - t0))s"
