//! AWS-style JSON calls: an operation name and a request object with the AWS
//! member names (PascalCase) in, a response object out — one expansion of
//! the operation table ([`crate::operations`]). Used by the language-neutral
//! vector runner, the CLI and every binding's `call("AnyOperation", …)`
//! escape hatch.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::*;
use crate::error::{Error, Result};
use crate::kms::Kms;
use crate::operations::Operation;

fn req<T: DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::validation(format!("malformed request: {e}")))
}

/// A response as JSON; an empty answer (`()`) is `{}`.
fn out<T: serde::Serialize>(v: T) -> Result<Value> {
    match serde_json::to_value(v).map_err(|e| Error::internal(e.to_string()))? {
        Value::Null => Ok(Value::Object(Default::default())),
        v => Ok(v),
    }
}

macro_rules! dispatch {
    ($($name:ident => $method:ident($req:ty) -> $resp:ty, $action:tt, $class:ident, $mode:ident;)*) => {
        fn dispatch(kms: &Kms, op: Operation, r: Value) -> Result<Value> {
            match op {
                $(Operation::$name => out(kms.$method(req::<$req>(r)?)?),)*
            }
        }
    };
}
crate::for_each_operation!(dispatch);

/// Run one operation by its AWS name. Unknown operations are a
/// `ValidationException`; a `null` request is an empty one.
///
/// Responses that carry secrets (Decrypt, GenerateDataKey, GenerateRandom,
/// DeriveSharedSecret, GenerateDataKeyPair) hold them in an ordinary
/// `serde_json::Value`, which is not zeroized: this entry point is for test
/// vectors and bindings that hand the value straight on. Prefer the typed
/// methods on [`Kms`], whose secret outputs are zeroized on drop.
pub fn call(kms: &Kms, operation: &str, request: Value) -> Result<Value> {
    let op = Operation::from_name(operation)
        .ok_or_else(|| Error::validation(format!("unknown operation '{operation}'")))?;
    call_op(kms, op, request)
}

/// [`call`] with the operation already resolved.
pub fn call_op(kms: &Kms, op: Operation, request: Value) -> Result<Value> {
    let r = if request.is_null() {
        Value::Object(Default::default())
    } else {
        request
    };
    dispatch(kms, op, r)
}
