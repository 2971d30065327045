#!/usr/bin/env bash
# Regenerates the committed seed corpora fuzz/corpus/<target>/ from the repository's
# own fixtures and examples, and the sops seeds with the real sops 3.13.2 (a peer:
# scripts/peers.sh) for the committed test key fuzz/keys/fuzz-age-key.txt. Each seed
# starts with the byte the target reads first (mode / environment / file name).
# Run once when the targets change; the seeds are committed, CI does not run this.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="${HFKIT_CACHE:-$HOME/.cache/hfkit}/peers/bin"
C="$ROOT/fuzz/corpus"
KEY="$ROOT/fuzz/keys/fuzz-age-key.txt"
RECIPIENT=$(sed -n 's/^# public key: //p' "$KEY")
cd "$ROOT"

rm -rf "$C"
mkdir -p "$C"/{sops_decrypt,values_merge,helmfile_parse,manifest_parse}

# seed TARGET NAME FIRST-BYTE(octal) FILE...: FIRST-BYTE, then the files joined by NUL.
seed() {
  local target=$1 name=$2 first=$3; shift 3
  {
    printf "\\$first"
    local sep=""
    for f in "$@"; do printf '%b' "$sep"; cat "$f"; sep='\0'; done
  } >"$C/$target/$name"
}

# values_merge: layers as a stack would merge them (no leading byte: text only).
v() { local name=$1; shift; for f in "$@"; do [ -n "${sep-}" ] && printf '\0'; cat "$f"; sep=1; done >"$C/values_merge/$name"; unset sep; }
v example-media examples/cluster-repo/helmfiles/media/values/common.yaml \
  examples/cluster-repo/helmfiles/media/values/plex/common.yaml \
  examples/cluster-repo/helmfiles/media/values/plex/production.yaml
v chart-defaults examples/cluster-repo/charts/plex/values.yaml examples/cluster-repo/charts/app/values.yaml
v grafana examples/cluster-repo/helmfiles/monitoring/values/grafana/common.yaml
v theme-repo crates/hfkit/tests/fixtures/theme-repo/helmfiles/media/values/common.yaml \
  crates/hfkit/tests/fixtures/theme-repo/helmfiles/media/values/plex/production.yaml
printf 'base: &b\n  a: 1\n  list: [x, "y", 3.0]\nother:\n  <<: *b\n  a: !!str 2\n  n: ~\n' >"$C/values_merge/anchors"
printf 'a: {b: {c: 1}}\nl: [1]\n\0a: {b: null}\nl: {}\n\0a:\n  b: |\n    text\n' >"$C/values_merge/replace"

# helmfile_parse: first byte 0 default, 1 production.
i=0
for f in examples/cluster-repo/helmfile.yaml examples/cluster-repo/helmfiles/*/helmfile.yaml \
  crates/hfkit/tests/fixtures/theme-repo/helmfiles/*/helmfile.yaml \
  crates/hfkit/tests/fixtures/theme-unquoted/helmfile.yaml \
  crates/hfkit/tests/fixtures/theme-bad/{template-expr,duplicate,wrong-type}/helmfile.yaml \
  crates/hfkit-apply/tests/fixtures/basic/helmfiles/apps/helmfile.yaml; do
  seed helmfile_parse "hf$i" "00$((i % 2))" "$f"
  i=$((i + 1))
done

# manifest_parse: first byte 0 app.pre.yaml, 1 db.secrets.pre.yaml, 2 app.post.json.
i=0
for f in crates/hfkit/tests/fixtures/theme-repo/helmfiles/media/values/plex/raw/{00-namespace,10-config}.pre.yaml \
  crates/hfkit/tests/fixtures/theme-repo/helmfiles/media/values/plex/raw/20-monitor.post.yaml \
  examples/cluster-repo/helmfiles/backbone/values/ingress/raw/tls-config.pre.yaml \
  crates/hfkit-apply/tests/fixtures/basic/helmfiles/apps/values/base/raw/extra.pre.yaml; do
  seed manifest_parse "raw$i" 000 "$f"
  i=$((i + 1))
done
printf '\002{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}]}' >"$C/manifest_parse/list.json"

# sops: plaintexts encrypted by the real sops for the test key.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\ntype: Opaque\nstringData:\n    password: hunter2\n    port: 5432\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n    name: cfg\ndata:\n    enabled: true\n    ratio: 0.5\n' >"$tmp/multi.yaml"
printf '# a comment\nuser: admin\npassword: s3cr3t\nlist:\n    - a\n    - 2\n    - null\nnested:\n    deep:\n        key: value\n    plain_unencrypted: visible\n' >"$tmp/values.yaml"
printf '{\n\t"user": "admin",\n\t"n": 42,\n\t"f": 1.5,\n\t"b": false,\n\t"list": [1, "two", {"three": 3}]\n}\n' >"$tmp/values.json"
enc() { "$PEERS/sops" --encrypt --age "$RECIPIENT" "$@"; }
enc "$tmp/multi.yaml" >"$tmp/multi.enc.yaml"
enc "$tmp/values.yaml" >"$tmp/values.enc.yaml"
enc --unencrypted-suffix _unencrypted "$tmp/values.yaml" >"$tmp/suffix.enc.yaml"
enc --encrypted-regex '^(password|data|stringData)$' "$tmp/multi.yaml" >"$tmp/regex.enc.yaml"
enc --mac-only-encrypted --encrypted-regex '^password$' "$tmp/values.yaml" >"$tmp/maconly.enc.yaml"
enc "$tmp/values.json" >"$tmp/values.enc.json"
# file mode (bit 0 clear; bit 6: JSON)
for f in multi values suffix regex maconly; do seed sops_decrypt "file-$f" 000 "$tmp/$f.enc.yaml"; done
seed sops_decrypt file-json 100 "$tmp/values.enc.json"
# plaintext mode (bit 0 set; options in bits 1-5; a trailing position/xor pair)
for flags in 001 003 005 011 021 061; do
  { cat "$tmp/values.yaml"; printf '\200\001'; } >"$tmp/p"
  seed sops_decrypt "plain-$flags" "$flags" "$tmp/p"
done
{ cat "$tmp/values.json"; printf '\100\004'; } >"$tmp/p"; seed sops_decrypt plain-json 101 "$tmp/p"
{ cat "$tmp/multi.yaml"; printf '\300\010'; } >"$tmp/p"; seed sops_decrypt plain-multi 001 "$tmp/p"
# encrypted raw manifests for manifest_parse (file name db.secrets.pre.yaml)
seed manifest_parse enc-multi 001 "$tmp/multi.enc.yaml"
seed manifest_parse enc-regex 001 "$tmp/regex.enc.yaml"
ls -l "$C"/* | grep -c '^-' | xargs printf 'seeds: %s files\n'
