//! Strongroom for browsers and Node (wasm-bindgen). Thin: every method
//! forwards to the core's AWS-shaped JSON entry point or its envelope API.
//! The package's JS layer (`js/lib.js`) is the public face.
//!
//! KMS requests arrive as camelCase JSON text (AWS's request parameters in
//! camelCase, blobs as base64: the JS layer writes it with `JSON.stringify`);
//! responses and every other record leave as JS objects through
//! serde-wasm-bindgen (camelCase; KMS response blobs as base64, which the JS
//! layer turns into `Uint8Array`s; envelope bytes as `Uint8Array`). Errors
//! are thrown as JS `Error`s whose `code` property is the core's stable
//! error code.
//!
//! Secrets never travel as text: the operations that carry plaintexts or
//! key bytes (Encrypt, Decrypt, GenerateDataKey, GenerateDataKeyPair,
//! GenerateRandom, DeriveSharedSecret) and the envelope and stream methods
//! take and give them as `Uint8Array`s, copied straight between the JS
//! array and a wasm buffer reserved at its full size and wiped on drop
//! (`Zeroizing`, the core's `SecretBytes`). Only `call`/`callJson` still
//! carry them as base64, as the AWS-shaped escape hatch.

use std::collections::BTreeMap;
use std::sync::Arc;

use js_sys::{Reflect, Uint8Array};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use strongroom::api::{
    DecryptRequest, DeriveSharedSecretRequest, EncryptRequest, GenerateDataKeyPairRequest,
    GenerateDataKeyRequest, GenerateRandomRequest,
};
use strongroom::esdk::{
    self, CachingCmm, CachingConfig, CommitmentPolicy, DecryptOptions, Decryptor, EncryptOptions,
    Encryptor, KmsKeyring, MaterialsCache, MaterialsManager, RawAesKeyring,
};
use strongroom::SystemClock;
use wasm_bindgen::prelude::*;

/// A JS `Error` with the stable `code` property.
fn js_error(code: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    let _ = Reflect::set(&e, &"code".into(), &code.into());
    e.set_name(code);
    e.into()
}

fn err(e: strongroom::Error) -> JsValue {
    js_error(e.code().as_str(), e.message())
}

fn invalid(message: &str) -> JsValue {
    js_error("ValidationException", message)
}

/// Fields whose values are maps of user data: their keys are never renamed.
const MAP_FIELDS: &[&str] = &[
    "EncryptionContext",
    "EncryptionContextSubset",
    "EncryptionContextEquals",
    "SourceEncryptionContext",
    "DestinationEncryptionContext",
];

fn to_aws_name(camel: &str) -> String {
    if camel == "awsAccountId" {
        return "AWSAccountId".into();
    }
    let mut c = camel.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn to_camel(pascal: &str) -> String {
    if pascal == "AWSAccountId" {
        return "awsAccountId".into();
    }
    let mut c = pascal.chars();
    c.next()
        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// A camelCase request → the core's JSON (PascalCase keys; user maps such
/// as encryption contexts kept as given; policy objects as their text).
fn to_core(v: Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.into_iter().map(to_core).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, x)| {
                    let key = to_aws_name(&k);
                    let val = if MAP_FIELDS.contains(&key.as_str()) {
                        x
                    } else if (key == "Policy" || key == "PolicyDocument") && x.is_object() {
                        Value::String(x.to_string())
                    } else {
                        to_core(x)
                    };
                    (key, val)
                })
                .collect(),
        ),
        other => other,
    }
}

/// The core's JSON → camelCase (user maps kept as they are).
fn from_core(v: Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.into_iter().map(from_core).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, x)| {
                    let val = if MAP_FIELDS.contains(&k.as_str()) {
                        x
                    } else {
                        from_core(x)
                    };
                    (to_camel(&k), val)
                })
                .collect(),
        ),
        other => other,
    }
}

/// A record → a JS object (maps as plain objects, `None` as `null`, bytes
/// as `Uint8Array`).
fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsValue> {
    let ser = serde_wasm_bindgen::Serializer::new()
        .serialize_maps_as_objects(true)
        .serialize_missing_as_null(true);
    v.serialize(&ser).map_err(|e| invalid(&e.to_string()))
}

/// A JS options object → a record (`undefined`/`null` → its default).
/// Through a JSON value, so `deny_unknown_fields` catches misspelt options
/// (serde-wasm-bindgen reads only the fields a struct names).
fn from_js<T: for<'de> Deserialize<'de> + Default>(v: JsValue) -> Result<T, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(T::default());
    }
    let json: Value = serde_wasm_bindgen::from_value(v).map_err(|e| invalid(&e.to_string()))?;
    serde_json::from_value(json).map_err(|e| invalid(&e.to_string()))
}

fn parse_json(text: &str) -> Result<Value, JsValue> {
    serde_json::from_str(text).map_err(|e| invalid(&format!("malformed JSON: {e}")))
}

/// Secret bytes from JS (`undefined`/`null`: none) into a wasm buffer of
/// exactly their length, wiped on drop: copied once, straight from the JS
/// array (no intermediate copy left in wasm memory).
fn secret_in(v: &JsValue, what: &str) -> Result<Zeroizing<Vec<u8>>, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(Zeroizing::new(Vec::new()));
    }
    let a = v
        .dyn_ref::<Uint8Array>()
        .ok_or_else(|| invalid(&format!("{what} must be a Uint8Array")))?;
    let mut buf = Zeroizing::new(vec![0u8; a.length() as usize]);
    a.copy_to(&mut buf);
    Ok(buf)
}

/// Overwrite the stack below the caller's frame, where the core's callees
/// may have left key bytes: wasm's shadow stack lives in linear memory and
/// is never cleared (a test found the root key there after `openSnapshot`
/// returned). 32 KiB of volatile writes, a few µs.
#[inline(never)]
fn scrub_stack() {
    let mut area = [0u64; 4096];
    zeroize::Zeroize::zeroize(&mut area[..]);
    std::hint::black_box(&area);
}

/// `f` in a frame of its own below the caller's (so that nothing it copies
/// lands in the caller's frame), then [`scrub_stack`] over that area: for
/// the calls that handle secrets.
fn scrubbed<T>(f: impl FnOnce() -> T) -> T {
    let r = run_below(f);
    scrub_stack();
    r
}

#[inline(never)]
fn run_below<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// A typed KMS request from camelCase JSON that must not carry the secret
/// field `secret` (that one crosses as bytes).
fn typed_request<T: DeserializeOwned>(
    request_json: &str,
    secret: Option<&str>,
) -> Result<T, JsValue> {
    let mut v = to_core(parse_json(request_json)?);
    if let Some(f) = secret {
        if v.get(f).is_some() {
            return Err(invalid(&format!(
                "{f} goes in its own Uint8Array argument, not in the request JSON"
            )));
        }
        // A required member of AWS's request: an empty one stands in for
        // it here, the bytes are set from the Uint8Array afterwards.
        if let Some(o) = v.as_object_mut() {
            o.insert(f.into(), Value::String(String::new()));
        }
    }
    serde_json::from_value(v).map_err(|e| invalid(&format!("malformed request: {e}")))
}

/// A core response record → the camelCase JS object `call` gives.
fn response_js<T: Serialize>(r: T) -> Result<JsValue, JsValue> {
    to_js(&from_core(
        serde_json::to_value(r).map_err(|e| invalid(&e.to_string()))?,
    ))
}

fn context_from(v: JsValue) -> Result<BTreeMap<String, String>, JsValue> {
    from_js(v).map_err(|_| invalid("the encryption context must be an object of strings"))
}

/// A clock that moves only when told to (ms since the Unix epoch).
#[wasm_bindgen]
pub struct ManualClock(strongroom::ManualClock);

#[wasm_bindgen]
impl ManualClock {
    #[wasm_bindgen(constructor)]
    pub fn new(start_ms: f64) -> ManualClock {
        ManualClock(strongroom::ManualClock::new(start_ms as u64))
    }
    #[wasm_bindgen(js_name = advanceMs)]
    pub fn advance_ms(&self, ms: f64) {
        self.0.advance_ms(ms as u64)
    }
}

/// A key management service in this page or process. Its sealed store
/// lives in memory; `exportSnapshot()` gives it as bytes to keep (for
/// example in IndexedDB) and `Kms.openSnapshot` reopens it after a reload.
#[wasm_bindgen]
pub struct Kms(strongroom::Kms, Option<strongroom::MemoryStore>);

macro_rules! operations {
    ($($js:ident => $op:literal),+ $(,)?) => {
        #[wasm_bindgen]
        #[allow(non_snake_case)]
        impl Kms {
            $(
                #[doc = concat!("AWS `", $op, "`: camelCase request JSON in, response object out.")]
                pub fn $js(&self, request_json: &str) -> Result<JsValue, JsValue> {
                    self.call($op, request_json)
                }
            )+
        }
    };
}

operations! {
    createKey => "CreateKey",
    describeKey => "DescribeKey",
    listKeys => "ListKeys",
    updateKeyDescription => "UpdateKeyDescription",
    tagResource => "TagResource",
    untagResource => "UntagResource",
    listResourceTags => "ListResourceTags",
    enableKey => "EnableKey",
    disableKey => "DisableKey",
    scheduleKeyDeletion => "ScheduleKeyDeletion",
    cancelKeyDeletion => "CancelKeyDeletion",
    createAlias => "CreateAlias",
    updateAlias => "UpdateAlias",
    deleteAlias => "DeleteAlias",
    listAliases => "ListAliases",
    reEncrypt => "ReEncrypt",
    generateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
    enableKeyRotation => "EnableKeyRotation",
    disableKeyRotation => "DisableKeyRotation",
    getKeyRotationStatus => "GetKeyRotationStatus",
    rotateKeyOnDemand => "RotateKeyOnDemand",
    listKeyRotations => "ListKeyRotations",
    putKeyPolicy => "PutKeyPolicy",
    getKeyPolicy => "GetKeyPolicy",
    listKeyPolicies => "ListKeyPolicies",
    createGrant => "CreateGrant",
    listGrants => "ListGrants",
    listRetirableGrants => "ListRetirableGrants",
    retireGrant => "RetireGrant",
    revokeGrant => "RevokeGrant",
    putIdentityPolicy => "PutIdentityPolicy",
    getIdentityPolicy => "GetIdentityPolicy",
    deleteIdentityPolicy => "DeleteIdentityPolicy",
    sign => "Sign",
    verify => "Verify",
    getPublicKey => "GetPublicKey",
    generateMac => "GenerateMac",
    verifyMac => "VerifyMac",
    generateDataKeyPairWithoutPlaintext => "GenerateDataKeyPairWithoutPlaintext",
    getParametersForImport => "GetParametersForImport",
    importKeyMaterial => "ImportKeyMaterial",
    deleteImportedKeyMaterial => "DeleteImportedKeyMaterial",
}

/// Decrypt's answer, the plaintext as a `Uint8Array`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DecryptOut<'a> {
    key_id: &'a str,
    #[serde(with = "serde_bytes")]
    plaintext: &'a [u8],
    encryption_algorithm: strongroom::model::EncryptionAlgorithm,
    key_material_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DataKeyOut<'a> {
    #[serde(with = "serde_bytes")]
    ciphertext_blob: &'a [u8],
    #[serde(with = "serde_bytes")]
    plaintext: &'a [u8],
    key_id: &'a str,
    key_material_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RandomOut<'a> {
    #[serde(with = "serde_bytes")]
    plaintext: &'a [u8],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SharedSecretOut<'a> {
    key_id: &'a str,
    #[serde(with = "serde_bytes")]
    shared_secret: &'a [u8],
    key_agreement_algorithm: &'a str,
    key_origin: strongroom::model::Origin,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DataKeyPairOut<'a> {
    #[serde(with = "serde_bytes")]
    private_key_ciphertext_blob: &'a [u8],
    #[serde(with = "serde_bytes")]
    private_key_plaintext: &'a [u8],
    #[serde(with = "serde_bytes")]
    public_key: &'a [u8],
    key_id: &'a str,
    key_pair_spec: strongroom::model::KeySpec,
    key_material_id: &'a str,
}

/// The secret-bearing operations, typed and byte-based: camelCase request
/// JSON for the other fields; secrets in and out as `Uint8Array`s (see the
/// crate docs), never as hex text. The JS layer's camelCase methods and
/// `call` use these.
#[wasm_bindgen]
impl Kms {
    /// AWS `Encrypt`: `plaintext` as bytes, the rest of the request as JSON.
    pub fn encrypt(&self, request_json: &str, plaintext: JsValue) -> Result<JsValue, JsValue> {
        scrubbed(|| {
            let mut req: EncryptRequest = typed_request(request_json, Some("Plaintext"))?;
            let mut p = secret_in(&plaintext, "plaintext")?;
            req.plaintext = std::mem::take(&mut *p).into();
            response_js(self.0.encrypt(req).map_err(err)?)
        })
    }

    /// AWS `Decrypt`; `plaintext` comes back as a `Uint8Array`.
    pub fn decrypt(&self, request_json: &str) -> Result<JsValue, JsValue> {
        scrubbed(|| {
            let req: DecryptRequest = typed_request(request_json, None)?;
            let d = self.0.decrypt(req).map_err(err)?;
            to_js(&DecryptOut {
                key_id: &d.key_id,
                plaintext: d.plaintext.as_bytes(),
                encryption_algorithm: d.encryption_algorithm,
                key_material_id: &d.key_material_id,
            })
        })
    }

    /// AWS `GenerateDataKey`; both blobs as `Uint8Array`s.
    #[wasm_bindgen(js_name = generateDataKey)]
    pub fn generate_data_key(&self, request_json: &str) -> Result<JsValue, JsValue> {
        scrubbed(|| {
            let req: GenerateDataKeyRequest = typed_request(request_json, None)?;
            let d = self.0.generate_data_key(req).map_err(err)?;
            to_js(&DataKeyOut {
                ciphertext_blob: &d.ciphertext_blob,
                plaintext: d.plaintext.as_bytes(),
                key_id: &d.key_id,
                key_material_id: &d.key_material_id,
            })
        })
    }

    /// AWS `GenerateRandom`; `plaintext` as a `Uint8Array`.
    #[wasm_bindgen(js_name = generateRandom)]
    pub fn generate_random(&self, request_json: &str) -> Result<JsValue, JsValue> {
        scrubbed(|| {
            let req: GenerateRandomRequest = typed_request(request_json, None)?;
            let p = self.0.generate_random(req).map_err(err)?.plaintext;
            to_js(&RandomOut {
                plaintext: p.as_bytes(),
            })
        })
    }

    /// AWS `DeriveSharedSecret`; `sharedSecret` as a `Uint8Array`.
    #[wasm_bindgen(js_name = deriveSharedSecret)]
    pub fn derive_shared_secret(&self, request_json: &str) -> Result<JsValue, JsValue> {
        scrubbed(|| {
            let req: DeriveSharedSecretRequest = typed_request(request_json, None)?;
            let d = self.0.derive_shared_secret(req).map_err(err)?;
            to_js(&SharedSecretOut {
                key_id: &d.key_id,
                shared_secret: d.shared_secret.as_bytes(),
                key_agreement_algorithm: &d.key_agreement_algorithm,
                key_origin: d.key_origin,
            })
        })
    }

    /// AWS `GenerateDataKeyPair`; every byte field as a `Uint8Array`.
    #[wasm_bindgen(js_name = generateDataKeyPair)]
    pub fn generate_data_key_pair(&self, request_json: &str) -> Result<JsValue, JsValue> {
        scrubbed(|| {
            let req: GenerateDataKeyPairRequest = typed_request(request_json, None)?;
            let d = self.0.generate_data_key_pair(req).map_err(err)?;
            to_js(&DataKeyPairOut {
                private_key_ciphertext_blob: &d.private_key_ciphertext_blob,
                private_key_plaintext: d.private_key_plaintext.as_bytes(),
                public_key: &d.public_key,
                key_id: &d.key_id,
                key_pair_spec: d.key_pair_spec,
                key_material_id: &d.key_material_id,
            })
        })
    }
}

#[wasm_bindgen]
impl Kms {
    /// An in-memory KMS (randomness from the platform's crypto).
    #[wasm_bindgen(js_name = inMemory)]
    pub fn in_memory(account: Option<String>, region: Option<String>) -> Result<Kms, JsValue> {
        let account = account.unwrap_or_else(|| "111122223333".into());
        let region = region.unwrap_or_else(|| "us-east-1".into());
        strongroom::Kms::in_memory(&account, &region)
            .map(|k| Kms(k, None))
            .map_err(err)
    }

    /// Open a sealed store kept as a snapshot (`undefined` for a new one)
    /// with a 32-byte `rootKey` or a `passphrase` (Argon2id). A wrong key
    /// is `InvalidRootKeyException`; damaged bytes `StoreCorruptedException`.
    #[wasm_bindgen(js_name = openSnapshot)]
    pub fn open_snapshot(
        snapshot: Option<Vec<u8>>,
        root_key: Option<Vec<u8>>,
        passphrase: Option<String>,
        account: Option<String>,
        region: Option<String>,
    ) -> Result<Kms, JsValue> {
        scrubbed(|| {
            // wasm-bindgen hands the key over in a buffer it allocated: wiped
            // when this returns (the core keeps its own, wiped, copy).
            let root_key = root_key.map(Zeroizing::new);
            let root =
                strongroom::RootKey::from_parts(root_key.as_deref().map(Vec::as_slice), passphrase)
                    .map_err(err)?;
            let store = match snapshot {
                Some(b) => strongroom::MemoryStore::from_snapshot(&b).map_err(err)?,
                None => strongroom::MemoryStore::new(),
            };
            let k = strongroom::Kms::builder(
                account.unwrap_or_else(|| "111122223333".into()),
                region.unwrap_or_else(|| "us-east-1".into()),
            )
            .open(store.clone(), root)
            .map_err(err)?;
            Ok(Kms(k, Some(store)))
        })
    }

    /// The sealed store as bytes (pending audit events included); only for
    /// a KMS opened with `openSnapshot`.
    #[wasm_bindgen(js_name = exportSnapshot)]
    pub fn export_snapshot(&self) -> Result<Vec<u8>, JsValue> {
        let store = self
            .1
            .as_ref()
            .ok_or_else(|| invalid("this Kms was not opened with openSnapshot"))?;
        self.0.flush().map_err(err)?;
        store.export_snapshot().map_err(err)
    }

    /// In memory with the deterministic test RNG: every key follows from
    /// `seed` (32 bytes). For replaying the language-neutral vectors only;
    /// behind the off-by-default feature `dangerous-test-rng`, so never in
    /// the npm package.
    #[cfg(feature = "dangerous-test-rng")]
    pub fn deterministic(
        account: String,
        region: String,
        seed: Vec<u8>,
        clock: &ManualClock,
    ) -> Result<Kms, JsValue> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| invalid("seed must be 32 bytes"))?;
        strongroom::Kms::builder(account, region)
            .clock(clock.0.clone())
            .rng(strongroom::DangerousSeededRng::new(seed))
            .in_memory()
            .map(|k| Kms(k, None))
            .map_err(err)
    }

    /// Any operation by its AWS name: camelCase request JSON (bytes as
    /// hex) in, camelCase response object (bytes as hex) out.
    pub fn call(&self, operation: &str, request_json: &str) -> Result<JsValue, JsValue> {
        let req = to_core(parse_json(request_json)?);
        let out = strongroom::json::call(&self.0, operation, req).map_err(err)?;
        to_js(&from_core(out))
    }

    /// Any operation with the core's own JSON (PascalCase, bytes as hex), as
    /// the language-neutral vectors are written.
    #[wasm_bindgen(js_name = callJson)]
    pub fn call_json(&self, operation: &str, request_json: &str) -> Result<String, JsValue> {
        let req = parse_json(request_json)?;
        Ok(strongroom::json::call(&self.0, operation, req)
            .map_err(err)?
            .to_string())
    }

    /// The same KMS acting as another caller (camelCase JSON:
    /// `{principalArn, account, …}`).
    #[wasm_bindgen(js_name = asCaller)]
    pub fn as_caller(&self, caller_json: &str) -> Result<Kms, JsValue> {
        let c = serde_json::from_value(to_core(parse_json(caller_json)?))
            .map_err(|e| invalid(&format!("malformed caller: {e}")))?;
        Ok(Kms(self.0.as_caller(c), self.1.clone()))
    }

    /// `ReplicateKey` into `replica` (another region's KMS in this process).
    #[wasm_bindgen(js_name = replicateKey)]
    pub fn replicate_key(&self, request_json: &str, replica: &Kms) -> Result<JsValue, JsValue> {
        let req = serde_json::from_value(to_core(parse_json(request_json)?))
            .map_err(|e| invalid(&format!("malformed request: {e}")))?;
        let r = self.0.replicate_key(req, &replica.0).map_err(err)?;
        to_js(&from_core(
            serde_json::to_value(r).map_err(|e| invalid(&e.to_string()))?,
        ))
    }

    /// `ReplicateKey` with the core's own JSON (for the vectors).
    #[wasm_bindgen(js_name = replicateKeyJson)]
    pub fn replicate_key_json(&self, request_json: &str, replica: &Kms) -> Result<String, JsValue> {
        let req = serde_json::from_str(request_json)
            .map_err(|e| invalid(&format!("malformed JSON: {e}")))?;
        let r = self.0.replicate_key(req, &replica.0).map_err(err)?;
        serde_json::to_string(&r).map_err(|e| invalid(&e.to_string()))
    }

    #[wasm_bindgen(js_name = updatePrimaryRegion)]
    pub fn update_primary_region(&self, key_id: &str, new_primary: &Kms) -> Result<(), JsValue> {
        self.0
            .update_primary_region(key_id, &new_primary.0)
            .map_err(err)
    }

    /// How many batches this KMS's snapshot store has taken (0 without
    /// one): the JS layer saves a snapshot when it changes.
    #[wasm_bindgen(getter, js_name = storeWrites)]
    pub fn store_writes(&self) -> f64 {
        self.1.as_ref().map_or(0.0, |s| s.writes() as f64)
    }

    #[wasm_bindgen(getter)]
    pub fn region(&self) -> String {
        self.0.region().to_string()
    }
}

/// Envelope encryption (AWS Encryption SDK message format) with one keyring,
/// optionally behind a data key cache.
#[wasm_bindgen]
pub struct Envelope {
    cmm: Arc<dyn MaterialsManager>,
    cache: Option<Arc<MaterialsCache>>,
}

/// `Envelope.forKms` options.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnvelopeOptions {
    #[serde(default)]
    grant_tokens: Vec<String>,
    cache: Option<CacheOptions>,
}

/// A data key cache's limits; omitted ones take the core's defaults.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CacheOptions {
    capacity: Option<u32>,
    max_age_ms: Option<u64>,
    max_messages_encrypted: Option<u64>,
    max_bytes_encrypted: Option<u64>,
    partition: Option<String>,
}

/// A decrypted message (from a stream's `finish`: its last bytes).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Decrypted<'a> {
    #[serde(with = "serde_bytes")]
    plaintext: &'a [u8],
    encryption_context: &'a BTreeMap<String, String>,
    suite: u16,
    frame_length: u32,
    provider_id: &'a str,
    key_name: &'a str,
}

impl<'a> Decrypted<'a> {
    fn new(plaintext: &'a [u8], info: &'a esdk::MessageInfo) -> Self {
        Decrypted {
            plaintext,
            encryption_context: &info.encryption_context,
            suite: info.suite,
            frame_length: info.frame_length,
            provider_id: &info.opened_by.provider_id,
            key_name: &info.opened_by.key_name,
        }
    }
}

fn decrypted(plaintext: &[u8], info: &esdk::MessageInfo) -> Result<JsValue, JsValue> {
    to_js(&Decrypted::new(plaintext, info))
}

/// One frame of a delegated (WebCrypto) message.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Frame<'a> {
    offset: usize,
    length: usize,
    #[serde(with = "serde_bytes")]
    prefix: &'a [u8],
    #[serde(with = "serde_bytes")]
    iv: &'a [u8],
    #[serde(with = "serde_bytes")]
    aad: &'a [u8],
}

fn frames(frames: &[esdk::FrameSpec]) -> Vec<Frame<'_>> {
    frames
        .iter()
        .map(|f| Frame {
            offset: f.offset,
            length: f.len,
            prefix: &f.prefix,
            iv: &f.iv,
            aad: &f.aad,
        })
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DelegatedEncryptionOut<'a> {
    #[serde(with = "serde_bytes")]
    header: &'a [u8],
    #[serde(with = "serde_bytes")]
    content_key: &'a [u8],
    frames: Vec<Frame<'a>>,
    /// PKCS#8 DER of the message's ECDSA P-384 key (signed suite only).
    #[serde(with = "serde_bytes")]
    signing_key: Option<&'a [u8]>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DelegatedDecryptionOut<'a> {
    #[serde(with = "serde_bytes")]
    content_key: &'a [u8],
    frames: Vec<Frame<'a>>,
    info: Decrypted<'a>,
    signature: Option<SignatureOut<'a>>,
}

/// A signed message's signature, for WebCrypto's ECDSA verify.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignatureOut<'a> {
    curve: &'a str,
    hash: &'a str,
    #[serde(with = "serde_bytes")]
    public_key: &'a [u8],
    #[serde(with = "serde_bytes")]
    signature: &'a [u8],
    signed_length: usize,
}

fn encrypt_options(
    suite: Option<u16>,
    frame_length: Option<u32>,
    len: Option<u64>,
) -> EncryptOptions {
    EncryptOptions {
        suite: suite.unwrap_or(esdk::SUITE_AES256_HKDF_SHA512_COMMIT_ECDSA_P384),
        frame_length: frame_length.unwrap_or(esdk::DEFAULT_FRAME_LENGTH),
        plaintext_length: len,
    }
}

#[wasm_bindgen]
impl Envelope {
    /// KMS keys (the first generates each data key; any can decrypt); an
    /// empty list decrypts with any key the caller may use. `options`:
    /// `{grantTokens?, cache?: {capacity, maxAgeMs, maxMessagesEncrypted,
    /// maxBytesEncrypted, partition}}`.
    #[wasm_bindgen(js_name = forKms)]
    pub fn for_kms(kms: &Kms, key_ids: Vec<String>, options: JsValue) -> Result<Envelope, JsValue> {
        let o: EnvelopeOptions = from_js(options)?;
        let ring = match key_ids.split_first() {
            None => KmsKeyring::discovery(&kms.0),
            Some((g, rest)) => KmsKeyring::with_keys(&kms.0, Some(g.clone()), rest.to_vec()),
        }
        .with_grant_tokens(o.grant_tokens);
        let Some(c) = o.cache else {
            return Ok(Envelope {
                cmm: Arc::new(ring),
                cache: None,
            });
        };
        let d = CachingConfig::default();
        let store =
            MaterialsCache::new(c.capacity.unwrap_or(100) as usize, SystemClock).map_err(err)?;
        let cfg = CachingConfig {
            max_age_ms: c.max_age_ms.unwrap_or(d.max_age_ms),
            max_messages_encrypted: c.max_messages_encrypted.unwrap_or(d.max_messages_encrypted),
            max_bytes_encrypted: c.max_bytes_encrypted.unwrap_or(d.max_bytes_encrypted),
            partition: c.partition,
        };
        Ok(Envelope {
            cmm: Arc::new(CachingCmm::new(ring, store.clone(), cfg).map_err(err)?),
            cache: Some(store),
        })
    }

    /// A raw AES-256 wrapping key, wire-identical to the official SDKs'.
    #[wasm_bindgen(js_name = rawAes)]
    pub fn raw_aes(
        key_namespace: String,
        key_name: String,
        wrapping_key: Vec<u8>,
    ) -> Result<Envelope, JsValue> {
        // The key passes through stack arrays on its way into the keyring.
        scrubbed(|| {
            let mut wrapping_key = wrapping_key;
            let k: Result<[u8; 32], _> = wrapping_key.as_slice().try_into();
            strongroom::wipe(&mut wrapping_key);
            let k = k.map_err(|_| invalid("the wrapping key must be 32 bytes"))?;
            Ok(Envelope {
                cmm: Arc::new(RawAesKeyring::new(key_namespace, key_name, k).map_err(err)?),
                cache: None,
            })
        })
    }

    /// `suite`: 0x0578 (signed, default) or 0x0478. `plaintext`: a
    /// `Uint8Array`, copied into a wasm buffer wiped on return.
    pub fn encrypt(
        &self,
        plaintext: JsValue,
        encryption_context: JsValue,
        suite: Option<u16>,
        frame_length: Option<u32>,
    ) -> Result<Vec<u8>, JsValue> {
        scrubbed(|| {
            let plaintext = secret_in(&plaintext, "plaintext")?;
            let opts = encrypt_options(suite, frame_length, Some(plaintext.len() as u64));
            esdk::encrypt_with(
                &*self.cmm,
                &plaintext,
                &context_from(encryption_context)?,
                &opts,
                &strongroom::OsRng,
            )
            .map_err(err)
        })
    }

    /// `{plaintext, encryptionContext, suite, frameLength, providerId, keyName}`.
    pub fn decrypt(
        &self,
        message: &[u8],
        allow_legacy_suites: Option<bool>,
    ) -> Result<JsValue, JsValue> {
        scrubbed(|| {
            let policy = CommitmentPolicy::allowing_legacy(allow_legacy_suites.unwrap_or(false));
            let d = esdk::decrypt_with(&*self.cmm, message, &DecryptOptions::with_policy(policy))
                .map_err(err)?;
            decrypted(d.plaintext.as_bytes(), &d.info)
        })
    }

    /// A push-style encryptor for data of any size (`plaintextLength`, when
    /// known, lets the cache serve it).
    pub fn encryptor(
        &self,
        encryption_context: JsValue,
        suite: Option<u16>,
        frame_length: Option<u32>,
        plaintext_length: Option<f64>,
    ) -> Result<EncryptStream, JsValue> {
        let opts = encrypt_options(suite, frame_length, plaintext_length.map(|n| n as u64));
        let ctx = context_from(encryption_context)?;
        Encryptor::new(&*self.cmm, &ctx, &opts, &strongroom::OsRng)
            .map(|e| EncryptStream(Some(e)))
            .map_err(err)
    }

    /// A push-style decryptor.
    pub fn decryptor(&self, allow_legacy_suites: Option<bool>) -> DecryptStream {
        let policy = CommitmentPolicy::allowing_legacy(allow_legacy_suites.unwrap_or(false));
        DecryptStream {
            d: Some(Decryptor::shared(
                self.cmm.clone(),
                DecryptOptions::with_policy(policy),
            )),
            unreleased: 0,
        }
    }

    /// Delegated bulk AES-GCM (for WebCrypto; see `esdk::DelegatedEncryption`):
    /// `{header, contentKey, frames: [{offset, length, prefix, iv, aad}],
    /// signingKey}`. The caller imports `contentKey` (and, for the signed
    /// suite, the PKCS#8 `signingKey`) as non-extractable keys at once and
    /// wipes them; a signed message ends with `signatureFooter(signature)`.
    #[wasm_bindgen(js_name = delegateEncrypt)]
    pub fn delegate_encrypt(
        &self,
        encryption_context: JsValue,
        suite: Option<u16>,
        frame_length: u32,
        plaintext_length: f64,
    ) -> Result<JsValue, JsValue> {
        let opts = encrypt_options(suite, Some(frame_length), Some(plaintext_length as u64));
        let ctx = context_from(encryption_context)?;
        let d = esdk::DelegatedEncryption::new(&*self.cmm, &ctx, &opts, &strongroom::OsRng)
            .map_err(err)?;
        to_js(&DelegatedEncryptionOut {
            header: &d.header,
            content_key: &d.content_key,
            frames: frames(&d.frames),
            signing_key: d.signing_key.as_ref().map(|k| k.as_slice()),
        })
    }

    /// The other direction: the header opened and the frames laid out here,
    /// `{contentKey, frames: [{offset, length, iv, aad}], info}` where
    /// `info` is a decrypted message without its plaintext, and for signed
    /// suites `signature: {curve, hash, publicKey, signature, signedLength}`
    /// to verify over the message's first `signedLength` bytes. Framed
    /// messages only (others: `UnsupportedOperationException`).
    #[wasm_bindgen(js_name = delegateDecrypt)]
    pub fn delegate_decrypt(
        &self,
        message: &[u8],
        allow_legacy_suites: Option<bool>,
    ) -> Result<JsValue, JsValue> {
        let policy = CommitmentPolicy::allowing_legacy(allow_legacy_suites.unwrap_or(false));
        let d = esdk::DelegatedDecryption::new(
            &*self.cmm,
            message,
            &DecryptOptions::with_policy(policy),
        )
        .map_err(err)?;
        to_js(&DelegatedDecryptionOut {
            content_key: &d.content_key,
            frames: frames(&d.frames),
            info: Decrypted::new(&[], &d.info),
            signature: d.signature.as_ref().map(|g| SignatureOut {
                curve: g.curve,
                hash: g.hash,
                public_key: &g.public_key,
                signature: &g.signature,
                signed_length: g.signed_len,
            }),
        })
    }

    /// `{hits, misses, evictions, invalidations, bypasses, entries}`, or
    /// `undefined` without a cache.
    #[wasm_bindgen(js_name = cacheStats)]
    pub fn cache_stats(&self) -> Result<JsValue, JsValue> {
        let Some(c) = &self.cache else {
            return Ok(JsValue::UNDEFINED);
        };
        to_js(&c.stats())
    }
}

/// A signed message's footer from WebCrypto's ECDSA P-384 signature
/// (`r ‖ s`).
#[wasm_bindgen(js_name = signatureFooter)]
pub fn signature_footer(signature: &[u8]) -> Result<Vec<u8>, JsValue> {
    esdk::signature_footer(signature).map_err(err)
}

/// The opaque decryption failure, as the core words it (for the JS layer
/// when a delegated frame fails to open).
#[wasm_bindgen(js_name = invalidCiphertextError)]
pub fn invalid_ciphertext_error() -> JsValue {
    err(strongroom::Error::invalid_ciphertext())
}

fn closed() -> JsValue {
    invalid("this stream is finished (or failed)")
}

/// One `update` of an open push stream into a buffer reserved at
/// `reserve` bytes (an upper bound of what the step can write, so it never
/// grows and leaves no copies behind) and wiped on drop; an error closes
/// the stream for good.
fn push<T>(
    slot: &mut Option<T>,
    reserve: usize,
    update: impl FnOnce(&mut T, &mut Vec<u8>) -> strongroom::Result<()>,
) -> Result<Zeroizing<Vec<u8>>, JsValue> {
    let s = slot.as_mut().ok_or_else(closed)?;
    let mut out = Zeroizing::new(Vec::with_capacity(reserve));
    if let Err(x) = update(s, &mut out) {
        *slot = None;
        return Err(err(x));
    }
    Ok(out)
}

/// Bytes out to JS as a `Uint8Array` of their own (the wasm buffer is
/// wiped when `out` drops).
fn bytes_out(out: &[u8]) -> Uint8Array {
    Uint8Array::from(out)
}

/// Push-style envelope encryption: `update(chunk)` returns message bytes
/// as frames fill, `finish()` the rest. Each plaintext chunk is copied
/// into a wasm buffer of its size, wiped after the step.
#[wasm_bindgen]
pub struct EncryptStream(Option<Encryptor>);

#[wasm_bindgen]
impl EncryptStream {
    pub fn update(&mut self, chunk: JsValue) -> Result<Uint8Array, JsValue> {
        scrubbed(|| {
            let chunk = secret_in(&chunk, "each chunk")?;
            // Whole frames out: at most this chunk plus one buffered frame,
            // each with its 32 bytes of sequence number, IV and tag.
            let reserve = chunk.len().saturating_mul(2).saturating_add(1024);
            let out = push(&mut self.0, reserve, |e, out| e.update(&chunk, out))?;
            Ok(bytes_out(&out))
        })
    }

    pub fn finish(&mut self) -> Result<Uint8Array, JsValue> {
        let e = self.0.take().ok_or_else(closed)?;
        let mut out = Zeroizing::new(Vec::new());
        e.finish(&mut out).map_err(err)?;
        Ok(bytes_out(&out))
    }
}

/// Push-style decryption: `update(chunk)` returns plaintext as frames
/// verify; only `finish()` returning normally means the message was
/// complete and (for signed suites) its signature verified. `finish()`
/// returns the last plaintext bytes with the message's details.
///
/// Plaintext is written into buffers reserved at an upper bound of what
/// the step can release (so they never reallocate) and wiped once copied
/// out to JS.
#[wasm_bindgen]
pub struct DecryptStream {
    d: Option<Decryptor<'static>>,
    /// Message bytes fed minus plaintext bytes released: plaintext never
    /// outgrows the ciphertext, so this bounds what is still to come.
    unreleased: usize,
}

impl DecryptStream {
    /// At most this many plaintext bytes can come out of `finish`: what
    /// the decryptor holds, for framed messages less than one frame (a
    /// signed message's held final frame), else what was fed so far.
    fn bound(&self, fed: usize) -> usize {
        let held = self.unreleased;
        let held = match self.d.as_ref().and_then(|d| d.info()) {
            Some(i) if i.frame_length > 0 => held.min(i.frame_length as usize),
            _ => held,
        };
        held.saturating_add(fed)
    }

    /// `update`, with the buffer and the capacity it was reserved at (for
    /// the test that it never reallocates).
    #[doc(hidden)]
    pub fn update_buffer(&mut self, chunk: &[u8]) -> Result<(Zeroizing<Vec<u8>>, usize), JsValue> {
        // The decryptor's own bound (what it holds plus the new bytes).
        let reserve = match self.d.as_ref() {
            Some(d) => d.output_bound(chunk.len()),
            None => chunk.len(),
        };
        let out = push(&mut self.d, reserve, |d, out| d.update(chunk, out))?;
        self.unreleased = (self.unreleased + chunk.len()).saturating_sub(out.len());
        Ok((out, reserve))
    }
}

#[wasm_bindgen]
impl DecryptStream {
    pub fn update(&mut self, chunk: &[u8]) -> Result<Uint8Array, JsValue> {
        scrubbed(|| {
            let (out, _) = self.update_buffer(chunk)?;
            Ok(bytes_out(&out))
        })
    }

    pub fn finish(&mut self) -> Result<JsValue, JsValue> {
        scrubbed(|| {
            let reserve = self.bound(0);
            let d = self.d.take().ok_or_else(closed)?;
            let mut out = Zeroizing::new(Vec::with_capacity(reserve));
            let info = d.finish(&mut out).map_err(err)?;
            decrypted(&out, &info)
        })
    }
}

/// Every stable error code.
#[wasm_bindgen(js_name = errorCodes)]
pub fn error_codes() -> Vec<String> {
    strongroom::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect()
}
