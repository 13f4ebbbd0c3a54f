#!/usr/bin/env bash
# The one place that builds the npm package `strongroom` (bindings/wasm +
# bindings/wasm/js) and runs its tests. Toolchain choice: rustup's
# wasm32-unknown-unknown target when it installs; otherwise Debian's
# rustc-web/cargo-web with -Zbuild-std (../shared/reference/toolchain.md).
# wasm-bindgen-cli is pinned to the exact version of the wasm-bindgen crate;
# wasm-opt, TypeScript and playwright-core come from npm (cached).
#   scripts/wasm.sh build        build/npm/strongroom (the package) + its size
#   scripts/wasm.sh test         build, node:test suite against the installed
#                                package, tsc --noEmit on the typed usage file
#                                (the vector replay runs on a separate,
#                                test-only module: see build_testing)
#   scripts/wasm.sh demo-test    build, then drive web-demo/ in headless Chromium
#                                (Playwright); screenshots in build/web-demo/
#   scripts/wasm.sh bench        build, then run web-demo/bench.html in Chromium
#   scripts/wasm.sh serve [port] build, then serve web-demo/ on 127.0.0.1
#   scripts/wasm.sh unit         wasm-bindgen-test suites: wasm-pack test --node
#                                and --headless --chrome (with the test-only
#                                feature dangerous-test-rng)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ROOT=$(pwd)
MODE="${1:-test}"
T="${CARGO_TARGET_DIR:-target}"
WBG_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
LICENSE=$(sed -n 's/^license = "\(.*\)"/\1/p' Cargo.toml | head -1)

CARGO=(cargo)
BUILD_STD=()
# STRONGROOM_WASM_ROUTE=debian forces the Debian route (to test it where
# rustup works).
if [ "${STRONGROOM_WASM_ROUTE:-}" = debian ] || ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  if [ "${STRONGROOM_WASM_ROUTE:-}" = debian ] || ! timeout 300 rustup target add wasm32-unknown-unknown >&2; then
    echo "strongroom: rustup cannot add wasm32; using Debian's rustc-web with build-std" >&2
    apt_install rustc-web cargo-web rust-web-src lld-22
    CARGO=(env PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 /usr/bin/cargo)
    BUILD_STD=(-Zbuild-std=std,panic_abort)
  fi
fi
if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$WBG_VERSION" ]; then
  cargo install -q wasm-bindgen-cli --version "$WBG_VERSION"
fi
command -v node >/dev/null || apt_install nodejs npm

# npm tools, pinned and cached outside the clone.
NPM_DIR="${STRONGROOM_NPM_CACHE:-$HOME/.cache/strongroom-npm}"
if [ "$(cat "$NPM_DIR/.tools" 2>/dev/null)" != "${NPM_TOOLS[*]}" ]; then
  mkdir -p "$NPM_DIR"
  (cd "$NPM_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } \
    && npm install --silent --no-audit --no-fund "${NPM_TOOLS[@]}")
  echo "${NPM_TOOLS[*]}" > "$NPM_DIR/.tools"
fi
BIN="$NPM_DIR/node_modules/.bin"

PKG="$ROOT/build/npm/strongroom"
build() {
  "${CARGO[@]}" build -q -p strongroom-wasm --profile wasm-release --target wasm32-unknown-unknown "${BUILD_STD[@]}"
  local wasm="$T/wasm32-unknown-unknown/wasm-release/strongroom_wasm.wasm"
  local stamp
  stamp=$(cat "$wasm" bindings/wasm/js/* | sha256sum | cut -c1-16)
  if [ "$(cat "$PKG/.stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  rm -rf "$PKG" && mkdir -p "$PKG"
  wasm-bindgen --target web --out-dir "$PKG/wasm" "$wasm"
  local bg="$PKG/wasm/strongroom_wasm_bg.wasm"
  "$BIN/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals "$bg" -o "$bg.opt"
  mv "$bg.opt" "$bg"
  cp bindings/wasm/js/{lib.js,browser.js,node.js,index.d.ts,operations.d.ts,README.md} "$PKG/"
  sed -e "s/@VERSION@/$VERSION/" -e "s/@LICENSE@/$LICENSE/" bindings/wasm/js/package.json > "$PKG/package.json"
  # The production module is built without dangerous-test-rng: refuse to
  # ship one that has the seeded RNG's entry point.
  if grep -q deterministic "$PKG/wasm/strongroom_wasm.js" "$PKG"/*.js "$PKG/index.d.ts"; then
    echo "strongroom: the npm package must not contain Kms.deterministic" >&2
    exit 1
  fi
  echo "$stamp" > "$PKG/.stamp"
  echo "strongroom.wasm (opt-level 3, LTO, wasm-opt -Oz): $(stat -c %s "$bg") bytes raw, $(gzip -9 -c "$bg" | wc -c) bytes gzip" | tee "$PKG/../size.txt"
}

# The TEST-ONLY module for replaying the language-neutral vectors from Node:
# the same crate with the feature dangerous-test-rng (Kms.deterministic, the
# core's seeded RNG), a dev-profile build (dependencies optimised, so it
# shares them with `unit`'s test builds; no LTO or wasm-opt: seconds, not a
# second release build), the package's JS plus the testing.js entry point.
# Private, never packed for users: build/npm/strongroom-testing.
TPKG="$ROOT/build/npm/strongroom-testing"
build_testing() {
  "${CARGO[@]}" build -q -p strongroom-wasm --features dangerous-test-rng --target wasm32-unknown-unknown "${BUILD_STD[@]}"
  local wasm="$T/wasm32-unknown-unknown/debug/strongroom_wasm.wasm"
  local stamp
  stamp=$(cat "$wasm" bindings/wasm/js/* | sha256sum | cut -c1-16)
  if [ "$(cat "$TPKG/.stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  rm -rf "$TPKG" && mkdir -p "$TPKG"
  wasm-bindgen --target web --out-dir "$TPKG/wasm" "$wasm"
  cp bindings/wasm/js/{lib.js,testing.js} "$TPKG/"
  cat > "$TPKG/package.json" <<JSON
{"name": "strongroom-testing", "version": "$VERSION", "private": true, "type": "module",
 "description": "TEST-ONLY build of strongroom with the deterministic RNG; never published",
 "exports": {".": "./testing.js"}}
JSON
  echo "$stamp" > "$TPKG/.stamp"
}

# A project that installs the packed package exactly as a user would (and,
# for `test`, the test-only module beside it: one npm install, which would
# otherwise prune the other).
consumer() {
  local c="$ROOT/build/npm/consumer"
  local extra=()
  mkdir -p "$c"
  (cd "$PKG" && npm pack --silent --pack-destination "$ROOT/build/npm" >/dev/null)
  if [ "${1:-}" = with-testing ]; then
    (cd "$TPKG" && npm pack --silent --pack-destination "$ROOT/build/npm" >/dev/null)
    extra=("$ROOT/build/npm/strongroom-testing-$VERSION.tgz")
  fi
  cd "$c"
  [ -f package.json ] || echo '{"name":"strongroom-consumer","private":true,"type":"module"}' > package.json
  npm install --silent --no-audit --no-fund --no-save "$ROOT/build/npm/strongroom-$VERSION.tgz" "${extra[@]}"
  cd "$ROOT"
}

case "$MODE" in
  build) build ;;
  test)
    if [ ${#BUILD_STD[@]} -eq 0 ]; then
      # Both configurations: the package's (no test RNG) and the tests'.
      cargo clippy -q -p strongroom-wasm --target wasm32-unknown-unknown --lib -- -D warnings
      cargo clippy -q -p strongroom-wasm --target wasm32-unknown-unknown --all-targets --features dangerous-test-rng -- -D warnings
    else
      echo "strongroom: Debian's rustc-web has no clippy; wasm-target lint skipped on this route" >&2
    fi
    build
    build_testing
    consumer with-testing
    c="$ROOT/build/npm/consumer"
    rm -rf "$c/test" && cp -r bindings/wasm/tests "$c/test"
    (cd "$c" && "$BIN/tsc" -p test/tsconfig.json)
    echo "tsc --noEmit --strict: test/typed-usage.ts type-checks against the package's index.d.ts"
    (cd "$c" && STRONGROOM_REPO="$ROOT" node --test test/)
    ;;
  unit)
    command -v wasm-pack >/dev/null || cargo install -q wasm-pack --locked
    command -v chromedriver >/dev/null || apt_install chromium chromium-driver
    export WASM_BINDGEN_TEST_TIMEOUT=120
    cd bindings/wasm
    if [ ${#BUILD_STD[@]} -eq 0 ]; then
      wasm-pack test --node . --features dangerous-test-rng
      CHROMEDRIVER=/usr/bin/chromedriver wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver . --features dangerous-test-rng
    else
      PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 wasm-pack test --node --mode no-install . --features dangerous-test-rng "${BUILD_STD[@]}"
      PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver --mode no-install . --features dangerous-test-rng "${BUILD_STD[@]}"
    fi
    ;;
  demo-test)
    build
    consumer
    command -v chromium >/dev/null || apt_install chromium chromium-driver
    STRONGROOM_NPM_TOOLS="$NPM_DIR" node --test web-demo/test/*.test.mjs
    STRONGROOM_NPM_TOOLS="$NPM_DIR" node web-demo/bench-run.mjs --quick >/dev/null
    echo "benchmark page: runs end to end in Chromium (figures: make bench-web)"
    echo "web demo screenshots: build/web-demo/demo.png, build/web-demo/demo-after-reload.png"
    ;;
  bench)
    build
    command -v chromium >/dev/null || apt_install chromium chromium-driver
    STRONGROOM_NPM_TOOLS="$NPM_DIR" node web-demo/bench-run.mjs
    ;;
  serve)
    build
    exec node web-demo/serve.mjs "${2:-8080}"
    ;;
  *) echo "usage: scripts/wasm.sh build|test|unit|demo-test|bench|serve [port]" >&2; exit 2 ;;
esac
