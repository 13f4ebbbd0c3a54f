//! The ciphertext blob parser must never panic and must account for every byte.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    strongroom::blob::fuzz_parse(data);
});
