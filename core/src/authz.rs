//! The authorization decision for one call (kms-semantics §6–7):
//!
//! 1. An applicable explicit Deny — in the key policy or in the caller's
//!    identity policies — always wins.
//! 2. A key policy statement naming the caller directly (`"*"`, its ARN,
//!    the account root for the root itself, its service) allows.
//! 3. A key policy statement naming the caller's *account* delegates to IAM:
//!    the caller's identity policies must allow too.
//! 4. A grant to the caller for this operation (constraints met) allows.
//! 5. Otherwise: denied. Nobody, root included, gets anything no statement
//!    allows.
//!
//! Actions with no key (CreateKey, ListKeys, ...) are decided by identity
//! policies alone, and only for principals of the store's own account: the
//! store's account root may always call them; a principal of another
//! account (its root included) never can.

use crate::context::EncryptionContext;
use crate::model::Caller;
use crate::model::{Grant, GrantOperation, KeyRecord};
use crate::policy::{
    fold_case, CondResult, Effect, KeyValues, Policy, Principal, Statement, EC_KEY_PREFIX,
};
use std::borrow::Cow;

/// The request facts conditions can ask about.
#[derive(Default)]
pub(crate) struct Facts<'a> {
    /// The KeyId as the caller wrote it (for kms:RequestAlias).
    pub request_key_id: Option<&'a str>,
    pub encryption_context: Option<&'a EncryptionContext>,
    pub encryption_algorithm: Option<&'a str>,
    pub grant_operations: Option<&'a [GrantOperation]>,
    pub grantee_principal: Option<&'a str>,
    pub retiring_principal: Option<&'a str>,
    pub pending_window_days: Option<u32>,
    pub rotation_period_days: Option<u32>,
    pub bypass_lockout: Option<bool>,
}

pub(crate) struct Request<'a> {
    pub caller: &'a Caller,
    /// The account that owns the store (and every key in it).
    pub store_account: &'a str,
    pub now_ms: u64,
    /// `kms:Encrypt`, ...
    pub action: &'a str,
    /// The key, or `None` for account-level actions.
    pub key: Option<&'a KeyRecord>,
    pub key_policy: Option<&'a Policy>,
    /// Aliases of the key (kms:ResourceAliases), computed on demand.
    pub key_aliases: &'a dyn Fn() -> Vec<String>,
    pub identity: &'a [(String, &'a Policy)],
    /// The key's grants (filtered by grantee only if policies do not
    /// already decide: the common path never scans them).
    pub grants: Option<&'a std::collections::BTreeMap<String, Grant>>,
    pub facts: Facts<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// (reason, the grant that allowed it if a grant did)
    Allow(String, Option<String>),
    /// (reason for the audit log, AWS-style message tail)
    Deny(String, String),
}

fn b(s: &str) -> KeyValues<'_> {
    KeyValues::One(Cow::Borrowed(s))
}

fn bo(o: Option<&str>) -> KeyValues<'_> {
    match o {
        Some(s) => KeyValues::One(Cow::Borrowed(s)),
        None => KeyValues::Absent,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PMatch {
    No,
    Direct,
    ViaAccount,
}

fn principal_match(p: &Principal, caller: &Caller) -> PMatch {
    match p {
        Principal::Any => PMatch::Direct,
        Principal::Account(a) if *a == caller.account => {
            if caller.is_account_root() {
                PMatch::Direct
            } else {
                PMatch::ViaAccount
            }
        }
        Principal::Account(_) => PMatch::No,
        Principal::Arn(pattern) => {
            if pattern.matches(&caller.principal_arn) {
                PMatch::Direct
            } else {
                PMatch::No
            }
        }
        Principal::Service(s) => {
            if caller.principal_arn.eq_ignore_ascii_case(s) {
                PMatch::Direct
            } else {
                PMatch::No
            }
        }
    }
}

/// How a key-policy statement's principal part applies to the caller.
fn statement_principal(st: &Statement, caller: &Caller) -> PMatch {
    if let Some(ps) = &st.principals {
        let mut best = PMatch::No;
        for p in ps {
            match principal_match(p, caller) {
                PMatch::Direct => return PMatch::Direct,
                PMatch::ViaAccount => best = PMatch::ViaAccount,
                PMatch::No => {}
            }
        }
        return best;
    }
    if let Some(nps) = &st.not_principals {
        if nps.iter().any(|p| principal_match(p, caller) != PMatch::No) {
            return PMatch::No;
        }
        return PMatch::Direct;
    }
    PMatch::No
}

impl Request<'_> {
    fn resource(&self) -> &str {
        self.key.map(|k| k.arn.as_str()).unwrap_or("*")
    }

    fn lookup(&self, key: &str) -> KeyValues<'_> {
        let owned = |s: String| KeyValues::One(Cow::Owned(s));
        let f = &self.facts;
        let k = self.key;
        if let Some(ec_key) = key.strip_prefix(EC_KEY_PREFIX) {
            // `key` was folded with `fold_case` at parse time; fold the
            // request's keys with the same function. Every context entry
            // whose key folds the same is a candidate value (keys that differ
            // only in case, e.g. `TENANT` and `tenant`).
            let Some(ctx) = f.encryption_context else {
                return KeyValues::Absent;
            };
            let mut found: Vec<Cow<'_, str>> = ctx
                .iter()
                .filter(|(name, _)| fold_case(name) == ec_key)
                .map(|(_, v)| Cow::Borrowed(v.as_str()))
                .collect();
            return match found.len() {
                0 => KeyValues::Absent,
                1 => KeyValues::One(found.remove(0)),
                _ => KeyValues::Ambiguous(found),
            };
        }
        match key {
            "kms:viaservice" => bo(self.caller.via_service.as_deref()),
            "kms:calleraccount" => b(&self.caller.account),
            "aws:principalarn" => b(&self.caller.principal_arn),
            "aws:principalaccount" => b(&self.caller.account),
            "aws:sourceaccount" => bo(self.caller.source_account.as_deref()),
            "aws:sourceip" => bo(self.caller.source_ip.as_deref()),
            "aws:currenttime" => owned(
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.now_ms),
                )
                .to_string(),
            ),
            "aws:epochtime" => owned((self.now_ms / 1000).to_string()),
            "kms:encryptioncontextkeys" => match f.encryption_context {
                None => KeyValues::Absent,
                Some(ctx) => {
                    KeyValues::Values(ctx.keys().map(|k| Cow::Borrowed(k.as_str())).collect())
                }
            },
            "kms:grantisforawsresource" => match f.grant_operations {
                None => KeyValues::Absent,
                Some(_) => b(if self.caller.via_service.is_some() {
                    "true"
                } else {
                    "false"
                }),
            },
            "kms:grantoperations" => match f.grant_operations {
                None => KeyValues::Absent,
                Some(ops) => {
                    KeyValues::Values(ops.iter().map(|o| Cow::Borrowed(o.as_str())).collect())
                }
            },
            "kms:granteeprincipal" => bo(f.grantee_principal),
            "kms:retiringprincipal" => bo(f.retiring_principal),
            "kms:requestalias" => match f.request_key_id.and_then(request_alias) {
                Some(a) => owned(a),
                None => KeyValues::Absent,
            },
            "kms:resourcealiases" => {
                let a = (self.key_aliases)();
                if a.is_empty() {
                    KeyValues::Absent
                } else {
                    KeyValues::Values(a.into_iter().map(Cow::Owned).collect())
                }
            }
            "kms:encryptionalgorithm" => bo(f.encryption_algorithm),
            "kms:keyspec" => bo(k.map(|k| k.key_spec.as_str())),
            "kms:keyusage" => bo(k.map(|k| k.key_usage.as_str())),
            "kms:keyorigin" => bo(k.map(|k| k.origin.as_str())),
            "kms:multiregion" => bo(k.map(|k| if k.multi_region { "true" } else { "false" })),
            "kms:schedulekeydeletionpendingwindowindays" => match f.pending_window_days {
                Some(d) => owned(d.to_string()),
                None => KeyValues::Absent,
            },
            "kms:rotationperiodindays" => match f.rotation_period_days {
                Some(d) => owned(d.to_string()),
                None => KeyValues::Absent,
            },
            "kms:bypasspolicylockoutsafetycheck" => match f.bypass_lockout {
                Some(v) => b(if v { "true" } else { "false" }),
                None => KeyValues::Absent,
            },
            _ => KeyValues::Unknown,
        }
    }

    fn applies(&self, st: &Statement) -> Option<CondResult> {
        if !st.covers_action(self.action) || !st.covers_resource(self.resource()) {
            return None;
        }
        Some(st.conditions(&|k| self.lookup(k)))
    }

    /// Decide.
    pub fn decide(&self) -> Decision {
        let deny = |why: String, tail: String| Decision::Deny(why, tail);
        // 1. explicit denies, key policy then identity policies.
        if let Some(kp) = self.key_policy {
            for st in kp.statements.iter().filter(|s| s.effect == Effect::Deny) {
                if statement_principal(st, self.caller) == PMatch::No {
                    continue;
                }
                if matches!(
                    self.applies(st),
                    Some(CondResult::True | CondResult::Unknown)
                ) {
                    return deny(
                        format!("explicit deny in key policy statement {}", st.label()),
                        format!(
                            "with an explicit deny in a resource-based policy (statement {})",
                            st.label()
                        ),
                    );
                }
            }
        }
        let mut identity_allow = None;
        for (name, pol) in self.identity {
            for st in &pol.statements {
                match (st.effect, self.applies(st)) {
                    (Effect::Deny, Some(CondResult::True | CondResult::Unknown)) => {
                        return deny(
                            format!(
                                "explicit deny in identity policy \"{name}\" statement {}",
                                st.label()
                            ),
                            format!(
                                "with an explicit deny in an identity-based policy (\"{name}\", statement {})",
                                st.label()
                            ),
                        )
                    }
                    (Effect::Allow, Some(CondResult::True)) if identity_allow.is_none() => {
                        identity_allow = Some(format!(
                            "identity policy \"{name}\" statement {}",
                            st.label()
                        ));
                    }
                    _ => {}
                }
            }
        }
        // Account-level actions: identity policies (or the root) decide, for
        // principals of the store's own account only.
        let Some(kp) = self.key_policy else {
            if self.key.is_none() && self.caller.account != self.store_account {
                return deny(
                    format!(
                        "the caller's account {} is not the store's account",
                        self.caller.account
                    ),
                    format!(
                        "because {} is an account-level action of account {} only",
                        self.action, self.store_account
                    ),
                );
            }
            if self.key.is_some() {
                // Every key has a policy (cached when saved or loaded); a
                // key without one is refused rather than left to identity
                // policies alone.
                return deny(
                    "the key has no key policy".into(),
                    format!(
                        "because no resource-based policy allows the {} action",
                        self.action
                    ),
                );
            }
            if self.caller.is_account_root() {
                return Decision::Allow("account root".into(), None);
            }
            return match identity_allow {
                Some(why) => Decision::Allow(why, None),
                None => deny(
                    "no identity policy allows".into(),
                    format!(
                        "because no identity-based policy allows the {} action",
                        self.action
                    ),
                ),
            };
        };
        // 2./3. key policy allows.
        let mut via_account = None;
        for st in kp.statements.iter().filter(|s| s.effect == Effect::Allow) {
            let pm = statement_principal(st, self.caller);
            if pm == PMatch::No || self.applies(st) != Some(CondResult::True) {
                continue;
            }
            if pm == PMatch::Direct {
                return Decision::Allow(["key policy statement ", st.label()].concat(), None);
            }
            via_account.get_or_insert_with(|| st.label().to_string());
        }
        if let (Some(kst), Some(iam)) = (&via_account, &identity_allow) {
            return Decision::Allow(
                format!("key policy statement {kst} delegates to IAM; {iam}"),
                None,
            );
        }
        // 4. grants.
        if let Some(g) = self.grant_allows() {
            return Decision::Allow(format!("grant {}", g.grant_id), Some(g.grant_id.clone()));
        }
        deny(
            "no statement or grant allows".into(),
            format!(
                "because no resource-based policy allows the {} action",
                self.action
            ),
        )
    }

    fn grant_allows(&self) -> Option<&Grant> {
        let op = GrantOperation::parse(self.action.strip_prefix("kms:")?)?;
        self.grants?.values().find(|g| {
            g.grantee_principal == self.caller.principal_arn
                && g.operations.contains(&op)
                && (!op.takes_context()
                    || g.constraints.as_ref().is_none_or(|c| {
                        c.allows(
                            self.facts
                                .encryption_context
                                .unwrap_or(&EncryptionContext::new()),
                        )
                    }))
        })
    }
}

/// `alias/x` for a KeyId written as an alias name or alias ARN.
pub(crate) fn request_alias(key_id: &str) -> Option<String> {
    if key_id.starts_with("alias/") {
        return Some(key_id.to_string());
    }
    if key_id.starts_with("arn:") {
        if let Some(i) = key_id.find(":alias/") {
            return Some(key_id[i + 1..].to_string());
        }
    }
    None
}
