//! Request counts from the audit log, and what they and the store's keys
//! would cost at AWS KMS's published prices (`strongroom usage`;
//! `docs/usage.md` explains the rules and cites the prices).
//!
//! Pure: [`report`] takes the audit events and the facts of the keys that
//! exist now ([`key_facts`] reads them from a [`Kms`]). Money is counted in
//! whole micro-dollars (every price below is a whole number of them), so
//! sums are exact.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::api::*;
use crate::audit::AuditEvent;
use crate::env::Millis;
use crate::error::Result;
use crate::kms::Kms;
use crate::model::{KeyManager, KeySpec, KeyState};
use crate::operations::Operation;

/// $1.00 per customer managed key per month.
pub const KEY_MONTH_MICRO_USD: u64 = 1_000_000;
/// +$1.00 per month for each of a key's first two rotations (AWS: "each
/// of the first and second rotation adds $1/month"; later ones are free).
pub const ROTATION_MONTH_MICRO_USD: u64 = 1_000_000;
pub const BILLED_ROTATIONS: usize = 2;
/// $0.03 per 10,000 requests: symmetric keys, HMAC keys, RSA_2048 keys,
/// requests naming no key (GenerateRandom, ListKeys, ...).
pub const SYMMETRIC_MICRO_USD_PER_REQUEST: u64 = 3;
/// $0.15 per 10,000 asymmetric requests except RSA_2048.
pub const ASYMMETRIC_MICRO_USD_PER_REQUEST: u64 = 15;
/// $0.10 per 10,000 ECC GenerateDataKeyPair requests.
pub const ECC_PAIR_MICRO_USD_PER_REQUEST: u64 = 10;
/// $12.00 per 10,000 RSA GenerateDataKeyPair requests.
pub const RSA_PAIR_MICRO_USD_PER_REQUEST: u64 = 1_200;

/// What the report needs of a key that exists now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyFacts {
    pub arn: String,
    pub key_manager: KeyManager,
    pub key_state: KeyState,
    pub key_spec: KeySpec,
    /// Completed rotations (ListKeyRotations).
    pub rotations: usize,
}

/// The price class of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum PriceClass {
    /// $0.03 / 10,000.
    Symmetric,
    /// $0.15 / 10,000.
    Asymmetric,
    /// GenerateDataKeyPair*: $0.10 (ECC) to $12.00 (RSA) per 10,000; the
    /// audit log does not record the pair spec, so the ECC price is used.
    DataKeyPair,
}

impl PriceClass {
    pub fn micro_usd(self) -> u64 {
        match self {
            PriceClass::Symmetric => SYMMETRIC_MICRO_USD_PER_REQUEST,
            PriceClass::Asymmetric => ASYMMETRIC_MICRO_USD_PER_REQUEST,
            PriceClass::DataKeyPair => ECC_PAIR_MICRO_USD_PER_REQUEST,
        }
    }
}

/// The price class of `operation` on a key of `spec` (`None`: no key, or
/// a key that no longer exists: symmetric).
pub fn price_class(operation: &str, spec: Option<KeySpec>) -> PriceClass {
    if operation.starts_with("GenerateDataKeyPair") {
        return PriceClass::DataKeyPair;
    }
    match spec {
        Some(
            KeySpec::Rsa3072
            | KeySpec::Rsa4096
            | KeySpec::EccNistP256
            | KeySpec::EccNistP384
            | KeySpec::EccNistP521
            | KeySpec::EccSecgP256k1
            | KeySpec::EccNistEdwards25519
            | KeySpec::Sm2
            | KeySpec::MlDsa44
            | KeySpec::MlDsa65
            | KeySpec::MlDsa87,
        ) => PriceClass::Asymmetric,
        _ => PriceClass::Symmetric,
    }
}

/// Counts of one operation or one key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Counts {
    pub requests: u64,
    pub succeeded: u64,
    pub failed: u64,
}

/// One price class's requests and charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestCharge {
    pub class: PriceClass,
    /// Successful requests of the class (the ones charged).
    pub requests: u64,
    pub micro_usd_per_request: u64,
    pub micro_usd: u64,
}

/// The report (`strongroom usage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsageReport {
    /// The first and last counted request (ms since the epoch).
    pub first_ms: Option<Millis>,
    pub last_ms: Option<Millis>,
    pub by_operation: BTreeMap<String, Counts>,
    /// By key ARN (requests that named a key).
    pub by_key: BTreeMap<String, Counts>,
    /// Customer managed keys charged per month (not pending deletion),
    /// multi-Region replicas each (every region is its own store).
    pub customer_keys: u64,
    /// Rotations charged per month (each key's first two).
    pub billed_rotations: u64,
    /// AWS managed keys (no monthly charge).
    pub aws_managed_keys: u64,
    pub keys_pending_deletion: u64,
    pub monthly_key_micro_usd: u64,
    pub requests: Vec<RequestCharge>,
    pub request_micro_usd: u64,
}

/// Count `events` (those of AWS operations, within `[since, until]`) and
/// price them and `keys`.
pub fn report(
    events: &[AuditEvent],
    keys: &[KeyFacts],
    since: Option<Millis>,
    until: Option<Millis>,
) -> UsageReport {
    let spec_of: BTreeMap<&str, KeySpec> =
        keys.iter().map(|k| (k.arn.as_str(), k.key_spec)).collect();
    let mut by_operation: BTreeMap<String, Counts> = BTreeMap::new();
    let mut by_key: BTreeMap<String, Counts> = BTreeMap::new();
    let mut charged: BTreeMap<PriceClass, u64> = BTreeMap::new();
    let (mut first_ms, mut last_ms) = (None::<Millis>, None::<Millis>);
    for e in events {
        if since.is_some_and(|s| e.time_ms < s) || until.is_some_and(|u| e.time_ms > u) {
            continue;
        }
        // Only the AWS operations (not SeedKey, GetAuditLog, ...).
        if Operation::from_name(&e.operation).is_none() {
            continue;
        }
        first_ms = Some(first_ms.map_or(e.time_ms, |f| f.min(e.time_ms)));
        last_ms = Some(last_ms.map_or(e.time_ms, |l| l.max(e.time_ms)));
        let ok = e.outcome == "Success";
        let bump = |c: &mut Counts| {
            c.requests += 1;
            if ok {
                c.succeeded += 1;
            } else {
                c.failed += 1;
            }
        };
        bump(by_operation.entry(e.operation.clone()).or_default());
        if let Some(k) = &e.key_arn {
            bump(by_key.entry(k.clone()).or_default());
        }
        if ok {
            let spec = e.key_arn.as_deref().and_then(|a| spec_of.get(a).copied());
            *charged.entry(price_class(&e.operation, spec)).or_default() += 1;
        }
    }
    let mut customer_keys = 0;
    let mut billed_rotations = 0;
    let mut aws_managed_keys = 0;
    let mut keys_pending_deletion = 0;
    for k in keys {
        match (k.key_manager, k.key_state) {
            (KeyManager::Aws, _) => aws_managed_keys += 1,
            (_, KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) => {
                keys_pending_deletion += 1
            }
            _ => {
                customer_keys += 1;
                billed_rotations += k.rotations.min(BILLED_ROTATIONS) as u64;
            }
        }
    }
    let requests: Vec<RequestCharge> = charged
        .into_iter()
        .map(|(class, n)| RequestCharge {
            class,
            requests: n,
            micro_usd_per_request: class.micro_usd(),
            micro_usd: n * class.micro_usd(),
        })
        .collect();
    UsageReport {
        first_ms,
        last_ms,
        by_operation,
        by_key,
        customer_keys,
        billed_rotations,
        aws_managed_keys,
        keys_pending_deletion,
        monthly_key_micro_usd: customer_keys * KEY_MONTH_MICRO_USD
            + billed_rotations * ROTATION_MONTH_MICRO_USD,
        request_micro_usd: requests.iter().map(|r| r.micro_usd).sum(),
        requests,
    }
}

/// The facts of every key of `kms` (as its caller may list and describe
/// them; the account root sees all).
pub fn key_facts(kms: &Kms) -> Result<Vec<KeyFacts>> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let page = kms.list_keys(ListKeysRequest {
            limit: Some(1000),
            marker,
        })?;
        for k in &page.keys {
            let md = kms
                .describe_key(DescribeKeyRequest {
                    key_id: k.key_id.clone(),
                    ..Default::default()
                })?
                .key_metadata;
            let rotations = if md.key_spec == KeySpec::SymmetricDefault {
                count_rotations(kms, &k.key_id)?
            } else {
                0
            };
            out.push(KeyFacts {
                arn: md.arn,
                key_manager: md.key_manager,
                key_state: md.key_state,
                key_spec: md.key_spec,
                rotations,
            });
        }
        match (page.truncated, page.next_marker) {
            (true, Some(m)) => marker = Some(m),
            _ => return Ok(out),
        }
    }
}

fn count_rotations(kms: &Kms, key_id: &str) -> Result<usize> {
    let mut n = 0;
    let mut marker = None;
    loop {
        let page = kms.list_key_rotations(ListKeyRotationsRequest {
            key_id: key_id.to_string(),
            limit: Some(1000),
            marker,
            ..Default::default()
        })?;
        n += page.rotations.len();
        match (page.truncated, page.next_marker) {
            (true, Some(m)) => marker = Some(m),
            _ => return Ok(n),
        }
    }
}

/// Micro-dollars as dollars with six decimals (`$0.000003`).
pub fn dollars(micro: u64) -> String {
    format!("${}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(op: &str, key: Option<&str>, outcome: &str, t: Millis) -> AuditEvent {
        AuditEvent {
            seq: 0,
            time_ms: t,
            operation: op.into(),
            principal_arn: "arn:aws:iam::111122223333:root".into(),
            caller_account: "111122223333".into(),
            via_service: None,
            key_arn: key.map(str::to_string),
            encryption_context: None,
            outcome: outcome.into(),
            decision: None,
            hash: String::new(),
        }
    }

    fn key(arn: &str, m: KeyManager, s: KeyState, spec: KeySpec, rot: usize) -> KeyFacts {
        KeyFacts {
            arn: arn.into(),
            key_manager: m,
            key_state: s,
            key_spec: spec,
            rotations: rot,
        }
    }

    #[test]
    fn counts_and_prices() {
        let keys = vec![
            key(
                "k1",
                KeyManager::Customer,
                KeyState::Enabled,
                KeySpec::SymmetricDefault,
                3,
            ),
            key(
                "k2",
                KeyManager::Customer,
                KeyState::Disabled,
                KeySpec::EccNistP256,
                0,
            ),
            key(
                "k3",
                KeyManager::Customer,
                KeyState::Enabled,
                KeySpec::Rsa2048,
                0,
            ),
            key(
                "k4",
                KeyManager::Customer,
                KeyState::PendingDeletion,
                KeySpec::SymmetricDefault,
                1,
            ),
            key(
                "k5",
                KeyManager::Aws,
                KeyState::Enabled,
                KeySpec::SymmetricDefault,
                1,
            ),
        ];
        let mut events = vec![];
        for i in 0..10 {
            events.push(ev("Encrypt", Some("k1"), "Success", 1000 + i));
        }
        events.push(ev("Decrypt", Some("k1"), "AccessDeniedException", 2000));
        events.push(ev("Sign", Some("k2"), "Success", 2001));
        events.push(ev("Sign", Some("k3"), "Success", 2002));
        events.push(ev("GenerateDataKeyPair", Some("k1"), "Success", 2003));
        events.push(ev("ListKeys", None, "Success", 2004));
        events.push(ev("SeedKey", Some("k1"), "Success", 2005));
        events.push(ev("Encrypt", Some("gone"), "Success", 9000));
        let r = report(&events, &keys, None, None);
        assert_eq!(r.by_operation["Encrypt"].requests, 11);
        assert_eq!(r.by_operation["Decrypt"].failed, 1);
        assert!(!r.by_operation.contains_key("SeedKey"));
        assert_eq!(r.by_key["k1"].requests, 12);
        assert_eq!(r.by_key["k1"].failed, 1);
        assert_eq!((r.first_ms, r.last_ms), (Some(1000), Some(9000)));
        // k1, k2, k3 charged; k1's rotations count twice at most.
        assert_eq!(r.customer_keys, 3);
        assert_eq!(r.billed_rotations, 2);
        assert_eq!(r.aws_managed_keys, 1);
        assert_eq!(r.keys_pending_deletion, 1);
        assert_eq!(r.monthly_key_micro_usd, 5_000_000);
        // Symmetric: 11 Encrypt (one on a key gone) + ListKeys + RSA_2048
        // Sign = 13 × 3; ECC Sign 15; the pair 10.
        let by: BTreeMap<PriceClass, u64> =
            r.requests.iter().map(|c| (c.class, c.requests)).collect();
        assert_eq!(by[&PriceClass::Symmetric], 13);
        assert_eq!(by[&PriceClass::Asymmetric], 1);
        assert_eq!(by[&PriceClass::DataKeyPair], 1);
        assert_eq!(r.request_micro_usd, 13 * 3 + 15 + 10);
        // A window.
        let w = report(&events, &keys, Some(2000), Some(2004));
        assert_eq!(w.by_operation.get("Encrypt"), None);
        assert_eq!(w.by_operation["Sign"].requests, 2);
    }

    #[test]
    fn dollars_are_exact() {
        assert_eq!(dollars(0), "$0.000000");
        assert_eq!(dollars(3), "$0.000003");
        assert_eq!(dollars(5_000_064), "$5.000064");
    }
}
