//! `strongroom seed` and `strongroom usage`, end to end.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/seed/seed.yaml"
);
const K1_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn root(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

struct Store {
    dir: PathBuf,
    root: String,
}

impl Store {
    fn new(base: &Path, name: &str, n: u8) -> Store {
        Store {
            dir: base.join(name),
            root: root(n),
        }
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_strongroom"))
            .args(args)
            .env("STRONGROOM_STORE", &self.dir)
            .env("STRONGROOM_ROOT_KEY", &self.root)
            .env_remove("STRONGROOM_PASSPHRASE")
            .env_remove("STRONGROOM_ROOT_KEY_FILE")
            .env_remove("STRONGROOM_REGION")
            .output()
            .unwrap()
    }
    fn ok(&self, args: &[&str]) -> (String, String) {
        let o = self.run(args);
        let err = String::from_utf8(o.stderr).unwrap();
        assert!(o.status.success(), "{args:?}: {err}");
        (String::from_utf8(o.stdout).unwrap(), err)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn seed_a_store_twice_and_decrypt_in_another_seeded_store() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Store::new(tmp.path(), "a", 0x11);
    let b = Store::new(tmp.path(), "b", 0x22);

    let (out, err) = a.ok(&["seed", SEED]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("created ")).count(),
        11,
        "{out}"
    );
    assert!(
        out.contains("created    key 1a2b3c4d-0000-4000-8000-000000000001"),
        "{out}"
    );
    assert!(out.contains("created    alias/payments"), "{out}");
    assert!(
        err.contains("WARNING") && err.contains("insecure_fixed_material"),
        "{err}"
    );
    assert!(!err.contains(K1_HEX) && !out.contains(K1_HEX));

    // Second time: nothing created.
    let (out, _) = a.ok(&["seed", SEED, "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Created"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["Unchanged"].as_array().unwrap().len(), 11, "{v}");
    assert_eq!(v["InsecureKeys"].as_array().unwrap().len(), 5, "{v}");

    // A message encrypted in store A decrypts in store B, seeded from the
    // same file under another root key.
    b.ok(&["seed", SEED]);
    std::fs::write(tmp.path().join("in.txt"), b"seeded secret").unwrap();
    let msg = tmp.path().join("msg");
    let pt = tmp.path().join("out.txt");
    a.ok(&[
        "encrypt",
        "--key",
        "alias/payments",
        "--context",
        "tenant=acme",
        "--in",
        s(&tmp.path().join("in.txt")),
        "--out",
        s(&msg),
    ]);
    b.ok(&[
        "decrypt",
        "--context",
        "tenant=acme",
        "--in",
        s(&msg),
        "--out",
        s(&pt),
    ]);
    assert_eq!(std::fs::read(&pt).unwrap(), b"seeded secret");

    // Another region of the same file: its own key, and the replica.
    let eu = Store::new(tmp.path(), "eu", 0x33);
    let (out, _) = eu.ok(&["--region", "eu-west-1", "seed", SEED]);
    assert!(
        out.contains("created    key 1a2b3c4d-0000-4000-8000-000000000006"),
        "{out}"
    );
    assert!(
        out.contains("created    key mrk-1a2b3c4d00004000800000000000000a"),
        "{out}"
    );
}

#[test]
fn a_conflicting_or_malformed_seed_file_fails_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Store::new(tmp.path(), "a", 0x44);
    a.ok(&["seed", SEED]);
    let other = tmp.path().join("other.json");
    std::fs::write(
        &other,
        format!(
            r#"{{"version":1,"keys":[{{"key_id":"1a2b3c4d-0000-4000-8000-000000000001","insecure_fixed_material":"{}"}}]}}"#,
            "ee".repeat(32)
        ),
    )
    .unwrap();
    let o = a.run(&["seed", s(&other)]);
    assert!(!o.status.success());
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(err.contains("AlreadyExistsException"), "{err}");
    assert!(!err.contains(&"ee".repeat(32)), "{err}");

    std::fs::write(
        &other,
        "version: 1\nkeys:\n  - key_id: 12\n    colour: red\n",
    )
    .unwrap();
    let o = a.run(&["seed", s(&other)]);
    assert!(!o.status.success());
    assert!(String::from_utf8(o.stderr)
        .unwrap()
        .contains("ValidationException"));
}

#[test]
fn usage_counts_requests_and_prices_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Store::new(tmp.path(), "a", 0x55);
    a.ok(&["seed", SEED]);
    std::fs::write(tmp.path().join("in.txt"), b"x").unwrap();
    let msg = tmp.path().join("msg");
    for _ in 0..3 {
        a.ok(&[
            "encrypt",
            "--key",
            "alias/payments",
            "--in",
            s(&tmp.path().join("in.txt")),
            "--out",
            s(&msg),
            "--force",
        ]);
    }
    a.ok(&[
        "decrypt",
        "--in",
        s(&msg),
        "--out",
        s(&tmp.path().join("o")),
        "--force",
    ]);
    // One refused call: disabled key.
    let o = a.run(&[
        "encrypt",
        "--key",
        "1a2b3c4d-0000-4000-8000-000000000002",
        "--in",
        s(&tmp.path().join("in.txt")),
        "--out",
        s(&tmp.path().join("m2")),
    ]);
    assert!(!o.status.success());

    let (out, _) = a.ok(&["usage", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ops = &v["ByOperation"];
    assert_eq!(ops["GenerateDataKey"]["Requests"], 4, "{v}");
    assert_eq!(ops["GenerateDataKey"]["Succeeded"], 3, "{v}");
    assert_eq!(ops["GenerateDataKey"]["Failed"], 1, "{v}");
    assert_eq!(ops["Decrypt"]["Succeeded"], 1, "{v}");
    assert!(ops.get("SeedKey").is_none(), "not an AWS operation: {v}");
    let k1 = "arn:aws:kms:us-east-1:111122223333:key/1a2b3c4d-0000-4000-8000-000000000001";
    assert!(v["ByKey"][k1]["Requests"].as_u64().unwrap() >= 4, "{v}");
    // us-east-1 has six seeded keys; K1 has two rotations, K2 one.
    assert_eq!(v["CustomerKeys"], 6, "{v}");
    assert_eq!(v["BilledRotations"], 3, "{v}");
    assert_eq!(v["MonthlyKeyMicroUsd"], 9_000_000, "{v}");
    assert!(v["RequestMicroUsd"].as_u64().unwrap() > 0, "{v}");

    let (text, _) = a.ok(&["usage"]);
    assert!(text.contains("GenerateDataKey"), "{text}");
    assert!(text.contains("$9.000000 per month"), "{text}");

    // A window before everything: nothing counted.
    let (out, _) = a.ok(&[
        "usage",
        "--until",
        "2000-01-01T00:00:00Z",
        "--output",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ByOperation"], serde_json::json!({}), "{v}");
    let o = a.run(&["usage", "--since", "yesterday"]);
    assert!(!o.status.success());
}
