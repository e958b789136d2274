"""confluent_kafka (librdkafka) AdminClient against the broker."""

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource, ConfigSource, NewPartitions, NewTopic

import kafka_raw as kr
from fjord_harness import admin_client, partition_dirs, result_of, wait_dirs_gone, wait_until

TIMEOUT = 15.0


def create(admin, *topics, validate_only=False):
    fs = admin.create_topics(list(topics), operation_timeout=10, request_timeout=TIMEOUT,
                             validate_only=validate_only)
    return result_of(fs, TIMEOUT)


def code(result):
    """Kafka error code of a future's outcome (0 = success)."""
    if isinstance(result, KafkaException):
        return result.args[0].code()
    if isinstance(result, Exception):
        raise result
    return 0


def topics(admin, topic=None):
    md = admin.list_topics(topic=topic, timeout=TIMEOUT)
    return md.topics


def wait_topic(admin, name, partitions=None, timeout=5.0):
    def ok():
        t = topics(admin).get(name)
        if t is None or t.error is not None:
            return None
        if partitions is not None and len(t.partitions) != partitions:
            return None
        return t
    return wait_until(ok, timeout, what="topic %s with %s partitions in metadata" % (name, partitions))


def describe(admin, restype, name):
    res = ConfigResource(restype, name)
    (out,) = result_of(admin.describe_configs([res], request_timeout=TIMEOUT), TIMEOUT).values()
    return out


# ---------------------------------------------------------------------- create / list


def test_create_and_list(broker, admin):
    res = create(admin, NewTopic("three", 3, 1), NewTopic("dflt", -1, -1))
    assert {k: code(v) for k, v in res.items()} == {"three": 0, "dflt": 0}
    t = wait_topic(admin, "three", 3)
    wait_topic(admin, "dflt", 1)
    md = admin.list_topics(timeout=TIMEOUT)
    assert md.controller_id == 1
    assert list(md.brokers) == [1]
    assert (md.brokers[1].host, md.brokers[1].port) == ("127.0.0.1", broker.port)
    assert md.cluster_id
    for p in t.partitions.values():
        assert (p.leader, p.replicas, p.isrs, p.error) == (1, [1], [1], None)
    assert partition_dirs(broker.data_dir, "three") == ["three-0", "three-1", "three-2"]
    assert partition_dirs(broker.data_dir, "dflt") == ["dflt-0"]


def test_validate_only_creates_nothing(broker, admin):
    res = create(admin, NewTopic("vo", 2, 1), validate_only=True)
    assert code(res["vo"]) == 0
    assert "vo" not in topics(admin)
    assert partition_dirs(broker.data_dir, "vo") == []
    res = create(admin, NewTopic("vo", 2, 3), validate_only=True)
    assert code(res["vo"]) == kr.INVALID_REPLICATION_FACTOR


@pytest.mark.parametrize("topic,err", [
    (NewTopic("rf3", 1, 3), kr.INVALID_REPLICATION_FACTOR),
    (NewTopic("rf0", 1, 0), kr.INVALID_REPLICATION_FACTOR),
    (NewTopic("p0", 0, 1), kr.INVALID_PARTITIONS),
    (NewTopic("", 1, 1), kr.INVALID_TOPIC_EXCEPTION),
    (NewTopic(".", 1, 1), kr.INVALID_TOPIC_EXCEPTION),
    (NewTopic("..", 1, 1), kr.INVALID_TOPIC_EXCEPTION),
    (NewTopic("y" * 250, 1, 1), kr.INVALID_TOPIC_EXCEPTION),
    (NewTopic("no#hash", 1, 1), kr.INVALID_TOPIC_EXCEPTION),
    (NewTopic("cfg", 1, 1, config={"no.such.config": "1"}), kr.INVALID_CONFIG),
    (NewTopic("cfg", 1, 1, config={"retention.ms": "abc"}), kr.INVALID_CONFIG),
    (NewTopic("cfg", 1, 1, config={"cleanup.policy": "shred"}), kr.INVALID_CONFIG),
], ids=["rf3", "rf0", "partitions0", "empty", "dot", "dotdot", "len250", "hash", "unknown-config",
        "retention-abc", "bad-cleanup-policy"])
def test_create_errors(broker, admin, topic, err):
    (res,) = create(admin, topic).values()
    assert code(res) == err, res
    assert topics(admin) == {}


def test_create_existing(broker, admin):
    assert code(create(admin, NewTopic("exists", 2, 1))["exists"]) == 0
    assert code(create(admin, NewTopic("exists", 4, 1))["exists"]) == kr.TOPIC_ALREADY_EXISTS
    assert len(wait_topic(admin, "exists").partitions) == 2


# ---------------------------------------------------------------------- auto-creation via metadata


def test_librdkafka_default_auto_creation(broker, admin):
    """librdkafka's allow.auto.create.topics defaults to true for producer-type handles (the
    AdminClient is one) and false for consumers, and it sends that flag in Metadata v4+."""
    from confluent_kafka import Consumer

    md = admin.list_topics(topic="by-admin", timeout=TIMEOUT)
    assert md.topics["by-admin"].error is None or md.topics["by-admin"].error.code() == 5  # LEADER_NOT_AVAILABLE
    wait_topic(admin, "by-admin", 1)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "fjord-it"})
    try:
        t = consumer.list_topics(topic="by-consumer", timeout=TIMEOUT).topics["by-consumer"]
    finally:
        consumer.close()
    assert t.error is not None and t.error.code() == kr.UNKNOWN_TOPIC_OR_PARTITION
    assert "by-consumer" not in topics(admin)


def test_list_topics_auto_creates_when_client_allows(broker):
    admin = admin_client(broker, **{"allow.auto.create.topics": True})
    topics(admin, topic="auto-rdk")
    t = wait_topic(admin, "auto-rdk", 1)
    assert t.partitions[0].leader == 1
    assert partition_dirs(broker.data_dir, "auto-rdk") == ["auto-rdk-0"]


def test_list_topics_does_not_create_when_client_disallows(broker):
    admin = admin_client(broker, **{"allow.auto.create.topics": False})
    t = topics(admin, topic="not-auto")["not-auto"]
    assert t.error is not None and t.error.code() == kr.UNKNOWN_TOPIC_OR_PARTITION
    assert "not-auto" not in topics(admin)


def test_list_topics_auto_create_disabled_on_broker(broker_factory):
    b = broker_factory("--set", "auto.create.topics.enable=false")
    admin = admin_client(b, **{"allow.auto.create.topics": True})
    t = topics(admin, topic="blocked")["blocked"]
    assert t.error is not None and t.error.code() == kr.UNKNOWN_TOPIC_OR_PARTITION
    assert "blocked" not in topics(admin)
    assert partition_dirs(b.data_dir, "blocked") == []


# ---------------------------------------------------------------------- describe configs


def test_describe_topic_config_defaults(broker, admin):
    create(admin, NewTopic("cfgd", 1, 1))
    cfg = describe(admin, ConfigResource.Type.TOPIC, "cfgd")
    assert not isinstance(cfg, Exception), cfg
    # Kafka's topic configs and their defaults.
    expected = {"retention.ms": "604800000", "segment.bytes": "1073741824", "cleanup.policy": "delete",
                "max.message.bytes": "1048588", "retention.bytes": "-1", "segment.ms": "604800000",
                "delete.retention.ms": "86400000", "min.insync.replicas": "1", "compression.type": "producer",
                "message.timestamp.type": "CreateTime", "segment.index.bytes": "10485760",
                "index.interval.bytes": "4096", "min.cleanable.dirty.ratio": "0.5", "min.compaction.lag.ms": "0",
                "file.delete.delay.ms": "60000", "preallocate": "false", "segment.jitter.ms": "0",
                "unclean.leader.election.enable": "false", "flush.messages": "9223372036854775807",
                "flush.ms": "9223372036854775807", "max.compaction.lag.ms": "9223372036854775807"}
    for k, v in expected.items():
        assert k in cfg, "missing %s (got %s)" % (k, sorted(cfg))
        assert (cfg[k].value, cfg[k].source) == (v, ConfigSource.DEFAULT_CONFIG.value), cfg[k]
        assert cfg[k].is_default


def test_describe_topic_config_set_at_creation(broker, admin):
    create(admin, NewTopic("cfgs", 1, 1, config={"retention.ms": "3600000", "cleanup.policy": "compact"}))
    cfg = describe(admin, ConfigResource.Type.TOPIC, "cfgs")
    for k, v in {"retention.ms": "3600000", "cleanup.policy": "compact"}.items():
        assert (cfg[k].value, cfg[k].source) == (v, ConfigSource.DYNAMIC_TOPIC_CONFIG.value), cfg[k]
        assert not cfg[k].is_default
    # librdkafka asks for synonyms (DescribeConfigs v1+): the override comes first, then the default.
    syn = [(s.name, s.value, s.source) for s in cfg["retention.ms"].synonyms.values()]
    assert syn, "no synonyms returned for retention.ms"
    assert syn[0] == ("retention.ms", "3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert syn[-1][2] == ConfigSource.DEFAULT_CONFIG.value
    assert cfg["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value


def test_describe_topic_config_static_broker_synonym(broker_factory):
    b = broker_factory("--set", "log.retention.ms=7200000")
    admin = admin_client(b)
    create(admin, NewTopic("plain", 1, 1), NewTopic("over", 1, 1, config={"retention.ms": "3600000"}))
    plain = describe(admin, ConfigResource.Type.TOPIC, "plain")["retention.ms"]
    over = describe(admin, ConfigResource.Type.TOPIC, "over")["retention.ms"]
    # Without an override the broker's static log.retention.ms is the effective value (as in Kafka).
    assert (plain.value, plain.source) == ("7200000", ConfigSource.STATIC_BROKER_CONFIG.value)
    syn = [(s.name, s.value, s.source) for s in over.synonyms.values()]
    assert (over.value, over.source) == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert syn[:2] == [("retention.ms", "3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value),
                       ("log.retention.ms", "7200000", ConfigSource.STATIC_BROKER_CONFIG.value)]
    assert syn[-1][2] == ConfigSource.DEFAULT_CONFIG.value


def test_describe_broker_config(broker, admin):
    cfg = describe(admin, ConfigResource.Type.BROKER, "1")
    assert not isinstance(cfg, Exception), cfg
    expected = {"num.partitions": "1", "auto.create.topics.enable": "true",
                "socket.request.max.bytes": "104857600", "message.max.bytes": "1048588",
                "log.retention.hours": "168", "node.id": "1"}
    for k, v in expected.items():
        assert k in cfg, "missing %s" % k
        assert cfg[k].value == v, cfg[k]
    assert cfg["num.partitions"].source == ConfigSource.DEFAULT_CONFIG.value
    assert cfg["log.dirs"].value == str(broker.data_dir)
    assert cfg["log.dirs"].source == ConfigSource.STATIC_BROKER_CONFIG.value


def test_describe_broker_config_static_value(broker_factory):
    b = broker_factory("--set", "num.partitions=3")
    admin = admin_client(b)
    cfg = describe(admin, ConfigResource.Type.BROKER, "1")
    assert (cfg["num.partitions"].value, cfg["num.partitions"].source) == \
        ("3", ConfigSource.STATIC_BROKER_CONFIG.value)


def test_describe_unknown_topic(broker, admin):
    res = describe(admin, ConfigResource.Type.TOPIC, "ghost")
    assert code(res) == kr.UNKNOWN_TOPIC_OR_PARTITION, res


# ---------------------------------------------------------------------- create partitions


def test_create_partitions(broker, admin):
    create(admin, NewTopic("grow", 1, 1))
    fs = admin.create_partitions([NewPartitions("grow", 4)], request_timeout=TIMEOUT)
    assert code(result_of(fs)["grow"]) == 0
    t = wait_topic(admin, "grow", 4)
    assert sorted(t.partitions) == [0, 1, 2, 3]
    assert all(p.leader == 1 for p in t.partitions.values())
    assert partition_dirs(broker.data_dir, "grow") == ["grow-%d" % i for i in range(4)]


def test_create_partitions_validate_only(broker, admin):
    create(admin, NewTopic("vgrow", 2, 1))
    fs = admin.create_partitions([NewPartitions("vgrow", 5)], validate_only=True, request_timeout=TIMEOUT)
    assert code(result_of(fs)["vgrow"]) == 0
    assert len(topics(admin)["vgrow"].partitions) == 2
    assert partition_dirs(broker.data_dir, "vgrow") == ["vgrow-0", "vgrow-1"]


@pytest.mark.parametrize("name,count,err", [
    ("shrink", 2, kr.INVALID_PARTITIONS),      # equal to the current count
    ("shrink", 1, kr.INVALID_PARTITIONS),      # fewer
    ("ghost", 3, kr.UNKNOWN_TOPIC_OR_PARTITION),
])
def test_create_partitions_errors(broker, admin, name, count, err):
    create(admin, NewTopic("shrink", 2, 1))
    fs = admin.create_partitions([NewPartitions(name, count)], request_timeout=TIMEOUT)
    assert code(result_of(fs)[name]) == err
    assert len(topics(admin)["shrink"].partitions) == 2


# ---------------------------------------------------------------------- delete


def test_delete_topics(broker, admin):
    create(admin, NewTopic("doomed", 3, 1), NewTopic("kept", 1, 1))
    wait_topic(admin, "doomed", 3)
    assert len(partition_dirs(broker.data_dir, "doomed")) == 3
    fs = admin.delete_topics(["doomed"], operation_timeout=10, request_timeout=TIMEOUT)
    assert code(result_of(fs)["doomed"]) == 0
    wait_until(lambda: "doomed" not in topics(admin), 5, what="doomed gone from metadata")
    assert "kept" in topics(admin)
    wait_dirs_gone(broker.data_dir, "doomed")
    assert partition_dirs(broker.data_dir, "kept") == ["kept-0"]


def test_delete_unknown_topic(broker, admin):
    fs = admin.delete_topics(["ghost"], operation_timeout=10, request_timeout=TIMEOUT)
    assert code(result_of(fs)["ghost"]) == kr.UNKNOWN_TOPIC_OR_PARTITION


def test_alter_configs_replaces_overrides_and_takes_effect(broker, admin):
    from confluent_kafka.admin import ConfigResource, NewTopic
    admin.create_topics([NewTopic("altered", 1, 1, config={"retention.ms": "1000"})])["altered"].result(10)
    res = ConfigResource("topic", "altered", set_config={"segment.bytes": "1048576"})
    admin.alter_configs([res])[res].result(10)
    cfg = list(admin.describe_configs([ConfigResource("topic", "altered")]).values())[0].result(10)
    assert cfg["segment.bytes"].value == "1048576"
    assert cfg["retention.ms"].value == "604800000"  # AlterConfigs replaced the override set
    bad = ConfigResource("topic", "altered", set_config={"segment.bytes": "tiny"})
    try:
        admin.alter_configs([bad])[bad].result(10)
        raise AssertionError("a bad value was accepted")
    except Exception as e:  # noqa: BLE001 - the client wraps the broker's error
        assert "INVALID_CONFIG" in str(e) or "Invalid" in str(e), e
