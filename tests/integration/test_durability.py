"""Acknowledged records survive a restart (SIGTERM) and a crash (kill -9), exactly once and in
order, and offsets continue after the last record."""

import threading
import time


import kafka_raw as kr
from clients import (by_partition, consume_partitions, create_topic, ok_reports, produce_all, producer,
                     watermarks)

PARTITIONS = 3


def produce_keyed(broker, topic, start, n, acks="all"):
    recs = [{"key": b"key-%d" % (i % 11), "value": b"record-%d" % i} for i in range(start, start + n)]
    return ok_reports(produce_all(producer(broker, acks=acks, **{"linger.ms": 2}), topic, recs))


def check_log(broker, topic, reports):
    """The partitions hold exactly the acknowledged records, at their acknowledged offsets."""
    per_part = {}
    for r in reports:
        per_part.setdefault(r.partition, []).append(r)
    total = len(reports)
    msgs, errors = consume_partitions(broker, topic, range(PARTITIONS), count=total, timeout=30)
    assert not errors, errors[:5]
    got = by_partition(msgs)
    for p in range(PARTITIONS):
        want = sorted(per_part.get(p, []), key=lambda r: r.offset)
        assert [r.offset for r in want] == list(range(len(want))), "acked offsets of partition %d" % p
        have = [(m.offset(), m.key(), m.value()) for m in got.get(p, [])]
        assert have == [(r.offset, r.key, r.value) for r in want], "partition %d after restart" % p
        assert watermarks(broker, topic, p) == (0, len(want)), "partition %d has records nobody acked" % p


def restart_roundtrip(broker, restart, acks="all"):
    topic = create_topic(broker, "dur", PARTITIONS)
    first = produce_keyed(broker, topic, 0, 3000, acks)
    restart()
    check_log(broker, topic, first)

    # Producing again continues after the last offset of each partition.
    ends = {p: watermarks(broker, topic, p)[1] for p in range(PARTITIONS)}
    more = produce_keyed(broker, topic, 3000, 600, acks)
    for p, reps in by_partition_reports(more).items():
        assert sorted(r.offset for r in reps) == list(range(ends[p], ends[p] + len(reps))), p
    check_log(broker, topic, first + more)

    # And once more across a second restart.
    restart()
    check_log(broker, topic, first + more)


def by_partition_reports(reports):
    out = {}
    for r in reports:
        out.setdefault(r.partition, []).append(r)
    return out


def test_sigterm_restart_keeps_acked_records(broker):
    def restart():
        assert broker.stop() == 0, broker.tail()
        broker.start()

    restart_roundtrip(broker, restart)


def test_kill9_keeps_acks_all_records(broker):
    def restart():
        broker.kill9()
        broker.start()

    restart_roundtrip(broker, restart)


def test_kill9_keeps_acks_1_records(broker):
    """Kafka acknowledges acks=1 once the batch is written to the log file (page cache), which
    a killed process cannot take back: only a machine crash loses such records."""

    def restart():
        broker.kill9()
        broker.start()

    restart_roundtrip(broker, restart, acks="1")


def test_kill9_during_produce_keeps_every_acked_batch(broker):
    """A producer keeps appending 20-record batches (acks=all, one request at a time) while the
    broker is killed: after restart every acknowledged batch is there, in order, once; the one
    batch in flight is either wholly there or wholly absent; offsets continue after it."""
    topic = create_topic(broker, "dur-live", 1)
    per_batch = 20
    acked = []  # base offsets acknowledged, in order
    failure = []

    def run():
        try:
            with kr.Conn.to(broker.bootstrap, timeout=10) as c:
                n = 0
                while True:
                    batch = kr.record_batch([(b"b%d" % n, b"b%d-r%d" % (n, i)) for i in range(per_batch)])
                    res = c.produce(topic, {0: batch}, acks=-1)[(topic, 0)]
                    if res["error_code"] != 0:
                        failure.append(res)
                        return
                    acked.append(res["base_offset"])
                    n += 1
        except (kr.ConnectionClosed, OSError):
            return  # the broker went away

    th = threading.Thread(target=run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while len(acked) < 40 and th.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(acked) >= 40, "only %d batches acknowledged before the deadline (%s)" % (len(acked), failure)
    broker.kill9()
    th.join(15)
    assert not th.is_alive()
    assert not failure, failure
    n_acked = len(acked)
    assert acked == [i * per_batch for i in range(n_acked)]

    broker.start()
    low, high = watermarks(broker, topic, 0)
    assert low == 0
    assert high in (n_acked * per_batch, (n_acked + 1) * per_batch), (n_acked, high)
    msgs, errors = consume_partitions(broker, topic, [0], count=high)
    assert not errors
    want = [(n * per_batch + i, b"b%d-r%d" % (n, i)) for n in range(high // per_batch) for i in range(per_batch)]
    assert [(m.offset(), m.value()) for m in msgs] == want

    with kr.Conn.to(broker.bootstrap) as c:
        res = c.produce(topic, {0: kr.record_batch([(b"after", b"restart")])}, acks=-1)[(topic, 0)]
    assert (res["error_code"], res["base_offset"]) == (0, high)
