"""A workload for fault tests on a cluster: an idempotent acks=all producer writing numbered
records from a thread, and a consumer group member reading and committing from another. After
the faults, check() verifies Kafka's promises: every acknowledged record is in the log exactly
once, in production order per partition, nothing is there twice, and a new group member resumes
from the committed offsets."""

import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition


class Workload:
    def __init__(self, cluster, topic, partitions, group, max_records=200000, pause=0.001):
        self.cluster = cluster
        self.topic = topic
        self.partitions = partitions
        self.group = group
        self.max_records = max_records
        self.pause = pause
        self.acked = {}      # value -> (partition, offset)
        self.failed = {}     # value -> error
        self.consumed = []   # (partition, offset, value) as the group member read them
        self.commits = 0
        self.commit_errors = []  # per-partition commit errors seen (retried)
        self.errors = []     # fatal client errors
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = []

    def _bootstrap(self):
        return ",".join(n.bootstrap for n in self.cluster.nodes)

    def start(self):
        for fn in (self._produce, self._consume):
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _produce(self):
        p = Producer({"bootstrap.servers": self._bootstrap(), "acks": "all", "enable.idempotence": True,
                      "linger.ms": 5, "message.timeout.ms": 120000, "socket.timeout.ms": 10000,
                      "reconnect.backoff.max.ms": 500, "topic.metadata.refresh.interval.ms": 1000,
                      "retry.backoff.ms": 100})

        def cb_for(value):
            def cb(err, msg):
                with self._lock:
                    if err is None:
                        self.acked[value] = (msg.partition(), msg.offset())
                    else:
                        self.failed[value] = err
                        if err.fatal():
                            self.errors.append("producer: %s" % err)
            return cb

        i = 0
        while not self._stop.is_set() and i < self.max_records:
            try:
                p.produce(self.topic, key=b"k%d" % (i % 1000), value=b"v%d" % i, partition=i % self.partitions,
                          on_delivery=cb_for(i))
                i += 1
            except BufferError:
                p.poll(0.05)
                continue
            p.poll(0)
            if self.pause:
                time.sleep(self.pause)
        left = p.flush(150)
        if left:
            self.errors.append("producer: %d record(s) not delivered or failed within 150 s" % left)
        self.produced = i

    def _consume(self):
        c = Consumer({"bootstrap.servers": self._bootstrap(), "group.id": self.group,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False,
                      "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                      "socket.timeout.ms": 10000, "reconnect.backoff.max.ms": 500,
                      "topic.metadata.refresh.interval.ms": 1000, "fetch.wait.max.ms": 200})
        c.subscribe([self.topic])
        since_commit = 0
        try:
            while not self._stop.is_set():
                m = c.poll(0.2)
                if m is None:
                    continue
                if m.error():
                    if m.error().fatal():
                        self.errors.append("consumer: %s" % m.error())
                    continue
                with self._lock:
                    self.consumed.append((m.partition(), m.offset(), int(m.value()[1:])))
                since_commit += 1
                if since_commit >= 200:
                    since_commit = 0
                    if self._commit(c):
                        self.commits += 1
        finally:
            # The last positions, committed for sure (the coordinator may be moving).
            deadline = time.monotonic() + 30
            while not self._commit(c) and time.monotonic() < deadline:
                time.sleep(0.3)
            c.close()

    def _commit(self, c):
        """Commits the consumer's positions; False on a failure a retry may cure."""
        try:
            results = c.commit(asynchronous=False)
        except KafkaException as e:
            # Nothing new to commit is success; anything else (the coordinator moving) is retried.
            return e.args[0].code() == KafkaError._NO_OFFSET
        bad = [tp for tp in results or [] if tp.error is not None]
        if bad:
            self.commit_errors.append(str(bad[0].error))
        return not bad

    def acked_count(self):
        with self._lock:
            return len(self.acked)

    def wait_acked(self, count, timeout=60):
        deadline = time.monotonic() + timeout
        while self.acked_count() < count:
            assert time.monotonic() < deadline, "only %d records acknowledged, wanted %d; errors %s; failed %d" % (
                self.acked_count(), count, self.errors, len(self.failed))
            assert not self.errors, self.errors
            time.sleep(0.1)

    def wait_consumed(self, timeout=90):
        """The group member has read every record acknowledged until now."""
        with self._lock:
            want = set(self.acked)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                left = want - {v for _, _, v in self.consumed}
            if not left:
                return
            assert time.monotonic() < deadline, "the group has not read %d acknowledged record(s), first %s; errors %s" % (
                len(left), sorted(left)[:5], self.errors)
            assert not self.errors, self.errors
            time.sleep(0.1)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(200)
        assert not self.errors, self.errors

    def check(self, node, timeout=120):
        """Reads every partition from the start through `node` and checks the promises; returns
        a summary dict."""
        c = Consumer({"bootstrap.servers": node.bootstrap, "group.id": "checker-" + self.group,
                      "enable.auto.commit": False, "auto.offset.reset": "error", "fetch.wait.max.ms": 100})
        found = {}
        try:
            ends = {}
            marks = {}
            for p in range(self.partitions):
                lo, hi = c.get_watermark_offsets(TopicPartition(self.topic, p), timeout=30)
                ends[p] = hi
                marks[p] = (lo, hi)
            c.assign([TopicPartition(self.topic, p, 0) for p in range(self.partitions)])
            got = {p: [] for p in range(self.partitions)}
            deadline = time.monotonic() + timeout
            while any((got[p][-1][0] + 1 if got[p] else 0) < ends[p] for p in got):
                assert time.monotonic() < deadline, "could not read the partitions to their ends %s" % ends
                m = c.poll(0.5)
                if m is None or m.error():
                    continue
                got[m.partition()].append((m.offset(), int(m.value()[1:])))
        finally:
            c.close()
        for p, recs in got.items():
            for offset, value in recs:
                assert value not in found, "value %d twice: at %s and %s" % (value, found[value], (p, offset))
                found[value] = (p, offset)
            vals = [v for _, v in recs]
            assert vals == sorted(vals), "partition %d out of production order" % p
            assert all(v % self.partitions == p for v in vals), "a record in the wrong partition"
        missing = sorted(v for v in self.acked if v not in found)
        if missing:
            first = {}
            for v in missing:
                first.setdefault(self.acked[v][0], v)
            detail = "; ".join(
                "partition %d: first lost value %d acknowledged at offset %d, log read from offset %s, watermarks %s" % (
                    p, v, self.acked[v][1], got[p][0][0] if got[p] else None, marks[p]) for p, v in first.items())
            raise AssertionError("%d acknowledged record(s) lost, first %s (%s)" % (len(missing), missing[:10], detail))
        moved = [v for v, where in self.acked.items() if found[v] != where]
        assert not moved, "acknowledged at one offset, found at another: %s" % moved[:5]
        return {"acked": len(self.acked), "failed": len(self.failed), "in_log": len(found),
                "consumed": len(self.consumed), "commits": self.commits}

    def check_group_resumes(self, node):
        """A new member of the group starts each partition at the group's committed offset (one
        more record is written to each partition first, so there is something to start at). A
        partition the group read from has a commit; one it read nothing from (no record of it
        acknowledged while the member ran) may have none, and starts at the beginning."""
        p = Producer({"bootstrap.servers": node.bootstrap, "acks": "all"})
        for part in range(self.partitions):
            p.produce(self.topic, value=b"v%d" % (10**9 + part), partition=part)
        assert p.flush(60) == 0
        c = Consumer({"bootstrap.servers": node.bootstrap, "group.id": self.group, "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100, "session.timeout.ms": 6000})
        try:
            committed = {tp.partition: tp.offset for tp in
                         c.committed([TopicPartition(self.topic, p) for p in range(self.partitions)], timeout=30)}
            read_from = {part for part, _, _ in self.consumed}
            assert all(o >= 0 for p, o in committed.items() if p in read_from), (
                "no committed offsets: %s (commit errors: %s)" % (committed, self.commit_errors[:5]))
            # What the group member read is, per partition, a prefix up to at least its commit.
            for p, o in committed.items():
                read = sorted(off for part, off, _ in self.consumed if part == p)
                assert o < 0 or (read and read[-1] + 1 >= o), "partition %d committed %d past what was read" % (p, o)
            start = {p: (o if o >= 0 else 0) for p, o in committed.items()}
            c.subscribe([self.topic])
            first = {}
            deadline = time.monotonic() + 60
            while len(first) < len([p for p in committed]) and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None or m.error():
                    continue
                first.setdefault(m.partition(), m.offset())
            for p, o in first.items():
                assert o == start[p], "partition %d resumed at %d, committed %d" % (p, o, committed[p])
            return committed
        finally:
            c.close()
