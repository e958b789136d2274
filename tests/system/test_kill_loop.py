"""kill -9 loop: a confluent-kafka producer (acks=all, no retries, so that each record is sent at
most once) writes numbered records to 3 partitions and a consumer group member reads and commits,
while the broker is killed and restarted 20 times at random moments (the seed is printed; set
FJORD_KILL_SEED to replay one). Afterwards: every acknowledged record is in the log exactly once,
at its acknowledged offset, in send order per partition; no record is there twice; and the
group, which committed only what it had read, has read every acknowledged record."""

import os
import random
import threading
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from clients import consume_partitions, create_topic, watermarks

PARTITIONS = 3
KILLS = 20
RATE = 3000  # records a second


def test_acknowledged_records_survive_twenty_kills(broker):
    b = broker
    seed = int(os.environ.get("FJORD_KILL_SEED", random.randrange(1 << 30)))
    print("kill loop seed %d (replay with FJORD_KILL_SEED=%d)" % (seed, seed))
    rng = random.Random(seed)
    topic = create_topic(b, "kill-loop", PARTITIONS)

    acked = {}  # value -> (partition, offset)
    failed = [0]
    stop = threading.Event()
    lock = threading.Lock()

    def on_delivery(err, msg):
        if err is None:
            with lock:
                acked[msg.value()] = (msg.partition(), msg.offset())
        else:
            failed[0] += 1

    def produce():
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "enable.idempotence": False,
                      "message.send.max.retries": 0, "linger.ms": 2, "message.timeout.ms": 5000,
                      "socket.timeout.ms": 3000, "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 200})
        n = 0
        started = time.monotonic()
        while not stop.is_set():
            # About RATE records a second: enough to be mid-write at every kill, few enough for
            # the consumer to keep up.
            ahead = n / RATE - (time.monotonic() - started)
            if ahead > 0:
                p.poll(min(ahead, 0.05))
                continue
            try:
                p.produce(topic, value=b"%08d" % n, partition=n % PARTITIONS, on_delivery=on_delivery)
                n += 1
            except BufferError:
                pass
            p.poll(0)
        p.flush(20)

    consumed = set()
    consumer_errors = []
    stuck = [False]  # the consumer has not caught up within a minute of the end: it stops anyway

    def consume():
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "kill-loop", "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, "enable.auto.offset.store": True, "session.timeout.ms": 6000,
                      "socket.timeout.ms": 3000, "reconnect.backoff.max.ms": 200, "fetch.wait.max.ms": 100})
        c.subscribe([topic])
        last_commit = [time.monotonic()]
        last_check = 0.0
        try:
            while True:
                if stop.is_set() and time.monotonic() - last_check > 0.5:  # caught_up() is O(records)
                    last_check = time.monotonic()
                    if caught_up() or stuck[0]:
                        break
                m = c.poll(0.1)
                if m is None:
                    continue
                if m.error():
                    continue  # transport errors while the broker is down
                consumed.add(m.value())
                if time.monotonic() - last_commit[0] > 0.2:
                    last_commit[0] = time.monotonic()
                    try:
                        c.commit(asynchronous=False)  # what this member has read
                    except KafkaException:
                        pass  # the broker went away: the next commit covers it
        except Exception as e:  # reported below: the thread must not die silently
            consumer_errors.append(e)
        finally:
            c.close()

    def caught_up():
        with lock:
            return set(acked) <= consumed

    producer_thread = threading.Thread(target=produce, daemon=True)
    consumer_thread = threading.Thread(target=consume, daemon=True)
    producer_thread.start()
    consumer_thread.start()
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.2, 1.0))
        b.kill9()
        time.sleep(rng.uniform(0.0, 0.3))
        b.start()
    time.sleep(1.0)
    stop.set()
    producer_thread.join(60)
    deadline = time.monotonic() + 60
    while consumer_thread.is_alive() and time.monotonic() < deadline:
        consumer_thread.join(0.5)
    if consumer_thread.is_alive():
        stuck[0] = True
        consumer_thread.join(15)
    assert not producer_thread.is_alive()
    assert not consumer_errors, consumer_errors
    print("%d records acknowledged, %d not, across %d kills" % (len(acked), failed[0], KILLS))
    assert len(acked) > 1000, "too few acknowledged records to say anything (%d)" % len(acked)

    # The log: each record at most once, acknowledged ones at their offsets, in send order.
    ends = [watermarks(b, topic, p)[1] for p in range(PARTITIONS)]
    msgs, errors = consume_partitions(b, topic, range(PARTITIONS), count=sum(ends), timeout=60)
    assert not errors, errors[:5]
    values = [m.value() for m in msgs]
    assert len(values) == len(set(values)) == sum(ends), "a record is in the log twice"
    at = {(m.partition(), m.offset()): m.value() for m in msgs}
    for value, place in acked.items():
        assert at.get(place) == value, "acknowledged %r at %s, found %r" % (value, place, at.get(place))
    for p in range(PARTITIONS):
        numbers = [int(m.value()) for m in msgs if m.partition() == p]
        assert numbers == sorted(numbers), "partition %d out of send order" % p
    # The group read every acknowledged record (at least once), resuming from its commits.
    missed = sorted(set(acked) - consumed)
    assert not missed, "the group never read %d acknowledged records, e.g. %s" % (
        len(missed), [(v, acked[v]) for v in missed[:5]])
