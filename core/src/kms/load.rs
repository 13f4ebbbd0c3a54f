//! Opening a store into a [`State`] (root key check, passphrase
//! parameters, every entry opened and checked against the state root) and
//! rebuilding memory from the store after a failure.

use super::*;

impl State {
    /// Check the store's entries against its state root and adopt
    /// their tags (at open, and when memory is rebuilt from the store).
    /// `check` is the format the root key check entry was sealed in: a
    /// store whose check is format 1 predates the state root and has none
    /// yet; one whose check is format 2 must have one that matches.
    pub(in crate::kms) fn verify_root(
        &mut self,
        entries: &BTreeMap<String, Vec<u8>>,
        check: SealFormat,
    ) -> Result<()> {
        let mut digest = Digest::default();
        let mut tags = HashMap::with_capacity(entries.len());
        for (name, v) in entries {
            if name == ROOT_NAME {
                continue;
            }
            let t = self.hsm.entry_tag(name, v);
            digest.add(&t);
            tags.insert(name.clone(), t);
        }
        let tampered = || {
            Error::corrupted(
                "the store's entries do not match its state root: an entry was removed, added, replaced or replayed",
            )
        };
        let (counter, upgrade) = match (entries.get(ROOT_NAME), check) {
            (Some(v), SealFormat::V2) => {
                let r = state_root::decode_root(v).ok_or_else(tampered)?;
                if !self.hsm.state_root_mac_matches(r.body, r.mac) || !digest.matches(&r.digest) {
                    return Err(tampered());
                }
                (r.counter, false)
            }
            // A store from before the state root holds nothing sealed in
            // format 2: finding any such value means the root was dropped
            // and an old check put back to disable this check.
            (None, SealFormat::V1) => {
                if entries
                    .iter()
                    .any(|(name, v)| self.hsm.entry_is_format_2(name, v))
                {
                    return Err(tampered());
                }
                (0, true)
            }
            _ => return Err(tampered()),
        };
        self.entry_tags = tags;
        self.digest = digest;
        self.commit_count = counter;
        self.upgrade_pending = upgrade;
        Ok(())
    }

    /// Rebuild memory from what the store holds, state root checked first.
    pub(in crate::kms) fn rebuild(&mut self, entries: &BTreeMap<String, Vec<u8>>) -> Result<()> {
        let check = entries
            .get(CHECK_NAME)
            .ok_or_else(|| Error::corrupted("the store has no root key check entry"))?;
        let format = match self.hsm.open_value_versioned(CHECK_NAME, check) {
            Some((v, f)) if v.as_slice() == CHECK_VALUE => f,
            _ => {
                return Err(Error::new(
                    ErrorCode::InvalidRootKey,
                    "the root key does not open this store",
                ))
            }
        };
        self.verify_root(entries, format)?;
        // Read again from the store when next needed.
        self.clock_mark = None;
        self.clock_mark_stored = None;
        self.hsm.forget_loaded();
        self.identity_loaded = false;
        self.load_entries(entries)
    }
}

pub(in crate::kms) fn load_state(
    mut store: Box<dyn Store>,
    root: RootKey,
    rng: Arc<dyn Rng>,
    ident: &Identity,
    argon2: Argon2Params,
) -> Result<State> {
    let entries = store.load()?;
    let is_new = entries.is_empty();
    let mut init: Vec<Mutation> = Vec::new();
    let root_key = match root {
        RootKey::Raw(bytes) => {
            if entries.contains_key(KDF_NAME) {
                return Err(Error::new(
                    ErrorCode::InvalidRootKey,
                    "this store is sealed with a passphrase, not a raw root key",
                ));
            }
            SecretKey::from_bytes(*bytes)
        }
        RootKey::Passphrase(pass) => {
            let (kdf, salt) = match entries.get(KDF_NAME) {
                Some(v) => KdfRecord::parse(v)?,
                None if is_new => {
                    if !argon2.within_bounds() {
                        return Err(Error::validation(format!(
                            "Argon2 parameters out of bounds: m_kib 8*p..={ARGON2_MAX_M_KIB}, t 1..={ARGON2_MAX_T}, p 1..={ARGON2_MAX_P}, m_kib*t <= {ARGON2_MAX_WORK_KIB}"
                        )));
                    }
                    let mut salt = [0u8; 16];
                    rng.fill(&mut salt)?;
                    let k = KdfRecord {
                        alg: "argon2id-v19".into(),
                        params: argon2,
                        salt: hex::encode(salt),
                    };
                    init.push(Mutation::Put {
                        name: KDF_NAME.into(),
                        value: serde_json::to_vec(&k).expect("serialisable"),
                    });
                    (k, salt.to_vec())
                }
                None => {
                    return Err(Error::new(
                        ErrorCode::InvalidRootKey,
                        "this store is sealed with a raw root key, not a passphrase",
                    ))
                }
            };
            argon2_derive(&pass, &salt, kdf.params)?
        }
    };
    let mut state = State {
        hsm: Hsm::new(root_key, rng),
        store,
        keys: BTreeMap::new(),
        aliases: BTreeMap::new(),
        settings: StoreSettings::default(),
        audit_head: AuditHead::default(),
        audit_base: AuditBase::default(),
        audit_last: [0; 32],
        audit_buf: Vec::new(),
        batch: init,
        next_deadline: Millis::MAX,
        report: MaintenanceReport::default(),
        policies: HashMap::new(),
        identity: BTreeMap::new(),
        grants: BTreeMap::new(),
        import_tokens: HashMap::new(),
        mrk_dirty: Vec::new(),
        replicas_purged: Vec::new(),
        identity_loaded: false,
        changed_keys: BTreeSet::new(),
        entry_tags: HashMap::new(),
        digest: Digest::default(),
        commit_count: 0,
        upgrade_pending: false,
        stale: false,
        trust: BTreeMap::new(),
        alias_targets: BTreeSet::new(),
        clock_mark: None,
        clock_mark_stored: None,
        usage: BTreeMap::new(),
        usage_pending: BTreeMap::new(),
        usage_start: None,
        usage_start_new: None,
    };
    if is_new {
        state.put_sealed(CHECK_NAME.into(), CHECK_VALUE)?;
        state.put_json(IDENTITY_NAME.into(), ident)?;
        let settings = state.settings.clone();
        state.put_json(SETTINGS_NAME.into(), &settings)?;
        let batch = std::mem::take(&mut state.batch);
        state.apply_batch(batch)?;
        return Ok(state);
    }
    // An existing store: check the root key before anything else; write nothing.
    let check = entries
        .get(CHECK_NAME)
        .ok_or_else(|| Error::corrupted("the store has no root key check entry"))?;
    if !matches!(state.hsm.open_value(CHECK_NAME, check), Some(v) if v.as_slice() == CHECK_VALUE) {
        return Err(Error::new(
            ErrorCode::InvalidRootKey,
            "the root key does not open this store",
        ));
    }
    let id_json = state.open_entry(
        IDENTITY_NAME,
        entries
            .get(IDENTITY_NAME)
            .ok_or_else(|| Error::corrupted("the store has no identity entry"))?,
    )?;
    let stored: Identity =
        serde_json::from_slice(&id_json).map_err(|_| Error::corrupted("unreadable identity"))?;
    if stored.schema > STORE_SCHEMA {
        return Err(Error::new(
            ErrorCode::UnsupportedStoreVersion,
            format!(
                "store schema {} is newer than this build (reads {STORE_SCHEMA})",
                stored.schema
            ),
        ));
    }
    if stored.account != ident.account
        || stored.region != ident.region
        || stored.partition != ident.partition
    {
        return Err(Error::validation(format!(
            "this store belongs to account {} in {} ({}), not account {} in {}",
            stored.account, stored.region, stored.partition, ident.account, ident.region
        )));
    }
    state.rebuild(&entries)?;
    Ok(state)
}

impl State {
    /// Open a sealed store entry.
    pub(in crate::kms) fn open_entry(&self, name: &str, v: &[u8]) -> Result<Vec<u8>> {
        self.hsm
            .open_value(name, v)
            .map(|z| z.to_vec())
            .ok_or_else(|| Error::corrupted(format!("store entry '{name}' failed authentication")))
    }

    /// Rebuild every in-memory table (keys, aliases, grants, identity and
    /// key policies, import tokens, settings, audit head) from the store's
    /// entries: used when a store opens and after a failed commit, so both
    /// paths see exactly what the store holds.
    pub(in crate::kms) fn load_entries(
        &mut self,
        entries: &BTreeMap<String, Vec<u8>>,
    ) -> Result<()> {
        self.keys.clear();
        self.aliases.clear();
        self.grants.clear();
        self.identity.clear();
        self.import_tokens.clear();
        self.policies.clear();
        self.trust.clear();
        self.usage.clear();
        self.usage_start = None;
        self.settings = StoreSettings::default();
        self.audit_head = AuditHead::default();
        self.audit_base = AuditBase::default();
        let state = &mut *self;
        for (name, v) in entries {
            let parse_err = || Error::corrupted(format!("store entry '{name}' is unreadable"));
            if let Some(id) = name.strip_prefix("key/") {
                let mut rec: KeyRecord =
                    serde_json::from_slice(&state.open_entry(name, v)?).map_err(|_| parse_err())?;
                rec.upgrade();
                if rec.key_id != id {
                    return Err(parse_err());
                }
                state.keys.insert(rec.key_id.clone(), rec);
            } else if let Some(rest) = name.strip_prefix("mat/") {
                let (id, mat) = rest.split_once('/').ok_or_else(parse_err)?;
                let mut material_id = [0u8; 32];
                hex::decode_to_slice(mat, &mut material_id).map_err(|_| parse_err())?;
                // Key records (`key/…`) sort before their materials.
                let symmetric = state
                    .keys
                    .get(id)
                    .map(|r| r.key_spec == KeySpec::SymmetricDefault);
                state.hsm.load_material_of(
                    &MaterialHandle {
                        key_id: id.to_string(),
                        material_id,
                    },
                    v,
                    symmetric,
                )?;
            } else if name.starts_with("alias/") {
                let a: AliasEntry =
                    serde_json::from_slice(&state.open_entry(name, v)?).map_err(|_| parse_err())?;
                state.aliases.insert(a.alias_name.clone(), a);
            } else if name == IDENTITY_KEY_NAME {
                state.hsm.load_or_create_identity(Some(v))?;
                state.identity_loaded = true;
            } else if let Some(token) = name.strip_prefix("import/") {
                let t: ImportTokenEntry =
                    serde_json::from_slice(&state.open_entry(name, v)?).map_err(|_| parse_err())?;
                let sealed = hex::decode(&t.sealed_wrapping_key).map_err(|_| parse_err())?;
                state.hsm.load_wrapping_key(token, &sealed)?;
                state.import_tokens.insert(token.to_string(), t);
            } else if name.starts_with("grant/") {
                let g: Grant =
                    serde_json::from_slice(&state.open_entry(name, v)?).map_err(|_| parse_err())?;
                state
                    .grants
                    .entry(g.key_id.clone())
                    .or_default()
                    .insert(g.grant_id.clone(), g);
            } else if name.starts_with("iam/") {
                let e: IdentityEntry =
                    serde_json::from_slice(&state.open_entry(name, v)?).map_err(|_| parse_err())?;
                let parsed = policy::parse_stored(&e.document, PolicyKind::Identity)
                    .map_err(|_| parse_err())?;
                state
                    .identity
                    .entry(e.principal_arn)
                    .or_default()
                    .insert(e.policy_name, (e.document, Arc::new(parsed)));
            } else if let Some(fp) = name.strip_prefix(TRUST_PREFIX) {
                let d: ReplicationDestination =
                    serde_json::from_slice(&state.open_entry(name, v)?).map_err(|_| parse_err())?;
                if d.fingerprint != fp {
                    return Err(parse_err());
                }
                state.trust.insert(d.fingerprint.clone(), d);
            } else if name == SETTINGS_NAME {
                state.settings =
                    serde_json::from_slice(&state.open_entry(name, v)?).map_err(|_| parse_err())?;
            } else if name == AUDIT_HEAD_NAME {
                state.audit_head =
                    serde_json::from_slice(&state.open_entry(name, v)?).map_err(|_| parse_err())?;
            } else if let Some(id) = name.strip_prefix("usage/") {
                let u: LastUsage =
                    serde_json::from_slice::<LastUsageEntry>(&state.open_entry(name, v)?)
                        .map_err(|_| parse_err())?
                        .try_into()
                        .map_err(|_| parse_err())?;
                state.usage.insert(id.to_string(), u);
            } else if name == USAGE_START_NAME {
                let t = std::str::from_utf8(&state.open_entry(name, v)?)
                    .ok()
                    .and_then(|s| s.parse::<Millis>().ok())
                    .ok_or_else(parse_err)?;
                state.usage_start = Some(t);
            } else if name == AUDIT_BASE_NAME {
                state.audit_base =
                    serde_json::from_slice(&state.open_entry(name, v)?).map_err(|_| parse_err())?;
            }
        }
        state.audit_last = decode_hash(&state.audit_head.hash)?;
        let recs: Vec<KeyRecord> = state.keys.values().cloned().collect();
        for rec in &recs {
            state.cache_policy(rec)?;
        }
        // Every recorded material version must be present (imported material
        // may be deleted or expired: then the key is PendingImport).
        for rec in state.keys.values() {
            for m in rec.all_materials() {
                if m.import.as_ref().is_some_and(|i| !i.present) {
                    continue;
                }
                let mut material_id = [0u8; 32];
                hex::decode_to_slice(&m.material_id, &mut material_id)
                    .map_err(|_| Error::corrupted("malformed material id"))?;
                let h = MaterialHandle {
                    key_id: rec.key_id.clone(),
                    material_id,
                };
                if !state.hsm.has_material(&h) {
                    return Err(Error::corrupted(format!(
                        "{} is missing a key material version",
                        rec.arn
                    )));
                }
            }
        }
        state.recompute_deadline();
        Ok(())
    }
}
