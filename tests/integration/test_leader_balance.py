"""Leaders go back to their preferred replicas (the first of each partition's replicas): by
themselves after a rolling restart (auto.leader.rebalance.enable, checked every
leader.imbalance.check.interval.seconds), or when asked with ElectLeaders (`fjord cluster
elect-leaders`), with Kafka's errors where no election is needed or possible."""

from clients import consume, consumer, ok_reports, produce_all, producer
from cluster_harness import REPL, create, partitions_of, wait_isr
from confluent_kafka import TopicPartition
from fjord_harness import run_fjord


def preferred(c, topic):
    return {p: part["replica_nodes"][0] for p, part in partitions_of(c, topic).items()}


def read_all(c, topic, partitions, count):
    cons = consumer(c.nodes[0], **{"bootstrap.servers": c.bootstrap})
    try:
        cons.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        msgs, _ = consume(cons, count=count, timeout=30)
        return sorted(m.value() for m in msgs)
    finally:
        cons.close()


def test_preferred_leaders_come_back_by_themselves_after_a_rolling_restart(cluster_factory):
    settings = dict(REPL, **{"leader.imbalance.check.interval.seconds": 1})
    c = cluster_factory(3, settings=settings)
    topic = create(c, "rolling", 6)
    want = preferred(c, topic)
    assert sorted(want.values()) == [0, 0, 1, 1, 2, 2], want  # placement spreads them
    assert c.leaders(topic) == want
    values = [b"r%03d" % i for i in range(120)]
    ok_reports(produce_all(producer(c.nodes[0], **{"bootstrap.servers": c.bootstrap, "acks": "all"}), topic,
                           [{"value": v, "partition": i % 6} for i, v in enumerate(values)]))
    for node in c.nodes:
        node.restart()  # SIGTERM: its leadership moves to other replicas first
        c.wait_brokers(3)
        wait_isr(c, topic, 3, timeout=30)  # back in sync before the next one goes
    c.wait_leaders(topic, lambda l: l == want, timeout=30, what="leaders back on their preferred replicas")
    assert read_all(c, topic, 6, len(values)) == values


def elect(c, *args):
    return run_fjord("cluster", "elect-leaders", "--brokers", c.bootstrap, *args, timeout=30)


def test_elect_leaders_on_request_and_its_errors(cluster_factory):
    c = cluster_factory(3, settings=dict(REPL, **{"auto.leader.rebalance.enable": "false"}))
    topic = create(c, "asked", 3)
    want = preferred(c, topic)
    victim = c.nodes[want[0]]
    victim.kill9()
    c.wait_leaders(topic, lambda l: l.get(0, -1) not in (-1, want[0]), what="a new leader for partition 0")
    # Its preferred replica is down: not available.
    r = elect(c, "--topic", topic, "--partition", "0")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "PREFERRED_LEADER_NOT_AVAILABLE" in r.stdout, r.stdout
    victim.start()
    c.wait_brokers(3)
    wait_isr(c, topic, 3, timeout=30)
    # Nothing moves it back by itself here.
    assert c.leaders(topic)[0] != want[0]
    r = elect(c, "--topic", topic)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 election(s) done, 0 failed" in r.stdout, r.stdout
    c.wait_leaders(topic, lambda l: l == want, what="preferred leaders")
    # Again: nothing to do, which is not a failure.
    r = elect(c, "--topic", topic)
    assert r.returncode == 0 and "not needed" in r.stdout, r.stdout
    # Every partition of the cluster: those not needing one are left out (as Kafka does).
    r = elect(c)
    assert r.returncode == 0 and "0 election(s) done, 0 failed" in r.stdout, r.stdout
    # Unclean elections only where there is no leader.
    r = elect(c, "--topic", topic, "--unclean")
    assert r.returncode == 0 and r.stdout.count("not needed") == 3, r.stdout
    # A partition that does not exist; sent to a node that is not the controller (forwarded).
    other = next(n for n in c.nodes if n is not c.controller())
    r = run_fjord("cluster", "elect-leaders", "--brokers", other.bootstrap, "--topic", topic, "--partition", "0,7",
                  timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    rows = {line.split()[1]: line for line in r.stdout.splitlines() if line.startswith(topic)}
    assert "not needed" in rows["0"] and "UNKNOWN_TOPIC_OR_PARTITION" in rows["7"], r.stdout


def test_elect_leaders_on_a_single_node(broker):
    from clients import create_topic
    create_topic(broker, "single", 2)
    r = run_fjord("cluster", "elect-leaders", "--brokers", broker.bootstrap, "--topic", "single")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("not needed") == 2, r.stdout
