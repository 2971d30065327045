#!/usr/bin/env bash
# Side-by-side benchmark: hfkit (kubectl hfapply, in-process sops) against
# helmfile 1.7.4 + helm-diff 3.15.11 + helm-secrets + sops, on generated repositories.
#
# Usage: bench/run.sh [N...]            (default: 10 50; N=200 works, it only takes long)
# Env:   REPS (default 3) repetitions per measurement, the median is reported;
#        BENCH_WORK (default /tmp/bench-work): generated repos, logs, times.tsv;
#        SKIP_HELMFILE=1 / SKIP_HFKIT=1: one side only (e.g. N=200 in two sittings); APPEND=1: add to the
#        previous run's times.tsv instead of starting over (and skip the decrypt step);
#        HELM_SECRETS_DIR: an unpacked helm-secrets release (default: from the mirror
#        /work/.mirror/jkroepke+helm-secrets, tag v4.7.7; never committed here).
# Needs: scripts/peers.sh helm3 sops age etcd kube-apiserver helm-diff helmfile, and
#        (two commands: --example restricts a build to the example)
#        CARGO_TARGET_DIR=target-bench cargo build --release -p kubectl-hfapply -p helm-layered -p kubectl-sopsraw
#        CARGO_TARGET_DIR=target-bench cargo build --release -p hfkit-sops --example sops-decrypt
#
# Isolation: two local control planes (scripts/dev-cluster.sh), one per side:
#   /tmp/bench-cluster (hfkit) and /tmp/bench-cluster-helmfile (helmfile). Each N has its
#   own namespaces and release names (n50-t03, n50-r017), so several N share a cluster.
# Per step, the two sides run alternately (hfkit rep i, helmfile rep i, ...) so a change
# in background load hits both alike. Output: $BENCH_WORK/times.tsv, then
# bench/report.py writes bench/RESULTS.md and bench/time-vs-n.svg.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
WORK="${BENCH_WORK:-/tmp/bench-work}"
REPS="${REPS:-3}"
NS=("${@:-10 50}"); read -r -a NS <<<"${NS[*]}"
PEERS="$HOME/.cache/hfkit/peers"
TOOLS="$WORK/tools"
TIMES="$WORK/times.tsv"
mkdir -p "$WORK" "$TOOLS/bin" "$TOOLS/plugins"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# --- tools: one PATH for both sides ---------------------------------------------------
for b in sops age helmfile; do ln -sfn "$PEERS/bin/$b" "$TOOLS/bin/$b"; done
ln -sfn "$PEERS/bin/helm3" "$TOOLS/bin/helm"
ln -sfn "$ROOT/target-bench/release/kubectl-hfapply" "$TOOLS/bin/kubectl-hfapply"
ln -sfn "$ROOT/target-bench/release/kubectl-sopsraw" "$TOOLS/bin/kubectl-sopsraw"
ln -sfn "$PEERS/helm-diff-v3.15.11" "$TOOLS/plugins/diff"
if [ ! -f "$TOOLS/plugins/secrets/plugin.yaml" ]; then
  mkdir -p "$TOOLS/plugins/secrets"
  if [ -n "${HELM_SECRETS_DIR:-}" ]; then cp -r "$HELM_SECRETS_DIR/." "$TOOLS/plugins/secrets/"
  else git -C /work/.mirror/jkroepke+helm-secrets/repo archive v4.7.7 | tar -x -C "$TOOLS/plugins/secrets"; fi
fi
export PATH="$TOOLS/bin:$PATH" HELM_PLUGINS="$TOOLS/plugins"
export SOPS_AGE_KEY_FILE="$ROOT/examples/cluster-repo/demo-keys/age-demo-key.txt"
export HELMFILE_UPGRADE_NOTICE_DISABLED=1 HELM_SECRETS_BACKEND=sops
unset HELM_LAYERED_ENV HFAPPLY_ENV

cluster() { # cluster DIR -> kubeconfig path (starts it if needed)
  HFKIT_DEV_CLUSTER_DIR="$1" CARGO_TARGET_DIR="$ROOT/target-bench" \
    "$ROOT/scripts/dev-cluster.sh" start 2>/dev/null | sed -n 's/^export KUBECONFIG=//p'
}
KC_HFKIT=$(cluster /tmp/bench-cluster)
KC_HELMFILE=$(cluster /tmp/bench-cluster-helmfile)

# measure N STEP TOOL REP KUBECONFIG CMD...: wall time (ns clock) and peak RSS of the
# largest process in the tree (/usr/bin/time -v, i.e. getrusage of the children).
measure() {
  local n=$1 step=$2 tool=$3 rep=$4 kc=$5; shift 5
  [ "$tool" = helmfile ] && [ -n "${SKIP_HELMFILE:-}" ] && return 0
  [ "$tool" = hfkit ] && [ -n "${SKIP_HFKIT:-}" ] && return 0
  local out="$WORK/logs/n$n.$step.$tool.$rep" t0 t1 rc=0
  mkdir -p "$WORK/logs"
  t0=$(date +%s%N)
  KUBECONFIG="$kc" /usr/bin/time -v -o "$out.time" "$@" >"$out.log" 2>&1 || rc=$?
  t1=$(date +%s%N)
  local rss; rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out.time")
  printf '%s\t%s\t%s\t%s\t%.3f\t%s\t%s\n' "$n" "$step" "$tool" "$rep" \
    "$(echo "($t1 - $t0) / 1000000000" | bc -l)" "$rss" "$rc" >>"$TIMES"
  log "N=$n $step $tool #$rep: $(( (t1 - t0) / 1000000 )) ms, ${rss} kB, exit $rc"
}


# change_one VALUE: edits one release's env layer (the same release for every step)
change_one() {
  sed -i "s/BENCH_CHANGE: .*/BENCH_CHANGE: \"$1\"/" "$REPO/helmfiles/$CHANGED_THEME/values/$CHANGED/default.yaml"
}

# snapshot KUBECONFIG: releases (name ns revision status) and objects of this N's
# namespaces (kind/ns/name + data/spec), for comparing the two sides
snapshot() {
  KUBECONFIG="$1" helm list -A -o json | python3 -c '
import json,sys
for r in sorted(json.load(sys.stdin), key=lambda r:(r["namespace"],r["name"])):
    if r["namespace"].startswith(sys.argv[1]+"-"): print(r["namespace"],r["name"],"rev",r["revision"],r["status"])' "n$N"
  KUBECONFIG="$1" kubectl get configmaps,secrets,services,serviceaccounts,deployments -A -o json |
    python3 -c '
import json,sys,hashlib
for o in json.load(sys.stdin)["items"]:
    m=o["metadata"]
    if not m.get("namespace","").startswith(sys.argv[1]+"-"): continue
    if o.get("type","").startswith("helm.sh/") or m["name"] in ("kube-root-ca.crt","default"): continue
    body={k:o.get(k) for k in ("data","stringData","spec") if k in o}
    for k in ("clusterIP","clusterIPs"): body.get("spec",{}).pop(k,None)
    print(o["kind"],m["namespace"],m["name"],hashlib.sha256(json.dumps(body,sort_keys=True).encode()).hexdigest()[:16])' "n$N" | sort
}

# --- decrypt a 1,000-key secrets file --------------------------------------------------
decrypt_bench() {
  local f="$WORK/secrets-1000.yaml"
  if [ ! -f "$f" ]; then
    python3 -c 'print("\n".join(f"key{i:04d}: value-{i:04d}-" + "x" * 24 for i in range(1000)))' >"$f.plain"
    sops -e --age "$(sed -n 's/^# public key: //p' "$SOPS_AGE_KEY_FILE")" --input-type yaml --output-type yaml "$f.plain" >"$f"
    rm -f "$f.plain"
  fi
  local ours="$ROOT/target-bench/release/examples/sops-decrypt"
  cmp -s <("$ours" "$f") <(sops -d "$f") || { log "decrypt outputs differ"; exit 1; }
  for ((i = 1; i <= REPS * 2; i++)); do
    measure 1000 decrypt hfkit "$i" "" "$ours" "$f"
    measure 1000 decrypt sops "$i" "" sops -d "$f"
  done
}

if [ -z "${APPEND:-}" ]; then
  : >"$WORK/checks.txt"; : >"$WORK/load.tsv"; [ -f "$TIMES" ] && mv "$TIMES" "$TIMES.prev"; : >"$TIMES"
fi
[ -n "${APPEND:-}" ] || { echo "date: $(date -u +%FT%TZ)"; echo "nproc: $(nproc)"; echo "mem: $(free -g | awk '/Mem:/{print $2" GiB"}')";
  echo "cpu: $(sed -n 's/^model name.*: //p' /proc/cpuinfo | head -1)"; echo "reps: $REPS";
  echo "helm: $(helm version --short)"; echo "helmfile: $(helmfile --version 2>&1 | tail -1)";
  echo "sops: $(sops --version 2>/dev/null | head -1)"; echo "commit: $(git -C "$ROOT" rev-parse --short HEAD)"; } >"$WORK/machine.txt"
load() { printf '%s\t%s\n' "$1" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/load.tsv"; }

[ -n "${APPEND:-}" ] || { load decrypt-start; decrypt_bench; load decrypt-end; }

for N in "${NS[@]}"; do
  REPO="$WORK/repo-n$N"
  CHANGED=n$N-r001 CHANGED_THEME=n$N-t00
  if [ ! -d "$REPO" ]; then
    log "generating N=$N in $REPO"
    python3 "$BENCH/gen-workload.py" "$N" "$REPO"
    cp "$ROOT/examples/cluster-repo/.sops.yaml" "$REPO/.sops.yaml"
    find "$REPO" -name '*.secrets.yaml' -o -name '*.secrets.post.yaml' | while read -r f; do
      (cd "$REPO" && sops -e -i "$f")
    done
  fi
  change_one 0
  load "n$N-start"
  # 0. first install (one run; not a target, reported for scale)
  measure "$N" install hfkit 1 "$KC_HFKIT" kubectl hfapply -C "$REPO" --all
  measure "$N" install helmfile 1 "$KC_HELMFILE" helmfile --file "$REPO/helmfile.helmfile.yaml" apply --skip-deps
  # 1. no-op apply
  for ((i = 1; i <= REPS; i++)); do
    measure "$N" noop-apply hfkit "$i" "$KC_HFKIT" kubectl hfapply -C "$REPO" --all
    measure "$N" noop-apply helmfile "$i" "$KC_HELMFILE" helmfile --file "$REPO/helmfile.helmfile.yaml" apply --skip-deps
  done
  # 2. diff with one release changed (nothing applied)
  change_one diff
  for ((i = 1; i <= REPS; i++)); do
    measure "$N" diff-one hfkit "$i" "$KC_HFKIT" kubectl hfapply diff -C "$REPO" --all
    measure "$N" diff-one helmfile "$i" "$KC_HELMFILE" helmfile --file "$REPO/helmfile.helmfile.yaml" diff --skip-deps
  done
  # 3. apply with one release changed (a new value each repetition)
  for ((i = 1; i <= REPS; i++)); do
    change_one "apply-$i"
    measure "$N" apply-one hfkit "$i" "$KC_HFKIT" kubectl hfapply -C "$REPO" --all
    measure "$N" apply-one helmfile "$i" "$KC_HELMFILE" helmfile --file "$REPO/helmfile.helmfile.yaml" apply --skip-deps
  done
  load "n$N-end"
  # same work on both sides?
  [ -n "${SKIP_HFKIT:-}" ] || snapshot "$KC_HFKIT" >"$WORK/n$N.hfkit.state"
  snapshot "$KC_HELMFILE" >"$WORK/n$N.helmfile.state"
  if [ -n "${SKIP_HELMFILE:-}" ]; then
    echo "N=$N: helmfile side not run (SKIP_HELMFILE)" >>"$WORK/checks.txt"
  elif [ -n "${SKIP_HFKIT:-}" ]; then
    # the hfkit side ran earlier with REPS_HFKIT repetitions: compare releases only if they match
    if diff -u "$WORK/n$N.hfkit.state" "$WORK/n$N.helmfile.state" >"$WORK/n$N.state.diff"; then
      echo "N=$N: same releases, revisions and objects ($(wc -l <"$WORK/n$N.hfkit.state") lines)" >>"$WORK/checks.txt"
    else
      echo "N=$N: helmfile side run separately (SKIP_HFKIT, REPS=$REPS); differences in $WORK/n$N.state.diff" >>"$WORK/checks.txt"
    fi
  elif [ -s "$WORK/n$N.hfkit.state" ] && diff -u "$WORK/n$N.hfkit.state" "$WORK/n$N.helmfile.state" >"$WORK/n$N.state.diff"; then
    echo "N=$N: same releases, revisions and objects ($(wc -l <"$WORK/n$N.hfkit.state") lines)" >>"$WORK/checks.txt"
  else
    echo "N=$N: DIFFERENT, see $WORK/n$N.state.diff" >>"$WORK/checks.txt"
  fi
  log "$(tail -1 "$WORK/checks.txt")"
done

python3 "$BENCH/report.py" "$WORK" "$BENCH"
