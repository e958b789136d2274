"""The `fjord` command line: help, version, config validation, --config files, --smp."""

import re

import pytest
from confluent_kafka.admin import ConfigResource, NewTopic

import kafka_raw as kr
from fjord_harness import admin_client, free_port, partition_dirs, result_of, run_fjord, wait_until

BAD_CONFIG_TIMEOUT = 10.0  # a broker that wrongly starts is killed after this and the test fails


def output(p):
    return (p.stdout or "") + (p.stderr or "")


def test_help():
    p = run_fjord("--help")
    assert p.returncode == 0, output(p)
    assert "serve" in output(p)


def test_serve_help_lists_options():
    p = run_fjord("serve", "--help")
    assert p.returncode == 0, output(p)
    for opt in ("--data-dir", "--listeners", "--smp", "--config", "--set"):
        assert opt in output(p), "%s missing from serve --help:\n%s" % (opt, output(p))


def test_version():
    p = run_fjord("--version")
    assert p.returncode == 0, output(p)
    assert re.search(r"\d+\.\d+", p.stdout), p.stdout


def test_unknown_subcommand_fails():
    p = run_fjord("frobnicate")
    assert p.returncode != 0, output(p)


def serve_args(tmp_path, *extra, data_dir=None, port=None):
    return ["serve", "--data-dir", str(data_dir or tmp_path / "data"),
            "--listeners", "PLAINTEXT://127.0.0.1:%d" % (port or free_port()), *extra]


@pytest.mark.parametrize("extra,needle", [
    (["--set", "num.partitions=-3"], "num.partitions"),
    (["--set", "num.partitions=0"], "num.partitions"),
    (["--set", "num.partitions=abc"], "num.partitions"),
    (["--set", "socket.request.max.bytes=-1"], "socket.request.max.bytes"),
    (["--set", "message.max.bytes=lots"], "message.max.bytes"),
    (["--set", "auto.create.topics.enable=maybe"], "auto.create.topics.enable"),
    (["--set", "log.retention.hours=-5x"], "log.retention.hours"),
    (["--set", "node.id=-7"], "node.id"),
], ids=lambda v: v if isinstance(v, str) else "_".join(v))
def test_bad_value_refuses_to_start(tmp_path, extra, needle):
    p = run_fjord(*serve_args(tmp_path, *extra), timeout=BAD_CONFIG_TIMEOUT)
    assert p.returncode == 2, "exit %s\n%s" % (p.returncode, output(p))
    assert needle in output(p), output(p)


def test_listener_port_out_of_range(tmp_path):
    p = run_fjord("serve", "--data-dir", tmp_path / "data", "--listeners", "PLAINTEXT://127.0.0.1:70000",
                  timeout=BAD_CONFIG_TIMEOUT)
    assert p.returncode == 2, output(p)
    assert re.search(r"listeners|70000", output(p)), output(p)


def test_listener_garbage(tmp_path):
    p = run_fjord("serve", "--data-dir", tmp_path / "data", "--listeners", "not-a-listener",
                  timeout=BAD_CONFIG_TIMEOUT)
    assert p.returncode == 2, output(p)
    assert "listeners" in output(p), output(p)


def test_unwritable_data_dir(tmp_path):
    p = run_fjord(*serve_args(tmp_path, data_dir="/proc/forbidden"), timeout=BAD_CONFIG_TIMEOUT)
    assert p.returncode == 2, output(p)
    assert re.search(r"/proc/forbidden|log\.dirs|data-dir", output(p)), output(p)


def test_missing_config_file(tmp_path):
    missing = tmp_path / "nope.properties"
    p = run_fjord(*serve_args(tmp_path, "--config", missing), timeout=BAD_CONFIG_TIMEOUT)
    assert p.returncode == 2, output(p)
    assert str(missing) in output(p), output(p)


def test_bad_value_in_config_file(tmp_path):
    cfg = tmp_path / "server.properties"
    cfg.write_text("# Kafka style\nnum.partitions=-3\n")
    p = run_fjord(*serve_args(tmp_path, "--config", cfg), timeout=BAD_CONFIG_TIMEOUT)
    assert p.returncode == 2, output(p)
    assert "num.partitions" in output(p), output(p)


def test_unknown_key_only_warns(broker_factory):
    b = broker_factory("--set", "no.such.key=1")
    line = b.wait_for_log(r"no\.such\.key")
    assert re.search(r"warn", line, re.I), line
    with kr.Conn.to(b.bootstrap) as c:
        assert c.api_versions(3)["error_code"] == 0


def test_config_file_is_honoured(tmp_path, broker_factory):
    cfg = tmp_path / "server.properties"
    cfg.write_text("# a Kafka server.properties\n"
                   "num.partitions=3\n"
                   "auto.create.topics.enable = true\n"
                   "log.retention.hours=24\n"
                   "\n"
                   "some.unknown.kafka.setting=whatever\n")
    b = broker_factory("--config", cfg)
    with kr.Conn.to(b.bootstrap) as c:
        (t,) = c.create_topics([{"name": "from-file"}])["topics"]  # -1 partitions: num.partitions
        assert (t["error_code"], t["num_partitions"]) == (0, 3), t
        c.metadata(["auto-from-file"], allow_auto_topic_creation=True)
    ids = wait_until(lambda: kr.topic_ids(b.bootstrap, ["auto-from-file"]), 5, what="auto-created topic")
    assert ids["auto-from-file"][1] == 3
    assert len(partition_dirs(b.data_dir, "from-file")) == 3
    admin = admin_client(b)
    cfgs = result_of(admin.describe_configs([ConfigResource(ConfigResource.Type.BROKER, "1")], request_timeout=10))
    (broker_cfg,) = cfgs.values()
    assert broker_cfg["num.partitions"].value == "3"
    assert broker_cfg["log.retention.hours"].value == "24"


def test_flags_override_config_file(tmp_path, broker_factory):
    cfg = tmp_path / "server.properties"
    other = tmp_path / "not-this-dir"
    cfg.write_text("num.partitions=3\nlog.dirs=%s\nauto.create.topics.enable=false\n" % other)
    b = broker_factory("--config", cfg, "--set", "num.partitions=5", "--set", "auto.create.topics.enable=true")
    with kr.Conn.to(b.bootstrap) as c:
        (t,) = c.create_topics([{"name": "flagged"}])["topics"]
        assert (t["error_code"], t["num_partitions"]) == (0, 5), t
    assert len(partition_dirs(b.data_dir, "flagged")) == 5  # --data-dir beats log.dirs
    assert not other.exists() or not any(other.iterdir())
    with kr.Conn.to(b.bootstrap) as c:
        c.metadata(["auto-flag"], allow_auto_topic_creation=True)
    wait_until(lambda: kr.topic_ids(b.bootstrap, ["auto-flag"]), 5, what="auto-flag created")


@pytest.mark.parametrize("smp", [1, 2])
def test_smp_serves_admin_requests(broker_factory, smp):
    b = broker_factory("--smp", smp)
    admin = admin_client(b)
    names = ["smp-%d" % i for i in range(6)]
    res = result_of(admin.create_topics([NewTopic(n, 4, 1) for n in names], request_timeout=15))
    assert all(v is None for v in res.values()), res
    # Several connections at once (they may land on different shards): all see every topic.
    conns = [kr.Conn.to(b.bootstrap) for _ in range(8)]
    try:
        for c in conns:
            got = {t["name"]: len(t["partitions"]) for t in c.metadata(None, allow_auto_topic_creation=False)["topics"]}
            assert got == {n: 4 for n in names}
    finally:
        for c in conns:
            c.close()
    for n in names:
        assert len(partition_dirs(b.data_dir, n)) == 4
    cfg = result_of(admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, names[0])],
                                           request_timeout=15))
    assert list(cfg.values())[0]["cleanup.policy"].value == "delete"
    res = result_of(admin.delete_topics(names[:3], request_timeout=15))
    assert all(v is None for v in res.values()), res
    assert set(kr.topic_ids(b.bootstrap)) == set(names[3:])
