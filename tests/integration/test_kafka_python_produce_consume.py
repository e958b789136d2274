"""kafka-python 2.0.2: KafkaProducer (acks all/1, each codec whose Python module is installed)
and KafkaConsumer with assign() (group_id=None: Fjord has no consumer groups yet),
seek_to_beginning, seek, offsets_for_times, beginning_offsets and end_offsets."""

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.codec import has_gzip, has_lz4, has_snappy, has_zstd

from clients import CODEC_IDS, create_topic, now_ms, stored_batches

N = 2000
PARTITIONS = 3

CODEC_MODULES = {"gzip": (has_gzip, "gzip"), "snappy": (has_snappy, "snappy (python3-snappy)"),
                 "lz4": (has_lz4, "lz4 (python3-lz4)"), "zstd": (has_zstd, "zstandard (python3-zstandard)")}


def codec_param(codec):
    if codec is None:
        return pytest.param(None, id="none")
    has, module = CODEC_MODULES[codec]
    return pytest.param(codec, id=codec, marks=pytest.mark.skipif(
        not has(), reason="kafka-python needs the Python module %s for %s, not installed" % (module, codec)))


def kp_producer(broker, **conf):
    base = dict(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000, linger_ms=5,
                max_block_ms=15000, retries=0)
    base.update(conf)
    return KafkaProducer(**base)


def kp_consumer(broker, **conf):
    base = dict(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False,
                auto_offset_reset="none", request_timeout_ms=15000, fetch_max_wait_ms=200,
                consumer_timeout_ms=1000)
    base.update(conf)
    return KafkaConsumer(**base)


def poll_records(c, count, timeout=30.0):
    deadline = time.monotonic() + timeout
    out = []
    while len(out) < count:
        assert time.monotonic() < deadline, "got %d of %d records in %.0fs" % (len(out), count, timeout)
        for recs in c.poll(timeout_ms=200, max_records=5000).values():
            out.extend(recs)
    return out


def produce_all(p, topic, records, timeout=30.0):
    futures = [p.send(topic, **r) for r in records]
    p.flush(timeout=timeout)
    return [f.get(timeout=1) for f in futures]


@pytest.mark.parametrize("codec", [codec_param(c) for c in (None, "gzip", "snappy", "lz4", "zstd")])
@pytest.mark.parametrize("acks", ["all", 1], ids=["acks_all", "acks_1"])
def test_produce_consume(broker, acks, codec):
    topic = create_topic(broker, "kp-%s-%s" % (codec or "none", acks), PARTITIONS)
    base = now_ms() - 3_600_000
    records = [{"key": b"key-%d" % (i % 31), "value": b"value %d " % i * (1 + i % 7),
                "headers": [("seq", b"%d" % i), ("empty", b""), ("dup", b"a"), ("dup", b"b")],
                "timestamp_ms": base + i} for i in range(N)]
    p = kp_producer(broker, acks=acks, compression_type=codec, batch_size=64 * 1024)
    try:
        metas = produce_all(p, topic, records)
    finally:
        p.close(timeout=5)
    key_parts = {}
    by_part = {}
    for i, m in enumerate(metas):
        key_parts.setdefault(records[i]["key"], set()).add(m.partition)
        by_part.setdefault(m.partition, []).append((m.offset, i))
    assert all(len(ps) == 1 for ps in key_parts.values()), key_parts
    assert len(by_part) > 1
    for part, offs in by_part.items():
        assert [o for o, _ in offs] == list(range(len(offs))), part  # dense, in send order

    c = kp_consumer(broker)
    try:
        tps = [TopicPartition(topic, part) for part in range(PARTITIONS)]
        c.assign(tps)
        c.seek_to_beginning()
        got = poll_records(c, N)
        assert c.end_offsets(tps) == {TopicPartition(topic, p): len(by_part.get(p, [])) for p in range(PARTITIONS)}
        assert c.beginning_offsets(tps) == {tp: 0 for tp in tps}
    finally:
        c.close()
    assert len(got) == N
    seen = {}
    for r in got:
        seen.setdefault(r.partition, []).append(r)
    for part, offs in by_part.items():
        rs = seen[part]
        assert [r.offset for r in rs] == [o for o, _ in offs]
        for r, (_, i) in zip(rs, offs):
            rec = records[i]
            assert (r.key, r.value, r.timestamp, r.timestamp_type) == \
                (rec["key"], rec["value"], rec["timestamp_ms"], 0), (part, r.offset)
            assert list(r.headers) == rec["headers"], (part, r.offset, r.headers)

    # kafka-python compresses whatever the broker advertises: the stored batches carry the codec
    # (kafka-python sends a batch uncompressed when compressing would not make it smaller, as
    # can happen to a small last batch).
    want = CODEC_IDS[codec or "none"]
    for part in by_part:
        batches = stored_batches(broker, topic, part)
        codecs = [a & 7 for _, _, a in batches]
        assert set(codecs) <= {want, 0}, (part, codecs)
        compressed = sum(last - base + 1 for base, last, a in batches if a & 7 == want)
        assert compressed >= 0.9 * len(by_part[part]), (part, codecs)


def test_offsets_api(broker):
    topic = create_topic(broker, "kp-offsets", 1)
    tp = TopicPartition(topic, 0)
    base = now_ms() - 600_000
    p = kp_producer(broker, acks="all")
    try:
        metas = produce_all(p, topic, [{"value": b"v%d" % i, "timestamp_ms": base + 10 * i} for i in range(100)])
    finally:
        p.close(timeout=5)
    assert [m.offset for m in metas] == list(range(100))

    c = kp_consumer(broker)
    try:
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: 100}
        found = c.offsets_for_times({tp: base + 425})
        assert (found[tp].offset, found[tp].timestamp) == (43, base + 430)
        assert c.offsets_for_times({tp: base + 10 * 99 + 1}) == {tp: None}  # nothing that late

        c.assign([tp])
        c.seek(tp, found[tp].offset)
        got = poll_records(c, 57)
        assert [r.offset for r in got] == list(range(43, 100))
        assert got[0].value == b"v43"

        c.seek_to_beginning(tp)
        assert [r.offset for r in poll_records(c, 100)] == list(range(100))

        c.seek_to_end(tp)
        assert c.position(tp) == 100
        assert c.poll(timeout_ms=500) == {}
    finally:
        c.close()
