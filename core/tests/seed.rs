//! Seed files (`strongroom::seed`, `Kms::seed_key`): fixed key ids, fixed
//! material reproduced across stores, idempotence, conflicts, regions,
//! the account-root-only path, and no key bytes in errors or Debug.

mod common;

use common::*;
use strongroom::api::*;
use strongroom::kms::{SeedKeyRequest, SeedMaterial, SeedOutcome};
use strongroom::model::*;
use strongroom::seed::Seed;
use strongroom::{Caller, DangerousSeededRng, ErrorCode, Kms, ManualClock, Operation, RootKey};

const SEED: &str = include_str!("../../tests/fixtures/seed/seed.yaml");
const K1: &str = "1a2b3c4d-0000-4000-8000-000000000001";
const K2: &str = "1a2b3c4d-0000-4000-8000-000000000002";
const K3: &str = "1a2b3c4d-0000-4000-8000-000000000003";
const K4: &str = "1a2b3c4d-0000-4000-8000-000000000004";
const K5: &str = "1a2b3c4d-0000-4000-8000-000000000005";
const K6: &str = "1a2b3c4d-0000-4000-8000-000000000006";
const MRK: &str = "mrk-1a2b3c4d00004000800000000000000a";
const K1_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn store(region: &str, rng: u8) -> Kms {
    Kms::builder(ACCOUNT, region)
        .clock(ManualClock::new(T0))
        .rng(DangerousSeededRng::new([rng; 32]))
        .in_memory()
        .unwrap()
}

fn seeded(region: &str, rng: u8) -> Kms {
    let kms = store(region, rng);
    Seed::parse(SEED).unwrap().apply(&kms).unwrap();
    kms
}

/// The material ids of a key's rotations (ListKeyRotations, as AWS, lists
/// the versions after the first), oldest first.
fn material_ids(kms: &Kms, key: &str) -> Vec<String> {
    kms.list_key_rotations(ListKeyRotationsRequest {
        key_id: key.into(),
        ..Default::default()
    })
    .unwrap()
    .rotations
    .into_iter()
    .map(|r| r.key_material_id)
    .collect()
}

#[test]
fn fixed_material_is_the_same_key_in_two_fresh_stores() {
    // Different RNGs, different root keys: only the seed is shared.
    let a = seeded(REGION, 1);
    let b = seeded(REGION, 2);
    let ctx = context([("tenant", "acme")]);

    // Symmetric, through its alias; and the multi-Region key.
    for key in ["alias/payments", MRK] {
        let ct = enc(&a, key, b"across stores", &ctx);
        assert_eq!(dec(&b, &ct, &ctx).unwrap(), b"across stores");
        let ct = enc(&b, key, b"and back", &ctx);
        assert_eq!(dec(&a, &ct, &ctx).unwrap(), b"and back");
    }
    // The rotation history too: the same two rotations, oldest first.
    let ids = material_ids(&a, K1);
    assert_eq!(ids.len(), 2);
    assert_eq!(ids, material_ids(&b, K1));
    assert_eq!(
        describe(&a, K1).current_key_material_id,
        describe(&b, K1).current_key_material_id
    );

    // ECC: the same public key; a signature made in A verifies in B.
    let pk = |k: &Kms, id: &str| {
        k.get_public_key(GetPublicKeyRequest {
            key_id: id.into(),
            ..Default::default()
        })
        .unwrap()
        .public_key
    };
    assert_eq!(pk(&a, K3), pk(&b, K3));
    let sig = a
        .sign(SignRequest {
            key_id: "alias/signing".into(),
            message: b"signed in A".to_vec(),
            signing_algorithm: Some(SigningAlgorithm::EcdsaSha256),
            ..Default::default()
        })
        .unwrap()
        .signature;
    let ok = b
        .verify(VerifyRequest {
            key_id: K3.into(),
            message: b"signed in A".to_vec(),
            signature: sig.clone(),
            signing_algorithm: Some(SigningAlgorithm::EcdsaSha256),
            ..Default::default()
        })
        .unwrap();
    assert!(ok.signature_valid);
    let tampered = b.verify(VerifyRequest {
        key_id: K3.into(),
        message: b"signed in B".to_vec(),
        signature: sig,
        signing_algorithm: Some(SigningAlgorithm::EcdsaSha256),
        ..Default::default()
    });
    assert_eq!(code(tampered), "KMSInvalidSignatureException");

    // RSA: encrypted in A, decrypted in B.
    assert_eq!(pk(&a, K4), pk(&b, K4));
    let ct = a
        .encrypt(EncryptRequest {
            key_id: K4.into(),
            plaintext: b"rsa across stores".to_vec().into(),
            encryption_algorithm: Some(EncryptionAlgorithm::RsaesOaepSha256),
            ..Default::default()
        })
        .unwrap()
        .ciphertext_blob;
    let pt = b
        .decrypt(DecryptRequest {
            ciphertext_blob: ct,
            key_id: Some(K4.into()),
            encryption_algorithm: Some(EncryptionAlgorithm::RsaesOaepSha256),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(pt.plaintext.as_bytes(), b"rsa across stores");

    // HMAC: a MAC from A verifies in B.
    let mac = a
        .generate_mac(GenerateMacRequest {
            key_id: K5.into(),
            message: b"mac me".to_vec(),
            mac_algorithm: Some(MacAlgorithm::HmacSha256),
            ..Default::default()
        })
        .unwrap()
        .mac;
    b.verify_mac(VerifyMacRequest {
        key_id: K5.into(),
        message: b"mac me".to_vec(),
        mac,
        mac_algorithm: Some(MacAlgorithm::HmacSha256),
        ..Default::default()
    })
    .unwrap();
}

#[test]
fn fixed_symmetric_material_is_the_bytes_written() {
    // The seeded material is the bytes of the file: its material id is
    // HMAC-SHA256(material, "strongroom/v1/material-id" ‖ key id), as for
    // generated and imported material (docs/formats/store.md).
    use hmac::{Hmac, Mac};
    let kms = seeded(REGION, 3);
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(&hex::decode(K1_HEX).unwrap()).unwrap();
    m.update(b"strongroom/v1/material-id");
    m.update(K1.as_bytes());
    assert_eq!(
        describe(&kms, K1).current_key_material_id.unwrap(),
        hex::encode(m.finalize().into_bytes())
    );
}

#[test]
fn the_seed_sets_state_policies_tags_rotation_grants_and_identity_policies() {
    let kms = seeded(REGION, 4);
    let k1 = describe(&kms, K1);
    assert_eq!(
        k1.description,
        "symmetric, fixed material, two earlier versions"
    );
    assert!(k1.enabled);
    let rot = kms
        .get_key_rotation_status(KeyIdRequest { key_id: K1.into() })
        .unwrap();
    assert!(rot.key_rotation_enabled);
    assert_eq!(rot.rotation_period_in_days, Some(365));
    let tags = kms
        .list_resource_tags(ListResourceTagsRequest {
            key_id: K1.into(),
            ..Default::default()
        })
        .unwrap()
        .tags;
    assert_eq!(
        tags,
        vec![Tag::new("env", "test"), Tag::new("team", "payments")]
    );

    let k2 = describe(&kms, K2);
    assert_eq!(k2.key_state, KeyState::Disabled);
    assert_eq!(material_ids(&kms, K2).len(), 1);
    assert_eq!(describe(&kms, K3).key_usage, KeyUsage::SignVerify);
    assert_eq!(describe(&kms, K5).key_usage, KeyUsage::GenerateVerifyMac);
    let mrk = describe(&kms, MRK);
    let cfg = mrk.multi_region_configuration.unwrap();
    assert_eq!(cfg.multi_region_key_type, "PRIMARY");
    assert_eq!(cfg.replica_keys.len(), 1);
    assert_eq!(cfg.replica_keys[0].region, "eu-west-1");
    // Only in eu-west-1.
    assert_eq!(
        code(kms.describe_key(DescribeKeyRequest {
            key_id: K6.into(),
            ..Default::default()
        })),
        "NotFoundException"
    );

    // The key policy of K5 lets role/app MAC; nobody else but the root.
    let app = kms.as_caller(Caller::iam_role(ACCOUNT, "app"));
    let other = kms.as_caller(Caller::iam_role(ACCOUNT, "other"));
    let mac = |k: &Kms| {
        k.generate_mac(GenerateMacRequest {
            key_id: K5.into(),
            message: b"m".to_vec(),
            mac_algorithm: Some(MacAlgorithm::HmacSha256),
            ..Default::default()
        })
    };
    mac(&app).unwrap();
    assert_eq!(code(mac(&other)), "AccessDeniedException");

    // The identity policy lets role/app Encrypt (K1's default policy
    // delegates to the account); the grant lets it Decrypt only with the
    // context it names.
    let acme = context([("tenant", "acme")]);
    let ct = enc(&app, K1, b"for acme", &acme);
    assert_eq!(dec(&app, &ct, &acme).unwrap(), b"for acme");
    let other_ctx = context([("tenant", "globex")]);
    let ct2 = enc(&app, K1, b"for globex", &other_ctx);
    assert_eq!(code(dec(&app, &ct2, &other_ctx)), "AccessDeniedException");
    assert_eq!(code(dec(&other, &ct, &acme)), "AccessDeniedException");
}

#[test]
fn applying_twice_changes_nothing_and_later_api_changes_survive() {
    let kms = store(REGION, 5);
    let seed = Seed::parse(SEED).unwrap();
    let first = seed.apply(&kms).unwrap();
    // 6 keys of us-east-1, 3 aliases, 1 grant, 1 identity policy.
    assert_eq!(first.created.len(), 11, "{:?}", first.created);
    assert!(first.unchanged.is_empty());
    assert_eq!(first.insecure_keys, vec![K1, K3, K4, K5, MRK]);
    let commits = kms.commit_counter().unwrap();
    let before: Vec<KeyMetadata> = [K1, K2, K3, K4, K5, MRK]
        .iter()
        .map(|k| describe(&kms, *k))
        .collect();

    let second = seed.apply(&kms).unwrap();
    assert!(second.created.is_empty(), "{:?}", second.created);
    assert_eq!(second.unchanged.len(), 11);
    assert_eq!(kms.commit_counter().unwrap(), commits, "nothing written");
    let after: Vec<KeyMetadata> = [K1, K2, K3, K4, K5, MRK]
        .iter()
        .map(|k| describe(&kms, *k))
        .collect();
    assert_eq!(before, after);
    let grants = kms
        .list_grants(ListGrantsRequest {
            key_id: K1.into(),
            ..Default::default()
        })
        .unwrap()
        .grants;
    assert_eq!(grants.len(), 1);

    // Enabled through the API, rotated on demand: a third apply keeps both.
    kms.enable_key(KeyIdRequest { key_id: K2.into() }).unwrap();
    kms.rotate_key_on_demand(KeyIdRequest { key_id: K1.into() })
        .unwrap();
    seed.apply(&kms).unwrap();
    assert_eq!(describe(&kms, K2).key_state, KeyState::Enabled);
    assert_eq!(material_ids(&kms, K1).len(), 3);
}

#[test]
fn a_durable_store_reopened_is_seeded_once() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Kms::builder(ACCOUNT, REGION)
            .clock(ManualClock::new(T0))
            .open_file(dir.path(), RootKey::raw([9; 32]))
            .unwrap()
    };
    let seed = Seed::parse(SEED).unwrap();
    let ctx = context([("k", "v")]);
    let ct = {
        let kms = open();
        assert_eq!(seed.apply(&kms).unwrap().created.len(), 11);
        enc(&kms, "alias/global", b"durable", &ctx)
    };
    let kms = open();
    let again = seed.apply(&kms).unwrap();
    assert!(again.created.is_empty());
    assert_eq!(dec(&kms, &ct, &ctx).unwrap(), b"durable");
    // A fresh store seeded from the file reads it too.
    assert_eq!(dec(&seeded(REGION, 6), &ct, &ctx).unwrap(), b"durable");
}

#[test]
fn regions_get_their_keys_and_replicas_of_multi_region_keys() {
    let eu = seeded("eu-west-1", 7);
    assert_eq!(describe(&eu, K6).description, "only in eu-west-1");
    let cfg = describe(&eu, MRK).multi_region_configuration.unwrap();
    assert_eq!(cfg.multi_region_key_type, "REPLICA");
    assert_eq!(cfg.primary_key.region, "us-east-1");
    // The replica holds the primary's material.
    let us = seeded(REGION, 8);
    let ctx = context([("r", "1")]);
    let ct = enc(&us, MRK, b"from the primary", &ctx);
    assert_eq!(dec(&eu, &ct, &ctx).unwrap(), b"from the primary");
    assert_eq!(describe(&eu, "alias/global").key_id, MRK);
    // Linking the two (as the server does) keeps them working.
    us.link_region(&eu).unwrap();
    let ct = enc(&eu, MRK, b"after linking", &ctx);
    assert_eq!(dec(&us, &ct, &ctx).unwrap(), b"after linking");
    // A region the seed names nowhere gets the region-less keys only.
    let ap = seeded("ap-south-1", 9);
    describe(&ap, K1);
    assert_eq!(
        code(ap.describe_key(DescribeKeyRequest {
            key_id: MRK.into(),
            ..Default::default()
        })),
        "NotFoundException"
    );
}

#[test]
fn conflicts_are_typed_errors_never_overwrites() {
    let kms = seeded(REGION, 10);
    let conflict = |text: &str| {
        let e = Seed::parse(text).unwrap().apply(&kms).unwrap_err();
        assert_eq!(e.code(), ErrorCode::AlreadyExists, "{e}");
        e
    };
    let other_hex = "ff".repeat(32);
    let e = conflict(&format!(
        r#"{{"version":1,"keys":[{{"key_id":"{K1}","insecure_fixed_material":"{other_hex}"}}]}}"#
    ));
    assert!(e.message().contains("key material"), "{e}");
    assert!(!e.message().contains(&other_hex) && !e.message().contains(K1_HEX));
    conflict(&format!(
        r#"{{"version":1,"keys":[{{"key_id":"{K1}","key_spec":"HMAC_256"}}]}}"#
    ));
    conflict(&format!(
        r#"{{"version":1,"aliases":[{{"alias_name":"alias/payments","target_key_id":"{K3}"}}]}}"#
    ));
    conflict(&format!(
        r#"{{"version":1,"grants":[{{"key_id":"{K1}","name":"app-decrypt","grantee_principal":"arn:aws:iam::{ACCOUNT}:role/app","operations":["Decrypt"]}}]}}"#
    ));
    conflict(&format!(
        r#"{{"version":1,"identity_policies":[{{"principal_arn":"arn:aws:iam::{ACCOUNT}:role/app","policy_name":"use-payments","document":{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}}}]}}"#
    ));
    // Nothing changed.
    assert_eq!(material_ids(&kms, K1).len(), 2);
    assert_eq!(describe(&kms, "alias/payments").key_id, K1);
}

#[test]
fn only_the_account_root_seeds_and_no_operation_reaches_it() {
    let (kms, _) = kms();
    let user = kms.as_caller(Caller::iam_user(ACCOUNT, "alice"));
    let e = Seed::parse(SEED).unwrap().apply(&user).unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccessDenied);
    let r = user.seed_key(SeedKeyRequest {
        key_id: K1.into(),
        description: String::new(),
        key_spec: KeySpec::SymmetricDefault,
        key_usage: KeyUsage::EncryptDecrypt,
        policy: None,
        bypass_policy_lockout_safety_check: false,
        tags: vec![],
        rotation_period_days: None,
        multi_region: None,
        material: SeedMaterial::Generated { versions: 1 },
    });
    assert_eq!(code(r), "AccessDeniedException");
    // Not an operation: the JSON layer, bindings and server cannot name it.
    assert!(Operation::from_name("SeedKey").is_none());
    assert!(Operation::ALL.iter().all(|o| o.method() != "seed_key"));
    let e = strongroom::json::call(&kms, "SeedKey", serde_json::json!({})).unwrap_err();
    assert_ne!(e.code(), ErrorCode::KmsInternal);
    // The root may, and the audit log says so.
    let out = kms
        .seed_key(SeedKeyRequest {
            key_id: K1.into(),
            description: "d".into(),
            key_spec: KeySpec::SymmetricDefault,
            key_usage: KeyUsage::EncryptDecrypt,
            policy: None,
            bypass_policy_lockout_safety_check: false,
            tags: vec![],
            rotation_period_days: None,
            multi_region: None,
            material: SeedMaterial::Generated { versions: 1 },
        })
        .unwrap();
    assert_eq!(out, SeedOutcome::Created);
    let log = kms.audit_log().unwrap();
    let ev = log.iter().rev().find(|e| e.operation == "SeedKey").unwrap();
    assert_eq!(ev.outcome, "Success");
}

#[test]
fn bad_seed_entries_are_validation_errors_without_key_bytes() {
    let kms = store(REGION, 11);
    let bad = |text: &str| {
        let r = Seed::parse(text).and_then(|s| s.apply(&kms));
        let e = r.unwrap_err();
        assert_eq!(e.code(), ErrorCode::Validation, "{e}");
        e
    };
    let short = "ab".repeat(31);
    let e = bad(&format!(
        r#"{{"version":1,"keys":[{{"key_id":"{K1}","insecure_fixed_material":"{short}"}}]}}"#
    ));
    assert!(!e.message().contains(&short), "{e}");
    // An RSA key's PEM for an ECC key.
    let rsa_pem = SEED
        .split("RSA-2048 encryption key")
        .nth(1)
        .and_then(|s| s.split("-----BEGIN PRIVATE KEY-----").nth(1))
        .and_then(|s| s.split("-----END PRIVATE KEY-----").next())
        .unwrap();
    let body: String = rsa_pem.split_whitespace().collect();
    let e = bad(&format!(
        r#"{{"version":1,"keys":[{{"key_id":"{K3}","key_spec":"ECC_NIST_P256","insecure_fixed_material":"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"}}]}}"#
    ));
    assert!(!e.message().contains(&body[..40]), "{e}");
    bad(r#"{"version":1,"keys":[{"key_id":"not-a-uuid"}]}"#);
    bad(
        r#"{"version":1,"keys":[{"key_id":"1a2b3c4d-0000-4000-8000-000000000001","colour":"red"}]}"#,
    );
    bad(r#"{"version":2}"#);
    bad(
        r#"{"version":1,"keys":[{"key_id":"mrk-1a2b3c4d00004000800000000000000b","multi_region":{"primary_region":"eu-west-1","replica_regions":["us-east-1"]}}]}"#,
    );
    bad(&format!(
        r#"{{"version":1,"keys":[{{"key_id":"{K4}","key_spec":"RSA_2048"}}]}}"#
    ));
    // Nothing half-made: the store has no key.
    assert!(kms
        .list_keys(ListKeysRequest::default())
        .unwrap()
        .keys
        .is_empty());
}

#[test]
fn debug_output_redacts_fixed_material() {
    let seed = Seed::parse(SEED).unwrap();
    let dbg = format!("{seed:?}");
    assert!(!dbg.contains(K1_HEX));
    assert!(!dbg.contains("BEGIN PRIVATE KEY"));
    assert!(dbg.contains("InsecureMaterial(<redacted>)"));
}

#[test]
fn key_spec_of_classifies_keys_for_the_quota_simulation() {
    let kms = seeded(REGION, 12);
    assert_eq!(kms.key_spec_of(K4), Some(KeySpec::Rsa2048));
    assert_eq!(kms.key_spec_of("alias/signing"), Some(KeySpec::EccNistP256));
    assert_eq!(
        kms.key_spec_of(&format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{K1}")),
        Some(KeySpec::SymmetricDefault)
    );
    assert_eq!(kms.key_spec_of("alias/none"), None);
    assert_eq!(kms.key_spec_of(K6), None);
    // Not audited: it is the front end's bookkeeping, not a call.
    let n1 = kms.audit_log().unwrap().len();
    let n2 = kms.audit_log().unwrap().len();
    kms.key_spec_of(K1);
    let n3 = kms.audit_log().unwrap().len();
    assert_eq!(n3 - n2, n2 - n1);
}
