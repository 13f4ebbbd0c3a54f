//! SeedKey: the account root's path to a key with a chosen key id and,
//! for tests only, chosen key material (the seed file, `crate::seed`).
//!
//! Not an AWS operation: it is in no operation table (`operations.rs`), so
//! the JSON layer, the bindings and the HTTP server cannot reach it; only
//! Rust code holding a handle acting as the account root can.

use crate::hsm::ChosenKey;
use crate::kms::*;
use crate::secret::SecretBytes;

/// A key for [`Kms::seed_key`].
#[derive(Debug, Clone)]
pub struct SeedKeyRequest {
    /// The chosen key id: a lowercase hyphenated UUID, or `mrk-` and 32
    /// lowercase hex digits for a multi-Region key.
    pub key_id: String,
    pub description: String,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsage,
    /// The key policy (the default policy when `None`).
    pub policy: Option<String>,
    pub bypass_policy_lockout_safety_check: bool,
    pub tags: Vec<Tag>,
    /// Automatic rotation with this period in days (symmetric keys).
    pub rotation_period_days: Option<u32>,
    /// Multi-Region keys only (`mrk-` ids): the family's regions.
    pub multi_region: Option<SeedMultiRegion>,
    pub material: SeedMaterial,
}

/// Where a seeded multi-Region key lives: this store's region must be the
/// primary region or one of the replica regions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedMultiRegion {
    pub primary_region: String,
    pub replica_regions: Vec<String>,
}

/// Where a seeded key's material comes from.
#[derive(Debug, Clone)]
pub enum SeedMaterial {
    /// Generated in the HSM from the KMS's random source: `versions`
    /// material versions (more than one only for symmetric keys: a rotation
    /// history), the last one current. Differs in every store.
    Generated { versions: u32 },
    /// INSECURE, for tests: exactly these bytes, oldest version first, the
    /// last one current (32 raw bytes for SYMMETRIC_DEFAULT, the HMAC key
    /// for HMAC_*, PKCS#8 DER for RSA and ECC keys). Every store seeded with
    /// the same bytes holds the same material under the same material ids:
    /// ciphertexts, MACs and signatures of one verify in the others.
    Chosen(Vec<SecretBytes>),
}

/// What [`Kms::seed_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedOutcome {
    /// The key did not exist and was created.
    Created,
    /// A key with this id and the same spec, usage, multi-Region role and
    /// material was already there: nothing changed (its description,
    /// policy, tags, state and rotation are left as they are now).
    Unchanged,
}

/// Is `id` a key id AWS could have made: a lowercase hyphenated UUID, or
/// `mrk-` and 32 lowercase hex digits when `multi_region`?
fn valid_chosen_key_id(id: &str, multi_region: bool) -> bool {
    if multi_region {
        id.strip_prefix("mrk-").is_some_and(|h| {
            h.len() == 32
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    } else {
        uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id)
    }
}

impl Kms {
    /// Create a key with a chosen key id (and, for tests, chosen material)
    /// unless an identical one exists: the seed file's primitive
    /// (`crate::seed`). Account root only; audited as `SeedKey`; no
    /// operation table names it, so no request reaches it.
    ///
    /// Idempotent: when a key with this id exists with the same spec,
    /// usage, origin, multi-Region role and (for chosen material) the
    /// chosen versions as its oldest versions, nothing changes
    /// ([`SeedOutcome::Unchanged`]); an existing key that differs in any of
    /// these is `AlreadyExistsException` naming what differs, never
    /// overwritten. The key is created Enabled.
    ///
    /// A multi-Region key seeded in a replica region needs chosen
    /// material (the same bytes as its primary's): generated material
    /// would differ between the regions. Chosen material goes into the HSM
    /// like imported material, sealed under the store key; its bytes
    /// appear in no error, log or `Debug`.
    pub fn seed_key(&self, req: SeedKeyRequest) -> Result<SeedOutcome> {
        self.call("SeedKey", |state, call, audit| {
            state.require_root(call, "SeedKey", audit)?;
            let mrk = req.multi_region.as_ref();
            if !valid_chosen_key_id(&req.key_id, mrk.is_some()) {
                return Err(Error::validation(if mrk.is_some() {
                    format!("the key id of a multi-Region key must be mrk- and 32 lowercase hex digits, not {:?}", req.key_id)
                } else {
                    format!("the key id must be a lowercase hyphenated UUID (or mrk-... with multi-Region settings), not {:?}", req.key_id)
                }));
            }
            audit.key_arn = Some(call.key_arn(&req.key_id));
            let spec = req.key_spec;
            asym::supported(spec, req.key_usage)?;
            let symmetric = spec == KeySpec::SymmetricDefault;
            validate_new_key(&req.description, &req.tags, req.policy.as_deref())?;
            if let Some(days) = req.rotation_period_days {
                if !symmetric {
                    return Err(Error::new(
                        ErrorCode::UnsupportedOperation,
                        format!("{spec} keys do not rotate"),
                    ));
                }
                if !(MIN_ROTATION_DAYS..=MAX_ROTATION_DAYS).contains(&days) {
                    return Err(Error::validation(format!(
                        "RotationPeriodInDays must be {MIN_ROTATION_DAYS} to {MAX_ROTATION_DAYS}"
                    )));
                }
            }
            let versions = match &req.material {
                SeedMaterial::Generated { versions } => *versions as usize,
                SeedMaterial::Chosen(m) => m.len(),
            };
            if versions == 0 {
                return Err(Error::validation("a seeded key needs at least one material version"));
            }
            if versions > 1 + MAX_ON_DEMAND_ROTATIONS as usize + 100 {
                return Err(Error::validation("too many material versions for one seeded key"));
            }
            if versions > 1 && !symmetric {
                return Err(Error::new(
                    ErrorCode::UnsupportedOperation,
                    format!("{spec} keys do not rotate: one material version only"),
                ));
            }
            if let Some(m) = mrk {
                validate_region_name(&m.primary_region)?;
                for r in &m.replica_regions {
                    validate_region_name(r)?;
                }
                let here = call.region;
                let replica_here = m.replica_regions.iter().any(|r| r == here);
                if m.primary_region != here && !replica_here {
                    return Err(Error::validation(format!(
                        "{} is seeded in {} and {:?}, not in {here}",
                        req.key_id, m.primary_region, m.replica_regions
                    )));
                }
                if m.primary_region != here && matches!(req.material, SeedMaterial::Generated { .. }) {
                    return Err(Error::validation(format!(
                        "the replica of {} in {here} needs chosen material (generated material would differ from its primary's); create replicas with ReplicateKey instead",
                        req.key_id
                    )));
                }
            }
            // Chosen material, checked against the spec, and its ids.
            let chosen: Vec<ChosenKey> = match &req.material {
                SeedMaterial::Chosen(m) => m
                    .iter()
                    .map(|b| Hsm::chosen_key(spec, b.as_bytes()))
                    .collect::<Result<_>>()?,
                SeedMaterial::Generated { .. } => vec![],
            };
            let ids: Vec<String> = chosen
                .iter()
                .map(|k| Hsm::chosen_material_id(&req.key_id, k).map(hex::encode))
                .collect::<Result<_>>()?;

            if let Some(rec) = state.keys.get(&req.key_id) {
                let differs = |what: &str| {
                    Error::new(
                        ErrorCode::AlreadyExists,
                        format!("{} exists with another {what} than the seed gives; it is not changed (remove the key or the seed entry)", rec.arn),
                    )
                };
                if rec.key_spec != spec {
                    return Err(differs("key spec"));
                }
                if rec.key_usage != req.key_usage {
                    return Err(differs("key usage"));
                }
                if rec.origin != Origin::AwsKms || rec.key_manager != KeyManager::Customer {
                    return Err(differs("origin or manager"));
                }
                let role = rec.mrk.as_ref().map(|m| m.primary_region.as_str());
                if role != mrk.map(|m| m.primary_region.as_str()) {
                    return Err(differs("multi-Region role"));
                }
                if !ids.is_empty() {
                    let have: Vec<&str> = rec.materials.iter().map(|m| m.material_id.as_str()).collect();
                    let same = have.len() >= ids.len()
                        && ids.iter().zip(&have).all(|(a, b)| {
                            bool::from(subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()))
                        });
                    if !same {
                        return Err(differs("key material"));
                    }
                }
                audit.decision = Some(format!(
                    "{}; already seeded, unchanged",
                    audit.decision.take().unwrap_or_default()
                ));
                return Ok(SeedOutcome::Unchanged);
            }
            if state.keys.len() >= MAX_KEYS {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    format!("The number of keys in this region is at its limit ({MAX_KEYS})"),
                ));
            }
            let key_id = req.key_id.clone();
            let kind = |i: usize| (i > 0).then_some(RotationType::Automatic);
            let mut materials = Vec::with_capacity(versions);
            if chosen.is_empty() {
                for i in 0..versions {
                    let mut mv = if symmetric {
                        state.new_material(&key_id, call.now, None)?
                    } else {
                        let key = AsymKey::generate(spec, state.hsm.rng())?;
                        state.new_asym_material(&key_id, key, call.now)?
                    };
                    mv.rotation_type = kind(i);
                    materials.push(mv);
                }
            } else {
                for (i, key) in chosen.into_iter().enumerate() {
                    let (handle, sealed) = state.hsm.install_chosen(&key_id, key)?;
                    let hexid = handle.material_id_hex();
                    state.batch.push(Mutation::Put {
                        name: material_name(&key_id, &hexid),
                        value: sealed,
                    });
                    materials.push(MaterialVersion {
                        material_id: hexid,
                        created_ms: call.now,
                        rotation_type: kind(i),
                        import: None,
                    });
                }
            }
            let mut rotation = RotationSettings::default();
            let period = req.rotation_period_days.or(
                (state.settings.rotation_required && symmetric).then_some(DEFAULT_ROTATION_DAYS),
            );
            if let Some(days) = period {
                rotation.enabled = true;
                rotation.period_days = Some(days);
                rotation.next_rotation_ms = Some(call.now + days as u64 * MS_PER_DAY);
            }
            let rec = KeyRecord {
                arn: call.key_arn(&key_id),
                key_id: key_id.clone(),
                account: call.account.to_string(),
                region: call.region.to_string(),
                created_ms: call.now,
                description: req.description,
                state: KeyState::Enabled,
                key_spec: spec,
                key_usage: req.key_usage,
                origin: Origin::AwsKms,
                key_manager: KeyManager::Customer,
                multi_region: mrk.is_some(),
                deletion_date_ms: None,
                pending_window_days: None,
                tags: req.tags.into_iter().map(|t| (t.tag_key, t.tag_value)).collect(),
                materials,
                rotation,
                policy: Some(req.policy.unwrap_or_else(|| default_policy(call.account))),
                import: None,
                pending: None,
                mrk: mrk.map(|m| {
                    let primary = m.primary_region == call.region;
                    MultiRegionState {
                        primary_region: m.primary_region.clone(),
                        replica_regions: if primary {
                            m.replica_regions.iter().filter(|r| *r != call.region).cloned().collect()
                        } else {
                            vec![]
                        },
                        sequence: 0,
                    }
                }),
            };
            if !req.bypass_policy_lockout_safety_check {
                state.lockout_check(call, &rec)?;
            }
            state.save_key(rec)?;
            Ok(SeedOutcome::Created)
        })
    }
}

impl Kms {
    /// The key spec of the key `key_id` (key id, key ARN, alias name or
    /// alias ARN of this store) names, if it exists: for the request-quota
    /// simulation (`crate::quota`), which classifies a request by its key
    /// before the request runs. Not audited and not authorized: a front
    /// end uses it for its own bookkeeping and must not answer callers
    /// with it.
    pub fn key_spec_of(&self, key_id: &str) -> Option<KeySpec> {
        let state = self.lock().ok()?;
        let sh = &*self.shared;
        let call = CallContext {
            now: 0,
            caller: &self.caller,
            account: &sh.account,
            region: &sh.region,
            partition: &sh.partition,
        };
        let id = state.resolve(&call, key_id).ok()?;
        state.keys.get(&id).map(|k| k.key_spec)
    }
}

#[cfg(test)]
mod tests {
    use super::valid_chosen_key_id;

    #[test]
    fn chosen_key_ids_are_aws_shaped() {
        assert!(valid_chosen_key_id(
            "0d8ef1b0-6b4c-4c3a-9a1e-2f6a7b8c9d0e",
            false
        ));
        assert!(!valid_chosen_key_id(
            "0D8EF1B0-6B4C-4C3A-9A1E-2F6A7B8C9D0E",
            false
        ));
        assert!(!valid_chosen_key_id(
            "0d8ef1b06b4c4c3a9a1e2f6a7b8c9d0e",
            false
        ));
        assert!(!valid_chosen_key_id(
            "mrk-0d8ef1b06b4c4c3a9a1e2f6a7b8c9d0e",
            false
        ));
        assert!(valid_chosen_key_id(
            "mrk-0d8ef1b06b4c4c3a9a1e2f6a7b8c9d0e",
            true
        ));
        assert!(!valid_chosen_key_id(
            "mrk-0d8ef1b06b4c4c3a9a1e2f6a7b8c9d0",
            true
        ));
        assert!(!valid_chosen_key_id(
            "mrk-0D8EF1B06B4C4C3A9A1E2F6A7B8C9D0E",
            true
        ));
        assert!(!valid_chosen_key_id(
            "0d8ef1b0-6b4c-4c3a-9a1e-2f6a7b8c9d0e",
            true
        ));
    }
}
