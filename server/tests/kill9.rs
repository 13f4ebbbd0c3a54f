//! kill -9 under load: the real binary on a data directory, writes fired
//! from several threads, every 200 recorded; SIGKILL; restart on the same
//! directory: every acknowledged write is there.
//!
//! `STRONGROOM_BIN=target/debug/strongroom cargo test -p strongroom-server
//! --test kill9 -- --ignored` (scripts/server-test.sh).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::json;

const ROOT_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn start(
    bin: &str,
    data: &std::path::Path,
    cfg: &std::path::Path,
) -> (Child, std::net::SocketAddr) {
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--access-log",
            "off",
            "--data",
        ])
        .arg(data)
        .arg("--config")
        .arg(cfg)
        .env("STRONGROOM_ROOT_KEY", ROOT_KEY)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on http://")
        .expect(&line)
        .to_string();
    (child, url.parse().unwrap())
}

#[derive(Default)]
struct Acked {
    keys: Vec<String>,
    /// (ciphertext, plaintext, key)
    blobs: Vec<(String, String, String)>,
    aliases: Vec<(String, String)>,
}

#[test]
#[ignore = "needs the strongroom binary: STRONGROOM_BIN (scripts/server-test.sh)"]
fn acknowledged_writes_survive_sigkill() {
    let bin = std::env::var("STRONGROOM_BIN").expect("STRONGROOM_BIN");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let data = dir.path().join("data");
    let (mut child, addr) = start(&bin, &data, &cfg);
    let acked = Arc::new(Mutex::new(Acked::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = vec![];
    for t in 0..4 {
        let (acked, stop) = (acked.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                // A failed connection (the server is killed) ends the thread.
                let Some(r) = try_call(addr, "CreateKey", &json!({}), &ROOT) else {
                    return;
                };
                if r.status != 200 {
                    continue;
                }
                let key = r.json()["KeyMetadata"]["KeyId"]
                    .as_str()
                    .unwrap()
                    .to_string();
                acked.lock().unwrap().keys.push(key.clone());
                let alias = format!("alias/t{t}-{i}");
                let Some(r) = try_call(
                    addr,
                    "CreateAlias",
                    &json!({"AliasName": alias, "TargetKeyId": key}),
                    &ROOT,
                ) else {
                    return;
                };
                if r.status == 200 {
                    acked.lock().unwrap().aliases.push((alias, key.clone()));
                }
                let pt = base64_of(format!("{t}-{i}").as_bytes());
                let Some(r) = try_call(
                    addr,
                    "Encrypt",
                    &json!({"KeyId": key, "Plaintext": pt}),
                    &ROOT,
                ) else {
                    return;
                };
                if r.status == 200 {
                    let ct = r.json()["CiphertextBlob"].as_str().unwrap().to_string();
                    acked.lock().unwrap().blobs.push((ct, pt, key));
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let acked = acked.lock().unwrap();
    assert!(
        acked.keys.len() >= 5,
        "only {} keys acknowledged",
        acked.keys.len()
    );

    let (mut child, addr) = start(&bin, &data, &cfg);
    for k in &acked.keys {
        let r = call(addr, "DescribeKey", &json!({"KeyId": k}), &ROOT);
        assert_eq!(r.status, 200, "acknowledged key {k} lost: {:?}", r.json());
    }
    for (alias, key) in &acked.aliases {
        let r = ok(addr, "DescribeKey", json!({"KeyId": alias}), &ROOT);
        assert_eq!(r["KeyMetadata"]["KeyId"], key.as_str());
    }
    for (ct, pt, key) in &acked.blobs {
        let r = ok(addr, "Decrypt", json!({"CiphertextBlob": ct}), &ROOT);
        assert_eq!(r["Plaintext"], pt.as_str());
        assert!(r["KeyId"].as_str().unwrap().ends_with(key.as_str()));
    }
    eprintln!(
        "after SIGKILL: {} keys, {} aliases, {} ciphertexts acknowledged, all present",
        acked.keys.len(),
        acked.aliases.len(),
        acked.blobs.len()
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

fn base64_of(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
