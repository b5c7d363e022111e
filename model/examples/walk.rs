use kgroup_model::*;
use stateright::Model;
fn main() {
    let cfg = Config::small();
    let m = GroupModel::new(cfg.clone()).unwrap();
    let mut s = m.initial();
    let mut rng: u64 = std::env::args().nth(1).map(|x| x.parse().unwrap()).unwrap_or(1);
    for i in 0..400 {
        let mut a = vec![];
        m.actions(&s, &mut a);
        if a.is_empty() { println!("terminal at {i}"); break; }
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let act = a[(rng >> 33) as usize % a.len()].clone();
        let n = m.next_state(&s, act.clone()).unwrap();
        let (who, what) = report::describe_step(&s, &n, &act);
        s = n;
        println!("{i:>3} {who}: {what}\n     {}", report::snapshot(&cfg, &s));
    }
}
