#!/usr/bin/env bash
# Builds hfkit's plugins and installs them for the current user:
#   - binaries into $PREFIX/bin (default ~/.local/bin): helm-layered, kubectl-sopsraw,
#     kubectl-hfapply (kubectl finds kubectl-* plugins on PATH);
#   - `helm layered` into helm's plugin directory (helm 3 or helm 4 manifest, picked
#     from `helm version`).
# When no helm is on PATH, a pinned helm 3 is built from its Go module
# (scripts/peers.sh helm3) and linked as $PREFIX/bin/helm.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${PREFIX:-$HOME/.local}"
log() { printf 'install: %s\n' "$*" >&2; }

mkdir -p "$PREFIX/bin"
log "building release binaries"
cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" \
  -p helm-layered -p kubectl-sopsraw -p kubectl-hfapply
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
for bin in helm-layered kubectl-sopsraw kubectl-hfapply; do
  install -m 0755 "$TARGET/$bin" "$PREFIX/bin/$bin"
done

HELM="${HELM:-$(command -v helm || true)}"
if [ -z "$HELM" ]; then
  log "no helm on PATH: building helm 3 from its Go module"
  "$ROOT/scripts/peers.sh" helm3
  ln -sfn "$("$ROOT/scripts/peers.sh" --print-env | sed 's/^export HFKIT_PEERS_BIN=//')/helm3" "$PREFIX/bin/helm"
  HELM="$PREFIX/bin/helm"
fi

major=$("$HELM" version --template '{{.Version}}' | sed 's/^v//; s/\..*//')
manifest="$ROOT/plugins/helm-layered/plugin.yaml"
[ "$major" -ge 4 ] && manifest="$ROOT/plugins/helm-layered/helm4/plugin.yaml"
plugin_src="$PREFIX/share/hfkit/helm-layered"
rm -rf "$plugin_src" && mkdir -p "$plugin_src/bin"
cp "$manifest" "$plugin_src/plugin.yaml"
cp "$TARGET/helm-layered" "$plugin_src/bin/helm-layered"
"$HELM" plugin uninstall layered >/dev/null 2>&1 || true
"$HELM" plugin install "$plugin_src" >&2
log "installed into $PREFIX/bin and as \`helm layered\` (helm $major: $HELM)"
case ":$PATH:" in *":$PREFIX/bin:"*) ;; *) log "add $PREFIX/bin to PATH: export PATH=\"$PREFIX/bin:\$PATH\"" ;; esac
