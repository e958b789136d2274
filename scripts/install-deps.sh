#!/usr/bin/env bash
# Installs the Debian 12 packages Fjord needs that are missing. `build`: to build and run the
# broker; `test`: also the real Kafka clients the integration tests drive, and clang with its
# libFuzzer runtime for the fuzz targets.
set -euo pipefail

what=${1:-build}
build_pkgs=(g++ cmake ninja-build ccache pkg-config git libasio-dev libspdlog-dev libfmt-dev libcli11-dev
  libexpected-dev libgtest-dev libgmock-dev librdkafka-dev libzstd-dev liblz4-dev libsnappy-dev zlib1g-dev libxxhash-dev libraft-dev libuv1-dev)
test_pkgs=(python3 python3-pytest python3-confluent-kafka python3-kafka python3-snappy python3-lz4 python3-zstandard kcat iproute2
  clang libclang-rt-14-dev)

pkgs=("${build_pkgs[@]}")
if [ "$what" = test ]; then
  pkgs+=("${test_pkgs[@]}")
  # Node.js may come from elsewhere (it brings its own npm); only install Debian's when absent.
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: missing packages: ${missing[*]} (run as root)" >&2; exit 1; }
  sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
