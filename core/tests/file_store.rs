//! The durable file store through the KMS: persistence, root keys, tamper
//! evidence, locking, poisoning and the journal's known-answer vector.
mod common;
mod faultfs;
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
    // The state root refuses the store at open, before the audit chain is
    // even read.
    let e = Kms::builder(ACCOUNT, REGION)
        .clock(ManualClock::new(T0))
        .open(mem.clone(), root())
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::StoreCorrupted, "{e}");
    // Editing bytes of an entry is detected (sealed entries fail authentication).
    let mut bad = saved.clone();
    let n = bad.len() / 2;
    bad[n] ^= 1;
    m.apply(vec![Mutation::Put {
        name: last_audit,
        value: bad,
    }])
    .unwrap();
    // The state root refuses the store at open, before the audit chain is
    // even read.
    let e = Kms::builder(ACCOUNT, REGION)
        .clock(ManualClock::new(T0))
        .open(mem.clone(), root())
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::StoreCorrupted, "{e}");
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

/// Purging a key removes its sealed material from the store's files, not
/// only from the API (the journal is compacted when material is deleted).
#[test]
fn deletion_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let journal_names = |dir: &std::path::Path| -> Vec<u8> {
        snapshot(dir)
            .into_iter()
            .flat_map(|(_, bytes)| bytes)
            .collect()
    };
    let contains =
        |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    let (key, kept) = {
        let kms = Kms::builder(ACCOUNT, REGION)
            .clock(clock.clone())
            .open_file(dir.path(), RootKey::raw(ROOT))
            .unwrap();
        let key = new_key(&kms);
        let kept = new_key(&kms);
        kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
            key_id: key.clone(),
            pending_window_in_days: Some(7),
        })
        .unwrap();
        assert!(contains(&journal_names(dir.path()), &format!("mat/{key}/")));
        clock.advance_days(7);
        kms.run_maintenance().unwrap();
        (key, kept)
    };
    let files = journal_names(dir.path());
    assert!(
        !contains(&files, &format!("mat/{key}/")),
        "the purged key's sealed material is still in the store's files"
    );
    assert!(!contains(&files, &format!("key/{key}")));
    assert!(contains(&files, &format!("mat/{kept}/")));
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
    describe(&kms, kept);
}

/// DeleteImportedKeyMaterial also compacts the material away.
#[test]
fn deleted_imported_material_leaves_the_journal() {
    use p256::pkcs8::DecodePublicKey;
    use strongroom::model::{ExpirationModel, Origin, WrappingAlgorithm, WrappingKeySpec};
    let dir = tempfile::tempdir().unwrap();
    let kms = open(dir.path(), RootKey::raw(ROOT)).unwrap();
    let key = kms
        .create_key(CreateKeyRequest {
            origin: Some(Origin::External),
            ..Default::default()
        })
        .unwrap()
        .key_metadata
        .key_id;
    let p = kms
        .get_parameters_for_import(GetParametersForImportRequest {
            key_id: key.clone(),
            wrapping_algorithm: Some(WrappingAlgorithm::RsaesOaepSha256),
            wrapping_key_spec: Some(WrappingKeySpec::Rsa2048),
        })
        .unwrap();
    let pk = rsa::PublicKey::from_public_key_der(&p.public_key).unwrap();
    let wrapped = pk
        .encrypt(
            &mut TestRng(3),
            rsa::Oaep::<rsa::sha2::Sha256>::new(),
            &[0x33u8; 32],
        )
        .unwrap();
    kms.import_key_material(ImportKeyMaterialRequest {
        key_id: key.clone(),
        import_token: p.import_token,
        encrypted_key_material: wrapped,
        valid_to_ms: None,
        expiration_model: Some(ExpirationModel::KeyMaterialDoesNotExpire),
        ..Default::default()
    })
    .unwrap();
    let name = format!("mat/{key}/");
    let in_journal = || {
        std::fs::read(dir.path().join("strongroom.journal"))
            .unwrap()
            .windows(name.len())
            .any(|w| w == name.as_bytes())
    };
    assert!(in_journal());
    kms.delete_imported_key_material(DeleteImportedKeyMaterialRequest {
        key_id: key,
        ..Default::default()
    })
    .unwrap();
    assert!(
        !in_journal(),
        "deleted imported material is still in the journal"
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
    // Dropping the oldest kept batch: the state root refuses the store.
    let e = Kms::builder(ACCOUNT, REGION)
        .clock(ManualClock::new(T0))
        .open(mem.clone(), RootKey::raw(ROOT))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::StoreCorrupted, "{e}");
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

// ------------------------------------------------------------ locking,
// poisoning, first creation (review finding #2)

fn put(name: &str, value: &[u8]) -> strongroom::Mutation {
    strongroom::Mutation::Put {
        name: name.into(),
        value: value.to_vec(),
    }
}

fn names(s: &mut impl strongroom::Store) -> Vec<String> {
    s.load().unwrap().into_keys().collect()
}

/// A directory sync that fails after a compaction's rename leaves the
/// journal's name in doubt: every later write must fail (and not land in a
/// file a crash may take away), and what was acknowledged survives a crash.
#[test]
fn a_failure_after_the_compaction_rename_poisons_the_store() {
    use faultfs::{FaultFs, Op};
    use strongroom::{FileStore, Store};
    let fs = FaultFs::new(11);
    let mut s = FileStore::open_with(fs.vfs(), "/d/s").unwrap();
    s.apply(vec![put("a", b"1")]).unwrap();
    fs.fail_next(Op::SyncDir);
    let e = s.compact().unwrap_err();
    assert_eq!(e.code(), ErrorCode::StoreIo);
    assert!(s.is_poisoned());
    let e = s.apply(vec![put("b", b"2")]).unwrap_err();
    assert_eq!(e.code(), ErrorCode::StoreIo, "{e}");
    assert!(e.message().contains("reopen"), "{e}");
    drop(s);
    for _ in 0..8 {
        fs.recover();
        let mut s = FileStore::open_with(fs.vfs(), "/d/s").unwrap();
        assert_eq!(names(&mut s), ["a"]);
    }
}

/// The same through the KMS, with the compaction that follows a write:
/// the write is acknowledged (it is durable in the old and the new
/// journal), the next one fails, and nothing acknowledged is lost.
#[test]
fn a_failed_compaction_fails_later_writes_instead_of_losing_them() {
    use faultfs::{FaultFs, Op};
    use strongroom::FileStore;
    let fs = FaultFs::new(12);
    let kms_on = |fs: &FaultFs| {
        let store = FileStore::open_with(fs.vfs(), "/d/s")
            .unwrap()
            .with_compaction_threshold(0, 0); // compact after every write
        Kms::builder(ACCOUNT, REGION)
            .clock(ManualClock::new(T0))
            .open(store, RootKey::raw(ROOT))
            .unwrap()
    };
    let kms = kms_on(&fs);
    let first = new_key(&kms);
    let blob = enc(&kms, &first, b"kept", &Default::default());
    fs.fail_next(Op::SyncDir);
    let second = new_key(&kms); // durable either way: acknowledged
    let e = kms.create_key(CreateKeyRequest::default()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::StoreIo);
    assert_eq!(
        code(kms.create_key(CreateKeyRequest::default())),
        "StoreIOException"
    );
    drop(kms);
    for _ in 0..8 {
        fs.recover();
        let kms = kms_on(&fs);
        let keys: Vec<String> = kms
            .list_keys(ListKeysRequest::default())
            .unwrap()
            .keys
            .into_iter()
            .map(|k| k.key_id)
            .collect();
        assert!(keys.contains(&first) && keys.contains(&second), "{keys:?}");
        assert_eq!(keys.len(), 2);
        assert_eq!(dec(&kms, &blob, &Default::default()).unwrap(), b"kept");
    }
}

/// After a failed fsync the state of the file is unknown: poisoned too.
#[test]
fn a_failed_fsync_poisons_the_store() {
    use faultfs::{FaultFs, Op};
    use strongroom::{FileStore, Store};
    let fs = FaultFs::new(13);
    let mut s = FileStore::open_with(fs.vfs(), "/d/s").unwrap();
    s.apply(vec![put("a", b"1")]).unwrap();
    fs.fail_next(Op::SyncData);
    assert_eq!(
        s.apply(vec![put("b", b"2")]).unwrap_err().code(),
        ErrorCode::StoreIo
    );
    assert!(s.is_poisoned());
    assert!(s.apply(vec![put("c", b"3")]).is_err());
    drop(s);
    fs.recover();
    let mut s = FileStore::open_with(fs.vfs(), "/d/s").unwrap();
    assert_eq!(names(&mut s), ["a"]);
    // A failed write (before any fsync) is only an error: nothing is in
    // doubt, and the next write goes where it belongs.
    fs.fail_next(Op::Write);
    assert!(s.apply(vec![put("d", b"4")]).is_err());
    assert!(!s.is_poisoned());
    s.apply(vec![put("e", b"5")]).unwrap();
    drop(s);
    fs.recover();
    let mut s = FileStore::open_with(fs.vfs(), "/d/s").unwrap();
    assert_eq!(names(&mut s), ["a", "e"]);
}

/// I/O errors at every step of a compaction, one at a time: before the
/// rename nothing changes (and the store keeps working); after it, the store
/// refuses writes. Either way nothing acknowledged is lost in a crash.
#[test]
fn io_errors_at_each_step_of_a_compaction() {
    use faultfs::{FaultFs, Op};
    use strongroom::{FileStore, Store};
    for op in [Op::Open, Op::Write, Op::SyncAll, Op::Rename, Op::SyncDir] {
        let fs = FaultFs::new(14);
        let mut s = FileStore::open_with(fs.vfs(), "/d/s").unwrap();
        s.apply(vec![put("a", b"1")]).unwrap();
        s.apply(vec![
            strongroom::Mutation::Delete { name: "a".into() },
            put("b", b"2"),
        ])
        .unwrap();
        fs.fail_next(op);
        assert!(s.compact().is_err(), "{op:?}");
        let after_rename = op == Op::SyncDir;
        assert_eq!(s.is_poisoned(), after_rename, "{op:?}");
        assert_eq!(
            s.apply(vec![put("c", b"3")]).is_ok(),
            !after_rename,
            "{op:?}"
        );
        drop(s);
        fs.recover();
        let mut s = FileStore::open_with(fs.vfs(), "/d/s").unwrap();
        let expect: &[&str] = if after_rename { &["b"] } else { &["b", "c"] };
        assert_eq!(names(&mut s), expect, "{op:?}");
    }
}

/// While one handle is open, a second open is refused, also after the
/// journal was replaced by compaction (the lock is on `strongroom.lock`).
#[test]
fn two_opens_at_once_the_second_is_refused() {
    use strongroom::{FileStore, Store};
    let dir = tempfile::tempdir().unwrap();
    let mut a = FileStore::open(dir.path()).unwrap();
    a.apply(vec![put("a", b"1")]).unwrap();
    a.compact().unwrap();
    let e = FileStore::open(dir.path()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::StoreIo);
    assert!(e.message().contains("in use"), "{e}");
    let e = Kms::builder(ACCOUNT, REGION)
        .open_file(dir.path(), RootKey::raw(ROOT))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::StoreIo);
    a.apply(vec![put("b", b"2")]).unwrap();
    drop(a);
    let mut b = FileStore::open(dir.path()).unwrap();
    assert_eq!(names(&mut b), ["a", "b"]);
}

/// Many openers creating the same new store at once: at most one owns it at
/// a time, and whatever the owners wrote is in the one journal.
#[test]
fn concurrent_first_creation_has_one_winner() {
    use std::sync::{Arc, Barrier};
    use strongroom::{FileStore, Store};
    for round in 0..30 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new-store");
        let n = 4;
        let start = Arc::new(Barrier::new(n));
        let done = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (dir, start, done) = (dir.clone(), start.clone(), done.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let r = FileStore::open(&dir);
                    let won = match r {
                        Ok(mut s) => {
                            s.apply(vec![put(&format!("owner{i}"), b"x")]).unwrap();
                            done.wait(); // hold the store until all have tried
                            true
                        }
                        Err(e) => {
                            assert_eq!(e.code(), ErrorCode::StoreIo, "{e}");
                            done.wait();
                            false
                        }
                    };
                    won
                })
            })
            .collect();
        let winners = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&w| w)
            .count();
        assert_eq!(winners, 1, "round {round}");
        let mut s = FileStore::open(&dir).unwrap();
        assert_eq!(s.load().unwrap().len(), 1, "round {round}");
    }
}

// ------------------------------------------------------------ formats

/// A frozen journal (format version 2, `docs/formats/store.md`) in
/// `tests/vectors/core/store-journal-v2.json`: the file store writes exactly
/// these bytes for these batches, and they replay to these entries.
/// Regenerate only for a deliberate format change:
/// `STRONGROOM_REGENERATE=1 cargo test -p strongroom --test file_store journal_v2_known_answer`.
#[test]
fn journal_v2_known_answer() {
    use strongroom::store::journal;
    use strongroom::{FileStore, Mutation, Store};
    let path = format!(
        "{}/../tests/vectors/core/store-journal-v2.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let batches = vec![
        vec![
            put("meta/check", &[0xa5; 40]),
            put("key/k1", b"{\"sealed\":1}"),
        ],
        vec![
            put("alias/ünïcode", b""),
            Mutation::Delete {
                name: "key/k1".into(),
            },
        ],
        vec![put("mat/k2/00ff", &[0x01, 0x02, 0x03])],
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStore::open(dir.path()).unwrap();
    for b in &batches {
        s.apply(b.clone()).unwrap();
    }
    drop(s);
    let written = std::fs::read(dir.path().join("strongroom.journal")).unwrap();
    let mut encoded = journal::header().to_vec();
    for (seq, b) in batches.iter().enumerate() {
        encoded.extend(journal::encode_record(seq as u64, b));
    }
    assert_eq!(written, encoded);
    let r = journal::replay(&written).unwrap();
    let entries: serde_json::Map<String, serde_json::Value> = r
        .entries
        .iter()
        .map(|(k, v)| (k.clone(), hex::encode(v).into()))
        .collect();
    let json_batches: Vec<serde_json::Value> = batches
        .iter()
        .map(|b| {
            b.iter()
                .map(|m| match m {
                    Mutation::Put { name, value } => {
                        serde_json::json!({"op": "put", "name": name, "value": hex::encode(value)})
                    }
                    Mutation::Delete { name } => serde_json::json!({"op": "delete", "name": name}),
                })
                .collect()
        })
        .collect();
    if std::env::var("STRONGROOM_REGENERATE").is_ok() {
        let doc = serde_json::json!({
            "description": "A file-store journal, format version 2 (docs/formats/store.md), written by core/tests/file_store.rs journal_v2_known_answer: FileStore::apply of each batch in order on a new store (record sequence numbers 0, 1, 2). Replaying journal must give entries (values hex).",
            "batches": json_batches,
            "journal": hex::encode(&written),
            "entries": entries,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    }
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["batches"], serde_json::Value::from(json_batches));
    assert_eq!(
        doc["journal"].as_str().unwrap(),
        hex::encode(&written),
        "the journal bytes changed: a format change must be deliberate"
    );
    assert_eq!(doc["entries"], serde_json::Value::Object(entries));
}

/// The 0.1.0 store (journal format version 1) opens, decrypts, and is
/// rewritten as version 2 on its first write; the upgraded store still
/// decrypts the fixture's blobs.
#[test]
fn store_v1_fixture_is_upgraded_on_first_write() {
    use strongroom::store::journal;
    let fx =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/store-v1");
    let expect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("expect.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jp = dir.path().join("strongroom.journal");
    std::fs::copy(fx.join("strongroom.journal"), &jp).unwrap();
    let original = std::fs::read(&jp).unwrap();
    assert_eq!(journal::replay(&original).unwrap().version, 1);
    let root: [u8; 32] = hex::decode(expect["root_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let now = expect["now_ms"].as_u64().unwrap();
    let check = |kms: &Kms| {
        for b in expect["blobs"].as_array().unwrap() {
            let v = strongroom::json::call(
                kms,
                "Decrypt",
                serde_json::json!({"CiphertextBlob": b["blob"], "EncryptionContext": b["context"]}),
            )
            .unwrap();
            assert_eq!(v["Plaintext"], b["plaintext"]);
        }
    };
    let keys_before = {
        let kms = Kms::builder(ACCOUNT, REGION)
            .clock(ManualClock::new(now))
            .open_file(dir.path(), RootKey::raw(root))
            .unwrap();
        check(&kms);
        assert_eq!(
            std::fs::read(&jp).unwrap(),
            original,
            "reading writes nothing"
        );
        let n = kms
            .list_keys(ListKeysRequest::default())
            .unwrap()
            .keys
            .len();
        new_key(&kms); // the first write
        n
    };
    let upgraded = std::fs::read(&jp).unwrap();
    assert_eq!(journal::replay(&upgraded).unwrap().version, 2);
    let kms = Kms::builder(ACCOUNT, REGION)
        .clock(ManualClock::new(now))
        .open_file(dir.path(), RootKey::raw(root))
        .unwrap();
    check(&kms);
    kms.verify_audit_log().unwrap();
    assert_eq!(
        kms.list_keys(ListKeysRequest::default())
            .unwrap()
            .keys
            .len(),
        keys_before + 1
    );
}

/// Finding #6: a damaged length field in the middle of the journal was
/// taken for a torn tail, and the next write cut every later record off.
/// Now: corruption, the store does not open, and the bytes stay as they are.
#[test]
fn damage_in_the_middle_never_truncates_later_records() {
    use strongroom::{FileStore, Store};
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = FileStore::open(dir.path()).unwrap();
        for i in 0..6u8 {
            s.apply(vec![put(&format!("k{i}"), &[i; 64])]).unwrap();
        }
    }
    let jp = dir.path().join("strongroom.journal");
    let good = std::fs::read(&jp).unwrap();
    // The first record's framing (its length field in format 1, its record
    // magic and length in format 2).
    for at in 16..32 {
        let mut bad = good.clone();
        bad[at] ^= 0x80;
        std::fs::write(&jp, &bad).unwrap();
        match FileStore::open(dir.path()) {
            Err(e) => assert_eq!(e.code(), ErrorCode::StoreCorrupted, "byte {at}: {e}"),
            Ok(mut s) => {
                // Whatever was read, a write must never drop later records.
                let _ = s.apply(vec![put("after", b"x")]);
                drop(s);
                panic!("byte {at}: a damaged journal opened");
            }
        }
        assert_eq!(
            std::fs::read(&jp).unwrap(),
            bad,
            "byte {at}: the bytes are kept"
        );
    }
}

/// Finding #10: the store directory 0700, its files 0600.
#[cfg(unix)]
#[test]
fn store_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    {
        let kms = open(&dir, RootKey::passphrase("pp")).unwrap();
        new_key(&kms);
    }
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
}
