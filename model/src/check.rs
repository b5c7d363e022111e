//! Running the checker on one configuration and collecting what it found.

use crate::state::State;
use crate::{symmetry, Action, GroupModel};
use stateright::{Checker, Expectation, Model};
use std::time::{Duration, Instant};

/// How to search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// Breadth first: shortest counterexamples; no symmetry reduction (stateright supports it
    /// only depth first).
    Bfs,
    /// Depth first with symmetry reduction over consumers.
    Dfs,
    /// Random walks from a seed, with symmetry reduction.
    Sim { seed: u64 },
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub search: Search,
    pub threads: usize,
    /// Stop after this many unique states (simulation runs until then).
    pub max_states: Option<usize>,
    pub timeout: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            search: Search::Dfs,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_states: None,
            timeout: None,
        }
    }
}

/// A snapshot of a running check.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub states: usize,
    pub unique: usize,
    pub depth: usize,
    pub elapsed: Duration,
}

/// What a property came to.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub name: &'static str,
    pub expectation: Expectation,
    /// For `always`/`eventually`: a counterexample; for `sometimes`: an example.
    pub path: Option<Vec<(State, Option<Action>)>>,
}

impl Verdict {
    /// The property holds (safety, liveness) or was reached (sometimes).
    pub fn ok(&self) -> bool {
        match self.expectation {
            Expectation::Sometimes => self.path.is_some(),
            _ => self.path.is_none(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub progress: Progress,
    /// Every state was visited (false when stopped by a state or time limit).
    pub complete: bool,
    pub verdicts: Vec<Verdict>,
}

impl Outcome {
    /// Nothing failed. A goal not reached counts only when the search was complete: a search
    /// stopped early (or a simulation) proves nothing about what it did not visit.
    pub fn ok(&self) -> bool {
        self.failures().next().is_none()
    }
    pub fn failures(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts
            .iter()
            .filter(|v| !v.ok() && (self.complete || v.expectation != Expectation::Sometimes))
    }
}

/// Checks `model`, calling `progress` about once a second.
pub fn run(model: GroupModel, opts: Options, mut progress: impl FnMut(Progress)) -> Outcome {
    let properties = model.properties();
    // stateright reduces by symmetry in its depth-first and simulation checkers only; with
    // duplicates the slots are not interchangeable (symmetry.rs).
    let symmetric = model.cfg.faults.duplicates == 0 && opts.search != Search::Bfs;
    let mut b = model.checker().threads(opts.threads.max(1));
    if symmetric {
        b = b.symmetry_fn(symmetry::representative);
    }
    if let Some(n) = opts.max_states {
        b = b.target_state_count(n);
    }
    if let Some(t) = opts.timeout {
        b = b.timeout(t);
    }
    let start = Instant::now();
    let snapshot = |checker: &dyn Checker<GroupModel>| Progress {
        states: checker.state_count(),
        unique: checker.unique_state_count(),
        depth: checker.max_depth(),
        elapsed: start.elapsed(),
    };
    // An exhaustive search is complete unless a state or time limit stopped it.
    let exhausted = |checker: &dyn Checker<GroupModel>| {
        opts.max_states
            .is_none_or(|n| checker.unique_state_count() < n)
            && opts.timeout.is_none_or(|t| start.elapsed() < t)
    };
    let finish = |checker: &dyn Checker<GroupModel>, complete_hint: bool| {
        let mut verdicts = vec![];
        let discoveries = checker.discoveries();
        for p in &properties {
            verdicts.push(Verdict {
                name: p.name,
                expectation: p.expectation.clone(),
                path: discoveries.get(p.name).map(|path| path.clone().into_vec()),
            });
        }
        Outcome {
            progress: snapshot(checker),
            complete: complete_hint,
            verdicts,
        }
    };
    let wait = |checker: &dyn Checker<GroupModel>, progress: &mut dyn FnMut(Progress)| {
        while !checker.is_done() {
            std::thread::sleep(Duration::from_millis(25));
            progress(snapshot(checker));
        }
    };
    match opts.search {
        Search::Bfs => {
            let c = b.spawn_bfs();
            wait(&c, &mut progress);
            let c = c.join();
            finish(&c, exhausted(&c))
        }
        Search::Dfs => {
            let c = b.spawn_dfs();
            wait(&c, &mut progress);
            let c = c.join();
            finish(&c, exhausted(&c))
        }
        Search::Sim { seed } => {
            let c = b.spawn_simulation(seed, stateright::UniformChooser);
            wait(&c, &mut progress);
            let c = c.join();
            finish(&c, false)
        }
    }
}
