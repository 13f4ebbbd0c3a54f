//! Encryption with every ESDK suite: the nine legacy (non-committing,
//! header v1) suites under `ForbidEncryptAllowDecrypt`, non-framed bodies
//! for every suite, the commitment policy at encrypt, and re-wrapping v1
//! and non-framed messages. (The official SDK decrypting all of it is
//! `esdk_manifest.rs`.)
use strongroom::api::context;
use strongroom::esdk::{
    self, CachingCmm, CachingConfig, CommitmentPolicy, DecryptOptions, EncryptOptions,
    MaterialsCache, RawAesKeyring,
};
use strongroom::{ErrorCode, ManualClock, OsRng};

const LEGACY: [u16; 9] = [
    0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378,
];
const COMMITTING: [u16; 2] = [0x0478, 0x0578];

fn raw() -> RawAesKeyring {
    RawAesKeyring::new("ns", "k1", &[9; 16]).unwrap()
}

fn policy_for(suite: u16) -> CommitmentPolicy {
    if COMMITTING.contains(&suite) {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    }
}

fn opts(suite: u16, frame: u32, len: Option<u64>) -> EncryptOptions {
    EncryptOptions {
        suite,
        frame_length: frame,
        plaintext_length: len,
        commitment_policy: policy_for(suite),
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

fn encrypt(suite: u16, frame: u32, pt: &[u8]) -> Vec<u8> {
    let ctx = context([("tenant", "acme")]);
    esdk::encrypt_with(&raw(), pt, &ctx, &opts(suite, frame, None), &OsRng).unwrap()
}

fn allow() -> DecryptOptions {
    DecryptOptions::with_policy(CommitmentPolicy::RequireEncryptAllowDecrypt)
}

fn signs(suite: u16) -> bool {
    matches!(suite, 0x0214 | 0x0346 | 0x0378 | 0x0578)
}

#[test]
fn every_suite_round_trips_framed_and_non_framed() {
    for suite in LEGACY.iter().chain(&COMMITTING).copied() {
        for frame in [0u32, 1, 64, 4096] {
            for len in [0usize, 1, 63, 64, 65, 5000] {
                if frame == 1 && len > 65 {
                    continue;
                }
                let pt = data(len);
                let msg = encrypt(suite, frame, &pt);
                let what = format!("{suite:04x} frame {frame} len {len}");
                // The header: v1 (0x01 0x80, 16-byte message id) for legacy
                // suites, v2 (32-byte message id) for committing ones.
                let v1 = !COMMITTING.contains(&suite);
                assert_eq!(msg[0], if v1 { 0x01 } else { 0x02 }, "{what}");
                let at = if v1 { 2 } else { 1 };
                assert_eq!(&msg[at..at + 2], &suite.to_be_bytes(), "{what}");
                let d = esdk::decrypt_with(&raw(), &msg, &allow()).unwrap();
                assert_eq!(d.plaintext.as_bytes(), &pt[..], "{what}");
                assert_eq!(d.info.suite, suite, "{what}");
                assert_eq!(d.info.frame_length, frame, "{what}");
                assert_eq!(
                    d.info
                        .encryption_context
                        .contains_key("aws-crypto-public-key"),
                    signs(suite),
                    "{what}"
                );
                // Streaming, chunk by chunk, gives a message that decrypts too.
                let mut e = esdk::Encryptor::new(
                    &raw(),
                    &context([("tenant", "acme")]),
                    &opts(suite, frame, None),
                    &OsRng,
                )
                .unwrap();
                let mut streamed = Vec::new();
                for c in pt.chunks(7) {
                    e.update(c, &mut streamed).unwrap();
                }
                e.finish(&mut streamed).unwrap();
                let d = esdk::decrypt_with(&raw(), &streamed, &allow()).unwrap();
                assert_eq!(d.plaintext.as_bytes(), &pt[..], "{what}");
                if v1 {
                    // Legacy messages need a policy that allows them.
                    let e = esdk::decrypt(&raw(), &msg).unwrap_err();
                    assert_eq!(e.code(), ErrorCode::Validation, "{what}");
                }
            }
        }
    }
}

#[test]
fn a_non_framed_body_is_one_block_after_the_header() {
    let pt = data(1000);
    for suite in [0x0078u16, 0x0478] {
        let framed = encrypt(suite, 4096, &pt);
        let unframed = encrypt(suite, 0, &pt);
        // Non-framed: IV (12) + length (8) + ciphertext + tag (16); framed:
        // one final frame of 4 + 4 + 12 + 4 + ciphertext + 16.
        assert_eq!(framed.len() - unframed.len(), 24 - 20, "{suite:04x}");
    }
}

#[test]
fn the_commitment_policy_decides_the_suites_that_encrypt() {
    let ctx = context([("a", "b")]);
    for suite in LEGACY {
        // Not under the default policy, nor RequireEncryptAllowDecrypt.
        for p in [
            CommitmentPolicy::RequireEncryptRequireDecrypt,
            CommitmentPolicy::RequireEncryptAllowDecrypt,
        ] {
            let o = EncryptOptions {
                commitment_policy: p,
                ..opts(suite, 64, None)
            };
            let e = esdk::encrypt_with(&raw(), b"x", &ctx, &o, &OsRng).unwrap_err();
            assert_eq!(e.code(), ErrorCode::Validation, "{suite:04x} {p:?}");
            assert!(e.to_string().contains("ForbidEncryptAllowDecrypt"));
        }
    }
    for suite in COMMITTING {
        let o = EncryptOptions {
            commitment_policy: CommitmentPolicy::ForbidEncryptAllowDecrypt,
            ..opts(suite, 64, None)
        };
        let e = esdk::encrypt_with(&raw(), b"x", &ctx, &o, &OsRng).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Validation, "{suite:04x}");
        // RequireEncryptAllowDecrypt encrypts with them.
        let o = EncryptOptions {
            commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
            ..opts(suite, 64, None)
        };
        esdk::encrypt_with(&raw(), b"x", &ctx, &o, &OsRng).unwrap();
    }
    let o = opts(0x0999, 64, None);
    let e = esdk::encrypt_with(&raw(), b"x", &ctx, &o, &OsRng).unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnsupportedOperation);
    // Frame lengths: 0 (non-framed) and 1 … 2^31 - 1.
    let o = opts(0x0478, 1 << 31, None);
    let e = esdk::encrypt_with(&raw(), b"x", &ctx, &o, &OsRng).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Validation);
    // A declared non-framed plaintext beyond AES-GCM's limit is refused up front.
    let o = opts(0x0478, 0, Some(1 << 36));
    let e = esdk::Encryptor::new(&raw(), &ctx, &o, &OsRng).unwrap_err();
    assert_eq!(e.code(), ErrorCode::LimitExceeded);
}

#[test]
fn every_bit_flip_of_v1_and_non_framed_messages_is_rejected() {
    for (suite, frame) in [(0x0014u16, 8u32), (0x0214, 0), (0x0378, 8), (0x0478, 0)] {
        let msg = encrypt(suite, frame, b"tamper with me");
        for i in 0..msg.len() {
            for bit in [0, 3, 7] {
                let mut t = msg.clone();
                t[i] ^= 1 << bit;
                let e = esdk::decrypt_with(&raw(), &t, &allow()).unwrap_err();
                assert!(
                    matches!(
                        e.code(),
                        ErrorCode::InvalidCiphertext
                            | ErrorCode::UnsupportedOperation
                            | ErrorCode::LimitExceeded
                            | ErrorCode::Validation
                    ),
                    "{suite:04x} byte {i}: {e}"
                );
            }
        }
        for n in [1, 17, msg.len() - 1] {
            assert!(esdk::decrypt_with(&raw(), &msg[..n], &allow()).is_err());
        }
        // The wrong wrapping key: the opaque error.
        let other = RawAesKeyring::new("ns", "k1", &[8; 16]).unwrap();
        assert_eq!(
            esdk::decrypt_with(&other, &msg, &allow())
                .unwrap_err()
                .code(),
            ErrorCode::InvalidCiphertext
        );
    }
}

#[test]
fn v1_and_non_framed_messages_rewrap() {
    let dest = RawAesKeyring::new("ns", "k2", &[5; 32]).unwrap();
    let pt = data(10_000);
    for (suite, frame) in [
        (0x0078u16, 0u32),
        (0x0214, 1024),
        (0x0214, 0),
        (0x0378, 4096),
        (0x0578, 0),
    ] {
        let msg = encrypt(suite, frame, &pt);
        let mut out = Vec::new();
        let info =
            esdk::rewrap_stream(&raw(), &dest, &mut &msg[..], &mut out, &allow(), &OsRng).unwrap();
        assert_eq!(info.suite, suite);
        let d = esdk::decrypt_with(&dest, &out, &allow()).unwrap();
        assert_eq!(d.plaintext.as_bytes(), &pt[..], "{suite:04x} {frame}");
        assert_eq!(d.info.opened_by.key_name, "k2");
        assert_eq!(d.info.frame_length, frame);
        assert!(esdk::decrypt_with(&raw(), &out, &allow()).is_err());
        // A tampered signed body is refused while re-wrapping.
        if signs(suite) {
            let mut bad = msg.clone();
            let n = bad.len();
            bad[n - 300] ^= 1;
            let r = esdk::rewrap_stream(
                &raw(),
                &dest,
                &mut &bad[..],
                &mut Vec::new(),
                &allow(),
                &OsRng,
            );
            assert_eq!(r.unwrap_err().code(), ErrorCode::InvalidCiphertext);
        }
    }
}

#[test]
fn the_caching_cmm_never_caches_identity_kdf_data_keys() {
    let clock = ManualClock::new(0);
    let cache = MaterialsCache::new(16, clock).unwrap();
    let cmm = CachingCmm::new(raw(), cache, CachingConfig::default()).unwrap();
    let ctx = context([("a", "b")]);
    for _ in 0..3 {
        let m = esdk::encrypt_with(&cmm, b"x", &ctx, &opts(0x0014, 64, Some(1)), &OsRng).unwrap();
        esdk::decrypt_with(&raw(), &m, &allow()).unwrap();
        let m = esdk::encrypt_with(&cmm, b"x", &ctx, &opts(0x0114, 0, Some(1)), &OsRng).unwrap();
        esdk::decrypt_with(&raw(), &m, &allow()).unwrap();
    }
    let s = cmm.stats();
    assert_eq!(s.bypasses, 3, "identity-KDF requests bypass the cache");
    assert_eq!(s.hits, 2, "HKDF suites are cached");
}
