//! CreateKey, DescribeKey, ListKeys, tags, AWS managed keys (kms/ops/keys.rs).
//! Behaviour of the public API against kms-semantics.md §1–4.
mod common;
use common::*;
use strongroom::api::*;
use strongroom::model::*;
use strongroom::Caller;

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
        key_spec: Some(KeySpec::Sm2),
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
