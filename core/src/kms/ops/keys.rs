//! CreateKey, DescribeKey, ListKeys, UpdateKeyDescription, TagResource,
//! UntagResource, ListResourceTags, and AWS managed keys.

use crate::kms::*;

/// What CreateKey (and the seed's `seed_key`) check of a new key's
/// description, tags and key policy, before anything else.
pub(in crate::kms) fn validate_new_key(
    description: &str,
    tags: &[Tag],
    policy: Option<&str>,
) -> Result<()> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(Error::validation(format!(
            "Description must be at most {MAX_DESCRIPTION} characters"
        )));
    }
    validate_tags(tags)?;
    if tags.len() > MAX_TAGS_PER_KEY {
        return Err(Error::new(
            ErrorCode::LimitExceeded,
            format!("A key can have at most {MAX_TAGS_PER_KEY} tags"),
        ));
    }
    if let Some(p) = policy {
        validate_policy_text(p)?;
        policy::parse(p, PolicyKind::Key)?;
    }
    Ok(())
}

impl Kms {
    // ------------------------------------------------------------ keys

    pub fn create_key(&self, req: CreateKeyRequest) -> Result<CreateKeyResponse> {
        // Asymmetric and HMAC material is generated before the state lock
        // (RSA-4096 takes seconds); the HSM takes it under the lock.
        let pregenerated = {
            let spec = req.key_spec.unwrap_or(KeySpec::SymmetricDefault);
            let usage = req.key_usage.unwrap_or(KeyUsage::EncryptDecrypt);
            let origin = req.origin.unwrap_or(Origin::AwsKms);
            (origin == Origin::AwsKms
                && spec != KeySpec::SymmetricDefault
                && asym::supported(spec, usage).is_ok())
            .then(|| Pregenerated::new(&*self.shared.rng, spec))
        };
        self.call("CreateKey", |state, call, audit| {
            let description = req.description.unwrap_or_default();
            validate_new_key(&description, &req.tags, req.policy.as_deref())?;
            state.authorize(
                call,
                "kms:CreateKey",
                None,
                Facts {
                    bypass_lockout: Some(req.bypass_policy_lockout_safety_check),
                    ..Default::default()
                },
                audit,
            )?;
            let spec = req.key_spec.unwrap_or(KeySpec::SymmetricDefault);
            let usage = req.key_usage.unwrap_or(KeyUsage::EncryptDecrypt);
            let origin = req.origin.unwrap_or(Origin::AwsKms);
            asym::supported(spec, usage)?;
            match origin {
                Origin::AwsKms => {}
                Origin::External if asym::importable(spec) => {}
                Origin::External => {
                    return Err(Error::new(
                        ErrorCode::UnsupportedOperation,
                        format!("importing {spec} key material is not supported (symmetric, HMAC, RSA and ECC material can be imported)"),
                    ))
                }
                _ => {
                    return Err(Error::new(
                        ErrorCode::UnsupportedOperation,
                        format!("Origin {origin} (custom key stores) is not supported"),
                    ))
                }
            }
            if state.keys.len() >= MAX_KEYS {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    format!("The number of keys in this region is at its limit ({MAX_KEYS})"),
                ));
            }
            let rec = new_key_record(
                state,
                call,
                NewKey {
                    pregenerated: pregenerated.transpose()?,
                    description,
                    spec,
                    usage,
                    origin,
                    manager: KeyManager::Customer,
                    multi_region: req.multi_region,
                    tags: req.tags,
                    policy: Some(req.policy.unwrap_or_else(|| default_policy(call.account))),
                },
            )?;
            audit.key_arn = Some(rec.arn.clone());
            if !req.bypass_policy_lockout_safety_check {
                state.lockout_check(call, &rec)?;
            }
            let md = rec.metadata();
            state.save_key(rec)?;
            Ok(CreateKeyResponse { key_metadata: md })
        })
    }

    /// Get or create the AWS-managed key for an integrated service
    /// (`alias/aws/<service>`): rotates yearly; cannot be disabled, deleted,
    /// or have its rotation changed. Authorized like the other operations:
    /// reading an existing one needs `kms:DescribeKey` on it (its policy
    /// gives that to the account), creating one needs `kms:CreateKey`
    /// (account level: the store's account only).
    pub fn aws_managed_key(&self, service: &str) -> Result<KeyMetadata> {
        self.call("CreateKey", |state, call, audit| {
            if service.is_empty()
                || service.len() > 64
                || !service
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(Error::validation(
                    "the service name must be 1 to 64 characters of a-z, 0-9 and '-'",
                ));
            }
            let alias = format!("alias/aws/{service}");
            if let Some(a) = state.aliases.get(&alias) {
                let id = a.target_key_id.clone();
                let md = state.rec_checked(call, &id)?.metadata();
                audit.key_arn = Some(md.arn.clone());
                state.authorize(
                    call,
                    "kms:DescribeKey",
                    Some(&id),
                    Facts {
                        request_key_id: Some(&alias),
                        ..Default::default()
                    },
                    audit,
                )?;
                return Ok(md);
            }
            state.authorize(call, "kms:CreateKey", None, Facts::default(), audit)?;
            audit.decision = audit.decision.take().map(|d| {
                format!("{d}; AWS managed key for {service}, created on the service's behalf")
            });
            let mut rec = new_key_record(
                state,
                call,
                NewKey {
                    pregenerated: None,
                    spec: KeySpec::SymmetricDefault,
                    usage: KeyUsage::EncryptDecrypt,
                    origin: Origin::AwsKms,
                    description: format!(
                        "Default key that protects my {service} data when no other key is defined"
                    ),
                    manager: KeyManager::Aws,
                    multi_region: false,
                    tags: vec![],
                    policy: Some(aws_managed_policy(call.account, call.region, service)),
                },
            )?;
            rec.rotation = RotationSettings {
                enabled: true,
                period_days: Some(DEFAULT_ROTATION_DAYS),
                next_rotation_ms: Some(call.now + DEFAULT_ROTATION_DAYS as u64 * MS_PER_DAY),
                ..Default::default()
            };
            audit.key_arn = Some(rec.arn.clone());
            let md = rec.metadata();
            let id = rec.key_id.clone();
            state.save_key(rec)?;
            state.save_alias(AliasEntry {
                alias_arn: call.alias_arn(&alias),
                alias_name: alias,
                target_key_id: id,
                creation_date_ms: call.now,
                last_updated_date_ms: call.now,
            })?;
            Ok(md)
        })
    }

    pub fn describe_key(&self, req: DescribeKeyRequest) -> Result<DescribeKeyResponse> {
        self.call("DescribeKey", |state, call, audit| {
            state.validate_grant_tokens(&req.grant_tokens)?;
            let id = state.key_for(
                call,
                audit,
                Operation::DescribeKey,
                &req.key_id,
                Facts::default(),
            )?;
            let md = state.rec(&id).metadata();
            audit.key_arn = Some(md.arn.clone());
            Ok(DescribeKeyResponse { key_metadata: md })
        })
    }

    /// The last successful cryptographic call with a key (the tracked
    /// operations of AWS's `KeyLastUsageTrackingOperation`; ReEncrypt marks
    /// both keys), durable with the audit event it comes from. Key id or
    /// ARN only: an alias is `NotFoundException`, as in AWS.
    pub fn get_key_last_usage(
        &self,
        req: GetKeyLastUsageRequest,
    ) -> Result<GetKeyLastUsageResponse> {
        self.call("GetKeyLastUsage", |state, call, audit| {
            if req.key_id.starts_with("alias/") || req.key_id.contains(":alias/") {
                return Err(Error::new(
                    ErrorCode::NotFound,
                    "GetKeyLastUsage takes a key id or key ARN, not an alias",
                ));
            }
            let id = state.key_for(
                call,
                audit,
                Operation::GetKeyLastUsage,
                &req.key_id,
                Facts::default(),
            )?;
            let rec = state.rec(&id);
            audit.key_arn = Some(rec.arn.clone());
            let last = state
                .usage_pending
                .get(&id)
                .or_else(|| state.usage.get(&id));
            // AWS: when tracking began, or the key's creation if later.
            let start = state
                .usage_start
                .or(state.usage_start_new)
                .unwrap_or(call.now);
            Ok(GetKeyLastUsageResponse {
                key_id: rec.key_id.clone(),
                key_creation_date_ms: rec.created_ms,
                tracking_start_date_ms: start.max(rec.created_ms),
                key_last_usage: last.map(|u| KeyLastUsageData {
                    operation: u.operation.to_string(),
                    timestamp_ms: u.time_ms,
                    cloud_trail_event_id: u.seq.to_string(),
                }),
            })
        })
    }

    pub fn list_keys(&self, req: ListKeysRequest) -> Result<ListKeysResponse> {
        self.call("ListKeys", |state, call, audit| {
            let limit = limit_of(req.limit, 100)?;
            state.authorize(call, "kms:ListKeys", None, Facts::default(), audit)?;
            let all: Vec<KeyListEntry> = state
                .keys
                .values()
                .map(|k| KeyListEntry {
                    key_id: k.key_id.clone(),
                    key_arn: k.arn.clone(),
                })
                .collect();
            let (keys, next_marker, truncated) =
                paginate(all, |k| k.key_id.clone(), limit, req.marker.as_deref())?;
            Ok(ListKeysResponse {
                keys,
                next_marker,
                truncated,
            })
        })
    }

    pub fn update_key_description(&self, req: UpdateKeyDescriptionRequest) -> Result<()> {
        self.call("UpdateKeyDescription", |state, call, audit| {
            if req.description.chars().count() > MAX_DESCRIPTION {
                return Err(Error::validation(format!(
                    "Description must be at most {MAX_DESCRIPTION} characters"
                )));
            }
            let id = state.key_for(
                call,
                audit,
                Operation::UpdateKeyDescription,
                &req.key_id,
                Facts::default(),
            )?;
            let mut rec = state.rec(&id).clone();
            deny_aws_managed(&rec)?;
            rec.description = req.description;
            state.save_key(rec)
        })
    }

    pub fn tag_resource(&self, req: TagResourceRequest) -> Result<()> {
        self.call("TagResource", |state, call, audit| {
            validate_tags(&req.tags)?;
            let id = state.key_for(
                call,
                audit,
                Operation::TagResource,
                &req.key_id,
                Facts::default(),
            )?;
            let mut rec = state.rec(&id).clone();
            deny_aws_managed(&rec)?;
            for t in req.tags {
                rec.tags.insert(t.tag_key, t.tag_value);
            }
            if rec.tags.len() > MAX_TAGS_PER_KEY {
                return Err(Error::new(
                    ErrorCode::LimitExceeded,
                    format!("{} would have more than {MAX_TAGS_PER_KEY} tags", rec.arn),
                ));
            }
            state.save_key(rec)
        })
    }

    pub fn untag_resource(&self, req: UntagResourceRequest) -> Result<()> {
        self.call("UntagResource", |state, call, audit| {
            if req
                .tag_keys
                .iter()
                .any(|k| k.is_empty() || k.chars().count() > 128)
            {
                return Err(Error::new(
                    ErrorCode::Tag,
                    "Tag keys are 1 to 128 characters",
                ));
            }
            let id = state.key_for(
                call,
                audit,
                Operation::UntagResource,
                &req.key_id,
                Facts::default(),
            )?;
            let mut rec = state.rec(&id).clone();
            deny_aws_managed(&rec)?;
            for k in &req.tag_keys {
                rec.tags.remove(k);
            }
            state.save_key(rec)
        })
    }

    pub fn list_resource_tags(
        &self,
        req: ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse> {
        self.call("ListResourceTags", |state, call, audit| {
            let limit = limit_of(req.limit, 50)?;
            let id = state.key_for(
                call,
                audit,
                Operation::ListResourceTags,
                &req.key_id,
                Facts::default(),
            )?;
            let rec = state.rec(&id);
            let all: Vec<Tag> = rec
                .tags
                .iter()
                .map(|(k, v)| Tag::new(k.clone(), v.clone()))
                .collect();
            let (tags, next_marker, truncated) =
                paginate(all, |t| t.tag_key.clone(), limit, req.marker.as_deref())?;
            Ok(ListResourceTagsResponse {
                tags,
                next_marker,
                truncated,
            })
        })
    }
}

pub(in crate::kms) struct NewKey {
    /// Key material made before the state lock (asymmetric and HMAC keys;
    /// `None` for symmetric and EXTERNAL keys), with the 16 random bytes of
    /// the key id drawn just before it (so a seeded RNG draws in the same
    /// order as when both were drawn under the lock).
    pub(in crate::kms) pregenerated: Option<Pregenerated>,
    pub(in crate::kms) description: String,
    pub(in crate::kms) spec: KeySpec,
    pub(in crate::kms) usage: KeyUsage,
    pub(in crate::kms) origin: Origin,
    pub(in crate::kms) manager: KeyManager,
    pub(in crate::kms) multi_region: bool,
    pub(in crate::kms) tags: Vec<Tag>,
    pub(in crate::kms) policy: Option<String>,
}

/// Key material generated outside the state lock.
pub(in crate::kms) struct Pregenerated {
    pub(in crate::kms) id_bytes: [u8; 16],
    pub(in crate::kms) key: AsymKey,
}

impl Pregenerated {
    /// Draw a key id's bytes and generate `spec` material with only the
    /// RNG (no lock held).
    pub(in crate::kms) fn new(rng: &dyn Rng, spec: KeySpec) -> Result<Self> {
        let mut id_bytes = [0u8; 16];
        rng.fill(&mut id_bytes)?;
        let key = AsymKey::generate(spec, rng)?;
        Ok(Pregenerated { id_bytes, key })
    }
}

pub(in crate::kms) fn new_key_record(
    state: &mut State,
    call: &CallContext,
    k: NewKey,
) -> Result<KeyRecord> {
    let external = k.origin == Origin::External;
    let (raw, asym_key) = match k.pregenerated {
        Some(p) => (p.id_bytes, Some(p.key)),
        None => {
            let mut raw = [0u8; 16];
            state.hsm.rng().fill(&mut raw)?;
            (raw, None)
        }
    };
    let key_id = if k.multi_region {
        format!("mrk-{}", hex::encode(raw))
    } else {
        uuid::Builder::from_random_bytes(raw)
            .into_uuid()
            .hyphenated()
            .to_string()
    };
    if state.keys.contains_key(&key_id) {
        return Err(Error::internal("key id collision"));
    }
    let materials = if external {
        vec![]
    } else if k.spec == KeySpec::SymmetricDefault {
        vec![state.new_material(&key_id, call.now, None)?]
    } else {
        let key =
            asym_key.ok_or_else(|| Error::internal("asymmetric key material was not generated"))?;
        vec![state.new_asym_material(&key_id, key, call.now)?]
    };
    let mut rotation = RotationSettings::default();
    if state.settings.rotation_required
        && k.manager == KeyManager::Customer
        && k.spec == KeySpec::SymmetricDefault
        && !external
    {
        rotation.enabled = true;
        rotation.period_days = Some(DEFAULT_ROTATION_DAYS);
        rotation.next_rotation_ms = Some(call.now + DEFAULT_ROTATION_DAYS as u64 * MS_PER_DAY);
    }
    Ok(KeyRecord {
        arn: call.key_arn(&key_id),
        key_id,
        account: call.account.to_string(),
        region: call.region.to_string(),
        created_ms: call.now,
        description: k.description,
        state: if external {
            KeyState::PendingImport
        } else {
            KeyState::Enabled
        },
        key_spec: k.spec,
        key_usage: k.usage,
        origin: k.origin,
        key_manager: k.manager,
        multi_region: k.multi_region,
        deletion_date_ms: None,
        pending_window_days: None,
        tags: k
            .tags
            .into_iter()
            .map(|t| (t.tag_key, t.tag_value))
            .collect(),
        materials,
        rotation,
        policy: k.policy,
        import: None,
        pending: None,
        mrk: k.multi_region.then(|| MultiRegionState {
            primary_region: call.region.to_string(),
            replica_regions: vec![],
            sequence: 0,
        }),
    })
}

/// The fixed policy of an AWS managed key: usable only through its service
/// by callers in the account; the account may read its metadata.
pub fn aws_managed_policy(account: &str, region: &str, service: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Id":"auto-{service}","Statement":[{{"Sid":"Allow access through {service} for all principals in the account that are authorized to use {service}","Effect":"Allow","Principal":{{"AWS":"*"}},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:DescribeKey"],"Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":"{service}.{region}.amazonaws.com","kms:CallerAccount":"{account}"}}}}}},{{"Sid":"Allow direct access to key metadata to the account","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":["kms:Describe*","kms:Get*","kms:List*"],"Resource":"*"}}]}}"#
    )
}
