//! ML-KEM keys (FIPS 203) through the public API: Encapsulate and
//! Decapsulate, GetPublicKey, GenerateDataKeyPair, the key state matrix,
//! persistence of the stored seed, and the errors AWS documents.
//! Independent verification (pyca/cryptography) is in
//! python/tests/test_key_specs.py.
mod common;
use common::*;
use ml_kem::kem::Decapsulate;
use ml_kem::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use strongroom::api::*;
use strongroom::model::*;
use strongroom::{ErrorCode, Kms};

const SPECS: [(KeySpec, usize, usize); 3] = [
    // spec, ciphertext length, SPKI length
    (KeySpec::MlKem512, 768, 800 + 22),
    (KeySpec::MlKem768, 1088, 1184 + 22),
    (KeySpec::MlKem1024, 1568, 1568 + 22),
];

fn create(kms: &Kms, spec: KeySpec) -> KeyMetadata {
    kms.create_key(CreateKeyRequest {
        key_spec: Some(spec),
        key_usage: Some(KeyUsage::EncapsulateDecapsulate),
        ..Default::default()
    })
    .unwrap()
    .key_metadata
}

fn encapsulate(kms: &Kms, id: &str) -> strongroom::Result<EncapsulateResponse> {
    kms.encapsulate(EncapsulateRequest {
        key_id: id.into(),
        encapsulation_algorithm: Some(EncapsulationAlgorithm::MlKem),
        ..Default::default()
    })
}

fn decapsulate(kms: &Kms, id: &str, ct: &[u8]) -> strongroom::Result<DecapsulateResponse> {
    kms.decapsulate(DecapsulateRequest {
        key_id: id.into(),
        shared_secret_ciphertext_blob: ct.to_vec(),
        encapsulation_algorithm: Some(EncapsulationAlgorithm::MlKem),
        ..Default::default()
    })
}

fn public_key(kms: &Kms, id: &str) -> GetPublicKeyResponse {
    kms.get_public_key(GetPublicKeyRequest {
        key_id: id.into(),
        ..Default::default()
    })
    .unwrap()
}

/// Encapsulate outside Strongroom to the public key GetPublicKey returns
/// (the `ml-kem` crate's own SPKI decoder and Encaps).
fn encapsulate_outside(spec: KeySpec, spki: &[u8]) -> (Vec<u8>, Vec<u8>) {
    macro_rules! outside {
        ($m:ident) => {{
            let ek = ml_kem::$m::EncapsulationKey::from_public_key_der(spki).unwrap();
            let (ct, ss) = ek.encapsulate_deterministic(&ml_kem::B32::from([9u8; 32]));
            (ct.to_vec(), ss.to_vec())
        }};
    }
    match spec {
        KeySpec::MlKem512 => outside!(ml_kem_512),
        KeySpec::MlKem768 => outside!(ml_kem_768),
        _ => outside!(ml_kem_1024),
    }
}

#[test]
fn encapsulate_and_decapsulate_agree_for_every_parameter_set() {
    let (kms, _) = kms();
    for (spec, ct_len, spki_len) in SPECS {
        let md = create(&kms, spec);
        assert_eq!(md.key_spec, spec);
        assert_eq!(md.key_usage, KeyUsage::EncapsulateDecapsulate);
        assert_eq!(md.encapsulation_algorithms, [EncapsulationAlgorithm::MlKem]);
        assert!(md.signing_algorithms.is_empty() && md.encryption_algorithms.is_empty());
        let e = encapsulate(&kms, &md.key_id).unwrap();
        assert_eq!(e.encapsulation_algorithm, EncapsulationAlgorithm::MlKem);
        assert_eq!(e.key_id, md.arn);
        assert_eq!(e.shared_secret_ciphertext_blob.len(), ct_len, "{spec}");
        assert_eq!(e.shared_secret.as_bytes().len(), 32);
        assert!(format!("{e:?}").contains("redacted"));
        let d = decapsulate(&kms, &md.key_id, &e.shared_secret_ciphertext_blob).unwrap();
        assert!(d.shared_secret.ct_eq(e.shared_secret.as_bytes()), "{spec}");
        assert!(format!("{d:?}").contains("redacted"));
        // Fresh randomness per call.
        let e2 = encapsulate(&kms, &md.key_id).unwrap();
        assert_ne!(
            e2.shared_secret_ciphertext_blob,
            e.shared_secret_ciphertext_blob
        );
        // The public key is a DER SPKI another implementation encapsulates to.
        let pk = public_key(&kms, &md.key_id);
        assert_eq!(pk.public_key.len(), spki_len, "{spec}");
        assert_eq!(pk.key_usage, KeyUsage::EncapsulateDecapsulate);
        assert_eq!(pk.encapsulation_algorithms, [EncapsulationAlgorithm::MlKem]);
        let (ct, ss) = encapsulate_outside(spec, &pk.public_key);
        let d = decapsulate(&kms, &md.key_id, &ct).unwrap();
        assert_eq!(d.shared_secret.as_bytes(), &ss[..], "{spec}");
    }
}

#[test]
fn decapsulation_rejects_implicitly_and_refuses_wrong_lengths() {
    let (kms, _) = kms();
    for (spec, ct_len, _) in SPECS {
        let id = create(&kms, spec).key_id;
        let e = encapsulate(&kms, &id).unwrap();
        // An altered ciphertext of the right length: 32 pseudo-random bytes,
        // not the secret, and no error (FIPS 203 implicit rejection).
        let mut bad = e.shared_secret_ciphertext_blob.clone();
        bad[ct_len / 2] ^= 1;
        let d = decapsulate(&kms, &id, &bad).unwrap();
        assert_eq!(d.shared_secret.as_bytes().len(), 32);
        assert!(!d.shared_secret.ct_eq(e.shared_secret.as_bytes()));
        // The same altered ciphertext gives the same value (deterministic).
        let d2 = decapsulate(&kms, &id, &bad).unwrap();
        assert!(d2.shared_secret.ct_eq(d.shared_secret.as_bytes()));
        // Another key's ciphertext: a value, not an error, and not the secret.
        let other = create(&kms, spec).key_id;
        let d = decapsulate(&kms, &other, &e.shared_secret_ciphertext_blob).unwrap();
        assert!(!d.shared_secret.ct_eq(e.shared_secret.as_bytes()));
        // The wrong length for the spec: InvalidCiphertextException.
        for len in [ct_len - 1, ct_len + 1, 32] {
            let r = decapsulate(&kms, &id, &vec![0u8; len]);
            assert_eq!(code(r), "InvalidCiphertextException", "{spec} {len}");
        }
        assert_eq!(code(decapsulate(&kms, &id, &[])), "ValidationException");
    }
}

#[test]
fn request_and_usage_errors() {
    let (kms, _) = kms();
    let id = create(&kms, KeySpec::MlKem768).key_id;
    // The algorithm is required.
    let r = kms.encapsulate(EncapsulateRequest {
        key_id: id.clone(),
        ..Default::default()
    });
    assert_eq!(code(r), "ValidationException");
    let r = kms.decapsulate(DecapsulateRequest {
        key_id: id.clone(),
        shared_secret_ciphertext_blob: vec![0; 1088],
        ..Default::default()
    });
    assert_eq!(code(r), "ValidationException");
    // ML-KEM keys only encapsulate.
    for usage in [
        KeyUsage::SignVerify,
        KeyUsage::EncryptDecrypt,
        KeyUsage::KeyAgreement,
    ] {
        let r = kms.create_key(CreateKeyRequest {
            key_spec: Some(KeySpec::MlKem768),
            key_usage: Some(usage),
            ..Default::default()
        });
        assert_eq!(code(r), "ValidationException", "{usage}");
    }
    // ENCAPSULATE_DECAPSULATE is for ML-KEM specs only.
    for spec in [
        KeySpec::EccNistP256,
        KeySpec::Rsa2048,
        KeySpec::SymmetricDefault,
    ] {
        let r = kms.create_key(CreateKeyRequest {
            key_spec: Some(spec),
            key_usage: Some(KeyUsage::EncapsulateDecapsulate),
            ..Default::default()
        });
        assert_eq!(code(r), "ValidationException", "{spec}");
    }
    // Other keys do not encapsulate; an ML-KEM key does not sign or encrypt.
    let sym = new_key(&kms);
    assert_eq!(code(encapsulate(&kms, &sym)), "InvalidKeyUsageException");
    assert_eq!(
        code(decapsulate(&kms, &sym, &[0; 1088])),
        "InvalidKeyUsageException"
    );
    let r = kms.sign(SignRequest {
        key_id: id.clone(),
        message: b"m".to_vec(),
        signing_algorithm: Some(strongroom::asym::SigningAlgorithm::MlDsaShake256),
        ..Default::default()
    });
    assert_eq!(code(r), "InvalidKeyUsageException");
    let r = kms.encrypt(EncryptRequest {
        key_id: id.clone(),
        plaintext: b"x".to_vec().into(),
        ..Default::default()
    });
    assert_eq!(code(r), "InvalidKeyUsageException");
    // DryRun: checked, nothing returned.
    let r = kms.encapsulate(EncapsulateRequest {
        key_id: id.clone(),
        encapsulation_algorithm: Some(EncapsulationAlgorithm::MlKem),
        dry_run: true,
        ..Default::default()
    });
    assert_eq!(code(r), "DryRunOperationException");
    let r = kms.decapsulate(DecapsulateRequest {
        key_id: id,
        shared_secret_ciphertext_blob: vec![0; 1088],
        encapsulation_algorithm: Some(EncapsulationAlgorithm::MlKem),
        dry_run: true,
        ..Default::default()
    });
    assert_eq!(code(r), "DryRunOperationException");
}

#[test]
fn ml_kem_keys_follow_the_state_matrix() {
    let (kms, _) = kms();
    for (spec, ct_len, _) in SPECS {
        let id = create(&kms, spec).key_id;
        let ct = encapsulate(&kms, &id)
            .unwrap()
            .shared_secret_ciphertext_blob;
        let s = |r: strongroom::Result<()>| match r {
            Ok(()) => "OK".to_string(),
            Err(e) => e.code().as_str().to_string(),
        };
        let ops = |kms: &Kms| {
            [
                s(encapsulate(kms, &id).map(drop)),
                s(decapsulate(kms, &id, &ct).map(drop)),
                s(kms
                    .get_public_key(GetPublicKeyRequest {
                        key_id: id.clone(),
                        ..Default::default()
                    })
                    .map(drop)),
                s(kms
                    .describe_key(DescribeKeyRequest {
                        key_id: id.clone(),
                        ..Default::default()
                    })
                    .map(drop)),
            ]
        };
        assert_eq!(ops(&kms), ["OK", "OK", "OK", "OK"], "{spec} Enabled");
        assert_eq!(ct.len(), ct_len);
        kms.disable_key(KeyIdRequest { key_id: id.clone() })
            .unwrap();
        let d = "DisabledException";
        assert_eq!(ops(&kms), [d, d, d, "OK"], "{spec} Disabled");
        kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
            key_id: id.clone(),
            pending_window_in_days: Some(7),
        })
        .unwrap();
        let p = "KMSInvalidStateException";
        assert_eq!(ops(&kms), [p, p, p, "OK"], "{spec} PendingDeletion");
    }
}

#[test]
fn data_key_pairs_are_seed_form_pkcs8_with_their_public_key() {
    let (kms, _) = kms();
    let wrap = new_key(&kms);
    for (spec, pair) in [
        (KeySpec::MlKem512, DataKeyPairSpec::MlKem512),
        (KeySpec::MlKem768, DataKeyPairSpec::MlKem768),
        (KeySpec::MlKem1024, DataKeyPairSpec::MlKem1024),
    ] {
        let r = kms
            .generate_data_key_pair(GenerateDataKeyPairRequest {
                key_id: wrap.clone(),
                key_pair_spec: Some(pair),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(r.key_pair_spec, pair);
        let back = dec(&kms, &r.private_key_ciphertext_blob, &Default::default()).unwrap();
        assert!(r.private_key_plaintext.ct_eq(&back));
        macro_rules! check {
            ($m:ident) => {{
                let dk = ml_kem::$m::DecapsulationKey::from_pkcs8_der(&back).unwrap();
                assert!(dk.to_seed().is_some(), "seed form");
                let spki = dk.encapsulation_key().to_public_key_der().unwrap();
                assert_eq!(spki.as_bytes(), &r.public_key[..], "{spec}");
                let (ct, ss) = dk
                    .encapsulation_key()
                    .encapsulate_deterministic(&ml_kem::B32::from([9u8; 32]));
                assert_eq!(dk.decapsulate(&ct), ss);
            }};
        }
        match spec {
            KeySpec::MlKem512 => check!(ml_kem_512),
            KeySpec::MlKem768 => check!(ml_kem_768),
            _ => check!(ml_kem_1024),
        }
    }
}

#[test]
fn the_stored_seed_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Kms::builder(ACCOUNT, REGION)
            .clock(strongroom::ManualClock::new(T0))
            .argon2_params(strongroom::Argon2Params {
                m_kib: 256,
                t: 1,
                p: 1,
            })
            .open_file(dir.path(), strongroom::RootKey::raw([0x42; 32]))
            .unwrap()
    };
    let mut kept = Vec::new();
    {
        let kms = open();
        for (spec, _, _) in SPECS {
            let id = create(&kms, spec).key_id;
            let e = encapsulate(&kms, &id).unwrap();
            kept.push((
                id.clone(),
                public_key(&kms, &id).public_key,
                e.shared_secret_ciphertext_blob,
                e.shared_secret.as_bytes().to_vec(),
            ));
        }
    }
    let kms = open();
    for (id, spki, ct, ss) in kept {
        assert_eq!(public_key(&kms, &id).public_key, spki);
        let d = decapsulate(&kms, &id, &ct).unwrap();
        assert_eq!(d.shared_secret.as_bytes(), &ss[..]);
    }
    assert_eq!(
        ErrorCode::NotFound,
        encapsulate(&kms, "1234abcd-12ab-34cd-56ef-1234567890ab")
            .unwrap_err()
            .code()
    );
}
