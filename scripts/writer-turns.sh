#!/bin/bash
# Where a customer message's time goes while it holds SQLite's one writer. Starts a release
# `baton serve` on a fresh SQLite database with sqlx's statement log on, posts 200 customer
# messages one at a time (nothing else in flight), then prints, for the spans from `SAVEPOINT`
# to `RELEASE` (one message's transaction each, the first 20 skipped):
#   - the span, and the sum of the statements' own times as sqlx measures them on its SQLite
#     worker thread (SQLite's work, the statement cache, the hand-over of the rows);
#   - per statement: that time, and the gap before it (the request's task between two statements
#     plus the round trip to the worker thread).
# Then it times the same kind of turn (savepoint, conversation update, two-row events insert,
# message insert with its FTS trigger, release) run in-process by Python's sqlite3 on a copy of
# that database: what SQLite itself needs, without the thread hand-overs.
# Build first: cargo build --release -p baton. Usage: scripts/writer-turns.sh [path/to/baton]
set -e
B=${1:-"$(cd "$(dirname "$0")/.." && pwd)/target/release/baton"}
D=$(mktemp -d)
export BATON_DATABASE_URL="sqlite://$D/baton.db" BATON_LISTEN=127.0.0.1:18098
"$B" tenant create Acme --admin-email lead@acme.example --json > "$D/tenant.json"
BATON_LOG="sqlx::query=debug,info" "$B" serve > "$D/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$D"' EXIT
for i in $(seq 1 50); do curl -sf http://127.0.0.1:18098/readyz >/dev/null && break; sleep 0.2; done
python3 - "$D" <<'PY'
import collections, http.client, json, re, shutil, sqlite3, sys, time
from datetime import datetime

d = sys.argv[1]
key = json.load(open(f"{d}/tenant.json"))["api_key"]
h = http.client.HTTPConnection("127.0.0.1", 18098)
auth = {"Authorization": "Bearer " + key, "content-type": "application/json"}
h.request("POST", "/v1/conversations", json.dumps({"customer": {"external_id": "c1"}}), auth)
conv = json.loads(h.getresponse().read())["id"]
for i in range(200):
    h.request("POST", f"/v1/conversations/{conv}/messages",
              json.dumps({"role": "customer", "text": f"where is my order number {i} please"}), auth)
    h.getresponse().read()
    time.sleep(0.01)
time.sleep(0.5)

lines = [l for l in open(f"{d}/server.log") if "sqlx::query" in l and "summary=" in l]
def at(l): return datetime.strptime(l[:26], "%Y-%m-%dT%H:%M:%S.%f").timestamp() * 1e6
def took(l): return float(re.search(r"elapsed_secs=([0-9.e-]+)", l).group(1)) * 1e6
def name(l): return re.search(r'summary="([^"]*)"', l).group(1)[:40]
recs = [(at(l), took(l), name(l)) for l in lines]
stats = collections.defaultdict(lambda: [0, 0.0, 0.0])
spans, i = [], 0
while i < len(recs):
    if recs[i][2].startswith("SAVEPOINT"):
        j = i
        while j < len(recs) and not recs[j][2].startswith("RELEASE"):
            j += 1
        if j >= len(recs):
            break
        spans.append((recs[j][0] - (recs[i][0] - recs[i][1]), sum(r[1] for r in recs[i:j + 1])))
        if len(spans) > 20:
            for k in range(i, j + 1):
                s = stats[recs[k][2]]
                s[0] += 1
                s[1] += recs[k][1]
                if k > i:
                    s[2] += recs[k][0] - recs[k][1] - recs[k - 1][0]
        i = j + 1
    else:
        i += 1
spans = spans[20:]
n = len(spans)
print(f"{n} transactions: span {sum(s[0] for s in spans) / n:.0f} µs, "
      f"statements' own time {sum(s[1] for s in spans) / n:.0f} µs")
for k, (c, e, g) in sorted(stats.items(), key=lambda x: -x[1][0]):
    if c >= n // 2:
        print(f"  {e / c:7.1f} µs, gap before {g / c:7.1f} µs  {k}")

shutil.copy(f"{d}/baton.db", f"{d}/copy.db")
db = sqlite3.connect(f"{d}/copy.db", isolation_level=None)
for p in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
    db.execute("PRAGMA " + p)
cid, data, ten = db.execute("SELECT id, data, tenant FROM conversations").fetchone()
db.execute("BEGIN IMMEDIATE")
N = 2000
t = time.perf_counter()
for i in range(N):
    db.execute("SAVEPOINT s")
    db.execute("UPDATE conversations SET state=?, queue=?, assignee=?, priority=?, version=?, "
               "updated_at=?, data=?, offer_agent=?, last_agent=COALESCE(?, last_agent), "
               "waiting_since=? WHERE tenant=? AND id=?",
               ("bot", None, None, 50, i, i, data, None, None, None, ten, cid))
    db.execute("INSERT INTO events (tenant, conversation, kind, actor, data, at, hash) "
               "VALUES (?,?,?,?,?,?,?), (?,?,?,?,?,?,?)",
               (ten, cid, "message_added", "{}", data[:180], i, f"h{i}a",
                ten, cid, "escalation_evaluated", "{}", data[:550], i, f"h{i}b"))
    db.execute("INSERT INTO messages (id, tenant, conversation, role, text, created_at) "
               "VALUES (?,?,?,?,?,?)", (f"m{i}", ten, cid, "customer", f"where is my order {i}", i))
    db.execute("RELEASE s")
print(f"in-process (Python sqlite3), the same kind of turn: "
      f"{(time.perf_counter() - t) / N * 1e6:.0f} µs")
db.execute("ROLLBACK")
PY
