//! The offset store and group metadata: what replaying the `__consumer_offsets` log yields.
//!
//! [`Store::replay`] is the only mutator. The live coordinator appends a [`LogEntry`] and applies
//! it through `replay`, exactly as loading the partition after a failover replays the same
//! entries; so a coordinator that loads the log has, by construction, the durable state of the
//! live one (the tests check it after every step anyway). [`Durable`] couples a store with its
//! file [`Log`]: an entry is written, then replayed.
//!
//! What the store holds, per group: the committed offset of each partition, the last group
//! metadata record, and, per producer, the transactional offset commits waiting for their
//! marker. Kafka's rule for a commit marker is kept: a pending offset becomes the committed one
//! only if no later plain commit of that partition is in the log (the log position, not the
//! arrival of the marker, decides). The partition's producer state is here too: the highest
//! epoch appended per producer id, which refuses appends of an older epoch.

use crate::log::{FsyncPolicy, Log, LogError, Truncation};
use crate::records::{
    GroupMetadataValue, LogEntry, OffsetCommitValue, Record, RecordError, RecordKey, RecordValue,
};
use std::collections::BTreeMap;
use std::path::Path;

/// A committed offset with the log position of the record that committed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub value: OffsetCommitValue,
    /// The index of the log entry that wrote it (for a transactional commit, the entry of the
    /// TxnOffsetCommit record, not of the marker).
    pub log_index: u64,
}

/// `(topic, partition)`.
pub type Partition = (String, i32);

/// Transactional offset commits of one producer, waiting for its marker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingTxn {
    /// Per group, the pending offsets by partition.
    pub offsets: BTreeMap<String, BTreeMap<Partition, Committed>>,
}

/// An entry the store cannot apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("log entry {index}: a transactional record must be an offset commit, got {key:?}")]
    TransactionalNonOffset { index: u64, key: RecordKey },
    #[error("log entry {index}: key {key:?} holds a value of the other kind")]
    MismatchedValue { index: u64, key: RecordKey },
}

/// The durable state of the group coordinator's offsets partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Store {
    offsets: BTreeMap<String, BTreeMap<Partition, Committed>>,
    groups: BTreeMap<String, GroupMetadataValue>,
    pending: BTreeMap<i64, PendingTxn>,
    producer_epochs: BTreeMap<i64, i16>,
    /// The index the next replayed entry gets.
    next_index: u64,
}

impl Store {
    pub fn new() -> Store {
        Store::default()
    }

    /// Whether `entry` can be applied: its key and value agree, and a transactional entry is an
    /// offset commit. (Nothing else can make an entry fail, whatever the state.)
    pub fn validate(&self, entry: &LogEntry) -> Result<(), ReplayError> {
        let index = self.next_index;
        let (record, transactional) = match entry {
            LogEntry::Plain(r) => (r, false),
            LogEntry::Transactional { record, .. } => (record, true),
            LogEntry::Marker { .. } => return Ok(()),
        };
        let offset_key = matches!(record.key, RecordKey::OffsetCommit { .. });
        if transactional && !offset_key {
            return Err(ReplayError::TransactionalNonOffset {
                index,
                key: record.key.clone(),
            });
        }
        let agrees = match &record.value {
            None => !transactional,
            Some(RecordValue::OffsetCommit(_)) => offset_key,
            Some(RecordValue::GroupMetadata(_)) => !offset_key,
        };
        if !agrees {
            return Err(ReplayError::MismatchedValue {
                index,
                key: record.key.clone(),
            });
        }
        Ok(())
    }

    /// Applies one log entry. Entries are numbered in the order they are replayed.
    pub fn replay(&mut self, entry: &LogEntry) -> Result<(), ReplayError> {
        self.validate(entry)?;
        let index = self.next_index;
        match entry {
            LogEntry::Plain(record) => self.apply_plain(index, record),
            LogEntry::Transactional {
                producer_id,
                producer_epoch,
                record,
            } => {
                let (
                    RecordKey::OffsetCommit {
                        group,
                        topic,
                        partition,
                    },
                    Some(RecordValue::OffsetCommit(value)),
                ) = (&record.key, &record.value)
                else {
                    unreachable!("validated: a transactional entry is an offset commit");
                };
                let value = value.clone();
                self.note_epoch(*producer_id, *producer_epoch);
                self.pending
                    .entry(*producer_id)
                    .or_default()
                    .offsets
                    .entry(group.clone())
                    .or_default()
                    .insert(
                        (topic.clone(), *partition),
                        Committed {
                            value,
                            log_index: index,
                        },
                    );
            }
            LogEntry::Marker {
                producer_id,
                producer_epoch,
                commit,
                ..
            } => {
                self.note_epoch(*producer_id, *producer_epoch);
                if let Some(txn) = self.pending.remove(producer_id) {
                    if *commit {
                        for (group, parts) in txn.offsets {
                            let committed = self.offsets.entry(group).or_default();
                            for (p, pending) in parts {
                                let newer = committed
                                    .get(&p)
                                    .is_none_or(|c| c.log_index < pending.log_index);
                                if newer {
                                    committed.insert(p, pending);
                                }
                            }
                        }
                    }
                }
            }
        }
        self.next_index += 1;
        Ok(())
    }

    fn apply_plain(&mut self, index: u64, record: &Record) {
        match (&record.key, &record.value) {
            (
                RecordKey::OffsetCommit {
                    group,
                    topic,
                    partition,
                },
                value,
            ) => {
                let p = (topic.clone(), *partition);
                match value {
                    Some(RecordValue::OffsetCommit(v)) => {
                        self.offsets.entry(group.clone()).or_default().insert(
                            p,
                            Committed {
                                value: v.clone(),
                                log_index: index,
                            },
                        );
                    }
                    Some(RecordValue::GroupMetadata(_)) => unreachable!("validated"),
                    None => {
                        if let Some(parts) = self.offsets.get_mut(group) {
                            parts.remove(&p);
                            if parts.is_empty() {
                                self.offsets.remove(group);
                            }
                        }
                    }
                }
            }
            (RecordKey::GroupMetadata { group }, value) => match value {
                Some(RecordValue::GroupMetadata(g)) => {
                    self.groups.insert(group.clone(), g.clone());
                }
                Some(RecordValue::OffsetCommit(_)) => unreachable!("validated"),
                None => {
                    self.groups.remove(group);
                }
            },
        }
    }

    fn note_epoch(&mut self, producer_id: i64, epoch: i16) {
        let e = self.producer_epochs.entry(producer_id).or_insert(epoch);
        *e = (*e).max(epoch);
    }

    /// The committed offset of a partition.
    pub fn offset(&self, group: &str, topic: &str, partition: i32) -> Option<&Committed> {
        self.offsets.get(group)?.get(&(topic.to_owned(), partition))
    }

    /// Every committed offset of a group, by partition.
    pub fn offsets(&self, group: &str) -> impl Iterator<Item = (&Partition, &Committed)> {
        self.offsets.get(group).into_iter().flatten()
    }

    /// The broken variant `LoadSkipsPendingTxnOffsets` (test only): forget the pending
    /// transactional offsets.
    #[cfg(feature = "broken-variants")]
    pub(crate) fn forget_pending(&mut self) {
        self.pending.clear();
    }

    /// A transactional commit of this partition waits for its marker (OffsetFetch with
    /// `require_stable` answers UNSTABLE_OFFSET_COMMIT meanwhile).
    pub fn has_pending(&self, group: &str, topic: &str, partition: i32) -> bool {
        let p = (topic.to_owned(), partition);
        self.pending.values().any(|t| {
            t.offsets
                .get(group)
                .is_some_and(|parts| parts.contains_key(&p))
        })
    }

    /// A group has pending transactional offsets (Kafka keeps such a group from being deleted
    /// or expired).
    pub fn group_has_pending(&self, group: &str) -> bool {
        self.pending.values().any(|t| t.offsets.contains_key(group))
    }

    /// The producers with pending offsets, with them.
    pub fn pending(&self) -> &BTreeMap<i64, PendingTxn> {
        &self.pending
    }

    /// The last group metadata record of a group.
    pub fn group(&self, group: &str) -> Option<&GroupMetadataValue> {
        self.groups.get(group)
    }

    /// Every group with a metadata record.
    pub fn groups(&self) -> impl Iterator<Item = (&String, &GroupMetadataValue)> {
        self.groups.iter()
    }

    /// Every group with committed offsets.
    pub fn groups_with_offsets(&self) -> impl Iterator<Item = &String> {
        self.offsets.keys()
    }

    /// The highest epoch the partition has appended for a producer.
    pub fn producer_epoch(&self, producer_id: i64) -> Option<i16> {
        self.producer_epochs.get(&producer_id).copied()
    }

    /// The partition's producer state would refuse an append of this epoch: an older epoch of
    /// the producer has been superseded (INVALID_PRODUCER_EPOCH).
    pub fn stale_epoch(&self, producer_id: i64, epoch: i16) -> bool {
        self.producer_epoch(producer_id).is_some_and(|e| epoch < e)
    }

    /// How many entries have been replayed.
    pub fn entries(&self) -> u64 {
        self.next_index
    }
}

/// A failure of the durable store: the log's, a record that cannot be read (or, appending, be
/// encoded), or an entry that cannot be applied. Each names the log entry.
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("offsets log {path}: entry {index}: {source}")]
    Record {
        path: String,
        index: u64,
        source: RecordError,
    },
    #[error("offsets log {path}: {source}")]
    Replay { path: String, source: ReplayError },
}

/// A [`Store`] on its file log: appends are written, then replayed.
#[derive(Debug)]
pub struct Durable {
    log: Log,
    store: Store,
}

impl Durable {
    /// Opens (or creates) the log at `path` and replays it. A torn tail is cut off and reported.
    pub fn open(
        path: &Path,
        policy: FsyncPolicy,
    ) -> Result<(Durable, Option<Truncation>), DurableError> {
        let (log, recovered) = Log::open(path, policy)?;
        let mut store = Store::new();
        let name = || path.display().to_string();
        for (index, payload) in recovered.entries.iter().enumerate() {
            let entry = LogEntry::decode(payload).map_err(|source| DurableError::Record {
                path: name(),
                index: index as u64,
                source,
            })?;
            store
                .replay(&entry)
                .map_err(|source| DurableError::Replay {
                    path: name(),
                    source,
                })?;
        }
        Ok((Durable { log, store }, recovered.truncated))
    }

    /// Writes `entry` to the log, then replays it. Under [`FsyncPolicy::Batch`] the entry is
    /// durable only after [`Durable::sync`]; nothing may be acknowledged before.
    pub fn append(&mut self, entry: &LogEntry) -> Result<(), DurableError> {
        // Check the entry applies before it is written, so the log never holds an entry that
        // a load would refuse; once written, replaying it cannot fail.
        let replay_error = |log: &Log, source| DurableError::Replay {
            path: log.path().display().to_string(),
            source,
        };
        if let Err(e) = self.store.validate(entry) {
            return Err(replay_error(&self.log, e));
        }
        let bytes = entry.encode().map_err(|source| DurableError::Record {
            path: self.log.path().display().to_string(),
            index: self.store.entries(),
            source,
        })?;
        self.log.append(&bytes)?;
        self.store
            .replay(entry)
            .map_err(|e| replay_error(&self.log, e))
    }

    /// Makes every appended entry durable.
    pub fn sync(&mut self) -> Result<(), DurableError> {
        Ok(self.log.sync()?)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn log(&self) -> &Log {
        &self.log
    }
}
