#!/usr/bin/env bash
# `strongroom serve` with real clients: the language-neutral vectors
# through boto3, the boto3 suite (errors, SigV4 refusals, policies,
# multi-Region keys), the AWS CLI round trip, and the kill -9 durability
# test. Installs what it needs (the project venv: boto3 via the Encryption
# SDK, awscli, pytest); idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
PY=$(scripts/py-env.sh)
"$PY" -c "import pytest" 2>/dev/null || "$(dirname "$PY")/pip" install -q --disable-pip-version-check "pytest==8.*" >&2
cargo build -q -p strongroom-cli
BIN="$CARGO_TARGET_DIR/debug/strongroom"
STRONGROOM_BOTO3_PYTHON="$PY" cargo test -q -p strongroom-server --test boto3 -- --ignored
STRONGROOM_BIN="$BIN" cargo test -q -p strongroom-server --test kill9 -- --ignored
STRONGROOM_BIN="$BIN" "$PY" -m pytest -q server/tests/test_boto3.py
server/tests/aws_cli.sh "$BIN" "$(dirname "$PY")/aws"
