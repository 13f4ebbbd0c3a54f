//! CreateAlias, UpdateAlias, DeleteAlias, ListAliases (kms/ops/aliases.rs).
//! Behaviour of the public API against kms-semantics.md §1–4.
mod common;
use common::*;
use strongroom::api::*;

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
