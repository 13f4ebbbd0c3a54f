//! Authorization of one call: key policy, identity policies and grants
//! (through `authz.rs`), the account-root checks, the key policy lockout
//! check and grant tokens.

use super::*;

impl State {
    /// The steps an operation on one key starts with, in AWS's order:
    /// resolve `key_id` (from here on the audit event names the key),
    /// authorize the operation's IAM action on it with `facts` (the
    /// request's key id is filled in), then check the key's state against
    /// the operation's key-state class. Action and class come from the
    /// operation table (`operations.rs`). Returns the key's id.
    pub(in crate::kms) fn key_for(
        &self,
        call: &CallContext,
        audit: &mut AuditInfo,
        op: Operation,
        key_id: &str,
        facts: Facts<'_>,
    ) -> Result<String> {
        let id = self.resolve(call, key_id)?;
        audit.key_arn = Some(call.key_arn(&id));
        let action = op
            .action()
            .ok_or_else(|| Error::internal(format!("{op} has no IAM action")))?;
        self.authorize(
            call,
            action,
            Some(&id),
            Facts {
                request_key_id: Some(key_id),
                ..facts
            },
            audit,
        )?;
        let rec = self.rec(&id);
        if let Some(class) = op.class() {
            check_state(class, rec.state, &rec.arn)?;
        }
        Ok(id)
    }

    /// Decide whether `call.caller` may perform `action` (on `key_id`, or at
    /// account level). Records the decision for the audit log.
    pub(in crate::kms) fn authorize(
        &self,
        call: &CallContext,
        action: &str,
        key_id: Option<&str>,
        facts: Facts<'_>,
        audit: &mut AuditInfo,
    ) -> Result<Option<String>> {
        if let Err(e) = call.caller.validate() {
            audit.decision = Some(format!("deny {action}: inconsistent caller"));
            return Err(e);
        }
        let key = key_id.and_then(|id| self.keys.get(id));
        let key_policy = key_id
            .and_then(|id| self.policies.get(id))
            .map(|(_, p)| &**p);
        let identity = self.identity_policies(&call.caller.principal_arn);
        let grants = key_id.and_then(|id| self.grants.get(id));
        let aliases = || {
            self.aliases
                .values()
                .filter(|a| Some(a.target_key_id.as_str()) == key_id)
                .map(|a| a.alias_name.clone())
                .collect()
        };
        let req = authz::Request {
            caller: call.caller,
            store_account: call.account,
            now_ms: call.now,
            action,
            key,
            key_policy,
            key_aliases: &aliases,
            identity: &identity,
            grants,
            facts,
        };
        let decision = req.decide();
        let note = |d: &str| match &audit.decision {
            Some(prev) => format!("{prev}; {d}"),
            None => d.to_string(),
        };
        match decision {
            Decision::Allow(why, grant) => {
                audit.decision = Some(match &audit.decision {
                    None => ["allow ", action, ": ", &why].concat(),
                    Some(prev) => [prev.as_str(), "; allow ", action, ": ", &why].concat(),
                });
                Ok(grant)
            }
            Decision::Deny(why, tail) => {
                audit.decision = Some(note(&format!("deny {action}: {why}")));
                let resource = key.map(|k| k.arn.clone()).unwrap_or_else(|| "*".into());
                Err(Error::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "User: {} is not authorized to perform: {action} on resource: {resource} {tail}",
                        call.caller.principal_arn
                    ),
                ))
            }
        }
    }

    /// Account-administration calls (settings, identity policies, audit
    /// pruning): the account root only.
    pub(in crate::kms) fn require_root(
        &self,
        call: &CallContext,
        what: &str,
        audit: &mut AuditInfo,
    ) -> Result<()> {
        if call.caller.validate().is_ok()
            && call.caller.is_account_root()
            && call.caller.account == call.account
        {
            audit.decision = Some(format!("allow {what}: account root"));
            return Ok(());
        }
        audit.decision = Some(format!("deny {what}: only the account root may"));
        Err(Error::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} is not authorized to perform: {what} (account root only)",
                call.caller.principal_arn
            ),
        ))
    }

    /// The lockout safety check: would `rec`'s policy still let the caller
    /// call PutKeyPolicy?
    pub(in crate::kms) fn lockout_check(&self, call: &CallContext, rec: &KeyRecord) -> Result<()> {
        let parsed = policy::parse(rec.policy.as_deref().unwrap_or(""), PolicyKind::Key)?;
        if self.allows_put_policy(call.caller, call.now, rec, &parsed) {
            Ok(())
        } else {
            Err(lockout_error())
        }
    }

    /// Would `policy`, as the key policy of `rec`, still let `caller` call
    /// PutKeyPolicy (with the caller's identity policies)?
    pub(in crate::kms) fn allows_put_policy(
        &self,
        caller: &Caller,
        now: Millis,
        rec: &KeyRecord,
        policy: &Policy,
    ) -> bool {
        let identity = self.identity_policies(&caller.principal_arn);
        let no_aliases = Vec::new;
        let req = authz::Request {
            caller,
            store_account: &rec.account,
            now_ms: now,
            action: "kms:PutKeyPolicy",
            key: Some(rec),
            key_policy: Some(policy),
            key_aliases: &no_aliases,
            identity: &identity,
            grants: None,
            facts: Facts {
                bypass_lockout: Some(false),
                ..Default::default()
            },
        };
        matches!(req.decide(), Decision::Allow(..))
    }

    /// The identity policies attached to a principal, by name.
    pub(in crate::kms) fn identity_policies(&self, principal: &str) -> Vec<(String, &Policy)> {
        self.identity
            .get(principal)
            .map(|m| m.iter().map(|(n, (_, p))| (n.clone(), &**p)).collect())
            .unwrap_or_default()
    }

    /// A fresh token for a grant: `srg2 ‖ grant id ‖ nonce ‖ MAC`, the
    /// nonce 16 random bytes and the MAC the first 16 bytes of the grant
    /// token HMAC over `grant id ‖ nonce` (hex throughout). Every call makes
    /// a new token, as AWS returns a new one for each CreateGrant, even a
    /// repeated one that answers with the same grant id.
    pub(in crate::kms) fn grant_token(&self, grant_id: &str) -> Result<String> {
        let nonce = hex::encode(&self.hsm.random_bytes(16)?[..]);
        let mac = self.hsm.token_mac(format!("{grant_id}{nonce}").as_bytes());
        Ok(format!("srg2{grant_id}{nonce}{}", hex::encode(&mac[..16])))
    }

    /// The grant id inside a token; `InvalidGrantTokenException` if the
    /// token is not one this store issued. Tokens of the first form
    /// (`srg1 ‖ grant id ‖ MAC(grant id)`, one per grant) stay valid.
    pub(in crate::kms) fn parse_grant_token(&self, token: &str) -> Result<String> {
        let bad = || Error::new(ErrorCode::InvalidGrantToken, "The grant token is not valid");
        let hex_of = |body: &str, len: usize| {
            body.len() == len && body.bytes().all(|b| b.is_ascii_hexdigit())
        };
        let (id, signed, mac) = if let Some(body) = token.strip_prefix("srg2") {
            if !hex_of(body, 128) {
                return Err(bad());
            }
            (&body[..64], &body[..96], &body[96..])
        } else if let Some(body) = token.strip_prefix("srg1") {
            if !hex_of(body, 96) {
                return Err(bad());
            }
            (&body[..64], &body[..64], &body[64..])
        } else {
            return Err(bad());
        };
        let want = hex::encode(&self.hsm.token_mac(signed.as_bytes())[..16]);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            want.as_bytes(),
            mac.as_bytes(),
        )) {
            return Err(bad());
        }
        Ok(id.to_string())
    }

    pub(in crate::kms) fn validate_grant_tokens(&self, tokens: &[String]) -> Result<()> {
        validate_grant_tokens(tokens)?;
        for t in tokens {
            self.parse_grant_token(t)?;
        }
        Ok(())
    }
}

/// AWS's refusal for a policy that fails the lockout safety check.
pub(in crate::kms) fn lockout_error() -> Error {
    Error::new(
        ErrorCode::MalformedPolicyDocument,
        "The new key policy will not allow you to update the key policy in the future.",
    )
}
