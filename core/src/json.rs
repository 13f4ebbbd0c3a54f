//! AWS-style JSON calls: an operation name and a request object with the AWS
//! field names (PascalCase) in, a response object out. Bytes are lowercase
//! hex (not base64). Used by the language-neutral vector runner, and usable
//! by any binding that prefers one generic entry point.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::kms::Kms;

fn req<T: DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::validation(format!("malformed request: {e}")))
}

fn out<T: serde::Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::internal(e.to_string()))
}

/// Every operation name [`call`] accepts.
pub const OPERATIONS: &[&str] = &[
    "CreateKey",
    "DescribeKey",
    "ListKeys",
    "UpdateKeyDescription",
    "TagResource",
    "UntagResource",
    "ListResourceTags",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "ListAliases",
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateRandom",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "GetKeyRotationStatus",
    "RotateKeyOnDemand",
    "ListKeyRotations",
    "PutKeyPolicy",
    "GetKeyPolicy",
    "ListKeyPolicies",
    "CreateGrant",
    "ListGrants",
    "ListRetirableGrants",
    "RetireGrant",
    "RevokeGrant",
    "PutIdentityPolicy",
    "GetIdentityPolicy",
    "DeleteIdentityPolicy",
    "Sign",
    "Verify",
    "GetPublicKey",
    "DeriveSharedSecret",
    "GenerateMac",
    "VerifyMac",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GetParametersForImport",
    "ImportKeyMaterial",
    "DeleteImportedKeyMaterial",
];

/// Run one operation. Unknown operations are a `ValidationException`.
///
/// Responses that carry secrets (Decrypt, GenerateDataKey, GenerateRandom,
/// DeriveSharedSecret, GenerateDataKeyPair) hold them as hex strings in an
/// ordinary `serde_json::Value`, which is not zeroized: this entry point is
/// for test vectors and bindings that hand the value straight on. Prefer the
/// typed methods on [`Kms`], whose secret outputs are zeroized on drop.
pub fn call(kms: &Kms, operation: &str, request: Value) -> Result<Value> {
    let r = if request.is_null() {
        json!({})
    } else {
        request
    };
    match operation {
        "CreateKey" => out(kms.create_key(req(r)?)?),
        "DescribeKey" => out(kms.describe_key(req(r)?)?),
        "ListKeys" => out(kms.list_keys(req(r)?)?),
        "UpdateKeyDescription" => kms.update_key_description(req(r)?).map(|_| json!({})),
        "TagResource" => kms.tag_resource(req(r)?).map(|_| json!({})),
        "UntagResource" => kms.untag_resource(req(r)?).map(|_| json!({})),
        "ListResourceTags" => out(kms.list_resource_tags(req(r)?)?),
        "EnableKey" => kms.enable_key(req(r)?).map(|_| json!({})),
        "DisableKey" => kms.disable_key(req(r)?).map(|_| json!({})),
        "ScheduleKeyDeletion" => out(kms.schedule_key_deletion(req(r)?)?),
        "CancelKeyDeletion" => out(kms.cancel_key_deletion(req(r)?)?),
        "CreateAlias" => kms.create_alias(req(r)?).map(|_| json!({})),
        "UpdateAlias" => kms.update_alias(req(r)?).map(|_| json!({})),
        "DeleteAlias" => kms.delete_alias(req(r)?).map(|_| json!({})),
        "ListAliases" => out(kms.list_aliases(req(r)?)?),
        "Encrypt" => out(kms.encrypt(req(r)?)?),
        "Decrypt" => {
            let d = kms.decrypt(req(r)?)?;
            Ok(json!({
                "KeyId": d.key_id,
                "Plaintext": hex::encode(d.plaintext.as_bytes()),
                "EncryptionAlgorithm": d.encryption_algorithm,
                "KeyMaterialId": d.key_material_id,
            }))
        }
        "ReEncrypt" => out(kms.re_encrypt(req(r)?)?),
        "GenerateDataKey" => {
            let d = kms.generate_data_key(req(r)?)?;
            Ok(json!({
                "CiphertextBlob": hex::encode(&d.ciphertext_blob),
                "Plaintext": hex::encode(d.plaintext.as_bytes()),
                "KeyId": d.key_id,
                "KeyMaterialId": d.key_material_id,
            }))
        }
        "GenerateDataKeyWithoutPlaintext" => out(kms.generate_data_key_without_plaintext(req(r)?)?),
        "GenerateRandom" => {
            let p = kms.generate_random(req(r)?)?;
            Ok(json!({ "Plaintext": hex::encode(p.as_bytes()) }))
        }
        "EnableKeyRotation" => kms.enable_key_rotation(req(r)?).map(|_| json!({})),
        "DisableKeyRotation" => kms.disable_key_rotation(req(r)?).map(|_| json!({})),
        "GetKeyRotationStatus" => out(kms.get_key_rotation_status(req(r)?)?),
        "RotateKeyOnDemand" => out(kms.rotate_key_on_demand(req(r)?)?),
        "ListKeyRotations" => out(kms.list_key_rotations(req(r)?)?),
        "PutKeyPolicy" => kms.put_key_policy(req(r)?).map(|_| json!({})),
        "GetKeyPolicy" => out(kms.get_key_policy(req(r)?)?),
        "ListKeyPolicies" => out(kms.list_key_policies(req(r)?)?),
        "CreateGrant" => out(kms.create_grant(req(r)?)?),
        "ListGrants" => out(kms.list_grants(req(r)?)?),
        "ListRetirableGrants" => out(kms.list_retirable_grants(req(r)?)?),
        "RetireGrant" => kms.retire_grant(req(r)?).map(|_| json!({})),
        "RevokeGrant" => kms.revoke_grant(req(r)?).map(|_| json!({})),
        "PutIdentityPolicy" => kms.put_identity_policy(req(r)?).map(|_| json!({})),
        "GetIdentityPolicy" => out(kms.get_identity_policy(req(r)?)?),
        "DeleteIdentityPolicy" => kms.delete_identity_policy(req(r)?).map(|_| json!({})),
        "Sign" => out(kms.sign(req(r)?)?),
        "Verify" => out(kms.verify(req(r)?)?),
        "GetPublicKey" => out(kms.get_public_key(req(r)?)?),
        "DeriveSharedSecret" => out(kms.derive_shared_secret(req(r)?)?),
        "GenerateMac" => out(kms.generate_mac(req(r)?)?),
        "VerifyMac" => out(kms.verify_mac(req(r)?)?),
        "GenerateDataKeyPair" => out(kms.generate_data_key_pair(req(r)?)?),
        "GetParametersForImport" => out(kms.get_parameters_for_import(req(r)?)?),
        "ImportKeyMaterial" => kms.import_key_material(req(r)?).map(|_| json!({})),
        "DeleteImportedKeyMaterial" => kms.delete_imported_key_material(req(r)?).map(|_| json!({})),
        "GenerateDataKeyPairWithoutPlaintext" => {
            out(kms.generate_data_key_pair_without_plaintext(req(r)?)?)
        }
        other => Err(Error::validation(format!("unknown operation '{other}'"))),
    }
}
