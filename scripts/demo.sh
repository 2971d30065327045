#!/usr/bin/env bash
# Runs the main job on the bundled example (examples/cluster-repo: three themes, needs
# across themes, plain and age-encrypted layers, plain and encrypted raw manifests):
#   1. `helm layered explain` shows where plex's values come from (secrets redacted);
#   2. `kubectl hfapply --all` applies every theme in needs order;
#   3. a second `kubectl hfapply --all` finds nothing changed and runs no helm;
#   4. `kubectl hfapply diff --all --detailed-exitcode` is empty.
# Uses $KUBECONFIG when it reaches a cluster; otherwise starts the local control plane
# (scripts/dev-cluster.sh start; stop it with scripts/dev-cluster.sh stop).
# The example's age key (demo-keys/) is a throwaway, committed on purpose.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${PREFIX:-$HOME/.local}"
export PATH="$PREFIX/bin:$PATH"
export SOPS_AGE_KEY_FILE="$ROOT/examples/cluster-repo/demo-keys/age-demo-key.txt"
ENV="${DEMO_ENV:-production}"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

if ! kubectl version --request-timeout=3s >/dev/null 2>&1; then
  eval "$("$ROOT/scripts/dev-cluster.sh" start)"
fi

cd "$ROOT/examples/cluster-repo"
say "helm layered explain plex --env $ENV --dir helmfiles/media"
helm layered explain plex --env "$ENV" --dir helmfiles/media
say "kubectl hfapply --all --env $ENV"
kubectl hfapply --all --env "$ENV"
say "kubectl hfapply --all --env $ENV   # again: nothing changed, no helm process"
kubectl hfapply --all --env "$ENV"
say "kubectl hfapply diff --all --env $ENV --detailed-exitcode"
kubectl hfapply diff --all --env "$ENV" --detailed-exitcode
