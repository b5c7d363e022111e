//! `kgroup`: the command line of kgroup.
//!
//! - `kgroup assign`: one JSON assignment request on stdin, one JSON response on stdout.
//! - `kgroup bench assign`: times the assignors on generated groups.
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
        Command::Bench {
            what: BenchCommand::Assign(args),
        } => run_bench_assign(&args),
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
