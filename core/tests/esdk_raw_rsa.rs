//! The raw RSA keyring: paddings, key forms, and the refusals.
use strongroom::api::context;
use strongroom::esdk::{self, DecryptOptions, KeyringSpec, RawRsaKeyring, RsaPadding};
use strongroom::{ErrorCode, OsRng};

fn keys() -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/vectors/esdk/manifest/0002-keys.v3.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let k = |n: &str| v["keys"][n]["material"].as_str().unwrap().to_string();
    (k("rsa-4096-public"), k("rsa-4096-private"))
}

const ALL: [RsaPadding; 5] = [
    RsaPadding::Pkcs1,
    RsaPadding::OaepSha1Mgf1,
    RsaPadding::OaepSha256Mgf1,
    RsaPadding::OaepSha384Mgf1,
    RsaPadding::OaepSha512Mgf1,
];

fn ring(p: RsaPadding, public: Option<&str>, private: Option<&str>) -> RawRsaKeyring {
    RawRsaKeyring::new(
        "ns",
        "rsa",
        p,
        public.map(str::as_bytes),
        private.map(str::as_bytes),
    )
    .unwrap()
}

#[test]
fn every_padding_round_trips_and_a_public_key_only_encrypts() {
    let (public, private) = keys();
    let ctx = context([("a", "b")]);
    for p in ALL {
        let enc = ring(p, Some(&public), None);
        let msg = esdk::encrypt(&enc, b"rsa data", &ctx, 4096, &OsRng).unwrap();
        let dec = ring(p, None, Some(&private));
        let (pt, _) = esdk::decrypt(&dec, &msg).unwrap();
        assert_eq!(pt.as_bytes(), b"rsa data", "{p:?}");
        // Encrypt-only: a typed refusal, not an opaque failure.
        let e = esdk::decrypt(&enc, &msg).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Validation, "{p:?}");
        // Another padding does not open it.
        for q in ALL.iter().filter(|q| **q != p) {
            let e = esdk::decrypt(&ring(*q, None, Some(&private)), &msg).unwrap_err();
            assert_eq!(
                e.code(),
                ErrorCode::InvalidCiphertext,
                "{p:?} opened by {q:?}"
            );
        }
    }
}

#[test]
fn der_pkcs1_forms_and_mismatched_pairs() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    let (_, private) = keys();
    let sk = rsa::PrivateKey::from_pkcs8_pem(&private).unwrap();
    let der_pub = rsa::PublicKey::from(&sk).to_public_key_der().unwrap();
    let der_pkcs1 = sk.to_pkcs1_der().unwrap();
    let r = RawRsaKeyring::new(
        "ns",
        "rsa",
        RsaPadding::OaepSha256Mgf1,
        Some(der_pub.as_bytes()),
        Some(der_pkcs1.as_bytes()),
    )
    .unwrap();
    let msg = esdk::encrypt(
        &r,
        b"der",
        &strongroom::EncryptionContext::new(),
        4096,
        &OsRng,
    )
    .unwrap();
    assert_eq!(esdk::decrypt(&r, &msg).unwrap().0.as_bytes(), b"der");
    // A public key of another pair is refused.
    let kms = strongroom::Kms::builder("111122223333", "us-east-1")
        .in_memory()
        .unwrap();
    let id = kms
        .create_key(strongroom::api::CreateKeyRequest {
            key_spec: Some(strongroom::model::KeySpec::Rsa2048),
            key_usage: Some(strongroom::model::KeyUsage::EncryptDecrypt),
            ..Default::default()
        })
        .unwrap()
        .key_metadata
        .key_id;
    let other_pub = kms
        .get_public_key(strongroom::api::GetPublicKeyRequest {
            key_id: id,
            ..Default::default()
        })
        .unwrap()
        .public_key;
    let e = RawRsaKeyring::new(
        "ns",
        "rsa",
        RsaPadding::Pkcs1,
        Some(&other_pub),
        Some(private.as_bytes()),
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Validation);
}

#[test]
fn bad_keys_names_and_tampering_are_refused() {
    let (public, private) = keys();
    // Unparseable keys: a validation error that does not echo the input.
    let junk = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
    let e =
        RawRsaKeyring::new("ns", "k", RsaPadding::Pkcs1, None, Some(junk.as_bytes())).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Validation);
    assert!(!e.message().contains("c2Vjcm"), "{}", e.message());
    assert_eq!(
        RawRsaKeyring::new("ns", "k", RsaPadding::Pkcs1, None, None)
            .unwrap_err()
            .code(),
        ErrorCode::Validation
    );
    assert_eq!(
        RawRsaKeyring::new(
            "aws-kms",
            "k",
            RsaPadding::Pkcs1,
            Some(public.as_bytes()),
            None
        )
        .unwrap_err()
        .code(),
        ErrorCode::Validation
    );
    // The private key never appears in Debug.
    let r = ring(RsaPadding::OaepSha1Mgf1, None, Some(&private));
    assert!(!format!("{r:?}").contains("MII"));
    // A message whose EDK names another key, or that was tampered with.
    let msg = esdk::encrypt(&r, b"tamper", &context([("x", "y")]), 4096, &OsRng).unwrap();
    let renamed = RawRsaKeyring::new(
        "ns",
        "rsa-other",
        RsaPadding::OaepSha1Mgf1,
        None,
        Some(private.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        esdk::decrypt(&renamed, &msg).unwrap_err().code(),
        ErrorCode::InvalidCiphertext
    );
    for cut in [1, 17, msg.len() / 2] {
        assert!(esdk::decrypt(&r, &msg[..msg.len() - cut]).is_err());
    }
    for i in (0..msg.len()).step_by(7) {
        let mut t = msg.clone();
        t[i] ^= 0x01;
        let e = esdk::decrypt_with(&r, &t, &DecryptOptions::default());
        assert!(e.is_err(), "byte {i}");
    }
    // Built from its spec, as the bindings build it.
    let spec: KeyringSpec = serde_json::from_value(serde_json::json!({
        "type": "RawRsa", "keyNamespace": "ns", "keyName": "rsa",
        "paddingScheme": "OAEP_SHA1_MGF1",
        "privateKey": base64_of(private.as_bytes()),
    }))
    .unwrap();
    let k = spec.build(None).unwrap();
    assert_eq!(
        esdk::decrypt_with(&k, &msg, &DecryptOptions::default())
            .unwrap()
            .plaintext
            .as_bytes(),
        b"tamper"
    );
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
