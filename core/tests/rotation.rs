//! Automatic and on-demand rotation, rotation settings (kms/ops/rotation.rs).
//! Behaviour of the public API against kms-semantics.md §1–4.
mod common;
use common::*;
use strongroom::api::*;
use strongroom::model::*;

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
