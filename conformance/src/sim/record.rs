//! Recording a run as a conformance trace (`kgroup sim --save-trace`): the group coordinator's
//! inputs (requests, the passing of time, failovers) as `send`, `advance` and `restart` steps, and
//! every response it gave as an `expect` step right after the input that produced it.
//!
//! Member ids are the coordinator's choice, so the trace never spells one out: each id is bound
//! to a name (`${m1}`, `${m2}`, …) in the first response that carries it, and every later
//! occurrence, in requests and responses, is that name (docs/trace-format.md). The expectations
//! are what kgroup-core answered, not what the model says, so the trace's description asks for a
//! review before such a trace joins a corpus.

use kgroup_core::coordinator::{Request, Response};
use kgroup_protocol::trace::{Trace, TraceConfig, TraceStep, TRACE_VERSION};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Recorder {
    steps: Vec<TraceStep>,
    /// Member id → its name in the trace (`${m1}`).
    names: BTreeMap<String, String>,
}

/// Replaces every string that is a bound member id with its name. Free text (the `reason` of
/// JoinGroup and LeaveGroup, which the client fills with "need to re-join with the given
/// member-id: …") names members by their names too; the coordinator does not read it.
fn rename(v: &mut Value, names: &BTreeMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(name) = names.get(s.as_str()) {
                *s = name.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rename(i, names)),
        Value::Object(fields) => {
            for (k, f) in fields.iter_mut() {
                match f {
                    Value::String(text) if k == "reason" => {
                        for (id, name) in names {
                            if text.contains(id.as_str()) {
                                *text = text.replace(id.as_str(), name);
                            }
                        }
                    }
                    _ => rename(f, names),
                }
            }
        }
        _ => {}
    }
}

/// Binds a name to every member id a response carries that has none yet.
fn bind(v: &Value, names: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(fields) => {
            for (k, f) in fields {
                match (k.as_str(), f) {
                    ("member_id" | "leader", Value::String(id)) if !id.is_empty() => {
                        if !names.contains_key(id) {
                            let name = format!("${{m{}}}", names.len() + 1);
                            names.insert(id.clone(), name);
                        }
                    }
                    _ => bind(f, names),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| bind(i, names)),
        _ => {}
    }
}

impl Recorder {
    pub(crate) fn advance(&mut self, ms: u64) {
        self.steps.push(TraceStep::Advance { ms });
    }

    pub(crate) fn restart(&mut self) {
        self.steps.push(TraceStep::Restart);
    }

    pub(crate) fn send(&mut self, id: u64, client: &str, request: &Request) {
        let mut v = serde_json::to_value(request).expect("requests serialize");
        rename(&mut v, &self.names);
        let request = serde_json::from_value(v).expect("a renamed request is still a request");
        self.steps.push(TraceStep::Send {
            id,
            client: client.to_owned(),
            request,
        });
    }

    pub(crate) fn expect(&mut self, id: u64, response: &Response) {
        let mut v = serde_json::to_value(response).expect("responses serialize");
        bind(&v, &mut self.names);
        rename(&mut v, &self.names);
        let response = serde_json::from_value(v).expect("a renamed response is still a response");
        self.steps.push(TraceStep::Expect { id, response });
    }

    pub(crate) fn finish(self, name: String, description: String, config: TraceConfig) -> Trace {
        Trace {
            version: TRACE_VERSION,
            name,
            description,
            config,
            steps: self.steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kgroup_protocol::api::*;
    use kgroup_protocol::{ErrorCode, GenerationId, GroupId, MemberId};

    #[test]
    fn member_ids_become_names_bound_by_the_first_response() {
        let mut r = Recorder::default();
        let id = "c0-00000000-0000-0000-0000-000000000001";
        r.expect(
            1,
            &Response::JoinGroup(JoinGroupResponse {
                error_code: ErrorCode::MemberIdRequired,
                generation_id: GenerationId(-1),
                protocol_type: None,
                protocol_name: None,
                leader: MemberId(String::new()),
                skip_assignment: false,
                member_id: MemberId(id.into()),
                members: vec![],
            }),
        );
        r.send(
            2,
            "c0",
            &Request::Heartbeat(Versioned {
                api_version: 4,
                message: HeartbeatRequest {
                    group_id: GroupId("g".into()),
                    generation_id: GenerationId(1),
                    member_id: MemberId(id.into()),
                    group_instance_id: None,
                },
            }),
        );
        let json = serde_json::to_string(&r.steps).unwrap();
        assert!(!json.contains(id), "{json}");
        assert_eq!(json.matches("${m1}").count(), 2, "{json}");
        assert!(
            json.contains(r#""leader":"""#),
            "an empty id stays empty: {json}"
        );
    }
}
