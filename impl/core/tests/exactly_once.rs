//! The two coordinators of exactly-once together, as Kafka runs them: the transaction
//! coordinator's markers for the group's `__consumer_offsets` partition reach the group
//! coordinator, which holds TxnOffsetCommit offsets as pending until then; a new producer
//! instance fences the old one at both coordinators.

use kgroup_core::coordinator::{
    Config, Context, GroupCoordinator, Output, Request, Response, SequentialIds,
};
use kgroup_core::txn::*;
use kgroup_protocol::api::*;
use kgroup_protocol::{ErrorCode, GenerationId, GroupId, MemberId, TopicPartition};

struct System {
    group: GroupCoordinator,
    txn: TransactionCoordinator,
    now: u64,
    next: u64,
}

impl System {
    fn new() -> System {
        System {
            group: GroupCoordinator::new(Config::default(), Box::new(SequentialIds::default())),
            txn: TransactionCoordinator::new(
                TxnConfig::default(),
                SequentialProducerIds::default(),
            )
            .expect("default config"),
            now: 0,
            next: 0,
        }
    }

    /// Sends a request to the transaction coordinator; delivers its markers for
    /// `__consumer_offsets` to the group coordinator (the data partitions are not modelled) and
    /// reports them written.
    fn txn(&mut self, request: TxnRequest) -> TxnResponse {
        self.next += 1;
        self.txn.handle_request(self.now, self.next, request);
        let mut answer = None;
        while let Some(out) = self.txn.poll_output() {
            match out {
                TxnOutput::Response { response, .. } => answer = Some(response),
                TxnOutput::Append(_) => {}
                TxnOutput::Marker {
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    commit,
                    coordinator_epoch,
                    partitions,
                } => {
                    if partitions.iter().any(|(t, _)| t == CONSUMER_OFFSETS_TOPIC) {
                        self.group.handle_marker(
                            producer_id,
                            producer_epoch,
                            commit,
                            coordinator_epoch,
                        );
                        while self.group.poll_output().is_some() {}
                    }
                    self.txn.markers_written(&transactional_id);
                }
            }
        }
        answer.expect("answered")
    }

    fn group(&mut self, request: Request) -> Response {
        self.next += 1;
        let ctx = Context {
            id: self.next,
            client_id: "app".into(),
            client_host: "/127.0.0.1".into(),
        };
        self.group.handle_request(self.now, ctx, request);
        let mut answer = None;
        while let Some(out) = self.group.poll_output() {
            if let Output::Response { response, .. } = out {
                answer = Some(response);
            }
        }
        answer.expect("answered")
    }

    fn init(&mut self) -> (i64, i16) {
        let r = self.txn(TxnRequest::InitProducerId(InitProducerIdRequest {
            version: 4,
            transactional_id: Some("tx".into()),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
        }));
        let TxnResponse::InitProducerId(r) = r else {
            panic!("{r:?}")
        };
        assert_eq!(r.error_code, ErrorCode::None);
        (r.producer_id, r.producer_epoch)
    }

    fn add_offsets(&mut self, (pid, epoch): (i64, i16)) -> ErrorCode {
        match self.txn(TxnRequest::AddOffsetsToTxn(AddOffsetsToTxnRequest {
            version: 3,
            transactional_id: "tx".into(),
            producer_id: pid,
            producer_epoch: epoch,
            group_id: "g".into(),
        })) {
            TxnResponse::AddOffsetsToTxn(r) => r.error_code,
            r => panic!("{r:?}"),
        }
    }

    fn txn_commit(&mut self, (pid, epoch): (i64, i16), offset: i64) -> ErrorCode {
        let r = self.group(Request::TxnOffsetCommit(Versioned {
            api_version: 3,
            message: TxnOffsetCommitRequest {
                transactional_id: "tx".into(),
                group_id: GroupId("g".into()),
                producer_id: pid,
                producer_epoch: epoch,
                generation_id: GenerationId(-1),
                member_id: MemberId(String::new()),
                group_instance_id: None,
                partitions: vec![OffsetCommitPartition {
                    partition: TopicPartition::new("in", 0),
                    committed_offset: offset,
                    committed_leader_epoch: -1,
                    committed_metadata: None,
                }],
            },
        }));
        let Response::TxnOffsetCommit(r) = r else {
            panic!("{r:?}")
        };
        r.partitions[0].1
    }

    fn end(&mut self, (pid, epoch): (i64, i16), commit: bool) -> ErrorCode {
        match self.txn(TxnRequest::EndTxn(EndTxnRequest {
            version: 3,
            transactional_id: "tx".into(),
            producer_id: pid,
            producer_epoch: epoch,
            committed: commit,
        })) {
            TxnResponse::EndTxn(r) => r.error_code,
            r => panic!("{r:?}"),
        }
    }

    fn fetch(&mut self) -> (i64, ErrorCode) {
        let r = self.group(Request::OffsetFetch(Versioned {
            api_version: 7,
            message: OffsetFetchRequest {
                group_id: GroupId("g".into()),
                partitions: Some(vec![TopicPartition::new("in", 0)]),
                require_stable: true,
            },
        }));
        let Response::OffsetFetch(r) = r else {
            panic!("{r:?}")
        };
        (r.partitions[0].committed_offset, r.partitions[0].error_code)
    }
}

#[test]
fn a_committed_transaction_commits_its_offsets_and_an_aborted_one_drops_them() {
    let mut s = System::new();
    let p = s.init();
    assert_eq!(s.add_offsets(p), ErrorCode::None);
    assert_eq!(s.txn_commit(p, 10), ErrorCode::None);
    assert_eq!(s.fetch(), (-1, ErrorCode::UnstableOffsetCommit));
    assert_eq!(s.end(p, true), ErrorCode::None);
    assert_eq!(s.fetch(), (10, ErrorCode::None));

    assert_eq!(s.add_offsets(p), ErrorCode::None);
    assert_eq!(s.txn_commit(p, 20), ErrorCode::None);
    assert_eq!(s.end(p, false), ErrorCode::None);
    assert_eq!(
        s.fetch(),
        (10, ErrorCode::None),
        "the abort dropped offset 20"
    );
}

#[test]
fn a_new_producer_instance_fences_the_old_one_at_both_coordinators() {
    let mut s = System::new();
    let old = s.init();
    assert_eq!(s.add_offsets(old), ErrorCode::None);
    assert_eq!(s.txn_commit(old, 10), ErrorCode::None);
    // A second instance of the same transactional.id: its InitProducerId aborts the open
    // transaction (answered CONCURRENT_TRANSACTIONS until the abort's markers are written, then
    // retried) and bumps the epoch.
    let r = s.txn(TxnRequest::InitProducerId(InitProducerIdRequest {
        version: 4,
        transactional_id: Some("tx".into()),
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
    }));
    let TxnResponse::InitProducerId(first) = r else {
        panic!("{r:?}")
    };
    let new = if first.error_code == ErrorCode::ConcurrentTransactions {
        s.init()
    } else {
        assert_eq!(first.error_code, ErrorCode::None);
        (first.producer_id, first.producer_epoch)
    };
    assert_eq!(new.0, old.0);
    assert!(new.1 > old.1);
    assert_eq!(
        s.fetch(),
        (-1, ErrorCode::None),
        "the old transaction's offsets were aborted"
    );
    // The old instance is refused by the transaction coordinator and by the offsets partition.
    assert_eq!(s.end(old, true), ErrorCode::ProducerFenced);
    assert_eq!(s.add_offsets(old), ErrorCode::ProducerFenced);
    assert_eq!(s.txn_commit(old, 11), ErrorCode::InvalidProducerEpoch);
    // The new one carries on.
    assert_eq!(s.add_offsets(new), ErrorCode::None);
    assert_eq!(s.txn_commit(new, 12), ErrorCode::None);
    assert_eq!(s.end(new, true), ErrorCode::None);
    assert_eq!(s.fetch(), (12, ErrorCode::None));
}
