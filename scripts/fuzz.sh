#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time, on the stable toolchain.
#
# Usage: scripts/fuzz.sh [TARGET...]        (default: every target of fuzz/Cargo.toml)
#   HFKIT_FUZZ_SECONDS=N   seconds per target (default 20)
#   HFKIT_FUZZ_RUNS=N      stop each target after N executions instead (0: no limit)
#   HFKIT_FUZZ_STATS=FILE  append "target<TAB>executions<TAB>seconds<TAB>exec/s" lines
#   HFKIT_FUZZ_SEED=N      libFuzzer's -seed (default: random)
#   HFKIT_FUZZ_FRESH=1     start from the committed seeds only, in a temporary corpus
#                          (not the grown one in the cache): with a fixed seed, a run
#                          repeats what the same command did elsewhere (.ci/run does this)
#
# cargo-fuzz is installed once (pinned) under ~/.cache/hfkit/tools/cargo-fuzz; the
# targets build into ~/.cache/hfkit/fuzz-target; each target's grown corpus is kept in
# ~/.cache/hfkit/fuzz-corpus/<target> (the committed seeds in fuzz/corpus/<target> are
# read, never written). A crash, a failed invariant, a leak of memory past 2 GiB or a
# timeout fails the script; the input is saved under ~/.cache/hfkit/fuzz-artifacts and
# printed (base64) so the log alone reproduces it:
#   base64 -d > crash && scripts/fuzz.sh --repro TARGET crash
set -euo pipefail

CACHE="${HFKIT_CACHE:-$HOME/.cache/hfkit}"
CARGO_FUZZ_VERSION=0.13.2
TOOLS="$CACHE/tools/cargo-fuzz"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECS="${HFKIT_FUZZ_SECONDS:-20}"
RUNS="${HFKIT_FUZZ_RUNS:-0}"
export CARGO_TARGET_DIR="${HFKIT_FUZZ_TARGET_DIR:-$CACHE/fuzz-target}"
# cargo-fuzz's instrumentation flags need a nightly rustc; the stable one accepts them
# with RUSTC_BOOTSTRAP, so no second toolchain is needed.
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

log() { printf 'fuzz: %s\n' "$*" >&2; }

if ! "$TOOLS/bin/cargo-fuzz" --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS"
  cargo install --locked --quiet --root "$TOOLS" --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi
export PATH="$TOOLS/bin:$PATH"
cd "$ROOT"

# Larger inputs only slow the search down; a sops file with its metadata needs more.
max_len() { case "$1" in sops_decrypt) echo 16384 ;; *) echo 4096 ;; esac; }
# -s none: no sanitizer (safe Rust; none needs nightly), -a: debug assertions and
# overflow checks on, --release: the speed the execution counts are measured at.
FLAGS=(-s none -a --release --fuzz-dir fuzz)

if [ "${1:-}" = "--repro" ]; then
  [ $# -eq 3 ] || { log "usage: scripts/fuzz.sh --repro TARGET FILE"; exit 2; }
  exec cargo fuzz run "${FLAGS[@]}" "$2" "$3"
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

start=$SECONDS
# cargo fuzz has no --locked: check the committed fuzz/Cargo.lock is current first.
cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
cargo fuzz build "${FLAGS[@]}"
log "built ${#targets[@]} targets in $((SECONDS - start))s"

failed=()
for t in "${targets[@]}"; do
  corpus="$CACHE/fuzz-corpus/$t"
  [ "${HFKIT_FUZZ_FRESH:-0}" = 1 ] && corpus="$(mktemp -d)"
  artifacts="$CACHE/fuzz-artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  out="$(mktemp)"
  limit=(-max_total_time="$SECS")
  [ "$RUNS" != 0 ] && limit=(-runs="$RUNS")
  [ -n "${HFKIT_FUZZ_SEED:-}" ] && limit+=(-seed="$HFKIT_FUZZ_SEED")
  t0=$SECONDS
  set +e
  # Inputs that once found a bug (fuzz/regressions/<target>) are replayed every run.
  dirs=("$corpus" "fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
  cargo fuzz run "${FLAGS[@]}" "$t" "${dirs[@]}" -- \
    "${limit[@]}" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$out" 2>&1
  rc=$?
  set -e
  secs=$((SECONDS - t0))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out" | tail -n1)
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    log "$t FAILED (exit $rc) after ${execs:-?} executions; the end of its log:"
    tail -n 60 "$out" >&2
    for f in $(grep -o "Test unit written to [^ ]*" "$out" | sed 's/^Test unit written to //'); do
      log "$t: artifact $f (base64 below; reproduce with scripts/fuzz.sh --repro $t FILE)"
      base64 -w 100 "$f" >&2 || true
    done
  else
    log "$t ok: ${execs:-?} executions in ${secs}s (${rate:-?} exec/s)"
  fi
  if [ -n "${HFKIT_FUZZ_STATS:-}" ]; then
    printf '%s\t%s\t%s\t%s\n' "$t" "${execs:-?}" "$secs" "${rate:-?}" >>"$HFKIT_FUZZ_STATS"
  fi
  rm -f "$out"
  [ "${HFKIT_FUZZ_FRESH:-0}" = 1 ] && rm -rf "$corpus"
done

log "done in $((SECONDS - start))s"
if [ ${#failed[@]} -gt 0 ]; then
  log "failed: ${failed[*]}"
  exit 1
fi
