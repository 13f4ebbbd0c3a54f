#!/usr/bin/env bash
# A cached Python venv with the official AWS Encryption SDK, for the interop
# tests. Idempotent: reuses the venv when the SDK already imports. Prints
# the venv's python.
set -euo pipefail
VENV="${STRONGROOM_PY_VENV:-$HOME/.cache/strongroom-py}"
SDK_VERSION="4.0.7"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import aws_encryption_sdk, sys; sys.exit(aws_encryption_sdk.__version__ != '$SDK_VERSION')" 2>/dev/null; then
  echo "$VENV/bin/python"
  exit 0
fi
PY=$(command -v python3 || true)
if [ -z "$PY" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq python3 python3-venv >&2
  PY=$(command -v python3)
fi
if ! "$PY" -m venv "$VENV" >&2 2>/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq python3-venv >&2
  "$PY" -m venv "$VENV" >&2
fi
"$VENV/bin/pip" install -q --disable-pip-version-check "aws-encryption-sdk==$SDK_VERSION" >&2
echo "$VENV/bin/python"
