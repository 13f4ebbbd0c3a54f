//! Store-wide administration: settings, maintenance, flush, and the audit
//! log (read, verify, prune).

use crate::kms::*;

impl Kms {
    // ------------------------------------------------------------ store-wide

    /// The state root's commit counter: one more for every commit this
    /// store has made since it gained a state root (`docs/formats/store.md`).
    /// An application that records it outside the store can tell when the
    /// store was replaced by an older copy of itself, which nothing inside
    /// the store can.
    pub fn commit_counter(&self) -> Result<u64> {
        Ok(self.lock()?.commit_count)
    }

    pub fn store_settings(&self) -> Result<StoreSettings> {
        Ok(self.lock()?.settings.clone())
    }

    /// Turn the "rotation required" setting on or off. Turning it on enables
    /// automatic rotation (default period) on every customer-managed key
    /// that supports it and lacks it.
    pub fn set_rotation_required(&self, required: bool) -> Result<()> {
        self.call("UpdateStoreSettings", |state, call, audit| {
            state.require_root(call, "UpdateStoreSettings", audit)?;
            state.settings.rotation_required = required;
            let settings = state.settings.clone();
            state.put_json(SETTINGS_NAME.into(), &settings)?;
            if required {
                let ids: Vec<String> = state
                    .keys
                    .values()
                    .filter(|k| {
                        k.key_manager == KeyManager::Customer
                            && check_rotatable(k).is_ok()
                            && !k.rotation.enabled
                    })
                    .map(|k| k.key_id.clone())
                    .collect();
                for id in ids {
                    let mut rec = state.rec(&id).clone();
                    rec.rotation.enabled = true;
                    rec.rotation.period_days = Some(DEFAULT_ROTATION_DAYS);
                    rec.rotation.next_rotation_ms =
                        Some(call.now + DEFAULT_ROTATION_DAYS as u64 * MS_PER_DAY);
                    state.save_key(rec)?;
                }
            }
            Ok(())
        })
    }

    /// Run due rotations and deletions now (they also run lazily at the
    /// start of every call). Returns what this pass did.
    ///
    /// This is also how the account root accepts a clock that jumped
    /// forward by more than [`MAX_CLOCK_JUMP_MS`] since the last call:
    /// until then ordinary calls purge no key pending deletion and expire
    /// no imported material (a wrong clock must not destroy keys at once).
    pub fn run_maintenance(&self) -> Result<MaintenanceReport> {
        self.call("RunMaintenance", |state, call, audit| {
            state.require_root(call, "RunMaintenance", audit)?;
            if state.clock_jumped(call.now)? {
                audit.decision = Some(format!(
                    "{}; clock accepted after a forward jump",
                    audit.decision.take().unwrap_or_default()
                ));
                state.accept_clock(call.now)?;
                state.next_deadline = 0;
                state.sweep(call.now)?;
            }
            Ok(std::mem::take(&mut state.report))
        })
    }

    /// Write buffered audit events now.
    pub fn flush(&self) -> Result<()> {
        let mut state = self.lock()?;
        state.commit(true)
    }

    pub(in crate::kms) fn stored_audit(&self) -> Result<Vec<(String, Vec<StoredEvent>)>> {
        let mut state = self.lock()?;
        state.commit(true)?;
        let entries = state.store.load()?;
        let mut out = Vec::new();
        for (name, v) in entries.range("audit/".to_string().."audit0".to_string()) {
            let bytes = state.hsm.open_value(name, v).ok_or_else(|| {
                Error::corrupted(format!("audit entry '{name}' failed authentication"))
            })?;
            out.push((name.clone(), audit::decode_batch(name, &bytes)?));
        }
        Ok(out)
    }

    /// Reading the audit log (every principal, key and context) is for the
    /// account root only; a refusal is audited.
    pub(in crate::kms) fn require_root_reader(&self, op: &'static str) -> Result<()> {
        if self.is_store_root() {
            return Ok(());
        }
        self.call(op, |state, call, audit| state.require_root(call, op, audit))
    }

    /// Every stored audit event, oldest first (flushes the buffer first).
    /// Account root only.
    pub fn audit_log(&self) -> Result<Vec<AuditEvent>> {
        self.require_root_reader("GetAuditLog")?;
        self.stored_audit()?
            .into_iter()
            .flat_map(|(_, b)| b)
            .map(|e| e.decode())
            .collect()
    }

    /// Recompute the hash chain over the whole stored log and compare it
    /// with the stored head. Any edited, reordered, inserted or dropped
    /// event fails with `StoreCorruptedException` naming the first bad
    /// position. Account root only.
    pub fn verify_audit_log(&self) -> Result<AuditVerification> {
        self.require_root_reader("VerifyAuditLog")?;
        let events: Vec<StoredEvent> = self
            .stored_audit()?
            .into_iter()
            .flat_map(|(_, b)| b)
            .collect();
        let state = self.lock()?;
        verify_chain(&events, &state.audit_base, &state.audit_head)
    }

    /// Delete the oldest audit events, keeping at least the newest
    /// `keep_last` (whole stored batches are removed, so slightly more may
    /// stay). The hash of the last removed event is kept, sealed, as the new
    /// start of the chain, so the remaining log still verifies and any later
    /// edit or drop is still detected. The pruning is itself audited.
    /// Returns the number of events removed.
    pub fn prune_audit_log(&self, keep_last: u64) -> Result<u64> {
        self.flush()?;
        let batches: Vec<(String, u64, Option<StoredEvent>)> = self
            .stored_audit()?
            .into_iter()
            .map(|(name, b)| (name, b.len() as u64, b.last().cloned()))
            .collect();
        let base = self.lock()?.audit_base.clone();
        let total: u64 = batches.iter().map(|b| b.1).sum();
        let mut removed = 0u64;
        let mut new_base = base;
        let mut deletes = Vec::new();
        for (name, n, last) in &batches {
            if total - removed - n < keep_last {
                break;
            }
            removed += n;
            if let Some(e) = last {
                new_base = AuditBase {
                    first_seq: e.seq + 1,
                    prev_hash: hex::encode(e.hash),
                };
            }
            deletes.push(name.clone());
        }
        self.call("PruneAuditLog", |state, call, audit| {
            state.require_root(call, "PruneAuditLog", audit)?;
            if deletes.is_empty() {
                return Ok(0);
            }
            for name in deletes {
                state.batch.push(Mutation::Delete { name });
            }
            state.put_json(AUDIT_BASE_NAME.into(), &new_base)?;
            state.audit_base = new_base;
            Ok(removed)
        })
    }
}

pub(in crate::kms) fn verify_chain(
    events: &[StoredEvent],
    base: &AuditBase,
    head: &AuditHead,
) -> Result<AuditVerification> {
    let mut prev = decode_hash(&base.prev_hash)?;
    for (i, e) in events.iter().enumerate() {
        let seq = base.first_seq + i as u64;
        let broken = || Error::corrupted(format!("the audit log is broken at event {seq}"));
        if e.seq != seq || audit::chain_hash(&prev, &e.body) != e.hash {
            return Err(broken());
        }
        e.decode().map_err(|_| broken())?;
        prev = e.hash;
    }
    let count = base.first_seq + events.len() as u64;
    if count != head.count || hex::encode(prev) != head.hash {
        return Err(Error::corrupted(format!(
            "the audit log has {count} events but its head records {}",
            head.count
        )));
    }
    Ok(AuditVerification {
        first_seq: base.first_seq,
        events: head.count,
        head_hash: head.hash.clone(),
    })
}
