#!/usr/bin/env bash
# Alternates release builds of baton under `bench load --mode ingest`, so that builds compared
# share the machine's state (the raw commit rate moves from run to run on a shared disk).
#
#   scripts/ingest-ab.sh ROUNDS BIN [BIN...]          e.g. scripts/ingest-ab.sh 3 /tmp/before target/release/baton
#   EXTRA="--backend postgres" scripts/ingest-ab.sh 2 /tmp/before target/release/baton
#
# Prints one line per run: messages/s, the raw commit rate, their ratio and the SQLite writer's
# time held per transaction.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 ROUNDS BIN [BIN...]  (EXTRA=\"...\" adds bench load options)" >&2
    exit 2
fi
rounds=$1
shift
for r in $(seq 1 "$rounds"); do
    for bin in "$@"; do
        # shellcheck disable=SC2086
        out=$("$bin" bench load --mode ingest --duration "${DURATION:-12}" ${EXTRA:-} 2>&1)
        rate=$(grep -o '([0-9.]*/s)' <<<"$(grep 'customer messages' <<<"$out")" || true)
        raw=$(grep '^  raw baseline' <<<"$out" | awk '{print $3}')
        ratio=$(grep 'ingest vs raw' <<<"$out" | awk '{print $5}')
        held=$(grep -o '([0-9]* µs per transaction)' <<<"$out" || true)
        echo "$bin round $r: messages $rate, raw $raw commits/s, ratio $ratio, writer held $held"
    done
done
