"""Replicated partitions (Kafka's ISR protocol) across 3 `fjord serve` processes: followers fetch
from leaders, the high watermark moves once every in-sync replica has a record on disk, acks=all
waits for that, min.insync.replicas refuses writes with too few replicas in sync, and a new
leader after a kill -9 has every acknowledged record."""

import time

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from clients import consume, consumer, ok_reports, produce_all, producer
from cluster_harness import REPL, create, partitions_of, wait_isr
from fjord_harness import wait_until

NOT_ENOUGH_REPLICAS = 19


def values(msgs):
    return [int(m.value()[1:]) for m in msgs]


def test_replicas_follow_the_leader_and_acks_all_waits_for_them(cluster_factory):
    c = cluster_factory(3, settings=REPL)
    topic = create(c, "r3", 3, configs={"min.insync.replicas": "2"})
    parts = wait_isr(c, topic, 3)
    for p in parts.values():
        assert sorted(p["replica_nodes"]) == [0, 1, 2], p
    n = 600
    ok_reports(produce_all(producer(c.nodes[0], acks="all", **{"enable.idempotence": True}), topic,
                           [{"value": b"v%d" % i, "partition": i % 3} for i in range(n)]))
    # Every replica's directory holds the same bytes as the leader's, once followers have them.
    def same_everywhere():
        for p in range(3):
            sizes = set()
            for node in c.nodes:
                d = node.data_dir / ("%s-%d" % (topic, p))
                sizes.add(sum(f.stat().st_size for f in d.glob("*.log")))
            if len(sizes) != 1:
                return None
        return True
    wait_until(same_everywhere, 10, what="every replica's log as long as the leader's")
    cons = consumer(c.nodes[1])
    try:
        cons.assign([TopicPartition(topic, p, 0) for p in range(3)])
        msgs, _ = consume(cons, count=n, timeout=30)
    finally:
        cons.close()
    assert sorted(values(msgs)) == list(range(n))


def test_a_killed_leader_loses_no_acknowledged_record(cluster_factory):
    c = cluster_factory(3, settings=REPL)
    topic = create(c, "failover", 1, configs={"min.insync.replicas": "2"})
    wait_isr(c, topic, 3)
    leader_id = c.leaders(topic)[0]
    leader = c.nodes[leader_id]
    other = next(x for x in c.nodes if x is not leader)
    p = producer(other, acks="all", **{"enable.idempotence": True, "message.timeout.ms": 30000})
    ok_reports(produce_all(p, topic, [{"value": b"v%d" % i, "partition": 0} for i in range(500)]))
    leader.kill9()
    t0 = time.monotonic()
    new_leader = c.wait_leaders(topic, lambda l: l[0] not in (-1, leader_id), what="a new leader")[0]
    # Records produced through the failover: all acknowledged, none lost.
    reports = produce_all(p, topic, [{"value": b"v%d" % i, "partition": 0} for i in range(500, 1000)], timeout=60)
    ok_reports(reports)
    failover = time.monotonic() - t0
    cons = consumer(other)
    try:
        cons.assign([TopicPartition(topic, 0, 0)])
        msgs, _ = consume(cons, count=1000, timeout=30)
    finally:
        cons.close()
    assert values(msgs) == list(range(1000)), "lost, repeated or reordered records"
    assert new_leader != leader_id
    print("failover: new leader %d, 500 records through it after %.2f s" % (new_leader, failover))
    # The old leader returns as a follower and catches up into the ISR.
    leader.start()
    wait_isr(c, topic, 3, timeout=30)


def test_min_insync_replicas_refuses_acks_all_with_too_few_in_sync(cluster_factory):
    c = cluster_factory(3, settings=REPL)
    topic = create(c, "minisr", 1, configs={"min.insync.replicas": "3"})
    wait_isr(c, topic, 3)
    leader_id = c.leaders(topic)[0]
    follower = next(x for i, x in enumerate(c.nodes) if i != leader_id)
    follower.kill9()
    wait_isr(c, topic, 2, node=c.nodes[leader_id])
    reports = produce_all(producer(c.nodes[leader_id], acks="all", retries=0, **{"message.timeout.ms": 5000}),
                          topic, [{"value": b"x", "partition": 0}], timeout=15)
    assert reports[0].err is not None and reports[0].err.code() == NOT_ENOUGH_REPLICAS, reports[0]
    # acks=1 does not need the ISR.
    ok_reports(produce_all(producer(c.nodes[leader_id], acks=1), topic, [{"value": b"y", "partition": 0}]))


def group_partition(group, partitions):
    """The __consumer_offsets partition of `group` (Kafka's: abs of Java's String.hashCode)."""
    h = 0
    for ch in group:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    if h >= 1 << 31:
        h -= 1 << 32
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def commit_until_ok(cons, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return cons.commit(asynchronous=False)
        except KafkaException as e:
            # An earlier attempt that timed out may have landed after all: nothing left to commit.
            # (The new member at the end of the test checks what was committed.)
            if e.args[0].code() == KafkaError._NO_OFFSET:
                return None
            if time.monotonic() > deadline:  # else the coordinator is moving: retriable
                raise
            time.sleep(0.5)


def test_a_group_and_its_offsets_survive_the_death_of_its_coordinator(cluster_factory):
    c = cluster_factory(3, settings=REPL)
    topic = create(c, "grp", 3, configs={"min.insync.replicas": "2"})
    p = producer(c.nodes[0], acks="all")
    ok_reports(produce_all(p, topic, [{"value": b"v%d" % i, "partition": i % 3} for i in range(600)]))
    group = "g-failover"
    conf = {"group.id": group, "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
            "enable.auto.offset.store": True,
            "heartbeat.interval.ms": 500}
    cons = consumer(c.nodes[0], **conf)
    seen = []
    try:
        cons.subscribe([topic])
        msgs, _ = consume(cons, count=300, timeout=30)
        seen += values(msgs)
        commit_until_ok(cons)
        # The offsets topic is replicated on every broker (offsets.topic.replication.factor 3).
        offsets = wait_isr(c, "__consumer_offsets", 3)
        coordinator = offsets[group_partition(group, len(offsets))]["leader_id"]
        c.nodes[coordinator].kill9()
        # The group goes on with a new coordinator: the rest arrives and is committed there.
        msgs, _ = consume(cons, until=lambda ms: set(seen + values(ms)) >= set(range(600)), timeout=60)
        seen += values(msgs)
        assert set(seen) == set(range(600))
        commit_until_ok(cons)
    finally:
        cons.close()
    survivor = next(n for i, n in enumerate(c.nodes) if i != coordinator)
    ok_reports(produce_all(producer(survivor, acks="all"), topic,
                           [{"value": b"v%d" % i, "partition": i % 3} for i in range(600, 700)]))
    # A new member resumes from the committed offsets: only the new records.
    again = consumer(survivor, **conf)
    try:
        again.subscribe([topic])
        msgs, _ = consume(again, count=100, timeout=60)
        extra, _ = consume(again, timeout=3, idle=2)
    finally:
        again.close()
    assert sorted(values(msgs + extra)) == list(range(600, 700))


def test_acks_all_goes_on_when_the_leader_is_the_whole_isr(cluster_factory):
    # min.insync.replicas 1 (the default): a leader left alone in the ISR answers acks=all itself.
    c = cluster_factory(3, settings=REPL)
    topic = create(c, "alone", 1, rf=2)
    wait_isr(c, topic, 2)
    (part,) = partitions_of(c, topic).values()
    leader_id = part["leader_id"]
    (follower_id,) = [r for r in part["replica_nodes"] if r != leader_id]
    c.nodes[follower_id].kill9()
    leader = c.nodes[leader_id]
    wait_isr(c, topic, 1, node=leader)
    t0 = time.monotonic()
    ok_reports(produce_all(producer(leader, acks="all"), topic, [{"value": b"v%d" % i, "partition": 0}
                                                                 for i in range(100)], timeout=20))
    assert time.monotonic() - t0 < 10
    c.nodes[follower_id].start()
    wait_isr(c, topic, 2, node=leader, timeout=30)
