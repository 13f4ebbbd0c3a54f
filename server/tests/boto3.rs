//! boto3 against the server: the language-neutral vectors (tests/vectors/)
//! replayed through boto3 (server/tests/boto3_vectors.py) over HTTP with
//! SigV4, each scenario on a fresh in-process server whose stores have the
//! scenario's manual clock and seeded RNG, as every binding replays them.
//!
//! Needs Python with boto3: `STRONGROOM_BOTO3_PYTHON=... cargo test -p
//! strongroom-server --test boto3 -- --ignored` (scripts/server-test.sh).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::{json, Value};
use strongroom::{DangerousSeededRng, Kms, ManualClock};
use strongroom_server::{Config, ServerOptions, Storage};

const ACCOUNT: &str = "111122223333";

fn vectors() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/core")
}

fn seed(v: &Value) -> [u8; 32] {
    let mut s = [0u8; 32];
    hex_to(v.as_str().unwrap(), &mut s);
    s
}

fn hex_to(h: &str, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap();
    }
}

/// The access keys a scenario needs: the root and one per (principal,
/// ViaService) it acts as. None if it acts as a service principal (an
/// access key signs as an IAM or STS principal only).
fn keys_of(scn: &Value) -> Option<Vec<Value>> {
    let mut keys = vec![json!({"id": "AKIDROOT0", "secret": "root-secret",
        "principal": format!("arn:aws:iam::{ACCOUNT}:root"), "via": null})];
    for step in scn["steps"].as_array().unwrap() {
        let Some(a) = step.get("As") else { continue };
        let p = a["PrincipalArn"].as_str().unwrap();
        if !p.starts_with("arn:") || p.contains("${") {
            return None;
        }
        let via = a.get("ViaService").cloned().unwrap_or(Value::Null);
        if !keys.iter().any(|k| k["principal"] == p && k["via"] == via) {
            let n = keys.len();
            keys.push(
                json!({"id": format!("AKID{n}"), "secret": format!("secret-{n}"),
                "principal": p, "via": via}),
            );
        }
    }
    Some(keys)
}

fn config_of(keys: &[Value], regions: &[String]) -> Config {
    let mut toml = format!(
        "account = \"{ACCOUNT}\"\ndefault_region = \"{}\"\nregions = {regions:?}\n",
        regions[0]
    );
    for k in keys {
        toml.push_str(&format!(
            "[[access_keys]]\nid = \"{}\"\nsecret = \"{}\"\nprincipal = \"{}\"\n",
            k["id"].as_str().unwrap(),
            k["secret"].as_str().unwrap(),
            k["principal"].as_str().unwrap()
        ));
        if let Some(v) = k["via"].as_str() {
            toml.push_str(&format!("via_service = \"{v}\"\n"));
        }
    }
    Config::parse(&toml).unwrap()
}

#[test]
#[ignore = "needs Python with boto3: STRONGROOM_BOTO3_PYTHON (scripts/server-test.sh)"]
fn vectors_through_boto3() {
    let python = std::env::var("STRONGROOM_BOTO3_PYTHON").expect("STRONGROOM_BOTO3_PYTHON");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/boto3_vectors.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to = child.stdin.take().unwrap();
    let mut from = BufReader::new(child.stdout.take().unwrap());
    let mut total = 0;
    let mut skipped = vec![];
    for (file, minimum) in [
        ("scenarios.json", 50),
        ("kat-seeded.json", 10),
        ("authorization.json", 150),
        ("asymmetric.json", 20),
        ("regions-and-import.json", 20),
    ] {
        let path = vectors().join(file);
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["account"], ACCOUNT);
        let region = doc["region"].as_str().unwrap_or("us-east-1").to_string();
        let mut steps = 0;
        for (i, scn) in doc["scenarios"].as_array().unwrap().iter().enumerate() {
            let Some(keys) = keys_of(scn) else {
                skipped.push(format!("{file}: {}", scn["name"]));
                continue;
            };
            let clock =
                ManualClock::new(scn["start_time_ms"].as_u64().unwrap_or(1_767_225_600_000));
            let base = seed(&scn["rng_seed"]);
            let regions: Vec<String> = scn
                .get("regions")
                .and_then(Value::as_array)
                .map(|r| r.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                .unwrap_or_else(|| vec![region.clone()]);
            let (c, rs) = (clock.clone(), regions.clone());
            let factory = Arc::new(move |r: &str| {
                // As the bindings' runners: region i's seed has its last
                // byte xor i.
                let i = rs.iter().position(|x| x == r).ok_or_else(|| {
                    strongroom::Error::new(
                        strongroom::ErrorCode::Validation,
                        "region not in the scenario",
                    )
                })?;
                let mut s = base;
                s[31] ^= i as u8;
                Kms::builder(ACCOUNT, r)
                    .clock(c.clone())
                    .rng(DangerousSeededRng::new(s))
                    .in_memory()
            });
            let mut opts = ServerOptions::in_memory("127.0.0.1:0".parse().unwrap());
            opts.storage = Storage::Custom(factory);
            opts.config = config_of(&keys, &regions);
            let server = strongroom_server::spawn(opts, 2).unwrap();
            // Open every region now, in order, so each store's RNG draws
            // happen as in the in-process runners.
            for r in &regions {
                server.regions().get(r).unwrap();
            }
            let job = json!({"file": path, "scenario": i, "url": server.url(), "keys": keys, "region": regions[0]});
            writeln!(to, "{job}").unwrap();
            loop {
                let mut line = String::new();
                assert!(
                    from.read_line(&mut line).unwrap() > 0,
                    "the replayer exited"
                );
                let msg: Value = serde_json::from_str(&line).unwrap();
                if let Some(ms) = msg.get("advance_ms") {
                    clock.advance_ms(ms.as_u64().unwrap());
                    writeln!(to, "{}", json!({"ok": true})).unwrap();
                } else if let Some(n) = msg.get("done") {
                    steps += n.as_u64().unwrap();
                    break;
                } else {
                    panic!("{file}: {}", msg["error"]);
                }
            }
            server.stop().unwrap();
        }
        assert!(steps >= minimum, "{file}: only {steps} steps ran");
        total += steps;
    }
    writeln!(to, "{}", json!({"exit": true})).unwrap();
    let _ = child.wait();
    eprintln!("{total} steps replayed through boto3; skipped (service principals): {skipped:?}");
}
