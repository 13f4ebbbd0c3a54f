//! One request: the AWS JSON 1.1 protocol, SigV4, dispatch to the core's
//! operation table, the AWS error shape, the access log.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use strongroom::api::{ReEncryptRequest, ReplicateKeyRequest};
use strongroom::{Caller, Error, ErrorCode, Kms, Operation};

use crate::config::{principal_caller, AccessKey, Config};
use crate::hooks::Hooks;
use crate::log::{AccessLog, LogLine};
use crate::regions::Regions;
use crate::sigv4::{self, AuthError};

/// `X-Amz-Target` prefix of KMS.
pub const TARGET_PREFIX: &str = "TrentService.";
/// The content type of requests and responses.
pub const CONTENT_TYPE_JSON: &str = "application/x-amz-json-1.1";
/// The health endpoint.
pub const HEALTH_PATH: &str = "/health";

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A row of the core's operation table.
    Table(Operation),
    /// ReplicateKey: needs the replica region's store as well, so it is not
    /// a row of the one-store table; the server passes both stores.
    ReplicateKey,
    /// UpdatePrimaryRegion: likewise, with the new primary's store.
    UpdatePrimaryRegion,
}

impl Target {
    pub fn from_name(name: &str) -> Option<Target> {
        match name {
            "ReplicateKey" => Some(Target::ReplicateKey),
            "UpdatePrimaryRegion" => Some(Target::UpdatePrimaryRegion),
            _ => Operation::from_name(name).map(Target::Table),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Target::Table(op) => op.name(),
            Target::ReplicateKey => "ReplicateKey",
            Target::UpdatePrimaryRegion => "UpdatePrimaryRegion",
        }
    }
}

/// An error answer: AWS's code, HTTP status and message.
#[derive(Debug, Clone)]
pub struct WireError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Close the connection after answering (the body was not read).
    pub close: bool,
}

impl WireError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        WireError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            message: message.into(),
            close: false,
        }
    }
}

impl From<Error> for WireError {
    fn from(e: Error) -> Self {
        WireError::new(e.code().http_status(), e.code().as_str(), e.message())
    }
}

impl From<AuthError> for WireError {
    fn from(e: AuthError) -> Self {
        let (code, message) = e.code_and_message();
        WireError::new(400, code, message)
    }
}

/// Everything a request needs, shared by every connection.
pub struct State {
    /// Permits to run an operation (`limits.max_concurrent_ops`).
    pub ops: tokio::sync::Semaphore,
    pub regions: Arc<Regions>,
    pub keys: BTreeMap<String, AccessKey>,
    pub config: Config,
    pub verify: bool,
    pub hooks: Hooks,
    /// The request-quota simulation (`[quotas]` in the config).
    pub quotas: Option<Arc<strongroom::quota::QuotaLimiter>>,
    pub log: AccessLog,
    /// `config.trusted_proxies`, parsed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// What the access log says about a request (filled in as it is handled).
#[derive(Default)]
struct Facts {
    op: Option<&'static str>,
    region: Option<String>,
    access_key_id: Option<String>,
    principal: Option<String>,
}

pub type Body = Full<Bytes>;

fn response(status: StatusCode, request_id: &str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

fn error_response(e: &WireError, request_id: &str) -> Response<Body> {
    let body = json!({"__type": e.code, "message": e.message}).to_string();
    let mut r = response(e.status, request_id, body.into_bytes());
    if e.close {
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

/// Answer one request. Never panics on any input; every failure is an
/// AWS-shaped error.
pub async fn handle(state: Arc<State>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let start = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut facts = Facts::default();
    let result = route(&state, peer, req, &mut facts).await;
    let (resp, error) = match result {
        Ok(body) => (response(StatusCode::OK, &request_id, body), None),
        Err(e) => (error_response(&e, &request_id), Some(e.code)),
    };
    state.log.write(&LogLine {
        request_id: &request_id,
        peer,
        op: facts.op,
        region: facts.region.as_deref(),
        access_key_id: facts.access_key_id.as_deref(),
        principal: facts.principal.as_deref(),
        status: resp.status().as_u16(),
        error,
        latency_us: start.elapsed().as_micros() as u64,
    });
    resp
}

async fn route(
    state: &State,
    peer: SocketAddr,
    req: Request<Incoming>,
    facts: &mut Facts,
) -> Result<Vec<u8>, WireError> {
    if req.uri().path() == HEALTH_PATH {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(WireError::new(405, "MethodNotAllowed", "GET /health"));
        }
        facts.op = Some("Health");
        // Unsigned: says nothing about what the server holds.
        return Ok(json!({"status": "ok"}).to_string().into_bytes());
    }
    if req.uri().path() != "/" {
        return Err(WireError::new(
            404,
            "UnknownOperationException",
            "KMS is served at POST /",
        ));
    }
    if req.method() != Method::POST {
        return Err(WireError::new(
            405,
            "UnknownOperationException",
            "KMS requests are POST /",
        ));
    }
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .and_then(Target::from_name)
        .ok_or_else(|| {
            WireError::new(
                400,
                "UnknownOperationException",
                "X-Amz-Target must be TrentService.<Operation> for an operation this server implements",
            )
        })?;
    facts.op = Some(target.name());
    let ct_ok = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .is_some_and(|v| {
            v.eq_ignore_ascii_case(CONTENT_TYPE_JSON)
                || v.eq_ignore_ascii_case("application/x-amz-json-1.0")
        });
    if !ct_ok {
        return Err(WireError::new(
            400,
            "SerializationException",
            format!("Content-Type must be {CONTENT_TYPE_JSON}"),
        ));
    }
    let limits = &state.config.limits;
    let too_large = || WireError {
        close: true,
        ..WireError::new(
            413,
            "RequestEntityTooLargeException",
            format!("the request body is over {} bytes", limits.max_body_bytes),
        )
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(
        limits.body_timeout(),
        Limited::new(body, limits.max_body_bytes).collect(),
    )
    .await
    {
        Err(_) => {
            return Err(WireError {
                close: true,
                ..WireError::new(
                    408,
                    "RequestTimeoutException",
                    "the request body was not sent in time",
                )
            })
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Ok(Err(_)) => {
            return Err(WireError {
                close: true,
                ..WireError::new(
                    400,
                    "SerializationException",
                    "the request body could not be read",
                )
            })
        }
        Ok(Ok(c)) => c.to_bytes(),
    };

    let (caller, region) = authenticate(state, peer, &parts, &body, facts)?;
    facts.principal = Some(caller.principal_arn.clone());
    facts.region = Some(region.clone());

    let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            WireError::new(
                400,
                "SerializationException",
                format!("the request body is not JSON: {e}"),
            )
        })?
    };
    if !request.is_object() {
        return Err(WireError::new(
            400,
            "SerializationException",
            "the request body must be a JSON object",
        ));
    }

    let regions = state.regions.clone();
    // Every operation runs off the async workers: mutating calls commit
    // (fsync), others may be CPU-heavy (Sign, GenerateDataKeyPair's RSA
    // keygen, ReEncrypt) or open a region's store. At most
    // `max_concurrent_ops` at once; the others wait for a permit.
    let internal = || WireError::new(500, "KMSInternalException", "the operation failed");
    let _permit = state.ops.acquire().await.map_err(|_| internal())?;
    let quotas = state.quotas.clone();
    let out = tokio::task::spawn_blocking(move || {
        if let Some(limiter) = &quotas {
            check_quota(limiter, &regions, &region, &caller, target, &request)?;
        }
        execute(&regions, &region, caller, target, request).map_err(WireError::from)
    })
    .await
    .map_err(|_| internal())??;
    serde_json::to_vec(&out)
        .map_err(|_| WireError::new(500, "KMSInternalException", "cannot encode the answer"))
}

/// The caller and region of a request: from its verified signature, or
/// under `--no-verify` from the access key id it names (if any).
fn authenticate(
    state: &State,
    peer: SocketAddr,
    parts: &Parts,
    body: &[u8],
    facts: &mut Facts,
) -> Result<(Caller, String), WireError> {
    let (mut caller, region, key_via) = if state.verify {
        let v = sigv4::verify(
            parts,
            body,
            &state.keys,
            state.config.via_service_header.as_deref(),
            SystemTime::now(),
            std::time::Duration::from_secs(state.config.limits.max_skew_seconds),
        )
        .inspect_err(|_| {
            // Log which key id was tried (never the secret).
            facts.access_key_id = parts
                .headers
                .get(hyper::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|a| sigv4::parse_authorization(a).ok())
                .map(|a| a.access_key_id);
        })?;
        facts.access_key_id = Some(v.access_key_id);
        (v.caller, v.region, v.via_service)
    } else {
        let auth = parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|a| sigv4::parse_authorization(a).ok());
        match auth {
            Some(a) => {
                let key = state.keys.get(&a.access_key_id);
                let caller = match key {
                    Some(k) => principal_caller(&k.principal).map_err(WireError::from)?,
                    None => Caller::account_root(state.regions.account()),
                };
                facts.access_key_id = Some(a.access_key_id);
                (caller, a.region, key.and_then(|k| k.via_service.clone()))
            }
            None => (
                Caller::account_root(state.regions.account()),
                state.config.default_region.clone(),
                None,
            ),
        }
    };
    if !state.regions.allowed(&region) {
        return Err(WireError::new(
            400,
            "UnrecognizedClientException",
            format!("region '{region}' is not served by this endpoint"),
        ));
    }
    // aws:SourceIp: the peer address (IPv4-mapped IPv6 as IPv4).
    let ip = match peer.ip() {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    };
    // kms:ViaService: the access key's own value if it has one; otherwise
    // the configured header, believed only from a trusted proxy, and only
    // when it appears once.
    let header_via = match state.config.via_service_header.as_deref() {
        Some(h) if state.trusted_proxies.iter().any(|n| n.contains(&ip)) => {
            let mut values = parts.headers.get_all(h).iter();
            let first = values.next();
            if values.next().is_some() {
                return Err(WireError::new(
                    400,
                    "ValidationException",
                    format!("the '{h}' header appears more than once"),
                ));
            }
            first.and_then(|v| v.to_str().ok()).map(str::to_string)
        }
        _ => None,
    };
    caller.via_service = key_via.or(header_via);
    caller.source_ip = Some(ip.to_string());
    Ok((caller, region))
}

fn validation(msg: String) -> Error {
    Error::new(ErrorCode::Validation, msg)
}

fn request_of<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| validation(format!("malformed request: {e}")))
}

fn to_json<T: serde::Serialize>(v: T) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::new(ErrorCode::KmsInternal, e.to_string()))
}

/// The region a key ARN (or alias ARN) names, if it is an ARN.
fn arn_region(id: &str) -> Option<&str> {
    let mut p = id.split(':');
    (p.next() == Some("arn")).then_some(())?;
    p.nth(2).filter(|r| !r.is_empty())
}

/// Run the operation on the region's store as the caller.
/// AWS's request quotas (`[quotas]`): the request is classified by its
/// operation and, for the cryptographic ones, by the spec of the key it
/// names (symmetric, RSA, ECC quotas; `GenerateDataKeyPair` by pair spec),
/// and counted against the store account's bucket of its region.
fn check_quota(
    limiter: &strongroom::quota::QuotaLimiter,
    regions: &Regions,
    region: &str,
    caller: &Caller,
    target: Target,
    request: &Value,
) -> Result<(), WireError> {
    let spec = ["KeyId", "SourceKeyId"]
        .iter()
        .find_map(|k| request.get(*k).and_then(Value::as_str))
        .and_then(|k| {
            let kms = regions.get(region).ok()?;
            kms.as_caller(caller.clone()).key_spec_of(k)
        });
    let pair = request.get("KeyPairSpec").and_then(Value::as_str);
    let class = strongroom::quota::classify(target.name(), spec, pair);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    limiter
        .check_class(regions.account(), region, &class, now)
        .map_err(WireError::from)
}

pub fn execute(
    regions: &Regions,
    region: &str,
    caller: Caller,
    target: Target,
    request: Value,
) -> Result<Value, Error> {
    let home = regions.get(region)?;
    let kms: Kms = home.as_caller(caller.clone());
    match target {
        Target::Table(Operation::ReEncrypt) => {
            let dest_region = request
                .get("DestinationKeyId")
                .and_then(Value::as_str)
                .and_then(arn_region)
                .filter(|r| *r != region)
                .map(str::to_string);
            match dest_region {
                None => strongroom::json::call_op(&kms, Operation::ReEncrypt, request),
                Some(r) => {
                    let req: ReEncryptRequest = request_of(request)?;
                    let dest = regions.get(&r)?.as_caller(caller);
                    to_json(kms.re_encrypt_to_region(req, &dest)?)
                }
            }
        }
        Target::Table(op) => strongroom::json::call_op(&kms, op, request),
        Target::ReplicateKey => {
            let req: ReplicateKeyRequest = request_of(request)?;
            let replica = regions.get(&req.replica_region)?.as_caller(caller);
            to_json(kms.replicate_key(req, &replica)?)
        }
        Target::UpdatePrimaryRegion => {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct Req {
                key_id: String,
                primary_region: String,
            }
            let req: Req = request_of(request)?;
            let new_primary = regions.get(&req.primary_region)?.as_caller(caller);
            kms.update_primary_region(&req.key_id, &new_primary)?;
            Ok(Value::Object(Default::default()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        for op in Operation::ALL {
            assert_eq!(Target::from_name(op.name()), Some(Target::Table(*op)));
        }
        assert_eq!(
            Target::from_name("ReplicateKey"),
            Some(Target::ReplicateKey)
        );
        assert_eq!(Target::from_name("encrypt"), None);
        assert_eq!(
            arn_region("arn:aws:kms:eu-west-1:111122223333:key/abc"),
            Some("eu-west-1")
        );
        assert_eq!(arn_region("alias/x"), None);
        assert_eq!(arn_region("arn:aws:kms::1:key/abc"), None);
    }
}
