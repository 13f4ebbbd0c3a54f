//! The rules every operation applies: the call context [`CallContext`], the key
//! state matrix ([`OpClass`], [`check_state`]), key id resolution, input
//! validators, pagination and the `deny_*` refusals.

use super::*;

// ---------------------------------------------------------------- state checks

/// Operation classes of the key-state matrix (kms-semantics §1).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpClass {
    /// Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, (Sign, Verify, MAC...)
    Crypto,
    /// EnableKey, DisableKey
    EnableDisable,
    ScheduleDeletion,
    CancelDeletion,
    /// CreateAlias, TagResource, UntagResource, UpdateKeyDescription
    Metadata,
    /// EnableKeyRotation, DisableKeyRotation, RotateKeyOnDemand
    RotationConfig,
    /// GetKeyRotationStatus
    RotationRead,
    /// ListKeyRotations: as RotationRead, but an EXTERNAL key missing
    /// material (PendingImport) lists its materials and their import state.
    MaterialRead,
    /// UpdateAlias: the *target* key
    AliasTarget,
    /// DescribeKey, ListResourceTags, DeleteAlias, GetKeyPolicy ...
    Always,
    CreateGrant,
    /// GetParametersForImport
    ImportParams,
    /// ImportKeyMaterial
    ImportMaterial,
}

/// The state matrix. `Ok(())` when the operation may proceed.
#[doc(hidden)]
pub fn check_state(class: OpClass, state: KeyState, arn: &str) -> Result<()> {
    use KeyState::*;
    use OpClass::*;
    let s = |what: &str| {
        Err(Error::new(
            ErrorCode::KmsInvalidState,
            format!("{arn} is {what}."),
        ))
    };
    let d = || {
        Err(Error::new(
            ErrorCode::Disabled,
            format!("{arn} is disabled."),
        ))
    };
    let u = || {
        Err(Error::new(
            ErrorCode::UnsupportedOperation,
            format!("{arn} does not support this operation in state {state}."),
        ))
    };
    let state_word = |state: KeyState| match state {
        PendingDeletion | PendingReplicaDeletion => "pending deletion",
        PendingImport => "pending import",
        Unavailable => "unavailable",
        Creating => "creating",
        Updating => "updating",
        Enabled => "enabled",
        Disabled => "disabled",
    };
    match (class, state) {
        (Always, _) => Ok(()),
        (Crypto, Enabled | Updating) => Ok(()),
        (Crypto, Disabled) => d(),
        (Crypto, state) => s(state_word(state)),
        (EnableDisable, Enabled | Disabled | Unavailable) => Ok(()),
        (EnableDisable, state) => s(state_word(state)),
        (ScheduleDeletion, PendingDeletion | PendingReplicaDeletion | Updating) => {
            s(state_word(state))
        }
        (ScheduleDeletion, _) => Ok(()),
        (CancelDeletion, PendingDeletion | PendingReplicaDeletion) => Ok(()),
        (CancelDeletion, _) => s("not pending deletion"),
        (Metadata, PendingDeletion | PendingReplicaDeletion) => s("pending deletion"),
        (Metadata, _) => Ok(()),
        (RotationConfig, Enabled | Updating) => Ok(()),
        (RotationConfig, Disabled) => d(),
        (RotationConfig, PendingImport | Unavailable) => u(),
        (RotationConfig, state) => s(state_word(state)),
        (RotationRead, PendingDeletion | PendingReplicaDeletion | Creating) => s(state_word(state)),
        (RotationRead, PendingImport | Unavailable) => u(),
        (RotationRead, _) => Ok(()),
        (MaterialRead, PendingDeletion | PendingReplicaDeletion | Creating) => s(state_word(state)),
        (MaterialRead, Unavailable) => u(),
        (MaterialRead, _) => Ok(()),
        (AliasTarget, PendingDeletion | PendingReplicaDeletion) => s("pending deletion"),
        (AliasTarget, _) => Ok(()),
        (ImportParams, Enabled | Disabled | PendingImport) => Ok(()),
        (ImportParams, Unavailable) => u(),
        (ImportParams, state) => s(state_word(state)),
        (ImportMaterial, Enabled | Disabled | PendingImport | Updating) => Ok(()),
        (ImportMaterial, Unavailable) => u(),
        (ImportMaterial, state) => s(state_word(state)),
        (CreateGrant, Enabled | Updating | Unavailable) => Ok(()),
        (CreateGrant, Disabled) => d(),
        (CreateGrant, state) => s(state_word(state)),
    }
}

// ---------------------------------------------------------------- validation helpers

pub(in crate::kms) fn validate_grant_tokens(tokens: &[String]) -> Result<()> {
    if tokens.len() > 10 {
        return Err(Error::validation("GrantTokens: at most 10 grant tokens"));
    }
    if tokens.iter().any(|t| t.is_empty() || t.len() > 8192) {
        return Err(Error::validation(
            "GrantTokens: each grant token is 1 to 8192 characters",
        ));
    }
    Ok(())
}

pub(in crate::kms) fn validate_key_id_input(id: &str, field: &str) -> Result<()> {
    if id.is_empty() || id.len() > 2048 {
        return Err(Error::validation(format!(
            "{field} must be 1 to 2048 characters"
        )));
    }
    Ok(())
}

pub(in crate::kms) fn validate_tags(tags: &[Tag]) -> Result<()> {
    let mut seen = BTreeSet::new();
    for t in tags {
        let kl = t.tag_key.chars().count();
        if kl == 0 || kl > 128 || t.tag_value.chars().count() > 256 {
            return Err(Error::new(
                ErrorCode::Tag,
                "Tag keys are 1 to 128 characters and tag values 0 to 256 characters",
            ));
        }
        if t.tag_key.starts_with("aws:") {
            return Err(Error::new(
                ErrorCode::Tag,
                "Tag keys beginning with 'aws:' are reserved",
            ));
        }
        if !seen.insert(&t.tag_key) {
            return Err(Error::new(
                ErrorCode::Tag,
                format!("Duplicate tag key '{}' in one request", t.tag_key),
            ));
        }
    }
    Ok(())
}

/// A binary request member of 1 to 6144 bytes (AWS's `CiphertextType` and
/// kin): ValidationException naming the member otherwise.
pub(in crate::kms) fn check_blob_len(member: &str, bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() || bytes.len() > blob::MAX_BLOB_LEN {
        return Err(Error::validation(format!(
            "{member} must be 1 to 6144 bytes"
        )));
    }
    Ok(())
}

pub(in crate::kms) fn dry_run_ok() -> Error {
    Error::new(
        ErrorCode::DryRunOperation,
        "The request would have succeeded, but the DryRun flag is set",
    )
}

pub(in crate::kms) fn limit_of(limit: Option<u32>, default: u32) -> Result<usize> {
    match limit {
        None => Ok(default as usize),
        Some(l) if (1..=1000).contains(&l) => Ok(l as usize),
        Some(_) => Err(Error::validation("Limit must be between 1 and 1000")),
    }
}

/// Paginate a sorted list. The marker is the hex of the last returned
/// item's sort key.
pub(in crate::kms) fn paginate<T>(
    items: Vec<T>,
    sort_key: impl Fn(&T) -> String,
    limit: usize,
    marker: Option<&str>,
) -> Result<(Vec<T>, Option<String>, bool)> {
    let after = match marker {
        None => None,
        Some(m) => Some(
            hex::decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| Error::new(ErrorCode::InvalidMarker, "The marker is not valid"))?,
        ),
    };
    let mut page: Vec<T> = items
        .into_iter()
        .filter(|t| after.as_ref().is_none_or(|a| sort_key(t) > *a))
        .collect();
    let truncated = page.len() > limit;
    page.truncate(limit);
    let next = if truncated {
        page.last().map(|t| hex::encode(sort_key(t)))
    } else {
        None
    };
    Ok((page, next, truncated))
}

// ---------------------------------------------------------------- call context

/// What one call runs under (`call` in the operations): the time it started
/// at, the caller, and the store's account, region and partition. Not to be
/// confused with a request's encryption context ([`EncryptionContext`]).
pub(in crate::kms) struct CallContext<'a> {
    pub(in crate::kms) now: Millis,
    pub(in crate::kms) caller: &'a Caller,
    pub(in crate::kms) account: &'a str,
    pub(in crate::kms) region: &'a str,
    pub(in crate::kms) partition: &'a str,
}

impl CallContext<'_> {
    pub(in crate::kms) fn key_arn(&self, id: &str) -> String {
        format!(
            "arn:{}:kms:{}:{}:key/{id}",
            self.partition, self.region, self.account
        )
    }
    pub(in crate::kms) fn alias_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:kms:{}:{}:{name}",
            self.partition, self.region, self.account
        )
    }
}

impl State {
    pub(in crate::kms) fn resolve(&self, call: &CallContext, input: &str) -> Result<String> {
        validate_key_id_input(input, "KeyId")?;
        let local = if let Some(rest) = input.strip_prefix("arn:") {
            // arn:PARTITION:kms:REGION:ACCOUNT:RESOURCE
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let ok = parts.len() == 5
                && parts[0] == call.partition
                && parts[1] == "kms"
                && parts[2] == call.region
                && parts[3] == call.account;
            if !ok {
                return Err(Error::new(
                    ErrorCode::NotFound,
                    format!("Key '{input}' does not exist"),
                ));
            }
            parts[4]
        } else {
            input
        };
        if local.starts_with("alias/") {
            return self
                .aliases
                .get(local)
                .map(|a| a.target_key_id.clone())
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::NotFound,
                        format!("Alias {} is not found.", call.alias_arn(local)),
                    )
                });
        }
        let id = local.strip_prefix("key/").unwrap_or(local);
        if input.starts_with("arn:") && !local.starts_with("key/") {
            return Err(Error::new(
                ErrorCode::NotFound,
                format!("Key '{input}' does not exist"),
            ));
        }
        if self.keys.contains_key(id) {
            Ok(id.to_string())
        } else {
            Err(Error::not_found_arn(&call.key_arn(id)))
        }
    }

    /// The record of a key resolved *in this critical section* (by
    /// `resolve`, or just inserted). An id that came from an earlier lock
    /// must go through [`State::rec_checked`]: the key may have been purged
    /// in between, and a panic here would poison the state lock.
    pub(in crate::kms) fn rec(&self, id: &str) -> &KeyRecord {
        &self.keys[id]
    }

    /// The record of a key whose id was resolved under an earlier lock:
    /// `NotFoundException` if it is gone since.
    pub(in crate::kms) fn rec_checked(&self, call: &CallContext, id: &str) -> Result<&KeyRecord> {
        self.keys
            .get(id)
            .ok_or_else(|| Error::not_found_arn(&call.key_arn(id)))
    }
}

pub(in crate::kms) fn deny_aws_managed(rec: &KeyRecord) -> Result<()> {
    if rec.key_manager == KeyManager::Aws {
        return Err(Error::new(
            ErrorCode::UnsupportedOperation,
            format!("{} is an AWS managed key and cannot be changed", rec.arn),
        ));
    }
    Ok(())
}

pub(in crate::kms) fn deny_replica(rec: &KeyRecord) -> Result<()> {
    if rec
        .mrk
        .as_ref()
        .is_some_and(|m| m.primary_region != rec.region)
    {
        return Err(Error::new(
            ErrorCode::UnsupportedOperation,
            format!(
                "{} is a multi-Region replica key; rotation settings can be changed only on the primary",
                rec.arn
            ),
        ));
    }
    Ok(())
}
