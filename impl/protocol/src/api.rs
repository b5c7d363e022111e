//! Request and response types of the group and offset APIs, as the coordinator sees them.
//!
//! These are the protocol's messages stripped of wire framing: the fields a coordinator reads and
//! writes, named as in Kafka's message schemas (`JoinGroupRequest.json`, ...). Which fields a
//! version carries is the wire codec's business; behaviour that depends on the version
//! (MEMBER_ID_REQUIRED from JoinGroup v4, static membership from v5, batch LeaveGroup from v3)
//! reads [`Versioned::api_version`].

use crate::error::ErrorCode;
use crate::ids::{GenerationId, GroupId, GroupInstanceId, MemberId, TopicPartition};

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// Kafka's API keys for the requests of the group, offset and transaction protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub enum ApiKey {
    /// OffsetCommit (8).
    OffsetCommit,
    /// OffsetFetch (9).
    OffsetFetch,
    /// FindCoordinator (10).
    FindCoordinator,
    /// JoinGroup (11).
    JoinGroup,
    /// Heartbeat (12).
    Heartbeat,
    /// LeaveGroup (13).
    LeaveGroup,
    /// SyncGroup (14).
    SyncGroup,
    /// DescribeGroups (15).
    DescribeGroups,
    /// ListGroups (16).
    ListGroups,
    /// InitProducerId (22).
    InitProducerId,
    /// AddOffsetsToTxn (25).
    AddOffsetsToTxn,
    /// EndTxn (26).
    EndTxn,
    /// WriteTxnMarkers (27).
    WriteTxnMarkers,
    /// TxnOffsetCommit (28).
    TxnOffsetCommit,
    /// DeleteGroups (42).
    DeleteGroups,
    /// ConsumerGroupHeartbeat (68, KIP-848).
    ConsumerGroupHeartbeat,
}

impl ApiKey {
    /// Every key this crate names, in the order of their numbers.
    pub const ALL: &'static [ApiKey] = &[
        ApiKey::OffsetCommit,
        ApiKey::OffsetFetch,
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::Heartbeat,
        ApiKey::LeaveGroup,
        ApiKey::SyncGroup,
        ApiKey::DescribeGroups,
        ApiKey::ListGroups,
        ApiKey::InitProducerId,
        ApiKey::AddOffsetsToTxn,
        ApiKey::EndTxn,
        ApiKey::WriteTxnMarkers,
        ApiKey::TxnOffsetCommit,
        ApiKey::DeleteGroups,
        ApiKey::ConsumerGroupHeartbeat,
    ];

    /// The key's number on the wire.
    pub const fn code(self) -> i16 {
        match self {
            ApiKey::OffsetCommit => 8,
            ApiKey::OffsetFetch => 9,
            ApiKey::FindCoordinator => 10,
            ApiKey::JoinGroup => 11,
            ApiKey::Heartbeat => 12,
            ApiKey::LeaveGroup => 13,
            ApiKey::SyncGroup => 14,
            ApiKey::DescribeGroups => 15,
            ApiKey::ListGroups => 16,
            ApiKey::InitProducerId => 22,
            ApiKey::AddOffsetsToTxn => 25,
            ApiKey::EndTxn => 26,
            ApiKey::WriteTxnMarkers => 27,
            ApiKey::TxnOffsetCommit => 28,
            ApiKey::DeleteGroups => 42,
            ApiKey::ConsumerGroupHeartbeat => 68,
        }
    }

    /// The key with this number, if this crate names it.
    pub fn from_code(code: i16) -> Option<ApiKey> {
        ApiKey::ALL.iter().copied().find(|k| k.code() == code)
    }
}

/// A message together with the API version it was sent at.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Versioned<T> {
    /// The API version of the request (or of the request a response answers).
    pub api_version: i16,
    /// The message.
    pub message: T,
}

/// One protocol a member offers in JoinGroup: an assignor name and its subscription bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JoinGroupProtocol {
    /// The protocol (assignor) name, such as `range` or `cooperative-sticky`.
    pub name: String,
    /// The protocol metadata: for consumers, an encoded ConsumerProtocolSubscription.
    pub metadata: Vec<u8>,
}

/// JoinGroup: a member asks to join, or rejoin, the group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JoinGroupRequest {
    /// The group to join.
    pub group_id: GroupId,
    /// How long the coordinator waits for a heartbeat before it removes the member.
    pub session_timeout_ms: i32,
    /// How long the coordinator waits for every member to rejoin during a rebalance.
    pub rebalance_timeout_ms: i32,
    /// The member id, empty on a first join (KIP-394).
    pub member_id: MemberId,
    /// The static member's instance id (KIP-345), from v5.
    pub group_instance_id: Option<GroupInstanceId>,
    /// The protocol type, `consumer` for consumers.
    pub protocol_type: String,
    /// The protocols the member supports, in its order of preference.
    pub protocols: Vec<JoinGroupProtocol>,
    /// Why the member joins (KIP-800), from v8.
    pub reason: Option<String>,
}

/// A member as the JoinGroup response lists it to the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JoinGroupResponseMember {
    /// The member's id.
    pub member_id: MemberId,
    /// The member's instance id, if static.
    pub group_instance_id: Option<GroupInstanceId>,
    /// The member's metadata for the selected protocol.
    pub metadata: Vec<u8>,
}

/// The answer to JoinGroup, sent when the rebalance's join phase completes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct JoinGroupResponse {
    /// The outcome.
    pub error_code: ErrorCode,
    /// The new generation.
    pub generation_id: GenerationId,
    /// The group's protocol type (from v7).
    pub protocol_type: Option<String>,
    /// The selected protocol.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: MemberId,
    /// Whether the leader should skip computing the assignment (KIP-814, from v9).
    pub skip_assignment: bool,
    /// The member id of the receiver (the new one on MEMBER_ID_REQUIRED).
    pub member_id: MemberId,
    /// Every member with its metadata, sent to the leader only.
    pub members: Vec<JoinGroupResponseMember>,
}

/// One member's assignment as the leader sends it in SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SyncGroupAssignment {
    /// The member the assignment is for.
    pub member_id: MemberId,
    /// The encoded ConsumerProtocolAssignment.
    pub assignment: Vec<u8>,
}

/// SyncGroup: every member asks for its assignment; the leader brings them all.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SyncGroupRequest {
    /// The group.
    pub group_id: GroupId,
    /// The generation the member joined.
    pub generation_id: GenerationId,
    /// The member.
    pub member_id: MemberId,
    /// The member's instance id, if static.
    pub group_instance_id: Option<GroupInstanceId>,
    /// The protocol type, checked against the group's from v5.
    pub protocol_type: Option<String>,
    /// The protocol name, checked against the group's from v5.
    pub protocol_name: Option<String>,
    /// The leader's assignments; empty from followers.
    pub assignments: Vec<SyncGroupAssignment>,
}

/// The answer to SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SyncGroupResponse {
    /// The outcome.
    pub error_code: ErrorCode,
    /// The group's protocol type (from v5).
    pub protocol_type: Option<String>,
    /// The group's protocol name (from v5).
    pub protocol_name: Option<String>,
    /// The member's encoded assignment.
    pub assignment: Vec<u8>,
}

/// Heartbeat: a member says it is alive and learns whether a rebalance has started.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HeartbeatRequest {
    /// The group.
    pub group_id: GroupId,
    /// The member's generation.
    pub generation_id: GenerationId,
    /// The member.
    pub member_id: MemberId,
    /// The member's instance id, if static.
    pub group_instance_id: Option<GroupInstanceId>,
}

/// The answer to Heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HeartbeatResponse {
    /// The outcome; REBALANCE_IN_PROGRESS tells the member to rejoin.
    pub error_code: ErrorCode,
}

/// One member leaving, in a (batch, KIP-345) LeaveGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LeaveGroupMember {
    /// The member id; may be empty when the instance id names the member.
    pub member_id: MemberId,
    /// The instance id of a static member.
    pub group_instance_id: Option<GroupInstanceId>,
    /// Why the member leaves (KIP-800).
    pub reason: Option<String>,
}

/// LeaveGroup: one member (before v3) or a batch of members leave.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LeaveGroupRequest {
    /// The group.
    pub group_id: GroupId,
    /// The leaving members.
    pub members: Vec<LeaveGroupMember>,
}

/// The outcome for one leaving member.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LeaveGroupMemberResponse {
    /// The member id.
    pub member_id: MemberId,
    /// The instance id.
    pub group_instance_id: Option<GroupInstanceId>,
    /// The outcome for this member.
    pub error_code: ErrorCode,
}

/// The answer to LeaveGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LeaveGroupResponse {
    /// The top-level outcome.
    pub error_code: ErrorCode,
    /// The outcome per member (from v3).
    pub members: Vec<LeaveGroupMemberResponse>,
}

/// One partition's offset in an OffsetCommit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OffsetCommitPartition {
    /// The partition.
    pub partition: TopicPartition,
    /// The next offset to consume.
    pub committed_offset: i64,
    /// The leader epoch of the last consumed record, -1 if unknown.
    pub committed_leader_epoch: i32,
    /// Free-form client metadata.
    pub committed_metadata: Option<String>,
}

/// OffsetCommit: a member (or a standalone client, with generation -1) commits offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OffsetCommitRequest {
    /// The group.
    pub group_id: GroupId,
    /// The member's generation, -1 for a standalone commit.
    pub generation_id: GenerationId,
    /// The member, empty for a standalone commit.
    pub member_id: MemberId,
    /// The member's instance id, if static.
    pub group_instance_id: Option<GroupInstanceId>,
    /// The offsets.
    pub partitions: Vec<OffsetCommitPartition>,
}

/// The answer to OffsetCommit: one outcome per partition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OffsetCommitResponse {
    /// The outcome per partition, in request order.
    pub partitions: Vec<(TopicPartition, ErrorCode)>,
}

/// OffsetFetch: read a group's committed offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OffsetFetchRequest {
    /// The group.
    pub group_id: GroupId,
    /// The partitions to fetch; `None` for all the group has.
    pub partitions: Option<Vec<TopicPartition>>,
    /// Answer UNSTABLE_OFFSET_COMMIT for partitions with a pending transactional commit (KIP-447).
    pub require_stable: bool,
}

/// One partition's committed offset in an OffsetFetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OffsetFetchPartition {
    /// The partition.
    pub partition: TopicPartition,
    /// The committed offset, -1 if none.
    pub committed_offset: i64,
    /// The committed leader epoch, -1 if none.
    pub committed_leader_epoch: i32,
    /// The committed metadata.
    pub metadata: Option<String>,
    /// The outcome for this partition.
    pub error_code: ErrorCode,
}

/// The answer to OffsetFetch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OffsetFetchResponse {
    /// The top-level outcome.
    pub error_code: ErrorCode,
    /// The offsets.
    pub partitions: Vec<OffsetFetchPartition>,
}

/// The kind of coordinator FindCoordinator looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum CoordinatorType {
    /// A group coordinator (key type 0).
    Group,
    /// A transaction coordinator (key type 1).
    Transaction,
}

/// FindCoordinator: which broker coordinates a group (or a transactional id).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FindCoordinatorRequest {
    /// The group id or transactional id.
    pub key: String,
    /// Which coordinator.
    pub key_type: CoordinatorType,
}

/// The answer to FindCoordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FindCoordinatorResponse {
    /// The outcome.
    pub error_code: ErrorCode,
    /// The coordinator's broker id.
    pub node_id: i32,
    /// The coordinator's host.
    pub host: String,
    /// The coordinator's port.
    pub port: i32,
}

/// TxnOffsetCommit: a transactional producer commits a consumer group's offsets inside its
/// transaction (KIP-98), with the group metadata KIP-447 added (from v3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TxnOffsetCommitRequest {
    /// The producer's transactional id.
    pub transactional_id: String,
    /// The group.
    pub group_id: GroupId,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The member's generation (-1 before v3 or for a producer without a consumer).
    pub generation_id: GenerationId,
    /// The member id (empty before v3).
    pub member_id: MemberId,
    /// The member's instance id, if static.
    pub group_instance_id: Option<GroupInstanceId>,
    /// The offsets.
    pub partitions: Vec<OffsetCommitPartition>,
}

/// The answer to TxnOffsetCommit: one outcome per partition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TxnOffsetCommitResponse {
    /// The outcome per partition, in request order.
    pub partitions: Vec<(TopicPartition, ErrorCode)>,
}

/// DescribeGroups: the state, protocol and members of groups.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DescribeGroupsRequest {
    /// The groups to describe.
    pub groups: Vec<GroupId>,
}

/// A member as DescribeGroups describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DescribedMember {
    /// The member id.
    pub member_id: MemberId,
    /// The instance id, if static (from v4).
    pub group_instance_id: Option<GroupInstanceId>,
    /// The client id it joined with.
    pub client_id: String,
    /// The client host it joined from.
    pub client_host: String,
    /// Its metadata for the selected protocol (only in the Stable state).
    pub member_metadata: Vec<u8>,
    /// Its current assignment (only in the Stable state).
    pub member_assignment: Vec<u8>,
}

/// One group in a DescribeGroups response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DescribedGroup {
    /// The outcome for this group.
    pub error_code: ErrorCode,
    /// The group id.
    pub group_id: GroupId,
    /// The state's name: `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable`, `Dead`.
    pub group_state: String,
    /// The protocol type, `consumer` for consumers.
    pub protocol_type: String,
    /// The selected protocol (only in the Stable state; empty otherwise).
    pub protocol_data: String,
    /// The members.
    pub members: Vec<DescribedMember>,
}

/// The answer to DescribeGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DescribeGroupsResponse {
    /// One entry per requested group, in request order.
    pub groups: Vec<DescribedGroup>,
}

/// ListGroups: every group the coordinator holds, optionally filtered by state (KIP-518, v4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ListGroupsRequest {
    /// Only groups in one of these states (names as DescribeGroups gives them); empty for all.
    pub states_filter: Vec<String>,
}

/// One group in a ListGroups response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ListedGroup {
    /// The group id.
    pub group_id: GroupId,
    /// The protocol type.
    pub protocol_type: String,
    /// The state's name (from v4).
    pub group_state: String,
}

/// The answer to ListGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ListGroupsResponse {
    /// The outcome.
    pub error_code: ErrorCode,
    /// The groups, ordered by id.
    pub groups: Vec<ListedGroup>,
}

/// DeleteGroups: delete empty groups and their offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeleteGroupsRequest {
    /// The groups to delete.
    pub groups: Vec<GroupId>,
}

/// The answer to DeleteGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeleteGroupsResponse {
    /// The outcome per group, in request order.
    pub results: Vec<(GroupId, ErrorCode)>,
}

/// A request to a group coordinator with its API version, one variant per API. The coordinator
/// (kgroup-core) takes it; a conformance trace carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(Serialize, Deserialize),
    serde(rename_all = "snake_case")
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Request {
    JoinGroup(Versioned<JoinGroupRequest>),
    SyncGroup(Versioned<SyncGroupRequest>),
    Heartbeat(Versioned<HeartbeatRequest>),
    LeaveGroup(Versioned<LeaveGroupRequest>),
    OffsetCommit(Versioned<OffsetCommitRequest>),
    OffsetFetch(Versioned<OffsetFetchRequest>),
    TxnOffsetCommit(Versioned<TxnOffsetCommitRequest>),
    DescribeGroups(Versioned<DescribeGroupsRequest>),
    ListGroups(Versioned<ListGroupsRequest>),
    DeleteGroups(Versioned<DeleteGroupsRequest>),
}

/// A group coordinator's response, one variant per API (matched to its request by id).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(Serialize, Deserialize),
    serde(rename_all = "snake_case")
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Response {
    JoinGroup(JoinGroupResponse),
    SyncGroup(SyncGroupResponse),
    Heartbeat(HeartbeatResponse),
    LeaveGroup(LeaveGroupResponse),
    OffsetCommit(OffsetCommitResponse),
    OffsetFetch(OffsetFetchResponse),
    TxnOffsetCommit(TxnOffsetCommitResponse),
    DescribeGroups(DescribeGroupsResponse),
    ListGroups(ListGroupsResponse),
    DeleteGroups(DeleteGroupsResponse),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_round_trip() {
        for &k in ApiKey::ALL {
            assert_eq!(ApiKey::from_code(k.code()), Some(k));
        }
        assert_eq!(ApiKey::from_code(0), None);
        assert_eq!(ApiKey::JoinGroup.code(), 11);
        assert_eq!(ApiKey::TxnOffsetCommit.code(), 28);
    }
}
