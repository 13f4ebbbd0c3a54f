#!/usr/bin/env bash
# One place that decides which Rust toolchain the project uses, installing it
# if needed, and prints `export` lines for the Makefile to evaluate.
#
#  1. rustup's cargo (>= 1.89) with rustfmt and clippy, if present;
#  2. otherwise Debian's signed toolchain (rustc-web / cargo-web, 1.96) from apt,
#     which needs no network access beyond the Debian mirror.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_minor=89

version_ok() { # $1 = cargo binary
  local v
  v=$("$1" --version 2>/dev/null | awk '{print $2}') || return 1
  [ -n "$v" ] || return 1
  [ "$(echo "$v" | cut -d. -f1)" -ge 1 ] && [ "$(echo "$v" | cut -d. -f2)" -ge "$need_minor" ]
}

pick() {
  for c in "$HOME/.cargo/bin/cargo" "$(command -v cargo 2>/dev/null || true)" /usr/bin/cargo; do
    [ -n "$c" ] && [ -x "$c" ] && version_ok "$c" && { echo "$c"; return 0; }
  done
  return 1
}

CARGO_BIN=$(pick || true)
if [ -z "$CARGO_BIN" ]; then
  echo "strongroom: no cargo >= 1.$need_minor found; installing Debian's rustc-web/cargo-web" >&2
  apt_install rustc-web cargo-web
  CARGO_BIN=$(pick) || { echo "strongroom: could not install a Rust toolchain" >&2; exit 1; }
fi
BIN_DIR=$(dirname "$CARGO_BIN")

# rustfmt and clippy: rustup components, or Debian packages for the apt route.
if ! PATH="$BIN_DIR:$PATH" cargo fmt --version >/dev/null 2>&1 || ! PATH="$BIN_DIR:$PATH" cargo clippy --version >/dev/null 2>&1; then
  if [ -x "$BIN_DIR/rustup" ]; then
    timeout 300 "$BIN_DIR/rustup" component add rustfmt clippy >&2 || true
  fi
  if ! PATH="$BIN_DIR:$PATH" cargo clippy --version >/dev/null 2>&1; then
    apt_install rustfmt-web rust-clippy-web || true
  fi
fi

echo "export PATH=$BIN_DIR:\$PATH"
