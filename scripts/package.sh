#!/usr/bin/env bash
# Builds release archives of the plugins into dist/ and fills in the krew manifests.
#
#   dist/kubectl-<plugin>_<version>_<os>_<arch>.tar.gz (.zip on windows)   krew archives
#   dist/krew/<plugin>.yaml                                                 filled manifests
#   dist/helm-layered_<version>_<os>_<arch>.tgz         helm 3 plugin (install from a URL)
#   dist/helm4/<os>_<arch>/layered-<version>.tgz        helm 4 plugin (apiVersion v1 manifest)
#
# Usage: scripts/package.sh [--all-platforms | --bin-dir DIR]
# Each platform needs its Rust target (rustup target add ...) and a linker for it; a
# platform that cannot be built here is skipped and left out of the filled manifests,
# unless --all-platforms makes that an error (for release pipelines). --bin-dir packages
# binaries already built for this machine's platform from DIR (no cargo build; tests).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST="${DIST:-$ROOT/dist}"
VERSION="v$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
ALL=0; BIN_DIR=""
case "${1:-}" in
  --all-platforms) ALL=1 ;;
  --bin-dir) BIN_DIR=$(cd "${2:?--bin-dir needs a directory}" && pwd) ;;
  "") ;;
  *) echo "usage: scripts/package.sh [--all-platforms | --bin-dir DIR]" >&2; exit 2 ;;
esac
log() { printf 'package: %s\n' "$*" >&2; }

declare -A TRIPLE=(
  [linux_amd64]=x86_64-unknown-linux-gnu [linux_arm64]=aarch64-unknown-linux-gnu
  [darwin_amd64]=x86_64-apple-darwin [darwin_arm64]=aarch64-apple-darwin
  [windows_amd64]=x86_64-pc-windows-gnu
)
PLATFORMS=(linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64)
host=$(rustc -vV | sed -n 's/^host: //p')
if [ -n "$BIN_DIR" ]; then
  installed=$host
else
  installed=$(rustup target list --installed 2>/dev/null || echo "$host")
fi

rm -rf "$DIST" && mkdir -p "$DIST/krew"
built=()
for plat in "${PLATFORMS[@]}"; do
  triple=${TRIPLE[$plat]}
  if ! grep -qx "$triple" <<<"$installed"; then
    [ $ALL = 1 ] && { log "target $triple is not installed (rustup target add $triple)"; exit 1; }
    log "skipping $plat: Rust target $triple is not installed here"
    continue
  fi
  if [ -n "$BIN_DIR" ]; then
    out=$BIN_DIR
  else
    log "building $plat ($triple)"
    cargo build --release --locked --target "$triple" --manifest-path "$ROOT/Cargo.toml" \
      -p helm-layered -p kubectl-sopsraw -p kubectl-hfapply >&2
    out="${CARGO_TARGET_DIR:-$ROOT/target}/$triple/release"
  fi
  exe=""; [ "${plat%_*}" = windows ] && exe=.exe
  for p in hfapply sopsraw; do
    stage=$(mktemp -d)
    install -m 0755 "$out/kubectl-$p$exe" "$stage/kubectl-$p$exe"
    [ -z "$exe" ] && install -m 0755 "$ROOT/krew/kubectl_complete-$p" "$stage/"
    install -m 0644 "$ROOT/LICENSE" "$stage/LICENSE"
    name="kubectl-${p}_${VERSION}_${plat}"
    if [ -n "$exe" ]; then
      (cd "$stage" && python3 -m zipfile -c "$DIST/$name.zip" ./*)
    else
      tar -C "$stage" -czf "$DIST/$name.tar.gz" .
    fi
    rm -rf "$stage"
  done
  # helm 3 takes archives from URLs only and wants plugin.yaml at the archive's root;
  # helm 4 takes local archives named NAME-VERSION.tgz holding NAME/ (what
  # `helm plugin package` writes).
  stage=$(mktemp -d); mkdir -p "$stage/bin"
  install -m 0644 "$ROOT/plugins/helm-layered/plugin.yaml" "$stage/plugin.yaml"
  install -m 0755 "$out/helm-layered$exe" "$stage/bin/helm-layered$exe"
  install -m 0644 "$ROOT/LICENSE" "$stage/LICENSE"
  tar -C "$stage" -czf "$DIST/helm-layered_${VERSION}_${plat}.tgz" plugin.yaml bin LICENSE
  rm -rf "$stage"
  stage=$(mktemp -d); mkdir -p "$stage/layered/bin" "$DIST/helm4/$plat"
  install -m 0644 "$ROOT/plugins/helm-layered/helm4/plugin.yaml" "$stage/layered/plugin.yaml"
  install -m 0755 "$out/helm-layered$exe" "$stage/layered/bin/helm-layered$exe"
  install -m 0644 "$ROOT/LICENSE" "$stage/layered/LICENSE"
  tar -C "$stage" -czf "$DIST/helm4/$plat/layered-${VERSION#v}.tgz" layered
  rm -rf "$stage"
  built+=("$plat")
done
[ ${#built[@]} -gt 0 ] || { log "no platform could be built"; exit 1; }

# Fill the krew manifests: version, each built platform's sha256; drop the others.
for p in hfapply sopsraw; do
  awk -v version="$VERSION" -v dist="$DIST" -v plugin="$p" '
    function flush() {
      if (block == "") return
      if (keep) printf "%s", block
      block = ""
    }
    /^# / && !started { next }
    { started = 1 }
    /^  - selector:/ { flush(); in_platforms = 1; keep = 0 }
    {
      line = $0
      gsub(/@VERSION@/, version, line)
      if (match(line, /@SHA256_[a-z0-9_]+@/)) {
        plat = substr(line, RSTART + 8, RLENGTH - 9)
        ext = (plat ~ /^windows/) ? "zip" : "tar.gz"
        file = dist "/kubectl-" plugin "_" version "_" plat "." ext
        cmd = "sha256sum \"" file "\" 2>/dev/null | cut -d\" \" -f1"
        sum = ""; cmd | getline sum; close(cmd)
        if (sum != "") { keep = 1; sub(/@SHA256_[a-z0-9_]+@/, sum, line) }
      }
      if (in_platforms) block = block line "\n"; else print line
    }
    END { flush() }
  ' "$ROOT/krew/$p.yaml" >"$DIST/krew/$p.yaml"
done
log "built ${built[*]} into $DIST"
