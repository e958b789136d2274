"""A consume-transform-produce application with exactly-once semantics (confluent-kafka):
reads `in` in consumer group `eos-app` (read_committed), writes "out-<value>" to the same
partition of `out`, and commits its input offsets in the same transaction
(sendOffsetsToTransaction). Any error ends the process with exit code 3: the test restarts it,
and the new instance's init_transactions fences the old one and aborts what it left open.
Exits 0 after `idle` seconds without input. At most `batch` records a transaction, and `pause`
seconds between transactions, so that a copy spans the faults a test injects.

Usage: eos_app.py BOOTSTRAP IDLE_SECONDS BATCH PAUSE_SECONDS"""

import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer


def main():
    bootstrap, idle, batch, pause = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "eos-app", "isolation.level": "read_committed",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                         # A static member: a restarted instance takes its place at once (KIP-345).
                         "group.instance.id": "eos-app-0",
                         "socket.timeout.ms": 5000, "reconnect.backoff.max.ms": 200})
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "eos-app", "linger.ms": 5,
                         "transaction.timeout.ms": 10000, "socket.timeout.ms": 5000,
                         "reconnect.backoff.max.ms": 200})
    try:
        producer.init_transactions(30)
        consumer.subscribe(["in"])
        last_input = time.monotonic()
        while time.monotonic() - last_input < idle:
            msgs = consumer.consume(batch, 0.5)
            msgs = [m for m in msgs if not m.error()]
            if not msgs:
                continue
            last_input = time.monotonic()
            producer.begin_transaction()
            for m in msgs:
                producer.produce("out", value=b"out-" + m.value(), partition=m.partition())
            producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                                 consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(30)
            time.sleep(pause)
        return 0
    except KafkaException as e:
        print("eos_app: %s" % e, file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
