//! Keyrings: who wraps and unwraps a message's data key.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::{serialize_context, Edk, Suite};
use crate::api::{DecryptRequest, EncryptRequest, GenerateDataKeyRequest};
use crate::context::EncryptionContext;
use crate::crypto;
use crate::env::Rng;
use crate::error::{Error, ErrorCode, Result};
use crate::kms::Kms;

/// The provider id of EDKs made by [`KmsKeyring`]; their provider info is
/// the KMS key ARN (UTF-8).
pub const KMS_PROVIDER_ID: &str = "strongroom-kms";

/// The provider id of the official AWS Encryption SDKs' AWS KMS keyrings and
/// master key providers (provider info: the key ARN). [`KmsKeyring`] reads
/// such EDKs, and writes them when made with
/// [`KmsKeyring::with_aws_kms_provider_id`]: with those SDKs pointed at
/// `strongroom serve` on the same store, their EDKs are Strongroom
/// ciphertext blobs, so messages go both ways.
pub const AWS_KMS_PROVIDER_ID: &str = "aws-kms";

/// Which wrapping key opened a message: the provider id and, for KMS
/// keyrings, the key ARN; for raw AES keyrings, the key name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedBy {
    pub provider_id: String,
    pub key_name: String,
}

/// What encryption needs: the suite, the full encryption context (with
/// `aws-crypto-public-key` for signed suites), the plaintext data key and
/// its encrypted copies. The data key is zeroized on drop and never printed.
#[derive(Clone)]
pub struct EncryptionMaterials {
    pub(crate) suite: Suite,
    pub(crate) context: EncryptionContext,
    pub(crate) data_key: Option<Zeroizing<Vec<u8>>>,
    pub(crate) edks: Vec<Edk>,
    pub(crate) signing_key: Option<super::stream::SigningKey>,
    /// ARNs of the KMS keys that generated or wrapped the data key.
    pub(crate) kms_keys: Vec<String>,
    /// Context keys authenticated but not stored in the message (set by
    /// [`RequiredEncryptionContextCmm`](super::RequiredEncryptionContextCmm)).
    pub(crate) required_keys: Vec<String>,
}

impl fmt::Debug for EncryptionMaterials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionMaterials")
            .field("suite", &format_args!("0x{:04X}", self.suite.id))
            .field("context", &self.context)
            .field("edks", &self.edks.len())
            .finish_non_exhaustive()
    }
}

impl EncryptionMaterials {
    pub fn suite_id(&self) -> u16 {
        self.suite.id
    }
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.context
    }
    pub fn encrypted_data_keys(&self) -> &[Edk] {
        &self.edks
    }
    pub fn has_data_key(&self) -> bool {
        self.data_key.is_some()
    }
    /// The plaintext data key, for keyrings that wrap it.
    pub fn data_key(&self) -> Option<&[u8]> {
        self.data_key.as_deref().map(|v| v.as_slice())
    }
    /// Set the data key (a generator keyring does this once).
    pub fn set_data_key(&mut self, key: Zeroizing<Vec<u8>>) -> Result<()> {
        if self.data_key.is_some() {
            return Err(Error::validation("the data key is already set"));
        }
        if key.len() != self.suite.key_len {
            return Err(Error::validation(format!(
                "the data key must be {} bytes for this suite",
                self.suite.key_len
            )));
        }
        self.data_key = Some(key);
        Ok(())
    }
    pub fn add_encrypted_data_key(&mut self, edk: Edk) {
        self.edks.push(edk);
    }
    /// Context keys authenticated but not stored in the message.
    pub fn required_encryption_context_keys(&self) -> &[String] {
        &self.required_keys
    }
}

/// What decryption needs: the data key once a keyring has opened an EDK.
#[derive(Clone)]
pub struct DecryptionMaterials {
    pub(crate) suite: Suite,
    pub(crate) context: EncryptionContext,
    pub(crate) data_key: Option<Zeroizing<Vec<u8>>>,
    pub(crate) opened_by: Option<OpenedBy>,
    pub(crate) kms_keys: Vec<String>,
    /// Errors of KMS calls that failed (reported if nothing opens).
    pub(crate) failures: Vec<Error>,
    /// Context keys the message authenticates but does not store: their
    /// values come from the caller's reproduced encryption context.
    pub(crate) required_keys: Vec<String>,
}

impl fmt::Debug for DecryptionMaterials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptionMaterials")
            .field("suite", &format_args!("0x{:04X}", self.suite.id))
            .field("opened_by", &self.opened_by)
            .finish_non_exhaustive()
    }
}

impl DecryptionMaterials {
    pub fn suite_id(&self) -> u16 {
        self.suite.id
    }
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.context
    }
    pub fn has_data_key(&self) -> bool {
        self.data_key.is_some()
    }
    pub fn opened_by(&self) -> Option<&OpenedBy> {
        self.opened_by.as_ref()
    }
    /// Context keys the message authenticates but does not store.
    pub fn required_encryption_context_keys(&self) -> &[String] {
        &self.required_keys
    }
    /// Set the data key an EDK opened to.
    pub fn set_data_key(&mut self, key: Zeroizing<Vec<u8>>, by: OpenedBy) -> Result<()> {
        if self.data_key.is_some() {
            return Err(Error::validation("the data key is already set"));
        }
        if key.len() != self.suite.key_len {
            return Err(Error::invalid_ciphertext());
        }
        self.data_key = Some(key);
        self.opened_by = Some(by);
        Ok(())
    }
}

/// Wraps data keys on encrypt and unwraps one on decrypt.
///
/// `on_encrypt` generates the data key if none is set yet (a generator) and
/// adds its encrypted copy. `on_decrypt` tries the EDKs in order and sets
/// the data key from the first it can open; it leaves the materials
/// unchanged when it can open none.
pub trait Keyring: Send + Sync {
    fn on_encrypt(&self, m: &mut EncryptionMaterials, rng: &dyn Rng) -> Result<()>;
    fn on_decrypt(&self, m: &mut DecryptionMaterials, edks: &[Edk]) -> Result<()>;
    /// The KMS instances this keyring calls (so a data key cache can hear of
    /// key changes). Empty for keyrings without KMS keys.
    fn kms_handles(&self) -> Vec<Kms> {
        Vec::new()
    }
}

impl<K: Keyring + ?Sized> Keyring for Arc<K> {
    fn on_encrypt(&self, m: &mut EncryptionMaterials, rng: &dyn Rng) -> Result<()> {
        (**self).on_encrypt(m, rng)
    }
    fn on_decrypt(&self, m: &mut DecryptionMaterials, edks: &[Edk]) -> Result<()> {
        (**self).on_decrypt(m, edks)
    }
    fn kms_handles(&self) -> Vec<Kms> {
        (**self).kms_handles()
    }
}

/// Raw keyrings may not use the provider ids of the KMS, hierarchical and
/// ECDH keyrings.
pub(crate) fn check_namespace(namespace: &str) -> Result<()> {
    if namespace.starts_with("aws-kms") || namespace == "raw-ecdh" || namespace == KMS_PROVIDER_ID {
        return Err(Error::validation(format!(
            "provider id '{namespace}' is reserved"
        )));
    }
    Ok(())
}

fn random_data_key(m: &EncryptionMaterials, rng: &dyn Rng) -> Result<Zeroizing<Vec<u8>>> {
    let mut k = Zeroizing::new(vec![0u8; m.suite.key_len]);
    rng.fill(&mut k)?;
    Ok(k)
}

// ------------------------------------------------------------ raw AES

/// A raw AES-128, -192 or -256 wrapping key (the key's length picks the
/// size), wire-identical to the official SDKs' raw AES keyring / master
/// key: provider id = namespace; provider info = name ‖ u32 128 (tag bits)
/// ‖ u32 12 (IV length) ‖ IV; ciphertext = AES-GCM(key, IV, AAD =
/// serialized context, data key) ‖ tag. The key (and its RustCrypto key
/// schedule) is zeroized on drop, never printed.
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    gcm: crypto::Gcm,
}

impl fmt::Debug for RawAesKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawAesKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RawAesKeyring {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, key: &[u8]) -> Result<Self> {
        let namespace = namespace.into();
        check_namespace(&namespace)?;
        let gcm = crypto::Gcm::new_wiped(key).ok_or_else(|| {
            Error::validation("a raw AES wrapping key must be 16, 24 or 32 bytes")
        })?;
        Ok(RawAesKeyring {
            namespace,
            name: name.into(),
            gcm,
        })
    }

    fn info_prefix(&self) -> Vec<u8> {
        let mut v = self.name.as_bytes().to_vec();
        v.extend_from_slice(&128u32.to_be_bytes());
        v.extend_from_slice(&12u32.to_be_bytes());
        v
    }

    fn unwrap(&self, edk: &Edk, ctx: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let prefix = self.info_prefix();
        if edk.provider_id != self.namespace
            || edk.provider_info.len() != prefix.len() + 12
            || edk.provider_info[..prefix.len()] != prefix[..]
        {
            return None;
        }
        let iv = &edk.provider_info[prefix.len()..];
        let n = edk.ciphertext.len().checked_sub(crypto::TAG_LEN)?;
        let mut key = Zeroizing::new(edk.ciphertext[..n].to_vec());
        self.gcm
            .open(iv, ctx, &mut key, &edk.ciphertext[n..])
            .then_some(key)
    }
}

impl Keyring for RawAesKeyring {
    fn on_encrypt(&self, m: &mut EncryptionMaterials, rng: &dyn Rng) -> Result<()> {
        if m.data_key.is_none() {
            let k = random_data_key(m, rng)?;
            m.set_data_key(k)?;
        }
        let ctx = serialize_context(&m.context)?;
        let mut iv = [0u8; 12];
        rng.fill(&mut iv)?;
        let mut info = self.info_prefix();
        info.extend_from_slice(&iv);
        let mut ct = m.data_key().expect("set above").to_vec();
        let tag = self.gcm.seal(&iv, &ctx, &mut ct);
        ct.extend_from_slice(&tag);
        m.edks.push(Edk {
            provider_id: self.namespace.clone(),
            provider_info: info,
            ciphertext: ct,
        });
        Ok(())
    }

    fn on_decrypt(&self, m: &mut DecryptionMaterials, edks: &[Edk]) -> Result<()> {
        if m.data_key.is_some() {
            return Ok(());
        }
        let ctx = serialize_context(&m.context)?;
        for edk in edks {
            if let Some(k) = self.unwrap(edk, &ctx) {
                if k.len() == m.suite.key_len {
                    return m.set_data_key(
                        k,
                        OpenedBy {
                            provider_id: self.namespace.clone(),
                            key_name: self.name.clone(),
                        },
                    );
                }
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------ KMS

/// Data keys wrapped by Strongroom KMS keys, through the public KMS API of
/// a [`Kms`] handle (so its caller's policies and grants, the key's state
/// and the encryption context all apply, and every call is audited).
///
/// Encrypt: the generator key makes the data key (`GenerateDataKey`), every
/// other key wraps it (`Encrypt`); each EDK has provider id
/// [`KMS_PROVIDER_ID`] and the key ARN as provider info. The KMS encryption
/// context is the message's full context.
///
/// With [`KmsKeyring::with_aws_kms_provider_id`] the EDKs are written under
/// [`AWS_KMS_PROVIDER_ID`] instead, as the official SDKs' AWS KMS keyrings
/// write them.
///
/// Decrypt: EDKs of either provider id are tried in order; one is attempted if its ARN is one of
/// the keyring's keys (given as ARN or key id; aliases are resolved only on
/// encrypt), or any ARN in discovery mode (within its
/// [`DiscoveryFilter`], if it has one). Multi-Region keys match across
/// Regions: a replica opens what its primary wrapped. `Decrypt` is called
/// with the key ARN as `KeyId` and the answer must name the same key.
#[derive(Clone)]
pub struct KmsKeyring {
    kms: Kms,
    generator: Option<String>,
    others: Vec<String>,
    grant_tokens: Vec<String>,
    discovery: bool,
    filter: Option<DiscoveryFilter>,
    provider_id: &'static str,
}

/// Which EDKs a discovery keyring attempts: only those whose key ARN is in
/// this partition and one of these accounts (the SDKs' discovery filter).
/// EDKs outside it are skipped without a KMS call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DiscoveryFilter {
    pub partition: String,
    pub account_ids: Vec<String>,
}

/// The parts of a KMS key ARN `arn:partition:kms:region:account:key/id`.
struct KeyArn<'a> {
    partition: &'a str,
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

fn parse_key_arn(arn: &str) -> Option<KeyArn<'_>> {
    let mut it = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("kms"), Some(region), Some(account), Some(resource)) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return None;
    };
    if partition.is_empty() || region.is_empty() || account.is_empty() {
        return None;
    }
    resource.strip_prefix("key/").filter(|id| !id.is_empty())?;
    Some(KeyArn {
        partition,
        region,
        account,
        resource,
    })
}

fn is_mrk(a: &KeyArn<'_>) -> bool {
    a.resource.starts_with("key/mrk-")
}

impl fmt::Debug for KmsKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsKeyring")
            .field("generator", &self.generator)
            .field("others", &self.others)
            .field("discovery", &self.discovery)
            .field("filter", &self.filter)
            .field("provider_id", &self.provider_id)
            .finish_non_exhaustive()
    }
}

impl KmsKeyring {
    /// One key that generates on encrypt and is the only key tried on decrypt.
    pub fn new(kms: &Kms, key_id: impl Into<String>) -> Self {
        KmsKeyring {
            kms: kms.clone(),
            generator: Some(key_id.into()),
            others: Vec::new(),
            grant_tokens: Vec::new(),
            discovery: false,
            filter: None,
            provider_id: KMS_PROVIDER_ID,
        }
    }

    /// A generator (or none: then it can only wrap a data key another
    /// keyring generated) and further keys that each wrap the data key.
    pub fn with_keys(kms: &Kms, generator: Option<String>, others: Vec<String>) -> Self {
        KmsKeyring {
            kms: kms.clone(),
            generator,
            others,
            grant_tokens: Vec::new(),
            discovery: false,
            filter: None,
            provider_id: KMS_PROVIDER_ID,
        }
    }

    /// Decrypt-only: try every `strongroom-kms` and `aws-kms` EDK (the KMS still decides
    /// whether this caller may use the key).
    pub fn discovery(kms: &Kms) -> Self {
        KmsKeyring {
            kms: kms.clone(),
            generator: None,
            others: Vec::new(),
            grant_tokens: Vec::new(),
            discovery: true,
            filter: None,
            provider_id: KMS_PROVIDER_ID,
        }
    }

    /// Grant tokens passed with every KMS call.
    pub fn with_grant_tokens(mut self, tokens: Vec<String>) -> Self {
        self.grant_tokens = tokens;
        self
    }

    /// Write EDKs under [`AWS_KMS_PROVIDER_ID`] (`aws-kms`), so the
    /// official AWS Encryption SDKs' AWS KMS keyrings, pointed at
    /// `strongroom serve` over this store, open the messages. Decrypting
    /// reads both provider ids either way.
    pub fn with_aws_kms_provider_id(mut self) -> Self {
        self.provider_id = AWS_KMS_PROVIDER_ID;
        self
    }

    /// Decrypt only EDKs whose key ARN is in `filter`'s partition and
    /// accounts (discovery keyrings; a keyring with named keys already
    /// attempts only those).
    pub fn with_discovery_filter(mut self, filter: DiscoveryFilter) -> Result<Self> {
        if !self.discovery {
            return Err(Error::validation(
                "a discovery filter applies to discovery KMS keyrings only",
            ));
        }
        if filter.partition.is_empty() || filter.account_ids.is_empty() {
            return Err(Error::validation(
                "a discovery filter needs a partition and at least one account id",
            ));
        }
        self.filter = Some(filter);
        Ok(self)
    }

    /// The key id to call `Decrypt` with for an EDK whose provider info is
    /// `arn`, or `None` if this keyring does not attempt it.
    ///
    /// Multi-Region keys (`mrk-…`) are matched across Regions, as the SDKs'
    /// multi-Region-aware keyrings do: a configured replica ARN attempts
    /// an EDK its primary (or any other replica) wrapped, calling `Decrypt`
    /// with the configured ARN; a discovery keyring calls it with the EDK's
    /// ARN moved to this KMS handle's Region. Single-Region keys match
    /// exactly (or by bare key id).
    fn decrypt_key_for(&self, arn: &str) -> Option<String> {
        let edk = parse_key_arn(arn)?;
        if self.discovery {
            if let Some(f) = &self.filter {
                if edk.partition != f.partition || !f.account_ids.iter().any(|a| a == edk.account) {
                    return None;
                }
            }
            if is_mrk(&edk) && edk.region != self.kms.region() {
                return Some(format!(
                    "arn:{}:kms:{}:{}:{}",
                    edk.partition,
                    self.kms.region(),
                    edk.account,
                    edk.resource
                ));
            }
            return Some(arn.to_string());
        }
        self.generator.iter().chain(&self.others).find_map(|k| {
            if k == arn || (!k.starts_with("arn:") && arn.ends_with(&format!(":key/{k}"))) {
                return Some(arn.to_string());
            }
            let mine = parse_key_arn(k)?;
            (is_mrk(&mine)
                && is_mrk(&edk)
                && mine.partition == edk.partition
                && mine.account == edk.account
                && mine.resource == edk.resource)
                .then(|| k.clone())
        })
    }
}

impl Keyring for KmsKeyring {
    fn on_encrypt(&self, m: &mut EncryptionMaterials, _rng: &dyn Rng) -> Result<()> {
        if self.discovery {
            return Err(Error::validation(
                "a discovery KMS keyring cannot encrypt; name the keys",
            ));
        }
        let mut wrap_with: Vec<&String> = self.others.iter().collect();
        if m.data_key.is_none() {
            let gen = self.generator.as_ref().ok_or_else(|| {
                Error::validation("this KMS keyring has no generator and no data key was generated")
            })?;
            let r = self.kms.generate_data_key(GenerateDataKeyRequest {
                key_id: gen.clone(),
                encryption_context: m.context.clone(),
                number_of_bytes: Some(m.suite.key_len as u32),
                grant_tokens: self.grant_tokens.clone(),
                ..Default::default()
            })?;
            m.set_data_key(Zeroizing::new(r.plaintext.as_bytes().to_vec()))?;
            m.edks.push(Edk {
                provider_id: self.provider_id.into(),
                provider_info: r.key_id.as_bytes().to_vec(),
                ciphertext: r.ciphertext_blob,
            });
            m.kms_keys.push(r.key_id);
        } else if let Some(g) = &self.generator {
            wrap_with.insert(0, g);
        }
        for k in wrap_with {
            let r = self.kms.encrypt(EncryptRequest {
                key_id: k.clone(),
                plaintext: m.data_key().expect("set").into(),
                encryption_context: m.context.clone(),
                grant_tokens: self.grant_tokens.clone(),
                ..Default::default()
            })?;
            m.edks.push(Edk {
                provider_id: self.provider_id.into(),
                provider_info: r.key_id.as_bytes().to_vec(),
                ciphertext: r.ciphertext_blob,
            });
            m.kms_keys.push(r.key_id);
        }
        Ok(())
    }

    fn on_decrypt(&self, m: &mut DecryptionMaterials, edks: &[Edk]) -> Result<()> {
        if m.data_key.is_some() {
            return Ok(());
        }
        for edk in edks {
            if edk.provider_id != KMS_PROVIDER_ID && edk.provider_id != AWS_KMS_PROVIDER_ID {
                continue;
            }
            let Ok(arn) = std::str::from_utf8(&edk.provider_info) else {
                continue;
            };
            let Some(key_id) = self.decrypt_key_for(arn) else {
                continue;
            };
            match self.kms.decrypt(DecryptRequest {
                ciphertext_blob: edk.ciphertext.clone(),
                key_id: Some(key_id.clone()),
                encryption_context: m.context.clone(),
                grant_tokens: self.grant_tokens.clone(),
                ..Default::default()
            }) {
                Ok(r) if r.key_id == key_id => {
                    let key = Zeroizing::new(r.plaintext.as_bytes().to_vec());
                    if key.len() != m.suite.key_len {
                        m.failures.push(Error::invalid_ciphertext());
                        continue;
                    }
                    m.kms_keys.push(key_id.clone());
                    return m.set_data_key(
                        key,
                        OpenedBy {
                            provider_id: edk.provider_id.clone(),
                            key_name: key_id,
                        },
                    );
                }
                Ok(_) => m.failures.push(Error::invalid_ciphertext()),
                Err(e) => m.failures.push(e),
            }
        }
        Ok(())
    }

    fn kms_handles(&self) -> Vec<Kms> {
        vec![self.kms.clone()]
    }
}

// ------------------------------------------------------------ multi

/// A generator keyring plus children: on encrypt the generator makes the
/// data key and every child wraps it too, so the message opens with any of
/// them (for example one KMS key in each of two regions); on decrypt the
/// keyrings are tried in order (generator first).
#[derive(Clone)]
pub struct MultiKeyring {
    generator: Option<Arc<dyn Keyring>>,
    children: Vec<Arc<dyn Keyring>>,
}

impl fmt::Debug for MultiKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiKeyring")
            .field("generator", &self.generator.is_some())
            .field("children", &self.children.len())
            .finish()
    }
}

impl MultiKeyring {
    pub fn new(
        generator: Option<Arc<dyn Keyring>>,
        children: Vec<Arc<dyn Keyring>>,
    ) -> Result<Self> {
        if generator.is_none() && children.is_empty() {
            return Err(Error::validation(
                "a multi-keyring needs at least one keyring",
            ));
        }
        Ok(MultiKeyring {
            generator,
            children,
        })
    }
}

impl Keyring for MultiKeyring {
    fn on_encrypt(&self, m: &mut EncryptionMaterials, rng: &dyn Rng) -> Result<()> {
        match &self.generator {
            Some(g) => g.on_encrypt(m, rng)?,
            None if m.data_key.is_none() => {
                return Err(Error::validation(
                    "a multi-keyring without a generator cannot make a data key",
                ))
            }
            None => {}
        }
        for c in &self.children {
            c.on_encrypt(m, rng)?;
        }
        Ok(())
    }

    fn on_decrypt(&self, m: &mut DecryptionMaterials, edks: &[Edk]) -> Result<()> {
        for k in self.generator.iter().chain(&self.children) {
            if m.data_key.is_some() {
                break;
            }
            k.on_decrypt(m, edks)?;
        }
        Ok(())
    }

    fn kms_handles(&self) -> Vec<Kms> {
        self.generator
            .iter()
            .chain(&self.children)
            .flat_map(|k| k.kms_handles())
            .collect()
    }
}

/// Fresh encryption materials for `suite` and `ctx` before any keyring ran.
pub(crate) fn new_encryption_materials(
    suite: Suite,
    context: EncryptionContext,
    signing_key: Option<super::stream::SigningKey>,
) -> EncryptionMaterials {
    EncryptionMaterials {
        suite,
        context,
        data_key: None,
        edks: Vec::new(),
        signing_key,
        kms_keys: Vec::new(),
        required_keys: Vec::new(),
    }
}

pub(crate) fn new_decryption_materials(
    suite: Suite,
    context: EncryptionContext,
) -> DecryptionMaterials {
    DecryptionMaterials {
        suite,
        context,
        data_key: None,
        opened_by: None,
        kms_keys: Vec::new(),
        failures: Vec::new(),
        required_keys: Vec::new(),
    }
}

/// The part of `ctx` whose keys are in `keys`, serialized as the message
/// header serializes a context: the "encryption context to only
/// authenticate", appended to the header's authenticated bytes.
pub(crate) fn auth_only_context(ctx: &EncryptionContext, keys: &[String]) -> Result<Vec<u8>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let only: EncryptionContext = ctx
        .iter()
        .filter(|(k, _)| keys.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    serialize_context(&only)
}

/// `ctx` without the keys in `keys`: what the header stores.
pub(crate) fn stored_context(ctx: &EncryptionContext, keys: &[String]) -> EncryptionContext {
    ctx.iter()
        .filter(|(k, _)| !keys.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The error when no keyring opened any EDK: the first KMS refusal that is
/// not a ciphertext failure (disabled key, access denied, …) tells the
/// caller what to fix; otherwise the opaque ciphertext error.
pub(crate) fn nothing_opened(m: &DecryptionMaterials) -> Error {
    m.failures
        .iter()
        .find(|e| {
            !matches!(
                e.code(),
                ErrorCode::InvalidCiphertext | ErrorCode::IncorrectKey
            )
        })
        .cloned()
        .unwrap_or_else(Error::invalid_ciphertext)
}
