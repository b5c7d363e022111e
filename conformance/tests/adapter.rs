//! The adapter target (`kgroup conform --target cmd:…`, docs/adapter.md) against the example
//! Python adapter (conformance/adapters/python/kgroup_adapter.py), an independent coordinator:
//! the pinned example trace passes; every way an adapter can break, or be missing, is reported as
//! docs/adapter.md says; and random request sequences, recorded from kgroup-core as traces, pass
//! against the Python adapter too. A difference there is a bug on one side, settled by Kafka's
//! source; the `t90_regression_*` traces pin the ones found (each was a kgroup-core bug).
//!
//! The random sequences: 150 by default, 2,000 longer ones with `KGROUP_SLOW_TESTS=1`; a failing
//! trace is written to a temporary directory (its path is in the failure), and
//! `KGROUP_DIFFERENTIAL_SEEDS=FIRST..END` replays chosen seeds.
//!
//! These tests need `python3` on PATH (CI machines have Python 3); without it they fail saying so.

mod common;
#[path = "common/requests.rs"]
mod requests;

use kgroup_conformance::adapter::{replay_adapter, AdapterCommand, Verdict};
use kgroup_conformance::replay::{replay, replay_inproc, Fate, InProc, Target};
use kgroup_protocol::api::*;
use kgroup_protocol::trace::{Trace, TraceConfig, TraceStep, TRACE_VERSION};
use kgroup_protocol::{
    ErrorCode, GenerationId, GroupId, GroupInstanceId, MemberId, TopicPartition,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const ADAPTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/adapters/python/kgroup_adapter.py"
);

/// The Python 3 interpreter (`python3` on PATH, resolved to the executable itself, so that a
/// version manager's shim does not cost a start-up per trace), or a failure that says it is
/// missing.
fn python3() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .stderr(Stdio::null())
            .output();
        let path = match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
            _ => String::new(),
        };
        assert!(
            !path.is_empty(),
            "these tests run the example adapter with `python3`, which is not on PATH (or does \
             not say where it is): install Python 3"
        );
        // `cmd:` splits on whitespace: a path with a space is left to PATH.
        if path.contains(char::is_whitespace) {
            "python3".to_owned()
        } else {
            path
        }
    })
}

fn python_adapter() -> AdapterCommand {
    AdapterCommand::parse(&format!("{} {ADAPTER}", python3())).unwrap()
}

fn kgroup(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kgroup"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("kgroup runs")
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kgroup-adapter-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The pinned example trace (conformance/tests/replay.rs).
fn example_trace_json() -> String {
    let snap = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/replay__the_trace_format_is_pinned.snap"
    ))
    .expect("the pinned trace");
    snap.splitn(3, "---\n").nth(2).expect("a body").to_string()
}

fn example_trace() -> Trace {
    serde_json::from_str(&example_trace_json()).unwrap()
}

/// A stand-in adapter: a Python script with this body after the hello line naming `apis`.
fn stub_adapter(dir: &Path, name: &str, apis: &[&str], body: &str) -> String {
    let path = dir.join(format!("{name}.py"));
    let hello = serde_json::json!({"adapter": name, "trace_version": 1, "apis": apis});
    let script = format!(
        "import json, sys, time\nprint({:?}, flush=True)\n{body}\n",
        hello.to_string()
    );
    std::fs::write(&path, script).unwrap();
    format!("{} {}", python3(), path.display())
}

// ---- the example trace ---------------------------------------------------------------------

#[test]
fn t10_the_pinned_trace_passes_against_the_python_adapter() {
    let verdict = replay_adapter(&example_trace(), &python_adapter()).unwrap();
    assert_eq!(verdict, Verdict::Passed);

    let dir = scratch("pinned");
    std::fs::write(dir.join("life.json"), example_trace_json()).unwrap();
    let target = format!("cmd:{} {ADAPTER}", python3());
    let out = kgroup(&[
        "conform",
        "--target",
        &target,
        "--traces",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("1 passed, 0 failed"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn t11_a_wrong_expectation_fails_at_its_step_naming_the_field() {
    let mut t = example_trace();
    // The follower is told it leads (as conformance/tests/replay.rs does against kgroup-core).
    let TraceStep::Expect { response, .. } = &mut t.steps[11] else {
        panic!("step 12 is the follower's JoinGroup answer")
    };
    let Response::JoinGroup(join) = response else {
        panic!("a JoinGroup answer")
    };
    join.leader = MemberId("${b}".into());
    match replay_adapter(&t, &python_adapter()).unwrap() {
        Verdict::Failed(f) => {
            assert_eq!(f.step, 12);
            assert!(f.what.contains("leader"), "{f}");
            assert!(f.expected.is_some() && f.actual.is_some());
        }
        v => panic!("{v:?}"),
    }
}

// ---- how adapters break ------------------------------------------------------------------------

#[test]
fn t20_a_trace_using_an_api_the_adapter_lacks_is_skipped() {
    let dir = scratch("skip");
    // An adapter that only lists groups (and has none).
    let adapter = stub_adapter(
        &dir,
        "lister",
        &["list_groups"],
        r#"for line in sys.stdin:
    m = json.loads(line)
    out = {}
    if m["type"] == "send":
        out = {"responses": [{"id": m["id"], "response": {"list_groups": {"error_code": "NONE", "groups": []}}}]}
    print(json.dumps(out), flush=True)"#,
    );
    let list = Trace {
        version: TRACE_VERSION,
        name: "nothing-to-list".into(),
        description: "a coordinator without groups lists none".into(),
        config: TraceConfig::default(),
        steps: vec![
            TraceStep::Send {
                id: 1,
                client: "admin".into(),
                request: Request::ListGroups(Versioned {
                    api_version: 4,
                    message: ListGroupsRequest::default(),
                }),
            },
            TraceStep::Expect {
                id: 1,
                response: Response::ListGroups(ListGroupsResponse {
                    error_code: ErrorCode::None,
                    groups: vec![],
                }),
            },
        ],
    };
    let traces = dir.join("traces");
    std::fs::create_dir_all(&traces).unwrap();
    std::fs::write(traces.join("a.json"), serde_json::to_string(&list).unwrap()).unwrap();
    std::fs::write(traces.join("b.json"), example_trace_json()).unwrap();
    let d = traces.to_str().unwrap();
    let target = format!("cmd:{adapter}");
    let out = kgroup(&["conform", "--target", &target, "--traces", d]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "SKIP life-of-a-group: adapter does not implement join_group, sync_group, offset_commit, heartbeat, offset_fetch",
            "1 passed, 0 failed, 1 skipped"
        ]
    );
    let out = kgroup(&["conform", "--target", &target, "--traces", d, "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let skip: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["result"] == "skip")
        .expect("a skip line");
    assert_eq!(skip["trace"], "life-of-a-group");
    assert!(skip["reason"]
        .as_str()
        .unwrap()
        .starts_with("adapter does not implement join_group"));
    let _ = std::fs::remove_dir_all(&dir);
}

const ALL_APIS: &[&str] = &[
    "join_group",
    "sync_group",
    "heartbeat",
    "leave_group",
    "offset_commit",
    "offset_fetch",
];

/// Runs the pinned trace against a stub adapter and returns the failure.
fn failure_of(
    dir: &Path,
    name: &str,
    body: &str,
    timeout: Duration,
) -> kgroup_conformance::replay::Failure {
    let mut cmd = AdapterCommand::parse(&stub_adapter(dir, name, ALL_APIS, body)).unwrap();
    cmd.line_timeout = timeout;
    match replay_adapter(&example_trace(), &cmd).unwrap() {
        Verdict::Failed(f) => f,
        v => panic!("{name}: {v:?}"),
    }
}

#[test]
fn t21_a_broken_adapter_fails_the_trace_naming_the_step() {
    let dir = scratch("broken");
    let long = Duration::from_secs(10);
    // It crashes on its second input (step 1, the first send), with a traceback on stderr.
    let crash = r#"for n, line in enumerate(sys.stdin):
    if n == 1:
        raise RuntimeError("boom")
    print("{}", flush=True)"#;
    let f = failure_of(&dir, "crash", crash, long);
    assert_eq!(f.step, 1, "{f}");
    assert!(f.what.contains("closed its output before answering"), "{f}");
    assert!(f.what.contains("RuntimeError: boom"), "{f}");

    let f = failure_of(
        &dir,
        "exit",
        r#"for n, line in enumerate(sys.stdin):
    if n == 1:
        sys.exit(3)
    print("{}", flush=True)"#,
        long,
    );
    assert_eq!(f.step, 1, "{f}");
    assert!(f.what.contains("exit status: 3"), "{f}");

    // It answers a send with nothing: the expectation after it fails.
    let f = failure_of(
        &dir,
        "mute",
        r#"for line in sys.stdin:
    print("{}", flush=True)"#,
        long,
    );
    assert_eq!(f.step, 2, "{f}");
    assert!(f.what.contains("request 1 has not been answered"), "{f}");

    let f = failure_of(
        &dir,
        "garbage",
        r#"for line in sys.stdin:
    print("ok, thanks", flush=True)"#,
        long,
    );
    assert_eq!(f.step, 0, "{f}");
    assert!(
        f.what.contains("not JSON") && f.what.contains("ok, thanks"),
        "{f}"
    );
    assert!(
        f.to_string().starts_with("before the first step: config:"),
        "{f}"
    );

    let f = failure_of(
        &dir,
        "stderr",
        r#"for line in sys.stdin:
    sys.stderr.write("debug: got a line\n")
    sys.stderr.flush()
    print("{}", flush=True)"#,
        long,
    );
    assert!(
        f.what.contains("wrote to stderr") && f.what.contains("debug: got a line"),
        "{f}"
    );

    let f = failure_of(
        &dir,
        "silent",
        r#"for line in sys.stdin:
    time.sleep(30)"#,
        Duration::from_millis(300),
    );
    assert_eq!(f.step, 0, "{f}");
    assert!(f.what.contains("did not answer within 300 ms"), "{f}");

    let f = failure_of(
        &dir,
        "error",
        r#"for line in sys.stdin:
    print(json.dumps({"error": "no coordinator here"}), flush=True)"#,
        long,
    );
    assert!(
        f.what
            .contains("the adapter reports an error: no coordinator here"),
        "{f}"
    );

    let f = failure_of(
        &dir,
        "twice",
        r#"for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "send":
        r = {"id": m["id"], "response": {"heartbeat": {"error_code": "NONE"}}}
        print(json.dumps({"responses": [r, r]}), flush=True)
    else:
        print("{}", flush=True)"#,
        long,
    );
    assert_eq!(f.step, 1, "{f}");
    assert!(f.what.contains("request 1 is answered twice"), "{f}");

    let old = dir.join("old.py");
    std::fs::write(
        &old,
        "print('{\"adapter\": \"old\", \"trace_version\": 2, \"apis\": []}', flush=True)\n",
    )
    .unwrap();
    let cmd = AdapterCommand::parse(&format!("{} {}", python3(), old.display())).unwrap();
    match replay_adapter(&example_trace(), &cmd).unwrap() {
        Verdict::Failed(f) => {
            assert_eq!(f.step, 0);
            assert!(f.what.contains("trace format version 2"), "{f}");
        }
        v => panic!("{v:?}"),
    }

    // Through the CLI: the failure names the trace and the step, exit 1.
    let traces = dir.join("traces");
    std::fs::create_dir_all(&traces).unwrap();
    std::fs::write(traces.join("life.json"), example_trace_json()).unwrap();
    let adapter = stub_adapter(&dir, "crash-cli", ALL_APIS, crash);
    let out = kgroup(&[
        "conform",
        "--target",
        &format!("cmd:{adapter}"),
        "--traces",
        traces.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("FAIL life-of-a-group: step 1: the adapter closed its output"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("0 passed, 1 failed"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn t22_an_adapter_that_cannot_start_exits_2() {
    let dir = scratch("missing");
    std::fs::write(dir.join("life.json"), example_trace_json()).unwrap();
    let d = dir.to_str().unwrap();
    for target in [
        "cmd:/nonexistent/kgroup-adapter --flag",
        "cmd:kgroup-no-such-adapter-program",
        "cmd:",
        "cmd:   ",
    ] {
        let out = kgroup(&["conform", "--target", target, "--traces", d]);
        assert_eq!(out.status.code(), Some(2), "{target}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{target}: {err}");
        assert!(
            err.contains("cannot start the adapter") || err.contains("empty"),
            "{target}: {err}"
        );
        assert!(out.stdout.is_empty(), "{target}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- random sequences recorded from kgroup-core ----------------------------------------------

/// splitmix64: a small seeded generator, so that a seed reproduces a trace.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// The protocol lists consumers offer (assignor names in preference order).
const PROTOCOLS: &[&[&str]] = &[
    &["range"],
    &["range", "roundrobin"],
    &["roundrobin", "range"],
    &["cooperative-sticky", "range"],
];

const PARTITIONS: &[(&str, i32)] = &[("t", 0), ("t", 1), ("u", 0)];

/// A client as the generator sees it, from the answers kgroup-core gave it.
#[derive(Debug, Clone)]
struct Client {
    client_id: String,
    instance: Option<String>,
    member: String,
    generation: i32,
    /// The members the last JoinGroup answer listed, when it made this client the leader.
    leads: Vec<String>,
    protocols: usize,
    metadata: u8,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
}

/// Records kgroup-core's answers as a trace: member ids become names, and after each input every
/// request kgroup-core has not answered is asserted to be still waiting.
struct Recorder {
    target: InProc,
    trace: Trace,
    now: u64,
    next_id: u64,
    names: BTreeMap<String, String>,
    /// Request id → the client that sent it.
    senders: BTreeMap<u64, usize>,
    waiting: BTreeSet<u64>,
    abandoned: BTreeSet<u64>,
    clients: Vec<Client>,
}

/// Replaces member ids in `member_id` and `leader` fields by their names; `bind` names the ids not
/// seen before (in responses), otherwise unknown strings stay as they are (in requests).
fn rename(v: &mut Value, names: &mut BTreeMap<String, String>, bind: bool) {
    match v {
        Value::Object(fields) => {
            for (k, f) in fields.iter_mut() {
                if let (true, Value::String(s)) = (k == "member_id" || k == "leader", &*f) {
                    if s.is_empty() {
                        continue;
                    }
                    let next = format!("m{}", names.len() + 1);
                    let name = match (names.get(s), bind) {
                        (Some(n), _) => n.clone(),
                        (None, true) => {
                            names.insert(s.clone(), next.clone());
                            next
                        }
                        (None, false) => continue,
                    };
                    *f = Value::String(format!("${{{name}}}"));
                } else {
                    rename(f, names, bind);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rename(i, names, bind)),
        _ => {}
    }
}

impl Recorder {
    fn new(config: TraceConfig, name: String, clients: Vec<Client>) -> Recorder {
        Recorder {
            target: InProc::new(&config),
            trace: Trace {
                version: TRACE_VERSION,
                name,
                description: "a random request sequence, as kgroup-core answered it".into(),
                config,
                steps: vec![],
            },
            now: 0,
            next_id: 1,
            names: BTreeMap::new(),
            senders: BTreeMap::new(),
            waiting: BTreeSet::new(),
            abandoned: BTreeSet::new(),
            clients,
        }
    }

    fn send(&mut self, client: usize, request: Request) {
        let id = self.next_id;
        self.next_id += 1;
        let v = serde_json::to_value(&request).unwrap();
        let mut named = v.clone();
        rename(&mut named, &mut self.names, false);
        self.trace.steps.push(TraceStep::Send {
            id,
            client: self.clients[client].client_id.clone(),
            request: serde_json::from_value(named).unwrap(),
        });
        self.senders.insert(id, client);
        self.waiting.insert(id);
        let client_id = self.clients[client].client_id.clone();
        self.target.send(self.now, id, &client_id, &v).unwrap();
        self.settle();
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.trace.steps.push(TraceStep::Advance { ms });
        self.target.advance(self.now).unwrap();
        self.settle();
    }

    fn restart(&mut self) {
        // A request kgroup-core dropped must not be answered by the other side either.
        for id in std::mem::take(&mut self.abandoned) {
            self.trace.steps.push(TraceStep::Pending { id });
        }
        self.trace.steps.push(TraceStep::Restart);
        self.target.restart(self.now).unwrap();
        self.settle();
        self.waiting.clear();
        self.abandoned.clear();
        for c in &mut self.clients {
            c.leads.clear();
        }
    }

    fn marker(&mut self, producer_id: i64, producer_epoch: i16, commit: bool) {
        self.trace.steps.push(TraceStep::Marker {
            producer_id,
            producer_epoch,
            commit,
        });
        self.target
            .marker(self.now, producer_id, producer_epoch, commit)
            .unwrap();
        self.settle();
    }

    fn finish(mut self) -> Trace {
        for id in std::mem::take(&mut self.abandoned) {
            self.trace.steps.push(TraceStep::Pending { id });
        }
        self.trace
    }

    /// Records what kgroup-core did with the last input.
    fn settle(&mut self) {
        for (id, fate) in self.target.fates() {
            self.waiting.remove(&id);
            match fate {
                Fate::Abandoned => {
                    self.abandoned.insert(id);
                }
                Fate::Answered(v) => {
                    if let Some(&c) = self.senders.get(&id) {
                        self.learn(c, &v);
                    }
                    let mut named = v;
                    rename(&mut named, &mut self.names, true);
                    self.trace.steps.push(TraceStep::Expect {
                        id,
                        response: serde_json::from_value(named).unwrap(),
                    });
                }
            }
        }
        for id in &self.waiting {
            self.trace.steps.push(TraceStep::Pending { id: *id });
        }
    }

    /// What a client takes from an answer, as a consumer would.
    fn learn(&mut self, client: usize, response: &Value) {
        let c = &mut self.clients[client];
        let error = |r: &Value| r["error_code"].as_str().unwrap_or("").to_owned();
        if let Some(r) = response.get("join_group") {
            match error(r).as_str() {
                "NONE" => {
                    c.member = r["member_id"].as_str().unwrap_or("").to_owned();
                    c.generation = r["generation_id"].as_i64().unwrap_or(-1) as i32;
                    c.leads = r["members"]
                        .as_array()
                        .map(|ms| {
                            ms.iter()
                                .filter_map(|m| m["member_id"].as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                }
                "MEMBER_ID_REQUIRED" => {
                    c.member = r["member_id"].as_str().unwrap_or("").to_owned();
                }
                "UNKNOWN_MEMBER_ID" | "FENCED_INSTANCE_ID" => {
                    c.member.clear();
                    c.generation = -1;
                    c.leads.clear();
                }
                _ => {}
            }
        }
        let reset = |c: &mut Client, e: &str| {
            if e == "UNKNOWN_MEMBER_ID" || e == "FENCED_INSTANCE_ID" {
                c.member.clear();
                c.generation = -1;
                c.leads.clear();
            } else if e == "ILLEGAL_GENERATION" {
                c.generation = -1;
            }
        };
        for kind in ["sync_group", "heartbeat"] {
            if let Some(r) = response.get(kind) {
                let e = error(r);
                reset(c, &e);
            }
        }
    }
}

fn partitions(rng: &mut Rng) -> Vec<TopicPartition> {
    let mut out: Vec<TopicPartition> = PARTITIONS
        .iter()
        .filter(|_| rng.chance(50))
        .map(|(t, p)| TopicPartition::new(*t, *p))
        .collect();
    if out.is_empty() {
        out.push(TopicPartition::new("t", 0));
    }
    out
}

fn offsets(rng: &mut Rng) -> Vec<OffsetCommitPartition> {
    partitions(rng)
        .into_iter()
        .map(|partition| OffsetCommitPartition {
            partition,
            committed_offset: rng.below(1000) as i64,
            committed_leader_epoch: rng.pick(&[-1, 3]),
            committed_metadata: match rng.below(20) {
                0 => Some("x".repeat(4097)),
                1..=9 => None,
                _ => Some(format!("m{}", rng.below(5))),
            },
        })
        .collect()
}

fn protocols(c: &Client) -> Vec<JoinGroupProtocol> {
    PROTOCOLS[c.protocols]
        .iter()
        .map(|name| JoinGroupProtocol {
            name: (*name).into(),
            metadata: vec![0, c.metadata],
        })
        .collect()
}

/// The member id a client puts in a request: its own, mostly; sometimes none or a stranger's.
fn member_of(rng: &mut Rng, c: &Client) -> String {
    match rng.below(20) {
        0 => String::new(),
        1 => "ghost-00000000-0000-0000-0000-000000000000".into(),
        _ => c.member.clone(),
    }
}

fn generation_of(rng: &mut Rng, c: &Client) -> GenerationId {
    GenerationId(match rng.below(12) {
        0 => c.generation + 1,
        1 => c.generation - 1,
        _ => c.generation,
    })
}

/// One random input. `group` is the group every client uses.
fn random_input(rng: &mut Rng, r: &mut Recorder, group: &GroupId) {
    let n = r.clients.len();
    let ci = rng.below(n);
    let c = r.clients[ci].clone();
    let instance = c.instance.clone().map(GroupInstanceId);
    match rng.below(100) {
        0..=21 => {
            let c = &mut r.clients[ci];
            if rng.chance(8) {
                c.protocols = rng.below(PROTOCOLS.len());
            }
            if rng.chance(5) {
                c.metadata = c.metadata.wrapping_add(1);
            }
            if rng.chance(5) {
                c.session_timeout_ms = rng.pick(&[6_000, 10_000, 45_000]);
            }
            if rng.chance(5) {
                c.rebalance_timeout_ms = rng.pick(&[5_000, 10_000, 30_000]);
            }
            let c = c.clone();
            let api_version = if c.instance.is_some() {
                rng.pick(&[5, 7, 8, 9])
            } else {
                rng.pick(&[0, 3, 4, 5, 6, 9, 9])
            };
            let member = if rng.chance(8) {
                String::new()
            } else {
                c.member.clone()
            };
            let request = JoinGroupRequest {
                group_id: group.clone(),
                session_timeout_ms: if rng.chance(2) {
                    1_000
                } else {
                    c.session_timeout_ms
                },
                rebalance_timeout_ms: c.rebalance_timeout_ms,
                member_id: MemberId(member),
                group_instance_id: instance,
                protocol_type: if rng.chance(2) {
                    "connect".into()
                } else {
                    "consumer".into()
                },
                protocols: protocols(&c),
                reason: None,
            };
            r.send(
                ci,
                Request::JoinGroup(Versioned {
                    api_version,
                    message: request,
                }),
            );
        }
        22..=37 => {
            let assignments = if !c.leads.is_empty() && rng.chance(90) {
                let mut given = vec![];
                for m in &c.leads {
                    if rng.chance(90) {
                        given.push(SyncGroupAssignment {
                            member_id: MemberId(m.clone()),
                            assignment: vec![rng.below(4) as u8],
                        });
                    }
                }
                given
            } else {
                vec![]
            };
            let named = rng.chance(70);
            let request = SyncGroupRequest {
                group_id: group.clone(),
                generation_id: generation_of(rng, &c),
                member_id: MemberId(member_of(rng, &c)),
                group_instance_id: instance,
                protocol_type: named.then(|| "consumer".into()),
                protocol_name: named.then(|| {
                    let p = PROTOCOLS[c.protocols];
                    if rng.chance(90) {
                        p[0].into()
                    } else {
                        "range".into()
                    }
                }),
                assignments,
            };
            r.send(
                ci,
                Request::SyncGroup(Versioned {
                    api_version: 5,
                    message: request,
                }),
            );
        }
        38..=51 => {
            let request = HeartbeatRequest {
                group_id: group.clone(),
                generation_id: generation_of(rng, &c),
                member_id: MemberId(member_of(rng, &c)),
                group_instance_id: instance,
            };
            r.send(
                ci,
                Request::Heartbeat(Versioned {
                    api_version: 4,
                    message: request,
                }),
            );
        }
        52..=61 => {
            let standalone = rng.chance(15);
            let request = OffsetCommitRequest {
                group_id: if standalone && rng.chance(50) {
                    GroupId("solo".into())
                } else {
                    group.clone()
                },
                generation_id: if standalone {
                    GenerationId(-1)
                } else {
                    generation_of(rng, &c)
                },
                member_id: MemberId(if standalone {
                    String::new()
                } else {
                    member_of(rng, &c)
                }),
                group_instance_id: if standalone { None } else { instance },
                partitions: offsets(rng),
            };
            r.send(
                ci,
                Request::OffsetCommit(Versioned {
                    api_version: 8,
                    message: request,
                }),
            );
        }
        62..=67 => {
            let request = OffsetFetchRequest {
                group_id: if rng.chance(15) {
                    GroupId("solo".into())
                } else {
                    group.clone()
                },
                partitions: rng.chance(60).then(|| partitions(rng)),
                require_stable: rng.chance(50),
            };
            r.send(
                ci,
                Request::OffsetFetch(Versioned {
                    api_version: 7,
                    message: request,
                }),
            );
        }
        68..=72 => {
            let members = if rng.chance(20) && instance.is_some() {
                // Administrative removal by instance id.
                vec![LeaveGroupMember {
                    member_id: MemberId(String::new()),
                    group_instance_id: instance,
                    reason: None,
                }]
            } else {
                vec![LeaveGroupMember {
                    member_id: MemberId(member_of(rng, &c)),
                    group_instance_id: instance,
                    reason: Some("bye".into()),
                }]
            };
            let api_version = if c.instance.is_some() {
                rng.pick(&[3, 5])
            } else {
                rng.pick(&[1, 3, 5])
            };
            r.send(
                ci,
                Request::LeaveGroup(Versioned {
                    api_version,
                    message: LeaveGroupRequest {
                        group_id: group.clone(),
                        members,
                    },
                }),
            );
            let c = &mut r.clients[ci];
            if rng.chance(80) {
                c.member.clear();
                c.generation = -1;
                c.leads.clear();
            }
        }
        73..=76 => {
            let with_group = rng.chance(70);
            let request = TxnOffsetCommitRequest {
                transactional_id: "tx".into(),
                group_id: group.clone(),
                producer_id: rng.pick(&[1, 2]),
                producer_epoch: rng.pick(&[0, 1, 1]),
                generation_id: if with_group {
                    generation_of(rng, &c)
                } else {
                    GenerationId(-1)
                },
                member_id: MemberId(if with_group {
                    member_of(rng, &c)
                } else {
                    String::new()
                }),
                group_instance_id: if with_group { instance } else { None },
                partitions: offsets(rng),
            };
            r.send(
                ci,
                Request::TxnOffsetCommit(Versioned {
                    api_version: 3,
                    message: request,
                }),
            );
        }
        77..=79 => {
            let (p, e, commit) = (rng.pick(&[1, 2]), rng.pick(&[0, 1, 1]), rng.chance(70));
            r.marker(p, e, commit);
        }
        80..=81 => {
            let request = DescribeGroupsRequest {
                groups: vec![group.clone(), GroupId("solo".into())],
            };
            r.send(
                ci,
                Request::DescribeGroups(Versioned {
                    api_version: 5,
                    message: request,
                }),
            );
        }
        82..=83 => {
            let states_filter = match rng.below(3) {
                0 => vec![],
                1 => vec!["stable".into(), "Empty".into()],
                _ => vec!["PreparingRebalance".into()],
            };
            r.send(
                ci,
                Request::ListGroups(Versioned {
                    api_version: 4,
                    message: ListGroupsRequest { states_filter },
                }),
            );
        }
        84 => {
            let request = DeleteGroupsRequest {
                groups: vec![group.clone(), GroupId("solo".into()), group.clone()],
            };
            r.send(
                ci,
                Request::DeleteGroups(Versioned {
                    api_version: 2,
                    message: request,
                }),
            );
        }
        85..=97 => {
            // To the next timer's deadline (as trace generation from the model does), or by a
            // random amount.
            let next = r.target.next_deadline();
            let ms = match (next, rng.below(10)) {
                (Some(d), 0..=4) if d > r.now && d - r.now <= 60_000 => d - r.now,
                (_, 5) => rng.pick(&[1, 500, 999]),
                (_, 6) if rng.chance(20) => 600_000,
                _ => rng.pick(&[1_000, 3_000, 5_000, 6_000, 10_000, 20_000]),
            };
            r.advance(ms);
        }
        _ => r.restart(),
    }
}

/// A random trace: a few consumers (some static), random settings, `inputs` random inputs.
fn random_trace(seed: u64, inputs: usize) -> Trace {
    let mut rng = Rng(seed);
    let config = TraceConfig {
        group_min_session_timeout_ms: 6_000,
        group_max_session_timeout_ms: rng.pick(&[30_000, 1_800_000]),
        group_initial_rebalance_delay_ms: rng.pick(&[0, 100, 3_000, 3_000]),
        group_max_size: rng.pick(&[2, 3, i32::MAX as u32, i32::MAX as u32]),
    };
    let statics = rng.chance(50);
    let clients: Vec<Client> = (0..2 + rng.below(3))
        .map(|i| Client {
            client_id: format!("c{i}"),
            instance: (statics && rng.chance(60)).then(|| format!("i{i}")),
            member: String::new(),
            generation: -1,
            leads: vec![],
            protocols: rng.below(PROTOCOLS.len()),
            metadata: i as u8,
            session_timeout_ms: rng.pick(&[6_000, 10_000]),
            rebalance_timeout_ms: rng.pick(&[5_000, 10_000, 30_000]),
        })
        .collect();
    let mut r = Recorder::new(config, format!("random-{seed}"), clients);
    let group = GroupId("g".into());
    for _ in 0..inputs {
        random_input(&mut rng, &mut r, &group);
    }
    r.finish()
}

/// Writes a trace that failed where a person can replay it.
fn keep(trace: &Trace) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kgroup-differential-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.json", trace.name));
    std::fs::write(&path, serde_json::to_string_pretty(trace).unwrap()).unwrap();
    path
}

#[test]
fn t30_random_sequences_recorded_from_kgroup_core_pass_against_the_python_adapter() {
    // KGROUP_SLOW_TESTS=1: more and longer sequences. KGROUP_DIFFERENTIAL_SEEDS=FIRST..END:
    // those seeds, at the slow tier's length (to replay a failure the slow tier found).
    let slow = std::env::var_os("KGROUP_SLOW_TESTS").is_some();
    let (seeds, inputs) = match std::env::var("KGROUP_DIFFERENTIAL_SEEDS") {
        Ok(range) => {
            let (a, b) = range
                .split_once("..")
                .expect("KGROUP_DIFFERENTIAL_SEEDS=FIRST..END");
            let seed = |s: &str| s.parse::<u64>().expect("a seed");
            (seed(a)..seed(b), 120)
        }
        Err(_) if slow => (0..2_000, 120),
        Err(_) => (0..150, 60),
    };
    let traces = seeds.end - seeds.start;
    let adapter = python_adapter();
    let start = Instant::now();
    let mut steps = 0;
    let mut failures = vec![];
    for seed in seeds {
        let trace = random_trace(seed, inputs);
        steps += trace.steps.len();
        // The recording replays against kgroup-core itself: the names and the pending steps are
        // right.
        if let Err(f) = replay_inproc(&trace) {
            panic!("{} does not replay in process: {f}", keep(&trace).display());
        }
        match replay_adapter(&trace, &adapter).unwrap() {
            Verdict::Passed => {}
            Verdict::Failed(f) => {
                failures.push(format!("{}: {f}", keep(&trace).display()));
            }
            Verdict::Skipped(why) => panic!("{}: skipped: {why}", trace.name),
        }
    }
    eprintln!(
        "{traces} random traces ({steps} steps) against the Python adapter in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {traces} random traces fail against the Python adapter (replay one with \
         `kgroup conform --target \"cmd:python3 {ADAPTER}\" --traces DIR`):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The generated traces exercise what they should: every request kind, answers with the errors
/// that matter, restarts, markers, and JoinGroups answered later than they were sent.
#[test]
fn t31_random_sequences_cover_the_protocol() {
    let mut kinds = BTreeSet::new();
    let mut errors = BTreeSet::new();
    let (mut restarts, mut markers, mut late) = (0, 0, 0);
    for seed in 0..150 {
        let trace = random_trace(seed, 60);
        let mut sent_at = BTreeMap::new();
        for (i, step) in trace.steps.iter().enumerate() {
            match step {
                TraceStep::Send { id, request, .. } => {
                    let v = serde_json::to_value(request).unwrap();
                    kinds.insert(v.as_object().unwrap().keys().next().unwrap().clone());
                    sent_at.insert(*id, i);
                }
                TraceStep::Expect { id, response } => {
                    let text = serde_json::to_string(response).unwrap();
                    for e in ErrorCode::ALL {
                        if text.contains(&format!("\"{}\"", e.name())) {
                            errors.insert(e.name());
                        }
                    }
                    if matches!(response, Response::JoinGroup(_))
                        && trace.steps[sent_at[id]..i]
                            .iter()
                            .any(|s| matches!(s, TraceStep::Advance { .. }))
                    {
                        late += 1;
                    }
                }
                TraceStep::Restart => restarts += 1,
                TraceStep::Marker { .. } => markers += 1,
                _ => {}
            }
        }
    }
    assert_eq!(kinds.len(), 10, "{kinds:?}");
    for e in [
        "NONE",
        "MEMBER_ID_REQUIRED",
        "UNKNOWN_MEMBER_ID",
        "ILLEGAL_GENERATION",
        "REBALANCE_IN_PROGRESS",
        "FENCED_INSTANCE_ID",
        "INCONSISTENT_GROUP_PROTOCOL",
        "INVALID_SESSION_TIMEOUT",
        "GROUP_MAX_SIZE_REACHED",
        "OFFSET_METADATA_TOO_LARGE",
        "UNSTABLE_OFFSET_COMMIT",
        "NON_EMPTY_GROUP",
        "GROUP_ID_NOT_FOUND",
    ] {
        assert!(errors.contains(e), "no trace answers {e}: {errors:?}");
    }
    assert!(
        restarts > 50 && markers > 100 && late > 100,
        "{restarts} {markers} {late}"
    );
}

/// The generic replayer judges any `Target`: kgroup-core passes the pinned trace through it, and
/// a target that reports an answer twice fails at the step.
#[test]
fn t32_a_target_answering_twice_fails_the_trace() {
    struct Twice(InProc);
    impl Target for Twice {
        fn send(&mut self, now: u64, id: u64, client: &str, r: &Value) -> Result<(), String> {
            self.0.send(now, id, client, r)
        }
        fn advance(&mut self, now: u64) -> Result<(), String> {
            self.0.advance(now)
        }
        fn restart(&mut self, now: u64) -> Result<(), String> {
            self.0.restart(now)
        }
        fn marker(&mut self, now: u64, p: i64, e: i16, c: bool) -> Result<(), String> {
            self.0.marker(now, p, e, c)
        }
        fn fates(&mut self) -> Vec<(u64, Fate)> {
            let mut f = self.0.fates();
            let again: Vec<_> = f
                .iter()
                .filter(|(_, x)| matches!(x, Fate::Answered(_)))
                .cloned()
                .collect();
            f.extend(again);
            f
        }
    }
    let t = example_trace();
    replay(&t, &mut InProc::new(&t.config)).unwrap();
    let f = replay(&t, &mut Twice(InProc::new(&t.config))).unwrap_err();
    assert_eq!(f.step, 1);
    assert!(f.what.contains("request 1 is answered twice"), "{f}");
}

// ---- regressions: differences the random sequences found, settled by Kafka's source --------

/// Writes a trace step by step; request ids count from 1.
struct Script {
    steps: Vec<TraceStep>,
    next: u64,
}

const REBALANCE_MS: i32 = 10_000;

impl Script {
    fn new() -> Script {
        Script {
            steps: vec![],
            next: 1,
        }
    }

    fn send(&mut self, client: &str, request: Request) -> u64 {
        let id = self.next;
        self.next += 1;
        self.steps.push(TraceStep::Send {
            id,
            client: client.into(),
            request,
        });
        id
    }

    /// JoinGroup v9 with one protocol, `range`, whose metadata is `[metadata]`.
    fn join(
        &mut self,
        client: &str,
        member: &str,
        instance: Option<&str>,
        session_timeout_ms: i32,
        metadata: u8,
    ) -> u64 {
        let request = requests::join_request(
            member,
            instance,
            session_timeout_ms,
            REBALANCE_MS,
            vec![metadata],
        );
        self.send(client, request)
    }

    fn sync(
        &mut self,
        client: &str,
        member: &str,
        instance: Option<&str>,
        generation: i32,
        assignments: &[(&str, u8)],
    ) -> u64 {
        let request = requests::sync_request(member, instance, generation, assignments);
        self.send(client, request)
    }

    fn heartbeat(
        &mut self,
        client: &str,
        member: &str,
        instance: Option<&str>,
        generation: i32,
    ) -> u64 {
        let request = requests::heartbeat_request(member, instance, generation);
        self.send(client, request)
    }

    fn leave(&mut self, client: &str, member: &str, instance: Option<&str>) -> u64 {
        self.send(
            client,
            Request::LeaveGroup(Versioned {
                api_version: 5,
                message: LeaveGroupRequest {
                    group_id: GroupId("g".into()),
                    members: vec![LeaveGroupMember {
                        member_id: MemberId(member.into()),
                        group_instance_id: instance.map(|i| GroupInstanceId(i.into())),
                        reason: None,
                    }],
                },
            }),
        )
    }

    fn expect(&mut self, id: u64, response: Response) {
        self.steps.push(TraceStep::Expect { id, response });
    }

    fn pending(&mut self, id: u64) {
        self.steps.push(TraceStep::Pending { id });
    }

    fn advance(&mut self, ms: u64) {
        self.steps.push(TraceStep::Advance { ms });
    }

    fn trace(self, name: &str, description: &str, config: TraceConfig) -> Trace {
        Trace {
            version: TRACE_VERSION,
            name: name.into(),
            description: description.into(),
            config,
            steps: self.steps,
        }
    }
}

/// A JoinGroup answer of generation `generation`; `members` (id, instance, metadata) for the
/// leader.
fn joined(
    generation: i32,
    leader: &str,
    member: &str,
    members: &[(&str, Option<&str>, u8)],
    skip_assignment: bool,
) -> Response {
    Response::JoinGroup(JoinGroupResponse {
        error_code: ErrorCode::None,
        generation_id: GenerationId(generation),
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        leader: MemberId(leader.into()),
        skip_assignment,
        member_id: MemberId(member.into()),
        members: members
            .iter()
            .map(|(m, i, meta)| JoinGroupResponseMember {
                member_id: MemberId((*m).into()),
                group_instance_id: i.map(|i| GroupInstanceId(i.into())),
                metadata: vec![*meta],
            })
            .collect(),
    })
}

fn join_refused(error: ErrorCode, member: &str) -> Response {
    Response::JoinGroup(JoinGroupResponse {
        error_code: error,
        generation_id: GenerationId(-1),
        protocol_type: None,
        protocol_name: None,
        leader: MemberId(String::new()),
        skip_assignment: false,
        member_id: MemberId(member.into()),
        members: vec![],
    })
}

fn synced(assignment: u8) -> Response {
    Response::SyncGroup(SyncGroupResponse {
        error_code: ErrorCode::None,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignment: vec![assignment],
    })
}

fn sync_refused(error: ErrorCode) -> Response {
    Response::SyncGroup(SyncGroupResponse {
        error_code: error,
        protocol_type: None,
        protocol_name: None,
        assignment: vec![],
    })
}

fn heartbeat_answer(error: ErrorCode) -> Response {
    Response::Heartbeat(HeartbeatResponse { error_code: error })
}

fn no_delay() -> TraceConfig {
    TraceConfig {
        group_initial_rebalance_delay_ms: 0,
        ..TraceConfig::default()
    }
}

/// Two static members `${a}` (instance i0, the leader) and `${b}` (i1) form generation 1 and
/// sync; sessions are 30 s.
fn two_static_members(s: &mut Script) {
    let (a, b) = ("${a}", "${b}");
    let ja = s.join("c0", "", Some("i0"), 30_000, 0);
    let jb = s.join("c1", "", Some("i1"), 30_000, 1);
    s.advance(0);
    s.expect(
        ja,
        joined(1, a, a, &[(a, Some("i0"), 0), (b, Some("i1"), 1)], false),
    );
    s.expect(jb, joined(1, a, b, &[], false));
    let sb = s.sync("c1", b, Some("i1"), 1, &[]);
    s.pending(sb);
    let sa = s.sync("c0", a, Some("i0"), 1, &[(a, 1), (b, 2)]);
    s.expect(sa, synced(1));
    s.expect(sb, synced(2));
}

/// Checks a regression trace against kgroup-core and the Python adapter.
fn both_pass(t: &Trace) {
    replay_inproc(t).unwrap_or_else(|f| panic!("{} against kgroup-core: {f}", t.name));
    match replay_adapter(t, &python_adapter()).unwrap() {
        Verdict::Passed => {}
        v => panic!("{} against the Python adapter: {v:?}", t.name),
    }
}

/// Kafka's `maybeElectNewJoinedLeader` keeps the leader when no member has rejoined by the end
/// of the join phase (the phase is extended); kgroup-core cleared it, so a member joining
/// afterwards became the leader.
#[test]
fn t90_regression_the_leader_stays_when_no_member_rejoined() {
    let mut s = Script::new();
    two_static_members(&mut s);
    let (a, b, c) = ("${a}", "${b}", "${c}");
    // `b` changes its subscription (a rebalance), then leaves: only `a` is left, not rejoining.
    let jb = s.join("c1", b, Some("i1"), 30_000, 9);
    s.pending(jb);
    let lb = s.leave("c1", b, Some("i1"));
    s.expect(jb, join_refused(ErrorCode::UnknownMemberId, ""));
    s.expect(
        lb,
        Response::LeaveGroup(LeaveGroupResponse {
            error_code: ErrorCode::None,
            members: vec![LeaveGroupMemberResponse {
                member_id: MemberId(b.into()),
                group_instance_id: Some(GroupInstanceId("i1".into())),
                error_code: ErrorCode::None,
            }],
        }),
    );
    // The join phase ends with nobody rejoined: it is extended, `a` still leads.
    s.advance(REBALANCE_MS as u64);
    let jc = s.join("c2", "", Some("i2"), 30_000, 2);
    s.pending(jc);
    let ja = s.join("c0", a, Some("i0"), 30_000, 0);
    s.expect(
        ja,
        joined(2, a, a, &[(a, Some("i0"), 0), (c, Some("i2"), 2)], false),
    );
    s.expect(jc, joined(2, a, c, &[], false));
    both_pass(&s.trace(
        "regression-leader-stays-when-no-member-rejoined",
        "a static leader that rejoins after the join phase was extended still leads",
        no_delay(),
    ));
}

/// Kafka's `prepareRebalance` answers the waiting SyncGroups, restarting those members'
/// sessions, before it sets the join phase's timer; timers due together fire in the order they
/// were set. So a static member whose session ends with the join phase is removed first, and
/// the new generation is formed without it. kgroup-core set the join timer first.
#[test]
fn t91_regression_a_session_set_with_the_join_phase_ends_first() {
    let mut s = Script::new();
    let (a, b) = ("${a}", "${b}");
    let ja = s.join("c0", "", Some("i0"), REBALANCE_MS, 0);
    let jb = s.join("c1", "", Some("i1"), REBALANCE_MS, 1);
    s.advance(0);
    s.expect(
        ja,
        joined(1, a, a, &[(a, Some("i0"), 0), (b, Some("i1"), 1)], false),
    );
    s.expect(jb, joined(1, a, b, &[], false));
    s.advance(1_000);
    let sb = s.sync("c1", b, Some("i1"), 1, &[]);
    s.pending(sb);
    // The leader rejoins with a new subscription before it syncs: `b`'s SyncGroup is answered
    // and its session restarts, ending at 11 s, with the join phase.
    let ja = s.join("c0", a, Some("i0"), REBALANCE_MS, 5);
    s.expect(sb, sync_refused(ErrorCode::RebalanceInProgress));
    s.pending(ja);
    s.advance(REBALANCE_MS as u64);
    s.expect(ja, joined(2, a, a, &[(a, Some("i0"), 5)], false));
    let hb = s.heartbeat("c1", b, Some("i1"), 1);
    s.expect(hb, heartbeat_answer(ErrorCode::UnknownMemberId));
    both_pass(&s.trace(
        "regression-session-before-join-phase",
        "a session restarted with the join phase's timer ends first",
        no_delay(),
    ));
}

/// Kafka's `onGroupLoaded` rebalances a group loaded with more members than group.max.size;
/// kgroup-core loaded it Stable.
#[test]
fn t92_regression_a_group_loaded_over_capacity_rebalances() {
    let mut s = Script::new();
    two_static_members(&mut s);
    let (a, b, c) = ("${a}", "${b}", "${c}");
    // The leader rejoins (a rebalance); a third static member joins while only one member
    // waits, so the group may grow to three: `b`, static, is kept without rejoining.
    let ja = s.join("c0", a, Some("i0"), 30_000, 0);
    let jc = s.join("c2", "", Some("i2"), 30_000, 2);
    s.pending(ja);
    s.advance(REBALANCE_MS as u64);
    let all = [(a, Some("i0"), 0), (b, Some("i1"), 1), (c, Some("i2"), 2)];
    s.expect(ja, joined(2, a, a, &all, false));
    s.expect(jc, joined(2, a, c, &[], false));
    let sc = s.sync("c2", c, Some("i2"), 2, &[]);
    let sa = s.sync("c0", a, Some("i0"), 2, &[(a, 1), (b, 2), (c, 3)]);
    s.expect(sa, synced(1));
    s.expect(sc, synced(3));
    s.steps.push(TraceStep::Restart);
    let hb = s.heartbeat("c0", a, Some("i0"), 2);
    s.expect(hb, heartbeat_answer(ErrorCode::RebalanceInProgress));
    both_pass(&s.trace(
        "regression-loaded-over-capacity",
        "a group loaded with more members than group.max.size rebalances",
        TraceConfig {
            group_max_size: 2,
            ..no_delay()
        },
    ));
}

/// Kafka's `updateStaticMemberAndRebalance` restarts the replacing member's session before it
/// takes the request's timeouts: that session is as long as the old member's. kgroup-core used
/// the new timeout.
#[test]
fn t93_regression_a_replaced_static_members_session_is_the_old_one() {
    let mut s = Script::new();
    let (a, a2) = ("${a}", "${a2}");
    let ja = s.join("c0", "", Some("i0"), 6_000, 0);
    s.advance(0);
    s.expect(ja, joined(1, a, a, &[(a, Some("i0"), 0)], false));
    let sa = s.sync("c0", a, Some("i0"), 1, &[(a, 1)]);
    s.expect(sa, synced(1));
    s.advance(1_000);
    // The instance restarts with a 30 s session: no rebalance; v9 tells the new leader to skip
    // the assignment (KIP-814).
    let j2 = s.join("c0", "", Some("i0"), 30_000, 0);
    s.expect(j2, joined(1, a2, a2, &[(a2, Some("i0"), 0)], true));
    // Its first session is the old member's 6 s.
    s.advance(6_000);
    let hb = s.heartbeat("c0", a2, Some("i0"), 1);
    s.expect(hb, heartbeat_answer(ErrorCode::UnknownMemberId));
    both_pass(&s.trace(
        "regression-replaced-static-session",
        "a replaced static member's first session is the old member's",
        no_delay(),
    ));
}

/// Kafka tries to complete the join phase after every JoinGroup, the refused ones too: refusing
/// a pending member (GROUP_MAX_SIZE_REACHED) may leave every member joined. kgroup-core
/// returned before the check, and the phase waited for its timeout.
#[test]
fn t94_regression_refusing_a_pending_member_completes_the_join_phase() {
    let mut s = Script::new();
    let (a, b, c) = ("${a}", "${b}", "${c}");
    let j = s.join("c0", "", None, 30_000, 0);
    s.expect(j, join_refused(ErrorCode::MemberIdRequired, a));
    let ja = s.join("c0", a, None, 30_000, 0);
    s.advance(0);
    s.expect(ja, joined(1, a, a, &[(a, None, 0)], false));
    let sa = s.sync("c0", a, None, 1, &[(a, 1)]);
    s.expect(sa, synced(1));
    let j = s.join("c1", "", None, 30_000, 1);
    s.expect(j, join_refused(ErrorCode::MemberIdRequired, b));
    let j = s.join("c2", "", None, 30_000, 2);
    s.expect(j, join_refused(ErrorCode::MemberIdRequired, c));
    // `b` joins (a rebalance), `a` rejoins: two wait, the pending `c` holds the phase open.
    let jb = s.join("c1", b, None, 30_000, 1);
    let ja = s.join("c0", a, None, 30_000, 0);
    s.pending(jb);
    s.pending(ja);
    // `c` is refused (two members wait, the maximum): nothing is left to wait for.
    let jc = s.join("c2", c, None, 30_000, 2);
    s.expect(jc, join_refused(ErrorCode::GroupMaxSizeReached, ""));
    s.expect(ja, joined(2, a, a, &[(a, None, 0), (b, None, 1)], false));
    s.expect(jb, joined(2, a, b, &[], false));
    both_pass(&s.trace(
        "regression-refused-pending-member",
        "refusing the last pending member completes the join phase",
        TraceConfig {
            group_max_size: 2,
            ..no_delay()
        },
    ));
}

/// Kafka's `replaceStaticMember` leaves the old member id among the members that have not
/// synced, so a static member replaced before it synced makes the sync deadline rebalance the
/// group even if its replacement synced (GroupMetadata.scala and the new coordinator's
/// ClassicGroup.java agree). kgroup-core moved the pending sync to the new id.
#[test]
fn t95_regression_a_static_member_replaced_before_it_synced_rebalances_at_the_sync_deadline() {
    let mut s = Script::new();
    let (a, b, b2) = ("${a}", "${b}", "${b2}");
    let ja = s.join("c0", "", Some("i0"), 30_000, 0);
    let jb = s.join("c1", "", Some("i1"), 30_000, 1);
    s.advance(0);
    s.expect(
        ja,
        joined(1, a, a, &[(a, Some("i0"), 0), (b, Some("i1"), 1)], false),
    );
    s.expect(jb, joined(1, a, b, &[], false));
    let sa = s.sync("c0", a, Some("i0"), 1, &[(a, 1), (b, 2)]);
    s.expect(sa, synced(1));
    // `b` restarts before it synced; its replacement syncs.
    let j2 = s.join("c1", "", Some("i1"), 30_000, 1);
    s.expect(j2, joined(1, a, b2, &[], false));
    let s2 = s.sync("c1", b2, Some("i1"), 1, &[]);
    s.expect(s2, synced(2));
    let hb = s.heartbeat("c0", a, Some("i0"), 1);
    s.expect(hb, heartbeat_answer(ErrorCode::None));
    // The sync deadline finds the old id still waiting to sync.
    s.advance(REBALANCE_MS as u64);
    let hb = s.heartbeat("c0", a, Some("i0"), 1);
    s.expect(hb, heartbeat_answer(ErrorCode::RebalanceInProgress));
    both_pass(&s.trace(
        "regression-replaced-before-sync",
        "a static member replaced before it synced rebalances the group at the sync deadline",
        no_delay(),
    ));
}

/// A member id handed out with MEMBER_ID_REQUIRED belongs to a dynamic member: Kafka's
/// `doCurrentMemberJoinGroup` throws when it comes back with a group instance id, and Kafka's
/// request handler answers UNKNOWN_SERVER_ERROR, the group unchanged. kgroup-core added it as a
/// static member, taking the instance id from the member that held it.
#[test]
fn t96_regression_a_pending_member_joining_with_an_instance_id_is_refused() {
    let mut s = Script::new();
    let (a, p) = ("${a}", "${p}");
    let ja = s.join("c0", "", Some("i0"), 30_000, 0);
    s.advance(0);
    s.expect(ja, joined(1, a, a, &[(a, Some("i0"), 0)], false));
    let sa = s.sync("c0", a, Some("i0"), 1, &[(a, 1)]);
    s.expect(sa, synced(1));
    let j = s.join("c1", "", None, 30_000, 1);
    s.expect(j, join_refused(ErrorCode::MemberIdRequired, p));
    let j = s.join("c1", p, Some("i0"), 30_000, 1);
    s.expect(j, join_refused(ErrorCode::UnknownServerError, ""));
    // Nothing changed: `a` still holds i0, in a Stable group.
    let hb = s.heartbeat("c0", a, Some("i0"), 1);
    s.expect(hb, heartbeat_answer(ErrorCode::None));
    both_pass(&s.trace(
        "regression-pending-member-with-instance-id",
        "a pending (dynamic) member id joining with a group instance id is refused",
        no_delay(),
    ));
}

/// The corpus generated from the model (conformance/traces) passes against the example adapter
/// too: two independent implementations agree with the model on every trace.
#[test]
fn t40_the_generated_corpus_passes_against_the_python_adapter() {
    let traces = common::committed();
    let adapter = python_adapter();
    let mut failures = vec![];
    for t in &traces {
        match replay_adapter(t, &adapter).unwrap() {
            Verdict::Passed => {}
            Verdict::Failed(f) => failures.push(format!("{}: {f}", t.name)),
            Verdict::Skipped(why) => failures.push(format!("{}: skipped: {why}", t.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
