//! CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use crate::kms::*;

pub(in crate::kms) fn validate_alias_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 256 {
        return Err(Error::validation("AliasName must be 1 to 256 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b))
    {
        return Err(Error::validation(
            "AliasName must satisfy the pattern ^[a-zA-Z0-9:/_-]+$",
        ));
    }
    if !name.starts_with("alias/") || name.len() == "alias/".len() {
        return Err(Error::new(
            ErrorCode::InvalidAliasName,
            format!("Alias '{name}' must start with 'alias/' followed by a name"),
        ));
    }
    Ok(())
}

pub(in crate::kms) fn is_reserved_alias(name: &str) -> bool {
    name.starts_with("alias/aws/")
}

impl Kms {
    // ------------------------------------------------------------ aliases

    pub fn create_alias(&self, req: CreateAliasRequest) -> Result<()> {
        self.call("CreateAlias", |state, call, audit| {
            validate_alias_name(&req.alias_name)?;
            if is_reserved_alias(&req.alias_name) {
                return Err(Error::new(
                    ErrorCode::InvalidAliasName,
                    "Aliases beginning with 'alias/aws/' are reserved for AWS managed keys",
                ));
            }
            if is_alias_ref(&req.target_key_id) {
                return Err(Error::validation(
                    "TargetKeyId must be a key id or key ARN, not an alias",
                ));
            }
            let id = state.resolve(call, &req.target_key_id)?;
            audit.key_arn = Some(call.key_arn(&id));
            state.authorize(call, "kms:CreateAlias", Some(&id), Facts::default(), audit)?;
            let rec = state.rec(&id);
            audit.key_arn = Some(rec.arn.clone());
            check_state(OpClass::Metadata, rec.state, &rec.arn)?;
            deny_aws_managed(rec)?;
            if state.aliases.contains_key(&req.alias_name) {
                return Err(Error::new(
                    ErrorCode::AlreadyExists,
                    format!(
                        "An alias with the name {} already exists",
                        call.alias_arn(&req.alias_name)
                    ),
                ));
            }
            if state
                .aliases
                .values()
                .filter(|a| a.target_key_id == id)
                .count()
                >= MAX_ALIASES_PER_KEY
            {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    format!("{} already has {MAX_ALIASES_PER_KEY} aliases", rec.arn),
                ));
            }
            state.save_alias(AliasEntry {
                alias_arn: call.alias_arn(&req.alias_name),
                alias_name: req.alias_name,
                target_key_id: id,
                creation_date_ms: call.now,
                last_updated_date_ms: call.now,
            })
        })
    }

    pub fn update_alias(&self, req: UpdateAliasRequest) -> Result<()> {
        self.call("UpdateAlias", |state, call, audit| {
            validate_alias_name(&req.alias_name)?;
            if is_reserved_alias(&req.alias_name) {
                return Err(Error::new(
                    ErrorCode::InvalidAliasName,
                    "Aliases beginning with 'alias/aws/' cannot be changed",
                ));
            }
            if is_alias_ref(&req.target_key_id) {
                return Err(Error::validation(
                    "TargetKeyId must be a key id or key ARN, not an alias",
                ));
            }
            let mut alias = state.aliases.get(&req.alias_name).cloned().ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    format!("Alias {} is not found.", call.alias_arn(&req.alias_name)),
                )
            })?;
            let id = state.resolve(call, &req.target_key_id)?;
            audit.key_arn = Some(call.key_arn(&id));
            state.authorize(
                call,
                "kms:UpdateAlias",
                Some(&alias.target_key_id),
                Facts::default(),
                audit,
            )?;
            state.authorize(call, "kms:UpdateAlias", Some(&id), Facts::default(), audit)?;
            let target = state.rec(&id);
            audit.key_arn = Some(target.arn.clone());
            check_state(OpClass::AliasTarget, target.state, &target.arn)?;
            deny_aws_managed(target)?;
            let source = state.rec(&alias.target_key_id);
            if source.key_spec != target.key_spec || source.key_usage != target.key_usage {
                return Err(Error::validation(format!(
                    "{} has a different key spec or key usage than the alias's current key",
                    target.arn
                )));
            }
            if state
                .aliases
                .values()
                .filter(|a| a.target_key_id == id)
                .count()
                >= MAX_ALIASES_PER_KEY
            {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    format!("{} already has {MAX_ALIASES_PER_KEY} aliases", target.arn),
                ));
            }
            alias.target_key_id = id;
            alias.last_updated_date_ms = call.now;
            state.save_alias(alias)
        })
    }

    pub fn delete_alias(&self, req: DeleteAliasRequest) -> Result<()> {
        self.call("DeleteAlias", |state, call, audit| {
            validate_alias_name(&req.alias_name)?;
            if is_reserved_alias(&req.alias_name) {
                return Err(Error::new(
                    ErrorCode::InvalidAliasName,
                    "Aliases beginning with 'alias/aws/' cannot be deleted",
                ));
            }
            let a = state.aliases.get(&req.alias_name).ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    format!("Alias {} is not found.", call.alias_arn(&req.alias_name)),
                )
            })?;
            let target = a.target_key_id.clone();
            audit.key_arn = Some(call.key_arn(&target));
            state.authorize(
                call,
                "kms:DeleteAlias",
                Some(&target),
                Facts::default(),
                audit,
            )?;
            state.remove_alias(&req.alias_name);
            Ok(())
        })
    }

    pub fn list_aliases(&self, req: ListAliasesRequest) -> Result<ListAliasesResponse> {
        self.call("ListAliases", |state, call, audit| {
            let limit = limit_of(req.limit, 50)?;
            state.authorize(call, "kms:ListAliases", None, Facts::default(), audit)?;
            let filter = match &req.key_id {
                Some(k) => {
                    let id = state.resolve(call, k)?;
                    audit.key_arn = Some(call.key_arn(&id));
                    Some(id)
                }
                None => None,
            };
            let all: Vec<AliasEntry> = state
                .aliases
                .values()
                .filter(|a| filter.as_ref().is_none_or(|f| &a.target_key_id == f))
                .cloned()
                .collect();
            let (aliases, next_marker, truncated) =
                paginate(all, |a| a.alias_name.clone(), limit, req.marker.as_deref())?;
            Ok(ListAliasesResponse {
                aliases: aliases.iter().map(AliasListEntry::from).collect(),
                next_marker,
                truncated,
            })
        })
    }
}

pub(in crate::kms) fn is_alias_ref(s: &str) -> bool {
    s.starts_with("alias/") || (s.starts_with("arn:") && s.contains(":alias/"))
}
