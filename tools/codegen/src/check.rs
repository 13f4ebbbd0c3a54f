//! The derived model held against AWS's own (botocore's KMS model, under
//! `tests/aws-model/`): for every operation of the table, the input and
//! output members, their types (recursively through structures, lists and
//! maps), enum value sets (a subset of AWS's) and required flags.
//!
//! Differences are allowed only where listed here, in one place, with the
//! reason; `docs/operations.md` prints both lists:
//! - [`EXTENSIONS`]: what Strongroom adds beyond AWS (operations, members);
//! - [`NOT_SERVED`]: AWS members Strongroom's types do not have.
//!
//! Required flags: on input, Strongroom must require exactly what AWS
//! requires (a stricter server rejects AWS clients' valid requests, a
//! looser one accepts requests AWS rejects). On output, every member AWS
//! marks required must always be present.

use std::collections::BTreeSet;

use serde_json::{json, Value};

const BOTOCORE: &str = include_str!("../../../tests/aws-model/botocore-1.44.8-kms-2014-11-01.json");

/// AWS's KMS model (botocore 1.44.8).
pub fn aws() -> Value {
    serde_json::from_str(BOTOCORE).expect("botocore model parses")
}

/// Something Strongroom serves that AWS's model does not have.
pub enum Extension {
    /// A whole operation.
    Operation {
        name: &'static str,
        why: &'static str,
    },
    /// A member of a structure (by its shape name in the derived model).
    Member {
        shape: &'static str,
        member: &'static str,
        why: &'static str,
    },
}

/// Strongroom's additions to AWS's API. The only place they are allowed.
pub const EXTENSIONS: &[Extension] = &[
    Extension::Operation {
        name: "PutIdentityPolicy",
        why: "identity policies are Strongroom's stand-in for IAM (account root only)",
    },
    Extension::Operation {
        name: "GetIdentityPolicy",
        why: "identity policies are Strongroom's stand-in for IAM (account root only)",
    },
    Extension::Operation {
        name: "DeleteIdentityPolicy",
        why: "identity policies are Strongroom's stand-in for IAM (account root only)",
    },
    Extension::Member {
        shape: "EncryptResponse",
        member: "KeyMaterialId",
        why: "the key material that sealed the blob, as Decrypt and GenerateDataKey already answer it in AWS",
    },
    Extension::Member {
        shape: "ListGrantsRequest",
        member: "GrantTokens",
        why: "validated like on the other key operations (AWS's ListGrants takes none)",
    },
];

/// AWS operations that are not rows of the operation table, each with the
/// reason (docs/operations.md prints them; a test keeps the list exact).
pub const OPERATIONS_OUTSIDE_THE_TABLE: &[(&str, &str)] = &[
    ("ReplicateKey", "served, but not as a table row: a replica lives in another region's store, so the call takes two stores (`Kms::replicate_key(req, &replica)` in process; `strongroom serve` routes it across the regions it hosts; docs/authorization.md)"),
    ("UpdatePrimaryRegion", "served, but not as a table row, for the same reason as ReplicateKey (`Kms::update_primary_region(key, &new_primary)`; routed by `strongroom serve`)"),
    ("CreateCustomKeyStore", "not built yet: custom key stores (the AWS state machine, an XKS proxy client, CloudHSM refused with a clear error) are the open part of issue 17"),
    ("DescribeCustomKeyStores", "not built yet (custom key stores, issue 17)"),
    ("UpdateCustomKeyStore", "not built yet (custom key stores, issue 17)"),
    ("DeleteCustomKeyStore", "not built yet (custom key stores, issue 17)"),
    ("ConnectCustomKeyStore", "not built yet (custom key stores, issue 17)"),
    ("DisconnectCustomKeyStore", "not built yet (custom key stores, issue 17)"),
];

/// An AWS member (by its shape name in AWS's model) that Strongroom's
/// types do not have.
pub struct NotServed {
    pub shape: &'static str,
    pub member: &'static str,
    pub why: &'static str,
}

/// AWS members Strongroom does not serve. The only place they are allowed.
pub const NOT_SERVED: &[NotServed] = &[
    NotServed {
        shape: "KeyLastUsageData",
        member: "KmsRequestId",
        why: "audit events carry no request id; CloudTrailEventId names the call's audit event (its sequence number)",
    },
    NotServed {
        shape: "CreateKeyRequest",
        member: "CustomKeyStoreId",
        why: "custom key stores (CloudHSM, external) are not served",
    },
    NotServed {
        shape: "CreateKeyRequest",
        member: "XksKeyId",
        why: "custom key stores (CloudHSM, external) are not served",
    },
    NotServed {
        shape: "GenerateRandomRequest",
        member: "CustomKeyStoreId",
        why: "custom key stores (CloudHSM, external) are not served",
    },
    NotServed {
        shape: "KeyMetadata",
        member: "CustomKeyStoreId",
        why: "custom key stores (CloudHSM, external) are not served",
    },
    NotServed {
        shape: "KeyMetadata",
        member: "CloudHsmClusterId",
        why: "custom key stores (CloudHSM, external) are not served",
    },
    NotServed {
        shape: "KeyMetadata",
        member: "XksKeyConfiguration",
        why: "custom key stores (CloudHSM, external) are not served",
    },
    NotServed {
        shape: "DecryptRequest",
        member: "Recipient",
        why: "Nitro Enclaves attestation (`Recipient`) is not served: secrets are returned in plaintext to the caller only",
    },
    NotServed {
        shape: "DecryptResponse",
        member: "CiphertextForRecipient",
        why: "Nitro Enclaves attestation (`Recipient`) is not served: secrets are returned in plaintext to the caller only",
    },
    NotServed {
        shape: "GenerateDataKeyRequest",
        member: "Recipient",
        why: "Nitro Enclaves attestation (`Recipient`) is not served: secrets are returned in plaintext to the caller only",
    },
    NotServed {
        shape: "GenerateDataKeyResponse",
        member: "CiphertextForRecipient",
        why: "Nitro Enclaves attestation (`Recipient`) is not served: secrets are returned in plaintext to the caller only",
    },
    NotServed {
        shape: "GenerateRandomRequest",
        member: "Recipient",
        why: "Nitro Enclaves attestation (`Recipient`) is not served: secrets are returned in plaintext to the caller only",
    },
    NotServed {
        shape: "GenerateRandomResponse",
        member: "CiphertextForRecipient",
        why: "Nitro Enclaves attestation (`Recipient`) is not served: secrets are returned in plaintext to the caller only",
    },
    NotServed {
        shape: "DeriveSharedSecretRequest",
        member: "Recipient",
        why: "Nitro Enclaves attestation (`Recipient`) is not served: secrets are returned in plaintext to the caller only",
    },
    NotServed {
        shape: "DeriveSharedSecretResponse",
        member: "CiphertextForRecipient",
        why: "Nitro Enclaves attestation (`Recipient`) is not served: secrets are returned in plaintext to the caller only",
    },
    NotServed {
        shape: "GenerateDataKeyPairRequest",
        member: "Recipient",
        why: "Nitro Enclaves attestation (`Recipient`) is not served: secrets are returned in plaintext to the caller only",
    },
    NotServed {
        shape: "GenerateDataKeyPairResponse",
        member: "CiphertextForRecipient",
        why: "Nitro Enclaves attestation (`Recipient`) is not served: secrets are returned in plaintext to the caller only",
    },
    NotServed {
        shape: "CreateGrantRequest",
        member: "GranteeServicePrincipal",
        why: "AWS service principals do not exist in a local store",
    },
    NotServed {
        shape: "CreateGrantRequest",
        member: "RetiringServicePrincipal",
        why: "AWS service principals do not exist in a local store",
    },
    NotServed {
        shape: "ListGrantsRequest",
        member: "GranteeServicePrincipal",
        why: "AWS service principals do not exist in a local store",
    },
    NotServed {
        shape: "ListRetirableGrantsRequest",
        member: "RetiringServicePrincipal",
        why: "AWS service principals do not exist in a local store",
    },
    NotServed {
        shape: "GrantListEntry",
        member: "GranteeServicePrincipal",
        why: "AWS service principals do not exist in a local store",
    },
    NotServed {
        shape: "GrantListEntry",
        member: "RetiringServicePrincipal",
        why: "AWS service principals do not exist in a local store",
    },
    NotServed {
        shape: "GrantConstraints",
        member: "SourceArn",
        why: "AWS service principals do not exist in a local store",
    },
    NotServed {
        shape: "ListKeysRequest",
        member: "ResourceOwners",
        why: "one store is one account: there are no other resource owners",
    },
    NotServed {
        shape: "CreateKeyRequest",
        member: "CustomerMasterKeySpec",
        why: "deprecated by AWS in favour of `KeySpec`, which Strongroom takes",
    },
    NotServed {
        shape: "GetPublicKeyResponse",
        member: "CustomerMasterKeySpec",
        why: "deprecated by AWS in favour of `KeySpec`, which Strongroom returns",
    },
];

/// Which way a shape travels: requirements differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Input,
    Output,
}

struct Checker<'a> {
    derived: &'a Value,
    aws: &'a Value,
    diffs: Vec<String>,
    used_extensions: BTreeSet<(String, String)>,
    used_not_served: BTreeSet<(String, String)>,
}

fn empty() -> Value {
    json!({"type": "structure", "members": {}})
}

fn names(v: &Value, key: &str) -> BTreeSet<String> {
    v[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

impl Checker<'_> {
    /// A shape of `model` by name; an operation without input or output
    /// (`(none)`) is an empty structure.
    fn shape(model: &Value, name: &str) -> Value {
        model["shapes"].get(name).cloned().unwrap_or_else(empty)
    }

    /// Compare the derived shape `dn` with AWS's shape `an` at `path`
    /// (e.g. `Encrypt input.KeyMetadata`).
    fn compare(&mut self, path: &str, dn: &str, an: &str, dir: Dir, stack: &mut Vec<String>) {
        if stack.iter().any(|s| s == dn) {
            return;
        }
        let d = Self::shape(self.derived, dn);
        let a = Self::shape(self.aws, an);
        let (dt, at) = (d["type"].as_str(), a["type"].as_str());
        if dt != at {
            self.diffs.push(format!(
                "{path}: type {} (Strongroom's {dn}), AWS's is {} ({an})",
                dt.unwrap_or("?"),
                at.unwrap_or("?")
            ));
            return;
        }
        stack.push(dn.to_string());
        match dt.unwrap_or_default() {
            "string" => {
                let de = names(&d, "enum");
                let ae = names(&a, "enum");
                if a.get("enum").is_some() {
                    let extra: Vec<_> = de.difference(&ae).cloned().collect();
                    if !extra.is_empty() {
                        self.diffs.push(format!(
                            "{path}: enum values {} of Strongroom's {dn} are not in AWS's {an}",
                            extra.join(", ")
                        ));
                    }
                }
            }
            "list" => {
                if let (Some(dm), Some(am)) =
                    (d["member"]["shape"].as_str(), a["member"]["shape"].as_str())
                {
                    self.compare(&format!("{path}[]"), dm, am, dir, stack);
                }
            }
            "map" => {
                for part in ["key", "value"] {
                    if let (Some(dm), Some(am)) =
                        (d[part]["shape"].as_str(), a[part]["shape"].as_str())
                    {
                        self.compare(&format!("{path}{{{part}}}"), dm, am, dir, stack);
                    }
                }
            }
            "structure" => self.structure(path, (dn, &d), (an, &a), dir, stack),
            _ => {}
        }
        stack.pop();
    }

    fn structure(
        &mut self,
        path: &str,
        (dn, d): (&str, &Value),
        (an, a): (&str, &Value),
        dir: Dir,
        stack: &mut Vec<String>,
    ) {
        let dreq = names(d, "required");
        let areq = names(a, "required");
        let empty = serde_json::Map::new();
        let dm = d["members"].as_object().unwrap_or(&empty);
        let am = a["members"].as_object().unwrap_or(&empty);
        for (m, ms) in dm {
            let here = format!("{path}.{m}");
            let Some(ams) = am.get(m) else {
                if EXTENSIONS.iter().any(|e| {
                    matches!(e, Extension::Member { shape, member, .. } if *shape == dn && member == m)
                }) {
                    self.used_extensions.insert((dn.to_string(), m.clone()));
                } else {
                    self.diffs.push(format!(
                        "{here}: member of Strongroom's {dn} that AWS's {an} does not have (not listed in EXTENSIONS)"
                    ));
                }
                continue;
            };
            let (dr, ar) = (dreq.contains(m), areq.contains(m));
            match dir {
                Dir::Input if dr != ar => self.diffs.push(format!(
                    "{here}: {} in Strongroom's {dn}, {} in AWS's {an}",
                    if dr { "required" } else { "optional" },
                    if ar { "required" } else { "optional" }
                )),
                Dir::Output if ar && !dr => self.diffs.push(format!(
                    "{here}: AWS's {an} always has it, Strongroom's {dn} may leave it out"
                )),
                _ => {}
            }
            let dsn = ms["shape"].as_str().unwrap_or_default();
            let asn = ams["shape"].as_str().unwrap_or_default();
            self.compare(&here, dsn, asn, dir, stack);
        }
        for m in am.keys() {
            if dm.contains_key(m) {
                continue;
            }
            if NOT_SERVED.iter().any(|n| n.shape == an && n.member == m) {
                self.used_not_served.insert((an.to_string(), m.clone()));
            } else {
                self.diffs.push(format!(
                    "{path}.{m}: member of AWS's {an} that Strongroom's {dn} does not have (not listed in NOT_SERVED)"
                ));
            }
        }
    }
}

/// Every difference between the derived model and AWS's, one line each
/// naming the operation, the member and the difference. Empty when they
/// agree (up to the listed extensions and members not served).
pub fn differences(derived: &Value, aws: &Value) -> Vec<String> {
    let mut c = Checker {
        derived,
        aws,
        diffs: Vec::new(),
        used_extensions: BTreeSet::new(),
        used_not_served: BTreeSet::new(),
    };
    let ops = derived["operations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut extra_ops = BTreeSet::new();
    for (name, op) in &ops {
        let Some(aop) = aws["operations"].get(name) else {
            if EXTENSIONS
                .iter()
                .any(|e| matches!(e, Extension::Operation { name: n, .. } if n == name))
            {
                extra_ops.insert(name.clone());
            } else {
                c.diffs.push(format!(
                    "{name}: an operation AWS's model does not have (not listed in EXTENSIONS)"
                ));
            }
            continue;
        };
        for (key, dir) in [("input", Dir::Input), ("output", Dir::Output)] {
            let dn = op[key]["shape"].as_str().unwrap_or("(none)").to_string();
            let an = aop[key]["shape"].as_str().unwrap_or("(none)").to_string();
            c.compare(&format!("{name} {key}"), &dn, &an, dir, &mut Vec::new());
        }
    }
    // a listed entry that no longer applies is a difference too
    for e in EXTENSIONS {
        match e {
            Extension::Operation { name, .. } if !extra_ops.contains(*name) => c.diffs.push(format!(
                "EXTENSIONS lists operation {name}, which is not an extension (or not in the table)"
            )),
            Extension::Member { shape, member, .. }
                if !c.used_extensions.contains(&(shape.to_string(), member.to_string())) =>
            {
                c.diffs.push(format!(
                    "EXTENSIONS lists {shape}.{member}, which no operation's derived shape adds beyond AWS"
                ))
            }
            _ => {}
        }
    }
    for n in NOT_SERVED {
        if !c
            .used_not_served
            .contains(&(n.shape.to_string(), n.member.to_string()))
        {
            c.diffs.push(format!(
                "NOT_SERVED lists {}.{}, which every operation that reaches it does serve",
                n.shape, n.member
            ));
        }
    }
    c.diffs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;

    fn derived() -> Value {
        model::build().expect("the model derives from the core's types")
    }

    #[test]
    fn every_operation_matches_awss_model() {
        let diffs = differences(&derived(), &aws());
        assert!(
            diffs.is_empty(),
            "{} differences between the core's types and AWS's model:\n  {}",
            diffs.len(),
            diffs.join("\n  ")
        );
    }

    /// Every AWS operation the table lacks has its reason, and the list
    /// names nothing the table serves.
    #[test]
    fn operations_outside_the_table_are_exactly_listed() {
        let (d, a) = (derived(), aws());
        let served = d["operations"].as_object().unwrap();
        let mut missing: Vec<&str> = a["operations"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| !served.contains_key(*k))
            .collect();
        let mut listed: Vec<&str> = OPERATIONS_OUTSIDE_THE_TABLE
            .iter()
            .map(|(o, _)| *o)
            .collect();
        missing.sort_unstable();
        listed.sort_unstable();
        assert_eq!(missing, listed);
    }

    /// The check itself can fail: break one thing at a time in the derived
    /// model and see the difference named.
    fn has(diffs: &[String], needle: &str) -> bool {
        diffs.iter().any(|d| d.contains(needle))
    }

    #[test]
    fn a_renamed_member_is_named() {
        let mut m = derived();
        let members = m["shapes"]["EncryptRequest"]["members"]
            .as_object_mut()
            .unwrap();
        let v = members.remove("KeyId").unwrap();
        members.insert("KeyIdentifier".into(), v);
        let diffs = differences(&m, &aws());
        assert!(has(&diffs, "Encrypt input.KeyIdentifier: member of Strongroom's EncryptRequest that AWS's EncryptRequest does not have"), "{diffs:#?}");
        assert!(has(&diffs, "Encrypt input.KeyId: member of AWS's EncryptRequest that Strongroom's EncryptRequest does not have"), "{diffs:#?}");
    }

    #[test]
    fn a_changed_type_required_flag_or_enum_value_is_named() {
        let mut m = derived();
        m["shapes"]["DecryptRequest"]["members"]["GrantTokens"]["shape"] = json!("String");
        m["shapes"]["EncryptRequest"]["required"] = json!([]);
        m["shapes"]["XEnum"] = json!({"type": "string", "enum": ["SYMMETRIC_DEFAULT", "ROT13"]});
        m["shapes"]["EncryptRequest"]["members"]["EncryptionAlgorithm"]["shape"] = json!("XEnum");
        let diffs = differences(&m, &aws());
        assert!(
            has(&diffs, "Decrypt input.GrantTokens: type string"),
            "{diffs:#?}"
        );
        assert!(
            has(
                &diffs,
                "Encrypt input.KeyId: optional in Strongroom's EncryptRequest, required in AWS's"
            ),
            "{diffs:#?}"
        );
        assert!(has(&diffs, "Encrypt input.EncryptionAlgorithm: enum values ROT13 of Strongroom's XEnum are not in AWS's EncryptionAlgorithmSpec"), "{diffs:#?}");
    }

    #[test]
    fn an_unlisted_operation_is_named() {
        let mut m = derived();
        m["operations"]["Rot13"] = json!({"name": "Rot13", "input": {"shape": "EncryptRequest"}});
        let diffs = differences(&m, &aws());
        assert!(
            has(&diffs, "Rot13: an operation AWS's model does not have"),
            "{diffs:#?}"
        );
    }
}
