#!/usr/bin/env bash
# A cached Python venv with the official AWS Encryption SDK and the AWS
# Material Providers Library (the SDK's `[MPL]` extra), for interop tests of
# the keyrings and materials managers only the MPL has (the required
# encryption context CMM). Its own venv: the MPL pins a botocore the AWS CLI
# in scripts/py-env.sh's venv does not accept. Idempotent; prints the
# venv's python.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
VENV="${STRONGROOM_MPL_VENV:-$HOME/.cache/strongroom-mpl}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import aws_encryption_sdk, aws_cryptographic_material_providers, importlib.metadata as m, sys; sys.exit(aws_encryption_sdk.__version__ != '$ESDK_PY_VERSION' or m.version('aws-cryptographic-material-providers') != '$MPL_PY_VERSION')" 2>/dev/null; then
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
"$VENV/bin/pip" install -q --disable-pip-version-check "aws-encryption-sdk[MPL]==$ESDK_PY_VERSION" "aws-cryptographic-material-providers==$MPL_PY_VERSION" >&2
echo "$VENV/bin/python"
