#!/usr/bin/env bash
# The real AWS clients against `strongroom serve` (issue 20):
#   clients/js       AWS SDK for JavaScript v3 (@aws-sdk/client-kms, npm)
#   clients/java     AWS SDK for Java v2 (software.amazon.awssdk:kms, Maven)
#   clients/go       aws-sdk-go-v2 (service/kms, Go module proxy)
#   clients/rust     aws-sdk-kms (crates.io), and the official
#                    aws-encryption-sdk (Python) against Strongroom's own ESDK
#                    KMS keyring through the server's store
#   clients/python   the official aws-encryption-sdk's KMS master key provider
#   clients/loadgen  the SigV4 load generator (a short smoke run here;
#                    scripts/bench-endpoint.sh for the figures)
#
# Usage:
#   scripts/clients.sh install            install/build everything (idempotent)
#   scripts/clients.sh test [CLIENT...]   start Strongroom's server (in memory,
#                                         port 0, a generated config with two
#                                         access keys), run the clients, stop it
#   scripts/clients.sh test-moto [CLIENT...]  the same clients against moto's
#                                         server (no policy-denial check)
#   scripts/clients.sh install-bench      what the benchmark needs (release
#                                         build, loadgen, local-kms, moto)
#   scripts/clients.sh bench [REQUESTS]   scripts/bench-endpoint.sh
# CLIENT is js, java, go, rust, esdk, loadgen (default: all).
#
# Every install step is timed (on stderr) and skipped when its inputs did
# not change (stamps under $STRONGROOM_CLIENTS_CACHE, default
# ~/.cache/strongroom-clients).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
. scripts/lib.sh

CACHE="${STRONGROOM_CLIENTS_CACHE:-$HOME/.cache/strongroom-clients}"
STAMPS="$CACHE/stamps"
BIN="$CACHE/bin"
mkdir -p "$STAMPS" "$BIN"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strongroom-target}"

# Pinned versions (npm, Maven and Go pins live in package-lock.json, pom.xml
# and go.mod; the Rust ones in the two crates' Cargo.toml/Cargo.lock).
GO_MIN_MINOR=26
GO_TOOLCHAIN_MODULE="golang.org/toolchain@v0.0.1-go1.26.8.linux-amd64"
LOCAL_KMS_MODULE="github.com/nsmithuk/local-kms@v0.0.0-20260228092603-2a5e92d09ab6"
MOTO_VERSION="5.2.5"

ALL_CLIENTS=(js java go rust esdk loadgen)

log() { printf 'clients: %s\n' "$*" >&2; }

# timed NAME CMD...: run CMD, print how long it took.
timed() {
  local name=$1 t0 rc=0
  shift
  t0=$(date +%s.%N)
  "$@" || rc=$?
  printf 'clients: %-28s %6.1f s%s\n' "$name" "$(echo "$(date +%s.%N) - $t0" | bc)" "$([ $rc -eq 0 ] || echo " (failed: $rc)")" >&2
  return $rc
}

# fresh STAMP FILE...: true when FILE... hash to what STAMP recorded.
inputs_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }
fresh() {
  local stamp=$STAMPS/$1
  shift
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(inputs_hash "$@")" ]
}
stamp() {
  local stamp=$STAMPS/$1
  shift
  inputs_hash "$@" >"$stamp"
}

# ------------------------------------------------------------ toolchains

need_bc() { command -v bc >/dev/null || apt_install bc; }

go_ok() { # $1 = go binary
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  [ "$(echo "$v" | cut -d. -f1)" -ge 1 ] && [ "$(echo "$v" | cut -d. -f2)" -ge $GO_MIN_MINOR ]
}

# The go command: the machine's when new enough; otherwise Debian's go
# fetches the pinned toolchain module from the Go module proxy.
GO=""
find_go() {
  [ -n "$GO" ] && return 0
  local c
  for c in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go "$CACHE/go-toolchain/bin/go"; do
    if [ -n "$c" ] && [ -x "$c" ] && go_ok "$c"; then GO=$c; return 0; fi
  done
  command -v go >/dev/null || apt_install golang-go
  local dir
  dir=$(cd /tmp && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json "$GO_TOOLCHAIN_MODULE" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] && [ -f "$dir/bin/go" ] || { log "cannot get $GO_TOOLCHAIN_MODULE"; return 1; }
  # The module zip keeps no file modes (the go command's own toolchain
  # switch sets them the same way).
  chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*
  ln -sfn "$dir" "$CACHE/go-toolchain"
  GO="$CACHE/go-toolchain/bin/go"
  go_ok "$GO"
}

need_node() { command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm; }
need_maven() { command -v mvn >/dev/null && command -v java >/dev/null || apt_install maven openjdk-17-jdk-headless; }

install_js() {
  need_node
  if fresh js clients/js/package.json clients/js/package-lock.json && [ -d clients/js/node_modules/@aws-sdk/client-kms ]; then return 0; fi
  (cd clients/js && npm ci --no-audit --no-fund --loglevel=error >&2)
  stamp js clients/js/package.json clients/js/package-lock.json
}

install_java() {
  need_maven
  if fresh java clients/java/pom.xml clients/java/src/test/java/dev/strongroom/clients/*.java; then return 0; fi
  # Resolve and compile once (the test run then needs no download).
  (cd clients/java && mvn -q -B test-compile dependency:resolve-plugins >&2)
  stamp java clients/java/pom.xml clients/java/src/test/java/dev/strongroom/clients/*.java
}

install_go() {
  find_go
  if fresh go clients/go/go.mod clients/go/go.sum clients/go/main.go && [ -x "$BIN/kms-check-go" ]; then return 0; fi
  (cd clients/go && GOTOOLCHAIN=local GOFLAGS=-mod=mod "$GO" build -o "$BIN/kms-check-go" . >&2)
  stamp go clients/go/go.mod clients/go/go.sum clients/go/main.go
}

install_local_kms() {
  find_go
  if [ -x "$BIN/local-kms" ] && [ "$(cat "$STAMPS/local-kms" 2>/dev/null)" = "$LOCAL_KMS_MODULE" ]; then return 0; fi
  GOBIN="$BIN" GOTOOLCHAIN=local "$GO" install "$LOCAL_KMS_MODULE" >&2
  echo "$LOCAL_KMS_MODULE" >"$STAMPS/local-kms"
}

install_moto() {
  local venv="$CACHE/moto-venv"
  if [ -x "$venv/bin/moto_server" ] && "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then return 0; fi
  python3 -m venv "$venv" >&2 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv" >&2; }
  "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
}

PYBIN=""
install_python() { PYBIN=$(scripts/py-env.sh); }

rust_env() { eval "$(scripts/rust-env.sh)"; }

install_strongroom() {
  rust_env
  cargo build -q -p strongroom-cli --bin strongroom >&2
}

install_strongroom_release() {
  rust_env
  cargo build -q --release -p strongroom-cli --bin strongroom >&2
}

install_loadgen() {
  rust_env
  CARGO_TARGET_DIR="$CARGO_TARGET_DIR/clients-loadgen" cargo build -q --release --manifest-path clients/loadgen/Cargo.toml >&2
}

install_rust_client() {
  rust_env
  CARGO_TARGET_DIR="$CARGO_TARGET_DIR/clients-rust" cargo test -q --release --manifest-path clients/rust/Cargo.toml --no-run >&2 2>&1
}

# install_for WITH_SERVER CLIENT...: what those clients need (and the
# strongroom binary when WITH_SERVER is yes).
install_for() {
  local with_server=$1 c
  shift
  need_bc
  [ "$with_server" = yes ] && timed "strongroom (cargo build)" install_strongroom
  for c in "$@"; do
    case $c in
      js) timed "node + npm ci" install_js ;;
      java) timed "maven + AWS SDK for Java" install_java ;;
      go) timed "go + aws-sdk-go-v2 build" install_go ;;
      esdk) timed "python venv (ESDK, boto3)" install_python
        [ "$with_server" = yes ] && timed "aws-sdk-kms/esdk tests (cargo)" install_rust_client ;;
      rust) timed "aws-sdk-kms/esdk tests (cargo)" install_rust_client ;;
      loadgen) timed "loadgen (cargo, release)" install_loadgen ;;
      *) log "unknown client '$c' (js java go rust esdk loadgen)"; exit 2 ;;
    esac
  done
}

# ------------------------------------------------------------ servers

SERVER_PID=""
TMP=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$TMP" ]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT

random_secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

# Two access keys: ALLOWED (an IAM user with an identity policy allowing
# kms:*) and DENIED (an IAM user of the same account with none: the default
# key policy delegates to IAM, so every call on the key is refused).
write_config() { # $1 = file
  cat >"$1" <<EOF
account = "111122223333"

[[access_keys]]
id = "$ALLOWED_ID"
secret = "$ALLOWED_SECRET"
principal = "arn:aws:iam::111122223333:user/client-check"

[[access_keys]]
id = "$DENIED_ID"
secret = "$DENIED_SECRET"
principal = "arn:aws:iam::111122223333:user/not-allowed"

[[identity_policies]]
principal = "arn:aws:iam::111122223333:user/client-check"
name = "kms-all"
document = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}'
EOF
}

wait_for_file() { # $1 = file, $2 = pid
  local i
  for i in $(seq 1 300); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

start_strongroom() {
  TMP=$(mktemp -d)
  ALLOWED_ID="AKIDCLIENTCHECK"
  ALLOWED_SECRET=$(random_secret)
  DENIED_ID="AKIDNOTALLOWED"
  DENIED_SECRET=$(random_secret)
  write_config "$TMP/config.toml"
  "$CARGO_TARGET_DIR/debug/strongroom" serve --in-memory --listen 127.0.0.1:0 --config "$TMP/config.toml" \
    --port-file "$TMP/url" --access-log off >/dev/null &
  SERVER_PID=$!
  wait_for_file "$TMP/url" "$SERVER_PID" || { log "strongroom serve did not start"; exit 1; }
  export AWS_ENDPOINT_URL_KMS
  AWS_ENDPOINT_URL_KMS=$(cat "$TMP/url")
  export AWS_ACCESS_KEY_ID=$ALLOWED_ID AWS_SECRET_ACCESS_KEY=$ALLOWED_SECRET AWS_REGION=us-east-1
  export STRONGROOM_DENIED_ACCESS_KEY_ID=$DENIED_ID STRONGROOM_DENIED_SECRET_ACCESS_KEY=$DENIED_SECRET
  log "strongroom serve at $AWS_ENDPOINT_URL_KMS"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_moto() {
  install_moto
  TMP=$(mktemp -d)
  local port
  port=$(free_port)
  "$CACHE/moto-venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$TMP/moto.log" 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.1
  done
  export AWS_ENDPOINT_URL_KMS="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
  unset STRONGROOM_DENIED_ACCESS_KEY_ID STRONGROOM_DENIED_SECRET_ACCESS_KEY
  log "moto server at $AWS_ENDPOINT_URL_KMS"
}

# ------------------------------------------------------------ clients

FAILED=()
run_client() { # $1 = name, CMD...
  local name=$1
  shift
  timed "run $name" "$@" || FAILED+=("$name")
}

client_js() { (cd clients/js && node kms-check.mjs 2> >(grep -v -e NodeVersionSupportWarning -e 'require node >=22' -e 'upgrade to node' -e 'a.co/' -e 'trace-warnings' -e 'versions published after' -e 'To continue receiving' -e '^$' >&2)); }
client_java() {
  # Surefire's summary ("Tests run: N, Failures: ...") and any failure shown.
  (cd clients/java && mvn -B test 2>&1 | grep -E -e 'Tests run:|FAIL|ERROR|expected' || true; exit "${PIPESTATUS[0]}")
}
client_go() { "$BIN/kms-check-go"; }
client_rust() {
  rust_env
  CARGO_TARGET_DIR="$CARGO_TARGET_DIR/clients-rust" cargo test -q --release --manifest-path clients/rust/Cargo.toml \
    --test sdk -- --ignored
}
client_esdk() {
  "$PYBIN" clients/python/esdk_kms.py check || return 1
  # Against Strongroom: the SDK's messages open with Strongroom's keyring
  # and the other way round (the test starts its own server on a store).
  if [ "$AGAINST" = strongroom ]; then
    rust_env
    STRONGROOM_BIN="$CARGO_TARGET_DIR/debug/strongroom" STRONGROOM_ESDK_PYTHON="$PYBIN" \
      CARGO_TARGET_DIR="$CARGO_TARGET_DIR/clients-rust" cargo test -q --release \
      --manifest-path clients/rust/Cargo.toml --test esdk_interop -- --ignored
  fi
}
client_loadgen() {
  "$CARGO_TARGET_DIR/clients-loadgen/release/strongroom-loadgen" --label "$AGAINST" \
    --requests 200 --warmup 20 --concurrency 1,16 --max-seconds 30
}

run_clients() {
  local c
  for c in "$@"; do
    case $c in
      js | java | go | rust | esdk | loadgen) run_client "$c" "client_$c" ;;
      *) log "unknown client '$c' (js java go rust esdk loadgen)"; exit 2 ;;
    esac
  done
  if [ ${#FAILED[@]} -ne 0 ]; then
    log "FAILED against $AGAINST: ${FAILED[*]}"
    exit 1
  fi
  log "every client passed against $AGAINST: $*"
}

cmd=${1:-test}
shift || true
case $cmd in
  install)
    install_for yes "${ALL_CLIENTS[@]}"
    timed "local-kms (go install)" install_local_kms
    timed "moto venv (pip)" install_moto
    ;;
  test | test-moto)
    [ $# -gt 0 ] || set -- "${ALL_CLIENTS[@]}"
    if [ "$cmd" = test ]; then
      AGAINST=strongroom
      install_for yes "$@"
      start_strongroom
    else
      AGAINST=moto
      install_for no "$@"
      timed "moto venv (pip)" install_moto
      start_moto
    fi
    run_clients "$@"
    ;;
  install-bench)
    need_bc
    timed "strongroom (cargo, release)" install_strongroom_release
    timed "loadgen (cargo, release)" install_loadgen
    timed "local-kms (go install)" install_local_kms
    timed "moto venv (pip)" install_moto
    ;;
  bench)
    exec scripts/bench-endpoint.sh "$@"
    ;;
  *)
    sed -n '2,25p' "$0" >&2
    exit 2
    ;;
esac
