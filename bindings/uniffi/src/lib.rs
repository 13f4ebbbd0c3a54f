//! Kotlin (package `dev.strongroom`) and Swift (module `Strongroom`)
//! bindings via uniffi. Thin: each exported method forwards to the core in
//! a line or two. Records and enums the core already has (`KeyMetadata`,
//! `KeyState`, `KeySpec`, …) derive the uniffi traits in the core behind
//! its `uniffi` feature; errors cross as one enum whose variants are the
//! core's stable error codes, converted in one place (`From<Error>`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use strongroom::api::*;
use strongroom::esdk::{
    self, CacheStats, CachingCmm, CachingConfig, CommitmentPolicy, DecryptOptions, Decryptor,
    EncryptOptions, Encryptor, KmsKeyring, MaterialsCache, MaterialsManager, MessageInfo,
    RawAesKeyring,
};
use strongroom::{ErrorCode, OsRng, RootKey, SystemClock};
use zeroize::Zeroizing;

uniffi::setup_scaffolding!();

/// Every failure, by its stable code (the AWS exception name where AWS has
/// one): one variant per row of the core's error table
/// (`strongroom::for_each_error_code!`), so the Kotlin `KmsException` and
/// the Swift error have exactly the core's codes. `message` never contains
/// key bytes or plaintext.
macro_rules! kms_exception {
    ($($variant:ident = $code:literal, $status:literal, $origin:ident, $description:literal;)*) => {
        #[derive(Debug, uniffi::Error)]
        #[uniffi(flat_error)]
        pub enum KmsException {
            $(#[doc = $description] $variant { message: String },)*
        }

        impl From<strongroom::Error> for KmsException {
            fn from(e: strongroom::Error) -> Self {
                let message = e.message().to_string();
                match e.code() {
                    $(ErrorCode::$variant => KmsException::$variant { message },)*
                    // `ErrorCode` is non-exhaustive; every code it has
                    // today is a row above.
                    other => KmsException::KmsInternal {
                        message: format!("{}: {message}", other.as_str()),
                    },
                }
            }
        }

        /// The `KmsException` variant of each stable code, in the order of
        /// [`error_codes`] (Kotlin's `KmsException.code` reads it).
        #[uniffi::export]
        pub fn error_variants() -> Vec<String> {
            vec![$(stringify!($variant).to_string()),*]
        }

        impl KmsException {
            /// The stable code string, the same in every language.
            pub fn code(&self) -> &'static str {
                match self { $(KmsException::$variant { .. } => ErrorCode::$variant.as_str(),)* }
            }

            pub fn message(&self) -> &str {
                match self { $(KmsException::$variant { message } => message,)* }
            }
        }
    };
}
strongroom::for_each_error_code!(kms_exception);

impl std::fmt::Display for KmsException {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for KmsException {}

/// Picks the hierarchical keyring's branch key from a message's encryption
/// context (implemented in Kotlin or Swift): one keyring, many tenants.
/// `null` / `nil` when the context names no branch key (the operation then
/// fails with a validation error).
#[uniffi::export(with_foreign)]
pub trait BranchKeyIdSupplier: Send + Sync {
    fn branch_key_id(&self, encryption_context: HashMap<String, String>) -> Option<String>;
}

struct SupplierAdapter(Arc<dyn BranchKeyIdSupplier>);

impl esdk::BranchKeyIdSupplier for SupplierAdapter {
    fn branch_key_id(&self, ctx: &strongroom::EncryptionContext) -> strongroom::Result<String> {
        self.0
            .branch_key_id(ctx.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .ok_or_else(|| {
                strongroom::Error::new(
                    ErrorCode::Validation,
                    "the branch key id supplier found no branch key for this encryption context",
                )
            })
    }
}

type R<T> = Result<T, KmsException>;

fn invalid(message: &str) -> KmsException {
    KmsException::Validation {
        message: message.to_string(),
    }
}

fn ctx(m: HashMap<String, String>) -> BTreeMap<String, String> {
    m.into_iter().collect()
}

fn json<T: serde::de::DeserializeOwned>(s: &str) -> R<T> {
    serde_json::from_str(s).map_err(|e| invalid(&format!("malformed JSON: {e}")))
}

/// The stable error codes, in the core's order.
#[uniffi::export]
pub fn error_codes() -> Vec<String> {
    ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect()
}

/// The AWS name of every operation, in the core's table order (each is a
/// typed method on [`Kms`]).
#[uniffi::export]
pub fn operation_names() -> Vec<String> {
    strongroom::Operation::ALL
        .iter()
        .map(|o| o.name().to_string())
        .collect()
}

/// A clock that moves only when told to (ms since the Unix epoch).
#[derive(uniffi::Object)]
pub struct ManualClock(strongroom::ManualClock);

#[uniffi::export]
impl ManualClock {
    #[uniffi::constructor]
    pub fn new(start_ms: u64) -> Arc<Self> {
        Arc::new(ManualClock(strongroom::ManualClock::new(start_ms)))
    }
    pub fn advance_ms(&self, ms: u64) {
        self.0.advance_ms(ms)
    }
    pub fn set_ms(&self, ms: u64) {
        self.0.set(ms)
    }
}

/// A key management service: a sealed file store or in memory.
#[derive(uniffi::Object)]
pub struct Kms(strongroom::Kms);

/// Every AWS operation, typed: one method per row of the core's operation
/// table (`strongroom::for_each_operation!`), taking the core's request
/// record and returning its response record (uniffi records derived in the
/// core behind its `uniffi` feature). Nothing here is a hand-kept list.
macro_rules! kms_operations {
    ($($name:ident => $method:ident($req:ty) -> $resp:ty, $action:tt, $class:ident, $mode:ident;)*) => {
        #[uniffi::export]
        impl Kms {
            $(
                pub fn $method(&self, request: $req) -> R<$resp> {
                    Ok(self.0.$method(request)?)
                }
            )*
        }
    };
}
strongroom::for_each_operation!(kms_operations);

#[uniffi::export]
impl Kms {
    /// Open (or create) the sealed store in directory `path`.
    #[uniffi::constructor(default(root_key = None, passphrase = None))]
    pub fn open(
        path: String,
        account: String,
        region: String,
        root_key: Option<Vec<u8>>,
        passphrase: Option<String>,
    ) -> R<Arc<Self>> {
        let root_key = root_key.map(Zeroizing::new);
        let r = RootKey::from_parts(root_key.as_deref().map(|k| &k[..]), passphrase)?;
        Ok(Arc::new(Kms(
            strongroom::Kms::builder(account, region).open_file(path, r)?
        )))
    }

    #[uniffi::constructor]
    pub fn in_memory(account: String, region: String) -> R<Arc<Self>> {
        Ok(Arc::new(Kms(strongroom::Kms::in_memory(
            &account, &region,
        )?)))
    }

    /// Any operation by its AWS name with an AWS-shaped JSON request
    /// (AWS's wire shape: PascalCase, blobs as base64, timestamps as epoch
    /// seconds); returns the JSON response.
    pub fn call(&self, operation: String, request_json: String) -> R<String> {
        Ok(strongroom::json::call(&self.0, &operation, json(&request_json)?)?.to_string())
    }

    /// The same KMS acting as another caller (JSON: PrincipalArn, Account,
    /// optional ViaService, SourceAccount).
    pub fn as_caller(&self, caller_json: String) -> R<Arc<Kms>> {
        Ok(Arc::new(Kms(self.0.as_caller(json(&caller_json)?))))
    }

    pub fn replicate_key(&self, request_json: String, replica: Arc<Kms>) -> R<String> {
        let r = self.0.replicate_key(json(&request_json)?, &replica.0)?;
        serde_json::to_string(&r).map_err(|e| invalid(&e.to_string()))
    }

    pub fn update_primary_region(&self, key_id: String, new_primary: Arc<Kms>) -> R<()> {
        Ok(self.0.update_primary_region(&key_id, &new_primary.0)?)
    }

    pub fn account(&self) -> String {
        self.0.account().to_string()
    }

    pub fn region(&self) -> String {
        self.0.region().to_string()
    }

    /// Make buffered audit events durable.
    pub fn flush(&self) -> R<()> {
        Ok(self.0.flush()?)
    }
}

/// The deterministic test RNG: only in the test build of this library
/// (cargo feature `dangerous-test-rng`, which scripts/uniffi.sh enables
/// for the Kotlin tests alone); the published library and the checked-in
/// Swift never have it.
#[cfg(feature = "dangerous-test-rng")]
#[uniffi::export]
impl Kms {
    /// In memory with the deterministic test RNG: every key follows from
    /// `seed`. For replaying the language-neutral test vectors only.
    #[uniffi::constructor]
    pub fn deterministic(
        account: String,
        region: String,
        seed: Vec<u8>,
        clock: Arc<ManualClock>,
    ) -> R<Arc<Self>> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| invalid("seed must be 32 bytes"))?;
        Ok(Arc::new(Kms(strongroom::Kms::builder(account, region)
            .clock(clock.0.clone())
            .rng(strongroom::DangerousSeededRng::new(seed))
            .in_memory()?)))
    }
}

// ------------------------------------------------------------ envelope

/// A data key cache in front of the KMS (see docs/formats/message.md).
#[derive(uniffi::Record)]
pub struct CacheConfig {
    pub capacity: u64,
    pub max_age_ms: u64,
    pub max_messages_encrypted: u64,
    pub max_bytes_encrypted: u64,
    pub partition: Option<String>,
}

/// A decrypted message (or, from a stream's `finish`, its last bytes) and
/// which key opened it.
#[derive(uniffi::Record)]
pub struct DecryptedMessage {
    pub plaintext: Vec<u8>,
    pub encryption_context: HashMap<String, String>,
    pub suite: u16,
    pub frame_length: u32,
    pub provider_id: String,
    pub key_name: String,
}

fn message(plaintext: Vec<u8>, i: MessageInfo) -> DecryptedMessage {
    DecryptedMessage {
        plaintext,
        encryption_context: i.encryption_context.into_iter().collect(),
        suite: i.suite,
        frame_length: i.frame_length,
        provider_id: i.opened_by.provider_id,
        key_name: i.opened_by.key_name,
    }
}

fn dopts(allow_legacy: bool) -> DecryptOptions {
    DecryptOptions::with_policy(CommitmentPolicy::allowing_legacy(allow_legacy))
}

/// Envelope encryption (AWS Encryption SDK message format) with one keyring.
/// Branch keys for the hierarchical keyring, wrapped by one KMS key, kept
/// in a file store in `directory` (or in memory without one).
#[derive(uniffi::Object)]
pub struct BranchKeyStore(Arc<esdk::BranchKeyStore>);

#[uniffi::export]
impl BranchKeyStore {
    #[uniffi::constructor(default(directory = None))]
    pub fn open(
        kms: Arc<Kms>,
        kms_key_id: String,
        logical_name: String,
        directory: Option<String>,
    ) -> R<Arc<Self>> {
        let store: Box<dyn strongroom::Store> = match directory {
            Some(d) => Box::new(strongroom::FileStore::open(d)?),
            None => Box::new(strongroom::MemoryStore::new()),
        };
        Ok(Arc::new(BranchKeyStore(Arc::new(
            esdk::BranchKeyStore::open(&kms.0, &kms_key_id, &logical_name, store)?,
        ))))
    }

    /// A new branch key (the id given, or a random UUID); returns its id.
    #[uniffi::method(default(branch_key_id = None))]
    pub fn create_branch_key(&self, branch_key_id: Option<String>) -> R<String> {
        Ok(self.0.create_branch_key(branch_key_id.as_deref(), &OsRng)?)
    }

    /// Rotate: a new active version; old messages still open.
    pub fn version_branch_key(&self, branch_key_id: String) -> R<String> {
        Ok(self.0.version_branch_key(&branch_key_id, &OsRng)?)
    }

    pub fn versions(&self, branch_key_id: String) -> R<Vec<String>> {
        Ok(self.0.versions(&branch_key_id)?)
    }
}

#[derive(uniffi::Object)]
pub struct Envelope {
    cmm: Arc<dyn MaterialsManager>,
    cache: Option<Arc<MaterialsCache>>,
}

#[uniffi::export]
impl Envelope {
    /// KMS keys: the first generates each data key, every one can decrypt;
    /// none = decrypt with any key the caller may use.
    #[uniffi::constructor]
    pub fn kms(
        kms: Arc<Kms>,
        key_ids: Vec<String>,
        grant_tokens: Vec<String>,
        cache: Option<CacheConfig>,
    ) -> R<Arc<Self>> {
        let ring = match key_ids.split_first() {
            None => KmsKeyring::discovery(&kms.0),
            Some((g, rest)) => KmsKeyring::with_keys(&kms.0, Some(g.clone()), rest.to_vec()),
        }
        .with_grant_tokens(grant_tokens);
        Ok(Arc::new(match cache {
            None => Envelope {
                cmm: Arc::new(ring),
                cache: None,
            },
            Some(c) => {
                let store = MaterialsCache::new(c.capacity as usize, SystemClock)?;
                let cfg = CachingConfig {
                    max_age_ms: c.max_age_ms,
                    max_messages_encrypted: c.max_messages_encrypted,
                    max_bytes_encrypted: c.max_bytes_encrypted,
                    partition: c.partition,
                };
                Envelope {
                    cmm: Arc::new(CachingCmm::new(ring, store.clone(), cfg)?),
                    cache: Some(store),
                }
            }
        }))
    }

    /// Keyrings described as data (the core's `KeyringSpec`); several make
    /// a multi-keyring (the first generates). KMS specs act through `kms`.
    #[uniffi::constructor(default(kms = None))]
    pub fn from_keyrings(specs: Vec<esdk::KeyringSpec>, kms: Option<Arc<Kms>>) -> R<Arc<Self>> {
        let k = kms.as_ref().map(|k| &k.0);
        let mut rings = specs
            .into_iter()
            .map(|s| s.build(k))
            .collect::<strongroom::Result<Vec<_>>>()?;
        if rings.is_empty() {
            return Err(strongroom::Error::new(
                ErrorCode::Validation,
                "at least one keyring spec is needed",
            )
            .into());
        }
        let first = rings.remove(0);
        let ring = if rings.is_empty() {
            first
        } else {
            esdk::multi(Some(first), rings)?
        };
        Ok(Arc::new(Envelope {
            cmm: Arc::new(ring),
            cache: None,
        }))
    }

    /// The hierarchical keyring (aws-kms-hierarchy EDKs) over one branch
    /// key of `store`, opened branch keys cached for `ttl_ms`.
    #[uniffi::constructor]
    pub fn hierarchical(
        store: Arc<BranchKeyStore>,
        branch_key_id: String,
        ttl_ms: u64,
    ) -> R<Arc<Self>> {
        Ok(Arc::new(Envelope {
            cmm: Arc::new(esdk::HierarchicalKeyring::new(
                store.0.clone(),
                branch_key_id,
                ttl_ms,
                SystemClock,
            )?),
            cache: None,
        }))
    }

    /// The hierarchical keyring with a branch key id supplier (many tenants).
    #[uniffi::constructor]
    pub fn hierarchical_with_supplier(
        store: Arc<BranchKeyStore>,
        supplier: Arc<dyn BranchKeyIdSupplier>,
        ttl_ms: u64,
    ) -> R<Arc<Self>> {
        Ok(Arc::new(Envelope {
            cmm: Arc::new(esdk::HierarchicalKeyring::with_supplier(
                store.0.clone(),
                Arc::new(SupplierAdapter(supplier)),
                ttl_ms,
                SystemClock,
            )?),
            cache: None,
        }))
    }

    /// A raw AES-128, -192 or -256 wrapping key, wire-identical to the official SDKs'.
    #[uniffi::constructor]
    pub fn raw_aes(key_namespace: String, key_name: String, wrapping_key: Vec<u8>) -> R<Arc<Self>> {
        // 16, 24 or 32 bytes (AES-128/192/256); the keyring checks.
        let wrapping_key = Zeroizing::new(wrapping_key);
        Ok(Arc::new(Envelope {
            cmm: Arc::new(RawAesKeyring::new(key_namespace, key_name, &wrapping_key)?),
            cache: None,
        }))
    }

    /// `suite`: 0x0578 (signed, the official default) or 0x0478; a legacy
    /// suite (0x0014 … 0x0378) only under `ForbidEncryptAllowDecrypt`.
    /// `frame_length` 0 writes a non-framed body.
    pub fn encrypt(
        &self,
        plaintext: Vec<u8>,
        encryption_context: HashMap<String, String>,
        suite: u16,
        frame_length: u32,
        commitment_policy: CommitmentPolicy,
    ) -> R<Vec<u8>> {
        let plaintext = Zeroizing::new(plaintext);
        let o = EncryptOptions {
            suite,
            frame_length,
            plaintext_length: Some(plaintext.len() as u64),
            commitment_policy,
        };
        Ok(esdk::encrypt_with(
            &*self.cmm,
            &plaintext,
            &ctx(encryption_context),
            &o,
            &OsRng,
        )?)
    }

    /// `encryption_context`: the context the caller expects (stored pairs
    /// must be equal; the others are a required-context message's
    /// authenticated-only pairs).
    #[uniffi::method(default(encryption_context = None))]
    pub fn decrypt(
        &self,
        message_bytes: Vec<u8>,
        allow_legacy: bool,
        encryption_context: Option<HashMap<String, String>>,
    ) -> R<DecryptedMessage> {
        let expected = encryption_context.map(ctx);
        let d = esdk::decrypt_expecting(
            &*self.cmm,
            &message_bytes,
            &dopts(allow_legacy),
            expected.as_ref(),
        )?;
        Ok(message(d.plaintext.as_bytes().to_vec(), d.info))
    }

    /// The required encryption context CMM in front of this envelope:
    /// `keys` must be in every encryption context, are authenticated but
    /// not stored, and must be given again to decrypt.
    pub fn with_required_encryption_context_keys(&self, keys: Vec<String>) -> R<Arc<Envelope>> {
        Ok(Arc::new(Envelope {
            cmm: Arc::new(esdk::RequiredEncryptionContextCmm::new(
                self.cmm.clone(),
                keys,
            )?),
            cache: self.cache.clone(),
        }))
    }

    /// A data key cache in front of this envelope's keyrings.
    pub fn with_cache(&self, cache: CacheConfig) -> R<Arc<Envelope>> {
        let store = MaterialsCache::new(cache.capacity as usize, SystemClock)?;
        let cfg = CachingConfig {
            max_age_ms: cache.max_age_ms,
            max_messages_encrypted: cache.max_messages_encrypted,
            max_bytes_encrypted: cache.max_bytes_encrypted,
            partition: cache.partition,
        };
        Ok(Arc::new(Envelope {
            cmm: Arc::new(CachingCmm::new(self.cmm.clone(), store.clone(), cfg)?),
            cache: Some(store),
        }))
    }

    pub fn encryptor(
        &self,
        encryption_context: HashMap<String, String>,
        suite: u16,
        frame_length: u32,
        commitment_policy: CommitmentPolicy,
    ) -> R<Arc<EncryptStream>> {
        let o = EncryptOptions {
            suite,
            frame_length,
            plaintext_length: None,
            commitment_policy,
        };
        let e = Encryptor::new(&*self.cmm, &ctx(encryption_context), &o, &OsRng)?;
        Ok(Arc::new(EncryptStream(Mutex::new(Some(e)))))
    }

    pub fn decryptor(&self, allow_legacy: bool) -> Arc<DecryptStream> {
        Arc::new(DecryptStream(Mutex::new(Some(Decryptor::shared(
            self.cmm.clone(),
            dopts(allow_legacy),
        )))))
    }

    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|c| c.stats())
    }
}

fn closed() -> KmsException {
    invalid("this stream is finished (or failed)")
}

/// Push-style envelope encryption of data of any size.
#[derive(uniffi::Object)]
pub struct EncryptStream(Mutex<Option<Encryptor>>);

#[uniffi::export]
impl EncryptStream {
    pub fn update(&self, data: Vec<u8>) -> R<Vec<u8>> {
        let data = Zeroizing::new(data);
        let mut g = self.0.lock().map_err(|_| closed())?;
        let e = g.as_mut().ok_or_else(closed)?;
        let mut out = Vec::new();
        if let Err(x) = e.update(&data, &mut out) {
            *g = None;
            return Err(x.into());
        }
        Ok(out)
    }
    pub fn finish(&self) -> R<Vec<u8>> {
        let e = self
            .0
            .lock()
            .map_err(|_| closed())?
            .take()
            .ok_or_else(closed)?;
        let mut out = Vec::new();
        e.finish(&mut out)?;
        Ok(out)
    }
}

/// Push-style decryption: `update` returns plaintext as frames verify;
/// only `finish` returning normally means the message was complete and
/// (for signed suites) its signature verified.
#[derive(uniffi::Object)]
pub struct DecryptStream(Mutex<Option<Decryptor<'static>>>);

#[uniffi::export]
impl DecryptStream {
    pub fn update(&self, data: Vec<u8>) -> R<Vec<u8>> {
        let mut g = self.0.lock().map_err(|_| closed())?;
        let d = g.as_mut().ok_or_else(closed)?;
        // Reserved by the decryptor at its upper bound before any
        // plaintext is written (never grown); wiped if the call fails.
        let mut out = Zeroizing::new(Vec::new());
        if let Err(e) = d.update(&data, &mut out) {
            *g = None;
            return Err(e.into());
        }
        Ok(std::mem::take(&mut *out))
    }
    pub fn finish(&self) -> R<DecryptedMessage> {
        let d = self
            .0
            .lock()
            .map_err(|_| closed())?
            .take()
            .ok_or_else(closed)?;
        let mut out = Zeroizing::new(Vec::new());
        let info = d.finish(&mut out)?;
        Ok(message(std::mem::take(&mut *out), info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every core code maps to its own variant and back, and the two
    /// exported lists Kotlin zips line up.
    #[test]
    fn every_error_code_has_its_variant() {
        let codes = error_codes();
        let variants = error_variants();
        assert_eq!(codes.len(), variants.len());
        for (code, variant) in codes.iter().zip(&variants) {
            let c = ErrorCode::from_code(code).expect("a table code");
            let e = KmsException::from(strongroom::Error::new(c, "m"));
            assert_eq!(e.code(), code);
            assert!(
                format!("{e:?}").starts_with(variant.as_str()),
                "{e:?} vs {variant}"
            );
        }
    }
}
