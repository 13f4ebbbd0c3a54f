//! Key policies and identity policies: typed documents parsed with serde,
//! and the matching of one statement against one request.
//!
//! Grammar and semantics follow AWS IAM/KMS (kms-semantics §6). Anything
//! malformed is a `MalformedPolicyDocumentException` naming the reason.
//! Condition keys are matched case-insensitively; an unknown condition key
//! never makes an Allow apply and never lets a Deny escape (fail closed).

use std::collections::BTreeMap;

use serde::Deserialize;
use wildmatch::WildMatch;

use crate::error::{Error, ErrorCode, Result};

/// The largest policy document accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

/// A pattern with IAM wildcards (`*`, `?`), compiled once at parse time;
/// plain strings compare directly, and the two shapes nearly every policy
/// uses — `*` and `prefix*` (`kms:*`, `kms:GenerateDataKey*`, an ARN
/// prefix) — without the general matcher.
#[derive(Debug, Clone)]
pub struct Pattern {
    raw: String,
    wild: Option<WildMatch>,
    shape: Shape,
    /// ASCII case-insensitive (actions).
    ci: bool,
}

/// What a pattern's wildcards amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// No wildcard: equality.
    Exact,
    /// Only `*`s: anything matches, the empty string included.
    Any,
    /// `prefix*` (one or more trailing `*`, no other wildcard; for a
    /// case-insensitive pattern the prefix is ASCII): the length of the
    /// prefix in bytes.
    Prefix(usize),
    /// Anything else: the general matcher.
    General,
}

fn shape(raw: &str, ci: bool) -> Shape {
    if !raw.contains(['*', '?']) {
        return Shape::Exact;
    }
    let prefix = raw.trim_end_matches('*');
    if prefix.is_empty() {
        Shape::Any
    } else if !prefix.contains(['*', '?']) && (!ci || prefix.is_ascii()) {
        Shape::Prefix(prefix.len())
    } else {
        Shape::General
    }
}

impl Pattern {
    pub fn new(raw: impl Into<String>) -> Self {
        let raw = raw.into();
        let wild = (raw.contains('*') || raw.contains('?')).then(|| WildMatch::new(&raw));
        Pattern {
            shape: shape(&raw, false),
            raw,
            wild,
            ci: false,
        }
    }
    /// A case-insensitive pattern (IAM action names).
    pub fn new_case_insensitive(raw: impl Into<String>) -> Self {
        let raw = raw.into();
        let wild =
            (raw.contains('*') || raw.contains('?')).then(|| WildMatch::new_case_insensitive(&raw));
        Pattern {
            shape: shape(&raw, true),
            raw,
            wild,
            ci: true,
        }
    }
    pub fn matches(&self, s: &str) -> bool {
        match (self.shape, &self.wild) {
            (Shape::Any, _) => true,
            (Shape::Prefix(n), _) if !self.ci => {
                s.as_bytes().starts_with(&self.raw.as_bytes()[..n])
            }
            // Case-insensitive: the general matcher lowercases non-ASCII
            // characters (some fold to ASCII, e.g. the Kelvin sign), so the
            // byte comparison decides only an ASCII start of `s`.
            (Shape::Prefix(n), Some(w)) => match s.as_bytes().get(..n) {
                None => false,
                Some(head) if head.is_ascii() => {
                    head.eq_ignore_ascii_case(&self.raw.as_bytes()[..n])
                }
                Some(_) => w.matches(s),
            },
            (_, Some(w)) => w.matches(s),
            (_, None) if self.ci => self.raw.eq_ignore_ascii_case(s),
            (_, None) => self.raw == s,
        }
    }
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}
impl Eq for Pattern {}

/// Unicode case folding (CaseFolding.txt, full folding), the one function
/// that makes two condition-key names "the same": used for the condition
/// key written in a policy and for every encryption-context key of a
/// request, so `Ärger`/`ärger` and `ΟΔΟΣ`/`οδος` meet on both sides.
pub(crate) fn fold_case(s: &str) -> String {
    unicase::UniCase::new(s).to_folded_case()
}

/// The prefix of the per-key encryption-context condition keys (folded).
pub(crate) const EC_KEY_PREFIX: &str = "kms:encryptioncontext:";

fn malformed(reason: impl Into<String>) -> Error {
    Error::new(ErrorCode::MalformedPolicyDocument, reason)
}

// ------------------------------------------------------------ raw serde shapes

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    S(String),
    B(bool),
    N(serde_json::Number),
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Scalar::S(s) => s,
            Scalar::B(b) => b.to_string(),
            Scalar::N(n) => n.to_string(),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawPrincipal {
    Star(String),
    Map(BTreeMap<String, OneOrMany<String>>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatement {
    #[serde(rename = "Sid")]
    sid: Option<String>,
    #[serde(rename = "Effect")]
    effect: String,
    #[serde(rename = "Principal")]
    principal: Option<RawPrincipal>,
    #[serde(rename = "NotPrincipal")]
    not_principal: Option<RawPrincipal>,
    #[serde(rename = "Action")]
    action: Option<OneOrMany<String>>,
    #[serde(rename = "NotAction")]
    not_action: Option<OneOrMany<String>>,
    #[serde(rename = "Resource")]
    resource: Option<OneOrMany<String>>,
    #[serde(rename = "NotResource")]
    not_resource: Option<OneOrMany<String>>,
    #[serde(rename = "Condition")]
    condition: Option<BTreeMap<String, BTreeMap<String, OneOrMany<Scalar>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(rename = "Version")]
    version: Option<String>,
    #[serde(rename = "Id")]
    _id: Option<String>,
    #[serde(rename = "Statement")]
    statement: OneOrMany<RawStatement>,
}

// ------------------------------------------------------------ typed model

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One principal named in a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `"*"` or `{"AWS": "*"}`: anyone.
    Any,
    /// An account (`arn:aws:iam::A:root` or the bare 12-digit id).
    Account(String),
    /// An IAM user or role ARN.
    Arn(Pattern),
    /// `{"Service": "s3.amazonaws.com"}`.
    Service(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    Null,
    ArnEquals,
    ArnNotEquals,
    ArnLike,
    ArnNotLike,
    IpAddress,
    NotIpAddress,
}

impl Operator {
    fn parse(s: &str) -> Option<Operator> {
        use Operator::*;
        Some(match s {
            "StringEquals" => StringEquals,
            "StringNotEquals" => StringNotEquals,
            "StringEqualsIgnoreCase" => StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => StringNotEqualsIgnoreCase,
            "StringLike" => StringLike,
            "StringNotLike" => StringNotLike,
            "NumericEquals" => NumericEquals,
            "NumericNotEquals" => NumericNotEquals,
            "NumericLessThan" => NumericLessThan,
            "NumericLessThanEquals" => NumericLessThanEquals,
            "NumericGreaterThan" => NumericGreaterThan,
            "NumericGreaterThanEquals" => NumericGreaterThanEquals,
            "DateEquals" => DateEquals,
            "DateNotEquals" => DateNotEquals,
            "DateLessThan" => DateLessThan,
            "DateLessThanEquals" => DateLessThanEquals,
            "DateGreaterThan" => DateGreaterThan,
            "DateGreaterThanEquals" => DateGreaterThanEquals,
            "Bool" => Bool,
            "Null" => Null,
            "ArnEquals" => ArnEquals,
            "ArnNotEquals" => ArnNotEquals,
            "ArnLike" => ArnLike,
            "ArnNotLike" => ArnNotLike,
            "IpAddress" => IpAddress,
            "NotIpAddress" => NotIpAddress,
            _ => return None,
        })
    }

    /// Negated operators: true when the key is absent, and a match means
    /// "equal to none of the values".
    fn negated(self) -> bool {
        use Operator::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | ArnNotEquals
                | ArnNotLike
                | NotIpAddress
        )
    }

    /// The positive comparison of one request value with one policy value.
    fn positive(self, request: &str, pattern: &Pattern) -> bool {
        use Operator::*;
        let policy = pattern.as_str();
        match self {
            StringEquals | StringNotEquals => request == policy,
            StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => {
                request.to_lowercase() == policy.to_lowercase()
            }
            StringLike | StringNotLike | ArnEquals | ArnNotEquals | ArnLike | ArnNotLike => {
                pattern.matches(request)
            }
            Bool => request.eq_ignore_ascii_case(policy),
            IpAddress | NotIpAddress => ip_in(request, policy),
            NumericEquals | NumericNotEquals => num(request, policy, |a, b| a == b),
            NumericLessThan => num(request, policy, |a, b| a < b),
            NumericLessThanEquals => num(request, policy, |a, b| a <= b),
            NumericGreaterThan => num(request, policy, |a, b| a > b),
            NumericGreaterThanEquals => num(request, policy, |a, b| a >= b),
            DateEquals | DateNotEquals => date(request, policy, |a, b| a == b),
            DateLessThan => date(request, policy, |a, b| a < b),
            DateLessThanEquals => date(request, policy, |a, b| a <= b),
            DateGreaterThan => date(request, policy, |a, b| a > b),
            DateGreaterThanEquals => date(request, policy, |a, b| a >= b),
            Null => false,
        }
    }
}

/// Is the request's address (`aws:SourceIp`) in the policy's CIDR block
/// (`203.0.113.0/24`, `2001:db8::/32`) or equal to its single address?
/// Anything that does not parse never matches.
fn ip_in(request: &str, policy: &str) -> bool {
    let Ok(ip) = request.trim().parse::<std::net::IpAddr>() else {
        return false;
    };
    let policy = policy.trim();
    match policy.parse::<ipnet::IpNet>() {
        Ok(net) => net.contains(&ip),
        Err(_) => policy.parse::<std::net::IpAddr>() == Ok(ip),
    }
}

fn num(a: &str, b: &str, f: impl Fn(f64, f64) -> bool) -> bool {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => f(x, y),
        _ => false,
    }
}

/// A date as epoch seconds: RFC 3339 (`2026-01-01T00:00:00Z`) or a number.
pub(crate) fn parse_date(s: &str) -> Option<f64> {
    if let Ok(n) = s.trim().parse::<f64>() {
        return Some(n);
    }
    let t = humantime::parse_rfc3339_weak(s.trim()).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_secs_f64())
}

fn date(a: &str, b: &str, f: impl Fn(f64, f64) -> bool) -> bool {
    match (parse_date(a), parse_date(b)) {
        (Some(x), Some(y)) => f(x, y),
        _ => false,
    }
}

#[derive(Debug, Clone)]
pub struct Condition {
    pub operator: Operator,
    pub qualifier: Qualifier,
    pub if_exists: bool,
    /// The condition key, folded with [`fold_case`].
    pub key: String,
    pub values: Vec<Pattern>,
}

/// What a request offers for a condition key (borrowed where possible:
/// evaluation is on the hot path of every call).
pub enum KeyValues<'a> {
    /// This build does not know the key: never matches (fail closed).
    Unknown,
    /// A known key that this request does not carry.
    Absent,
    One(std::borrow::Cow<'a, str>),
    Values(Vec<std::borrow::Cow<'a, str>>),
    /// A single-valued key for which the request offers several candidate
    /// values: an encryption context with keys that differ only in case
    /// (`{"TENANT":"ok","tenant":"blocked"}`) matches
    /// `kms:EncryptionContext:tenant` twice. The condition is evaluated
    /// against each candidate alone; a Deny statement's condition holds if it
    /// holds for any candidate, an Allow statement's only if it holds for
    /// every candidate. So such a context can never escape a Deny nor
    /// satisfy an Allow that one of its values would not satisfy.
    Ambiguous(Vec<std::borrow::Cow<'a, str>>),
}

/// How a condition combines the candidates of an ambiguous key: by the
/// effect of its statement (fail closed both ways).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ambiguity {
    /// Deny: true if true for any candidate.
    Any,
    /// Allow: true only if true for every candidate.
    All,
}

/// Three-valued outcome of a statement's conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CondResult {
    True,
    False,
    /// An unknown condition key was involved.
    Unknown,
}

impl Condition {
    fn eval<'a>(&self, lookup: &dyn Fn(&str) -> KeyValues<'a>, amb: Ambiguity) -> CondResult {
        match &lookup(&self.key) {
            KeyValues::Unknown => CondResult::Unknown,
            KeyValues::Absent => self.eval_values(None),
            KeyValues::One(v) => self.eval_values(Some(std::slice::from_ref(v))),
            KeyValues::Values(v) => self.eval_values(Some(v)),
            KeyValues::Ambiguous(cands) if cands.is_empty() => self.eval_values(None),
            KeyValues::Ambiguous(cands) => {
                let mut each = cands
                    .iter()
                    .map(|c| self.eval_values(Some(std::slice::from_ref(c))) == CondResult::True);
                let holds = match amb {
                    Ambiguity::Any => each.any(|t| t),
                    Ambiguity::All => each.all(|t| t),
                };
                if holds {
                    CondResult::True
                } else {
                    CondResult::False
                }
            }
        }
    }

    /// Evaluate against the values the request offers (`None`: absent).
    fn eval_values(&self, values: Option<&[std::borrow::Cow<'_, str>]>) -> CondResult {
        let b = |x: bool| {
            if x {
                CondResult::True
            } else {
                CondResult::False
            }
        };
        if self.operator == Operator::Null {
            // "true": the key must be absent; "false": present.
            let want_absent = self
                .values
                .iter()
                .any(|v| v.as_str().eq_ignore_ascii_case("true"));
            let want_present = self
                .values
                .iter()
                .any(|v| v.as_str().eq_ignore_ascii_case("false"));
            let absent = values.is_none_or(|v| v.is_empty());
            return b((want_absent && absent) || (want_present && !absent));
        }
        let Some(values) = values else {
            return b(match self.qualifier {
                Qualifier::ForAllValues => true,
                Qualifier::ForAnyValue => false,
                Qualifier::None => self.if_exists || self.operator.negated(),
            });
        };
        // One request value against the policy values.
        let one = |rv: &str| -> bool {
            let any = self.values.iter().any(|pv| self.operator.positive(rv, pv));
            if self.operator.negated() {
                !any
            } else {
                any
            }
        };
        b(match self.qualifier {
            Qualifier::ForAllValues => values.iter().all(|v| one(v)),
            Qualifier::ForAnyValue => values.iter().any(|v| one(v)),
            Qualifier::None => {
                if self.operator.negated() {
                    values.iter().all(|v| one(v))
                } else {
                    values.iter().any(|v| one(v))
                }
            }
        })
    }
}

#[derive(Debug, Clone)]
pub struct Statement {
    pub sid: Option<String>,
    label: String,
    pub effect: Effect,
    /// `None` for identity policies (they name no principal).
    pub principals: Option<Vec<Principal>>,
    pub not_principals: Option<Vec<Principal>>,
    /// Lower-cased patterns; `None` means the statement names no action
    /// (it then applies to nothing).
    pub actions: Option<Vec<Pattern>>,
    pub not_actions: Option<Vec<Pattern>>,
    pub resources: Option<Vec<Pattern>>,
    pub not_resources: Option<Vec<Pattern>>,
    pub conditions: Vec<Condition>,
}

impl Statement {
    /// `"Sid"` or `(no Sid)`, computed once at parse time.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Does the statement cover this action (e.g. `kms:Encrypt`)?
    /// Action names match case-insensitively, with `*` and `?`.
    pub fn covers_action(&self, a: &str) -> bool {
        let m = |pats: &Vec<Pattern>| pats.iter().any(|p| p.matches(a));
        match (&self.actions, &self.not_actions) {
            (Some(p), _) => m(p),
            (None, Some(p)) => !m(p),
            (None, None) => false,
        }
    }

    /// Does the statement cover this resource ARN?
    pub fn covers_resource(&self, arn: &str) -> bool {
        let m = |pats: &Vec<Pattern>| pats.iter().any(|p| p.matches(arn));
        match (&self.resources, &self.not_resources) {
            (Some(p), _) => m(p),
            (None, Some(p)) => !m(p),
            (None, None) => false,
        }
    }

    pub fn conditions<'a>(&self, lookup: &dyn Fn(&str) -> KeyValues<'a>) -> CondResult {
        let amb = match self.effect {
            Effect::Deny => Ambiguity::Any,
            Effect::Allow => Ambiguity::All,
        };
        let mut unknown = false;
        for c in &self.conditions {
            match c.eval(lookup, amb) {
                CondResult::False => return CondResult::False,
                CondResult::Unknown => unknown = true,
                CondResult::True => {}
            }
        }
        if unknown {
            CondResult::Unknown
        } else {
            CondResult::True
        }
    }
}

/// A parsed policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

/// Which kind of document: key policies need a Principal in every
/// statement; identity policies must not have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Key,
    Identity,
}

fn parse_principal(raw: RawPrincipal, mode: Mode) -> Result<Vec<Principal>> {
    match raw {
        RawPrincipal::Star(s) if s == "*" => Ok(vec![Principal::Any]),
        RawPrincipal::Star(s) => Err(malformed(format!(
            "Principal must be \"*\" or an object, not \"{s}\""
        ))),
        RawPrincipal::Map(m) => {
            if m.is_empty() {
                return Err(malformed("Principal names no principal"));
            }
            let mut out = Vec::new();
            for (kind, vals) in m {
                let vals = vals.into_vec();
                if vals.is_empty() && mode == Mode::Strict {
                    // `{"AWS": []}` names nobody: AWS refuses it rather than
                    // keep a statement that applies to no one.
                    return Err(malformed(format!(
                        "Policy contains a statement with one or more invalid principals. The \"{kind}\" principal list is empty."
                    )));
                }
                for v in vals {
                    out.push(match kind.as_str() {
                        "AWS" => parse_aws_principal(&v)?,
                        "Service" => {
                            if v.is_empty() || v.contains(char::is_whitespace) {
                                return Err(malformed(format!(
                                    "invalid service principal \"{v}\""
                                )));
                            }
                            Principal::Service(v.to_ascii_lowercase())
                        }
                        other => {
                            return Err(malformed(format!(
                                "unsupported principal type \"{other}\" (use AWS or Service)"
                            )))
                        }
                    });
                }
            }
            Ok(out)
        }
    }
}

fn parse_aws_principal(v: &str) -> Result<Principal> {
    if v == "*" {
        return Ok(Principal::Any);
    }
    if v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Principal::Account(v.to_string()));
    }
    // arn:PARTITION:iam::ACCOUNT:root | user/... | role/...
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err(malformed(format!("invalid AWS principal \"{v}\"")));
    }
    let resource = parts[5];
    if resource == "root" {
        Ok(Principal::Account(parts[4].to_string()))
    } else if (resource.starts_with("user/") || resource.starts_with("role/")) && resource.len() > 5
    {
        Ok(Principal::Arn(Pattern::new(v)))
    } else {
        Err(malformed(format!("invalid AWS principal \"{v}\"")))
    }
}

fn parse_condition_block(
    raw: BTreeMap<String, BTreeMap<String, OneOrMany<Scalar>>>,
) -> Result<Vec<Condition>> {
    let mut out = Vec::new();
    for (op_name, keys) in raw {
        let (qualifier, rest) = if let Some(r) = op_name.strip_prefix("ForAnyValue:") {
            (Qualifier::ForAnyValue, r)
        } else if let Some(r) = op_name.strip_prefix("ForAllValues:") {
            (Qualifier::ForAllValues, r)
        } else {
            (Qualifier::None, op_name.as_str())
        };
        let (if_exists, base) = match rest.strip_suffix("IfExists") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        let operator = Operator::parse(base)
            .ok_or_else(|| malformed(format!("unknown condition operator \"{op_name}\"")))?;
        if operator == Operator::Null && (if_exists || qualifier != Qualifier::None) {
            return Err(malformed(format!(
                "invalid condition operator \"{op_name}\""
            )));
        }
        if keys.is_empty() {
            return Err(malformed(format!(
                "condition operator \"{op_name}\" has no keys"
            )));
        }
        for (key, vals) in keys {
            let values: Vec<Pattern> = vals
                .into_vec()
                .into_iter()
                .map(|v| Pattern::new(v.into_string()))
                .collect();
            if values.is_empty() {
                return Err(malformed(format!("condition key \"{key}\" has no values")));
            }
            out.push(Condition {
                operator,
                qualifier,
                if_exists,
                // Folded whole: the ASCII global and KMS key names become lower
                // case, and the encryption-context key name after
                // `kms:EncryptionContext:` is folded exactly as the request's
                // context keys are (authz::Request::lookup).
                key: fold_case(&key),
                values,
            });
        }
    }
    Ok(out)
}

fn lower_all(v: Vec<String>) -> Vec<Pattern> {
    v.into_iter().map(Pattern::new_case_insensitive).collect()
}

fn patterns(v: Vec<String>) -> Vec<Pattern> {
    v.into_iter().map(Pattern::new).collect()
}

/// Parse and validate a policy document (every write path: CreateKey,
/// PutKeyPolicy, PutIdentityPolicy, ReplicateKey).
pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy> {
    parse_with(text, kind, Mode::Strict)
}

/// Parse a document already in a store (key policies and identity policies
/// at load). Documents stored before the checks for statements without
/// Action/NotAction, without Resource/NotResource or with an empty principal
/// list existed still load (refusing them would fail the whole store's
/// open), failing closed: such an Allow applies to nothing; such a Deny
/// covers every action (no Action) and every resource (no Resource); an
/// empty principal list names nobody. Writing such a document again is
/// refused ([`parse`]).
pub(crate) fn parse_stored(text: &str, kind: PolicyKind) -> Result<Policy> {
    parse_with(text, kind, Mode::Stored)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Strict,
    Stored,
}

fn parse_with(text: &str, kind: PolicyKind, mode: Mode) -> Result<Policy> {
    if text.is_empty() {
        return Err(malformed("the policy document is empty"));
    }
    if text.len() > MAX_POLICY_BYTES {
        return Err(malformed(format!(
            "the policy document is {} bytes; the limit is {MAX_POLICY_BYTES}",
            text.len()
        )));
    }
    let raw: RawPolicy = serde_json::from_str(text)
        .map_err(|e| malformed(format!("the policy document is not a valid policy: {e}")))?;
    match raw.version.as_deref() {
        Some("2012-10-17") | Some("2008-10-17") => {}
        Some(v) => return Err(malformed(format!("unsupported policy Version \"{v}\""))),
        None => return Err(malformed("the policy has no Version (use \"2012-10-17\")")),
    }
    let raw_statements = raw.statement.into_vec();
    if raw_statements.is_empty() {
        return Err(malformed("the policy has no statements"));
    }
    let mut statements = Vec::with_capacity(raw_statements.len());
    for (i, st) in raw_statements.into_iter().enumerate() {
        let at = |m: &str| malformed(format!("statement {i}: {m}"));
        let effect = match st.effect.as_str() {
            "Allow" => Effect::Allow,
            "Deny" => Effect::Deny,
            other => {
                return Err(at(&format!(
                    "Effect must be Allow or Deny, not \"{other}\""
                )))
            }
        };
        if st.action.is_some() && st.not_action.is_some() {
            return Err(at("Action and NotAction cannot both be present"));
        }
        if st.resource.is_some() && st.not_resource.is_some() {
            return Err(at("Resource and NotResource cannot both be present"));
        }
        if st.principal.is_some() && st.not_principal.is_some() {
            return Err(at("Principal and NotPrincipal cannot both be present"));
        }
        let has_principal = st.principal.is_some() || st.not_principal.is_some();
        match kind {
            PolicyKind::Key if !has_principal => {
                return Err(at("key policy statements must name a Principal"))
            }
            PolicyKind::Identity if has_principal => {
                return Err(at("identity policy statements must not name a Principal"))
            }
            _ => {}
        }
        let principals = st.principal.map(|p| parse_principal(p, mode)).transpose()?;
        let not_principals = st
            .not_principal
            .map(|p| parse_principal(p, mode))
            .transpose()?;
        let conditions = st
            .condition
            .map(parse_condition_block)
            .transpose()
            .map_err(|e| at(e.message()))?
            .unwrap_or_default();
        // A statement without actions or resources would apply to nothing
        // (a Deny without `"Resource": "*"` would silently deny nothing):
        // AWS refuses both, as it refuses empty lists.
        let mut actions = st.action.map(|a| a.into_vec());
        let not_actions = st.not_action.map(|a| a.into_vec());
        let mut resources = st.resource.map(|r| r.into_vec());
        let not_resources = st.not_resource.map(|r| r.into_vec());
        let no_actions = actions
            .as_ref()
            .or(not_actions.as_ref())
            .is_none_or(Vec::is_empty);
        let no_resources = resources
            .as_ref()
            .or(not_resources.as_ref())
            .is_none_or(Vec::is_empty);
        match mode {
            Mode::Strict if no_actions => return Err(at("Policy statement must contain actions.")),
            Mode::Strict if no_resources => {
                return Err(at("Policy statement must contain resources."))
            }
            Mode::Stored if effect == Effect::Deny => {
                // Fail closed: a stored Deny whose scope is missing covers
                // everything it could.
                if no_actions {
                    actions = Some(vec!["*".to_string()]);
                }
                if no_resources {
                    resources = Some(vec!["*".to_string()]);
                }
            }
            _ => {}
        }
        statements.push(Statement {
            label: match &st.sid {
                Some(s) => format!("\"{s}\""),
                None => "(no Sid)".into(),
            },
            sid: st.sid,
            effect,
            principals,
            not_principals,
            actions: actions.map(lower_all),
            not_actions: not_actions.map(lower_all),
            resources: resources.map(patterns),
            not_resources: not_resources.map(patterns),
            conditions,
        });
    }
    Ok(Policy { statements })
}

/// Entry point for the cargo-fuzz target: parse, then evaluate every
/// statement against a fixed request; must never panic.
#[doc(hidden)]
pub fn fuzz_parse_and_eval(text: &str) {
    for kind in [PolicyKind::Key, PolicyKind::Identity] {
        if let Ok(p) = parse(text, kind) {
            for st in &p.statements {
                let _ = st.covers_action("kms:Encrypt");
                let _ = st.covers_resource("arn:aws:kms:us-east-1:111122223333:key/k");
                let _ = st.conditions(&|k: &str| match k {
                    "kms:calleraccount" => KeyValues::One("111122223333".into()),
                    "kms:encryptioncontextkeys" => KeyValues::Values(vec!["a".into(), "b".into()]),
                    "aws:currenttime" => KeyValues::One("2026-01-01T00:00:00Z".into()),
                    "kms:viaservice" => KeyValues::Absent,
                    _ => KeyValues::Unknown,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Result<Policy> {
        parse(s, PolicyKind::Key)
    }

    /// The `*` / `prefix*` fast paths decide exactly as the general matcher.
    #[test]
    fn pattern_fast_paths_agree_with_wildmatch() {
        let patterns = [
            "*",
            "**",
            "kms:*",
            "kms:GenerateDataKey*",
            "KMS:Gen*",
            "arn:aws:kms:*",
            "k*",
            "kms:Encrypt",
            "kms:*crypt",
            "kms:?ncrypt",
            "a*b*",
            "\u{212A}ms:*",
            "\u{e9}*",
        ];
        let inputs = [
            "",
            "k",
            "kms:",
            "kms:Encrypt",
            "KMS:ENCRYPT",
            "kms:GenerateDataKeyPair",
            "kms:generatedatakey",
            "\u{212A}ms:Encrypt",
            "\u{212A}MS:GenerateDataKey",
            "kms:\u{e9}",
            "\u{e9}t\u{e9}",
            "\u{c9}t\u{e9}",
            "arn:aws:kms:us-east-1:1:key/x",
            "ab",
            "axxb",
        ];
        for pat in patterns {
            for input in inputs {
                assert_eq!(
                    Pattern::new(pat).matches(input),
                    WildMatch::new(pat).matches(input),
                    "{pat:?} vs {input:?}"
                );
                let ci = if pat.contains(['*', '?']) {
                    WildMatch::new_case_insensitive(pat).matches(input)
                } else {
                    pat.eq_ignore_ascii_case(input)
                };
                assert_eq!(
                    Pattern::new_case_insensitive(pat).matches(input),
                    ci,
                    "{pat:?} vs {input:?} (case-insensitive)"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn prefix_patterns_agree_with_wildmatch(prefix in "[a-zA-Z:\u{212A}\u{e9}]{0,6}", stars in 1usize..3,
                                                input in "[a-zA-Z:\u{212A}\u{e9}\u{c9}]{0,8}") {
            let pat = format!("{prefix}{}", "*".repeat(stars));
            prop_assert_eq!(Pattern::new(pat.as_str()).matches(&input), WildMatch::new(&pat).matches(&input));
            prop_assert_eq!(
                Pattern::new_case_insensitive(pat.as_str()).matches(&input),
                WildMatch::new_case_insensitive(&pat).matches(&input)
            );
        }
    }

    #[test]
    fn malformed_documents_say_why() {
        let cases = [
            ("", "empty"),
            ("{", "not a valid policy"),
            (
                r#"{"Version":"2012-10-17","Statement":[]}"#,
                "no statements",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#,
                "no Version",
            ),
            (
                r#"{"Version":"2011-01-01","Statement":{"Effect":"Allow","Principal":"*"}}"#,
                "unsupported policy Version",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Maybe","Principal":"*"}}"#,
                "Effect must be",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*"}}"#,
                "must name a Principal",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"me"}}"#,
                "Principal must be",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"bob"}}}"#,
                "invalid AWS principal",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":"x"}}}"#,
                "unsupported principal type",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"a","NotAction":"b"}}"#,
                "cannot both",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Condition":{"StringSorta":{"k":"v"}}}}"#,
                "unknown condition operator",
            ),
            (
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Extra":1}}"#,
                "not a valid policy",
            ),
        ];
        for (doc, why) in cases {
            let e = p(doc).unwrap_err();
            assert_eq!(e.code(), ErrorCode::MalformedPolicyDocument, "{doc}");
            assert!(e.message().contains(why), "{doc}: {}", e.message());
        }
        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Sid":"{}","Effect":"Allow","Principal":"*"}}}}"#,
            "x".repeat(MAX_POLICY_BYTES)
        );
        assert!(p(&big).unwrap_err().message().contains("limit"));
        let id = parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#,
            PolicyKind::Identity,
        );
        assert!(id
            .unwrap_err()
            .message()
            .contains("must not name a Principal"));
    }

    /// Statements that would apply to nothing are refused with AWS's
    /// wording (a Deny without Resource used to deny nothing, silently).
    #[test]
    fn statements_that_apply_to_nothing_are_malformed() {
        let st = |body: &str| format!(r#"{{"Version":"2012-10-17","Statement":{{{body}}}}}"#);
        let cases = [
            (
                st(r#""Effect":"Deny","Principal":"*","Action":"kms:Decrypt""#),
                "Policy statement must contain resources.",
            ),
            (
                st(r#""Effect":"Allow","Principal":"*","Resource":"*""#),
                "Policy statement must contain actions.",
            ),
            (
                st(r#""Effect":"Allow","Principal":"*","Action":[],"Resource":"*""#),
                "Policy statement must contain actions.",
            ),
            (
                st(r#""Effect":"Allow","Principal":"*","NotAction":[],"Resource":"*""#),
                "Policy statement must contain actions.",
            ),
            (
                st(r#""Effect":"Deny","Principal":"*","Action":"kms:*","Resource":[]"#),
                "Policy statement must contain resources.",
            ),
            (
                st(r#""Effect":"Deny","Principal":"*","Action":"kms:*","NotResource":[]"#),
                "Policy statement must contain resources.",
            ),
            (
                st(r#""Effect":"Allow","Principal":{"AWS":[]},"Action":"kms:*","Resource":"*""#),
                "Policy contains a statement with one or more invalid principals.",
            ),
            (
                st(r#""Effect":"Deny","NotPrincipal":{"AWS":[]},"Action":"kms:*","Resource":"*""#),
                "Policy contains a statement with one or more invalid principals.",
            ),
            (
                st(
                    r#""Effect":"Allow","Principal":{"AWS":"*","Service":[]},"Action":"kms:*","Resource":"*""#,
                ),
                "Policy contains a statement with one or more invalid principals.",
            ),
        ];
        for (doc, why) in &cases {
            let e = p(doc).unwrap_err();
            assert_eq!(e.code(), ErrorCode::MalformedPolicyDocument, "{doc}");
            assert!(e.message().contains(why), "{doc}: {}", e.message());
        }
        // Identity policies too.
        let e = parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"kms:Decrypt"}}"#,
            PolicyKind::Identity,
        )
        .unwrap_err();
        assert!(
            e.message().contains("must contain resources"),
            "{}",
            e.message()
        );
        // Well-formed ones with NotAction / NotResource still parse.
        p(&st(
            r#""Effect":"Deny","Principal":"*","NotAction":"kms:Describe*","NotResource":"arn:x""#,
        ))
        .unwrap();
    }

    /// Documents stored before those checks still load, failing closed.
    #[test]
    fn stored_documents_without_scope_fail_closed() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/k";
        let doc = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"d","Effect":"Deny","Principal":"*","Action":"kms:Decrypt"},
            {"Sid":"n","Effect":"Deny","Principal":{"AWS":[]},"Resource":"*"},
            {"Sid":"a","Effect":"Allow","Principal":"*","Resource":"*"}]}"#;
        assert!(p(doc).is_err());
        let pol = parse_stored(doc, PolicyKind::Key).unwrap();
        let (d, n, a) = (&pol.statements[0], &pol.statements[1], &pol.statements[2]);
        assert!(d.covers_action("kms:Decrypt") && d.covers_resource(arn));
        assert!(n.covers_action("kms:Encrypt") && n.covers_resource(arn));
        assert_eq!(n.principals.as_deref(), Some(&[][..]));
        assert!(!a.covers_action("kms:Encrypt"));
    }

    #[test]
    fn statement_forms() {
        let pol = p(r#"{"Version":"2012-10-17","Statement":{"Sid":"a b","Effect":"Deny",
            "Principal":{"AWS":["111122223333","arn:aws:iam::444455556666:root","arn:aws:iam::111122223333:role/r"],"Service":"S3.amazonaws.com"},
            "NotAction":["kms:Describe*","kms:Get?eyPolicy"],"Resource":"*",
            "Condition":{"ForAnyValue:StringLike":{"kms:EncryptionContextKeys":["tenant*",1,true]},"NumericLessThanIfExists":{"kms:X":"5"}}}}"#).unwrap();
        let st = &pol.statements[0];
        assert_eq!(st.effect, Effect::Deny);
        assert_eq!(st.label(), "\"a b\"");
        assert_eq!(
            st.principals.as_ref().unwrap(),
            &vec![
                Principal::Account("111122223333".into()),
                Principal::Account("444455556666".into()),
                Principal::Arn(Pattern::new("arn:aws:iam::111122223333:role/r")),
                Principal::Service("s3.amazonaws.com".into()),
            ]
        );
        assert!(st.covers_action("kms:Encrypt"));
        assert!(!st.covers_action("kms:DescribeKey"));
        assert!(!st.covers_action("KMS:GetKeyPolicy"));
        assert!(st.covers_resource("arn:aws:kms:us-east-1:111122223333:key/x"));
        let vals: Vec<&str> = st.conditions[0]
            .values
            .iter()
            .map(Pattern::as_str)
            .collect();
        assert_eq!(vals, vec!["tenant*", "1", "true"]);
        assert_eq!(st.conditions[0].key, "kms:encryptioncontextkeys");
        assert!(st.conditions[1].if_exists);
    }

    fn cond(op: &str, key: &str, vals: &[&str]) -> Condition {
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{{"{op}":{{"{key}":{}}}}}}}}}"#,
            serde_json::to_string(vals).unwrap()
        );
        p(&doc).unwrap().statements[0].conditions[0].clone()
    }

    fn eval(c: &Condition, req: Option<&[&str]>) -> CondResult {
        let v = req.map(|r| r.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        c.eval(
            &|k| {
                if k == "unknown:key" {
                    return KeyValues::Unknown;
                }
                match &v {
                    None => KeyValues::Absent,
                    Some(v) => KeyValues::Values(v.iter().map(|s| s.clone().into()).collect()),
                }
            },
            Ambiguity::Any,
        )
    }

    #[test]
    fn operators() {
        use CondResult::*;
        type Case<'a> = (&'a str, &'a [&'a str], Option<&'a [&'a str]>, CondResult);
        let t: &[Case] = &[
            ("StringEquals", &["a", "b"], Some(&["b"]), True),
            ("StringEquals", &["a"], Some(&["A"]), False),
            ("StringEquals", &["a"], None, False),
            ("StringEqualsIfExists", &["a"], None, True),
            ("StringEqualsIfExists", &["a"], Some(&["c"]), False),
            ("StringNotEquals", &["a", "b"], Some(&["c"]), True),
            ("StringNotEquals", &["a", "b"], Some(&["b"]), False),
            ("StringNotEquals", &["a"], None, True),
            ("StringEqualsIgnoreCase", &["ABC"], Some(&["abc"]), True),
            ("StringNotEqualsIgnoreCase", &["ABC"], Some(&["abc"]), False),
            (
                "StringLike",
                &["arn:*:role/app-?"],
                Some(&["arn:x:role/app-1"]),
                True,
            ),
            ("StringLike", &["app-?"], Some(&["app-12"]), False),
            ("StringNotLike", &["tmp*"], Some(&["tmpfile"]), False),
            ("StringNotLike", &["tmp*"], Some(&["prod"]), True),
            ("NumericLessThan", &["30"], Some(&["7"]), True),
            ("NumericLessThan", &["30"], Some(&["30"]), False),
            ("NumericLessThanEquals", &["30"], Some(&["30"]), True),
            ("NumericGreaterThan", &["90"], Some(&["365"]), True),
            ("NumericGreaterThanEquals", &["365"], Some(&["364"]), False),
            ("NumericEquals", &["7"], Some(&["7.0"]), True),
            ("NumericNotEquals", &["7"], Some(&["8"]), True),
            ("NumericEquals", &["7"], Some(&["seven"]), False),
            (
                "DateLessThan",
                &["2027-01-01T00:00:00Z"],
                Some(&["2026-06-01T00:00:00Z"]),
                True,
            ),
            (
                "DateGreaterThan",
                &["2027-01-01T00:00:00Z"],
                Some(&["2026-06-01T00:00:00Z"]),
                False,
            ),
            (
                "DateEquals",
                &["1767225600"],
                Some(&["2026-01-01T00:00:00Z"]),
                True,
            ),
            (
                "DateNotEquals",
                &["1767225600"],
                Some(&["2026-01-01T00:00:01Z"]),
                True,
            ),
            (
                "DateLessThanEquals",
                &["1767225600"],
                Some(&["2026-01-01T00:00:00Z"]),
                True,
            ),
            (
                "DateGreaterThanEquals",
                &["2026-01-01T00:00:00Z"],
                Some(&["1767225599"]),
                False,
            ),
            ("Bool", &["true"], Some(&["true"]), True),
            ("Bool", &["true"], Some(&["false"]), False),
            ("Bool", &["TRUE"], Some(&["true"]), True),
            ("Null", &["true"], None, True),
            ("Null", &["true"], Some(&["x"]), False),
            ("Null", &["false"], Some(&["x"]), True),
            ("Null", &["false"], None, False),
            (
                "ArnEquals",
                &["arn:aws:iam::111122223333:role/*"],
                Some(&["arn:aws:iam::111122223333:role/admin"]),
                True,
            ),
            (
                "ArnLike",
                &["arn:aws:iam::*:user/bob"],
                Some(&["arn:aws:iam::444455556666:user/bob"]),
                True,
            ),
            (
                "ArnNotLike",
                &["arn:aws:iam::*:user/bob"],
                Some(&["arn:aws:iam::444455556666:user/eve"]),
                True,
            ),
            ("ArnNotEquals", &["arn:a"], Some(&["arn:a"]), False),
            // aws:SourceIp: CIDR blocks and single addresses, v4 and v6.
            (
                "IpAddress",
                &["203.0.113.0/24"],
                Some(&["203.0.113.7"]),
                True,
            ),
            (
                "IpAddress",
                &["203.0.113.0/24"],
                Some(&["203.0.114.7"]),
                False,
            ),
            ("IpAddress", &["127.0.0.1"], Some(&["127.0.0.1"]), True),
            (
                "IpAddress",
                &["2001:db8::/32"],
                Some(&["2001:db8::1"]),
                True,
            ),
            (
                "IpAddress",
                &["2001:db8::/32"],
                Some(&["203.0.113.7"]),
                False,
            ),
            ("IpAddress", &["not-a-cidr"], Some(&["203.0.113.7"]), False),
            ("IpAddress", &["10.0.0.0/8"], None, False),
            (
                "NotIpAddress",
                &["10.0.0.0/8"],
                Some(&["203.0.113.7"]),
                True,
            ),
            ("NotIpAddress", &["10.0.0.0/8"], Some(&["10.1.2.3"]), False),
            // Set qualifiers over multi-valued keys.
            (
                "ForAnyValue:StringEquals",
                &["a", "b"],
                Some(&["x", "b"]),
                True,
            ),
            (
                "ForAnyValue:StringEquals",
                &["a", "b"],
                Some(&["x", "y"]),
                False,
            ),
            ("ForAnyValue:StringEquals", &["a"], None, False),
            (
                "ForAllValues:StringEquals",
                &["a", "b"],
                Some(&["a", "b"]),
                True,
            ),
            (
                "ForAllValues:StringEquals",
                &["a", "b"],
                Some(&["a", "c"]),
                False,
            ),
            ("ForAllValues:StringEquals", &["a"], None, True),
            ("ForAllValues:StringEquals", &["a"], Some(&[]), True),
            (
                "ForAllValues:StringLike",
                &["tenant-*"],
                Some(&["tenant-1", "tenant-2"]),
                True,
            ),
            (
                "ForAnyValue:StringNotEquals",
                &["a"],
                Some(&["a", "b"]),
                True,
            ),
        ];
        for (op, vals, req, want) in t {
            let c = cond(op, "kms:Thing", vals);
            assert_eq!(eval(&c, *req), *want, "{op} {vals:?} vs {req:?}");
        }
    }

    #[test]
    fn unknown_keys_are_unknown_for_every_operator() {
        for op in [
            "StringEquals",
            "StringNotEquals",
            "StringEqualsIfExists",
            "Null",
            "ForAllValues:StringEquals",
        ] {
            let c = cond(op, "unknown:key", &["x"]);
            assert_eq!(eval(&c, Some(&["x"])), CondResult::Unknown, "{op}");
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,200}") {
            fuzz_parse_and_eval(&s);
        }

        #[test]
        fn structured_inputs_never_panic(op in "(ForAnyValue:|ForAllValues:)?(String|Numeric|Date|Arn)(Not)?(Equals|Like|LessThan)(IfExists)?|Bool|Null",
                                         key in "[a-zA-Z:]{1,20}", val in "\\PC{0,12}") {
            let doc = format!(r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{{"{op}":{{"{key}":{}}}}}}}}}"#,
                serde_json::to_string(&val).unwrap());
            fuzz_parse_and_eval(&doc);
        }
    }
}

/// Builders for the classic key policy statements (the AWS console's
/// defaults), so applications can assemble policies without writing JSON.
pub mod templates {
    use serde_json::{json, Value};

    /// Actions of key administrators: manage the key, never use it.
    pub const ADMIN_ACTIONS: &[&str] = &[
        "kms:Create*",
        "kms:Describe*",
        "kms:Enable*",
        "kms:List*",
        "kms:Put*",
        "kms:Update*",
        "kms:Revoke*",
        "kms:Disable*",
        "kms:Get*",
        "kms:Delete*",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion",
        "kms:RotateKeyOnDemand",
    ];

    /// Actions of key users: use the key, never manage it.
    pub const USER_ACTIONS: &[&str] = &[
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:DescribeKey",
    ];

    /// "Enable IAM User Permissions": the account (and through it, IAM).
    pub fn account_root(account: &str) -> Value {
        json!({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
               "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
               "Action": "kms:*", "Resource": "*"})
    }

    pub fn key_administrators(principal_arns: &[&str]) -> Value {
        json!({"Sid": "Allow access for Key Administrators", "Effect": "Allow",
               "Principal": {"AWS": principal_arns}, "Action": ADMIN_ACTIONS, "Resource": "*"})
    }

    pub fn key_users(principal_arns: &[&str]) -> Value {
        json!({"Sid": "Allow use of the key", "Effect": "Allow",
               "Principal": {"AWS": principal_arns}, "Action": USER_ACTIONS, "Resource": "*"})
    }

    /// Lets key users attach the key to AWS resources through a service.
    pub fn key_users_grants_for_aws_resources(principal_arns: &[&str]) -> Value {
        json!({"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
               "Principal": {"AWS": principal_arns},
               "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
               "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}})
    }

    /// A policy document from statements.
    pub fn document(statements: &[Value]) -> String {
        json!({"Version": "2012-10-17", "Statement": statements}).to_string()
    }
}
