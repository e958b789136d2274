#!/usr/bin/env bash
# Installs what is missing, builds (debug: ASan + UBSan), and runs every test: the unit tests
# (CTest), the integration and system tests (pytest driving real Kafka clients against brokers,
# some of them killed, starved of disk or fed corrupt data), and each
# libFuzzer target for FJORD_FUZZ_SECONDS (default 30) from its committed seeds.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh test
cmake --preset debug >/dev/null
cmake --build --preset debug

ctest --preset debug -j "$(nproc)" --timeout 300

(cd tests && npm ci --no-audit --no-fund --loglevel=error)
FJORD_BIN="$PWD/build/debug/fjord" /usr/bin/python3 -m pytest -q tests/integration tests/system

scripts/fuzz.sh "${FJORD_FUZZ_SECONDS:-30}"
