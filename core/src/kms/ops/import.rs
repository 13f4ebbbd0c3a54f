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
            let symmetric = rec.key_spec == KeySpec::SymmetricDefault;
            if !symmetric && (req.import_type.is_some() || req.key_material_description.is_some() || req.key_material_id.is_some()) {
                return Err(Error::validation(format!(
                    "ImportType, KeyMaterialId and KeyMaterialDescription are for symmetric encryption keys only: a {} key holds one key material, imported again as it is",
                    rec.key_spec
                )));
            }
            if let Some(d) = &req.key_material_description {
                check_material_description(d)?;
            }
            let named = req.key_material_id.as_deref().map(material_id_bytes).transpose()?;
            let ids = rec.all_materials().map(|m| material_handle(&id, &m.material_id).map(|h| h.material_id)).collect::<Result<Vec<_>>>()?;
            let import_type = req.import_type.unwrap_or(if ids.is_empty() { ImportType::NewKeyMaterial } else { ImportType::ExistingKeyMaterial });
            if rec.mrk.as_ref().is_some_and(|m| m.primary_region != rec.region) {
                // A replica takes its primary's material, as AWS has it.
                if ids.is_empty() {
                    return Err(Error::new(ErrorCode::KmsInvalidState, format!(
                        "{} is a multi-Region replica whose primary had no key material when it was last replicated here: import into the primary first",
                        rec.arn
                    )));
                }
                if import_type == ImportType::NewKeyMaterial {
                    return Err(Error::new(ErrorCode::UnsupportedOperation, format!(
                        "{} is a multi-Region replica: import new key material into its primary Region key; a replica takes the primary's material with EXISTING_KEY_MATERIAL",
                        rec.arn
                    )));
                }
            }
            let check = match import_type {
                ImportType::NewKeyMaterial => {
                    if named.is_some() {
                        return Err(Error::validation("KeyMaterialId cannot be given with ImportType NEW_KEY_MATERIAL"));
                    }
                    if !rec.materials.is_empty() {
                        if let Some(p) = &rec.pending {
                            return Err(Error::new(ErrorCode::KmsInvalidState, format!(
                                "{} already has key material {} pending rotation: rotate to it with RotateKeyOnDemand, or delete it with DeleteImportedKeyMaterial, before importing other new key material",
                                rec.arn, p.material_id
                            )));
                        }
                    }
                    MaterialCheck::New { not: &ids }
                }
                ImportType::ExistingKeyMaterial => {
                    if ids.is_empty() {
                        return Err(Error::new(ErrorCode::IncorrectKeyMaterial, format!(
                            "{} has no key material to import again: import its first key material with ImportType NEW_KEY_MATERIAL",
                            rec.arn
                        )));
                    }
                    match &named {
                        Some(n) if !ids.contains(n) => {
                            return Err(Error::new(ErrorCode::NotFound, format!(
                                "key material {} is not associated with {}",
                                req.key_material_id.as_deref().unwrap_or_default(), rec.arn
                            )))
                        }
                        Some(n) => MaterialCheck::Existing(std::slice::from_ref(n)),
                        None => MaterialCheck::Existing(&ids),
                    }
                }
            };
            let (handle, sealed) = state.hsm.import_material(&id, rec.key_spec, &token_id, entry.wrapping_algorithm, &req.encrypted_key_material, check)?;
            let hexid = handle.material_id_hex();
            state.batch.push(Mutation::Put { name: material_name(&id, &hexid), value: sealed });
            let answer = ImportKeyMaterialResponse { key_id: rec.arn.clone(), key_material_id: hexid.clone() };
            let mut rec = rec;
            let fresh = |description: Option<String>| MaterialImport {
                present: true,
                valid_to_ms: req.valid_to_ms,
                expiration_model: Some(model),
                description,
            };
            match rec.materials.iter_mut().chain(rec.pending.iter_mut()).find(|m| m.material_id == hexid) {
                // A re-import: the material is back, with this import's expiry.
                Some(m) => {
                    let description = req.key_material_description.clone().or_else(|| m.import.take().and_then(|i| i.description));
                    m.import = Some(fresh(description));
                }
                None => {
                    let m = MaterialVersion {
                        material_id: hexid,
                        created_ms: call.now,
                        rotation_type: None,
                        import: Some(fresh(req.key_material_description.clone())),
                    };
                    if rec.materials.is_empty() {
                        rec.materials.push(m);
                    } else {
                        rec.pending = Some(m);
                    }
                }
            }
            if rec.state == KeyState::PendingImport && !rec.missing_material() {
                rec.state = KeyState::Enabled;
            }
            // The token is spent: its RSA private key goes at once.
            state.drop_import_token(&token_id);
            state.save_key(rec)?;
            // A primary's replicas learn which material they must import.
            state.mark_mrk_dirty(&id);
            Ok(answer)
        })
    }

    /// Delete one imported material now (`KeyMaterialId`, else the
    /// current one). Material associated with the key makes it
    /// PendingImport until the same material is imported again; material
    /// pending rotation is simply gone.
    pub fn delete_imported_key_material(
        &self,
        req: DeleteImportedKeyMaterialRequest,
    ) -> Result<DeleteImportedKeyMaterialResponse> {
        self.call("DeleteImportedKeyMaterial", |state, call, audit| {
            if let Some(m) = &req.key_material_id {
                material_id_bytes(m)?;
            }
            let id = Self::external_key(
                state,
                call,
                audit,
                "kms:DeleteImportedKeyMaterial",
                &req.key_id,
            )?;
            let rec = state.rec(&id);
            let target = match &req.key_material_id {
                Some(m) => Some(
                    rec.all_materials()
                        .find(|v| &v.material_id == m)
                        .ok_or_else(|| {
                            Error::new(
                                ErrorCode::NotFound,
                                format!("key material {m} is not associated with {}", rec.arn),
                            )
                        })?,
                ),
                None => rec.materials.last(),
            };
            // A key keeps the id of material it had (a re-import must be the
            // same material), so the answer names it either way.
            let answer = DeleteImportedKeyMaterialResponse {
                key_id: rec.arn.clone(),
                key_material_id: target.map(|m| m.material_id.clone()),
            };
            let Some(target) = target.filter(|m| m.import.as_ref().is_none_or(|i| i.present))
            else {
                return Ok(answer); // no material, or already deleted: no effect
            };
            let target = target.material_id.clone();
            check_state(OpClass::Metadata, rec.state, &rec.arn).or_else(|e| {
                // Allowed while pending deletion too (state unchanged).
                if rec.state == KeyState::PendingDeletion {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
            state.delete_imported_material(&id, &target)?;
            Ok(answer)
        })
    }
}

/// A `KeyMaterialId` in a request (64 lowercase hex, else
/// ValidationException), as bytes.
pub(in crate::kms) fn material_id_bytes(hexid: &str) -> Result<[u8; 32]> {
    let mut b = [0u8; 32];
    if hexid.len() != 64
        || !hexid
            .bytes()
            .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(Error::validation(
            "KeyMaterialId must be 64 lowercase hexadecimal characters",
        ));
    }
    hex::decode_to_slice(hexid, &mut b).map_err(|_| {
        Error::validation("KeyMaterialId must be 64 lowercase hexadecimal characters")
    })?;
    Ok(b)
}

/// `KeyMaterialDescription`: 1 to 256 characters of a-z, A-Z, 0-9, `:`,
/// `/`, `_`, `.`, `-` and whitespace (AWS's pattern).
fn check_material_description(d: &str) -> Result<()> {
    let ok = (1..=256).contains(&d.chars().count())
        && d.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || c.is_ascii_whitespace()
                || matches!(c, ':' | '/' | '_' | '.' | '-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "KeyMaterialDescription must be 1 to 256 characters of a-z, A-Z, 0-9, ':', '/', '_', '.', '-' and whitespace",
        ))
    }
}
