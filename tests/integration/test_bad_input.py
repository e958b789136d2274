"""Malformed and hostile input on one connection: the broker drops that connection (or answers,
for ApiVersions), logs the problem, stays up, and keeps serving a second client meanwhile."""

import random
import re
import socket
import struct
import threading
import time

import pytest

import kafka_raw as kr
from fjord_harness import wait_until


class Witness:
    """A second client that keeps doing round trips on its own connection (ApiVersions v3, and
    Metadata v12 every few rounds) in a background thread while the test misbehaves elsewhere."""

    def __init__(self, bootstrap, max_seconds=30.0):
        self.bootstrap = bootstrap
        self.max_seconds = max_seconds
        self.count = 0
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="witness", daemon=True)

    def _run(self):
        deadline = time.monotonic() + self.max_seconds
        try:
            with kr.Conn.to(self.bootstrap, timeout=5) as c:
                while not self._stop.is_set() and time.monotonic() < deadline:
                    assert c.api_versions(3)["error_code"] == 0
                    if self.count % 5 == 4:
                        assert c.metadata(None, allow_auto_topic_creation=False)["controller_id"] == 1
                    self.count += 1
                    self._stop.wait(0.005)
        except Exception as e:  # noqa: BLE001 - reported by check()
            self.error = e

    def __enter__(self):
        self._thread.start()
        wait_until(lambda: self.count > 0 or self.error, 10, what="first witness round trip")
        self.check()
        return self

    def check(self):
        if self.error is not None:
            raise AssertionError("second client failed: %r" % (self.error,))

    def progressed(self, n=5, timeout=10):
        """Waits for n more successful round trips."""
        start = self.count
        wait_until(lambda: self.count >= start + n or self.error, timeout, what="witness progress")
        self.check()

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "witness thread stuck"
        if exc[0] is None:
            self.check()


def log_mark(broker):
    return len(broker.log_text().splitlines())


def new_log_lines(broker, mark):
    return broker.log_text().splitlines()[mark:]


def expect_logged(broker, mark, pattern, timeout=5):
    """Exactly one new log line matches `pattern` (one line per bad connection, no flood)."""
    rx = re.compile(pattern, re.I)
    try:
        wait_until(lambda: [l for l in new_log_lines(broker, mark) if rx.search(l)], timeout,
                   what="a log line matching %r" % pattern)
    except AssertionError:
        raise AssertionError("no new log line matches %r; new lines:\n%s"
                             % (pattern, "\n".join(new_log_lines(broker, mark)) or "(none)"))
    lines = new_log_lines(broker, mark)
    assert len([l for l in lines if rx.search(l)]) == 1 and len(lines) <= 3, \
        "expected one log line for one bad connection, got:\n" + "\n".join(lines)


def still_serving(broker):
    """A brand-new connection gets answers: the broker is alive and accepting."""
    assert broker.running(), "broker died; log tail:\n" + broker.tail()
    with kr.Conn.to(broker.bootstrap) as c:
        assert c.api_versions(3)["error_code"] == 0
        assert c.metadata(None, allow_auto_topic_creation=False)["brokers"][0]["node_id"] == 1


def raw_socket(broker):
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_by_peer(sock, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def header(api_key, version, cid=1, flexible=False):
    return kr.request_header(api_key, version, cid, "fjord-it-bad", flexible)


HTTP_GET = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
RANDOM_FRAME = random.Random(1234).randbytes(512)  # api key 0xb97f: unknown

# name -> (bytes to send, regex a new log line must match)
CLOSING_CASES = {
    "oversize-frame": (struct.pack(">i", 104857600 + 1) + b"\x00" * 64,
                       r"socket\.request\.max\.bytes|too (large|big)|exceed|size"),
    "negative-size": (struct.pack(">i", -2) + b"\x00" * 16, r"negative|invalid|size"),
    "zero-size": (struct.pack(">i", 0), r"invalid|empty|size|malformed|short|truncat"),
    "unknown-api-key": (kr.frame(header(9999, 0)), r"9999|unknown api|unsupported api|api key"),
    "metadata-v99": (kr.frame(header(kr.API_METADATA, 99, flexible=True)), r"99|unsupported|version"),
    "garbage-metadata-body": (kr.frame(header(kr.API_METADATA, 12, flexible=True) + b"\xff" * 7),
                              r"malformed|decode|invalid|parse|corrupt|truncat|short"),
    "random-bytes": (kr.frame(RANDOM_FRAME), r"malformed|decode|invalid|parse|unknown|unsupported|api"),
    "http-request": (HTTP_GET, r"socket\.request\.max\.bytes|too (large|big)|exceed|size|http"),
}


@pytest.mark.parametrize("case", sorted(CLOSING_CASES))
def test_bad_frame_closes_connection(broker, case):
    payload, log_pattern = CLOSING_CASES[case]
    with Witness(broker.bootstrap) as w:
        mark = log_mark(broker)
        s = raw_socket(broker)
        try:
            s.sendall(payload)
            assert closed_by_peer(s, 5), "broker kept the connection open after %s" % case
        finally:
            s.close()
        w.progressed()
        expect_logged(broker, mark, log_pattern)
    still_serving(broker)


def test_frame_size_limit_is_inclusive(broker_factory):
    body = kr.build_api_versions(3)
    req = header(kr.API_API_VERSIONS, 3, flexible=True) + body
    b = broker_factory("--set", "socket.request.max.bytes=%d" % len(req))
    with Witness(b.bootstrap) as w:
        with kr.Conn.to(b.bootstrap) as c:  # exactly at the limit: served
            c.send_raw(kr.frame(req))
            assert kr.parse_api_versions(c.recv_response(1), 3)["error_code"] == 0
        mark = log_mark(b)
        with kr.Conn.to(b.bootstrap) as c:  # one byte over: dropped before the body arrives
            c.send_raw(struct.pack(">i", len(req) + 1))
            assert c.wait_closed(5), "broker accepted a frame over socket.request.max.bytes"
        w.progressed()
        expect_logged(b, mark, CLOSING_CASES["oversize-frame"][1])
    still_serving(b)


def test_api_versions_unsupported_version(broker):
    with Witness(broker.bootstrap) as w:
        with kr.Conn.to(broker.bootstrap) as c:
            cid = c.send(kr.API_API_VERSIONS, 99, b"\x00\x00\x00", flexible_header=True)
            r = c.recv_response(cid, flexible_header=False)  # response header v0
            resp = kr.parse_api_versions(r, 0)  # v0 body
            assert resp["error_code"] == kr.UNSUPPORTED_VERSION
            assert resp["api_keys"] == {kr.API_API_VERSIONS: (0, 4)}
            # The connection stays usable: clients retry with a version from that answer.
            assert c.api_versions(4)["error_code"] == 0
            assert c.api_versions(3)["error_code"] == 0
            assert c.api_versions(0)["error_code"] == 0
        w.progressed()
    still_serving(broker)


def test_truncated_frame_then_client_closes(broker):
    with Witness(broker.bootstrap) as w:
        for cut in (2, 4, 10, 20):
            s = raw_socket(broker)
            full = kr.frame(header(kr.API_METADATA, 12, flexible=True) + kr.build_metadata(None, 12))
            s.sendall(full[:cut])
            s.close()
        s = raw_socket(broker)  # and one that resets instead of closing cleanly
        s.sendall(struct.pack(">i", 100) + b"\x00" * 10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        w.progressed()
    still_serving(broker)


def test_request_sent_byte_by_byte(broker):
    with Witness(broker.bootstrap) as w:
        with kr.Conn.to(broker.bootstrap) as c:
            data = kr.frame(header(kr.API_METADATA, 12, cid=7, flexible=True)
                            + kr.build_metadata(None, 12, False))
            for i in range(len(data)):
                c.send_raw(data[i:i + 1])
                time.sleep(0.002)
            md = kr.parse_metadata(c.recv_response(7, flexible_header=True), 12)
            assert md["controller_id"] == 1
        w.progressed()


def test_many_bad_connections_at_once(broker):
    cases = list(CLOSING_CASES.values())
    with Witness(broker.bootstrap) as w:
        socks = [raw_socket(broker) for _ in range(24)]
        try:
            for i, s in enumerate(socks):
                s.sendall(cases[i % len(cases)][0])
            for i, s in enumerate(socks):
                assert closed_by_peer(s, 5), "connection %d still open" % i
        finally:
            for s in socks:
                s.close()
        w.progressed()
    still_serving(broker)


def test_client_vanishing_mid_response_does_not_kill_the_broker(broker):
    """Fetch responses of several MiB, sent with sendfile, to clients that reset their connection
    right after asking: writing to a reset socket must end that connection only (no SIGPIPE)."""
    with kr.Conn.to(broker.bootstrap) as c:
        c.create_topics([{"name": "vanish", "num_partitions": 1, "replication_factor": 1}])
        for _ in range(8):
            batch = kr.record_batch([(None, b"x" * 100_000) for _ in range(5)])
            assert c.produce("vanish", {0: batch})[("vanish", 0)]["error_code"] == 0
    fetch = kr.frame(kr.request_header(kr.API_FETCH, 4, 1) +
                     kr.build_fetch_v4("vanish", {0: 0}, max_bytes=64 << 20, partition_max_bytes=64 << 20))
    with Witness(broker.bootstrap) as w:
        for _ in range(30):
            s = raw_socket(broker)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(fetch)
            time.sleep(0.01)  # the broker starts answering into a small window
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # RST: later writes by the broker fail with EPIPE / ECONNRESET
        w.progressed()
    still_serving(broker)
