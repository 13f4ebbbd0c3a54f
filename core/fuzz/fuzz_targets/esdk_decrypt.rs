//! The AWS Encryption SDK message reader: any bytes are an error or a
//! real decryption, never a panic. Uses the permissive commitment policy so
//! every header version, suite and body form is parsed. The push decryptor
//! is also fed the same bytes in chunks (sizes from the first byte), which
//! must give the same verdict as the whole-buffer call; re-wrapping parses
//! the same bytes on its own path, and so does the delegated (WebCrypto)
//! reader, whose frame layout must open to the same plaintext whenever the
//! whole-buffer call succeeds on an unsigned framed message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strongroom::esdk::{self, CommitmentPolicy, DecryptOptions, RawAesKeyring};

fuzz_target!(|data: &[u8]| {
    let k = RawAesKeyring::new("fuzz", "key", &[7u8; 32]).unwrap();
    let whole = esdk::decrypt_with_policy(&k, data, CommitmentPolicy::RequireEncryptAllowDecrypt);
    let _ = esdk::decrypt(&k, data);
    let opts = DecryptOptions::with_policy(CommitmentPolicy::RequireEncryptAllowDecrypt);
    let chunk = data.first().map(|b| *b as usize % 61 + 1).unwrap_or(1);
    let mut d = esdk::Decryptor::new(&k, opts);
    let mut out = Vec::new();
    let mut ok = true;
    for c in data.chunks(chunk) {
        if d.update(c, &mut out).is_err() {
            ok = false;
            break;
        }
    }
    let streamed = ok && d.finish(&mut out).is_ok();
    assert_eq!(streamed, whole.is_ok());
    if let Ok((pt, _)) = &whole {
        assert_eq!(pt.as_bytes(), &out[..]);
    }
    if let Ok(dd) = esdk::DelegatedDecryption::new(&k, data, &opts) {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let gcm = aes_gcm::Aes256Gcm::new_from_slice(&dd.content_key).unwrap();
        // Stands in for WebCrypto's ECDSA verify.
        let signature_ok = match &dd.signature {
            None => true,
            Some(sig) => {
                let signed = &data[..sig.signed_len];
                match sig.curve {
                    "P-256" => {
                        use p256::ecdsa::signature::Verifier;
                        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sig.public_key).unwrap();
                        let s = p256::ecdsa::Signature::from_slice(&sig.signature).unwrap();
                        vk.verify(signed, &s).is_ok()
                    }
                    _ => {
                        use p384::ecdsa::signature::Verifier;
                        let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(&sig.public_key).unwrap();
                        let s = p384::ecdsa::Signature::from_slice(&sig.signature).unwrap();
                        vk.verify(signed, &s).is_ok()
                    }
                }
            }
        };
        let opened: Result<Vec<Vec<u8>>, _> = dd
            .frames
            .iter()
            .map(|f| {
                let ct = &data[f.offset..f.offset + f.len + 16];
                gcm.decrypt((&f.iv).into(), Payload { msg: ct, aad: &f.aad })
            })
            .collect();
        let opened = if signature_ok { opened.map_err(|_| ()) } else { Err(()) };
        match (&whole, opened) {
            (Ok((pt, _)), Ok(frames)) => assert_eq!(pt.as_bytes(), &frames.concat()[..]),
            (Ok(_), Err(_)) => panic!("the delegated reader refused a valid message"),
            (Err(_), Ok(_)) => panic!("the delegated reader accepted an invalid message"),
            (Err(_), Err(_)) => {}
        }
    }
    let k2 = RawAesKeyring::new("fuzz", "other", &[8u8; 32]).unwrap();
    let _ = esdk::rewrap_stream(&k, &k2, &mut &data[..], &mut Vec::new(), &opts, &strongroom::OsRng);
});
