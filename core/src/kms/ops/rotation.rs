//! EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand, ListKeyRotations.

use crate::kms::*;

impl Kms {
    // ------------------------------------------------------------ rotation

    pub fn enable_key_rotation(&self, req: EnableKeyRotationRequest) -> Result<()> {
        self.call("EnableKeyRotation", |state, call, audit| {
            let period = req.rotation_period_in_days.unwrap_or(DEFAULT_ROTATION_DAYS);
            if !(MIN_ROTATION_DAYS..=MAX_ROTATION_DAYS).contains(&period) {
                return Err(Error::validation(
                    format!("RotationPeriodInDays must be between {MIN_ROTATION_DAYS} and {MAX_ROTATION_DAYS}"),
                ));
            }
            let id = state.key_for(call, audit, Operation::EnableKeyRotation, &req.key_id, Facts {
                rotation_period_days: Some(period),
                ..Default::default()
            })?;
            let mut rec = state.rec(&id).clone();
            check_rotatable(&rec)?;
            deny_aws_managed(&rec)?;
            deny_replica(&rec)?;
            state.mark_mrk_dirty(&id);
            let r = &mut rec.rotation;
            let base = match (r.enabled, r.next_rotation_ms, r.period_days) {
                // Changing the period keeps the schedule's start.
                (true, Some(next), Some(old)) => next.saturating_sub(old as u64 * MS_PER_DAY),
                _ => call.now,
            };
            r.enabled = true;
            r.period_days = Some(period);
            r.next_rotation_ms = Some(base + period as u64 * MS_PER_DAY);
            state.save_key(rec)?;
            state.rotate_if_overdue(&id, call.now)
        })
    }

    pub fn disable_key_rotation(&self, req: KeyIdRequest) -> Result<()> {
        self.call("DisableKeyRotation", |state, call, audit| {
            let id = state.key_for(call, audit, Operation::DisableKeyRotation, &req.key_id, Facts::default())?;
            let mut rec = state.rec(&id).clone();
            check_rotatable(&rec)?;
            deny_aws_managed(&rec)?;
            deny_replica(&rec)?;
            state.mark_mrk_dirty(&id);
            if state.settings.rotation_required {
                return Err(Error::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "this store requires automatic rotation for customer managed keys; rotation of {} cannot be disabled",
                        rec.arn
                    ),
                ));
            }
            rec.rotation.enabled = false;
            rec.rotation.next_rotation_ms = None;
            state.save_key(rec)
        })
    }

    pub fn get_key_rotation_status(
        &self,
        req: KeyIdRequest,
    ) -> Result<GetKeyRotationStatusResponse> {
        self.call("GetKeyRotationStatus", |state, call, audit| {
            let id = state.key_for(
                call,
                audit,
                Operation::GetKeyRotationStatus,
                &req.key_id,
                Facts::default(),
            )?;
            let rec = state.rec(&id);
            Ok(GetKeyRotationStatusResponse {
                key_id: rec.arn.clone(),
                key_rotation_enabled: rec.rotation.enabled,
                rotation_period_in_days: rec.rotation.period_days.filter(|_| rec.rotation.enabled),
                next_rotation_date_ms: rec.rotation.next_rotation_ms,
                on_demand_rotation_start_date_ms: rec.rotation.last_on_demand_ms,
            })
        })
    }

    pub fn rotate_key_on_demand(&self, req: KeyIdRequest) -> Result<KeyIdResponse> {
        let replicas = self.replicas_without_pending(&req.key_id);
        self.call("RotateKeyOnDemand", |state, call, audit| {
            let id = state.key_for(
                call,
                audit,
                Operation::RotateKeyOnDemand,
                &req.key_id,
                Facts::default(),
            )?;
            let rec = state.rec(&id).clone();
            check_rotatable_on_demand(&rec)?;
            deny_aws_managed(&rec)?;
            deny_replica(&rec)?;
            if rec.rotation.on_demand_count >= MAX_ON_DEMAND_ROTATIONS {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    format!(
                        "{} has reached the limit of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations",
                        rec.arn
                    ),
                ));
            }
            let mut rec = if rec.origin == Origin::External {
                // Imported keys rotate to the material imported for it.
                let mut rec = rec;
                let mut next = rec.pending.take().ok_or_else(|| {
                    Error::new(
                        ErrorCode::KmsInvalidState,
                        format!(
                            "{} has no key material pending rotation: import new key material with ImportType NEW_KEY_MATERIAL first",
                            rec.arn
                        ),
                    )
                })?;
                if !next.import.as_ref().is_some_and(|i| i.present) {
                    // A promoted replica's copy it never imported.
                    return Err(Error::new(
                        ErrorCode::KmsInvalidState,
                        format!(
                            "key material {} of {} is pending rotation but not imported here: import it (EXISTING_KEY_MATERIAL) first",
                            next.material_id, rec.arn
                        ),
                    ));
                }
                if rec.multi_region {
                    // The replicas were checked for this very material
                    // before the call; anything else pending now (replaced
                    // meanwhile) was not checked.
                    let waiting = match &replicas {
                        Some((checked, waiting)) if *checked == next.material_id => waiting.clone(),
                        _ => vec!["(the material changed during the call: try again)".to_string()],
                    };
                    if !waiting.is_empty() {
                        return Err(Error::new(
                            ErrorCode::KmsInvalidState,
                            format!(
                                "key material {} of {} is not yet imported into its replicas in {} (PENDING_MULTI_REGION_IMPORT_AND_ROTATION): import the same material into each, then rotate",
                                next.material_id,
                                rec.arn,
                                waiting.join(", ")
                            ),
                        ));
                    }
                }
                next.created_ms = call.now;
                next.rotation_type = Some(RotationType::OnDemand);
                rec.materials.push(next);
                // Replicas rotate with their primary.
                state.mark_mrk_dirty(&id);
                rec
            } else {
                if rec.rotation.enabled
                    && rec
                        .rotation
                        .next_rotation_ms
                        .is_some_and(|n| n <= call.now + CONFLICT_WINDOW_MS)
                {
                    return Err(Error::new(
                        ErrorCode::Conflict,
                        format!(
                            "an automatic rotation of {} is due within 20 minutes",
                            rec.arn
                        ),
                    ));
                }
                state.rotate(&id, call.now, RotationType::OnDemand)?;
                state.rec(&id).clone()
            };
            rec.rotation.on_demand_count += 1;
            rec.rotation.last_on_demand_ms = Some(call.now);
            let arn = rec.arn.clone();
            state.save_key(rec)?;
            Ok(KeyIdResponse { key_id: arn })
        })
    }

    pub fn list_key_rotations(
        &self,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse> {
        let replicas = self.replicas_without_pending(&req.key_id);
        self.call("ListKeyRotations", |state, call, audit| {
            let limit = limit_of(req.limit, 100)?;
            let all_material = match req.include_key_material.as_deref() {
                None | Some("ROTATIONS_ONLY") => false,
                Some("ALL_KEY_MATERIAL") => true,
                Some(_) => {
                    return Err(Error::validation(
                        "IncludeKeyMaterial must be ROTATIONS_ONLY or ALL_KEY_MATERIAL",
                    ))
                }
            };
            let id = state.key_for(
                call,
                audit,
                Operation::ListKeyRotations,
                &req.key_id,
                Facts::default(),
            )?;
            let rec = state.rec(&id);
            check_rotatable_on_demand(rec)?;
            let n = rec.materials.len();
            let entry = |m: &MaterialVersion, state: KeyMaterialState| {
                let import = m.import.as_ref();
                RotationsListEntry {
                    key_id: rec.arn.clone(),
                    key_material_id: m.material_id.clone(),
                    key_material_description: import.and_then(|i| i.description.clone()),
                    import_state: import.map(|i| {
                        if i.present {
                            ImportState::Imported
                        } else {
                            ImportState::PendingImport
                        }
                    }),
                    key_material_state: state,
                    expiration_model: import.and_then(|i| i.expiration_model),
                    valid_to_ms: import.and_then(|i| i.valid_to_ms),
                    rotation_date_ms: m.rotation_type.map(|_| m.created_ms),
                    rotation_type: m.rotation_type,
                }
            };
            let all: Vec<(usize, RotationsListEntry)> = rec
                .materials
                .iter()
                .enumerate()
                .filter(|(_, m)| all_material || m.rotation_type.is_some())
                .map(|(i, m)| {
                    let s = if i + 1 == n {
                        KeyMaterialState::Current
                    } else {
                        KeyMaterialState::NonCurrent
                    };
                    (i, entry(m, s))
                })
                .chain(rec.pending.iter().filter(|_| all_material).map(|m| {
                    // Multi-Region keys: the primary waits for every
                    // replica's import; a replica for its own.
                    let everywhere = m.import.as_ref().is_none_or(|i| i.present)
                        && replicas.as_ref().is_none_or(|(checked, waiting)| {
                            *checked == m.material_id && waiting.is_empty()
                        });
                    let s = if everywhere {
                        KeyMaterialState::PendingRotation
                    } else {
                        KeyMaterialState::PendingMultiRegionImportAndRotation
                    };
                    (n, entry(m, s))
                }))
                .collect();
            let (page, next_marker, truncated) = paginate(
                all,
                |(i, _)| format!("{i:08}"),
                limit,
                req.marker.as_deref(),
            )?;
            Ok(ListKeyRotationsResponse {
                rotations: page.into_iter().map(|(_, e)| e).collect(),
                next_marker,
                truncated,
            })
        })
    }
}

/// EnableKeyRotation, DisableKeyRotation: symmetric keys with generated
/// material.
pub(in crate::kms) fn check_rotatable(rec: &KeyRecord) -> Result<()> {
    rotatable(rec, &[Origin::AwsKms], "automatic")
}

/// RotateKeyOnDemand and ListKeyRotations: symmetric encryption keys with
/// generated or imported material.
pub(in crate::kms) fn check_rotatable_on_demand(rec: &KeyRecord) -> Result<()> {
    rotatable(rec, &[Origin::AwsKms, Origin::External], "on-demand")
}

fn rotatable(rec: &KeyRecord, origins: &[Origin], kind: &str) -> Result<()> {
    if rec.key_spec != KeySpec::SymmetricDefault || !origins.contains(&rec.origin) {
        return Err(Error::new(
            ErrorCode::UnsupportedOperation,
            format!(
                "{} does not support {kind} rotation (key spec {}, origin {})",
                rec.arn, rec.key_spec, rec.origin
            ),
        ));
    }
    Ok(())
}

impl Kms {
    /// For the primary of a multi-Region EXTERNAL key with material pending
    /// rotation: that material's id and the regions of its replicas that
    /// have not imported it (a replica not open, linked, in this process
    /// counts as not imported); `None` for any other key. Read before the
    /// call, outside its lock (errors are the call's own), so the call
    /// checks the id is still the one pending.
    pub(in crate::kms) fn replicas_without_pending(
        &self,
        key_id: &str,
    ) -> Option<(String, Vec<String>)> {
        let id = self.resolve_id(key_id).ok()?;
        let (regions, pending) = match self.lock() {
            Ok(state) => match state.keys.get(&id) {
                Some(k) if k.origin == Origin::External => {
                    match (k.mrk.as_ref(), k.pending.as_ref()) {
                        (Some(m), Some(p)) if m.primary_region == k.region => {
                            (m.replica_regions.clone(), p.material_id.clone())
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            },
            Err(_) => return None,
        };
        let waiting = regions
            .into_iter()
            .filter(|r| {
                let Some(replica) = self.linked(r) else {
                    return true;
                };
                let Ok(st) = replica.lock() else {
                    return true;
                };
                !st.keys
                    .get(&id)
                    .and_then(|k| k.pending.as_ref())
                    .is_some_and(|p| {
                        p.material_id == pending && p.import.as_ref().is_some_and(|i| i.present)
                    })
            })
            .collect();
        Some((pending, waiting))
    }
}
