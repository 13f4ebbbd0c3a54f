//! The engine's in-memory state ([`State`]): the staged batch of store
//! writes, rotation, purging, the sweep of due deletions, the clock's
//! high-water mark, audit buffering and the one commit.

use super::*;

#[derive(Default)]
pub(in crate::kms) struct AuditInfo<'r> {
    pub(in crate::kms) key_arn: Option<String>,
    /// ReEncrypt: the source key (the destination is `key_arn`).
    pub(in crate::kms) source_key_id: Option<String>,
    pub(in crate::kms) context: Option<&'r EncryptionContext>,
    pub(in crate::kms) decision: Option<String>,
}

pub(in crate::kms) struct State {
    pub(in crate::kms) hsm: Hsm,
    pub(in crate::kms) store: Box<dyn Store>,
    pub(in crate::kms) keys: BTreeMap<String, KeyRecord>,
    pub(in crate::kms) aliases: BTreeMap<String, AliasEntry>,
    pub(in crate::kms) settings: StoreSettings,
    pub(in crate::kms) audit_head: AuditHead,
    pub(in crate::kms) audit_base: AuditBase,
    /// Hash of the newest event (buffered or stored).
    pub(in crate::kms) audit_last: [u8; 32],
    pub(in crate::kms) audit_buf: Vec<StoredEvent>,
    pub(in crate::kms) batch: Vec<Mutation>,
    pub(in crate::kms) next_deadline: Millis,
    pub(in crate::kms) report: MaintenanceReport,
    /// Parsed key policies (text, parsed), by key id.
    pub(in crate::kms) policies: HashMap<String, (String, Arc<Policy>)>,
    /// Identity policies: principal ARN → name → (document, parsed).
    pub(in crate::kms) identity: BTreeMap<String, BTreeMap<String, (String, Arc<Policy>)>>,
    /// Grants: key id → grant id → grant.
    pub(in crate::kms) grants: BTreeMap<String, BTreeMap<String, Grant>>,
    /// Outstanding import tokens by token id.
    pub(in crate::kms) import_tokens: HashMap<String, ImportTokenEntry>,
    /// Multi-Region primaries changed by this call (push to replicas).
    pub(in crate::kms) mrk_dirty: Vec<String>,
    /// Replicas purged by this call: (key id, primary region).
    pub(in crate::kms) replicas_purged: Vec<(String, String)>,
    /// Sealed store identity key, if created.
    pub(in crate::kms) identity_loaded: bool,
    /// Ids of keys whose record, material or grants the last commits
    /// changed (for [`KeyChangeListener`]s).
    pub(in crate::kms) changed_keys: BTreeSet<String>,
    /// Tag of every store entry but the root, and their sum: the state root
    /// as the store holds it (see `state_root.rs`).
    pub(in crate::kms) entry_tags: HashMap<String, [u8; 32]>,
    pub(in crate::kms) digest: Digest,
    /// Commits counted by the state root.
    pub(in crate::kms) commit_count: u64,
    /// The store predates the state root: the first write adds it (and
    /// re-seals the check entry in format 2, which marks the store rooted).
    pub(in crate::kms) upgrade_pending: bool,
    /// A rebuild from the store after a failure has not completed yet.
    pub(in crate::kms) stale: bool,
    /// Registered replication destinations (`trust/<fingerprint>`), by
    /// fingerprint: the only stores key material may be exported to.
    pub(in crate::kms) trust: BTreeMap<String, ReplicationDestination>,
    /// Ids of keys an alias pointed to before or after a change of the
    /// alias in this call (the alias entry names no key id in clear).
    pub(in crate::kms) alias_targets: BTreeSet<String>,
    /// The clock's high-water mark (`None` until read from the store).
    pub(in crate::kms) clock_mark: Option<Millis>,
    /// The mark as last written to the store (`None`: not there yet).
    pub(in crate::kms) clock_mark_stored: Option<Millis>,
    /// GetKeyLastUsage: the last successful cryptographic call per key id,
    /// as the store holds it (`usage/<key id>`).
    pub(in crate::kms) usage: BTreeMap<String, LastUsage>,
    /// Calls whose audit events are still buffered: written with the next
    /// audit batch (same commit), and kept across a rebuild, as the
    /// buffered events are.
    pub(in crate::kms) usage_pending: BTreeMap<String, LastUsage>,
    /// When the store began tracking (`meta/usage-start`; `None` until the
    /// first audit batch writes it).
    pub(in crate::kms) usage_start: Option<Millis>,
    /// The time of the first call since the store opened, the start to
    /// write when the store has none yet.
    pub(in crate::kms) usage_start_new: Option<Millis>,
}

/// One key's last successful cryptographic call (store entry
/// `usage/<key id>`, JSON; see `docs/formats/store.md`). `Copy`, so that
/// marking a key on the hot path allocates only for a key not yet marked.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(in crate::kms) struct LastUsage {
    /// One of `TRACKED_OPERATIONS` (anything else is a parse error).
    pub(in crate::kms) operation: &'static str,
    pub(in crate::kms) time_ms: Millis,
    /// The call's position in the audit log.
    pub(in crate::kms) seq: u64,
}

/// `LastUsage` as read from the store.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(in crate::kms) struct LastUsageEntry {
    operation: String,
    time_ms: Millis,
    seq: u64,
}

impl TryFrom<LastUsageEntry> for LastUsage {
    type Error = &'static str;
    fn try_from(e: LastUsageEntry) -> Result<Self, Self::Error> {
        let operation = TRACKED_OPERATIONS
            .iter()
            .copied()
            .find(|o| *o == e.operation)
            .ok_or("not a tracked operation")?;
        Ok(LastUsage {
            operation,
            time_ms: e.time_ms,
            seq: e.seq,
        })
    }
}

/// The operations GetKeyLastUsage tracks (AWS `KeyLastUsageTrackingOperation`).
pub(in crate::kms) const TRACKED_OPERATIONS: &[&str] = &[
    "Decrypt",
    "DeriveSharedSecret",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "ReEncrypt",
    "Sign",
    "Verify",
    "VerifyMac",
];

impl State {
    /// Mark `id` as used by `u` (staged with its audit event); returns
    /// what to restore if the commit fails.
    pub(in crate::kms) fn mark_used(&mut self, id: &str, u: LastUsage) -> Option<LastUsage> {
        match self.usage_pending.get_mut(id) {
            Some(slot) => Some(std::mem::replace(slot, u)),
            None => {
                self.usage_pending.insert(id.to_string(), u);
                None
            }
        }
    }

    /// Undo `mark_used` (the commit failed).
    pub(in crate::kms) fn unmark_used(&mut self, id: &str, prev: Option<LastUsage>) {
        match prev {
            Some(p) => {
                if let Some(slot) = self.usage_pending.get_mut(id) {
                    *slot = p;
                }
            }
            None => {
                self.usage_pending.remove(id);
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(in crate::kms) struct ClockMark {
    pub(in crate::kms) high_water_ms: Millis,
    pub(in crate::kms) mac: String,
}

impl ClockMark {
    pub(in crate::kms) fn mac(hsm: &Hsm, ms: Millis) -> String {
        let data = [&b"strongroom/v1/clock-mark\0"[..], &ms.to_be_bytes()].concat();
        hex::encode(hsm.token_mac(&data))
    }
}

impl State {
    pub(in crate::kms) fn put_sealed(&mut self, name: String, value: &[u8]) -> Result<()> {
        let sealed = self.hsm.seal_value(&name, value)?;
        self.batch.push(Mutation::Put {
            name,
            value: sealed,
        });
        Ok(())
    }

    pub(in crate::kms) fn put_json<T: Serialize>(&mut self, name: String, v: &T) -> Result<()> {
        let json = serde_json::to_vec(v).map_err(|e| Error::internal(e.to_string()))?;
        self.put_sealed(name, &json)
    }

    pub(in crate::kms) fn save_key(&mut self, rec: KeyRecord) -> Result<()> {
        self.cache_policy(&rec)?;
        self.put_json(key_name(&rec.key_id), &rec)?;
        self.keys.insert(rec.key_id.clone(), rec);
        Ok(())
    }

    pub(in crate::kms) fn cache_policy(&mut self, rec: &KeyRecord) -> Result<()> {
        let text = rec.policy.as_deref().unwrap_or("");
        if self
            .policies
            .get(&rec.key_id)
            .is_some_and(|(t, _)| t == text)
        {
            return Ok(());
        }
        let parsed = policy::parse_stored(text, PolicyKind::Key).map_err(|e| {
            Error::corrupted(format!("{}: stored key policy: {}", rec.arn, e.message()))
        })?;
        self.policies
            .insert(rec.key_id.clone(), (text.to_string(), Arc::new(parsed)));
        Ok(())
    }

    pub(in crate::kms) fn save_grant(&mut self, g: Grant) -> Result<()> {
        self.put_json(grant_name(&g.key_id, &g.grant_id), &g)?;
        self.grants
            .entry(g.key_id.clone())
            .or_default()
            .insert(g.grant_id.clone(), g);
        Ok(())
    }

    pub(in crate::kms) fn remove_grant(&mut self, key_id: &str, grant_id: &str) {
        if let Some(m) = self.grants.get_mut(key_id) {
            m.remove(grant_id);
        }
        self.batch.push(Mutation::Delete {
            name: grant_name(key_id, grant_id),
        });
    }

    pub(in crate::kms) fn save_alias(&mut self, a: AliasEntry) -> Result<()> {
        self.put_json(alias_store_name(&a.alias_name), &a)?;
        self.alias_targets.insert(a.target_key_id.clone());
        if let Some(old) = self.aliases.insert(a.alias_name.clone(), a) {
            self.alias_targets.insert(old.target_key_id);
        }
        Ok(())
    }

    pub(in crate::kms) fn remove_alias(&mut self, name: &str) {
        if let Some(old) = self.aliases.remove(name) {
            self.alias_targets.insert(old.target_key_id);
        }
        self.batch.push(Mutation::Delete {
            name: alias_store_name(name),
        });
    }

    pub(in crate::kms) fn new_material(
        &mut self,
        key_id: &str,
        now: Millis,
        rotation_type: Option<RotationType>,
    ) -> Result<MaterialVersion> {
        let (handle, sealed) = self.hsm.generate_material(key_id)?;
        let hexid = handle.material_id_hex();
        self.batch.push(Mutation::Put {
            name: material_name(key_id, &hexid),
            value: sealed,
        });
        Ok(MaterialVersion {
            material_id: hexid,
            created_ms: now,
            rotation_type,
            import: None,
        })
    }

    pub(in crate::kms) fn new_asym_material(
        &mut self,
        key_id: &str,
        key: AsymKey,
        now: Millis,
    ) -> Result<MaterialVersion> {
        let (handle, sealed) = self.hsm.install_asym(key_id, key, MaterialCheck::ANY)?;
        let hexid = handle.material_id_hex();
        self.batch.push(Mutation::Put {
            name: material_name(key_id, &hexid),
            value: sealed,
        });
        Ok(MaterialVersion {
            material_id: hexid,
            created_ms: now,
            rotation_type: None,
            import: None,
        })
    }

    pub(in crate::kms) fn mark_mrk_dirty(&mut self, key_id: &str) {
        let is_primary = self
            .keys
            .get(key_id)
            .and_then(|k| k.mrk.as_ref().map(|m| m.primary_region == k.region))
            .unwrap_or(false);
        if is_primary && !self.mrk_dirty.iter().any(|k| k == key_id) {
            self.mrk_dirty.push(key_id.to_string());
        }
    }

    pub(in crate::kms) fn ensure_identity(&mut self) -> Result<()> {
        if !self.identity_loaded {
            if let Some(sealed) = self.hsm.load_or_create_identity(None)? {
                self.batch.push(Mutation::Put {
                    name: IDENTITY_KEY_NAME.into(),
                    value: sealed,
                });
            }
            self.identity_loaded = true;
        }
        Ok(())
    }

    pub(in crate::kms) fn rotate(
        &mut self,
        key_id: &str,
        now: Millis,
        kind: RotationType,
    ) -> Result<()> {
        self.mark_mrk_dirty(key_id);
        let mv = self.new_material(key_id, now, Some(kind))?;
        let mut rec = self.keys[key_id].clone();
        rec.materials.push(mv);
        if kind == RotationType::Automatic {
            rec.rotation.next_rotation_ms = rec
                .rotation
                .period_days
                .map(|p| now + p as u64 * MS_PER_DAY);
        }
        self.save_key(rec)
    }

    pub(in crate::kms) fn purge_key(&mut self, key_id: &str) {
        if let Some(rec) = self.keys.remove(key_id) {
            if let Some(m) = rec.mrk.as_ref().filter(|m| m.primary_region != rec.region) {
                self.replicas_purged
                    .push((key_id.to_string(), m.primary_region.clone()));
            }
            for m in rec.all_materials() {
                self.batch.push(Mutation::Delete {
                    name: material_name(key_id, &m.material_id),
                });
            }
            self.batch.push(Mutation::Delete {
                name: key_name(key_id),
            });
            if self.usage.remove(key_id).is_some() {
                self.batch.push(Mutation::Delete {
                    name: usage_name(key_id),
                });
            }
            self.usage_pending.remove(key_id);
            self.hsm.destroy_key(key_id);
            self.policies.remove(key_id);
            let tokens: Vec<String> = self
                .import_tokens
                .iter()
                .filter(|(_, t)| t.key_id == key_id)
                .map(|(id, _)| id.clone())
                .collect();
            for t in tokens {
                self.drop_import_token(&t);
            }
            if let Some(gs) = self.grants.remove(key_id) {
                for gid in gs.keys() {
                    self.batch.push(Mutation::Delete {
                        name: grant_name(key_id, gid),
                    });
                }
            }
            let aliases: Vec<String> = self
                .aliases
                .values()
                .filter(|a| a.target_key_id == key_id)
                .map(|a| a.alias_name.clone())
                .collect();
            for a in aliases {
                self.remove_alias(&a);
            }
            self.report.deleted.push(key_id.to_string());
        }
    }

    pub(in crate::kms) fn recompute_deadline(&mut self) {
        self.next_deadline = self
            .keys
            .values()
            .flat_map(|k| {
                let main = match k.state {
                    KeyState::PendingDeletion => k.deletion_date_ms,
                    KeyState::Enabled if k.rotation.enabled => k.rotation.next_rotation_ms,
                    _ => None,
                };
                let expiry = k
                    .all_materials()
                    .filter_map(|m| m.import.as_ref())
                    .filter(|i| i.present)
                    .filter_map(|i| i.valid_to_ms)
                    .min();
                [main, expiry]
            })
            .flatten()
            .chain(self.import_tokens.values().map(|t| t.expires_ms))
            .min()
            .unwrap_or(Millis::MAX);
    }

    /// The clock's high-water mark, read from the store on first use (a
    /// store without one starts at `now`).
    pub(in crate::kms) fn clock_mark(&mut self, now: Millis) -> Result<Millis> {
        if let Some(m) = self.clock_mark {
            return Ok(m);
        }
        let entries = self.store.load()?;
        let m = match entries.get(CLOCK_NAME) {
            Some(v) => {
                let m: ClockMark = serde_json::from_slice(v)
                    .map_err(|_| Error::corrupted("unreadable clock high-water mark"))?;
                let want = ClockMark::mac(&self.hsm, m.high_water_ms);
                if !bool::from(subtle::ConstantTimeEq::ct_eq(
                    want.as_bytes(),
                    m.mac.as_bytes(),
                )) {
                    return Err(Error::corrupted(
                        "the clock high-water mark failed authentication",
                    ));
                }
                self.clock_mark_stored = Some(m.high_water_ms);
                m.high_water_ms
            }
            None => now,
        };
        self.clock_mark = Some(m);
        Ok(m)
    }

    /// Move the high-water mark to `now` (never back); stage it for the
    /// store when it moved far enough since it was last written, or when
    /// `force`. (Otherwise it goes with the call's other writes, if any:
    /// [`State::stage_clock_mark`].)
    pub(in crate::kms) fn advance_clock_mark(&mut self, now: Millis, force: bool) -> Result<()> {
        let m = self.clock_mark(now)?.max(now);
        self.clock_mark = Some(m);
        let due = match self.clock_mark_stored {
            Some(s) => {
                m > s
                    && (force
                        || (m - s >= CLOCK_MARK_GRANULARITY_MS && self.clock_guards_something()))
            }
            None => force,
        };
        if due {
            self.put_clock_mark(m)?;
        }
        Ok(())
    }

    pub(in crate::kms) fn put_clock_mark(&mut self, m: Millis) -> Result<()> {
        let v = ClockMark {
            high_water_ms: m,
            mac: ClockMark::mac(&self.hsm, m),
        };
        self.batch.push(Mutation::Put {
            name: CLOCK_NAME.into(),
            value: serde_json::to_vec(&v).map_err(|e| Error::internal(e.to_string()))?,
        });
        self.clock_mark_stored = Some(m);
        Ok(())
    }

    /// Is anything waiting for the clock that the jump guard protects (a key
    /// pending deletion, imported material that expires)? Only then does
    /// the high-water mark need to be in the store.
    pub(in crate::kms) fn clock_guards_something(&self) -> bool {
        self.keys.values().any(|k| {
            k.state == KeyState::PendingDeletion
                || k.all_materials()
                    .filter_map(|m| m.import.as_ref())
                    .any(|i| i.present && i.valid_to_ms.is_some())
        })
    }

    /// A call that writes anyway writes the high-water mark with it when
    /// the stored one is behind (or missing) and something depends on it.
    pub(in crate::kms) fn stage_clock_mark(&mut self) -> Result<()> {
        match self.clock_mark {
            Some(m)
                if !self.batch.is_empty()
                    && self.clock_mark_stored != Some(m)
                    && self.clock_guards_something() =>
            {
                self.put_clock_mark(m)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Has the clock jumped forward past the bound since the last call?
    pub(in crate::kms) fn clock_jumped(&mut self, now: Millis) -> Result<bool> {
        Ok(now.saturating_sub(self.clock_mark(now)?) > MAX_CLOCK_JUMP_MS)
    }

    /// Accept the clock as it is (the account root's maintenance call).
    pub(in crate::kms) fn accept_clock(&mut self, now: Millis) -> Result<()> {
        self.clock_mark = Some(self.clock_mark(now)?.max(now));
        self.advance_clock_mark(now, true)
    }

    /// Purge keys whose deletion window passed and rotate keys that are due.
    /// After a forward clock jump larger than [`MAX_CLOCK_JUMP_MS`] nothing
    /// is purged or expired (rotation, which destroys nothing, still runs)
    /// until [`State::accept_clock`].
    pub(in crate::kms) fn sweep(&mut self, now: Millis) -> Result<()> {
        let jumped = self.clock_jumped(now)?;
        if !jumped {
            self.advance_clock_mark(now, false)?;
        }
        if now < self.next_deadline {
            return Ok(());
        }
        let due: Vec<(String, bool)> = self
            .keys
            .values()
            .filter_map(|k| match k.state {
                KeyState::PendingDeletion
                    if !jumped && k.deletion_date_ms.is_some_and(|d| d <= now) =>
                {
                    Some((k.key_id.clone(), true))
                }
                KeyState::Enabled
                    if k.rotation.enabled
                        && k.rotation.next_rotation_ms.is_some_and(|d| d <= now) =>
                {
                    Some((k.key_id.clone(), false))
                }
                _ => None,
            })
            .collect();
        for (id, delete) in due {
            if delete {
                self.purge_key(&id);
            } else {
                self.rotate(&id, now, RotationType::Automatic)?;
                self.report.rotated.push(id);
            }
        }
        // Imported material whose ValidTo has passed is deleted.
        let expired: Vec<(String, String)> = if jumped {
            vec![]
        } else {
            self.keys
                .values()
                .flat_map(|k| {
                    k.all_materials()
                        .filter(|m| {
                            m.import.as_ref().is_some_and(|i| {
                                i.present && i.valid_to_ms.is_some_and(|v| v <= now)
                            })
                        })
                        .map(|m| (k.key_id.clone(), m.material_id.clone()))
                })
                .collect()
        };
        for (id, material) in expired {
            self.delete_imported_material(&id, &material)?;
            if !self.report.expired.contains(&id) {
                self.report.expired.push(id);
            }
        }
        // Expired import tokens: their RSA private keys go now, from the HSM
        // and from the store (an import with one is ExpiredImportToken).
        let stale: Vec<String> = self
            .import_tokens
            .iter()
            .filter(|(_, t)| t.expires_ms <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for t in stale {
            self.drop_import_token(&t);
        }
        self.recompute_deadline();
        Ok(())
    }

    /// Delete one imported material of an EXTERNAL key (`material_id`, 64
    /// hex). Material associated with the key is kept as a record (only
    /// the same material can be imported again) and the key goes to
    /// PendingImport (a key pending deletion keeps its state); material
    /// pending rotation is forgotten (it was never associated), except by a
    /// multi-Region replica, which keeps its id for the primary's rotation.
    pub(in crate::kms) fn delete_imported_material(
        &mut self,
        key_id: &str,
        material_id: &str,
    ) -> Result<()> {
        let mut rec = self.keys[key_id].clone();
        self.forget_material(key_id, material_id)?;
        // A primary's replicas hear of the change (they drop material the
        // primary no longer has pending).
        self.mark_mrk_dirty(key_id);
        let replica = rec
            .mrk
            .as_ref()
            .is_some_and(|m| m.primary_region != rec.region);
        if let Some(p) = rec
            .pending
            .as_mut()
            .filter(|p| p.material_id == material_id)
        {
            if replica {
                // The primary still has it pending: the replica keeps the
                // id, to import the same material again.
                if let Some(i) = p.import.as_mut() {
                    i.present = false;
                    i.valid_to_ms = None;
                }
            } else {
                rec.pending = None;
            }
            return self.save_key(rec);
        }
        if let Some(i) = rec
            .materials
            .iter_mut()
            .find(|m| m.material_id == material_id)
            .and_then(|m| m.import.as_mut())
        {
            i.present = false;
            i.valid_to_ms = None;
        }
        // A key waiting to be deleted keeps waiting.
        if !matches!(
            rec.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            rec.state = KeyState::PendingImport;
        }
        self.save_key(rec)
    }

    pub(in crate::kms) fn drop_import_token(&mut self, token_id: &str) {
        self.import_tokens.remove(token_id);
        self.hsm.drop_wrapping_key(token_id);
        self.batch.push(Mutation::Delete {
            name: import_token_name(token_id),
        });
    }

    pub(in crate::kms) fn import_token_string(&self, token_id: &str, key_id: &str) -> String {
        let mac = self
            .hsm
            .token_mac(&[b"import\0", token_id.as_bytes(), b"\0", key_id.as_bytes()].concat());
        format!("srim1{token_id}{}", hex::encode(&mac[..16]))
    }

    /// The token id inside an import token issued for `key_id`.
    pub(in crate::kms) fn parse_import_token(&self, token: &str, key_id: &str) -> Result<String> {
        let bad = || {
            Error::new(
                ErrorCode::InvalidImportToken,
                "The import token is not valid for this key",
            )
        };
        let body = token.strip_prefix("srim1").ok_or_else(bad)?;
        if body.len() != 64 || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let token_id = &body[..32];
        let want = self.import_token_string(token_id, key_id);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            want.as_bytes(),
            token.as_bytes(),
        )) {
            return Err(bad());
        }
        Ok(token_id.to_string())
    }

    /// Rotate at once if automatic rotation is overdue (after EnableKey).
    pub(in crate::kms) fn rotate_if_overdue(&mut self, key_id: &str, now: Millis) -> Result<()> {
        let rec = &self.keys[key_id];
        if rec.state == KeyState::Enabled
            && rec.rotation.enabled
            && rec.rotation.next_rotation_ms.is_some_and(|d| d <= now)
        {
            self.rotate(key_id, now, RotationType::Automatic)?;
        }
        Ok(())
    }

    pub(in crate::kms) fn current_handle(&self, rec: &KeyRecord) -> Result<MaterialHandle> {
        let hexid = rec
            .current_material_id()
            .ok_or_else(|| Error::internal(format!("{} has no key material", rec.arn)))?;
        material_handle(&rec.key_id, hexid)
    }

    /// Drop one material version of `key_id` from the HSM and the store.
    pub(in crate::kms) fn forget_material(&mut self, key_id: &str, hexid: &str) -> Result<()> {
        self.hsm.remove_material(&material_handle(key_id, hexid)?);
        self.batch.push(Mutation::Delete {
            name: material_name(key_id, hexid),
        });
        Ok(())
    }

    pub(in crate::kms) fn next_audit_seq(&self) -> u64 {
        self.audit_head.count + self.audit_buf.len() as u64
    }

    pub(in crate::kms) fn audit(&mut self, body: &BodyRef<'_>) -> Result<()> {
        let e = StoredEvent::new(&self.audit_last, body)?;
        self.audit_last = e.hash;
        self.audit_buf.push(e);
        Ok(())
    }

    /// Write the pending batch. State changes always carry the buffered
    /// audit events with them; read-only calls flush audit events once
    /// `AUDIT_FLUSH_EVENTS` have accumulated (or on `flush()` / drop).
    /// On failure nothing is written and the audit buffer is kept.
    pub(in crate::kms) fn commit(&mut self, force_audit: bool) -> Result<()> {
        let state_changed = !self.batch.is_empty();
        let stage = !self.audit_buf.is_empty()
            && (state_changed || force_audit || self.audit_buf.len() >= AUDIT_FLUSH_EVENTS);
        let mut new_head = None;
        if stage {
            let first = self.audit_buf[0].seq;
            let head = AuditHead {
                count: first + self.audit_buf.len() as u64,
                hash: hex::encode(self.audit_buf.last().expect("non-empty").hash),
            };
            // Encoded straight into the buffer it is sealed in.
            let name = audit_name(first);
            let sealed =
                self.hsm
                    .seal_value_with(&name, audit::batch_len_hint(&self.audit_buf), |out| {
                        audit::encode_batch_into(&self.audit_buf, out)
                    })?;
            self.batch.push(Mutation::Put {
                name,
                value: sealed,
            });
            self.put_json(AUDIT_HEAD_NAME.to_string(), &head)?;
            // Last usage goes with the audit events it comes from: both are
            // in the store, or neither.
            // Sealed like every entry: when a key was used is nobody's
            // business but the store owner's.
            let pending: Vec<(String, LastUsage)> = self
                .usage_pending
                .iter()
                .map(|(id, u)| (usage_name(id), *u))
                .collect();
            for (name, u) in pending {
                self.put_json(name, &u)?;
            }
            if let (None, Some(start)) = (self.usage_start, self.usage_start_new) {
                self.put_sealed(USAGE_START_NAME.into(), start.to_string().as_bytes())?;
            }
            new_head = Some(head);
        }
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let changed: Vec<String> = batch
            .iter()
            .filter_map(|m| {
                let name = match m {
                    Mutation::Put { name, .. } | Mutation::Delete { name } => name,
                };
                let rest = name
                    .strip_prefix("key/")
                    .or_else(|| name.strip_prefix("mat/"))
                    .or_else(|| name.strip_prefix("grant/"))?;
                Some(rest.split('/').next().unwrap_or(rest).to_string())
            })
            .collect();
        let purges_material = batch
            .iter()
            .any(|m| matches!(m, Mutation::Delete { name } if name.starts_with("mat/")));
        self.apply_batch(batch)?;
        if purges_material {
            // Deleted key material must not stay readable in the store's
            // files. The batch is already durable; a store whose compaction
            // fails retries it on its next write.
            if let Err(e) = self.store.compact() {
                log::warn!(
                    "strongroom: compacting the store after a key material deletion failed: {e}"
                );
            }
        }
        self.changed_keys.extend(changed);
        if let Some(head) = new_head {
            if self.usage_start.is_none() {
                self.usage_start = self.usage_start_new;
            }
            self.audit_head = head;
            self.audit_buf.clear();
            let pending = std::mem::take(&mut self.usage_pending);
            self.usage.extend(pending);
        }
        if state_changed {
            self.recompute_deadline();
        }
        Ok(())
    }

    /// Apply a batch to the store together with the new state root: the
    /// tags of the entries it puts and deletes move the digest, and the
    /// root (counter + 1, digest, MAC) joins the same atomic batch. Memory
    /// follows only once the store has it.
    pub(in crate::kms) fn apply_batch(&mut self, mut batch: Vec<Mutation>) -> Result<()> {
        if self.upgrade_pending {
            let sealed = self.hsm.seal_value(CHECK_NAME, CHECK_VALUE)?;
            batch.push(Mutation::Put {
                name: CHECK_NAME.into(),
                value: sealed,
            });
        }
        let mut digest = self.digest;
        let mut overlay: HashMap<String, Option<[u8; 32]>> = HashMap::new();
        for m in &batch {
            let (name, new) = match m {
                Mutation::Put { name, value } => (name, Some(self.hsm.entry_tag(name, value))),
                Mutation::Delete { name } => (name, None),
            };
            if name == ROOT_NAME {
                return Err(Error::internal("the state root is written by commits only"));
            }
            let old = match overlay.get(name.as_str()) {
                Some(t) => *t,
                None => self.entry_tags.get(name.as_str()).copied(),
            };
            if let Some(t) = old {
                digest.sub(&t);
            }
            if let Some(t) = new {
                digest.add(&t);
            }
            overlay.insert(name.clone(), new);
        }
        let counter = self.commit_count + 1;
        let body = state_root::root_body(counter, digest);
        let mut root = Vec::with_capacity(state_root::ROOT_VALUE_LEN);
        root.extend_from_slice(&body);
        root.extend_from_slice(&self.hsm.state_root_mac(&body));
        batch.push(Mutation::Put {
            name: ROOT_NAME.into(),
            value: root,
        });
        self.store.apply(batch)?;
        for (name, tag) in overlay {
            match tag {
                Some(t) => {
                    self.entry_tags.insert(name, t);
                }
                None => {
                    self.entry_tags.remove(&name);
                }
            }
        }
        self.digest = digest;
        self.commit_count = counter;
        if self.upgrade_pending {
            self.upgrade_pending = false;
            // Rewrite the journal without the values written before the
            // upgrade was committed. The commit itself is durable; a store
            // whose compaction fails retries it on its next write.
            if let Err(e) = self.store.compact() {
                log::warn!("strongroom: compacting the store after its upgrade failed: {e}");
            }
        }
        Ok(())
    }

    /// Drop the pending batch and rebuild memory from the store (the root
    /// key is still inside the HSM): after a call or commit failed, nothing
    /// it changed in memory survives. Buffered audit events are kept.
    pub(in crate::kms) fn discard_changes(&mut self) -> Result<()> {
        // Until the rebuild succeeds memory may be ahead of the store:
        // every call retries it first (`Kms::call`) and acts only after.
        self.stale = true;
        self.batch.clear();
        let entries = self.store.load()?;
        self.rebuild(&entries)?;
        if let Some(e) = self.audit_buf.last() {
            self.audit_last = e.hash;
        }
        self.stale = false;
        Ok(())
    }

    /// Forget the newest buffered event (its call failed to commit).
    pub(in crate::kms) fn pop_audit(&mut self) {
        self.audit_buf.pop();
        self.audit_last = match self.audit_buf.last() {
            Some(e) => e.hash,
            None => decode_hash(&self.audit_head.hash).unwrap_or([0; 32]),
        };
    }
}

/// The handle of material `hexid` (64 hex, as key records keep it) of
/// `key_id`.
pub(in crate::kms) fn material_handle(key_id: &str, hexid: &str) -> Result<MaterialHandle> {
    let mut material_id = [0u8; 32];
    hex::decode_to_slice(hexid, &mut material_id)
        .map_err(|_| Error::internal("malformed material id"))?;
    Ok(MaterialHandle {
        key_id: key_id.to_string(),
        material_id,
    })
}
