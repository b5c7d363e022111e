//! The shared vocabulary of Kafka's consumer-group protocol.
//!
//! Ids ([`MemberId`], [`GroupInstanceId`], [`GenerationId`], [`TopicPartition`]), Kafka's
//! complete [`ErrorCode`] list, the classic group states ([`GroupState`]), coordinator placement
//! and the request and response types of the group and offset APIs. The model, the coordinator,
//! the assignors and the conformance suite all speak in these types; none of them holds logic
//! beyond naming and ordering.
//!
//! Architecture Invariant: this crate does no IO, reads no clock and draws no randomness.
//! Serialization is behind the `serde` feature.

pub mod api;
pub mod error;
pub mod group;
pub mod ids;
pub mod trace;

pub use error::ErrorCode;
pub use group::{
    coordinator_partition, GroupState, RebalanceProtocol, DEFAULT_OFFSETS_TOPIC_PARTITIONS,
};
pub use ids::{
    java_string_cmp, java_string_hash, GenerationId, GroupId, GroupInstanceId, MemberId,
    TopicPartition,
};
