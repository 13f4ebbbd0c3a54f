//! What the engine stores and under which names: the store entry names,
//! and the small records kept beside the keys (import tokens, identity
//! policies, the store identity, settings, the audit chain's base).

use super::*;

// ---------------------------------------------------------------- store names

pub(in crate::kms) const CHECK_NAME: &str = "meta/check";
pub(in crate::kms) const CHECK_VALUE: &[u8] = b"strongroom root key check v1";
pub(in crate::kms) const KDF_NAME: &str = "meta/kdf";
pub(in crate::kms) const IDENTITY_NAME: &str = "meta/identity";
pub(in crate::kms) const SETTINGS_NAME: &str = "meta/settings";
pub(in crate::kms) const AUDIT_HEAD_NAME: &str = "meta/audit-head";
pub(in crate::kms) const AUDIT_BASE_NAME: &str = "meta/audit-base";
pub(in crate::kms) const IDENTITY_KEY_NAME: &str = "meta/store-identity";
/// The state root (`state_root.rs`): commit counter and the keyed digest of
/// every other entry under a MAC, rewritten by every commit.
pub(in crate::kms) const ROOT_NAME: &str = "meta/root";
/// Registered replication destinations: `trust/<hex sha-256 of the SPKI>`.
pub(in crate::kms) const TRUST_PREFIX: &str = "trust/";
/// The clock's high-water mark: JSON `{"high_water_ms": …, "mac": …}`, the
/// MAC an HMAC under the store key (not sealed: it is not secret, and
/// sealing would draw a nonce from the RNG, shifting every seeded vector).
pub(in crate::kms) const CLOCK_NAME: &str = "meta/clock";
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
pub(in crate::kms) const CLOCK_MARK_GRANULARITY_MS: u64 = 60 * 60 * 1000;
pub(in crate::kms) const STORE_SCHEMA: u32 = 1;

/// GetKeyLastUsage: when this store began tracking (decimal ms).
pub(in crate::kms) const USAGE_START_NAME: &str = "meta/usage-start";

/// GetKeyLastUsage: one key's last successful cryptographic call.
pub(in crate::kms) fn usage_name(id: &str) -> String {
    format!("usage/{id}")
}

pub(in crate::kms) fn key_name(id: &str) -> String {
    format!("key/{id}")
}
pub(in crate::kms) fn material_name(id: &str, mat_hex: &str) -> String {
    format!("mat/{id}/{mat_hex}")
}
pub(in crate::kms) fn alias_store_name(alias: &str) -> String {
    format!("alias/{alias}")
}
/// An import token's state (stored sealed; the wrapping key inside is
/// sealed a second time by the HSM).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(in crate::kms) struct ImportTokenEntry {
    pub(in crate::kms) key_id: String,
    pub(in crate::kms) wrapping_algorithm: WrappingAlgorithm,
    pub(in crate::kms) expires_ms: Millis,
    pub(in crate::kms) sealed_wrapping_key: String,
}

pub(in crate::kms) fn import_token_name(token_id: &str) -> String {
    format!("import/{token_id}")
}

pub const IMPORT_TOKEN_VALIDITY_MS: u64 = MS_PER_DAY;
pub const MAX_IMPORT_VALIDITY_DAYS: u64 = 365;

pub(in crate::kms) fn grant_name(key_id: &str, grant_id: &str) -> String {
    format!("grant/{key_id}/{grant_id}")
}
pub(in crate::kms) fn identity_name(principal: &str, name: &str) -> String {
    format!("iam/{principal}/{name}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(in crate::kms) struct IdentityEntry {
    pub(in crate::kms) principal_arn: String,
    pub(in crate::kms) policy_name: String,
    pub(in crate::kms) document: String,
}

pub(in crate::kms) fn audit_name(first_seq: u64) -> String {
    format!("audit/{first_seq:020}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(in crate::kms) struct Identity {
    pub(in crate::kms) schema: u32,
    pub(in crate::kms) account: String,
    pub(in crate::kms) region: String,
    pub(in crate::kms) partition: String,
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

/// Where the stored chain starts (moves forward when old events are pruned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(in crate::kms) struct AuditBase {
    pub(in crate::kms) first_seq: u64,
    pub(in crate::kms) prev_hash: String,
}

impl Default for AuditBase {
    fn default() -> Self {
        AuditBase {
            first_seq: 0,
            prev_hash: hex::encode([0u8; 32]),
        }
    }
}

pub(in crate::kms) fn decode_hash(h: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out).map_err(|_| Error::corrupted("malformed audit hash"))?;
    Ok(out)
}
