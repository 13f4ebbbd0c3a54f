//! `make demo`: opens (or creates) a Strongroom store in your data
//! directory, makes sure a key with alias `alias/demo` exists, encrypts and
//! decrypts a message bound to an encryption context, shows that a changed
//! context is refused, and prints the audit trail.
//!
//! Environment:
//!   STRONGROOM_HOME        store directory (default: <data dir>/strongroom/demo)
//!   STRONGROOM_PASSPHRASE  root passphrase (default: a fixed demo passphrase)
use std::time::{Duration, UNIX_EPOCH};
use strongroom::api::*;
use strongroom::{ErrorCode, Kms, RootKey};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";

fn when(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::var_os("STRONGROOM_HOME") {
        Some(d) => d.into(),
        None => dirs::data_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("strongroom")
            .join("demo"),
    };
    let passphrase = std::env::var("STRONGROOM_PASSPHRASE").unwrap_or_else(|_| {
        println!("(using the built-in demo passphrase; set STRONGROOM_PASSPHRASE for your own)");
        "strongroom demo passphrase".to_string()
    });
    println!("store: {}", dir.display());
    let kms = Kms::builder(ACCOUNT, REGION).open_file(&dir, RootKey::passphrase(passphrase))?;

    let key = match kms.describe_key(DescribeKeyRequest {
        key_id: "alias/demo".into(),
        ..Default::default()
    }) {
        Ok(r) => {
            println!("found alias/demo → {}", r.key_metadata.arn);
            r.key_metadata
        }
        Err(e) if e.code() == ErrorCode::NotFound => {
            let md = kms
                .create_key(CreateKeyRequest {
                    description: Some("Strongroom demo key".into()),
                    tags: vec![Tag::new("created-by", "make demo")],
                    ..Default::default()
                })?
                .key_metadata;
            kms.create_alias(CreateAliasRequest {
                alias_name: "alias/demo".into(),
                target_key_id: md.key_id.clone(),
            })?;
            kms.enable_key_rotation(EnableKeyRotationRequest {
                key_id: md.key_id.clone(),
                rotation_period_in_days: Some(90),
            })?;
            println!("created {} with alias/demo (rotates every 90 days)", md.arn);
            md
        }
        Err(e) => return Err(e.into()),
    };
    println!(
        "  state {}, spec {}, created {}, material {}",
        key.key_state,
        key.key_spec,
        when(key.creation_date_ms),
        key.current_key_material_id.as_deref().unwrap_or("-")
    );

    let ctx = context([("app", "demo"), ("purpose", "make demo")]);
    let message = b"Hello from inside the strongroom";
    let ct = kms.encrypt(EncryptRequest {
        key_id: "alias/demo".into(),
        plaintext: message.to_vec().into(),
        encryption_context: ctx.clone(),
        ..Default::default()
    })?;
    println!(
        "\nencrypted {} bytes → {}-byte blob with context {:?}",
        message.len(),
        ct.ciphertext_blob.len(),
        ctx
    );
    let pt = kms.decrypt(DecryptRequest {
        ciphertext_blob: ct.ciphertext_blob.clone(),
        encryption_context: ctx.clone(),
        ..Default::default()
    })?;
    println!(
        "decrypted with the same context: {:?}",
        String::from_utf8_lossy(pt.plaintext.as_bytes())
    );

    let mut changed = ctx.clone();
    changed.insert("purpose".into(), "something else".into());
    match kms.decrypt(DecryptRequest {
        ciphertext_blob: ct.ciphertext_blob,
        encryption_context: changed,
        ..Default::default()
    }) {
        Ok(_) => return Err("a changed context must not decrypt".into()),
        Err(e) => println!("decrypt with a changed context is refused: {}", e.code()),
    }

    let log = kms.audit_log()?;
    let v = kms.verify_audit_log()?;
    println!(
        "\naudit trail: {} events, hash chain verified (head {}…); newest {}:",
        v.events,
        &v.head_hash[..16],
        log.len().min(12)
    );
    for e in log.iter().rev().take(12).rev() {
        println!(
            "  #{:<5} {}  {:<22} {:<28} {}{}",
            e.seq,
            when(e.time_ms),
            e.operation,
            e.outcome,
            e.key_arn
                .as_deref()
                .and_then(|a| a.rsplit('/').next())
                .unwrap_or("-"),
            e.encryption_context
                .as_ref()
                .filter(|c| !c.is_empty())
                .map(|c| format!("  ctx {c:?}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
