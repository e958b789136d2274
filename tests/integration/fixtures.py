"""pytest fixtures: a real `fjord serve` process per test (see fjord_harness.py). The conftest.py
of tests/integration and of tests/system import them."""

import pytest

from cluster_harness import Cluster, Net
from fjord_harness import Broker, admin_client

# ---------------------------------------------------------------------- fixtures


def _fail_on(problems):
    """Teardown: fails the test with every problem the stopped processes showed."""
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def broker_factory(tmp_path):
    """make(*extra_args, start=True, data_dir=None, port=None, name=None) -> Broker.

    Every broker made is stopped (SIGTERM, by PID) at teardown and must exit 0."""
    brokers = []

    def make(*extra_args, start=True, data_dir=None, port=None, name=None, wait=True):
        name = name or "broker%d" % len(brokers)
        b = Broker(tmp_path / name, extra_args, port=port, data_dir=data_dir, name=name)
        brokers.append(b)
        if start:
            b.start(wait=wait)
        return b

    yield make

    _fail_on([p for b in brokers for p in b.finish()])


@pytest.fixture
def broker(broker_factory):
    return broker_factory(name="broker")


@pytest.fixture
def admin(broker):
    return admin_client(broker)


@pytest.fixture
def cluster_factory(tmp_path):
    """make(n=3, settings=None, start=True) -> Cluster of n broker+controller nodes on loopback.

    Every node is stopped (SIGTERM, by PID) at teardown and must exit 0."""
    clusters = []

    def make(n=3, settings=None, start=True, smp=1, netns=False):
        net = Net(n) if netns else None
        try:
            c = Cluster(tmp_path / ("cluster%d" % len(clusters)), n, settings, smp, net)
        except BaseException:
            if net:
                net.remove()
            raise
        clusters.append(c)
        if start:
            c.start()
        return c

    yield make

    problems = [p for c in clusters for p in c.finish()]
    for c in clusters:
        if c.net:
            c.net.remove()
    _fail_on(problems)
