//! The `kgroup` binary as users call it: exit codes, stderr, and the JSON answers.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn kgroup(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kgroup"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kgroup runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn assign_ok(request: &str) -> serde_json::Value {
    let out = kgroup(&["assign"], request);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    serde_json::from_slice(&out.stdout).expect("the answer is JSON")
}

#[test]
fn t10_assign_answers_the_documented_example() {
    let request = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/examples/assign-request.json"
    ))
    .unwrap();
    insta::assert_json_snapshot!("docs_example", assign_ok(&request));
}

#[test]
fn t11_range_with_static_members_and_uneven_topics() {
    insta::assert_json_snapshot!(assign_ok(
        r#"{"strategy": "range", "topics": {"a": 7, "b": 2, "idle": 4},
            "members": [{"id": "m-3", "topics": ["a", "b"]},
                        {"id": "m-1", "topics": ["a"], "instance_id": "host-2"},
                        {"id": "m-2", "topics": ["a", "b", "absent"], "instance_id": "host-1"}]}"#
    ));
}

#[test]
fn t12_roundrobin_with_unequal_subscriptions() {
    insta::assert_json_snapshot!(assign_ok(
        r#"{"strategy": "roundrobin", "topics": {"t0": 1, "t1": 2, "t2": 3},
            "members": [{"id": "C0", "topics": ["t0"]}, {"id": "C1", "topics": ["t0", "t1"]},
                        {"id": "C2", "topics": ["t0", "t1", "t2"]}]}"#
    ));
}

#[test]
fn t13_sticky_resolves_claims_by_generation() {
    // c2 has the newest generation (4): it keeps t-0 and t-2. c1 and c3 (generation 3) missed a
    // rebalance, so none of their claims count (t-9 would not exist anyway); the free partitions
    // are dealt round-robin to them.
    insta::assert_json_snapshot!(assign_ok(
        r#"{"strategy": "sticky", "topics": {"t": 6},
            "members": [{"id": "c1", "topics": ["t"], "owned": [["t", 0], ["t", 1], ["t", 4]], "generation": 3},
                        {"id": "c2", "topics": ["t"], "owned": [["t", 0], ["t", 2]], "generation": 4},
                        {"id": "c3", "topics": ["t"], "owned": [["t", 4], ["t", 9]], "generation": 3}]}"#
    ));
}

#[test]
fn t14_sticky_with_unequal_subscriptions() {
    insta::assert_json_snapshot!(assign_ok(
        r#"{"strategy": "sticky", "topics": {"x": 4, "y": 4, "z": 2},
            "members": [{"id": "a", "topics": ["x", "y", "z"], "owned": [["x", 0], ["x", 1], ["x", 2], ["x", 3], ["y", 0]], "generation": 2},
                        {"id": "b", "topics": ["y"], "owned": [["y", 1]], "generation": 2},
                        {"id": "c", "topics": ["x", "z"]}]}"#
    ));
}

#[test]
fn t15_cooperative_withholds_then_hands_over() {
    let first = assign_ok(
        r#"{"strategy": "cooperative-sticky", "topics": {"t": 4},
            "members": [{"id": "old", "topics": ["t"], "owned": [["t", 0], ["t", 1], ["t", 2], ["t", 3]], "generation": 1},
                        {"id": "new", "topics": ["t"]}]}"#,
    );
    // Round one: "new" gets nothing yet, "old" keeps half and revokes the rest.
    assert_eq!(
        first,
        serde_json::json!({"assignment": {"old": [["t", 0], ["t", 1]], "new": []}})
    );
    let second = assign_ok(
        r#"{"strategy": "cooperative-sticky", "topics": {"t": 4},
            "members": [{"id": "old", "topics": ["t"], "owned": [["t", 0], ["t", 1]], "generation": 2},
                        {"id": "new", "topics": ["t"], "generation": 2}]}"#,
    );
    assert_eq!(
        second,
        serde_json::json!({"assignment": {"old": [["t", 0], ["t", 1]], "new": [["t", 2], ["t", 3]]}})
    );
}

#[test]
fn t20_bad_input_exits_2_with_one_line_naming_the_field() {
    let cases = [
        ("{", "$"),
        (
            r#"{"strategy": "range", "topics": {"t": -4}, "members": []}"#,
            "topics.t",
        ),
        (
            r#"{"strategy": "lifo", "topics": {}, "members": []}"#,
            "strategy",
        ),
        (
            r#"{"strategy": "range", "topics": {}, "members": [{"id": 5, "topics": []}]}"#,
            "members[0].id",
        ),
        (
            r#"{"strategy": "range", "topics": {}, "members": [{"id": "a", "topics": []}, {"id": "a", "topics": []}]}"#,
            "members[1].id",
        ),
        (
            r#"{"strategy": "range", "topics": {}, "members": [{"id": "a", "topics": [], "generation": "x"}]}"#,
            "members[0].generation",
        ),
    ];
    for (input, path) in cases {
        let out = kgroup(&["assign"], input);
        assert_eq!(out.status.code(), Some(2), "{input}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.starts_with(&format!("kgroup assign: {path}: ")),
            "{input} -> {stderr}"
        );
    }
}

#[test]
fn t21_bad_options_exit_2() {
    for args in [
        &["bench", "assign", "--shape", "Z"][..],
        &["bench", "assign", "--topics", "3"],
        &["bench", "assign", "--runs", "0"],
        &["bench", "assign", "--strategy", "fifo"],
        &["bench", "assign", "--shape", "A", "--members", "3"],
        &["assign", "--nope"],
        &["frobnicate"],
    ] {
        let out = kgroup(args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn t22_a_response_that_cannot_be_written_exits_1() {
    // /dev/full refuses every write with ENOSPC.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full exists on Linux");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kgroup"))
        .arg("assign")
        .stdin(Stdio::piped())
        .stdout(full)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"strategy": "range", "topics": {"t": 2}, "members": [{"id": "a", "topics": ["t"]}]}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("kgroup assign: cannot write the response:"),
        "{stderr}"
    );
}

#[test]
fn t30_bench_json_lines_have_the_contract_fields() {
    let out = kgroup(
        &[
            "bench",
            "assign",
            "--topics",
            "3",
            "--partitions",
            "20",
            "--members",
            "4",
            "--runs",
            "3",
            "--json",
        ],
        "",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8, "4 strategies x 2 rounds");
    for l in &lines {
        let keys: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "max_ms",
                "median_ms",
                "min_ms",
                "round",
                "runs",
                "shape",
                "strategy"
            ]
        );
        assert_eq!(l["shape"], "custom");
        assert_eq!(l["runs"], 3);
        assert!(l["min_ms"].as_f64().unwrap() <= l["median_ms"].as_f64().unwrap());
    }
    assert_eq!(lines[0]["strategy"], "range");
    assert_eq!(lines[1]["round"], "rebalance");
}

#[test]
fn t31_bench_table_shows_moves_and_spread() {
    let out = kgroup(
        &[
            "bench",
            "assign",
            "--shape",
            "A",
            "--strategy",
            "sticky",
            "--round",
            "rebalance",
            "--runs",
            "1",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().contains("moves"));
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["sticky", "A", "rebalance"]);
    // 1,000 partitions over 100 members: member 0 takes back its ten, nobody else moves.
    assert_eq!(row[7], "0");
    assert_eq!(row[8], "0");
}

#[test]
fn check_lists_the_seeded_bugs_one_per_line() {
    let out = kgroup(&["check", "--list-bugs"], "");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 8);
    for l in &lines {
        let cols: Vec<&str> = l.split_whitespace().collect();
        assert!(
            cols[0].chars().all(|c| c.is_ascii_lowercase() || c == '-'),
            "{l}"
        );
        assert!(cols[1] == "-" || cols[1].starts_with("KAFKA-"), "{l}");
    }
    assert!(lines
        .iter()
        .any(|l| l.starts_with("commit-without-generation-check ") && l.contains(" KAFKA-2596 ")));
}

#[test]
fn check_finds_a_seeded_bug_and_writes_its_counterexample() {
    let dir = std::env::temp_dir().join(format!("kgroup-cli-test-{}", std::process::id()));
    let out = kgroup(
        &[
            "check",
            "--bug",
            "eager-rejoin-without-revoke",
            "--quiet",
            "--trace-dir",
            dir.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text
        .contains("counterexample to \"no partition is processed by two live consumers at once\""));
    assert!(text.contains("  1. consumer"), "{text}");
    assert!(text.lines().last().unwrap().contains("1 failed"));
    let file = dir.join("bug-eager-rejoin-without-revoke-no-partition-is-processed-by-two-live-consumers-at-once.json");
    let trace: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("trace written")).unwrap();
    assert_eq!(trace["bug"], "eager-rejoin-without-revoke");
    assert!(trace["steps"].as_array().unwrap().len() > 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_passes_a_small_correct_configuration() {
    let out = kgroup(
        &[
            "check",
            "--consumers",
            "2",
            "--protocol",
            "cooperative",
            "--quiet",
        ],
        "",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("all properties hold"));
    assert!(text
        .lines()
        .last()
        .unwrap()
        .starts_with("1 configuration(s), 0 failed"));
}

#[test]
fn check_refuses_bad_options_with_exit_2() {
    for args in [
        &["check", "--bug", "no-such-bug"][..],
        &["check", "--consumers", "9"],
        &["check", "--protocol", "lazy"],
        &["check", "--checker", "sim"],
        &["check", "--crashes", "8", "--losses", "8"],
        &["check", "--duplicates", "1"],
        &["check", "--reorders", "1", "--eos"],
    ] {
        let out = kgroup(args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

/// The pinned example trace (conformance/tests/replay.rs), as a trace file.
fn example_trace() -> String {
    let snap = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/replay__the_trace_format_is_pinned.snap"
    ))
    .expect("the pinned trace");
    // The snapshot's body follows its `---` header.
    snap.splitn(3, "---\n").nth(2).expect("a body").to_string()
}

#[test]
fn conform_replays_a_directory_and_reports_each_failure() {
    let dir = std::env::temp_dir().join(format!("kgroup-conform-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let good = example_trace();
    std::fs::write(dir.join("life.json"), &good).unwrap();
    let d = dir.to_str().unwrap();
    let out = kgroup(&["conform", "--target", "inproc", "--traces", d], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().last(), Some("1 passed, 0 failed"));

    // A wrong expectation (the fetched offset) fails that trace, named, with exit 1.
    let at = good
        .rfind("\"committed_offset\": 42")
        .expect("the fetch expectation");
    let mut bad = good.clone();
    bad.replace_range(
        at..at + "\"committed_offset\": 42".len(),
        "\"committed_offset\": 43",
    );
    let bad = bad.replace(
        "\"name\": \"life-of-a-group\"",
        "\"name\": \"wrong-offset\"",
    );
    std::fs::write(dir.join("wrong.json"), bad).unwrap();
    let out = kgroup(
        &["conform", "--target", "inproc", "--traces", d, "--json"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.last(), Some(&"1 passed, 1 failed"));
    let fail: serde_json::Value = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["result"] == "fail")
        .expect("a failure line");
    assert_eq!(fail["trace"], "wrong-offset");
    assert!(fail["what"].as_str().unwrap().contains("committed_offset"));

    // --filter narrows by name.
    let out = kgroup(
        &[
            "conform", "--target", "inproc", "--traces", d, "--filter", "life",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0));

    // Unreadable traces and unavailable targets: exit 2 with a one-line reason.
    std::fs::write(dir.join("broken.json"), "{\"version\": 1, \"name\": 3}").unwrap();
    let out = kgroup(&["conform", "--target", "inproc", "--traces", d], "");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("broken.json") && err.contains("name"), "{err}");
    for target in ["cmd:./adapter", "kafka://127.0.0.1:9092", "nowhere"] {
        let out = kgroup(&["conform", "--target", target, "--traces", d], "");
        assert_eq!(out.status.code(), Some(2), "{target}");
        assert_eq!(String::from_utf8(out.stderr).unwrap().lines().count(), 1);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
