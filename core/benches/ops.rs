//! Criterion benchmarks for the hot operations. Each group also measures a
//! peer in the same run: a bare RustCrypto AES-256-GCM seal/open of the same
//! size with a fixed key (the floor: no key lookup, no per-message key
//! derivation, no audit). Report Strongroom as a ratio against it.
//!
//! Run: cargo bench -p strongroom --bench ops
//!
//! On a machine shared with other work, `STRONGROOM_BENCH_CLOCK=cpu` times
//! with the benchmark thread's CPU time instead of the wall clock: time the
//! thread spends preempted is then counted for neither Strongroom nor its
//! peer, and the ratio between them stays meaningful under load.
use aes_gcm::aead::{Aead, KeyInit, Payload};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Throughput};

type Criterion = criterion::Criterion<BenchClock>;

/// Wall time, or (`STRONGROOM_BENCH_CLOCK=cpu`) this thread's CPU time, in
/// nanoseconds.
struct BenchClock {
    cpu: bool,
    wall: WallTime,
}

impl BenchClock {
    fn from_env() -> Self {
        BenchClock {
            cpu: std::env::var("STRONGROOM_BENCH_CLOCK").is_ok_and(|v| v == "cpu"),
            wall: WallTime,
        }
    }
    fn now_ns(&self) -> u64 {
        if !self.cpu {
            return 0;
        }
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the call.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "CLOCK_THREAD_CPUTIME_ID is available");
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

impl Measurement for BenchClock {
    type Intermediate = (std::time::Instant, u64);
    type Value = u64;
    fn start(&self) -> Self::Intermediate {
        (std::time::Instant::now(), self.now_ns())
    }
    fn end(&self, (wall, cpu): Self::Intermediate) -> u64 {
        if self.cpu {
            self.now_ns() - cpu
        } else {
            wall.elapsed().as_nanos() as u64
        }
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, formatted as the wall clock's are.
        self.wall.formatter()
    }
}
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
    // The peer: what a bare data key costs, fresh random bytes from the
    // OS (one getrandom call) and their AES-256-GCM seal under a fixed key
    // (no key derivation, no key lookup, no audit).
    g.bench_function("peer-random32-aes256gcm-seal", |b| {
        b.iter(|| {
            let mut dk = [0u8; 32];
            getrandom::getrandom(&mut dk).unwrap();
            aes.encrypt(nonce, Payload { msg: &dk, aad }).unwrap()
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

/// Sign/Verify P-256, DeriveSharedSecret and GenerateMac, each against the
/// bare RustCrypto operation in the same run.
fn bench_asymmetric(c: &mut Criterion) {
    use p256::ecdsa::signature::{Signer, Verifier};
    use p256::pkcs8::EncodePublicKey;
    use strongroom::asym::{MacAlgorithm, MessageType, SigningAlgorithm};
    use strongroom::model::{KeySpec, KeyUsage};
    let kms = Kms::in_memory("111122223333", "us-east-1").unwrap();
    let mk = |spec, usage| {
        kms.create_key(CreateKeyRequest {
            key_spec: Some(spec),
            key_usage: Some(usage),
            ..Default::default()
        })
        .unwrap()
        .key_metadata
        .key_id
    };
    let signer = mk(KeySpec::EccNistP256, KeyUsage::SignVerify);
    let agree = mk(KeySpec::EccNistP256, KeyUsage::KeyAgreement);
    let hmac = mk(KeySpec::Hmac256, KeyUsage::GenerateVerifyMac);
    let msg = vec![0x42u8; 256];
    let sig = kms
        .sign(SignRequest {
            key_id: signer.clone(),
            message: msg.clone(),
            signing_algorithm: Some(SigningAlgorithm::EcdsaSha256),
            ..Default::default()
        })
        .unwrap()
        .signature;
    let peer_sk = p256::SecretKey::from_slice(&[3u8; 32]).unwrap();
    let peer_pub = peer_sk
        .public_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    let raw_sk = p256::ecdsa::SigningKey::from(&peer_sk);
    let raw_sig: p256::ecdsa::Signature = raw_sk.sign(&msg);
    let raw_vk = p256::ecdsa::VerifyingKey::from(&raw_sk);

    let mut g = c.benchmark_group("p256-sign");
    g.throughput(Throughput::Elements(1));
    g.bench_function("strongroom Sign", |b| {
        b.iter(|| {
            kms.sign(SignRequest {
                key_id: signer.clone(),
                message: black_box(msg.clone()),
                message_type: Some(MessageType::Raw),
                signing_algorithm: Some(SigningAlgorithm::EcdsaSha256),
                ..Default::default()
            })
            .unwrap()
        })
    });
    g.bench_function("peer p256 SigningKey::sign", |b| {
        b.iter(|| {
            let s: p256::ecdsa::Signature = raw_sk.sign(black_box(&msg));
            s
        })
    });
    g.finish();
    let mut g = c.benchmark_group("p256-verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("strongroom Verify", |b| {
        b.iter(|| {
            kms.verify(VerifyRequest {
                key_id: signer.clone(),
                message: black_box(msg.clone()),
                signature: sig.clone(),
                signing_algorithm: Some(SigningAlgorithm::EcdsaSha256),
                ..Default::default()
            })
            .unwrap()
        })
    });
    g.bench_function("peer p256 VerifyingKey::verify", |b| {
        b.iter(|| raw_vk.verify(black_box(&msg), &raw_sig).unwrap())
    });
    g.finish();
    let mut g = c.benchmark_group("p256-ecdh");
    g.throughput(Throughput::Elements(1));
    g.bench_function("strongroom DeriveSharedSecret", |b| {
        b.iter(|| {
            kms.derive_shared_secret(DeriveSharedSecretRequest {
                key_id: agree.clone(),
                key_agreement_algorithm: Some("ECDH".into()),
                public_key: black_box(peer_pub.clone()),
                ..Default::default()
            })
            .unwrap()
        })
    });
    g.bench_function("peer p256 diffie_hellman (SPKI parsed each time)", |b| {
        b.iter(|| {
            use p256::pkcs8::DecodePublicKey;
            let pk = p256::PublicKey::from_public_key_der(black_box(&peer_pub)).unwrap();
            p256::ecdh::diffie_hellman(peer_sk.to_nonzero_scalar(), pk.as_affine())
        })
    });
    g.finish();
    let mut g = c.benchmark_group("hmac-sha256-256B");
    g.throughput(Throughput::Elements(1));
    g.bench_function("strongroom GenerateMac", |b| {
        b.iter(|| {
            kms.generate_mac(GenerateMacRequest {
                key_id: hmac.clone(),
                message: black_box(msg.clone()),
                mac_algorithm: Some(MacAlgorithm::HmacSha256),
                ..Default::default()
            })
            .unwrap()
        })
    });
    g.bench_function("peer hmac::Hmac<Sha256>", |b| {
        use hmac::Mac;
        b.iter(|| {
            let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&[1u8; 32]).unwrap();
            m.update(black_box(&msg));
            m.finalize()
        })
    });
    g.finish();
    kms.prune_audit_log(0).unwrap();
}

criterion_group! {
    name = benches;
    config = criterion::Criterion::default().with_measurement(BenchClock::from_env()).sample_size(30).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench, bench_authorization, bench_asymmetric
}
criterion_main!(benches);
