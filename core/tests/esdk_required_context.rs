//! The required-encryption-context materials manager: required pairs are
//! authenticated by the message but not stored in it, and decryption needs
//! them back.
use strongroom::api::context;
use strongroom::esdk::{
    self, DecryptOptions, EncryptOptions, Encryptor, MaterialsManager, RawAesKeyring,
    RequiredEncryptionContextCmm,
};
use strongroom::{EncryptionContext, ErrorCode, OsRng};

fn ring() -> RawAesKeyring {
    RawAesKeyring::new("ns", "k", &[5u8; 16]).unwrap()
}

fn cmm(keys: &[&str]) -> RequiredEncryptionContextCmm<RawAesKeyring> {
    RequiredEncryptionContextCmm::new(ring(), keys.iter().map(|k| k.to_string()).collect()).unwrap()
}

fn encrypt(m: &dyn MaterialsManager, pt: &[u8], ctx: &EncryptionContext, suite: u16) -> Vec<u8> {
    let opts = EncryptOptions {
        suite,
        frame_length: 64,
        plaintext_length: Some(pt.len() as u64),
        ..Default::default()
    };
    let mut e = Encryptor::new(m, ctx, &opts, &OsRng).unwrap();
    let mut out = Vec::new();
    e.update(pt, &mut out).unwrap();
    e.finish(&mut out).unwrap();
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn required_pairs_are_not_stored_and_must_be_given_back() {
    let ctx = context([("tenant", "acme-secret-tenant"), ("purpose", "backup")]);
    for suite in [
        esdk::SUITE_AES256_HKDF_SHA512_COMMIT,
        esdk::SUITE_AES256_HKDF_SHA512_COMMIT_ECDSA_P384,
    ] {
        let c = cmm(&["tenant"]);
        let msg = encrypt(&c, &[7u8; 200], &ctx, suite);
        assert!(
            !contains(&msg, b"acme-secret-tenant"),
            "a required value is not stored"
        );
        assert!(contains(&msg, b"backup"), "the other pairs are");
        let opts = DecryptOptions::default();
        // With the pair given back: opens, and reports the full context.
        let d = esdk::decrypt_expecting(
            &c,
            &msg,
            &opts,
            Some(&context([("tenant", "acme-secret-tenant")])),
        )
        .unwrap();
        assert_eq!(d.plaintext.as_bytes(), &[7u8; 200][..]);
        assert_eq!(d.info.encryption_context["tenant"], "acme-secret-tenant");
        assert_eq!(d.info.encryption_context["purpose"], "backup");
        // The plain keyring (default CMM) opens it too when given the pair…
        let d = esdk::decrypt_expecting(
            &ring(),
            &msg,
            &opts,
            Some(&context([("tenant", "acme-secret-tenant")])),
        )
        .unwrap();
        assert_eq!(d.plaintext.as_bytes(), &[7u8; 200][..]);
        // …but not without it, nor with a wrong value: the header's tag
        // (and the raw AES EDK's AAD) cover the pair.
        for wrong in [None, Some(context([("tenant", "other")]))] {
            let e = esdk::decrypt_expecting(&ring(), &msg, &opts, wrong.as_ref()).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidCiphertext);
        }
        // The required CMM refuses up front when the pair is missing.
        let e = esdk::decrypt_expecting(&c, &msg, &opts, None).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Validation);
        assert!(!e.message().contains("acme"), "{}", e.message());
        // A given pair that conflicts with a stored one is refused.
        let e = esdk::decrypt_expecting(
            &c,
            &msg,
            &opts,
            Some(&context([
                ("tenant", "acme-secret-tenant"),
                ("purpose", "x"),
            ])),
        )
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::Validation);
    }
}

#[test]
fn a_required_key_must_be_in_the_context_and_not_reserved() {
    let c = cmm(&["tenant"]);
    let opts = EncryptOptions::default();
    let e = Encryptor::new(&c, &context([("purpose", "x")]), &opts, &OsRng).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Validation);
    for bad in [vec![], vec!["aws-crypto-public-key".to_string()]] {
        assert_eq!(
            RequiredEncryptionContextCmm::new(ring(), bad)
                .unwrap_err()
                .code(),
            ErrorCode::Validation
        );
    }
}

#[test]
fn an_extra_reproduced_pair_makes_the_tag_fail_on_ordinary_messages() {
    // A message without authenticated-only context: giving a pair it does
    // not store turns that pair into claimed authenticated-only context,
    // which the header's tag does not cover.
    let ctx = context([("a", "1")]);
    let msg = esdk::encrypt(&ring(), b"plain", &ctx, 4096, &OsRng).unwrap();
    let opts = DecryptOptions::default();
    let ok = esdk::decrypt_expecting(&ring(), &msg, &opts, Some(&context([("a", "1")]))).unwrap();
    assert_eq!(ok.plaintext.as_bytes(), b"plain");
    let e =
        esdk::decrypt_expecting(&ring(), &msg, &opts, Some(&context([("b", "2")]))).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidCiphertext);
}

// ------------------------------------------------------------ interop

fn mpl_python() -> String {
    std::env::var("STRONGROOM_MPL_PYTHON").expect(
        "set STRONGROOM_MPL_PYTHON to a python with aws-encryption-sdk[MPL] (scripts/mpl-env.sh)",
    )
}

fn run_mpl(args: &[&str]) -> String {
    let helper = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/interop/esdk_required_ec.py"
    );
    let out = std::process::Command::new(mpl_python())
        .arg(helper)
        .args(args)
        .output()
        .expect("run the MPL helper");
    assert!(
        out.status.success(),
        "helper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

#[test]
#[ignore = "needs the official aws-encryption-sdk with the MPL (Python); make test runs it"]
fn required_context_interop_with_the_official_sdk() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let key = [0x21u8; 24];
    let key_hex = hex::encode(key);
    let ring = || RawAesKeyring::new("interop", "aes192", &key).unwrap();
    let ctx = context([("tenant", "acme-secret-tenant"), ("purpose", "interop")]);
    let given = context([("tenant", "acme-secret-tenant")]);
    let pt: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    std::fs::write(p("pt"), &pt).unwrap();
    // The official SDK encrypts; Strongroom decrypts (with the required CMM
    // and with the plain keyring given the pair).
    run_mpl(&[
        "encrypt",
        &key_hex,
        "interop",
        "aes192",
        r#"["tenant"]"#,
        &serde_json::to_string(&ctx).unwrap(),
        &p("pt"),
        &p("py.msg"),
    ]);
    let msg = std::fs::read(p("py.msg")).unwrap();
    assert!(!contains(&msg, b"acme-secret-tenant"));
    let c = RequiredEncryptionContextCmm::new(ring(), vec!["tenant".into()]).unwrap();
    let d = esdk::decrypt_expecting(&c, &msg, &DecryptOptions::default(), Some(&given)).unwrap();
    assert_eq!(d.plaintext.as_bytes(), &pt[..]);
    assert_eq!(d.info.encryption_context["purpose"], "interop");
    assert_eq!(
        esdk::decrypt_expecting(&c, &msg, &DecryptOptions::default(), None)
            .unwrap_err()
            .code(),
        ErrorCode::Validation
    );
    // Strongroom encrypts (both committing suites); the official SDK decrypts.
    for suite in [
        esdk::SUITE_AES256_HKDF_SHA512_COMMIT,
        esdk::SUITE_AES256_HKDF_SHA512_COMMIT_ECDSA_P384,
    ] {
        let ours = encrypt(&c, &pt, &ctx, suite);
        assert!(!contains(&ours, b"acme-secret-tenant"));
        std::fs::write(p("sr.msg"), &ours).unwrap();
        let header_ctx = run_mpl(&[
            "decrypt",
            &key_hex,
            "interop",
            "aes192",
            r#"["tenant"]"#,
            &serde_json::to_string(&given).unwrap(),
            &p("sr.msg"),
            &p("sr.out"),
        ]);
        assert_eq!(std::fs::read(p("sr.out")).unwrap(), pt);
        let got: EncryptionContext = serde_json::from_str(header_ctx.trim()).unwrap();
        assert_eq!(got["purpose"], "interop");
        assert!(
            !got.contains_key("tenant"),
            "the official SDK reads no stored tenant"
        );
    }
}
