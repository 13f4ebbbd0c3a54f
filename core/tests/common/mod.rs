#![allow(dead_code)]
use strongroom::api::*;
use strongroom::{DangerousSeededRng, Kms, ManualClock};

pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "us-east-1";
/// 2026-01-01T00:00:00Z
pub const T0: u64 = 1_767_225_600_000;

pub fn kms() -> (Kms, ManualClock) {
    let clock = ManualClock::new(T0);
    let kms = Kms::builder(ACCOUNT, REGION)
        .clock(clock.clone())
        .rng(DangerousSeededRng::new([7; 32]))
        .in_memory()
        .unwrap();
    (kms, clock)
}

pub fn new_key(kms: &Kms) -> String {
    kms.create_key(CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id
}

pub fn enc(kms: &Kms, key: &str, pt: &[u8], ctx: &EncryptionContextT) -> Vec<u8> {
    kms.encrypt(EncryptRequest {
        key_id: key.into(),
        plaintext: pt.to_vec().into(),
        encryption_context: ctx.clone(),
        ..Default::default()
    })
    .unwrap()
    .ciphertext_blob
}

pub type EncryptionContextT = strongroom::EncryptionContext;

pub fn dec(kms: &Kms, blob: &[u8], ctx: &EncryptionContextT) -> strongroom::Result<Vec<u8>> {
    kms.decrypt(DecryptRequest {
        ciphertext_blob: blob.to_vec(),
        encryption_context: ctx.clone(),
        ..Default::default()
    })
    .map(|r| r.plaintext.as_bytes().to_vec())
}

pub fn describe(kms: &Kms, id: impl Into<String>) -> strongroom::model::KeyMetadata {
    kms.describe_key(DescribeKeyRequest {
        key_id: id.into(),
        ..Default::default()
    })
    .unwrap()
    .key_metadata
}

pub fn code<T: std::fmt::Debug>(r: strongroom::Result<T>) -> &'static str {
    r.expect_err("expected an error").code().as_str()
}

/// A deterministic `rand_core` 0.10 source (splitmix64) for padding and
/// salts in tests that use the RSA crate directly. Never for keys.
pub struct TestRng(pub u64);

impl rsa::rand_core::TryRng for TestRng {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for c in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
        Ok(())
    }
}
impl rsa::rand_core::TryCryptoRng for TestRng {}
