#!/bin/bash
# Handoff -> offer, second by second, from a database kept by `baton bench load --keep-data`:
# for the handoffs made in each second of the load, how many, and the time from the
# `handoff_requested` event to the first `offered` event (p50, max; server clocks, ms). Shows
# whether an offer tail is spread over the run or bunched (say, in the first seconds).
# Usage: scripts/offer-timeline.sh postgres://postgres@127.0.0.1:5432/baton_bench_...
#        scripts/offer-timeline.sh sqlite:///tmp/baton-bench-.../baton.db
set -e
url=${1:?usage: scripts/offer-timeline.sh DATABASE_URL (the one --keep-data printed)}
query="
WITH h AS (SELECT conversation, MIN(at) AS at FROM events WHERE kind = 'handoff_requested' GROUP BY conversation),
     o AS (SELECT conversation, MIN(at) AS at FROM events WHERE kind = 'offered' GROUP BY conversation),
     d AS (SELECT (h.at - (SELECT MIN(at) FROM h)) / 1000 AS sec, o.at - h.at AS ms
           FROM h JOIN o ON o.conversation = h.conversation)
SELECT sec, COUNT(*), MAX(ms), GROUP_CONCAT_MS FROM d GROUP BY sec ORDER BY sec"
case "$url" in
  postgres://*|postgresql://*)
    psql "$url" -AF ' ' -tc "${query/GROUP_CONCAT_MS/percentile_disc(0.5) WITHIN GROUP (ORDER BY ms)}" ;;
  sqlite://*)
    # SQLite has no percentile: the median is picked from the sorted list.
    sqlite3 -separator ' ' "${url#sqlite://}" "${query/GROUP_CONCAT_MS/GROUP_CONCAT(ms)}" |
      python3 -c '
import sys
for line in sys.stdin:
    sec, n, mx, ms = line.split()
    v = sorted(int(x) for x in ms.split(","))
    print(sec, n, mx, v[(len(v) - 1) // 2])' ;;
  *) echo "not a postgres:// or sqlite:// URL: $url" >&2; exit 2 ;;
esac | awk 'BEGIN { print "second handoffs max_ms p50_ms" } { print }'
