//! Key records, their enums (serialised with the exact AWS strings) and the
//! public metadata shapes. Nothing here holds secret bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::env::Millis;

pub mod algorithms;
pub mod caller;
pub use algorithms::{MacAlgorithm, MessageType, SigningAlgorithm};
pub use caller::Caller;

macro_rules! aws_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
        pub enum $name {
            $(#[serde(rename = $s)] $variant),+
        }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
            /// Parse the AWS string; `None` if unknown.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

aws_enum!(
    /// Key states (AWS `KeyState`).
    KeyState {
        Creating => "Creating",
        Enabled => "Enabled",
        Disabled => "Disabled",
        PendingDeletion => "PendingDeletion",
        PendingImport => "PendingImport",
        PendingReplicaDeletion => "PendingReplicaDeletion",
        Unavailable => "Unavailable",
        Updating => "Updating",
    }
);

aws_enum!(
    /// Key specs. This build creates every spec but `SM2` (see
    /// `asym::supported`), which is recognised so a request for it gets a
    /// precise error.
    KeySpec {
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        Rsa2048 => "RSA_2048",
        Rsa3072 => "RSA_3072",
        Rsa4096 => "RSA_4096",
        EccNistP256 => "ECC_NIST_P256",
        EccNistP384 => "ECC_NIST_P384",
        EccNistP521 => "ECC_NIST_P521",
        EccSecgP256k1 => "ECC_SECG_P256K1",
        EccNistEdwards25519 => "ECC_NIST_EDWARDS25519",
        Hmac224 => "HMAC_224",
        Hmac256 => "HMAC_256",
        Hmac384 => "HMAC_384",
        Hmac512 => "HMAC_512",
        MlDsa44 => "ML_DSA_44",
        MlDsa65 => "ML_DSA_65",
        MlDsa87 => "ML_DSA_87",
        Sm2 => "SM2",
        MlKem512 => "ML_KEM_512",
        MlKem768 => "ML_KEM_768",
        MlKem1024 => "ML_KEM_1024",
    }
);

aws_enum!(
    /// The key pair specs GenerateDataKeyPair takes (AWS `DataKeyPairSpec`).
    /// This build generates every pair but `SM2`, which is recognised so a
    /// request for it gets a precise error.
    DataKeyPairSpec {
        Rsa2048 => "RSA_2048",
        Rsa3072 => "RSA_3072",
        Rsa4096 => "RSA_4096",
        EccNistP256 => "ECC_NIST_P256",
        EccNistP384 => "ECC_NIST_P384",
        EccNistP521 => "ECC_NIST_P521",
        EccSecgP256k1 => "ECC_SECG_P256K1",
        Sm2 => "SM2",
        EccNistEdwards25519 => "ECC_NIST_EDWARDS25519",
        MlKem512 => "ML_KEM_512",
        MlKem768 => "ML_KEM_768",
        MlKem1024 => "ML_KEM_1024",
    }
);

impl DataKeyPairSpec {
    /// Whether this build generates pairs of this spec (all but `SM2`).
    pub fn generated(self) -> bool {
        self != DataKeyPairSpec::Sm2
    }

    /// The same spec as a [`KeySpec`] (every `DataKeyPairSpec` here is one).
    pub fn key_spec(self) -> KeySpec {
        match self {
            DataKeyPairSpec::Rsa2048 => KeySpec::Rsa2048,
            DataKeyPairSpec::Rsa3072 => KeySpec::Rsa3072,
            DataKeyPairSpec::Rsa4096 => KeySpec::Rsa4096,
            DataKeyPairSpec::EccNistP256 => KeySpec::EccNistP256,
            DataKeyPairSpec::EccNistP384 => KeySpec::EccNistP384,
            DataKeyPairSpec::EccNistP521 => KeySpec::EccNistP521,
            DataKeyPairSpec::EccSecgP256k1 => KeySpec::EccSecgP256k1,
            DataKeyPairSpec::Sm2 => KeySpec::Sm2,
            DataKeyPairSpec::EccNistEdwards25519 => KeySpec::EccNistEdwards25519,
            DataKeyPairSpec::MlKem512 => KeySpec::MlKem512,
            DataKeyPairSpec::MlKem768 => KeySpec::MlKem768,
            DataKeyPairSpec::MlKem1024 => KeySpec::MlKem1024,
        }
    }
}

aws_enum!(
    /// The specs of GetParametersForImport's wrapping key (AWS
    /// `WrappingKeySpec`). This build makes RSA wrapping keys; `SM2` is
    /// recognised so a request for it gets a precise error.
    WrappingKeySpec {
        Rsa2048 => "RSA_2048",
        Rsa3072 => "RSA_3072",
        Rsa4096 => "RSA_4096",
        Sm2 => "SM2",
    }
);

impl WrappingKeySpec {
    /// The same spec as a [`KeySpec`].
    pub fn key_spec(self) -> KeySpec {
        match self {
            WrappingKeySpec::Rsa2048 => KeySpec::Rsa2048,
            WrappingKeySpec::Rsa3072 => KeySpec::Rsa3072,
            WrappingKeySpec::Rsa4096 => KeySpec::Rsa4096,
            WrappingKeySpec::Sm2 => KeySpec::Sm2,
        }
    }
}

aws_enum!(
    /// AWS's deprecated `CustomerMasterKeySpec`: KeyMetadata still carries
    /// it, with the same value as `KeySpec` (AWS: "The KeySpec and
    /// CustomerMasterKeySpec fields have the same value"), but AWS froze the
    /// enum before ECC_NIST_EDWARDS25519 and ML_DSA_* existed, so a key of
    /// such a spec has no value for it and the member is omitted.
    CustomerMasterKeySpec {
        Rsa2048 => "RSA_2048",
        Rsa3072 => "RSA_3072",
        Rsa4096 => "RSA_4096",
        EccNistP256 => "ECC_NIST_P256",
        EccNistP384 => "ECC_NIST_P384",
        EccNistP521 => "ECC_NIST_P521",
        EccSecgP256k1 => "ECC_SECG_P256K1",
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        Hmac224 => "HMAC_224",
        Hmac256 => "HMAC_256",
        Hmac384 => "HMAC_384",
        Hmac512 => "HMAC_512",
        Sm2 => "SM2",
    }
);

impl CustomerMasterKeySpec {
    /// The deprecated name of `spec`, if AWS's deprecated enum has one.
    pub fn from_key_spec(spec: KeySpec) -> Option<Self> {
        Self::parse(spec.as_str())
    }
}

aws_enum!(
    KeyUsage {
        EncryptDecrypt => "ENCRYPT_DECRYPT",
        SignVerify => "SIGN_VERIFY",
        GenerateVerifyMac => "GENERATE_VERIFY_MAC",
        KeyAgreement => "KEY_AGREEMENT",
        EncapsulateDecapsulate => "ENCAPSULATE_DECAPSULATE",
    }
);

aws_enum!(
    Origin {
        AwsKms => "AWS_KMS",
        External => "EXTERNAL",
        AwsCloudhsm => "AWS_CLOUDHSM",
        ExternalKeyStore => "EXTERNAL_KEY_STORE",
    }
);

aws_enum!(
    KeyManager {
        Customer => "CUSTOMER",
        Aws => "AWS",
    }
);

aws_enum!(
    EncryptionAlgorithm {
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        Sm2Pke => "SM2PKE",
    }
);

aws_enum!(
    DataKeySpec {
        Aes256 => "AES_256",
        Aes128 => "AES_128",
    }
);

aws_enum!(
    /// Key encapsulation algorithms (AWS `EncapsulationAlgorithmSpec`):
    /// FIPS 203 ML-KEM.
    EncapsulationAlgorithm {
        MlKem => "ML_KEM",
    }
);

aws_enum!(
    /// How a dry run of Decrypt or ReEncrypt is checked (AWS
    /// `DryRunModifierType`). `IGNORE_CIPHERTEXT`: authorization only, the
    /// ciphertext is not read (the key comes from `KeyId` / `SourceKeyId`).
    DryRunModifier {
        IgnoreCiphertext => "IGNORE_CIPHERTEXT",
    }
);

aws_enum!(
    RotationType {
        Automatic => "AUTOMATIC",
        OnDemand => "ON_DEMAND",
    }
);

aws_enum!(
    /// A material's place in its key (ListKeyRotations): `CURRENT` encrypts
    /// and decrypts, `NON_CURRENT` only decrypts, `PENDING_ROTATION` is
    /// imported material waiting for RotateKeyOnDemand (not yet
    /// associated with the key: it can be deleted and replaced).
    /// `PENDING_MULTI_REGION_IMPORT_AND_ROTATION` is AWS's state for new
    /// material of a multi-Region key not yet imported into every replica.
    KeyMaterialState {
        Current => "CURRENT",
        NonCurrent => "NON_CURRENT",
        PendingRotation => "PENDING_ROTATION",
        PendingMultiRegionImportAndRotation => "PENDING_MULTI_REGION_IMPORT_AND_ROTATION",
    }
);

aws_enum!(
    /// ImportKeyMaterial: material new to the key (its first, or one for
    /// an on-demand rotation) or material it already has (a re-import).
    ImportType {
        NewKeyMaterial => "NEW_KEY_MATERIAL",
        ExistingKeyMaterial => "EXISTING_KEY_MATERIAL",
    }
);

aws_enum!(
    /// Whether one imported material is in the HSM now (ListKeyRotations).
    ImportState {
        Imported => "IMPORTED",
        PendingImport => "PENDING_IMPORT",
    }
);

/// One version of a key's material (non-secret facts about it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialVersion {
    /// 64 hex chars.
    pub material_id: String,
    pub created_ms: Millis,
    /// `None` for the material made at CreateKey (or first imported).
    pub rotation_type: Option<RotationType>,
    /// Origin EXTERNAL keys: this material's import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<MaterialImport>,
}

/// Rotation settings and counters of a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RotationSettings {
    pub enabled: bool,
    pub period_days: Option<u32>,
    pub next_rotation_ms: Option<Millis>,
    pub on_demand_count: u32,
    pub last_on_demand_ms: Option<Millis>,
}

/// The persistent key record (stored sealed as JSON; format in
/// `docs/formats/store.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: String,
    pub arn: String,
    pub account: String,
    pub region: String,
    pub created_ms: Millis,
    pub description: String,
    pub state: KeyState,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsage,
    pub origin: Origin,
    pub key_manager: KeyManager,
    pub multi_region: bool,
    pub deletion_date_ms: Option<Millis>,
    pub pending_window_days: Option<u32>,
    pub tags: BTreeMap<String, String>,
    /// Every material version, oldest first. The last one is current.
    pub materials: Vec<MaterialVersion>,
    pub rotation: RotationSettings,
    /// The key policy document (the authorization issue evaluates it).
    pub policy: Option<String>,
    /// Records written before keys held several imported materials kept
    /// the one material's import here; [`KeyRecord::upgrade`] moves it
    /// into that material. Always written as `null` now (records of keys
    /// without imports keep their bytes).
    #[serde(default)]
    pub import: Option<MaterialImport>,
    /// Origin EXTERNAL symmetric keys: imported material waiting for
    /// RotateKeyOnDemand (`PENDING_ROTATION`): in the HSM, never used to
    /// encrypt or decrypt, not yet associated with the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<MaterialVersion>,
    /// Multi-Region keys: roles and replication state.
    #[serde(default)]
    pub mrk: Option<MultiRegionState>,
}

/// A multi-Region key's view of its family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MultiRegionState {
    pub primary_region: String,
    /// Regions holding replicas (kept on the primary).
    pub replica_regions: Vec<String>,
    /// Primary: the last replication package sequence issued.
    /// Replica: the last sequence applied (older packages are replays).
    pub sequence: u64,
}

/// One imported material of an `EXTERNAL` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MaterialImport {
    /// Whether the material is currently present in the HSM (deleted or
    /// expired material is not, until the same material is imported again).
    pub present: bool,
    pub valid_to_ms: Option<Millis>,
    pub expiration_model: Option<ExpirationModel>,
    /// `KeyMaterialDescription` (symmetric keys), kept across re-imports
    /// that give none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

aws_enum!(
    ExpirationModel {
        KeyMaterialExpires => "KEY_MATERIAL_EXPIRES",
        KeyMaterialDoesNotExpire => "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
);

aws_enum!(
    WrappingAlgorithm {
        RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
        RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
        RsaesPkcs1V15 => "RSAES_PKCS1_V1_5",
        RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
    }
);

impl KeyRecord {
    pub fn current_material_id(&self) -> Option<&str> {
        self.materials.last().map(|m| m.material_id.as_str())
    }

    /// A record as read from the store, in today's form: the import state
    /// older records kept on the key moves into its (one) material.
    pub fn upgrade(&mut self) {
        if let Some(old) = self.import.take() {
            for m in &mut self.materials {
                m.import.get_or_insert_with(|| old.clone());
            }
        }
    }

    /// An EXTERNAL key lacking material it needs: never imported, or some
    /// material associated with it deleted or expired (AWS: a symmetric key
    /// needs all of its materials). Such a key is PendingImport (or stays
    /// PendingDeletion).
    pub fn missing_material(&self) -> bool {
        self.origin == Origin::External
            && (self.materials.is_empty()
                || self
                    .materials
                    .iter()
                    .any(|m| m.import.as_ref().is_some_and(|i| !i.present)))
    }

    /// The materials associated with the key, then the one pending rotation.
    pub fn all_materials(&self) -> impl Iterator<Item = &MaterialVersion> {
        self.materials.iter().chain(self.pending.iter())
    }

    /// The earliest expiry of present imported material associated with
    /// the key (KeyMetadata.ValidTo).
    pub fn earliest_expiry(&self) -> Option<Millis> {
        self.materials
            .iter()
            .filter_map(|m| m.import.as_ref())
            .filter(|i| i.present)
            .filter_map(|i| i.valid_to_ms)
            .min()
    }

    pub fn metadata(&self) -> KeyMetadata {
        KeyMetadata {
            aws_account_id: self.account.clone(),
            key_id: self.key_id.clone(),
            arn: self.arn.clone(),
            creation_date_ms: self.created_ms,
            enabled: self.state == KeyState::Enabled,
            description: self.description.clone(),
            key_usage: self.key_usage,
            key_state: self.state,
            deletion_date_ms: self.deletion_date_ms,
            origin: self.origin,
            key_manager: self.key_manager,
            key_spec: self.key_spec,
            customer_master_key_spec: CustomerMasterKeySpec::from_key_spec(self.key_spec),
            encryption_algorithms: match (self.key_usage, self.key_spec) {
                (KeyUsage::EncryptDecrypt, KeySpec::SymmetricDefault) => {
                    vec![EncryptionAlgorithm::SymmetricDefault]
                }
                (KeyUsage::EncryptDecrypt, _) => vec![
                    EncryptionAlgorithm::RsaesOaepSha1,
                    EncryptionAlgorithm::RsaesOaepSha256,
                ],
                _ => vec![],
            },
            signing_algorithms: if self.key_usage == KeyUsage::SignVerify {
                SigningAlgorithm::for_spec(self.key_spec).to_vec()
            } else {
                vec![]
            },
            mac_algorithms: MacAlgorithm::for_spec(self.key_spec).into_iter().collect(),
            key_agreement_algorithms: if self.key_usage == KeyUsage::KeyAgreement {
                vec!["ECDH".into()]
            } else {
                vec![]
            },
            encapsulation_algorithms: if self.key_usage == KeyUsage::EncapsulateDecapsulate {
                vec![EncapsulationAlgorithm::MlKem]
            } else {
                vec![]
            },
            multi_region: self.multi_region,
            pending_deletion_window_in_days: self.pending_window_days,
            current_key_material_id: self.current_material_id().map(str::to_string),
            valid_to_ms: self.earliest_expiry(),
            // Material that expires makes the key's material expire; else
            // the model of its current material (absent before any import).
            expiration_model: if self.earliest_expiry().is_some() {
                Some(ExpirationModel::KeyMaterialExpires)
            } else {
                self.materials
                    .last()
                    .and_then(|m| m.import.as_ref())
                    .and_then(|i| i.expiration_model)
            },
            multi_region_configuration: self.mrk.as_ref().map(|m| {
                let arn_in = |r: &str| {
                    self.arn
                        .replacen(&format!(":{}:", self.region), &format!(":{r}:"), 1)
                };
                MultiRegionConfiguration {
                    multi_region_key_type: if m.primary_region == self.region {
                        "PRIMARY".into()
                    } else {
                        "REPLICA".into()
                    },
                    primary_key: MultiRegionKey {
                        arn: arn_in(&m.primary_region),
                        region: m.primary_region.clone(),
                    },
                    replica_keys: m
                        .replica_regions
                        .iter()
                        .map(|r| MultiRegionKey {
                            arn: arn_in(r),
                            region: r.clone(),
                        })
                        .collect(),
                }
            }),
        }
    }
}

/// DescribeKey's `KeyMetadata`, in AWS's wire shape: dates are `Millis` in
/// Rust and epoch seconds on the wire (`CreationDate`, `DeletionDate`,
/// `ValidTo`), absent members are omitted, members in AWS's order (as
/// botocore's model lists them, which is the order `aws` prints them in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct KeyMetadata {
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    pub key_id: String,
    pub arn: String,
    #[serde(rename = "CreationDate", with = "crate::shape::timestamp")]
    pub creation_date_ms: Millis,
    pub enabled: bool,
    pub description: String,
    pub key_usage: KeyUsage,
    pub key_state: KeyState,
    #[serde(
        rename = "DeletionDate",
        default,
        with = "crate::shape::opt_timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub deletion_date_ms: Option<Millis>,
    /// Imported material: when it expires.
    #[serde(
        rename = "ValidTo",
        default,
        with = "crate::shape::opt_timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_to_ms: Option<Millis>,
    pub origin: Origin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<ExpirationModel>,
    pub key_manager: KeyManager,
    /// AWS's deprecated twin of `key_spec`; omitted for the specs its
    /// frozen enum lacks (see [`CustomerMasterKeySpec`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_master_key_spec: Option<CustomerMasterKeySpec>,
    pub key_spec: KeySpec,
    pub encryption_algorithms: Vec<EncryptionAlgorithm>,
    #[serde(default)]
    pub signing_algorithms: Vec<SigningAlgorithm>,
    #[serde(default)]
    pub key_agreement_algorithms: Vec<String>,
    /// ML-KEM keys: `ML_KEM` (absent for every other key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encapsulation_algorithms: Vec<EncapsulationAlgorithm>,
    pub multi_region: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_region_configuration: Option<MultiRegionConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<u32>,
    #[serde(default)]
    pub mac_algorithms: Vec<MacAlgorithm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_key_material_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct MultiRegionConfiguration {
    /// PRIMARY or REPLICA.
    pub multi_region_key_type: String,
    pub primary_key: MultiRegionKey,
    pub replica_keys: Vec<MultiRegionKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct MultiRegionKey {
    pub arn: String,
    pub region: String,
}

/// An alias record as stored (frozen serialisation: `CreationDateMs`,
/// `LastUpdatedDateMs`); ListAliases answers [`crate::api::AliasListEntry`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(rename_all = "PascalCase")]
pub struct AliasEntry {
    pub alias_name: String,
    pub alias_arn: String,
    pub target_key_id: String,
    pub creation_date_ms: Millis,
    pub last_updated_date_ms: Millis,
}

aws_enum!(
    /// Operations a grant can allow.
    GrantOperation {
        Decrypt => "Decrypt",
        Encrypt => "Encrypt",
        GenerateDataKey => "GenerateDataKey",
        GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
        ReEncryptFrom => "ReEncryptFrom",
        ReEncryptTo => "ReEncryptTo",
        Sign => "Sign",
        Verify => "Verify",
        GetPublicKey => "GetPublicKey",
        CreateGrant => "CreateGrant",
        RetireGrant => "RetireGrant",
        DescribeKey => "DescribeKey",
        GenerateDataKeyPair => "GenerateDataKeyPair",
        GenerateDataKeyPairWithoutPlaintext => "GenerateDataKeyPairWithoutPlaintext",
        GenerateMac => "GenerateMac",
        VerifyMac => "VerifyMac",
        DeriveSharedSecret => "DeriveSharedSecret",
        Encapsulate => "Encapsulate",
        Decapsulate => "Decapsulate",
    }
);

impl GrantOperation {
    /// Operations that take an encryption context (constraints apply).
    pub fn takes_context(self) -> bool {
        matches!(
            self,
            GrantOperation::Decrypt
                | GrantOperation::Encrypt
                | GrantOperation::GenerateDataKey
                | GrantOperation::GenerateDataKeyWithoutPlaintext
                | GrantOperation::ReEncryptFrom
                | GrantOperation::ReEncryptTo
                | GrantOperation::GenerateDataKeyPair
                | GrantOperation::GenerateDataKeyPairWithoutPlaintext
        )
    }
}

/// Encryption-context constraints of a grant. Keys match
/// case-insensitively, values case-sensitively (as in AWS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GrantConstraints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
}

/// A stored grant's constraints keep their frozen serialisation (an absent
/// member is written as `null`); the API omits absent members.
mod stored_constraints {
    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Frozen<'a> {
        encryption_context_subset: &'a Option<BTreeMap<String, String>>,
        encryption_context_equals: &'a Option<BTreeMap<String, String>>,
    }

    pub fn serialize<S: serde::Serializer>(
        v: &Option<GrantConstraints>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        v.as_ref()
            .map(|c| Frozen {
                encryption_context_subset: &c.encryption_context_subset,
                encryption_context_equals: &c.encryption_context_equals,
            })
            .serialize(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<GrantConstraints>, D::Error> {
        Option::<GrantConstraints>::deserialize(d)
    }
}

fn ctx_has(ctx: &BTreeMap<String, String>, k: &str, v: &str) -> bool {
    ctx.iter()
        .any(|(rk, rv)| rk.eq_ignore_ascii_case(k) && rv == v)
}

impl GrantConstraints {
    /// Does a request's context satisfy the constraints?
    pub fn allows(&self, ctx: &BTreeMap<String, String>) -> bool {
        if let Some(sub) = &self.encryption_context_subset {
            if !sub.iter().all(|(k, v)| ctx_has(ctx, k, v)) {
                return false;
            }
        }
        if let Some(eq) = &self.encryption_context_equals {
            if eq.len() != ctx.len() || !eq.iter().all(|(k, v)| ctx_has(ctx, k, v)) {
                return false;
            }
        }
        true
    }

    /// Is `self` at least as narrow as `parent` (every context `self`
    /// allows, `parent` allows too)?
    pub fn at_least_as_narrow_as(&self, parent: &GrantConstraints) -> bool {
        let covers = |mine: &BTreeMap<String, String>, theirs: &BTreeMap<String, String>| {
            theirs.iter().all(|(k, v)| ctx_has(mine, k, v))
        };
        if let Some(peq) = &parent.encryption_context_equals {
            return match &self.encryption_context_equals {
                Some(e) => e.len() == peq.len() && covers(e, peq),
                None => false,
            };
        }
        if let Some(psub) = &parent.encryption_context_subset {
            let sub_ok = self
                .encryption_context_subset
                .as_ref()
                .is_some_and(|s| covers(s, psub));
            let eq_ok = self
                .encryption_context_equals
                .as_ref()
                .is_some_and(|e| covers(e, psub));
            return sub_ok || eq_ok;
        }
        true
    }
}

/// A grant (stored sealed as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub key_id: String,
    pub grant_id: String,
    pub name: Option<String>,
    pub creation_date_ms: Millis,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    pub issuing_account: String,
    pub operations: Vec<GrantOperation>,
    #[serde(default, with = "stored_constraints")]
    pub constraints: Option<GrantConstraints>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as stores wrote it before keys held several imported
    /// materials: the one material's import state on the key.
    fn old_record(import: serde_json::Value) -> KeyRecord {
        let json = serde_json::json!({
            "key_id": "k", "arn": "arn:aws:kms:us-east-1:111122223333:key/k",
            "account": "111122223333", "region": "us-east-1", "created_ms": 1,
            "description": "", "state": "PendingImport", "key_spec": "SYMMETRIC_DEFAULT",
            "key_usage": "ENCRYPT_DECRYPT", "origin": "EXTERNAL", "key_manager": "CUSTOMER",
            "multi_region": false, "deletion_date_ms": null, "pending_window_days": null,
            "tags": {},
            "materials": [{"material_id": "ab".repeat(32), "created_ms": 1, "rotation_type": null}],
            "rotation": RotationSettings::default(), "policy": null,
            "import": import, "mrk": null,
        });
        let mut rec: KeyRecord = serde_json::from_value(json).unwrap();
        rec.upgrade();
        rec
    }

    #[test]
    fn old_records_move_their_import_into_the_material() {
        let rec = old_record(serde_json::json!({
            "present": false, "valid_to_ms": null, "expiration_model": "KEY_MATERIAL_EXPIRES"
        }));
        assert!(rec.import.is_none());
        assert_eq!(
            rec.materials[0].import,
            Some(MaterialImport {
                present: false,
                valid_to_ms: None,
                expiration_model: Some(ExpirationModel::KeyMaterialExpires),
                description: None,
            })
        );
        assert!(rec.missing_material());
        let rec = old_record(serde_json::json!({
            "present": true, "valid_to_ms": 99, "expiration_model": "KEY_MATERIAL_EXPIRES"
        }));
        assert!(!rec.missing_material());
        assert_eq!(rec.earliest_expiry(), Some(99));
        let md = rec.metadata();
        assert_eq!(
            (md.valid_to_ms, md.expiration_model),
            (Some(99), Some(ExpirationModel::KeyMaterialExpires))
        );
        // Written again, the record keeps the import on the material only.
        let v = serde_json::to_value(&rec).unwrap();
        assert_eq!(v["import"], serde_json::Value::Null);
        assert_eq!(v["materials"][0]["import"]["present"], true);
    }
}
