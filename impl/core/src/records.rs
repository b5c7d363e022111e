//! The records of the `__consumer_offsets` partition, byte for byte as Kafka writes them.
//!
//! A record is a key and a value, each prefixed by its schema version (`int16`, big-endian):
//!
//! | key | version | fields |
//! |---|---|---|
//! | `OffsetCommitKey` | 0, 1 | group `string`, topic `string`, partition `int32` |
//! | `GroupMetadataKey` | 2 | group `string` |
//!
//! | value | versions | fields |
//! |---|---|---|
//! | `OffsetCommitValue` | 0–4 (4 flexible) | offset `int64`, leaderEpoch `int32` (3+), metadata `string`, commitTimestamp `int64`, expireTimestamp `int64` (1 only) |
//! | `GroupMetadataValue` | 0–4 (4 flexible) | protocolType `string`, generation `int32`, protocol `string?`, leader `string?`, currentStateTimestamp `int64` (2+), members `[MemberMetadata]` |
//! | `MemberMetadata` | | memberId `string`, groupInstanceId `string?` (3+), clientId `string`, clientHost `string`, rebalanceTimeout `int32` (1+), sessionTimeout `int32`, subscription `bytes`, assignment `bytes` |
//!
//! A missing value (a tombstone) deletes the key. Kafka 3.9 writes offset commits as key
//! version 1 with value version 3 (version 1 when the commit carries an expire timestamp) and
//! groups as key version 2 with value version 3; those are what [`Record::encode_key`] and [`Record::encode_value`] write. Every
//! version Kafka defines is read, including the flexible version 4 (compact strings, tagged
//! fields skipped).
//!
//! The log around the records is this crate's own ([`LogEntry`]): a plain record, a record of a
//! transaction (TxnOffsetCommit, with its producer id and epoch), or a transaction marker, as
//! Kafka's record batches and control records carry them.

use std::fmt;

/// A record that cannot be read: what was wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("offsets record: {what} at byte {at}")]
pub struct RecordError {
    pub what: String,
    pub at: usize,
}

/// The key of a `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKey {
    /// The committed offset of one partition, for one group.
    OffsetCommit {
        group: String,
        topic: String,
        partition: i32,
    },
    /// A group's metadata: generation, protocol, leader, members and their assignments.
    GroupMetadata { group: String },
}

impl RecordKey {
    /// The group the record belongs to.
    pub fn group(&self) -> &str {
        match self {
            RecordKey::OffsetCommit { group, .. } | RecordKey::GroupMetadata { group } => group,
        }
    }
}

/// `OffsetCommitValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    pub offset: i64,
    /// -1 when unknown (and in versions before 3).
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// Version 1 only (OffsetCommit v1's per-partition retention); -1 otherwise.
    pub expire_timestamp: i64,
}

/// `GroupMetadataValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// -1 when unknown (versions before 2).
    pub current_state_timestamp: i64,
    pub members: Vec<MemberMetadata>,
}

/// One member in a `GroupMetadataValue`.
#[derive(Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Version 0 had no rebalance timeout: it reads as the session timeout, as Kafka does.
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    /// The member's subscription for the group's selected protocol.
    pub subscription: Vec<u8>,
    /// Its assignment in the stored generation.
    pub assignment: Vec<u8>,
}

impl fmt::Debug for MemberMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberMetadata")
            .field("member_id", &self.member_id)
            .field("group_instance_id", &self.group_instance_id)
            .field("client_id", &self.client_id)
            .field("client_host", &self.client_host)
            .field("rebalance_timeout", &self.rebalance_timeout)
            .field("session_timeout", &self.session_timeout)
            .field(
                "subscription",
                &format_args!("{} bytes", self.subscription.len()),
            )
            .field(
                "assignment",
                &format_args!("{} bytes", self.assignment.len()),
            )
            .finish()
    }
}

/// A value of either kind; `None` in a [`Record`] is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordValue {
    OffsetCommit(OffsetCommitValue),
    GroupMetadata(GroupMetadataValue),
}

/// One `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: RecordKey,
    /// `None`: a tombstone, deleting the key.
    pub value: Option<RecordValue>,
}

/// The latest value version Kafka defines for both value kinds.
pub const MAX_VALUE_VERSION: i16 = 4;

impl Record {
    /// The key's bytes, as Kafka 3.9 writes them.
    pub fn encode_key(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match &self.key {
            RecordKey::OffsetCommit {
                group,
                topic,
                partition,
            } => {
                w.i16(1);
                w.string(group);
                w.string(topic);
                w.i32(*partition);
            }
            RecordKey::GroupMetadata { group } => {
                w.i16(2);
                w.string(group);
            }
        }
        w.0
    }

    /// The value's bytes in the version Kafka 3.9 writes (see the module doc), or `None` for a
    /// tombstone.
    pub fn encode_value(&self) -> Option<Vec<u8>> {
        self.value.as_ref().map(|v| match v {
            RecordValue::OffsetCommit(o) => {
                let version = if o.expire_timestamp >= 0 { 1 } else { 3 };
                encode_offset_commit_value(o, version)
            }
            RecordValue::GroupMetadata(g) => encode_group_metadata_value(g, 3),
        })
    }

    /// Reads a record from its key and value bytes (`None`: a tombstone).
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Record, RecordError> {
        let key = decode_key(key)?;
        let value = match value {
            None => None,
            Some(bytes) => Some(match key {
                RecordKey::OffsetCommit { .. } => {
                    RecordValue::OffsetCommit(decode_offset_commit_value(bytes)?)
                }
                RecordKey::GroupMetadata { .. } => {
                    RecordValue::GroupMetadata(decode_group_metadata_value(bytes)?)
                }
            }),
        };
        Ok(Record { key, value })
    }
}

/// Reads a key; its version says which kind it is.
pub fn decode_key(bytes: &[u8]) -> Result<RecordKey, RecordError> {
    let mut r = Reader::new(bytes);
    let version = r.i16()?;
    let key = match version {
        0 | 1 => RecordKey::OffsetCommit {
            group: r.string(false)?,
            topic: r.string(false)?,
            partition: r.i32()?,
        },
        2 => RecordKey::GroupMetadata {
            group: r.string(false)?,
        },
        v => {
            return Err(RecordError {
                what: format!(
                    "unknown key version {v} (0-1 offset commit, 2 group metadata; 3+ are \
                     KIP-848 records, not read by the classic coordinator)"
                ),
                at: 0,
            })
        }
    };
    r.end()?;
    Ok(key)
}

/// `OffsetCommitValue` in `version` (0–4).
pub fn encode_offset_commit_value(v: &OffsetCommitValue, version: i16) -> Vec<u8> {
    assert!(
        (0..=MAX_VALUE_VERSION).contains(&version),
        "version {version}"
    );
    let flexible = version >= 4;
    let mut w = Writer::default();
    w.i16(version);
    w.i64(v.offset);
    if version >= 3 {
        w.i32(v.leader_epoch);
    }
    w.str_any(&v.metadata, flexible);
    w.i64(v.commit_timestamp);
    if version == 1 {
        w.i64(v.expire_timestamp);
    }
    if flexible {
        w.uvarint(0); // no tagged fields
    }
    w.0
}

pub fn decode_offset_commit_value(bytes: &[u8]) -> Result<OffsetCommitValue, RecordError> {
    let mut r = Reader::new(bytes);
    let version = r.value_version()?;
    let flexible = version >= 4;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.string(flexible)?;
    let commit_timestamp = r.i64()?;
    let expire_timestamp = if version == 1 { r.i64()? } else { -1 };
    if flexible {
        r.skip_tagged_fields()?;
    }
    r.end()?;
    Ok(OffsetCommitValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
        expire_timestamp,
    })
}

/// `GroupMetadataValue` in `version` (0–4).
pub fn encode_group_metadata_value(v: &GroupMetadataValue, version: i16) -> Vec<u8> {
    assert!(
        (0..=MAX_VALUE_VERSION).contains(&version),
        "version {version}"
    );
    let flexible = version >= 4;
    let mut w = Writer::default();
    w.i16(version);
    w.str_any(&v.protocol_type, flexible);
    w.i32(v.generation);
    w.opt_str(v.protocol.as_deref(), flexible);
    w.opt_str(v.leader.as_deref(), flexible);
    if version >= 2 {
        w.i64(v.current_state_timestamp);
    }
    w.len(v.members.len(), flexible);
    for m in &v.members {
        w.str_any(&m.member_id, flexible);
        if version >= 3 {
            w.opt_str(m.group_instance_id.as_deref(), flexible);
        }
        w.str_any(&m.client_id, flexible);
        w.str_any(&m.client_host, flexible);
        if version >= 1 {
            w.i32(m.rebalance_timeout);
        }
        w.i32(m.session_timeout);
        w.bytes(&m.subscription, flexible);
        w.bytes(&m.assignment, flexible);
        if flexible {
            w.uvarint(0);
        }
    }
    if flexible {
        w.uvarint(0);
    }
    w.0
}

pub fn decode_group_metadata_value(bytes: &[u8]) -> Result<GroupMetadataValue, RecordError> {
    let mut r = Reader::new(bytes);
    let version = r.value_version()?;
    let flexible = version >= 4;
    let protocol_type = r.string(flexible)?;
    let generation = r.i32()?;
    let protocol = r.opt_string(flexible)?;
    let leader = r.opt_string(flexible)?;
    let current_state_timestamp = if version >= 2 { r.i64()? } else { -1 };
    let n = r.len(flexible)?;
    let mut members = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let member_id = r.string(flexible)?;
        let group_instance_id = if version >= 3 {
            r.opt_string(flexible)?
        } else {
            None
        };
        let client_id = r.string(flexible)?;
        let client_host = r.string(flexible)?;
        let rebalance_timeout = if version >= 1 { Some(r.i32()?) } else { None };
        let session_timeout = r.i32()?;
        let subscription = r.bytes(flexible)?;
        let assignment = r.bytes(flexible)?;
        if flexible {
            r.skip_tagged_fields()?;
        }
        members.push(MemberMetadata {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout: rebalance_timeout.unwrap_or(session_timeout),
            session_timeout,
            subscription,
            assignment,
        });
    }
    if flexible {
        r.skip_tagged_fields()?;
    }
    r.end()?;
    Ok(GroupMetadataValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

/// One entry of the coordinator's log: what one append holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    /// A record outside any transaction (OffsetCommit, group metadata).
    Plain(Record),
    /// A record written by a transaction (TxnOffsetCommit): it takes effect only when the
    /// producer's commit marker follows.
    Transactional {
        producer_id: i64,
        producer_epoch: i16,
        record: Record,
    },
    /// A transaction marker (WriteTxnMarkers): the producer's pending records take effect
    /// (`commit`) or are dropped.
    Marker {
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    },
}

const ENTRY_PLAIN: u8 = 0;
const ENTRY_TRANSACTIONAL: u8 = 1;
const ENTRY_MARKER: u8 = 2;

impl LogEntry {
    /// The entry's bytes: a kind byte, then for records the key and the value (an `int32`
    /// length each, -1 for a tombstone's value), with the producer id and epoch first for a
    /// transactional record; for a marker, the producer id and epoch, 1 for commit or 0 for
    /// abort, and the transaction coordinator's epoch.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        let record = |w: &mut Writer, r: &Record| {
            let key = r.encode_key();
            w.i32(key.len() as i32);
            w.0.extend_from_slice(&key);
            match r.encode_value() {
                Some(v) => {
                    w.i32(v.len() as i32);
                    w.0.extend_from_slice(&v);
                }
                None => w.i32(-1),
            }
        };
        match self {
            LogEntry::Plain(r) => {
                w.0.push(ENTRY_PLAIN);
                record(&mut w, r);
            }
            LogEntry::Transactional {
                producer_id,
                producer_epoch,
                record: r,
            } => {
                w.0.push(ENTRY_TRANSACTIONAL);
                w.i64(*producer_id);
                w.i16(*producer_epoch);
                record(&mut w, r);
            }
            LogEntry::Marker {
                producer_id,
                producer_epoch,
                commit,
                coordinator_epoch,
            } => {
                w.0.push(ENTRY_MARKER);
                w.i64(*producer_id);
                w.i16(*producer_epoch);
                w.0.push(u8::from(*commit));
                w.i32(*coordinator_epoch);
            }
        }
        w.0
    }

    pub fn decode(bytes: &[u8]) -> Result<LogEntry, RecordError> {
        let mut r = Reader::new(bytes);
        let record = |r: &mut Reader| -> Result<Record, RecordError> {
            let at = r.at;
            let key_len = r.i32()?;
            if key_len < 0 {
                return Err(RecordError {
                    what: format!("negative key length {key_len}"),
                    at,
                });
            }
            let key = r.take(key_len as usize)?;
            let value_len = r.i32()?;
            let value = if value_len < 0 {
                None
            } else {
                Some(r.take(value_len as usize)?)
            };
            Record::decode(key, value).map_err(|e| RecordError {
                what: e.what,
                at: at + e.at,
            })
        };
        let entry = match r.u8()? {
            ENTRY_PLAIN => LogEntry::Plain(record(&mut r)?),
            ENTRY_TRANSACTIONAL => LogEntry::Transactional {
                producer_id: r.i64()?,
                producer_epoch: r.i16()?,
                record: record(&mut r)?,
            },
            ENTRY_MARKER => LogEntry::Marker {
                producer_id: r.i64()?,
                producer_epoch: r.i16()?,
                commit: match r.u8()? {
                    0 => false,
                    1 => true,
                    b => {
                        return Err(RecordError {
                            what: format!("marker type {b} (0 abort, 1 commit)"),
                            at: r.at - 1,
                        })
                    }
                },
                coordinator_epoch: r.i32()?,
            },
            k => {
                return Err(RecordError {
                    what: format!("unknown entry kind {k} (0 plain, 1 transactional, 2 marker)"),
                    at: 0,
                })
            }
        };
        r.end()?;
        Ok(entry)
    }
}

/// Big-endian writer of Kafka's primitive types.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    /// An array or compact-array length.
    fn len(&mut self, n: usize, flexible: bool) {
        if flexible {
            self.uvarint(n as u64 + 1);
        } else {
            self.i32(n as i32);
        }
    }
    /// `string` (int16 length) or, flexible, `compact_string` (uvarint length + 1).
    fn str_any(&mut self, s: &str, flexible: bool) {
        if flexible {
            self.uvarint(s.len() as u64 + 1);
        } else {
            self.i16(s.len() as i16);
        }
        self.0.extend_from_slice(s.as_bytes());
    }
    fn string(&mut self, s: &str) {
        self.str_any(s, false);
    }
    fn opt_str(&mut self, s: Option<&str>, flexible: bool) {
        match s {
            Some(s) => self.str_any(s, flexible),
            None if flexible => self.uvarint(0),
            None => self.i16(-1),
        }
    }
    fn bytes(&mut self, b: &[u8], flexible: bool) {
        if flexible {
            self.uvarint(b.len() as u64 + 1);
        } else {
            self.i32(b.len() as i32);
        }
        self.0.extend_from_slice(b);
    }
}

/// Reader of Kafka's primitive types that names what it could not read and where.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, at: 0 }
    }
    fn err<T>(&self, what: impl Into<String>) -> Result<T, RecordError> {
        Err(RecordError {
            what: what.into(),
            at: self.at,
        })
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if self.buf.len() - self.at < n {
            return self.err(format!(
                "{n} bytes needed, {} left",
                self.buf.len() - self.at
            ));
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.array::<1>()?[0])
    }
    fn i16(&mut self) -> Result<i16, RecordError> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32, RecordError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, RecordError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    fn uvarint(&mut self) -> Result<u64, RecordError> {
        let mut v = 0u64;
        for shift in (0..35).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        self.err("unsigned varint longer than 5 bytes")
    }
    fn value_version(&mut self) -> Result<i16, RecordError> {
        let v = self.i16()?;
        if !(0..=MAX_VALUE_VERSION).contains(&v) {
            return Err(RecordError {
                what: format!("unknown value version {v} (0-{MAX_VALUE_VERSION})"),
                at: 0,
            });
        }
        Ok(v)
    }
    /// A length: `None` for null (-1, or 0 in compact form).
    fn length(&mut self, flexible: bool, wide: bool) -> Result<Option<usize>, RecordError> {
        let n: i64 = if flexible {
            self.uvarint()? as i64 - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        match n {
            -1 => Ok(None),
            n if n < 0 => self.err(format!("negative length {n}")),
            n => Ok(Some(n as usize)),
        }
    }
    fn opt_string(&mut self, flexible: bool) -> Result<Option<String>, RecordError> {
        let Some(n) = self.length(flexible, false)? else {
            return Ok(None);
        };
        let at = self.at;
        let b = self.take(n)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => Err(RecordError {
                what: "string is not UTF-8".into(),
                at,
            }),
        }
    }
    fn string(&mut self, flexible: bool) -> Result<String, RecordError> {
        let at = self.at;
        match self.opt_string(flexible)? {
            Some(s) => Ok(s),
            None => Err(RecordError {
                what: "null where a string is required".into(),
                at,
            }),
        }
    }
    fn bytes(&mut self, flexible: bool) -> Result<Vec<u8>, RecordError> {
        match self.length(flexible, true)? {
            Some(n) => Ok(self.take(n)?.to_vec()),
            None => self.err("null where bytes are required"),
        }
    }
    fn len(&mut self, flexible: bool) -> Result<usize, RecordError> {
        match self.length(flexible, true)? {
            Some(n) if n <= self.buf.len() - self.at => Ok(n),
            Some(n) => self.err(format!(
                "array of {n} elements in {} bytes",
                self.buf.len() - self.at
            )),
            None => self.err("null where an array is required"),
        }
    }
    fn skip_tagged_fields(&mut self) -> Result<(), RecordError> {
        let n = self.uvarint()?;
        for _ in 0..n {
            let _tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }
    fn end(&self) -> Result<(), RecordError> {
        if self.at != self.buf.len() {
            return self.err(format!("{} bytes after the end", self.buf.len() - self.at));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, instance: Option<&str>) -> MemberMetadata {
        MemberMetadata {
            member_id: id.into(),
            group_instance_id: instance.map(Into::into),
            client_id: "client".into(),
            client_host: "/10.0.0.1".into(),
            rebalance_timeout: 300_000,
            session_timeout: 45_000,
            subscription: vec![0, 1, 2],
            assignment: vec![9],
        }
    }

    fn group() -> GroupMetadataValue {
        GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 7,
            protocol: Some("range".into()),
            leader: Some("m-1".into()),
            current_state_timestamp: 1_700_000_000_000,
            members: vec![member("m-1", Some("i-1")), member("m-2", None)],
        }
    }

    /// The exact bytes of an offset commit record as Kafka 3.9 writes it: key version 1,
    /// value version 3, big-endian, int16-length strings.
    #[test]
    fn offset_commit_record_bytes() {
        let r = Record {
            key: RecordKey::OffsetCommit {
                group: "g".into(),
                topic: "t".into(),
                partition: 2,
            },
            value: Some(RecordValue::OffsetCommit(OffsetCommitValue {
                offset: 42,
                leader_epoch: -1,
                metadata: "".into(),
                commit_timestamp: 1000,
                expire_timestamp: -1,
            })),
        };
        assert_eq!(
            r.encode_key(),
            [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 2].to_vec()
        );
        let mut want = vec![0, 3];
        want.extend_from_slice(&42i64.to_be_bytes());
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&[0, 0]);
        want.extend_from_slice(&1000i64.to_be_bytes());
        assert_eq!(r.encode_value().unwrap(), want);
        let back = Record::decode(&r.encode_key(), r.encode_value().as_deref()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn every_value_version_round_trips() {
        let o = OffsetCommitValue {
            offset: 5,
            leader_epoch: 3,
            metadata: "meta".into(),
            commit_timestamp: 77,
            expire_timestamp: 99,
        };
        for v in 0..=MAX_VALUE_VERSION {
            let back = decode_offset_commit_value(&encode_offset_commit_value(&o, v)).unwrap();
            assert_eq!(back.offset, 5);
            assert_eq!(back.metadata, "meta");
            assert_eq!(back.leader_epoch, if v >= 3 { 3 } else { -1 }, "v{v}");
            assert_eq!(back.expire_timestamp, if v == 1 { 99 } else { -1 }, "v{v}");
        }
        let g = group();
        for v in 0..=MAX_VALUE_VERSION {
            let back = decode_group_metadata_value(&encode_group_metadata_value(&g, v)).unwrap();
            assert_eq!(back.members.len(), 2);
            assert_eq!(back.protocol, g.protocol);
            assert_eq!(back.leader, g.leader);
            let m = &back.members[0];
            assert_eq!(
                m.group_instance_id.as_deref(),
                (v >= 3).then_some("i-1"),
                "v{v}"
            );
            assert_eq!(m.rebalance_timeout, if v >= 1 { 300_000 } else { 45_000 });
            if v >= 3 {
                assert_eq!(back, g, "v{v}");
            }
        }
    }

    /// Version 4 is flexible: compact strings, and tagged fields a reader skips.
    #[test]
    fn flexible_values_skip_unknown_tagged_fields() {
        let mut bytes = encode_offset_commit_value(
            &OffsetCommitValue {
                offset: 1,
                leader_epoch: 0,
                metadata: "ab".into(),
                commit_timestamp: 2,
                expire_timestamp: -1,
            },
            4,
        );
        // Compact string "ab": length 2 + 1.
        assert_eq!(&bytes[2 + 8 + 4..2 + 8 + 4 + 3], &[3, b'a', b'b']);
        // Replace the empty tagged-field section with one unknown field (tag 5, 2 bytes).
        bytes.pop();
        bytes.extend_from_slice(&[1, 5, 2, 0xaa, 0xbb]);
        let v = decode_offset_commit_value(&bytes).unwrap();
        assert_eq!((v.offset, v.metadata.as_str()), (1, "ab"));
    }

    #[test]
    fn bad_bytes_are_named() {
        let e = decode_key(&[0, 9, 0, 0]).unwrap_err();
        assert!(e.to_string().contains("unknown key version 9"), "{e}");
        let e = decode_offset_commit_value(&[0, 7]).unwrap_err();
        assert!(e.to_string().contains("unknown value version 7"), "{e}");
        let mut v = encode_offset_commit_value(
            &OffsetCommitValue {
                offset: 1,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: 0,
                expire_timestamp: -1,
            },
            3,
        );
        v.pop();
        let e = decode_offset_commit_value(&v).unwrap_err();
        assert!(e.to_string().contains("8 bytes needed, 7 left"), "{e}");
        v.extend_from_slice(&[0, 0]);
        let e = decode_offset_commit_value(&v).unwrap_err();
        assert!(e.to_string().contains("1 bytes after the end"), "{e}");
        let e = LogEntry::decode(&[7]).unwrap_err();
        assert!(e.to_string().contains("unknown entry kind 7"), "{e}");
    }

    #[test]
    fn log_entries_round_trip() {
        let record = Record {
            key: RecordKey::GroupMetadata { group: "g".into() },
            value: Some(RecordValue::GroupMetadata(group())),
        };
        let tombstone = Record {
            key: RecordKey::OffsetCommit {
                group: "g".into(),
                topic: "t".into(),
                partition: 0,
            },
            value: None,
        };
        for e in [
            LogEntry::Plain(record.clone()),
            LogEntry::Plain(tombstone),
            LogEntry::Transactional {
                producer_id: 1234,
                producer_epoch: 3,
                record,
            },
            LogEntry::Marker {
                producer_id: 1234,
                producer_epoch: 4,
                commit: true,
                coordinator_epoch: 1,
            },
        ] {
            assert_eq!(LogEntry::decode(&e.encode()).unwrap(), e);
        }
    }
}
