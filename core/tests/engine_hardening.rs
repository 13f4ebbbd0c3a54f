//! Engine hardening (issue 14): KDF bounds.

mod common;
use common::*;

use strongroom::{Argon2Params, ErrorCode, Kms, MemoryStore, Mutation, RootKey, Store};

fn fast_argon() -> Argon2Params {
    Argon2Params {
        m_kib: 256,
        t: 1,
        p: 1,
    }
}

// ------------------------------------------------------------ item 17

/// A store whose (unsealed) `meta/kdf` entry was rewritten by whoever can
/// write its files: every out-of-bounds parameter is refused at open as
/// corruption, before Argon2 runs or reserves memory.
#[test]
fn hostile_kdf_parameters_are_refused_at_open() {
    let store = MemoryStore::new();
    Kms::builder(ACCOUNT, REGION)
        .argon2_params(fast_argon())
        .open(store.clone(), RootKey::passphrase("pw"))
        .unwrap();
    let good = Kms::builder(ACCOUNT, REGION).open(store.clone(), RootKey::passphrase("pw"));
    assert!(good.is_ok(), "the untouched store opens");

    let salt = "00112233445566778899aabbccddeeff";
    // Cheap cases first (today's code runs them quickly and gets a wrong key
    // or an Argon2 error); the expensive ones would allocate gigabytes or
    // spin for hours if the bounds were not checked first.
    let hostile = [
        (256u64, 1000u64, 1u64, salt.to_string()), // too many passes
        (256, 1, 0, salt.into()),                  // no lanes
        (256, 1, 64, salt.into()),                 // too many lanes
        (256, 0, 1, salt.into()),                  // no passes
        (4, 1, 1, salt.into()),                    // below Argon2's minimum
        (256, 1, 1, "0011223344556677".into()),    // 8-byte salt
        (256, 1, 1, "00".repeat(65)),              // 65-byte salt
        (256, 1, 1, "0g".repeat(16)),              // not hex
        (256, 1, 1, "001".into()),                 // odd length
        (u32::MAX as u64, 1, 1, salt.into()),      // 4 TiB
        (2 << 20, 1, 1, salt.into()),              // 2 GiB
        (1 << 20, 32, 1, salt.into()),             // 1 GiB x 32 passes
        (19 * 1024, u32::MAX as u64, 1, salt.into()),
    ];
    for (m, t, p, salt) in hostile {
        let mut s = store.clone();
        let entry = serde_json::json!({
            "alg": "argon2id-v19",
            "params": {"m_kib": m, "t": t, "p": p},
            "salt": salt,
        });
        s.apply(vec![Mutation::Put {
            name: "meta/kdf".into(),
            value: serde_json::to_vec(&entry).unwrap(),
        }])
        .unwrap();
        let err = Kms::builder(ACCOUNT, REGION)
            .open(store.clone(), RootKey::passphrase("pw"))
            .unwrap_err();
        assert_eq!(
            err.code(),
            ErrorCode::StoreCorrupted,
            "m_kib {m} t {t} p {p} salt {salt}: {err}"
        );
    }
}

/// Creating a store with parameters it could not reopen is refused.
#[test]
fn out_of_bounds_kdf_parameters_are_refused_at_creation() {
    for p in [
        Argon2Params {
            m_kib: 2 << 20,
            t: 1,
            p: 1,
        },
        Argon2Params {
            m_kib: 256,
            t: 33,
            p: 1,
        },
        Argon2Params {
            m_kib: 256,
            t: 1,
            p: 0,
        },
    ] {
        let err = Kms::builder(ACCOUNT, REGION)
            .argon2_params(p)
            .open(MemoryStore::new(), RootKey::passphrase("pw"))
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Validation, "{p:?}");
    }
}
