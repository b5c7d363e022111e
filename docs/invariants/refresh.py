#!/usr/bin/env python3
"""Refresh the counterexamples embedded in docs/invariants/*.md and docs/bugs.md.

Each page holds lines `<!-- counterexample:BUG -->`; this runs
`kgroup check --bug BUG --checker bfs --threads 1 --quiet` (a shortest counterexample, the same
one every run) and puts the counterexample to the property the bug breaks in a code block under
that line, replacing what an earlier run put there. docs/bugs.md is written whole from
`kgroup check --list-bugs`. Usage, from the repository root:

    cargo build --release -p kgroup-conformance && docs/invariants/refresh.py
"""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
KGROUP = ROOT / "target" / "release" / "kgroup"
MARK = re.compile(r"<!-- counterexample:([a-z-]+) -->\n(```text\n.*?```\n)?", re.S)


def breaks(bug: str) -> str:
    out = subprocess.run([KGROUP, "check", "--list-bugs"], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        name, _issue, prop = line.split(None, 2)
        if name == bug:
            return prop
    sys.exit(f"unknown bug {bug}")


def counterexample(bug: str) -> str:
    prop = breaks(bug)
    out = subprocess.run(
        [KGROUP, "check", "--bug", bug, "--checker", "bfs", "--threads", "1", "--quiet", "--trace-dir", "/tmp/kgroup-docs"],
        capture_output=True,
        text=True,
    )
    if out.returncode != 1:
        sys.exit(f"{bug}: expected exit 1, got {out.returncode}")
    text = out.stdout
    head = f'counterexample to "{prop}":\n'
    start = text.index(head) + len(head)
    body = []
    for line in text[start:].splitlines():
        if line.startswith("     (as a JSON trace"):
            break
        body.append(line)
    return f"```text\n$ kgroup check --bug {bug} --checker bfs\n" + "\n".join(body) + "\n```\n"


BUGS_HEAD = """# Seeded bugs

`kgroup check --list-bugs` lists them; `kgroup check --bug NAME` switches one on, with the
configuration it needs, and the checker must find a counterexample to the property it breaks
(`model/tests/model.rs` asserts it for every bug, and that the same configuration passes without
the bug). Each is a guard removed or an old behaviour restored; the Kafka issue is given where
the behaviour comes from one. The counterexamples below are the shortest the breadth-first
checker finds (`kgroup check --bug NAME --checker bfs`); docs/invariants/ explains each property.
This page is written by `docs/invariants/refresh.py`.

| bug | Kafka issue | property it breaks |
|---|---|---|
"""


def bugs_page() -> str:
    out = subprocess.run([KGROUP, "check", "--list-bugs"], capture_output=True, text=True, check=True)
    rows, sections = [], []
    for line in out.stdout.splitlines():
        name, issue, prop = line.split(None, 2)
        rows.append(f"| [`{name}`](#{name}) | {issue} | {prop} |")
        sections.append(f"## {name}\n\nKafka issue: {issue}. Breaks: \"{prop}\".\n\n<!-- counterexample:{name} -->\n")
    return BUGS_HEAD + "\n".join(rows) + "\n\n" + "\n".join(sections)


def main() -> None:
    bugs = ROOT / "docs" / "bugs.md"
    bugs.write_text(bugs_page())
    for page in [bugs] + sorted((ROOT / "docs" / "invariants").glob("*.md")):
        text = page.read_text()
        new = MARK.sub(lambda m: f"<!-- counterexample:{m.group(1)} -->\n{counterexample(m.group(1))}", text)
        if new != text:
            page.write_text(new)
            print(f"updated {page.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
