//! Request and response shapes, named after the AWS KMS API. Field names
//! serialise in AWS's PascalCase so JSON test vectors (and bindings) use the
//! same names as the AWS documentation. Bytes serialise as lowercase hex.
//! Dates are Unix milliseconds.

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
        #[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
        pub struct $name {
            // Every request member has a default, in Kotlin/Swift as in
            // JSON: callers name only the members they set.
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
    description: Option<String>,
    key_usage: Option<KeyUsage>,
    key_spec: Option<KeySpec>,
    origin: Option<Origin>,
    tags: Vec<Tag>,
    multi_region: bool,
    policy: Option<String>,
    bypass_policy_lockout_safety_check: bool,
});
response!(CreateKeyResponse {
    key_metadata: KeyMetadata
});

request!(DescribeKeyRequest { key_id: String, grant_tokens: Vec<String> });
response!(DescribeKeyResponse {
    key_metadata: KeyMetadata
});

request!(ListKeysRequest { limit: Option<u32>, marker: Option<String> });
response!(KeyListEntry {
    key_id: String,
    key_arn: String
});
response!(ListKeysResponse { keys: Vec<KeyListEntry>, next_marker: Option<String>, truncated: bool });

request!(KeyIdRequest { key_id: String });

request!(UpdateKeyDescriptionRequest {
    key_id: String,
    description: String
});

request!(TagResourceRequest { key_id: String, tags: Vec<Tag> });
request!(UntagResourceRequest { key_id: String, tag_keys: Vec<String> });
request!(ListResourceTagsRequest { key_id: String, limit: Option<u32>, marker: Option<String> });
response!(ListResourceTagsResponse { tags: Vec<Tag>, next_marker: Option<String>, truncated: bool });

request!(CreateAliasRequest {
    alias_name: String,
    target_key_id: String
});
request!(UpdateAliasRequest {
    alias_name: String,
    target_key_id: String
});
request!(DeleteAliasRequest { alias_name: String });
request!(ListAliasesRequest { key_id: Option<String>, limit: Option<u32>, marker: Option<String> });
response!(ListAliasesResponse { aliases: Vec<AliasEntry>, next_marker: Option<String>, truncated: bool });

pub use crate::secret::SecretBytes;

request!(EncryptRequest {
    key_id: String,
    plaintext: SecretBytes,
    encryption_context: EncryptionContext,
    encryption_algorithm: Option<EncryptionAlgorithm>,
    grant_tokens: Vec<String>,
    dry_run: bool,
});

response!(EncryptResponse {
    #[serde(with = "hex::serde")]
    ciphertext_blob: Vec<u8>,
    key_id: String,
    encryption_algorithm: EncryptionAlgorithm,
    key_material_id: String,
});

request!(DecryptRequest {
    #[serde(with = "hex::serde")]
    ciphertext_blob: Vec<u8>,
    key_id: Option<String>,
    encryption_context: EncryptionContext,
    encryption_algorithm: Option<EncryptionAlgorithm>,
    grant_tokens: Vec<String>,
    dry_run: bool,
});

/// Decrypt's answer. `plaintext` is zeroized on drop and redacted in Debug.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    pub key_id: String,
    pub plaintext: Plaintext,
    pub encryption_algorithm: EncryptionAlgorithm,
    pub key_material_id: String,
}

request!(ReEncryptRequest {
    #[serde(with = "hex::serde")]
    ciphertext_blob: Vec<u8>,
    source_encryption_context: EncryptionContext,
    source_key_id: Option<String>,
    destination_key_id: String,
    destination_encryption_context: EncryptionContext,
    source_encryption_algorithm: Option<EncryptionAlgorithm>,
    destination_encryption_algorithm: Option<EncryptionAlgorithm>,
    grant_tokens: Vec<String>,
    dry_run: bool,
});
response!(ReEncryptResponse {
    #[serde(with = "hex::serde")]
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
    encryption_context: EncryptionContext,
    number_of_bytes: Option<u32>,
    key_spec: Option<DataKeySpec>,
    grant_tokens: Vec<String>,
    dry_run: bool,
});

/// GenerateDataKey's answer. `plaintext` is zeroized on drop.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse {
    #[serde(with = "hex::serde")]
    pub ciphertext_blob: Vec<u8>,
    pub plaintext: Plaintext,
    pub key_id: String,
    pub key_material_id: String,
}

response!(GenerateDataKeyWithoutPlaintextResponse {
    #[serde(with = "hex::serde")]
    ciphertext_blob: Vec<u8>,
    key_id: String,
    key_material_id: String,
});

request!(GenerateRandomRequest { number_of_bytes: Option<u32> });

/// GenerateRandom's answer; the bytes are zeroized on drop.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomResponse {
    pub plaintext: Plaintext,
}

request!(ScheduleKeyDeletionRequest { key_id: String, pending_window_in_days: Option<u32> });
response!(ScheduleKeyDeletionResponse {
    key_id: String,
    deletion_date_ms: Option<Millis>,
    key_state: KeyState,
    pending_window_in_days: u32,
});
response!(KeyIdResponse { key_id: String });

request!(EnableKeyRotationRequest { key_id: String, rotation_period_in_days: Option<u32> });
response!(GetKeyRotationStatusResponse {
    key_id: String,
    key_rotation_enabled: bool,
    rotation_period_in_days: Option<u32>,
    next_rotation_date_ms: Option<Millis>,
    on_demand_rotation_start_date_ms: Option<Millis>,
});

request!(ListKeyRotationsRequest {
    key_id: String,
    limit: Option<u32>,
    marker: Option<String>,
    /// `ROTATIONS_ONLY` (default) or `ALL_KEY_MATERIAL`.
    include_key_material: Option<String>,
});
response!(RotationsListEntry {
    key_id: String,
    key_material_id: String,
    key_material_state: KeyMaterialState,
    rotation_date_ms: Millis,
    rotation_type: Option<RotationType>,
});
response!(ListKeyRotationsResponse { rotations: Vec<RotationsListEntry>, next_marker: Option<String>, truncated: bool });

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
    policy_name: Option<String>,
    policy: String,
    bypass_policy_lockout_safety_check: bool,
});
request!(GetKeyPolicyRequest { key_id: String, policy_name: Option<String> });
response!(GetKeyPolicyResponse {
    policy: String,
    policy_name: String
});
request!(ListKeyPoliciesRequest { key_id: String, limit: Option<u32>, marker: Option<String> });
response!(ListKeyPoliciesResponse { policy_names: Vec<String>, next_marker: Option<String>, truncated: bool });

// ------------------------------------------------------------ grants

request!(CreateGrantRequest {
    key_id: String,
    grantee_principal: String,
    retiring_principal: Option<String>,
    operations: Vec<GrantOperation>,
    constraints: Option<GrantConstraints>,
    grant_tokens: Vec<String>,
    name: Option<String>,
    dry_run: bool,
});
response!(CreateGrantResponse {
    grant_token: String,
    grant_id: String
});

request!(ListGrantsRequest {
    key_id: String,
    limit: Option<u32>,
    marker: Option<String>,
    grant_id: Option<String>,
    grantee_principal: Option<String>,
    grant_tokens: Vec<String>,
});
response!(GrantListEntry {
    key_id: String,
    grant_id: String,
    name: Option<String>,
    creation_date_ms: Millis,
    grantee_principal: String,
    retiring_principal: Option<String>,
    issuing_account: String,
    operations: Vec<GrantOperation>,
    constraints: Option<GrantConstraints>,
});
response!(ListGrantsResponse { grants: Vec<GrantListEntry>, next_marker: Option<String>, truncated: bool });
request!(ListRetirableGrantsRequest { retiring_principal: String, limit: Option<u32>, marker: Option<String> });
request!(RetireGrantRequest {
    grant_token: Option<String>,
    key_id: Option<String>,
    grant_id: Option<String>,
    dry_run: bool,
});
request!(RevokeGrantRequest {
    key_id: String,
    grant_id: String,
    dry_run: bool
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
    policy_document: String
});
request!(IdentityPolicyRequest {
    principal_arn: String,
    policy_name: String
});
response!(GetIdentityPolicyResponse {
    principal_arn: String,
    policy_name: String,
    policy_document: String
});

// ------------------------------------------------------------ asymmetric and HMAC

request!(SignRequest {
    key_id: String,
    #[serde(with = "hex::serde")]
    message: Vec<u8>,
    /// RAW (default) or DIGEST.
    message_type: Option<MessageType>,
    signing_algorithm: Option<SigningAlgorithm>,
    grant_tokens: Vec<String>,
    dry_run: bool,
});
response!(SignResponse {
    key_id: String,
    /// DER (ECDSA) or raw RSA signature.
    #[serde(with = "hex::serde")]
    signature: Vec<u8>,
    signing_algorithm: SigningAlgorithm,
});
request!(VerifyRequest {
    key_id: String,
    #[serde(with = "hex::serde")]
    message: Vec<u8>,
    message_type: Option<MessageType>,
    #[serde(with = "hex::serde")]
    signature: Vec<u8>,
    signing_algorithm: Option<SigningAlgorithm>,
    grant_tokens: Vec<String>,
    dry_run: bool,
});
response!(VerifyResponse {
    key_id: String,
    signature_valid: bool,
    signing_algorithm: SigningAlgorithm
});

request!(GetPublicKeyRequest { key_id: String, grant_tokens: Vec<String> });
response!(GetPublicKeyResponse {
    key_id: String,
    /// DER SubjectPublicKeyInfo.
    #[serde(with = "hex::serde")]
    public_key: Vec<u8>,
    key_spec: KeySpec,
    key_usage: KeyUsage,
    encryption_algorithms: Vec<EncryptionAlgorithm>,
    signing_algorithms: Vec<SigningAlgorithm>,
    key_agreement_algorithms: Vec<String>,
});

request!(DeriveSharedSecretRequest {
    key_id: String,
    /// Must be `ECDH`.
    key_agreement_algorithm: Option<String>,
    /// The peer's DER SubjectPublicKeyInfo.
    #[serde(with = "hex::serde")]
    public_key: Vec<u8>,
    grant_tokens: Vec<String>,
    dry_run: bool,
});

/// DeriveSharedSecret's answer; the secret is zeroized on drop.
#[derive(Debug, Serialize)]
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
    #[serde(with = "hex::serde")]
    message: Vec<u8>,
    mac_algorithm: Option<MacAlgorithm>,
    grant_tokens: Vec<String>,
    dry_run: bool,
});
response!(GenerateMacResponse {
    key_id: String,
    #[serde(with = "hex::serde")]
    mac: Vec<u8>,
    mac_algorithm: MacAlgorithm,
});
request!(VerifyMacRequest {
    key_id: String,
    #[serde(with = "hex::serde")]
    message: Vec<u8>,
    mac_algorithm: Option<MacAlgorithm>,
    #[serde(with = "hex::serde")]
    mac: Vec<u8>,
    grant_tokens: Vec<String>,
    dry_run: bool,
});
response!(VerifyMacResponse {
    key_id: String,
    mac_valid: bool,
    mac_algorithm: MacAlgorithm
});

request!(GenerateDataKeyPairRequest {
    key_id: String,
    key_pair_spec: Option<KeySpec>,
    encryption_context: EncryptionContext,
    grant_tokens: Vec<String>,
    dry_run: bool,
});

/// GenerateDataKeyPair's answer; the private key is zeroized on drop.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairResponse {
    #[serde(with = "hex::serde")]
    pub private_key_ciphertext_blob: Vec<u8>,
    /// PKCS#8 DER.
    pub private_key_plaintext: Plaintext,
    /// DER SubjectPublicKeyInfo.
    #[serde(with = "hex::serde")]
    pub public_key: Vec<u8>,
    pub key_id: String,
    pub key_pair_spec: KeySpec,
    pub key_material_id: String,
}

response!(GenerateDataKeyPairWithoutPlaintextResponse {
    #[serde(with = "hex::serde")]
    private_key_ciphertext_blob: Vec<u8>,
    #[serde(with = "hex::serde")]
    public_key: Vec<u8>,
    key_id: String,
    key_pair_spec: KeySpec,
    key_material_id: String,
});

// ------------------------------------------------------------ imported key material

request!(GetParametersForImportRequest {
    key_id: String,
    wrapping_algorithm: Option<WrappingAlgorithm>,
    /// RSA_2048, RSA_3072 or RSA_4096.
    wrapping_key_spec: Option<KeySpec>,
});
response!(GetParametersForImportResponse {
    key_id: String,
    import_token: String,
    /// DER SubjectPublicKeyInfo of the RSA wrapping key.
    #[serde(with = "hex::serde")]
    public_key: Vec<u8>,
    parameters_valid_to_ms: Millis,
});
request!(ImportKeyMaterialRequest {
    key_id: String,
    import_token: String,
    #[serde(with = "hex::serde")]
    encrypted_key_material: Vec<u8>,
    valid_to_ms: Option<Millis>,
    expiration_model: Option<ExpirationModel>,
});

// ------------------------------------------------------------ multi-Region keys

request!(ReplicateKeyRequest {
    key_id: String,
    replica_region: String,
    policy: Option<String>,
    bypass_policy_lockout_safety_check: bool,
    description: Option<String>,
    tags: Vec<Tag>,
});
response!(ReplicateKeyResponse {
    replica_key_metadata: KeyMetadata,
    replica_policy: String,
    replica_tags: Vec<Tag>,
});
