//! The state × operation matrix of kms-semantics §1, table-driven.
//!
//! Part 1 drives the public API for every state this build can reach
//! (Enabled, Disabled, PendingDeletion) and every key operation.
//! Part 2 checks the matrix function for all eight states, including those
//! reached only by later features (import, multi-Region, custom stores).
mod common;
use common::*;
use strongroom::api::*;
use strongroom::kms::{check_state, OpClass};
use strongroom::model::KeyState;
use strongroom::Kms;

const OK: &str = "OK";
const D: &str = "DisabledException";
const S: &str = "KMSInvalidStateException";
const U: &str = "UnsupportedOperationException";

type OpFn = fn(&Kms, &str, &[u8]) -> strongroom::Result<()>;

/// The states the API matrices reach, in the order of their expected rows.
const STATES: [KeyState; 5] = [
    KeyState::Enabled,
    KeyState::Disabled,
    KeyState::PendingDeletion,
    KeyState::PendingImport,
    KeyState::PendingReplicaDeletion,
];

fn ops() -> Vec<(&'static str, OpFn)> {
    vec![
        ("Encrypt", |k, id, _| {
            k.encrypt(EncryptRequest {
                key_id: id.into(),
                plaintext: b"x".to_vec().into(),
                ..Default::default()
            })
            .map(drop)
        }),
        ("Decrypt", |k, _, blob| {
            k.decrypt(DecryptRequest {
                ciphertext_blob: blob.to_vec(),
                ..Default::default()
            })
            .map(drop)
        }),
        ("ReEncrypt", |k, id, blob| {
            k.re_encrypt(ReEncryptRequest {
                ciphertext_blob: blob.to_vec(),
                destination_key_id: id.into(),
                ..Default::default()
            })
            .map(drop)
        }),
        ("GenerateDataKey", |k, id, _| {
            k.generate_data_key(GenerateDataKeyRequest {
                key_id: id.into(),
                number_of_bytes: Some(32),
                ..Default::default()
            })
            .map(drop)
        }),
        ("GenerateDataKeyWithoutPlaintext", |k, id, _| {
            k.generate_data_key_without_plaintext(GenerateDataKeyRequest {
                key_id: id.into(),
                number_of_bytes: Some(32),
                ..Default::default()
            })
            .map(drop)
        }),
        ("EnableKey", |k, id, _| {
            k.enable_key(KeyIdRequest { key_id: id.into() })
        }),
        ("DisableKey", |k, id, _| {
            k.disable_key(KeyIdRequest { key_id: id.into() })
        }),
        ("ScheduleKeyDeletion", |k, id, _| {
            k.schedule_key_deletion(ScheduleKeyDeletionRequest {
                key_id: id.into(),
                pending_window_in_days: Some(7),
            })
            .map(drop)
        }),
        ("CancelKeyDeletion", |k, id, _| {
            k.cancel_key_deletion(KeyIdRequest { key_id: id.into() })
                .map(drop)
        }),
        ("CreateAlias", |k, id, _| {
            k.create_alias(CreateAliasRequest {
                alias_name: "alias/matrix-new".into(),
                target_key_id: id.into(),
            })
        }),
        ("UpdateAlias(target)", |k, id, _| {
            k.update_alias(UpdateAliasRequest {
                alias_name: "alias/other".into(),
                target_key_id: id.into(),
            })
        }),
        ("UpdateAlias(source)", |k, _, _| {
            let other = k
                .list_aliases(ListAliasesRequest::default())
                .unwrap()
                .aliases
                .into_iter()
                .find(|a| a.alias_name == "alias/other")
                .unwrap()
                .target_key_id;
            k.update_alias(UpdateAliasRequest {
                alias_name: "alias/subject".into(),
                target_key_id: other,
            })
        }),
        ("DeleteAlias", |k, _, _| {
            k.delete_alias(DeleteAliasRequest {
                alias_name: "alias/subject".into(),
            })
        }),
        ("TagResource", |k, id, _| {
            k.tag_resource(TagResourceRequest {
                key_id: id.into(),
                tags: vec![Tag::new("t", "v")],
            })
        }),
        ("UntagResource", |k, id, _| {
            k.untag_resource(UntagResourceRequest {
                key_id: id.into(),
                tag_keys: vec!["t".into()],
            })
        }),
        ("UpdateKeyDescription", |k, id, _| {
            k.update_key_description(UpdateKeyDescriptionRequest {
                key_id: id.into(),
                description: "d".into(),
            })
        }),
        ("EnableKeyRotation", |k, id, _| {
            k.enable_key_rotation(EnableKeyRotationRequest {
                key_id: id.into(),
                rotation_period_in_days: None,
            })
        }),
        ("DisableKeyRotation", |k, id, _| {
            k.disable_key_rotation(KeyIdRequest { key_id: id.into() })
        }),
        ("RotateKeyOnDemand", |k, id, _| {
            k.rotate_key_on_demand(KeyIdRequest { key_id: id.into() })
                .map(drop)
        }),
        ("GetKeyRotationStatus", |k, id, _| {
            k.get_key_rotation_status(KeyIdRequest { key_id: id.into() })
                .map(drop)
        }),
        ("ListKeyRotations", |k, id, _| {
            k.list_key_rotations(ListKeyRotationsRequest {
                key_id: id.into(),
                ..Default::default()
            })
            .map(drop)
        }),
        ("CreateGrant", |k, id, _| {
            k.create_grant(CreateGrantRequest {
                key_id: id.into(),
                grantee_principal: "arn:aws:iam::111122223333:role/app".into(),
                operations: vec![strongroom::model::GrantOperation::Decrypt],
                ..Default::default()
            })
            .map(drop)
        }),
        ("DescribeKey", |k, id, _| {
            k.describe_key(DescribeKeyRequest {
                key_id: id.into(),
                ..Default::default()
            })
            .map(drop)
        }),
        ("ListResourceTags", |k, id, _| {
            k.list_resource_tags(ListResourceTagsRequest {
                key_id: id.into(),
                ..Default::default()
            })
            .map(drop)
        }),
        ("ListAliases(key)", |k, id, _| {
            k.list_aliases(ListAliasesRequest {
                key_id: Some(id.into()),
                ..Default::default()
            })
            .map(drop)
        }),
    ]
}

/// Expected outcome per state: Enabled, Disabled, PendingDeletion,
/// PendingImport (an EXTERNAL key whose material was deleted),
/// PendingReplicaDeletion (a multi-Region primary waiting for a replica).
fn expected(op: &str) -> [&'static str; 5] {
    match op {
        "Encrypt"
        | "Decrypt"
        | "ReEncrypt"
        | "GenerateDataKey"
        | "GenerateDataKeyWithoutPlaintext" => [OK, D, S, S, S],
        "EnableKey" | "DisableKey" => [OK, OK, S, S, S],
        "ScheduleKeyDeletion" => [OK, OK, S, OK, S],
        "CancelKeyDeletion" => [S, S, OK, S, OK],
        "CreateAlias" | "TagResource" | "UntagResource" | "UpdateKeyDescription" => {
            [OK, OK, S, OK, S]
        }
        "UpdateAlias(target)" => [OK, OK, S, OK, S],
        "UpdateAlias(source)" | "DeleteAlias" => [OK, OK, OK, OK, OK],
        // An EXTERNAL key missing material cannot rotate (U); with all its
        // materials it rotates on demand to imported material
        // (core/tests/import_materials.rs).
        "EnableKeyRotation" | "DisableKeyRotation" | "RotateKeyOnDemand" => [OK, D, S, U, S],
        "GetKeyRotationStatus" => [OK, OK, S, U, S],
        // An imported key missing material lists its materials and their
        // import state (which one to import again).
        "ListKeyRotations" => [OK, OK, S, OK, S],
        "DescribeKey" | "ListResourceTags" | "ListAliases(key)" => [OK, OK, OK, OK, OK],
        "CreateGrant" => [OK, D, S, S, S],
        other => panic!("no row for {other}"),
    }
}

/// A fresh KMS with the subject key in `state`, an alias on it, and
/// another key with alias/other.
fn setup(state: KeyState) -> (Kms, String, Vec<u8>) {
    let (kms, clock) = kms();
    let key = match state {
        KeyState::PendingImport => imported_key(&kms),
        KeyState::PendingReplicaDeletion => {
            kms.create_key(CreateKeyRequest {
                multi_region: true,
                ..Default::default()
            })
            .unwrap()
            .key_metadata
            .key_id
        }
        _ => new_key(&kms),
    };
    let other = new_key(&kms);
    kms.create_alias(CreateAliasRequest {
        alias_name: "alias/subject".into(),
        target_key_id: key.clone(),
    })
    .unwrap();
    kms.create_alias(CreateAliasRequest {
        alias_name: "alias/other".into(),
        target_key_id: other,
    })
    .unwrap();
    let blob = enc(&kms, &key, b"matrix", &Default::default());
    bring_to(&kms, &key, state, clock);
    (kms, key, blob)
}

/// An EXTERNAL key with imported material (the caller then deletes it).
fn imported_key(kms: &Kms) -> String {
    use p256::pkcs8::DecodePublicKey;
    let key = kms
        .create_key(CreateKeyRequest {
            origin: Some(strongroom::model::Origin::External),
            ..Default::default()
        })
        .unwrap()
        .key_metadata
        .key_id;
    let p = kms
        .get_parameters_for_import(GetParametersForImportRequest {
            key_id: key.clone(),
            wrapping_algorithm: Some(strongroom::model::WrappingAlgorithm::RsaesOaepSha256),
            wrapping_key_spec: Some(strongroom::model::WrappingKeySpec::Rsa2048),
        })
        .unwrap();
    let pk = rsa::PublicKey::from_public_key_der(&p.public_key).unwrap();
    let wrapped = pk
        .encrypt(
            &mut TestRng(1),
            rsa::Oaep::<rsa::sha2::Sha256>::new(),
            &[9u8; 32],
        )
        .unwrap();
    kms.import_key_material(ImportKeyMaterialRequest {
        key_id: key.clone(),
        import_token: p.import_token,
        encrypted_key_material: wrapped,
        valid_to_ms: None,
        expiration_model: Some(strongroom::model::ExpirationModel::KeyMaterialDoesNotExpire),
        ..Default::default()
    })
    .unwrap();
    key
}

#[test]
fn api_matrix_for_reachable_states() {
    let states = STATES;
    let mut checked = 0;
    for (name, op) in ops() {
        for (i, state) in states.iter().enumerate() {
            let (kms, key, blob) = setup(*state);
            let got = match op(&kms, &key, &blob) {
                Ok(()) => OK,
                Err(e) => e.code().as_str(),
            };
            assert_eq!(got, expected(name)[i], "{name} in {state}");
            checked += 1;
        }
    }
    assert_eq!(checked, ops().len() * 5);
}

#[test]
fn matrix_function_for_all_states() {
    use KeyState::*;
    use OpClass::*;
    // Columns: En, Dis, PendDel, PendReplDel, PendImport, Unavail, Creating, Updating
    let states = [
        Enabled,
        Disabled,
        PendingDeletion,
        PendingReplicaDeletion,
        PendingImport,
        Unavailable,
        Creating,
        Updating,
    ];
    let table: &[(OpClass, [&str; 8])] = &[
        (Crypto, [OK, D, S, S, S, S, S, OK]),
        (EnableDisable, [OK, OK, S, S, S, OK, S, S]),
        (ScheduleDeletion, [OK, OK, S, S, OK, OK, OK, S]),
        (CancelDeletion, [S, S, OK, OK, S, S, S, S]),
        (Metadata, [OK, OK, S, S, OK, OK, OK, OK]),
        (RotationConfig, [OK, D, S, S, U, U, S, OK]),
        (RotationRead, [OK, OK, S, S, U, U, S, OK]),
        (MaterialRead, [OK, OK, S, S, OK, U, S, OK]),
        (AliasTarget, [OK, OK, S, S, OK, OK, OK, OK]),
        (Always, [OK, OK, OK, OK, OK, OK, OK, OK]),
        (CreateGrant, [OK, D, S, S, S, OK, S, OK]),
        (ImportParams, [OK, OK, S, S, OK, U, S, S]),
        (ImportMaterial, [OK, OK, S, S, OK, U, S, OK]),
    ];
    for (class, row) in table {
        for (state, want) in states.iter().zip(row) {
            let got = match check_state(*class, *state, "arn:x") {
                Ok(()) => OK,
                Err(e) => {
                    assert!(e.message().starts_with("arn:x "), "{}", e.message());
                    e.code().as_str()
                }
            };
            assert_eq!(got, *want, "{class:?} in {state}");
        }
    }
}

/// The newer key specs (issue 17) through the same matrix: each spec's
/// operations in every state a key of that spec can reach. AWS's row for
/// cryptographic operations and GetPublicKey is [OK, D, S, S, S]; the
/// rotation operations refuse asymmetric keys (U) once the state allows
/// them to be asked.
#[test]
fn api_matrix_for_the_newer_key_specs() {
    use strongroom::asym::{MessageType, SigningAlgorithm};
    use strongroom::model::{KeySpec, KeyUsage, Origin};
    type SpecOp = fn(&Kms, &str, &Material) -> strongroom::Result<()>;
    /// What the operations need, made while the key was Enabled.
    struct Material {
        spec: KeySpec,
        signature: Vec<u8>,
        peer: Vec<u8>,
        encapsulated: Vec<u8>,
    }
    fn sign_alg(spec: KeySpec) -> SigningAlgorithm {
        match spec {
            KeySpec::EccSecgP256k1 => SigningAlgorithm::EcdsaSha256,
            KeySpec::EccNistP521 => SigningAlgorithm::EcdsaSha512,
            KeySpec::EccNistEdwards25519 => SigningAlgorithm::Ed25519Sha512,
            _ => SigningAlgorithm::MlDsaShake256,
        }
    }
    fn sign(k: &Kms, id: &str, spec: KeySpec) -> strongroom::Result<SignResponse> {
        k.sign(SignRequest {
            key_id: id.into(),
            message: b"matrix".to_vec(),
            message_type: Some(MessageType::Raw),
            signing_algorithm: Some(sign_alg(spec)),
            ..Default::default()
        })
    }
    let get_public_key: SpecOp = |k, id, _| {
        k.get_public_key(GetPublicKeyRequest {
            key_id: id.into(),
            ..Default::default()
        })
        .map(drop)
    };
    let rotate: SpecOp = |k, id, _| {
        k.rotate_key_on_demand(KeyIdRequest { key_id: id.into() })
            .map(drop)
    };
    let derive: SpecOp = |k, id, m| {
        k.derive_shared_secret(DeriveSharedSecretRequest {
            key_id: id.into(),
            key_agreement_algorithm: Some("ECDH".into()),
            public_key: m.peer.clone(),
            ..Default::default()
        })
        .map(drop)
    };
    let encapsulate: SpecOp = |k, id, _| {
        k.encapsulate(EncapsulateRequest {
            key_id: id.into(),
            encapsulation_algorithm: Some(strongroom::model::EncapsulationAlgorithm::MlKem),
            ..Default::default()
        })
        .map(drop)
    };
    let decapsulate: SpecOp = |k, id, m| {
        k.decapsulate(DecapsulateRequest {
            key_id: id.into(),
            shared_secret_ciphertext_blob: m.encapsulated.clone(),
            encapsulation_algorithm: Some(strongroom::model::EncapsulationAlgorithm::MlKem),
            ..Default::default()
        })
        .map(drop)
    };
    const CRYPTO: [&str; 5] = [OK, D, S, S, S];
    const ROTATE: [&str; 5] = [U, D, S, U, S];
    let signing = |spec| (spec, KeyUsage::SignVerify);
    // (spec, usage, can be imported)
    let specs = [
        (signing(KeySpec::EccSecgP256k1), true),
        (signing(KeySpec::EccNistP521), true),
        ((KeySpec::EccNistP521, KeyUsage::KeyAgreement), true),
        (signing(KeySpec::EccNistEdwards25519), false),
        (signing(KeySpec::MlDsa65), false),
        ((KeySpec::MlKem768, KeyUsage::EncapsulateDecapsulate), false),
    ];
    let states = STATES;
    let mut checked = 0;
    for ((spec, usage), importable) in specs {
        let mut ops: Vec<(&str, SpecOp, [&str; 5])> = vec![
            ("GetPublicKey", get_public_key, CRYPTO),
            ("RotateKeyOnDemand", rotate, ROTATE),
        ];
        match usage {
            KeyUsage::SignVerify => {
                ops.push(("Sign", |k, id, m| sign(k, id, m.spec).map(drop), CRYPTO));
                ops.push((
                    "Verify",
                    |k, id, m| {
                        k.verify(VerifyRequest {
                            key_id: id.into(),
                            message: b"matrix".to_vec(),
                            message_type: Some(MessageType::Raw),
                            signature: m.signature.clone(),
                            signing_algorithm: Some(sign_alg(m.spec)),
                            ..Default::default()
                        })
                        .map(drop)
                    },
                    CRYPTO,
                ));
            }
            KeyUsage::KeyAgreement => ops.push(("DeriveSharedSecret", derive, CRYPTO)),
            _ => {
                ops.push(("Encapsulate", encapsulate, CRYPTO));
                ops.push(("Decapsulate", decapsulate, CRYPTO));
            }
        }
        for (i, state) in states.iter().enumerate() {
            if *state == KeyState::PendingImport && !importable {
                continue; // AWS refuses EXTERNAL keys of this spec too
            }
            for (name, op, want) in &ops {
                let (kms, clock) = kms();
                let create = |origin: Option<Origin>, multi_region: bool| {
                    kms.create_key(CreateKeyRequest {
                        key_spec: Some(spec),
                        key_usage: Some(usage),
                        origin,
                        multi_region,
                        ..Default::default()
                    })
                    .unwrap()
                    .key_metadata
                    .key_id
                };
                let key = match state {
                    // An EXTERNAL key before its import.
                    KeyState::PendingImport => create(Some(Origin::External), false),
                    KeyState::PendingReplicaDeletion => create(None, true),
                    _ => create(None, false),
                };
                let other = create(None, false);
                let mut m = Material {
                    spec,
                    signature: vec![],
                    peer: vec![],
                    encapsulated: vec![],
                };
                let live = if *state == KeyState::PendingImport {
                    &other
                } else {
                    &key
                };
                match usage {
                    KeyUsage::SignVerify => m.signature = sign(&kms, live, spec).unwrap().signature,
                    KeyUsage::KeyAgreement => {
                        m.peer = kms
                            .get_public_key(GetPublicKeyRequest {
                                key_id: other.clone(),
                                ..Default::default()
                            })
                            .unwrap()
                            .public_key
                    }
                    _ => {
                        m.encapsulated = kms
                            .encapsulate(EncapsulateRequest {
                                key_id: live.clone(),
                                encapsulation_algorithm: Some(
                                    strongroom::model::EncapsulationAlgorithm::MlKem,
                                ),
                                ..Default::default()
                            })
                            .unwrap()
                            .shared_secret_ciphertext_blob
                    }
                }
                bring_to(&kms, &key, *state, clock.clone());
                let got = match op(&kms, &key, &m) {
                    Ok(()) => OK,
                    Err(e) => e.code().as_str(),
                };
                assert_eq!(got, want[i], "{name} on {spec} {usage} in {state}");
                checked += 1;
            }
        }
    }
    // 4 + 4 + 3 operations in 5 states, 4 + 4 + 4 in 4 (no EXTERNAL keys).
    assert_eq!(checked, 11 * 5 + 12 * 4);
}

/// Bring `key` (created for `state`: EXTERNAL for PendingImport,
/// multi-Region for PendingReplicaDeletion) to `state`.
fn bring_to(kms: &Kms, key: &str, state: KeyState, clock: strongroom::ManualClock) {
    let id = KeyIdRequest { key_id: key.into() };
    match state {
        KeyState::Enabled => {}
        KeyState::Disabled => kms.disable_key(id).unwrap(),
        KeyState::PendingDeletion => {
            kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
                key_id: key.into(),
                pending_window_in_days: Some(7),
            })
            .unwrap();
        }
        // No effect on an EXTERNAL key that never had material.
        KeyState::PendingImport => {
            kms.delete_imported_key_material(DeleteImportedKeyMaterialRequest {
                key_id: key.into(),
                ..Default::default()
            })
            .unwrap();
        }
        KeyState::PendingReplicaDeletion => await_replica_deletion(kms, key, clock),
        _ => unreachable!(),
    }
    assert_eq!(describe(kms, key).key_state, state);
}

/// A multi-Region primary with a replica in eu-west-1, scheduled for
/// deletion: PendingReplicaDeletion.
fn await_replica_deletion(kms: &Kms, key: &str, clock: strongroom::ManualClock) {
    let eu = Kms::builder(ACCOUNT, "eu-west-1")
        .clock(clock)
        .in_memory()
        .unwrap();
    kms.replicate_key(
        ReplicateKeyRequest {
            key_id: key.into(),
            replica_region: "eu-west-1".into(),
            ..Default::default()
        },
        &eu,
    )
    .unwrap();
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
        key_id: key.into(),
        pending_window_in_days: Some(7),
    })
    .unwrap();
}
