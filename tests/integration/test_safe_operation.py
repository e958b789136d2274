"""One broker per port and data directory, and listeners as Kafka checks them: a second broker
on a taken address or directory exits non-zero with a clear message and the first keeps
serving; a security protocol Fjord does not implement is refused, never served as plaintext;
every listener is bound and advertises itself."""

import socket

import pytest

import kafka_raw as kr
from clients import consume, consumer, create_topic, produce_all, producer
from fjord_harness import FJORD_BIN, Broker, free_port, run_fjord


class Address:
    def __init__(self, bootstrap):
        self.bootstrap = bootstrap


def serve_once(data_dir, *listeners_and_args, timeout=20.0):
    """Runs `fjord serve` that is expected to refuse to start: its exit code and output."""
    r = run_fjord("serve", "--data-dir", data_dir, *listeners_and_args, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def still_serves(b, topic):
    """The first broker answers, and a record produced now comes back."""
    create_topic(b, topic)
    p = producer(b)
    reports = produce_all(p, topic, [{"key": b"k", "value": b"still here"}])
    assert all(r.err is None for r in reports), reports
    c = consumer(b, **{"auto.offset.reset": "earliest", "group.id": topic + "-g"})
    c.subscribe([topic])
    try:
        got, _ = consume(c, count=1)
    finally:
        c.close()
    assert [m.value() for m in got] == [b"still here"]


def test_a_second_broker_on_a_taken_port_exits_and_the_first_keeps_serving(broker, tmp_path):
    rc, out = serve_once(tmp_path / "other", "--listeners", "PLAINTEXT://127.0.0.1:%d" % broker.port)
    assert rc == 1, out
    assert "in use" in out and "another Fjord broker" in out, out
    assert "ready" not in out, out
    # A wildcard listener covers the first broker's address too.
    rc, out = serve_once(tmp_path / "wild", "--listeners", "PLAINTEXT://0.0.0.0:%d" % broker.port)
    assert rc == 1, out
    assert "in use" in out, out
    still_serves(broker, "port-owner")


def test_a_port_another_program_listens_on_is_refused(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as a Fjord shard would, even
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rc, out = serve_once(tmp_path / "d", "--listeners", "PLAINTEXT://127.0.0.1:%d" % port)
    assert rc == 1, out
    assert "another process listens there" in out, out


def test_a_second_broker_on_the_same_data_dir_exits_and_the_first_keeps_serving(broker, tmp_path):
    rc, out = serve_once(broker.data_dir, "--listeners", "PLAINTEXT://127.0.0.1:%d" % free_port())
    assert rc == 1, out
    assert "is in use by another process" in out and ("pid %d" % broker.pid) in out, out
    assert (broker.data_dir / ".lock").exists()
    still_serves(broker, "dir-owner")


def test_the_lock_goes_with_the_process_even_after_kill9(broker):
    create_topic(broker, "after-kill")
    broker.kill9()
    broker.start()  # the same directory at once: the kernel dropped the flock with the process
    assert "after-kill" in kr.topic_ids(broker.bootstrap)


@pytest.mark.parametrize("protocol", ["SSL", "SASL_PLAINTEXT", "SASL_SSL"])
def test_a_security_protocol_not_implemented_is_refused(tmp_path, protocol):
    rc, out = serve_once(tmp_path / "d", "--listeners", "%s://127.0.0.1:%d" % (protocol, free_port()))
    assert rc == 2, out
    assert "not supported" in out and protocol in out, out
    # Also when the name maps to it.
    rc, out = serve_once(tmp_path / "d", "--listeners", "SECURE://127.0.0.1:%d" % free_port(),
                         "--set", "listener.security.protocol.map=SECURE:%s" % protocol)
    assert rc == 2, out
    assert "not supported" in out, out


@pytest.mark.parametrize("listeners,map_,why", [
    ("PLAINTEXT://127.0.0.1:{a},PLAINTEXT://127.0.0.1:{b}", None, "used twice"),
    ("PLAINTEXT://127.0.0.1:{a},OTHER://127.0.0.1:{a}", "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT", "same port"),
    ("UNMAPPED://127.0.0.1:{a}", None, "no security protocol for listener UNMAPPED"),
    ("PLAINTEXT://127.0.0.1:{a}", "PLAINTEXT:TLS13", "unknown security protocol"),
], ids=["duplicate-name", "duplicate-port", "unmapped", "unknown-protocol"])
def test_bad_listeners_are_refused(tmp_path, listeners, map_, why):
    args = ["--listeners", listeners.format(a=free_port(), b=free_port())]
    if map_:
        args += ["--set", "listener.security.protocol.map=" + map_]
    rc, out = serve_once(tmp_path / "d", *args)
    assert rc == 2, out
    assert why in out, out


class TwoListenerBroker(Broker):
    def __init__(self, workdir, internal_port):
        super().__init__(workdir, name="two")
        self.internal_port = internal_port

    def command(self):
        return [FJORD_BIN, "serve", "--data-dir", str(self.data_dir), "--listeners",
                "PLAINTEXT://127.0.0.1:%d,INTERNAL://127.0.0.1:%d" % (self.port, self.internal_port),
                "--set", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
                "--set", "advertised.listeners=PLAINTEXT://127.0.0.1:%d,INTERNAL://localhost:%d"
                % (self.port, self.internal_port)]


def test_every_listener_is_bound_and_advertises_itself(tmp_path):
    b = TwoListenerBroker(tmp_path / "two", free_port())
    b.start()
    try:
        for bootstrap, host, port in [(b.bootstrap, "127.0.0.1", b.port),
                                      ("127.0.0.1:%d" % b.internal_port, "localhost", b.internal_port)]:
            with kr.Conn.to(bootstrap) as c:
                md = c.metadata(topics=[])
            assert [(x["host"], x["port"]) for x in md["brokers"]] == [(host, port)], md["brokers"]
        # A real client through the second listener (its advertised name resolves to loopback).
        still_serves(Address("127.0.0.1:%d" % b.internal_port), "via-internal")
        assert "PLAINTEXT 127.0.0.1:%d" % b.port in b.log_text()
        assert "INTERNAL 127.0.0.1:%d" % b.internal_port in b.log_text()
    finally:
        problems = b.finish()
    assert not problems, problems
