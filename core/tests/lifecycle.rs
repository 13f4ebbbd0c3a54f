//! EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion, purging (kms/ops/lifecycle.rs).
//! Behaviour of the public API against kms-semantics.md §1–4.
mod common;
use common::*;
use strongroom::api::*;
use strongroom::model::*;
use strongroom::ErrorCode;

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
