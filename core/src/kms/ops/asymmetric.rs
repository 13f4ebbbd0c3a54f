//! Sign, Verify, GetPublicKey, DeriveSharedSecret, GenerateMac, VerifyMac,
//! GenerateDataKeyPair(WithoutPlaintext).

use crate::kms::*;

impl Kms {
    // ------------------------------------------------------------ asymmetric and HMAC

    /// The preamble ([`State::key_for`]) plus the key usage check of an
    /// asymmetric/HMAC operation; returns the key id.
    pub(in crate::kms) fn asym_key(
        state: &State,
        call: &CallContext,
        audit: &mut AuditInfo,
        op: Operation,
        key_id: &str,
        usage: &[KeyUsage],
    ) -> Result<String> {
        let id = state.key_for(call, audit, op, key_id, Facts::default())?;
        let rec = state.rec(&id);
        if !usage.contains(&rec.key_usage) || rec.key_spec == KeySpec::SymmetricDefault {
            return Err(wrong_usage(rec, op.name()));
        }
        Ok(id)
    }

    pub(in crate::kms) fn check_message(msg: &[u8]) -> Result<()> {
        if msg.is_empty() || msg.len() > MAX_PLAINTEXT {
            return Err(Error::validation(format!(
                "Message must be 1 to {MAX_PLAINTEXT} bytes"
            )));
        }
        Ok(())
    }

    pub(in crate::kms) fn signing_alg(
        rec: &KeyRecord,
        alg: Option<SigningAlgorithm>,
    ) -> Result<SigningAlgorithm> {
        let alg = alg.ok_or_else(|| Error::validation("SigningAlgorithm is required"))?;
        if !SigningAlgorithm::for_spec(rec.key_spec).contains(&alg) {
            return Err(Error::new(
                ErrorCode::InvalidKeyUsage,
                format!(
                    "{} ({}) does not support signing algorithm {}",
                    rec.arn,
                    rec.key_spec,
                    alg.as_str()
                ),
            ));
        }
        Ok(alg)
    }

    pub fn sign(&self, req: SignRequest) -> Result<SignResponse> {
        self.call("Sign", |state, call, audit| {
            state.validate_grant_tokens(&req.grant_tokens)?;
            Self::check_message(&req.message)?;
            let mt = req.message_type.unwrap_or(MessageType::Raw);
            let id = Self::asym_key(
                state,
                call,
                audit,
                Operation::Sign,
                &req.key_id,
                &[KeyUsage::SignVerify],
            )?;
            let rec = state.rec(&id);
            let alg = Self::signing_alg(rec, req.signing_algorithm)?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let h = state.current_handle(rec)?;
            Ok(SignResponse {
                key_id: rec.arn.clone(),
                signature: state.hsm.sign(&h, alg, mt, &req.message)?,
                signing_algorithm: alg,
            })
        })
    }

    /// A signature that does not verify is `KMSInvalidSignatureException`,
    /// never a `false` result.
    pub fn verify(&self, req: VerifyRequest) -> Result<VerifyResponse> {
        self.call("Verify", |state, call, audit| {
            state.validate_grant_tokens(&req.grant_tokens)?;
            Self::check_message(&req.message)?;
            check_blob_len("Signature", &req.signature)?;
            let mt = req.message_type.unwrap_or(MessageType::Raw);
            let id = Self::asym_key(
                state,
                call,
                audit,
                Operation::Verify,
                &req.key_id,
                &[KeyUsage::SignVerify],
            )?;
            let rec = state.rec(&id);
            let alg = Self::signing_alg(rec, req.signing_algorithm)?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let h = state.current_handle(rec)?;
            if !state
                .hsm
                .verify(&h, alg, mt, &req.message, &req.signature)?
            {
                return Err(Error::new(
                    ErrorCode::KmsInvalidSignature,
                    format!("The signature does not verify with {}", rec.arn),
                ));
            }
            Ok(VerifyResponse {
                key_id: rec.arn.clone(),
                signature_valid: true,
                signing_algorithm: alg,
            })
        })
    }

    pub fn get_public_key(&self, req: GetPublicKeyRequest) -> Result<GetPublicKeyResponse> {
        self.call("GetPublicKey", |state, call, audit| {
            state.validate_grant_tokens(&req.grant_tokens)?;
            let id = state.key_for(
                call,
                audit,
                Operation::GetPublicKey,
                &req.key_id,
                Facts::default(),
            )?;
            let rec = state.rec(&id);
            if rec.key_spec == KeySpec::SymmetricDefault
                || rec.key_usage == KeyUsage::GenerateVerifyMac
            {
                return Err(Error::new(
                    ErrorCode::UnsupportedOperation,
                    format!(
                        "{} is a {} key and has no public key",
                        rec.arn, rec.key_spec
                    ),
                ));
            }
            let h = state.current_handle(rec)?;
            let md = rec.metadata();
            Ok(GetPublicKeyResponse {
                key_id: rec.arn.clone(),
                public_key: state.hsm.public_key(&h)?,
                key_spec: rec.key_spec,
                key_usage: rec.key_usage,
                encryption_algorithms: md.encryption_algorithms,
                signing_algorithms: md.signing_algorithms,
                key_agreement_algorithms: md.key_agreement_algorithms,
                encapsulation_algorithms: md.encapsulation_algorithms,
            })
        })
    }

    pub fn derive_shared_secret(
        &self,
        req: DeriveSharedSecretRequest,
    ) -> Result<DeriveSharedSecretResponse> {
        self.call("DeriveSharedSecret", |state, call, audit| {
            state.validate_grant_tokens(&req.grant_tokens)?;
            match req.key_agreement_algorithm.as_deref() {
                Some("ECDH") => {}
                _ => return Err(Error::validation("KeyAgreementAlgorithm must be ECDH")),
            }
            if req.public_key.is_empty() || req.public_key.len() > 8192 {
                return Err(Error::validation("PublicKey must be 1 to 8192 bytes"));
            }
            let id = Self::asym_key(
                state,
                call,
                audit,
                Operation::DeriveSharedSecret,
                &req.key_id,
                &[KeyUsage::KeyAgreement],
            )?;
            let rec = state.rec(&id);
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let h = state.current_handle(rec)?;
            Ok(DeriveSharedSecretResponse {
                key_id: rec.arn.clone(),
                shared_secret: state.hsm.derive_shared_secret(&h, &req.public_key)?,
                key_agreement_algorithm: "ECDH".into(),
                key_origin: rec.origin,
            })
        })
    }

    /// ML-KEM: a fresh 32-byte shared secret and its ciphertext, under the
    /// key's public key (FIPS 203 ML-KEM.Encaps).
    pub fn encapsulate(&self, req: EncapsulateRequest) -> Result<EncapsulateResponse> {
        self.call("Encapsulate", |state, call, audit| {
            state.validate_grant_tokens(&req.grant_tokens)?;
            let id = Self::asym_key(
                state,
                call,
                audit,
                Operation::Encapsulate,
                &req.key_id,
                &[KeyUsage::EncapsulateDecapsulate],
            )?;
            let rec = state.rec(&id);
            let alg = Self::encapsulation_algorithm(req.encapsulation_algorithm)?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let h = state.current_handle(rec)?;
            let (ct, shared_secret) = state.hsm.encapsulate(&h)?;
            Ok(EncapsulateResponse {
                key_id: rec.arn.clone(),
                shared_secret,
                shared_secret_ciphertext_blob: ct,
                encapsulation_algorithm: alg,
            })
        })
    }

    fn encapsulation_algorithm(
        alg: Option<EncapsulationAlgorithm>,
    ) -> Result<EncapsulationAlgorithm> {
        alg.ok_or_else(|| Error::validation("EncapsulationAlgorithm is required (ML_KEM)"))
    }

    /// ML-KEM: the shared secret of a ciphertext (FIPS 203 ML-KEM.Decaps,
    /// implicit rejection). A ciphertext of the wrong length for the key's
    /// spec is InvalidCiphertextException, as in AWS.
    pub fn decapsulate(&self, req: DecapsulateRequest) -> Result<DecapsulateResponse> {
        self.call("Decapsulate", |state, call, audit| {
            state.validate_grant_tokens(&req.grant_tokens)?;
            check_blob_len(
                "SharedSecretCiphertextBlob",
                &req.shared_secret_ciphertext_blob,
            )?;
            let id = Self::asym_key(
                state,
                call,
                audit,
                Operation::Decapsulate,
                &req.key_id,
                &[KeyUsage::EncapsulateDecapsulate],
            )?;
            let rec = state.rec(&id);
            let alg = Self::encapsulation_algorithm(req.encapsulation_algorithm)?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let h = state.current_handle(rec)?;
            Ok(DecapsulateResponse {
                key_id: rec.arn.clone(),
                shared_secret: state
                    .hsm
                    .decapsulate(&h, &req.shared_secret_ciphertext_blob)?,
                encapsulation_algorithm: alg,
            })
        })
    }

    pub fn generate_mac(&self, req: GenerateMacRequest) -> Result<GenerateMacResponse> {
        self.call("GenerateMac", |state, call, audit| {
            state.validate_grant_tokens(&req.grant_tokens)?;
            Self::check_message(&req.message)?;
            let alg = req
                .mac_algorithm
                .ok_or_else(|| Error::validation("MacAlgorithm is required"))?;
            let id = Self::asym_key(
                state,
                call,
                audit,
                Operation::GenerateMac,
                &req.key_id,
                &[KeyUsage::GenerateVerifyMac],
            )?;
            let rec = state.rec(&id);
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let h = state.current_handle(rec)?;
            Ok(GenerateMacResponse {
                key_id: rec.arn.clone(),
                mac: state.hsm.mac(&h, alg, &req.message)?,
                mac_algorithm: alg,
            })
        })
    }

    /// A MAC that does not match is `KMSInvalidMacException` (compared in
    /// constant time), never a `false` result.
    pub fn verify_mac(&self, req: VerifyMacRequest) -> Result<VerifyMacResponse> {
        self.call("VerifyMac", |state, call, audit| {
            state.validate_grant_tokens(&req.grant_tokens)?;
            Self::check_message(&req.message)?;
            check_blob_len("Mac", &req.mac)?;
            let alg = req
                .mac_algorithm
                .ok_or_else(|| Error::validation("MacAlgorithm is required"))?;
            let id = Self::asym_key(
                state,
                call,
                audit,
                Operation::VerifyMac,
                &req.key_id,
                &[KeyUsage::GenerateVerifyMac],
            )?;
            let rec = state.rec(&id);
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let h = state.current_handle(rec)?;
            if !state.hsm.verify_mac(&h, alg, &req.message, &req.mac)? {
                return Err(Error::new(
                    ErrorCode::KmsInvalidMac,
                    format!("The MAC does not verify with {}", rec.arn),
                ));
            }
            Ok(VerifyMacResponse {
                key_id: rec.arn.clone(),
                mac_valid: true,
                mac_algorithm: alg,
            })
        })
    }

    /// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext: one
    /// operation, authorized as `op`; the second only drops the private key.
    pub(in crate::kms) fn generate_data_key_pair_as(
        &self,
        op: Operation,
        req: GenerateDataKeyPairRequest,
    ) -> Result<GenerateDataKeyPairResponse> {
        // The pair is generated before the state lock (RSA-4096 takes
        // seconds); only the RNG is used. Not for a caller the key would
        // refuse (or a key that does not resolve): `call` then answers
        // with that error, before it needs the pair.
        let allowed = || {
            let facts = Facts {
                encryption_context: Some(&req.encryption_context),
                ..Default::default()
            };
            self.would_authorize(op, &req.key_id, facts)
        };
        let pair = match req.key_pair_spec {
            Some(spec) if spec.generated() && !req.dry_run && allowed() => {
                Some(AsymKey::generate(spec.key_spec(), &*self.shared.rng))
            }
            _ => None,
        };
        self.call(op.name(), |state, call, audit| {
            audit.context = Some(&req.encryption_context);
            let enc = canonical_encoding(&req.encryption_context)?;
            state.validate_grant_tokens(&req.grant_tokens)?;
            let spec = req
                .key_pair_spec
                .ok_or_else(|| Error::validation("KeyPairSpec is required"))?;
            if !spec.generated() {
                return Err(Error::new(
                    ErrorCode::UnsupportedOperation,
                    format!("KeyPairSpec {spec} is not supported by this version of Strongroom"),
                ));
            }
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
            let h = state.current_handle(rec)?;
            let pair = pair.ok_or_else(|| Error::internal("the key pair was not generated"))??;
            let (public_key, private, blob) = state.hsm.generate_data_key_pair(pair, &h, &enc)?;
            Ok(GenerateDataKeyPairResponse {
                private_key_ciphertext_blob: blob,
                private_key_plaintext: private,
                public_key,
                key_id: rec.arn.clone(),
                key_pair_spec: spec,
                key_material_id: rec.current_material_id().unwrap_or_default().to_string(),
            })
        })
    }

    /// A key pair whose private key is returned in plaintext (PKCS#8 DER)
    /// and encrypted under a symmetric KMS key with the encryption context.
    pub fn generate_data_key_pair(
        &self,
        req: GenerateDataKeyPairRequest,
    ) -> Result<GenerateDataKeyPairResponse> {
        self.generate_data_key_pair_as(Operation::GenerateDataKeyPair, req)
    }

    /// The same, without the plaintext private key: its copy is dropped
    /// here (and wiped) without being returned.
    pub fn generate_data_key_pair_without_plaintext(
        &self,
        req: GenerateDataKeyPairRequest,
    ) -> Result<GenerateDataKeyPairWithoutPlaintextResponse> {
        let r =
            self.generate_data_key_pair_as(Operation::GenerateDataKeyPairWithoutPlaintext, req)?;
        Ok(GenerateDataKeyPairWithoutPlaintextResponse {
            private_key_ciphertext_blob: r.private_key_ciphertext_blob,
            public_key: r.public_key,
            key_id: r.key_id,
            key_pair_spec: r.key_pair_spec,
            key_material_id: r.key_material_id,
        })
    }
}
