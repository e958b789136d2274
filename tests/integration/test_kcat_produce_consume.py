"""kcat (librdkafka 2.0.2) as producer and consumer: keyed produce from stdin, consume from the
beginning, from an offset, from the end, and from a timestamp. kcat's consumer (no -G) assigns
partitions itself, so no consumer-group API is needed."""

import shutil
import subprocess
import time

import pytest

from clients import create_topic, now_ms, watermarks

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed")


def kcat(*args, stdin=None, timeout=20):
    try:
        p = subprocess.run(["kcat", *map(str, args)], input=stdin, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("kcat %s did not finish within %ds" % (" ".join(map(str, args)), timeout))
    assert p.returncode == 0, "kcat %s exited %d\nstdout: %s\nstderr: %s" % (
        " ".join(map(str, args)), p.returncode, p.stdout, p.stderr)
    return p.stdout


def produce(broker, topic, lines, *extra):
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-K:", "-X", "acks=all", *extra,
         stdin="".join(l + "\n" for l in lines))


def consume(broker, topic, *extra, fmt="%k %s %p %o\\n"):
    """Lines kcat prints consuming to the end of the partitions (-e)."""
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-e", "-q", "-f", fmt.replace("\\n", "\n"), *extra)
    return out.splitlines()


def parse(lines):
    """'key value partition offset' lines -> [(key, value, partition, offset)]."""
    out = []
    for l in lines:
        k, v, p, o = l.split(" ")
        out.append((k, v, int(p), int(o)))
    return out


def test_keyed_produce_consume_all_partitions(broker):
    topic = create_topic(broker, "kc-keys", 3)
    lines = ["key%d:value%d" % (i % 7, i) for i in range(300)]
    produce(broker, topic, lines)
    got = parse(consume(broker, topic, "-o", "beginning"))
    assert len(got) == 300
    assert sorted(v for _, v, _, _ in got) == sorted("value%d" % i for i in range(300))

    part_of = {}
    by_part = {}
    for k, v, p, o in got:
        assert int(v[5:]) % 7 == int(k[3:]), (k, v)  # key and value stay together
        part_of.setdefault(k, set()).add(p)
        by_part.setdefault(p, []).append((o, int(v[5:])))
    assert all(len(ps) == 1 for ps in part_of.values()), part_of  # a key has one partition
    assert len(by_part) > 1, by_part.keys()
    for p, recs in by_part.items():
        recs.sort()
        # Offsets 0..n-1 and, within a partition, the order the lines were produced in.
        assert [o for o, _ in recs] == list(range(len(recs))), p
        assert [i for _, i in recs] == sorted(i for _, i in recs), p
        assert watermarks(broker, topic, p) == (0, len(recs))


@pytest.fixture
def twenty(broker):
    topic = create_topic(broker, "kc-one", 1)
    produce(broker, topic, ["k%d:v%d" % (i, i) for i in range(20)])
    return broker, topic


def test_consume_from_offset(twenty):
    broker, topic = twenty
    got = parse(consume(broker, topic, "-p", "0", "-o", "5"))
    assert got == [("k%d" % i, "v%d" % i, 0, i) for i in range(5, 20)]
    # A negative offset counts back from the end.
    got = parse(consume(broker, topic, "-p", "0", "-o", "-3"))
    assert got == [("k%d" % i, "v%d" % i, 0, i) for i in range(17, 20)]


def test_consume_from_end_gives_nothing_old(twenty):
    broker, topic = twenty
    assert consume(broker, topic, "-p", "0", "-o", "end") == []
    produce(broker, topic, ["late:record"])
    assert parse(consume(broker, topic, "-p", "0", "-o", "-1")) == [("late", "record", 0, 20)]


def test_consume_from_timestamp(broker):
    topic = create_topic(broker, "kc-ts", 1)
    produce(broker, topic, ["old%d:a%d" % (i, i) for i in range(10)])
    time.sleep(0.01)  # the clock moves past the last old record's CreateTime
    t = now_ms()
    time.sleep(0.01)
    produce(broker, topic, ["new%d:b%d" % (i, i) for i in range(5)])
    got = consume(broker, topic, "-o", "s@%d" % t, fmt="%k %s %o %T\\n")
    assert [l.split(" ")[:3] for l in got] == [["new%d" % i, "b%d" % i, str(10 + i)] for i in range(5)]
    assert all(int(l.split(" ")[3]) >= t for l in got), got
    # And everything, with CreateTime timestamps in produce order.
    every = consume(broker, topic, "-o", "beginning", fmt="%o %T\\n")
    ts = [int(l.split(" ")[1]) for l in every]
    assert len(ts) == 15 and ts == sorted(ts) and max(ts[:10]) < t <= min(ts[10:]), ts
