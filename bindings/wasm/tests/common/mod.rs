//! The wasm-bindgen-test cases, shared by tests/node.rs (Node) and
//! tests/browser.rs (headless Chromium): they drive the exported classes
//! exactly as JavaScript does, with JS values in and out.
#![allow(dead_code)]

/// The suite itself: one `#[wasm_bindgen_test]` per case below, expanded
/// by `wasm_suite!()` in tests/node.rs and tests/browser.rs.
macro_rules! wasm_suite {
    () => {
        wasm_suite!(
            object_api,
            platform_randomness_and_clock,
            envelope_streams_and_cache,
            decrypt_stream_buffers_never_grow,
            snapshots,
            known_answer_vectors,
        );
    };
    ($($case:ident),+ $(,)?) => {
        $(
            #[wasm_bindgen_test::wasm_bindgen_test]
            fn $case() {
                common::$case()
            }
        )+
    };
}

use js_sys::{Array, Object, Reflect, Uint8Array};
use serde_json::{json, Value};
use std::collections::HashMap;
use strongroom_wasm::{Envelope, Kms, ManualClock};
use wasm_bindgen::{JsCast, JsValue};

pub fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

pub fn get(v: &JsValue, path: &str) -> JsValue {
    path.split('.')
        .fold(v.clone(), |acc, k| Reflect::get(&acc, &k.into()).unwrap())
}

pub fn text(v: &JsValue, path: &str) -> String {
    get(v, path)
        .as_string()
        .unwrap_or_else(|| panic!("{path} is not a string"))
}

pub fn bytes(v: &JsValue, path: &str) -> Vec<u8> {
    let b = get(v, path);
    assert!(b.is_instance_of::<Uint8Array>(), "{path} is a Uint8Array");
    b.unchecked_into::<Uint8Array>().to_vec()
}

/// Bytes as an AWS blob in JSON text (standard base64).
pub fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

pub fn js_bytes(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}

pub fn code(e: JsValue) -> String {
    assert!(e.is_instance_of::<js_sys::Error>(), "errors are JS Errors");
    get(&e, "code").as_string().expect("a code property")
}

pub fn object_api() {
    let kms = Kms::in_memory(None, None).unwrap();
    let created = kms
        .createKey(&json!({"description": "wasm test"}).to_string())
        .unwrap();
    assert_eq!(text(&created, "keyMetadata.keyState"), "Enabled");
    // Absent members are left out (AWS's wire shape), not null.
    assert!(get(&created, "keyMetadata.deletionDate").is_undefined());
    let key_id = text(&created, "keyMetadata.keyId");
    kms.createAlias(&json!({"aliasName": "alias/t", "targetKeyId": key_id}).to_string())
        .unwrap();
    let ctx = json!({"Tenant": "acme"});
    // Secrets cross as bytes: the plaintext in its own argument, never in
    // the JSON; the decrypted plaintext back as a Uint8Array.
    let enc = kms
        .encrypt(
            &json!({"keyId": "alias/t", "encryptionContext": ctx}).to_string(),
            js_bytes(b"secret"),
        )
        .unwrap();
    let in_json = kms.encrypt(
        &json!({"keyId": "alias/t", "plaintext": b64(b"secret")}).to_string(),
        JsValue::UNDEFINED,
    );
    assert_eq!(code(in_json.unwrap_err()), "ValidationException");
    let blob = text(&enc, "ciphertextBlob");
    let dec = kms
        .decrypt(&json!({"ciphertextBlob": blob, "encryptionContext": ctx}).to_string())
        .unwrap();
    assert_eq!(bytes(&dec, "plaintext"), b"secret");
    let dk = kms
        .generate_data_key(&json!({"keyId": key_id, "keySpec": "AES_256"}).to_string())
        .unwrap();
    let again = kms
        .decrypt(&json!({"ciphertextBlob": b64(&bytes(&dk, "ciphertextBlob"))}).to_string())
        .unwrap();
    assert_eq!(bytes(&dk, "plaintext").len(), 32);
    assert_eq!(bytes(&again, "plaintext"), bytes(&dk, "plaintext"));
    let wrong = kms
        .decrypt(
            &json!({"ciphertextBlob": blob, "encryptionContext": {"Tenant": "other"}}).to_string(),
        )
        .unwrap_err();
    let message = get(&wrong, "message").as_string().unwrap();
    assert_eq!(code(wrong), "InvalidCiphertextException");
    assert!(!message.contains("secret"));
    let missing = kms
        .describeKey(&json!({"keyId": "alias/none"}).to_string())
        .unwrap_err();
    assert_eq!(code(missing), "NotFoundException");
    assert_eq!(
        code(kms.call("Nope", "{}").unwrap_err()),
        "ValidationException"
    );
    assert_eq!(
        code(kms.call("ListKeys", "{not json").unwrap_err()),
        "ValidationException"
    );
    let grants = kms
        .createGrant(
            &json!({"keyId": key_id, "granteePrincipal": "arn:aws:iam::111122223333:role/r",
                "operations": ["Decrypt"], "constraints": {"encryptionContextSubset": {"KeepCase": "x"}}})
            .to_string(),
        )
        .unwrap();
    assert!(!text(&grants, "grantToken").is_empty());
    let listed = kms
        .listGrants(&json!({"keyId": key_id}).to_string())
        .unwrap();
    let first = Array::from(&get(&listed, "grants")).get(0);
    assert_eq!(
        text(&first, "constraints.encryptionContextSubset.KeepCase"),
        "x"
    );
}

/// Two in-memory KMSs draw their keys from the platform's randomness.
pub fn platform_randomness_and_clock() {
    let a = Kms::in_memory(None, None).unwrap();
    let r1 = bytes(
        &a.generate_random(r#"{"numberOfBytes": 32}"#).unwrap(),
        "plaintext",
    );
    let r2 = bytes(
        &a.generate_random(r#"{"numberOfBytes": 32}"#).unwrap(),
        "plaintext",
    );
    assert_eq!(r1.len(), 32);
    assert_ne!(r1, r2);
    let created = a.createKey("{}").unwrap();
    // Epoch seconds, as AWS writes timestamps.
    let when = get(&created, "keyMetadata.creationDate").as_f64().unwrap() * 1000.0;
    assert!(
        (when - js_sys::Date::now()).abs() < 60_000.0,
        "clock is Date.now()"
    );
}

pub fn envelope_streams_and_cache() {
    let kms = Kms::in_memory(None, None).unwrap();
    let key = text(&kms.createKey("{}").unwrap(), "keyMetadata.arn");
    let cache = obj(&[("cache", obj(&[("capacity", 4.into())]))]);
    let env = Envelope::for_kms(&kms, vec![key.clone()], cache).unwrap();
    let data: Vec<u8> = (0..50_000u32).map(|i| (i * 13) as u8).collect();
    let ctx = obj(&[("file", "a".into())]);
    let mut e = env
        .encryptor(ctx.clone(), Some(0x0478), Some(1024), None)
        .unwrap();
    let mut msg = Vec::new();
    for c in data.chunks(999) {
        msg.extend(e.update(js_bytes(c)).unwrap().to_vec());
    }
    msg.extend(e.finish().unwrap().to_vec());
    assert!(e.finish().is_err(), "a finished stream refuses more");
    let mut d = env.decryptor(None);
    let mut out = Vec::new();
    for c in msg.chunks(333) {
        out.extend(d.update(c).unwrap().to_vec());
    }
    let last = d.finish().unwrap();
    let tail: Uint8Array = get(&last, "plaintext").unchecked_into();
    out.extend(tail.to_vec());
    assert_eq!(out, data);
    assert_eq!(get(&last, "keyName").as_string().unwrap(), key);
    let whole = env
        .encrypt(js_bytes(&data), ctx.clone(), None, None)
        .unwrap();
    env.encrypt(js_bytes(&data), ctx, None, None).unwrap();
    let stats = env.cache_stats().unwrap();
    assert!(get(&stats, "hits").as_f64().unwrap() >= 1.0);
    let mut tampered = whole.clone();
    let n = tampered.len();
    tampered[n - 120] ^= 1;
    assert!(env.decrypt(&tampered, None).is_err());
}

/// Every step of a decrypt stream writes into a buffer reserved at an
/// upper bound of its output: it never reallocates (a reallocation would
/// leave a copy of the plaintext in freed memory), whatever the chunking.
pub fn decrypt_stream_buffers_never_grow() {
    let kms = Kms::in_memory(None, None).unwrap();
    let key = text(&kms.createKey("{}").unwrap(), "keyMetadata.arn");
    let env = Envelope::for_kms(&kms, vec![key], JsValue::UNDEFINED).unwrap();
    let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + 3) as u8).collect();
    for suite in [0x0578u16, 0x0478] {
        let msg = env
            .encrypt(js_bytes(&data), JsValue::UNDEFINED, Some(suite), Some(1000))
            .unwrap();
        for chunking in [1usize, 7, 999, 1000, 1036, 1037, 4096, msg.len()] {
            let mut d = env.decryptor(None);
            let mut out = Vec::new();
            for c in msg.chunks(chunking) {
                let (buf, reserved) = d.update_buffer(c).unwrap();
                assert_eq!(
                    buf.capacity(),
                    reserved,
                    "suite {suite:#x}, chunks of {chunking}"
                );
                out.extend_from_slice(&buf);
            }
            let last = d.finish().unwrap();
            out.extend(bytes(&last, "plaintext"));
            assert_eq!(out, data, "suite {suite:#x}, chunks of {chunking}");
        }
    }
}

pub fn snapshots() {
    let root = vec![7u8; 32];
    let kms = Kms::open_snapshot(None, Some(root.clone()), None, None, None).unwrap();
    let id = text(&kms.createKey("{}").unwrap(), "keyMetadata.keyId");
    assert!(kms.store_writes() >= 1.0);
    let snap = kms.export_snapshot().unwrap();
    let again = Kms::open_snapshot(Some(snap.clone()), Some(root), None, None, None).unwrap();
    again
        .describeKey(&json!({ "keyId": id }).to_string())
        .unwrap();
    let wrong = Kms::open_snapshot(Some(snap), Some(vec![8u8; 32]), None, None, None);
    assert_eq!(code(wrong.err().unwrap()), "InvalidRootKeyException");
}

// ---- the seeded known-answer vectors, replayed through callJson.

fn substitute(v: &Value, vars: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => Value::String(
            vars.iter()
                .fold(s.clone(), |s, (k, x)| s.replace(&format!("${{{k}}}"), x)),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, v)| subset(v, a.get(k).unwrap_or(&Value::Null))),
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| subset(x, y))
        }
        (e, a) => e == a,
    }
}

/// Replays single-region scenarios without callers (the known-answer file):
/// the same bytes must come out in Node and in Chromium as natively.
pub fn known_answer_vectors() {
    let doc: Value = serde_json::from_str(include_str!(
        "../../../../tests/vectors/core/kat-seeded.json"
    ))
    .unwrap();
    let mut steps = 0;
    for scn in doc["scenarios"].as_array().unwrap() {
        let clock = ManualClock::new(scn["start_time_ms"].as_f64().unwrap_or(1767225600000.0));
        let seed = hex::decode(scn["rng_seed"].as_str().unwrap()).unwrap();
        let kms =
            Kms::deterministic("111122223333".into(), "us-east-1".into(), seed, &clock).unwrap();
        let mut vars = HashMap::new();
        for step in scn["steps"].as_array().unwrap() {
            if let Some(ms) = step.get("advance_ms") {
                clock.advance_ms(ms.as_f64().unwrap());
                continue;
            }
            assert!(step.get("As").is_none() && step.get("Region").is_none());
            let op = step["op"].as_str().unwrap();
            let req = substitute(step.get("request").unwrap_or(&json!({})), &vars);
            let res = kms.call_json(op, &req.to_string());
            match (step.get("error"), res) {
                (Some(c), Err(e)) => assert_eq!(code(e), c.as_str().unwrap()),
                (None, Ok(out)) => {
                    let v: Value = serde_json::from_str(&out).unwrap();
                    if let Some(exp) = step.get("expect") {
                        assert!(subset(&substitute(exp, &vars), &v), "{op}: {v}");
                    }
                    for (k, p) in step
                        .get("save")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                    {
                        let x = p.as_str().unwrap().split('.').fold(&v, |a, s| {
                            match s.parse::<usize>() {
                                Ok(i) => &a[i],
                                Err(_) => &a[s],
                            }
                        });
                        vars.insert(
                            k.clone(),
                            x.as_str().map_or_else(|| x.to_string(), str::to_string),
                        );
                    }
                }
                (e, r) => panic!("{op}: expected {e:?}, got {:?}", r.map_err(code)),
            }
            steps += 1;
        }
    }
    assert!(steps >= 10, "only {steps} steps");
    let _ = Array::new();
}
