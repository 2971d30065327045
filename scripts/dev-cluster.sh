#!/usr/bin/env bash
# A local Kubernetes control plane (real etcd + kube-apiserver, no nodes) for people:
# the same one the tests start (crates/hfkit-testcluster), run in the background.
#
# Usage: scripts/dev-cluster.sh start|stop|status|env
#   start   builds the peers if missing (scripts/peers.sh etcd kube-apiserver) and the
#           hfkit-devcluster binary, starts it, prints `export KUBECONFIG=...`. Idempotent.
#   stop    stops it (SIGTERM; the peers die with it) and removes its state. Idempotent.
#   status  says whether it runs; exit 0 if it does, 3 if not.
#   env     prints the export line (nothing if not running).
# State: $HFKIT_DEV_CLUSTER_DIR, default ${HFKIT_CACHE:-~/.cache/hfkit}/dev-cluster/ (pid, log, ready, run/ with certs,
# etcd data and kubeconfig). Startup timeout: HFKIT_TESTCLUSTER_TIMEOUT_SECS (180).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${HFKIT_DEV_CLUSTER_DIR:-${HFKIT_CACHE:-$HOME/.cache/hfkit}/dev-cluster}"
PIDFILE="$STATE/pid"
TIMEOUT="${HFKIT_TESTCLUSTER_TIMEOUT_SECS:-180}"

log() { printf 'dev-cluster: %s\n' "$*" >&2; }

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid; pid=$(cat "$PIDFILE")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
    grep -q hfkit-devcluster "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

print_env() {
  [ -f "$STATE/ready" ] && echo "export KUBECONFIG=$(cat "$STATE/ready")"
}

start() {
  if pid=$(running_pid); then
    if [ -f "$STATE/ready" ]; then
      log "already running (pid $pid)"
      print_env
      return 0
    fi
    log "pid $pid is starting; waiting"
  else
    # a leftover from a crash or a killed run: clear it
    rm -rf "$STATE"
    "$ROOT/scripts/peers.sh" etcd kube-apiserver
    local target="${CARGO_TARGET_DIR:-$ROOT/target}"
    log "building hfkit-devcluster"
    (cd "$ROOT" && CARGO_TARGET_DIR="$target" cargo build -q -p hfkit-testcluster --bin hfkit-devcluster)
    mkdir -p "$STATE"
    cp "$target/debug/hfkit-devcluster" "$STATE/hfkit-devcluster"
    setsid "$STATE/hfkit-devcluster" --state-dir "$STATE" </dev/null >"$STATE/devcluster.log" 2>&1 &
    pid=$!
    echo "$pid" >"$PIDFILE"
    log "started pid $pid; waiting for the apiserver (log: $STATE/devcluster.log)"
  fi
  local waited=0
  until [ -f "$STATE/ready" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "hfkit-devcluster exited during startup:"
      tail -n 40 "$STATE/devcluster.log" >&2 || true
      rm -f "$PIDFILE"
      return 1
    fi
    if [ "$waited" -ge $((TIMEOUT * 5)) ]; then
      log "not ready after ${TIMEOUT}s; stopping it. Log tail:"
      tail -n 40 "$STATE/devcluster.log" >&2 || true
      stop
      return 1
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  log "ready"
  print_env
}

stop() {
  local pid
  if pid=$(running_pid); then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid ignored SIGTERM for 30s; SIGKILL (its peers die with it)"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped pid $pid"
  else
    log "not running"
  fi
  rm -rf "$STATE"
}

status() {
  local pid
  if pid=$(running_pid) && [ -f "$STATE/ready" ]; then
    local kc; kc=$(cat "$STATE/ready")
    log "running (pid $pid), $(sed -n 's/^ *server: //p' "$kc")"
    print_env
  elif pid=$(running_pid); then
    log "starting (pid $pid)"
    return 3
  else
    log "not running"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) print_env || true ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
