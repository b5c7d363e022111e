//! `kgroup sim`: one seed (`--seed S`) or a swarm of seeds (`--swarm --seeds K`), the summary
//! and violation reports, and the one-line reproduction of a run.

use super::{
    run, FaultKind, Invariant, Membership, Overrides, Report, Sabotage, SimOptions, DEFAULT_EVENTS,
    DEFAULT_STEPS,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kgroup_protocol::RebalanceProtocol;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolArg {
    Eager,
    Cooperative,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipArg {
    Dynamic,
    Static,
    Mixed,
}

/// The options of `kgroup sim`.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Run this one seed.
    #[arg(long, conflicts_with_all = ["swarm", "seeds", "first_seed"])]
    pub seed: Option<u64>,
    /// Steps with faults before the quiet tail (per seed).
    #[arg(long, default_value_t = DEFAULT_STEPS, value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    pub steps: u64,
    /// Run many seeds (with --seeds), with a progress bar on a terminal.
    #[arg(long, requires = "seeds")]
    pub swarm: bool,
    /// How many seeds the swarm runs.
    #[arg(long, requires = "swarm", value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: Option<u64>,
    /// The swarm's first seed (then consecutive ones).
    #[arg(long, requires = "swarm")]
    pub first_seed: Option<u64>,
    /// Swarm threads (default: one per core).
    #[arg(long, requires = "swarm", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Write the coordinator's inputs and answers of this run as a conformance trace (JSON).
    #[arg(long, value_name = "PATH", conflicts_with = "swarm")]
    pub save_trace: Option<PathBuf>,
    /// How many of the last events a violation report shows.
    #[arg(long, default_value_t = DEFAULT_EVENTS)]
    pub events: usize,
    /// Show the last events (as many as --events) after a run that holds too.
    #[arg(long, conflicts_with = "swarm")]
    pub show_events: bool,
    /// Pin the rebalance protocol instead of letting the seed choose.
    #[arg(long, value_enum)]
    pub protocol: Option<ProtocolArg>,
    /// Pin the number of consumers (1-5).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub consumers: Option<u8>,
    /// Pin static or dynamic membership.
    #[arg(long, value_enum)]
    pub membership: Option<MembershipArg>,
    /// Pin the fault kinds that are on: a comma-separated list of loss, delay, crash, freeze,
    /// stall, leave, failover; or `none`, or `all`.
    #[arg(long, value_name = "LIST")]
    pub faults: Option<String>,
    /// Drop the timing assumption: consumers go on processing until they learn they were
    /// removed (what Kafka's consumer does), to see what breaks.
    #[arg(long)]
    pub no_timing_assumption: bool,
    /// Switch on deliberately wrong behaviour that a checker must catch (the simulator's
    /// self-test): double-ownership, handover-without-revoke, process-after-loss,
    /// commit-beyond-processed, rewind-commit, stuck-rebalance.
    #[arg(long, value_name = "NAME")]
    pub sabotage: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Parses `--faults`.
pub fn parse_faults(text: &str) -> Result<BTreeSet<FaultKind>, String> {
    match text {
        "none" => return Ok(BTreeSet::new()),
        "all" => return Ok(FaultKind::ALL.into_iter().collect()),
        _ => {}
    }
    text.split(',')
        .map(|name| {
            FaultKind::from_name(name.trim()).ok_or_else(|| {
                let known: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown fault kind '{name}' for --faults (known: {}, or none, or all)",
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// The options a set of arguments describes, or why they are bad.
pub fn options(args: &SimArgs) -> Result<SimOptions, String> {
    if !args.swarm && args.seed.is_none() {
        return Err("give --seed S for one run, or --swarm --seeds K for many".into());
    }
    let faults = args.faults.as_deref().map(parse_faults).transpose()?;
    let sabotage = match &args.sabotage {
        Some(name) => Some(Sabotage::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = Sabotage::ALL.iter().map(|s| s.name()).collect();
            format!(
                "unknown sabotage '{name}' for --sabotage (known: {})",
                known.join(", ")
            )
        })?),
        None => None,
    };
    Ok(SimOptions {
        steps: args.steps,
        overrides: Overrides {
            consumers: args.consumers.map(usize::from),
            protocol: args.protocol.map(|p| match p {
                ProtocolArg::Eager => RebalanceProtocol::Eager,
                ProtocolArg::Cooperative => RebalanceProtocol::Cooperative,
            }),
            membership: args.membership.map(|m| match m {
                MembershipArg::Dynamic => Membership::Dynamic,
                MembershipArg::Static => Membership::Static,
                MembershipArg::Mixed => Membership::Mixed,
            }),
            faults,
        },
        timing_assumption: !args.no_timing_assumption,
        sabotage,
        tweak_coordinator: None,
        record_trace: args.save_trace.is_some(),
        keep_events: args.events,
    })
}

/// The command line that runs `seed` again with `opts`.
pub fn reproduction(seed: u64, opts: &SimOptions) -> String {
    let mut line = format!("kgroup sim --seed {seed} --steps {}", opts.steps);
    let o = &opts.overrides;
    if let Some(p) = o.protocol {
        let name = match p {
            RebalanceProtocol::Eager => "eager",
            RebalanceProtocol::Cooperative => "cooperative",
        };
        let _ = write!(line, " --protocol {name}");
    }
    if let Some(n) = o.consumers {
        let _ = write!(line, " --consumers {n}");
    }
    if let Some(m) = o.membership {
        let _ = write!(line, " --membership {}", m.name());
    }
    if let Some(f) = &o.faults {
        let names: Vec<&str> = f.iter().map(|k| k.name()).collect();
        let list = if names.is_empty() {
            "none".to_string()
        } else {
            names.join(",")
        };
        let _ = write!(line, " --faults {list}");
    }
    if !opts.timing_assumption {
        line.push_str(" --no-timing-assumption");
    }
    if let Some(s) = opts.sabotage {
        let _ = write!(line, " --sabotage {}", s.name());
    }
    line
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03} s", thousands(ms / 1000), ms % 1000)
}

/// The report of one run, as `kgroup sim --seed` prints it (deterministic: no wall-clock time).
pub fn render(report: &Report, opts: &SimOptions) -> String {
    let s = &report.stats;
    let mut out = String::new();
    let _ = writeln!(out, "seed {}: {}", report.seed, report.scenario);
    let _ = writeln!(
        out,
        "steps: {} with faults, {} in the quiet tail; simulated time {} (faults stopped at {})",
        thousands(s.fault_steps),
        thousands(s.tail_steps),
        seconds(s.sim_ms),
        seconds(s.faults_end_ms)
    );
    let faults: Vec<String> = s
        .faults
        .iter()
        .map(|(k, n)| format!("{k} {}", thousands(*n)))
        .collect();
    let _ = writeln!(
        out,
        "faults injected: {}",
        if faults.is_empty() {
            "none".to_string()
        } else {
            faults.join(", ")
        }
    );
    if s.fenced_restarts > 0 {
        let _ = writeln!(
            out,
            "static processes fenced after a failover and restarted: {}",
            s.fenced_restarts
        );
    }
    let _ = writeln!(
        out,
        "rebalances {} (generations up to {}), requests {}, commitSync {} ({} succeeded), records processed {}",
        thousands(s.rebalances),
        s.max_generation,
        thousands(s.requests),
        thousands(s.commits),
        thousands(s.commits_ok),
        thousands(s.records_processed)
    );
    match &report.violation {
        None => {
            let settled = s.settled_after_ms.map_or("-".into(), seconds);
            let _ = writeln!(
                out,
                "settled {settled} after the faults stopped (bound {}) and stayed settled",
                seconds(s.liveness_bound_ms)
            );
            let _ = writeln!(
                out,
                "invariants: all hold ({} state checks, one after every step; ownership checked on {} SyncGroup answers; replay on {} failovers)",
                thousands(s.checks),
                thousands(s.sync_answers),
                s.faults.get(&FaultKind::Failover).copied().unwrap_or(0)
            );
        }
        Some(v) => {
            let _ = writeln!(out, "VIOLATION at {v}");
            if !report.events.is_empty() {
                let _ = writeln!(out, "the last {} events:", report.events.len());
                for e in &report.events {
                    let _ = writeln!(out, "  {e}");
                }
            }
            let _ = writeln!(out, "reproduce: {}", reproduction(report.seed, opts));
        }
    }
    out
}

/// What a seed of a swarm came to.
#[derive(Debug, Clone)]
pub struct SeedResult {
    pub seed: u64,
    pub steps: u64,
    /// The violation, or the panic, if the seed failed.
    pub failure: Option<String>,
    pub invariant: Option<Invariant>,
}

/// Runs one seed, turning a panic into a failure.
pub fn run_caught(seed: u64, opts: &SimOptions) -> Result<Report, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(seed, opts))).map_err(|e| {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into());
        format!("panicked: {msg}")
    })
}

/// Runs seeds `first..first + count` on `threads` threads; `progress` is told of each one.
pub fn swarm(
    first: u64,
    count: u64,
    opts: &SimOptions,
    threads: usize,
    progress: &(dyn Fn(&SeedResult) + Sync),
) -> Vec<SeedResult> {
    let next = AtomicU64::new(0);
    let results = Mutex::new(Vec::with_capacity(count as usize));
    let quick = SimOptions {
        keep_events: 0,
        record_trace: false,
        ..opts.clone()
    };
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= count {
                    return;
                }
                let seed = first.wrapping_add(k);
                let result = match run_caught(seed, &quick) {
                    Ok(r) => SeedResult {
                        seed,
                        steps: r.stats.steps(),
                        invariant: r.violation.as_ref().map(|v| v.invariant),
                        failure: r.violation.map(|v| v.to_string()),
                    },
                    Err(panic) => SeedResult {
                        seed,
                        steps: 0,
                        failure: Some(panic),
                        invariant: None,
                    },
                };
                progress(&result);
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(result);
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|r| r.seed);
    results
}

/// `kgroup sim`.
pub fn main(args: &SimArgs) -> ExitCode {
    let opts = match options(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kgroup sim: {e}");
            return ExitCode::from(2);
        }
    };
    match args.seed {
        Some(seed) => run_one(seed, &opts, args),
        None => run_swarm(&opts, args),
    }
}

fn run_one(seed: u64, opts: &SimOptions, args: &SimArgs) -> ExitCode {
    let report = match run_caught(seed, opts) {
        Ok(r) => r,
        Err(panic) => {
            println!("seed {seed}: {panic}");
            println!("reproduce: {}", reproduction(seed, opts));
            return ExitCode::from(1);
        }
    };
    print!("{}", render(&report, opts));
    if args.show_events && report.ok() {
        println!("the last {} events:", report.events.len());
        for e in &report.events {
            println!("  {e}");
        }
    }
    if let (Some(path), Some(trace)) = (&args.save_trace, &report.trace) {
        let json = serde_json::to_string_pretty(trace).expect("traces serialize") + "\n";
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("kgroup sim: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
        println!(
            "trace: {} steps written to {} (expectations recorded from kgroup-core: review them)",
            trace.steps.len(),
            path.display()
        );
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run_swarm(opts: &SimOptions, args: &SimArgs) -> ExitCode {
    let count = args.seeds.expect("clap requires --seeds with --swarm");
    let first = args.first_seed.unwrap_or(0);
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    let bar = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::with_draw_target(Some(count), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {per_sec}, eta {eta} {msg}")
                .expect("a valid progress template"),
        );
        b
    };
    let failed = AtomicU64::new(0);
    let started = Instant::now();
    let results = swarm(first, count, opts, threads, &|r| {
        if r.failure.is_some() {
            let n = failed.fetch_add(1, Ordering::Relaxed) + 1;
            bar.set_message(format!("({n} failed)"));
        }
        bar.inc(1);
    });
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failures = 0u64;
    let mut steps = 0u64;
    for r in &results {
        steps += r.steps;
        if let Some(f) = &r.failure {
            failures += 1;
            let _ = writeln!(out, "FAIL seed {}: {f}", r.seed);
            let _ = writeln!(out, "  reproduce: {}", reproduction(r.seed, opts));
        }
    }
    let _ = writeln!(
        out,
        "{} seeds ({}..={}), {} failed: {} steps in {:.1} s on {} thread(s): {:.1} seeds/s, {} steps/s",
        thousands(count),
        first,
        first.wrapping_add(count - 1),
        failures,
        thousands(steps),
        secs,
        threads,
        count as f64 / secs,
        thousands((steps as f64 / secs) as u64)
    );
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
