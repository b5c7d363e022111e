//! `kgroup check`: runs the model checker on one configuration or on the CI tier, shows
//! progress, prints a summary line per configuration and a readable counterexample per failed
//! property (also written as a JSON trace).

use indicatif::{ProgressBar, ProgressStyle};
use kgroup_model::check::{run, Options, Outcome, Progress};
use kgroup_model::{report, Config, GroupModel};
use stateright::Expectation;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What one configuration came to.
#[derive(Debug)]
pub struct Checked {
    pub name: String,
    pub config: Config,
    pub outcome: Outcome,
}

fn rate(p: &Progress) -> f64 {
    p.states as f64 / p.elapsed.as_secs_f64().max(1e-9)
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Checks one configuration with a progress line on stderr (hidden when stderr is not a
/// terminal, unless `progress` forces it).
pub fn check_one(name: &str, cfg: Config, opts: Options, quiet: bool) -> Checked {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} {prefix}: {msg}")
                .expect("a valid progress template"),
        );
        b.set_prefix(name.to_string());
        b.enable_steady_tick(Duration::from_millis(250));
        b
    };
    let model = GroupModel::new(cfg.clone()).expect("configurations are validated before checking");
    let outcome = run(model, opts, |p| {
        bar.set_message(format!(
            "{} states, {} unique, {:.0} states/s, depth {}",
            p.states,
            p.unique,
            rate(&p),
            p.depth
        ))
    });
    bar.finish_and_clear();
    Checked {
        name: name.to_string(),
        config: cfg,
        outcome,
    }
}

/// The summary line of one configuration.
pub fn summary(c: &Checked) -> String {
    let p = &c.outcome.progress;
    let verdict = if c.outcome.ok() {
        if c.outcome.complete {
            "all properties hold".to_string()
        } else {
            "no property failed (search stopped early: not a proof)".to_string()
        }
    } else {
        let names: Vec<&str> = c.outcome.failures().map(|v| v.name).collect();
        format!("FAILED: {}", names.join("; "))
    };
    format!(
        "{}: {} — {} unique states ({} generated), depth {}, {:.1} s, {:.0} states/s: {}",
        c.name,
        c.config.describe(),
        p.unique,
        p.states,
        p.depth,
        p.elapsed.as_secs_f64(),
        rate(p),
        verdict
    )
}

/// Prints every failure with its counterexample and writes each as a JSON trace into `dir`.
pub fn report_failures(c: &Checked, dir: &Path, out: &mut impl Write) -> std::io::Result<()> {
    for v in c.outcome.failures() {
        match (&v.expectation, &v.path) {
            (Expectation::Sometimes, _) => {
                writeln!(out, "\n{}: never reached: \"{}\"", c.name, v.name)?;
            }
            (_, Some(path)) => {
                writeln!(out, "\n{}: counterexample to \"{}\":", c.name, v.name)?;
                write!(out, "{}", report::render(&c.config, path))?;
                let trace = report::to_trace(&c.config, v.name, path);
                let file: PathBuf = dir.join(format!("{}-{}.json", slug(&c.name), slug(v.name)));
                let written = std::fs::create_dir_all(dir).and_then(|()| {
                    let json = serde_json::to_string_pretty(&trace).expect("traces serialize");
                    std::fs::write(&file, json + "\n")
                });
                match written {
                    Ok(()) => writeln!(out, "     (as a JSON trace: {})", file.display())?,
                    Err(e) => writeln!(out, "     (could not write {}: {e})", file.display())?,
                }
            }
            (_, None) => {}
        }
    }
    Ok(())
}
