//! Store-wide behaviour: the audit log, error codes and messages, caller handles, concurrency (kms/ops/admin.rs, kms/mod.rs).
//! Behaviour of the public API against kms-semantics.md §1–4.
mod common;
use common::*;
use strongroom::api::*;
use strongroom::{Caller, ErrorCode, Kms};

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
