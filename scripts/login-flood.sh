#!/bin/bash
# 200 wrong logins at 64 in flight against a fresh release `baton serve` (SQLite); prints the
# server's resident memory before, at its peak and 10 s after. Build first: cargo build --release -p baton
set -e
B="$(cd "$(dirname "$0")/.." && pwd)/target/release/baton"
D=$(mktemp -d)
cd $D
"$B" tenant create Acme --admin-email lead@acme.example --database "sqlite://$D/baton.db" --json > tenant.json
"$B" serve --database sqlite://$D/baton.db --listen 127.0.0.1:18099 > server.log 2>&1 &
PID=$!
for i in $(seq 1 50); do curl -sf http://127.0.0.1:18099/readyz >/dev/null && break; sleep 0.2; done
rss() { grep -E "$1" /proc/$PID/status | awk '{print $2/1024 " MiB"}'; }
echo "before: $(rss VmRSS)"
python3 - <<'PY'
import asyncio, json, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
codes = {}
def one(i):
    req = urllib.request.Request("http://127.0.0.1:18099/v1/auth/login", data=json.dumps({"email": f"user{i%10}@acme.example" if i % 2 else "lead@acme.example", "password": "wrong-password-123"}).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r: return r.status
    except urllib.error.HTTPError as e: return e.code
    except Exception as e: return str(type(e).__name__)
t = time.time()
with ThreadPoolExecutor(64) as ex:
    for c in ex.map(one, range(200)): codes[c] = codes.get(c, 0) + 1
print("answers:", codes, "in %.1f s" % (time.time() - t))
PY
echo "after: $(rss VmRSS), peak: $(rss VmHWM)"; sleep 10; echo "10 s later: $(rss VmRSS)"
kill $PID; wait $PID 2>/dev/null || true
rm -rf $D
