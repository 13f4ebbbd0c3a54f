//! Request and response shapes, named after the AWS KMS API, serialising
//! in AWS's own JSON 1.1 wire shape (botocore's KMS model): PascalCase
//! members named as AWS names them, blobs as base64 (native bytes inside
//! [`crate::shape::native_values`]), timestamps as epoch seconds, enums as
//! their AWS strings, absent members omitted. On input, AWS's required
//! members are required (a missing one is a `ValidationException` naming
//! it), optional ones may be left out, unknown ones are rejected.
//!
//! The Rust fields keep their Rust names and types: dates are `Millis`
//! (`*_ms`) in Rust and seconds on the wire.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::asym::{MacAlgorithm, MessageType, SigningAlgorithm};
use crate::context::EncryptionContext;
use crate::env::Millis;
use crate::model::*;
use crate::secret::Plaintext;

macro_rules! request {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, Serialize, Deserialize)]
        #[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
        #[serde(rename_all = "PascalCase", deny_unknown_fields)]
        pub struct $name {
            // In Kotlin/Swift every request member has a default (callers
            // name only the members they set): a required one left at its
            // default (an empty key id, no plaintext) is refused by the
            // operation's own validation, as AWS refuses it.
            $($(#[$fm])* #[cfg_attr(feature = "uniffi", uniffi(default))] pub $field: $ty),*
        }
    };
}

macro_rules! response {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
        #[serde(rename_all = "PascalCase")]
        pub struct $name { $($(#[$fm])* pub $field: $ty),* }
    };
}

/// A tag as AWS writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub tag_key: String,
    pub tag_value: String,
}

impl Tag {
    pub fn new(k: impl Into<String>, v: impl Into<String>) -> Self {
        Tag {
            tag_key: k.into(),
            tag_value: v.into(),
        }
    }
}

request!(CreateKeyRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_usage: Option<KeyUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_spec: Option<KeySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<Origin>,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    multi_region: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<String>,
    #[serde(default)]
    bypass_policy_lockout_safety_check: bool,
});
response!(CreateKeyResponse {
    key_metadata: KeyMetadata,
});

request!(DescribeKeyRequest {
    key_id: String,
    #[serde(default)]
    grant_tokens: Vec<String>,
});
response!(DescribeKeyResponse {
    key_metadata: KeyMetadata,
});

request!(ListKeysRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
});
response!(KeyListEntry {
    key_id: String,
    key_arn: String,
});
response!(ListKeysResponse {
    keys: Vec<KeyListEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
});

request!(KeyIdRequest { key_id: String });

request!(UpdateKeyDescriptionRequest {
    key_id: String,
    description: String,
});

request!(TagResourceRequest {
    key_id: String,
    tags: Vec<Tag>,
});
request!(UntagResourceRequest {
    key_id: String,
    tag_keys: Vec<String>,
});
request!(ListResourceTagsRequest {
    key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
});
response!(ListResourceTagsResponse {
    tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
});

request!(CreateAliasRequest {
    alias_name: String,
    target_key_id: String,
});
request!(UpdateAliasRequest {
    alias_name: String,
    target_key_id: String,
});
request!(DeleteAliasRequest { alias_name: String });
request!(ListAliasesRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
});
response!(
    /// An alias as ListAliases answers it (the stored [`AliasEntry`] keeps
    /// its own, frozen, serialisation).
    AliasListEntry {
    alias_name: String,
    alias_arn: String,
    target_key_id: String,
    #[serde(rename = "CreationDate", with = "crate::shape::timestamp")]
    creation_date_ms: Millis,
    #[serde(rename = "LastUpdatedDate", with = "crate::shape::timestamp")]
    last_updated_date_ms: Millis,
});

impl From<&AliasEntry> for AliasListEntry {
    fn from(a: &AliasEntry) -> Self {
        AliasListEntry {
            alias_name: a.alias_name.clone(),
            alias_arn: a.alias_arn.clone(),
            target_key_id: a.target_key_id.clone(),
            creation_date_ms: a.creation_date_ms,
            last_updated_date_ms: a.last_updated_date_ms,
        }
    }
}

response!(ListAliasesResponse {
    aliases: Vec<AliasListEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
});

pub use crate::secret::SecretBytes;

request!(EncryptRequest {
    key_id: String,
    plaintext: SecretBytes,
    #[serde(default)]
    encryption_context: EncryptionContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption_algorithm: Option<EncryptionAlgorithm>,
    #[serde(default)]
    grant_tokens: Vec<String>,
    #[serde(default)]
    dry_run: bool,
});

response!(EncryptResponse {
    #[serde(with = "crate::shape::blob")]
    ciphertext_blob: Vec<u8>,
    key_id: String,
    encryption_algorithm: EncryptionAlgorithm,
    key_material_id: String,
});

request!(DecryptRequest {
    #[serde(default, with = "crate::shape::blob")]
    ciphertext_blob: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    #[serde(default)]
    encryption_context: EncryptionContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption_algorithm: Option<EncryptionAlgorithm>,
    #[serde(default)]
    grant_tokens: Vec<String>,
    #[serde(default)]
    dry_run: bool,
    /// With `dry_run`: `IGNORE_CIPHERTEXT` checks authorization only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    dry_run_modifiers: Vec<DryRunModifier>,
});

/// Decrypt's answer. `plaintext` is zeroized on drop and redacted in Debug.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    pub key_id: String,
    pub plaintext: Plaintext,
    pub encryption_algorithm: EncryptionAlgorithm,
    pub key_material_id: String,
}

request!(ReEncryptRequest {
    #[serde(default, with = "crate::shape::blob")]
    ciphertext_blob: Vec<u8>,
    #[serde(default)]
    source_encryption_context: EncryptionContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_key_id: Option<String>,
    destination_key_id: String,
    #[serde(default)]
    destination_encryption_context: EncryptionContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_encryption_algorithm: Option<EncryptionAlgorithm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    destination_encryption_algorithm: Option<EncryptionAlgorithm>,
    #[serde(default)]
    grant_tokens: Vec<String>,
    #[serde(default)]
    dry_run: bool,
    /// With `dry_run`: `IGNORE_CIPHERTEXT` checks authorization only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    dry_run_modifiers: Vec<DryRunModifier>,
});
response!(ReEncryptResponse {
    #[serde(with = "crate::shape::blob")]
    ciphertext_blob: Vec<u8>,
    source_key_id: String,
    key_id: String,
    source_encryption_algorithm: EncryptionAlgorithm,
    destination_encryption_algorithm: EncryptionAlgorithm,
    source_key_material_id: String,
    destination_key_material_id: String,
});

request!(GenerateDataKeyRequest {
    key_id: String,
    #[serde(default)]
    encryption_context: EncryptionContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    number_of_bytes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_spec: Option<DataKeySpec>,
    #[serde(default)]
    grant_tokens: Vec<String>,
    #[serde(default)]
    dry_run: bool,
});

/// GenerateDataKey's answer. `plaintext` is zeroized on drop.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse {
    #[serde(with = "crate::shape::blob")]
    pub ciphertext_blob: Vec<u8>,
    pub plaintext: Plaintext,
    pub key_id: String,
    pub key_material_id: String,
}

response!(GenerateDataKeyWithoutPlaintextResponse {
    #[serde(with = "crate::shape::blob")]
    ciphertext_blob: Vec<u8>,
    key_id: String,
    key_material_id: String,
});

request!(GenerateRandomRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    number_of_bytes: Option<u32>,
});

/// GenerateRandom's answer; the bytes are zeroized on drop.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomResponse {
    pub plaintext: Plaintext,
}

request!(ScheduleKeyDeletionRequest {
    key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_window_in_days: Option<u32>,
});
response!(ScheduleKeyDeletionResponse {
    key_id: String,
    #[serde(rename = "DeletionDate", default, with = "crate::shape::opt_timestamp", skip_serializing_if = "Option::is_none")]
    deletion_date_ms: Option<Millis>,
    key_state: KeyState,
    pending_window_in_days: u32,
});
response!(KeyIdResponse { key_id: String });

request!(EnableKeyRotationRequest {
    key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotation_period_in_days: Option<u32>,
});
response!(GetKeyRotationStatusResponse {
    key_id: String,
    key_rotation_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotation_period_in_days: Option<u32>,
    #[serde(rename = "NextRotationDate", default, with = "crate::shape::opt_timestamp", skip_serializing_if = "Option::is_none")]
    next_rotation_date_ms: Option<Millis>,
    #[serde(rename = "OnDemandRotationStartDate", default, with = "crate::shape::opt_timestamp", skip_serializing_if = "Option::is_none")]
    on_demand_rotation_start_date_ms: Option<Millis>,
});

request!(GetKeyLastUsageRequest { key_id: String });
response!(KeyLastUsageData {
    /// The AWS operation name of the last successful cryptographic call.
    operation: String,
    #[serde(rename = "Timestamp", with = "crate::shape::timestamp")]
    timestamp_ms: Millis,
    /// The call's event in Strongroom's audit log: its position (`seq`),
    /// in decimal (AWS: the CloudTrail event id).
    cloud_trail_event_id: String,
});
response!(GetKeyLastUsageResponse {
    /// The key id (not the ARN), as AWS answers it.
    key_id: String,
    #[serde(rename = "KeyCreationDate", with = "crate::shape::timestamp")]
    key_creation_date_ms: Millis,
    /// When this store began tracking last usage, or the key's creation
    /// if that is later.
    #[serde(rename = "TrackingStartDate", with = "crate::shape::timestamp")]
    tracking_start_date_ms: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_last_usage: Option<KeyLastUsageData>,
});

request!(ListKeyRotationsRequest {
    key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
    /// `ROTATIONS_ONLY` (default) or `ALL_KEY_MATERIAL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    include_key_material: Option<String>,
});
response!(RotationsListEntry {
    key_id: String,
    key_material_id: String,
    /// Symmetric EXTERNAL keys: the material's description, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_material_description: Option<String>,
    /// Symmetric EXTERNAL keys: whether the material is in the HSM now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    import_state: Option<ImportState>,
    key_material_state: KeyMaterialState,
    /// Symmetric EXTERNAL keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expiration_model: Option<ExpirationModel>,
    /// Symmetric EXTERNAL keys whose material expires.
    #[serde(rename = "ValidTo", default, with = "crate::shape::opt_timestamp", skip_serializing_if = "Option::is_none")]
    valid_to_ms: Option<Millis>,
    /// When the rotation that made this material current happened: absent
    /// for a key's first material and for material pending rotation.
    #[serde(rename = "RotationDate", default, with = "crate::shape::opt_timestamp", skip_serializing_if = "Option::is_none")]
    rotation_date_ms: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotation_type: Option<RotationType>,
});
response!(ListKeyRotationsResponse {
    rotations: Vec<RotationsListEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
});

/// Helper for building an encryption context from pairs.
pub fn context<K: Into<String>, V: Into<String>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> EncryptionContext {
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect::<BTreeMap<_, _>>()
}

// ------------------------------------------------------------ policies

request!(PutKeyPolicyRequest {
    key_id: String,
    /// Must be `default` (the only key policy name), or omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy_name: Option<String>,
    policy: String,
    #[serde(default)]
    bypass_policy_lockout_safety_check: bool,
});
request!(GetKeyPolicyRequest {
    key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy_name: Option<String>,
});
response!(GetKeyPolicyResponse {
    policy: String,
    policy_name: String,
});
request!(ListKeyPoliciesRequest {
    key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
});
response!(ListKeyPoliciesResponse {
    policy_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
});

// ------------------------------------------------------------ grants

request!(CreateGrantRequest {
    key_id: String,
    #[serde(default)]
    grantee_principal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retiring_principal: Option<String>,
    operations: Vec<GrantOperation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    constraints: Option<GrantConstraints>,
    #[serde(default)]
    grant_tokens: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default)]
    dry_run: bool,
});
response!(CreateGrantResponse {
    grant_token: String,
    grant_id: String,
});

request!(ListGrantsRequest {
    key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grantee_principal: Option<String>,
    #[serde(default)]
    grant_tokens: Vec<String>,
});
response!(GrantListEntry {
    key_id: String,
    grant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(rename = "CreationDate", with = "crate::shape::timestamp")]
    creation_date_ms: Millis,
    grantee_principal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retiring_principal: Option<String>,
    issuing_account: String,
    operations: Vec<GrantOperation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    constraints: Option<GrantConstraints>,
});
response!(ListGrantsResponse {
    grants: Vec<GrantListEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
});
request!(ListRetirableGrantsRequest {
    #[serde(default)]
    retiring_principal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
});
request!(RetireGrantRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant_id: Option<String>,
    #[serde(default)]
    dry_run: bool,
});
request!(RevokeGrantRequest {
    key_id: String,
    grant_id: String,
    #[serde(default)]
    dry_run: bool,
});

impl GrantListEntry {
    pub(crate) fn from_grant(g: &Grant, key_arn: String) -> Self {
        GrantListEntry {
            key_id: key_arn,
            grant_id: g.grant_id.clone(),
            name: g.name.clone(),
            creation_date_ms: g.creation_date_ms,
            grantee_principal: g.grantee_principal.clone(),
            retiring_principal: g.retiring_principal.clone(),
            issuing_account: g.issuing_account.clone(),
            operations: g.operations.clone(),
            constraints: g.constraints.clone(),
        }
    }
}

// ------------------------------------------------------------ identity policies

request!(PutIdentityPolicyRequest {
    principal_arn: String,
    policy_name: String,
    policy_document: String,
});
request!(IdentityPolicyRequest {
    principal_arn: String,
    policy_name: String,
});
response!(GetIdentityPolicyResponse {
    principal_arn: String,
    policy_name: String,
    policy_document: String,
});

// ------------------------------------------------------------ asymmetric and HMAC

request!(SignRequest {
    key_id: String,
    #[serde(with = "crate::shape::blob")]
    message: Vec<u8>,
    /// RAW (default) or DIGEST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_type: Option<MessageType>,
    #[serde(deserialize_with = "Option::deserialize", skip_serializing_if = "Option::is_none")]
    signing_algorithm: Option<SigningAlgorithm>,
    #[serde(default)]
    grant_tokens: Vec<String>,
    #[serde(default)]
    dry_run: bool,
});
response!(SignResponse {
    key_id: String,
    /// DER (ECDSA) or raw RSA signature.
    #[serde(with = "crate::shape::blob")]
    signature: Vec<u8>,
    signing_algorithm: SigningAlgorithm,
});
request!(VerifyRequest {
    key_id: String,
    #[serde(with = "crate::shape::blob")]
    message: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_type: Option<MessageType>,
    #[serde(with = "crate::shape::blob")]
    signature: Vec<u8>,
    #[serde(deserialize_with = "Option::deserialize", skip_serializing_if = "Option::is_none")]
    signing_algorithm: Option<SigningAlgorithm>,
    #[serde(default)]
    grant_tokens: Vec<String>,
    #[serde(default)]
    dry_run: bool,
});
response!(VerifyResponse {
    key_id: String,
    signature_valid: bool,
    signing_algorithm: SigningAlgorithm,
});

request!(GetPublicKeyRequest {
    key_id: String,
    #[serde(default)]
    grant_tokens: Vec<String>,
});
response!(GetPublicKeyResponse {
    key_id: String,
    /// DER SubjectPublicKeyInfo.
    #[serde(with = "crate::shape::blob")]
    public_key: Vec<u8>,
    key_spec: KeySpec,
    key_usage: KeyUsage,
    encryption_algorithms: Vec<EncryptionAlgorithm>,
    signing_algorithms: Vec<SigningAlgorithm>,
    key_agreement_algorithms: Vec<String>,
    /// ML-KEM keys: `ML_KEM` (absent for every other key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    encapsulation_algorithms: Vec<EncapsulationAlgorithm>,
});

request!(EncapsulateRequest {
    key_id: String,
    /// Must be `ML_KEM`.
    #[serde(deserialize_with = "Option::deserialize", skip_serializing_if = "Option::is_none")]
    encapsulation_algorithm: Option<EncapsulationAlgorithm>,
    #[serde(default)]
    grant_tokens: Vec<String>,
    #[serde(default)]
    dry_run: bool,
});
/// Encapsulate's answer. `shared_secret` is zeroized on drop and redacted
/// in Debug.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(rename_all = "PascalCase")]
pub struct EncapsulateResponse {
    pub key_id: String,
    /// The 32-byte shared secret.
    pub shared_secret: Plaintext,
    /// Its FIPS 203 ciphertext (768 / 1088 / 1568 bytes for ML_KEM_512 /
    /// 768 / 1024), for Decapsulate.
    #[serde(with = "crate::shape::blob")]
    pub shared_secret_ciphertext_blob: Vec<u8>,
    pub encapsulation_algorithm: EncapsulationAlgorithm,
}

request!(DecapsulateRequest {
    key_id: String,
    #[serde(with = "crate::shape::blob")]
    shared_secret_ciphertext_blob: Vec<u8>,
    /// Must be `ML_KEM`.
    #[serde(deserialize_with = "Option::deserialize", skip_serializing_if = "Option::is_none")]
    encapsulation_algorithm: Option<EncapsulationAlgorithm>,
    #[serde(default)]
    grant_tokens: Vec<String>,
    #[serde(default)]
    dry_run: bool,
});
/// Decapsulate's answer. `shared_secret` is zeroized on drop and redacted
/// in Debug.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(rename_all = "PascalCase")]
pub struct DecapsulateResponse {
    pub key_id: String,
    /// The 32-byte shared secret (FIPS 203 implicit rejection: a wrong or
    /// altered ciphertext of the right length gives a pseudo-random value,
    /// never an error).
    pub shared_secret: Plaintext,
    pub encapsulation_algorithm: EncapsulationAlgorithm,
}

request!(DeriveSharedSecretRequest {
    key_id: String,
    /// Must be `ECDH`.
    #[serde(deserialize_with = "Option::deserialize", skip_serializing_if = "Option::is_none")]
    key_agreement_algorithm: Option<String>,
    /// The peer's DER SubjectPublicKeyInfo.
    #[serde(with = "crate::shape::blob")]
    public_key: Vec<u8>,
    #[serde(default)]
    grant_tokens: Vec<String>,
    #[serde(default)]
    dry_run: bool,
});

/// DeriveSharedSecret's answer; the secret is zeroized on drop.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(rename_all = "PascalCase")]
pub struct DeriveSharedSecretResponse {
    pub key_id: String,
    pub shared_secret: Plaintext,
    pub key_agreement_algorithm: String,
    pub key_origin: Origin,
}

request!(GenerateMacRequest {
    key_id: String,
    #[serde(with = "crate::shape::blob")]
    message: Vec<u8>,
    #[serde(deserialize_with = "Option::deserialize", skip_serializing_if = "Option::is_none")]
    mac_algorithm: Option<MacAlgorithm>,
    #[serde(default)]
    grant_tokens: Vec<String>,
    #[serde(default)]
    dry_run: bool,
});
response!(GenerateMacResponse {
    key_id: String,
    #[serde(with = "crate::shape::blob")]
    mac: Vec<u8>,
    mac_algorithm: MacAlgorithm,
});
request!(VerifyMacRequest {
    key_id: String,
    #[serde(with = "crate::shape::blob")]
    message: Vec<u8>,
    #[serde(deserialize_with = "Option::deserialize", skip_serializing_if = "Option::is_none")]
    mac_algorithm: Option<MacAlgorithm>,
    #[serde(with = "crate::shape::blob")]
    mac: Vec<u8>,
    #[serde(default)]
    grant_tokens: Vec<String>,
    #[serde(default)]
    dry_run: bool,
});
response!(VerifyMacResponse {
    key_id: String,
    mac_valid: bool,
    mac_algorithm: MacAlgorithm,
});

request!(GenerateDataKeyPairRequest {
    key_id: String,
    #[serde(deserialize_with = "Option::deserialize", skip_serializing_if = "Option::is_none")]
    key_pair_spec: Option<DataKeyPairSpec>,
    #[serde(default)]
    encryption_context: EncryptionContext,
    #[serde(default)]
    grant_tokens: Vec<String>,
    #[serde(default)]
    dry_run: bool,
});

/// GenerateDataKeyPair's answer; the private key is zeroized on drop.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairResponse {
    #[serde(with = "crate::shape::blob")]
    pub private_key_ciphertext_blob: Vec<u8>,
    /// PKCS#8 DER.
    pub private_key_plaintext: Plaintext,
    /// DER SubjectPublicKeyInfo.
    #[serde(with = "crate::shape::blob")]
    pub public_key: Vec<u8>,
    pub key_id: String,
    pub key_pair_spec: DataKeyPairSpec,
    pub key_material_id: String,
}

response!(GenerateDataKeyPairWithoutPlaintextResponse {
    #[serde(with = "crate::shape::blob")]
    private_key_ciphertext_blob: Vec<u8>,
    #[serde(with = "crate::shape::blob")]
    public_key: Vec<u8>,
    key_id: String,
    key_pair_spec: DataKeyPairSpec,
    key_material_id: String,
});

// ------------------------------------------------------------ imported key material

request!(GetParametersForImportRequest {
    key_id: String,
    #[serde(deserialize_with = "Option::deserialize", skip_serializing_if = "Option::is_none")]
    wrapping_algorithm: Option<WrappingAlgorithm>,
    /// RSA_2048, RSA_3072 or RSA_4096 (SM2 is refused).
    #[serde(deserialize_with = "Option::deserialize", skip_serializing_if = "Option::is_none")]
    wrapping_key_spec: Option<WrappingKeySpec>,
});
response!(GetParametersForImportResponse {
    key_id: String,
    #[serde(with = "crate::shape::text_blob")]
    import_token: String,
    /// DER SubjectPublicKeyInfo of the RSA wrapping key.
    #[serde(with = "crate::shape::blob")]
    public_key: Vec<u8>,
    #[serde(rename = "ParametersValidTo", with = "crate::shape::timestamp")]
    parameters_valid_to_ms: Millis,
});
request!(ImportKeyMaterialRequest {
    key_id: String,
    #[serde(with = "crate::shape::text_blob")]
    import_token: String,
    #[serde(with = "crate::shape::blob")]
    encrypted_key_material: Vec<u8>,
    #[serde(rename = "ValidTo", default, with = "crate::shape::opt_timestamp", skip_serializing_if = "Option::is_none")]
    valid_to_ms: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expiration_model: Option<ExpirationModel>,
    /// Symmetric keys only: `NEW_KEY_MATERIAL` (the default for a key that
    /// never had material) or `EXISTING_KEY_MATERIAL` (the default after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    import_type: Option<ImportType>,
    /// Symmetric keys only: 0 to 256 of `a-zA-Z0-9:/_` whitespace `.-`;
    /// a re-import without one keeps the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_material_description: Option<String>,
    /// Symmetric keys only, with `EXISTING_KEY_MATERIAL`: the id (64 hex)
    /// of the material being imported again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_material_id: Option<String>,
});

request!(DeleteImportedKeyMaterialRequest {
    key_id: String,
    /// The material to delete (64 hex); the current one when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_material_id: Option<String>,
});

response!(
    /// ImportKeyMaterial's answer: the key's ARN and the id of the material
    /// imported (64 hex chars, the same on every re-import).
    ImportKeyMaterialResponse {
    key_id: String,
    key_material_id: String,
});
response!(
    /// DeleteImportedKeyMaterial's answer: the key's ARN and the id of the
    /// material deleted (absent when the key never had material).
    DeleteImportedKeyMaterialResponse {
    key_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_material_id: Option<String>,
});

// ------------------------------------------------------------ multi-Region keys

request!(ReplicateKeyRequest {
    key_id: String,
    replica_region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<String>,
    #[serde(default)]
    bypass_policy_lockout_safety_check: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
});
response!(ReplicateKeyResponse {
    replica_key_metadata: KeyMetadata,
    replica_policy: String,
    replica_tags: Vec<Tag>,
});
