"""The wire protocol seen byte by byte (kafka_raw): ApiVersions, Metadata v0-v12,
CreateTopics v7 and DeleteTopics v6, independent of any client library's own checks."""

import uuid

import pytest

import kafka_raw as kr
from fjord_harness import partition_dirs, wait_dirs_gone, wait_until

# What the broker implements today (and so must advertise, no more, no less).
EXPECTED_VERSIONS = {
    kr.API_METADATA: (0, 12),
    kr.API_API_VERSIONS: (0, 4),
    kr.API_CREATE_TOPICS: (0, 7),
    kr.API_DELETE_TOPICS: (0, 6),
    kr.API_DESCRIBE_CONFIGS: (0, 4),
    kr.API_CREATE_PARTITIONS: (0, 3),
    0: (0, 11),  # Produce (v0-2 refuse message formats 0/1 per partition)
    1: (4, 17),  # Fetch
    2: (1, 9),  # ListOffsets
    10: (0, 6),  # FindCoordinator
    33: (0, 2),  # AlterConfigs
    44: (0, 1),  # IncrementalAlterConfigs
    8: (0, 9),  # OffsetCommit
    9: (0, 9),  # OffsetFetch
    11: (0, 9),  # JoinGroup
    12: (0, 4),  # Heartbeat
    13: (0, 5),  # LeaveGroup
    14: (0, 5),  # SyncGroup
    15: (0, 5),  # DescribeGroups
    16: (0, 5),  # ListGroups
    42: (0, 2),  # DeleteGroups
    47: (0, 0),  # OffsetDelete
    21: (0, 2),  # DeleteRecords
    kr.API_INIT_PRODUCER_ID: (0, 5),
    24: (0, 4),  # AddPartitionsToTxn (v4 is broker-to-broker)
    25: (0, 4),  # AddOffsetsToTxn
    26: (0, 4),  # EndTxn
    27: (0, 1),  # WriteTxnMarkers
    28: (0, 4),  # TxnOffsetCommit
    61: (0, 0),  # DescribeProducers
    65: (0, 0),  # DescribeTransactions
    66: (0, 1),  # ListTransactions
    62: (0, 4),  # BrokerRegistration (brokers to the controller)
    63: (0, 1),  # BrokerHeartbeat (brokers to the controller)
    67: (0, 0),  # AllocateProducerIds (brokers to the controller)
    23: (2, 4),  # OffsetForLeaderEpoch (followers, KIP-320 clients)
    56: (2, 3),  # AlterPartition (leaders to the controller)
    43: (0, 2),  # ElectLeaders
    45: (0, 0),  # AlterPartitionReassignments
    46: (0, 0),  # ListPartitionReassignments
}


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_api_versions(broker, version):
    with kr.Conn.to(broker.bootstrap) as c:
        resp = c.api_versions(version)
    assert resp["error_code"] == 0
    assert resp["api_keys"] == EXPECTED_VERSIONS


def test_pipelined_requests_answered_in_order(broker):
    with kr.Conn.to(broker.bootstrap) as c:
        ids = [c.send(kr.API_API_VERSIONS, 3, kr.build_api_versions(3), flexible_header=True),
               c.send(kr.API_METADATA, 12, kr.build_metadata(None, 12, False), flexible_header=True),
               c.send(kr.API_API_VERSIONS, 0, kr.build_api_versions(0)),
               c.send(kr.API_METADATA, 1, kr.build_metadata(None, 1, False))]
        assert kr.parse_api_versions(c.recv_response(ids[0]), 3)["error_code"] == 0
        assert kr.parse_metadata(c.recv_response(ids[1], True), 12)["controller_id"] == 1
        assert kr.parse_api_versions(c.recv_response(ids[2]), 0)["error_code"] == 0
        assert kr.parse_metadata(c.recv_response(ids[3]), 1)["controller_id"] == 1


@pytest.mark.parametrize("version", range(0, 13))
def test_metadata_all_versions(broker, version):
    with kr.Conn.to(broker.bootstrap) as c:
        c.create_topics([{"name": "mdv", "num_partitions": 2, "replication_factor": 1}])
        md = c.metadata(None, version=version, allow_auto_topic_creation=False)
    assert md["brokers"] == [dict({"node_id": 1, "host": "127.0.0.1", "port": broker.port},
                                  **({"rack": None} if version >= 1 else {}))]
    if version >= 1:
        assert md["controller_id"] == 1
    if version >= 2:
        assert md["cluster_id"], "a Kafka cluster always reports a cluster id"
    topics = {t["name"]: t for t in md["topics"]}
    assert "mdv" in topics, md
    t = topics["mdv"]
    assert t["error_code"] == 0
    if version >= 10:
        assert t["topic_id"] != uuid.UUID(int=0)
    parts = sorted(t["partitions"], key=lambda p: p["partition_index"])
    assert [p["partition_index"] for p in parts] == [0, 1]
    for p in parts:
        assert p["error_code"] == 0 and p["leader_id"] == 1
        assert p["replica_nodes"] == [1] and p["isr_nodes"] == [1]
        if version >= 5:
            assert p["offline_replicas"] == []


def test_metadata_v12_topic_ids_stable_and_queryable_by_id(broker):
    with kr.Conn.to(broker.bootstrap) as c:
        created = c.create_topics([{"name": "byid", "num_partitions": 1}])["topics"][0]
        assert created["error_code"] == 0
        md1 = c.metadata(["byid"], allow_auto_topic_creation=False)
        md2 = c.metadata(None, allow_auto_topic_creation=False)
        tid = md1["topics"][0]["topic_id"]
        assert tid == created["topic_id"] != uuid.UUID(int=0)
        assert {t["name"]: t["topic_id"] for t in md2["topics"]}["byid"] == tid
        by_id = c.metadata(topic_ids=[tid.bytes], allow_auto_topic_creation=False)
    assert [(t["name"], t["topic_id"], t["error_code"]) for t in by_id["topics"]] == [("byid", tid, 0)]


def test_create_topics_v7_response_fields(broker):
    with kr.Conn.to(broker.bootstrap) as c:
        resp = c.create_topics([
            {"name": "dflt"},  # -1 partitions, -1 replication: broker defaults
            {"name": "three", "num_partitions": 3, "replication_factor": 1,
             "configs": {"retention.ms": "3600000"}},
        ])
    topics = {t["name"]: t for t in resp["topics"]}
    assert set(topics) == {"dflt", "three"}
    for t in topics.values():
        assert t["error_code"] == 0, t
        assert t["topic_id"] != uuid.UUID(int=0)
        assert t["replication_factor"] == 1
    assert topics["dflt"]["num_partitions"] == 1
    assert topics["three"]["num_partitions"] == 3
    assert topics["dflt"]["topic_id"] != topics["three"]["topic_id"]
    cfg = {e["name"]: e for e in topics["three"]["configs"] or []}
    assert cfg["retention.ms"]["value"] == "3600000"
    assert cfg["retention.ms"]["config_source"] == 1  # TOPIC_CONFIG
    assert partition_dirs(broker.data_dir, "three") == ["three-0", "three-1", "three-2"]
    assert partition_dirs(broker.data_dir, "dflt") == ["dflt-0"]


@pytest.mark.parametrize("spec,code", [
    ({"name": "rf0", "num_partitions": 1, "replication_factor": 0}, kr.INVALID_REPLICATION_FACTOR),
    ({"name": "rf2", "num_partitions": 1, "replication_factor": 2}, kr.INVALID_REPLICATION_FACTOR),
    ({"name": "rfneg", "num_partitions": 1, "replication_factor": -2}, kr.INVALID_REPLICATION_FACTOR),
    ({"name": "p0", "num_partitions": 0, "replication_factor": 1}, kr.INVALID_PARTITIONS),
    ({"name": "pneg", "num_partitions": -2, "replication_factor": 1}, kr.INVALID_PARTITIONS),
    ({"name": "", "num_partitions": 1}, kr.INVALID_TOPIC_EXCEPTION),
    ({"name": ".", "num_partitions": 1}, kr.INVALID_TOPIC_EXCEPTION),
    ({"name": "..", "num_partitions": 1}, kr.INVALID_TOPIC_EXCEPTION),
    ({"name": "x" * 250, "num_partitions": 1}, kr.INVALID_TOPIC_EXCEPTION),
    ({"name": "a/b", "num_partitions": 1}, kr.INVALID_TOPIC_EXCEPTION),
    ({"name": "sp ace", "num_partitions": 1}, kr.INVALID_TOPIC_EXCEPTION),
    ({"name": "caf\u00e9", "num_partitions": 1}, kr.INVALID_TOPIC_EXCEPTION),
    ({"name": "cfg", "num_partitions": 1, "configs": {"no.such.config": "1"}}, kr.INVALID_CONFIG),
    ({"name": "cfg", "num_partitions": 1, "configs": {"retention.ms": "abc"}}, kr.INVALID_CONFIG),
], ids=lambda v: v if isinstance(v, int) else (v["name"][:12] or "empty") + ":" + ",".join(
    "%s=%s" % kv for kv in sorted(v.items()) if kv[0] != "name"))
def test_create_topics_errors(broker, spec, code):
    before = sorted(p.name for p in broker.data_dir.iterdir())
    with kr.Conn.to(broker.bootstrap) as c:
        (res,) = c.create_topics([spec])["topics"]
        assert res["error_code"] == code, res
        assert res["name"] == spec["name"]
        assert c.metadata(None, allow_auto_topic_creation=False)["topics"] == []
    assert sorted(p.name for p in broker.data_dir.iterdir()) == before


def test_create_topics_longest_legal_name_then_delete(broker):
    name = "n" * 249
    with kr.Conn.to(broker.bootstrap) as c:
        (res,) = c.create_topics([{"name": name, "num_partitions": 2}])["topics"]
        assert res["error_code"] == 0, res
        assert partition_dirs(broker.data_dir, name) == [name + "-0", name + "-1"]
        (d,) = c.delete_topics([name])["responses"]
        assert d["error_code"] == 0, d
    wait_dirs_gone(broker.data_dir, name)


def test_create_topics_existing_and_mixed_batch(broker):
    with kr.Conn.to(broker.bootstrap) as c:
        assert c.create_topics([{"name": "dup", "num_partitions": 2}])["topics"][0]["error_code"] == 0
        resp = c.create_topics([{"name": "dup", "num_partitions": 5},
                                {"name": "fresh", "num_partitions": 1},
                                {"name": "badrf", "num_partitions": 1, "replication_factor": 3}])
        codes = {t["name"]: t["error_code"] for t in resp["topics"]}
        assert codes == {"dup": kr.TOPIC_ALREADY_EXISTS, "fresh": 0, "badrf": kr.INVALID_REPLICATION_FACTOR}
        ids = kr.topic_ids(broker.bootstrap)
    assert ids["dup"][1] == 2  # unchanged by the failed re-create
    assert set(ids) == {"dup", "fresh"}


def test_create_topics_validate_only(broker):
    with kr.Conn.to(broker.bootstrap) as c:
        resp = c.create_topics([{"name": "vo", "num_partitions": 4},
                                {"name": "vo-bad", "num_partitions": 0}], validate_only=True)
        codes = {t["name"]: t["error_code"] for t in resp["topics"]}
        assert codes == {"vo": 0, "vo-bad": kr.INVALID_PARTITIONS}
        assert c.metadata(None, allow_auto_topic_creation=False)["topics"] == []
    assert partition_dirs(broker.data_dir, "vo") == []


def test_delete_topics_v6_by_name_and_by_id(broker):
    with kr.Conn.to(broker.bootstrap) as c:
        c.create_topics([{"name": "del-a", "num_partitions": 2}, {"name": "del-b", "num_partitions": 3}])
        ids = kr.topic_ids(broker.bootstrap)
        resp = c.delete_topics(names=["del-a"], ids=[ids["del-b"][0].bytes])
        by_name = {r["name"]: r for r in resp["responses"]}
        assert by_name["del-a"]["error_code"] == 0, resp
        assert by_name["del-b"]["error_code"] == 0, resp
        assert by_name["del-b"]["topic_id"] == ids["del-b"][0]
        assert c.metadata(None, allow_auto_topic_creation=False)["topics"] == []
        # Unknown name / unknown id
        resp = c.delete_topics(names=["del-a"], ids=[uuid.uuid4().bytes])
        codes = sorted(r["error_code"] for r in resp["responses"])
        assert codes == [kr.UNKNOWN_TOPIC_OR_PARTITION, kr.UNKNOWN_TOPIC_ID], resp
    for t in ("del-a", "del-b"):
        wait_dirs_gone(broker.data_dir, t)


def test_recreate_after_delete_gets_new_id(broker):
    with kr.Conn.to(broker.bootstrap) as c:
        first = c.create_topics([{"name": "again", "num_partitions": 1}])["topics"][0]
        assert c.delete_topics(["again"])["responses"][0]["error_code"] == 0
        second = c.create_topics([{"name": "again", "num_partitions": 3}])["topics"][0]
        assert second["error_code"] == 0, second
        assert second["topic_id"] != first["topic_id"]
        (t,) = c.metadata(["again"], allow_auto_topic_creation=False)["topics"]
    assert t["topic_id"] == second["topic_id"] and len(t["partitions"]) == 3
    wait_until(lambda: partition_dirs(broker.data_dir, "again") == ["again-0", "again-1", "again-2"]
               and not [p for p in broker.data_dir.iterdir() if p.name.endswith("-delete")],
               10, what="old dirs gone, new ones present")


def test_metadata_auto_creates_requested_topic(broker):
    with kr.Conn.to(broker.bootstrap) as c:
        (t,) = c.metadata(["auto-raw"], allow_auto_topic_creation=True)["topics"]
        # Kafka answers LEADER_NOT_AVAILABLE (5) while the topic is being created; NONE is fine too.
        assert t["error_code"] in (0, 5), t
        ids = wait_until(lambda: kr.topic_ids(broker.bootstrap, ["auto-raw"]), 5,
                         what="auto-created topic in metadata")
    assert ids["auto-raw"][1] == 1  # num.partitions default
    assert partition_dirs(broker.data_dir, "auto-raw") == ["auto-raw-0"]


def test_metadata_without_allow_flag_does_not_create(broker):
    with kr.Conn.to(broker.bootstrap) as c:
        (t,) = c.metadata(["no-auto"], allow_auto_topic_creation=False)["topics"]
        assert t["error_code"] == kr.UNKNOWN_TOPIC_OR_PARTITION, t
        assert t["topic_id"] == uuid.UUID(int=0)
        assert c.metadata(None, allow_auto_topic_creation=False)["topics"] == []


def test_metadata_invalid_name_is_not_auto_created(broker):
    with kr.Conn.to(broker.bootstrap) as c:
        (t,) = c.metadata(["bad/name"], allow_auto_topic_creation=True)["topics"]
        assert t["error_code"] == kr.INVALID_TOPIC_EXCEPTION, t
        assert c.metadata(None, allow_auto_topic_creation=False)["topics"] == []


def test_auto_create_disabled_by_broker_config(broker_factory):
    b = broker_factory("--set", "auto.create.topics.enable=false")
    with kr.Conn.to(b.bootstrap) as c:
        (t,) = c.metadata(["nope"], allow_auto_topic_creation=True)["topics"]
        assert t["error_code"] == kr.UNKNOWN_TOPIC_OR_PARTITION, t
        # v1 requests have no flag (always "allow"): the broker setting still wins.
        (t,) = c.metadata(["nope"], version=1)["topics"]
        assert t["error_code"] == kr.UNKNOWN_TOPIC_OR_PARTITION, t
        assert c.metadata(None, allow_auto_topic_creation=False)["topics"] == []
    assert partition_dirs(b.data_dir, "nope") == []


def test_auto_create_uses_num_partitions(broker_factory):
    b = broker_factory("--set", "num.partitions=4")
    with kr.Conn.to(b.bootstrap) as c:
        c.metadata(["auto4"], allow_auto_topic_creation=True)
        c.create_topics([{"name": "created4"}])
    ids = wait_until(lambda: kr.topic_ids(b.bootstrap, ["auto4"]), 5, what="auto4")
    assert ids["auto4"][1] == 4
    assert kr.topic_ids(b.bootstrap, ["created4"])["created4"][1] == 4
