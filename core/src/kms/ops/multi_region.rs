//! Multi-Region keys: ReplicateKey, UpdatePrimaryRegion, linked regions,
//! replication packages between stores and their trusted destinations.

use crate::kms::*;

// ---------------------------------------------------------------- multi-Region keys

/// Shared properties of a multi-Region key, carried authenticated (not
/// encrypted) in a replication package header.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(in crate::kms) struct SharedProps {
    pub(in crate::kms) key_spec: KeySpec,
    pub(in crate::kms) key_usage: KeyUsage,
    pub(in crate::kms) origin: Origin,
    pub(in crate::kms) created_ms: Millis,
    pub(in crate::kms) rotation: RotationSettings,
    pub(in crate::kms) materials: Vec<MaterialVersion>,
    pub(in crate::kms) primary_region: String,
    pub(in crate::kms) material_present: bool,
    /// EXTERNAL symmetric keys: the primary's material pending rotation
    /// (its id only: replicas import the same material before the primary
    /// rotates to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(in crate::kms) pending: Option<MaterialVersion>,
}

pub(in crate::kms) const PACKAGE_MAGIC: &[u8; 4] = b"SRRP";
pub(in crate::kms) const PACKAGE_VERSION: u8 = 1;

pub(in crate::kms) struct PackageHeader {
    pub(in crate::kms) len: usize,
    pub(in crate::kms) source_region: String,
    pub(in crate::kms) dest_region: String,
    pub(in crate::kms) key_id: String,
    pub(in crate::kms) sequence: u64,
    pub(in crate::kms) props: SharedProps,
}

pub(in crate::kms) fn write_package_header(
    src: &str,
    dst: &str,
    key_id: &str,
    seq: u64,
    props: &SharedProps,
) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(props).map_err(|e| Error::internal(e.to_string()))?;
    let mut h = PACKAGE_MAGIC.to_vec();
    h.push(PACKAGE_VERSION);
    for f in [src.as_bytes(), dst.as_bytes()] {
        h.extend_from_slice(&(f.len() as u16).to_be_bytes());
        h.extend_from_slice(f);
    }
    h.push(key_id.len() as u8);
    h.extend_from_slice(key_id.as_bytes());
    h.extend_from_slice(&seq.to_be_bytes());
    h.extend_from_slice(&(json.len() as u32).to_be_bytes());
    h.extend_from_slice(&json);
    Ok(h)
}

pub(in crate::kms) fn parse_package_header(p: &[u8]) -> Result<PackageHeader> {
    let bad = Error::invalid_ciphertext;
    let mut r = crate::wire::Reader(p, 0);
    if r.take(4)? != PACKAGE_MAGIC || r.u8()? != PACKAGE_VERSION {
        return Err(bad());
    }
    let l = r.u16()? as usize;
    let source_region = r.utf8(l)?;
    let l = r.u16()? as usize;
    let dest_region = r.utf8(l)?;
    let l = r.u8()? as usize;
    let key_id = r.utf8(l)?;
    let sequence = r.u64()?;
    let jl = r.u32()? as usize;
    let props: SharedProps = serde_json::from_slice(r.take(jl)?).map_err(|_| bad())?;
    if !blob::valid_key_id_chars(&key_id) {
        return Err(bad());
    }
    Ok(PackageHeader {
        len: r.1,
        source_region,
        dest_region,
        key_id,
        sequence,
        props,
    })
}

/// A store that key material may be exported to: registered by the
/// account root ([`Kms::register_replication_destination`]), stored sealed
/// as `trust/<fingerprint>`, listed by [`Kms::list_replication_destinations`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicationDestination {
    /// The destination store's region (packages for it name this region).
    pub region: String,
    /// The destination store's identity key, DER SPKI (P-256), hex.
    pub identity: String,
    /// Hex SHA-256 of the (canonical) SPKI: the entry's name.
    pub fingerprint: String,
    pub registered_ms: Millis,
}

/// The most replication destinations one store may register.
pub const MAX_REPLICATION_DESTINATIONS: usize = 256;

/// A store identity key in canonical DER SPKI form and its fingerprint.
pub(in crate::kms) fn canonical_identity(spki: &[u8]) -> Result<(Vec<u8>, String)> {
    use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
    use sha2::{Digest, Sha256};
    let key = p256::PublicKey::from_public_key_der(spki)
        .map_err(|_| Error::validation("the destination identity key is not a P-256 DER SPKI"))?;
    let der = key
        .to_public_key_der()
        .map_err(|_| Error::internal("SPKI"))?
        .as_bytes()
        .to_vec();
    let fp = hex::encode(Sha256::digest(&der));
    Ok((der, fp))
}

/// A region name as a store may have one (the builder's rule, also the
/// rule for a replication destination's region: it names a store): 1 to 32
/// characters of a-z, 0-9 and `-`. Public for front ends that pick a store
/// by region (the server, before it makes a directory for one).
pub fn validate_region_name(region: &str) -> Result<()> {
    if region.is_empty()
        || region.len() > 32
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Error::validation(
            "the region must be 1 to 32 characters of a-z, 0-9 and '-'",
        ));
    }
    Ok(())
}

pub(in crate::kms) fn untrusted_destination(region: &str, fp: &str) -> Error {
    Error::new(
        ErrorCode::AccessDenied,
        format!(
            "the store with identity {fp} is not a registered replication destination for {region}: \
             key material is only exported to a store the account root registered \
             (RegisterReplicationDestination)"
        ),
    )
}

impl State {
    /// Is the store with this identity registered for `region`?
    pub(in crate::kms) fn trusts(&self, spki: &[u8], region: &str) -> Result<bool> {
        let (_, fp) = canonical_identity(spki)?;
        Ok(self.trust.get(&fp).is_some_and(|d| d.region == region))
    }

    /// Register (or re-register for another region) a replication
    /// destination. The caller has checked that the account root asks.
    pub(in crate::kms) fn register_destination(
        &mut self,
        call: &CallContext,
        region: &str,
        spki: &[u8],
    ) -> Result<ReplicationDestination> {
        validate_region_name(region)?;
        if region == call.region {
            return Err(Error::validation(
                "a replication destination is in another region than this store",
            ));
        }
        let (der, fp) = canonical_identity(spki)?;
        self.ensure_identity()?;
        if self.hsm.identity_public_key()? == der {
            return Err(Error::validation(
                "a store cannot be its own replication destination",
            ));
        }
        if let Some(d) = self.trust.get(&fp) {
            if d.region == region {
                return Ok(d.clone());
            }
        } else if self.trust.len() >= MAX_REPLICATION_DESTINATIONS {
            return Err(Error::new(
                ErrorCode::LimitExceeded,
                format!("a store registers at most {MAX_REPLICATION_DESTINATIONS} replication destinations"),
            ));
        }
        let d = ReplicationDestination {
            region: region.to_string(),
            identity: hex::encode(&der),
            fingerprint: fp.clone(),
            registered_ms: call.now,
        };
        self.put_json(format!("{TRUST_PREFIX}{fp}"), &d)?;
        self.trust.insert(fp, d.clone());
        Ok(d)
    }

    /// Build a package of a multi-Region primary for `dest_region`, sealed
    /// to `dest_identity`, which must be a registered destination for that
    /// region (checked here, on every path: ExportReplicationPackage,
    /// ReplicateKey and the propagation of a primary's changes).
    pub(in crate::kms) fn export_package(
        &mut self,
        call: &CallContext,
        id: &str,
        dest_region: &str,
        dest_identity: &[u8],
    ) -> Result<Vec<u8>> {
        if !self.trusts(dest_identity, dest_region)? {
            let (_, fp) = canonical_identity(dest_identity)?;
            return Err(untrusted_destination(dest_region, &fp));
        }
        let mut rec = self.rec_checked(call, id)?.clone();
        let is_primary = rec
            .mrk
            .as_ref()
            .is_some_and(|m| m.primary_region == call.region);
        if !rec.multi_region || !is_primary {
            return Err(Error::new(
                ErrorCode::UnsupportedOperation,
                format!(
                    "{} is not the primary of a multi-Region key; only a primary can be replicated",
                    rec.arn
                ),
            ));
        }
        if dest_region == call.region {
            return Err(Error::validation(
                "the replica region must differ from the primary's",
            ));
        }
        self.ensure_identity()?;
        // Imported material never travels: as in AWS, each replica of an
        // EXTERNAL key has the same material imported into it (the package
        // lists the ids it must match).
        let material_present = rec.origin != Origin::External;
        let handles: Vec<MaterialHandle> = if material_present {
            rec.materials
                .iter()
                .map(|m| material_handle(id, &m.material_id))
                .collect::<Result<_>>()?
        } else {
            vec![]
        };
        let m = rec.mrk.as_mut().expect("checked");
        m.sequence += 1;
        let seq = m.sequence;
        let props = SharedProps {
            key_spec: rec.key_spec,
            key_usage: rec.key_usage,
            origin: rec.origin,
            created_ms: rec.created_ms,
            rotation: rec.rotation.clone(),
            materials: rec.materials.clone(),
            primary_region: m.primary_region.clone(),
            material_present,
            pending: rec.pending.clone(),
        };
        let header = write_package_header(call.region, dest_region, id, seq, &props)?;
        let pkg = self
            .hsm
            .seal_replication_package(&header, &handles, dest_identity)?;
        self.save_key(rec)?;
        Ok(pkg)
    }
}

pub(in crate::kms) fn root_of(kms: &Kms) -> Kms {
    kms.as_caller(Caller::account_root(kms.account()))
}

impl Kms {
    /// This store's identity public key (DER SPKI, P-256): other stores
    /// seal replication packages to it.
    pub fn replication_public_key(&self) -> Result<Vec<u8>> {
        self.call("GetReplicationPublicKey", |state, _cx, _au| {
            state.ensure_identity()?;
            state.hsm.identity_public_key()
        })
    }

    /// Is this handle's caller the account root of this store?
    pub(in crate::kms) fn is_store_root(&self) -> bool {
        self.caller.validate().is_ok()
            && self.caller.is_account_root()
            && self.caller.account == self.shared.account
    }

    /// Register the store whose identity key (DER SPKI, P-256) is
    /// `identity` as a replication destination for `region`: the only way
    /// key material may later leave this store (ExportReplicationPackage,
    /// ReplicateKey, propagation to linked replicas). Account root only;
    /// audited; stored sealed. Registering the same store again for the same
    /// region changes nothing; for another region, replaces its region.
    pub fn register_replication_destination(
        &self,
        region: &str,
        identity: &[u8],
    ) -> Result<ReplicationDestination> {
        self.call("RegisterReplicationDestination", |state, call, audit| {
            state.require_root(call, "RegisterReplicationDestination", audit)?;
            state.register_destination(call, region, identity)
        })
    }

    /// Remove a registered replication destination: nothing more is
    /// exported to it (packages already made stay valid for it). Account
    /// root only; audited.
    pub fn remove_replication_destination(&self, identity: &[u8]) -> Result<()> {
        self.call("RemoveReplicationDestination", |state, call, audit| {
            state.require_root(call, "RemoveReplicationDestination", audit)?;
            let (_, fp) = canonical_identity(identity)?;
            if state.trust.remove(&fp).is_none() {
                return Err(Error::new(
                    ErrorCode::NotFound,
                    format!("no replication destination with identity {fp} is registered"),
                ));
            }
            state.batch.push(Mutation::Delete {
                name: format!("{TRUST_PREFIX}{fp}"),
            });
            Ok(())
        })
    }

    /// The registered replication destinations, by fingerprint. Account
    /// root only.
    pub fn list_replication_destinations(&self) -> Result<Vec<ReplicationDestination>> {
        self.call("ListReplicationDestinations", |state, call, audit| {
            state.require_root(call, "ListReplicationDestinations", audit)?;
            Ok(state.trust.values().cloned().collect())
        })
    }

    /// Seal every material version and the shared properties of a
    /// multi-Region primary for the store whose identity key is
    /// `dest_identity`, in `dest_region` (`docs/formats/replication-package.md`).
    /// The package carries the key material (to whoever holds the
    /// destination's identity key), so this is the account root's only:
    /// no policy grants it (`kms:*` included), and the destination must be
    /// registered for `dest_region` beforehand
    /// ([`Kms::register_replication_destination`]). `kms:ReplicateKey` is
    /// checked too, so an explicit Deny in the key policy still refuses it.
    pub fn export_replication_package(
        &self,
        key_id: &str,
        dest_region: &str,
        dest_identity: &[u8],
    ) -> Result<Vec<u8>> {
        self.export_checked(
            "ExportReplicationPackage",
            key_id,
            dest_region,
            dest_identity,
        )
    }

    /// An export as `op`: root-only for ExportReplicationPackage; always
    /// `kms:ReplicateKey` on the key, and a registered destination
    /// (`State::export_package`).
    pub(in crate::kms) fn export_checked(
        &self,
        op: &'static str,
        key_id: &str,
        dest_region: &str,
        dest_identity: &[u8],
    ) -> Result<Vec<u8>> {
        self.call(op, |state, call, audit| {
            if op == "ExportReplicationPackage" {
                state.require_root(call, op, audit)?;
            }
            let id = state.resolve(call, key_id)?;
            audit.key_arn = Some(call.key_arn(&id));
            state.authorize(
                call,
                "kms:ReplicateKey",
                Some(&id),
                Facts {
                    request_key_id: Some(key_id),
                    ..Default::default()
                },
                audit,
            )?;
            let rec = state.rec(&id);
            check_state(OpClass::Metadata, rec.state, &rec.arn)?;
            state.export_package(call, &id, dest_region, dest_identity)
        })
    }

    /// ReplicateKey's export: `kms:ReplicateKey` on the key (any principal
    /// the policies allow), to a registered destination only.
    pub(in crate::kms) fn export_for_replica(
        &self,
        key_id: &str,
        dest_region: &str,
        dest_identity: &[u8],
    ) -> Result<Vec<u8>> {
        self.export_checked("ReplicateKey", key_id, dest_region, dest_identity)
    }

    /// Apply a replication package made for this region by the store whose
    /// identity key is `source_identity`: create the replica, or bring its
    /// material and shared properties up to date. Account root only. A
    /// tampered package is `InvalidCiphertextException`; one that is not
    /// newer than the last applied (a replay) is `ConflictException`.
    pub fn import_replication_package(
        &self,
        package: &[u8],
        source_identity: &[u8],
    ) -> Result<KeyMetadata> {
        self.call("ImportReplicationPackage", |state, call, audit| {
            state.require_root(call, "ImportReplicationPackage", audit)?;
            let h = parse_package_header(package)?;
            audit.key_arn = Some(call.key_arn(&h.key_id));
            if h.dest_region != call.region {
                return Err(Error::validation(format!(
                    "this package is for region {}, not {}",
                    h.dest_region, call.region
                )));
            }
            if h.source_region == call.region {
                return Err(Error::validation("a package cannot come from this same region"));
            }
            let existing = state.keys.get(&h.key_id).cloned();
            if let Some(e) = &existing {
                match &e.mrk {
                    None => {
                        return Err(Error::new(
                            ErrorCode::AlreadyExists,
                            format!("{} exists and is not a multi-Region key", e.arn),
                        ))
                    }
                    Some(m) if h.sequence <= m.sequence => {
                        return Err(Error::new(
                            ErrorCode::Conflict,
                            format!(
                                "replication package {} for {} is not newer than the last applied ({}): a replay or a stale package",
                                h.sequence, e.arn, m.sequence
                            ),
                        ))
                    }
                    Some(m) if m.primary_region == call.region && h.props.primary_region == call.region => {
                        return Err(Error::new(ErrorCode::Conflict, format!("{} is the primary here", e.arn)))
                    }
                    _ => {}
                }
            }
            state.ensure_identity()?;
            // The payload must carry exactly the material versions the
            // properties list (none when the material is absent): a record
            // naming a version the store does not hold would fail the whole
            // store's next open.
            let expected: Vec<[u8; 32]> = if h.props.material_present {
                h.props
                    .materials
                    .iter()
                    .map(|m| {
                        let mut id = [0u8; 32];
                        hex::decode_to_slice(&m.material_id, &mut id).map(|_| id).map_err(|_| {
                            Error::validation("the replication package lists a malformed material id")
                        })
                    })
                    .collect::<Result<_>>()?
            } else {
                vec![]
            };
            let installed = state.hsm.open_replication_package(package, h.len, &h.key_id, source_identity, &expected)?;
            for (handle, sealed) in installed {
                state.batch.push(Mutation::Put { name: material_name(&h.key_id, &handle.material_id_hex()), value: sealed });
            }
            // An EXTERNAL replica's materials are its own imports: those it
            // has keep their state, those new to it wait for an import
            // (present only if the package carried them, as packages of
            // older versions did).
            let mut p = h.props;
            let mut pending = None;
            if p.origin == Origin::External {
                let had: Vec<MaterialVersion> = existing.as_ref().map(|r| r.all_materials().cloned().collect()).unwrap_or_default();
                let adopt = |m: &mut MaterialVersion| {
                    let description = m.import.take().and_then(|i| i.description);
                    let own = had.iter().find(|o| o.material_id == m.material_id).and_then(|o| o.import.clone());
                    m.import = Some(match own {
                        Some(mut own) => {
                            own.present |= p.material_present;
                            own
                        }
                        None => MaterialImport { present: p.material_present, description, ..Default::default() },
                    });
                };
                for m in &mut p.materials {
                    adopt(m);
                }
                pending = p.pending.take().map(|mut m| {
                    adopt(&mut m);
                    m
                });
                // Material this replica held pending that the primary no
                // longer lists (deleted there, or replaced) goes.
                if let Some(old) = existing.as_ref().and_then(|r| r.pending.as_ref()) {
                    let kept = p.materials.iter().chain(pending.iter()).any(|m| m.material_id == old.material_id);
                    if !kept {
                        state.forget_material(&h.key_id, &old.material_id)?;
                    }
                }
            }
            let rec = match existing {
                Some(mut r) => {
                    r.key_spec = p.key_spec;
                    r.key_usage = p.key_usage;
                    r.origin = p.origin;
                    r.rotation = p.rotation;
                    r.materials = p.materials;
                    r.pending = pending;
                    if r.missing_material() && matches!(r.state, KeyState::Enabled | KeyState::Disabled) {
                        r.state = KeyState::PendingImport;
                    } else if r.state == KeyState::PendingImport && !r.missing_material() {
                        // Material a (legacy) package carried completes it.
                        r.state = KeyState::Enabled;
                    }
                    if let Some(m) = r.mrk.as_mut() {
                        m.primary_region = p.primary_region;
                        m.sequence = h.sequence;
                        if m.primary_region != call.region {
                            m.replica_regions.clear();
                        }
                    }
                    r
                }
                None => {
                    if state.keys.len() >= MAX_KEYS {
                        return Err(Error::new(ErrorCode::LimitExceeded, "The number of keys in this region is at its limit"));
                    }
                    KeyRecord {
                        arn: call.key_arn(&h.key_id),
                        key_id: h.key_id.clone(),
                        account: call.account.to_string(),
                        region: call.region.to_string(),
                        created_ms: call.now,
                        description: String::new(),
                        state: if p.origin == Origin::External && !p.material_present { KeyState::PendingImport } else { KeyState::Enabled },
                        key_spec: p.key_spec,
                        key_usage: p.key_usage,
                        origin: p.origin,
                        key_manager: KeyManager::Customer,
                        multi_region: true,
                        deletion_date_ms: None,
                        pending_window_days: None,
                        tags: BTreeMap::new(),
                        materials: p.materials,
                        rotation: p.rotation,
                        policy: Some(default_policy(call.account)),
                        import: None,
                        pending,
                        mrk: Some(MultiRegionState { primary_region: p.primary_region, replica_regions: vec![], sequence: h.sequence }),
                    }
                }
            };
            let md = rec.metadata();
            state.save_key(rec)?;
            Ok(md)
        })
    }

    /// Link another region of the same account open in this process:
    /// rotations of primaries reach their replicas there, and a replica's
    /// deletion reaches its primary. Linking also catches up (replicas get
    /// their primary's current material and settings).
    ///
    /// Both handles must act as their store's account root (linking tells a
    /// primary which replicas are gone, and registers each store as a
    /// replication destination of the other, audited in both).
    pub fn link_region(&self, other: &Kms) -> Result<()> {
        if other.account() != self.account() || other.region() == self.region() {
            return Err(Error::validation(
                "link regions of the same account, different regions",
            ));
        }
        for k in [self, other] {
            if !k.is_store_root() {
                return k.call("LinkRegion", |state, call, audit| {
                    state.require_root(call, "LinkRegion", audit)
                });
            }
        }
        let self_id = self.replication_public_key()?;
        let other_id = other.replication_public_key()?;
        self.register_replication_destination(other.region(), &other_id)?;
        other.register_replication_destination(self.region(), &self_id)?;
        self.link_unchecked(other)
    }

    /// Link two regions (see [`Kms::link_region`]) once the caller has been
    /// authorized for what needs the link: no check, and no trust is added
    /// (every export still needs a registered destination).
    pub(in crate::kms) fn link_unchecked(&self, other: &Kms) -> Result<()> {
        if other.account() != self.account() || other.region() == self.region() {
            return Err(Error::validation(
                "link regions of the same account, different regions",
            ));
        }
        self.shared
            .links
            .lock()
            .map_err(|_| Error::internal("lock"))?
            .insert(other.region().into(), Arc::downgrade(&other.shared));
        other
            .shared
            .links
            .lock()
            .map_err(|_| Error::internal("lock"))?
            .insert(self.region().into(), Arc::downgrade(&self.shared));
        for (a, b) in [(self, other), (other, self)] {
            let primaries: Vec<String> = {
                let state = a.lock()?;
                state
                    .keys
                    .values()
                    .filter(|k| {
                        k.mrk.as_ref().is_some_and(|m| {
                            m.primary_region == k.region
                                && m.replica_regions.iter().any(|r| r == b.region())
                        })
                    })
                    .map(|k| k.key_id.clone())
                    .collect()
            };
            // Replicas deleted while unlinked: tell the primary.
            let gone: Vec<(String, String)> = {
                let state = b.lock()?;
                primaries
                    .iter()
                    .filter(|k| !state.keys.contains_key(*k))
                    .map(|k| (k.clone(), a.region().to_string()))
                    .collect()
            };
            for (k, _) in &gone {
                root_of(a).replica_gone(k, b.region())?;
            }
            a.propagate(&primaries, &[]);
        }
        Ok(())
    }

    /// Export for propagating a primary's change: a system action, not
    /// subject to the key policy (the replica relationship was authorized
    /// when ReplicateKey ran).
    pub(in crate::kms) fn export_for_propagation(
        &self,
        key_id: &str,
        dest_region: &str,
        dest_identity: &[u8],
    ) -> Result<Vec<u8>> {
        root_of(self).call("ReplicateKey", |state, call, audit| {
            audit.key_arn = Some(call.key_arn(key_id));
            audit.decision =
                Some("allow: propagation of a multi-Region primary's change to its replica".into());
            state.export_package(call, key_id, dest_region, dest_identity)
        })
    }

    pub(in crate::kms) fn resolve_id(&self, key_id: &str) -> Result<String> {
        let state = self.lock()?;
        let sh = &*self.shared;
        let call = CallContext {
            now: sh.clock.now_ms(),
            caller: &self.caller,
            account: &sh.account,
            region: &sh.region,
            partition: &sh.partition,
        };
        state.resolve(&call, key_id)
    }

    pub(in crate::kms) fn linked(&self, region: &str) -> Option<Kms> {
        let links = self.shared.links.lock().ok()?;
        links.get(region).and_then(Weak::upgrade).map(|shared| Kms {
            caller: Caller::account_root(&shared.account),
            shared,
        })
    }

    /// After a call: push changed primaries to their linked replicas, and
    /// tell linked primaries about deleted replicas. Best effort: a replica
    /// that cannot be reached catches up when the regions are linked again.
    pub(in crate::kms) fn propagate(&self, dirty: &[String], purged: &[(String, String)]) {
        for key in dirty {
            let regions: Vec<String> = match self.lock() {
                Ok(state) => state
                    .keys
                    .get(key)
                    .and_then(|k| k.mrk.as_ref())
                    .map(|m| m.replica_regions.clone())
                    .unwrap_or_default(),
                Err(_) => return,
            };
            for r in regions {
                let Some(replica) = self.linked(&r) else {
                    continue;
                };
                let (Ok(dest_id), Ok(src_id)) = (
                    replica.replication_public_key(),
                    root_of(self).replication_public_key(),
                ) else {
                    continue;
                };
                if let Ok(pkg) = self.export_for_propagation(key, &r, &dest_id) {
                    let _ = replica.import_replication_package(&pkg, &src_id);
                }
            }
        }
        for (key, primary_region) in purged {
            if let Some(primary) = self.linked(primary_region) {
                let _ = primary.replica_gone(key, self.region());
            }
        }
    }

    /// A replica of `key_id` in `region` is gone: forget it; a primary
    /// waiting in PendingReplicaDeletion starts its own window when the
    /// last replica is gone.
    pub(in crate::kms) fn replica_gone(&self, key_id: &str, region: &str) -> Result<()> {
        self.call("ReplicaDeleted", |state, call, audit| {
            audit.key_arn = Some(call.key_arn(key_id));
            let Some(mut rec) = state.keys.get(key_id).cloned() else {
                return Ok(());
            };
            let Some(m) = rec.mrk.as_mut() else {
                return Ok(());
            };
            m.replica_regions.retain(|r| r != region);
            if m.replica_regions.is_empty() && rec.state == KeyState::PendingReplicaDeletion {
                rec.state = KeyState::PendingDeletion;
                rec.deletion_date_ms = Some(
                    call.now
                        + rec
                            .pending_window_days
                            .unwrap_or(DEFAULT_PENDING_WINDOW_DAYS)
                            as u64
                            * MS_PER_DAY,
                );
            }
            state.save_key(rec)
        })
    }

    /// ReplicateKey into `replica` (this account's KMS for `req.replica_region`,
    /// open in this process). The replica shares the key id, every material
    /// version, origin, spec, usage and rotation settings; its policy,
    /// grants, aliases, description, tags and enabled state are its own.
    ///
    /// Key material only goes to a registered replication destination: the
    /// replica's store must be registered for `req.replica_region`
    /// ([`Kms::register_replication_destination`]); when the account root
    /// itself calls, ReplicateKey registers it (audited), and registers this
    /// store in the replica's store in turn (for a later
    /// UpdatePrimaryRegion). Any other principal, even with `kms:*`, is
    /// refused for an unregistered replica store.
    pub fn replicate_key(
        &self,
        req: ReplicateKeyRequest,
        replica: &Kms,
    ) -> Result<ReplicateKeyResponse> {
        if replica.account() != self.account() {
            return Err(Error::validation(
                "the replica region must belong to the same account",
            ));
        }
        if replica.region() != req.replica_region {
            return Err(Error::validation(format!(
                "the KMS given is for {}, not {}",
                replica.region(),
                req.replica_region
            )));
        }
        let key_id = self.resolve_id(&req.key_id)?;
        if replica.lock()?.keys.contains_key(&key_id) {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("{key_id} already has a replica in {}", req.replica_region),
            ));
        }
        if let Some(p) = &req.policy {
            validate_policy_text(p)?;
            let parsed = policy::parse(p, PolicyKind::Key)?;
            // The lockout safety check, before anything is created.
            if !req.bypass_policy_lockout_safety_check
                && !self.would_allow_put_policy(&key_id, &parsed)?
            {
                return Err(lockout_error());
            }
        }
        validate_tags(&req.tags)?;
        // The caller needs kms:CreateKey in the replica region too.
        replica
            .as_caller(self.caller.clone())
            .call("ReplicateKey", |state, call, audit| {
                audit.key_arn = Some(call.key_arn(&key_id));
                state
                    .authorize(call, "kms:CreateKey", None, Facts::default(), audit)
                    .map(drop)
            })?;
        let dest_id = root_of(replica).replication_public_key()?;
        let src_id = root_of(self).replication_public_key()?;
        let by_root = self.is_store_root();
        if by_root {
            self.register_replication_destination(&req.replica_region, &dest_id)?;
        }
        // kms:ReplicateKey, and the replica store must be registered.
        let pkg = self.export_for_replica(&key_id, &req.replica_region, &dest_id)?;
        let dest = root_of(replica);
        if by_root {
            dest.register_replication_destination(self.region(), &src_id)?;
        }
        dest.import_replication_package(&pkg, &src_id)?;
        if let Some(d) = &req.description {
            dest.update_key_description(UpdateKeyDescriptionRequest {
                key_id: key_id.clone(),
                description: d.clone(),
            })?;
        }
        if !req.tags.is_empty() {
            dest.tag_resource(TagResourceRequest {
                key_id: key_id.clone(),
                tags: req.tags.clone(),
            })?;
        }
        if let Some(p) = &req.policy {
            dest.call("PutKeyPolicy", |state, call, audit| {
                audit.key_arn = Some(call.key_arn(&key_id));
                audit.decision =
                    Some("allow PutKeyPolicy: replica policy set by ReplicateKey".into());
                let mut rec = state.rec_checked(call, &key_id)?.clone();
                rec.policy = Some(p.clone());
                state.save_key(rec)
            })?;
        }
        let region = req.replica_region.clone();
        self.call("ReplicateKey", |state, call, audit| {
            audit.key_arn = Some(call.key_arn(&key_id));
            let mut rec = state.rec_checked(call, &key_id)?.clone();
            if let Some(m) = rec.mrk.as_mut() {
                if !m.replica_regions.contains(&region) {
                    m.replica_regions.push(region.clone());
                }
            }
            state.save_key(rec)
        })?;
        self.link_unchecked(replica)?;
        let (md, policy, tags) = {
            let state = replica.lock()?;
            let rec = state.keys.get(&key_id).ok_or_else(|| {
                Error::not_found_arn(&format!(
                    "arn:{}:kms:{}:{}:key/{key_id}",
                    replica.shared.partition,
                    replica.region(),
                    replica.account()
                ))
            })?;
            (
                rec.metadata(),
                rec.policy.clone().unwrap_or_default(),
                rec.tags
                    .iter()
                    .map(|(k, v)| Tag::new(k.clone(), v.clone()))
                    .collect::<Vec<_>>(),
            )
        };
        Ok(ReplicateKeyResponse {
            replica_key_metadata: md,
            replica_policy: policy,
            replica_tags: tags,
        })
    }

    /// UpdatePrimaryRegion: make the replica in `new_primary`'s region the
    /// primary; this key becomes a replica. Both regions must be open here.
    ///
    /// The new primary then pushes the key's material to the old primary
    /// and the other linked replicas, so their stores must be registered
    /// replication destinations of the new primary's store: the account
    /// root's call registers them (audited); any other caller is refused,
    /// before anything changes, if one is not.
    pub fn update_primary_region(&self, key_id: &str, new_primary: &Kms) -> Result<()> {
        if new_primary.account() != self.account() || new_primary.region() == self.region() {
            return Err(Error::validation(
                "the new primary must be a region of the same account",
            ));
        }
        let new_region = new_primary.region().to_string();
        // Permission is needed on both keys; check the replica's first,
        // before anything changes.
        let id = self.resolve_id(key_id)?;
        let as_me = new_primary.as_caller(self.caller.clone());
        as_me.call("UpdatePrimaryRegion", |state, call, audit| {
            let rid = state.resolve(call, &id)?;
            audit.key_arn = Some(call.key_arn(&rid));
            state
                .authorize(
                    call,
                    "kms:UpdatePrimaryRegion",
                    Some(&rid),
                    Facts::default(),
                    audit,
                )
                .map(drop)
        })?;
        // Where the new primary will push: this store and the other linked
        // replicas. Each must be a registered destination of its store.
        let replica_regions: Vec<String> = {
            let state = self.lock()?;
            state
                .keys
                .get(&id)
                .and_then(|k| k.mrk.as_ref())
                .map(|m| m.replica_regions.clone())
                .unwrap_or_default()
        };
        let mut targets = vec![root_of(self)];
        targets.extend(
            replica_regions
                .iter()
                .filter(|r| **r != new_region)
                .filter_map(|r| self.linked(r)),
        );
        let by_root = self.is_store_root();
        for t in &targets {
            let t_id = t.replication_public_key()?;
            if by_root {
                root_of(new_primary).register_replication_destination(t.region(), &t_id)?;
            } else if !new_primary.lock()?.trusts(&t_id, t.region())? {
                let (_, fp) = canonical_identity(&t_id)?;
                return as_me.call("UpdatePrimaryRegion", |_, call, audit| {
                    audit.key_arn = Some(call.key_arn(&id));
                    audit.decision = Some(format!(
                        "deny UpdatePrimaryRegion: {} is not a registered replication destination",
                        t.region()
                    ));
                    Err(untrusted_destination(t.region(), &fp))
                });
            }
        }
        let (id, others, seq) = self.call("UpdatePrimaryRegion", |state, call, audit| {
            let id = state.resolve(call, key_id)?;
            audit.key_arn = Some(call.key_arn(&id));
            state.authorize(
                call,
                "kms:UpdatePrimaryRegion",
                Some(&id),
                Facts {
                    request_key_id: Some(key_id),
                    ..Default::default()
                },
                audit,
            )?;
            let mut rec = state.rec(&id).clone();
            check_state(OpClass::EnableDisable, rec.state, &rec.arn)?;
            let Some(m) = rec.mrk.as_mut().filter(|m| m.primary_region == call.region) else {
                return Err(Error::new(
                    ErrorCode::UnsupportedOperation,
                    format!("{} is not a multi-Region primary key", rec.arn),
                ));
            };
            if !m.replica_regions.contains(&new_region) {
                return Err(Error::new(
                    ErrorCode::NotFound,
                    format!("{} has no replica in {new_region}", rec.arn),
                ));
            }
            let mut others: Vec<String> = m
                .replica_regions
                .iter()
                .filter(|r| **r != new_region)
                .cloned()
                .collect();
            others.push(call.region.to_string());
            m.primary_region = new_region.clone();
            m.replica_regions.clear();
            let seq = m.sequence;
            state.save_key(rec)?;
            Ok((id, others, seq))
        })?;
        // The new primary must reach every replica: give it the old
        // primary's links before its change is propagated.
        self.link_unchecked(new_primary)?;
        let regions: Vec<String> = {
            let links = self
                .shared
                .links
                .lock()
                .map_err(|_| Error::internal("lock"))?;
            links.keys().cloned().collect()
        };
        let peers: Vec<Kms> = regions.iter().filter_map(|r| self.linked(r)).collect();
        for peer in peers.iter().filter(|p| p.region() != new_primary.region()) {
            new_primary.link_unchecked(peer)?;
        }
        let to = root_of(new_primary);
        to.call("UpdatePrimaryRegion", |state, call, audit| {
            audit.key_arn = Some(call.key_arn(&id));
            let mut rec = state.rec_checked(call, &id)?.clone();
            if let Some(m) = rec.mrk.as_mut() {
                m.primary_region = call.region.to_string();
                m.replica_regions = others.clone();
                m.sequence = m.sequence.max(seq);
            }
            state.save_key(rec)?;
            state.mark_mrk_dirty(&id);
            Ok(())
        })
    }

    /// Would the caller still be allowed PutKeyPolicy on `key_id` under
    /// `policy` (the lockout safety check, evaluated in this region)?
    pub(in crate::kms) fn would_allow_put_policy(
        &self,
        key_id: &str,
        policy: &Policy,
    ) -> Result<bool> {
        let state = self.lock()?;
        let sh = &*self.shared;
        let call = CallContext {
            now: sh.clock.now_ms(),
            caller: &self.caller,
            account: &sh.account,
            region: &sh.region,
            partition: &sh.partition,
        };
        let rec = state.rec_checked(&call, key_id)?;
        Ok(state.allows_put_policy(&self.caller, call.now, rec, policy))
    }

    /// ReEncrypt from a key in this region to a key in `dest`'s region
    /// (cross-region migration of single-Region keys): decrypted in this
    /// HSM, encrypted in the destination's; the plaintext never reaches the
    /// caller. Needs kms:ReEncryptFrom here and kms:ReEncryptTo there.
    pub fn re_encrypt_to_region(
        &self,
        req: ReEncryptRequest,
        dest: &Kms,
    ) -> Result<ReEncryptResponse> {
        // DryRun: both halves are checked (kms:ReEncryptFrom here,
        // kms:ReEncryptTo and the key's state there); nothing is decrypted.
        let src = match self.call("ReEncrypt", |state, call, audit| {
            audit.context = Some(&req.source_encryption_context);
            state.validate_grant_tokens(&req.grant_tokens)?;
            let src_enc = canonical_encoding(&req.source_encryption_context)?;
            let (parsed, rec) = Self::source_key(
                state,
                call,
                "kms:ReEncryptFrom",
                &req.ciphertext_blob,
                req.source_key_id.as_deref(),
                req.source_encryption_algorithm,
                &req.source_encryption_context,
                audit,
            )?;
            if req.dry_run {
                return Err(dry_run_ok());
            }
            let pt = state.hsm.decrypt(&parsed, &src_enc)?;
            Ok((pt, rec.arn.clone(), crate::hsm::hex_id(parsed.material_id)))
        }) {
            Err(e) if req.dry_run && e.code() == ErrorCode::DryRunOperation => None,
            other => Some(other?),
        };
        let to = dest.as_caller(self.caller.clone());
        to.call("ReEncrypt", |state, call, audit| {
            audit.context = Some(&req.destination_encryption_context);
            let dst_enc = canonical_encoding(&req.destination_encryption_context)?;
            let dst_id = state.resolve(call, &req.destination_key_id)?;
            state.authorize(
                call,
                "kms:ReEncryptTo",
                Some(&dst_id),
                Facts {
                    request_key_id: Some(&req.destination_key_id),
                    encryption_context: Some(&req.destination_encryption_context),
                    ..Default::default()
                },
                audit,
            )?;
            let dst = state.rec(&dst_id);
            audit.key_arn = Some(dst.arn.clone());
            check_state(OpClass::Crypto, dst.state, &dst.arn)?;
            check_symmetric_encrypt(dst, req.destination_encryption_algorithm)?;
            let Some((pt, source_arn, source_material)) = &src else {
                return Err(dry_run_ok());
            };
            let handle = state.current_handle(dst)?;
            let blob = state.hsm.encrypt(&handle, &dst_enc, pt.as_bytes())?;
            Ok(ReEncryptResponse {
                ciphertext_blob: blob,
                source_key_id: source_arn.clone(),
                key_id: dst.arn.clone(),
                source_encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
                destination_encryption_algorithm: EncryptionAlgorithm::SymmetricDefault,
                source_key_material_id: source_material.clone(),
                destination_key_material_id: handle.material_id_hex(),
            })
        })
    }
}

#[cfg(test)]
mod replication_tests {
    use super::*;
    use crate::env::ManualClock;

    const ACCOUNT: &str = "111122223333";
    const T0: u64 = 1_767_225_600_000;

    /// Issue 14 item 20: a replication package whose header lists material
    /// versions its payload lacks is refused at import. It used to be
    /// installed, and then the destination store failed to open at all
    /// (`StoreCorruptedException`: a key missing a material version).
    #[test]
    fn packages_missing_listed_material_are_refused_at_import() {
        let clock = ManualClock::new(T0);
        let us = Kms::builder(ACCOUNT, "us-east-1")
            .clock(clock.clone())
            .in_memory()
            .unwrap();
        let mem = MemoryStore::new();
        let open_eu = || {
            Kms::builder(ACCOUNT, "eu-west-1")
                .clock(clock.clone())
                .open(mem.clone(), RootKey::raw([5; 32]))
                .unwrap()
        };
        let eu = open_eu();
        let key = us
            .create_key(CreateKeyRequest {
                multi_region: true,
                ..Default::default()
            })
            .unwrap()
            .key_metadata
            .key_id;
        us.rotate_key_on_demand(KeyIdRequest {
            key_id: key.clone(),
        })
        .unwrap();
        let eu_id = eu.replication_public_key().unwrap();
        let us_id = us.replication_public_key().unwrap();
        // A package made by the source's own HSM, honestly sealed, whose
        // properties list both versions but whose payload holds only the
        // first (or none, or a version twice).
        let forge = |which: &[usize]| -> Vec<u8> {
            let state = us.lock().unwrap();
            let rec = state.rec(&key).clone();
            let handles: Vec<MaterialHandle> = rec
                .materials
                .iter()
                .map(|m| {
                    let mut material_id = [0u8; 32];
                    hex::decode_to_slice(&m.material_id, &mut material_id).unwrap();
                    MaterialHandle {
                        key_id: key.clone(),
                        material_id,
                    }
                })
                .collect();
            let props = SharedProps {
                key_spec: rec.key_spec,
                key_usage: rec.key_usage,
                origin: rec.origin,
                created_ms: rec.created_ms,
                rotation: rec.rotation.clone(),
                materials: rec.materials.clone(),
                primary_region: "us-east-1".into(),
                material_present: true,
                pending: None,
            };
            assert_eq!(props.materials.len(), 2);
            let header = write_package_header("us-east-1", "eu-west-1", &key, 1, &props).unwrap();
            let chosen: Vec<MaterialHandle> = which.iter().map(|i| handles[*i].clone()).collect();
            state
                .hsm
                .seal_replication_package(&header, &chosen, &eu_id)
                .unwrap()
        };
        for which in [&[0][..], &[], &[1, 1], &[0, 1, 1]] {
            let e = eu
                .import_replication_package(&forge(which), &us_id)
                .unwrap_err();
            assert_eq!(e.code(), ErrorCode::Validation, "{which:?}: {e}");
        }
        assert!(eu
            .list_keys(ListKeysRequest::default())
            .unwrap()
            .keys
            .is_empty());
        drop(eu);
        // The destination still opens, and a complete package imports.
        let eu = open_eu();
        eu.import_replication_package(&forge(&[1, 0]), &us_id)
            .unwrap();
        drop(eu);
        let eu = open_eu();
        assert_eq!(
            eu.list_keys(ListKeysRequest::default()).unwrap().keys.len(),
            1
        );
    }
}
