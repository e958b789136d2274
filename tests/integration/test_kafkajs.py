"""kafkajs 2.2.4 admin client (tests/package.json; install with `cd tests && npm ci`)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fjord_harness import partition_dirs, wait_dirs_gone

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "js" / "admin_check.js"
KAFKAJS = HERE.parent / "node_modules" / "kafkajs"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node not installed"),
    pytest.mark.skipif(not KAFKAJS.is_dir(), reason="kafkajs not installed: cd tests && npm ci"),
]


def run_script(bootstrap, timeout=60):
    try:
        p = subprocess.run(["node", str(SCRIPT), bootstrap], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout, env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"))
    except subprocess.TimeoutExpired:
        raise AssertionError("admin_check.js did not finish within %ds" % timeout)
    lines = p.stdout.strip().splitlines()
    assert p.returncode == 0 and lines, "node exited %d\nstdout: %s\nstderr: %s" % (
        p.returncode, p.stdout, p.stderr)
    return json.loads(lines[-1])


def test_kafkajs_admin(broker):
    out = run_script(broker.bootstrap)

    assert out["cluster"]["controller"] == 1
    assert out["cluster"]["brokers"] == [{"nodeId": 1, "host": "127.0.0.1", "port": broker.port}]
    assert out["cluster"]["clusterId"]

    assert out["created"] is True
    assert out["createdAgain"] is False  # TOPIC_ALREADY_EXISTS is reported as "not created"
    assert out["badReplication"]["error"]["errorTypes"] == ["INVALID_REPLICATION_FACTOR"], out["badReplication"]
    assert out["topicsAfterCreate"] == ["js-a", "js-b"]

    md = {t["name"]: t["partitions"] for t in out["metadata"]}
    assert [p["id"] for p in md["js-a"]] == [0, 1, 2]
    assert [p["id"] for p in md["js-b"]] == [0]
    for parts in md.values():
        for p in parts:
            assert (p["error"], p["leader"], p["replicas"], p["isr"]) == (0, 1, [1], [1]), p

    assert [p["id"] for p in out["metadataAfterGrow"][0]["partitions"]] == [0, 1]
    assert out["shrink"]["error"]["type"] == "INVALID_PARTITIONS", out["shrink"]

    assert out["configs"]["errorCode"] == 0
    assert out["configs"]["retention.ms"]["value"] == "60000"
    assert out["configs"]["retention.ms"]["isDefault"] is False
    assert out["configs"]["cleanup.policy"]["value"] == "delete"

    assert out["topicsAfterDelete"] == ["js-b"]
    assert out["deleteUnknown"]["error"]["type"] == "UNKNOWN_TOPIC_OR_PARTITION", out["deleteUnknown"]

    assert partition_dirs(broker.data_dir, "js-b") == ["js-b-0", "js-b-1"]
    wait_dirs_gone(broker.data_dir, "js-a")
