//! Emitter: `docs/errors.md`, the error-code reference, from the error
//! shapes of the service model (the core's error table, in table order).
//! The descriptions live only in the table; this file is never edited by
//! hand.

use serde_json::Value;

use crate::Output;

const ERRORS_HEADER: &str = "# Error codes

Every operation fails with one `strongroom::Error { code, message }`. The code
string is stable and identical in every language binding. Messages name key
ARNs, aliases and limits, and never contain plaintext, key material or root
keys.

| code | when |
|---|---|
";

pub fn emit(model: &Value) -> Vec<Output> {
    let mut errors = String::from(ERRORS_HEADER);
    let shapes = model["shapes"].as_object().expect("model has shapes");
    for (name, shape) in shapes {
        if shape["exception"] == Value::Bool(true) {
            let when = shape["documentation"]
                .as_str()
                .expect("error has a description");
            errors.push_str(&format!("| `{name}` | {when} |\n"));
        }
    }
    vec![("docs/errors.md".into(), errors)]
}
