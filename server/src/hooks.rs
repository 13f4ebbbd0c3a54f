//! Where the seed file plugs in: `strongroom serve --seed FILE` applies
//! `strongroom::seed` to each region's store as it opens, through
//! [`Hooks`]. (The request-quota simulation is the config's `[quotas]`
//! table, checked in `service.rs`.)

use std::sync::Arc;

use strongroom::{Error, Kms};

/// Run on a region's store (acting as the account root) right after it
/// opens and before it serves a request or is linked to other regions:
/// the seed file is applied here (idempotently: it runs at every start).
/// An error stops the request that opened the region (and is logged).
pub type RegionOpenHook = Arc<dyn Fn(&Kms) -> Result<(), Error> + Send + Sync>;

/// The server's extension points.
#[derive(Clone, Default)]
pub struct Hooks {
    pub on_region_open: Option<RegionOpenHook>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("on_region_open", &self.on_region_open.is_some())
            .finish()
    }
}
