//! The AWS Encryption SDK message reader: any bytes are an error or a
//! real decryption, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strongroom::esdk::{self, RawAesKeyring};

fuzz_target!(|data: &[u8]| {
    let k = RawAesKeyring::new("fuzz", "key", [7u8; 32]).unwrap();
    let _ = esdk::decrypt(&k, data);
});
