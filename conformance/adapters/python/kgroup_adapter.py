#!/usr/bin/env python3
"""An example adapter for `kgroup conform --target cmd:...` (docs/adapter.md).

It wraps a small group coordinator written here, in Python with the standard library only, from
the behaviour of Kafka 3.9's classic group coordinator (GroupCoordinator.scala, GroupMetadata.scala,
MemberMetadata.scala, the delayed join, sync and heartbeat operations, GroupMetadataManager's
offsets): JoinGroup (MEMBER_ID_REQUIRED from v4, KIP-394; protocol selection; static members,
KIP-345, with replacement and FENCED_INSTANCE_ID; the initial rebalance delay, KIP-134; the
rebalance timeout; sessions), SyncGroup, Heartbeat, LeaveGroup (batch), OffsetCommit,
OffsetFetch, TxnOffsetCommit with transaction markers (KIP-98, KIP-447), DescribeGroups,
ListGroups and DeleteGroups, for the groups of one coordinator.

Durable state is an append-only list of records, as Kafka's __consumer_offsets partition: offset
commits, transactional offset commits, transaction markers, group metadata, tombstones. Everything
else (who is rejoining, waiting requests, timers) is memory, lost on a restart; a restart builds a
new coordinator from the records, as a broker loads the partition after a failover.

Where Kafka's behaviour is arbitrary (it keeps members in a hash map), the traces follow
kgroup-core's choices (docs/core.md), and so does this adapter: members are kept in join order (a
replaced static member keeps its place), the leader who leaves or does not rejoin is replaced by
the first member in that order, a tie between protocols goes to the first member's preference,
ListGroups lists groups by id and OffsetFetch of all partitions by partition, and timers due at
the same moment fire in the order they were set.

Run it as `python3 kgroup_adapter.py`; it reads one JSON line per input on stdin and answers each
with one JSON line on stdout.
"""

import heapq
import json
import sys
import traceback
import uuid

ADAPTER_NAME = "kgroup-python-example"
TRACE_VERSION = 1
APIS = [
    "join_group",
    "sync_group",
    "heartbeat",
    "leave_group",
    "offset_commit",
    "offset_fetch",
    "txn_offset_commit",
    "describe_groups",
    "list_groups",
    "delete_groups",
]

# Broker settings the traces do not carry: Kafka's defaults.
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000
OFFSET_METADATA_MAX_BYTES = 4096
OFFSETS_RETENTION_MS = 7 * 24 * 60 * 60 * 1000
OFFSETS_RETENTION_CHECK_INTERVAL_MS = 600_000

EMPTY = "Empty"
PREPARING_REBALANCE = "PreparingRebalance"
COMPLETING_REBALANCE = "CompletingRebalance"
STABLE = "Stable"
DEAD = "Dead"

NONE = "NONE"
UNKNOWN_SERVER_ERROR = "UNKNOWN_SERVER_ERROR"
COORDINATOR_NOT_AVAILABLE = "COORDINATOR_NOT_AVAILABLE"
ILLEGAL_GENERATION = "ILLEGAL_GENERATION"
INCONSISTENT_GROUP_PROTOCOL = "INCONSISTENT_GROUP_PROTOCOL"
INVALID_GROUP_ID = "INVALID_GROUP_ID"
UNKNOWN_MEMBER_ID = "UNKNOWN_MEMBER_ID"
INVALID_SESSION_TIMEOUT = "INVALID_SESSION_TIMEOUT"
REBALANCE_IN_PROGRESS = "REBALANCE_IN_PROGRESS"
OFFSET_METADATA_TOO_LARGE = "OFFSET_METADATA_TOO_LARGE"
INVALID_PRODUCER_EPOCH = "INVALID_PRODUCER_EPOCH"
NON_EMPTY_GROUP = "NON_EMPTY_GROUP"
GROUP_ID_NOT_FOUND = "GROUP_ID_NOT_FOUND"
MEMBER_ID_REQUIRED = "MEMBER_ID_REQUIRED"
GROUP_MAX_SIZE_REACHED = "GROUP_MAX_SIZE_REACHED"
FENCED_INSTANCE_ID = "FENCED_INSTANCE_ID"
UNSTABLE_OFFSET_COMMIT = "UNSTABLE_OFFSET_COMMIT"


def java_order(s):
    """Sort key: Java compares strings by UTF-16 code units."""
    return s.encode("utf-16-be")


def java_length(s):
    """Java's String.length(): UTF-16 code units."""
    return len(s.encode("utf-16-le")) // 2


def subscribed_topics(metadata):
    """The topics of an embedded consumer-protocol subscription, read as its version-0 prefix
    (version, topics, ...), as Kafka's computeSubscribedTopics does; None if it does not read."""
    data = bytes(metadata)
    try:
        if len(data) < 6 or int.from_bytes(data[0:2], "big", signed=True) < 0:
            return None
        count = int.from_bytes(data[2:6], "big", signed=True)
        pos, topics = 6, set()
        for _ in range(max(count, 0)):
            n = int.from_bytes(data[pos : pos + 2], "big", signed=True)
            if n < 0 or pos + 2 + n > len(data):
                return None
            topics.add(data[pos + 2 : pos + 2 + n].decode("utf-8"))
            pos += 2 + n
        if pos + 4 > len(data):
            return None
        return topics
    except (UnicodeDecodeError, ValueError):
        return None


class AdapterError(Exception):
    """An input the adapter cannot take; reported as {"error": ...}."""


# ---- the offsets partition ------------------------------------------------------------------


class OffsetsLog:
    """The durable records, and what replaying them yields.

    Records are tuples:
      ("offset", group, topic, partition, value or None)   value: dict offset/leader_epoch/...
      ("group", group, value or None)                      value: the group metadata dict
      ("txn", producer_id, producer_epoch, group, topic, partition, value)
      ("marker", producer_id, producer_epoch, commit)
    A commit marker makes a producer's pending offsets committed unless a later plain commit of
    the partition is already in the log (Kafka compares log positions); an abort drops them.
    """

    def __init__(self, records=()):
        self.records = []
        self.offsets = {}  # group -> {(topic, partition): (value, position)}
        self.pending = {}  # producer id -> {group -> {(topic, partition): (value, position)}}
        self.epochs = {}  # producer id -> highest epoch appended
        self.groups = {}  # group -> metadata value
        for r in records:
            self.append(r)

    def append(self, record):
        position = len(self.records)
        self.records.append(record)
        kind = record[0]
        if kind == "offset":
            _, group, topic, partition, value = record
            if value is None:
                parts = self.offsets.get(group, {})
                parts.pop((topic, partition), None)
                if not parts:
                    self.offsets.pop(group, None)
            else:
                self.offsets.setdefault(group, {})[(topic, partition)] = (value, position)
        elif kind == "group":
            _, group, value = record
            if value is None:
                self.groups.pop(group, None)
            else:
                self.groups[group] = value
        elif kind == "txn":
            _, producer_id, epoch, group, topic, partition, value = record
            self.note_epoch(producer_id, epoch)
            by_group = self.pending.setdefault(producer_id, {})
            by_group.setdefault(group, {})[(topic, partition)] = (value, position)
        elif kind == "marker":
            _, producer_id, epoch, commit = record
            self.note_epoch(producer_id, epoch)
            txn = self.pending.pop(producer_id, {})
            if commit:
                for group, parts in txn.items():
                    committed = self.offsets.setdefault(group, {})
                    for tp, (value, pos) in parts.items():
                        if tp not in committed or committed[tp][1] < pos:
                            committed[tp] = (value, pos)
                    if not committed:
                        del self.offsets[group]
        else:
            raise AssertionError(f"unknown record {record!r}")

    def note_epoch(self, producer_id, epoch):
        self.epochs[producer_id] = max(epoch, self.epochs.get(producer_id, epoch))

    def offset(self, group, tp):
        entry = self.offsets.get(group, {}).get(tp)
        return entry[0] if entry else None

    def has_pending(self, group, tp):
        return any(tp in g.get(group, {}) for g in self.pending.values())

    def group_has_pending(self, group):
        return any(group in g for g in self.pending.values())


# ---- groups and members -----------------------------------------------------------------------


class Member:
    def __init__(self, member_id, instance_id, client_id, client_host, rebalance_timeout_ms,
                 session_timeout_ms, protocol_type, protocols):
        self.member_id = member_id
        self.instance_id = instance_id
        self.client_id = client_id
        self.client_host = client_host
        self.rebalance_timeout_ms = rebalance_timeout_ms
        self.session_timeout_ms = session_timeout_ms
        self.protocol_type = protocol_type
        self.protocols = protocols  # [(name, metadata list)], in the member's preference
        self.assignment = []
        self.join_request = None  # (request id) of a JoinGroup waiting for the join phase
        self.sync_request = None  # (request id) of a SyncGroup waiting for the assignment
        self.is_new = False
        self.heartbeat = None  # the member's live heartbeat expiry, if any

    def metadata(self, protocol):
        for name, metadata in self.protocols:
            if name == protocol:
                return metadata
        return []

    def matches(self, protocols):
        return self.protocols == protocols

    def vote(self, candidates):
        for name, _ in self.protocols:
            if name in candidates:
                return name
        return None


class Group:
    def __init__(self, group_id, now):
        self.group_id = group_id
        self.state = EMPTY
        self.state_timestamp = now
        self.generation = 0
        self.protocol_type = None
        self.protocol_name = None
        self.leader = None
        self.members = {}  # member id -> Member, in join order
        self.static_members = {}  # group.instance.id -> member id
        self.pending_members = {}  # member id -> its expiry (KIP-394)
        self.pending_sync = set()
        self.supported = {}  # protocol name -> how many members support it
        self.new_member_added = False
        self.join_op = None
        self.sync_op = None
        self.subscribed = None

    def has(self, member_id):
        return member_id in self.members

    def is_leader(self, member_id):
        return self.leader == member_id

    def num_awaiting(self):
        return sum(1 for m in self.members.values() if m.join_request is not None)

    def all_joined(self):
        return not self.pending_members and self.num_awaiting() == len(self.members)

    def rebalance_timeout_ms(self):
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def transition(self, state, now):
        self.state = state
        self.state_timestamp = now

    def can_rebalance(self):
        return self.state in (STABLE, COMPLETING_REBALANCE, EMPTY)

    def count(self, member, delta):
        for name, _ in member.protocols:
            self.supported[name] = self.supported.get(name, 0) + delta
            if self.supported[name] == 0:
                del self.supported[name]

    def supports_protocols(self, protocol_type, protocols):
        names = {name for name, _ in protocols}
        if self.state == EMPTY:
            return protocol_type != "" and bool(names)
        return self.protocol_type == protocol_type and any(
            self.supported.get(n, 0) == len(self.members) for n in names
        )

    def select_protocol(self):
        candidates = {n for n, c in self.supported.items() if c == len(self.members)}
        votes = {}
        for m in self.members.values():
            v = m.vote(candidates)
            votes[v] = votes.get(v, 0) + 1
        best = max(votes.values())
        first = next(iter(self.members.values()))
        for name, _ in first.protocols:
            if votes.get(name) == best:
                return name
        return None

    def add(self, member, join_request):
        if member.instance_id is not None:
            self.static_members[member.instance_id] = member.member_id
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.leader is None:
            self.leader = member.member_id
        self.members[member.member_id] = member
        self.count(member, +1)
        member.join_request = join_request
        self.pending_members.pop(member.member_id, None)

    def update_member(self, member, protocols, rebalance_timeout_ms, session_timeout_ms,
                      join_request):
        """Returns the JoinGroup the new one replaces, if one was waiting."""
        self.count(member, -1)
        member.protocols = protocols
        self.count(member, +1)
        member.rebalance_timeout_ms = rebalance_timeout_ms
        member.session_timeout_ms = session_timeout_ms
        replaced = member.join_request
        member.join_request = join_request
        return replaced

    def remove(self, member_id):
        """Kafka's GroupMetadata.remove: the member goes without an answer to what it waits for
        (returned, so that the driver learns it is abandoned)."""
        member = self.members.pop(member_id, None)
        waiting = []
        if member is not None:
            self.count(member, -1)
            if member.instance_id is not None:
                self.static_members.pop(member.instance_id, None)
            waiting = [r for r in (member.join_request, member.sync_request) if r is not None]
            member.join_request = member.sync_request = None
        if self.is_leader(member_id):
            self.leader = next(iter(self.members), None)
        self.pending_members.pop(member_id, None)
        self.pending_sync.discard(member_id)
        return member, waiting

    def replace_static_member(self, instance_id, old_id, new_id):
        member = self.members[old_id]
        # Keep the member's place in the join order.
        self.members = {(new_id if k == old_id else k): v for k, v in self.members.items()}
        member.member_id = new_id
        if self.is_leader(old_id):
            self.leader = new_id
        self.static_members[instance_id] = new_id
        return member

    def member_list(self):
        return [
            {
                "member_id": m.member_id,
                "group_instance_id": m.instance_id,
                "metadata": m.metadata(self.protocol_name),
            }
            for m in self.members.values()
        ]

    def compute_subscribed(self):
        if self.protocol_type != "consumer":
            return None
        if not self.members:
            return set()
        if self.protocol_name is None:
            return None
        topics = set()
        for m in self.members.values():
            t = subscribed_topics(m.metadata(self.protocol_name))
            if t is None:
                return None
            topics |= t
        return topics

    def record(self, assignments):
        protocol = self.protocol_name
        return {
            "protocol_type": self.protocol_type or "",
            "generation": self.generation,
            "protocol": protocol,
            "leader": self.leader,
            "state_timestamp": self.state_timestamp,
            "members": [
                {
                    "member_id": m.member_id,
                    "instance_id": m.instance_id,
                    "client_id": m.client_id,
                    "client_host": m.client_host,
                    "rebalance_timeout_ms": m.rebalance_timeout_ms,
                    "session_timeout_ms": m.session_timeout_ms,
                    "subscription": m.metadata(protocol) if protocol is not None else [],
                    "assignment": assignments.get(m.member_id, []),
                }
                for m in self.members.values()
            ],
        }


# ---- delayed operations -------------------------------------------------------------------------


class Delayed:
    """A timer, as Kafka's purgatory holds a delayed operation: it fires at its deadline unless
    completed first."""

    def __init__(self):
        self.done = False

    def complete(self):
        self.done = True


class HeartbeatExpiry(Delayed):
    def __init__(self, group, member_id, pending):
        super().__init__()
        self.group, self.member_id, self.pending = group, member_id, pending

    def expire(self, c):
        c.on_expire_heartbeat(self.group, self.member_id, self.pending)


class JoinDeadline(Delayed):
    """DelayedJoin, or (initial=True) InitialDelayedJoin of KIP-134."""

    def __init__(self, group, initial, delay_ms=0, remaining_ms=0):
        super().__init__()
        self.group, self.initial = group, initial
        self.delay_ms, self.remaining_ms = delay_ms, remaining_ms

    def expire(self, c):
        c.on_join_deadline(self)


class SyncDeadline(Delayed):
    def __init__(self, group, generation):
        super().__init__()
        self.group, self.generation = group, generation

    def expire(self, c):
        c.on_expire_pending_sync(self.group, self.generation)


class RetentionCheck(Delayed):
    def expire(self, c):
        c.cleanup_group_metadata()
        c.schedule(OFFSETS_RETENTION_CHECK_INTERVAL_MS, RetentionCheck())


# ---- the coordinator --------------------------------------------------------------------------


def join_error(member_id, error):
    return {
        "error_code": error,
        "generation_id": -1,
        "protocol_type": None,
        "protocol_name": None,
        "leader": "",
        "skip_assignment": False,
        "member_id": member_id,
        "members": [],
    }


def sync_error(error):
    return {"error_code": error, "protocol_type": None, "protocol_name": None, "assignment": []}


def new_member_suffix():
    return str(uuid.uuid4())


class Coordinator:
    """The groups of one __consumer_offsets partition, loaded from `log` at `now`."""

    def __init__(self, config, log, now):
        self.min_session_ms = config["group_min_session_timeout_ms"]
        self.max_session_ms = config["group_max_session_timeout_ms"]
        self.initial_delay_ms = config["group_initial_rebalance_delay_ms"]
        self.max_size = config["group_max_size"]
        self.log = log
        self.now = now
        self.timers = []
        self.sequence = 0
        self.groups = {}
        self.responses = []
        self.abandoned = []
        self.load()

    # -- plumbing ------------------------------------------------------------------------------

    def respond(self, request_id, kind, body):
        self.responses.append({"id": request_id, "response": {kind: body}})

    def abandon(self, request_ids):
        self.abandoned.extend(request_ids)

    def take_outputs(self):
        out = {"responses": self.responses, "abandoned": self.abandoned}
        self.responses, self.abandoned = [], []
        return out

    def schedule(self, delay_ms, op):
        self.sequence += 1
        heapq.heappush(self.timers, (self.now + max(delay_ms, 0), self.sequence, op))
        return op

    def advance(self, now):
        while self.timers and self.timers[0][0] <= now:
            deadline, _, op = heapq.heappop(self.timers)
            if op.done:
                continue
            self.now = max(self.now, deadline)
            op.done = True
            op.expire(self)
        self.now = max(self.now, now)

    def waiting_requests(self):
        ids = []
        for g in self.groups.values():
            for m in g.members.values():
                ids += [r for r in (m.join_request, m.sync_request) if r is not None]
        return ids

    def store_group(self, group, assignments):
        self.log.append(("group", group.group_id, group.record(assignments)))

    # -- loading (Kafka's loadGroupsAndOffsets and onGroupLoaded) --------------------------------

    def load(self):
        for gid in sorted(self.log.groups):
            value = self.log.groups[gid]
            g = Group(gid, self.now)
            g.generation = value["generation"]
            g.protocol_type = value["protocol_type"] or None
            g.protocol_name = value["protocol"]
            g.state_timestamp = value["state_timestamp"]
            for mv in value["members"]:
                protocols = [(value["protocol"], mv["subscription"])] if value["protocol"] else []
                m = Member(mv["member_id"], mv["instance_id"], mv["client_id"], mv["client_host"],
                           mv["rebalance_timeout_ms"], mv["session_timeout_ms"],
                           value["protocol_type"], protocols)
                m.assignment = mv["assignment"]
                g.add(m, None)
            g.leader = value["leader"]
            g.state = STABLE if g.members else EMPTY
            g.subscribed = g.compute_subscribed()
            self.groups[gid] = g
            if len(g.members) > self.max_size:
                self.prepare_rebalance(g)
            for m in list(g.members.values()):
                self.heartbeat_again(g, m)
        others = set(self.log.offsets)
        for by_group in self.log.pending.values():
            others |= set(by_group)
        for gid in sorted(others - set(self.groups)):
            self.groups[gid] = Group(gid, self.now)
        self.schedule(OFFSETS_RETENTION_CHECK_INTERVAL_MS, RetentionCheck())

    # -- requests ------------------------------------------------------------------------------

    def handle(self, now, request_id, client_id, client_host, request):
        self.now = max(self.now, now)
        if not isinstance(request, dict) or len(request) != 1:
            raise AdapterError("a request is an object with one key, its kind")
        (kind, body), = request.items()
        if kind not in APIS:
            raise AdapterError(f"this adapter does not implement {kind}")
        version, message = body["api_version"], body["message"]
        getattr(self, kind)(request_id, client_id, client_host, version, message)

    def group_status(self, group_id, empty_ok):
        if group_id == "" and not empty_ok:
            return INVALID_GROUP_ID
        return None

    def validate_member(self, group, member_id, instance_id):
        """Kafka's validateCurrentMember."""
        if instance_id is not None:
            current = group.static_members.get(instance_id)
            if current is None:
                return UNKNOWN_MEMBER_ID
            if current != member_id:
                return FENCED_INSTANCE_ID
        if not group.has(member_id):
            return UNKNOWN_MEMBER_ID
        return None

    # JoinGroup

    def join_group(self, rid, client_id, client_host, version, req):
        member_id = req["member_id"]
        instance_id = req["group_instance_id"]
        session = req["session_timeout_ms"]
        rebalance = session if version == 0 else req["rebalance_timeout_ms"]
        protocols = [(p["name"], p["metadata"]) for p in req["protocols"]]
        ptype = req["protocol_type"]
        error = self.group_status(req["group_id"], False)
        if error:
            return self.respond(rid, "join_group", join_error(member_id, error))
        if session < self.min_session_ms or session > self.max_session_ms:
            return self.respond(rid, "join_group", join_error(member_id, INVALID_SESSION_TIMEOUT))
        unknown = member_id == ""
        group = self.groups.get(req["group_id"])
        if group is None:
            if not unknown:
                return self.respond(rid, "join_group", join_error(member_id, UNKNOWN_MEMBER_ID))
            group = self.groups[req["group_id"]] = Group(req["group_id"], self.now)
        if not self.accept_joining_member(group, member_id):
            _, waiting = group.remove(member_id)
            self.abandon(waiting)
            self.respond(rid, "join_group", join_error("", GROUP_MAX_SIZE_REACHED))
        elif unknown:
            self.new_member_join(group, rid, version, instance_id, client_id, client_host,
                                 rebalance, session, ptype, protocols)
        else:
            self.current_member_join(group, rid, member_id, instance_id, client_id, client_host,
                                     rebalance, session, ptype, protocols)
        if group.state == PREPARING_REBALANCE:
            self.try_complete_join(group)

    def accept_joining_member(self, group, member_id):
        if group.state in (EMPTY, DEAD):
            return True
        if group.state == PREPARING_REBALANCE:
            member = group.members.get(member_id)
            return (member is not None and member.join_request is not None) or (
                group.num_awaiting() < self.max_size
            )
        return group.has(member_id) or len(group.members) < self.max_size

    def new_member_join(self, group, rid, version, instance_id, client_id, client_host,
                        rebalance, session, ptype, protocols):
        if group.state == DEAD:
            return self.respond(rid, "join_group", join_error("", COORDINATOR_NOT_AVAILABLE))
        if not group.supports_protocols(ptype, protocols):
            return self.respond(rid, "join_group", join_error("", INCONSISTENT_GROUP_PROTOCOL))
        new_id = f"{instance_id if instance_id is not None else client_id}-{new_member_suffix()}"
        if instance_id is not None:
            old_id = group.static_members.get(instance_id)
            if old_id is not None:
                self.update_static_member_and_rebalance(group, old_id, new_id, instance_id,
                                                        protocols, rebalance, session, rid,
                                                        version >= 9)
            else:
                self.add_member_and_rebalance(group, rid, new_id, instance_id, client_id,
                                              client_host, rebalance, session, ptype, protocols)
        elif version >= 4:
            # KIP-394: the member must come back with the id it is given.
            group.pending_members[new_id] = self.schedule(
                session, HeartbeatExpiry(group, new_id, pending=True))
            self.respond(rid, "join_group", join_error(new_id, MEMBER_ID_REQUIRED))
        else:
            self.add_member_and_rebalance(group, rid, new_id, None, client_id, client_host,
                                          rebalance, session, ptype, protocols)

    def current_member_join(self, group, rid, member_id, instance_id, client_id, client_host,
                            rebalance, session, ptype, protocols):
        reply = lambda error: self.respond(rid, "join_group", join_error(member_id, error))
        if group.state == DEAD:
            return reply(COORDINATOR_NOT_AVAILABLE)
        if not group.supports_protocols(ptype, protocols):
            return reply(INCONSISTENT_GROUP_PROTOCOL)
        if member_id in group.pending_members:
            if instance_id is not None:
                # Kafka throws here (a pending member is never static): UNKNOWN_SERVER_ERROR.
                return self.respond(rid, "join_group", join_error("", UNKNOWN_SERVER_ERROR))
            return self.add_member_and_rebalance(group, rid, member_id, None, client_id,
                                                 client_host, rebalance, session, ptype,
                                                 protocols)
        error = self.validate_member(group, member_id, instance_id)
        if error:
            return reply(error)
        member = group.members[member_id]
        if group.state == PREPARING_REBALANCE:
            self.update_member_and_rebalance(group, member, protocols, rebalance, session, rid)
        elif group.state == COMPLETING_REBALANCE:
            if member.matches(protocols):
                # A retry: the current generation (the leader gets the member list).
                self.respond(rid, "join_group",
                             self.generation_answer(group, member_id, group.is_leader(member_id)))
            else:
                self.update_member_and_rebalance(group, member, protocols, rebalance, session,
                                                 rid)
        elif group.state == STABLE:
            if group.is_leader(member_id) or not member.matches(protocols):
                self.update_member_and_rebalance(group, member, protocols, rebalance, session,
                                                 rid)
            else:
                self.respond(rid, "join_group", self.generation_answer(group, member_id, False))
        else:
            reply(UNKNOWN_MEMBER_ID)

    def generation_answer(self, group, member_id, with_members, leader=None, skip=False):
        return {
            "error_code": NONE,
            "generation_id": group.generation,
            "protocol_type": group.protocol_type,
            "protocol_name": group.protocol_name,
            "leader": (group.leader if leader is None else leader) or "",
            "skip_assignment": skip,
            "member_id": member_id,
            "members": group.member_list() if with_members else [],
        }

    def add_member_and_rebalance(self, group, rid, member_id, instance_id, client_id,
                                 client_host, rebalance, session, ptype, protocols):
        member = Member(member_id, instance_id, client_id, client_host, rebalance, session,
                        ptype, protocols)
        member.is_new = True
        if group.state == PREPARING_REBALANCE and group.generation == 0:
            group.new_member_added = True
        pending = group.pending_members.get(member_id)
        group.add(member, rid)
        if pending is not None:
            pending.complete()
        # A new member cannot heartbeat while its JoinGroup waits: it gets five minutes.
        self.schedule_expiry(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self.maybe_prepare_rebalance(group)

    def update_member_and_rebalance(self, group, member, protocols, rebalance, session, rid):
        replaced = group.update_member(member, protocols, rebalance, session, rid)
        if replaced is not None:
            self.abandon([replaced])
        self.maybe_prepare_rebalance(group)

    def update_static_member_and_rebalance(self, group, old_id, new_id, instance_id, protocols,
                                           rebalance, session, rid, skip_assignment_supported):
        leader_before = group.leader
        member = group.members[old_id]
        # The old id's waiting requests are answered FENCED_INSTANCE_ID.
        if member.join_request is not None:
            self.respond(member.join_request, "join_group", join_error(old_id, FENCED_INSTANCE_ID))
            member.join_request = None
        if member.sync_request is not None:
            self.respond(member.sync_request, "sync_group", sync_error(FENCED_INSTANCE_ID))
            member.sync_request = None
        group.replace_static_member(instance_id, old_id, new_id)
        # The session restarts as the member had it; the new timeouts count from its next one.
        self.heartbeat_again(group, member)
        group.update_member(member, protocols, rebalance, session, rid)
        if group.state == STABLE:
            if group.protocol_name == group.select_protocol():
                # Nothing the group agreed on changes: store the new id, no rebalance.
                self.store_group(group, {m.member_id: m.assignment
                                         for m in group.members.values()})
                member.join_request = None
                if skip_assignment_supported:
                    lead = group.is_leader(new_id)
                    answer = self.generation_answer(group, new_id, lead, skip=lead)
                else:
                    answer = self.generation_answer(group, new_id, False, leader=leader_before)
                self.respond(rid, "join_group", answer)
            else:
                self.maybe_prepare_rebalance(group)
        elif group.state == COMPLETING_REBALANCE:
            # The leader may already have the old id in its member list: start over.
            self.prepare_rebalance(group)

    def maybe_prepare_rebalance(self, group):
        if group.can_rebalance():
            self.prepare_rebalance(group)

    def prepare_rebalance(self, group):
        if group.state == COMPLETING_REBALANCE:
            for m in group.members.values():
                m.assignment = []
                if m.sync_request is not None:
                    self.respond(m.sync_request, "sync_group", sync_error(REBALANCE_IN_PROGRESS))
                    m.sync_request = None
                    self.heartbeat_again(group, m)
        group.pending_sync.clear()
        if group.sync_op is not None:
            group.sync_op.complete()
        if group.state == EMPTY:
            delay = self.initial_delay_ms
            op = JoinDeadline(group, True, delay, max(group.rebalance_timeout_ms() - delay, 0))
        else:
            op = JoinDeadline(group, False, group.rebalance_timeout_ms())
        group.transition(PREPARING_REBALANCE, self.now)
        group.join_op = op
        if not op.initial and group.all_joined():
            op.complete()
            return self.on_complete_join(group)
        self.schedule(op.delay_ms, op)

    def try_complete_join(self, group):
        op = group.join_op
        if op is not None and not op.done and not op.initial and group.all_joined():
            op.complete()
            self.on_complete_join(group)

    def on_join_deadline(self, op):
        group = op.group
        if op.initial and group.new_member_added and op.remaining_ms != 0:
            # KIP-134: members are still arriving; wait another delay, within the rebalance
            # timeout.
            group.new_member_added = False
            delay = min(self.initial_delay_ms, op.remaining_ms)
            remaining = max(op.remaining_ms - op.delay_ms, 0)
            group.join_op = self.schedule(delay, JoinDeadline(group, True, delay, remaining))
            return
        self.on_complete_join(group)

    def on_complete_join(self, group):
        for m in list(group.members.values()):
            if m.join_request is None and m.instance_id is None:
                group.remove(m.member_id)
                if m.heartbeat is not None:
                    m.heartbeat.complete()
        if group.state == DEAD:
            return
        if not self.elect_joined_leader(group) and group.members:
            # Only static members that did not rejoin are left: wait another rebalance timeout.
            op = JoinDeadline(group, False, group.rebalance_timeout_ms())
            group.join_op = op
            self.schedule(op.delay_ms, op)
            return
        group.generation += 1
        group.pending_sync.clear()
        if not group.members:
            group.protocol_name = None
            group.subscribed = group.compute_subscribed()
            group.transition(EMPTY, self.now)
            self.store_group(group, {})
            return
        group.protocol_name = group.select_protocol()
        group.subscribed = group.compute_subscribed()
        group.transition(COMPLETING_REBALANCE, self.now)
        for m in list(group.members.values()):
            if m.join_request is not None:
                lead = group.is_leader(m.member_id)
                self.respond(m.join_request, "join_group",
                             self.generation_answer(group, m.member_id, lead))
                m.join_request = None
            self.heartbeat_again(group, m)
            m.is_new = False
            group.pending_sync.add(m.member_id)
        group.sync_op = self.schedule(group.rebalance_timeout_ms(),
                                      SyncDeadline(group, group.generation))

    def elect_joined_leader(self, group):
        """Kafka's maybeElectNewJoinedLeader: the leader must have rejoined."""
        leader = group.members.get(group.leader)
        if leader is None:
            return False
        if leader.join_request is not None:
            return True
        for m in group.members.values():
            if m.join_request is not None:
                group.leader = m.member_id
                return True
        return False

    # heartbeats and expiry

    def schedule_expiry(self, group, member, timeout_ms):
        """Kafka's completeAndScheduleNextExpiration: the member's session starts over. A member
        that waits in a rebalance (and joined before it) satisfies its heartbeat by waiting."""
        if member.heartbeat is not None:
            member.heartbeat.complete()
            member.heartbeat = None
        waiting = member.join_request is not None or member.sync_request is not None
        if not member.is_new and waiting:
            return
        member.heartbeat = self.schedule(timeout_ms,
                                         HeartbeatExpiry(group, member.member_id, pending=False))

    def heartbeat_again(self, group, member):
        self.schedule_expiry(group, member, member.session_timeout_ms)

    def on_expire_heartbeat(self, group, member_id, pending):
        if group.state == DEAD:
            return
        if pending:
            return self.remove_pending_member(group, member_id)
        member = group.members.get(member_id)
        if member is None:
            return
        member.heartbeat = None
        waiting = member.join_request is not None or member.sync_request is not None
        if member.is_new or not waiting:
            self.remove_member_and_update_group(group, member)

    def remove_pending_member(self, group, member_id):
        _, waiting = group.remove(member_id)
        self.abandon(waiting)
        if group.state == PREPARING_REBALANCE:
            self.try_complete_join(group)

    def remove_member_and_update_group(self, group, member):
        if member.join_request is not None:
            self.respond(member.join_request, "join_group", join_error("", UNKNOWN_MEMBER_ID))
            member.join_request = None
        _, waiting = group.remove(member.member_id)
        self.abandon(waiting)  # Kafka never answers a removed member's SyncGroup
        if group.state in (STABLE, COMPLETING_REBALANCE):
            self.maybe_prepare_rebalance(group)
        elif group.state == PREPARING_REBALANCE:
            self.try_complete_join(group)

    def on_expire_pending_sync(self, group, generation):
        if generation != group.generation:
            return
        if group.state not in (COMPLETING_REBALANCE, STABLE) or not group.pending_sync:
            return
        # Removing them in any order leaves the same group (and the same leader).
        for member_id in sorted(group.pending_sync):
            member, waiting = group.remove(member_id)
            self.abandon(waiting)
            if member is not None and member.heartbeat is not None:
                member.heartbeat.complete()
        self.prepare_rebalance(group)

    # SyncGroup

    def sync_group(self, rid, client_id, client_host, version, req):
        reply = lambda error: self.respond(rid, "sync_group", sync_error(error))
        error = self.group_status(req["group_id"], False)
        if error:
            return reply(error)
        group = self.groups.get(req["group_id"])
        if group is None:
            return reply(UNKNOWN_MEMBER_ID)
        member_id = req["member_id"]
        if group.state == DEAD:
            return reply(COORDINATOR_NOT_AVAILABLE)
        error = self.validate_member(group, member_id, req["group_instance_id"])
        if error:
            return reply(error)
        if req["generation_id"] != group.generation:
            return reply(ILLEGAL_GENERATION)
        if req["protocol_type"] is not None and req["protocol_type"] != group.protocol_type:
            return reply(INCONSISTENT_GROUP_PROTOCOL)
        if req["protocol_name"] is not None and req["protocol_name"] != group.protocol_name:
            return reply(INCONSISTENT_GROUP_PROTOCOL)
        if group.state == EMPTY:
            return reply(UNKNOWN_MEMBER_ID)
        if group.state == PREPARING_REBALANCE:
            return reply(REBALANCE_IN_PROGRESS)
        member = group.members[member_id]
        if group.state == COMPLETING_REBALANCE:
            if member.sync_request is not None:
                self.abandon([member.sync_request])
            member.sync_request = rid
            group.pending_sync.discard(member_id)
            if group.is_leader(member_id):
                given = {a["member_id"]: a["assignment"] for a in req["assignments"]}
                assignments = {m: given.get(m, []) for m in group.members}
                self.store_group(group, assignments)
                for m in group.members.values():
                    m.assignment = assignments[m.member_id]
                for m in list(group.members.values()):
                    if m.sync_request is not None:
                        self.respond(m.sync_request, "sync_group", {
                            "error_code": NONE,
                            "protocol_type": group.protocol_type,
                            "protocol_name": group.protocol_name,
                            "assignment": m.assignment,
                        })
                        m.sync_request = None
                        self.heartbeat_again(group, m)
                group.transition(STABLE, self.now)
        else:  # Stable
            group.pending_sync.discard(member_id)
            self.respond(rid, "sync_group", {
                "error_code": NONE,
                "protocol_type": group.protocol_type,
                "protocol_name": group.protocol_name,
                "assignment": member.assignment,
            })
            self.heartbeat_again(group, member)

    # Heartbeat

    def heartbeat(self, rid, client_id, client_host, version, req):
        self.respond(rid, "heartbeat", {"error_code": self.heartbeat_error(req)})

    def heartbeat_error(self, req):
        error = self.group_status(req["group_id"], False)
        if error:
            return error
        group = self.groups.get(req["group_id"])
        if group is None:
            return UNKNOWN_MEMBER_ID
        if group.state == DEAD:
            return COORDINATOR_NOT_AVAILABLE
        member_id = req["member_id"]
        error = self.validate_member(group, member_id, req["group_instance_id"])
        if error:
            return error
        if req["generation_id"] != group.generation:
            return ILLEGAL_GENERATION
        if group.state == EMPTY:
            return UNKNOWN_MEMBER_ID
        self.heartbeat_again(group, group.members[member_id])
        return REBALANCE_IN_PROGRESS if group.state == PREPARING_REBALANCE else NONE

    # LeaveGroup

    def leave_group(self, rid, client_id, client_host, version, req):
        def answer(top, results):
            if version < 3:
                # One member; its outcome is the top-level error.
                error = top
                if error == NONE:
                    error = next((e for _, e in results if e != NONE), NONE)
                return self.respond(rid, "leave_group", {"error_code": error, "members": []})
            self.respond(rid, "leave_group", {
                "error_code": top,
                "members": [
                    {"member_id": m["member_id"], "group_instance_id": m["group_instance_id"],
                     "error_code": e}
                    for m, e in results
                ],
            })

        error = self.group_status(req["group_id"], False)
        if error:
            return answer(error, [])
        group = self.groups.get(req["group_id"])
        if group is None:
            return answer(NONE, [(m, UNKNOWN_MEMBER_ID) for m in req["members"]])
        if group.state == DEAD:
            return answer(COORDINATOR_NOT_AVAILABLE, [])
        results = [(m, self.leave_one(group, m)) for m in req["members"]]
        answer(NONE, results)

    def leave_one(self, group, leaving):
        member_id, instance_id = leaving["member_id"], leaving["group_instance_id"]
        if member_id == "":
            # Administrative removal by group.instance.id (KIP-345).
            current = group.static_members.get(instance_id) if instance_id is not None else None
            if current is None:
                return UNKNOWN_MEMBER_ID
            self.remove_current_member(group, current)
            return NONE
        if member_id in group.pending_members:
            group.pending_members[member_id].complete()
            self.remove_pending_member(group, member_id)
            return NONE
        error = self.validate_member(group, member_id, instance_id)
        if error:
            return error
        self.remove_current_member(group, member_id)
        return NONE

    def remove_current_member(self, group, member_id):
        member = group.members[member_id]
        self.remove_member_and_update_group(group, member)
        if member.heartbeat is not None:
            member.heartbeat.complete()

    # OffsetCommit and TxnOffsetCommit

    def validate_offset_commit(self, group, generation, member_id, instance_id, transactional):
        if group.state == DEAD:
            return COORDINATOR_NOT_AVAILABLE
        if generation < 0 and group.state == EMPTY:
            # The admin client, or a consumer without group management.
            return None
        if generation >= 0 or member_id != "" or instance_id is not None:
            error = self.validate_member(group, member_id, instance_id)
            if error:
                return error
            if generation != group.generation:
                return ILLEGAL_GENERATION
            return None
        if not transactional and group.state != EMPTY:
            # Only members commit offsets for a group with members.
            return UNKNOWN_MEMBER_ID
        return None

    def store_offsets(self, group, partitions, producer=None):
        results = []
        for p in partitions:
            tp = p["partition"]
            metadata = p["committed_metadata"]
            if metadata is not None and java_length(metadata) > OFFSET_METADATA_MAX_BYTES:
                results.append([tp, OFFSET_METADATA_TOO_LARGE])
                continue
            value = {
                "offset": p["committed_offset"],
                "leader_epoch": p["committed_leader_epoch"],
                "metadata": metadata if metadata is not None else "",
                "commit_timestamp": self.now,
                "expire_timestamp": -1,
            }
            key = (group.group_id, tp["topic"], tp["partition"])
            if producer is None:
                self.log.append(("offset",) + key + (value,))
            else:
                self.log.append(("txn",) + producer + key + (value,))
            results.append([tp, NONE])
        return results

    def offset_commit(self, rid, client_id, client_host, version, req):
        every = lambda error: [[p["partition"], error] for p in req["partitions"]]
        reply = lambda parts: self.respond(rid, "offset_commit", {"partitions": parts})
        generation = req["generation_id"]
        group = self.groups.get(req["group_id"])
        if group is None:
            if generation >= 0:
                # A member of a group this coordinator does not have: an old generation.
                return reply(every(ILLEGAL_GENERATION))
            group = self.groups[req["group_id"]] = Group(req["group_id"], self.now)
        error = self.validate_offset_commit(group, generation, req["member_id"],
                                            req["group_instance_id"], False)
        if error:
            return reply(every(error))
        if group.state == COMPLETING_REBALANCE:
            return reply(every(REBALANCE_IN_PROGRESS))
        if group.state in (STABLE, PREPARING_REBALANCE):
            self.heartbeat_again(group, group.members[req["member_id"]])
        reply(self.store_offsets(group, req["partitions"]))

    def txn_offset_commit(self, rid, client_id, client_host, version, req):
        every = lambda error: [[p["partition"], error] for p in req["partitions"]]
        reply = lambda parts: self.respond(rid, "txn_offset_commit", {"partitions": parts})
        error = self.group_status(req["group_id"], False)
        if error:
            return reply(every(error))
        group = self.groups.get(req["group_id"])
        if group is None:
            group = self.groups[req["group_id"]] = Group(req["group_id"], self.now)
        error = self.validate_offset_commit(group, req["generation_id"], req["member_id"],
                                            req["group_instance_id"], True)
        if error:
            return reply(every(error))
        producer_id, epoch = req["producer_id"], req["producer_epoch"]
        if epoch < self.log.epochs.get(producer_id, epoch):
            # The partition's producer state refuses a superseded epoch.
            return reply(every(INVALID_PRODUCER_EPOCH))
        reply(self.store_offsets(group, req["partitions"], (producer_id, epoch)))

    def marker(self, producer_id, producer_epoch, commit):
        self.log.append(("marker", producer_id, producer_epoch, commit))

    # OffsetFetch

    def offset_fetch(self, rid, client_id, client_host, version, req):
        gid = req["group_id"]
        partitions = req["partitions"]
        if partitions is None:
            partitions = [
                {"topic": t, "partition": p}
                for t, p in sorted(self.log.offsets.get(gid, {}),
                                   key=lambda tp: (java_order(tp[0]), tp[1]))
            ]
        out = []
        for tp in partitions:
            key = (tp["topic"], tp["partition"])
            entry = {"partition": tp, "committed_offset": -1, "committed_leader_epoch": -1,
                     "metadata": "", "error_code": NONE}
            if req["require_stable"] and self.log.has_pending(gid, key):
                entry["error_code"] = UNSTABLE_OFFSET_COMMIT
            else:
                value = self.log.offset(gid, key)
                if value is not None:
                    entry.update(committed_offset=value["offset"],
                                 committed_leader_epoch=value["leader_epoch"],
                                 metadata=value["metadata"])
            out.append(entry)
        self.respond(rid, "offset_fetch", {"error_code": NONE, "partitions": out})

    # DescribeGroups, ListGroups, DeleteGroups

    def describe_groups(self, rid, client_id, client_host, version, req):
        described = []
        for gid in req["groups"]:
            group = self.groups.get(gid)
            if group is None:
                described.append({"error_code": NONE, "group_id": gid, "group_state": DEAD,
                                  "protocol_type": "", "protocol_data": "", "members": []})
                continue
            stable = group.state == STABLE
            described.append({
                "error_code": NONE,
                "group_id": gid,
                "group_state": group.state,
                "protocol_type": group.protocol_type or "",
                "protocol_data": (group.protocol_name or "") if stable else "",
                "members": [
                    {
                        "member_id": m.member_id,
                        "group_instance_id": m.instance_id,
                        "client_id": m.client_id,
                        "client_host": m.client_host,
                        "member_metadata": m.metadata(group.protocol_name) if stable else [],
                        "member_assignment": m.assignment if stable else [],
                    }
                    for m in group.members.values()
                ],
            })
        self.respond(rid, "describe_groups", {"groups": described})

    def list_groups(self, rid, client_id, client_host, version, req):
        wanted = {s.lower() for s in req["states_filter"]}
        groups = [
            {"group_id": g.group_id, "protocol_type": g.protocol_type or "",
             "group_state": g.state}
            for g in self.groups.values()
            if g.state != DEAD and (not wanted or g.state.lower() in wanted)
        ]
        groups.sort(key=lambda g: java_order(g["group_id"]))
        self.respond(rid, "list_groups", {"error_code": NONE, "groups": groups})

    def delete_groups(self, rid, client_id, client_host, version, req):
        results, seen = [], set()
        for gid in req["groups"]:
            if gid in seen:
                continue
            seen.add(gid)
            group = self.groups.get(gid)
            if group is None or group.state == DEAD:
                results.append([gid, GROUP_ID_NOT_FOUND])
            elif group.state == EMPTY:
                self.remove_group(group)
                results.append([gid, NONE])
            else:
                results.append([gid, NON_EMPTY_GROUP])
        self.respond(rid, "delete_groups", {"results": results})

    def remove_group(self, group):
        """The group goes Dead with its offsets (tombstones) and its record."""
        for topic, partition in list(self.log.offsets.get(group.group_id, {})):
            self.log.append(("offset", group.group_id, topic, partition, None))
        if group.group_id in self.log.groups:
            self.log.append(("group", group.group_id, None))
        group.state = DEAD
        del self.groups[group.group_id]

    # offset retention (Kafka's cleanupGroupMetadata with removeExpiredOffsets)

    def cleanup_group_metadata(self):
        for gid in sorted(self.groups):
            group = self.groups[gid]
            if group.protocol_type is not None and group.state == EMPTY:
                base, subscribed = (lambda v: group.state_timestamp), set()
            elif (group.protocol_type == "consumer" and group.state == STABLE
                  and group.subscribed is not None):
                base, subscribed = (lambda v: v["commit_timestamp"]), group.subscribed
            elif group.protocol_type is None:
                base, subscribed = (lambda v: v["commit_timestamp"]), set()
            else:
                continue
            for (topic, partition), (value, _) in list(self.log.offsets.get(gid, {}).items()):
                if topic in subscribed:
                    continue
                if value["expire_timestamp"] >= 0:
                    expired = self.now >= value["expire_timestamp"]
                else:
                    expired = self.now - base(value) >= OFFSETS_RETENTION_MS
                if expired:
                    self.log.append(("offset", gid, topic, partition, None))
            no_offsets = gid not in self.log.offsets and not self.log.group_has_pending(gid)
            if group.state == EMPTY and no_offsets:
                self.remove_group(group)


# ---- the JSON-lines session -------------------------------------------------------------------


class Session:
    """One trace: the configuration, then inputs; each answered with what the coordinator did."""

    def __init__(self):
        self.config = None
        self.coordinator = None

    def handle(self, message):
        kind = message.get("type")
        if kind == "config":
            self.config = message["config"]
            self.coordinator = Coordinator(self.config, OffsetsLog(), 0)
            return {"responses": [], "abandoned": []}
        if self.coordinator is None:
            raise AdapterError(f"`{kind}` before `config`")
        c = self.coordinator
        if kind == "send":
            c.handle(message["now"], message["id"], message["client"], message["client_host"],
                     message["request"])
        elif kind == "advance":
            c.advance(message["now"])
        elif kind == "restart":
            # Timers fire only when the clock advances: one due now but set by a request at this
            # very moment has not fired, and dies with the coordinator.
            lost = c.waiting_requests()
            self.coordinator = Coordinator(self.config, OffsetsLog(c.log.records),
                                           message["now"])
            out = c.take_outputs()
            out["abandoned"] += lost
            return out
        elif kind == "marker":
            c.marker(message["producer_id"], message["producer_epoch"], message["commit"])
        else:
            raise AdapterError(f"unknown input type {kind!r}")
        return c.take_outputs()


def main():
    out = sys.stdout
    hello = {"adapter": ADAPTER_NAME, "trace_version": TRACE_VERSION, "apis": APIS}
    out.write(json.dumps(hello) + "\n")
    out.flush()
    session = Session()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = session.handle(json.loads(line))
        except AdapterError as e:
            answer = {"error": str(e)}
        except Exception as e:  # a bug here: say where, and keep going
            where = traceback.extract_tb(e.__traceback__)[-1]
            answer = {"error": f"{type(e).__name__}: {e} (line {where.lineno}, {where.name})"}
        out.write(json.dumps(answer, separators=(",", ":")) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
