//! Traces: sequences of protocol steps with what each one did. The model writes a
//! counterexample as a [`Counterexample`]; the conformance trace format (requests, responses,
//! clock steps) grows here too, so that the model writes and the conformance crate reads one
//! set of types.

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// The version of the counterexample format below.
pub const COUNTEREXAMPLE_VERSION: u32 = 1;

/// A path of the model that breaks a property (or reaches a goal).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Counterexample {
    pub version: u32,
    /// The property, by its sentence.
    pub property: String,
    /// The configuration, as `kgroup check` describes it.
    pub config: String,
    /// The seeded bug switched on, if any.
    pub bug: Option<String>,
    pub steps: Vec<CounterexampleStep>,
}

/// One step and the system after it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CounterexampleStep {
    /// 1-based.
    pub step: u32,
    /// `coordinator`, `consumer N`, or `fault`.
    pub actor: String,
    /// What happened, with the message it carried.
    pub action: String,
    /// The group state after the step (`Stable`, `PreparingRebalance`, …).
    pub group_state: String,
    pub generation: u32,
    /// The coordinator's members with their assigned partitions.
    pub assignment: Vec<MemberPartitions>,
    /// Per consumer, the partitions it is processing.
    pub processing: Vec<Vec<u32>>,
    /// Committed offset per partition.
    pub committed: Vec<u32>,
}

/// A member id with a set of partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MemberPartitions {
    pub member: String,
    pub partitions: Vec<u32>,
}

/// The version of the conformance trace format below. docs/trace-format.md describes it.
pub const TRACE_VERSION: u32 = 1;

/// A conformance trace: a coordinator configuration, then the inputs a coordinator receives
/// (requests, the passing of time, a failover, transaction markers) interleaved with what it
/// must have answered by then.
///
/// Member ids are chosen by the implementation under test, so a trace never spells one out:
/// any string of the form `${name}` in a response is a placeholder that binds `name` to the
/// actual value the first time it is met and must equal it afterwards; in a request it stands for
/// the bound value. `${_}` matches anything and binds nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Trace {
    /// [`TRACE_VERSION`].
    pub version: u32,
    /// A unique, stable name (the file name without `.json`).
    pub name: String,
    /// What the trace shows, in a sentence.
    pub description: String,
    /// The coordinator settings the expected outcomes assume.
    pub config: TraceConfig,
    pub steps: Vec<TraceStep>,
}

/// Coordinator settings a trace depends on (the broker configuration names in comments).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TraceConfig {
    /// `group.min.session.timeout.ms`.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.max.size`.
    pub group_max_size: u32,
}

impl Default for TraceConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        TraceConfig {
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_max_size: i32::MAX as u32,
        }
    }
}

/// One step of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(Serialize, Deserialize),
    serde(tag = "step", rename_all = "snake_case")
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum TraceStep {
    /// Request `id` arrives from `client` (its `client.id`) at the current time.
    Send {
        id: u64,
        client: String,
        request: crate::api::Request,
    },
    /// Request `id` has been answered, with exactly this response.
    Expect {
        id: u64,
        response: crate::api::Response,
    },
    /// Request `id` has not been answered yet (a JoinGroup or SyncGroup waiting for the
    /// rebalance).
    Pending { id: u64 },
    /// The clock moves forward by `ms`; every timer due by then fires.
    Advance { ms: u64 },
    /// The coordinator fails over: its memory is lost and a new one loads the offsets log.
    /// Requests still unanswered are lost with it.
    Restart,
    /// A transaction marker for the group's offsets partition arrives (WriteTxnMarkers).
    Marker {
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    },
}

/// The JSON Schema of a trace file, generated from these types; docs/trace-schema.json is its
/// committed copy (a test keeps the two equal).
#[cfg(feature = "schema")]
pub fn trace_schema() -> String {
    let schema = schemars::schema_for!(Trace);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}

#[cfg(all(test, feature = "schema"))]
mod schema_tests {
    /// docs/trace-schema.json is the schema these types generate (set KGROUP_UPDATE_SCHEMA=1 to
    /// rewrite it after changing the types).
    #[test]
    fn the_committed_schema_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/trace-schema.json");
        let generated = super::trace_schema();
        if std::env::var_os("KGROUP_UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &generated).expect("write the schema");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/trace-schema.json is stale: run KGROUP_UPDATE_SCHEMA=1 cargo test -p kgroup-protocol --features schema"
        );
        for word in [
            "TraceStep",
            "JoinGroupRequest",
            "UNKNOWN_MEMBER_ID",
            "\"advance\"",
        ] {
            assert!(generated.contains(word), "{word}");
        }
    }
}
