"""kafkajs 2.2.4 producer (acks -1 and 1, no compression and gzip) and reading back.

kafkajs's Consumer always joins a consumer group and Fjord serves no group APIs yet, so
js/produce_consume.js reads the records back with kafkajs's own Fetch requests (Broker#fetch on
the cluster object kafkajs builds): same decoding as the consumer, no group."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from clients import CODEC_IDS, create_topic, now_ms, stored_batches

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "js" / "produce_consume.js"
KAFKAJS = HERE.parent / "node_modules" / "kafkajs"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node not installed"),
    pytest.mark.skipif(not KAFKAJS.is_dir(), reason="kafkajs not installed: cd tests && npm ci"),
]

COUNT = 2000
PARTITIONS = 3


def run_script(bootstrap, spec, timeout=75):
    try:
        p = subprocess.run(["node", str(SCRIPT), bootstrap, json.dumps(spec)], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout, cwd=str(HERE.parent),
                           env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"))
    except subprocess.TimeoutExpired:
        raise AssertionError("produce_consume.js did not finish within %ds" % timeout)
    lines = p.stdout.strip().splitlines()
    assert p.returncode == 0 and lines, "node exited %d\nstdout: %s\nstderr: %s" % (
        p.returncode, p.stdout[-3000:], p.stderr[-3000:])
    return json.loads(lines[-1])


def expected(i, base_ts):
    """The record produce_consume.js sends as number i."""
    return {"key": "key-%d" % (i % 13), "value": "value-%d-" % i + "x" * (i % 50),
            "headers": {"seq": str(i), "kind": "kafkajs"}, "timestamp": base_ts + i}


def test_kafkajs_produce_and_fetch(broker):
    base = now_ms() - 3_600_000
    cases = []
    for acks in (-1, 1):
        for codec in ("none", "gzip"):
            topic = create_topic(broker, "kj-%s-%s" % ("all" if acks == -1 else acks, codec), PARTITIONS)
            cases.append({"topic": topic, "acks": acks, "compression": codec, "count": COUNT, "baseTs": base})
    plain = cases[0]["topic"]
    spec = {"cases": cases, "offsetsTopic": plain,
            "offsetsQueries": {"mid": base + 1000, "first": base, "after": base + COUNT + 10}}
    out = run_script(broker.bootstrap, spec)
    assert "error" not in out, out

    fetched_by_topic = {}
    for case, res in zip(cases, out["cases"]):
        topic = case["topic"]
        assert res["topic"] == topic
        assert all(r["errorCode"] == 0 for r in res["produced"]), res["produced"][:5]
        recs = res["fetched"]
        fetched_by_topic[topic] = recs
        assert len(recs) == COUNT, (topic, len(recs))
        parts_of_key = {}
        by_part = {}
        for r in recs:
            seq = int(r["headers"]["seq"])
            exp = expected(seq, base)
            assert {k: r[k] for k in ("key", "value", "headers", "timestamp")} == exp, (topic, r)
            parts_of_key.setdefault(r["key"], set()).add(r["partition"])
            by_part.setdefault(r["partition"], []).append((r["offset"], seq))
        assert sorted(int(r["headers"]["seq"]) for r in recs) == list(range(COUNT))
        assert all(len(ps) == 1 for ps in parts_of_key.values()), parts_of_key
        assert len(by_part) > 1
        for p, offs in by_part.items():
            # Offsets dense from 0; within a partition, the order the records were sent in.
            assert [o for o, _ in offs] == list(range(len(offs))), (topic, p)
            assert [s for _, s in offs] == sorted(s for _, s in offs), (topic, p)
        highs = {int(p): h for p, h in res["highWatermarks"].items()}
        assert highs == {p: len(offs) for p, offs in by_part.items()}
        assert sorted((o["partition"], o["low"], o["high"]) for o in res["topicOffsets"]) == \
            sorted((p, 0, highs.get(p, 0)) for p in range(PARTITIONS))
        # The batches are stored the way kafkajs sent them.
        for p in by_part:
            codecs = {a & 7 for _, _, a in stored_batches(broker, topic, p)}
            assert codecs == {CODEC_IDS[case["compression"]]}, (topic, p, codecs)

    # ListOffsets by timestamp (admin.fetchTopicOffsetsByTimestamp) on the uncompressed topic:
    # the first offset whose timestamp is >= the one asked for, or the end offset if none.
    recs = fetched_by_topic[plain]
    for name, ts in spec["offsetsQueries"].items():
        want = {}
        for p in range(PARTITIONS):
            mine = sorted((r["offset"], r["timestamp"]) for r in recs if r["partition"] == p)
            later = [o for o, t in mine if t >= ts]
            want[p] = later[0] if later else len(mine)
        got = {o["partition"]: o["offset"] for o in out["byTimestamp"][name]}
        assert got == want, (name, got, want)
