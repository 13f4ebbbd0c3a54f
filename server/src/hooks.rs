//! Where the seed file and the request-quota simulation plug in.
//!
//! The server itself has neither: `strongroom::seed` (applied when a
//! region's store opens) and `strongroom::quota` (checked before every
//! request runs) provide them, and the CLI wires them here through
//! [`Hooks`].

use std::sync::Arc;

use strongroom::{Caller, Error, Kms};

/// Run on a region's store (acting as the account root) right after it
/// opens and before it serves a request or is linked to other regions:
/// the seed file is applied here (idempotently: it runs at every start).
/// An error stops the request that opened the region (and is logged).
pub type RegionOpenHook = Arc<dyn Fn(&Kms) -> Result<(), Error> + Send + Sync>;

/// One request, as the quota check sees it (after the signature is
/// verified, before the operation runs).
#[derive(Debug)]
pub struct QuotaRequest<'a> {
    pub region: &'a str,
    /// The AWS operation name (`Encrypt`, `CreateKey`, ...).
    pub operation: &'a str,
    pub caller: &'a Caller,
    /// The request's `KeyId` (or `SourceKeyId`/`DestinationKeyId`), as
    /// the caller wrote it, when it names one.
    pub key_id: Option<&'a str>,
    /// The request body (AWS JSON shape).
    pub request: &'a serde_json::Value,
}

/// A refusal: answered as `ThrottlingException` (HTTP 400) with this
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled(pub String);

/// The per-request quota check (AWS request quotas).
pub trait QuotaCheck: Send + Sync {
    fn check(&self, request: &QuotaRequest<'_>) -> Result<(), Throttled>;
}

/// The server's extension points.
#[derive(Clone, Default)]
pub struct Hooks {
    pub on_region_open: Option<RegionOpenHook>,
    pub quota: Option<Arc<dyn QuotaCheck>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("on_region_open", &self.on_region_open.is_some())
            .field("quota", &self.quota.is_some())
            .finish()
    }
}
