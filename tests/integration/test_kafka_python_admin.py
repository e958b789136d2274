"""kafka-python's KafkaAdminClient with api_version auto-detection (not pinned)."""

import logging

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import (InvalidPartitionsError, InvalidReplicationFactorError, InvalidTopicError,
                          TopicAlreadyExistsError, UnknownTopicOrPartitionError)

from fjord_harness import partition_dirs, wait_dirs_gone, wait_until

log = logging.getLogger(__name__)

# DescribeConfigs response layout in kafka-python: resources are tuples
# (error_code, error_message, resource_type, resource_name, config_entries); entries are
# v0: (name, value, read_only, is_default, is_sensitive)
# v1+: (name, value, read_only, config_source, is_sensitive, [(syn name, syn value, syn source)])
SOURCE_TOPIC, SOURCE_STATIC_BROKER, SOURCE_DEFAULT = 1, 4, 5


@pytest.fixture
def kp(broker):
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="fjord-it",
                              request_timeout_ms=10000, api_version_auto_timeout_ms=10000,
                              reconnect_backoff_max_ms=500)
    yield client
    client.close()


def topic_partitions(kp, name):
    (t,) = kp.describe_topics([name])
    if t["error_code"] != 0:
        return None
    return sorted(p["partition"] for p in t["partitions"])


def test_version_probe_and_list(broker, kp):
    version = kp.config["api_version"]
    log.info("kafka-python detected broker version %s", version)
    assert version >= (1, 0, 0), version  # Metadata v5 is advertised
    assert kp.list_topics() == []
    cluster = kp.describe_cluster()
    assert cluster["controller_id"] == 1
    assert [(b["node_id"], b["host"], b["port"]) for b in cluster["brokers"]] == \
        [(1, "127.0.0.1", broker.port)]


def test_create_list_delete(broker, kp):
    kp.create_topics([NewTopic("kp-a", 3, 1), NewTopic("kp-b", 1, 1, topic_configs={"retention.ms": "60000"})],
                     timeout_ms=10000)
    assert sorted(kp.list_topics()) == ["kp-a", "kp-b"]
    assert topic_partitions(kp, "kp-a") == [0, 1, 2]
    assert partition_dirs(broker.data_dir, "kp-a") == ["kp-a-0", "kp-a-1", "kp-a-2"]

    kp.delete_topics(["kp-a"], timeout_ms=10000)
    wait_until(lambda: sorted(kp.list_topics()) == ["kp-b"], 5, what="kp-a gone")
    wait_dirs_gone(broker.data_dir, "kp-a")
    with pytest.raises(UnknownTopicOrPartitionError):
        kp.delete_topics(["kp-a"], timeout_ms=10000)


def test_create_errors(broker, kp):
    kp.create_topics([NewTopic("kp-dup", 2, 1)])
    with pytest.raises(TopicAlreadyExistsError):
        kp.create_topics([NewTopic("kp-dup", 2, 1)])
    with pytest.raises(InvalidReplicationFactorError):
        kp.create_topics([NewTopic("kp-rf", 1, 2)])
    with pytest.raises(InvalidPartitionsError):
        kp.create_topics([NewTopic("kp-p0", 0, 1)])
    with pytest.raises(InvalidTopicError):
        kp.create_topics([NewTopic("kp bad", 1, 1)])
    assert kp.list_topics() == ["kp-dup"]


def test_validate_only(broker, kp):
    kp.create_topics([NewTopic("kp-vo", 2, 1)], validate_only=True)
    assert kp.list_topics() == []


def test_create_partitions(broker, kp):
    kp.create_topics([NewTopic("kp-grow", 2, 1)])
    kp.create_partitions({"kp-grow": NewPartitions(5)})
    wait_until(lambda: topic_partitions(kp, "kp-grow") == [0, 1, 2, 3, 4], 5, what="5 partitions")
    assert len(partition_dirs(broker.data_dir, "kp-grow")) == 5
    with pytest.raises(InvalidPartitionsError):
        kp.create_partitions({"kp-grow": NewPartitions(3)})
    with pytest.raises(InvalidPartitionsError):
        kp.create_partitions({"kp-grow": NewPartitions(5)})
    with pytest.raises(UnknownTopicOrPartitionError):
        kp.create_partitions({"kp-ghost": NewPartitions(2)})


def entries(response):
    (res,) = response.resources
    assert res[0] == 0, res
    return {e[0]: e for e in res[4]}


def test_describe_configs(broker, kp):
    kp.create_topics([NewTopic("kp-cfg", 1, 1, topic_configs={"retention.ms": "60000"})])
    (resp,) = kp.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-cfg")])
    cfg = entries(resp)
    assert cfg["retention.ms"][1] == "60000"
    assert cfg["segment.bytes"][1] == "1073741824"
    assert cfg["cleanup.policy"][1] == "delete"
    if resp.API_VERSION >= 1:
        assert cfg["retention.ms"][3] == SOURCE_TOPIC
        assert cfg["segment.bytes"][3] == SOURCE_DEFAULT
        assert cfg["retention.ms"][5] == []  # synonyms not requested
    else:
        assert (cfg["retention.ms"][3], cfg["segment.bytes"][3]) == (False, True)  # is_default

    (resp,) = kp.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-cfg")], include_synonyms=True)
    syn = entries(resp)["retention.ms"][5]
    assert syn[0] == ("retention.ms", "60000", SOURCE_TOPIC)
    assert syn[-1][2] == SOURCE_DEFAULT

    # Only the named configs when names are given.
    (resp,) = kp.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-cfg",
                                                  configs={"cleanup.policy": None})])
    assert list(entries(resp)) == ["cleanup.policy"]


def test_describe_broker_configs(broker, kp):
    (resp,) = kp.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")])
    cfg = entries(resp)
    assert cfg["num.partitions"][1] == "1"
    assert cfg["auto.create.topics.enable"][1] == "true"
    assert cfg["log.dirs"][1] == str(broker.data_dir)


def test_describe_unknown_topic(broker, kp):
    (resp,) = kp.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-ghost")])
    (res,) = resp.resources
    assert res[0] == UnknownTopicOrPartitionError.errno, res
