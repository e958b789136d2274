"""Raw group-coordinator requests for test_groups.py, on kafka_raw's framing and Writer/Reader.

Non-flexible versions only, the newest ones librdkafka 2.0, kafka-python and kafkajs also use or
that sit just below the flexible cut: FindCoordinator v2, JoinGroup v5, SyncGroup v3,
Heartbeat v3, LeaveGroup v3, OffsetCommit v7, OffsetFetch v5, DescribeGroups v4, DeleteGroups
v1, OffsetDelete v0. Layouts follow ../shared/kafka-protocol/messages/*.json.

Each call returns a plain dict. The consumer-protocol payloads (ConsumerProtocolSubscription and
ConsumerProtocolAssignment, version 0) have encoders here too.
"""

import time

import kafka_raw as kr

API_OFFSET_COMMIT = 8
API_OFFSET_FETCH = 9
API_FIND_COORDINATOR = 10
API_JOIN_GROUP = 11
API_HEARTBEAT = 12
API_LEAVE_GROUP = 13
API_SYNC_GROUP = 14
API_DESCRIBE_GROUPS = 15
API_DELETE_GROUPS = 42
API_OFFSET_DELETE = 47

# error codes (errors.tsv)
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
NOT_COORDINATOR = 16
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
MEMBER_ID_REQUIRED = 79
GROUP_SUBSCRIBED_TO_TOPIC = 86

RETRIABLE = (COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR)


def write_bytes(w, b):
    """Nullable BYTES (int32 length, -1 = null)."""
    if b is None:
        return w.int32(-1)
    return w.int32(len(b)).raw(b)


def read_bytes(r):
    n = r.int32()
    return None if n < 0 else r._take(n)


# --------------------------------------------------------------------------- consumer protocol


def subscription(topics, user_data=None):
    """ConsumerProtocolSubscription v0 (JoinGroup protocol metadata)."""
    w = kr.Writer().int16(0).array(list(topics), lambda w, t: w.string(t))
    return write_bytes(w, user_data).bytes()


def assignment(parts, user_data=None):
    """ConsumerProtocolAssignment v0 (SyncGroup assignment). parts: {topic: [partition, ...]}."""

    def topic(w, item):
        w.string(item[0]).array(sorted(item[1]), lambda w, p: w.int32(p))

    w = kr.Writer().int16(0).array(sorted(parts.items()), topic)
    return write_bytes(w, user_data).bytes()


def parse_assignment(data):
    """{topic: [partitions]} from a ConsumerProtocolAssignment (any version: trailing fields
    are ignored)."""
    if not data:
        return {}
    r = kr.Reader(data)
    r.int16()
    out = {}
    for name, parts in r.array(lambda r: (r.string(), r.array(lambda r: r.int32()))) or []:
        out[name] = parts
    return out


# --------------------------------------------------------------------------- requests


def find_coordinator(c, key, key_type=0):
    body = kr.Writer().string(key).int8(key_type).bytes()
    r = c.request(API_FIND_COORDINATOR, 2, body, False)
    return {"throttle_time_ms": r.int32(), "error_code": r.int16(), "error_message": r.string(),
            "node_id": r.int32(), "host": r.string(), "port": r.int32()}


def find_coordinators_v6(c, keys, key_type=0):
    """FindCoordinator v6 (flexible, batched keys): {key: {error_code, error_message, node_id, host, port}}."""
    body = kr.Writer().int8(key_type).array(list(keys), lambda w, k: w.string(k, compact=True), compact=True) \
        .tagged_fields().bytes()
    r = c.request(API_FIND_COORDINATOR, 6, body, True)
    r.int32()  # throttle_time_ms

    def coordinator(r):
        out = {"key": r.string(compact=True), "node_id": r.int32(), "host": r.string(compact=True),
               "port": r.int32(), "error_code": r.int16(), "error_message": r.string(compact=True)}
        r.tagged_fields()
        return out

    coordinators = r.array(coordinator, compact=True)
    r.tagged_fields()
    return {c["key"]: c for c in coordinators}


def join_group(c, group, member_id="", session_timeout_ms=10000, rebalance_timeout_ms=10000,
               group_instance_id=None, protocol_type="consumer", protocols=(("range", b""),)):
    """JoinGroup v5. The response comes when the join phase ends (at once for a lone member)."""

    def protocol(w, p):
        w.string(p[0])
        write_bytes(w, p[1])

    body = kr.Writer().string(group).int32(session_timeout_ms).int32(rebalance_timeout_ms) \
        .string(member_id).string(group_instance_id).string(protocol_type) \
        .array(list(protocols), protocol).bytes()
    r = c.request(API_JOIN_GROUP, 5, body, False)
    out = {"throttle_time_ms": r.int32(), "error_code": r.int16(), "generation_id": r.int32(),
           "protocol_name": r.string(), "leader": r.string(), "member_id": r.string()}
    out["members"] = r.array(lambda r: {"member_id": r.string(), "group_instance_id": r.string(),
                                        "metadata": read_bytes(r)})
    return out


def sync_group(c, group, generation_id, member_id, assignments=(), group_instance_id=None):
    """SyncGroup v3. assignments: [(member_id, assignment bytes)] (the leader's)."""

    def one(w, a):
        w.string(a[0])
        write_bytes(w, a[1])

    body = kr.Writer().string(group).int32(generation_id).string(member_id).string(group_instance_id) \
        .array(list(assignments), one).bytes()
    r = c.request(API_SYNC_GROUP, 3, body, False)
    return {"throttle_time_ms": r.int32(), "error_code": r.int16(), "assignment": read_bytes(r)}


def heartbeat(c, group, generation_id, member_id, group_instance_id=None):
    body = kr.Writer().string(group).int32(generation_id).string(member_id).string(group_instance_id).bytes()
    r = c.request(API_HEARTBEAT, 3, body, False)
    return {"throttle_time_ms": r.int32(), "error_code": r.int16()}


def leave_group(c, group, members):
    """LeaveGroup v3. members: [(member_id, group_instance_id or None)]."""
    body = kr.Writer().string(group).array(list(members), lambda w, m: w.string(m[0]).string(m[1])).bytes()
    r = c.request(API_LEAVE_GROUP, 3, body, False)
    out = {"throttle_time_ms": r.int32(), "error_code": r.int16()}
    out["members"] = r.array(lambda r: {"member_id": r.string(), "group_instance_id": r.string(),
                                        "error_code": r.int16()})
    return out


def offset_commit(c, group, offsets, generation_id=-1, member_id="", group_instance_id=None):
    """OffsetCommit v7. offsets: {topic: {partition: offset}}. Returns
    {"throttle_time_ms", "errors": {(topic, partition): error_code}}."""

    def part(w, item):
        w.int32(item[0]).int64(item[1]).int32(-1).string(None)  # leader epoch, metadata

    def topic(w, item):
        w.string(item[0]).array(sorted(item[1].items()), part)

    body = kr.Writer().string(group).int32(generation_id).string(member_id).string(group_instance_id) \
        .array(sorted(offsets.items()), topic).bytes()
    r = c.request(API_OFFSET_COMMIT, 7, body, False)
    out = {"throttle_time_ms": r.int32(), "errors": {}}

    def rtopic(r):
        name = r.string()
        for p, err in r.array(lambda r: (r.int32(), r.int16())):
            out["errors"][(name, p)] = err

    r.array(rtopic)
    return out


def offset_fetch(c, group, topics=None):
    """OffsetFetch v5. topics: {topic: [partitions]} or None (every committed offset).
    Returns {"error_code", "offsets": {(topic, partition): (offset, error_code)}}."""
    items = None if topics is None else sorted(topics.items())

    def topic(w, item):
        w.string(item[0]).array(sorted(item[1]), lambda w, p: w.int32(p))

    body = kr.Writer().string(group).array(items, topic).bytes()
    r = c.request(API_OFFSET_FETCH, 5, body, False)
    out = {"throttle_time_ms": r.int32(), "offsets": {}}

    def rtopic(r):
        name = r.string()

        def part(r):
            p, off = r.int32(), r.int64()
            r.int32()  # committed leader epoch
            r.string()  # metadata
            out["offsets"][(name, p)] = (off, r.int16())

        r.array(part)

    r.array(rtopic)
    out["error_code"] = r.int16()
    return out


def describe_groups(c, groups):
    """DescribeGroups v4: [{error_code, group_id, state, protocol_type, protocol, members}]."""
    body = kr.Writer().array(list(groups), lambda w, g: w.string(g)).boolean(False).bytes()
    r = c.request(API_DESCRIBE_GROUPS, 4, body, False)
    r.int32()

    def member(r):
        return {"member_id": r.string(), "group_instance_id": r.string(), "client_id": r.string(),
                "client_host": r.string(), "metadata": read_bytes(r), "assignment": read_bytes(r)}

    def group(r):
        g = {"error_code": r.int16(), "group_id": r.string(), "state": r.string(),
             "protocol_type": r.string(), "protocol": r.string(), "members": r.array(member)}
        r.int32()  # authorized operations
        return g

    return r.array(group)


def delete_groups(c, groups):
    """DeleteGroups v1: {group: error_code}."""
    body = kr.Writer().array(list(groups), lambda w, g: w.string(g)).bytes()
    r = c.request(API_DELETE_GROUPS, 1, body, False)
    r.int32()
    return dict(r.array(lambda r: (r.string(), r.int16())))


def offset_delete(c, group, topics):
    """OffsetDelete v0. topics: {topic: [partitions]}. Returns {"error_code", "errors":
    {(topic, partition): error_code}}."""

    def topic(w, item):
        w.string(item[0]).array(sorted(item[1]), lambda w, p: w.int32(p))

    body = kr.Writer().string(group).array(sorted(topics.items()), topic).bytes()
    r = c.request(API_OFFSET_DELETE, 0, body, False)
    out = {"error_code": r.int16(), "throttle_time_ms": r.int32(), "errors": {}}

    def rtopic(r):
        name = r.string()
        for p, err in r.array(lambda r: (r.int32(), r.int16())):
            out["errors"][(name, p)] = err

    r.array(rtopic)
    return out


# --------------------------------------------------------------------------- conveniences


def until_coordinator_ready(call, timeout=15.0):
    """Repeats call() while it answers a coordinator-loading error (the group's
    __consumer_offsets partition may still be loading right after startup); returns the answer.
    The error code is looked for in out["error_code"]."""
    deadline = time.monotonic() + timeout
    while True:
        out = call()
        if out.get("error_code") not in RETRIABLE:
            return out
        if time.monotonic() >= deadline:
            raise AssertionError("coordinator still not ready after %.0fs: %r" % (timeout, out))
        time.sleep(0.1)


def join_as_leader(c, group, topics, session_timeout_ms=10000, group_instance_id=None):
    """Joins `group` as its only member (MEMBER_ID_REQUIRED round trip included), syncs an
    assignment of every listed partition to itself, and returns (member_id, generation_id).
    topics: {topic: [partitions]}."""
    meta = subscription(sorted(topics))
    first = until_coordinator_ready(lambda: join_group(
        c, group, "", session_timeout_ms, group_instance_id=group_instance_id, protocols=[("range", meta)]))
    member_id = first["member_id"]
    if first["error_code"] == MEMBER_ID_REQUIRED:
        first = join_group(c, group, member_id, session_timeout_ms, group_instance_id=group_instance_id,
                           protocols=[("range", meta)])
    assert first["error_code"] == NONE, first
    assert first["leader"] == first["member_id"], first
    member_id, generation = first["member_id"], first["generation_id"]
    s = sync_group(c, group, generation, member_id, [(member_id, assignment(topics))],
                   group_instance_id=group_instance_id)
    assert s["error_code"] == NONE, s
    return member_id, generation

