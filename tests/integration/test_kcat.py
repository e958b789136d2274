"""kcat (librdkafka) metadata listing: -L and -L -J."""

import json
import re
import shutil
import subprocess

import pytest

import kafka_raw as kr

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed")


def kcat(*args, timeout=20):
    try:
        p = subprocess.run(["kcat", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("kcat %s did not finish within %ds" % (" ".join(args), timeout))
    assert p.returncode == 0, "kcat %s exited %d\nstdout: %s\nstderr: %s" % (
        " ".join(args), p.returncode, p.stdout, p.stderr)
    return p.stdout


@pytest.fixture
def two_topics(broker):
    with kr.Conn.to(broker.bootstrap) as c:
        resp = c.create_topics([{"name": "alpha", "num_partitions": 3, "replication_factor": 1},
                                {"name": "beta", "num_partitions": 1, "replication_factor": 1}])
    assert [t["error_code"] for t in resp["topics"]] == [0, 0]
    return broker


def test_list_plain(two_topics):
    b = two_topics
    out = kcat("-b", b.bootstrap, "-L", "-m", "10")
    assert re.search(r"^ 1 brokers:$", out, re.M), out
    assert re.search(r"^\s+broker 1 at 127\.0\.0\.1:%d( \(controller\))?$" % b.port, out, re.M), out
    assert re.search(r'^\s+topic "alpha" with 3 partitions:$', out, re.M), out
    assert re.search(r'^\s+topic "beta" with 1 partitions:$', out, re.M), out
    assert re.search(r"^ 2 topics:$", out, re.M), out
    for i in range(3):
        assert re.search(r"^\s+partition %d, leader 1, replicas: 1, isrs: 1$" % i, out, re.M), out


def test_list_json(two_topics):
    b = two_topics
    md = json.loads(kcat("-b", b.bootstrap, "-L", "-J", "-m", "10"))
    assert md["brokers"] == [{"id": 1, "name": "127.0.0.1:%d" % b.port}]
    assert md["controllerid"] == 1
    topics = {t["topic"]: t for t in md["topics"]}
    assert set(topics) == {"alpha", "beta"}
    assert [p["partition"] for p in topics["alpha"]["partitions"]] == [0, 1, 2]
    for t in topics.values():
        assert "error" not in t, t
        for p in t["partitions"]:
            assert p["leader"] == 1
            assert p["replicas"] == [{"id": 1}] and p["isrs"] == [{"id": 1}]


def test_list_single_topic_json(two_topics):
    md = json.loads(kcat("-b", two_topics.bootstrap, "-L", "-J", "-t", "alpha", "-m", "10"))
    assert [t["topic"] for t in md["topics"]] == ["alpha"]
    assert len(md["topics"][0]["partitions"]) == 3
