"""Replicated partitions (Kafka's ISR protocol) across 3 `fjord serve` processes: followers fetch
from leaders, the high watermark moves once every in-sync replica has a record on disk, acks=all
waits for that, min.insync.replicas refuses writes with too few replicas in sync, and a new
leader after a kill -9 has every acknowledged record."""

import time

from confluent_kafka import TopicPartition
from confluent_kafka.admin import NewTopic

from clients import consume, consumer, ok_reports, produce_all, producer
from cluster_harness import Cluster  # noqa: F401
from fjord_harness import admin_client, result_of, wait_until

NOT_ENOUGH_REPLICAS = 19

# Followers that stop fetching leave the ISR after 1.5 s; fetch errors back off 100 ms.
REPL = {"replica.lag.time.max.ms": 1500, "replica.fetch.backoff.ms": 100, "replica.fetch.wait.max.ms": 200}


def create(cluster, name, partitions, rf=3, configs=None):
    admin = admin_client(cluster)
    res = result_of(admin.create_topics([NewTopic(name, partitions, rf, config=configs or {})], request_timeout=15))
    assert res[name] is None, res
    cluster.wait_leaders(name, lambda l: len(l) == partitions and all(v >= 0 for v in l.values()),
                         what="leaders of %s" % name)
    return name


def partitions_of(cluster, topic, node=None):
    (t,) = cluster.metadata(node, [topic])["topics"]
    return {p["partition_index"]: p for p in t["partitions"]}


def wait_isr(cluster, topic, size, node=None, timeout=20):
    return wait_until(lambda: (lambda ps: ps if all(len(p["isr_nodes"]) == size for p in ps.values()) else None)(
        partitions_of(cluster, topic, node)), timeout, what="ISR of %d on every partition of %s" % (size, topic))


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
