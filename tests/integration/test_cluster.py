"""Several Fjord nodes as one cluster (cluster_harness.py): a Raft controller quorum over every
node, brokers that register and heartbeat, partitions spread over the brokers, leaders elected
when a broker dies and back when it returns. Real clients (confluent-kafka, kcat, kafkajs) find
the leaders themselves.

Topics here have one replica per partition (test_replication.py covers replicated ones): a dead
broker's partitions are offline (LEADER_NOT_AVAILABLE) until it returns, with nothing lost."""

import shutil
import subprocess
import time

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import ConfigResource, NewTopic

import kafka_raw as kr
from clients import consume, consumer, ok_reports, produce_all, producer
from fjord_harness import Broker, admin_client, partition_dirs, result_of, wait_until

INVALID_REPLICATION_FACTOR = 38
LEADER_NOT_AVAILABLE = 5


def create(cluster, name, partitions):
    """Creates a topic with confluent-kafka's admin client (it sends CreateTopics to the controller)."""
    admin = admin_client(cluster)
    res = result_of(admin.create_topics([NewTopic(name, partitions, 1)], request_timeout=15))
    assert res[name] is None, res
    cluster.wait_leaders(name, lambda l: len(l) == partitions and all(v >= 0 for v in l.values()),
                         what="leaders of %s" % name)
    return name


def keyed(n, prefix="k"):
    return [{"key": ("%s%d" % (prefix, i % 97)).encode(), "value": b"v%d" % i} for i in range(n)]


def check_order(msgs, n):
    """Every value once; per key, in the order produced."""
    values = sorted(int(m.value()[1:]) for m in msgs)
    assert values == list(range(n)), "missing or duplicate records: %d of %d" % (len(set(values)), n)
    last = {}
    for m in msgs:
        v = int(m.value()[1:])
        assert last.get(m.key(), -1) < v, "out of order for key %r" % m.key()
        last[m.key()] = v


def test_nodes_form_one_cluster(cluster_factory):
    c = cluster_factory(3)
    seen = []
    for n in c.nodes:
        md = c.metadata(n)
        brokers = {b["node_id"]: (b["host"], b["port"]) for b in md["brokers"]}
        assert brokers == {i: ("127.0.0.1", node.port) for i, node in enumerate(c.nodes)}, md["brokers"]
        seen.append((md["cluster_id"], md["controller_id"]))
    # Every node names the same cluster and the same controller.
    assert len(set(seen)) == 1 and seen[0][1] in (0, 1, 2) and seen[0][0], seen
    # kcat sees the same.
    if shutil.which("kcat"):
        out = subprocess.run(["kcat", "-b", c.nodes[2].bootstrap, "-L"], capture_output=True, text=True, timeout=20)
        assert out.returncode == 0 and "3 brokers" in out.stdout, out.stdout + out.stderr
    # A normal start says nothing alarming: no error line, and new data dirs are not "unclean".
    for n in c.nodes:
        text = n.log_text()
        assert "[error]" not in text, text
        assert "unclean" not in text, text


def test_partitions_spread_and_clients_follow_their_leaders(cluster_factory):
    c = cluster_factory(3)
    topic = create(c, "spread", 6)
    leaders = c.leaders(topic)
    assert sorted(leaders.values()) == [0, 0, 1, 1, 2, 2], leaders
    # Each node keeps only the partitions it leads (made as each node applies the records).
    def placed():
        return all(partition_dirs(n.data_dir, topic) == ["%s-%d" % (topic, p) for p in sorted(leaders) if leaders[p] == i]
                   for i, n in enumerate(c.nodes))
    wait_until(placed, 10, what="partition directories on their leaders")
    # confluent-kafka, bootstrapped from one node, idempotent, acks=all.
    n = 3000
    p = producer(c.nodes[1], **{"enable.idempotence": True})
    ok_reports(produce_all(p, topic, keyed(n)))
    # A consumer group bootstrapped from another node; its coordinator is wherever its
    # __consumer_offsets partition leads.
    cons = consumer(c.nodes[2], **{"group.id": "spread-readers", "auto.offset.reset": "earliest",
                                   "enable.auto.commit": True, "enable.auto.offset.store": True})
    try:
        cons.subscribe([topic])
        msgs, errors = consume(cons, count=n, timeout=60)
        assert not errors, errors[:3]
        check_order(msgs, n)
        cons.commit(asynchronous=False)
    finally:
        cons.close()
    # The group resumes from its committed offsets: nothing left to read.
    cons = consumer(c.nodes[0], **{"group.id": "spread-readers", "auto.offset.reset": "earliest"})
    try:
        cons.subscribe([topic])
        more, _ = consume(cons, timeout=6, idle=4)
        assert more == [], "re-read %d records after committing" % len(more)
    finally:
        cons.close()


def test_kafkajs_and_kcat_across_brokers(cluster_factory):
    from test_kafkajs_produce_consume import KAFKAJS, run_script

    if shutil.which("node") is None or not KAFKAJS.is_dir():
        pytest.skip("kafkajs not installed: cd tests && npm ci")
    c = cluster_factory(3)
    topic = create(c, "js-spread", 3)
    assert sorted(c.leaders(topic).values()) == [0, 1, 2]
    out = run_script(c.nodes[0].bootstrap, {"cases": [{"topic": topic, "acks": -1, "compression": "none",
                                                        "count": 1500, "baseTs": int(time.time() * 1000)}]})
    assert "error" not in out, out
    (res,) = out["cases"]
    assert all(r["errorCode"] == 0 for r in res["produced"])
    assert len(res["fetched"]) == 1500
    assert {r["partition"] for r in res["fetched"]} == {0, 1, 2}
    if shutil.which("kcat"):
        got = subprocess.run(["kcat", "-b", c.nodes[2].bootstrap, "-C", "-t", topic, "-e", "-q", "-f", "%p\n"],
                             capture_output=True, text=True, timeout=30)
        assert got.returncode == 0, got.stderr
        assert len(got.stdout.split()) == 1500


def test_a_killed_broker_is_fenced_and_its_partitions_return_with_it(cluster_factory):
    c = cluster_factory(3)
    topic = create(c, "fence", 3)
    leaders = c.leaders(topic)
    ok_reports(produce_all(producer(c.nodes[0]), topic, [{"value": b"v%d" % i, "partition": i % 3} for i in range(300)]))
    ctl = c.controller_id()
    victim_id = next(i for i in range(3) if i != ctl)
    victim = c.nodes[victim_id]
    (lost,) = [p for p, l in leaders.items() if l == victim_id]
    victim.kill9()
    t0 = time.monotonic()
    other = next(n for n in c.nodes if n is not victim)
    c.wait_brokers(2, node=other, timeout=10)
    fenced_after = time.monotonic() - t0
    (t,) = c.metadata(other, [topic])["topics"]
    part = {p["partition_index"]: p for p in t["partitions"]}[lost]
    assert (part["error_code"], part["leader_id"], part["offline_replicas"]) == (LEADER_NOT_AVAILABLE, -1, [victim_id]), part
    # broker.session.timeout.ms is 1 s here: fenced well within a few seconds.
    assert fenced_after < 6, fenced_after
    # The other partitions go on taking records.
    alive = [p for p in range(3) if p != lost]
    ok_reports(produce_all(producer(other), topic, [{"value": b"more", "partition": p} for p in alive]))
    victim.start()
    c.wait_brokers(3)
    c.wait_leaders(topic, lambda l: l[lost] == victim_id, what="leader of the returned partition")
    cons = consumer(other)
    try:
        cons.assign([TopicPartition(topic, lost, 0)])
        msgs, errors = consume(cons, count=100, timeout=30)
        assert [m.value() for m in msgs] == [b"v%d" % i for i in range(lost, 300, 3)]
    finally:
        cons.close()


def test_controller_failover(cluster_factory):
    c = cluster_factory(3)
    old = c.controller()
    old_id = c.nodes.index(old)
    old.kill9()
    others = [n for n in c.nodes if n is not old]
    new_id = c.controller_id(node=others[0], other_than=old_id)
    assert new_id != old_id
    c.wait_brokers(2, node=others[0])
    # The new controller takes metadata changes; both remaining nodes see them.
    admin = admin_client(others[1])
    res = result_of(admin.create_topics([NewTopic("after-failover", 2, 1)], request_timeout=15))
    assert res["after-failover"] is None, res
    for n in others:
        wait_until(lambda: c.metadata(n, ["after-failover"])["topics"][0]["error_code"] == 0, 10,
                   what="the topic on node %s" % n.name)
    old.start()
    c.wait_brokers(3)
    # The returning node catches up with what it missed.
    wait_until(lambda: c.metadata(old, ["after-failover"])["topics"][0]["error_code"] == 0, 10,
               what="the topic on the returned node")


def test_replication_factor_is_checked(cluster_factory):
    c = cluster_factory(3)
    with kr.Conn.to(c.controller().bootstrap) as conn:
        (too_many,) = conn.create_topics([{"name": "rf4", "num_partitions": 1, "replication_factor": 4}])["topics"]
        (two,) = conn.create_topics([{"name": "rf2", "num_partitions": 1, "replication_factor": 2}])["topics"]
    assert too_many["error_code"] == INVALID_REPLICATION_FACTOR, too_many
    assert "only 3 broker(s)" in too_many["error_message"], too_many
    assert two["error_code"] == 0, two
    # Other nodes apply the new topic a Raft heartbeat later.
    parts = wait_until(lambda: c.metadata(None, ["rf2"])["topics"][0]["partitions"], 10, what="rf2's partition")
    assert len(parts[0]["replica_nodes"]) == 2, parts


def test_non_controller_nodes_forward_to_the_controller(cluster_factory):
    c = cluster_factory(3)
    ctl = c.controller()
    follower = next(n for n in c.nodes if n is not ctl)
    with kr.Conn.to(follower.bootstrap) as conn:
        # Admin requests sent to any broker reach the controller (Kafka's forwarding, KIP-590).
        (t,) = conn.create_topics([{"name": "direct", "num_partitions": 2}])["topics"]
        assert t["error_code"] == 0, t
        wait_until(lambda: conn.metadata(["direct"], allow_auto_topic_creation=False)["topics"][0]["error_code"] == 0,
                   10, what="the forwarded topic")
        # Auto-creation from Metadata on a non-controller goes through the controller.
        conn.metadata(["auto-made"], allow_auto_topic_creation=True)
        wait_until(lambda: conn.metadata(["auto-made"], allow_auto_topic_creation=False)["topics"][0]["error_code"] == 0,
                   10, what="auto-made topic")
        # Topic configs changed through a non-controller (kafka-python sends AlterConfigs to any
        # broker).
        from kafka.admin import ConfigResource as KafkaPythonResource, ConfigResourceType, KafkaAdminClient

        kadmin = KafkaAdminClient(bootstrap_servers=follower.bootstrap, request_timeout_ms=15000)
        try:
            kadmin.alter_configs([KafkaPythonResource(ConfigResourceType.TOPIC, "direct", configs={"retention.ms": "123456"})])
        finally:
            kadmin.close()
        cadmin = admin_client(ctl)
        res = result_of(cadmin.describe_configs([ConfigResource("topic", "direct")]))
        (configs,) = res.values()
        assert not isinstance(configs, Exception), configs
        assert configs["retention.ms"].value == "123456", configs["retention.ms"]
        # Producer ids come in blocks from the controller.
        ids = {conn.init_producer_id()["producer_id"] for _ in range(3)}
    with kr.Conn.to(ctl.bootstrap) as conn:
        ids |= {conn.init_producer_id()["producer_id"] for _ in range(3)}
    assert len(ids) == 6 and all(i >= 0 for i in ids), ids


def test_a_quorum_without_a_majority_waits_and_says_why(cluster_factory):
    c = cluster_factory(3, start=False)
    c.nodes[0].start(wait=False)
    c.nodes[0].wait_for_log(r"waiting for the metadata quorum", timeout=10)
    assert "ready" not in c.nodes[0].log_text()
    c.nodes[1].start(wait=False)
    for n in c.nodes[:2]:
        n.wait_ready(timeout=20)
    c.wait_brokers(2)


def test_a_second_process_with_a_taken_node_id_is_refused(cluster_factory, tmp_path):
    c = cluster_factory(3)
    clash = Broker(tmp_path / "clash", c.args(1, 1), name="clash")
    clash.start(wait=False)
    rc = clash.proc.wait(timeout=20)
    clash.kill9()  # reaped; no exit-code check for this one
    assert rc != 0
    text = clash.log_text()
    assert "node.id" in text or "address already in use" in text.lower(), text[-2000:]
    c.wait_brokers(3)


def test_controlled_shutdown_fences_at_once(cluster_factory):
    # A long session timeout: only the controlled shutdown can explain a quick fence.
    c = cluster_factory(3, settings={"broker.session.timeout.ms": 30000})
    topic = create(c, "leaving", 3)
    ctl = c.controller_id()
    leaving_id = next(i for i in range(3) if i != ctl)
    (lost,) = [p for p, l in c.leaders(topic).items() if l == leaving_id]
    t0 = time.monotonic()
    assert c.nodes[leaving_id].stop() == 0
    c.nodes[leaving_id].wait_for_log(r"left the cluster", timeout=1)
    other = c.nodes[ctl]
    c.wait_brokers(2, node=other, timeout=5)
    assert time.monotonic() - t0 < 10
    assert c.leaders(topic, node=other)[lost] == -1


def test_cli_describes_the_cluster_and_topic_placement(cluster_factory):
    from fjord_harness import run_fjord

    c = cluster_factory(3)
    topic = create(c, "placed", 3)
    out = run_fjord("cluster", "describe", "-b", c.nodes[0].bootstrap)
    assert out.returncode == 0, out.stderr
    assert "controller: %d" % c.controller_id() in out.stdout, out.stdout
    for i, n in enumerate(c.nodes):
        assert any(l.split()[:4] == [str(i), "alive", "127.0.0.1", str(n.port)] for l in out.stdout.splitlines()), out.stdout
    assert "0 offline, 0 under-replicated" in out.stdout, out.stdout
    out = run_fjord("topic", "describe", topic, "-b", c.nodes[1].bootstrap)
    assert out.returncode == 0, out.stderr
    leaders = c.leaders(topic)
    for p, l in leaders.items():
        assert "partition %d  leader %d  replicas %d  isr %d" % (p, l, l, l) in out.stdout, out.stdout
    # One broker gone: its partition shows as offline.
    victim = next(i for i in range(3) if i != c.controller_id())
    c.nodes[victim].kill9()
    c.wait_brokers(2, node=c.nodes[c.controller_id()])
    out = run_fjord("cluster", "describe", "-b", c.nodes[c.controller_id()].bootstrap)
    assert "1 offline, 0 under-replicated" in out.stdout, out.stdout
    # The dead broker is still listed, as down.
    assert any(l.split()[:3] == [str(victim), "fenced", "(down)"] for l in out.stdout.splitlines()), out.stdout
    # No quorum: said so. (With two of three voters gone the last one cannot lead.)
    other = next(i for i in range(3) if i not in (victim, c.controller_id()))
    last = c.controller_id()
    c.nodes[other].kill9()
    def says_no_quorum():
        o = run_fjord("cluster", "describe", "-b", c.nodes[last].bootstrap)
        return o.stdout if "the metadata quorum has no leader" in o.stdout else None
    out = wait_until(says_no_quorum, timeout=20, what="cluster describe saying there is no quorum")
    assert "(as last known: no quorum)" in out, out


def test_topic_growth_and_deletion_reach_every_node(cluster_factory):
    c = cluster_factory(3)
    topic = create(c, "lifecycle", 2)
    admin = admin_client(c)
    from confluent_kafka.admin import NewPartitions

    res = result_of(admin.create_partitions([NewPartitions(topic, 6)], request_timeout=15))
    assert res[topic] is None, res
    leaders = c.wait_leaders(topic, lambda l: len(l) == 6 and all(v >= 0 for v in l.values()), what="6 leaders")
    assert set(leaders.values()) == {0, 1, 2}, leaders

    def placed():
        return all(partition_dirs(n.data_dir, topic) == ["%s-%d" % (topic, p) for p in sorted(leaders) if leaders[p] == i]
                   for i, n in enumerate(c.nodes))
    wait_until(placed, 10, what="partition directories on their leaders")
    res = result_of(admin.delete_topics([topic], operation_timeout=15, request_timeout=15))
    assert res[topic] is None, res
    for n in c.nodes:
        wait_until(lambda: not partition_dirs(n.data_dir, topic), 10, what="%s's directories gone" % n.name)


def test_transactions_span_brokers(cluster_factory):
    """A transactional producer writing to partitions led by three brokers, with its consumer
    group's offsets in the transaction: markers reach the other brokers (WriteTxnMarkers), and
    they check their batches with the coordinator elsewhere (AddPartitionsToTxn v4)."""
    from confluent_kafka import Producer

    c = cluster_factory(3, settings={"transaction.state.log.num.partitions": 3, "offsets.topic.num.partitions": 3})
    out = create(c, "txn-out", 3)
    src = create(c, "txn-in", 1)
    assert sorted(c.leaders(out).values()) == [0, 1, 2]
    ok_reports(produce_all(producer(c.nodes[0]), src, [{"value": b"in%d" % i} for i in range(10)]))
    group = "txn-group"
    cons = consumer(c.nodes[1], **{"group.id": group, "auto.offset.reset": "earliest"})
    p = Producer({"bootstrap.servers": c.nodes[2].bootstrap, "transactional.id": "spanning", "linger.ms": 5})
    try:
        p.init_transactions(20)
        cons.subscribe([src])
        msgs, _ = consume(cons, count=10, timeout=30)
        for commit in (False, True):
            p.begin_transaction()
            for i in range(300):
                p.produce(out, value=b"%s-%d" % (b"commit" if commit else b"abort", i), partition=i % 3)
            positions = [TopicPartition(src, 0, 10)]
            p.send_offsets_to_transaction(positions, cons.consumer_group_metadata(), 20)
            if commit:
                p.commit_transaction(20)
            else:
                p.abort_transaction(20)
    finally:
        cons.close()
    reader = consumer(c.nodes[0], **{"isolation.level": "read_committed"})
    try:
        reader.assign([TopicPartition(out, p, 0) for p in range(3)])
        got, errors = consume(reader, count=300, timeout=30)
        assert not errors, errors[:3]
        assert sorted(m.value() for m in got) == sorted(b"commit-%d" % i for i in range(300))
        extra, _ = consume(reader, timeout=3, idle=2)
        assert extra == []
    finally:
        reader.close()
    # The group's committed offset is the one sent with the committed transaction.
    check = consumer(c.nodes[2], **{"group.id": group})
    try:
        (tp,) = check.committed([TopicPartition(src, 0)], timeout=10)
        assert tp.offset == 10, tp
    finally:
        check.close()
