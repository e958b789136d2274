"""Resource limits with Kafka's names: max.connections (accepting waits), max.connections.per.ip
(closed at once), and queued.max.request.bytes (a broker flooded with big unfinished frames stops
reading them instead of allocating: its RSS stays bounded, and small requests still get answers)."""

import resource
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


def test_a_connection_flood_and_slow_consumers_keep_rss_bounded(broker_factory):
    """1,000 connections that each ask ApiVersions and stay open, and 100 consumers that ask for
    32 MiB of a 32 MiB partition and never read their socket (4 KiB receive buffers): the broker's
    RSS grows by less than 128 MiB (the records go out of the page cache, nothing per consumer is
    buffered), and a new client is still served."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 1400
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.fail("RLIMIT_NOFILE hard limit %d is below the %d this test needs" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    b = broker_factory("--set", "connections.max.idle.ms=300000", name="flood")
    topic = create_topic(b, "flood", 1)
    record = 64 * 1024
    with kafka_raw.Conn.to(b.bootstrap, timeout=15) as c:
        for i in range(64):  # 64 batches of 8 x 64 KiB: 32 MiB
            batch = kafka_raw.record_batch([(None, bytes([i]) * record) for _ in range(8)])
            assert c.produce(topic, {0: batch}, acks=1)[(topic, 0)]["error_code"] == 0
    base = rss_kib(b.pid)
    conns = []
    try:
        for _ in range(1000):
            c = kafka_raw.Conn.to(b.bootstrap, timeout=10)
            conns.append(c)
            c.api_versions()
        fetch = kafka_raw.build_fetch_v4(topic, {0: 0}, max_wait_ms=0, max_bytes=32 << 20,
                                         partition_max_bytes=32 << 20)
        for _ in range(100):
            c = kafka_raw.Conn.to(b.bootstrap, timeout=10, rcvbuf=4096)
            conns.append(c)
            c.send(1, 4, fetch)  # the answer is never read
        time.sleep(2.0)
        # The fetches were answered: each stalled consumer has the start of a 32 MiB response.
        for c in conns[1000:]:
            head = c.sock.recv(4, socket.MSG_PEEK)
            assert len(head) == 4 and struct.unpack(">i", head)[0] > 32_000_000, head
        grown = rss_kib(b.pid) - base
        print("broker RSS %d KiB before, %+d KiB with 1,000 open connections and 100 stalled 32 MiB "
              "fetches" % (base, grown))
        assert grown < 128 * 1024, "RSS grew by %d KiB" % grown
        with kafka_raw.Conn.to(b.bootstrap) as fresh:
            assert answers(fresh, timeout=5.0)
        ok_reports(produce_all(producer(b), topic, [{"value": b"after the flood"}]))
    finally:
        for c in conns:
            c.close()
    assert b.running()
