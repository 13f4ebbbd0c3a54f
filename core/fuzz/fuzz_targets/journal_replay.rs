//! The store file reader: any bytes (with or without a valid header, in
//! either journal format version) must give entries or a typed error, never
//! a panic; the valid prefix it reports replays to the same entries with
//! nothing left over.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strongroom::store::journal;

fuzz_target!(|data: &[u8]| {
    let _ = journal::replay(data);
    for header in [journal::header(), journal::header_v1()] {
        let mut with_header = header.to_vec();
        with_header.extend_from_slice(data);
        if let Ok(r) = journal::replay(&with_header) {
            assert!(r.valid_len <= with_header.len());
            let again = journal::replay(&with_header[..r.valid_len]).expect("a valid prefix replays");
            assert_eq!(again.valid_len, r.valid_len);
            assert_eq!(again.records, r.records);
            assert_eq!(again.entries, r.entries);
        }
    }
});
