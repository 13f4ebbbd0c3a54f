//! Behaviour of the public API against kms-semantics.md §1–4.
mod common;
use common::*;
use strongroom::api::*;
use strongroom::model::*;
use strongroom::{Caller, ErrorCode, Kms};

#[test]
fn create_describe_list() {
    let (kms, _) = kms();
    let md = kms
        .create_key(CreateKeyRequest {
            description: Some("orders".into()),
            tags: vec![Tag::new("team", "payments")],
            ..Default::default()
        })
        .unwrap()
        .key_metadata;
    assert_eq!(md.key_state, KeyState::Enabled);
    assert!(md.enabled);
    assert_eq!(md.key_spec, KeySpec::SymmetricDefault);
    assert_eq!(md.key_usage, KeyUsage::EncryptDecrypt);
    assert_eq!(md.origin, Origin::AwsKms);
    assert_eq!(md.key_manager, KeyManager::Customer);
    assert_eq!(
        md.arn,
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{}", md.key_id)
    );
    assert_eq!(md.key_id.len(), 36);
    assert_eq!(md.current_key_material_id.as_ref().unwrap().len(), 64);
    let d = describe(&kms, md.arn.clone());
    assert_eq!(d, md);
    let list = kms.list_keys(ListKeysRequest::default()).unwrap();
    assert_eq!(list.keys.len(), 1);
    assert!(!list.truncated);
    let tags = kms
        .list_resource_tags(ListResourceTagsRequest {
            key_id: md.key_id.clone(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(tags.tags, vec![Tag::new("team", "payments")]);
}

#[test]
fn multi_region_ids() {
    let (kms, _) = kms();
    let md = kms
        .create_key(CreateKeyRequest {
            multi_region: true,
            ..Default::default()
        })
        .unwrap()
        .key_metadata;
    assert!(md.key_id.starts_with("mrk-") && md.key_id.len() == 36);
    assert!(md.multi_region);
}

#[test]
fn unsupported_specs_are_clear_errors() {
    let (kms, _) = kms();
    let r = kms.create_key(CreateKeyRequest {
        key_spec: Some(KeySpec::EccNistP521),
        key_usage: Some(KeyUsage::SignVerify),
        ..Default::default()
    });
    assert_eq!(code(r), "UnsupportedOperationException");
    let r = kms.create_key(CreateKeyRequest {
        key_usage: Some(KeyUsage::SignVerify),
        ..Default::default()
    });
    assert_eq!(code(r), "ValidationException");
    let r = kms.create_key(CreateKeyRequest {
        description: Some("x".repeat(8193)),
        ..Default::default()
    });
    assert_eq!(code(r), "ValidationException");
    let r = kms.create_key(CreateKeyRequest {
        tags: vec![Tag::new("aws:x", "y")],
        ..Default::default()
    });
    assert_eq!(code(r), "TagException");
}

#[test]
fn pagination() {
    let (kms, _) = kms();
    let mut ids: Vec<String> = (0..7).map(|_| new_key(&kms)).collect();
    ids.sort();
    let mut seen = vec![];
    let mut marker = None;
    loop {
        let page = kms
            .list_keys(ListKeysRequest {
                limit: Some(3),
                marker: marker.clone(),
            })
            .unwrap();
        assert!(page.keys.len() <= 3);
        seen.extend(page.keys.into_iter().map(|k| k.key_id));
        if !page.truncated {
            assert!(page.next_marker.is_none());
            break;
        }
        marker = page.next_marker;
    }
    assert_eq!(seen, ids);
    assert_eq!(
        code(kms.list_keys(ListKeysRequest {
            limit: Some(0),
            marker: None
        })),
        "ValidationException"
    );
    assert_eq!(
        code(kms.list_keys(ListKeysRequest {
            limit: None,
            marker: Some("zz-not-hex".into())
        })),
        "InvalidMarkerException"
    );
}

#[test]
fn encrypt_decrypt_with_context() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    let ctx = context([("tenant", "acme"), ("purpose", "test")]);
    let blob = enc(&kms, &key, b"secret", &ctx);
    assert_eq!(dec(&kms, &blob, &ctx).unwrap(), b"secret");
    // Pair order does not matter (a map), but every pair must match exactly.
    let reordered = context([("purpose", "test"), ("tenant", "acme")]);
    assert_eq!(dec(&kms, &blob, &reordered).unwrap(), b"secret");
    for bad in [
        context([("tenant", "acme")]),
        context([("tenant", "acme"), ("purpose", "test"), ("x", "y")]),
        context([("tenant", "ACME"), ("purpose", "test")]),
        context([("Tenant", "acme"), ("purpose", "test")]),
        context::<&str, &str>([]),
    ] {
        assert_eq!(code(dec(&kms, &blob, &bad)), "InvalidCiphertextException");
    }
    // No length-prefix collision between {"ab":"c"} and {"a":"bc"}.
    let blob = enc(&kms, &key, b"x", &context([("ab", "c")]));
    assert_eq!(
        code(dec(&kms, &blob, &context([("a", "bc")]))),
        "InvalidCiphertextException"
    );
}

#[test]
fn every_key_identifier_form_works() {
    let (kms, _) = kms();
    let md = kms
        .create_key(CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    kms.create_alias(CreateAliasRequest {
        alias_name: "alias/app".into(),
        target_key_id: md.key_id.clone(),
    })
    .unwrap();
    let alias_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/app");
    for id in [
        md.key_id.clone(),
        md.arn.clone(),
        "alias/app".into(),
        alias_arn,
    ] {
        let r = kms
            .encrypt(EncryptRequest {
                key_id: id.clone(),
                plaintext: b"p".to_vec().into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(r.key_id, md.arn, "{id}");
    }
    for bad in [
        "alias/nope".to_string(),
        "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{}", md.key_id),
        format!("arn:aws:kms:{REGION}:999999999999:key/{}", md.key_id),
        "arn:aws:kms:garbage".into(),
    ] {
        let r = kms.describe_key(DescribeKeyRequest {
            key_id: bad.clone(),
            ..Default::default()
        });
        assert_eq!(code(r), "NotFoundException", "{bad}");
    }
    let r = kms.describe_key(DescribeKeyRequest {
        key_id: "".into(),
        ..Default::default()
    });
    assert_eq!(code(r), "ValidationException");
}

#[test]
fn decrypt_key_id_checks() {
    let (kms, _) = kms();
    let a = new_key(&kms);
    let b = new_key(&kms);
    let ctx = context::<&str, &str>([]);
    let blob = enc(&kms, &a, b"hi", &ctx);
    let ok = kms
        .decrypt(DecryptRequest {
            ciphertext_blob: blob.clone(),
            key_id: Some(a.clone()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ok.plaintext.as_bytes(), b"hi");
    let r = kms.decrypt(DecryptRequest {
        ciphertext_blob: blob.clone(),
        key_id: Some(b.clone()),
        ..Default::default()
    });
    assert_eq!(code(r), "IncorrectKeyException");
    let r = kms.decrypt(DecryptRequest {
        ciphertext_blob: vec![],
        ..Default::default()
    });
    assert_eq!(code(r), "ValidationException");
    let r = kms.decrypt(DecryptRequest {
        ciphertext_blob: vec![9; 100],
        ..Default::default()
    });
    assert_eq!(code(r), "InvalidCiphertextException");
    // The opaque error never says which check failed.
    let mut t = blob.clone();
    *t.last_mut().unwrap() ^= 1;
    let e = kms
        .decrypt(DecryptRequest {
            ciphertext_blob: t,
            ..Default::default()
        })
        .unwrap_err();
    let e2 = dec(&kms, &blob, &context([("a", "b")])).unwrap_err();
    assert_eq!(e.message(), e2.message());
}

#[test]
fn size_limits() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    let e = |n: usize| {
        kms.encrypt(EncryptRequest {
            key_id: key.clone(),
            plaintext: vec![1; n].into(),
            ..Default::default()
        })
    };
    assert_eq!(code(e(0)), "ValidationException");
    assert_eq!(code(e(4097)), "ValidationException");
    let max = e(4096).unwrap();
    assert!(max.ciphertext_blob.len() <= 6144);
    let gdk = |n: Option<u32>, s: Option<DataKeySpec>| {
        kms.generate_data_key(GenerateDataKeyRequest {
            key_id: key.clone(),
            number_of_bytes: n,
            key_spec: s,
            ..Default::default()
        })
    };
    assert_eq!(
        gdk(None, Some(DataKeySpec::Aes256))
            .unwrap()
            .plaintext
            .len(),
        32
    );
    assert_eq!(
        gdk(None, Some(DataKeySpec::Aes128))
            .unwrap()
            .plaintext
            .len(),
        16
    );
    assert_eq!(gdk(Some(1), None).unwrap().plaintext.len(), 1);
    assert_eq!(gdk(Some(1024), None).unwrap().plaintext.len(), 1024);
    assert_eq!(code(gdk(Some(1025), None)), "ValidationException");
    assert_eq!(code(gdk(Some(0), None)), "ValidationException");
    assert_eq!(code(gdk(None, None)), "ValidationException");
    assert_eq!(
        code(gdk(Some(32), Some(DataKeySpec::Aes256))),
        "ValidationException"
    );
    let rnd = |n| kms.generate_random(GenerateRandomRequest { number_of_bytes: n });
    assert_eq!(rnd(Some(1024)).unwrap().plaintext.len(), 1024);
    assert_eq!(code(rnd(Some(1025))), "ValidationException");
    assert_eq!(code(rnd(Some(0))), "ValidationException");
    assert_eq!(code(rnd(None)), "ValidationException");
}

#[test]
fn data_keys_decrypt_to_the_same_bytes() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    let ctx = context([("k", "v")]);
    let dk = kms
        .generate_data_key(GenerateDataKeyRequest {
            key_id: key.clone(),
            key_spec: Some(DataKeySpec::Aes256),
            encryption_context: ctx.clone(),
            ..Default::default()
        })
        .unwrap();
    let back = dec(&kms, &dk.ciphertext_blob, &ctx).unwrap();
    assert!(dk.plaintext.ct_eq(&back));
    assert!(format!("{dk:?}").contains("redacted"));
    let w = kms
        .generate_data_key_without_plaintext(GenerateDataKeyRequest {
            key_id: key,
            number_of_bytes: Some(64),
            encryption_context: ctx.clone(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(dec(&kms, &w.ciphertext_blob, &ctx).unwrap().len(), 64);
}

#[test]
fn re_encrypt_changes_key_and_context() {
    let (kms, _) = kms();
    let a = new_key(&kms);
    let b = new_key(&kms);
    let c1 = context([("v", "1")]);
    let c2 = context([("v", "2")]);
    let blob = enc(&kms, &a, b"moving", &c1);
    let r = kms
        .re_encrypt(ReEncryptRequest {
            ciphertext_blob: blob.clone(),
            source_encryption_context: c1.clone(),
            destination_key_id: b.clone(),
            destination_encryption_context: c2.clone(),
            ..Default::default()
        })
        .unwrap();
    assert!(r.key_id.ends_with(&b));
    assert!(r.source_key_id.ends_with(&a));
    assert_eq!(dec(&kms, &r.ciphertext_blob, &c2).unwrap(), b"moving");
    assert_eq!(
        code(dec(&kms, &r.ciphertext_blob, &c1)),
        "InvalidCiphertextException"
    );
    // Wrong source context is the opaque error; wrong source key id is IncorrectKey.
    let bad = kms.re_encrypt(ReEncryptRequest {
        ciphertext_blob: blob.clone(),
        source_encryption_context: c2.clone(),
        destination_key_id: b.clone(),
        ..Default::default()
    });
    assert_eq!(code(bad), "InvalidCiphertextException");
    let bad = kms.re_encrypt(ReEncryptRequest {
        ciphertext_blob: blob,
        source_encryption_context: c1,
        source_key_id: Some(b.clone()),
        destination_key_id: b,
        ..Default::default()
    });
    assert_eq!(code(bad), "IncorrectKeyException");
}

#[test]
fn dry_run() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    let r = kms.encrypt(EncryptRequest {
        key_id: key.clone(),
        plaintext: b"x".to_vec().into(),
        dry_run: true,
        ..Default::default()
    });
    assert_eq!(code(r), "DryRunOperationException");
    kms.disable_key(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    let r = kms.encrypt(EncryptRequest {
        key_id: key,
        plaintext: b"x".to_vec().into(),
        dry_run: true,
        ..Default::default()
    });
    assert_eq!(
        code(r),
        "DisabledException",
        "dry run reports the real error"
    );
}

#[test]
fn aliases() {
    let (kms, _) = kms();
    let a = new_key(&kms);
    let b = new_key(&kms);
    let ca = |name: &str, t: &str| {
        kms.create_alias(CreateAliasRequest {
            alias_name: name.into(),
            target_key_id: t.into(),
        })
    };
    ca("alias/one", &a).unwrap();
    assert_eq!(code(ca("alias/one", &b)), "AlreadyExistsException");
    assert_eq!(code(ca("alias/aws/s3", &a)), "InvalidAliasNameException");
    assert_eq!(code(ca("one", &a)), "InvalidAliasNameException");
    assert_eq!(code(ca("alias/", &a)), "InvalidAliasNameException");
    assert_eq!(code(ca("alias/bad name", &a)), "ValidationException");
    assert_eq!(code(ca("alias/two", "alias/one")), "ValidationException");
    assert_eq!(code(ca("alias/two", "nope")), "NotFoundException");
    for i in 1..50 {
        ca(&format!("alias/many-{i}"), &a).unwrap();
    }
    assert_eq!(code(ca("alias/fifty-one", &a)), "LimitExceededException");
    kms.update_alias(UpdateAliasRequest {
        alias_name: "alias/one".into(),
        target_key_id: b.clone(),
    })
    .unwrap();
    let listed = kms
        .list_aliases(ListAliasesRequest {
            key_id: Some(b.clone()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(listed.aliases.len(), 1);
    assert_eq!(listed.aliases[0].alias_name, "alias/one");
    assert_eq!(
        listed.aliases[0].alias_arn,
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/one")
    );
    let all = kms
        .list_aliases(ListAliasesRequest {
            limit: Some(1000),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.aliases.len(), 50);
    kms.delete_alias(DeleteAliasRequest {
        alias_name: "alias/one".into(),
    })
    .unwrap();
    assert_eq!(
        code(kms.delete_alias(DeleteAliasRequest {
            alias_name: "alias/one".into()
        })),
        "NotFoundException"
    );
    assert_eq!(
        code(kms.update_alias(UpdateAliasRequest {
            alias_name: "alias/one".into(),
            target_key_id: a.clone()
        })),
        "NotFoundException"
    );
    // UpdateAlias: target pending deletion → KMSInvalidState; source pending deletion is fine.
    ca("alias/src", &a).unwrap();
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
        key_id: b.clone(),
        pending_window_in_days: Some(7),
    })
    .unwrap();
    assert_eq!(
        code(kms.update_alias(UpdateAliasRequest {
            alias_name: "alias/src".into(),
            target_key_id: b.clone()
        })),
        "KMSInvalidStateException"
    );
    let c = new_key(&kms);
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
        key_id: a.clone(),
        pending_window_in_days: None,
    })
    .unwrap();
    kms.update_alias(UpdateAliasRequest {
        alias_name: "alias/src".into(),
        target_key_id: c,
    })
    .unwrap();
}

#[test]
fn deletion_lifecycle() {
    let (kms, clock) = kms();
    let key = new_key(&kms);
    kms.create_alias(CreateAliasRequest {
        alias_name: "alias/doomed".into(),
        target_key_id: key.clone(),
    })
    .unwrap();
    let ctx = context::<&str, &str>([]);
    let blob = enc(&kms, &key, b"bye", &ctx);
    let sched = |d| {
        kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
            key_id: key.clone(),
            pending_window_in_days: d,
        })
    };
    assert_eq!(code(sched(Some(6))), "ValidationException");
    assert_eq!(code(sched(Some(31))), "ValidationException");
    let r = sched(None).unwrap();
    assert_eq!(r.pending_window_in_days, 30);
    assert_eq!(r.key_state, KeyState::PendingDeletion);
    assert_eq!(r.deletion_date_ms, Some(T0 + 30 * 86_400_000));
    assert_eq!(code(dec(&kms, &blob, &ctx)), "KMSInvalidStateException");
    // Cancel → Disabled, always.
    let c = kms
        .cancel_key_deletion(KeyIdRequest {
            key_id: key.clone(),
        })
        .unwrap();
    assert!(c.key_id.ends_with(&key));
    let md = describe(&kms, key.clone());
    assert_eq!(md.key_state, KeyState::Disabled);
    assert_eq!(md.deletion_date_ms, None);
    assert_eq!(code(dec(&kms, &blob, &ctx)), "DisabledException");
    kms.enable_key(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    assert_eq!(dec(&kms, &blob, &ctx).unwrap(), b"bye");
    // Schedule for 7 days; just before the window ends it still exists.
    sched(Some(7)).unwrap();
    clock.advance_ms(7 * 86_400_000 - 1);
    assert!(kms
        .describe_key(DescribeKeyRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .is_ok());
    clock.advance_ms(1);
    // Gone for good: key, material and aliases.
    let r = kms.describe_key(DescribeKeyRequest {
        key_id: key.clone(),
        ..Default::default()
    });
    let e = r.unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFound);
    assert!(e.message().contains(&key));
    assert_eq!(code(dec(&kms, &blob, &ctx)), "NotFoundException");
    assert!(kms
        .list_aliases(ListAliasesRequest::default())
        .unwrap()
        .aliases
        .is_empty());
    assert!(kms
        .list_keys(ListKeysRequest::default())
        .unwrap()
        .keys
        .is_empty());
    assert_eq!(
        code(kms.cancel_key_deletion(KeyIdRequest { key_id: key })),
        "NotFoundException"
    );
}

#[test]
fn maintenance_purges_without_a_call_on_the_key() {
    let (kms, clock) = kms();
    let key = new_key(&kms);
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
        key_id: key.clone(),
        pending_window_in_days: Some(7),
    })
    .unwrap();
    clock.advance_days(8);
    let report = kms.run_maintenance().unwrap();
    assert_eq!(report.deleted, vec![key]);
}

#[test]
fn rotation_automatic_and_on_demand() {
    let (kms, clock) = kms();
    let key = new_key(&kms);
    let ctx = context([("c", "1")]);
    let old_blob = enc(&kms, &key, b"v1", &ctx);
    let st = kms
        .get_key_rotation_status(KeyIdRequest {
            key_id: key.clone(),
        })
        .unwrap();
    assert!(!st.key_rotation_enabled);
    let er = |p| {
        kms.enable_key_rotation(EnableKeyRotationRequest {
            key_id: key.clone(),
            rotation_period_in_days: p,
        })
    };
    assert_eq!(code(er(Some(89))), "ValidationException");
    assert_eq!(code(er(Some(2561))), "ValidationException");
    er(Some(90)).unwrap();
    let st = kms
        .get_key_rotation_status(KeyIdRequest {
            key_id: key.clone(),
        })
        .unwrap();
    assert!(st.key_rotation_enabled);
    assert_eq!(st.rotation_period_in_days, Some(90));
    assert_eq!(st.next_rotation_date_ms, Some(T0 + 90 * 86_400_000));
    let mat0 = describe(&kms, key.clone()).current_key_material_id.unwrap();
    clock.advance_days(90);
    // Lazily on use: the next Encrypt uses the new material.
    let r = kms
        .encrypt(EncryptRequest {
            key_id: key.clone(),
            plaintext: b"v2".to_vec().into(),
            encryption_context: ctx.clone(),
            ..Default::default()
        })
        .unwrap();
    assert_ne!(r.key_material_id, mat0);
    assert_eq!(dec(&kms, &old_blob, &ctx).unwrap(), b"v1");
    assert_eq!(dec(&kms, &r.ciphertext_blob, &ctx).unwrap(), b"v2");
    let rots = kms
        .list_key_rotations(ListKeyRotationsRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(rots.rotations.len(), 1);
    assert_eq!(
        rots.rotations[0].rotation_type,
        Some(RotationType::Automatic)
    );
    assert_eq!(
        rots.rotations[0].key_material_state,
        KeyMaterialState::Current
    );
    // On demand, with the 20-minute conflict rule.
    let next = kms
        .get_key_rotation_status(KeyIdRequest {
            key_id: key.clone(),
        })
        .unwrap()
        .next_rotation_date_ms
        .unwrap();
    clock.set(next - 10 * 60 * 1000);
    assert_eq!(
        code(kms.rotate_key_on_demand(KeyIdRequest {
            key_id: key.clone()
        })),
        "ConflictException"
    );
    kms.disable_key_rotation(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    for _ in 0..25 {
        kms.rotate_key_on_demand(KeyIdRequest {
            key_id: key.clone(),
        })
        .unwrap();
    }
    assert_eq!(
        code(kms.rotate_key_on_demand(KeyIdRequest {
            key_id: key.clone()
        })),
        "LimitExceededException"
    );
    let all = kms
        .list_key_rotations(ListKeyRotationsRequest {
            key_id: key.clone(),
            include_key_material: Some("ALL_KEY_MATERIAL".into()),
            limit: Some(1000),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.rotations.len(), 27);
    assert_eq!(all.rotations[0].rotation_type, None);
    assert_eq!(
        all.rotations
            .iter()
            .filter(|r| r.key_material_state == KeyMaterialState::Current)
            .count(),
        1
    );
    // Every old version still decrypts.
    assert_eq!(dec(&kms, &old_blob, &ctx).unwrap(), b"v1");
}

#[test]
fn disabled_key_is_not_rotated_until_reenabled() {
    let (kms, clock) = kms();
    let key = new_key(&kms);
    kms.enable_key_rotation(EnableKeyRotationRequest {
        key_id: key.clone(),
        rotation_period_in_days: Some(90),
    })
    .unwrap();
    kms.disable_key(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    clock.advance_days(200);
    kms.run_maintenance().unwrap();
    let rots = || {
        kms.list_key_rotations(ListKeyRotationsRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .unwrap()
        .rotations
        .len()
    };
    assert_eq!(rots(), 0);
    kms.enable_key(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    assert_eq!(rots(), 1, "overdue material rotates at once on re-enable");
}

#[test]
fn aws_managed_keys() {
    let (kms, clock) = kms();
    let md = kms.aws_managed_key("s3").unwrap();
    assert_eq!(md.key_manager, KeyManager::Aws);
    assert_eq!(
        kms.aws_managed_key("s3").unwrap().key_id,
        md.key_id,
        "get-or-create"
    );
    let id = || KeyIdRequest {
        key_id: "alias/aws/s3".into(),
    };
    // Its fixed policy allows no management: AccessDenied, as in AWS.
    assert_eq!(code(kms.disable_key(id())), "AccessDeniedException");
    assert_eq!(
        code(kms.disable_key_rotation(id())),
        "AccessDeniedException"
    );
    assert_eq!(
        code(kms.rotate_key_on_demand(id())),
        "AccessDeniedException"
    );
    assert_eq!(
        code(kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
            key_id: "alias/aws/s3".into(),
            pending_window_in_days: None
        })),
        "AccessDeniedException"
    );
    assert_eq!(
        code(kms.delete_alias(DeleteAliasRequest {
            alias_name: "alias/aws/s3".into()
        })),
        "InvalidAliasNameException"
    );
    let st = kms.get_key_rotation_status(id()).unwrap();
    assert!(st.key_rotation_enabled);
    assert_eq!(st.rotation_period_in_days, Some(365));
    // Only through the service, by callers of the account.
    let direct = kms.encrypt(EncryptRequest {
        key_id: "alias/aws/s3".into(),
        plaintext: b"obj".into(),
        ..Default::default()
    });
    assert_eq!(code(direct), "AccessDeniedException");
    let via_s3 =
        kms.as_caller(Caller::account_root(ACCOUNT).via_service("s3.us-east-1.amazonaws.com"));
    let blob = enc(&via_s3, "alias/aws/s3", b"obj", &context([("bucket", "b")]));
    clock.advance_days(365);
    kms.run_maintenance().unwrap();
    assert_eq!(
        kms.list_key_rotations(ListKeyRotationsRequest {
            key_id: "alias/aws/s3".into(),
            ..Default::default()
        })
        .unwrap()
        .rotations
        .len(),
        1
    );
    assert_eq!(
        dec(&via_s3, &blob, &context([("bucket", "b")])).unwrap(),
        b"obj"
    );
    assert_eq!(code(kms.aws_managed_key("Bad Name")), "ValidationException");
    // Its policy cannot be changed; other accounts cannot use it, even via the service.
    let put = kms.put_key_policy(PutKeyPolicyRequest {
        key_id: md.key_id.clone(),
        policy: strongroom::kms::default_policy(ACCOUNT),
        ..Default::default()
    });
    assert_eq!(code(put), "AccessDeniedException");
    let outsider = kms.as_caller(
        Caller::iam_user("444455556666", "carol").via_service("s3.us-east-1.amazonaws.com"),
    );
    let r = outsider.encrypt(EncryptRequest {
        key_id: md.arn.clone(),
        plaintext: b"x".into(),
        ..Default::default()
    });
    assert_eq!(code(r), "AccessDeniedException");
    let policy = kms
        .get_key_policy(GetKeyPolicyRequest {
            key_id: md.key_id.clone(),
            policy_name: None,
        })
        .unwrap()
        .policy;
    assert!(policy.contains("kms:ViaService") && policy.contains("s3.us-east-1.amazonaws.com"));
}

#[test]
fn rotation_required_setting() {
    let (kms, _) = kms();
    let before = new_key(&kms);
    kms.set_rotation_required(true).unwrap();
    assert!(kms.store_settings().unwrap().rotation_required);
    let st = kms
        .get_key_rotation_status(KeyIdRequest {
            key_id: before.clone(),
        })
        .unwrap();
    assert!(st.key_rotation_enabled, "existing keys get rotation");
    let after = new_key(&kms);
    assert!(
        kms.get_key_rotation_status(KeyIdRequest {
            key_id: after.clone()
        })
        .unwrap()
        .key_rotation_enabled
    );
    assert_eq!(
        code(kms.disable_key_rotation(KeyIdRequest {
            key_id: after.clone()
        })),
        "AccessDeniedException"
    );
    // Changing the period is still allowed.
    kms.enable_key_rotation(EnableKeyRotationRequest {
        key_id: after.clone(),
        rotation_period_in_days: Some(180),
    })
    .unwrap();
    kms.set_rotation_required(false).unwrap();
    kms.disable_key_rotation(KeyIdRequest { key_id: after })
        .unwrap();
}

#[test]
fn tags() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    let tag = |tags: Vec<Tag>| {
        kms.tag_resource(TagResourceRequest {
            key_id: key.clone(),
            tags,
        })
    };
    tag(vec![Tag::new("a", "1"), Tag::new("b", "2")]).unwrap();
    tag(vec![Tag::new("a", "3")]).unwrap();
    assert_eq!(code(tag(vec![Tag::new("", "1")])), "TagException");
    assert_eq!(
        code(tag(vec![Tag::new("k".repeat(129), "1")])),
        "TagException"
    );
    assert_eq!(
        code(tag(vec![Tag::new("k", "v".repeat(257))])),
        "TagException"
    );
    let many = (0..49).map(|i| Tag::new(format!("t{i}"), "")).collect();
    assert_eq!(code(tag(many)), "LimitExceededException");
    kms.untag_resource(UntagResourceRequest {
        key_id: key.clone(),
        tag_keys: vec!["b".into()],
    })
    .unwrap();
    let t = kms
        .list_resource_tags(ListResourceTagsRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(t.tags, vec![Tag::new("a", "3")]);
    kms.update_key_description(UpdateKeyDescriptionRequest {
        key_id: key.clone(),
        description: "new".into(),
    })
    .unwrap();
}

#[test]
fn audit_log_is_chained_and_secret_free() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    kms.put_identity_policy(PutIdentityPolicyRequest {
        principal_arn: format!("arn:aws:iam::{ACCOUNT}:user/alice"),
        policy_name: "use-keys".into(),
        policy_document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}"#.into(),
    })
    .unwrap();
    let alice =
        kms.as_caller(Caller::iam_user(ACCOUNT, "alice").via_service("s3.us-east-1.amazonaws.com"));
    let ctx = context([("order", "42")]);
    let blob = enc(&alice, &key, b"TOP-SECRET-PLAINTEXT", &ctx);
    let _ = dec(&kms, &blob, &context([("order", "43")]));
    let log = kms.audit_log().unwrap();
    let ops: Vec<&str> = log.iter().map(|e| e.operation.as_str()).collect();
    assert_eq!(
        ops,
        ["CreateKey", "PutIdentityPolicy", "Encrypt", "Decrypt"]
    );
    let log = &log[1..];
    assert_eq!(
        log[1].principal_arn,
        format!("arn:aws:iam::{ACCOUNT}:user/alice")
    );
    assert_eq!(
        log[1].via_service.as_deref(),
        Some("s3.us-east-1.amazonaws.com")
    );
    assert_eq!(log[1].encryption_context, Some(ctx));
    assert_eq!(log[1].outcome, "Success");
    assert_eq!(log[2].outcome, "InvalidCiphertextException");
    assert!(log[1].key_arn.as_ref().unwrap().ends_with(&key));
    let json = serde_json::to_string(&log).unwrap();
    assert!(!json.contains("TOP-SECRET"));
    assert!(!json.contains(&hex::encode(b"TOP-SECRET-PLAINTEXT")));
    assert!(
        log[1]
            .decision
            .as_ref()
            .unwrap()
            .contains("delegates to IAM"),
        "{:?}",
        log[1].decision
    );
    let v = kms.verify_audit_log().unwrap();
    assert_eq!(v.events, 4);
}

#[test]
fn errors_never_contain_plaintext() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    let secret = b"hunter2-hunter2-hunter2".to_vec();
    kms.disable_key(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    let e = kms
        .encrypt(EncryptRequest {
            key_id: key,
            plaintext: secret.into(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(!e.to_string().contains("hunter2"));
    assert!(!format!("{e:?}").contains("hunter2"));
}

#[test]
fn every_error_code_is_documented() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/errors.md")).unwrap();
    for c in ErrorCode::ALL {
        assert!(
            doc.contains(&format!("`{}`", c.as_str())),
            "{} is missing from docs/errors.md",
            c.as_str()
        );
    }
}

#[test]
fn error_codes_are_stable_strings() {
    for c in ErrorCode::ALL {
        assert_eq!(ErrorCode::from_code(c.as_str()), Some(*c));
    }
}

#[test]
fn caller_handles_share_state() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    let bob: Kms = kms.as_caller(Caller::iam_role(ACCOUNT, "bob"));
    assert_eq!(
        bob.caller().principal_arn,
        format!("arn:aws:iam::{ACCOUNT}:role/bob")
    );
    let describe = || {
        bob.describe_key(DescribeKeyRequest {
            key_id: key.clone(),
            ..Default::default()
        })
    };
    // The default key policy delegates to IAM: bob needs an identity policy.
    assert_eq!(code(describe()), "AccessDeniedException");
    kms.put_identity_policy(PutIdentityPolicyRequest {
        principal_arn: bob.caller().principal_arn.clone(),
        policy_name: "describe".into(),
        policy_document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Describe*","Resource":"*"}}"#.into(),
    })
    .unwrap();
    assert!(describe().is_ok());
}

#[test]
fn requests_do_not_print_plaintext() {
    let r = EncryptRequest {
        key_id: "k".into(),
        plaintext: b"hunter2".to_vec().into(),
        ..Default::default()
    };
    let dbg = format!("{r:?}");
    assert!(
        !dbg.contains("hunter2") && !dbg.contains("104, 117"),
        "{dbg}"
    );
    assert!(dbg.contains("7 bytes redacted"));
}

#[test]
fn kms_is_send_and_sync_and_concurrent_calls_work() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Kms>();
    let (kms, _) = kms();
    let key = new_key(&kms);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let kms = kms.clone();
            let key = key.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let pt = format!("t{t}-{i}").into_bytes();
                    let ctx = context([("t", t.to_string())]);
                    let blob = enc(&kms, &key, &pt, &ctx);
                    assert_eq!(dec(&kms, &blob, &ctx).unwrap(), pt);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let v = kms.verify_audit_log().unwrap();
    assert_eq!(v.events, 1 + 4 * 200 * 2);
}

// ------------------------------------------------------------ AWS wire shape

/// botocore's KMS model (service-2.json), as checked in.
fn aws_model() -> serde_json::Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/aws-model/botocore-1.44.8-kms-2014-11-01.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// A value of botocore shape `name`: enums take `pick[name]`-th value,
/// structures their required members only.
fn sample(
    shapes: &serde_json::Value,
    name: &str,
    pick: &std::collections::HashMap<String, usize>,
) -> serde_json::Value {
    use serde_json::json;
    let s = &shapes[name];
    match s["type"].as_str().unwrap() {
        "string" => match s.get("enum") {
            Some(e) => e[pick.get(name).copied().unwrap_or(0)].clone(),
            None => json!("x"),
        },
        "blob" => json!("AAAA"),
        "integer" | "long" => json!(1),
        "boolean" => json!(false),
        "timestamp" => json!(1767225600),
        "list" => json!([]),
        "map" => json!({}),
        "structure" => {
            let mut o = serde_json::Map::new();
            for r in s["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap();
                let m = s["members"][r]["shape"].as_str().unwrap();
                o.insert(r.into(), sample(shapes, m, pick));
            }
            serde_json::Value::Object(o)
        }
        t => panic!("shape type {t}"),
    }
}

/// Every operation's request takes exactly AWS's required members as
/// required: with them all present (enum values Strongroom knows) the
/// request parses; without any one of them it is a ValidationException
/// naming that member.
#[test]
fn requests_require_exactly_aws_required_members() {
    let model = aws_model();
    let shapes = &model["shapes"];
    let (kms, _) = kms();
    let malformed = |r: &strongroom::Result<serde_json::Value>| match r {
        Err(e) => e.message().starts_with("malformed request"),
        Ok(_) => false,
    };
    let mut checked = 0;
    for op in strongroom::Operation::ALL {
        let Some(input) = model["operations"][op.name()]["input"]["shape"].as_str() else {
            continue; // Strongroom's own operations (identity policies)
        };
        // Find enum values this build accepts: step past unknown variants.
        let mut pick = std::collections::HashMap::new();
        let full = loop {
            let req = sample(shapes, input, &pick);
            let r = strongroom::json::call(&kms, op.name(), req.clone());
            let Err(e) = &r else { break req };
            let msg = e.message().to_string();
            if !msg.contains("unknown variant") {
                assert!(!malformed(&r), "{op}: {req} -> {msg}");
                break req;
            }
            // Which enum shape holds the refused value?
            let bad = msg.split('`').nth(1).unwrap().to_string();
            let (shape, _) = shapes
                .as_object()
                .unwrap()
                .iter()
                .find(|(n, s)| {
                    s["enum"].as_array().is_some_and(|e| {
                        e.iter().position(|v| v == bad.as_str())
                            == Some(pick.get(n.as_str()).copied().unwrap_or(0))
                    })
                })
                .unwrap_or_else(|| panic!("{op}: {msg}"));
            *pick.entry(shape.clone()).or_insert(0) += 1;
        };
        for member in full.as_object().unwrap().keys() {
            let mut req = full.clone();
            req.as_object_mut().unwrap().remove(member);
            let e = strongroom::json::call(&kms, op.name(), req).unwrap_err();
            assert_eq!(e.code(), strongroom::ErrorCode::Validation, "{op} {member}");
            assert!(
                e.message().contains(&format!("missing field `{member}`")),
                "{op} without {member}: {}",
                e.message()
            );
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} required members checked");
}

/// Responses use AWS's member names, base64 blobs and epoch-second
/// timestamps; absent members are omitted, unknown request members refused.
#[test]
fn responses_are_in_aws_wire_shape() {
    use serde_json::json;
    let (kms, clock) = kms();
    clock.set(1_767_225_600_250);
    let call = |op: &str, r: serde_json::Value| strongroom::json::call(&kms, op, r).unwrap();
    let md = call("CreateKey", json!({}))["KeyMetadata"].clone();
    assert_eq!(md["CreationDate"], json!(1767225600.25));
    assert!(md.get("CreationDateMs").is_none() && md.get("DeletionDate").is_none());
    assert!(md.get("ValidTo").is_none() && md.get("MultiRegionConfiguration").is_none());
    let key = md["KeyId"].as_str().unwrap().to_string();
    let enc = call(
        "Encrypt",
        json!({"KeyId": key, "Plaintext": "aGVsbG8=", "EncryptionContext": {"a": "b"}}),
    );
    let blob = enc["CiphertextBlob"].as_str().unwrap();
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .unwrap();
    assert_eq!(base64::engine::general_purpose::STANDARD.encode(&raw), blob);
    let dec = call(
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": {"a": "b"}}),
    );
    assert_eq!(dec["Plaintext"], json!("aGVsbG8="));
    let e = strongroom::json::call(
        &kms,
        "Encrypt",
        json!({"KeyId": key, "Plaintext": "not base64!"}),
    )
    .unwrap_err();
    assert_eq!(e.code(), strongroom::ErrorCode::Validation);
    assert!(e.message().contains("base64"), "{}", e.message());
    let e =
        strongroom::json::call(&kms, "DescribeKey", json!({"KeyId": key, "Bogus": 1})).unwrap_err();
    assert!(
        e.message().contains("unknown field `Bogus`"),
        "{}",
        e.message()
    );
    call(
        "CreateAlias",
        json!({"AliasName": "alias/w", "TargetKeyId": key}),
    );
    let a = call("ListAliases", json!({}))["Aliases"][0].clone();
    assert_eq!(a["CreationDate"], json!(1767225600.25));
    assert_eq!(a["LastUpdatedDate"], json!(1767225600.25));
    assert!(a.get("CreationDateMs").is_none());
    // Inside native_values, blobs cross as bytes (serde_json shows them as
    // number arrays) and are accepted back as bytes.
    let pt = strongroom::native_values(|| {
        let enc = call(
            "Encrypt",
            json!({"KeyId": "alias/w", "Plaintext": [1, 2, 3]}),
        );
        assert!(enc["CiphertextBlob"].is_array());
        call("Decrypt", json!({"CiphertextBlob": enc["CiphertextBlob"]}))
    });
    assert!(matches!(
        pt.get("KeyId"),
        Some(serde_json::Value::String(_))
    ));
    assert_eq!(pt["Plaintext"], json!([1, 2, 3]));
    let d = call(
        "ScheduleKeyDeletion",
        json!({"KeyId": key, "PendingWindowInDays": 7}),
    );
    assert_eq!(d["DeletionDate"], json!(1767225600.25 + 7.0 * 86400.0));
}
