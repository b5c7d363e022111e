//! Replaying a conformance trace ([`kgroup_protocol::trace::Trace`]) against kgroup-core's
//! group coordinator, in process.
//!
//! The replayer feeds the trace's inputs to a [`GroupCoordinator`] (requests at the trace's
//! clock, `handle_timeout` when the clock advances, a reload of the appended log on a restart,
//! markers) and checks each `expect` and `pending` step against what the coordinator has answered.
//! Member ids go through names: a `${name}` string in an expected response binds `name` to the
//! actual value the first time and must equal it afterwards; in a request it stands for the bound
//! value; `${_}` matches anything. Comparison is on the responses' JSON form, field by field, so a
//! failure names the field (`members[1].member_id`) with the expected and actual values.

use kgroup_core::coordinator::{
    Config, Context, GroupCoordinator, MemberIds, Output, Request, SequentialIds,
};
use kgroup_core::records::LogEntry;
use kgroup_core::store::Store;
use kgroup_protocol::trace::{Trace, TraceConfig, TraceStep};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};

/// Why a trace failed: the step (1-based), what went wrong, and the two sides where there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub step: usize,
    pub what: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}: {}", self.step, self.what)?;
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

/// Member-id suffixes shaped as [`SequentialIds`] makes them, counted across coordinator
/// restarts: every clone draws from one counter.
///
/// Kafka's member ids end in a random UUID, so a coordinator that takes over after a failover
/// never hands out an id the loaded group still holds. A fresh `SequentialIds` would start again at
/// 1 and could give a new member the id of a loaded one; the replayer and the simulator give every
/// coordinator they load a clone of one `ContinuingIds` instead. Without a restart the ids are
/// exactly `SequentialIds`'.
#[derive(Debug, Clone, Default)]
pub struct ContinuingIds(Arc<Mutex<SequentialIds>>);

impl MemberIds for ContinuingIds {
    fn next_suffix(&mut self) -> String {
        // A poisoned lock only means another thread panicked mid-draw; the counter is intact.
        let mut ids = self.0.lock().unwrap_or_else(|e| e.into_inner());
        ids.next_suffix()
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
enum Fate {
    Answered(Value),
    Abandoned,
}

/// Replays `trace` against kgroup-core's group coordinator. `Ok` when every expectation held.
pub fn replay_inproc(trace: &Trace) -> Result<(), Failure> {
    let config = coordinator_config(&trace.config);
    let ids = ContinuingIds::default();
    let new = |store: Store, now: u64| {
        GroupCoordinator::load(config.clone(), Box::new(ids.clone()), store, now)
    };
    let mut coordinator = new(Store::new(), 0);
    let mut log: Vec<LogEntry> = vec![];
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
                let request: Request =
                    serde_json::from_value(v).map_err(|e| fail(e.to_string()))?;
                let ctx = Context {
                    id: *id,
                    client_id: client.clone(),
                    client_host: format!("/{client}"),
                };
                coordinator.handle_request(now, ctx, request);
            }
            TraceStep::Advance { ms } => {
                now += ms;
                coordinator.handle_timeout(now);
            }
            TraceStep::Restart => {
                let mut store = Store::new();
                for e in &log {
                    store
                        .replay(e)
                        .map_err(|e| fail(format!("the log does not replay: {e}")))?;
                }
                coordinator = new(store, now);
                // Requests waiting in the old coordinator are lost with it.
                for id in &sent {
                    fates.entry(*id).or_insert(Fate::Abandoned);
                }
            }
            TraceStep::Marker {
                producer_id,
                producer_epoch,
                commit,
            } => coordinator.handle_marker(*producer_id, *producer_epoch, *commit, 0),
            TraceStep::Expect { id, response } => {
                drain(&mut coordinator, &mut log, &mut fates);
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
                drain(&mut coordinator, &mut log, &mut fates);
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
        drain(&mut coordinator, &mut log, &mut fates);
    }
    Ok(())
}

fn drain(c: &mut GroupCoordinator, log: &mut Vec<LogEntry>, fates: &mut BTreeMap<u64, Fate>) {
    while let Some(out) = c.poll_output() {
        match out {
            Output::Append(e) => log.push(e),
            Output::Response { id, response } => {
                let v = serde_json::to_value(response)
                    .unwrap_or_else(|e| Value::String(format!("unserializable response: {e}")));
                fates.insert(id, Fate::Answered(v));
            }
            Output::Abandoned { id } => {
                fates.insert(id, Fate::Abandoned);
            }
        }
    }
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
