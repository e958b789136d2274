#!/usr/bin/python3
"""One consumer-group member in its own process, for test_groups.py (so that a test can kill -9
it). The client is confluent-kafka (librdkafka) or kafka-python.

Usage:
  group_member.py --client confluent|kafka-python --bootstrap HOST:PORT --group G --topic T
                  [--topic T2 ...] [--conf key=value ...] [--name CLIENT_ID] [--max-seconds S]
                  [--commit-on batch|revoke]

--conf is a librdkafka property for confluent, a KafkaConsumer keyword for kafka-python (digits
become ints; partition_assignment_strategy=roundrobin|range picks the assignor class).

The member subscribes, consumes, writes each batch of records to stdout and only then commits
their offsets (at-least-once). With --commit-on revoke (confluent only) it commits the printed
offsets of partitions only when they are revoked and at close, the way cooperative consumers
do: a commit sent while a rebalance is under way carries the old generation, the coordinator
rightly answers ILLEGAL_GENERATION (as Kafka does), and librdkafka 2.0.2 then drops its whole
assignment as lost, which a test of cooperative stickiness must not mistake for the broker's
doing. stdin takes commands, one a line: "close" closes the consumer
(a dynamic member leaves the group; librdkafka static members do not send LeaveGroup on
close, KIP-345). EOF on stdin closes it too, so a member never outlives its test.

stdout is JSON lines, each with "ev" and "t" (time.time()):
  started                       the consumer exists and has subscribed
  assigned / revoked / lost     a rebalance callback, "partitions": [[topic, partition], ...]
  assignment                    the consumer's whole assignment, each time it changes
  records                       "records": [[topic, partition, offset, value], ...]
  commit_failed                 "error": a commit that failed (expected during rebalances)
  error                         "error": an error event from the client
  closed                        close() returned; the process exits 0 next
"""

import argparse
import json
import os
import sys
import threading
import time

_out_lock = threading.Lock()


def emit(ev, **fields):
    fields["ev"] = ev
    fields["t"] = time.time()
    line = json.dumps(fields)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def tps(partitions):
    return sorted([tp.topic, tp.partition] for tp in partitions)


class Commands:
    """Reads stdin in a thread; the poll loop checks `closing` (clients are not thread-safe
    enough to be closed from another thread)."""

    def __init__(self):
        self.closing = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in sys.stdin:
            if line.strip() == "close":
                break
        self.closing.set()


def parse_conf(items):
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep:
            raise SystemExit("--conf wants key=value, got %r" % item)
        out[k] = v
    return out


# --------------------------------------------------------------------------- confluent-kafka


def poll_some(c, limit, timeout):
    """Up to `limit` messages: one poll() waiting at most `timeout`, then what is already there.

    Not Consumer.consume(): in librdkafka 2.0.2 the batch API (rd_kafka_consume_batch_queue)
    can skip offsets when partitions are paused and resumed, which cooperative rebalances do
    (fixed in librdkafka 2.1.0, confluentinc/librdkafka#4235): records would go missing for a
    reason that is not the broker's."""
    out = []
    m = c.poll(timeout)
    while m is not None:
        out.append(m)
        if len(out) >= limit:
            break
        m = c.poll(0)
    return out


def run_confluent(args, conf, commands, deadline):
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    base = {"bootstrap.servers": args.bootstrap, "group.id": args.group, "client.id": args.name,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "heartbeat.interval.ms": 500, "socket.timeout.ms": 10000, "reconnect.backoff.max.ms": 500,
            "fetch.wait.max.ms": 100, "topic.metadata.refresh.interval.ms": 2000,
            "error_cb": lambda err: emit("error", error=str(err))}
    base.update(conf)
    c = Consumer(base)

    def on_assign(consumer, partitions):
        emit("assigned", partitions=tps(partitions))

    printed = {}  # (topic, partition) -> offset after the last record printed

    def commit_printed(partitions):
        offsets = [TopicPartition(tp.topic, tp.partition, printed[(tp.topic, tp.partition)])
                   for tp in partitions if (tp.topic, tp.partition) in printed]
        if not offsets:
            return
        try:
            c.commit(offsets=offsets, asynchronous=False)
        except KafkaException as e:
            emit("commit_failed", error=str(e))

    def on_revoke(consumer, partitions):
        emit("revoked", partitions=tps(partitions))
        if args.commit_on == "revoke":
            commit_printed(partitions)

    def on_lost(consumer, partitions):
        emit("lost", partitions=tps(partitions))

    c.subscribe(args.topic, on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    emit("started", client="confluent")
    last = None
    while not commands.closing.is_set() and time.monotonic() < deadline:
        msgs = poll_some(c, 500, 0.1)
        now = tps(c.assignment())
        if now != last:
            emit("assignment", partitions=now)
            last = now
        recs, next_offsets = [], {}
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    emit("error", error=str(err))
                continue
            value = m.value()
            recs.append([m.topic(), m.partition(), m.offset(), value.decode(errors="replace") if value else None])
            next_offsets[(m.topic(), m.partition())] = m.offset() + 1
        if recs:
            emit("records", records=recs)
            printed.update(next_offsets)
            if args.commit_on == "batch":
                commit_printed([TopicPartition(t, p) for t, p in sorted(next_offsets)])
    c.close()  # revokes what is left (on_revoke commits it in "revoke" mode), then leaves


# --------------------------------------------------------------------------- kafka-python


def run_kafka_python(args, conf, commands, deadline):
    from kafka import KafkaConsumer, OffsetAndMetadata
    from kafka.consumer.subscription_state import ConsumerRebalanceListener
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka.errors import KafkaError

    assignors = {"roundrobin": RoundRobinPartitionAssignor, "range": RangePartitionAssignor}
    kw = dict(bootstrap_servers=args.bootstrap, group_id=args.group, client_id=args.name,
              enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=10000,
              heartbeat_interval_ms=500, request_timeout_ms=15000, fetch_max_wait_ms=100,
              reconnect_backoff_max_ms=500, metadata_max_age_ms=2000)
    for k, v in conf.items():
        if k == "partition_assignment_strategy":
            kw[k] = [assignors[name] for name in v.split(",")]
        else:
            kw[k] = int(v) if v.lstrip("-").isdigit() else v
    c = KafkaConsumer(**kw)

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            emit("revoked", partitions=tps(revoked))

        def on_partitions_assigned(self, assigned):
            emit("assigned", partitions=tps(assigned))

    c.subscribe(topics=args.topic, listener=Listener())
    emit("started", client="kafka-python")
    last = None
    while not commands.closing.is_set() and time.monotonic() < deadline:
        batches = c.poll(timeout_ms=100, max_records=500)
        now = tps(c.assignment())
        if now != last:
            emit("assignment", partitions=now)
            last = now
        recs, next_offsets = [], {}
        for tp, records in sorted(batches.items()):
            for r in records:
                recs.append([tp.topic, tp.partition, r.offset, r.value.decode(errors="replace") if r.value else None])
                next_offsets[tp] = r.offset + 1
        if recs:
            emit("records", records=recs)
            try:
                c.commit({tp: OffsetAndMetadata(o, "") for tp, o in next_offsets.items()})
            except KafkaError as e:  # CommitFailedError during a rebalance, ...
                emit("commit_failed", error="%s: %s" % (type(e).__name__, e))
    c.close(autocommit=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", choices=["confluent", "kafka-python"], default="confluent")
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--topic", action="append", required=True)
    ap.add_argument("--conf", action="append", default=[])
    ap.add_argument("--name", default="group-member")
    ap.add_argument("--max-seconds", type=float, default=150.0)
    ap.add_argument("--commit-on", choices=["batch", "revoke"], default="batch",
                    help="confluent only: commit after each printed batch, or only for partitions "
                         "being revoked (and at close)")
    args = ap.parse_args()

    # Last resort if close() itself hangs past the deadline: the process still goes away.
    hard = threading.Timer(args.max_seconds + 30, lambda: os._exit(3))
    hard.daemon = True
    hard.start()

    commands = Commands()
    deadline = time.monotonic() + args.max_seconds
    run = run_confluent if args.client == "confluent" else run_kafka_python
    run(args, parse_conf(args.conf), commands, deadline)
    emit("closed")


if __name__ == "__main__":
    main()
