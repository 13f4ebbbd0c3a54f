#!/usr/bin/env bash
# Kotlin and Swift bindings (bindings/uniffi): build the cdylib and the
# uniffi-bindgen binary, generate both languages from the built library.
#   scripts/uniffi.sh generate   write Kotlin to bindings/uniffi/kotlin/generated
#                                (build output) and Swift to bindings/uniffi/swift
#                                (checked in)
#   scripts/uniffi.sh check      the same, but fail if the checked-in Swift
#                                differs from what the current library generates
#   scripts/uniffi.sh kotlin     generate, then run the Kotlin tests (Maven)
#
# The library and the Swift come from the production build, which has no
# deterministic test RNG (checked below). The Kotlin tests replay seeded
# vectors, so they run against a separate test build (cargo feature
# dangerous-test-rng) with Kotlin generated from it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
MODE="${1:-generate}"
T="${CARGO_TARGET_DIR:-target}"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
mkdir -p "$OUT/prod" "$OUT/test"
cargo build -q -p strongroom-ffi --lib
cp "$T/debug/libstrongroom_ffi.so" "$OUT/prod/"
LIB="$OUT/prod/libstrongroom_ffi.so"
# The production library must not contain the seeded RNG's constructor.
if grep -aq "uniffi_strongroom_ffi_fn_constructor_kms_deterministic" "$LIB"; then
  echo "strongroom: the production library exports the deterministic test RNG" >&2
  exit 1
fi
cargo build -q -p strongroom-ffi --features cli --bin uniffi-bindgen
"$T/debug/uniffi-bindgen" generate --no-format --library "$LIB" --language kotlin --language swift --out-dir "$OUT" >/dev/null
if grep -q "kms_deterministic" "$OUT"/*.swift "$OUT"/*.h; then
  echo "strongroom: the generated Swift has the deterministic test RNG" >&2
  exit 1
fi
rm -rf bindings/uniffi/kotlin/generated
mkdir -p bindings/uniffi/kotlin/generated
cp -r "$OUT/dev" bindings/uniffi/kotlin/generated/
SW="$OUT/swift"
mkdir -p "$SW/Sources/Strongroom" "$SW/Sources/StrongroomFFI/include"
cp "$OUT"/*.swift "$SW/Sources/Strongroom/"
cp "$OUT"/*.h "$OUT"/*.modulemap "$SW/Sources/StrongroomFFI/include/"
case "$MODE" in
  check)
    if ! diff -r "$SW/Sources" bindings/uniffi/swift/Sources >/dev/null; then
      diff -r "$SW/Sources" bindings/uniffi/swift/Sources | head -20 >&2 || true
      echo "strongroom: the checked-in Swift bindings are stale; run scripts/uniffi.sh generate and commit them" >&2
      exit 1
    fi
    echo "Swift bindings are current."
    ;;
  generate | kotlin)
    rm -rf bindings/uniffi/swift/Sources
    cp -r "$SW/Sources" bindings/uniffi/swift/Sources
    ;;
esac
if [ "$MODE" = kotlin ] || [ "$MODE" = check ]; then
  if ! command -v mvn >/dev/null || ! command -v java >/dev/null; then
    apt_install maven openjdk-17-jdk-headless
  fi
  # The test build, with Kotlin generated from it (build output only).
  cargo build -q -p strongroom-ffi --lib --features dangerous-test-rng
  cp "$T/debug/libstrongroom_ffi.so" "$OUT/test/"
  rm -rf "$OUT/kt"
  "$T/debug/uniffi-bindgen" generate --no-format --library "$OUT/test/libstrongroom_ffi.so" --language kotlin --out-dir "$OUT/kt" >/dev/null
  rm -rf bindings/uniffi/kotlin/generated
  mkdir -p bindings/uniffi/kotlin/generated
  cp -r "$OUT/kt/dev" bindings/uniffi/kotlin/generated/
  LIBDIR="$OUT/test"
  REPO="$(pwd)"
  (cd bindings/uniffi/kotlin && mvn -q -B -Dstrongroom.lib.dir="$LIBDIR" -Dstrongroom.repo="$REPO" test)
fi
