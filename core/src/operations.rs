//! THE operation table: one row per operation Strongroom serves, and the
//! only place the operation list is written down.
//!
//! Each row names the AWS operation, the [`Kms`](crate::Kms) method that
//! implements it, its request and response types (in [`crate::api`]), the
//! IAM action its authorization evaluates, the key-state class its key
//! must be in (see [`crate::kms::check_state`]; `None` for operations on no
//! key), and whether it changes the store (`write`) or only reads (`read`).
//!
//! Everything else is derived from it: [`Operation`] (the list, as values),
//! the JSON dispatcher ([`crate::json::call`]), and every binding's
//! methods, type declarations and documentation (they expand the table with
//! [`for_each_operation!`] or read [`Operation::ALL`]; `tools/codegen`
//! writes the generated files from it). Adding an operation means: its row
//! here, its implementation in `kms/ops/`, its tests — nothing else by hand.
//!
//! The rows are grouped in the same order as the areas of `kms/ops/`.

/// Expand `$callback!` with every row of the table:
///
/// ```text
/// AwsName => method(RequestType) -> ResponseType, "kms:IamAction"|root, KeyStateClass|None, write|read;
/// ```
///
/// `root` in place of an action: only the account root may call it (no
/// policy grants it). ReEncrypt's action is the source key's
/// `kms:ReEncryptFrom`; the destination key is authorized for
/// `kms:ReEncryptTo` as well.
///
/// `()` as the response type means the operation answers with an empty
/// object. Bindings use this to generate one method per operation.
#[macro_export]
macro_rules! for_each_operation {
    ($callback:path) => {
        $callback! {
            // keys
            CreateKey => create_key(CreateKeyRequest) -> CreateKeyResponse, "kms:CreateKey", None, write;
            DescribeKey => describe_key(DescribeKeyRequest) -> DescribeKeyResponse, "kms:DescribeKey", Always, read;
            ListKeys => list_keys(ListKeysRequest) -> ListKeysResponse, "kms:ListKeys", None, read;
            UpdateKeyDescription => update_key_description(UpdateKeyDescriptionRequest) -> (), "kms:UpdateKeyDescription", Metadata, write;
            TagResource => tag_resource(TagResourceRequest) -> (), "kms:TagResource", Metadata, write;
            UntagResource => untag_resource(UntagResourceRequest) -> (), "kms:UntagResource", Metadata, write;
            ListResourceTags => list_resource_tags(ListResourceTagsRequest) -> ListResourceTagsResponse, "kms:ListResourceTags", Always, read;
            // lifecycle
            EnableKey => enable_key(KeyIdRequest) -> (), "kms:EnableKey", EnableDisable, write;
            DisableKey => disable_key(KeyIdRequest) -> (), "kms:DisableKey", EnableDisable, write;
            ScheduleKeyDeletion => schedule_key_deletion(ScheduleKeyDeletionRequest) -> ScheduleKeyDeletionResponse, "kms:ScheduleKeyDeletion", ScheduleDeletion, write;
            CancelKeyDeletion => cancel_key_deletion(KeyIdRequest) -> KeyIdResponse, "kms:CancelKeyDeletion", CancelDeletion, write;
            // aliases
            CreateAlias => create_alias(CreateAliasRequest) -> (), "kms:CreateAlias", Metadata, write;
            UpdateAlias => update_alias(UpdateAliasRequest) -> (), "kms:UpdateAlias", AliasTarget, write;
            DeleteAlias => delete_alias(DeleteAliasRequest) -> (), "kms:DeleteAlias", Always, write;
            ListAliases => list_aliases(ListAliasesRequest) -> ListAliasesResponse, "kms:ListAliases", None, read;
            // symmetric
            Encrypt => encrypt(EncryptRequest) -> EncryptResponse, "kms:Encrypt", Crypto, read;
            Decrypt => decrypt(DecryptRequest) -> DecryptResponse, "kms:Decrypt", Crypto, read;
            ReEncrypt => re_encrypt(ReEncryptRequest) -> ReEncryptResponse, "kms:ReEncryptFrom", Crypto, read;
            GenerateDataKey => generate_data_key(GenerateDataKeyRequest) -> GenerateDataKeyResponse, "kms:GenerateDataKey", Crypto, read;
            GenerateDataKeyWithoutPlaintext => generate_data_key_without_plaintext(GenerateDataKeyRequest) -> GenerateDataKeyWithoutPlaintextResponse, "kms:GenerateDataKeyWithoutPlaintext", Crypto, read;
            GenerateRandom => generate_random(GenerateRandomRequest) -> GenerateRandomResponse, "kms:GenerateRandom", None, read;
            // rotation
            EnableKeyRotation => enable_key_rotation(EnableKeyRotationRequest) -> (), "kms:EnableKeyRotation", RotationConfig, write;
            DisableKeyRotation => disable_key_rotation(KeyIdRequest) -> (), "kms:DisableKeyRotation", RotationConfig, write;
            GetKeyRotationStatus => get_key_rotation_status(KeyIdRequest) -> GetKeyRotationStatusResponse, "kms:GetKeyRotationStatus", RotationRead, read;
            RotateKeyOnDemand => rotate_key_on_demand(KeyIdRequest) -> KeyIdResponse, "kms:RotateKeyOnDemand", RotationConfig, write;
            ListKeyRotations => list_key_rotations(ListKeyRotationsRequest) -> ListKeyRotationsResponse, "kms:ListKeyRotations", MaterialRead, read;
            // last usage
            GetKeyLastUsage => get_key_last_usage(GetKeyLastUsageRequest) -> GetKeyLastUsageResponse, "kms:GetKeyLastUsage", Always, read;
            // imported key material
            GetParametersForImport => get_parameters_for_import(GetParametersForImportRequest) -> GetParametersForImportResponse, "kms:GetParametersForImport", ImportParams, write;
            ImportKeyMaterial => import_key_material(ImportKeyMaterialRequest) -> ImportKeyMaterialResponse, "kms:ImportKeyMaterial", ImportMaterial, write;
            DeleteImportedKeyMaterial => delete_imported_key_material(DeleteImportedKeyMaterialRequest) -> DeleteImportedKeyMaterialResponse, "kms:DeleteImportedKeyMaterial", Metadata, write;
            // asymmetric keys and HMAC
            Sign => sign(SignRequest) -> SignResponse, "kms:Sign", Crypto, read;
            Verify => verify(VerifyRequest) -> VerifyResponse, "kms:Verify", Crypto, read;
            GetPublicKey => get_public_key(GetPublicKeyRequest) -> GetPublicKeyResponse, "kms:GetPublicKey", Crypto, read;
            DeriveSharedSecret => derive_shared_secret(DeriveSharedSecretRequest) -> DeriveSharedSecretResponse, "kms:DeriveSharedSecret", Crypto, read;
            Encapsulate => encapsulate(EncapsulateRequest) -> EncapsulateResponse, "kms:Encapsulate", Crypto, read;
            Decapsulate => decapsulate(DecapsulateRequest) -> DecapsulateResponse, "kms:Decapsulate", Crypto, read;
            GenerateMac => generate_mac(GenerateMacRequest) -> GenerateMacResponse, "kms:GenerateMac", Crypto, read;
            VerifyMac => verify_mac(VerifyMacRequest) -> VerifyMacResponse, "kms:VerifyMac", Crypto, read;
            GenerateDataKeyPair => generate_data_key_pair(GenerateDataKeyPairRequest) -> GenerateDataKeyPairResponse, "kms:GenerateDataKeyPair", Crypto, read;
            GenerateDataKeyPairWithoutPlaintext => generate_data_key_pair_without_plaintext(GenerateDataKeyPairRequest) -> GenerateDataKeyPairWithoutPlaintextResponse, "kms:GenerateDataKeyPairWithoutPlaintext", Crypto, read;
            // key policies
            PutKeyPolicy => put_key_policy(PutKeyPolicyRequest) -> (), "kms:PutKeyPolicy", Always, write;
            GetKeyPolicy => get_key_policy(GetKeyPolicyRequest) -> GetKeyPolicyResponse, "kms:GetKeyPolicy", Always, read;
            ListKeyPolicies => list_key_policies(ListKeyPoliciesRequest) -> ListKeyPoliciesResponse, "kms:ListKeyPolicies", Always, read;
            // grants
            CreateGrant => create_grant(CreateGrantRequest) -> CreateGrantResponse, "kms:CreateGrant", CreateGrant, write;
            ListGrants => list_grants(ListGrantsRequest) -> ListGrantsResponse, "kms:ListGrants", Always, read;
            ListRetirableGrants => list_retirable_grants(ListRetirableGrantsRequest) -> ListGrantsResponse, "kms:ListRetirableGrants", None, read;
            RetireGrant => retire_grant(RetireGrantRequest) -> (), "kms:RetireGrant", Always, write;
            RevokeGrant => revoke_grant(RevokeGrantRequest) -> (), "kms:RevokeGrant", Always, write;
            // identity policies (Strongroom's stand-in for IAM)
            PutIdentityPolicy => put_identity_policy(PutIdentityPolicyRequest) -> (), root, None, write;
            GetIdentityPolicy => get_identity_policy(IdentityPolicyRequest) -> GetIdentityPolicyResponse, root, None, read;
            DeleteIdentityPolicy => delete_identity_policy(IdentityPolicyRequest) -> (), root, None, write;
        }
    };
}

macro_rules! operation_enum {
    ($($name:ident => $method:ident($req:ty) -> $resp:ty, $action:tt, $class:ident, $mode:ident;)*) => {
        /// Every operation in the table, as a value.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Operation {
            $(
                #[doc = concat!("`", stringify!($name), "`: [`Kms::", stringify!($method), "`](crate::Kms::", stringify!($method), ").")]
                $name,
            )*
        }

        impl Operation {
            /// Every row, in table order.
            pub const ALL: &'static [Operation] = &[$(Operation::$name),*];

            /// The AWS operation name (`X-Amz-Target: TrentService.<name>`).
            pub const fn name(self) -> &'static str {
                match self { $(Operation::$name => stringify!($name)),* }
            }

            /// The [`Kms`](crate::Kms) method (snake_case), as bindings name it.
            pub const fn method(self) -> &'static str {
                match self { $(Operation::$name => stringify!($method)),* }
            }

            /// The IAM action the operation's authorization evaluates;
            /// `None` for an operation only the account root may call.
            pub const fn action(self) -> Option<&'static str> {
                match self { $(Operation::$name => operation_enum!(@action $action)),* }
            }

            /// The key-state class the key must be in, or `None` for an
            /// operation on no key.
            pub const fn class(self) -> Option<$crate::kms::OpClass> {
                match self { $(Operation::$name => operation_enum!(@class $class)),* }
            }

            /// Whether a successful call changes the store.
            pub const fn mutates(self) -> bool {
                match self { $(Operation::$name => operation_enum!(@mode $mode)),* }
            }

            /// The request type's name in [`crate::api`].
            pub const fn request_type(self) -> &'static str {
                match self { $(Operation::$name => stringify!($req)),* }
            }

            /// The response type's name in [`crate::api`] (`()` for an
            /// empty answer).
            pub const fn response_type(self) -> &'static str {
                match self { $(Operation::$name => stringify!($resp)),* }
            }

            /// The operation with this AWS name.
            pub fn from_name(name: &str) -> Option<Operation> {
                match name { $(stringify!($name) => Some(Operation::$name),)* _ => None }
            }
        }
    };
    (@class None) => { None };
    (@class $c:ident) => { Some($crate::kms::OpClass::$c) };
    (@action root) => { None };
    (@action $a:literal) => { Some($a) };
    (@mode write) => { true };
    (@mode read) => { false };
}

for_each_operation!(operation_enum);

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for op in Operation::ALL {
            assert!(seen.insert(op.name()), "duplicate row {op}");
            assert_eq!(Operation::from_name(op.name()), Some(*op));
        }
        assert_eq!(Operation::from_name("encrypt"), None);
    }

    #[test]
    fn actions_follow_the_aws_names() {
        for op in Operation::ALL {
            let Some(action) = op.action() else {
                assert!(op.name().ends_with("IdentityPolicy"), "{op}");
                continue;
            };
            let want = match op {
                Operation::ReEncrypt => "kms:ReEncryptFrom".to_string(),
                _ => format!("kms:{}", op.name()),
            };
            assert_eq!(action, want, "{op}");
        }
    }
}
