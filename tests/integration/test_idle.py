"""connections.max.idle.ms: an idle connection is closed; an active one is not."""

import time

import kafka_raw


def test_idle_connection_is_closed_and_active_one_kept(broker_factory):
    b = broker_factory("--set", "connections.max.idle.ms=700")
    with kafka_raw.Conn.to(b.bootstrap) as idle, kafka_raw.Conn.to(b.bootstrap) as active:
        idle.api_versions()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # bounded: about 10 requests
            active.api_versions()
            time.sleep(0.2)
        assert idle.wait_closed(timeout=3.0)
        active.api_versions()  # still open: it never went 700 ms without a request
    assert "connections.max.idle.ms" in b.log_text()
