//! wasm-bindgen-test suite in headless Chromium
//! (`wasm-pack test --headless --chrome`): the cases of tests/common.
#![cfg(target_arch = "wasm32")]
#[macro_use]
mod common;
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

wasm_suite!();
