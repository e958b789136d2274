"""Topics survive a restart on the same data dir: same ids (Metadata v12), same partition counts."""

import signal

import pytest
from confluent_kafka.admin import ConfigResource, NewPartitions

import kafka_raw as kr
from fjord_harness import admin_client, partition_dirs, result_of, wait_dirs_gone


def make_topics(b):
    with kr.Conn.to(b.bootstrap) as c:
        resp = c.create_topics([{"name": "r-one", "num_partitions": 1},
                                {"name": "r-five", "num_partitions": 2},
                                {"name": "r-cfg", "num_partitions": 2, "configs": {"retention.ms": "3600000"}}])
        assert [t["error_code"] for t in resp["topics"]] == [0, 0, 0], resp
        created = {t["name"]: t["topic_id"] for t in resp["topics"]}
        # Grown and deleted topics must come back in their final state.
        c.create_topics([{"name": "r-gone", "num_partitions": 1}])
        assert c.delete_topics(["r-gone"])["responses"][0]["error_code"] == 0
    admin = admin_client(b)  # keep a reference until the futures are done
    fs = admin.create_partitions([NewPartitions("r-five", 5)], request_timeout=10)
    assert result_of(fs)["r-five"] is None
    ids = kr.topic_ids(b.bootstrap)
    assert set(ids) == {"r-one", "r-five", "r-cfg"}
    assert {n: i for n, (i, _) in ids.items()} == created
    assert {n: c for n, (_, c) in ids.items()} == {"r-one": 1, "r-five": 5, "r-cfg": 2}
    return ids


def check_same(b, before):
    after = kr.topic_ids(b.bootstrap)
    assert after == before
    for name, (_, count) in after.items():
        assert partition_dirs(b.data_dir, name) == ["%s-%d" % (name, i) for i in range(count)]
    wait_dirs_gone(b.data_dir, "r-gone")


def retention_ms(b, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = admin_client(b)
    (cfg,) = result_of(admin.describe_configs([res], request_timeout=10)).values()
    assert not isinstance(cfg, Exception), cfg
    return cfg["retention.ms"].value


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_clean_restart_keeps_topics(broker, sig):
    before = make_topics(broker)
    assert broker.stop(sig) == 0, broker.tail()
    broker.start()
    check_same(broker, before)
    assert retention_ms(broker, "r-cfg") == "3600000"
    # And again (a restart after a restart: state written at the second startup is readable).
    broker.restart()
    check_same(broker, before)


def test_kill9_restart_keeps_topics(broker):
    before = make_topics(broker)
    broker.kill9()
    broker.start()
    check_same(broker, before)
    assert retention_ms(broker, "r-cfg") == "3600000"


def test_changes_after_restart_persist(broker):
    before = make_topics(broker)
    broker.restart()
    with kr.Conn.to(broker.bootstrap) as c:
        resp = c.create_topics([{"name": "r-late", "num_partitions": 3}])
        assert resp["topics"][0]["error_code"] == 0
        assert c.delete_topics(["r-one"])["responses"][0]["error_code"] == 0
    expected = dict(before)
    del expected["r-one"]
    expected["r-late"] = (resp["topics"][0]["topic_id"], 3)
    assert kr.topic_ids(broker.bootstrap) == expected
    broker.kill9()
    broker.start()
    assert kr.topic_ids(broker.bootstrap) == expected
    wait_dirs_gone(broker.data_dir, "r-one")


def test_cluster_id_stable_across_restart(broker):
    with kr.Conn.to(broker.bootstrap) as c:
        first = c.metadata(None, allow_auto_topic_creation=False)["cluster_id"]
    broker.restart()
    with kr.Conn.to(broker.bootstrap) as c:
        assert c.metadata(None, allow_auto_topic_creation=False)["cluster_id"] == first
