#!/usr/bin/env bash
# Runs every command of docs/operations.md against a real `baton` binary: upgrade (migrate,
# doctor), backup while a server runs and restore on the copy, audit verify, erasure through
# the API and the CLI; then, when pg_dump and PostgreSQL are there, the pg_dump / pg_restore
# round trip. Exits non-zero at the first step that does not behave as the page says.
#
# Uses target/debug/baton (BATON_BIN overrides), building it when missing. PostgreSQL: the
# server of BATON_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres); a
# database of its own is created and dropped.
#
#   scripts/operations.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${BATON_BIN:-target/debug/baton}"
[ -x "$bin" ] || cargo build -q -p baton
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
baton() { "$bin" "$@"; }
# Servers run in the background are started as "$bin" itself, so $! is their pid.
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {'d': d}))" "$1"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
step() { echo "== $*"; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export BATON_LOG=warn

port="$(free_port)"
cat > baton.toml <<EOF
listen = "127.0.0.1:${port}"
database_url = "sqlite://${work}/baton.db"

[retention]
deliveries_days = 14
closed_conversations_days = 730
EOF
B="http://127.0.0.1:${port}"

wait_ready() {
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$1/readyz" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "operations: $1 did not become ready" >&2
  exit 1
}

step "upgrade: migrate, doctor"
baton migrate --config baton.toml
created="$(baton tenant create "Ops Co" --admin-email admin@acme.example --json --config baton.toml | tail -n 1)"
tenant="$(echo "$created" | json 'd["tenant_id"]')"
KEY="$(echo "$created" | json 'd["api_key"]')"
password="$(echo "$created" | json 'd["admin"]["password"]')"
baton doctor --config baton.toml
baton doctor --config baton.toml --json | json 'd["ok"]' | grep -qx True

"$bin" serve --config baton.toml > serve.log 2>&1 &
pids+=($!)
wait_ready "$B"
T="$(curl -fsS -X POST "$B/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\": \"admin@acme.example\", \"password\": \"$password\"}" | json 'd["token"]')"
start_closed() { # a closed conversation of customer $1 with a message; prints its customer id
  local c
  c="$(curl -fsS -X POST "$B/v1/conversations" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d "{\"customer\": {\"external_id\": \"$1\", \"name\": \"Secret Name $1\"}, \"channel\": \"web\"}")"
  local id; id="$(echo "$c" | json 'd["id"]')"
  curl -fsS -o /dev/null -X POST "$B/v1/conversations/$id/messages" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d '{"role": "customer", "text": "my secret address is 1 Hidden Lane"}'
  curl -fsS -o /dev/null -X POST "$B/v1/conversations/$id/close" -H "Authorization: Bearer $T" \
    -H 'Content-Type: application/json' -d '{"resolution": "resolved"}'
  echo "$c" | json 'd["customer_id"]'
}
first="$(start_closed cus-a)"
second="$(start_closed cus-b)"

step "backup while the server runs, restore on the copy"
mkdir -p backups
baton backup backups/baton-2026-12-06.db --config baton.toml
baton audit verify --database sqlite://backups/baton-2026-12-06.db
restored_port="$(free_port)"
BATON_LISTEN="127.0.0.1:${restored_port}" "$bin" serve --database sqlite://backups/baton-2026-12-06.db > restored.log 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:${restored_port}"
n="$(curl -fsS "http://127.0.0.1:${restored_port}/v1/conversations" -H "Authorization: Bearer $T" | json 'len(d["items"])')"
[ "$n" = 2 ] || { echo "operations: the restored server has $n conversations, not 2" >&2; exit 1; }

step "erasure through the API and the CLI"
curl -fsS -X POST "$B/v1/customers/$first/erase" -H "Authorization: Bearer $T" | json 'd["messages"]' | grep -qx 1
baton customer erase "$second" --tenant "$tenant" --by admin@acme.example --config baton.toml
baton audit verify --config baton.toml
left="$(python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(\"SELECT COUNT(*) FROM messages WHERE text LIKE '%Hidden Lane%'\").fetchone()[0] + c.execute(\"SELECT COUNT(*) FROM events WHERE data LIKE '%Hidden Lane%'\").fetchone()[0])" "$work/baton.db")"
[ "$left" = 0 ] || { echo "operations: $left rows still hold erased text" >&2; exit 1; }

step "PostgreSQL: pg_dump, pg_restore, audit verify"
if [ -z "${BATON_TEST_POSTGRES_URL:-}" ] || ! command -v pg_dump >/dev/null; then
  echo "skipped: set BATON_TEST_POSTGRES_URL and install the PostgreSQL client tools"
  exit 0
fi
admin="$BATON_TEST_POSTGRES_URL"
server_url="${admin%/*}"
suffix="$(date +%s)_$$"
db="baton_ops_${suffix}"
restored="baton_ops_restored_${suffix}"
pghost="$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p.hostname or "127.0.0.1")' "$admin")"
pguser="$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p.username or "postgres")' "$admin")"
pgport="$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p.port or 5432)' "$admin")"
drop() {
  cleanup # stops the server first: a database in use cannot be dropped
  cd /
  psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP DATABASE IF EXISTS $restored WITH (FORCE)" >/dev/null 2>&1 || true
}
trap drop EXIT
psql -q "$admin" -c "CREATE DATABASE $db"
pg="$server_url/$db"
baton migrate --database "$pg"
pg_created="$(baton tenant create "PG Co" --admin-email admin@pg.example --json --database "$pg" | tail -n 1)"
PG_KEY="$(echo "$pg_created" | json 'd["api_key"]')"
pg_port="$(free_port)"
BATON_LISTEN="127.0.0.1:${pg_port}" "$bin" serve --database "$pg" > pg.log 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:${pg_port}"
pg_conv="$(curl -fsS -X POST "http://127.0.0.1:${pg_port}/v1/conversations" -H "Authorization: Bearer $PG_KEY" \
  -H 'Content-Type: application/json' -d '{"customer": {"external_id": "pg-1"}, "channel": "web"}' | json 'd["id"]')"
curl -fsS -o /dev/null -X POST "http://127.0.0.1:${pg_port}/v1/conversations/$pg_conv/messages" \
  -H "Authorization: Bearer $PG_KEY" -H 'Content-Type: application/json' -d '{"role": "customer", "text": "hello"}'
if baton backup x.db --database "$pg" 2> backup.err; then
  echo "operations: baton backup accepted a PostgreSQL URL" >&2; exit 1
fi
grep -q pg_dump backup.err
pg_dump --format=custom --file=baton.dump "$pg"
createdb --host="$pghost" --port="$pgport" --username="$pguser" "$restored"
pg_restore --no-owner --dbname="$server_url/$restored" baton.dump
baton audit verify --database "$server_url/$restored" | tee verify.out
grep -q "^ok: [1-9][0-9]* events" verify.out
baton doctor --database "$server_url/$restored"
echo "operations: every step passed"
