//! AWS's JSON 1.1 wire shape: every operation's required members against botocore's model, responses in AWS's names and encodings, the native-values mode.
mod common;
use common::*;

// ------------------------------------------------------------ AWS wire shape

/// botocore's KMS model (service-2.json), as checked in.
fn aws_model() -> serde_json::Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/aws-model/botocore-1.44.8-kms-2014-11-01.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// A value of botocore shape `name`: enums take `pick[name]`-th value,
/// structures their required members only.
fn sample(
    shapes: &serde_json::Value,
    name: &str,
    pick: &std::collections::HashMap<String, usize>,
) -> serde_json::Value {
    use serde_json::json;
    let s = &shapes[name];
    match s["type"].as_str().unwrap() {
        "string" => match s.get("enum") {
            Some(e) => e[pick.get(name).copied().unwrap_or(0)].clone(),
            None => json!("x"),
        },
        "blob" => json!("AAAA"),
        "integer" | "long" => json!(1),
        "boolean" => json!(false),
        "timestamp" => json!(1767225600),
        "list" => json!([]),
        "map" => json!({}),
        "structure" => {
            let mut o = serde_json::Map::new();
            for r in s["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap();
                let m = s["members"][r]["shape"].as_str().unwrap();
                o.insert(r.into(), sample(shapes, m, pick));
            }
            serde_json::Value::Object(o)
        }
        t => panic!("shape type {t}"),
    }
}

/// Every operation's request takes exactly AWS's required members as
/// required: with them all present (enum values Strongroom knows) the
/// request parses; without any one of them it is a ValidationException
/// naming that member.
#[test]
fn requests_require_exactly_aws_required_members() {
    let model = aws_model();
    let shapes = &model["shapes"];
    let (kms, _) = kms();
    let malformed = |r: &strongroom::Result<serde_json::Value>| match r {
        Err(e) => e.message().starts_with("malformed request"),
        Ok(_) => false,
    };
    let mut checked = 0;
    for op in strongroom::Operation::ALL {
        let Some(input) = model["operations"][op.name()]["input"]["shape"].as_str() else {
            continue; // Strongroom's own operations (identity policies)
        };
        // Find enum values this build accepts: step past unknown variants.
        let mut pick = std::collections::HashMap::new();
        let full = loop {
            let req = sample(shapes, input, &pick);
            let r = strongroom::json::call(&kms, op.name(), req.clone());
            let Err(e) = &r else { break req };
            let msg = e.message().to_string();
            if !msg.contains("unknown variant") {
                assert!(!malformed(&r), "{op}: {req} -> {msg}");
                break req;
            }
            // Which enum shape holds the refused value?
            let bad = msg.split('`').nth(1).unwrap().to_string();
            let (shape, _) = shapes
                .as_object()
                .unwrap()
                .iter()
                .find(|(n, s)| {
                    s["enum"].as_array().is_some_and(|e| {
                        e.iter().position(|v| v == bad.as_str())
                            == Some(pick.get(n.as_str()).copied().unwrap_or(0))
                    })
                })
                .unwrap_or_else(|| panic!("{op}: {msg}"));
            *pick.entry(shape.clone()).or_insert(0) += 1;
        };
        for member in full.as_object().unwrap().keys() {
            let mut req = full.clone();
            req.as_object_mut().unwrap().remove(member);
            let e = strongroom::json::call(&kms, op.name(), req).unwrap_err();
            assert_eq!(e.code(), strongroom::ErrorCode::Validation, "{op} {member}");
            assert!(
                e.message().contains(&format!("missing field `{member}`")),
                "{op} without {member}: {}",
                e.message()
            );
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} required members checked");
}

/// Responses use AWS's member names, base64 blobs and epoch-second
/// timestamps; absent members are omitted, unknown request members refused.
#[test]
fn responses_are_in_aws_wire_shape() {
    use serde_json::json;
    let (kms, clock) = kms();
    clock.set(1_767_225_600_250);
    let call = |op: &str, r: serde_json::Value| strongroom::json::call(&kms, op, r).unwrap();
    let md = call("CreateKey", json!({}))["KeyMetadata"].clone();
    assert_eq!(md["CreationDate"], json!(1767225600.25));
    assert!(md.get("CreationDateMs").is_none() && md.get("DeletionDate").is_none());
    assert!(md.get("ValidTo").is_none() && md.get("MultiRegionConfiguration").is_none());
    let key = md["KeyId"].as_str().unwrap().to_string();
    let enc = call(
        "Encrypt",
        json!({"KeyId": key, "Plaintext": "aGVsbG8=", "EncryptionContext": {"a": "b"}}),
    );
    let blob = enc["CiphertextBlob"].as_str().unwrap();
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .unwrap();
    assert_eq!(base64::engine::general_purpose::STANDARD.encode(&raw), blob);
    let dec = call(
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": {"a": "b"}}),
    );
    assert_eq!(dec["Plaintext"], json!("aGVsbG8="));
    let e = strongroom::json::call(
        &kms,
        "Encrypt",
        json!({"KeyId": key, "Plaintext": "not base64!"}),
    )
    .unwrap_err();
    assert_eq!(e.code(), strongroom::ErrorCode::Validation);
    assert!(e.message().contains("base64"), "{}", e.message());
    let e =
        strongroom::json::call(&kms, "DescribeKey", json!({"KeyId": key, "Bogus": 1})).unwrap_err();
    assert!(
        e.message().contains("unknown field `Bogus`"),
        "{}",
        e.message()
    );
    call(
        "CreateAlias",
        json!({"AliasName": "alias/w", "TargetKeyId": key}),
    );
    let a = call("ListAliases", json!({}))["Aliases"][0].clone();
    assert_eq!(a["CreationDate"], json!(1767225600.25));
    assert_eq!(a["LastUpdatedDate"], json!(1767225600.25));
    assert!(a.get("CreationDateMs").is_none());
    // Inside native_values, blobs cross as bytes (serde_json shows them as
    // number arrays) and are accepted back as bytes.
    let pt = strongroom::native_values(|| {
        let enc = call(
            "Encrypt",
            json!({"KeyId": "alias/w", "Plaintext": [1, 2, 3]}),
        );
        assert!(enc["CiphertextBlob"].is_array());
        call("Decrypt", json!({"CiphertextBlob": enc["CiphertextBlob"]}))
    });
    assert!(matches!(
        pt.get("KeyId"),
        Some(serde_json::Value::String(_))
    ));
    assert_eq!(pt["Plaintext"], json!([1, 2, 3]));
    let d = call(
        "ScheduleKeyDeletion",
        json!({"KeyId": key, "PendingWindowInDays": 7}),
    );
    assert_eq!(d["DeletionDate"], json!(1767225600.25 + 7.0 * 86400.0));
}
