#!/usr/bin/env python3
"""Captures real Kafka clients' request bytes for Fjord's golden protocol tests.

Starts a Fjord broker, puts a recording TCP proxy in front of it, and drives librdkafka
(python3-confluent-kafka), kafka-python and kafkajs through the proxy to create and list a topic.
The first request frame of each (client, API, version) among ApiVersions, Metadata and
CreateTopics is written, without its 4-byte size, to OUT/<client>-<api>-v<version>.bin.

Usage: /usr/bin/python3 tools/capture/capture_requests.py --fjord build/debug/fjord \
           --out src/protocol/tests/golden
kafkajs is taken from tests/node_modules (run `npm ci` in tests/ first).
"""

import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

API_NAMES = {18: "api_versions", 3: "metadata", 19: "create_topics"}
TOPIC = "golden-topic"


class RecordingProxy:
    """Forwards a free 127.0.0.1 port (`port`) to `upstream_port`, calling on_frame(frame) with
    every request frame a client sends (without its 4-byte size) before passing it on. Also used
    by fuzz/capture_seeds.py."""

    def __init__(self, upstream_port, on_frame):
        self.upstream_port = upstream_port
        self.on_frame = on_frame
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._requests, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()

    @staticmethod
    def _read_exact(s, n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _requests(self, c, u):
        while True:
            size = self._read_exact(c, 4)
            if size is None:
                break
            frame = self._read_exact(c, struct.unpack(">i", size)[0])
            if frame is None:
                break
            self.on_frame(frame)
            u.sendall(size + frame)
        u.close()
        c.close()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        dst.close()


def run_librdkafka(bootstrap):
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": bootstrap})
    a.create_topics([NewTopic(TOPIC + "-rdkafka", 3, 1)])[TOPIC + "-rdkafka"].result(10)
    a.list_topics(timeout=10)


def run_kafka_python(bootstrap):
    from kafka.admin import KafkaAdminClient, NewTopic
    a = KafkaAdminClient(bootstrap_servers=bootstrap)
    a.create_topics([NewTopic(TOPIC + "-kafka-python", 3, 1)])
    a.list_topics()
    a.close()


KAFKAJS = """
const { Kafka, logLevel } = require('kafkajs');
(async () => {
  const kafka = new Kafka({ clientId: 'golden', brokers: [process.argv[2]], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: process.argv[3], numPartitions: 3, replicationFactor: 1 }] });
  await admin.fetchTopicMetadata({ topics: [process.argv[3]] });
  await admin.disconnect();
})().catch((e) => { console.error(e); process.exit(1); });
"""


def run_kafkajs(bootstrap, repo):
    script = os.path.join(repo, "tests", ".capture_kafkajs.js")
    with open(script, "w") as f:
        f.write(KAFKAJS)
    try:
        subprocess.run(["node", script, bootstrap, TOPIC + "-kafkajs"], check=True, timeout=60)
    finally:
        os.remove(script)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fjord", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.makedirs(args.out, exist_ok=True)
    data = tempfile.mkdtemp(prefix="fjord-capture-")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = [None]  # the client being driven

    def save_golden(frame):
        key, version = struct.unpack(">hh", frame[:4])
        if key in API_NAMES and client[0]:
            path = os.path.join(args.out, f"{client[0]}-{API_NAMES[key]}-v{version}.bin")
            if not os.path.exists(path):
                with open(path, "wb") as f:
                    f.write(frame)

    proxy = RecordingProxy(port, save_golden)
    # The broker advertises the proxy, so every connection a client makes goes through it.
    broker = subprocess.Popen([args.fjord, "serve", "--data-dir", data, "--listeners",
                               f"PLAINTEXT://127.0.0.1:{port}", "--set",
                               f"advertised.listeners=PLAINTEXT://127.0.0.1:{proxy.port}"],
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 20
        while "ready" not in broker.stderr.readline():
            if time.time() > deadline or broker.poll() is not None:
                sys.exit("broker did not start")
        threading.Thread(target=lambda: broker.stderr.read(), daemon=True).start()
        bootstrap = f"127.0.0.1:{proxy.port}"
        for name, fn in (("librdkafka", lambda: run_librdkafka(bootstrap)),
                         ("kafka-python", lambda: run_kafka_python(bootstrap)),
                         ("kafkajs", lambda: run_kafkajs(bootstrap, repo))):
            client[0] = name
            fn()
            time.sleep(0.5)
        print("\n".join(sorted(os.listdir(args.out))))
    finally:
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
