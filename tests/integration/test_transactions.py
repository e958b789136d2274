"""Transactions with librdkafka (confluent-kafka): commit, abort, read_committed and
read_uncommitted consumers, fencing of a second producer with the same transactional id, the
coordinator aborting a transaction past its timeout, and sendOffsetsToTransaction."""

import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from clients import create_topic

TOPIC = "txn"


@pytest.fixture
def txn_broker(broker_factory):
    # Timed-out transactions are looked for every 200 ms instead of 10 s.
    return broker_factory("--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=200", name="txn")


def txn_producer(broker, txn_id, **conf):
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": txn_id, "linger.ms": 5, **conf})
    p.init_transactions(15)
    return p


def read_all(broker, topic, partitions, isolation, expect=None, timeout=20.0):
    """Every record of `partitions` from the start, as (partition, value), with `isolation`."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "reader-%s-%f" % (isolation, time.time()),
                  "isolation.level": isolation, "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in partitions])
    got, eof = [], set()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    eof.add(m.partition())
                    if eof == set(partitions) and (expect is None or len(got) >= expect):
                        break
                    continue
                raise AssertionError(str(m.error()))
            got.append((m.partition(), m.value()))
    finally:
        c.close()
    return got


def test_committed_and_aborted_transactions(txn_broker):
    b = txn_broker
    create_topic(b, TOPIC, 2)
    p = txn_producer(b, "t-commit-abort")
    for batch, commit in ((0, True), (1, False), (2, True)):
        p.begin_transaction()
        for i in range(10):
            p.produce(TOPIC, value=b"%d-%d" % (batch, i), partition=i % 2)
        p.flush(10)  # sent before the end: an abort drops what is still queued
        if commit:
            p.commit_transaction(15)
        else:
            p.abort_transaction(15)
    committed = read_all(b, TOPIC, [0, 1], "read_committed", expect=20)
    want = [(i % 2, b"%d-%d" % (batch, i)) for batch in (0, 2) for i in range(10)]
    for part in (0, 1):
        assert [v for p_, v in committed if p_ == part] == [v for p_, v in want if p_ == part]
    everything = read_all(b, TOPIC, [0, 1], "read_uncommitted", expect=30)
    assert sorted(everything) == sorted((i % 2, b"%d-%d" % (batch, i)) for batch in range(3) for i in range(10))


def test_an_open_transaction_holds_back_read_committed_readers(txn_broker):
    b = txn_broker
    create_topic(b, TOPIC, 1)
    p = txn_producer(b, "t-open")
    plain = Producer({"bootstrap.servers": b.bootstrap})
    p.begin_transaction()
    p.produce(TOPIC, value=b"in-txn", partition=0)
    p.flush(10)
    plain.produce(TOPIC, value=b"after", partition=0)
    plain.flush(10)
    # Uncommitted readers see both; committed readers see nothing past the open transaction.
    assert [v for _, v in read_all(b, TOPIC, [0], "read_uncommitted", expect=2)] == [b"in-txn", b"after"]
    assert read_all(b, TOPIC, [0], "read_committed", timeout=3) == []
    p.commit_transaction(15)
    assert [v for _, v in read_all(b, TOPIC, [0], "read_committed", expect=2)] == [b"in-txn", b"after"]


def test_a_second_producer_fences_the_first_and_aborts_its_transaction(txn_broker):
    b = txn_broker
    create_topic(b, TOPIC, 1)
    first = txn_producer(b, "t-fence")
    first.begin_transaction()
    first.produce(TOPIC, value=b"zombie", partition=0)
    first.flush(10)
    second = txn_producer(b, "t-fence")  # aborts the first one's transaction
    second.begin_transaction()
    second.produce(TOPIC, value=b"live", partition=0)
    second.commit_transaction(15)
    with pytest.raises(KafkaException) as e:
        first.commit_transaction(15)
    assert e.value.args[0].fatal() or "fenced" in str(e.value).lower(), str(e.value)
    assert [v for _, v in read_all(b, TOPIC, [0], "read_committed", expect=1)] == [b"live"]


def test_the_coordinator_aborts_a_transaction_past_its_timeout(txn_broker):
    b = txn_broker
    create_topic(b, TOPIC, 1)
    p = txn_producer(b, "t-timeout", **{"transaction.timeout.ms": 1500})
    p.begin_transaction()
    p.produce(TOPIC, value=b"late", partition=0)
    p.flush(10)
    time.sleep(3)
    with pytest.raises(KafkaException):
        p.commit_transaction(15)
    # The abort marker moved the last stable offset past the record: committed readers see the
    # partition end, and nothing in it.
    assert read_all(b, TOPIC, [0], "read_committed", timeout=10) == []
    assert [v for _, v in read_all(b, TOPIC, [0], "read_uncommitted", expect=1)] == [b"late"]


def test_send_offsets_to_transaction_commits_the_groups_offsets_with_the_output(txn_broker):
    b = txn_broker
    create_topic(b, "in", 1)
    create_topic(b, "out", 1)
    src = Producer({"bootstrap.servers": b.bootstrap})
    for i in range(20):
        src.produce("in", value=b"%d" % i, partition=0)
    src.flush(10)
    consumer = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "eos", "isolation.level": "read_committed",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition("in", 0, 0)])
    p = txn_producer(b, "t-eos")
    read = 0
    for round_ in range(2):
        p.begin_transaction()
        for _ in range(10):
            m = consumer.poll(10)
            assert m is not None and not m.error(), m and m.error()
            p.produce("out", value=b"x" + m.value(), partition=0)
            read += 1
        p.flush(10)
        positions = consumer.position([TopicPartition("in", 0)])
        p.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 15)
        if round_ == 0:
            p.commit_transaction(15)
        else:
            p.abort_transaction(15)
    consumer.close()
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "eos", "enable.auto.commit": False})
    committed = c.committed([TopicPartition("in", 0)], timeout=10)
    c.close()
    assert committed[0].offset == 10  # the first round's; the aborted round's offsets never count
    out = read_all(b, "out", [0], "read_committed", expect=10)
    assert [v for _, v in out] == [b"x%d" % i for i in range(10)]


def test_cli_lists_and_describes_transactions_and_producers(txn_broker):
    from fjord_harness import run_fjord

    b = txn_broker
    create_topic(b, TOPIC, 2)
    done = txn_producer(b, "t-cli-done")
    done.begin_transaction()
    done.produce(TOPIC, value=b"1", partition=0)
    done.commit_transaction(15)
    open_ = txn_producer(b, "t-cli-open")
    open_.begin_transaction()
    open_.produce(TOPIC, value=b"2", partition=1)
    open_.flush(10)

    r = run_fjord("transaction", "list", "--brokers", b.bootstrap)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["TRANSACTIONAL", "ID", "PRODUCER", "ID", "STATE"]
    states = {line.split()[0]: line.split()[2] for line in lines[1:]}
    assert states == {"t-cli-done": "CompleteCommit", "t-cli-open": "Ongoing"}, r.stdout
    r = run_fjord("transaction", "list", "--state", "ongoing", "--brokers", b.bootstrap)
    assert [line.split()[0] for line in r.stdout.splitlines()[1:]] == ["t-cli-open"], r.stdout

    r = run_fjord("transaction", "describe", "t-cli-open", "--brokers", b.bootstrap)
    assert r.returncode == 0, r.stderr
    assert "state:            Ongoing" in r.stdout and "timeout:          60000 ms" in r.stdout, r.stdout
    assert [line.split() for line in r.stdout.splitlines()[-2:]] == [["TOPIC", "PARTITION"], [TOPIC, "1"]], r.stdout
    r = run_fjord("transaction", "describe", "nope", "--brokers", b.bootstrap)
    assert r.returncode == 1 and "TRANSACTIONAL_ID_NOT_FOUND" in r.stderr, (r.stdout, r.stderr)

    r = run_fjord("producer", "describe", TOPIC, "--brokers", b.bootstrap)
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()[1:]]
    # partition 0: the committed producer, its transaction closed; partition 1: the open one,
    # its transaction starting at offset 0.
    assert [(row[0], row[5]) for row in rows] == [("0", "-"), ("1", "0")], r.stdout
    open_.abort_transaction(15)


def test_raw_write_txn_markers(broker):
    """WriteTxnMarkers v0 (what a coordinator sends a partition leader): the marker is written
    and takes an offset; an unknown partition gets UNKNOWN_TOPIC_OR_PARTITION; a marker from an
    epoch below the producer's is refused with INVALID_PRODUCER_EPOCH."""
    import kafka_raw as kr
    from clients import watermarks

    create_topic(broker, TOPIC, 1)

    def markers(pid, epoch, commit, partitions):
        def topic(w, t):
            w.string(t[0]).array(t[1], lambda w2, p: w2.int32(p))

        def marker(w, _):
            w.int64(pid).int16(epoch).boolean(commit).array([(TOPIC, partitions)], topic).int32(0)

        body = kr.Writer().array([None], marker).bytes()
        with kr.Conn.to(broker.bootstrap) as c:
            r = c.request(27, 0, body, False)

        def part(r):
            return (r.int32(), r.int16())

        def topic_result(r):
            return (r.string(), r.array(part))

        def marker_result(r):
            return (r.int64(), r.array(topic_result))

        return r.array(marker_result)

    assert markers(7, 1, False, [0, 5]) == [(7, [(TOPIC, [(0, 0), (5, 3)])])]  # 3: UNKNOWN_TOPIC_OR_PARTITION
    assert watermarks(broker, TOPIC, 0)[1] == 1
    assert markers(7, 0, True, [0]) == [(7, [(TOPIC, [(0, 47)])])]  # INVALID_PRODUCER_EPOCH
    assert watermarks(broker, TOPIC, 0)[1] == 1
