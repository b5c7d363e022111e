//! Replaying a conformance trace ([`kgroup_protocol::trace::Trace`]) against a group
//! coordinator: kgroup-core's in process ([`InProc`], [`replay_inproc`]) or any other behind the
//! [`Target`] trait (the adapter process of `crate::adapter`).
//!
//! [`replay`] feeds the trace's inputs to the target (requests at the trace's clock, clock
//! advances, restarts, markers) and checks each `expect` and `pending` step against what the
//! target has answered, so a target only reports the fate of each request and every judgement is
//! made here, the same way for every target. Member ids go through names: a `${name}` string in
//! an expected response binds `name` to the actual value the first time and must equal it
//! afterwards; in a request it stands for the bound value; `${_}` matches anything. Comparison is
//! on the responses' JSON form, field by field, so a failure names the field
//! (`members[1].member_id`) with the expected and actual values.

use kgroup_core::coordinator::{Config, Context, GroupCoordinator, MemberIds, Output, Request};
use kgroup_core::records::LogEntry;
use kgroup_core::store::Store;
use kgroup_protocol::trace::{Trace, TraceConfig, TraceStep};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Why a trace failed: the step (1-based; 0 before the first step, as when an adapter process
/// fails to start its session), what went wrong, and the two sides where there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub step: usize,
    pub what: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.step == 0 {
            write!(f, "before the first step: {}", self.what)?;
        } else {
            write!(f, "step {}: {}", self.step, self.what)?;
        }
        if let Some(e) = &self.expected {
            write!(f, "\n  expected: {e}")?;
        }
        if let Some(a) = &self.actual {
            write!(f, "\n  actual:   {a}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// The coordinator configuration a trace assumes.
pub fn coordinator_config(c: &TraceConfig) -> Config {
    Config {
        group_min_session_timeout_ms: c.group_min_session_timeout_ms,
        group_max_session_timeout_ms: c.group_max_session_timeout_ms,
        group_initial_rebalance_delay_ms: c.group_initial_rebalance_delay_ms,
        group_max_size: c.group_max_size as usize,
        ..Config::default()
    }
}

/// `${name}` → `name`.
fn placeholder(s: &str) -> Option<&str> {
    s.strip_prefix("${")?.strip_suffix('}')
}

/// Replaces every `${name}` string with the bound value.
fn substitute(v: &mut Value, names: &BTreeMap<String, String>) -> Result<(), String> {
    match v {
        Value::String(s) => {
            if let Some(name) = placeholder(s) {
                match names.get(name) {
                    Some(bound) => *s = bound.clone(),
                    None => {
                        return Err(format!("name `{name}` is used before a response bound it"))
                    }
                }
            }
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|i| substitute(i, names)),
        Value::Object(fields) => fields.values_mut().try_for_each(|f| substitute(f, names)),
        _ => Ok(()),
    }
}

/// Compares an expected JSON value with the actual one, binding names; the error is the path
/// of the first difference.
fn matches(
    expected: &Value,
    actual: &Value,
    names: &mut BTreeMap<String, String>,
    path: &str,
) -> Result<(), String> {
    if let (Value::String(e), Value::String(a)) = (expected, actual) {
        if let Some(name) = placeholder(e) {
            if name == "_" {
                return Ok(());
            }
            return match names.get(name) {
                Some(bound) if bound == a => Ok(()),
                Some(bound) => Err(format!("{path}: `${{{name}}}` is {bound:?}, got {a:?}")),
                None => {
                    // Names stand for distinct ids: a value already bound to another name
                    // does not bind this one.
                    if let Some((other, _)) = names.iter().find(|(_, v)| *v == a) {
                        return Err(format!(
                            "{path}: {a:?} is already `${{{other}}}`, so it cannot be `${{{name}}}`"
                        ));
                    }
                    names.insert(name.to_owned(), a.clone());
                    Ok(())
                }
            };
        }
    }
    match (expected, actual) {
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{path}: {} elements expected, {} given",
                    e.len(),
                    a.len()
                ));
            }
            if path == "members" || path.ends_with(".members") {
                return matches_unordered(e, a, names, path);
            }
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                matches(x, y, names, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Object(e), Value::Object(a)) => {
            let keys: BTreeSet<&String> = e.keys().chain(a.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (e.get(k), a.get(k)) {
                    (Some(x), Some(y)) => matches(x, y, names, &p)?,
                    _ => return Err(format!("{p}: present on one side only")),
                }
            }
            Ok(())
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{path}: expected {e}, got {a}")),
    }
}

/// Member lists (the leader's JoinGroup response, DescribeGroups) are compared without regard to
/// order: Kafka lists members in its hash map's order. Each expected element takes the first
/// unused actual element it matches, names bound as it goes.
fn matches_unordered(
    expected: &[Value],
    actual: &[Value],
    names: &mut BTreeMap<String, String>,
    path: &str,
) -> Result<(), String> {
    let mut used = vec![false; actual.len()];
    for (i, x) in expected.iter().enumerate() {
        let found = actual.iter().enumerate().find_map(|(j, y)| {
            if used[j] {
                return None;
            }
            let mut tentative = names.clone();
            matches(x, y, &mut tentative, &format!("{path}[{j}]"))
                .ok()
                .map(|()| (j, tentative))
        });
        match found {
            Some((j, bound)) => {
                used[j] = true;
                *names = bound;
            }
            None => {
                return Err(format!(
                    "{path}: no member matches expected element {i}: {x}"
                ))
            }
        }
    }
    Ok(())
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Answered with this response (its JSON form, `{"join_group": {...}}`).
    Answered(Value),
    /// Never to be answered: a newer request of the member took its place, the member was
    /// removed while it waited, or the coordinator failed over.
    Abandoned,
}

/// A group coordinator the replayer drives: kgroup-core in process ([`InProc`]) or an adapter
/// process (`crate::adapter`). The replayer keeps all the judging (names, expectations, pending
/// requests); a target only takes the trace's inputs and reports what became of each request.
///
/// Every input carries the trace's clock, `now`, in milliseconds from 0. An `Err` is a failure
/// of the target (it crashed, or said something that cannot be read), reported at the step.
pub trait Target {
    /// Request `id` arrives from client `client` at `now`. `request` is the trace's request in
    /// its JSON form (`{"join_group": {"api_version": 9, "message": {...}}}`), member-id names
    /// already replaced by their values.
    fn send(&mut self, now: u64, id: u64, client: &str, request: &Value) -> Result<(), String>;
    /// The clock moves forward to `now`: every timer due by then fires, each at its deadline.
    fn advance(&mut self, now: u64) -> Result<(), String>;
    /// The coordinator fails over at `now`: its memory is lost and a new one loads the offsets
    /// log. Requests still waiting are lost with it (the replayer counts them abandoned).
    fn restart(&mut self, now: u64) -> Result<(), String>;
    /// A transaction marker for the group's offsets partition arrives at `now`.
    fn marker(
        &mut self,
        now: u64,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<(), String>;
    /// What became of requests since the last call, oldest first.
    fn fates(&mut self) -> Vec<(u64, Fate)>;
}

/// The request kind of a request in its JSON form: `join_group`, `offset_commit`, ... (the
/// snake_case variant names of [`kgroup_protocol::api::Request`]).
pub fn request_kind(request: &Value) -> Option<&str> {
    match request {
        Value::Object(fields) if fields.len() == 1 => fields.keys().next().map(String::as_str),
        _ => None,
    }
}

/// Takes the fates a target reports, refusing the impossible ones: an answer to a request never
/// sent, and a second fate for a request that already has one.
fn record(
    reported: Vec<(u64, Fate)>,
    sent: &BTreeSet<u64>,
    fates: &mut BTreeMap<u64, Fate>,
) -> Result<(), String> {
    for (id, fate) in reported {
        if !sent.contains(&id) {
            return Err(format!(
                "the target reports request {id}, which was never sent"
            ));
        }
        match (fates.get(&id), &fate) {
            (None, _) => {}
            (Some(Fate::Answered(_)), Fate::Answered(_)) => {
                return Err(format!("request {id} is answered twice"))
            }
            (Some(Fate::Answered(_)), Fate::Abandoned) => {
                return Err(format!("request {id} is abandoned after it was answered"))
            }
            (Some(Fate::Abandoned), Fate::Answered(_)) => {
                return Err(format!("request {id} is answered after it was abandoned"))
            }
            (Some(Fate::Abandoned), Fate::Abandoned) => {
                return Err(format!("request {id} is abandoned twice"))
            }
        }
        fates.insert(id, fate);
    }
    Ok(())
}

/// Replays `trace` against `target`. `Ok` when every expectation held; otherwise the first
/// failure, named by its step.
pub fn replay(trace: &Trace, target: &mut dyn Target) -> Result<(), Failure> {
    let mut now = 0u64;
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut fates: BTreeMap<u64, Fate> = BTreeMap::new();
    let mut sent: BTreeSet<u64> = BTreeSet::new();
    for (i, step) in trace.steps.iter().enumerate() {
        let n = i + 1;
        let fail = |what: String| Failure {
            step: n,
            what,
            expected: None,
            actual: None,
        };
        match step {
            TraceStep::Send {
                id,
                client,
                request,
            } => {
                if !sent.insert(*id) {
                    return Err(fail(format!("request id {id} is used twice")));
                }
                let mut v = serde_json::to_value(request).map_err(|e| fail(e.to_string()))?;
                substitute(&mut v, &names).map_err(fail)?;
                target.send(now, *id, client, &v).map_err(fail)?;
            }
            TraceStep::Advance { ms } => {
                now = now.saturating_add(*ms);
                target.advance(now).map_err(fail)?;
            }
            TraceStep::Restart => {
                target.restart(now).map_err(fail)?;
                record(target.fates(), &sent, &mut fates).map_err(fail)?;
                // Requests waiting in the old coordinator are lost with it.
                for id in &sent {
                    fates.entry(*id).or_insert(Fate::Abandoned);
                }
            }
            TraceStep::Marker {
                producer_id,
                producer_epoch,
                commit,
            } => target
                .marker(now, *producer_id, *producer_epoch, *commit)
                .map_err(fail)?,
            TraceStep::Expect { id, response } => {
                let expected = serde_json::to_value(response).map_err(|e| fail(e.to_string()))?;
                match fates.get(id) {
                    Some(Fate::Answered(actual)) => {
                        matches(&expected, actual, &mut names, "").map_err(|what| Failure {
                            step: n,
                            what: format!("request {id}: {what}"),
                            expected: Some(expected.to_string()),
                            actual: Some(actual.to_string()),
                        })?;
                    }
                    Some(Fate::Abandoned) => {
                        return Err(fail(format!("request {id} will never be answered")))
                    }
                    None => return Err(fail(format!("request {id} has not been answered"))),
                }
            }
            TraceStep::Pending { id } => {
                if let Some(Fate::Answered(actual)) = fates.get(id) {
                    return Err(Failure {
                        step: n,
                        what: format!("request {id} should still be waiting, but was answered"),
                        expected: None,
                        actual: Some(actual.to_string()),
                    });
                }
            }
        }
        record(target.fates(), &sent, &mut fates).map_err(fail)?;
    }
    Ok(())
}

/// Member-id suffixes shaped like [`kgroup_core::coordinator::SequentialIds`]'s, from one
/// counter that survives restarts, so that a coordinator loaded after a failover never hands out
/// an id a stored member holds (Kafka's are random UUIDs). Every coordinator of one replay or one
/// simulated run gets a clone.
#[derive(Debug, Clone, Default)]
pub struct ContinuingIds(Arc<AtomicU64>);

impl MemberIds for ContinuingIds {
    fn next_suffix(&mut self) -> String {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        format!("00000000-0000-0000-0000-{n:012x}")
    }
}

/// kgroup-core's group coordinator in this process, as a replay target.
///
/// Requests get the client host `/CLIENT`. An advance steps the coordinator's clock through
/// each timer deadline on the way (`poll_timeout`), so that every timer fires at its deadline,
/// as the trace format says. A restart loads a new coordinator from the entries the old one
/// appended.
#[derive(Debug)]
pub struct InProc {
    config: Config,
    ids: ContinuingIds,
    coordinator: GroupCoordinator,
    log: Vec<LogEntry>,
    fates: Vec<(u64, Fate)>,
}

impl InProc {
    /// A coordinator with the trace's configuration and no groups, at time 0.
    pub fn new(config: &TraceConfig) -> InProc {
        InProc::with_config(coordinator_config(config))
    }

    /// A coordinator with a configuration of the caller's (a test's broken variant, say).
    pub fn with_config(config: Config) -> InProc {
        let ids = ContinuingIds::default();
        let coordinator =
            GroupCoordinator::load(config.clone(), Box::new(ids.clone()), Store::new(), 0);
        InProc {
            config,
            ids,
            coordinator,
            log: vec![],
            fates: vec![],
        }
    }

    /// When the coordinator's next timer is due (`poll_timeout`), for drivers that advance the
    /// clock to it, as trace generation does.
    pub fn next_deadline(&mut self) -> Option<u64> {
        self.coordinator.poll_timeout()
    }

    fn drain(&mut self) {
        while let Some(out) = self.coordinator.poll_output() {
            match out {
                Output::Append(e) => self.log.push(e),
                Output::Response { id, response } => {
                    let v = serde_json::to_value(response)
                        .unwrap_or_else(|e| Value::String(format!("unserializable response: {e}")));
                    self.fates.push((id, Fate::Answered(v)));
                }
                Output::Abandoned { id } => self.fates.push((id, Fate::Abandoned)),
            }
        }
    }
}

impl Target for InProc {
    fn send(&mut self, now: u64, id: u64, client: &str, request: &Value) -> Result<(), String> {
        let request: Request = serde_json::from_value(request.clone())
            .map_err(|e| format!("request {id} does not read: {e}"))?;
        let ctx = Context {
            id,
            client_id: client.to_owned(),
            client_host: format!("/{client}"),
        };
        self.coordinator.handle_request(now, ctx, request);
        self.drain();
        Ok(())
    }

    fn advance(&mut self, now: u64) -> Result<(), String> {
        // Each timer fires at its own deadline, so what it schedules (a member's next session,
        // the sync deadline after a join phase ends) counts from there, not from `now`.
        while let Some(deadline) = self.coordinator.poll_timeout() {
            if deadline > now {
                break;
            }
            self.coordinator.handle_timeout(deadline);
        }
        self.coordinator.handle_timeout(now);
        self.drain();
        Ok(())
    }

    fn restart(&mut self, now: u64) -> Result<(), String> {
        self.drain();
        let mut store = Store::new();
        for e in &self.log {
            store
                .replay(e)
                .map_err(|e| format!("the log does not replay: {e}"))?;
        }
        self.coordinator =
            GroupCoordinator::load(self.config.clone(), Box::new(self.ids.clone()), store, now);
        self.drain();
        Ok(())
    }

    fn marker(
        &mut self,
        _now: u64,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<(), String> {
        self.coordinator
            .handle_marker(producer_id, producer_epoch, commit, 0);
        self.drain();
        Ok(())
    }

    fn fates(&mut self) -> Vec<(u64, Fate)> {
        std::mem::take(&mut self.fates)
    }
}

/// Replays `trace` against kgroup-core's group coordinator. `Ok` when every expectation held.
pub fn replay_inproc(trace: &Trace) -> Result<(), Failure> {
    replay(trace, &mut InProc::new(&trace.config))
}

/// [`replay_inproc`] with a coordinator configuration of the caller's (a test's broken variant,
/// say) instead of the one the trace's settings make.
pub fn replay_inproc_with(trace: &Trace, config: Config) -> Result<(), Failure> {
    replay(trace, &mut InProc::with_config(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_bind_once_and_must_agree() {
        let mut names = BTreeMap::new();
        let e = json!({"member_id": "${a}", "leader": "${a}", "other": "${_}"});
        let ok = json!({"member_id": "m-1", "leader": "m-1", "other": "x"});
        assert_eq!(matches(&e, &ok, &mut names, ""), Ok(()));
        assert_eq!(names.get("a").map(String::as_str), Some("m-1"));
        let bad = json!({"member_id": "m-1", "leader": "m-2", "other": "x"});
        let err = matches(&e, &bad, &mut names, "").unwrap_err();
        assert!(err.contains("leader"), "{err}");
        let mut v = json!({"member_id": "${a}"});
        substitute(&mut v, &names).unwrap();
        assert_eq!(v, json!({"member_id": "m-1"}));
        let mut v = json!({"member_id": "${b}"});
        assert!(substitute(&mut v, &names).unwrap_err().contains("`b`"));
    }

    #[test]
    fn member_lists_match_in_any_order() {
        let mut names = BTreeMap::new();
        let e = json!({"members": [{"member_id": "${a}", "x": 1}, {"member_id": "${b}", "x": 2}]});
        let a = json!({"members": [{"member_id": "m-2", "x": 2}, {"member_id": "m-1", "x": 1}]});
        assert_eq!(matches(&e, &a, &mut names, ""), Ok(()));
        assert_eq!(names.get("a").map(String::as_str), Some("m-1"));
        assert_eq!(names.get("b").map(String::as_str), Some("m-2"));
        let wrong =
            json!({"members": [{"member_id": "m-2", "x": 2}, {"member_id": "m-1", "x": 3}]});
        let err = matches(&e, &wrong, &mut BTreeMap::new(), "").unwrap_err();
        assert!(err.starts_with("members: no member matches"), "{err}");
        // Other lists keep their order.
        let e = json!({"partitions": [1, 2]});
        let a = json!({"partitions": [2, 1]});
        assert!(matches(&e, &a, &mut BTreeMap::new(), "").is_err());
    }

    #[test]
    fn differences_are_named_by_path() {
        let mut names = BTreeMap::new();
        let e = json!({"partitions": [{"id": 1}, {"id": 2}]});
        let a = json!({"partitions": [{"id": 1}, {"id": 3}]});
        let err = matches(&e, &a, &mut names, "").unwrap_err();
        assert_eq!(err, "partitions[1].id: expected 2, got 3");
    }
}
