"""Partition reassignment (KIP-455) on 3 `fjord serve` processes, driven by kafkajs's admin client
(alterPartitionReassignments, listPartitionReassignments): new replicas catch up as followers, the
reassignment ends when they are all in sync, leadership moves off a replica that leaves, the old
replica's log goes, and no record is lost on the way."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from clients import consume, consumer, ok_reports, produce_all, producer
from cluster_harness import REPL, create, partitions_of
from fjord_harness import wait_until

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "js" / "reassign.js"
KAFKAJS = HERE.parent / "node_modules" / "kafkajs"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node not installed"),
    pytest.mark.skipif(not KAFKAJS.is_dir(), reason="kafkajs not installed: cd tests && npm ci"),
]


def kafkajs(cluster, *args):
    bootstrap = ",".join(n.bootstrap for n in cluster.nodes if n.running())
    p = subprocess.run(["node", str(SCRIPT), bootstrap, *args], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=45, cwd=str(HERE.parent),
                       env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"))
    lines = p.stdout.strip().splitlines()
    assert p.returncode == 0 and lines, "node exited %d\nstdout: %s\nstderr: %s" % (
        p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return json.loads(lines[-1])


def alter(cluster, topic, moves):
    return kafkajs(cluster, "alter", json.dumps([{"topic": topic, "partitionAssignment": [
        {"partition": p, "replicas": r} for p, r in moves.items()]}]))


def ongoing(cluster, topic):
    out = kafkajs(cluster, "list", json.dumps([{"topic": topic, "partitions": [0, 1]}]))
    assert "error" not in out, out
    return {p["partition"]: p for t in out["topics"] for p in t["partitions"]}


def values(msgs):
    return sorted(int(m.value()[1:]) for m in msgs)


def test_reassignment_moves_and_adds_replicas_without_losing_records(cluster_factory):
    c = cluster_factory(3, settings=REPL)
    topic = create(c, "moving", 2, rf=1)
    before = partitions_of(c, topic)
    p0_old = before[0]["replica_nodes"][0]
    p1_old = before[1]["replica_nodes"][0]
    p0_new = [n for n in range(3) if n != p0_old]
    p1_new = [p1_old] + [n for n in range(3) if n != p1_old]
    p = producer(c.nodes[0], acks="all", **{"enable.idempotence": True, "message.timeout.ms": 30000})
    ok_reports(produce_all(p, topic, [{"value": b"v%d" % i, "partition": i % 2} for i in range(400)]))

    # Partition 0 leaves its broker for the two others (leadership must move); partition 1 gets
    # two more replicas. The third broker is down, so the reassignment of partition 1 cannot end.
    down = next(n for n in p1_new if n != p1_old and n in p0_new)
    c.nodes[down].kill9()
    alive = c.nodes[p1_old]
    c.wait_brokers(2, node=alive)  # fenced; kafkajs asks the controller Metadata names
    c.controller_id(node=alive, other_than=down)
    assert alter(c, topic, {0: [n for n in p0_new if n != down] + [down], 1: p1_new}) == {"ok": True}
    # Both are in progress: each waits for a replica on the broker that is down.
    now = wait_until(lambda: (lambda o: o if len(o) == 2 else None)(ongoing(c, topic)), 10,
                     what="both reassignments listed")
    assert down in now[0]["addingReplicas"] and p0_old in now[0]["removingReplicas"], now
    assert down in now[1]["addingReplicas"] and now[1]["removingReplicas"] == [], now
    assert set(now[1]["replicas"]) == {0, 1, 2}
    # Records keep flowing meanwhile.
    ok_reports(produce_all(p, topic, [{"value": b"v%d" % i, "partition": i % 2} for i in range(400, 800)]))

    c.nodes[down].start()
    wait_until(lambda: ongoing(c, topic) == {}, 60, what="the reassignments to end")

    def settled():
        ps = partitions_of(c, topic)
        ok = (sorted(ps[0]["replica_nodes"]) == sorted(p0_new) and sorted(ps[0]["isr_nodes"]) == sorted(p0_new)
              and ps[0]["leader_id"] in p0_new and sorted(ps[1]["isr_nodes"]) == [0, 1, 2])
        return ps if ok else None
    ps = wait_until(settled, 20, what="the new replicas in sync, partition 0 led by one of them")
    assert sorted(ps[1]["replica_nodes"]) == [0, 1, 2]
    # The old replica of partition 0 is gone from its broker.
    wait_until(lambda: not (c.nodes[p0_old].data_dir / ("%s-0" % topic)).exists(), 10,
               what="the old replica's directory removed")

    ok_reports(produce_all(p, topic, [{"value": b"v%d" % i, "partition": i % 2} for i in range(800, 1000)]))
    cons = consumer(c.nodes[p0_old])
    try:
        cons.assign([TopicPartition(topic, q, 0) for q in range(2)])
        msgs, _ = consume(cons, count=1000, timeout=30)
    finally:
        cons.close()
    assert values(msgs) == list(range(1000)), "lost or repeated records"
    # Every replica of partition 1 holds all of it: the new leader-to-be could serve it alone.
    for n in range(3):
        d = c.nodes[n].data_dir / ("%s-1" % topic)
        assert d.is_dir(), d


def test_reassignment_errors(cluster_factory):
    c = cluster_factory(3, settings=REPL)
    topic = create(c, "stay", 2, rf=2)
    bad = alter(c, topic, {0: [0, 7]})
    assert bad.get("type") == "INVALID_REPLICA_ASSIGNMENT", bad
    bad = alter(c, topic, {0: [1, 1]})
    assert bad.get("type") == "INVALID_REPLICA_ASSIGNMENT", bad
    missing = alter(c, "no-such-topic", {0: [0]})
    assert missing.get("type") == "UNKNOWN_TOPIC_OR_PARTITION", missing
    # Nothing in progress, and asking for the current replicas starts nothing.
    assert ongoing(c, topic) == {}
    current = partitions_of(c, topic)[0]["replica_nodes"]
    assert alter(c, topic, {0: current}) == {"ok": True}
    assert ongoing(c, topic) == {}
