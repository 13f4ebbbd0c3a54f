//! Envelope encryption beyond the raw AES keyring: KMS and multi keyrings,
//! streaming, the caching materials manager and re-wrapping.
mod common;
use common::*;
use std::io::Write;
use std::sync::Arc;
use strongroom::api::*;
use strongroom::esdk::{
    self, CachingCmm, CachingConfig, DecryptOptions, EncryptOptions, Keyring, KmsKeyring,
    MaterialsCache, MultiKeyring, RawAesKeyring, AWS_KMS_PROVIDER_ID, KMS_PROVIDER_ID,
};
use strongroom::model::*;
use strongroom::{Caller, DangerousSeededRng, ErrorCode, Kms, ManualClock, OsRng};

const SIGNED: u16 = esdk::SUITE_AES256_HKDF_SHA512_COMMIT_ECDSA_P384;
const UNSIGNED: u16 = esdk::SUITE_AES256_HKDF_SHA512_COMMIT;

fn raw() -> RawAesKeyring {
    RawAesKeyring::new("ns", "k1", &[9; 32]).unwrap()
}

fn opts(suite: u16, frame: u32, len: Option<u64>) -> EncryptOptions {
    EncryptOptions {
        suite,
        frame_length: frame,
        plaintext_length: len,
        ..Default::default()
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

#[test]
fn round_trips_over_suites_frame_sizes_and_lengths() {
    let ctx = context([("tenant", "acme")]);
    for suite in [UNSIGNED, SIGNED] {
        for frame in [1u32, 4096, 65536] {
            let f = frame as usize;
            let mut lens = vec![0, 1, f, 2 * f, 2 * f + 1, 3 * f - 1, 5000];
            if frame == 1 {
                lens = vec![0, 1, 2, 3, 257];
            }
            for len in lens {
                let pt = data(len);
                let msg =
                    esdk::encrypt_with_suite(&raw(), &pt, &ctx, frame, suite, &OsRng).unwrap();
                let d = esdk::decrypt_with(&raw(), &msg, &DecryptOptions::default()).unwrap();
                assert_eq!(d.plaintext.as_bytes(), &pt[..], "{suite:04x} {frame} {len}");
                assert_eq!(d.info.suite, suite);
                assert_eq!(d.info.frame_length, frame);
                assert_eq!(d.info.opened_by.key_name, "k1");
                // Frames: ceil(len / frame), at least one (the final frame).
                let frames = len.div_ceil(f).max(1);
                let body = frames * (4 + 12 + 16) + 8 + len;
                let footer = if suite == SIGNED { 2 + 102 } else { 0 };
                assert!(msg.len() >= body, "{suite:04x} {frame} {len}");
                assert!(msg.len() <= body + 400 + footer + 104);
            }
        }
    }
}

/// The push API gives the same bytes whatever the chunking.
#[test]
fn streaming_output_does_not_depend_on_chunking() {
    let ctx = context([("a", "b")]);
    let pt = data(10_000);
    for suite in [UNSIGNED, SIGNED] {
        let whole = esdk::encrypt_with(
            &raw(),
            &pt,
            &ctx,
            &opts(suite, 1000, None),
            &DangerousSeededRng::new([1; 32]),
        )
        .unwrap();
        for chunk in [1usize, 7, 999, 1000, 1001, 4096] {
            let rng = DangerousSeededRng::new([1; 32]);
            let mut e = esdk::Encryptor::new(&raw(), &ctx, &opts(suite, 1000, None), &rng).unwrap();
            let mut out = Vec::new();
            for c in pt.chunks(chunk) {
                e.update(c, &mut out).unwrap();
            }
            e.finish(&mut out).unwrap();
            assert_eq!(out, whole, "{suite:04x} chunk {chunk}");
            // Decrypt in odd chunks too.
            let r = raw();
            let mut d = esdk::Decryptor::new(&r, DecryptOptions::default());
            let mut back = Vec::new();
            for c in whole.chunks(chunk + 3) {
                d.update(c, &mut back).unwrap();
            }
            d.finish(&mut back).unwrap();
            assert_eq!(back, pt);
        }
    }
}

/// Where a signed message's footer (u16 length ‖ DER signature) starts.
fn footer_start(msg: &[u8]) -> usize {
    (90..=110)
        .find(|&n| {
            let at = msg.len() - 2 - n;
            u16::from_be_bytes([msg[at], msg[at + 1]]) as usize == n && msg[at + 2] == 0x30
        })
        .map(|n| msg.len() - 2 - n)
        .expect("a DER ECDSA footer")
}

#[test]
fn signed_final_frame_is_held_until_the_signature_verifies() {
    let ctx = strongroom::EncryptionContext::new();
    let pt = data(2500);
    let msg = esdk::encrypt_with_suite(&raw(), &pt, &ctx, 1000, SIGNED, &OsRng).unwrap();
    let body_end = footer_start(&msg);
    let r = raw();
    let mut d = esdk::Decryptor::new(&r, DecryptOptions::default());
    let mut out = Vec::new();
    d.update(&msg[..body_end], &mut out).unwrap();
    // Two full frames released; the final 500 bytes held back.
    assert_eq!(out, &pt[..2000]);
    d.update(&msg[body_end..], &mut out).unwrap();
    assert_eq!(out.len(), 2000, "still held until finish");
    d.finish(&mut out).unwrap();
    assert_eq!(out, pt);
    // A bad signature: the final frame never comes out.
    let mut bad = msg.clone();
    let n = bad.len();
    bad[n - 5] ^= 1;
    let mut d = esdk::Decryptor::new(&r, DecryptOptions::default());
    let mut out = Vec::new();
    assert!(d.update(&bad, &mut out).is_err());
    assert_eq!(out, &pt[..2000]);
    // Unsigned: the final frame is released with its tag, and truncation is
    // caught by finish.
    let msg = esdk::encrypt_with_suite(&raw(), &pt, &ctx, 1000, UNSIGNED, &OsRng).unwrap();
    for cut in [msg.len() - 1, msg.len() - 17, 300] {
        let mut d = esdk::Decryptor::new(&r, DecryptOptions::default());
        let mut out = Vec::new();
        d.update(&msg[..cut], &mut out).unwrap();
        assert_eq!(
            d.finish(&mut out).unwrap_err().code(),
            ErrorCode::InvalidCiphertext
        );
    }
    // Trailing bytes after a complete message are refused.
    let mut long = msg.clone();
    long.push(0);
    assert!(esdk::decrypt(&raw(), &long).is_err());
}

#[test]
fn declared_plaintext_length_is_enforced() {
    let ctx = strongroom::EncryptionContext::new();
    let mut e = esdk::Encryptor::new(&raw(), &ctx, &opts(UNSIGNED, 10, Some(5)), &OsRng).unwrap();
    let mut out = Vec::new();
    assert_eq!(
        e.update(b"123456", &mut out).unwrap_err().code(),
        ErrorCode::Validation
    );
    let mut e = esdk::Encryptor::new(&raw(), &ctx, &opts(UNSIGNED, 10, Some(5)), &OsRng).unwrap();
    e.update(b"1234", &mut out).unwrap();
    assert_eq!(
        e.finish(&mut out).unwrap_err().code(),
        ErrorCode::Validation
    );
    // 0 is a non-framed body (esdk_legacy.rs); beyond 2^31 - 1 is refused.
    for bad in [1u32 << 31, u32::MAX] {
        assert_eq!(
            esdk::Encryptor::new(&raw(), &ctx, &opts(UNSIGNED, bad, None), &OsRng)
                .unwrap_err()
                .code(),
            ErrorCode::Validation
        );
    }
    let e = esdk::Encryptor::new(
        &raw(),
        &context([("aws-crypto-x", "y")]),
        &opts(UNSIGNED, 10, None),
        &OsRng,
    );
    assert_eq!(e.unwrap_err().code(), ErrorCode::Validation);
}

#[test]
fn hostile_limits_are_typed_errors() {
    let ctx = strongroom::EncryptionContext::new();
    // Eleven EDKs: over the default limit of ten.
    let many: Vec<Arc<dyn Keyring>> = (0..10)
        .map(|i| Arc::new(RawAesKeyring::new("ns", format!("c{i}"), &[i as u8; 32]).unwrap()) as _)
        .collect();
    let multi = MultiKeyring::new(Some(Arc::new(raw())), many).unwrap();
    let msg = esdk::encrypt(&multi, b"x", &ctx, 4096, &OsRng).unwrap();
    assert_eq!(
        esdk::decrypt(&raw(), &msg).unwrap_err().code(),
        ErrorCode::LimitExceeded
    );
    let lenient = DecryptOptions {
        max_encrypted_data_keys: 11,
        ..Default::default()
    };
    assert!(esdk::decrypt_with(&raw(), &msg, &lenient).is_ok());
    // Frame length over the limit.
    let msg = esdk::encrypt(&raw(), b"x", &ctx, 1 << 20, &OsRng).unwrap();
    let small = DecryptOptions {
        max_frame_length: 1 << 16,
        ..Default::default()
    };
    assert_eq!(
        esdk::decrypt_with(&raw(), &msg, &small).unwrap_err().code(),
        ErrorCode::LimitExceeded
    );
    // Header over the limit.
    let tiny = DecryptOptions {
        max_header_bytes: 64,
        ..Default::default()
    };
    assert_eq!(
        esdk::decrypt_with(&raw(), &msg, &tiny).unwrap_err().code(),
        ErrorCode::LimitExceeded
    );
}

// ------------------------------------------------------------ KMS keyring

fn kms_at(region: &str, clock: &ManualClock, seed: u8) -> Kms {
    Kms::builder(ACCOUNT, region)
        .clock(clock.clone())
        .rng(DangerousSeededRng::new([seed; 32]))
        .in_memory()
        .unwrap()
}

fn arn(kms: &Kms, key: &str) -> String {
    describe(kms, key).arn
}

/// `with_aws_kms_provider_id` writes EDKs as the official SDKs' AWS KMS
/// keyrings do (provider id `aws-kms`, the ARN as provider info); every KMS
/// keyring reads both ids (the official SDK itself, through `strongroom
/// serve`, is checked by clients/rust/tests/esdk_interop.rs).
#[test]
fn kms_keyring_writes_and_reads_aws_kms_edks() {
    let (kms, _clock) = kms();
    let key = new_key(&kms);
    let needle = arn(&kms, &key);
    let aws = KmsKeyring::new(&kms, key.clone()).with_aws_kms_provider_id();
    let ctx = context([("tenant", "acme")]);
    for suite in [UNSIGNED, SIGNED] {
        let msg = esdk::encrypt_with_suite(&aws, b"payload", &ctx, 4096, suite, &OsRng).unwrap();
        let mut id_then_arn = (AWS_KMS_PROVIDER_ID.len() as u16).to_be_bytes().to_vec();
        id_then_arn.extend_from_slice(AWS_KMS_PROVIDER_ID.as_bytes());
        id_then_arn.extend_from_slice(&(needle.len() as u16).to_be_bytes());
        id_then_arn.extend_from_slice(needle.as_bytes());
        assert!(
            msg.windows(id_then_arn.len()).any(|w| w == id_then_arn),
            "an aws-kms EDK naming the key ARN"
        );
        assert!(!msg
            .windows(KMS_PROVIDER_ID.len())
            .any(|w| w == KMS_PROVIDER_ID.as_bytes()));
        for ring in [
            KmsKeyring::new(&kms, key.clone()),
            KmsKeyring::discovery(&kms),
            aws.clone(),
        ] {
            let d = esdk::decrypt_with(&ring, &msg, &DecryptOptions::default()).unwrap();
            assert_eq!(d.plaintext.as_bytes(), b"payload");
            assert_eq!(d.info.opened_by.provider_id, AWS_KMS_PROVIDER_ID);
            assert_eq!(d.info.opened_by.key_name, needle);
        }
        let other = KmsKeyring::new(&kms, new_key(&kms));
        assert!(esdk::decrypt(&other, &msg).is_err());
    }
}

#[test]
fn kms_keyring_wraps_through_the_public_api() {
    let (kms, _clock) = kms();
    let key = new_key(&kms);
    let ring = KmsKeyring::new(&kms, key.clone());
    let ctx = context([("tenant", "acme")]);
    for suite in [UNSIGNED, SIGNED] {
        let msg = esdk::encrypt_with_suite(&ring, b"payload", &ctx, 4096, suite, &OsRng).unwrap();
        // The EDK names our provider and the key ARN.
        let needle = arn(&kms, &key);
        let pos = msg
            .windows(KMS_PROVIDER_ID.len())
            .position(|w| w == KMS_PROVIDER_ID.as_bytes())
            .expect("provider id in the header");
        assert_eq!(
            &msg[pos + KMS_PROVIDER_ID.len() + 2..pos + KMS_PROVIDER_ID.len() + 2 + needle.len()],
            needle.as_bytes()
        );
        let d = esdk::decrypt_with(&ring, &msg, &DecryptOptions::default()).unwrap();
        assert_eq!(d.plaintext.as_bytes(), b"payload");
        assert_eq!(d.info.opened_by.provider_id, KMS_PROVIDER_ID);
        assert_eq!(d.info.opened_by.key_name, needle);
        assert_eq!(d.info.encryption_context["tenant"], "acme");
        // Discovery mode opens it too; a keyring for another key does not try.
        let disc = KmsKeyring::discovery(&kms);
        assert!(esdk::decrypt(&disc, &msg).is_ok());
        let other = KmsKeyring::new(&kms, new_key(&kms));
        assert_eq!(
            esdk::decrypt(&other, &msg).unwrap_err().code(),
            ErrorCode::InvalidCiphertext
        );
    }
    // The KMS saw GenerateDataKey and Decrypt calls with the context.
    let log = kms.audit_log().unwrap();
    assert!(log.iter().any(|e| e.operation == "GenerateDataKey"
        && e.encryption_context
            .as_ref()
            .is_some_and(|c| c["tenant"] == "acme")));
    assert!(log.iter().any(|e| e.operation == "Decrypt"));
    // A discovery keyring cannot encrypt.
    assert_eq!(
        esdk::encrypt(&KmsKeyring::discovery(&kms), b"x", &ctx, 16, &OsRng)
            .unwrap_err()
            .code(),
        ErrorCode::Validation
    );
}

#[test]
fn kms_keyring_obeys_key_state_policies_and_grants() {
    let (kms, _clock) = kms();
    let key = new_key(&kms);
    let ctx = context([("purpose", "test")]);
    let msg = esdk::encrypt(
        &KmsKeyring::new(&kms, key.clone()),
        b"secret",
        &ctx,
        64,
        &OsRng,
    )
    .unwrap();
    // A role with no permission is refused, and told why.
    let role = Caller::iam_role(ACCOUNT, "reader");
    let as_role = kms.as_caller(role.clone());
    let e = esdk::decrypt(&KmsKeyring::new(&as_role, key.clone()), &msg).unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccessDenied);
    // A grant with a context constraint lets it in.
    let g = kms
        .create_grant(CreateGrantRequest {
            key_id: key.clone(),
            grantee_principal: role.principal_arn.clone(),
            operations: vec![GrantOperation::Decrypt],
            constraints: Some(GrantConstraints {
                encryption_context_subset: Some(context([("purpose", "test")])),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap();
    let ring = KmsKeyring::new(&as_role, key.clone()).with_grant_tokens(vec![g.grant_token]);
    assert_eq!(esdk::decrypt(&ring, &msg).unwrap().0.as_bytes(), b"secret");
    // Disabled key: DisabledException.
    kms.disable_key(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    let e = esdk::decrypt(&KmsKeyring::new(&kms, key.clone()), &msg).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Disabled);
    let e = esdk::encrypt(&KmsKeyring::new(&kms, key.clone()), b"x", &ctx, 64, &OsRng).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Disabled);
}

#[test]
fn multi_keyring_across_regions_with_replicas() {
    let clock = ManualClock::new(T0);
    let us = kms_at("us-east-1", &clock, 1);
    let eu = kms_at("eu-west-1", &clock, 2);
    let key = us
        .create_key(CreateKeyRequest {
            multi_region: true,
            ..Default::default()
        })
        .unwrap()
        .key_metadata
        .key_id;
    us.replicate_key(
        ReplicateKeyRequest {
            key_id: key.clone(),
            replica_region: "eu-west-1".into(),
            ..Default::default()
        },
        &eu,
    )
    .unwrap();
    let us_ring: Arc<dyn Keyring> = Arc::new(KmsKeyring::new(&us, arn(&us, &key)));
    let eu_ring: Arc<dyn Keyring> = Arc::new(KmsKeyring::new(&eu, arn(&eu, &key)));
    let raw_ring: Arc<dyn Keyring> = Arc::new(raw());
    let multi = MultiKeyring::new(Some(us_ring.clone()), vec![eu_ring.clone(), raw_ring]).unwrap();
    let ctx = context([("app", "backup")]);
    let msg = esdk::encrypt_with_suite(&multi, &data(10_000), &ctx, 4096, SIGNED, &OsRng).unwrap();
    // Each keyring alone opens it, and says which key it used.
    let d = esdk::decrypt_with(&us_ring, &msg, &DecryptOptions::default()).unwrap();
    assert_eq!(d.info.opened_by.key_name, arn(&us, &key));
    let d = esdk::decrypt_with(&eu_ring, &msg, &DecryptOptions::default()).unwrap();
    assert_eq!(d.info.opened_by.key_name, arn(&eu, &key));
    assert_eq!(d.plaintext.as_bytes(), &data(10_000)[..]);
    let d = esdk::decrypt_with(&raw(), &msg, &DecryptOptions::default()).unwrap();
    assert_eq!(d.info.opened_by.provider_id, "ns");
    // The multi-keyring tries the generator first.
    let d = esdk::decrypt_with(&multi, &msg, &DecryptOptions::default()).unwrap();
    assert_eq!(d.info.opened_by.key_name, arn(&us, &key));
    // With us-east-1's key disabled, Europe still opens the message and a
    // multi-keyring falls through to the next keyring.
    us.disable_key(KeyIdRequest {
        key_id: key.clone(),
    })
    .unwrap();
    assert_eq!(
        esdk::decrypt(&us_ring, &msg).unwrap_err().code(),
        ErrorCode::Disabled
    );
    let d = esdk::decrypt_with(&multi, &msg, &DecryptOptions::default()).unwrap();
    assert_eq!(d.info.opened_by.key_name, arn(&eu, &key));
    assert!(MultiKeyring::new(None, vec![]).is_err());
}

// ------------------------------------------------------------ caching

struct CacheFixture {
    kms: Kms,
    clock: ManualClock,
    key: String,
    cmm: CachingCmm<KmsKeyring>,
}

fn cache_fixture(cfg: CachingConfig, capacity: usize) -> CacheFixture {
    let (kms, clock) = kms();
    let key = new_key(&kms);
    let cache = MaterialsCache::new(capacity, clock.clone()).unwrap();
    let cmm = CachingCmm::new(KmsKeyring::new(&kms, key.clone()), cache, cfg).unwrap();
    CacheFixture {
        kms,
        clock,
        key,
        cmm,
    }
}

fn gdk_calls(kms: &Kms) -> usize {
    kms.audit_log()
        .unwrap()
        .iter()
        .filter(|e| e.operation == "GenerateDataKey" && e.outcome == "Success")
        .count()
}

fn enc_known(
    cmm: &dyn esdk::MaterialsManager,
    pt: &[u8],
    ctx: &strongroom::EncryptionContext,
) -> Vec<u8> {
    esdk::encrypt_with(
        cmm,
        pt,
        ctx,
        &opts(UNSIGNED, 4096, Some(pt.len() as u64)),
        &OsRng,
    )
    .unwrap()
}

#[test]
fn cache_limits_exact_counts() {
    let f = cache_fixture(
        CachingConfig {
            max_age_ms: 10_000,
            max_messages_encrypted: 3,
            max_bytes_encrypted: 100,
            partition: Some("p".into()),
        },
        2,
    );
    let ctx = context([("a", "1")]);
    // Three messages per data key.
    let msgs: Vec<Vec<u8>> = (0..7)
        .map(|_| enc_known(&f.cmm, b"0123456789", &ctx))
        .collect();
    let s = f.cmm.stats();
    assert_eq!((s.hits, s.misses, s.evictions), (4, 3, 2), "{s:?}");
    assert_eq!(gdk_calls(&f.kms), 3);
    // Messages sharing a data key carry the same EDK; each still decrypts.
    assert_eq!(&msgs[0][..200], &msgs[0][..200]);
    for m in &msgs {
        assert_eq!(
            esdk::decrypt(&KmsKeyring::new(&f.kms, f.key.clone()), m)
                .unwrap()
                .0
                .as_bytes(),
            b"0123456789"
        );
    }
    // Byte limit: 100 bytes per entry; 60 + 60 needs a new key.
    let ctx2 = context([("a", "2")]);
    enc_known(&f.cmm, &[0; 60], &ctx2);
    enc_known(&f.cmm, &[0; 60], &ctx2);
    let s = f.cmm.stats();
    assert_eq!((s.hits, s.misses), (4, 5), "{s:?}");
    // A message over the byte limit, or of unknown length, bypasses.
    enc_known(&f.cmm, &[0; 101], &ctx2);
    esdk::encrypt_with(&f.cmm, b"x", &ctx2, &opts(UNSIGNED, 16, None), &OsRng).unwrap();
    let s = f.cmm.stats();
    assert_eq!((s.hits, s.misses, s.bypasses), (4, 5, 2), "{s:?}");
    // Age: an entry older than max_age is not used.
    enc_known(&f.cmm, b"y", &ctx2);
    assert_eq!(f.cmm.stats().hits, 5);
    f.clock.advance_ms(10_000);
    enc_known(&f.cmm, b"y", &ctx2);
    let s = f.cmm.stats();
    assert_eq!((s.hits, s.misses), (5, 6), "{s:?}");
    // LRU capacity 2: a third context evicts the least recently used.
    assert_eq!(s.entries, 2);
    let before = s.evictions;
    enc_known(&f.cmm, b"z", &context([("a", "3")]));
    let s = f.cmm.stats();
    assert_eq!((s.entries, s.evictions), (2, before + 1));
}

#[test]
fn cache_serves_decryption_and_partitions_separate_cmms() {
    let f = cache_fixture(CachingConfig::default(), 10);
    let ctx = context([("a", "1")]);
    let plain = KmsKeyring::new(&f.kms, f.key.clone());
    let msg = esdk::encrypt(&plain, b"hello", &ctx, 64, &OsRng).unwrap();
    for _ in 0..5 {
        assert_eq!(esdk::decrypt(&f.cmm, &msg).unwrap().0.as_bytes(), b"hello");
    }
    let s = f.cmm.stats();
    assert_eq!((s.hits, s.misses), (4, 1));
    let decrypts = f
        .kms
        .audit_log()
        .unwrap()
        .iter()
        .filter(|e| e.operation == "Decrypt")
        .count();
    assert_eq!(decrypts, 1, "four decryptions came from the cache");
    // Two CMMs on one cache in different partitions do not share entries.
    let cache = MaterialsCache::new(10, f.clock.clone()).unwrap();
    let cfg = |p: &str| CachingConfig {
        partition: Some(p.into()),
        ..Default::default()
    };
    let a = CachingCmm::new(plain.clone(), cache.clone(), cfg("a")).unwrap();
    let b = CachingCmm::new(plain.clone(), cache.clone(), cfg("b")).unwrap();
    enc_known(&a, b"1", &ctx);
    enc_known(&b, b"1", &ctx);
    enc_known(&a, b"1", &ctx);
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.entries), (1, 2, 2));
    // Config validation.
    assert!(CachingCmm::new(
        plain.clone(),
        cache.clone(),
        CachingConfig {
            max_messages_encrypted: (1 << 32) + 1,
            ..Default::default()
        }
    )
    .is_err());
    assert!(MaterialsCache::new(0, f.clock.clone()).is_err());
}

type KeyChange = Box<dyn Fn(&Kms, &str)>;

/// Beyond the official SDKs: plaintext data keys do not outlive their
/// master key's usability.
#[test]
fn cache_entries_die_with_their_kms_key() {
    let ctx = context([("a", "1")]);
    let changes: Vec<(&str, KeyChange)> = vec![
        (
            "disable",
            Box::new(|k: &Kms, id: &str| {
                k.disable_key(KeyIdRequest { key_id: id.into() }).unwrap()
            }),
        ),
        (
            "schedule deletion",
            Box::new(|k: &Kms, id: &str| {
                k.schedule_key_deletion(ScheduleKeyDeletionRequest {
                    key_id: id.into(),
                    pending_window_in_days: Some(7),
                })
                .map(|_| ())
                .unwrap()
            }),
        ),
        (
            "rotate",
            Box::new(|k: &Kms, id: &str| {
                k.rotate_key_on_demand(KeyIdRequest { key_id: id.into() })
                    .map(|_| ())
                    .unwrap()
            }),
        ),
    ];
    for (what, change) in changes {
        let f = cache_fixture(CachingConfig::default(), 10);
        let plain = KmsKeyring::new(&f.kms, f.key.clone());
        let msg = esdk::encrypt(&plain, b"m", &ctx, 64, &OsRng).unwrap();
        enc_known(&f.cmm, b"x", &ctx);
        esdk::decrypt(&f.cmm, &msg).unwrap();
        assert_eq!(f.cmm.stats().entries, 2);
        change(&f.kms, &f.key);
        let s = f.cmm.stats();
        assert_eq!((s.entries, s.invalidations), (0, 2), "{what}: {s:?}");
        // Nothing is served from the cache any more: the KMS decides.
        if what != "rotate" {
            assert!(esdk::decrypt(&f.cmm, &msg).is_err(), "{what}");
        }
    }
    // Unrelated keys' changes leave entries alone.
    let f = cache_fixture(CachingConfig::default(), 10);
    enc_known(&f.cmm, b"x", &ctx);
    let other = new_key(&f.kms);
    f.kms.disable_key(KeyIdRequest { key_id: other }).unwrap();
    assert_eq!(f.cmm.stats().entries, 1);
}

#[test]
fn cache_entry_dies_when_imported_material_is_deleted() {
    let (kms, clock) = kms();
    let key = kms
        .create_key(CreateKeyRequest {
            origin: Some(Origin::External),
            ..Default::default()
        })
        .unwrap()
        .key_metadata
        .key_id;
    let p = kms
        .get_parameters_for_import(GetParametersForImportRequest {
            key_id: key.clone(),
            wrapping_algorithm: Some(WrappingAlgorithm::RsaesOaepSha256),
            wrapping_key_spec: Some(WrappingKeySpec::Rsa2048),
        })
        .unwrap();
    use rsa::pkcs8::DecodePublicKey;
    let pk = rsa::PublicKey::from_public_key_der(&p.public_key).unwrap();
    let wrapped = pk
        .encrypt(
            &mut TestRng(1),
            rsa::Oaep::<rsa::sha2::Sha256>::new(),
            &[0x42; 32],
        )
        .unwrap();
    kms.import_key_material(ImportKeyMaterialRequest {
        key_id: key.clone(),
        import_token: p.import_token,
        encrypted_key_material: wrapped,
        valid_to_ms: None,
        expiration_model: Some(ExpirationModel::KeyMaterialDoesNotExpire),
        ..Default::default()
    })
    .unwrap();
    let cache = MaterialsCache::new(4, clock).unwrap();
    let cmm = CachingCmm::new(
        KmsKeyring::new(&kms, key.clone()),
        cache,
        CachingConfig::default(),
    )
    .unwrap();
    enc_known(&cmm, b"x", &strongroom::EncryptionContext::new());
    assert_eq!(cmm.stats().entries, 1);
    kms.delete_imported_key_material(DeleteImportedKeyMaterialRequest {
        key_id: key,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(cmm.stats().entries, 0);
    assert_eq!(cmm.stats().invalidations, 1);
}

// ------------------------------------------------------------ re-wrap

#[test]
fn rewrap_moves_a_message_to_another_key_under_a_fresh_content_key() {
    let (kms, _clock) = kms();
    let a = new_key(&kms);
    let b = new_key(&kms);
    let ring_a = KmsKeyring::new(&kms, a.clone());
    let ring_b = KmsKeyring::new(&kms, b.clone());
    let ctx = context([("doc", "7")]);
    let pt = data(50_000);
    for suite in [UNSIGNED, SIGNED] {
        let msg = esdk::encrypt_with_suite(&ring_a, &pt, &ctx, 4096, suite, &OsRng).unwrap();
        let mut out = Vec::new();
        let info = esdk::rewrap_stream(
            &ring_a,
            &ring_b,
            &mut &msg[..],
            &mut out,
            &DecryptOptions::default(),
            &OsRng,
        )
        .unwrap();
        assert_eq!(info.opened_by.key_name, arn(&kms, &a));
        let d = esdk::decrypt_with(&ring_b, &out, &DecryptOptions::default()).unwrap();
        assert_eq!(d.plaintext.as_bytes(), &pt[..]);
        assert_eq!(d.info.encryption_context["doc"], "7");
        assert_eq!(d.info.frame_length, 4096);
        assert_eq!(d.info.suite, suite);
        assert_eq!(
            esdk::decrypt(&ring_a, &out).unwrap_err().code(),
            ErrorCode::InvalidCiphertext,
            "the source key is gone from the header"
        );
        // Never a second tag under the old content key: a new message id
        // (so a new content key; the header tag's IV is fixed at zero) and
        // no frame ciphertext in common. A header-only re-wrap reused the
        // old content key and IV for the new header tag, which gives away
        // the GHASH key to anyone holding both messages.
        assert_ne!(&msg[1..33], &out[1..33], "a fresh message id");
        let tail = &msg[msg.len() - 2000..msg.len() - 1000];
        assert!(
            !out.windows(tail.len()).any(|w| w == tail),
            "the body is re-encrypted"
        );
        // A tampered signed body is refused (the old signature is checked).
        if suite == SIGNED {
            let mut bad = msg.clone();
            let n = bad.len();
            bad[n - 500] ^= 1;
            let r = esdk::rewrap_stream(
                &ring_a,
                &ring_b,
                &mut &bad[..],
                &mut Vec::new(),
                &DecryptOptions::default(),
                &OsRng,
            );
            assert_eq!(r.unwrap_err().code(), ErrorCode::InvalidCiphertext);
        }
    }
    // Re-wrap needs to open the source: the wrong keyring fails.
    let msg = esdk::encrypt(&ring_a, b"x", &ctx, 64, &OsRng).unwrap();
    let r = esdk::rewrap_stream(
        &ring_b,
        &ring_a,
        &mut &msg[..],
        &mut Vec::new(),
        &DecryptOptions::default(),
        &OsRng,
    );
    assert!(r.is_err());
}

#[test]
fn io_adapters_round_trip_and_report_errors() {
    let ctx = context([("k", "v")]);
    let pt = data(300_000);
    let mut msg = Vec::new();
    let n = esdk::encrypt_stream(
        &raw(),
        &mut &pt[..],
        &mut msg,
        &ctx,
        &opts(SIGNED, 4096, None),
        &OsRng,
    )
    .unwrap();
    assert_eq!(n, pt.len() as u64);
    let mut back = Vec::new();
    let info =
        esdk::decrypt_stream(&raw(), &mut &msg[..], &mut back, &DecryptOptions::default()).unwrap();
    assert_eq!(back, pt);
    assert_eq!(info.encryption_context["k"], "v");
    // Writer adapters.
    let mut w =
        esdk::EncryptingWriter::new(&raw(), &ctx, &opts(UNSIGNED, 100, None), &OsRng, Vec::new())
            .unwrap();
    w.write_all(b"hello ").unwrap();
    w.write_all(b"world").unwrap();
    let msg = w.finish().unwrap();
    let r = raw();
    let mut d = esdk::DecryptingWriter::new(&r, DecryptOptions::default(), Vec::new());
    d.write_all(&msg).unwrap();
    let (out, _) = d.finish().unwrap();
    assert_eq!(out, b"hello world");
    // A failure inside the adapter surfaces as the crate error.
    let mut bad = msg.clone();
    bad[60] ^= 1;
    let e = esdk::decrypt_stream(
        &raw(),
        &mut &bad[..],
        &mut Vec::new(),
        &DecryptOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidCiphertext);
}

mod chunking {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        /// Any split of a (possibly tampered or truncated) message into
        /// chunks gives the whole-buffer verdict and, when it succeeds, the
        /// same plaintext.
        #[test]
        fn chunked_decrypt_matches_whole(
            len in 0usize..3000,
            frame in prop_oneof![Just(1u32), Just(7), Just(64), Just(4096)],
            signed in any::<bool>(),
            cuts in proptest::collection::vec(1usize..700, 0..12),
            flip in proptest::option::of((any::<prop::sample::Index>(), 0u8..8)),
            truncate in proptest::option::of(any::<prop::sample::Index>()),
        ) {
            let suite = if signed { SIGNED } else { UNSIGNED };
            let pt = data(len);
            let mut msg = esdk::encrypt_with_suite(&raw(), &pt, &strongroom::EncryptionContext::new(), frame, suite, &DangerousSeededRng::new([5; 32])).unwrap();
            if let Some((i, bit)) = flip {
                let at = i.index(msg.len());
                msg[at] ^= 1 << bit;
            }
            if let Some(i) = truncate {
                let at = i.index(msg.len());
                msg.truncate(at);
            }
            let whole = esdk::decrypt(&raw(), &msg);
            let r = raw();
            let mut d = esdk::Decryptor::new(&r, DecryptOptions::default());
            let mut out = Vec::new();
            let mut rest = &msg[..];
            let mut ok = true;
            for c in cuts.iter().cycle().take(msg.len()) {
                if rest.is_empty() { break; }
                let k = (*c).min(rest.len());
                if d.update(&rest[..k], &mut out).is_err() { ok = false; break; }
                rest = &rest[k..];
            }
            if ok && !rest.is_empty() {
                ok = d.update(rest, &mut out).is_ok();
            }
            let streamed = ok && d.finish(&mut out).is_ok();
            prop_assert_eq!(streamed, whole.is_ok());
            if let Ok((p, _)) = &whole {
                prop_assert_eq!(p.as_bytes(), &out[..]);
                prop_assert_eq!(&out[..], &pt[..]);
            }
            // The delegated (WebCrypto) reader gives the same verdict and
            // the same plaintext.
            let delegated = super::delegated_decrypt(&msg);
            prop_assert_eq!(delegated.is_ok(), whole.is_ok());
            if let Ok(p) = delegated {
                prop_assert_eq!(&p[..], &pt[..]);
            }
        }
    }
}

// ------------------------------------------------------------ delegated AES-GCM

/// Software AES-256-GCM standing in for WebCrypto in these tests.
fn gcm_seal(key: &[u8], iv: &[u8], aad: &[u8], pt: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    aes_gcm::Aes256Gcm::new_from_slice(key)
        .unwrap()
        .encrypt(iv.into(), Payload { msg: pt, aad })
        .unwrap()
}

fn gcm_open(key: &[u8], iv: &[u8], aad: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    aes_gcm::Aes256Gcm::new_from_slice(key)
        .unwrap()
        .decrypt(iv.into(), Payload { msg: ct, aad })
        .ok()
}

fn delegated_encrypt(pt: &[u8], suite: u16, frame: u32, rng: &DangerousSeededRng) -> Vec<u8> {
    let ctx = context([("file", "a")]);
    let d = esdk::DelegatedEncryption::new(
        &raw(),
        &ctx,
        &opts(suite, frame, Some(pt.len() as u64)),
        rng,
    )
    .unwrap();
    let mut msg = d.header.clone();
    for f in &d.frames {
        msg.extend_from_slice(&f.prefix);
        msg.extend(gcm_seal(
            &d.content_key,
            &f.iv,
            &f.aad,
            &pt[f.offset..f.offset + f.len],
        ));
    }
    assert_eq!(d.signing_key.is_some(), suite == SIGNED);
    if let Some(pkcs8) = &d.signing_key {
        // Stands in for WebCrypto's ECDSA sign (P-384, SHA-384, r || s).
        use p384::ecdsa::signature::Signer;
        use p384::pkcs8::DecodePrivateKey;
        let sk = p384::ecdsa::SigningKey::from_pkcs8_der(pkcs8).unwrap();
        let sig: p384::ecdsa::Signature = sk.sign(&msg);
        msg.extend(esdk::signature_footer(&sig.to_bytes()).unwrap());
    }
    msg
}

fn delegated_decrypt(msg: &[u8]) -> Result<Vec<u8>, ErrorCode> {
    let d = esdk::DelegatedDecryption::new(&raw(), msg, &DecryptOptions::default())
        .map_err(|e| e.code())?;
    if let Some(sig) = &d.signature {
        // Stands in for WebCrypto's ECDSA verify (P-384 / SHA-384 here).
        use p384::ecdsa::signature::Verifier;
        assert_eq!((sig.curve, sig.hash), ("P-384", "SHA-384"));
        let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(&sig.public_key).unwrap();
        assert_eq!(sig.public_key.len(), 97, "uncompressed");
        let s = p384::ecdsa::Signature::from_slice(&sig.signature).unwrap();
        vk.verify(&msg[..sig.signed_len], &s)
            .map_err(|_| ErrorCode::InvalidCiphertext)?;
    }
    let mut out = Vec::new();
    for f in &d.frames {
        let ct = &msg[f.offset..f.offset + f.len + 16];
        out.extend(
            gcm_open(&d.content_key, &f.iv, &f.aad, ct).ok_or(ErrorCode::InvalidCiphertext)?,
        );
    }
    assert_eq!(d.info.opened_by.key_name, "k1");
    Ok(out)
}

#[test]
fn delegated_aes_gcm_writes_and_reads_exactly_the_encryptors_bytes() {
    let ctx = context([("file", "a")]);
    for suite in [UNSIGNED, SIGNED] {
        for frame in [7u32, 4096] {
            let f = frame as usize;
            for len in [0, 1, f - 1, f, f + 1, 3 * f, 3 * f + 2] {
                let pt = data(len);
                let seed = [len as u8 ^ frame as u8; 32];
                let ours = delegated_encrypt(&pt, suite, frame, &DangerousSeededRng::new(seed));
                let reference = esdk::encrypt_with(
                    &raw(),
                    &pt,
                    &ctx,
                    &opts(suite, frame, Some(len as u64)),
                    &DangerousSeededRng::new(seed),
                )
                .unwrap();
                // ECDSA here is deterministic (RFC 6979): even the
                // signature is the same.
                assert_eq!(ours, reference, "{suite:04x} frame {frame} len {len}");
                assert_eq!(delegated_decrypt(&reference).unwrap(), pt);
            }
        }
    }
    assert_eq!(
        esdk::signature_footer(&[1; 95]).unwrap_err().code(),
        ErrorCode::Validation
    );
}

#[test]
fn delegated_decryption_refuses_what_the_decryptor_refuses() {
    let pt = data(10_000);
    let msg = esdk::encrypt_with_suite(
        &raw(),
        &pt,
        &strongroom::EncryptionContext::new(),
        1000,
        UNSIGNED,
        &OsRng,
    )
    .unwrap();
    // Structure: truncated, extended, a frame dropped.
    for bad in [
        msg[..msg.len() - 1].to_vec(),
        [msg.clone(), vec![0]].concat(),
        msg[..msg.len() - 200].to_vec(),
    ] {
        assert_eq!(delegated_decrypt(&bad), Err(ErrorCode::InvalidCiphertext));
    }
    // Every single-byte change anywhere fails somewhere (header here,
    // frames at their tags).
    for i in (0..msg.len()).step_by(37) {
        let mut bad = msg.clone();
        bad[i] ^= 0x40;
        assert!(
            delegated_decrypt(&bad).is_err(),
            "byte {i} of {}",
            msg.len()
        );
    }
    // Signed messages: the footer's signature is handed out for checking;
    // a changed body, footer or signature, or bytes after it, are refused.
    let signed = esdk::encrypt_with_suite(
        &raw(),
        &pt,
        &strongroom::EncryptionContext::new(),
        1000,
        SIGNED,
        &OsRng,
    )
    .unwrap();
    assert_eq!(delegated_decrypt(&signed).unwrap(), pt);
    let footer = esdk::DelegatedDecryption::new(&raw(), &signed, &DecryptOptions::default())
        .unwrap()
        .signature
        .unwrap()
        .signed_len;
    for i in [footer - 20, footer + 1, footer + 10, signed.len() - 1] {
        let mut bad = signed.clone();
        bad[i] ^= 1;
        assert!(
            delegated_decrypt(&bad).is_err(),
            "byte {i} (footer at {footer}, length {})",
            signed.len()
        );
    }
    assert!(delegated_decrypt(&[signed.clone(), vec![0]].concat()).is_err());
    assert!(delegated_decrypt(&signed[..signed.len() - 1]).is_err());
    assert!(delegated_decrypt(&signed[..footer]).is_err());
    let e = esdk::DelegatedEncryption::new(
        &raw(),
        &strongroom::EncryptionContext::new(),
        &opts(UNSIGNED, 10, None),
        &OsRng,
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Validation);
}

// ------------------------------------------------------------ cache: issue 14, item 9

/// Revoking a caller's identity policy drops the cached materials it made:
/// the next message goes to the KMS, which refuses.
#[test]
fn cache_entries_die_when_identity_policies_change() {
    let alice_arn = format!("arn:aws:iam::{ACCOUNT}:user/alice");
    let allow = |kms: &Kms| {
        kms.put_identity_policy(PutIdentityPolicyRequest {
            principal_arn: alice_arn.clone(),
            policy_name: "use-keys".into(),
            policy_document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["kms:GenerateDataKey","kms:Decrypt"],"Resource":"*"}}"#.into(),
        })
        .unwrap()
    };
    let revocations: Vec<(&str, KeyChange)> = vec![
        (
            "put a deny",
            Box::new(|k: &Kms, who: &str| {
                k.put_identity_policy(PutIdentityPolicyRequest {
                    principal_arn: who.into(),
                    policy_name: "use-keys".into(),
                    policy_document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"kms:*","Resource":"*"}}"#.into(),
                })
                .unwrap()
            }),
        ),
        (
            "delete",
            Box::new(|k: &Kms, who: &str| {
                k.delete_identity_policy(IdentityPolicyRequest {
                    principal_arn: who.into(),
                    policy_name: "use-keys".into(),
                })
                .unwrap()
            }),
        ),
    ];
    let ctx = context([("a", "1")]);
    for (what, revoke) in revocations {
        let (kms, clock) = kms();
        let key = new_key(&kms);
        allow(&kms);
        let alice = kms.as_caller(Caller::iam_user(ACCOUNT, "alice"));
        let cache = MaterialsCache::new(10, clock.clone()).unwrap();
        let cmm = CachingCmm::new(
            KmsKeyring::new(&alice, key.clone()),
            cache,
            CachingConfig::default(),
        )
        .unwrap();
        let msg =
            esdk::encrypt(&KmsKeyring::new(&kms, key.clone()), b"m", &ctx, 64, &OsRng).unwrap();
        enc_known(&cmm, b"x", &ctx);
        esdk::decrypt(&cmm, &msg).unwrap();
        assert_eq!(cmm.stats().entries, 2, "{what}");
        revoke(&kms, &alice_arn);
        let s = cmm.stats();
        assert_eq!((s.entries, s.invalidations), (0, 2), "{what}: {s:?}");
        let e = esdk::encrypt_with(&cmm, b"x", &ctx, &opts(UNSIGNED, 4096, Some(1)), &OsRng);
        assert_eq!(
            e.unwrap_err().code(),
            ErrorCode::AccessDenied,
            "{what}: not from the cache"
        );
        assert!(esdk::decrypt(&cmm, &msg).is_err(), "{what}");
    }
}

/// Moving or deleting an alias drops the entries made through it: the next
/// message is wrapped under the key the alias names now.
#[test]
fn cache_entries_die_when_their_alias_moves() {
    let (kms, clock) = kms();
    let a = new_key(&kms);
    let b = new_key(&kms);
    kms.create_alias(CreateAliasRequest {
        alias_name: "alias/app".into(),
        target_key_id: a.clone(),
    })
    .unwrap();
    let cache = MaterialsCache::new(10, clock.clone()).unwrap();
    let cmm = CachingCmm::new(
        KmsKeyring::new(&kms, "alias/app"),
        cache,
        CachingConfig::default(),
    )
    .unwrap();
    let ctx = context([("a", "1")]);
    enc_known(&cmm, b"x", &ctx);
    enc_known(&cmm, b"x", &ctx);
    assert_eq!((cmm.stats().hits, cmm.stats().entries), (1, 1));
    kms.update_alias(UpdateAliasRequest {
        alias_name: "alias/app".into(),
        target_key_id: b.clone(),
    })
    .unwrap();
    let s = cmm.stats();
    assert_eq!((s.entries, s.invalidations), (0, 1), "{s:?}");
    let msg = enc_known(&cmm, b"x", &ctx);
    assert_eq!(cmm.stats().hits, 1, "not served from the cache");
    // Wrapped under B only: a keyring that knows only B opens it.
    let (pt, _) = esdk::decrypt(&KmsKeyring::new(&kms, arn(&kms, &b)), &msg).unwrap();
    assert_eq!(pt.as_bytes(), b"x");
    assert!(esdk::decrypt(&KmsKeyring::new(&kms, arn(&kms, &a)), &msg).is_err());
    // Deleting the alias drops the entry made under B.
    assert_eq!(cmm.stats().entries, 1);
    kms.delete_alias(DeleteAliasRequest {
        alias_name: "alias/app".into(),
    })
    .unwrap();
    assert_eq!(cmm.stats().entries, 0);
}

/// A keyring that disables its key right after the KMS made the data key,
/// before the caching CMM stores the materials: the race of a DisableKey
/// landing between the KMS call and the cache insert.
struct DisablesAfterGenerating {
    inner: KmsKeyring,
    admin: Kms,
    key: String,
    armed: std::sync::atomic::AtomicBool,
}

impl Keyring for DisablesAfterGenerating {
    fn on_encrypt(
        &self,
        m: &mut esdk::EncryptionMaterials,
        rng: &dyn strongroom::Rng,
    ) -> strongroom::Result<()> {
        self.inner.on_encrypt(m, rng)?;
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.admin.disable_key(KeyIdRequest {
                key_id: self.key.clone(),
            })?;
        }
        Ok(())
    }
    fn on_decrypt(
        &self,
        m: &mut esdk::DecryptionMaterials,
        edks: &[esdk::Edk],
    ) -> strongroom::Result<()> {
        self.inner.on_decrypt(m, edks)?;
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.admin.disable_key(KeyIdRequest {
                key_id: self.key.clone(),
            })?;
        }
        Ok(())
    }
    fn kms_handles(&self) -> Vec<Kms> {
        self.inner.kms_handles()
    }
}

#[test]
fn a_key_disabled_during_the_kms_call_is_not_cached() {
    let ctx = context([("a", "1")]);
    for decrypting in [false, true] {
        let (kms, clock) = kms();
        let key = new_key(&kms);
        let msg =
            esdk::encrypt(&KmsKeyring::new(&kms, key.clone()), b"m", &ctx, 64, &OsRng).unwrap();
        let keyring = DisablesAfterGenerating {
            inner: KmsKeyring::new(&kms, key.clone()),
            admin: kms.clone(),
            key: key.clone(),
            armed: true.into(),
        };
        let cache = MaterialsCache::new(10, clock.clone()).unwrap();
        let cmm = CachingCmm::new(keyring, cache, CachingConfig::default()).unwrap();
        if decrypting {
            // The first decryption got its data key before the disable.
            assert_eq!(esdk::decrypt(&cmm, &msg).unwrap().0.as_bytes(), b"m");
        } else {
            enc_known(&cmm, b"x", &ctx);
        }
        assert_eq!(describe(&kms, &key).key_state, KeyState::Disabled);
        assert_eq!(cmm.stats().entries, 0, "decrypting: {decrypting}");
        // The next one asks the KMS, which refuses.
        if decrypting {
            assert!(esdk::decrypt(&cmm, &msg).is_err());
        } else {
            let e = esdk::encrypt_with(&cmm, b"x", &ctx, &opts(UNSIGNED, 4096, Some(1)), &OsRng);
            assert_eq!(e.unwrap_err().code(), ErrorCode::Disabled);
        }
        assert_eq!(cmm.stats().hits, 0);
    }
}
