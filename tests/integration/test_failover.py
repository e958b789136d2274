"""Failover at Kafka's default timings (heartbeat every 2 s, 9 s session): a leader killed with
kill -9 is fenced as soon as the controller sees its heartbeat connection close and its port
refuse connections, so produce resumes within 2 s; a paused broker, whose port still accepts,
keeps its whole session."""

import signal
import threading
import time

from clients import ok_reports, produce_all, producer
from cluster_harness import create, partitions_of, wait_isr

DEFAULTS = {"broker.heartbeat.interval.ms": 2000, "broker.session.timeout.ms": 9000,
            "controller.quorum.election.timeout.ms": 1000}


def test_produce_resumes_within_2s_of_a_leaders_kill9_at_default_settings(cluster_factory):
    # Leaders go back to their preferred replicas between rounds, so one leads on each node.
    c = cluster_factory(3, settings=dict(DEFAULTS, **{"leader.imbalance.check.interval.seconds": 1}))
    topic = create(c, "failover", 3)
    preferred = {p: part["replica_nodes"][0] for p, part in partitions_of(c, topic).items()}
    p = producer(c.nodes[0], **{"bootstrap.servers": c.bootstrap, "acks": "all", "linger.ms": 0,
                                "message.timeout.ms": 30000})
    ok_reports(produce_all(p, topic, [{"value": b"warm", "partition": i} for i in range(3)]))
    took = []
    for round_ in range(5):
        wait_isr(c, topic, 3, timeout=30)
        c.wait_leaders(topic, lambda l: l == preferred, timeout=30, what="preferred leaders")
        controller = c.controller_id()
        leaders = c.leaders(topic)
        part, victim_id = next((pt, l) for pt, l in sorted(leaders.items()) if l != controller)
        victim = c.nodes[victim_id]
        watcher = c.nodes[controller]
        victim.kill9()
        started = time.monotonic()
        ok_reports(produce_all(p, topic, [{"value": b"after kill %d" % round_, "partition": part}], timeout=30))
        took.append(time.monotonic() - started)
        new_leader = c.leaders(topic, node=watcher)[part]
        assert new_leader not in (-1, victim_id), new_leader
        victim.start()
        c.wait_brokers(3, timeout=30)
    print("produce resumed after kill -9 in (s):", ", ".join("%.2f" % t for t in took))
    assert max(took) < 2.0, took
    fenced_early = sum(n.log_text(all_runs=True).count("without waiting out its session") for n in c.nodes)
    assert fenced_early >= 5, fenced_early


def test_a_paused_broker_keeps_its_session(cluster_factory):
    c = cluster_factory(3, settings=DEFAULTS)
    controller = c.controller_id()
    paused = next(n for i, n in enumerate(c.nodes) if i != controller)
    paused.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(5)  # more than two heartbeats missed, less than the 9 s session
        assert len(c.metadata(c.nodes[controller])["brokers"]) == 3, "a live broker was fenced"
    finally:
        paused.proc.send_signal(signal.SIGCONT)
    c.wait_brokers(3)
    assert "without waiting out its session" not in c.nodes[controller].log_text()
