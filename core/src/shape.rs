//! AWS's JSON 1.1 wire shape for the API's request and response types
//! (botocore's `kms/2014-11-01/service-2.json`): blobs are base64 text
//! (standard alphabet, padded), timestamps are epoch seconds as a JSON
//! number (fractional when the milliseconds are not whole seconds).
//!
//! The serde helpers here are used with `#[serde(with = ...)]` on the
//! members of [`crate::api`] and [`crate::model`]'s metadata shapes; stored
//! types never use them (the store format is frozen).
//!
//! [`native_values`] switches blobs to native bytes for the bindings
//! (pythonize gives `bytes`, serde-wasm-bindgen a `Uint8Array`): both report
//! `is_human_readable() == true`, so the switch is a thread-local flag, not
//! the serializer's own opinion. Timestamps are numbers in both modes.

use std::cell::Cell;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};
use zeroize::Zeroizing;

use crate::env::Millis;
use crate::secret::SecretBytes;

thread_local! {
    static NATIVE: Cell<bool> = const { Cell::new(false) };
}

/// Restores the previous mode on drop (also when `f` unwinds).
struct Restore(bool);
impl Drop for Restore {
    fn drop(&mut self) {
        NATIVE.with(|n| n.set(self.0));
    }
}

/// Run `f` with blobs crossing as native bytes: inside it, blob members
/// serialise with `serialize_bytes` and deserialise from bytes, byte
/// buffers or a sequence of `u8` as well as from base64 strings. The
/// previous mode is restored when `f` returns or unwinds.
pub fn native_values<R>(f: impl FnOnce() -> R) -> R {
    let _restore = Restore(NATIVE.with(|n| n.replace(true)));
    f()
}

/// Whether the current thread is inside [`native_values`].
pub fn is_native() -> bool {
    NATIVE.with(|n| n.get())
}

// ------------------------------------------------------------------ blobs

/// Decode standard padded base64 into a zeroizing buffer.
fn decode_b64<E: de::Error>(s: &str) -> Result<Zeroizing<Vec<u8>>, E> {
    let mut out = Zeroizing::new(Vec::with_capacity(s.len() / 4 * 3 + 3));
    STANDARD
        .decode_vec(s.as_bytes(), &mut out)
        .map_err(|e| E::custom(format_args!("invalid base64: {e}")))?;
    Ok(out)
}

fn serialize_blob<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    if is_native() {
        s.serialize_bytes(bytes)
    } else {
        // Zeroizing: the text of a secret blob is as secret as its bytes.
        let text = Zeroizing::new(STANDARD.encode(bytes));
        s.serialize_str(&text)
    }
}

/// Accepts base64 text always; bytes, byte buffers and `u8` sequences
/// inside [`native_values`]. Everything lands in a zeroizing buffer.
struct BlobVisitor;

impl<'de> Visitor<'de> for BlobVisitor {
    type Value = Zeroizing<Vec<u8>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_native() {
            f.write_str("bytes or a base64 string")
        } else {
            f.write_str("a base64 string")
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        decode_b64(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        let v = Zeroizing::new(v);
        decode_b64(&v)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        if !is_native() {
            return Err(E::invalid_type(de::Unexpected::Bytes(v), &self));
        }
        Ok(Zeroizing::new(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
        let v = Zeroizing::new(v);
        if !is_native() {
            return Err(E::invalid_type(de::Unexpected::Bytes(&v), &self));
        }
        Ok(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if !is_native() {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
        }
        let mut out = Zeroizing::new(Vec::with_capacity(seq.size_hint().unwrap_or(0)));
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}

/// The serde newtype-struct name every blob member deserializes through
/// (and [`TIMESTAMP`] every timestamp member): transparent to serde_json,
/// pythonize and serde-wasm-bindgen, and the one thing a serde tracer
/// (`tools/codegen`, serde-reflection) sees to tell a blob from a string
/// and a timestamp from a number when it derives the service model.
pub const BLOB: &str = "Blob";
/// See [`BLOB`].
pub const TIMESTAMP: &str = "Timestamp";
/// The marker of a blob that holds a secret (plaintexts, data keys,
/// private keys): the derived model marks its shape `sensitive`, which the
/// generated bindings use to redact it from `repr`/`Debug` text.
pub const SECRET_BLOB: &str = "SecretBlob";

/// Unwraps the [`BLOB`] newtype marker.
struct MarkedBlob;

impl<'de> Visitor<'de> for MarkedBlob {
    type Value = Zeroizing<Vec<u8>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        BlobVisitor.expecting(f)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        deserialize_unmarked_blob(d)
    }
}

fn deserialize_blob<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<Vec<u8>>, D::Error> {
    d.deserialize_newtype_struct(BLOB, MarkedBlob)
}

fn deserialize_secret_blob<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Zeroizing<Vec<u8>>, D::Error> {
    d.deserialize_newtype_struct(SECRET_BLOB, MarkedBlob)
}

fn deserialize_unmarked_blob<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Zeroizing<Vec<u8>>, D::Error> {
    if is_native() {
        // The native deserialisers (pythonize, serde-wasm-bindgen) tell
        // bytes from strings themselves; `any` lets them.
        d.deserialize_any(BlobVisitor)
    } else {
        d.deserialize_str(BlobVisitor)
    }
}

/// A blob member (`Vec<u8>`): base64 text, or native bytes in
/// [`native_values`].
pub mod blob {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        serialize_blob(v, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        // Not secret: move the bytes out of the zeroizing wrapper.
        let mut z = deserialize_blob(d)?;
        Ok(std::mem::take(&mut *z))
    }
}

/// An optional blob member (`Option<Vec<u8>>`); pair with
/// `default` and `skip_serializing_if = "Option::is_none"`.
pub mod opt_blob {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => serialize_blob(b, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<Vec<u8>>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a blob or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                super::blob::deserialize(d).map(Some)
            }
        }
        d.deserialize_option(V)
    }
}

/// A secret blob member ([`SecretBytes`]): the base64 text made from or
/// parsed into it lives in a zeroizing buffer.
pub mod secret_blob {
    use super::*;

    pub fn serialize<S: Serializer>(v: &SecretBytes, s: S) -> Result<S::Ok, S::Error> {
        serialize_blob(v.as_bytes(), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretBytes, D::Error> {
        deserialize_secret_blob(d).map(SecretBytes::new)
    }
}

/// A blob member that Strongroom keeps as text (the import token: AWS's
/// `ImportToken` is a blob, Strongroom's token is ASCII): the blob is the
/// text's UTF-8 bytes; bytes that are not UTF-8 are an error.
pub mod text_blob {
    use super::*;

    pub fn serialize<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
        serialize_blob(v.as_bytes(), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let b = super::blob::deserialize(d)?;
        String::from_utf8(b).map_err(|_| de::Error::custom("the blob is not UTF-8 text"))
    }
}

// ------------------------------------------------------------- timestamps

/// Milliseconds as epoch seconds: an integer when whole, else fractional.
fn serialize_ms<S: Serializer>(ms: Millis, s: S) -> Result<S::Ok, S::Error> {
    if ms.is_multiple_of(1000) {
        s.serialize_u64(ms / 1000)
    } else {
        s.serialize_f64(ms as f64 / 1000.0)
    }
}

/// The largest epoch-seconds value accepted: year ~285,000, far beyond any
/// real date, and small enough that seconds * 1000 is exact in an f64.
const MAX_SECONDS: f64 = 9_000_000_000_000.0;

struct SecondsVisitor;

impl Visitor<'_> for SecondsVisitor {
    type Value = Millis;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a timestamp in epoch seconds (a non-negative number)")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Millis, E> {
        v.checked_mul(1000)
            .filter(|ms| (*ms as f64) <= MAX_SECONDS * 1000.0)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Millis, E> {
        u64::try_from(v)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            .and_then(|u| self.visit_u64(u))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Millis, E> {
        if !v.is_finite() || !(0.0..=MAX_SECONDS).contains(&v) {
            return Err(E::invalid_value(de::Unexpected::Float(v), &self));
        }
        Ok((v * 1000.0).round() as Millis)
    }
}

/// A timestamp member (`Millis` in Rust, epoch seconds on the wire).
pub mod timestamp {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Millis, s: S) -> Result<S::Ok, S::Error> {
        serialize_ms(*v, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        d.deserialize_newtype_struct(TIMESTAMP, MarkedSeconds)
    }

    /// Unwraps the [`TIMESTAMP`] newtype marker.
    struct MarkedSeconds;

    impl<'de> Visitor<'de> for MarkedSeconds {
        type Value = Millis;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            SecondsVisitor.expecting(f)
        }

        /// `f64` as the hint: serde_json, pythonize and serde-wasm-bindgen
        /// hand integers to the visitor as integers all the same, and a
        /// tracer sees a number (it cannot follow `deserialize_any`).
        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Millis, D::Error> {
            d.deserialize_f64(SecondsVisitor)
        }
    }
}

/// An optional timestamp member (`Option<Millis>`); pair with `default`
/// and `skip_serializing_if = "Option::is_none"`.
pub mod opt_timestamp {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ms) => serialize_ms(*ms, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<Millis>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp in epoch seconds or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                super::timestamp::deserialize(d).map(Some)
            }
        }
        d.deserialize_option(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};
    use serde_json::{json, Value};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Shape {
        #[serde(with = "blob")]
        b: Vec<u8>,
        #[serde(default, with = "opt_blob", skip_serializing_if = "Option::is_none")]
        ob: Option<Vec<u8>>,
        #[serde(with = "timestamp")]
        t: Millis,
        #[serde(
            default,
            with = "opt_timestamp",
            skip_serializing_if = "Option::is_none"
        )]
        ot: Option<Millis>,
    }

    #[derive(Serialize, Deserialize)]
    struct Secret {
        #[serde(with = "secret_blob")]
        s: SecretBytes,
    }

    #[test]
    fn json_text_is_aws_shape() {
        let v = Shape {
            b: b"hello".to_vec(),
            ob: None,
            t: 1_700_000_000_000,
            ot: Some(1_700_000_000_250),
        };
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(
            j,
            json!({"b": "aGVsbG8=", "t": 1700000000, "ot": 1700000000.25})
        );
        // Whole seconds are an integer in the text.
        let text = serde_json::to_string(&v).unwrap();
        assert!(text.contains("\"t\":1700000000,"), "{text}");
        assert_eq!(serde_json::from_value::<Shape>(j).unwrap(), v);
    }

    #[test]
    fn any_number_parses_back() {
        for t in [json!(1700000000), json!(1.7e9), json!(1700000000.0)] {
            let s: Shape = serde_json::from_value(json!({"b": "", "t": t})).unwrap();
            assert_eq!(s.t, 1_700_000_000_000);
        }
        let s: Shape = serde_json::from_value(json!({"b": "", "t": 0.001})).unwrap();
        assert_eq!(s.t, 1);
        for bad in [json!(-1), json!(-0.5), json!("1700000000"), json!(1e300)] {
            assert!(serde_json::from_value::<Shape>(json!({"b": "", "t": bad})).is_err());
        }
    }

    #[test]
    fn bad_base64_is_an_error() {
        for bad in ["aGVsbG8", "a", "!!!!", "aGVs bG8=", "aGVsbG8=="] {
            let e = serde_json::from_value::<Shape>(json!({"b": bad, "t": 0})).unwrap_err();
            assert!(e.to_string().contains("base64"), "{bad}: {e}");
        }
        // Outside the native mode, a list of numbers is not a blob.
        assert!(serde_json::from_value::<Shape>(json!({"b": [1, 2], "t": 0})).is_err());
    }

    #[test]
    fn native_mode_crosses_bytes_and_is_restored() {
        let v = Shape {
            b: vec![0, 1, 255],
            ob: Some(vec![7]),
            t: 5_000,
            ot: None,
        };
        // serde_json serialises bytes as a sequence of numbers.
        let j = native_values(|| serde_json::to_value(&v).unwrap());
        assert_eq!(j, json!({"b": [0, 1, 255], "ob": [7], "t": 5}));
        assert_eq!(
            native_values(|| serde_json::from_value::<Shape>(j.clone())).unwrap(),
            v
        );
        // Base64 text is still accepted inside.
        let from_text = native_values(|| {
            serde_json::from_value::<Shape>(json!({"b": "AAH/", "ob": "Bw==", "t": 5}))
        })
        .unwrap();
        assert_eq!(from_text, v);
        assert!(!is_native());
        // Restored on unwind too.
        let r = std::panic::catch_unwind(|| native_values(|| panic!("inside")));
        assert!(r.is_err());
        assert!(!is_native());
        // Nested calls restore the outer mode.
        native_values(|| {
            native_values(|| ());
            assert!(is_native());
        });
        assert!(!is_native());
    }

    #[test]
    fn secret_blobs_round_trip() {
        let s = Secret {
            s: SecretBytes::from(b"top secret"),
        };
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j, json!({"s": "dG9wIHNlY3JldA=="}));
        let back: Secret = serde_json::from_value(j).unwrap();
        assert!(back.s.ct_eq(b"top secret"));
        let back: Secret = serde_json::from_str(r#"{"s":"dG9wIHNlY3JldA=="}"#).unwrap();
        assert!(back.s.ct_eq(b"top secret"));
        let n = native_values(|| serde_json::to_value(&s).unwrap());
        assert_eq!(n["s"].as_array().unwrap().len(), 10);
        assert!(serde_json::from_value::<Secret>(json!({"s": "%%"})).is_err());
    }

    fn shape() -> impl Strategy<Value = Shape> {
        (
            proptest::collection::vec(any::<u8>(), 0..100),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            0u64..=4_102_444_800_000,
            proptest::option::of(0u64..=4_102_444_800_000),
        )
            .prop_map(|(b, ob, t, ot)| Shape { b, ob, t, ot })
    }

    proptest! {
        #[test]
        fn round_trips_as_text(v in shape()) {
            let text = serde_json::to_string(&v).unwrap();
            prop_assert_eq!(serde_json::from_str::<Shape>(&text).unwrap(), v);
        }

        #[test]
        fn round_trips_natively(v in shape()) {
            let j: Value = native_values(|| serde_json::to_value(&v).unwrap());
            prop_assert!(j["b"].is_array());
            let back = native_values(|| serde_json::from_value::<Shape>(j)).unwrap();
            prop_assert_eq!(back, v);
        }

        #[test]
        fn text_and_native_agree(v in shape()) {
            // Text from outside parses inside the native mode, too.
            let text = serde_json::to_string(&v).unwrap();
            let back = native_values(|| serde_json::from_str::<Shape>(&text)).unwrap();
            prop_assert_eq!(back, v);
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,40}") {
            let _ = serde_json::from_value::<Shape>(json!({"b": s, "t": 0}));
            let _ = native_values(|| serde_json::from_value::<Secret>(json!({"s": s})));
        }

        #[test]
        fn base64_matches_the_reference(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let j = serde_json::to_value(Shape { b: b.clone(), ob: None, t: 0, ot: None }).unwrap();
            prop_assert_eq!(j["b"].as_str().unwrap(), STANDARD.encode(&b));
        }
    }
}
