//! The transaction coordinator of exactly-once consume-transform-produce (KIP-98, KIP-447), as
//! Kafka 3.9's `TransactionCoordinator` answers the four requests a transactional
//! consumer-producer sends: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn and EndTxn.
//!
//! The coordinator is sans-IO and deterministic: time comes in as an argument, producer ids come
//! from an injected [`ProducerIdGenerator`], and everything it wants done leaves through
//! [`TransactionCoordinator::poll_output`] as a [`TxnOutput`]: responses, records for its own
//! `__transaction_state` log, and transaction markers (WriteTxnMarkers) to send.
//!
//! # Durable state is records
//!
//! Each transactional id's [`TxnMetadata`] is exactly what its latest `__transaction_state`
//! record says. Live handling builds the record, emits it as [`TxnOutput::Append`] and applies
//! it through [`TransactionCoordinator::replay`], which is the only code that changes the
//! durable part; [`TransactionCoordinator::load`] rebuilds the same state from a log. Kafka
//! keeps a little in memory only (the previous producer id and epoch used to recognise a retried
//! InitProducerId, and the time it decided to complete a transaction), and so does this module;
//! like Kafka's, that part is lost on failover.
//!
//! # Records
//!
//! [`TxnLogRecord`] is a `TransactionLogKey` (version 0: `transactional_id string`) and a
//! `TransactionLogValue` or a tombstone. Value version 0 is what Kafka 3.9 writes unless
//! `transaction.version` enables flexible records (version 1, compact encodings and tagged
//! fields); both are read, and unknown tagged fields (Kafka 4's previous/next producer ids) are
//! skipped.
//!
//! | field | type |
//! |---|---|
//! | producer_id | int64 |
//! | producer_epoch | int16 |
//! | transaction_timeout_ms | int32 |
//! | transaction_status | int8 ([`TxnState::id`]) |
//! | transaction_partitions | nullable array of (topic `string`, partition_ids `int32` array); null when Empty |
//! | transaction_last_update_timestamp_ms | int64 |
//! | transaction_start_timestamp_ms | int64 |
//!
//! Kafka writes every state transition except the two it never persists: `PrepareEpochFence`
//! (the fence is written as the `PrepareAbort` it leads to) and `Dead` (an expired id is
//! written as a tombstone).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use kgroup_protocol::{coordinator_partition, ErrorCode, GroupId};

use crate::wire::{Reader, WireError, Writer};

/// The topic of the transaction coordinator's own log.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
/// The group coordinator's topic; AddOffsetsToTxn adds one of its partitions to a transaction.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Kafka's `RecordBatch.NO_PRODUCER_ID`.
pub const NO_PRODUCER_ID: i64 = -1;
/// Kafka's `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// Whether `epoch` leaves no room to bump: Kafka never hands out `i16::MAX` so that it can always
/// fence a producer once more (`TransactionMetadata.isEpochExhausted`).
pub const fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

// ---------------------------------------------------------------------------------------------
// States
// ---------------------------------------------------------------------------------------------

/// The state of a transactional id, with Kafka's ids as written in `transaction_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnState {
    /// No transaction open; the producer id and epoch are initialised.
    Empty,
    /// Partitions or offsets have been added and no EndTxn has arrived.
    Ongoing,
    /// Commit decided and logged; markers are being written.
    PrepareCommit,
    /// Abort decided and logged; markers are being written.
    PrepareAbort,
    /// Commit markers written everywhere.
    CompleteCommit,
    /// Abort markers written everywhere.
    CompleteAbort,
    /// Expired; Kafka never logs it (a tombstone is written instead).
    Dead,
    /// Fencing an ongoing transaction's producer; Kafka never logs it (the `PrepareAbort` it
    /// leads to is written instead).
    PrepareEpochFence,
}

impl TxnState {
    /// Every state, in the order of their ids.
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    /// The state's id in `transaction_status`.
    pub const fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    /// The state with this id, if Kafka defines one.
    pub const fn from_id(id: i8) -> Option<TxnState> {
        match id {
            0 => Some(TxnState::Empty),
            1 => Some(TxnState::Ongoing),
            2 => Some(TxnState::PrepareCommit),
            3 => Some(TxnState::PrepareAbort),
            4 => Some(TxnState::CompleteCommit),
            5 => Some(TxnState::CompleteAbort),
            6 => Some(TxnState::Dead),
            7 => Some(TxnState::PrepareEpochFence),
            _ => None,
        }
    }

    /// Kafka's name for the state, as DescribeTransactions reports it.
    pub const fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// Markers are in flight: Kafka holds a pending transition to `Complete*` for the whole
    /// time, so every request but a fenced one is told CONCURRENT_TRANSACTIONS.
    const fn is_prepare(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }

    /// The states from which InitProducerId may start afresh and AddPartitionsToTxn may open
    /// a new transaction.
    const fn is_idle(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }
}

impl fmt::Display for TxnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------------------------
// Requests and responses
// ---------------------------------------------------------------------------------------------

/// InitProducerId (API key 22). `version` only decides how fencing is reported: before
/// version 4 (KIP-588) Kafka answers INVALID_PRODUCER_EPOCH where newer clients get
/// PRODUCER_FENCED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    pub version: i16,
    /// `None` for an idempotent (non-transactional) producer.
    pub transactional_id: Option<String>,
    pub transaction_timeout_ms: i32,
    /// KIP-360 (version 3+): the producer's current id, or -1 for a fresh start.
    pub producer_id: i64,
    /// KIP-360 (version 3+): the producer's current epoch, or -1 for a fresh start.
    pub producer_epoch: i16,
}

/// One topic of an AddPartitionsToTxn request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnTopic {
    pub name: String,
    pub partitions: Vec<i32>,
}

/// AddPartitionsToTxn (API key 24) in the client's shape (versions 0-3). Before version 2,
/// PRODUCER_FENCED is reported as INVALID_PRODUCER_EPOCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnRequest {
    pub version: i16,
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub topics: Vec<AddPartitionsToTxnTopic>,
}

/// AddOffsetsToTxn (API key 25): adds the group's `__consumer_offsets` partition to the
/// transaction, so that the commit marker reaches the group coordinator. Before version 2,
/// PRODUCER_FENCED is reported as INVALID_PRODUCER_EPOCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOffsetsToTxnRequest {
    pub version: i16,
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub group_id: String,
}

/// EndTxn (API key 26). Before version 2, PRODUCER_FENCED is reported as
/// INVALID_PRODUCER_EPOCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTxnRequest {
    pub version: i16,
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// `true` to commit, `false` to abort.
    pub committed: bool,
}

/// A request to the transaction coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnRequest {
    InitProducerId(InitProducerIdRequest),
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    EndTxn(EndTxnRequest),
}

/// InitProducerId's answer: on error, the producer id and epoch are -1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    pub error_code: ErrorCode,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// One partition's result in an AddPartitionsToTxn response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddPartitionsToTxnPartitionResult {
    pub partition_index: i32,
    pub partition_error_code: ErrorCode,
}

/// One topic's results in an AddPartitionsToTxn response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnTopicResult {
    pub name: String,
    pub results: Vec<AddPartitionsToTxnPartitionResult>,
}

/// AddPartitionsToTxn's answer (versions 0-3): every requested partition carries the one error
/// the coordinator decided. Kafka builds it from a set, so duplicates collapse; here topics and
/// partitions come sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnResponse {
    pub results: Vec<AddPartitionsToTxnTopicResult>,
}

impl AddPartitionsToTxnResponse {
    /// Every error in the response, in order.
    pub fn errors(&self) -> impl Iterator<Item = ErrorCode> + '_ {
        self.results
            .iter()
            .flat_map(|t| t.results.iter().map(|p| p.partition_error_code))
    }
}

/// AddOffsetsToTxn's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddOffsetsToTxnResponse {
    pub error_code: ErrorCode,
}

/// EndTxn's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnResponse {
    pub error_code: ErrorCode,
}

/// The coordinator's answer to a [`TxnRequest`] of the same kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnResponse {
    InitProducerId(InitProducerIdResponse),
    AddPartitionsToTxn(AddPartitionsToTxnResponse),
    AddOffsetsToTxn(AddOffsetsToTxnResponse),
    EndTxn(EndTxnResponse),
}

/// Something the coordinator wants done, in the order it must be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOutput {
    /// The answer to request `id`.
    Response { id: u64, response: TxnResponse },
    /// A record for `__transaction_state`. It has already been applied to the coordinator's
    /// state; the driver must make it durable before delivering any later output.
    Append(TxnLogRecord),
    /// WriteTxnMarkers to send: a commit or abort marker for `producer_id`/`producer_epoch` to
    /// each of `partitions`, which include the `__consumer_offsets` partition of every group
    /// added with AddOffsetsToTxn (where the group coordinator applies it to the pending
    /// TxnOffsetCommits). When all are written, call
    /// [`TransactionCoordinator::markers_written`].
    Marker {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        partitions: Vec<(String, i32)>,
    },
}

// ---------------------------------------------------------------------------------------------
// Configuration and producer ids
// ---------------------------------------------------------------------------------------------

/// The broker configuration the coordinator needs, with Kafka's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnConfig {
    /// The leader epoch of the `__transaction_state` partition: every marker carries it so that
    /// partition leaders can refuse markers from a deposed coordinator.
    pub coordinator_epoch: i32,
    /// `transaction.max.timeout.ms` (15 minutes): InitProducerId with a longer timeout gets
    /// INVALID_TRANSACTION_TIMEOUT.
    pub transaction_max_timeout_ms: i32,
    /// `transactional.id.expiration.ms` (7 days): an idle id (Empty or Complete*) not updated
    /// for this long is deleted with a tombstone.
    pub transactional_id_expiration_ms: i64,
    /// `offsets.topic.num.partitions` (50): to place a group's `__consumer_offsets` partition.
    pub offsets_topic_partitions: i32,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            coordinator_epoch: 0,
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
            offsets_topic_partitions: kgroup_protocol::DEFAULT_OFFSETS_TOPIC_PARTITIONS,
        }
    }
}

/// A configuration the broker would refuse to start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transaction coordinator config: {0}")]
pub struct TxnConfigError(pub String);

impl TxnConfig {
    fn validate(&self) -> Result<(), TxnConfigError> {
        if self.transaction_max_timeout_ms <= 0 {
            return Err(TxnConfigError(format!(
                "transaction.max.timeout.ms must be positive, not {}",
                self.transaction_max_timeout_ms
            )));
        }
        if self.transactional_id_expiration_ms <= 0 {
            return Err(TxnConfigError(format!(
                "transactional.id.expiration.ms must be positive, not {}",
                self.transactional_id_expiration_ms
            )));
        }
        if self.offsets_topic_partitions <= 0 {
            return Err(TxnConfigError(format!(
                "offsets.topic.num.partitions must be positive, not {}",
                self.offsets_topic_partitions
            )));
        }
        Ok(())
    }
}

/// Where producer ids come from. Kafka draws them in blocks from the controller; they are never
/// reused, so a generator handed to [`TransactionCoordinator::load`] must not return an id
/// already in the log. An error (Kafka: COORDINATOR_LOAD_IN_PROGRESS while a block is being
/// fetched) is returned to the client as it is.
pub trait ProducerIdGenerator {
    fn next_producer_id(&mut self) -> Result<i64, ErrorCode>;
}

/// Producer ids counting up from a starting point: deterministic, for tests and models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequentialProducerIds {
    next: i64,
}

impl SequentialProducerIds {
    /// Ids `first`, `first + 1`, ...
    pub fn starting_at(first: i64) -> Self {
        SequentialProducerIds { next: first }
    }
}

impl Default for SequentialProducerIds {
    fn default() -> Self {
        SequentialProducerIds::starting_at(0)
    }
}

impl ProducerIdGenerator for SequentialProducerIds {
    fn next_producer_id(&mut self) -> Result<i64, ErrorCode> {
        let id = self.next;
        // Running out of ids is what a broker reports while it cannot get a new block.
        self.next = id
            .checked_add(1)
            .ok_or(ErrorCode::CoordinatorLoadInProgress)?;
        Ok(id)
    }
}

// ---------------------------------------------------------------------------------------------
// Per-id state
// ---------------------------------------------------------------------------------------------

/// The durable state of one transactional id: exactly what its latest record says (Kafka's
/// `TransactionMetadata` less its in-memory fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub txn_timeout_ms: i32,
    pub state: TxnState,
    /// The partitions in the transaction; empty unless Ongoing or Prepare*.
    pub partitions: BTreeSet<(String, i32)>,
    /// When the first partition was added; -1 until a transaction starts.
    pub txn_start_timestamp: i64,
    pub txn_last_update_timestamp: i64,
}

/// One id's durable metadata and the part Kafka keeps only in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    meta: TxnMetadata,
    /// The producer id before the latest InitProducerId: a retry that lost its response after
    /// an epoch-exhausting bump still finds its producer (KIP-360).
    last_producer_id: i64,
    /// The epoch before the latest InitProducerId when the producer supplied it: lets a retry
    /// get the same epoch back instead of being fenced.
    last_producer_epoch: i16,
    /// Kafka stamps the `Complete*` record with the time it decided to send the markers, not
    /// the time they were written.
    complete_timestamp: i64,
}

impl Entry {
    fn loaded(meta: TxnMetadata) -> Entry {
        Entry {
            complete_timestamp: meta.txn_last_update_timestamp,
            meta,
            last_producer_id: NO_PRODUCER_ID,
            last_producer_epoch: NO_PRODUCER_EPOCH,
        }
    }
}

/// What InitProducerId decided for an existing or newly created id.
enum InitPlan {
    /// Log this `Empty` state and answer with its producer id and epoch.
    Initialise {
        meta: TxnMetadata,
        last_producer_id: i64,
        last_producer_epoch: i16,
    },
    /// An Ongoing transaction must be aborted first, at this (bumped) epoch.
    Fence { epoch: i16 },
}

/// What remains after a response: completing a transaction's markers.
enum After {
    Marker(TxnOutput),
    /// No partitions to mark: the transaction completes at once, as Kafka's marker manager does
    /// when it finds nothing to send.
    Complete(String),
}

// ---------------------------------------------------------------------------------------------
// The coordinator
// ---------------------------------------------------------------------------------------------

/// Kafka's transaction coordinator for one `__transaction_state` partition, sans-IO.
///
/// # Call order
///
/// 1. Build it with [`new`](Self::new) (an empty log) or [`load`](Self::load) (after becoming
///    the partition's leader; `load` queues the markers of transactions left in Prepare*).
/// 2. Feed it: [`handle_request`](Self::handle_request) for each request,
///    [`handle_timeout`](Self::handle_timeout) whenever the time from
///    [`poll_timeout`](Self::poll_timeout) has come (calling it early is harmless), and
///    [`markers_written`](Self::markers_written) when every partition of a
///    [`TxnOutput::Marker`] has acknowledged it.
/// 3. After each call, drain [`poll_output`](Self::poll_output) until `None` and act on the
///    outputs in order: an [`TxnOutput::Append`] must be durable before anything after it is
///    delivered (Kafka answers only once the record is replicated). Then ask
///    [`poll_timeout`](Self::poll_timeout) again: each call may change the next deadline.
///
/// Appends are taken to succeed: a driver whose log write fails must stop using this instance
/// and [`load`](Self::load) a new one from the log, as Kafka does on leader change.
#[derive(Debug)]
pub struct TransactionCoordinator<G = SequentialProducerIds> {
    config: TxnConfig,
    producer_ids: G,
    entries: BTreeMap<String, Entry>,
    outputs: VecDeque<TxnOutput>,
}

/// Kafka's strings carry an `int16` length: anything longer cannot arrive in a request, and
/// could not be written to the log.
fn fits_kafka_string(s: &str) -> bool {
    s.len() <= i16::MAX as usize
}

fn to_ms(now_ms: u64) -> i64 {
    i64::try_from(now_ms).unwrap_or(i64::MAX)
}

impl<G: ProducerIdGenerator> TransactionCoordinator<G> {
    /// A coordinator with an empty log.
    pub fn new(config: TxnConfig, producer_ids: G) -> Result<Self, TxnConfigError> {
        config.validate()?;
        Ok(TransactionCoordinator {
            config,
            producer_ids,
            entries: BTreeMap::new(),
            outputs: VecDeque::new(),
        })
    }

    /// Rebuilds the coordinator from its log, as Kafka does on becoming the partition's leader:
    /// each record replaces its id's state (a tombstone deletes it), then every transaction
    /// found in PrepareCommit or PrepareAbort has its markers queued again (and completes at
    /// `now_ms` once they are written), because the old leader may have died before sending
    /// them.
    pub fn load<'a>(
        config: TxnConfig,
        producer_ids: G,
        records: impl IntoIterator<Item = &'a TxnLogRecord>,
        now_ms: u64,
    ) -> Result<Self, TxnConfigError> {
        let mut coordinator = TransactionCoordinator::new(config, producer_ids)?;
        for record in records {
            coordinator.replay(record);
        }
        let now = to_ms(now_ms);
        let prepared: Vec<String> = coordinator
            .entries
            .iter()
            .filter(|(_, e)| e.meta.state.is_prepare())
            .map(|(id, _)| id.clone())
            .collect();
        for id in prepared {
            if let Some(entry) = coordinator.entries.get_mut(&id) {
                entry.complete_timestamp = now;
            }
            if let Some(after) = coordinator.markers_for(&id) {
                coordinator.run_after(after);
            }
        }
        Ok(coordinator)
    }

    /// Applies one `__transaction_state` record: the only change ever made to the durable
    /// state. A value replaces the id's metadata (its partitions ignored when Empty, as Kafka's
    /// loader does); a tombstone deletes the id.
    pub fn replay(&mut self, record: &TxnLogRecord) {
        match &record.value {
            None => {
                self.entries.remove(&record.transactional_id);
            }
            Some(value) => {
                let meta = value.to_metadata();
                match self.entries.get_mut(&record.transactional_id) {
                    Some(entry) => entry.meta = meta,
                    None => {
                        self.entries
                            .insert(record.transactional_id.clone(), Entry::loaded(meta));
                    }
                }
            }
        }
    }

    /// Handles request `id` at `now_ms`. Exactly one [`TxnOutput::Response`] for `id` follows,
    /// with any records before it and any markers after it.
    pub fn handle_request(&mut self, now_ms: u64, id: u64, request: TxnRequest) {
        let now = to_ms(now_ms);
        let (response, after) = match request {
            TxnRequest::InitProducerId(req) => {
                let (mut resp, after) = self.init_producer_id(now, &req);
                if req.version < 4 {
                    resp.error_code = downgrade_fenced(resp.error_code);
                }
                (TxnResponse::InitProducerId(resp), after)
            }
            TxnRequest::AddPartitionsToTxn(req) => {
                let partitions: BTreeSet<(String, i32)> = req
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), *p)))
                    .collect();
                let names_fit = partitions.iter().all(|(t, _)| fits_kafka_string(t));
                let mut error = if names_fit {
                    self.add_partitions(
                        now,
                        &req.transactional_id,
                        req.producer_id,
                        req.producer_epoch,
                        &partitions,
                    )
                } else {
                    ErrorCode::InvalidRequest
                };
                if req.version < 2 {
                    error = downgrade_fenced(error);
                }
                (
                    TxnResponse::AddPartitionsToTxn(partition_results(&partitions, error)),
                    None,
                )
            }
            TxnRequest::AddOffsetsToTxn(req) => {
                // KafkaApis turns AddOffsetsToTxn into AddPartitionsToTxn of the group's
                // `__consumer_offsets` partition.
                let partition = coordinator_partition(
                    &GroupId::from(req.group_id.as_str()),
                    self.config.offsets_topic_partitions,
                );
                let partitions = BTreeSet::from([(CONSUMER_OFFSETS_TOPIC.to_owned(), partition)]);
                let mut error = self.add_partitions(
                    now,
                    &req.transactional_id,
                    req.producer_id,
                    req.producer_epoch,
                    &partitions,
                );
                if req.version < 2 {
                    error = downgrade_fenced(error);
                }
                (
                    TxnResponse::AddOffsetsToTxn(AddOffsetsToTxnResponse { error_code: error }),
                    None,
                )
            }
            TxnRequest::EndTxn(req) => {
                let (mut error, after) = self.end_txn(now, &req);
                if req.version < 2 {
                    error = downgrade_fenced(error);
                }
                (
                    TxnResponse::EndTxn(EndTxnResponse { error_code: error }),
                    after,
                )
            }
        };
        self.outputs.push_back(TxnOutput::Response { id, response });
        if let Some(after) = after {
            self.run_after(after);
        }
    }

    /// Aborts every Ongoing transaction that has outlived its timeout (started more than
    /// `txn_timeout_ms` before `now_ms`), bumping the epoch so that the late producer's next
    /// request is fenced (KIP-360), and deletes every idle id not updated for
    /// `transactional.id.expiration.ms`. Kafka runs both as periodic scans
    /// (`transaction.abort.timed.out.transaction.cleanup.interval.ms`,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`), so it acts somewhat later;
    /// here each happens at its exact deadline, which keeps runs deterministic.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let now = to_ms(now_ms);
        let timed_out: Vec<(String, i16)> = self
            .entries
            .iter()
            .filter_map(|(id, e)| match abort_deadline(&e.meta) {
                Some(deadline) if now >= deadline => {
                    // `abort_deadline` only offers epochs below i16::MAX.
                    Some((id.clone(), e.meta.producer_epoch.checked_add(1)?))
                }
                _ => None,
            })
            .collect();
        for (id, bumped) in timed_out {
            if let Some(after) = self.prepare_end(now, &id, false, Some(bumped)) {
                self.run_after(after);
            }
        }

        let expired: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                self.expiration_deadline(&e.meta)
                    .is_some_and(|deadline| now >= deadline)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.append(TxnLogRecord {
                transactional_id: id,
                value: None,
            });
        }
    }

    /// Every partition of the transaction's [`TxnOutput::Marker`] has written its marker: the
    /// transaction completes (PrepareCommit → CompleteCommit, PrepareAbort → CompleteAbort) and
    /// the record is queued. Returns `false`, doing nothing, if the id has no transaction in
    /// Prepare*.
    pub fn markers_written(&mut self, transactional_id: &str) -> bool {
        let Some(entry) = self.entries.get(transactional_id) else {
            return false;
        };
        let meta = &entry.meta;
        let state = match meta.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            _ => return false,
        };
        let complete = TxnMetadata {
            state,
            partitions: BTreeSet::new(),
            txn_last_update_timestamp: entry.complete_timestamp,
            ..meta.clone()
        };
        self.append(TxnLogRecord::of(transactional_id, &complete));
        true
    }

    /// The next output to act on, in order.
    pub fn poll_output(&mut self) -> Option<TxnOutput> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has something to do (a transaction
    /// timing out, an id expiring), in the milliseconds of `now_ms`; `None` if nothing is
    /// pending.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.entries
            .values()
            .flat_map(|e| [abort_deadline(&e.meta), self.expiration_deadline(&e.meta)])
            .flatten()
            .min()
            .map(|deadline| u64::try_from(deadline).unwrap_or(0))
    }

    /// The durable state of one transactional id.
    pub fn transaction(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.entries.get(transactional_id).map(|e| &e.meta)
    }

    /// The durable state of every transactional id: what [`load`](Self::load) of the records
    /// emitted so far rebuilds.
    pub fn durable_state(&self) -> BTreeMap<String, TxnMetadata> {
        self.entries
            .iter()
            .map(|(id, e)| (id.clone(), e.meta.clone()))
            .collect()
    }

    /// The producer id and epoch before the latest InitProducerId, which Kafka keeps in memory
    /// only (so both are -1 after a load).
    pub fn last_producer(&self, transactional_id: &str) -> Option<(i64, i16)> {
        self.entries
            .get(transactional_id)
            .map(|e| (e.last_producer_id, e.last_producer_epoch))
    }

    /// The injected producer id generator, e.g. to hand its successor to a new coordinator.
    pub fn producer_id_generator(&self) -> &G {
        &self.producer_ids
    }

    /// The configuration in force.
    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    // --- handlers ------------------------------------------------------------------------

    /// `TransactionCoordinator.handleInitProducerId` with KafkaApis' checks before it.
    fn init_producer_id(
        &mut self,
        now: i64,
        req: &InitProducerIdRequest,
    ) -> (InitProducerIdResponse, Option<After>) {
        let fail = |error_code| {
            (
                InitProducerIdResponse {
                    error_code,
                    producer_id: NO_PRODUCER_ID,
                    producer_epoch: NO_PRODUCER_EPOCH,
                },
                None,
            )
        };
        // KafkaApis: a producer id without an epoch (or the reverse) is malformed.
        let expected = match (req.producer_id, req.producer_epoch) {
            (NO_PRODUCER_ID, NO_PRODUCER_EPOCH) => None,
            (NO_PRODUCER_ID, _) | (_, NO_PRODUCER_EPOCH) => return fail(ErrorCode::InvalidRequest),
            (id, epoch) => Some((id, epoch)),
        };
        let Some(txn_id) = req.transactional_id.as_deref() else {
            // An idempotent producer gets a fresh id at epoch 0, no questions asked.
            return match self.producer_ids.next_producer_id() {
                Ok(producer_id) => (
                    InitProducerIdResponse {
                        error_code: ErrorCode::None,
                        producer_id,
                        producer_epoch: 0,
                    },
                    None,
                ),
                Err(e) => fail(e),
            };
        };
        if txn_id.is_empty() || !fits_kafka_string(txn_id) {
            return fail(ErrorCode::InvalidRequest);
        }
        let timeout = req.transaction_timeout_ms;
        if timeout <= 0 || timeout > self.config.transaction_max_timeout_ms {
            return fail(ErrorCode::InvalidTransactionTimeout);
        }

        let existing = self.entries.get(txn_id).cloned();
        let entry = match existing {
            Some(entry) => entry,
            None => {
                // A first InitProducerId: Kafka caches this (unlogged) metadata at epoch -1 and
                // at once bumps it to epoch 0, which is what gets logged.
                let producer_id = match self.producer_ids.next_producer_id() {
                    Ok(id) => id,
                    Err(e) => return fail(e),
                };
                Entry::loaded(TxnMetadata {
                    producer_id,
                    producer_epoch: NO_PRODUCER_EPOCH,
                    txn_timeout_ms: timeout,
                    state: TxnState::Empty,
                    partitions: BTreeSet::new(),
                    txn_start_timestamp: -1,
                    txn_last_update_timestamp: now,
                })
            }
        };

        match self.plan_init(now, &entry, timeout, expected) {
            Err(e) => fail(e),
            Ok(InitPlan::Fence { epoch }) => {
                // Abort the ongoing transaction at the bumped epoch, and tell the client to
                // retry: its retry bumps the epoch a second time (or rotates the producer id).
                let after = self.prepare_end(now, txn_id, false, Some(epoch));
                let (resp, _) = fail(ErrorCode::ConcurrentTransactions);
                (resp, after)
            }
            Ok(InitPlan::Initialise {
                meta,
                last_producer_id,
                last_producer_epoch,
            }) => {
                let response = InitProducerIdResponse {
                    error_code: ErrorCode::None,
                    producer_id: meta.producer_id,
                    producer_epoch: meta.producer_epoch,
                };
                self.append(TxnLogRecord::of(txn_id, &meta));
                if let Some(e) = self.entries.get_mut(txn_id) {
                    e.last_producer_id = last_producer_id;
                    e.last_producer_epoch = last_producer_epoch;
                }
                (response, None)
            }
        }
    }

    /// `prepareInitProducerIdTransit`: the checks in Kafka's order. Where Kafka throws an
    /// `IllegalStateException` (states it never expects, epochs it cannot bump) the client
    /// gets UNKNOWN_SERVER_ERROR, which is what Kafka's request handler makes of it.
    fn plan_init(
        &mut self,
        now: i64,
        entry: &Entry,
        timeout: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<InitPlan, ErrorCode> {
        let meta = &entry.meta;
        // Prepare* always has a pending transition to Complete* in Kafka.
        if meta.state.is_prepare() {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        if let Some((producer_id, epoch)) = expected {
            // The request's producer is current unless the id was just created, it names the
            // current producer id (its epoch is checked below), or it names the previous id
            // with an exhausted epoch (a retry of a bump that rotated the id).
            let valid = meta.producer_epoch == NO_PRODUCER_EPOCH
                || producer_id == meta.producer_id
                || (producer_id == entry.last_producer_id && is_epoch_exhausted(epoch));
            if !valid {
                return Err(ErrorCode::ProducerFenced);
            }
        }
        match meta.state {
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let fresh = |producer_id, producer_epoch| TxnMetadata {
                    producer_id,
                    producer_epoch,
                    txn_timeout_ms: timeout,
                    state: TxnState::Empty,
                    partitions: BTreeSet::new(),
                    txn_start_timestamp: -1,
                    txn_last_update_timestamp: now,
                };
                if is_epoch_exhausted(meta.producer_epoch)
                    && expected.is_none_or(|(_, epoch)| epoch == meta.producer_epoch)
                {
                    // No epochs left: a new producer id at epoch 0.
                    let producer_id = self.producer_ids.next_producer_id()?;
                    if producer_id < 0 {
                        return Err(ErrorCode::UnknownServerError);
                    }
                    return Ok(InitPlan::Initialise {
                        meta: fresh(producer_id, 0),
                        last_producer_id: meta.producer_id,
                        last_producer_epoch: if expected.is_some() {
                            meta.producer_epoch
                        } else {
                            NO_PRODUCER_EPOCH
                        },
                    });
                }
                if is_epoch_exhausted(meta.producer_epoch) {
                    return Err(ErrorCode::UnknownServerError);
                }
                let bumped = meta
                    .producer_epoch
                    .checked_add(1)
                    .ok_or(ErrorCode::UnknownServerError)?;
                let (epoch, last_epoch) = match expected {
                    None => (bumped, NO_PRODUCER_EPOCH),
                    Some((_, e))
                        if meta.producer_epoch == NO_PRODUCER_EPOCH || e == meta.producer_epoch =>
                    {
                        (bumped, meta.producer_epoch)
                    }
                    // A retry of a bump whose response was lost: same epoch again.
                    Some((_, e)) if e == entry.last_producer_epoch => {
                        (meta.producer_epoch, entry.last_producer_epoch)
                    }
                    Some(_) => return Err(ErrorCode::ProducerFenced),
                };
                if epoch < 0 {
                    return Err(ErrorCode::UnknownServerError);
                }
                Ok(InitPlan::Initialise {
                    meta: fresh(meta.producer_id, epoch),
                    last_producer_id: meta.producer_id,
                    last_producer_epoch: last_epoch,
                })
            }
            TxnState::Ongoing => match meta.producer_epoch.checked_add(1) {
                Some(epoch) => Ok(InitPlan::Fence { epoch }),
                None => Err(ErrorCode::UnknownServerError),
            },
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                Err(ErrorCode::ConcurrentTransactions)
            }
            TxnState::Dead | TxnState::PrepareEpochFence => Err(ErrorCode::UnknownServerError),
        }
    }

    /// `handleAddPartitionsToTransaction`, also serving AddOffsetsToTxn.
    fn add_partitions(
        &mut self,
        now: i64,
        txn_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &BTreeSet<(String, i32)>,
    ) -> ErrorCode {
        if txn_id.is_empty() || !fits_kafka_string(txn_id) {
            return ErrorCode::InvalidRequest;
        }
        let Some(entry) = self.entries.get(txn_id) else {
            return ErrorCode::InvalidProducerIdMapping;
        };
        let meta = &entry.meta;
        if meta.producer_id != producer_id {
            return ErrorCode::InvalidProducerIdMapping;
        }
        if meta.producer_epoch != producer_epoch {
            return ErrorCode::ProducerFenced;
        }
        if meta.state.is_prepare() {
            return ErrorCode::ConcurrentTransactions;
        }
        if meta.state == TxnState::Ongoing && partitions.is_subset(&meta.partitions) {
            // Nothing new: Kafka answers at once, without a record.
            return ErrorCode::None;
        }
        let start = match meta.state {
            s if s.is_idle() => now,
            TxnState::Ongoing => meta.txn_start_timestamp,
            _ => return ErrorCode::UnknownServerError,
        };
        let ongoing = TxnMetadata {
            state: TxnState::Ongoing,
            partitions: meta.partitions.union(partitions).cloned().collect(),
            txn_start_timestamp: start,
            txn_last_update_timestamp: now,
            ..meta.clone()
        };
        self.append(TxnLogRecord::of(txn_id, &ongoing));
        ErrorCode::None
    }

    /// `handleEndTransaction` from a client: the epoch must match exactly.
    fn end_txn(&mut self, now: i64, req: &EndTxnRequest) -> (ErrorCode, Option<After>) {
        let txn_id = req.transactional_id.as_str();
        if txn_id.is_empty() || !fits_kafka_string(txn_id) {
            return (ErrorCode::InvalidRequest, None);
        }
        let Some(entry) = self.entries.get(txn_id) else {
            return (ErrorCode::InvalidProducerIdMapping, None);
        };
        let meta = &entry.meta;
        if meta.producer_id != req.producer_id {
            return (ErrorCode::InvalidProducerIdMapping, None);
        }
        if meta.producer_epoch != req.producer_epoch {
            return (ErrorCode::ProducerFenced, None);
        }
        // Markers in flight: Kafka's pending transition to Complete* answers before the state
        // is looked at, so even a retry of the same decision must wait.
        if meta.state.is_prepare() {
            return (ErrorCode::ConcurrentTransactions, None);
        }
        let error = match (meta.state, req.committed) {
            (TxnState::Ongoing, _) => {
                let after = self.prepare_end(now, txn_id, req.committed, None);
                return (ErrorCode::None, after);
            }
            // A retry of a decision already carried out.
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => ErrorCode::None,
            (TxnState::CompleteCommit, false)
            | (TxnState::CompleteAbort, true)
            | (TxnState::Empty, _) => ErrorCode::InvalidTxnState,
            (TxnState::PrepareCommit, _) | (TxnState::PrepareAbort, _) => {
                ErrorCode::ConcurrentTransactions
            }
            (TxnState::Dead, _) | (TxnState::PrepareEpochFence, _) => ErrorCode::UnknownServerError,
        };
        (error, None)
    }

    /// Ongoing → PrepareCommit/PrepareAbort: logs the decision and says what follows the
    /// response. `fence_epoch` is the bumped epoch of an abort the coordinator starts itself
    /// (InitProducerId over an ongoing transaction, or a timeout); Kafka then forgets the
    /// previous epoch so that no retry can reclaim it.
    fn prepare_end(
        &mut self,
        now: i64,
        txn_id: &str,
        commit: bool,
        fence_epoch: Option<i16>,
    ) -> Option<After> {
        let entry = self.entries.get(txn_id)?;
        if entry.meta.state != TxnState::Ongoing {
            return None;
        }
        let prepared = TxnMetadata {
            producer_epoch: fence_epoch.unwrap_or(entry.meta.producer_epoch),
            state: if commit {
                TxnState::PrepareCommit
            } else {
                TxnState::PrepareAbort
            },
            txn_last_update_timestamp: now,
            ..entry.meta.clone()
        };
        self.append(TxnLogRecord::of(txn_id, &prepared));
        let entry = self.entries.get_mut(txn_id)?;
        entry.complete_timestamp = now;
        if fence_epoch.is_some() {
            entry.last_producer_epoch = NO_PRODUCER_EPOCH;
        }
        self.markers_for(txn_id)
    }

    /// The markers of a transaction in Prepare*, or its immediate completion if it has no
    /// partitions.
    fn markers_for(&self, txn_id: &str) -> Option<After> {
        let meta = &self.entries.get(txn_id)?.meta;
        if !meta.state.is_prepare() {
            return None;
        }
        if meta.partitions.is_empty() {
            return Some(After::Complete(txn_id.to_owned()));
        }
        Some(After::Marker(TxnOutput::Marker {
            transactional_id: txn_id.to_owned(),
            producer_id: meta.producer_id,
            producer_epoch: meta.producer_epoch,
            commit: meta.state == TxnState::PrepareCommit,
            coordinator_epoch: self.config.coordinator_epoch,
            partitions: meta.partitions.iter().cloned().collect(),
        }))
    }

    fn run_after(&mut self, after: After) {
        match after {
            After::Marker(marker) => self.outputs.push_back(marker),
            After::Complete(txn_id) => {
                self.markers_written(&txn_id);
            }
        }
    }

    /// Emits a record and applies it: the one path from a decision to the durable state.
    fn append(&mut self, record: TxnLogRecord) {
        self.replay(&record);
        self.outputs.push_back(TxnOutput::Append(record));
    }

    /// When an idle id becomes eligible for deletion.
    fn expiration_deadline(&self, meta: &TxnMetadata) -> Option<i64> {
        meta.state.is_idle().then(|| {
            meta.txn_last_update_timestamp
                .saturating_add(self.config.transactional_id_expiration_ms)
        })
    }
}

/// When an Ongoing transaction times out: Kafka aborts once `start + timeout < now`. A
/// transaction at epoch `i16::MAX` cannot be fenced (Kafka's scan fails on it every time), so
/// it has no deadline.
fn abort_deadline(meta: &TxnMetadata) -> Option<i64> {
    (meta.state == TxnState::Ongoing && meta.producer_epoch < i16::MAX).then(|| {
        meta.txn_start_timestamp
            .saturating_add(i64::from(meta.txn_timeout_ms))
            .saturating_add(1)
    })
}

/// KIP-588: clients older than the version that knows PRODUCER_FENCED get the old code.
fn downgrade_fenced(error: ErrorCode) -> ErrorCode {
    if error == ErrorCode::ProducerFenced {
        ErrorCode::InvalidProducerEpoch
    } else {
        error
    }
}

fn partition_results(
    partitions: &BTreeSet<(String, i32)>,
    error: ErrorCode,
) -> AddPartitionsToTxnResponse {
    let mut results: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for (topic, partition) in partitions {
        let result = AddPartitionsToTxnPartitionResult {
            partition_index: *partition,
            partition_error_code: error,
        };
        match results.last_mut() {
            Some(last) if last.name == *topic => last.results.push(result),
            _ => results.push(AddPartitionsToTxnTopicResult {
                name: topic.clone(),
                results: vec![result],
            }),
        }
    }
    AddPartitionsToTxnResponse { results }
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/// One topic's partitions in a `TransactionLogValue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnLogPartitions {
    pub topic: String,
    pub partition_ids: Vec<i32>,
}

/// `TransactionLogValue`, field for field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnLogValue {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub transaction_timeout_ms: i32,
    pub transaction_status: TxnState,
    /// Null (`None`) when the state is Empty, as Kafka writes it.
    pub transaction_partitions: Option<Vec<TxnLogPartitions>>,
    pub transaction_last_update_timestamp_ms: i64,
    pub transaction_start_timestamp_ms: i64,
}

impl TxnLogValue {
    /// The value Kafka writes for `meta`: partitions grouped by topic (sorted here), null when
    /// Empty.
    pub fn of(meta: &TxnMetadata) -> TxnLogValue {
        let transaction_partitions = (meta.state != TxnState::Empty).then(|| {
            let mut topics: Vec<TxnLogPartitions> = Vec::new();
            for (topic, partition) in &meta.partitions {
                match topics.last_mut() {
                    Some(last) if last.topic == *topic => last.partition_ids.push(*partition),
                    _ => topics.push(TxnLogPartitions {
                        topic: topic.clone(),
                        partition_ids: vec![*partition],
                    }),
                }
            }
            topics
        });
        TxnLogValue {
            producer_id: meta.producer_id,
            producer_epoch: meta.producer_epoch,
            transaction_timeout_ms: meta.txn_timeout_ms,
            transaction_status: meta.state,
            transaction_partitions,
            transaction_last_update_timestamp_ms: meta.txn_last_update_timestamp,
            transaction_start_timestamp_ms: meta.txn_start_timestamp,
        }
    }

    /// The metadata the value describes; an Empty value's partitions are ignored, as Kafka's
    /// loader ignores them.
    pub fn to_metadata(&self) -> TxnMetadata {
        let partitions = match (&self.transaction_partitions, self.transaction_status) {
            (Some(topics), state) if state != TxnState::Empty => topics
                .iter()
                .flat_map(|t| t.partition_ids.iter().map(|p| (t.topic.clone(), *p)))
                .collect(),
            _ => BTreeSet::new(),
        };
        TxnMetadata {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            txn_timeout_ms: self.transaction_timeout_ms,
            state: self.transaction_status,
            partitions,
            txn_start_timestamp: self.transaction_start_timestamp_ms,
            txn_last_update_timestamp: self.transaction_last_update_timestamp_ms,
        }
    }
}

/// One `__transaction_state` record: `TransactionLogKey` and a value, or a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnLogRecord {
    pub transactional_id: String,
    /// `None`: a tombstone, deleting the id.
    pub value: Option<TxnLogValue>,
}

/// A record that cannot be encoded or read: what was wrong and at which byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transaction log record: {what} at byte {at}")]
pub struct TxnRecordError {
    pub what: String,
    pub at: usize,
}

impl From<WireError> for TxnRecordError {
    fn from(e: WireError) -> TxnRecordError {
        TxnRecordError {
            what: e.what,
            at: e.at,
        }
    }
}

/// The only `TransactionLogKey` version.
pub const TXN_KEY_VERSION: i16 = 0;
/// The value version Kafka 3.9 writes unless `transaction.version` enables flexible records.
pub const TXN_VALUE_VERSION: i16 = 0;
/// The highest value version this module reads and writes (the first flexible one).
pub const TXN_MAX_VALUE_VERSION: i16 = 1;

impl TxnLogRecord {
    /// The record Kafka writes for `meta`.
    pub fn of(transactional_id: &str, meta: &TxnMetadata) -> TxnLogRecord {
        TxnLogRecord {
            transactional_id: transactional_id.to_owned(),
            value: Some(TxnLogValue::of(meta)),
        }
    }

    /// The key and value bytes as Kafka 3.9 writes them (value version 0).
    pub fn encode(&self) -> Result<(Vec<u8>, Option<Vec<u8>>), TxnRecordError> {
        Ok((self.encode_key()?, self.encode_value(TXN_VALUE_VERSION)?))
    }

    /// The key: version 0, then the transactional id.
    pub fn encode_key(&self) -> Result<Vec<u8>, TxnRecordError> {
        let mut w = Writer::default();
        w.i16(TXN_KEY_VERSION);
        w.string(&self.transactional_id, false)?;
        Ok(w.into_bytes())
    }

    /// The value at `version` (0 or 1), or `None` for a tombstone.
    pub fn encode_value(&self, version: i16) -> Result<Option<Vec<u8>>, TxnRecordError> {
        let Some(v) = &self.value else {
            return Ok(None);
        };
        if !(0..=TXN_MAX_VALUE_VERSION).contains(&version) {
            return Err(TxnRecordError {
                what: format!("value version {version} (0 and 1 are defined)"),
                at: 0,
            });
        }
        let flexible = version >= 1;
        let mut w = Writer::default();
        w.i16(version);
        w.i64(v.producer_id);
        w.i16(v.producer_epoch);
        w.i32(v.transaction_timeout_ms);
        w.i8(v.transaction_status.id());
        match &v.transaction_partitions {
            None => w.null_array(flexible),
            Some(topics) => {
                w.array_len(topics.len(), flexible)?;
                for t in topics {
                    w.string(&t.topic, flexible)?;
                    w.array_len(t.partition_ids.len(), flexible)?;
                    for p in &t.partition_ids {
                        w.i32(*p);
                    }
                    if flexible {
                        w.no_tagged_fields();
                    }
                }
            }
        }
        w.i64(v.transaction_last_update_timestamp_ms);
        w.i64(v.transaction_start_timestamp_ms);
        if flexible {
            w.no_tagged_fields();
        }
        Ok(Some(w.into_bytes()))
    }

    /// Reads a record from its key and value (`None`: a tombstone). Every byte must be used.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<TxnLogRecord, TxnRecordError> {
        let mut r = Reader::new(key);
        let version = r.i16()?;
        if version != TXN_KEY_VERSION {
            return Err(TxnRecordError {
                what: format!("key version {version} is not a transaction log key (0)"),
                at: 0,
            });
        }
        let transactional_id = r.string(false)?;
        r.end()?;
        let value = match value {
            None => None,
            Some(bytes) => Some(decode_value(bytes)?),
        };
        Ok(TxnLogRecord {
            transactional_id,
            value,
        })
    }
}

fn decode_value(bytes: &[u8]) -> Result<TxnLogValue, TxnRecordError> {
    let refuse = |at, what: String| Err(TxnRecordError { what, at });
    let mut r = Reader::new(bytes);
    let version = r.i16()?;
    if !(0..=TXN_MAX_VALUE_VERSION).contains(&version) {
        return refuse(0, format!("value version {version} (0 and 1 are defined)"));
    }
    let flexible = version >= 1;
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let transaction_timeout_ms = r.i32()?;
    let status_at = r.at();
    let status = r.i8()?;
    let Some(transaction_status) = TxnState::from_id(status) else {
        return refuse(
            status_at,
            format!("transaction status {status} (0-7 are defined)"),
        );
    };
    let transaction_partitions = match r.opt_array_len(flexible)? {
        None => None,
        Some(n) => {
            let mut topics = Vec::new();
            for _ in 0..n {
                let topic = r.string(flexible)?;
                let count = r.array_len(flexible)?;
                let mut partition_ids = Vec::new();
                for _ in 0..count {
                    partition_ids.push(r.i32()?);
                }
                if flexible {
                    r.skip_tagged_fields()?;
                }
                topics.push(TxnLogPartitions {
                    topic,
                    partition_ids,
                });
            }
            Some(topics)
        }
    };
    let transaction_last_update_timestamp_ms = r.i64()?;
    let transaction_start_timestamp_ms = r.i64()?;
    if flexible {
        r.skip_tagged_fields()?;
    }
    r.end()?;
    Ok(TxnLogValue {
        producer_id,
        producer_epoch,
        transaction_timeout_ms,
        transaction_status,
        transaction_partitions,
        transaction_last_update_timestamp_ms,
        transaction_start_timestamp_ms,
    })
}
