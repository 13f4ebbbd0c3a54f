//! The only place that calls the RustCrypto primitives. Every AES-GCM and
//! HKDF use in the crate goes through these functions, and the Wycheproof
//! tests below run through the same functions.

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub(crate) const KEY_LEN: usize = 32;
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

/// AES-256-GCM seal. Returns ciphertext ‖ tag. (Tests cross-check the
/// in-place variant against it.)
#[cfg(test)]
pub(crate) fn aes256gcm_seal(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // aes-gcm only fails for plaintexts beyond 2^36 bytes; ours are tiny.
        .expect("AES-GCM encryption cannot fail for inputs under 64 GiB")
}

/// AES-256-GCM seal of `buf[start..]` in place, appending the tag: lets
/// callers build header ‖ ciphertext ‖ tag in one allocation.
pub(crate) fn aes256gcm_seal_in_place(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut Vec<u8>,
    start: usize,
) {
    let cipher = Aes256Gcm::new(key.into());
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, &mut buf[start..])
        .expect("AES-GCM encryption cannot fail for inputs under 64 GiB");
    buf.extend_from_slice(&tag);
}

/// AES-256-GCM open of ciphertext ‖ tag. `None` on any failure (the tag
/// comparison inside aes-gcm is constant time).
pub(crate) fn aes256gcm_open(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    if ciphertext_and_tag.len() < TAG_LEN {
        return None;
    }
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext_and_tag,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

/// AES-256-GCM seal of `buf[start..]` in place, appending the tag, under a
/// key used for this one value only (a per-blob or per-sealed-value key
/// derived with HKDF from a fresh salt).
///
/// Backend: on x86-64 and AArch64, `ring`'s assembly, as for the envelope
/// layer's [`Gcm`]: for a 1 KiB blob the RustCrypto `aes-gcm` 0.10 seal
/// (key setup + one-block-at-a-time GHASH) cost more than everything else
/// in `Encrypt` together. `ring` does not wipe the key schedule it builds
/// (on the stack, gone when this returns); what it holds is the derived
/// one-use key, which opens only this value — never the KMS key material or
/// the store key it was derived from. Elsewhere (wasm32), RustCrypto.
pub(crate) fn aes256gcm_seal_in_place_once(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut Vec<u8>,
    start: usize,
) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        let k = ring::aead::LessSafeKey::new(
            ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key)
                .expect("32 bytes is an AES-256 key"),
        );
        let tag = k
            .seal_in_place_separate_tag(
                ring::aead::Nonce::assume_unique_for_key(*nonce),
                ring::aead::Aad::from(aad),
                &mut buf[start..],
            )
            .expect("AES-GCM encryption cannot fail for inputs under 64 GiB");
        buf.extend_from_slice(tag.as_ref());
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        aes256gcm_seal_in_place(key, nonce, aad, buf, start)
    }
}

/// AES-256-GCM open of ciphertext ‖ tag under a one-use key (see
/// [`aes256gcm_seal_in_place_once`]). `None` on any failure, with nothing
/// of the attempted plaintext left behind (the buffer is wiped); the tag
/// check is constant time in both backends.
pub(crate) fn aes256gcm_open_once(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        if ciphertext_and_tag.len() < TAG_LEN {
            return None;
        }
        let k = ring::aead::LessSafeKey::new(
            ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key)
                .expect("32 bytes is an AES-256 key"),
        );
        let mut buf = Zeroizing::new(ciphertext_and_tag.to_vec());
        let n = k
            .open_in_place(
                ring::aead::Nonce::assume_unique_for_key(*nonce),
                ring::aead::Aad::from(aad),
                &mut buf[..],
            )
            .ok()?
            .len();
        // The tag's bytes stay in the capacity: not secret, and wiped with
        // the rest on drop.
        buf.truncate(n);
        Some(buf)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        aes256gcm_open(key, nonce, aad, ciphertext_and_tag)
    }
}

/// An AES-GCM key schedule (128, 192 or 256 bits) kept for a whole
/// message: the envelope layer seals and opens every frame with it without
/// redoing the key expansion.
///
/// Backend: on x86-64 and AArch64, AES-128/256-GCM run on `ring`'s
/// assembly (AES-NI/VAES + CLMUL/VPCLMULQDQ, ARMv8 crypto): about 5× the
/// throughput of `aes-gcm` 0.10 on the benchmark machine (see
/// `docs/formats/message.md`). Everywhere else (wasm32) and for AES-192
/// (legacy suites only), RustCrypto `aes-gcm`, whose key schedules are
/// zeroized on drop. `ring` does not wipe its key schedule when dropped;
/// what it holds is only the per-message derived key (HKDF of the data key
/// and the message id), never the data key or a KMS key.
pub(crate) enum Gcm {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    Ring(Box<ring::aead::LessSafeKey>),
    A128(Box<aes_gcm::Aes128Gcm>),
    A192(Box<aes_gcm::AesGcm<aes_gcm::aes::Aes192, aes_gcm::aead::consts::U12>>),
    A256(Box<Aes256Gcm>),
}

impl Gcm {
    pub(crate) fn new(key: &[u8]) -> Option<Gcm> {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        {
            let alg = match key.len() {
                16 => Some(&ring::aead::AES_128_GCM),
                32 => Some(&ring::aead::AES_256_GCM),
                _ => None,
            };
            if let Some(alg) = alg {
                let k = ring::aead::UnboundKey::new(alg, key).ok()?;
                return Some(Gcm::Ring(Box::new(ring::aead::LessSafeKey::new(k))));
            }
        }
        Some(match key.len() {
            16 => Gcm::A128(Box::new(aes_gcm::Aes128Gcm::new_from_slice(key).ok()?)),
            24 => Gcm::A192(Box::new(KeyInit::new_from_slice(key).ok()?)),
            32 => Gcm::A256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
            _ => return None,
        })
    }

    /// RustCrypto only (its key schedules are zeroized on drop), for
    /// long-lived wrapping keys such as a raw AES keyring's: `ring` would
    /// keep a copy of the schedule it never wipes.
    pub(crate) fn new_wiped(key: &[u8]) -> Option<Gcm> {
        Some(match key.len() {
            16 => Gcm::A128(Box::new(aes_gcm::Aes128Gcm::new_from_slice(key).ok()?)),
            24 => Gcm::A192(Box::new(KeyInit::new_from_slice(key).ok()?)),
            32 => Gcm::A256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
            _ => return None,
        })
    }

    /// Encrypt `buf` in place; returns the tag.
    pub(crate) fn seal(&self, iv: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let n = Nonce::from_slice(iv);
        let t = match self {
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Gcm::Ring(k) => {
                let tag = k
                    .seal_in_place_separate_tag(
                        ring::aead::Nonce::assume_unique_for_key(*iv),
                        ring::aead::Aad::from(aad),
                        buf,
                    )
                    .expect("AES-GCM encryption cannot fail for inputs under 64 GiB");
                let mut out = [0u8; TAG_LEN];
                out.copy_from_slice(tag.as_ref());
                return out;
            }
            Gcm::A128(c) => c.encrypt_in_place_detached(n, aad, buf),
            Gcm::A192(c) => c.encrypt_in_place_detached(n, aad, buf),
            Gcm::A256(c) => c.encrypt_in_place_detached(n, aad, buf),
        }
        .expect("AES-GCM encryption cannot fail for inputs under 64 GiB");
        t.into()
    }

    /// Decrypt `buf` in place if `tag` authenticates it (constant-time tag
    /// check in both backends). On failure `buf` is wiped and `false`
    /// returned.
    pub(crate) fn open(&self, iv: &[u8], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
        if iv.len() != NONCE_LEN || tag.len() != TAG_LEN {
            return false;
        }
        let n = Nonce::from_slice(iv);
        let t = aes_gcm::Tag::from_slice(tag);
        let ok = match self {
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Gcm::Ring(k) => {
                let mut nonce = [0u8; NONCE_LEN];
                nonce.copy_from_slice(iv);
                let mut tg = [0u8; TAG_LEN];
                tg.copy_from_slice(tag);
                k.open_in_place_separate_tag(
                    ring::aead::Nonce::assume_unique_for_key(nonce),
                    ring::aead::Aad::from(aad),
                    ring::aead::Tag::from(tg),
                    buf,
                    0..,
                )
                .is_ok()
            }
            Gcm::A128(c) => c.decrypt_in_place_detached(n, aad, buf, t).is_ok(),
            Gcm::A192(c) => c.decrypt_in_place_detached(n, aad, buf, t).is_ok(),
            Gcm::A256(c) => c.decrypt_in_place_detached(n, aad, buf, t).is_ok(),
        };
        if !ok {
            zeroize::Zeroize::zeroize(buf);
        }
        ok
    }
}

/// HKDF-SHA256 into `out`. `None` if `out` is longer than 255*32 bytes.
pub(crate) fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], out: &mut [u8]) -> Option<()> {
    let salt = if salt.is_empty() { None } else { Some(salt) };
    Hkdf::<Sha256>::new(salt, ikm).expand(info, out).ok()
}

/// HKDF-SHA512 extract-then-expand (the ESDK committing suites).
/// HKDF-SHA512 with one extract and several expands (the ESDK's content
/// and commitment keys share salt and IKM): half the SHA-512 work of
/// separate calls.
pub(crate) fn hkdf_sha512_multi(
    ikm: &[u8],
    salt: &[u8],
    outs: &mut [(&[u8], &mut [u8])],
) -> Option<()> {
    let salt = if salt.is_empty() { None } else { Some(salt) };
    let h = Hkdf::<sha2::Sha512>::new(salt, ikm);
    for (info, out) in outs.iter_mut() {
        h.expand(info, out).ok()?;
    }
    Some(())
}

pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod wycheproof {
    //! Wycheproof vectors (copied into tests/vectors/wycheproof from
    //! shared/vectors) run through the crate's own call paths.
    use super::*;
    use crate::testutil::{h, wycheproof as load};

    #[test]
    fn aes_256_gcm() {
        let doc = load("aes_gcm_test.json");
        let (mut valid, mut invalid) = (0, 0);
        for group in doc["testGroups"].as_array().unwrap() {
            if group["keySize"] != 256 || group["ivSize"] != 96 || group["tagSize"] != 128 {
                continue;
            }
            for t in group["tests"].as_array().unwrap() {
                let key: [u8; 32] = h(&t["key"]).try_into().unwrap();
                let iv: [u8; 12] = h(&t["iv"]).try_into().unwrap();
                let (aad, msg, ct, tag) = (h(&t["aad"]), h(&t["msg"]), h(&t["ct"]), h(&t["tag"]));
                let mut ct_tag = ct.clone();
                ct_tag.extend_from_slice(&tag);
                let id = &t["tcId"];
                match t["result"].as_str().unwrap() {
                    "valid" | "acceptable" => {
                        assert_eq!(aes256gcm_seal(&key, &iv, &aad, &msg), ct_tag, "tc {id}");
                        let mut buf = b"hdr".to_vec();
                        buf.extend_from_slice(&msg);
                        aes256gcm_seal_in_place(&key, &iv, &aad, &mut buf, 3);
                        assert_eq!(&buf[3..], &ct_tag[..], "tc {id} in place");
                        let pt = aes256gcm_open(&key, &iv, &aad, &ct_tag).expect("opens");
                        assert_eq!(&pt[..], &msg[..], "tc {id}");
                        let mut buf = b"hdr".to_vec();
                        buf.extend_from_slice(&msg);
                        aes256gcm_seal_in_place_once(&key, &iv, &aad, &mut buf, 3);
                        assert_eq!(&buf[3..], &ct_tag[..], "tc {id} one-use key");
                        let pt = aes256gcm_open_once(&key, &iv, &aad, &ct_tag).expect("opens");
                        assert_eq!(&pt[..], &msg[..], "tc {id} one-use key");
                        valid += 1;
                    }
                    _ => {
                        assert!(
                            aes256gcm_open(&key, &iv, &aad, &ct_tag).is_none(),
                            "tc {id}"
                        );
                        assert!(
                            aes256gcm_open_once(&key, &iv, &aad, &ct_tag).is_none(),
                            "tc {id} one-use key"
                        );
                        invalid += 1;
                    }
                }
            }
        }
        // 66 AES-256 tests with 96-bit IV and 128-bit tag in this Wycheproof revision.
        assert_eq!(valid + invalid, 66, "valid {valid} invalid {invalid}");
        assert!(invalid > 0);
    }

    /// The envelope layer's `Gcm` (ring on x86-64/AArch64 for 128/256-bit
    /// keys, RustCrypto otherwise and for 192-bit keys) on every Wycheproof
    /// case with a 96-bit IV and 128-bit tag, all three key sizes.
    #[test]
    fn gcm_backends() {
        let doc = load("aes_gcm_test.json");
        let mut seen = std::collections::BTreeMap::new();
        for group in doc["testGroups"].as_array().unwrap() {
            if group["ivSize"] != 96 || group["tagSize"] != 128 {
                continue;
            }
            for t in group["tests"].as_array().unwrap() {
                let key = h(&t["key"]);
                let iv: [u8; 12] = h(&t["iv"]).try_into().unwrap();
                let (aad, msg, ct, tag) = (h(&t["aad"]), h(&t["msg"]), h(&t["ct"]), h(&t["tag"]));
                let g = Gcm::new(&key).expect("16, 24 or 32 bytes");
                let id = &t["tcId"];
                *seen.entry(key.len()).or_insert(0) += 1;
                let mut buf = ct.clone();
                let opened = g.open(&iv, &aad, &mut buf, &tag);
                match t["result"].as_str().unwrap() {
                    "valid" | "acceptable" => {
                        assert!(opened, "tc {id}");
                        assert_eq!(buf, msg, "tc {id}");
                        let mut m = msg.clone();
                        assert_eq!(g.seal(&iv, &aad, &mut m), tag[..], "tc {id}");
                        assert_eq!(m, ct, "tc {id}");
                    }
                    _ => {
                        assert!(!opened, "tc {id}");
                        assert!(buf.iter().all(|b| *b == 0), "tc {id}: wiped on failure");
                    }
                }
            }
        }
        assert_eq!(seen.len(), 3, "128, 192 and 256-bit keys: {seen:?}");
    }

    #[test]
    fn hkdf_sha256_vectors() {
        let doc = load("hkdf_sha256_test.json");
        let mut n = 0;
        for group in doc["testGroups"].as_array().unwrap() {
            for t in group["tests"].as_array().unwrap() {
                let size = t["size"].as_u64().unwrap() as usize;
                let mut out = vec![0u8; size];
                let r = hkdf_sha256(&h(&t["ikm"]), &h(&t["salt"]), &h(&t["info"]), &mut out);
                match t["result"].as_str().unwrap() {
                    "valid" | "acceptable" => {
                        assert!(r.is_some(), "tc {}", t["tcId"]);
                        assert_eq!(out, h(&t["okm"]), "tc {}", t["tcId"]);
                    }
                    _ => assert!(r.is_none(), "tc {} must fail", t["tcId"]),
                }
                n += 1;
            }
        }
        assert_eq!(n, 86);
    }
}
