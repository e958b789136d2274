"""Integration tests: real Kafka clients against `fjord serve` processes."""

from fixtures import admin, broker, broker_factory, cluster_factory  # noqa: F401 (pytest finds fixtures here)
