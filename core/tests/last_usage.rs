//! GetKeyLastUsage: which calls count, what the response says, and that
//! the record is as durable as the audit event it comes from.
mod common;
mod faultfs;
use common::*;
use strongroom::api::*;
use strongroom::asym::{MacAlgorithm, SigningAlgorithm};
use strongroom::kms::AUDIT_FLUSH_EVENTS;
use strongroom::model::*;
use strongroom::{Argon2Params, ErrorCode, Kms, ManualClock, RootKey};

fn last(kms: &Kms, key: &str) -> GetKeyLastUsageResponse {
    kms.get_key_last_usage(GetKeyLastUsageRequest { key_id: key.into() })
        .unwrap()
}

/// The audit event a last usage points at: same operation, time, key.
fn event_of(kms: &Kms, u: &KeyLastUsageData) -> strongroom::AuditEvent {
    let seq: u64 = u.cloud_trail_event_id.parse().unwrap();
    let e = kms
        .audit_log()
        .unwrap()
        .into_iter()
        .find(|e| e.seq == seq)
        .expect("the event is in the audit log");
    assert_eq!(e.operation, u.operation);
    assert_eq!(e.time_ms, u.timestamp_ms);
    assert_eq!(e.outcome, "Success");
    e
}

#[test]
fn a_new_key_has_no_usage_and_tracking_starts_no_earlier_than_it() {
    let (kms, clock) = kms();
    clock.advance_ms(5_000);
    let key = new_key(&kms);
    let r = last(&kms, &key);
    assert_eq!(r.key_id, key);
    assert_eq!(r.key_creation_date_ms, T0 + 5_000);
    assert_eq!(r.tracking_start_date_ms, T0 + 5_000);
    assert!(r.key_last_usage.is_none());
    // Management and read calls are not usage.
    describe(&kms, key.as_str());
    kms.enable_key_rotation(EnableKeyRotationRequest {
        key_id: key.clone(),
        rotation_period_in_days: None,
    })
    .unwrap();
    assert!(last(&kms, &key).key_last_usage.is_none());
}

#[test]
fn each_successful_cryptographic_call_is_recorded_with_its_audit_event() {
    let (kms, clock) = kms();
    let key = new_key(&kms);
    let ctx = context([("app", "lu")]);
    clock.advance_ms(1_000);
    let blob = enc(&kms, &key, b"x", &ctx);
    let u = last(&kms, &key).key_last_usage.unwrap();
    assert_eq!(u.operation, "Encrypt");
    assert_eq!(u.timestamp_ms, T0 + 1_000);
    let e = event_of(&kms, &u);
    assert!(e.key_arn.unwrap().ends_with(&key));

    clock.advance_ms(1_000);
    dec(&kms, &blob, &ctx).unwrap();
    let u = last(&kms, &key).key_last_usage.unwrap();
    assert_eq!(
        (u.operation.as_str(), u.timestamp_ms),
        ("Decrypt", T0 + 2_000)
    );
    event_of(&kms, &u);

    clock.advance_ms(1_000);
    kms.generate_data_key_without_plaintext(GenerateDataKeyRequest {
        key_id: format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}"),
        key_spec: Some(DataKeySpec::Aes256),
        ..Default::default()
    })
    .unwrap();
    let u = last(&kms, &key).key_last_usage.unwrap();
    assert_eq!(u.operation, "GenerateDataKeyWithoutPlaintext");
    event_of(&kms, &u);

    // The key ARN names the key as well as its id.
    let by_arn = last(&kms, &format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}"));
    assert_eq!(
        by_arn.key_last_usage.unwrap().cloud_trail_event_id,
        u.cloud_trail_event_id
    );
}

#[test]
fn failed_and_dry_run_calls_are_not_usage() {
    let (kms, clock) = kms();
    let key = new_key(&kms);
    let ctx = context([("app", "lu")]);
    let blob = enc(&kms, &key, b"x", &ctx);
    let before = last(&kms, &key).key_last_usage.unwrap();
    clock.advance_ms(1_000);
    // Wrong context: the decryption fails.
    assert!(dec(&kms, &blob, &context([("app", "other")])).is_err());
    // A dry run succeeds as DryRunOperationException, and is not usage.
    let e = kms
        .encrypt(EncryptRequest {
            key_id: key.clone(),
            plaintext: b"x".to_vec().into(),
            dry_run: true,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::DryRunOperation);
    // A disabled key refuses.
    kms.disable_key(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    assert!(kms
        .encrypt(EncryptRequest {
            key_id: key.clone(),
            plaintext: b"x".to_vec().into(),
            ..Default::default()
        })
        .is_err());
    let after = last(&kms, &key).key_last_usage.unwrap();
    assert_eq!(after.cloud_trail_event_id, before.cloud_trail_event_id);
    assert_eq!(after.timestamp_ms, before.timestamp_ms);
}

#[test]
fn re_encrypt_marks_both_keys() {
    let (kms, clock) = kms();
    let (src, dst) = (new_key(&kms), new_key(&kms));
    let ctx = context([("app", "lu")]);
    let blob = enc(&kms, &src, b"x", &ctx);
    clock.advance_ms(1_000);
    kms.re_encrypt(ReEncryptRequest {
        ciphertext_blob: blob,
        source_encryption_context: ctx.clone(),
        destination_key_id: dst.clone(),
        destination_encryption_context: ctx.clone(),
        ..Default::default()
    })
    .unwrap();
    let (a, b) = (
        last(&kms, &src).key_last_usage.unwrap(),
        last(&kms, &dst).key_last_usage.unwrap(),
    );
    for u in [&a, &b] {
        assert_eq!(
            (u.operation.as_str(), u.timestamp_ms),
            ("ReEncrypt", T0 + 1_000)
        );
    }
    assert_eq!(a.cloud_trail_event_id, b.cloud_trail_event_id);
    event_of(&kms, &a);
}

#[test]
fn signing_and_mac_keys_are_tracked_too() {
    let (kms, _clock) = kms();
    let sign = kms
        .create_key(CreateKeyRequest {
            key_spec: Some(KeySpec::EccNistP256),
            key_usage: Some(KeyUsage::SignVerify),
            ..Default::default()
        })
        .unwrap()
        .key_metadata
        .key_id;
    let sig = kms
        .sign(SignRequest {
            key_id: sign.clone(),
            message: b"m".to_vec(),
            signing_algorithm: Some(SigningAlgorithm::EcdsaSha256),
            ..Default::default()
        })
        .unwrap()
        .signature;
    assert_eq!(last(&kms, &sign).key_last_usage.unwrap().operation, "Sign");
    kms.verify(VerifyRequest {
        key_id: sign.clone(),
        message: b"m".to_vec(),
        signature: sig,
        signing_algorithm: Some(SigningAlgorithm::EcdsaSha256),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        last(&kms, &sign).key_last_usage.unwrap().operation,
        "Verify"
    );
    let mac = kms
        .create_key(CreateKeyRequest {
            key_spec: Some(KeySpec::Hmac256),
            key_usage: Some(KeyUsage::GenerateVerifyMac),
            ..Default::default()
        })
        .unwrap()
        .key_metadata
        .key_id;
    kms.generate_mac(GenerateMacRequest {
        key_id: mac.clone(),
        message: b"m".to_vec(),
        mac_algorithm: Some(MacAlgorithm::HmacSha256),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        last(&kms, &mac).key_last_usage.unwrap().operation,
        "GenerateMac"
    );
}

#[test]
fn an_alias_or_an_unknown_key_is_not_found() {
    let (kms, _clock) = kms();
    let key = new_key(&kms);
    kms.create_alias(CreateAliasRequest {
        alias_name: "alias/lu".into(),
        target_key_id: key,
    })
    .unwrap();
    for k in [
        "alias/lu".to_string(),
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/lu"),
        "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
    ] {
        let e = kms
            .get_key_last_usage(GetKeyLastUsageRequest { key_id: k.clone() })
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::NotFound, "{k}: {e}");
    }
}

const ROOT: [u8; 32] = [0x42; 32];

fn open(dir: &std::path::Path, clock: &ManualClock) -> Kms {
    Kms::builder(ACCOUNT, REGION)
        .clock(clock.clone())
        .argon2_params(Argon2Params {
            m_kib: 256,
            t: 1,
            p: 1,
        })
        .open_file(dir, RootKey::raw(ROOT))
        .unwrap()
}

#[test]
fn last_usage_and_tracking_start_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let ctx = context([("app", "lu")]);
    let (key, used, other) = {
        let kms = open(dir.path(), &clock);
        let key = new_key(&kms);
        let other = new_key(&kms);
        clock.advance_ms(7_000);
        enc(&kms, &key, b"x", &ctx);
        // Dropped with the Encrypt's audit event still buffered: the drop
        // writes both.
        let used = last(&kms, &key);
        (key, used, other)
    };
    clock.advance_ms(60_000);
    let kms = open(dir.path(), &clock);
    let again = last(&kms, &key);
    assert_eq!(again.tracking_start_date_ms, used.tracking_start_date_ms);
    assert_eq!(again.tracking_start_date_ms, T0);
    let (a, b) = (again.key_last_usage.unwrap(), used.key_last_usage.unwrap());
    assert_eq!(
        (a.operation, a.timestamp_ms, a.cloud_trail_event_id),
        (b.operation, b.timestamp_ms, b.cloud_trail_event_id.clone())
    );
    assert!(last(&kms, &other).key_last_usage.is_none());
    event_of(&kms, &last(&kms, &key).key_last_usage.unwrap());
    kms.verify_audit_log().unwrap();
}

#[test]
fn a_deleted_key_takes_its_usage_record_with_it() {
    use strongroom::Store;
    let entries = |dir: &std::path::Path| -> Vec<String> {
        let mut s = strongroom::FileStore::open(dir).unwrap();
        s.load().unwrap().into_keys().collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let key = {
        let kms = open(dir.path(), &clock);
        let key = new_key(&kms);
        enc(&kms, &key, b"x", &Default::default());
        key
    };
    let record = format!("usage/{key}");
    assert!(entries(dir.path()).contains(&record));
    let kms = open(dir.path(), &clock);
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
        key_id: key.clone(),
        pending_window_in_days: Some(7),
    })
    .unwrap();
    // In steps: the file store refuses a clock jump longer than the
    // shortest deletion window.
    for _ in 0..2 {
        clock.advance_days(4);
        kms.list_keys(ListKeysRequest::default()).unwrap();
    }
    assert_eq!(
        code(kms.get_key_last_usage(GetKeyLastUsageRequest {
            key_id: key.clone()
        })),
        "NotFoundException"
    );
    drop(kms);
    let names = entries(dir.path());
    assert!(!names.contains(&record), "{names:?}");
    assert!(!names.iter().any(|n| n.contains(&key)), "{names:?}");
}

/// The call whose audit flush fails is a failed call: it must not show as
/// the key's last usage, and nothing recorded before it is lost.
#[test]
fn a_call_whose_commit_fails_is_not_recorded() {
    use faultfs::{FaultFs, Op};
    use strongroom::FileStore;
    let fs = FaultFs::new(21);
    let clock = ManualClock::new(T0);
    let kms_on = |fs: &FaultFs| {
        let store = FileStore::open_with(fs.vfs(), "/d/s").unwrap();
        Kms::builder(ACCOUNT, REGION)
            .clock(clock.clone())
            .open(store, RootKey::raw(ROOT))
            .unwrap()
    };
    let kms = kms_on(&fs);
    let key = new_key(&kms);
    kms.flush().unwrap();
    // Encrypt until the buffered audit batch is flushed by one of them, the
    // flush's write failing.
    fs.fail_next(Op::Write);
    let mut failed = None;
    for i in 0..=AUDIT_FLUSH_EVENTS as u64 {
        clock.advance_ms(1);
        let r = kms.encrypt(EncryptRequest {
            key_id: key.clone(),
            plaintext: b"x".to_vec().into(),
            ..Default::default()
        });
        if let Err(e) = r {
            assert_eq!(e.code(), ErrorCode::StoreIo);
            failed = Some(i);
            break;
        }
    }
    let failed = failed.expect("one Encrypt flushed the audit batch");
    let u = last(&kms, &key).key_last_usage.unwrap();
    // The last successful Encrypt, one ms before the failed one.
    assert_eq!(u.timestamp_ms, kms.now_ms() - 1, "after {failed} calls");
    kms.flush().unwrap();
    drop(kms);
    fs.recover();
    let kms = kms_on(&fs);
    let again = last(&kms, &key).key_last_usage.unwrap();
    assert_eq!(again.timestamp_ms, u.timestamp_ms);
    assert_eq!(again.cloud_trail_event_id, u.cloud_trail_event_id);
    event_of(&kms, &again);
}
