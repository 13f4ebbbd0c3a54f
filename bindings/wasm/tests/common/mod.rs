//! The wasm-bindgen-test cases, shared by tests/node.rs (Node) and
//! tests/browser.rs (headless Chromium): they drive the exported classes
//! exactly as JavaScript does, with JS values in and out.
#![allow(dead_code)]

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

pub fn code(e: JsValue) -> String {
    assert!(e.is_instance_of::<js_sys::Error>(), "errors are JS Errors");
    get(&e, "code").as_string().expect("a code property")
}

pub fn bytes(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}

pub fn object_api() {
    let kms = Kms::in_memory(None, None).unwrap();
    let created = kms
        .createKey(obj(&[("description", "wasm test".into())]))
        .unwrap();
    assert_eq!(
        get(&created, "keyMetadata.keyState").as_string().unwrap(),
        "Enabled"
    );
    let key_id = get(&created, "keyMetadata.keyId");
    kms.createAlias(obj(&[
        ("aliasName", "alias/t".into()),
        ("targetKeyId", key_id),
    ]))
    .unwrap();
    let ctx = obj(&[("Tenant", "acme".into())]);
    let enc = kms
        .encrypt(obj(&[
            ("keyId", "alias/t".into()),
            ("plaintext", bytes(b"secret")),
            ("encryptionContext", ctx.clone()),
        ]))
        .unwrap();
    let blob = get(&enc, "ciphertextBlob");
    assert!(blob.is_instance_of::<Uint8Array>());
    let dec = kms
        .decrypt(obj(&[
            ("ciphertextBlob", blob.clone()),
            ("encryptionContext", ctx),
        ]))
        .unwrap();
    let plain: Uint8Array = get(&dec, "plaintext").unchecked_into();
    assert_eq!(plain.to_vec(), b"secret");
    let wrong = kms
        .decrypt(obj(&[
            ("ciphertextBlob", blob),
            ("encryptionContext", obj(&[("Tenant", "other".into())])),
        ]))
        .unwrap_err();
    let message = get(&wrong, "message").as_string().unwrap();
    assert_eq!(code(wrong), "InvalidCiphertextException");
    assert!(!message.contains("secret"));
    let missing = kms
        .describeKey(obj(&[("keyId", "alias/none".into())]))
        .unwrap_err();
    assert_eq!(code(missing), "NotFoundException");
    let bad = kms.call("Nope", JsValue::UNDEFINED).unwrap_err();
    assert_eq!(code(bad), "ValidationException");
}

/// Two in-memory KMSs draw their keys from the platform's randomness.
pub fn platform_randomness_and_clock() {
    let a = Kms::in_memory(None, None).unwrap();
    let r1 = a
        .generateRandom(obj(&[("numberOfBytes", 32.into())]))
        .unwrap();
    let r2 = a
        .generateRandom(obj(&[("numberOfBytes", 32.into())]))
        .unwrap();
    let (r1, r2): (Uint8Array, Uint8Array) = (
        get(&r1, "plaintext").unchecked_into(),
        get(&r2, "plaintext").unchecked_into(),
    );
    assert_eq!(r1.length(), 32);
    assert_ne!(r1.to_vec(), r2.to_vec());
    let created = a.createKey(JsValue::UNDEFINED).unwrap();
    let when = get(&created, "keyMetadata.creationDateMs")
        .as_f64()
        .unwrap();
    assert!(
        (when - js_sys::Date::now()).abs() < 60_000.0,
        "clock is Date.now()"
    );
}

pub fn envelope_streams_and_cache() {
    let kms = Kms::in_memory(None, None).unwrap();
    let key = get(
        &kms.createKey(JsValue::UNDEFINED).unwrap(),
        "keyMetadata.arn",
    )
    .as_string()
    .unwrap();
    let cache = obj(&[("cache", obj(&[("capacity", 4.into())]))]);
    let env = Envelope::for_kms(&kms, vec![key.clone()], cache).unwrap();
    let data: Vec<u8> = (0..50_000u32).map(|i| (i * 13) as u8).collect();
    let ctx = obj(&[("file", "a".into())]);
    let mut e = env
        .encryptor(ctx.clone(), Some(0x0478), Some(1024), None)
        .unwrap();
    let mut msg = Vec::new();
    for c in data.chunks(999) {
        msg.extend(e.update(c).unwrap());
    }
    msg.extend(e.finish().unwrap());
    assert!(e.finish().is_err(), "a finished stream refuses more");
    let mut d = env.decryptor(None);
    let mut out = Vec::new();
    for c in msg.chunks(333) {
        out.extend(d.update(c).unwrap());
    }
    let last = d.finish().unwrap();
    let tail: Uint8Array = get(&last, "plaintext").unchecked_into();
    out.extend(tail.to_vec());
    assert_eq!(out, data);
    assert_eq!(get(&last, "keyName").as_string().unwrap(), key);
    let whole = env.encrypt(&data, ctx.clone(), None, None).unwrap();
    env.encrypt(&data, ctx, None, None).unwrap();
    let stats = env.cache_stats().unwrap();
    assert!(get(&stats, "hits").as_f64().unwrap() >= 1.0);
    let mut tampered = whole.clone();
    let n = tampered.len();
    tampered[n - 120] ^= 1;
    assert!(env.decrypt(&tampered, None).is_err());
}

pub fn snapshots() {
    let root = vec![7u8; 32];
    let kms = Kms::open_snapshot(None, Some(root.clone()), None, None, None).unwrap();
    let id = get(
        &kms.createKey(JsValue::UNDEFINED).unwrap(),
        "keyMetadata.keyId",
    );
    assert!(kms.store_writes() >= 1.0);
    let snap = kms.export_snapshot().unwrap();
    let again = Kms::open_snapshot(Some(snap.clone()), Some(root), None, None, None).unwrap();
    again.describeKey(obj(&[("keyId", id)])).unwrap();
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
