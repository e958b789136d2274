"""Resource limits with Kafka's names: max.connections (accepting waits), max.connections.per.ip
(closed at once), and queued.max.request.bytes (a broker flooded with big unfinished frames stops
reading them instead of allocating: its RSS stays bounded, and small requests still get answers)."""

import socket
import struct
import time

import pytest

import kafka_raw
from fjord_harness import wait_until
from clients import create_topic, ok_reports, produce_all, producer


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def answers(conn, timeout=3.0):
    """Whether an ApiVersions request gets its answer within `timeout` seconds."""
    conn.sock.settimeout(timeout)
    try:
        conn.api_versions()
        return True
    except (socket.timeout, kafka_raw.ConnectionClosed, ConnectionError, OSError):
        return False


def test_connections_past_max_connections_per_ip_are_closed(broker_factory):
    b = broker_factory("--set", "max.connections.per.ip=3", name="per-ip")
    conns = [kafka_raw.Conn.to(b.bootstrap) for _ in range(3)]
    try:
        for c in conns:
            assert answers(c)
        extra = kafka_raw.Conn.to(b.bootstrap)  # the TCP handshake completes in the kernel
        assert extra.wait_closed(timeout=5.0), "a fourth connection from 127.0.0.1 stayed open"
        extra.close()
        b.wait_for_log(r"max\.connections\.per\.ip", timeout=5)
        # One closes: a new one is admitted.
        conns.pop().close()

        def admitted():
            c = kafka_raw.Conn.to(b.bootstrap)
            if answers(c, timeout=2.0):
                conns.append(c)
                return True
            c.close()
            return False

        wait_until(admitted, timeout=10, interval=0.2, what="a connection admitted after one closed")
    finally:
        for c in conns:
            c.close()


def test_accepting_waits_at_max_connections(broker_factory):
    b = broker_factory("--set", "max.connections=3", name="max-conns")
    conns = [kafka_raw.Conn.to(b.bootstrap) for _ in range(3)]
    try:
        for c in conns:
            assert answers(c)
        # The fourth waits in the listen backlog: no answer while three are open...
        waiting = kafka_raw.Conn.to(b.bootstrap)
        cid = waiting.send(kafka_raw.API_API_VERSIONS, 3, kafka_raw.build_api_versions(3), flexible_header=True)
        waiting.sock.settimeout(1.5)
        with pytest.raises(socket.timeout):
            waiting.sock.recv(1)
        # ...and is served once one of them closes.
        conns.pop().close()
        waiting.sock.settimeout(10)
        waiting.recv_response(cid, flexible_header=False)
        conns.append(waiting)
    finally:
        for c in conns:
            c.close()


def test_queued_max_request_bytes_bounds_memory_under_unfinished_big_frames(broker_factory):
    """200 connections each send a 1 MiB produce frame but its last byte: 200 MiB if the broker
    buffered them all. With queued.max.request.bytes=32 MiB, it reads about 32 of them and
    leaves the rest in the sockets."""
    b = broker_factory("--set", "queued.max.request.bytes=33554432", "--set", "connections.max.idle.ms=60000",
                       name="queued-bytes")
    topic = create_topic(b, "bounded", 1)
    ok_reports(produce_all(producer(b), topic, [{"value": b"warm-up"}]))
    base = rss_kib(b.pid)
    frame_size = 1 << 20
    body = bytes(frame_size - 1)
    slow = []
    try:
        for _ in range(200):
            c = kafka_raw.Conn.to(b.bootstrap)
            c.sock.setblocking(False)
            try:
                c.sock.send(struct.pack(">i", frame_size))
                sent = 0
                # As much as the socket takes without blocking: the rest stays with this client.
                while sent < len(body):
                    try:
                        sent += c.sock.send(body[sent:sent + 65536])
                    except BlockingIOError:
                        break
            finally:
                c.sock.setblocking(True)
            slow.append(c)
        time.sleep(1.0)
        grown = rss_kib(b.pid) - base
        print("broker RSS %d KiB before, %+d KiB with 200 unfinished 1 MiB frames" % (base, grown))
        # 32 MiB of frames plus what buffers the shards keep; far below 200 MiB.
        assert grown < 96 * 1024, "RSS grew by %d KiB" % grown
        # Small requests need no lease: a new client is answered while the budget is spent.
        with kafka_raw.Conn.to(b.bootstrap) as fresh:
            assert answers(fresh, timeout=5.0)
    finally:
        for c in slow:
            c.close()
    # Once the slow frames are gone, a big produce goes through again.
    ok_reports(produce_all(producer(b), topic, [{"value": b"x" * 500_000}]))
    assert b.running()


def test_a_frame_that_never_completes_is_dropped(broker_factory):
    b = broker_factory("--set", "socket.request.read.timeout.ms=1000", name="slow-loris")
    with kafka_raw.Conn.to(b.bootstrap) as idle, kafka_raw.Conn.to(b.bootstrap) as slow:
        slow.send_raw(struct.pack(">i", 200_000) + bytes(10))  # then nothing more
        started = time.monotonic()
        assert slow.wait_closed(timeout=5.0)
        assert time.monotonic() - started < 4.0
        b.wait_for_log(r"socket\.request\.read\.timeout\.ms", timeout=2)
        # A connection between requests is idle, not slow: connections.max.idle.ms applies to it.
        assert answers(idle)
