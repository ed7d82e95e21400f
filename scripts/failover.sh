#!/usr/bin/env bash
# Failover on PostgreSQL, measured from outside: two `baton serve` processes on one fresh
# database; the instance holding a tenant's routing lease is killed with SIGKILL, and the script
# reports how long until the other holds the lease (a new epoch in `routing_leases`) and has
# started routing the tenant (its "routing this tenant" log line).
#
#   scripts/failover.sh [BATON_BINARY] [ROUNDS]
#
# Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth) and psql. Prints one line per
# round and removes its database at the end.
set -euo pipefail

BIN=${1:-target/release/baton}
ROUNDS=${2:-3}
ADMIN=postgres://postgres@127.0.0.1:5432/postgres
DB=baton_failover_$$
URL=postgres://postgres@127.0.0.1:5432/$DB
WORK=$(mktemp -d)
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ms() { date +%s%3N; }

psql -q "$ADMIN" -c "CREATE DATABASE $DB" >/dev/null
"$BIN" migrate --database "$URL" >/dev/null 2>&1 || true
"$BIN" tenant create "Failover Co" --admin-email ops@failover.example --json --database "$URL" >/dev/null

start() { # port -> pid; logs in $WORK/<port>.log
    BATON_LOG=info "$BIN" serve --database "$URL" --listen "127.0.0.1:$1" >"$WORK/$1.log" 2>&1 &
    PIDS+=($!)
    echo $!
}

holder_pid() {
    psql -qtA "$URL" -c "SELECT split_part(holder, '-', 1) || ' ' || epoch FROM routing_leases \
        WHERE expires_at > (extract(epoch FROM now()) * 1000)::bigint LIMIT 1"
}

port=18470
a=$(start $port); pa=$port; port=$((port + 1))
b=$(start $port); pb=$port; port=$((port + 1))

for round in $(seq 1 "$ROUNDS"); do
    # Wait until one of the two holds the lease.
    for _ in $(seq 1 100); do
        read -r holder epoch <<<"$(holder_pid)" || true
        [[ -n "${holder:-}" ]] && break
        sleep 0.1
    done
    if [[ "$holder" == "$a" ]]; then victim=$a; survivor=$b; slog=$WORK/$pb.log
    else victim=$b; survivor=$a; slog=$WORK/$pa.log; fi
    before=$(grep -c "routing this tenant" "$slog" || true)
    kill -9 "$victim"
    killed=$(ms)
    taken=""
    while (( $(ms) - killed < 15000 )); do
        read -r now_holder now_epoch <<<"$(holder_pid)" || true
        if [[ "${now_holder:-}" == "$survivor" && "${now_epoch:-0}" -gt "$epoch" ]]; then
            taken=$(( $(ms) - killed )); break
        fi
        sleep 0.05
    done
    routing=""
    while (( $(ms) - killed < 15000 )); do
        if (( $(grep -c "routing this tenant" "$slog" || true) > before )); then
            routing=$(( $(ms) - killed )); break
        fi
        sleep 0.05
    done
    echo "round $round: killed pid $victim (epoch $epoch); pid $survivor holds the lease after ${taken:-never} ms, routes the tenant after ${routing:-never} ms"
    # A fresh instance replaces the killed one for the next round.
    if [[ "$victim" == "$a" ]]; then a=$(start $port); pa=$port; else b=$(start $port); pb=$port; fi
    port=$((port + 1))
    sleep 2
done
