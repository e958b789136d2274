"""kafkajs 2.2.4 idempotent producer through kill -9 restarts of the broker, and kafkajs
transactions (commit, abort, sendOffsets) read back with read_committed and read_uncommitted
consumers (confluent-kafka)."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from clients import consume_partitions, create_topic, watermarks
from test_transactions import read_all

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "js" / "transactions.js"
KAFKAJS = HERE.parent / "node_modules" / "kafkajs"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node not installed"),
    pytest.mark.skipif(not KAFKAJS.is_dir(), reason="kafkajs not installed: cd tests && npm ci"),
]


def start_script(bootstrap, spec):
    return subprocess.Popen(["node", str(SCRIPT), bootstrap, json.dumps(spec)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(HERE.parent))


def finish(proc, timeout=130):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError("transactions.js did not finish\nstderr: %s" % err[-2000:])
    lines = out.strip().splitlines()
    assert proc.returncode == 0 and lines, "node exited %d\nstdout: %s\nstderr: %s" % (
        proc.returncode, out[-3000:], err[-3000:])
    return json.loads(lines[-1])


def test_kafkajs_idempotent_producer_through_kill9_restarts(broker):
    count, partitions = 6000, 2
    create_topic(broker, "kjs-idem", partitions)
    proc = start_script(broker.bootstrap, {"mode": "idempotent", "topic": "kjs-idem", "count": count,
                                           "partitions": partitions, "pauseMs": 25})
    try:
        for _ in range(3):
            time.sleep(1.0)
            broker.kill9()
            time.sleep(0.3)
            broker.start()
    finally:
        result = finish(proc)
    assert result == {"sent": count}
    for part in range(partitions):
        want = [b"%08d" % n for n in range(part, count, partitions)]
        msgs, errs = consume_partitions(broker, "kjs-idem", [part], timeout=60)
        assert not errs, errs[:3]
        got = [m.value() for m in msgs]
        assert got == want, "partition %d: %d read, %d sent, %d duplicated, %d missing" % (
            part, len(got), len(want), len(got) - len(set(got)), len(set(want) - set(got)))
        assert watermarks(broker, "kjs-idem", part)[1] == len(want)


def test_kafkajs_transactions_commit_abort_and_send_offsets(broker):
    create_topic(broker, "kjs-txn", 1)
    assert finish(start_script(broker.bootstrap, {"mode": "transactions", "topic": "kjs-txn", "group": "kjs-g"})) \
        == {"done": True}
    committed = [v for _, v in read_all(broker, "kjs-txn", [0], "read_committed", expect=15)]
    assert committed == [b"c1-%d" % i for i in range(10)] + [b"c3-%d" % i for i in range(5)]
    everything = [v for _, v in read_all(broker, "kjs-txn", [0], "read_uncommitted", expect=25)]
    assert everything == ([b"c1-%d" % i for i in range(10)] + [b"a2-%d" % i for i in range(10)]
                          + [b"c3-%d" % i for i in range(5)])
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "kjs-g", "enable.auto.commit": False})
    try:
        assert c.committed([TopicPartition("kjs-txn", 0)], timeout=10)[0].offset == 10
    finally:
        c.close()


def test_kafkajs_a_second_producer_fences_the_first(broker):
    create_topic(broker, "kjs-fence", 1)
    result = finish(start_script(broker.bootstrap, {"mode": "fence", "topic": "kjs-fence"}))
    assert result["zombieError"] in ("PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH"), result
    assert [v for _, v in read_all(broker, "kjs-fence", [0], "read_committed", expect=1)] == [b"live"]


def test_kafkajs_transaction_past_its_timeout_is_aborted(broker_factory):
    b = broker_factory("--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=200", name="kjs-timeout")
    create_topic(b, "kjs-timeout", 1)
    result = finish(start_script(b.bootstrap, {"mode": "timeout", "topic": "kjs-timeout"}))
    assert result["commitError"] in ("PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH"), result
    assert read_all(b, "kjs-timeout", [0], "read_committed", timeout=10) == []
    assert [v for _, v in read_all(b, "kjs-timeout", [0], "read_uncommitted", expect=1)] == [b"late"]
