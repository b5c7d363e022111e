//! The `kgroup assign` JSON contract: one request in, one response out.
//!
//! Request:
//! `{"strategy": "range"|"roundrobin"|"sticky"|"cooperative-sticky", "topics": {"t1": 3},
//!   "members": [{"id": "c1", "topics": ["t1"], "owned": [["t1", 0]], "generation": 1,
//!   "rack": "r1", "instance_id": "i1"}], "partition_racks": {"t1": [["r1", "r2"], ...]}}`
//! with `owned`, `generation`, `rack`, `instance_id` and `partition_racks` optional and unknown
//! fields ignored. Response: `{"assignment": {"c1": [["t1", 0], ["t1", 1]]}}` with every member
//! present, in request order, and partitions sorted by (topic, partition).
//!
//! Malformed input is a [`RequestError`] that names the offending field by its JSON path
//! (`members[2].owned[0][1]`), never a panic.

use kgroup_assign::{assign, AssignError, Assignment, GroupSpec, MemberView, Strategy};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;

/// A request as it arrives, before validation. Strings borrow from the input where they can
/// (no escapes), so a million owned partitions cost no allocation each.
#[derive(Debug, Deserialize)]
struct RawRequest<'a> {
    #[serde(borrow)]
    strategy: Cow<'a, str>,
    #[serde(borrow)]
    topics: BTreeMap<Cow<'a, str>, i64>,
    #[serde(borrow)]
    members: Vec<RawMember<'a>>,
    #[serde(default, borrow)]
    partition_racks: Option<BTreeMap<Cow<'a, str>, Vec<Vec<String>>>>,
}

#[derive(Debug, Deserialize)]
struct RawMember<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    topics: Vec<Cow<'a, str>>,
    #[serde(default, borrow)]
    owned: Option<Vec<(Cow<'a, str>, i64)>>,
    #[serde(default)]
    generation: Option<i32>,
    #[serde(default, borrow)]
    rack: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    instance_id: Option<Cow<'a, str>>,
}

/// The spec builder reads parsed members in place: copying a million names would cost more
/// than the assignment itself.
impl MemberView for RawMember<'_> {
    fn id(&self) -> &str {
        &self.id
    }
    fn instance_id(&self) -> Option<&str> {
        self.instance_id.as_deref()
    }
    fn rack(&self) -> Option<&str> {
        self.rack.as_deref()
    }
    fn topic_names(&self) -> &[impl AsRef<str>] {
        &self.topics
    }
    fn owned_partitions(&self) -> impl Iterator<Item = (&str, i32)> {
        // Partition numbers were checked to fit before the spec is built.
        self.owned
            .iter()
            .flatten()
            .map(|(t, p)| (t.as_ref(), *p as i32))
    }
    fn generation(&self) -> Option<i32> {
        self.generation
    }
}

/// A validated request.
#[derive(Debug)]
pub struct Request {
    /// The assignor to run.
    pub strategy: Strategy,
    /// The group.
    pub spec: GroupSpec,
}

/// What is wrong with a request, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// The JSON path of the offending value (`members[0].topics`), or `$` for the whole input.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for RequestError {}

fn error(path: impl Into<String>, message: impl Into<String>) -> RequestError {
    RequestError {
        path: path.into(),
        message: message.into(),
    }
}

/// Parses and validates a request.
pub fn parse_request(input: &[u8]) -> Result<Request, RequestError> {
    // Parse at full speed first; only a request that fails is parsed again, tracking paths, to
    // say where it is wrong.
    let raw: RawRequest<'_> = match serde_json::from_slice(input) {
        Ok(raw) => raw,
        Err(plain) => return Err(locate(input, plain)),
    };

    let strategy = Strategy::from_name(&raw.strategy).ok_or_else(|| {
        error(
            "strategy",
            format!(
                "unknown strategy `{}` (expected one of: {})",
                raw.strategy,
                Strategy::ALL.map(Strategy::name).join(", ")
            ),
        )
    })?;

    let mut builder = GroupSpec::builder();
    for (name, &count) in &raw.topics {
        let name: &str = name;
        if count < 0 {
            return Err(error(
                format!("topics.{name}"),
                format!("partition count {count} is negative"),
            ));
        }
        if count > i64::from(i32::MAX) {
            return Err(error(
                format!("topics.{name}"),
                format!("partition count {count} is larger than Kafka allows"),
            ));
        }
        builder = builder.topic(name, count);
    }
    if let Some(racks) = raw.partition_racks {
        for (topic, lists) in racks {
            if let Some(&count) = raw.topics.get(&topic) {
                if lists.len() as i64 != count {
                    return Err(error(
                        format!("partition_racks.{topic}"),
                        format!(
                            "lists {} partitions but topic `{topic}` has {count}",
                            lists.len()
                        ),
                    ));
                }
            }
            builder = builder.partition_racks(topic.into_owned(), lists);
        }
    }

    let mut first_index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, m) in raw.members.iter().enumerate() {
        if let Some(prev) = first_index.insert(&m.id, i) {
            return Err(error(
                format!("members[{i}].id"),
                format!("duplicate member id `{}` (also members[{prev}])", m.id),
            ));
        }
    }
    drop(first_index);

    for (i, m) in raw.members.iter().enumerate() {
        for (j, (_, partition)) in m.owned.iter().flatten().enumerate() {
            if i32::try_from(*partition).map_or(true, |p| p < 0) {
                return Err(error(
                    format!("members[{i}].owned[{j}][1]"),
                    format!("partition {partition} is not a valid partition number"),
                ));
            }
        }
    }
    let spec = builder.build_with(&raw.members).map_err(|e| match e {
        // Everything the builder can refuse was checked above with a precise path; keep a
        // readable fallback rather than a panic should the two ever disagree.
        AssignError::DuplicateMember(id) => error("members", format!("duplicate member id `{id}`")),
        other => error("$", other.to_string()),
    })?;
    Ok(Request { strategy, spec })
}

/// Explains why `input` does not parse, naming the JSON path of the offending value.
fn locate(input: &[u8], plain: serde_json::Error) -> RequestError {
    let mut de = serde_json::Deserializer::from_slice(input);
    let tracked: Result<RawRequest<'_>, _> = serde_path_to_error::deserialize(&mut de);
    match tracked {
        Err(e) => {
            let path = e.path().to_string();
            // serde_json's message ends with "at line L column C"; keep it, it locates the value.
            let path = if path == "." || path == "?" {
                "$".to_owned()
            } else {
                path
            };
            error(path, e.into_inner().to_string())
        }
        // The value parsed; what failed is what follows it.
        Ok(_) => error(
            "$",
            format!("trailing characters after the request: {plain}"),
        ),
    }
}

/// Writes the response for an assignment: `{"assignment": {member: [[topic, partition], ...]}}`.
pub fn write_response(
    spec: &GroupSpec,
    assignment: &Assignment,
    out: &mut impl Write,
) -> std::io::Result<()> {
    // Written by hand rather than through a map of owned strings: a million partitions would
    // otherwise cost a million allocations. Names go through serde_json for escaping.
    let topic_names: Vec<String> = spec
        .topics
        .iter()
        .map(|t| serde_json::to_string(&t.name).expect("strings serialize"))
        .collect();
    out.write_all(b"{\"assignment\":{")?;
    for (i, (member, parts)) in spec.members.iter().zip(&assignment.members).enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, member.id.as_str())?;
        out.write_all(b":[")?;
        for (j, tp) in parts.iter().enumerate() {
            if j > 0 {
                out.write_all(b",")?;
            }
            write!(out, "[{},{}]", topic_names[tp.topic as usize], tp.partition)?;
        }
        out.write_all(b"]")?;
    }
    out.write_all(b"}}\n")
}

/// Parses a request, runs its assignor and writes the response.
pub fn run(input: &[u8], out: &mut impl Write) -> Result<(), RunError> {
    let request = parse_request(input).map_err(RunError::Request)?;
    let assignment = assign(request.strategy, &request.spec);
    write_response(&request.spec, &assignment, out).map_err(RunError::Io)
}

/// Why `kgroup assign` failed.
#[derive(Debug)]
pub enum RunError {
    /// The request is malformed (exit 2).
    Request(RequestError),
    /// Writing the response failed.
    Io(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_str(input: &str) -> Result<serde_json::Value, String> {
        let mut out = Vec::new();
        match run(input.as_bytes(), &mut out) {
            Ok(()) => Ok(serde_json::from_slice(&out).expect("response is JSON")),
            Err(RunError::Request(e)) => Err(e.to_string()),
            Err(RunError::Io(e)) => panic!("{e}"),
        }
    }

    #[test]
    fn answers_the_contract_example() {
        let response = run_str(
            r#"{"strategy": "range", "topics": {"t1": 3},
                "members": [{"id": "c1", "topics": ["t1"], "owned": [["t1", 0]], "generation": 1,
                             "rack": "r1", "instance_id": "i1"},
                            {"id": "c2", "topics": ["t1"], "extra": true}]}"#,
        )
        .unwrap();
        assert_eq!(
            response,
            serde_json::json!({"assignment": {"c1": [["t1", 0], ["t1", 1]], "c2": [["t1", 2]]}})
        );
    }

    #[test]
    fn errors_name_the_json_path() {
        let cases = [
            ("not json", "$:"),
            (
                r#"{"topics": {}, "members": []}"#,
                "$: missing field `strategy`",
            ),
            (
                r#"{"strategy": "range", "topics": {"t": -1}, "members": []}"#,
                "topics.t: partition count -1 is negative",
            ),
            (
                r#"{"strategy": "range", "topics": {"t": "3"}, "members": []}"#,
                "topics.t: invalid type",
            ),
            (
                r#"{"strategy": "best", "topics": {}, "members": []}"#,
                "strategy: unknown strategy `best`",
            ),
            (
                r#"{"strategy": "range", "topics": {}, "members": [{"id": "a", "topics": "t"}]}"#,
                "members[0].topics: invalid type",
            ),
            (
                r#"{"strategy": "range", "topics": {}, "members": [{"topics": []}]}"#,
                "members[0]: missing field `id`",
            ),
            (
                r#"{"strategy": "range", "topics": {}, "members": [{"id": "a", "topics": []}, {"id": "a", "topics": []}]}"#,
                "members[1].id: duplicate member id `a`",
            ),
            (
                r#"{"strategy": "range", "topics": {"t": 1}, "members": [{"id": "a", "topics": [], "owned": [["t", 0], ["t", -2]]}]}"#,
                "members[0].owned[1][1]: partition -2",
            ),
            (
                r#"{"strategy": "range", "topics": {"t": 1}, "members": [{"id": "a", "topics": [], "owned": [["t"]]}]}"#,
                "members[0].owned[0]: invalid length 1",
            ),
            (
                r#"{"strategy": "range", "topics": {"t": 2}, "members": [], "partition_racks": {"t": [["r"]]}}"#,
                "partition_racks.t: lists 1 partitions but topic `t` has 2",
            ),
            (
                r#"{"strategy": "range", "topics": {}, "members": []} {}"#,
                "$: trailing characters",
            ),
        ];
        for (input, expected) in cases {
            let err = run_str(input).expect_err(input);
            assert!(
                err.starts_with(expected),
                "input {input}\n  got: {err}\n  expected prefix: {expected}"
            );
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }
}
