//! Authorization behaviour beyond the language-neutral cases in
//! tests/vectors/core/authorization.json (replayed by tests/vectors.rs).
mod common;
use common::*;
use proptest::prelude::*;
use strongroom::api::*;
use strongroom::model::GrantOperation;
use strongroom::policy::templates;
use strongroom::{Caller, ErrorCode, Kms, ManualClock, RootKey};

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const APP: &str = "arn:aws:iam::111122223333:role/app";

type Op<'a> = (&'a str, Box<dyn Fn(&Kms) -> strongroom::Result<()> + 'a>);

fn key_with(kms: &Kms, policy: String, bypass: bool) -> String {
    kms.create_key(CreateKeyRequest {
        policy: Some(policy),
        bypass_policy_lockout_safety_check: bypass,
        ..Default::default()
    })
    .unwrap()
    .key_metadata
    .key_id
}

fn as_(kms: &Kms, arn: &str) -> Kms {
    let name = arn.rsplit('/').next().unwrap();
    kms.as_caller(if arn.contains(":role/") {
        Caller::iam_role(ACCOUNT, name)
    } else {
        Caller::iam_user(ACCOUNT, name)
    })
}

/// The template statements separate the two roles both ways, for every
/// management and every cryptographic operation.
#[test]
fn templates_separate_admins_and_users() {
    let (kms, _) = kms();
    let policy = templates::document(&[
        templates::account_root(ACCOUNT),
        templates::key_administrators(&[ALICE]),
        templates::key_users(&[APP]),
    ]);
    let key = key_with(&kms, policy, false);
    let admin = as_(&kms, ALICE);
    let user = as_(&kms, APP);
    let blob = enc(&user, &key, b"x", &Default::default());
    let crypto: Vec<Op> = vec![
        (
            "Encrypt",
            Box::new(|k: &Kms| {
                k.encrypt(EncryptRequest {
                    key_id: key.clone(),
                    plaintext: b"p".into(),
                    ..Default::default()
                })
                .map(drop)
            }),
        ),
        (
            "Decrypt",
            Box::new(|k: &Kms| {
                k.decrypt(DecryptRequest {
                    ciphertext_blob: blob.clone(),
                    ..Default::default()
                })
                .map(drop)
            }),
        ),
        (
            "GenerateDataKey",
            Box::new(|k: &Kms| {
                k.generate_data_key(GenerateDataKeyRequest {
                    key_id: key.clone(),
                    number_of_bytes: Some(8),
                    ..Default::default()
                })
                .map(drop)
            }),
        ),
        (
            "ReEncrypt",
            Box::new(|k: &Kms| {
                k.re_encrypt(ReEncryptRequest {
                    ciphertext_blob: blob.clone(),
                    destination_key_id: key.clone(),
                    ..Default::default()
                })
                .map(drop)
            }),
        ),
    ];
    let manage: Vec<Op> = vec![
        (
            "DisableKey",
            Box::new(|k: &Kms| {
                k.disable_key(KeyIdRequest {
                    key_id: key.clone(),
                })
            }),
        ),
        (
            "EnableKey",
            Box::new(|k: &Kms| {
                k.enable_key(KeyIdRequest {
                    key_id: key.clone(),
                })
            }),
        ),
        (
            "TagResource",
            Box::new(|k: &Kms| {
                k.tag_resource(TagResourceRequest {
                    key_id: key.clone(),
                    tags: vec![Tag::new("a", "b")],
                })
            }),
        ),
        (
            "EnableKeyRotation",
            Box::new(|k: &Kms| {
                k.enable_key_rotation(EnableKeyRotationRequest {
                    key_id: key.clone(),
                    rotation_period_in_days: None,
                })
            }),
        ),
        (
            "UpdateKeyDescription",
            Box::new(|k: &Kms| {
                k.update_key_description(UpdateKeyDescriptionRequest {
                    key_id: key.clone(),
                    description: "d".into(),
                })
            }),
        ),
        (
            "GetKeyPolicy",
            Box::new(|k: &Kms| {
                k.get_key_policy(GetKeyPolicyRequest {
                    key_id: key.clone(),
                    policy_name: None,
                })
                .map(drop)
            }),
        ),
        (
            "ScheduleKeyDeletion",
            Box::new(|k: &Kms| {
                k.schedule_key_deletion(ScheduleKeyDeletionRequest {
                    key_id: key.clone(),
                    pending_window_in_days: None,
                })
                .map(drop)
            }),
        ),
        (
            "CancelKeyDeletion",
            Box::new(|k: &Kms| {
                k.cancel_key_deletion(KeyIdRequest {
                    key_id: key.clone(),
                })
                .map(drop)
            }),
        ),
        (
            "EnableKey",
            Box::new(|k: &Kms| {
                k.enable_key(KeyIdRequest {
                    key_id: key.clone(),
                })
            }),
        ),
    ];
    for (name, f) in &crypto {
        assert!(f(&user).is_ok(), "user {name}");
        assert_eq!(
            f(&admin).unwrap_err().code(),
            ErrorCode::AccessDenied,
            "admin {name}"
        );
    }
    for (name, f) in &manage {
        assert_eq!(
            f(&user).unwrap_err().code(),
            ErrorCode::AccessDenied,
            "user {name}"
        );
        assert!(f(&admin).is_ok(), "admin {name}");
    }
}

#[test]
fn access_denied_names_principal_action_key_and_reason_and_is_audited() {
    let (kms, _) = kms();
    let key = key_with(
        &kms,
        templates::document(&[
            templates::account_root(ACCOUNT),
            serde_json::json!({"Sid": "NoDecryptForApp", "Effect": "Deny", "Principal": {"AWS": APP},
                               "Action": "kms:Decrypt", "Resource": "*"}),
        ]),
        false,
    );
    let blob = enc(&kms, &key, b"x", &Default::default());
    let app = as_(&kms, APP);
    let e = dec(&app, &blob, &Default::default()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccessDenied);
    for part in [
        APP,
        "kms:Decrypt",
        key.as_str(),
        "explicit deny",
        "NoDecryptForApp",
    ] {
        assert!(e.message().contains(part), "{part} in {}", e.message());
    }
    let e = app
        .encrypt(EncryptRequest {
            key_id: key.clone(),
            plaintext: b"p".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        e.message()
            .contains("no resource-based policy allows the kms:Encrypt action"),
        "{}",
        e.message()
    );
    let log = kms.audit_log().unwrap();
    let last_two: Vec<_> = log.iter().rev().take(2).collect();
    assert_eq!(last_two[0].outcome, "AccessDeniedException");
    assert!(last_two[0]
        .decision
        .as_ref()
        .unwrap()
        .starts_with("deny kms:Encrypt"));
    assert!(last_two[1]
        .decision
        .as_ref()
        .unwrap()
        .contains("NoDecryptForApp"));
    let ok = log
        .iter()
        .find(|e| e.operation == "Encrypt" && e.outcome == "Success")
        .unwrap();
    assert!(ok
        .decision
        .as_ref()
        .unwrap()
        .contains("Enable IAM User Permissions"));
}

#[test]
fn policies_grants_and_identity_policies_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let root = [9u8; 32];
    let open = || {
        Kms::builder(ACCOUNT, REGION)
            .clock(ManualClock::new(T0))
            .open_file(dir.path(), RootKey::raw(root))
            .unwrap()
    };
    let (key, token) = {
        let kms = open();
        let key = key_with(
            &kms,
            templates::document(&[
                templates::account_root(ACCOUNT),
                templates::key_users(&[APP]),
            ]),
            false,
        );
        kms.put_identity_policy(PutIdentityPolicyRequest {
            principal_arn: ALICE.into(),
            policy_name: "describe".into(),
            policy_document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*"}}"#.into(),
        })
        .unwrap();
        let g = kms
            .create_grant(CreateGrantRequest {
                key_id: key.clone(),
                grantee_principal: "arn:aws:iam::111122223333:user/bob".into(),
                operations: vec![GrantOperation::Encrypt],
                ..Default::default()
            })
            .unwrap();
        (key, g.grant_token)
    };
    let kms = open();
    assert!(!enc(&as_(&kms, APP), &key, b"p", &Default::default()).is_empty());
    assert!(kms
        .as_caller(Caller::iam_user(ACCOUNT, "alice"))
        .describe_key(DescribeKeyRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .is_ok());
    let bob = kms.as_caller(Caller::iam_user(ACCOUNT, "bob"));
    bob.encrypt(EncryptRequest {
        key_id: key.clone(),
        plaintext: b"p".into(),
        grant_tokens: vec![token],
        ..Default::default()
    })
    .unwrap();
    let policy = kms
        .get_key_policy(GetKeyPolicyRequest {
            key_id: key,
            policy_name: None,
        })
        .unwrap();
    assert!(policy.policy.contains("Allow use of the key"));
}

#[test]
fn locked_out_key_recovers_only_with_the_root_key() {
    let dir = tempfile::tempdir().unwrap();
    let kms = Kms::builder(ACCOUNT, REGION)
        .argon2_params(strongroom::Argon2Params {
            m_kib: 256,
            t: 1,
            p: 1,
        })
        .open_file(dir.path(), RootKey::passphrase("owner passphrase"))
        .unwrap();
    // A policy that lets nobody in (the bypass flag skips the safety check).
    let key = key_with(
        &kms,
        templates::document(&[
            serde_json::json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/nobody"}, "Action": "kms:DescribeKey", "Resource": "*"}),
        ]),
        true,
    );
    let describe = || {
        kms.describe_key(DescribeKeyRequest {
            key_id: key.clone(),
            ..Default::default()
        })
    };
    assert_eq!(describe().unwrap_err().code(), ErrorCode::AccessDenied);
    let put = kms.put_key_policy(PutKeyPolicyRequest {
        key_id: key.clone(),
        policy: strongroom::kms::default_policy(ACCOUNT),
        ..Default::default()
    });
    assert_eq!(put.unwrap_err().code(), ErrorCode::AccessDenied);
    let e = kms
        .recover_key_policy(&key, RootKey::passphrase("guess"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidRootKey);
    let e = kms
        .recover_key_policy(&key, RootKey::raw([0; 32]))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidRootKey);
    assert_eq!(describe().unwrap_err().code(), ErrorCode::AccessDenied);
    kms.recover_key_policy(&key, RootKey::passphrase("owner passphrase"))
        .unwrap();
    assert!(describe().is_ok());
    let log = kms.audit_log().unwrap();
    let rec: Vec<_> = log
        .iter()
        .filter(|e| e.operation == "RecoverKeyPolicy")
        .collect();
    assert_eq!(rec.len(), 3);
    assert_eq!(rec[2].outcome, "Success");
    assert!(rec[2]
        .decision
        .as_ref()
        .unwrap()
        .contains("store root key presented"));
}

#[test]
fn grant_limit_per_key() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    for i in 0..strongroom::kms::MAX_GRANTS_PER_KEY {
        kms.create_grant(CreateGrantRequest {
            key_id: key.clone(),
            grantee_principal: format!("arn:aws:iam::111122223333:role/r{i}"),
            operations: vec![GrantOperation::Decrypt],
            ..Default::default()
        })
        .unwrap();
    }
    let e = kms
        .create_grant(CreateGrantRequest {
            key_id: key.clone(),
            grantee_principal: APP.into(),
            operations: vec![GrantOperation::Decrypt],
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::LimitExceeded);
}

#[test]
fn deleting_a_key_deletes_its_grants() {
    use strongroom::{MemoryStore, Store};
    let mem = MemoryStore::new();
    let clock = ManualClock::new(T0);
    let kms = Kms::builder(ACCOUNT, REGION)
        .clock(clock.clone())
        .open(mem.clone(), RootKey::raw([3; 32]))
        .unwrap();
    let key = new_key(&kms);
    let g = kms
        .create_grant(CreateGrantRequest {
            key_id: key.clone(),
            grantee_principal: APP.into(),
            retiring_principal: Some(ALICE.into()),
            operations: vec![GrantOperation::Decrypt],
            ..Default::default()
        })
        .unwrap();
    let grant_entries = || {
        let mut m = mem.clone();
        m.load()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("grant/"))
            .count()
    };
    assert_eq!(grant_entries(), 1);
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
        key_id: key.clone(),
        pending_window_in_days: Some(7),
    })
    .unwrap();
    clock.advance_days(7);
    kms.run_maintenance().unwrap();
    assert_eq!(grant_entries(), 0);
    let listed = kms
        .list_retirable_grants(ListRetirableGrantsRequest {
            retiring_principal: ALICE.into(),
            ..Default::default()
        })
        .unwrap();
    assert!(listed.grants.is_empty());
    let e = kms.retire_grant(RetireGrantRequest {
        grant_token: Some(g.grant_token),
        ..Default::default()
    });
    assert_eq!(e.unwrap_err().code(), ErrorCode::NotFound);
}

#[test]
fn store_administration_is_root_only() {
    let (kms, _) = kms();
    let bob = kms.as_caller(Caller::iam_user(ACCOUNT, "bob"));
    assert_eq!(
        bob.set_rotation_required(true).unwrap_err().code(),
        ErrorCode::AccessDenied
    );
    assert_eq!(
        bob.prune_audit_log(0).unwrap_err().code(),
        ErrorCode::AccessDenied
    );
    assert_eq!(
        bob.run_maintenance().unwrap_err().code(),
        ErrorCode::AccessDenied
    );
    assert_eq!(
        bob.list_identity_policies(ALICE).unwrap_err().code(),
        ErrorCode::AccessDenied
    );
    let other_root = kms.as_caller(Caller::account_root("444455556666"));
    assert_eq!(
        other_root.set_rotation_required(true).unwrap_err().code(),
        ErrorCode::AccessDenied
    );
    kms.set_rotation_required(true).unwrap();
}

// ------------------------------------------------------------ property

fn statement_strategy() -> impl Strategy<Value = serde_json::Value> {
    let principal = prop::sample::select(vec![
        "*".to_string(),
        "arn:aws:iam::111122223333:root".into(),
        ALICE.into(),
        APP.into(),
        "arn:aws:iam::444455556666:root".into(),
    ]);
    let action = prop::sample::select(vec![
        "kms:*",
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:Describe*",
        "kms:GenerateDataKey*",
        "kms:Put*",
    ]);
    let cond = prop::option::of(prop::sample::select(vec![
        serde_json::json!({"StringEquals": {"kms:EncryptionContext:tenant": "acme"}}),
        serde_json::json!({"StringNotEquals": {"kms:CallerAccount": "111122223333"}}),
        serde_json::json!({"Null": {"kms:EncryptionContextKeys": "true"}}),
        serde_json::json!({"StringEquals": {"kms:Unknown": "x"}}),
        serde_json::json!({"ForAllValues:StringLike": {"kms:EncryptionContextKeys": "t*"}}),
    ]));
    (principal, prop::collection::vec(action, 1..3), cond).prop_map(|(p, a, c)| {
        let mut s = serde_json::json!({"Effect": "Allow", "Principal": {"AWS": p}, "Action": a, "Resource": "*"});
        if p == "*" {
            s["Principal"] = serde_json::json!("*");
        }
        if let Some(c) = c {
            s["Condition"] = c;
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Adding a Deny statement never turns a denial into an allow (and
    /// never turns a denial into anything but a denial).
    #[test]
    fn adding_a_deny_never_allows_more(
        allows in prop::collection::vec(statement_strategy(), 1..5),
        deny in statement_strategy(),
        who in prop::sample::select(vec!["root", "alice", "app", "other"]),
        ctx in prop::option::of(prop::sample::select(vec!["acme", "evil"])),
    ) {
        let mut denyst = deny.clone();
        denyst["Effect"] = serde_json::json!("Deny");
        let (kms, _) = kms();
        let base = templates::document(&allows);
        let mut with_deny_statements = allows.clone();
        with_deny_statements.push(denyst);
        let with_deny = templates::document(&with_deny_statements);
        let k1 = key_with(&kms, base, true);
        let k2 = key_with(&kms, with_deny, true);
        let caller = match who {
            "root" => Caller::account_root(ACCOUNT),
            "alice" => Caller::iam_user(ACCOUNT, "alice"),
            "app" => Caller::iam_role(ACCOUNT, "app"),
            _ => Caller::account_root("444455556666"),
        };
        let actor = kms.as_caller(caller);
        let ec = ctx.map(|t| context([("tenant", t)])).unwrap_or_default();
        let try_ops = |key: &str| -> Vec<bool> {
            let arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}");
            vec![
                actor.encrypt(EncryptRequest { key_id: arn.clone(), plaintext: b"p".into(), encryption_context: ec.clone(), ..Default::default() }).is_ok(),
                actor.describe_key(DescribeKeyRequest { key_id: arn.clone(), ..Default::default() }).is_ok(),
                actor.generate_data_key(GenerateDataKeyRequest { key_id: arn, number_of_bytes: Some(16), encryption_context: ec.clone(), ..Default::default() }).is_ok(),
            ]
        };
        let without = try_ops(&k1);
        let with = try_ops(&k2);
        for (i, (a, b)) in without.iter().zip(&with).enumerate() {
            prop_assert!(!*b || *a, "op {i}: the deny turned a denial into an allow");
        }
    }
}
