#!/usr/bin/env bash
# A cached Python venv with the official AWS Encryption SDK, for the interop
# tests, and the AWS CLI (v1), for the CLI's --output json comparison. Idempotent: reuses the venv when the SDK already imports. Prints
# the venv's python.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
VENV="${STRONGROOM_PY_VENV:-$HOME/.cache/strongroom-py}"
SDK_VERSION="$ESDK_PY_VERSION"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import aws_encryption_sdk, awscli, boto3, sys; sys.exit(aws_encryption_sdk.__version__ != '$SDK_VERSION' or awscli.__version__ != '$AWSCLI_VERSION' or boto3.__version__ != '$BOTO3_VERSION')" 2>/dev/null; then
  echo "$VENV/bin/python"
  exit 0
fi
PY=$(command -v python3 || true)
if [ -z "$PY" ]; then
  apt_install python3 python3-venv
  PY=$(command -v python3)
fi
if ! "$PY" -m venv "$VENV" >&2 2>/dev/null; then
  apt_install python3-venv
  "$PY" -m venv "$VENV" >&2
fi
"$VENV/bin/pip" install -q --disable-pip-version-check "aws-encryption-sdk==$SDK_VERSION" "awscli==$AWSCLI_VERSION" "boto3==$BOTO3_VERSION" >&2
echo "$VENV/bin/python"
