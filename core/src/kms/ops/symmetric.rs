//! Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext),
//! GenerateRandom (and RSA encryption, which shares Encrypt and Decrypt).

use crate::kms::*;

pub(in crate::kms) fn check_symmetric_encrypt(
    rec: &KeyRecord,
    alg: Option<EncryptionAlgorithm>,
) -> Result<()> {
    if rec.key_usage != KeyUsage::EncryptDecrypt || rec.key_spec != KeySpec::SymmetricDefault {
        return Err(Error::new(
            ErrorCode::InvalidKeyUsage,
            format!(
                "{} key usage is {} and key spec is {}; this operation needs a SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key",
                rec.arn, rec.key_usage, rec.key_spec
            ),
        ));
    }
    match alg {
        None | Some(EncryptionAlgorithm::SymmetricDefault) => Ok(()),
        Some(a) => Err(Error::new(
            ErrorCode::InvalidKeyUsage,
            format!("{} does not support encryption algorithm {a}", rec.arn),
        )),
    }
}

impl Kms {
    // ------------------------------------------------------------ crypto

    pub fn encrypt(&self, req: EncryptRequest) -> Result<EncryptResponse> {
        self.call("Encrypt", |state, call, audit| {
            audit.context = Some(&req.encryption_context);
            let enc = canonical_encoding(&req.encryption_context)?;
            state.validate_grant_tokens(&req.grant_tokens)?;
            if req.plaintext.is_empty() || req.plaintext.len() > MAX_PLAINTEXT {
                return Err(Error::validation(format!(
                    "Plaintext must be 1 to {MAX_PLAINTEXT} bytes"
                )));
            }
            let alg = req
                .encryption_algorithm
                .unwrap_or(EncryptionAlgorithm::SymmetricDefault);
            let facts = Facts {
                encryption_context: Some(&req.encryption_context),
                encryption_algorithm: Some(alg.as_str()),
                ..Default::default()
            };
            let id = state.key_for(call, audit, Operation::Encrypt, &req.key_id, facts)?;
            let rec = state.rec(&id);
            if is_rsa(rec) && rec.key_usage == KeyUsage::EncryptDecrypt {
                let (alg, oaep) =
                    check_rsa_encryption(rec, req.encryption_algorithm, audit.context)?;
                if req.dry_run {
                    return Err(dry_run_ok());
                }
                let handle = state.current_handle(rec)?;
                let ct = state
                    .hsm
                    .rsa_encrypt(&handle, req.plaintext.as_bytes(), oaep)?;
                return Ok(EncryptResponse {
                    ciphertext_blob: ct,
                    key_id: rec.arn.clone(),
                    encryption_algorithm: alg,
                    key_material_id: rec.current_material_id().unwrap_or_default().to_string(),
                });
            }
            check_symmetric_encrypt(rec, req.encryption_algorithm)?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let handle = state.current_handle(rec)?;
            let blob = state.hsm.encrypt(&handle, &enc, req.plaintext.as_bytes())?;
            Ok(EncryptResponse {
                ciphertext_blob: blob,
                key_id: rec.arn.clone(),
                encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
                key_material_id: rec.current_material_id().unwrap_or_default().to_string(),
            })
        })
    }

    /// Resolve and check the key that made `blob` (Decrypt / ReEncrypt source).
    #[allow(clippy::too_many_arguments)]
    pub(in crate::kms) fn source_key<'s>(
        state: &'s State,
        call: &CallContext,
        action: &str,
        blob_bytes: &'s [u8],
        key_id: Option<&str>,
        alg: Option<EncryptionAlgorithm>,
        ctx: &EncryptionContext,
        audit: &mut AuditInfo,
    ) -> Result<(blob::ParsedBlob<'s>, &'s KeyRecord)> {
        check_blob_len("CiphertextBlob", blob_bytes)?;
        let requested = match key_id {
            Some(k) => Some(state.resolve(call, k)?),
            None => None,
        };
        let parsed = blob::parse(blob_bytes)?;
        if let Some(r) = &requested {
            if r != parsed.key_id {
                audit.key_arn = Some(call.key_arn(r));
                return Err(Error::new(
                    ErrorCode::IncorrectKey,
                    format!(
                        "The key ID in the request does not identify the key that encrypted the ciphertext ({})",
                        call.key_arn(r)
                    ),
                ));
            }
        }
        let rec = state
            .keys
            .get(parsed.key_id)
            .ok_or_else(|| Error::not_found_arn(&call.key_arn(parsed.key_id)))?;
        Self::authorize_source_key(state, call, action, rec, key_id, alg, ctx, audit)?;
        // Material pending rotation is not the key's yet: it decrypts
        // nothing (its importer could otherwise forge blobs naming it).
        if rec
            .pending
            .as_ref()
            .is_some_and(|p| p.material_id == crate::hsm::hex_id(parsed.material_id))
        {
            return Err(Error::invalid_ciphertext());
        }
        Ok((parsed, rec))
    }

    /// The checks of `source_key` once the key is known: authorized for
    /// `action`, usable, symmetric.
    #[allow(clippy::too_many_arguments)]
    fn authorize_source_key(
        state: &State,
        call: &CallContext,
        action: &str,
        rec: &KeyRecord,
        key_id: Option<&str>,
        alg: Option<EncryptionAlgorithm>,
        ctx: &EncryptionContext,
        audit: &mut AuditInfo,
    ) -> Result<()> {
        audit.key_arn = Some(rec.arn.clone());
        state.authorize(
            call,
            action,
            Some(&rec.key_id),
            Facts {
                request_key_id: key_id,
                encryption_context: Some(ctx),
                encryption_algorithm: Some(
                    alg.unwrap_or(EncryptionAlgorithm::SymmetricDefault)
                        .as_str(),
                ),
                ..Default::default()
            },
            audit,
        )?;
        check_state(OpClass::Crypto, rec.state, &rec.arn)?;
        check_symmetric_encrypt(rec, alg)
    }

    /// A dry run with `IGNORE_CIPHERTEXT`: the source key comes from the
    /// request's key id alone (the ciphertext is not parsed), so the
    /// request must name it. `false` when the modifier is not in effect.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::kms) fn source_key_ignoring_ciphertext(
        state: &State,
        call: &CallContext,
        action: &str,
        (dry_run, modifiers): (bool, &[DryRunModifier]),
        (blob_bytes, key_id, key_member): (&[u8], Option<&str>, &str),
        alg: Option<EncryptionAlgorithm>,
        ctx: &EncryptionContext,
        audit: &mut AuditInfo,
    ) -> Result<bool> {
        if !(dry_run && modifiers.contains(&DryRunModifier::IgnoreCiphertext)) {
            return Ok(false);
        }
        // The request still has to be well formed.
        check_blob_len("CiphertextBlob", blob_bytes)?;
        let k = key_id.ok_or_else(|| {
            Error::validation(format!(
                "DryRunModifiers IGNORE_CIPHERTEXT needs {key_member}: the key is not read from the ciphertext"
            ))
        })?;
        let id = state.resolve(call, k)?;
        Self::authorize_source_key(
            state,
            call,
            action,
            state.rec(&id),
            Some(k),
            alg,
            ctx,
            audit,
        )?;
        Ok(true)
    }

    /// An RSA key as the key that opens a ciphertext (Decrypt, the source
    /// of ReEncrypt), resolved to `id` from the request's `requested`:
    /// authorized for `action`, usable, ENCRYPT_DECRYPT, the algorithm
    /// named and no context (`check_rsa_encryption`), a ciphertext of 1 to
    /// 6144 bytes.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::kms) fn rsa_source_key(
        state: &State,
        call: &CallContext,
        action: &str,
        (id, requested): (&str, &str),
        alg: Option<EncryptionAlgorithm>,
        ctx: &EncryptionContext,
        ciphertext: &[u8],
        audit: &mut AuditInfo,
    ) -> Result<(EncryptionAlgorithm, OaepHash)> {
        audit.key_arn = Some(state.rec(id).arn.clone());
        state.authorize(
            call,
            action,
            Some(id),
            Facts {
                request_key_id: Some(requested),
                encryption_context: Some(ctx),
                encryption_algorithm: alg.map(|a| a.as_str()),
                ..Default::default()
            },
            audit,
        )?;
        let rec = state.rec(id);
        check_state(OpClass::Crypto, rec.state, &rec.arn)?;
        if rec.key_usage != KeyUsage::EncryptDecrypt {
            return Err(wrong_usage(rec, "decrypt"));
        }
        let out = check_rsa_encryption(rec, alg, Some(ctx))?;
        check_blob_len("CiphertextBlob", ciphertext)?;
        Ok(out)
    }

    pub fn decrypt(&self, req: DecryptRequest) -> Result<DecryptResponse> {
        self.call("Decrypt", |state, call, audit| {
            audit.context = Some(&req.encryption_context);
            let enc = canonical_encoding(&req.encryption_context)?;
            state.validate_grant_tokens(&req.grant_tokens)?;
            if let Some(k) = req.key_id.as_deref() {
                let id = state.resolve(call, k)?;
                let rec = state.rec(&id);
                if is_rsa(rec) {
                    let (alg, oaep) = Self::rsa_source_key(
                        state,
                        call,
                        "kms:Decrypt",
                        (&id, k),
                        req.encryption_algorithm,
                        &req.encryption_context,
                        &req.ciphertext_blob,
                        audit,
                    )?;
                    let rec = state.rec(&id);
                    if req.dry_run {
                        return Err(dry_run_ok());
                    }
                    let handle = state.current_handle(rec)?;
                    let plaintext = state.hsm.rsa_decrypt(&handle, &req.ciphertext_blob, oaep)?;
                    return Ok(DecryptResponse {
                        key_id: rec.arn.clone(),
                        plaintext,
                        encryption_algorithm: alg,
                        key_material_id: rec.current_material_id().unwrap_or_default().to_string(),
                    });
                }
            }
            if Self::source_key_ignoring_ciphertext(
                state,
                call,
                "kms:Decrypt",
                (req.dry_run, &req.dry_run_modifiers),
                (&req.ciphertext_blob, req.key_id.as_deref(), "KeyId"),
                req.encryption_algorithm,
                &req.encryption_context,
                audit,
            )? {
                return Err(dry_run_ok());
            }
            let (parsed, rec) = Self::source_key(
                state,
                call,
                "kms:Decrypt",
                &req.ciphertext_blob,
                req.key_id.as_deref(),
                req.encryption_algorithm,
                &req.encryption_context,
                audit,
            )?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let plaintext = state.hsm.decrypt(&parsed, &enc)?;
            Ok(DecryptResponse {
                key_id: rec.arn.clone(),
                plaintext,
                encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
                key_material_id: crate::hsm::hex_id(parsed.material_id),
            })
        })
    }

    /// ReEncrypt between any two ENCRYPT_DECRYPT keys AWS allows: either
    /// side symmetric (blob and encryption context) or RSA (OAEP, the
    /// algorithm named, `SourceKeyId` required for an RSA source, no
    /// context). The plaintext stays inside the HSM.
    pub fn re_encrypt(&self, req: ReEncryptRequest) -> Result<ReEncryptResponse> {
        self.call("ReEncrypt", |state, call, audit| {
            audit.context = Some(&req.destination_encryption_context);
            state.validate_grant_tokens(&req.grant_tokens)?;
            let src_enc = canonical_encoding(&req.source_encryption_context)?;
            let dst_enc = canonical_encoding(&req.destination_encryption_context)?;
            // An RSA source is named by SourceKeyId (its ciphertext carries
            // no key reference); everything else is a Strongroom blob.
            let rsa_source = match req.source_key_id.as_deref() {
                Some(k) => {
                    let id = state.resolve(call, k)?;
                    is_rsa(state.rec(&id)).then_some((id, k))
                }
                None => None,
            };
            let (src_arn, src_alg, src_material, rsa_src) = match rsa_source {
                Some((id, k)) => {
                    let (alg, oaep) = Self::rsa_source_key(
                        state,
                        call,
                        "kms:ReEncryptFrom",
                        (&id, k),
                        req.source_encryption_algorithm,
                        &req.source_encryption_context,
                        &req.ciphertext_blob,
                        audit,
                    )?;
                    let rec = state.rec(&id);
                    let h = state.current_handle(rec)?;
                    let material = h.material_id_hex();
                    (rec.arn.clone(), alg, material, Some((h, oaep)))
                }
                None => (
                    String::new(),
                    EncryptionAlgorithm::SymmetricDefault,
                    String::new(),
                    None,
                ),
            };
            let ignored = rsa_src.is_none()
                && Self::source_key_ignoring_ciphertext(
                    state,
                    call,
                    "kms:ReEncryptFrom",
                    (req.dry_run, &req.dry_run_modifiers),
                    (
                        &req.ciphertext_blob,
                        req.source_key_id.as_deref(),
                        "SourceKeyId",
                    ),
                    req.source_encryption_algorithm,
                    &req.source_encryption_context,
                    audit,
                )?;
            let parsed_src = match (&rsa_src, ignored) {
                (Some(_), _) | (None, true) => None,
                (None, false) => Some(Self::source_key(
                    state,
                    call,
                    "kms:ReEncryptFrom",
                    &req.ciphertext_blob,
                    req.source_key_id.as_deref(),
                    req.source_encryption_algorithm,
                    &req.source_encryption_context,
                    audit,
                )?),
            };
            let dst_id = state.resolve(call, &req.destination_key_id)?;
            state.authorize(
                call,
                "kms:ReEncryptTo",
                Some(&dst_id),
                Facts {
                    request_key_id: Some(&req.destination_key_id),
                    encryption_context: Some(&req.destination_encryption_context),
                    encryption_algorithm: Some(
                        req.destination_encryption_algorithm
                            .unwrap_or(EncryptionAlgorithm::SymmetricDefault)
                            .as_str(),
                    ),
                    ..Default::default()
                },
                audit,
            )?;
            let dst = state.rec(&dst_id);
            check_state(OpClass::Crypto, dst.state, &dst.arn)?;
            let dst_rsa = if is_rsa(dst) && dst.key_usage == KeyUsage::EncryptDecrypt {
                Some(check_rsa_encryption(
                    dst,
                    req.destination_encryption_algorithm,
                    Some(&req.destination_encryption_context),
                )?)
            } else {
                check_symmetric_encrypt(dst, req.destination_encryption_algorithm)?;
                None
            };
            audit.key_arn = Some(dst.arn.clone());
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let handle = state.current_handle(dst)?;
            audit.source_key_id = match (&parsed_src, &rsa_src) {
                (Some((_, src)), _) => Some(src.key_id.clone()),
                _ => src_arn.rsplit_once(":key/").map(|(_, id)| id.to_string()),
            };
            let (source, src_arn, src_material) = match (&parsed_src, &rsa_src) {
                (Some((parsed, src)), _) => (
                    ReEncryptSource::Blob(parsed, &src_enc),
                    src.arn.clone(),
                    hex::encode(parsed.material_id),
                ),
                (None, Some((h, oaep))) => (
                    ReEncryptSource::Rsa(h, &req.ciphertext_blob, *oaep),
                    src_arn,
                    src_material,
                ),
                (None, None) => return Err(Error::internal("ReEncrypt has no source")),
            };
            let (dest, dst_alg) = match dst_rsa {
                Some((alg, oaep)) => (ReEncryptDest::Rsa(&handle, oaep), alg),
                None => (
                    ReEncryptDest::Blob(&handle, &dst_enc),
                    EncryptionAlgorithm::SymmetricDefault,
                ),
            };
            let blob = state.hsm.reencrypt(source, dest)?;
            Ok(ReEncryptResponse {
                ciphertext_blob: blob,
                source_key_id: src_arn,
                key_id: dst.arn.clone(),
                source_encryption_algorithm: src_alg,
                destination_encryption_algorithm: dst_alg,
                source_key_material_id: src_material,
                destination_key_material_id: handle.material_id_hex(),
            })
        })
    }

    pub(in crate::kms) fn data_key_len(
        number_of_bytes: Option<u32>,
        spec: Option<DataKeySpec>,
    ) -> Result<usize> {
        match (number_of_bytes, spec) {
            (Some(_), Some(_)) => Err(Error::validation(
                "Specify either KeySpec or NumberOfBytes, not both",
            )),
            (None, None) => Err(Error::validation("Specify either KeySpec or NumberOfBytes")),
            (Some(n), None) if (1..=MAX_DATA_KEY_BYTES).contains(&n) => Ok(n as usize),
            (Some(_), None) => Err(Error::validation(format!(
                "NumberOfBytes must be 1 to {MAX_DATA_KEY_BYTES}"
            ))),
            (None, Some(DataKeySpec::Aes256)) => Ok(32),
            (None, Some(DataKeySpec::Aes128)) => Ok(16),
        }
    }

    /// GenerateDataKey and GenerateDataKeyWithoutPlaintext: one operation,
    /// authorized as `op`; the second only drops the plaintext.
    pub(in crate::kms) fn generate_data_key_as(
        &self,
        op: Operation,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse> {
        self.call(op.name(), |state, call, audit| {
            audit.context = Some(&req.encryption_context);
            let enc = canonical_encoding(&req.encryption_context)?;
            state.validate_grant_tokens(&req.grant_tokens)?;
            let n = Self::data_key_len(req.number_of_bytes, req.key_spec)?;
            let facts = Facts {
                encryption_context: Some(&req.encryption_context),
                ..Default::default()
            };
            let id = state.key_for(call, audit, op, &req.key_id, facts)?;
            let rec = state.rec(&id);
            check_symmetric_encrypt(rec, None)?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let handle = state.current_handle(rec)?;
            let (plaintext, blob) = state.hsm.generate_data_key(&handle, &enc, n)?;
            Ok(GenerateDataKeyResponse {
                ciphertext_blob: blob,
                plaintext,
                key_id: rec.arn.clone(),
                key_material_id: handle.material_id_hex(),
            })
        })
    }

    pub fn generate_data_key(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse> {
        self.generate_data_key_as(Operation::GenerateDataKey, req)
    }

    /// The data key is generated and encrypted inside the HSM; its plaintext
    /// copy is dropped here (and wiped) without being returned.
    pub fn generate_data_key_without_plaintext(
        &self,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse> {
        let r = self.generate_data_key_as(Operation::GenerateDataKeyWithoutPlaintext, req)?;
        Ok(GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob: r.ciphertext_blob,
            key_id: r.key_id,
            key_material_id: r.key_material_id,
        })
    }

    pub fn generate_random(&self, req: GenerateRandomRequest) -> Result<GenerateRandomResponse> {
        self.call("GenerateRandom", |state, call, audit| {
            match req.number_of_bytes {
                Some(n) if (1..=MAX_RANDOM_BYTES).contains(&n) => {
                    state.authorize(call, "kms:GenerateRandom", None, Facts::default(), audit)?;
                    Ok(GenerateRandomResponse {
                        plaintext: Plaintext::new(state.hsm.random_bytes(n as usize)?),
                    })
                }
                _ => Err(Error::validation(format!(
                    "NumberOfBytes must be 1 to {MAX_RANDOM_BYTES}"
                ))),
            }
        })
    }
}

pub(in crate::kms) fn is_rsa(rec: &KeyRecord) -> bool {
    matches!(
        rec.key_spec,
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096
    )
}

pub(in crate::kms) fn wrong_usage(rec: &KeyRecord, what: &str) -> Error {
    Error::new(
        ErrorCode::InvalidKeyUsage,
        format!(
            "{} ({} {}) cannot be used to {what}",
            rec.arn, rec.key_spec, rec.key_usage
        ),
    )
}

/// RSA encryption: RSAES_OAEP_SHA_256 or RSAES_OAEP_SHA_1 must be named,
/// and asymmetric keys take no encryption context (as in AWS).
pub(in crate::kms) fn check_rsa_encryption(
    rec: &KeyRecord,
    alg: Option<EncryptionAlgorithm>,
    ctx: Option<&EncryptionContext>,
) -> Result<(EncryptionAlgorithm, OaepHash)> {
    let out = match alg {
        Some(a @ EncryptionAlgorithm::RsaesOaepSha256) => (a, OaepHash::Sha256),
        Some(a @ EncryptionAlgorithm::RsaesOaepSha1) => (a, OaepHash::Sha1),
        Some(other) => {
            return Err(Error::new(
                ErrorCode::InvalidKeyUsage,
                format!(
                    "{} supports RSAES_OAEP_SHA_1 and RSAES_OAEP_SHA_256, not {other}",
                    rec.arn
                ),
            ))
        }
        None => {
            return Err(Error::validation(
                "EncryptionAlgorithm is required for asymmetric keys (RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256)",
            ))
        }
    };
    if ctx.is_some_and(|c| !c.is_empty()) {
        return Err(Error::validation(
            "EncryptionContext is not supported with asymmetric keys",
        ));
    }
    Ok(out)
}
