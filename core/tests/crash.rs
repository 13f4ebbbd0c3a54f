//! Crash safety: a child process works on a file store and is SIGKILLed at
//! random moments, at least 200 times. After every kill the store must open
//! and every change the child acknowledged (printed after the call returned)
//! must be there: keys decrypt what they encrypted, rotations are kept,
//! scheduled deletions are still scheduled.
//!
//! The child is this same test binary, re-executed with the ignored test
//! `crash_child_worker` selected and STRONGROOM_CRASH_DIR set.
//!
//! SIGKILL keeps the page cache, so that test cannot see a missing fsync.
//! `power_loss_keeps_every_acknowledged_change` runs the same kind of work
//! on the fault-injecting file system of `faultfs/`, which at every crash
//! drops whatever was not made durable (and tears the last write).
#![cfg(unix)]
mod common;
mod faultfs;
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

// ------------------------------------------------------------------------
// Simulated power loss on the fault-injecting file system.

use faultfs::FaultFs;
use strongroom::model::{GrantOperation, KeySpec, KeyUsage, Origin, WrappingAlgorithm};
use strongroom::{FileStore, ManualClock};

const STORE: &str = "/s/store";
const DAY_MS: u64 = 86_400_000;

fn fopen(fs: &FaultFs, clock: &ManualClock) -> strongroom::Result<Kms> {
    // A low threshold: the journal is compacted every few writes.
    let store = FileStore::open_with(fs.vfs(), STORE)?.with_compaction_threshold(1, 12 << 10);
    Kms::builder(ACCOUNT, REGION)
        .clock(clock.clone())
        .open(store, RootKey::raw(ROOT))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Sym,
    Hmac,
    Ecc,
    External,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum St {
    Enabled,
    PendingImport,
    PendingDeletion,
}

#[derive(Clone, Debug)]
struct K {
    kind: Kind,
    st: St,
    materials: BTreeSet<String>,
    blobs: Vec<(Vec<u8>, Vec<u8>, strongroom::EncryptionContext)>,
    macs: Vec<(Vec<u8>, Vec<u8>)>,
    sigs: Vec<(Vec<u8>, Vec<u8>)>,
    policy: Option<String>,
    grants: BTreeSet<String>,
    description: String,
}

impl K {
    fn new(kind: Kind, st: St) -> K {
        K {
            kind,
            st,
            materials: BTreeSet::new(),
            blobs: vec![],
            macs: vec![],
            sigs: vec![],
            policy: None,
            grants: BTreeSet::new(),
            description: String::new(),
        }
    }
}

#[derive(Default)]
struct Model {
    keys: BTreeMap<String, K>,
    purged: BTreeSet<String>,
    /// Torn tails the store cut off the journal: each must survive, in a
    /// file of its own, every later crash.
    torn_tails: Vec<Vec<u8>>,
}

/// The call that was running when the crash came: it may or may not have
/// taken effect, but never in part.
#[derive(Clone, Debug, PartialEq)]
enum InFlight {
    Nothing,
    Open,
    Create,
    Rotate(String),
    Grant(String),
    Revoke(String, String),
    Policy(String, String),
    Schedule(String),
    Maintenance,
    Import(String),
    Describe(String, String),
    ReadOnly,
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn policy_text(n: u64) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Id":"policy-{n}","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    )
}

fn pick(rng: &mut Lcg, m: &Model, f: impl Fn(&K) -> bool) -> Option<String> {
    let c: Vec<&String> = m
        .keys
        .iter()
        .filter(|(_, k)| f(k))
        .map(|(i, _)| i)
        .collect();
    (!c.is_empty()).then(|| c[rng.below(c.len() as u64) as usize].clone())
}

fn wrap_material(public_der: &[u8], material: &[u8]) -> Vec<u8> {
    use p256::pkcs8::DecodePublicKey;
    let pk = rsa::PublicKey::from_public_key_der(public_der).unwrap();
    pk.encrypt(
        &mut common::TestRng(7),
        rsa::Oaep::<rsa::sha2::Sha256>::new(),
        material,
    )
    .unwrap()
}

/// One random step of work. `Err` only when the file system crashed under
/// it (then `inflight` says what was running); any other error is a bug.
#[allow(clippy::too_many_arguments)]
fn work_step(
    fs: &FaultFs,
    stats: &mut BTreeMap<&'static str, u64>,
    kms: &Kms,
    m: &mut Model,
    rng: &mut Lcg,
    clock: &ManualClock,
    n: u64,
    inflight: &mut InFlight,
) -> strongroom::Result<()> {
    let live = m
        .keys
        .values()
        .filter(|k| k.st != St::PendingDeletion)
        .count();
    let choice = if n.is_multiple_of(199) {
        10 // import (an RSA key pair per import: kept rare)
    } else if n.is_multiple_of(29) {
        11 // a few larger writes
    } else if live > 10 {
        8 // keep the store small: schedule deletions
    } else {
        rng.below(10)
    };
    let before = fs.renames();
    let r = do_step(fs, stats, kms, m, rng, clock, n, inflight, choice);
    let key = if choice == 9 {
        "purge compactions"
    } else {
        "other compactions"
    };
    *stats.entry(key).or_default() += fs.renames() - before;
    r
}

#[allow(clippy::too_many_arguments)]
fn do_step(
    fs: &FaultFs,
    stats: &mut BTreeMap<&'static str, u64>,
    kms: &Kms,
    m: &mut Model,
    rng: &mut Lcg,
    clock: &ManualClock,
    n: u64,
    inflight: &mut InFlight,
    choice: u64,
) -> strongroom::Result<()> {
    let ctx = context([("n", n.to_string())]);
    let pt = format!("plaintext {n}").into_bytes();
    let enabled_sym = |k: &K| k.st == St::Enabled && matches!(k.kind, Kind::Sym | Kind::External);
    match choice {
        0 | 1 => {
            let spec = match rng.below(4) {
                0 => (Kind::Hmac, KeySpec::Hmac256, KeyUsage::GenerateVerifyMac),
                1 => (Kind::Ecc, KeySpec::EccNistP256, KeyUsage::SignVerify),
                _ => (
                    Kind::Sym,
                    KeySpec::SymmetricDefault,
                    KeyUsage::EncryptDecrypt,
                ),
            };
            *inflight = InFlight::Create;
            let md = kms
                .create_key(CreateKeyRequest {
                    key_spec: Some(spec.1),
                    key_usage: Some(spec.2),
                    ..Default::default()
                })?
                .key_metadata;
            let mut k = K::new(spec.0, St::Enabled);
            if let Some(mid) = md.current_key_material_id.clone() {
                k.materials.insert(mid);
            }
            m.keys.insert(md.key_id.clone(), k);
            *inflight = InFlight::ReadOnly;
            let k = m.keys.get_mut(&md.key_id).unwrap();
            match spec.0 {
                Kind::Hmac => {
                    let mac = kms
                        .generate_mac(GenerateMacRequest {
                            key_id: md.key_id.clone(),
                            message: pt.clone(),
                            mac_algorithm: Some(strongroom::asym::MacAlgorithm::HmacSha256),
                            ..Default::default()
                        })?
                        .mac;
                    k.macs.push((pt, mac));
                }
                Kind::Ecc => {
                    let sig = kms
                        .sign(SignRequest {
                            key_id: md.key_id.clone(),
                            message: pt.clone(),
                            signing_algorithm: Some(
                                strongroom::asym::SigningAlgorithm::EcdsaSha256,
                            ),
                            ..Default::default()
                        })?
                        .signature;
                    k.sigs.push((pt, sig));
                }
                _ => {
                    let blob = enc_r(kms, &md.key_id, &pt, &ctx)?;
                    k.blobs.push((blob, pt, ctx));
                }
            }
        }
        2 | 3 => {
            if let Some(id) = pick(rng, m, enabled_sym) {
                *inflight = InFlight::ReadOnly;
                let blob = enc_r(kms, &id, &pt, &ctx)?;
                let k = m.keys.get_mut(&id).unwrap();
                if k.blobs.len() >= 3 {
                    k.blobs.remove(1);
                }
                k.blobs.push((blob, pt, ctx));
            }
        }
        4 => {
            if let Some(id) = pick(rng, m, |k| {
                k.st == St::Enabled && k.kind == Kind::Sym && k.materials.len() < 6
            }) {
                *inflight = InFlight::Rotate(id.clone());
                kms.rotate_key_on_demand(KeyIdRequest { key_id: id.clone() })?;
                // The new material is the current one from now on.
                let mid = describe(kms, id.clone()).current_key_material_id.unwrap();
                let k = m.keys.get_mut(&id).unwrap();
                k.materials.insert(mid);
                *inflight = InFlight::ReadOnly;
                let blob = enc_r(kms, &id, &pt, &ctx)?;
                m.keys.get_mut(&id).unwrap().blobs.push((blob, pt, ctx));
            }
        }
        5 => {
            if let Some(id) = pick(rng, m, |k| k.st == St::Enabled && k.grants.len() < 3) {
                *inflight = InFlight::Grant(id.clone());
                let g = kms.create_grant(CreateGrantRequest {
                    key_id: id.clone(),
                    grantee_principal: format!("arn:aws:iam::{ACCOUNT}:role/app{n}"),
                    operations: vec![GrantOperation::DescribeKey],
                    ..Default::default()
                })?;
                m.keys.get_mut(&id).unwrap().grants.insert(g.grant_id);
            }
        }
        6 => {
            if let Some(id) = pick(rng, m, |k| {
                !k.grants.is_empty() && k.st != St::PendingDeletion
            }) {
                let gid = m.keys[&id].grants.iter().next().unwrap().clone();
                *inflight = InFlight::Revoke(id.clone(), gid.clone());
                kms.revoke_grant(RevokeGrantRequest {
                    key_id: id.clone(),
                    grant_id: gid.clone(),
                    ..Default::default()
                })?;
                m.keys.get_mut(&id).unwrap().grants.remove(&gid);
            }
        }
        7 => {
            if let Some(id) = pick(rng, m, |k| k.st == St::Enabled) {
                let p = policy_text(n);
                *inflight = InFlight::Policy(id.clone(), p.clone());
                kms.put_key_policy(PutKeyPolicyRequest {
                    key_id: id.clone(),
                    policy: p.clone(),
                    ..Default::default()
                })?;
                m.keys.get_mut(&id).unwrap().policy = Some(p);
            }
        }
        8 => {
            if let Some(id) = pick(rng, m, |k| k.st != St::PendingDeletion) {
                *inflight = InFlight::Schedule(id.clone());
                kms.schedule_key_deletion(ScheduleKeyDeletionRequest {
                    key_id: id.clone(),
                    pending_window_in_days: Some(7),
                })?;
                m.keys.get_mut(&id).unwrap().st = St::PendingDeletion;
            }
        }
        9 => {
            if m.keys.values().any(|k| k.st == St::PendingDeletion) {
                // Every pending deletion falls due; the sweep purges them.
                clock.advance_ms(7 * DAY_MS + 1);
                *inflight = InFlight::Maintenance;
                kms.run_maintenance()?;
                let gone: Vec<String> = m
                    .keys
                    .iter()
                    .filter(|(_, k)| k.st == St::PendingDeletion)
                    .map(|(i, _)| i.clone())
                    .collect();
                for id in gone {
                    m.keys.remove(&id);
                    m.purged.insert(id);
                }
            }
        }
        10 => {
            *inflight = InFlight::Create;
            let id = kms
                .create_key(CreateKeyRequest {
                    origin: Some(Origin::External),
                    ..Default::default()
                })?
                .key_metadata
                .key_id;
            m.keys
                .insert(id.clone(), K::new(Kind::External, St::PendingImport));
            *inflight = InFlight::ReadOnly;
            let p = kms.get_parameters_for_import(GetParametersForImportRequest {
                key_id: id.clone(),
                wrapping_algorithm: Some(WrappingAlgorithm::RsaesOaepSha256),
                wrapping_key_spec: Some(strongroom::model::WrappingKeySpec::Rsa2048),
            })?;
            let mut material = [0u8; 32];
            material[..8].copy_from_slice(&n.to_be_bytes());
            let wrapped = wrap_material(&p.public_key, &material);
            *inflight = InFlight::Import(id.clone());
            kms.import_key_material(ImportKeyMaterialRequest {
                key_id: id.clone(),
                import_token: p.import_token,
                encrypted_key_material: wrapped,
                valid_to_ms: None,
                expiration_model: Some(
                    strongroom::model::ExpirationModel::KeyMaterialDoesNotExpire,
                ),
                ..Default::default()
            })?;
            let mid = describe(kms, id.clone()).current_key_material_id.unwrap();
            let k = m.keys.get_mut(&id).unwrap();
            k.st = St::Enabled;
            k.materials.insert(mid);
            *inflight = InFlight::ReadOnly;
            let blob = enc_r(kms, &id, &pt, &ctx)?;
            m.keys.get_mut(&id).unwrap().blobs.push((blob, pt, ctx));
        }
        _ => burst(fs, stats, kms, m, rng, n, inflight)?,
    }
    *inflight = InFlight::Nothing;
    Ok(())
}

fn burst(
    _fs: &FaultFs,
    stats: &mut BTreeMap<&'static str, u64>,
    kms: &Kms,
    m: &mut Model,
    rng: &mut Lcg,
    n: u64,
    inflight: &mut InFlight,
) -> strongroom::Result<()> {
    {
        {
            if let Some(id) = pick(rng, m, |k| k.st == St::Enabled) {
                for j in 0..3 {
                    let d = format!("{n}-{j}-{}", "d".repeat(500));
                    *inflight = InFlight::Describe(id.clone(), d.clone());
                    kms.update_key_description(UpdateKeyDescriptionRequest {
                        key_id: id.clone(),
                        description: d.clone(),
                    })?;
                    m.keys.get_mut(&id).unwrap().description = d;
                }
                *stats.entry("bursts").or_default() += 1;
            }
        }
    }
    *inflight = InFlight::Nothing;
    Ok(())
}

fn enc_r(
    kms: &Kms,
    id: &str,
    pt: &[u8],
    ctx: &strongroom::EncryptionContext,
) -> strongroom::Result<Vec<u8>> {
    Ok(kms
        .encrypt(EncryptRequest {
            key_id: id.into(),
            plaintext: pt.to_vec().into(),
            encryption_context: ctx.clone(),
            ..Default::default()
        })?
        .ciphertext_blob)
}

fn spec_kind(md: &strongroom::model::KeyMetadata) -> Kind {
    match (md.origin, md.key_spec) {
        (Origin::External, _) => Kind::External,
        (_, KeySpec::Hmac256) => Kind::Hmac,
        (_, KeySpec::EccNistP256) => Kind::Ecc,
        _ => Kind::Sym,
    }
}

fn st_of(s: KeyState) -> St {
    match s {
        KeyState::Enabled => St::Enabled,
        KeyState::PendingImport => St::PendingImport,
        KeyState::PendingDeletion => St::PendingDeletion,
        other => panic!("unexpected key state {other:?}"),
    }
}

/// After a crash: the store opens, every acknowledged change is there, the
/// call in flight is either wholly there or not at all, and every
/// acknowledged blob, MAC and signature still verifies. The model adopts
/// what the in-flight call did.
fn check_after_crash(fs: &FaultFs, clock: &ManualClock, m: &mut Model, inflight: &InFlight) {
    let torn_files: Vec<Vec<u8>> = fs
        .list(STORE)
        .into_iter()
        .filter(|n| n.starts_with(strongroom::store::TORN_PREFIX))
        .map(|n| fs.read(format!("{STORE}/{n}")).unwrap())
        .collect();
    for t in &m.torn_tails {
        assert!(
            torn_files.contains(t),
            "a torn tail that was cut off is lost"
        );
    }
    // What this open will find torn (the check's own write below cuts it).
    let new_tail = fs
        .read(format!("{STORE}/strongroom.journal"))
        .and_then(|j| {
            let r = strongroom::store::journal::replay(&j).ok()?;
            (r.valid_len < j.len()).then(|| j[r.valid_len..].to_vec())
        });
    let kms = fopen(fs, clock).unwrap_or_else(|e| panic!("the store must open after a crash: {e}"));
    let listed: BTreeSet<String> = kms
        .list_keys(ListKeysRequest {
            limit: Some(1000),
            ..Default::default()
        })
        .unwrap()
        .keys
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    let ids: Vec<String> = m.keys.keys().cloned().collect();
    for id in ids {
        let k = m.keys.get_mut(&id).unwrap();
        if !listed.contains(&id) {
            // Only a purge that was in flight can take a key away.
            assert!(
                k.st == St::PendingDeletion && *inflight == InFlight::Maintenance,
                "acknowledged key {id} ({k:?}) is lost (in flight: {inflight:?})"
            );
            m.keys.remove(&id);
            m.purged.insert(id);
            continue;
        }
        let md = describe(&kms, id.clone());
        assert_eq!(spec_kind(&md), k.kind, "{id}");
        let st = st_of(md.key_state);
        let ok = st == k.st
            || (*inflight == InFlight::Schedule(id.clone()) && st == St::PendingDeletion)
            || (*inflight == InFlight::Import(id.clone()) && st == St::Enabled);
        assert!(
            ok,
            "{id}: state {st:?}, acknowledged {:?} (in flight: {inflight:?})",
            k.st
        );
        k.st = st;
        if md.description != k.description {
            assert!(
                matches!(inflight, InFlight::Describe(i, d) if *i == id && *d == md.description),
                "{id}: description lost"
            );
            k.description = md.description.clone();
        }
        let policy = kms
            .get_key_policy(GetKeyPolicyRequest {
                key_id: id.clone(),
                policy_name: None,
            })
            .unwrap()
            .policy;
        if let Some(p) = &k.policy {
            if *p != policy {
                assert!(
                    matches!(inflight, InFlight::Policy(i, q) if *i == id && *q == policy),
                    "{id}: acknowledged policy lost"
                );
            }
        } else if !matches!(inflight, InFlight::Policy(i, _) if *i == id) {
            assert!(
                !policy.contains("\"Id\":\"policy-"),
                "{id}: unacknowledged policy"
            );
        }
        if policy.contains("\"Id\":\"policy-") {
            k.policy = Some(policy);
        }
        let grants: BTreeSet<String> = kms
            .list_grants(ListGrantsRequest {
                key_id: id.clone(),
                ..Default::default()
            })
            .unwrap()
            .grants
            .into_iter()
            .map(|g| g.grant_id)
            .collect();
        for g in &k.grants {
            assert!(
                grants.contains(g) || *inflight == InFlight::Revoke(id.clone(), g.clone()),
                "{id}: acknowledged grant {g} lost"
            );
        }
        let extra: Vec<&String> = grants.difference(&k.grants).collect();
        assert!(
            extra.is_empty() || (extra.len() == 1 && *inflight == InFlight::Grant(id.clone())),
            "{id}: grants {extra:?} appeared (in flight: {inflight:?})"
        );
        k.grants = grants;
        if k.st == St::Enabled && matches!(k.kind, Kind::Sym | Kind::External) {
            let rotations = if k.kind == Kind::Sym {
                kms.list_key_rotations(ListKeyRotationsRequest {
                    key_id: id.clone(),
                    include_key_material: Some("ALL_KEY_MATERIAL".into()),
                    ..Default::default()
                })
                .unwrap()
                .rotations
            } else {
                vec![]
            };
            let mats: BTreeSet<String> = rotations
                .into_iter()
                .map(|r| r.key_material_id)
                .chain(md.current_key_material_id.clone())
                .collect();
            assert!(k.materials.is_subset(&mats), "{id} lost a rotation");
            let extra = mats.difference(&k.materials).count();
            assert!(
                extra == 0
                    || (extra == 1
                        && matches!(inflight, InFlight::Rotate(i) | InFlight::Import(i) if *i == id)),
                "{id}: {extra} unacknowledged materials"
            );
            k.materials = mats;
        }
        if k.st == St::Enabled {
            for (blob, pt, ctx) in &k.blobs {
                let d = dec_r(&kms, blob, ctx).unwrap_or_else(|e| panic!("{id}: blob lost: {e}"));
                assert_eq!(&d, pt, "{id}");
            }
            for (msg, mac) in &k.macs {
                let v = kms
                    .verify_mac(VerifyMacRequest {
                        key_id: id.clone(),
                        message: msg.clone(),
                        mac: mac.clone(),
                        mac_algorithm: Some(strongroom::asym::MacAlgorithm::HmacSha256),
                        ..Default::default()
                    })
                    .unwrap();
                assert!(v.mac_valid, "{id}");
            }
            for (msg, sig) in &k.sigs {
                let v = kms
                    .verify(VerifyRequest {
                        key_id: id.clone(),
                        message: msg.clone(),
                        signature: sig.clone(),
                        signing_algorithm: Some(strongroom::asym::SigningAlgorithm::EcdsaSha256),
                        ..Default::default()
                    })
                    .unwrap();
                assert!(v.signature_valid, "{id}");
            }
        } else if k.st == St::PendingDeletion {
            // Their blobs can no longer be checked through the API.
            k.blobs.clear();
            k.macs.clear();
            k.sigs.clear();
        }
    }
    let unknown: Vec<&String> = listed.iter().filter(|i| !m.keys.contains_key(*i)).collect();
    for id in unknown {
        assert!(!m.purged.contains(id), "purged key {id} came back");
        assert!(
            *inflight == InFlight::Create,
            "unacknowledged key {id} appeared (in flight: {inflight:?})"
        );
        // Wholly there: described, and usable if it has material.
        let md = describe(&kms, id.clone());
        let mut k = K::new(spec_kind(&md), st_of(md.key_state));
        k.materials.extend(md.current_key_material_id.clone());
        if k.kind == Kind::Sym {
            let blob = enc_r(&kms, id, b"adopted", &Default::default()).unwrap();
            assert_eq!(dec_r(&kms, &blob, &Default::default()).unwrap(), b"adopted");
        }
        m.keys.insert(id.clone(), k);
    }
    for id in &m.purged {
        assert_eq!(
            kms.describe_key(DescribeKeyRequest {
                key_id: id.clone(),
                ..Default::default()
            })
            .unwrap_err()
            .code(),
            strongroom::ErrorCode::NotFound,
            "purged key {id} is back"
        );
    }
    kms.verify_audit_log()
        .expect("the audit chain survives crashes");
    // Keep the store small: this check's own events would pile up. The
    // prune is a write, after which no purged material may be left in the
    // journal (a crash can interrupt the compaction of a purge; the store
    // finishes it at its next write).
    kms.prune_audit_log(20).unwrap();
    drop(kms);
    m.torn_tails.extend(new_tail);
    let journal = fs.read(format!("{STORE}/strongroom.journal")).unwrap();
    let named: BTreeSet<&[u8]> = journal
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"mat/")
        .filter_map(|(i, _)| journal.get(i + 4..i + 40))
        .collect();
    for id in &m.purged {
        assert!(
            !named.contains(id.as_bytes()),
            "purged material of {id} is still in the journal"
        );
    }
}

fn dec_r(
    kms: &Kms,
    blob: &[u8],
    ctx: &strongroom::EncryptionContext,
) -> strongroom::Result<Vec<u8>> {
    Ok(kms
        .decrypt(DecryptRequest {
            ciphertext_blob: blob.to_vec(),
            encryption_context: ctx.clone(),
            ..Default::default()
        })?
        .plaintext
        .as_bytes()
        .to_vec())
}

#[test]
fn power_loss_keeps_every_acknowledged_change() {
    let crashes: u64 = std::env::var("STRONGROOM_POWER_LOSS_CRASHES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let seed: u64 = std::env::var("STRONGROOM_POWER_LOSS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f00d);
    println!("power-loss test seed {seed} (STRONGROOM_POWER_LOSS_SEED to replay)");
    let started = Instant::now();
    let r = std::panic::catch_unwind(|| power_loss_run(seed, crashes));
    if let Err(e) = r {
        eprintln!("power-loss test FAILED with seed {seed}");
        std::panic::resume_unwind(e);
    }
    println!("{crashes} simulated crashes in {:?}", started.elapsed());
}

fn power_loss_run(seed: u64, crashes: u64) {
    let mut rng = Lcg(seed);
    let clock = ManualClock::new(common::T0);
    let mut fs = FaultFs::new(seed);
    let mut m = Model::default();
    let mut n = 0u64;
    let mut inflights: BTreeMap<String, u64> = BTreeMap::new();
    let (mut t_work, mut t_check) = (Duration::ZERO, Duration::ZERO);
    let mut stats: BTreeMap<&'static str, u64> = BTreeMap::new();
    for round in 0..crashes {
        let t0 = Instant::now();
        if round.is_multiple_of(100) {
            // A new store now and then: crashes while it is being created.
            *stats.entry("journal rewrites").or_default() += fs.renames();
            fs = FaultFs::new(seed ^ round);
            m = Model::default();
        }
        let span = if rng.below(4) == 0 { 8 } else { 80 };
        fs.crash_after(1 + rng.below(span));
        let mut inflight = InFlight::Open;
        match fopen(&fs, &clock) {
            Ok(kms) => {
                inflight = InFlight::Nothing;
                while !fs.crashed() {
                    n += 1;
                    if let Err(e) = work_step(
                        &fs,
                        &mut stats,
                        &kms,
                        &mut m,
                        &mut rng,
                        &clock,
                        n,
                        &mut inflight,
                    ) {
                        assert!(fs.crashed(), "round {round}: unexpected error: {e}");
                    }
                }
                drop(kms);
            }
            Err(e) => assert!(fs.crashed(), "round {round}: open failed: {e}"),
        }
        let tag = format!("{inflight:?}");
        *inflights
            .entry(tag.split('(').next().unwrap().to_string())
            .or_default() += 1;
        fs.recover();
        let t1 = Instant::now();
        check_after_crash(&fs, &clock, &mut m, &inflight);
        t_work += t1 - t0;
        t_check += t1.elapsed();
    }
    *stats.entry("journal rewrites").or_default() += fs.renames();
    println!(
        "{n} calls; calls in flight at the crashes: {inflights:?}; {stats:?}; {t_work:?} working, {t_check:?} checking"
    );
}
