//! The hierarchical keyring and its branch key store: round trips over
//! every suite, rotation, the TTL cache and its invalidation when the
//! wrapping KMS key changes, many tenants through a supplier, tampering,
//! persistence, and the known-answer vectors of the EDK format
//! (`tests/vectors/esdk/hierarchy/kat.json`, computed independently with
//! pyca/cryptography).
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use strongroom::api::*;
use strongroom::esdk::{
    self, BranchKeyStore, CommitmentPolicy, DecryptOptions, EncryptOptions, HierarchicalKeyring,
    HIERARCHY_PROVIDER_ID,
};
use strongroom::{EncryptionContext, ErrorCode, Kms, ManualClock, MemoryStore, OsRng};

const TTL: u64 = 60_000;

fn setup() -> (Kms, ManualClock, Arc<BranchKeyStore>, MemoryStore) {
    let clock = ManualClock::new(1_700_000_000_000);
    let kms = Kms::builder("111122223333", "us-east-1")
        .clock(clock.clone())
        .in_memory()
        .unwrap();
    let key = kms
        .create_key(CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .arn;
    let mem = MemoryStore::new();
    let store =
        Arc::new(BranchKeyStore::open(&kms, &key, "branch-keys", Box::new(mem.clone())).unwrap());
    (kms, clock, store, mem)
}

fn allow() -> DecryptOptions {
    DecryptOptions::with_policy(CommitmentPolicy::RequireEncryptAllowDecrypt)
}

fn edk_version(msg: &[u8]) -> String {
    // The EDK is the only one; find it through a decrypt-free parse: the
    // provider id, then the ciphertext's version bytes.
    let pid = HIERARCHY_PROVIDER_ID.as_bytes();
    let at = msg.windows(pid.len()).position(|w| w == pid).unwrap() + pid.len();
    let info_len = u16::from_be_bytes([msg[at], msg[at + 1]]) as usize;
    let c = at + 2 + info_len + 2;
    let v: [u8; 16] = msg[c + 28..c + 44].try_into().unwrap();
    uuid::Uuid::from_bytes(v).hyphenated().to_string()
}

#[test]
fn every_suite_round_trips_through_a_branch_key() {
    let (_kms, clock, store, _) = setup();
    let id = store.create_branch_key(Some("orders"), &OsRng).unwrap();
    let ring = HierarchicalKeyring::new(store.clone(), &id, TTL, clock).unwrap();
    let ctx = context([("tenant", "acme")]);
    for suite in [
        0x0014u16, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378, 0x0478, 0x0578,
    ] {
        let policy = if suite >= 0x0478 {
            CommitmentPolicy::RequireEncryptRequireDecrypt
        } else {
            CommitmentPolicy::ForbidEncryptAllowDecrypt
        };
        let o = EncryptOptions {
            suite,
            frame_length: 1024,
            plaintext_length: None,
            commitment_policy: policy,
        };
        let pt = vec![suite as u8; 3000];
        let msg = esdk::encrypt_with(&ring, &pt, &ctx, &o, &OsRng).unwrap();
        let d = esdk::decrypt_with(&ring, &msg, &allow()).unwrap();
        assert_eq!(d.plaintext.as_bytes(), &pt[..], "{suite:04x}");
        assert_eq!(d.info.opened_by.provider_id, HIERARCHY_PROVIDER_ID);
        assert_eq!(d.info.opened_by.key_name, "orders");
    }
    // One KMS call opened the active version; every other use was cached.
    let s = ring.cache_stats();
    assert_eq!((s.misses, s.entries), (2, 2), "{s:?}"); // active + the version decrypt uses
}

#[test]
fn rotation_keeps_old_messages_open_and_new_ones_use_the_new_version() {
    let (_kms, clock, store, _) = setup();
    let id = store.create_branch_key(None, &OsRng).unwrap();
    let v1 = store.versions(&id).unwrap()[0].clone();
    let ring = HierarchicalKeyring::new(store.clone(), &id, TTL, clock.clone()).unwrap();
    let ctx = context([("a", "b")]);
    let old = esdk::encrypt(&ring, b"old", &ctx, 64, &OsRng).unwrap();
    assert_eq!(edk_version(&old), v1);
    clock.advance_ms(1000);
    let v2 = store.version_branch_key(&id, &OsRng).unwrap();
    assert_ne!(v1, v2);
    assert_eq!(store.versions(&id).unwrap(), vec![v1.clone(), v2.clone()]);
    // Until the cached active version expires, the keyring keeps using it
    // (the MPL's behaviour: the TTL bounds how long a rotation takes).
    let cached = esdk::encrypt(&ring, b"cached", &ctx, 64, &OsRng).unwrap();
    assert_eq!(edk_version(&cached), v1);
    clock.advance_ms(TTL);
    let new = esdk::encrypt(&ring, b"new", &ctx, 64, &OsRng).unwrap();
    assert_eq!(edk_version(&new), v2);
    // A fresh keyring uses the new version at once.
    let fresh = HierarchicalKeyring::new(store.clone(), &id, TTL, clock.clone()).unwrap();
    assert_eq!(
        edk_version(&esdk::encrypt(&fresh, b"x", &ctx, 64, &OsRng).unwrap()),
        v2
    );
    for (m, pt) in [(&old, &b"old"[..]), (&cached, b"cached"), (&new, b"new")] {
        assert_eq!(esdk::decrypt(&ring, m).unwrap().0.as_bytes(), pt);
        assert_eq!(esdk::decrypt(&fresh, m).unwrap().0.as_bytes(), pt);
    }
    // Rotating a branch key that does not exist, or creating one twice.
    assert_eq!(
        store.version_branch_key("nope", &OsRng).unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        store
            .create_branch_key(Some(&id), &OsRng)
            .unwrap_err()
            .code(),
        ErrorCode::AlreadyExists
    );
}

#[test]
fn the_cache_serves_within_its_ttl_and_drops_entries_when_the_kms_key_changes() {
    let (kms, clock, store, _) = setup();
    let id = store.create_branch_key(Some("bk"), &OsRng).unwrap();
    let ring = HierarchicalKeyring::new(store.clone(), &id, TTL, clock.clone()).unwrap();
    let ctx = context([("a", "b")]);
    let mut msgs = Vec::new();
    for i in 0..100u32 {
        msgs.push(esdk::encrypt(&ring, &i.to_be_bytes(), &ctx, 64, &OsRng).unwrap());
    }
    let s = ring.cache_stats();
    assert_eq!(
        (s.misses, s.hits),
        (1, 99),
        "one KMS Decrypt for 100 messages"
    );
    for m in &msgs {
        esdk::decrypt(&ring, m).unwrap();
    }
    assert_eq!(
        ring.cache_stats().misses,
        2,
        "and one for the version on decrypt"
    );
    // Past the TTL the branch key is opened again.
    clock.advance_ms(TTL);
    esdk::encrypt(&ring, b"x", &ctx, 64, &OsRng).unwrap();
    assert_eq!(ring.cache_stats().misses, 3);
    // Disabling the wrapping KMS key drops every cached branch key at once:
    // nothing is encrypted or decrypted with it afterwards.
    kms.disable_key(KeyIdRequest {
        key_id: store.kms_key_arn().to_string(),
    })
    .unwrap();
    let s = ring.cache_stats();
    assert_eq!(s.entries, 0, "{s:?}");
    assert!(s.invalidations >= 1);
    assert_eq!(
        esdk::encrypt(&ring, b"x", &ctx, 64, &OsRng)
            .unwrap_err()
            .code(),
        ErrorCode::Disabled
    );
    assert_eq!(
        esdk::decrypt(&ring, &msgs[0]).unwrap_err().code(),
        ErrorCode::Disabled
    );
    kms.enable_key(KeyIdRequest {
        key_id: store.kms_key_arn().to_string(),
    })
    .unwrap();
    esdk::decrypt(&ring, &msgs[0]).unwrap();
}

#[test]
fn a_supplier_serves_many_tenants_each_with_its_own_branch_key() {
    let (_kms, clock, store, _) = setup();
    for t in 0..50 {
        store
            .create_branch_key(Some(&format!("tenant-{t}")), &OsRng)
            .unwrap();
    }
    let supplier = |ctx: &EncryptionContext| {
        ctx.get("tenant")
            .map(|t| format!("tenant-{t}"))
            .ok_or_else(|| {
                strongroom::Error::new(ErrorCode::Validation, "no tenant in the context")
            })
    };
    let ring =
        HierarchicalKeyring::with_supplier(store.clone(), Arc::new(supplier), TTL, clock).unwrap();
    let mut msgs = Vec::new();
    for t in 0..50 {
        let ctx = context([("tenant", t.to_string())]);
        let m = esdk::encrypt(&ring, format!("data of {t}").as_bytes(), &ctx, 64, &OsRng).unwrap();
        msgs.push(m);
    }
    for (t, m) in msgs.iter().enumerate() {
        let (pt, ctx) = esdk::decrypt(&ring, m).unwrap();
        assert_eq!(pt.as_bytes(), format!("data of {t}").as_bytes());
        assert_eq!(ctx["tenant"], t.to_string());
    }
    assert_eq!(ring.cache_stats().entries, 100, "50 active + 50 versions");
    // A tenant's keyring (fixed id) opens only that tenant's messages.
    let seven =
        HierarchicalKeyring::new(store.clone(), "tenant-7", TTL, ManualClock::new(0)).unwrap();
    assert!(esdk::decrypt(&seven, &msgs[7]).is_ok());
    assert_eq!(
        esdk::decrypt(&seven, &msgs[8]).unwrap_err().code(),
        ErrorCode::InvalidCiphertext
    );
    // No tenant in the context: the supplier's error.
    let e = esdk::encrypt(&ring, b"x", &context([("x", "y")]), 64, &OsRng).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Validation);
}

#[test]
fn tampering_wrong_keys_and_bad_configuration_are_refused() {
    let (kms, clock, store, mem) = setup();
    let id = store.create_branch_key(Some("bk"), &OsRng).unwrap();
    store.create_branch_key(Some("other"), &OsRng).unwrap();
    let ring = HierarchicalKeyring::new(store.clone(), &id, TTL, clock.clone()).unwrap();
    let msg = esdk::encrypt(&ring, b"secret", &context([("a", "b")]), 64, &OsRng).unwrap();
    // Every bit of the message matters.
    for i in 0..msg.len() {
        let mut t = msg.clone();
        t[i] ^= 0x10;
        assert!(esdk::decrypt(&ring, &t).is_err(), "byte {i}");
    }
    // Another branch key's keyring cannot open it (the opaque error).
    let other = HierarchicalKeyring::new(store.clone(), "other", TTL, clock.clone()).unwrap();
    assert_eq!(
        esdk::decrypt(&other, &msg).unwrap_err().code(),
        ErrorCode::InvalidCiphertext
    );
    // A record altered in the store (another branch key's wrapped key put
    // in its place) fails to open: the KMS ciphertext is bound to the
    // record's fields.
    let mut entries = {
        use strongroom::Store;
        let mut m = mem.clone();
        m.load().unwrap()
    };
    let (bk_name, other_name) = {
        let find = |p: &str| {
            entries
                .keys()
                .find(|k| k.starts_with(p) && k.contains("/version/"))
                .unwrap()
                .clone()
        };
        (find("branch-key/bk/"), find("branch-key/other/"))
    };
    let mut bk_rec: Value = serde_json::from_slice(&entries[&bk_name]).unwrap();
    let other_rec: Value = serde_json::from_slice(&entries[&other_name]).unwrap();
    bk_rec["enc"] = other_rec["enc"].clone();
    entries.insert(bk_name.clone(), serde_json::to_vec(&bk_rec).unwrap());
    let forged = MemoryStore::new();
    {
        use strongroom::{Mutation, Store};
        let mut f = forged.clone();
        f.apply(
            entries
                .into_iter()
                .map(|(name, value)| Mutation::Put { name, value })
                .collect(),
        )
        .unwrap();
    }
    let forged_store = Arc::new(
        BranchKeyStore::open(&kms, store.kms_key_arn(), "branch-keys", Box::new(forged)).unwrap(),
    );
    let r = HierarchicalKeyring::new(forged_store.clone(), &id, TTL, clock.clone()).unwrap();
    assert_eq!(
        esdk::decrypt(&r, &msg).unwrap_err().code(),
        ErrorCode::InvalidCiphertext
    );
    // The same records under another logical store name do not open either.
    let renamed = Arc::new(
        BranchKeyStore::open(
            &kms,
            store.kms_key_arn(),
            "elsewhere",
            Box::new(mem.clone()),
        )
        .unwrap(),
    );
    let r = HierarchicalKeyring::new(renamed, &id, TTL, clock.clone()).unwrap();
    assert_eq!(
        esdk::decrypt(&r, &msg).unwrap_err().code(),
        ErrorCode::InvalidCiphertext
    );
    // Configuration.
    assert_eq!(
        HierarchicalKeyring::new(store.clone(), &id, 0, clock.clone())
            .unwrap_err()
            .code(),
        ErrorCode::Validation
    );
    for bad in ["", "a/b", "x\n"] {
        assert_eq!(
            HierarchicalKeyring::new(store.clone(), bad, TTL, clock.clone())
                .unwrap_err()
                .code(),
            ErrorCode::Validation
        );
    }
    assert_eq!(
        store
            .get_branch_key_version(&id, "not-a-uuid")
            .unwrap_err()
            .code(),
        ErrorCode::Validation
    );
    // Nothing secret in Debug output.
    let bk = store.get_active_branch_key(&id).unwrap();
    let dbg = format!("{bk:?} {ring:?} {store:?}");
    assert!(!dbg.contains("key:") && dbg.contains("bk"), "{dbg}");
}

#[test]
fn branch_keys_persist_in_the_store() {
    let (kms, clock, store, mem) = setup();
    let id = store.create_branch_key(Some("durable"), &OsRng).unwrap();
    let arn = store.kms_key_arn().to_string();
    let ring = HierarchicalKeyring::new(store.clone(), &id, TTL, clock.clone()).unwrap();
    let msg = esdk::encrypt(&ring, b"kept", &context([("a", "b")]), 64, &OsRng).unwrap();
    drop(ring);
    drop(store);
    let reopened = Arc::new(
        BranchKeyStore::open(&kms, "alias/none", "branch-keys", Box::new(mem.clone())).err(),
    );
    assert!(reopened.is_some(), "an unknown KMS key is refused");
    let store = Arc::new(BranchKeyStore::open(&kms, &arn, "branch-keys", Box::new(mem)).unwrap());
    let ring = HierarchicalKeyring::new(store, &id, TTL, clock).unwrap();
    assert_eq!(esdk::decrypt(&ring, &msg).unwrap().0.as_bytes(), b"kept");
}

#[test]
fn known_answer_vectors_of_the_edk_format() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/esdk/hierarchy/kat.json");
    let kat: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let h = |v: &Value| hex::decode(v.as_str().unwrap()).unwrap();
    let vectors = kat["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    for v in vectors {
        let bk: [u8; 32] = h(&v["branchKey"]).try_into().unwrap();
        let id = v["branchKeyId"].as_str().unwrap();
        let version = *uuid::Uuid::parse_str(v["version"].as_str().unwrap())
            .unwrap()
            .as_bytes();
        let salt: [u8; 16] = h(&v["salt"]).try_into().unwrap();
        let iv: [u8; 12] = h(&v["iv"]).try_into().unwrap();
        let dk = h(&v["dataKey"]);
        let ctx: EncryptionContext = v["encryptionContext"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, x)| (k.clone(), x.as_str().unwrap().to_string()))
            .collect();
        let ser = h(&v["serializedContext"]);
        assert_eq!(
            esdk::serialized_context(&ctx).unwrap(),
            ser,
            "{}",
            v["name"]
        );
        let want = h(&v["edkCiphertext"]);
        let got = esdk::hierarchy_wrap_edk(&bk, id, &version, &salt, &iv, &dk, &ser).unwrap();
        assert_eq!(hex::encode(&got), hex::encode(&want), "{}", v["name"]);
        let opened = esdk::hierarchy_unwrap_edk(&bk, id, &want, dk.len(), &ser).unwrap();
        assert_eq!(&opened[..], &dk[..]);
        // Any other id, context or byte fails.
        assert!(esdk::hierarchy_unwrap_edk(&bk, "x", &want, dk.len(), &ser).is_none());
        assert!(
            esdk::hierarchy_unwrap_edk(&bk, id, &want, dk.len(), b"").is_none() || ser.is_empty()
        );
        for i in 0..want.len() {
            let mut t = want.clone();
            t[i] ^= 1;
            assert!(
                esdk::hierarchy_unwrap_edk(&bk, id, &t, dk.len(), &ser).is_none(),
                "byte {i}"
            );
        }
    }
}
