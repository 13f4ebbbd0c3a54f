//! The server's configuration file (TOML): the account, the access keys
//! and the principals they sign as, identity policies, `kms:ViaService`
//! sources and limits. See `docs/server.md` for the format.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use strongroom::{Caller, Error, ErrorCode};
use zeroize::Zeroizing;

/// The default account of a server started without a config file.
pub const DEFAULT_ACCOUNT: &str = "111122223333";
/// The region of requests that name none (unsigned requests under
/// `--no-verify`).
pub const DEFAULT_REGION: &str = "us-east-1";

/// A secret string from the config file (secret access key, session
/// token): zeroized on drop, never printed.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret::new(v))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret::from(v))
            }
        }
        // serde's own "invalid type" error would quote the value (a
        // mistyped secret): replace it with one that does not.
        d.deserialize_string(Text)
            .map_err(|_| serde::de::Error::custom("a secret must be a string"))
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(Zeroizing::new(s))
    }
}

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(Zeroizing::new(s.into()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// One access key: the key id clients sign with, its secret, and who it is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    /// The access key id (`AKIA...`, `ASIA...`, any string without `/`).
    pub id: String,
    /// The secret access key.
    pub secret: Secret,
    /// The principal ARN the key signs as: an IAM user or role, or an STS
    /// assumed-role session (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`),
    /// or the account root (`arn:aws:iam::ACCOUNT:root`).
    pub principal: String,
    /// When set, every request signed with this key must carry this
    /// session token (`X-Amz-Security-Token`), as temporary credentials of a
    /// role do; when unset, a request with a token is refused.
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// `kms:ViaService` for every request signed with this key (a service
    /// principal's key, e.g. `s3.us-east-1.amazonaws.com`).
    #[serde(default)]
    pub via_service: Option<String>,
}

/// An identity (IAM) policy attached to a principal, applied in every
/// region when its store opens (PutIdentityPolicy as the account root).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityPolicy {
    pub principal: String,
    pub name: String,
    /// The policy document (JSON text).
    pub document: String,
}

/// Limits on what one client can make the server hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: usize,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Time allowed to send a request's headers (also the idle time of a
    /// kept-alive connection between requests).
    pub header_timeout_ms: u64,
    /// Time allowed to send a request's body.
    pub body_timeout_ms: u64,
    /// Time allowed for a TLS handshake.
    pub tls_handshake_timeout_ms: u64,
    /// On shutdown, how long in-flight requests may take to finish.
    pub shutdown_grace_ms: u64,
    /// Allowed clock skew of `X-Amz-Date` (AWS: 15 minutes).
    pub max_skew_seconds: u64,
    /// Region stores open at once.
    pub max_open_regions: usize,
    /// Operations run at once (each on tokio's blocking pool); more wait.
    pub max_concurrent_ops: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_connections: 4096,
            header_timeout_ms: 10_000,
            body_timeout_ms: 10_000,
            tls_handshake_timeout_ms: 10_000,
            shutdown_grace_ms: 30_000,
            max_skew_seconds: 15 * 60,
            max_open_regions: crate::regions::DEFAULT_MAX_OPEN,
            max_concurrent_ops: 64,
        }
    }
}

impl Limits {
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }
}

/// The whole config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The account every store belongs to (12 digits).
    pub account: String,
    /// The region of unsigned requests under `--no-verify`.
    pub default_region: String,
    /// The regions served besides `default_region` (empty: only
    /// `default_region`). Others are refused with
    /// UnrecognizedClientException (signed for) or ValidationException
    /// (named in a request body) before any store is made for them.
    pub regions: Vec<String>,
    pub access_keys: Vec<AccessKey>,
    pub identity_policies: Vec<IdentityPolicy>,
    /// A request header whose value becomes `kms:ViaService` (for a
    /// trusted front proxy that says which service it calls for). Unset: no
    /// header is trusted.
    pub via_service_header: Option<String>,
    /// The peers (CIDR blocks, `10.0.0.0/8`, `::1/128`) whose
    /// `via_service_header` is believed; from any other peer it is ignored.
    /// Empty: from none.
    pub trusted_proxies: Vec<String>,
    pub limits: Limits,
    /// AWS's request quotas, simulated (`docs/quotas.md`): absent, no
    /// request is throttled; `[quotas]` turns them on at AWS's defaults.
    pub quotas: Option<strongroom::quota::QuotaConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            account: DEFAULT_ACCOUNT.into(),
            default_region: DEFAULT_REGION.into(),
            regions: Vec::new(),
            access_keys: Vec::new(),
            identity_policies: Vec::new(),
            via_service_header: None,
            trusted_proxies: Vec::new(),
            limits: Limits::default(),
            quotas: None,
        }
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::Validation, msg)
}

impl Config {
    /// Read and check a config file.
    pub fn load(path: &Path) -> Result<Config, Error> {
        // The file holds secrets: its text is wiped once parsed.
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?,
        );
        Config::parse(&text)
    }

    /// Parse and check config text (TOML).
    pub fn parse(text: &str) -> Result<Config, Error> {
        // toml's error names the line and the field, never a value.
        let c: Config =
            toml::from_str(text).map_err(|e| invalid(format!("config file: {}", e.message())))?;
        c.check()?;
        Ok(c)
    }

    /// Every rule a config must satisfy.
    pub fn check(&self) -> Result<(), Error> {
        if self.account.len() != 12 || !self.account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("config: account must be 12 digits"));
        }
        strongroom::kms::validate_region_name(&self.default_region)?;
        for r in &self.regions {
            strongroom::kms::validate_region_name(r)?;
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, k) in self.access_keys.iter().enumerate() {
            // Two keys with one secret: either's holder can sign as the
            // other (compared in constant time; never printed).
            if let Some(other) = self.access_keys[..i].iter().find(|o| {
                bool::from(subtle::ConstantTimeEq::ct_eq(
                    o.secret.expose().as_bytes(),
                    k.secret.expose().as_bytes(),
                ))
            }) {
                return Err(invalid(format!(
                    "config: access keys '{}' and '{}' have the same secret",
                    other.id, k.id
                )));
            }
            if k.id.is_empty() || k.id.contains(['/', ',', '=', ' ']) {
                return Err(invalid(format!("config: bad access key id '{}'", k.id)));
            }
            if !ids.insert(k.id.as_str()) {
                return Err(invalid(format!("config: access key '{}' twice", k.id)));
            }
            if k.secret.expose().is_empty() {
                return Err(invalid(format!(
                    "config: access key '{}': empty secret",
                    k.id
                )));
            }
            principal_caller(&k.principal)?;
        }
        for p in &self.identity_policies {
            principal_caller(&p.principal)?;
        }
        if let Some(h) = &self.via_service_header {
            hyper::header::HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| invalid(format!("config: bad header name '{h}'")))?;
        }
        self.trusted_proxy_nets()?;
        if self.served_regions().len() > self.limits.max_open_regions {
            return Err(invalid(format!(
                "config: {} regions listed but limits.max_open_regions is {}",
                self.served_regions().len(),
                self.limits.max_open_regions
            )));
        }
        if self.limits.max_connections == 0
            || self.limits.max_body_bytes == 0
            || self.limits.max_concurrent_ops == 0
        {
            return Err(invalid("config: limits must be positive"));
        }
        Ok(())
    }

    /// `trusted_proxies`, parsed (a bare address is a /32 or /128).
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, Error> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| invalid(format!("config: trusted_proxies: bad CIDR block '{p}'")))
            })
            .collect()
    }

    /// The regions served: `default_region` and `regions`.
    pub fn served_regions(&self) -> Vec<String> {
        let mut v = vec![self.default_region.clone()];
        for r in &self.regions {
            if !v.contains(r) {
                v.push(r.clone());
            }
        }
        v
    }

    /// The access keys by id.
    pub fn access_key_map(&self) -> BTreeMap<String, AccessKey> {
        self.access_keys
            .iter()
            .map(|k| (k.id.clone(), k.clone()))
            .collect()
    }
}

/// The caller for a principal ARN: its account is the ARN's.
pub fn principal_caller(principal: &str) -> Result<Caller, Error> {
    let account = principal.split(':').nth(4).unwrap_or_default();
    if !principal.starts_with("arn:") || account.is_empty() {
        return Err(invalid(format!(
            "config: principal '{principal}' is not an IAM or STS ARN"
        )));
    }
    Caller::new(principal, account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let c = Config::parse(
            r#"
account = "111122223333"
[[access_keys]]
id = "AKIDALICE"
secret = "alice-secret"
principal = "arn:aws:iam::111122223333:user/alice"
[[identity_policies]]
principal = "arn:aws:iam::111122223333:user/alice"
name = "p"
document = "{}"
[limits]
max_body_bytes = 1000
"#,
        )
        .unwrap();
        assert_eq!(c.limits.max_body_bytes, 1000);
        assert_eq!(c.limits.max_skew_seconds, 900);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("alice-secret"), "{dbg}");
        for bad in [
            "account = \"12\"",
            "[[access_keys]]\nid = \"A\"\nsecret = \"s\"\nprincipal = \"alice\"",
            "[[access_keys]]\nid = \"A/B\"\nsecret = \"s\"\nprincipal = \"arn:aws:iam::111122223333:user/a\"",
            "unknown = 1",
            "default_region = \"US_EAST\"",
        ] {
            let e = Config::parse(bad).unwrap_err();
            assert_eq!(e.code(), ErrorCode::Validation, "{bad}");
        }
        // Two keys with one secret; the message names the keys, not it.
        let key = |id: &str, secret: &str| {
            format!("[[access_keys]]\nid = \"{id}\"\nsecret = \"{secret}\"\nprincipal = \"arn:aws:iam::111122223333:user/{id}\"\n")
        };
        let e = Config::parse(&(key("A", "same-secret") + &key("B", "same-secret"))).unwrap_err();
        assert!(e.message().contains("same secret"), "{}", e.message());
        assert!(!e.message().contains("same-secret"), "{}", e.message());
        Config::parse(&(key("A", "one-secret") + &key("B", "two-secret"))).unwrap();
        // A secret that is not a string: the error does not quote it.
        let e = Config::parse(
            "[[access_keys]]\nid = \"A\"\nsecret = 98765432123\nprincipal = \"arn:aws:iam::111122223333:user/a\"\n",
        )
        .unwrap_err();
        assert!(!e.message().contains("98765432123"), "{}", e.message());
        assert!(
            e.message().contains("secret must be a string"),
            "{}",
            e.message()
        );
    }
}
