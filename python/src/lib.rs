//! `strongroom._native`: the private native module under the `strongroom`
//! Python package. Thin: every method forwards to the Rust core in a line or
//! two. Errors cross as one exception, `NativeError(code, message)`, which
//! the Python layer turns into the class named by the code. Crypto and store
//! work runs with the GIL released.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde_json::json;
use strongroom::api::{
    DecryptRequest, DeriveSharedSecretRequest, EncryptRequest, GenerateDataKeyPairRequest,
    GenerateDataKeyRequest, GenerateRandomRequest, SecretBytes,
};
use strongroom::esdk::{
    CachingCmm, CachingConfig, CommitmentPolicy, DecryptOptions, Decryptor, EncryptOptions,
    Encryptor, KmsKeyring, MaterialsCache, MaterialsManager, MessageInfo, RawAesKeyring,
};
use strongroom::{Caller, Kms, ManualClock, OsRng, RootKey, SystemClock};
use zeroize::Zeroizing;

pyo3::create_exception!(_native, NativeError, PyException);

fn err(e: strongroom::Error) -> PyErr {
    NativeError::new_err((e.code().as_str(), e.message().to_string()))
}

fn invalid(msg: &str) -> PyErr {
    NativeError::new_err(("ValidationException", msg.to_string()))
}

type Ctx = BTreeMap<String, String>;
/// (suite, frame length, context, provider id, key name)
type Info = (u16, u32, Ctx, String, String);
type Opened<'py> = (Bound<'py, PyBytes>, Info);
/// A response's JSON without its secret field, and the secret as bytes.
type WithSecret<'py> = (String, Bound<'py, PyBytes>);

/// A typed request from JSON text (AWS field names) that carries no
/// secret: the secret-bearing operations take and return their secrets as
/// bytes, beside the JSON.
fn request<T: serde::de::DeserializeOwned>(json: &str) -> PyResult<T> {
    serde_json::from_str(json).map_err(|e| invalid(&format!("malformed request: {e}")))
}

/// A non-secret blob as AWS writes it in JSON (standard base64, padded).
fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn to_json(v: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(v).map_err(|_| invalid("unserialisable response"))
}

// Per-thread output buffers reused across calls: a fresh multi-megabyte
// allocation per message costs more in page faults than the AES itself.
// The plaintext buffer is wiped after every use.
const SCRATCH_KEEP: usize = 64 << 20;
thread_local! {
    static CIPHER_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    static PLAIN_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn take(cell: &'static std::thread::LocalKey<std::cell::RefCell<Vec<u8>>>) -> Vec<u8> {
    cell.with(|c| std::mem::take(&mut *c.borrow_mut()))
}

fn give_back(cell: &'static std::thread::LocalKey<std::cell::RefCell<Vec<u8>>>, mut v: Vec<u8>) {
    v.clear();
    if v.capacity() <= SCRATCH_KEEP {
        cell.with(|c| *c.borrow_mut() = v);
    }
}

/// A manual clock (milliseconds since the Unix epoch) shared with the KMS
/// instances built on it.
#[pyclass(frozen, module = "strongroom._native")]
struct NativeClock(ManualClock);

#[pymethods]
impl NativeClock {
    #[new]
    fn new(start_ms: u64) -> Self {
        NativeClock(ManualClock::new(start_ms))
    }
    fn set_ms(&self, ms: u64) {
        self.0.set(ms)
    }
    fn advance_ms(&self, ms: u64) {
        self.0.advance_ms(ms)
    }
    fn now_ms(&self) -> u64 {
        strongroom::Clock::now_ms(&self.0)
    }
}

/// A KMS handle. `close()` drops it (the store's lock is released once no
/// other handle, caller view or envelope on the same store is alive).
#[pyclass(frozen, module = "strongroom._native")]
struct NativeKms(Mutex<Option<Kms>>);

impl NativeKms {
    fn new(k: Kms) -> Self {
        NativeKms(Mutex::new(Some(k)))
    }
    fn get(&self) -> PyResult<Kms> {
        self.0
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .ok_or_else(|| invalid("this Kms is closed"))
    }
}

#[pymethods]
impl NativeKms {
    /// Open (or create) a file store.
    #[staticmethod]
    #[pyo3(signature = (path, account, region, root_key=None, passphrase=None, clock=None))]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        account: String,
        region: String,
        root_key: Option<&[u8]>,
        passphrase: Option<String>,
        clock: Option<&NativeClock>,
    ) -> PyResult<Self> {
        let root = RootKey::from_parts(root_key, passphrase).map_err(err)?;
        let mut b = Kms::builder(account, region);
        if let Some(c) = clock {
            b = b.clock(c.0.clone());
        }
        py.detach(|| b.open_file(path, root))
            .map(NativeKms::new)
            .map_err(err)
    }

    #[staticmethod]
    #[pyo3(signature = (account, region, clock=None))]
    fn in_memory(account: String, region: String, clock: Option<&NativeClock>) -> PyResult<Self> {
        let mut b = Kms::builder(account, region);
        if let Some(c) = clock {
            b = b.clock(c.0.clone());
        }
        b.in_memory().map(NativeKms::new).map_err(err)
    }

    /// In memory, with the deterministic test RNG: every key is predictable
    /// from `seed`. For replaying test vectors only: compiled only with the
    /// `dangerous-test-rng` feature, which no package enables (the test
    /// build of scripts/py-test.sh does).
    #[cfg(feature = "dangerous-test-rng")]
    #[staticmethod]
    fn deterministic(
        account: String,
        region: String,
        seed: &[u8],
        clock: &NativeClock,
    ) -> PyResult<Self> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| invalid("seed must be 32 bytes"))?;
        Kms::builder(account, region)
            .clock(clock.0.clone())
            .rng(strongroom::DangerousSeededRng::new(seed))
            .in_memory()
            .map(NativeKms::new)
            .map_err(err)
    }

    fn account(&self) -> PyResult<String> {
        Ok(self.get()?.account().to_string())
    }
    fn region(&self) -> PyResult<String> {
        Ok(self.get()?.region().to_string())
    }

    /// Flush and drop this handle.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let k = self.0.lock().ok().and_then(|mut g| g.take());
        if let Some(k) = k {
            py.detach(|| {
                let r = k.flush();
                drop(k);
                r
            })
            .map_err(err)?;
        }
        Ok(())
    }

    /// One AWS-named operation with a JSON request in AWS's wire shape
    /// (AWS member names, blobs as base64); returns the JSON response.
    fn call(&self, py: Python<'_>, operation: &str, request: &str) -> PyResult<String> {
        let req: serde_json::Value = serde_json::from_str(request)
            .map_err(|e| invalid(&format!("malformed request: {e}")))?;
        let kms = self.get()?;
        let out = py
            .detach(|| strongroom::json::call(&kms, operation, req))
            .map_err(err)?;
        Ok(out.to_string())
    }

    /// Encrypt, the plaintext as bytes (never in JSON text); `request` is
    /// the JSON request without `Plaintext`. Returns the JSON response.
    fn encrypt(&self, py: Python<'_>, request_json: &str, plaintext: &[u8]) -> PyResult<String> {
        // `Plaintext` is a required member of AWS's request: it crosses as
        // bytes beside the JSON, which carries an empty one in its place.
        let mut v: serde_json::Value = serde_json::from_str(request_json)
            .map_err(|e| invalid(&format!("malformed request: {e}")))?;
        let obj = v
            .as_object_mut()
            .ok_or_else(|| invalid("malformed request: not a JSON object"))?;
        if obj.contains_key("Plaintext") {
            return Err(invalid("pass the plaintext as bytes, not in the request"));
        }
        obj.insert("Plaintext".into(), "".into());
        let mut req: EncryptRequest =
            serde_json::from_value(v).map_err(|e| invalid(&format!("malformed request: {e}")))?;
        req.plaintext = SecretBytes::from(plaintext);
        let kms = self.get()?;
        to_json(&py.detach(|| kms.encrypt(req)).map_err(err)?)
    }

    /// Decrypt: (the JSON response without `Plaintext`, the plaintext).
    fn decrypt<'py>(&self, py: Python<'py>, request_json: &str) -> PyResult<WithSecret<'py>> {
        let req: DecryptRequest = request(request_json)?;
        let kms = self.get()?;
        let r = py.detach(|| kms.decrypt(req)).map_err(err)?;
        let meta = json!({
            "KeyId": r.key_id,
            "EncryptionAlgorithm": r.encryption_algorithm,
            "KeyMaterialId": r.key_material_id,
        });
        Ok((meta.to_string(), PyBytes::new(py, r.plaintext.as_bytes())))
    }

    /// GenerateDataKey: (the JSON response without `Plaintext`, the data key).
    fn generate_data_key<'py>(
        &self,
        py: Python<'py>,
        request_json: &str,
    ) -> PyResult<WithSecret<'py>> {
        let req: GenerateDataKeyRequest = request(request_json)?;
        let kms = self.get()?;
        let r = py.detach(|| kms.generate_data_key(req)).map_err(err)?;
        let meta = json!({
            "CiphertextBlob": b64(&r.ciphertext_blob),
            "KeyId": r.key_id,
            "KeyMaterialId": r.key_material_id,
        });
        Ok((meta.to_string(), PyBytes::new(py, r.plaintext.as_bytes())))
    }

    /// GenerateDataKeyPair: (the JSON response without
    /// `PrivateKeyPlaintext`, the PKCS#8 DER private key).
    fn generate_data_key_pair<'py>(
        &self,
        py: Python<'py>,
        request_json: &str,
    ) -> PyResult<WithSecret<'py>> {
        let req: GenerateDataKeyPairRequest = request(request_json)?;
        let kms = self.get()?;
        let r = py.detach(|| kms.generate_data_key_pair(req)).map_err(err)?;
        let meta = json!({
            "PrivateKeyCiphertextBlob": b64(&r.private_key_ciphertext_blob),
            "PublicKey": b64(&r.public_key),
            "KeyId": r.key_id,
            "KeyPairSpec": r.key_pair_spec,
            "KeyMaterialId": r.key_material_id,
        });
        Ok((
            meta.to_string(),
            PyBytes::new(py, r.private_key_plaintext.as_bytes()),
        ))
    }

    /// DeriveSharedSecret: (the JSON response without `SharedSecret`, the
    /// secret).
    fn derive_shared_secret<'py>(
        &self,
        py: Python<'py>,
        request_json: &str,
    ) -> PyResult<WithSecret<'py>> {
        let req: DeriveSharedSecretRequest = request(request_json)?;
        let kms = self.get()?;
        let r = py.detach(|| kms.derive_shared_secret(req)).map_err(err)?;
        let meta = json!({
            "KeyId": r.key_id,
            "KeyAgreementAlgorithm": r.key_agreement_algorithm,
            "KeyOrigin": r.key_origin,
        });
        Ok((
            meta.to_string(),
            PyBytes::new(py, r.shared_secret.as_bytes()),
        ))
    }

    /// GenerateRandom, as bytes.
    fn generate_random<'py>(
        &self,
        py: Python<'py>,
        number_of_bytes: u32,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let kms = self.get()?;
        let req = GenerateRandomRequest {
            number_of_bytes: Some(number_of_bytes),
        };
        let r = py
            .detach(|| kms.generate_random(req))
            .map_err(err)?
            .plaintext;
        Ok(PyBytes::new(py, r.as_bytes()))
    }

    /// A handle acting as the caller given as JSON (`PrincipalArn`,
    /// `Account`, optional `ViaService`, `SourceAccount`).
    fn as_caller(&self, caller_json: &str) -> PyResult<Self> {
        let c: Caller = serde_json::from_str(caller_json)
            .map_err(|e| invalid(&format!("malformed caller: {e}")))?;
        Ok(NativeKms::new(self.get()?.as_caller(c)))
    }

    fn caller_json(&self) -> PyResult<String> {
        Ok(serde_json::to_string(self.get()?.caller()).unwrap_or_default())
    }

    fn replicate_key(
        &self,
        py: Python<'_>,
        request: &str,
        replica: &NativeKms,
    ) -> PyResult<String> {
        let req = serde_json::from_str(request)
            .map_err(|e| invalid(&format!("malformed request: {e}")))?;
        let (k, dest) = (self.get()?, replica.get()?);
        let r = py.detach(|| k.replicate_key(req, &dest)).map_err(err)?;
        Ok(serde_json::to_string(&r).unwrap_or_default())
    }

    fn update_primary_region(
        &self,
        py: Python<'_>,
        key_id: &str,
        new_primary: &NativeKms,
    ) -> PyResult<()> {
        let (k, dest) = (self.get()?, new_primary.get()?);
        py.detach(|| k.update_primary_region(key_id, &dest))
            .map_err(err)
    }

    #[pyo3(signature = (key_id, root_key=None, passphrase=None))]
    fn recover_key_policy(
        &self,
        py: Python<'_>,
        key_id: &str,
        root_key: Option<&[u8]>,
        passphrase: Option<String>,
    ) -> PyResult<()> {
        let root = RootKey::from_parts(root_key, passphrase).map_err(err)?;
        let k = self.get()?;
        py.detach(|| k.recover_key_policy(key_id, root))
            .map_err(err)
    }

    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let k = self.get()?;
        py.detach(|| k.flush()).map_err(err)
    }

    fn audit_log_json(&self, py: Python<'_>) -> PyResult<String> {
        let k = self.get()?;
        let log = py.detach(|| k.audit_log()).map_err(err)?;
        Ok(serde_json::to_string(&log).unwrap_or_default())
    }
}

/// Envelope encryption (AWS Encryption SDK format) with a fixed keyring and
/// optional data key cache.
#[pyclass(frozen, module = "strongroom._native")]
struct NativeEnvelope {
    cmm: Arc<dyn MaterialsManager>,
    cache: Option<Arc<MaterialsCache>>,
}

fn info_tuple(i: MessageInfo) -> Info {
    (
        i.suite,
        i.frame_length,
        i.encryption_context,
        i.opened_by.provider_id,
        i.opened_by.key_name,
    )
}

fn decrypt_options(allow_legacy: bool, max_encrypted_data_keys: u16) -> DecryptOptions {
    DecryptOptions {
        commitment_policy: CommitmentPolicy::allowing_legacy(allow_legacy),
        max_encrypted_data_keys,
        ..Default::default()
    }
}

#[pymethods]
impl NativeEnvelope {
    /// KMS keys (the first generates); none = discovery (decrypt only).
    /// `cache` = (capacity, max_age_ms, max_messages, max_bytes, partition).
    #[staticmethod]
    #[pyo3(signature = (kms, key_ids, grant_tokens, cache=None, clock=None))]
    fn kms(
        kms: &NativeKms,
        key_ids: Vec<String>,
        grant_tokens: Vec<String>,
        cache: Option<(usize, u64, u64, u64, Option<String>)>,
        clock: Option<&NativeClock>,
    ) -> PyResult<Self> {
        let kms = kms.get()?;
        let ring = if key_ids.is_empty() {
            KmsKeyring::discovery(&kms)
        } else {
            KmsKeyring::with_keys(&kms, Some(key_ids[0].clone()), key_ids[1..].to_vec())
        }
        .with_grant_tokens(grant_tokens);
        match cache {
            None => Ok(NativeEnvelope {
                cmm: Arc::new(ring),
                cache: None,
            }),
            Some((
                capacity,
                max_age_ms,
                max_messages_encrypted,
                max_bytes_encrypted,
                partition,
            )) => {
                let c = match clock {
                    Some(c) => MaterialsCache::new(capacity, c.0.clone()),
                    None => MaterialsCache::new(capacity, SystemClock),
                }
                .map_err(err)?;
                let cfg = CachingConfig {
                    max_age_ms,
                    max_messages_encrypted,
                    max_bytes_encrypted,
                    partition,
                };
                let cmm = CachingCmm::new(ring, c.clone(), cfg).map_err(err)?;
                Ok(NativeEnvelope {
                    cmm: Arc::new(cmm),
                    cache: Some(c),
                })
            }
        }
    }

    /// A raw AES-256 wrapping key, wire-identical to the official SDKs'.
    #[staticmethod]
    fn raw_aes(namespace: String, name: String, key: &[u8]) -> PyResult<Self> {
        let k: Zeroizing<[u8; 32]> = Zeroizing::new(
            key.try_into()
                .map_err(|_| invalid("the wrapping key must be 32 bytes"))?,
        );
        let ring = RawAesKeyring::new(namespace, name, *k).map_err(err)?;
        Ok(NativeEnvelope {
            cmm: Arc::new(ring),
            cache: None,
        })
    }

    fn encrypt<'py>(
        &self,
        py: Python<'py>,
        plaintext: &[u8],
        context: Ctx,
        suite: u16,
        frame_length: u32,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let opts = EncryptOptions {
            suite,
            frame_length,
            plaintext_length: Some(plaintext.len() as u64),
        };
        let mut out = take(&CIPHER_SCRATCH);
        let r = py.detach(|| {
            let mut e = Encryptor::new(&*self.cmm, &context, &opts, &OsRng)?;
            out.reserve(plaintext.len() + plaintext.len() / 64 + 1024);
            e.update(plaintext, &mut out)?;
            e.finish(&mut out)
        });
        let result = r.map(|()| PyBytes::new(py, &out)).map_err(err);
        give_back(&CIPHER_SCRATCH, out);
        result
    }

    fn decrypt<'py>(
        &self,
        py: Python<'py>,
        message: &[u8],
        allow_legacy: bool,
        max_encrypted_data_keys: u16,
    ) -> PyResult<Opened<'py>> {
        let opts = decrypt_options(allow_legacy, max_encrypted_data_keys);
        let mut out = take(&PLAIN_SCRATCH);
        let r = py.detach(|| {
            let mut d = Decryptor::new(&*self.cmm, opts);
            out.reserve(message.len());
            d.update(message, &mut out)?;
            d.finish(&mut out)
        });
        let result = r
            .map(|info| (PyBytes::new(py, &out), info_tuple(info)))
            .map_err(err);
        strongroom::wipe(&mut out);
        give_back(&PLAIN_SCRATCH, out);
        result
    }

    #[pyo3(signature = (context, suite, frame_length, plaintext_length=None))]
    fn encryptor(
        &self,
        py: Python<'_>,
        context: Ctx,
        suite: u16,
        frame_length: u32,
        plaintext_length: Option<u64>,
    ) -> PyResult<NativeEncryptor> {
        let opts = EncryptOptions {
            suite,
            frame_length,
            plaintext_length,
        };
        let e = py
            .detach(|| Encryptor::new(&*self.cmm, &context, &opts, &OsRng))
            .map_err(err)?;
        Ok(NativeEncryptor(Mutex::new(Some(e))))
    }

    fn decryptor(&self, allow_legacy: bool, max_encrypted_data_keys: u16) -> NativeDecryptor {
        let d = Decryptor::shared(
            self.cmm.clone(),
            decrypt_options(allow_legacy, max_encrypted_data_keys),
        );
        NativeDecryptor(Mutex::new(Some(d)))
    }

    /// (hits, misses, evictions, invalidations, bypasses, entries), or None
    /// without a cache.
    fn cache_stats(&self) -> Option<(u64, u64, u64, u64, u64, u64)> {
        self.cache.as_ref().map(|c| {
            let s = c.stats();
            (
                s.hits,
                s.misses,
                s.evictions,
                s.invalidations,
                s.bypasses,
                s.entries,
            )
        })
    }
}

fn finished() -> PyErr {
    invalid("this stream is finished (or failed)")
}

#[pyclass(frozen, module = "strongroom._native")]
struct NativeEncryptor(Mutex<Option<Encryptor>>);

#[pymethods]
impl NativeEncryptor {
    fn update<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let out = py.detach(|| {
            let mut g = self.0.lock().map_err(|_| finished())?;
            let e = g.as_mut().ok_or_else(finished)?;
            let mut out = Vec::with_capacity(data.len() + 256);
            match e.update(data, &mut out) {
                Ok(()) => Ok(out),
                Err(x) => {
                    *g = None;
                    Err(err(x))
                }
            }
        })?;
        Ok(PyBytes::new(py, &out))
    }

    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let out = py.detach(|| {
            let e = self
                .0
                .lock()
                .map_err(|_| finished())?
                .take()
                .ok_or_else(finished)?;
            let mut out = Vec::new();
            e.finish(&mut out).map_err(err)?;
            Ok::<_, PyErr>(out)
        })?;
        Ok(PyBytes::new(py, &out))
    }
}

#[pyclass(frozen, module = "strongroom._native")]
struct NativeDecryptor(Mutex<Option<Decryptor<'static>>>);

#[pymethods]
impl NativeDecryptor {
    fn update<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let out = py.detach(|| {
            let mut g = self.0.lock().map_err(|_| finished())?;
            let d = g.as_mut().ok_or_else(finished)?;
            // Reserved by the decryptor at its upper bound before any
            // plaintext is written; wiped on drop.
            let mut out = Zeroizing::new(Vec::new());
            match d.update(data, &mut out) {
                Ok(()) => Ok(out),
                Err(x) => {
                    *g = None;
                    Err(err(x))
                }
            }
        })?;
        Ok(PyBytes::new(py, &out))
    }

    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Opened<'py>> {
        let (out, info) = py.detach(|| {
            let d = self
                .0
                .lock()
                .map_err(|_| finished())?
                .take()
                .ok_or_else(finished)?;
            let mut out = Zeroizing::new(Vec::new());
            let info = d.finish(&mut out).map_err(err)?;
            Ok::<_, PyErr>((out, info))
        })?;
        Ok((PyBytes::new(py, &out), info_tuple(info)))
    }
}

/// The canonical encryption context encoding (docs/formats/encryption-context.md),
/// for replaying tests/vectors/core/encryption-context.json.
#[pyfunction]
fn canonical_encryption_context<'py>(
    py: Python<'py>,
    context: Ctx,
) -> PyResult<Bound<'py, PyBytes>> {
    let b = strongroom::context::canonical_encoding(&context).map_err(err)?;
    Ok(PyBytes::new(py, &b))
}

/// Every stable error code, as the core defines them.
#[pyfunction]
fn error_codes() -> Vec<&'static str> {
    strongroom::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    m.add_class::<NativeClock>()?;
    m.add_class::<NativeKms>()?;
    m.add_class::<NativeEnvelope>()?;
    m.add_class::<NativeEncryptor>()?;
    m.add_class::<NativeDecryptor>()?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    m.add_function(wrap_pyfunction!(canonical_encryption_context, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
