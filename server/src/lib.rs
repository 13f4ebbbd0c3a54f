//! `strongroom serve`: the Strongroom KMS over the AWS KMS wire protocol.
//!
//! AWS JSON 1.1 (`POST /`, `X-Amz-Target: TrentService.<Operation>`) over
//! HTTP/1.1, optionally TLS (rustls); every request's SigV4 signature
//! verified against the access keys of the config file; one store per
//! region of the credential scope. Requests dispatch to the core's one
//! operation table ([`strongroom::json::call_op`]); ReplicateKey and
//! UpdatePrimaryRegion, which need two regions' stores, and ReEncrypt to a
//! key of another region are wired here. See `docs/server.md`.
//!
//! ```no_run
//! # async fn f() -> Result<(), strongroom::Error> {
//! use strongroom_server::{Server, ServerOptions};
//! let server = Server::bind(ServerOptions::in_memory("127.0.0.1:0".parse().unwrap())).await?;
//! println!("listening on {}", server.url());
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod config;
pub mod hooks;
pub mod log;
pub mod regions;
pub mod service;
pub mod sigv4;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use strongroom::{Error, ErrorCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use config::Config;
pub use hooks::{Hooks, RegionOpenHook};
pub use log::AccessLog;
pub use regions::{Regions, Storage, StoreFactory};

/// A certificate chain and private key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Everything `strongroom serve` is started with.
#[derive(Debug)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    pub storage: Storage,
    pub config: Config,
    /// Verify SigV4 signatures (`false`: `--no-verify`).
    pub verify: bool,
    pub tls: Option<TlsFiles>,
    pub access_log: AccessLog,
    pub hooks: Hooks,
}

impl ServerOptions {
    /// In-memory stores, default config, signatures verified, no log.
    pub fn in_memory(listen: SocketAddr) -> Self {
        ServerOptions {
            listen,
            storage: Storage::Memory,
            config: Config::default(),
            verify: true,
            tls: None,
            access_log: AccessLog::Off,
            hooks: Hooks::default(),
        }
    }
}

fn io_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::StoreIo, format!("{what}: {e}"))
}

fn tls_acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, Error> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        Error::new(ErrorCode::Validation, format!("TLS {what}: {e}"))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| bad("certificate", &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("certificate", &e))?;
    if certs.is_empty() {
        return Err(bad("certificate", &"no certificate in the file"));
    }
    // The key's parse error never carries key bytes.
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad("key", &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("config", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("certificate/key", &e))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// A bound server, not yet serving.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<service::State>,
}

impl Server {
    /// Check the options, bind the address (port 0: an ephemeral port).
    pub async fn bind(opts: ServerOptions) -> Result<Server, Error> {
        opts.config.check()?;
        let tls = opts.tls.as_ref().map(tls_acceptor).transpose()?;
        let listener = TcpListener::bind(opts.listen)
            .await
            .map_err(|e| io_error(&format!("cannot listen on {}", opts.listen), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| io_error("local address", e))?;
        let regions = Arc::new(
            Regions::new(
                opts.config.account.clone(),
                opts.storage,
                opts.config.served_regions(),
                opts.config.identity_policies.clone(),
                opts.hooks.on_region_open.clone(),
            )
            .with_max_open(opts.config.limits.max_open_regions),
        );
        // Open the default region at start: a wrong root key or a locked
        // store is reported now, not at the first request.
        regions.get(&opts.config.default_region)?;
        let state = Arc::new(service::State {
            ops: tokio::sync::Semaphore::new(opts.config.limits.max_concurrent_ops),
            trusted_proxies: opts.config.trusted_proxy_nets()?,
            regions,
            keys: opts.config.access_key_map(),
            verify: opts.verify,
            hooks: opts.hooks,
            quotas: match &opts.config.quotas {
                Some(q) => Some(Arc::new(strongroom::quota::QuotaLimiter::new(q.clone())?)),
                None => None,
            },
            log: opts.access_log,
            config: opts.config,
        });
        Ok(Server {
            listener,
            addr,
            tls,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` or `https://ADDR`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls.is_some() { "https" } else { "http" },
            self.addr
        )
    }

    /// The region stores (for tests and embedding).
    pub fn regions(&self) -> Arc<Regions> {
        self.state.regions.clone()
    }

    /// Serve until `shutdown` completes; then stop accepting, let
    /// in-flight requests finish (up to the configured grace period),
    /// flush every store's buffered audit events and return.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let Server {
            listener,
            addr,
            tls,
            state,
        } = self;
        let limits = state.config.limits.clone();
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        let graceful = GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout())
            .max_buf_size(64 * 1024)
            .max_headers(100)
            .keep_alive(true);
        let http = Arc::new(http);
        state.log.event(
            "listening",
            json!({"addr": addr.to_string(), "tls": tls.is_some(), "verify": state.verify}),
        );
        tokio::pin!(shutdown);
        loop {
            // Wait for a free connection slot first: beyond the limit,
            // clients wait in the listen backlog.
            let permit = tokio::select! {
                _ = &mut shutdown => break,
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => break,
                a = listener.accept() => match a {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        state.log.event("accept_error", json!({"error": e.to_string()}));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let watcher = graceful.watcher();
            let state = state.clone();
            let http = http.clone();
            let tls = tls.clone();
            let handshake = Duration::from_millis(limits.tls_handshake_timeout_ms);
            tokio::spawn(async move {
                let _permit = permit;
                match tls {
                    None => serve_connection(stream, peer, state, &http, watcher).await,
                    Some(acceptor) => {
                        if let Ok(Ok(s)) =
                            tokio::time::timeout(handshake, acceptor.accept(stream)).await
                        {
                            serve_connection(s, peer, state, &http, watcher).await
                        }
                    }
                }
            });
        }
        drop(listener);
        state.log.event("shutting_down", json!({}));
        let grace = Duration::from_millis(limits.shutdown_grace_ms);
        let drained = tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_ok();
        let failures = state.regions.flush_all();
        for (region, e) in &failures {
            state.log.event(
                "flush_error",
                json!({"region": region, "error": e.code().as_str(), "message": e.message()}),
            );
        }
        state.log.event(
            "stopped",
            json!({"drained": drained, "flush_errors": failures.len()}),
        );
        match failures.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }
}

async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    state: Arc<service::State>,
    http: &hyper::server::conn::http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(service::handle(state, peer, req).await) }
    });
    let conn = http.serve_connection(TokioIo::new(io), svc);
    // Errors are the client's (reset, timeout, malformed HTTP): the
    // connection ends, nothing else to do.
    let _ = watcher.watch(conn).await;
}

/// A server running on its own runtime thread (tests, embedding in
/// synchronous programs).
pub struct Running {
    addr: SocketAddr,
    url: String,
    regions: Arc<Regions>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), Error>>>,
}

impl Running {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn url(&self) -> &str {
        &self.url
    }
    pub fn regions(&self) -> &Arc<Regions> {
        &self.regions
    }
    /// Graceful shutdown; waits for it.
    pub fn stop(mut self) -> Result<(), Error> {
        self.stop_inner()
    }
    fn stop_inner(&mut self) -> Result<(), Error> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| Error::new(ErrorCode::KmsInternal, "server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

/// Bind and serve on a new runtime thread (`worker_threads` async
/// workers).
pub fn spawn(opts: ServerOptions, worker_threads: usize) -> Result<Running, Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| io_error("runtime", e))?;
    let server = rt.block_on(Server::bind(opts))?;
    let addr = server.local_addr();
    let url = server.url();
    let regions = server.regions();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("strongroom-server".into())
        .spawn(move || {
            rt.block_on(server.run(async {
                let _ = rx.await;
            }))
        })
        .map_err(|e| io_error("thread", e))?;
    Ok(Running {
        addr,
        url,
        regions,
        stop: Some(tx),
        thread: Some(thread),
    })
}

/// The future that completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Bind, call `on_listening` with the URL (`http://127.0.0.1:PORT`), serve
/// until SIGINT/SIGTERM, shut down gracefully. The `strongroom serve`
/// command. `worker_threads` 0: one per CPU.
pub fn serve_until_signal(
    opts: ServerOptions,
    worker_threads: usize,
    on_listening: impl FnOnce(&str) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if worker_threads > 0 {
        rt.worker_threads(worker_threads);
    }
    let rt = rt
        .enable_all()
        .build()
        .map_err(|e| io_error("runtime", e))?;
    rt.block_on(async {
        let server = Server::bind(opts).await?;
        on_listening(&server.url())?;
        server.run(shutdown_signal()).await
    })
}
