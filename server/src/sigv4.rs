//! Signature Version 4 verification of a received request.
//!
//! The `Authorization` header is parsed here (aws-sigv4 has no parser for
//! it: it only signs). The expected signature is computed by aws-sigv4's
//! own signer over the request as received: the same method, path, query
//! and body, and exactly the headers the client listed in `SignedHeaders`
//! (the signer's default exclusions are turned off so that it signs what
//! it is given, no more, no less), at the client's `X-Amz-Date`, for the
//! region of the client's credential scope. The two signatures are then
//! compared in constant time (`subtle`).
//!
//! The signer always signs `host` and `x-amz-date` (it adds them when
//! absent), so a request that does not sign both is refused. So is one
//! that does not sign `content-type`, `x-amz-target` (else a captured
//! DescribeKey could be replayed as DisableKey), every `x-amz-*` header it
//! carries (`x-amz-security-token` included) and the configured
//! via-service header when present: what the server acts on must be
//! signed. Every AWS SDK signs all of these: botocore signs every header
//! but a hop-by-hop/User-Agent/X-Amzn-Trace-Id blacklist
//! (`SIGNED_HEADERS_BLACKLIST`), aws-sigv4 (Rust SDK) excludes only
//! authorization, user-agent, x-amzn-trace-id and transfer-encoding, and the
//! JS v3, Java v2 and Go v2 signers likewise exclude only such headers.
//! Headers the server reads (`authorization`, `host`, `content-type`,
//! `x-amz-target`, `x-amz-date`, `x-amz-security-token`) must appear once.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use hyper::http::request::Parts;
use subtle::ConstantTimeEq;

use crate::config::{principal_caller, AccessKey};
use strongroom::Caller;

/// The service name of the credential scope.
pub const SERVICE: &str = "kms";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Why a request's signature is refused; each maps to the AWS error code
/// and message AWS gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header that is not a complete SigV4 header.
    Incomplete(String),
    /// The access key id is not in the credentials.
    UnknownKey,
    /// The session token is missing, unexpected or wrong.
    BadToken,
    /// The signature does not match.
    BadSignature,
    /// `X-Amz-Date` outside the allowed skew (the message says how).
    Expired(String),
    /// The credential scope names another service.
    WrongService(String),
    /// A header that must be signed is not in `SignedHeaders` (the name).
    Unsigned(String),
    /// The credential scope's date is not X-Amz-Date's (the message).
    ScopeDate(String),
}

impl AuthError {
    /// (AWS error code, message).
    pub fn code_and_message(&self) -> (&'static str, String) {
        match self {
            AuthError::Missing => (
                "MissingAuthenticationTokenException",
                "Missing Authentication Token".into(),
            ),
            AuthError::Incomplete(m) => ("IncompleteSignatureException", m.clone()),
            AuthError::UnknownKey | AuthError::BadToken => (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.".into(),
            ),
            AuthError::BadSignature => (
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service \
                 documentation for details."
                    .into(),
            ),
            AuthError::Expired(m) => ("InvalidSignatureException", m.clone()),
            AuthError::WrongService(s) => (
                "InvalidSignatureException",
                format!("Credential should be scoped to correct service: '{SERVICE}'. (got '{s}')"),
            ),
            // AWS's JSON services answer an unsigned Host this way
            // ("'Host' or ':authority' must be a 'SignedHeader' in the AWS
            // Authorization.").
            AuthError::ScopeDate(m) => ("InvalidSignatureException", m.clone()),
            AuthError::Unsigned(h) => (
                "InvalidSignatureException",
                format!("'{h}' must be a 'SignedHeader' in the AWS Authorization."),
            ),
        }
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lowercase header names, as listed.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

fn incomplete(m: impl Into<String>) -> AuthError {
    AuthError::Incomplete(m.into())
}

/// Parse an `Authorization` header value.
pub fn parse_authorization(value: &str) -> Result<AuthHeader, AuthError> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| {
            incomplete(format!(
                "Authorization header requires the {ALGORITHM} algorithm"
            ))
        })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let Some((k, v)) = part.split_once('=') else {
            return Err(incomplete(format!(
                "Authorization header: '{part}' is not a key=value pair"
            )));
        };
        let slot = match k {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => {
                return Err(incomplete(format!(
                    "Authorization header: unknown parameter '{k}'"
                )))
            }
        };
        if slot.replace(v).is_some() {
            return Err(incomplete(format!("Authorization header: '{k}' twice")));
        }
    }
    fn need<'a>(o: Option<&'a str>, name: &str) -> Result<&'a str, AuthError> {
        o.filter(|v| !v.is_empty()).ok_or_else(|| {
            incomplete(format!(
                "Authorization header requires '{name}' parameter. Authorization={ALGORITHM} ..."
            ))
        })
    }
    let credential = need(credential, "Credential")?;
    let signed = need(signed, "SignedHeaders")?;
    let signature = need(signature, "Signature")?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, term] = scope[..] else {
        return Err(incomplete(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term",
        ));
    };
    if term != "aws4_request" || akid.is_empty() || date.len() != 8 || region.is_empty() {
        return Err(incomplete(format!(
            "Credential scope '{date}/{region}/{service}/{term}' is not date/region/service/aws4_request"
        )));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(incomplete("Signature must be 64 hexadecimal characters"));
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_string).collect();
    if signed_headers
        .iter()
        .any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(incomplete(
            "SignedHeaders must be lowercase names separated by ';'",
        ));
    }
    Ok(AuthHeader {
        access_key_id: akid.into(),
        date: date.into(),
        region: region.into(),
        service: service.into(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// `X-Amz-Date` (`20150830T123600Z`) as a time.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(s, &fmt).ok()?;
    Some(t.assume_utc().into())
}

fn format_amz_date(t: SystemTime) -> String {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::from(t)
        .format(&fmt)
        .unwrap_or_default()
}

/// A verified request: who signed it, for which region.
#[derive(Debug, Clone)]
pub struct Verified {
    pub access_key_id: String,
    pub region: String,
    pub caller: Caller,
    pub via_service: Option<String>,
}

/// Verify a request's signature against the access keys. `also_signed`:
/// a header that must be signed when present (the via-service header).
pub fn verify(
    parts: &Parts,
    body: &[u8],
    keys: &BTreeMap<String, AccessKey>,
    also_signed: Option<&str>,
    now: SystemTime,
    max_skew: Duration,
) -> Result<Verified, AuthError> {
    let auth = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| incomplete("Authorization header is not ASCII"))?;
    let auth = parse_authorization(auth)?;
    if auth.service != SERVICE {
        return Err(AuthError::WrongService(auth.service));
    }
    for name in [
        "authorization",
        "host",
        "content-type",
        "x-amz-target",
        "x-amz-date",
        "x-amz-security-token",
    ]
    .into_iter()
    .chain(also_signed)
    {
        if parts.headers.get_all(name).iter().nth(1).is_some() {
            return Err(incomplete(format!(
                "the '{name}' header appears more than once"
            )));
        }
    }
    let is_signed = |name: &str| auth.signed_headers.iter().any(|h| h == name);
    for required in ["host", "x-amz-date", "content-type", "x-amz-target"] {
        if !is_signed(required) {
            return Err(AuthError::Unsigned(required.into()));
        }
    }
    for name in parts.headers.keys() {
        let name = name.as_str();
        let needs =
            name.starts_with("x-amz-") || also_signed.is_some_and(|h| h.eq_ignore_ascii_case(name));
        if needs && !is_signed(name) {
            return Err(AuthError::Unsigned(name.into()));
        }
    }
    let date_text = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
        })?;
    let signed_at = parse_amz_date(date_text)
        .ok_or_else(|| incomplete(format!("X-Amz-Date '{date_text}' is not yyyyMMddTHHmmssZ")))?;
    if !date_text.starts_with(auth.date.as_str()) {
        return Err(AuthError::ScopeDate(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{date_text}'.",
            auth.date,
            &date_text[..8],
        )));
    }
    let key = keys.get(&auth.access_key_id).ok_or(AuthError::UnknownKey)?;
    // Temporary credentials: the token must be the configured one, and a
    // key without one must not be used with a token.
    let token = parts
        .headers
        .get("x-amz-security-token")
        .map(|v| v.to_str().map_err(|_| AuthError::BadToken))
        .transpose()?;
    match (&key.session_token, token) {
        (None, None) => {}
        (Some(want), Some(got)) if bool::from(want.expose().as_bytes().ct_eq(got.as_bytes())) => {}
        _ => return Err(AuthError::BadToken),
    }
    let skew = match now.duration_since(signed_at) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > max_skew {
        let mins = max_skew.as_secs() / 60;
        let msg = if signed_at < now {
            format!(
                "Signature expired: {date_text} is now earlier than {} ({} - {mins} min.)",
                format_amz_date(now - max_skew),
                format_amz_date(now)
            )
        } else {
            format!(
                "Signature not yet current: {date_text} is still later than {} ({} + {mins} min.)",
                format_amz_date(now + max_skew),
                format_amz_date(now)
            )
        };
        return Err(AuthError::Expired(msg));
    }

    // The headers as the client signed them.
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(auth.signed_headers.len());
    let mut token_signed = false;
    for name in &auth.signed_headers {
        let mut any = false;
        for v in parts.headers.get_all(name.as_str()) {
            let v = v
                .to_str()
                .map_err(|_| incomplete(format!("signed header '{name}' is not ASCII")))?;
            headers.push((name.as_str(), v));
            any = true;
        }
        if !any {
            // A signed header the request does not carry cannot match.
            return Err(AuthError::BadSignature);
        }
        token_signed |= name == "x-amz-security-token";
    }
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let creds = Credentials::new(
        auth.access_key_id.clone(),
        key.secret.expose().to_string(),
        if token_signed {
            token.map(str::to_string)
        } else {
            None
        },
        None,
        "strongroom-server",
    );
    let identity: Identity = creds.into();
    let mut settings = SigningSettings::default();
    // Sign exactly the headers the client signed.
    settings.excluded_headers = None;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&auth.region)
        .name(SERVICE)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|_| AuthError::BadSignature)?
        .into();
    let signable = SignableRequest::new(
        parts.method.as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|_| AuthError::BadSignature)?;
    let expected = sign(signable, &params).map_err(|_| AuthError::BadSignature)?;
    if !bool::from(
        expected
            .signature()
            .as_bytes()
            .ct_eq(auth.signature.as_bytes()),
    ) {
        return Err(AuthError::BadSignature);
    }
    let caller = principal_caller(&key.principal).map_err(|_| AuthError::UnknownKey)?;
    Ok(Verified {
        access_key_id: auth.access_key_id,
        region: auth.region,
        caller,
        via_service: key.via_service.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_header() {
        let h = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        )
        .unwrap();
        assert_eq!(h.access_key_id, "AKIDEXAMPLE");
        assert_eq!(h.region, "us-east-1");
        assert_eq!(h.service, "kms");
        assert_eq!(h.signed_headers, ["content-type", "host", "x-amz-date"]);
        for bad in [
            "",
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/kms/aws4_request",
            "AWS4-HMAC-SHA256 Credential=A/2015/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA1 Credential=A/20150830/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/kms/aws4_request, SignedHeaders=Host, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        ] {
            assert!(
                matches!(parse_authorization(bad), Err(AuthError::Incomplete(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn dates() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_440_938_160
        );
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert!(parse_amz_date("2015-08-30T12:36:00Z").is_none());
    }
}
