//! Envelope encryption (ESDK message format) throughput: 1 KiB, 64 KiB,
//! 1 MiB and 16 MiB, encrypt and decrypt, suites 0x0478 and 0x0578, with a
//! KMS keyring (one GenerateDataKey / Decrypt per message) and with the
//! caching materials manager in front of it. Peer in the same run: a bare
//! RustCrypto AES-256-GCM seal of the same buffer (one nonce, no framing);
//! `make bench` also prints `openssl speed -evp aes-256-gcm` beside it.
//!
//! Run: cargo bench -p strongroom --bench envelope
use aes_gcm::aead::{AeadInPlace, KeyInit};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;
use strongroom::api::*;
use strongroom::esdk::{
    self, CachingCmm, CachingConfig, DecryptOptions, EncryptOptions, KmsKeyring, MaterialsCache,
    MaterialsManager,
};
use strongroom::{Kms, OsRng, SystemClock};

fn bench(c: &mut Criterion) {
    let kms = Kms::in_memory("111122223333", "us-east-1").unwrap();
    let key = kms
        .create_key(CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let ring = KmsKeyring::new(&kms, key);
    let cache = MaterialsCache::new(16, SystemClock).unwrap();
    let cached = CachingCmm::new(
        ring.clone(),
        cache,
        CachingConfig {
            max_age_ms: 600_000,
            max_messages_encrypted: 1 << 32,
            ..Default::default()
        },
    )
    .unwrap();
    let ctx = context([("tenant", "acme"), ("purpose", "benchmark")]);
    let aes = aes_gcm::Aes256Gcm::new_from_slice(&[7u8; 32]).unwrap();
    let nonce = aes_gcm::Nonce::from_slice(&[1u8; 12]);
    for (size, label) in [
        (1usize << 10, "1KiB"),
        (64 << 10, "64KiB"),
        (1 << 20, "1MiB"),
        (16 << 20, "16MiB"),
    ] {
        let pt = vec![0x5au8; size];
        let mut g = c.benchmark_group(format!("envelope/{label}"));
        g.throughput(Throughput::Bytes(size as u64));
        if size >= 1 << 20 {
            g.sample_size(10);
        }
        let mut buf = pt.clone();
        g.bench_function("peer-aes256gcm-seal", |b| {
            b.iter(|| {
                aes.encrypt_in_place_detached(nonce, b"", black_box(&mut buf))
                    .unwrap()
            })
        });
        for suite in [
            esdk::SUITE_AES256_HKDF_SHA512_COMMIT,
            esdk::SUITE_AES256_HKDF_SHA512_COMMIT_ECDSA_P384,
        ] {
            let opts = EncryptOptions {
                suite,
                frame_length: esdk::DEFAULT_FRAME_LENGTH,
                plaintext_length: Some(size as u64),
                ..Default::default()
            };
            let cmms: [(&str, &dyn MaterialsManager); 2] = [("kms", &ring), ("kms+cache", &cached)];
            for (name, cmm) in cmms {
                g.bench_function(
                    BenchmarkId::new(format!("encrypt-{suite:04x}"), name),
                    |b| {
                        b.iter(|| {
                            esdk::encrypt_with(cmm, black_box(&pt), &ctx, &opts, &OsRng).unwrap()
                        })
                    },
                );
                let msg = esdk::encrypt_with(cmm, &pt, &ctx, &opts, &OsRng).unwrap();
                g.bench_function(
                    BenchmarkId::new(format!("decrypt-{suite:04x}"), name),
                    |b| {
                        b.iter(|| {
                            esdk::decrypt_with(cmm, black_box(&msg), &DecryptOptions::default())
                                .unwrap()
                        })
                    },
                );
            }
            kms.prune_audit_log(0).unwrap();
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
