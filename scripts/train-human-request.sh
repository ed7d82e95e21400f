#!/usr/bin/env sh
# Retrains the learned half of the human-request signal shipped in
# crates/baton-core/data/human_request_model.tsv (see crates/baton-core/src/escalation/request_model.rs).
# Deterministic (fixed seeds, single thread): running it twice gives the same file.
#
# Trains on the DEV file only (../shared/eval/human-request-dev.tsv, with its sources sidecar).
# It prints, and records in the header of the weights file:
#   1. per source: the rules alone, and rules + a model trained WITHOUT that source whose
#      threshold was chosen on out-of-source scores of the other sources only (nested
#      leave-one-source-out: the figure that decides);
#   2. the shipped threshold, chosen on the pooled out-of-source scores of all sources (it must
#      match request_model::THRESHOLD; a test checks it);
#   3. the weights: one model trained on all dev rows, and its in-sample figure (not a
#      measurement).
# A few minutes in the dev profile (baton-core builds at opt-level 1).
#
#   scripts/train-human-request.sh [../shared/eval/human-request-dev.tsv] [../shared/eval/human-request-dev.sources.tsv]
set -eu
cd "$(dirname "$0")/.."
DEV="${1:-../shared/eval/human-request-dev.tsv}"
SOURCES="${2:-../shared/eval/human-request-dev.sources.tsv}"
cargo run --quiet -p baton-core --example train_human_request -- "$DEV" "$SOURCES" crates/baton-core/data/human_request_model.tsv
