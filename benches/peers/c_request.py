#!/usr/bin/env python3
"""Write the shape-C `kgroup assign` request used for the end-to-end figure in docs/benchmarks.md.

500 topics t0000..t0499 of 2,000 partitions, 2,000 members c00000..c01999 subscribing to all of
them; the rebalance round: member 0 owns nothing, every partition is owned (generation 1) by one of
members 1..1999, dealt round-robin. Usage: c_request.py STRATEGY > c-STRATEGY.json
"""
import json
import sys

TOPICS, PARTITIONS, MEMBERS = 500, 2000, 2000


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: c_request.py STRATEGY > request.json")
    topics = [f"t{t:04}" for t in range(TOPICS)]
    owned = [[] for _ in range(MEMBERS)]
    n = 0
    for t in topics:
        for p in range(PARTITIONS):
            owned[1 + n % (MEMBERS - 1)].append([t, p])
            n += 1
    members = []
    for i in range(MEMBERS):
        m = {"id": f"c{i:05}", "topics": topics}
        if i:
            m["owned"] = owned[i]
            m["generation"] = 1
        members.append(m)
    req = {"strategy": sys.argv[1], "topics": {t: PARTITIONS for t in topics}, "members": members}
    json.dump(req, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main()
