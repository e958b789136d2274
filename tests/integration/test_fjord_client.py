"""The `fjord` client commands (librdkafka underneath): topic admin, produce | consume round
trips, and one clear error line with a non-zero exit when no broker answers."""

import socket
import subprocess
import time

from fjord_harness import FJORD_BIN, broker_env, run_fjord


def fjord(broker, *args, input_text=None, timeout=30):
    cmd = [FJORD_BIN, *args, "--brokers", broker.bootstrap]
    return subprocess.run(cmd, input=input_text, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, env=broker_env())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_topic_commands(broker):
    r = fjord(broker, "topic", "create", "cli-topic", "-p", "3", "-c", "retention.ms=3600000")
    assert r.returncode == 0, r.stderr
    assert "created topic cli-topic" in r.stdout
    r = fjord(broker, "topic", "create", "cli-topic", "-p", "3")
    assert r.returncode != 0 and "already exists" in r.stderr
    r = fjord(broker, "topic", "list")
    assert r.returncode == 0 and "cli-topic" in r.stdout.split()
    r = fjord(broker, "topic", "describe", "cli-topic")
    assert r.returncode == 0, r.stderr
    assert "partitions 3" in r.stdout
    assert "retention.ms=3600000  (topic)" in r.stdout
    r = fjord(broker, "topic", "alter-config", "cli-topic", "--set", "segment.bytes=1048576", "--delete", "retention.ms")
    assert r.returncode == 0, r.stderr
    r = fjord(broker, "topic", "describe", "cli-topic")
    assert "segment.bytes=1048576  (topic)" in r.stdout
    assert "retention.ms=604800000\n" in r.stdout  # back to the default
    r = fjord(broker, "topic", "alter-config", "cli-topic", "--set", "retention.ms=soon")
    assert r.returncode != 0 and r.stderr.startswith("error:")
    r = fjord(broker, "topic", "delete", "cli-topic")
    assert r.returncode == 0 and "deleted topic cli-topic" in r.stdout
    r = fjord(broker, "topic", "describe", "cli-topic")
    assert r.returncode != 0 and r.stderr.startswith("error:")


def test_produce_consume_round_trip(broker):
    assert fjord(broker, "topic", "create", "lines", "-p", "4").returncode == 0
    lines = ["key%d:value %d" % (i % 7, i) for i in range(500)]
    r = fjord(broker, "produce", "lines", "-K", ":", "-H", "origin=test", "-z", "lz4", input_text="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    r = fjord(broker, "consume", "lines", "--from-beginning", "-e", "-f", "%k|%v|%p|%o|%h\\n")
    assert r.returncode == 0, r.stderr
    rows = [line.split("|") for line in r.stdout.splitlines()]
    assert len(rows) == 500
    assert sorted(f"{k}:{v}" for k, v, *_ in rows) == sorted(lines)
    partition_of_key = {}
    for k, v, p, o, h in rows:
        assert h == "origin=test"
        assert partition_of_key.setdefault(k, p) == p, "a key landed in two partitions"
    # Per partition, offsets are 0..n-1 in order and values keep the produce order.
    by_partition = {}
    for k, v, p, o, h in rows:
        by_partition.setdefault(p, []).append((int(o), int(v.split()[1])))
    for p, entries in by_partition.items():
        assert [o for o, _ in entries] == list(range(len(entries)))
        assert [n for _, n in entries] == sorted(n for _, n in entries)

    r = fjord(broker, "consume", "lines", "-n", "3", "--from-beginning", "-f", "%v\\n")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 3
    # From an offset, in one partition.
    r = fjord(broker, "consume", "lines", "-p", "0", "--offset", "2", "-e", "-f", "%o\\n")
    assert r.returncode == 0
    offsets = [int(x) for x in r.stdout.split()]
    assert offsets and offsets[0] == 2
    # From the end: nothing old.
    r = fjord(broker, "consume", "lines", "--from-end", "-e")
    assert r.returncode == 0 and r.stdout == ""


def test_consume_from_timestamp(broker):
    assert fjord(broker, "topic", "create", "timed", "-p", "1").returncode == 0
    assert fjord(broker, "produce", "timed", input_text="old\n").returncode == 0
    time.sleep(0.05)
    cut = int(time.time() * 1000)
    time.sleep(0.05)
    assert fjord(broker, "produce", "timed", input_text="new1\nnew2\n").returncode == 0
    r = fjord(broker, "consume", "timed", "--timestamp", str(cut), "-e")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["new1", "new2"]


def test_unreachable_broker_is_one_clear_error():
    port = free_port()
    for args, stdin in ((["produce", "t"], "x\n"), (["consume", "t", "-e"], None), (["topic", "list"], None)):
        r = subprocess.run([FJORD_BIN, *args, "--brokers", f"127.0.0.1:{port}", "--timeout-ms", "1500"],
                           input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30,
                           env=broker_env())
        assert r.returncode != 0, args
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith("error:") and f"127.0.0.1:{port}" in lines[0]


def test_rejected_records_are_an_error(broker):
    assert fjord(broker, "topic", "create", "tiny", "-p", "1", "-c", "max.message.bytes=200").returncode == 0
    r = fjord(broker, "produce", "tiny", input_text="x" * 1000 + "\n")
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "not delivered" in lines[0], r.stderr


def test_client_usage_errors():
    r = run_fjord("produce")
    assert r.returncode != 0
    r = run_fjord("consume", "t", "--from-end", "--offset", "3")
    assert r.returncode != 0


def test_produce_to_a_missing_topic_prints_the_brokers_error(broker_factory):
    b = broker_factory("--set", "auto.create.topics.enable=false")
    started = time.monotonic()
    r = fjord(b, "produce", "no-such-topic", input_text="one\n")
    assert r.returncode != 0
    assert "UNKNOWN_TOPIC_OR_PART" in r.stderr and "no-such-topic" in r.stderr, r.stderr
    assert time.monotonic() - started < 10, "it should not wait out the delivery timeout"


def test_describe_shows_where_configs_come_from_and_the_high_watermark(broker_factory):
    from confluent_kafka import Producer

    b = broker_factory("--set", "log.segment.bytes=2097152")
    assert fjord(b, "topic", "create", "sources", "-p", "1", "-c", "retention.ms=3600000").returncode == 0
    p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "describe-txn", "linger.ms": 0})
    p.init_transactions(20)
    p.begin_transaction()
    p.produce("sources", b"committed", partition=0)
    p.commit_transaction(20)  # offsets 0 (the record) and 1 (its commit marker)
    p.begin_transaction()
    for i in range(3):
        p.produce("sources", b"open %d" % i, partition=0)
    p.flush(20)
    try:
        r = fjord(b, "topic", "describe", "sources")
        assert r.returncode == 0, r.stderr
        assert "retention.ms=3600000  (topic)" in r.stdout, r.stdout
        assert "segment.bytes=2097152  (broker)" in r.stdout, r.stdout
        assert "cleanup.policy=delete\n" in r.stdout, r.stdout  # Kafka's default: no mark
        # The open transaction's records are below the high watermark, above the last stable offset.
        (line,) = [l for l in r.stdout.splitlines() if "partition 0" in l]
        fields = line.split()
        end = int(fields[fields.index("end") + 1])
        stable = int(fields[fields.index("stable") + 1])
        assert end == 5 and stable == 2, line
    finally:
        p.abort_transaction(20)
