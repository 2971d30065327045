#!/usr/bin/env bash
# Runs the main job on the bundled example (examples/cluster-repo): shows plex's layered
# values and where each key comes from, upgrades it into a cluster with
# `helm layered upgrade`, and shows that a second `helm layered diff` is empty.
# Uses $KUBECONFIG when it points at a reachable cluster; otherwise starts the local
# control plane (scripts/dev-cluster.sh start). The demo's age key is a throwaway.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${PREFIX:-$HOME/.local}"
export PATH="$PREFIX/bin:$PATH"
export SOPS_AGE_KEY_FILE="$ROOT/examples/cluster-repo/demo-keys/age-demo-key.txt"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

if ! kubectl version --request-timeout=3s >/dev/null 2>&1; then
  eval "$("$ROOT/scripts/dev-cluster.sh" start)"
fi

cd "$ROOT/examples/cluster-repo/helmfiles/media"
say "helm layered values plex --env production"
helm layered values plex --env production
say "helm layered explain plex --env production"
helm layered explain plex --env production
say "helm layered upgrade plex ../../charts/plex --env production -n media --create-namespace"
helm layered upgrade plex ../../charts/plex --env production -n media --create-namespace
say "helm layered diff plex ../../charts/plex --env production -n media --detailed-exitcode"
helm layered diff plex ../../charts/plex --env production -n media --detailed-exitcode
echo "(no changes: the deployed release matches the layers)"
