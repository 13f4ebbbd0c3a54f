//! Seed files: keys with fixed key ids (and, for tests only, fixed key
//! material), aliases, key policies, grants, identity policies, enabled
//! state, rotation history, tags and descriptions, created in a store
//! idempotently — like local-kms's `seed.yaml`. The format is
//! `docs/seed.md`.
//!
//! ```
//! use strongroom::{seed::Seed, Kms};
//! let seed = Seed::parse(r#"{
//!   "version": 1,
//!   "keys": [{"key_id": "0d8ef1b0-6b4c-4c3a-9a1e-2f6a7b8c9d0e", "description": "orders"}],
//!   "aliases": [{"alias_name": "alias/orders", "target_key_id": "0d8ef1b0-6b4c-4c3a-9a1e-2f6a7b8c9d0e"}]
//! }"#).unwrap();
//! let kms = Kms::in_memory("111122223333", "us-east-1").unwrap();
//! let first = seed.apply(&kms).unwrap();
//! assert_eq!(first.created.len(), 2);
//! let again = seed.apply(&kms).unwrap(); // idempotent
//! assert!(again.created.is_empty());
//! ```
//!
//! `insecure_fixed_material` makes every store seeded from the file hold
//! the same key bytes: anyone with the file can decrypt, sign and MAC as
//! the key. It exists for deterministic tests and must never protect real
//! data; [`SeedReport::insecure_keys`] lists such keys and applying logs a
//! warning for each (the CLI and the server print it on stderr).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

use crate::api::*;
use crate::error::{Error, ErrorCode, Result};
use crate::kms::{Kms, SeedKeyRequest, SeedMaterial, SeedMultiRegion, SeedOutcome};
use crate::model::{GrantConstraints, GrantOperation, KeySpec, KeyUsage};
use crate::secret::SecretBytes;

/// The only seed file version.
pub const SEED_VERSION: u32 = 1;

/// A parsed seed file (see `docs/seed.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Must be 1.
    pub version: u32,
    #[serde(default)]
    pub keys: Vec<SeedKey>,
    #[serde(default)]
    pub aliases: Vec<SeedAlias>,
    #[serde(default)]
    pub grants: Vec<SeedGrant>,
    #[serde(default)]
    pub identity_policies: Vec<SeedIdentityPolicy>,
}

/// A key entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedKey {
    pub key_id: String,
    /// Only in this region (single-Region keys; every region when absent).
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_spec", deserialize_with = "aws_enum")]
    pub key_spec: KeySpec,
    /// Default: ENCRYPT_DECRYPT for symmetric keys, GENERATE_VERIFY_MAC
    /// for HMAC keys, SIGN_VERIFY for ECC keys; RSA keys must say.
    #[serde(default, deserialize_with = "opt_aws_enum")]
    pub key_usage: Option<KeyUsage>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A JSON string, or the policy written out as a mapping.
    #[serde(default)]
    pub policy: Option<Document>,
    #[serde(default)]
    pub bypass_policy_lockout_safety_check: bool,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Turn on automatic rotation with this period (symmetric keys).
    #[serde(default)]
    pub rotation_period_days: Option<u32>,
    #[serde(default)]
    pub multi_region: Option<SeedKeyRegions>,
    /// INSECURE (tests only): the current key material, hex (32 bytes for
    /// symmetric keys, the HMAC key for HMAC keys) or a PEM `PRIVATE KEY`
    /// (PKCS#8; hex of the DER also works) for RSA and ECC keys.
    #[serde(default)]
    pub insecure_fixed_material: Option<InsecureMaterial>,
    /// INSECURE (tests only): earlier material versions, oldest first
    /// (a rotation history; symmetric keys with fixed material only).
    #[serde(default)]
    pub previous_materials: Vec<InsecureMaterial>,
    /// A rotation history of generated material: this many earlier
    /// versions (symmetric keys without fixed material).
    #[serde(default)]
    pub previous_versions: u32,
}

/// A multi-Region key's regions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedKeyRegions {
    pub primary_region: String,
    #[serde(default)]
    pub replica_regions: Vec<String>,
}

/// An alias entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedAlias {
    pub alias_name: String,
    pub target_key_id: String,
    #[serde(default)]
    pub region: Option<String>,
}

/// A grant entry (the name makes it idempotent).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGrant {
    pub key_id: String,
    pub name: String,
    pub grantee_principal: String,
    #[serde(default)]
    pub retiring_principal: Option<String>,
    pub operations: Vec<String>,
    #[serde(default)]
    pub constraints: Option<SeedGrantConstraints>,
    #[serde(default)]
    pub region: Option<String>,
}

/// Encryption-context constraints of a grant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGrantConstraints {
    #[serde(default)]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
}

/// An identity policy entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedIdentityPolicy {
    pub principal_arn: String,
    pub policy_name: String,
    pub document: Document,
    #[serde(default)]
    pub region: Option<String>,
}

/// A policy document: JSON text, or written out as a mapping.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Document {
    Text(String),
    Structured(serde_json::Map<String, serde_json::Value>),
}

impl Document {
    /// The JSON text (a mapping is written compactly, members sorted).
    pub fn to_json(&self) -> String {
        match self {
            Document::Text(t) => t.clone(),
            Document::Structured(m) => serde_json::Value::Object(m.clone()).to_string(),
        }
    }
}

/// Key material written in the seed file: wiped on drop, redacted Debug.
#[derive(Clone)]
pub struct InsecureMaterial(Zeroizing<String>);

impl fmt::Debug for InsecureMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InsecureMaterial(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for InsecureMaterial {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(|s| InsecureMaterial(Zeroizing::new(s)))
    }
}

impl InsecureMaterial {
    /// The bytes: a PEM `PRIVATE KEY` block's DER, or hex (whitespace
    /// ignored). The error names the key, never the bytes.
    fn decode(&self, key_id: &str) -> Result<SecretBytes> {
        let text = self.0.trim();
        if text.starts_with("-----BEGIN") {
            let (label, der) = pem_rfc7468::decode_vec(text.as_bytes()).map_err(|_| {
                Error::validation(format!(
                    "{key_id}: insecure_fixed_material is not valid PEM"
                ))
            })?;
            let der = Zeroizing::new(der);
            if label != "PRIVATE KEY" {
                return Err(Error::validation(format!(
                    "{key_id}: insecure_fixed_material must be a PKCS#8 \"PRIVATE KEY\" PEM block, not {label:?}"
                )));
            }
            return Ok(SecretBytes::from(der.to_vec()));
        }
        let compact: Zeroizing<String> =
            Zeroizing::new(text.chars().filter(|c| !c.is_whitespace()).collect());
        let bytes = Zeroizing::new(hex::decode(compact.as_bytes()).map_err(|_| {
            Error::validation(format!(
                "{key_id}: insecure_fixed_material must be hex or a PEM PRIVATE KEY block"
            ))
        })?);
        Ok(SecretBytes::from(bytes.to_vec()))
    }
}

fn yes() -> bool {
    true
}
fn default_spec() -> KeySpec {
    KeySpec::SymmetricDefault
}
fn aws_enum<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<KeySpec, D::Error> {
    let s = String::deserialize(d)?;
    KeySpec::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown key_spec {s:?}")))
}
fn opt_aws_enum<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<KeyUsage>, D::Error> {
    let s = String::deserialize(d)?;
    KeyUsage::parse(&s)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown key_usage {s:?}")))
}

/// What [`Seed::apply`] did, as lines like `key 0d8e…`, `alias/orders`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub created: Vec<String>,
    pub unchanged: Vec<String>,
    /// Keys of this region with `insecure_fixed_material` (created or not).
    pub insecure_keys: Vec<String>,
}

/// The warning printed for keys with fixed material.
pub const INSECURE_WARNING: &str = "WARNING: seed keys with insecure_fixed_material: their key bytes are in the seed file, so anyone with the file can decrypt, sign and MAC as these keys. For tests only; never protect real data with them.";

fn seed_error(what: impl Into<String>) -> Error {
    Error::validation(what)
}

impl Seed {
    /// Parse a seed file: JSON when it starts with `{`, otherwise YAML
    /// (with the crate feature `yaml`; without it, JSON only).
    pub fn parse(text: &str) -> Result<Seed> {
        let seed: Seed = if text.trim_start().starts_with('{') {
            serde_json::from_str(text)
                .map_err(|e| seed_error(format!("the seed file is not valid: {e}")))?
        } else {
            Self::parse_yaml(text)?
        };
        seed.validate()?;
        Ok(seed)
    }

    #[cfg(feature = "yaml")]
    fn parse_yaml(text: &str) -> Result<Seed> {
        serde_norway::from_str(text)
            .map_err(|e| seed_error(format!("the seed file is not valid: {e}")))
    }

    #[cfg(not(feature = "yaml"))]
    fn parse_yaml(_text: &str) -> Result<Seed> {
        Err(seed_error(
            "this build reads JSON seed files only (YAML needs the `yaml` feature)",
        ))
    }

    /// Checks that need no store: the version, duplicate entries.
    fn validate(&self) -> Result<()> {
        if self.version != SEED_VERSION {
            return Err(seed_error(format!(
                "seed file version {} is not supported (only {SEED_VERSION})",
                self.version
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for k in &self.keys {
            if !seen.insert((k.key_id.as_str(), k.region.as_deref())) {
                return Err(seed_error(format!("key {} is listed twice", k.key_id)));
            }
            if k.insecure_fixed_material.is_none() && !k.previous_materials.is_empty() {
                return Err(seed_error(format!(
                    "key {}: previous_materials needs insecure_fixed_material",
                    k.key_id
                )));
            }
            if k.insecure_fixed_material.is_some() && k.previous_versions > 0 {
                return Err(seed_error(format!(
                    "key {}: previous_versions is for generated material; with fixed material list previous_materials",
                    k.key_id
                )));
            }
            if k.multi_region.is_some() && k.region.is_some() {
                return Err(seed_error(format!(
                    "key {}: a multi-Region key names its regions in multi_region, not region",
                    k.key_id
                )));
            }
        }
        Ok(())
    }

    /// Does key entry `k` exist in `region`?
    fn key_in(k: &SeedKey, region: &str) -> bool {
        match &k.multi_region {
            Some(m) => m.primary_region == region || m.replica_regions.iter().any(|r| r == region),
            None => k.region.as_deref().is_none_or(|r| r == region),
        }
    }

    /// Does an entry for `key_id` with `region` apply in `here`? Only where
    /// its key is (when the key is a seed key) and its own region allows.
    fn entry_in(&self, key_id: &str, region: Option<&str>, here: &str) -> bool {
        if region.is_some_and(|r| r != here) {
            return false;
        }
        let seeded: Vec<&SeedKey> = self.keys.iter().filter(|k| k.key_id == key_id).collect();
        seeded.is_empty() || seeded.iter().any(|k| Self::key_in(k, here))
    }

    fn key_request(k: &SeedKey) -> Result<SeedKeyRequest> {
        let usage = match k.key_usage {
            Some(u) => u,
            None => match k.key_spec {
                KeySpec::SymmetricDefault => KeyUsage::EncryptDecrypt,
                KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                    KeyUsage::GenerateVerifyMac
                }
                KeySpec::EccNistP256 | KeySpec::EccNistP384 => KeyUsage::SignVerify,
                spec => {
                    return Err(seed_error(format!(
                        "key {}: a {spec} key needs key_usage",
                        k.key_id
                    )))
                }
            },
        };
        let material = match &k.insecure_fixed_material {
            Some(current) => {
                let mut all = Vec::with_capacity(k.previous_materials.len() + 1);
                for m in k.previous_materials.iter().chain([current]) {
                    all.push(m.decode(&k.key_id)?);
                }
                SeedMaterial::Chosen(all)
            }
            None => SeedMaterial::Generated {
                versions: k.previous_versions.saturating_add(1),
            },
        };
        Ok(SeedKeyRequest {
            key_id: k.key_id.clone(),
            description: k.description.clone(),
            key_spec: k.key_spec,
            key_usage: usage,
            policy: k.policy.as_ref().map(Document::to_json),
            bypass_policy_lockout_safety_check: k.bypass_policy_lockout_safety_check,
            tags: k.tags.iter().map(|(a, b)| Tag::new(a, b)).collect(),
            rotation_period_days: k.rotation_period_days,
            multi_region: k.multi_region.as_ref().map(|m| SeedMultiRegion {
                primary_region: m.primary_region.clone(),
                replica_regions: m.replica_regions.clone(),
            }),
            material,
        })
    }

    /// Apply the seed to `kms` (a handle acting as its account root; the
    /// entries for its region): create what is missing, leave alone what
    /// is there and the same, refuse (`AlreadyExistsException`) what is
    /// there and different. Order: keys (created Enabled), aliases,
    /// grants, identity policies, then keys the seed says are disabled
    /// are disabled — only keys this call created, so a second apply
    /// changes nothing, and changes made later through the API (a key
    /// enabled, a description updated) survive restarts.
    ///
    /// Stops at the first error; what was created before it stays (a
    /// second apply after a fix completes it).
    pub fn apply(&self, kms: &Kms) -> Result<SeedReport> {
        let here = kms.region().to_string();
        let mut report = SeedReport::default();
        let mut to_disable = Vec::new();
        for k in self.keys.iter().filter(|k| Self::key_in(k, &here)) {
            let req = Self::key_request(k)?;
            if k.insecure_fixed_material.is_some() {
                log::warn!(
                    "seed key {} in {here} has insecure_fixed_material (tests only)",
                    k.key_id
                );
                report.insecure_keys.push(k.key_id.clone());
            }
            let what = format!("key {}", k.key_id);
            match kms.seed_key(req)? {
                SeedOutcome::Created => {
                    if !k.enabled {
                        to_disable.push(k.key_id.clone());
                    }
                    report.created.push(what);
                }
                SeedOutcome::Unchanged => report.unchanged.push(what),
            }
        }

        if self
            .aliases
            .iter()
            .any(|a| self.entry_in(&a.target_key_id, a.region.as_deref(), &here))
        {
            let existing = all_aliases(kms)?;
            for a in &self.aliases {
                if !self.entry_in(&a.target_key_id, a.region.as_deref(), &here) {
                    continue;
                }
                let target = kms
                    .describe_key(DescribeKeyRequest {
                        key_id: a.target_key_id.clone(),
                        ..Default::default()
                    })?
                    .key_metadata
                    .key_id;
                match existing.get(&a.alias_name) {
                    Some(t) if *t == target => report.unchanged.push(a.alias_name.clone()),
                    Some(_) => {
                        return Err(Error::new(
                            ErrorCode::AlreadyExists,
                            format!(
                                "{} exists and points to another key than the seed's {}; it is not changed",
                                a.alias_name, a.target_key_id
                            ),
                        ))
                    }
                    None => {
                        kms.create_alias(CreateAliasRequest {
                            alias_name: a.alias_name.clone(),
                            target_key_id: target,
                        })?;
                        report.created.push(a.alias_name.clone());
                    }
                }
            }
        }

        for g in &self.grants {
            if !self.entry_in(&g.key_id, g.region.as_deref(), &here) {
                continue;
            }
            let mut ops = g
                .operations
                .iter()
                .map(|o| {
                    GrantOperation::parse(o).ok_or_else(|| {
                        seed_error(format!("grant {}: unknown operation {o:?}", g.name))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            ops.sort_by_key(|o| o.as_str());
            ops.dedup();
            let constraints = g.constraints.as_ref().map(|c| GrantConstraints {
                encryption_context_equals: c.encryption_context_equals.clone(),
                encryption_context_subset: c.encryption_context_subset.clone(),
            });
            let what = format!("grant {} on {}", g.name, g.key_id);
            let same_name: Vec<GrantListEntry> = all_grants(kms, &g.key_id)?
                .into_iter()
                .filter(|e| e.name.as_deref() == Some(g.name.as_str()))
                .collect();
            let matches = |e: &GrantListEntry| {
                let mut have = e.operations.clone();
                have.sort_by_key(|o| o.as_str());
                e.grantee_principal == g.grantee_principal
                    && e.retiring_principal == g.retiring_principal
                    && have == ops
                    && e.constraints == constraints
            };
            if same_name.iter().any(matches) {
                report.unchanged.push(what);
                continue;
            }
            if !same_name.is_empty() {
                return Err(Error::new(
                    ErrorCode::AlreadyExists,
                    format!(
                        "{what} exists with other principals, operations or constraints than the seed gives; it is not changed"
                    ),
                ));
            }
            kms.create_grant(CreateGrantRequest {
                key_id: g.key_id.clone(),
                grantee_principal: g.grantee_principal.clone(),
                retiring_principal: g.retiring_principal.clone(),
                operations: ops,
                constraints,
                name: Some(g.name.clone()),
                ..Default::default()
            })?;
            report.created.push(what);
        }

        for p in &self.identity_policies {
            if p.region.as_deref().is_some_and(|r| r != here) {
                continue;
            }
            let doc = p.document.to_json();
            let what = format!("identity policy {} of {}", p.policy_name, p.principal_arn);
            match kms.get_identity_policy(IdentityPolicyRequest {
                principal_arn: p.principal_arn.clone(),
                policy_name: p.policy_name.clone(),
            }) {
                Ok(have) if have.policy_document == doc => report.unchanged.push(what),
                Ok(_) => {
                    return Err(Error::new(
                        ErrorCode::AlreadyExists,
                        format!("{what} exists with another document than the seed gives; it is not changed"),
                    ))
                }
                Err(e) if e.code() == ErrorCode::NotFound => {
                    kms.put_identity_policy(PutIdentityPolicyRequest {
                        principal_arn: p.principal_arn.clone(),
                        policy_name: p.policy_name.clone(),
                        policy_document: doc,
                    })?;
                    report.created.push(what);
                }
                Err(e) => return Err(e),
            }
        }

        for id in to_disable {
            kms.disable_key(KeyIdRequest { key_id: id })?;
        }
        Ok(report)
    }
}

/// Alias name → target key id, every page.
fn all_aliases(kms: &Kms) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut marker = None;
    loop {
        let page = kms.list_aliases(ListAliasesRequest {
            marker,
            ..Default::default()
        })?;
        for a in page.aliases {
            out.insert(a.alias_name, a.target_key_id);
        }
        match (page.truncated, page.next_marker) {
            (true, Some(m)) => marker = Some(m),
            _ => return Ok(out),
        }
    }
}

/// Every grant of a key, every page.
fn all_grants(kms: &Kms, key_id: &str) -> Result<Vec<GrantListEntry>> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let page = kms.list_grants(ListGrantsRequest {
            key_id: key_id.to_string(),
            marker,
            ..Default::default()
        })?;
        out.extend(page.grants);
        match (page.truncated, page.next_marker) {
            (true, Some(m)) => marker = Some(m),
            _ => return Ok(out),
        }
    }
}
