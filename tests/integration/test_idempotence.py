"""Idempotent producers: InitProducerId, sequence checks on Produce (duplicates answered with
their first offsets, gaps and fenced epochs refused), producer state across clean and unclean
restarts, and librdkafka's idempotent producer through kill -9 restarts."""

import os
import random
import threading
import time

import pytest
from confluent_kafka import Producer

import kafka_raw as kr
from clients import consume_partitions, create_topic, watermarks

TOPIC = "idem"
RATE = 20_000  # records a second from the librdkafka producer
NONE, OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH, INVALID_RECORD = 0, 45, 47, 87


def batch(pid, epoch, seq, n=2, tag=b"x"):
    return kr.record_batch([(b"k", b"%s-%d" % (tag, seq + i)) for i in range(n)], producer_id=pid,
                           producer_epoch=epoch, base_sequence=seq)


def produce(conn, records, partition=0):
    return conn.produce(TOPIC, {partition: records}, acks=-1, version=8)[(TOPIC, partition)]


def test_init_producer_id_hands_out_fresh_ids_also_after_a_restart(broker):
    ids = []
    with kr.Conn.to(broker.bootstrap) as c:
        for version in (0, 1):
            r = c.init_producer_id(version=version)
            assert r["error_code"] == NONE and r["producer_epoch"] == 0, r
            ids.append(r["producer_id"])
    broker.kill9()
    broker.start()
    with kr.Conn.to(broker.bootstrap) as c:
        ids.append(c.init_producer_id()["producer_id"])
    broker.restart()
    with kr.Conn.to(broker.bootstrap) as c:
        ids.append(c.init_producer_id()["producer_id"])
    assert len(set(ids)) == 4 and all(i >= 0 for i in ids), ids
    assert ids[2] > ids[1] and ids[3] > ids[2], ids


def test_sequence_rules_on_produce(broker):
    create_topic(broker, TOPIC, 1)
    with kr.Conn.to(broker.bootstrap) as c:
        pid = c.init_producer_id()["producer_id"]
        offsets = [produce(c, batch(pid, 0, seq))["base_offset"] for seq in range(0, 12, 2)]
        assert offsets == list(range(0, 12, 2))
        # A retry of any of the last five batches gets its first offsets; nothing is written.
        for seq in range(2, 12, 2):
            r = produce(c, batch(pid, 0, seq))
            assert (r["error_code"], r["base_offset"]) == (NONE, seq), r
        # The sixth-newest is no longer known: out of order, like any other gap.
        for seq in (0, 13, 11):
            r = produce(c, batch(pid, 0, seq))
            assert r["error_code"] == OUT_OF_ORDER_SEQUENCE_NUMBER and r["base_offset"] == -1, r
            assert "sequence %d" % seq in r["error_message"], r
        # A new epoch starts at 0 and fences the old one.
        assert produce(c, batch(pid, 1, 12))["error_code"] == OUT_OF_ORDER_SEQUENCE_NUMBER
        assert produce(c, batch(pid, 1, 0))["base_offset"] == 12
        r = produce(c, batch(pid, 0, 12))
        assert r["error_code"] == INVALID_PRODUCER_EPOCH, r
        # Another producer has its own sequence; a batch without a sequence, or a control batch, is refused.
        other = c.init_producer_id()["producer_id"]
        assert produce(c, batch(other, 0, 0))["base_offset"] == 14
        assert produce(c, batch(other, 0, -1))["error_code"] == INVALID_RECORD
        control = kr.record_batch([(b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x00")], attributes=0x20,
                                  producer_id=other, producer_epoch=0, base_sequence=-1)
        assert produce(c, control)["error_code"] == INVALID_RECORD
        f = c.fetch_v4(TOPIC, {0: 0})[(TOPIC, 0)]
    assert f["high_watermark"] == 16
    values = [r["value"] for r in kr.parse_record_batches(f["records"])]
    assert values == [b"x-%d" % i for i in range(12)] + [b"x-0", b"x-1", b"x-0", b"x-1"]


@pytest.mark.parametrize("stop", ["clean", "kill9"])
def test_producer_state_survives_a_restart(broker, stop):
    # Small segments: the log rolls (and snapshots) as it goes.
    create_topic(broker, TOPIC, 1, {"segment.bytes": "1024"})
    with kr.Conn.to(broker.bootstrap) as c:
        pid = c.init_producer_id()["producer_id"]
        for seq in range(0, 80, 2):
            assert produce(c, batch(pid, 0, seq, tag=b"y" * 20))["error_code"] == NONE
    if stop == "clean":
        broker.restart()
    else:
        broker.kill9()
        broker.start()
    with kr.Conn.to(broker.bootstrap) as c:
        for seq in range(70, 80, 2):
            r = produce(c, batch(pid, 0, seq, tag=b"y" * 20))
            assert (r["error_code"], r["base_offset"]) == (NONE, seq), r
        assert produce(c, batch(pid, 0, 82))["error_code"] == OUT_OF_ORDER_SEQUENCE_NUMBER
        assert produce(c, batch(pid, 0, 80))["base_offset"] == 80
    assert watermarks(broker, TOPIC, 0)[1] == 82


def test_confluent_idempotent_producer_through_kill9_restarts(broker):
    """librdkafka with enable.idempotence (acks=all, up to 5 requests in flight, retries) writes
    numbered records to 2 partitions while the broker is killed and restarted; afterwards every
    partition holds each record it was sent once, in order, with no gap."""
    seed = int(os.environ.get("FJORD_IDEM_SEED", random.randrange(1 << 30)))
    print("idempotence kill seed %d (replay with FJORD_IDEM_SEED=%d)" % (seed, seed))
    rng = random.Random(seed)
    create_topic(broker, TOPIC, 2)
    errors = []
    delivered = [0]
    fatal = []

    def on_delivery(err, msg):
        if err is None:
            delivered[0] += 1
        else:
            errors.append(str(err))

    def on_error(err):
        if err.fatal():
            fatal.append(str(err))

    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                  "batch.num.messages": 50, "message.timeout.ms": 60000, "socket.timeout.ms": 3000,
                  "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 200, "retry.backoff.ms": 50,
                  "error_cb": on_error})
    stop = threading.Event()
    sent = [0]

    def produce_loop():
        n = 0
        started = time.monotonic()
        while not stop.is_set() and n < 500_000:
            if n > RATE * (time.monotonic() - started):
                p.poll(0.005)
                continue
            try:
                p.produce(TOPIC, value=b"%08d" % n, partition=n % 2, on_delivery=on_delivery)
                n += 1
            except BufferError:
                p.poll(0.01)
        sent[0] = n

    t = threading.Thread(target=produce_loop)
    t.start()
    try:
        for _ in range(4):
            time.sleep(rng.uniform(0.5, 1.5))
            broker.kill9()
            time.sleep(rng.uniform(0.0, 0.5))
            broker.start()
        time.sleep(0.5)
    finally:
        stop.set()
        t.join(30)
    left = p.flush(90)
    assert left == 0, "%d records still in flight 90 s after the last restart" % left
    assert not fatal, fatal
    assert not errors, errors[:5]
    assert delivered[0] == sent[0]
    for part in (0, 1):
        want = [b"%08d" % n for n in range(part, sent[0], 2)]
        msgs, errs = consume_partitions(broker, TOPIC, [part], timeout=60)
        assert not errs, errs[:3]
        got = [m.value() for m in msgs]
        if got != want:
            dups = len(got) - len(set(got))
            missing = len(set(want) - set(got))
            raise AssertionError("partition %d: %d records read, %d sent, %d duplicated, %d missing, in order: %s"
                                 % (part, len(got), len(want), dups, missing, got == sorted(got)))
        assert watermarks(broker, TOPIC, part)[1] == len(want)
