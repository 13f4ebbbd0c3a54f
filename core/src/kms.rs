//! The KMS engine: key records, the state machine, aliases, rotation,
//! deletion, crypto operations and the audit log, over an injected clock,
//! RNG and store. All key bytes stay inside [`crate::hsm`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::api::*;
use crate::asym::{self, MessageType, SigningAlgorithm};
use crate::audit::{self, AuditEvent, AuditHead, AuditVerification, BodyRef, StoredEvent};
use crate::authz::{self, Decision, Facts};
use crate::blob;
use crate::context::{canonical_encoding, EncryptionContext};
use crate::env::{Clock, Millis, OsRng, Rng, SystemClock, MS_PER_DAY};
use crate::error::{Error, ErrorCode, Result};
use crate::hsm::{Hsm, MaterialHandle, SealFormat, SecretKey};
use crate::model::*;
use crate::policy::{self, Policy, PolicyKind};
use crate::secret::Plaintext;
use crate::state_root::{self, Digest};
use crate::store::{MemoryStore, Mutation, Store};

// ---------------------------------------------------------------- limits

pub const MAX_PLAINTEXT: usize = 4096;
pub const MAX_DATA_KEY_BYTES: u32 = 1024;
pub const MAX_RANDOM_BYTES: u32 = 1024;
pub const MAX_DESCRIPTION: usize = 8192;
pub const MAX_KEYS: usize = 100_000;
pub const MAX_ALIASES_PER_KEY: usize = 50;
pub const MAX_TAGS_PER_KEY: usize = 50;
pub const MAX_ON_DEMAND_ROTATIONS: u32 = 25;
pub const MIN_ROTATION_DAYS: u32 = 90;
pub const MAX_ROTATION_DAYS: u32 = 2560;
pub const DEFAULT_ROTATION_DAYS: u32 = 365;
pub const MIN_PENDING_WINDOW_DAYS: u32 = 7;
pub const MAX_PENDING_WINDOW_DAYS: u32 = 30;
pub const DEFAULT_PENDING_WINDOW_DAYS: u32 = 30;
pub const MAX_POLICY_LEN: usize = 131_072;
/// Audit events buffered before they are written without a state change.
pub const AUDIT_FLUSH_EVENTS: usize = 1024;
const CONFLICT_WINDOW_MS: u64 = 20 * 60 * 1000;

// ---------------------------------------------------------------- caller

/// Who is making a call. Every operation runs as a caller; the
/// authorization layer evaluates policies against it.
///
/// The principal and the account must agree: an IAM/STS principal ARN names
/// its account, which must be `account`; a service principal's
/// `source_account`, when given, must be `account`. Deserializing (the
/// bindings' `as_caller`) refuses an inconsistent caller, and every
/// authorization decision checks again ([`Caller::validate`]), since the
/// fields are public.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "CallerFields")]
pub struct Caller {
    pub principal_arn: String,
    pub account: String,
    /// e.g. `s3.us-east-1.amazonaws.com` when a service calls on the
    /// principal's behalf (the `kms:ViaService` condition key).
    pub via_service: Option<String>,
    /// The account on whose behalf a service principal acts
    /// (`aws:SourceAccount`).
    #[serde(default)]
    pub source_account: Option<String>,
}

/// The serialized form of a [`Caller`], validated on the way in.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CallerFields {
    principal_arn: String,
    account: String,
    via_service: Option<String>,
    #[serde(default)]
    source_account: Option<String>,
}

impl TryFrom<CallerFields> for Caller {
    type Error = Error;
    fn try_from(f: CallerFields) -> Result<Caller> {
        let c = Caller {
            principal_arn: f.principal_arn,
            account: f.account,
            via_service: f.via_service,
            source_account: f.source_account,
        };
        c.validate()?;
        Ok(c)
    }
}

impl Caller {
    /// A caller from a principal ARN (IAM user, role or root, an STS
    /// session) and its account, refused if they disagree.
    pub fn new(principal_arn: &str, account: &str) -> Result<Self> {
        let c = Caller {
            principal_arn: principal_arn.to_string(),
            account: account.to_string(),
            via_service: None,
            source_account: None,
        };
        c.validate()?;
        Ok(c)
    }

    /// Check that the principal and the account agree (see [`Caller`]).
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| {
            Err(Error::validation(format!(
                "inconsistent caller {}: {why}",
                self.principal_arn
            )))
        };
        if self.account.is_empty() {
            return bad("no account".into());
        }
        if self.principal_arn.starts_with("arn:") {
            let parts: Vec<&str> = self.principal_arn.splitn(6, ':').collect();
            let ok = parts.len() == 6
                && !parts[1].is_empty()
                && (parts[2] == "iam" || parts[2] == "sts")
                && parts[3].is_empty()
                && !parts[5].is_empty();
            if !ok {
                return bad("not an IAM or STS principal ARN".into());
            }
            if parts[4] != self.account {
                return bad(format!(
                    "the principal belongs to account {}, not {}",
                    parts[4], self.account
                ));
            }
        } else if self.principal_arn.is_empty() || self.principal_arn.contains(char::is_whitespace)
        {
            return bad("not a principal".into());
        }
        if let Some(src) = &self.source_account {
            if *src != self.account {
                return bad(format!(
                    "its source account {src} is not its account {}",
                    self.account
                ));
            }
        }
        Ok(())
    }

    /// The account root principal, `arn:aws:iam::ACCOUNT:root`.
    pub fn account_root(account: &str) -> Self {
        Caller {
            principal_arn: format!("arn:aws:iam::{account}:root"),
            account: account.to_string(),
            via_service: None,
            source_account: None,
        }
    }
    pub fn iam_user(account: &str, name: &str) -> Self {
        Caller {
            principal_arn: format!("arn:aws:iam::{account}:user/{name}"),
            account: account.to_string(),
            via_service: None,
            source_account: None,
        }
    }
    pub fn iam_role(account: &str, name: &str) -> Self {
        Caller {
            principal_arn: format!("arn:aws:iam::{account}:role/{name}"),
            account: account.to_string(),
            via_service: None,
            source_account: None,
        }
    }
    /// An AWS service principal (`s3.amazonaws.com`) acting for `source_account`.
    pub fn service(service: &str, source_account: &str) -> Self {
        Caller {
            principal_arn: service.to_string(),
            account: source_account.to_string(),
            via_service: None,
            source_account: Some(source_account.to_string()),
        }
    }
    pub fn via_service(mut self, service: &str) -> Self {
        self.via_service = Some(service.to_string());
        self
    }
    /// Is this the account root principal?
    pub fn is_account_root(&self) -> bool {
        crate::authz::is_account_root(self)
    }
}

// ---------------------------------------------------------------- root key

/// The key that seals the store: 32 raw bytes from the application, or a
/// passphrase stretched with Argon2id. Zeroized on drop; Debug redacted.
/// Cloning copies the secret (each copy is zeroized on drop).
#[derive(Clone)]
pub enum RootKey {
    Raw(Zeroizing<[u8; 32]>),
    Passphrase(Zeroizing<String>),
}

impl RootKey {
    pub fn raw(bytes: [u8; 32]) -> Self {
        RootKey::Raw(Zeroizing::new(bytes))
    }
    pub fn passphrase(p: impl Into<String>) -> Self {
        RootKey::Passphrase(Zeroizing::new(p.into()))
    }

    /// Exactly one of 32 raw bytes or a passphrase, as the language
    /// bindings take them; anything else is a `ValidationException`.
    pub fn from_parts(raw: Option<&[u8]>, passphrase: Option<String>) -> Result<Self> {
        match (raw, passphrase) {
            (Some(k), None) => {
                Ok(RootKey::raw(k.try_into().map_err(|_| {
                    Error::validation("the root key must be exactly 32 bytes")
                })?))
            }
            (None, Some(p)) => Ok(RootKey::passphrase(p)),
            _ => Err(Error::validation(
                "give exactly one of a root key and a passphrase",
            )),
        }
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootKey::Raw(_) => f.write_str("RootKey::Raw(<redacted>)"),
            RootKey::Passphrase(_) => f.write_str("RootKey::Passphrase(<redacted>)"),
        }
    }
}

/// Argon2id cost parameters for passphrase root keys. The default is the
/// OWASP recommendation (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argon2Params {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params {
            m_kib: 19 * 1024,
            t: 2,
            p: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KdfRecord {
    alg: String,
    params: Argon2Params,
    salt: String,
}

/// Bounds on the Argon2id parameters a store may carry. `meta/kdf` is not
/// sealed (it is needed before the root key exists), so whoever can write
/// the store's files chooses these numbers: they are checked before any
/// memory is reserved or any pass is run. Creating a store with parameters
/// outside them is refused too, so every store this build makes opens.
pub const ARGON2_MAX_M_KIB: u32 = 1 << 20; // 1 GiB
pub const ARGON2_MAX_T: u32 = 32;
pub const ARGON2_MAX_P: u32 = 16;
/// Total work (memory × passes, in KiB): 4 GiB-passes, e.g. 1 GiB × 4 or
/// the default 19 MiB × 2 about a hundred times over.
pub const ARGON2_MAX_WORK_KIB: u64 = 4 << 20;
/// Salt length in bytes (the store writes 16).
pub const ARGON2_SALT_LEN: std::ops::RangeInclusive<usize> = 16..=64;

impl Argon2Params {
    /// Within the bounds above (and Argon2's own minimum of 8 KiB a lane)?
    fn within_bounds(&self) -> bool {
        (1..=ARGON2_MAX_P).contains(&self.p)
            && (1..=ARGON2_MAX_T).contains(&self.t)
            && self.m_kib >= 8 * self.p
            && self.m_kib <= ARGON2_MAX_M_KIB
            && self.m_kib as u64 * self.t as u64 <= ARGON2_MAX_WORK_KIB
    }
}

impl KdfRecord {
    /// Parse and bound a stored `meta/kdf` entry; returns it and its salt.
    /// Anything out of bounds is `StoreCorruptedException` (an unknown
    /// algorithm `UnsupportedStoreVersionException`), before any work.
    fn parse(entry: &[u8]) -> Result<(KdfRecord, Vec<u8>)> {
        let kdf: KdfRecord = serde_json::from_slice(entry)
            .map_err(|_| Error::corrupted("the passphrase parameters are unreadable"))?;
        if kdf.alg != "argon2id-v19" {
            return Err(Error::new(
                ErrorCode::UnsupportedStoreVersion,
                format!("unknown passphrase KDF '{}'", kdf.alg),
            ));
        }
        if !kdf.params.within_bounds() {
            return Err(Error::corrupted(format!(
                "the passphrase parameters are out of bounds (m_kib {}, t {}, p {}; at most {ARGON2_MAX_M_KIB} KiB, {ARGON2_MAX_T} passes, {ARGON2_MAX_P} lanes)",
                kdf.params.m_kib, kdf.params.t, kdf.params.p
            )));
        }
        if !ARGON2_SALT_LEN.contains(&(kdf.salt.len() / 2)) || !kdf.salt.len().is_multiple_of(2) {
            return Err(Error::corrupted("bad passphrase salt length"));
        }
        let salt = hex::decode(&kdf.salt).map_err(|_| Error::corrupted("bad passphrase salt"))?;
        Ok((kdf, salt))
    }
}

fn argon2_derive(pass: &str, salt: &[u8], p: Argon2Params) -> Result<SecretKey> {
    let params = argon2::Params::new(p.m_kib, p.t, p.p, Some(32))
        .map_err(|e| Error::validation(format!("invalid Argon2 parameters: {e}")))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    a.hash_password_into(pass.as_bytes(), salt, &mut out[..])
        .map_err(|e| Error::validation(format!("Argon2 failed: {e}")))?;
    Ok(SecretKey::from_bytes(*out))
}

// ---------------------------------------------------------------- state checks

/// Operation classes of the key-state matrix (kms-semantics §1).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpClass {
    /// Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, (Sign, Verify, MAC...)
    Crypto,
    /// EnableKey, DisableKey
    EnableDisable,
    ScheduleDeletion,
    CancelDeletion,
    /// CreateAlias, TagResource, UntagResource, UpdateKeyDescription
    Metadata,
    /// EnableKeyRotation, DisableKeyRotation, RotateKeyOnDemand
    RotationConfig,
    /// GetKeyRotationStatus, ListKeyRotations
    RotationRead,
    /// UpdateAlias: the *target* key
    AliasTarget,
    /// DescribeKey, ListResourceTags, DeleteAlias, GetKeyPolicy ...
    Always,
    CreateGrant,
    /// GetParametersForImport
    ImportParams,
    /// ImportKeyMaterial
    ImportMaterial,
}

/// The state matrix. `Ok(())` when the operation may proceed.
#[doc(hidden)]
pub fn check_state(class: OpClass, state: KeyState, arn: &str) -> Result<()> {
    use KeyState::*;
    use OpClass::*;
    let s = |what: &str| {
        Err(Error::new(
            ErrorCode::KmsInvalidState,
            format!("{arn} is {what}."),
        ))
    };
    let d = || {
        Err(Error::new(
            ErrorCode::Disabled,
            format!("{arn} is disabled."),
        ))
    };
    let u = || {
        Err(Error::new(
            ErrorCode::UnsupportedOperation,
            format!("{arn} does not support this operation in state {state}."),
        ))
    };
    let state_word = |st: KeyState| match st {
        PendingDeletion | PendingReplicaDeletion => "pending deletion",
        PendingImport => "pending import",
        Unavailable => "unavailable",
        Creating => "creating",
        Updating => "updating",
        Enabled => "enabled",
        Disabled => "disabled",
    };
    match (class, state) {
        (Always, _) => Ok(()),
        (Crypto, Enabled | Updating) => Ok(()),
        (Crypto, Disabled) => d(),
        (Crypto, st) => s(state_word(st)),
        (EnableDisable, Enabled | Disabled | Unavailable) => Ok(()),
        (EnableDisable, st) => s(state_word(st)),
        (ScheduleDeletion, PendingDeletion | PendingReplicaDeletion | Updating) => {
            s(state_word(state))
        }
        (ScheduleDeletion, _) => Ok(()),
        (CancelDeletion, PendingDeletion | PendingReplicaDeletion) => Ok(()),
        (CancelDeletion, _) => s("not pending deletion"),
        (Metadata, PendingDeletion | PendingReplicaDeletion) => s("pending deletion"),
        (Metadata, _) => Ok(()),
        (RotationConfig, Enabled | Updating) => Ok(()),
        (RotationConfig, Disabled) => d(),
        (RotationConfig, PendingImport | Unavailable) => u(),
        (RotationConfig, st) => s(state_word(st)),
        (RotationRead, PendingDeletion | PendingReplicaDeletion | Creating) => s(state_word(state)),
        (RotationRead, PendingImport | Unavailable) => u(),
        (RotationRead, _) => Ok(()),
        (AliasTarget, PendingDeletion | PendingReplicaDeletion) => s("pending deletion"),
        (AliasTarget, _) => Ok(()),
        (ImportParams, Enabled | Disabled | PendingImport) => Ok(()),
        (ImportParams, Unavailable) => u(),
        (ImportParams, st) => s(state_word(st)),
        (ImportMaterial, Enabled | Disabled | PendingImport | Updating) => Ok(()),
        (ImportMaterial, Unavailable) => u(),
        (ImportMaterial, st) => s(state_word(st)),
        (CreateGrant, Enabled | Updating | Unavailable) => Ok(()),
        (CreateGrant, Disabled) => d(),
        (CreateGrant, st) => s(state_word(st)),
    }
}

// ---------------------------------------------------------------- validation helpers

fn validate_grant_tokens(tokens: &[String]) -> Result<()> {
    if tokens.len() > 10 {
        return Err(Error::validation("GrantTokens: at most 10 grant tokens"));
    }
    if tokens.iter().any(|t| t.is_empty() || t.len() > 8192) {
        return Err(Error::validation(
            "GrantTokens: each grant token is 1 to 8192 characters",
        ));
    }
    Ok(())
}

fn validate_key_id_input(id: &str, field: &str) -> Result<()> {
    if id.is_empty() || id.len() > 2048 {
        return Err(Error::validation(format!(
            "{field} must be 1 to 2048 characters"
        )));
    }
    Ok(())
}

fn validate_tags(tags: &[Tag]) -> Result<()> {
    let mut seen = BTreeSet::new();
    for t in tags {
        let kl = t.tag_key.chars().count();
        if kl == 0 || kl > 128 || t.tag_value.chars().count() > 256 {
            return Err(Error::new(
                ErrorCode::Tag,
                "Tag keys are 1 to 128 characters and tag values 0 to 256 characters",
            ));
        }
        if t.tag_key.starts_with("aws:") {
            return Err(Error::new(
                ErrorCode::Tag,
                "Tag keys beginning with 'aws:' are reserved",
            ));
        }
        if !seen.insert(&t.tag_key) {
            return Err(Error::new(
                ErrorCode::Tag,
                format!("Duplicate tag key '{}' in one request", t.tag_key),
            ));
        }
    }
    Ok(())
}

fn validate_alias_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 256 {
        return Err(Error::validation("AliasName must be 1 to 256 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b))
    {
        return Err(Error::validation(
            "AliasName must satisfy the pattern ^[a-zA-Z0-9:/_-]+$",
        ));
    }
    if !name.starts_with("alias/") || name.len() == "alias/".len() {
        return Err(Error::new(
            ErrorCode::InvalidAliasName,
            format!("Alias '{name}' must start with 'alias/' followed by a name"),
        ));
    }
    Ok(())
}

fn is_reserved_alias(name: &str) -> bool {
    name.starts_with("alias/aws/")
}

fn check_symmetric_encrypt(rec: &KeyRecord, alg: Option<EncryptionAlgorithm>) -> Result<()> {
    if rec.key_usage != KeyUsage::EncryptDecrypt || rec.key_spec != KeySpec::SymmetricDefault {
        return Err(Error::new(
            ErrorCode::InvalidKeyUsage,
            format!(
                "{} key usage is {} and key spec is {}; this operation needs a SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key",
                rec.arn, rec.key_usage, rec.key_spec
            ),
        ));
    }
    match alg {
        None | Some(EncryptionAlgorithm::SymmetricDefault) => Ok(()),
        Some(a) => Err(Error::new(
            ErrorCode::InvalidKeyUsage,
            format!("{} does not support encryption algorithm {a}", rec.arn),
        )),
    }
}

fn dry_run_ok() -> Error {
    Error::new(
        ErrorCode::DryRunOperation,
        "The request would have succeeded, but the DryRun flag is set",
    )
}

fn limit_of(limit: Option<u32>, default: u32) -> Result<usize> {
    match limit {
        None => Ok(default as usize),
        Some(l) if (1..=1000).contains(&l) => Ok(l as usize),
        Some(_) => Err(Error::validation("Limit must be between 1 and 1000")),
    }
}

/// Paginate a sorted list. The marker is the hex of the last returned
/// item's sort key.
fn paginate<T>(
    items: Vec<T>,
    sort_key: impl Fn(&T) -> String,
    limit: usize,
    marker: Option<&str>,
) -> Result<(Vec<T>, Option<String>, bool)> {
    let after = match marker {
        None => None,
        Some(m) => Some(
            hex::decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| Error::new(ErrorCode::InvalidMarker, "The marker is not valid"))?,
        ),
    };
    let mut page: Vec<T> = items
        .into_iter()
        .filter(|t| after.as_ref().is_none_or(|a| sort_key(t) > *a))
        .collect();
    let truncated = page.len() > limit;
    page.truncate(limit);
    let next = if truncated {
        page.last().map(|t| hex::encode(sort_key(t)))
    } else {
        None
    };
    Ok((page, next, truncated))
}

// ---------------------------------------------------------------- store names

const CHECK_NAME: &str = "meta/check";
const CHECK_VALUE: &[u8] = b"strongroom root key check v1";
const KDF_NAME: &str = "meta/kdf";
const IDENTITY_NAME: &str = "meta/identity";
const SETTINGS_NAME: &str = "meta/settings";
const AUDIT_HEAD_NAME: &str = "meta/audit-head";
const AUDIT_BASE_NAME: &str = "meta/audit-base";
const IDENTITY_KEY_NAME: &str = "meta/store-identity";
/// The state root (`state_root.rs`): commit counter and the keyed digest of
/// every other entry under a MAC, rewritten by every commit.
const ROOT_NAME: &str = "meta/root";
/// Registered replication destinations: `trust/<hex sha-256 of the SPKI>`.
const TRUST_PREFIX: &str = "trust/";
/// The clock's high-water mark: JSON `{"high_water_ms": …, "mac": …}`, the
/// MAC an HMAC under the store key (not sealed: it is not secret, and
/// sealing would draw a nonce from the RNG, shifting every seeded vector).
const CLOCK_NAME: &str = "meta/clock";
/// A clock more than this far past its high-water mark has jumped: calls
/// then purge nothing and expire no imported material until the account
/// root runs [`Kms::run_maintenance`], which accepts the new time. Seven
/// days (the shortest deletion window): any single step of normal time
/// (idle weekends, the language-neutral vectors' 7-day steps) still acts,
/// while the jumps that would purge every pending deletion at once (up to
/// the 30-day window) are held.
pub const MAX_CLOCK_JUMP_MS: u64 = MIN_PENDING_WINDOW_DAYS as u64 * MS_PER_DAY;
/// The high-water mark is written when it has moved this far (or with any
/// other change), so after a restart it is at most this stale.
const CLOCK_MARK_GRANULARITY_MS: u64 = 60 * 60 * 1000;
const STORE_SCHEMA: u32 = 1;

fn key_name(id: &str) -> String {
    format!("key/{id}")
}
fn material_name(id: &str, mat_hex: &str) -> String {
    format!("mat/{id}/{mat_hex}")
}
fn alias_store_name(alias: &str) -> String {
    format!("alias/{alias}")
}
/// An import token's state (stored sealed; the wrapping key inside is
/// sealed a second time by the HSM).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImportTokenEntry {
    key_id: String,
    wrapping_algorithm: WrappingAlgorithm,
    expires_ms: Millis,
    sealed_wrapping_key: String,
}

fn import_token_name(token_id: &str) -> String {
    format!("import/{token_id}")
}

pub const IMPORT_TOKEN_VALIDITY_MS: u64 = MS_PER_DAY;
pub const MAX_IMPORT_VALIDITY_DAYS: u64 = 365;

fn grant_name(key_id: &str, grant_id: &str) -> String {
    format!("grant/{key_id}/{grant_id}")
}
fn identity_name(principal: &str, name: &str) -> String {
    format!("iam/{principal}/{name}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdentityEntry {
    principal_arn: String,
    policy_name: String,
    document: String,
}

fn audit_name(first_seq: u64) -> String {
    format!("audit/{first_seq:020}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Identity {
    schema: u32,
    account: String,
    region: String,
    partition: String,
}

/// Store-wide settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreSettings {
    /// When true, every customer-managed key that supports automatic
    /// rotation must have it enabled.
    pub rotation_required: bool,
}

/// What a maintenance pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub rotated: Vec<String>,
    pub deleted: Vec<String>,
    /// EXTERNAL keys whose imported material expired.
    pub expired: Vec<String>,
}

// ---------------------------------------------------------------- engine state

struct Ctx<'a> {
    now: Millis,
    caller: &'a Caller,
    account: &'a str,
    region: &'a str,
    partition: &'a str,
}

impl Ctx<'_> {
    fn key_arn(&self, id: &str) -> String {
        format!(
            "arn:{}:kms:{}:{}:key/{id}",
            self.partition, self.region, self.account
        )
    }
    fn alias_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:kms:{}:{}:{name}",
            self.partition, self.region, self.account
        )
    }
}

#[derive(Default)]
struct AuditInfo {
    key_arn: Option<String>,
    context: Option<EncryptionContext>,
    decision: Option<String>,
}

struct State {
    hsm: Hsm,
    store: Box<dyn Store>,
    keys: BTreeMap<String, KeyRecord>,
    aliases: BTreeMap<String, AliasEntry>,
    settings: StoreSettings,
    audit_head: AuditHead,
    audit_base: AuditBase,
    /// Hash of the newest event (buffered or stored).
    audit_last: [u8; 32],
    audit_buf: Vec<StoredEvent>,
    batch: Vec<Mutation>,
    next_deadline: Millis,
    report: MaintenanceReport,
    /// Parsed key policies (text, parsed), by key id.
    policies: HashMap<String, (String, Arc<Policy>)>,
    /// Identity policies: principal ARN → name → (document, parsed).
    identity: BTreeMap<String, BTreeMap<String, (String, Arc<Policy>)>>,
    /// Grants: key id → grant id → grant.
    grants: BTreeMap<String, BTreeMap<String, Grant>>,
    /// Outstanding import tokens by token id.
    import_tokens: HashMap<String, ImportTokenEntry>,
    /// Multi-Region primaries changed by this call (push to replicas).
    mrk_dirty: Vec<String>,
    /// Replicas purged by this call: (key id, primary region).
    replicas_purged: Vec<(String, String)>,
    /// Sealed store identity key, if created.
    identity_loaded: bool,
    /// Ids of keys whose record, material or grants the last commits
    /// changed (for [`KeyChangeListener`]s).
    changed_keys: BTreeSet<String>,
    /// Tag of every store entry but the root, and their sum: the state root
    /// as the store holds it (see `state_root.rs`).
    entry_tags: HashMap<String, [u8; 32]>,
    digest: Digest,
    /// Commits counted by the state root.
    commit_count: u64,
    /// The store predates the state root: the first write adds it (and
    /// re-seals the check entry in format 2, which marks the store rooted).
    upgrade_pending: bool,
    /// A rebuild from the store after a failure has not completed yet.
    stale: bool,
    /// Registered replication destinations (`trust/<fingerprint>`), by
    /// fingerprint: the only stores key material may be exported to.
    trust: BTreeMap<String, ReplicationDestination>,
    /// Ids of keys an alias pointed to before or after a change of the
    /// alias in this call (the alias entry names no key id in clear).
    alias_targets: BTreeSet<String>,
    /// The clock's high-water mark (`None` until read from the store).
    clock_mark: Option<Millis>,
    /// The mark as last written to the store (`None`: not there yet).
    clock_mark_stored: Option<Millis>,
}

#[derive(Serialize, Deserialize)]
struct ClockMark {
    high_water_ms: Millis,
    mac: String,
}

impl ClockMark {
    fn mac(hsm: &Hsm, ms: Millis) -> String {
        let data = [&b"strongroom/v1/clock-mark\0"[..], &ms.to_be_bytes()].concat();
        hex::encode(hsm.token_mac(&data))
    }
}

impl State {
    fn put_sealed(&mut self, name: String, value: &[u8]) -> Result<()> {
        let sealed = self.hsm.seal_value(&name, value)?;
        self.batch.push(Mutation::Put {
            name,
            value: sealed,
        });
        Ok(())
    }

    fn put_json<T: Serialize>(&mut self, name: String, v: &T) -> Result<()> {
        let json = serde_json::to_vec(v).map_err(|e| Error::internal(e.to_string()))?;
        self.put_sealed(name, &json)
    }

    fn save_key(&mut self, rec: KeyRecord) -> Result<()> {
        self.cache_policy(&rec)?;
        self.put_json(key_name(&rec.key_id), &rec)?;
        self.keys.insert(rec.key_id.clone(), rec);
        Ok(())
    }

    fn cache_policy(&mut self, rec: &KeyRecord) -> Result<()> {
        let text = rec.policy.as_deref().unwrap_or("");
        if self
            .policies
            .get(&rec.key_id)
            .is_some_and(|(t, _)| t == text)
        {
            return Ok(());
        }
        let parsed = policy::parse_stored(text, PolicyKind::Key).map_err(|e| {
            Error::corrupted(format!("{}: stored key policy: {}", rec.arn, e.message()))
        })?;
        self.policies
            .insert(rec.key_id.clone(), (text.to_string(), Arc::new(parsed)));
        Ok(())
    }

    fn save_grant(&mut self, g: Grant) -> Result<()> {
        self.put_json(grant_name(&g.key_id, &g.grant_id), &g)?;
        self.grants
            .entry(g.key_id.clone())
            .or_default()
            .insert(g.grant_id.clone(), g);
        Ok(())
    }

    fn remove_grant(&mut self, key_id: &str, grant_id: &str) {
        if let Some(m) = self.grants.get_mut(key_id) {
            m.remove(grant_id);
        }
        self.batch.push(Mutation::Delete {
            name: grant_name(key_id, grant_id),
        });
    }

    /// Decide whether `cx.caller` may perform `action` (on `key_id`, or at
    /// account level). Records the decision for the audit log.
    fn authorize(
        &self,
        cx: &Ctx,
        action: &str,
        key_id: Option<&str>,
        facts: Facts<'_>,
        au: &mut AuditInfo,
    ) -> Result<Option<String>> {
        if let Err(e) = cx.caller.validate() {
            au.decision = Some(format!("deny {action}: inconsistent caller"));
            return Err(e);
        }
        let key = key_id.and_then(|id| self.keys.get(id));
        let key_policy = key_id
            .and_then(|id| self.policies.get(id))
            .map(|(_, p)| &**p);
        let identity = self.identity_policies(&cx.caller.principal_arn);
        let grants = key_id.and_then(|id| self.grants.get(id));
        let aliases = || {
            self.aliases
                .values()
                .filter(|a| Some(a.target_key_id.as_str()) == key_id)
                .map(|a| a.alias_name.clone())
                .collect()
        };
        let req = authz::Request {
            caller: cx.caller,
            store_account: cx.account,
            now_ms: cx.now,
            action,
            key,
            key_policy,
            key_aliases: &aliases,
            identity: &identity,
            grants,
            facts,
        };
        let decision = req.decide();
        let note = |d: &str| match &au.decision {
            Some(prev) => format!("{prev}; {d}"),
            None => d.to_string(),
        };
        match decision {
            Decision::Allow(why, grant) => {
                au.decision = Some(match &au.decision {
                    None => ["allow ", action, ": ", &why].concat(),
                    Some(prev) => [prev.as_str(), "; allow ", action, ": ", &why].concat(),
                });
                Ok(grant)
            }
            Decision::Deny(why, tail) => {
                au.decision = Some(note(&format!("deny {action}: {why}")));
                let resource = key.map(|k| k.arn.clone()).unwrap_or_else(|| "*".into());
                Err(Error::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "User: {} is not authorized to perform: {action} on resource: {resource} {tail}",
                        cx.caller.principal_arn
                    ),
                ))
            }
        }
    }

    /// Account-administration calls (settings, identity policies, audit
    /// pruning): the account root only.
    fn require_root(&self, cx: &Ctx, what: &str, au: &mut AuditInfo) -> Result<()> {
        if cx.caller.validate().is_ok()
            && cx.caller.is_account_root()
            && cx.caller.account == cx.account
        {
            au.decision = Some(format!("allow {what}: account root"));
            return Ok(());
        }
        au.decision = Some(format!("deny {what}: only the account root may"));
        Err(Error::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} is not authorized to perform: {what} (account root only)",
                cx.caller.principal_arn
            ),
        ))
    }

    /// The lockout safety check: would `rec`'s policy still let the caller
    /// call PutKeyPolicy?
    fn lockout_check(&self, cx: &Ctx, rec: &KeyRecord) -> Result<()> {
        let parsed = policy::parse(rec.policy.as_deref().unwrap_or(""), PolicyKind::Key)?;
        if self.allows_put_policy(cx.caller, cx.now, rec, &parsed) {
            Ok(())
        } else {
            Err(lockout_error())
        }
    }

    /// Would `policy`, as the key policy of `rec`, still let `caller` call
    /// PutKeyPolicy (with the caller's identity policies)?
    fn allows_put_policy(
        &self,
        caller: &Caller,
        now: Millis,
        rec: &KeyRecord,
        policy: &Policy,
    ) -> bool {
        let identity = self.identity_policies(&caller.principal_arn);
        let no_aliases = Vec::new;
        let req = authz::Request {
            caller,
            store_account: &rec.account,
            now_ms: now,
            action: "kms:PutKeyPolicy",
            key: Some(rec),
            key_policy: Some(policy),
            key_aliases: &no_aliases,
            identity: &identity,
            grants: None,
            facts: Facts {
                bypass_lockout: Some(false),
                ..Default::default()
            },
        };
        matches!(req.decide(), Decision::Allow(..))
    }

    /// The identity policies attached to a principal, by name.
    fn identity_policies(&self, principal: &str) -> Vec<(String, &Policy)> {
        self.identity
            .get(principal)
            .map(|m| m.iter().map(|(n, (_, p))| (n.clone(), &**p)).collect())
            .unwrap_or_default()
    }

    fn grant_token(&self, grant_id: &str) -> String {
        format!(
            "srg1{grant_id}{}",
            hex::encode(&self.hsm.token_mac(grant_id.as_bytes())[..16])
        )
    }

    /// The grant id inside a token; `InvalidGrantTokenException` if the
    /// token is not one this store issued.
    fn parse_grant_token(&self, token: &str) -> Result<String> {
        let bad = || Error::new(ErrorCode::InvalidGrantToken, "The grant token is not valid");
        let body = token.strip_prefix("srg1").ok_or_else(bad)?;
        if body.len() != 96 || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let (id, mac) = body.split_at(64);
        let want = hex::encode(&self.hsm.token_mac(id.as_bytes())[..16]);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            want.as_bytes(),
            mac.as_bytes(),
        )) {
            return Err(bad());
        }
        Ok(id.to_string())
    }

    fn validate_grant_tokens(&self, tokens: &[String]) -> Result<()> {
        validate_grant_tokens(tokens)?;
        for t in tokens {
            self.parse_grant_token(t)?;
        }
        Ok(())
    }

    fn save_alias(&mut self, a: AliasEntry) -> Result<()> {
        self.put_json(alias_store_name(&a.alias_name), &a)?;
        self.alias_targets.insert(a.target_key_id.clone());
        if let Some(old) = self.aliases.insert(a.alias_name.clone(), a) {
            self.alias_targets.insert(old.target_key_id);
        }
        Ok(())
    }

    fn remove_alias(&mut self, name: &str) {
        if let Some(old) = self.aliases.remove(name) {
            self.alias_targets.insert(old.target_key_id);
        }
        self.batch.push(Mutation::Delete {
            name: alias_store_name(name),
        });
    }

    fn new_material(
        &mut self,
        key_id: &str,
        now: Millis,
        rotation_type: Option<RotationType>,
    ) -> Result<MaterialVersion> {
        let (handle, sealed) = self.hsm.generate_material(key_id)?;
        let hexid = handle.material_id_hex();
        self.batch.push(Mutation::Put {
            name: material_name(key_id, &hexid),
            value: sealed,
        });
        Ok(MaterialVersion {
            material_id: hexid,
            created_ms: now,
            rotation_type,
        })
    }

    fn new_asym_material(
        &mut self,
        key_id: &str,
        key: asym::AsymKey,
        now: Millis,
    ) -> Result<MaterialVersion> {
        let (handle, sealed) = self.hsm.install_asym(key_id, key)?;
        let hexid = handle.material_id_hex();
        self.batch.push(Mutation::Put {
            name: material_name(key_id, &hexid),
            value: sealed,
        });
        Ok(MaterialVersion {
            material_id: hexid,
            created_ms: now,
            rotation_type: None,
        })
    }

    fn mark_mrk_dirty(&mut self, key_id: &str) {
        let is_primary = self
            .keys
            .get(key_id)
            .and_then(|k| k.mrk.as_ref().map(|m| m.primary_region == k.region))
            .unwrap_or(false);
        if is_primary && !self.mrk_dirty.iter().any(|k| k == key_id) {
            self.mrk_dirty.push(key_id.to_string());
        }
    }

    fn ensure_identity(&mut self) -> Result<()> {
        if !self.identity_loaded {
            if let Some(sealed) = self.hsm.load_or_create_identity(None)? {
                self.batch.push(Mutation::Put {
                    name: IDENTITY_KEY_NAME.into(),
                    value: sealed,
                });
            }
            self.identity_loaded = true;
        }
        Ok(())
    }

    fn rotate(&mut self, key_id: &str, now: Millis, kind: RotationType) -> Result<()> {
        self.mark_mrk_dirty(key_id);
        let mv = self.new_material(key_id, now, Some(kind))?;
        let mut rec = self.keys[key_id].clone();
        rec.materials.push(mv);
        if kind == RotationType::Automatic {
            rec.rotation.next_rotation_ms = rec
                .rotation
                .period_days
                .map(|p| now + p as u64 * MS_PER_DAY);
        }
        self.save_key(rec)
    }

    fn purge_key(&mut self, key_id: &str) {
        if let Some(rec) = self.keys.remove(key_id) {
            if let Some(m) = rec.mrk.as_ref().filter(|m| m.primary_region != rec.region) {
                self.replicas_purged
                    .push((key_id.to_string(), m.primary_region.clone()));
            }
            for m in &rec.materials {
                self.batch.push(Mutation::Delete {
                    name: material_name(key_id, &m.material_id),
                });
            }
            self.batch.push(Mutation::Delete {
                name: key_name(key_id),
            });
            self.hsm.destroy_key(key_id);
            self.policies.remove(key_id);
            let tokens: Vec<String> = self
                .import_tokens
                .iter()
                .filter(|(_, t)| t.key_id == key_id)
                .map(|(id, _)| id.clone())
                .collect();
            for t in tokens {
                self.drop_import_token(&t);
            }
            if let Some(gs) = self.grants.remove(key_id) {
                for gid in gs.keys() {
                    self.batch.push(Mutation::Delete {
                        name: grant_name(key_id, gid),
                    });
                }
            }
            let aliases: Vec<String> = self
                .aliases
                .values()
                .filter(|a| a.target_key_id == key_id)
                .map(|a| a.alias_name.clone())
                .collect();
            for a in aliases {
                self.remove_alias(&a);
            }
            self.report.deleted.push(key_id.to_string());
        }
    }

    fn recompute_deadline(&mut self) {
        self.next_deadline = self
            .keys
            .values()
            .flat_map(|k| {
                let main = match k.state {
                    KeyState::PendingDeletion => k.deletion_date_ms,
                    KeyState::Enabled if k.rotation.enabled => k.rotation.next_rotation_ms,
                    _ => None,
                };
                let expiry = k
                    .import
                    .as_ref()
                    .filter(|i| i.present)
                    .and_then(|i| i.valid_to_ms);
                [main, expiry]
            })
            .flatten()
            .chain(self.import_tokens.values().map(|t| t.expires_ms))
            .min()
            .unwrap_or(Millis::MAX);
    }

    /// The clock's high-water mark, read from the store on first use (a
    /// store without one starts at `now`).
    fn clock_mark(&mut self, now: Millis) -> Result<Millis> {
        if let Some(m) = self.clock_mark {
            return Ok(m);
        }
        let entries = self.store.load()?;
        let m = match entries.get(CLOCK_NAME) {
            Some(v) => {
                let m: ClockMark = serde_json::from_slice(v)
                    .map_err(|_| Error::corrupted("unreadable clock high-water mark"))?;
                let want = ClockMark::mac(&self.hsm, m.high_water_ms);
                if !bool::from(subtle::ConstantTimeEq::ct_eq(
                    want.as_bytes(),
                    m.mac.as_bytes(),
                )) {
                    return Err(Error::corrupted(
                        "the clock high-water mark failed authentication",
                    ));
                }
                self.clock_mark_stored = Some(m.high_water_ms);
                m.high_water_ms
            }
            None => now,
        };
        self.clock_mark = Some(m);
        Ok(m)
    }

    /// Move the high-water mark to `now` (never back); stage it for the
    /// store when it moved far enough since it was last written, or when
    /// `force`. (Otherwise it goes with the call's other writes, if any:
    /// [`State::stage_clock_mark`].)
    fn advance_clock_mark(&mut self, now: Millis, force: bool) -> Result<()> {
        let m = self.clock_mark(now)?.max(now);
        self.clock_mark = Some(m);
        let due = match self.clock_mark_stored {
            Some(s) => {
                m > s
                    && (force
                        || (m - s >= CLOCK_MARK_GRANULARITY_MS && self.clock_guards_something()))
            }
            None => force,
        };
        if due {
            self.put_clock_mark(m)?;
        }
        Ok(())
    }

    fn put_clock_mark(&mut self, m: Millis) -> Result<()> {
        let v = ClockMark {
            high_water_ms: m,
            mac: ClockMark::mac(&self.hsm, m),
        };
        self.batch.push(Mutation::Put {
            name: CLOCK_NAME.into(),
            value: serde_json::to_vec(&v).map_err(|e| Error::internal(e.to_string()))?,
        });
        self.clock_mark_stored = Some(m);
        Ok(())
    }

    /// Is anything waiting for the clock that the jump guard protects (a key
    /// pending deletion, imported material that expires)? Only then does
    /// the high-water mark need to be in the store.
    fn clock_guards_something(&self) -> bool {
        self.keys.values().any(|k| {
            k.state == KeyState::PendingDeletion
                || k.import
                    .as_ref()
                    .is_some_and(|i| i.present && i.valid_to_ms.is_some())
        })
    }

    /// A call that writes anyway writes the high-water mark with it when
    /// the stored one is behind (or missing) and something depends on it.
    fn stage_clock_mark(&mut self) -> Result<()> {
        match self.clock_mark {
            Some(m)
                if !self.batch.is_empty()
                    && self.clock_mark_stored != Some(m)
                    && self.clock_guards_something() =>
            {
                self.put_clock_mark(m)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Has the clock jumped forward past the bound since the last call?
    fn clock_jumped(&mut self, now: Millis) -> Result<bool> {
        Ok(now.saturating_sub(self.clock_mark(now)?) > MAX_CLOCK_JUMP_MS)
    }

    /// Accept the clock as it is (the account root's maintenance call).
    fn accept_clock(&mut self, now: Millis) -> Result<()> {
        self.clock_mark = Some(self.clock_mark(now)?.max(now));
        self.advance_clock_mark(now, true)
    }

    /// Purge keys whose deletion window passed and rotate keys that are due.
    /// After a forward clock jump larger than [`MAX_CLOCK_JUMP_MS`] nothing
    /// is purged or expired (rotation, which destroys nothing, still runs)
    /// until [`State::accept_clock`].
    fn sweep(&mut self, now: Millis) -> Result<()> {
        let jumped = self.clock_jumped(now)?;
        if !jumped {
            self.advance_clock_mark(now, false)?;
        }
        if now < self.next_deadline {
            return Ok(());
        }
        let due: Vec<(String, bool)> = self
            .keys
            .values()
            .filter_map(|k| match k.state {
                KeyState::PendingDeletion
                    if !jumped && k.deletion_date_ms.is_some_and(|d| d <= now) =>
                {
                    Some((k.key_id.clone(), true))
                }
                KeyState::Enabled
                    if k.rotation.enabled
                        && k.rotation.next_rotation_ms.is_some_and(|d| d <= now) =>
                {
                    Some((k.key_id.clone(), false))
                }
                _ => None,
            })
            .collect();
        for (id, delete) in due {
            if delete {
                self.purge_key(&id);
            } else {
                self.rotate(&id, now, RotationType::Automatic)?;
                self.report.rotated.push(id);
            }
        }
        // Imported material whose ValidTo has passed is deleted.
        let expired: Vec<String> = self
            .keys
            .values()
            .filter(|k| {
                !jumped
                    && k.import
                        .as_ref()
                        .is_some_and(|i| i.present && i.valid_to_ms.is_some_and(|v| v <= now))
            })
            .map(|k| k.key_id.clone())
            .collect();
        for id in expired {
            self.delete_imported_material(&id)?;
            self.report.expired.push(id);
        }
        // Expired import tokens: their RSA private keys go now, from the HSM
        // and from the store (an import with one is ExpiredImportToken).
        let stale: Vec<String> = self
            .import_tokens
            .iter()
            .filter(|(_, t)| t.expires_ms <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for t in stale {
            self.drop_import_token(&t);
        }
        self.recompute_deadline();
        Ok(())
    }

    /// Delete an EXTERNAL key's material: the key goes to PendingImport
    /// (a key pending deletion keeps its state); metadata is kept, so only
    /// the same material can be imported again.
    fn delete_imported_material(&mut self, key_id: &str) -> Result<()> {
        let mut rec = self.keys[key_id].clone();
        for m in &rec.materials {
            let mut material_id = [0u8; 32];
            hex::decode_to_slice(&m.material_id, &mut material_id)
                .map_err(|_| Error::internal("malformed material id"))?;
            self.hsm.remove_material(&MaterialHandle {
                key_id: key_id.to_string(),
                material_id,
            });
            self.batch.push(Mutation::Delete {
                name: material_name(key_id, &m.material_id),
            });
        }
        if let Some(i) = rec.import.as_mut() {
            i.present = false;
            i.valid_to_ms = None;
        }
        if rec.state != KeyState::PendingDeletion {
            rec.state = KeyState::PendingImport;
        }
        self.save_key(rec)
    }

    fn drop_import_token(&mut self, token_id: &str) {
        self.import_tokens.remove(token_id);
        self.hsm.drop_wrapping_key(token_id);
        self.batch.push(Mutation::Delete {
            name: import_token_name(token_id),
        });
    }

    fn import_token_string(&self, token_id: &str, key_id: &str) -> String {
        let mac = self
            .hsm
            .token_mac(&[b"import\0", token_id.as_bytes(), b"\0", key_id.as_bytes()].concat());
        format!("srim1{token_id}{}", hex::encode(&mac[..16]))
    }

    /// The token id inside an import token issued for `key_id`.
    fn parse_import_token(&self, token: &str, key_id: &str) -> Result<String> {
        let bad = || {
            Error::new(
                ErrorCode::InvalidImportToken,
                "The import token is not valid for this key",
            )
        };
        let body = token.strip_prefix("srim1").ok_or_else(bad)?;
        if body.len() != 64 || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let token_id = &body[..32];
        let want = self.import_token_string(token_id, key_id);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            want.as_bytes(),
            token.as_bytes(),
        )) {
            return Err(bad());
        }
        Ok(token_id.to_string())
    }

    /// Rotate at once if automatic rotation is overdue (after EnableKey).
    fn rotate_if_overdue(&mut self, key_id: &str, now: Millis) -> Result<()> {
        let rec = &self.keys[key_id];
        if rec.state == KeyState::Enabled
            && rec.rotation.enabled
            && rec.rotation.next_rotation_ms.is_some_and(|d| d <= now)
        {
            self.rotate(key_id, now, RotationType::Automatic)?;
        }
        Ok(())
    }

    fn resolve(&self, cx: &Ctx, input: &str) -> Result<String> {
        validate_key_id_input(input, "KeyId")?;
        let local = if let Some(rest) = input.strip_prefix("arn:") {
            // arn:PARTITION:kms:REGION:ACCOUNT:RESOURCE
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let ok = parts.len() == 5
                && parts[0] == cx.partition
                && parts[1] == "kms"
                && parts[2] == cx.region
                && parts[3] == cx.account;
            if !ok {
                return Err(Error::new(
                    ErrorCode::NotFound,
                    format!("Key '{input}' does not exist"),
                ));
            }
            parts[4]
        } else {
            input
        };
        if local.starts_with("alias/") {
            return self
                .aliases
                .get(local)
                .map(|a| a.target_key_id.clone())
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::NotFound,
                        format!("Alias {} is not found.", cx.alias_arn(local)),
                    )
                });
        }
        let id = local.strip_prefix("key/").unwrap_or(local);
        if input.starts_with("arn:") && !local.starts_with("key/") {
            return Err(Error::new(
                ErrorCode::NotFound,
                format!("Key '{input}' does not exist"),
            ));
        }
        if self.keys.contains_key(id) {
            Ok(id.to_string())
        } else {
            Err(Error::not_found_arn(&cx.key_arn(id)))
        }
    }

    /// The record of a key resolved *in this critical section* (by
    /// `resolve`, or just inserted). An id that came from an earlier lock
    /// must go through [`State::rec_checked`]: the key may have been purged
    /// in between, and a panic here would poison the state lock.
    fn rec(&self, id: &str) -> &KeyRecord {
        &self.keys[id]
    }

    /// The record of a key whose id was resolved under an earlier lock:
    /// `NotFoundException` if it is gone since.
    fn rec_checked(&self, cx: &Ctx, id: &str) -> Result<&KeyRecord> {
        self.keys
            .get(id)
            .ok_or_else(|| Error::not_found_arn(&cx.key_arn(id)))
    }

    fn current_handle(&self, rec: &KeyRecord) -> Result<MaterialHandle> {
        let hexid = rec
            .current_material_id()
            .ok_or_else(|| Error::internal(format!("{} has no key material", rec.arn)))?;
        let mut material_id = [0u8; 32];
        hex::decode_to_slice(hexid, &mut material_id)
            .map_err(|_| Error::internal("malformed material id"))?;
        Ok(MaterialHandle {
            key_id: rec.key_id.clone(),
            material_id,
        })
    }

    fn next_audit_seq(&self) -> u64 {
        self.audit_head.count + self.audit_buf.len() as u64
    }

    fn audit(&mut self, body: &BodyRef<'_>) -> Result<()> {
        let e = StoredEvent::new(&self.audit_last, body)?;
        self.audit_last = e.hash;
        self.audit_buf.push(e);
        Ok(())
    }

    /// Write the pending batch. State changes always carry the buffered
    /// audit events with them; read-only calls flush audit events once
    /// `AUDIT_FLUSH_EVENTS` have accumulated (or on `flush()` / drop).
    /// On failure nothing is written and the audit buffer is kept.
    fn commit(&mut self, force_audit: bool) -> Result<()> {
        let state_changed = !self.batch.is_empty();
        let stage = !self.audit_buf.is_empty()
            && (state_changed || force_audit || self.audit_buf.len() >= AUDIT_FLUSH_EVENTS);
        let mut new_head = None;
        if stage {
            let first = self.audit_buf[0].seq;
            let head = AuditHead {
                count: first + self.audit_buf.len() as u64,
                hash: hex::encode(self.audit_buf.last().expect("non-empty").hash),
            };
            let encoded = audit::encode_batch(&self.audit_buf)?;
            self.put_sealed(audit_name(first), &encoded)?;
            self.put_json(AUDIT_HEAD_NAME.to_string(), &head)?;
            new_head = Some(head);
        }
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let changed: Vec<String> = batch
            .iter()
            .filter_map(|m| {
                let name = match m {
                    Mutation::Put { name, .. } | Mutation::Delete { name } => name,
                };
                let rest = name
                    .strip_prefix("key/")
                    .or_else(|| name.strip_prefix("mat/"))
                    .or_else(|| name.strip_prefix("grant/"))?;
                Some(rest.split('/').next().unwrap_or(rest).to_string())
            })
            .collect();
        let purges_material = batch
            .iter()
            .any(|m| matches!(m, Mutation::Delete { name } if name.starts_with("mat/")));
        self.apply_batch(batch)?;
        if purges_material {
            // Deleted key material must not stay readable in the store's
            // files. The batch is already durable; a store whose compaction
            // fails retries it on its next write.
            if let Err(e) = self.store.compact() {
                log::warn!(
                    "strongroom: compacting the store after a key material deletion failed: {e}"
                );
            }
        }
        self.changed_keys.extend(changed);
        if let Some(head) = new_head {
            self.audit_head = head;
            self.audit_buf.clear();
        }
        if state_changed {
            self.recompute_deadline();
        }
        Ok(())
    }

    /// Apply a batch to the store together with the new state root: the
    /// tags of the entries it puts and deletes move the digest, and the
    /// root (counter + 1, digest, MAC) joins the same atomic batch. Memory
    /// follows only once the store has it.
    fn apply_batch(&mut self, mut batch: Vec<Mutation>) -> Result<()> {
        if self.upgrade_pending {
            let sealed = self.hsm.seal_value(CHECK_NAME, CHECK_VALUE)?;
            batch.push(Mutation::Put {
                name: CHECK_NAME.into(),
                value: sealed,
            });
        }
        let mut digest = self.digest;
        let mut overlay: HashMap<String, Option<[u8; 32]>> = HashMap::new();
        for m in &batch {
            let (name, new) = match m {
                Mutation::Put { name, value } => (name, Some(self.hsm.entry_tag(name, value))),
                Mutation::Delete { name } => (name, None),
            };
            if name == ROOT_NAME {
                return Err(Error::internal("the state root is written by commits only"));
            }
            let old = match overlay.get(name.as_str()) {
                Some(t) => *t,
                None => self.entry_tags.get(name.as_str()).copied(),
            };
            if let Some(t) = old {
                digest.sub(&t);
            }
            if let Some(t) = new {
                digest.add(&t);
            }
            overlay.insert(name.clone(), new);
        }
        let counter = self.commit_count + 1;
        let body = state_root::root_body(counter, digest);
        let mut root = Vec::with_capacity(state_root::ROOT_VALUE_LEN);
        root.extend_from_slice(&body);
        root.extend_from_slice(&self.hsm.state_root_mac(&body));
        batch.push(Mutation::Put {
            name: ROOT_NAME.into(),
            value: root,
        });
        self.store.apply(batch)?;
        for (name, tag) in overlay {
            match tag {
                Some(t) => {
                    self.entry_tags.insert(name, t);
                }
                None => {
                    self.entry_tags.remove(&name);
                }
            }
        }
        self.digest = digest;
        self.commit_count = counter;
        if self.upgrade_pending {
            self.upgrade_pending = false;
            // Rewrite the journal without the values written before the
            // upgrade was committed. The commit itself is durable; a store
            // whose compaction fails retries it on its next write.
            if let Err(e) = self.store.compact() {
                log::warn!("strongroom: compacting the store after its upgrade failed: {e}");
            }
        }
        Ok(())
    }

    /// Check the store's entries against its state root and adopt
    /// their tags (at open, and when memory is rebuilt from the store).
    /// `check` is the format the root key check entry was sealed in: a
    /// store whose check is format 1 predates the state root and has none
    /// yet; one whose check is format 2 must have one that matches.
    fn verify_root(
        &mut self,
        entries: &BTreeMap<String, Vec<u8>>,
        check: SealFormat,
    ) -> Result<()> {
        let mut digest = Digest::default();
        let mut tags = HashMap::with_capacity(entries.len());
        for (name, v) in entries {
            if name == ROOT_NAME {
                continue;
            }
            let t = self.hsm.entry_tag(name, v);
            digest.add(&t);
            tags.insert(name.clone(), t);
        }
        let tampered = || {
            Error::corrupted(
                "the store's entries do not match its state root: an entry was removed, added, replaced or replayed",
            )
        };
        let (counter, upgrade) = match (entries.get(ROOT_NAME), check) {
            (Some(v), SealFormat::V2) => {
                let r = state_root::decode_root(v).ok_or_else(tampered)?;
                if !self.hsm.state_root_mac_matches(r.body, r.mac) || !digest.matches(&r.digest) {
                    return Err(tampered());
                }
                (r.counter, false)
            }
            // A store from before the state root holds nothing sealed in
            // format 2: finding any such value means the root was dropped
            // and an old check put back to disable this check.
            (None, SealFormat::V1) => {
                if entries
                    .iter()
                    .any(|(name, v)| self.hsm.entry_is_format_2(name, v))
                {
                    return Err(tampered());
                }
                (0, true)
            }
            _ => return Err(tampered()),
        };
        self.entry_tags = tags;
        self.digest = digest;
        self.commit_count = counter;
        self.upgrade_pending = upgrade;
        Ok(())
    }

    /// Rebuild memory from what the store holds, state root checked first.
    fn rebuild(&mut self, entries: &BTreeMap<String, Vec<u8>>) -> Result<()> {
        let check = entries
            .get(CHECK_NAME)
            .ok_or_else(|| Error::corrupted("the store has no root key check entry"))?;
        let format = match self.hsm.open_value_versioned(CHECK_NAME, check) {
            Some((v, f)) if v.as_slice() == CHECK_VALUE => f,
            _ => {
                return Err(Error::new(
                    ErrorCode::InvalidRootKey,
                    "the root key does not open this store",
                ))
            }
        };
        self.verify_root(entries, format)?;
        // Read again from the store when next needed.
        self.clock_mark = None;
        self.clock_mark_stored = None;
        self.hsm.forget_loaded();
        self.identity_loaded = false;
        self.load_entries(entries)
    }

    /// Drop the pending batch and rebuild memory from the store (the root
    /// key is still inside the HSM): after a call or commit failed, nothing
    /// it changed in memory survives. Buffered audit events are kept.
    fn discard_changes(&mut self) -> Result<()> {
        // Until the rebuild succeeds memory may be ahead of the store:
        // every call retries it first (`Kms::call`) and acts only after.
        self.stale = true;
        self.batch.clear();
        let entries = self.store.load()?;
        self.rebuild(&entries)?;
        if let Some(e) = self.audit_buf.last() {
            self.audit_last = e.hash;
        }
        self.stale = false;
        Ok(())
    }

    /// Forget the newest buffered event (its call failed to commit).
    fn pop_audit(&mut self) {
        self.audit_buf.pop();
        self.audit_last = match self.audit_buf.last() {
            Some(e) => e.hash,
            None => decode_hash(&self.audit_head.hash).unwrap_or([0; 32]),
        };
    }
}

fn load_state(
    mut store: Box<dyn Store>,
    root: RootKey,
    rng: Arc<dyn Rng>,
    ident: &Identity,
    argon2: Argon2Params,
) -> Result<State> {
    let entries = store.load()?;
    let is_new = entries.is_empty();
    let mut init: Vec<Mutation> = Vec::new();
    let root_key = match root {
        RootKey::Raw(bytes) => {
            if entries.contains_key(KDF_NAME) {
                return Err(Error::new(
                    ErrorCode::InvalidRootKey,
                    "this store is sealed with a passphrase, not a raw root key",
                ));
            }
            SecretKey::from_bytes(*bytes)
        }
        RootKey::Passphrase(pass) => {
            let (kdf, salt) = match entries.get(KDF_NAME) {
                Some(v) => KdfRecord::parse(v)?,
                None if is_new => {
                    if !argon2.within_bounds() {
                        return Err(Error::validation(format!(
                            "Argon2 parameters out of bounds: m_kib 8*p..={ARGON2_MAX_M_KIB}, t 1..={ARGON2_MAX_T}, p 1..={ARGON2_MAX_P}, m_kib*t <= {ARGON2_MAX_WORK_KIB}"
                        )));
                    }
                    let mut salt = [0u8; 16];
                    rng.fill(&mut salt)?;
                    let k = KdfRecord {
                        alg: "argon2id-v19".into(),
                        params: argon2,
                        salt: hex::encode(salt),
                    };
                    init.push(Mutation::Put {
                        name: KDF_NAME.into(),
                        value: serde_json::to_vec(&k).expect("serialisable"),
                    });
                    (k, salt.to_vec())
                }
                None => {
                    return Err(Error::new(
                        ErrorCode::InvalidRootKey,
                        "this store is sealed with a raw root key, not a passphrase",
                    ))
                }
            };
            argon2_derive(&pass, &salt, kdf.params)?
        }
    };
    let mut st = State {
        hsm: Hsm::new(root_key, rng),
        store,
        keys: BTreeMap::new(),
        aliases: BTreeMap::new(),
        settings: StoreSettings::default(),
        audit_head: AuditHead::default(),
        audit_base: AuditBase::default(),
        audit_last: [0; 32],
        audit_buf: Vec::new(),
        batch: init,
        next_deadline: Millis::MAX,
        report: MaintenanceReport::default(),
        policies: HashMap::new(),
        identity: BTreeMap::new(),
        grants: BTreeMap::new(),
        import_tokens: HashMap::new(),
        mrk_dirty: Vec::new(),
        replicas_purged: Vec::new(),
        identity_loaded: false,
        changed_keys: BTreeSet::new(),
        entry_tags: HashMap::new(),
        digest: Digest::default(),
        commit_count: 0,
        upgrade_pending: false,
        stale: false,
        trust: BTreeMap::new(),
        alias_targets: BTreeSet::new(),
        clock_mark: None,
        clock_mark_stored: None,
    };
    if is_new {
        st.put_sealed(CHECK_NAME.into(), CHECK_VALUE)?;
        st.put_json(IDENTITY_NAME.into(), ident)?;
        let settings = st.settings.clone();
        st.put_json(SETTINGS_NAME.into(), &settings)?;
        let batch = std::mem::take(&mut st.batch);
        st.apply_batch(batch)?;
        return Ok(st);
    }
    // An existing store: check the root key before anything else; write nothing.
    let check = entries
        .get(CHECK_NAME)
        .ok_or_else(|| Error::corrupted("the store has no root key check entry"))?;
    if !matches!(st.hsm.open_value(CHECK_NAME, check), Some(v) if v.as_slice() == CHECK_VALUE) {
        return Err(Error::new(
            ErrorCode::InvalidRootKey,
            "the root key does not open this store",
        ));
    }
    let id_json = st.open_entry(
        IDENTITY_NAME,
        entries
            .get(IDENTITY_NAME)
            .ok_or_else(|| Error::corrupted("the store has no identity entry"))?,
    )?;
    let stored: Identity =
        serde_json::from_slice(&id_json).map_err(|_| Error::corrupted("unreadable identity"))?;
    if stored.schema > STORE_SCHEMA {
        return Err(Error::new(
            ErrorCode::UnsupportedStoreVersion,
            format!(
                "store schema {} is newer than this build (reads {STORE_SCHEMA})",
                stored.schema
            ),
        ));
    }
    if stored.account != ident.account
        || stored.region != ident.region
        || stored.partition != ident.partition
    {
        return Err(Error::validation(format!(
            "this store belongs to account {} in {} ({}), not account {} in {}",
            stored.account, stored.region, stored.partition, ident.account, ident.region
        )));
    }
    st.rebuild(&entries)?;
    Ok(st)
}

impl State {
    /// Open a sealed store entry.
    fn open_entry(&self, name: &str, v: &[u8]) -> Result<Vec<u8>> {
        self.hsm
            .open_value(name, v)
            .map(|z| z.to_vec())
            .ok_or_else(|| Error::corrupted(format!("store entry '{name}' failed authentication")))
    }

    /// Rebuild every in-memory table (keys, aliases, grants, identity and
    /// key policies, import tokens, settings, audit head) from the store's
    /// entries: used when a store opens and after a failed commit, so both
    /// paths see exactly what the store holds.
    fn load_entries(&mut self, entries: &BTreeMap<String, Vec<u8>>) -> Result<()> {
        self.keys.clear();
        self.aliases.clear();
        self.grants.clear();
        self.identity.clear();
        self.import_tokens.clear();
        self.policies.clear();
        self.trust.clear();
        self.settings = StoreSettings::default();
        self.audit_head = AuditHead::default();
        self.audit_base = AuditBase::default();
        let st = &mut *self;
        for (name, v) in entries {
            let parse_err = || Error::corrupted(format!("store entry '{name}' is unreadable"));
            if let Some(id) = name.strip_prefix("key/") {
                let rec: KeyRecord =
                    serde_json::from_slice(&st.open_entry(name, v)?).map_err(|_| parse_err())?;
                if rec.key_id != id {
                    return Err(parse_err());
                }
                st.keys.insert(rec.key_id.clone(), rec);
            } else if let Some(rest) = name.strip_prefix("mat/") {
                let (id, mat) = rest.split_once('/').ok_or_else(parse_err)?;
                let mut material_id = [0u8; 32];
                hex::decode_to_slice(mat, &mut material_id).map_err(|_| parse_err())?;
                st.hsm.load_material(
                    &MaterialHandle {
                        key_id: id.to_string(),
                        material_id,
                    },
                    v,
                )?;
            } else if name.starts_with("alias/") {
                let a: AliasEntry =
                    serde_json::from_slice(&st.open_entry(name, v)?).map_err(|_| parse_err())?;
                st.aliases.insert(a.alias_name.clone(), a);
            } else if name == IDENTITY_KEY_NAME {
                st.hsm.load_or_create_identity(Some(v))?;
                st.identity_loaded = true;
            } else if let Some(token) = name.strip_prefix("import/") {
                let t: ImportTokenEntry =
                    serde_json::from_slice(&st.open_entry(name, v)?).map_err(|_| parse_err())?;
                let sealed = hex::decode(&t.sealed_wrapping_key).map_err(|_| parse_err())?;
                st.hsm.load_wrapping_key(token, &sealed)?;
                st.import_tokens.insert(token.to_string(), t);
            } else if name.starts_with("grant/") {
                let g: Grant =
                    serde_json::from_slice(&st.open_entry(name, v)?).map_err(|_| parse_err())?;
                st.grants
                    .entry(g.key_id.clone())
                    .or_default()
                    .insert(g.grant_id.clone(), g);
            } else if name.starts_with("iam/") {
                let e: IdentityEntry =
                    serde_json::from_slice(&st.open_entry(name, v)?).map_err(|_| parse_err())?;
                let parsed = policy::parse_stored(&e.document, PolicyKind::Identity)
                    .map_err(|_| parse_err())?;
                st.identity
                    .entry(e.principal_arn)
                    .or_default()
                    .insert(e.policy_name, (e.document, Arc::new(parsed)));
            } else if let Some(fp) = name.strip_prefix(TRUST_PREFIX) {
                let d: ReplicationDestination =
                    serde_json::from_slice(&st.open_entry(name, v)?).map_err(|_| parse_err())?;
                if d.fingerprint != fp {
                    return Err(parse_err());
                }
                st.trust.insert(d.fingerprint.clone(), d);
            } else if name == SETTINGS_NAME {
                st.settings =
                    serde_json::from_slice(&st.open_entry(name, v)?).map_err(|_| parse_err())?;
            } else if name == AUDIT_HEAD_NAME {
                st.audit_head =
                    serde_json::from_slice(&st.open_entry(name, v)?).map_err(|_| parse_err())?;
            } else if name == AUDIT_BASE_NAME {
                st.audit_base =
                    serde_json::from_slice(&st.open_entry(name, v)?).map_err(|_| parse_err())?;
            }
        }
        st.audit_last = decode_hash(&st.audit_head.hash)?;
        let recs: Vec<KeyRecord> = st.keys.values().cloned().collect();
        for rec in &recs {
            st.cache_policy(rec)?;
        }
        // Every recorded material version must be present (imported material
        // may be deleted or expired: then the key is PendingImport).
        for rec in st.keys.values() {
            if rec.import.as_ref().is_some_and(|i| !i.present) {
                continue;
            }
            for m in &rec.materials {
                let mut material_id = [0u8; 32];
                hex::decode_to_slice(&m.material_id, &mut material_id)
                    .map_err(|_| Error::corrupted("malformed material id"))?;
                let h = MaterialHandle {
                    key_id: rec.key_id.clone(),
                    material_id,
                };
                if !st.hsm.has_material(&h) {
                    return Err(Error::corrupted(format!(
                        "{} is missing a key material version",
                        rec.arn
                    )));
                }
            }
        }
        st.recompute_deadline();
        Ok(())
    }
}

// ---------------------------------------------------------------- builder

/// Configures and opens a [`Kms`].
pub struct KmsBuilder {
    account: String,
    region: String,
    partition: String,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    argon2: Argon2Params,
}

impl fmt::Debug for KmsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsBuilder")
            .field("account", &self.account)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl KmsBuilder {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        KmsBuilder {
            account: account.into(),
            region: region.into(),
            partition: "aws".into(),
            clock: Arc::new(SystemClock),
            rng: Arc::new(OsRng),
            argon2: Argon2Params::default(),
        }
    }
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// Inject a random source (the default is the OS RNG).
    pub fn rng(mut self, rng: impl Rng + 'static) -> Self {
        self.rng = Arc::new(rng);
        self
    }
    pub fn argon2_params(mut self, p: Argon2Params) -> Self {
        self.argon2 = p;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.account.len() != 12 || !self.account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::validation("the account id must be 12 digits"));
        }
        validate_region_name(&self.region)
    }

    /// Open (or create) a KMS on any store.
    pub fn open(self, store: impl Store + 'static, root: RootKey) -> Result<Kms> {
        self.validate()?;
        let ident = Identity {
            schema: STORE_SCHEMA,
            account: self.account.clone(),
            region: self.region.clone(),
            partition: self.partition.clone(),
        };
        let state = load_state(Box::new(store), root, self.rng.clone(), &ident, self.argon2)?;
        let caller = Caller::account_root(&self.account);
        Ok(Kms {
            shared: Arc::new(Shared {
                account: self.account,
                region: self.region,
                partition: self.partition,
                clock: self.clock,
                state: Mutex::new(state),
                links: Mutex::new(HashMap::new()),
                listeners: Mutex::new(Vec::new()),
                changes: Mutex::new(ChangeLog::default()),
                rng: self.rng,
            }),
            caller,
        })
    }

    /// Open (or create) the durable file store in `dir`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_file(self, dir: impl AsRef<Path>, root: RootKey) -> Result<Kms> {
        let store = crate::store::FileStore::open(dir)?;
        self.open(store, root)
    }

    /// An ephemeral KMS: memory store, fresh random root key.
    pub fn in_memory(self) -> Result<Kms> {
        let mut root = Zeroizing::new([0u8; 32]);
        self.rng.fill(&mut root[..])?;
        self.open(MemoryStore::new(), RootKey::Raw(root))
    }
}

// ---------------------------------------------------------------- the KMS

struct Shared {
    account: String,
    region: String,
    partition: String,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Other regions of the same account open in this process.
    links: Mutex<HashMap<String, Weak<Shared>>>,
    /// Told after every committed change to a key (see [`KeyChangeListener`]).
    listeners: Mutex<Vec<Weak<dyn KeyChangeListener>>>,
    /// When keys last changed (see [`Kms::change_epoch`]).
    changes: Mutex<ChangeLog>,
    /// The HSM's random source, for generating key material before the
    /// state lock is taken (RSA generation takes seconds).
    rng: Arc<dyn Rng>,
}

/// Generations of committed changes, for caches that must not keep what
/// they got from the KMS across a change (see [`Kms::change_epoch`]).
#[derive(Default)]
struct ChangeLog {
    /// Grows by one with every committed call that changed a key, an
    /// alias or an identity policy.
    epoch: u64,
    /// The epoch of the last identity-policy change (any principal: it may
    /// change what any key can be used for).
    identity: u64,
    /// The epoch of each key's last change, by key id.
    keys: HashMap<String, u64>,
}

/// Something that must hear, as soon as it is committed, of every change to
/// a key of this KMS: its record (state, policy, rotation, deletion), its
/// material (rotation, import, deletion) or its grants. The envelope
/// layer's data key cache uses it to drop plaintext data keys made with a
/// key the moment that key is disabled, scheduled for deletion, rotated,
/// loses its material or has its access narrowed.
pub trait KeyChangeListener: Send + Sync {
    /// `key_arn` changed. Called after the change is durable, outside the
    /// KMS lock (the listener may call the KMS).
    fn key_changed(&self, key_arn: &str);
    /// Identity policies changed: what any key whose ARN starts with
    /// `key_arn_prefix` (`arn:PARTITION:kms:REGION:ACCOUNT:key/`) may be
    /// used for, and by whom, may have changed. Called like `key_changed`.
    fn all_keys_changed(&self, key_arn_prefix: &str);
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Ok(st) = self.state.get_mut() {
            // Best effort: buffered audit events of read-only calls.
            let _ = st.commit(true);
        }
    }
}

/// A KMS for one account and region, acting as one caller. Cloning is cheap
/// and shares the same keys; [`Kms::as_caller`] gives a handle acting as
/// another principal.
#[derive(Clone)]
pub struct Kms {
    shared: Arc<Shared>,
    caller: Caller,
}

impl fmt::Debug for Kms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kms")
            .field("account", &self.shared.account)
            .field("region", &self.shared.region)
            .field("caller", &self.caller.principal_arn)
            .finish_non_exhaustive()
    }
}

impl Kms {
    pub fn builder(account: impl Into<String>, region: impl Into<String>) -> KmsBuilder {
        KmsBuilder::new(account, region)
    }

    /// An ephemeral in-memory KMS with the system clock and OS RNG.
    pub fn in_memory(account: &str, region: &str) -> Result<Kms> {
        KmsBuilder::new(account, region).in_memory()
    }

    pub fn account(&self) -> &str {
        &self.shared.account
    }
    pub fn region(&self) -> &str {
        &self.shared.region
    }
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// A handle on the same KMS acting as `caller`.
    pub fn as_caller(&self, caller: Caller) -> Kms {
        Kms {
            shared: self.shared.clone(),
            caller,
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.shared
            .state
            .lock()
            .map_err(|_| Error::internal("the KMS state lock is poisoned"))
    }

    /// Run one operation: sweep due deletions/rotations, run `f`, audit the
    /// outcome, commit. If the commit fails the in-memory state is reloaded
    /// from the store so memory never runs ahead of disk.
    fn call<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut State, &Ctx, &mut AuditInfo) -> Result<T>,
    ) -> Result<T> {
        let mut st = self.lock()?;
        let sh = &*self.shared;
        let cx = Ctx {
            now: sh.clock.now_ms(),
            caller: &self.caller,
            account: &sh.account,
            region: &sh.region,
            partition: &sh.partition,
        };
        if st.stale {
            st.discard_changes()?;
        }
        let mut info = AuditInfo::default();
        st.alias_targets.clear();
        // The sweep's changes (due deletions, rotations, expiries, the
        // clock's high-water mark) do not depend on the call: they are
        // committed on their own first, so that a call that fails can be
        // discarded whole.
        let swept = st
            .sweep(cx.now)
            .and_then(|_| st.stage_clock_mark())
            .and_then(|_| st.commit(false));
        let result = match swept {
            Err(e) => {
                st.discard_changes()?;
                Err(e)
            }
            Ok(()) => {
                let marks = (st.mrk_dirty.len(), st.replicas_purged.len());
                let r = f(&mut st, &cx, &mut info).and_then(|v| st.stage_clock_mark().map(|_| v));
                if r.is_err() {
                    // A failed call leaves no trace but its audit event.
                    st.mrk_dirty.truncate(marks.0);
                    st.replicas_purged.truncate(marks.1);
                    st.alias_targets.clear();
                    if !st.batch.is_empty() {
                        st.discard_changes()?;
                    }
                }
                r
            }
        };
        let outcome = match &result {
            Ok(_) => "Success",
            Err(e) => e.code().as_str(),
        };
        let body = |outcome| BodyRef {
            seq: 0,
            time_ms: cx.now,
            operation: op,
            principal_arn: &self.caller.principal_arn,
            caller_account: &self.caller.account,
            via_service: self.caller.via_service.as_deref(),
            key_arn: info.key_arn.as_deref(),
            encryption_context: info.context.as_ref(),
            outcome,
            decision: info.decision.as_deref(),
        };
        let seq = st.next_audit_seq();
        st.audit(&BodyRef {
            seq,
            ..body(outcome)
        })?;
        let identity_changed = st.batch.iter().any(|m| {
            matches!(m, Mutation::Put { name, .. } | Mutation::Delete { name } if name.starts_with("iam/"))
        });
        if let Err(e) = st.commit(false) {
            // Nothing was written. Record the call as failed with the store
            // error (it stays buffered for the next successful write), then
            // rebuild memory from the store before anyone else can act on
            // it: the lock is held throughout.
            st.pop_audit();
            st.audit(&BodyRef {
                seq,
                ..body(e.code().as_str())
            })?;
            st.discard_changes()?;
            return Err(e);
        }
        let dirty = std::mem::take(&mut st.mrk_dirty);
        let purged = std::mem::take(&mut st.replicas_purged);
        let mut changed = std::mem::take(&mut st.changed_keys);
        changed.append(&mut st.alias_targets);
        // Bumped under the state lock, before any listener hears of it: a
        // cache that read the epoch before its KMS call sees the change at
        // insert, or its entry is dropped by the notification after it.
        if !changed.is_empty() || identity_changed {
            self.record_changes(&changed, identity_changed);
        }
        drop(st);
        if !changed.is_empty() || identity_changed {
            self.notify_key_changes(&changed, identity_changed);
        }
        if !dirty.is_empty() || !purged.is_empty() {
            self.propagate(&dirty, &purged);
        }
        result
    }

    /// Register a listener told of every committed change to a key of this
    /// KMS (any handle on it). Held weakly: dropping the listener
    /// unregisters it.
    pub fn add_key_change_listener(&self, listener: Weak<dyn KeyChangeListener>) {
        if let Ok(mut l) = self.shared.listeners.lock() {
            l.retain(|w| w.strong_count() > 0);
            l.push(listener);
        }
    }

    /// The change epoch: a counter that grows with every committed call
    /// that changes a key (state, policy, material, grants), an alias or an
    /// identity policy. A cache reads it before calling the KMS and, before
    /// keeping what it got, asks [`Kms::changed_since`] about the keys used:
    /// a change committed in between is never missed (the listener
    /// notification for it may have come before the entry existed).
    pub fn change_epoch(&self) -> u64 {
        self.shared
            .changes
            .lock()
            .map(|c| c.epoch)
            .unwrap_or(u64::MAX)
    }

    /// Has any of `key_arns` (ARNs of this KMS; others are ignored), or any
    /// identity policy, changed after `epoch` (from [`Kms::change_epoch`])?
    /// `true` when unsure.
    pub fn changed_since(&self, epoch: u64, key_arns: &[String]) -> bool {
        let Ok(c) = self.shared.changes.lock() else {
            return true;
        };
        if c.epoch == epoch {
            return false;
        }
        if c.identity > epoch || epoch > c.epoch {
            return true;
        }
        let prefix = self.key_arn_prefix();
        key_arns.iter().any(|arn| {
            arn.strip_prefix(&prefix)
                .and_then(|id| c.keys.get(id))
                .is_some_and(|at| *at > epoch)
        })
    }

    fn key_arn_prefix(&self) -> String {
        format!(
            "arn:{}:kms:{}:{}:key/",
            self.shared.partition, self.shared.region, self.shared.account
        )
    }

    fn record_changes(&self, ids: &BTreeSet<String>, identity: bool) {
        if let Ok(mut c) = self.shared.changes.lock() {
            c.epoch += 1;
            let e = c.epoch;
            if identity {
                c.identity = e;
            }
            for id in ids {
                c.keys.insert(id.clone(), e);
            }
        }
    }

    fn notify_key_changes(&self, ids: &BTreeSet<String>, identity: bool) {
        let listeners: Vec<Arc<dyn KeyChangeListener>> = match self.shared.listeners.lock() {
            Ok(l) => l.iter().filter_map(Weak::upgrade).collect(),
            Err(_) => return,
        };
        if identity {
            let prefix = self.key_arn_prefix();
            for l in &listeners {
                l.all_keys_changed(&prefix);
            }
        }
        for id in ids {
            let arn = format!(
                "arn:{}:kms:{}:{}:key/{id}",
                self.shared.partition, self.shared.region, self.shared.account
            );
            for l in &listeners {
                l.key_changed(&arn);
            }
        }
    }

    // ------------------------------------------------------------ keys

    pub fn create_key(&self, req: CreateKeyRequest) -> Result<CreateKeyResponse> {
        // Asymmetric and HMAC material is generated before the state lock
        // (RSA-4096 takes seconds); the HSM takes it under the lock.
        let pregenerated = {
            let spec = req.key_spec.unwrap_or(KeySpec::SymmetricDefault);
            let usage = req.key_usage.unwrap_or(KeyUsage::EncryptDecrypt);
            let origin = req.origin.unwrap_or(Origin::AwsKms);
            (origin == Origin::AwsKms
                && spec != KeySpec::SymmetricDefault
                && asym::supported(spec, usage).is_ok())
            .then(|| Pregenerated::new(&*self.shared.rng, spec))
        };
        self.call("CreateKey", |st, cx, au| {
            let description = req.description.unwrap_or_default();
            if description.chars().count() > MAX_DESCRIPTION {
                return Err(Error::validation(
                    "Description must be at most 8192 characters",
                ));
            }
            validate_tags(&req.tags)?;
            if req.tags.len() > MAX_TAGS_PER_KEY {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    "A key can have at most 50 tags",
                ));
            }
            if let Some(p) = &req.policy {
                validate_policy_text(p)?;
                policy::parse(p, PolicyKind::Key)?;
            }
            st.authorize(
                cx,
                "kms:CreateKey",
                None,
                Facts {
                    bypass_lockout: Some(req.bypass_policy_lockout_safety_check),
                    ..Default::default()
                },
                au,
            )?;
            let spec = req.key_spec.unwrap_or(KeySpec::SymmetricDefault);
            let usage = req.key_usage.unwrap_or(KeyUsage::EncryptDecrypt);
            let origin = req.origin.unwrap_or(Origin::AwsKms);
            asym::supported(spec, usage)?;
            match origin {
                Origin::AwsKms => {}
                Origin::External if spec == KeySpec::SymmetricDefault => {}
                Origin::External => {
                    return Err(Error::new(
                        ErrorCode::UnsupportedOperation,
                        format!("importing {spec} key material is not supported by this version of Strongroom (SYMMETRIC_DEFAULT only)"),
                    ))
                }
                _ => {
                    return Err(Error::new(
                        ErrorCode::UnsupportedOperation,
                        format!("Origin {origin} (custom key stores) is not supported"),
                    ))
                }
            }
            if st.keys.len() >= MAX_KEYS {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    "The number of keys in this region is at its limit (100000)",
                ));
            }
            let rec = new_key_record(
                st,
                cx,
                NewKey {
                    pregenerated: pregenerated.transpose()?,
                    description,
                    spec,
                    usage,
                    origin,
                    manager: KeyManager::Customer,
                    multi_region: req.multi_region,
                    tags: req.tags,
                    policy: Some(req.policy.unwrap_or_else(|| default_policy(cx.account))),
                },
            )?;
            au.key_arn = Some(rec.arn.clone());
            if !req.bypass_policy_lockout_safety_check {
                st.lockout_check(cx, &rec)?;
            }
            let md = rec.metadata();
            st.save_key(rec)?;
            Ok(CreateKeyResponse { key_metadata: md })
        })
    }

    /// Get or create the AWS-managed key for an integrated service
    /// (`alias/aws/<service>`): rotates yearly; cannot be disabled, deleted,
    /// or have its rotation changed. Authorized like the other operations:
    /// reading an existing one needs `kms:DescribeKey` on it (its policy
    /// gives that to the account), creating one needs `kms:CreateKey`
    /// (account level: the store's account only).
    pub fn aws_managed_key(&self, service: &str) -> Result<KeyMetadata> {
        self.call("CreateKey", |st, cx, au| {
            if service.is_empty()
                || service.len() > 64
                || !service
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(Error::validation(
                    "the service name must be 1 to 64 characters of a-z, 0-9 and '-'",
                ));
            }
            let alias = format!("alias/aws/{service}");
            if let Some(a) = st.aliases.get(&alias) {
                let id = a.target_key_id.clone();
                let md = st.rec_checked(cx, &id)?.metadata();
                au.key_arn = Some(md.arn.clone());
                st.authorize(
                    cx,
                    "kms:DescribeKey",
                    Some(&id),
                    Facts {
                        request_key_id: Some(&alias),
                        ..Default::default()
                    },
                    au,
                )?;
                return Ok(md);
            }
            st.authorize(cx, "kms:CreateKey", None, Facts::default(), au)?;
            au.decision = au.decision.take().map(|d| {
                format!("{d}; AWS managed key for {service}, created on the service's behalf")
            });
            let mut rec = new_key_record(
                st,
                cx,
                NewKey {
                    pregenerated: None,
                    spec: KeySpec::SymmetricDefault,
                    usage: KeyUsage::EncryptDecrypt,
                    origin: Origin::AwsKms,
                    description: format!(
                        "Default key that protects my {service} data when no other key is defined"
                    ),
                    manager: KeyManager::Aws,
                    multi_region: false,
                    tags: vec![],
                    policy: Some(aws_managed_policy(cx.account, cx.region, service)),
                },
            )?;
            rec.rotation = RotationSettings {
                enabled: true,
                period_days: Some(DEFAULT_ROTATION_DAYS),
                next_rotation_ms: Some(cx.now + DEFAULT_ROTATION_DAYS as u64 * MS_PER_DAY),
                ..Default::default()
            };
            au.key_arn = Some(rec.arn.clone());
            let md = rec.metadata();
            let id = rec.key_id.clone();
            st.save_key(rec)?;
            st.save_alias(AliasEntry {
                alias_arn: cx.alias_arn(&alias),
                alias_name: alias,
                target_key_id: id,
                creation_date_ms: cx.now,
                last_updated_date_ms: cx.now,
            })?;
            Ok(md)
        })
    }

    pub fn describe_key(&self, req: DescribeKeyRequest) -> Result<DescribeKeyResponse> {
        self.call("DescribeKey", |st, cx, au| {
            st.validate_grant_tokens(&req.grant_tokens)?;
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:DescribeKey",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let md = st.rec(&id).metadata();
            au.key_arn = Some(md.arn.clone());
            Ok(DescribeKeyResponse { key_metadata: md })
        })
    }

    pub fn list_keys(&self, req: ListKeysRequest) -> Result<ListKeysResponse> {
        self.call("ListKeys", |st, cx, au| {
            let limit = limit_of(req.limit, 100)?;
            st.authorize(cx, "kms:ListKeys", None, Facts::default(), au)?;
            let all: Vec<KeyListEntry> = st
                .keys
                .values()
                .map(|k| KeyListEntry {
                    key_id: k.key_id.clone(),
                    key_arn: k.arn.clone(),
                })
                .collect();
            let (keys, next_marker, truncated) =
                paginate(all, |k| k.key_id.clone(), limit, req.marker.as_deref())?;
            Ok(ListKeysResponse {
                keys,
                next_marker,
                truncated,
            })
        })
    }

    pub fn update_key_description(&self, req: UpdateKeyDescriptionRequest) -> Result<()> {
        self.call("UpdateKeyDescription", |st, cx, au| {
            if req.description.chars().count() > MAX_DESCRIPTION {
                return Err(Error::validation(
                    "Description must be at most 8192 characters",
                ));
            }
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:UpdateKeyDescription",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let mut rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::Metadata, rec.state, &rec.arn)?;
            deny_aws_managed(&rec)?;
            rec.description = req.description;
            st.save_key(rec)
        })
    }

    pub fn tag_resource(&self, req: TagResourceRequest) -> Result<()> {
        self.call("TagResource", |st, cx, au| {
            validate_tags(&req.tags)?;
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:TagResource",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let mut rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::Metadata, rec.state, &rec.arn)?;
            deny_aws_managed(&rec)?;
            for t in req.tags {
                rec.tags.insert(t.tag_key, t.tag_value);
            }
            if rec.tags.len() > MAX_TAGS_PER_KEY {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    format!("{} would have more than 50 tags", rec.arn),
                ));
            }
            st.save_key(rec)
        })
    }

    pub fn untag_resource(&self, req: UntagResourceRequest) -> Result<()> {
        self.call("UntagResource", |st, cx, au| {
            if req
                .tag_keys
                .iter()
                .any(|k| k.is_empty() || k.chars().count() > 128)
            {
                return Err(Error::new(
                    ErrorCode::Tag,
                    "Tag keys are 1 to 128 characters",
                ));
            }
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:UntagResource",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let mut rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::Metadata, rec.state, &rec.arn)?;
            deny_aws_managed(&rec)?;
            for k in &req.tag_keys {
                rec.tags.remove(k);
            }
            st.save_key(rec)
        })
    }

    pub fn list_resource_tags(
        &self,
        req: ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse> {
        self.call("ListResourceTags", |st, cx, au| {
            let limit = limit_of(req.limit, 50)?;
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:ListResourceTags",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let rec = st.rec(&id);
            au.key_arn = Some(rec.arn.clone());
            let all: Vec<Tag> = rec
                .tags
                .iter()
                .map(|(k, v)| Tag::new(k.clone(), v.clone()))
                .collect();
            let (tags, next_marker, truncated) =
                paginate(all, |t| t.tag_key.clone(), limit, req.marker.as_deref())?;
            Ok(ListResourceTagsResponse {
                tags,
                next_marker,
                truncated,
            })
        })
    }

    // ------------------------------------------------------------ lifecycle

    pub fn enable_key(&self, req: KeyIdRequest) -> Result<()> {
        self.call("EnableKey", |st, cx, au| {
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:EnableKey",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let mut rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::EnableDisable, rec.state, &rec.arn)?;
            deny_aws_managed(&rec)?;
            if rec.state != KeyState::Enabled {
                rec.state = KeyState::Enabled;
                st.save_key(rec)?;
                st.rotate_if_overdue(&id, cx.now)?;
            }
            Ok(())
        })
    }

    pub fn disable_key(&self, req: KeyIdRequest) -> Result<()> {
        self.call("DisableKey", |st, cx, au| {
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:DisableKey",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let mut rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::EnableDisable, rec.state, &rec.arn)?;
            deny_aws_managed(&rec)?;
            if rec.state != KeyState::Disabled {
                rec.state = KeyState::Disabled;
                st.save_key(rec)?;
            }
            Ok(())
        })
    }

    pub fn schedule_key_deletion(
        &self,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse> {
        self.call("ScheduleKeyDeletion", |st, cx, au| {
            let days = req
                .pending_window_in_days
                .unwrap_or(DEFAULT_PENDING_WINDOW_DAYS);
            if !(MIN_PENDING_WINDOW_DAYS..=MAX_PENDING_WINDOW_DAYS).contains(&days) {
                return Err(Error::validation(
                    "PendingWindowInDays must be between 7 and 30",
                ));
            }
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:ScheduleKeyDeletion",
                Some(&id),
                Facts {
                    pending_window_days: Some(days),
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let mut rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::ScheduleDeletion, rec.state, &rec.arn)?;
            deny_aws_managed(&rec)?;
            let has_replicas = rec
                .mrk
                .as_ref()
                .is_some_and(|m| m.primary_region == cx.region && !m.replica_regions.is_empty());
            if has_replicas {
                // Waits for its replicas; its window starts after the last one goes.
                rec.state = KeyState::PendingReplicaDeletion;
                rec.deletion_date_ms = None;
            } else {
                rec.state = KeyState::PendingDeletion;
                rec.deletion_date_ms = Some(cx.now + days as u64 * MS_PER_DAY);
            }
            rec.pending_window_days = Some(days);
            let resp = ScheduleKeyDeletionResponse {
                key_id: rec.arn.clone(),
                deletion_date_ms: rec.deletion_date_ms,
                key_state: rec.state,
                pending_window_in_days: days,
            };
            st.save_key(rec)?;
            Ok(resp)
        })
    }

    pub fn cancel_key_deletion(&self, req: KeyIdRequest) -> Result<KeyIdResponse> {
        self.call("CancelKeyDeletion", |st, cx, au| {
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:CancelKeyDeletion",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let mut rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::CancelDeletion, rec.state, &rec.arn)?;
            rec.state = if rec.import.as_ref().is_some_and(|i| !i.present) {
                KeyState::PendingImport
            } else {
                KeyState::Disabled
            };
            rec.deletion_date_ms = None;
            rec.pending_window_days = None;
            let arn = rec.arn.clone();
            st.save_key(rec)?;
            Ok(KeyIdResponse { key_id: arn })
        })
    }

    // ------------------------------------------------------------ aliases

    pub fn create_alias(&self, req: CreateAliasRequest) -> Result<()> {
        self.call("CreateAlias", |st, cx, au| {
            validate_alias_name(&req.alias_name)?;
            if is_reserved_alias(&req.alias_name) {
                return Err(Error::new(
                    ErrorCode::InvalidAliasName,
                    "Aliases beginning with 'alias/aws/' are reserved for AWS managed keys",
                ));
            }
            if is_alias_ref(&req.target_key_id) {
                return Err(Error::validation(
                    "TargetKeyId must be a key id or key ARN, not an alias",
                ));
            }
            let id = st.resolve(cx, &req.target_key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(cx, "kms:CreateAlias", Some(&id), Facts::default(), au)?;
            let rec = st.rec(&id);
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::Metadata, rec.state, &rec.arn)?;
            deny_aws_managed(rec)?;
            if st.aliases.contains_key(&req.alias_name) {
                return Err(Error::new(
                    ErrorCode::AlreadyExists,
                    format!(
                        "An alias with the name {} already exists",
                        cx.alias_arn(&req.alias_name)
                    ),
                ));
            }
            if st
                .aliases
                .values()
                .filter(|a| a.target_key_id == id)
                .count()
                >= MAX_ALIASES_PER_KEY
            {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    format!("{} already has 50 aliases", rec.arn),
                ));
            }
            st.save_alias(AliasEntry {
                alias_arn: cx.alias_arn(&req.alias_name),
                alias_name: req.alias_name,
                target_key_id: id,
                creation_date_ms: cx.now,
                last_updated_date_ms: cx.now,
            })
        })
    }

    pub fn update_alias(&self, req: UpdateAliasRequest) -> Result<()> {
        self.call("UpdateAlias", |st, cx, au| {
            validate_alias_name(&req.alias_name)?;
            if is_reserved_alias(&req.alias_name) {
                return Err(Error::new(
                    ErrorCode::InvalidAliasName,
                    "Aliases beginning with 'alias/aws/' cannot be changed",
                ));
            }
            if is_alias_ref(&req.target_key_id) {
                return Err(Error::validation(
                    "TargetKeyId must be a key id or key ARN, not an alias",
                ));
            }
            let mut alias = st.aliases.get(&req.alias_name).cloned().ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    format!("Alias {} is not found.", cx.alias_arn(&req.alias_name)),
                )
            })?;
            let id = st.resolve(cx, &req.target_key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:UpdateAlias",
                Some(&alias.target_key_id),
                Facts::default(),
                au,
            )?;
            st.authorize(cx, "kms:UpdateAlias", Some(&id), Facts::default(), au)?;
            let target = st.rec(&id);
            au.key_arn = Some(target.arn.clone());
            check_state(OpClass::AliasTarget, target.state, &target.arn)?;
            deny_aws_managed(target)?;
            let source = st.rec(&alias.target_key_id);
            if source.key_spec != target.key_spec || source.key_usage != target.key_usage {
                return Err(Error::validation(format!(
                    "{} has a different key spec or key usage than the alias's current key",
                    target.arn
                )));
            }
            if st
                .aliases
                .values()
                .filter(|a| a.target_key_id == id)
                .count()
                >= MAX_ALIASES_PER_KEY
            {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    format!("{} already has 50 aliases", target.arn),
                ));
            }
            alias.target_key_id = id;
            alias.last_updated_date_ms = cx.now;
            st.save_alias(alias)
        })
    }

    pub fn delete_alias(&self, req: DeleteAliasRequest) -> Result<()> {
        self.call("DeleteAlias", |st, cx, au| {
            validate_alias_name(&req.alias_name)?;
            if is_reserved_alias(&req.alias_name) {
                return Err(Error::new(
                    ErrorCode::InvalidAliasName,
                    "Aliases beginning with 'alias/aws/' cannot be deleted",
                ));
            }
            let a = st.aliases.get(&req.alias_name).ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    format!("Alias {} is not found.", cx.alias_arn(&req.alias_name)),
                )
            })?;
            let target = a.target_key_id.clone();
            au.key_arn = Some(cx.key_arn(&target));
            st.authorize(cx, "kms:DeleteAlias", Some(&target), Facts::default(), au)?;
            st.remove_alias(&req.alias_name);
            Ok(())
        })
    }

    pub fn list_aliases(&self, req: ListAliasesRequest) -> Result<ListAliasesResponse> {
        self.call("ListAliases", |st, cx, au| {
            let limit = limit_of(req.limit, 50)?;
            st.authorize(cx, "kms:ListAliases", None, Facts::default(), au)?;
            let filter = match &req.key_id {
                Some(k) => {
                    let id = st.resolve(cx, k)?;
                    au.key_arn = Some(cx.key_arn(&id));
                    Some(id)
                }
                None => None,
            };
            let all: Vec<AliasEntry> = st
                .aliases
                .values()
                .filter(|a| filter.as_ref().is_none_or(|f| &a.target_key_id == f))
                .cloned()
                .collect();
            let (aliases, next_marker, truncated) =
                paginate(all, |a| a.alias_name.clone(), limit, req.marker.as_deref())?;
            Ok(ListAliasesResponse {
                aliases: aliases.iter().map(AliasListEntry::from).collect(),
                next_marker,
                truncated,
            })
        })
    }

    // ------------------------------------------------------------ crypto

    pub fn encrypt(&self, mut req: EncryptRequest) -> Result<EncryptResponse> {
        self.call("Encrypt", move |st, cx, au| {
            let enc = canonical_encoding(&req.encryption_context);
            au.context = Some(std::mem::take(&mut req.encryption_context));
            let enc = enc?;
            st.validate_grant_tokens(&req.grant_tokens)?;
            if req.plaintext.is_empty() || req.plaintext.len() > MAX_PLAINTEXT {
                return Err(Error::validation("Plaintext must be 1 to 4096 bytes"));
            }
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(st.rec(&id).arn.clone());
            let alg = req
                .encryption_algorithm
                .unwrap_or(EncryptionAlgorithm::SymmetricDefault);
            let ctx = au.context.take().unwrap_or_default();
            let allowed = st.authorize(
                cx,
                "kms:Encrypt",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    encryption_context: Some(&ctx),
                    encryption_algorithm: Some(alg.as_str()),
                    ..Default::default()
                },
                au,
            );
            au.context = Some(ctx);
            allowed?;
            let rec = st.rec(&id);
            check_state(OpClass::Crypto, rec.state, &rec.arn)?;
            if is_rsa(rec) && rec.key_usage == KeyUsage::EncryptDecrypt {
                check_rsa_encryption(rec, req.encryption_algorithm, au.context.as_ref())?;
                if req.dry_run {
                    return Err(dry_run_ok());
                }
                let handle = st.current_handle(rec)?;
                let ct = st.hsm.rsa_encrypt(&handle, req.plaintext.as_bytes())?;
                return Ok(EncryptResponse {
                    ciphertext_blob: ct,
                    key_id: rec.arn.clone(),
                    encryption_algorithm: EncryptionAlgorithm::RsaesOaepSha256,
                    key_material_id: rec.current_material_id().unwrap_or_default().to_string(),
                });
            }
            check_symmetric_encrypt(rec, req.encryption_algorithm)?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let handle = st.current_handle(rec)?;
            let blob = st.hsm.encrypt(&handle, &enc, req.plaintext.as_bytes())?;
            Ok(EncryptResponse {
                ciphertext_blob: blob,
                key_id: rec.arn.clone(),
                encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
                key_material_id: rec.current_material_id().unwrap_or_default().to_string(),
            })
        })
    }

    /// Resolve and check the key that made `blob` (Decrypt / ReEncrypt source).
    #[allow(clippy::too_many_arguments)]
    fn source_key<'s>(
        st: &'s State,
        cx: &Ctx,
        action: &str,
        blob_bytes: &'s [u8],
        key_id: Option<&str>,
        alg: Option<EncryptionAlgorithm>,
        ctx: &EncryptionContext,
        au: &mut AuditInfo,
    ) -> Result<(blob::ParsedBlob<'s>, &'s KeyRecord)> {
        if blob_bytes.is_empty() || blob_bytes.len() > blob::MAX_BLOB_LEN {
            return Err(Error::validation("CiphertextBlob must be 1 to 6144 bytes"));
        }
        let requested = match key_id {
            Some(k) => Some(st.resolve(cx, k)?),
            None => None,
        };
        let parsed = blob::parse(blob_bytes)?;
        if let Some(r) = &requested {
            if r != parsed.key_id {
                au.key_arn = Some(cx.key_arn(r));
                return Err(Error::new(
                    ErrorCode::IncorrectKey,
                    format!(
                        "The key ID in the request does not identify the key that encrypted the ciphertext ({})",
                        cx.key_arn(r)
                    ),
                ));
            }
        }
        let rec = st
            .keys
            .get(parsed.key_id)
            .ok_or_else(|| Error::not_found_arn(&cx.key_arn(parsed.key_id)))?;
        au.key_arn = Some(rec.arn.clone());
        st.authorize(
            cx,
            action,
            Some(&rec.key_id),
            Facts {
                request_key_id: key_id,
                encryption_context: Some(ctx),
                encryption_algorithm: Some(
                    alg.unwrap_or(EncryptionAlgorithm::SymmetricDefault)
                        .as_str(),
                ),
                ..Default::default()
            },
            au,
        )?;
        check_state(OpClass::Crypto, rec.state, &rec.arn)?;
        check_symmetric_encrypt(rec, alg)?;
        Ok((parsed, rec))
    }

    pub fn decrypt(&self, mut req: DecryptRequest) -> Result<DecryptResponse> {
        self.call("Decrypt", move |st, cx, au| {
            let enc = canonical_encoding(&req.encryption_context);
            au.context = Some(std::mem::take(&mut req.encryption_context));
            let enc = enc?;
            st.validate_grant_tokens(&req.grant_tokens)?;
            if let Some(k) = req.key_id.as_deref() {
                let id = st.resolve(cx, k)?;
                let rec = st.rec(&id);
                if is_rsa(rec) {
                    au.key_arn = Some(rec.arn.clone());
                    let ctx = au.context.take().unwrap_or_default();
                    let allowed = st.authorize(
                        cx,
                        "kms:Decrypt",
                        Some(&id),
                        Facts {
                            request_key_id: Some(k),
                            encryption_context: Some(&ctx),
                            encryption_algorithm: req.encryption_algorithm.map(|a| a.as_str()),
                            ..Default::default()
                        },
                        au,
                    );
                    au.context = Some(ctx);
                    allowed?;
                    let rec = st.rec(&id);
                    check_state(OpClass::Crypto, rec.state, &rec.arn)?;
                    if rec.key_usage != KeyUsage::EncryptDecrypt {
                        return Err(wrong_usage(rec, "decrypt"));
                    }
                    check_rsa_encryption(rec, req.encryption_algorithm, au.context.as_ref())?;
                    if req.ciphertext_blob.is_empty()
                        || req.ciphertext_blob.len() > blob::MAX_BLOB_LEN
                    {
                        return Err(Error::validation("CiphertextBlob must be 1 to 6144 bytes"));
                    }
                    if req.dry_run {
                        return Err(dry_run_ok());
                    }
                    let handle = st.current_handle(rec)?;
                    let plaintext = st.hsm.rsa_decrypt(&handle, &req.ciphertext_blob)?;
                    return Ok(DecryptResponse {
                        key_id: rec.arn.clone(),
                        plaintext,
                        encryption_algorithm: EncryptionAlgorithm::RsaesOaepSha256,
                        key_material_id: rec.current_material_id().unwrap_or_default().to_string(),
                    });
                }
            }
            let ctx = au.context.take().unwrap_or_default();
            let found = Self::source_key(
                st,
                cx,
                "kms:Decrypt",
                &req.ciphertext_blob,
                req.key_id.as_deref(),
                req.encryption_algorithm,
                &ctx,
                au,
            );
            au.context = Some(ctx);
            let (parsed, rec) = found?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let plaintext = st.hsm.decrypt(&parsed, &enc)?;
            Ok(DecryptResponse {
                key_id: rec.arn.clone(),
                plaintext,
                encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
                key_material_id: crate::hsm::hex_id(parsed.material_id),
            })
        })
    }

    pub fn re_encrypt(&self, req: ReEncryptRequest) -> Result<ReEncryptResponse> {
        self.call("ReEncrypt", |st, cx, au| {
            au.context = Some(req.destination_encryption_context.clone());
            st.validate_grant_tokens(&req.grant_tokens)?;
            let src_enc = canonical_encoding(&req.source_encryption_context)?;
            let dst_enc = canonical_encoding(&req.destination_encryption_context)?;
            let (parsed, src) = Self::source_key(
                st,
                cx,
                "kms:ReEncryptFrom",
                &req.ciphertext_blob,
                req.source_key_id.as_deref(),
                req.source_encryption_algorithm,
                &req.source_encryption_context,
                au,
            )?;
            let dst_id = st.resolve(cx, &req.destination_key_id)?;
            st.authorize(
                cx,
                "kms:ReEncryptTo",
                Some(&dst_id),
                Facts {
                    request_key_id: Some(&req.destination_key_id),
                    encryption_context: Some(&req.destination_encryption_context),
                    encryption_algorithm: Some(
                        req.destination_encryption_algorithm
                            .unwrap_or(EncryptionAlgorithm::SymmetricDefault)
                            .as_str(),
                    ),
                    ..Default::default()
                },
                au,
            )?;
            let dst = st.rec(&dst_id);
            check_state(OpClass::Crypto, dst.state, &dst.arn)?;
            check_symmetric_encrypt(dst, req.destination_encryption_algorithm)?;
            au.key_arn = Some(dst.arn.clone());
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let handle = st.current_handle(dst)?;
            let blob = st.hsm.reencrypt(&parsed, &src_enc, &handle, &dst_enc)?;
            Ok(ReEncryptResponse {
                ciphertext_blob: blob,
                source_key_id: src.arn.clone(),
                key_id: dst.arn.clone(),
                source_encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
                destination_encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
                source_key_material_id: hex::encode(parsed.material_id),
                destination_key_material_id: handle.material_id_hex(),
            })
        })
    }

    fn data_key_len(number_of_bytes: Option<u32>, spec: Option<DataKeySpec>) -> Result<usize> {
        match (number_of_bytes, spec) {
            (Some(_), Some(_)) => Err(Error::validation(
                "Specify either KeySpec or NumberOfBytes, not both",
            )),
            (None, None) => Err(Error::validation("Specify either KeySpec or NumberOfBytes")),
            (Some(n), None) if (1..=MAX_DATA_KEY_BYTES).contains(&n) => Ok(n as usize),
            (Some(_), None) => Err(Error::validation("NumberOfBytes must be 1 to 1024")),
            (None, Some(DataKeySpec::Aes256)) => Ok(32),
            (None, Some(DataKeySpec::Aes128)) => Ok(16),
        }
    }

    fn gdk(
        &self,
        op: &'static str,
        mut req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse> {
        self.call(op, move |st, cx, au| {
            let enc = canonical_encoding(&req.encryption_context);
            au.context = Some(std::mem::take(&mut req.encryption_context));
            let enc = enc?;
            st.validate_grant_tokens(&req.grant_tokens)?;
            let n = Self::data_key_len(req.number_of_bytes, req.key_spec)?;
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            let ctx = au.context.take().unwrap_or_default();
            let allowed = st.authorize(
                cx,
                &format!("kms:{op}"),
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    encryption_context: Some(&ctx),
                    ..Default::default()
                },
                au,
            );
            au.context = Some(ctx);
            allowed?;
            let rec = st.rec(&id);
            check_state(OpClass::Crypto, rec.state, &rec.arn)?;
            check_symmetric_encrypt(rec, None)?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let handle = st.current_handle(rec)?;
            let (plaintext, blob) = st.hsm.generate_data_key(&handle, &enc, n)?;
            Ok(GenerateDataKeyResponse {
                ciphertext_blob: blob,
                plaintext,
                key_id: rec.arn.clone(),
                key_material_id: handle.material_id_hex(),
            })
        })
    }

    pub fn generate_data_key(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse> {
        self.gdk("GenerateDataKey", req)
    }

    /// The data key is generated and encrypted inside the HSM; its plaintext
    /// is zeroized there and never returned.
    pub fn generate_data_key_without_plaintext(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse> {
        let r = self.gdk("GenerateDataKeyWithoutPlaintext", req)?;
        Ok(GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob: r.ciphertext_blob,
            key_id: r.key_id,
            key_material_id: r.key_material_id,
        })
    }

    pub fn generate_random(&self, req: GenerateRandomRequest) -> Result<GenerateRandomResponse> {
        self.call("GenerateRandom", |st, cx, au| match req.number_of_bytes {
            Some(n) if (1..=MAX_RANDOM_BYTES).contains(&n) => {
                st.authorize(cx, "kms:GenerateRandom", None, Facts::default(), au)?;
                Ok(GenerateRandomResponse {
                    plaintext: Plaintext::new(st.hsm.random_bytes(n as usize)?),
                })
            }
            _ => Err(Error::validation("NumberOfBytes must be 1 to 1024")),
        })
    }

    // ------------------------------------------------------------ rotation

    pub fn enable_key_rotation(&self, req: EnableKeyRotationRequest) -> Result<()> {
        self.call("EnableKeyRotation", |st, cx, au| {
            let period = req.rotation_period_in_days.unwrap_or(DEFAULT_ROTATION_DAYS);
            if !(MIN_ROTATION_DAYS..=MAX_ROTATION_DAYS).contains(&period) {
                return Err(Error::validation(
                    "RotationPeriodInDays must be between 90 and 2560",
                ));
            }
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:EnableKeyRotation",
                Some(&id),
                Facts {
                    rotation_period_days: Some(period),
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let mut rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::RotationConfig, rec.state, &rec.arn)?;
            check_rotatable(&rec)?;
            deny_aws_managed(&rec)?;
            deny_replica(&rec)?;
            st.mark_mrk_dirty(&id);
            let r = &mut rec.rotation;
            let base = match (r.enabled, r.next_rotation_ms, r.period_days) {
                // Changing the period keeps the schedule's start.
                (true, Some(next), Some(old)) => next.saturating_sub(old as u64 * MS_PER_DAY),
                _ => cx.now,
            };
            r.enabled = true;
            r.period_days = Some(period);
            r.next_rotation_ms = Some(base + period as u64 * MS_PER_DAY);
            st.save_key(rec)?;
            st.rotate_if_overdue(&id, cx.now)
        })
    }

    pub fn disable_key_rotation(&self, req: KeyIdRequest) -> Result<()> {
        self.call("DisableKeyRotation", |st, cx, au| {
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(cx, "kms:DisableKeyRotation", Some(&id), Facts { request_key_id: Some(&req.key_id), ..Default::default() }, au)?;
            let mut rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::RotationConfig, rec.state, &rec.arn)?;
            check_rotatable(&rec)?;
            deny_aws_managed(&rec)?;
            deny_replica(&rec)?;
            st.mark_mrk_dirty(&id);
            if st.settings.rotation_required {
                return Err(Error::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "this store requires automatic rotation for customer managed keys; rotation of {} cannot be disabled",
                        rec.arn
                    ),
                ));
            }
            rec.rotation.enabled = false;
            rec.rotation.next_rotation_ms = None;
            st.save_key(rec)
        })
    }

    pub fn get_key_rotation_status(
        &self,
        req: KeyIdRequest,
    ) -> Result<GetKeyRotationStatusResponse> {
        self.call("GetKeyRotationStatus", |st, cx, au| {
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:GetKeyRotationStatus",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let rec = st.rec(&id);
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::RotationRead, rec.state, &rec.arn)?;
            Ok(GetKeyRotationStatusResponse {
                key_id: rec.arn.clone(),
                key_rotation_enabled: rec.rotation.enabled,
                rotation_period_in_days: rec.rotation.period_days.filter(|_| rec.rotation.enabled),
                next_rotation_date_ms: rec.rotation.next_rotation_ms,
                on_demand_rotation_start_date_ms: rec.rotation.last_on_demand_ms,
            })
        })
    }

    pub fn rotate_key_on_demand(&self, req: KeyIdRequest) -> Result<KeyIdResponse> {
        self.call("RotateKeyOnDemand", |st, cx, au| {
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:RotateKeyOnDemand",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::RotationConfig, rec.state, &rec.arn)?;
            check_rotatable(&rec)?;
            deny_aws_managed(&rec)?;
            deny_replica(&rec)?;
            if rec.rotation.on_demand_count >= MAX_ON_DEMAND_ROTATIONS {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    format!(
                        "{} has reached the limit of 25 on-demand rotations",
                        rec.arn
                    ),
                ));
            }
            if rec.rotation.enabled
                && rec
                    .rotation
                    .next_rotation_ms
                    .is_some_and(|n| n <= cx.now + CONFLICT_WINDOW_MS)
            {
                return Err(Error::new(
                    ErrorCode::Conflict,
                    format!(
                        "an automatic rotation of {} is due within 20 minutes",
                        rec.arn
                    ),
                ));
            }
            st.rotate(&id, cx.now, RotationType::OnDemand)?;
            let mut rec = st.rec(&id).clone();
            rec.rotation.on_demand_count += 1;
            rec.rotation.last_on_demand_ms = Some(cx.now);
            let arn = rec.arn.clone();
            st.save_key(rec)?;
            Ok(KeyIdResponse { key_id: arn })
        })
    }

    pub fn list_key_rotations(
        &self,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse> {
        self.call("ListKeyRotations", |st, cx, au| {
            let limit = limit_of(req.limit, 100)?;
            let all_material = match req.include_key_material.as_deref() {
                None | Some("ROTATIONS_ONLY") => false,
                Some("ALL_KEY_MATERIAL") => true,
                Some(_) => {
                    return Err(Error::validation(
                        "IncludeKeyMaterial must be ROTATIONS_ONLY or ALL_KEY_MATERIAL",
                    ))
                }
            };
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:ListKeyRotations",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let rec = st.rec(&id);
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::RotationRead, rec.state, &rec.arn)?;
            check_rotatable(rec)?;
            let n = rec.materials.len();
            let all: Vec<(usize, RotationsListEntry)> = rec
                .materials
                .iter()
                .enumerate()
                .filter(|(_, m)| all_material || m.rotation_type.is_some())
                .map(|(i, m)| {
                    (
                        i,
                        RotationsListEntry {
                            key_id: rec.arn.clone(),
                            key_material_id: m.material_id.clone(),
                            key_material_state: if i + 1 == n {
                                KeyMaterialState::Current
                            } else {
                                KeyMaterialState::NonCurrent
                            },
                            rotation_date_ms: m.created_ms,
                            rotation_type: m.rotation_type,
                        },
                    )
                })
                .collect();
            let (page, next_marker, truncated) = paginate(
                all,
                |(i, _)| format!("{i:08}"),
                limit,
                req.marker.as_deref(),
            )?;
            Ok(ListKeyRotationsResponse {
                rotations: page.into_iter().map(|(_, e)| e).collect(),
                next_marker,
                truncated,
            })
        })
    }

    // ------------------------------------------------------------ imported key material

    fn external_key(
        st: &State,
        cx: &Ctx,
        au: &mut AuditInfo,
        action: &str,
        key_id: &str,
    ) -> Result<String> {
        let id = st.resolve(cx, key_id)?;
        au.key_arn = Some(cx.key_arn(&id));
        st.authorize(
            cx,
            action,
            Some(&id),
            Facts {
                request_key_id: Some(key_id),
                ..Default::default()
            },
            au,
        )?;
        let rec = st.rec(&id);
        if rec.origin != Origin::External {
            return Err(Error::new(
                ErrorCode::UnsupportedOperation,
                format!(
                    "{} has origin {}; only EXTERNAL keys take imported material",
                    rec.arn, rec.origin
                ),
            ));
        }
        Ok(id)
    }

    /// An RSA wrapping key and an import token valid for 24 hours (by the
    /// injected clock), bound to this key.
    pub fn get_parameters_for_import(
        &self,
        req: GetParametersForImportRequest,
    ) -> Result<GetParametersForImportResponse> {
        // The token id and the RSA wrapping key are made before the state
        // lock (RSA-4096 takes seconds), in the order they always were.
        let fresh = match req.wrapping_key_spec {
            Some(spec @ (KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096))
                if matches!(
                    req.wrapping_algorithm,
                    Some(
                        WrappingAlgorithm::RsaesOaepSha256 | WrappingAlgorithm::RsaAesKeyWrapSha256
                    )
                ) =>
            {
                Some(Pregenerated::new(&*self.shared.rng, spec))
            }
            _ => None,
        };
        self.call("GetParametersForImport", |st, cx, au| {
            let alg = req.wrapping_algorithm.ok_or_else(|| Error::validation("WrappingAlgorithm is required"))?;
            match alg {
                WrappingAlgorithm::RsaesOaepSha256 | WrappingAlgorithm::RsaAesKeyWrapSha256 => {}
                other => return Err(Error::new(ErrorCode::UnsupportedOperation, format!("WrappingAlgorithm {other} is not supported (use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256)"))),
            }
            let spec = req.wrapping_key_spec.ok_or_else(|| Error::validation("WrappingKeySpec is required"))?;
            if !matches!(spec, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096) {
                return Err(Error::validation("WrappingKeySpec must be RSA_2048, RSA_3072 or RSA_4096"));
            }
            let id = Self::external_key(st, cx, au, "kms:GetParametersForImport", &req.key_id)?;
            let rec = st.rec(&id);
            check_state(OpClass::ImportParams, rec.state, &rec.arn)?;
            let arn = rec.arn.clone();
            // Forget this key's expired tokens.
            let stale: Vec<String> = st.import_tokens.iter().filter(|(_, t)| t.expires_ms <= cx.now).map(|(k, _)| k.clone()).collect();
            for t in stale {
                st.drop_import_token(&t);
            }
            let fresh = fresh.ok_or_else(|| Error::internal("the wrapping key was not generated"))??;
            let token_id = hex::encode(fresh.id_bytes);
            let (public_key, sealed) = st.hsm.new_wrapping_key(&token_id, fresh.key)?;
            let expires = cx.now + IMPORT_TOKEN_VALIDITY_MS;
            let entry = ImportTokenEntry { key_id: id.clone(), wrapping_algorithm: alg, expires_ms: expires, sealed_wrapping_key: hex::encode(&sealed) };
            st.put_json(import_token_name(&token_id), &entry)?;
            st.import_tokens.insert(token_id.clone(), entry);
            Ok(GetParametersForImportResponse {
                key_id: arn,
                import_token: st.import_token_string(&token_id, &id),
                public_key,
                parameters_valid_to_ms: expires,
            })
        })
    }

    /// Import key material wrapped with a token's public key. Re-imports
    /// must be byte-identical; the key becomes Enabled (a key pending
    /// deletion stays pending deletion).
    pub fn import_key_material(&self, req: ImportKeyMaterialRequest) -> Result<()> {
        self.call("ImportKeyMaterial", |st, cx, au| {
            if req.encrypted_key_material.is_empty() || req.encrypted_key_material.len() > 6144 {
                return Err(Error::validation("EncryptedKeyMaterial must be 1 to 6144 bytes"));
            }
            let model = req.expiration_model.unwrap_or(ExpirationModel::KeyMaterialExpires);
            match (model, req.valid_to_ms) {
                (ExpirationModel::KeyMaterialExpires, None) => {
                    return Err(Error::validation("ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES"))
                }
                (ExpirationModel::KeyMaterialExpires, Some(v)) if v <= cx.now || v > cx.now + MAX_IMPORT_VALIDITY_DAYS * MS_PER_DAY => {
                    return Err(Error::validation("ValidTo must be in the future and at most 365 days ahead"))
                }
                (ExpirationModel::KeyMaterialDoesNotExpire, Some(_)) => {
                    return Err(Error::validation("ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"))
                }
                _ => {}
            }
            let id = Self::external_key(st, cx, au, "kms:ImportKeyMaterial", &req.key_id)?;
            let rec = st.rec(&id).clone();
            check_state(OpClass::ImportMaterial, rec.state, &rec.arn)?;
            let token_id = st.parse_import_token(&req.import_token, &id)?;
            // A token this store issued for this key (its MAC checked) whose
            // entry is gone was swept when it expired or used by a
            // successful import: either way its wrapping key is destroyed.
            let entry = st.import_tokens.get(&token_id).cloned().ok_or_else(|| {
                Error::new(ErrorCode::ExpiredImportToken, "The import token has expired or was already used; call GetParametersForImport again")
            })?;
            if entry.key_id != id {
                return Err(Error::new(ErrorCode::InvalidImportToken, "The import token is not valid for this key"));
            }
            if entry.expires_ms <= cx.now {
                return Err(Error::new(ErrorCode::ExpiredImportToken, "The import token has expired; call GetParametersForImport again"));
            }
            let expected = match rec.materials.first() {
                Some(m) => {
                    let mut b = [0u8; 32];
                    hex::decode_to_slice(&m.material_id, &mut b).map_err(|_| Error::internal("malformed material id"))?;
                    Some(b)
                }
                None => None,
            };
            let (handle, sealed) = st.hsm.import_material(&id, &token_id, entry.wrapping_algorithm, &req.encrypted_key_material, expected.as_ref())?;
            let hexid = handle.material_id_hex();
            st.batch.push(Mutation::Put { name: material_name(&id, &hexid), value: sealed });
            let mut rec = rec;
            if rec.materials.is_empty() {
                rec.materials.push(MaterialVersion { material_id: hexid, created_ms: cx.now, rotation_type: None });
            }
            rec.import = Some(ImportState {
                present: true,
                valid_to_ms: req.valid_to_ms,
                expiration_model: Some(model),
            });
            if rec.state == KeyState::PendingImport {
                rec.state = KeyState::Enabled;
            }
            // The token is spent: its RSA private key goes at once.
            st.drop_import_token(&token_id);
            st.save_key(rec)
        })
    }

    /// Delete imported material now: the key goes to PendingImport until
    /// the same material is imported again.
    pub fn delete_imported_key_material(&self, req: KeyIdRequest) -> Result<()> {
        self.call("DeleteImportedKeyMaterial", |st, cx, au| {
            let id = Self::external_key(st, cx, au, "kms:DeleteImportedKeyMaterial", &req.key_id)?;
            let rec = st.rec(&id);
            if rec.state == KeyState::PendingImport
                || rec.import.as_ref().is_some_and(|i| !i.present)
            {
                return Ok(()); // no material: no effect
            }
            check_state(OpClass::Metadata, rec.state, &rec.arn).or_else(|e| {
                // Allowed while pending deletion too (state unchanged).
                if rec.state == KeyState::PendingDeletion {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
            st.delete_imported_material(&id)
        })
    }

    // ------------------------------------------------------------ asymmetric and HMAC

    /// Resolve, authorize, state-check and usage-check the key of an
    /// asymmetric/HMAC operation; returns the key id.
    fn asym_key(
        st: &State,
        cx: &Ctx,
        au: &mut AuditInfo,
        action: &str,
        key_id: &str,
        usage: &[KeyUsage],
    ) -> Result<String> {
        let id = st.resolve(cx, key_id)?;
        au.key_arn = Some(cx.key_arn(&id));
        let facts = Facts {
            request_key_id: Some(key_id),
            ..Default::default()
        };
        st.authorize(cx, action, Some(&id), facts, au)?;
        let rec = st.rec(&id);
        check_state(OpClass::Crypto, rec.state, &rec.arn)?;
        if !usage.contains(&rec.key_usage) || rec.key_spec == KeySpec::SymmetricDefault {
            return Err(wrong_usage(rec, action.trim_start_matches("kms:")));
        }
        Ok(id)
    }

    fn check_message(msg: &[u8]) -> Result<()> {
        if msg.is_empty() || msg.len() > MAX_PLAINTEXT {
            return Err(Error::validation("Message must be 1 to 4096 bytes"));
        }
        Ok(())
    }

    fn signing_alg(rec: &KeyRecord, alg: Option<SigningAlgorithm>) -> Result<SigningAlgorithm> {
        let alg = alg.ok_or_else(|| Error::validation("SigningAlgorithm is required"))?;
        if !SigningAlgorithm::for_spec(rec.key_spec).contains(&alg) {
            return Err(Error::new(
                ErrorCode::InvalidKeyUsage,
                format!(
                    "{} ({}) does not support signing algorithm {}",
                    rec.arn,
                    rec.key_spec,
                    alg.as_str()
                ),
            ));
        }
        Ok(alg)
    }

    pub fn sign(&self, req: SignRequest) -> Result<SignResponse> {
        self.call("Sign", |st, cx, au| {
            st.validate_grant_tokens(&req.grant_tokens)?;
            Self::check_message(&req.message)?;
            let mt = req.message_type.unwrap_or(MessageType::Raw);
            let id = Self::asym_key(st, cx, au, "kms:Sign", &req.key_id, &[KeyUsage::SignVerify])?;
            let rec = st.rec(&id);
            let alg = Self::signing_alg(rec, req.signing_algorithm)?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let h = st.current_handle(rec)?;
            Ok(SignResponse {
                key_id: rec.arn.clone(),
                signature: st.hsm.sign(&h, alg, mt, &req.message)?,
                signing_algorithm: alg,
            })
        })
    }

    /// A signature that does not verify is `KMSInvalidSignatureException`,
    /// never a `false` result.
    pub fn verify(&self, req: VerifyRequest) -> Result<VerifyResponse> {
        self.call("Verify", |st, cx, au| {
            st.validate_grant_tokens(&req.grant_tokens)?;
            Self::check_message(&req.message)?;
            if req.signature.is_empty() || req.signature.len() > 6144 {
                return Err(Error::validation("Signature must be 1 to 6144 bytes"));
            }
            let mt = req.message_type.unwrap_or(MessageType::Raw);
            let id = Self::asym_key(
                st,
                cx,
                au,
                "kms:Verify",
                &req.key_id,
                &[KeyUsage::SignVerify],
            )?;
            let rec = st.rec(&id);
            let alg = Self::signing_alg(rec, req.signing_algorithm)?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let h = st.current_handle(rec)?;
            if !st.hsm.verify(&h, alg, mt, &req.message, &req.signature)? {
                return Err(Error::new(
                    ErrorCode::KmsInvalidSignature,
                    format!("The signature does not verify with {}", rec.arn),
                ));
            }
            Ok(VerifyResponse {
                key_id: rec.arn.clone(),
                signature_valid: true,
                signing_algorithm: alg,
            })
        })
    }

    pub fn get_public_key(&self, req: GetPublicKeyRequest) -> Result<GetPublicKeyResponse> {
        self.call("GetPublicKey", |st, cx, au| {
            st.validate_grant_tokens(&req.grant_tokens)?;
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:GetPublicKey",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let rec = st.rec(&id);
            check_state(OpClass::Crypto, rec.state, &rec.arn)?;
            if rec.key_spec == KeySpec::SymmetricDefault
                || rec.key_usage == KeyUsage::GenerateVerifyMac
            {
                return Err(Error::new(
                    ErrorCode::UnsupportedOperation,
                    format!(
                        "{} is a {} key and has no public key",
                        rec.arn, rec.key_spec
                    ),
                ));
            }
            let h = st.current_handle(rec)?;
            let md = rec.metadata();
            Ok(GetPublicKeyResponse {
                key_id: rec.arn.clone(),
                public_key: st.hsm.public_key(&h)?,
                key_spec: rec.key_spec,
                key_usage: rec.key_usage,
                encryption_algorithms: md.encryption_algorithms,
                signing_algorithms: md.signing_algorithms,
                key_agreement_algorithms: md.key_agreement_algorithms,
            })
        })
    }

    pub fn derive_shared_secret(
        &self,
        req: DeriveSharedSecretRequest,
    ) -> Result<DeriveSharedSecretResponse> {
        self.call("DeriveSharedSecret", |st, cx, au| {
            st.validate_grant_tokens(&req.grant_tokens)?;
            match req.key_agreement_algorithm.as_deref() {
                Some("ECDH") => {}
                _ => return Err(Error::validation("KeyAgreementAlgorithm must be ECDH")),
            }
            if req.public_key.is_empty() || req.public_key.len() > 8192 {
                return Err(Error::validation("PublicKey must be 1 to 8192 bytes"));
            }
            let id = Self::asym_key(
                st,
                cx,
                au,
                "kms:DeriveSharedSecret",
                &req.key_id,
                &[KeyUsage::KeyAgreement],
            )?;
            let rec = st.rec(&id);
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let h = st.current_handle(rec)?;
            Ok(DeriveSharedSecretResponse {
                key_id: rec.arn.clone(),
                shared_secret: st.hsm.derive_shared_secret(&h, &req.public_key)?,
                key_agreement_algorithm: "ECDH".into(),
                key_origin: rec.origin,
            })
        })
    }

    pub fn generate_mac(&self, req: GenerateMacRequest) -> Result<GenerateMacResponse> {
        self.call("GenerateMac", |st, cx, au| {
            st.validate_grant_tokens(&req.grant_tokens)?;
            Self::check_message(&req.message)?;
            let alg = req
                .mac_algorithm
                .ok_or_else(|| Error::validation("MacAlgorithm is required"))?;
            let id = Self::asym_key(
                st,
                cx,
                au,
                "kms:GenerateMac",
                &req.key_id,
                &[KeyUsage::GenerateVerifyMac],
            )?;
            let rec = st.rec(&id);
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let h = st.current_handle(rec)?;
            Ok(GenerateMacResponse {
                key_id: rec.arn.clone(),
                mac: st.hsm.mac(&h, alg, &req.message)?,
                mac_algorithm: alg,
            })
        })
    }

    /// A MAC that does not match is `KMSInvalidMacException` (compared in
    /// constant time), never a `false` result.
    pub fn verify_mac(&self, req: VerifyMacRequest) -> Result<VerifyMacResponse> {
        self.call("VerifyMac", |st, cx, au| {
            st.validate_grant_tokens(&req.grant_tokens)?;
            Self::check_message(&req.message)?;
            if req.mac.is_empty() || req.mac.len() > 6144 {
                return Err(Error::validation("Mac must be 1 to 6144 bytes"));
            }
            let alg = req
                .mac_algorithm
                .ok_or_else(|| Error::validation("MacAlgorithm is required"))?;
            let id = Self::asym_key(
                st,
                cx,
                au,
                "kms:VerifyMac",
                &req.key_id,
                &[KeyUsage::GenerateVerifyMac],
            )?;
            let rec = st.rec(&id);
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let h = st.current_handle(rec)?;
            if !st.hsm.verify_mac(&h, alg, &req.message, &req.mac)? {
                return Err(Error::new(
                    ErrorCode::KmsInvalidMac,
                    format!("The MAC does not verify with {}", rec.arn),
                ));
            }
            Ok(VerifyMacResponse {
                key_id: rec.arn.clone(),
                mac_valid: true,
                mac_algorithm: alg,
            })
        })
    }

    fn gdkp(
        &self,
        op: &'static str,
        mut req: GenerateDataKeyPairRequest,
    ) -> Result<GenerateDataKeyPairResponse> {
        // The pair is generated before the state lock (RSA-4096 takes
        // seconds); only the RNG is used.
        let pair = match req.key_pair_spec {
            Some(
                spec @ (KeySpec::EccNistP256
                | KeySpec::EccNistP384
                | KeySpec::Rsa2048
                | KeySpec::Rsa3072
                | KeySpec::Rsa4096),
            ) if !req.dry_run => Some(asym::AsymKey::generate(spec, &*self.shared.rng)),
            _ => None,
        };
        self.call(op, move |st, cx, au| {
            let enc = canonical_encoding(&req.encryption_context);
            au.context = Some(std::mem::take(&mut req.encryption_context));
            let enc = enc?;
            st.validate_grant_tokens(&req.grant_tokens)?;
            let spec = req
                .key_pair_spec
                .ok_or_else(|| Error::validation("KeyPairSpec is required"))?;
            match spec {
                KeySpec::EccNistP256
                | KeySpec::EccNistP384
                | KeySpec::Rsa2048
                | KeySpec::Rsa3072
                | KeySpec::Rsa4096 => {}
                KeySpec::EccNistP521
                | KeySpec::EccSecgP256k1
                | KeySpec::EccNistEdwards25519
                | KeySpec::Sm2 => {
                    return Err(Error::new(
                        ErrorCode::UnsupportedOperation,
                        format!(
                            "KeyPairSpec {spec} is not supported by this version of Strongroom"
                        ),
                    ))
                }
                _ => return Err(Error::validation(format!("{spec} is not a key pair spec"))),
            }
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            let ctx = au.context.take().unwrap_or_default();
            let allowed = st.authorize(
                cx,
                &format!("kms:{op}"),
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    encryption_context: Some(&ctx),
                    ..Default::default()
                },
                au,
            );
            au.context = Some(ctx);
            allowed?;
            let rec = st.rec(&id);
            check_state(OpClass::Crypto, rec.state, &rec.arn)?;
            check_symmetric_encrypt(rec, None)?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let h = st.current_handle(rec)?;
            let pair = pair.ok_or_else(|| Error::internal("the key pair was not generated"))??;
            let (public_key, private, blob) = st.hsm.generate_data_key_pair(pair, &h, &enc)?;
            Ok(GenerateDataKeyPairResponse {
                private_key_ciphertext_blob: blob,
                private_key_plaintext: private,
                public_key,
                key_id: rec.arn.clone(),
                key_pair_spec: spec,
                key_material_id: rec.current_material_id().unwrap_or_default().to_string(),
            })
        })
    }

    /// A key pair whose private key is returned in plaintext (PKCS#8 DER)
    /// and encrypted under a symmetric KMS key with the encryption context.
    pub fn generate_data_key_pair(
        &self,
        req: GenerateDataKeyPairRequest,
    ) -> Result<GenerateDataKeyPairResponse> {
        self.gdkp("GenerateDataKeyPair", req)
    }

    /// The same, without the plaintext private key (dropped and zeroized
    /// inside the HSM).
    pub fn generate_data_key_pair_without_plaintext(
        &self,
        req: GenerateDataKeyPairRequest,
    ) -> Result<GenerateDataKeyPairWithoutPlaintextResponse> {
        let r = self.gdkp("GenerateDataKeyPairWithoutPlaintext", req)?;
        Ok(GenerateDataKeyPairWithoutPlaintextResponse {
            private_key_ciphertext_blob: r.private_key_ciphertext_blob,
            public_key: r.public_key,
            key_id: r.key_id,
            key_pair_spec: r.key_pair_spec,
            key_material_id: r.key_material_id,
        })
    }

    // ------------------------------------------------------------ key policies

    pub fn put_key_policy(&self, req: PutKeyPolicyRequest) -> Result<()> {
        self.call("PutKeyPolicy", |st, cx, au| {
            check_policy_name(req.policy_name.as_deref())?;
            validate_policy_text(&req.policy)?;
            policy::parse(&req.policy, PolicyKind::Key)?;
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:PutKeyPolicy",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    bypass_lockout: Some(req.bypass_policy_lockout_safety_check),
                    ..Default::default()
                },
                au,
            )?;
            let mut rec = st.rec(&id).clone();
            deny_aws_managed(&rec)?;
            rec.policy = Some(req.policy.clone());
            if !req.bypass_policy_lockout_safety_check {
                st.lockout_check(cx, &rec)?;
            }
            st.save_key(rec)
        })
    }

    pub fn get_key_policy(&self, req: GetKeyPolicyRequest) -> Result<GetKeyPolicyResponse> {
        self.call("GetKeyPolicy", |st, cx, au| {
            check_policy_name(req.policy_name.as_deref())?;
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:GetKeyPolicy",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            Ok(GetKeyPolicyResponse {
                policy: st.rec(&id).policy.clone().unwrap_or_default(),
                policy_name: "default".into(),
            })
        })
    }

    pub fn list_key_policies(
        &self,
        req: ListKeyPoliciesRequest,
    ) -> Result<ListKeyPoliciesResponse> {
        self.call("ListKeyPolicies", |st, cx, au| {
            let limit = limit_of(req.limit, 100)?;
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:ListKeyPolicies",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let (policy_names, next_marker, truncated) = paginate(
                vec!["default".to_string()],
                |n| n.clone(),
                limit,
                req.marker.as_deref(),
            )?;
            Ok(ListKeyPoliciesResponse {
                policy_names,
                next_marker,
                truncated,
            })
        })
    }

    /// Regain control of a key whose policy locks everyone out (set with
    /// the bypass flag): whoever holds the store's root key may reset the
    /// policy to the default. The call is audited. Without the root key
    /// there is no way back in.
    pub fn recover_key_policy(&self, key_id: &str, root: RootKey) -> Result<()> {
        let kdf = {
            let mut st = self.lock()?;
            st.store.load()?.get(KDF_NAME).cloned()
        };
        // Argon2 runs without the state lock (it is slow by design); the
        // outcome, error or not, is decided and audited inside the call.
        let candidate = candidate_root_key(root, kdf.as_deref());
        self.call("RecoverKeyPolicy", |st, cx, au| {
            let candidate = candidate?;
            if !st.hsm.root_matches(&candidate) {
                au.decision = Some("deny RecoverKeyPolicy: the root key does not match".into());
                return Err(Error::new(
                    ErrorCode::InvalidRootKey,
                    "the root key does not open this store",
                ));
            }
            let id = st.resolve(cx, key_id)?;
            let mut rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            deny_aws_managed(&rec)?;
            au.decision = Some("allow RecoverKeyPolicy: store root key presented".into());
            rec.policy = Some(default_policy(cx.account));
            st.save_key(rec)
        })
    }

    // ------------------------------------------------------------ grants

    pub fn create_grant(&self, req: CreateGrantRequest) -> Result<CreateGrantResponse> {
        self.call("CreateGrant", |st, cx, au| {
            st.validate_grant_tokens(&req.grant_tokens)?;
            validate_grant_principal(&req.grantee_principal, "GranteePrincipal")?;
            if let Some(r) = &req.retiring_principal {
                validate_grant_principal(r, "RetiringPrincipal")?;
            }
            if req.operations.is_empty() {
                return Err(Error::validation("Operations must name at least one operation"));
            }
            if let Some(n) = &req.name {
                if n.is_empty()
                    || n.len() > 256
                    || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b))
                {
                    return Err(Error::validation("Name must match ^[a-zA-Z0-9:/_-]+$ (1 to 256 characters)"));
                }
            }
            let mut ops = req.operations.clone();
            ops.sort_by_key(|o| o.as_str());
            ops.dedup();
            if let Some(c) = &req.constraints {
                validate_constraints(c)?;
            }
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            let via_grant = st.authorize(
                cx,
                "kms:CreateGrant",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    grant_operations: Some(&ops),
                    grantee_principal: Some(&req.grantee_principal),
                    retiring_principal: req.retiring_principal.as_deref(),
                    ..Default::default()
                },
                au,
            )?;
            let rec = st.rec(&id);
            check_state(OpClass::CreateGrant, rec.state, &rec.arn)?;
            for op in &ops {
                if !op_fits_key(*op, rec) {
                    return Err(Error::validation(format!(
                        "grant operation {op} does not apply to {} ({} {})",
                        rec.arn, rec.key_spec, rec.key_usage
                    )));
                }
            }
            // Allowed through a grant: the new grant must be at least as narrow.
            if let Some(parent_id) = via_grant {
                let parent = &st.grants[&id][&parent_id];
                let narrower_ops = ops.iter().all(|o| parent.operations.contains(o));
                let narrower_constraints = match &parent.constraints {
                    None => true,
                    Some(pc) => req
                        .constraints
                        .as_ref()
                        .is_some_and(|c| c.at_least_as_narrow_as(pc)),
                };
                if !(narrower_ops && narrower_constraints) {
                    au.decision = Some(format!(
                        "deny kms:CreateGrant: grant {parent_id} allows only grants at least as narrow as itself"
                    ));
                    return Err(Error::new(
                        ErrorCode::AccessDenied,
                        format!(
                            "User: {} is not authorized to create a grant wider than grant {parent_id} on {}",
                            cx.caller.principal_arn, rec.arn
                        ),
                    ));
                }
            }
            if req.dry_run {
                return Err(dry_run_ok());
            }
            // A repeated Name with the same parameters returns the same grant.
            if let Some(name) = &req.name {
                if let Some(g) = st.grants.get(&id).and_then(|m| {
                    m.values().find(|g| {
                        g.name.as_deref() == Some(name)
                            && g.grantee_principal == req.grantee_principal
                            && g.retiring_principal == req.retiring_principal
                            && g.operations == ops
                            && g.constraints == req.constraints
                    })
                }) {
                    return Ok(CreateGrantResponse {
                        grant_token: st.grant_token(&g.grant_id),
                        grant_id: g.grant_id.clone(),
                    });
                }
            }
            if st.grants.get(&id).map_or(0, |m| m.len()) >= MAX_GRANTS_PER_KEY {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    format!("{} already has {MAX_GRANTS_PER_KEY} grants", rec.arn),
                ));
            }
            let grant_id = hex::encode(&st.hsm.random_bytes(32)?[..]);
            let g = Grant {
                key_id: id.clone(),
                grant_id: grant_id.clone(),
                name: req.name.clone(),
                creation_date_ms: cx.now,
                grantee_principal: req.grantee_principal.clone(),
                retiring_principal: req.retiring_principal.clone(),
                issuing_account: cx.caller.account.clone(),
                operations: ops,
                constraints: req.constraints.clone(),
            };
            st.save_grant(g)?;
            Ok(CreateGrantResponse {
                grant_token: st.grant_token(&grant_id),
                grant_id,
            })
        })
    }

    pub fn list_grants(&self, req: ListGrantsRequest) -> Result<ListGrantsResponse> {
        self.call("ListGrants", |st, cx, au| {
            st.validate_grant_tokens(&req.grant_tokens)?;
            let limit = limit_of(req.limit, 50)?;
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:ListGrants",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            let arn = st.rec(&id).arn.clone();
            let all: Vec<GrantListEntry> = st
                .grants
                .get(&id)
                .map(|m| {
                    m.values()
                        .filter(|g| req.grant_id.as_ref().is_none_or(|x| &g.grant_id == x))
                        .filter(|g| {
                            req.grantee_principal
                                .as_ref()
                                .is_none_or(|x| &g.grantee_principal == x)
                        })
                        .map(|g| GrantListEntry::from_grant(g, arn.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let (grants, next_marker, truncated) =
                paginate(all, |g| g.grant_id.clone(), limit, req.marker.as_deref())?;
            Ok(ListGrantsResponse {
                grants,
                next_marker,
                truncated,
            })
        })
    }

    pub fn list_retirable_grants(
        &self,
        req: ListRetirableGrantsRequest,
    ) -> Result<ListGrantsResponse> {
        self.call("ListRetirableGrants", |st, cx, au| {
            let limit = limit_of(req.limit, 50)?;
            validate_grant_principal(&req.retiring_principal, "RetiringPrincipal")?;
            st.authorize(cx, "kms:ListRetirableGrants", None, Facts::default(), au)?;
            let all: Vec<GrantListEntry> = st
                .grants
                .values()
                .flat_map(|m| m.values())
                .filter(|g| {
                    g.retiring_principal.as_deref() == Some(req.retiring_principal.as_str())
                })
                .map(|g| GrantListEntry::from_grant(g, cx.key_arn(&g.key_id)))
                .collect();
            let (grants, next_marker, truncated) = paginate(
                all,
                |g| format!("{}/{}", g.key_id, g.grant_id),
                limit,
                req.marker.as_deref(),
            )?;
            Ok(ListGrantsResponse {
                grants,
                next_marker,
                truncated,
            })
        })
    }

    /// Retire a grant (by token, or by key id + grant id). Allowed for the
    /// retiring principal, the grantee when the grant includes RetireGrant,
    /// and the key's account root.
    pub fn retire_grant(&self, req: RetireGrantRequest) -> Result<()> {
        self.call("RetireGrant", |st, cx, au| {
            let (key_id, grant_id) = match (&req.grant_token, &req.key_id, &req.grant_id) {
                (Some(t), _, _) => {
                    let gid = st.parse_grant_token(t)?;
                    let kid = st
                        .grants
                        .iter()
                        .find(|(_, m)| m.contains_key(&gid))
                        .map(|(k, _)| k.clone())
                        .ok_or_else(|| {
                            Error::new(ErrorCode::NotFound, format!("Grant {gid} does not exist"))
                        })?;
                    (kid, gid)
                }
                (None, Some(k), Some(g)) => {
                    check_grant_id(g)?;
                    (st.resolve(cx, k)?, g.clone())
                }
                _ => {
                    return Err(Error::validation(
                        "RetireGrant needs a GrantToken, or both KeyId and GrantId",
                    ))
                }
            };
            au.key_arn = Some(cx.key_arn(&key_id));
            let g = st
                .grants
                .get(&key_id)
                .and_then(|m| m.get(&grant_id))
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::NotFound,
                        format!("Grant {grant_id} does not exist"),
                    )
                })?;
            let me = &cx.caller.principal_arn;
            let why = if g.retiring_principal.as_deref() == Some(me.as_str()) {
                "the retiring principal"
            } else if &g.grantee_principal == me
                && g.operations.contains(&GrantOperation::RetireGrant)
            {
                "the grantee, allowed RetireGrant by the grant"
            } else if cx.caller.is_account_root() && cx.caller.account == cx.account {
                "the key's account root"
            } else {
                au.decision = Some(format!(
                    "deny RetireGrant: {me} may not retire grant {grant_id}"
                ));
                return Err(Error::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "User: {me} is not authorized to retire grant {grant_id} on {}",
                        cx.key_arn(&key_id)
                    ),
                ));
            };
            au.decision = Some(format!("allow RetireGrant: {why}"));
            if req.dry_run {
                return Err(dry_run_ok());
            }
            st.remove_grant(&key_id, &grant_id);
            Ok(())
        })
    }

    pub fn revoke_grant(&self, req: RevokeGrantRequest) -> Result<()> {
        self.call("RevokeGrant", |st, cx, au| {
            check_grant_id(&req.grant_id)?;
            let id = st.resolve(cx, &req.key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:RevokeGrant",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    ..Default::default()
                },
                au,
            )?;
            if !st
                .grants
                .get(&id)
                .is_some_and(|m| m.contains_key(&req.grant_id))
            {
                return Err(Error::new(
                    ErrorCode::NotFound,
                    format!("Grant {} does not exist", req.grant_id),
                ));
            }
            if req.dry_run {
                return Err(dry_run_ok());
            }
            st.remove_grant(&id, &req.grant_id);
            Ok(())
        })
    }

    // ------------------------------------------------------------ identity policies (minimal IAM)

    /// Attach an identity policy to a user or role (account root only).
    /// Identity policies count only where a key policy delegates to the
    /// account (`arn:aws:iam::ACCOUNT:root`), as in AWS.
    pub fn put_identity_policy(&self, req: PutIdentityPolicyRequest) -> Result<()> {
        self.call("PutIdentityPolicy", |st, cx, au| {
            st.require_root(cx, "PutIdentityPolicy", au)?;
            validate_identity_target(&req.principal_arn, &req.policy_name)?;
            let parsed = policy::parse(&req.policy_document, PolicyKind::Identity)?;
            st.put_json(
                identity_name(&req.principal_arn, &req.policy_name),
                &IdentityEntry {
                    principal_arn: req.principal_arn.clone(),
                    policy_name: req.policy_name.clone(),
                    document: req.policy_document.clone(),
                },
            )?;
            st.identity
                .entry(req.principal_arn.clone())
                .or_default()
                .insert(
                    req.policy_name.clone(),
                    (req.policy_document.clone(), Arc::new(parsed)),
                );
            Ok(())
        })
    }

    pub fn get_identity_policy(
        &self,
        req: IdentityPolicyRequest,
    ) -> Result<GetIdentityPolicyResponse> {
        self.call("GetIdentityPolicy", |st, cx, au| {
            st.require_root(cx, "GetIdentityPolicy", au)?;
            let doc = st
                .identity
                .get(&req.principal_arn)
                .and_then(|m| m.get(&req.policy_name))
                .map(|(d, _)| d.clone())
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::NotFound,
                        format!(
                            "no identity policy \"{}\" on {}",
                            req.policy_name, req.principal_arn
                        ),
                    )
                })?;
            Ok(GetIdentityPolicyResponse {
                principal_arn: req.principal_arn.clone(),
                policy_name: req.policy_name.clone(),
                policy_document: doc,
            })
        })
    }

    pub fn delete_identity_policy(&self, req: IdentityPolicyRequest) -> Result<()> {
        self.call("DeleteIdentityPolicy", |st, cx, au| {
            st.require_root(cx, "DeleteIdentityPolicy", au)?;
            let removed = st
                .identity
                .get_mut(&req.principal_arn)
                .and_then(|m| m.remove(&req.policy_name));
            if removed.is_none() {
                return Err(Error::new(
                    ErrorCode::NotFound,
                    format!(
                        "no identity policy \"{}\" on {}",
                        req.policy_name, req.principal_arn
                    ),
                ));
            }
            st.batch.push(Mutation::Delete {
                name: identity_name(&req.principal_arn, &req.policy_name),
            });
            Ok(())
        })
    }

    pub fn list_identity_policies(&self, principal_arn: &str) -> Result<Vec<String>> {
        self.call("ListIdentityPolicies", |st, cx, au| {
            st.require_root(cx, "ListIdentityPolicies", au)?;
            Ok(st
                .identity
                .get(principal_arn)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default())
        })
    }

    // ------------------------------------------------------------ store-wide

    /// The state root's commit counter: one more for every commit this
    /// store has made since it gained a state root (`docs/formats/store.md`).
    /// An application that records it outside the store can tell when the
    /// store was replaced by an older copy of itself, which nothing inside
    /// the store can.
    pub fn commit_counter(&self) -> Result<u64> {
        Ok(self.lock()?.commit_count)
    }

    pub fn store_settings(&self) -> Result<StoreSettings> {
        Ok(self.lock()?.settings.clone())
    }

    /// Turn the "rotation required" setting on or off. Turning it on enables
    /// automatic rotation (default period) on every customer-managed key
    /// that supports it and lacks it.
    pub fn set_rotation_required(&self, required: bool) -> Result<()> {
        self.call("UpdateStoreSettings", |st, cx, au| {
            st.require_root(cx, "UpdateStoreSettings", au)?;
            st.settings.rotation_required = required;
            let settings = st.settings.clone();
            st.put_json(SETTINGS_NAME.into(), &settings)?;
            if required {
                let ids: Vec<String> = st
                    .keys
                    .values()
                    .filter(|k| {
                        k.key_manager == KeyManager::Customer
                            && check_rotatable(k).is_ok()
                            && !k.rotation.enabled
                    })
                    .map(|k| k.key_id.clone())
                    .collect();
                for id in ids {
                    let mut rec = st.rec(&id).clone();
                    rec.rotation.enabled = true;
                    rec.rotation.period_days = Some(DEFAULT_ROTATION_DAYS);
                    rec.rotation.next_rotation_ms =
                        Some(cx.now + DEFAULT_ROTATION_DAYS as u64 * MS_PER_DAY);
                    st.save_key(rec)?;
                }
            }
            Ok(())
        })
    }

    /// Run due rotations and deletions now (they also run lazily at the
    /// start of every call). Returns what this pass did.
    ///
    /// This is also how the account root accepts a clock that jumped
    /// forward by more than [`MAX_CLOCK_JUMP_MS`] since the last call:
    /// until then ordinary calls purge no key pending deletion and expire
    /// no imported material (a wrong clock must not destroy keys at once).
    pub fn run_maintenance(&self) -> Result<MaintenanceReport> {
        self.call("RunMaintenance", |st, cx, au| {
            st.require_root(cx, "RunMaintenance", au)?;
            if st.clock_jumped(cx.now)? {
                au.decision = Some(format!(
                    "{}; clock accepted after a forward jump",
                    au.decision.take().unwrap_or_default()
                ));
                st.accept_clock(cx.now)?;
                st.next_deadline = 0;
                st.sweep(cx.now)?;
            }
            Ok(std::mem::take(&mut st.report))
        })
    }

    /// Write buffered audit events now.
    pub fn flush(&self) -> Result<()> {
        let mut st = self.lock()?;
        st.commit(true)
    }

    fn stored_audit(&self) -> Result<Vec<(String, Vec<StoredEvent>)>> {
        let mut st = self.lock()?;
        st.commit(true)?;
        let entries = st.store.load()?;
        let mut out = Vec::new();
        for (name, v) in entries.range("audit/".to_string().."audit0".to_string()) {
            let bytes = st.hsm.open_value(name, v).ok_or_else(|| {
                Error::corrupted(format!("audit entry '{name}' failed authentication"))
            })?;
            out.push((name.clone(), audit::decode_batch(name, &bytes)?));
        }
        Ok(out)
    }

    /// Reading the audit log (every principal, key and context) is for the
    /// account root only; a refusal is audited.
    fn require_root_reader(&self, op: &'static str) -> Result<()> {
        if self.is_store_root() {
            return Ok(());
        }
        self.call(op, |st, cx, au| st.require_root(cx, op, au))
    }

    /// Every stored audit event, oldest first (flushes the buffer first).
    /// Account root only.
    pub fn audit_log(&self) -> Result<Vec<AuditEvent>> {
        self.require_root_reader("GetAuditLog")?;
        self.stored_audit()?
            .into_iter()
            .flat_map(|(_, b)| b)
            .map(|e| e.decode())
            .collect()
    }

    /// Recompute the hash chain over the whole stored log and compare it
    /// with the stored head. Any edited, reordered, inserted or dropped
    /// event fails with `StoreCorruptedException` naming the first bad
    /// position. Account root only.
    pub fn verify_audit_log(&self) -> Result<AuditVerification> {
        self.require_root_reader("VerifyAuditLog")?;
        let events: Vec<StoredEvent> = self
            .stored_audit()?
            .into_iter()
            .flat_map(|(_, b)| b)
            .collect();
        let st = self.lock()?;
        verify_chain(&events, &st.audit_base, &st.audit_head)
    }

    /// Delete the oldest audit events, keeping at least the newest
    /// `keep_last` (whole stored batches are removed, so slightly more may
    /// stay). The hash of the last removed event is kept, sealed, as the new
    /// start of the chain, so the remaining log still verifies and any later
    /// edit or drop is still detected. The pruning is itself audited.
    /// Returns the number of events removed.
    pub fn prune_audit_log(&self, keep_last: u64) -> Result<u64> {
        self.flush()?;
        let batches: Vec<(String, u64, Option<StoredEvent>)> = self
            .stored_audit()?
            .into_iter()
            .map(|(name, b)| (name, b.len() as u64, b.last().cloned()))
            .collect();
        let base = self.lock()?.audit_base.clone();
        let total: u64 = batches.iter().map(|b| b.1).sum();
        let mut removed = 0u64;
        let mut new_base = base;
        let mut deletes = Vec::new();
        for (name, n, last) in &batches {
            if total - removed - n < keep_last {
                break;
            }
            removed += n;
            if let Some(e) = last {
                new_base = AuditBase {
                    first_seq: e.seq + 1,
                    prev_hash: hex::encode(e.hash),
                };
            }
            deletes.push(name.clone());
        }
        self.call("PruneAuditLog", |st, cx, au| {
            st.require_root(cx, "PruneAuditLog", au)?;
            if deletes.is_empty() {
                return Ok(0);
            }
            for name in deletes {
                st.batch.push(Mutation::Delete { name });
            }
            st.put_json(AUDIT_BASE_NAME.into(), &new_base)?;
            st.audit_base = new_base;
            Ok(removed)
        })
    }
}

/// Where the stored chain starts (moves forward when old events are pruned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AuditBase {
    first_seq: u64,
    prev_hash: String,
}

impl Default for AuditBase {
    fn default() -> Self {
        AuditBase {
            first_seq: 0,
            prev_hash: hex::encode([0u8; 32]),
        }
    }
}

fn decode_hash(h: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out).map_err(|_| Error::corrupted("malformed audit hash"))?;
    Ok(out)
}

fn verify_chain(
    events: &[StoredEvent],
    base: &AuditBase,
    head: &AuditHead,
) -> Result<AuditVerification> {
    let mut prev = decode_hash(&base.prev_hash)?;
    for (i, e) in events.iter().enumerate() {
        let seq = base.first_seq + i as u64;
        let broken = || Error::corrupted(format!("the audit log is broken at event {seq}"));
        if e.seq != seq || audit::chain_hash(&prev, &e.body) != e.hash {
            return Err(broken());
        }
        e.decode().map_err(|_| broken())?;
        prev = e.hash;
    }
    let count = base.first_seq + events.len() as u64;
    if count != head.count || hex::encode(prev) != head.hash {
        return Err(Error::corrupted(format!(
            "the audit log has {count} events but its head records {}",
            head.count
        )));
    }
    Ok(AuditVerification {
        first_seq: base.first_seq,
        events: head.count,
        head_hash: head.hash.clone(),
    })
}

fn is_alias_ref(s: &str) -> bool {
    s.starts_with("alias/") || (s.starts_with("arn:") && s.contains(":alias/"))
}

fn deny_aws_managed(rec: &KeyRecord) -> Result<()> {
    if rec.key_manager == KeyManager::Aws {
        return Err(Error::new(
            ErrorCode::UnsupportedOperation,
            format!("{} is an AWS managed key and cannot be changed", rec.arn),
        ));
    }
    Ok(())
}

fn check_rotatable(rec: &KeyRecord) -> Result<()> {
    if rec.key_spec != KeySpec::SymmetricDefault || rec.origin != Origin::AwsKms {
        return Err(Error::new(
            ErrorCode::UnsupportedOperation,
            format!(
                "{} does not support automatic rotation (key spec {}, origin {})",
                rec.arn, rec.key_spec, rec.origin
            ),
        ));
    }
    Ok(())
}

fn validate_policy_text(p: &str) -> Result<()> {
    if p.is_empty() || p.len() > MAX_POLICY_LEN {
        return Err(Error::new(
            ErrorCode::Validation,
            "Policy must be 1 to 131072 characters",
        ));
    }
    if !p
        .chars()
        .all(|c| matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{ff}'))
    {
        return Err(Error::validation(
            "Policy contains characters outside \\u0009 \\u000A \\u000D \\u0020-\\u00FF",
        ));
    }
    Ok(())
}

/// The default key policy AWS applies through the API: the account may use
/// IAM policies to grant access.
pub fn default_policy(account: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Id":"key-default-1","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    )
}

struct NewKey {
    /// Key material made before the state lock (asymmetric and HMAC keys;
    /// `None` for symmetric and EXTERNAL keys), with the 16 random bytes of
    /// the key id drawn just before it (so a seeded RNG draws in the same
    /// order as when both were drawn under the lock).
    pregenerated: Option<Pregenerated>,
    description: String,
    spec: KeySpec,
    usage: KeyUsage,
    origin: Origin,
    manager: KeyManager,
    multi_region: bool,
    tags: Vec<Tag>,
    policy: Option<String>,
}

/// Key material generated outside the state lock.
struct Pregenerated {
    id_bytes: [u8; 16],
    key: asym::AsymKey,
}

impl Pregenerated {
    /// Draw a key id's bytes and generate `spec` material with only the
    /// RNG (no lock held).
    fn new(rng: &dyn Rng, spec: KeySpec) -> Result<Self> {
        let mut id_bytes = [0u8; 16];
        rng.fill(&mut id_bytes)?;
        let key = asym::AsymKey::generate(spec, rng)?;
        Ok(Pregenerated { id_bytes, key })
    }
}

fn new_key_record(st: &mut State, cx: &Ctx, k: NewKey) -> Result<KeyRecord> {
    let external = k.origin == Origin::External;
    let (raw, asym_key) = match k.pregenerated {
        Some(p) => (p.id_bytes, Some(p.key)),
        None => {
            let mut raw = [0u8; 16];
            st.hsm.rng().fill(&mut raw)?;
            (raw, None)
        }
    };
    let key_id = if k.multi_region {
        format!("mrk-{}", hex::encode(raw))
    } else {
        uuid::Builder::from_random_bytes(raw)
            .into_uuid()
            .hyphenated()
            .to_string()
    };
    if st.keys.contains_key(&key_id) {
        return Err(Error::internal("key id collision"));
    }
    let materials = if external {
        vec![]
    } else if k.spec == KeySpec::SymmetricDefault {
        vec![st.new_material(&key_id, cx.now, None)?]
    } else {
        let key =
            asym_key.ok_or_else(|| Error::internal("asymmetric key material was not generated"))?;
        vec![st.new_asym_material(&key_id, key, cx.now)?]
    };
    let mut rotation = RotationSettings::default();
    if st.settings.rotation_required
        && k.manager == KeyManager::Customer
        && k.spec == KeySpec::SymmetricDefault
        && !external
    {
        rotation.enabled = true;
        rotation.period_days = Some(DEFAULT_ROTATION_DAYS);
        rotation.next_rotation_ms = Some(cx.now + DEFAULT_ROTATION_DAYS as u64 * MS_PER_DAY);
    }
    Ok(KeyRecord {
        arn: cx.key_arn(&key_id),
        key_id,
        account: cx.account.to_string(),
        region: cx.region.to_string(),
        created_ms: cx.now,
        description: k.description,
        state: if external {
            KeyState::PendingImport
        } else {
            KeyState::Enabled
        },
        key_spec: k.spec,
        key_usage: k.usage,
        origin: k.origin,
        key_manager: k.manager,
        multi_region: k.multi_region,
        deletion_date_ms: None,
        pending_window_days: None,
        tags: k
            .tags
            .into_iter()
            .map(|t| (t.tag_key, t.tag_value))
            .collect(),
        materials,
        rotation,
        policy: k.policy,
        import: external.then(ImportState::default),
        mrk: k.multi_region.then(|| MultiRegionState {
            primary_region: cx.region.to_string(),
            replica_regions: vec![],
            sequence: 0,
        }),
    })
}

pub const MAX_GRANTS_PER_KEY: usize = 50_000;

fn check_policy_name(name: Option<&str>) -> Result<()> {
    match name {
        None | Some("default") => Ok(()),
        Some(other) => Err(Error::new(
            ErrorCode::NotFound,
            format!("No such policy exists: \"{other}\" (the key policy is named \"default\")"),
        )),
    }
}

fn validate_grant_principal(p: &str, field: &str) -> Result<()> {
    if p.is_empty()
        || p.len() > 256
        || !p
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || "+=,.@:/-".contains(c))
    {
        return Err(Error::validation(format!(
            "{field} must be 1 to 256 characters matching ^[\\w+=,.@:/-]+$"
        )));
    }
    Ok(())
}

fn check_grant_id(g: &str) -> Result<()> {
    if g.len() == 64 && g.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::InvalidGrantId,
            "The grant id is not valid",
        ))
    }
}

fn validate_constraints(c: &GrantConstraints) -> Result<()> {
    if c.encryption_context_subset.is_some() && c.encryption_context_equals.is_some() {
        return Err(Error::validation(
            "Constraints may have EncryptionContextSubset or EncryptionContextEquals, not both",
        ));
    }
    for ctx in [&c.encryption_context_subset, &c.encryption_context_equals]
        .into_iter()
        .flatten()
    {
        if ctx.len() > 8
            || ctx.values().any(|v| v.chars().count() > 384)
            || ctx.keys().any(|k| k.is_empty())
        {
            return Err(Error::validation(
                "grant constraints: at most 8 pairs, non-empty keys, values up to 384 characters",
            ));
        }
    }
    Ok(())
}

fn op_fits_key(op: GrantOperation, rec: &KeyRecord) -> bool {
    use GrantOperation::*;
    match op {
        CreateGrant | RetireGrant | DescribeKey => true,
        Encrypt | Decrypt | ReEncryptFrom | ReEncryptTo => {
            rec.key_usage == KeyUsage::EncryptDecrypt
        }
        GenerateDataKey
        | GenerateDataKeyWithoutPlaintext
        | GenerateDataKeyPair
        | GenerateDataKeyPairWithoutPlaintext => rec.key_spec == KeySpec::SymmetricDefault,
        Sign | Verify => rec.key_usage == KeyUsage::SignVerify,
        GetPublicKey => rec.key_spec != KeySpec::SymmetricDefault,
        GenerateMac | VerifyMac => rec.key_usage == KeyUsage::GenerateVerifyMac,
        DeriveSharedSecret => rec.key_usage == KeyUsage::KeyAgreement,
    }
}

fn validate_identity_target(principal: &str, name: &str) -> Result<()> {
    let parts: Vec<&str> = principal.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && (parts[5].starts_with("user/") || parts[5].starts_with("role/"))
        && parts[5].len() > 5;
    if !ok {
        return Err(Error::validation(
            "identity policies attach to IAM users or roles (arn:aws:iam::ACCOUNT:user/NAME or role/NAME)",
        ));
    }
    if name.is_empty()
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "+=,.@_-".contains(c))
    {
        return Err(Error::validation(
            "PolicyName must be 1 to 128 characters of [\\w+=,.@-]",
        ));
    }
    Ok(())
}

/// Derive the root key a caller presents (for recovery), using the
/// store's passphrase parameters when it has them.
fn candidate_root_key(root: RootKey, kdf: Option<&[u8]>) -> Result<SecretKey> {
    let invalid = || {
        Error::new(
            ErrorCode::InvalidRootKey,
            "the root key does not open this store",
        )
    };
    match (root, kdf) {
        (RootKey::Raw(bytes), None) => Ok(SecretKey::from_bytes(*bytes)),
        (RootKey::Passphrase(pass), Some(k)) => {
            let (kdf, salt) = KdfRecord::parse(k)?;
            argon2_derive(&pass, &salt, kdf.params)
        }
        _ => Err(invalid()),
    }
}

/// The fixed policy of an AWS managed key: usable only through its service
/// by callers in the account; the account may read its metadata.
pub fn aws_managed_policy(account: &str, region: &str, service: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Id":"auto-{service}","Statement":[{{"Sid":"Allow access through {service} for all principals in the account that are authorized to use {service}","Effect":"Allow","Principal":{{"AWS":"*"}},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:DescribeKey"],"Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":"{service}.{region}.amazonaws.com","kms:CallerAccount":"{account}"}}}}}},{{"Sid":"Allow direct access to key metadata to the account","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":["kms:Describe*","kms:Get*","kms:List*"],"Resource":"*"}}]}}"#
    )
}

fn is_rsa(rec: &KeyRecord) -> bool {
    matches!(
        rec.key_spec,
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096
    )
}

fn wrong_usage(rec: &KeyRecord, what: &str) -> Error {
    Error::new(
        ErrorCode::InvalidKeyUsage,
        format!(
            "{} ({} {}) cannot be used to {what}",
            rec.arn, rec.key_spec, rec.key_usage
        ),
    )
}

/// RSA encryption: RSAES_OAEP_SHA_256 must be named, and asymmetric keys take
/// no encryption context (as in AWS).
fn check_rsa_encryption(
    rec: &KeyRecord,
    alg: Option<EncryptionAlgorithm>,
    ctx: Option<&EncryptionContext>,
) -> Result<()> {
    match alg {
        Some(EncryptionAlgorithm::RsaesOaepSha256) => {}
        Some(other) => {
            return Err(Error::new(
                ErrorCode::InvalidKeyUsage,
                format!("{} supports RSAES_OAEP_SHA_256, not {other}", rec.arn),
            ))
        }
        None => {
            return Err(Error::validation(
                "EncryptionAlgorithm is required for asymmetric keys (RSAES_OAEP_SHA_256)",
            ))
        }
    }
    if ctx.is_some_and(|c| !c.is_empty()) {
        return Err(Error::validation(
            "EncryptionContext is not supported with asymmetric keys",
        ));
    }
    Ok(())
}

fn deny_replica(rec: &KeyRecord) -> Result<()> {
    if rec
        .mrk
        .as_ref()
        .is_some_and(|m| m.primary_region != rec.region)
    {
        return Err(Error::new(
            ErrorCode::UnsupportedOperation,
            format!(
                "{} is a multi-Region replica key; rotation settings can be changed only on the primary",
                rec.arn
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- multi-Region keys

/// Shared properties of a multi-Region key, carried authenticated (not
/// encrypted) in a replication package header.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SharedProps {
    key_spec: KeySpec,
    key_usage: KeyUsage,
    origin: Origin,
    created_ms: Millis,
    rotation: RotationSettings,
    materials: Vec<MaterialVersion>,
    primary_region: String,
    material_present: bool,
}

const PACKAGE_MAGIC: &[u8; 4] = b"SRRP";
const PACKAGE_VERSION: u8 = 1;

struct PackageHeader {
    len: usize,
    source_region: String,
    dest_region: String,
    key_id: String,
    sequence: u64,
    props: SharedProps,
}

fn write_package_header(
    src: &str,
    dst: &str,
    key_id: &str,
    seq: u64,
    props: &SharedProps,
) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(props).map_err(|e| Error::internal(e.to_string()))?;
    let mut h = PACKAGE_MAGIC.to_vec();
    h.push(PACKAGE_VERSION);
    for f in [src.as_bytes(), dst.as_bytes()] {
        h.extend_from_slice(&(f.len() as u16).to_be_bytes());
        h.extend_from_slice(f);
    }
    h.push(key_id.len() as u8);
    h.extend_from_slice(key_id.as_bytes());
    h.extend_from_slice(&seq.to_be_bytes());
    h.extend_from_slice(&(json.len() as u32).to_be_bytes());
    h.extend_from_slice(&json);
    Ok(h)
}

fn parse_package_header(p: &[u8]) -> Result<PackageHeader> {
    let bad = Error::invalid_ciphertext;
    let mut r = crate::wire::Reader(p, 0);
    if r.take(4)? != PACKAGE_MAGIC || r.u8()? != PACKAGE_VERSION {
        return Err(bad());
    }
    let l = r.u16()? as usize;
    let source_region = r.utf8(l)?;
    let l = r.u16()? as usize;
    let dest_region = r.utf8(l)?;
    let l = r.u8()? as usize;
    let key_id = r.utf8(l)?;
    let sequence = r.u64()?;
    let jl = r.u32()? as usize;
    let props: SharedProps = serde_json::from_slice(r.take(jl)?).map_err(|_| bad())?;
    if !blob::valid_key_id_chars(&key_id) {
        return Err(bad());
    }
    Ok(PackageHeader {
        len: r.1,
        source_region,
        dest_region,
        key_id,
        sequence,
        props,
    })
}

/// A store that key material may be exported to: registered by the
/// account root ([`Kms::register_replication_destination`]), stored sealed
/// as `trust/<fingerprint>`, listed by [`Kms::list_replication_destinations`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicationDestination {
    /// The destination store's region (packages for it name this region).
    pub region: String,
    /// The destination store's identity key, DER SPKI (P-256), hex.
    pub identity: String,
    /// Hex SHA-256 of the (canonical) SPKI: the entry's name.
    pub fingerprint: String,
    pub registered_ms: Millis,
}

/// The most replication destinations one store may register.
pub const MAX_REPLICATION_DESTINATIONS: usize = 256;

/// A store identity key in canonical DER SPKI form and its fingerprint.
fn canonical_identity(spki: &[u8]) -> Result<(Vec<u8>, String)> {
    use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
    use sha2::{Digest, Sha256};
    let key = p256::PublicKey::from_public_key_der(spki)
        .map_err(|_| Error::validation("the destination identity key is not a P-256 DER SPKI"))?;
    let der = key
        .to_public_key_der()
        .map_err(|_| Error::internal("SPKI"))?
        .as_bytes()
        .to_vec();
    let fp = hex::encode(Sha256::digest(&der));
    Ok((der, fp))
}

/// A region name as a store may have one (the builder's rule, also the
/// rule for a replication destination's region: it names a store).
fn validate_region_name(region: &str) -> Result<()> {
    if region.is_empty()
        || region.len() > 32
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Error::validation(
            "the region must be 1 to 32 characters of a-z, 0-9 and '-'",
        ));
    }
    Ok(())
}

fn untrusted_destination(region: &str, fp: &str) -> Error {
    Error::new(
        ErrorCode::AccessDenied,
        format!(
            "the store with identity {fp} is not a registered replication destination for {region}: \
             key material is only exported to a store the account root registered \
             (RegisterReplicationDestination)"
        ),
    )
}

impl State {
    /// Is the store with this identity registered for `region`?
    fn trusts(&self, spki: &[u8], region: &str) -> Result<bool> {
        let (_, fp) = canonical_identity(spki)?;
        Ok(self.trust.get(&fp).is_some_and(|d| d.region == region))
    }

    /// Register (or re-register for another region) a replication
    /// destination. The caller has checked that the account root asks.
    fn register_destination(
        &mut self,
        cx: &Ctx,
        region: &str,
        spki: &[u8],
    ) -> Result<ReplicationDestination> {
        validate_region_name(region)?;
        if region == cx.region {
            return Err(Error::validation(
                "a replication destination is in another region than this store",
            ));
        }
        let (der, fp) = canonical_identity(spki)?;
        self.ensure_identity()?;
        if self.hsm.identity_public_key()? == der {
            return Err(Error::validation(
                "a store cannot be its own replication destination",
            ));
        }
        if let Some(d) = self.trust.get(&fp) {
            if d.region == region {
                return Ok(d.clone());
            }
        } else if self.trust.len() >= MAX_REPLICATION_DESTINATIONS {
            return Err(Error::new(
                ErrorCode::LimitExceeded,
                format!("a store registers at most {MAX_REPLICATION_DESTINATIONS} replication destinations"),
            ));
        }
        let d = ReplicationDestination {
            region: region.to_string(),
            identity: hex::encode(&der),
            fingerprint: fp.clone(),
            registered_ms: cx.now,
        };
        self.put_json(format!("{TRUST_PREFIX}{fp}"), &d)?;
        self.trust.insert(fp, d.clone());
        Ok(d)
    }

    /// Build a package of a multi-Region primary for `dest_region`, sealed
    /// to `dest_identity`, which must be a registered destination for that
    /// region (checked here, on every path: ExportReplicationPackage,
    /// ReplicateKey and the propagation of a primary's changes).
    fn export_package(
        &mut self,
        cx: &Ctx,
        id: &str,
        dest_region: &str,
        dest_identity: &[u8],
    ) -> Result<Vec<u8>> {
        if !self.trusts(dest_identity, dest_region)? {
            let (_, fp) = canonical_identity(dest_identity)?;
            return Err(untrusted_destination(dest_region, &fp));
        }
        let mut rec = self.rec_checked(cx, id)?.clone();
        let is_primary = rec
            .mrk
            .as_ref()
            .is_some_and(|m| m.primary_region == cx.region);
        if !rec.multi_region || !is_primary {
            return Err(Error::new(
                ErrorCode::UnsupportedOperation,
                format!(
                    "{} is not the primary of a multi-Region key; only a primary can be replicated",
                    rec.arn
                ),
            ));
        }
        if dest_region == cx.region {
            return Err(Error::validation(
                "the replica region must differ from the primary's",
            ));
        }
        self.ensure_identity()?;
        let material_present = rec.import.as_ref().is_none_or(|i| i.present);
        let handles: Vec<MaterialHandle> = if material_present {
            rec.materials
                .iter()
                .map(|m| {
                    let mut material_id = [0u8; 32];
                    hex::decode_to_slice(&m.material_id, &mut material_id)
                        .map_err(|_| Error::internal("malformed material id"))?;
                    Ok(MaterialHandle {
                        key_id: id.to_string(),
                        material_id,
                    })
                })
                .collect::<Result<_>>()?
        } else {
            vec![]
        };
        let m = rec.mrk.as_mut().expect("checked");
        m.sequence += 1;
        let seq = m.sequence;
        let props = SharedProps {
            key_spec: rec.key_spec,
            key_usage: rec.key_usage,
            origin: rec.origin,
            created_ms: rec.created_ms,
            rotation: rec.rotation.clone(),
            materials: rec.materials.clone(),
            primary_region: m.primary_region.clone(),
            material_present,
        };
        let header = write_package_header(cx.region, dest_region, id, seq, &props)?;
        let pkg = self
            .hsm
            .seal_replication_package(&header, &handles, dest_identity)?;
        self.save_key(rec)?;
        Ok(pkg)
    }
}

fn root_of(kms: &Kms) -> Kms {
    kms.as_caller(Caller::account_root(kms.account()))
}

impl Kms {
    /// This store's identity public key (DER SPKI, P-256): other stores
    /// seal replication packages to it.
    pub fn replication_public_key(&self) -> Result<Vec<u8>> {
        self.call("GetReplicationPublicKey", |st, _cx, _au| {
            st.ensure_identity()?;
            st.hsm.identity_public_key()
        })
    }

    /// Is this handle's caller the account root of this store?
    fn is_store_root(&self) -> bool {
        self.caller.validate().is_ok()
            && self.caller.is_account_root()
            && self.caller.account == self.shared.account
    }

    /// Register the store whose identity key (DER SPKI, P-256) is
    /// `identity` as a replication destination for `region`: the only way
    /// key material may later leave this store (ExportReplicationPackage,
    /// ReplicateKey, propagation to linked replicas). Account root only;
    /// audited; stored sealed. Registering the same store again for the same
    /// region changes nothing; for another region, replaces its region.
    pub fn register_replication_destination(
        &self,
        region: &str,
        identity: &[u8],
    ) -> Result<ReplicationDestination> {
        self.call("RegisterReplicationDestination", |st, cx, au| {
            st.require_root(cx, "RegisterReplicationDestination", au)?;
            st.register_destination(cx, region, identity)
        })
    }

    /// Remove a registered replication destination: nothing more is
    /// exported to it (packages already made stay valid for it). Account
    /// root only; audited.
    pub fn remove_replication_destination(&self, identity: &[u8]) -> Result<()> {
        self.call("RemoveReplicationDestination", |st, cx, au| {
            st.require_root(cx, "RemoveReplicationDestination", au)?;
            let (_, fp) = canonical_identity(identity)?;
            if st.trust.remove(&fp).is_none() {
                return Err(Error::new(
                    ErrorCode::NotFound,
                    format!("no replication destination with identity {fp} is registered"),
                ));
            }
            st.batch.push(Mutation::Delete {
                name: format!("{TRUST_PREFIX}{fp}"),
            });
            Ok(())
        })
    }

    /// The registered replication destinations, by fingerprint. Account
    /// root only.
    pub fn list_replication_destinations(&self) -> Result<Vec<ReplicationDestination>> {
        self.call("ListReplicationDestinations", |st, cx, au| {
            st.require_root(cx, "ListReplicationDestinations", au)?;
            Ok(st.trust.values().cloned().collect())
        })
    }

    /// Seal every material version and the shared properties of a
    /// multi-Region primary for the store whose identity key is
    /// `dest_identity`, in `dest_region` (`docs/formats/replication-package.md`).
    /// The package carries the key material (to whoever holds the
    /// destination's identity key), so this is the account root's only:
    /// no policy grants it (`kms:*` included), and the destination must be
    /// registered for `dest_region` beforehand
    /// ([`Kms::register_replication_destination`]). `kms:ReplicateKey` is
    /// checked too, so an explicit Deny in the key policy still refuses it.
    pub fn export_replication_package(
        &self,
        key_id: &str,
        dest_region: &str,
        dest_identity: &[u8],
    ) -> Result<Vec<u8>> {
        self.export_checked(
            "ExportReplicationPackage",
            key_id,
            dest_region,
            dest_identity,
        )
    }

    /// An export as `op`: root-only for ExportReplicationPackage; always
    /// `kms:ReplicateKey` on the key, and a registered destination
    /// (`State::export_package`).
    fn export_checked(
        &self,
        op: &'static str,
        key_id: &str,
        dest_region: &str,
        dest_identity: &[u8],
    ) -> Result<Vec<u8>> {
        self.call(op, |st, cx, au| {
            if op == "ExportReplicationPackage" {
                st.require_root(cx, op, au)?;
            }
            let id = st.resolve(cx, key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:ReplicateKey",
                Some(&id),
                Facts {
                    request_key_id: Some(key_id),
                    ..Default::default()
                },
                au,
            )?;
            let rec = st.rec(&id);
            check_state(OpClass::Metadata, rec.state, &rec.arn)?;
            st.export_package(cx, &id, dest_region, dest_identity)
        })
    }

    /// ReplicateKey's export: `kms:ReplicateKey` on the key (any principal
    /// the policies allow), to a registered destination only.
    fn export_for_replica(
        &self,
        key_id: &str,
        dest_region: &str,
        dest_identity: &[u8],
    ) -> Result<Vec<u8>> {
        self.export_checked("ReplicateKey", key_id, dest_region, dest_identity)
    }

    /// Apply a replication package made for this region by the store whose
    /// identity key is `source_identity`: create the replica, or bring its
    /// material and shared properties up to date. Account root only. A
    /// tampered package is `InvalidCiphertextException`; one that is not
    /// newer than the last applied (a replay) is `ConflictException`.
    pub fn import_replication_package(
        &self,
        package: &[u8],
        source_identity: &[u8],
    ) -> Result<KeyMetadata> {
        self.call("ImportReplicationPackage", |st, cx, au| {
            st.require_root(cx, "ImportReplicationPackage", au)?;
            let h = parse_package_header(package)?;
            au.key_arn = Some(cx.key_arn(&h.key_id));
            if h.dest_region != cx.region {
                return Err(Error::validation(format!(
                    "this package is for region {}, not {}",
                    h.dest_region, cx.region
                )));
            }
            if h.source_region == cx.region {
                return Err(Error::validation("a package cannot come from this same region"));
            }
            let existing = st.keys.get(&h.key_id).cloned();
            if let Some(e) = &existing {
                match &e.mrk {
                    None => {
                        return Err(Error::new(
                            ErrorCode::AlreadyExists,
                            format!("{} exists and is not a multi-Region key", e.arn),
                        ))
                    }
                    Some(m) if h.sequence <= m.sequence => {
                        return Err(Error::new(
                            ErrorCode::Conflict,
                            format!(
                                "replication package {} for {} is not newer than the last applied ({}): a replay or a stale package",
                                h.sequence, e.arn, m.sequence
                            ),
                        ))
                    }
                    Some(m) if m.primary_region == cx.region && h.props.primary_region == cx.region => {
                        return Err(Error::new(ErrorCode::Conflict, format!("{} is the primary here", e.arn)))
                    }
                    _ => {}
                }
            }
            st.ensure_identity()?;
            // The payload must carry exactly the material versions the
            // properties list (none when the material is absent): a record
            // naming a version the store does not hold would fail the whole
            // store's next open.
            let expected: Vec<[u8; 32]> = if h.props.material_present {
                h.props
                    .materials
                    .iter()
                    .map(|m| {
                        let mut id = [0u8; 32];
                        hex::decode_to_slice(&m.material_id, &mut id).map(|_| id).map_err(|_| {
                            Error::validation("the replication package lists a malformed material id")
                        })
                    })
                    .collect::<Result<_>>()?
            } else {
                vec![]
            };
            let installed = st.hsm.open_replication_package(package, h.len, &h.key_id, source_identity, &expected)?;
            for (handle, sealed) in installed {
                st.batch.push(Mutation::Put { name: material_name(&h.key_id, &handle.material_id_hex()), value: sealed });
            }
            let p = h.props;
            let import = (p.origin == Origin::External).then(|| ImportState {
                present: p.material_present,
                ..Default::default()
            });
            let rec = match existing {
                Some(mut r) => {
                    r.key_spec = p.key_spec;
                    r.key_usage = p.key_usage;
                    r.origin = p.origin;
                    r.rotation = p.rotation;
                    r.materials = p.materials;
                    if let Some(m) = r.mrk.as_mut() {
                        m.primary_region = p.primary_region;
                        m.sequence = h.sequence;
                        if m.primary_region != cx.region {
                            m.replica_regions.clear();
                        }
                    }
                    r
                }
                None => {
                    if st.keys.len() >= MAX_KEYS {
                        return Err(Error::new(ErrorCode::LimitExceeded, "The number of keys in this region is at its limit"));
                    }
                    KeyRecord {
                        arn: cx.key_arn(&h.key_id),
                        key_id: h.key_id.clone(),
                        account: cx.account.to_string(),
                        region: cx.region.to_string(),
                        created_ms: cx.now,
                        description: String::new(),
                        state: if import.as_ref().is_some_and(|i| !i.present) { KeyState::PendingImport } else { KeyState::Enabled },
                        key_spec: p.key_spec,
                        key_usage: p.key_usage,
                        origin: p.origin,
                        key_manager: KeyManager::Customer,
                        multi_region: true,
                        deletion_date_ms: None,
                        pending_window_days: None,
                        tags: BTreeMap::new(),
                        materials: p.materials,
                        rotation: p.rotation,
                        policy: Some(default_policy(cx.account)),
                        import,
                        mrk: Some(MultiRegionState { primary_region: p.primary_region, replica_regions: vec![], sequence: h.sequence }),
                    }
                }
            };
            let md = rec.metadata();
            st.save_key(rec)?;
            Ok(md)
        })
    }

    /// Link another region of the same account open in this process:
    /// rotations of primaries reach their replicas there, and a replica's
    /// deletion reaches its primary. Linking also catches up (replicas get
    /// their primary's current material and settings).
    ///
    /// Both handles must act as their store's account root (linking tells a
    /// primary which replicas are gone, and registers each store as a
    /// replication destination of the other, audited in both).
    pub fn link_region(&self, other: &Kms) -> Result<()> {
        if other.account() != self.account() || other.region() == self.region() {
            return Err(Error::validation(
                "link regions of the same account, different regions",
            ));
        }
        for k in [self, other] {
            if !k.is_store_root() {
                return k.call("LinkRegion", |st, cx, au| {
                    st.require_root(cx, "LinkRegion", au)
                });
            }
        }
        let self_id = self.replication_public_key()?;
        let other_id = other.replication_public_key()?;
        self.register_replication_destination(other.region(), &other_id)?;
        other.register_replication_destination(self.region(), &self_id)?;
        self.link_unchecked(other)
    }

    /// Link two regions (see [`Kms::link_region`]) once the caller has been
    /// authorized for what needs the link: no check, and no trust is added
    /// (every export still needs a registered destination).
    fn link_unchecked(&self, other: &Kms) -> Result<()> {
        if other.account() != self.account() || other.region() == self.region() {
            return Err(Error::validation(
                "link regions of the same account, different regions",
            ));
        }
        self.shared
            .links
            .lock()
            .map_err(|_| Error::internal("lock"))?
            .insert(other.region().into(), Arc::downgrade(&other.shared));
        other
            .shared
            .links
            .lock()
            .map_err(|_| Error::internal("lock"))?
            .insert(self.region().into(), Arc::downgrade(&self.shared));
        for (a, b) in [(self, other), (other, self)] {
            let primaries: Vec<String> = {
                let st = a.lock()?;
                st.keys
                    .values()
                    .filter(|k| {
                        k.mrk.as_ref().is_some_and(|m| {
                            m.primary_region == k.region
                                && m.replica_regions.iter().any(|r| r == b.region())
                        })
                    })
                    .map(|k| k.key_id.clone())
                    .collect()
            };
            // Replicas deleted while unlinked: tell the primary.
            let gone: Vec<(String, String)> = {
                let st = b.lock()?;
                primaries
                    .iter()
                    .filter(|k| !st.keys.contains_key(*k))
                    .map(|k| (k.clone(), a.region().to_string()))
                    .collect()
            };
            for (k, _) in &gone {
                root_of(a).replica_gone(k, b.region())?;
            }
            a.propagate(&primaries, &[]);
        }
        Ok(())
    }

    /// Export for propagating a primary's change: a system action, not
    /// subject to the key policy (the replica relationship was authorized
    /// when ReplicateKey ran).
    fn export_for_propagation(
        &self,
        key_id: &str,
        dest_region: &str,
        dest_identity: &[u8],
    ) -> Result<Vec<u8>> {
        root_of(self).call("ReplicateKey", |st, cx, au| {
            au.key_arn = Some(cx.key_arn(key_id));
            au.decision =
                Some("allow: propagation of a multi-Region primary's change to its replica".into());
            st.export_package(cx, key_id, dest_region, dest_identity)
        })
    }

    fn resolve_id(&self, key_id: &str) -> Result<String> {
        let st = self.lock()?;
        let sh = &*self.shared;
        let cx = Ctx {
            now: sh.clock.now_ms(),
            caller: &self.caller,
            account: &sh.account,
            region: &sh.region,
            partition: &sh.partition,
        };
        st.resolve(&cx, key_id)
    }

    fn linked(&self, region: &str) -> Option<Kms> {
        let links = self.shared.links.lock().ok()?;
        links.get(region).and_then(Weak::upgrade).map(|shared| Kms {
            caller: Caller::account_root(&shared.account),
            shared,
        })
    }

    /// After a call: push changed primaries to their linked replicas, and
    /// tell linked primaries about deleted replicas. Best effort: a replica
    /// that cannot be reached catches up when the regions are linked again.
    fn propagate(&self, dirty: &[String], purged: &[(String, String)]) {
        for key in dirty {
            let regions: Vec<String> = match self.lock() {
                Ok(st) => st
                    .keys
                    .get(key)
                    .and_then(|k| k.mrk.as_ref())
                    .map(|m| m.replica_regions.clone())
                    .unwrap_or_default(),
                Err(_) => return,
            };
            for r in regions {
                let Some(replica) = self.linked(&r) else {
                    continue;
                };
                let (Ok(dest_id), Ok(src_id)) = (
                    replica.replication_public_key(),
                    root_of(self).replication_public_key(),
                ) else {
                    continue;
                };
                if let Ok(pkg) = self.export_for_propagation(key, &r, &dest_id) {
                    let _ = replica.import_replication_package(&pkg, &src_id);
                }
            }
        }
        for (key, primary_region) in purged {
            if let Some(primary) = self.linked(primary_region) {
                let _ = primary.replica_gone(key, self.region());
            }
        }
    }

    /// A replica of `key_id` in `region` is gone: forget it; a primary
    /// waiting in PendingReplicaDeletion starts its own window when the
    /// last replica is gone.
    fn replica_gone(&self, key_id: &str, region: &str) -> Result<()> {
        self.call("ReplicaDeleted", |st, cx, au| {
            au.key_arn = Some(cx.key_arn(key_id));
            let Some(mut rec) = st.keys.get(key_id).cloned() else {
                return Ok(());
            };
            let Some(m) = rec.mrk.as_mut() else {
                return Ok(());
            };
            m.replica_regions.retain(|r| r != region);
            if m.replica_regions.is_empty() && rec.state == KeyState::PendingReplicaDeletion {
                rec.state = KeyState::PendingDeletion;
                rec.deletion_date_ms = Some(
                    cx.now
                        + rec
                            .pending_window_days
                            .unwrap_or(DEFAULT_PENDING_WINDOW_DAYS)
                            as u64
                            * MS_PER_DAY,
                );
            }
            st.save_key(rec)
        })
    }

    /// ReplicateKey into `replica` (this account's KMS for `req.replica_region`,
    /// open in this process). The replica shares the key id, every material
    /// version, origin, spec, usage and rotation settings; its policy,
    /// grants, aliases, description, tags and enabled state are its own.
    ///
    /// Key material only goes to a registered replication destination: the
    /// replica's store must be registered for `req.replica_region`
    /// ([`Kms::register_replication_destination`]); when the account root
    /// itself calls, ReplicateKey registers it (audited), and registers this
    /// store in the replica's store in turn (for a later
    /// UpdatePrimaryRegion). Any other principal, even with `kms:*`, is
    /// refused for an unregistered replica store.
    pub fn replicate_key(
        &self,
        req: ReplicateKeyRequest,
        replica: &Kms,
    ) -> Result<ReplicateKeyResponse> {
        if replica.account() != self.account() {
            return Err(Error::validation(
                "the replica region must belong to the same account",
            ));
        }
        if replica.region() != req.replica_region {
            return Err(Error::validation(format!(
                "the KMS given is for {}, not {}",
                replica.region(),
                req.replica_region
            )));
        }
        let key_id = self.resolve_id(&req.key_id)?;
        if replica.lock()?.keys.contains_key(&key_id) {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("{key_id} already has a replica in {}", req.replica_region),
            ));
        }
        if let Some(p) = &req.policy {
            validate_policy_text(p)?;
            let parsed = policy::parse(p, PolicyKind::Key)?;
            // The lockout safety check, before anything is created.
            if !req.bypass_policy_lockout_safety_check
                && !self.would_allow_put_policy(&key_id, &parsed)?
            {
                return Err(lockout_error());
            }
        }
        validate_tags(&req.tags)?;
        // The caller needs kms:CreateKey in the replica region too.
        replica
            .as_caller(self.caller.clone())
            .call("ReplicateKey", |st, cx, au| {
                au.key_arn = Some(cx.key_arn(&key_id));
                st.authorize(cx, "kms:CreateKey", None, Facts::default(), au)
                    .map(drop)
            })?;
        let dest_id = root_of(replica).replication_public_key()?;
        let src_id = root_of(self).replication_public_key()?;
        let by_root = self.is_store_root();
        if by_root {
            self.register_replication_destination(&req.replica_region, &dest_id)?;
        }
        // kms:ReplicateKey, and the replica store must be registered.
        let pkg = self.export_for_replica(&key_id, &req.replica_region, &dest_id)?;
        let dest = root_of(replica);
        if by_root {
            dest.register_replication_destination(self.region(), &src_id)?;
        }
        dest.import_replication_package(&pkg, &src_id)?;
        if let Some(d) = &req.description {
            dest.update_key_description(UpdateKeyDescriptionRequest {
                key_id: key_id.clone(),
                description: d.clone(),
            })?;
        }
        if !req.tags.is_empty() {
            dest.tag_resource(TagResourceRequest {
                key_id: key_id.clone(),
                tags: req.tags.clone(),
            })?;
        }
        if let Some(p) = &req.policy {
            dest.call("PutKeyPolicy", |st, cx, au| {
                au.key_arn = Some(cx.key_arn(&key_id));
                au.decision = Some("allow PutKeyPolicy: replica policy set by ReplicateKey".into());
                let mut rec = st.rec_checked(cx, &key_id)?.clone();
                rec.policy = Some(p.clone());
                st.save_key(rec)
            })?;
        }
        let region = req.replica_region.clone();
        self.call("ReplicateKey", |st, cx, au| {
            au.key_arn = Some(cx.key_arn(&key_id));
            let mut rec = st.rec_checked(cx, &key_id)?.clone();
            if let Some(m) = rec.mrk.as_mut() {
                if !m.replica_regions.contains(&region) {
                    m.replica_regions.push(region.clone());
                }
            }
            st.save_key(rec)
        })?;
        self.link_unchecked(replica)?;
        let (md, policy, tags) = {
            let st = replica.lock()?;
            let rec = st.keys.get(&key_id).ok_or_else(|| {
                Error::not_found_arn(&format!(
                    "arn:{}:kms:{}:{}:key/{key_id}",
                    replica.shared.partition,
                    replica.region(),
                    replica.account()
                ))
            })?;
            (
                rec.metadata(),
                rec.policy.clone().unwrap_or_default(),
                rec.tags
                    .iter()
                    .map(|(k, v)| Tag::new(k.clone(), v.clone()))
                    .collect::<Vec<_>>(),
            )
        };
        Ok(ReplicateKeyResponse {
            replica_key_metadata: md,
            replica_policy: policy,
            replica_tags: tags,
        })
    }

    /// UpdatePrimaryRegion: make the replica in `new_primary`'s region the
    /// primary; this key becomes a replica. Both regions must be open here.
    ///
    /// The new primary then pushes the key's material to the old primary
    /// and the other linked replicas, so their stores must be registered
    /// replication destinations of the new primary's store: the account
    /// root's call registers them (audited); any other caller is refused,
    /// before anything changes, if one is not.
    pub fn update_primary_region(&self, key_id: &str, new_primary: &Kms) -> Result<()> {
        if new_primary.account() != self.account() || new_primary.region() == self.region() {
            return Err(Error::validation(
                "the new primary must be a region of the same account",
            ));
        }
        let new_region = new_primary.region().to_string();
        // Permission is needed on both keys; check the replica's first,
        // before anything changes.
        let id = self.resolve_id(key_id)?;
        let as_me = new_primary.as_caller(self.caller.clone());
        as_me.call("UpdatePrimaryRegion", |st, cx, au| {
            let rid = st.resolve(cx, &id)?;
            au.key_arn = Some(cx.key_arn(&rid));
            st.authorize(
                cx,
                "kms:UpdatePrimaryRegion",
                Some(&rid),
                Facts::default(),
                au,
            )
            .map(drop)
        })?;
        // Where the new primary will push: this store and the other linked
        // replicas. Each must be a registered destination of its store.
        let replica_regions: Vec<String> = {
            let st = self.lock()?;
            st.keys
                .get(&id)
                .and_then(|k| k.mrk.as_ref())
                .map(|m| m.replica_regions.clone())
                .unwrap_or_default()
        };
        let mut targets = vec![root_of(self)];
        targets.extend(
            replica_regions
                .iter()
                .filter(|r| **r != new_region)
                .filter_map(|r| self.linked(r)),
        );
        let by_root = self.is_store_root();
        for t in &targets {
            let t_id = t.replication_public_key()?;
            if by_root {
                root_of(new_primary).register_replication_destination(t.region(), &t_id)?;
            } else if !new_primary.lock()?.trusts(&t_id, t.region())? {
                let (_, fp) = canonical_identity(&t_id)?;
                return as_me.call("UpdatePrimaryRegion", |_, cx, au| {
                    au.key_arn = Some(cx.key_arn(&id));
                    au.decision = Some(format!(
                        "deny UpdatePrimaryRegion: {} is not a registered replication destination",
                        t.region()
                    ));
                    Err(untrusted_destination(t.region(), &fp))
                });
            }
        }
        let (id, others, seq) = self.call("UpdatePrimaryRegion", |st, cx, au| {
            let id = st.resolve(cx, key_id)?;
            au.key_arn = Some(cx.key_arn(&id));
            st.authorize(
                cx,
                "kms:UpdatePrimaryRegion",
                Some(&id),
                Facts {
                    request_key_id: Some(key_id),
                    ..Default::default()
                },
                au,
            )?;
            let mut rec = st.rec(&id).clone();
            check_state(OpClass::EnableDisable, rec.state, &rec.arn)?;
            let Some(m) = rec.mrk.as_mut().filter(|m| m.primary_region == cx.region) else {
                return Err(Error::new(
                    ErrorCode::UnsupportedOperation,
                    format!("{} is not a multi-Region primary key", rec.arn),
                ));
            };
            if !m.replica_regions.contains(&new_region) {
                return Err(Error::new(
                    ErrorCode::NotFound,
                    format!("{} has no replica in {new_region}", rec.arn),
                ));
            }
            let mut others: Vec<String> = m
                .replica_regions
                .iter()
                .filter(|r| **r != new_region)
                .cloned()
                .collect();
            others.push(cx.region.to_string());
            m.primary_region = new_region.clone();
            m.replica_regions.clear();
            let seq = m.sequence;
            st.save_key(rec)?;
            Ok((id, others, seq))
        })?;
        // The new primary must reach every replica: give it the old
        // primary's links before its change is propagated.
        self.link_unchecked(new_primary)?;
        let regions: Vec<String> = {
            let links = self
                .shared
                .links
                .lock()
                .map_err(|_| Error::internal("lock"))?;
            links.keys().cloned().collect()
        };
        let peers: Vec<Kms> = regions.iter().filter_map(|r| self.linked(r)).collect();
        for peer in peers.iter().filter(|p| p.region() != new_primary.region()) {
            new_primary.link_unchecked(peer)?;
        }
        let to = root_of(new_primary);
        to.call("UpdatePrimaryRegion", |st, cx, au| {
            au.key_arn = Some(cx.key_arn(&id));
            let mut rec = st.rec_checked(cx, &id)?.clone();
            if let Some(m) = rec.mrk.as_mut() {
                m.primary_region = cx.region.to_string();
                m.replica_regions = others.clone();
                m.sequence = m.sequence.max(seq);
            }
            st.save_key(rec)?;
            st.mark_mrk_dirty(&id);
            Ok(())
        })
    }

    /// Would the caller still be allowed PutKeyPolicy on `key_id` under
    /// `policy` (the lockout safety check, evaluated in this region)?
    fn would_allow_put_policy(&self, key_id: &str, policy: &Policy) -> Result<bool> {
        let st = self.lock()?;
        let sh = &*self.shared;
        let cx = Ctx {
            now: sh.clock.now_ms(),
            caller: &self.caller,
            account: &sh.account,
            region: &sh.region,
            partition: &sh.partition,
        };
        let rec = st.rec_checked(&cx, key_id)?;
        Ok(st.allows_put_policy(&self.caller, cx.now, rec, policy))
    }

    /// ReEncrypt from a key in this region to a key in `dest`'s region
    /// (cross-region migration of single-Region keys): decrypted in this
    /// HSM, encrypted in the destination's; the plaintext never reaches the
    /// caller. Needs kms:ReEncryptFrom here and kms:ReEncryptTo there.
    pub fn re_encrypt_to_region(
        &self,
        req: ReEncryptRequest,
        dest: &Kms,
    ) -> Result<ReEncryptResponse> {
        // DryRun: both halves are checked (kms:ReEncryptFrom here,
        // kms:ReEncryptTo and the key's state there); nothing is decrypted.
        let src = match self.call("ReEncrypt", |st, cx, au| {
            au.context = Some(req.source_encryption_context.clone());
            st.validate_grant_tokens(&req.grant_tokens)?;
            let src_enc = canonical_encoding(&req.source_encryption_context)?;
            let (parsed, rec) = Self::source_key(
                st,
                cx,
                "kms:ReEncryptFrom",
                &req.ciphertext_blob,
                req.source_key_id.as_deref(),
                req.source_encryption_algorithm,
                &req.source_encryption_context,
                au,
            )?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let pt = st.hsm.decrypt(&parsed, &src_enc)?;
            Ok((pt, rec.arn.clone(), crate::hsm::hex_id(parsed.material_id)))
        }) {
            Err(e) if req.dry_run && e.code() == ErrorCode::DryRunOperation => None,
            other => Some(other?),
        };
        let to = dest.as_caller(self.caller.clone());
        to.call("ReEncrypt", |st, cx, au| {
            au.context = Some(req.destination_encryption_context.clone());
            let dst_enc = canonical_encoding(&req.destination_encryption_context)?;
            let dst_id = st.resolve(cx, &req.destination_key_id)?;
            st.authorize(
                cx,
                "kms:ReEncryptTo",
                Some(&dst_id),
                Facts {
                    request_key_id: Some(&req.destination_key_id),
                    encryption_context: Some(&req.destination_encryption_context),
                    ..Default::default()
                },
                au,
            )?;
            let dst = st.rec(&dst_id);
            au.key_arn = Some(dst.arn.clone());
            check_state(OpClass::Crypto, dst.state, &dst.arn)?;
            check_symmetric_encrypt(dst, req.destination_encryption_algorithm)?;
            let Some((pt, source_arn, source_material)) = &src else {
                return Err(dry_run_ok());
            };
            let handle = st.current_handle(dst)?;
            let blob = st.hsm.encrypt(&handle, &dst_enc, pt.as_bytes())?;
            Ok(ReEncryptResponse {
                ciphertext_blob: blob,
                source_key_id: source_arn.clone(),
                key_id: dst.arn.clone(),
                source_encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
                destination_encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
                source_key_material_id: source_material.clone(),
                destination_key_material_id: handle.material_id_hex(),
            })
        })
    }
}

/// AWS's refusal for a policy that fails the lockout safety check.
fn lockout_error() -> Error {
    Error::new(
        ErrorCode::MalformedPolicyDocument,
        "The new key policy will not allow you to update the key policy in the future.",
    )
}

#[cfg(test)]
mod replication_tests {
    use super::*;
    use crate::env::ManualClock;

    const ACCOUNT: &str = "111122223333";
    const T0: u64 = 1_767_225_600_000;

    /// Issue 14 item 20: a replication package whose header lists material
    /// versions its payload lacks is refused at import. It used to be
    /// installed, and then the destination store failed to open at all
    /// (`StoreCorruptedException`: a key missing a material version).
    #[test]
    fn packages_missing_listed_material_are_refused_at_import() {
        let clock = ManualClock::new(T0);
        let us = Kms::builder(ACCOUNT, "us-east-1")
            .clock(clock.clone())
            .in_memory()
            .unwrap();
        let mem = MemoryStore::new();
        let open_eu = || {
            Kms::builder(ACCOUNT, "eu-west-1")
                .clock(clock.clone())
                .open(mem.clone(), RootKey::raw([5; 32]))
                .unwrap()
        };
        let eu = open_eu();
        let key = us
            .create_key(CreateKeyRequest {
                multi_region: true,
                ..Default::default()
            })
            .unwrap()
            .key_metadata
            .key_id;
        us.rotate_key_on_demand(KeyIdRequest {
            key_id: key.clone(),
        })
        .unwrap();
        let eu_id = eu.replication_public_key().unwrap();
        let us_id = us.replication_public_key().unwrap();
        // A package made by the source's own HSM, honestly sealed, whose
        // properties list both versions but whose payload holds only the
        // first (or none, or a version twice).
        let forge = |which: &[usize]| -> Vec<u8> {
            let st = us.lock().unwrap();
            let rec = st.rec(&key).clone();
            let handles: Vec<MaterialHandle> = rec
                .materials
                .iter()
                .map(|m| {
                    let mut material_id = [0u8; 32];
                    hex::decode_to_slice(&m.material_id, &mut material_id).unwrap();
                    MaterialHandle {
                        key_id: key.clone(),
                        material_id,
                    }
                })
                .collect();
            let props = SharedProps {
                key_spec: rec.key_spec,
                key_usage: rec.key_usage,
                origin: rec.origin,
                created_ms: rec.created_ms,
                rotation: rec.rotation.clone(),
                materials: rec.materials.clone(),
                primary_region: "us-east-1".into(),
                material_present: true,
            };
            assert_eq!(props.materials.len(), 2);
            let header = write_package_header("us-east-1", "eu-west-1", &key, 1, &props).unwrap();
            let chosen: Vec<MaterialHandle> = which.iter().map(|i| handles[*i].clone()).collect();
            st.hsm
                .seal_replication_package(&header, &chosen, &eu_id)
                .unwrap()
        };
        for which in [&[0][..], &[], &[1, 1], &[0, 1, 1]] {
            let e = eu
                .import_replication_package(&forge(which), &us_id)
                .unwrap_err();
            assert_eq!(e.code(), ErrorCode::Validation, "{which:?}: {e}");
        }
        assert!(eu
            .list_keys(ListKeysRequest::default())
            .unwrap()
            .keys
            .is_empty());
        drop(eu);
        // The destination still opens, and a complete package imports.
        let eu = open_eu();
        eu.import_replication_package(&forge(&[1, 0]), &us_id)
            .unwrap();
        drop(eu);
        let eu = open_eu();
        assert_eq!(
            eu.list_keys(ListKeysRequest::default()).unwrap().keys.len(),
            1
        );
    }
}
