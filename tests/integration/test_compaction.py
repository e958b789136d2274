"""Log compaction and DeleteRecords with real clients: a compacted topic keeps the last value of
every key (tombstones go after delete.retention.ms), keyless records are refused, the result
survives restarts, and DeleteRecords (kafkajs) moves the log start offset."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, TopicPartition

from fjord_harness import wait_until
from clients import consume, consume_partitions, consumer, create_topic, ok_reports, produce_all, producer, watermarks

HERE = Path(__file__).resolve().parent
KAFKAJS = HERE.parent / "node_modules" / "kafkajs"

KEYS = 1000
RECORDS = 100_000
TOMBSTONED = 100  # keys 0..99 end with a tombstone


@pytest.fixture
def cbroker(broker_factory):
    # Passes every 200 ms (Kafka's default backoff is 15 s).
    return broker_factory("--set", "log.cleaner.backoff.ms=200", "--set", "log.retention.check.interval.ms=200",
                          name="compaction")


def log_bytes(broker, topic, partition=0):
    d = Path(broker.data_dir) / ("%s-%d" % (topic, partition))
    return sum(p.stat().st_size for p in d.iterdir() if p.name.endswith(".log"))


def read_all(broker, topic):
    msgs, errors = consume_partitions(broker, topic, [0], start=0, timeout=30)
    assert not errors, errors
    return msgs


def test_compacted_topic_keeps_the_last_value_per_key(cbroker):
    b = cbroker
    topic = create_topic(b, "table", 1, {"cleanup.policy": "compact", "segment.bytes": "65536",
                                         "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "2000",
                                         "segment.ms": "1000"})
    records, last = [], {}
    for i in range(RECORDS):
        key = b"key-%04d" % (i * 7919 % KEYS)
        value = b"value-%06d" % i
        records.append({"key": key, "value": value})
        last[key] = (i, value)
    for k in range(TOMBSTONED):
        key = b"key-%04d" % k
        records.append({"key": key, "value": None})
        last[key] = (RECORDS + k, None)
    p = producer(b, acks="all", **{"compression.type": "lz4", "linger.ms": 20})
    reports = ok_reports(produce_all(p, topic, records, timeout=120))
    assert [r.offset for r in reports] == list(range(len(records)))
    # Only closed segments are cleaned: once segment.ms has passed, one more record rolls the
    # segment holding the rest.
    time.sleep(1.2)
    ok_reports(produce_all(p, topic, [{"key": b"roller", "value": b"r"}]))

    want = {k: v for k, (_, v) in last.items() if v is not None}
    want[b"roller"] = b"r"

    def compacted():
        msgs = read_all(b, topic)
        got = {m.key(): m.value() for m in msgs}
        return msgs if len(msgs) == len(want) and got == want else None

    msgs = wait_until(compacted, timeout=60, interval=0.2,
                      what="the topic compacted to the last value per key, tombstones gone")
    # Original offsets, in order, each the last record of its key.
    offsets = [m.offset() for m in msgs]
    assert offsets == sorted(offsets)
    for m in msgs[:-1]:
        assert m.offset() == last[m.key()][0]
    assert msgs[-1].offset() == len(records)
    # 100,000 records (over 2 MB as produced) became about 900 (a few tens of KB on disk).
    assert log_bytes(b, topic) < 100_000
    assert "compaction read" in b.log_text()

    # The log start is unchanged and the end offset stays.
    assert watermarks(b, topic, 0) == (0, len(records) + 1)

    # What compaction left survives a clean restart and a kill -9.
    b.restart()
    assert {m.key(): m.value() for m in read_all(b, topic)} == want
    b.kill9()
    b.start()
    assert {m.key(): m.value() for m in read_all(b, topic)} == want
    ok_reports(produce_all(producer(b), topic, [{"key": b"after", "value": b"restart"}]))
    assert watermarks(b, topic, 0)[1] == len(records) + 2


def test_compacted_topic_refuses_records_without_a_key(cbroker):
    topic = create_topic(cbroker, "keyed-only", 1, {"cleanup.policy": "compact"})
    p = producer(cbroker, retries=0)
    reports = produce_all(p, topic, [{"key": b"k", "value": b"v"}, {"value": b"no key"}])
    assert reports[0].err is None or reports[1].err is not None
    assert reports[1].err is not None and reports[1].err.code() == KafkaError.INVALID_RECORD, reports[1].err
    # The keyed record of a separate batch is stored.
    ok_reports(produce_all(p, topic, [{"key": b"k2", "value": b"v2"}]))
    keys = [m.key() for m in read_all(cbroker, topic)]
    assert b"k2" in keys and None not in keys


def run_delete_records(bootstrap, topic, partition, offset):
    p = subprocess.run(["node", str(HERE / "js" / "delete_records.js"), bootstrap, topic, str(partition), str(offset)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"))
    lines = p.stdout.strip().splitlines()
    assert p.returncode == 0 and lines, "node exited %d\nstdout: %s\nstderr: %s" % (p.returncode, p.stdout, p.stderr)
    return json.loads(lines[-1])


@pytest.mark.skipif(shutil.which("node") is None or not KAFKAJS.is_dir(), reason="kafkajs not installed")
def test_delete_records_with_kafkajs(cbroker):
    b = cbroker
    topic = create_topic(b, "trimmed", 1, {"segment.bytes": "16384"})
    recs = [{"key": b"k%d" % i, "value": b"%06d" % i * 100} for i in range(300)]
    ok_reports(produce_all(producer(b, **{"batch.num.messages": 5}), topic, recs))
    files_before = len(list((Path(b.data_dir) / "trimmed-0").glob("*.log")))

    assert run_delete_records(b.bootstrap, topic, 0, 250) == {"ok": True}
    assert watermarks(b, topic, 0) == (250, 300)
    assert len(list((Path(b.data_dir) / "trimmed-0").glob("*.log"))) < files_before
    msgs, errors = consume_partitions(b, topic, [0], start=250, timeout=20)
    assert not errors and [m.offset() for m in msgs] == list(range(250, 300))
    # Below the log start: OFFSET_OUT_OF_RANGE, which auto.offset.reset=error reports.
    c = consumer(b)
    try:
        c.assign([TopicPartition(topic, 0, 100)])
        _, errors = consume(c, timeout=10, stop_on_error=True)
    finally:
        c.close()
    assert errors and errors[0].code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE), errors
    # Past the high watermark: refused.
    out = run_delete_records(b.bootstrap, topic, 0, 301)
    assert out.get("type") == "OFFSET_OUT_OF_RANGE", out
    # The new log start survives a kill -9 (it was checkpointed before the answer).
    b.kill9()
    b.start()
    assert watermarks(b, topic, 0) == (250, 300)


def offsets_topic_bytes(broker):
    return sum(p.stat().st_size for d in Path(broker.data_dir).iterdir() if d.name.startswith("__consumer_offsets-")
               for p in d.iterdir() if p.name.endswith(".log"))


def test_a_million_committed_offsets_keep_the_offsets_topic_bounded(broker_factory):
    """__consumer_offsets is compacted: a group that commits 1,000,000 offsets (10,000 commits of
    100 partitions, about 100 MB of commit records) leaves a few MB on disk, and the last offset
    of every partition is what the group reads back, before and after a restart."""
    b = broker_factory("--set", "offsets.topic.num.partitions=2", "--set", "offsets.topic.segment.bytes=1048576",
                       "--set", "log.cleaner.backoff.ms=200", name="offsets-compaction")
    partitions = 100
    commits = 10_000
    topic = create_topic(b, "committed", partitions)
    c = consumer(b, **{"group.id": "million"})
    written = 0
    try:
        for i in range(commits):
            offsets = [TopicPartition(topic, p, i * partitions + p) for p in range(partitions)]
            # Asynchronous, with a synchronous one every 500 so that the client never runs far ahead.
            c.commit(offsets=offsets, asynchronous=(i % 500 != 499))
            written += partitions
        assert written == 1_000_000
        peak = offsets_topic_bytes(b)
        # Every commit was appended: a record per offset (the end offsets count them).
        appended = sum(watermarks(b, "__consumer_offsets", p)[1] for p in range(2))
        assert appended >= 1_000_000, appended
        # Bounded: about 60 bytes a record, 100 MB if nothing were removed; the cleaner keeps
        # the last commit per partition in closed segments, plus the open ones.
        bounded = wait_until(lambda: (lambda n: n if n < 4 * 1048576 else None)(offsets_topic_bytes(b)), 60,
                             interval=0.5, what="__consumer_offsets compacted below 4 MiB")
        last = {p: (commits - 1) * partitions + p for p in range(partitions)}

        def committed():
            got = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
            return {tp.partition: tp.offset for tp in got}

        assert committed() == last
    finally:
        c.close()
    b.restart()
    c = consumer(b, **{"group.id": "million"})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        assert {tp.partition: tp.offset for tp in got} == last
    finally:
        c.close()
    assert offsets_topic_bytes(b) < 4 * 1048576
    print("__consumer_offsets: %d records appended; %d bytes on disk at the end of the commits, %d once compacted"
          % (appended, peak, bounded))
