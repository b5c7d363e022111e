//! Request builders shared by the hand-written traces of the replay and adapter tests: one group
//! `g`, the `consumer` protocol type with one protocol, `range`.

use kgroup_protocol::api::*;
use kgroup_protocol::{GenerationId, GroupId, GroupInstanceId, MemberId};

fn instance_id(instance: Option<&str>) -> Option<GroupInstanceId> {
    instance.map(|i| GroupInstanceId(i.into()))
}

/// JoinGroup v9 for group `g` with one protocol, `range`, carrying `metadata`.
pub fn join_request(
    member: &str,
    instance: Option<&str>,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    metadata: Vec<u8>,
) -> Request {
    Request::JoinGroup(Versioned {
        api_version: 9,
        message: JoinGroupRequest {
            group_id: GroupId("g".into()),
            session_timeout_ms,
            rebalance_timeout_ms,
            member_id: MemberId(member.into()),
            group_instance_id: instance_id(instance),
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupProtocol {
                name: "range".into(),
                metadata,
            }],
            reason: None,
        },
    })
}

/// SyncGroup v5; a leader's `assignments` give each member a one-byte assignment.
pub fn sync_request(
    member: &str,
    instance: Option<&str>,
    generation: i32,
    assignments: &[(&str, u8)],
) -> Request {
    Request::SyncGroup(Versioned {
        api_version: 5,
        message: SyncGroupRequest {
            group_id: GroupId("g".into()),
            generation_id: GenerationId(generation),
            member_id: MemberId(member.into()),
            group_instance_id: instance_id(instance),
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: assignments
                .iter()
                .map(|(m, a)| SyncGroupAssignment {
                    member_id: MemberId((*m).into()),
                    assignment: vec![*a],
                })
                .collect(),
        },
    })
}

/// Heartbeat v4.
pub fn heartbeat_request(member: &str, instance: Option<&str>, generation: i32) -> Request {
    Request::Heartbeat(Versioned {
        api_version: 4,
        message: HeartbeatRequest {
            group_id: GroupId("g".into()),
            generation_id: GenerationId(generation),
            member_id: MemberId(member.into()),
            group_instance_id: instance_id(instance),
        },
    })
}
