//! The wire protocol against an in-process server on 127.0.0.1:0: SigV4
//! refusals, protocol errors, limits, a property test over random requests,
//! many connections, slow clients.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use proptest::prelude::*;
use serde_json::json;
use strongroom_server::{Config, Running, ServerOptions};

fn server() -> Running {
    let mut opts = ServerOptions::in_memory("127.0.0.1:0".parse().unwrap());
    opts.config = Config::parse(CONFIG).unwrap();
    strongroom_server::spawn(opts, 2).unwrap()
}

#[test]
fn round_trip_and_request_ids() {
    let s = server();
    let a = s.local_addr();
    let key = ok(a, "CreateKey", json!({"Description": "t"}), &ROOT)["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let ct = ok(
        a,
        "Encrypt",
        json!({"KeyId": key, "Plaintext": "aGVsbG8=", "EncryptionContext": {"a": "b"}}),
        &ROOT,
    );
    let r = call(
        a,
        "Decrypt",
        &json!({"CiphertextBlob": ct["CiphertextBlob"], "EncryptionContext": {"a": "b"}}),
        &ROOT,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["Plaintext"], "aGVsbG8=");
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    let id = r.header("x-amzn-requestid").unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    // A wrong context: the core's error, AWS-shaped, with its status.
    let r = call(
        a,
        "Decrypt",
        &json!({"CiphertextBlob": ct["CiphertextBlob"], "EncryptionContext": {"a": "c"}}),
        &ROOT,
    );
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (400, "InvalidCiphertextException")
    );
    assert!(r.header("x-amzn-requestid").is_some());
    // A state conflict is 409, as AWS answers it.
    ok(a, "DisableKey", json!({"KeyId": key}), &ROOT);
    let r = call(
        a,
        "Encrypt",
        &json!({"KeyId": key, "Plaintext": "aGk="}),
        &ROOT,
    );
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (409, "DisabledException")
    );
    // The health endpoint needs no signature.
    let h = exchange(
        a,
        "GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        b"",
    )
    .unwrap();
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "ok");
    assert_eq!(h.json(), json!({"status": "ok"}));
}

#[test]
fn sigv4_refusals() {
    let s = server();
    let a = s.local_addr();
    let body = b"{}";
    let refuse = |headers: Vec<(String, String)>| {
        let r = exchange(a, &head_of(&headers, body.len()), body).unwrap();
        assert_eq!(r.status, 400);
        (
            r.error_type(),
            r.json()["message"].as_str().unwrap_or("").to_string(),
        )
    };
    let now = SystemTime::now();
    // Wrong secret.
    let wrong = Key {
        id: "AKIDALICE",
        secret: "not-it",
        token: None,
    };
    let (t, m) = refuse(signed_headers(
        a,
        "ListKeys",
        body,
        &wrong,
        "us-east-1",
        now,
    ));
    assert_eq!(t, "InvalidSignatureException");
    assert!(m.contains("does not match"), "{m}");
    // Unknown access key.
    let unknown = Key {
        id: "AKIDNOBODY",
        secret: "x",
        token: None,
    };
    let (t, _) = refuse(signed_headers(
        a,
        "ListKeys",
        body,
        &unknown,
        "us-east-1",
        now,
    ));
    assert_eq!(t, "UnrecognizedClientException");
    // Stale and future dates (beyond 15 minutes); 14 minutes is fine.
    for (when, good) in [
        (now - Duration::from_secs(16 * 60), false),
        (now + Duration::from_secs(16 * 60), false),
        (now - Duration::from_secs(14 * 60), true),
    ] {
        let h = signed_headers(a, "ListKeys", body, &ROOT, "us-east-1", when);
        let r = exchange(a, &head_of(&h, body.len()), body).unwrap();
        if good {
            assert_eq!(r.status, 200, "{:?}", r.json());
        } else {
            assert_eq!(r.error_type(), "InvalidSignatureException");
            assert!(r.json()["message"].as_str().unwrap().contains("Signature"));
        }
    }
    // A body changed after signing.
    let h = signed_headers(a, "ListKeys", body, &ALICE, "us-east-1", now);
    let r = exchange(a, &head_of(&h, 11), b"{\"Limit\":1}").unwrap();
    assert_eq!(r.error_type(), "InvalidSignatureException");
    // A signed header changed after signing (the target).
    let mut h = signed_headers(a, "ListKeys", body, &ALICE, "us-east-1", now);
    for (k, v) in h.iter_mut() {
        if k == "x-amz-target" {
            *v = "TrentService.ListAliases".into();
        }
    }
    assert_eq!(refuse(h).0, "InvalidSignatureException");
    // No Authorization header; a malformed one.
    let mut h = signed_headers(a, "ListKeys", body, &ALICE, "us-east-1", now);
    h.retain(|(k, _)| k != "authorization");
    assert_eq!(refuse(h.clone()).0, "MissingAuthenticationTokenException");
    h.push((
        "authorization".into(),
        "AWS4-HMAC-SHA256 Credential=AKIDALICE".into(),
    ));
    assert_eq!(refuse(h).0, "IncompleteSignatureException");
    // A credential scope dated another day than X-Amz-Date.
    let mut h = signed_headers(a, "ListKeys", body, &ALICE, "us-east-1", now);
    let date = h
        .iter()
        .find(|(k, _)| k == "x-amz-date")
        .map(|(_, v)| v[..8].to_string())
        .unwrap();
    let other = if date.ends_with('1') { "02" } else { "01" };
    let other_date = format!("{}{other}", &date[..6]);
    for (k, v) in h.iter_mut() {
        if k == "authorization" {
            *v = v.replace(&format!("/{date}/"), &format!("/{other_date}/"));
        }
    }
    let (t, m) = refuse(h);
    assert_eq!(t, "InvalidSignatureException");
    assert!(m.contains("Date in Credential scope does not match"), "{m}");
    // Another service's scope.
    let mut h = signed_headers(a, "ListKeys", body, &ALICE, "us-east-1", now);
    for (k, v) in h.iter_mut() {
        if k == "authorization" {
            *v = v.replace("/kms/", "/s3/");
        }
    }
    assert_eq!(refuse(h).0, "InvalidSignatureException");
    // Session tokens: required for the role's key, refused for others,
    // and must be the configured one.
    let role = Key {
        id: "ASIAROLE",
        secret: "role-secret",
        token: Some("the-token"),
    };
    let r = call(a, "ListKeys", &json!({}), &role);
    assert_ne!(
        r.error_type(),
        "UnrecognizedClientException",
        "{:?}",
        r.json()
    );
    let bad_token = Key {
        token: Some("other"),
        ..role
    };
    let (t, _) = refuse(signed_headers(
        a,
        "ListKeys",
        body,
        &bad_token,
        "us-east-1",
        now,
    ));
    assert_eq!(t, "UnrecognizedClientException");
    let no_token = Key {
        token: None,
        ..bad_token
    };
    let (t, _) = refuse(signed_headers(
        a,
        "ListKeys",
        body,
        &no_token,
        "us-east-1",
        now,
    ));
    assert_eq!(t, "UnrecognizedClientException");
    let alice_token = Key {
        token: Some("the-token"),
        ..ALICE
    };
    let (t, _) = refuse(signed_headers(
        a,
        "ListKeys",
        body,
        &alice_token,
        "us-east-1",
        now,
    ));
    assert_eq!(t, "UnrecognizedClientException");
}

#[test]
fn principals_reach_the_authorization() {
    let s = server();
    let a = s.local_addr();
    // Alice has no identity policy: the default key policy delegates to
    // IAM, so she is denied; the root is allowed.
    let key = ok(a, "CreateKey", json!({}), &ROOT)["KeyMetadata"]["KeyId"].clone();
    let r = call(
        a,
        "Encrypt",
        &json!({"KeyId": key, "Plaintext": "aGk="}),
        &ALICE,
    );
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (400, "AccessDeniedException")
    );
    assert!(r.json()["message"].as_str().unwrap().contains("user/alice"));
    // Only the root may put identity policies.
    let put = json!({"PrincipalArn": "arn:aws:iam::111122223333:user/alice", "PolicyName": "p",
        "PolicyDocument": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}"#});
    assert_eq!(
        call(a, "PutIdentityPolicy", &put, &ALICE).error_type(),
        "AccessDeniedException"
    );
    ok(a, "PutIdentityPolicy", put, &ROOT);
    ok(
        a,
        "Encrypt",
        json!({"KeyId": key, "Plaintext": "aGk="}),
        &ALICE,
    );
}

type Headers = Vec<(String, String)>;

#[test]
fn protocol_errors() {
    let s = server();
    let a = s.local_addr();
    let now = SystemTime::now();
    let send = |op: &str, body: &[u8], edit: &dyn Fn(&mut Headers)| {
        let mut h = signed_headers(a, op, body, &ROOT, "us-east-1", now);
        edit(&mut h);
        exchange(a, &head_of(&h, body.len()), body).unwrap()
    };
    let none = |_: &mut Headers| {};
    // Unknown operation, missing target.
    let r = send("Frobnicate", b"{}", &none);
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (400, "UnknownOperationException")
    );
    let r = send("ListKeys", b"{}", &|h| {
        h.retain(|(k, _)| k != "x-amz-target")
    });
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (400, "UnknownOperationException")
    );
    // Malformed JSON, a non-object, an ill-typed member.
    for body in [&b"{\"KeyId\":"[..], b"[1,2]", b"\xff\xfe"] {
        let r = send("DescribeKey", body, &none);
        assert_eq!(
            (r.status, r.error_type().as_str()),
            (400, "SerializationException"),
            "{body:?}"
        );
    }
    let r = send("DescribeKey", br#"{"KeyId": 5}"#, &none);
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (400, "ValidationException")
    );
    // An empty body is an empty request.
    let r = send("ListKeys", b"", &none);
    assert_eq!(r.status, 200);
    // Wrong content type.
    let r = send("ListKeys", b"{}", &|h| {
        for (k, v) in h.iter_mut() {
            if k == "content-type" {
                *v = "text/plain".into();
            }
        }
    });
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (400, "SerializationException")
    );
    // Wrong path and method.
    let r = exchange(
        a,
        "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        b"",
    )
    .unwrap();
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (405, "UnknownOperationException")
    );
    let r = exchange(
        a,
        "POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 404);
    // A region that is not a region name.
    let h = signed_headers(a, "ListKeys", b"{}", &ROOT, "US_EAST", now);
    let r = exchange(a, &head_of(&h, 2), b"{}").unwrap();
    assert_eq!(r.error_type(), "UnrecognizedClientException");
}

#[test]
fn oversized_bodies_are_413() {
    let s = server();
    let a = s.local_addr();
    let big = vec![b' '; 65537];
    // Declared too large: refused before the body is read.
    let h = signed_headers(a, "ListKeys", &big, &ROOT, "us-east-1", SystemTime::now());
    let r = exchange(a, &head_of(&h, big.len()), &big).unwrap();
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (413, "RequestEntityTooLargeException")
    );
    // Chunked, without a length: cut off at the limit.
    let mut head = String::from("POST / HTTP/1.1\r\n");
    for (k, v) in &h {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    let mut body = Vec::new();
    for _ in 0..3 {
        body.extend_from_slice(format!("{:x}\r\n", 30000).as_bytes());
        body.extend_from_slice(&vec![b' '; 30000]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let r = exchange(a, &head, &body).unwrap();
    assert_eq!(r.status, 413);
    // The server still answers.
    assert_eq!(call(a, "ListKeys", &json!({}), &ROOT).status, 200);
}

#[test]
fn slow_clients_are_cut_off() {
    let s = server();
    let a = s.local_addr();
    // Headers never finished: the connection is closed after the header
    // timeout (1 s here), with no answer.
    let start = Instant::now();
    let mut c = TcpStream::connect(a).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"POST / HTTP/1.1\r\nhost: x\r\n").unwrap();
    let mut buf = [0u8; 1024];
    let n = c.read(&mut buf).unwrap_or(0);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        n == 0 || String::from_utf8_lossy(&buf[..n]).contains("408"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    // A body that stops halfway: 408 after the body timeout.
    let body = b"{\"Limit\": 10}";
    let h = signed_headers(a, "ListKeys", body, &ROOT, "us-east-1", SystemTime::now());
    let start = Instant::now();
    let mut c = TcpStream::connect(a).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(head_of(&h, body.len()).as_bytes()).unwrap();
    c.write_all(&body[..4]).unwrap();
    let r = read_answer(&mut c).unwrap();
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (408, "RequestTimeoutException")
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    // An idle kept-alive connection is closed too.
    let mut c = TcpStream::connect(a).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    let n = c.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0);
    assert!(start.elapsed() < Duration::from_secs(5));
}

fn open_fds() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

#[test]
fn ten_thousand_connections_opened_and_dropped() {
    let s = server();
    let a = s.local_addr();
    assert_eq!(call(a, "ListKeys", &json!({}), &ROOT).status, 200);
    std::thread::sleep(Duration::from_millis(200));
    let before = open_fds();
    for i in 0..10_000 {
        let mut c = TcpStream::connect(a).unwrap();
        match i % 3 {
            0 => {}
            1 => {
                let _ = c.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{");
            }
            _ => {
                let _ = c.write_all(b"GARBAGE\r\n\r\n");
            }
        }
        drop(c);
    }
    // Still answering, and every connection's socket was closed (the
    // server runs in this process: its descriptors are ours).
    assert_eq!(call(a, "ListKeys", &json!({}), &ROOT).status, 200);
    if let (Some(b), Some(_)) = (before, open_fds()) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = open_fds().unwrap();
            if now <= b + 8 {
                break;
            }
            assert!(Instant::now() < deadline, "fds: {b} before, {now} after");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Random requests — headers, targets, bodies — never crash or hang the
/// server; every answer is an AWS-shaped JSON error (or a 200) with a
/// request id.
#[test]
fn random_requests_get_aws_shaped_answers() {
    let s = server();
    let a = s.local_addr();
    let ops: Vec<&str> = strongroom::Operation::ALL
        .iter()
        .map(|o| o.name())
        .collect();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    });
    let strategy = (
        proptest::sample::select(ops),
        proptest::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
        any::<u8>(),
        "[ -~]{0,40}",
    );
    runner
        .run(&strategy, |(op, body, json_body, mode, junk)| {
            let body = if json_body {
                // A JSON object with random members.
                serde_json::to_vec(&json!({
                    "KeyId": junk.clone(), "Plaintext": junk.clone(),
                    "Limit": mode, "GrantTokens": [junk.clone()],
                }))
                .unwrap()
            } else {
                body
            };
            let mut h = signed_headers(a, op, &body, &ROOT, "us-east-1", SystemTime::now());
            match mode % 6 {
                0 => {}
                1 => h.push(("x-extra".into(), junk.clone())),
                2 => h.retain(|(k, _)| k != "content-type"),
                3 => {
                    for (k, v) in h.iter_mut() {
                        if k == "x-amz-date" {
                            *v = junk.clone();
                        }
                    }
                }
                4 => {
                    for (k, v) in h.iter_mut() {
                        if k == "authorization" {
                            *v = format!("AWS4-HMAC-SHA256 {junk}");
                        }
                    }
                }
                _ => {
                    for (k, v) in h.iter_mut() {
                        if k == "x-amz-target" {
                            *v = junk.clone();
                        }
                    }
                }
            }
            let r = exchange(a, &head_of(&h, body.len()), &body).expect("an answer");
            prop_assert!(r.header("x-amzn-requestid").is_some());
            if r.status != 200 {
                let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON error");
                prop_assert!(v["__type"].as_str().is_some_and(|t| !t.is_empty()), "{v}");
                prop_assert!(v["message"].is_string(), "{v}");
                prop_assert!(
                    r.status == 400 || r.status == 409 || r.status == 412 || r.status == 413,
                    "{}",
                    r.status
                );
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(call(a, "ListKeys", &json!({}), &ROOT).status, 200);
}

#[test]
fn graceful_stop_flushes() {
    let s = server();
    let a = s.local_addr();
    ok(a, "CreateKey", json!({}), &ROOT);
    s.stop().unwrap();
    assert!(TcpStream::connect(a).is_err());
}

/// A request in flight when shutdown starts is answered; new connections
/// are refused once the listener is gone.
#[test]
fn shutdown_finishes_in_flight_requests() {
    let s = server();
    let a = s.local_addr();
    let body = b"{\"Limit\": 5}";
    let h = signed_headers(a, "ListKeys", body, &ROOT, "us-east-1", SystemTime::now());
    let mut c = TcpStream::connect(a).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(head_of(&h, body.len()).as_bytes()).unwrap();
    c.write_all(&body[..3]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let stopper = std::thread::spawn(move || s.stop());
    std::thread::sleep(Duration::from_millis(200));
    c.write_all(&body[3..]).unwrap();
    let r = read_answer(&mut c).unwrap();
    assert_eq!(r.status, 200, "{:?}", r.json());
    stopper.join().unwrap().unwrap();
    assert!(TcpStream::connect(a).is_err());
}

/// Headers for `op` where only `signed` (plus host and x-amz-date, which
/// the signer always adds) are covered by the signature; `extra` headers
/// are sent as well, unsigned.
fn partly_signed(
    a: std::net::SocketAddr,
    op: &str,
    body: &[u8],
    signed: &[&str],
    extra: &[(&str, &str)],
    now: SystemTime,
) -> Vec<(String, String)> {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity;
    let all: Vec<(String, String)> = vec![
        ("host".into(), a.to_string()),
        ("content-type".into(), "application/x-amz-json-1.1".into()),
        ("x-amz-target".into(), format!("TrentService.{op}")),
    ];
    let covered: Vec<(String, String)> = all
        .iter()
        .filter(|(k, _)| k == "host" || signed.contains(&k.as_str()))
        .cloned()
        .collect();
    let identity: Identity = Credentials::new(ROOT.id, ROOT.secret, None, None, "t").into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("kms")
        .time(now)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        "/",
        covered.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut headers = all;
    for (k, v) in instructions.headers() {
        headers.push((k.to_string(), v.to_string()));
    }
    for (k, v) in extra {
        headers.push((k.to_string(), v.to_string()));
    }
    headers
}

#[test]
fn unsigned_target_or_content_type_is_refused() {
    let s = server();
    let a = s.local_addr();
    let key = ok(a, "CreateKey", json!({}), &ROOT)["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let body = serde_json::to_vec(&json!({"KeyId": key})).unwrap();
    let now = SystemTime::now();
    // A DescribeKey whose signature does not cover X-Amz-Target, replayed
    // as DisableKey: refused, and the key stays enabled.
    let mut h = partly_signed(a, "DescribeKey", &body, &["content-type"], &[], now);
    for (k, v) in h.iter_mut() {
        if k == "x-amz-target" {
            *v = "TrentService.DisableKey".into();
        }
    }
    let r = exchange(a, &head_of(&h, body.len()), &body).unwrap();
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (400, "InvalidSignatureException"),
        "{:?}",
        r.json()
    );
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("x-amz-target"),
        "{:?}",
        r.json()
    );
    let d = ok(a, "DescribeKey", json!({"KeyId": key}), &ROOT);
    assert_eq!(d["KeyMetadata"]["Enabled"], true);
    // Content-Type unsigned.
    let h = partly_signed(a, "DescribeKey", &body, &["x-amz-target"], &[], now);
    let r = exchange(a, &head_of(&h, body.len()), &body).unwrap();
    assert_eq!(r.error_type(), "InvalidSignatureException");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("content-type"));
    // An x-amz-* header sent but not signed.
    let h = partly_signed(
        a,
        "DescribeKey",
        &body,
        &["x-amz-target", "content-type"],
        &[("x-amz-user-agent", "replayed")],
        now,
    );
    let r = exchange(a, &head_of(&h, body.len()), &body).unwrap();
    assert_eq!(r.error_type(), "InvalidSignatureException");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("x-amz-user-agent"));
    // Everything signed: accepted (the same helper is not refusing by itself).
    let h = partly_signed(
        a,
        "DescribeKey",
        &body,
        &["x-amz-target", "content-type"],
        &[],
        now,
    );
    let r = exchange(a, &head_of(&h, body.len()), &body).unwrap();
    assert_eq!(r.status, 200, "{:?}", r.json());
    // A duplicated X-Amz-Target (the second one unsigned-looking) is refused.
    let mut h = signed_headers(a, "DescribeKey", &body, &ROOT, "us-east-1", now);
    h.push(("x-amz-target".into(), "TrentService.DisableKey".into()));
    let r = exchange(a, &head_of(&h, body.len()), &body).unwrap();
    assert_eq!(
        (r.status, r.error_type().as_str()),
        (400, "IncompleteSignatureException"),
        "{:?}",
        r.json()
    );
    let d = ok(a, "DescribeKey", json!({"KeyId": key}), &ROOT);
    assert_eq!(d["KeyMetadata"]["Enabled"], true);
}

#[test]
fn only_configured_regions_are_opened() {
    // CONFIG lists no regions: only the default region (us-east-1) is served.
    let s = server();
    let a = s.local_addr();
    let key = ok(a, "CreateKey", json!({"MultiRegion": true}), &ROOT)["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    // Regions named in a body: refused before any store is made.
    let r = call(
        a,
        "ReplicateKey",
        &json!({"KeyId": key, "ReplicaRegion": "eu-west-1"}),
        &ROOT,
    );
    assert_eq!(r.error_type(), "ValidationException", "{:?}", r.json());
    let r = call(
        a,
        "UpdatePrimaryRegion",
        &json!({"KeyId": key, "PrimaryRegion": "ap-south-1"}),
        &ROOT,
    );
    assert_eq!(r.error_type(), "ValidationException", "{:?}", r.json());
    let r = call(
        a,
        "ReEncrypt",
        &json!({"CiphertextBlob": "AAAA",
                "DestinationKeyId": "arn:aws:kms:sa-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}),
        &ROOT,
    );
    assert_eq!(r.status, 400, "{:?}", r.json());
    // A credential scope of another region.
    let body = b"{}";
    let h = signed_headers(a, "ListKeys", body, &ROOT, "eu-west-2", SystemTime::now());
    let r = exchange(a, &head_of(&h, body.len()), body).unwrap();
    assert_eq!(r.error_type(), "UnrecognizedClientException");
    assert_eq!(s.regions().open_regions(), ["us-east-1"]);
}

#[test]
fn listed_regions_are_served_up_to_the_cap() {
    let mut opts = ServerOptions::in_memory("127.0.0.1:0".parse().unwrap());
    opts.config = Config::parse(&format!("regions = [\"eu-west-1\"]\n{CONFIG}")).unwrap();
    let s = strongroom_server::spawn(opts, 2).unwrap();
    let a = s.local_addr();
    let key = ok(a, "CreateKey", json!({"MultiRegion": true}), &ROOT)["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        a,
        "ReplicateKey",
        json!({"KeyId": key, "ReplicaRegion": "eu-west-1"}),
        &ROOT,
    );
    assert_eq!(s.regions().open_regions(), ["eu-west-1", "us-east-1"]);
    // More regions listed than may be open: the config is refused.
    let three = format!("regions = [\"eu-west-1\", \"eu-west-2\"]\n{CONFIG}")
        .replace("[limits]", "[limits]\nmax_open_regions = 2");
    assert!(Config::parse(&three).is_err());
    // The cap holds at run time too.
    let r = strongroom_server::Regions::new(
        "111122223333".into(),
        strongroom_server::Storage::Memory,
        vec!["us-east-1".into(), "eu-west-1".into()],
        vec![],
        None,
    )
    .with_max_open(1);
    r.get("us-east-1").unwrap();
    assert_eq!(
        r.get("eu-west-1").unwrap_err().code(),
        strongroom::ErrorCode::LimitExceeded
    );
    assert_eq!(
        r.get("ap-south-1").unwrap_err().code(),
        strongroom::ErrorCode::Validation
    );
}

/// Signed headers for `op` with `extra` headers, all signed.
fn signed_with(
    a: std::net::SocketAddr,
    op: &str,
    body: &[u8],
    key: &Key<'_>,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity;
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), a.to_string()),
        ("content-type".into(), "application/x-amz-json-1.1".into()),
        ("x-amz-target".into(), format!("TrentService.{op}")),
    ];
    for (k, v) in extra {
        headers.push((k.to_string(), v.to_string()));
    }
    let identity: Identity = Credentials::new(key.id, key.secret, None, None, "t").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("kms")
        .time(SystemTime::now())
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
        headers.push((k.to_string(), v.to_string()));
    }
    headers
}

#[test]
fn via_service_header_only_from_trusted_proxies() {
    const VIA: &str = "x-strongroom-via-service";
    let via_key = Key {
        id: "AKIDVIA",
        secret: "via-secret",
        token: None,
    };
    let serve = |trusted: &str| {
        let mut opts = ServerOptions::in_memory("127.0.0.1:0".parse().unwrap());
        opts.config = Config::parse(&format!(
            "via_service_header = \"{VIA}\"\ntrusted_proxies = [{trusted}]\n{CONFIG}\n\
             [[access_keys]]\nid = \"AKIDVIA\"\nsecret = \"via-secret\"\n\
             principal = \"arn:aws:iam::111122223333:user/alice\"\n\
             via_service = \"ec2.us-east-1.amazonaws.com\"\n"
        ))
        .unwrap();
        let s = strongroom_server::spawn(opts, 2).unwrap();
        let a = s.local_addr();
        let key = ok(a, "CreateKey", json!({}), &ROOT)["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_string();
        // Alice may encrypt only via S3.
        ok(
            a,
            "PutIdentityPolicy",
            json!({"PrincipalArn": "arn:aws:iam::111122223333:user/alice", "PolicyName": "via",
                "PolicyDocument": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}]}"#}),
            &ROOT,
        );
        (s, key)
    };
    let encrypt =
        |a, key: &str, who: &Key<'_>, extra: &[(&str, &str)], unsigned: &[(&str, &str)]| {
            let body = serde_json::to_vec(&json!({"KeyId": key, "Plaintext": "aGk="})).unwrap();
            let mut h = signed_with(a, "Encrypt", &body, who, extra);
            for (k, v) in unsigned {
                h.push((k.to_string(), v.to_string()));
            }
            exchange(a, &head_of(&h, body.len()), &body).unwrap()
        };
    let s3 = [(VIA, "s3.us-east-1.amazonaws.com")];
    // 127.0.0.1 is trusted: the header counts.
    let (s, key) = serve("\"127.0.0.1/32\", \"::1\"");
    let a = s.local_addr();
    let r = encrypt(a, &key, &ALICE, &s3, &[]);
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(
        encrypt(a, &key, &ALICE, &[], &[]).error_type(),
        "AccessDeniedException"
    );
    // Twice: refused.
    let r = encrypt(a, &key, &ALICE, &s3, &[(VIA, "s3.us-east-1.amazonaws.com")]);
    assert_eq!(r.status, 400, "{:?}", r.json());
    // Never overrides an access key's own via_service.
    assert_eq!(
        encrypt(a, &key, &via_key, &s3, &[]).error_type(),
        "AccessDeniedException"
    );
    // No trusted proxy: the header is ignored.
    let (s, key) = serve("");
    let r = encrypt(s.local_addr(), &key, &ALICE, &s3, &[]);
    assert_eq!(r.error_type(), "AccessDeniedException", "{:?}", r.json());
    // A bad CIDR block is a config error.
    assert!(Config::parse(&format!("trusted_proxies = [\"10.0.0.0/99\"]\n{CONFIG}")).is_err());
}

/// `[quotas]` on: AWS's per-operation quota (CreateKey: 5 per second)
/// answers the sixth and later CreateKey of one second with
/// ThrottlingException (400, "Rate exceeded"); without `[quotas]` the same
/// burst is served whole (every other test here).
#[test]
fn quotas_throttle_a_burst_over_the_rate() {
    let mut opts = ServerOptions::in_memory("127.0.0.1:0".parse().unwrap());
    opts.config = Config::parse(&format!("{CONFIG}\n[quotas]\nenabled = true\n")).unwrap();
    let s = strongroom_server::spawn(opts, 2).unwrap();
    let a = s.local_addr();
    let answers: Vec<Answer> = (0..12)
        .map(|_| call(a, "CreateKey", &json!({}), &ROOT))
        .collect();
    let served = answers.iter().filter(|r| r.status == 200).count();
    let throttled: Vec<&Answer> = answers
        .iter()
        .filter(|r| r.error_type() == "ThrottlingException")
        .collect();
    assert!(
        served >= 5,
        "the first 5 are within the quota ({served} served)"
    );
    assert!(
        !throttled.is_empty(),
        "12 CreateKey in about a second exceed 5/s"
    );
    assert_eq!(served + throttled.len(), 12);
    for r in throttled {
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["message"], "Rate exceeded");
    }
    // Encrypt has its own (shared symmetric) quota: not throttled.
    let key = answers.iter().find(|r| r.status == 200).unwrap().json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        a,
        "Encrypt",
        json!({"KeyId": key, "Plaintext": "aGk="}),
        &ROOT,
    );
}

/// `--seed`: the seed is applied to each region's store as it opens, so two
/// servers seeded from one file have the same fixed-material key: what one
/// encrypts, the other decrypts.
#[test]
fn a_seed_applies_as_each_region_opens() {
    const SEED: &str = r#"{"version": 1, "keys": [{
        "key_id": "1a2b3c4d-0000-4000-8000-0000000000aa",
        "description": "seeded",
        "insecure_fixed_material": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    }], "aliases": [{"alias_name": "alias/seeded", "target_key_id": "1a2b3c4d-0000-4000-8000-0000000000aa"}]}"#;
    let seeded = || {
        let seed = std::sync::Arc::new(strongroom::seed::Seed::parse(SEED).unwrap());
        let mut opts = ServerOptions::in_memory("127.0.0.1:0".parse().unwrap());
        opts.config = Config::parse(CONFIG).unwrap();
        opts.hooks.on_region_open = Some(std::sync::Arc::new(move |kms: &strongroom::Kms| {
            seed.apply(kms).map(|_| ())
        }));
        strongroom_server::spawn(opts, 2).unwrap()
    };
    let (one, two) = (seeded(), seeded());
    let d = ok(
        one.local_addr(),
        "DescribeKey",
        json!({"KeyId": "alias/seeded"}),
        &ROOT,
    );
    assert_eq!(
        d["KeyMetadata"]["KeyId"],
        "1a2b3c4d-0000-4000-8000-0000000000aa"
    );
    let ct = ok(
        one.local_addr(),
        "Encrypt",
        json!({"KeyId": "alias/seeded", "Plaintext": "c2VlZGVk", "EncryptionContext": {"t": "1"}}),
        &ROOT,
    );
    let pt = ok(
        two.local_addr(),
        "Decrypt",
        json!({"CiphertextBlob": ct["CiphertextBlob"], "EncryptionContext": {"t": "1"}}),
        &ROOT,
    );
    assert_eq!(pt["Plaintext"], "c2VlZGVk");
}
