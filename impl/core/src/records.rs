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

use crate::wire::{Reader, WireError, Writer};

/// A record that cannot be encoded or read: what was wrong and at which byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("offsets record: {what} at byte {at}")]
pub struct RecordError {
    pub what: String,
    pub at: usize,
}

impl From<WireError> for RecordError {
    fn from(e: WireError) -> RecordError {
        RecordError {
            what: e.what,
            at: e.at,
        }
    }
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
    /// The key's bytes, as Kafka 3.9 writes them. A group or topic longer than an `int16`
    /// length can say (32,767 bytes) is an error.
    pub fn encode_key(&self) -> Result<Vec<u8>, RecordError> {
        let mut w = Writer::default();
        match &self.key {
            RecordKey::OffsetCommit {
                group,
                topic,
                partition,
            } => {
                w.i16(1);
                w.string(group, false)?;
                w.string(topic, false)?;
                w.i32(*partition);
            }
            RecordKey::GroupMetadata { group } => {
                w.i16(2);
                w.string(group, false)?;
            }
        }
        Ok(w.into_bytes())
    }

    /// The value's bytes in the version Kafka 3.9 writes (see the module doc), or `None` for a
    /// tombstone. A string or bytes field too long for its length prefix is an error.
    pub fn encode_value(&self) -> Result<Option<Vec<u8>>, RecordError> {
        self.value
            .as_ref()
            .map(|v| match v {
                RecordValue::OffsetCommit(o) => {
                    let version = if o.expire_timestamp >= 0 { 1 } else { 3 };
                    encode_offset_commit_value(o, version)
                }
                RecordValue::GroupMetadata(g) => encode_group_metadata_value(g, 3),
            })
            .transpose()
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

/// A value version this module can write (both value kinds have versions 0–4).
fn check_write_version(version: i16) -> Result<(), RecordError> {
    if (0..=MAX_VALUE_VERSION).contains(&version) {
        return Ok(());
    }
    Err(RecordError {
        what: format!("cannot write value version {version} (0-{MAX_VALUE_VERSION})"),
        at: 0,
    })
}

/// `OffsetCommitValue` in `version` (0–4). Metadata longer than its length prefix can say
/// (32,767 bytes before version 4) is an error.
pub fn encode_offset_commit_value(
    v: &OffsetCommitValue,
    version: i16,
) -> Result<Vec<u8>, RecordError> {
    check_write_version(version)?;
    let flexible = version >= 4;
    let mut w = Writer::default();
    w.i16(version);
    w.i64(v.offset);
    if version >= 3 {
        w.i32(v.leader_epoch);
    }
    w.string(&v.metadata, flexible)?;
    w.i64(v.commit_timestamp);
    if version == 1 {
        w.i64(v.expire_timestamp);
    }
    if flexible {
        w.no_tagged_fields();
    }
    Ok(w.into_bytes())
}

pub fn decode_offset_commit_value(bytes: &[u8]) -> Result<OffsetCommitValue, RecordError> {
    let mut r = Reader::new(bytes);
    let version = value_version(&mut r)?;
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

/// `GroupMetadataValue` in `version` (0–4). A string, bytes or member list longer than its
/// length prefix can say is an error.
pub fn encode_group_metadata_value(
    v: &GroupMetadataValue,
    version: i16,
) -> Result<Vec<u8>, RecordError> {
    check_write_version(version)?;
    let flexible = version >= 4;
    let mut w = Writer::default();
    w.i16(version);
    w.string(&v.protocol_type, flexible)?;
    w.i32(v.generation);
    w.opt_string(v.protocol.as_deref(), flexible)?;
    w.opt_string(v.leader.as_deref(), flexible)?;
    if version >= 2 {
        w.i64(v.current_state_timestamp);
    }
    w.array_len(v.members.len(), flexible)?;
    for m in &v.members {
        w.string(&m.member_id, flexible)?;
        if version >= 3 {
            w.opt_string(m.group_instance_id.as_deref(), flexible)?;
        }
        w.string(&m.client_id, flexible)?;
        w.string(&m.client_host, flexible)?;
        if version >= 1 {
            w.i32(m.rebalance_timeout);
        }
        w.i32(m.session_timeout);
        w.bytes(&m.subscription, flexible)?;
        w.bytes(&m.assignment, flexible)?;
        if flexible {
            w.no_tagged_fields();
        }
    }
    if flexible {
        w.no_tagged_fields();
    }
    Ok(w.into_bytes())
}

pub fn decode_group_metadata_value(bytes: &[u8]) -> Result<GroupMetadataValue, RecordError> {
    let mut r = Reader::new(bytes);
    let version = value_version(&mut r)?;
    let flexible = version >= 4;
    let protocol_type = r.string(flexible)?;
    let generation = r.i32()?;
    let protocol = r.opt_string(flexible)?;
    let leader = r.opt_string(flexible)?;
    let current_state_timestamp = if version >= 2 { r.i64()? } else { -1 };
    let n = r.array_len(flexible)?;
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
    ///
    /// A record field too long for its length prefix (a string of more than 32,767 bytes, say)
    /// is an error, at the byte of the entry where that field would start.
    pub fn encode(&self) -> Result<Vec<u8>, RecordError> {
        let mut w = Writer::default();
        let record = |w: &mut Writer, r: &Record| -> Result<(), RecordError> {
            // The key and value start after their int32 length.
            let within = |start: usize| {
                move |e: RecordError| RecordError {
                    what: e.what,
                    at: start + 4 + e.at,
                }
            };
            let key = r.encode_key().map_err(within(w.position()))?;
            w.bytes(&key, false)?;
            let value_at = w.position();
            match r.encode_value().map_err(within(value_at))? {
                Some(v) => w.bytes(&v, false)?,
                None => w.i32(-1),
            }
            Ok(())
        };
        match self {
            LogEntry::Plain(r) => {
                w.u8(ENTRY_PLAIN);
                record(&mut w, r)?;
            }
            LogEntry::Transactional {
                producer_id,
                producer_epoch,
                record: r,
            } => {
                w.u8(ENTRY_TRANSACTIONAL);
                w.i64(*producer_id);
                w.i16(*producer_epoch);
                record(&mut w, r)?;
            }
            LogEntry::Marker {
                producer_id,
                producer_epoch,
                commit,
                coordinator_epoch,
            } => {
                w.u8(ENTRY_MARKER);
                w.i64(*producer_id);
                w.i16(*producer_epoch);
                w.u8(u8::from(*commit));
                w.i32(*coordinator_epoch);
            }
        }
        Ok(w.into_bytes())
    }

    pub fn decode(bytes: &[u8]) -> Result<LogEntry, RecordError> {
        let mut r = Reader::new(bytes);
        let record = |r: &mut Reader| -> Result<Record, RecordError> {
            let at = r.at();
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
                            at: r.at() - 1,
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

/// A value's version, which must be one Kafka defines.
fn value_version(r: &mut Reader) -> Result<i16, RecordError> {
    let v = r.i16()?;
    if !(0..=MAX_VALUE_VERSION).contains(&v) {
        return Err(RecordError {
            what: format!("unknown value version {v} (0-{MAX_VALUE_VERSION})"),
            at: 0,
        });
    }
    Ok(v)
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
            r.encode_key().unwrap(),
            [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 2].to_vec()
        );
        let mut want = vec![0, 3];
        want.extend_from_slice(&42i64.to_be_bytes());
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&[0, 0]);
        want.extend_from_slice(&1000i64.to_be_bytes());
        assert_eq!(r.encode_value().unwrap().unwrap(), want);
        let back = Record::decode(
            &r.encode_key().unwrap(),
            r.encode_value().unwrap().as_deref(),
        )
        .unwrap();
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
            let back =
                decode_offset_commit_value(&encode_offset_commit_value(&o, v).unwrap()).unwrap();
            assert_eq!(back.offset, 5);
            assert_eq!(back.metadata, "meta");
            assert_eq!(back.leader_epoch, if v >= 3 { 3 } else { -1 }, "v{v}");
            assert_eq!(back.expire_timestamp, if v == 1 { 99 } else { -1 }, "v{v}");
        }
        let g = group();
        for v in 0..=MAX_VALUE_VERSION {
            let back =
                decode_group_metadata_value(&encode_group_metadata_value(&g, v).unwrap()).unwrap();
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
        )
        .unwrap();
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
        let e = encode_offset_commit_value(
            &OffsetCommitValue {
                offset: 0,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: 0,
                expire_timestamp: -1,
            },
            5,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("cannot write value version 5"),
            "{e}"
        );
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
        )
        .unwrap();
        v.pop();
        let e = decode_offset_commit_value(&v).unwrap_err();
        assert!(e.to_string().contains("8 bytes needed, 7 left"), "{e}");
        v.extend_from_slice(&[0, 0]);
        let e = decode_offset_commit_value(&v).unwrap_err();
        assert!(e.to_string().contains("1 trailing bytes"), "{e}");
        let e = LogEntry::decode(&[7]).unwrap_err();
        assert!(e.to_string().contains("unknown entry kind 7"), "{e}");
    }

    /// A string longer than an `int16` length can say is refused, not written with a wrong
    /// prefix; the error names the byte of the entry where the string would start.
    #[test]
    fn over_long_strings_are_refused() {
        let record = Record {
            key: RecordKey::OffsetCommit {
                group: "x".repeat(40_000),
                topic: "t".into(),
                partition: 0,
            },
            value: None,
        };
        let e = record.encode_key().unwrap_err();
        assert_eq!(e.at, 2, "{e}");
        assert!(e.what.contains("string of length 40000"), "{e}");
        // Kind byte, key length, then the key's version.
        let e = LogEntry::Plain(record).encode().unwrap_err();
        assert_eq!(e.at, 1 + 4 + 2, "{e}");
        let value = OffsetCommitValue {
            offset: 0,
            leader_epoch: -1,
            metadata: "m".repeat(40_000),
            commit_timestamp: 0,
            expire_timestamp: -1,
        };
        assert!(encode_offset_commit_value(&value, 3).is_err());
        // Version 4's compact string has room.
        let bytes = encode_offset_commit_value(&value, 4).unwrap();
        assert_eq!(decode_offset_commit_value(&bytes).unwrap(), value);
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
            assert_eq!(LogEntry::decode(&e.encode().unwrap()).unwrap(), e);
        }
    }
}
