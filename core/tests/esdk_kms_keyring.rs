//! The KMS keyring across Regions (multi-Region keys) and with a discovery
//! filter, built from `KeyringSpec` as the bindings build it.
mod common;
use common::*;
use strongroom::api::*;
use strongroom::esdk::{self, DiscoveryFilter, KeyringSpec, KmsKeyring};
use strongroom::{DangerousSeededRng, ErrorCode, Kms, ManualClock, OsRng};

fn region(name: &str, clock: &ManualClock, seed: u8) -> Kms {
    Kms::builder(ACCOUNT, name)
        .clock(clock.clone())
        .rng(DangerousSeededRng::new([seed; 32]))
        .in_memory()
        .unwrap()
}

fn key(kms: &Kms, multi_region: bool) -> String {
    kms.create_key(CreateKeyRequest {
        multi_region,
        ..Default::default()
    })
    .unwrap()
    .key_metadata
    .arn
}

/// A primary in us-east-1 and its replica in eu-west-1: (us, eu, primary
/// ARN, replica ARN).
fn mrk_pair() -> (Kms, Kms, String, String) {
    let clock = ManualClock::new(1_767_225_600_000);
    let us = region("us-east-1", &clock, 1);
    let eu = region("eu-west-1", &clock, 2);
    let primary = key(&us, true);
    let r = us
        .replicate_key(
            ReplicateKeyRequest {
                key_id: primary.clone(),
                replica_region: "eu-west-1".into(),
                ..Default::default()
            },
            &eu,
        )
        .unwrap();
    (us, eu, primary, r.replica_key_metadata.arn)
}

#[test]
fn a_replica_opens_what_its_primary_wrapped() {
    let (us, eu, primary, replica) = mrk_pair();
    assert_ne!(primary, replica);
    let ctx = context([("tenant", "acme")]);
    let msg = esdk::encrypt(
        &KmsKeyring::new(&us, primary.clone()),
        b"mrk",
        &ctx,
        4096,
        &OsRng,
    )
    .unwrap();
    // Configured with the replica's ARN, in the replica's Region.
    let ring = KeyringSpec::AwsKms {
        key_ids: vec![replica.clone()],
        grant_tokens: vec![],
    }
    .build(Some(&eu))
    .unwrap();
    let d = esdk::decrypt_with(&ring, &msg, &Default::default()).unwrap();
    assert_eq!(d.plaintext.as_bytes(), b"mrk");
    assert_eq!(d.info.opened_by.key_name, replica);
    // Discovery in the replica's Region moves the ARN to its own Region.
    let disc = KeyringSpec::AwsKmsDiscovery {
        grant_tokens: vec![],
        discovery_filter: None,
    }
    .build(Some(&eu))
    .unwrap();
    let d = esdk::decrypt_with(&disc, &msg, &Default::default()).unwrap();
    assert_eq!(d.info.opened_by.key_name, replica);
    // The replica's own messages open with the primary the same way.
    let msg2 = esdk::encrypt(
        &KmsKeyring::new(&eu, replica.clone()),
        b"back",
        &ctx,
        4096,
        &OsRng,
    )
    .unwrap();
    let d = esdk::decrypt_with(
        &KmsKeyring::new(&us, primary.clone()),
        &msg2,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(d.plaintext.as_bytes(), b"back");
}

#[test]
fn single_region_keys_do_not_match_across_regions() {
    let clock = ManualClock::new(1_767_225_600_000);
    let us = region("us-east-1", &clock, 1);
    let eu = region("eu-west-1", &clock, 2);
    let k = key(&us, false);
    let msg = esdk::encrypt(
        &KmsKeyring::new(&us, k.clone()),
        b"x",
        &strongroom::EncryptionContext::new(),
        4096,
        &OsRng,
    )
    .unwrap();
    // The same key id in the other Region's ARN is another key: not attempted.
    let moved = k.replace("us-east-1", "eu-west-1");
    let e =
        esdk::decrypt_with(&KmsKeyring::new(&eu, moved), &msg, &Default::default()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidCiphertext);
    // A different mrk (same account, other id) does not match either.
    let (us2, _eu2, p, _r) = mrk_pair();
    let other = key(&us2, true);
    let msg = esdk::encrypt(
        &KmsKeyring::new(&us2, p),
        b"y",
        &strongroom::EncryptionContext::new(),
        4096,
        &OsRng,
    )
    .unwrap();
    let e =
        esdk::decrypt_with(&KmsKeyring::new(&us2, other), &msg, &Default::default()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidCiphertext);
}

#[test]
fn the_discovery_filter_skips_other_accounts_and_partitions() {
    let clock = ManualClock::new(1_767_225_600_000);
    let us = region("us-east-1", &clock, 1);
    let k = key(&us, false);
    let msg = esdk::encrypt(
        &KmsKeyring::new(&us, k),
        b"f",
        &strongroom::EncryptionContext::new(),
        4096,
        &OsRng,
    )
    .unwrap();
    let with = |partition: &str, accounts: &[&str]| {
        KeyringSpec::AwsKmsDiscovery {
            grant_tokens: vec![],
            discovery_filter: Some(DiscoveryFilter {
                partition: partition.into(),
                account_ids: accounts.iter().map(|a| a.to_string()).collect(),
            }),
        }
        .build(Some(&us))
    };
    let ok = with("aws", &["999999999999", ACCOUNT]).unwrap();
    assert_eq!(
        esdk::decrypt_with(&ok, &msg, &Default::default())
            .unwrap()
            .plaintext
            .as_bytes(),
        b"f"
    );
    for ring in [
        with("aws", &["999999999999"]).unwrap(),
        with("aws-cn", &[ACCOUNT]).unwrap(),
    ] {
        let e = esdk::decrypt_with(&ring, &msg, &Default::default()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidCiphertext);
    }
    // An empty filter, or a filter on a keyring with named keys, is refused.
    assert_eq!(
        with("aws", &[]).err().unwrap().code(),
        ErrorCode::Validation
    );
    assert_eq!(
        KmsKeyring::new(&us, "k")
            .with_discovery_filter(DiscoveryFilter {
                partition: "aws".into(),
                account_ids: vec![ACCOUNT.into()],
            })
            .unwrap_err()
            .code(),
        ErrorCode::Validation
    );
}
