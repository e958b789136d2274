"""Faults under load on a 3-broker cluster with replicated topics (replication factor 3,
min.insync.replicas 2): an idempotent acks=all producer and a consumer group run through
kill -9 of a leader, a SIGSTOP longer than replica.lag.time.max.ms, a restart of every broker in
turn, and a random loop of those; afterwards every acknowledged record is in the log once, in
order per partition, and the group resumes from its committed offsets."""

import os
import random
import signal
import time

from cluster_harness import REPL, create, wait_isr
from cluster_workload import Workload

SETTINGS = dict(REPL)
PARTITIONS = 3


def start_workload(c, name):
    topic = create(c, name, PARTITIONS, configs={"min.insync.replicas": "2"})
    wait_isr(c, topic, 3)
    w = Workload(c, topic, PARTITIONS, name + "-group").start()
    w.wait_acked(300)
    return topic, w


def progress(w, more=300, timeout=90):
    """The producer gets `more` records acknowledged."""
    w.wait_acked(w.acked_count() + more, timeout=timeout)


def kill_leader(c, topic, rng):
    leaders = c.leaders(topic)
    victim = c.nodes[leaders[rng.randrange(PARTITIONS)]]
    victim.kill9()
    return victim


def pause(node, seconds):
    os.kill(node.pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(node.pid, signal.SIGCONT)


def heal(c, topic):
    for n in c.nodes:
        if not n.running():
            n.start()
    c.wait_brokers(3, timeout=30)
    wait_isr(c, topic, 3, timeout=60)


def finish(c, w):
    # The group has kept up, through the faults, with what was acknowledged until now.
    w.wait_consumed()
    w.stop()
    summary = w.check(c.nodes[0])
    w.check_group_resumes(c.nodes[1])
    print("faults: %s" % summary)
    assert summary["acked"] > 0 and summary["consumed"] > 0


def test_leader_kill_pause_and_rolling_restart_lose_nothing(cluster_factory):
    c = cluster_factory(3, settings=SETTINGS)
    topic, w = start_workload(c, "faults")
    rng = random.Random(1)
    try:
        # kill -9 of a leader: the others take over and the producer carries on.
        kill_leader(c, topic, rng)
        progress(w)
        heal(c, topic)
        progress(w)
        # A pause longer than replica.lag.time.max.ms (1.5 s) and the session timeout (1 s).
        pause(c.nodes[rng.randrange(3)], 4)
        progress(w)
        heal(c, topic)
        # Every broker restarted in turn (controlled shutdown).
        for n in c.nodes:
            n.restart()
            c.wait_brokers(3, timeout=30)
            wait_isr(c, topic, 3, timeout=60)
            progress(w, 200)
    finally:
        finish(c, w)


def test_random_fault_loop(cluster_factory):
    seed = int(os.environ.get("FJORD_FAULT_SEED", time.time_ns() % 1_000_000))
    print("fault loop seed %d (FJORD_FAULT_SEED=%d reruns it)" % (seed, seed))
    rng = random.Random(seed)
    c = cluster_factory(3, settings=SETTINGS)
    topic, w = start_workload(c, "loop")
    deadline = time.monotonic() + 150
    done = []
    try:
        for _ in range(6):
            if time.monotonic() > deadline:
                break
            fault = rng.choice(["kill-leader", "kill-any", "pause", "restart"])
            done.append(fault)
            if fault == "kill-leader":
                kill_leader(c, topic, rng)
            elif fault == "kill-any":
                c.nodes[rng.randrange(3)].kill9()
            elif fault == "pause":
                pause(c.nodes[rng.randrange(3)], rng.uniform(0.5, 4))
            else:
                c.nodes[rng.randrange(3)].restart()
            progress(w, 100)
            heal(c, topic)
            progress(w, 100)
    finally:
        print("faults done (seed %d): %s" % (seed, done))
        finish(c, w)


def test_a_network_partition_of_a_leader(cluster_factory):
    # Every broker in its own network namespace (cluster_harness.Net); the leader of partition 0
    # is cut off from the others and from the clients, then comes back.
    c = cluster_factory(3, settings=SETTINGS, netns=True)
    topic, w = start_workload(c, "netsplit")
    victim = c.leaders(topic)[0]
    others = [n for i, n in enumerate(c.nodes) if i != victim]
    c.net.cut(victim)
    try:
        # The others fence it, elect new leaders and take the producer's records meanwhile.
        c.wait_leaders(topic, lambda l: victim not in l.values(), timeout=30, what="leaders away from the cut node",
                       node=others[0])
        progress(w)
    finally:
        c.net.mend(victim)
    c.wait_brokers(3, node=others[0], timeout=30)
    wait_isr(c, topic, 3, node=others[0], timeout=60)
    progress(w)
    finish(c, w)
