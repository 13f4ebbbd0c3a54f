//! Regions side by side, multi-Region keys, replication packages and
//! cross-region migration (kms-semantics §9).
mod common;
use common::*;
use strongroom::api::*;
use strongroom::model::*;
use strongroom::{DangerousSeededRng, ErrorCode, Kms, ManualClock, MemoryStore, RootKey};

const DAY: u64 = 86_400_000;

fn region(name: &str, clock: &ManualClock, seed: u8) -> Kms {
    Kms::builder(ACCOUNT, name)
        .clock(clock.clone())
        .rng(DangerousSeededRng::new([seed; 32]))
        .in_memory()
        .unwrap()
}

fn mrk(kms: &Kms) -> String {
    kms.create_key(CreateKeyRequest {
        multi_region: true,
        ..Default::default()
    })
    .unwrap()
    .key_metadata
    .key_id
}

fn replicate(primary: &Kms, key: &str, replica: &Kms) -> strongroom::Result<ReplicateKeyResponse> {
    primary.replicate_key(
        ReplicateKeyRequest {
            key_id: key.into(),
            replica_region: replica.region().into(),
            ..Default::default()
        },
        replica,
    )
}

#[test]
fn replicas_share_material_and_nothing_else() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 1);
    let eu = region("eu-west-1", &clock, 2);
    let ap = region("ap-south-1", &clock, 3);
    let key = mrk(&us);
    assert!(key.starts_with("mrk-"));
    // Single-Region keys cannot be replicated.
    let single = new_key(&us);
    assert_eq!(
        replicate(&us, &single, &eu).unwrap_err().code(),
        ErrorCode::UnsupportedOperation
    );
    let r = replicate(&us, &key, &eu).unwrap();
    let md = r.replica_key_metadata;
    assert_eq!(md.key_id, key);
    assert_eq!(md.arn, format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{key}"));
    assert_eq!(
        md.current_key_material_id,
        describe(&us, &key).current_key_material_id
    );
    let cfg = md.multi_region_configuration.unwrap();
    assert_eq!(cfg.multi_region_key_type, "REPLICA");
    assert_eq!(cfg.primary_key.region, "us-east-1");
    let pcfg = describe(&us, &key).multi_region_configuration.unwrap();
    assert_eq!(pcfg.multi_region_key_type, "PRIMARY");
    assert_eq!(pcfg.replica_keys.len(), 1);
    assert_eq!(
        pcfg.replica_keys[0].arn,
        format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{key}")
    );
    // One replica per region; only a primary can be replicated.
    assert_eq!(
        replicate(&us, &key, &eu).unwrap_err().code(),
        ErrorCode::AlreadyExists
    );
    assert_eq!(
        replicate(&eu, &key, &ap).unwrap_err().code(),
        ErrorCode::UnsupportedOperation
    );
    // A ciphertext made in one region decrypts in the other, both ways.
    let ctx = context([("snapshot", "s-1")]);
    let blob = enc(&us, &key, b"cross-region", &ctx);
    assert_eq!(dec(&eu, &blob, &ctx).unwrap(), b"cross-region");
    let blob2 = enc(&eu, &key, b"back", &ctx);
    assert_eq!(dec(&us, &blob2, &ctx).unwrap(), b"back");
    // Independent: enabled state, description, tags, aliases, policy.
    eu.disable_key(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    assert_eq!(describe(&us, &key).key_state, KeyState::Enabled);
    assert_eq!(
        dec(&eu, &blob, &ctx).unwrap_err().code(),
        ErrorCode::Disabled
    );
    eu.enable_key(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    eu.tag_resource(TagResourceRequest {
        key_id: key.clone(),
        tags: vec![Tag::new("region", "eu")],
    })
    .unwrap();
    assert!(us
        .list_resource_tags(ListResourceTagsRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .unwrap()
        .tags
        .is_empty());
    eu.create_alias(CreateAliasRequest {
        alias_name: "alias/snapshots".into(),
        target_key_id: key.clone(),
    })
    .unwrap();
    assert!(us
        .list_aliases(ListAliasesRequest::default())
        .unwrap()
        .aliases
        .is_empty());
    // The replica's region is its own namespace.
    assert_eq!(
        code(us.describe_key(DescribeKeyRequest {
            key_id: format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{key}"),
            ..Default::default()
        })),
        "NotFoundException"
    );
}

#[test]
fn rotation_reaches_replicas_and_is_set_only_on_the_primary() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 4);
    let eu = region("eu-west-1", &clock, 5);
    let key = mrk(&us);
    replicate(&us, &key, &eu).unwrap();
    us.rotate_key_on_demand(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    let blob = enc(&us, &key, b"new material", &Default::default());
    assert_eq!(
        dec(&eu, &blob, &Default::default()).unwrap(),
        b"new material"
    );
    assert_eq!(
        describe(&eu, &key).current_key_material_id,
        describe(&us, &key).current_key_material_id
    );
    // Rotation settings: only on the primary; they reach the replica.
    let r = eu.enable_key_rotation(EnableKeyRotationRequest {
        key_id: key.clone(),
        rotation_period_in_days: None,
    });
    assert_eq!(r.unwrap_err().code(), ErrorCode::UnsupportedOperation);
    assert_eq!(
        eu.rotate_key_on_demand(KeyIdRequest {
            key_id: key.clone()
        })
        .unwrap_err()
        .code(),
        ErrorCode::UnsupportedOperation
    );
    us.enable_key_rotation(EnableKeyRotationRequest {
        key_id: key.clone(),
        rotation_period_in_days: Some(90),
    })
    .unwrap();
    let st = eu
        .get_key_rotation_status(KeyIdRequest {
            key_id: key.clone(),
        })
        .unwrap();
    assert!(st.key_rotation_enabled);
    assert_eq!(st.rotation_period_in_days, Some(90));
    // Automatic rotation (by the clock) on the primary reaches the replica.
    clock.advance_days(90);
    us.run_maintenance().unwrap();
    let all = eu
        .list_key_rotations(ListKeyRotationsRequest {
            key_id: key.clone(),
            include_key_material: Some("ALL_KEY_MATERIAL".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.rotations.len(), 3);
    let blob = enc(&us, &key, b"after automatic rotation", &Default::default());
    assert_eq!(
        dec(&eu, &blob, &Default::default()).unwrap(),
        b"after automatic rotation"
    );
}

#[test]
fn update_primary_region_swaps_roles() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 6);
    let eu = region("eu-west-1", &clock, 7);
    let ap = region("ap-south-1", &clock, 8);
    let key = mrk(&us);
    replicate(&us, &key, &eu).unwrap();
    replicate(&us, &key, &ap).unwrap();
    us.update_primary_region(&key, &eu).unwrap();
    let e = describe(&eu, &key).multi_region_configuration.unwrap();
    assert_eq!(e.multi_region_key_type, "PRIMARY");
    let mut replicas: Vec<String> = e.replica_keys.iter().map(|r| r.region.clone()).collect();
    replicas.sort();
    assert_eq!(replicas, vec!["ap-south-1", "us-east-1"]);
    assert_eq!(
        describe(&us, &key)
            .multi_region_configuration
            .unwrap()
            .multi_region_key_type,
        "REPLICA"
    );
    assert_eq!(
        describe(&ap, &key)
            .multi_region_configuration
            .unwrap()
            .primary_key
            .region,
        "eu-west-1"
    );
    // The new primary rotates; both replicas follow. The old primary cannot.
    eu.rotate_key_on_demand(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    let blob = enc(&eu, &key, b"from the new primary", &Default::default());
    assert_eq!(
        dec(&us, &blob, &Default::default()).unwrap(),
        b"from the new primary"
    );
    assert_eq!(
        dec(&ap, &blob, &Default::default()).unwrap(),
        b"from the new primary"
    );
    assert_eq!(
        us.rotate_key_on_demand(KeyIdRequest {
            key_id: key.clone()
        })
        .unwrap_err()
        .code(),
        ErrorCode::UnsupportedOperation
    );
    assert_eq!(
        us.update_primary_region(&key, &ap).unwrap_err().code(),
        ErrorCode::UnsupportedOperation
    );
}

#[test]
fn primary_waits_for_its_replicas_to_be_deleted() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 9);
    let eu = region("eu-west-1", &clock, 10);
    let key = mrk(&us);
    replicate(&us, &key, &eu).unwrap();
    let r = us
        .schedule_key_deletion(ScheduleKeyDeletionRequest {
            key_id: key.clone(),
            pending_window_in_days: Some(10),
        })
        .unwrap();
    assert_eq!(r.key_state, KeyState::PendingReplicaDeletion);
    assert_eq!(r.deletion_date_ms, None);
    // PendingReplicaDeletion row: unusable, cancellable, not re-schedulable.
    let e = us.encrypt(EncryptRequest {
        key_id: key.clone(),
        plaintext: b"x".into(),
        ..Default::default()
    });
    assert_eq!(e.unwrap_err().code(), ErrorCode::KmsInvalidState);
    assert_eq!(
        code(us.schedule_key_deletion(ScheduleKeyDeletionRequest {
            key_id: key.clone(),
            pending_window_in_days: None
        })),
        "KMSInvalidStateException"
    );
    assert_eq!(
        code(us.enable_key(KeyIdRequest {
            key_id: key.clone()
        })),
        "KMSInvalidStateException"
    );
    // Waits indefinitely while the replica lives.
    clock.advance_days(100);
    us.run_maintenance().unwrap();
    assert_eq!(
        describe(&us, &key).key_state,
        KeyState::PendingReplicaDeletion
    );
    // The replica is deleted after its own window; then the primary's starts.
    eu.schedule_key_deletion(ScheduleKeyDeletionRequest {
        key_id: key.clone(),
        pending_window_in_days: Some(7),
    })
    .unwrap();
    clock.advance_days(7);
    eu.run_maintenance().unwrap();
    assert_eq!(
        code(eu.describe_key(DescribeKeyRequest {
            key_id: key.clone(),
            ..Default::default()
        })),
        "NotFoundException"
    );
    let md = describe(&us, &key);
    assert_eq!(md.key_state, KeyState::PendingDeletion);
    assert_eq!(md.deletion_date_ms, Some(clock_now(&clock) + 10 * DAY));
    clock.advance_days(10);
    us.run_maintenance().unwrap();
    assert_eq!(
        code(us.describe_key(DescribeKeyRequest {
            key_id: key,
            ..Default::default()
        })),
        "NotFoundException"
    );
}

fn clock_now(c: &ManualClock) -> u64 {
    use strongroom::Clock;
    c.now_ms()
}

#[test]
fn replication_packages_between_stores() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 11);
    // "Another machine": a file store we only reach through packages.
    let dir = tempfile::tempdir().unwrap();
    let open_remote = || {
        Kms::builder(ACCOUNT, "eu-west-1")
            .clock(clock.clone())
            .open_file(dir.path(), RootKey::raw([4; 32]))
            .unwrap()
    };
    let key = mrk(&us);
    let ctx = context([("k", "v")]);
    let blob = enc(&us, &key, b"via package", &ctx);
    let us_id = us.replication_public_key().unwrap();
    let (pkg, remote_id) = {
        let remote = open_remote();
        let remote_id = remote.replication_public_key().unwrap();
        us.register_replication_destination("eu-west-1", &remote_id)
            .unwrap();
        let pkg = us
            .export_replication_package(&key, "eu-west-1", &remote_id)
            .unwrap();
        // Tampering anywhere is rejected; so is the wrong source key.
        for i in [0usize, 10, pkg.len() / 2, pkg.len() - 1] {
            let mut t = pkg.clone();
            t[i] ^= 1;
            let e = remote.import_replication_package(&t, &us_id).unwrap_err();
            assert!(
                matches!(
                    e.code(),
                    ErrorCode::InvalidCiphertext | ErrorCode::Validation
                ),
                "byte {i}: {e}"
            );
        }
        let e = remote
            .import_replication_package(&pkg, &remote_id)
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidCiphertext);
        remote.import_replication_package(&pkg, &us_id).unwrap();
        assert_eq!(dec(&remote, &blob, &ctx).unwrap(), b"via package");
        (pkg, remote_id)
    };
    // The replica survives a reopen; replaying the package is refused.
    let remote = open_remote();
    assert_eq!(dec(&remote, &blob, &ctx).unwrap(), b"via package");
    assert_eq!(
        remote
            .import_replication_package(&pkg, &us_id)
            .unwrap_err()
            .code(),
        ErrorCode::Conflict
    );
    // A package for another region is refused there.
    let ap = region("ap-south-1", &clock, 12);
    assert_eq!(
        ap.import_replication_package(&pkg, &us_id)
            .unwrap_err()
            .code(),
        ErrorCode::Validation
    );
    // Rotate on the primary; a newer package carries the new material.
    us.rotate_key_on_demand(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    let newer = us
        .export_replication_package(&key, "eu-west-1", &remote_id)
        .unwrap();
    remote.import_replication_package(&newer, &us_id).unwrap();
    let blob2 = enc(&us, &key, b"rotated", &ctx);
    assert_eq!(dec(&remote, &blob2, &ctx).unwrap(), b"rotated");
    // Importing packages is for the account root.
    let bob = remote.as_caller(strongroom::Caller::iam_user(ACCOUNT, "bob"));
    let e = bob.import_replication_package(&newer, &us_id).unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccessDenied);
}

#[test]
fn relinking_catches_up() {
    let clock = ManualClock::new(T0);
    let mem = MemoryStore::new();
    let us = region("us-east-1", &clock, 13);
    let open_eu = || {
        Kms::builder(ACCOUNT, "eu-west-1")
            .clock(clock.clone())
            .open(mem.clone(), RootKey::raw([6; 32]))
            .unwrap()
    };
    let key = mrk(&us);
    {
        let eu = open_eu();
        replicate(&us, &key, &eu).unwrap();
    }
    // eu is closed: the primary rotates meanwhile.
    us.rotate_key_on_demand(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    let blob = enc(&us, &key, b"while apart", &Default::default());
    let eu = open_eu();
    assert_eq!(
        dec(&eu, &blob, &Default::default()).unwrap_err().code(),
        ErrorCode::InvalidCiphertext
    );
    us.link_region(&eu).unwrap();
    assert_eq!(
        dec(&eu, &blob, &Default::default()).unwrap(),
        b"while apart"
    );
}

#[test]
fn re_encrypt_across_regions_for_single_region_keys() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 14);
    let eu = region("eu-west-1", &clock, 15);
    let a = new_key(&us);
    let b = new_key(&eu);
    let blob = enc(&us, &a, b"snapshot key", &context([("vol", "1")]));
    let r = us
        .re_encrypt_to_region(
            ReEncryptRequest {
                ciphertext_blob: blob,
                source_encryption_context: context([("vol", "1")]),
                destination_key_id: b.clone(),
                destination_encryption_context: context([("vol", "1"), ("copy", "eu")]),
                ..Default::default()
            },
            &eu,
        )
        .unwrap();
    assert!(r.key_id.starts_with("arn:aws:kms:eu-west-1:"));
    assert!(r.source_key_id.starts_with("arn:aws:kms:us-east-1:"));
    assert_eq!(
        dec(
            &eu,
            &r.ciphertext_blob,
            &context([("vol", "1"), ("copy", "eu")])
        )
        .unwrap(),
        b"snapshot key"
    );
    // The destination region authorizes ReEncryptTo for the caller.
    let bob_us = us.as_caller(strongroom::Caller::iam_user(ACCOUNT, "bob"));
    us.put_identity_policy(PutIdentityPolicyRequest {
        principal_arn: bob_us.caller().principal_arn.clone(),
        policy_name: "from".into(),
        policy_document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["kms:ReEncryptFrom","kms:Encrypt"],"Resource":"*"}}"#.into(),
    })
    .unwrap();
    let blob = enc(&us, &a, b"x", &Default::default());
    let e = bob_us
        .re_encrypt_to_region(
            ReEncryptRequest {
                ciphertext_blob: blob,
                destination_key_id: b,
                ..Default::default()
            },
            &eu,
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccessDenied);
    assert!(e.message().contains("kms:ReEncryptTo"));
}

#[test]
fn update_primary_region_needs_permission_on_both_keys() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 16);
    let eu = region("eu-west-1", &clock, 17);
    let key = mrk(&us);
    let admin = "arn:aws:iam::111122223333:role/admin";
    let policy = |extra: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}{extra}]}}"#
        )
    };
    us.put_key_policy(PutKeyPolicyRequest {
        key_id: key.clone(),
        policy: policy(&format!(r#",{{"Effect":"Allow","Principal":{{"AWS":"{admin}"}},"Action":"kms:UpdatePrimaryRegion","Resource":"*"}}"#)),
        ..Default::default()
    })
    .unwrap();
    replicate(&us, &key, &eu).unwrap();
    let role = strongroom::Caller::iam_role(ACCOUNT, "admin");
    // Allowed on the primary only: refused, and nothing changed.
    let e = us
        .as_caller(role.clone())
        .update_primary_region(&key, &eu)
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccessDenied);
    assert_eq!(
        describe(&us, &key)
            .multi_region_configuration
            .unwrap()
            .multi_region_key_type,
        "PRIMARY"
    );
    eu.put_key_policy(PutKeyPolicyRequest {
        key_id: key.clone(),
        policy: policy(&format!(r#",{{"Effect":"Allow","Principal":{{"AWS":"{admin}"}},"Action":"kms:UpdatePrimaryRegion","Resource":"*"}}"#)),
        ..Default::default()
    })
    .unwrap();
    us.as_caller(role).update_primary_region(&key, &eu).unwrap();
    assert_eq!(
        describe(&eu, &key)
            .multi_region_configuration
            .unwrap()
            .multi_region_key_type,
        "PRIMARY"
    );
}

mod package_parser {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Any bytes given as a replication package are a typed error,
        /// never a panic; mutations of a real package never import.
        #[test]
        fn arbitrary_packages_are_rejected(noise in proptest::collection::vec(any::<u8>(), 0..400), flip in any::<prop::sample::Index>()) {
            let clock = ManualClock::new(T0);
            let us = region("us-east-1", &clock, 20);
            let eu = region("eu-west-1", &clock, 21);
            let us_id = us.replication_public_key().unwrap();
            let e = eu.import_replication_package(&noise, &us_id).unwrap_err();
            prop_assert!(matches!(e.code(), ErrorCode::InvalidCiphertext | ErrorCode::Validation | ErrorCode::Conflict));
            let key = mrk(&us);
            let eu_id = eu.replication_public_key().unwrap();
            us.register_replication_destination("eu-west-1", &eu_id).unwrap();
            let mut pkg = us.export_replication_package(&key, "eu-west-1", &eu_id).unwrap();
            let i = flip.index(pkg.len());
            pkg[i] ^= 0x5a;
            prop_assert!(eu.import_replication_package(&pkg, &us_id).is_err());
        }
    }
}

/// Frozen replication package (docs/formats/replication-package.md): seeded
/// stores and a fixed clock give exact bytes, so a change to the layout, the
/// sealing or the order of random draws fails here. The frozen package must
/// also open in a fresh destination store and decrypt the frozen blob.
/// Regenerate (only for an intended format change) with
/// `STRONGROOM_REGENERATE=1 cargo test -p strongroom --test multi_region`.
#[test]
fn replication_package_known_answer() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/vectors/core/replication-package.json");
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 0x31);
    let eu_id = region("eu-west-1", &clock, 0x32)
        .replication_public_key()
        .unwrap();
    let key = mrk(&us);
    let ctx = context([("purpose", "kat")]);
    let blob = enc(&us, &key, b"replicated", &ctx);
    // Export needs a registered destination (issue 14 item 1); registering
    // seals an entry, so it draws from the seeded RNG before the package.
    us.register_replication_destination("eu-west-1", &eu_id)
        .unwrap();
    let pkg = us
        .export_replication_package(&key, "eu-west-1", &eu_id)
        .unwrap();
    let us_id = us.replication_public_key().unwrap();
    let made = serde_json::json!({
        "description": "Generated by core/tests/multi_region.rs replication_package_known_answer: stores seeded with [0x31; 32] (us-east-1) and [0x32; 32] (eu-west-1), clock at start_time_ms. Freezes replication package format v1.",
        "start_time_ms": T0,
        "key_id": key,
        "source_identity": hex::encode(&us_id),
        "destination_identity": hex::encode(&eu_id),
        "package": hex::encode(&pkg),
        "ciphertext_blob": hex::encode(&blob),
        "encryption_context": {"purpose": "kat"},
        "plaintext": hex::encode(b"replicated"),
    });
    if std::env::var("STRONGROOM_REGENERATE").is_ok() {
        std::fs::write(&path, serde_json::to_string_pretty(&made).unwrap() + "\n").unwrap();
    }
    let frozen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for field in [
        "key_id",
        "source_identity",
        "destination_identity",
        "package",
        "ciphertext_blob",
    ] {
        assert_eq!(
            made[field], frozen[field],
            "{field} differs from the frozen vector"
        );
    }
    let bytes = |f: &str| hex::decode(frozen[f].as_str().unwrap()).unwrap();
    let eu = region("eu-west-1", &clock, 0x32);
    eu.import_replication_package(&bytes("package"), &bytes("source_identity"))
        .unwrap();
    assert_eq!(
        dec(&eu, &bytes("ciphertext_blob"), &ctx).unwrap(),
        bytes("plaintext")
    );
}

// ------------------------------------------------------------ hardening

fn allow_all(kms: &Kms, principal: &str) {
    kms.put_identity_policy(PutIdentityPolicyRequest {
        principal_arn: principal.into(),
        policy_name: "all".into(),
        policy_document:
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#
                .into(),
    })
    .unwrap();
}

const BOB: &str = "arn:aws:iam::111122223333:user/bob";

/// Issue 14 item 1: key material leaves only for a store the account root
/// registered, and exporting a package is the root's alone: `kms:*` (here
/// through the default policy's IAM delegation) does not grant it, nor the
/// registration.
#[test]
fn export_needs_the_root_and_a_registered_destination() {
    let clock = ManualClock::new(T0);
    let mem = MemoryStore::new();
    let open_us = || {
        Kms::builder(ACCOUNT, "us-east-1")
            .clock(clock.clone())
            .open(mem.clone(), RootKey::raw([8; 32]))
            .unwrap()
    };
    let us = open_us();
    let eu = region("eu-west-1", &clock, 41);
    // A key pair the attacker holds: any P-256 store identity will do.
    let mine = region("xx-fake-1", &clock, 42);
    let key = mrk(&us);
    let eu_id = eu.replication_public_key().unwrap();
    let mine_id = mine.replication_public_key().unwrap();
    allow_all(&us, BOB);
    let bob = us.as_caller(strongroom::Caller::iam_user(ACCOUNT, "bob"));
    // bob may do everything kms:* covers on the key ...
    describe(&bob, &key);
    // ... but not export its material, to his key pair or anywhere.
    for (region, id) in [("xx-fake-1", &mine_id), ("eu-west-1", &eu_id)] {
        let e = bob
            .export_replication_package(&key, region, id)
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::AccessDenied, "{region}: {e}");
    }
    // Nor register, list or remove destinations.
    assert_eq!(
        bob.register_replication_destination("xx-fake-1", &mine_id)
            .unwrap_err()
            .code(),
        ErrorCode::AccessDenied
    );
    assert_eq!(
        bob.list_replication_destinations().unwrap_err().code(),
        ErrorCode::AccessDenied
    );
    assert_eq!(
        bob.remove_replication_destination(&eu_id)
            .unwrap_err()
            .code(),
        ErrorCode::AccessDenied
    );
    // The root itself cannot export to an unregistered store.
    for (region, id) in [("xx-fake-1", &mine_id), ("eu-west-1", &eu_id)] {
        let e = us.export_replication_package(&key, region, id).unwrap_err();
        assert_eq!(e.code(), ErrorCode::AccessDenied, "{region}: {e}");
        assert!(
            e.message()
                .contains("not a registered replication destination"),
            "{e}"
        );
    }
    assert!(us.list_replication_destinations().unwrap().is_empty());
    // A store cannot register itself; garbage is not an identity.
    let us_id = us.replication_public_key().unwrap();
    assert_eq!(
        us.register_replication_destination("eu-west-1", &us_id)
            .unwrap_err()
            .code(),
        ErrorCode::Validation
    );
    assert_eq!(
        us.register_replication_destination("eu-west-1", b"not a key")
            .unwrap_err()
            .code(),
        ErrorCode::Validation
    );
    // After the root registers eu (for eu-west-1 only), export works there.
    let d = us
        .register_replication_destination("eu-west-1", &eu_id)
        .unwrap();
    assert_eq!(d.region, "eu-west-1");
    assert_eq!(d.identity, hex::encode(&eu_id));
    let pkg = us
        .export_replication_package(&key, "eu-west-1", &eu_id)
        .unwrap();
    eu.import_replication_package(&pkg, &us_id).unwrap();
    assert_eq!(
        us.export_replication_package(&key, "ap-south-1", &eu_id)
            .unwrap_err()
            .code(),
        ErrorCode::AccessDenied
    );
    // Still root-only once registered.
    assert_eq!(
        bob.export_replication_package(&key, "eu-west-1", &eu_id)
            .unwrap_err()
            .code(),
        ErrorCode::AccessDenied
    );
    // The registration is durable, audited, and removable.
    drop(us);
    let us = open_us();
    assert_eq!(us.list_replication_destinations().unwrap(), vec![d]);
    let log = us.audit_log().unwrap();
    assert!(log
        .iter()
        .any(|e| e.operation == "RegisterReplicationDestination" && e.outcome == "Success"));
    assert!(log.iter().any(|e| e.operation == "ExportReplicationPackage"
        && e.outcome == "AccessDeniedException"
        && e.principal_arn == BOB));
    us.export_replication_package(&key, "eu-west-1", &eu_id)
        .unwrap();
    us.remove_replication_destination(&eu_id).unwrap();
    assert_eq!(
        us.remove_replication_destination(&eu_id)
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        us.export_replication_package(&key, "eu-west-1", &eu_id)
            .unwrap_err()
            .code(),
        ErrorCode::AccessDenied
    );
}

/// Issue 14 item 1: ReplicateKey by a principal other than the root (even
/// with `kms:*` in both regions) needs the replica's store registered: any
/// in-memory `Kms` with the same account string is no longer accepted. The
/// root's own ReplicateKey registers the replica (audited).
#[test]
fn replicate_key_needs_a_registered_replica_store() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 43);
    let eu = region("eu-west-1", &clock, 44);
    let key = mrk(&us);
    allow_all(&us, BOB);
    // bob's own store "for eu-west-1", where he is what he likes.
    let bobs_eu = region("eu-west-1", &clock, 45);
    allow_all(&bobs_eu, BOB);
    allow_all(&eu, BOB);
    let bob = us.as_caller(strongroom::Caller::iam_user(ACCOUNT, "bob"));
    for replica in [&bobs_eu, &eu] {
        let e = replicate(&bob, &key, replica).unwrap_err();
        assert_eq!(e.code(), ErrorCode::AccessDenied, "{e}");
        assert!(
            replica
                .list_keys(ListKeysRequest::default())
                .unwrap()
                .keys
                .is_empty(),
            "nothing reached the replica store"
        );
    }
    // The root registers eu: bob's ReplicateKey to eu works, to his own
    // store still not.
    us.register_replication_destination("eu-west-1", &eu.replication_public_key().unwrap())
        .unwrap();
    assert_eq!(
        replicate(&bob, &key, &bobs_eu).unwrap_err().code(),
        ErrorCode::AccessDenied
    );
    let r = replicate(&bob, &key, &eu).unwrap();
    assert_eq!(r.replica_key_metadata.key_id, key);
    let ctx = context([("a", "b")]);
    let blob = enc(&us, &key, b"x", &ctx);
    assert_eq!(dec(&eu, &blob, &ctx).unwrap(), b"x");
    // The root's ReplicateKey registers the destination itself.
    let ap = region("ap-south-1", &clock, 46);
    replicate(&us, &key, &ap).unwrap();
    let regions: Vec<String> = us
        .list_replication_destinations()
        .unwrap()
        .into_iter()
        .map(|d| d.region)
        .collect();
    assert_eq!(regions.len(), 2);
    assert!(regions.contains(&"ap-south-1".to_string()));
    // ... and registers the primary's store in the replica's (for a later
    // UpdatePrimaryRegion).
    assert_eq!(
        ap.list_replication_destinations().unwrap()[0].region,
        "us-east-1"
    );
}

/// Issue 14 item 5: linking regions is for the account root of both
/// stores (it used to let any handle detach replicas).
#[test]
fn link_region_is_root_only() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 47);
    let eu = region("eu-west-1", &clock, 48);
    let key = mrk(&us);
    replicate(&us, &key, &eu).unwrap();
    allow_all(&us, BOB);
    let bob_us = us.as_caller(strongroom::Caller::iam_user(ACCOUNT, "bob"));
    let bob_eu = eu.as_caller(strongroom::Caller::iam_user(ACCOUNT, "bob"));
    let fake_eu = region("eu-west-1", &clock, 49);
    for (a, b) in [(&bob_us, &eu), (&us, &bob_eu), (&bob_us, &fake_eu)] {
        assert_eq!(
            a.link_region(b).unwrap_err().code(),
            ErrorCode::AccessDenied
        );
    }
    // The replica is still attached.
    assert_eq!(
        describe(&us, &key)
            .multi_region_configuration
            .unwrap()
            .replica_keys
            .len(),
        1
    );
    us.link_region(&eu).unwrap();
    // A root-linked store that is not the replica's gets nothing from the
    // primary unless registered: the root's link registers it, so a link is
    // a root decision.
    let log = us.audit_log().unwrap();
    assert!(log
        .iter()
        .any(|e| e.operation == "LinkRegion" && e.outcome == "AccessDeniedException"));
}

/// Issue 14 item 5: DryRun of the cross-region ReEncrypt checks
/// kms:ReEncryptTo on the destination too (it used to succeed after the
/// source check alone).
#[test]
fn re_encrypt_to_region_dry_run_checks_the_destination() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 50);
    let eu = region("eu-west-1", &clock, 51);
    let a = new_key(&us);
    let b = new_key(&eu);
    us.put_identity_policy(PutIdentityPolicyRequest {
        principal_arn: BOB.into(),
        policy_name: "from".into(),
        policy_document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["kms:ReEncryptFrom"],"Resource":"*"}}"#.into(),
    })
    .unwrap();
    let blob = enc(&us, &a, b"x", &Default::default());
    let bob = us.as_caller(strongroom::Caller::iam_user(ACCOUNT, "bob"));
    let req = || ReEncryptRequest {
        ciphertext_blob: blob.clone(),
        destination_key_id: b.clone(),
        dry_run: true,
        ..Default::default()
    };
    let e = bob.re_encrypt_to_region(req(), &eu).unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccessDenied, "{e}");
    assert!(e.message().contains("kms:ReEncryptTo"), "{e}");
    eu.put_identity_policy(PutIdentityPolicyRequest {
        principal_arn: BOB.into(),
        policy_name: "to".into(),
        policy_document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["kms:ReEncryptTo"],"Resource":"*"}}"#.into(),
    })
    .unwrap();
    assert_eq!(
        bob.re_encrypt_to_region(req(), &eu).unwrap_err().code(),
        ErrorCode::DryRunOperation
    );
    // The destination key's state is checked in a dry run too.
    eu.disable_key(KeyIdRequest { key_id: b.clone() }).unwrap();
    assert_eq!(
        bob.re_encrypt_to_region(req(), &eu).unwrap_err().code(),
        ErrorCode::Disabled
    );
}

/// Purges the replica of `key` from `store` the first time the replica is
/// created there: schedules its deletion, moves the clock past the window
/// and makes a call (whose sweep purges it), all between two of
/// ReplicateKey's critical sections.
struct PurgeOnCreate {
    store: std::sync::Mutex<Option<Kms>>,
    clock: ManualClock,
    key: String,
}

impl strongroom::KeyChangeListener for PurgeOnCreate {
    fn key_changed(&self, key_arn: &str) {
        if !key_arn.ends_with(&self.key) {
            return;
        }
        let Some(kms) = self.store.lock().unwrap().take() else {
            return;
        };
        kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
            key_id: self.key.clone(),
            pending_window_in_days: Some(7),
        })
        .unwrap();
        // Exactly the window: the longest step that is not a clock jump.
        self.clock.advance_ms(7 * DAY);
        kms.list_keys(ListKeysRequest::default()).unwrap();
    }
    fn all_keys_changed(&self, _arn_prefix: &str) {}
}

/// Issue 14 item 14: a key purged between two critical sections of one
/// operation is an error, not a panic under the state lock (which used to
/// poison the lock and leave the store unusable until restart).
#[test]
fn a_key_purged_mid_operation_is_an_error_not_a_poisoned_lock() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 52);
    let eu = region("eu-west-1", &clock, 53);
    let key = mrk(&us);
    let listener: std::sync::Arc<dyn strongroom::KeyChangeListener> =
        std::sync::Arc::new(PurgeOnCreate {
            store: std::sync::Mutex::new(Some(eu.clone())),
            clock: clock.clone(),
            key: key.clone(),
        });
    eu.add_key_change_listener(std::sync::Arc::downgrade(&listener));
    let e = replicate(&us, &key, &eu).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFound, "{e}");
    // Both stores still work.
    assert!(eu.list_keys(ListKeysRequest::default()).is_ok());
    new_key(&eu);
    describe(&us, &key);
    new_key(&us);
}

/// Issue 14 item 1: after UpdatePrimaryRegion the new primary pushes the
/// key to the old one, so the old primary's store must be registered in the
/// new primary's: a non-root caller is refused before anything changes if
/// it is not; the root's call registers it.
#[test]
fn update_primary_region_needs_the_old_primary_registered_in_the_new() {
    let clock = ManualClock::new(T0);
    let us = region("us-east-1", &clock, 54);
    let eu = region("eu-west-1", &clock, 55);
    let key = mrk(&us);
    replicate(&us, &key, &eu).unwrap();
    let us_id = us.replication_public_key().unwrap();
    // The root's ReplicateKey registered us in eu; eu's root takes it back.
    eu.remove_replication_destination(&us_id).unwrap();
    allow_all(&us, BOB);
    allow_all(&eu, BOB);
    let bob = us.as_caller(strongroom::Caller::iam_user(ACCOUNT, "bob"));
    let e = bob.update_primary_region(&key, &eu).unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccessDenied, "{e}");
    let kind = |k: &Kms| {
        describe(k, &key)
            .multi_region_configuration
            .unwrap()
            .multi_region_key_type
    };
    assert_eq!(kind(&us), "PRIMARY");
    assert_eq!(kind(&eu), "REPLICA");
    us.update_primary_region(&key, &eu).unwrap();
    assert_eq!(kind(&eu), "PRIMARY");
    assert_eq!(kind(&us), "REPLICA");
    // The new primary's rotation reaches the old one.
    eu.rotate_key_on_demand(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    let blob = enc(&eu, &key, b"from the new primary", &Default::default());
    assert_eq!(
        dec(&us, &blob, &Default::default()).unwrap(),
        b"from the new primary"
    );
}
