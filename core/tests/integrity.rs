//! Store integrity: the sealed state root (entries removed, added, replaced
//! or replayed are detected at open), sealed-value format 2, the upgrade of
//! stores written before both, and calls that fail leaving nothing behind.
mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use strongroom::api::*;
use strongroom::model::GrantOperation;
use strongroom::{ErrorCode, Kms, ManualClock, MemoryStore, Mutation, RootKey, Store};

const ROOT: [u8; 32] = [0x11; 32];

fn open(store: &MemoryStore) -> strongroom::Result<Kms> {
    Kms::builder(ACCOUNT, REGION)
        .clock(ManualClock::new(T0))
        .open(store.clone(), RootKey::raw(ROOT))
}

fn entries(store: &MemoryStore) -> BTreeMap<String, Vec<u8>> {
    store.clone().load().unwrap()
}

fn put(store: &MemoryStore, name: &str, value: Vec<u8>) {
    store
        .clone()
        .apply(vec![Mutation::Put {
            name: name.into(),
            value,
        }])
        .unwrap();
}

fn grant(kms: &Kms, key: &str) -> String {
    kms.create_grant(CreateGrantRequest {
        key_id: key.into(),
        grantee_principal: "arn:aws:iam::111122223333:role/app".into(),
        operations: vec![GrantOperation::Decrypt],
        ..Default::default()
    })
    .unwrap()
    .grant_id
}

fn corrupted(r: strongroom::Result<Kms>) {
    let e = r.expect_err("a tampered store must not open");
    assert_eq!(e.code(), ErrorCode::StoreCorrupted, "{e}");
}

#[test]
fn a_revoked_grant_put_back_is_detected() {
    let store = MemoryStore::new();
    let kms = open(&store).unwrap();
    let key = new_key(&kms);
    let gid = grant(&kms, &key);
    let name = format!("grant/{key}/{gid}");
    let old = entries(&store)[&name].clone();
    kms.revoke_grant(RevokeGrantRequest {
        key_id: key.clone(),
        grant_id: gid,
        ..Default::default()
    })
    .unwrap();
    drop(kms);
    assert!(!entries(&store).contains_key(&name));
    open(&store).unwrap();
    // Someone who can write the store, without the root key, splices the
    // grant's earlier sealed value back in.
    put(&store, &name, old);
    corrupted(open(&store));
}

#[test]
fn an_older_key_record_or_policy_is_detected() {
    let store = MemoryStore::new();
    let kms = open(&store).unwrap();
    let key = new_key(&kms);
    let name = format!("key/{key}");
    let enabled = entries(&store)[&name].clone();
    kms.disable_key(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    drop(kms);
    put(&store, &name, enabled);
    corrupted(open(&store));
}

#[test]
fn a_truncated_audit_log_is_detected() {
    let store = MemoryStore::new();
    let kms = open(&store).unwrap();
    let key = new_key(&kms);
    let head = entries(&store)["meta/audit-head"].clone();
    let before: Vec<String> = entries(&store)
        .keys()
        .filter(|n| n.starts_with("audit/"))
        .cloned()
        .collect();
    kms.disable_key(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    drop(kms);
    // Drop the newer audit batches and put back the older head: the audit
    // chain alone still verifies.
    let newer: Vec<Mutation> = entries(&store)
        .keys()
        .filter(|n| n.starts_with("audit/") && !before.contains(n))
        .map(|n| Mutation::Delete { name: n.clone() })
        .collect();
    assert!(!newer.is_empty());
    store.clone().apply(newer).unwrap();
    put(&store, "meta/audit-head", head);
    corrupted(open(&store));
}

#[test]
fn removed_added_or_replayed_entries_are_detected() {
    let store = MemoryStore::new();
    let kms = open(&store).unwrap();
    let key = new_key(&kms);
    kms.create_alias(CreateAliasRequest {
        alias_name: "alias/a".into(),
        target_key_id: key.clone(),
    })
    .unwrap();
    drop(kms);
    let good = entries(&store);
    let reset = |m: &BTreeMap<String, Vec<u8>>| {
        let mut s = store.clone();
        let names: Vec<Mutation> = entries(&store)
            .keys()
            .map(|n| Mutation::Delete { name: n.clone() })
            .collect();
        s.apply(names).unwrap();
        s.apply(
            m.iter()
                .map(|(n, v)| Mutation::Put {
                    name: n.clone(),
                    value: v.clone(),
                })
                .collect(),
        )
        .unwrap();
    };
    // Each single removal is detected (the check entry's is a wrong root
    // key or corruption; every other is corruption).
    for name in good.keys() {
        let mut m = good.clone();
        m.remove(name);
        reset(&m);
        let e = open(&store).expect_err(name);
        assert!(
            matches!(
                e.code(),
                ErrorCode::StoreCorrupted | ErrorCode::InvalidRootKey
            ),
            "{name}: {e}"
        );
    }
    // An entry under a new name, holding a valid sealed value of another.
    let mut m = good.clone();
    let (alias, sealed) = good.iter().find(|(n, _)| n.starts_with("alias/")).unwrap();
    m.insert(format!("{alias}-copy"), sealed.clone());
    reset(&m);
    corrupted(open(&store));
    // The same value twice, under its own name again after a rewrite.
    reset(&good);
    open(&store).unwrap();
}

#[test]
fn the_commit_counter_counts_commits_and_survives_reopening() {
    let store = MemoryStore::new();
    let kms = open(&store).unwrap();
    let start = kms.commit_counter().unwrap();
    assert_eq!(start, 1, "creating the store is the first commit");
    let key = new_key(&kms);
    enc(&kms, &key, b"reads do not commit", &Default::default());
    assert_eq!(kms.commit_counter().unwrap(), start + 1);
    drop(kms);
    let kms = open(&store).unwrap();
    // Dropping the first handle flushed the buffered audit event.
    assert_eq!(kms.commit_counter().unwrap(), start + 2);
}

#[test]
fn the_root_cannot_be_dropped_to_look_like_an_old_store() {
    let store = MemoryStore::new();
    let kms = open(&store).unwrap();
    new_key(&kms);
    drop(kms);
    store
        .clone()
        .apply(vec![Mutation::Delete {
            name: "meta/root".into(),
        }])
        .unwrap();
    corrupted(open(&store));
}

#[test]
fn values_are_sealed_in_format_2_with_fresh_salts() {
    let store = MemoryStore::new();
    let kms = open(&store).unwrap();
    let key = new_key(&kms);
    for _ in 0..3 {
        kms.update_key_description(UpdateKeyDescriptionRequest {
            key_id: key.clone(),
            description: "same".into(),
        })
        .unwrap();
    }
    drop(kms);
    let mut m = entries(&store);
    // The state root is authenticated, not sealed (nothing in it is secret).
    assert_eq!(m.remove("meta/root").unwrap().len(), 72);
    for (name, v) in &m {
        assert!(v.starts_with(b"SRS2"), "{name} is sealed in format 2");
    }
    // The salt (12 random bytes, then the seal counter) differs per seal.
    let salts: std::collections::BTreeSet<&[u8]> = m.values().map(|v| &v[4..24]).collect();
    assert_eq!(salts.len(), m.len());
    let counters: std::collections::BTreeSet<u64> = m
        .values()
        .map(|v| u64::from_be_bytes(v[16..24].try_into().unwrap()))
        .collect();
    assert_eq!(counters.len(), m.len(), "the seal counter never repeats");
}

fn fixture_copy() -> (tempfile::TempDir, serde_json::Value) {
    let fx = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/store-v1");
    let expect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("expect.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fx.join("strongroom.journal"),
        dir.path().join("strongroom.journal"),
    )
    .unwrap();
    (dir, expect)
}

fn fixture_root(expect: &serde_json::Value) -> [u8; 32] {
    hex::decode(expect["root_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn the_v1_fixture_is_upgraded_on_first_write() {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let (dir, expect) = fixture_copy();
    let root = fixture_root(&expect);
    let now = expect["now_ms"].as_u64().unwrap();
    let open_it = || {
        Kms::builder(ACCOUNT, REGION)
            .clock(ManualClock::new(now))
            .open_file(dir.path(), RootKey::raw(root))
    };
    let kms = open_it().unwrap();
    // Reads write nothing (their audit events are buffered) ...
    let blob = &expect["blobs"][0];
    let pt = kms
        .decrypt(DecryptRequest {
            ciphertext_blob: STANDARD.decode(blob["blob"].as_str().unwrap()).unwrap(),
            ..Default::default()
        })
        .unwrap();
    // expect.json holds blobs as AWS does: base64.
    assert_eq!(
        STANDARD.encode(pt.plaintext.as_bytes()),
        blob["plaintext"].as_str().unwrap()
    );
    // ... the first write upgrades.
    let key = expect["key_id"].as_str().unwrap().to_string();
    kms.update_key_description(UpdateKeyDescriptionRequest {
        key_id: key.clone(),
        description: "upgraded".into(),
    })
    .unwrap();
    drop(kms);
    let mut fs = strongroom::FileStore::open(dir.path()).unwrap();
    let m = fs.load().unwrap();
    assert!(m.contains_key("meta/root"));
    assert!(m["meta/check"].starts_with(b"SRS2"));
    drop(fs);
    // Still opens, still decrypts the old blobs.
    let kms = open_it().unwrap();
    for b in expect["blobs"].as_array().unwrap() {
        let pt = kms
            .decrypt(DecryptRequest {
                ciphertext_blob: STANDARD.decode(b["blob"].as_str().unwrap()).unwrap(),
                encryption_context: serde_json::from_value(b["context"].clone()).unwrap(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            STANDARD.encode(pt.plaintext.as_bytes()),
            b["plaintext"].as_str().unwrap()
        );
    }
    assert_eq!(describe(&kms, key.clone()).description, "upgraded");
    kms.verify_audit_log().unwrap();
    drop(kms);
    // Dropping the new root to pass the store off as an old one is refused ...
    let mut fs = strongroom::FileStore::open(dir.path()).unwrap();
    fs.apply(vec![Mutation::Delete {
        name: "meta/root".into(),
    }])
    .unwrap();
    drop(fs);
    corrupted(open_it());
    // ... and so is putting back the old store's format-1 check entry too
    // (from a copy taken before the upgrade): the values written since are
    // format 2, which no store without a root holds.
    let (old_dir, _) = fixture_copy();
    let old_check = strongroom::FileStore::open(old_dir.path())
        .unwrap()
        .load()
        .unwrap()["meta/check"]
        .clone();
    let mut fs = strongroom::FileStore::open(dir.path()).unwrap();
    fs.apply(vec![Mutation::Put {
        name: "meta/check".into(),
        value: old_check,
    }])
    .unwrap();
    drop(fs);
    corrupted(open_it());
}

// ------------------------------------------------------------ failed calls

#[derive(Clone)]
struct FlakyStore {
    inner: MemoryStore,
    fail: Arc<AtomicBool>,
}

impl Store for FlakyStore {
    fn load(&mut self) -> strongroom::Result<BTreeMap<String, Vec<u8>>> {
        self.inner.load()
    }
    fn apply(&mut self, batch: Vec<Mutation>) -> strongroom::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            // Give other threads the chance to queue on the KMS lock.
            std::thread::yield_now();
            // A StoreIO error made through the public API: a FileStore on
            // a path below a file.
            let f = tempfile::NamedTempFile::new().unwrap();
            return Err(strongroom::FileStore::open(f.path().join("x")).unwrap_err());
        }
        self.inner.apply(batch)
    }
}

#[test]
fn a_refused_call_leaves_no_trace_in_the_store() {
    let store = MemoryStore::new();
    let kms = open(&store).unwrap();
    new_key(&kms);
    kms.flush().unwrap();
    let before = entries(&store);
    // CreateKey refused by the lockout safety check: it made material
    // before the check ran.
    let e = kms
        .create_key(CreateKeyRequest {
            policy: Some(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/other"},"Action":"kms:*","Resource":"*"}]}"#
                    .into(),
            ),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::MalformedPolicyDocument, "{e}");
    assert_eq!(
        entries(&store).keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "nothing of the refused call was written"
    );
    assert_eq!(entries(&store), before);
    // Its audit event is kept (buffered, written with the next change).
    kms.flush().unwrap();
    let log = kms.audit_log().unwrap();
    let last = log.last().unwrap();
    assert_eq!(last.operation, "CreateKey");
    assert_eq!(last.outcome, "MalformedPolicyDocumentException");
    drop(kms);
    open(&store).unwrap();
}

/// The concurrent case of `failed_commit_rolls_memory_back`: while one
/// thread's rotations fail to commit, others encrypt; every blob they were
/// given must decrypt after a restart (none may use material that only ever
/// existed in memory).
#[test]
fn failed_commit_rolls_memory_back_under_concurrency() {
    let inner = MemoryStore::new();
    let store = FlakyStore {
        inner: inner.clone(),
        fail: Default::default(),
    };
    let kms = Kms::builder(ACCOUNT, REGION)
        .clock(ManualClock::new(T0))
        .open(store.clone(), RootKey::raw(ROOT))
        .unwrap();
    let key = new_key(&kms);
    let stop = Arc::new(AtomicBool::new(false));
    let encryptors: Vec<_> = (0..2)
        .map(|_| {
            let (kms, key, stop) = (kms.clone(), key.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut blobs = Vec::new();
                for _ in 0..3000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(r) = kms.encrypt(EncryptRequest {
                        key_id: key.clone(),
                        plaintext: b"concurrent".to_vec().into(),
                        ..Default::default()
                    }) {
                        blobs.push(r.ciphertext_blob);
                    }
                }
                blobs
            })
        })
        .collect();
    store.fail.store(true, Ordering::SeqCst);
    let mut failures = 0;
    for _ in 0..200 {
        let e = kms
            .rotate_key_on_demand(KeyIdRequest {
                key_id: key.clone(),
            })
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::StoreIo);
        failures += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let blobs: Vec<Vec<u8>> = encryptors
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(failures, 200);
    assert!(!blobs.is_empty());
    store.fail.store(false, Ordering::SeqCst);
    drop(kms);
    let reopened = open(&inner).unwrap();
    for b in &blobs {
        assert_eq!(
            dec(&reopened, b, &Default::default()).unwrap(),
            b"concurrent",
            "a blob handed out must decrypt after a restart"
        );
    }
}
