#!/usr/bin/env sh
# Retrains the linear frustration model shipped in crates/baton-core/data/frustration_model.tsv.
# Deterministic (fixed seed, single thread). Trains on the DEV file only and prints 5-fold
# cross-validation figures; the weights file header records them.
#
#   scripts/train-frustration.sh [../shared/eval/frustration-dev.tsv]
set -eu
cd "$(dirname "$0")/.."
DEV="${1:-../shared/eval/frustration-dev.tsv}"
cargo run --quiet --release -p baton-core --example train_frustration -- "$DEV" crates/baton-core/data/frustration_model.tsv
