//! GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial.

use crate::kms::*;

impl Kms {
    // ------------------------------------------------------------ imported key material

    pub(in crate::kms) fn external_key(
        state: &State,
        call: &CallContext,
        audit: &mut AuditInfo,
        action: &str,
        key_id: &str,
    ) -> Result<String> {
        let id = state.resolve(call, key_id)?;
        audit.key_arn = Some(call.key_arn(&id));
        state.authorize(
            call,
            action,
            Some(&id),
            Facts {
                request_key_id: Some(key_id),
                ..Default::default()
            },
            audit,
        )?;
        let rec = state.rec(&id);
        if rec.origin != Origin::External {
            return Err(Error::new(
                ErrorCode::UnsupportedOperation,
                format!(
                    "{} has origin {}; only EXTERNAL keys take imported material",
                    rec.arn, rec.origin
                ),
            ));
        }
        Ok(id)
    }

    /// An RSA wrapping key and an import token valid for 24 hours (by the
    /// injected clock), bound to this key.
    pub fn get_parameters_for_import(
        &self,
        req: GetParametersForImportRequest,
    ) -> Result<GetParametersForImportResponse> {
        // The token id and the RSA wrapping key are made before the state
        // lock (RSA-4096 takes seconds), in the order they always were.
        let fresh = match req.wrapping_key_spec {
            Some(
                spec @ (WrappingKeySpec::Rsa2048
                | WrappingKeySpec::Rsa3072
                | WrappingKeySpec::Rsa4096),
            ) if matches!(req.wrapping_algorithm, Some(a) if a != WrappingAlgorithm::RsaesPkcs1V15) => {
                Some(Pregenerated::new(&*self.shared.rng, spec.key_spec()))
            }
            _ => None,
        };
        self.call("GetParametersForImport", |state, call, audit| {
            let alg = req.wrapping_algorithm.ok_or_else(|| Error::validation("WrappingAlgorithm is required"))?;
            if alg == WrappingAlgorithm::RsaesPkcs1V15 {
                // AWS KMS stopped accepting it on 2023-10-10 (PKCS#1 v1.5
                // decryption is a padding oracle waiting to happen).
                return Err(Error::new(ErrorCode::UnsupportedOperation, "WrappingAlgorithm RSAES_PKCS1_V1_5 is no longer supported; use RSAES_OAEP_SHA_256, RSAES_OAEP_SHA_1, RSA_AES_KEY_WRAP_SHA_256 or RSA_AES_KEY_WRAP_SHA_1"));
            }
            let spec = req.wrapping_key_spec.ok_or_else(|| Error::validation("WrappingKeySpec is required"))?;
            if !matches!(spec, WrappingKeySpec::Rsa2048 | WrappingKeySpec::Rsa3072 | WrappingKeySpec::Rsa4096) {
                return Err(Error::validation("WrappingKeySpec must be RSA_2048, RSA_3072 or RSA_4096"));
            }
            let id = Self::external_key(state, call, audit, "kms:GetParametersForImport", &req.key_id)?;
            let rec = state.rec(&id);
            check_state(OpClass::ImportParams, rec.state, &rec.arn)?;
            let arn = rec.arn.clone();
            // Forget this key's expired tokens.
            let stale: Vec<String> = state.import_tokens.iter().filter(|(_, t)| t.expires_ms <= call.now).map(|(k, _)| k.clone()).collect();
            for t in stale {
                state.drop_import_token(&t);
            }
            let fresh = fresh.ok_or_else(|| Error::internal("the wrapping key was not generated"))??;
            let token_id = hex::encode(fresh.id_bytes);
            let (public_key, sealed) = state.hsm.new_wrapping_key(&token_id, fresh.key)?;
            let expires = call.now + IMPORT_TOKEN_VALIDITY_MS;
            let entry = ImportTokenEntry { key_id: id.clone(), wrapping_algorithm: alg, expires_ms: expires, sealed_wrapping_key: hex::encode(&sealed) };
            state.put_json(import_token_name(&token_id), &entry)?;
            state.import_tokens.insert(token_id.clone(), entry);
            Ok(GetParametersForImportResponse {
                key_id: arn,
                import_token: state.import_token_string(&token_id, &id),
                public_key,
                parameters_valid_to_ms: expires,
            })
        })
    }

    /// Import key material wrapped with a token's public key. Re-imports
    /// must be byte-identical; the key becomes Enabled (a key pending
    /// deletion stays pending deletion).
    pub fn import_key_material(
        &self,
        req: ImportKeyMaterialRequest,
    ) -> Result<ImportKeyMaterialResponse> {
        self.call("ImportKeyMaterial", |state, call, audit| {
            check_blob_len("EncryptedKeyMaterial", &req.encrypted_key_material)?;
            let model = req.expiration_model.unwrap_or(ExpirationModel::KeyMaterialExpires);
            match (model, req.valid_to_ms) {
                (ExpirationModel::KeyMaterialExpires, None) => {
                    return Err(Error::validation("ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES"))
                }
                (ExpirationModel::KeyMaterialExpires, Some(v)) if v <= call.now || v > call.now + MAX_IMPORT_VALIDITY_DAYS * MS_PER_DAY => {
                    return Err(Error::validation("ValidTo must be in the future and at most 365 days ahead"))
                }
                (ExpirationModel::KeyMaterialDoesNotExpire, Some(_)) => {
                    return Err(Error::validation("ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"))
                }
                _ => {}
            }
            let id = Self::external_key(state, call, audit, "kms:ImportKeyMaterial", &req.key_id)?;
            let rec = state.rec(&id).clone();
            check_state(OpClass::ImportMaterial, rec.state, &rec.arn)?;
            let token_id = state.parse_import_token(&req.import_token, &id)?;
            // A token this store issued for this key (its MAC checked) whose
            // entry is gone was swept when it expired or used by a
            // successful import: either way its wrapping key is destroyed.
            let entry = state.import_tokens.get(&token_id).cloned().ok_or_else(|| {
                Error::new(ErrorCode::ExpiredImportToken, "The import token has expired or was already used; call GetParametersForImport again")
            })?;
            if entry.key_id != id {
                return Err(Error::new(ErrorCode::InvalidImportToken, "The import token is not valid for this key"));
            }
            if entry.expires_ms <= call.now {
                return Err(Error::new(ErrorCode::ExpiredImportToken, "The import token has expired; call GetParametersForImport again"));
            }
            let expected = match rec.materials.first() {
                Some(m) => {
                    let mut b = [0u8; 32];
                    hex::decode_to_slice(&m.material_id, &mut b).map_err(|_| Error::internal("malformed material id"))?;
                    Some(b)
                }
                None => None,
            };
            let (handle, sealed) = state.hsm.import_material(&id, rec.key_spec, &token_id, entry.wrapping_algorithm, &req.encrypted_key_material, expected.as_ref())?;
            let hexid = handle.material_id_hex();
            state.batch.push(Mutation::Put { name: material_name(&id, &hexid), value: sealed });
            let answer = ImportKeyMaterialResponse { key_id: rec.arn.clone(), key_material_id: hexid.clone() };
            let mut rec = rec;
            if rec.materials.is_empty() {
                rec.materials.push(MaterialVersion { material_id: hexid, created_ms: call.now, rotation_type: None });
            }
            rec.import = Some(ImportState {
                present: true,
                valid_to_ms: req.valid_to_ms,
                expiration_model: Some(model),
            });
            if rec.state == KeyState::PendingImport {
                rec.state = KeyState::Enabled;
            }
            // The token is spent: its RSA private key goes at once.
            state.drop_import_token(&token_id);
            state.save_key(rec)?;
            Ok(answer)
        })
    }

    /// Delete imported material now: the key goes to PendingImport until
    /// the same material is imported again.
    pub fn delete_imported_key_material(
        &self,
        req: KeyIdRequest,
    ) -> Result<DeleteImportedKeyMaterialResponse> {
        self.call("DeleteImportedKeyMaterial", |state, call, audit| {
            let id = Self::external_key(
                state,
                call,
                audit,
                "kms:DeleteImportedKeyMaterial",
                &req.key_id,
            )?;
            let rec = state.rec(&id);
            // The key keeps the id of the material it had (a re-import must
            // be the same material), so the answer names it either way.
            let answer = DeleteImportedKeyMaterialResponse {
                key_id: rec.arn.clone(),
                key_material_id: rec.materials.first().map(|m| m.material_id.clone()),
            };
            if rec.state == KeyState::PendingImport
                || rec.import.as_ref().is_some_and(|i| !i.present)
            {
                return Ok(answer); // no material: no effect
            }
            check_state(OpClass::Metadata, rec.state, &rec.arn).or_else(|e| {
                // Allowed while pending deletion too (state unchanged).
                if rec.state == KeyState::PendingDeletion {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
            state.delete_imported_material(&id)?;
            Ok(answer)
        })
    }
}
