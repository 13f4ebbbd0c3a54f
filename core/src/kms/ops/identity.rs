//! Identity (IAM) policies: put, get, delete, list (a minimal IAM).

use crate::kms::*;

impl Kms {
    // ------------------------------------------------------------ identity policies (minimal IAM)

    /// Attach an identity policy to a user or role (account root only).
    /// Identity policies count only where a key policy delegates to the
    /// account (`arn:aws:iam::ACCOUNT:root`), as in AWS.
    pub fn put_identity_policy(&self, req: PutIdentityPolicyRequest) -> Result<()> {
        self.call("PutIdentityPolicy", |state, call, audit| {
            state.require_root(call, "PutIdentityPolicy", audit)?;
            validate_identity_target(&req.principal_arn, &req.policy_name)?;
            let parsed = policy::parse(&req.policy_document, PolicyKind::Identity)?;
            state.put_json(
                identity_name(&req.principal_arn, &req.policy_name),
                &IdentityEntry {
                    principal_arn: req.principal_arn.clone(),
                    policy_name: req.policy_name.clone(),
                    document: req.policy_document.clone(),
                },
            )?;
            state
                .identity
                .entry(req.principal_arn.clone())
                .or_default()
                .insert(
                    req.policy_name.clone(),
                    (req.policy_document.clone(), Arc::new(parsed)),
                );
            Ok(())
        })
    }

    pub fn get_identity_policy(
        &self,
        req: IdentityPolicyRequest,
    ) -> Result<GetIdentityPolicyResponse> {
        self.call("GetIdentityPolicy", |state, call, audit| {
            state.require_root(call, "GetIdentityPolicy", audit)?;
            let doc = state
                .identity
                .get(&req.principal_arn)
                .and_then(|m| m.get(&req.policy_name))
                .map(|(d, _)| d.clone())
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::NotFound,
                        format!(
                            "no identity policy \"{}\" on {}",
                            req.policy_name, req.principal_arn
                        ),
                    )
                })?;
            Ok(GetIdentityPolicyResponse {
                principal_arn: req.principal_arn.clone(),
                policy_name: req.policy_name.clone(),
                policy_document: doc,
            })
        })
    }

    pub fn delete_identity_policy(&self, req: IdentityPolicyRequest) -> Result<()> {
        self.call("DeleteIdentityPolicy", |state, call, audit| {
            state.require_root(call, "DeleteIdentityPolicy", audit)?;
            let removed = state
                .identity
                .get_mut(&req.principal_arn)
                .and_then(|m| m.remove(&req.policy_name));
            if removed.is_none() {
                return Err(Error::new(
                    ErrorCode::NotFound,
                    format!(
                        "no identity policy \"{}\" on {}",
                        req.policy_name, req.principal_arn
                    ),
                ));
            }
            state.batch.push(Mutation::Delete {
                name: identity_name(&req.principal_arn, &req.policy_name),
            });
            Ok(())
        })
    }

    pub fn list_identity_policies(&self, principal_arn: &str) -> Result<Vec<String>> {
        self.call("ListIdentityPolicies", |state, call, audit| {
            state.require_root(call, "ListIdentityPolicies", audit)?;
            Ok(state
                .identity
                .get(principal_arn)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default())
        })
    }
}

pub(in crate::kms) fn validate_identity_target(principal: &str, name: &str) -> Result<()> {
    let parts: Vec<&str> = principal.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && (parts[5].starts_with("user/") || parts[5].starts_with("role/"))
        && parts[5].len() > 5;
    if !ok {
        return Err(Error::validation(
            "identity policies attach to IAM users or roles (arn:aws:iam::ACCOUNT:user/NAME or role/NAME)",
        ));
    }
    if name.is_empty()
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "+=,.@_-".contains(c))
    {
        return Err(Error::validation(
            "PolicyName must be 1 to 128 characters of [\\w+=,.@-]",
        ));
    }
    Ok(())
}
