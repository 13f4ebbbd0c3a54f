//! One store per region, opened on first use and linked to every other
//! open region of the account (multi-Region keys, ReplicateKey,
//! UpdatePrimaryRegion and cross-region ReEncrypt work across them).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use strongroom::api::PutIdentityPolicyRequest;
use strongroom::{Error, ErrorCode, Kms, RootKey};

/// How many region stores may be open at once unless set otherwise.
pub const DEFAULT_MAX_OPEN: usize = 16;

use crate::config::IdentityPolicy;
use crate::hooks::RegionOpenHook;

/// Where the stores live.
#[derive(Clone)]
pub enum Storage {
    /// `DIR/<region>/`, each a durable file store under the root key.
    Files { dir: PathBuf, root: RootKey },
    /// Memory stores with fresh random root keys (gone on exit).
    Memory,
    /// Stores made by the embedder, per region (tests: a manual clock and
    /// a seeded RNG; the region's `Kms` must be for the config's account).
    Custom(StoreFactory),
}

/// Makes the store of a region (see [`Storage::Custom`]).
pub type StoreFactory = Arc<dyn Fn(&str) -> Result<Kms, Error> + Send + Sync>;

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Files { dir, .. } => write!(f, "Files({})", dir.display()),
            Storage::Memory => f.write_str("Memory"),
            Storage::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// The region stores of one account.
pub struct Regions {
    account: String,
    storage: Storage,
    allowed: Vec<String>,
    identity_policies: Vec<IdentityPolicy>,
    on_open: Option<RegionOpenHook>,
    max_open: usize,
    /// The open stores. Held only to look up or insert, never over I/O.
    open: Mutex<BTreeMap<String, Kms>>,
    /// Held while a store is opened and linked to the others (so that two
    /// regions opened at once still link to each other); requests for
    /// regions already open never wait for it.
    opening: Mutex<()>,
}

impl Regions {
    pub fn new(
        account: String,
        storage: Storage,
        allowed: Vec<String>,
        identity_policies: Vec<IdentityPolicy>,
        on_open: Option<RegionOpenHook>,
    ) -> Self {
        Regions {
            account,
            storage,
            allowed,
            identity_policies,
            on_open,
            max_open: DEFAULT_MAX_OPEN,
            open: Mutex::new(BTreeMap::new()),
            opening: Mutex::new(()),
        }
    }

    /// At most `n` region stores open at once (more: LimitExceededException).
    pub fn with_max_open(mut self, n: usize) -> Self {
        self.max_open = n;
        self
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// Is this region one the server may serve (before any store exists)?
    /// Only the regions given to [`Regions::new`] are (none if it was
    /// given none).
    pub fn allowed(&self, region: &str) -> bool {
        strongroom::kms::validate_region_name(region).is_ok()
            && self.allowed.iter().any(|r| r == region)
    }

    /// The regions open now.
    pub fn open_regions(&self) -> Vec<String> {
        self.open
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The region's store (as the account root), opened and linked on
    /// first use.
    pub fn get(&self, region: &str) -> Result<Kms, Error> {
        let poisoned = || Error::new(ErrorCode::KmsInternal, "region table lock poisoned");
        let lookup = || -> Result<Option<Kms>, Error> {
            Ok(self
                .open
                .lock()
                .map_err(|_| poisoned())?
                .get(region)
                .cloned())
        };
        if let Some(k) = lookup()? {
            return Ok(k);
        }
        if !self.allowed(region) {
            return Err(Error::new(
                ErrorCode::Validation,
                format!("region '{region}' is not served here"),
            ));
        }
        let _opening = self.opening.lock().map_err(|_| poisoned())?;
        if let Some(k) = lookup()? {
            return Ok(k);
        }
        let others: Vec<Kms> = self
            .open
            .lock()
            .map_err(|_| poisoned())?
            .values()
            .cloned()
            .collect();
        if others.len() >= self.max_open {
            return Err(Error::new(
                ErrorCode::LimitExceeded,
                format!("at most {} regions may be open at once", self.max_open),
            ));
        }
        let builder = Kms::builder(self.account.clone(), region.to_string());
        let kms = match &self.storage {
            Storage::Memory => builder.in_memory()?,
            Storage::Custom(make) => {
                let k = make(region)?;
                if k.account() != self.account || k.region() != region {
                    return Err(Error::new(
                        ErrorCode::KmsInternal,
                        "the store factory made a store of another account or region",
                    ));
                }
                k
            }
            Storage::Files { dir, root } => {
                let d = dir.join(region);
                std::fs::create_dir_all(&d).map_err(|e| {
                    Error::new(
                        ErrorCode::StoreIo,
                        format!("cannot create {}: {e}", d.display()),
                    )
                })?;
                let store = strongroom::FileStore::open(&d)?;
                builder.open(store, root.clone())?
            }
        };
        for p in &self.identity_policies {
            kms.put_identity_policy(PutIdentityPolicyRequest {
                principal_arn: p.principal.clone(),
                policy_name: p.name.clone(),
                policy_document: p.document.clone(),
            })?;
        }
        if let Some(hook) = &self.on_open {
            hook(&kms)?;
        }
        for other in &others {
            kms.link_region(other)?;
        }
        self.open
            .lock()
            .map_err(|_| poisoned())?
            .insert(region.to_string(), kms.clone());
        Ok(kms)
    }

    /// Write every open store's buffered audit events.
    pub fn flush_all(&self) -> Vec<(String, Error)> {
        let open: Vec<(String, Kms)> = match self.open.lock() {
            Ok(m) => m.iter().map(|(r, k)| (r.clone(), k.clone())).collect(),
            Err(_) => return Vec::new(),
        };
        open.into_iter()
            .filter_map(|(r, k)| k.flush().err().map(|e| (r, e)))
            .collect()
    }
}

/// Shared handle.
pub type SharedRegions = Arc<Regions>;
