//! The KMS engine: key records, the state machine, aliases, rotation,
//! deletion, crypto operations and the audit log, over an injected clock,
//! RNG and store. All key bytes stay inside [`crate::hsm`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::api::*;
use crate::audit::{self, AuditEvent, AuditHead, AuditVerification, BodyRef, StoredEvent};
use crate::blob;
use crate::context::{canonical_encoding, EncryptionContext};
use crate::env::{Clock, Millis, OsRng, Rng, SystemClock, MS_PER_DAY};
use crate::error::{Error, ErrorCode, Result};
use crate::hsm::{Hsm, MaterialHandle, SecretKey};
use crate::model::*;
use crate::secret::Plaintext;
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Caller {
    pub principal_arn: String,
    pub account: String,
    /// e.g. `s3.us-east-1.amazonaws.com` when a service calls on the
    /// principal's behalf (the `kms:ViaService` condition key).
    pub via_service: Option<String>,
}

impl Caller {
    /// The account root principal, `arn:aws:iam::ACCOUNT:root`.
    pub fn account_root(account: &str) -> Self {
        Caller {
            principal_arn: format!("arn:aws:iam::{account}:root"),
            account: account.to_string(),
            via_service: None,
        }
    }
    pub fn iam_user(account: &str, name: &str) -> Self {
        Caller {
            principal_arn: format!("arn:aws:iam::{account}:user/{name}"),
            account: account.to_string(),
            via_service: None,
        }
    }
    pub fn iam_role(account: &str, name: &str) -> Self {
        Caller {
            principal_arn: format!("arn:aws:iam::{account}:role/{name}"),
            account: account.to_string(),
            via_service: None,
        }
    }
    pub fn via_service(mut self, service: &str) -> Self {
        self.via_service = Some(service.to_string());
        self
    }
}

// ---------------------------------------------------------------- root key

/// The key that seals the store: 32 raw bytes from the application, or a
/// passphrase stretched with Argon2id. Zeroized on drop; Debug redacted.
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
}

// ---------------------------------------------------------------- engine state

struct Ctx<'a> {
    now: Millis,
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
        self.put_json(key_name(&rec.key_id), &rec)?;
        self.keys.insert(rec.key_id.clone(), rec);
        Ok(())
    }

    fn save_alias(&mut self, a: AliasEntry) -> Result<()> {
        self.put_json(alias_store_name(&a.alias_name), &a)?;
        self.aliases.insert(a.alias_name.clone(), a);
        Ok(())
    }

    fn remove_alias(&mut self, name: &str) {
        self.aliases.remove(name);
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

    fn rotate(&mut self, key_id: &str, now: Millis, kind: RotationType) -> Result<()> {
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
            for m in &rec.materials {
                self.batch.push(Mutation::Delete {
                    name: material_name(key_id, &m.material_id),
                });
            }
            self.batch.push(Mutation::Delete {
                name: key_name(key_id),
            });
            self.hsm.destroy_key(key_id);
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
            .filter_map(|k| match k.state {
                KeyState::PendingDeletion => k.deletion_date_ms,
                KeyState::Enabled if k.rotation.enabled => k.rotation.next_rotation_ms,
                _ => None,
            })
            .min()
            .unwrap_or(Millis::MAX);
    }

    /// Purge keys whose deletion window passed and rotate keys that are due.
    fn sweep(&mut self, now: Millis) -> Result<()> {
        if now < self.next_deadline {
            return Ok(());
        }
        let due: Vec<(String, bool)> = self
            .keys
            .values()
            .filter_map(|k| match k.state {
                KeyState::PendingDeletion if k.deletion_date_ms.is_some_and(|d| d <= now) => {
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
        self.recompute_deadline();
        Ok(())
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

    fn rec(&self, id: &str) -> &KeyRecord {
        &self.keys[id]
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
        self.store.apply(batch)?;
        if let Some(head) = new_head {
            self.audit_head = head;
            self.audit_buf.clear();
        }
        if state_changed {
            self.recompute_deadline();
        }
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
            let kdf: KdfRecord = match entries.get(KDF_NAME) {
                Some(v) => serde_json::from_slice(v)
                    .map_err(|_| Error::corrupted("the passphrase parameters are unreadable"))?,
                None if is_new => {
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
                    k
                }
                None => {
                    return Err(Error::new(
                        ErrorCode::InvalidRootKey,
                        "this store is sealed with a raw root key, not a passphrase",
                    ))
                }
            };
            if kdf.alg != "argon2id-v19" {
                return Err(Error::new(
                    ErrorCode::UnsupportedStoreVersion,
                    format!("unknown passphrase KDF '{}'", kdf.alg),
                ));
            }
            let salt =
                hex::decode(&kdf.salt).map_err(|_| Error::corrupted("bad passphrase salt"))?;
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
    };
    if is_new {
        st.put_sealed(CHECK_NAME.into(), CHECK_VALUE)?;
        st.put_json(IDENTITY_NAME.into(), ident)?;
        let settings = st.settings.clone();
        st.put_json(SETTINGS_NAME.into(), &settings)?;
        let batch = std::mem::take(&mut st.batch);
        st.store.apply(batch)?;
        return Ok(st);
    }
    // An existing store: check the root key before anything else; write nothing.
    let check = entries
        .get(CHECK_NAME)
        .ok_or_else(|| Error::corrupted("the store has no root key check entry"))?;
    match st.hsm.open_value(CHECK_NAME, check) {
        Some(v) if v.as_slice() == CHECK_VALUE => {}
        _ => {
            return Err(Error::new(
                ErrorCode::InvalidRootKey,
                "the root key does not open this store",
            ))
        }
    }
    let open_json = |st: &State, name: &str, v: &[u8]| -> Result<Vec<u8>> {
        st.hsm
            .open_value(name, v)
            .map(|z| z.to_vec())
            .ok_or_else(|| Error::corrupted(format!("store entry '{name}' failed authentication")))
    };
    let id_json = open_json(
        &st,
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
    for (name, v) in &entries {
        let parse_err = || Error::corrupted(format!("store entry '{name}' is unreadable"));
        if let Some(id) = name.strip_prefix("key/") {
            let rec: KeyRecord =
                serde_json::from_slice(&open_json(&st, name, v)?).map_err(|_| parse_err())?;
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
                serde_json::from_slice(&open_json(&st, name, v)?).map_err(|_| parse_err())?;
            st.aliases.insert(a.alias_name.clone(), a);
        } else if name == SETTINGS_NAME {
            st.settings =
                serde_json::from_slice(&open_json(&st, name, v)?).map_err(|_| parse_err())?;
        } else if name == AUDIT_HEAD_NAME {
            st.audit_head =
                serde_json::from_slice(&open_json(&st, name, v)?).map_err(|_| parse_err())?;
        } else if name == AUDIT_BASE_NAME {
            st.audit_base =
                serde_json::from_slice(&open_json(&st, name, v)?).map_err(|_| parse_err())?;
        }
    }
    st.audit_last = decode_hash(&st.audit_head.hash)?;
    // Every recorded material version must be present.
    for rec in st.keys.values() {
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
    Ok(st)
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
        let r = &self.region;
        if r.is_empty()
            || r.len() > 32
            || !r
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Error::validation(
                "the region must be 1 to 32 characters of a-z, 0-9 and '-'",
            ));
        }
        Ok(())
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
            account: &sh.account,
            region: &sh.region,
            partition: &sh.partition,
        };
        let mut info = AuditInfo::default();
        let result = st.sweep(cx.now).and_then(|_| f(&mut st, &cx, &mut info));
        // A closure validates before it changes anything, so a failed call
        // leaves no partial change; changes made by the sweep are kept (they
        // do not depend on the call).
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
        if let Err(e) = st.commit(false) {
            // Nothing was written. Record the call as failed with the store
            // error (it stays buffered for the next successful write), then
            // rebuild keys and aliases from the store.
            st.batch.clear();
            st.pop_audit();
            st.audit(&BodyRef {
                seq,
                ..body(e.code().as_str())
            })?;
            drop(st);
            self.reload()?;
            return Err(e);
        }
        result
    }

    fn reload(&self) -> Result<()> {
        // Rebuild from the store; the root key is still inside the HSM, so
        // reuse the loaded state's store and re-read.
        let mut st = self.lock()?;
        let entries = st.store.load()?;
        let mut keys = BTreeMap::new();
        let mut aliases = BTreeMap::new();
        for (name, v) in &entries {
            if name.starts_with("key/") {
                if let Some(j) = st.hsm.open_value(name, v) {
                    if let Ok(rec) = serde_json::from_slice::<KeyRecord>(&j) {
                        keys.insert(rec.key_id.clone(), rec);
                    }
                }
            } else if name.starts_with("alias/") {
                if let Some(j) = st.hsm.open_value(name, v) {
                    if let Ok(a) = serde_json::from_slice::<AliasEntry>(&j) {
                        aliases.insert(a.alias_name.clone(), a);
                    }
                }
            } else if name == AUDIT_HEAD_NAME {
                if let Some(j) = st.hsm.open_value(name, v) {
                    if let Ok(h) = serde_json::from_slice(&j) {
                        st.audit_head = h;
                    }
                }
            } else if name == AUDIT_BASE_NAME {
                if let Some(j) = st.hsm.open_value(name, v) {
                    if let Ok(b) = serde_json::from_slice(&j) {
                        st.audit_base = b;
                    }
                }
            }
        }
        st.keys = keys;
        st.aliases = aliases;
        st.audit_last = match st.audit_buf.last() {
            Some(e) => e.hash,
            None => decode_hash(&st.audit_head.hash)?,
        };
        st.recompute_deadline();
        Ok(())
    }

    // ------------------------------------------------------------ keys

    pub fn create_key(&self, req: CreateKeyRequest) -> Result<CreateKeyResponse> {
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
            }
            let spec = req.key_spec.unwrap_or(KeySpec::SymmetricDefault);
            let usage = req.key_usage.unwrap_or(KeyUsage::EncryptDecrypt);
            let origin = req.origin.unwrap_or(Origin::AwsKms);
            if spec != KeySpec::SymmetricDefault {
                return Err(Error::new(
                    ErrorCode::UnsupportedOperation,
                    format!("KeySpec {spec} is not supported by this version of Strongroom"),
                ));
            }
            if usage != KeyUsage::EncryptDecrypt {
                return Err(Error::validation(format!(
                    "KeyUsage {usage} is not compatible with KeySpec {spec}"
                )));
            }
            if origin != Origin::AwsKms {
                return Err(Error::new(
                    ErrorCode::UnsupportedOperation,
                    format!("Origin {origin} is not supported by this version of Strongroom"),
                ));
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
                    description,
                    manager: KeyManager::Customer,
                    multi_region: req.multi_region,
                    tags: req.tags,
                    policy: Some(req.policy.unwrap_or_else(|| default_policy(cx.account))),
                },
            )?;
            au.key_arn = Some(rec.arn.clone());
            let md = rec.metadata();
            st.save_key(rec)?;
            Ok(CreateKeyResponse { key_metadata: md })
        })
    }

    /// Get or create the AWS-managed key for an integrated service
    /// (`alias/aws/<service>`): rotates yearly; cannot be disabled, deleted,
    /// or have its rotation changed.
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
                let md = st.rec(&a.target_key_id).metadata();
                au.key_arn = Some(md.arn.clone());
                return Ok(md);
            }
            let mut rec = new_key_record(
                st,
                cx,
                NewKey {
                    description: format!(
                        "Default key that protects my {service} data when no other key is defined"
                    ),
                    manager: KeyManager::Aws,
                    multi_region: false,
                    tags: vec![],
                    policy: Some(default_policy(cx.account)),
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
            validate_grant_tokens(&req.grant_tokens)?;
            let id = st.resolve(cx, &req.key_id)?;
            let md = st.rec(&id).metadata();
            au.key_arn = Some(md.arn.clone());
            Ok(DescribeKeyResponse { key_metadata: md })
        })
    }

    pub fn list_keys(&self, req: ListKeysRequest) -> Result<ListKeysResponse> {
        self.call("ListKeys", |st, _cx, _au| {
            let limit = limit_of(req.limit, 100)?;
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
            let mut rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::ScheduleDeletion, rec.state, &rec.arn)?;
            deny_aws_managed(&rec)?;
            rec.state = KeyState::PendingDeletion;
            rec.deletion_date_ms = Some(cx.now + days as u64 * MS_PER_DAY);
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
            let mut rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::CancelDeletion, rec.state, &rec.arn)?;
            rec.state = KeyState::Disabled;
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
            au.key_arn = Some(cx.key_arn(&a.target_key_id));
            st.remove_alias(&req.alias_name);
            Ok(())
        })
    }

    pub fn list_aliases(&self, req: ListAliasesRequest) -> Result<ListAliasesResponse> {
        self.call("ListAliases", |st, cx, au| {
            let limit = limit_of(req.limit, 50)?;
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
                aliases,
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
            validate_grant_tokens(&req.grant_tokens)?;
            if req.plaintext.is_empty() || req.plaintext.len() > MAX_PLAINTEXT {
                return Err(Error::validation("Plaintext must be 1 to 4096 bytes"));
            }
            let id = st.resolve(cx, &req.key_id)?;
            let rec = st.rec(&id);
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::Crypto, rec.state, &rec.arn)?;
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
    fn source_key<'s>(
        st: &'s State,
        cx: &Ctx,
        blob_bytes: &'s [u8],
        key_id: Option<&str>,
        alg: Option<EncryptionAlgorithm>,
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
        check_state(OpClass::Crypto, rec.state, &rec.arn)?;
        check_symmetric_encrypt(rec, alg)?;
        Ok((parsed, rec))
    }

    pub fn decrypt(&self, mut req: DecryptRequest) -> Result<DecryptResponse> {
        self.call("Decrypt", move |st, cx, au| {
            let enc = canonical_encoding(&req.encryption_context);
            au.context = Some(std::mem::take(&mut req.encryption_context));
            let enc = enc?;
            validate_grant_tokens(&req.grant_tokens)?;
            let (parsed, rec) = Self::source_key(
                st,
                cx,
                &req.ciphertext_blob,
                req.key_id.as_deref(),
                req.encryption_algorithm,
                au,
            )?;
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
            validate_grant_tokens(&req.grant_tokens)?;
            let src_enc = canonical_encoding(&req.source_encryption_context)?;
            let dst_enc = canonical_encoding(&req.destination_encryption_context)?;
            let (parsed, src) = Self::source_key(
                st,
                cx,
                &req.ciphertext_blob,
                req.source_key_id.as_deref(),
                req.source_encryption_algorithm,
                au,
            )?;
            let dst_id = st.resolve(cx, &req.destination_key_id)?;
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
            validate_grant_tokens(&req.grant_tokens)?;
            let n = Self::data_key_len(req.number_of_bytes, req.key_spec)?;
            let id = st.resolve(cx, &req.key_id)?;
            let rec = st.rec(&id);
            au.key_arn = Some(rec.arn.clone());
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

    pub fn generate_random(&self, req: GenerateRandomRequest) -> Result<Plaintext> {
        self.call("GenerateRandom", |st, _cx, _au| match req.number_of_bytes {
            Some(n) if (1..=MAX_RANDOM_BYTES).contains(&n) => {
                Ok(Plaintext::new(st.hsm.random_bytes(n as usize)?))
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
            let mut rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::RotationConfig, rec.state, &rec.arn)?;
            check_rotatable(&rec)?;
            deny_aws_managed(&rec)?;
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
            let mut rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::RotationConfig, rec.state, &rec.arn)?;
            check_rotatable(&rec)?;
            deny_aws_managed(&rec)?;
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
            let rec = st.rec(&id).clone();
            au.key_arn = Some(rec.arn.clone());
            check_state(OpClass::RotationConfig, rec.state, &rec.arn)?;
            check_rotatable(&rec)?;
            deny_aws_managed(&rec)?;
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

    // ------------------------------------------------------------ store-wide

    pub fn store_settings(&self) -> Result<StoreSettings> {
        Ok(self.lock()?.settings.clone())
    }

    /// Turn the "rotation required" setting on or off. Turning it on enables
    /// automatic rotation (default period) on every customer-managed key
    /// that supports it and lacks it.
    pub fn set_rotation_required(&self, required: bool) -> Result<()> {
        self.call("UpdateStoreSettings", |st, cx, _au| {
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
    pub fn run_maintenance(&self) -> Result<MaintenanceReport> {
        self.call("RunMaintenance", |st, _cx, _au| {
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

    /// Every stored audit event, oldest first (flushes the buffer first).
    pub fn audit_log(&self) -> Result<Vec<AuditEvent>> {
        self.stored_audit()?
            .into_iter()
            .flat_map(|(_, b)| b)
            .map(|e| e.decode())
            .collect()
    }

    /// Recompute the hash chain over the whole stored log and compare it
    /// with the stored head. Any edited, reordered, inserted or dropped
    /// event fails with `StoreCorruptedException` naming the first bad
    /// position.
    pub fn verify_audit_log(&self) -> Result<AuditVerification> {
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
        self.call("PruneAuditLog", |st, _cx, _au| {
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
    description: String,
    manager: KeyManager,
    multi_region: bool,
    tags: Vec<Tag>,
    policy: Option<String>,
}

fn new_key_record(st: &mut State, cx: &Ctx, k: NewKey) -> Result<KeyRecord> {
    let mut raw = [0u8; 16];
    st.hsm.rng().fill(&mut raw)?;
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
    let mv = st.new_material(&key_id, cx.now, None)?;
    let mut rotation = RotationSettings::default();
    if st.settings.rotation_required && k.manager == KeyManager::Customer {
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
        state: KeyState::Enabled,
        key_spec: KeySpec::SymmetricDefault,
        key_usage: KeyUsage::EncryptDecrypt,
        origin: Origin::AwsKms,
        key_manager: k.manager,
        multi_region: k.multi_region,
        deletion_date_ms: None,
        pending_window_days: None,
        tags: k
            .tags
            .into_iter()
            .map(|t| (t.tag_key, t.tag_value))
            .collect(),
        materials: vec![mv],
        rotation,
        policy: k.policy,
    })
}
