//! The AWS SDK for Rust (aws-sdk-kms) against a KMS endpoint: Strongroom's
//! server or moto's. Endpoint, region and credentials come from the
//! environment (AWS_ENDPOINT_URL_KMS, AWS_REGION, AWS_ACCESS_KEY_ID,
//! AWS_SECRET_ACCESS_KEY), read by aws-config as for any application;
//! STRONGROOM_DENIED_ACCESS_KEY_ID/SECRET add the policy-denial check.
//! Ignored unless run by scripts/clients.sh (`--ignored`): it needs a server.

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeySpec, KeyState};
use aws_sdk_kms::Client;
use std::collections::HashMap;

async fn config() -> aws_config::SdkConfig {
    for v in [
        "AWS_ENDPOINT_URL_KMS",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    ] {
        assert!(std::env::var(v).is_ok(), "set {v}");
    }
    // Plain HTTP (the endpoint is on loopback): the SDK's own hyper client
    // without TLS.
    let http = aws_smithy_http_client::Builder::new().build_http();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

fn context() -> HashMap<String, String> {
    HashMap::from([
        ("purpose".to_string(), "client-check".to_string()),
        ("client".to_string(), "rust".to_string()),
    ])
}

#[tokio::test]
#[ignore = "needs a KMS endpoint; scripts/clients.sh runs it"]
async fn aws_sdk_for_rust_round_trip_errors_and_denial() {
    let cfg = config().await;
    let kms = Client::new(&cfg);

    let created = kms
        .create_key()
        .description("strongroom client check (rust)")
        .send()
        .await
        .expect("CreateKey");
    let meta = created.key_metadata().expect("KeyMetadata");
    let arn = meta.arn().expect("Arn").to_string();
    let key_id = meta.key_id().to_string();
    assert!(
        arn.starts_with("arn:aws") && arn.ends_with(&format!(":key/{key_id}")),
        "{arn}"
    );
    assert_eq!(meta.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert!(meta.enabled());

    let plaintext: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37)).collect();
    let enc = kms
        .encrypt()
        .key_id(&arn)
        .plaintext(Blob::new(plaintext.clone()))
        .set_encryption_context(Some(context()))
        .send()
        .await
        .expect("Encrypt");
    assert_eq!(enc.key_id(), Some(arn.as_str()));
    let blob = enc.ciphertext_blob().expect("CiphertextBlob").clone();
    let dec = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .set_encryption_context(Some(context()))
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(dec.plaintext().expect("Plaintext").as_ref(), &plaintext[..]);
    assert_eq!(dec.key_id(), Some(arn.as_str()));

    // A wrong encryption context: the modelled InvalidCiphertextException.
    let mut wrong = context();
    wrong.insert("client".into(), "other".into());
    let err = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .set_encryption_context(Some(wrong))
        .send()
        .await
        .expect_err("a wrong context must not decrypt");
    let service = err.into_service_error();
    assert!(service.is_invalid_ciphertext_exception(), "{service:?}");

    let dk = kms
        .generate_data_key()
        .key_id(&arn)
        .key_spec(DataKeySpec::Aes256)
        .set_encryption_context(Some(context()))
        .send()
        .await
        .expect("GenerateDataKey");
    assert_eq!(dk.plaintext().expect("Plaintext").as_ref().len(), 32);
    let back = kms
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob().expect("blob").clone())
        .set_encryption_context(Some(context()))
        .send()
        .await
        .expect("Decrypt of the data key");
    assert_eq!(back.plaintext(), dk.plaintext());

    match std::env::var("STRONGROOM_DENIED_ACCESS_KEY_ID") {
        Ok(id) if !id.is_empty() => {
            let secret = std::env::var("STRONGROOM_DENIED_SECRET_ACCESS_KEY").unwrap_or_default();
            let denied_cfg = cfg
                .to_builder()
                .credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new(id, secret, None, None, "denied"),
                ))
                .build();
            let denied = Client::new(&denied_cfg);
            let e = denied
                .encrypt()
                .key_id(&arn)
                .plaintext(Blob::new(plaintext.clone()))
                .send()
                .await
                .expect_err("the key policy does not allow this principal");
            assert_eq!(e.code(), Some("AccessDeniedException"), "{e:?}");
            let e = denied
                .decrypt()
                .ciphertext_blob(blob.clone())
                .set_encryption_context(Some(context()))
                .send()
                .await
                .expect_err("the key policy does not allow this principal");
            assert_eq!(e.code(), Some("AccessDeniedException"), "{e:?}");
        }
        _ => eprintln!("STRONGROOM_DENIED_ACCESS_KEY_ID unset: policy denial not checked"),
    }

    // By key id: moto's server fails (HTTP 500) on ScheduleKeyDeletion by ARN.
    let s = kms
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    assert!(s.deletion_date().is_some());
    let d = kms
        .describe_key()
        .key_id(&arn)
        .send()
        .await
        .expect("DescribeKey");
    assert_eq!(
        d.key_metadata().and_then(|m| m.key_state()),
        Some(&KeyState::PendingDeletion)
    );
}
