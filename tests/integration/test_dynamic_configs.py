"""Configs that change without a restart, with real clients: dynamic broker configs (AlterConfigs
on a BROKER resource: this broker's id, or "" for the cluster-wide default) from confluent-kafka
and kafka-python, and a topic's retention.ms altered with kafka-python. Each takes effect on a
running broker and survives a restart.

librdkafka and kafkajs refuse a BROKER resource named "" on the client side, and kafka-python
sends only AlterConfigs (not DescribeConfigs) for it, so the cluster-wide default is set with
kafka-python and seen through what it changes (the unit tests describe "" directly)."""

import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ConfigResource, ConfigSource
from kafka.admin import ConfigResource as KpResource, ConfigResourceType, KafkaAdminClient

from fjord_harness import admin_client, result_of, wait_until
from clients import consume_partitions, create_topic, ok_reports, produce_all, producer, watermarks

BROKER = ConfigResource.Type.BROKER
TOPIC = ConfigResource.Type.TOPIC
SEGMENT = 16384
RECORDS = 200  # of ~1 KB


@pytest.fixture
def dbroker(broker_factory):
    return broker_factory("--set", "log.retention.check.interval.ms=200", name="dynamic")


def segment_count(broker, topic, partition=0):
    d = Path(broker.data_dir) / ("%s-%d" % (topic, partition))
    return sum(1 for p in d.iterdir() if p.name.endswith(".log"))


def fill(broker, topic, count=RECORDS, first=0):
    recs = [{"key": b"k%d" % i, "value": (b"%06d" % i) * 170} for i in range(count)]
    p = producer(broker, acks="all", **{"batch.num.messages": 5, "linger.ms": 1})
    reports = ok_reports(produce_all(p, topic, recs))
    assert [r.offset for r in reports] == list(range(first, first + count))


def alter(admin, restype, name, configs):
    """AlterConfigs (replaces every dynamic config of the resource); None or the KafkaError."""
    res = ConfigResource(restype, name, set_config=configs)
    (out,) = result_of(admin.alter_configs([res], request_timeout=15), 15).values()
    if isinstance(out, KafkaException):
        return out.args[0]
    if isinstance(out, Exception):
        raise out
    return None


def describe(admin, restype, name):
    res = ConfigResource(restype, name)
    (out,) = result_of(admin.describe_configs([res], request_timeout=15), 15).values()
    assert not isinstance(out, Exception), out
    return out


def kp_client(broker):
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="fjord-it", request_timeout_ms=10000,
                            api_version_auto_timeout_ms=10000, reconnect_backoff_max_ms=500)


def kp_alter(broker, restype, name, configs):
    """kafka-python AlterConfigs of one resource: (error code, message)."""
    client = kp_client(broker)
    try:
        resp = client.alter_configs([KpResource(restype, name, configs=configs)])
    finally:
        client.close()
    ((err, msg),) = [(r[0], r[1]) for r in resp.resources]
    return err, msg


def test_cluster_default_retention_applies_to_running_topics_and_persists(dbroker):
    b = dbroker
    topic = create_topic(b, "dyn-retention", 1, {"segment.bytes": str(SEGMENT)})  # no retention.ms override
    fill(b, topic)
    before = segment_count(b, topic)
    assert before > 2
    admin = admin_client(b)
    assert kp_alter(b, ConfigResourceType.BROKER, "", {"log.retention.ms": "1000"})[0] == 0
    cfg = describe(admin, TOPIC, topic)["retention.ms"]
    assert (cfg.value, cfg.source) == ("1000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    # The running topic follows: old segments go, no restart.
    wait_until(lambda: watermarks(b, topic, 0)[0] > 0, 10, what="log start offset moving up")
    wait_until(lambda: segment_count(b, topic) < before, 10, what="segment files going")

    # This broker's own value outranks the cluster-wide default.
    assert alter(admin, BROKER, "1", {"log.retention.ms": "3600000"}) is None
    cfg = describe(admin, TOPIC, topic)["retention.ms"]
    assert (cfg.value, cfg.source) == ("3600000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    node = describe(admin, BROKER, "1")["log.retention.ms"]
    assert (node.value, node.source, node.is_read_only) == ("3600000", ConfigSource.DYNAMIC_BROKER_CONFIG.value,
                                                            False)
    assert describe(admin, BROKER, "1")["num.partitions"].is_read_only

    # Both survive a restart (they are in the metadata log), and retention keeps working.
    b.restart()
    admin = admin_client(b)
    client = kp_client(b)
    try:
        (resp,) = client.describe_configs([KpResource(ConfigResourceType.BROKER, "1")], include_synonyms=True)
    finally:
        client.close()
    entry = {e[0]: e for e in resp.resources[0][4]}["log.retention.ms"]
    assert entry[1] == "3600000"
    assert entry[5] == [("log.retention.ms", "3600000", ConfigSource.DYNAMIC_BROKER_CONFIG.value),
                        ("log.retention.ms", "1000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)]
    assert describe(admin, TOPIC, topic)["retention.ms"].value == "3600000"
    # AlterConfigs with nothing removes this broker's values: the default applies again.
    assert alter(admin, BROKER, "1", {}) is None
    assert describe(admin, TOPIC, topic)["retention.ms"].value == "1000"
    fill(b, topic, 20, first=watermarks(b, topic, 0)[1])
    high = watermarks(b, topic, 0)[1]
    wait_until(lambda: watermarks(b, topic, 0)[0] == high, 10, what="the log emptied by retention.ms=1000")


def test_message_max_bytes_applies_at_once(dbroker):
    b = dbroker
    topic = create_topic(b, "dyn-max-bytes", 1)
    admin = admin_client(b)
    assert alter(admin, BROKER, "1", {"message.max.bytes": "2000"}) is None
    cfg = describe(admin, TOPIC, topic)["max.message.bytes"]
    assert (cfg.value, cfg.source) == ("2000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    p = producer(b, retries=0)
    (big,) = produce_all(p, topic, [{"value": b"x" * 5000}])
    assert big.err is not None and big.err.code() == KafkaError.MSG_SIZE_TOO_LARGE, big.err
    ok_reports(produce_all(p, topic, [{"value": b"small"}]))
    assert alter(admin, BROKER, "1", {}) is None
    ok_reports(produce_all(p, topic, [{"value": b"x" * 5000}]))


def test_bad_broker_configs_are_refused_naming_the_key(dbroker):
    admin = admin_client(dbroker)
    err = alter(admin, BROKER, "1", {"num.partitions": "3"})  # needs a restart in Kafka too
    assert err is not None and err.code() == KafkaError.INVALID_REQUEST, err
    assert "num.partitions" in err.str()
    err = alter(admin, BROKER, "1", {"no.such.setting": "3"})
    assert err is not None and err.code() == KafkaError.INVALID_CONFIG, err
    assert "no.such.setting" in err.str()
    err, msg = kp_alter(dbroker, ConfigResourceType.BROKER, "", {"log.retention.ms": "soon"})
    assert err == KafkaError.INVALID_CONFIG and "log.retention.ms" in msg, (err, msg)
    err, msg = kp_alter(dbroker, ConfigResourceType.BROKER, "7", {"log.retention.ms": "1000"})  # another broker
    assert err == KafkaError.INVALID_REQUEST, (err, msg)
    cfg = describe(admin, BROKER, "1")
    assert cfg["num.partitions"].value == "1"
    assert cfg["log.retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value


def test_log_cleaner_settings_apply_live(broker_factory):
    # A backoff of 10 minutes: no compaction pass until the backoff is changed.
    b = broker_factory("--set", "log.cleaner.backoff.ms=600000", name="dyn-cleaner")
    topic = create_topic(b, "dyn-compacted", 1, {"cleanup.policy": "compact", "segment.bytes": "8192",
                                                 "min.cleanable.dirty.ratio": "0.01"})
    recs = [{"key": b"key-%d" % (i % 10), "value": b"v%05d" % i + b"." * 200} for i in range(400)]
    p = producer(b, acks="all", **{"batch.num.messages": 10, "linger.ms": 1})  # batches of ~2 KB
    ok_reports(produce_all(p, topic, recs))
    assert segment_count(b, topic) > 5

    def live_records():
        msgs, errors = consume_partitions(b, topic, [0], start=0, timeout=20)
        assert not errors, errors
        return msgs

    time.sleep(1.5)
    assert len(live_records()) == len(recs), "compacted before the backoff changed"
    assert kp_alter(b, ConfigResourceType.BROKER, "", {"log.cleaner.backoff.ms": "200",
                                                       "log.cleaner.threads": "2"})[0] == 0
    b.wait_for_log(r"log cleaner: 2 thread\(s\)", timeout=5)
    msgs = wait_until(lambda: (lambda m: m if len(m) < 60 else None)(live_records()), 20, interval=0.2,
                      what="the topic compacted once log.cleaner.backoff.ms was lowered")
    for m in msgs:
        assert (m.key(), m.value()) == (recs[m.offset()]["key"], recs[m.offset()]["value"]), m.offset()
    last = {r["key"]: i for i, r in enumerate(recs)}
    assert {m.key(): m.offset() for m in msgs} == last, "the last record of every key is kept at its offset"


# ---------------------------------------------------------------------- kafka-python


@pytest.fixture
def kp(dbroker):
    client = kp_client(dbroker)
    yield client
    client.close()


def kp_errors(resp):
    return [(r[0], r[1]) for r in resp.resources]


def test_kafka_python_alters_topic_retention_live(dbroker, kp):
    b = dbroker
    topic = create_topic(b, "kp-retention", 1, {"segment.bytes": str(SEGMENT), "retention.ms": "3600000"})
    fill(b, topic)
    before = segment_count(b, topic)
    assert before > 2
    resp = kp.alter_configs([KpResource(ConfigResourceType.TOPIC, topic,
                                        configs={"segment.bytes": str(SEGMENT), "retention.ms": "1000"})])
    assert [e for e, _ in kp_errors(resp)] == [0], kp_errors(resp)
    wait_until(lambda: watermarks(b, topic, 0)[0] > 0, 10, what="log start offset moving up")
    wait_until(lambda: segment_count(b, topic) < before, 10, what="segment files going")
    low, high = watermarks(b, topic, 0)
    msgs, errors = consume_partitions(b, topic, [0], start=low, **{"auto.offset.reset": "earliest"})
    assert not errors
    assert [m.offset() for m in msgs] == list(range(low, high))


def test_kafka_python_alters_and_describes_broker_configs(dbroker, kp):
    resp = kp.alter_configs([KpResource(ConfigResourceType.BROKER, "1", configs={"log.segment.bytes": "65536"})])
    assert [e for e, _ in kp_errors(resp)] == [0], kp_errors(resp)
    (resp,) = kp.describe_configs([KpResource(ConfigResourceType.BROKER, "1")])
    (res,) = resp.resources
    assert res[0] == 0, res
    entry = {e[0]: e for e in res[4]}["log.segment.bytes"]
    assert entry[1] == "65536"
    if resp.API_VERSION >= 1:
        assert entry[3] == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    # A topic created now gets it as its default; a read-only key is refused.
    topic = create_topic(dbroker, "kp-segments", 1)
    (resp,) = kp.describe_configs([KpResource(ConfigResourceType.TOPIC, topic)])
    assert {e[0]: e for e in resp.resources[0][4]}["segment.bytes"][1] == "65536"
    resp = kp.alter_configs([KpResource(ConfigResourceType.BROKER, "1", configs={"node.id": "5"})])
    (err, msg), = kp_errors(resp)
    assert err == KafkaError.INVALID_REQUEST and "node.id" in msg, (err, msg)
