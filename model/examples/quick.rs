use kgroup_model::check::{run, Options, Search};
use kgroup_model::*;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut cfg = match args.get(1).map(String::as_str) {
        Some(b) if b != "none" => Bug::from_name(b).unwrap().config(),
        _ => Config::small(),
    };
    if let Some(n) = args.get(2) { cfg.consumers = n.parse().unwrap(); }
    let search = if args.get(3).map(String::as_str) == Some("bfs") { Search::Bfs } else { Search::Dfs };
    println!("{}", cfg.describe());
    let max = args.get(4).map(|x| x.parse().unwrap());
    let o = run(GroupModel::new(cfg.clone()).unwrap(), Options { search, max_states: max, ..Options::default() }, |p| eprintln!("{p:?}"));
    println!("{:?} complete={}", o.progress, o.complete);
    for v in &o.verdicts {
        println!("{} {:?} ok={}", v.name, v.expectation, v.ok());
        if !v.ok() || v.expectation == stateright::Expectation::Sometimes {
            if let Some(p) = &v.path { print!("{}", report::render(&cfg, p)); }
        }
    }
}
