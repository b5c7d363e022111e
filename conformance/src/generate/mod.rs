//! `kgroup conform generate`: the conformance corpus, written from the model.
//!
//! For each family of configurations (eager, cooperative, static, exactly-once, pipelined
//! commits, a larger group) the generator takes seeded random walks through the model, each one
//! written as a trace by [`mapping::Translator`] as it goes. A walk is kept, cut after its last
//! step that showed something new for its family (an action kind, an API answered with an error
//! code, an API taken in a group state), so the corpus is the union of short paths that together
//! cover everything the walks reached. Then, for every seeded bug on the coordinator's side, two
//! translators walk in lockstep, one over the fixed model and one over the bugged one, until the
//! two expect different answers to the same input: the fixed trace up to that point is one the
//! bugged coordinator fails.
//!
//! Everything is deterministic for a seed, so the committed corpus is what the model generates
//! (a test regenerates it and compares).

pub mod mapping;

use kgroup_model::config::{Assignor, Protocol};
use kgroup_model::state::Budget;
use kgroup_model::{Action, Bug, Config, GroupModel};
use kgroup_protocol::api::{OffsetFetchPartition, OffsetFetchRequest, OffsetFetchResponse};
use kgroup_protocol::api::{Request, Response, Versioned};
use kgroup_protocol::trace::{Trace, TraceStep, TRACE_VERSION};
use kgroup_protocol::{ErrorCode, GroupId, TopicPartition};
use mapping::Translator;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};

/// The seed of the committed corpus.
pub const DEFAULT_SEED: u64 = 1;

/// A family of traces: one model configuration and how hard to walk it.
#[derive(Clone, Debug)]
pub struct Family {
    pub name: &'static str,
    pub config: Config,
    pub walks: usize,
    /// The most model actions in one walk.
    pub max_actions: usize,
}

/// The families of the corpus.
pub fn families() -> Vec<Family> {
    let family = |name, tweak: fn(&mut Config)| {
        let mut config = Config::small();
        tweak(&mut config);
        Family {
            name,
            config,
            walks: 3_000,
            max_actions: 40,
        }
    };
    vec![
        family("eager", |c| {
            c.faults = faults(1, 1, 1, 1, 1);
        }),
        family("cooperative", |c| {
            c.protocol = Protocol::Cooperative;
            c.faults = faults(1, 1, 1, 1, 1);
        }),
        family("static", |c| {
            c.static_members = true;
            c.faults = faults(1, 0, 1, 1, 0);
            c.faults.duplicates = 1;
        }),
        family("static-cooperative", |c| {
            c.static_members = true;
            c.protocol = Protocol::Cooperative;
            c.assignor = Assignor::Kafka(kgroup_assign::Strategy::CooperativeSticky);
            c.faults = faults(1, 0, 0, 1, 0);
            c.faults.duplicates = 1;
        }),
        family("eos", |c| {
            c.eos = true;
            c.faults = faults(1, 1, 1, 1, 0);
        }),
        family("eos-static", |c| {
            c.eos = true;
            c.static_members = true;
            c.faults = faults(1, 0, 0, 1, 0);
            c.faults.duplicates = 1;
        }),
        family("async-commits", |c| {
            (c.consumers, c.partitions, c.records) = (1, 1, 3);
            c.async_commits = true;
            c.faults = faults(0, 1, 0, 1, 0);
            c.faults.reorders = 1;
        }),
        family("three", |c| {
            c.consumers = 3;
            c.faults = faults(1, 0, 1, 0, 1);
        }),
    ]
}

/// Fault budgets: crashes, connection losses, session expiries, failovers, leaves.
fn faults(crashes: u8, losses: u8, expiries: u8, failovers: u8, leaves: u8) -> Budget {
    Budget {
        crashes,
        losses,
        expiries,
        failovers,
        leaves,
        ..Budget::default()
    }
}

/// Whether a seeded bug lives in the group coordinator (the others are the consumer's or the
/// leader's assignor's, which a coordinator trace cannot judge).
pub fn in_coordinator(bug: Bug) -> bool {
    !matches!(
        bug,
        Bug::CooperativeHandoverWithoutRevoke
            | Bug::ZombieKeepsProcessing
            | Bug::EagerRejoinWithoutRevoke
            | Bug::CommitFetchedPosition
    )
}

/// What a generation produced.
#[derive(Debug)]
pub struct Generated {
    pub traces: Vec<Trace>,
    /// Per family, what its traces show.
    pub covered: BTreeMap<&'static str, BTreeSet<String>>,
    /// Per coordinator-side bug, the trace that tells it apart, if one was found.
    pub bugs: Vec<(Bug, Option<String>)>,
    /// Walks cut short because the mapping could not write a step (should stay empty).
    pub untranslatable: Vec<String>,
}

/// Generates the corpus for `seed`.
pub fn generate(seed: u64) -> Generated {
    let mut traces = vec![];
    let mut covered = BTreeMap::new();
    let mut untranslatable = vec![];
    for (i, family) in families().into_iter().enumerate() {
        let (found, seen) =
            walk_family(&family, seed ^ ((i as u64 + 1) << 32), &mut untranslatable);
        traces.extend(found);
        covered.insert(family.name, seen);
    }
    let mut bugs = vec![];
    for (i, &bug) in Bug::ALL.iter().enumerate() {
        if !in_coordinator(bug) {
            continue;
        }
        let found = distinguish(bug, seed ^ ((i as u64 + 101) << 32));
        bugs.push((bug, found.as_ref().map(|t| t.name.clone())));
        traces.extend(found);
    }
    Generated {
        traces,
        covered,
        bugs,
        untranslatable,
    }
}

/// A fault, or a timer that only a fault makes due: walks take these rarely, so that faults
/// strike groups that have got somewhere rather than always at the start.
fn is_fault(a: &Action) -> bool {
    matches!(
        a,
        Action::Crash { .. }
            | Action::Leave { .. }
            | Action::Disconnect { .. }
            | Action::Duplicate { .. }
            | Action::Failover
            | Action::Expire { .. }
            | Action::Deliver { index: 1.., .. }
    )
}

/// One action, uniformly among the faults one time in six and among the rest otherwise.
fn pick<'a>(rng: &mut ChaCha8Rng, actions: &'a [Action]) -> &'a Action {
    let faults: Vec<&Action> = actions.iter().filter(|a| is_fault(a)).collect();
    let others: Vec<&Action> = actions.iter().filter(|a| !is_fault(a)).collect();
    let pool = if others.is_empty() || (!faults.is_empty() && rng.random_range(0..6) == 0) {
        faults
    } else {
        others
    };
    pool[rng.random_range(0..pool.len())]
}

fn walk_family(
    family: &Family,
    seed: u64,
    untranslatable: &mut Vec<String>,
) -> (Vec<Trace>, BTreeSet<String>) {
    let model = GroupModel::new(family.config.clone()).expect("a family's configuration is valid");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut known: BTreeSet<String> = BTreeSet::new();
    let mut traces = vec![];
    for _ in 0..family.walks {
        let mut t = Translator::new(model.clone());
        // The shortest prefix that shows everything new this walk shows, and what it shows.
        let mut keep: Option<(usize, Vec<String>)> = None;
        for _ in 0..family.max_actions {
            let actions = t.enabled();
            if actions.is_empty() {
                break;
            }
            let a = pick(&mut rng, &actions).clone();
            if let Err(e) = t.take(a) {
                untranslatable.push(format!("{}: {e}", family.name));
                break;
            }
            let new: Vec<String> = t.features().difference(&known).cloned().collect();
            let gained = new.len() > keep.as_ref().map_or(0, |(_, k)| k.len());
            if gained
                && t.steps()
                    .iter()
                    .any(|s| matches!(s, TraceStep::Send { .. }))
            {
                keep = Some((t.steps().len(), new));
            }
        }
        if let Some((len, new)) = keep {
            known.extend(new.iter().cloned());
            let name = format!("{}-{:02}", family.name, traces.len() + 1);
            let description = format!(
                "Generated from the model ({}). First to show: {}.",
                family.config.describe(),
                new.join("; ")
            );
            traces.push(trace(name, description, t.steps()[..len].to_vec()));
        }
    }
    (traces, known)
}

fn trace(name: String, description: String, steps: Vec<TraceStep>) -> Trace {
    Trace {
        version: TRACE_VERSION,
        name,
        description,
        config: mapping::trace_config(),
        steps,
    }
}

/// Lockstep walks per bug, and the most actions in one.
const BUG_WALKS: usize = 50_000;
const BUG_WALK_ACTIONS: usize = 60;

/// Walks the fixed and the bugged model in lockstep until the same inputs get different
/// answers; returns the fixed model's trace up to and including the first such answer.
fn distinguish(bug: Bug, seed: u64) -> Option<Trace> {
    let mut fixed_cfg = Config {
        bug: None,
        ..bug.config()
    };
    if bug == Bug::StaticReplacementNotStored {
        // What the bug loses shows only after a failover.
        fixed_cfg.faults.failovers = 1;
    }
    let bugged_cfg = Config {
        bug: Some(bug),
        ..fixed_cfg.clone()
    };
    let fixed = GroupModel::new(fixed_cfg.clone()).expect("a bug's configuration is valid");
    let bugged = GroupModel::new(bugged_cfg).expect("a bug's configuration is valid");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..BUG_WALKS {
        let mut a = Translator::new(fixed.clone());
        let mut b = Translator::new(bugged.clone());
        for _ in 0..BUG_WALK_ACTIONS {
            let theirs = b.enabled();
            let both: Vec<Action> = a
                .enabled()
                .into_iter()
                .filter(|x| theirs.contains(x))
                .collect();
            if both.is_empty() {
                break;
            }
            let act = pick(&mut rng, &both).clone();
            if a.take(act.clone()).is_err() || b.take(act).is_err() {
                break;
            }
            // Committed offsets are observable at any time: read them on both sides.
            if a.state().coord.offsets != b.state().coord.offsets {
                a.observe_offsets();
                b.observe_offsets();
            }
            match first_difference(a.steps(), b.steps()) {
                None => continue,
                Some(i) if matches!(a.steps()[i], TraceStep::Expect { .. }) => {
                    let description = format!(
                        "Generated from the model ({}): a coordinator with the seeded bug \
                         `{}` answers step {} differently ({}).",
                        fixed_cfg.describe(),
                        bug.name(),
                        i + 1,
                        bug.breaks()
                    );
                    return Some(trace(
                        format!("bug-{}", bug.name()),
                        description,
                        a.steps()[..=i].to_vec(),
                    ));
                }
                Some(i) => {
                    if std::env::var_os("KGROUP_DEBUG").is_some() {
                        eprintln!(
                            "{}: differs at {i}: {:?} vs {:?}",
                            bug.name(),
                            a.steps().get(i),
                            b.steps().get(i)
                        );
                    }
                    break;
                }
            }
        }
    }
    None
}

fn first_difference(a: &[TraceStep], b: &[TraceStep]) -> Option<usize> {
    let n = a.len().max(b.len());
    (0..n)
        .find(|&i| a.get(i) != b.get(i))
        .filter(|&i| i < a.len())
}

impl Translator {
    /// Reads every partition's committed offset (an OffsetFetch from an observer) and expects
    /// the model's.
    pub fn observe_offsets(&mut self) {
        let committed = self.state().coord.offsets;
        let partitions: Vec<TopicPartition> = (0..self.model().cfg.partitions)
            .map(|p| TopicPartition {
                topic: mapping::TOPIC.into(),
                partition: i32::from(p),
            })
            .collect();
        let request = Request::OffsetFetch(Versioned {
            api_version: mapping::OFFSET_FETCH_VERSION,
            message: OffsetFetchRequest {
                group_id: GroupId(mapping::GROUP.into()),
                partitions: Some(partitions.clone()),
                require_stable: false,
            },
        });
        let response = Response::OffsetFetch(OffsetFetchResponse {
            error_code: ErrorCode::None,
            partitions: partitions
                .into_iter()
                .map(|tp| {
                    let o = committed[tp.partition as usize];
                    OffsetFetchPartition {
                        partition: tp,
                        committed_offset: if o == 0 { -1 } else { i64::from(o) },
                        committed_leader_epoch: -1,
                        metadata: Some(String::new()),
                        error_code: ErrorCode::None,
                    }
                })
                .collect(),
        });
        self.send_and_expect("observer", request, response);
    }
}

/// The coverage report `kgroup conform generate` prints: per family what its traces show, and
/// per coordinator-side bug the trace that tells it apart.
pub fn coverage_report(g: &Generated) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "# Conformance corpus coverage");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{} traces, {} steps.",
        g.traces.len(),
        g.traces.iter().map(|t| t.steps.len()).sum::<usize>()
    );
    let all: BTreeSet<&String> = g.covered.values().flatten().collect();
    let _ = writeln!(out);
    let _ = writeln!(out, "## Answers (API and error code) by family");
    let _ = writeln!(out);
    for (api, codes) in catalogue() {
        for code in codes {
            let feature = format!("{api} {code}");
            let fams: Vec<&str> = g
                .covered
                .iter()
                .filter(|(_, f)| f.contains(&feature))
                .map(|(n, _)| *n)
                .collect();
            let mark = if fams.is_empty() {
                "not reached by any walk"
            } else {
                "ok"
            };
            let _ = writeln!(out, "- {feature}: {mark} {}", fams.join(", "));
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "## Everything shown, by family");
    for (family, features) in &g.covered {
        let _ = writeln!(out);
        let _ = writeln!(out, "### {family} ({} features)", features.len());
        let _ = writeln!(out);
        for f in features {
            let _ = writeln!(out, "- {f}");
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "## Seeded coordinator bugs");
    let _ = writeln!(out);
    for (bug, trace) in &g.bugs {
        let _ = writeln!(
            out,
            "- {}: {}",
            bug.name(),
            trace.as_deref().unwrap_or("no distinguishing trace found")
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{} distinct features in all.", all.len());
    if !g.untranslatable.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "## Walks the mapping could not write");
        for u in &g.untranslatable {
            let _ = writeln!(out, "- {u}");
        }
    }
    out
}

/// Every answer the model's coordinator can give, by API.
pub fn catalogue() -> Vec<(&'static str, Vec<ErrorCode>)> {
    use ErrorCode::*;
    // The member checks of SyncGroup, Heartbeat and OffsetCommit, and the rebalance in progress.
    let member = vec![
        None,
        RebalanceInProgress,
        UnknownMemberId,
        IllegalGeneration,
        FencedInstanceId,
    ];
    vec![
        (
            "JoinGroup",
            vec![None, MemberIdRequired, UnknownMemberId, FencedInstanceId],
        ),
        ("SyncGroup", member.clone()),
        ("Heartbeat", member.clone()),
        ("OffsetCommit", member),
        ("OffsetFetch", vec![None, UnstableOffsetCommit]),
        (
            "TxnOffsetCommit",
            vec![
                None,
                UnknownMemberId,
                IllegalGeneration,
                FencedInstanceId,
                InvalidProducerEpoch,
            ],
        ),
        ("LeaveGroup", vec![None, UnknownMemberId]),
    ]
}

/// A trace file's text: JSON with one step per line, so that a change to the model reads as a
/// diff of the steps it changed.
pub fn trace_text(t: &Trace) -> String {
    let json = |v: &dyn erased::Json| v.to_json();
    let mut out = String::from("{\n");
    out += &format!("  \"version\": {},\n", t.version);
    out += &format!("  \"name\": {},\n", json(&t.name));
    out += &format!("  \"description\": {},\n", json(&t.description));
    out += &format!("  \"config\": {},\n", json(&t.config));
    out += "  \"steps\": [\n";
    for (i, step) in t.steps.iter().enumerate() {
        let comma = if i + 1 < t.steps.len() { "," } else { "" };
        out += &format!("    {}{comma}\n", json(step));
    }
    out += "  ]\n}\n";
    out
}

mod erased {
    /// Any serializable value, as compact JSON.
    pub trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).expect("trace values serialize")
        }
    }
}

/// The files of a corpus directory: one `<name>.json` per trace ([`trace_text`]) and
/// `coverage.md`, sorted by name.
pub fn corpus_files(g: &Generated, report: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = g
        .traces
        .iter()
        .map(|t| (format!("{}.json", t.name), trace_text(t)))
        .collect();
    files.push(("coverage.md".into(), report.to_owned()));
    files.sort();
    files
}

/// Writes the corpus into `dir`, removing trace files (`*.json`) it no longer has.
pub fn write_corpus(dir: &std::path::Path, files: &[(String, String)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let keep: BTreeSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".json") && !keep.contains(name) {
            std::fs::remove_file(&path)?;
        }
    }
    for (name, text) in files {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

/// How `dir` differs from the generated files: one line per missing, changed or extra file.
pub fn differences(dir: &std::path::Path, files: &[(String, String)]) -> Vec<String> {
    let mut out = vec![];
    let names: BTreeSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for (name, text) in files {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(t) if t == *text => {}
            Ok(_) => out.push(format!("changed: {name}")),
            Err(_) => out.push(format!("missing: {name}")),
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") && !names.contains(name.as_str()) {
                out.push(format!("extra: {name}"));
            }
        }
    }
    out.sort();
    out
}
