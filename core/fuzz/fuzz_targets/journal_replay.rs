//! The store file reader: any bytes (with or without a valid header) must
//! give entries or a typed error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strongroom::store::journal;

fuzz_target!(|data: &[u8]| {
    let _ = journal::replay(data);
    let mut with_header = journal::header().to_vec();
    with_header.extend_from_slice(data);
    if let Ok(r) = journal::replay(&with_header) {
        assert!(r.valid_len <= with_header.len());
    }
});
