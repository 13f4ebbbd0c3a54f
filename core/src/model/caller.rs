//! Who is making a call: [`Caller`], checked against the account it acts in.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Who is making a call. Every operation runs as a caller; the
/// authorization layer evaluates policies against it.
///
/// The principal and the account must agree: an IAM/STS principal ARN names
/// its account, which must be `account`; a service principal's
/// `source_account`, when given, must be `account`. Deserializing (the
/// bindings' `as_caller`) refuses an inconsistent caller, and every
/// authorization decision checks again ([`Caller::validate`]), since the
/// fields are public.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", try_from = "CallerFields")]
pub struct Caller {
    pub principal_arn: String,
    pub account: String,
    /// e.g. `s3.us-east-1.amazonaws.com` when a service calls on the
    /// principal's behalf (the `kms:ViaService` condition key).
    pub via_service: Option<String>,
    /// The account on whose behalf a service principal acts
    /// (`aws:SourceAccount`).
    #[serde(default)]
    pub source_account: Option<String>,
    /// The address the request came from (`aws:SourceIp`), as a front end
    /// that received it over the network saw it (the server: the peer
    /// address). `None` in process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
}

/// The serialized form of a [`Caller`], validated on the way in.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CallerFields {
    principal_arn: String,
    account: String,
    via_service: Option<String>,
    #[serde(default)]
    source_account: Option<String>,
    #[serde(default)]
    source_ip: Option<String>,
}

impl TryFrom<CallerFields> for Caller {
    type Error = Error;
    fn try_from(f: CallerFields) -> Result<Caller> {
        let c = Caller {
            principal_arn: f.principal_arn,
            account: f.account,
            via_service: f.via_service,
            source_account: f.source_account,
            source_ip: f.source_ip,
        };
        c.validate()?;
        Ok(c)
    }
}

impl Caller {
    /// A caller from a principal ARN (IAM user, role or root, an STS
    /// session) and its account, refused if they disagree.
    pub fn new(principal_arn: &str, account: &str) -> Result<Self> {
        let c = Caller {
            principal_arn: principal_arn.to_string(),
            account: account.to_string(),
            via_service: None,
            source_account: None,
            source_ip: None,
        };
        c.validate()?;
        Ok(c)
    }

    /// Check that the principal and the account agree (see [`Caller`]).
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| {
            Err(Error::validation(format!(
                "inconsistent caller {}: {why}",
                self.principal_arn
            )))
        };
        if self.account.is_empty() {
            return bad("no account".into());
        }
        if self.principal_arn.starts_with("arn:") {
            // The six `:`-separated parts, without collecting them (this
            // runs in every authorization).
            let mut parts = [""; 6];
            let mut count = 0;
            for (slot, part) in parts.iter_mut().zip(self.principal_arn.splitn(6, ':')) {
                *slot = part;
                count += 1;
            }
            let ok = count == 6
                && !parts[1].is_empty()
                && (parts[2] == "iam" || parts[2] == "sts")
                && parts[3].is_empty()
                && !parts[5].is_empty();
            if !ok {
                return bad("not an IAM or STS principal ARN".into());
            }
            if parts[4] != self.account {
                return bad(format!(
                    "the principal belongs to account {}, not {}",
                    parts[4], self.account
                ));
            }
        } else if self.principal_arn.is_empty() || self.principal_arn.contains(char::is_whitespace)
        {
            return bad("not a principal".into());
        }
        if let Some(src) = &self.source_account {
            if *src != self.account {
                return bad(format!(
                    "its source account {src} is not its account {}",
                    self.account
                ));
            }
        }
        Ok(())
    }

    /// The account root principal, `arn:aws:iam::ACCOUNT:root`.
    pub fn account_root(account: &str) -> Self {
        Caller {
            principal_arn: format!("arn:aws:iam::{account}:root"),
            account: account.to_string(),
            via_service: None,
            source_account: None,
            source_ip: None,
        }
    }
    pub fn iam_user(account: &str, name: &str) -> Self {
        Caller {
            principal_arn: format!("arn:aws:iam::{account}:user/{name}"),
            account: account.to_string(),
            via_service: None,
            source_account: None,
            source_ip: None,
        }
    }
    pub fn iam_role(account: &str, name: &str) -> Self {
        Caller {
            principal_arn: format!("arn:aws:iam::{account}:role/{name}"),
            account: account.to_string(),
            via_service: None,
            source_account: None,
            source_ip: None,
        }
    }
    /// An AWS service principal (`s3.amazonaws.com`) acting for `source_account`.
    pub fn service(service: &str, source_account: &str) -> Self {
        Caller {
            principal_arn: service.to_string(),
            account: source_account.to_string(),
            via_service: None,
            source_account: Some(source_account.to_string()),
            source_ip: None,
        }
    }
    /// The caller with `aws:SourceIp` set.
    pub fn with_source_ip(mut self, ip: &str) -> Self {
        self.source_ip = Some(ip.to_string());
        self
    }
    pub fn via_service(mut self, service: &str) -> Self {
        self.via_service = Some(service.to_string());
        self
    }
    /// Is this the account root principal?
    pub fn is_account_root(&self) -> bool {
        // Compared in place, without formatting: this runs in every
        // authorization.
        self.principal_arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.strip_suffix(":root"))
            == Some(self.account.as_str())
    }
}
