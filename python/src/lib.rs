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
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyType};
use strongroom::api::*;
use strongroom::esdk::{
    BranchKeyIdSupplier, BranchKeyStore, CachingCmm, CachingConfig, CommitmentPolicy,
    DecryptOptions, Decryptor, EncryptOptions, Encryptor, HierarchicalKeyring, KmsKeyring,
    MaterialsCache, MaterialsManager, MessageInfo, RawAesKeyring,
};
use strongroom::{Caller, Kms, ManualClock, Operation, OsRng, RootKey, SystemClock};
use zeroize::Zeroizing;

pyo3::create_exception!(_native, NativeError, PyException);

/// The Python layer's exception classes by code (`_register_errors`): a
/// core error is raised directly as its class, so no Python wrapper runs
/// per call. Before registration (or for a code the layer lacks),
/// `NativeError(code, message)`.
static ERROR_CLASSES: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

fn err(e: strongroom::Error) -> PyErr {
    raise(e.code().as_str(), e.message().to_string())
}

fn raise(code: &'static str, message: String) -> PyErr {
    Python::attach(|py| {
        let class = ERROR_CLASSES
            .get(py)
            .and_then(|d| d.bind(py).get_item(code).ok().flatten())
            .and_then(|c| c.cast_into::<PyType>().ok());
        match class {
            Some(c) => PyErr::from_type(c, (message,)),
            None => NativeError::new_err((code, message)),
        }
    })
}

fn invalid(msg: &str) -> PyErr {
    raise(strongroom::ErrorCode::Validation.as_str(), msg.to_string())
}

/// A serde error's text without the values it quotes (a wrongly typed
/// plaintext must not come back in the message): `invalid type: string
/// "…", expected …`.
fn redacted(e: &impl std::fmt::Display) -> String {
    let text = e.to_string();
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    for ch in text.chars() {
        if ch == '"' {
            if !quoted {
                out.push_str("\"…");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(ch);
        }
    }
    out
}

/// A request from native Python values (a dict with AWS member names,
/// blobs as `bytes`).
fn from_py<T: serde::de::DeserializeOwned>(obj: &Bound<'_, PyAny>) -> PyResult<T> {
    strongroom::native_values(|| T::deserialize(dict_de::De(obj)))
        .map_err(|e| invalid(&format!("malformed request: {}", redacted(&e))))
}

/// A response as native Python values (dicts, lists, str, numbers, bytes).
fn to_py<'py, T: serde::Serialize>(py: Python<'py>, v: &T) -> PyResult<Bound<'py, PyAny>> {
    strongroom::native_values(|| pythonize::pythonize(py, v))
        .map_err(|_| invalid("unserialisable response"))
}

type Ctx = BTreeMap<String, String>;
/// (suite, frame length, context, provider id, key name)
type Info = (u16, u32, Ctx, String, String);
type Opened<'py> = (Bound<'py, PyBytes>, Info);

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

    /// Any operation by its AWS name, with an AWS-shaped request as native
    /// values (a dict; blobs as `bytes`): the same path as the typed
    /// methods, which are one per row of the operation table.
    #[pyo3(signature = (operation, request=None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        operation: &str,
        request: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let op = Operation::from_name(operation)
            .ok_or_else(|| invalid(&format!("unknown operation '{operation}'")))?;
        match request {
            Some(r) => self.call_op(py, op, r),
            None => self.call_op(py, op, &PyDict::new(py).into_any()),
        }
    }

    /// For benchmarks (python/bench.py): seconds for `n` runs of an
    /// operation inside the core alone, no crossing per run. The request
    /// is deserialised once; nothing is returned but the time.
    fn _repeat(
        &self,
        py: Python<'_>,
        operation: &str,
        request: &Bound<'_, PyAny>,
        n: u32,
    ) -> PyResult<f64> {
        let op = Operation::from_name(operation)
            .ok_or_else(|| invalid(&format!("unknown operation '{operation}'")))?;
        self.repeat_op(py, op, request, n)
    }

    /// A handle acting as the caller given as a dict (`PrincipalArn`,
    /// `Account`, optional `ViaService`, `SourceAccount`).
    fn as_caller(&self, caller: &Bound<'_, PyAny>) -> PyResult<Self> {
        let c: Caller = from_py(caller)?;
        Ok(NativeKms::new(self.get()?.as_caller(c)))
    }

    /// ReplicateKey (two stores, so not in the one-store operation table):
    /// an AWS-shaped dict in and out.
    fn replicate_key<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'py, PyAny>,
        replica: &NativeKms,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req: strongroom::api::ReplicateKeyRequest = from_py(request)?;
        let (k, dest) = (self.get()?, replica.get()?);
        let r = py.detach(|| k.replicate_key(req, &dest)).map_err(err)?;
        to_py(py, &r)
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

    /// Every audited call, oldest first, as dicts.
    fn audit_log<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let k = self.get()?;
        let log = py.detach(|| k.audit_log()).map_err(err)?;
        to_py(py, &log)
    }
}

/// One Python method per row of the operation table: a dict (AWS member
/// names, native values) is deserialised straight into the core's request
/// type, the operation runs with the GIL released, and the response is
/// built as Python objects (`None` for an empty answer). Secrets never pass
/// through JSON text: request secrets are copied from `bytes` into the
/// core's wiped buffers, response secrets are wiped once copied out.
macro_rules! native_operations {
    ($($name:ident => $method:ident($req:ty) -> $resp:ty, $action:tt, $class:ident, $mode:ident;)*) => {
        #[pymethods]
        impl NativeKms {
            $(
                #[doc = concat!("`", stringify!($name), "`: a `", stringify!($req), "` dict in, the response's dict out.")]
                fn $method<'py>(
                    &self,
                    py: Python<'py>,
                    request: &Bound<'py, PyAny>,
                ) -> PyResult<Bound<'py, PyAny>> {
                    let req: $req = from_py(request)?;
                    let kms = self.get()?;
                    let out = py.detach(|| kms.$method(req)).map_err(err)?;
                    to_py(py, &out)
                }
            )*
        }

        impl NativeKms {
            /// `_repeat`'s body: the core's own cost of an operation, the
            /// request deserialised once and run `n` times without the GIL
            /// (answers dropped, errors counted as runs).
            fn repeat_op(
                &self,
                py: Python<'_>,
                op: Operation,
                request: &Bound<'_, PyAny>,
                n: u32,
            ) -> PyResult<f64> {
                let kms = self.get()?;
                match op {
                    $(Operation::$name => {
                        let req: $req = from_py(request)?;
                        Ok(py.detach(|| {
                            let start = std::time::Instant::now();
                            for _ in 0..n {
                                drop(kms.$method(req.clone()));
                            }
                            start.elapsed().as_secs_f64()
                        }))
                    })*
                    _ => Err(invalid(&format!("operation {op} is not served by this module"))),
                }
            }

            /// `call`'s dispatch: the same generated method as the typed layer's.
            fn call_op<'py>(
                &self,
                py: Python<'py>,
                op: Operation,
                request: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                match op {
                    $(Operation::$name => self.$method(py, request),)*
                    _ => Err(invalid(&format!("operation {op} is not served by this module"))),
                }
            }
        }
    };
}
strongroom::for_each_operation!(native_operations);

/// pythonize's deserialiser, except that dicts and lists are walked
/// directly: pythonize asks every mapping for `__dataclass_fields__` first,
/// a failed attribute lookup (a Python exception made and dropped) per
/// struct and per map, about a fifth of an Encrypt crossing in a profile.
/// Everything else (strings, numbers, bytes, enums) is pythonize's own.
mod dict_de {
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyList};
    use pythonize::{Depythonizer, PythonizeError};
    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

    pub struct De<'a, 'py>(pub &'a Bound<'py, PyAny>);

    macro_rules! forward {
        ($($method:ident),*) => {$(
            fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, PythonizeError> {
                de::Deserializer::$method(&mut Depythonizer::from_object(self.0), v)
            }
        )*};
    }

    impl<'de> de::Deserializer<'de> for De<'_, '_> {
        type Error = PythonizeError;

        forward!(
            deserialize_any,
            deserialize_bool,
            deserialize_i8,
            deserialize_i16,
            deserialize_i32,
            deserialize_i64,
            deserialize_u8,
            deserialize_u16,
            deserialize_u32,
            deserialize_u64,
            deserialize_f32,
            deserialize_f64,
            deserialize_char,
            deserialize_str,
            deserialize_string,
            deserialize_bytes,
            deserialize_byte_buf,
            deserialize_unit,
            deserialize_identifier,
            deserialize_ignored_any
        );

        fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, PythonizeError> {
            if self.0.is_none() {
                v.visit_none()
            } else {
                v.visit_some(self)
            }
        }

        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            v: V,
        ) -> Result<V::Value, PythonizeError> {
            de::Deserializer::deserialize_unit_struct(
                &mut Depythonizer::from_object(self.0),
                name,
                v,
            )
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            v: V,
        ) -> Result<V::Value, PythonizeError> {
            v.visit_newtype_struct(self)
        }

        fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, PythonizeError> {
            match self.0.cast::<PyList>() {
                Ok(list) => v.visit_seq(ListAccess {
                    list: list.clone(),
                    next: 0,
                }),
                Err(_) => {
                    de::Deserializer::deserialize_seq(&mut Depythonizer::from_object(self.0), v)
                }
            }
        }

        fn deserialize_tuple<V: Visitor<'de>>(
            self,
            len: usize,
            v: V,
        ) -> Result<V::Value, PythonizeError> {
            de::Deserializer::deserialize_tuple(&mut Depythonizer::from_object(self.0), len, v)
        }

        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            len: usize,
            v: V,
        ) -> Result<V::Value, PythonizeError> {
            de::Deserializer::deserialize_tuple_struct(
                &mut Depythonizer::from_object(self.0),
                name,
                len,
                v,
            )
        }

        fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, PythonizeError> {
            match self.0.cast_exact::<PyDict>() {
                Ok(d) => v.visit_map(DictAccess {
                    items: d.iter().collect(),
                    next: 0,
                }),
                Err(_) => {
                    de::Deserializer::deserialize_map(&mut Depythonizer::from_object(self.0), v)
                }
            }
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _fields: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, PythonizeError> {
            self.deserialize_map(v)
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            name: &'static str,
            variants: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, PythonizeError> {
            de::Deserializer::deserialize_enum(
                &mut Depythonizer::from_object(self.0),
                name,
                variants,
                v,
            )
        }
    }

    struct DictAccess<'py> {
        items: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
        next: usize,
    }

    impl<'de> MapAccess<'de> for DictAccess<'_> {
        type Error = PythonizeError;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, PythonizeError> {
            match self.items.get(self.next) {
                Some((k, _)) => seed.deserialize(De(k)).map(Some),
                None => Ok(None),
            }
        }

        fn next_value_seed<S: DeserializeSeed<'de>>(
            &mut self,
            seed: S,
        ) -> Result<S::Value, PythonizeError> {
            let i = self.next;
            self.next += 1;
            seed.deserialize(De(&self.items[i].1))
        }

        fn size_hint(&self) -> Option<usize> {
            Some(self.items.len() - self.next)
        }
    }

    struct ListAccess<'py> {
        list: Bound<'py, PyList>,
        next: usize,
    }

    impl<'de> SeqAccess<'de> for ListAccess<'_> {
        type Error = PythonizeError;

        fn next_element_seed<S: DeserializeSeed<'de>>(
            &mut self,
            seed: S,
        ) -> Result<Option<S::Value>, PythonizeError> {
            if self.next >= self.list.len() {
                return Ok(None);
            }
            let item = self.list.get_item(self.next)?;
            self.next += 1;
            seed.deserialize(De(&item)).map(Some)
        }

        fn size_hint(&self) -> Option<usize> {
            Some(self.list.len().saturating_sub(self.next))
        }
    }
}

/// Envelope encryption (AWS Encryption SDK format) with a fixed keyring and
/// optional data key cache.
/// Branch keys for the hierarchical keyring, wrapped by one KMS key, kept
/// in a file store at `path` (or in memory).
#[pyclass(frozen, module = "strongroom._native")]
struct NativeBranchKeyStore(Arc<BranchKeyStore>);

#[pymethods]
impl NativeBranchKeyStore {
    #[new]
    #[pyo3(signature = (kms, kms_key_id, logical_name, path=None))]
    fn new(
        kms: &NativeKms,
        kms_key_id: &str,
        logical_name: &str,
        path: Option<PathBuf>,
    ) -> PyResult<Self> {
        let kms = kms.get()?;
        let store: Box<dyn strongroom::Store> = match path {
            Some(p) => Box::new(strongroom::FileStore::open(p).map_err(err)?),
            None => Box::new(strongroom::MemoryStore::new()),
        };
        BranchKeyStore::open(&kms, kms_key_id, logical_name, store)
            .map(|s| NativeBranchKeyStore(Arc::new(s)))
            .map_err(err)
    }
    #[pyo3(signature = (branch_key_id=None))]
    fn create_branch_key(&self, py: Python<'_>, branch_key_id: Option<String>) -> PyResult<String> {
        py.detach(|| self.0.create_branch_key(branch_key_id.as_deref(), &OsRng))
            .map_err(err)
    }
    fn version_branch_key(&self, py: Python<'_>, branch_key_id: String) -> PyResult<String> {
        py.detach(|| self.0.version_branch_key(&branch_key_id, &OsRng))
            .map_err(err)
    }
    fn versions(&self, branch_key_id: String) -> PyResult<Vec<String>> {
        self.0.versions(&branch_key_id).map_err(err)
    }
    fn kms_key_arn(&self) -> String {
        self.0.kms_key_arn().to_string()
    }
}

/// A Python callable `(encryption_context: dict) -> str` as the
/// hierarchical keyring's branch key id supplier.
struct PySupplier(Py<PyAny>);

impl BranchKeyIdSupplier for PySupplier {
    fn branch_key_id(&self, ctx: &strongroom::EncryptionContext) -> strongroom::Result<String> {
        Python::attach(|py| {
            self.0
                .call1(py, (ctx.clone(),))
                .and_then(|r| r.extract::<String>(py))
                .map_err(|e| {
                    strongroom::Error::new(
                        strongroom::ErrorCode::Validation,
                        format!("the branch key id supplier failed: {e}"),
                    )
                })
        })
    }
}

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

    /// The hierarchical keyring: a fixed branch key id or a supplier
    /// callable; opened branch keys cached for `ttl_ms`.
    #[staticmethod]
    #[pyo3(signature = (store, branch_key_id, supplier, ttl_ms, clock=None))]
    fn hierarchical(
        store: &NativeBranchKeyStore,
        branch_key_id: Option<String>,
        supplier: Option<Py<PyAny>>,
        ttl_ms: u64,
        clock: Option<&NativeClock>,
    ) -> PyResult<Self> {
        let s = store.0.clone();
        let ring = match (branch_key_id, supplier, clock) {
            (Some(id), None, Some(c)) => HierarchicalKeyring::new(s, id, ttl_ms, c.0.clone()),
            (Some(id), None, None) => HierarchicalKeyring::new(s, id, ttl_ms, SystemClock),
            (None, Some(f), Some(c)) => {
                HierarchicalKeyring::with_supplier(s, Arc::new(PySupplier(f)), ttl_ms, c.0.clone())
            }
            (None, Some(f), None) => {
                HierarchicalKeyring::with_supplier(s, Arc::new(PySupplier(f)), ttl_ms, SystemClock)
            }
            _ => {
                return Err(invalid(
                    "give either branch_key_id or branch_key_id_supplier, not both",
                ))
            }
        }
        .map_err(err)?;
        Ok(NativeEnvelope {
            cmm: Arc::new(ring),
            cache: None,
        })
    }

    /// The required encryption context CMM in front of this envelope:
    /// `keys` must be in every encryption context, are authenticated but
    /// not stored, and must be supplied again to decrypt.
    fn with_required_encryption_context_keys(&self, keys: Vec<String>) -> PyResult<Self> {
        let cmm = strongroom::esdk::RequiredEncryptionContextCmm::new(self.cmm.clone(), keys)
            .map_err(err)?;
        Ok(NativeEnvelope {
            cmm: Arc::new(cmm),
            cache: self.cache.clone(),
        })
    }

    /// A data key cache in front of this envelope's keyrings.
    /// `cache` = (capacity, max_age_ms, max_messages, max_bytes, partition).
    #[pyo3(signature = (cache, clock=None))]
    fn with_cache(
        &self,
        cache: (usize, u64, u64, u64, Option<String>),
        clock: Option<&NativeClock>,
    ) -> PyResult<Self> {
        let (capacity, max_age_ms, max_messages_encrypted, max_bytes_encrypted, partition) = cache;
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
        let cmm = CachingCmm::new(self.cmm.clone(), c.clone(), cfg).map_err(err)?;
        Ok(NativeEnvelope {
            cmm: Arc::new(cmm),
            cache: Some(c),
        })
    }

    /// A raw AES-128, -192 or -256 wrapping key, wire-identical to the
    /// official SDKs'.
    #[staticmethod]
    fn raw_aes(namespace: String, name: String, key: &[u8]) -> PyResult<Self> {
        let ring = RawAesKeyring::new(namespace, name, key).map_err(err)?;
        Ok(NativeEnvelope {
            cmm: Arc::new(ring),
            cache: None,
        })
    }

    /// Keyrings from the core's `KeyringSpec` table: one spec (a dict with
    /// `type`), or a list of them (a multi-keyring; the first generates).
    /// KMS-backed specs act through `kms`. No binding code per keyring.
    #[staticmethod]
    #[pyo3(signature = (specs, kms=None))]
    fn from_specs(specs: Vec<Bound<'_, PyAny>>, kms: Option<&NativeKms>) -> PyResult<Self> {
        let kms = kms.map(|k| k.get()).transpose()?;
        let mut rings = specs
            .iter()
            .map(|s| {
                from_py::<strongroom::esdk::KeyringSpec>(s)?
                    .build(kms.as_ref())
                    .map_err(err)
            })
            .collect::<PyResult<Vec<_>>>()?;
        if rings.is_empty() {
            return Err(invalid("at least one keyring spec is needed"));
        }
        let first = rings.remove(0);
        let ring = if rings.is_empty() {
            first
        } else {
            strongroom::esdk::multi(Some(first), rings).map_err(err)?
        };
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
        commitment_policy: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let opts = EncryptOptions {
            suite,
            frame_length,
            plaintext_length: Some(plaintext.len() as u64),
            commitment_policy: CommitmentPolicy::from_name(commitment_policy).map_err(err)?,
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
        encryption_context: Option<Ctx>,
    ) -> PyResult<Opened<'py>> {
        let opts = decrypt_options(allow_legacy, max_encrypted_data_keys);
        let mut out = take(&PLAIN_SCRATCH);
        let r = py.detach(|| {
            let mut d = Decryptor::new(&*self.cmm, opts);
            if let Some(c) = encryption_context {
                d = d.with_encryption_context(c);
            }
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

    #[pyo3(signature = (context, suite, frame_length, commitment_policy, plaintext_length=None))]
    fn encryptor(
        &self,
        py: Python<'_>,
        context: Ctx,
        suite: u16,
        frame_length: u32,
        commitment_policy: &str,
        plaintext_length: Option<u64>,
    ) -> PyResult<NativeEncryptor> {
        let opts = EncryptOptions {
            suite,
            frame_length,
            plaintext_length,
            commitment_policy: CommitmentPolicy::from_name(commitment_policy).map_err(err)?,
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

/// Every row of the operation table: (AWS name, method name).
#[pyfunction]
fn operations() -> Vec<(&'static str, &'static str)> {
    Operation::ALL
        .iter()
        .map(|o| (o.name(), o.method()))
        .collect()
}

/// Raise core errors as these classes (code -> class) from now on.
#[pyfunction]
fn _register_errors(py: Python<'_>, classes: Bound<'_, PyDict>) {
    let _ = ERROR_CLASSES.set(py, classes.unbind());
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_register_errors, m)?)?;
    m.add_function(wrap_pyfunction!(operations, m)?)?;
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    m.add_class::<NativeClock>()?;
    m.add_class::<NativeKms>()?;
    m.add_class::<NativeEnvelope>()?;
    m.add_class::<NativeBranchKeyStore>()?;
    m.add_class::<NativeEncryptor>()?;
    m.add_class::<NativeDecryptor>()?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    m.add_function(wrap_pyfunction!(canonical_encryption_context, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
