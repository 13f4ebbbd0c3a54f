//! Several imported materials per symmetric key (AWS since 2025):
//! `ImportType`, `KeyMaterialId`, `KeyMaterialDescription`,
//! `PENDING_ROTATION`, RotateKeyOnDemand of EXTERNAL keys, per-material
//! deletion and expiry, ListKeyRotations `IncludeKeyMaterial`.
mod common;
use common::*;
use p256::pkcs8::DecodePublicKey;
use strongroom::api::*;
use strongroom::model::*;
use strongroom::{ErrorCode, Kms, ManualClock, MemoryStore, RootKey};

const DAY: u64 = 86_400_000;
const A: [u8; 32] = [0x11; 32];
const B: [u8; 32] = [0x22; 32];
const C: [u8; 32] = [0x33; 32];

fn open(store: &MemoryStore, clock: &ManualClock) -> Kms {
    Kms::builder(ACCOUNT, REGION)
        .clock(clock.clone())
        .rng(strongroom::DangerousSeededRng::new([9; 32]))
        .open(store.clone(), RootKey::raw([9; 32]))
        .unwrap()
}

fn external(kms: &Kms, spec: Option<KeySpec>, usage: Option<KeyUsage>) -> String {
    kms.create_key(CreateKeyRequest {
        origin: Some(Origin::External),
        key_spec: spec,
        key_usage: usage,
        ..Default::default()
    })
    .unwrap()
    .key_metadata
    .key_id
}

/// A fresh token and `material` wrapped for it (RSAES_OAEP_SHA_256).
fn wrapped(kms: &Kms, key: &str, material: &[u8]) -> (String, Vec<u8>) {
    let p = kms
        .get_parameters_for_import(GetParametersForImportRequest {
            key_id: key.into(),
            wrapping_algorithm: Some(WrappingAlgorithm::RsaesOaepSha256),
            wrapping_key_spec: Some(WrappingKeySpec::Rsa2048),
        })
        .unwrap();
    let pk = rsa::PublicKey::from_public_key_der(&p.public_key).unwrap();
    let w = pk
        .encrypt(
            &mut TestRng(5),
            rsa::Oaep::<rsa::sha2::Sha256>::new(),
            material,
        )
        .unwrap();
    (p.import_token, w)
}

/// Import `material` with these members; the material id on success.
fn import(
    kms: &Kms,
    key: &str,
    material: &[u8],
    f: impl FnOnce(&mut ImportKeyMaterialRequest),
) -> strongroom::Result<String> {
    let (token, w) = wrapped(kms, key, material);
    let mut req = ImportKeyMaterialRequest {
        key_id: key.into(),
        import_token: token,
        encrypted_key_material: w,
        expiration_model: Some(ExpirationModel::KeyMaterialDoesNotExpire),
        ..Default::default()
    };
    f(&mut req);
    Ok(kms.import_key_material(req)?.key_material_id)
}

/// The error code of an import that must fail.
fn refused(
    kms: &Kms,
    key: &str,
    material: &[u8],
    f: impl FnOnce(&mut ImportKeyMaterialRequest),
) -> ErrorCode {
    import(kms, key, material, f).unwrap_err().code()
}

fn rotations(kms: &Kms, key: &str, all: bool) -> Vec<RotationsListEntry> {
    kms.list_key_rotations(ListKeyRotationsRequest {
        key_id: key.into(),
        include_key_material: all.then(|| "ALL_KEY_MATERIAL".into()),
        ..Default::default()
    })
    .unwrap()
    .rotations
}

fn rotate(kms: &Kms, key: &str) -> strongroom::Result<KeyIdResponse> {
    kms.rotate_key_on_demand(KeyIdRequest { key_id: key.into() })
}

fn delete(kms: &Kms, key: &str, material: Option<&str>) -> strongroom::Result<Option<String>> {
    Ok(kms
        .delete_imported_key_material(DeleteImportedKeyMaterialRequest {
            key_id: key.into(),
            key_material_id: material.map(String::from),
        })?
        .key_material_id)
}

fn encrypt(kms: &Kms, key: &str) -> strongroom::Result<EncryptResponse> {
    kms.encrypt(EncryptRequest {
        key_id: key.into(),
        plaintext: b"several materials".into(),
        ..Default::default()
    })
}

/// A blob in the documented format (docs/formats/ciphertext-blob.md) made
/// outside Strongroom with `material` as the backing key of `material_id`,
/// under the empty encryption context — what the holder of imported
/// material can always make.
fn forge(key: &str, material: &[u8; 32], material_id: &str, pt: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let salt = [7u8; 32];
    let mut blob = vec![1u8, key.len() as u8];
    blob.extend_from_slice(key.as_bytes());
    blob.extend_from_slice(&hex::decode(material_id).unwrap());
    blob.extend_from_slice(&salt);
    let mut okm = [0u8; 44];
    hkdf::Hkdf::<sha2::Sha256>::new(Some(&salt), material)
        .expand(b"strongroom/v1/blob", &mut okm)
        .unwrap();
    let aad = [blob.clone(), vec![0, 0, 0, 0]].concat();
    let ct = aes_gcm::Aes256Gcm::new_from_slice(&okm[..32])
        .unwrap()
        .encrypt(
            aes_gcm::Nonce::from_slice(&okm[32..]),
            Payload { msg: pt, aad: &aad },
        )
        .unwrap();
    blob.extend_from_slice(&ct);
    blob
}

#[test]
fn imported_materials_rotate_on_demand_and_old_ciphertexts_keep_decrypting() {
    let clock = ManualClock::new(T0);
    let store = MemoryStore::new();
    let kms = open(&store, &clock);
    let key = external(&kms, None, None);
    // EXISTING_KEY_MATERIAL before any material: nothing to match.
    assert_eq!(
        refused(&kms, &key, &A, |r| {
            r.import_type = Some(ImportType::ExistingKeyMaterial)
        }),
        ErrorCode::IncorrectKeyMaterial
    );
    // The first import defaults to NEW_KEY_MATERIAL and becomes current.
    let id_a = import(&kms, &key, &A, |r| {
        r.key_material_description = Some("first material".into())
    })
    .unwrap();
    let md = describe(&kms, &key);
    assert_eq!(md.key_state, KeyState::Enabled);
    assert_eq!(md.current_key_material_id.as_deref(), Some(id_a.as_str()));
    assert_eq!(
        md.expiration_model,
        Some(ExpirationModel::KeyMaterialDoesNotExpire)
    );
    let blob_a = encrypt(&kms, &key).unwrap();
    assert_eq!(blob_a.key_material_id, id_a);
    // No material pending rotation: nothing to rotate to.
    assert_eq!(
        rotate(&kms, &key).unwrap_err().code(),
        ErrorCode::KmsInvalidState
    );
    // New material waits for the rotation.
    let valid_to = T0 + 30 * DAY;
    let id_b = import(&kms, &key, &B, |r| {
        r.import_type = Some(ImportType::NewKeyMaterial);
        r.key_material_description = Some("second material".into());
        r.expiration_model = Some(ExpirationModel::KeyMaterialExpires);
        r.valid_to_ms = Some(valid_to);
    })
    .unwrap();
    assert_ne!(id_a, id_b);
    assert!(rotations(&kms, &key, false).is_empty());
    let all = rotations(&kms, &key, true);
    assert_eq!(all.len(), 2);
    assert_eq!(
        (
            all[0].key_material_id.as_str(),
            all[0].key_material_state,
            all[0].import_state,
            all[0].key_material_description.as_deref(),
            all[0].expiration_model,
            all[0].valid_to_ms,
            all[0].rotation_date_ms,
            all[0].rotation_type,
        ),
        (
            id_a.as_str(),
            KeyMaterialState::Current,
            Some(ImportState::Imported),
            Some("first material"),
            Some(ExpirationModel::KeyMaterialDoesNotExpire),
            None,
            None,
            None
        )
    );
    assert_eq!(
        (
            all[1].key_material_id.as_str(),
            all[1].key_material_state,
            all[1].import_state,
            all[1].key_material_description.as_deref(),
            all[1].expiration_model,
            all[1].valid_to_ms,
            all[1].rotation_date_ms,
        ),
        (
            id_b.as_str(),
            KeyMaterialState::PendingRotation,
            Some(ImportState::Imported),
            Some("second material"),
            Some(ExpirationModel::KeyMaterialExpires),
            Some(valid_to),
            None
        )
    );
    // Pending material is not the key's yet: encryption still uses A, and
    // KeyMetadata's ValidTo counts only associated material.
    assert_eq!(encrypt(&kms, &key).unwrap().key_material_id, id_a);
    assert_eq!(describe(&kms, &key).valid_to_ms, None);
    // One material pending rotation at a time.
    assert_eq!(
        refused(&kms, &key, &C, |r| {
            r.import_type = Some(ImportType::NewKeyMaterial)
        }),
        ErrorCode::KmsInvalidState
    );
    clock.advance_ms(1000);
    rotate(&kms, &key).unwrap();
    let md = describe(&kms, &key);
    assert_eq!(md.current_key_material_id.as_deref(), Some(id_b.as_str()));
    assert_eq!(md.valid_to_ms, Some(valid_to));
    assert_eq!(
        md.expiration_model,
        Some(ExpirationModel::KeyMaterialExpires)
    );
    let done = rotations(&kms, &key, false);
    assert_eq!(done.len(), 1);
    assert_eq!(
        (
            done[0].key_material_id.as_str(),
            done[0].key_material_state,
            done[0].rotation_date_ms,
            done[0].rotation_type
        ),
        (
            id_b.as_str(),
            KeyMaterialState::Current,
            Some(T0 + 1000),
            Some(RotationType::OnDemand)
        )
    );
    assert_eq!(
        rotations(&kms, &key, true)[0].key_material_state,
        KeyMaterialState::NonCurrent
    );
    let st = kms
        .get_key_rotation_status(KeyIdRequest {
            key_id: key.clone(),
        })
        .unwrap();
    assert_eq!(
        (st.key_rotation_enabled, st.on_demand_rotation_start_date_ms),
        (false, Some(T0 + 1000))
    );
    let blob_b = encrypt(&kms, &key).unwrap();
    assert_eq!(blob_b.key_material_id, id_b);
    let ctx = Default::default();
    assert_eq!(
        dec(&kms, &blob_a.ciphertext_blob, &ctx).unwrap(),
        b"several materials"
    );
    assert_eq!(
        dec(&kms, &blob_b.ciphertext_blob, &ctx).unwrap(),
        b"several materials"
    );

    // Re-import rules: the material must be the one named, and be the key's.
    assert_eq!(
        refused(&kms, &key, &A, |r| {
            r.import_type = Some(ImportType::NewKeyMaterial)
        }),
        ErrorCode::IncorrectKeyMaterial
    );
    assert_eq!(
        refused(&kms, &key, &A, |r| r.key_material_id = Some(id_b.clone())),
        ErrorCode::IncorrectKeyMaterial
    );
    assert_eq!(
        refused(&kms, &key, &A, |r| r.key_material_id = Some("0".repeat(64))),
        ErrorCode::NotFound
    );
    assert_eq!(
        refused(&kms, &key, &A, |r| {
            r.key_material_id = Some("AB".repeat(32))
        }),
        ErrorCode::Validation
    );
    assert_eq!(
        refused(&kms, &key, &A, |r| {
            r.import_type = Some(ImportType::NewKeyMaterial);
            r.key_material_id = Some(id_a.clone());
        }),
        ErrorCode::Validation
    );
    assert_eq!(
        refused(&kms, &key, &C, |r| r.import_type = None),
        ErrorCode::IncorrectKeyMaterial,
        "the default after the first import is EXISTING_KEY_MATERIAL"
    );
    for bad in ["", "no;semicolons", &"x".repeat(257)] {
        assert_eq!(
            refused(&kms, &key, &A, |r| r.key_material_description =
                Some(bad.into())),
            ErrorCode::Validation,
            "{bad:?}"
        );
    }

    // Deleting non-current material A: the key needs all of its materials.
    assert_eq!(delete(&kms, &key, Some(&id_a)).unwrap(), Some(id_a.clone()));
    assert_eq!(describe(&kms, &key).key_state, KeyState::PendingImport);
    assert_eq!(
        encrypt(&kms, &key).unwrap_err().code(),
        ErrorCode::KmsInvalidState
    );
    // ListKeyRotations tells which material to bring back.
    let all = rotations(&kms, &key, true);
    assert_eq!(
        all.iter()
            .map(|e| (e.key_material_id.as_str(), e.import_state))
            .collect::<Vec<_>>(),
        vec![
            (id_a.as_str(), Some(ImportState::PendingImport)),
            (id_b.as_str(), Some(ImportState::Imported))
        ]
    );
    // Deleting it again has no effect; an unknown id is NotFound.
    assert_eq!(delete(&kms, &key, Some(&id_a)).unwrap(), Some(id_a.clone()));
    assert_eq!(
        delete(&kms, &key, Some(&"f".repeat(64)))
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );
    // Re-import A (EXISTING by default, naming it): its description stays.
    assert_eq!(
        import(&kms, &key, &A, |r| r.key_material_id = Some(id_a.clone())).unwrap(),
        id_a
    );
    assert_eq!(describe(&kms, &key).key_state, KeyState::Enabled);
    assert_eq!(
        rotations(&kms, &key, true)[0]
            .key_material_description
            .as_deref(),
        Some("first material")
    );
    assert_eq!(
        dec(&kms, &blob_a.ciphertext_blob, &ctx).unwrap(),
        b"several materials"
    );

    // Everything survives reopening the store.
    kms.flush().unwrap();
    drop(kms);
    let kms = open(&store, &clock);
    assert_eq!(
        rotations(&kms, &key, true),
        all_imported(&rotations(&kms, &key, true))
    );
    assert_eq!(
        dec(&kms, &blob_a.ciphertext_blob, &ctx).unwrap(),
        b"several materials"
    );

    // B expires on its own date: the key goes to PendingImport until B is
    // imported again; A is untouched. (The clock moves in steps the
    // jump guard accepts.)
    for _ in 0..6 {
        clock.advance_ms(5 * DAY);
        describe(&kms, &key);
    }
    let md = describe(&kms, &key);
    assert_eq!(
        (md.key_state, md.valid_to_ms),
        (KeyState::PendingImport, None)
    );
    let all = rotations(&kms, &key, true);
    assert_eq!(
        (all[0].import_state, all[1].import_state, all[1].valid_to_ms),
        (
            Some(ImportState::Imported),
            Some(ImportState::PendingImport),
            None
        )
    );
    import(&kms, &key, &B, |_| {}).unwrap();
    assert_eq!(describe(&kms, &key).key_state, KeyState::Enabled);
    assert_eq!(
        dec(&kms, &blob_b.ciphertext_blob, &ctx).unwrap(),
        b"several materials"
    );
    // DeleteImportedKeyMaterial without an id deletes the current material.
    assert_eq!(delete(&kms, &key, None).unwrap(), Some(id_b));
    assert_eq!(describe(&kms, &key).key_state, KeyState::PendingImport);
}

fn all_imported(v: &[RotationsListEntry]) -> Vec<RotationsListEntry> {
    let mut v = v.to_vec();
    for e in &mut v {
        assert_eq!(e.import_state, Some(ImportState::Imported));
    }
    v
}

#[test]
fn pending_material_decrypts_nothing_and_can_be_replaced() {
    let clock = ManualClock::new(T0);
    let store = MemoryStore::new();
    let kms = open(&store, &clock);
    let key = external(&kms, None, None);
    let id_a = import(&kms, &key, &A, |_| {}).unwrap();
    let ctx = Default::default();
    // The forgery is well made: under the current material it decrypts.
    assert_eq!(
        dec(&kms, &forge(&key, &A, &id_a, b"made outside"), &ctx).unwrap(),
        b"made outside"
    );
    let id_b = import(&kms, &key, &B, |r| {
        r.import_type = Some(ImportType::NewKeyMaterial)
    })
    .unwrap();
    // Material pending rotation is in the HSM but not the key's: a blob
    // naming it is refused, opaquely.
    let e = dec(&kms, &forge(&key, &B, &id_b, b"made outside"), &ctx).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidCiphertext);
    let e = kms
        .re_encrypt(ReEncryptRequest {
            ciphertext_blob: forge(&key, &B, &id_b, b"made outside"),
            destination_key_id: key.clone(),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidCiphertext);
    // Deleting pending material forgets it; the key stays Enabled.
    let names = |s: &MemoryStore| {
        let mut s = s.clone();
        strongroom::Store::load(&mut s)
            .unwrap()
            .into_keys()
            .filter(|n| n.starts_with("mat/"))
            .count()
    };
    kms.flush().unwrap();
    assert_eq!(names(&store), 2);
    assert_eq!(delete(&kms, &key, Some(&id_b)).unwrap(), Some(id_b.clone()));
    kms.flush().unwrap();
    assert_eq!(
        names(&store),
        1,
        "the pending material's sealed entry is gone"
    );
    assert_eq!(describe(&kms, &key).key_state, KeyState::Enabled);
    assert_eq!(rotations(&kms, &key, true).len(), 1);
    assert_eq!(
        rotate(&kms, &key).unwrap_err().code(),
        ErrorCode::KmsInvalidState
    );
    // Other material takes its place and is rotated to.
    let id_c = import(&kms, &key, &C, |r| {
        r.import_type = Some(ImportType::NewKeyMaterial)
    })
    .unwrap();
    rotate(&kms, &key).unwrap();
    assert_eq!(
        describe(&kms, &key).current_key_material_id.as_deref(),
        Some(id_c.as_str())
    );
    assert_eq!(
        rotations(&kms, &key, true)
            .iter()
            .map(|e| e.key_material_id.clone())
            .collect::<Vec<_>>(),
        vec![id_a, id_c]
    );
    // Pending material that expires is forgotten the same way.
    let id_b = import(&kms, &key, &B, |r| {
        r.import_type = Some(ImportType::NewKeyMaterial);
        r.expiration_model = Some(ExpirationModel::KeyMaterialExpires);
        r.valid_to_ms = Some(T0 + DAY);
    })
    .unwrap();
    assert_eq!(rotations(&kms, &key, true).len(), 3);
    clock.advance_ms(DAY);
    assert_eq!(describe(&kms, &key).key_state, KeyState::Enabled);
    let all = rotations(&kms, &key, true);
    assert!(all.iter().all(|e| e.key_material_id != id_b), "{all:?}");
}

#[test]
fn import_type_and_material_ids_are_for_symmetric_keys_only() {
    let (kms, _) = kms();
    let key = external(
        &kms,
        Some(KeySpec::Hmac256),
        Some(KeyUsage::GenerateVerifyMac),
    );
    assert_eq!(
        refused(&kms, &key, &A, |r| {
            r.import_type = Some(ImportType::NewKeyMaterial)
        }),
        ErrorCode::Validation
    );
    assert_eq!(
        refused(&kms, &key, &A, |r| {
            r.key_material_description = Some("x".into())
        }),
        ErrorCode::Validation
    );
    let id = import(&kms, &key, &A, |_| {}).unwrap();
    // One material, ever: re-imports only, no rotation.
    assert_eq!(import(&kms, &key, &A, |_| {}).unwrap(), id);
    assert_eq!(
        import(&kms, &key, &B, |_| {}).unwrap_err().code(),
        ErrorCode::IncorrectKeyMaterial
    );
    assert_eq!(
        rotate(&kms, &key).unwrap_err().code(),
        ErrorCode::UnsupportedOperation
    );
    // Keys with generated material have no imports to rotate to.
    let own = new_key(&kms);
    assert_eq!(
        kms.delete_imported_key_material(DeleteImportedKeyMaterialRequest {
            key_id: own,
            ..Default::default()
        })
        .unwrap_err()
        .code(),
        ErrorCode::UnsupportedOperation
    );
}

fn region(name: &str, clock: &ManualClock, seed: u8) -> Kms {
    Kms::builder(ACCOUNT, name)
        .clock(clock.clone())
        .rng(strongroom::DangerousSeededRng::new([seed; 32]))
        .in_memory()
        .unwrap()
}

fn external_mrk(kms: &Kms) -> String {
    kms.create_key(CreateKeyRequest {
        origin: Some(Origin::External),
        multi_region: true,
        ..Default::default()
    })
    .unwrap()
    .key_metadata
    .key_id
}

fn replicate(primary: &Kms, key: &str, replica: &Kms) -> ReplicateKeyResponse {
    primary
        .replicate_key(
            ReplicateKeyRequest {
                key_id: key.into(),
                replica_region: replica.region().into(),
                ..Default::default()
            },
            replica,
        )
        .unwrap()
}

/// AWS: a replica of an imported key starts without material; the same
/// material is imported into each replica (never shipped between them),
/// and each region's material is deleted or expires on its own.
#[test]
fn multi_region_replicas_import_their_primarys_material() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 1);
    let eu = region("eu-west-1", &clock, 2);
    let ap = region("ap-south-1", &clock, 3);
    let key = external_mrk(&us);
    let id_a = import(&us, &key, &A, |_| {}).unwrap();
    let md = replicate(&us, &key, &eu).replica_key_metadata;
    assert_eq!(md.key_state, KeyState::PendingImport, "no material travels");
    assert_eq!(md.current_key_material_id.as_deref(), Some(id_a.as_str()));
    let listed = rotations(&eu, &key, true);
    assert_eq!(
        listed
            .iter()
            .map(|e| (e.key_material_id.as_str(), e.import_state))
            .collect::<Vec<_>>(),
        vec![(id_a.as_str(), Some(ImportState::PendingImport))]
    );
    let blob = encrypt(&us, &key).unwrap().ciphertext_blob;
    assert_eq!(
        dec(&eu, &blob, &Default::default()).unwrap_err().code(),
        ErrorCode::KmsInvalidState
    );
    // Only the primary's material, and never as new material.
    assert_eq!(
        refused(&eu, &key, &B, |_| {}),
        ErrorCode::IncorrectKeyMaterial
    );
    assert_eq!(
        refused(&eu, &key, &A, |r| {
            r.import_type = Some(ImportType::NewKeyMaterial)
        }),
        ErrorCode::UnsupportedOperation
    );
    assert_eq!(import(&eu, &key, &A, |_| {}).unwrap(), id_a);
    assert_eq!(describe(&eu, &key).key_state, KeyState::Enabled);
    assert_eq!(
        dec(&eu, &blob, &Default::default()).unwrap(),
        b"several materials"
    );
    let back = encrypt(&eu, &key).unwrap().ciphertext_blob;
    assert_eq!(
        dec(&us, &back, &Default::default()).unwrap(),
        b"several materials"
    );
    // Deleting a replica's material leaves the primary alone.
    delete(&eu, &key, None).unwrap();
    assert_eq!(describe(&eu, &key).key_state, KeyState::PendingImport);
    assert_eq!(describe(&us, &key).key_state, KeyState::Enabled);

    // A primary replicated before its first import: the replica learns the
    // material's id when the primary imports (linked regions), and only
    // then takes the import.
    let early = external_mrk(&us);
    let md = replicate(&us, &early, &ap).replica_key_metadata;
    assert_eq!(
        (md.key_state, md.current_key_material_id),
        (KeyState::PendingImport, None)
    );
    assert_eq!(
        import(&ap, &early, &C, |_| {}).unwrap_err().code(),
        ErrorCode::KmsInvalidState
    );
    let id_c = import(&us, &early, &C, |_| {}).unwrap();
    assert_eq!(
        describe(&ap, &early).current_key_material_id.as_deref(),
        Some(id_c.as_str())
    );
    assert_eq!(
        import(&ap, &early, &B, |_| {}).unwrap_err().code(),
        ErrorCode::IncorrectKeyMaterial
    );
    assert_eq!(import(&ap, &early, &C, |_| {}).unwrap(), id_c);
    assert_eq!(describe(&ap, &early).key_state, KeyState::Enabled);
}

/// New material for a multi-Region key: imported into the primary
/// (PENDING_MULTI_REGION_IMPORT_AND_ROTATION), then into every replica
/// (PENDING_ROTATION), then the primary rotates and its replicas with it.
#[test]
fn multi_region_keys_rotate_to_new_material_once_every_replica_has_it() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 1);
    let eu = region("eu-west-1", &clock, 2);
    let ap = region("ap-south-1", &clock, 3);
    let key = external_mrk(&us);
    let id_a = import(&us, &key, &A, |_| {}).unwrap();
    replicate(&us, &key, &eu);
    replicate(&us, &key, &ap);
    import(&eu, &key, &A, |_| {}).unwrap();
    import(&ap, &key, &A, |_| {}).unwrap();
    let old = encrypt(&us, &key).unwrap().ciphertext_blob;
    let pending_state = |k: &Kms| {
        rotations(k, &key, true)
            .into_iter()
            .find(|e| e.key_material_id != id_a)
            .map(|e| (e.key_material_id, e.key_material_state, e.import_state))
    };
    let id_b = import(&us, &key, &B, |r| {
        r.import_type = Some(ImportType::NewKeyMaterial)
    })
    .unwrap();
    assert_eq!(
        pending_state(&us),
        Some((
            id_b.clone(),
            KeyMaterialState::PendingMultiRegionImportAndRotation,
            Some(ImportState::Imported)
        ))
    );
    // The replicas know the id and wait for their own import.
    assert_eq!(
        pending_state(&eu),
        Some((
            id_b.clone(),
            KeyMaterialState::PendingMultiRegionImportAndRotation,
            Some(ImportState::PendingImport)
        ))
    );
    assert_eq!(describe(&eu, &key).key_state, KeyState::Enabled);
    import(&eu, &key, &B, |_| {}).unwrap();
    let e = rotate(&us, &key).unwrap_err();
    assert_eq!(e.code(), ErrorCode::KmsInvalidState);
    assert!(
        e.to_string().contains("ap-south-1") && !e.to_string().contains("eu-west-1"),
        "{e}"
    );
    assert_eq!(
        rotate(&eu, &key).unwrap_err().code(),
        ErrorCode::UnsupportedOperation,
        "only the primary rotates"
    );
    import(&ap, &key, &B, |r| r.key_material_id = Some(id_b.clone())).unwrap();
    assert_eq!(
        pending_state(&us).unwrap().1,
        KeyMaterialState::PendingRotation
    );
    rotate(&us, &key).unwrap();
    for k in [&us, &eu, &ap] {
        let md = describe(k, &key);
        assert_eq!(
            (md.key_state, md.current_key_material_id.as_deref()),
            (KeyState::Enabled, Some(id_b.as_str())),
            "{}",
            k.region()
        );
        assert_eq!(
            dec(k, &old, &Default::default()).unwrap(),
            b"several materials"
        );
    }
    let fresh = encrypt(&eu, &key).unwrap();
    assert_eq!(fresh.key_material_id, id_b);
    assert_eq!(
        dec(&ap, &fresh.ciphertext_blob, &Default::default()).unwrap(),
        b"several materials"
    );
    // Pending material deleted at the primary goes from its replicas too;
    // a replica deleting its own copy keeps the id to import again.
    let id_c = import(&us, &key, &C, |r| {
        r.import_type = Some(ImportType::NewKeyMaterial)
    })
    .unwrap();
    import(&eu, &key, &C, |_| {}).unwrap();
    delete(&eu, &key, Some(&id_c)).unwrap();
    let at_eu = rotations(&eu, &key, true);
    let c = at_eu.iter().find(|e| e.key_material_id == id_c).unwrap();
    assert_eq!(
        (c.key_material_state, c.import_state),
        (
            KeyMaterialState::PendingMultiRegionImportAndRotation,
            Some(ImportState::PendingImport)
        )
    );
    assert_eq!(describe(&eu, &key).key_state, KeyState::Enabled);
    delete(&us, &key, Some(&id_c)).unwrap();
    for k in [&us, &eu, &ap] {
        assert!(
            rotations(k, &key, true)
                .iter()
                .all(|e| e.key_material_id != id_c),
            "{}",
            k.region()
        );
    }
}

/// Review findings: a promoted replica cannot rotate to pending material
/// it never imported itself (it would be Enabled without its current
/// material), and material expiring while a primary waits for its
/// replicas' deletion leaves it waiting (PendingReplicaDeletion, not
/// PendingImport, which no deletion window would ever end).
#[test]
fn promoted_replicas_and_waiting_primaries_keep_the_state_machine() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 1);
    let eu = region("eu-west-1", &clock, 2);
    let key = external_mrk(&us);
    import(&us, &key, &A, |_| {}).unwrap();
    replicate(&us, &key, &eu);
    import(&eu, &key, &A, |_| {}).unwrap();
    let id_b = import(&us, &key, &B, |r| {
        r.import_type = Some(ImportType::NewKeyMaterial)
    })
    .unwrap();
    us.update_primary_region(&key, &eu).unwrap();
    let e = rotate(&eu, &key).unwrap_err();
    assert_eq!(e.code(), ErrorCode::KmsInvalidState);
    assert!(e.to_string().contains("not imported here"), "{e}");
    import(&eu, &key, &B, |r| r.key_material_id = Some(id_b.clone())).unwrap();
    rotate(&eu, &key).unwrap();
    for k in [&us, &eu] {
        let md = describe(k, &key);
        assert_eq!(
            (md.key_state, md.current_key_material_id.as_deref()),
            (KeyState::Enabled, Some(id_b.as_str()))
        );
        encrypt(k, &key).unwrap();
    }

    let waiting = external_mrk(&us);
    import(&us, &waiting, &C, |r| {
        r.expiration_model = Some(ExpirationModel::KeyMaterialExpires);
        r.valid_to_ms = Some(us.now_ms() + DAY);
    })
    .unwrap();
    replicate(&us, &waiting, &eu);
    us.schedule_key_deletion(ScheduleKeyDeletionRequest {
        key_id: waiting.clone(),
        pending_window_in_days: Some(7),
    })
    .unwrap();
    assert_eq!(
        describe(&us, &waiting).key_state,
        KeyState::PendingReplicaDeletion
    );
    clock.advance_ms(2 * DAY);
    assert_eq!(
        describe(&us, &waiting).key_state,
        KeyState::PendingReplicaDeletion
    );
    assert_eq!(
        describe(&us, &waiting).valid_to_ms,
        None,
        "the material expired"
    );
}
