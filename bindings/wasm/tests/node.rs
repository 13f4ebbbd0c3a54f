//! wasm-bindgen-test suite in Node (`wasm-pack test --node`).
#![cfg(target_arch = "wasm32")]
mod common;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn object_api() {
    common::object_api()
}
#[wasm_bindgen_test]
fn platform_randomness_and_clock() {
    common::platform_randomness_and_clock()
}
#[wasm_bindgen_test]
fn envelope_streams_and_cache() {
    common::envelope_streams_and_cache()
}
#[wasm_bindgen_test]
fn snapshots() {
    common::snapshots()
}
#[wasm_bindgen_test]
fn known_answer_vectors() {
    common::known_answer_vectors()
}
