//! No library: this package holds the tests of `scripts/package.sh`'s archives and
//! manifests (krew's validator and installer, helm 3 and helm 4 plugin installs).
