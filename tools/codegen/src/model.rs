//! Strongroom's service model, in botocore's format, derived from the core's
//! own request and response types.
//!
//! Every row of the operation table (`for_each_operation!`, expanded here)
//! names a request and a response type; `serde-reflection` traces their
//! `Deserialize` impls, which is what the JSON dispatcher runs, and so sees
//! exactly the wire shape: member names (after `rename_all` / `rename`),
//! `Option` members, lists, maps, enum strings, nested structures. What
//! tracing cannot see is whether a member may be left out (`#[serde(default)]`
//! looks the same as a required member), so each structure is probed: a
//! sample request with every member present must deserialize, and a member
//! is `required` exactly when leaving it out fails with serde's
//! "missing field". Error shapes come from the error table.
//!
//! Wire conventions the tracer relies on (what the core provides): a blob
//! member deserializes through a newtype struct named [`BLOB`], a timestamp
//! member through one named [`TIMESTAMP`] — transparent to JSON (and to
//! pythonize and serde-wasm-bindgen), visible to the tracer, which could
//! not otherwise tell a base64 blob from a string or epoch seconds from a
//! number.
//!
//! Shape names: each operation's input and output are `<Operation>Request`
//! and `<Operation>Response` (as in AWS's model, even where several rows
//! share one Rust type); nested structures and enums keep their serde name;
//! scalars are `String`, `Boolean`, `Integer`, `Long`, `Double`, `Blob`,
//! `Timestamp`; lists `<Member>List`, maps `<Key><Value>Map`.

use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use serde_reflection::{
    ContainerFormat, Format, Registry, Samples, Tracer, TracerConfig, VariantFormat,
};
use strongroom::api::*;
use strongroom::{ErrorCode, Operation};

use crate::Output;

/// The serde newtype-struct names under which the core deserializes blob
/// and timestamp members: the tracer sees them, JSON does not.
pub use strongroom::shape::{BLOB, SECRET_BLOB, TIMESTAMP};

/// A tracer (no samples: every visitor of the core's types names the
/// primitive it expects).
fn seeded_tracer() -> Result<(Tracer, Samples), String> {
    Ok((Tracer::new(TracerConfig::default()), Samples::new()))
}

/// Deserializes a JSON value as one row's request or response type.
type Probe = fn(Value) -> Result<(), String>;

fn probe<T: DeserializeOwned>(v: Value) -> Result<(), String> {
    serde_json::from_value::<T>(v)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn trace<T: DeserializeOwned>(
    tracer: &mut Tracer,
    samples: &Samples,
    what: &str,
) -> Result<Format, String> {
    tracer
        .trace_type::<T>(samples)
        .map(|(format, _)| format)
        .map_err(|e| format!("tracing {what}: {e}"))
}

/// One row of the table, traced.
struct Row {
    op: Operation,
    input: Format,
    output: Format,
    probe_input: Probe,
    probe_output: Probe,
}

macro_rules! trace_rows {
    ($($name:ident => $method:ident($req:ty) -> $resp:ty, $action:tt, $class:ident, $mode:ident;)*) => {
        fn trace_rows(tracer: &mut Tracer, samples: &Samples) -> Result<Vec<Row>, String> {
            Ok(vec![$(Row {
                op: Operation::$name,
                input: trace::<$req>(tracer, samples, stringify!($req))?,
                output: trace::<$resp>(tracer, samples, stringify!($resp))?,
                probe_input: probe::<$req>,
                probe_output: probe::<$resp>,
            },)*])
        }
    };
}
strongroom::for_each_operation!(trace_rows);

macro_rules! trace_enums {
    ($($t:ident),* $(,)?) => {
        const TRACED_ENUMS: &[&str] = &[$(stringify!($t)),*];
        fn trace_enums(tracer: &mut Tracer) -> Result<(), String> {
            $(tracer
                .trace_simple_type::<strongroom::model::$t>()
                .map_err(|e| format!("tracing {}: {e}", stringify!($t)))?;)*
            Ok(())
        }
    };
}
trace_enums!(
    KeyUsage,
    KeySpec,
    Origin,
    KeyState,
    ExpirationModel,
    KeyManager,
    CustomerMasterKeySpec,
    EncryptionAlgorithm,
    SigningAlgorithm,
    MacAlgorithm,
    DataKeySpec,
    KeyMaterialState,
    ImportType,
    ImportState,
    RotationType,
    DryRunModifier,
    EncapsulationAlgorithm,
    WrappingAlgorithm,
    WrappingKeySpec,
    MessageType,
    DataKeyPairSpec,
    GrantOperation,
);

/// Trace every row until every enum's variants are known. One pass sees
/// one more variant of each enum reached through a member, so the rows are
/// traced again (with the enums' "incomplete" marks cleared) until no enum
/// is incomplete; a first pass learns the enums' names.
fn trace_all() -> Result<(Vec<Row>, Registry), String> {
    let (mut first, samples) = seeded_tracer()?;
    trace_rows(&mut first, &samples)?;
    let enums: Vec<String> = first
        .registry_unchecked()
        .into_iter()
        .filter(|(_, c)| matches!(c, ContainerFormat::Enum(_)))
        .map(|(name, _)| name)
        .collect();
    let (mut tracer, samples) = seeded_tracer()?;
    // An enum reached only through an `Option` or a list is seen with one
    // variant: once the option's format is known the tracer takes `None`.
    // Each enum is therefore traced on its own first, to all its variants;
    // an enum of the model missing from this list fails below.
    trace_enums(&mut tracer)?;
    for name in &enums {
        if !TRACED_ENUMS.contains(&name.as_str()) {
            return Err(format!(
                "tracing: enum {name} is not in tools/codegen's trace_enums! list"
            ));
        }
    }
    for _ in 0..1000 {
        let rows = trace_rows(&mut tracer, &samples)?;
        let mut incomplete = false;
        for name in &enums {
            incomplete |= tracer.check_incomplete_enum(name).is_some();
        }
        if !incomplete {
            let registry = tracer.registry().map_err(|e| format!("tracing: {e}"))?;
            return Ok((rows, registry));
        }
    }
    Err("tracing: enums still incomplete after 1000 passes".into())
}

/// A step from a sample's root to a nested structure.
#[derive(Clone)]
enum Step {
    Member(String),
    First,
}

/// Walks traced formats into botocore shapes.
struct Builder<'r> {
    registry: &'r Registry,
    shapes: Map<String, Value>,
}

impl Builder<'_> {
    fn container(&self, name: &str) -> Result<&ContainerFormat, String> {
        self.registry
            .get(name)
            .ok_or_else(|| format!("{name}: not in the traced registry"))
    }

    /// A sample JSON value of the format, with every optional member,
    /// one list element and one map entry present (so nested structures
    /// can be probed).
    fn sample(&self, f: &Format) -> Result<Value, String> {
        Ok(match f {
            Format::Unit => Value::Null,
            Format::Bool => json!(false),
            Format::I8
            | Format::I16
            | Format::I32
            | Format::I64
            | Format::U8
            | Format::U16
            | Format::U32
            | Format::U64
            | Format::F32
            | Format::F64 => json!(0),
            Format::Str | Format::Bytes => json!(""),
            Format::Option(inner) => self.sample(inner)?,
            Format::Seq(inner) => json!([self.sample(inner)?]),
            Format::Map { value, .. } => json!({ "k": self.sample(value)? }),
            Format::TypeName(name) => match self.container(name)? {
                ContainerFormat::NewTypeStruct(inner) => self.sample(inner)?,
                ContainerFormat::Struct(fields) => {
                    let mut o = Map::new();
                    for field in fields {
                        o.insert(field.name.clone(), self.sample(&field.value)?);
                    }
                    Value::Object(o)
                }
                ContainerFormat::Enum(variants) => {
                    let first = variants
                        .values()
                        .next()
                        .ok_or_else(|| format!("{name}: an enum without variants"))?;
                    json!(first.name)
                }
                other => return Err(format!("{name}: {other:?} has no botocore shape")),
            },
            other => return Err(format!("{other:?} has no botocore shape")),
        })
    }

    /// The shape name of a member of format `f`, adding its shape (and the
    /// shapes it refers to) to the model. `at` is where a value of this
    /// format sits in the root sample, so structures can be probed.
    fn shape(&mut self, f: &Format, root: &Root, at: &[Step]) -> Result<String, String> {
        let scalar = |name: &str, ty: &str, shapes: &mut Map<String, Value>| {
            shapes
                .entry(name.to_string())
                .or_insert_with(|| json!({ "type": ty }));
            Ok(name.to_string())
        };
        match f {
            Format::Bool => scalar("Boolean", "boolean", &mut self.shapes),
            Format::I8 | Format::I16 | Format::I32 | Format::U8 | Format::U16 | Format::U32 => {
                scalar("Integer", "integer", &mut self.shapes)
            }
            Format::I64 | Format::U64 => scalar("Long", "long", &mut self.shapes),
            Format::F32 | Format::F64 => scalar("Double", "double", &mut self.shapes),
            Format::Str => scalar("String", "string", &mut self.shapes),
            Format::Bytes => scalar("Blob", "blob", &mut self.shapes),
            Format::Option(inner) => self.shape(inner, root, at),
            Format::Seq(inner) => {
                let mut next = at.to_vec();
                next.push(Step::First);
                let member = self.shape(inner, root, &next)?;
                let name = format!("{member}List");
                self.shapes
                    .entry(name.clone())
                    .or_insert_with(|| json!({"type": "list", "member": {"shape": member}}));
                Ok(name)
            }
            Format::Map { key, value } => {
                let mut next = at.to_vec();
                next.push(Step::Member("k".into()));
                let k = self.shape(key, root, at)?;
                let v = self.shape(value, root, &next)?;
                let name = format!("{k}{v}Map");
                self.shapes.entry(name.clone()).or_insert_with(
                    || json!({"type": "map", "key": {"shape": k}, "value": {"shape": v}}),
                );
                Ok(name)
            }
            Format::TypeName(name) => {
                if self.shapes.contains_key(name) {
                    return Ok(name.clone());
                }
                match self.container(name)?.clone() {
                    ContainerFormat::NewTypeStruct(_) if name == TIMESTAMP => {
                        scalar(TIMESTAMP, "timestamp", &mut self.shapes)
                    }
                    ContainerFormat::NewTypeStruct(_) if name == BLOB => {
                        scalar("Blob", "blob", &mut self.shapes)
                    }
                    ContainerFormat::NewTypeStruct(_) if name == SECRET_BLOB => {
                        self.shapes
                            .entry(SECRET_BLOB.to_string())
                            .or_insert_with(|| json!({"type": "blob", "sensitive": true}));
                        Ok(SECRET_BLOB.to_string())
                    }
                    ContainerFormat::NewTypeStruct(inner) => self.shape(&inner, root, at),
                    ContainerFormat::Enum(variants) => {
                        let mut values = Vec::new();
                        for v in variants.values() {
                            if !matches!(v.value, VariantFormat::Unit) {
                                return Err(format!(
                                    "{name}::{}: an enum variant with data has no botocore shape",
                                    v.name
                                ));
                            }
                            values.push(json!(v.name));
                        }
                        self.shapes
                            .insert(name.clone(), json!({"type": "string", "enum": values}));
                        Ok(name.clone())
                    }
                    ContainerFormat::Struct(_) => {
                        self.structure(name, name, root, at)?;
                        Ok(name.clone())
                    }
                    other => Err(format!("{name}: {other:?} has no botocore shape")),
                }
            }
            other => Err(format!("{other:?} has no botocore shape")),
        }
    }

    /// Add the structure `rust` (a traced struct) as shape `shape_name`.
    fn structure(
        &mut self,
        shape_name: &str,
        rust: &str,
        root: &Root,
        at: &[Step],
    ) -> Result<(), String> {
        let ContainerFormat::Struct(fields) = self.container(rust)?.clone() else {
            return Err(format!("{rust}: a request or response must be a struct"));
        };
        // placeholder first: a structure that contains itself terminates
        self.shapes.insert(shape_name.to_string(), json!({}));
        let mut members = Map::new();
        let mut required = Vec::new();
        for field in &fields {
            let mut next = at.to_vec();
            next.push(Step::Member(field.name.clone()));
            let shape = self.shape(&field.value, root, &next)?;
            members.insert(field.name.clone(), json!({ "shape": shape }));
            if root.requires(at, &field.name)? {
                required.push(json!(field.name));
            }
        }
        let mut s = Map::new();
        s.insert("type".into(), json!("structure"));
        if !required.is_empty() {
            s.insert("required".into(), Value::Array(required));
        }
        s.insert("members".into(), Value::Object(members));
        s.insert("x-strongroom-type".into(), json!(rust));
        self.shapes.insert(shape_name.to_string(), Value::Object(s));
        Ok(())
    }
}

/// A row's request or response type with a full sample of it, to probe
/// which members its `Deserialize` requires.
struct Root {
    what: String,
    sample: Value,
    probe: Probe,
}

impl Root {
    fn requires(&self, at: &[Step], member: &str) -> Result<bool, String> {
        let mut v = self.sample.clone();
        let mut cur = &mut v;
        for step in at {
            cur = match step {
                Step::Member(m) => cur.get_mut(m.as_str()),
                Step::First => cur.get_mut(0),
            }
            .ok_or_else(|| format!("{}: sample has no path to {member}", self.what))?;
        }
        let obj = cur
            .as_object_mut()
            .ok_or_else(|| format!("{}: {member} is not in a structure", self.what))?;
        obj.remove(member);
        match (self.probe)(v) {
            Ok(()) => Ok(false),
            Err(e) if e.starts_with(&format!("missing field `{member}`")) => Ok(true),
            Err(e) => Err(format!(
                "{}: without {member}, the sample fails otherwise: {e}",
                self.what
            )),
        }
    }
}

/// The derived model: every operation of the table, the shapes of their
/// requests and responses, and the error table's error shapes.
pub fn build() -> Result<Value, String> {
    let (rows, registry) = trace_all()?;
    let mut b = Builder {
        registry: &registry,
        shapes: Map::new(),
    };
    let mut operations = Map::new();
    for row in &rows {
        let op = row.op;
        let mut o = Map::new();
        o.insert("name".into(), json!(op.name()));
        o.insert("http".into(), json!({"method": "POST", "requestUri": "/"}));
        for (key, suffix, format, probe, ty) in [
            (
                "input",
                "Request",
                &row.input,
                row.probe_input,
                op.request_type(),
            ),
            (
                "output",
                "Response",
                &row.output,
                row.probe_output,
                op.response_type(),
            ),
        ] {
            match format {
                Format::Unit if key == "output" => continue,
                Format::TypeName(rust) => {
                    let shape_name = format!("{}{suffix}", op.name());
                    let root = Root {
                        what: format!("{op} {key} ({ty})"),
                        sample: b.sample(format)?,
                        probe,
                    };
                    (root.probe)(root.sample.clone()).map_err(|e| {
                        format!("{}: the full sample does not deserialize: {e}", root.what)
                    })?;
                    b.structure(&shape_name, rust, &root, &[])?;
                    o.insert(key.into(), json!({ "shape": shape_name }));
                }
                other => return Err(format!("{op} {key} ({ty}): {other:?} is not a structure")),
            }
        }
        o.insert("x-strongroom-method".into(), json!(op.method()));
        o.insert(
            "x-strongroom-action".into(),
            json!(op.action().unwrap_or("root")),
        );
        o.insert(
            "x-strongroom-key-state".into(),
            json!(op.class().map(|c| format!("{c:?}"))),
        );
        o.insert("x-strongroom-mutates".into(), json!(op.mutates()));
        operations.insert(op.name().into(), Value::Object(o));
    }
    let mut shapes = b.shapes;
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
    Ok(json!({
        "version": "2.0",
        "metadata": {
            "apiVersion": "2014-11-01",
            "endpointPrefix": "kms",
            "jsonVersion": "1.1",
            "protocol": "json",
            "serviceAbbreviation": "KMS",
            "serviceFullName": "Strongroom (AWS Key Management Service API)",
            "serviceId": "KMS",
            "targetPrefix": "TrentService",
            "uid": "kms-2014-11-01",
        },
        "operations": operations,
        "shapes": shapes,
    }))
}

/// The model itself, for people and tools that read botocore models.
pub fn emit(model: &Value) -> Vec<Output> {
    vec![(
        "docs/model/strongroom-kms.json".into(),
        serde_json::to_string_pretty(model).expect("model serialises") + "\n",
    )]
}
