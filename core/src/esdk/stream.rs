//! The message format as push state machines: bytes in, bytes out, in
//! constant memory; `std::io` adapters on top; re-wrapping.

use std::io::{Read, Write};

use sha2::{Digest, Sha256, Sha384};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::keyring::{
    auth_only_context, new_encryption_materials, stored_context, DecryptionMaterials,
    EncryptionMaterials, Keyring, OpenedBy,
};
use super::{
    derive_keys, encrypt_suite, frame_aad, frame_iv, serialize_context, suite, CommitmentPolicy,
    DecryptOptions, DecryptionRequest, Edk, EncryptOptions, EncryptionRequest, Kdf,
    MaterialsManager, Sig, Suite, FINAL_FRAME, MAX_FRAME_LENGTH, MAX_UNFRAMED_LENGTH,
    MESSAGE_ID_LEN, MESSAGE_ID_LEN_V1, PUBLIC_KEY_CONTEXT_KEY,
};
use crate::context::EncryptionContext;
use crate::crypto::Gcm;
use crate::env::Rng;
use crate::error::{Error, ErrorCode, Result};

/// What a decrypted (or re-wrapped) message was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    pub suite: u16,
    /// The message's full encryption context (with `aws-crypto-public-key`
    /// for signed suites).
    pub encryption_context: EncryptionContext,
    pub frame_length: u32,
    /// Which keyring opened the data key.
    pub opened_by: OpenedBy,
}

// ------------------------------------------------------------ header

pub(crate) struct Header {
    suite: Suite,
    message_id: Vec<u8>,
    ctx: EncryptionContext,
    edks: Vec<Edk>,
    framed: bool,
    frame_length: u32,
    commit: Option<[u8; 32]>,
    iv: [u8; 12],
    tag: [u8; 16],
    /// Bytes covered by the header tag.
    auth_len: usize,
    /// Whole header length (with IV and tag).
    len: usize,
}

/// A parse that may need more bytes.
enum P {
    More,
    Bad(Error),
}
impl From<Error> for P {
    fn from(e: Error) -> P {
        P::Bad(e)
    }
}

struct Cur<'a> {
    b: &'a [u8],
    p: usize,
}
impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], P> {
        let end = self.p.checked_add(n).ok_or(P::More)?;
        let s = self.b.get(self.p..end).ok_or(P::More)?;
        self.p = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, P> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, P> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32, P> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn field(&mut self) -> Result<&'a [u8], P> {
        let n = self.u16()? as usize;
        self.take(n)
    }
}

/// One frame at the start of `a`, which must be number `seq`:
/// `(is_final, seq, offset of the ciphertext, plaintext length)`; the
/// frame's tag ends at `offset + length + 16`.
fn parse_frame(a: &[u8], frame_length: u32, seq: u32) -> Result<(bool, u32, usize, usize), P> {
    let mut r = Cur { b: a, p: 0 };
    let first = r.u32()?;
    let last = first == FINAL_FRAME;
    let got = if last { r.u32()? } else { first };
    let iv = r.take(12)?;
    let len = if last {
        r.u32()? as usize
    } else {
        frame_length as usize
    };
    if got != seq || iv != frame_iv(seq) || len > frame_length as usize {
        return Err(bad());
    }
    let start = r.p;
    r.take(len + 16)?;
    Ok((last, seq, start, len))
}

/// The sequence number after `seq`; the final-frame marker is never one.
fn next_seq(seq: u32) -> Result<u32> {
    seq.checked_add(1)
        .filter(|s| *s != FINAL_FRAME)
        .ok_or_else(Error::invalid_ciphertext)
}

fn bad() -> P {
    P::Bad(Error::invalid_ciphertext())
}

fn parse_context(b: &[u8]) -> Result<EncryptionContext> {
    let mut ctx = EncryptionContext::new();
    if b.is_empty() {
        return Ok(ctx);
    }
    let mut r = Cur { b, p: 0 };
    let inner = || -> Result<EncryptionContext, P> {
        let n = r.u16()?;
        if n == 0 {
            return Err(bad());
        }
        for _ in 0..n {
            let k = String::from_utf8(r.field()?.to_vec()).map_err(|_| bad())?;
            let v = String::from_utf8(r.field()?.to_vec()).map_err(|_| bad())?;
            if ctx.insert(k, v).is_some() {
                return Err(bad());
            }
        }
        if r.p != b.len() {
            return Err(bad());
        }
        Ok(ctx)
    };
    inner().map_err(|_| Error::invalid_ciphertext())
}

/// Parse a header from the start of `b`: `Ok(None)` if more bytes are
/// needed (within the header limit).
fn parse_header(b: &[u8], opts: &DecryptOptions) -> Result<Option<Header>> {
    match parse_header_inner(b, opts) {
        Ok(h) if h.len > opts.max_header_bytes => Err(header_too_large(opts)),
        Ok(h) => Ok(Some(h)),
        Err(P::More) if b.len() > opts.max_header_bytes => Err(header_too_large(opts)),
        Err(P::More) => Ok(None),
        Err(P::Bad(e)) => Err(e),
    }
}

/// Get the header's data key from `cmm`, derive the content key, check
/// the key commitment and the header's tag (`auth`: the header bytes it
/// covers, to which the materials' authenticated-only context is
/// appended). `reproduced`: the context the caller gave to decrypt.
fn open_header(
    cmm: &dyn MaterialsManager,
    h: &Header,
    auth: &[u8],
    reproduced: Option<&EncryptionContext>,
) -> Result<(DecryptionMaterials, Zeroizing<Vec<u8>>, Gcm)> {
    let m = cmm.decrypt_materials(&DecryptionRequest {
        suite: h.suite.id,
        encrypted_data_keys: &h.edks,
        encryption_context: &h.ctx,
        reproduced_encryption_context: reproduced,
    })?;
    let extra = auth_only_context(&m.context, &m.required_keys)?;
    let data_key = m.data_key.as_ref().ok_or_else(Error::invalid_ciphertext)?;
    let (derived, commit) = derive_keys(&h.suite, data_key, &h.message_id)?;
    if let (Some(want), Some(got)) = (commit, h.commit) {
        if !bool::from(want.ct_eq(&got)) {
            return Err(Error::invalid_ciphertext());
        }
    }
    let gcm = Gcm::new(&derived).ok_or_else(Error::invalid_ciphertext)?;
    let ok = if extra.is_empty() {
        gcm.open(&h.iv, auth, &mut [], &h.tag)
    } else {
        gcm.open(&h.iv, &[auth, &extra].concat(), &mut [], &h.tag)
    };
    if !ok {
        return Err(Error::invalid_ciphertext());
    }
    Ok((m, derived, gcm))
}

fn header_too_large(opts: &DecryptOptions) -> Error {
    Error::new(
        ErrorCode::LimitExceeded,
        format!(
            "the message header is larger than the limit of {} bytes",
            opts.max_header_bytes
        ),
    )
}

fn parse_header_inner(b: &[u8], opts: &DecryptOptions) -> Result<Header, P> {
    let mut r = Cur { b, p: 0 };
    let version = r.u8()?;
    if version == 0x01 && r.u8()? != 0x80 {
        return Err(bad());
    }
    if version != 0x01 && version != 0x02 {
        return Err(bad());
    }
    let id = r.u16()?;
    let s = suite(id).ok_or_else(|| {
        P::Bad(Error::new(
            ErrorCode::UnsupportedOperation,
            format!("algorithm suite 0x{id:04X} is not an ESDK message suite"),
        ))
    })?;
    if s.version != version {
        return Err(bad());
    }
    if s.kdf != Kdf::Sha512Commit
        && opts.commitment_policy == CommitmentPolicy::RequireEncryptRequireDecrypt
    {
        return Err(P::Bad(Error::validation(format!(
            "this message uses the non-committing suite 0x{id:04X}; decrypting it needs CommitmentPolicy::RequireEncryptAllowDecrypt"
        ))));
    }
    let message_id = r
        .take(if version == 1 { 16 } else { MESSAGE_ID_LEN })?
        .to_vec();
    let ctx = parse_context(r.field()?)?;
    let edk_count = r.u16()?;
    if edk_count == 0 {
        return Err(bad());
    }
    if edk_count > opts.max_encrypted_data_keys {
        return Err(P::Bad(Error::new(
            ErrorCode::LimitExceeded,
            format!(
                "the message has {edk_count} encrypted data keys; the limit is {}",
                opts.max_encrypted_data_keys
            ),
        )));
    }
    let mut edks = Vec::with_capacity(edk_count as usize);
    for _ in 0..edk_count {
        let pid = String::from_utf8(r.field()?.to_vec()).map_err(|_| bad())?;
        edks.push(Edk {
            provider_id: pid,
            provider_info: r.field()?.to_vec(),
            ciphertext: r.field()?.to_vec(),
        });
    }
    // Both header versions carry either body form (0x01 non-framed, 0x02
    // framed); the official SDK writes v2 non-framed messages.
    let framed = match r.u8()? {
        0x02 => true,
        0x01 => false,
        _ => return Err(bad()),
    };
    // v1: four reserved zero bytes and the IV length (12).
    if version == 1 && (r.take(4)? != [0, 0, 0, 0] || r.u8()? != 12) {
        return Err(bad());
    }
    let frame_length = r.u32()?;
    if framed && frame_length == 0 || !framed && frame_length != 0 {
        return Err(bad());
    }
    if frame_length > opts.max_frame_length {
        return Err(P::Bad(Error::new(
            ErrorCode::LimitExceeded,
            format!(
                "the message's frame length {frame_length} is larger than the limit of {}",
                opts.max_frame_length
            ),
        )));
    }
    let commit = if s.kdf == Kdf::Sha512Commit {
        Some(r.take(32)?.try_into().expect("32"))
    } else {
        None
    };
    let auth_len = r.p;
    let iv: [u8; 12] = if version == 1 {
        r.take(12)?.try_into().expect("12")
    } else {
        [0u8; 12]
    };
    let tag = r.take(16)?.try_into().expect("16");
    Ok(Header {
        suite: s,
        message_id,
        ctx,
        edks,
        framed,
        frame_length,
        commit,
        iv,
        tag,
        auth_len,
        len: r.p,
    })
}

/// Serialize a header (v1 or v2, as the suite says) and its tag. `ctx` is
/// the stored context; `auth_only` the serialized authenticated-only
/// context the tag also covers (empty without required keys); a frame
/// length of 0 declares a non-framed body; `commit` is the v2 suites'
/// commitment key. The v1 header IV is zero, as the SDKs write it: the
/// content key is unique to the message (or, for the identity-KDF
/// suites, the data key is), and no frame uses IV 0.
#[allow(clippy::too_many_arguments)]
fn write_header(
    s: &Suite,
    message_id: &[u8],
    ctx: &EncryptionContext,
    auth_only: &[u8],
    edks: &[Edk],
    frame_length: u32,
    commit: Option<&[u8; 32]>,
    gcm: &Gcm,
) -> Result<Vec<u8>> {
    let ser = serialize_context(ctx)?;
    let mut out = if s.version == 1 {
        vec![0x01, 0x80]
    } else {
        vec![0x02]
    };
    out.extend_from_slice(&s.id.to_be_bytes());
    out.extend_from_slice(message_id);
    out.extend_from_slice(&(ser.len() as u16).to_be_bytes());
    out.extend_from_slice(&ser);
    let n: u16 = edks
        .len()
        .try_into()
        .map_err(|_| Error::validation("at most 65535 encrypted data keys"))?;
    out.extend_from_slice(&n.to_be_bytes());
    for e in edks {
        for f in [e.provider_id.as_bytes(), &e.provider_info, &e.ciphertext] {
            let l: u16 = f.len().try_into().map_err(|_| {
                Error::validation("an encrypted data key field is longer than 65535 bytes")
            })?;
            out.extend_from_slice(&l.to_be_bytes());
            out.extend_from_slice(f);
        }
    }
    out.push(if frame_length == 0 { 0x01 } else { 0x02 });
    if s.version == 1 {
        // Reserved, then the IV length.
        out.extend_from_slice(&[0, 0, 0, 0, 12]);
    }
    out.extend_from_slice(&frame_length.to_be_bytes());
    match (s.version, commit) {
        (2, Some(c)) => out.extend_from_slice(c),
        (1, None) => {}
        _ => return Err(Error::internal("commitment key does not match the suite")),
    }
    let tag = if auth_only.is_empty() {
        gcm.seal(&[0u8; 12], &out, &mut [])
    } else {
        gcm.seal(&[0u8; 12], &[&out[..], auth_only].concat(), &mut [])
    };
    if s.version == 1 {
        out.extend_from_slice(&[0u8; 12]);
    }
    out.extend_from_slice(&tag);
    Ok(out)
}

// ------------------------------------------------------------ signatures

enum Hasher {
    S256(Sha256),
    S384(Sha384),
}
impl Hasher {
    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::S256(h) => h.update(b),
            Hasher::S384(h) => h.update(b),
        }
    }
}

enum Verifier {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// The verifier for a signed suite from the context's public key; the key
/// is in the context exactly when the suite signs.
fn verifier(s: &Suite, ctx: &EncryptionContext) -> Result<Option<(Verifier, Hasher)>> {
    let bad = Error::invalid_ciphertext;
    match (s.sig, ctx.get(PUBLIC_KEY_CONTEXT_KEY)) {
        (Sig::None, None) => Ok(None),
        (Sig::None, Some(_)) | (_, None) => Err(bad()),
        (sig, Some(b64)) => {
            use base64::Engine;
            let point = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| bad())?;
            Ok(Some(match sig {
                Sig::P256 => (
                    Verifier::P256(
                        p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| bad())?,
                    ),
                    Hasher::S256(Sha256::new()),
                ),
                _ => (
                    Verifier::P384(
                        p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| bad())?,
                    ),
                    Hasher::S384(Sha384::new()),
                ),
            }))
        }
    }
}

fn verify(v: &Verifier, h: Hasher, der: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    match (v, h) {
        (Verifier::P256(vk), Hasher::S256(h)) => p256::ecdsa::Signature::from_der(der)
            .is_ok_and(|s| vk.verify_prehash(&h.finalize(), &s).is_ok()),
        (Verifier::P384(vk), Hasher::S384(h)) => p384::ecdsa::Signature::from_der(der)
            .is_ok_and(|s| vk.verify_prehash(&h.finalize(), &s).is_ok()),
        _ => false,
    }
}

/// A message's ECDSA signing key: P-256 with SHA-256 (suite 0x0214) or
/// P-384 with SHA-384 (0x0346, 0x0378, 0x0578). Zeroized on drop (the
/// `ecdsa` crate's keys are), never printed.
#[derive(Clone)]
pub(crate) enum SigningKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl SigningKey {
    /// A fresh key for one message of a suite that signs with `sig`.
    pub(crate) fn new(sig: Sig, rng: &dyn Rng) -> Result<Option<SigningKey>> {
        let mut b = Zeroizing::new([0u8; 48]);
        loop {
            match sig {
                Sig::None => return Ok(None),
                Sig::P256 => {
                    rng.fill(&mut b[..32])?;
                    if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&b[..32]) {
                        return Ok(Some(SigningKey::P256(k)));
                    }
                }
                Sig::P384 => {
                    rng.fill(&mut b[..])?;
                    if let Ok(k) = p384::ecdsa::SigningKey::from_slice(&b[..]) {
                        return Ok(Some(SigningKey::P384(k)));
                    }
                }
            }
        }
    }

    /// The `aws-crypto-public-key` context value: base64 of the
    /// compressed point.
    pub(crate) fn public_b64(&self) -> String {
        use base64::Engine;
        let point = match self {
            SigningKey::P256(k) => k.verifying_key().to_sec1_point(true).as_bytes().to_vec(),
            SigningKey::P384(k) => k.verifying_key().to_sec1_point(true).as_bytes().to_vec(),
        };
        base64::engine::general_purpose::STANDARD.encode(point)
    }

    fn hasher(&self) -> Hasher {
        match self {
            SigningKey::P256(_) => Hasher::S256(Sha256::new()),
            SigningKey::P384(_) => Hasher::S384(Sha384::new()),
        }
    }

    /// The footer: the signature of everything hashed, DER, with its length.
    fn sign_footer(&self, h: Hasher) -> Result<Vec<u8>> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let fail = |_| Error::internal("ECDSA signing failed");
        let der = match (self, h) {
            (SigningKey::P256(k), Hasher::S256(h)) => {
                let sig: p256::ecdsa::Signature = k.sign_prehash(&h.finalize()).map_err(fail)?;
                sig.to_der().as_bytes().to_vec()
            }
            (SigningKey::P384(k), Hasher::S384(h)) => {
                let sig: p384::ecdsa::Signature = k.sign_prehash(&h.finalize()).map_err(fail)?;
                sig.to_der().as_bytes().to_vec()
            }
            _ => return Err(Error::internal("signing key and hash do not match")),
        };
        let mut out = (der.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&der);
        Ok(out)
    }

    /// The key as PKCS#8 DER (for delegated signing).
    fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>> {
        use p384::pkcs8::EncodePrivateKey;
        let doc = match self {
            SigningKey::P256(k) => k.to_pkcs8_der(),
            SigningKey::P384(k) => k.to_pkcs8_der(),
        }
        .map_err(|_| Error::internal("PKCS#8 encoding failed"))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// A signer over bytes that start with `header`.
    fn start(self, header: &[u8]) -> (SigningKey, Hasher) {
        let mut h = self.hasher();
        h.update(header);
        (self, h)
    }
}

// ------------------------------------------------------------ buffers

/// Make room for `extra` more bytes in a buffer that holds (or will hold)
/// plaintext, without leaving a copy of it behind: if the capacity does not
/// suffice, the contents move once to an allocation of exactly the size
/// needed and the old allocation, spare capacity included, is wiped before
/// it is freed. (`Vec`'s own growth would free the old block unwiped.)
pub fn reserve_wiped(buf: &mut Vec<u8>, extra: usize) {
    let need = buf.len().saturating_add(extra);
    if buf.capacity() >= need {
        return;
    }
    let mut grown = Vec::with_capacity(need);
    grown.extend_from_slice(buf);
    let mut old = std::mem::replace(buf, grown);
    old.zeroize();
}

/// The largest plaintext buffer an [`Encryptor`] reserves before it has
/// seen the data: a frame is buffered whole, so the buffer is reserved at
/// the frame length (or the declared plaintext length, if smaller) up to
/// this bound; beyond it, it grows through [`reserve_wiped`].
const ENCRYPT_RESERVE_LIMIT: usize = 64 << 20;

// ------------------------------------------------------------ encrypt

/// Encrypts one message, push style: [`Encryptor::update`] with plaintext
/// chunks of any size, then [`Encryptor::finish`]; each appends message
/// bytes to `out`. Holds at most one frame of plaintext.
pub struct Encryptor {
    gcm: Gcm,
    message_id: Vec<u8>,
    /// 0: a non-framed body (the whole plaintext is buffered).
    frame_length: usize,
    seq: u32,
    buf: Zeroizing<Vec<u8>>,
    header: Option<Vec<u8>>,
    signer: Option<(SigningKey, Hasher)>,
    declared: Option<u64>,
    total: u64,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor")
            .field("frame_length", &self.frame_length)
            .field("frames", &(self.seq - 1))
            .finish_non_exhaustive()
    }
}

/// A new message's id, content key (and its cipher) and header.
struct Begun {
    message_id: Vec<u8>,
    content_key: Zeroizing<Vec<u8>>,
    gcm: Gcm,
    header: Vec<u8>,
}

/// Begin a message from its materials.
fn begin_message(
    m: &EncryptionMaterials,
    s: &Suite,
    opts: &EncryptOptions,
    rng: &dyn Rng,
) -> Result<Begun> {
    let data_key = m
        .data_key
        .as_ref()
        .ok_or_else(|| Error::internal("the materials have no data key"))?;
    let mut message_id = vec![
        0u8;
        if s.version == 1 {
            MESSAGE_ID_LEN_V1
        } else {
            MESSAGE_ID_LEN
        }
    ];
    rng.fill(&mut message_id)?;
    let (derived, commit) = derive_keys(s, data_key, &message_id)?;
    let gcm = Gcm::new(&derived).ok_or_else(|| Error::internal("bad derived key length"))?;
    let header = write_header(
        s,
        &message_id,
        &stored_context(&m.context, &m.required_keys),
        &auth_only_context(&m.context, &m.required_keys)?,
        &m.edks,
        opts.frame_length,
        commit.as_ref(),
        &gcm,
    )?;
    Ok(Begun {
        message_id,
        content_key: derived,
        gcm,
        header,
    })
}

impl Encryptor {
    /// Get materials from `cmm` and prepare the header.
    pub fn new(
        cmm: &dyn MaterialsManager,
        ctx: &EncryptionContext,
        opts: &EncryptOptions,
        rng: &dyn Rng,
    ) -> Result<Encryptor> {
        let s = encrypt_suite(opts.suite, opts.commitment_policy)?;
        check_frame_length(opts)?;
        let m = cmm.get_encryption_materials(
            &EncryptionRequest {
                encryption_context: ctx,
                suite: opts.suite,
                plaintext_length: opts.plaintext_length,
            },
            rng,
        )?;
        Self::from_materials(m, &s, opts, rng)
    }

    fn from_materials(
        m: EncryptionMaterials,
        s: &Suite,
        opts: &EncryptOptions,
        rng: &dyn Rng,
    ) -> Result<Encryptor> {
        if m.suite.id != s.id || (s.sig != Sig::None) != m.signing_key.is_some() {
            return Err(Error::internal("the materials do not match the suite"));
        }
        let Begun {
            message_id,
            gcm,
            header,
            ..
        } = begin_message(&m, s, opts, rng)?;
        let signer = m.signing_key.clone().map(|sk| sk.start(&header));
        // The frame (or a non-framed body) is buffered whole: reserve it up
        // front, so plaintext is never moved by a reallocation.
        let unit = match opts.frame_length {
            0 => MAX_UNFRAMED_LENGTH,
            n => n as u64,
        };
        let reserve = unit
            .min(opts.plaintext_length.unwrap_or(u64::MAX))
            .min(ENCRYPT_RESERVE_LIMIT as u64) as usize;
        Ok(Encryptor {
            gcm,
            message_id,
            frame_length: opts.frame_length as usize,
            seq: 1,
            buf: Zeroizing::new(Vec::with_capacity(reserve)),
            header: Some(header),
            signer,
            declared: opts.plaintext_length,
            total: 0,
        })
    }

    fn emit_header(&mut self, out: &mut Vec<u8>) {
        if let Some(h) = self.header.take() {
            out.extend_from_slice(&h);
        }
    }

    fn emit_frame(&mut self, chunk: &[u8], last: bool, out: &mut Vec<u8>) {
        let start = out.len();
        if last {
            out.extend_from_slice(&FINAL_FRAME.to_be_bytes());
        }
        out.extend_from_slice(&self.seq.to_be_bytes());
        let iv = frame_iv(self.seq);
        out.extend_from_slice(&iv);
        if last {
            out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        }
        let aad = frame_aad(&self.message_id, last, self.seq, chunk.len() as u64);
        let body = out.len();
        out.extend_from_slice(chunk);
        let tag = self.gcm.seal(&iv, &aad, &mut out[body..]);
        out.extend_from_slice(&tag);
        if let Some((_, h)) = &mut self.signer {
            h.update(&out[start..]);
        }
    }

    /// Encrypt more plaintext. Full frames are written once a byte beyond
    /// them arrives (the last frame is always the final frame); a
    /// non-framed body is written by [`Encryptor::finish`].
    pub fn update(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.total += input.len() as u64;
        if self.declared.is_some_and(|d| self.total > d) {
            return Err(length_mismatch());
        }
        self.emit_header(out);
        let fl = self.frame_length;
        if fl == 0 {
            if self.total > MAX_UNFRAMED_LENGTH {
                return Err(unframed_too_large());
            }
            reserve_wiped(&mut self.buf, input.len());
            self.buf.extend_from_slice(input);
            return Ok(());
        }
        while !input.is_empty() {
            if self.buf.len() == fl {
                // A full frame and more input: it is not the last one.
                if self.seq >= FINAL_FRAME - 1 {
                    return Err(too_many_frames());
                }
                let frame = std::mem::take(&mut *self.buf);
                self.emit_frame(&frame, false, out);
                self.buf = Zeroizing::new(frame);
                self.buf.clear();
                self.seq += 1;
            }
            if self.buf.is_empty() && input.len() > fl {
                // Whole frames straight from the input.
                let (frame, rest) = input.split_at(fl);
                if self.seq >= FINAL_FRAME - 1 {
                    return Err(too_many_frames());
                }
                self.emit_frame(frame, false, out);
                self.seq += 1;
                input = rest;
                continue;
            }
            let n = (fl - self.buf.len()).min(input.len());
            reserve_wiped(&mut self.buf, n);
            self.buf.extend_from_slice(&input[..n]);
            input = &input[n..];
        }
        Ok(())
    }

    /// Write the final frame and, for signed suites, the signature.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<()> {
        if self.declared.is_some_and(|d| self.total != d) {
            return Err(length_mismatch());
        }
        self.emit_header(out);
        let last = std::mem::take(&mut *self.buf);
        let last = Zeroizing::new(last);
        if self.frame_length == 0 {
            self.emit_unframed(&last, out);
        } else {
            self.emit_frame(&last, true, out);
        }
        if let Some((sk, h)) = self.signer.take() {
            out.extend_from_slice(&sk.sign_footer(h)?);
        }
        Ok(())
    }

    /// A non-framed body: IV (that of sequence number 1, as the SDKs
    /// write it), the content length, the ciphertext and its tag.
    fn emit_unframed(&mut self, plain: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let iv = frame_iv(1);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&(plain.len() as u64).to_be_bytes());
        let body = out.len();
        out.extend_from_slice(plain);
        let tag = self.gcm.seal(
            &iv,
            &unframed_aad(&self.message_id, plain.len() as u64),
            &mut out[body..],
        );
        out.extend_from_slice(&tag);
        if let Some((_, h)) = &mut self.signer {
            h.update(&out[start..]);
        }
    }
}

/// The AAD of a non-framed body.
fn unframed_aad(message_id: &[u8], len: u64) -> Vec<u8> {
    let mut aad = message_id.to_vec();
    aad.extend_from_slice(b"AWSKMSEncryptionClient Single Block");
    aad.extend_from_slice(&1u32.to_be_bytes());
    aad.extend_from_slice(&len.to_be_bytes());
    aad
}

/// The frame length is 0 (non-framed) or 1 … 2^31 − 1, and the declared
/// plaintext fits the format.
fn check_frame_length(opts: &EncryptOptions) -> Result<()> {
    if opts.frame_length > MAX_FRAME_LENGTH {
        return Err(Error::validation(
            "the frame length must be between 1 and 2^31 - 1 (or 0 for a non-framed body)",
        ));
    }
    if let Some(n) = opts.plaintext_length {
        if opts.frame_length == 0 {
            if n > MAX_UNFRAMED_LENGTH {
                return Err(unframed_too_large());
            }
        } else if n.div_ceil(opts.frame_length as u64).max(1) > FINAL_FRAME as u64 - 1 {
            return Err(too_many_frames());
        }
    }
    Ok(())
}

fn unframed_too_large() -> Error {
    Error::new(
        ErrorCode::LimitExceeded,
        "a non-framed body holds at most 2^36 - 32 bytes; use frames",
    )
}

fn too_many_frames() -> Error {
    Error::new(
        ErrorCode::LimitExceeded,
        "the message needs more than 2^32 - 2 frames; use a larger frame length",
    )
}

fn length_mismatch() -> Error {
    Error::validation("the plaintext length differs from the declared plaintext_length")
}

// ------------------------------------------------------------ decrypt

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Header,
    Frames,
    Unframed,
    Footer,
    Done,
    Failed,
}

struct Rewrap<'a> {
    dest: &'a dyn Keyring,
    rng: &'a dyn Rng,
    /// The new message, made once the old header is open.
    enc: Option<Encryptor>,
}

/// Decrypts one message, push style: [`Decryptor::update`] with message
/// chunks of any size (plaintext is appended to `out` frame by frame, each
/// after its tag verifies), then [`Decryptor::finish`], which fails if the
/// message is incomplete. For signed suites the final frame is held until
/// the signature verifies: a caller must treat everything released as
/// unverified until `finish` returns `Ok` (the CLI writes to a temporary
/// file and removes it on failure). After any error the decryptor refuses
/// further input.
pub struct Decryptor<'a> {
    cmm: CmmRef<'a>,
    opts: DecryptOptions,
    buf: Vec<u8>,
    st: St,
    gcm: Option<Gcm>,
    message_id: Vec<u8>,
    frame_length: u32,
    seq: u32,
    check: Option<(Verifier, Hasher)>,
    held: Zeroizing<Vec<u8>>,
    info: Option<MessageInfo>,
    rewrap: Option<Rewrap<'a>>,
    reproduced: Option<EncryptionContext>,
}

impl std::fmt::Debug for Decryptor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("state", &self.st)
            .finish_non_exhaustive()
    }
}

/// The materials manager a decryptor asks: borrowed, or shared (for
/// bindings that keep a decryptor alive across calls).
enum CmmRef<'a> {
    Borrowed(&'a dyn MaterialsManager),
    Shared(std::sync::Arc<dyn MaterialsManager>),
}

impl CmmRef<'_> {
    fn get(&self) -> &dyn MaterialsManager {
        match self {
            CmmRef::Borrowed(c) => *c,
            CmmRef::Shared(c) => &**c,
        }
    }
}

impl Decryptor<'static> {
    /// A decryptor that owns a handle on its materials manager.
    pub fn shared(
        cmm: std::sync::Arc<dyn MaterialsManager>,
        opts: DecryptOptions,
    ) -> Decryptor<'static> {
        Decryptor::with_cmm(CmmRef::Shared(cmm), opts)
    }
}

impl<'a> Decryptor<'a> {
    pub fn new(cmm: &'a dyn MaterialsManager, opts: DecryptOptions) -> Decryptor<'a> {
        Decryptor::with_cmm(CmmRef::Borrowed(cmm), opts)
    }

    fn with_cmm(cmm: CmmRef<'a>, opts: DecryptOptions) -> Decryptor<'a> {
        Decryptor {
            cmm,
            opts,
            buf: Vec::new(),
            st: St::Header,
            gcm: None,
            message_id: Vec::new(),
            frame_length: 0,
            seq: 1,
            check: None,
            held: Zeroizing::new(Vec::new()),
            info: None,
            rewrap: None,
            reproduced: None,
        }
    }

    /// The encryption context the caller expects (the SDKs' decrypt
    /// `encryptionContext`): pairs the message stores must be equal, and
    /// the others are the message's authenticated-only context (see
    /// [`RequiredEncryptionContextCmm`](super::RequiredEncryptionContextCmm)),
    /// proved by the header's tag. Call before the first `update`.
    pub fn with_encryption_context(mut self, ctx: EncryptionContext) -> Self {
        self.reproduced = Some(ctx);
        self
    }

    /// The header's facts once it has been read and opened.
    pub fn info(&self) -> Option<&MessageInfo> {
        self.info.as_ref()
    }

    /// Feed message bytes; verified plaintext is appended to `out`.
    ///
    /// The most plaintext an [`Decryptor::update`] with `input_len` more
    /// message bytes can release: the buffered and the new message bytes.
    /// A caller that reserves this much never sees its buffer reallocated.
    pub fn output_bound(&self, input_len: usize) -> usize {
        self.buf.len().saturating_add(input_len)
    }

    /// Whole units (header, frames, footer) are processed straight from
    /// `input`; only a unit split across calls is copied into the internal
    /// buffer, and only up to its end.
    ///
    /// Before anything is decrypted, `out` is given room for the most
    /// plaintext this call can release (the buffered and new message
    /// bytes; see [`reserve_wiped`]), so it is never reallocated while it
    /// holds plaintext.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.st == St::Failed {
            return Err(Error::invalid_ciphertext());
        }
        reserve_wiped(out, self.output_bound(input.len()));
        let r = self.update_inner(input, out);
        if r.is_err() {
            self.fail();
        }
        r
    }

    fn update_inner(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let mut rest = input;
        while !self.buf.is_empty() && !rest.is_empty() {
            // Complete the pending unit with just the bytes it lacks (or
            // enough to learn its length).
            let want = match self.next_unit_len(&self.buf) {
                Some(n) if n > self.buf.len() => n - self.buf.len(),
                Some(_) => rest.len(),
                None if self.st == St::Header => rest.len(),
                None => 24usize.saturating_sub(self.buf.len()).max(1),
            };
            let k = want.min(rest.len());
            self.buf.extend_from_slice(&rest[..k]);
            rest = &rest[k..];
            let data = std::mem::take(&mut self.buf);
            let mut pos = 0;
            let r = self.run(&data, &mut pos, out);
            self.buf = data;
            self.buf.drain(..pos);
            r?;
        }
        if !rest.is_empty() {
            let mut pos = 0;
            self.run(rest, &mut pos, out)?;
            self.buf.extend_from_slice(&rest[pos..]);
        }
        Ok(())
    }

    /// The length of the next unit given its first bytes, once known.
    fn next_unit_len(&self, a: &[u8]) -> Option<usize> {
        match self.st {
            St::Frames => {
                let first = u32::from_be_bytes(a.get(..4)?.try_into().ok()?);
                if first == FINAL_FRAME {
                    let len = u32::from_be_bytes(a.get(20..24)?.try_into().ok()?) as usize;
                    Some(24 + len + 16)
                } else {
                    Some(4 + 12 + self.frame_length as usize + 16)
                }
            }
            St::Unframed => {
                let len = u64::from_be_bytes(a.get(12..20)?.try_into().ok()?);
                Some(
                    20usize
                        .saturating_add(usize::try_from(len).ok()?)
                        .saturating_add(16),
                )
            }
            St::Footer => Some(2 + u16::from_be_bytes(a.get(..2)?.try_into().ok()?) as usize),
            St::Header | St::Done | St::Failed => None,
        }
    }

    /// The message must be complete: everything verified, nothing left over.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<MessageInfo> {
        if self.st != St::Done || !self.buf.is_empty() {
            self.fail();
            return Err(Error::invalid_ciphertext());
        }
        reserve_wiped(out, self.held.len());
        out.extend_from_slice(&self.held);
        self.info.take().ok_or_else(Error::invalid_ciphertext)
    }

    fn fail(&mut self) {
        self.st = St::Failed;
        self.held = Zeroizing::new(Vec::new());
        self.gcm = None;
    }

    /// Hash consumed message bytes for the signature (old and, when
    /// re-wrapping, new).
    fn consume(&mut self, data: &[u8], pos: &mut usize, n: usize, copy_to: Option<&mut Vec<u8>>) {
        let bytes = &data[*pos..*pos + n];
        if let Some((_, h)) = &mut self.check {
            h.update(bytes);
        }
        if let Some(o) = copy_to {
            o.extend_from_slice(bytes);
        }
        *pos += n;
    }

    fn run(&mut self, data: &[u8], pos: &mut usize, out: &mut Vec<u8>) -> Result<()> {
        loop {
            let progressed = match self.st {
                St::Header => self.step_header(data, pos)?,
                St::Frames => self.step_frame(data, pos, out)?,
                St::Unframed => self.step_unframed(data, pos, out)?,
                St::Footer => self.step_footer(data, pos)?,
                St::Done => {
                    if *pos != data.len() {
                        return Err(Error::invalid_ciphertext());
                    }
                    false
                }
                St::Failed => return Err(Error::invalid_ciphertext()),
            };
            if !progressed {
                return Ok(());
            }
        }
    }

    fn step_header(&mut self, data: &[u8], pos: &mut usize) -> Result<bool> {
        let Some(h) = parse_header(&data[*pos..], &self.opts)? else {
            return Ok(false);
        };
        let check = verifier(&h.suite, &h.ctx)?;
        let (m, _, gcm) = open_header(
            self.cmm.get(),
            &h,
            &data[*pos..*pos + h.auth_len],
            self.reproduced.as_ref(),
        )?;
        let opened_by = m.opened_by.clone().ok_or_else(Error::invalid_ciphertext)?;
        self.info = Some(MessageInfo {
            suite: h.suite.id,
            encryption_context: m.context.clone(),
            frame_length: h.frame_length,
            opened_by,
        });
        self.check = check;
        self.message_id = h.message_id.clone();
        self.frame_length = h.frame_length;
        if let Some(rw) = &mut self.rewrap {
            // A new message for the destination keyring: a fresh data key
            // and message id (so a fresh content key: the old message's key
            // never seals anything again), the same suite, frame length and
            // context (a new signing key's public key for signed suites).
            let mut stored = h.ctx.clone();
            stored.remove(PUBLIC_KEY_CONTEXT_KEY);
            let signer = SigningKey::new(h.suite.sig, rw.rng)?;
            let mut full = stored;
            if let Some(sk) = &signer {
                full.insert(PUBLIC_KEY_CONTEXT_KEY.into(), sk.public_b64());
            }
            // The destination keyrings wrap under the full context (the
            // stored pairs and any authenticated-only ones), as on encrypt.
            for k in &m.required_keys {
                if let Some(v) = m.context.get(k) {
                    full.insert(k.clone(), v.clone());
                }
            }
            let mut nm = new_encryption_materials(h.suite, full, signer);
            nm.required_keys = m.required_keys.clone();
            // A fresh data key, made here so that a destination that only
            // wraps (no generator) can take the message too.
            let mut fresh = Zeroizing::new(vec![0u8; h.suite.key_len]);
            rw.rng.fill(&mut fresh)?;
            nm.data_key = Some(fresh);
            rw.dest.on_encrypt(&mut nm, rw.rng)?;
            if nm.data_key.is_none() || nm.edks.is_empty() {
                return Err(Error::validation(
                    "the destination keyring produced no data key or no encrypted data key",
                ));
            }
            if let Some(i) = &mut self.info {
                i.encryption_context = nm.context.clone();
            }
            let o = EncryptOptions {
                suite: h.suite.id,
                frame_length: h.frame_length,
                plaintext_length: None,
                commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
            };
            rw.enc = Some(Encryptor::from_materials(nm, &h.suite, &o, rw.rng)?);
        }
        self.consume(data, pos, h.len, None);
        self.gcm = Some(gcm);
        self.st = if h.framed { St::Frames } else { St::Unframed };
        Ok(true)
    }

    fn step_frame(&mut self, data: &[u8], pos: &mut usize, out: &mut Vec<u8>) -> Result<bool> {
        let a = &data[*pos..];
        let (last, seq, start, len) = match parse_frame(a, self.frame_length, self.seq) {
            Ok(v) => v,
            Err(P::More) => return Ok(false),
            Err(P::Bad(e)) => return Err(e),
        };
        let total = start + len + 16;
        {
            let aad = frame_aad(&self.message_id, last, seq, len as u64);
            let signed_last = last && self.check.is_some();
            let dst: &mut Vec<u8> = if signed_last { &mut self.held } else { out };
            let at = dst.len();
            reserve_wiped(dst, len);
            dst.extend_from_slice(&a[start..start + len]);
            let ok = self.gcm.as_ref().expect("opened").open(
                &frame_iv(seq),
                &aad,
                &mut dst[at..],
                &a[start + len..total],
            );
            if !ok {
                dst.truncate(at);
                return Err(Error::invalid_ciphertext());
            }
            self.consume(data, pos, total, None);
        }
        if last {
            self.st = if self.check.is_some() {
                St::Footer
            } else {
                St::Done
            };
        } else {
            self.seq = next_seq(self.seq)?;
        }
        Ok(true)
    }

    fn step_unframed(&mut self, data: &[u8], pos: &mut usize, out: &mut Vec<u8>) -> Result<bool> {
        let a = &data[*pos..];
        if a.len() < 20 {
            return Ok(false);
        }
        let len = u64::from_be_bytes(a[12..20].try_into().expect("8"));
        if len > (1u64 << 36) - 32 {
            return Err(Error::invalid_ciphertext());
        }
        if len > self.opts.max_unframed_body {
            return Err(Error::new(
                ErrorCode::LimitExceeded,
                format!(
                    "the non-framed message body is larger than the limit of {} bytes",
                    self.opts.max_unframed_body
                ),
            ));
        }
        let total = 20 + len as usize + 16;
        if a.len() < total {
            return Ok(false);
        }
        let aad = unframed_aad(&self.message_id, len);
        let dst: &mut Vec<u8> = if self.check.is_some() {
            &mut self.held
        } else {
            out
        };
        let at = dst.len();
        reserve_wiped(dst, len as usize);
        dst.extend_from_slice(&a[20..20 + len as usize]);
        let ok = self.gcm.as_ref().expect("opened").open(
            &a[..12],
            &aad,
            &mut dst[at..],
            &a[20 + len as usize..total],
        );
        if !ok {
            dst.truncate(at);
            return Err(Error::invalid_ciphertext());
        }
        self.consume(data, pos, total, None);
        self.st = if self.check.is_some() {
            St::Footer
        } else {
            St::Done
        };
        Ok(true)
    }

    fn step_footer(&mut self, data: &[u8], pos: &mut usize) -> Result<bool> {
        let a = &data[*pos..];
        if a.len() < 2 {
            return Ok(false);
        }
        let n = u16::from_be_bytes([a[0], a[1]]) as usize;
        if a.len() < 2 + n {
            return Ok(false);
        }
        let (v, h) = self.check.take().expect("signed");
        if !verify(&v, h, &a[2..2 + n]) {
            return Err(Error::invalid_ciphertext());
        }
        *pos += 2 + n;
        // `finish` now releases the held final frame.
        self.st = St::Done;
        Ok(true)
    }
}

// ------------------------------------------------------------ delegated bulk AES-GCM

/// One frame of a message whose AES-GCM is done elsewhere: the message
/// carries `prefix`, then AES-GCM(content key, `iv`, `aad`) of the
/// plaintext (ciphertext followed by its 16-byte tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameSpec {
    /// Where the frame's plaintext starts (encryption) or where its
    /// ciphertext starts in the message (decryption).
    pub offset: usize,
    /// Plaintext length.
    pub len: usize,
    /// Sequence number, IV and (for the final frame) length fields.
    pub prefix: Vec<u8>,
    pub iv: [u8; 12],
    pub aad: Vec<u8>,
}

fn frame_prefix(last: bool, seq: u32, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(24);
    if last {
        p.extend_from_slice(&FINAL_FRAME.to_be_bytes());
    }
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&frame_iv(seq));
    if last {
        p.extend_from_slice(&(len as u32).to_be_bytes());
    }
    p
}

fn delegation_unsupported() -> Error {
    Error::new(
        ErrorCode::UnsupportedOperation,
        "only framed messages can hand their AES-GCM to another implementation",
    )
}

/// The footer of a signed message from an ECDSA P-384 signature in
/// `r ‖ s` form (what WebCrypto's `sign` returns): its length and DER.
pub fn signature_footer(p1363: &[u8]) -> Result<Vec<u8>> {
    let sig = p384::ecdsa::Signature::from_slice(p1363)
        .map_err(|_| Error::validation("not an ECDSA P-384 signature (r || s, 96 bytes)"))?;
    Ok(footer_of(&sig))
}

/// The footer bytes of a signature: its DER length, then its DER.
fn footer_of(sig: &p384::ecdsa::Signature) -> Vec<u8> {
    let der = sig.to_der();
    let mut out = (der.as_bytes().len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(der.as_bytes());
    out
}

/// Envelope encryption whose bulk AES-GCM is done by another
/// implementation (a browser's WebCrypto, which is far faster than
/// software AES in wasm), while materials, key derivation, the header and
/// the framing stay here. The message is `header`, then for each frame its
/// `prefix` and the AES-GCM output — byte for byte what [`Encryptor`]
/// writes. For the signed suite (0x0578) the caller also signs header and
/// body with `signing_key` (ECDSA P-384, SHA-384) and appends
/// [`signature_footer`] of the signature.
///
/// The per-message content key (`content_key`) and, for signed messages,
/// the message's ECDSA signing key (`signing_key`, PKCS#8 DER) leave the
/// core, for the caller to import into the other implementation at once and
/// wipe; the data key and the KMS keys never do.
pub struct DelegatedEncryption {
    pub header: Vec<u8>,
    pub content_key: Zeroizing<Vec<u8>>,
    pub frames: Vec<FrameSpec>,
    pub signing_key: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for DelegatedEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegatedEncryption")
            .field("frames", &self.frames.len())
            .finish_non_exhaustive()
    }
}

impl DelegatedEncryption {
    /// `opts.plaintext_length` is required (the frames are planned up front).
    pub fn new(
        cmm: &dyn MaterialsManager,
        ctx: &EncryptionContext,
        opts: &EncryptOptions,
        rng: &dyn Rng,
    ) -> Result<DelegatedEncryption> {
        let s = encrypt_suite(opts.suite, opts.commitment_policy)?;
        let total = opts
            .plaintext_length
            .ok_or_else(|| Error::validation("delegated encryption needs the plaintext length"))?;
        if opts.frame_length == 0 || s.sig == Sig::P256 {
            return Err(Error::new(
                ErrorCode::UnsupportedOperation,
                "delegated encryption writes framed messages with suites that sign with P-384 or not at all; use Encryptor",
            ));
        }
        check_frame_length(opts)?;
        let fl = opts.frame_length as u64;
        let n = total.div_ceil(fl).max(1);
        let m = cmm.get_encryption_materials(
            &EncryptionRequest {
                encryption_context: ctx,
                suite: opts.suite,
                plaintext_length: Some(total),
            },
            rng,
        )?;
        if m.suite.id != s.id || (s.sig != Sig::None) != m.signing_key.is_some() {
            return Err(Error::internal("the materials do not match the suite"));
        }
        let signing_key = m.signing_key.as_ref().map(|k| k.to_pkcs8()).transpose()?;
        let Begun {
            message_id,
            content_key,
            header,
            ..
        } = begin_message(&m, &s, opts, rng)?;
        let frames = (1..=n as u32)
            .map(|seq| {
                let last = seq as u64 == n;
                let offset = (seq as u64 - 1) * fl;
                let len = if last { total - offset } else { fl } as usize;
                FrameSpec {
                    offset: offset as usize,
                    len,
                    prefix: frame_prefix(last, seq, len),
                    iv: frame_iv(seq),
                    aad: frame_aad(&message_id, last, seq, len as u64),
                }
            })
            .collect();
        Ok(DelegatedEncryption {
            header,
            content_key,
            frames,
            signing_key,
        })
    }
}

/// The other direction: the header is parsed and opened here (data key,
/// key commitment, header tag) and the frames are laid out and checked for
/// structure (sequence, IVs, lengths, the final frame, nothing after it);
/// the caller then opens each frame's AES-GCM (`offset .. offset + len +
/// 16` of the message) with `content_key` and must treat any failure as
/// `InvalidCiphertextException` and release nothing. For signed suites it
/// must also verify [`DelegatedDecryption::signature`] (the footer is
/// parsed and its DER checked here). Framed messages only; non-framed ones
/// give `UnsupportedOperationException` (decrypt them with [`Decryptor`]).
pub struct DelegatedDecryption {
    pub content_key: Zeroizing<Vec<u8>>,
    pub frames: Vec<FrameSpec>,
    pub info: MessageInfo,
    /// For signed suites: the signature the caller must verify (over
    /// `message[..signed_len]`) before releasing anything.
    pub signature: Option<SignatureCheck>,
}

/// An ECDSA signature for the caller to verify, in the forms WebCrypto
/// takes: the public key as an uncompressed SEC1 point, the signature as
/// `r ‖ s` (IEEE P1363), and the curve and hash names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    /// `"P-256"` or `"P-384"`.
    pub curve: &'static str,
    /// `"SHA-256"` or `"SHA-384"`.
    pub hash: &'static str,
    pub public_key: Vec<u8>,
    pub signature: Vec<u8>,
    /// The signed bytes are the message up to here (header and body).
    pub signed_len: usize,
}

/// The footer at `footer` (the rest of the message) as a [`SignatureCheck`].
fn signature_check(v: &Verifier, message: &[u8], footer: usize) -> Result<SignatureCheck, Error> {
    let rest = &message[footer..];
    let n = u16::from_be_bytes(
        rest.get(..2)
            .ok_or_else(Error::invalid_ciphertext)?
            .try_into()
            .expect("2"),
    ) as usize;
    if rest.len() != 2 + n {
        return Err(Error::invalid_ciphertext());
    }
    let der = &rest[2..];
    let bad = |_| Error::invalid_ciphertext();
    let (curve, hash, public_key, signature) = match v {
        Verifier::P256(vk) => (
            "P-256",
            "SHA-256",
            vk.to_sec1_point(false).as_bytes().to_vec(),
            p256::ecdsa::Signature::from_der(der)
                .map_err(bad)?
                .to_bytes()
                .to_vec(),
        ),
        Verifier::P384(vk) => (
            "P-384",
            "SHA-384",
            vk.to_sec1_point(false).as_bytes().to_vec(),
            p384::ecdsa::Signature::from_der(der)
                .map_err(bad)?
                .to_bytes()
                .to_vec(),
        ),
    };
    Ok(SignatureCheck {
        curve,
        hash,
        public_key,
        signature,
        signed_len: footer,
    })
}

impl std::fmt::Debug for DelegatedDecryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegatedDecryption")
            .field("frames", &self.frames.len())
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl DelegatedDecryption {
    pub fn new(
        cmm: &dyn MaterialsManager,
        message: &[u8],
        opts: &DecryptOptions,
    ) -> Result<DelegatedDecryption> {
        let h = parse_header(message, opts)?.ok_or_else(Error::invalid_ciphertext)?;
        if !h.framed {
            return Err(delegation_unsupported());
        }
        let check = verifier(&h.suite, &h.ctx)?;
        // Walk the frames before asking for the data key: a damaged body
        // costs no KMS call.
        let mut frames = Vec::new();
        let mut pos = h.len;
        let mut seq = 1u32;
        loop {
            let (last, _, start, len) = match parse_frame(&message[pos..], h.frame_length, seq) {
                Ok(v) => v,
                Err(P::More) => return Err(Error::invalid_ciphertext()),
                Err(P::Bad(e)) => return Err(e),
            };
            frames.push(FrameSpec {
                offset: pos + start,
                len,
                prefix: Vec::new(),
                iv: frame_iv(seq),
                aad: frame_aad(&h.message_id, last, seq, len as u64),
            });
            pos += start + len + 16;
            if last {
                break;
            }
            seq = next_seq(seq)?;
        }
        let signature = match &check {
            Some((v, _)) => Some(signature_check(v, message, pos)?),
            None if pos != message.len() => return Err(Error::invalid_ciphertext()),
            None => None,
        };
        let (m, content_key, _) = open_header(cmm, &h, &message[..h.auth_len], None)?;
        let opened_by = m.opened_by.clone().ok_or_else(Error::invalid_ciphertext)?;
        Ok(DelegatedDecryption {
            content_key,
            frames,
            info: MessageInfo {
                suite: h.suite.id,
                encryption_context: h.ctx,
                frame_length: h.frame_length,
                opened_by,
            },
            signature,
        })
    }
}

// ------------------------------------------------------------ io adapters

const CHUNK: usize = 64 * 1024;

fn io_err(e: Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// The crate error inside an `io::Error` from these adapters, or a
/// `StoreIOException`-coded error describing the I/O failure.
fn from_io(e: std::io::Error) -> Error {
    match e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
        Some(inner) => inner.clone(),
        None => Error::new(ErrorCode::StoreIo, format!("I/O error: {e}")),
    }
}

/// An `io::Write` that encrypts what is written to it into `inner`. Call
/// [`EncryptingWriter::finish`] at the end (dropping it without finishing
/// leaves an incomplete message that will not decrypt).
pub struct EncryptingWriter<W: Write> {
    enc: Encryptor,
    inner: W,
    out: Vec<u8>,
}

impl<W: Write> EncryptingWriter<W> {
    pub fn new(
        cmm: &dyn MaterialsManager,
        ctx: &EncryptionContext,
        opts: &EncryptOptions,
        rng: &dyn Rng,
        inner: W,
    ) -> Result<Self> {
        Ok(EncryptingWriter {
            enc: Encryptor::new(cmm, ctx, opts, rng)?,
            inner,
            out: Vec::new(),
        })
    }

    /// Write the final frame and signature; returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        self.out.clear();
        self.enc.finish(&mut self.out)?;
        self.inner.write_all(&self.out).map_err(from_io)?;
        self.inner.flush().map_err(from_io)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.out.clear();
        self.enc.update(data, &mut self.out).map_err(io_err)?;
        self.inner.write_all(&self.out)?;
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// An `io::Write` that takes message bytes and writes verified plaintext to
/// `inner`. Only when [`DecryptingWriter::finish`] returns `Ok` is the
/// plaintext complete and (for signed suites) its signature verified.
pub struct DecryptingWriter<'a, W: Write> {
    dec: Decryptor<'a>,
    inner: W,
    out: Zeroizing<Vec<u8>>,
}

impl<'a, W: Write> DecryptingWriter<'a, W> {
    pub fn new(cmm: &'a dyn MaterialsManager, opts: DecryptOptions, inner: W) -> Self {
        DecryptingWriter {
            dec: Decryptor::new(cmm, opts),
            inner,
            out: Zeroizing::new(Vec::new()),
        }
    }

    pub fn finish(mut self) -> Result<(W, MessageInfo)> {
        self.out.clear();
        let info = self.dec.finish(&mut self.out)?;
        self.inner.write_all(&self.out).map_err(from_io)?;
        self.inner.flush().map_err(from_io)?;
        Ok((self.inner, info))
    }
}

impl<W: Write> Write for DecryptingWriter<'_, W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.out.clear();
        self.dec.update(data, &mut self.out).map_err(io_err)?;
        self.inner.write_all(&self.out)?;
        crate::secret::wipe(&mut self.out);
        self.out.clear();
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn pump(reader: &mut dyn Read, mut f: impl FnMut(&[u8]) -> Result<()>) -> Result<u64> {
    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(from_io(e)),
        };
        total += n as u64;
        f(&buf[..n])?;
    }
}

/// Encrypt everything `reader` yields into `writer`, in constant memory.
/// Returns the number of plaintext bytes.
pub fn encrypt_stream(
    cmm: &dyn MaterialsManager,
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    ctx: &EncryptionContext,
    opts: &EncryptOptions,
    rng: &dyn Rng,
) -> Result<u64> {
    let mut w = EncryptingWriter::new(cmm, ctx, opts, rng, writer)?;
    let n = pump(reader, |b| w.write_all(b).map_err(from_io))?;
    w.finish()?;
    Ok(n)
}

/// Decrypt the message `reader` yields into `writer`, in constant memory.
/// Verified plaintext is written as it is verified; if this returns an
/// error, discard what was written.
pub fn decrypt_stream(
    cmm: &dyn MaterialsManager,
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    opts: &DecryptOptions,
) -> Result<MessageInfo> {
    let mut w = DecryptingWriter::new(cmm, *opts, writer);
    pump(reader, |b| w.write_all(b).map_err(from_io))?;
    Ok(w.finish()?.1)
}

/// Re-wrap a message for other keys: open it with `source` and write it
/// again as a new message under a fresh data key that `dest` wraps,
/// with the same suite, frame length and encryption context, in constant
/// memory. Each frame is re-encrypted as soon as it verifies; a signed
/// message's old signature is verified (the final frame is held until it
/// does) and a new signing key signs the new message.
///
/// The body is re-encrypted, not copied: a header-only re-wrap would seal a
/// second header tag under the old content key and the header's fixed IV,
/// and anyone holding both messages could then recover that key's GHASH
/// key and forge frames. On error, discard what was written.
pub fn rewrap_stream(
    source: &dyn MaterialsManager,
    dest: &dyn Keyring,
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    opts: &DecryptOptions,
    rng: &dyn Rng,
) -> Result<MessageInfo> {
    let mut d = Decryptor::new(source, *opts);
    d.rewrap = Some(Rewrap {
        dest,
        rng,
        enc: None,
    });
    let mut plain = Zeroizing::new(Vec::new());
    let mut out = Vec::new();
    let reencrypt = |d: &mut Decryptor<'_>, plain: &mut Vec<u8>, out: &mut Vec<u8>| {
        let enc = d.rewrap.as_mut().and_then(|r| r.enc.as_mut());
        let r = match enc {
            Some(e) => e.update(plain, out),
            None if plain.is_empty() => Ok(()),
            None => Err(Error::internal("plaintext before the header")),
        };
        plain.zeroize();
        r
    };
    pump(reader, |b| {
        out.clear();
        d.update(b, &mut plain)?;
        reencrypt(&mut d, &mut plain, &mut out)?;
        writer.write_all(&out).map_err(from_io)
    })?;
    out.clear();
    let mut enc = d.rewrap.as_mut().and_then(|r| r.enc.take());
    let mut info = None;
    let r = (|| {
        info = Some(d.finish(&mut plain)?);
        let e = enc.as_mut().ok_or_else(Error::invalid_ciphertext)?;
        e.update(&plain, &mut out)
    })();
    plain.zeroize();
    r?;
    enc.take()
        .ok_or_else(Error::invalid_ciphertext)?
        .finish(&mut out)?;
    writer.write_all(&out).map_err(from_io)?;
    writer.flush().map_err(from_io)?;
    info.ok_or_else(Error::invalid_ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esdk::RawAesKeyring;
    use crate::OsRng;

    fn ring() -> RawAesKeyring {
        RawAesKeyring::new("strongroom-test", "stream", &[7u8; 32]).unwrap()
    }

    fn opts(suite: u16, frame_length: u32, plaintext_length: Option<u64>) -> EncryptOptions {
        EncryptOptions {
            suite,
            frame_length,
            plaintext_length,
            ..Default::default()
        }
    }

    fn message(suite: u16, frame_length: u32, plain: &[u8]) -> Vec<u8> {
        let o = opts(suite, frame_length, Some(plain.len() as u64));
        super::super::encrypt_with(&ring(), plain, &EncryptionContext::new(), &o, &OsRng).unwrap()
    }

    fn plaintext(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn decrypting_many_frames_reserves_the_output_once() {
        // 200 frames in one update: the output gets one allocation of the
        // upper bound before the first frame is decrypted (amortised
        // growth would leave ~8 freed, unwiped copies of the plaintext).
        for suite in [0x0478, 0x0578] {
            let plain = plaintext(200 * 1000 - 17);
            let msg = message(suite, 1000, &plain);
            let r = ring();
            let mut d = Decryptor::new(&r, DecryptOptions::default());
            let mut out = Vec::new();
            d.update(&msg, &mut out).unwrap();
            assert_eq!(out.capacity(), msg.len(), "suite {suite:#06x}");
            let (ptr, cap) = (out.as_ptr(), out.capacity());
            d.finish(&mut out).unwrap();
            assert_eq!(out, plain);
            assert_eq!((out.as_ptr(), out.capacity()), (ptr, cap));
        }
    }

    #[test]
    fn a_caller_buffer_too_small_moves_once_before_decrypting() {
        let plain = plaintext(50_000);
        let msg = message(0x0478, 512, &plain);
        let r = ring();
        let mut d = Decryptor::new(&r, DecryptOptions::default());
        let mut out = b"prefix".to_vec();
        d.update(&msg, &mut out).unwrap();
        assert_eq!(out.capacity(), 6 + msg.len());
        d.finish(&mut out).unwrap();
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(&out[6..], &plain[..]);
    }

    #[test]
    fn decrypting_writer_never_grows_its_plaintext_buffer() {
        let plain = plaintext(300 * 700 + 5);
        let msg = message(0x0478, 700, &plain);
        let r = ring();
        let mut w = DecryptingWriter::new(&r, DecryptOptions::default(), Vec::new());
        w.write_all(&msg).unwrap();
        // One write decrypted 300 frames into one reservation.
        assert_eq!(w.out.capacity(), msg.len());
        let (inner, _) = w.finish().unwrap();
        assert_eq!(inner, plain);
    }

    #[test]
    fn a_4_mib_frame_never_reallocates_the_encryptor_buffer() {
        let fl = 4u32 << 20;
        let r = ring();
        let mut e = Encryptor::new(
            &r,
            &EncryptionContext::new(),
            &opts(0x0478, fl, None),
            &OsRng,
        )
        .unwrap();
        let (ptr, cap) = (e.buf.as_ptr(), e.buf.capacity());
        assert_eq!(cap, fl as usize);
        let chunk = plaintext(64 * 1024);
        let mut out = Vec::new();
        let mut plain = Vec::new();
        // One full frame and half of the next, in small pieces.
        for _ in 0..(fl as usize / chunk.len()) * 3 / 2 {
            e.update(&chunk, &mut out).unwrap();
            plain.extend_from_slice(&chunk);
            assert_eq!((e.buf.as_ptr(), e.buf.capacity()), (ptr, cap));
        }
        e.finish(&mut out).unwrap();
        let d = super::super::decrypt_with(&r, &out, &DecryptOptions::default()).unwrap();
        assert_eq!(d.plaintext.as_bytes(), &plain[..]);
    }

    #[test]
    fn a_declared_short_message_reserves_only_its_length() {
        let r = ring();
        let o = opts(0x0478, 4 << 20, Some(10));
        let e = Encryptor::new(&r, &EncryptionContext::new(), &o, &OsRng).unwrap();
        assert_eq!(e.buf.capacity(), 10);
    }

    #[test]
    fn reserve_wiped_keeps_contents_and_exact_size() {
        let mut v = b"secret".to_vec();
        reserve_wiped(&mut v, 100);
        assert_eq!(&v[..], b"secret");
        assert_eq!(v.capacity(), 106);
        let p = v.as_ptr();
        reserve_wiped(&mut v, 50);
        assert_eq!(v.as_ptr(), p, "enough room: no move");
    }
}
