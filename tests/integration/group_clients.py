"""Helpers for test_groups.py: group member processes (group_member.py, js/group_member.js) and
the waits on what they report, a background producer, and the at-least-once check.

A Member is one process printing JSON-line events (see group_member.py for the list); a
reader thread collects them with the time they arrived. Every wait here has a deadline and
fails with the members' recent events and stderr.
"""

import json
import subprocess
import threading
import time

from clients import ok_reports, produce_all, producer
from fjord_harness import _live


class Member:
    """One group member process and the events it printed (read by a thread as they come)."""

    def __init__(self, name, argv, log_path, cwd=None, env=None):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     cwd=cwd, env=env, start_new_session=True)
        _live[self.proc.pid] = self.proc  # killed by PID at exit if pytest itself dies
        self._events = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="member-" + name, daemon=True)
        self._reader.start()

    def _read(self):
        try:
            for raw in self.proc.stdout:
                try:
                    ev = json.loads(raw)
                except ValueError:
                    ev = {"ev": "unparsed", "line": raw.decode(errors="replace")[:300]}
                ev["mono"] = time.monotonic()
                with self._lock:
                    self._events.append(ev)
        except (OSError, ValueError):  # the pipe was closed under us by reap()
            pass

    # ------------------------------------------------------------------ what it printed

    def events(self, since=0, kinds=None):
        with self._lock:
            evs = self._events[since:]
        return [e for e in evs if kinds is None or e["ev"] in kinds]

    def mark(self):
        """An index into the events: events(since=mark) are those printed after this call."""
        with self._lock:
            return len(self._events)

    def assignment(self):
        """The last whole assignment the member reported, as a set of (topic, partition)."""
        last = self.events(kinds=("assignment",))
        return {tuple(p) for p in last[-1]["partitions"]} if last else set()

    def records(self):
        """[(topic, partition, offset, value)] of every record it consumed, in order."""
        return [tuple(r) for e in self.events(kinds=("records",)) for r in e["records"]]

    def describe(self, n=12):
        """The last `n` distinct events (repeats collapsed, records counted) and stderr's tail."""
        compact = []
        for e in self.events():
            if e["ev"] == "records":
                e = {"ev": "records", "count": len(e["records"])}
            else:
                e = {k: v for k, v in e.items() if k not in ("t", "mono")}
            if compact and compact[-1][0] == e:
                compact[-1][1] += 1
            else:
                compact.append([e, 1])
        shown = [dict(e, repeated=k) if k > 1 else e for e, k in compact[-n:]]
        try:
            err = self.log_path.read_text(errors="replace")[-1500:]
        except OSError:
            err = ""
        return "%s (pid %d, %s): last events %s; stderr tail: %s" % (
            self.name, self.proc.pid, "running" if self.running() else "exit %s" % self.proc.returncode,
            json.dumps(shown), err)

    # ------------------------------------------------------------------ lifecycle

    def running(self):
        return self.proc.poll() is None

    def wait_for(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while not pred(self):
            if time.monotonic() >= deadline:
                raise AssertionError("%s: timed out after %.1fs waiting for %s\n%s"
                                     % (self.name, timeout, what, self.describe()))
            if not self.running():
                raise AssertionError("%s exited while waiting for %s\n%s" % (self.name, what, self.describe()))
            time.sleep(0.05)

    def request_close(self):
        """Asks the member to close its consumer (a dynamic member leaves the group); returns at once."""
        try:
            self.proc.stdin.write(b"close\n")
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def wait_closed(self, timeout=20.0):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError("%s did not close within %.0fs\n%s" % (self.name, timeout, self.describe()))
        _live.pop(self.proc.pid, None)
        self._reader.join(timeout=5)
        assert rc == 0 and self.events(kinds=("closed",)), "%s: close failed (exit %s)\n%s" % (
            self.name, rc, self.describe())

    def close(self, timeout=20.0):
        self.request_close()
        self.wait_closed(timeout)

    def kill9(self):
        """SIGKILL to this member's PID: no LeaveGroup, no commit, nothing."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        _live.pop(self.proc.pid, None)

    def reap(self):
        if self.proc.poll() is None:
            self.kill9()
        _live.pop(self.proc.pid, None)
        self._reader.join(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self._log.close()


# --------------------------------------------------------------------------- waits


def all_partitions(topic, n):
    return {(topic, p) for p in range(n)}


def balanced(assignments, partitions, sizes=None):
    """Disjoint, covering `partitions`, every member holding some (or exactly `sizes`)."""
    sets = list(assignments.values())
    if sum(len(s) for s in sets) != len(partitions) or set().union(*sets) != partitions:
        return False
    if sizes is not None:
        return sorted(len(s) for s in sets) == sorted(sizes)
    return all(sets)


def wait_balanced(group, partitions, timeout, sizes=None, settle=0.0, what=None):
    """Waits until the members' reported assignments are balanced (see balanced()) and have
    stayed unchanged for `settle` seconds; returns ({name: assignment}, seconds waited)."""
    start = time.monotonic()
    deadline = start + timeout
    since, last = None, None
    while True:
        now = {m.name: m.assignment() for m in group}
        if balanced(now, partitions, sizes):
            if now != last:
                since, last = time.monotonic(), now
            if time.monotonic() - since >= settle:
                return now, time.monotonic() - start
        else:
            since, last = None, None
        if time.monotonic() >= deadline:
            raise AssertionError("%s: not balanced over %d partitions%s after %.1fs: %s\n%s" % (
                what or "group", len(partitions), " as %s" % sizes if sizes else "", timeout,
                {k: sorted(v) for k, v in now.items()}, "\n".join(m.describe() for m in group)))
        time.sleep(0.05)


def revocations_of(member, kept, since):
    """Events after `since` that took any of `kept` away: revoked/lost callbacks naming one of
    them, or a reported assignment that lacks one."""
    bad = []
    for e in member.events(since=since):
        if e["ev"] in ("revoked", "lost"):
            parts = e["partitions"]
            if parts is None or kept & {tuple(p) for p in parts}:
                bad.append(e)
        elif e["ev"] == "assignment" and not kept <= {tuple(p) for p in e["partitions"]}:
            bad.append(e)
    return bad


class BackgroundProducer:
    """Produces "<tag>-<n>" records round-robin over a topic's partitions from a thread (about
    200 a second) until stop(), which returns [(partition, offset, value)] of every delivery."""

    def __init__(self, broker, topic, partitions, tag):
        self.topic, self.partitions, self.tag = topic, partitions, tag
        self.producer = producer(broker, **{"linger.ms": 2})
        self.delivered, self.errors = [], []
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="producer-" + tag, daemon=True)
        self.left = None
        self._thread.start()

    def _on_delivery(self, err, msg):
        if err is not None:
            self.errors.append(str(err))
        else:
            self.delivered.append((msg.partition(), msg.offset(), msg.value().decode()))

    def _run(self):
        while not self._stop.is_set():
            value = "%s-%d" % (self.tag, self.sent)
            try:
                self.producer.produce(self.topic, value=value.encode(), partition=self.sent % self.partitions,
                                      on_delivery=self._on_delivery)
                self.sent += 1
            except BufferError:
                pass
            self.producer.poll(0)
            self._stop.wait(0.005)
        self.left = self.producer.flush(20)
        self.producer = None  # no reconnect noise from a failed test's producer after its broker stopped

    def halt(self):
        """Stops producing and waits for the thread (flushing at most 20 s); no checks."""
        self._stop.set()
        self._thread.join(timeout=30)

    def stop(self):
        self.halt()
        assert not self._thread.is_alive(), "producer thread did not stop"
        assert not self.errors, "%d delivery errors, first: %s" % (len(self.errors), self.errors[0])
        assert self.left == 0 and len(self.delivered) == self.sent, \
            "%d of %d records delivered" % (len(self.delivered), self.sent)
        assert self.sent > 0
        return list(self.delivered)


def produce_values(broker, topic, counts, tag):
    """counts[p] records into each partition p, values "<tag>-<p>-<i>"; returns
    [(partition, offset, value)]."""
    recs = [{"partition": p, "value": ("%s-%d-%d" % (tag, p, i)).encode()}
            for p, n in sorted(counts.items()) for i in range(n)]
    reports = ok_reports(produce_all(producer(broker), topic, recs))
    return [(r.partition, r.offset, r.value.decode()) for r in reports]


def consumed_records(group, topic):
    """{(partition, offset): value} of every record any member consumed."""
    consumed = {}
    for m in group:
        for t, p, o, v in m.records():
            if t == topic:
                consumed.setdefault((p, o), v)
    return consumed


def missing_summary(missing, consumed):
    """Per partition: how many produced records are missing, their offset range, and the
    highest offset anyone consumed there."""
    out = {}
    for p, o, _ in missing:
        n, lo, hi = out.get(p, (0, o, o))
        out[p] = (n + 1, min(lo, o), max(hi, o))
    top = {}
    for p, o in consumed:
        top[p] = max(top.get(p, -1), o)
    return {p: "%d missing in [%d, %d], highest consumed %s" % (n, lo, hi, top.get(p))
            for p, (n, lo, hi) in sorted(out.items())}


def wait_all_consumed(delivered, group, topic, timeout=30.0):
    """Every delivered record was consumed (printed) by some member: at-least-once."""
    deadline = time.monotonic() + timeout
    while True:
        consumed = consumed_records(group, topic)
        missing = [(p, o, v) for p, o, v in delivered if consumed.get((p, o)) != v]
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise AssertionError("%d of %d produced records never consumed after %.0fs: %s\n%s" % (
                len(missing), len(delivered), timeout, missing_summary(missing, consumed),
                "\n".join(m.describe() for m in group)))
        time.sleep(0.1)
