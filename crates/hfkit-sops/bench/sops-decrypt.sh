#!/usr/bin/env bash
# Compares decrypting a 1,000-key YAML file with hfkit-sops (example binary `sops-decrypt`,
# in-process rpgp) against the real `sops -d` (which shells out to gpg).
# Uses the public sops functional-test PGP key (test material only) in a private temp
# GNUPGHOME that is removed on every exit path. Uses hyperfine when installed, else a loop.
#
# Usage: crates/hfkit-sops/bench/sops-decrypt.sh [RUNS]
set -euo pipefail
RUNS=${1:-20}
HERE=$(cd "$(dirname "$0")/.." && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SOPS=${SOPS:-${HFKIT_PEERS_BIN:-$HOME/.cache/hfkit/peers/bin}/sops}
[ -x "$SOPS" ] || { echo "sops not found at $SOPS: run scripts/peers.sh sops age" >&2; exit 1; }
KEY="$HERE/tests/fixtures/sops_functional_tests_key.asc"

WORK=$(mktemp -d)
chmod 700 "$WORK"
trap 'rm -rf "$WORK"' EXIT INT TERM
export GNUPGHOME="$WORK/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --import "$KEY" 2>/dev/null

for i in $(seq 0 999); do printf 'key_%04d: value number %d with some padding text\n' "$i" "$i"; done > "$WORK/plain.yaml"
"$SOPS" -e --pgp FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4 "$WORK/plain.yaml" > "$WORK/enc.yaml"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-sops}
(cd "$ROOT" && cargo build --quiet --release -p hfkit-sops --example sops-decrypt)
OURS="$CARGO_TARGET_DIR/release/examples/sops-decrypt"
export SOPS_PGP_KEY_FILE="$KEY" HFKIT_SOPS_NO_GPG=1

# Same output?
cmp <("$SOPS" -d "$WORK/enc.yaml") <("$OURS" "$WORK/enc.yaml") && echo "outputs identical"

if command -v hyperfine >/dev/null; then
  hyperfine --warmup 2 --runs "$RUNS" -N \
    "$SOPS -d $WORK/enc.yaml" "$OURS $WORK/enc.yaml"
else
  t() { local s e; s=$(date +%s%N); for _ in $(seq "$RUNS"); do "$@" >/dev/null; done; e=$(date +%s%N); echo "$(( (e - s) / RUNS / 1000000 )) ms/run  $*"; }
  t "$SOPS" -d "$WORK/enc.yaml"
  t "$OURS" "$WORK/enc.yaml"
fi
