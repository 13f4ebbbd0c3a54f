//! Strongroom for browsers and Node (wasm-bindgen). Thin: every KMS
//! operation is one method generated from the core's operation table
//! (`strongroom::for_each_operation!`), the envelope API forwards to
//! `strongroom::esdk`. The package's JS layer (`js/lib.js`) is the public
//! face; it names its methods from [`operations`], the same table.
//!
//! Requests and responses cross as native JS values both ways
//! (serde-wasm-bindgen straight from and to the core's request and response
//! types): AWS's own shape, the members AWS's SDK for JavaScript v3 uses
//! (`{KeyId, Plaintext}` in, `{CiphertextBlob, KeyId, …}` out), blobs as
//! `Uint8Array`s inside the core's native-values mode
//! ([`strongroom::shape::native_values`]). No JSON text, no hex, no renaming
//! walk: serde-wasm-bindgen reads each member the type names straight off
//! the JS object and writes each response member onto a new one. Errors
//! are thrown as JS `Error`s whose `code` property is the core's stable
//! error code.
//!
//! Secrets never travel as text: a `Uint8Array` plaintext is copied once,
//! straight from the JS array into a wasm buffer of its size that the core
//! owns and wipes (`SecretBytes`), and secret responses are copied once
//! from the core's wiped buffer into a new `Uint8Array`. The calls run
//! below a stack area that is wiped afterwards ([`scrubbed`]), and the
//! randomness every call needs comes from a wiped pool ([`PooledRng`])
//! instead of one `crypto.getRandomValues` crossing per request. Only
//! `callJson` carries the core's JSON text, for the language-neutral
//! vectors.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use js_sys::{Object, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

use strongroom::esdk::{
    self, BranchKeyStore as CoreBranchKeyStore, CachingCmm, CachingConfig, CommitmentPolicy,
    DecryptOptions, Decryptor, EncryptOptions, Encryptor, HierarchicalKeyring, KeyringSpec,
    KmsKeyring, MaterialsCache, MaterialsManager, RawAesKeyring,
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

/// Blob members as native bytes (`Uint8Array`) both ways: the core's
/// native-values mode around one crossing.
fn native<R>(f: impl FnOnce() -> R) -> R {
    strongroom::shape::native_values(f)
}

/// The serializer every value leaves by: maps (encryption contexts) as
/// plain objects, `None` as `null`, bytes as `Uint8Array`.
const TO_JS: serde_wasm_bindgen::Serializer = serde_wasm_bindgen::Serializer::new()
    .serialize_maps_as_objects(true)
    .serialize_missing_as_null(true);

/// A record → a JS object.
fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&TO_JS).map_err(|e| invalid(&e.to_string()))
}

/// A KMS request from a JS object (`undefined`/`null`: the empty request),
/// read member by member by serde-wasm-bindgen.
fn request_in<T: for<'de> Deserialize<'de> + Default>(v: JsValue) -> Result<T, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(T::default());
    }
    if !v.is_object() || js_sys::Array::is_array(&v) {
        return Err(invalid("the request must be an object"));
    }
    serde_wasm_bindgen::from_value(v).map_err(|e| invalid(&format!("malformed request: {e}")))
}

/// A KMS response as a JS object (operations with nothing to answer: `{}`).
fn response_out<T: Serialize>(r: &T) -> Result<JsValue, JsValue> {
    let v = to_js(r)?;
    Ok(if v.is_undefined() || v.is_null() {
        Object::new().into()
    } else {
        v
    })
}

/// A JS options object → a record (`undefined`/`null` → its default).
/// Through a JSON value, so `deny_unknown_fields` catches misspelt options
/// (serde-wasm-bindgen reads only the fields a struct names). For the
/// envelope API's options, not for KMS requests.
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

fn context_from(v: JsValue) -> Result<BTreeMap<String, String>, JsValue> {
    from_js(v).map_err(|_| invalid("the encryption context must be an object of strings"))
}

/// How much of the stack below the caller's frame [`scrub_stack`] wipes.
const SCRUB_BYTES: usize = 32 * 1024;

/// Overwrite the stack below the caller's frame, where the core's callees
/// may have left key bytes: wasm's shadow stack lives in linear memory and
/// is never cleared (a test found the root key there after `openSnapshot`
/// returned). One `memory.fill` of 32 KiB (bulk memory) that the compiler
/// may not drop: `black_box` makes the area observed after the fill. A
/// volatile write per word (what `zeroize` does) cost ~4 µs a call here;
/// this costs well under one.
#[inline(never)]
fn scrub_stack() {
    let mut area = std::mem::MaybeUninit::<[u8; SCRUB_BYTES]>::uninit();
    // SAFETY: writing SCRUB_BYTES zero bytes into an area of exactly that
    // size that this frame owns.
    unsafe { std::ptr::write_bytes(area.as_mut_ptr().cast::<u8>(), 0, SCRUB_BYTES) };
    std::hint::black_box(&mut area);
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
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

/// Randomness for a KMS in this module: the platform's
/// `crypto.getRandomValues` fills a pool of [`PooledRng::POOL`] bytes at a
/// time (one crossing into JS instead of one per request: each costs a JS
/// array and a copy), and every byte handed out is wiped from the pool at
/// once, so the pool holds only bytes nobody has used yet (and those are
/// wiped when the KMS is freed). Requests of more than half a pool go to
/// the platform directly.
struct PooledRng(Mutex<Pool>);

struct Pool {
    bytes: Box<[u8; PooledRng::POOL]>,
    /// Bytes before `at` are used (and zero).
    at: usize,
}

impl PooledRng {
    const POOL: usize = 4096;

    fn new() -> PooledRng {
        PooledRng(Mutex::new(Pool {
            bytes: Box::new([0; PooledRng::POOL]),
            at: PooledRng::POOL,
        }))
    }
}

impl strongroom::Rng for PooledRng {
    fn fill(&self, dest: &mut [u8]) -> strongroom::Result<()> {
        if dest.len() > Self::POOL / 2 {
            return strongroom::OsRng.fill(dest);
        }
        // A panic cannot leave the pool half-updated in a way that matters
        // (every step below keeps `at` and the wiped prefix consistent), so
        // a poisoned lock is taken over rather than failing every call.
        let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if Self::POOL - p.at < dest.len() {
            strongroom::OsRng.fill(&mut p.bytes[..])?;
            p.at = 0;
        }
        let at = p.at;
        let taken = &mut p.bytes[at..at + dest.len()];
        dest.copy_from_slice(taken);
        taken.zeroize();
        p.at = at + dest.len();
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
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

/// One method per row of the core's operation table, named by its AWS
/// name (`kms.Encrypt({KeyId, Plaintext})`): the request read straight off
/// the JS object into the row's request type, the row's `Kms` method, its
/// response written straight onto a new JS object. The JS layer gives them
/// their camelCase aliases from [`operations`].
macro_rules! operation_methods {
    ($($name:ident => $method:ident($req:ty) -> $resp:ty, $action:tt, $class:ident, $mode:ident;)*) => {
        mod generated {
            use super::*;
            use strongroom::api::*;

            #[wasm_bindgen]
            #[allow(non_snake_case)]
            impl Kms {
                $(
                    #[doc = concat!("AWS `", stringify!($name), "` (`", stringify!($req),
                        "` in, `", stringify!($resp), "` out), as a native JS object.")]
                    pub fn $name(&self, request: JsValue) -> Result<JsValue, JsValue> {
                        scrubbed(|| native(|| {
                            let req: $req = request_in(request)?;
                            response_out(&self.0.$method(req).map_err(err)?)
                        }))
                    }
                )*
            }
        }
    };
}
strongroom::for_each_operation!(operation_methods);

/// The members a request type reads: serde's own field list, caught by a
/// deserializer that only answers `deserialize_struct`. For the JS layer's
/// one-level check that a request names no unknown member
/// (serde-wasm-bindgen reads only the members a type names, so a misspelt
/// one would otherwise be silently ignored).
fn members_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    #[derive(Debug)]
    struct Caught(&'static [&'static str]);
    impl std::fmt::Display for Caught {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("not a struct")
        }
    }
    impl std::error::Error for Caught {}
    impl serde::de::Error for Caught {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Caught(&[])
        }
    }
    struct Probe;
    impl<'de> serde::Deserializer<'de> for Probe {
        type Error = Caught;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Caught> {
            Err(Caught(&[]))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Caught> {
            Err(Caught(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Caught(fields)) => fields,
        Ok(_) => &[],
    }
}

macro_rules! members_table {
    ($($name:ident => $method:ident($req:ty) -> $resp:ty, $action:tt, $class:ident, $mode:ident;)*) => {
        /// Every row's request members, by AWS name.
        fn members_table() -> BTreeMap<&'static str, &'static [&'static str]> {
            use strongroom::api::*;
            [$((stringify!($name), members_of::<$req>())),*].into()
        }
    };
}
strongroom::for_each_operation!(members_table);

/// `{OperationName: [request member, …]}` for every row of the table.
#[wasm_bindgen(js_name = requestMembers)]
pub fn request_members() -> Result<JsValue, JsValue> {
    to_js(&members_table())
}

/// Every operation's AWS name, in table order: the method names above
/// (the JS layer's operation list is this, never a list of its own).
#[wasm_bindgen]
pub fn operations() -> Vec<String> {
    strongroom::Operation::ALL
        .iter()
        .map(|o| o.name().to_string())
        .collect()
}

#[wasm_bindgen]
impl Kms {
    /// An in-memory KMS (randomness from the platform's crypto, pooled).
    #[wasm_bindgen(js_name = inMemory)]
    pub fn in_memory(account: Option<String>, region: Option<String>) -> Result<Kms, JsValue> {
        strongroom::Kms::builder(
            account.unwrap_or_else(|| "111122223333".into()),
            region.unwrap_or_else(|| "us-east-1".into()),
        )
        .rng(PooledRng::new())
        .in_memory()
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
            .rng(PooledRng::new())
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

    /// Any operation with the core's own JSON text (AWS's wire shape), as
    /// the language-neutral vectors are written.
    #[wasm_bindgen(js_name = callJson)]
    pub fn call_json(&self, operation: &str, request_json: &str) -> Result<String, JsValue> {
        scrubbed(|| {
            let req = parse_json(request_json)?;
            Ok(strongroom::json::call(&self.0, operation, req)
                .map_err(err)?
                .to_string())
        })
    }

    /// The same KMS acting as another caller (`{PrincipalArn, Account, …}`).
    #[wasm_bindgen(js_name = asCaller)]
    pub fn as_caller(&self, caller: JsValue) -> Result<Kms, JsValue> {
        let c = serde_wasm_bindgen::from_value(caller)
            .map_err(|e| invalid(&format!("malformed caller: {e}")))?;
        Ok(Kms(self.0.as_caller(c), self.1.clone()))
    }

    /// `ReplicateKey` into `replica` (another region's KMS in this process).
    #[wasm_bindgen(js_name = replicateKey)]
    pub fn replicate_key(&self, request: JsValue, replica: &Kms) -> Result<JsValue, JsValue> {
        native(|| {
            let req = request_in(request)?;
            response_out(&self.0.replicate_key(req, &replica.0).map_err(err)?)
        })
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

/// Branch keys for the hierarchical keyring, wrapped by one KMS key of
/// `kms`, in memory; `exportSnapshot()` / a `snapshot` argument carry them
/// across page loads (the entries are KMS ciphertext and public fields).
#[wasm_bindgen]
pub struct BranchKeyStore(Arc<CoreBranchKeyStore>, strongroom::MemoryStore);

#[wasm_bindgen]
impl BranchKeyStore {
    pub fn open(
        kms: &Kms,
        kms_key_id: String,
        logical_name: String,
        snapshot: Option<Vec<u8>>,
    ) -> Result<BranchKeyStore, JsValue> {
        let mem = match snapshot {
            Some(s) => strongroom::MemoryStore::from_snapshot(&s).map_err(err)?,
            None => strongroom::MemoryStore::new(),
        };
        let s = CoreBranchKeyStore::open(&kms.0, &kms_key_id, &logical_name, Box::new(mem.clone()))
            .map_err(err)?;
        Ok(BranchKeyStore(Arc::new(s), mem))
    }
    #[wasm_bindgen(js_name = createBranchKey)]
    pub fn create_branch_key(&self, branch_key_id: Option<String>) -> Result<String, JsValue> {
        self.0
            .create_branch_key(branch_key_id.as_deref(), &strongroom::OsRng)
            .map_err(err)
    }
    #[wasm_bindgen(js_name = versionBranchKey)]
    pub fn version_branch_key(&self, branch_key_id: String) -> Result<String, JsValue> {
        self.0
            .version_branch_key(&branch_key_id, &strongroom::OsRng)
            .map_err(err)
    }
    pub fn versions(&self, branch_key_id: String) -> Result<Vec<String>, JsValue> {
        self.0.versions(&branch_key_id).map_err(err)
    }
    #[wasm_bindgen(js_name = exportSnapshot)]
    pub fn export_snapshot(&self) -> Result<Vec<u8>, JsValue> {
        self.1.export_snapshot().map_err(err)
    }
}

/// A JavaScript `(encryptionContext) => branchKeyId` function as the
/// hierarchical keyring's supplier.
struct JsSupplier(js_sys::Function);

// SAFETY: this module is built for wasm32 without the `atomics` target
// feature (the impls exist only then): there is one thread, so a JS
// function can never be reached from another one. The core's supplier
// trait is Send + Sync for its native users.
#[cfg(not(target_feature = "atomics"))]
unsafe impl Send for JsSupplier {}
#[cfg(not(target_feature = "atomics"))]
unsafe impl Sync for JsSupplier {}

impl esdk::BranchKeyIdSupplier for JsSupplier {
    fn branch_key_id(&self, ctx: &strongroom::EncryptionContext) -> strongroom::Result<String> {
        let fail = |m: &str| {
            strongroom::Error::new(
                strongroom::ErrorCode::Validation,
                format!("the branch key id supplier {m}"),
            )
        };
        let arg = ctx.serialize(&TO_JS).map_err(|_| fail("got no context"))?;
        self.0
            .call1(&JsValue::NULL, &arg)
            .map_err(|_| fail("threw"))?
            .as_string()
            .ok_or_else(|| fail("did not return a string"))
    }
}

/// Envelope encryption (AWS Encryption SDK message format) with one keyring,
/// optionally behind a data key cache.
#[wasm_bindgen]
pub struct Envelope {
    cmm: Arc<dyn MaterialsManager>,
    cache: Option<Arc<MaterialsCache>>,
}

impl Envelope {
    fn build_from_specs(
        specs: Vec<JsValue>,
        kms: Option<&strongroom::Kms>,
    ) -> Result<Envelope, JsValue> {
        scrubbed(|| {
            let mut rings = specs
                .into_iter()
                .map(|s| {
                    native(|| serde_wasm_bindgen::from_value::<KeyringSpec>(s))
                        .map_err(|e| invalid(&e.to_string()))?
                        .build(kms)
                        .map_err(err)
                })
                .collect::<Result<Vec<_>, JsValue>>()?;
            if rings.is_empty() {
                return Err(invalid("at least one keyring spec is needed"));
            }
            let first = rings.remove(0);
            let ring = if rings.is_empty() {
                first
            } else {
                esdk::multi(Some(first), rings).map_err(err)?
            };
            Ok(Envelope {
                cmm: Arc::new(ring),
                cache: None,
            })
        })
    }
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
#[derive(Deserialize, Default)]
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
    commitment_policy: Option<String>,
) -> Result<EncryptOptions, JsValue> {
    Ok(EncryptOptions {
        suite: suite.unwrap_or(esdk::SUITE_AES256_HKDF_SHA512_COMMIT_ECDSA_P384),
        frame_length: frame_length.unwrap_or(esdk::DEFAULT_FRAME_LENGTH),
        plaintext_length: len,
        commitment_policy: match commitment_policy {
            None => CommitmentPolicy::default(),
            Some(p) => CommitmentPolicy::from_name(&p).map_err(err)?,
        },
    })
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

    /// Keyrings from the core's `KeyringSpec` table (objects with `type`,
    /// MPL member names; byte members as `Uint8Array`, PEM keys as text or
    /// bytes); several make a multi-keyring (the first generates). KMS
    /// specs act through `kms`.
    #[wasm_bindgen(js_name = fromKeyrings)]
    pub fn from_keyrings(specs: Vec<JsValue>) -> Result<Envelope, JsValue> {
        Self::build_from_specs(specs, None)
    }

    /// `fromKeyrings` with KMS specs acting through `kms`.
    #[wasm_bindgen(js_name = fromKeyringsWithKms)]
    pub fn from_keyrings_with_kms(specs: Vec<JsValue>, kms: &Kms) -> Result<Envelope, JsValue> {
        Self::build_from_specs(specs, Some(&kms.0))
    }

    /// The hierarchical keyring over `store`'s branch key `branchKeyId`, or
    /// the one a `supplier(encryptionContext) -> string` function picks per
    /// message; opened branch keys cached for `ttlMs`.
    pub fn hierarchical(
        store: &BranchKeyStore,
        branch_key_id: Option<String>,
        ttl_ms: f64,
        supplier: Option<js_sys::Function>,
    ) -> Result<Envelope, JsValue> {
        let s = store.0.clone();
        let ring = match (branch_key_id, supplier) {
            (Some(id), None) => HierarchicalKeyring::new(s, id, ttl_ms as u64, SystemClock),
            (None, Some(f)) => HierarchicalKeyring::with_supplier(
                s,
                Arc::new(JsSupplier(f)),
                ttl_ms as u64,
                SystemClock,
            ),
            _ => return Err(invalid("give either branchKeyId or branchKeyIdSupplier")),
        }
        .map_err(err)?;
        Ok(Envelope {
            cmm: Arc::new(ring),
            cache: None,
        })
    }

    /// A raw AES-128, -192 or -256 wrapping key, wire-identical to the official SDKs'.
    #[wasm_bindgen(js_name = rawAes)]
    pub fn raw_aes(
        key_namespace: String,
        key_name: String,
        wrapping_key: Vec<u8>,
    ) -> Result<Envelope, JsValue> {
        // The key passes through stack arrays on its way into the keyring.
        scrubbed(|| {
            let mut wrapping_key = wrapping_key;
            // 16, 24 or 32 bytes: the keyring checks, and keeps only its
            // zeroizing key schedule.
            let ring = RawAesKeyring::new(key_namespace, key_name, &wrapping_key);
            strongroom::wipe(&mut wrapping_key);
            Ok(Envelope {
                cmm: Arc::new(ring.map_err(err)?),
                cache: None,
            })
        })
    }

    /// `suite`: 0x0578 (signed, default) or 0x0478; a legacy suite under
    /// `commitmentPolicy` `FORBID_ENCRYPT_ALLOW_DECRYPT`. A frame length
    /// of 0 writes a non-framed body. `plaintext`: a `Uint8Array`, copied
    /// into a wasm buffer wiped on return.
    pub fn encrypt(
        &self,
        plaintext: JsValue,
        encryption_context: JsValue,
        suite: Option<u16>,
        frame_length: Option<u32>,
        commitment_policy: Option<String>,
    ) -> Result<Vec<u8>, JsValue> {
        scrubbed(|| {
            let plaintext = secret_in(&plaintext, "plaintext")?;
            let opts = encrypt_options(
                suite,
                frame_length,
                Some(plaintext.len() as u64),
                commitment_policy,
            )?;
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
    /// `encryptionContext`: the context the caller expects (the
    /// authenticated-only pairs of a required-context message included).
    pub fn decrypt(
        &self,
        message: &[u8],
        allow_legacy_suites: Option<bool>,
        encryption_context: JsValue,
    ) -> Result<JsValue, JsValue> {
        scrubbed(|| {
            let policy = CommitmentPolicy::allowing_legacy(allow_legacy_suites.unwrap_or(false));
            let expected = if encryption_context.is_undefined() || encryption_context.is_null() {
                None
            } else {
                Some(context_from(encryption_context)?)
            };
            let d = esdk::decrypt_expecting(
                &*self.cmm,
                message,
                &DecryptOptions::with_policy(policy),
                expected.as_ref(),
            )
            .map_err(err)?;
            decrypted(d.plaintext.as_bytes(), &d.info)
        })
    }

    /// The required encryption context CMM in front of this envelope.
    #[wasm_bindgen(js_name = withRequiredEncryptionContextKeys)]
    pub fn with_required_encryption_context_keys(
        &self,
        keys: Vec<String>,
    ) -> Result<Envelope, JsValue> {
        let cmm = esdk::RequiredEncryptionContextCmm::new(self.cmm.clone(), keys).map_err(err)?;
        Ok(Envelope {
            cmm: Arc::new(cmm),
            cache: self.cache.clone(),
        })
    }

    /// A data key cache in front of this envelope's keyrings:
    /// `{capacity, maxAgeMs, maxMessagesEncrypted, maxBytesEncrypted, partition}`.
    #[wasm_bindgen(js_name = withCache)]
    pub fn with_cache(&self, options: JsValue) -> Result<Envelope, JsValue> {
        let c: CacheOptions = from_js(options)?;
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
            cmm: Arc::new(CachingCmm::new(self.cmm.clone(), store.clone(), cfg).map_err(err)?),
            cache: Some(store),
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
        commitment_policy: Option<String>,
    ) -> Result<EncryptStream, JsValue> {
        let opts = encrypt_options(
            suite,
            frame_length,
            plaintext_length.map(|n| n as u64),
            commitment_policy,
        )?;
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
        commitment_policy: Option<String>,
    ) -> Result<JsValue, JsValue> {
        let opts = encrypt_options(
            suite,
            Some(frame_length),
            Some(plaintext_length as u64),
            commitment_policy,
        )?;
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
