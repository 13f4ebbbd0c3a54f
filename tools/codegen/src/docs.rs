//! Emitter: `docs/errors.md`, the error-code reference, from the error
//! shapes of the service model (the core's error table, in table order),
//! and `docs/operations.md`, every operation of the table with its members
//! from the derived model and the listed extensions. The descriptions live
//! only in the tables; these files are never edited by hand.

use serde_json::Value;

use crate::{check, Output};

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
    vec![
        ("docs/errors.md".into(), errors),
        ("docs/operations.md".into(), operations(model)),
    ]
}

const OPERATIONS_HEADER: &str = "# Operations

Every operation Strongroom serves, one row of the operation table
(`core/src/operations.rs`), with its request and response members as the
core's own types define them (traced by `tools/codegen`, the same model as
`docs/model/strongroom-kms.json`). Generated: never edit by hand; run
`cargo run -p strongroom-codegen` (`make codegen`).

Each is `Kms::<method>(request)` in Rust and `kms.call(\"<Operation>\", {...})`
in every binding, with AWS's JSON 1.1 member names. The key-state class is
the column of the key-state matrix the key must pass (`—`: the operation
acts on no key); `root`: only the account root may call it. The check that
these members, types and required flags match AWS's model
(`tests/aws-model/`) is `tools/codegen/src/check.rs`; what Strongroom adds
beyond AWS, and what of AWS's it does not serve, is listed at the end.

| operation | method | IAM action | key state | changes the store |
|---|---|---|---|---|
";

/// A member's type, in words: `string`, `list of Tag`, `KeySpec (enum)`.
fn type_of(model: &Value, shape: &str) -> String {
    let s = &model["shapes"][shape];
    match s["type"].as_str().unwrap_or("?") {
        "list" => format!(
            "list of {}",
            type_of(model, s["member"]["shape"].as_str().unwrap_or("?"))
        ),
        "map" => format!(
            "map of {} to {}",
            type_of(model, s["key"]["shape"].as_str().unwrap_or("?")),
            type_of(model, s["value"]["shape"].as_str().unwrap_or("?"))
        ),
        "structure" => format!("`{shape}`"),
        "string" if s.get("enum").is_some() => format!("`{shape}` (enum)"),
        t => t.to_string(),
    }
}

/// The member table of a structure, and (once each) the structures and
/// enums it refers to.
fn members(model: &Value, shape: &str, out: &mut String, nested: &mut Vec<String>) {
    members_as(model, shape, "required", out, nested)
}

/// [`members`] with the required column titled `label` (a response's
/// required members are the ones always present).
fn members_as(model: &Value, shape: &str, label: &str, out: &mut String, nested: &mut Vec<String>) {
    let s = &model["shapes"][shape];
    let required: Vec<&str> = s["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let empty = serde_json::Map::new();
    let ms = s["members"].as_object().unwrap_or(&empty);
    if ms.is_empty() {
        out.push_str("(no members)\n\n");
        return;
    }
    out.push_str(&format!("| member | type | {label} |\n|---|---|---|\n"));
    for (m, v) in ms {
        let ty = v["shape"].as_str().unwrap_or("?");
        let req = if required.contains(&m.as_str()) {
            "yes"
        } else {
            ""
        };
        out.push_str(&format!("| `{m}` | {} | {req} |\n", type_of(model, ty)));
        refer(model, ty, nested);
    }
    out.push('\n');
}

/// Note the structures and enums a shape refers to (through lists/maps).
fn refer(model: &Value, shape: &str, nested: &mut Vec<String>) {
    let s = &model["shapes"][shape];
    match s["type"].as_str() {
        Some("list") => refer(model, s["member"]["shape"].as_str().unwrap_or(""), nested),
        Some("map") => {
            refer(model, s["key"]["shape"].as_str().unwrap_or(""), nested);
            refer(model, s["value"]["shape"].as_str().unwrap_or(""), nested);
        }
        Some("structure") | Some("string")
            if (s["type"] == "structure" || s.get("enum").is_some())
                && !nested.iter().any(|n| n == shape) =>
        {
            nested.push(shape.to_string());
        }
        _ => {}
    }
}

fn operations(model: &Value) -> String {
    let mut doc = String::from(OPERATIONS_HEADER);
    let empty = serde_json::Map::new();
    let ops = model["operations"].as_object().unwrap_or(&empty);
    for (name, op) in ops {
        doc.push_str(&format!(
            "| [`{name}`](#{}) | `{}` | {} | {} | {} |\n",
            name.to_lowercase(),
            op["x-strongroom-method"].as_str().unwrap_or("?"),
            match op["x-strongroom-action"].as_str() {
                Some("root") | None => "root".to_string(),
                Some(a) => format!("`{a}`"),
            },
            op["x-strongroom-key-state"].as_str().unwrap_or("—"),
            if op["x-strongroom-mutates"] == Value::Bool(true) {
                "write"
            } else {
                "read"
            },
        ));
    }
    let mut nested = Vec::new();
    for (name, op) in ops {
        doc.push_str(&format!("\n## {name}\n\n"));
        for (key, title, label) in [
            ("input", "Request", "required"),
            ("output", "Response", "always present"),
        ] {
            match op[key]["shape"].as_str() {
                Some(shape) => {
                    let rust = model["shapes"][shape]["x-strongroom-type"]
                        .as_str()
                        .unwrap_or(shape);
                    doc.push_str(&format!("{title} (`strongroom::api::{rust}`):\n\n"));
                    members_as(model, shape, label, &mut doc, &mut nested);
                }
                None => doc.push_str(&format!("{title}: empty (`{{}}`).\n\n")),
            }
        }
    }
    doc.push_str("\n# Shapes the members refer to\n");
    let mut i = 0;
    while i < nested.len() {
        let shape = nested[i].clone();
        let s = &model["shapes"][&shape];
        doc.push_str(&format!("\n## {shape}\n\n"));
        if let Some(values) = s["enum"].as_array() {
            let values: Vec<String> = values
                .iter()
                .filter_map(Value::as_str)
                .map(|v| format!("`{v}`"))
                .collect();
            doc.push_str(&format!("One of {}.\n", values.join(", ")));
        } else {
            members(model, &shape, &mut doc, &mut nested);
            doc.pop();
        }
        i += 1;
    }
    doc.push_str("\n# Strongroom extensions\n\nWhat Strongroom serves beyond AWS's model (`EXTENSIONS` in `tools/codegen/src/check.rs`, the only place an extension is allowed):\n\n");
    for e in check::EXTENSIONS {
        match e {
            check::Extension::Operation { name, why } => {
                doc.push_str(&format!("- operation `{name}`: {why}\n"))
            }
            check::Extension::Member { shape, member, why } => {
                doc.push_str(&format!("- `{shape}.{member}`: {why}\n"))
            }
        }
    }
    doc.push_str("\n# AWS members not served\n\nMembers of AWS's shapes that Strongroom's types do not have (`NOT_SERVED` in `tools/codegen/src/check.rs`):\n\n");
    if check::NOT_SERVED.is_empty() {
        doc.push_str("(none)\n");
    }
    for n in check::NOT_SERVED {
        doc.push_str(&format!("- `{}.{}`: {}\n", n.shape, n.member, n.why));
    }
    doc.push_str("\n# AWS operations outside the table\n\n");
    doc.push_str("The operations of AWS's model that are not rows of the operation table (`OPERATIONS_OUTSIDE_THE_TABLE` in `tools/codegen/src/check.rs`), and why:\n\n");
    let aws = check::aws();
    let missing: Vec<&String> = aws["operations"]
        .as_object()
        .unwrap_or(&empty)
        .keys()
        .filter(|k| !ops.contains_key(*k))
        .collect();
    for k in missing {
        let why = check::OPERATIONS_OUTSIDE_THE_TABLE
            .iter()
            .find(|(o, _)| o == k)
            .map(|(_, w)| *w)
            .unwrap_or("(no reason recorded)");
        doc.push_str(&format!("- `{k}`: {why}\n"));
    }
    doc
}
