//! Readable counterexamples: each step names who acted and the message it carried, then the
//! ownership and committed offsets after it.

use crate::config::Config;
use crate::state::*;
use crate::Action;
use kgroup_protocol::trace::{
    Counterexample, CounterexampleStep, MemberPartitions, COUNTEREXAMPLE_VERSION,
};
use std::fmt::Write;

fn set(p: Parts) -> String {
    let v: Vec<String> = parts(p).map(|p| format!("p{p}")).collect();
    format!("{{{}}}", v.join(","))
}

fn offsets(o: &Offsets) -> String {
    let v: Vec<String> = o
        .iter()
        .enumerate()
        .filter(|(_, &x)| x != ABSENT)
        .map(|(p, x)| format!("p{p}@{x}"))
        .collect();
    v.join(" ")
}

pub fn describe_action(a: &Action) -> String {
    match a {
        Action::Deliver { slot, index } if *index == 0 => {
            format!("coordinator takes the next request of consumer {slot}")
        }
        Action::Deliver { slot, index } => {
            format!("coordinator takes request #{index} of consumer {slot} (out of order)")
        }
        Action::Receive { slot } => format!("consumer {slot} takes its next response"),
        Action::CompleteJoin => "coordinator completes the join phase".into(),
        Action::Expire { member } => format!("timer: session of {member:?} expires"),
        Action::Join { slot } => format!("consumer {slot} sends JoinGroup"),
        Action::Fetch { slot } => format!("consumer {slot} sends OffsetFetch"),
        Action::Process { slot, partition } => {
            format!("consumer {slot} processes a record of p{partition}")
        }
        Action::Commit { slot } => format!("consumer {slot} sends OffsetCommit"),
        Action::Heartbeat { slot } => format!("consumer {slot} sends Heartbeat"),
        Action::Crash { slot, restart } => format!(
            "consumer {slot} crashes{}",
            if *restart {
                " and restarts"
            } else {
                " for good"
            }
        ),
        Action::Leave { slot } => format!("consumer {slot} shuts down (LeaveGroup)"),
        Action::Disconnect { slot } => {
            format!("connection of consumer {slot} drops, losing what was in flight")
        }
        Action::Duplicate { identity } => {
            format!("a second process of consumer {identity}'s instance starts")
        }
        Action::Failover => "coordinator fails over and loads its log".into(),
        Action::ApplyMarker => "group coordinator applies the next transaction marker".into(),
        Action::ExpireTxn { producer } => {
            format!("transaction coordinator aborts producer {producer}'s transaction (timeout)")
        }
    }
}

pub fn describe_req(r: &Req) -> String {
    match r {
        Req::Join {
            member,
            instance,
            owned,
            ..
        } => format!(
            "JoinGroup(member={}, instance={}, owned={})",
            member.map_or("\"\"".into(), |m| format!("{m:?}")),
            instance.map_or("-".into(), |i| format!("i{i}")),
            set(*owned)
        ),
        Req::Sync {
            member,
            generation,
            assignment,
            ..
        } => {
            let a = assignment.as_ref().map_or(String::new(), |a| {
                let v: Vec<String> = a
                    .iter()
                    .map(|(m, p)| format!("{m:?}:{}", set(*p)))
                    .collect();
                format!(", assignment=[{}]", v.join(" "))
            });
            format!("SyncGroup(member={member:?}, generation={generation}{a})")
        }
        Req::Heartbeat {
            member, generation, ..
        } => format!("Heartbeat(member={member:?}, generation={generation})"),
        Req::Commit {
            member,
            generation,
            offsets: o,
            ..
        } => format!(
            "OffsetCommit(member={member:?}, generation={generation}, {})",
            offsets(o)
        ),
        Req::Fetch { partitions } => format!("OffsetFetch({})", set(*partitions)),
        Req::TxnCommit {
            member,
            generation,
            producer,
            offsets: o,
            ..
        } => format!(
            "TxnOffsetCommit(member={member:?}, generation={generation}, producer={producer}, {})",
            offsets(o)
        ),
        Req::Leave { member } => format!("LeaveGroup(member={member:?})"),
    }
}

pub fn describe_resp(r: &Resp) -> String {
    match r {
        Resp::Join {
            error,
            member,
            generation,
            leader,
            members,
        } => {
            let list = if members.is_empty() {
                String::new()
            } else {
                let v: Vec<String> = members
                    .iter()
                    .map(|(m, p, _)| format!("{m:?}:{}", set(*p)))
                    .collect();
                format!(", members=[{}]", v.join(" "))
            };
            format!(
                "JoinGroup response({}, member={}, generation={generation}, leader={}{list})",
                error.name(),
                member.map_or("-".into(), |m| format!("{m:?}")),
                leader.map_or("-".into(), |m| format!("{m:?}")),
            )
        }
        Resp::Sync { error, assignment } => {
            format!(
                "SyncGroup response({}, assignment={})",
                error.name(),
                set(*assignment)
            )
        }
        Resp::Heartbeat { error } => format!("Heartbeat response({})", error.name()),
        Resp::Commit { error, offsets: o } => {
            format!("OffsetCommit response({}, {})", error.name(), offsets(o))
        }
        Resp::Fetch { error, offsets: o } => {
            format!("OffsetFetch response({}, {})", error.name(), offsets(o))
        }
        Resp::TxnCommit { error, offsets: o } => {
            format!("TxnOffsetCommit response({}, {})", error.name(), offsets(o))
        }
        Resp::Leave { error } => format!("LeaveGroup response({})", error.name()),
    }
}

/// Who acts, and what the step does with which message, read against the states around it.
pub fn describe_step(before: &State, after: &State, a: &Action) -> (String, String) {
    let actor = match a {
        Action::Deliver { .. } | Action::CompleteJoin | Action::Expire { .. } => {
            "coordinator".to_string()
        }
        Action::Crash { .. }
        | Action::Disconnect { .. }
        | Action::Duplicate { .. }
        | Action::Failover => "fault".into(),
        Action::ApplyMarker => match before.markers.first() {
            Some(&(p, commit, _)) => format!(
                "coordinator (marker: {} of producer {p})",
                if commit { "COMMIT" } else { "ABORT" }
            ),
            None => "coordinator".into(),
        },
        Action::ExpireTxn { .. } => "transaction coordinator".into(),
        Action::Receive { slot }
        | Action::Join { slot }
        | Action::Fetch { slot }
        | Action::Process { slot, .. }
        | Action::Commit { slot }
        | Action::Heartbeat { slot }
        | Action::Leave { slot } => format!("consumer {slot}"),
    };
    let fenced_now = |slot: u8| {
        before.consumers[slot as usize].phase != Phase::Fenced
            && after.consumers[slot as usize].phase == Phase::Fenced
    };
    let what = match a {
        Action::Process { slot, .. } | Action::Commit { slot } if fenced_now(*slot) => {
            "is refused PRODUCER_FENCED (a newer process holds its transactional.id) and stops"
                .into()
        }
        Action::Deliver { slot, index } => format!(
            "takes {} from consumer {slot}",
            describe_req(&before.to_coord[*slot as usize][*index as usize])
        ),
        Action::Receive { slot } => {
            format!(
                "receives {}",
                describe_resp(&before.to_consumer[*slot as usize][0])
            )
        }
        Action::Join { slot }
        | Action::Fetch { slot }
        | Action::Commit { slot }
        | Action::Heartbeat { slot }
        | Action::Leave { slot } => match after.to_coord[*slot as usize].last() {
            Some(r) => format!("sends {}", describe_req(r)),
            None => describe_action(a),
        },
        Action::Process { partition, .. } => {
            let k = &before.consumers[match a {
                Action::Process { slot, .. } => *slot as usize,
                _ => unreachable!(),
            }];
            format!(
                "processes record {} of p{partition}",
                k.position[*partition as usize]
            )
        }
        Action::CompleteJoin => "completes the join phase".into(),
        Action::ApplyMarker => "applies the next transaction marker".into(),
        Action::ExpireTxn { producer } => {
            format!("aborts producer {producer}'s open transaction (transaction timeout)")
        }
        other => describe_action(other),
    };
    (actor, what)
}

/// The ownership and offsets of a state, on one line.
pub fn snapshot(cfg: &Config, s: &State) -> String {
    let c = &s.coord;
    let mut out = format!("group {:?} gen {}", c.state, c.generation);
    let m: Vec<String> = c
        .members
        .iter()
        .map(|m| format!("{:?}:{}", m.id, set(m.assignment)))
        .collect();
    let _ = write!(out, " [{}]", m.join(" "));
    let k: Vec<String> = s
        .consumers
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let name = if k.identity as usize == i {
                format!("c{i}")
            } else {
                format!("c{i}(as c{})", k.identity)
            };
            if k.alive() {
                format!("{name}:{}", set(k.owned))
            } else {
                format!("{name}:{:?}", k.phase)
            }
        })
        .collect();
    let _ = write!(out, " | processing {}", k.join(" "));
    let o: Vec<String> = (0..cfg.partitions as usize)
        .map(|p| c.offsets[p].to_string())
        .collect();
    let _ = write!(out, " | committed [{}]", o.join(","));
    if cfg.eos {
        let w: Vec<String> = (0..cfg.partitions as usize)
            .map(|p| {
                let r: Vec<String> = (0..8)
                    .filter(|o| s.output[p] & (1 << o) != 0)
                    .map(|o| o.to_string())
                    .collect();
                format!("p{p}:[{}]", r.join(","))
            })
            .collect();
        let _ = write!(out, " | output {}", w.join(" "));
        if s.seen & Seen::DUPLICATE != 0 {
            out.push_str(" DUPLICATE");
        }
    }
    out
}

/// A numbered, readable counterexample.
pub fn render(cfg: &Config, path: &[(State, Option<Action>)]) -> String {
    let mut out = String::new();
    let mut step = 0;
    for w in path.windows(2) {
        let (before, Some(a)) = (&w[0].0, &w[0].1) else {
            continue;
        };
        step += 1;
        let (actor, what) = describe_step(before, &w[1].0, a);
        let _ = writeln!(out, "{step:>3}. {actor}: {what}");
        let _ = writeln!(out, "     {}", snapshot(cfg, &w[1].0));
    }
    out
}

/// The counterexample as the JSON trace type of `kgroup-protocol`.
pub fn to_trace(cfg: &Config, property: &str, path: &[(State, Option<Action>)]) -> Counterexample {
    let list = |p: Parts| parts(p).map(|p| p as u32).collect::<Vec<u32>>();
    let mut steps = vec![];
    for w in path.windows(2) {
        let (before, Some(a)) = (&w[0].0, &w[0].1) else {
            continue;
        };
        let after = &w[1].0;
        let (actor, action) = describe_step(before, after, a);
        steps.push(CounterexampleStep {
            step: steps.len() as u32 + 1,
            actor,
            action,
            group_state: format!("{:?}", after.coord.state),
            generation: after.coord.generation as u32,
            assignment: after
                .coord
                .members
                .iter()
                .map(|m| MemberPartitions {
                    member: format!("{:?}", m.id),
                    partitions: list(m.assignment),
                })
                .collect(),
            processing: after.consumers.iter().map(|k| list(k.owned)).collect(),
            committed: (0..cfg.partitions as usize)
                .map(|p| after.coord.offsets[p] as u32)
                .collect(),
        });
    }
    Counterexample {
        version: COUNTEREXAMPLE_VERSION,
        property: property.to_string(),
        config: cfg.describe(),
        bug: cfg.bug.map(|b| b.name().to_string()),
        steps,
    }
}
