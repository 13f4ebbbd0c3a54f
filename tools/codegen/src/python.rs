//! Emitter: files derived from the service model for python.
//! (Filled in by the engineer who owns this target.)

use serde_json::Value;

use crate::Output;

pub fn emit(_model: &Value) -> Vec<Output> {
    Vec::new()
}
