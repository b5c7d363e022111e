"""Turns the JSON lines of kgroup and kafka-python timings into a Markdown table and writes it
into docs/benchmarks.md between the peers markers."""
import json
import platform
import sys

BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"


def main(results_path, doc_path, command):
    rows = [json.loads(line) for line in open(results_path) if line.strip()]
    by_key = {}
    for r in rows:
        by_key.setdefault((r["shape"], r["strategy"], r["round"]), {})[r["impl"]] = r
    lines = [
        f"Command: `{command}` (kafka-python 3.0.12, {platform.python_implementation()} "
        f"{platform.python_version()}; `kgroup` release build; medians in ms).",
        "",
        "| shape | strategy | round | kgroup median | kafka-python median | kafka-python runs | ratio |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for (shape, strategy, round_), impls in sorted(by_key.items()):
        ours, theirs = impls.get("kgroup"), impls.get("kafka-python")
        if not ours or not theirs:
            continue
        ratio = theirs["median_ms"] / ours["median_ms"] if ours["median_ms"] > 0 else float("inf")
        lines.append(
            f"| {shape} | {strategy} | {round_} | {ours['median_ms']:.3f} | {theirs['median_ms']:.3f} "
            f"| {theirs['runs']} | {ratio:,.0f}× |"
        )
    table = "\n".join(lines)
    doc = open(doc_path).read()
    if BEGIN not in doc or END not in doc:
        sys.exit(f"{doc_path} has no {BEGIN} ... {END} section")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    open(doc_path, "w").write(f"{head}{BEGIN}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
