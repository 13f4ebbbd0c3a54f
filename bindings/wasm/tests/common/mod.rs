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

pub fn js_bytes(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}

pub fn code(e: JsValue) -> String {
    assert!(e.is_instance_of::<js_sys::Error>(), "errors are JS Errors");
    get(&e, "code").as_string().expect("a code property")
}

/// A JSON value as a JS object (the shape a JS caller writes).
pub fn js(v: Value) -> JsValue {
    js_sys::JSON::parse(&v.to_string()).unwrap()
}

/// `v` with member `k` set to `x` (for byte members: a Uint8Array).
pub fn with(v: JsValue, k: &str, x: JsValue) -> JsValue {
    Reflect::set(&v, &k.into(), &x).unwrap();
    v
}

pub fn object_api() {
    let kms = Kms::in_memory(None, None).unwrap();
    let created = kms
        .CreateKey(js(json!({"Description": "wasm test"})))
        .unwrap();
    assert_eq!(text(&created, "KeyMetadata.KeyState"), "Enabled");
    assert!(get(&created, "KeyMetadata.DeletionDate").is_undefined());
    let key_id = text(&created, "KeyMetadata.KeyId");
    kms.CreateAlias(js(json!({"AliasName": "alias/t", "TargetKeyId": key_id})))
        .unwrap();
    let ctx = json!({"Tenant": "acme"});
    // Blobs cross as Uint8Arrays both ways, members as AWS names them.
    let enc = kms
        .Encrypt(with(
            js(json!({"KeyId": "alias/t", "EncryptionContext": ctx})),
            "Plaintext",
            js_bytes(b"secret"),
        ))
        .unwrap();
    let blob = bytes(&enc, "CiphertextBlob");
    let dec = kms
        .Decrypt(with(
            js(json!({"EncryptionContext": ctx})),
            "CiphertextBlob",
            js_bytes(&blob),
        ))
        .unwrap();
    assert_eq!(bytes(&dec, "Plaintext"), b"secret");
    let dk = kms
        .GenerateDataKey(js(json!({"KeyId": key_id, "KeySpec": "AES_256"})))
        .unwrap();
    let again = kms
        .Decrypt(with(
            js(json!({})),
            "CiphertextBlob",
            js_bytes(&bytes(&dk, "CiphertextBlob")),
        ))
        .unwrap();
    assert_eq!(bytes(&dk, "Plaintext").len(), 32);
    assert_eq!(bytes(&again, "Plaintext"), bytes(&dk, "Plaintext"));
    let wrong = kms
        .Decrypt(with(
            js(json!({"EncryptionContext": {"Tenant": "other"}})),
            "CiphertextBlob",
            js_bytes(&blob),
        ))
        .unwrap_err();
    let message = get(&wrong, "message").as_string().unwrap();
    assert_eq!(code(wrong), "InvalidCiphertextException");
    assert!(!message.contains("secret"));
    let missing = kms
        .DescribeKey(js(json!({"KeyId": "alias/none"})))
        .unwrap_err();
    assert_eq!(code(missing), "NotFoundException");
    assert_eq!(
        code(kms.call_json("Nope", "{}").unwrap_err()),
        "ValidationException"
    );
    assert_eq!(
        code(kms.call_json("ListKeys", "{not json").unwrap_err()),
        "ValidationException"
    );
    assert_eq!(
        code(kms.ListKeys("not an object".into()).unwrap_err()),
        "ValidationException"
    );
    let grants = kms
        .CreateGrant(js(
            json!({"KeyId": key_id, "GranteePrincipal": "arn:aws:iam::111122223333:role/r",
                "Operations": ["Decrypt"], "Constraints": {"EncryptionContextSubset": {"KeepCase": "x"}}}),
        ))
        .unwrap();
    assert!(!text(&grants, "GrantToken").is_empty());
    let listed = kms.ListGrants(js(json!({"KeyId": key_id}))).unwrap();
    let first = Array::from(&get(&listed, "Grants")).get(0);
    assert_eq!(
        text(&first, "Constraints.EncryptionContextSubset.KeepCase"),
        "x"
    );
}

/// Two in-memory KMSs draw their keys from the platform's randomness.
pub fn platform_randomness_and_clock() {
    let a = Kms::in_memory(None, None).unwrap();
    let r1 = bytes(
        &a.GenerateRandom(js(json!({"NumberOfBytes": 32}))).unwrap(),
        "Plaintext",
    );
    let r2 = bytes(
        &a.GenerateRandom(js(json!({"NumberOfBytes": 32}))).unwrap(),
        "Plaintext",
    );
    assert_eq!(r1.len(), 32);
    assert_ne!(r1, r2);
    let created = a.CreateKey(JsValue::UNDEFINED).unwrap();
    let when = get(&created, "KeyMetadata.CreationDate").as_f64().unwrap();
    assert!(
        (when * 1000.0 - js_sys::Date::now()).abs() < 60_000.0,
        "clock is Date.now()"
    );
}

pub fn envelope_streams_and_cache() {
    let kms = Kms::in_memory(None, None).unwrap();
    let key = text(
        &kms.CreateKey(JsValue::UNDEFINED).unwrap(),
        "KeyMetadata.Arn",
    );
    let cache = obj(&[("cache", obj(&[("capacity", 4.into())]))]);
    let env = Envelope::for_kms(&kms, vec![key.clone()], cache).unwrap();
    let data: Vec<u8> = (0..50_000u32).map(|i| (i * 13) as u8).collect();
    let ctx = obj(&[("file", "a".into())]);
    let mut e = env
        .encryptor(ctx.clone(), Some(0x0478), Some(1024), None, None)
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
        .encrypt(js_bytes(&data), ctx.clone(), None, None, None)
        .unwrap();
    env.encrypt(js_bytes(&data), ctx, None, None, None).unwrap();
    let stats = env.cache_stats().unwrap();
    assert!(get(&stats, "hits").as_f64().unwrap() >= 1.0);
    let mut tampered = whole.clone();
    let n = tampered.len();
    tampered[n - 120] ^= 1;
    assert!(env.decrypt(&tampered, None, JsValue::UNDEFINED).is_err());
}

/// Every step of a decrypt stream writes into a buffer reserved at an
/// upper bound of its output: it never reallocates (a reallocation would
/// leave a copy of the plaintext in freed memory), whatever the chunking.
pub fn decrypt_stream_buffers_never_grow() {
    let kms = Kms::in_memory(None, None).unwrap();
    let key = text(
        &kms.CreateKey(JsValue::UNDEFINED).unwrap(),
        "KeyMetadata.Arn",
    );
    let env = Envelope::for_kms(&kms, vec![key], JsValue::UNDEFINED).unwrap();
    let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + 3) as u8).collect();
    for suite in [0x0578u16, 0x0478] {
        let msg = env
            .encrypt(
                js_bytes(&data),
                JsValue::UNDEFINED,
                Some(suite),
                Some(1000),
                None,
            )
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
    let id = text(
        &kms.CreateKey(JsValue::UNDEFINED).unwrap(),
        "KeyMetadata.KeyId",
    );
    assert!(kms.store_writes() >= 1.0);
    let snap = kms.export_snapshot().unwrap();
    let again = Kms::open_snapshot(Some(snap.clone()), Some(root), None, None, None).unwrap();
    again.DescribeKey(js(json!({ "KeyId": id }))).unwrap();
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
