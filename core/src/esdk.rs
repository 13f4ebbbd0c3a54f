//! The AWS Encryption SDK message format (issue 6, first part): messages
//! of any size under a data key wrapped by a keyring, wire-compatible with
//! the official SDKs. This version encrypts with header v2 and the
//! committing suites `0x0478` (AES-256-GCM, HKDF-SHA512, key commitment)
//! and `0x0578` (the same plus an ECDSA P-384 signature footer over header
//! and body, and the `aws-crypto-public-key` context entry: the official
//! default), framed, under the raw AES keyring. It decrypts every ESDK
//! suite `0x0014` … `0x0578`: v1 and v2 headers, framed and non-framed
//! bodies, identity / HKDF-SHA256 / HKDF-SHA384 / committing HKDF-SHA512 key
//! derivation, ECDSA P-256/P-384 footers — the non-committing ones only
//! under [`CommitmentPolicy::RequireEncryptAllowDecrypt`]. KMS and multi
//! keyrings, streaming and caching are not implemented yet.
//!
//! For `0x0578` the footer is `u16 len ‖ DER ECDSA-SHA384 signature` over
//! every byte before it; the public key is the base64 of the compressed
//! point in the context; nothing is returned before it verifies. A message
//! whose suite does not sign must not carry that context key, and one whose
//! suite signs must.
//!
//! Layout (big-endian; spec: aws-encryption-sdk-specification
//! data-format/message-header.md, message-body.md):
//! ```text
//! header  = 02 ‖ suite u16 ‖ message id (32) ‖ u16 len ‖ context
//!           ‖ u16 EDK count ‖ EDKs ‖ content type 02 ‖ u32 frame length
//!           ‖ commit key (32) ‖ tag (16; AES-GCM, zero IV, empty plaintext,
//!           AAD = header bytes before the tag)
//! context = empty, or u16 count ‖ (u16 len ‖ key ‖ u16 len ‖ value)*,
//!           sorted by key bytes
//! EDK     = u16 len ‖ provider id ‖ u16 len ‖ provider info ‖ u16 len ‖ ciphertext
//! frame   = u32 seq ‖ IV (00×8 ‖ seq) ‖ ciphertext ‖ tag
//! final   = FFFFFFFF ‖ u32 seq ‖ IV ‖ u32 len ‖ ciphertext ‖ tag
//! frame AAD = message id ‖ "AWSKMSEncryptionClient Frame" (or "... Final
//!           Frame") ‖ u32 seq ‖ u64 length
//! keys    = HKDF-SHA512(salt = message id, IKM = data key):
//!           derived = expand(suite u16 ‖ "DERIVEKEY", 32),
//!           commit  = expand("COMMITKEY", 32)
//! raw AES EDK: provider id = namespace; info = name ‖ 00000080 ‖ 0000000C ‖ IV;
//!           ciphertext = AES-256-GCM(wrapping key, IV, AAD = context, data key) ‖ tag
//! ```

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::context::EncryptionContext;
use crate::crypto;
use crate::env::Rng;
use crate::error::{Error, ErrorCode, Result};
use crate::secret::Plaintext;
use crate::wire::Reader;

/// AES-256-GCM, HKDF-SHA512, key commitment, no signature.
pub const SUITE_AES256_HKDF_SHA512_COMMIT: u16 = 0x0478;
/// The same plus an ECDSA P-384 signature (the official SDKs' default).
pub const SUITE_AES256_HKDF_SHA512_COMMIT_ECDSA_P384: u16 = 0x0578;
const PUBLIC_KEY_CONTEXT_KEY: &str = "aws-crypto-public-key";
pub const DEFAULT_FRAME_LENGTH: u32 = 4096;
const MESSAGE_ID_LEN: usize = 32;
const FINAL_FRAME: u32 = 0xFFFF_FFFF;
const RESERVED_PREFIX: &str = "aws-crypto-";

/// A raw AES-256 wrapping key, wire-identical to the official SDKs' raw
/// AES keyring / master key. The key is zeroized on drop, never printed.
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    key: Zeroizing<[u8; 32]>,
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
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        key: [u8; 32],
    ) -> Result<Self> {
        let namespace = namespace.into();
        if namespace.starts_with("aws-kms") || namespace == "raw-ecdh" {
            return Err(Error::validation(format!(
                "provider id '{namespace}' is reserved"
            )));
        }
        Ok(RawAesKeyring {
            namespace,
            name: name.into(),
            key: Zeroizing::new(key),
        })
    }

    fn info_prefix(&self) -> Vec<u8> {
        let mut v = self.name.as_bytes().to_vec();
        v.extend_from_slice(&128u32.to_be_bytes());
        v.extend_from_slice(&12u32.to_be_bytes());
        v
    }

    fn wrap(&self, data_key: &[u8], ctx: &[u8], rng: &dyn Rng) -> Result<Edk> {
        let mut iv = [0u8; 12];
        rng.fill(&mut iv)?;
        let mut info = self.info_prefix();
        info.extend_from_slice(&iv);
        let mut ct = data_key.to_vec();
        crypto::aes256gcm_seal_in_place(&self.key, &iv, ctx, &mut ct, 0);
        Ok(Edk {
            provider_id: self.namespace.clone(),
            provider_info: info,
            ciphertext: ct,
        })
    }

    fn unwrap(&self, edk: &Edk, ctx: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let prefix = self.info_prefix();
        if edk.provider_id != self.namespace
            || edk.provider_info.len() != prefix.len() + 12
            || edk.provider_info[..prefix.len()] != prefix[..]
        {
            return None;
        }
        let iv: [u8; 12] = edk.provider_info[prefix.len()..].try_into().ok()?;
        crypto::aes256gcm_open(&self.key, &iv, ctx, &edk.ciphertext)
    }
}

struct Edk {
    provider_id: String,
    provider_info: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// The ESDK encryption context serialization (without the outer length).
fn serialize_context(ctx: &EncryptionContext) -> Result<Vec<u8>> {
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
    if out.len() > u16::MAX as usize {
        return Err(Error::validation(
            "the serialized encryption context exceeds 65535 bytes",
        ));
    }
    Ok(out)
}

fn derive(data_key: &[u8], message_id: &[u8], suite: u16) -> (Zeroizing<[u8; 32]>, [u8; 32]) {
    let mut derived = Zeroizing::new([0u8; 32]);
    let mut info = suite.to_be_bytes().to_vec();
    info.extend_from_slice(b"DERIVEKEY");
    crypto::hkdf_sha512(data_key, message_id, &info, &mut derived[..]).expect("32 bytes");
    let mut commit = [0u8; 32];
    crypto::hkdf_sha512(data_key, message_id, b"COMMITKEY", &mut commit).expect("32 bytes");
    (derived, commit)
}

fn frame_aad(message_id: &[u8], last: bool, seq: u32, len: u64) -> Vec<u8> {
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

fn frame_iv(seq: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[8..].copy_from_slice(&seq.to_be_bytes());
    iv
}

/// Encrypt a whole message with suite 0x0478 and one raw AES keyring.
pub fn encrypt(
    keyring: &RawAesKeyring,
    plaintext: &[u8],
    ctx: &EncryptionContext,
    frame_length: u32,
    rng: &dyn Rng,
) -> Result<Vec<u8>> {
    encrypt_with_suite(
        keyring,
        plaintext,
        ctx,
        frame_length,
        SUITE_AES256_HKDF_SHA512_COMMIT,
        rng,
    )
}

/// Encrypt with an explicit suite: `0x0478`, or `0x0578` (signed with a
/// fresh ECDSA P-384 key whose compressed public key goes into the context
/// as `aws-crypto-public-key`).
pub fn encrypt_with_suite(
    keyring: &RawAesKeyring,
    plaintext: &[u8],
    ctx: &EncryptionContext,
    frame_length: u32,
    suite: u16,
    rng: &dyn Rng,
) -> Result<Vec<u8>> {
    let signed = match suite {
        SUITE_AES256_HKDF_SHA512_COMMIT => false,
        SUITE_AES256_HKDF_SHA512_COMMIT_ECDSA_P384 => true,
        other => {
            return Err(Error::new(
                ErrorCode::UnsupportedOperation,
                format!(
                    "encrypting with suite 0x{other:04X} is not supported (0x0478 and 0x0578 are)"
                ),
            ))
        }
    };
    if frame_length == 0 {
        return Err(Error::validation("the frame length must be at least 1"));
    }
    if ctx.keys().any(|k| k.starts_with(RESERVED_PREFIX)) {
        return Err(Error::validation(
            "encryption context keys starting with 'aws-crypto-' are reserved",
        ));
    }
    let frames = (plaintext.len() as u64)
        .div_ceil(frame_length as u64)
        .max(1);
    if frames > u32::MAX as u64 - 1 {
        return Err(Error::validation(
            "the message needs more than 2^32 - 2 frames; use a larger frame length",
        ));
    }
    let mut ctx = ctx.clone();
    let signer = if signed {
        let mut b = Zeroizing::new([0u8; 48]);
        let sk = loop {
            rng.fill(&mut b[..])?;
            if let Ok(k) = p384::ecdsa::SigningKey::from_slice(&b[..]) {
                break k;
            }
        };
        let point = sk.verifying_key().to_sec1_point(true);
        use base64::Engine;
        ctx.insert(
            PUBLIC_KEY_CONTEXT_KEY.into(),
            base64::engine::general_purpose::STANDARD.encode(point.as_bytes()),
        );
        Some(sk)
    } else {
        None
    };
    let ser = serialize_context(&ctx)?;
    let mut data_key = Zeroizing::new([0u8; 32]);
    rng.fill(&mut data_key[..])?;
    let mut message_id = [0u8; MESSAGE_ID_LEN];
    rng.fill(&mut message_id)?;
    let edk = keyring.wrap(&data_key[..], &ser, rng)?;
    let (derived, commit) = derive(&data_key[..], &message_id, suite);

    let mut out = vec![0x02];
    out.extend_from_slice(&suite.to_be_bytes());
    out.extend_from_slice(&message_id);
    out.extend_from_slice(&(ser.len() as u16).to_be_bytes());
    out.extend_from_slice(&ser);
    out.extend_from_slice(&1u16.to_be_bytes());
    for f in [
        edk.provider_id.as_bytes(),
        &edk.provider_info,
        &edk.ciphertext,
    ] {
        out.extend_from_slice(&(f.len() as u16).to_be_bytes());
        out.extend_from_slice(f);
    }
    out.push(0x02);
    out.extend_from_slice(&frame_length.to_be_bytes());
    out.extend_from_slice(&commit);
    let tag = {
        let mut empty = Vec::new();
        crypto::aes256gcm_seal_in_place(&derived, &[0u8; 12], &out, &mut empty, 0);
        empty
    };
    out.extend_from_slice(&tag);

    let fl = frame_length as usize;
    for i in 0..frames as usize {
        let seq = (i + 1) as u32;
        let last = i + 1 == frames as usize;
        let chunk = &plaintext[i * fl..((i + 1) * fl).min(plaintext.len())];
        if last {
            out.extend_from_slice(&FINAL_FRAME.to_be_bytes());
        }
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&frame_iv(seq));
        if last {
            out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        }
        let aad = frame_aad(&message_id, last, seq, chunk.len() as u64);
        let start = out.len();
        out.extend_from_slice(chunk);
        crypto::aes256gcm_seal_in_place(&derived, &frame_iv(seq), &aad, &mut out, start);
    }
    if let Some(sk) = signer {
        use p384::ecdsa::signature::Signer;
        let sig: p384::ecdsa::Signature = sk
            .try_sign(&out)
            .map_err(|_| Error::internal("ECDSA signing failed"))?;
        let der = sig.to_der();
        out.extend_from_slice(&(der.as_bytes().len() as u16).to_be_bytes());
        out.extend_from_slice(der.as_bytes());
    }
    Ok(out)
}

fn parse_context(b: &[u8]) -> Result<EncryptionContext> {
    let mut ctx = EncryptionContext::new();
    if b.is_empty() {
        return Ok(ctx);
    }
    let mut r = Reader(b, 0);
    let n = r.u16()?;
    if n == 0 {
        return Err(Error::invalid_ciphertext());
    }
    for _ in 0..n {
        let kl = r.u16()? as usize;
        let k = r.utf8(kl)?;
        let vl = r.u16()? as usize;
        let v = r.utf8(vl)?;
        if ctx.insert(k, v).is_some() {
            return Err(Error::invalid_ciphertext());
        }
    }
    if r.1 != b.len() {
        return Err(Error::invalid_ciphertext());
    }
    Ok(ctx)
}

/// How strictly decryption insists on key commitment (ESDK commitment
/// policies). Encryption always commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitmentPolicy {
    /// Only committing suites (0x0478, 0x0578) decrypt. The default.
    #[default]
    RequireEncryptRequireDecrypt,
    /// Messages from older SDKs (non-committing suites, v1 headers) decrypt too.
    RequireEncryptAllowDecrypt,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kdf {
    Identity,
    Sha256,
    Sha384,
    Sha512Commit,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sig {
    None,
    P256,
    P384,
}

struct Suite {
    id: u16,
    version: u8,
    key_len: usize,
    kdf: Kdf,
    sig: Sig,
}

fn suite(id: u16) -> Option<Suite> {
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

/// AES-GCM open with a 128/192/256-bit key.
fn gcm_open(key: &[u8], iv: &[u8], aad: &[u8], ct_tag: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let nonce = aes_gcm::Nonce::from_slice(iv);
    let p = Payload { msg: ct_tag, aad };
    let r = match key.len() {
        16 => aes_gcm::Aes128Gcm::new_from_slice(key)
            .ok()?
            .decrypt(nonce, p),
        24 => {
            aes_gcm::AesGcm::<aes_gcm::aes::Aes192, aes_gcm::aead::consts::U12>::new_from_slice(key)
                .ok()?
                .decrypt(nonce, p)
        }
        32 => aes_gcm::Aes256Gcm::new_from_slice(key)
            .ok()?
            .decrypt(nonce, p),
        _ => return None,
    };
    r.ok().map(Zeroizing::new)
}

enum Verifier {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// Decrypt a whole message with a raw AES keyring, committing suites only.
/// Every failure after the suite check is the opaque
/// `InvalidCiphertextException`; no plaintext is returned unless every
/// frame authenticated and any signature verified.
pub fn decrypt(keyring: &RawAesKeyring, message: &[u8]) -> Result<(Plaintext, EncryptionContext)> {
    decrypt_with_policy(
        keyring,
        message,
        CommitmentPolicy::RequireEncryptRequireDecrypt,
    )
}

/// Decrypt under a commitment policy: with `RequireEncryptAllowDecrypt`,
/// messages of every ESDK suite 0x0014 … 0x0578 (v1 and v2 headers, framed
/// and non-framed bodies) decrypt.
pub fn decrypt_with_policy(
    keyring: &RawAesKeyring,
    message: &[u8],
    policy: CommitmentPolicy,
) -> Result<(Plaintext, EncryptionContext)> {
    let bad = Error::invalid_ciphertext;
    let mut r = Reader(message, 0);
    let version = r.u8()?;
    if version == 0x01 && r.u8()? != 0x80 {
        return Err(bad());
    }
    if version != 0x01 && version != 0x02 {
        return Err(bad());
    }
    let id = r.u16()?;
    let s = suite(id).ok_or_else(|| {
        Error::new(
            ErrorCode::UnsupportedOperation,
            format!("algorithm suite 0x{id:04X} is not an ESDK message suite"),
        )
    })?;
    if s.version != version {
        return Err(bad());
    }
    if s.kdf != Kdf::Sha512Commit && policy == CommitmentPolicy::RequireEncryptRequireDecrypt {
        return Err(Error::validation(format!(
            "this message uses the non-committing suite 0x{id:04X}; decrypting it needs CommitmentPolicy::RequireEncryptAllowDecrypt"
        )));
    }
    let message_id = r.take(if version == 1 { 16 } else { MESSAGE_ID_LEN })?;
    let ctx_len = r.u16()? as usize;
    let ctx_bytes = r.take(ctx_len)?;
    let ctx = parse_context(ctx_bytes)?;
    // The signing key's public half is in the context exactly when the
    // suite signs.
    let verifier = match (s.sig, ctx.get(PUBLIC_KEY_CONTEXT_KEY)) {
        (Sig::None, None) => None,
        (Sig::None, Some(_)) | (_, None) => return Err(bad()),
        (sig, Some(b64)) => {
            use base64::Engine;
            let point = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| bad())?;
            Some(match sig {
                Sig::P256 => Verifier::P256(
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| bad())?,
                ),
                _ => Verifier::P384(
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| bad())?,
                ),
            })
        }
    };
    let edk_count = r.u16()?;
    if edk_count == 0 {
        return Err(bad());
    }
    let mut data_key = None;
    for _ in 0..edk_count {
        let mut field = || -> Result<Vec<u8>> {
            let l = r.u16()? as usize;
            Ok(r.take(l)?.to_vec())
        };
        let pid = String::from_utf8(field()?).map_err(|_| bad())?;
        let edk = Edk {
            provider_id: pid,
            provider_info: field()?,
            ciphertext: field()?,
        };
        if data_key.is_none() {
            data_key = keyring.unwrap(&edk, ctx_bytes);
        }
    }
    let data_key = data_key.ok_or_else(bad)?;
    if data_key.len() != s.key_len {
        return Err(bad());
    }
    let content_type = r.u8()?;
    // Both header versions carry either body form (0x01 non-framed,
    // 0x02 framed); the official SDK writes v2 non-framed messages.
    let framed = match content_type {
        0x02 => true,
        0x01 => false,
        _ => return Err(bad()),
    };
    // v1: four reserved zero bytes and the IV length (12).
    if version == 1 && (r.take(4)? != [0, 0, 0, 0] || r.u8()? != 12) {
        return Err(bad());
    }
    let frame_length = r.u32()? as usize;
    if framed && frame_length == 0 || !framed && frame_length != 0 {
        return Err(bad());
    }
    // Key derivation.
    let derived: Zeroizing<Vec<u8>> = match s.kdf {
        Kdf::Identity => Zeroizing::new(data_key.to_vec()),
        Kdf::Sha256 | Kdf::Sha384 => {
            let mut info = id.to_be_bytes().to_vec();
            info.extend_from_slice(message_id);
            let mut k = Zeroizing::new(vec![0u8; s.key_len]);
            let ok = if s.kdf == Kdf::Sha256 {
                crypto::hkdf_sha256(&data_key, &[], &info, &mut k)
            } else {
                hkdf::Hkdf::<sha2::Sha384>::new(None, &data_key)
                    .expand(&info, &mut k)
                    .ok()
            };
            ok.ok_or_else(bad)?;
            k
        }
        Kdf::Sha512Commit => {
            let commit = r.take(32)?;
            let (derived, want) = derive(&data_key, message_id, s.id);
            if !bool::from(want.ct_eq(commit)) {
                return Err(bad());
            }
            Zeroizing::new(derived.to_vec())
        }
    };
    let header_end = r.1;
    let (header_iv, tag) = if version == 1 {
        (r.take(12)?.to_vec(), r.take(16)?)
    } else {
        (vec![0u8; 12], r.take(16)?)
    };
    gcm_open(&derived, &header_iv, &message[..header_end], tag).ok_or_else(bad)?;

    let mut out = Zeroizing::new(Vec::new());
    if framed {
        let mut expected = 1u32;
        loop {
            let first = r.u32()?;
            let last = first == FINAL_FRAME;
            let seq = if last { r.u32()? } else { first };
            if seq != expected {
                return Err(bad());
            }
            let iv = r.take(12)?;
            if iv != frame_iv(seq) {
                return Err(bad());
            }
            let len = if last {
                r.u32()? as usize
            } else {
                frame_length
            };
            if len > frame_length {
                return Err(bad());
            }
            let body = r.take(len + 16)?;
            let aad = frame_aad(message_id, last, seq, len as u64);
            out.extend_from_slice(&gcm_open(&derived, iv, &aad, body).ok_or_else(bad)?);
            if last {
                break;
            }
            expected = expected
                .checked_add(1)
                .filter(|s| *s != FINAL_FRAME)
                .ok_or_else(bad)?;
        }
    } else {
        let iv = r.take(12)?;
        let len = u64::from_be_bytes(r.take(8)?.try_into().expect("8"));
        if len > (1u64 << 36) - 32 {
            return Err(bad());
        }
        let body = r.take(len as usize + 16)?;
        let mut aad = message_id.to_vec();
        aad.extend_from_slice(b"AWSKMSEncryptionClient Single Block");
        aad.extend_from_slice(&1u32.to_be_bytes());
        aad.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&gcm_open(&derived, iv, &aad, body).ok_or_else(bad)?);
    }
    if let Some(v) = verifier {
        // Nothing is released before the signature over header and body verifies.
        use p256::ecdsa::signature::Verifier as _;
        let signed_len = r.1;
        let sig_len = r.u16()? as usize;
        let der = r.take(sig_len)?;
        let ok = match v {
            Verifier::P256(vk) => p256::ecdsa::Signature::from_der(der)
                .map(|sig| vk.verify(&message[..signed_len], &sig).is_ok()),
            Verifier::P384(vk) => p384::ecdsa::Signature::from_der(der)
                .map(|sig| vk.verify(&message[..signed_len], &sig).is_ok()),
        };
        if !matches!(ok, Ok(true)) {
            return Err(bad());
        }
    }
    if r.1 != message.len() {
        return Err(bad());
    }
    Ok((Plaintext::new(out), ctx))
}
