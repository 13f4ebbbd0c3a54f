//! Decrypt through the whole KMS with arbitrary blobs: every input is a
//! typed error (or a real decryption of a blob it made), never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use strongroom::api::*;
use strongroom::Kms;

static KMS: OnceLock<(Kms, Vec<u8>)> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let (kms, valid) = KMS.get_or_init(|| {
        let kms = Kms::in_memory("111122223333", "us-east-1").unwrap();
        let key = kms.create_key(CreateKeyRequest::default()).unwrap().key_metadata.key_id;
        let blob = kms
            .encrypt(EncryptRequest { key_id: key, plaintext: b"fuzz".to_vec().into(), ..Default::default() })
            .unwrap()
            .ciphertext_blob;
        (kms, blob)
    });
    // Mutate a valid blob with the input (xor) as well as trying it raw.
    let mut mutated = valid.clone();
    for (i, b) in data.iter().enumerate() {
        if let Some(m) = mutated.get_mut(i) {
            *m ^= b;
        }
    }
    for blob in [data.to_vec(), mutated] {
        let r = kms.decrypt(DecryptRequest { ciphertext_blob: blob.clone(), ..Default::default() });
        if let Ok(ok) = r {
            assert_eq!(&blob, valid, "only the untouched blob may decrypt");
            assert_eq!(ok.plaintext.as_bytes(), b"fuzz");
        }
    }
    let _ = kms.prune_audit_log(0);
});
