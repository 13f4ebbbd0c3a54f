//! The audit log: one event per call, hash-chained.
//!
//! `hash_n = SHA-256("strongroom/v1/audit" ‖ hash_{n-1} ‖ JSON(event_n without
//! hash))`, with `hash_0` = 32 zero bytes and the JSON of the struct in field
//! order (serde_json is deterministic for it; the context is a sorted map).
//! The head (count, last hash) is stored sealed beside the events, so
//! editing, reordering or dropping any event, including the last, is
//! detected by [`crate::Kms::verify_audit_log`]. Events never contain
//! plaintext or key bytes: only names, ARNs, the (non-secret) encryption
//! context and the outcome code.

use serde::{Deserialize, Serialize};

use crate::context::EncryptionContext;
use crate::crypto;
use crate::env::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuditEvent {
    /// 0-based position in the log.
    pub seq: u64,
    pub time_ms: Millis,
    /// The AWS operation name (`Encrypt`, `CreateKey`, ...).
    pub operation: String,
    pub principal_arn: String,
    pub caller_account: String,
    pub via_service: Option<String>,
    pub key_arn: Option<String>,
    pub encryption_context: Option<EncryptionContext>,
    /// `Success`, or the error code.
    pub outcome: String,
    /// Hex SHA-256 chaining this event to the previous one.
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuditHead {
    pub count: u64,
    pub hash: String,
}

impl Default for AuditHead {
    fn default() -> Self {
        AuditHead {
            count: 0,
            hash: hex::encode([0u8; 32]),
        }
    }
}

pub(crate) fn chain_hash(prev_hex: &str, event: &AuditEvent) -> String {
    let mut unhashed = event.clone();
    unhashed.hash = String::new();
    let json = serde_json::to_vec(&unhashed).expect("audit events always serialise");
    let prev = hex::decode(prev_hex).unwrap_or_default();
    hex::encode(crypto::sha256(&[b"strongroom/v1/audit", &prev, &json]))
}

/// The result of verifying the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    /// Sequence number of the oldest event still stored (0 unless pruned).
    pub first_seq: u64,
    /// Events ever recorded (the next event's sequence number).
    pub events: u64,
    pub head_hash: String,
}
