//! `strongroom`: keys, aliases and envelope encryption (AWS Encryption SDK
//! message format) of files or streams of any size, on a local sealed store.
//!
//! Exit codes: 0 success; 1 any other failure; 2 usage error; 3 access
//! denied; 4 not found; 5 the message is invalid, tampered with or does not
//! match (InvalidCiphertextException); 6 wrong root key or passphrase.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};
use strongroom::api::*;
use strongroom::esdk::{self, DecryptOptions, EncryptOptions, KmsKeyring, MessageInfo};
use strongroom::{EncryptionContext, Error, ErrorCode, Kms, OsRng, RootKey};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "strongroom",
    version,
    about = "Strongroom: a key management service in a local sealed store, and envelope encryption of files of any size (AWS Encryption SDK message format).",
    after_help = "Root key, in order of precedence: --root-key-file (64 hex characters or 32 raw bytes); \
STRONGROOM_ROOT_KEY (64 hex characters); STRONGROOM_PASSPHRASE; otherwise a passphrase prompt on the terminal.\n\
Exit codes: 0 ok, 1 failure, 2 usage, 3 access denied, 4 not found, 5 invalid or tampered message, 6 wrong root key."
)]
struct Cli {
    /// Store directory [default: <data dir>/strongroom/store].
    #[arg(long, env = "STRONGROOM_STORE", global = true)]
    store: Option<PathBuf>,
    /// File holding the store's 32-byte root key (64 hex characters or 32 raw bytes).
    #[arg(long, env = "STRONGROOM_ROOT_KEY_FILE", global = true)]
    root_key_file: Option<PathBuf>,
    /// Account id of the store's keys.
    #[arg(
        long,
        env = "STRONGROOM_ACCOUNT",
        default_value = "111122223333",
        global = true
    )]
    account: String,
    /// Region of the store's keys.
    #[arg(
        long,
        env = "STRONGROOM_REGION",
        default_value = "us-east-1",
        global = true
    )]
    region: String,
    /// Output format of results and errors.
    #[arg(long, value_enum, default_value = "text", global = true)]
    output: Format,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a KMS key (symmetric AES-256 by default).
    CreateKey {
        #[arg(long)]
        description: Option<String>,
        /// Key spec, as AWS names it (SYMMETRIC_DEFAULT, ECC_NIST_P256, RSA_2048, HMAC_256, ...).
        #[arg(long)]
        key_spec: Option<String>,
        /// Key usage (ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT).
        #[arg(long)]
        key_usage: Option<String>,
        /// Also create this alias (alias/...) for the new key.
        #[arg(long)]
        alias: Option<String>,
        #[arg(long)]
        multi_region: bool,
    },
    /// List the keys in the store.
    ListKeys,
    /// Show a key's metadata (key id, ARN or alias).
    DescribeKey { key: String },
    /// Create, update, delete or list aliases.
    Alias {
        #[command(subcommand)]
        cmd: AliasCmd,
    },
    /// Enable a disabled key.
    EnableKey { key: String },
    /// Disable a key (it can no longer encrypt or decrypt).
    DisableKey { key: String },
    /// Schedule a key's deletion after a waiting period (7-30 days).
    ScheduleKeyDeletion {
        key: String,
        #[arg(long, default_value_t = 30)]
        pending_window_in_days: u32,
    },
    /// Cancel a scheduled deletion (the key stays disabled).
    CancelKeyDeletion { key: String },
    /// Envelope-encrypt a file or stdin.
    Encrypt(EncryptArgs),
    /// Decrypt a message from a file or stdin.
    Decrypt(DecryptArgs),
    /// Move a message to other keys: opened and encrypted again in one pass.
    Rewrap(RewrapArgs),
    /// Reset a key's policy to the default, with the store's root key (for a
    /// policy that locks everyone out).
    RecoverKeyPolicy { key: String },
    /// Apply a seed file (YAML or JSON, docs/seed.md) to the store: keys with
    /// fixed key ids, aliases, grants, identity policies. Idempotent: what
    /// exists and is the same is left alone, what differs is an error.
    Seed { file: PathBuf },
    /// Request counts per operation and per key from the audit log, and what
    /// they and the store's keys would cost at AWS KMS's published prices
    /// (docs/usage.md).
    Usage {
        /// Count requests from this time on (RFC 3339, e.g. 2026-01-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Count requests up to this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
    },
    /// Serve the KMS API over HTTP (AWS JSON 1.1, SigV4) for boto3, the AWS
    /// CLI and every AWS SDK (`AWS_ENDPOINT_URL_KMS=http://127.0.0.1:4599`).
    /// One store per region under --data (DATA/<region>/). See docs/server.md.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Directory of the region stores (DATA/<region>/) [default: <data dir>/strongroom/server].
    #[arg(long, value_name = "DIR", conflicts_with = "in_memory")]
    data: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; see --port-file).
    #[arg(long, default_value = "127.0.0.1:4599")]
    listen: std::net::SocketAddr,
    /// Config file (TOML): account, access keys and principals, identity
    /// policies, kms:ViaService header, limits. Without it, no access key is
    /// known: only --no-verify serves requests.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Memory stores with random root keys: everything is gone on exit.
    #[arg(long)]
    in_memory: bool,
    /// Do not verify signatures: every request runs as the account root, or
    /// as the principal the config gives its access key id.
    #[arg(long)]
    no_verify: bool,
    /// Allow --no-verify on a non-loopback --listen address (anyone who can
    /// reach it is the account root).
    #[arg(long, requires = "no_verify")]
    allow_remote: bool,
    /// TLS certificate chain (PEM); with --tls-key, serve HTTPS.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Once listening, write the URL (http://127.0.0.1:PORT) to this file
    /// (also printed on stdout as `listening on URL`).
    #[arg(long, value_name = "FILE")]
    port_file: Option<PathBuf>,
    /// Access log: `-` (stderr), `off`, or a file to append to.
    #[arg(long, default_value = "-", value_name = "DEST")]
    access_log: String,
    /// Async worker threads [default: one per CPU].
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Seed file (YAML or JSON, docs/seed.md) applied to every region's
    /// store as it opens: keys with fixed key ids (and, for tests only,
    /// fixed material), aliases, grants, identity policies. Idempotent.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AliasCmd {
    /// Create alias NAME (alias/...) for KEY.
    Create { name: String, key: String },
    /// Point alias NAME at KEY.
    Update { name: String, key: String },
    /// Delete alias NAME.
    Delete { name: String },
    /// List aliases (of one key with --key).
    List {
        #[arg(long)]
        key: Option<String>,
    },
}

#[derive(Args)]
struct Io {
    /// Input file [default: stdin].
    #[arg(long = "in", value_name = "PATH")]
    input: Option<PathBuf>,
    /// Output file [default: stdout]. Written to a temporary file and renamed
    /// into place only on success.
    #[arg(long = "out", value_name = "PATH")]
    out: Option<PathBuf>,
    /// Overwrite an existing output file.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct EncryptArgs {
    /// KMS key (id, ARN or alias) to wrap the data key with; repeat for
    /// several (the first generates it): any one of them can decrypt.
    #[arg(long = "key", required = true)]
    keys: Vec<String>,
    /// Encryption context entry KEY=VALUE; repeatable.
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_kv)]
    context: Vec<(String, String)>,
    /// Algorithm suite: 0x0578 (signed, the default) or 0x0478.
    #[arg(long, default_value = "0x0578", value_parser = parse_suite)]
    suite: u16,
    /// Plaintext bytes per frame.
    #[arg(long, default_value_t = esdk::DEFAULT_FRAME_LENGTH)]
    frame_size: u32,
    #[command(flatten)]
    io: Io,
}

#[derive(Args)]
struct DecryptArgs {
    /// Only use these KMS keys [default: any key of the store that the
    /// message names].
    #[arg(long = "key")]
    keys: Vec<String>,
    /// Require this encryption context entry in the message; repeatable.
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_kv)]
    context: Vec<(String, String)>,
    /// Also decrypt messages of older, non-committing suites.
    #[arg(long)]
    allow_legacy: bool,
    /// Refuse messages with more encrypted data keys than this.
    #[arg(long, default_value_t = 10)]
    max_encrypted_data_keys: u16,
    /// To stdout, write each frame as soon as its tag verifies instead of
    /// holding the plaintext back until the whole message (and its
    /// signature) verified. DANGEROUS: if decryption then fails, a prefix
    /// of unverified or truncated plaintext has already been written; the
    /// reader must discard everything unless the exit code is 0.
    #[arg(long)]
    unverified_stream: bool,
    #[command(flatten)]
    io: Io,
}

#[derive(Args)]
struct RewrapArgs {
    /// Destination KMS key; repeatable.
    #[arg(long = "key", required = true)]
    keys: Vec<String>,
    /// Only open the message with these keys [default: any key of the store].
    #[arg(long = "from")]
    from: Vec<String>,
    #[command(flatten)]
    io: Io,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got '{s}'")),
    }
}

fn parse_suite(s: &str) -> Result<u16, String> {
    let t = s.trim().to_ascii_uppercase();
    let v = match t.as_str() {
        "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384" => 0x0578,
        "AES_256_GCM_HKDF_SHA512_COMMIT_KEY" => 0x0478,
        _ => u16::from_str_radix(t.trim_start_matches("0X"), 16)
            .map_err(|_| format!("unknown suite '{s}' (use 0x0578 or 0x0478)"))?,
    };
    match v {
        0x0578 | 0x0478 => Ok(v),
        _ => Err(format!(
            "encrypting with suite 0x{v:04X} is not supported (use 0x0578 or 0x0478)"
        )),
    }
}

/// A failure: the crate error (with its stable code) or a local one.
struct Fail {
    code: String,
    message: String,
    exit: u8,
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        let exit = match e.code() {
            ErrorCode::AccessDenied => 3,
            ErrorCode::NotFound => 4,
            ErrorCode::InvalidCiphertext => 5,
            ErrorCode::InvalidRootKey => 6,
            _ => 1,
        };
        Fail {
            code: e.code().as_str().to_string(),
            message: e.message().to_string(),
            exit,
        }
    }
}

fn fail(code: &str, message: impl Into<String>) -> Fail {
    Fail {
        code: code.into(),
        message: message.into(),
        exit: 1,
    }
}

fn io_fail(what: &str, path: Option<&Path>, e: std::io::Error) -> Fail {
    let target = path.map_or("stdio".to_string(), |p| p.display().to_string());
    fail("IOError", format!("{what} {target}: {e}"))
}

type Res<T> = Result<T, Fail>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.output;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if format == Format::Json {
                let v = json!({"error": {"code": f.code, "message": f.message}});
                eprintln!("{v}");
            } else {
                eprintln!("strongroom: {}: {}", f.code, f.message);
            }
            ExitCode::from(f.exit)
        }
    }
}

fn store_dir(cli: &Cli) -> PathBuf {
    cli.store.clone().unwrap_or_else(|| {
        dirs::data_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("strongroom")
            .join("store")
    })
}

fn parse_root_key(bytes: &[u8], source: &str) -> Res<RootKey> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim);
    let mut key = Zeroizing::new([0u8; 32]);
    match text {
        Some(t) if t.len() == 64 => hex::decode_to_slice(t, &mut key[..]).map_err(|_| {
            fail(
                "ValidationException",
                format!("{source}: not 64 hex characters"),
            )
        })?,
        _ if bytes.len() == 32 => key.copy_from_slice(bytes),
        _ => {
            return Err(fail(
                "ValidationException",
                format!("{source}: expected 64 hex characters or 32 raw bytes"),
            ))
        }
    }
    Ok(RootKey::raw(*key))
}

fn root_key(cli: &Cli, dir: &Path) -> Res<RootKey> {
    if let Some(path) = &cli.root_key_file {
        let bytes = Zeroizing::new(
            std::fs::read(path).map_err(|e| io_fail("cannot read root key file", Some(path), e))?,
        );
        return parse_root_key(&bytes, &path.display().to_string());
    }
    if let Ok(v) = std::env::var("STRONGROOM_ROOT_KEY") {
        let v = Zeroizing::new(v);
        return parse_root_key(v.as_bytes(), "STRONGROOM_ROOT_KEY");
    }
    if let Ok(p) = std::env::var("STRONGROOM_PASSPHRASE") {
        return Ok(RootKey::passphrase(p));
    }
    let new_store = std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none());
    let prompt = |msg: &str| {
        rpassword::prompt_password(msg).map_err(|e| {
            fail(
                "ValidationException",
                format!("no root key: set STRONGROOM_ROOT_KEY, STRONGROOM_PASSPHRASE or --root-key-file, or run in a terminal ({e})"),
            )
        })
    };
    let p = Zeroizing::new(prompt(&format!(
        "Passphrase for {}{}: ",
        dir.display(),
        if new_store { " (new store)" } else { "" }
    ))?);
    if new_store {
        let again = Zeroizing::new(prompt("Repeat the passphrase: ")?);
        if *again != *p {
            return Err(fail("ValidationException", "the passphrases differ"));
        }
    }
    Ok(RootKey::passphrase(p.to_string()))
}

fn open(cli: &Cli) -> Res<(Kms, RootKey)> {
    let dir = store_dir(cli);
    let root = root_key(cli, &dir)?;
    let store = strongroom::FileStore::open(&dir)?;
    // Loose permissions (the store's salt and check value readable by
    // others allow offline passphrase guessing): say so, keep working.
    for w in store.warnings() {
        eprintln!("strongroom: warning: {w}");
    }
    let kms = Kms::builder(cli.account.clone(), cli.region.clone()).open(store, root.clone())?;
    Ok((kms, root))
}

fn when(ms: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

fn print(format: Format, v: Value, text: impl FnOnce() -> String, to_stderr: bool) {
    let s = match format {
        Format::Json => v.to_string(),
        Format::Text => text(),
    };
    if to_stderr {
        eprintln!("{s}");
    } else {
        println!("{s}");
    }
}

/// The KMS commands' `--output json`: exactly what `aws kms <operation>
/// --output json` prints for the same response with AWS CLI v1's default
/// timestamp format (`cli_timestamp_format = wire`, also available in v2):
/// the response as the service sent it (blobs base64, timestamps epoch
/// seconds, members in AWS's order, absent members left out), indented by
/// four spaces; nothing at all for an operation whose response is empty.
fn aws_json<T: serde::Serialize>(v: &T) -> Option<String> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).ok()?;
    let s = String::from_utf8(out).ok()?;
    (s != "{}").then_some(s)
}

/// A KMS command's result: AWS CLI JSON or the human text.
fn print_aws<T: serde::Serialize>(format: Format, v: &T, text: impl FnOnce() -> String) {
    match format {
        Format::Json => {
            if let Some(s) = aws_json(v) {
                println!("{s}");
            }
        }
        Format::Text => println!("{}", text()),
    }
}

/// An operation with an empty response (`aws` prints nothing for those).
#[derive(serde::Serialize)]
struct Empty {}

/// What `aws kms list-keys` prints: its paginator joins the pages' `Keys`.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct AllKeys<'a> {
    keys: &'a [KeyListEntry],
}

/// What `aws kms list-aliases` prints: the pages' `Aliases` joined.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct AllAliases<'a> {
    aliases: &'a [AliasListEntry],
}

fn all_aliases(kms: &Kms, key_id: Option<String>) -> Res<Vec<AliasListEntry>> {
    let mut aliases = Vec::new();
    let mut marker = None;
    loop {
        let r = kms.list_aliases(ListAliasesRequest {
            key_id: key_id.clone(),
            limit: Some(100),
            marker: marker.take(),
        })?;
        aliases.extend(r.aliases);
        match r.next_marker {
            Some(m) if r.truncated => marker = Some(m),
            _ => break,
        }
    }
    Ok(aliases)
}

fn serve(cli: &Cli, args: &ServeArgs) -> Res<()> {
    use strongroom_server::{AccessLog, Config, Hooks, ServerOptions, Storage, TlsFiles};
    if args.no_verify && !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(fail(
            "ValidationException",
            format!(
                "--no-verify on {} would serve anyone who can reach it as the account root; \
                 listen on 127.0.0.1 / ::1, or add --allow-remote",
                args.listen
            ),
        ));
    }
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config {
            account: cli.account.clone(),
            default_region: cli.region.clone(),
            ..Config::default()
        },
    };
    if args.config.is_none() {
        config.check()?;
    }
    let storage = if args.in_memory {
        Storage::Memory
    } else {
        let dir = args.data.clone().unwrap_or_else(|| {
            dirs::data_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("strongroom")
                .join("server")
        });
        let root = root_key(cli, &dir)?;
        Storage::Files { dir, root }
    };
    let access_log = AccessLog::open(&args.access_log).map_err(|e| {
        io_fail(
            "cannot open the access log",
            Some(Path::new(&args.access_log)),
            e,
        )
    })?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    // The seed file is applied as each region's store opens (before it
    // serves a request or is linked to the other regions).
    let mut hooks = Hooks::default();
    if let Some(path) = &args.seed {
        let seed = std::sync::Arc::new(read_seed(path)?);
        hooks.on_region_open = Some(std::sync::Arc::new(move |kms: &Kms| {
            let report = seed.apply(kms)?;
            if !report.insecure_keys.is_empty() {
                eprintln!(
                    "strongroom: {}\nstrongroom: keys in {}: {}",
                    strongroom::seed::INSECURE_WARNING,
                    kms.region(),
                    report.insecure_keys.join(", ")
                );
            }
            Ok(())
        }));
    }
    let opts = ServerOptions {
        listen: args.listen,
        storage,
        config,
        verify: !args.no_verify,
        tls,
        access_log,
        hooks,
    };
    let port_file = args.port_file.clone();
    strongroom_server::serve_until_signal(opts, args.workers, move |url| {
        if let Some(p) = &port_file {
            // Written whole, then renamed: a script polling for the file
            // never reads half a URL.
            let tmp = p.with_extension("tmp");
            std::fs::write(&tmp, format!("{url}\n"))
                .and_then(|_| std::fs::rename(&tmp, p))
                .map_err(|e| {
                    Error::new(
                        ErrorCode::StoreIo,
                        format!("cannot write {}: {e}", p.display()),
                    )
                })?;
        }
        // After the port file: whoever reads this line finds the file.
        println!("listening on {url}");
        let _ = std::io::stdout().flush();
        Ok(())
    })?;
    Ok(())
}

fn run(cli: Cli) -> Res<()> {
    if let Cmd::Serve(args) = &cli.cmd {
        return serve(&cli, args);
    }
    let (kms, root) = open(&cli)?;
    let f = cli.output;
    match &cli.cmd {
        Cmd::CreateKey {
            description,
            key_spec,
            key_usage,
            alias,
            multi_region,
        } => {
            let key_spec = key_spec
                .as_deref()
                .map(|s| {
                    strongroom::model::KeySpec::parse(s).ok_or_else(|| {
                        fail("ValidationException", format!("unknown key spec '{s}'"))
                    })
                })
                .transpose()?;
            let key_usage = key_usage
                .as_deref()
                .map(|s| {
                    strongroom::model::KeyUsage::parse(s).ok_or_else(|| {
                        fail("ValidationException", format!("unknown key usage '{s}'"))
                    })
                })
                .transpose()?;
            let md = kms
                .create_key(CreateKeyRequest {
                    description: description.clone(),
                    key_spec,
                    key_usage,
                    multi_region: *multi_region,
                    ..Default::default()
                })?
                .key_metadata;
            if let Some(a) = alias {
                kms.create_alias(CreateAliasRequest {
                    alias_name: a.clone(),
                    target_key_id: md.key_id.clone(),
                })?;
            }
            let text = match alias {
                Some(a) => format!("{}  {}", md.arn, a),
                None => md.arn.clone(),
            };
            print_aws(f, &CreateKeyResponse { key_metadata: md }, || text);
        }
        Cmd::ListKeys => {
            let mut keys = Vec::new();
            let mut marker = None;
            loop {
                let r = kms.list_keys(ListKeysRequest {
                    limit: Some(1000),
                    marker: marker.take(),
                })?;
                keys.extend(r.keys);
                match r.next_marker {
                    Some(m) if r.truncated => marker = Some(m),
                    _ => break,
                }
            }
            let aliases = all_aliases(&kms, None)?;
            let mut rows = Vec::new();
            for k in &keys {
                let md = kms
                    .describe_key(DescribeKeyRequest {
                        key_id: k.key_id.clone(),
                        ..Default::default()
                    })?
                    .key_metadata;
                let names: Vec<&str> = aliases
                    .iter()
                    .filter(|a| a.target_key_id == k.key_id)
                    .map(|a| a.alias_name.as_str())
                    .collect();
                rows.push((md, names.join(",")));
            }
            print_aws(f, &AllKeys { keys: &keys }, || {
                rows.iter()
                    .map(|(md, names)| {
                        format!(
                            "{}  {:<16} {:<20} {}",
                            md.key_id,
                            md.key_state.as_str(),
                            md.key_spec.as_str(),
                            names
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Cmd::DescribeKey { key } => {
            let md = kms
                .describe_key(DescribeKeyRequest {
                    key_id: key.clone(),
                    ..Default::default()
                })?
                .key_metadata;
            let text = || {
                let mut s = format!(
                        "KeyId        {}\nArn          {}\nState        {}\nSpec         {}\nUsage        {}\nCreated      {}\nDescription  {}",
                        md.key_id,
                        md.arn,
                        md.key_state.as_str(),
                        md.key_spec.as_str(),
                        md.key_usage.as_str(),
                        when(md.creation_date_ms),
                        md.description
                    );
                if let Some(d) = md.deletion_date_ms {
                    s.push_str(&format!("\nDeletion     {}", when(d)));
                }
                s
            };
            print_aws(
                f,
                &DescribeKeyResponse {
                    key_metadata: md.clone(),
                },
                text,
            );
        }
        Cmd::Alias { cmd } => match cmd {
            AliasCmd::Create { name, key } => {
                kms.create_alias(CreateAliasRequest {
                    alias_name: name.clone(),
                    target_key_id: key.clone(),
                })?;
                print_aws(f, &Empty {}, || format!("{name} → {key}"));
            }
            AliasCmd::Update { name, key } => {
                kms.update_alias(UpdateAliasRequest {
                    alias_name: name.clone(),
                    target_key_id: key.clone(),
                })?;
                print_aws(f, &Empty {}, || format!("{name} → {key}"));
            }
            AliasCmd::Delete { name } => {
                kms.delete_alias(DeleteAliasRequest {
                    alias_name: name.clone(),
                })?;
                print_aws(f, &Empty {}, || format!("deleted {name}"));
            }
            AliasCmd::List { key } => {
                let aliases = all_aliases(&kms, key.clone())?;
                print_aws(f, &AllAliases { aliases: &aliases }, || {
                    aliases
                        .iter()
                        .map(|a| format!("{}  {}", a.alias_name, a.target_key_id))
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
        },
        Cmd::EnableKey { key } => {
            kms.enable_key(KeyIdRequest {
                key_id: key.clone(),
            })?;
            print_aws(f, &Empty {}, || format!("enabled {key}"));
        }
        Cmd::DisableKey { key } => {
            kms.disable_key(KeyIdRequest {
                key_id: key.clone(),
            })?;
            print_aws(f, &Empty {}, || format!("disabled {key}"));
        }
        Cmd::ScheduleKeyDeletion {
            key,
            pending_window_in_days,
        } => {
            let r = kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
                key_id: key.clone(),
                pending_window_in_days: Some(*pending_window_in_days),
            })?;
            print_aws(f, &r, || {
                format!(
                    "{} will be deleted at {}",
                    r.key_id,
                    r.deletion_date_ms.map(when).unwrap_or_default()
                )
            });
        }
        Cmd::CancelKeyDeletion { key } => {
            let r = kms.cancel_key_deletion(KeyIdRequest {
                key_id: key.clone(),
            })?;
            print_aws(f, &r, || {
                format!("deletion of {} cancelled; the key is disabled", r.key_id)
            });
        }
        Cmd::RecoverKeyPolicy { key } => {
            kms.recover_key_policy(key, root)?;
            print(
                f,
                json!({"KeyId": key}),
                || format!("the policy of {key} is the default policy again"),
                false,
            );
        }
        Cmd::Seed { file } => seed(&kms, f, file)?,
        Cmd::Usage { since, until } => usage(&kms, f, since.as_deref(), until.as_deref())?,
        Cmd::Encrypt(a) => encrypt(&kms, f, a)?,
        Cmd::Decrypt(a) => decrypt(&kms, f, a)?,
        Cmd::Rewrap(a) => rewrap(&kms, f, a)?,
        // Served above, before a store is opened.
        Cmd::Serve(_) => {}
    }
    Ok(())
}

/// A seed file, read into a buffer wiped on drop (it may hold key material).
fn read_seed(file: &Path) -> Res<strongroom::seed::Seed> {
    let text = Zeroizing::new(
        std::fs::read_to_string(file).map_err(|e| io_fail("cannot read", Some(file), e))?,
    );
    Ok(strongroom::seed::Seed::parse(&text)?)
}

/// `strongroom seed FILE`.
fn seed(kms: &Kms, f: Format, file: &Path) -> Res<()> {
    let seed = read_seed(file)?;
    let report = seed.apply(kms)?;
    if !report.insecure_keys.is_empty() {
        eprintln!(
            "strongroom: {}\nstrongroom: keys: {}",
            strongroom::seed::INSECURE_WARNING,
            report.insecure_keys.join(", ")
        );
    }
    print(
        f,
        json!({
            "Created": report.created,
            "Unchanged": report.unchanged,
            "InsecureKeys": report.insecure_keys,
        }),
        || {
            let mut lines: Vec<String> = report
                .created
                .iter()
                .map(|c| format!("created    {c}"))
                .collect();
            lines.extend(report.unchanged.iter().map(|c| format!("unchanged  {c}")));
            if lines.is_empty() {
                lines.push("the seed file has nothing for this region".into());
            }
            lines.join("\n")
        },
        false,
    );
    Ok(())
}

/// `strongroom usage`.
fn usage(kms: &Kms, f: Format, since: Option<&str>, until: Option<&str>) -> Res<()> {
    use strongroom::usage::{self, dollars};
    let time = |s: Option<&str>| -> Res<Option<u64>> {
        s.map(|s| {
            humantime::parse_rfc3339_weak(s)
                .map_err(|_| {
                    fail(
                        "ValidationException",
                        format!("not an RFC 3339 time: {s:?}"),
                    )
                })
                .and_then(|t| {
                    t.duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as u64)
                        .map_err(|_| fail("ValidationException", "a time before 1970"))
                })
        })
        .transpose()
    };
    let (since, until) = (time(since)?, time(until)?);
    // The chain is checked first: counts from a tampered log mean nothing.
    kms.verify_audit_log()?;
    let events = kms.audit_log()?;
    let keys = usage::key_facts(kms)?;
    let r = usage::report(&events, &keys, since, until);
    let text = || {
        let mut out = vec![match (r.first_ms, r.last_ms) {
            (Some(a), Some(b)) => format!("Requests from {} to {}", when(a), when(b)),
            _ => "No requests in the audit log for this period".to_string(),
        }];
        out.push("\nBy operation                       requests  ok        failed".into());
        for (op, c) in &r.by_operation {
            out.push(format!(
                "  {op:<32} {:<9} {:<9} {}",
                c.requests, c.succeeded, c.failed
            ));
        }
        out.push("\nBy key                                                                      requests".into());
        for (k, c) in &r.by_key {
            out.push(format!("  {k:<75} {}", c.requests));
        }
        out.push(format!(
            "\nKeys: {} customer managed × {} + {} rotations × {} = {} per month; {} AWS managed (free); {} pending deletion (not charged)",
            r.customer_keys,
            dollars(usage::KEY_MONTH_MICRO_USD),
            r.billed_rotations,
            dollars(usage::ROTATION_MONTH_MICRO_USD),
            dollars(r.monthly_key_micro_usd),
            r.aws_managed_keys,
            r.keys_pending_deletion
        ));
        for c in &r.requests {
            out.push(format!(
                "Requests ({:?}): {} × {} = {}",
                c.class,
                c.requests,
                dollars(c.micro_usd_per_request),
                dollars(c.micro_usd)
            ));
        }
        out.push(format!(
            "Requests in the period: {} (successful requests; AWS's free tier of 20,000 a month not deducted)",
            dollars(r.request_micro_usd)
        ));
        out.join("\n")
    };
    let v = serde_json::to_value(&r).map_err(|e| fail("KMSInternalException", e.to_string()))?;
    print(f, v, text, false);
    Ok(())
}

/// Key ids, ARNs or aliases → ARNs (the KMS keyring matches messages by ARN).
fn arns(kms: &Kms, keys: &[String]) -> Res<Vec<String>> {
    keys.iter()
        .map(|k| {
            Ok(kms
                .describe_key(DescribeKeyRequest {
                    key_id: k.clone(),
                    ..Default::default()
                })?
                .key_metadata
                .arn)
        })
        .collect()
}

// ------------------------------------------------------------ streams

const PROGRESS_OVER: u64 = 8 << 20;

/// The input stream, with a progress bar for large files on a terminal.
fn input(io: &Io, format: Format) -> Res<(Box<dyn Read>, Option<indicatif::ProgressBar>)> {
    match io.input.as_deref() {
        None => Ok((Box::new(std::io::stdin().lock()), None)),
        Some(p) if p == Path::new("-") => Ok((Box::new(std::io::stdin().lock()), None)),
        Some(p) => {
            let file = File::open(p).map_err(|e| io_fail("cannot open", Some(p), e))?;
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            if len > PROGRESS_OVER && format == Format::Text && std::io::stderr().is_terminal() {
                let pb = indicatif::ProgressBar::new(len);
                pb.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                Ok((Box::new(pb.wrap_read(file)), Some(pb)))
            } else {
                Ok((Box::new(file), None))
            }
        }
    }
}

/// Plaintext held back from stdout until the whole message verified: an
/// unnamed temporary file (0600, in `$TMPDIR`, never linked into the file
/// system on Linux), overwritten with zeros and truncated when dropped, so
/// it is gone on every path, success or failure.
struct Spool(File);

impl Spool {
    fn new() -> Res<Spool> {
        let dir = std::env::temp_dir();
        tempfile::tempfile_in(&dir).map(Spool).map_err(|e| {
            io_fail(
                "cannot create a private temporary file in",
                Some(dir.as_path()),
                e,
            )
        })
    }

    /// Copy everything written so far to `out`.
    fn copy_to(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom};
        self.0.seek(SeekFrom::Start(0))?;
        let mut buf = Zeroizing::new(vec![0u8; 64 * 1024]);
        loop {
            match self.0.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => out.write_all(&buf[..n])?,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn wipe(&mut self) -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom};
        let len = self.0.metadata()?.len();
        self.0.seek(SeekFrom::Start(0))?;
        let zeros = vec![0u8; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            self.0.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        self.0.sync_data()?;
        self.0.set_len(0)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // Best effort: the file is unnamed and disappears when closed.
        let _ = self.wipe();
    }
}

/// Where output goes: a temporary file beside the target (renamed into
/// place by `commit`, removed if dropped), stdout, or stdout after the
/// whole message verified (plaintext held in a private [`Spool`]).
enum Output {
    File {
        tmp: tempfile::NamedTempFile,
        target: PathBuf,
        force: bool,
    },
    Stdout(std::io::StdoutLock<'static>),
    Held(Spool, std::io::StdoutLock<'static>),
}

impl Output {
    /// For decryption (`hold` = plaintext to stdout), the output is held
    /// back until `commit`.
    fn open_plaintext(io: &Io, hold: bool) -> Res<Output> {
        match Output::open(io, false)? {
            Output::Stdout(s) if hold => Ok(Output::Held(Spool::new()?, s)),
            o => Ok(o),
        }
    }

    fn open(io: &Io, binary: bool) -> Res<Output> {
        match io.out.as_deref() {
            Some(p) if p != Path::new("-") => {
                if p.exists() && !io.force {
                    return Err(fail(
                        "ValidationException",
                        format!("{} exists; use --force to overwrite it", p.display()),
                    ));
                }
                let dir = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                let tmp = tempfile::Builder::new()
                    .prefix(".strongroom-")
                    .tempfile_in(dir)
                    .map_err(|e| io_fail("cannot create a file in", Some(dir), e))?;
                Ok(Output::File {
                    tmp,
                    target: p.to_path_buf(),
                    force: io.force,
                })
            }
            _ => {
                let out = std::io::stdout();
                if binary && out.is_terminal() {
                    return Err(fail(
                        "ValidationException",
                        "refusing to write a binary message to a terminal; use --out FILE or a pipe",
                    ));
                }
                Ok(Output::Stdout(out.lock()))
            }
        }
    }

    fn is_stdout(&self) -> bool {
        matches!(self, Output::Stdout(_) | Output::Held(..))
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::File { tmp, .. } => tmp.as_file_mut(),
            Output::Stdout(s) => s,
            Output::Held(spool, _) => &mut spool.0,
        }
    }

    fn commit(self) -> Res<()> {
        match self {
            Output::File { tmp, target, force } => {
                tmp.as_file()
                    .sync_all()
                    .map_err(|e| io_fail("cannot write", Some(&target), e))?;
                let r = if force {
                    tmp.persist(&target).map(|_| ())
                } else {
                    tmp.persist_noclobber(&target).map(|_| ())
                };
                r.map_err(|e| io_fail("cannot create", Some(&target), e.error))
            }
            Output::Stdout(mut s) => s.flush().map_err(|e| io_fail("cannot write", None, e)),
            Output::Held(mut spool, mut s) => {
                spool
                    .copy_to(&mut s)
                    .and_then(|()| s.flush())
                    .map_err(|e| io_fail("cannot write", None, e))?;
                spool
                    .wipe()
                    .map_err(|e| io_fail("cannot wipe the temporary file", None, e))
            }
        }
    }
}

fn ctx_of(pairs: &[(String, String)]) -> EncryptionContext {
    pairs.iter().cloned().collect()
}

fn info_json(info: &MessageInfo, bytes: u64) -> Value {
    json!({
        "Suite": format!("0x{:04X}", info.suite),
        "FrameLength": info.frame_length,
        "EncryptionContext": info.encryption_context,
        "OpenedBy": {"ProviderId": info.opened_by.provider_id, "Key": info.opened_by.key_name},
        "Bytes": bytes,
    })
}

fn encrypt(kms: &Kms, f: Format, a: &EncryptArgs) -> Res<()> {
    let keys = arns(kms, &a.keys)?;
    let keyring = KmsKeyring::with_keys(kms, Some(keys[0].clone()), keys[1..].to_vec());
    let ctx = ctx_of(&a.context);
    let (mut reader, pb) = input(&a.io, f)?;
    let mut out = Output::open(&a.io, true)?;
    let opts = EncryptOptions {
        suite: a.suite,
        frame_length: a.frame_size,
        plaintext_length: None,
        ..Default::default()
    };
    let n = esdk::encrypt_stream(&keyring, &mut reader, out.writer(), &ctx, &opts, &OsRng)?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let to_stderr = out.is_stdout();
    out.commit()?;
    print(
        f,
        json!({"Suite": format!("0x{:04X}", a.suite), "KeyIds": keys, "EncryptionContext": ctx, "Bytes": n}),
        || format!("encrypted {n} bytes under {}", keys.join(", ")),
        to_stderr,
    );
    Ok(())
}

fn decrypt(kms: &Kms, f: Format, a: &DecryptArgs) -> Res<()> {
    let keyring = if a.keys.is_empty() {
        KmsKeyring::discovery(kms)
    } else {
        KmsKeyring::with_keys(kms, None, arns(kms, &a.keys)?)
    };
    let opts = DecryptOptions {
        commitment_policy: esdk::CommitmentPolicy::allowing_legacy(a.allow_legacy),
        max_encrypted_data_keys: a.max_encrypted_data_keys,
        ..Default::default()
    };
    let want = ctx_of(&a.context);
    let (mut reader, pb) = input(&a.io, f)?;
    // Plaintext reaches stdout only once the whole message verified
    // (unless --unverified-stream): a failure prints nothing.
    let mut out = Output::open_plaintext(&a.io, !a.unverified_stream)?;
    let mut d = esdk::Decryptor::new(&keyring, opts);
    let mut buf = Zeroizing::new(vec![0u8; 64 * 1024]);
    let mut plain = Zeroizing::new(Vec::new());
    let mut checked = false;
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_fail("cannot read", a.io.input.as_deref(), e)),
        };
        plain.clear();
        d.update(&buf[..n], &mut plain)?;
        if !checked {
            if let Some(info) = d.info() {
                // Before any plaintext is written: the context must hold
                // every required entry.
                for (k, v) in &want {
                    if info.encryption_context.get(k) != Some(v) {
                        return Err(fail(
                            "EncryptionContextMismatch",
                            format!("the message's encryption context has no entry {k}={v}"),
                        ));
                    }
                }
                checked = true;
            }
        }
        total += plain.len() as u64;
        out.writer()
            .write_all(&plain)
            .map_err(|e| io_fail("cannot write", a.io.out.as_deref(), e))?;
    }
    plain.clear();
    let info = d.finish(&mut plain)?;
    total += plain.len() as u64;
    out.writer()
        .write_all(&plain)
        .map_err(|e| io_fail("cannot write", a.io.out.as_deref(), e))?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let to_stderr = out.is_stdout();
    out.commit()?;
    print(
        f,
        info_json(&info, total),
        || {
            format!(
                "decrypted {total} bytes (suite 0x{:04X}, opened with {})",
                info.suite, info.opened_by.key_name
            )
        },
        to_stderr,
    );
    Ok(())
}

fn rewrap(kms: &Kms, f: Format, a: &RewrapArgs) -> Res<()> {
    let source = if a.from.is_empty() {
        KmsKeyring::discovery(kms)
    } else {
        KmsKeyring::with_keys(kms, None, arns(kms, &a.from)?)
    };
    let dest_keys = arns(kms, &a.keys)?;
    let dest = KmsKeyring::with_keys(kms, None, dest_keys.clone());
    let (mut reader, pb) = input(&a.io, f)?;
    let mut out = Output::open(&a.io, true)?;
    let info = esdk::rewrap_stream(
        &source,
        &dest,
        &mut reader,
        out.writer(),
        &DecryptOptions::default(),
        &OsRng,
    )?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let to_stderr = out.is_stdout();
    out.commit()?;
    let mut v = info_json(&info, 0);
    v["KeyIds"] = json!(dest_keys);
    print(
        f,
        v,
        || {
            format!(
                "re-wrapped: opened with {}, now wrapped for {}",
                info.opened_by.key_name,
                dest_keys.join(", ")
            )
        },
        to_stderr,
    );
    Ok(())
}
