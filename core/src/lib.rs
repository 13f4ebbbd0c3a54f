//! # Strongroom
//!
//! A key management service that lives inside the application: AWS KMS
//! semantics (key records and states, aliases, encryption context, rotation,
//! scheduled deletion, audit) over a software HSM that never lets key
//! material out, persisted in a sealed, crash-safe store.
//!
//! ```
//! use strongroom::{Kms, api::*};
//! let kms = Kms::in_memory("111122223333", "us-east-1").unwrap();
//! let key = kms.create_key(CreateKeyRequest::default()).unwrap().key_metadata;
//! let ctx = context([("purpose", "example")]);
//! let ct = kms.encrypt(EncryptRequest {
//!     key_id: key.key_id.clone(),
//!     plaintext: b"hello".to_vec().into(),
//!     encryption_context: ctx.clone(),
//!     ..Default::default()
//! }).unwrap();
//! let pt = kms.decrypt(DecryptRequest {
//!     ciphertext_blob: ct.ciphertext_blob,
//!     encryption_context: ctx,
//!     ..Default::default()
//! }).unwrap();
//! assert_eq!(pt.plaintext.as_bytes(), b"hello");
//! ```
#![cfg_attr(not(feature = "uniffi"), forbid(unsafe_code))]
// uniffi's derive macros expand to FFI glue with `unsafe` blocks; with the
// feature off (every build but the mobile bindings) the crate forbids
// unsafe code, and no hand-written unsafe code exists either way.

// Records and enums shared with the Kotlin/Swift bindings (feature `uniffi`).
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!("strongroom");

// The two core types uniffi has no built-in converter for: secret bytes
// cross as a byte array (held on the Rust side in a buffer wiped on drop;
// uniffi's own transfer buffer, like the Kotlin/Swift array, is not ours to
// wipe), and an encryption context as a string map (uniffi knows `HashMap`,
// not `BTreeMap`; the key order is restored on the Rust side).
#[cfg(feature = "uniffi")]
mod ffi_types {
    use std::collections::HashMap;

    use crate::context::EncryptionContext;
    use crate::secret::SecretBytes;

    uniffi::custom_type!(SecretBytes, Vec<u8>, {
        lower: |s| s.as_bytes().to_vec(),
        try_lift: |v| Ok(SecretBytes::from(v)),
    });
    uniffi::custom_type!(EncryptionContext, HashMap<String, String>, {
        remote,
        lower: |m| m.into_iter().collect(),
        try_lift: |m| Ok(m.into_iter().collect()),
    });
}

/// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

pub mod api;
pub mod asym;
pub mod audit;
mod authz;
pub mod blob;
pub mod context;
mod crypto;
pub mod env;
pub mod error;
pub mod esdk;
mod hsm;
pub mod json;
pub mod kms;
pub mod model;
pub mod operations;
pub mod policy;
pub mod quota;
mod secret;
pub mod seed;
pub mod shape;
mod state_root;
pub mod store;
pub mod usage;
mod wire;

pub use audit::{AuditEvent, AuditVerification};
pub use context::EncryptionContext;
#[cfg(feature = "dangerous-test-rng")]
pub use env::DangerousSeededRng;
pub use env::{Clock, ManualClock, OsRng, Rng, SystemClock};
pub use error::{Error, ErrorCode, Result};
pub use kms::{
    Argon2Params, Caller, KeyChangeListener, Kms, KmsBuilder, ReplicationDestination, RootKey,
    StoreSettings,
};
pub use operations::Operation;
pub use secret::{wipe, Plaintext, SecretBytes};
pub use shape::native_values;
#[cfg(not(target_arch = "wasm32"))]
pub use store::FileStore;
pub use store::{MemoryStore, Mutation, Store};

/// Helpers shared by the crate's unit tests.
#[cfg(test)]
pub(crate) mod testutil {
    use serde_json::Value;

    /// A Wycheproof file copied into tests/vectors/wycheproof.
    pub fn wycheproof(name: &str) -> Value {
        let path = format!(
            "{}/../tests/vectors/wycheproof/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    /// A hex string field as bytes.
    pub fn h(v: &Value) -> Vec<u8> {
        hex::decode(v.as_str().unwrap()).unwrap()
    }
}
