#!/usr/bin/python3
"""Makes the fuzzers' seed corpora from real clients: starts a broker (FJORD_BIN) behind a
recording TCP proxy (the broker advertises the proxy, so every request passes through it), runs
librdkafka (confluent-kafka), kafka-python and kafkajs through produce (every codec), consume,
consumer groups and admin calls, then writes:

  fuzz/corpus/fuzz_request/          request frames as sent (size prefix stripped), a few per API
                                     and version
  fuzz/corpus/fuzz_record_batch/     the record batches the clients produced, from the segments
  fuzz/corpus/fuzz_segment_recovery/ small segment files

Usage: FJORD_BIN=build/debug/fjord /usr/bin/python3 fuzz/capture_seeds.py"""

import hashlib
import struct
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "tools" / "capture"))

from capture_requests import RecordingProxy  # noqa: E402
from fjord_harness import Broker  # noqa: E402

MAX_SEED = 8 << 10
PER_VERSION = 3


def run_clients(bootstrap):
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic("seeds", 2, 1), NewTopic("seeds-compact", 1, 1,
                                                                     config={"cleanup.policy": "compact"})]).values():
        f.result(30)
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 5,
                      "message.timeout.ms": 20000})
        for i in range(20):
            p.produce("seeds", key=b"key-%d" % (i % 4), value=b"%s value %d " % (codec.encode(), i) * 3,
                      headers=[("h", b"%d" % i)])
            p.produce("seeds-compact", key=b"k%d" % (i % 3), value=None if i == 19 else b"v%d" % i)
        assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "seeds-group", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe(["seeds"])
    got = 0
    for _ in range(200):
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            got += 1
            if got % 25 == 0:
                c.commit(m, asynchronous=False)
        if got >= 200:
            break
    c.close()
    admin.describe_configs([ConfigResource("topic", "seeds"), ConfigResource("broker", "1")])[
        ConfigResource("topic", "seeds")].result(30)
    for f in admin.create_partitions([NewPartitions("seeds", 3)]).values():
        f.result(30)
    admin.list_groups(timeout=10)

    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic as KNewTopic
    kp = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip")
    for i in range(10):
        kp.send("seeds", key=b"kp", value=b"kafka-python %d" % i)
    kp.flush(30)
    kp.close()
    kc = KafkaConsumer("seeds", bootstrap_servers=bootstrap, group_id="kp-group", auto_offset_reset="earliest",
                       consumer_timeout_ms=3000)
    for n, _ in enumerate(kc):
        if n > 50:
            break
    kc.commit()
    kc.close()
    ka = KafkaAdminClient(bootstrap_servers=bootstrap)
    ka.create_topics([KNewTopic("seeds-kp", 1, 1)])
    ka.describe_consumer_groups(["kp-group"])
    ka.list_consumer_group_offsets("kp-group")
    ka.delete_topics(["seeds-kp"])
    ka.close()

    js = ROOT / "tests" / "integration" / "js" / "admin_check.js"
    if (ROOT / "tests" / "node_modules" / "kafkajs").exists():
        subprocess.run(["node", str(js), bootstrap], cwd=ROOT / "tests", timeout=60, capture_output=True)


def write_seeds(directory, blobs, prefix=b""):
    directory.mkdir(parents=True, exist_ok=True)
    for name, blob in blobs:
        data = prefix + blob
        (directory / ("%s-%s" % (name, hashlib.sha1(data).hexdigest()[:12]))).write_bytes(data)


def split_batches(data):
    pos = 0
    while pos + 61 <= len(data):
        (length,) = struct.unpack(">i", data[pos + 8:pos + 12])
        if length <= 0 or pos + 12 + length > len(data):
            return
        yield data[pos:pos + 12 + length]
        pos += 12 + length


def main():
    work = Path(tempfile.mkdtemp(prefix="fjord-seeds-"))
    frames = []
    broker = Broker(work / "broker")
    proxy = RecordingProxy(broker.port, frames.append)
    # The broker advertises the proxy, so every connection a client makes goes through it.
    broker.extra_args += ["--set", "advertised.listeners=PLAINTEXT://127.0.0.1:%d" % proxy.port]
    broker.start()
    try:
        run_clients("127.0.0.1:%d" % proxy.port)
    finally:
        broker.stop()
    corpus = ROOT / "fuzz" / "corpus"

    per_version = defaultdict(list)
    for frame in frames:
        if len(frame) < 4 or len(frame) > MAX_SEED:
            continue
        key, version = struct.unpack(">hh", frame[:4])
        if frame not in per_version[(key, version)] and len(per_version[(key, version)]) < PER_VERSION:
            per_version[(key, version)].append(frame)
    write_seeds(corpus / "fuzz_request", [("api%d-v%d" % k, f) for k, fs in sorted(per_version.items()) for f in fs])

    batches, segments = {}, []
    for log in sorted(broker.data_dir.glob("*/*.log")):
        data = log.read_bytes()
        if 0 < len(data) <= 16 << 10 and not log.parent.name.startswith("__"):
            segments.append((log.parent.name, data))
        for b in split_batches(data):
            codec = struct.unpack(">h", b[21:23])[0] & 7
            kept = batches.setdefault((log.parent.name.rsplit("-", 1)[0], codec), [])
            if len(kept) < 3:
                kept.append((log.parent.name, b))
    # The record batch target's first byte: 0, take the batch as is.
    write_seeds(corpus / "fuzz_record_batch", [(n, b) for kept in batches.values() for n, b in kept if len(b) <= MAX_SEED], b"\0")
    write_seeds(corpus / "fuzz_segment_recovery", segments[:8])
    print("%d frames seen; seeds: %d requests (%d API versions), %d batches, %d segments"
          % (len(frames), sum(len(v) for v in per_version.values()), len(per_version), sum(len(v) for v in batches.values()),
             min(8, len(segments))))


if __name__ == "__main__":
    main()
