//! Crash safety: a child process works on a file store and is SIGKILLed at
//! random moments, at least 200 times. After every kill the store must open
//! and every change the child acknowledged (printed after the call returned)
//! must be there: keys decrypt what they encrypted, rotations are kept,
//! scheduled deletions are still scheduled.
//!
//! The child is this same test binary, re-executed with the ignored test
//! `crash_child_worker` selected and STRONGROOM_CRASH_DIR set.
#![cfg(unix)]
mod common;
use common::{describe, ACCOUNT, REGION};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use strongroom::api::*;
use strongroom::model::KeyState;
use strongroom::{Kms, RootKey};

const ROOT: [u8; 32] = [0x5a; 32];

fn open(dir: &str) -> Kms {
    Kms::builder(ACCOUNT, REGION)
        .open_file(dir, RootKey::raw(ROOT))
        .expect("the store opens after a crash")
}

/// Not a test on its own: the body of the child process.
#[test]
#[ignore = "child process of crash_safety_under_sigkill"]
fn crash_child_worker() {
    let dir = std::env::var("STRONGROOM_CRASH_DIR").expect("run by the crash test");
    let round: u64 = std::env::var("STRONGROOM_CRASH_ROUND")
        .unwrap()
        .parse()
        .unwrap();
    let kms = open(&dir);
    let mut out = std::io::stdout().lock();
    let mut i = 0u64;
    loop {
        let pt = format!("r{round}-{i}");
        let ctx = context([("round", round.to_string()), ("i", i.to_string())]);
        let key = kms
            .create_key(CreateKeyRequest::default())
            .unwrap()
            .key_metadata
            .key_id;
        let blob = kms
            .encrypt(EncryptRequest {
                key_id: key.clone(),
                plaintext: pt.clone().into_bytes().into(),
                encryption_context: ctx.clone(),
                ..Default::default()
            })
            .unwrap()
            .ciphertext_blob;
        writeln!(out, "KEY {key} {} {round} {i}", hex::encode(&blob)).unwrap();
        out.flush().unwrap();
        if i % 3 == 1 {
            kms.rotate_key_on_demand(KeyIdRequest {
                key_id: key.clone(),
            })
            .unwrap();
            let blob2 = kms
                .encrypt(EncryptRequest {
                    key_id: key.clone(),
                    plaintext: pt.clone().into_bytes().into(),
                    encryption_context: ctx.clone(),
                    ..Default::default()
                })
                .unwrap();
            writeln!(
                out,
                "ROT {key} {} {round} {i} {}",
                hex::encode(&blob2.ciphertext_blob),
                blob2.key_material_id
            )
            .unwrap();
            out.flush().unwrap();
        }
        if i % 4 == 2 {
            kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
                key_id: key.clone(),
                pending_window_in_days: Some(7),
            })
            .unwrap();
            writeln!(out, "DEL {key}").unwrap();
            out.flush().unwrap();
        }
        if i % 5 == 3 {
            let alias = format!("alias/r{round}-{i}");
            kms.create_alias(CreateAliasRequest {
                alias_name: alias.clone(),
                target_key_id: key.clone(),
            })
            .unwrap();
            writeln!(out, "ALIAS {alias} {key}").unwrap();
            out.flush().unwrap();
        }
        i += 1;
    }
}

#[derive(Default)]
struct Acked {
    blobs: Vec<(String, Vec<u8>, String, strongroom::EncryptionContext)>,
    material: BTreeMap<String, BTreeSet<String>>,
    deleted: BTreeSet<String>,
    aliases: BTreeMap<String, String>,
}

fn parse(line: &str, acked: &mut Acked) {
    let f: Vec<&str> = line.split(' ').collect();
    let blob_entry = |f: &[&str]| {
        let (round, i) = (f[3], f[4]);
        (
            f[1].to_string(),
            hex::decode(f[2]).unwrap(),
            format!("r{round}-{i}"),
            context([("round", round), ("i", i)]),
        )
    };
    match f.first() {
        Some(&"KEY") if f.len() == 5 => acked.blobs.push(blob_entry(&f)),
        Some(&"ROT") if f.len() == 6 => {
            acked.blobs.push(blob_entry(&f));
            acked
                .material
                .entry(f[1].to_string())
                .or_default()
                .insert(f[5].to_string());
        }
        Some(&"DEL") if f.len() == 2 => {
            acked.deleted.insert(f[1].to_string());
        }
        Some(&"ALIAS") if f.len() == 3 => {
            acked.aliases.insert(f[1].to_string(), f[2].to_string());
        }
        _ => {} // a line cut by the kill was never acknowledged
    }
}

fn verify(dir: &str, acked: &Acked) {
    let kms = open(dir);
    for (key, blob, pt, ctx) in &acked.blobs {
        let r = kms.decrypt(DecryptRequest {
            ciphertext_blob: blob.clone(),
            encryption_context: ctx.clone(),
            ..Default::default()
        });
        match r {
            Ok(d) => assert_eq!(d.plaintext.as_bytes(), pt.as_bytes(), "{key}"),
            // Decrypt refuses keys pending deletion; the key must still exist.
            // A key may also be pending deletion when the kill came after
            // ScheduleKeyDeletion committed but before "DEL" was printed:
            // durable yet unacknowledged, which is allowed, but only for the
            // keys the child schedules (i % 4 == 2).
            Err(e) => {
                assert_eq!(e.code().as_str(), "KMSInvalidStateException", "{key}: {e}");
                let i: u64 = pt.rsplit('-').next().unwrap().parse().unwrap();
                assert!(acked.deleted.contains(key) || i % 4 == 2, "{key}: {e}");
            }
        }
    }
    for key in &acked.deleted {
        let md = describe(&kms, key.clone());
        assert_eq!(md.key_state, KeyState::PendingDeletion, "{key}");
    }
    for (key, mats) in &acked.material {
        let all: BTreeSet<String> = kms
            .list_key_rotations(ListKeyRotationsRequest {
                key_id: key.clone(),
                include_key_material: Some("ALL_KEY_MATERIAL".into()),
                ..Default::default()
            })
            .map(|r| r.rotations.into_iter().map(|x| x.key_material_id).collect())
            .unwrap_or_else(|e| {
                // Pending deletion (acknowledged or in flight): rotations
                // cannot be listed; the material is checked by Decrypt above.
                assert_eq!(e.code().as_str(), "KMSInvalidStateException", "{key}: {e}");
                mats.clone()
            });
        assert!(mats.is_subset(&all), "{key} lost a rotation");
    }
    for (alias, key) in &acked.aliases {
        let md = describe(&kms, alias.clone());
        assert_eq!(&md.key_id, key);
    }
    kms.verify_audit_log()
        .expect("the audit chain survives crashes");
    // Keep the store small across 200 rounds: this verification's own
    // Decrypt events would otherwise pile up.
    kms.prune_audit_log(100).unwrap();
}

#[test]
fn crash_safety_under_sigkill() {
    let rounds: u64 = std::env::var("STRONGROOM_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let dir = dir.to_str().unwrap().to_string();
    let exe = std::env::current_exe().unwrap();
    // A small LCG: reproducible kill times, printed on failure.
    let mut seed: u64 = std::env::var("STRONGROOM_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    println!("crash test seed {seed}");
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    let mut acked = Acked::default();
    let mut kills_mid_work = 0;
    let started = Instant::now();
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash_child_worker",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("STRONGROOM_CRASH_DIR", &dir)
            .env("STRONGROOM_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let before = acked.blobs.len();
        if next() % 10 == 0 {
            // Kill during process start-up or while the store is opening.
            std::thread::sleep(Duration::from_millis(next() % 20));
        } else {
            // Wait until the child is working, then kill at a random moment.
            // (Skip the test harness's own banner lines.)
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                parse(line.trim_end(), &mut acked);
                if line.starts_with("KEY ") {
                    break;
                }
            }
            std::thread::sleep(Duration::from_micros(next() % 25_000));
        }
        child.kill().unwrap(); // SIGKILL
        for line in reader.lines() {
            match line {
                Ok(l) => parse(&l, &mut acked),
                Err(_) => break,
            }
        }
        child.wait().unwrap();
        if acked.blobs.len() > before {
            kills_mid_work += 1;
        }
        verify(&dir, &acked);
    }
    println!(
        "{rounds} kills ({kills_mid_work} after acknowledged work), {} blobs, {} rotations, {} deletions, {} aliases verified, {:?}",
        acked.blobs.len(),
        acked.material.values().map(|m| m.len()).sum::<usize>(),
        acked.deleted.len(),
        acked.aliases.len(),
        started.elapsed()
    );
    assert!(
        rounds < 200 || kills_mid_work >= 100,
        "too few kills landed mid-work: {kills_mid_work}"
    );
}
