//! wasm-bindgen-test suite in Node (`wasm-pack test --node`).
#![cfg(target_arch = "wasm32")]
#[macro_use]
mod common;

wasm_suite!();
