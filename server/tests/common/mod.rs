//! A minimal HTTP/1.1 client over std TCP for the server's tests (raw, so
//! that malformed requests can be sent), and SigV4 signing with aws-sigv4's
//! signing side.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::Value;

pub const CONFIG: &str = r#"
account = "111122223333"
[[access_keys]]
id = "AKIDROOT"
secret = "root-secret"
principal = "arn:aws:iam::111122223333:root"
[[access_keys]]
id = "AKIDALICE"
secret = "alice-secret"
principal = "arn:aws:iam::111122223333:user/alice"
[[access_keys]]
id = "ASIAROLE"
secret = "role-secret"
principal = "arn:aws:sts::111122223333:assumed-role/app/s1"
session_token = "the-token"
[limits]
max_body_bytes = 65536
header_timeout_ms = 1000
body_timeout_ms = 1000
max_connections = 256
"#;

pub struct Key<'a> {
    pub id: &'a str,
    pub secret: &'a str,
    pub token: Option<&'a str>,
}

pub const ROOT: Key<'static> = Key {
    id: "AKIDROOT",
    secret: "root-secret",
    token: None,
};
pub const ALICE: Key<'static> = Key {
    id: "AKIDALICE",
    secret: "alice-secret",
    token: None,
};

/// A parsed answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    /// The `__type` of an error answer.
    pub fn error_type(&self) -> String {
        self.json()["__type"].as_str().unwrap_or("").to_string()
    }
}

/// Signed headers for a KMS request (host, content-type, x-amz-target,
/// x-amz-date, authorization, [x-amz-security-token]).
pub fn signed_headers(
    addr: SocketAddr,
    op: &str,
    body: &[u8],
    key: &Key<'_>,
    region: &str,
    time: SystemTime,
) -> Vec<(String, String)> {
    let host = addr.to_string();
    let target = format!("TrentService.{op}");
    let mut headers = vec![
        ("host".to_string(), host),
        (
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        ),
        ("x-amz-target".to_string(), target),
    ];
    if let Some(t) = key.token {
        headers.push(("x-amz-security-token".into(), t.into()));
    }
    let identity: Identity = Credentials::new(
        key.id,
        key.secret,
        key.token.map(str::to_string),
        None,
        "test",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("kms")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        "/",
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    for (k, v) in instructions.headers() {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
        headers.push((k.to_string(), v.to_string()));
    }
    headers
}

/// Write a request, read the answer (Content-Length framed).
pub fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    read_answer(&mut s)
}

pub fn read_answer(s: &mut TcpStream) -> std::io::Result<Answer> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before an answer",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Ok(Answer {
        status,
        headers,
        body,
    })
}

pub fn head_of(headers: &[(String, String)], body_len: usize) -> String {
    let mut h = String::from("POST / HTTP/1.1\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str(&format!(
        "content-length: {body_len}\r\nconnection: close\r\n\r\n"
    ));
    h
}

/// A signed KMS call.
pub fn call(addr: SocketAddr, op: &str, body: &Value, key: &Key<'_>) -> Answer {
    let body = serde_json::to_vec(body).unwrap();
    let headers = signed_headers(addr, op, &body, key, "us-east-1", SystemTime::now());
    exchange(addr, &head_of(&headers, body.len()), &body).unwrap()
}

/// A signed call that must succeed.
pub fn ok(addr: SocketAddr, op: &str, body: Value, key: &Key<'_>) -> Value {
    let a = call(addr, op, &body, key);
    assert_eq!(a.status, 200, "{op}: {}", String::from_utf8_lossy(&a.body));
    a.json()
}

/// A signed call; `None` if the connection fails (a killed server).
pub fn try_call(addr: SocketAddr, op: &str, body: &Value, key: &Key<'_>) -> Option<Answer> {
    let body = serde_json::to_vec(body).unwrap();
    let headers = signed_headers(addr, op, &body, key, "us-east-1", SystemTime::now());
    exchange(addr, &head_of(&headers, body.len()), &body).ok()
}
