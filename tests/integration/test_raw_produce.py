"""Produce, Fetch and ListOffsets byte by byte (kafka_raw): record batches built by hand, then
broken on purpose. After every refused request the broker keeps serving, on the same
connection and on new ones."""

import struct

import pytest

import kafka_raw as kr
from clients import create_topic, now_ms

TOPIC = "raw-produce"


@pytest.fixture
def topic(broker):
    return create_topic(broker, TOPIC, 2)


def good_batch(n=3, base_ts=None):
    return kr.record_batch([(b"k%d" % i, b"v%d" % i, [("h", b"%d" % i)]) for i in range(n)], base_timestamp=base_ts)


def assert_still_serving(broker, conn, expect_offset):
    """A valid produce on `conn` lands at `expect_offset` of partition 0; a new connection
    answers ApiVersions."""
    res = conn.produce(TOPIC, {0: good_batch(1)}, acks=1)[(TOPIC, 0)]
    assert (res["error_code"], res["base_offset"]) == (0, expect_offset), res
    with kr.Conn.to(broker.bootstrap) as c2:
        assert c2.api_versions()["error_code"] == 0


def error_of(conn, records, version=3, acks=1, partition=0):
    res = conn.produce(TOPIC, {partition: records}, acks=acks, version=version)[(TOPIC, partition)]
    assert res["base_offset"] == -1, res
    return res["error_code"]


def test_valid_batch_roundtrip(broker, topic):
    base = now_ms() - 10_000
    with kr.Conn.to(broker.bootstrap) as c:
        for version in (3, 5, 8):
            res = c.produce(TOPIC, {0: good_batch(3, base)}, acks=-1, version=version)[(TOPIC, 0)]
            assert res["error_code"] == 0 and res["base_offset"] == {3: 0, 5: 3, 8: 6}[version], res
            if version >= 5:
                assert res["log_start_offset"] == 0
            if version >= 8:
                assert res["record_errors"] == [] and res["error_message"] is None
        f = c.fetch_v4(TOPIC, {0: 0, 1: 0})
    assert f[(TOPIC, 1)]["error_code"] == 0 and f[(TOPIC, 1)]["records"] == b""
    assert f[(TOPIC, 0)]["high_watermark"] == 9
    got = kr.parse_record_batches(f[(TOPIC, 0)]["records"])
    assert [(r["offset"], r["key"], r["value"], r["headers"], r["timestamp"]) for r in got] == \
        [(3 * j + i, b"k%d" % i, b"v%d" % i, [("h", b"%d" % i)], base + i) for j in range(3) for i in range(3)]


def test_corrupt_crc_is_corrupt_message(broker, topic):
    bad = bytearray(good_batch())
    bad[-1] ^= 0x01  # last byte of the last record: covered by the CRC
    with kr.Conn.to(broker.bootstrap) as c:
        assert error_of(c, bytes(bad)) == kr.CORRUPT_MESSAGE
        assert error_of(c, bytes(bad), version=8) == kr.CORRUPT_MESSAGE
        bad_crc = bytearray(good_batch())
        bad_crc[17] ^= 0xFF  # the CRC field itself
        assert error_of(c, bytes(bad_crc)) == kr.CORRUPT_MESSAGE
        assert_still_serving(broker, c, 0)


@pytest.mark.parametrize("acks", [5, 2, -2])
def test_invalid_required_acks(broker, topic, acks):
    with kr.Conn.to(broker.bootstrap) as c:
        assert error_of(c, good_batch(), acks=acks) == kr.INVALID_REQUIRED_ACKS
        assert_still_serving(broker, c, 0)


def test_magic_1_batch_is_rejected(broker, topic):
    """Kafka (ProduceRequest.validateRecords, v3+): "Produce requests with version 3 or later
    are only allowed to contain record batches with magic version 2", an
    InvalidRecordException, i.e. INVALID_RECORD (87)."""
    m1 = bytearray(good_batch())
    m1[16] = 1  # magic
    with kr.Conn.to(broker.bootstrap) as c:
        code = error_of(c, bytes(m1))
        assert code == kr.INVALID_RECORD, "magic 1 batch: error %d" % code
        assert_still_serving(broker, c, 0)


def test_two_batches_in_one_partition_are_rejected(broker, topic):
    """Kafka (ProduceRequest.validateRecords, v3+): "... only allowed to contain exactly one
    record batch per partition": INVALID_RECORD (87), nothing appended."""
    with kr.Conn.to(broker.bootstrap) as c:
        res = c.produce(TOPIC, {0: good_batch(2) + good_batch(2)}, acks=1)[(TOPIC, 0)]
        assert (res["error_code"], res["base_offset"]) == (kr.INVALID_RECORD, -1), res
        assert_still_serving(broker, c, 0)


def test_empty_record_set_is_rejected(broker, topic):
    """Kafka (ProduceRequest.validateRecords, v3+): "... must have at least one record batch
    per partition": INVALID_RECORD (87)."""
    with kr.Conn.to(broker.bootstrap) as c:
        assert error_of(c, b"") == kr.INVALID_RECORD
        assert_still_serving(broker, c, 0)


def test_zstd_needs_produce_v7(broker, topic):
    """Kafka: a zstd batch in Produce v3-v6 gets UNSUPPORTED_COMPRESSION_TYPE (76), decided
    from the attributes before the batch is decompressed."""
    batch = bytearray(good_batch())
    struct.pack_into(">h", batch, 21, 4)  # attributes: zstd
    struct.pack_into(">I", batch, 17, kr.crc32c(bytes(batch[21:])))
    with kr.Conn.to(broker.bootstrap) as c:
        assert error_of(c, bytes(batch), version=6) == 76
        assert_still_serving(broker, c, 0)


def test_undecodable_gzip_batch_is_rejected(broker, topic):
    """A batch flagged gzip whose records section is not gzip (CRC made valid). Kafka
    decompresses every compressed batch it is given (LogValidator iterates its records), so the
    produce fails and nothing is stored; a stored batch like this would break every consumer
    that fetches it."""
    batch = bytearray(good_batch())
    struct.pack_into(">h", batch, 21, 1)  # attributes: gzip, records left as they are
    struct.pack_into(">I", batch, 17, kr.crc32c(bytes(batch[21:])))
    with kr.Conn.to(broker.bootstrap) as c:
        res = c.produce(TOPIC, {0: bytes(batch)}, acks=1, version=8)[(TOPIC, 0)]
        assert res["error_code"] != 0 and res["base_offset"] == -1, res
        assert c.list_offsets_v1(TOPIC, {0: kr.LATEST_TIMESTAMP})[(TOPIC, 0)]["offset"] == 0
        assert_still_serving(broker, c, 0)


def test_unknown_partition(broker, topic):
    with kr.Conn.to(broker.bootstrap) as c:
        assert error_of(c, good_batch(), partition=7) == kr.UNKNOWN_TOPIC_OR_PARTITION
        assert_still_serving(broker, c, 0)


def test_acks0_is_not_answered(broker, topic):
    with kr.Conn.to(broker.bootstrap) as c:
        sent = c.produce(TOPIC, {0: good_batch(2)}, acks=0)
        cid = c.send(kr.API_API_VERSIONS, 0, kr.build_api_versions(0))
        assert cid == sent + 1
        # The first response on the connection answers ApiVersions (recv_response checks the id).
        assert kr.parse_api_versions(c.recv_response(cid), 0)["error_code"] == 0
        assert_still_serving(broker, c, 2)


def test_acks0_error_closes_connection(broker, topic):
    """Kafka answers nothing to acks=0, so when such a produce fails it closes the connection
    to tell the client (KafkaApis.handleProduceRequest: closeConnection)."""
    bad = bytearray(good_batch())
    bad[-1] ^= 0x01
    with kr.Conn.to(broker.bootstrap) as c:
        c.produce(TOPIC, {0: bytes(bad)}, acks=0)
        assert c.wait_closed(5), "connection still open 5 s after a failed acks=0 produce"
    with kr.Conn.to(broker.bootstrap) as c:
        assert_still_serving(broker, c, 0)


def test_list_offsets_v1(broker, topic):
    base = now_ms() - 60_000
    with kr.Conn.to(broker.bootstrap) as c:
        for j in range(3):
            recs = [(b"k", b"v", [], base + 100 * j + 10 * i) for i in range(5)]
            assert c.produce(TOPIC, {0: kr.record_batch(recs, base_timestamp=base + 100 * j)}, acks=-1)[(TOPIC, 0)][
                "error_code"] == 0
        q = {t: c.list_offsets_v1(TOPIC, {0: t})[(TOPIC, 0)]
             for t in (kr.EARLIEST_TIMESTAMP, kr.LATEST_TIMESTAMP, base, base + 115, base + 240, base + 241)}
        empty = c.list_offsets_v1(TOPIC, {1: kr.EARLIEST_TIMESTAMP, })[(TOPIC, 1)]
        unknown = c.list_offsets_v1(TOPIC, {9: kr.LATEST_TIMESTAMP})[(TOPIC, 9)]
    got = {t: (r["error_code"], r["offset"], r["timestamp"]) for t, r in q.items()}
    assert got == {
        kr.EARLIEST_TIMESTAMP: (0, 0, -1),
        kr.LATEST_TIMESTAMP: (0, 15, -1),
        base: (0, 0, base),
        base + 115: (0, 7, base + 120),
        base + 240: (0, 14, base + 240),
        base + 241: (0, -1, -1),
    }
    assert (empty["error_code"], empty["offset"]) == (0, 0)
    assert unknown["error_code"] == kr.UNKNOWN_TOPIC_OR_PARTITION


def test_list_offsets_v9_answers_every_special_timestamp(broker, topic):
    """v9 (the highest) is advertised; -5 (latest tiered offset) is -1 as Kafka answers without
    tiered storage; the others as in v1, with the leader epoch of a found offset."""
    base = now_ms() - 60_000
    with kr.Conn.to(broker.bootstrap) as c:
        assert c.api_versions()["api_keys"][kr.API_LIST_OFFSETS] == (1, 9)
        recs = [(b"k", b"v", [], base + 10 * i) for i in range(5)]
        assert c.produce(TOPIC, {0: kr.record_batch(recs, base_timestamp=base)}, acks=-1)[(TOPIC, 0)]["error_code"] == 0
        specials = (kr.EARLIEST_TIMESTAMP, kr.LATEST_TIMESTAMP, kr.MAX_TIMESTAMP, kr.EARLIEST_LOCAL_TIMESTAMP,
                    kr.LATEST_TIERED_TIMESTAMP, base + 15)
        got = {t: c.list_offsets_v9(TOPIC, {0: t})[(TOPIC, 0)] for t in specials}
    got = {t: (r["error_code"], r["offset"], r["timestamp"], r["leader_epoch"]) for t, r in got.items()}
    assert got == {
        kr.EARLIEST_TIMESTAMP: (0, 0, -1, 0),
        kr.LATEST_TIMESTAMP: (0, 5, -1, 0),
        kr.MAX_TIMESTAMP: (0, 4, base + 40, 0),
        kr.EARLIEST_LOCAL_TIMESTAMP: (0, 0, -1, 0),
        kr.LATEST_TIERED_TIMESTAMP: (0, -1, -1, -1),
        base + 15: (0, 2, base + 20, 0),
    }


@pytest.mark.parametrize("gzip", [False, True])
def test_out_of_range_timestamps_name_their_records(broker, gzip):
    """message.timestamp.before/after.max.ms are checked record by record (inside compressed
    batches too); Produce v8 names the culprits in record_errors and nothing is written."""
    name = "raw-ts-%s" % ("gzip" if gzip else "plain")
    create_topic(broker, name, 1, {"message.timestamp.before.max.ms": "60000",
                                   "message.timestamp.after.max.ms": "60000"})
    now = now_ms()
    records = [(b"a", b"ok", [], now), (b"b", b"old", [], now - 3_600_000), (b"c", b"ok", [], now),
               (b"d", b"future", [], now + 3_600_000)]
    with kr.Conn.to(broker.bootstrap) as c:
        res = c.produce(name, {0: kr.record_batch(records, base_timestamp=now, gzip=gzip)}, acks=-1,
                        version=8)[(name, 0)]
        assert res["error_code"] == 32, res  # INVALID_TIMESTAMP
        assert res["base_offset"] == -1
        assert [i for i, _ in res["record_errors"]] == [1, 3], res
        assert all("out of the range" in why for _, why in res["record_errors"]), res
        assert "2 record(s)" in res["error_message"]
        ok = c.produce(name, {0: kr.record_batch([records[0]], base_timestamp=now)}, acks=-1, version=8)[(name, 0)]
        assert (ok["error_code"], ok["base_offset"]) == (0, 0), ok


def test_pipelined_megabyte_produces_are_all_answered_in_order(broker, topic):
    """40 produce requests of ~0.9 MiB sent back to back on one connection: more than the 16 MiB
    a connection reads ahead while its requests are handled. The broker pauses reading and
    resumes as they finish: every request is answered, in order, with consecutive offsets."""
    import threading

    value = b"x" * (900 * 1024)
    batch = kr.record_batch([(b"k", value)])
    n = 40
    with kr.Conn.to(broker.bootstrap, timeout=30.0) as c:
        body = kr.build_produce(TOPIC, {0: batch}, acks=1, timeout_ms=10000, version=3)
        ids = [c.next_correlation_id + i for i in range(n)]
        c.next_correlation_id += n
        errors = []

        def send_all():
            try:
                for cid in ids:
                    c.send(kr.API_PRODUCE, 3, body, correlation_id=cid)
            except Exception as e:  # surfaced below
                errors.append(e)

        sender = threading.Thread(target=send_all)
        sender.start()
        results = [kr.parse_produce(c.recv_response(cid), 3)[(TOPIC, 0)] for cid in ids]
        sender.join(timeout=30)
        assert not errors, errors
    assert [(r["error_code"], r["base_offset"]) for r in results] == [(0, i) for i in range(n)]
