//! The raw and KMS ECDH keyrings: every key agreement schema on P-256 and
//! P-384, the refusals the MPL specification requires, tampering, KMS key
//! state, and (ignored; `make test` runs it) interop both ways with the
//! official SDK + Material Providers Library.
mod common;
use common::*;

use std::path::{Path, PathBuf};

use p256::pkcs8::{EncodePrivateKey, EncodePublicKey};
use strongroom::api::*;
use strongroom::esdk::{
    self, DecryptOptions, EcdhCurve, KmsEcdhKeyring, RawEcdhKeyring, KMS_ECDH_PROVIDER_ID,
    RAW_ECDH_PROVIDER_ID,
};
use strongroom::model::*;
use strongroom::{EncryptionContext, ErrorCode, OsRng};

const CURVES: [EcdhCurve; 2] = [EcdhCurve::EccNistP256, EcdhCurve::EccNistP384];

/// (PKCS#8 DER private key, SPKI DER public key) from a seed.
fn pair(curve: EcdhCurve, seed: u8) -> (Vec<u8>, Vec<u8>) {
    match curve {
        EcdhCurve::EccNistP256 => {
            let k = p256::SecretKey::from_slice(&[seed; 32]).unwrap();
            (
                k.to_pkcs8_der().unwrap().as_bytes().to_vec(),
                k.public_key()
                    .to_public_key_der()
                    .unwrap()
                    .as_bytes()
                    .to_vec(),
            )
        }
        EcdhCurve::EccNistP384 => {
            let k = p384::SecretKey::from_slice(&[seed; 48]).unwrap();
            (
                k.to_pkcs8_der().unwrap().as_bytes().to_vec(),
                k.public_key()
                    .to_public_key_der()
                    .unwrap()
                    .as_bytes()
                    .to_vec(),
            )
        }
    }
}

fn ctx() -> EncryptionContext {
    context([("purpose", "ecdh-interop")])
}

#[test]
fn every_schema_round_trips_on_both_curves() {
    for curve in CURVES {
        let (s_priv, _s_pub) = pair(curve, 3);
        let (r_priv, r_pub) = pair(curve, 9);
        let stat = RawEcdhKeyring::static_keys(curve, &s_priv, &r_pub).unwrap();
        let eph = RawEcdhKeyring::ephemeral(curve, &r_pub).unwrap();
        let disc = RawEcdhKeyring::discovery(curve, &r_priv).unwrap();
        let pt = vec![7u8; 5000];
        let m1 = esdk::encrypt(&stat, &pt, &ctx(), 1024, &OsRng).unwrap();
        let m2 = esdk::encrypt(&eph, &pt, &ctx(), 1024, &OsRng).unwrap();
        for (m, who) in [(&m1, "static"), (&m2, "ephemeral")] {
            let d = esdk::decrypt_with(&disc, m, &DecryptOptions::default()).unwrap();
            assert_eq!(d.plaintext.as_bytes(), &pt[..], "{curve:?} {who}");
            assert_eq!(d.info.opened_by.provider_id, RAW_ECDH_PROVIDER_ID);
        }
        // The static keyring opens its own messages, not another sender's.
        assert_eq!(esdk::decrypt(&stat, &m1).unwrap().0.as_bytes(), &pt[..]);
        assert_eq!(
            esdk::decrypt(&stat, &m2).unwrap_err().code(),
            ErrorCode::InvalidCiphertext
        );
        // Two ephemeral messages use two sender keys (different provider info).
        let m3 = esdk::encrypt(&eph, &pt, &ctx(), 1024, &OsRng).unwrap();
        assert_ne!(m2[..200], m3[..200]);
        // The MPL's refusals: discovery cannot encrypt, ephemeral cannot decrypt.
        assert_eq!(
            esdk::encrypt(&disc, b"x", &ctx(), 64, &OsRng)
                .unwrap_err()
                .code(),
            ErrorCode::Validation
        );
        assert_eq!(
            esdk::decrypt(&eph, &m1).unwrap_err().code(),
            ErrorCode::Validation
        );
        // Another recipient's key does not open it.
        let (other_priv, _) = pair(curve, 11);
        let other = RawEcdhKeyring::discovery(curve, &other_priv).unwrap();
        assert_eq!(
            esdk::decrypt(&other, &m1).unwrap_err().code(),
            ErrorCode::InvalidCiphertext
        );
        // Every bit of a small message matters (the commitment key and the
        // tag are both checked).
        let small = esdk::encrypt(&stat, b"tamper", &ctx(), 64, &OsRng).unwrap();
        for i in 0..small.len() {
            let mut t = small.clone();
            t[i] ^= 0x04;
            assert!(esdk::decrypt(&disc, &t).is_err(), "{curve:?} byte {i}");
        }
    }
}

#[test]
fn keys_of_the_wrong_curve_or_form_are_refused() {
    let (p256_priv, p256_pub) = pair(EcdhCurve::EccNistP256, 3);
    let (_, p384_pub) = pair(EcdhCurve::EccNistP384, 4);
    for r in [
        RawEcdhKeyring::static_keys(EcdhCurve::EccNistP256, &p256_priv, &p384_pub),
        RawEcdhKeyring::static_keys(EcdhCurve::EccNistP384, &p256_priv, &p384_pub),
        RawEcdhKeyring::ephemeral(EcdhCurve::EccNistP384, &p256_pub),
        RawEcdhKeyring::ephemeral(EcdhCurve::EccNistP256, b"not a key"),
        RawEcdhKeyring::discovery(EcdhCurve::EccNistP256, &p256_pub),
    ] {
        let e = r.unwrap_err();
        assert_eq!(e.code(), ErrorCode::Validation);
        assert!(!e.to_string().contains(&hex::encode(&p256_priv[..8])));
    }
    let k = RawEcdhKeyring::static_keys(EcdhCurve::EccNistP256, &p256_priv, &p256_pub).unwrap();
    let dbg = format!("{k:?}");
    assert!(
        dbg.contains("RawPrivateKeyToStaticPublicKey") && !dbg.contains("SecretKey"),
        "{dbg}"
    );
}

#[test]
fn kms_ecdh_keyrings_derive_through_derive_shared_secret() {
    let (kms, _clock) = kms();
    for curve in CURVES {
        let spec = match curve {
            EcdhCurve::EccNistP256 => KeySpec::EccNistP256,
            EcdhCurve::EccNistP384 => KeySpec::EccNistP384,
        };
        let sender = kms
            .create_key(CreateKeyRequest {
                key_usage: Some(KeyUsage::KeyAgreement),
                key_spec: Some(spec),
                ..Default::default()
            })
            .unwrap()
            .key_metadata
            .arn;
        let sender_pub = kms
            .get_public_key(GetPublicKeyRequest {
                key_id: sender.clone(),
                grant_tokens: vec![],
            })
            .unwrap()
            .public_key;
        let (r_priv, r_pub) = pair(curve, 5);
        let ring = KmsEcdhKeyring::static_keys(&kms, curve, &sender, &r_pub).unwrap();
        let msg = esdk::encrypt(&ring, b"via kms", &ctx(), 64, &OsRng).unwrap();
        // The recipient opens it with its local key (discovery) ...
        let disc = RawEcdhKeyring::discovery(curve, &r_priv).unwrap();
        let d = esdk::decrypt_with(&disc, &msg, &DecryptOptions::default()).unwrap();
        assert_eq!(d.plaintext.as_bytes(), b"via kms");
        assert_eq!(d.info.opened_by.provider_id, KMS_ECDH_PROVIDER_ID);
        // ... and the sender through the KMS.
        let d = esdk::decrypt_with(&ring, &msg, &DecryptOptions::default()).unwrap();
        assert_eq!(d.info.opened_by.key_name, sender);
        // A KMS recipient: a local sender wraps for the KMS key's public key,
        // the KMS discovery keyring opens it.
        let (s_priv, _) = pair(curve, 6);
        let to_kms = RawEcdhKeyring::static_keys(curve, &s_priv, &sender_pub).unwrap();
        let msg2 = esdk::encrypt(&to_kms, b"to kms", &ctx(), 64, &OsRng).unwrap();
        let kdisc = KmsEcdhKeyring::discovery(&kms, curve, &sender).unwrap();
        assert_eq!(
            esdk::decrypt(&kdisc, &msg2).unwrap().0.as_bytes(),
            b"to kms"
        );
        assert_eq!(
            esdk::encrypt(&kdisc, b"x", &ctx(), 64, &OsRng)
                .unwrap_err()
                .code(),
            ErrorCode::Validation
        );
        // Key state and usage govern: a disabled key fails with its error;
        // a key of another usage or curve is refused up front.
        let other = if curve == EcdhCurve::EccNistP256 {
            EcdhCurve::EccNistP384
        } else {
            EcdhCurve::EccNistP256
        };
        assert_eq!(
            KmsEcdhKeyring::discovery(&kms, other, &sender)
                .unwrap_err()
                .code(),
            ErrorCode::InvalidKeyUsage
        );
        kms.disable_key(KeyIdRequest {
            key_id: sender.clone(),
        })
        .unwrap();
        assert_eq!(
            esdk::decrypt(&kdisc, &msg2).unwrap_err().code(),
            ErrorCode::Disabled
        );
        assert_eq!(
            esdk::encrypt(&ring, b"x", &ctx(), 64, &OsRng)
                .unwrap_err()
                .code(),
            ErrorCode::Disabled
        );
    }
    let sym = new_key(&kms);
    assert!(KmsEcdhKeyring::discovery(&kms, EcdhCurve::EccNistP256, &sym).is_err());
}

// ------------------------------------------------------------ interop

fn mpl_python() -> String {
    std::env::var("STRONGROOM_MPL_PYTHON")
        .expect("set STRONGROOM_MPL_PYTHON to a python with the MPL (make test does)")
}

fn run(mode: &str, dir: &Path) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/esdk_ecdh.py");
    let out = std::process::Command::new(mpl_python())
        .arg(script)
        .arg(mode)
        .arg(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "esdk_ecdh.py {mode}: {text}");
    text
}

#[test]
#[ignore = "needs the official SDK + MPL (Python); make test runs it"]
fn raw_ecdh_messages_go_both_ways_with_the_official_sdk_and_mpl() {
    let d = tempfile::tempdir().unwrap();
    run("keys", d.path());
    assert!(run("encrypt", d.path()).contains("encrypted 4"));
    let pt = std::fs::read(d.path().join("plaintext")).unwrap();
    let read = |n: String| std::fs::read(d.path().join(n)).unwrap();
    for (curve, name) in [
        (EcdhCurve::EccNistP256, "ECC_NIST_P256"),
        (EcdhCurve::EccNistP384, "ECC_NIST_P384"),
    ] {
        let s_pem = read(format!("{name}-sender.pem"));
        let r_pem = read(format!("{name}-recipient.pem"));
        let r_der = read(format!("{name}-recipient.der"));
        let stat = RawEcdhKeyring::static_keys(curve, &s_pem, &r_der).unwrap();
        let disc = RawEcdhKeyring::discovery(curve, &r_pem).unwrap();
        let eph = RawEcdhKeyring::ephemeral(curve, &r_der).unwrap();
        // The MPL's messages open here.
        for scheme in ["static", "ephemeral"] {
            let m = read(format!("mpl-{name}-{scheme}.msg"));
            let (got, c) = esdk::decrypt(&disc, &m).unwrap();
            assert_eq!(got.as_bytes(), &pt[..], "{name} {scheme}");
            assert_eq!(c["purpose"], "ecdh-interop");
            if scheme == "static" {
                assert_eq!(esdk::decrypt(&stat, &m).unwrap().0.as_bytes(), &pt[..]);
            }
        }
        // Strongroom's open with the MPL.
        for (scheme, ring) in [("static", &stat), ("ephemeral", &eph)] {
            let m = esdk::encrypt(ring, &pt, &ctx(), 4096, &OsRng).unwrap();
            std::fs::write(d.path().join(format!("strongroom-{name}-{scheme}.msg")), m).unwrap();
        }
    }
    let report = run("decrypt", d.path());
    assert!(report.contains("decrypted 6"), "{report}");
}
