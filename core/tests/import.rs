//! Bring your own key material (kms-semantics §8).
mod common;
use common::*;
use p256::pkcs8::DecodePublicKey;
use std::process::Command;
use strongroom::api::*;
use strongroom::model::*;
use strongroom::{ErrorCode, Kms, ManualClock, RootKey};

const DAY: u64 = 86_400_000;

fn external(kms: &Kms) -> String {
    kms.create_key(CreateKeyRequest {
        origin: Some(Origin::External),
        ..Default::default()
    })
    .unwrap()
    .key_metadata
    .key_id
}

fn params(kms: &Kms, key: &str, alg: WrappingAlgorithm) -> GetParametersForImportResponse {
    kms.get_parameters_for_import(GetParametersForImportRequest {
        key_id: key.into(),
        wrapping_algorithm: Some(alg),
        wrapping_key_spec: Some(WrappingKeySpec::Rsa2048),
    })
    .unwrap()
}

/// RSA-OAEP-SHA256 wrap in Rust (the openssl test below does it with the CLI).
fn wrap(public_der: &[u8], material: &[u8]) -> Vec<u8> {
    let pk = rsa::PublicKey::from_public_key_der(public_der).unwrap();
    pk.encrypt(
        &mut TestRng(42),
        rsa::Oaep::<rsa::sha2::Sha256>::new(),
        material,
    )
    .unwrap()
}

fn import(
    kms: &Kms,
    key: &str,
    token: &str,
    wrapped: Vec<u8>,
    valid_to: Option<u64>,
    model: ExpirationModel,
) -> strongroom::Result<()> {
    let r = kms.import_key_material(ImportKeyMaterialRequest {
        key_id: key.into(),
        import_token: token.into(),
        encrypted_key_material: wrapped,
        valid_to_ms: valid_to,
        expiration_model: Some(model),
        ..Default::default()
    })?;
    // AWS's answer: the key's ARN and the imported material's id.
    assert!(
        r.key_id.starts_with("arn:aws:kms:") && r.key_id.ends_with(key.rsplit('/').next().unwrap()),
        "{}",
        r.key_id
    );
    assert_eq!(r.key_material_id.len(), 64);
    Ok(())
}

fn state(kms: &Kms, key: &str) -> KeyState {
    describe(kms, key).key_state
}

#[test]
fn import_lifecycle() {
    let (kms, clock) = kms();
    let key = external(&kms);
    let md = describe(&kms, &key);
    assert_eq!(
        (md.key_state, md.origin, md.current_key_material_id),
        (KeyState::PendingImport, Origin::External, None)
    );
    let e = kms.encrypt(EncryptRequest {
        key_id: key.clone(),
        plaintext: b"x".into(),
        ..Default::default()
    });
    assert_eq!(e.unwrap_err().code(), ErrorCode::KmsInvalidState);
    let material = [0x11u8; 32];
    let p = params(&kms, &key, WrappingAlgorithm::RsaesOaepSha256);
    assert_eq!(p.parameters_valid_to_ms, T0 + DAY);
    let wrapped = wrap(&p.public_key, &material);
    // ValidTo rules.
    assert_eq!(
        import(
            &kms,
            &key,
            &p.import_token,
            wrapped.clone(),
            None,
            ExpirationModel::KeyMaterialExpires
        )
        .unwrap_err()
        .code(),
        ErrorCode::Validation
    );
    assert_eq!(
        import(
            &kms,
            &key,
            &p.import_token,
            wrapped.clone(),
            Some(T0 + 366 * DAY),
            ExpirationModel::KeyMaterialExpires
        )
        .unwrap_err()
        .code(),
        ErrorCode::Validation
    );
    assert_eq!(
        import(
            &kms,
            &key,
            &p.import_token,
            wrapped.clone(),
            Some(T0 + DAY),
            ExpirationModel::KeyMaterialDoesNotExpire
        )
        .unwrap_err()
        .code(),
        ErrorCode::Validation
    );
    // Import, valid for 10 days.
    import(
        &kms,
        &key,
        &p.import_token,
        wrapped.clone(),
        Some(T0 + 10 * DAY),
        ExpirationModel::KeyMaterialExpires,
    )
    .unwrap();
    let md = describe(&kms, &key);
    assert_eq!(md.key_state, KeyState::Enabled);
    assert_eq!(md.valid_to_ms, Some(T0 + 10 * DAY));
    assert_eq!(
        md.expiration_model,
        Some(ExpirationModel::KeyMaterialExpires)
    );
    let blob = enc(&kms, &key, b"imported", &context([("a", "b")]));
    // Imported keys never rotate.
    let r = kms.enable_key_rotation(EnableKeyRotationRequest {
        key_id: key.clone(),
        rotation_period_in_days: None,
    });
    assert_eq!(r.unwrap_err().code(), ErrorCode::UnsupportedOperation);
    // Re-import must be byte-identical.
    let p2 = params(&kms, &key, WrappingAlgorithm::RsaesOaepSha256);
    let other = wrap(&p2.public_key, &[0x22u8; 32]);
    assert_eq!(
        import(
            &kms,
            &key,
            &p2.import_token,
            other,
            None,
            ExpirationModel::KeyMaterialDoesNotExpire
        )
        .unwrap_err()
        .code(),
        ErrorCode::IncorrectKeyMaterial
    );
    import(
        &kms,
        &key,
        &p2.import_token,
        wrap(&p2.public_key, &material),
        None,
        ExpirationModel::KeyMaterialDoesNotExpire,
    )
    .unwrap();
    assert_eq!(describe(&kms, &key).valid_to_ms, None);
    // DeleteImportedKeyMaterial → PendingImport; same material restores it.
    kms.delete_imported_key_material(DeleteImportedKeyMaterialRequest {
        key_id: key.clone(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(state(&kms, &key), KeyState::PendingImport);
    assert_eq!(
        dec(&kms, &blob, &context([("a", "b")])).unwrap_err().code(),
        ErrorCode::KmsInvalidState
    );
    kms.delete_imported_key_material(DeleteImportedKeyMaterialRequest {
        key_id: key.clone(),
        ..Default::default()
    })
    .unwrap(); // no effect
               // p2 was spent by the import above (its wrapping key is gone).
    assert_eq!(
        import(
            &kms,
            &key,
            &p2.import_token,
            wrap(&p2.public_key, &material),
            Some(T0 + DAY / 2),
            ExpirationModel::KeyMaterialExpires,
        )
        .unwrap_err()
        .code(),
        ErrorCode::ExpiredImportToken
    );
    let p2 = params(&kms, &key, WrappingAlgorithm::RsaesOaepSha256);
    import(
        &kms,
        &key,
        &p2.import_token,
        wrap(&p2.public_key, &material),
        Some(T0 + DAY / 2),
        ExpirationModel::KeyMaterialExpires,
    )
    .unwrap();
    assert_eq!(
        dec(&kms, &blob, &context([("a", "b")])).unwrap(),
        b"imported"
    );
    // Expiry by the clock → PendingImport.
    clock.advance_ms(DAY / 2);
    assert_eq!(state(&kms, &key), KeyState::PendingImport);
    assert_eq!(describe(&kms, &key).valid_to_ms, None);
    // Tokens last 24 hours.
    clock.advance_ms(DAY / 2);
    let e = import(
        &kms,
        &key,
        &p2.import_token,
        wrap(&p2.public_key, &material),
        None,
        ExpirationModel::KeyMaterialDoesNotExpire,
    );
    assert_eq!(e.unwrap_err().code(), ErrorCode::ExpiredImportToken);
    let p3 = params(&kms, &key, WrappingAlgorithm::RsaesOaepSha256);
    import(
        &kms,
        &key,
        &p3.import_token,
        wrap(&p3.public_key, &material),
        None,
        ExpirationModel::KeyMaterialDoesNotExpire,
    )
    .unwrap();
    assert_eq!(
        dec(&kms, &blob, &context([("a", "b")])).unwrap(),
        b"imported"
    );
}

#[test]
fn tokens_and_wrapping_are_checked() {
    let (kms, _) = kms();
    let a = external(&kms);
    let b = external(&kms);
    let pa = params(&kms, &a, WrappingAlgorithm::RsaesOaepSha256);
    let w = wrap(&pa.public_key, &[1u8; 32]);
    let imp = |key: &str, token: &str, wrapped: Vec<u8>| {
        import(
            &kms,
            key,
            token,
            wrapped,
            None,
            ExpirationModel::KeyMaterialDoesNotExpire,
        )
    };
    assert_eq!(
        imp(&b, &pa.import_token, w.clone()).unwrap_err().code(),
        ErrorCode::InvalidImportToken
    );
    assert_eq!(
        imp(&a, "srim1garbage", w.clone()).unwrap_err().code(),
        ErrorCode::InvalidImportToken
    );
    let mut forged = pa.import_token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        imp(&a, &forged, w.clone()).unwrap_err().code(),
        ErrorCode::InvalidImportToken
    );
    let mut tampered = w.clone();
    tampered[10] ^= 1;
    assert_eq!(
        imp(&a, &pa.import_token, tampered).unwrap_err().code(),
        ErrorCode::InvalidCiphertext
    );
    assert_eq!(
        imp(&a, &pa.import_token, wrap(&pa.public_key, &[1u8; 16]))
            .unwrap_err()
            .code(),
        ErrorCode::IncorrectKeyMaterial
    );
    imp(&a, &pa.import_token, w).unwrap();
    // Not for AWS_KMS keys; bad parameters.
    let normal = new_key(&kms);
    let r = kms.get_parameters_for_import(GetParametersForImportRequest {
        key_id: normal,
        wrapping_algorithm: Some(WrappingAlgorithm::RsaesOaepSha256),
        wrapping_key_spec: Some(WrappingKeySpec::Rsa2048),
    });
    assert_eq!(r.unwrap_err().code(), ErrorCode::UnsupportedOperation);
    let r = kms.get_parameters_for_import(GetParametersForImportRequest {
        key_id: b.clone(),
        wrapping_algorithm: Some(WrappingAlgorithm::RsaesOaepSha256),
        wrapping_key_spec: Some(WrappingKeySpec::Sm2),
    });
    assert_eq!(r.unwrap_err().code(), ErrorCode::Validation);
    let r = kms.get_parameters_for_import(GetParametersForImportRequest {
        key_id: b.clone(),
        wrapping_algorithm: Some(WrappingAlgorithm::RsaesPkcs1V15),
        wrapping_key_spec: Some(WrappingKeySpec::Rsa2048),
    });
    // AWS stopped accepting PKCS#1 v1.5 wrapping in 2023.
    let e = r.unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnsupportedOperation);
    assert!(e.message().contains("RSAES_PKCS1_V1_5"), "{e}");
    // Specs AWS does not import.
    for (spec, usage) in [
        (KeySpec::MlDsa44, KeyUsage::SignVerify),
        (KeySpec::EccNistEdwards25519, KeyUsage::SignVerify),
        (KeySpec::MlKem768, KeyUsage::EncapsulateDecapsulate),
    ] {
        let r = kms.create_key(CreateKeyRequest {
            origin: Some(Origin::External),
            key_spec: Some(spec),
            key_usage: Some(usage),
            ..Default::default()
        });
        assert_eq!(
            r.unwrap_err().code(),
            ErrorCode::UnsupportedOperation,
            "{spec}"
        );
    }
}

/// The `import/…` entries of a store (each holds a sealed RSA wrapping key).
fn import_entries(store: &strongroom::MemoryStore) -> Vec<String> {
    let mut s = store.clone();
    strongroom::Store::load(&mut s)
        .unwrap()
        .into_keys()
        .filter(|n| n.starts_with("import/"))
        .collect()
}

fn kms_on(store: &strongroom::MemoryStore, clock: &ManualClock) -> Kms {
    Kms::builder(ACCOUNT, REGION)
        .clock(clock.clone())
        .rng(strongroom::DangerousSeededRng::new([8; 32]))
        .open(store.clone(), RootKey::raw([8; 32]))
        .unwrap()
}

/// Issue 14, item 20: an expired token's RSA private key is destroyed by
/// the next call's sweep, not kept until the next GetParametersForImport.
#[test]
fn expired_import_tokens_are_swept() {
    let store = strongroom::MemoryStore::new();
    let clock = ManualClock::new(T0);
    let kms = kms_on(&store, &clock);
    let key = external(&kms);
    let p = params(&kms, &key, WrappingAlgorithm::RsaesOaepSha256);
    assert_eq!(import_entries(&store).len(), 1);
    clock.advance_ms(DAY - 1);
    state(&kms, &key);
    assert_eq!(import_entries(&store).len(), 1, "still valid");
    clock.advance_ms(1);
    // Any call sweeps: here one on another key.
    new_key(&kms);
    assert_eq!(import_entries(&store), Vec::<String>::new());
    // Not back after a reopen, and the token is reported expired.
    let kms = kms_on(&store, &clock);
    let e = import(
        &kms,
        &key,
        &p.import_token,
        wrap(&p.public_key, &[0x11; 32]),
        None,
        ExpirationModel::KeyMaterialDoesNotExpire,
    );
    assert_eq!(e.unwrap_err().code(), ErrorCode::ExpiredImportToken);
    assert_eq!(state(&kms, &key), KeyState::PendingImport);
}

/// Issue 14, item 20: a successful import spends its token; a failed one
/// (wrong material) does not.
#[test]
fn a_successful_import_drops_its_token() {
    let store = strongroom::MemoryStore::new();
    let clock = ManualClock::new(T0);
    let kms = kms_on(&store, &clock);
    let key = external(&kms);
    let p = params(&kms, &key, WrappingAlgorithm::RsaesOaepSha256);
    let bad = import(
        &kms,
        &key,
        &p.import_token,
        wrap(&p.public_key, &[0x11; 16]),
        None,
        ExpirationModel::KeyMaterialDoesNotExpire,
    );
    assert_eq!(bad.unwrap_err().code(), ErrorCode::IncorrectKeyMaterial);
    assert_eq!(import_entries(&store).len(), 1, "a failed import keeps it");
    import(
        &kms,
        &key,
        &p.import_token,
        wrap(&p.public_key, &[0x11; 32]),
        None,
        ExpirationModel::KeyMaterialDoesNotExpire,
    )
    .unwrap();
    assert_eq!(import_entries(&store), Vec::<String>::new());
    assert_eq!(state(&kms, &key), KeyState::Enabled);
    let again = import(
        &kms,
        &key,
        &p.import_token,
        wrap(&p.public_key, &[0x11; 32]),
        None,
        ExpirationModel::KeyMaterialDoesNotExpire,
    );
    assert_eq!(again.unwrap_err().code(), ErrorCode::ExpiredImportToken);
}

/// Issue 14, item 20: a clock jumping 40 days forward does not expire
/// imported material through ordinary calls; the root's maintenance call
/// accepts the time and expires it.
#[test]
fn a_clock_jump_does_not_expire_imported_material() {
    let (kms, clock) = kms();
    let key = external(&kms);
    let p = params(&kms, &key, WrappingAlgorithm::RsaesOaepSha256);
    import(
        &kms,
        &key,
        &p.import_token,
        wrap(&p.public_key, &[0x11; 32]),
        Some(T0 + 10 * DAY),
        ExpirationModel::KeyMaterialExpires,
    )
    .unwrap();
    clock.advance_ms(40 * DAY);
    assert_eq!(state(&kms, &key), KeyState::Enabled);
    assert_eq!(state(&kms, &key), KeyState::Enabled);
    let report = kms.run_maintenance().unwrap();
    assert_eq!(report.expired, vec![key.clone()]);
    assert_eq!(state(&kms, &key), KeyState::PendingImport);
}

fn openssl(args: &[&str]) {
    openssl_out(args);
}

/// Key material prepared with the openssl commands AWS documents for
/// imports works unchanged, with both wrapping algorithms.
#[test]
fn openssl_wrapped_material_imports() {
    let (kms, _) = kms();
    let dir = tempfile::tempdir().unwrap();
    let f = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    openssl(&["rand", "-out", &f("material.bin"), "32"]);
    let material = std::fs::read(f("material.bin")).unwrap();
    for alg in [
        WrappingAlgorithm::RsaesOaepSha256,
        WrappingAlgorithm::RsaAesKeyWrapSha256,
    ] {
        let key = external(&kms);
        let p = params(&kms, &key, alg);
        let wrapped = openssl_wrap(dir.path(), alg, &p.public_key, &f("material.bin"));
        import(
            &kms,
            &key,
            &p.import_token,
            wrapped,
            None,
            ExpirationModel::KeyMaterialDoesNotExpire,
        )
        .unwrap();
        let blob = enc(&kms, &key, b"openssl", &Default::default());
        assert_eq!(dec(&kms, &blob, &Default::default()).unwrap(), b"openssl");
    }
    // The same material in two keys: each key's material id is its own
    // (derived from key id and material), and neither can decrypt the other's blobs.
    let ids: Vec<String> = kms
        .list_keys(ListKeysRequest::default())
        .unwrap()
        .keys
        .iter()
        .map(|k| {
            describe(&kms, k.key_id.clone())
                .current_key_material_id
                .unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert!(!material.is_empty());
}

#[test]
fn pending_import_states_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let open = || {
        Kms::builder(ACCOUNT, REGION)
            .clock(clock.clone())
            .open_file(dir.path(), RootKey::raw([8; 32]))
            .unwrap()
    };
    let (key, token, public) = {
        let kms = open();
        let key = external(&kms);
        let p = params(&kms, &key, WrappingAlgorithm::RsaAesKeyWrapSha256);
        (key, p.import_token, p.public_key)
    };
    // The token and its wrapping key survive a reopen.
    let kms = open();
    assert_eq!(state(&kms, &key), KeyState::PendingImport);
    // PendingImport row of the state matrix.
    let id = || KeyIdRequest {
        key_id: key.clone(),
    };
    assert_eq!(
        kms.enable_key(id()).unwrap_err().code(),
        ErrorCode::KmsInvalidState
    );
    assert_eq!(
        kms.disable_key(id()).unwrap_err().code(),
        ErrorCode::KmsInvalidState
    );
    assert_eq!(
        kms.enable_key_rotation(EnableKeyRotationRequest {
            key_id: key.clone(),
            rotation_period_in_days: None
        })
        .unwrap_err()
        .code(),
        ErrorCode::UnsupportedOperation
    );
    kms.tag_resource(TagResourceRequest {
        key_id: key.clone(),
        tags: vec![Tag::new("a", "b")],
    })
    .unwrap();
    // RSA_AES_KEY_WRAP_SHA_256 wrapped in Rust: RSA-OAEP(aes key) ‖ AES-KWP(material).
    let aes = [0x33u8; 32];
    let mut wrapped = wrap(&public, &aes);
    wrapped.extend(
        aes_kw::KekAes256::from(aes)
            .wrap_with_padding_vec(&[0x44u8; 32])
            .unwrap(),
    );
    import(
        &kms,
        &key,
        &token,
        wrapped,
        Some(T0 + 5 * DAY),
        ExpirationModel::KeyMaterialExpires,
    )
    .unwrap();
    let blob = enc(&kms, &key, b"survives", &Default::default());
    drop(kms);
    let kms = open();
    assert_eq!(dec(&kms, &blob, &Default::default()).unwrap(), b"survives");
    // A key pending deletion keeps that state when its material goes;
    // cancelling the deletion returns it to PendingImport.
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
        key_id: key.clone(),
        pending_window_in_days: Some(30),
    })
    .unwrap();
    clock.advance_ms(5 * DAY);
    let report = kms.run_maintenance().unwrap();
    assert_eq!(report.expired, vec![key.clone()]);
    assert_eq!(state(&kms, &key), KeyState::PendingDeletion);
    kms.cancel_key_deletion(id()).unwrap();
    assert_eq!(state(&kms, &key), KeyState::PendingImport);
    drop(kms);
    let kms = open();
    assert_eq!(state(&kms, &key), KeyState::PendingImport);
}

#[test]
fn every_wrapping_key_size_imports() {
    let (kms, _) = kms();
    for spec in [WrappingKeySpec::Rsa3072, WrappingKeySpec::Rsa4096] {
        for alg in [
            WrappingAlgorithm::RsaesOaepSha256,
            WrappingAlgorithm::RsaAesKeyWrapSha256,
        ] {
            let key = external(&kms);
            let p = kms
                .get_parameters_for_import(GetParametersForImportRequest {
                    key_id: key.clone(),
                    wrapping_algorithm: Some(alg),
                    wrapping_key_spec: Some(spec),
                })
                .unwrap();
            let material = [0x5cu8; 32];
            let wrapped = match alg {
                WrappingAlgorithm::RsaesOaepSha256 => wrap(&p.public_key, &material),
                _ => {
                    let aes = [0x17u8; 32];
                    let mut w = wrap(&p.public_key, &aes);
                    w.extend(
                        aes_kw::KekAes256::from(aes)
                            .wrap_with_padding_vec(&material)
                            .unwrap(),
                    );
                    w
                }
            };
            let modulus = match spec {
                WrappingKeySpec::Rsa3072 => 384,
                _ => 512,
            };
            assert_eq!(wrap(&p.public_key, &material).len(), modulus);
            import(
                &kms,
                &key,
                &p.import_token,
                wrapped,
                None,
                ExpirationModel::KeyMaterialDoesNotExpire,
            )
            .unwrap();
            let blob = enc(&kms, &key, b"any size", &Default::default());
            assert_eq!(dec(&kms, &blob, &Default::default()).unwrap(), b"any size");
        }
    }
}

/// Wrap the material in file `material` for GetParametersForImport's public
/// key `wrapping_der` with `alg`, using the openssl commands AWS documents
/// for each wrapping algorithm ("Encrypt key material", AWS KMS developer
/// guide): `pkeyutl` RSA-OAEP for RSAES_OAEP_SHA_*, and for
/// RSA_AES_KEY_WRAP_SHA_* a random AES-256 key, `enc -id-aes256-wrap-pad`
/// (RFC 5649) of the material, `pkeyutl` RSA-OAEP of the AES key,
/// concatenated.
fn openssl_wrap(
    dir: &std::path::Path,
    alg: WrappingAlgorithm,
    wrapping_der: &[u8],
    material: &str,
) -> Vec<u8> {
    let f = |n: &str| dir.join(n).to_str().unwrap().to_string();
    std::fs::write(f("wrapping.der"), wrapping_der).unwrap();
    let md = match alg {
        WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaAesKeyWrapSha1 => "sha1",
        _ => "sha256",
    };
    let oaep = |input: &str, output: &str| {
        openssl(&[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            &f("wrapping.der"),
            "-in",
            input,
            "-out",
            output,
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            &format!("rsa_oaep_md:{md}"),
            "-pkeyopt",
            &format!("rsa_mgf1_md:{md}"),
        ]);
    };
    match alg {
        WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaesOaepSha256 => {
            oaep(material, &f("wrapped.bin"));
            std::fs::read(f("wrapped.bin")).unwrap()
        }
        _ => {
            openssl(&["rand", "-out", &f("aes.bin"), "32"]);
            let aes_hex = hex::encode(std::fs::read(f("aes.bin")).unwrap());
            openssl(&[
                "enc",
                "-id-aes256-wrap-pad",
                "-K",
                &aes_hex,
                "-iv",
                "A65959A6",
                "-in",
                material,
                "-out",
                &f("material_wrapped.bin"),
            ]);
            oaep(&f("aes.bin"), &f("aes_wrapped.bin"));
            let mut w = std::fs::read(f("aes_wrapped.bin")).unwrap();
            w.extend(std::fs::read(f("material_wrapped.bin")).unwrap());
            w
        }
    }
}

/// PEM private key to PKCS#8 DER, as AWS's import guide converts it.
fn topk8(pem: &str, der: &str) {
    openssl(&[
        "pkcs8", "-topk8", "-inform", "PEM", "-outform", "DER", "-nocrypt", "-in", pem, "-out", der,
    ]);
}

fn openssl_out(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl command line is needed for this test");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn external_of(kms: &Kms, spec: KeySpec, usage: KeyUsage) -> String {
    kms.create_key(CreateKeyRequest {
        origin: Some(Origin::External),
        key_spec: Some(spec),
        key_usage: Some(usage),
        ..Default::default()
    })
    .unwrap()
    .key_metadata
    .key_id
}

fn import_with(
    kms: &Kms,
    key: &str,
    alg: WrappingAlgorithm,
    dir: &std::path::Path,
    material: &str,
) -> strongroom::Result<()> {
    let p = params(kms, key, alg);
    let wrapped = openssl_wrap(dir, alg, &p.public_key, material);
    import(
        kms,
        key,
        &p.import_token,
        wrapped,
        None,
        ExpirationModel::KeyMaterialDoesNotExpire,
    )
}

const ALL_WRAPPING: [WrappingAlgorithm; 4] = [
    WrappingAlgorithm::RsaesOaepSha1,
    WrappingAlgorithm::RsaesOaepSha256,
    WrappingAlgorithm::RsaAesKeyWrapSha1,
    WrappingAlgorithm::RsaAesKeyWrapSha256,
];

/// ECC and RSA private keys made by openssl (PKCS#8 DER), imported with
/// every wrapping algorithm they fit: GetPublicKey is openssl's public
/// key, and openssl verifies what the imported key signs.
#[test]
fn openssl_made_asymmetric_keys_import_and_sign() {
    let (kms, _) = kms();
    let dir = tempfile::tempdir().unwrap();
    let f = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    std::fs::write(f("msg.bin"), b"imported signing key").unwrap();
    let cases: [(KeySpec, &[&str], SigningAlgorithm, &str); 4] = [
        (
            KeySpec::EccNistP256,
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            SigningAlgorithm::EcdsaSha256,
            "-sha256",
        ),
        (
            KeySpec::EccNistP384,
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            SigningAlgorithm::EcdsaSha384,
            "-sha384",
        ),
        (
            KeySpec::EccSecgP256k1,
            &[
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:secp256k1",
            ],
            SigningAlgorithm::EcdsaSha256,
            "-sha256",
        ),
        (
            KeySpec::Rsa2048,
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            SigningAlgorithm::RsassaPkcs1V15Sha256,
            "-sha256",
        ),
    ];
    for (spec, genargs, alg, dgst) in cases {
        // As AWS documents: generate, then `openssl pkcs8 -topk8 -nocrypt`
        // to PKCS#8 DER (genpkey's own DER of an EC key is SEC1, refused).
        let mut args = vec!["genpkey"];
        args.extend_from_slice(genargs);
        let priv_pem = f("priv.pem");
        let priv_der = f("priv.der");
        args.extend_from_slice(&["-out", &priv_pem]);
        openssl(&args);
        topk8(&priv_pem, &priv_der);
        let pem_pub = openssl_out(&["pkey", "-inform", "DER", "-in", &priv_der, "-pubout"]);
        std::fs::write(f("pub.pem"), &pem_pub).unwrap();
        let der_pub = openssl_out(&[
            "pkey", "-inform", "DER", "-in", &priv_der, "-pubout", "-outform", "DER",
        ]);
        let material_len = std::fs::metadata(&priv_der).unwrap().len();
        for wrap in ALL_WRAPPING {
            // RSA-2048 OAEP holds at most 214 (SHA-1) / 190 (SHA-256)
            // bytes: RSA private keys only go with the AES key wrap.
            let oaep = matches!(
                wrap,
                WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaesOaepSha256
            );
            if oaep && material_len > 190 {
                continue;
            }
            let key = external_of(&kms, spec, KeyUsage::SignVerify);
            import_with(&kms, &key, wrap, dir.path(), &priv_der)
                .unwrap_or_else(|e| panic!("{spec} {wrap}: {e}"));
            let md = describe(&kms, key.as_str());
            assert_eq!(
                (md.key_state, md.origin),
                (KeyState::Enabled, Origin::External),
                "{spec} {wrap}"
            );
            let pk = kms
                .get_public_key(GetPublicKeyRequest {
                    key_id: key.clone(),
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(
                pk.public_key, der_pub,
                "{spec} {wrap}: GetPublicKey is openssl's public key"
            );
            let sig = kms
                .sign(SignRequest {
                    key_id: key.clone(),
                    message: b"imported signing key".to_vec(),
                    signing_algorithm: Some(alg),
                    ..Default::default()
                })
                .unwrap()
                .signature;
            std::fs::write(f("sig.bin"), &sig).unwrap();
            let out = openssl_out(&[
                "dgst",
                dgst,
                "-verify",
                &f("pub.pem"),
                "-signature",
                &f("sig.bin"),
                &f("msg.bin"),
            ]);
            assert!(
                String::from_utf8_lossy(&out).contains("Verified OK"),
                "{spec} {wrap}"
            );
            // The same material again: fine; another key's material: not.
            import_with(&kms, &key, wrap, dir.path(), &priv_der).unwrap();
        }
    }
    // Re-importing different material, and material of the wrong kind.
    let key = external_of(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    for (name, curve) in [("a", "P-256"), ("b", "P-256"), ("c", "P-384")] {
        let pem = f(&format!("{name}.pem"));
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &format!("ec_paramgen_curve:{curve}"),
            "-out",
            &pem,
        ]);
        topk8(&pem, &f(&format!("{name}.der")));
    }
    // SEC1 DER (what genpkey writes for EC keys) is not PKCS#8: refused.
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-outform",
        "DER",
        "-out",
        &f("sec1.der"),
    ]);
    let sec1 = external_of(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    let e = import_with(
        &kms,
        &sec1,
        WrappingAlgorithm::RsaesOaepSha256,
        dir.path(),
        &f("sec1.der"),
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::IncorrectKeyMaterial);
    import_with(
        &kms,
        &key,
        WrappingAlgorithm::RsaAesKeyWrapSha256,
        dir.path(),
        &f("a.der"),
    )
    .unwrap();
    let e = import_with(
        &kms,
        &key,
        WrappingAlgorithm::RsaAesKeyWrapSha256,
        dir.path(),
        &f("b.der"),
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::IncorrectKeyMaterial);
    let other = external_of(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    let e = import_with(
        &kms,
        &other,
        WrappingAlgorithm::RsaAesKeyWrapSha256,
        dir.path(),
        &f("c.der"),
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::IncorrectKeyMaterial);
    assert!(
        e.message().contains("ECC_NIST_P256") && e.message().contains("PKCS#8"),
        "{e}"
    );
    assert_eq!(
        describe(&kms, other.as_str()).key_state,
        KeyState::PendingImport
    );
    // Deleting the material: the key waits for it again and signs nothing.
    kms.delete_imported_key_material(DeleteImportedKeyMaterialRequest {
        key_id: key.clone(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        describe(&kms, key.as_str()).key_state,
        KeyState::PendingImport
    );
    let r = kms.sign(SignRequest {
        key_id: key.clone(),
        message: b"m".to_vec(),
        signing_algorithm: Some(SigningAlgorithm::EcdsaSha256),
        ..Default::default()
    });
    assert_eq!(code(r), "KMSInvalidStateException");
    import_with(
        &kms,
        &key,
        WrappingAlgorithm::RsaesOaepSha256,
        dir.path(),
        &f("a.der"),
    )
    .unwrap();
    assert_eq!(describe(&kms, key.as_str()).key_state, KeyState::Enabled);
}

/// HMAC material of every length AWS accepts, with every wrapping
/// algorithm; the MAC is openssl's HMAC of the same key; the lengths
/// outside the spec's range are refused. It survives reopening the store
/// (including a 30-byte HMAC_224 key, whose stored form is 32 bytes long,
/// as long as AES material).
#[test]
fn openssl_wrapped_hmac_keys_import_and_mac() {
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let f = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    std::fs::write(f("msg.bin"), b"mac me").unwrap();
    let open = || {
        Kms::builder(ACCOUNT, REGION)
            .clock(ManualClock::new(T0))
            .argon2_params(strongroom::Argon2Params {
                m_kib: 256,
                t: 1,
                p: 1,
            })
            .open_file(store.path(), RootKey::raw([0x42; 32]))
            .unwrap()
    };
    let mut made = Vec::new();
    {
        let kms = open();
        let cases = [
            (
                KeySpec::Hmac224,
                MacAlgorithm::HmacSha224,
                "SHA224",
                [28usize, 30, 64],
            ),
            (
                KeySpec::Hmac256,
                MacAlgorithm::HmacSha256,
                "SHA256",
                [32, 48, 64],
            ),
            (
                KeySpec::Hmac384,
                MacAlgorithm::HmacSha384,
                "SHA384",
                [48, 100, 128],
            ),
            (
                KeySpec::Hmac512,
                MacAlgorithm::HmacSha512,
                "SHA512",
                [64, 65, 128],
            ),
        ];
        for (i, (spec, alg, digest, lens)) in cases.into_iter().enumerate() {
            for (j, len) in lens.into_iter().enumerate() {
                let wrap = ALL_WRAPPING[(i + j) % 4];
                openssl(&["rand", "-out", &f("hmac.bin"), &len.to_string()]);
                let hexkey = hex::encode(std::fs::read(f("hmac.bin")).unwrap());
                let key = external_of(&kms, spec, KeyUsage::GenerateVerifyMac);
                import_with(&kms, &key, wrap, dir.path(), &f("hmac.bin"))
                    .unwrap_or_else(|e| panic!("{spec} {len} {wrap}: {e}"));
                let want = openssl_out(&[
                    "dgst",
                    &format!("-{}", digest.to_lowercase()),
                    "-mac",
                    "HMAC",
                    "-macopt",
                    &format!("hexkey:{hexkey}"),
                    "-binary",
                    &f("msg.bin"),
                ]);
                let mac = kms
                    .generate_mac(GenerateMacRequest {
                        key_id: key.clone(),
                        message: b"mac me".to_vec(),
                        mac_algorithm: Some(alg),
                        ..Default::default()
                    })
                    .unwrap()
                    .mac;
                assert_eq!(mac, want, "{spec} {len} bytes {wrap}");
                made.push((key, alg, want));
            }
            let (lo, hi) = (
                lens[0],
                if spec == KeySpec::Hmac224 || spec == KeySpec::Hmac256 {
                    64
                } else {
                    128
                },
            );
            for bad in [lo - 1, hi + 1] {
                openssl(&["rand", "-out", &f("hmac.bin"), &bad.to_string()]);
                let key = external_of(&kms, spec, KeyUsage::GenerateVerifyMac);
                let e = import_with(
                    &kms,
                    &key,
                    WrappingAlgorithm::RsaAesKeyWrapSha256,
                    dir.path(),
                    &f("hmac.bin"),
                )
                .unwrap_err();
                assert_eq!(e.code(), ErrorCode::IncorrectKeyMaterial, "{spec} {bad}");
                assert!(e.message().contains(&format!("{lo} to {hi} bytes")), "{e}");
            }
        }
    }
    let kms = open();
    for (key, alg, want) in made {
        let mac = kms
            .generate_mac(GenerateMacRequest {
                key_id: key.clone(),
                message: b"mac me".to_vec(),
                mac_algorithm: Some(alg),
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{key} after reopen: {e}"))
            .mac;
        assert_eq!(mac, want);
    }
}

/// Symmetric material with the SHA-1 wrapping algorithms too.
#[test]
fn openssl_wrapped_symmetric_material_with_sha1_wrapping() {
    let (kms, _) = kms();
    let dir = tempfile::tempdir().unwrap();
    let f = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    openssl(&["rand", "-out", &f("material.bin"), "32"]);
    for wrap in [
        WrappingAlgorithm::RsaesOaepSha1,
        WrappingAlgorithm::RsaAesKeyWrapSha1,
    ] {
        let key = external(&kms);
        import_with(&kms, &key, wrap, dir.path(), &f("material.bin")).unwrap();
        let blob = enc(&kms, &key, b"sha1-wrapped", &Default::default());
        assert_eq!(
            dec(&kms, &blob, &Default::default()).unwrap(),
            b"sha1-wrapped"
        );
        // Wrapped with the other hash than the token's algorithm: refused.
        let p = params(&kms, &key, wrap);
        let other = match wrap {
            WrappingAlgorithm::RsaesOaepSha1 => WrappingAlgorithm::RsaesOaepSha256,
            _ => WrappingAlgorithm::RsaAesKeyWrapSha256,
        };
        let wrapped = openssl_wrap(dir.path(), other, &p.public_key, &f("material.bin"));
        let r = import(
            &kms,
            &key,
            &p.import_token,
            wrapped,
            None,
            ExpirationModel::KeyMaterialDoesNotExpire,
        );
        assert_eq!(r.unwrap_err().code(), ErrorCode::InvalidCiphertext);
    }
}
