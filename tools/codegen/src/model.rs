//! Strongroom's service model, in botocore's format.
//!
//! INTERIM (to be replaced by the model derived from the core's request and
//! response types before this lands): the operations of the core's table
//! with AWS's own shapes taken from botocore's model, and the error shapes
//! from the core's error table. Emitters written against this keep working
//! when the derived model replaces it: same format, same keys.

use serde_json::{json, Map, Value};
use strongroom::{ErrorCode, Operation};

use crate::Output;

const BOTOCORE: &str = include_str!("../../../tests/aws-model/botocore-1.44.8-kms-2014-11-01.json");

pub fn build() -> Value {
    let aws: Value = serde_json::from_str(BOTOCORE).expect("botocore model parses");
    let mut operations = Map::new();
    let mut shapes = Map::new();
    for op in Operation::ALL {
        let mut o = aws["operations"][op.name()].clone();
        if o.is_null() {
            o = json!({"name": op.name(), "http": {"method": "POST", "requestUri": "/"}});
        }
        if let Some(obj) = o.as_object_mut() {
            obj.insert("x-strongroom-method".into(), json!(op.method()));
            obj.insert("x-strongroom-action".into(), json!(op.action()));
            obj.insert("x-strongroom-mutates".into(), json!(op.mutates()));
        }
        operations.insert(op.name().into(), o);
    }
    // every shape reachable from the operations
    let mut todo: Vec<String> = operations
        .values()
        .flat_map(|o| {
            ["input", "output"]
                .iter()
                .filter_map(|k| o[*k]["shape"].as_str().map(String::from))
                .collect::<Vec<_>>()
        })
        .collect();
    while let Some(name) = todo.pop() {
        if shapes.contains_key(&name) {
            continue;
        }
        let s = aws["shapes"][&name].clone();
        for m in s["members"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            todo.extend(m["shape"].as_str().map(String::from));
        }
        for k in ["member", "key", "value"] {
            todo.extend(s[k]["shape"].as_str().map(String::from));
        }
        shapes.insert(name, s);
    }
    for code in ErrorCode::ALL {
        shapes.insert(
            code.as_str().into(),
            json!({
                "type": "structure",
                "members": {"message": {"shape": "ErrorMessageType"}},
                "exception": true,
                "error": {"httpStatusCode": code.http_status(), "senderFault": code.http_status() < 500},
                "documentation": code.description(),
                "x-strongroom-aws": code.is_aws(),
            }),
        );
    }
    shapes.insert("ErrorMessageType".into(), json!({"type": "string"}));
    json!({
        "version": "2.0",
        "metadata": aws["metadata"],
        "operations": operations,
        "shapes": shapes,
    })
}

/// The model itself, for people and tools that read botocore models.
pub fn emit(model: &Value) -> Vec<Output> {
    vec![(
        "docs/model/strongroom-kms.json".into(),
        serde_json::to_string_pretty(model).expect("model serialises") + "\n",
    )]
}
