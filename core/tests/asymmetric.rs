//! Asymmetric and HMAC keys through the public API (kms-semantics §4–5).
mod common;
use common::*;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::signature::Verifier;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use strongroom::api::*;
use strongroom::asym::{MacAlgorithm, MessageType, SigningAlgorithm};
use strongroom::model::*;
use strongroom::{ErrorCode, Kms};

fn create(kms: &Kms, spec: KeySpec, usage: KeyUsage) -> KeyMetadata {
    kms.create_key(CreateKeyRequest {
        key_spec: Some(spec),
        key_usage: Some(usage),
        ..Default::default()
    })
    .unwrap()
    .key_metadata
}

fn public_key(kms: &Kms, id: &str) -> GetPublicKeyResponse {
    kms.get_public_key(GetPublicKeyRequest {
        key_id: id.into(),
        ..Default::default()
    })
    .unwrap()
}

fn sign(kms: &Kms, id: &str, alg: SigningAlgorithm, mt: MessageType, msg: &[u8]) -> Vec<u8> {
    kms.sign(SignRequest {
        key_id: id.into(),
        message: msg.to_vec(),
        message_type: Some(mt),
        signing_algorithm: Some(alg),
        ..Default::default()
    })
    .unwrap()
    .signature
}

fn verify(
    kms: &Kms,
    id: &str,
    alg: SigningAlgorithm,
    mt: MessageType,
    msg: &[u8],
    sig: &[u8],
) -> strongroom::Result<VerifyResponse> {
    kms.verify(VerifyRequest {
        key_id: id.into(),
        message: msg.to_vec(),
        message_type: Some(mt),
        signature: sig.to_vec(),
        signing_algorithm: Some(alg),
        ..Default::default()
    })
}

#[test]
fn metadata_and_public_keys() {
    let (kms, _) = kms();
    let k = create(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    assert_eq!(k.signing_algorithms, vec![SigningAlgorithm::EcdsaSha256]);
    assert!(k.encryption_algorithms.is_empty());
    let pk = public_key(&kms, &k.key_id);
    assert_eq!(pk.key_spec, KeySpec::EccNistP256);
    assert_eq!(pk.signing_algorithms, vec![SigningAlgorithm::EcdsaSha256]);
    p256::PublicKey::from_public_key_der(&pk.public_key).unwrap();
    let r = create(&kms, KeySpec::Rsa2048, KeyUsage::EncryptDecrypt);
    assert_eq!(
        r.encryption_algorithms,
        vec![
            EncryptionAlgorithm::RsaesOaepSha1,
            EncryptionAlgorithm::RsaesOaepSha256
        ]
    );
    let a = create(&kms, KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    assert_eq!(
        public_key(&kms, &a.key_id).key_agreement_algorithms,
        vec!["ECDH".to_string()]
    );
    let h = create(&kms, KeySpec::Hmac256, KeyUsage::GenerateVerifyMac);
    assert_eq!(h.mac_algorithms, vec![MacAlgorithm::HmacSha256]);
    for id in [new_key(&kms), h.key_id] {
        let e = kms
            .get_public_key(GetPublicKeyRequest {
                key_id: id,
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::UnsupportedOperation);
    }
    for (spec, usage) in [
        (KeySpec::EccNistP384, KeyUsage::EncryptDecrypt),
        (KeySpec::Hmac256, KeyUsage::SignVerify),
        (KeySpec::Rsa2048, KeyUsage::KeyAgreement),
        (KeySpec::EccNistP256, KeyUsage::EncryptDecrypt),
        // AWS: secp256k1, Ed25519 and ML-DSA keys only sign.
        (KeySpec::EccSecgP256k1, KeyUsage::KeyAgreement),
        (KeySpec::EccNistEdwards25519, KeyUsage::KeyAgreement),
        (KeySpec::MlDsa65, KeyUsage::EncryptDecrypt),
        (KeySpec::EccNistP521, KeyUsage::EncryptDecrypt),
    ] {
        let e = kms.create_key(CreateKeyRequest {
            key_spec: Some(spec),
            key_usage: Some(usage),
            ..Default::default()
        });
        assert_eq!(
            e.unwrap_err().code(),
            ErrorCode::Validation,
            "{spec} {usage}"
        );
    }
}

#[test]
fn ecdsa_p256_and_p384_verify_with_the_curve_crates() {
    let (kms, _) = kms();
    let msg = b"message to sign";
    // P-256, RAW and DIGEST.
    let k = create(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    let vk =
        p256::ecdsa::VerifyingKey::from_public_key_der(&public_key(&kms, &k.key_id).public_key)
            .unwrap();
    let sig = sign(
        &kms,
        &k.key_id,
        SigningAlgorithm::EcdsaSha256,
        MessageType::Raw,
        msg,
    );
    vk.verify(msg, &p256::ecdsa::Signature::from_der(&sig).unwrap())
        .unwrap();
    let digest: [u8; 32] = {
        use rsa::sha2::Digest;
        rsa::sha2::Sha256::digest(msg).into()
    };
    let sig2 = sign(
        &kms,
        &k.key_id,
        SigningAlgorithm::EcdsaSha256,
        MessageType::Digest,
        &digest,
    );
    vk.verify_prehash(&digest, &p256::ecdsa::Signature::from_der(&sig2).unwrap())
        .unwrap();
    verify(
        &kms,
        &k.key_id,
        SigningAlgorithm::EcdsaSha256,
        MessageType::Raw,
        msg,
        &sig,
    )
    .unwrap();
    verify(
        &kms,
        &k.key_id,
        SigningAlgorithm::EcdsaSha256,
        MessageType::Digest,
        &digest,
        &sig2,
    )
    .unwrap();
    // P-384.
    let k3 = create(&kms, KeySpec::EccNistP384, KeyUsage::SignVerify);
    let vk3 =
        p384::ecdsa::VerifyingKey::from_public_key_der(&public_key(&kms, &k3.key_id).public_key)
            .unwrap();
    let sig3 = sign(
        &kms,
        &k3.key_id,
        SigningAlgorithm::EcdsaSha384,
        MessageType::Raw,
        msg,
    );
    vk3.verify(msg, &p384::ecdsa::Signature::from_der(&sig3).unwrap())
        .unwrap();
    // Failures raise, never return false.
    let e = verify(
        &kms,
        &k.key_id,
        SigningAlgorithm::EcdsaSha256,
        MessageType::Raw,
        b"other",
        &sig,
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::KmsInvalidSignature);
    let e = verify(
        &kms,
        &k.key_id,
        SigningAlgorithm::EcdsaSha256,
        MessageType::Raw,
        msg,
        &[0x30, 0x00],
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::KmsInvalidSignature);
    let e = verify(
        &kms,
        &k3.key_id,
        SigningAlgorithm::EcdsaSha384,
        MessageType::Raw,
        msg,
        &sig,
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::KmsInvalidSignature);
    // Wrong algorithm, wrong digest length, empty and oversized messages.
    let bad_alg = kms.sign(SignRequest {
        key_id: k.key_id.clone(),
        message: msg.to_vec(),
        signing_algorithm: Some(SigningAlgorithm::EcdsaSha384),
        ..Default::default()
    });
    assert_eq!(bad_alg.unwrap_err().code(), ErrorCode::InvalidKeyUsage);
    let bad_len = kms.sign(SignRequest {
        key_id: k.key_id.clone(),
        message: vec![1; 31],
        message_type: Some(MessageType::Digest),
        signing_algorithm: Some(SigningAlgorithm::EcdsaSha256),
        ..Default::default()
    });
    assert_eq!(bad_len.unwrap_err().code(), ErrorCode::Validation);
    for m in [vec![], vec![0u8; 4097]] {
        let r = kms.sign(SignRequest {
            key_id: k.key_id.clone(),
            message: m,
            signing_algorithm: Some(SigningAlgorithm::EcdsaSha256),
            ..Default::default()
        });
        assert_eq!(r.unwrap_err().code(), ErrorCode::Validation);
    }
    let no_alg = kms.sign(SignRequest {
        key_id: k.key_id.clone(),
        message: msg.to_vec(),
        ..Default::default()
    });
    assert_eq!(no_alg.unwrap_err().code(), ErrorCode::Validation);
    // Symmetric keys do not sign; signing keys do not encrypt.
    let sym = new_key(&kms);
    let r = kms.sign(SignRequest {
        key_id: sym,
        message: msg.to_vec(),
        signing_algorithm: Some(SigningAlgorithm::EcdsaSha256),
        ..Default::default()
    });
    assert_eq!(r.unwrap_err().code(), ErrorCode::InvalidKeyUsage);
    let r = kms.encrypt(EncryptRequest {
        key_id: k.key_id.clone(),
        plaintext: b"x".into(),
        ..Default::default()
    });
    assert_eq!(r.unwrap_err().code(), ErrorCode::InvalidKeyUsage);
}

#[test]
fn rsa_sign_verify_encrypt_decrypt() {
    use rsa::signature::Verifier as _;
    let (kms, _) = kms();
    let msg = b"rsa message";
    let s = create(&kms, KeySpec::Rsa2048, KeyUsage::SignVerify);
    let pk = rsa::PublicKey::from_public_key_der(&public_key(&kms, &s.key_id).public_key).unwrap();
    let pss = sign(
        &kms,
        &s.key_id,
        SigningAlgorithm::RsassaPssSha256,
        MessageType::Raw,
        msg,
    );
    rsa::pss::VerifyingKey::<rsa::sha2::Sha256>::new(pk.clone())
        .verify(msg, &rsa::pss::Signature::try_from(pss.as_slice()).unwrap())
        .unwrap();
    let p1 = sign(
        &kms,
        &s.key_id,
        SigningAlgorithm::RsassaPkcs1V15Sha256,
        MessageType::Raw,
        msg,
    );
    rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(pk)
        .verify(
            msg,
            &rsa::pkcs1v15::Signature::try_from(p1.as_slice()).unwrap(),
        )
        .unwrap();
    for alg in [
        SigningAlgorithm::RsassaPssSha384,
        SigningAlgorithm::RsassaPkcs1V15Sha512,
    ] {
        let sig = sign(&kms, &s.key_id, alg, MessageType::Raw, msg);
        verify(&kms, &s.key_id, alg, MessageType::Raw, msg, &sig).unwrap();
        let e = verify(&kms, &s.key_id, alg, MessageType::Raw, b"tampered", &sig).unwrap_err();
        assert_eq!(e.code(), ErrorCode::KmsInvalidSignature);
    }
    // Encryption: OAEP SHA-256, no context, size limits, opaque failures.
    let e = create(&kms, KeySpec::Rsa2048, KeyUsage::EncryptDecrypt);
    let enc = |pt: &[u8], ctx: strongroom::EncryptionContext, alg| {
        kms.encrypt(EncryptRequest {
            key_id: e.key_id.clone(),
            plaintext: pt.into(),
            encryption_context: ctx,
            encryption_algorithm: alg,
            ..Default::default()
        })
    };
    let ct = enc(
        b"secret",
        Default::default(),
        Some(EncryptionAlgorithm::RsaesOaepSha256),
    )
    .unwrap();
    assert_eq!(ct.ciphertext_blob.len(), 256);
    assert_eq!(
        ct.encryption_algorithm,
        EncryptionAlgorithm::RsaesOaepSha256
    );
    let dec = |blob: Vec<u8>, alg| {
        kms.decrypt(DecryptRequest {
            ciphertext_blob: blob,
            key_id: Some(e.key_id.clone()),
            encryption_algorithm: alg,
            ..Default::default()
        })
    };
    assert_eq!(
        dec(
            ct.ciphertext_blob.clone(),
            Some(EncryptionAlgorithm::RsaesOaepSha256)
        )
        .unwrap()
        .plaintext
        .as_bytes(),
        b"secret"
    );
    assert_eq!(
        enc(
            &[1; 190],
            Default::default(),
            Some(EncryptionAlgorithm::RsaesOaepSha256)
        )
        .unwrap()
        .ciphertext_blob
        .len(),
        256
    );
    assert_eq!(
        enc(
            &[1; 191],
            Default::default(),
            Some(EncryptionAlgorithm::RsaesOaepSha256)
        )
        .unwrap_err()
        .code(),
        ErrorCode::Validation
    );
    assert_eq!(
        enc(
            b"x",
            context([("a", "b")]),
            Some(EncryptionAlgorithm::RsaesOaepSha256)
        )
        .unwrap_err()
        .code(),
        ErrorCode::Validation
    );
    assert_eq!(
        enc(b"x", Default::default(), None).unwrap_err().code(),
        ErrorCode::Validation
    );
    assert_eq!(
        enc(
            b"x",
            Default::default(),
            Some(EncryptionAlgorithm::SymmetricDefault)
        )
        .unwrap_err()
        .code(),
        ErrorCode::InvalidKeyUsage
    );
    let mut bad = ct.ciphertext_blob.clone();
    bad[100] ^= 1;
    assert_eq!(
        dec(bad, Some(EncryptionAlgorithm::RsaesOaepSha256))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidCiphertext
    );
    assert_eq!(
        dec(ct.ciphertext_blob, None).unwrap_err().code(),
        ErrorCode::Validation
    );
    // The public key encrypts outside KMS too, and KMS decrypts it.
    let pk = rsa::PublicKey::from_public_key_der(&public_key(&kms, &e.key_id).public_key).unwrap();
    let mut rng = TestRng(0x9e3779b97f4a7c15);
    let outside = pk
        .encrypt(
            &mut rng,
            rsa::Oaep::<rsa::sha2::Sha256>::new(),
            b"from outside",
        )
        .unwrap();
    assert_eq!(
        dec(outside, Some(EncryptionAlgorithm::RsaesOaepSha256))
            .unwrap()
            .plaintext
            .as_bytes(),
        b"from outside"
    );
}

#[test]
fn ecdh_agrees_from_both_sides() {
    let (kms, _) = kms();
    let a = create(&kms, KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let b = create(&kms, KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let pa = public_key(&kms, &a.key_id).public_key;
    let pb = public_key(&kms, &b.key_id).public_key;
    let derive = |id: &str, peer: Vec<u8>| {
        kms.derive_shared_secret(DeriveSharedSecretRequest {
            key_id: id.into(),
            key_agreement_algorithm: Some("ECDH".into()),
            public_key: peer,
            ..Default::default()
        })
    };
    let ab = derive(&a.key_id, pb.clone()).unwrap();
    let ba = derive(&b.key_id, pa.clone()).unwrap();
    assert_eq!(ab.shared_secret.as_bytes(), ba.shared_secret.as_bytes());
    assert_eq!(ab.shared_secret.len(), 32);
    assert_eq!(ab.key_origin, Origin::AwsKms);
    // Against a local key held outside KMS.
    let local = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    let local_pub = local
        .public_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    let kms_side = derive(&a.key_id, local_pub).unwrap();
    let peer = p256::PublicKey::from_public_key_der(&pa).unwrap();
    let local_side = p256::ecdh::diffie_hellman(local.to_nonzero_scalar(), peer.as_affine());
    assert_eq!(
        kms_side.shared_secret.as_bytes(),
        &local_side.raw_secret_bytes()[..]
    );
    // A P-384 public key, garbage, or a point off the curve: ValidationException.
    let p384_pub = {
        let k = p384::SecretKey::from_slice(&[9u8; 48]).unwrap();
        k.public_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec()
    };
    let mut off_curve = pb.clone();
    let n = off_curve.len();
    off_curve[n - 1] ^= 1;
    for bad in [p384_pub, vec![1, 2, 3], off_curve] {
        assert_eq!(
            derive(&a.key_id, bad).unwrap_err().code(),
            ErrorCode::Validation
        );
    }
    let r = kms.derive_shared_secret(DeriveSharedSecretRequest {
        key_id: a.key_id.clone(),
        key_agreement_algorithm: Some("ECDHE".into()),
        public_key: pb.clone(),
        ..Default::default()
    });
    assert_eq!(r.unwrap_err().code(), ErrorCode::Validation);
    let s = create(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    assert_eq!(
        derive(&s.key_id, pb).unwrap_err().code(),
        ErrorCode::InvalidKeyUsage
    );
    assert!(format!("{ab:?}").contains("redacted"));
}

#[test]
fn hmac_generate_and_verify() {
    let (kms, _) = kms();
    for (spec, alg, len) in [
        (KeySpec::Hmac224, MacAlgorithm::HmacSha224, 28),
        (KeySpec::Hmac256, MacAlgorithm::HmacSha256, 32),
        (KeySpec::Hmac384, MacAlgorithm::HmacSha384, 48),
        (KeySpec::Hmac512, MacAlgorithm::HmacSha512, 64),
    ] {
        let k = create(&kms, spec, KeyUsage::GenerateVerifyMac);
        let mac = kms
            .generate_mac(GenerateMacRequest {
                key_id: k.key_id.clone(),
                message: b"m".to_vec(),
                mac_algorithm: Some(alg),
                ..Default::default()
            })
            .unwrap()
            .mac;
        assert_eq!(mac.len(), len);
        let v = |m: &[u8], t: Vec<u8>| {
            kms.verify_mac(VerifyMacRequest {
                key_id: k.key_id.clone(),
                message: m.to_vec(),
                mac_algorithm: Some(alg),
                mac: t,
                ..Default::default()
            })
        };
        assert!(v(b"m", mac.clone()).unwrap().mac_valid);
        assert_eq!(
            v(b"n", mac.clone()).unwrap_err().code(),
            ErrorCode::KmsInvalidMac
        );
        let mut t = mac.clone();
        t[0] ^= 1;
        assert_eq!(v(b"m", t).unwrap_err().code(), ErrorCode::KmsInvalidMac);
        assert_eq!(
            v(b"m", mac[..len - 1].to_vec()).unwrap_err().code(),
            ErrorCode::KmsInvalidMac
        );
    }
    let k = create(&kms, KeySpec::Hmac256, KeyUsage::GenerateVerifyMac);
    let r = kms.generate_mac(GenerateMacRequest {
        key_id: k.key_id.clone(),
        message: b"m".to_vec(),
        mac_algorithm: Some(MacAlgorithm::HmacSha512),
        ..Default::default()
    });
    assert_eq!(r.unwrap_err().code(), ErrorCode::InvalidKeyUsage);
    let r = kms.encrypt(EncryptRequest {
        key_id: k.key_id.clone(),
        plaintext: b"x".into(),
        ..Default::default()
    });
    assert_eq!(r.unwrap_err().code(), ErrorCode::InvalidKeyUsage);
    let sym = new_key(&kms);
    let r = kms.generate_mac(GenerateMacRequest {
        key_id: sym,
        message: b"m".to_vec(),
        mac_algorithm: Some(MacAlgorithm::HmacSha256),
        ..Default::default()
    });
    assert_eq!(r.unwrap_err().code(), ErrorCode::InvalidKeyUsage);
}

#[test]
fn data_key_pairs() {
    let (kms, _) = kms();
    let wrap = new_key(&kms);
    let ctx = context([("purpose", "pairs")]);
    for spec in [
        DataKeyPairSpec::EccNistP256,
        DataKeyPairSpec::EccNistP384,
        DataKeyPairSpec::Rsa2048,
    ] {
        let r = kms
            .generate_data_key_pair(GenerateDataKeyPairRequest {
                key_id: wrap.clone(),
                key_pair_spec: Some(spec),
                encryption_context: ctx.clone(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(r.key_pair_spec, spec);
        // The blob decrypts (with the context) to exactly the PKCS#8 private key.
        let back = dec(&kms, &r.private_key_ciphertext_blob, &ctx).unwrap();
        assert!(r.private_key_plaintext.ct_eq(&back));
        assert_eq!(
            dec(&kms, &r.private_key_ciphertext_blob, &Default::default())
                .unwrap_err()
                .code(),
            ErrorCode::InvalidCiphertext
        );
        // The public key belongs to the private key.
        let public_from_private = match spec {
            DataKeyPairSpec::EccNistP256 => p256::SecretKey::from_pkcs8_der(&back)
                .unwrap()
                .public_key()
                .to_public_key_der()
                .unwrap(),
            DataKeyPairSpec::EccNistP384 => p384::SecretKey::from_pkcs8_der(&back)
                .unwrap()
                .public_key()
                .to_public_key_der()
                .unwrap(),
            _ => rsa::PublicKey::from(&rsa::PrivateKey::from_pkcs8_der(&back).unwrap())
                .to_public_key_der()
                .unwrap(),
        };
        assert_eq!(public_from_private.as_bytes(), &r.public_key[..]);
        assert!(format!("{r:?}").contains("redacted"));
    }
    let w = kms
        .generate_data_key_pair_without_plaintext(GenerateDataKeyPairRequest {
            key_id: wrap.clone(),
            key_pair_spec: Some(DataKeyPairSpec::EccNistP256),
            ..Default::default()
        })
        .unwrap();
    p256::SecretKey::from_pkcs8_der(
        &dec(&kms, &w.private_key_ciphertext_blob, &Default::default()).unwrap(),
    )
    .unwrap();
    let bad = |spec, key: &str| {
        kms.generate_data_key_pair(GenerateDataKeyPairRequest {
            key_id: key.into(),
            key_pair_spec: spec,
            ..Default::default()
        })
    };
    assert_eq!(bad(None, &wrap).unwrap_err().code(), ErrorCode::Validation);
    // A spec that is not a key pair spec is refused as AWS refuses it:
    // when the request is read.
    let e = strongroom::json::call(
        &kms,
        "GenerateDataKeyPair",
        serde_json::json!({"KeyId": wrap, "KeyPairSpec": "HMAC_256"}),
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Validation);
    assert_eq!(
        bad(Some(DataKeyPairSpec::Sm2), &wrap).unwrap_err().code(),
        ErrorCode::UnsupportedOperation
    );
    let signer = create(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    assert_eq!(
        bad(Some(DataKeyPairSpec::EccNistP256), &signer.key_id)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidKeyUsage
    );
}

#[test]
fn asymmetric_keys_do_not_rotate_but_have_a_lifecycle() {
    let (kms, _) = kms();
    for (spec, usage) in [
        (KeySpec::EccNistP256, KeyUsage::SignVerify),
        (KeySpec::Hmac256, KeyUsage::GenerateVerifyMac),
        (KeySpec::Rsa2048, KeyUsage::EncryptDecrypt),
    ] {
        let k = create(&kms, spec, usage);
        let id = || KeyIdRequest {
            key_id: k.key_id.clone(),
        };
        let e = kms.enable_key_rotation(EnableKeyRotationRequest {
            key_id: k.key_id.clone(),
            rotation_period_in_days: None,
        });
        assert_eq!(e.unwrap_err().code(), ErrorCode::UnsupportedOperation);
        assert_eq!(
            kms.rotate_key_on_demand(id()).unwrap_err().code(),
            ErrorCode::UnsupportedOperation
        );
        kms.disable_key(id()).unwrap();
        if usage == KeyUsage::SignVerify {
            let r = kms.sign(SignRequest {
                key_id: k.key_id.clone(),
                message: b"m".to_vec(),
                signing_algorithm: Some(SigningAlgorithm::EcdsaSha256),
                ..Default::default()
            });
            assert_eq!(r.unwrap_err().code(), ErrorCode::Disabled);
            assert_eq!(
                kms.get_public_key(GetPublicKeyRequest {
                    key_id: k.key_id.clone(),
                    ..Default::default()
                })
                .unwrap_err()
                .code(),
                ErrorCode::Disabled
            );
        }
        kms.enable_key(id()).unwrap();
        kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
            key_id: k.key_id.clone(),
            pending_window_in_days: Some(7),
        })
        .unwrap();
        kms.cancel_key_deletion(id()).unwrap();
    }
    // The rotation-required store setting leaves asymmetric keys alone.
    kms.set_rotation_required(true).unwrap();
    let k = create(&kms, KeySpec::EccNistP384, KeyUsage::SignVerify);
    assert!(
        !kms.get_key_rotation_status(KeyIdRequest { key_id: k.key_id })
            .unwrap()
            .key_rotation_enabled
    );
}

#[test]
fn asymmetric_material_survives_reopen_and_stays_sealed() {
    use strongroom::{ManualClock, RootKey};
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Kms::builder(ACCOUNT, REGION)
            .clock(ManualClock::new(T0))
            .open_file(dir.path(), RootKey::raw([5; 32]))
            .unwrap()
    };
    let (ids, pubs, macs) = {
        let kms = open();
        let s = create(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
        let r = create(&kms, KeySpec::Rsa2048, KeyUsage::SignVerify);
        let h = create(&kms, KeySpec::Hmac512, KeyUsage::GenerateVerifyMac);
        let pubs = (
            public_key(&kms, &s.key_id).public_key,
            public_key(&kms, &r.key_id).public_key,
        );
        let mac = kms
            .generate_mac(GenerateMacRequest {
                key_id: h.key_id.clone(),
                message: b"m".to_vec(),
                mac_algorithm: Some(MacAlgorithm::HmacSha512),
                ..Default::default()
            })
            .unwrap()
            .mac;
        ((s.key_id, r.key_id, h.key_id), pubs, mac)
    };
    let kms = open();
    assert_eq!(public_key(&kms, &ids.0).public_key, pubs.0);
    assert_eq!(public_key(&kms, &ids.1).public_key, pubs.1);
    let sig = sign(
        &kms,
        &ids.0,
        SigningAlgorithm::EcdsaSha256,
        MessageType::Raw,
        b"after reopen",
    );
    verify(
        &kms,
        &ids.0,
        SigningAlgorithm::EcdsaSha256,
        MessageType::Raw,
        b"after reopen",
        &sig,
    )
    .unwrap();
    kms.verify_mac(VerifyMacRequest {
        key_id: ids.2,
        message: b"m".to_vec(),
        mac_algorithm: Some(MacAlgorithm::HmacSha512),
        mac: macs,
        ..Default::default()
    })
    .unwrap();
    // No private key bytes on disk in the clear.
    let journal = std::fs::read(dir.path().join("strongroom.journal")).unwrap();
    assert!(
        !journal
            .windows(9)
            .any(|w| w == b"\x30\x81\x87\x02\x01\x00\x30\x13\x06"),
        "PKCS#8 header found on disk"
    );
}

#[test]
fn grants_and_policies_cover_asymmetric_operations() {
    use strongroom::Caller;
    let (kms, _) = kms();
    let k = create(&kms, KeySpec::EccNistP256, KeyUsage::SignVerify);
    let bob = kms.as_caller(Caller::iam_user(ACCOUNT, "bob"));
    let r = bob.sign(SignRequest {
        key_id: k.key_id.clone(),
        message: b"m".to_vec(),
        signing_algorithm: Some(SigningAlgorithm::EcdsaSha256),
        ..Default::default()
    });
    assert_eq!(r.unwrap_err().code(), ErrorCode::AccessDenied);
    kms.create_grant(CreateGrantRequest {
        key_id: k.key_id.clone(),
        grantee_principal: bob.caller().principal_arn.clone(),
        operations: vec![GrantOperation::Sign, GrantOperation::GetPublicKey],
        ..Default::default()
    })
    .unwrap();
    let sig = sign(
        &bob,
        &k.key_id,
        SigningAlgorithm::EcdsaSha256,
        MessageType::Raw,
        b"m",
    );
    assert!(bob
        .get_public_key(GetPublicKeyRequest {
            key_id: k.key_id.clone(),
            ..Default::default()
        })
        .is_ok());
    let r = verify(
        &bob,
        &k.key_id,
        SigningAlgorithm::EcdsaSha256,
        MessageType::Raw,
        b"m",
        &sig,
    );
    assert_eq!(r.unwrap_err().code(), ErrorCode::AccessDenied);
}

/// Counts the bytes drawn from a seeded generator.
struct CountingRng(
    strongroom::DangerousSeededRng,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
);

impl strongroom::Rng for CountingRng {
    fn fill(&self, dest: &mut [u8]) -> strongroom::Result<()> {
        self.1
            .fetch_add(dest.len(), std::sync::atomic::Ordering::SeqCst);
        strongroom::Rng::fill(&self.0, dest)
    }
}

#[test]
fn refused_data_key_pairs_generate_nothing() {
    use std::sync::atomic::Ordering::SeqCst;
    use strongroom::Caller;
    let drawn = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let kms = Kms::builder(ACCOUNT, REGION)
        .clock(strongroom::ManualClock::new(T0))
        .rng(CountingRng(
            strongroom::DangerousSeededRng::new([9; 32]),
            drawn.clone(),
        ))
        .in_memory()
        .unwrap();
    let wrap = new_key(&kms);
    let req = |key: &str| GenerateDataKeyPairRequest {
        key_id: key.into(),
        key_pair_spec: Some(DataKeyPairSpec::Rsa2048),
        ..Default::default()
    };
    // An RSA-2048 pair draws (far) more than 256 bytes.
    let before = drawn.load(SeqCst);
    kms.generate_data_key_pair(req(&wrap)).unwrap();
    assert!(drawn.load(SeqCst) - before > 256);
    // Bob has no permission: AccessDenied, and no pair was generated.
    let bob = kms.as_caller(Caller::iam_user(ACCOUNT, "bob"));
    let before = drawn.load(SeqCst);
    let e = bob.generate_data_key_pair(req(&wrap)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccessDenied);
    let e = bob
        .generate_data_key_pair_without_plaintext(req(&wrap))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccessDenied);
    // A key that does not exist: NotFound, nothing generated either.
    let e = kms
        .generate_data_key_pair(req("1234abcd-12ab-34cd-56ef-1234567890ab"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFound);
    assert!(
        drawn.load(SeqCst) - before < 256,
        "{}",
        drawn.load(SeqCst) - before
    );
}

/// The state × operation matrix for every key spec issue 17 added: each
/// spec's own operations in Enabled, Disabled and PendingDeletion, with
/// AWS's errors (`kms-semantics` §1), and DescribeKey in every state.
#[test]
fn new_specs_follow_the_state_matrix() {
    let (kms, _) = kms();
    let digest = [7u8; 64];
    let cases: [(KeySpec, KeyUsage, SigningAlgorithm, MessageType, &[u8]); 7] = [
        (
            KeySpec::EccSecgP256k1,
            KeyUsage::SignVerify,
            SigningAlgorithm::EcdsaSha256,
            MessageType::Digest,
            &digest[..32],
        ),
        (
            KeySpec::EccNistP521,
            KeyUsage::SignVerify,
            SigningAlgorithm::EcdsaSha512,
            MessageType::Digest,
            &digest,
        ),
        (
            KeySpec::EccNistEdwards25519,
            KeyUsage::SignVerify,
            SigningAlgorithm::Ed25519Sha512,
            MessageType::Raw,
            b"m",
        ),
        (
            KeySpec::EccNistEdwards25519,
            KeyUsage::SignVerify,
            SigningAlgorithm::Ed25519PhSha512,
            MessageType::Digest,
            &digest,
        ),
        (
            KeySpec::MlDsa44,
            KeyUsage::SignVerify,
            SigningAlgorithm::MlDsaShake256,
            MessageType::Raw,
            b"m",
        ),
        (
            KeySpec::MlDsa65,
            KeyUsage::SignVerify,
            SigningAlgorithm::MlDsaShake256,
            MessageType::ExternalMu,
            &digest,
        ),
        (
            KeySpec::MlDsa87,
            KeyUsage::SignVerify,
            SigningAlgorithm::MlDsaShake256,
            MessageType::Raw,
            b"m",
        ),
    ];
    let code = |r: strongroom::Result<()>| match r {
        Ok(()) => "OK".to_string(),
        Err(e) => e.code().as_str().to_string(),
    };
    for (spec, usage, alg, mt, msg) in cases {
        let id = create(&kms, spec, usage).key_id;
        let sig = sign(&kms, &id, alg, mt, msg);
        let ops = |kms: &Kms| {
            [
                code(
                    kms.sign(SignRequest {
                        key_id: id.clone(),
                        message: msg.to_vec(),
                        message_type: Some(mt),
                        signing_algorithm: Some(alg),
                        ..Default::default()
                    })
                    .map(drop),
                ),
                code(verify(kms, &id, alg, mt, msg, &sig).map(drop)),
                code(
                    kms.get_public_key(GetPublicKeyRequest {
                        key_id: id.clone(),
                        ..Default::default()
                    })
                    .map(drop),
                ),
                code(
                    kms.describe_key(DescribeKeyRequest {
                        key_id: id.clone(),
                        ..Default::default()
                    })
                    .map(drop),
                ),
            ]
        };
        assert_eq!(ops(&kms), ["OK", "OK", "OK", "OK"], "{spec} Enabled");
        kms.disable_key(KeyIdRequest { key_id: id.clone() })
            .unwrap();
        let d = "DisabledException";
        assert_eq!(ops(&kms), [d, d, d, "OK"], "{spec} Disabled");
        kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
            key_id: id.clone(),
            pending_window_in_days: Some(7),
        })
        .unwrap();
        let s = "KMSInvalidStateException";
        assert_eq!(ops(&kms), [s, s, s, "OK"], "{spec} PendingDeletion");
    }
    // P-521 key agreement in the same three states.
    let a = create(&kms, KeySpec::EccNistP521, KeyUsage::KeyAgreement).key_id;
    let peer = public_key(
        &kms,
        &create(&kms, KeySpec::EccNistP521, KeyUsage::KeyAgreement).key_id,
    )
    .public_key;
    let derive = |kms: &Kms| {
        code(
            kms.derive_shared_secret(DeriveSharedSecretRequest {
                key_id: a.clone(),
                key_agreement_algorithm: Some("ECDH".into()),
                public_key: peer.clone(),
                ..Default::default()
            })
            .map(|r| assert_eq!(r.shared_secret.as_bytes().len(), 66)),
        )
    };
    assert_eq!(derive(&kms), "OK");
    kms.disable_key(KeyIdRequest { key_id: a.clone() }).unwrap();
    assert_eq!(derive(&kms), "DisabledException");
    kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
        key_id: a.clone(),
        pending_window_in_days: Some(7),
    })
    .unwrap();
    assert_eq!(derive(&kms), "KMSInvalidStateException");
}
