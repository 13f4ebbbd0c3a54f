//! PutKeyPolicy, GetKeyPolicy, ListKeyPolicies, and recovering a key
//! policy with the root key.

use crate::kms::*;

impl Kms {
    // ------------------------------------------------------------ key policies

    pub fn put_key_policy(&self, req: PutKeyPolicyRequest) -> Result<()> {
        self.call("PutKeyPolicy", |state, call, audit| {
            check_policy_name(req.policy_name.as_deref())?;
            validate_policy_text(&req.policy)?;
            policy::parse(&req.policy, PolicyKind::Key)?;
            let id = state.key_for(
                call,
                audit,
                Operation::PutKeyPolicy,
                &req.key_id,
                Facts {
                    bypass_lockout: Some(req.bypass_policy_lockout_safety_check),
                    ..Default::default()
                },
            )?;
            let mut rec = state.rec(&id).clone();
            deny_aws_managed(&rec)?;
            rec.policy = Some(req.policy.clone());
            if !req.bypass_policy_lockout_safety_check {
                state.lockout_check(call, &rec)?;
            }
            state.save_key(rec)
        })
    }

    pub fn get_key_policy(&self, req: GetKeyPolicyRequest) -> Result<GetKeyPolicyResponse> {
        self.call("GetKeyPolicy", |state, call, audit| {
            check_policy_name(req.policy_name.as_deref())?;
            let id = state.key_for(
                call,
                audit,
                Operation::GetKeyPolicy,
                &req.key_id,
                Facts::default(),
            )?;
            Ok(GetKeyPolicyResponse {
                policy: state.rec(&id).policy.clone().unwrap_or_default(),
                policy_name: "default".into(),
            })
        })
    }

    pub fn list_key_policies(
        &self,
        req: ListKeyPoliciesRequest,
    ) -> Result<ListKeyPoliciesResponse> {
        self.call("ListKeyPolicies", |state, call, audit| {
            let limit = limit_of(req.limit, 100)?;
            state.key_for(
                call,
                audit,
                Operation::ListKeyPolicies,
                &req.key_id,
                Facts::default(),
            )?;
            let (policy_names, next_marker, truncated) = paginate(
                vec!["default".to_string()],
                |n| n.clone(),
                limit,
                req.marker.as_deref(),
            )?;
            Ok(ListKeyPoliciesResponse {
                policy_names,
                next_marker,
                truncated,
            })
        })
    }

    /// Regain control of a key whose policy locks everyone out (set with
    /// the bypass flag): whoever holds the store's root key may reset the
    /// policy to the default. The call is audited. Without the root key
    /// there is no way back in.
    pub fn recover_key_policy(&self, key_id: &str, root: RootKey) -> Result<()> {
        let kdf = {
            let mut state = self.lock()?;
            state.store.load()?.get(KDF_NAME).cloned()
        };
        // Argon2 runs without the state lock (it is slow by design); the
        // outcome, error or not, is decided and audited inside the call.
        let candidate = candidate_root_key(root, kdf.as_deref());
        self.call("RecoverKeyPolicy", |state, call, audit| {
            let candidate = candidate?;
            if !state.hsm.root_matches(&candidate) {
                audit.decision = Some("deny RecoverKeyPolicy: the root key does not match".into());
                return Err(Error::new(
                    ErrorCode::InvalidRootKey,
                    "the root key does not open this store",
                ));
            }
            let id = state.resolve(call, key_id)?;
            let mut rec = state.rec(&id).clone();
            audit.key_arn = Some(rec.arn.clone());
            deny_aws_managed(&rec)?;
            audit.decision = Some("allow RecoverKeyPolicy: store root key presented".into());
            rec.policy = Some(default_policy(call.account));
            state.save_key(rec)
        })
    }
}

pub(in crate::kms) fn validate_policy_text(p: &str) -> Result<()> {
    if p.is_empty() || p.len() > MAX_POLICY_LEN {
        return Err(Error::new(
            ErrorCode::Validation,
            format!("Policy must be 1 to {MAX_POLICY_LEN} characters"),
        ));
    }
    if !p
        .chars()
        .all(|c| matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{ff}'))
    {
        return Err(Error::validation(
            "Policy contains characters outside \\u0009 \\u000A \\u000D \\u0020-\\u00FF",
        ));
    }
    Ok(())
}

/// The default key policy AWS applies through the API: the account may use
/// IAM policies to grant access.
pub fn default_policy(account: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Id":"key-default-1","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    )
}

pub(in crate::kms) fn check_policy_name(name: Option<&str>) -> Result<()> {
    match name {
        None | Some("default") => Ok(()),
        Some(other) => Err(Error::new(
            ErrorCode::NotFound,
            format!("No such policy exists: \"{other}\" (the key policy is named \"default\")"),
        )),
    }
}
