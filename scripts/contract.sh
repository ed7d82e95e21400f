#!/usr/bin/env bash
# The contract check: schemathesis against a demo server, bounded in time. It fails on any
# server error (5xx), any undocumented status or content type, any answer that breaks the
# schema `/openapi.json` gives for it, and any request the schema allows that the server
# refuses as malformed (400/422; positive_data_acceptance, with the few operations whose
# checks JSON Schema cannot state excluded in scripts/schemathesis.toml, each with its reason;
# the checks are chosen there).
#
# Uses the `baton` binary the tests built (target/debug/baton; BATON_BIN overrides), building
# it only when it is missing. The server runs on a free port with its database in a temporary
# directory, and is stopped at the end.
#
#   scripts/contract.sh            # about 2 minutes (CONTRACT_MAX_TIME seconds, default 120)
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${BATON_BIN:-target/debug/baton}"
max_time="${CONTRACT_MAX_TIME:-120}"
if [ ! -x "$bin" ]; then
  cargo build -q -p baton
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
command -v schemathesis >/dev/null || { echo "contract: schemathesis is not installed (pip install schemathesis)" >&2; exit 1; }

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:${port}"
BATON_LOG=warn "$bin" demo --listen "127.0.0.1:${port}" --data-dir "$work/data" >"$work/server.out" 2>&1 &
server=$!
stop() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT

for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$base/readyz" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.out" >&2; echo "contract: the server did not start" >&2; exit 1; }
  sleep 0.2
done
curl -fsS -o /dev/null "$base/readyz"

# Two credentials, half the time each: the demo's integration API key (starting conversations,
# customer and bot turns, which people may not do), then the demo admin's session (people's
# operations; it may revoke the key, so it comes second).
session="$(curl -fsS "$base/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"email": "admin@demo.baton.dev", "password": "baton-demo"}' \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')"
api_key="$(sed -n 's/.*Integration API key (bots, channels): \(bk_[0-9a-zA-Z_]*\).*/\1/p' "$work/server.out" | head -n 1)"
[ -n "$session" ] && [ -n "$api_key" ] || { cat "$work/server.out" >&2; echo "contract: no credentials" >&2; exit 1; }

# Logout would end the session the run uses; the WebSocket routes are not HTTP request/response.
# One worker: hypothesis parses lambdas with `ast`, which CPython 3.11 can fail at from two
# threads at once ("AST constructor recursion depth mismatch"). Run from the temporary
# directory, where schemathesis keeps its cache.
config="$(pwd)/scripts/schemathesis.toml"
cd "$work"
failed=0
for credential in "$api_key" "$session"; do
  schemathesis --config-file "$config" run "$base/openapi.json" \
    --header "Authorization: Bearer ${credential}" \
    --exclude-path /v1/auth/logout \
    --exclude-path /v1/live \
    --exclude-path /v1/widget/live \
    --max-examples 5 \
    --max-time "$((max_time / 2))" \
    --workers 1 \
    --seed 1 \
    --request-timeout 10 \
    --suppress-health-check all \
    --warnings off || failed=1
done
if [ "$failed" -ne 0 ]; then
  echo "contract: schemathesis found server errors or answers /openapi.json does not describe" >&2
  exit 1
fi
echo "contract: no server errors, every answer as /openapi.json describes it"
