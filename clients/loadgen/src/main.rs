//! `strongroom-loadgen`: a load generator for any AWS KMS endpoint.
//!
//! Every request is an AWS JSON 1.1 call signed with SigV4 by `aws-sigv4`
//! (the AWS SDK for Rust's own signer), sent over one of N keep-alive HTTP/1.1
//! connections (hyper). For each operation (Encrypt of 1 KiB, Decrypt of
//! that ciphertext, GenerateDataKey AES_256) and each concurrency it runs a
//! fixed number of requests and prints requests/s and p50/p99 latency.
//! Every answer is checked (HTTP 200 and the field the operation returns);
//! a failed request is counted and reported, and makes the exit status 1.
//!
//! The secret access key is read from the environment only and never printed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

#[derive(Parser, Debug)]
#[command(
    about = "SigV4-signed load on a KMS endpoint: throughput and p50/p99 per (operation, concurrency)"
)]
struct Args {
    /// The endpoint, e.g. http://127.0.0.1:4599 (plain HTTP on loopback).
    #[arg(long, env = "AWS_ENDPOINT_URL_KMS")]
    endpoint: String,
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    access_key_id: String,
    /// Name shown in the first column (e.g. strongroom, local-kms, moto).
    #[arg(long, default_value = "endpoint")]
    label: String,
    /// Comma-separated concurrencies (one connection each).
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Comma-separated operations: encrypt, decrypt, generate-data-key.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "encrypt,decrypt,generate-data-key"
    )]
    ops: Vec<Op>,
    /// Requests per (operation, concurrency), after the warm-up.
    #[arg(long, default_value_t = 2000)]
    requests: u64,
    /// Warm-up requests per (operation, concurrency), not measured.
    #[arg(long, default_value_t = 100)]
    warmup: u64,
    /// Stop a measurement after this many seconds even if requests remain
    /// (the figures then cover the requests done).
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
    /// Tokio worker threads of the load generator.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Use this key instead of creating one.
    #[arg(long)]
    key_id: Option<String>,
    /// Print one JSON object per line instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Op {
    Encrypt,
    Decrypt,
    GenerateDataKey,
}

impl Op {
    fn target(self) -> &'static str {
        match self {
            Op::Encrypt => "TrentService.Encrypt",
            Op::Decrypt => "TrentService.Decrypt",
            Op::GenerateDataKey => "TrentService.GenerateDataKey",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Op::Encrypt => "Encrypt-1KiB",
            Op::Decrypt => "Decrypt",
            Op::GenerateDataKey => "GenerateDataKey",
        }
    }
    /// The field every successful answer carries.
    fn answer_field(self) -> &'static str {
        match self {
            Op::Encrypt => "CiphertextBlob",
            Op::Decrypt | Op::GenerateDataKey => "Plaintext",
        }
    }
}

/// What every worker shares: where to send, how to sign.
struct Target {
    authority: String,
    host: String,
    uri: String,
    region: String,
    credentials: aws_credential_types::Credentials,
}

#[derive(Debug)]
struct CallError(String);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

impl Target {
    fn signed(&self, target: &str, body: Bytes) -> Result<http::Request<Full<Bytes>>, CallError> {
        let mut req = http::Request::builder()
            .method("POST")
            .uri(&self.uri)
            .header("host", &self.host)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .body(body.clone())
            .map_err(|e| CallError(format!("building a request: {e}")))?;
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("kms")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| CallError(format!("signing parameters: {e}")))?
            .into();
        let headers: Vec<(&str, &str)> = req
            .headers()
            .iter()
            .map(|(k, v)| Ok((k.as_str(), v.to_str()?)))
            .collect::<Result<_, http::header::ToStrError>>()
            .map_err(|e| CallError(format!("header: {e}")))?;
        let signable = SignableRequest::new(
            "POST",
            &self.uri,
            headers.into_iter(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| CallError(format!("signable request: {e}")))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| CallError(format!("signing: {e}")))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut req);
        Ok(req.map(Full::new))
    }

    async fn connect(&self) -> Result<Sender, CallError> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| CallError(format!("connecting to {}: {e}", self.authority)))?;
        stream.set_nodelay(true).ok();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| CallError(format!("HTTP handshake: {e}")))?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the peer closes.
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// One signed call; Ok(answer) only for HTTP 200 with a JSON body.
    async fn call(
        &self,
        sender: &mut Sender,
        target: &str,
        body: Bytes,
    ) -> Result<serde_json::Value, CallError> {
        let req = self.signed(target, body)?;
        if sender.ready().await.is_err() {
            // The server closed the connection after its last answer (moto's
            // server speaks HTTP/1.0 without keep-alive): open another one,
            // counted, and timed as part of this request.
            RECONNECTS.fetch_add(1, Ordering::Relaxed);
            *sender = self.connect().await?;
            sender
                .ready()
                .await
                .map_err(|e| CallError(format!("connection: {e}")))?;
        }
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| CallError(format!("request: {e}")))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| CallError(format!("reading the answer: {e}")))?
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|_| CallError(format!("HTTP {status}: the answer is not JSON")))?;
        if status != http::StatusCode::OK {
            let kind = json.get("__type").and_then(|t| t.as_str()).unwrap_or("?");
            return Err(CallError(format!("HTTP {status}: {kind}")));
        }
        Ok(json)
    }
}

struct Measured {
    label: String,
    op: Op,
    concurrency: usize,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    reconnects: u64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

async fn measure(
    target: Arc<Target>,
    op: Op,
    body: Bytes,
    concurrency: usize,
    requests: u64,
    warmup: u64,
    max: Duration,
) -> Result<Measured, CallError> {
    // Connect every worker first, then warm up, then measure.
    let mut senders = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        senders.push(target.connect().await?);
    }
    let run = |senders: Vec<Sender>, count: u64, deadline: Instant| {
        let remaining = Arc::new(AtomicU64::new(count));
        let mut handles = Vec::with_capacity(senders.len());
        for mut sender in senders {
            let remaining = remaining.clone();
            let target = target.clone();
            let body = body.clone();
            handles.push(tokio::spawn(async move {
                let mut lat: Vec<Duration> = Vec::new();
                let mut errors = 0u64;
                let mut first_error = None;
                while Instant::now() < deadline
                    && remaining
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
                {
                    let t0 = Instant::now();
                    let r = target.call(&mut sender, op.target(), body.clone()).await;
                    let dt = t0.elapsed();
                    match r {
                        Ok(answer)
                            if answer
                                .get(op.answer_field())
                                .and_then(|v| v.as_str())
                                .is_some() =>
                        {
                            lat.push(dt)
                        }
                        Ok(_) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| {
                                format!("answer without {}", op.answer_field())
                            });
                        }
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e.0);
                        }
                    }
                }
                (sender, lat, errors, first_error)
            }));
        }
        handles
    };
    let warm = run(senders, warmup, Instant::now() + max);
    let mut senders = Vec::with_capacity(concurrency);
    for h in warm {
        let (s, _, _, _) = h.await.map_err(|e| CallError(format!("worker: {e}")))?;
        senders.push(s);
    }
    let reconnects_before = RECONNECTS.load(Ordering::Relaxed);
    let start = Instant::now();
    let handles = run(senders, requests, start + max);
    let mut lat = Vec::with_capacity(requests as usize);
    let mut errors = 0;
    let mut first_error = None;
    for h in handles {
        let (_, l, e, fe) = h.await.map_err(|e| CallError(format!("worker: {e}")))?;
        lat.extend(l);
        errors += e;
        if first_error.is_none() {
            first_error = fe;
        }
    }
    let elapsed = start.elapsed();
    let reconnects = RECONNECTS.load(Ordering::Relaxed) - reconnects_before;
    lat.sort_unstable();
    let pct = |p: f64| -> Duration {
        if lat.is_empty() {
            return Duration::ZERO;
        }
        // Nearest-rank percentile.
        let rank = ((p / 100.0) * lat.len() as f64).ceil() as usize;
        lat[rank.clamp(1, lat.len()) - 1]
    };
    Ok(Measured {
        label: target_label(),
        op,
        concurrency,
        ok: lat.len() as u64,
        errors,
        first_error,
        reconnects,
        elapsed,
        p50: pct(50.0),
        p99: pct(99.0),
        max: lat.last().copied().unwrap_or_default(),
    })
}

/// Connections the server closed and the load generator had to reopen.
static RECONNECTS: AtomicU64 = AtomicU64::new(0);

static LABEL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
fn target_label() -> String {
    LABEL.get().cloned().unwrap_or_default()
}

fn parse_endpoint(endpoint: &str) -> Result<(String, String), CallError> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| CallError(format!("endpoint {endpoint:?}: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(CallError(
            "the load generator speaks plain HTTP (http://host:port)".into(),
        ));
    }
    let host = uri
        .host()
        .ok_or_else(|| CallError("endpoint without a host".into()))?;
    let port = uri.port_u16().unwrap_or(80);
    let authority = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let host_header = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or(authority.clone());
    Ok((authority, host_header))
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let secret = match std::env::var("AWS_SECRET_ACCESS_KEY") {
        Ok(s) => s,
        Err(_) => {
            eprintln!("loadgen: set AWS_SECRET_ACCESS_KEY");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(run(args, secret)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(args: Args, secret: String) -> Result<bool, CallError> {
    let (authority, host) = parse_endpoint(&args.endpoint)?;
    LABEL.set(args.label.clone()).ok();
    let target = Arc::new(Target {
        authority,
        host,
        uri: format!("{}/", args.endpoint.trim_end_matches('/')),
        region: args.region.clone(),
        credentials: Credentials::new(
            &args.access_key_id,
            secret,
            None,
            None,
            "strongroom-loadgen",
        ),
    });

    // A key and one ciphertext of 1 KiB for the Decrypt runs.
    let mut setup = target.connect().await?;
    let key_id = match &args.key_id {
        Some(k) => k.clone(),
        None => {
            let created = target
                .call(
                    &mut setup,
                    "TrentService.CreateKey",
                    Bytes::from_static(br#"{"Description":"strongroom-loadgen"}"#),
                )
                .await?;
            created["KeyMetadata"]["KeyId"]
                .as_str()
                .ok_or_else(|| CallError("CreateKey answered without KeyMetadata.KeyId".into()))?
                .to_string()
        }
    };
    let plaintext: Vec<u8> = (0..1024u32).map(|i| (i * 31 % 251) as u8).collect();
    let encrypt_body = Bytes::from(
        serde_json::json!({"KeyId": key_id, "Plaintext": B64.encode(&plaintext)}).to_string(),
    );
    let ct = target
        .call(&mut setup, "TrentService.Encrypt", encrypt_body.clone())
        .await?;
    let blob = ct["CiphertextBlob"]
        .as_str()
        .ok_or_else(|| CallError("Encrypt answered without CiphertextBlob".into()))?
        .to_string();
    let decrypt_body = Bytes::from(serde_json::json!({"CiphertextBlob": blob}).to_string());
    let back = target
        .call(&mut setup, "TrentService.Decrypt", decrypt_body.clone())
        .await?;
    let back = back["Plaintext"]
        .as_str()
        .and_then(|p| B64.decode(p).ok())
        .ok_or_else(|| CallError("Decrypt answered without a base64 Plaintext".into()))?;
    if back != plaintext {
        return Err(CallError("Decrypt gave back another plaintext".into()));
    }
    let gdk_body =
        Bytes::from(serde_json::json!({"KeyId": key_id, "KeySpec": "AES_256"}).to_string());
    drop(setup);

    if !args.json {
        println!(
            "{:<12} {:<16} {:>5} {:>8} {:>7} {:>10} {:>9} {:>9} {:>9} {:>8}",
            "server",
            "operation",
            "conns",
            "ok",
            "errors",
            "req/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "reconn"
        );
    }
    let mut all_ok = true;
    for &op in &args.ops {
        let body = match op {
            Op::Encrypt => encrypt_body.clone(),
            Op::Decrypt => decrypt_body.clone(),
            Op::GenerateDataKey => gdk_body.clone(),
        };
        for &c in &args.concurrency {
            let m = measure(
                target.clone(),
                op,
                body.clone(),
                c.max(1),
                args.requests,
                args.warmup,
                Duration::from_secs(args.max_seconds),
            )
            .await?;
            all_ok &= m.errors == 0 && m.ok > 0;
            print_row(&m, args.json);
        }
    }
    Ok(all_ok)
}

fn print_row(m: &Measured, json: bool) {
    let rps = m.ok as f64 / m.elapsed.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "server": m.label, "operation": m.op.name(), "connections": m.concurrency,
                "ok": m.ok, "errors": m.errors, "seconds": m.elapsed.as_secs_f64(),
                "requests_per_second": rps, "p50_ms": ms(m.p50), "p99_ms": ms(m.p99), "max_ms": ms(m.max),
                "first_error": m.first_error, "reconnects": m.reconnects,
            })
        );
    } else {
        println!(
            "{:<12} {:<16} {:>5} {:>8} {:>7} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>8}",
            m.label,
            m.op.name(),
            m.concurrency,
            m.ok,
            m.errors,
            rps,
            ms(m.p50),
            ms(m.p99),
            ms(m.max),
            m.reconnects
        );
        if let Some(e) = &m.first_error {
            println!("  first error: {e}");
        }
    }
}
