"""A full disk, for real: the data dir is a 48 MiB tmpfs mounted in a mount namespace of its own
(made by this test, alive across broker restarts). Produce gets KAFKA_STORAGE_ERROR once a write fails,
the broker keeps serving, librdkafka reads back every acknowledged record while the disk is full,
and after space is freed and the broker restarted it reads them all again, once, in order, and
offsets continue."""

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import kafka_raw as kr
from clients import consume, consumer, create_topic
from fjord_harness import Broker

KAFKA_STORAGE_ERROR = 56
SIZE_MB = 48
BALLAST_MB = 8
RECORD_BYTES = 64 * 1024
RECORDS_PER_BATCH = 4


def mount_is_shared(path):
    """Whether the mount holding `path` propagates mounts made under it (a "shared:" tag in
    /proc/self/mountinfo), or None when no visible mount holds it (as in a chroot)."""
    best = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point, optional = fields[4], fields[6:fields.index("-")]
            if (str(path) + "/").startswith(point.rstrip("/") + "/") and (best is None or len(point) > len(best[0])):
                best = (point, any(o.startswith("shared:") for o in optional))
    return None if best is None else best[1]


class MountNamespace:
    """A sleeping process in its own mount namespace, with a small tmpfs mounted at a fresh
    directory under /dev/shm there only; brokers run inside it through nsenter. The mount is made
    only under a mount that propagates nothing (checked), so it can never appear outside, even
    where the namespace cannot be made private itself (a chroot's root is no mount point). The
    process is killed (by PID) and the directory removed at teardown."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="fjord-full-disk-", dir="/dev/shm"))
        self.proc = None
        if mount_is_shared(self.dir) is not False:
            self.close()
            raise AssertionError("the mount holding /dev/shm is shared or unknown: a test mount there could "
                                 "propagate outside its namespace")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "unchanged", "sh", "-c",
             "mount -t tmpfs -o size=%dm fjord-full-disk '%s' && echo mounted && exec sleep 900"
             % (SIZE_MB, self.dir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        line = self.proc.stdout.readline()
        if line.strip() != b"mounted":
            self.proc.wait(timeout=10)
            why = self.proc.stderr.read().decode(errors="replace")
            self.close()
            raise AssertionError("cannot make a mount namespace with a tmpfs (needs root): %s" % why)
        # Inside the namespace, the directory is the small tmpfs (nothing is written elsewhere).
        blocks, size = subprocess.run(self.prefix() + ["stat", "-f", "-c", "%b %S", str(self.dir)], check=True,
                                      capture_output=True, text=True, timeout=30).stdout.split()
        if int(blocks) * int(size) != SIZE_MB << 20:
            self.close()
            raise AssertionError("%s in the namespace is not the %d MiB tmpfs" % (self.dir, SIZE_MB))

    def prefix(self):
        # --root/--wd: entering a mount namespace resets the root to the namespace's, which in a
        # chroot is not this process's.
        return ["nsenter", "--target", str(self.proc.pid), "--mount", "--root", "--wd"]

    def run(self, *cmd):
        subprocess.run(self.prefix() + list(cmd), check=True, timeout=30)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir)


class NamespacedBroker(Broker):
    def __init__(self, ns, *args, **kw):
        super().__init__(*args, **kw)
        self.ns = ns

    def command(self):
        return self.ns.prefix() + super().command()


@pytest.fixture
def full_disk_broker(tmp_path):
    ns = MountNamespace()
    b = NamespacedBroker(ns, tmp_path / "broker", data_dir=ns.dir / "data", name="broker")
    try:
        yield b
        problems = b.finish()
        assert not problems, "\n\n".join(problems)
    finally:
        if b.running():
            b.kill9()
        ns.close()


def batch(first):
    """RECORDS_PER_BATCH records of RECORD_BYTES, record i's value being byte i % 251 repeated."""
    return kr.record_batch([(b"k%d" % i, bytes([i % 251]) * RECORD_BYTES)
                            for i in range(first, first + RECORDS_PER_BATCH)])


def read_back(b, topic, count):
    """The offsets librdkafka reads from partition 0 (checking every value), expecting `count`
    records and then nothing more."""
    from confluent_kafka import TopicPartition
    c = consumer(b)
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        msgs, errors = consume(c, count=count, timeout=60)
        extra, _ = consume(c, timeout=3, idle=1.5)
    finally:
        c.close()
    assert not errors, errors
    assert all(m.value() == bytes([m.offset() % 251]) * RECORD_BYTES for m in msgs)
    assert extra == [], "records past the last acknowledged one: %d" % len(extra)
    return [m.offset() for m in msgs]


def test_full_disk_refuses_with_storage_error_and_loses_nothing_acknowledged(full_disk_broker):
    b = full_disk_broker
    b.ns.run("sh", "-c", "head -c %d /dev/zero > '%s/ballast'" % (BALLAST_MB << 20, b.ns.dir))
    b.start()
    topic = create_topic(b, "full", 1)
    acked = 0
    with kr.Conn.to(b.bootstrap, timeout=15) as c:
        for _ in range(SIZE_MB * 1024 * 1024 // (RECORD_BYTES * RECORDS_PER_BATCH) + 10):  # bounded
            res = c.produce(topic, {0: batch(acked)}, acks=-1)[(topic, 0)]
            if res["error_code"] != 0:
                break
            assert res["base_offset"] == acked
            acked += RECORDS_PER_BATCH
        assert res["error_code"] == KAFKA_STORAGE_ERROR, res
        # Most of the disk was filled before the refusal.
        assert acked * RECORD_BYTES > (SIZE_MB - BALLAST_MB - 16) << 20, acked
        # The partition stays refused; the broker keeps answering.
        assert c.produce(topic, {0: batch(acked)}, acks=1)[(topic, 0)]["error_code"] == KAFKA_STORAGE_ERROR
        assert c.metadata([topic])["topics"][0]["error_code"] == 0
    b.wait_for_log(r"No space left on device")
    # Fetches of what is stored keep working while the disk is full.
    assert read_back(b, topic, acked) == list(range(acked))
    b.stop()

    b.ns.run("rm", "%s/ballast" % b.ns.dir)
    b.start()
    assert read_back(b, topic, acked) == list(range(acked))
    # Offsets continue after the restart.
    with kr.Conn.to(b.bootstrap, timeout=15) as conn:
        res = conn.produce(topic, {0: batch(acked)}, acks=-1)[(topic, 0)]
    assert (res["error_code"], res["base_offset"]) == (0, acked)
