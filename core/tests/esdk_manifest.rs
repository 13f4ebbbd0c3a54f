//! The AWS Encryption SDK's canonical test manifest
//! (`tests/vectors/esdk/manifest/`, 2,860 tests with raw AES and raw RSA
//! keys): the official Python SDK encrypts every test
//! (`tests/interop/esdk_manifest.py generate`, cached by its inputs) and
//! Strongroom's keyrings, built from `KeyringSpec` as the bindings build
//! them, must decrypt every one; then Strongroom encrypts what it can and
//! the official SDK must decrypt all of it.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use strongroom::esdk::{
    self, CommitmentPolicy, DecryptOptions, EncryptOptions, Encryptor, Keyring, KeyringSpec,
    RsaPadding,
};
use strongroom::{EncryptionContext, OsRng};

const RAW_TESTS: usize = 2860;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> String {
    std::env::var("STRONGROOM_ESDK_PYTHON")
        .expect("set STRONGROOM_ESDK_PYTHON to a python with aws-encryption-sdk (make test does)")
}

fn script() -> PathBuf {
    repo().join("tests/interop/esdk_manifest.py")
}

fn run(args: &[&str]) -> String {
    let out = std::process::Command::new(python())
        .arg(script())
        .args(args)
        .output()
        .expect("python runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "esdk_manifest.py {args:?}: {text}");
    text
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn file_uri(base: &Path, uri: &str) -> PathBuf {
    base.join(uri.strip_prefix("file://").expect("file:// URI"))
}

/// The official SDK's decrypt manifest, generated once per set of inputs
/// (encrypt manifest, keys, script, SDK) into ~/.cache.
fn official_manifest() -> PathBuf {
    let src = repo().join("tests/vectors/esdk/manifest");
    let encrypt = src.join("0003-awses-message-encryption.v2.json");
    let mut h = Sha256::new();
    for f in [&encrypt, &src.join("0002-keys.v3.json"), &script()] {
        h.update(std::fs::read(f).unwrap());
    }
    let version = std::process::Command::new(python())
        .args([
            "-c",
            "import aws_encryption_sdk; print(aws_encryption_sdk.__version__)",
        ])
        .output()
        .unwrap();
    h.update(&version.stdout);
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let dir = Path::new(&home)
        .join(".cache/strongroom-esdk-manifest")
        .join(hex::encode(&h.finalize()[..12]));
    if !dir.join("manifest.json").exists() {
        let tmp = dir.with_extension("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        run(&["generate", encrypt.to_str().unwrap(), tmp.to_str().unwrap()]);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&tmp, &dir).unwrap();
    }
    // `current`: where the Python package's test (python/tests/
    // test_keyrings.py) finds the same manifest.
    let current = dir.with_file_name("current");
    let _ = std::fs::remove_file(&current);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&dir, &current).unwrap();
    dir
}

fn padding(spec: &Value) -> RsaPadding {
    match (
        spec["padding-algorithm"].as_str().unwrap(),
        spec["padding-hash"].as_str(),
    ) {
        ("pkcs1", _) => RsaPadding::Pkcs1,
        ("oaep-mgf1", Some("sha1")) => RsaPadding::OaepSha1Mgf1,
        ("oaep-mgf1", Some("sha256")) => RsaPadding::OaepSha256Mgf1,
        ("oaep-mgf1", Some("sha384")) => RsaPadding::OaepSha384Mgf1,
        ("oaep-mgf1", Some("sha512")) => RsaPadding::OaepSha512Mgf1,
        other => panic!("unknown padding {other:?}"),
    }
}

/// The keyring spec of one manifest master key, or `None` for a key that
/// cannot decrypt when decrypting (an encrypt-only public key).
fn spec_of(mk: &Value, keys: &Value, for_decrypt: bool) -> Option<KeyringSpec> {
    let key = &keys[mk["key"].as_str().unwrap()];
    let name = key["key-id"].as_str().unwrap().to_string();
    let namespace = mk["provider-id"].as_str().unwrap().to_string();
    let material = key["material"].as_str().unwrap();
    Some(match mk["encryption-algorithm"].as_str().unwrap() {
        "aes" => KeyringSpec::RawAes {
            key_namespace: namespace,
            key_name: name,
            wrapping_key: base64::engine::general_purpose::STANDARD
                .decode(material)
                .unwrap()
                .into(),
        },
        "rsa" => {
            let private = key["type"] == "private";
            if for_decrypt && !key["decrypt"].as_bool().unwrap() {
                return None;
            }
            KeyringSpec::RawRsa {
                key_namespace: namespace,
                key_name: name,
                padding_scheme: padding(mk),
                public_key: (!private).then(|| material.as_bytes().to_vec()),
                private_key: private.then(|| material.as_bytes().into()),
            }
        }
        other => panic!("unknown algorithm {other}"),
    })
}

/// A multi-keyring of the test's master keys (the first generates), built
/// once per distinct list.
fn keyring(
    cache: &mut BTreeMap<String, Arc<dyn Keyring>>,
    mks: &Value,
    keys: &Value,
    for_decrypt: bool,
) -> Arc<dyn Keyring> {
    let id = format!("{for_decrypt}{mks}");
    cache
        .entry(id)
        .or_insert_with(|| {
            let mut rings: Vec<Arc<dyn Keyring>> = mks
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|mk| spec_of(mk, keys, for_decrypt))
                .map(|s| s.build(None).unwrap())
                .collect();
            let first = rings.remove(0);
            esdk::multi(Some(first), rings).unwrap()
        })
        .clone()
}

fn context(v: &Value) -> EncryptionContext {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
#[ignore = "needs the official aws-encryption-sdk (Python); make test runs it"]
fn every_official_message_of_the_canonical_manifest_decrypts() {
    let dir = official_manifest();
    let manifest = read_json(&dir.join("manifest.json"));
    let keys = &read_json(&file_uri(&dir, manifest["keys"].as_str().unwrap()))["keys"];
    let tests = manifest["tests"].as_object().unwrap();
    assert_eq!(tests.len(), RAW_TESTS, "every raw-key test was generated");
    let opts = DecryptOptions::with_policy(CommitmentPolicy::RequireEncryptAllowDecrypt);
    let mut rings = BTreeMap::new();
    let mut failed = Vec::new();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for (name, t) in tests {
        let ct = std::fs::read(file_uri(&dir, t["ciphertext"].as_str().unwrap())).unwrap();
        let want = std::fs::read(file_uri(&dir, t["plaintext"].as_str().unwrap())).unwrap();
        let ring = keyring(&mut rings, &t["master-keys"], keys, true);
        match esdk::decrypt_with(&ring, &ct, &opts) {
            Ok(d) if d.plaintext.as_bytes() == &want[..] => {
                for (k, v) in context(&t["encryption-context"]) {
                    assert_eq!(d.info.encryption_context.get(&k), Some(&v), "{name}");
                }
                let mk = &t["master-keys"][0];
                *by_kind
                    .entry(format!(
                        "{} {}",
                        mk["encryption-algorithm"].as_str().unwrap(),
                        mk["padding-hash"]
                            .as_str()
                            .or(mk["padding-algorithm"].as_str())
                            .unwrap_or("")
                    ))
                    .or_default() += 1;
            }
            Ok(_) => failed.push(format!("{name}: wrong plaintext")),
            Err(e) => failed.push(format!("{name}: {}", e.code().as_str())),
        }
    }
    eprintln!(
        "decrypted {} of {}: {by_kind:?}",
        RAW_TESTS - failed.len(),
        RAW_TESTS
    );
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(10)]
    );
}

/// Strongroom encrypts every test with the same keys, context, suite and
/// frame size (the 9 legacy suites under `ForbidEncryptAllowDecrypt`,
/// non-framed bodies where the frame size is 0), into an awses-decrypt
/// manifest the official SDK must decrypt whole.
#[test]
#[ignore = "needs the official aws-encryption-sdk (Python); make test runs it"]
fn the_official_sdk_decrypts_what_strongroom_encrypts() {
    let src = repo().join("tests/vectors/esdk/manifest");
    let encrypt = read_json(&src.join("0003-awses-message-encryption.v2.json"));
    let keys = read_json(&src.join("0002-keys.v3.json"));
    let keys = &keys["keys"];
    let out = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(out.path().join("plaintexts")).unwrap();
    std::fs::create_dir_all(out.path().join("ciphertexts")).unwrap();
    std::fs::copy(src.join("0002-keys.v3.json"), out.path().join("keys.json")).unwrap();
    let mut plaintexts = BTreeMap::new();
    for (name, size) in encrypt["plaintexts"].as_object().unwrap() {
        let pt: Vec<u8> = (0..size.as_u64().unwrap())
            .map(|i| (i * 31 + 7) as u8)
            .collect();
        std::fs::write(out.path().join("plaintexts").join(name), &pt).unwrap();
        plaintexts.insert(name.clone(), pt);
    }
    let mut rings = BTreeMap::new();
    let mut tests = serde_json::Map::new();
    let (mut raw, mut legacy, mut unframed) = (0usize, 0usize, 0usize);
    for (name, t) in encrypt["tests"].as_object().unwrap() {
        let mks = &t["master-keys"];
        if mks.as_array().unwrap().iter().any(|m| m["type"] != "raw") {
            continue;
        }
        raw += 1;
        let suite = u16::from_str_radix(t["algorithm"].as_str().unwrap(), 16).unwrap();
        let frame = t["frame-size"].as_u64().unwrap() as u32;
        let committing = matches!(suite, 0x0478 | 0x0578);
        legacy += usize::from(!committing);
        unframed += usize::from(frame == 0);
        let pt = &plaintexts[t["plaintext"].as_str().unwrap()];
        let ring = keyring(&mut rings, mks, keys, false);
        let opts = EncryptOptions {
            suite,
            frame_length: frame,
            plaintext_length: Some(pt.len() as u64),
            commitment_policy: if committing {
                CommitmentPolicy::RequireEncryptRequireDecrypt
            } else {
                CommitmentPolicy::ForbidEncryptAllowDecrypt
            },
        };
        let mut e =
            Encryptor::new(&ring, &context(&t["encryption-context"]), &opts, &OsRng).unwrap();
        let mut msg = Vec::new();
        e.update(pt, &mut msg).unwrap();
        e.finish(&mut msg).unwrap();
        std::fs::write(out.path().join("ciphertexts").join(name), &msg).unwrap();
        tests.insert(
            name.clone(),
            serde_json::json!({
                "plaintext": format!("file://plaintexts/{}", t["plaintext"].as_str().unwrap()),
                "ciphertext": format!("file://ciphertexts/{name}"),
                "master-keys": mks,
            }),
        );
    }
    assert_eq!(raw, RAW_TESTS);
    let encrypted = tests.len();
    let manifest = serde_json::json!({
        "manifest": {"type": "awses-decrypt", "version": 2},
        "client": {"name": "strongroom", "version": env!("CARGO_PKG_VERSION")},
        "keys": "file://keys.json",
        "tests": tests,
    });
    let path = out.path().join("manifest.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let report = run(&["decrypt", path.to_str().unwrap()]);
    eprintln!("{report}strongroom encrypted {encrypted} of {raw} ({legacy} with legacy suites, {unframed} non-framed)");
    assert!(
        report.contains(&format!("decrypted {encrypted} of {encrypted}")),
        "{report}"
    );
    assert_eq!(encrypted, RAW_TESTS);
    assert!(legacy > 0 && unframed > 0);
}
