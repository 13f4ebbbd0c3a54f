//! Encrypt, Decrypt, ReEncrypt, GenerateDataKey, dry runs, size limits (kms/ops/symmetric.rs).
//! Behaviour of the public API against kms-semantics.md §1–4.
mod common;
use common::*;
use strongroom::api::*;
use strongroom::model::*;

#[test]
fn encrypt_decrypt_with_context() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    let ctx = context([("tenant", "acme"), ("purpose", "test")]);
    let blob = enc(&kms, &key, b"secret", &ctx);
    assert_eq!(dec(&kms, &blob, &ctx).unwrap(), b"secret");
    // Pair order does not matter (a map), but every pair must match exactly.
    let reordered = context([("purpose", "test"), ("tenant", "acme")]);
    assert_eq!(dec(&kms, &blob, &reordered).unwrap(), b"secret");
    for bad in [
        context([("tenant", "acme")]),
        context([("tenant", "acme"), ("purpose", "test"), ("x", "y")]),
        context([("tenant", "ACME"), ("purpose", "test")]),
        context([("Tenant", "acme"), ("purpose", "test")]),
        context::<&str, &str>([]),
    ] {
        assert_eq!(code(dec(&kms, &blob, &bad)), "InvalidCiphertextException");
    }
    // No length-prefix collision between {"ab":"c"} and {"a":"bc"}.
    let blob = enc(&kms, &key, b"x", &context([("ab", "c")]));
    assert_eq!(
        code(dec(&kms, &blob, &context([("a", "bc")]))),
        "InvalidCiphertextException"
    );
}

#[test]
fn every_key_identifier_form_works() {
    let (kms, _) = kms();
    let md = kms
        .create_key(CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    kms.create_alias(CreateAliasRequest {
        alias_name: "alias/app".into(),
        target_key_id: md.key_id.clone(),
    })
    .unwrap();
    let alias_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/app");
    for id in [
        md.key_id.clone(),
        md.arn.clone(),
        "alias/app".into(),
        alias_arn,
    ] {
        let r = kms
            .encrypt(EncryptRequest {
                key_id: id.clone(),
                plaintext: b"p".to_vec().into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(r.key_id, md.arn, "{id}");
    }
    for bad in [
        "alias/nope".to_string(),
        "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{}", md.key_id),
        format!("arn:aws:kms:{REGION}:999999999999:key/{}", md.key_id),
        "arn:aws:kms:garbage".into(),
    ] {
        let r = kms.describe_key(DescribeKeyRequest {
            key_id: bad.clone(),
            ..Default::default()
        });
        assert_eq!(code(r), "NotFoundException", "{bad}");
    }
    let r = kms.describe_key(DescribeKeyRequest {
        key_id: "".into(),
        ..Default::default()
    });
    assert_eq!(code(r), "ValidationException");
}

#[test]
fn decrypt_key_id_checks() {
    let (kms, _) = kms();
    let a = new_key(&kms);
    let b = new_key(&kms);
    let ctx = context::<&str, &str>([]);
    let blob = enc(&kms, &a, b"hi", &ctx);
    let ok = kms
        .decrypt(DecryptRequest {
            ciphertext_blob: blob.clone(),
            key_id: Some(a.clone()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ok.plaintext.as_bytes(), b"hi");
    let r = kms.decrypt(DecryptRequest {
        ciphertext_blob: blob.clone(),
        key_id: Some(b.clone()),
        ..Default::default()
    });
    assert_eq!(code(r), "IncorrectKeyException");
    let r = kms.decrypt(DecryptRequest {
        ciphertext_blob: vec![],
        ..Default::default()
    });
    assert_eq!(code(r), "ValidationException");
    let r = kms.decrypt(DecryptRequest {
        ciphertext_blob: vec![9; 100],
        ..Default::default()
    });
    assert_eq!(code(r), "InvalidCiphertextException");
    // The opaque error never says which check failed.
    let mut t = blob.clone();
    *t.last_mut().unwrap() ^= 1;
    let e = kms
        .decrypt(DecryptRequest {
            ciphertext_blob: t,
            ..Default::default()
        })
        .unwrap_err();
    let e2 = dec(&kms, &blob, &context([("a", "b")])).unwrap_err();
    assert_eq!(e.message(), e2.message());
}

#[test]
fn size_limits() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    let e = |n: usize| {
        kms.encrypt(EncryptRequest {
            key_id: key.clone(),
            plaintext: vec![1; n].into(),
            ..Default::default()
        })
    };
    assert_eq!(code(e(0)), "ValidationException");
    assert_eq!(code(e(4097)), "ValidationException");
    let max = e(4096).unwrap();
    assert!(max.ciphertext_blob.len() <= 6144);
    let gdk = |n: Option<u32>, s: Option<DataKeySpec>| {
        kms.generate_data_key(GenerateDataKeyRequest {
            key_id: key.clone(),
            number_of_bytes: n,
            key_spec: s,
            ..Default::default()
        })
    };
    assert_eq!(
        gdk(None, Some(DataKeySpec::Aes256))
            .unwrap()
            .plaintext
            .len(),
        32
    );
    assert_eq!(
        gdk(None, Some(DataKeySpec::Aes128))
            .unwrap()
            .plaintext
            .len(),
        16
    );
    assert_eq!(gdk(Some(1), None).unwrap().plaintext.len(), 1);
    assert_eq!(gdk(Some(1024), None).unwrap().plaintext.len(), 1024);
    assert_eq!(code(gdk(Some(1025), None)), "ValidationException");
    assert_eq!(code(gdk(Some(0), None)), "ValidationException");
    assert_eq!(code(gdk(None, None)), "ValidationException");
    assert_eq!(
        code(gdk(Some(32), Some(DataKeySpec::Aes256))),
        "ValidationException"
    );
    let rnd = |n| kms.generate_random(GenerateRandomRequest { number_of_bytes: n });
    assert_eq!(rnd(Some(1024)).unwrap().plaintext.len(), 1024);
    assert_eq!(code(rnd(Some(1025))), "ValidationException");
    assert_eq!(code(rnd(Some(0))), "ValidationException");
    assert_eq!(code(rnd(None)), "ValidationException");
}

#[test]
fn data_keys_decrypt_to_the_same_bytes() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    let ctx = context([("k", "v")]);
    let dk = kms
        .generate_data_key(GenerateDataKeyRequest {
            key_id: key.clone(),
            key_spec: Some(DataKeySpec::Aes256),
            encryption_context: ctx.clone(),
            ..Default::default()
        })
        .unwrap();
    let back = dec(&kms, &dk.ciphertext_blob, &ctx).unwrap();
    assert!(dk.plaintext.ct_eq(&back));
    assert!(format!("{dk:?}").contains("redacted"));
    let w = kms
        .generate_data_key_without_plaintext(GenerateDataKeyRequest {
            key_id: key,
            number_of_bytes: Some(64),
            encryption_context: ctx.clone(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(dec(&kms, &w.ciphertext_blob, &ctx).unwrap().len(), 64);
}

#[test]
fn re_encrypt_changes_key_and_context() {
    let (kms, _) = kms();
    let a = new_key(&kms);
    let b = new_key(&kms);
    let c1 = context([("v", "1")]);
    let c2 = context([("v", "2")]);
    let blob = enc(&kms, &a, b"moving", &c1);
    let r = kms
        .re_encrypt(ReEncryptRequest {
            ciphertext_blob: blob.clone(),
            source_encryption_context: c1.clone(),
            destination_key_id: b.clone(),
            destination_encryption_context: c2.clone(),
            ..Default::default()
        })
        .unwrap();
    assert!(r.key_id.ends_with(&b));
    assert!(r.source_key_id.ends_with(&a));
    assert_eq!(dec(&kms, &r.ciphertext_blob, &c2).unwrap(), b"moving");
    assert_eq!(
        code(dec(&kms, &r.ciphertext_blob, &c1)),
        "InvalidCiphertextException"
    );
    // Wrong source context is the opaque error; wrong source key id is IncorrectKey.
    let bad = kms.re_encrypt(ReEncryptRequest {
        ciphertext_blob: blob.clone(),
        source_encryption_context: c2.clone(),
        destination_key_id: b.clone(),
        ..Default::default()
    });
    assert_eq!(code(bad), "InvalidCiphertextException");
    let bad = kms.re_encrypt(ReEncryptRequest {
        ciphertext_blob: blob,
        source_encryption_context: c1,
        source_key_id: Some(b.clone()),
        destination_key_id: b,
        ..Default::default()
    });
    assert_eq!(code(bad), "IncorrectKeyException");
}

#[test]
fn dry_run() {
    let (kms, _) = kms();
    let key = new_key(&kms);
    let r = kms.encrypt(EncryptRequest {
        key_id: key.clone(),
        plaintext: b"x".to_vec().into(),
        dry_run: true,
        ..Default::default()
    });
    assert_eq!(code(r), "DryRunOperationException");
    kms.disable_key(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    let r = kms.encrypt(EncryptRequest {
        key_id: key,
        plaintext: b"x".to_vec().into(),
        dry_run: true,
        ..Default::default()
    });
    assert_eq!(
        code(r),
        "DisabledException",
        "dry run reports the real error"
    );
}
