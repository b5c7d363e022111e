#!/usr/bin/env bash
# Times kgroup's assignors and kafka-python's on identical groups at shapes A and B, in one run,
# and writes the table into docs/benchmarks.md (between the peers markers).
#
#   benches/peers/run.sh                 # A with 5 runs each, B with 1 run for kafka-python
#   PEER_RUNS_B=3 benches/peers/run.sh   # more kafka-python runs at B (each sticky run takes minutes)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv="$here/.venv"
runs_a=${PEER_RUNS_A:-5}
runs_b=${PEER_RUNS_B:-1}

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q "kafka-python==3.0.12"

cargo build --release -q -p kgroup-conformance --manifest-path "$root/Cargo.toml"
kgroup="$root/target/release/kgroup"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for shape in A B; do
  runs=$runs_a
  [ "$shape" = B ] && runs=$runs_b
  echo "shape $shape: kgroup" >&2
  "$kgroup" bench assign --shape "$shape" --runs 5 --json | sed 's/^{/{"impl":"kgroup",/' >> "$out"
  echo "shape $shape: kafka-python ($runs runs)" >&2
  "$venv/bin/python" "$here/peer_bench.py" --shape "$shape" --runs "$runs" >> "$out"
done
"$venv/bin/python" "$here/report.py" "$out" "$root/docs/benchmarks.md" \
  "benches/peers/run.sh  (PEER_RUNS_A=$runs_a PEER_RUNS_B=$runs_b)"
echo "wrote the peers table into docs/benchmarks.md" >&2
