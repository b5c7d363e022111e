use kgroup_model::*;
use stateright::Model;
use std::collections::HashSet;
fn main() {
    let cfg = Config::small();
    let m = GroupModel::new(cfg.clone()).unwrap();
    let mut seen = HashSet::new();
    let mut stack: Vec<(state::State, Vec<Action>)> = vec![(m.initial(), vec![])];
    while let Some((s, path)) = stack.pop() {
        if path.len() >= 150 {
            let mut t = m.initial();
            for (i, a) in path.iter().enumerate() {
                let n = m.next_state(&t, a.clone()).unwrap();
                let (who, what) = report::describe_step(&t, &n, a);
                t = n;
                if i > 60 { println!("{i:>3} {who}: {what}\n     {}", report::snapshot(&cfg, &t)); }
            }
            return;
        }
        let mut acts = vec![];
        m.actions(&s, &mut acts);
        for a in acts {
            let n = m.next_state(&s, a.clone()).unwrap();
            if seen.insert(n.clone()) {
                let mut p = path.clone(); p.push(a);
                stack.push((n, p));
            }
        }
    }
    println!("no deep path");
}
