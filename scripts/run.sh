#!/usr/bin/env bash
# Installs what is missing, builds the release binary, and starts a single-node broker with the
# embedded defaults (127.0.0.1:9092, data in ~/.local/share/fjord). Extra arguments go to
# `fjord serve` (for example --data-dir DIR or --listeners PLAINTEXT://127.0.0.1:9093).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh build
cmake --preset release >/dev/null
cmake --build --preset release --target fjord
exec build/release/fjord serve "$@"
