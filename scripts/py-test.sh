#!/usr/bin/env bash
# The Python package, as a user gets it: `pip install ./python` into a fresh
# venv (maturin builds the abi3 wheel; the cargo target dir outside the
# clone keeps rebuilds fast), then pytest against the installed package,
# mypy --strict on the package and a typed usage file, and a quick run of
# the benchmark script. Idempotent; needs only python3 and the Rust
# toolchain that scripts/rust-env.sh provides.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
VENV="${STRONGROOM_PYTEST_VENV:-$HOME/.cache/strongroom-pytest}"
PY=$(command -v python3 || true)
if [ -z "$PY" ]; then
  apt_install python3 python3-venv
  PY=$(command -v python3)
fi
"$PY" -m venv --clear "$VENV" >/dev/null 2>&1 || {
  apt_install python3-venv
  "$PY" -m venv --clear "$VENV"
}
PIP=("$VENV/bin/pip" install -q --disable-pip-version-check)
# Test tools, the official SDK (interop and benchmark peer) and moto's
# mocked KMS with boto3 (the KMS benchmark's peer).
"${PIP[@]}" "pytest==8.*" "mypy==1.*" "aws-encryption-sdk==$ESDK_PY_VERSION" "cryptography" "moto[kms]==5.*" "boto3==1.*"
# The package itself, exactly as a user installs it (no deterministic RNG:
# tests/test_hardening.py checks that the installed module has none).
"${PIP[@]}" ./python
# Every test against the package. The official SDK must be present: the
# interop test fails rather than skips without it.
(cd python/tests && STRONGROOM_REQUIRE_INTEROP=1 "$VENV/bin/python" -m pytest -q -rs -p no:cacheprovider .)
# The seeded vectors need the deterministic RNG, which no package has: a
# separate test-only build of the native module (cargo feature
# dangerous-test-rng, debug profile, shares the target dir) beside a copy
# of the package's Python sources, shadowing the installed package.
T="${CARGO_TARGET_DIR:-target}"
cargo build -q -p strongroom-python --features dangerous-test-rng
TESTPKG=$(mktemp -d)
trap 'rm -rf "$TESTPKG"' EXIT
mkdir -p "$TESTPKG/strongroom"
cp python/strongroom/*.py "$TESTPKG/strongroom/"
cp "$T/debug/lib_native.so" "$TESTPKG/strongroom/_native.abi3.so"
(cd python/tests && PYTHONPATH="$TESTPKG" STRONGROOM_TEST_BUILD=1 \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider test_vectors.py test_hardening.py)
cd python/tests
"$VENV/bin/python" -m mypy --strict --no-incremental typed_usage.py
"$VENV/bin/python" -m mypy --strict --no-incremental -p strongroom
"$VENV/bin/python" typed_usage.py >/dev/null
"$VENV/bin/python" ../bench.py --quick
