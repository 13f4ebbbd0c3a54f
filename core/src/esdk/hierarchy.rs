//! The hierarchical keyring (AWS Material Providers Library,
//! `framework/aws-kms/aws-kms-hierarchical-keyring.md`) and its branch key
//! store.
//!
//! A **branch key** is a 32-byte key wrapped by a KMS key; it is opened
//! (one KMS `Decrypt`) once per TTL and then wraps every message's data
//! key locally under a key derived per message: one KMS call per branch
//! key instead of one per message. Branch keys are versioned: rotation
//! makes a new version active; messages name the version they used, so
//! old messages keep opening.
//!
//! The MPL keeps branch keys in DynamoDB; here a [`BranchKeyStore`] keeps
//! them as records with the same fields in any [`Store`] (memory, file,
//! …). The branch key bytes in a record are a KMS ciphertext blob bound to
//! the record's fields through its encryption context, so a record that is
//! altered or moved fails to open.
//!
//! EDK (provider id `aws-kms-hierarchy`, provider info = branch key id):
//! `salt (16) ‖ IV (12) ‖ version (16, the UUID's bytes) ‖ AES-256-GCM
//! ciphertext of the data key ‖ tag (16)`, where the AES key is
//! `HMAC-SHA256(branch key, 00000001 ‖ "aws-kms-hierarchy" ‖ 00 ‖ salt ‖
//! 00000100)` (NIST SP 800-108 KDF in counter mode, one block) and the AAD
//! is `"aws-kms-hierarchy" ‖ branch key id ‖ version (16) ‖ serialized
//! encryption context`. Specified byte by byte in `docs/formats/message.md`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use base64::Engine;
use zeroize::Zeroizing;

use super::keyring::{DecryptionMaterials, EncryptionMaterials, Keyring, OpenedBy};
use super::{serialize_context, Edk};
use crate::api::{DecryptRequest, DescribeKeyRequest, GenerateDataKeyRequest};
use crate::context::EncryptionContext;
use crate::crypto;
use crate::env::{Clock, Rng};
use crate::error::{Error, ErrorCode, Result};
use crate::kms::{KeyChangeListener, Kms};
use crate::store::{Mutation, Store};

/// The provider id of hierarchical keyring EDKs (the MPL's).
pub const HIERARCHY_PROVIDER_ID: &str = "aws-kms-hierarchy";
/// The MPL's default cache capacity.
pub const DEFAULT_BRANCH_KEY_CACHE_CAPACITY: usize = 1000;
const SALT_LEN: usize = 16;
const IV_LEN: usize = 12;
const VERSION_LEN: usize = 16;
const RECORD_PREFIX: &str = "branch-key/";

// ------------------------------------------------------------ derivation

/// The per-message wrapping key: NIST SP 800-108 KDF in counter mode with
/// HMAC-SHA256, `[i]₃₂ ‖ label ‖ 00 ‖ context (the salt) ‖ [L]₃₂` with
/// L = 256 bits, which is a single HMAC block. (The RustCrypto `kbkdf`
/// crate, 0.0.1, does not build against the released `digest` 0.11; the
/// PRF is the `hmac` crate's.)
pub(crate) fn derive_wrapping_key(branch_key: &[u8], salt: &[u8]) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(crypto::hmac_sha256(
        branch_key,
        &[
            &1u32.to_be_bytes(),
            HIERARCHY_PROVIDER_ID.as_bytes(),
            &[0],
            salt,
            &256u32.to_be_bytes(),
        ],
    ))
}

fn wrapping_aad(branch_key_id: &str, version: &[u8; VERSION_LEN], ctx: &[u8]) -> Vec<u8> {
    let mut a = HIERARCHY_PROVIDER_ID.as_bytes().to_vec();
    a.extend_from_slice(branch_key_id.as_bytes());
    a.extend_from_slice(version);
    a.extend_from_slice(ctx);
    a
}

/// The EDK ciphertext for `data_key` under one branch key version, with
/// the given salt and IV (random in the keyring), `ctx` the serialized
/// encryption context. Public for known-answer vectors
/// (`tests/vectors/esdk/hierarchy/`); keyrings call it with fresh
/// randomness.
#[doc(hidden)]
pub fn wrap_edk(
    branch_key: &[u8; 32],
    branch_key_id: &str,
    version: &[u8; VERSION_LEN],
    salt: &[u8; SALT_LEN],
    iv: &[u8; IV_LEN],
    data_key: &[u8],
    ctx: &[u8],
) -> Result<Vec<u8>> {
    let wk = derive_wrapping_key(branch_key, salt);
    let gcm = crypto::Gcm::new_wiped(&wk[..]).ok_or_else(|| Error::internal("AES-256 key"))?;
    let mut ct = Zeroizing::new(data_key.to_vec());
    let tag = gcm.seal(iv, &wrapping_aad(branch_key_id, version, ctx), &mut ct);
    let mut out = Vec::with_capacity(SALT_LEN + IV_LEN + VERSION_LEN + ct.len() + 16);
    out.extend_from_slice(salt);
    out.extend_from_slice(iv);
    out.extend_from_slice(version);
    out.extend_from_slice(&ct);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// The version an EDK ciphertext names, if it has the length of one that
/// wraps a `key_len`-byte data key.
fn edk_version(c: &[u8], key_len: usize) -> Option<[u8; VERSION_LEN]> {
    if c.len() != SALT_LEN + IV_LEN + VERSION_LEN + key_len + 16 {
        return None;
    }
    c[SALT_LEN + IV_LEN..SALT_LEN + IV_LEN + VERSION_LEN]
        .try_into()
        .ok()
}

/// Open an EDK ciphertext made by [`wrap_edk`]: `None` on any mismatch.
#[doc(hidden)]
pub fn unwrap_edk(
    branch_key: &[u8; 32],
    branch_key_id: &str,
    c: &[u8],
    key_len: usize,
    ctx: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let version = edk_version(c, key_len)?;
    let (salt, rest) = c.split_at(SALT_LEN);
    let (iv, rest) = rest.split_at(IV_LEN);
    let (ct, tag) = rest[VERSION_LEN..].split_at(key_len);
    let wk = derive_wrapping_key(branch_key, salt);
    let gcm = crypto::Gcm::new_wiped(&wk[..])?;
    let mut key = Zeroizing::new(ct.to_vec());
    gcm.open(
        iv,
        &wrapping_aad(branch_key_id, &version, ctx),
        &mut key,
        tag,
    )
    .then_some(key)
}

// ------------------------------------------------------------ branch key store

/// One version of a branch key, opened. The key is zeroized on drop and
/// never printed.
pub struct BranchKeyMaterials {
    pub branch_key_id: String,
    /// The version, as a UUID string.
    pub version: String,
    version_bytes: [u8; VERSION_LEN],
    key: Zeroizing<[u8; 32]>,
    /// The KMS key that wraps it.
    pub kms_key_arn: String,
}

impl fmt::Debug for BranchKeyMaterials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BranchKeyMaterials")
            .field("branch_key_id", &self.branch_key_id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A stored branch key version: the MPL's item fields, with the key as a
/// KMS ciphertext blob (`enc`, base64).
#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    #[serde(rename = "branch-key-id")]
    branch_key_id: String,
    version: String,
    #[serde(rename = "create-time")]
    create_time: String,
    #[serde(rename = "kms-arn")]
    kms_arn: String,
    #[serde(rename = "hierarchy-version")]
    hierarchy_version: String,
    enc: String,
}

/// Which version of a branch key is active.
#[derive(serde::Serialize, serde::Deserialize)]
struct Active {
    #[serde(rename = "branch-key-id")]
    branch_key_id: String,
    version: String,
}

/// Branch keys, their versions and which one is active, wrapped by one KMS
/// key and kept in a [`Store`]. Creating and rotating branch keys calls
/// `GenerateDataKeyWithoutPlaintext` (the branch key never leaves the KMS
/// in plaintext when it is made); opening one calls `Decrypt`, with the
/// record's fields as encryption context (`branch-key-id`, `type` =
/// `branch:version:<uuid>`, `create-time`, `tablename`, `kms-arn`,
/// `hierarchy-version` = `1`, as the MPL). The KMS key's policy, grants and
/// state govern every use.
pub struct BranchKeyStore {
    kms: Kms,
    kms_key_arn: String,
    name: String,
    inner: Mutex<StoreInner>,
}

struct StoreInner {
    store: Box<dyn Store>,
    entries: BTreeMap<String, Vec<u8>>,
}

impl fmt::Debug for BranchKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BranchKeyStore")
            .field("name", &self.name)
            .field("kms_key_arn", &self.kms_key_arn)
            .finish_non_exhaustive()
    }
}

fn version_name(id: &str, version: &str) -> String {
    format!("{RECORD_PREFIX}{id}/version/{version}")
}

fn active_name(id: &str) -> String {
    format!("{RECORD_PREFIX}{id}/active")
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 512 || id.contains('/') || id.chars().any(char::is_control) {
        return Err(Error::validation(
            "a branch key id is 1 to 512 characters, without '/' or control characters",
        ));
    }
    Ok(())
}

fn parse_version(v: &str) -> Result<[u8; VERSION_LEN]> {
    uuid::Uuid::try_parse(v)
        .map(|u| *u.as_bytes())
        .map_err(|_| Error::validation("a branch key version is a UUID"))
}

impl BranchKeyStore {
    /// A branch key store named `logical_name` (the MPL's logical key store
    /// name, bound into every branch key) whose branch keys `kms_key_id`
    /// wraps, kept in `store`.
    pub fn open(
        kms: &Kms,
        kms_key_id: &str,
        logical_name: &str,
        mut store: Box<dyn Store>,
    ) -> Result<BranchKeyStore> {
        if logical_name.is_empty() {
            return Err(Error::validation("the logical key store name is empty"));
        }
        let arn = kms
            .describe_key(DescribeKeyRequest {
                key_id: kms_key_id.to_string(),
                ..Default::default()
            })?
            .key_metadata
            .arn;
        let entries = store.load()?;
        Ok(BranchKeyStore {
            kms: kms.clone(),
            kms_key_arn: arn,
            name: logical_name.to_string(),
            inner: Mutex::new(StoreInner { store, entries }),
        })
    }

    /// The KMS key that wraps this store's branch keys.
    pub fn kms_key_arn(&self) -> &str {
        &self.kms_key_arn
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, StoreInner>> {
        self.inner
            .lock()
            .map_err(|_| Error::internal("branch key store lock poisoned"))
    }

    fn context(&self, id: &str, version: &str, create_time: &str) -> EncryptionContext {
        [
            ("branch-key-id", id.to_string()),
            ("type", format!("branch:version:{version}")),
            ("create-time", create_time.to_string()),
            ("tablename", self.name.clone()),
            ("kms-arn", self.kms_key_arn.clone()),
            ("hierarchy-version", "1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// A new version of `id`, made active in the same atomic batch.
    fn new_version(&self, id: &str, rng: &dyn Rng, must_exist: bool) -> Result<String> {
        check_id(id)?;
        let mut inner = self.lock()?;
        let exists = inner.entries.contains_key(&active_name(id));
        if exists != must_exist {
            return Err(if must_exist {
                Error::new(ErrorCode::NotFound, format!("no branch key '{id}'"))
            } else {
                Error::new(
                    ErrorCode::AlreadyExists,
                    format!("the branch key '{id}' already exists"),
                )
            });
        }
        let mut b = [0u8; 16];
        rng.fill(&mut b)?;
        let version = uuid::Builder::from_random_bytes(b)
            .into_uuid()
            .hyphenated()
            .to_string();
        let create_time = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.kms.now_ms()),
        )
        .to_string();
        let r = self
            .kms
            .generate_data_key_without_plaintext(GenerateDataKeyRequest {
                key_id: self.kms_key_arn.clone(),
                number_of_bytes: Some(32),
                encryption_context: self.context(id, &version, &create_time),
                ..Default::default()
            })?;
        let record = Record {
            branch_key_id: id.to_string(),
            version: version.clone(),
            create_time,
            kms_arn: self.kms_key_arn.clone(),
            hierarchy_version: "1".into(),
            enc: base64::engine::general_purpose::STANDARD.encode(&r.ciphertext_blob),
        };
        let active = Active {
            branch_key_id: id.to_string(),
            version: version.clone(),
        };
        let batch = vec![
            Mutation::Put {
                name: version_name(id, &version),
                value: to_json(&record)?,
            },
            Mutation::Put {
                name: active_name(id),
                value: to_json(&active)?,
            },
        ];
        inner.store.apply(batch.clone())?;
        for m in batch {
            if let Mutation::Put { name, value } = m {
                inner.entries.insert(name, value);
            }
        }
        Ok(version)
    }

    /// Create a branch key (`id`, or a random UUID) with its first
    /// version active; returns its id.
    pub fn create_branch_key(&self, id: Option<&str>, rng: &dyn Rng) -> Result<String> {
        let id = match id {
            Some(i) => i.to_string(),
            None => {
                let mut b = [0u8; 16];
                rng.fill(&mut b)?;
                uuid::Builder::from_random_bytes(b)
                    .into_uuid()
                    .hyphenated()
                    .to_string()
            }
        };
        self.new_version(&id, rng, false)?;
        Ok(id)
    }

    /// Rotate: a new version of `id` becomes active (the MPL's
    /// `VersionKey`); returns it. Messages made with earlier versions still
    /// open.
    pub fn version_branch_key(&self, id: &str, rng: &dyn Rng) -> Result<String> {
        self.new_version(id, rng, true)
    }

    /// The active version of `id`, opened (one KMS `Decrypt`).
    pub fn get_active_branch_key(&self, id: &str) -> Result<BranchKeyMaterials> {
        check_id(id)?;
        let version = {
            let inner = self.lock()?;
            let raw = inner
                .entries
                .get(&active_name(id))
                .ok_or_else(|| Error::new(ErrorCode::NotFound, format!("no branch key '{id}'")))?;
            let a: Active = serde_json::from_slice(raw)
                .map_err(|_| Error::internal("a branch key record is malformed"))?;
            a.version
        };
        self.get_branch_key_version(id, &version)
    }

    /// One version of `id`, opened (one KMS `Decrypt`).
    pub fn get_branch_key_version(&self, id: &str, version: &str) -> Result<BranchKeyMaterials> {
        check_id(id)?;
        let version_bytes = parse_version(version)?;
        let version = uuid::Uuid::from_bytes(version_bytes)
            .hyphenated()
            .to_string();
        let record: Record = {
            let inner = self.lock()?;
            let raw = inner
                .entries
                .get(&version_name(id, &version))
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::NotFound,
                        format!("no version {version} of branch key '{id}'"),
                    )
                })?;
            serde_json::from_slice(raw)
                .map_err(|_| Error::internal("a branch key record is malformed"))?
        };
        if record.branch_key_id != id
            || record.version != version
            || record.kms_arn != self.kms_key_arn
        {
            return Err(Error::invalid_ciphertext());
        }
        let blob = base64::engine::general_purpose::STANDARD
            .decode(&record.enc)
            .map_err(|_| Error::invalid_ciphertext())?;
        let r = self.kms.decrypt(DecryptRequest {
            ciphertext_blob: blob,
            key_id: Some(self.kms_key_arn.clone()),
            encryption_context: self.context(id, &version, &record.create_time),
            ..Default::default()
        })?;
        let bytes: [u8; 32] = r
            .plaintext
            .as_bytes()
            .try_into()
            .map_err(|_| Error::invalid_ciphertext())?;
        Ok(BranchKeyMaterials {
            branch_key_id: id.to_string(),
            version,
            version_bytes,
            key: Zeroizing::new(bytes),
            kms_key_arn: self.kms_key_arn.clone(),
        })
    }

    /// Every version of `id`, oldest first by creation time.
    pub fn versions(&self, id: &str) -> Result<Vec<String>> {
        check_id(id)?;
        let inner = self.lock()?;
        let prefix = format!("{RECORD_PREFIX}{id}/version/");
        let mut v: Vec<(String, String)> = inner
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(_, raw)| serde_json::from_slice::<Record>(raw).ok())
            .map(|r| (r.create_time, r.version))
            .collect();
        v.sort();
        Ok(v.into_iter().map(|(_, v)| v).collect())
    }
}

fn to_json(v: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|_| Error::internal("serializing a branch key record"))
}

// ------------------------------------------------------------ keyring

/// Picks the branch key for a message from its encryption context (the
/// MPL's branch key id supplier), for one keyring serving many tenants.
pub trait BranchKeyIdSupplier: Send + Sync {
    fn branch_key_id(&self, encryption_context: &EncryptionContext) -> Result<String>;
}

impl<F> BranchKeyIdSupplier for F
where
    F: Fn(&EncryptionContext) -> Result<String> + Send + Sync,
{
    fn branch_key_id(&self, ctx: &EncryptionContext) -> Result<String> {
        self(ctx)
    }
}

enum Source {
    Fixed(String),
    Supplier(Arc<dyn BranchKeyIdSupplier>),
}

/// What the branch key cache did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BranchKeyCacheStats {
    pub hits: u64,
    /// Lookups that opened a branch key from the store (one KMS call each).
    pub misses: u64,
    /// Entries dropped because the wrapping KMS key changed.
    pub invalidations: u64,
    pub entries: u64,
}

struct Entry {
    materials: Arc<BranchKeyMaterials>,
    expires_ms: u64,
    inserted: u64,
}

/// The local TTL cache of opened branch keys. Dropped entries are wiped
/// (the materials zeroize on drop). It listens to the KMS: when the
/// wrapping key changes (disabled, scheduled for deletion, policy or
/// grants changed, …) every entry it wraps goes at once.
struct BranchKeyCache {
    clock: Arc<dyn Clock>,
    ttl_ms: u64,
    capacity: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    /// (branch key id, version; `None` for the active version).
    map: HashMap<(String, Option<String>), Entry>,
    stats: BranchKeyCacheStats,
    counter: u64,
}

impl BranchKeyCache {
    fn get_or_load(
        &self,
        key: (String, Option<String>),
        load: impl FnOnce() -> Result<BranchKeyMaterials>,
    ) -> Result<Arc<BranchKeyMaterials>> {
        let now = self.clock.now_ms();
        {
            let mut i = self
                .inner
                .lock()
                .map_err(|_| Error::internal("branch key cache lock poisoned"))?;
            let live = i
                .map
                .get(&key)
                .filter(|e| now < e.expires_ms)
                .map(|e| e.materials.clone());
            if let Some(m) = live {
                i.stats.hits += 1;
                return Ok(m);
            }
            i.map.remove(&key);
        }
        // Opened outside the lock (a KMS call; the KMS may tell this cache
        // of a key change meanwhile).
        let m = Arc::new(load()?);
        let mut i = self
            .inner
            .lock()
            .map_err(|_| Error::internal("branch key cache lock poisoned"))?;
        i.stats.misses += 1;
        i.map.retain(|_, e| now < e.expires_ms);
        if i.map.len() >= self.capacity {
            if let Some(oldest) = i
                .map
                .iter()
                .min_by_key(|(_, e)| e.inserted)
                .map(|(k, _)| k.clone())
            {
                i.map.remove(&oldest);
            }
        }
        i.counter += 1;
        let inserted = i.counter;
        i.map.insert(
            key,
            Entry {
                materials: m.clone(),
                expires_ms: now.saturating_add(self.ttl_ms),
                inserted,
            },
        );
        Ok(m)
    }

    fn drop_where(&self, f: impl Fn(&str) -> bool) {
        if let Ok(mut i) = self.inner.lock() {
            let before = i.map.len();
            i.map.retain(|_, e| !f(&e.materials.kms_key_arn));
            let gone = (before - i.map.len()) as u64;
            i.stats.invalidations += gone;
        }
    }
}

impl KeyChangeListener for BranchKeyCache {
    fn key_changed(&self, key_arn: &str) {
        self.drop_where(|k| k == key_arn)
    }
    fn all_keys_changed(&self, key_arn_prefix: &str) {
        self.drop_where(|k| k.starts_with(key_arn_prefix))
    }
}

/// The hierarchical keyring: data keys wrapped under keys derived from a
/// branch key (fixed, or chosen per message by a [`BranchKeyIdSupplier`]),
/// with opened branch keys cached for `ttl_ms`.
pub struct HierarchicalKeyring {
    store: Arc<BranchKeyStore>,
    source: Source,
    cache: Arc<BranchKeyCache>,
}

impl fmt::Debug for HierarchicalKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("HierarchicalKeyring");
        if let Source::Fixed(id) = &self.source {
            d.field("branch_key_id", id);
        }
        d.field("ttl_ms", &self.cache.ttl_ms)
            .finish_non_exhaustive()
    }
}

impl HierarchicalKeyring {
    /// A keyring for one branch key; opened branch keys live `ttl_ms`
    /// (> 0) in a cache of [`DEFAULT_BRANCH_KEY_CACHE_CAPACITY`] entries.
    pub fn new(
        store: Arc<BranchKeyStore>,
        branch_key_id: impl Into<String>,
        ttl_ms: u64,
        clock: impl Clock + 'static,
    ) -> Result<Self> {
        let id = branch_key_id.into();
        check_id(&id)?;
        Self::build(store, Source::Fixed(id), ttl_ms, clock)
    }

    /// A keyring that asks `supplier` which branch key each message uses
    /// (from its encryption context, on encrypt and on decrypt).
    pub fn with_supplier(
        store: Arc<BranchKeyStore>,
        supplier: Arc<dyn BranchKeyIdSupplier>,
        ttl_ms: u64,
        clock: impl Clock + 'static,
    ) -> Result<Self> {
        Self::build(store, Source::Supplier(supplier), ttl_ms, clock)
    }

    fn build(
        store: Arc<BranchKeyStore>,
        source: Source,
        ttl_ms: u64,
        clock: impl Clock + 'static,
    ) -> Result<Self> {
        if ttl_ms == 0 {
            return Err(Error::validation(
                "the branch key cache TTL must be greater than zero",
            ));
        }
        let cache = Arc::new(BranchKeyCache {
            clock: Arc::new(clock),
            ttl_ms,
            capacity: DEFAULT_BRANCH_KEY_CACHE_CAPACITY,
            inner: Mutex::new(CacheInner::default()),
        });
        let weak: Weak<dyn KeyChangeListener> = Arc::downgrade(&cache) as _;
        store.kms.add_key_change_listener(weak);
        Ok(HierarchicalKeyring {
            store,
            source,
            cache,
        })
    }

    /// The most branch key versions kept open at once (default 1000).
    pub fn with_cache_capacity(self, capacity: usize) -> Result<Self> {
        if capacity == 0 {
            return Err(Error::validation(
                "the branch key cache capacity must be at least 1",
            ));
        }
        let cache = Arc::new(BranchKeyCache {
            clock: self.cache.clock.clone(),
            ttl_ms: self.cache.ttl_ms,
            capacity,
            inner: Mutex::new(CacheInner::default()),
        });
        let weak: Weak<dyn KeyChangeListener> = Arc::downgrade(&cache) as _;
        self.store.kms.add_key_change_listener(weak);
        Ok(HierarchicalKeyring { cache, ..self })
    }

    pub fn cache_stats(&self) -> BranchKeyCacheStats {
        self.cache
            .inner
            .lock()
            .map(|i| BranchKeyCacheStats {
                entries: i.map.len() as u64,
                ..i.stats
            })
            .unwrap_or_default()
    }

    fn branch_key_id(&self, ctx: &EncryptionContext) -> Result<String> {
        let id = match &self.source {
            Source::Fixed(id) => id.clone(),
            Source::Supplier(s) => s.branch_key_id(ctx)?,
        };
        check_id(&id)?;
        Ok(id)
    }
}

impl Keyring for HierarchicalKeyring {
    fn on_encrypt(&self, m: &mut EncryptionMaterials, rng: &dyn Rng) -> Result<()> {
        let id = self.branch_key_id(&m.context)?;
        let bk = self
            .cache
            .get_or_load((id.clone(), None), || self.store.get_active_branch_key(&id))?;
        if m.data_key.is_none() {
            let mut k = Zeroizing::new(vec![0u8; m.suite.key_len]);
            rng.fill(&mut k)?;
            m.set_data_key(k)?;
        }
        let mut salt = [0u8; SALT_LEN];
        let mut iv = [0u8; IV_LEN];
        rng.fill(&mut salt)?;
        rng.fill(&mut iv)?;
        let out = wrap_edk(
            &bk.key,
            &id,
            &bk.version_bytes,
            &salt,
            &iv,
            m.data_key().expect("set above"),
            &serialize_context(&m.context)?,
        )?;
        m.edks.push(Edk {
            provider_id: HIERARCHY_PROVIDER_ID.into(),
            provider_info: id.into_bytes(),
            ciphertext: out,
        });
        m.kms_keys.push(bk.kms_key_arn.clone());
        Ok(())
    }

    fn on_decrypt(&self, m: &mut DecryptionMaterials, edks: &[Edk]) -> Result<()> {
        if m.data_key.is_some() {
            return Ok(());
        }
        let id = self.branch_key_id(&m.context)?;
        let ctx = serialize_context(&m.context)?;
        let n = m.suite.key_len;
        for edk in edks {
            if edk.provider_id != HIERARCHY_PROVIDER_ID || edk.provider_info != id.as_bytes() {
                continue;
            }
            let Some(version) = edk_version(&edk.ciphertext, n) else {
                m.failures.push(Error::invalid_ciphertext());
                continue;
            };
            let v = uuid::Uuid::from_bytes(version).hyphenated().to_string();
            let bk = match self.cache.get_or_load((id.clone(), Some(v.clone())), || {
                self.store.get_branch_key_version(&id, &v)
            }) {
                Ok(bk) => bk,
                Err(e) if e.code() == ErrorCode::NotFound => {
                    m.failures.push(Error::invalid_ciphertext());
                    continue;
                }
                Err(e) => {
                    m.failures.push(e);
                    continue;
                }
            };
            let Some(key) = unwrap_edk(&bk.key, &id, &edk.ciphertext, n, &ctx) else {
                m.failures.push(Error::invalid_ciphertext());
                continue;
            };
            m.kms_keys.push(bk.kms_key_arn.clone());
            return m.set_data_key(
                key,
                OpenedBy {
                    provider_id: HIERARCHY_PROVIDER_ID.into(),
                    key_name: id,
                },
            );
        }
        Ok(())
    }

    fn kms_handles(&self) -> Vec<Kms> {
        vec![self.store.kms.clone()]
    }
}
