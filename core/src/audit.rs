//! The audit log: one event per call, hash-chained.
//!
//! Each event is encoded once with postcard (a compact, deterministic serde
//! format; see `docs/formats/store.md`) as its *body*, and
//! `hash_n = SHA-256("strongroom/v1/audit" ‖ hash_{n-1} ‖ body_n)`, with
//! `hash_{-1}` = 32 zero bytes (or the checkpoint left by pruning). The head
//! (count, last hash) is stored sealed beside the events, so editing,
//! reordering or dropping any event, including the last, is detected by
//! [`crate::Kms::verify_audit_log`]. Events never contain plaintext or key
//! bytes: only names, ARNs, the (non-secret) encryption context and the
//! outcome code.

use serde::{Deserialize, Serialize};

use crate::context::EncryptionContext;
use crate::crypto;
use crate::env::Millis;
use crate::error::{Error, Result};

/// One audit event, as the API returns it.
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
    /// The authorization decision behind the outcome, when one was made
    /// (e.g. `allow: key policy statement "Sid"`, `deny: no statement allows`).
    pub decision: Option<String>,
    /// Hex SHA-256 chaining this event to the previous one.
    pub hash: String,
}

/// The body as written (borrowed: no copies on the hot path). Field order
/// is the wire order; postcard encodes `&str` like `String`.
#[derive(Serialize)]
pub(crate) struct BodyRef<'a> {
    pub seq: u64,
    pub time_ms: Millis,
    pub operation: &'a str,
    pub principal_arn: &'a str,
    pub caller_account: &'a str,
    pub via_service: Option<&'a str>,
    pub key_arn: Option<&'a str>,
    pub encryption_context: Option<&'a EncryptionContext>,
    pub outcome: &'a str,
    pub decision: Option<&'a str>,
}

impl BodyRef<'_> {
    /// At least the encoded length: every string and context entry with a
    /// varint length (at most 5 bytes each for these sizes), the two
    /// integers (at most 10 each) and the option tags.
    fn len_hint(&self) -> usize {
        let s = |x: &str| 5 + x.len();
        let o = |x: Option<&str>| 1 + x.map_or(0, s);
        let ctx = self
            .encryption_context
            .map_or(1, |c| 6 + c.iter().map(|(k, v)| s(k) + s(v)).sum::<usize>());
        20 + s(self.operation)
            + s(self.principal_arn)
            + s(self.caller_account)
            + o(self.via_service)
            + o(self.key_arn)
            + ctx
            + s(self.outcome)
            + o(self.decision)
    }
}

#[derive(Deserialize)]
struct Body {
    seq: u64,
    time_ms: Millis,
    operation: String,
    principal_arn: String,
    caller_account: String,
    via_service: Option<String>,
    key_arn: Option<String>,
    encryption_context: Option<EncryptionContext>,
    outcome: String,
    decision: Option<String>,
}

/// An event as stored: its encoded body and chain hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredEvent {
    pub seq: u64,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    pub hash: [u8; 32],
}

impl StoredEvent {
    pub fn new(prev: &[u8; 32], body: &BodyRef<'_>) -> Result<Self> {
        // One allocation of about the right size (postcard's own
        // `to_allocvec` grows from empty: seven reallocations for a typical
        // Encrypt event).
        let bytes = postcard::to_extend(body, Vec::with_capacity(body.len_hint()))
            .map_err(|_| Error::internal("could not encode an audit event"))?;
        Ok(StoredEvent {
            seq: body.seq,
            hash: chain_hash(prev, &bytes),
            body: bytes,
        })
    }

    pub fn decode(&self) -> Result<AuditEvent> {
        let b: Body = postcard::from_bytes(&self.body)
            .map_err(|_| Error::corrupted(format!("audit event {} is unreadable", self.seq)))?;
        if b.seq != self.seq {
            return Err(Error::corrupted(format!(
                "audit event {} has the wrong sequence number",
                self.seq
            )));
        }
        Ok(AuditEvent {
            seq: b.seq,
            time_ms: b.time_ms,
            operation: b.operation,
            principal_arn: b.principal_arn,
            caller_account: b.caller_account,
            via_service: b.via_service,
            key_arn: b.key_arn,
            encryption_context: b.encryption_context,
            outcome: b.outcome,
            decision: b.decision,
            hash: hex::encode(self.hash),
        })
    }
}

#[cfg(test)]
pub(crate) fn encode_batch(events: &[StoredEvent]) -> Result<Vec<u8>> {
    postcard::to_allocvec(events).map_err(|_| Error::internal("could not encode audit events"))
}

/// The batch's postcard encoding, appended to `out` (the buffer the batch is sealed in).
pub(crate) fn encode_batch_into(events: &[StoredEvent], out: &mut Vec<u8>) -> Result<()> {
    *out = postcard::to_extend(events, std::mem::take(out))
        .map_err(|_| Error::internal("could not encode audit events"))?;
    Ok(())
}

/// About the length of a batch's encoding: what its seal buffer reserves.
pub(crate) fn batch_len_hint(events: &[StoredEvent]) -> usize {
    // Per event: seq and body length (varints, at most 10 + 5), body, hash.
    10 + events.iter().map(|e| 15 + e.body.len() + 32).sum::<usize>()
}

pub(crate) fn decode_batch(name: &str, bytes: &[u8]) -> Result<Vec<StoredEvent>> {
    postcard::from_bytes(bytes)
        .map_err(|_| Error::corrupted(format!("audit entry '{name}' is unreadable")))
}

pub(crate) fn chain_hash(prev: &[u8; 32], body: &[u8]) -> [u8; 32] {
    crypto::sha256(&[b"strongroom/v1/audit", prev, body])
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

/// The result of verifying the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    /// Sequence number of the oldest event still stored (0 unless pruned).
    pub first_seq: u64,
    /// Events ever recorded (the next event's sequence number).
    pub events: u64,
    pub head_hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_body_decodes_as_owned() {
        let ctx: EncryptionContext = [("k".to_string(), "v".to_string())].into_iter().collect();
        let body = BodyRef {
            seq: 7,
            time_ms: 1,
            operation: "Encrypt",
            principal_arn: "arn:aws:iam::111122223333:root",
            caller_account: "111122223333",
            via_service: None,
            key_arn: Some("arn:k"),
            encryption_context: Some(&ctx),
            outcome: "Success",
            decision: Some("allow: test"),
        };
        let e = StoredEvent::new(&[0; 32], &body).unwrap();
        assert_eq!(e.body, postcard::to_allocvec(&body).unwrap());
        assert!(e.body.len() <= body.len_hint(), "one allocation");
        let d = e.decode().unwrap();
        assert_eq!(d.seq, 7);
        assert_eq!(d.encryption_context, Some(ctx));
        assert_eq!(d.hash, hex::encode(chain_hash(&[0; 32], &e.body)));
        let mut out = b"head".to_vec();
        let batch = [e.clone(), e.clone()];
        encode_batch_into(&batch, &mut out).unwrap();
        assert_eq!(&out[4..], &encode_batch(&batch).unwrap()[..]);
        assert!(out.len() - 4 <= batch_len_hint(&batch));
        assert_eq!(decode_batch("t", &out[4..]).unwrap().len(), 2);
        let mut bad = e.clone();
        bad.seq = 8;
        assert!(bad.decode().is_err());
    }
}
