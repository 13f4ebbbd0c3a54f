//! AWS KMS request-quota simulation: `ThrottlingException` ("Rate
//! exceeded") once a caller's request rate goes over one of AWS's
//! documented per-second request quotas, so code can be checked (data key
//! caching, backoff and retry) before it meets the real limits.
//!
//! Sans-I/O: the caller passes the time ([`Millis`]) of every request; no
//! clock, thread or timer inside. Each quota is a token bucket per
//! (account, region, quota class) holding at most one second of requests
//! (at least one request) and refilled continuously at the quota's rate,
//! so a steady rate at the quota passes and a burst over it is refused —
//! the behaviour AWS documents ("requests per second", shared quotas
//! counted together). A refused request takes no token.
//!
//! The defaults are AWS's default quota values (`docs/quotas.md` lists
//! them and where they come from); every one can be overridden, and the
//! simulation can be off.
//!
//! ```
//! use strongroom::quota::{QuotaConfig, QuotaLimiter};
//! use strongroom::model::KeySpec;
//! let limiter = QuotaLimiter::new(QuotaConfig::default()).unwrap();
//! let t = 1_767_225_600_000;
//! for _ in 0..5 {
//!     limiter.check("111122223333", "us-east-1", "CreateKey", None, t).unwrap();
//! }
//! let e = limiter.check("111122223333", "us-east-1", "CreateKey", None, t).unwrap_err();
//! assert_eq!(e.code().as_str(), "ThrottlingException");
//! // 200 ms later one more CreateKey fits (5 per second).
//! limiter.check("111122223333", "us-east-1", "CreateKey", None, t + 200).unwrap();
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::env::Millis;
use crate::error::{Error, ErrorCode, Result};
use crate::model::KeySpec;

/// AWS's message for a throttled request.
pub const RATE_EXCEEDED: &str = "Rate exceeded";

/// Default "cryptographic operations (symmetric)" quota: 10,000 requests
/// per second shared (AWS: 5,500, 10,000, 20,000 or 50,000 depending on
/// the region; configure [`QuotaConfig::symmetric_rps`] to match one).
pub const DEFAULT_SYMMETRIC_RPS: f64 = 10_000.0;
/// "Cryptographic operations (RSA)": 1,000 shared.
pub const DEFAULT_RSA_RPS: f64 = 1_000.0;
/// "Cryptographic operations (ECC)": 1,000 shared.
pub const DEFAULT_ECC_RPS: f64 = 1_000.0;

/// The quota a request counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaClass {
    /// Shared: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext),
    /// GenerateRandom with symmetric keys; GenerateMac, VerifyMac (HMAC keys).
    Symmetric,
    /// Shared: Encrypt, Decrypt, ReEncrypt, Sign, Verify with RSA keys.
    Rsa,
    /// Shared: Sign, Verify, DeriveSharedSecret with ECC keys.
    Ecc,
    /// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext, per
    /// key pair spec (AWS counts them per spec).
    DataKeyPair(String),
    /// Every other operation: its own quota.
    Operation(String),
}

impl QuotaClass {
    /// The name used in configuration overrides and messages:
    /// `symmetric`, `rsa`, `ecc`, `GenerateDataKeyPair:RSA_2048`, or the
    /// operation name.
    pub fn name(&self) -> String {
        match self {
            QuotaClass::Symmetric => "symmetric".into(),
            QuotaClass::Rsa => "rsa".into(),
            QuotaClass::Ecc => "ecc".into(),
            QuotaClass::DataKeyPair(spec) => format!("GenerateDataKeyPair:{spec}"),
            QuotaClass::Operation(op) => op.clone(),
        }
    }
}

/// The class of a request: `operation` (AWS name), the spec of the key it
/// names (`None` when it names none or the key is unknown: counted as
/// symmetric for the cryptographic operations), and for
/// GenerateDataKeyPair* the pair spec asked for (`pair_spec`).
pub fn classify(operation: &str, key_spec: Option<KeySpec>, pair_spec: Option<&str>) -> QuotaClass {
    let crypto_class = |spec: Option<KeySpec>| match spec {
        Some(KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096) => QuotaClass::Rsa,
        Some(
            KeySpec::EccNistP256
            | KeySpec::EccNistP384
            | KeySpec::EccNistP521
            | KeySpec::EccSecgP256k1
            | KeySpec::EccNistEdwards25519
            | KeySpec::Sm2,
        ) => QuotaClass::Ecc,
        _ => QuotaClass::Symmetric,
    };
    match operation {
        "Encrypt" | "Decrypt" | "ReEncrypt" | "Sign" | "Verify" | "DeriveSharedSecret" => {
            crypto_class(key_spec)
        }
        "GenerateDataKey"
        | "GenerateDataKeyWithoutPlaintext"
        | "GenerateRandom"
        | "GenerateMac"
        | "VerifyMac" => QuotaClass::Symmetric,
        "GenerateDataKeyPair" | "GenerateDataKeyPairWithoutPlaintext" => {
            QuotaClass::DataKeyPair(pair_spec.unwrap_or("RSA_2048").to_string())
        }
        other => QuotaClass::Operation(other.to_string()),
    }
}

/// AWS's default per-second quota of a class (`None`: AWS documents none,
/// the request is not limited unless an override names it).
pub fn default_rps(class: &QuotaClass, config: &QuotaConfig) -> Option<f64> {
    Some(match class {
        QuotaClass::Symmetric => config.symmetric_rps,
        QuotaClass::Rsa => config.rsa_rps,
        QuotaClass::Ecc => config.ecc_rps,
        QuotaClass::DataKeyPair(spec) => match spec.as_str() {
            "RSA_2048" => 1.0,
            "RSA_3072" => 0.5,
            "RSA_4096" => 0.1,
            "ECC_NIST_P256" | "ECC_SECG_P256K1" => 25.0,
            "ECC_NIST_P384" => 10.0,
            "ECC_NIST_P521" => 5.0,
            _ => return None,
        },
        QuotaClass::Operation(op) => match op.as_str() {
            "CancelKeyDeletion"
            | "CreateAlias"
            | "CreateKey"
            | "DescribeCustomKeyStores"
            | "DisableKey"
            | "DisableKeyRotation"
            | "EnableKey"
            | "ImportKeyMaterial"
            | "ReplicateKey"
            | "UntagResource"
            | "UpdateAlias"
            | "UpdateKeyDescription"
            | "UpdatePrimaryRegion"
            | "ConnectCustomKeyStore"
            | "CreateCustomKeyStore"
            | "DeleteCustomKeyStore"
            | "DisconnectCustomKeyStore"
            | "UpdateCustomKeyStore" => 5.0,
            "TagResource" => 10.0,
            "DeleteAlias"
            | "DeleteImportedKeyMaterial"
            | "EnableKeyRotation"
            | "PutKeyPolicy"
            | "ScheduleKeyDeletion"
            | "RotateKeyOnDemand" => 15.0,
            "RetireGrant" | "RevokeGrant" => 30.0,
            "CreateGrant" => 50.0,
            "ListGrants" | "ListKeyPolicies" | "ListRetirableGrants" | "ListKeyRotations" => 100.0,
            "ListAliases" | "ListKeys" => 500.0,
            "GetKeyPolicy" | "GetKeyRotationStatus" => 1_000.0,
            "DescribeKey" | "GetPublicKey" | "ListResourceTags" => 2_000.0,
            "GetParametersForImport" => 0.25,
            _ => return None,
        },
    })
}

/// Configuration (e.g. the server's `[quotas]` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    /// Off: [`QuotaLimiter::check`] always passes.
    pub enabled: bool,
    pub symmetric_rps: f64,
    pub rsa_rps: f64,
    pub ecc_rps: f64,
    /// Requests per second by class name ([`QuotaClass::name`]: an
    /// operation name, `symmetric`, `rsa`, `ecc`,
    /// `GenerateDataKeyPair:<spec>`); 0 or less: not limited.
    pub overrides: BTreeMap<String, f64>,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            enabled: true,
            symmetric_rps: DEFAULT_SYMMETRIC_RPS,
            rsa_rps: DEFAULT_RSA_RPS,
            ecc_rps: DEFAULT_ECC_RPS,
            overrides: BTreeMap::new(),
        }
    }
}

impl QuotaConfig {
    /// The quota of a class in requests per second (`None`: unlimited).
    pub fn rps(&self, class: &QuotaClass) -> Option<f64> {
        let r = match self.overrides.get(&class.name()) {
            Some(r) => Some(*r),
            None => default_rps(class, self),
        }?;
        (r.is_finite() && r > 0.0).then_some(r)
    }

    fn validate(&self) -> Result<()> {
        for (what, v) in [
            ("symmetric_rps", self.symmetric_rps),
            ("rsa_rps", self.rsa_rps),
            ("ecc_rps", self.ecc_rps),
        ]
        .into_iter()
        .chain(self.overrides.iter().map(|(k, v)| (k.as_str(), *v)))
        {
            if !v.is_finite() || v > 1e9 {
                return Err(Error::validation(format!(
                    "quota {what} must be a finite number of requests per second (at most 1e9)"
                )));
            }
        }
        Ok(())
    }
}

/// One bucket: its level in micro-requests and when it was last filled.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: u128,
    at: Millis,
}

const UNIT: u128 = 1_000_000;

/// The limiter: token buckets per (account, region, class). Thread-safe;
/// cheap to share (`Arc`).
#[derive(Debug)]
pub struct QuotaLimiter {
    config: QuotaConfig,
    buckets: Mutex<HashMap<(String, String, QuotaClass), Bucket>>,
}

impl QuotaLimiter {
    /// A limiter, or `ValidationException` for a rate that is not a finite
    /// number up to 1e9.
    pub fn new(config: QuotaConfig) -> Result<QuotaLimiter> {
        config.validate()?;
        Ok(QuotaLimiter {
            config,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &QuotaConfig {
        &self.config
    }

    /// Count a request of `operation` (AWS name) by `account` in `region`
    /// at `now`, on a key of `key_spec` (if it names one):
    /// `ThrottlingException` ("Rate exceeded") when its quota has no room.
    /// For GenerateDataKeyPair* use [`QuotaLimiter::check_class`] with
    /// [`classify`] and the pair spec.
    pub fn check(
        &self,
        account: &str,
        region: &str,
        operation: &str,
        key_spec: Option<KeySpec>,
        now: Millis,
    ) -> Result<()> {
        self.check_class(account, region, &classify(operation, key_spec, None), now)
    }

    /// [`QuotaLimiter::check`] for an already classified request.
    pub fn check_class(
        &self,
        account: &str,
        region: &str,
        class: &QuotaClass,
        now: Millis,
    ) -> Result<()> {
        if !self.config.enabled {
            return Ok(());
        }
        let Some(rps) = self.config.rps(class) else {
            return Ok(());
        };
        // Micro-requests per millisecond, and one second of requests (at
        // least one request) as the bucket's size.
        let per_ms = ((rps * 1_000.0).round() as u128).max(1);
        let capacity = (per_ms * 1_000).max(UNIT);
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| Error::internal("the quota limiter's lock is poisoned"))?;
        let b = buckets
            .entry((account.to_string(), region.to_string(), class.clone()))
            .or_insert(Bucket {
                level: capacity,
                at: now,
            });
        // A clock that goes back refills nothing (and never underflows).
        let elapsed = now.saturating_sub(b.at) as u128;
        b.level = (b.level + elapsed * per_ms).min(capacity);
        b.at = b.at.max(now);
        if b.level < UNIT {
            return Err(Error::new(ErrorCode::Throttling, RATE_EXCEEDED));
        }
        b.level -= UNIT;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "111122223333";
    const R: &str = "us-east-1";
    const T: Millis = 1_767_225_600_000;

    fn passes(l: &QuotaLimiter, op: &str, spec: Option<KeySpec>, now: Millis) -> usize {
        (0..100_000)
            .take_while(|_| l.check(A, R, op, spec, now).is_ok())
            .count()
    }

    #[test]
    fn a_burst_gets_one_second_of_the_quota_then_rate_exceeded() {
        let l = QuotaLimiter::new(QuotaConfig::default()).unwrap();
        assert_eq!(passes(&l, "CreateKey", None, T), 5);
        let e = l.check(A, R, "CreateKey", None, T).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Throttling);
        assert_eq!(e.code().as_str(), "ThrottlingException");
        assert_eq!(e.code().http_status(), 400);
        assert_eq!(e.message(), "Rate exceeded");
        // Symmetric crypto: 10,000 in the first second.
        assert_eq!(
            passes(&l, "Encrypt", Some(KeySpec::SymmetricDefault), T),
            10_000
        );
        // Shared: GenerateDataKey and Decrypt draw from the same bucket.
        assert!(l.check(A, R, "GenerateDataKey", None, T).is_err());
        assert!(l.check(A, R, "Decrypt", None, T).is_err());
        // RSA and ECC have their own 1,000.
        assert_eq!(passes(&l, "Sign", Some(KeySpec::Rsa2048), T), 1_000);
        assert_eq!(passes(&l, "Verify", Some(KeySpec::EccNistP256), T), 1_000);
        // Other operations: their own quotas.
        assert_eq!(passes(&l, "DescribeKey", None, T), 2_000);
        assert_eq!(passes(&l, "ListKeys", None, T), 500);
    }

    #[test]
    fn a_steady_rate_at_the_quota_passes_and_refill_is_by_the_clock() {
        let l = QuotaLimiter::new(QuotaConfig::default()).unwrap();
        assert_eq!(passes(&l, "CreateKey", None, T), 5);
        // 5 per second = one every 200 ms.
        assert!(l.check(A, R, "CreateKey", None, T + 199).is_err());
        l.check(A, R, "CreateKey", None, T + 200).unwrap();
        assert!(l.check(A, R, "CreateKey", None, T + 200).is_err());
        for i in 2..100 {
            l.check(A, R, "CreateKey", None, T + i * 200).unwrap();
        }
        // After a long pause: one second's worth again, not more.
        assert_eq!(passes(&l, "CreateKey", None, T + 3_600_000), 5);
        // The clock going back refills nothing.
        assert!(l.check(A, R, "CreateKey", None, T).is_err());
    }

    #[test]
    fn fractional_quotas_allow_one_request_per_interval() {
        let l = QuotaLimiter::new(QuotaConfig::default()).unwrap();
        let pair = |spec: &str, now| {
            l.check_class(
                A,
                R,
                &classify("GenerateDataKeyPair", None, Some(spec)),
                now,
            )
        };
        // RSA_4096 pairs: 0.1 per second, one in each 10 seconds.
        pair("RSA_4096", T).unwrap();
        assert!(pair("RSA_4096", T + 9_999).is_err());
        pair("RSA_4096", T + 10_000).unwrap();
        // Another spec has its own quota.
        pair("ECC_NIST_P256", T).unwrap();
        let gpi = |now| l.check(A, R, "GetParametersForImport", None, now);
        gpi(T).unwrap();
        assert!(gpi(T + 3_999).is_err());
        gpi(T + 4_000).unwrap();
    }

    #[test]
    fn accounts_and_regions_are_counted_apart() {
        let l = QuotaLimiter::new(QuotaConfig::default()).unwrap();
        assert_eq!(passes(&l, "CreateKey", None, T), 5);
        assert!(l.check("444455556666", R, "CreateKey", None, T).is_ok());
        assert!(l.check(A, "eu-west-1", "CreateKey", None, T).is_ok());
    }

    #[test]
    fn configuration_off_overrides_and_unlimited() {
        let off = QuotaLimiter::new(QuotaConfig {
            enabled: false,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(passes(&off, "CreateKey", None, T), 100_000);

        let mut c = QuotaConfig {
            symmetric_rps: 50_000.0,
            ..Default::default()
        };
        c.overrides.insert("CreateKey".into(), 2.0);
        c.overrides.insert("ListKeys".into(), 0.0);
        c.overrides.insert("rsa".into(), 3.0);
        let l = QuotaLimiter::new(c).unwrap();
        assert_eq!(passes(&l, "CreateKey", None, T), 2);
        assert_eq!(passes(&l, "ListKeys", None, T), 100_000);
        assert_eq!(passes(&l, "Decrypt", Some(KeySpec::Rsa3072), T), 3);
        assert_eq!(passes(&l, "Encrypt", None, T), 50_000);
        // An operation AWS gives no quota: unlimited.
        assert_eq!(passes(&l, "PutIdentityPolicy", None, T), 100_000);

        let bad = QuotaConfig {
            rsa_rps: f64::NAN,
            ..Default::default()
        };
        assert_eq!(
            QuotaLimiter::new(bad).unwrap_err().code(),
            ErrorCode::Validation
        );
    }

    #[test]
    fn classification() {
        use QuotaClass::*;
        assert_eq!(classify("Encrypt", None, None), Symmetric);
        assert_eq!(classify("Encrypt", Some(KeySpec::Rsa4096), None), Rsa);
        assert_eq!(classify("Sign", Some(KeySpec::EccNistP384), None), Ecc);
        assert_eq!(
            classify("DeriveSharedSecret", Some(KeySpec::EccNistP256), None),
            Ecc
        );
        assert_eq!(
            classify("GenerateMac", Some(KeySpec::Hmac256), None),
            Symmetric
        );
        assert_eq!(classify("GenerateRandom", None, None), Symmetric);
        assert_eq!(
            classify(
                "GenerateDataKeyPairWithoutPlaintext",
                Some(KeySpec::SymmetricDefault),
                Some("ECC_NIST_P384")
            ),
            DataKeyPair("ECC_NIST_P384".into())
        );
        assert_eq!(
            classify("CreateKey", None, None),
            Operation("CreateKey".into())
        );
        assert_eq!(classify("CreateKey", None, None).name(), "CreateKey");
        assert_eq!(
            DataKeyPair("RSA_2048".into()).name(),
            "GenerateDataKeyPair:RSA_2048"
        );
    }

    #[test]
    fn config_reads_from_json() {
        let c: QuotaConfig =
            serde_json::from_str(r#"{"symmetric_rps": 5500, "overrides": {"CreateKey": 1}}"#)
                .unwrap();
        assert!(c.enabled);
        assert_eq!(c.symmetric_rps, 5500.0);
        assert_eq!(c.rps(&classify("CreateKey", None, None)), Some(1.0));
        assert!(serde_json::from_str::<QuotaConfig>(r#"{"colour": 1}"#).is_err());
    }
}
