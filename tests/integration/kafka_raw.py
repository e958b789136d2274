"""A tiny raw Kafka-protocol client for the integration tests.

Only what the tests need: framing, request headers v1/v2, response headers v0/v1, and
encoders/decoders for ApiVersions (v0-v3), Metadata (v0-v12), CreateTopics v7 and
DeleteTopics v6. Everything is struct-packed by hand so that the tests can also send
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

    def __init__(self, host, port, timeout=5.0):
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.next_correlation_id = 1

    @classmethod
    def to(cls, bootstrap, timeout=5.0):
        host, port = bootstrap.rsplit(":", 1)
        return cls(host, int(port), timeout)

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
