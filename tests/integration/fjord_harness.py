"""Runs a real `fjord serve` process for the integration tests (fixtures: fixtures.py).

The binary is $FJORD_BIN, by default <repo>/build/debug/fjord (the ASan/UBSan build). Each
broker gets a free port on 127.0.0.1 and a data dir under pytest's tmp_path; its stdout and
stderr go to a log file beside the data dir (one file per start). At teardown a broker still
running is stopped with SIGTERM and must exit 0, and no log may hold a sanitizer report:
that is how ASan/LSan/UBSan errors fail the test that caused them.
"""

import atexit
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FJORD_BIN = os.environ.get("FJORD_BIN", str(REPO / "build" / "debug" / "fjord"))

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0

READY_RE = re.compile(r"\bready\b")
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "WARNING: AddressSanitizer",
    "runtime error:",  # UBSan
    "ThreadSanitizer",
)

# Every process a fixture started and has not yet reaped: killed (by PID) at interpreter
# exit if pytest itself dies half way through a test.
_live = {}


@atexit.register
def _kill_leftovers():
    for pid, proc in list(_live.items()):
        if proc.poll() is None:
            try:
                os.kill(pid, signal.SIGKILL)
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass


def free_port():
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_binary():
    if not (os.path.isfile(FJORD_BIN) and os.access(FJORD_BIN, os.X_OK)):
        pytest.fail("fjord binary not found at %s (build it, or set FJORD_BIN)" % FJORD_BIN,
                    pytrace=False)


def broker_env():
    env = dict(os.environ)
    # Keep leak detection on (the default); make sanitizer reports land in the log file and
    # make UBSan print stacks. Callers' own *SAN_OPTIONS win.
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return env


def run_fjord(*args, timeout=15.0, cwd=None):
    """Runs the binary to completion (for CLI tests); returns CompletedProcess with text output.
    On timeout the child is killed (by subprocess, by PID) and AssertionError is raised."""
    require_binary()
    try:
        return subprocess.run([FJORD_BIN, *map(str, args)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              errors="replace", timeout=timeout, cwd=cwd, env=broker_env())
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"")[-2000:] if isinstance(e.stdout, bytes) else (e.stdout or "")[-2000:]
        err = (e.stderr or b"")[-2000:] if isinstance(e.stderr, bytes) else (e.stderr or "")[-2000:]
        raise AssertionError("fjord %s did not exit within %.0fs\nstdout: %s\nstderr: %s"
                             % (" ".join(map(str, args)), timeout, out, err))


def sanitizer_lines(text):
    return [l for l in text.splitlines() if any(m in l for m in SANITIZER_MARKERS)]


class Broker:
    """One `fjord serve` process (restartable on the same port and data dir)."""

    def __init__(self, workdir, extra_args=(), port=None, data_dir=None, name="broker", host="127.0.0.1",
                 prefix=()):
        # `host`: the address it listens on; `prefix`: a command it runs under (ip netns exec ...).
        self._host = host
        self.prefix = list(prefix)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.data_dir = Path(data_dir) if data_dir is not None else self.workdir / "data"
        self.port = port or free_port()
        self.extra_args = [str(a) for a in extra_args]
        self.proc = None
        self.log_paths = []
        self._log_file = None
        # (how, exit code) per stop: how is "SIGTERM", "SIGINT", "SIGKILL" or "exited".
        self.exits = []

    # ------------------------------------------------------------------ properties

    @property
    def host(self):
        return self._host

    @property
    def bootstrap(self):
        return "%s:%d" % (self._host, self.port)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def command(self):
        return [*self.prefix, FJORD_BIN, "serve", "--data-dir", str(self.data_dir),
                "--listeners", "PLAINTEXT://%s:%d" % (self._host, self.port), *self.extra_args]

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # ------------------------------------------------------------------ logs

    @property
    def log_path(self):
        return self.log_paths[-1] if self.log_paths else None

    def log_text(self, all_runs=False):
        """The current run's log (or every run's, concatenated)."""
        paths = self.log_paths if all_runs else self.log_paths[-1:]
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())

    def tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def wait_for_log(self, pattern, timeout=5.0, all_runs=False):
        """Waits until the log matches the regex `pattern`; returns the first matching line."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_text(all_runs).splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() >= deadline:
                raise AssertionError("log of %s has no line matching %r after %.1fs; tail:\n%s"
                                     % (self.name, pattern, timeout, self.tail()))
            time.sleep(0.05)

    # ------------------------------------------------------------------ lifecycle

    def start(self, wait=True, timeout=READY_TIMEOUT):
        require_binary()
        assert not self.running(), "broker already running"
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        path = self.workdir / ("%s-%d.log" % (self.name, len(self.log_paths)))
        self.log_paths.append(path)
        self._log_file = open(path, "wb")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT,
                                     cwd=str(self.workdir), env=broker_env(),
                                     start_new_session=True)
        _live[self.proc.pid] = self.proc
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            if READY_RE.search(self.log_text()):
                break
            rc = self.proc.poll()
            if rc is not None:
                self._reaped("exited", rc)
                raise AssertionError("fjord exited with code %s before logging 'ready'; command: %s\n"
                                     "log tail:\n%s" % (rc, " ".join(self.command()), self.tail()))
            if time.monotonic() >= deadline:
                self.kill9()
                raise AssertionError("fjord did not log 'ready' within %.0fs; command: %s\nlog tail:\n%s"
                                     % (timeout, " ".join(self.command()), self.tail()))
            time.sleep(0.02)
        # 'ready' promises that connections are accepted: check it once.
        try:
            socket.create_connection((self._host, self.port), timeout=2).close()
        except OSError as e:
            raise AssertionError("fjord logged 'ready' but connecting to %s failed: %s\nlog tail:\n%s"
                                 % (self.bootstrap, e, self.tail()))

    def _unreaped(self):
        return self.proc is not None and self.proc.pid in _live

    def _reaped(self, how, rc):
        if self.proc is not None:
            _live.pop(self.proc.pid, None)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.exits.append((how, rc))

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends `sig` to the broker's PID and waits; returns the exit code (negative: killed by
        a signal). If it does not exit in time it is SIGKILLed and AssertionError is raised."""
        assert self.proc is not None, "broker was never started"
        if not self._unreaped():
            return self.proc.returncode
        if self.proc.poll() is not None:  # exited by itself
            self._reaped("exited", self.proc.returncode)
            return self.proc.returncode
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self._reaped("SIGKILL", self.proc.returncode)
            raise AssertionError("fjord did not exit within %.0fs of %s; log tail:\n%s"
                                 % (timeout, signal.Signals(sig).name, self.tail()))
        self._reaped(signal.Signals(sig).name, rc)
        return rc

    def kill9(self):
        """SIGKILL (an unclean stop: no exit-code check at teardown for this run)."""
        if self._unreaped():
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self._reaped("SIGKILL", self.proc.returncode)
            else:
                self._reaped("exited", self.proc.returncode)

    def restart(self, sig=signal.SIGTERM, wait=True):
        rc = self.stop(sig)
        assert rc == 0, "fjord exited with %s on %s; log tail:\n%s" % (rc, signal.Signals(sig).name, self.tail())
        return self.start(wait=wait)

    def finish(self):
        """Teardown: stops the broker if running; returns a list of problems found."""
        problems = []
        if self._unreaped():
            try:
                self.stop(signal.SIGTERM)
            except AssertionError as e:
                problems.append(str(e))
        for how, rc in self.exits:
            if how in ("SIGTERM", "SIGINT", "exited") and rc != 0:
                problems.append("%s: fjord exited with code %s after %s (sanitizer report or unclean "
                                "shutdown); log tail:\n%s" % (self.name, rc, how, self.tail(60)))
        bad = sanitizer_lines(self.log_text(all_runs=True))
        if bad:
            problems.append("%s: sanitizer reports in the log:\n%s" % (self.name, "\n".join(bad[:20])))
        return problems


# ---------------------------------------------------------------------- client helpers


def admin_client(broker, **conf):
    """A confluent_kafka AdminClient for `broker` (librdkafka logs go to stderr)."""
    from confluent_kafka.admin import AdminClient

    base = {"bootstrap.servers": broker.bootstrap, "socket.timeout.ms": 10000,
            "reconnect.backoff.max.ms": 500}
    base.update(conf)
    return AdminClient(base)


def result_of(futures, timeout=15.0):
    """{key: result or exception} for a dict of futures, waiting at most `timeout` in total."""
    deadline = time.monotonic() + timeout
    out = {}
    for k, f in futures.items():
        try:
            out[k] = f.result(timeout=max(0.1, deadline - time.monotonic()))
        except Exception as e:  # KafkaException, TimeoutError...
            out[k] = e
    return out


# ---------------------------------------------------------------------- data dir helpers


def partition_dirs(data_dir, topic):
    """Names of `<topic>-<n>` directories in the data dir, sorted by partition."""
    rx = re.compile(re.escape(topic) + r"-(\d+)")
    found = [(int(m.group(1)), p.name) for p in Path(data_dir).iterdir()
             if p.is_dir() and (m := rx.fullmatch(p.name))]
    return [name for _, name in sorted(found)]


def delete_leftovers(data_dir, topic):
    """Directories that still belong to a deleted topic: `<topic>-<n>` and any `*-delete`."""
    return partition_dirs(data_dir, topic) + sorted(
        p.name for p in Path(data_dir).iterdir() if p.name.endswith("-delete"))


def wait_dirs_gone(data_dir, topic, timeout=10.0):
    """Waits until a deleted topic's directories are gone (see delete_leftovers)."""
    deadline = time.monotonic() + timeout
    while True:
        left = delete_leftovers(data_dir, topic)
        if not left:
            return
        if time.monotonic() >= deadline:
            raise AssertionError("directories of deleted topic %s still present after %.0fs: %s"
                                 % (topic[:60], timeout, [n[:60] + ("..." if len(n) > 60 else "") for n in left]))
        time.sleep(0.05)


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value and returns that value; AssertionError
    (with the last value) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)
