//! The adapter target of `kgroup conform --target cmd:PROGRAM ARGS`: a group coordinator in
//! another process (another language's implementation, wrapped in a small program) that speaks
//! JSON lines on its stdin and stdout. docs/adapter.md is the protocol's reference.
//!
//! One fresh process per trace. The adapter first writes a hello line naming the request kinds it
//! implements (a trace that uses another kind is skipped, not failed); the driver then writes the
//! trace's configuration and each input step (send, advance, restart, marker) as one line, and
//! after each the adapter writes exactly one line with what it produced meanwhile: responses by
//! request id and requests it abandoned. All judging (expectations, pending requests, member-id
//! names) stays in [`crate::replay::replay`], so an adapter only runs its coordinator.
//!
//! A broken adapter fails the trace it was running, named by the step: it exits, writes a line
//! that is not JSON or not an answer, does not answer within the line timeout, or writes
//! anything to stderr. An adapter command that cannot be started at all is a [`StartError`].

use crate::replay::{replay, request_kind, Failure, Fate, Target};
use kgroup_protocol::trace::{Trace, TraceStep, TRACE_VERSION};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How long the driver waits for each line of the adapter.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of the adapter's stderr a failure quotes (the last bytes).
const STDERR_QUOTED: usize = 2_000;

/// How much of a line that does not read a failure quotes.
const LINE_QUOTED: usize = 300;

/// The adapter program and its arguments, as `cmd:PROGRAM ARGS` gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterCommand {
    pub program: String,
    pub args: Vec<String>,
    /// How long to wait for each line of the adapter ([`LINE_TIMEOUT`] from the command line).
    pub line_timeout: Duration,
}

impl AdapterCommand {
    /// The command after `cmd:`, split on whitespace (no shell: no quoting, no variables).
    pub fn parse(spec: &str) -> Result<AdapterCommand, String> {
        let mut words = spec.split_whitespace().map(str::to_owned);
        let program = words
            .next()
            .ok_or_else(|| "the adapter command after `cmd:` is empty".to_owned())?;
        Ok(AdapterCommand {
            program,
            args: words.collect(),
            line_timeout: LINE_TIMEOUT,
        })
    }
}

impl fmt::Display for AdapterCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.program)?;
        for a in &self.args {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

/// The adapter command cannot be started (no such program, not executable, ...).
#[derive(Debug)]
pub struct StartError {
    pub command: String,
    pub source: std::io::Error,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot start the adapter `{}`: {}",
            self.command, self.source
        )
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The outcome of one trace against a target that may not run every trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed(Failure),
    /// The target cannot run this trace, for this reason.
    Skipped(String),
}

/// What the adapter says it is, from its hello line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub adapter: String,
    /// The request kinds it implements (`join_group`, ...).
    pub apis: BTreeSet<String>,
}

/// Replays `trace` against a fresh process of the adapter `command`, which is killed at the end.
pub fn replay_adapter(trace: &Trace, command: &AdapterCommand) -> Result<Verdict, StartError> {
    let mut process = AdapterProcess::start(command)?;
    let verdict = run(trace, &mut process);
    Ok(process.finish(verdict, trace.steps.len()))
}

/// The request kinds a trace sends, in order of first use.
pub fn kinds_used(trace: &Trace) -> Vec<String> {
    let mut kinds: Vec<String> = vec![];
    for step in &trace.steps {
        if let TraceStep::Send { request, .. } = step {
            let v = serde_json::to_value(request).unwrap_or(Value::Null);
            if let Some(k) = request_kind(&v) {
                if !kinds.iter().any(|x| x == k) {
                    kinds.push(k.to_owned());
                }
            }
        }
    }
    kinds
}

fn run(trace: &Trace, process: &mut AdapterProcess) -> Verdict {
    let before = |what: String| {
        Verdict::Failed(Failure {
            step: 0,
            what,
            expected: None,
            actual: None,
        })
    };
    let hello = match process.hello() {
        Ok(h) => h,
        Err(e) => return before(format!("hello: {e}")),
    };
    let missing: Vec<String> = kinds_used(trace)
        .into_iter()
        .filter(|k| !hello.apis.contains(k))
        .collect();
    if !missing.is_empty() {
        return Verdict::Skipped(format!("adapter does not implement {}", missing.join(", ")));
    }
    let config = json!({"type": "config", "trace": trace.name, "config": trace.config});
    match process.exchange(&config) {
        Ok(fates) if fates.is_empty() => {}
        Ok(_) => return before("config: the adapter answered requests before any was sent".into()),
        Err(e) => return before(format!("config: {e}")),
    }
    match replay(trace, process) {
        Ok(()) => Verdict::Passed,
        Err(f) => Verdict::Failed(f),
    }
}

/// One line from the adapter's stdout, or how the stream ended.
enum Line {
    Text(String),
    Unreadable(std::io::Error),
    End,
}

/// A running adapter: its stdin, a thread reading its stdout line by line, a thread collecting
/// its stderr.
struct AdapterProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Line>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_done: Receiver<()>,
    line_timeout: Duration,
    fates: Vec<(u64, Fate)>,
    /// Set once the adapter has broken the protocol: nothing more is sent.
    broken: bool,
}

impl fmt::Debug for AdapterProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdapterProcess")
            .field("pid", &self.child.id())
            .finish()
    }
}

impl AdapterProcess {
    fn start(command: &AdapterCommand) -> Result<AdapterProcess, StartError> {
        let mut child = Command::new(&command.program)
            .args(&command.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| StartError {
                command: command.to_string(),
                source,
            })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (line_tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let end = line.is_err();
                let sent = line_tx.send(match line {
                    Ok(l) => Line::Text(l),
                    Err(e) => Line::Unreadable(e),
                });
                if end || sent.is_err() {
                    return;
                }
            }
            let _ = line_tx.send(Line::End);
        });
        let mut err_pipe = child.stderr.take().expect("stderr is piped");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stderr);
        let (done_tx, stderr_done) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.extend_from_slice(&buf[..n]);
                    // Keep the tail only: a failure quotes the last bytes.
                    let len = s.len();
                    if len > 16 * STDERR_QUOTED {
                        s.drain(..len - STDERR_QUOTED);
                    }
                }
            }
            let _ = done_tx.send(());
        });
        Ok(AdapterProcess {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            stderr_done,
            line_timeout: command.line_timeout,
            fates: vec![],
            broken: false,
        })
    }

    /// The last bytes the adapter wrote to stderr, if any.
    fn stderr_text(&self) -> Option<String> {
        let s = self.stderr.lock().ok()?;
        if s.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(&s);
        let text = text.trim_end();
        let start = text
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| text.len() - i <= STDERR_QUOTED)
            .unwrap_or(0);
        let cut = if start > 0 { "…" } else { "" };
        Some(format!("{cut}{}", &text[start..]))
    }

    /// How the adapter ended, once it has.
    fn exit_status(&mut self) -> Option<ExitStatus> {
        for _ in 0..20 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// A failure of the adapter, with its stderr if it wrote any.
    fn broke(&mut self, what: String) -> String {
        self.broken = true;
        if let Ok(Some(_)) = self.child.try_wait() {
            // It has exited: let the stderr thread read what it wrote last (a traceback).
            let _ = self.stderr_done.recv_timeout(Duration::from_millis(500));
        }
        match self.stderr_text() {
            Some(err) => format!("{what}; its stderr:\n{err}"),
            None => what,
        }
    }

    fn next_line(&mut self) -> Result<String, String> {
        match self.lines.recv_timeout(self.line_timeout) {
            Ok(Line::Text(l)) => Ok(l),
            Ok(Line::Unreadable(e)) => {
                Err(self.broke(format!("the adapter wrote a line that does not read: {e}")))
            }
            Ok(Line::End) | Err(RecvTimeoutError::Disconnected) => {
                // It is exiting: let the stderr thread read what it wrote last (a traceback).
                let _ = self.stderr_done.recv_timeout(Duration::from_secs(1));
                let status = match self.exit_status() {
                    Some(s) => format!(" ({s})"),
                    None => String::new(),
                };
                Err(self.broke(format!(
                    "the adapter closed its output before answering{status}"
                )))
            }
            Err(RecvTimeoutError::Timeout) => Err(self.broke(format!(
                "the adapter did not answer within {} ms",
                self.line_timeout.as_millis()
            ))),
        }
    }

    /// Reads and checks the hello line.
    fn hello(&mut self) -> Result<Hello, String> {
        let line = self.next_line()?;
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| self.broke(format!("not JSON ({e}): {}", quote(&line))))?;
        let adapter = v.get("adapter").and_then(Value::as_str);
        let version = v.get("trace_version").and_then(Value::as_u64);
        let apis = v.get("apis").and_then(Value::as_array).and_then(|a| {
            a.iter()
                .map(|k| k.as_str().map(str::to_owned))
                .collect::<Option<BTreeSet<String>>>()
        });
        let (Some(adapter), Some(version), Some(apis)) = (adapter, version, apis) else {
            return Err(self.broke(format!(
                "expected {{\"adapter\": NAME, \"trace_version\": {TRACE_VERSION}, \"apis\": [KIND, ...]}}, got {}",
                quote(&line)
            )));
        };
        if version != u64::from(TRACE_VERSION) {
            return Err(self.broke(format!(
                "the adapter reads trace format version {version}, this build writes {TRACE_VERSION}"
            )));
        }
        Ok(Hello {
            adapter: adapter.to_owned(),
            apis,
        })
    }

    /// Writes one input line and reads the adapter's answer: the fates of requests.
    fn exchange(&mut self, input: &Value) -> Result<Vec<(u64, Fate)>, String> {
        if self.broken {
            return Err("the adapter broke the protocol earlier".into());
        }
        let mut text = input.to_string();
        text.push('\n');
        let written = match self.stdin.as_mut() {
            Some(stdin) => stdin
                .write_all(text.as_bytes())
                .and_then(|()| stdin.flush()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        if let Err(e) = written {
            let status = match self.exit_status() {
                Some(s) => format!(" ({s})"),
                None => String::new(),
            };
            return Err(self.broke(format!("the adapter does not read its input{status}: {e}")));
        }
        let line = self.next_line()?;
        let fates = parse_answer(&line).map_err(|e| self.broke(e))?;
        if let Some(err) = self.stderr_text() {
            self.broken = true;
            return Err(format!("the adapter wrote to stderr:\n{err}"));
        }
        Ok(fates)
    }

    fn input(&mut self, input: Value) -> Result<(), String> {
        let fates = self.exchange(&input)?;
        self.fates.extend(fates);
        Ok(())
    }

    /// Kills the adapter and waits for it; a trace that passed fails if the adapter wrote to
    /// stderr by then.
    fn finish(mut self, verdict: Verdict, steps: usize) -> Verdict {
        self.kill();
        // The stderr pipe closes with the process (unless the adapter left children holding it).
        let _ = self.stderr_done.recv_timeout(Duration::from_millis(500));
        match (verdict, self.stderr_text()) {
            (Verdict::Passed, Some(err)) => Verdict::Failed(Failure {
                step: steps,
                what: format!("the adapter wrote to stderr:\n{err}"),
                expected: None,
                actual: None,
            }),
            (Verdict::Failed(mut f), Some(err)) if !f.what.contains("stderr") => {
                f.what = format!("{}; the adapter wrote to stderr:\n{err}", f.what);
                Verdict::Failed(f)
            }
            (v, _) => v,
        }
    }

    fn kill(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AdapterProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Target for AdapterProcess {
    fn send(&mut self, now: u64, id: u64, client: &str, request: &Value) -> Result<(), String> {
        self.input(json!({
            "type": "send", "now": now, "id": id, "client": client,
            "client_host": format!("/{client}"), "request": request,
        }))
    }

    fn advance(&mut self, now: u64) -> Result<(), String> {
        self.input(json!({"type": "advance", "now": now}))
    }

    fn restart(&mut self, now: u64) -> Result<(), String> {
        self.input(json!({"type": "restart", "now": now}))
    }

    fn marker(
        &mut self,
        now: u64,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<(), String> {
        self.input(json!({
            "type": "marker", "now": now, "producer_id": producer_id,
            "producer_epoch": producer_epoch, "commit": commit,
        }))
    }

    fn fates(&mut self) -> Vec<(u64, Fate)> {
        std::mem::take(&mut self.fates)
    }
}

/// A line cut to a readable length.
fn quote(line: &str) -> String {
    match line.char_indices().nth(LINE_QUOTED) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_owned(),
    }
}

/// Reads one answer line: `{"responses": [{"id": N, "response": {...}}], "abandoned": [N]}`
/// (both optional), or `{"error": TEXT}` when the adapter could not take the input.
fn parse_answer(line: &str) -> Result<Vec<(u64, Fate)>, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| {
        format!(
            "the adapter wrote a line that is not JSON ({e}): {}",
            quote(line)
        )
    })?;
    let Value::Object(fields) = &v else {
        return Err(format!(
            "the adapter's answer is not a JSON object: {}",
            quote(line)
        ));
    };
    if let Some(e) = fields.get("error") {
        let text = e.as_str().map_or_else(|| e.to_string(), str::to_owned);
        return Err(format!("the adapter reports an error: {text}"));
    }
    let bad = |what: &str| format!("the adapter's answer {what}: {}", quote(line));
    let mut fates = vec![];
    match fields.get("responses") {
        None => {}
        Some(Value::Array(items)) => {
            for item in items {
                let id = item.get("id").and_then(Value::as_u64);
                let response = item.get("response");
                match (id, response) {
                    (Some(id), Some(r)) => fates.push((id, Fate::Answered(r.clone()))),
                    _ => {
                        return Err(bad(
                            "has a response without an integer `id` and a `response`",
                        ))
                    }
                }
            }
        }
        Some(_) => return Err(bad("has `responses` that is not an array")),
    }
    match fields.get("abandoned") {
        None => {}
        Some(Value::Array(ids)) => {
            for id in ids {
                match id.as_u64() {
                    Some(id) => fates.push((id, Fate::Abandoned)),
                    None => return Err(bad("has `abandoned` with an id that is not an integer")),
                }
            }
        }
        Some(_) => return Err(bad("has `abandoned` that is not an array")),
    }
    Ok(fates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_splits_on_whitespace() {
        let c = AdapterCommand::parse("  python3   a.py --x  ").unwrap();
        assert_eq!(c.program, "python3");
        assert_eq!(c.args, ["a.py", "--x"]);
        assert_eq!(c.to_string(), "python3 a.py --x");
        assert!(AdapterCommand::parse("   ").unwrap_err().contains("empty"));
    }

    #[test]
    fn answers_read_responses_and_abandoned_requests() {
        let fates = parse_answer(
            r#"{"responses": [{"id": 3, "response": {"heartbeat": {"error_code": "NONE"}}}], "abandoned": [2]}"#,
        )
        .unwrap();
        assert_eq!(
            fates,
            vec![
                (
                    3,
                    Fate::Answered(json!({"heartbeat": {"error_code": "NONE"}}))
                ),
                (2, Fate::Abandoned)
            ]
        );
        assert_eq!(parse_answer("{}").unwrap(), vec![]);
        for (line, says) in [
            ("not json", "not JSON"),
            ("[1]", "not a JSON object"),
            (
                r#"{"error": "no such group"}"#,
                "reports an error: no such group",
            ),
            (
                r#"{"responses": [{"id": "x", "response": {}}]}"#,
                "integer `id`",
            ),
            (r#"{"responses": {}}"#, "not an array"),
            (r#"{"abandoned": [-1]}"#, "not an integer"),
        ] {
            let e = parse_answer(line).unwrap_err();
            assert!(e.contains(says), "{line}: {e}");
        }
    }

    #[test]
    fn long_lines_are_quoted_cut() {
        let long = "é".repeat(1000);
        let q = quote(&long);
        assert_eq!(q.chars().count(), LINE_QUOTED + 1);
        assert!(q.ends_with('…'));
    }
}
