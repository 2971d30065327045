#!/usr/bin/env bash
# Checks Cargo.lock (the workspace's and fuzz/'s) against the RustSec advisory database
# with the real cargo-audit, offline: the database is the snapshot committed in
# tools/advisory-db (this workplace reaches no git host at run time). Any advisory
# (vulnerability, unsound, unmaintained or yanked warning) for a crate in a lock file fails.
#
# Usage: scripts/audit.sh                      check both lock files
#        scripts/audit.sh --refresh GIT_DIR    replace the snapshot with GIT_DIR's HEAD
#                                              (a clone of github.com/rustsec/advisory-db)
# cargo-audit is built once, pinned, into ~/.cache/hfkit/tools (outside the clone).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DB="$ROOT/tools/advisory-db"
CARGO_AUDIT_VERSION=0.22.2
TOOLS="${HFKIT_CACHE:-$HOME/.cache/hfkit}/tools/cargo-audit-$CARGO_AUDIT_VERSION"
log() { printf 'audit: %s\n' "$*" >&2; }

if [ "${1:-}" = "--refresh" ]; then
  src=${2:?usage: scripts/audit.sh --refresh ADVISORY_DB_GIT_DIR}
  rev=$(git --git-dir="$src" rev-parse HEAD)
  date=$(git --git-dir="$src" log -1 --format=%cs HEAD)
  rm -rf "$DB" && mkdir -p "$DB"
  git --git-dir="$src" archive HEAD crates rust LICENSE.txt README.md | tar -x -C "$DB"
  printf 'rustsec/advisory-db %s %s\n' "$rev" "$date" >"$DB/SNAPSHOT"
  log "snapshot replaced: advisory-db $rev ($date); commit tools/advisory-db"
  exit 0
fi

if [ ! -x "$TOOLS/bin/cargo-audit" ]; then
  log "building cargo-audit $CARGO_AUDIT_VERSION into $TOOLS"
  start=$SECONDS
  # Its own build directory, so the workspace's cached target is not invalidated.
  CARGO_TARGET_DIR="$TOOLS.build" cargo install --locked --quiet --no-default-features \
    --root "$TOOLS.tmp" cargo-audit --version "$CARGO_AUDIT_VERSION"
  rm -rf "$TOOLS" "$TOOLS.build" && mv "$TOOLS.tmp" "$TOOLS"
  log "built cargo-audit in $((SECONDS - start))s"
fi

log "advisory database: $(cat "$DB/SNAPSHOT")"
cd "$ROOT"   # cargo-audit reads .cargo/audit.toml (the ignore list and its reasons) from here
status=0
for lock in "$ROOT/Cargo.lock" "$ROOT/fuzz/Cargo.lock"; do
  [ -f "$lock" ] || continue
  log "checking ${lock#"$ROOT/"}"
  # --stale: the snapshot is older than cargo-audit's 90-day freshness rule by design;
  # refresh it with --refresh when a newer clone is at hand.
  "$TOOLS/bin/cargo-audit" audit --no-fetch --stale --db "$DB" --file "$lock" \
    --deny warnings || status=1
done
[ "$status" -eq 0 ] || log "advisories found: update the crate named above (cargo update -p NAME) or, if it cannot be avoided, record why in audit.toml"
exit "$status"
