//! Envelope encryption of any size, wire-compatible with the AWS Encryption
//! SDK (ESDK) message format. Spec: aws-encryption-sdk-specification
//! data-format/*.md and framework/*.md; our summary and deviations are in
//! `docs/formats/message.md`.
//!
//! * **Encrypt** with every ESDK suite the commitment policy allows: by
//!   default the committing suites `0x0478` (AES-256-GCM, HKDF-SHA512, key
//!   commitment, header v2) and `0x0578` (the same plus an ECDSA P-384
//!   signature footer; the official default); under
//!   [`CommitmentPolicy::ForbidEncryptAllowDecrypt`] the nine legacy suites
//!   `0x0014` … `0x0378` (header v1), for readers that predate commitment.
//!   Framed bodies, or non-framed ones with a frame length of 0.
//! * **Decrypt** every ESDK suite `0x0014` … `0x0578`: v1 and v2 headers,
//!   framed and non-framed bodies; the non-committing ones only under
//!   [`CommitmentPolicy::RequireEncryptAllowDecrypt`].
//! * **Keyrings** ([`Keyring`]): [`RawAesKeyring`] (wire-identical to the
//!   official raw AES keyring), [`KmsKeyring`] (data keys wrapped by
//!   Strongroom KMS keys through the public KMS API, so policies, grants,
//!   key state and encryption context apply) and [`MultiKeyring`].
//! * **Materials managers** ([`MaterialsManager`]): every keyring is one
//!   (the default behaviour); [`CachingCmm`] reuses data keys within limits
//!   and drops them the moment a KMS key they depend on changes.
//! * **Streaming** in constant memory: [`Encryptor`] / [`Decryptor`]
//!   (push: bytes in, bytes out), [`EncryptingWriter`] /
//!   [`DecryptingWriter`] (`std::io::Write`), [`encrypt_stream`] /
//!   [`decrypt_stream`] (`Read` → `Write`). Decryption never releases
//!   unauthenticated plaintext: each frame is released after its tag
//!   verifies, and for signed suites the final frame is held until the
//!   signature verifies.
//! * **Re-wrap** ([`rewrap_stream`]): move a message to other keys in one
//!   streaming pass — a fresh data key and message id, the body
//!   re-encrypted frame by frame as it verifies.
//!
//! Every malformed message gives a typed error, never a panic, and no
//! allocation is sized by untrusted input beyond [`DecryptOptions`]' limits.

use zeroize::Zeroizing;

use crate::context::EncryptionContext;
use crate::crypto;
use crate::env::Rng;
use crate::error::{Error, ErrorCode, Result};
use crate::secret::Plaintext;

mod cmm;
mod ecdh;
mod hierarchy;
mod keyring;
mod raw_rsa;
mod spec;
mod stream;

pub use cmm::{
    CacheStats, CachingCmm, CachingConfig, DecryptionRequest, EncryptionRequest, MaterialsCache,
    MaterialsManager, RequiredEncryptionContextCmm,
};
pub use ecdh::{
    EcdhCurve, KmsEcdhKeyring, RawEcdhKeyring, KMS_ECDH_PROVIDER_ID, RAW_ECDH_PROVIDER_ID,
};
#[doc(hidden)]
pub use hierarchy::{unwrap_edk as hierarchy_unwrap_edk, wrap_edk as hierarchy_wrap_edk};
pub use hierarchy::{
    BranchKeyCacheStats, BranchKeyIdSupplier, BranchKeyMaterials, BranchKeyStore,
    HierarchicalKeyring, DEFAULT_BRANCH_KEY_CACHE_CAPACITY, HIERARCHY_PROVIDER_ID,
};
pub use keyring::{
    DecryptionMaterials, DiscoveryFilter, EncryptionMaterials, Keyring, KmsKeyring, MultiKeyring,
    OpenedBy, RawAesKeyring, AWS_KMS_PROVIDER_ID, KMS_PROVIDER_ID,
};
pub use raw_rsa::{RawRsaKeyring, RsaPadding};
pub use spec::{multi, KeyringSpec, KmsEcdhScheme, RawEcdhScheme};
pub use stream::{
    decrypt_stream, encrypt_stream, reserve_wiped, rewrap_stream, signature_footer,
    DecryptingWriter, Decryptor, DelegatedDecryption, DelegatedEncryption, EncryptingWriter,
    Encryptor, FrameSpec, MessageInfo, SignatureCheck,
};

/// AES-256-GCM, HKDF-SHA512, key commitment, no signature.
pub const SUITE_AES256_HKDF_SHA512_COMMIT: u16 = 0x0478;
/// The same plus an ECDSA P-384 signature (the official SDKs' default).
pub const SUITE_AES256_HKDF_SHA512_COMMIT_ECDSA_P384: u16 = 0x0578;
pub(crate) const PUBLIC_KEY_CONTEXT_KEY: &str = "aws-crypto-public-key";
pub const DEFAULT_FRAME_LENGTH: u32 = 4096;
/// The largest frame length [`Encryptor`] accepts (the official SDKs' limit).
pub const MAX_FRAME_LENGTH: u32 = i32::MAX as u32;
pub(crate) const MESSAGE_ID_LEN: usize = 32;
/// The message id length of v1 headers (the legacy suites).
pub(crate) const MESSAGE_ID_LEN_V1: usize = 16;
pub(crate) const FINAL_FRAME: u32 = 0xFFFF_FFFF;
pub(crate) const RESERVED_PREFIX: &str = "aws-crypto-";

/// An encrypted data key as it appears in a message header. Not secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edk {
    pub provider_id: String,
    pub provider_info: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// How strictly encryption and decryption insist on key commitment (the
/// ESDK commitment policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum CommitmentPolicy {
    /// Encrypt with committing suites only (0x0478, 0x0578); only they
    /// decrypt. The default.
    #[default]
    RequireEncryptRequireDecrypt,
    /// Encrypt with committing suites; messages from older SDKs
    /// (non-committing suites, v1 headers) decrypt too.
    RequireEncryptAllowDecrypt,
    /// Encrypt with the legacy non-committing suites only (0x0014 …
    /// 0x0378, v1 headers), for readers that predate key commitment;
    /// every suite decrypts. Use it only while such readers remain.
    ForbidEncryptAllowDecrypt,
}

impl CommitmentPolicy {
    /// The policy's name as the SDKs spell it (`REQUIRE_ENCRYPT_REQUIRE_DECRYPT`,
    /// `REQUIRE_ENCRYPT_ALLOW_DECRYPT`, `FORBID_ENCRYPT_ALLOW_DECRYPT`): the
    /// form the language bindings take.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "REQUIRE_ENCRYPT_REQUIRE_DECRYPT" => CommitmentPolicy::RequireEncryptRequireDecrypt,
            "REQUIRE_ENCRYPT_ALLOW_DECRYPT" => CommitmentPolicy::RequireEncryptAllowDecrypt,
            "FORBID_ENCRYPT_ALLOW_DECRYPT" => CommitmentPolicy::ForbidEncryptAllowDecrypt,
            _ => {
                return Err(Error::validation(
                    "the commitment policy must be REQUIRE_ENCRYPT_REQUIRE_DECRYPT, REQUIRE_ENCRYPT_ALLOW_DECRYPT or FORBID_ENCRYPT_ALLOW_DECRYPT",
                ))
            }
        })
    }

    /// The policy for an "allow legacy suites" switch, as the CLI and the
    /// language bindings expose it.
    pub fn allowing_legacy(allow: bool) -> Self {
        if allow {
            CommitmentPolicy::RequireEncryptAllowDecrypt
        } else {
            CommitmentPolicy::RequireEncryptRequireDecrypt
        }
    }
}

/// How to encrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptOptions {
    /// `0x0578` (default, signed) or `0x0478`; under
    /// [`CommitmentPolicy::ForbidEncryptAllowDecrypt`] one of the nine
    /// legacy suites (the SDKs' default there is `0x0378`).
    pub suite: u16,
    /// Plaintext bytes per frame, 1 … 2^31 − 1 (default 4096); 0 writes a
    /// non-framed body (one AES-GCM block of at most 2^36 − 32 bytes,
    /// authenticated only at its end, so the whole plaintext is buffered).
    pub frame_length: u32,
    /// The plaintext length if known in advance. The caching materials
    /// manager only caches when it is known; encryption fails if the
    /// plaintext turns out to have another length.
    pub plaintext_length: Option<u64>,
    /// Which suites may encrypt (default: committing ones only).
    pub commitment_policy: CommitmentPolicy,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        EncryptOptions {
            suite: SUITE_AES256_HKDF_SHA512_COMMIT_ECDSA_P384,
            frame_length: DEFAULT_FRAME_LENGTH,
            plaintext_length: None,
            commitment_policy: CommitmentPolicy::RequireEncryptRequireDecrypt,
        }
    }
}

/// The largest non-framed body (AES-GCM's limit for one message).
pub const MAX_UNFRAMED_LENGTH: u64 = (1 << 36) - 32;

/// How to decrypt, with the limits that protect against hostile messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecryptOptions {
    pub commitment_policy: CommitmentPolicy,
    /// Messages with more encrypted data keys fail (default 10).
    pub max_encrypted_data_keys: u16,
    /// Largest header accepted, in bytes (default 1 MiB).
    pub max_header_bytes: usize,
    /// Largest frame length accepted (default 16 MiB): the most that is
    /// buffered at once.
    pub max_frame_length: u32,
    /// Largest non-framed body accepted (default 64 MiB): such a body is
    /// authenticated only at its end, so it is buffered whole.
    pub max_unframed_body: u64,
}

impl Default for DecryptOptions {
    fn default() -> Self {
        DecryptOptions {
            commitment_policy: CommitmentPolicy::RequireEncryptRequireDecrypt,
            max_encrypted_data_keys: 10,
            max_header_bytes: 1 << 20,
            max_frame_length: 16 << 20,
            max_unframed_body: 64 << 20,
        }
    }
}

impl DecryptOptions {
    pub fn with_policy(policy: CommitmentPolicy) -> Self {
        DecryptOptions {
            commitment_policy: policy,
            ..Default::default()
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kdf {
    Identity,
    Sha256,
    Sha384,
    Sha512Commit,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Sig {
    None,
    P256,
    P384,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Suite {
    pub id: u16,
    pub version: u8,
    pub key_len: usize,
    pub kdf: Kdf,
    pub sig: Sig,
}

pub(crate) fn suite(id: u16) -> Option<Suite> {
    let (version, key_len, kdf, sig) = match id {
        0x0014 => (1, 16, Kdf::Identity, Sig::None),
        0x0046 => (1, 24, Kdf::Identity, Sig::None),
        0x0078 => (1, 32, Kdf::Identity, Sig::None),
        0x0114 => (1, 16, Kdf::Sha256, Sig::None),
        0x0146 => (1, 24, Kdf::Sha256, Sig::None),
        0x0178 => (1, 32, Kdf::Sha256, Sig::None),
        0x0214 => (1, 16, Kdf::Sha256, Sig::P256),
        0x0346 => (1, 24, Kdf::Sha384, Sig::P384),
        0x0378 => (1, 32, Kdf::Sha384, Sig::P384),
        0x0478 => (2, 32, Kdf::Sha512Commit, Sig::None),
        0x0578 => (2, 32, Kdf::Sha512Commit, Sig::P384),
        _ => return None,
    };
    Some(Suite {
        id,
        version,
        key_len,
        kdf,
        sig,
    })
}

/// A suite materials can be made for (any ESDK message suite).
pub(crate) fn known_suite(id: u16) -> Result<Suite> {
    suite(id).ok_or_else(|| {
        Error::new(
            ErrorCode::UnsupportedOperation,
            format!("0x{id:04X} is not an ESDK message suite"),
        )
    })
}

/// The suite to encrypt with, if the commitment policy allows it.
pub(crate) fn encrypt_suite(id: u16, policy: CommitmentPolicy) -> Result<Suite> {
    let s = known_suite(id)?;
    let committing = s.kdf == Kdf::Sha512Commit;
    match (policy, committing) {
        (CommitmentPolicy::ForbidEncryptAllowDecrypt, false) => Ok(s),
        (CommitmentPolicy::ForbidEncryptAllowDecrypt, true) => Err(Error::validation(format!(
            "suite 0x{id:04X} commits to its key, which CommitmentPolicy::ForbidEncryptAllowDecrypt forbids; use a legacy suite such as 0x0378"
        ))),
        (_, true) => Ok(s),
        (_, false) => Err(Error::validation(format!(
            "suite 0x{id:04X} does not commit to its key; encrypting with it needs CommitmentPolicy::ForbidEncryptAllowDecrypt"
        ))),
    }
}

/// The ESDK serialization of an encryption context (without the outer
/// length): what keyrings bind as AAD.
pub fn serialized_context(ctx: &EncryptionContext) -> Result<Vec<u8>> {
    serialize_context(ctx)
}

/// The ESDK encryption context serialization (without the outer length).
pub(crate) fn serialize_context(ctx: &EncryptionContext) -> Result<Vec<u8>> {
    if ctx.is_empty() {
        return Ok(vec![]);
    }
    let mut out = (ctx.len() as u16).to_be_bytes().to_vec();
    for (k, v) in ctx {
        for f in [k.as_bytes(), v.as_bytes()] {
            let l: u16 = f.len().try_into().map_err(|_| {
                Error::validation("encryption context entries are limited to 65535 bytes")
            })?;
            out.extend_from_slice(&l.to_be_bytes());
            out.extend_from_slice(f);
        }
    }
    if out.len() > u16::MAX as usize || ctx.len() > u16::MAX as usize {
        return Err(Error::validation(
            "the serialized encryption context exceeds 65535 bytes",
        ));
    }
    Ok(out)
}

/// The content key and, for committing suites, the commitment key.
pub(crate) type DerivedKeys = (Zeroizing<Vec<u8>>, Option<[u8; 32]>);

/// The message's content key (and, for committing suites, the commitment
/// key) from the data key.
pub(crate) fn derive_keys(s: &Suite, data_key: &[u8], message_id: &[u8]) -> Result<DerivedKeys> {
    let bad = Error::invalid_ciphertext;
    if data_key.len() != s.key_len {
        return Err(bad());
    }
    Ok(match s.kdf {
        Kdf::Identity => (Zeroizing::new(data_key.to_vec()), None),
        Kdf::Sha256 | Kdf::Sha384 => {
            let mut info = s.id.to_be_bytes().to_vec();
            info.extend_from_slice(message_id);
            let mut k = Zeroizing::new(vec![0u8; s.key_len]);
            let ok = if s.kdf == Kdf::Sha256 {
                crypto::hkdf_sha256(data_key, &[], &info, &mut k)
            } else {
                hkdf::Hkdf::<sha2::Sha384>::new(None, data_key)
                    .expand(&info, &mut k)
                    .ok()
            };
            ok.ok_or_else(bad)?;
            (k, None)
        }
        Kdf::Sha512Commit => {
            let mut derived = Zeroizing::new(vec![0u8; 32]);
            let mut info = s.id.to_be_bytes().to_vec();
            info.extend_from_slice(b"DERIVEKEY");
            let mut commit = [0u8; 32];
            crypto::hkdf_sha512_multi(
                data_key,
                message_id,
                &mut [(&info, &mut derived[..]), (b"COMMITKEY", &mut commit[..])],
            )
            .ok_or_else(bad)?;
            (derived, Some(commit))
        }
    })
}

pub(crate) fn frame_aad(message_id: &[u8], last: bool, seq: u32, len: u64) -> Vec<u8> {
    let mut a = message_id.to_vec();
    a.extend_from_slice(if last {
        b"AWSKMSEncryptionClient Final Frame".as_slice()
    } else {
        b"AWSKMSEncryptionClient Frame".as_slice()
    });
    a.extend_from_slice(&seq.to_be_bytes());
    a.extend_from_slice(&len.to_be_bytes());
    a
}

pub(crate) fn frame_iv(seq: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[8..].copy_from_slice(&seq.to_be_bytes());
    iv
}

/// Encrypt a whole message with suite 0x0478.
pub fn encrypt(
    cmm: &dyn MaterialsManager,
    plaintext: &[u8],
    ctx: &EncryptionContext,
    frame_length: u32,
    rng: &dyn Rng,
) -> Result<Vec<u8>> {
    encrypt_with_suite(
        cmm,
        plaintext,
        ctx,
        frame_length,
        SUITE_AES256_HKDF_SHA512_COMMIT,
        rng,
    )
}

/// Encrypt a whole message with an explicit committing suite: `0x0478`,
/// or `0x0578` (signed with a fresh ECDSA P-384 key whose compressed
/// public key goes into the context as `aws-crypto-public-key`). Legacy
/// suites need [`encrypt_with`] and
/// [`CommitmentPolicy::ForbidEncryptAllowDecrypt`].
pub fn encrypt_with_suite(
    cmm: &dyn MaterialsManager,
    plaintext: &[u8],
    ctx: &EncryptionContext,
    frame_length: u32,
    suite: u16,
    rng: &dyn Rng,
) -> Result<Vec<u8>> {
    encrypt_with(
        cmm,
        plaintext,
        ctx,
        &EncryptOptions {
            suite,
            frame_length,
            plaintext_length: Some(plaintext.len() as u64),
            ..Default::default()
        },
        rng,
    )
}

/// Encrypt a whole message.
pub fn encrypt_with(
    cmm: &dyn MaterialsManager,
    plaintext: &[u8],
    ctx: &EncryptionContext,
    opts: &EncryptOptions,
    rng: &dyn Rng,
) -> Result<Vec<u8>> {
    let mut enc = Encryptor::new(cmm, ctx, opts, rng)?;
    let mut out = Vec::with_capacity(plaintext.len() + plaintext.len() / 64 + 1024);
    enc.update(plaintext, &mut out)?;
    enc.finish(&mut out)?;
    Ok(out)
}

/// A whole decrypted message.
#[derive(Debug)]
pub struct Decrypted {
    pub plaintext: Plaintext,
    pub info: MessageInfo,
}

/// Decrypt a whole message, committing suites only. Every failure after the
/// header parses is the opaque `InvalidCiphertextException` (or the KMS
/// error that stopped every keyring); no plaintext is returned unless every
/// frame authenticated and any signature verified.
pub fn decrypt(
    cmm: &dyn MaterialsManager,
    message: &[u8],
) -> Result<(Plaintext, EncryptionContext)> {
    decrypt_with_policy(cmm, message, CommitmentPolicy::RequireEncryptRequireDecrypt)
}

/// Decrypt under a commitment policy: with `RequireEncryptAllowDecrypt`,
/// messages of every ESDK suite 0x0014 … 0x0578 decrypt.
pub fn decrypt_with_policy(
    cmm: &dyn MaterialsManager,
    message: &[u8],
    policy: CommitmentPolicy,
) -> Result<(Plaintext, EncryptionContext)> {
    let d = decrypt_with(cmm, message, &DecryptOptions::with_policy(policy))?;
    Ok((d.plaintext, d.info.encryption_context))
}

/// Decrypt a whole message with explicit options; also says which keyring
/// opened it.
pub fn decrypt_with(
    cmm: &dyn MaterialsManager,
    message: &[u8],
    opts: &DecryptOptions,
) -> Result<Decrypted> {
    decrypt_expecting(cmm, message, opts, None)
}

/// [`decrypt_with`], with the encryption context the caller expects (see
/// [`Decryptor::with_encryption_context`]): needed for messages made
/// through a [`RequiredEncryptionContextCmm`], whose required pairs are
/// not stored in the message.
pub fn decrypt_expecting(
    cmm: &dyn MaterialsManager,
    message: &[u8],
    opts: &DecryptOptions,
    encryption_context: Option<&EncryptionContext>,
) -> Result<Decrypted> {
    let mut d = Decryptor::new(cmm, *opts);
    if let Some(c) = encryption_context {
        d = d.with_encryption_context(c.clone());
    }
    // Capacity for the whole plaintext up front: no reallocation leaves
    // unwiped copies behind; the buffer is wiped on every failure.
    let mut out = Zeroizing::new(Vec::with_capacity(message.len()));
    d.update(message, &mut out)?;
    let info = d.finish(&mut out)?;
    Ok(Decrypted {
        plaintext: Plaintext::new(out),
        info,
    })
}
