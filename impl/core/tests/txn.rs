//! Tests of the transaction coordinator: each request's exact responses and records, one test per
//! error code it returns, fencing, timeouts, expiration, epoch exhaustion, failover, the record
//! format, and a property test over random request sequences.
//!
//! Every table test runs through [`Harness`], which after each step rebuilds a coordinator from
//! the records appended so far and checks that it equals the live one (replay-equals-live).

use std::collections::{BTreeMap, BTreeSet};

use kgroup_core::txn::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnPartitionResult,
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, AddPartitionsToTxnTopic,
    AddPartitionsToTxnTopicResult, EndTxnRequest, EndTxnResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerIdGenerator, SequentialProducerIds, TransactionCoordinator,
    TxnConfig, TxnLogPartitions, TxnLogRecord, TxnLogValue, TxnMetadata, TxnOutput, TxnRequest,
    TxnResponse, TxnState, CONSUMER_OFFSETS_TOPIC,
};
use kgroup_protocol::ErrorCode;
use proptest::prelude::*;

const T0: u64 = 1_000_000;
const ID: u64 = 7;
const TIMEOUT: i32 = 60_000;
const FIRST_PID: i64 = 1000;
/// `abs("my-group".hashCode()) % 50`.
const MY_GROUP_PARTITION: i32 = 12;
const WEEK_MS: u64 = 604_800_000;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A coordinator plus every record it appended, checked for replay-equals-live after each step.
struct Harness {
    c: TransactionCoordinator,
    log: Vec<TxnLogRecord>,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_log(Vec::new(), FIRST_PID)
    }

    /// A coordinator loaded from `log` at `T0`, its outputs drained.
    fn with_log(log: Vec<TxnLogRecord>, first_pid: i64) -> Harness {
        let c = TransactionCoordinator::load(
            TxnConfig::default(),
            SequentialProducerIds::starting_at(first_pid),
            &log,
            T0,
        )
        .expect("valid config");
        let mut h = Harness { c, log };
        h.drain();
        h
    }

    fn drain(&mut self) -> Vec<TxnOutput> {
        let mut out = Vec::new();
        while let Some(o) = self.c.poll_output() {
            if let TxnOutput::Append(r) = &o {
                self.log.push(r.clone());
            }
            out.push(o);
        }
        let reloaded = TransactionCoordinator::load(
            TxnConfig::default(),
            SequentialProducerIds::default(),
            &self.log,
            T0,
        )
        .expect("valid config");
        assert_eq!(
            reloaded.durable_state(),
            self.c.durable_state(),
            "replay of the log differs from the live state"
        );
        out
    }

    fn at(&mut self, now: u64, req: TxnRequest) -> Vec<TxnOutput> {
        self.c.handle_request(now, ID, req);
        self.drain()
    }

    fn timeout(&mut self, now: u64) -> Vec<TxnOutput> {
        self.c.handle_timeout(now);
        self.drain()
    }

    fn markers_written(&mut self, txn: &str) -> Vec<TxnOutput> {
        assert!(
            self.c.markers_written(txn),
            "{txn} had no markers in flight"
        );
        self.drain()
    }

    fn meta(&self, txn: &str) -> TxnMetadata {
        self.c.transaction(txn).cloned().expect("known id")
    }
}

fn init(txn: &str) -> TxnRequest {
    init_v(4, txn, TIMEOUT, -1, -1)
}

fn init_v(version: i16, txn: &str, timeout: i32, pid: i64, epoch: i16) -> TxnRequest {
    TxnRequest::InitProducerId(InitProducerIdRequest {
        version,
        transactional_id: Some(txn.to_owned()),
        transaction_timeout_ms: timeout,
        producer_id: pid,
        producer_epoch: epoch,
    })
}

fn add(txn: &str, pid: i64, epoch: i16, topics: &[(&str, &[i32])]) -> TxnRequest {
    add_v(3, txn, pid, epoch, topics)
}

fn add_v(version: i16, txn: &str, pid: i64, epoch: i16, topics: &[(&str, &[i32])]) -> TxnRequest {
    TxnRequest::AddPartitionsToTxn(AddPartitionsToTxnRequest {
        version,
        transactional_id: txn.to_owned(),
        producer_id: pid,
        producer_epoch: epoch,
        topics: topics
            .iter()
            .map(|(name, ps)| AddPartitionsToTxnTopic {
                name: (*name).to_owned(),
                partitions: ps.to_vec(),
            })
            .collect(),
    })
}

fn offsets(txn: &str, pid: i64, epoch: i16, group: &str) -> TxnRequest {
    offsets_v(3, txn, pid, epoch, group)
}

fn offsets_v(version: i16, txn: &str, pid: i64, epoch: i16, group: &str) -> TxnRequest {
    TxnRequest::AddOffsetsToTxn(AddOffsetsToTxnRequest {
        version,
        transactional_id: txn.to_owned(),
        producer_id: pid,
        producer_epoch: epoch,
        group_id: group.to_owned(),
    })
}

fn end(txn: &str, pid: i64, epoch: i16, commit: bool) -> TxnRequest {
    end_v(3, txn, pid, epoch, commit)
}

fn end_v(version: i16, txn: &str, pid: i64, epoch: i16, commit: bool) -> TxnRequest {
    TxnRequest::EndTxn(EndTxnRequest {
        version,
        transactional_id: txn.to_owned(),
        producer_id: pid,
        producer_epoch: epoch,
        committed: commit,
    })
}

fn parts(list: &[(&str, i32)]) -> BTreeSet<(String, i32)> {
    list.iter().map(|(t, p)| ((*t).to_owned(), *p)).collect()
}

fn meta(
    pid: i64,
    epoch: i16,
    state: TxnState,
    partitions: &[(&str, i32)],
    start: u64,
    last: u64,
) -> TxnMetadata {
    TxnMetadata {
        producer_id: pid,
        producer_epoch: epoch,
        txn_timeout_ms: TIMEOUT,
        state,
        partitions: parts(partitions),
        txn_start_timestamp: if start == u64::MAX { -1 } else { start as i64 },
        txn_last_update_timestamp: last as i64,
    }
}

/// No transaction started yet.
const NO_START: u64 = u64::MAX;

fn append(txn: &str, m: &TxnMetadata) -> TxnOutput {
    TxnOutput::Append(TxnLogRecord::of(txn, m))
}

fn tombstone(txn: &str) -> TxnOutput {
    TxnOutput::Append(TxnLogRecord {
        transactional_id: txn.to_owned(),
        value: None,
    })
}

fn init_resp(error: ErrorCode, pid: i64, epoch: i16) -> TxnOutput {
    TxnOutput::Response {
        id: ID,
        response: TxnResponse::InitProducerId(InitProducerIdResponse {
            error_code: error,
            producer_id: pid,
            producer_epoch: epoch,
        }),
    }
}

fn init_err(error: ErrorCode) -> TxnOutput {
    init_resp(error, -1, -1)
}

fn add_resp(error: ErrorCode, topics: &[(&str, &[i32])]) -> TxnOutput {
    TxnOutput::Response {
        id: ID,
        response: TxnResponse::AddPartitionsToTxn(AddPartitionsToTxnResponse {
            results: topics
                .iter()
                .map(|(name, ps)| AddPartitionsToTxnTopicResult {
                    name: (*name).to_owned(),
                    results: ps
                        .iter()
                        .map(|p| AddPartitionsToTxnPartitionResult {
                            partition_index: *p,
                            partition_error_code: error,
                        })
                        .collect(),
                })
                .collect(),
        }),
    }
}

fn offsets_resp(error: ErrorCode) -> TxnOutput {
    TxnOutput::Response {
        id: ID,
        response: TxnResponse::AddOffsetsToTxn(AddOffsetsToTxnResponse { error_code: error }),
    }
}

fn end_resp(error: ErrorCode) -> TxnOutput {
    TxnOutput::Response {
        id: ID,
        response: TxnResponse::EndTxn(EndTxnResponse { error_code: error }),
    }
}

fn marker(txn: &str, pid: i64, epoch: i16, commit: bool, partitions: &[(&str, i32)]) -> TxnOutput {
    TxnOutput::Marker {
        transactional_id: txn.to_owned(),
        producer_id: pid,
        producer_epoch: epoch,
        commit,
        coordinator_epoch: 0,
        partitions: partitions
            .iter()
            .map(|(t, p)| ((*t).to_owned(), *p))
            .collect(),
    }
}

/// An id initialised at `T0` to producer `FIRST_PID`, epoch 0.
fn initialised(txn: &str) -> Harness {
    let mut h = Harness::new();
    h.at(T0, init(txn));
    h
}

/// An id with an Ongoing transaction on `in-0` started at `T0 + 10`.
fn ongoing(txn: &str) -> Harness {
    let mut h = initialised(txn);
    h.at(T0 + 10, add(txn, FIRST_PID, 0, &[("in", &[0])]));
    h
}

// ---------------------------------------------------------------------------------------------
// Each request, exactly
// ---------------------------------------------------------------------------------------------

#[test]
fn init_producer_id_table() {
    let mut h = Harness::new();
    let p = FIRST_PID;
    let empty = |epoch, at| meta(p, epoch, TxnState::Empty, &[], NO_START, at);
    // (time, request, expected outputs), run in order on one id.
    let table: Vec<(u64, TxnRequest, Vec<TxnOutput>)> = vec![
        // First use: a producer id at epoch 0.
        (
            T0,
            init("t"),
            vec![append("t", &empty(0, T0)), init_resp(ErrorCode::None, p, 0)],
        ),
        // Every call bumps the epoch, fencing the previous producer.
        (
            T0 + 1,
            init("t"),
            vec![
                append("t", &empty(1, T0 + 1)),
                init_resp(ErrorCode::None, p, 1),
            ],
        ),
        // KIP-360: a producer naming its current epoch is bumped too.
        (
            T0 + 2,
            init_v(4, "t", TIMEOUT, p, 1),
            vec![
                append("t", &empty(2, T0 + 2)),
                init_resp(ErrorCode::None, p, 2),
            ],
        ),
        // Its retry (the response was lost) gets the same epoch back, logged again.
        (
            T0 + 3,
            init_v(4, "t", TIMEOUT, p, 1),
            vec![
                append("t", &empty(2, T0 + 3)),
                init_resp(ErrorCode::None, p, 2),
            ],
        ),
        // An older epoch is fenced.
        (
            T0 + 4,
            init_v(4, "t", TIMEOUT, p, 0),
            vec![init_err(ErrorCode::ProducerFenced)],
        ),
        // A new timeout is taken on the next bump.
        (
            T0 + 5,
            init_v(4, "t", 5_000, -1, -1),
            vec![
                append(
                    "t",
                    &TxnMetadata {
                        txn_timeout_ms: 5_000,
                        ..empty(3, T0 + 5)
                    },
                ),
                init_resp(ErrorCode::None, p, 3),
            ],
        ),
        // A second id gets the next producer id.
        (
            T0 + 6,
            init("u"),
            vec![
                append("u", &meta(p + 1, 0, TxnState::Empty, &[], NO_START, T0 + 6)),
                init_resp(ErrorCode::None, p + 1, 0),
            ],
        ),
        // An idempotent producer gets a fresh id at epoch 0 and nothing is logged.
        (
            T0 + 7,
            TxnRequest::InitProducerId(InitProducerIdRequest {
                version: 4,
                transactional_id: None,
                transaction_timeout_ms: 0,
                producer_id: -1,
                producer_epoch: -1,
            }),
            vec![init_resp(ErrorCode::None, p + 2, 0)],
        ),
    ];
    for (i, (now, req, expected)) in table.into_iter().enumerate() {
        assert_eq!(h.at(now, req), expected, "row {i}");
    }
    assert_eq!(h.c.last_producer("t"), Some((p, -1)));
}

#[test]
fn add_partitions_table() {
    let mut h = initialised("t");
    let p = FIRST_PID;
    let table: Vec<(u64, TxnRequest, Vec<TxnOutput>)> = vec![
        // Empty → Ongoing: the transaction starts now.
        (
            T0 + 10,
            add("t", p, 0, &[("in", &[1, 0])]),
            vec![
                append(
                    "t",
                    &meta(
                        p,
                        0,
                        TxnState::Ongoing,
                        &[("in", 0), ("in", 1)],
                        T0 + 10,
                        T0 + 10,
                    ),
                ),
                add_resp(ErrorCode::None, &[("in", &[0, 1])]),
            ],
        ),
        // Nothing new: answered without a record.
        (
            T0 + 11,
            add("t", p, 0, &[("in", &[1])]),
            vec![add_resp(ErrorCode::None, &[("in", &[1])])],
        ),
        // More partitions: the start time stays; duplicates collapse, results come sorted.
        (
            T0 + 12,
            add("t", p, 0, &[("out", &[2, 2]), ("in", &[0])]),
            vec![
                append(
                    "t",
                    &meta(
                        p,
                        0,
                        TxnState::Ongoing,
                        &[("in", 0), ("in", 1), ("out", 2)],
                        T0 + 10,
                        T0 + 12,
                    ),
                ),
                add_resp(ErrorCode::None, &[("in", &[0]), ("out", &[2])]),
            ],
        ),
        // Errors go to every partition.
        (
            T0 + 13,
            add("t", p, 1, &[("x", &[0, 1])]),
            vec![add_resp(ErrorCode::ProducerFenced, &[("x", &[0, 1])])],
        ),
    ];
    for (i, (now, req, expected)) in table.into_iter().enumerate() {
        assert_eq!(h.at(now, req), expected, "row {i}");
    }
}

#[test]
fn add_offsets_table() {
    let mut h = initialised("t");
    let p = FIRST_PID;
    let co = CONSUMER_OFFSETS_TOPIC;
    let table: Vec<(u64, TxnRequest, Vec<TxnOutput>)> = vec![
        // The group's `__consumer_offsets` partition joins the transaction.
        (
            T0 + 10,
            offsets("t", p, 0, "my-group"),
            vec![
                append(
                    "t",
                    &meta(
                        p,
                        0,
                        TxnState::Ongoing,
                        &[(co, MY_GROUP_PARTITION)],
                        T0 + 10,
                        T0 + 10,
                    ),
                ),
                offsets_resp(ErrorCode::None),
            ],
        ),
        // Again: already there, no record.
        (
            T0 + 11,
            offsets("t", p, 0, "my-group"),
            vec![offsets_resp(ErrorCode::None)],
        ),
        // Data partitions join the same transaction.
        (
            T0 + 12,
            add("t", p, 0, &[("out", &[0])]),
            vec![
                append(
                    "t",
                    &meta(
                        p,
                        0,
                        TxnState::Ongoing,
                        &[(co, MY_GROUP_PARTITION), ("out", 0)],
                        T0 + 10,
                        T0 + 12,
                    ),
                ),
                add_resp(ErrorCode::None, &[("out", &[0])]),
            ],
        ),
        (
            T0 + 13,
            offsets("t", p + 1, 0, "my-group"),
            vec![offsets_resp(ErrorCode::InvalidProducerIdMapping)],
        ),
    ];
    for (i, (now, req, expected)) in table.into_iter().enumerate() {
        assert_eq!(h.at(now, req), expected, "row {i}");
    }
}

#[test]
fn end_txn_table() {
    let mut h = initialised("t");
    let p = FIRST_PID;
    let co = CONSUMER_OFFSETS_TOPIC;
    let txn_parts = [(co, MY_GROUP_PARTITION), ("out", 0)];
    h.at(T0 + 10, add("t", p, 0, &[("out", &[0])]));
    h.at(T0 + 11, offsets("t", p, 0, "my-group"));

    enum Step {
        Req(u64, TxnRequest),
        Markers,
    }
    use Step::*;
    let table: Vec<(Step, Vec<TxnOutput>)> = vec![
        // Commit: logged, answered, then the markers go out (to the offsets partition too).
        (
            Req(T0 + 20, end("t", p, 0, true)),
            vec![
                append(
                    "t",
                    &meta(p, 0, TxnState::PrepareCommit, &txn_parts, T0 + 10, T0 + 20),
                ),
                end_resp(ErrorCode::None),
                marker("t", p, 0, true, &txn_parts),
            ],
        ),
        // While markers are in flight, everything waits, even a retry of the same commit.
        (
            Req(T0 + 21, end("t", p, 0, true)),
            vec![end_resp(ErrorCode::ConcurrentTransactions)],
        ),
        (
            Req(T0 + 22, end("t", p, 0, false)),
            vec![end_resp(ErrorCode::ConcurrentTransactions)],
        ),
        // Markers written: CompleteCommit, stamped when the commit was decided.
        (
            Markers,
            vec![append(
                "t",
                &meta(p, 0, TxnState::CompleteCommit, &[], T0 + 10, T0 + 20),
            )],
        ),
        // A retry of the commit succeeds; an abort of it is refused.
        (
            Req(T0 + 30, end("t", p, 0, true)),
            vec![end_resp(ErrorCode::None)],
        ),
        (
            Req(T0 + 31, end("t", p, 0, false)),
            vec![end_resp(ErrorCode::InvalidTxnState)],
        ),
        // A second transaction on the same epoch, aborted.
        (
            Req(T0 + 40, add("t", p, 0, &[("out", &[1])])),
            vec![
                append(
                    "t",
                    &meta(p, 0, TxnState::Ongoing, &[("out", 1)], T0 + 40, T0 + 40),
                ),
                add_resp(ErrorCode::None, &[("out", &[1])]),
            ],
        ),
        (
            Req(T0 + 41, end("t", p, 0, false)),
            vec![
                append(
                    "t",
                    &meta(
                        p,
                        0,
                        TxnState::PrepareAbort,
                        &[("out", 1)],
                        T0 + 40,
                        T0 + 41,
                    ),
                ),
                end_resp(ErrorCode::None),
                marker("t", p, 0, false, &[("out", 1)]),
            ],
        ),
        (
            Markers,
            vec![append(
                "t",
                &meta(p, 0, TxnState::CompleteAbort, &[], T0 + 40, T0 + 41),
            )],
        ),
        (
            Req(T0 + 50, end("t", p, 0, false)),
            vec![end_resp(ErrorCode::None)],
        ),
        (
            Req(T0 + 51, end("t", p, 0, true)),
            vec![end_resp(ErrorCode::InvalidTxnState)],
        ),
    ];
    for (i, (step, expected)) in table.into_iter().enumerate() {
        let got = match step {
            Req(now, req) => h.at(now, req),
            Markers => h.markers_written("t"),
        };
        assert_eq!(got, expected, "row {i}");
    }
    assert!(!h.c.markers_written("t"), "nothing left in flight");
}

#[test]
fn a_transaction_without_partitions_completes_at_once() {
    let mut h = initialised("t");
    let p = FIRST_PID;
    assert_eq!(
        h.at(T0 + 10, add("t", p, 0, &[])),
        vec![
            append("t", &meta(p, 0, TxnState::Ongoing, &[], T0 + 10, T0 + 10)),
            add_resp(ErrorCode::None, &[]),
        ]
    );
    // No partition to mark: Kafka's marker manager writes the completion straight away.
    assert_eq!(
        h.at(T0 + 20, end("t", p, 0, true)),
        vec![
            append(
                "t",
                &meta(p, 0, TxnState::PrepareCommit, &[], T0 + 10, T0 + 20)
            ),
            end_resp(ErrorCode::None),
            append(
                "t",
                &meta(p, 0, TxnState::CompleteCommit, &[], T0 + 10, T0 + 20)
            ),
        ]
    );
}

#[test]
fn responses_carry_the_request_id() {
    let mut c = TransactionCoordinator::new(TxnConfig::default(), SequentialProducerIds::default())
        .expect("valid config");
    c.handle_request(T0, 41, init("t"));
    c.handle_request(T0, 42, end("t", 0, 0, true));
    let ids: Vec<u64> = std::iter::from_fn(|| c.poll_output())
        .filter_map(|o| match o {
            TxnOutput::Response { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![41, 42]);
}

// ---------------------------------------------------------------------------------------------
// One test per error code
// ---------------------------------------------------------------------------------------------

#[test]
fn error_producer_fenced() {
    let mut h = ongoing("t");
    let p = FIRST_PID;
    // A stale epoch on each API (the checks run after the producer id's).
    assert_eq!(
        h.at(T0 + 20, add("t", p, 1, &[("in", &[0])])),
        vec![add_resp(ErrorCode::ProducerFenced, &[("in", &[0])])]
    );
    assert_eq!(
        h.at(T0 + 20, offsets("t", p, 1, "g")),
        vec![offsets_resp(ErrorCode::ProducerFenced)]
    );
    assert_eq!(
        h.at(T0 + 20, end("t", p, -5, true)),
        vec![end_resp(ErrorCode::ProducerFenced)]
    );
    // InitProducerId naming a producer id that is neither current nor previous.
    assert_eq!(
        h.at(T0 + 20, init_v(4, "t", TIMEOUT, p + 9, 0)),
        vec![init_err(ErrorCode::ProducerFenced)]
    );
    assert_eq!(h.meta("t").state, TxnState::Ongoing, "nothing changed");
}

#[test]
fn error_invalid_producer_epoch_for_clients_before_kip_588() {
    let mut h = ongoing("t");
    let p = FIRST_PID;
    // The same fencing, reported with the code old clients understand.
    assert_eq!(
        h.at(T0 + 20, add_v(1, "t", p, 1, &[("in", &[0])])),
        vec![add_resp(ErrorCode::InvalidProducerEpoch, &[("in", &[0])])]
    );
    assert_eq!(
        h.at(T0 + 20, offsets_v(1, "t", p, 1, "g")),
        vec![offsets_resp(ErrorCode::InvalidProducerEpoch)]
    );
    assert_eq!(
        h.at(T0 + 20, end_v(1, "t", p, 1, true)),
        vec![end_resp(ErrorCode::InvalidProducerEpoch)]
    );
    assert_eq!(
        h.at(T0 + 20, init_v(3, "t", TIMEOUT, p + 9, 0)),
        vec![init_err(ErrorCode::InvalidProducerEpoch)]
    );
    // Version 2 of the data APIs and version 4 of InitProducerId know PRODUCER_FENCED.
    assert_eq!(
        h.at(T0 + 20, add_v(2, "t", p, 1, &[("in", &[0])])),
        vec![add_resp(ErrorCode::ProducerFenced, &[("in", &[0])])]
    );
    assert_eq!(
        h.at(T0 + 20, offsets_v(2, "t", p, 1, "g")),
        vec![offsets_resp(ErrorCode::ProducerFenced)]
    );
    assert_eq!(
        h.at(T0 + 20, end_v(2, "t", p, 1, true)),
        vec![end_resp(ErrorCode::ProducerFenced)]
    );
}

/// `durable_state` is every transactional id's metadata, as `transaction` gives it (the
/// replay-equals-live checks compare it, so it must not be empty).
#[test]
fn the_durable_state_holds_every_transactional_id() {
    let mut h = ongoing("t");
    h.at(T0 + 11, init("u"));
    let state = h.c.durable_state();
    assert_eq!(
        state.keys().map(String::as_str).collect::<Vec<_>>(),
        ["t", "u"]
    );
    assert_eq!(state["t"], h.meta("t"));
    assert_eq!(state["t"].state, TxnState::Ongoing);
    assert_eq!(state["u"], h.meta("u"));
}

/// The state names DescribeTransactions and ListTransactions report are Kafka's.
#[test]
fn transaction_states_have_kafkas_names() {
    let names: Vec<&str> = TxnState::ALL.iter().map(|s| s.name()).collect();
    let shown: Vec<String> = TxnState::ALL.iter().map(|s| s.to_string()).collect();
    assert_eq!(shown, names, "Display shows the name");
    assert_eq!(
        names,
        [
            "Empty",
            "Ongoing",
            "PrepareCommit",
            "PrepareAbort",
            "CompleteCommit",
            "CompleteAbort",
            "Dead",
            "PrepareEpochFence"
        ]
    );
}

#[test]
fn error_invalid_producer_id_mapping() {
    let mut h = ongoing("t");
    let p = FIRST_PID;
    // Unknown transactional id.
    assert_eq!(
        h.at(T0 + 20, add("nope", p, 0, &[("in", &[0])])),
        vec![add_resp(
            ErrorCode::InvalidProducerIdMapping,
            &[("in", &[0])]
        )]
    );
    assert_eq!(
        h.at(T0 + 20, offsets("nope", p, 0, "g")),
        vec![offsets_resp(ErrorCode::InvalidProducerIdMapping)]
    );
    assert_eq!(
        h.at(T0 + 20, end("nope", p, 0, true)),
        vec![end_resp(ErrorCode::InvalidProducerIdMapping)]
    );
    // Wrong producer id: checked before the epoch, so a wrong epoch too still maps here.
    assert_eq!(
        h.at(T0 + 20, add("t", p + 1, 5, &[("in", &[0])])),
        vec![add_resp(
            ErrorCode::InvalidProducerIdMapping,
            &[("in", &[0])]
        )]
    );
    assert_eq!(
        h.at(T0 + 20, end("t", p + 1, 5, true)),
        vec![end_resp(ErrorCode::InvalidProducerIdMapping)]
    );
}

#[test]
fn error_concurrent_transactions() {
    let mut h = ongoing("t");
    let p = FIRST_PID;
    h.at(T0 + 20, end("t", p, 0, true));
    // PrepareCommit: every request from the current producer waits for the markers.
    assert_eq!(
        h.at(T0 + 21, add("t", p, 0, &[("in", &[0])])),
        vec![add_resp(ErrorCode::ConcurrentTransactions, &[("in", &[0])])]
    );
    assert_eq!(
        h.at(T0 + 21, offsets("t", p, 0, "g")),
        vec![offsets_resp(ErrorCode::ConcurrentTransactions)]
    );
    assert_eq!(
        h.at(T0 + 21, end("t", p, 0, false)),
        vec![end_resp(ErrorCode::ConcurrentTransactions)]
    );
    // InitProducerId checks the pending transition before anything else, even fencing.
    assert_eq!(
        h.at(T0 + 21, init_v(4, "t", TIMEOUT, p + 9, 0)),
        vec![init_err(ErrorCode::ConcurrentTransactions)]
    );
    // Fencing is checked before it on the other APIs.
    assert_eq!(
        h.at(T0 + 21, end("t", p, 3, false)),
        vec![end_resp(ErrorCode::ProducerFenced)]
    );
}

#[test]
fn error_invalid_txn_state() {
    let mut h = initialised("t");
    let p = FIRST_PID;
    // Nothing to end.
    assert_eq!(
        h.at(T0 + 1, end("t", p, 0, true)),
        vec![end_resp(ErrorCode::InvalidTxnState)]
    );
    assert_eq!(
        h.at(T0 + 1, end("t", p, 0, false)),
        vec![end_resp(ErrorCode::InvalidTxnState)]
    );
    // The opposite of a completed decision (CompleteAbort and commit is in end_txn_table).
    h.at(T0 + 2, add("t", p, 0, &[("in", &[0])]));
    h.at(T0 + 3, end("t", p, 0, true));
    h.markers_written("t");
    assert_eq!(
        h.at(T0 + 4, end("t", p, 0, false)),
        vec![end_resp(ErrorCode::InvalidTxnState)]
    );
}

#[test]
fn error_invalid_request() {
    let mut h = initialised("t");
    let p = FIRST_PID;
    assert_eq!(
        h.at(T0, init("")),
        vec![init_err(ErrorCode::InvalidRequest)]
    );
    // A producer id without an epoch, or the reverse (KafkaApis refuses it first).
    assert_eq!(
        h.at(T0, init_v(4, "t", TIMEOUT, p, -1)),
        vec![init_err(ErrorCode::InvalidRequest)]
    );
    assert_eq!(
        h.at(T0, init_v(4, "t", TIMEOUT, -1, 0)),
        vec![init_err(ErrorCode::InvalidRequest)]
    );
    assert_eq!(
        h.at(T0, add("", p, 0, &[("in", &[0])])),
        vec![add_resp(ErrorCode::InvalidRequest, &[("in", &[0])])]
    );
    assert_eq!(
        h.at(T0, offsets("", p, 0, "g")),
        vec![offsets_resp(ErrorCode::InvalidRequest)]
    );
    assert_eq!(
        h.at(T0, end("", p, 0, true)),
        vec![end_resp(ErrorCode::InvalidRequest)]
    );
    // Strings longer than Kafka's int16 length cannot have come off the wire.
    let long = "x".repeat(40_000);
    assert_eq!(
        h.at(T0, init(&long)),
        vec![init_err(ErrorCode::InvalidRequest)]
    );
    assert_eq!(
        h.at(T0, add("t", p, 0, &[(long.as_str(), &[0])])),
        vec![add_resp(
            ErrorCode::InvalidRequest,
            &[(long.as_str(), &[0])]
        )]
    );
}

#[test]
fn error_invalid_transaction_timeout() {
    let mut h = Harness::new();
    for timeout in [0, -1, 900_001, i32::MAX] {
        assert_eq!(
            h.at(T0, init_v(4, "t", timeout, -1, -1)),
            vec![init_err(ErrorCode::InvalidTransactionTimeout)],
            "timeout {timeout}"
        );
    }
    assert_eq!(
        h.at(T0, init_v(4, "t", 900_000, -1, -1)),
        vec![
            append(
                "t",
                &TxnMetadata {
                    txn_timeout_ms: 900_000,
                    ..meta(FIRST_PID, 0, TxnState::Empty, &[], NO_START, T0)
                }
            ),
            init_resp(ErrorCode::None, FIRST_PID, 0),
        ]
    );
}

#[test]
fn error_unknown_server_error_where_kafka_throws() {
    // An exhausted epoch that the request does not name: Kafka refuses to bump it and throws.
    let log = vec![TxnLogRecord::of(
        "t",
        &meta(
            FIRST_PID,
            i16::MAX - 1,
            TxnState::CompleteCommit,
            &[],
            T0,
            T0,
        ),
    )];
    let mut h = Harness::with_log(log, FIRST_PID + 1);
    assert_eq!(
        h.at(T0 + 1, init_v(4, "t", TIMEOUT, FIRST_PID, 5)),
        vec![init_err(ErrorCode::UnknownServerError)]
    );
    // A state Kafka never logs.
    let log = vec![TxnLogRecord::of(
        "d",
        &meta(FIRST_PID, 3, TxnState::Dead, &[], T0, T0),
    )];
    let mut h = Harness::with_log(log, FIRST_PID + 1);
    assert_eq!(
        h.at(T0 + 1, init("d")),
        vec![init_err(ErrorCode::UnknownServerError)]
    );
    assert_eq!(
        h.at(T0 + 1, end("d", FIRST_PID, 3, true)),
        vec![end_resp(ErrorCode::UnknownServerError)]
    );
}

#[derive(Debug)]
struct NoProducerIds;

impl ProducerIdGenerator for NoProducerIds {
    fn next_producer_id(&mut self) -> Result<i64, ErrorCode> {
        Err(ErrorCode::CoordinatorLoadInProgress)
    }
}

#[test]
fn error_from_the_producer_id_generator_is_returned() {
    let mut c =
        TransactionCoordinator::new(TxnConfig::default(), NoProducerIds).expect("valid config");
    c.handle_request(T0, ID, init("t"));
    assert_eq!(
        c.poll_output(),
        Some(init_err(ErrorCode::CoordinatorLoadInProgress))
    );
    assert_eq!(c.poll_output(), None);
    assert_eq!(c.transaction("t"), None, "nothing was created");
}

// ---------------------------------------------------------------------------------------------
// Fencing, timeouts, expiration, exhaustion, failover
// ---------------------------------------------------------------------------------------------

#[test]
fn a_second_init_producer_id_fences_the_first_producers_transaction() {
    let mut h = initialised("t");
    let p = FIRST_PID;
    let co = CONSUMER_OFFSETS_TOPIC;
    h.at(T0 + 10, add("t", p, 0, &[("out", &[0])]));
    h.at(T0 + 11, offsets("t", p, 0, "my-group"));
    let txn_parts = [(co, MY_GROUP_PARTITION), ("out", 0)];

    // Producer B starts with the same transactional id: A's transaction is aborted at a
    // bumped epoch, and B is asked to retry.
    assert_eq!(
        h.at(T0 + 20, init("t")),
        vec![
            append(
                "t",
                &meta(p, 1, TxnState::PrepareAbort, &txn_parts, T0 + 10, T0 + 20),
            ),
            init_err(ErrorCode::ConcurrentTransactions),
            marker("t", p, 1, false, &txn_parts),
        ]
    );
    // A is fenced on everything it still tries.
    assert_eq!(
        h.at(T0 + 21, offsets("t", p, 0, "my-group")),
        vec![offsets_resp(ErrorCode::ProducerFenced)]
    );
    assert_eq!(
        h.at(T0 + 21, end("t", p, 0, true)),
        vec![end_resp(ErrorCode::ProducerFenced)]
    );
    // B's retry waits for the abort markers.
    assert_eq!(
        h.at(T0 + 22, init("t")),
        vec![init_err(ErrorCode::ConcurrentTransactions)]
    );
    assert_eq!(
        h.markers_written("t"),
        vec![append(
            "t",
            &meta(p, 1, TxnState::CompleteAbort, &[], T0 + 10, T0 + 20)
        )]
    );
    // Then B gets the epoch after the fencing one, and A stays fenced.
    assert_eq!(
        h.at(T0 + 30, init("t")),
        vec![
            append("t", &meta(p, 2, TxnState::Empty, &[], NO_START, T0 + 30)),
            init_resp(ErrorCode::None, p, 2),
        ]
    );
    assert_eq!(
        h.at(T0 + 31, end("t", p, 0, true)),
        vec![end_resp(ErrorCode::ProducerFenced)]
    );
    assert_eq!(
        h.at(T0 + 31, offsets("t", p, 0, "my-group")),
        vec![offsets_resp(ErrorCode::ProducerFenced)]
    );
    // A's KIP-360 attempt to recover with its old epoch is fenced as well: nothing remembers it.
    assert_eq!(
        h.at(T0 + 32, init_v(4, "t", TIMEOUT, p, 0)),
        vec![init_err(ErrorCode::ProducerFenced)]
    );
}

#[test]
fn a_second_init_producer_id_between_transactions_fences_at_once() {
    let mut h = initialised("t");
    let p = FIRST_PID;
    assert_eq!(
        h.at(T0 + 1, init("t")),
        vec![
            append("t", &meta(p, 1, TxnState::Empty, &[], NO_START, T0 + 1)),
            init_resp(ErrorCode::None, p, 1),
        ]
    );
    assert_eq!(
        h.at(T0 + 2, offsets("t", p, 0, "my-group")),
        vec![offsets_resp(ErrorCode::ProducerFenced)]
    );
    assert_eq!(
        h.at(T0 + 2, end("t", p, 0, true)),
        vec![end_resp(ErrorCode::ProducerFenced)]
    );
}

#[test]
fn a_timed_out_transaction_is_aborted_at_a_bumped_epoch() {
    let mut h = Harness::new();
    let p = FIRST_PID;
    h.at(T0, init_v(4, "t", 10_000, -1, -1));
    assert_eq!(h.c.poll_timeout(), Some(T0 + WEEK_MS), "only expiration");
    h.at(T0 + 100, add("t", p, 0, &[("in", &[0])]));
    // Kafka aborts once start + timeout < now.
    let deadline = T0 + 100 + 10_000 + 1;
    assert_eq!(h.c.poll_timeout(), Some(deadline));
    assert_eq!(h.timeout(deadline - 1), vec![]);
    let aborted = TxnMetadata {
        txn_timeout_ms: 10_000,
        ..meta(
            p,
            1,
            TxnState::PrepareAbort,
            &[("in", 0)],
            T0 + 100,
            deadline,
        )
    };
    assert_eq!(
        h.timeout(deadline),
        vec![
            append("t", &aborted),
            marker("t", p, 1, false, &[("in", 0)])
        ]
    );
    assert_eq!(
        h.c.poll_timeout(),
        None,
        "markers in flight: nothing to time"
    );
    // The late producer is fenced (KIP-360).
    assert_eq!(
        h.at(deadline + 1, end("t", p, 0, true)),
        vec![end_resp(ErrorCode::ProducerFenced)]
    );
    assert_eq!(
        h.at(deadline + 1, add("t", p, 0, &[("in", &[1])])),
        vec![add_resp(ErrorCode::ProducerFenced, &[("in", &[1])])]
    );
    h.markers_written("t");
    assert_eq!(h.meta("t").state, TxnState::CompleteAbort);
    assert_eq!(h.c.poll_timeout(), Some(deadline + WEEK_MS));
    // A new producer starts at the epoch after the fence.
    assert_eq!(
        h.at(deadline + 2, init_v(4, "t", 10_000, -1, -1))
            .last()
            .cloned(),
        Some(init_resp(ErrorCode::None, p, 2))
    );
}

#[test]
fn an_idle_transactional_id_expires_with_a_tombstone() {
    let mut h = initialised("t");
    assert_eq!(h.c.poll_timeout(), Some(T0 + WEEK_MS));
    assert_eq!(h.timeout(T0 + WEEK_MS - 1), vec![]);
    assert_eq!(h.timeout(T0 + WEEK_MS), vec![tombstone("t")]);
    assert_eq!(h.c.transaction("t"), None);
    assert_eq!(h.c.poll_timeout(), None);
    // The id starts over with a new producer id.
    assert_eq!(
        h.at(T0 + WEEK_MS + 1, init("t")).last().cloned(),
        Some(init_resp(ErrorCode::None, FIRST_PID + 1, 0))
    );
}

#[test]
fn an_exhausted_epoch_rolls_to_a_new_producer_id() {
    let last_usable = i16::MAX - 1;
    let log = vec![TxnLogRecord::of(
        "t",
        &meta(
            FIRST_PID,
            last_usable - 1,
            TxnState::Empty,
            &[],
            NO_START,
            T0,
        ),
    )];
    let mut h = Harness::with_log(log, FIRST_PID + 1);
    assert_eq!(
        h.at(T0 + 1, init("t")).last().cloned(),
        Some(init_resp(ErrorCode::None, FIRST_PID, last_usable))
    );
    // The next bump would leave no epoch to fence with: a new producer id at epoch 0.
    assert_eq!(
        h.at(T0 + 2, init_v(4, "t", TIMEOUT, FIRST_PID, last_usable)),
        vec![
            append(
                "t",
                &meta(FIRST_PID + 1, 0, TxnState::Empty, &[], NO_START, T0 + 2)
            ),
            init_resp(ErrorCode::None, FIRST_PID + 1, 0),
        ]
    );
    assert_eq!(h.c.last_producer("t"), Some((FIRST_PID, last_usable)));
    // A retry naming the old producer and its exhausted epoch gets the same answer back.
    assert_eq!(
        h.at(T0 + 3, init_v(4, "t", TIMEOUT, FIRST_PID, last_usable)),
        vec![
            append(
                "t",
                &meta(FIRST_PID + 1, 0, TxnState::Empty, &[], NO_START, T0 + 3)
            ),
            init_resp(ErrorCode::None, FIRST_PID + 1, 0),
        ]
    );
}

#[test]
fn fencing_at_the_last_epoch_then_rolls_the_producer_id() {
    let last_usable = i16::MAX - 1;
    let log = vec![TxnLogRecord::of(
        "t",
        &meta(
            FIRST_PID,
            last_usable,
            TxnState::Ongoing,
            &[("in", 0)],
            T0,
            T0,
        ),
    )];
    let mut h = Harness::with_log(log, FIRST_PID + 1);
    assert_eq!(
        h.at(T0 + 1, init("t")),
        vec![
            append(
                "t",
                &meta(
                    FIRST_PID,
                    i16::MAX,
                    TxnState::PrepareAbort,
                    &[("in", 0)],
                    T0,
                    T0 + 1
                )
            ),
            init_err(ErrorCode::ConcurrentTransactions),
            marker("t", FIRST_PID, i16::MAX, false, &[("in", 0)]),
        ]
    );
    h.markers_written("t");
    assert_eq!(
        h.at(T0 + 2, init("t")).last().cloned(),
        Some(init_resp(ErrorCode::None, FIRST_PID + 1, 0))
    );
}

#[test]
fn failover_resends_the_markers_of_prepared_transactions() {
    let mut h = ongoing("t");
    let p = FIRST_PID;
    h.at(T0 + 20, end("t", p, 0, true));
    // A new leader loads the log: the commit's markers may never have been sent.
    let mut c = TransactionCoordinator::load(
        TxnConfig {
            coordinator_epoch: 5,
            ..TxnConfig::default()
        },
        SequentialProducerIds::starting_at(p + 1),
        &h.log,
        T0 + 500,
    )
    .expect("valid config");
    assert_eq!(
        c.poll_output(),
        Some(TxnOutput::Marker {
            transactional_id: "t".to_owned(),
            producer_id: p,
            producer_epoch: 0,
            commit: true,
            coordinator_epoch: 5,
            partitions: vec![("in".to_owned(), 0)],
        })
    );
    assert_eq!(c.poll_output(), None);
    assert_eq!(c.durable_state(), h.c.durable_state());
    assert_eq!(c.last_producer("t"), Some((-1, -1)), "in-memory only");
    // The requests still wait; completion is stamped with the load time.
    c.handle_request(T0 + 501, ID, end("t", p, 0, true));
    assert_eq!(
        c.poll_output(),
        Some(end_resp(ErrorCode::ConcurrentTransactions))
    );
    assert!(c.markers_written("t"));
    assert_eq!(
        c.poll_output(),
        Some(append(
            "t",
            &meta(p, 0, TxnState::CompleteCommit, &[], T0 + 10, T0 + 500)
        ))
    );
}

#[test]
fn bad_configurations_are_refused() {
    for config in [
        TxnConfig {
            offsets_topic_partitions: 0,
            ..TxnConfig::default()
        },
        TxnConfig {
            transaction_max_timeout_ms: 0,
            ..TxnConfig::default()
        },
        TxnConfig {
            transactional_id_expiration_ms: -1,
            ..TxnConfig::default()
        },
    ] {
        assert!(TransactionCoordinator::new(config, SequentialProducerIds::default()).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

fn sample_record() -> TxnLogRecord {
    TxnLogRecord {
        transactional_id: "t1".to_owned(),
        value: Some(TxnLogValue {
            producer_id: 1000,
            producer_epoch: 2,
            transaction_timeout_ms: 60_000,
            transaction_status: TxnState::Ongoing,
            transaction_partitions: Some(vec![TxnLogPartitions {
                topic: "a".to_owned(),
                partition_ids: vec![0, 1],
            }]),
            transaction_last_update_timestamp_ms: 10,
            transaction_start_timestamp_ms: 5,
        }),
    }
}

#[rustfmt::skip]
const SAMPLE_KEY: &[u8] = &[
    0x00, 0x00,             // key version 0
    0x00, 0x02, b't', b'1', // transactional_id
];

#[rustfmt::skip]
const SAMPLE_VALUE_V0: &[u8] = &[
    0x00, 0x00,                                     // value version 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, // producer_id 1000
    0x00, 0x02,                                     // producer_epoch 2
    0x00, 0x00, 0xea, 0x60,                         // transaction_timeout_ms 60000
    0x01,                                           // transaction_status Ongoing
    0x00, 0x00, 0x00, 0x01,                         // 1 topic
    0x00, 0x01, b'a',                               // topic "a"
    0x00, 0x00, 0x00, 0x02,                         // 2 partitions
    0x00, 0x00, 0x00, 0x00,                         // 0
    0x00, 0x00, 0x00, 0x01,                         // 1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, // last update 10
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, // start 5
];

#[rustfmt::skip]
const SAMPLE_VALUE_V1: &[u8] = &[
    0x00, 0x01,                                     // value version 1 (flexible)
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, // producer_id 1000
    0x00, 0x02,                                     // producer_epoch 2
    0x00, 0x00, 0xea, 0x60,                         // transaction_timeout_ms 60000
    0x01,                                           // transaction_status Ongoing
    0x02,                                           // compact array: 1 topic
    0x02, b'a',                                     // compact string "a"
    0x03,                                           // compact array: 2 partitions
    0x00, 0x00, 0x00, 0x00,                         // 0
    0x00, 0x00, 0x00, 0x01,                         // 1
    0x00,                                           // topic's tagged fields
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, // last update 10
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, // start 5
    0x00,                                           // tagged fields
];

#[test]
fn record_fixed_bytes() {
    let record = sample_record();
    assert_eq!(record.encode_key(), Ok(SAMPLE_KEY.to_vec()));
    assert_eq!(record.encode_value(0), Ok(Some(SAMPLE_VALUE_V0.to_vec())));
    assert_eq!(record.encode_value(1), Ok(Some(SAMPLE_VALUE_V1.to_vec())));
    assert_eq!(
        record.encode(),
        Ok((SAMPLE_KEY.to_vec(), Some(SAMPLE_VALUE_V0.to_vec())))
    );
    assert_eq!(
        TxnLogRecord::decode(SAMPLE_KEY, Some(SAMPLE_VALUE_V0)),
        Ok(record.clone())
    );
    assert_eq!(
        TxnLogRecord::decode(SAMPLE_KEY, Some(SAMPLE_VALUE_V1)),
        Ok(record)
    );
}

#[test]
fn empty_state_writes_null_partitions() {
    let record = TxnLogRecord::of("t", &meta(7, 0, TxnState::Empty, &[], NO_START, 3));
    let value = record.encode_value(0).expect("encodes").expect("a value");
    // After the status byte: int32 -1 for the null array.
    assert_eq!(&value[17..21], &[0xff, 0xff, 0xff, 0xff]);
    let flexible = record.encode_value(1).expect("encodes").expect("a value");
    assert_eq!(flexible[17], 0x00, "compact null array");
    let key = record.encode_key().expect("encodes");
    assert_eq!(TxnLogRecord::decode(&key, Some(&value)), Ok(record.clone()));
    assert_eq!(TxnLogRecord::decode(&key, Some(&flexible)), Ok(record));
}

#[test]
fn flexible_values_skip_unknown_tagged_fields() {
    // Kafka 4 adds tagged fields (e.g. the previous producer id) to version 1.
    let mut value = SAMPLE_VALUE_V1.to_vec();
    let last = value.len() - 1;
    value.truncate(last);
    value.extend_from_slice(&[0x01, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0x03, 0xe7]);
    assert_eq!(
        TxnLogRecord::decode(SAMPLE_KEY, Some(&value)),
        Ok(sample_record())
    );
}

#[test]
fn tombstones_round_trip() {
    let record = TxnLogRecord {
        transactional_id: "gone".to_owned(),
        value: None,
    };
    let (key, value) = record.encode().expect("encodes");
    assert_eq!(value, None);
    assert_eq!(TxnLogRecord::decode(&key, None), Ok(record));
}

#[test]
fn bad_records_are_refused_with_their_position() {
    let err = |key: &[u8], value: Option<&[u8]>| {
        TxnLogRecord::decode(key, value).expect_err("must be refused")
    };
    let e = err(&[0x00, 0x01, 0x00, 0x00], None);
    assert!(e.what.contains("key version 1"), "{e}");
    let e = err(&SAMPLE_KEY[..4], None);
    assert_eq!(e.at, 4, "{e}");
    let mut trailing = SAMPLE_VALUE_V0.to_vec();
    trailing.push(0);
    let e = err(SAMPLE_KEY, Some(&trailing));
    assert!(e.what.contains("1 trailing bytes"), "{e}");
    let mut status = SAMPLE_VALUE_V0.to_vec();
    status[16] = 9;
    let e = err(SAMPLE_KEY, Some(&status));
    assert_eq!((e.at, e.what.contains("status 9")), (16, true), "{e}");
    let e = err(SAMPLE_KEY, Some(&[0x00, 0x02]));
    assert!(e.what.contains("value version 2"), "{e}");
    let e = err(SAMPLE_KEY, Some(&SAMPLE_VALUE_V0[..30]));
    assert!(e.what.contains("bytes needed"), "{e}");
    let mut null_ids = SAMPLE_VALUE_V0.to_vec();
    null_ids.splice(24..36, [0xff, 0xff, 0xff, 0xff]);
    let e = err(SAMPLE_KEY, Some(&null_ids));
    assert_eq!(e.at, 24, "{e}");
    // Too long to encode.
    let long = TxnLogRecord {
        transactional_id: "x".repeat(40_000),
        value: None,
    };
    assert!(long.encode_key().is_err());
    assert!(sample_record().encode_value(2).is_err());
}

fn arb_state() -> impl Strategy<Value = TxnState> {
    prop::sample::select(TxnState::ALL.to_vec())
}

fn arb_record() -> impl Strategy<Value = TxnLogRecord> {
    let partitions = prop::option::of(prop::collection::vec(
        ("[a-z_.-]{0,12}", prop::collection::vec(any::<i32>(), 0..4)).prop_map(
            |(topic, partition_ids)| TxnLogPartitions {
                topic,
                partition_ids,
            },
        ),
        0..4,
    ));
    let value = (
        any::<i64>(),
        any::<i16>(),
        any::<i32>(),
        arb_state(),
        partitions,
        any::<i64>(),
        any::<i64>(),
    )
        .prop_map(
            |(pid, epoch, timeout, status, partitions, last, start)| TxnLogValue {
                producer_id: pid,
                producer_epoch: epoch,
                transaction_timeout_ms: timeout,
                transaction_status: status,
                transaction_partitions: partitions,
                transaction_last_update_timestamp_ms: last,
                transaction_start_timestamp_ms: start,
            },
        );
    ("\\PC{0,16}", prop::option::of(value)).prop_map(|(transactional_id, value)| TxnLogRecord {
        transactional_id,
        value,
    })
}

proptest! {
    #[test]
    fn records_round_trip(record in arb_record(), version in 0i16..=1) {
        let key = record.encode_key().expect("encodes");
        let value = record.encode_value(version).expect("encodes");
        prop_assert_eq!(TxnLogRecord::decode(&key, value.as_deref()), Ok(record));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(
        key in prop::collection::vec(any::<u8>(), 0..16),
        value in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
    ) {
        let _ = TxnLogRecord::decode(&key, value.as_deref());
    }
}

// ---------------------------------------------------------------------------------------------
// Random request sequences
// ---------------------------------------------------------------------------------------------

const TXNS: [&str; 2] = ["a", "b"];
const TOPICS: [&str; 2] = ["in", "out"];
const GROUPS: [&str; 2] = ["g1", "g2"];

/// Which producer id and epoch a request carries.
#[derive(Debug, Clone)]
enum Who {
    /// The last one this transactional id's producer was given (-1/-1 if none).
    Producer,
    /// Whatever the coordinator holds now.
    Current,
    /// The current producer id with an epoch off by `delta`.
    Skewed(i16),
    /// Made up.
    Other(i64, i16),
}

#[derive(Debug, Clone)]
enum Op {
    Init {
        txn: usize,
        timeout: i32,
        who: Option<Who>,
        version: i16,
    },
    Add {
        txn: usize,
        who: Who,
        parts: Vec<(usize, i32)>,
        version: i16,
    },
    Offsets {
        txn: usize,
        who: Who,
        group: usize,
        version: i16,
    },
    End {
        txn: usize,
        who: Who,
        commit: bool,
        version: i16,
    },
    Advance(u64),
    Timeout,
    Markers {
        txn: usize,
    },
    Failover,
}

fn arb_who() -> impl Strategy<Value = Who> {
    prop_oneof![
        4 => Just(Who::Producer),
        2 => Just(Who::Current),
        1 => (-2i16..=2).prop_map(Who::Skewed),
        1 => (-1i64..1003, -1i16..3).prop_map(|(p, e)| Who::Other(p, e)),
    ]
}

fn arb_op() -> impl Strategy<Value = Op> {
    let txn = 0..TXNS.len();
    prop_oneof![
        2 => (txn.clone(), prop::sample::select(vec![5_000, 60_000, 0]),
              prop::option::of(arb_who()), prop::sample::select(vec![3i16, 4]))
            .prop_map(|(txn, timeout, who, version)| Op::Init { txn, timeout, who, version }),
        4 => (txn.clone(), arb_who(),
              prop::collection::vec((0..TOPICS.len(), 0i32..3), 0..3),
              prop::sample::select(vec![1i16, 3]))
            .prop_map(|(txn, who, parts, version)| Op::Add { txn, who, parts, version }),
        2 => (txn.clone(), arb_who(), 0..GROUPS.len(), prop::sample::select(vec![1i16, 3]))
            .prop_map(|(txn, who, group, version)| Op::Offsets { txn, who, group, version }),
        3 => (txn.clone(), arb_who(), any::<bool>(), prop::sample::select(vec![1i16, 3]))
            .prop_map(|(txn, who, commit, version)| Op::End { txn, who, commit, version }),
        2 => prop::sample::select(vec![1u64, 1_000, 4_000, 70_000, WEEK_MS]).prop_map(Op::Advance),
        1 => Just(Op::Timeout),
        2 => txn.clone().prop_map(|txn| Op::Markers { txn }),
        1 => Just(Op::Failover),
    ]
}

/// The driver of one random run and what it has seen.
struct Run {
    c: TransactionCoordinator,
    log: Vec<TxnLogRecord>,
    now: u64,
    next_request: u64,
    /// Each id's producer as its last successful InitProducerId left it.
    producers: BTreeMap<String, (i64, i16)>,
    /// Each id's highest (producer id, epoch) seen in the durable state.
    high_water: BTreeMap<String, (i64, i16)>,
    /// Markers sent and not yet written, per id.
    in_flight: BTreeMap<String, TxnOutput>,
}

impl Run {
    fn new() -> Run {
        Run {
            c: TransactionCoordinator::new(
                TxnConfig::default(),
                SequentialProducerIds::starting_at(FIRST_PID),
            )
            .expect("valid config"),
            log: Vec::new(),
            now: T0,
            next_request: 0,
            producers: BTreeMap::new(),
            high_water: BTreeMap::new(),
            in_flight: BTreeMap::new(),
        }
    }

    fn ids(&self, txn: &str, who: &Who) -> (i64, i16) {
        let current = self
            .c
            .transaction(txn)
            .map_or((-1, -1), |m| (m.producer_id, m.producer_epoch));
        match who {
            Who::Producer => self.producers.get(txn).copied().unwrap_or((-1, -1)),
            Who::Current => current,
            Who::Skewed(d) => (current.0, current.1.saturating_add(*d)),
            Who::Other(p, e) => (*p, *e),
        }
    }

    fn drain(&mut self) -> Vec<TxnOutput> {
        let out: Vec<TxnOutput> = std::iter::from_fn(|| self.c.poll_output()).collect();
        for o in &out {
            if let TxnOutput::Append(r) = o {
                // Every record the coordinator writes can be written and read back.
                for version in [0, 1] {
                    let key = r.encode_key().expect("encodable key");
                    let value = r.encode_value(version).expect("encodable value");
                    assert_eq!(TxnLogRecord::decode(&key, value.as_deref()).as_ref(), Ok(r));
                }
                self.log.push(r.clone());
            }
        }
        out
    }

    /// Markers in `out` must start a transaction's completion only when none is in flight.
    fn track_markers(&mut self, out: &[TxnOutput]) {
        for o in out {
            if let TxnOutput::Marker {
                transactional_id, ..
            } = o
            {
                let previous = self.in_flight.insert(transactional_id.clone(), o.clone());
                assert_eq!(
                    previous, None,
                    "two transactions in flight for {transactional_id}"
                );
            }
        }
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Advance(ms) => self.now += ms,
            Op::Timeout => {
                self.c.handle_timeout(self.now);
                let out = self.drain();
                assert!(
                    out.iter().all(|o| match o {
                        TxnOutput::Marker { commit, .. } => !commit,
                        TxnOutput::Response { .. } => false,
                        TxnOutput::Append(_) => true,
                    }),
                    "a timeout only aborts: {out:?}"
                );
                self.track_markers(&out);
            }
            Op::Markers { txn } => {
                let txn = TXNS[*txn];
                let done = self.c.markers_written(txn);
                assert_eq!(
                    done,
                    self.in_flight.remove(txn).is_some(),
                    "markers of {txn}"
                );
                let out = self.drain();
                assert_eq!(out.len(), usize::from(done));
            }
            Op::Failover => {
                let c = TransactionCoordinator::load(
                    TxnConfig::default(),
                    self.c.producer_id_generator().clone(),
                    &self.log,
                    self.now,
                )
                .expect("valid config");
                self.c = c;
                let out = self.drain();
                // The new leader re-sends exactly the markers that were in flight.
                let resent: BTreeMap<String, TxnOutput> = out
                    .iter()
                    .filter_map(|o| match o {
                        TxnOutput::Marker {
                            transactional_id, ..
                        } => Some((transactional_id.clone(), o.clone())),
                        _ => None,
                    })
                    .collect();
                assert_eq!(resent, self.in_flight);
                assert_eq!(out.len(), resent.len());
            }
            request => self.request(request),
        }
    }

    fn request(&mut self, op: &Op) {
        let (txn, req) = match op {
            Op::Init {
                txn,
                timeout,
                who,
                version,
            } => {
                let txn = TXNS[*txn];
                let (p, e) = who.as_ref().map_or((-1, -1), |w| self.ids(txn, w));
                (txn, init_v(*version, txn, *timeout, p, e))
            }
            Op::Add {
                txn,
                who,
                parts,
                version,
            } => {
                let txn = TXNS[*txn];
                let (p, e) = self.ids(txn, who);
                let topics: Vec<(&str, Vec<i32>)> =
                    parts.iter().map(|(t, p)| (TOPICS[*t], vec![*p])).collect();
                let topics: Vec<(&str, &[i32])> =
                    topics.iter().map(|(t, ps)| (*t, ps.as_slice())).collect();
                (txn, add_v(*version, txn, p, e, &topics))
            }
            Op::Offsets {
                txn,
                who,
                group,
                version,
            } => {
                let txn = TXNS[*txn];
                let (p, e) = self.ids(txn, who);
                (txn, offsets_v(*version, txn, p, e, GROUPS[*group]))
            }
            Op::End {
                txn,
                who,
                commit,
                version,
            } => {
                let txn = TXNS[*txn];
                let (p, e) = self.ids(txn, who);
                (txn, end_v(*version, txn, p, e, *commit))
            }
            _ => return,
        };
        let before = self.c.transaction(txn).cloned();
        let id = self.next_request;
        self.next_request += 1;
        self.c.handle_request(self.now, id, req.clone());
        let out = self.drain();

        let responses: Vec<&TxnResponse> = out
            .iter()
            .filter_map(|o| match o {
                TxnOutput::Response { id: rid, response } => {
                    assert_eq!(*rid, id);
                    Some(response)
                }
                _ => None,
            })
            .collect();
        assert_eq!(responses.len(), 1, "one response per request: {out:?}");
        let markers: Vec<&TxnOutput> = out
            .iter()
            .filter(|o| matches!(o, TxnOutput::Marker { .. }))
            .collect();
        let commit_markers = out
            .iter()
            .filter(|o| matches!(o, TxnOutput::Marker { commit: true, .. }))
            .count();

        match (responses[0], &req) {
            (TxnResponse::InitProducerId(r), _) => {
                if r.error_code == ErrorCode::None {
                    assert!(r.producer_epoch >= 0);
                    self.producers
                        .insert(txn.to_owned(), (r.producer_id, r.producer_epoch));
                    assert!(markers.is_empty());
                }
                // Only a fence (an abort) sends markers from InitProducerId.
                assert_eq!(commit_markers, 0);
            }
            (TxnResponse::EndTxn(r), TxnRequest::EndTxn(e))
                if !(e.committed && r.error_code == ErrorCode::None) =>
            {
                assert_eq!(commit_markers, 0, "{out:?}");
                let started_abort = r.error_code == ErrorCode::None
                    && before.as_ref().map(|m| m.state) == Some(TxnState::Ongoing);
                if !started_abort {
                    assert!(markers.is_empty(), "{out:?}");
                }
            }
            (TxnResponse::EndTxn(_), _) => {
                let before = before.expect("a committed transaction has an id");
                match before.state {
                    // A new commit: exactly one commit marker to the transaction's partitions,
                    // or (no partitions) an immediate completion.
                    TxnState::Ongoing if before.partitions.is_empty() => {
                        assert_eq!(commit_markers, 0);
                        assert_eq!(
                            self.c.transaction(txn).map(|m| m.state),
                            Some(TxnState::CompleteCommit)
                        );
                    }
                    TxnState::Ongoing => {
                        assert_eq!(commit_markers, 1, "{out:?}");
                        assert_eq!(markers.len(), 1);
                        if let TxnOutput::Marker {
                            partitions,
                            producer_epoch,
                            ..
                        } = markers[0]
                        {
                            let sent: BTreeSet<(String, i32)> =
                                partitions.iter().cloned().collect();
                            assert_eq!(sent, before.partitions);
                            assert_eq!(*producer_epoch, before.producer_epoch);
                        }
                    }
                    // A retry of a finished commit.
                    TxnState::CompleteCommit => assert!(markers.is_empty()),
                    other => panic!("EndTxn commit answered NONE in {other}"),
                }
            }
            _ => assert!(markers.is_empty(), "no markers without a decision: {out:?}"),
        }
        self.track_markers(&out);
    }

    fn check(&mut self) {
        // Replay-equals-live.
        let reloaded = TransactionCoordinator::load(
            TxnConfig::default(),
            SequentialProducerIds::default(),
            &self.log,
            self.now,
        )
        .expect("valid config");
        assert_eq!(reloaded.durable_state(), self.c.durable_state());

        for (txn, m) in self.c.durable_state() {
            // Epochs never go back: the same producer id at a higher or equal epoch, or a newer
            // producer id (the generator counts up).
            let now = (m.producer_id, m.producer_epoch);
            if let Some(prev) = self.high_water.get(&txn) {
                assert!(now >= *prev, "{txn}: {prev:?} went back to {now:?}");
            }
            self.high_water.insert(txn.clone(), now);
            // One transaction at a time: an Ongoing one has no predecessor still in flight, and
            // markers are in flight exactly while the id is in Prepare*.
            let prepared = matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort);
            assert_eq!(
                self.in_flight.contains_key(&txn),
                prepared && !m.partitions.is_empty(),
                "{txn} in {}",
                m.state
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_request_sequences_keep_the_invariants(ops in prop::collection::vec(arb_op(), 1..60)) {
        let mut run = Run::new();
        for op in &ops {
            run.step(op);
            run.check();
        }
    }
}

/// `AddPartitionsToTxnResponse::errors` lists every partition's error, topic by topic.
#[test]
fn an_add_partitions_response_lists_every_partitions_error() {
    let TxnOutput::Response {
        response: TxnResponse::AddPartitionsToTxn(r),
        ..
    } = add_resp(ErrorCode::ProducerFenced, &[("a", &[0, 1]), ("b", &[2])])
    else {
        unreachable!()
    };
    assert_eq!(
        r.errors().collect::<Vec<_>>(),
        vec![ErrorCode::ProducerFenced; 3]
    );
}

/// A transaction record lists the partitions grouped by topic, as Kafka writes them; the
/// partitions of a record in state Empty are ignored, as Kafka's loader ignores them.
#[test]
fn a_transaction_record_groups_partitions_by_topic() {
    let m = meta(
        FIRST_PID,
        0,
        TxnState::Ongoing,
        &[("a", 0), ("a", 1), ("b", 0)],
        T0,
        T0,
    );
    let v = TxnLogValue::of(&m);
    assert_eq!(
        v.transaction_partitions,
        Some(vec![
            TxnLogPartitions {
                topic: "a".to_owned(),
                partition_ids: vec![0, 1],
            },
            TxnLogPartitions {
                topic: "b".to_owned(),
                partition_ids: vec![0],
            },
        ])
    );
    assert_eq!(v.to_metadata().partitions, m.partitions);
    let empty = TxnLogValue {
        transaction_status: TxnState::Empty,
        ..v
    };
    assert!(empty.to_metadata().partitions.is_empty());
}

/// The coordinator reports the configuration it was given.
#[test]
fn the_coordinator_reports_its_configuration() {
    let config = TxnConfig {
        coordinator_epoch: 7,
        ..TxnConfig::default()
    };
    let c = TransactionCoordinator::new(config.clone(), SequentialProducerIds::default())
        .expect("valid config");
    assert_eq!(c.config(), &config);
}

/// When the epoch is exhausted the producer id rotates: the generator's next id, 0 included,
/// at epoch 0.
#[test]
fn an_exhausted_epoch_rotates_to_the_next_producer_id_even_zero() {
    let log = vec![TxnLogRecord::of(
        "t",
        &meta(
            FIRST_PID,
            i16::MAX - 1,
            TxnState::CompleteCommit,
            &[],
            T0,
            T0,
        ),
    )];
    let mut h = Harness::with_log(log, 0);
    let out = h.at(T0 + 10, init_v(4, "t", TIMEOUT, FIRST_PID, i16::MAX - 1));
    assert_eq!(
        out.last(),
        Some(&init_resp(ErrorCode::None, 0, 0)),
        "{out:?}"
    );
    // The previous id is accepted only as a retry of that rotation (its exhausted epoch).
    assert_eq!(
        h.at(T0 + 20, init_v(4, "t", TIMEOUT, FIRST_PID, 5)),
        vec![init_err(ErrorCode::ProducerFenced)]
    );
}

/// An InitProducerId naming a producer id that is neither the current nor the previous one is
/// fenced, however exhausted the epoch it names.
#[test]
fn an_unknown_producer_id_with_an_exhausted_epoch_is_fenced() {
    let mut h = initialised("t");
    assert_eq!(
        h.at(
            T0 + 20,
            init_v(4, "t", TIMEOUT, FIRST_PID + 9, i16::MAX - 1)
        ),
        vec![init_err(ErrorCode::ProducerFenced)]
    );
}

/// An Ongoing transaction at epoch `i16::MAX` cannot be fenced, so it never times out; one at a
/// lower epoch is aborted once its timeout has passed.
#[test]
fn a_transaction_at_the_last_epoch_never_times_out() {
    for (epoch, aborted) in [(i16::MAX - 1, true), (i16::MAX, false)] {
        let log = vec![TxnLogRecord::of(
            "t",
            &meta(FIRST_PID, epoch, TxnState::Ongoing, &[("in", 0)], T0, T0),
        )];
        let mut h = Harness::with_log(log, FIRST_PID + 1);
        let deadline = T0 + TIMEOUT as u64 + 1;
        assert_eq!(
            h.c.poll_timeout().is_some_and(|t| t <= deadline),
            aborted,
            "epoch {epoch}: a deadline only when it can be aborted"
        );
        h.timeout(T0 + 10 * TIMEOUT as u64);
        assert_eq!(
            h.meta("t").state != TxnState::Ongoing,
            aborted,
            "epoch {epoch}: {:?}",
            h.meta("t")
        );
    }
}
