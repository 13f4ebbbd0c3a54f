# Strongroom — two commands do all the set-up:
#   make demo   build and run the demo on the embedded default (file) store
#   make test   build and run every test suite
# Both install what they need (a Rust toolchain via scripts/rust-env.sh) and
# are idempotent; a second run reuses the build cache.

SHELL := /bin/bash
# Builds live outside the clone so fresh CI clones reuse them.
CARGO_TARGET_DIR ?= $(HOME)/.cache/strongroom-target
export CARGO_TARGET_DIR
# Each clone builds the workspace crates at its own path: incremental state
# would only pile up (tens of GB across clones) without being reused.
CARGO_INCREMENTAL ?= 0
export CARGO_INCREMENTAL

RUST_ENV = eval "$$(scripts/rust-env.sh)"

.PHONY: demo test test-rust test-python test-kotlin test-wasm test-server test-clients bench-endpoint lint codegen bench bench-python bench-web fuzz vectors-regenerate

# The Rust demo on the embedded file store, then the web demo (built on the
# npm package) served on 127.0.0.1 until Ctrl-C. DEMO_PORT picks the port.
DEMO_PORT ?= 8080
demo:
	@$(RUST_ENV) && cargo run -q -p strongroom --example demo
	@$(RUST_ENV) && scripts/wasm.sh serve $(DEMO_PORT)

test: lint test-rust test-python test-kotlin test-wasm test-server test-clients

# Formatting, clippy over every crate, target and feature, and the check
# that every file generated from the operation and error tables is current.
lint:
	@$(RUST_ENV) && cargo fmt --all --check && cargo clippy --workspace --all-targets --all-features -- -D warnings
	@$(RUST_ENV) && cargo run -q -p strongroom-codegen -- --check

# Rewrite every generated file (service model, docs, binding declarations)
# from the core's operation and error tables.
codegen:
	@$(RUST_ENV) && cargo run -q -p strongroom-codegen

test-rust:
	@command -v openssl >/dev/null || (. scripts/lib.sh && apt_install openssl)
	@$(RUST_ENV) && cargo test --workspace
	@# Interop with the official AWS Encryption SDK (Python).
	@$(RUST_ENV) && PYBIN="$$(scripts/py-env.sh)" && STRONGROOM_ESDK_PYTHON="$$PYBIN" cargo test -p strongroom --test esdk -- --ignored
	@# The canonical ESDK manifest: 2,860 official messages decrypt here; the official SDK decrypts ours.
	@$(RUST_ENV) && PYBIN="$$(scripts/py-env.sh)" && STRONGROOM_ESDK_PYTHON="$$PYBIN" cargo test -p strongroom --test esdk_manifest -- --ignored
	@# The required encryption context CMM against the official SDK with the MPL.
	@$(RUST_ENV) && MPLBIN="$$(scripts/mpl-env.sh)" && STRONGROOM_MPL_PYTHON="$$MPLBIN" cargo test -p strongroom --test esdk_required_context -- --ignored
	@# The raw ECDH keyring both ways against the official SDK with the MPL.
	@$(RUST_ENV) && MPLBIN="$$(scripts/mpl-env.sh)" && STRONGROOM_MPL_PYTHON="$$MPLBIN" cargo test -p strongroom --test esdk_ecdh -- --ignored
	@# `--output json` against the real AWS CLI (v1, from the same venv).
	@$(RUST_ENV) && PYBIN="$$(scripts/py-env.sh)" && STRONGROOM_AWS_CLI="$$(dirname "$$PYBIN")/aws" cargo test -p strongroom-cli --test cli aws_cli_prints_the_same_json -- --ignored

# Criterion benches; the envelope group is summarised beside OpenSSL's
# AES-256-GCM on 1 MiB blocks measured in the same run.
# `strongroom serve` with real clients (boto3 vectors and suite, the AWS
# CLI) and the kill -9 durability test (the Rust protocol tests run in
# test-rust).
test-server:
	@$(RUST_ENV) && scripts/server-test.sh

# The Python package: pip install ./python into a fresh venv, pytest, mypy.
test-python:
	@$(RUST_ENV) && scripts/py-test.sh

# Kotlin tests on the JVM (Maven, JNA) and a check that the checked-in Swift
# bindings match what the current library generates.
test-kotlin:
	@$(RUST_ENV) && scripts/uniffi.sh check

# The npm package: its node:test suite and tsc check against the packed
# package, the wasm-bindgen-test suites in Node and headless Chromium
# (wasm-pack), and the web demo driven by Playwright in Chromium.
test-wasm:
	@$(RUST_ENV) && scripts/wasm.sh test
	@$(RUST_ENV) && scripts/wasm.sh unit
	@$(RUST_ENV) && scripts/wasm.sh demo-test

# The benchmark page (web-demo/bench.html) in headless Chromium: the package
# against WebCrypto AES-GCM in the same page, as ratios.
bench-web:
	@$(RUST_ENV) && scripts/wasm.sh bench

# The hierarchical keyring's peer (the official SDK + MPL) runs in the MPL's
# venv with moto for its DynamoDB branch key store and KMS.
bench-python:
	@$(RUST_ENV) && scripts/py-test.sh >/dev/null && MPLBIN="$$(scripts/mpl-env.sh)" && "$$MPLBIN" -m pip install -q --disable-pip-version-check "moto[kms,dynamodb]==5.*" && STRONGROOM_MPL_PYTHON="$$MPLBIN" $(HOME)/.cache/strongroom-pytest/bin/python python/bench.py

bench:
	@$(RUST_ENV) && cargo bench -p strongroom --bench ops
	@$(RUST_ENV) && cargo bench -p strongroom --bench envelope -- --noplot
	@OSSL=$$(openssl speed -evp aes-256-gcm -bytes 1048576 -seconds 2 2>/dev/null | awk '/^AES-256-GCM/ {sub("k","",$$2); print $$2*1000}'); \
	  echo "OpenSSL AES-256-GCM, 1 MiB blocks: $$OSSL bytes/s"; \
	  python3 scripts/bench-summary.py "$(CARGO_TARGET_DIR)/criterion" envelope $$OSSL

# Needs cargo-fuzz (cargo install cargo-fuzz). FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz:
	@$(RUST_ENV) && cd core && for t in blob_parse journal_replay decrypt policy esdk_decrypt; do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run -s none $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done

vectors-regenerate:
	@$(RUST_ENV) && STRONGROOM_REGENERATE=1 cargo test -p strongroom --test vectors -- --ignored \
	  && STRONGROOM_REGENERATE=1 cargo test -p strongroom --test multi_region replication_package_known_answer \
	  && STRONGROOM_REGENERATE=1 cargo test -p strongroom --test esdk frozen_strongroom_messages \
	  && STRONGROOM_REGENERATE=1 cargo test -p strongroom --test file_store snapshot_known_answer \
	  && STRONGROOM_REGENERATE=1 cargo test -p strongroom --test file_store journal_v2_known_answer

# The real AWS SDKs (JS v3, Java v2, Go v2, Rust aws-sdk-kms), the official
# Encryption SDK (Python) and a load-generator smoke run against
# `strongroom serve` (installs the npm, Maven and Go dependencies itself).
test-clients:
	@$(RUST_ENV) && scripts/clients.sh test

# Benchmark: Strongroom vs nsmithuk/local-kms vs moto's server under the same
# SigV4-signed load, one run (root: it runs in a loopback-only namespace).
bench-endpoint:
	@$(RUST_ENV) && scripts/bench-endpoint.sh
