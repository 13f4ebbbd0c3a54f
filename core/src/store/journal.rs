//! Journal encoding (`docs/formats/store.md`), shared by the file store,
//! in-memory snapshots and the `journal_replay` fuzz target.
//!
//! Format version 2 (written by the file store) frames every record with a
//! record magic and a sequence number, so a reader can tell a torn tail (the
//! last, incomplete record of a crashed write) from damage in the middle of
//! the journal: damage followed by any intact record is corruption. Version 1
//! (no record magic, no sequence numbers) is still read, so stores written by
//! 0.1.0 open; the file store rewrites them as version 2 on their first write.
//! Snapshots keep the version 1 framing (one record, nothing after it).

use super::{apply_to_map, Mutation};
use crate::error::{Error, ErrorCode, Result};
use std::collections::BTreeMap;

pub const MAGIC: &[u8; 8] = b"STRGROOM";
/// The version the file store writes.
pub const FORMAT_VERSION: u32 = 2;
/// The version of 0.1.0 stores and of snapshots.
pub const FORMAT_VERSION_V1: u32 = 1;
pub const HEADER_LEN: usize = 16;
pub const MAX_RECORD_LEN: usize = 64 << 20;
/// First bytes of every version 2 record.
pub const RECORD_MAGIC: &[u8; 4] = &[0x9e, b'S', b'R', b'J'];
/// Record magic, sequence number, payload length.
pub const RECORD_HEADER_LEN: usize = 16;
const CHECKSUM_LEN: usize = 32;
/// Framing bytes around a version 2 payload.
pub const RECORD_OVERHEAD: usize = RECORD_HEADER_LEN + CHECKSUM_LEN;
const CHECKSUM_DOMAIN_V1: &[u8] = b"strongroom/v1/journal";
const CHECKSUM_DOMAIN_V2: &[u8] = b"strongroom/v2/journal";
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;

fn header_of(version: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&version.to_be_bytes());
    h
}

/// The header of a version 2 journal (what the file store writes).
pub fn header() -> [u8; HEADER_LEN] {
    header_of(FORMAT_VERSION)
}

/// The header of a version 1 journal (snapshots).
pub fn header_v1() -> [u8; HEADER_LEN] {
    header_of(FORMAT_VERSION_V1)
}

fn encode_payload(batch: &[Mutation]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&(batch.len() as u32).to_be_bytes());
    for m in batch {
        match m {
            Mutation::Put { name, value } => {
                p.push(OP_PUT);
                p.extend_from_slice(&(name.len() as u32).to_be_bytes());
                p.extend_from_slice(name.as_bytes());
                p.extend_from_slice(&(value.len() as u32).to_be_bytes());
                p.extend_from_slice(value);
            }
            Mutation::Delete { name } => {
                p.push(OP_DELETE);
                p.extend_from_slice(&(name.len() as u32).to_be_bytes());
                p.extend_from_slice(name.as_bytes());
            }
        }
    }
    p
}

fn checksum_v1(len: &[u8; 4], payload: &[u8]) -> [u8; 32] {
    crate::crypto::sha256(&[CHECKSUM_DOMAIN_V1, len, payload])
}

/// The v2 checksum covers the record header (magic, sequence, length) and
/// the payload.
fn checksum_v2(record_header: &[u8], payload: &[u8]) -> [u8; 32] {
    crate::crypto::sha256(&[CHECKSUM_DOMAIN_V2, record_header, payload])
}

/// Encode one batch as a version 2 record with sequence number `seq`.
pub fn encode_record(seq: u64, batch: &[Mutation]) -> Vec<u8> {
    let p = encode_payload(batch);
    let mut out = Vec::with_capacity(p.len() + RECORD_OVERHEAD);
    out.extend_from_slice(RECORD_MAGIC);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&(p.len() as u32).to_be_bytes());
    let sum = checksum_v2(&out, &p);
    out.extend_from_slice(&p);
    out.extend_from_slice(&sum);
    out
}

/// Encode one batch as a version 1 record (snapshots; 0.1.0 journals).
pub fn encode_record_v1(batch: &[Mutation]) -> Vec<u8> {
    let p = encode_payload(batch);
    let len = (p.len() as u32).to_be_bytes();
    let sum = checksum_v1(&len, &p);
    let mut out = Vec::with_capacity(p.len() + 36);
    out.extend_from_slice(&len);
    out.extend_from_slice(&p);
    out.extend_from_slice(&sum);
    out
}

struct Reader<'a>(&'a [u8]);
impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

fn decode_payload(p: &[u8]) -> Option<Vec<Mutation>> {
    let mut r = Reader(p);
    let n = r.u32()? as usize;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let op = r.take(1)?[0];
        let nl = r.u32()? as usize;
        let name = String::from_utf8(r.take(nl)?.to_vec()).ok()?;
        match op {
            OP_PUT => {
                let vl = r.u32()? as usize;
                out.push(Mutation::Put {
                    name,
                    value: r.take(vl)?.to_vec(),
                });
            }
            OP_DELETE => out.push(Mutation::Delete { name }),
            _ => return None,
        }
    }
    if !r.0.is_empty() {
        return None;
    }
    Some(out)
}

/// The result of reading a journal.
#[derive(Debug)]
pub struct Replayed {
    pub entries: BTreeMap<String, Vec<u8>>,
    /// Length of the valid prefix; bytes after it (`data.len() - valid_len`)
    /// are a torn tail: the last, incomplete record of an interrupted write.
    pub valid_len: usize,
    pub records: usize,
    /// The journal's format version (1 or 2).
    pub version: u32,
    /// Version 2: the sequence number the next record must carry (0 for a
    /// journal without records). Version 1: 0.
    pub next_seq: u64,
    /// Some record deletes key material (a name under `mat/`): its sealed
    /// bytes are still in the journal, which should be compacted.
    pub material_deleted: bool,
}

/// A complete, intact version 2 record at the start of `rest`:
/// (sequence number, payload, total length).
fn intact_v2(rest: &[u8]) -> Option<(u64, &[u8], usize)> {
    if rest.len() < RECORD_OVERHEAD || &rest[..4] != RECORD_MAGIC {
        return None;
    }
    let seq = u64::from_be_bytes(rest[4..12].try_into().ok()?);
    let len = u32::from_be_bytes(rest[12..16].try_into().ok()?) as usize;
    if len > MAX_RECORD_LEN || rest.len() - RECORD_OVERHEAD < len {
        return None;
    }
    let payload = &rest[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len];
    let sum = &rest[RECORD_HEADER_LEN + len..RECORD_OVERHEAD + len];
    if checksum_v2(&rest[..RECORD_HEADER_LEN], payload) != sum {
        return None;
    }
    Some((seq, payload, RECORD_OVERHEAD + len))
}

/// A complete, intact version 1 record at the start of `rest`.
fn intact_v1(rest: &[u8]) -> Option<(&[u8], usize)> {
    if rest.len() < 4 + CHECKSUM_LEN {
        return None;
    }
    let len_bytes: [u8; 4] = rest[..4].try_into().ok()?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    if len > MAX_RECORD_LEN || rest.len() - 4 - CHECKSUM_LEN < len {
        return None;
    }
    let payload = &rest[4..4 + len];
    if checksum_v1(&len_bytes, payload) != rest[4 + len..4 + len + CHECKSUM_LEN] {
        return None;
    }
    Some((payload, 4 + len + CHECKSUM_LEN))
}

/// The offset of the first intact record starting after `from`, if any.
fn intact_record_after(data: &[u8], from: usize, version: u32) -> Option<usize> {
    (from + 1..data.len()).find(|&p| {
        let rest = &data[p..];
        if version == FORMAT_VERSION_V1 {
            intact_v1(rest).is_some()
        } else {
            rest.starts_with(RECORD_MAGIC) && intact_v2(rest).is_some()
        }
    })
}

/// Read a whole journal (version 1 or 2). The last record may be torn
/// (incomplete or failing its checksum, from a crash during its write): it
/// was never acknowledged and is left out (`valid_len` stops before it). A
/// damaged record followed by any intact record, an out-of-order sequence
/// number, or a "tail" longer than one maximum record is
/// `StoreCorruptedException`. Never panics, for any input.
pub fn replay(data: &[u8]) -> Result<Replayed> {
    if data.len() < HEADER_LEN || &data[..8] != MAGIC {
        return Err(Error::corrupted("not a Strongroom store (bad magic)"));
    }
    let version = u32::from_be_bytes(data[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION && version != FORMAT_VERSION_V1 {
        return Err(Error::new(
            ErrorCode::UnsupportedStoreVersion,
            format!(
                "store format version {version} is not supported (this build reads versions 1 and {FORMAT_VERSION})"
            ),
        ));
    }
    let mut entries = BTreeMap::new();
    let mut off = HEADER_LEN;
    let mut records = 0;
    let mut next_seq: Option<u64> = None;
    let mut material_deleted = false;
    while off < data.len() {
        let rest = &data[off..];
        let parsed = if version == FORMAT_VERSION_V1 {
            intact_v1(rest).map(|(p, n)| (None, p, n))
        } else {
            intact_v2(rest).map(|(s, p, n)| (Some(s), p, n))
        };
        let Some((seq, payload, n)) = parsed else {
            // Not an intact record: a torn tail only if nothing intact
            // follows and it could be one interrupted write.
            if let Some(at) = intact_record_after(data, off, version) {
                return Err(Error::corrupted(format!(
                    "journal record {records} at offset {off} is damaged and intact records follow it (at offset {at})"
                )));
            }
            let overhead = if version == FORMAT_VERSION_V1 {
                4 + CHECKSUM_LEN
            } else {
                RECORD_OVERHEAD
            };
            if rest.len() > MAX_RECORD_LEN + overhead {
                return Err(Error::corrupted(format!(
                    "journal record {records} at offset {off} is damaged ({} bytes follow it)",
                    rest.len()
                )));
            }
            break;
        };
        if let (Some(seq), Some(expected)) = (seq, next_seq) {
            if seq != expected {
                return Err(Error::corrupted(format!(
                    "journal record {records} at offset {off} has sequence number {seq}, expected {expected}"
                )));
            }
        }
        let Some(batch) = decode_payload(payload) else {
            return Err(Error::corrupted(format!(
                "journal record {records} at offset {off} is damaged (undecodable batch)"
            )));
        };
        material_deleted |= batch.iter().any(
            |m| matches!(m, Mutation::Delete { name } if name.starts_with(super::MATERIAL_PREFIX)),
        );
        apply_to_map(&mut entries, batch);
        if let Some(seq) = seq {
            next_seq = Some(seq.checked_add(1).ok_or_else(|| {
                Error::corrupted(format!(
                    "journal record {records} at offset {off} has the last sequence number"
                ))
            })?);
        }
        off += n;
        records += 1;
    }
    Ok(Replayed {
        entries,
        valid_len: off,
        records,
        version,
        next_seq: next_seq.unwrap_or(0),
        material_deleted,
    })
}
