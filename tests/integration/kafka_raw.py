"""A tiny raw Kafka-protocol client for the integration tests.

Only what the tests need: framing, request headers v1/v2, response headers v0/v1, and
encoders/decoders for ApiVersions (v0-v3), Metadata (v0-v12), CreateTopics v7,
DeleteTopics v6, Produce v3-v8, Fetch v4, ListOffsets v1 and v9, and uncompressed v2 record batches
(with CRC-32C). Everything is struct-packed by hand so that the tests can also send
deliberately broken frames (see test_bad_input.py).

Field layouts follow Kafka's JSON message schemas (../shared/kafka-protocol/messages/).
"""

import socket
import struct
import time
import uuid

API_PRODUCE = 0
API_METADATA = 3
API_API_VERSIONS = 18
API_CREATE_TOPICS = 19
API_DELETE_TOPICS = 20
API_INIT_PRODUCER_ID = 22
API_DESCRIBE_CONFIGS = 32
API_CREATE_PARTITIONS = 37

# error codes (errors.tsv)
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
UNSUPPORTED_VERSION = 35
TOPIC_ALREADY_EXISTS = 36
INVALID_PARTITIONS = 37
INVALID_REPLICATION_FACTOR = 38
INVALID_CONFIG = 40
UNKNOWN_TOPIC_ID = 100

ZERO_UUID = b"\x00" * 16


class ConnectionClosed(Exception):
    """The broker closed the connection (EOF or reset)."""


# --------------------------------------------------------------------------- encoding


class Writer:
    def __init__(self):
        self.buf = bytearray()

    def raw(self, b):
        self.buf += b
        return self

    def int8(self, v):
        self.buf += struct.pack(">b", v)
        return self

    def boolean(self, v):
        return self.int8(1 if v else 0)

    def int16(self, v):
        self.buf += struct.pack(">h", v)
        return self

    def int32(self, v):
        self.buf += struct.pack(">i", v)
        return self

    def int64(self, v):
        self.buf += struct.pack(">q", v)
        return self

    def uvarint(self, v):
        assert v >= 0
        while True:
            b = v & 0x7F
            v >>= 7
            if v:
                self.buf.append(b | 0x80)
            else:
                self.buf.append(b)
                return self

    def uuid(self, v):
        if isinstance(v, uuid.UUID):
            v = v.bytes
        assert len(v) == 16
        self.buf += v
        return self

    def string(self, s, compact=False):
        """Nullable string: None encodes as null (-1 / 0 in compact form)."""
        if s is None:
            return self.uvarint(0) if compact else self.int16(-1)
        b = s.encode() if isinstance(s, str) else bytes(s)
        if compact:
            self.uvarint(len(b) + 1)
        else:
            self.int16(len(b))
        self.buf += b
        return self

    def array(self, items, fn, compact=False):
        """Nullable array: None encodes as null. fn(writer, item) writes one element."""
        if items is None:
            return self.uvarint(0) if compact else self.int32(-1)
        if compact:
            self.uvarint(len(items) + 1)
        else:
            self.int32(len(items))
        for it in items:
            fn(self, it)
        return self

    def tagged_fields(self):
        """An empty tagged-field section."""
        return self.uvarint(0)

    def bytes(self):
        return bytes(self.buf)


class Reader:
    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def remaining(self):
        return len(self.data) - self.pos

    def _take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("truncated response: need %d bytes at %d of %d" % (n, self.pos, len(self.data)))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def int8(self):
        return struct.unpack(">b", self._take(1))[0]

    def boolean(self):
        return self.int8() != 0

    def int16(self):
        return struct.unpack(">h", self._take(2))[0]

    def int32(self):
        return struct.unpack(">i", self._take(4))[0]

    def int64(self):
        return struct.unpack(">q", self._take(8))[0]

    def uvarint(self):
        shift = 0
        out = 0
        for _ in range(5):
            b = self._take(1)[0]
            out |= (b & 0x7F) << shift
            if not b & 0x80:
                return out
            shift += 7
        raise ValueError("uvarint too long")

    def uuid(self):
        return uuid.UUID(bytes=self._take(16))

    def string(self, compact=False):
        if compact:
            n = self.uvarint() - 1
        else:
            n = self.int16()
        if n < 0:
            return None
        return self._take(n).decode()

    def array(self, fn, compact=False):
        if compact:
            n = self.uvarint() - 1
        else:
            n = self.int32()
        if n < 0:
            return None
        return [fn(self) for _ in range(n)]

    def tagged_fields(self):
        """Skips a tagged-field section; returns {tag: raw bytes}."""
        out = {}
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            size = self.uvarint()
            out[tag] = self._take(size)
        return out


# --------------------------------------------------------------------------- framing


def request_header(api_key, version, correlation_id, client_id="fjord-it", flexible=False):
    """Request header v1 (flexible=False) or v2 (flexible=True)."""
    w = Writer().int16(api_key).int16(version).int32(correlation_id).string(client_id)
    if flexible:
        w.tagged_fields()
    return w.bytes()


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except (ConnectionResetError, BrokenPipeError) as e:
            raise ConnectionClosed(str(e)) from e
        if not chunk:
            raise ConnectionClosed("EOF after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


class Conn:
    """One TCP connection to the broker. Every socket operation has a timeout."""

    def __init__(self, host, port, timeout=5.0, rcvbuf=None):
        if rcvbuf is None:
            self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        else:  # set before connecting, so the window the kernel offers is small from the start
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect((host, int(port)))
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.next_correlation_id = 1

    @classmethod
    def to(cls, bootstrap, timeout=5.0, rcvbuf=None):
        host, port = bootstrap.rsplit(":", 1)
        return cls(host, int(port), timeout, rcvbuf)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        try:
            self.sock.sendall(data)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise ConnectionClosed(str(e)) from e

    def send(self, api_key, version, body, flexible_header=False, correlation_id=None,
             client_id="fjord-it"):
        """Sends one framed request; returns its correlation id."""
        if correlation_id is None:
            correlation_id = self.next_correlation_id
            self.next_correlation_id += 1
        hdr = request_header(api_key, version, correlation_id, client_id, flexible_header)
        self.send_raw(frame(hdr + body))
        return correlation_id

    def recv_frame(self):
        (size,) = struct.unpack(">i", recv_exact(self.sock, 4))
        if size < 0:
            raise ValueError("negative response size %d" % size)
        return recv_exact(self.sock, size)

    def recv_response(self, correlation_id, flexible_header=False):
        """Reads one response frame; checks the correlation id; returns a Reader on the body."""
        r = Reader(self.recv_frame())
        got = r.int32()
        if got != correlation_id:
            raise ValueError("correlation id %d, expected %d" % (got, correlation_id))
        if flexible_header:
            r.tagged_fields()
        return r

    def request(self, api_key, version, body, flexible):
        """Request/response round trip. `flexible` is whether `version` is a flexible version
        of the API (request header v2 then; response header v1 except for ApiVersions, whose
        response header is always v0)."""
        cid = self.send(api_key, version, body, flexible_header=flexible)
        return self.recv_response(cid, flexible_header=flexible and api_key != API_API_VERSIONS)

    def wait_closed(self, timeout=5.0):
        """True if the peer closes the connection (EOF/reset) within `timeout` seconds.
        Any bytes the broker sends before closing are discarded."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(min(left, 0.5))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True

    # ------------------------------------------------------------------ API helpers

    def api_versions(self, version=3):
        return parse_api_versions(self.request(API_API_VERSIONS, version,
                                               build_api_versions(version), version >= 3), version)

    def metadata(self, topics=None, version=12, allow_auto_topic_creation=True, topic_ids=None):
        body = build_metadata(topics, version, allow_auto_topic_creation, topic_ids)
        return parse_metadata(self.request(API_METADATA, version, body, version >= 9), version)

    def create_topics(self, topics, timeout_ms=10000, validate_only=False):
        """topics: list of dicts {name, num_partitions=-1, replication_factor=-1, configs={}}."""
        body = build_create_topics_v7(topics, timeout_ms, validate_only)
        return parse_create_topics_v7(self.request(API_CREATE_TOPICS, 7, body, True))

    def delete_topics(self, names=(), ids=(), timeout_ms=10000):
        body = build_delete_topics_v6(names, ids, timeout_ms)
        return parse_delete_topics_v6(self.request(API_DELETE_TOPICS, 6, body, True))

    def produce(self, topic, partition_records, acks=-1, timeout_ms=10000, version=3):
        """Produce v3..v8; partition_records {partition: records bytes}. With acks=0 nothing is
        read back (Kafka sends no response): returns the correlation id sent."""
        body = build_produce(topic, partition_records, acks, timeout_ms, version)
        if acks == 0:
            return self.send(API_PRODUCE, version, body)
        return parse_produce(self.request(API_PRODUCE, version, body, False), version)

    def init_producer_id(self, transactional_id=None, transaction_timeout_ms=60000, version=1):
        """InitProducerId v0-1 (non-flexible): {error_code, producer_id, producer_epoch}."""
        body = Writer().string(transactional_id).int32(transaction_timeout_ms).bytes()
        r = self.request(API_INIT_PRODUCER_ID, version, body, False)
        r.int32()  # throttle time
        return {"error_code": r.int16(), "producer_id": r.int64(), "producer_epoch": r.int16()}

    def fetch_v4(self, topic, partition_offsets, **kw):
        body = build_fetch_v4(topic, partition_offsets, **kw)
        return parse_fetch_v4(self.request(API_FETCH, 4, body, False))

    def list_offsets_v9(self, topic, partition_timestamps):
        body = build_list_offsets_v9(topic, partition_timestamps)
        return parse_list_offsets_v9(self.request(API_LIST_OFFSETS, 9, body, True))

    def list_offsets_v1(self, topic, partition_timestamps):
        body = build_list_offsets_v1(topic, partition_timestamps)
        return parse_list_offsets_v1(self.request(API_LIST_OFFSETS, 1, body, False))


# --------------------------------------------------------------------------- ApiVersions


def build_api_versions(version=3, software_name="fjord-it", software_version="1.0"):
    w = Writer()
    if version >= 3:
        w.string(software_name, compact=True).string(software_version, compact=True).tagged_fields()
    return w.bytes()


def parse_api_versions(r, version):
    """Returns {'error_code', 'api_keys': {key: (min, max)}, 'throttle_time_ms'}.

    Kafka answers an unsupported ApiVersions version with a v0-format body; callers that
    expect that pass version=0."""
    flexible = version >= 3

    def key(r):
        k, lo, hi = r.int16(), r.int16(), r.int16()
        if flexible:
            r.tagged_fields()
        return (k, (lo, hi))

    out = {"error_code": r.int16()}
    out["api_keys"] = dict(r.array(key, compact=flexible) or [])
    if version >= 1:
        out["throttle_time_ms"] = r.int32()
    if flexible:
        r.tagged_fields()
    return out


# --------------------------------------------------------------------------- Metadata


def build_metadata(topics=None, version=12, allow_auto_topic_creation=True, topic_ids=None):
    """topics None = all topics. topic_ids (v10+) adds entries queried by id (null name)."""
    flexible = version >= 9
    w = Writer()
    entries = None
    if topics is not None or topic_ids:
        entries = [(ZERO_UUID, t) for t in (topics or [])] + [(i, None) for i in (topic_ids or [])]

    def topic(w, e):
        tid, name = e
        if version >= 10:
            w.uuid(tid)
        w.string(name, compact=flexible)
        if flexible:
            w.tagged_fields()

    if entries is None and version == 0:
        entries = []  # v0: empty array means all topics
    w.array(entries, topic, compact=flexible)
    if version >= 4:
        w.boolean(allow_auto_topic_creation)
    if 8 <= version <= 10:
        w.boolean(False)  # include_cluster_authorized_operations
    if version >= 8:
        w.boolean(False)  # include_topic_authorized_operations
    if flexible:
        w.tagged_fields()
    return w.bytes()


def parse_metadata(r, version):
    flexible = version >= 9
    out = {}
    if version >= 3:
        out["throttle_time_ms"] = r.int32()

    def broker(r):
        b = {"node_id": r.int32(), "host": r.string(flexible), "port": r.int32()}
        if version >= 1:
            b["rack"] = r.string(flexible)
        if flexible:
            r.tagged_fields()
        return b

    def int32(r):
        return r.int32()

    def partition(r):
        p = {"error_code": r.int16(), "partition_index": r.int32(), "leader_id": r.int32()}
        if version >= 7:
            p["leader_epoch"] = r.int32()
        p["replica_nodes"] = r.array(int32, flexible)
        p["isr_nodes"] = r.array(int32, flexible)
        if version >= 5:
            p["offline_replicas"] = r.array(int32, flexible)
        if flexible:
            r.tagged_fields()
        return p

    def topic(r):
        t = {"error_code": r.int16(), "name": r.string(flexible)}
        if version >= 10:
            t["topic_id"] = r.uuid()
        if version >= 1:
            t["is_internal"] = r.boolean()
        t["partitions"] = r.array(partition, flexible)
        if version >= 8:
            t["topic_authorized_operations"] = r.int32()
        if flexible:
            r.tagged_fields()
        return t

    out["brokers"] = r.array(broker, flexible)
    if version >= 2:
        out["cluster_id"] = r.string(flexible)
    if version >= 1:
        out["controller_id"] = r.int32()
    out["topics"] = r.array(topic, flexible)
    if 8 <= version <= 10:
        out["cluster_authorized_operations"] = r.int32()
    if flexible:
        r.tagged_fields()
    return out


# --------------------------------------------------------------------------- CreateTopics v7


def build_create_topics_v7(topics, timeout_ms=10000, validate_only=False):
    def config(w, kv):
        w.string(kv[0], True).string(kv[1], True).tagged_fields()

    def topic(w, t):
        w.string(t["name"], True)
        w.int32(t.get("num_partitions", -1))
        w.int16(t.get("replication_factor", -1))
        w.array([], None, True)  # assignments
        w.array(sorted((t.get("configs") or {}).items()), config, True)
        w.tagged_fields()

    return Writer().array(topics, topic, True).int32(timeout_ms).boolean(validate_only) \
        .tagged_fields().bytes()


def parse_create_topics_v7(r):
    def config(r):
        c = {"name": r.string(True), "value": r.string(True), "read_only": r.boolean(),
             "config_source": r.int8(), "is_sensitive": r.boolean()}
        r.tagged_fields()
        return c

    def topic(r):
        t = {"name": r.string(True), "topic_id": r.uuid(), "error_code": r.int16(),
             "error_message": r.string(True), "num_partitions": r.int32(),
             "replication_factor": r.int16(), "configs": r.array(config, True)}
        tags = r.tagged_fields()
        if 0 in tags:
            t["topic_config_error_code"] = struct.unpack(">h", tags[0])[0]
        return t

    out = {"throttle_time_ms": r.int32(), "topics": r.array(topic, True)}
    r.tagged_fields()
    return out


# --------------------------------------------------------------------------- DeleteTopics v6


def build_delete_topics_v6(names=(), ids=(), timeout_ms=10000):
    entries = [(n, ZERO_UUID) for n in names] + [(None, i) for i in ids]

    def topic(w, e):
        w.string(e[0], True).uuid(e[1]).tagged_fields()

    return Writer().array(entries, topic, True).int32(timeout_ms).tagged_fields().bytes()


def parse_delete_topics_v6(r):
    def result(r):
        t = {"name": r.string(True), "topic_id": r.uuid(), "error_code": r.int16(),
             "error_message": r.string(True)}
        r.tagged_fields()
        return t

    out = {"throttle_time_ms": r.int32(), "responses": r.array(result, True)}
    r.tagged_fields()
    return out


# --------------------------------------------------------------------------- conveniences


def topic_ids(bootstrap, names=None, timeout=5.0):
    """{topic name: (topic_id UUID, partition count)} from Metadata v12."""
    with Conn.to(bootstrap, timeout) as c:
        md = c.metadata(names, version=12, allow_auto_topic_creation=False)
    return {t["name"]: (t["topic_id"], len(t["partitions"]))
            for t in md["topics"] if t["error_code"] == NONE}


# --------------------------------------------------------------------------- records (magic 2)
#
# For the produce/consume tests: hand-built record batches (so a test can corrupt one byte of
# them), Produce v3-v8, Fetch v4 and ListOffsets v1 (Conn.produce/fetch_v4/list_offsets_v1).

API_FETCH = 1
API_LIST_OFFSETS = 2

CORRUPT_MESSAGE = 2
MESSAGE_TOO_LARGE = 10
INVALID_REQUIRED_ACKS = 21
UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
INVALID_RECORD = 87

EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1
MAX_TIMESTAMP = -3
EARLIEST_LOCAL_TIMESTAMP = -4
LATEST_TIERED_TIMESTAMP = -5


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), the checksum of a v2 record batch."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def zigzag_varint(v):
    """Kafka's signed varint/varlong (zigzag) encoding."""
    z = (v << 1) ^ (v >> 63)
    return Writer().uvarint(z & 0xFFFFFFFFFFFFFFFF).bytes()


def read_zigzag(r):
    shift = 0
    out = 0
    while True:
        b = r._take(1)[0]
        out |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift > 63:
            raise ValueError("varlong too long")
    return (out >> 1) ^ -(out & 1)


def _bytes_field(b):
    if b is None:
        return zigzag_varint(-1)
    b = b.encode() if isinstance(b, str) else bytes(b)
    return zigzag_varint(len(b)) + b


def encode_record(offset_delta, timestamp_delta, key, value, headers=()):
    body = bytearray(b"\x00")  # attributes
    body += zigzag_varint(timestamp_delta)
    body += zigzag_varint(offset_delta)
    body += _bytes_field(key)
    body += _bytes_field(value)
    body += zigzag_varint(len(headers))
    for hk, hv in headers:
        body += _bytes_field(hk)
        body += _bytes_field(hv)
    return zigzag_varint(len(body)) + bytes(body)


def record_batch(records, base_timestamp=None, base_offset=0, magic=2, attributes=0, gzip=False,
                 producer_id=-1, producer_epoch=-1, base_sequence=-1):
    """A v2 record batch, uncompressed or (gzip=True) gzip-compressed. records: list of
    (key, value) or (key, value, headers) or (key, value, headers, timestamp_ms); keys/values
    may be None. Timestamps default to base_timestamp + index (base_timestamp: now)."""
    if base_timestamp is None:
        base_timestamp = int(time.time() * 1000)
    encoded = bytearray()
    timestamps = []
    for i, rec in enumerate(records):
        key, value = rec[0], rec[1]
        headers = rec[2] if len(rec) > 2 else ()
        ts = rec[3] if len(rec) > 3 else base_timestamp + i
        timestamps.append(ts)
        encoded += encode_record(i, ts - base_timestamp, key, value, headers)
    if gzip:
        import gzip as gzip_module

        encoded = gzip_module.compress(bytes(encoded))
        attributes |= 1
    after_crc = (struct.pack(">hiqqqhi", attributes, len(records) - 1, base_timestamp,
                             max(timestamps) if timestamps else base_timestamp, producer_id, producer_epoch,
                             base_sequence)
                 + struct.pack(">i", len(records)) + bytes(encoded))
    crc = crc32c(after_crc)
    # batch length counts from partition_leader_epoch to the end
    rest = struct.pack(">ibI", 0, magic, crc) + after_crc
    return struct.pack(">qi", base_offset, len(rest)) + rest


def parse_record_batches(data):
    """Decodes uncompressed or gzip v2 batches: list of dicts {offset, timestamp, key, value, headers}.
    A partial trailing batch (fetch responses may end with one) is ignored."""
    out = []
    pos = 0
    while pos + 12 <= len(data):
        base_offset, length = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + length
        if end > len(data):
            break
        r = Reader(data[pos + 12:end])
        r.int32()  # partition leader epoch
        magic = r.int8()
        if magic != 2:
            raise ValueError("magic %d batch at offset %d" % (magic, base_offset))
        r.int32()  # crc
        attributes = r.int16()
        if attributes & 0x07 not in (0, 1):
            raise ValueError("batch compressed with codec %d: parse_record_batches reads only "
                             "uncompressed and gzip batches" % (attributes & 0x07))
        r.int32()  # last offset delta
        base_ts = r.int64()
        r.int64()  # max timestamp
        r.int64(), r.int16(), r.int32()  # producer id, epoch, base sequence
        count = r.int32()
        if attributes & 0x07 == 1:
            import gzip as gzip_module

            r = Reader(gzip_module.decompress(r._take(r.remaining())))
        for _ in range(count):
            read_zigzag(r)  # length
            r.int8()  # attributes
            ts = base_ts + read_zigzag(r)
            off = base_offset + read_zigzag(r)

            def field():
                n = read_zigzag(r)
                return None if n < 0 else r._take(n)

            key = field()
            value = field()
            headers = []
            for _ in range(read_zigzag(r)):
                hk = field()
                headers.append((hk.decode() if hk is not None else None, field()))
            out.append({"offset": off, "timestamp": ts, "key": key, "value": value, "headers": headers})
        pos = end
    return out


# --------------------------------------------------------------------------- Produce v3-v8


def build_produce(topic, partition_records, acks=-1, timeout_ms=10000, version=3, transactional_id=None):
    """Produce v3..v8 (non-flexible). partition_records: {partition: records bytes or None}."""
    assert 3 <= version <= 8

    def part(w, item):
        p, recs = item
        w.int32(p)
        if recs is None:
            w.int32(-1)
        else:
            w.int32(len(recs)).raw(recs)

    def topic_data(w, t):
        w.string(t[0]).array(sorted(t[1].items()), part)

    return Writer().string(transactional_id).int16(acks).int32(timeout_ms) \
        .array([(topic, partition_records)], topic_data).bytes()


def parse_produce(r, version=3):
    """{(topic, partition): {error_code, base_offset, log_append_time, log_start_offset,
    error_message}} plus key 'throttle_time_ms'."""
    out = {}

    def record_error(r):
        return (r.int32(), r.string())

    def part(r):
        p = {"index": r.int32(), "error_code": r.int16(), "base_offset": r.int64()}
        if version >= 2:
            p["log_append_time"] = r.int64()
        if version >= 5:
            p["log_start_offset"] = r.int64()
        if version >= 8:
            p["record_errors"] = r.array(record_error)
            p["error_message"] = r.string()
        return p

    def topic(r):
        name = r.string()
        for p in r.array(part):
            out[(name, p["index"])] = p

    r.array(topic)
    out["throttle_time_ms"] = r.int32()
    return out


# --------------------------------------------------------------------------- Fetch v4


def build_fetch_v4(topic, partition_offsets, max_wait_ms=500, min_bytes=1, max_bytes=1 << 20,
                   partition_max_bytes=1 << 20):
    """partition_offsets: {partition: fetch offset}."""

    def part(w, item):
        w.int32(item[0]).int64(item[1]).int32(partition_max_bytes)

    def t(w, name):
        w.string(name).array(sorted(partition_offsets.items()), part)

    return Writer().int32(-1).int32(max_wait_ms).int32(min_bytes).int32(max_bytes).int8(0) \
        .array([topic], t).bytes()


def parse_fetch_v4(r):
    """{(topic, partition): {error_code, high_watermark, last_stable_offset, records: bytes}}."""
    out = {"throttle_time_ms": r.int32()}

    def aborted(r):
        return (r.int64(), r.int64())

    def topic(r):
        name = r.string()

        def part(r):
            p = {"partition": r.int32(), "error_code": r.int16(), "high_watermark": r.int64(),
                 "last_stable_offset": r.int64(), "aborted": r.array(aborted)}
            n = r.int32()
            p["records"] = b"" if n < 0 else r._take(n)
            out[(name, p["partition"])] = p

        r.array(part)

    r.array(topic)
    return out


# --------------------------------------------------------------------------- ListOffsets v1


def build_list_offsets_v1(topic, partition_timestamps):
    """partition_timestamps: {partition: timestamp or EARLIEST_TIMESTAMP/LATEST_TIMESTAMP}."""

    def part(w, item):
        w.int32(item[0]).int64(item[1])

    def t(w, name):
        w.string(name).array(sorted(partition_timestamps.items()), part)

    return Writer().int32(-1).array([topic], t).bytes()


def build_list_offsets_v9(topic, partition_timestamps, isolation_level=0):
    """Flexible ListOffsets v9 (current_leader_epoch -1: not fenced)."""

    def part(w, item):
        w.int32(item[0]).int32(-1).int64(item[1]).tagged_fields()

    def t(w, name):
        w.string(name, compact=True).array(sorted(partition_timestamps.items()), part, compact=True).tagged_fields()

    return Writer().int32(-1).int8(isolation_level).array([topic], t, compact=True).tagged_fields().bytes()


def parse_list_offsets_v9(r):
    """{(topic, partition): {error_code, timestamp, offset, leader_epoch}}."""
    out = {}
    r.int32()  # throttle_time_ms

    def topic(r):
        name = r.string(compact=True)

        def part(r):
            p = {"partition": r.int32(), "error_code": r.int16(), "timestamp": r.int64(), "offset": r.int64(),
                 "leader_epoch": r.int32()}
            r.tagged_fields()
            out[(name, p["partition"])] = p

        r.array(part, compact=True)
        r.tagged_fields()

    r.array(topic, compact=True)
    r.tagged_fields()
    return out


def parse_list_offsets_v1(r):
    """{(topic, partition): {error_code, timestamp, offset}}."""
    out = {}

    def topic(r):
        name = r.string()

        def part(r):
            p = {"partition": r.int32(), "error_code": r.int16(), "timestamp": r.int64(), "offset": r.int64()}
            out[(name, p["partition"])] = p

        r.array(part)

    r.array(topic)
    return out

