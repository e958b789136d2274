"""Produce and consume with confluent-kafka (librdkafka 2.0.2): every compression codec with
acks=1 and acks=all, null keys, consuming from the beginning / an offset / a timestamp / the
end, oversized records, acks=0, and the Fetch long poll.

Consumers use assign() (no consumer groups in Fjord yet): see clients.py."""

import os
import threading
import time

import pytest
from confluent_kafka import (OFFSET_BEGINNING, OFFSET_END, TIMESTAMP_CREATE_TIME, KafkaError,
                             TopicPartition)

import kafka_raw as kr
from clients import (CODEC_IDS, by_partition, consume, consume_partitions, consumer, create_topic,
                     now_ms, ok_reports, produce_all, producer, stored_batches, watermarks)

N = 10_000
PARTITIONS = 6
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def make_records(codec, n=N, base_ts=None):
    """n records: 257 distinct keys, values of varying size (compressible), four headers (two
    sharing a name, an empty one every 100th) and explicit CreateTime timestamps base_ts + i.

    No null header values here: confluent-kafka 1.7.0 mis-counts references to None for them
    and the interpreter aborts at exit ("none_dealloc"); test_raw_gzip_batch_roundtrip covers
    null header values."""
    base_ts = base_ts if base_ts is not None else now_ms() - 3_600_000
    recs = []
    for i in range(n):
        recs.append({
            "key": b"key-%03d" % (i % 257),
            "value": b"%s-%06d-" % (codec.encode(), i) + b"abcdefghij" * (i % 23),
            "headers": [("seq", b"%d" % i), ("dup", b"first"), ("dup", b"second"),
                        ("empty", b"") if i % 100 == 0 else ("codec", codec.encode())],
            "timestamp": base_ts + i,
        })
    return recs


def check_consumed_matches(msgs, reports, records):
    """msgs are exactly the delivered records: per partition offsets 0..n-1 in produce order,
    with the key, value, headers and CreateTime timestamp that were produced."""
    delivered = {}
    for r in reports:
        delivered.setdefault(r.partition, []).append(r)
    got = by_partition(msgs)
    assert sorted(got) == sorted(delivered), (sorted(got), sorted(delivered))
    for p, reps in delivered.items():
        reps.sort(key=lambda r: r.seq)
        # Offsets are assigned in produce order, densely from 0 (empty topic, no retries).
        assert [r.offset for r in reps] == list(range(len(reps))), "partition %d delivery offsets" % p
        ms = got[p]
        assert [m.offset() for m in ms] == list(range(len(reps))), "partition %d consumed offsets" % p
        for m, r in zip(ms, reps):
            rec = records[r.seq]
            where = (p, m.offset(), r.seq)
            assert m.key() == rec.get("key"), where
            assert m.value() == rec["value"], where
            assert m.headers() == (rec.get("headers") or None), (where, m.headers())
            assert m.timestamp() == (TIMESTAMP_CREATE_TIME, rec["timestamp"]), (where, m.timestamp())
    return delivered


@pytest.mark.parametrize("acks", ["1", "all"])
@pytest.mark.parametrize("codec", CODECS)
def test_codec_acks_roundtrip(broker, codec, acks):
    """10,000 records through librdkafka with compression.type=codec and back. (Whether
    librdkafka really compresses is test_librdkafka_sends_batches_in_codec's business.)"""
    topic = create_topic(broker, "pc-%s-%s" % (codec, acks), PARTITIONS)
    records = make_records(codec)
    p = producer(broker, **{"compression.type": codec, "acks": acks, "linger.ms": 20,
                            "batch.num.messages": 2000})
    reports = ok_reports(produce_all(p, topic, records))
    for rec, r in zip(records, reports):
        assert r.timestamp == (TIMESTAMP_CREATE_TIME, rec["timestamp"])

    # The same key always lands in the same partition.
    parts_of_key = {}
    for r in reports:
        parts_of_key.setdefault(r.key, set()).add(r.partition)
    spread = {k: ps for k, ps in parts_of_key.items() if len(ps) != 1}
    assert not spread, "keys in several partitions: %r" % list(spread.items())[:5]
    assert len({r.partition for r in reports}) > 1  # 257 keys hash over several partitions

    msgs, errors = consume_partitions(broker, topic, range(PARTITIONS), start=0, count=N, timeout=60)
    assert not errors, errors[:5]
    assert len(msgs) == N
    delivered = check_consumed_matches(msgs, reports, records)
    # Nothing beyond what was acknowledged.
    for part in range(PARTITIONS):
        assert watermarks(broker, topic, part) == (0, len(delivered.get(part, []))), part


@pytest.mark.parametrize("codec", CODECS)
def test_librdkafka_sends_batches_in_codec(broker, codec):
    """The batches librdkafka sends (and Fjord stores as they are) carry the codec asked for.

    librdkafka <= 2.x compresses gzip/snappy/lz4 only if the broker's ApiVersions lists
    Produce v0 (librdkafka#4956; Kafka 4.0 still advertises Produce v0-v2 for that reason,
    KAFKA-18659), and lz4 only if it lists FindCoordinator v0; otherwise it silently sends
    the batch uncompressed."""
    topic = create_topic(broker, "pc-wire-%s" % codec, 1)
    recs = [{"key": b"k%d" % i, "value": b"compressible value %d " % i * 10} for i in range(500)]
    p = producer(broker, **{"compression.type": codec, "linger.ms": 50, "batch.num.messages": 100})
    ok_reports(produce_all(p, topic, recs))
    batches = stored_batches(broker, topic, 0)
    assert batches and batches[-1][1] == 499
    codecs = sorted({a & 7 for _, _, a in batches})
    assert codecs == [CODEC_IDS[codec]], (
        "compression.type=%s: stored batches have codec ids %s, expected %d (librdkafka falls back to "
        "uncompressed when ApiVersions does not list Produce v0%s)"
        % (codec, codecs, CODEC_IDS[codec], " and FindCoordinator v0" if codec == "lz4" else ""))


def test_null_keys_spread_over_partitions(broker):
    topic = create_topic(broker, "pc-nullkeys", PARTITIONS)
    n = 3000
    recs = [{"value": b"v%d" % i, "timestamp": now_ms()} for i in range(n)]
    # Sticky partitioning off: librdkafka's consistent_random partitioner then picks a random
    # partition for every null-key message.
    p = producer(broker, **{"sticky.partitioning.linger.ms": 0, "acks": "all"})
    reports = ok_reports(produce_all(p, topic, recs))
    counts = {}
    for r in reports:
        counts[r.partition] = counts.get(r.partition, 0) + 1
    assert len(counts) > 1, counts
    msgs, errors = consume_partitions(broker, topic, range(PARTITIONS), count=n)
    assert not errors, errors[:5]
    assert all(m.key() is None for m in msgs)
    got = {p: len(ms) for p, ms in by_partition(msgs).items()}
    assert got == counts
    assert sorted(m.value() for m in msgs) == sorted(r["value"] for r in recs)


# --------------------------------------------------------------------------- positions


@pytest.fixture
def thousand(broker):
    """A 1-partition topic with 1000 uncompressed records; record i has timestamp base + 10*i."""
    topic = create_topic(broker, "pc-positions", 1)
    base = now_ms() - 600_000
    recs = [{"key": b"k%d" % i, "value": b"value-%d" % i, "timestamp": base + 10 * i} for i in range(1000)]
    reports = ok_reports(produce_all(producer(broker, acks="all"), topic, recs))
    assert [r.offset for r in reports] == list(range(1000))
    return broker, topic, base


def test_consume_from_beginning(thousand):
    broker, topic, base = thousand
    msgs, errors = consume_partitions(broker, topic, [0], start=OFFSET_BEGINNING, count=1000)
    assert not errors
    assert [m.offset() for m in msgs] == list(range(1000))
    assert [m.value() for m in msgs] == [b"value-%d" % i for i in range(1000)]


def test_consume_from_offset_and_seek(thousand):
    broker, topic, base = thousand
    msgs, errors = consume_partitions(broker, topic, [0], start=500, count=500)
    assert not errors
    assert [m.offset() for m in msgs] == list(range(500, 1000))

    c = consumer(broker)
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        first, _ = consume(c, count=1)
        assert first[0].offset() == 0
        c.seek(TopicPartition(topic, 0, 750))
        # Messages fetched before the seek may still be queued: librdkafka drops them (it
        # discards messages of an outdated fetch version), so the next one is 750.
        msgs, errors = consume(c, count=250)
        assert not errors
        assert [m.offset() for m in msgs] == list(range(750, 1000))
        assert msgs[0].value() == b"value-750"
    finally:
        c.close()


def test_consume_from_timestamp(thousand):
    broker, topic, base = thousand
    c = consumer(broker)
    try:
        asks = [base + 10 * 300, base + 10 * 300 + 5, base - 1, base + 10 * 999, base + 10 * 999 + 1]
        found = []
        for ts in asks:
            (tp,) = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)
            assert tp.error is None, tp.error
            found.append(tp.offset)
        # First record whose timestamp is >= the one asked for; none later: -1 (OFFSET_END).
        assert found == [300, 301, 0, 999, OFFSET_END]

        c.assign([TopicPartition(topic, 0, found[1])])
        msgs, errors = consume(c, count=699)
        assert not errors
        assert [m.offset() for m in msgs] == list(range(301, 1000))
        assert msgs[0].timestamp() == (TIMESTAMP_CREATE_TIME, base + 3010)
    finally:
        c.close()


def test_consume_from_end(thousand):
    broker, topic, base = thousand
    c = consumer(broker)
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_END)])
        old, errors = consume(c, timeout=1.5, idle=1.5)
        assert old == [] and not errors, [m.offset() for m in old]
        reports = ok_reports(produce_all(producer(broker), topic, [{"value": b"new-%d" % i} for i in range(3)]))
        assert [r.offset for r in reports] == [1000, 1001, 1002]
        msgs, errors = consume(c, count=3)
        assert not errors
        assert [(m.offset(), m.value()) for m in msgs] == [(1000, b"new-0"), (1001, b"new-1"), (1002, b"new-2")]
    finally:
        c.close()
    assert watermarks(broker, topic, 0) == (0, 1003)


def test_offsets_for_times_inside_compressed_batch(broker):
    """Kafka answers ListOffsets-by-timestamp with the exact first record at or after the
    timestamp, decompressing the batch if needed (FileRecords.searchForTimestamp), not with
    the first offset of the batch."""
    topic = create_topic(broker, "pc-ts-zstd", 1)
    base = now_ms() - 600_000
    recs = [{"value": b"v%d" % i, "timestamp": base + 10 * i} for i in range(1000)]
    # zstd: the codec librdkafka 2.0.2 does compress against Fjord (see the test above).
    p = producer(broker, **{"compression.type": "zstd", "linger.ms": 200, "batch.num.messages": 10000})
    reports = ok_reports(produce_all(p, topic, recs))
    assert reports[555].offset == 555
    batches = stored_batches(broker, topic, 0)
    (holder,) = [b for b in batches if b[0] <= 555 <= b[1]]
    assert holder[2] & 7 == CODEC_IDS["zstd"] and holder[0] < 555, batches
    c = consumer(broker)
    try:
        found = []
        for ts in (base + 5550, base + 5545):
            (tp,) = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)
            assert tp.error is None, tp.error
            found.append(tp.offset)
        assert found == [555, 555], "offsets_for_times in a zstd batch %s: %s" % (holder[:2], found)
    finally:
        c.close()
    with kr.Conn.to(broker.bootstrap) as conn:
        got = conn.list_offsets_v1(topic, {0: base + 5545})[(topic, 0)]
    assert (got["error_code"], got["offset"], got["timestamp"]) == (0, 555, base + 5550)


def raw_gzip_topic(broker, name):
    """A 1-partition topic holding one hand-built gzip batch of 100 records, timestamps
    base + 10*i; returns (records, base)."""
    create_topic(broker, name, 1)
    base = now_ms() - 60_000
    recs = [(b"k%d" % i, b"value %d " % i * 5, [("i", b"%d" % i), ("nul", None)], base + 10 * i)
            for i in range(100)]
    with kr.Conn.to(broker.bootstrap) as c:
        res = c.produce(name, {0: kr.record_batch(recs, base_timestamp=base, gzip=True)}, acks=-1)
    assert (res[(name, 0)]["error_code"], res[(name, 0)]["base_offset"]) == (0, 0), res
    return recs, base


def test_raw_gzip_batch_roundtrip(broker):
    """A gzip batch built by hand is stored and fetched back as sent (raw Fetch and librdkafka)."""
    topic = "pc-raw-gzip"
    recs, base = raw_gzip_topic(broker, topic)
    with kr.Conn.to(broker.bootstrap) as c:
        f = c.fetch_v4(topic, {0: 0})[(topic, 0)]
    assert f["error_code"] == 0 and f["high_watermark"] == 100
    got = kr.parse_record_batches(f["records"])
    assert [(g["offset"], g["key"], g["value"], g["headers"], g["timestamp"]) for g in got] == \
        [(i, k, v, list(h), ts) for i, (k, v, h, ts) in enumerate(recs)]
    msgs, errors = consume_partitions(broker, topic, [0], count=100)
    assert not errors
    assert [(m.offset(), m.key(), m.value()) for m in msgs] == [(i, r[0], r[1]) for i, r in enumerate(recs)]


def test_raw_list_offsets_by_timestamp_inside_gzip_batch(broker):
    """ListOffsets v1 by timestamp: the exact record inside a compressed batch, with its own
    timestamp (Kafka: FileRecords.searchForTimestamp iterates the batch's records)."""
    topic = "pc-raw-gzip-ts"
    recs, base = raw_gzip_topic(broker, topic)
    with kr.Conn.to(broker.bootstrap) as c:
        got = [c.list_offsets_v1(topic, {0: ts})[(topic, 0)] for ts in (base + 425, base + 430, base)]
    assert [(g["error_code"], g["offset"], g["timestamp"]) for g in got] == \
        [(0, 43, base + 430), (0, 43, base + 430), (0, 0, base)]


# --------------------------------------------------------------------------- limits, acks=0


def test_oversized_record_rejected(broker):
    topic = create_topic(broker, "pc-big", 1, {"max.message.bytes": "10000"})
    # The producer's own limit is far above 20,000 bytes, so the broker is the one refusing.
    p = producer(broker, **{"message.max.bytes": 1_000_000, "compression.type": "none", "linger.ms": 0})
    (big,) = produce_all(p, topic, [{"value": os.urandom(20_000)}])
    assert big.err is not None and big.err.code() == KafkaError.MSG_SIZE_TOO_LARGE, big.err
    # The broker keeps serving, on the same producer connection and on a new one.
    (small,) = ok_reports(produce_all(p, topic, [{"value": b"small"}]))
    assert small.offset == 0
    (near,) = ok_reports(produce_all(producer(broker), topic, [{"value": os.urandom(9_000)}]))
    assert near.offset == 1
    msgs, errors = consume_partitions(broker, topic, [0], count=2)
    assert not errors
    assert [m.value() for m in msgs][0] == b"small" and len(msgs[1].value()) == 9_000


def test_acks0_records_arrive(broker):
    topic = create_topic(broker, "pc-acks0", 2)
    recs = [{"key": b"k%d" % (i % 10), "value": b"v%d" % i} for i in range(500)]
    t0 = time.monotonic()
    reports = ok_reports(produce_all(producer(broker, acks="0"), topic, recs, timeout=20))
    assert time.monotonic() - t0 < 10
    # With acks=0 there is no response to take an offset from: librdkafka reports none.
    assert all(r.offset is None or r.offset < 0 for r in reports), reports[:3]
    msgs, errors = consume_partitions(broker, topic, [0, 1], count=500)
    assert not errors
    assert sorted(m.value() for m in msgs) == sorted(r["value"] for r in recs)


# --------------------------------------------------------------------------- long poll


def test_fetch_long_poll_wakes_on_append(broker):
    topic = create_topic(broker, "pc-longpoll", 1)
    p = producer(broker, **{"linger.ms": 0, "acks": "1"})
    ok_reports(produce_all(p, topic, [{"value": b"warm-up"}]))  # connection and metadata ready
    c = consumer(broker, **{"fetch.wait.max.ms": 3000})
    try:
        c.assign([TopicPartition(topic, 0, 1)])
        # Poll the empty partition for 500 ms: the consumer sits in a 3 s long poll.
        early, errors = consume(c, timeout=0.5, idle=0.5)
        assert early == [] and not errors
        t0 = time.monotonic()
        p.produce(topic, value=b"late")
        msgs, errors = consume(c, count=1, timeout=5)
        latency = time.monotonic() - t0
        assert not errors
        assert msgs[0].value() == b"late" and msgs[0].offset() == 1
        assert latency < 1.5, "record produced into a long poll arrived after %.2fs" % latency
        p.flush(5)
    finally:
        c.close()


def test_raw_fetch_waits_then_wakes(broker):
    """Fetch v4 with min_bytes=1 on an empty partition waits max_wait_ms, and answers as soon
    as a record is appended."""
    topic = create_topic(broker, "pc-longpoll-raw", 1)
    with kr.Conn.to(broker.bootstrap, timeout=10) as c:
        t0 = time.monotonic()
        res = c.fetch_v4(topic, {0: 0}, max_wait_ms=1000)[(topic, 0)]
        waited = time.monotonic() - t0
        assert res["error_code"] == 0 and res["records"] == b"" and res["high_watermark"] == 0
        assert 0.9 <= waited < 3.0, "empty fetch with max_wait_ms=1000 answered after %.2fs" % waited

        def produce_later():
            time.sleep(0.3)
            with kr.Conn.to(broker.bootstrap) as p:
                p.produce(topic, {0: kr.record_batch([(b"k", b"wake")])}, acks=1)

        th = threading.Thread(target=produce_later)
        t0 = time.monotonic()
        th.start()
        try:
            res = c.fetch_v4(topic, {0: 0}, max_wait_ms=5000)[(topic, 0)]
        finally:
            th.join(10)
        waited = time.monotonic() - t0
        assert res["error_code"] == 0
        assert [r["value"] for r in kr.parse_record_batches(res["records"])] == [b"wake"]
        assert 0.25 <= waited < 1.5, "fetch woke %.2fs after it was sent (append at 0.3s)" % waited
