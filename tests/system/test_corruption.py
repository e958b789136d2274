"""A byte that goes bad in a closed segment on disk is caught by the batch CRC when it is read:
the fetch gets CORRUPT_MESSAGE for that batch (the broker logs which file and offset), the bad
bytes never reach a consumer, the batches before it are served, and a consumer that seeks past it
reads on. The broker keeps serving throughout."""

from confluent_kafka import TopicPartition

import kafka_raw as kr
from clients import consume, consumer, create_topic
from fjord_harness import partition_dirs

CORRUPT_MESSAGE = 2
BATCHES = 30
RECORDS_PER_BATCH = 2


def batch(i):
    return kr.record_batch([(b"k%02d-%d" % (i, j), bytes([65 + i % 26]) * 100) for j in range(RECORDS_PER_BATCH)])


def test_a_flipped_byte_in_a_closed_segment_is_refused_not_served(broker):
    topic = create_topic(broker, "corrupt", 1, {"segment.bytes": "2048"})
    size = len(batch(0))
    with kr.Conn.to(broker.bootstrap, timeout=15) as c:
        for i in range(BATCHES):
            res = c.produce(topic, {0: batch(i)}, acks=-1)[(topic, 0)]
            assert (res["error_code"], res["base_offset"]) == (0, i * RECORDS_PER_BATCH)
    (pdir,) = partition_dirs(broker.data_dir, topic)
    first = broker.data_dir / pdir / ("%020d.log" % 0)
    per_segment = 2048 // size
    assert first.stat().st_size == per_segment * size and per_segment > 4
    bad = 3  # offsets 6 and 7: one bit of the last value byte flips
    with open(first, "r+b") as f:
        f.seek((bad + 1) * size - 1)
        byte = f.read(1)[0]
        f.seek((bad + 1) * size - 1)
        f.write(bytes([byte ^ 0x10]))

    with kr.Conn.to(broker.bootstrap, timeout=15) as c:
        p = c.fetch_v4(topic, {0: bad * RECORDS_PER_BATCH}, max_wait_ms=0)[(topic, 0)]
        assert p["error_code"] == CORRUPT_MESSAGE and not p["records"], p
    broker.wait_for_log(r"fails its CRC", timeout=5)

    # librdkafka: the batches before it, then an error event; never the bad records.
    c = consumer(broker)
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        msgs, errors = consume(c, timeout=20, until=lambda m: False, stop_on_error=True)
        assert [m.offset() for m in msgs] == list(range(bad * RECORDS_PER_BATCH))
        assert errors and errors[0].code() == CORRUPT_MESSAGE, errors
        # Past it, everything else reads back intact.
        c.assign([TopicPartition(topic, 0, (bad + 1) * RECORDS_PER_BATCH)])
        want = list(range((bad + 1) * RECORDS_PER_BATCH, BATCHES * RECORDS_PER_BATCH))
        msgs, errors = consume(c, count=len(want), timeout=30)
    finally:
        c.close()
    assert [m.offset() for m in msgs] == want
    assert all(m.value() == bytes([65 + (m.offset() // RECORDS_PER_BATCH) % 26]) * 100 for m in msgs)
    assert broker.running()
