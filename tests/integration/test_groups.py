"""Consumer groups with real clients: the classic group protocol (FindCoordinator, JoinGroup,
SyncGroup, Heartbeat, LeaveGroup), committed offsets in __consumer_offsets (OffsetCommit,
OffsetFetch, OffsetDelete), and the group admin APIs (ListGroups, DescribeGroups, DeleteGroups).

Members that a test kills or restarts run as their own processes: group_member.py
(confluent-kafka / librdkafka 2.0.2, or kafka-python) and js/group_member.js (kafkajs 2.2.4),
which print their assignments and the records they consumed as JSON lines (see the scripts).
Every member commits only after printing, so "consumed by someone" is at-least-once.

Brokers here run with group.initial.rebalance.delay.ms=0 (Kafka's default of 3 s only slows the
tests) and group.min.session.timeout.ms=1000 (Kafka's default is 6000; the raw session-timeout
test checks that the configured bound is the one applied).
"""

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_INVALID, KafkaError, TopicPartition

import group_raw as gr
import kafka_raw as kr
from clients import consumer, create_topic
from fjord_harness import admin_client, run_fjord, wait_until
from group_clients import (BackgroundProducer, Member, all_partitions, produce_values, revocations_of,
                           wait_all_consumed, wait_balanced)

HERE = Path(__file__).resolve().parent
MEMBER_SCRIPT = HERE / "group_member.py"
JS_MEMBER_SCRIPT = HERE / "js" / "group_member.js"
KAFKAJS = HERE.parent / "node_modules" / "kafkajs"

GROUP_FLAGS = ("--set", "group.initial.rebalance.delay.ms=0", "--set", "group.min.session.timeout.ms=1000")

SHORT_SESSION_MS = 6000  # the member that is killed: its partitions move when this expires
LONG_SESSION_MS = 30000  # members that leave cleanly: a move faster than this came from LeaveGroup
SLACK_S = 4.0  # rebalance after the session expired: heartbeat (0.5 s), rejoin, sync
CLEAN_LEAVE_S = 3.0  # a LeaveGroup moves partitions at once, far below LONG_SESSION_MS
FORM_TIMEOUT_S = 30.0  # a new group settles (several joins, each a rebalance)


# --------------------------------------------------------------------------- member processes


@pytest.fixture
def members(tmp_path):
    """start(kind, name, broker, group, topics, conf=None, commit_on="batch") -> Member. kind:
    "confluent", "kafka-python" or "kafkajs"; commit_on: see group_member.py. Members still
    running at teardown are killed by PID."""
    started = []

    def start(kind, name, broker, group, topics, conf=None, commit_on="batch"):
        conf = dict(conf or {})
        log_path = tmp_path / ("member-%s.stderr" % name)
        if kind == "kafkajs":
            spec = {"group": group, "topics": list(topics), "name": name}
            spec.update(conf)
            argv = ["node", str(JS_MEMBER_SCRIPT), broker.bootstrap, json.dumps(spec)]
            env = dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1")
            m = Member(name, argv, log_path, cwd=str(HERE.parent), env=env)
        else:
            argv = [sys.executable, str(MEMBER_SCRIPT), "--client", kind, "--bootstrap", broker.bootstrap,
                    "--group", group, "--name", name, "--commit-on", commit_on]
            for t in topics:
                argv += ["--topic", t]
            for k, v in conf.items():
                argv += ["--conf", "%s=%s" % (k, v)]
            m = Member(name, argv, log_path, cwd=str(HERE))
        started.append(m)
        return m

    yield start
    for m in started:
        m.reap()


@pytest.fixture
def background_producer():
    """start(broker, topic, partitions, tag) -> BackgroundProducer; stopped at teardown."""
    made = []

    def start(broker, topic, partitions, tag):
        bp = BackgroundProducer(broker, topic, partitions, tag)
        made.append(bp)
        return bp

    yield start
    for bp in made:
        bp.halt()


# --------------------------------------------------------------------------- in-process consumers


def group_consumer(broker, group, **conf):
    """A confluent-kafka consumer in `group` (manual commits only)."""
    base = {"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "session.timeout.ms": SHORT_SESSION_MS, "heartbeat.interval.ms": 500}
    base.update(conf)
    return consumer(broker, **base)


def poll_until(consumers, pred, timeout, what):
    """Polls every consumer (serving rebalances; records are dropped) until pred() is true."""
    deadline = time.monotonic() + timeout
    while True:
        for c in consumers:
            c.consume(100, 0.05)
        if pred():
            return
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0fs waiting for %s (assignments: %s)" % (
                timeout, what, [sorted((tp.topic, tp.partition) for tp in c.assignment()) for c in consumers]))


def first_offsets(c, partitions, timeout=30.0):
    """{partition: offset of the first record consumed} once every partition gave one."""
    deadline = time.monotonic() + timeout
    firsts = {}
    while len(firsts) < len(partitions):
        assert time.monotonic() < deadline, "records from only %s of %s after %.0fs" % (
            sorted(firsts), sorted(partitions), timeout)
        m = c.poll(0.2)  # not consume(): see poll_some in group_member.py
        if m is None:
            continue
        if m.error() is None:
            firsts.setdefault(m.partition(), m.offset())
        elif m.error().code() != KafkaError._PARTITION_EOF:
            raise AssertionError("consume error: %s" % m.error())
    return firsts


def committed(c, topic, partitions):
    """{partition: committed offset} (OFFSET_INVALID, -1001, where nothing is committed)."""
    res = c.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    errs = [tp for tp in res if tp.error is not None]
    assert not errs, errs
    return {tp.partition: tp.offset for tp in res}


def commit(c, topic, offsets):
    c.commit(offsets=[TopicPartition(topic, p, o) for p, o in sorted(offsets.items())], asynchronous=False)


@pytest.fixture
def gbroker(broker_factory):
    return broker_factory(*GROUP_FLAGS, name="broker")


# =========================================================================== rebalances


def test_eager_group_kill9_and_clean_close_move_partitions(gbroker, members, background_producer):
    """Three librdkafka members (range assignor, eager) get two of six partitions each. kill -9
    one: its partitions move to the others within its session timeout. Close one cleanly: its
    partitions move at once (LeaveGroup), long before its 30 s session would expire. A
    producer runs throughout and every record it produced is consumed by someone."""
    topic = create_topic(gbroker, "g-eager", 6)
    every = all_partitions(topic, 6)
    prod = background_producer(gbroker, topic, 6, "eager")
    common = {"partition.assignment.strategy": "range"}
    survivor = members("confluent", "survivor", gbroker, "eager-g", [topic],
                       {**common, "session.timeout.ms": LONG_SESSION_MS})
    leaver = members("confluent", "leaver", gbroker, "eager-g", [topic],
                     {**common, "session.timeout.ms": LONG_SESSION_MS})
    victim = members("confluent", "victim", gbroker, "eager-g", [topic],
                     {**common, "session.timeout.ms": SHORT_SESSION_MS})
    group = [survivor, leaver, victim]
    wait_balanced(group, every, FORM_TIMEOUT_S, sizes=[2, 2, 2], settle=1.0, what="three members")
    assert victim.records(), "the victim consumed nothing before it was killed"

    victim.kill9()
    _, took = wait_balanced([survivor, leaver], every, SHORT_SESSION_MS / 1000 + SLACK_S, sizes=[3, 3],
                            what="after kill -9 of a member with session.timeout.ms=%d" % SHORT_SESSION_MS)
    print("partitions of the killed member moved after %.2fs" % took)

    leaver.request_close()
    _, took = wait_balanced([survivor], every, CLEAN_LEAVE_S, sizes=[6],
                            what="after a clean close (session.timeout.ms=%d)" % LONG_SESSION_MS)
    print("partitions of the closed member moved after %.2fs" % took)
    leaver.wait_closed()

    delivered = prod.stop()
    wait_all_consumed(delivered, group, topic)
    survivor.close()


def test_cooperative_sticky_members_keep_their_partitions(gbroker, members, background_producer):
    """cooperative-sticky: when a member is killed and later when one leaves cleanly, the
    members that stay never lose a partition they had (no revoke/lost callback for one, every
    assignment they report still holds them); they only gain the orphaned ones.

    These members commit only what they give up (on revoke and at close): a commit racing a
    rebalance carries the old generation and is rightly refused with ILLEGAL_GENERATION, upon
    which librdkafka 2.0.2 declares its whole assignment lost (see group_member.py)."""
    topic = create_topic(gbroker, "g-coop", 6)
    every = all_partitions(topic, 6)
    prod = background_producer(gbroker, topic, 6, "coop")
    common = {"partition.assignment.strategy": "cooperative-sticky"}
    survivor = members("confluent", "survivor", gbroker, "coop-g", [topic],
                       {**common, "session.timeout.ms": LONG_SESSION_MS}, commit_on="revoke")
    leaver = members("confluent", "leaver", gbroker, "coop-g", [topic],
                     {**common, "session.timeout.ms": LONG_SESSION_MS}, commit_on="revoke")
    victim = members("confluent", "victim", gbroker, "coop-g", [topic],
                     {**common, "session.timeout.ms": SHORT_SESSION_MS}, commit_on="revoke")
    group = [survivor, leaver, victim]
    wait_balanced(group, every, FORM_TIMEOUT_S, sizes=[2, 2, 2], settle=1.5, what="three members")

    kept = {m.name: m.assignment() for m in (survivor, leaver)}
    marks = {m.name: m.mark() for m in (survivor, leaver)}
    victim.kill9()
    after, _ = wait_balanced([survivor, leaver], every, SHORT_SESSION_MS / 1000 + SLACK_S, sizes=[3, 3],
                             what="after kill -9 of a member")
    for m in (survivor, leaver):
        assert kept[m.name] < after[m.name], (m.name, kept[m.name], after[m.name])
        bad = revocations_of(m, kept[m.name], marks[m.name])
        assert not bad, "%s lost partitions it kept: %s\n%s" % (m.name, bad, m.describe())

    kept_now, mark = survivor.assignment(), survivor.mark()
    leaver.request_close()
    wait_balanced([survivor], every, CLEAN_LEAVE_S, sizes=[6], what="after a clean close")
    leaver.wait_closed()
    bad = revocations_of(survivor, kept_now, mark)
    assert not bad, "survivor lost partitions it kept: %s\n%s" % (bad, survivor.describe())

    delivered = prod.stop()
    wait_all_consumed(delivered, group, topic)
    survivor.close()


def test_static_member_restart_gets_same_partitions_without_rebalance(gbroker, members):
    """A static member (group.instance.id) closed without leaving (librdkafka sends no
    LeaveGroup for static members) and started again within its session timeout gets the same
    partitions back, and the other member sees no rebalance at all, not even once the old
    session would have expired."""
    topic = create_topic(gbroker, "g-static", 4)
    every = all_partitions(topic, 4)
    conf = {"partition.assignment.strategy": "range", "session.timeout.ms": SHORT_SESSION_MS}
    other = members("confluent", "other", gbroker, "static-g", [topic], conf)
    other.wait_for(lambda m: m.assignment() == every, FORM_TIMEOUT_S, "the first member to own everything")
    static_conf = {**conf, "group.instance.id": "static-member-1"}
    static = members("confluent", "static-a", gbroker, "static-g", [topic], static_conf)
    wait_balanced([other, static], every, FORM_TIMEOUT_S, sizes=[2, 2], settle=1.0, what="two members")

    before, other_before, mark = static.assignment(), other.assignment(), other.mark()
    closed_at = time.monotonic()
    static.close()
    again = members("confluent", "static-b", gbroker, "static-g", [topic], static_conf)
    again.wait_for(lambda m: m.assignment() == before, SHORT_SESSION_MS / 1000,
                   "the restarted static member to get %s back" % sorted(before))
    assert time.monotonic() - closed_at < SHORT_SESSION_MS / 1000, "restart took longer than the session"

    # Had the coordinator kept the old member id instead of replacing it, that member's
    # session would expire now and start a rebalance: wait past it.
    while time.monotonic() < closed_at + SHORT_SESSION_MS / 1000 + 2.0:
        assert again.running() and other.running()
        time.sleep(0.1)
    rebalance = other.events(since=mark, kinds=("assigned", "revoked", "lost", "assignment"))
    assert not rebalance, "the other member saw a rebalance: %s\n%s" % (rebalance, other.describe())
    assert other.assignment() == other_before
    assert again.assignment() == before

    (g,) = [g for g in admin_client(gbroker).list_groups("static-g", timeout=10) if g.id == "static-g"]
    assert g.state == "Stable" and len(g.members) == 2, (g.state, g.members)
    other.close()
    again.close()


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
@pytest.mark.skipif(not KAFKAJS.is_dir(), reason="kafkajs not installed: cd tests && npm ci")
def test_mixed_clients_share_one_group(gbroker, members):
    """librdkafka, kafka-python and kafkajs members in one group with the round-robin assignor
    (the protocol all three call "roundrobin"): their assignments cover six partitions exactly
    once, two each; every record is consumed, and the records produced once the group settled
    are consumed by the owner of their partition only."""
    topic = create_topic(gbroker, "g-mixed", 6)
    every = all_partitions(topic, 6)
    delivered = produce_values(gbroker, topic, {p: 50 for p in range(6)}, "before")
    rd = members("confluent", "mix-rdkafka", gbroker, "mixed-g", [topic],
                 {"partition.assignment.strategy": "roundrobin", "session.timeout.ms": 10000})
    kp = members("kafka-python", "mix-kafka-python", gbroker, "mixed-g", [topic],
                 {"partition_assignment_strategy": "roundrobin", "session_timeout_ms": 10000})
    js = members("kafkajs", "mix-kafkajs", gbroker, "mixed-g", [topic],
                 {"assigner": "roundrobin", "sessionTimeout": 10000})
    group = [rd, kp, js]
    final, _ = wait_balanced(group, every, 45.0, sizes=[2, 2, 2], settle=2.0, what="mixed group")
    assert js.events(kinds=("assignment",))[-1]["protocol"] == "roundrobin"

    later = produce_values(gbroker, topic, {p: 50 for p in range(6)}, "after")
    wait_all_consumed(delivered + later, group, topic)
    owner = {tp[1]: name for name, parts in final.items() for tp in parts}
    consumers_of = {}
    for m in group:
        for t, p, o, v in m.records():
            consumers_of.setdefault((p, o), set()).add(m.name)
    wrong = [(p, o, consumers_of[(p, o)]) for p, o, _ in later if consumers_of[(p, o)] != {owner[p]}]
    assert not wrong, "records consumed by members that do not own their partition: %s" % wrong[:10]

    (g,) = [g for g in admin_client(gbroker).list_groups("mixed-g", timeout=10) if g.id == "mixed-g"]
    assert (g.state, g.protocol_type, g.protocol) == ("Stable", "consumer", "roundrobin")
    assert sorted(m.client_id for m in g.members) == sorted(m.name for m in group)
    for m in group:
        m.close()


# =========================================================================== committed offsets


def test_committed_offsets_survive_broker_restarts(gbroker):
    """Offsets committed by a group survive a clean restart (SIGTERM) and a kill -9 of the
    broker: committed() returns them and restarted consumers resume exactly there."""
    topic = create_topic(gbroker, "g-resume", 3)
    parts = [0, 1, 2]
    produce_values(gbroker, topic, {p: 30 for p in parts}, "resume")
    group = "resume-g"

    c = group_consumer(gbroker, group)
    c.subscribe([topic])
    poll_until([c], lambda: len(c.assignment()) == 3, FORM_TIMEOUT_S, "the assignment")
    expected = {0: 7, 1: 13, 2: 21}
    commit(c, topic, expected)
    assert committed(c, topic, parts) == expected
    c.close()

    for how in ("SIGTERM", "SIGKILL"):
        if how == "SIGTERM":
            gbroker.restart()
        else:
            gbroker.kill9()
            gbroker.start()
        c = group_consumer(gbroker, group)
        try:
            assert committed(c, topic, parts) == expected, "committed offsets after %s" % how
            c.subscribe([topic])
            assert first_offsets(c, parts) == expected, "first records consumed after %s" % how
            expected = {p: o + 3 for p, o in expected.items()}
            commit(c, topic, expected)
            assert committed(c, topic, parts) == expected
        finally:
            c.close()

    with kr.Conn.to(gbroker.bootstrap, timeout=10) as conn:
        got = gr.until_coordinator_ready(lambda: gr.offset_fetch(conn, group, {topic: parts}))
    assert got["error_code"] == 0, got
    assert got["offsets"] == {(topic, p): (o, 0) for p, o in expected.items()}


def test_offsets_of_unknown_group_are_minus_one(gbroker):
    """OffsetFetch for a group that never committed: librdkafka reports OFFSET_INVALID (the -1
    the broker answers), kafka-python -1 per asked partition and nothing when asking for all,
    and a raw OffsetFetch v5 -1 with no error."""
    from kafka import TopicPartition as KpTopicPartition
    from kafka.admin import KafkaAdminClient

    topic = create_topic(gbroker, "g-fresh", 2)
    c = group_consumer(gbroker, "fresh-g")
    try:
        assert committed(c, topic, [0, 1]) == {0: OFFSET_INVALID, 1: OFFSET_INVALID}
    finally:
        c.close()

    kp = KafkaAdminClient(bootstrap_servers=gbroker.bootstrap, request_timeout_ms=10000,
                          api_version_auto_timeout_ms=10000, reconnect_backoff_max_ms=500)
    try:
        asked = kp.list_consumer_group_offsets("fresh-g", partitions=[KpTopicPartition(topic, 0),
                                                                      KpTopicPartition(topic, 1)])
        assert {tp.partition: om.offset for tp, om in asked.items()} == {0: -1, 1: -1}
        assert kp.list_consumer_group_offsets("fresh-g") == {}
    finally:
        kp.close()

    with kr.Conn.to(gbroker.bootstrap, timeout=10) as conn:
        got = gr.until_coordinator_ready(lambda: gr.offset_fetch(conn, "fresh-g", {topic: [0, 1]}))
        assert got["error_code"] == 0, got
        assert got["offsets"] == {(topic, 0): (-1, 0), (topic, 1): (-1, 0)}
        assert gr.offset_fetch(conn, "fresh-g", None)["offsets"] == {}


# =========================================================================== fjord group CLI


def fjord(broker, *args, timeout=30.0):
    return run_fjord(*args, "--brokers", broker.bootstrap, timeout=timeout)


def output(r):
    return "exit %s\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr)


OFFSET_COLUMNS = ("TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG")


def parse_table(text, required=OFFSET_COLUMNS):
    """Rows (dicts by header name) of the first table whose header line names all `required`
    columns; rows end at a blank line. Cells are split on whitespace, or cut at the header's
    column positions when a row has empty cells."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        names = line.split()
        if all(n in names for n in required):
            break
    else:
        raise AssertionError("no table with columns %s in:\n%s" % (" ".join(required), text))
    starts, pos = [], 0
    for n in names:
        pos = line.index(n, pos)
        starts.append(pos)
        pos += len(n)
    rows = []
    for row in lines[i + 1:]:
        if not row.strip():
            break
        if set(row.strip()) <= set("-=+| "):
            continue
        cells = row.split()
        if len(cells) != len(names):
            cells = [row[a:b].strip() for a, b in zip(starts, starts[1:] + [len(row)])]
        rows.append(dict(zip(names, cells)))
    return rows


def describe_offsets(broker, group, topic):
    """{partition: (current offset, log end offset, lag)} from `fjord group describe`."""
    r = fjord(broker, "group", "describe", group)
    assert r.returncode == 0, output(r)
    rows = parse_table(r.stdout)
    out = {}
    for row in rows:
        if row["TOPIC"] == topic:
            out[int(row["PARTITION"])] = (row["CURRENT-OFFSET"], row["LOG-END-OFFSET"], row["LAG"])
    return out, r.stdout


def test_cli_group_describe_shows_lag(gbroker):
    """`fjord group describe` while a producer runs ahead of a paused consumer: per partition
    the committed offset, the log end offset and their difference, N - K; the member's client
    id appears in the member columns."""
    topic = create_topic(gbroker, "g-lag", 2)
    produce_values(gbroker, topic, {0: 40, 1: 20}, "lag")
    c = group_consumer(gbroker, "lag-g", **{"client.id": "lag-watcher"})
    try:
        c.subscribe([topic])
        poll_until([c], lambda: len(c.assignment()) == 2, FORM_TIMEOUT_S, "the assignment")
        commit(c, topic, {0: 15, 1: 4})
        c.pause(c.assignment())

        got, text = describe_offsets(gbroker, "lag-g", topic)
        assert got == {0: ("15", "40", "25"), 1: ("4", "20", "16")}, text
        assert "lag-watcher" in text, "no member info (client id) in:\n" + text

        produce_values(gbroker, topic, {0: 30}, "ahead")
        got, text = describe_offsets(gbroker, "lag-g", topic)
        assert got == {0: ("15", "70", "55"), 1: ("4", "20", "16")}, text
    finally:
        c.close()


def group_names(broker):
    r = fjord(broker, "group", "list")
    assert r.returncode == 0, output(r)
    return set(r.stdout.split())


def test_cli_group_list_delete_reset_and_consume(gbroker):
    """`fjord consume --group` resumes where the last run stopped; `fjord group list` shows the
    group; `fjord group delete` fails while a member is active and succeeds once the group is
    empty (its offsets go with it); `fjord group reset-offsets --to-earliest` rewinds it."""
    topic = create_topic(gbroker, "g-cli", 1)
    produce_values(gbroker, topic, {0: 20}, "cli")
    values = ["cli-0-%d" % i for i in range(20)]

    def consume5():
        r = fjord(gbroker, "consume", topic, "--group", "cli-g", "-n", "5")
        assert r.returncode == 0, output(r)
        return r.stdout.split()

    assert consume5() == values[0:5]
    assert consume5() == values[5:10]
    assert "cli-g" in group_names(gbroker)
    got, text = describe_offsets(gbroker, "cli-g", topic)
    assert got == {0: ("10", "20", "10")}, text

    c = group_consumer(gbroker, "cli-g")
    try:
        c.subscribe([topic])
        poll_until([c], lambda: len(c.assignment()) == 1, FORM_TIMEOUT_S, "the assignment")
        r = fjord(gbroker, "group", "delete", "cli-g")
        assert r.returncode != 0, "deleting a group with an active member: " + output(r)
        assert "cli-g" in group_names(gbroker)
    finally:
        c.close()

    # Empty now (the member left): reset to the earliest offset, then consume from 0 again.
    wait_until(lambda: fjord(gbroker, "group", "reset-offsets", "cli-g", "--topic", topic,
                             "--to-earliest").returncode == 0, 10, what="reset-offsets of the empty group")
    c = group_consumer(gbroker, "cli-g")
    try:
        assert committed(c, topic, [0]) == {0: 0}
    finally:
        c.close()
    assert consume5() == values[0:5]

    r = fjord(gbroker, "group", "delete", "cli-g")
    assert r.returncode == 0, output(r)
    assert "cli-g" not in group_names(gbroker)
    c = group_consumer(gbroker, "cli-g")
    try:
        assert committed(c, topic, [0]) == {0: OFFSET_INVALID}, "offsets outlived the deleted group"
    finally:
        c.close()


# =========================================================================== admin clients


def test_admin_clients_list_describe_and_delete_groups(gbroker):
    """kafka-python's KafkaAdminClient: list_consumer_groups, describe_consumer_groups (state,
    protocol, members with their client ids, subscriptions and assignments),
    list_consumer_group_offsets and delete_consumer_groups (NON_EMPTY_GROUP for a live group,
    GROUP_ID_NOT_FOUND for an unknown one); confluent-kafka's AdminClient.list_groups."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import NoError

    topic = create_topic(gbroker, "g-admin", 4)
    produce_values(gbroker, topic, {p: 10 for p in range(4)}, "adm")

    # A group that only committed offsets (no member ever joined): Empty.
    simple = group_consumer(gbroker, "adm-empty")
    commit(simple, topic, {0: 3, 1: 5})
    simple.close()

    live = [group_consumer(gbroker, "adm-live", **{"client.id": "adm-c%d" % i,
                                                    "partition.assignment.strategy": "range"})
            for i in range(2)]
    kp = KafkaAdminClient(bootstrap_servers=gbroker.bootstrap, request_timeout_ms=10000,
                          api_version_auto_timeout_ms=10000, reconnect_backoff_max_ms=500)
    try:
        check_admin_views(gbroker, kp, topic, live)
        for c in live:
            c.close()
        live = []
        # Both members left: now it can go.
        wait_until(lambda: dict(kp.delete_consumer_groups(["adm-live"])) == {"adm-live": NoError}, 10,
                   what="deleting adm-live once empty")
        assert "adm-live" not in {g for g, _ in kp.list_consumer_groups()}
    finally:
        for c in live:
            c.close()
        kp.close()


def check_admin_views(gbroker, kp, topic, live):
    """The admin-client checks of test_admin_clients_list_describe_and_delete_groups, with
    "adm-live" served by the two consumers in `live` and "adm-empty" holding offsets only."""
    from kafka import TopicPartition as KpTopicPartition
    from kafka.errors import GroupIdNotFoundError, NoError, NonEmptyGroupError

    for c in live:
        c.subscribe([topic])
    poll_until(live, lambda: [len(c.assignment()) for c in live] == [2, 2], FORM_TIMEOUT_S,
               "two members with two partitions each")
    owned = {"adm-c%d" % i: sorted(tp.partition for tp in c.assignment()) for i, c in enumerate(live)}
    for c in live:
        commit(c, topic, {tp.partition: tp.partition + 1 for tp in c.assignment()})

    listed = set(kp.list_consumer_groups())
    assert ("adm-live", "consumer") in listed, listed
    assert "adm-empty" in {g for g, _ in listed}, listed

    (d,) = kp.describe_consumer_groups(["adm-live"])
    assert (d.error_code, d.group, d.state, d.protocol_type, d.protocol) == \
        (0, "adm-live", "Stable", "consumer", "range"), d
    assert sorted(m.client_id for m in d.members) == ["adm-c0", "adm-c1"], d.members
    for m in d.members:
        assert m.member_id and m.client_host, m
        assert list(m.member_metadata.subscription) == [topic], m.member_metadata
        got = sorted(p for t, ps in m.member_assignment.assignment for p in ps if t == topic)
        assert got == owned[m.client_id], (m.client_id, got, owned)
    (e,) = kp.describe_consumer_groups(["adm-empty"])
    assert (e.error_code, e.state, e.members) == (0, "Empty", []), e
    (n,) = kp.describe_consumer_groups(["adm-never"])
    assert (n.error_code, n.state, n.members) == (0, "Dead", []), n

    offsets = kp.list_consumer_group_offsets("adm-live")
    assert {tp.partition: om.offset for tp, om in offsets.items() if tp.topic == topic} == \
        {p: p + 1 for p in range(4)}
    offsets = kp.list_consumer_group_offsets("adm-empty")
    assert {(tp.topic, tp.partition): om.offset for tp, om in offsets.items()} == {(topic, 0): 3, (topic, 1): 5}

    # confluent-kafka's (librdkafka's) ListGroups + DescribeGroups.
    groups = {g.id: g for g in admin_client(gbroker).list_groups(timeout=10)}
    assert {"adm-live", "adm-empty"} <= set(groups), list(groups)
    g = groups["adm-live"]
    assert (g.state, g.protocol_type, g.protocol) == ("Stable", "consumer", "range"), g
    assert sorted(m.client_id for m in g.members) == ["adm-c0", "adm-c1"]
    assert all(m.assignment and m.metadata for m in g.members)

    res = dict(kp.delete_consumer_groups(["adm-live", "adm-empty", "adm-never"]))
    assert res == {"adm-live": NonEmptyGroupError, "adm-empty": NoError, "adm-never": GroupIdNotFoundError}, res
    assert "adm-empty" not in {g for g, _ in kp.list_consumer_groups()}
    assert kp.list_consumer_group_offsets("adm-empty") == {}
    asked = kp.list_consumer_group_offsets("adm-empty", partitions=[KpTopicPartition(topic, 0)])
    assert {(tp.topic, tp.partition): om.offset for tp, om in asked.items()} == {(topic, 0): -1}


def test_raw_join_sync_heartbeat_commit_leave(gbroker):
    """The classic protocol step by step, and its errors: MEMBER_ID_REQUIRED (with a member id)
    for a JoinGroup v4+ without one; ILLEGAL_GENERATION for a wrong generation in SyncGroup,
    Heartbeat and OffsetCommit; UNKNOWN_MEMBER_ID for a member the live group does not know in
    SyncGroup, Heartbeat, OffsetCommit and LeaveGroup, and after the member left."""
    topic = create_topic(gbroker, "g-raw", 2)
    group = "raw-g"
    meta = gr.subscription([topic])
    with kr.Conn.to(gbroker.bootstrap, timeout=15) as c:
        fc = gr.until_coordinator_ready(lambda: gr.find_coordinator(c, group))
        assert (fc["error_code"], fc["node_id"], fc["host"], fc["port"]) == (0, 1, "127.0.0.1", gbroker.port), fc

        first = gr.until_coordinator_ready(lambda: gr.join_group(c, group, "", protocols=[("range", meta)]))
        assert first["error_code"] == gr.MEMBER_ID_REQUIRED, first
        member = first["member_id"]
        assert member, first

        joined = gr.join_group(c, group, member, protocols=[("range", meta)])
        assert joined["error_code"] == 0, joined
        gen = joined["generation_id"]
        assert gen >= 1 and joined["member_id"] == member and joined["leader"] == member, joined
        assert joined["protocol_name"] == "range"
        assert [(m["member_id"], m["metadata"]) for m in joined["members"]] == [(member, meta)]

        plan = gr.assignment({topic: [0, 1]})
        assert gr.sync_group(c, group, gen + 1, member, [(member, plan)])["error_code"] == gr.ILLEGAL_GENERATION
        assert gr.sync_group(c, group, gen, "ghost-member", [])["error_code"] == gr.UNKNOWN_MEMBER_ID
        synced = gr.sync_group(c, group, gen, member, [(member, plan)])
        assert synced["error_code"] == 0, synced
        assert gr.parse_assignment(synced["assignment"]) == {topic: [0, 1]}

        assert gr.heartbeat(c, group, gen, member)["error_code"] == 0
        assert gr.heartbeat(c, group, gen, "ghost-member")["error_code"] == gr.UNKNOWN_MEMBER_ID
        assert gr.heartbeat(c, group, gen + 1, member)["error_code"] == gr.ILLEGAL_GENERATION

        res = gr.offset_commit(c, group, {topic: {0: 5, 1: 9}}, gen, "ghost-member")
        assert res["errors"] == {(topic, 0): gr.UNKNOWN_MEMBER_ID, (topic, 1): gr.UNKNOWN_MEMBER_ID}, res
        res = gr.offset_commit(c, group, {topic: {0: 5}}, gen + 1, member)
        assert res["errors"] == {(topic, 0): gr.ILLEGAL_GENERATION}, res
        res = gr.offset_commit(c, group, {topic: {0: 5}}, gen, member)
        assert res["errors"] == {(topic, 0): 0}, res
        got = gr.offset_fetch(c, group, {topic: [0, 1]})
        assert got["offsets"] == {(topic, 0): (5, 0), (topic, 1): (-1, 0)}, got

        (d,) = gr.describe_groups(c, [group])
        assert (d["error_code"], d["state"], d["protocol_type"], d["protocol"]) == (0, "Stable", "consumer", "range"), d
        assert [(m["member_id"], m["client_id"]) for m in d["members"]] == [(member, "fjord-it")], d
        assert gr.parse_assignment(d["members"][0]["assignment"]) == {topic: [0, 1]}

        left = gr.leave_group(c, group, [("ghost-member", None)])
        assert left["error_code"] == 0 and [m["error_code"] for m in left["members"]] == [gr.UNKNOWN_MEMBER_ID], left
        left = gr.leave_group(c, group, [(member, None)])
        assert left["error_code"] == 0 and [m["error_code"] for m in left["members"]] == [0], left
        assert gr.heartbeat(c, group, gen, member)["error_code"] == gr.UNKNOWN_MEMBER_ID
        (d,) = gr.describe_groups(c, [group])
        assert (d["state"], d["members"]) == ("Empty", []), d
        # The offsets stay with the empty group.
        assert gr.offset_fetch(c, group, {topic: [0]})["offsets"] == {(topic, 0): (5, 0)}


@pytest.mark.parametrize("session_ms", [999, 1_800_001], ids=["below_min", "above_max"])
def test_raw_join_with_session_timeout_out_of_bounds(gbroker, session_ms):
    """INVALID_SESSION_TIMEOUT for a session outside [group.min.session.timeout.ms (1000 here),
    group.max.session.timeout.ms (Kafka's default 1800000)], checked before the member id; the
    bounds themselves are accepted (1000 only because the configured minimum applies)."""
    with kr.Conn.to(gbroker.bootstrap, timeout=15) as c:
        res = gr.until_coordinator_ready(lambda: gr.join_group(c, "raw-bad-session", "", session_ms))
        assert res["error_code"] == gr.INVALID_SESSION_TIMEOUT, res
        for ok_ms in (1000, 1_800_000):
            res = gr.join_group(c, "raw-bad-session", "", ok_ms)
            assert res["error_code"] == gr.MEMBER_ID_REQUIRED, (ok_ms, res)


def test_raw_find_coordinator_v6_batches_keys_and_refuses_other_key_types(gbroker):
    """FindCoordinator v6 (the highest): every group key and transactional id (key type 1) is
    answered with this broker; share-group (2) keys get INVALID_REQUEST, key by key, since share
    groups do not exist here."""
    host, port = gbroker.bootstrap.split(":")
    with kr.Conn.to(gbroker.bootstrap, timeout=15) as c:
        assert gr.until_coordinator_ready(lambda: gr.find_coordinator(c, "fc-a"))["error_code"] == 0
        for key_type in (0, 1):
            got = gr.find_coordinators_v6(c, ["fc-a", "fc-b"], key_type=key_type)
            assert {k: (v["error_code"], v["host"], v["port"]) for k, v in got.items()} == \
                {"fc-a": (0, host, int(port)), "fc-b": (0, host, int(port))}, key_type
        got = gr.find_coordinators_v6(c, ["fc-a"], key_type=2)
        assert got["fc-a"]["error_code"] == 42, got  # INVALID_REQUEST
        assert got["fc-a"]["node_id"] == -1 and got["fc-a"]["error_message"]


def test_raw_delete_groups(gbroker):
    """DeleteGroups: GROUP_ID_NOT_FOUND for an unknown group, NON_EMPTY_GROUP while a member is
    in it, success once it left (offsets gone too), then GROUP_ID_NOT_FOUND again."""
    topic = create_topic(gbroker, "g-rawdel", 1)
    with kr.Conn.to(gbroker.bootstrap, timeout=15) as c:
        assert gr.until_coordinator_ready(lambda: gr.find_coordinator(c, "raw-del"))["error_code"] == 0
        assert gr.delete_groups(c, ["never-existed"]) == {"never-existed": gr.GROUP_ID_NOT_FOUND}
        member, gen = gr.join_as_leader(c, "raw-del", {topic: [0]})
        assert gr.offset_commit(c, "raw-del", {topic: {0: 1}}, gen, member)["errors"] == {(topic, 0): 0}
        assert gr.delete_groups(c, ["raw-del"]) == {"raw-del": gr.NON_EMPTY_GROUP}
        assert gr.leave_group(c, "raw-del", [(member, None)])["error_code"] == 0
        assert gr.delete_groups(c, ["raw-del", "never-existed"]) == \
            {"raw-del": 0, "never-existed": gr.GROUP_ID_NOT_FOUND}
        assert gr.offset_fetch(c, "raw-del", {topic: [0]})["offsets"] == {(topic, 0): (-1, 0)}
        assert gr.delete_groups(c, ["raw-del"]) == {"raw-del": gr.GROUP_ID_NOT_FOUND}


def test_raw_offset_delete(gbroker):
    """OffsetDelete: removes the offsets of an empty group partition by partition;
    GROUP_SUBSCRIBED_TO_TOPIC for a topic a live member subscribes to; GROUP_ID_NOT_FOUND for
    an unknown group. Offsets committed outside group management (generation -1, no member)
    create the group."""
    topic = create_topic(gbroker, "g-offdel", 2)
    with kr.Conn.to(gbroker.bootstrap, timeout=15) as c:
        gr.until_coordinator_ready(lambda: gr.find_coordinator(c, "raw-offdel"))
        res = gr.offset_commit(c, "raw-offdel", {topic: {0: 4, 1: 6}})
        assert res["errors"] == {(topic, 0): 0, (topic, 1): 0}, res

        res = gr.offset_delete(c, "raw-offdel", {topic: [0]})
        assert res["error_code"] == 0 and res["errors"] == {(topic, 0): 0}, res
        got = gr.offset_fetch(c, "raw-offdel", {topic: [0, 1]})["offsets"]
        assert got == {(topic, 0): (-1, 0), (topic, 1): (6, 0)}, got

        member, _ = gr.join_as_leader(c, "raw-offdel", {topic: [0, 1]})
        res = gr.offset_delete(c, "raw-offdel", {topic: [1]})
        assert res["error_code"] == 0 and res["errors"] == {(topic, 1): gr.GROUP_SUBSCRIBED_TO_TOPIC}, res
        assert gr.offset_fetch(c, "raw-offdel", {topic: [1]})["offsets"] == {(topic, 1): (6, 0)}
        assert gr.leave_group(c, "raw-offdel", [(member, None)])["error_code"] == 0

        assert gr.offset_delete(c, "never-existed", {topic: [0]})["error_code"] == gr.GROUP_ID_NOT_FOUND
