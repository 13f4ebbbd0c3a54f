//! The official AWS Encryption SDK (Python) with its AWS KMS master key
//! provider pointed at `strongroom serve`, against Strongroom's own ESDK KMS
//! keyring (`strongroom::esdk::KmsKeyring`) on the same store:
//!
//! 1. the server runs on a data directory; through it the Python SDK creates
//!    a key (boto3) and encrypts a message (its EDK is the server's KMS
//!    ciphertext of the data key);
//! 2. the server stops; Strongroom's keyring, in process on the region's
//!    store (`DATA/us-east-1/`, same root key), decrypts that message and
//!    encrypts another one under the same key;
//! 3. the server starts again on the store; the Python SDK decrypts the
//!    second message through it, and refuses a tampered copy.
//!
//! Needs STRONGROOM_BIN (the `strongroom` binary) and STRONGROOM_ESDK_PYTHON
//! (a python with aws-encryption-sdk and boto3); scripts/clients.sh sets both
//! and runs it with `--ignored`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strongroom::api::context;
use strongroom::esdk::{self, KmsKeyring};
use strongroom::{FileStore, Kms, OsRng, RootKey};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";
const ACCESS_KEY: &str = "AKIDESDKINTEROP";
/// A test credential of a throw-away server, never a real one.
const SECRET: &str = "esdk-interop-test-secret";
const ROOT_KEY: [u8; 32] = [0x5a; 32];
const SUITES: [&str; 2] = ["0478", "0578"];

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("set {name} (scripts/clients.sh does)"))
}

fn helper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/esdk_kms.py")
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port_file = dir.join("url");
        let _ = std::fs::remove_file(&port_file);
        let child = Command::new(env("STRONGROOM_BIN"))
            .arg("--root-key-file")
            .arg(dir.join("root.key"))
            .arg("serve")
            .arg("--data")
            .arg(dir.join("data"))
            .arg("--config")
            .arg(dir.join("config.toml"))
            .args(["--listen", "127.0.0.1:0", "--access-log", "off"])
            .arg("--port-file")
            .arg(&port_file)
            .stdout(Stdio::null())
            .spawn()
            .expect("strongroom serve starts");
        let t0 = Instant::now();
        loop {
            if let Ok(url) = std::fs::read_to_string(&port_file) {
                if !url.trim().is_empty() {
                    return Server {
                        child,
                        url: url.trim().to_string(),
                    };
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM (graceful shutdown), then wait for the process.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                assert!(s.success(), "the server exited with {s}");
                return;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!("the server did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn python(&self, args: &[&str]) -> std::process::Output {
        Command::new(env("STRONGROOM_ESDK_PYTHON"))
            .arg(helper())
            .args(args)
            .env("AWS_ENDPOINT_URL_KMS", &self.url)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_REGION", REGION)
            .env_remove("AWS_PROFILE")
            .output()
            .expect("python runs")
    }

    fn python_ok(&self, args: &[&str]) -> String {
        let out = self.python(args);
        assert!(
            out.status.success(),
            "esdk_kms.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only reached when a test failed before stop(): never leave the
        // server running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs strongroom serve and the official aws-encryption-sdk (Python); scripts/clients.sh runs it"]
fn official_esdk_through_the_server_and_strongroom_keyring_on_its_store() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let hex: String = ROOT_KEY.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(dir.join("root.key"), hex).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            r#"account = "{ACCOUNT}"
[[access_keys]]
id = "{ACCESS_KEY}"
secret = "{SECRET}"
principal = "arn:aws:iam::{ACCOUNT}:root"
"#
        ),
    )
    .unwrap();
    let f = |n: &str| dir.join(n).to_str().unwrap().to_string();

    // 1. Python SDK -> server.
    let server = Server::start(dir);
    let arn = server.python_ok(&["create-key"]).trim().to_string();
    assert!(
        arn.starts_with(&format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/")),
        "{arn}"
    );
    let pt1: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(f("pt1"), &pt1).unwrap();
    // The SDK's default suite (0578, ECDSA-signed: the public key is in the
    // encryption context KMS sees) and the unsigned committing one (0478).
    for suite in SUITES {
        server.python_ok(&[
            "encrypt",
            &arn,
            &f("pt1"),
            &f(&format!("ct1-{suite}")),
            r#"{"tenant":"acme","from":"python"}"#,
            suite,
        ]);
    }
    server.stop();

    // 2. Strongroom's KMS keyring on the same store, in process.
    let ct2 = {
        let store = FileStore::open(dir.join("data").join(REGION)).expect("the region's store");
        let kms = Kms::builder(ACCOUNT, REGION)
            .open(store, RootKey::raw(ROOT_KEY))
            .expect("the store opens with its root key");
        // EDKs under `aws-kms`, the official SDKs' provider id (the SDK
        // reads no other); Strongroom's keyring reads both ids.
        let keyring = KmsKeyring::new(&kms, arn.clone()).with_aws_kms_provider_id();
        for suite in SUITES {
            let (back, ctx) = esdk::decrypt(
                &keyring,
                &std::fs::read(f(&format!("ct1-{suite}"))).unwrap(),
            )
            .unwrap_or_else(|e| panic!("Strongroom opens the SDK's {suite} message: {e}"));
            assert_eq!(back.as_bytes(), &pt1[..]);
            assert_eq!(ctx["tenant"], "acme");
            assert_eq!(ctx["from"], "python");
        }
        // A keyring for another key cannot open it.
        let other = kms
            .create_key(Default::default())
            .expect("another key")
            .key_metadata
            .arn;
        assert!(esdk::decrypt(
            &KmsKeyring::new(&kms, other),
            &std::fs::read(f("ct1-0478")).unwrap()
        )
        .is_err());

        let pt2 = b"written by Strongroom's KMS keyring".to_vec();
        let ct2 = esdk::encrypt(
            &keyring,
            &pt2,
            &context([("tenant", "acme"), ("from", "strongroom")]),
            4096,
            &OsRng,
        )
        .expect("Strongroom encrypts");
        std::fs::write(f("ct2"), &ct2).unwrap();
        kms.flush().expect("flush");
        ct2
    };

    // 3. The server again, on the same store: the Python SDK opens it.
    let server = Server::start(dir);
    let printed = server.python_ok(&["decrypt", &arn, &f("ct2"), &f("pt2")]);
    assert_eq!(
        std::fs::read(f("pt2")).unwrap(),
        b"written by Strongroom's KMS keyring"
    );
    let seen: serde_json::Value = serde_json::from_str(printed.trim()).expect("context JSON");
    assert_eq!(seen["tenant"], "acme");
    assert_eq!(seen["from"], "strongroom");
    let mut tampered = ct2.clone();
    let n = tampered.len();
    tampered[n - 20] ^= 1;
    std::fs::write(f("ct3"), &tampered).unwrap();
    assert!(
        !server
            .python(&["decrypt", &arn, &f("ct3"), &f("pt3")])
            .status
            .success(),
        "the SDK refuses a tampered message"
    );
    server.stop();
}
