"""Crash and fault tests: brokers killed at random, starved of disk, or reading corrupt data,
driven by pytest with the integration suite's fixtures and helpers (tests/integration)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

from fixtures import admin, broker, broker_factory  # noqa: E402,F401 (pytest finds fixtures here)
