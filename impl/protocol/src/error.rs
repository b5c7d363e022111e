//! Kafka's error codes, with their numbers and names as Kafka's protocol guide lists them.
//!
//! Protocol outcomes are data: a response carries an [`ErrorCode`], never a Rust error. The list is
//! complete (every code the protocol guide defines up to Kafka 4.1), not only the codes the group
//! coordinator returns, so that a response from any broker can be named. A test holds the list
//! against the `kafka-protocol` crate's own error table.

use std::fmt;

macro_rules! error_codes {
    ($(($variant:ident, $code:literal, $name:literal)),* $(,)?) => {
        /// A Kafka error code. `None` (0) is success.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum ErrorCode {
            /// No error (0).
            None,
            $(
                #[doc = concat!("`", $name, "` (", stringify!($code), ").")]
                $variant,
            )*
        }

        impl ErrorCode {
            /// Every error code, success first, in the order of their numbers.
            pub const ALL: &'static [ErrorCode] = &[ErrorCode::None, $(ErrorCode::$variant),*];

            /// The code as it travels on the wire.
            pub const fn code(self) -> i16 {
                match self {
                    ErrorCode::None => 0,
                    $(ErrorCode::$variant => $code,)*
                }
            }

            /// Kafka's name for the code, as in `Errors.java` and the protocol guide.
            pub const fn name(self) -> &'static str {
                match self {
                    ErrorCode::None => "NONE",
                    $(ErrorCode::$variant => $name,)*
                }
            }

            /// The error code with this number, if Kafka defines one.
            pub const fn from_code(code: i16) -> Option<ErrorCode> {
                match code {
                    0 => Some(ErrorCode::None),
                    $($code => Some(ErrorCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    (UnknownServerError, -1, "UNKNOWN_SERVER_ERROR"),
    (OffsetOutOfRange, 1, "OFFSET_OUT_OF_RANGE"),
    (CorruptMessage, 2, "CORRUPT_MESSAGE"),
    (UnknownTopicOrPartition, 3, "UNKNOWN_TOPIC_OR_PARTITION"),
    (InvalidFetchSize, 4, "INVALID_FETCH_SIZE"),
    (LeaderNotAvailable, 5, "LEADER_NOT_AVAILABLE"),
    (NotLeaderOrFollower, 6, "NOT_LEADER_OR_FOLLOWER"),
    (RequestTimedOut, 7, "REQUEST_TIMED_OUT"),
    (BrokerNotAvailable, 8, "BROKER_NOT_AVAILABLE"),
    (ReplicaNotAvailable, 9, "REPLICA_NOT_AVAILABLE"),
    (MessageTooLarge, 10, "MESSAGE_TOO_LARGE"),
    (StaleControllerEpoch, 11, "STALE_CONTROLLER_EPOCH"),
    (OffsetMetadataTooLarge, 12, "OFFSET_METADATA_TOO_LARGE"),
    (NetworkException, 13, "NETWORK_EXCEPTION"),
    (CoordinatorLoadInProgress, 14, "COORDINATOR_LOAD_IN_PROGRESS"),
    (CoordinatorNotAvailable, 15, "COORDINATOR_NOT_AVAILABLE"),
    (NotCoordinator, 16, "NOT_COORDINATOR"),
    (InvalidTopicException, 17, "INVALID_TOPIC_EXCEPTION"),
    (RecordListTooLarge, 18, "RECORD_LIST_TOO_LARGE"),
    (NotEnoughReplicas, 19, "NOT_ENOUGH_REPLICAS"),
    (NotEnoughReplicasAfterAppend, 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND"),
    (InvalidRequiredAcks, 21, "INVALID_REQUIRED_ACKS"),
    (IllegalGeneration, 22, "ILLEGAL_GENERATION"),
    (InconsistentGroupProtocol, 23, "INCONSISTENT_GROUP_PROTOCOL"),
    (InvalidGroupId, 24, "INVALID_GROUP_ID"),
    (UnknownMemberId, 25, "UNKNOWN_MEMBER_ID"),
    (InvalidSessionTimeout, 26, "INVALID_SESSION_TIMEOUT"),
    (RebalanceInProgress, 27, "REBALANCE_IN_PROGRESS"),
    (InvalidCommitOffsetSize, 28, "INVALID_COMMIT_OFFSET_SIZE"),
    (TopicAuthorizationFailed, 29, "TOPIC_AUTHORIZATION_FAILED"),
    (GroupAuthorizationFailed, 30, "GROUP_AUTHORIZATION_FAILED"),
    (ClusterAuthorizationFailed, 31, "CLUSTER_AUTHORIZATION_FAILED"),
    (InvalidTimestamp, 32, "INVALID_TIMESTAMP"),
    (UnsupportedSaslMechanism, 33, "UNSUPPORTED_SASL_MECHANISM"),
    (IllegalSaslState, 34, "ILLEGAL_SASL_STATE"),
    (UnsupportedVersion, 35, "UNSUPPORTED_VERSION"),
    (TopicAlreadyExists, 36, "TOPIC_ALREADY_EXISTS"),
    (InvalidPartitions, 37, "INVALID_PARTITIONS"),
    (InvalidReplicationFactor, 38, "INVALID_REPLICATION_FACTOR"),
    (InvalidReplicaAssignment, 39, "INVALID_REPLICA_ASSIGNMENT"),
    (InvalidConfig, 40, "INVALID_CONFIG"),
    (NotController, 41, "NOT_CONTROLLER"),
    (InvalidRequest, 42, "INVALID_REQUEST"),
    (UnsupportedForMessageFormat, 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT"),
    (PolicyViolation, 44, "POLICY_VIOLATION"),
    (OutOfOrderSequenceNumber, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER"),
    (DuplicateSequenceNumber, 46, "DUPLICATE_SEQUENCE_NUMBER"),
    (InvalidProducerEpoch, 47, "INVALID_PRODUCER_EPOCH"),
    (InvalidTxnState, 48, "INVALID_TXN_STATE"),
    (InvalidProducerIdMapping, 49, "INVALID_PRODUCER_ID_MAPPING"),
    (InvalidTransactionTimeout, 50, "INVALID_TRANSACTION_TIMEOUT"),
    (ConcurrentTransactions, 51, "CONCURRENT_TRANSACTIONS"),
    (TransactionCoordinatorFenced, 52, "TRANSACTION_COORDINATOR_FENCED"),
    (TransactionalIdAuthorizationFailed, 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"),
    (SecurityDisabled, 54, "SECURITY_DISABLED"),
    (OperationNotAttempted, 55, "OPERATION_NOT_ATTEMPTED"),
    (KafkaStorageError, 56, "KAFKA_STORAGE_ERROR"),
    (LogDirNotFound, 57, "LOG_DIR_NOT_FOUND"),
    (SaslAuthenticationFailed, 58, "SASL_AUTHENTICATION_FAILED"),
    (UnknownProducerId, 59, "UNKNOWN_PRODUCER_ID"),
    (ReassignmentInProgress, 60, "REASSIGNMENT_IN_PROGRESS"),
    (DelegationTokenAuthDisabled, 61, "DELEGATION_TOKEN_AUTH_DISABLED"),
    (DelegationTokenNotFound, 62, "DELEGATION_TOKEN_NOT_FOUND"),
    (DelegationTokenOwnerMismatch, 63, "DELEGATION_TOKEN_OWNER_MISMATCH"),
    (DelegationTokenRequestNotAllowed, 64, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED"),
    (DelegationTokenAuthorizationFailed, 65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED"),
    (DelegationTokenExpired, 66, "DELEGATION_TOKEN_EXPIRED"),
    (InvalidPrincipalType, 67, "INVALID_PRINCIPAL_TYPE"),
    (NonEmptyGroup, 68, "NON_EMPTY_GROUP"),
    (GroupIdNotFound, 69, "GROUP_ID_NOT_FOUND"),
    (FetchSessionIdNotFound, 70, "FETCH_SESSION_ID_NOT_FOUND"),
    (InvalidFetchSessionEpoch, 71, "INVALID_FETCH_SESSION_EPOCH"),
    (ListenerNotFound, 72, "LISTENER_NOT_FOUND"),
    (TopicDeletionDisabled, 73, "TOPIC_DELETION_DISABLED"),
    (FencedLeaderEpoch, 74, "FENCED_LEADER_EPOCH"),
    (UnknownLeaderEpoch, 75, "UNKNOWN_LEADER_EPOCH"),
    (UnsupportedCompressionType, 76, "UNSUPPORTED_COMPRESSION_TYPE"),
    (StaleBrokerEpoch, 77, "STALE_BROKER_EPOCH"),
    (OffsetNotAvailable, 78, "OFFSET_NOT_AVAILABLE"),
    (MemberIdRequired, 79, "MEMBER_ID_REQUIRED"),
    (PreferredLeaderNotAvailable, 80, "PREFERRED_LEADER_NOT_AVAILABLE"),
    (GroupMaxSizeReached, 81, "GROUP_MAX_SIZE_REACHED"),
    (FencedInstanceId, 82, "FENCED_INSTANCE_ID"),
    (EligibleLeadersNotAvailable, 83, "ELIGIBLE_LEADERS_NOT_AVAILABLE"),
    (ElectionNotNeeded, 84, "ELECTION_NOT_NEEDED"),
    (NoReassignmentInProgress, 85, "NO_REASSIGNMENT_IN_PROGRESS"),
    (GroupSubscribedToTopic, 86, "GROUP_SUBSCRIBED_TO_TOPIC"),
    (InvalidRecord, 87, "INVALID_RECORD"),
    (UnstableOffsetCommit, 88, "UNSTABLE_OFFSET_COMMIT"),
    (ThrottlingQuotaExceeded, 89, "THROTTLING_QUOTA_EXCEEDED"),
    (ProducerFenced, 90, "PRODUCER_FENCED"),
    (ResourceNotFound, 91, "RESOURCE_NOT_FOUND"),
    (DuplicateResource, 92, "DUPLICATE_RESOURCE"),
    (UnacceptableCredential, 93, "UNACCEPTABLE_CREDENTIAL"),
    (InconsistentVoterSet, 94, "INCONSISTENT_VOTER_SET"),
    (InvalidUpdateVersion, 95, "INVALID_UPDATE_VERSION"),
    (FeatureUpdateFailed, 96, "FEATURE_UPDATE_FAILED"),
    (PrincipalDeserializationFailure, 97, "PRINCIPAL_DESERIALIZATION_FAILURE"),
    (SnapshotNotFound, 98, "SNAPSHOT_NOT_FOUND"),
    (PositionOutOfRange, 99, "POSITION_OUT_OF_RANGE"),
    (UnknownTopicId, 100, "UNKNOWN_TOPIC_ID"),
    (DuplicateBrokerRegistration, 101, "DUPLICATE_BROKER_REGISTRATION"),
    (BrokerIdNotRegistered, 102, "BROKER_ID_NOT_REGISTERED"),
    (InconsistentTopicId, 103, "INCONSISTENT_TOPIC_ID"),
    (InconsistentClusterId, 104, "INCONSISTENT_CLUSTER_ID"),
    (TransactionalIdNotFound, 105, "TRANSACTIONAL_ID_NOT_FOUND"),
    (FetchSessionTopicIdError, 106, "FETCH_SESSION_TOPIC_ID_ERROR"),
    (IneligibleReplica, 107, "INELIGIBLE_REPLICA"),
    (NewLeaderElected, 108, "NEW_LEADER_ELECTED"),
    (OffsetMovedToTieredStorage, 109, "OFFSET_MOVED_TO_TIERED_STORAGE"),
    (FencedMemberEpoch, 110, "FENCED_MEMBER_EPOCH"),
    (UnreleasedInstanceId, 111, "UNRELEASED_INSTANCE_ID"),
    (UnsupportedAssignor, 112, "UNSUPPORTED_ASSIGNOR"),
    (StaleMemberEpoch, 113, "STALE_MEMBER_EPOCH"),
    (MismatchedEndpointType, 114, "MISMATCHED_ENDPOINT_TYPE"),
    (UnsupportedEndpointType, 115, "UNSUPPORTED_ENDPOINT_TYPE"),
    (UnknownControllerId, 116, "UNKNOWN_CONTROLLER_ID"),
    (UnknownSubscriptionId, 117, "UNKNOWN_SUBSCRIPTION_ID"),
    (TelemetryTooLarge, 118, "TELEMETRY_TOO_LARGE"),
    (InvalidRegistration, 119, "INVALID_REGISTRATION"),
    (TransactionAbortable, 120, "TRANSACTION_ABORTABLE"),
    (InvalidRecordState, 121, "INVALID_RECORD_STATE"),
    (ShareSessionNotFound, 122, "SHARE_SESSION_NOT_FOUND"),
    (InvalidShareSessionEpoch, 123, "INVALID_SHARE_SESSION_EPOCH"),
    (FencedStateEpoch, 124, "FENCED_STATE_EPOCH"),
    (InvalidVoterKey, 125, "INVALID_VOTER_KEY"),
    (DuplicateVoter, 126, "DUPLICATE_VOTER"),
    (VoterNotFound, 127, "VOTER_NOT_FOUND"),
    (InvalidRegularExpression, 128, "INVALID_REGULAR_EXPRESSION"),
    (RebootstrapRequired, 129, "REBOOTSTRAP_REQUIRED"),
    (StreamsInvalidTopology, 130, "STREAMS_INVALID_TOPOLOGY"),
    (StreamsInvalidTopologyEpoch, 131, "STREAMS_INVALID_TOPOLOGY_EPOCH"),
    (StreamsTopologyFenced, 132, "STREAMS_TOPOLOGY_FENCED"),
    (ShareSessionLimitReached, 133, "SHARE_SESSION_LIMIT_REACHED"),
}

impl ErrorCode {
    /// Whether this is success.
    pub const fn is_none(self) -> bool {
        matches!(self, ErrorCode::None)
    }

    /// The error code with Kafka's name (`"UNKNOWN_MEMBER_ID"`), if there is one.
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|e| e.name() == name)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        ErrorCode::from_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown Kafka error code name `{name}`"))
        })
    }
}

/// In the JSON Schema: a string, one of Kafka's error code names.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for ErrorCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ErrorCode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = ErrorCode::ALL.iter().map(|e| e.name()).collect();
        schemars::json_schema!({
            "description": "A Kafka error code, by its name (NONE for success).",
            "type": "string",
            "enum": names,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for &e in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(e.code()), Some(e));
            assert_eq!(ErrorCode::from_name(e.name()), Some(e));
        }
        assert_eq!(ErrorCode::from_code(9999), None);
        assert_eq!(ErrorCode::from_name("NO_SUCH_ERROR"), None);
    }

    #[test]
    fn codes_are_unique_and_ordered() {
        let codes: Vec<i16> = ErrorCode::ALL.iter().map(|e| e.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        // -1 sorts first, then 0 (NONE), then 1..; ALL lists NONE first, so compare as sets.
        assert_eq!(sorted.len(), codes.len(), "duplicate error code");
    }

    #[test]
    fn group_protocol_codes_have_kafkas_numbers() {
        // The codes the group coordinator returns most, checked by hand against the protocol guide.
        assert_eq!(ErrorCode::NotCoordinator.code(), 16);
        assert_eq!(ErrorCode::CoordinatorLoadInProgress.code(), 14);
        assert_eq!(ErrorCode::IllegalGeneration.code(), 22);
        assert_eq!(ErrorCode::InconsistentGroupProtocol.code(), 23);
        assert_eq!(ErrorCode::UnknownMemberId.code(), 25);
        assert_eq!(ErrorCode::RebalanceInProgress.code(), 27);
        assert_eq!(ErrorCode::MemberIdRequired.code(), 79);
        assert_eq!(ErrorCode::GroupMaxSizeReached.code(), 81);
        assert_eq!(ErrorCode::FencedInstanceId.code(), 82);
        assert_eq!(ErrorCode::UnstableOffsetCommit.code(), 88);
        assert_eq!(ErrorCode::ProducerFenced.code(), 90);
        assert_eq!(ErrorCode::UnknownMemberId.name(), "UNKNOWN_MEMBER_ID");
    }
}

#[cfg(all(test, feature = "serde"))]
mod serde_tests {
    use super::ErrorCode;

    #[test]
    fn error_codes_serialize_by_kafka_name() {
        let json = serde_json::to_string(&ErrorCode::FencedInstanceId).unwrap();
        assert_eq!(json, "\"FENCED_INSTANCE_ID\"");
        assert_eq!(
            serde_json::from_str::<ErrorCode>(&json).unwrap(),
            ErrorCode::FencedInstanceId
        );
        let err = serde_json::from_str::<ErrorCode>("\"NOT_A_CODE\"").unwrap_err();
        assert!(err
            .to_string()
            .contains("unknown Kafka error code name `NOT_A_CODE`"));
    }
}
