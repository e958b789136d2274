#!/usr/bin/env bash
# A local Fjord cluster for trying things out: N nodes (default 3), each broker and controller,
# on 127.0.0.1 with their own ports and data directories.
#
#   scripts/cluster.sh start [N]   installs what is missing, builds the release binary, starts the nodes
#   scripts/cluster.sh stop        stops them (SIGTERM, by the PIDs it recorded)
#   scripts/cluster.sh status      which nodes run, and the cluster as Metadata shows it
#
# Node i listens for clients on 127.0.0.1:$((19092 + 2*i)) and for the controller quorum on
# 127.0.0.1:$((19093 + 2*i)); its data and log are in $FJORD_CLUSTER_DIR/node-i (default
# /tmp/fjord-cluster). Set FJORD_BASE_PORT to move the ports.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${FJORD_CLUSTER_DIR:-/tmp/fjord-cluster}
base=${FJORD_BASE_PORT:-19092}
bin=build/release/fjord

nodes() { ls -d "$dir"/node-* 2>/dev/null | sed 's/.*node-//' | sort -n; }

case "${1:-start}" in
  start)
    n=${2:-3}
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "cluster.sh: N must be a positive number" >&2; exit 2; }
    scripts/install-deps.sh build
    cmake --preset release >/dev/null
    cmake --build --preset release --target fjord
    voters=""
    for ((i = 0; i < n; i++)); do voters+="${voters:+,}$i@127.0.0.1:$((base + 2 * i + 1))"; done
    bootstrap=""
    for ((i = 0; i < n; i++)); do
      mkdir -p "$dir/node-$i"
      if [ -f "$dir/node-$i/pid" ] && kill -0 "$(cat "$dir/node-$i/pid")" 2>/dev/null; then
        echo "node $i already runs (pid $(cat "$dir/node-$i/pid"))"
        continue
      fi
      port=$((base + 2 * i))
      "$bin" serve --data-dir "$dir/node-$i/data" --listeners "PLAINTEXT://127.0.0.1:$port" \
        --set node.id="$i" --set process.roles=broker,controller --set controller.quorum.voters="$voters" \
        >>"$dir/node-$i/fjord.log" 2>&1 &
      echo $! >"$dir/node-$i/pid"
      bootstrap+="${bootstrap:+,}127.0.0.1:$port"
      echo "node $i: pid $!, clients 127.0.0.1:$port, log $dir/node-$i/fjord.log"
    done
    # Ready once a majority has formed the quorum and each node has logged 'ready'.
    for ((t = 0; t < 300; t++)); do
      ready=0
      for ((i = 0; i < n; i++)); do grep -q ready "$dir/node-$i/fjord.log" 2>/dev/null && ready=$((ready + 1)); done
      [ "$ready" -eq "$n" ] && break
      sleep 0.1
    done
    echo "$ready of $n node(s) ready; bootstrap servers: ${bootstrap:-see status}"
    ;;
  stop)
    for i in $(nodes); do
      pidfile="$dir/node-$i/pid"
      [ -f "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for ((t = 0; t < 200; t++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        echo "node $i stopped"
      fi
      rm -f "$pidfile"
    done
    ;;
  status)
    any=""
    for i in $(nodes); do
      pidfile="$dir/node-$i/pid"
      if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "node $i: running (pid $(cat "$pidfile")), 127.0.0.1:$((base + 2 * i))"
        any=${any:-127.0.0.1:$((base + 2 * i))}
      else
        echo "node $i: not running"
      fi
    done
    [ -n "$any" ] && "$bin" cluster describe -b "$any"
    ;;
  *)
    echo "usage: scripts/cluster.sh start [N] | stop | status" >&2
    exit 2
    ;;
esac
