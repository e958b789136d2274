"""Exactly-once: a consume-transform-produce application (eos_app.py: transactions with
sendOffsetsToTransaction) copies 4,000 numbered records while, at random moments, the
application is killed (kill -9) or the broker is killed and restarted (the seed is printed; set
FJORD_EOS_SEED to replay one). Then the application runs to the end without faults, and the
output, read with read_committed, holds every input record exactly once."""

import os
import random
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Producer

from clients import create_topic
from test_transactions import read_all

APP = Path(__file__).resolve().parent / "eos_app.py"
RECORDS = 4000
FAULTS = 10


def start_app(broker, idle, batch=40, pause=0.1):
    return subprocess.Popen([sys.executable, str(APP), broker.bootstrap, str(idle), str(batch), str(pause)],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def end_app(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_every_input_is_in_the_output_exactly_once(broker_factory):
    # A restarted application rejoins its group at once (no initial delay; a killed member's
    # session ends after 3 s).
    broker = broker_factory("--set", "group.initial.rebalance.delay.ms=0", "--set", "group.min.session.timeout.ms=1000",
                            name="eos")
    seed = int(os.environ.get("FJORD_EOS_SEED", random.randrange(1 << 30)))
    print("exactly-once seed %d (replay with FJORD_EOS_SEED=%d)" % (seed, seed))
    rng = random.Random(seed)
    create_topic(broker, "in", 2)
    create_topic(broker, "out", 2)
    src = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
    for n in range(RECORDS):
        src.produce("in", value=b"%06d" % n, partition=n % 2)
        if n % 500 == 499:
            src.flush(10)
    assert src.flush(30) == 0

    app = start_app(broker, idle=30)
    faults = {"app": 0, "broker": 0}
    try:
        for _ in range(FAULTS):
            time.sleep(rng.uniform(0.5, 2.5))
            if rng.random() < 0.5:
                faults["app"] += 1
                end_app(app)
            else:
                faults["broker"] += 1
                broker.kill9()
                time.sleep(rng.uniform(0.0, 0.5))
                broker.start()
            if app.poll() is not None:
                app = start_app(broker, idle=30)
    finally:
        end_app(app)
    copied_during_faults = len(read_all(broker, "out", [0, 1], "read_committed", timeout=10))
    print("faults: %s; %d of %d records copied while they happened" % (faults, copied_during_faults, RECORDS))
    assert 0 < copied_during_faults

    # To the end, without faults (restarted if a leftover error ends it; bounded).
    for attempt in range(5):
        app = start_app(broker, idle=4, batch=500, pause=0)
        try:
            rc = app.wait(timeout=180)
        finally:
            end_app(app)
        if rc == 0:
            break
    assert rc == 0, "the application kept failing: %s" % app.stderr.read()[-2000:]

    out = read_all(broker, "out", [0, 1], "read_committed", expect=RECORDS, timeout=60)
    values = sorted(v for _, v in out)
    dups = len(values) - len(set(values))
    missing = RECORDS - len(set(values))
    assert (dups, missing) == (0, 0), "%d output records: %d duplicated, %d missing" % (len(values), dups, missing)
    assert values == [b"out-%06d" % n for n in range(RECORDS)]
    # Per partition, in input order.
    for part in (0, 1):
        assert [v for p, v in out if p == part] == [b"out-%06d" % n for n in range(part, RECORDS, 2)]
