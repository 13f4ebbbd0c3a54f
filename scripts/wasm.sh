#!/usr/bin/env bash
# The one place that builds the wasm module (bindings/wasm) and runs its
# Node tests. Toolchain choice: rustup's wasm32-unknown-unknown target when
# it installs; otherwise Debian's rustc-web/cargo-web with -Zbuild-std (see
# ../shared/reference/toolchain.md). wasm-bindgen-cli is pinned to the exact
# version of the wasm-bindgen crate.
#   scripts/wasm.sh build   build target/wasm-pkg/node (wasm-bindgen --target nodejs)
#   scripts/wasm.sh test    build, then node --test bindings/wasm/tests
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-test}"
T="${CARGO_TARGET_DIR:-target}"
WBG_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' bindings/wasm/Cargo.toml)
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

CARGO=(cargo)
BUILD_STD=()
if ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  if ! timeout 300 rustup target add wasm32-unknown-unknown >&2; then
    echo "strongroom: rustup cannot add wasm32; using Debian's rustc-web with build-std" >&2
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq rustc-web cargo-web rust-web-src lld-22
    CARGO=(env RUSTC_BOOTSTRAP=1 /usr/bin/cargo)
    BUILD_STD=(-Zbuild-std=std,panic_abort)
  fi
fi
if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$WBG_VERSION" ]; then
  cargo install -q wasm-bindgen-cli --version "$WBG_VERSION"
fi
command -v node >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq nodejs; }

# wasm-opt from npm's binaryen (Debian's breaks wasm-bindgen output), cached.
NPM_DIR="${STRONGROOM_NPM_CACHE:-$HOME/.cache/strongroom-npm}"
if [ ! -x "$NPM_DIR/node_modules/.bin/wasm-opt" ]; then
  mkdir -p "$NPM_DIR"
  (cd "$NPM_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --silent --no-audit --no-fund binaryen@132.0.0)
fi

"${CARGO[@]}" build -q -p strongroom-wasm --profile wasm-release --target wasm32-unknown-unknown "${BUILD_STD[@]}"
WASM="$T/wasm32-unknown-unknown/wasm-release/strongroom_wasm.wasm"
OUT="$T/wasm-pkg"
rm -rf "$OUT/node"
wasm-bindgen --target nodejs --out-dir "$OUT/node" "$WASM"
BG="$OUT/node/strongroom_wasm_bg.wasm"
"$NPM_DIR/node_modules/.bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals "$BG" -o "$BG.opt"
mv "$BG.opt" "$BG"
RAW=$(stat -c %s "$BG")
GZ=$(gzip -9 -c "$BG" | wc -c)
echo "strongroom.wasm (opt-level z, LTO, wasm-opt -Oz): $RAW bytes raw, $GZ bytes gzip"
if [ "$MODE" = test ]; then
  STRONGROOM_WASM_PKG="$(cd "$OUT/node" && pwd)" node --test bindings/wasm/tests/
fi
