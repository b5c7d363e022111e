"""Times kafka-python's assignors on the same groups `kgroup bench assign` generates.

A group has T topics (t0000, ...) of P partitions and M members (c00000, ...), every member
subscribing to every topic. "fresh" assigns with no previous ownership; "rebalance" is the next
round, in which members 1..M-1 report the partitions the fresh round gave them (generation 1) and
member 0 reports none. Only the assignor call is timed, on inputs already built.

Prints one JSON object per line, as `kgroup bench assign --json` does, with "impl": "kafka-python".
"""
import argparse
import json
import statistics
import sys
import time
from types import SimpleNamespace

from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from kafka.coordinator.assignors.sticky.user_data import StickyAssignorUserData

SHAPES = {"A": (1, 1000, 100), "B": (50, 800, 800), "C": (500, 2000, 2000), "K": (1000, 100, 10000)}
ASSIGNORS = {
    "range": RangePartitionAssignor,
    "roundrobin": RoundRobinPartitionAssignor,
    "sticky": StickyPartitionAssignor,
    "cooperative-sticky": CooperativeStickyAssignor,
}


class Cluster:
    """The part of kafka-python's ClusterMetadata the assignors read."""

    def __init__(self, topics, partitions):
        self._topics = {t: set(range(partitions)) for t in topics}

    def topics(self, exclude_internal_topics=True):
        return set(self._topics)

    def partitions_for_topic(self, topic):
        return self._topics.get(topic)


def members(strategy, topics, m, owned=None):
    """JoinGroup response members as kafka-python's assignors read them."""
    out = []
    for i in range(m):
        mine = (owned or {}).get(i, [])
        by_topic = {}
        for t, p in mine:
            by_topic.setdefault(t, []).append(p)
        if strategy == "sticky":
            user_data = StickyAssignorUserData(list(by_topic.items()), 1) if mine else b""
            meta = SimpleNamespace(topics=topics, user_data=user_data, owned_partitions=[], generation_id=-1)
        else:
            owned_parts = [SimpleNamespace(topic=t, partitions=ps) for t, ps in by_topic.items()]
            meta = SimpleNamespace(
                topics=topics, user_data=b"", owned_partitions=owned_parts, generation_id=1 if mine else -1
            )
        out.append(SimpleNamespace(member_id=f"c{i:05d}", group_instance_id=None, metadata=meta))
    return out


def partitions_of(assignment):
    """[(topic, partition)] of a ConsumerProtocolAssignment, whatever its field is called."""
    parts = getattr(assignment, "assigned_partitions", None)
    if parts is None:
        parts = assignment.assignment
    out = []
    for entry in parts:
        topic, ps = (entry.topic, entry.partitions) if hasattr(entry, "topic") else entry
        out.extend((topic, p) for p in ps)
    return out


def call(strategy, cluster, group):
    assignor = ASSIGNORS[strategy]
    # range and roundrobin are classmethods; the sticky assignors keep state on an instance.
    target = assignor() if strategy in ("sticky", "cooperative-sticky") else assignor
    return target.assign(cluster, group)


def time_runs(strategy, cluster, group, runs):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = call(strategy, cluster, group)
        times.append((time.perf_counter() - start) * 1e3)
    return times, result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=SHAPES, required=True)
    ap.add_argument("--strategy", choices=ASSIGNORS)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    t, p, m = SHAPES[args.shape]
    topics = [f"t{i:04d}" for i in range(t)]
    cluster = Cluster(topics, p)
    for strategy in [args.strategy] if args.strategy else list(ASSIGNORS):
        fresh = members(strategy, topics, m)
        times, first = time_runs(strategy, cluster, fresh, args.runs)
        report(strategy, args.shape, "fresh", times)
        owned = {i: partitions_of(first[f"c{i:05d}"]) for i in range(1, m)}
        again = members(strategy, topics, m, owned)
        times, _ = time_runs(strategy, cluster, again, args.runs)
        report(strategy, args.shape, "rebalance", times)


def report(strategy, shape, round_, times):
    print(
        json.dumps(
            {
                "impl": "kafka-python",
                "strategy": strategy,
                "shape": shape,
                "round": round_,
                "median_ms": round(statistics.median(times), 3),
                "min_ms": round(min(times), 3),
                "max_ms": round(max(times), 3),
                "runs": len(times),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
