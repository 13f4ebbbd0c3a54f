//! Materials managers: the default one (every keyring is one) and the
//! caching one.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use sha2::{Digest, Sha512};

use super::keyring::{
    new_decryption_materials, new_encryption_materials, nothing_opened, DecryptionMaterials,
    EncryptionMaterials, Keyring,
};
use super::{known_suite, suite, Edk, Kdf, PUBLIC_KEY_CONTEXT_KEY, RESERVED_PREFIX};
use crate::context::EncryptionContext;
use crate::env::{Clock, Millis, OsRng, Rng};
use crate::error::{Error, Result};
use crate::kms::{KeyChangeListener, Kms};

/// A request for encryption materials.
#[derive(Debug, Clone, Copy)]
pub struct EncryptionRequest<'a> {
    pub encryption_context: &'a EncryptionContext,
    pub suite: u16,
    pub plaintext_length: Option<u64>,
}

/// A request for decryption materials (from a parsed header).
#[derive(Debug, Clone, Copy)]
pub struct DecryptionRequest<'a> {
    pub suite: u16,
    pub encrypted_data_keys: &'a [Edk],
    /// The context the message stores (with `aws-crypto-public-key` if signed).
    pub encryption_context: &'a EncryptionContext,
    /// The context the caller supplied to decrypt, if any: every pair it
    /// shares with the stored context must be equal, and its other pairs
    /// are taken as authenticated-only (not stored) context; the header's
    /// tag then proves them.
    pub reproduced_encryption_context: Option<&'a EncryptionContext>,
}

/// Turns requests into materials (the ESDK "cryptographic materials
/// manager"). Every [`Keyring`] is one, with the default behaviour: a
/// signing key for signed suites, then the keyring.
pub trait MaterialsManager: Send + Sync {
    fn get_encryption_materials(
        &self,
        req: &EncryptionRequest<'_>,
        rng: &dyn Rng,
    ) -> Result<EncryptionMaterials>;
    fn decrypt_materials(&self, req: &DecryptionRequest<'_>) -> Result<DecryptionMaterials>;
    /// The KMS instances behind it (see [`Keyring::kms_handles`]).
    fn kms_handles(&self) -> Vec<Kms> {
        Vec::new()
    }
}

impl<K: Keyring> MaterialsManager for K {
    fn get_encryption_materials(
        &self,
        req: &EncryptionRequest<'_>,
        rng: &dyn Rng,
    ) -> Result<EncryptionMaterials> {
        let s = known_suite(req.suite)?;
        if req
            .encryption_context
            .keys()
            .any(|k| k.starts_with(RESERVED_PREFIX))
        {
            return Err(Error::validation(
                "encryption context keys starting with 'aws-crypto-' are reserved",
            ));
        }
        let mut ctx = req.encryption_context.clone();
        let signing_key = super::stream::SigningKey::new(s.sig, rng)?;
        if let Some(sk) = &signing_key {
            ctx.insert(PUBLIC_KEY_CONTEXT_KEY.into(), sk.public_b64());
        }
        let mut m = new_encryption_materials(s, ctx, signing_key);
        self.on_encrypt(&mut m, rng)?;
        if m.data_key.is_none() || m.edks.is_empty() {
            return Err(Error::validation(
                "the keyring produced no data key or no encrypted data key",
            ));
        }
        Ok(m)
    }

    fn decrypt_materials(&self, req: &DecryptionRequest<'_>) -> Result<DecryptionMaterials> {
        let s = suite(req.suite).ok_or_else(Error::invalid_ciphertext)?;
        let (ctx, required) = merge_reproduced(req)?;
        let mut m = new_decryption_materials(s, ctx);
        m.required_keys = required;
        self.on_decrypt(&mut m, req.encrypted_data_keys)?;
        if m.data_key.is_none() {
            return Err(nothing_opened(&m));
        }
        Ok(m)
    }

    fn kms_handles(&self) -> Vec<Kms> {
        Keyring::kms_handles(self)
    }
}

/// The default materials manager's handling of a reproduced context
/// (MPL default CMM): pairs shared with the stored context must be equal;
/// the union is the materials' context, and the reproduced keys the
/// message does not store are its authenticated-only keys.
fn merge_reproduced(req: &DecryptionRequest<'_>) -> Result<(EncryptionContext, Vec<String>)> {
    let mut ctx = req.encryption_context.clone();
    let mut required = Vec::new();
    if let Some(r) = req.reproduced_encryption_context {
        for (k, v) in r {
            match ctx.get(k) {
                Some(stored) if stored != v => {
                    return Err(Error::validation(format!(
                        "the encryption context given for '{k}' differs from the message's"
                    )))
                }
                Some(_) => {}
                None => {
                    if k.starts_with(RESERVED_PREFIX) {
                        return Err(Error::validation(
                            "encryption context keys starting with 'aws-crypto-' are reserved",
                        ));
                    }
                    ctx.insert(k.clone(), v.clone());
                    required.push(k.clone());
                }
            }
        }
    }
    Ok((ctx, required))
}

// ------------------------------------------------------------ required context

/// The required-encryption-context materials manager (MPL
/// `RequiredEncryptionContextCMM`): on encrypt, each of `keys` must be in
/// the caller's context, and those pairs are authenticated by the message
/// but **not stored** in it; on decrypt, the caller must supply them again
/// (the reproduced context), or decryption fails before any key is opened.
/// Wire-compatible with the official SDKs' (4.x with the MPL).
pub struct RequiredEncryptionContextCmm<M> {
    inner: M,
    keys: Vec<String>,
}

impl<M> fmt::Debug for RequiredEncryptionContextCmm<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequiredEncryptionContextCmm")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl<M: MaterialsManager> RequiredEncryptionContextCmm<M> {
    /// `keys` must be non-empty and may not use the reserved `aws-crypto-`
    /// prefix.
    pub fn new(inner: M, keys: Vec<String>) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::validation(
                "a required encryption context CMM needs at least one key",
            ));
        }
        if keys.iter().any(|k| k.starts_with(RESERVED_PREFIX)) {
            return Err(Error::validation(
                "encryption context keys starting with 'aws-crypto-' are reserved",
            ));
        }
        Ok(RequiredEncryptionContextCmm { inner, keys })
    }

    fn missing<'k>(&'k self, ctx: Option<&EncryptionContext>) -> Option<&'k str> {
        self.keys
            .iter()
            .find(|k| !ctx.is_some_and(|c| c.contains_key(*k)))
            .map(|k| k.as_str())
    }
}

/// A shared materials manager is one (so the bindings compose managers on
/// whatever they built: caching or required context in front of any
/// keyring).
impl MaterialsManager for Arc<dyn MaterialsManager> {
    fn get_encryption_materials(
        &self,
        req: &EncryptionRequest<'_>,
        rng: &dyn Rng,
    ) -> Result<EncryptionMaterials> {
        (**self).get_encryption_materials(req, rng)
    }
    fn decrypt_materials(&self, req: &DecryptionRequest<'_>) -> Result<DecryptionMaterials> {
        (**self).decrypt_materials(req)
    }
    fn kms_handles(&self) -> Vec<Kms> {
        (**self).kms_handles()
    }
}

impl<M: MaterialsManager> MaterialsManager for RequiredEncryptionContextCmm<M> {
    fn get_encryption_materials(
        &self,
        req: &EncryptionRequest<'_>,
        rng: &dyn Rng,
    ) -> Result<EncryptionMaterials> {
        if let Some(k) = self.missing(Some(req.encryption_context)) {
            return Err(Error::validation(format!(
                "the encryption context must contain the required key '{k}'"
            )));
        }
        let mut m = self.inner.get_encryption_materials(req, rng)?;
        for k in &self.keys {
            if !m.required_keys.contains(k) {
                m.required_keys.push(k.clone());
            }
        }
        Ok(m)
    }

    fn decrypt_materials(&self, req: &DecryptionRequest<'_>) -> Result<DecryptionMaterials> {
        if let Some(k) = self.missing(req.reproduced_encryption_context) {
            return Err(Error::validation(format!(
                "decrypting needs the required encryption context key '{k}'"
            )));
        }
        let m = self.inner.decrypt_materials(req)?;
        // The inner manager must keep every required pair as given.
        let reproduced = req.reproduced_encryption_context.expect("checked above");
        if self
            .keys
            .iter()
            .any(|k| m.context.get(k) != reproduced.get(k))
        {
            return Err(Error::invalid_ciphertext());
        }
        Ok(m)
    }

    fn kms_handles(&self) -> Vec<Kms> {
        self.inner.kms_handles()
    }
}

// ------------------------------------------------------------ cache

/// Cache statistics. Serialises with these (one-word) field names, which
/// the wasm binding hands to JavaScript as they are; a uniffi record for
/// Kotlin and Swift.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Entries removed for capacity (LRU), age or usage limits.
    pub evictions: u64,
    /// Entries dropped because a KMS key they depend on changed.
    pub invalidations: u64,
    /// Requests that went around the cache (unknown length, over the byte
    /// limit, suites without key derivation).
    pub bypasses: u64,
    /// Entries held now.
    pub entries: u64,
}

enum Materials {
    Enc(EncryptionMaterials),
    Dec(DecryptionMaterials),
}

struct Entry {
    materials: Materials,
    created: Millis,
    messages: u64,
    bytes: u64,
    tick: u64,
    kms_keys: Vec<String>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<[u8; 64], Entry>,
    lru: BTreeMap<u64, [u8; 64]>,
    tick: u64,
    stats: CacheStats,
}

impl Inner {
    fn remove(&mut self, id: &[u8; 64]) -> Option<Entry> {
        let e = self.entries.remove(id)?;
        self.lru.remove(&e.tick);
        self.stats.entries = self.entries.len() as u64;
        Some(e)
    }
    fn touch(&mut self, id: &[u8; 64]) {
        self.tick += 1;
        let t = self.tick;
        if let Some(e) = self.entries.get_mut(id) {
            self.lru.remove(&e.tick);
            e.tick = t;
            self.lru.insert(t, *id);
        }
    }
}

/// A least-recently-used store of materials, shareable by several
/// [`CachingCmm`]s (each in its own partition). Plaintext data keys in it
/// are zeroized when their entry goes. It listens to the KMS instances of
/// the CMMs using it and drops, at once, every entry made with a KMS key
/// that changes (disabled, scheduled for deletion, material deleted or
/// rotated, policy or grants changed, an alias naming it moved or deleted)
/// and every entry of a KMS whose identity policies change. Materials made
/// while such a change was committed are not cached at all (the KMS's
/// change epoch, read before the call, is checked at insert).
pub struct MaterialsCache {
    capacity: usize,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

impl fmt::Debug for MaterialsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaterialsCache")
            .field("capacity", &self.capacity)
            .field("stats", &self.stats())
            .finish()
    }
}

impl MaterialsCache {
    /// A cache of at most `capacity` entries (≥ 1), timed by `clock`.
    pub fn new(capacity: usize, clock: impl Clock + 'static) -> Result<Arc<MaterialsCache>> {
        if capacity == 0 {
            return Err(Error::validation("the cache capacity must be at least 1"));
        }
        Ok(Arc::new(MaterialsCache {
            capacity,
            clock: Arc::new(clock),
            inner: Mutex::new(Inner::default()),
        }))
    }

    pub fn stats(&self) -> CacheStats {
        self.inner.lock().map(|i| i.stats).unwrap_or_default()
    }

    /// Drop every entry.
    pub fn clear(&self) {
        if let Ok(mut i) = self.inner.lock() {
            let n = i.entries.len() as u64;
            i.entries.clear();
            i.lru.clear();
            i.stats.evictions += n;
            i.stats.entries = 0;
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| Error::internal("the materials cache lock is poisoned"))
    }

    /// Insert an entry, unless `changed` (asked under the cache lock) says
    /// one of its KMS keys changed since the materials were made.
    fn put(
        &self,
        id: [u8; 64],
        materials: Materials,
        bytes: u64,
        kms_keys: Vec<String>,
        changed: impl FnOnce(&[String]) -> bool,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        let mut i = self.lock()?;
        i.remove(&id);
        // Under the lock: a change committed after this check is notified
        // after it (the KMS bumps its epoch before it notifies), and the
        // notification then finds and drops the entry.
        if changed(&kms_keys) {
            i.stats.invalidations += 1;
            return Ok(());
        }
        while i.entries.len() >= self.capacity {
            let Some((_, oldest)) = i.lru.pop_first() else {
                break;
            };
            i.entries.remove(&oldest);
            i.stats.evictions += 1;
        }
        i.tick += 1;
        let tick = i.tick;
        i.lru.insert(tick, id);
        i.entries.insert(
            id,
            Entry {
                materials,
                created: now,
                messages: 1,
                bytes,
                tick,
                kms_keys,
            },
        );
        i.stats.entries = i.entries.len() as u64;
        Ok(())
    }
}

impl MaterialsCache {
    fn drop_where(&self, hit: impl Fn(&str) -> bool) {
        if let Ok(mut i) = self.inner.lock() {
            let gone: Vec<[u8; 64]> = i
                .entries
                .iter()
                .filter(|(_, e)| e.kms_keys.iter().any(|k| hit(k)))
                .map(|(id, _)| *id)
                .collect();
            for id in gone {
                i.remove(&id);
                i.stats.invalidations += 1;
            }
        }
    }
}

impl KeyChangeListener for MaterialsCache {
    fn key_changed(&self, key_arn: &str) {
        self.drop_where(|k| k == key_arn)
    }
    fn all_keys_changed(&self, key_arn_prefix: &str) {
        self.drop_where(|k| k.starts_with(key_arn_prefix))
    }
}

/// The limits of a [`CachingCmm`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachingConfig {
    /// An entry older than this (ms) is not used again.
    pub max_age_ms: u64,
    /// An encryption entry serves at most this many messages (1 … 2^32).
    pub max_messages_encrypted: u64,
    /// An encryption entry serves at most this many plaintext bytes in
    /// total; a single larger message bypasses the cache.
    pub max_bytes_encrypted: u64,
    /// Separates CMMs sharing one cache; `None` picks a random one.
    pub partition: Option<String>,
}

impl Default for CachingConfig {
    fn default() -> Self {
        CachingConfig {
            max_age_ms: 60_000,
            max_messages_encrypted: 1 << 32,
            max_bytes_encrypted: i64::MAX as u64,
            partition: None,
        }
    }
}

/// The caching materials manager: reuses data keys (and, for signed
/// suites, signing keys) across messages with the same suite and context
/// within the limits of [`CachingConfig`], so bulk encryption does not call
/// the KMS per message; and reuses decryption materials for the same
/// header. Bypassed when the plaintext length is unknown, larger than
/// `max_bytes_encrypted`, or the suite has no key derivation.
pub struct CachingCmm<M> {
    inner: M,
    cache: Arc<MaterialsCache>,
    cfg: CachingConfig,
    partition: Vec<u8>,
    /// The KMS instances behind `inner` (their change epochs guard inserts).
    kms: Vec<Kms>,
}

impl<M> fmt::Debug for CachingCmm<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingCmm")
            .field("config", &self.cfg)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl<M: MaterialsManager> CachingCmm<M> {
    pub fn new(inner: M, cache: Arc<MaterialsCache>, cfg: CachingConfig) -> Result<Self> {
        if cfg.max_age_ms == 0 {
            return Err(Error::validation("max_age must be positive"));
        }
        if cfg.max_messages_encrypted == 0 || cfg.max_messages_encrypted > 1 << 32 {
            return Err(Error::validation(
                "max_messages_encrypted must be between 1 and 2^32",
            ));
        }
        let partition = match &cfg.partition {
            Some(p) => p.as_bytes().to_vec(),
            None => {
                let mut p = [0u8; 16];
                OsRng.fill(&mut p)?;
                hex::encode(p).into_bytes()
            }
        };
        let weak: Weak<dyn KeyChangeListener> = Arc::downgrade(&cache) as _;
        let kms = inner.kms_handles();
        for k in &kms {
            k.add_key_change_listener(weak.clone());
        }
        Ok(CachingCmm {
            inner,
            cache,
            cfg,
            partition,
            kms,
        })
    }

    /// Each KMS's change epoch, read before asking `inner` for materials.
    fn epochs(&self) -> Vec<u64> {
        self.kms.iter().map(Kms::change_epoch).collect()
    }

    /// Did any key the materials used change after `epochs` were read (a
    /// change committed while `inner` was calling the KMS)?
    fn changed_since(&self, epochs: &[u64], kms_keys: &[String]) -> bool {
        self.kms
            .iter()
            .zip(epochs)
            .any(|(k, e)| k.changed_since(*e, kms_keys))
    }

    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }

    fn hash_ctx(h: &mut Sha512, ctx: &EncryptionContext) {
        h.update((ctx.len() as u64).to_be_bytes());
        for (k, v) in ctx {
            for f in [k.as_bytes(), v.as_bytes()] {
                h.update((f.len() as u64).to_be_bytes());
                h.update(f);
            }
        }
    }

    fn enc_id(&self, suite: u16, ctx: &EncryptionContext) -> [u8; 64] {
        let mut h = Sha512::new();
        h.update(b"encrypt\0");
        h.update(Sha512::digest(&self.partition));
        h.update(suite.to_be_bytes());
        Self::hash_ctx(&mut h, ctx);
        h.finalize().into()
    }

    fn dec_id(&self, req: &DecryptionRequest<'_>) -> [u8; 64] {
        let mut edks: Vec<[u8; 64]> = req
            .encrypted_data_keys
            .iter()
            .map(|e| {
                let mut h = Sha512::new();
                for f in [e.provider_id.as_bytes(), &e.provider_info, &e.ciphertext] {
                    h.update((f.len() as u64).to_be_bytes());
                    h.update(f);
                }
                h.finalize().into()
            })
            .collect();
        edks.sort();
        let mut h = Sha512::new();
        h.update(b"decrypt\0");
        h.update(Sha512::digest(&self.partition));
        h.update(req.suite.to_be_bytes());
        h.update((edks.len() as u64).to_be_bytes());
        for e in edks {
            h.update(e);
        }
        Self::hash_ctx(&mut h, req.encryption_context);
        // The reproduced context changes the materials (their context and
        // authenticated-only keys), so it is part of the entry's identity.
        match req.reproduced_encryption_context {
            None => h.update([0u8]),
            Some(r) => {
                h.update([1u8]);
                Self::hash_ctx(&mut h, r);
            }
        }
        h.finalize().into()
    }

    fn bypass(&self) {
        if let Ok(mut i) = self.cache.inner.lock() {
            i.stats.bypasses += 1;
        }
    }
}

impl<M: MaterialsManager> MaterialsManager for CachingCmm<M> {
    fn get_encryption_materials(
        &self,
        req: &EncryptionRequest<'_>,
        rng: &dyn Rng,
    ) -> Result<EncryptionMaterials> {
        let s = known_suite(req.suite)?;
        let len = match req.plaintext_length {
            Some(n) if n <= self.cfg.max_bytes_encrypted && s.kdf != Kdf::Identity => n,
            _ => {
                self.bypass();
                return self.inner.get_encryption_materials(req, rng);
            }
        };
        let id = self.enc_id(req.suite, req.encryption_context);
        let now = self.cache.clock.now_ms();
        {
            let mut i = self.cache.lock()?;
            let verdict = i.entries.get(&id).map(|e| {
                now.saturating_sub(e.created) < self.cfg.max_age_ms
                    && e.messages < self.cfg.max_messages_encrypted
                    && e.bytes.saturating_add(len) <= self.cfg.max_bytes_encrypted
            });
            match verdict {
                Some(true) => {
                    let e = i.entries.get_mut(&id).expect("present");
                    e.messages += 1;
                    e.bytes += len;
                    let m = match &e.materials {
                        Materials::Enc(m) => m.clone(),
                        Materials::Dec(_) => unreachable!("ids are domain-separated"),
                    };
                    i.touch(&id);
                    i.stats.hits += 1;
                    return Ok(m);
                }
                Some(false) => {
                    i.remove(&id);
                    i.stats.evictions += 1;
                    i.stats.misses += 1;
                }
                None => i.stats.misses += 1,
            }
        }
        let epochs = self.epochs();
        let m = self.inner.get_encryption_materials(req, rng)?;
        self.cache.put(
            id,
            Materials::Enc(m.clone()),
            len,
            m.kms_keys.clone(),
            |keys| self.changed_since(&epochs, keys),
        )?;
        Ok(m)
    }

    fn decrypt_materials(&self, req: &DecryptionRequest<'_>) -> Result<DecryptionMaterials> {
        let s = suite(req.suite).ok_or_else(Error::invalid_ciphertext)?;
        if s.kdf == Kdf::Identity {
            self.bypass();
            return self.inner.decrypt_materials(req);
        }
        let id = self.dec_id(req);
        let now = self.cache.clock.now_ms();
        {
            let mut i = self.cache.lock()?;
            let fresh = i
                .entries
                .get(&id)
                .map(|e| now.saturating_sub(e.created) < self.cfg.max_age_ms);
            match fresh {
                Some(true) => {
                    let m = match &i.entries[&id].materials {
                        Materials::Dec(m) => m.clone(),
                        Materials::Enc(_) => unreachable!("ids are domain-separated"),
                    };
                    i.touch(&id);
                    i.stats.hits += 1;
                    return Ok(m);
                }
                Some(false) => {
                    i.remove(&id);
                    i.stats.evictions += 1;
                    i.stats.misses += 1;
                }
                None => i.stats.misses += 1,
            }
        }
        let epochs = self.epochs();
        let m = self.inner.decrypt_materials(req)?;
        self.cache.put(
            id,
            Materials::Dec(m.clone()),
            0,
            m.kms_keys.clone(),
            |keys| self.changed_since(&epochs, keys),
        )?;
        Ok(m)
    }

    fn kms_handles(&self) -> Vec<Kms> {
        self.inner.kms_handles()
    }
}
