//! CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.

use crate::kms::*;

impl Kms {
    // ------------------------------------------------------------ grants

    pub fn create_grant(&self, req: CreateGrantRequest) -> Result<CreateGrantResponse> {
        self.call("CreateGrant", |state, call, audit| {
            state.validate_grant_tokens(&req.grant_tokens)?;
            validate_grant_principal(&req.grantee_principal, "GranteePrincipal")?;
            if let Some(r) = &req.retiring_principal {
                validate_grant_principal(r, "RetiringPrincipal")?;
            }
            if req.operations.is_empty() {
                return Err(Error::validation("Operations must name at least one operation"));
            }
            if let Some(n) = &req.name {
                if n.is_empty()
                    || n.len() > 256
                    || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b))
                {
                    return Err(Error::validation("Name must match ^[a-zA-Z0-9:/_-]+$ (1 to 256 characters)"));
                }
            }
            let mut ops = req.operations.clone();
            ops.sort_by_key(|o| o.as_str());
            ops.dedup();
            if let Some(c) = &req.constraints {
                validate_constraints(c)?;
            }
            let id = state.resolve(call, &req.key_id)?;
            audit.key_arn = Some(call.key_arn(&id));
            let via_grant = state.authorize(
                call,
                "kms:CreateGrant",
                Some(&id),
                Facts {
                    request_key_id: Some(&req.key_id),
                    grant_operations: Some(&ops),
                    grantee_principal: Some(&req.grantee_principal),
                    retiring_principal: req.retiring_principal.as_deref(),
                    ..Default::default()
                },
                audit,
            )?;
            let rec = state.rec(&id);
            check_state(OpClass::CreateGrant, rec.state, &rec.arn)?;
            for op in &ops {
                if !op_fits_key(*op, rec) {
                    return Err(Error::validation(format!(
                        "grant operation {op} does not apply to {} ({} {})",
                        rec.arn, rec.key_spec, rec.key_usage
                    )));
                }
            }
            // Allowed through a grant: the new grant must be at least as narrow.
            if let Some(parent_id) = via_grant {
                let parent = &state.grants[&id][&parent_id];
                let narrower_ops = ops.iter().all(|o| parent.operations.contains(o));
                let narrower_constraints = match &parent.constraints {
                    None => true,
                    Some(pc) => req
                        .constraints
                        .as_ref()
                        .is_some_and(|c| c.at_least_as_narrow_as(pc)),
                };
                if !(narrower_ops && narrower_constraints) {
                    audit.decision = Some(format!(
                        "deny kms:CreateGrant: grant {parent_id} allows only grants at least as narrow as itself"
                    ));
                    return Err(Error::new(
                        ErrorCode::AccessDenied,
                        format!(
                            "User: {} is not authorized to create a grant wider than grant {parent_id} on {}",
                            call.caller.principal_arn, rec.arn
                        ),
                    ));
                }
            }
            if req.dry_run {
                return Err(dry_run_ok());
            }
            // A repeated Name with the same parameters returns the same grant
            // (same GrantId) with a new token.
            if let Some(name) = &req.name {
                if let Some(g) = state.grants.get(&id).and_then(|m| {
                    m.values().find(|g| {
                        g.name.as_deref() == Some(name)
                            && g.grantee_principal == req.grantee_principal
                            && g.retiring_principal == req.retiring_principal
                            && g.operations == ops
                            && g.constraints == req.constraints
                    })
                }) {
                    return Ok(CreateGrantResponse {
                        grant_token: state.grant_token(&g.grant_id)?,
                        grant_id: g.grant_id.clone(),
                    });
                }
            }
            if state.grants.get(&id).map_or(0, |m| m.len()) >= MAX_GRANTS_PER_KEY {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    format!("{} already has {MAX_GRANTS_PER_KEY} grants", rec.arn),
                ));
            }
            let grant_id = hex::encode(&state.hsm.random_bytes(32)?[..]);
            let g = Grant {
                key_id: id.clone(),
                grant_id: grant_id.clone(),
                name: req.name.clone(),
                creation_date_ms: call.now,
                grantee_principal: req.grantee_principal.clone(),
                retiring_principal: req.retiring_principal.clone(),
                issuing_account: call.caller.account.clone(),
                operations: ops,
                constraints: req.constraints.clone(),
            };
            state.save_grant(g)?;
            Ok(CreateGrantResponse {
                grant_token: state.grant_token(&grant_id)?,
                grant_id,
            })
        })
    }

    pub fn list_grants(&self, req: ListGrantsRequest) -> Result<ListGrantsResponse> {
        self.call("ListGrants", |state, call, audit| {
            state.validate_grant_tokens(&req.grant_tokens)?;
            let limit = limit_of(req.limit, 50)?;
            let id = state.key_for(
                call,
                audit,
                Operation::ListGrants,
                &req.key_id,
                Facts::default(),
            )?;
            let arn = state.rec(&id).arn.clone();
            let all: Vec<GrantListEntry> = state
                .grants
                .get(&id)
                .map(|m| {
                    m.values()
                        .filter(|g| req.grant_id.as_ref().is_none_or(|x| &g.grant_id == x))
                        .filter(|g| {
                            req.grantee_principal
                                .as_ref()
                                .is_none_or(|x| &g.grantee_principal == x)
                        })
                        .map(|g| GrantListEntry::from_grant(g, arn.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let (grants, next_marker, truncated) =
                paginate(all, |g| g.grant_id.clone(), limit, req.marker.as_deref())?;
            Ok(ListGrantsResponse {
                grants,
                next_marker,
                truncated,
            })
        })
    }

    pub fn list_retirable_grants(
        &self,
        req: ListRetirableGrantsRequest,
    ) -> Result<ListGrantsResponse> {
        self.call("ListRetirableGrants", |state, call, audit| {
            let limit = limit_of(req.limit, 50)?;
            validate_grant_principal(&req.retiring_principal, "RetiringPrincipal")?;
            state.authorize(
                call,
                "kms:ListRetirableGrants",
                None,
                Facts::default(),
                audit,
            )?;
            let all: Vec<GrantListEntry> = state
                .grants
                .values()
                .flat_map(|m| m.values())
                .filter(|g| {
                    g.retiring_principal.as_deref() == Some(req.retiring_principal.as_str())
                })
                .map(|g| GrantListEntry::from_grant(g, call.key_arn(&g.key_id)))
                .collect();
            let (grants, next_marker, truncated) = paginate(
                all,
                |g| format!("{}/{}", g.key_id, g.grant_id),
                limit,
                req.marker.as_deref(),
            )?;
            Ok(ListGrantsResponse {
                grants,
                next_marker,
                truncated,
            })
        })
    }

    /// Retire a grant (by token, or by key id + grant id). Allowed for the
    /// retiring principal, the grantee when the grant includes RetireGrant,
    /// and the key's account root.
    pub fn retire_grant(&self, req: RetireGrantRequest) -> Result<()> {
        self.call("RetireGrant", |state, call, audit| {
            let (key_id, grant_id) = match (&req.grant_token, &req.key_id, &req.grant_id) {
                (Some(t), _, _) => {
                    let gid = state.parse_grant_token(t)?;
                    let kid = state
                        .grants
                        .iter()
                        .find(|(_, m)| m.contains_key(&gid))
                        .map(|(k, _)| k.clone())
                        .ok_or_else(|| {
                            Error::new(ErrorCode::NotFound, format!("Grant {gid} does not exist"))
                        })?;
                    (kid, gid)
                }
                (None, Some(k), Some(g)) => {
                    check_grant_id(g)?;
                    (state.resolve(call, k)?, g.clone())
                }
                _ => {
                    return Err(Error::validation(
                        "RetireGrant needs a GrantToken, or both KeyId and GrantId",
                    ))
                }
            };
            audit.key_arn = Some(call.key_arn(&key_id));
            let g = state
                .grants
                .get(&key_id)
                .and_then(|m| m.get(&grant_id))
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::NotFound,
                        format!("Grant {grant_id} does not exist"),
                    )
                })?;
            let me = &call.caller.principal_arn;
            let why = if g.retiring_principal.as_deref() == Some(me.as_str()) {
                "the retiring principal"
            } else if &g.grantee_principal == me
                && g.operations.contains(&GrantOperation::RetireGrant)
            {
                "the grantee, allowed RetireGrant by the grant"
            } else if call.caller.is_account_root() && call.caller.account == call.account {
                "the key's account root"
            } else {
                audit.decision = Some(format!(
                    "deny RetireGrant: {me} may not retire grant {grant_id}"
                ));
                return Err(Error::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "User: {me} is not authorized to retire grant {grant_id} on {}",
                        call.key_arn(&key_id)
                    ),
                ));
            };
            audit.decision = Some(format!("allow RetireGrant: {why}"));
            if req.dry_run {
                return Err(dry_run_ok());
            }
            state.remove_grant(&key_id, &grant_id);
            Ok(())
        })
    }

    pub fn revoke_grant(&self, req: RevokeGrantRequest) -> Result<()> {
        self.call("RevokeGrant", |state, call, audit| {
            check_grant_id(&req.grant_id)?;
            let id = state.key_for(
                call,
                audit,
                Operation::RevokeGrant,
                &req.key_id,
                Facts::default(),
            )?;
            if !state
                .grants
                .get(&id)
                .is_some_and(|m| m.contains_key(&req.grant_id))
            {
                return Err(Error::new(
                    ErrorCode::NotFound,
                    format!("Grant {} does not exist", req.grant_id),
                ));
            }
            if req.dry_run {
                return Err(dry_run_ok());
            }
            state.remove_grant(&id, &req.grant_id);
            Ok(())
        })
    }
}

pub const MAX_GRANTS_PER_KEY: usize = 50_000;

pub(in crate::kms) fn validate_grant_principal(p: &str, field: &str) -> Result<()> {
    if p.is_empty()
        || p.len() > 256
        || !p
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || "+=,.@:/-".contains(c))
    {
        return Err(Error::validation(format!(
            "{field} must be 1 to 256 characters matching ^[\\w+=,.@:/-]+$"
        )));
    }
    Ok(())
}

pub(in crate::kms) fn check_grant_id(g: &str) -> Result<()> {
    if g.len() == 64 && g.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::InvalidGrantId,
            "The grant id is not valid",
        ))
    }
}

pub(in crate::kms) fn validate_constraints(c: &GrantConstraints) -> Result<()> {
    if c.encryption_context_subset.is_some() && c.encryption_context_equals.is_some() {
        return Err(Error::validation(
            "Constraints may have EncryptionContextSubset or EncryptionContextEquals, not both",
        ));
    }
    for ctx in [&c.encryption_context_subset, &c.encryption_context_equals]
        .into_iter()
        .flatten()
    {
        if ctx.len() > 8
            || ctx.values().any(|v| v.chars().count() > 384)
            || ctx.keys().any(|k| k.is_empty())
        {
            return Err(Error::validation(
                "grant constraints: at most 8 pairs, non-empty keys, values up to 384 characters",
            ));
        }
    }
    Ok(())
}

pub(in crate::kms) fn op_fits_key(op: GrantOperation, rec: &KeyRecord) -> bool {
    use GrantOperation::*;
    match op {
        CreateGrant | RetireGrant | DescribeKey => true,
        Encrypt | Decrypt | ReEncryptFrom | ReEncryptTo => {
            rec.key_usage == KeyUsage::EncryptDecrypt
        }
        GenerateDataKey
        | GenerateDataKeyWithoutPlaintext
        | GenerateDataKeyPair
        | GenerateDataKeyPairWithoutPlaintext => rec.key_spec == KeySpec::SymmetricDefault,
        Sign | Verify => rec.key_usage == KeyUsage::SignVerify,
        GetPublicKey => rec.key_spec != KeySpec::SymmetricDefault,
        GenerateMac | VerifyMac => rec.key_usage == KeyUsage::GenerateVerifyMac,
        DeriveSharedSecret => rec.key_usage == KeyUsage::KeyAgreement,
        Encapsulate | Decapsulate => rec.key_usage == KeyUsage::EncapsulateDecapsulate,
    }
}
