"""Several `fjord serve` processes forming one cluster on loopback (controller quorum over every
node), for the cluster tests. Each node is a fjord_harness.Broker with its own client port,
controller (Raft) port and data dir; the fixture stops them all at teardown."""

import os
import random
import subprocess
import time

from confluent_kafka.admin import NewTopic

import kafka_raw as kr
from fjord_harness import Broker, admin_client, free_port, result_of, wait_until

# Fast failure detection for tests: brokers heartbeat every 100 ms and are fenced after 1 s.
FAST = {"broker.heartbeat.interval.ms": 100, "broker.session.timeout.ms": 1000,
        "controller.quorum.election.timeout.ms": 500}


class Net:
    """Every node in its own network namespace, joined by veth pairs to a bridge in this one (the
    test's clients are here): cut(i) takes node i off the network, as a network partition does,
    mend(i) puts it back. Needs root (namespaces, bridges), as CI and this machine have.

    A namespace is held by a `sleep` started with `unshare --net` and entered with nsenter
    through /proc/PID/ns/net: nothing is mounted (`ip netns` mounts under /run/netns, and its
    exec remounts / and /sys, which fails in a chroot)."""

    def __init__(self, n):
        tag = "fj%d" % (os.getpid() % 100000)
        self.bridge = tag + "b"
        self.host_ends = ["%sh%d" % (tag, i) for i in range(n)]
        subnet = "10.%d.%d" % (200 + os.getpid() % 50, os.getpid() % 250)
        self.hosts = ["%s.%d" % (subnet, i + 2) for i in range(n)]
        self.holders = []
        try:
            self._build(n, tag, subnet)
        except BaseException:
            self.remove()  # what was made so far
            raise

    def _build(self, n, tag, subnet):
        self._ip("link", "add", self.bridge, "type", "bridge")
        self._ip("addr", "add", subnet + ".1/24", "dev", self.bridge)
        self._ip("link", "set", self.bridge, "up")
        mine = os.readlink("/proc/self/ns/net")
        for i in range(n):
            holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "3600"], stdin=subprocess.DEVNULL)
            self.holders.append(holder)
            # Until unshare has run, /proc/PID/ns/net is still this namespace.
            wait_until(lambda: self._ns_of(holder) not in (None, mine), 5, what="namespace %d" % i)
            inner = "%sc%d" % (tag, i)
            self._ip("link", "add", self.host_ends[i], "type", "veth", "peer", "name", inner)
            self._ip("link", "set", inner, "netns", str(holder.pid))
            self._ip("link", "set", self.host_ends[i], "master", self.bridge)
            self._ip("link", "set", self.host_ends[i], "up")
            self._ip("addr", "add", self.hosts[i] + "/24", "dev", inner, inside=i)
            self._ip("link", "set", inner, "up", inside=i)
            self._ip("link", "set", "lo", "up", inside=i)

    @staticmethod
    def _ns_of(proc):
        try:
            return os.readlink("/proc/%d/ns/net" % proc.pid)
        except OSError:
            return None

    def _ip(self, *args, inside=None):
        cmd = [*(self.prefix(inside) if inside is not None else []), "ip", *args]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, "%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip())

    def prefix(self, i):
        return ["nsenter", "--net=/proc/%d/ns/net" % self.holders[i].pid]

    def free_port(self, i):
        # Each namespace has its own ports: any port is free there.
        return 20000 + random.randrange(20000)

    def cut(self, i):
        self._ip("link", "set", self.host_ends[i], "down")

    def mend(self, i):
        self._ip("link", "set", self.host_ends[i], "up")

    def remove(self):
        # A namespace goes with its last process (the brokers are stopped by now), and a veth
        # pair with its namespace end.
        for h in self.holders:
            h.kill()
            h.wait()
        for end in self.host_ends:
            subprocess.run(["ip", "link", "del", end], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


class Cluster:
    def __init__(self, workdir, n, settings=None, smp=1, net=None):
        self.workdir = workdir
        self.net = net
        self.settings = dict(FAST)
        self.settings.update(settings or {})
        hosts = net.hosts if net else ["127.0.0.1"] * n
        self.controller_ports = [net.free_port(i) if net else free_port() for i in range(n)]
        self.voters = ",".join("%d@%s:%d" % (i, hosts[i], p) for i, p in enumerate(self.controller_ports))
        self.nodes = [Broker(workdir / ("node%d" % i), self.args(i, smp), name="node%d" % i, host=hosts[i],
                             port=net.free_port(i) if net else None, prefix=net.prefix(i) if net else ())
                      for i in range(n)]

    def args(self, node_id, smp):
        a = ["--smp", smp, "--set", "node.id=%d" % node_id, "--set", "process.roles=broker,controller",
             "--set", "controller.quorum.voters=" + self.voters]
        for k, v in self.settings.items():
            a += ["--set", "%s=%s" % (k, v)]
        return a

    @property
    def bootstrap(self):
        return ",".join(n.bootstrap for n in self.nodes)

    def running(self):
        return [n for n in self.nodes if n.running()]

    def start(self):
        # A node is ready only once the quorum has a leader: start them all, then wait.
        for n in self.nodes:
            n.start(wait=False)
        for n in self.nodes:
            n.wait_ready(timeout=30)
        # Every node has seen every broker join (followers apply changes a heartbeat later).
        for n in self.nodes:
            self.wait_brokers(len(self.nodes), node=n)
        return self

    def metadata(self, node=None, topics=None):
        """Metadata v12 from `node` (default: the first running one), auto-creation off."""
        node = node or self.running()[0]
        with kr.Conn.to(node.bootstrap) as c:
            return c.metadata(topics, allow_auto_topic_creation=False)

    def wait_brokers(self, count, node=None, timeout=15.0):
        """Waits until Metadata lists `count` brokers; returns their ids."""
        def seen():
            ids = sorted(b["node_id"] for b in self.metadata(node)["brokers"])
            return ids if len(ids) == count else None
        return wait_until(seen, timeout, what="%d brokers in Metadata" % count)

    def controller_id(self, node=None, other_than=None, timeout=15.0):
        """The active controller's id as `node`'s Metadata says, once there is one (and it is not
        `other_than`)."""
        def known():
            cid = self.metadata(node)["controller_id"]
            return [cid] if cid >= 0 and cid != other_than else None
        return wait_until(known, timeout, what="a controller")[0]

    def controller(self):
        """The node that is the active controller (as Metadata says)."""
        return self.nodes[self.controller_id()]

    def leaders(self, topic, node=None):
        """{partition: leader id} from Metadata."""
        (t,) = self.metadata(node, [topic])["topics"]
        return {p["partition_index"]: p["leader_id"] for p in t["partitions"]}

    def wait_leaders(self, topic, pred, timeout=15.0, what="leaders", node=None):
        return wait_until(lambda: (lambda l: l if pred(l) else None)(self.leaders(topic, node)), timeout, what=what)

    def finish(self):
        problems = []
        for n in self.nodes:
            problems += n.finish()
        return problems


# Followers that stop fetching leave the ISR after 1.5 s; fetch errors back off 100 ms.
REPL = {"replica.lag.time.max.ms": 1500, "replica.fetch.backoff.ms": 100, "replica.fetch.wait.max.ms": 200}


def create(cluster, name, partitions, rf=3, configs=None):
    admin = admin_client(cluster)
    res = result_of(admin.create_topics([NewTopic(name, partitions, rf, config=configs or {})], request_timeout=15))
    assert res[name] is None, res
    cluster.wait_leaders(name, lambda l: len(l) == partitions and all(v >= 0 for v in l.values()),
                         what="leaders of %s" % name)
    return name


def partitions_of(cluster, topic, node=None):
    (t,) = cluster.metadata(node, [topic])["topics"]
    return {p["partition_index"]: p for p in t["partitions"]}


def wait_isr(cluster, topic, size, node=None, timeout=20):
    return wait_until(lambda: (lambda ps: ps if all(len(p["isr_nodes"]) == size for p in ps.values()) else None)(
        partitions_of(cluster, topic, node)), timeout, what="ISR of %d on every partition of %s" % (size, topic))
