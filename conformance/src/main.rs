//! `kgroup`: the command line of kgroup.
//!
//! - `kgroup assign`: one JSON assignment request on stdin, one JSON response on stdout.
//! - `kgroup bench assign`: times the assignors on generated groups.
//! - `kgroup check`: model-checks the group protocol (docs/model.md).
//! - `kgroup conform`: replays conformance traces against a target (docs/trace-format.md).
//! - `kgroup sim`: the seeded simulator over kgroup-core (docs/simulator.md).
//!
//! Exit codes: 0 on success, 2 on bad input or bad options (clap's own convention for usage
//! errors), 1 on any other failure.

use clap::{Parser, Subcommand, ValueEnum};
use kgroup_assign::{assign, Strategy};
use kgroup_conformance::assign_json::{self, RunError};
use kgroup_conformance::bench::{self, Round, Shape};
use std::io::{Read, Write};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "kgroup",
    version,
    about = "A formally checked reference for Kafka's consumer-group protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run an assignor: one JSON request on stdin, one JSON response on stdout.
    Assign,
    /// Model-check the group protocol (no options: the CI tier of configurations).
    Check(Box<CheckArgs>),
    /// Replay conformance traces against a target (docs/trace-format.md).
    Conform(ConformArgs),
    /// Simulate kgroup-core's coordinator and consumers under faults, one seed or a swarm
    /// (docs/simulator.md).
    Sim(Box<kgroup_conformance::sim::cli::SimArgs>),
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Time the assignors on generated groups (every member subscribes to every topic).
    Assign(BenchAssignArgs),
}

#[derive(clap::Args, Debug)]
struct BenchAssignArgs {
    /// A standard shape: A (1×1,000 partitions, 100 members), B (50×800, 800), C (500×2,000, 2,000),
    /// K (1,000×100, 10,000). Default: all four, unless custom sizes are given.
    #[arg(long, value_parser = ["A", "B", "C", "K"], conflicts_with_all = ["topics", "partitions", "members"])]
    shape: Option<String>,
    /// Custom shape: number of topics.
    #[arg(long, requires_all = ["partitions", "members"], value_parser = clap::value_parser!(u32).range(1..))]
    topics: Option<u32>,
    /// Custom shape: partitions per topic.
    #[arg(long, requires_all = ["topics", "members"], value_parser = clap::value_parser!(u32).range(1..))]
    partitions: Option<u32>,
    /// Custom shape: number of members.
    #[arg(long, requires_all = ["topics", "partitions"], value_parser = clap::value_parser!(u32).range(1..))]
    members: Option<u32>,
    /// The strategy to time (default: all four).
    #[arg(long, value_parser = ["range", "roundrobin", "sticky", "cooperative-sticky"])]
    strategy: Option<String>,
    /// Which round to time.
    #[arg(long, value_enum, default_value_t = RoundArg::Both)]
    round: RoundArg,
    /// Timed runs per measurement (after warm-up).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// Consumers in the group (1-6).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=6))]
    consumers: Option<u8>,
    /// Partitions of the subscribed topic (1-4).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4))]
    partitions: Option<u8>,
    /// Records per partition (0-7).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=7))]
    records: Option<u8>,
    /// The rebalance protocol of every consumer.
    #[arg(long, value_enum)]
    protocol: Option<ProtocolArg>,
    /// Give every consumer a group.instance.id (KIP-345 static membership).
    #[arg(long = "static")]
    static_members: bool,
    /// Who computes the leader's assignment: the model's own rule, or one of kgroup-assign's
    /// production assignors checked inside the protocol (cooperative-sticky implies
    /// --protocol cooperative; the others eager).
    #[arg(long, value_parser = ["model", "range", "roundrobin", "sticky", "cooperative-sticky"])]
    assignor: Option<String>,
    /// Exactly-once consume-transform-produce (transactions, TxnOffsetCommit, read_committed).
    #[arg(long)]
    eos: bool,
    /// Consumer crashes (each may restart).
    #[arg(long)]
    crashes: Option<u8>,
    /// Dropped connections (in-flight messages lost).
    #[arg(long)]
    losses: Option<u8>,
    /// Session expiries of a live but slow consumer (zombies).
    #[arg(long)]
    expiries: Option<u8>,
    /// Coordinator failovers (state rebuilt from the log).
    #[arg(long)]
    failovers: Option<u8>,
    /// Graceful shutdowns with LeaveGroup.
    #[arg(long)]
    leaves: Option<u8>,
    /// Consumers commit with commitAsync: several OffsetCommits in flight on one connection.
    #[arg(long)]
    async_commits: bool,
    /// Requests taken out of order on a connection (drops TCP's FIFO; implies --async-commits).
    #[arg(long)]
    reorders: Option<u8>,
    /// Second processes of a static instance started while the first runs (needs --static).
    #[arg(long)]
    duplicates: Option<u8>,
    /// Search strategy: bfs (shortest counterexamples), dfs (symmetry reduction), sim (random walks).
    #[arg(long, value_enum, default_value_t = CheckerArg::Dfs)]
    checker: CheckerArg,
    /// Seed of the sim checker.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Checker threads (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Stop after this many generated states (required with --checker sim).
    #[arg(long)]
    max_states: Option<usize>,
    /// Switch on a seeded bug, with the configuration it needs (see --list-bugs).
    #[arg(long)]
    bug: Option<String>,
    /// List the seeded bugs: NAME  KAFKA-NNNN|-  the property it breaks.
    #[arg(long)]
    list_bugs: bool,
    /// Serve stateright's Explorer web UI on this address instead of checking.
    #[arg(long, value_name = "ADDR")]
    explore: Option<String>,
    /// Where counterexamples are written as JSON traces.
    #[arg(long, value_name = "DIR")]
    trace_dir: Option<std::path::PathBuf>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

impl CheckArgs {
    fn sets_model_options(&self) -> bool {
        self.consumers.is_some()
            || self.partitions.is_some()
            || self.records.is_some()
            || self.protocol.is_some()
            || self.assignor.is_some()
            || self.static_members
            || self.eos
            || self.crashes.is_some()
            || self.losses.is_some()
            || self.expiries.is_some()
            || self.failovers.is_some()
            || self.leaves.is_some()
            || self.async_commits
            || self.reorders.is_some()
            || self.duplicates.is_some()
            || self.bug.is_some()
    }

    /// The configuration the options describe, on top of `base`.
    fn apply(&self, mut c: kgroup_model::Config) -> kgroup_model::Config {
        if let Some(v) = self.consumers {
            c.consumers = v;
        }
        if let Some(v) = self.partitions {
            c.partitions = v;
        }
        if let Some(v) = self.records {
            c.records = v;
        }
        if let Some(p) = self.protocol {
            c.protocol = match p {
                ProtocolArg::Eager => kgroup_model::Protocol::Eager,
                ProtocolArg::Cooperative => kgroup_model::Protocol::Cooperative,
            };
        }
        if let Some(name) = &self.assignor {
            c.assignor = kgroup_model::Assignor::from_name(name).expect("clap checked the name");
            if self.protocol.is_none() {
                c.protocol = match c.assignor {
                    kgroup_model::Assignor::Kafka(kgroup_assign::Strategy::CooperativeSticky) => {
                        kgroup_model::Protocol::Cooperative
                    }
                    kgroup_model::Assignor::Kafka(_) => kgroup_model::Protocol::Eager,
                    kgroup_model::Assignor::Model => c.protocol,
                };
            }
        }
        c.static_members |= self.static_members;
        c.eos |= self.eos;
        c.async_commits |= self.async_commits || self.reorders.is_some_and(|r| r > 0);
        let f = &mut c.faults;
        for (arg, slot) in [
            (self.crashes, &mut f.crashes),
            (self.losses, &mut f.losses),
            (self.expiries, &mut f.expiries),
            (self.failovers, &mut f.failovers),
            (self.leaves, &mut f.leaves),
            (self.reorders, &mut f.reorders),
            (self.duplicates, &mut f.duplicates),
        ] {
            if let Some(v) = arg {
                *slot = v;
            }
        }
        c
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ProtocolArg {
    Eager,
    Cooperative,
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct ConformArgs {
    #[command(subcommand)]
    action: Option<ConformCommand>,
    /// What to replay against: `inproc` (kgroup-core in this process) or `cmd:PROGRAM ARGS` (an
    /// adapter process per trace, speaking JSON lines: docs/adapter.md; split on whitespace, no
    /// shell). A broker (`kafka://HOST:PORT`) is not available in this build.
    #[arg(long, required = true)]
    target: Option<String>,
    /// A directory of trace files (`*.json`); default: the committed corpus.
    #[arg(long, value_name = "DIR")]
    traces: Option<std::path::PathBuf>,
    /// Only the traces whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// One JSON object per trace instead of text (the final line stays).
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum ConformCommand {
    /// Write the conformance corpus from the model (docs/trace-format.md, "Generation").
    Generate(GenerateArgs),
}

#[derive(clap::Args, Debug)]
struct GenerateArgs {
    /// Where to write the traces and coverage.md; default: the committed corpus directory.
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
    /// The walks' seed (the committed corpus uses the default).
    #[arg(long, default_value_t = kgroup_conformance::generate::DEFAULT_SEED)]
    seed: u64,
    /// Compare with the directory instead of writing it: exit 1 when anything differs.
    #[arg(long)]
    check: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CheckerArg {
    Bfs,
    Dfs,
    Sim,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum RoundArg {
    Fresh,
    Rebalance,
    Both,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command {
        Command::Assign => run_assign(),
        Command::Check(args) => run_check(&args),
        Command::Conform(args) => match &args.action {
            Some(ConformCommand::Generate(g)) => run_generate(g),
            None => run_conform(&args),
        },
        Command::Sim(args) => kgroup_conformance::sim::cli::main(&args),
        Command::Bench {
            what: BenchCommand::Assign(args),
        } => run_bench_assign(&args),
    }
}

fn run_conform(args: &ConformArgs) -> ExitCode {
    use kgroup_conformance::adapter::{replay_adapter, AdapterCommand, Verdict};
    use kgroup_conformance::replay::replay_inproc;
    use kgroup_protocol::trace::{Trace, TRACE_VERSION};
    let adapter = match args.target.as_deref().unwrap_or_default() {
        "inproc" => None,
        t if t.starts_with("cmd:") => match AdapterCommand::parse(&t["cmd:".len()..]) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("kgroup conform: --target {t}: {e}");
                return ExitCode::from(2);
            }
        },
        t if t.starts_with("kafka://") => {
            eprintln!("kgroup conform: the broker target (kafka://) is not available in this build; use --target inproc or cmd:PROGRAM ARGS");
            return ExitCode::from(2);
        }
        t => {
            eprintln!("kgroup conform: unknown --target '{t}' (inproc, cmd:PROGRAM ARGS, kafka://HOST:PORT)");
            return ExitCode::from(2);
        }
    };
    let dir = args.traces.clone().unwrap_or_else(corpus_dir);
    let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) => {
            eprintln!(
                "kgroup conform: cannot read the trace directory {}: {e}",
                dir.display()
            );
            return ExitCode::from(2);
        }
    };
    files.sort();
    let mut traces = vec![];
    for f in &files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("kgroup conform: {}: {e}", f.display());
                return ExitCode::from(2);
            }
        };
        let de = &mut serde_json::Deserializer::from_str(&text);
        let trace: Trace = match serde_path_to_error::deserialize(de) {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "kgroup conform: {}: at {}: {}",
                    f.display(),
                    e.path(),
                    e.inner()
                );
                return ExitCode::from(2);
            }
        };
        if trace.version != TRACE_VERSION {
            eprintln!(
                "kgroup conform: {}: trace format version {} (this build reads {TRACE_VERSION})",
                f.display(),
                trace.version
            );
            return ExitCode::from(2);
        }
        if args
            .filter
            .as_ref()
            .is_none_or(|x| trace.name.contains(x.as_str()))
        {
            traces.push(trace);
        }
    }
    if traces.is_empty() {
        eprintln!("kgroup conform: no traces to replay in {}", dir.display());
        return ExitCode::from(2);
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for t in &traces {
        let verdict = match &adapter {
            None => replay_inproc(t).map_or_else(Verdict::Failed, |()| Verdict::Passed),
            Some(cmd) => match replay_adapter(t, cmd) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("kgroup conform: {e}");
                    return ExitCode::from(2);
                }
            },
        };
        if args.json {
            let line = match &verdict {
                Verdict::Passed => serde_json::json!({"trace": t.name, "result": "pass"}),
                Verdict::Failed(f) => serde_json::json!({
                    "trace": t.name, "result": "fail", "step": f.step, "what": f.what,
                    "expected": f.expected, "actual": f.actual,
                }),
                Verdict::Skipped(reason) => {
                    serde_json::json!({"trace": t.name, "result": "skip", "reason": reason})
                }
            };
            println!("{line}");
        } else {
            match &verdict {
                Verdict::Passed => {}
                Verdict::Failed(f) => println!("FAIL {}: {f}", t.name),
                Verdict::Skipped(reason) => println!("SKIP {}: {reason}", t.name),
            }
        }
        match verdict {
            Verdict::Passed => passed += 1,
            Verdict::Failed(_) => failed += 1,
            Verdict::Skipped(_) => skipped += 1,
        }
    }
    if skipped > 0 {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The committed corpus: conformance/traces in the source tree this binary was built from.
fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("traces")
}

fn run_generate(args: &GenerateArgs) -> ExitCode {
    use kgroup_conformance::generate::{corpus_files, coverage_report, generate};
    let dir = args.out.clone().unwrap_or_else(corpus_dir);
    let generated = generate(args.seed);
    let report = coverage_report(&generated);
    let files = corpus_files(&generated, &report);
    if args.check {
        let stale = kgroup_conformance::generate::differences(&dir, &files);
        for d in &stale {
            println!("{d}");
        }
        println!(
            "{} files generated, {} differ from {}",
            files.len(),
            stale.len(),
            dir.display()
        );
        return if stale.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    if let Err(e) = kgroup_conformance::generate::write_corpus(&dir, &files) {
        eprintln!("kgroup conform generate: {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    print!("{report}");
    println!(
        "{} traces written to {}",
        generated.traces.len(),
        dir.display()
    );
    if generated.untranslatable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run_check(args: &CheckArgs) -> ExitCode {
    use kgroup_model::check::{Options, Search};
    use kgroup_model::{Bug, Config, GroupModel};
    if args.list_bugs {
        for b in Bug::ALL {
            println!(
                "{:<38}{:<13}{}",
                b.name(),
                b.kafka_issue().unwrap_or("-"),
                b.breaks()
            );
        }
        return ExitCode::SUCCESS;
    }
    let bug = match &args.bug {
        Some(name) => match Bug::from_name(name) {
            Some(b) => Some(b),
            None => {
                let names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
                eprintln!(
                    "kgroup check: unknown bug '{name}' for --bug (known: {})",
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let configs: Vec<(String, Config)> = if args.sets_model_options() {
        let base = bug.map_or_else(Config::small, Bug::config);
        let cfg = args.apply(base);
        let name = bug.map_or("custom".to_string(), |b| format!("bug {}", b.name()));
        vec![(name, cfg)]
    } else {
        kgroup_model::config::ci_tier()
            .into_iter()
            .map(|(n, c)| (n.to_string(), c))
            .collect()
    };
    for (name, cfg) in &configs {
        if let Err(e) = cfg.validate() {
            eprintln!("kgroup check: {name}: {e}");
            return ExitCode::from(2);
        }
    }
    if let Some(addr) = &args.explore {
        let (_, cfg) = &configs[0];
        let model = GroupModel::new(cfg.clone()).expect("validated");
        eprintln!(
            "kgroup check: serving stateright's Explorer for {} on http://{addr}",
            cfg.describe()
        );
        use stateright::Model;
        let _checker = model.checker().serve(addr.as_str());
        loop {
            std::thread::park();
        }
    }
    let search = match args.checker {
        CheckerArg::Bfs => Search::Bfs,
        CheckerArg::Dfs => Search::Dfs,
        CheckerArg::Sim => Search::Sim { seed: args.seed },
    };
    if search == (Search::Sim { seed: args.seed }) && args.max_states.is_none() {
        eprintln!("kgroup check: --checker sim needs --max-states (random walks do not end by themselves)");
        return ExitCode::from(2);
    }
    let mut opts = Options {
        search,
        max_states: args.max_states,
        ..Options::default()
    };
    if let Some(t) = args.threads {
        opts.threads = t as usize;
    }
    let dir = args
        .trace_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("kgroup-check"));
    let stdout = std::io::stdout();
    let mut failed = 0;
    let (mut unique, mut states, mut secs) = (0usize, 0usize, 0f64);
    for (name, cfg) in configs.iter() {
        let checked = kgroup_conformance::check::check_one(name, cfg.clone(), opts, args.quiet);
        let mut out = stdout.lock();
        let _ = writeln!(out, "{}", kgroup_conformance::check::summary(&checked));
        if !checked.outcome.ok() {
            failed += 1;
            let _ = kgroup_conformance::check::report_failures(&checked, &dir, &mut out);
        }
        let p = checked.outcome.progress;
        unique += p.unique;
        states += p.states;
        secs += p.elapsed.as_secs_f64();
    }
    println!(
        "{} configuration(s), {} failed: {} unique states ({} generated) in {:.1} s, {:.0} states/s",
        configs.len(),
        failed,
        unique,
        states,
        secs,
        states as f64 / secs.max(1e-9)
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run_assign() -> ExitCode {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut input) {
        eprintln!("kgroup assign: cannot read stdin: {e}");
        return ExitCode::from(1);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let result =
        assign_json::run(&input, &mut out).and_then(|()| out.flush().map_err(RunError::Io));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(RunError::Request(e)) => {
            eprintln!("kgroup assign: {e}");
            ExitCode::from(2)
        }
        Err(RunError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(RunError::Io(e)) => {
            eprintln!("kgroup assign: cannot write the response: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_bench_assign(args: &BenchAssignArgs) -> ExitCode {
    let shapes: Vec<Shape> = match (&args.shape, args.topics, args.partitions, args.members) {
        (Some(name), ..) => vec![Shape::standard(name).expect("clap checked the shape")],
        (None, Some(topics), Some(partitions), Some(members)) => {
            vec![Shape {
                name: "custom",
                topics,
                partitions,
                members,
            }]
        }
        _ => Shape::STANDARD.to_vec(),
    };
    let strategies: Vec<Strategy> = match &args.strategy {
        Some(name) => vec![Strategy::from_name(name).expect("clap checked the strategy")],
        None => Strategy::ALL.to_vec(),
    };
    let rounds: &[Round] = match args.round {
        RoundArg::Fresh => &[Round::Fresh],
        RoundArg::Rebalance => &[Round::Rebalance],
        RoundArg::Both => &[Round::Fresh, Round::Rebalance],
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if !args.json {
        let _ = writeln!(out, "{}", bench::table_header());
    }
    for shape in &shapes {
        let fresh = shape.fresh();
        for &strategy in &strategies {
            let mut results = Vec::new();
            let first = if rounds.contains(&Round::Fresh) {
                let (m, first) =
                    bench::time(strategy, shape, Round::Fresh, &fresh, args.runs as usize);
                results.push(m);
                first
            } else {
                assign(strategy, &fresh)
            };
            if rounds.contains(&Round::Rebalance) {
                let second = shape.rebalance(&fresh, &first);
                results.push(
                    bench::time(
                        strategy,
                        shape,
                        Round::Rebalance,
                        &second,
                        args.runs as usize,
                    )
                    .0,
                );
            }
            for m in results {
                let line = if args.json {
                    serde_json::to_string(&m).expect("measurements serialize")
                } else {
                    bench::table_row(&m)
                };
                if writeln!(out, "{line}").is_err() {
                    return ExitCode::SUCCESS;
                }
                let _ = out.flush();
            }
            // Keep the fresh assignment alive only as long as needed: at shape C it is large.
            drop(first);
        }
    }
    ExitCode::SUCCESS
}
