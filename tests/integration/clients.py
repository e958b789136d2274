"""Helpers for the produce/consume tests: topic creation, and bounded confluent-kafka
(librdkafka) produce and consume loops.

Fjord serves no consumer groups yet (JoinGroup, OffsetCommit...), so every consumer here uses
manual assignment. librdkafka's Python binding insists on a group.id even then; with auto
commit and offset store off, and offsets given explicitly in assign(), no group state is ever
read or written.
"""

import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

import kafka_raw as kr


def now_ms():
    return int(time.time() * 1000)


def create_topic(broker, name, partitions=1, configs=None):
    with kr.Conn.to(broker.bootstrap) as c:
        resp = c.create_topics([{"name": name, "num_partitions": partitions, "replication_factor": 1,
                                 "configs": configs or {}}])
    (t,) = resp["topics"]
    assert t["error_code"] == kr.NONE, "creating %s: %r" % (name, t)
    return name


def producer(broker, **conf):
    base = {"bootstrap.servers": broker.bootstrap, "socket.timeout.ms": 10000,
            "message.timeout.ms": 20000, "reconnect.backoff.max.ms": 500, "linger.ms": 5}
    base.update(conf)
    return Producer(base)


def consumer(broker, **conf):
    base = {"bootstrap.servers": broker.bootstrap, "group.id": "fjord-it-assign-only",
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "auto.offset.reset": "error", "socket.timeout.ms": 10000,
            "reconnect.backoff.max.ms": 500, "fetch.wait.max.ms": 200,
            "topic.metadata.refresh.interval.ms": 2000}
    base.update(conf)
    return Consumer(base)


class Delivery:
    """One delivery report: err is None on success."""

    __slots__ = ("err", "topic", "partition", "offset", "key", "value", "headers", "timestamp", "seq")

    def __init__(self, err, msg, seq):
        self.err = err
        self.topic = msg.topic()
        self.partition = msg.partition()
        self.offset = msg.offset()
        self.key = msg.key()
        self.value = msg.value()
        self.headers = msg.headers()
        self.timestamp = msg.timestamp()
        self.seq = seq

    def __repr__(self):
        return "Delivery(err=%s, %s[%s]@%s, key=%r)" % (self.err, self.topic, self.partition, self.offset,
                                                          self.key)


def produce_all(p, topic, records, timeout=60.0, **produce_kw):
    """Produces records (dicts of produce() keyword arguments: key, value, headers, timestamp,
    partition) in order; returns one Delivery per record, in record order. Waits for every
    delivery report at most `timeout` seconds in total."""
    deadline = time.monotonic() + timeout
    reports = [None] * len(records)

    def cb_for(i):
        def cb(err, msg):
            reports[i] = Delivery(err, msg, i)
        return cb

    for i, rec in enumerate(records):
        kw = dict(produce_kw)
        kw.update(rec)
        while True:
            try:
                p.produce(topic, on_delivery=cb_for(i), **kw)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                p.poll(0.05)
                assert time.monotonic() < deadline, "producer queue stayed full for %.0fs" % timeout
        p.poll(0)
    left = p.flush(max(0.1, deadline - time.monotonic()))
    assert left == 0, "%d of %d messages still undelivered after %.0fs" % (left, len(records), timeout)
    missing = [i for i, r in enumerate(reports) if r is None]
    assert not missing, "no delivery report for %d records (first: %d)" % (len(missing), missing[0])
    return reports


def ok_reports(reports):
    errs = [r for r in reports if r.err is not None]
    assert not errs, "%d delivery errors, first: %s (%r)" % (len(errs), errs[0].err, errs[0])
    return reports


def consume(c, count=None, timeout=20.0, until=None, stop_on_error=False, idle=None):
    """Polls `c` until `count` messages arrived, or until(messages) is true, or (when idle is
    set) no message came for `idle` seconds; at most `timeout` seconds. Returns (messages,
    errors): errors are the KafkaError of error events (partition EOF events are skipped)."""
    deadline = time.monotonic() + timeout
    msgs, errors = [], []
    last = time.monotonic()
    while True:
        if count is not None and len(msgs) >= count:
            break
        if until is not None and until(msgs):
            break
        if stop_on_error and errors:
            break
        now = time.monotonic()
        if idle is not None and now - last >= idle:
            break
        if now >= deadline:
            if count is not None or until is not None:
                raise AssertionError("consumed %d messages in %.0fs (wanted %s); errors: %s"
                                     % (len(msgs), timeout, count if count is not None else "more",
                                        errors[:5]))
            break
        for m in c.consume(1000, min(0.2, max(0.01, deadline - now))):
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    errors.append(err)
                continue
            msgs.append(m)
            last = time.monotonic()
    return msgs, errors


def consume_partitions(broker, topic, partitions, start=0, count=None, timeout=20.0, **conf):
    """Assigns topic's partitions at offset `start` and consumes `count` messages (or until the
    partitions go idle when count is None). Returns (messages, errors); closes the consumer."""
    c = consumer(broker, **conf)
    try:
        c.assign([TopicPartition(topic, p, start) for p in partitions])
        if count is None:
            return consume(c, timeout=timeout, idle=1.0)
        return consume(c, count=count, timeout=timeout)
    finally:
        c.close()


def by_partition(msgs):
    out = {}
    for m in msgs:
        out.setdefault(m.partition(), []).append(m)
    return out


def watermarks(broker, topic, partition, timeout=10.0):
    """(low, high) from ListOffsets (earliest, latest) through librdkafka."""
    c = consumer(broker)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout, cached=False)
    finally:
        c.close()


CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def stored_batches(broker, topic, partition, max_batches=100000):
    """[(base_offset, last_offset, attributes)] of the record batches a raw Fetch v4 returns for
    the partition, from its log start to its end (batches come back as they are stored)."""
    import struct

    out = []
    with kr.Conn.to(broker.bootstrap) as c:
        lo = c.list_offsets_v1(topic, {partition: kr.EARLIEST_TIMESTAMP})[(topic, partition)]["offset"]
        hi = c.list_offsets_v1(topic, {partition: kr.LATEST_TIMESTAMP})[(topic, partition)]["offset"]
        offset = lo
        while offset < hi and len(out) < max_batches:
            res = c.fetch_v4(topic, {partition: offset}, max_wait_ms=0)[(topic, partition)]
            assert res["error_code"] == 0, res
            data = res["records"]
            pos = 0
            progressed = False
            while pos + 61 <= len(data):
                base, length = struct.unpack_from(">qi", data, pos)
                if pos + 12 + length > len(data):
                    break
                (attributes,) = struct.unpack_from(">h", data, pos + 21)
                (last_delta,) = struct.unpack_from(">i", data, pos + 23)
                out.append((base, base + last_delta, attributes))
                offset = base + last_delta + 1
                progressed = True
                pos += 12 + length
            assert progressed, "fetch at %d returned no whole batch" % offset
    return out
