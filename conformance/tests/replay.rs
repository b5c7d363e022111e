//! The conformance replayer against kgroup-core in process: a trace of a group's life (written
//! here from Kafka's documented behaviour; the model-generated corpus comes with trace
//! generation) passes; a changed expectation fails at its step with the field named; the JSON
//! form is pinned.

#[path = "common/requests.rs"]
mod requests;

use kgroup_conformance::replay::{replay_inproc, Failure};
use kgroup_protocol::api::*;
use kgroup_protocol::trace::{Trace, TraceConfig, TraceStep, TRACE_VERSION};
use kgroup_protocol::{ErrorCode, GenerationId, GroupId, MemberId, TopicPartition};

fn g() -> GroupId {
    GroupId("g".into())
}

fn join(id: u64, client: &str, member: &str) -> TraceStep {
    TraceStep::Send {
        id,
        client: client.into(),
        request: requests::join_request(member, None, 10_000, 30_000, vec![0, 3]),
    }
}

fn joined(id: u64, member: &str, generation: i32, leader: &str, members: &[&str]) -> TraceStep {
    TraceStep::Expect {
        id,
        response: Response::JoinGroup(JoinGroupResponse {
            error_code: ErrorCode::None,
            generation_id: GenerationId(generation),
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            leader: MemberId(leader.into()),
            skip_assignment: false,
            member_id: MemberId(member.into()),
            members: members
                .iter()
                .map(|m| JoinGroupResponseMember {
                    member_id: MemberId((*m).into()),
                    group_instance_id: None,
                    metadata: vec![0, 3],
                })
                .collect(),
        }),
    }
}

fn sync(id: u64, member: &str, generation: i32, assignments: &[(&str, u8)]) -> TraceStep {
    TraceStep::Send {
        id,
        client: "c".into(),
        request: requests::sync_request(member, None, generation, assignments),
    }
}

fn synced(id: u64, assignment: u8) -> TraceStep {
    TraceStep::Expect {
        id,
        response: Response::SyncGroup(SyncGroupResponse {
            error_code: ErrorCode::None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignment: vec![assignment],
        }),
    }
}

fn heartbeat(id: u64, member: &str, generation: i32) -> TraceStep {
    TraceStep::Send {
        id,
        client: "c".into(),
        request: requests::heartbeat_request(member, None, generation),
    }
}

fn heartbeat_answer(id: u64, error: ErrorCode) -> TraceStep {
    TraceStep::Expect {
        id,
        response: Response::Heartbeat(HeartbeatResponse { error_code: error }),
    }
}

fn member_id_required(id: u64, name: &str) -> TraceStep {
    TraceStep::Expect {
        id,
        response: Response::JoinGroup(JoinGroupResponse {
            error_code: ErrorCode::MemberIdRequired,
            generation_id: GenerationId(-1),
            protocol_type: None,
            protocol_name: None,
            leader: MemberId(String::new()),
            skip_assignment: false,
            member_id: MemberId(name.into()),
            members: vec![],
        }),
    }
}

/// Two members join (MEMBER_ID_REQUIRED binds their ids), the initial delay ends the join
/// phase, the follower's SyncGroup waits for the leader's, a commit is stored, the coordinator
/// fails over, and the loaded group still knows both members and the offset.
fn life_of_a_group() -> Trace {
    let a = "${a}";
    let b = "${b}";
    let steps = vec![
        join(1, "ca", ""),
        member_id_required(1, a),
        join(2, "cb", ""),
        member_id_required(2, b),
        join(3, "ca", a),
        join(4, "cb", b),
        TraceStep::Pending { id: 3 },
        // KIP-134: `b` arrived during the initial delay, so the delay runs once more.
        TraceStep::Advance { ms: 3_000 },
        TraceStep::Pending { id: 3 },
        TraceStep::Advance { ms: 3_000 },
        joined(3, a, 1, a, &[a, b]),
        joined(4, b, 1, a, &[]),
        sync(5, b, 1, &[]),
        TraceStep::Pending { id: 5 },
        sync(6, a, 1, &[(a, 1), (b, 2)]),
        synced(6, 1),
        synced(5, 2),
        TraceStep::Send {
            id: 7,
            client: "ca".into(),
            request: Request::OffsetCommit(Versioned {
                api_version: 8,
                message: OffsetCommitRequest {
                    group_id: g(),
                    generation_id: GenerationId(1),
                    member_id: MemberId(a.into()),
                    group_instance_id: None,
                    partitions: vec![OffsetCommitPartition {
                        partition: TopicPartition::new("t", 0),
                        committed_offset: 42,
                        committed_leader_epoch: -1,
                        committed_metadata: None,
                    }],
                },
            }),
        },
        TraceStep::Expect {
            id: 7,
            response: Response::OffsetCommit(OffsetCommitResponse {
                partitions: vec![(TopicPartition::new("t", 0), ErrorCode::None)],
            }),
        },
        TraceStep::Restart,
        heartbeat(8, b, 1),
        heartbeat_answer(8, ErrorCode::None),
        TraceStep::Send {
            id: 9,
            client: "cb".into(),
            request: Request::OffsetFetch(Versioned {
                api_version: 7,
                message: OffsetFetchRequest {
                    group_id: g(),
                    partitions: Some(vec![TopicPartition::new("t", 0)]),
                    require_stable: true,
                },
            }),
        },
        TraceStep::Expect {
            id: 9,
            response: Response::OffsetFetch(OffsetFetchResponse {
                error_code: ErrorCode::None,
                partitions: vec![OffsetFetchPartition {
                    partition: TopicPartition::new("t", 0),
                    committed_offset: 42,
                    committed_leader_epoch: -1,
                    metadata: Some(String::new()),
                    error_code: ErrorCode::None,
                }],
            }),
        },
        // Neither member heartbeats for a whole session: both are removed.
        TraceStep::Advance { ms: 10_000 },
        heartbeat(10, b, 1),
        heartbeat_answer(10, ErrorCode::UnknownMemberId),
    ];
    Trace {
        version: TRACE_VERSION,
        name: "life-of-a-group".into(),
        description: "two members join, sync, commit; the coordinator fails over".into(),
        config: TraceConfig::default(),
        steps,
    }
}

#[test]
fn the_life_of_a_group_replays() {
    replay_inproc(&life_of_a_group()).unwrap_or_else(|f| panic!("{f}"));
}

#[test]
fn a_wrong_expectation_fails_at_its_step_naming_the_field() {
    let mut t = life_of_a_group();
    // The follower is told it leads.
    t.steps[11] = joined(4, "${b}", 1, "${b}", &[]);
    let f: Failure = replay_inproc(&t).unwrap_err();
    assert_eq!(f.step, 12);
    assert!(f.what.contains("leader"), "{f}");
    // A response that should still be pending.
    let mut t = life_of_a_group();
    t.steps.insert(11, TraceStep::Pending { id: 3 });
    let f = replay_inproc(&t).unwrap_err();
    assert!(f.what.contains("should still be waiting"), "{f}");
    // A name used before it is bound.
    let mut t = life_of_a_group();
    t.steps.insert(0, heartbeat(99, "${nobody}", 1));
    let f = replay_inproc(&t).unwrap_err();
    assert_eq!(f.step, 1);
    assert!(f.what.contains("`nobody`"), "{f}");
}

/// A coordinator that takes over after a restart hands out member ids the loaded group does not
/// hold, as Kafka's random UUIDs guarantee. Here `ca`'s new member would get `a`'s id if the
/// replayer's new coordinator counted ids from 1 again: the new member would overwrite `a`, and
/// `b`'s rejoin would end the join phase although `a` has not rejoined.
#[test]
fn a_member_joining_after_a_restart_gets_an_id_the_loaded_group_does_not_hold() {
    let mut t = life_of_a_group();
    let restart = t
        .steps
        .iter()
        .position(|s| *s == TraceStep::Restart)
        .expect("the trace fails over");
    t.steps.truncate(restart + 1);
    t.steps.extend([
        join(20, "ca", ""),
        member_id_required(20, "${c}"),
        join(21, "ca", "${c}"),
        TraceStep::Pending { id: 21 },
        join(22, "cb", "${b}"),
        // `a` has not rejoined: the join phase goes on.
        TraceStep::Pending { id: 21 },
        TraceStep::Pending { id: 22 },
    ]);
    replay_inproc(&t).unwrap_or_else(|f| panic!("{f}"));
}

/// The JSON form of a trace, pinned: a change to the format shows up as a reviewed diff.
#[test]
fn the_trace_format_is_pinned() {
    let t = life_of_a_group();
    let json = serde_json::to_string_pretty(&t).unwrap();
    let back: Trace = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);
    insta::assert_snapshot!(json);
}

/// An advance past several deadlines fires each timer at its own deadline: the join phase ends
/// at 3 s (KIP-134's delay), so the member's session, restarted then, ends at 13 s, within one
/// 13 s advance.
#[test]
fn an_advance_fires_each_timer_at_its_deadline() {
    let a = "${a}";
    let steps = vec![
        join(1, "ca", ""),
        member_id_required(1, a),
        join(2, "ca", a),
        TraceStep::Advance { ms: 13_000 },
        joined(2, a, 1, a, &[a]),
        heartbeat(3, a, 1),
        heartbeat_answer(3, ErrorCode::UnknownMemberId),
    ];
    let t = Trace {
        version: TRACE_VERSION,
        name: "timers-at-their-deadlines".into(),
        description: "one advance past the join phase and the session that follows it".into(),
        config: TraceConfig::default(),
        steps,
    };
    replay_inproc(&t).unwrap_or_else(|f| panic!("{f}"));
}
