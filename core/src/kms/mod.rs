//! The KMS engine: key records, the state machine, aliases, rotation,
//! deletion, crypto operations and the audit log, over an injected clock,
//! RNG and store. All key bytes stay inside [`crate::hsm`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::api::*;
use crate::asym::{self, MessageType, SigningAlgorithm};
use crate::audit::{self, AuditEvent, AuditHead, AuditVerification, BodyRef, StoredEvent};
use crate::authz::{self, Decision, Facts};
use crate::blob;
use crate::context::{canonical_encoding, EncryptionContext};
use crate::env::{Clock, Millis, OsRng, Rng, SystemClock, MS_PER_DAY};
use crate::error::{Error, ErrorCode, Result};
use crate::hsm::{
    AsymKey, Hsm, MaterialCheck, MaterialHandle, OaepHash, ReEncryptDest, ReEncryptSource,
    SealFormat, SecretKey,
};
use crate::model::*;
use crate::operations::Operation;
use crate::policy::{self, Policy, PolicyKind};
use crate::secret::Plaintext;
use crate::state_root::{self, Digest};
use crate::store::{MemoryStore, Mutation, Store};

mod authorize;
mod load;
mod ops;
mod records;
mod rules;
mod state;

use self::authorize::*;
use self::load::*;
pub use self::ops::*;
pub use self::records::*;
pub use self::rules::*;
use self::state::*;
pub use crate::hsm::root::*;
pub use crate::model::caller::Caller;

// ---------------------------------------------------------------- limits

pub const MAX_PLAINTEXT: usize = 4096;
pub const MAX_DATA_KEY_BYTES: u32 = 1024;
pub const MAX_RANDOM_BYTES: u32 = 1024;
pub const MAX_DESCRIPTION: usize = 8192;
pub const MAX_KEYS: usize = 100_000;
pub const MAX_ALIASES_PER_KEY: usize = 50;
pub const MAX_TAGS_PER_KEY: usize = 50;
pub const MAX_ON_DEMAND_ROTATIONS: u32 = 25;
pub const MIN_ROTATION_DAYS: u32 = 90;
pub const MAX_ROTATION_DAYS: u32 = 2560;
pub const DEFAULT_ROTATION_DAYS: u32 = 365;
pub const MIN_PENDING_WINDOW_DAYS: u32 = 7;
pub const MAX_PENDING_WINDOW_DAYS: u32 = 30;
pub const DEFAULT_PENDING_WINDOW_DAYS: u32 = 30;
pub const MAX_POLICY_LEN: usize = 131_072;
/// Audit events buffered before they are written without a state change.
pub const AUDIT_FLUSH_EVENTS: usize = 1024;
const CONFLICT_WINDOW_MS: u64 = 20 * 60 * 1000;

// ---------------------------------------------------------------- builder

/// Configures and opens a [`Kms`].
pub struct KmsBuilder {
    account: String,
    region: String,
    partition: String,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    argon2: Argon2Params,
}

impl fmt::Debug for KmsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsBuilder")
            .field("account", &self.account)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl KmsBuilder {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        KmsBuilder {
            account: account.into(),
            region: region.into(),
            partition: "aws".into(),
            clock: Arc::new(SystemClock),
            rng: Arc::new(OsRng),
            argon2: Argon2Params::default(),
        }
    }
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }
    /// Inject a random source (the default is the OS RNG).
    pub fn rng(mut self, rng: impl Rng + 'static) -> Self {
        self.rng = Arc::new(rng);
        self
    }
    pub fn argon2_params(mut self, p: Argon2Params) -> Self {
        self.argon2 = p;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.account.len() != 12 || !self.account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::validation("the account id must be 12 digits"));
        }
        validate_region_name(&self.region)
    }

    /// Open (or create) a KMS on any store.
    pub fn open(self, store: impl Store + 'static, root: RootKey) -> Result<Kms> {
        self.validate()?;
        let ident = Identity {
            schema: STORE_SCHEMA,
            account: self.account.clone(),
            region: self.region.clone(),
            partition: self.partition.clone(),
        };
        let state = load_state(Box::new(store), root, self.rng.clone(), &ident, self.argon2)?;
        let caller = Caller::account_root(&self.account);
        Ok(Kms {
            shared: Arc::new(Shared {
                account: self.account,
                region: self.region,
                partition: self.partition,
                clock: self.clock,
                state: Mutex::new(state),
                links: Mutex::new(HashMap::new()),
                listeners: Mutex::new(Vec::new()),
                changes: Mutex::new(ChangeLog::default()),
                rng: self.rng,
            }),
            caller,
        })
    }

    /// Open (or create) the durable file store in `dir`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open_file(self, dir: impl AsRef<Path>, root: RootKey) -> Result<Kms> {
        let store = crate::store::FileStore::open(dir)?;
        self.open(store, root)
    }

    /// An ephemeral KMS: memory store, fresh random root key.
    pub fn in_memory(self) -> Result<Kms> {
        let mut root = Zeroizing::new([0u8; 32]);
        self.rng.fill(&mut root[..])?;
        self.open(MemoryStore::new(), RootKey::Raw(root))
    }
}

// ---------------------------------------------------------------- the KMS

struct Shared {
    account: String,
    region: String,
    partition: String,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Other regions of the same account open in this process.
    links: Mutex<HashMap<String, Weak<Shared>>>,
    /// Told after every committed change to a key (see [`KeyChangeListener`]).
    listeners: Mutex<Vec<Weak<dyn KeyChangeListener>>>,
    /// When keys last changed (see [`Kms::change_epoch`]).
    changes: Mutex<ChangeLog>,
    /// The HSM's random source, for generating key material before the
    /// state lock is taken (RSA generation takes seconds).
    rng: Arc<dyn Rng>,
}

/// Generations of committed changes, for caches that must not keep what
/// they got from the KMS across a change (see [`Kms::change_epoch`]).
#[derive(Default)]
struct ChangeLog {
    /// Grows by one with every committed call that changed a key, an
    /// alias or an identity policy.
    epoch: u64,
    /// The epoch of the last identity-policy change (any principal: it may
    /// change what any key can be used for).
    identity: u64,
    /// The epoch of each key's last change, by key id.
    keys: HashMap<String, u64>,
}

/// Something that must hear, as soon as it is committed, of every change to
/// a key of this KMS: its record (state, policy, rotation, deletion), its
/// material (rotation, import, deletion) or its grants. The envelope
/// layer's data key cache uses it to drop plaintext data keys made with a
/// key the moment that key is disabled, scheduled for deletion, rotated,
/// loses its material or has its access narrowed.
pub trait KeyChangeListener: Send + Sync {
    /// `key_arn` changed. Called after the change is durable, outside the
    /// KMS lock (the listener may call the KMS).
    fn key_changed(&self, key_arn: &str);
    /// Identity policies changed: what any key whose ARN starts with
    /// `key_arn_prefix` (`arn:PARTITION:kms:REGION:ACCOUNT:key/`) may be
    /// used for, and by whom, may have changed. Called like `key_changed`.
    fn all_keys_changed(&self, key_arn_prefix: &str);
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Ok(state) = self.state.get_mut() {
            // Best effort: buffered audit events of read-only calls.
            let _ = state.commit(true);
        }
    }
}

/// A KMS for one account and region, acting as one caller. Cloning is cheap
/// and shares the same keys; [`Kms::as_caller`] gives a handle acting as
/// another principal.
#[derive(Clone)]
pub struct Kms {
    shared: Arc<Shared>,
    caller: Caller,
}

impl fmt::Debug for Kms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kms")
            .field("account", &self.shared.account)
            .field("region", &self.shared.region)
            .field("caller", &self.caller.principal_arn)
            .finish_non_exhaustive()
    }
}

impl Kms {
    pub fn builder(account: impl Into<String>, region: impl Into<String>) -> KmsBuilder {
        KmsBuilder::new(account, region)
    }

    /// An ephemeral in-memory KMS with the system clock and OS RNG.
    pub fn in_memory(account: &str, region: &str) -> Result<Kms> {
        KmsBuilder::new(account, region).in_memory()
    }

    pub fn account(&self) -> &str {
        &self.shared.account
    }
    pub fn region(&self) -> &str {
        &self.shared.region
    }
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// A handle on the same KMS acting as `caller`.
    pub fn as_caller(&self, caller: Caller) -> Kms {
        Kms {
            shared: self.shared.clone(),
            caller,
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.shared
            .state
            .lock()
            .map_err(|_| Error::internal("the KMS state lock is poisoned"))
    }

    /// Would `op` on `key_id` be allowed now (the key resolves and the
    /// caller is authorized)? A read-only pre-check, neither audited nor
    /// committed: [`Kms::call`] decides and audits for real. Used to spare
    /// work (an RSA key generation) done before the state lock for a call
    /// that will be refused.
    pub(in crate::kms) fn would_authorize(
        &self,
        op: Operation,
        key_id: &str,
        facts: Facts<'_>,
    ) -> bool {
        let Ok(st) = self.lock() else { return false };
        let sh = &*self.shared;
        let cx = CallContext {
            now: sh.clock.now_ms(),
            caller: &self.caller,
            account: &sh.account,
            region: &sh.region,
            partition: &sh.partition,
        };
        let mut au = AuditInfo::default();
        st.key_for(&cx, &mut au, op, key_id, facts).is_ok()
    }

    /// Run one operation: sweep due deletions/rotations, run `f`, audit the
    /// outcome, commit. If the commit fails the in-memory state is reloaded
    /// from the store so memory never runs ahead of disk.
    fn call<'r, T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut State, &CallContext, &mut AuditInfo<'r>) -> Result<T>,
    ) -> Result<T> {
        let mut state = self.lock()?;
        let sh = &*self.shared;
        let call = CallContext {
            now: sh.clock.now_ms(),
            caller: &self.caller,
            account: &sh.account,
            region: &sh.region,
            partition: &sh.partition,
        };
        if state.stale {
            state.discard_changes()?;
        }
        let mut info = AuditInfo::default();
        state.alias_targets.clear();
        // The sweep's changes (due deletions, rotations, expiries, the
        // clock's high-water mark) do not depend on the call: they are
        // committed on their own first, so that a call that fails can be
        // discarded whole.
        let swept = state
            .sweep(call.now)
            .and_then(|_| state.stage_clock_mark())
            .and_then(|_| state.commit(false));
        let result = match swept {
            Err(e) => {
                state.discard_changes()?;
                Err(e)
            }
            Ok(()) => {
                let marks = (state.mrk_dirty.len(), state.replicas_purged.len());
                let r = f(&mut state, &call, &mut info)
                    .and_then(|v| state.stage_clock_mark().map(|_| v));
                if r.is_err() {
                    // A failed call leaves no trace but its audit event.
                    state.mrk_dirty.truncate(marks.0);
                    state.replicas_purged.truncate(marks.1);
                    state.alias_targets.clear();
                    if !state.batch.is_empty() {
                        state.discard_changes()?;
                    }
                }
                r
            }
        };
        let outcome = match &result {
            Ok(_) => "Success",
            Err(e) => e.code().as_str(),
        };
        let body = |outcome| BodyRef {
            seq: 0,
            time_ms: call.now,
            operation: op,
            principal_arn: &self.caller.principal_arn,
            caller_account: &self.caller.account,
            via_service: self.caller.via_service.as_deref(),
            key_arn: info.key_arn.as_deref(),
            encryption_context: info.context,
            outcome,
            decision: info.decision.as_deref(),
        };
        let seq = state.next_audit_seq();
        state.audit(&BodyRef {
            seq,
            ..body(outcome)
        })?;
        // GetKeyLastUsage: a successful cryptographic call marks its key
        // (ReEncrypt both keys), staged with its audit event.
        if state.usage_start_new.is_none() {
            state.usage_start_new = Some(call.now);
        }
        let tracked = TRACKED_OPERATIONS.iter().copied().find(|o| *o == op);
        let mut usage_before: [Option<(&str, Option<LastUsage>)>; 2] = [None, None];
        if let (Ok(_), Some(operation)) = (&result, tracked) {
            let u = LastUsage {
                operation,
                time_ms: call.now,
                seq,
            };
            let dest = info
                .key_arn
                .as_deref()
                .and_then(|a| a.rsplit_once(":key/").map(|(_, id)| id));
            for (slot, id) in usage_before
                .iter_mut()
                .zip([dest, info.source_key_id.as_deref()])
            {
                if let Some(id) = id {
                    *slot = Some((id, state.mark_used(id, u)));
                }
            }
        }
        let identity_changed = state.batch.iter().any(|m| {
            matches!(m, Mutation::Put { name, .. } | Mutation::Delete { name } if name.starts_with("iam/"))
        });
        if let Err(e) = state.commit(false) {
            // Nothing was written. Record the call as failed with the store
            // error (it stays buffered for the next successful write), then
            // rebuild memory from the store before anyone else can act on
            // it: the lock is held throughout.
            for (id, prev) in usage_before.into_iter().rev().flatten() {
                state.unmark_used(id, prev);
            }
            state.pop_audit();
            state.audit(&BodyRef {
                seq,
                ..body(e.code().as_str())
            })?;
            state.discard_changes()?;
            return Err(e);
        }
        let dirty = std::mem::take(&mut state.mrk_dirty);
        let purged = std::mem::take(&mut state.replicas_purged);
        let mut changed = std::mem::take(&mut state.changed_keys);
        changed.append(&mut state.alias_targets);
        // Bumped under the state lock, before any listener hears of it: a
        // cache that read the epoch before its KMS call sees the change at
        // insert, or its entry is dropped by the notification after it.
        if !changed.is_empty() || identity_changed {
            self.record_changes(&changed, identity_changed);
        }
        drop(state);
        if !changed.is_empty() || identity_changed {
            self.notify_key_changes(&changed, identity_changed);
        }
        if !dirty.is_empty() || !purged.is_empty() {
            self.propagate(&dirty, &purged);
        }
        result
    }

    /// The KMS's clock, in ms since the Unix epoch (injected: tests drive it).
    pub fn now_ms(&self) -> u64 {
        self.shared.clock.now_ms()
    }

    /// Register a listener told of every committed change to a key of this
    /// KMS (any handle on it). Held weakly: dropping the listener
    /// unregisters it.
    pub fn add_key_change_listener(&self, listener: Weak<dyn KeyChangeListener>) {
        if let Ok(mut l) = self.shared.listeners.lock() {
            l.retain(|w| w.strong_count() > 0);
            l.push(listener);
        }
    }

    /// The change epoch: a counter that grows with every committed call
    /// that changes a key (state, policy, material, grants), an alias or an
    /// identity policy. A cache reads it before calling the KMS and, before
    /// keeping what it got, asks [`Kms::changed_since`] about the keys used:
    /// a change committed in between is never missed (the listener
    /// notification for it may have come before the entry existed).
    pub fn change_epoch(&self) -> u64 {
        self.shared
            .changes
            .lock()
            .map(|c| c.epoch)
            .unwrap_or(u64::MAX)
    }

    /// Has any of `key_arns` (ARNs of this KMS; others are ignored), or any
    /// identity policy, changed after `epoch` (from [`Kms::change_epoch`])?
    /// `true` when unsure.
    pub fn changed_since(&self, epoch: u64, key_arns: &[String]) -> bool {
        let Ok(c) = self.shared.changes.lock() else {
            return true;
        };
        if c.epoch == epoch {
            return false;
        }
        if c.identity > epoch || epoch > c.epoch {
            return true;
        }
        let prefix = self.key_arn_prefix();
        key_arns.iter().any(|arn| {
            arn.strip_prefix(&prefix)
                .and_then(|id| c.keys.get(id))
                .is_some_and(|at| *at > epoch)
        })
    }

    fn key_arn_prefix(&self) -> String {
        format!(
            "arn:{}:kms:{}:{}:key/",
            self.shared.partition, self.shared.region, self.shared.account
        )
    }

    fn record_changes(&self, ids: &BTreeSet<String>, identity: bool) {
        if let Ok(mut c) = self.shared.changes.lock() {
            c.epoch += 1;
            let e = c.epoch;
            if identity {
                c.identity = e;
            }
            for id in ids {
                c.keys.insert(id.clone(), e);
            }
        }
    }

    fn notify_key_changes(&self, ids: &BTreeSet<String>, identity: bool) {
        let listeners: Vec<Arc<dyn KeyChangeListener>> = match self.shared.listeners.lock() {
            Ok(l) => l.iter().filter_map(Weak::upgrade).collect(),
            Err(_) => return,
        };
        if identity {
            let prefix = self.key_arn_prefix();
            for l in &listeners {
                l.all_keys_changed(&prefix);
            }
        }
        for id in ids {
            let arn = format!(
                "arn:{}:kms:{}:{}:key/{id}",
                self.shared.partition, self.shared.region, self.shared.account
            );
            for l in &listeners {
                l.key_changed(&arn);
            }
        }
    }
}
