//! Criterion benchmarks for the hot operations. Each group also measures a
//! peer in the same run: a bare RustCrypto AES-256-GCM seal/open of the same
//! size with a fixed key (the floor: no key lookup, no per-message key
//! derivation, no audit). Report Strongroom as a ratio against it.
//!
//! Run: cargo bench -p strongroom --bench ops
use aes_gcm::aead::{Aead, KeyInit, Payload};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use strongroom::api::*;
use strongroom::model::DataKeySpec;
use strongroom::Kms;

fn setup() -> (Kms, String, strongroom::EncryptionContext) {
    let kms = Kms::in_memory("111122223333", "us-east-1").unwrap();
    let key = kms
        .create_key(CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let ctx = context([
        ("tenant", "acme-corporation"),
        ("purpose", "benchmark"),
        ("table", "orders"),
    ]);
    (kms, key, ctx)
}

fn bench(c: &mut Criterion) {
    let (kms, key, ctx) = setup();
    // Keep memory flat over millions of calls: audit events are pruned.
    let prune = || kms.prune_audit_log(0).unwrap();
    let aes = aes_gcm::Aes256Gcm::new_from_slice(&[7u8; 32]).unwrap();
    let nonce = aes_gcm::Nonce::from_slice(&[1u8; 12]);
    let aad = b"tenant=acme-corporation;purpose=benchmark;table=orders";
    for size in [64usize, 1024, 4096] {
        let pt = vec![0x5au8; size];
        let mut g = c.benchmark_group(format!("encrypt/{size}B"));
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("strongroom", size), |b| {
            b.iter(|| {
                kms.encrypt(EncryptRequest {
                    key_id: key.clone(),
                    plaintext: black_box(pt.clone()).into(),
                    encryption_context: ctx.clone(),
                    ..Default::default()
                })
                .unwrap()
            })
        });
        g.bench_function(BenchmarkId::new("peer-aes256gcm-seal", size), |b| {
            b.iter(|| {
                aes.encrypt(
                    nonce,
                    Payload {
                        msg: black_box(&pt),
                        aad,
                    },
                )
                .unwrap()
            })
        });
        g.finish();
        prune();
        let blob = kms
            .encrypt(EncryptRequest {
                key_id: key.clone(),
                plaintext: pt.clone().into(),
                encryption_context: ctx.clone(),
                ..Default::default()
            })
            .unwrap()
            .ciphertext_blob;
        let sealed = aes.encrypt(nonce, Payload { msg: &pt, aad }).unwrap();
        let mut g = c.benchmark_group(format!("decrypt/{size}B"));
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("strongroom", size), |b| {
            b.iter(|| {
                kms.decrypt(DecryptRequest {
                    ciphertext_blob: black_box(blob.clone()),
                    encryption_context: ctx.clone(),
                    ..Default::default()
                })
                .unwrap()
            })
        });
        g.bench_function(BenchmarkId::new("peer-aes256gcm-open", size), |b| {
            b.iter(|| {
                aes.decrypt(
                    nonce,
                    Payload {
                        msg: black_box(&sealed),
                        aad,
                    },
                )
                .unwrap()
            })
        });
        g.finish();
        prune();
    }
    let mut g = c.benchmark_group("generate-data-key");
    g.throughput(Throughput::Elements(1));
    g.bench_function("strongroom AES_256", |b| {
        b.iter(|| {
            kms.generate_data_key(GenerateDataKeyRequest {
                key_id: key.clone(),
                key_spec: Some(DataKeySpec::Aes256),
                encryption_context: ctx.clone(),
                ..Default::default()
            })
            .unwrap()
        })
    });
    g.finish();
    prune();
}

/// Encrypt under a 10-statement policy with conditions and 100 grants on
/// the key, against Encrypt under the default policy, same run.
fn bench_authorization(c: &mut Criterion) {
    use strongroom::model::GrantOperation;
    use strongroom::Caller;
    let kms = Kms::in_memory("111122223333", "us-east-1").unwrap();
    let plain = kms
        .create_key(CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let app = "arn:aws:iam::111122223333:role/app";
    let mut st = vec![serde_json::json!({"Sid": "Root", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"})];
    for i in 0..3 {
        st.push(serde_json::json!({"Sid": format!("Deny{i}"), "Effect": "Deny", "Principal": "*",
            "Action": ["kms:Decrypt", "kms:Encrypt"], "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": format!("banned-{i}")}}}));
    }
    for i in 0..5 {
        st.push(
            serde_json::json!({"Sid": format!("Other{i}"), "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::111122223333:role/other-{i}")},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
            "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}}),
        );
    }
    st.push(serde_json::json!({"Sid": "App", "Effect": "Allow", "Principal": {"AWS": app},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
        "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333", "kms:EncryptionContext:tenant": "acme-corporation"},
                      "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["tenant", "purpose", "table"]}}}));
    assert_eq!(st.len(), 10);
    let policy = strongroom::policy::templates::document(&st);
    let guarded = kms
        .create_key(CreateKeyRequest {
            policy: Some(policy),
            ..Default::default()
        })
        .unwrap()
        .key_metadata
        .key_id;
    for i in 0..100 {
        kms.create_grant(CreateGrantRequest {
            key_id: guarded.clone(),
            grantee_principal: format!("arn:aws:iam::111122223333:role/grantee-{i}"),
            operations: vec![GrantOperation::Encrypt, GrantOperation::Decrypt],
            ..Default::default()
        })
        .unwrap();
    }
    let ctx = context([
        ("tenant", "acme-corporation"),
        ("purpose", "benchmark"),
        ("table", "orders"),
    ]);
    let app_kms = kms.as_caller(Caller::iam_role("111122223333", "app"));
    let pt = vec![0x5au8; 1024];
    let mut g = c.benchmark_group("authorization/encrypt-1KiB");
    g.throughput(Throughput::Elements(1));
    g.bench_function("default policy (root)", |b| {
        b.iter(|| {
            kms.encrypt(EncryptRequest {
                key_id: plain.clone(),
                plaintext: black_box(pt.clone()).into(),
                encryption_context: ctx.clone(),
                ..Default::default()
            })
            .unwrap()
        })
    });
    g.bench_function("10 statements + 100 grants (role)", |b| {
        b.iter(|| {
            app_kms
                .encrypt(EncryptRequest {
                    key_id: guarded.clone(),
                    plaintext: black_box(pt.clone()).into(),
                    encryption_context: ctx.clone(),
                    ..Default::default()
                })
                .unwrap()
        })
    });
    g.finish();
    kms.prune_audit_log(0).unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench, bench_authorization
}
criterion_main!(benches);
