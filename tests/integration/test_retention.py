"""Retention by size and by time: old segments go, the log start offset moves up, and
consumers asking for a deleted offset get OFFSET_OUT_OF_RANGE, which auto.offset.reset
resolves (earliest) or reports (error)."""

import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka.admin import ConfigResource

from fjord_harness import admin_client, result_of
from clients import (consume, consume_partitions, consumer, create_topic, ok_reports, produce_all, producer,
                     watermarks)

SEGMENT = 16384
RETAIN_BYTES = 32768
RECORDS = 300  # of ~1 KB: ~300 KB in all


@pytest.fixture
def rbroker(broker_factory):
    return broker_factory("--set", "log.retention.check.interval.ms=200", name="retention")


def segments(broker, topic, partition=0):
    """{base offset: size} of the partition's .log files."""
    d = Path(broker.data_dir) / ("%s-%d" % (topic, partition))
    return {int(p.name[:-4]): p.stat().st_size for p in d.iterdir() if p.name.endswith(".log")}


def fill(broker, topic):
    recs = [{"key": b"k%d" % i, "value": (b"%06d" % i) * 170} for i in range(RECORDS)]
    # Small batches (about 5 KB), so that segments of 16 KB hold several.
    p = producer(broker, acks="1", **{"batch.num.messages": 5, "linger.ms": 1})
    reports = ok_reports(produce_all(p, topic, recs))
    assert [r.offset for r in reports] == list(range(RECORDS))
    return reports


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("%s: not within %.0fs" % (what, timeout))
        time.sleep(0.05)


def test_retention_bytes_deletes_old_segments(rbroker):
    b = rbroker
    topic = create_topic(b, "ret-bytes", 1, {"segment.bytes": str(SEGMENT), "retention.bytes": str(RETAIN_BYTES)})
    fill(b, topic)
    # Before the next retention pass the whole log may still be there; within a few passes the
    # log shrinks to about retention.bytes.
    wait_for(lambda: watermarks(b, topic, 0)[0] > 0, 10, "log start offset moving up")
    segs = wait_for(lambda: (lambda s: s if sum(s.values()) <= RETAIN_BYTES + SEGMENT else None)(segments(b, topic)),
                    10, "log shrinking to retention.bytes")
    low, high = watermarks(b, topic, 0)
    assert high == RECORDS
    assert low == min(segs), (low, sorted(segs))  # the log starts at the oldest remaining segment
    assert low > 0 and len(segs) < 300 * 1024 // SEGMENT
    # Kafka deletes the oldest segments only while what is left is still >= retention.bytes.
    assert sum(segs.values()) >= RETAIN_BYTES, segs

    # A consumer asking for offset 0 is out of range: with auto.offset.reset=earliest it starts
    # at the new log start ...
    msgs, errors = consume_partitions(b, topic, [0], start=0, count=high - low,
                                      **{"auto.offset.reset": "earliest"})
    assert not errors, errors
    assert [m.offset() for m in msgs] == list(range(low, high))
    assert msgs[0].value() == (b"%06d" % low) * 170

    # ... and with auto.offset.reset=error it gets an error and no records.
    c = consumer(b, **{"auto.offset.reset": "error"})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        msgs, errors = consume(c, timeout=10, stop_on_error=True)
        assert msgs == []
        assert errors and errors[0].code() == KafkaError._AUTO_OFFSET_RESET, errors
        assert "out of range" in errors[0].str().lower(), errors[0].str()
    finally:
        c.close()


def test_retention_ms_deletes_old_segments(rbroker):
    b = rbroker
    # retention.ms drops to 1 s only once the log is filled and its segments counted, so a slow
    # fill cannot lose segments before they are counted.
    topic = create_topic(b, "ret-ms", 1, {"segment.bytes": str(SEGMENT), "retention.ms": "3600000"})
    fill(b, topic)
    before = len(segments(b, topic))
    assert before > 2
    admin = admin_client(b)
    altered = result_of(admin.alter_configs([ConfigResource(ConfigResource.Type.TOPIC, topic, set_config={
        "segment.bytes": str(SEGMENT), "retention.ms": "1000"})]))
    assert not any(isinstance(v, Exception) for v in altered.values()), altered
    wait_for(lambda: watermarks(b, topic, 0)[0] > 0, 10, "log start offset moving up")
    wait_for(lambda: len(segments(b, topic)) < before, 10, "segment files going")
    low, high = watermarks(b, topic, 0)
    assert high == RECORDS and 0 < low <= high

    msgs, errors = consume_partitions(b, topic, [0], start=0, **{"auto.offset.reset": "earliest"})
    assert not errors
    assert [m.offset() for m in msgs] == list(range(watermarks(b, topic, 0)[0], high))

    # Producing again works; offsets continue.
    (r,) = ok_reports(produce_all(producer(b), topic, [{"value": b"new"}]))
    assert r.offset == RECORDS


def test_retention_ms_expires_active_segment_too(rbroker):
    """Once every record is older than retention.ms, Kafka deletes every segment, the active
    one included (it rolls a new empty segment first: UnifiedLog.deleteSegments), so the log
    start offset reaches the end offset."""
    b = rbroker
    topic = create_topic(b, "ret-ms-all", 1, {"segment.bytes": str(SEGMENT), "retention.ms": "1000"})
    fill(b, topic)
    try:
        wait_for(lambda: watermarks(b, topic, 0) == (RECORDS, RECORDS), 8, "log start reaching the log end")
    except AssertionError as e:
        raise AssertionError("%s; watermarks %s, segments %s" % (e, watermarks(b, topic, 0),
                                                                 sorted(segments(b, topic).items()))) from None
    assert segments(b, topic) == {RECORDS: 0}
    (r,) = ok_reports(produce_all(producer(b), topic, [{"value": b"new"}]))
    assert r.offset == RECORDS
