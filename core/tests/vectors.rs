//! Replays the language-neutral vectors in tests/vectors/core/ (format in
//! tests/vectors/README.md). Every binding replays the same files.
//!
//! Regenerate the generated files (only when a format change is intended,
//! and say so in the commit):
//!   STRONGROOM_REGENERATE=1 cargo test -p strongroom --test vectors -- --ignored
mod common;
use common::{ACCOUNT, REGION, T0};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use strongroom::{json as kjson, DangerousSeededRng, Kms, ManualClock, RootKey};

/// Bytes as an AWS blob in JSON text (standard base64, padded).
fn b64(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/core")
}

fn load(name: &str) -> Value {
    let p = vectors_dir().join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

fn substitute(v: &Value, vars: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => {
            let mut s = s.clone();
            for (k, val) in vars {
                s = s.replace(&format!("${{{k}}}"), val);
            }
            Value::String(s)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn get_path<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(v, |acc, part| match part.parse::<usize>() {
            Ok(i) => &acc[i],
            Err(_) => &acc[part],
        })
}

/// `expected` is a subset of `actual`.
fn partial_match(expected: &Value, actual: &Value, at: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a.get(k).unwrap_or(&Value::Null);
                partial_match(ev, av, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("{at}: expected {} items, got {}", e.len(), a.len()));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                partial_match(ev, av, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        (e, a) if e == a => Ok(()),
        // Numbers compare by value: 1.7e9 == 1700000000 (timestamps are
        // epoch seconds, integers when whole and fractional otherwise).
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => Ok(()),
        (e, a) => Err(format!("{at}: expected {e}, got {a}")),
    }
}

fn seed(s: &Value) -> [u8; 32] {
    hex::decode(s.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

/// The one way every binding opens a scenario's KMS: in memory, the clock at
/// `start_time_ms`, and the seeded RNG (the root key is its first 32 bytes).
fn open(scn: &Value) -> (Kms, ManualClock) {
    let clock = ManualClock::new(scn["start_time_ms"].as_u64().unwrap_or(T0));
    let kms = Kms::builder(ACCOUNT, REGION)
        .clock(clock.clone())
        .rng(DangerousSeededRng::new(seed(&scn["rng_seed"])))
        .in_memory()
        .unwrap();
    (kms, clock)
}

/// One KMS per region for scenarios that name `regions`.
fn open_regions(scn: &Value, clock: &ManualClock) -> Vec<(String, Kms)> {
    let mut out = vec![];
    if let Some(regions) = scn.get("regions").and_then(Value::as_array) {
        for (i, r) in regions.iter().enumerate() {
            let mut seed = seed(&scn["rng_seed"]);
            seed[31] ^= i as u8;
            let k = Kms::builder(ACCOUNT, r.as_str().unwrap())
                .clock(clock.clone())
                .rng(DangerousSeededRng::new(seed))
                .in_memory()
                .unwrap();
            out.push((r.as_str().unwrap().to_string(), k));
        }
    }
    out
}

fn region_call(
    kms: &Kms,
    regions: &[(String, Kms)],
    op: &str,
    request: Value,
) -> strongroom::Result<Value> {
    let find = |r: &str| {
        regions
            .iter()
            .find(|(n, _)| n == r)
            .map(|(_, k)| k.clone())
            .expect("region in the scenario")
    };
    match op {
        "ReplicateKey" => {
            let req: strongroom::api::ReplicateKeyRequest =
                serde_json::from_value(request).unwrap();
            let dest = find(&req.replica_region);
            kms.replicate_key(req, &dest)
                .map(|r| serde_json::to_value(r).unwrap())
        }
        "UpdatePrimaryRegion" => {
            let dest = find(request["PrimaryRegion"].as_str().unwrap());
            kms.update_primary_region(request["KeyId"].as_str().unwrap(), &dest)
                .map(|_| json!({}))
        }
        _ => kjson::call(kms, op, request),
    }
}

fn run_scenario(scn: &Value) -> usize {
    let name = scn["name"].as_str().unwrap();
    let (default_kms, clock) = open(scn);
    let regions = open_regions(scn, &clock);
    let kms = regions
        .first()
        .map(|(_, k)| k.clone())
        .unwrap_or(default_kms);
    let mut vars = HashMap::new();
    let mut n = 0;
    for (i, step) in scn["steps"].as_array().unwrap().iter().enumerate() {
        if let Some(ms) = step.get("advance_ms") {
            clock.advance_ms(ms.as_u64().unwrap());
            continue;
        }
        let op = step["op"].as_str().unwrap();
        let mut request = substitute(step.get("request").unwrap_or(&json!({})), &vars);
        // Policy documents may be written as JSON objects; the API takes text.
        for field in ["Policy", "PolicyDocument"] {
            if let Some(v) = request.get_mut(field) {
                if v.is_object() {
                    *v = Value::String(v.to_string());
                }
            }
        }
        let base = match step.get("Region").and_then(Value::as_str) {
            Some(r) => regions
                .iter()
                .find(|(n, _)| n == r)
                .map(|(_, k)| k.clone())
                .expect("region in the scenario"),
            None => kms.clone(),
        };
        let actor = match step.get("As") {
            Some(c) => base.as_caller(serde_json::from_value(substitute(c, &vars)).unwrap()),
            None => base,
        };
        let result = region_call(&actor, &regions, op, request);
        let ctx = format!("{name} step {i} ({op})");
        match (step.get("error"), result) {
            (Some(code), Err(e)) => {
                assert_eq!(e.code().as_str(), code.as_str().unwrap(), "{ctx}: {e}")
            }
            (Some(code), Ok(v)) => panic!("{ctx}: expected {code}, got {v}"),
            (None, Err(e)) => panic!("{ctx}: unexpected error {e}"),
            (None, Ok(v)) => {
                if let Some(exp) = step.get("expect") {
                    let exp = substitute(exp, &vars);
                    partial_match(&exp, &v, "").unwrap_or_else(|m| panic!("{ctx}: {m}"));
                }
                if let Some(Value::Object(save)) = step.get("save") {
                    for (var, path) in save {
                        let val = get_path(&v, path.as_str().unwrap());
                        let s = match val {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        vars.insert(var.clone(), s);
                    }
                }
            }
        }
        n += 1;
    }
    n
}

#[test]
fn scenarios() {
    let doc = load("scenarios.json");
    assert_eq!(doc["format"], "strongroom-scenarios/1");
    let mut steps = 0;
    for scn in doc["scenarios"].as_array().unwrap() {
        steps += run_scenario(scn);
    }
    assert!(steps > 50, "only {steps} steps ran");
}

#[test]
fn authorization() {
    let doc = load("authorization.json");
    let mut steps = 0;
    for scn in doc["scenarios"].as_array().unwrap() {
        steps += run_scenario(scn);
    }
    assert!(steps >= 200, "only {steps} steps ran");
}

#[test]
fn asymmetric() {
    let doc = load("asymmetric.json");
    let mut steps = 0;
    for scn in doc["scenarios"].as_array().unwrap() {
        steps += run_scenario(scn);
    }
    assert!(steps >= 60, "only {steps} steps ran");
}

#[test]
fn regions_and_import() {
    let doc = load("regions-and-import.json");
    let mut steps = 0;
    for scn in doc["scenarios"].as_array().unwrap() {
        steps += run_scenario(scn);
    }
    assert!(steps >= 50, "only {steps} steps ran");
}

#[test]
fn seeded_known_answers() {
    let doc = load("kat-seeded.json");
    let mut steps = 0;
    for scn in doc["scenarios"].as_array().unwrap() {
        steps += run_scenario(scn);
    }
    assert!(steps >= 10);
}

#[test]
fn encryption_context_encoding() {
    let doc = load("encryption-context.json");
    let cases = doc["cases"].as_array().unwrap();
    for c in cases {
        let ctx: strongroom::EncryptionContext =
            serde_json::from_value(c["context"].clone()).unwrap();
        let got = strongroom::context::canonical_encoding(&ctx);
        match c.get("error") {
            Some(code) => assert_eq!(got.unwrap_err().code().as_str(), code.as_str().unwrap()),
            None => assert_eq!(
                hex::encode(got.unwrap()),
                c["canonical"].as_str().unwrap(),
                "{}",
                c["name"]
            ),
        }
    }
    assert!(cases.len() >= 6);
}

/// The checked-in store written by version 0.1.0: it must open and its
/// blobs must decrypt in every later version.
#[test]
fn fixture_store_v1_opens_and_decrypts() {
    let fx = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/store-v1");
    let expect: Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("expect.json")).unwrap()).unwrap();
    // Copy: opening may write (e.g. audit events of our calls).
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fx.join("strongroom.journal"),
        dir.path().join("strongroom.journal"),
    )
    .unwrap();
    let root = seed(&expect["root_key"]);
    let kms = Kms::builder(ACCOUNT, REGION)
        .clock(ManualClock::new(expect["now_ms"].as_u64().unwrap()))
        .open_file(dir.path(), RootKey::raw(root))
        .unwrap();
    let mut n = 0;
    for b in expect["blobs"].as_array().unwrap() {
        let v = kjson::call(
            &kms,
            "Decrypt",
            json!({"CiphertextBlob": b["blob"], "EncryptionContext": b["context"]}),
        )
        .unwrap();
        assert_eq!(v["Plaintext"], b["plaintext"]);
        assert_eq!(v["KeyId"], b["key_arn"]);
        n += 1;
    }
    assert!(n >= 3);
    let d = kjson::call(&kms, "DescribeKey", json!({"KeyId": expect["alias"]})).unwrap();
    assert_eq!(d["KeyMetadata"]["KeyId"], expect["key_id"]);
    kms.verify_audit_log().unwrap();
}

// ------------------------------------------------------------ generators

fn regenerate() -> bool {
    std::env::var("STRONGROOM_REGENERATE").is_ok()
}

#[test]
#[ignore]
fn generate_kat_seeded() {
    if !regenerate() {
        return;
    }
    let scn_in = json!({
        "name": "seeded known answers",
        "rng_seed": hex::encode([0x5eu8; 32]),
        "start_time_ms": T0,
    });
    let (kms, _) = open(&scn_in);
    let ctx = json!({"tenant": "acme", "purpose": "kat", "region": "us-east-1"});
    type Step = (&'static str, Value, Vec<(&'static str, &'static str)>);
    let script: Vec<Step> = vec![
        (
            "CreateKey",
            json!({"Description": "kat"}),
            vec![("key", "KeyMetadata.KeyId")],
        ),
        (
            "Encrypt",
            json!({"KeyId": "${key}", "Plaintext": b64([0x61; 64]), "EncryptionContext": ctx}),
            vec![("b64", "CiphertextBlob")],
        ),
        (
            "Encrypt",
            json!({"KeyId": "${key}", "Plaintext": b64([0x62; 1024]), "EncryptionContext": ctx}),
            vec![("b1k", "CiphertextBlob")],
        ),
        (
            "Encrypt",
            json!({"KeyId": "${key}", "Plaintext": b64([0x63; 4096]), "EncryptionContext": ctx}),
            vec![("b4k", "CiphertextBlob")],
        ),
        (
            "GenerateDataKey",
            json!({"KeyId": "${key}", "KeySpec": "AES_256", "EncryptionContext": ctx}),
            vec![("dk", "CiphertextBlob")],
        ),
        (
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": "${key}", "NumberOfBytes": 16}),
            vec![],
        ),
        ("GenerateRandom", json!({"NumberOfBytes": 32}), vec![]),
        ("RotateKeyOnDemand", json!({"KeyId": "${key}"}), vec![]),
        (
            "Encrypt",
            json!({"KeyId": "${key}", "Plaintext": b64([0]), "EncryptionContext": {}}),
            vec![("rot", "CiphertextBlob")],
        ),
        (
            "CreateKey",
            json!({"MultiRegion": true}),
            vec![("mrk", "KeyMetadata.KeyId")],
        ),
        (
            "ReEncrypt",
            json!({"CiphertextBlob": "${b64}", "SourceEncryptionContext": ctx, "DestinationKeyId": "${mrk}"}),
            vec![("re", "CiphertextBlob")],
        ),
        (
            "Decrypt",
            json!({"CiphertextBlob": "${b64}", "EncryptionContext": ctx}),
            vec![],
        ),
        (
            "Decrypt",
            json!({"CiphertextBlob": "${b1k}", "EncryptionContext": ctx}),
            vec![],
        ),
        (
            "Decrypt",
            json!({"CiphertextBlob": "${b4k}", "EncryptionContext": ctx}),
            vec![],
        ),
        (
            "Decrypt",
            json!({"CiphertextBlob": "${dk}", "EncryptionContext": ctx}),
            vec![],
        ),
        ("Decrypt", json!({"CiphertextBlob": "${rot}"}), vec![]),
        ("Decrypt", json!({"CiphertextBlob": "${re}"}), vec![]),
        (
            "ListKeyRotations",
            json!({"KeyId": "${key}", "IncludeKeyMaterial": "ALL_KEY_MATERIAL"}),
            vec![],
        ),
        // Asymmetric, HMAC and key-agreement keys: frozen public keys,
        // signatures, MACs, RSA-OAEP ciphertexts, shared secrets and data
        // key pairs (docs/formats/asymmetric.md). Appended after the
        // symmetric steps so their random draws stay where they were.
        (
            "CreateKey",
            json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}),
            vec![("p256", "KeyMetadata.KeyId")],
        ),
        ("GetPublicKey", json!({"KeyId": "${p256}"}), vec![]),
        (
            "Sign",
            json!({"KeyId": "${p256}", "Message": b64("kat"), "SigningAlgorithm": "ECDSA_SHA_256"}),
            vec![("sig", "Signature")],
        ),
        (
            "Verify",
            json!({"KeyId": "${p256}", "Message": b64("kat"), "Signature": "${sig}", "SigningAlgorithm": "ECDSA_SHA_256"}),
            vec![],
        ),
        (
            "CreateKey",
            json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}),
            vec![("hmac", "KeyMetadata.KeyId")],
        ),
        (
            "GenerateMac",
            json!({"KeyId": "${hmac}", "Message": b64("kat"), "MacAlgorithm": "HMAC_SHA_256"}),
            vec![],
        ),
        (
            "CreateKey",
            json!({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}),
            vec![("rsa", "KeyMetadata.KeyId")],
        ),
        ("GetPublicKey", json!({"KeyId": "${rsa}"}), vec![]),
        (
            "Encrypt",
            json!({"KeyId": "${rsa}", "Plaintext": b64("kat"), "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
            vec![("rct", "CiphertextBlob")],
        ),
        (
            "Decrypt",
            json!({"KeyId": "${rsa}", "CiphertextBlob": "${rct}", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
            vec![],
        ),
        (
            "CreateKey",
            json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"}),
            vec![("ka", "KeyMetadata.KeyId")],
        ),
        (
            "CreateKey",
            json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"}),
            vec![("kb", "KeyMetadata.KeyId")],
        ),
        (
            "GetPublicKey",
            json!({"KeyId": "${kb}"}),
            vec![("pb", "PublicKey")],
        ),
        (
            "DeriveSharedSecret",
            json!({"KeyId": "${ka}", "KeyAgreementAlgorithm": "ECDH", "PublicKey": "${pb}"}),
            vec![],
        ),
        (
            "GenerateDataKeyPair",
            json!({"KeyId": "${key}", "KeyPairSpec": "ECC_NIST_P256", "EncryptionContext": ctx}),
            vec![],
        ),
    ];
    let mut vars = HashMap::new();
    let mut steps = vec![];
    for (op, req, save) in script {
        let v = kjson::call(&kms, op, substitute(&req, &vars)).unwrap();
        let mut step = Map::new();
        step.insert("op".into(), json!(op));
        step.insert("request".into(), req);
        step.insert("expect".into(), v.clone());
        if !save.is_empty() {
            let mut s = Map::new();
            for (var, path) in save {
                s.insert(var.into(), json!(path));
                vars.insert(
                    var.to_string(),
                    get_path(&v, path).as_str().unwrap().to_string(),
                );
            }
            step.insert("save".into(), Value::Object(s));
        }
        steps.push(Value::Object(step));
    }
    let mut scn = scn_in.as_object().unwrap().clone();
    scn.insert("steps".into(), Value::Array(steps));
    let doc = json!({
        "format": "strongroom-scenarios/1",
        "description": "Generated: a seeded RNG and a fixed clock give exact bytes. These freeze ciphertext blob format v1, the asymmetric, HMAC and key-agreement outputs (docs/formats/asymmetric.md) and the order of random draws. Regenerate only for an intended format change.",
        "account": ACCOUNT,
        "region": REGION,
        "scenarios": [Value::Object(scn)],
    });
    std::fs::write(
        vectors_dir().join("kat-seeded.json"),
        serde_json::to_string_pretty(&doc).unwrap() + "\n",
    )
    .unwrap();
}

#[test]
#[ignore]
fn generate_fixture_store_v1() {
    if !regenerate() {
        return;
    }
    let fx = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/store-v1");
    // The fixture is what 0.1.0 wrote (journal format version 1); this build
    // writes version 2, so it can only make a fixture where there is none.
    if fx.join("strongroom.journal").exists() {
        return;
    }
    let root = [0x42u8; 32];
    let clock = ManualClock::new(T0);
    let kms = Kms::builder(ACCOUNT, REGION)
        .clock(clock.clone())
        .open_file(&fx, RootKey::raw(root))
        .unwrap();
    let key = kjson::call(&kms, "CreateKey", json!({"Description": "fixture"})).unwrap()
        ["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    kjson::call(
        &kms,
        "CreateAlias",
        json!({"AliasName": "alias/fixture", "TargetKeyId": key}),
    )
    .unwrap();
    let mut blobs = vec![];
    for (i, (pt, ctx)) in [
        ("hello fixture", json!({})),
        ("with context", json!({"a": "1", "b": "2"})),
        ("after rotation", json!({"unicode": "ключ ✓"})),
    ]
    .iter()
    .enumerate()
    {
        if i == 2 {
            kjson::call(&kms, "RotateKeyOnDemand", json!({"KeyId": key})).unwrap();
        }
        let r = kjson::call(
            &kms,
            "Encrypt",
            json!({"KeyId": "alias/fixture", "Plaintext": b64(pt), "EncryptionContext": ctx}),
        )
        .unwrap();
        blobs.push(json!({"blob": r["CiphertextBlob"], "context": ctx, "plaintext": b64(pt), "key_arn": r["KeyId"]}));
    }
    kms.flush().unwrap();
    drop(kms);
    let expect = json!({
        "description": "Store written by strongroom 0.1.0 (journal format 1, schema 1). Root key is a public TEST value.",
        "root_key": hex::encode(root),
        "now_ms": T0 + 1000,
        "key_id": key,
        "alias": "alias/fixture",
        "blobs": blobs,
    });
    std::fs::write(
        fx.join("expect.json"),
        serde_json::to_string_pretty(&expect).unwrap() + "\n",
    )
    .unwrap();
}
