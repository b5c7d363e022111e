//! The group coordinator at Kafka's scales: OffsetCommit throughput (in memory, and with the
//! durable log under batched fsync), join-to-Stable of a 10,000-member group, and loading a
//! log of a million records. Figures and commands in docs/benchmarks.md.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kgroup_core::coordinator::{
    Config, Context, GroupCoordinator, Output, Request, Response, SequentialIds,
};
use kgroup_core::log::{FsyncPolicy, Log};
use kgroup_core::records::{LogEntry, OffsetCommitValue, Record, RecordKey, RecordValue};
use kgroup_core::store::Durable;
use kgroup_protocol::api::*;
use kgroup_protocol::{ErrorCode, GenerationId, GroupId, MemberId, TopicPartition};
use std::time::Duration;

fn ctx(id: u64) -> Context {
    Context {
        id,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
    }
}

fn join(member: &str, id: u64) -> Request {
    Request::JoinGroup(Versioned {
        api_version: 9,
        message: JoinGroupRequest {
            group_id: GroupId("g".into()),
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 300_000,
            member_id: MemberId(member.into()),
            group_instance_id: None,
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupProtocol {
                name: "range".into(),
                metadata: format!("subscription-{id}").into_bytes(),
            }],
            reason: None,
        },
    })
}

fn sync(member: &str, generation: i32, assignments: Vec<SyncGroupAssignment>) -> Request {
    Request::SyncGroup(Versioned {
        api_version: 5,
        message: SyncGroupRequest {
            group_id: GroupId("g".into()),
            generation_id: GenerationId(generation),
            member_id: MemberId(member.into()),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments,
        },
    })
}

/// Drains the outputs, returning the responses.
fn drain(c: &mut GroupCoordinator, responses: &mut Vec<(u64, Response)>) {
    while let Some(o) = c.poll_output() {
        if let Output::Response { id, response } = o {
            responses.push((id, response));
        }
    }
}

/// Members join a fresh group (MEMBER_ID_REQUIRED, then the join with their id), the initial
/// delay ends, and every member syncs, the leader with everyone's assignment: the group is
/// Stable. Returns the coordinator and the member ids.
fn join_to_stable(members: usize) -> (GroupCoordinator, Vec<String>) {
    let mut c = GroupCoordinator::new(Config::default(), Box::new(SequentialIds::default()));
    let mut out = vec![];
    let mut next = 0u64;
    let mut ids = Vec::with_capacity(members);
    for i in 0..members {
        next += 1;
        c.handle_request(0, ctx(next), join("", i as u64));
        drain(&mut c, &mut out);
        let Some((_, Response::JoinGroup(r))) = out.pop() else {
            panic!("no MEMBER_ID_REQUIRED")
        };
        ids.push(r.member_id.0);
    }
    for (i, id) in ids.iter().enumerate() {
        next += 1;
        c.handle_request(0, ctx(next), join(id, i as u64));
        drain(&mut c, &mut out);
    }
    // The initial delay runs its course (no one else arrives).
    while let Some(t) = c.poll_timeout() {
        if c.group_state("g") != Some(kgroup_protocol::GroupState::PreparingRebalance) {
            break;
        }
        c.handle_timeout(t);
        drain(&mut c, &mut out);
    }
    let generation = out
        .iter()
        .find_map(|(_, r)| match r {
            Response::JoinGroup(j) if j.error_code == ErrorCode::None => Some(j.generation_id.0),
            _ => None,
        })
        .expect("the join phase completed");
    out.clear();
    let leader = ids[0].clone();
    let assignments = ids
        .iter()
        .map(|id| SyncGroupAssignment {
            member_id: MemberId(id.clone()),
            assignment: vec![1, 2, 3],
        })
        .collect();
    for id in ids.iter().skip(1) {
        next += 1;
        c.handle_request(0, ctx(next), sync(id, generation, vec![]));
    }
    next += 1;
    c.handle_request(0, ctx(next), sync(&leader, generation, assignments));
    drain(&mut c, &mut out);
    assert_eq!(out.len(), members, "every SyncGroup answered");
    assert_eq!(
        c.group_state("g"),
        Some(kgroup_protocol::GroupState::Stable)
    );
    (c, ids)
}

fn commit_request(member: &str, partitions: usize, offset: i64) -> Request {
    Request::OffsetCommit(Versioned {
        api_version: 8,
        message: OffsetCommitRequest {
            group_id: GroupId("g".into()),
            generation_id: GenerationId(1),
            member_id: MemberId(member.into()),
            group_instance_id: None,
            partitions: (0..partitions as i32)
                .map(|p| OffsetCommitPartition {
                    partition: TopicPartition::new("topic", p),
                    committed_offset: offset,
                    committed_leader_epoch: -1,
                    committed_metadata: None,
                })
                .collect(),
        },
    })
}

fn offset_commits(c: &mut Criterion) {
    let mut g = c.benchmark_group("offset-commit");
    for partitions in [1usize, 100] {
        g.throughput(Throughput::Elements(partitions as u64));
        g.bench_function(format!("in-memory/{partitions}-per-request"), |b| {
            let (mut coord, ids) = join_to_stable(1);
            let mut offset = 0;
            b.iter_batched(
                || {
                    offset += 1;
                    commit_request(&ids[0], partitions, offset)
                },
                |req| {
                    coord.handle_request(0, ctx(0), req);
                    while coord.poll_output().is_some() {}
                },
                BatchSize::SmallInput,
            )
        });
    }
    // With the durable log: every appended entry written, fsync once per 1,000 requests (the
    // responses of a batch are released after its fsync).
    g.throughput(Throughput::Elements(1_000));
    g.sample_size(10);
    g.bench_function("durable-batch-fsync/1000-requests-of-1", |b| {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut log, _) =
            Log::open(&dir.path().join("offsets.log"), FsyncPolicy::Batch).expect("log");
        let (mut coord, ids) = join_to_stable(1);
        let mut offset = 0;
        b.iter(|| {
            for _ in 0..1_000 {
                offset += 1;
                coord.handle_request(0, ctx(0), commit_request(&ids[0], 1, offset));
                while let Some(o) = coord.poll_output() {
                    if let Output::Append(e) = o {
                        log.append(&e.encode().expect("encode")).expect("append");
                    }
                }
            }
            log.sync().expect("fsync");
        })
    });
    g.finish();
}

fn rebalance(c: &mut Criterion) {
    let mut g = c.benchmark_group("join-to-stable");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("10000-members", |b| b.iter(|| join_to_stable(10_000)));
    g.finish();
}

fn replay(c: &mut Criterion) {
    const RECORDS: u64 = 1_000_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("offsets.log");
    {
        let (mut log, _) = Log::open(&path, FsyncPolicy::Batch).expect("log");
        for i in 0..RECORDS {
            let e = LogEntry::Plain(Record {
                key: RecordKey::OffsetCommit {
                    group: format!("group-{}", i % 1_000),
                    topic: "topic".into(),
                    partition: (i % 100) as i32,
                },
                value: Some(RecordValue::OffsetCommit(OffsetCommitValue {
                    offset: i as i64,
                    leader_epoch: -1,
                    metadata: String::new(),
                    commit_timestamp: 1_700_000_000_000,
                    expire_timestamp: -1,
                })),
            });
            log.append(&e.encode().expect("encode")).expect("append");
        }
        log.sync().expect("fsync");
    }
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.throughput(Throughput::Elements(RECORDS));
    g.bench_function("1M-offset-records", |b| {
        b.iter(|| {
            let (d, _) = Durable::open(&path, FsyncPolicy::Never).expect("load");
            assert_eq!(d.store().entries(), RECORDS);
        })
    });
    g.finish();
}

criterion_group!(benches, offset_commits, rebalance, replay);
criterion_main!(benches);
