//! `uniffi-bindgen generate --library <libstrongroom_ffi.so> --language kotlin|swift`.
fn main() {
    uniffi::uniffi_bindgen_main()
}
