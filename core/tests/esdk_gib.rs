//! 1 GiB through encrypt and decrypt in constant memory: the plaintext is
//! generated on the fly, the message is decrypted as it is produced, and
//! the result is checked against the generator without ever holding more
//! than a few frames.
use std::io::{Read, Write};
use strongroom::esdk::{self, DecryptOptions, EncryptOptions, RawAesKeyring};
use strongroom::OsRng;

const GIB: u64 = 1 << 30;

/// Deterministic bytes: position-dependent, cheap to regenerate.
fn byte_at(i: u64) -> u8 {
    (i.wrapping_mul(0x9E37_79B9) >> 7) as u8 ^ (i >> 20) as u8
}

struct Source {
    pos: u64,
    end: u64,
}
impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = ((self.end - self.pos) as usize).min(buf.len());
        for (k, b) in buf[..n].iter_mut().enumerate() {
            *b = byte_at(self.pos + k as u64);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Checks every byte against the generator.
struct Check {
    pos: u64,
}
impl Write for Check {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for (k, b) in buf.iter().enumerate() {
            assert_eq!(
                *b,
                byte_at(self.pos + k as u64),
                "byte {}",
                self.pos + k as u64
            );
        }
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn one_gib_round_trip_in_constant_memory() {
    let keyring = RawAesKeyring::new("ns", "big", &[3; 32]).unwrap();
    let ctx = strongroom::api::context([("size", "1GiB")]);
    let before = peak_rss_kib();
    let started = std::time::Instant::now();
    let r2 = RawAesKeyring::new("ns", "big", &[3; 32]).unwrap();
    let decrypting = esdk::DecryptingWriter::new(&r2, DecryptOptions::default(), Check { pos: 0 });
    let mut source = Source { pos: 0, end: GIB };
    let mut enc = esdk::EncryptingWriter::new(
        &keyring,
        &ctx,
        &EncryptOptions {
            frame_length: 64 * 1024,
            ..Default::default()
        },
        &OsRng,
        decrypting,
    )
    .unwrap();
    std::io::copy(&mut source, &mut enc).unwrap();
    let decrypting = enc.finish().unwrap();
    let (check, info) = decrypting.finish().unwrap();
    assert_eq!(check.pos, GIB);
    assert_eq!(info.suite, esdk::SUITE_AES256_HKDF_SHA512_COMMIT_ECDSA_P384);
    let grown = peak_rss_kib().saturating_sub(before);
    eprintln!(
        "1 GiB encrypted and decrypted (signed suite, 64 KiB frames) in {:.1?}; peak RSS grew by {grown} KiB",
        started.elapsed()
    );
    if before > 0 {
        assert!(grown < 32 * 1024, "peak RSS grew by {grown} KiB");
    }
}
