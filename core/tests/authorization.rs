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

/// Characters above U+00FF cannot appear in a policy document's text (as in
/// AWS), but may be written as JSON `\uXXXX` escapes.
fn escape_above_latin1(doc: &str) -> String {
    doc.chars()
        .map(|c| {
            if (c as u32) > 0xFF {
                let mut b = [0u16; 2];
                c.encode_utf16(&mut b)
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn key_with(kms: &Kms, policy: String, bypass: bool) -> String {
    kms.create_key(CreateKeyRequest {
        policy: Some(escape_above_latin1(&policy)),
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

// ------------------------------------------------------------ hardening

/// Issue 14 item 2: account-level actions (no key) are for the store's own
/// account. Another account's root, and another account's principal even
/// with an identity policy in this store allowing `kms:*`, are refused.
#[test]
fn foreign_principals_are_denied_account_level_actions() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    kms.create_alias(CreateAliasRequest {
        alias_name: "alias/a".into(),
        target_key_id: key,
    })
    .unwrap();
    let foreign_user = "arn:aws:iam::444455556666:user/carol";
    kms.put_identity_policy(PutIdentityPolicyRequest {
        principal_arn: foreign_user.into(),
        policy_name: "all".into(),
        policy_document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#.into(),
    })
    .unwrap();
    let account_level = |k: &Kms| -> Vec<(&'static str, strongroom::Result<()>)> {
        vec![
            (
                "ListKeys",
                k.list_keys(ListKeysRequest::default()).map(drop),
            ),
            (
                "ListAliases",
                k.list_aliases(ListAliasesRequest::default()).map(drop),
            ),
            (
                "CreateKey",
                k.create_key(CreateKeyRequest::default()).map(drop),
            ),
            (
                "GenerateRandom",
                k.generate_random(GenerateRandomRequest {
                    number_of_bytes: Some(16),
                })
                .map(drop),
            ),
            (
                "ListRetirableGrants",
                k.list_retirable_grants(ListRetirableGrantsRequest {
                    retiring_principal: ALICE.into(),
                    ..Default::default()
                })
                .map(drop),
            ),
        ]
    };
    let keys_before = kms
        .list_keys(ListKeysRequest::default())
        .unwrap()
        .keys
        .len();
    for foreign in [
        Caller::account_root("444455556666"),
        Caller::iam_user("444455556666", "carol"),
    ] {
        let who = foreign.principal_arn.clone();
        for (op, r) in account_level(&kms.as_caller(foreign)) {
            let e = r.expect_err(&format!("{who} {op} must be refused"));
            assert_eq!(e.code(), ErrorCode::AccessDenied, "{who} {op}: {e}");
        }
    }
    assert_eq!(
        kms.list_keys(ListKeysRequest::default())
            .unwrap()
            .keys
            .len(),
        keys_before,
        "no key was created by a foreign principal"
    );
    // The store's own root, and an own-account principal its identity
    // policies allow, still pass.
    for (op, r) in account_level(&kms) {
        r.unwrap_or_else(|e| panic!("root {op}: {e}"));
    }
    kms.put_identity_policy(PutIdentityPolicyRequest {
        principal_arn: ALICE.into(),
        policy_name: "all".into(),
        policy_document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#.into(),
    })
    .unwrap();
    for (op, r) in account_level(&as_(&kms, ALICE)) {
        r.unwrap_or_else(|e| panic!("alice {op}: {e}"));
    }
}

/// Issue 14 item 3: statements AWS rejects are refused on every write path
/// (CreateKey, PutKeyPolicy, PutIdentityPolicy) with AWS's wording: they
/// used to be accepted and then apply to nothing (a Deny without Resource
/// silently denied nothing).
#[test]
fn statements_without_action_resource_or_principal_are_refused() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    let root = templates::account_root(ACCOUNT);
    let bad = [
        (
            serde_json::json!({"Effect": "Deny", "Principal": {"AWS": APP}, "Action": "kms:Decrypt"}),
            "Policy statement must contain resources.",
        ),
        (
            serde_json::json!({"Effect": "Deny", "Principal": {"AWS": APP}, "Resource": "*"}),
            "Policy statement must contain actions.",
        ),
        (
            serde_json::json!({"Effect": "Allow", "Principal": {"AWS": []}, "Action": "kms:*", "Resource": "*"}),
            "Policy contains a statement with one or more invalid principals.",
        ),
        (
            serde_json::json!({"Effect": "Deny", "NotPrincipal": {"AWS": []}, "Action": "kms:*", "Resource": "*"}),
            "Policy contains a statement with one or more invalid principals.",
        ),
    ];
    for (st, why) in &bad {
        let doc = templates::document(&[root.clone(), st.clone()]);
        let e = kms
            .put_key_policy(PutKeyPolicyRequest {
                key_id: key.clone(),
                policy: doc.clone(),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::MalformedPolicyDocument, "{st}");
        assert!(e.message().contains(why), "{st}: {}", e.message());
        let e = kms
            .create_key(CreateKeyRequest {
                policy: Some(doc),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::MalformedPolicyDocument, "{st}");
    }
    for (doc, why) in [
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"kms:Decrypt"}}"#,
            "must contain resources",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}"#,
            "must contain actions",
        ),
    ] {
        let e = kms
            .put_identity_policy(PutIdentityPolicyRequest {
                principal_arn: APP.into(),
                policy_name: "p".into(),
                policy_document: doc.into(),
            })
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::MalformedPolicyDocument, "{doc}");
        assert!(e.message().contains(why), "{doc}: {}", e.message());
    }
}

/// A policy with a Deny on `kms:EncryptionContext:<key>` and an Allow for
/// the app, both scoped to encryption.
fn context_policy(deny: serde_json::Value, allow: serde_json::Value) -> String {
    templates::document(&[
        templates::account_root(ACCOUNT),
        serde_json::json!({"Sid": "AppUse", "Effect": "Allow", "Principal": {"AWS": APP},
                           "Action": ["kms:Encrypt", "kms:GenerateDataKey"], "Resource": "*",
                           "Condition": allow}),
        serde_json::json!({"Sid": "Blocked", "Effect": "Deny", "Principal": {"AWS": APP},
                           "Action": ["kms:Encrypt", "kms:GenerateDataKey"], "Resource": "*",
                           "Condition": deny}),
    ])
}

fn app_encrypts(kms: &Kms, key: &str, ctx: &[(&str, &str)]) -> strongroom::Result<()> {
    as_(kms, APP)
        .encrypt(EncryptRequest {
            key_id: key.into(),
            plaintext: b"p".into(),
            encryption_context: context(ctx.iter().copied()),
            ..Default::default()
        })
        .map(drop)
}

/// Issue 14 item 4: keys that differ only in case (`TENANT`/`tenant`) are
/// all values of `kms:EncryptionContext:tenant`: the Deny fires if any of
/// them is blocked, and the Allow holds only if every one satisfies it.
#[test]
fn case_variant_context_keys_cannot_evade_conditions() {
    let (kms, _) = kms();
    let key = key_with(
        &kms,
        context_policy(
            serde_json::json!({"StringEquals": {"kms:EncryptionContext:tenant": "blocked"}}),
            serde_json::json!({"StringEquals": {"kms:EncryptionContext:tenant": "ok"}}),
        ),
        false,
    );
    app_encrypts(&kms, &key, &[("tenant", "ok")]).unwrap();
    app_encrypts(&kms, &key, &[("Tenant", "ok")]).unwrap();
    for ctx in [
        &[("tenant", "blocked")][..],
        &[("TENANT", "ok"), ("tenant", "blocked")],
        &[("tenant", "ok"), ("TENANT", "blocked")],
        &[("TENANT", "ok"), ("Tenant", "other"), ("tenant", "ok")],
    ] {
        let e = app_encrypts(&kms, &key, ctx).unwrap_err();
        assert_eq!(e.code(), ErrorCode::AccessDenied, "{ctx:?}");
    }
    // A negated operator in the Deny: any value other than ok is refused.
    let key2 = key_with(
        &kms,
        context_policy(
            serde_json::json!({"StringNotEquals": {"kms:EncryptionContext:tenant": "ok"}}),
            serde_json::json!({"Null": {"kms:EncryptionContext:tenant": "false"}}),
        ),
        false,
    );
    app_encrypts(&kms, &key2, &[("tenant", "ok")]).unwrap();
    let e = app_encrypts(&kms, &key2, &[("TENANT", "ok"), ("tenant", "blocked")]).unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccessDenied);
}

/// Issue 14 item 4: a context key with a non-ASCII capital matches the
/// condition key however either side is cased (the same Unicode folding on
/// both sides; it used to be ASCII on the policy side only).
#[test]
fn non_ascii_context_keys_match_their_condition_keys() {
    let (kms, _) = kms();
    for (policy_key, request_key) in [
        ("Ärger", "Ärger"),
        ("Ärger", "ärger"),
        ("ärger", "ÄRGER"),
        ("Straße", "STRASSE"),
        ("ΟΔΟΣ", "οδοσ"),
    ] {
        let key = key_with(
            &kms,
            context_policy(
                serde_json::json!({"StringEquals": {format!("kms:EncryptionContext:{policy_key}"): "x"}}),
                serde_json::json!({"Null": {format!("kms:EncryptionContext:{policy_key}"): "false"}}),
            ),
            false,
        );
        app_encrypts(&kms, &key, &[(request_key, "y")])
            .unwrap_or_else(|e| panic!("{policy_key} vs {request_key}: allowed value: {e}"));
        let e = app_encrypts(&kms, &key, &[(request_key, "x")]).unwrap_err();
        assert_eq!(
            e.code(),
            ErrorCode::AccessDenied,
            "{policy_key} vs {request_key}: the Deny must fire"
        );
    }
}

/// Context-condition statements for the property below (few names and
/// values, so that collisions after folding are frequent).
fn ec_statement_strategy() -> impl Strategy<Value = serde_json::Value> {
    let key = prop::sample::select(vec!["tenant", "Tenant", "Ärger"]);
    let op = prop::sample::select(vec![
        "StringEquals",
        "StringNotEquals",
        "StringLike",
        "StringEqualsIgnoreCase",
        "StringEqualsIfExists",
        "StringNotEqualsIfExists",
        "ForAnyValue:StringEquals",
        "Null",
    ]);
    let val = prop::sample::select(vec!["ok", "blocked", "b*", "false"]);
    let effect = prop::sample::select(vec!["Allow", "Allow", "Deny"]);
    (effect, prop::collection::vec((op, key, val), 1..3)).prop_map(|(effect, conds)| {
        let mut c = serde_json::Map::new();
        for (op, key, val) in conds {
            let entry = c
                .entry(op.to_string())
                .or_insert_with(|| serde_json::json!({}));
            entry[format!("kms:EncryptionContext:{key}")] = serde_json::json!(val);
        }
        serde_json::json!({"Effect": effect, "Principal": {"AWS": APP},
                           "Action": "kms:Encrypt", "Resource": "*", "Condition": c})
    })
}

fn case_variant(s: &str, how: u8) -> String {
    match how % 3 {
        0 => s.to_uppercase(),
        1 => s.to_lowercase(),
        _ => {
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase(),
                None => String::new(),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Issue 14 item 4: adding a key that differs from one already in the
    /// context only in case never turns a denial into an allow.
    #[test]
    fn a_case_variant_context_key_never_turns_a_deny_into_an_allow(
        statements in prop::collection::vec(ec_statement_strategy(), 1..4),
        base in prop::collection::btree_map(
            prop::sample::select(vec!["tenant", "TENANT", "Tenant", "ärger", "ÄRGER", "other"]),
            prop::sample::select(vec!["ok", "blocked", "false"]),
            1..3,
        ),
        pick in any::<prop::sample::Index>(),
        how in any::<u8>(),
        value in prop::sample::select(vec!["ok", "blocked", "false"]),
    ) {
        let (kms, _) = kms();
        let mut all = vec![templates::account_root(ACCOUNT)];
        all.extend(statements);
        let key = key_with(&kms, templates::document(&all), true);
        let names: Vec<&str> = base.keys().copied().collect();
        let variant = case_variant(names[pick.index(names.len())], how);
        prop_assume!(!base.contains_key(variant.as_str()));
        let before: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, *v)).collect();
        let mut after = before.clone();
        after.push((variant.as_str(), value));
        let denied_before = app_encrypts(&kms, &key, &before).is_err();
        let allowed_after = app_encrypts(&kms, &key, &after).is_ok();
        prop_assert!(
            !(denied_before && allowed_after),
            "{before:?} was denied but {after:?} is allowed"
        );
    }
}

/// Issue 14 item 5: the audit log (every principal, key and context) is
/// the account root's to read and verify; refusals are audited.
#[test]
fn audit_log_is_root_only() {
    let (kms, _) = kms();
    new_key(&kms);
    for caller in [
        Caller::iam_user(ACCOUNT, "bob"),
        Caller::iam_role(ACCOUNT, "app"),
        Caller::account_root("444455556666"),
    ] {
        let h = kms.as_caller(caller);
        assert_eq!(h.audit_log().unwrap_err().code(), ErrorCode::AccessDenied);
        assert_eq!(
            h.verify_audit_log().unwrap_err().code(),
            ErrorCode::AccessDenied
        );
    }
    let log = kms.audit_log().unwrap();
    assert!(log
        .iter()
        .any(|e| e.operation == "GetAuditLog" && e.outcome == "AccessDeniedException"));
    kms.verify_audit_log().unwrap();
}

/// Issue 14 item 5: `aws_managed_key` is authorized like CreateKey /
/// DescribeKey: a principal without permission neither creates one (it
/// used to fill the store up to its key limit) nor reads its metadata.
#[test]
fn aws_managed_keys_need_authorization() {
    let (kms, _) = kms();
    let bob = kms.as_caller(Caller::iam_user(ACCOUNT, "bob"));
    let foreign = kms.as_caller(Caller::account_root("444455556666"));
    for h in [&bob, &foreign] {
        assert_eq!(
            h.aws_managed_key("s3").unwrap_err().code(),
            ErrorCode::AccessDenied
        );
    }
    assert!(kms
        .list_keys(ListKeysRequest::default())
        .unwrap()
        .keys
        .is_empty());
    let md = kms.aws_managed_key("s3").unwrap();
    // Existing: DescribeKey on it, which its policy gives the account root
    // (and principals using it through the service), not bob directly.
    assert_eq!(kms.aws_managed_key("s3").unwrap().key_id, md.key_id);
    for h in [&bob, &foreign] {
        assert_eq!(
            h.aws_managed_key("s3").unwrap_err().code(),
            ErrorCode::AccessDenied
        );
    }
    // With kms:CreateKey and kms:DescribeKey from an identity policy (the
    // managed key's policy delegates DescribeKey via the service only), bob
    // creates another one.
    kms.put_identity_policy(PutIdentityPolicyRequest {
        principal_arn: bob.caller().principal_arn.clone(),
        policy_name: "create".into(),
        policy_document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*"}}"#.into(),
    })
    .unwrap();
    bob.aws_managed_key("ebs").unwrap();
}

/// Issue 14 item 20: a caller whose principal ARN and account disagree is
/// refused, whether built in Rust or deserialized (the bindings'
/// `as_caller`).
#[test]
fn inconsistent_callers_are_refused() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    // The root of 111122223333 claiming to be of 444455556666, and the
    // other way round: both refused.
    for (arn, account) in [
        ("arn:aws:iam::111122223333:root", "444455556666"),
        ("arn:aws:iam::444455556666:root", ACCOUNT),
        ("arn:aws:iam::444455556666:user/carol", ACCOUNT),
        ("not an arn", ACCOUNT),
    ] {
        assert!(Caller::new(arn, account).is_err(), "{arn} / {account}");
        let json = serde_json::json!({"PrincipalArn": arn, "Account": account, "ViaService": null});
        assert!(
            serde_json::from_value::<Caller>(json).is_err(),
            "{arn} / {account} deserialized"
        );
        let c = Caller {
            principal_arn: arn.into(),
            account: account.into(),
            via_service: None,
            source_account: None,
            source_ip: None,
        };
        let h = kms.as_caller(c);
        for r in [
            h.describe_key(DescribeKeyRequest {
                key_id: key.clone(),
                ..Default::default()
            })
            .map(drop),
            h.list_keys(ListKeysRequest::default()).map(drop),
            h.set_rotation_required(false),
        ] {
            let e = r.unwrap_err();
            assert!(
                matches!(e.code(), ErrorCode::Validation | ErrorCode::AccessDenied),
                "{arn} / {account}: {e}"
            );
        }
    }
    // A service principal acting for another account than it names.
    let mut svc = Caller::service("logs.amazonaws.com", ACCOUNT);
    svc.source_account = Some("444455556666".into());
    assert!(svc.validate().is_err());
    // Consistent callers pass.
    for c in [
        Caller::account_root(ACCOUNT),
        Caller::iam_user(ACCOUNT, "bob"),
        Caller::iam_role("444455556666", "app"),
        Caller::service("logs.amazonaws.com", ACCOUNT),
        Caller::new("arn:aws:sts::111122223333:assumed-role/app/s1", ACCOUNT).unwrap(),
    ] {
        c.validate().unwrap();
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(serde_json::from_value::<Caller>(json).unwrap(), c);
    }
}

/// `aws:SourceIp` (the server sets it from the peer address) with
/// IpAddress/NotIpAddress conditions: an allow only from 10.0.0.0/8, and a
/// deny of one address; a caller with no address (in process) matches no
/// IpAddress condition.
#[test]
fn source_ip_conditions() {
    let (kms, _) = kms();
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.6.6.6"}}},
    ]});
    let key = key_with(&kms, policy.to_string(), false);
    let encrypt = |ip: Option<&str>| {
        let mut c = Caller::iam_user(ACCOUNT, "alice");
        if let Some(ip) = ip {
            c = c.with_source_ip(ip);
        }
        kms.as_caller(c)
            .encrypt(EncryptRequest {
                key_id: key.clone(),
                plaintext: b"x".to_vec().into(),
                ..Default::default()
            })
            .map(drop)
            .map_err(|e| e.code())
    };
    assert_eq!(encrypt(Some("10.1.2.3")), Ok(()));
    assert_eq!(encrypt(Some("2001:db8::7")), Ok(()));
    assert_eq!(encrypt(Some("192.168.1.1")), Err(ErrorCode::AccessDenied));
    assert_eq!(encrypt(Some("10.6.6.6")), Err(ErrorCode::AccessDenied));
    assert_eq!(encrypt(None), Err(ErrorCode::AccessDenied));
    // Serialized callers keep their address; an absent one stays absent.
    let c = Caller::iam_user(ACCOUNT, "alice").with_source_ip("10.1.2.3");
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["SourceIp"], "10.1.2.3");
    assert_eq!(serde_json::from_value::<Caller>(v).unwrap(), c);
    assert!(serde_json::to_value(Caller::iam_user(ACCOUNT, "alice"))
        .unwrap()
        .get("SourceIp")
        .is_none());
}
