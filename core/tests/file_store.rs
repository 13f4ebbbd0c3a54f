//! The durable file store through the KMS: persistence, root keys, tamper
//! evidence.
mod common;
use common::*;
use strongroom::api::*;
use strongroom::{Argon2Params, ErrorCode, Kms, ManualClock, RootKey};

const ROOT: [u8; 32] = [0x42; 32];

fn fast_argon() -> Argon2Params {
    Argon2Params {
        m_kib: 256,
        t: 1,
        p: 1,
    }
}

fn open(dir: &std::path::Path, root: RootKey) -> strongroom::Result<Kms> {
    Kms::builder(ACCOUNT, REGION)
        .clock(ManualClock::new(T0))
        .argon2_params(fast_argon())
        .open_file(dir, root)
}

fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn keys_aliases_and_material_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context([("app", "test")]);
    let (key, blob, blob2) = {
        let kms = open(dir.path(), RootKey::raw(ROOT)).unwrap();
        let key = new_key(&kms);
        kms.create_alias(CreateAliasRequest {
            alias_name: "alias/keep".into(),
            target_key_id: key.clone(),
        })
        .unwrap();
        let blob = enc(&kms, &key, b"persisted", &ctx);
        kms.rotate_key_on_demand(KeyIdRequest {
            key_id: key.clone(),
        })
        .unwrap();
        let blob2 = enc(&kms, "alias/keep", b"after rotation", &ctx);
        (key, blob, blob2)
    };
    let kms = open(dir.path(), RootKey::raw(ROOT)).unwrap();
    assert_eq!(dec(&kms, &blob, &ctx).unwrap(), b"persisted");
    assert_eq!(dec(&kms, &blob2, &ctx).unwrap(), b"after rotation");
    let md = describe(&kms, "alias/keep");
    assert_eq!(md.key_id, key);
    // The audit trail also survived, chained across sessions.
    let v = kms.verify_audit_log().unwrap();
    assert!(v.events >= 5, "{v:?}");
}

#[test]
fn wrong_root_key_is_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let kms = open(dir.path(), RootKey::raw(ROOT)).unwrap();
        new_key(&kms);
    }
    let before = snapshot(dir.path());
    let e = open(dir.path(), RootKey::raw([0x43; 32])).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidRootKey);
    let e = open(dir.path(), RootKey::passphrase("guess")).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidRootKey);
    assert_eq!(snapshot(dir.path()), before, "nothing on disk changed");
    assert!(open(dir.path(), RootKey::raw(ROOT)).is_ok());
}

#[test]
fn passphrase_root_key() {
    let dir = tempfile::tempdir().unwrap();
    let blob = {
        let kms = open(
            dir.path(),
            RootKey::passphrase("correct horse battery staple"),
        )
        .unwrap();
        let key = new_key(&kms);
        enc(&kms, &key, b"pp", &Default::default())
    };
    let before = snapshot(dir.path());
    let e = open(
        dir.path(),
        RootKey::passphrase("correct horse battery stapler"),
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidRootKey);
    let e = open(dir.path(), RootKey::raw(ROOT)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidRootKey);
    assert_eq!(snapshot(dir.path()), before);
    let kms = open(
        dir.path(),
        RootKey::passphrase("correct horse battery staple"),
    )
    .unwrap();
    assert_eq!(dec(&kms, &blob, &Default::default()).unwrap(), b"pp");
}

#[test]
fn store_is_bound_to_account_and_region() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), RootKey::raw(ROOT)).unwrap());
    let e = Kms::builder(ACCOUNT, "eu-west-1")
        .open_file(dir.path(), RootKey::raw(ROOT))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Validation);
}

#[test]
fn nothing_secret_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let kms = open(dir.path(), RootKey::raw(ROOT)).unwrap();
        let key = kms
            .create_key(CreateKeyRequest {
                description: Some("DESCRIPTION-MARKER".into()),
                ..Default::default()
            })
            .unwrap()
            .key_metadata
            .key_id;
        enc(&kms, &key, b"x", &context([("CONTEXT-MARKER", "v")]));
    }
    for (_, bytes) in snapshot(dir.path()) {
        let s = String::from_utf8_lossy(&bytes);
        assert!(!s.contains("DESCRIPTION-MARKER"), "records are sealed");
        assert!(!s.contains("CONTEXT-MARKER"), "audit events are sealed");
    }
}

#[test]
fn audit_tampering_is_detected() {
    use strongroom::{MemoryStore, Mutation, Store};
    let mem = MemoryStore::new();
    let root = || RootKey::raw(ROOT);
    {
        let kms = Kms::builder(ACCOUNT, REGION)
            .clock(ManualClock::new(T0))
            .open(mem.clone(), root())
            .unwrap();
        let key = new_key(&kms);
        for _ in 0..3 {
            enc(&kms, &key, b"x", &Default::default());
        }
        kms.flush().unwrap();
        assert_eq!(kms.verify_audit_log().unwrap().events, 4);
    }
    // Dropping the last audit batch (a whole store entry) is detected by the head.
    let mut m = mem.clone();
    let entries = m.load().unwrap();
    let last_audit = entries
        .keys()
        .filter(|k| k.starts_with("audit/"))
        .max()
        .unwrap()
        .clone();
    let saved = entries[&last_audit].clone();
    m.apply(vec![Mutation::Delete {
        name: last_audit.clone(),
    }])
    .unwrap();
    let kms = Kms::builder(ACCOUNT, REGION)
        .clock(ManualClock::new(T0))
        .open(mem.clone(), root())
        .unwrap();
    assert_eq!(
        kms.verify_audit_log().unwrap_err().code(),
        ErrorCode::StoreCorrupted
    );
    drop(kms);
    // Editing bytes of an entry is detected (sealed entries fail authentication).
    let mut bad = saved.clone();
    let n = bad.len() / 2;
    bad[n] ^= 1;
    m.apply(vec![Mutation::Put {
        name: last_audit,
        value: bad,
    }])
    .unwrap();
    let kms = Kms::builder(ACCOUNT, REGION)
        .clock(ManualClock::new(T0))
        .open(mem.clone(), root())
        .unwrap();
    assert_eq!(
        kms.verify_audit_log().unwrap_err().code(),
        ErrorCode::StoreCorrupted
    );
}

#[test]
fn tampered_key_record_refuses_to_open() {
    use strongroom::{MemoryStore, Mutation, Store};
    let mem = MemoryStore::new();
    {
        let kms = Kms::builder(ACCOUNT, REGION)
            .open(mem.clone(), RootKey::raw(ROOT))
            .unwrap();
        new_key(&kms);
    }
    let mut m = mem.clone();
    let entries = m.load().unwrap();
    let (name, v) = entries.iter().find(|(k, _)| k.starts_with("key/")).unwrap();
    let mut v = v.clone();
    v[20] ^= 0x80;
    m.apply(vec![Mutation::Put {
        name: name.clone(),
        value: v,
    }])
    .unwrap();
    let e = Kms::builder(ACCOUNT, REGION)
        .open(mem, RootKey::raw(ROOT))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::StoreCorrupted);
}

#[test]
fn deletion_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let key = {
        let kms = Kms::builder(ACCOUNT, REGION)
            .clock(clock.clone())
            .open_file(dir.path(), RootKey::raw(ROOT))
            .unwrap();
        let key = new_key(&kms);
        kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
            key_id: key.clone(),
            pending_window_in_days: Some(7),
        })
        .unwrap();
        clock.advance_days(7);
        kms.run_maintenance().unwrap();
        key
    };
    let kms = Kms::builder(ACCOUNT, REGION)
        .clock(clock)
        .open_file(dir.path(), RootKey::raw(ROOT))
        .unwrap();
    assert_eq!(
        code(kms.describe_key(DescribeKeyRequest {
            key_id: key,
            ..Default::default()
        })),
        "NotFoundException"
    );
}

#[test]
fn pruning_keeps_the_chain_verifiable() {
    use strongroom::{MemoryStore, Mutation, Store};
    let mem = MemoryStore::new();
    let open = || {
        Kms::builder(ACCOUNT, REGION)
            .clock(ManualClock::new(T0))
            .open(mem.clone(), RootKey::raw(ROOT))
            .unwrap()
    };
    let kms = open();
    let key = new_key(&kms);
    for i in 0..30 {
        enc(&kms, &key, b"x", &Default::default());
        if i % 10 == 0 {
            kms.flush().unwrap(); // several stored batches
        }
    }
    let before = kms.verify_audit_log().unwrap();
    assert_eq!((before.first_seq, before.events), (0, 31));
    let removed = kms.prune_audit_log(5).unwrap();
    assert!(removed > 0 && removed <= 26, "{removed}");
    let log = kms.audit_log().unwrap();
    assert!(log.len() >= 6);
    assert_eq!(log.last().unwrap().operation, "PruneAuditLog");
    let after = kms.verify_audit_log().unwrap();
    assert_eq!(after.first_seq, removed);
    assert_eq!(after.events, 32);
    drop(kms);
    // Survives reopening; later tampering is still detected.
    let kms = open();
    kms.verify_audit_log().unwrap();
    drop(kms);
    let mut m = mem.clone();
    let entries = m.load().unwrap();
    let first = entries
        .keys()
        .find(|k| k.starts_with("audit/"))
        .unwrap()
        .clone();
    m.apply(vec![Mutation::Delete { name: first }]).unwrap();
    let kms = open();
    assert_eq!(
        kms.verify_audit_log().unwrap_err().code(),
        ErrorCode::StoreCorrupted
    );
}

/// A store that fails writes on demand: a failed commit must leave the KMS
/// exactly as the store is (memory never runs ahead of disk).
#[derive(Clone)]
struct FlakyStore {
    inner: strongroom::MemoryStore,
    fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl strongroom::Store for FlakyStore {
    fn load(&mut self) -> strongroom::Result<std::collections::BTreeMap<String, Vec<u8>>> {
        self.inner.load()
    }
    fn apply(&mut self, batch: Vec<strongroom::Mutation>) -> strongroom::Result<()> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            // Simulate a disk error: nothing is written.
            return Err(strongroom_io_error());
        }
        self.inner.apply(batch)
    }
}

fn strongroom_io_error() -> strongroom::Error {
    // Produce a StoreIO error through the public API: a FileStore on a path
    // that is a file, not a directory.
    let f = tempfile::NamedTempFile::new().unwrap();
    strongroom::FileStore::open(f.path().join("x")).unwrap_err()
}

#[test]
fn failed_commit_rolls_memory_back() {
    use std::sync::atomic::Ordering;
    let store = FlakyStore {
        inner: strongroom::MemoryStore::new(),
        fail: Default::default(),
    };
    let kms = Kms::builder(ACCOUNT, REGION)
        .clock(ManualClock::new(T0))
        .open(store.clone(), RootKey::raw(ROOT))
        .unwrap();
    let key = new_key(&kms);
    store.fail.store(true, Ordering::SeqCst);
    let e = kms.create_key(CreateKeyRequest::default()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::StoreIo);
    let e = kms
        .disable_key(KeyIdRequest {
            key_id: key.clone(),
        })
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::StoreIo);
    // A grant whose commit failed must not linger in memory either.
    let e = kms
        .create_grant(CreateGrantRequest {
            key_id: key.clone(),
            grantee_principal: "arn:aws:iam::111122223333:role/app".into(),
            operations: vec![strongroom::model::GrantOperation::Decrypt],
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::StoreIo);
    store.fail.store(false, Ordering::SeqCst);
    // Neither change is visible: the failed CreateKey left no key, the
    // failed DisableKey left the key enabled.
    assert_eq!(
        kms.list_keys(ListKeysRequest::default())
            .unwrap()
            .keys
            .len(),
        1
    );
    let md = describe(&kms, key.clone());
    assert_eq!(md.key_state, strongroom::model::KeyState::Enabled);
    let grants = kms
        .list_grants(ListGrantsRequest {
            key_id: key.clone(),
            ..Default::default()
        })
        .unwrap();
    assert!(
        grants.grants.is_empty(),
        "a grant that was never written is gone"
    );
    // And everything still works, including the audit chain, which records
    // the failed calls with the store's error code.
    let blob = enc(&kms, &key, b"after failure", &Default::default());
    assert_eq!(
        dec(&kms, &blob, &Default::default()).unwrap(),
        b"after failure"
    );
    kms.verify_audit_log().unwrap();
    let outcomes: Vec<(String, String)> = kms
        .audit_log()
        .unwrap()
        .into_iter()
        .map(|e| (e.operation, e.outcome))
        .collect();
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        outcomes,
        vec![
            s("CreateKey", "Success"),
            s("CreateKey", "StoreIOException"),
            s("DisableKey", "StoreIOException"),
            s("CreateGrant", "StoreIOException"),
            s("ListKeys", "Success"),
            s("DescribeKey", "Success"),
            s("ListGrants", "Success"),
            s("Encrypt", "Success"),
            s("Decrypt", "Success"),
        ]
    );
}

/// In-memory stores persist elsewhere (IndexedDB in browsers) as snapshots.
#[test]
fn memory_store_snapshots_round_trip_and_refuse_damage() {
    use strongroom::api::*;
    use strongroom::{ErrorCode, Kms, MemoryStore, RootKey};
    let store = MemoryStore::new();
    let kms = Kms::builder("111122223333", "us-east-1")
        .open(store.clone(), RootKey::raw([5; 32]))
        .unwrap();
    let key = kms
        .create_key(CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let blob = kms
        .encrypt(EncryptRequest {
            key_id: key.clone(),
            plaintext: b"kept".into(),
            ..Default::default()
        })
        .unwrap()
        .ciphertext_blob;
    kms.flush().unwrap();
    let snap = store.export_snapshot().unwrap();
    drop(kms);
    let reopened = Kms::builder("111122223333", "us-east-1")
        .open(
            MemoryStore::from_snapshot(&snap).unwrap(),
            RootKey::raw([5; 32]),
        )
        .unwrap();
    let pt = reopened
        .decrypt(DecryptRequest {
            ciphertext_blob: blob,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(pt.plaintext.as_bytes(), b"kept");
    assert!(reopened.audit_log().unwrap().len() >= 2);
    let wrong = Kms::builder("111122223333", "us-east-1").open(
        MemoryStore::from_snapshot(&snap).unwrap(),
        RootKey::raw([6; 32]),
    );
    assert_eq!(wrong.unwrap_err().code(), ErrorCode::InvalidRootKey);
    for cut in [0, 10, snap.len() / 2, snap.len() - 1] {
        let e = MemoryStore::from_snapshot(&snap[..cut]).unwrap_err();
        assert!(
            matches!(e.code(), ErrorCode::StoreCorrupted),
            "cut {cut}: {e}"
        );
    }
    let mut longer = snap.clone();
    longer.push(0);
    assert_eq!(
        MemoryStore::from_snapshot(&longer).unwrap_err().code(),
        ErrorCode::StoreCorrupted
    );
    for i in (16..snap.len()).step_by(97) {
        let mut bad = snap.clone();
        bad[i] ^= 1;
        assert!(MemoryStore::from_snapshot(&bad).is_err(), "flip at {i}");
    }
}

/// A frozen snapshot (`tests/vectors/core/store-snapshot.json`): the same
/// seeded inputs give the same bytes, the bytes are a one-record journal,
/// and the frozen snapshot opens and decrypts its blob. Regenerate only for a
/// deliberate format change:
/// `STRONGROOM_REGENERATE=1 cargo test -p strongroom --test file_store snapshot_known_answer`.
#[test]
fn snapshot_known_answer() {
    use strongroom::store::journal;
    use strongroom::{DangerousSeededRng, MemoryStore};
    let path = format!(
        "{}/../tests/vectors/core/store-snapshot.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let root = [0x42u8; 32];
    let make = || {
        let store = MemoryStore::new();
        let kms = Kms::builder(ACCOUNT, REGION)
            .clock(ManualClock::new(T0))
            .rng(DangerousSeededRng::new([0x5a; 32]))
            .open(store.clone(), RootKey::raw(root))
            .unwrap();
        let key = kms
            .create_key(CreateKeyRequest::default())
            .unwrap()
            .key_metadata;
        let blob = kms
            .encrypt(EncryptRequest {
                key_id: key.key_id.clone(),
                plaintext: b"snapshot".into(),
                encryption_context: context([("kind", "snapshot")]),
                ..Default::default()
            })
            .unwrap()
            .ciphertext_blob;
        kms.flush().unwrap();
        (store.export_snapshot().unwrap(), key.key_id, blob)
    };
    let (snap, key_id, blob) = make();
    assert_eq!(
        make().0,
        snap,
        "deterministic under a seeded RNG and a fixed clock"
    );
    let replayed = journal::replay(&snap).unwrap();
    assert_eq!((replayed.records, replayed.valid_len), (1, snap.len()));
    if std::env::var("STRONGROOM_REGENERATE").is_ok() {
        let doc = serde_json::json!({
            "description": "A MemoryStore snapshot (docs/formats/store.md, Snapshots) written by core/tests/file_store.rs snapshot_known_answer: seeded RNG [0x5a; 32], clock 2026-01-01, root key 42 x 32 (a public TEST value). It must open and decrypt blob to plaintext with context.",
            "root_key": hex::encode(root),
            "key_id": key_id,
            "snapshot": hex::encode(&snap),
            "blob": hex::encode(&blob),
            "context": {"kind": "snapshot"},
            "plaintext": hex::encode(b"snapshot"),
        });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    }
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let frozen = hex::decode(doc["snapshot"].as_str().unwrap()).unwrap();
    assert_eq!(
        frozen, snap,
        "the snapshot bytes changed: a format change must be deliberate"
    );
    let kms = Kms::builder(ACCOUNT, REGION)
        .clock(ManualClock::new(T0))
        .open(
            strongroom::MemoryStore::from_snapshot(&frozen).unwrap(),
            RootKey::raw(
                hex::decode(doc["root_key"].as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap(),
            ),
        )
        .unwrap();
    let pt = kms
        .decrypt(DecryptRequest {
            ciphertext_blob: hex::decode(doc["blob"].as_str().unwrap()).unwrap(),
            encryption_context: context([("kind", "snapshot")]),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        hex::encode(pt.plaintext.as_bytes()),
        doc["plaintext"].as_str().unwrap()
    );
    assert_eq!(
        pt.key_id,
        describe(&kms, doc["key_id"].as_str().unwrap()).arn
    );
}
