#!/usr/bin/env sh
# Retrains the linear frustration model shipped in crates/baton-core/data/frustration_model.tsv.
# Deterministic (fixed seeds, single thread): running it twice gives the same file.
#
# Trains on the DEV file only (crates/baton-core/src/escalation/training.rs) and prints, and
# records in the header of the weights file:
#   1. the honest figure: nested 5-fold cross-validation, where in each outer fold the blend
#      weight and the threshold are chosen by an inner 5-fold CV of the training part only
#      (repeated over 5 split seeds to show the spread);
#   2. the table the shipped settings come from: pooled 5-fold out-of-fold F1 per blend weight
#      at the best threshold (optimistic: tuned on the scores it reports). The chosen line must
#      match FrustrationWeights::default() (a test checks it);
#   3. the weights: one model trained on the whole file.
# About 5 s in release. The test `frustration_nested_cv_on_dev` (cargo test -p baton-core)
# recomputes figure 1 and fails if it drops below its floor or the file was not regenerated.
#
#   scripts/train-frustration.sh [../shared/eval/frustration-dev.tsv]
set -eu
cd "$(dirname "$0")/.."
DEV="${1:-../shared/eval/frustration-dev.tsv}"
cargo run --quiet --release -p baton-core --example train_frustration -- "$DEV" crates/baton-core/data/frustration_model.tsv
