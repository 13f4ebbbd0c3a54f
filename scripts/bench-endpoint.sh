#!/usr/bin/env bash
# Benchmark (not a test): the same SigV4-signed requests from
# clients/loadgen (Encrypt 1 KiB, Decrypt, GenerateDataKey at 1, 16 and 64
# keep-alive connections) against Strongroom's server (release build, in
# memory), nsmithuk/local-kms and moto's server, one after the other in the
# same run, then one table.
#
#   scripts/bench-endpoint.sh [REQUESTS]   (default 2000 per operation and
#                                           concurrency; each cell stops
#                                           after 20 s, moto's cells do)
#
# Everything runs in a network namespace of its own with only a loopback
# interface (`unshare -n`): local-kms always listens on every interface,
# and there it has no other. Installs what it needs (scripts/clients.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${1:-2000}
CACHE="${STRONGROOM_CLIENTS_CACHE:-$HOME/.cache/strongroom-clients}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strongroom-target}"

if [ "${STRONGROOM_BENCH_NETNS:-}" != 1 ]; then
  scripts/clients.sh install-bench
  exec unshare -n env STRONGROOM_BENCH_NETNS=1 "$0" "$@"
fi
ip link set lo up

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # $1 = port
  local i
  for i in $(seq 1 200); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench: nothing listens on $1" >&2
  return 1
}

SECRET=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
cat >"$TMP/strongroom.toml" <<EOF
account = "111122223333"
[[access_keys]]
id = "AKIDBENCH"
secret = "$SECRET"
principal = "arn:aws:iam::111122223333:root"
EOF

LOADGEN="$CARGO_TARGET_DIR/clients-loadgen/release/strongroom-loadgen"
bench() { # $1 label, $2 url, $3 access key id, $4 secret
  AWS_SECRET_ACCESS_KEY=$4 "$LOADGEN" --label "$1" --endpoint "$2" --access-key-id "$3" --region us-east-1 \
    --requests "$REQUESTS" --warmup 100 --max-seconds 20 --json | tee -a "$TMP/results.jsonl" >&2
}

# 1. Strongroom (release build, in memory, signatures verified).
"$CARGO_TARGET_DIR/release/strongroom" serve --in-memory --listen 127.0.0.1:0 --config "$TMP/strongroom.toml" \
  --port-file "$TMP/url" --access-log off >/dev/null &
PIDS+=($!)
for i in $(seq 1 200); do [ -s "$TMP/url" ] && break; sleep 0.05; done
bench strongroom "$(cat "$TMP/url")" AKIDBENCH "$SECRET"
kill -TERM "${PIDS[-1]}"; wait "${PIDS[-1]}" || true

# 2. nsmithuk/local-kms (accepts any signature).
PORT=$(free_port)
mkdir -p "$TMP/local-kms"
PORT=$PORT KMS_DATA_PATH="$TMP/local-kms" KMS_REGION=us-east-1 KMS_ACCOUNT_ID=111122223333 \
  "$CACHE/bin/local-kms" >"$TMP/local-kms.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT"
bench local-kms "http://127.0.0.1:$PORT" AKIDBENCH "$SECRET"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# 3. moto's server (accepts any signature; HTTP/1.0, one connection per request).
PORT=$(free_port)
"$CACHE/moto-venv/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$TMP/moto.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT"
bench moto "http://127.0.0.1:$PORT" AKIDBENCH "$SECRET"

python3 - "$TMP/results.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
servers = list(dict.fromkeys(r["server"] for r in rows))
print(f"{'operation':<16} {'conns':>5} " + " ".join(f"{s + ' req/s':>16} {'p50 ms':>7} {'p99 ms':>7}" for s in servers))
keys = list(dict.fromkeys((r["operation"], r["connections"]) for r in rows))
by = {(r["server"], r["operation"], r["connections"]): r for r in rows}
for op, c in keys:
    cells = []
    for s in servers:
        r = by.get((s, op, c))
        if r is None:
            cells.append(f"{'-':>16} {'-':>7} {'-':>7}")
        else:
            mark = "" if r["errors"] == 0 else f" ({r['errors']} err)"
            cells.append(f"{r['requests_per_second']:>16.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f}{mark}")
    print(f"{op:<16} {c:>5} " + " ".join(cells))
print(f"({sys.argv[1].split('/')[-1]}: requests per cell {max(r['ok'] for r in rows)} max; moto's cells stop after 20 s)")
EOF
