//! The AWS Encryption SDK message reader: any bytes are an error or a
//! real decryption, never a panic. Uses the permissive commitment policy so
//! every header version, suite and body form is parsed.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strongroom::esdk::{self, CommitmentPolicy, RawAesKeyring};

fuzz_target!(|data: &[u8]| {
    let k = RawAesKeyring::new("fuzz", "key", [7u8; 32]).unwrap();
    let _ = esdk::decrypt_with_policy(&k, data, CommitmentPolicy::RequireEncryptAllowDecrypt);
    let _ = esdk::decrypt(&k, data);
});
