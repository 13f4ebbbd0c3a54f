//! The AWS Encryption SDK message format (issue 6, first part): messages
//! of any size under a data key wrapped by a keyring, wire-compatible with
//! the official SDKs. This version writes and reads header v2 with the
//! committing suites `0x0478` (AES-256-GCM, HKDF-SHA512, key commitment)
//! and `0x0578` (the same plus an ECDSA P-384 signature footer over header
//! and body, and the `aws-crypto-public-key` context entry: the official
//! default), framed bodies, and the raw AES keyring. Other suites, v1
//! headers, non-framed bodies, KMS and multi keyrings, streaming and
//! caching are not implemented yet (`UnsupportedOperationException`).
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

struct Reader<'a>(&'a [u8], usize);
impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let s = self
            .0
            .get(self.1..self.1 + n)
            .ok_or_else(Error::invalid_ciphertext)?;
        self.1 += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4")))
    }
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
        let k = String::from_utf8(r.take(kl)?.to_vec()).map_err(|_| Error::invalid_ciphertext())?;
        let vl = r.u16()? as usize;
        let v = String::from_utf8(r.take(vl)?.to_vec()).map_err(|_| Error::invalid_ciphertext())?;
        if ctx.insert(k, v).is_some() {
            return Err(Error::invalid_ciphertext());
        }
    }
    if r.1 != b.len() {
        return Err(Error::invalid_ciphertext());
    }
    Ok(ctx)
}

/// Decrypt a whole message with a raw AES keyring. Every failure after the
/// suite check is the opaque `InvalidCiphertextException`; no plaintext is
/// returned unless every frame authenticated.
pub fn decrypt(keyring: &RawAesKeyring, message: &[u8]) -> Result<(Plaintext, EncryptionContext)> {
    let mut r = Reader(message, 0);
    match r.u8()? {
        0x02 => {}
        0x01 => {
            return Err(Error::new(
                ErrorCode::UnsupportedOperation,
                "ESDK message format version 1 is not supported yet",
            ))
        }
        _ => return Err(Error::invalid_ciphertext()),
    }
    let suite = r.u16()?;
    let signed = match suite {
        SUITE_AES256_HKDF_SHA512_COMMIT => false,
        SUITE_AES256_HKDF_SHA512_COMMIT_ECDSA_P384 => true,
        _ => {
            return Err(Error::new(
                ErrorCode::UnsupportedOperation,
                format!(
                    "algorithm suite 0x{suite:04X} is not supported yet (0x0478 and 0x0578 are)"
                ),
            ))
        }
    };
    let message_id = r.take(MESSAGE_ID_LEN)?;
    let ctx_len = r.u16()? as usize;
    let ctx_bytes = r.take(ctx_len)?;
    let ctx = parse_context(ctx_bytes)?;
    // The signing key's public half is in the context exactly when the
    // suite signs.
    let verifier = match (signed, ctx.get(PUBLIC_KEY_CONTEXT_KEY)) {
        (true, Some(b64)) => {
            use base64::Engine;
            let point = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| Error::invalid_ciphertext())?;
            Some(
                p384::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map_err(|_| Error::invalid_ciphertext())?,
            )
        }
        (false, None) => None,
        _ => return Err(Error::invalid_ciphertext()),
    };
    let edk_count = r.u16()?;
    if edk_count == 0 {
        return Err(Error::invalid_ciphertext());
    }
    let mut data_key = None;
    for _ in 0..edk_count {
        let mut field = || -> Result<Vec<u8>> {
            let l = r.u16()? as usize;
            Ok(r.take(l)?.to_vec())
        };
        let pid = String::from_utf8(field()?).map_err(|_| Error::invalid_ciphertext())?;
        let edk = Edk {
            provider_id: pid,
            provider_info: field()?,
            ciphertext: field()?,
        };
        if data_key.is_none() {
            data_key = keyring.unwrap(&edk, ctx_bytes.get(..).unwrap_or_default());
        }
    }
    let data_key = data_key.ok_or_else(Error::invalid_ciphertext)?;
    if data_key.len() != 32 || r.u8()? != 0x02 {
        return Err(Error::invalid_ciphertext());
    }
    let frame_length = r.u32()? as usize;
    let commit = r.take(32)?;
    let header_end = r.1;
    let tag = r.take(16)?;
    let (derived, want_commit) = derive(&data_key, message_id, suite);
    if !bool::from(want_commit.ct_eq(commit)) || frame_length == 0 {
        return Err(Error::invalid_ciphertext());
    }
    crypto::aes256gcm_open(&derived, &[0u8; 12], &message[..header_end], tag)
        .ok_or_else(Error::invalid_ciphertext)?;

    let mut out = Zeroizing::new(Vec::new());
    let mut expected = 1u32;
    loop {
        let first = r.u32()?;
        let last = first == FINAL_FRAME;
        let seq = if last { r.u32()? } else { first };
        if seq != expected {
            return Err(Error::invalid_ciphertext());
        }
        let iv: [u8; 12] = r.take(12)?.try_into().expect("12");
        if iv != frame_iv(seq) {
            return Err(Error::invalid_ciphertext());
        }
        let len = if last {
            r.u32()? as usize
        } else {
            frame_length
        };
        if len > frame_length {
            return Err(Error::invalid_ciphertext());
        }
        let body = r.take(len + 16)?;
        let aad = frame_aad(message_id, last, seq, len as u64);
        let pt = crypto::aes256gcm_open(&derived, &iv, &aad, body)
            .ok_or_else(Error::invalid_ciphertext)?;
        out.extend_from_slice(&pt);
        if last {
            break;
        }
        expected = expected
            .checked_add(1)
            .filter(|s| *s != FINAL_FRAME)
            .ok_or_else(Error::invalid_ciphertext)?;
    }
    if let Some(vk) = verifier {
        // Nothing is released before the signature over header and body verifies.
        use p384::ecdsa::signature::Verifier;
        let signed_len = r.1;
        let sig_len = r.u16()? as usize;
        let sig = p384::ecdsa::Signature::from_der(r.take(sig_len)?)
            .map_err(|_| Error::invalid_ciphertext())?;
        vk.verify(&message[..signed_len], &sig)
            .map_err(|_| Error::invalid_ciphertext())?;
    }
    if r.1 != message.len() {
        return Err(Error::invalid_ciphertext());
    }
    Ok((Plaintext::new(out), ctx))
}
