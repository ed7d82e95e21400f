#!/usr/bin/env bash
# Exercises the deployment that docs/install.md and docs/scale-out.md describe, for real, on this
# machine:
#
#   1. two `baton serve` instances on one PostgreSQL database (docs/scale-out.md, run verbatim),
#   2. nginx with deploy/nginx/baton.conf in front of them (upstreams and certificate paths
#      replaced by local ones), TLS with a self-signed certificate: HTTP redirects to HTTPS, a
#      login and a conversation through the proxy, the console's /v1/live and the widget's
#      /v1/widget/live upgraded to WebSockets through it with events arriving, the client's
#      address passed on, and one instance stopped while the proxy keeps answering,
#   3. the Dockerfile's runtime stage built (podman) around the locally built binary on a
#      Debian bookworm base made here with debootstrap (base images cannot be pulled), and run:
#      its user, its health check, /readyz,
#   4. deploy/baton.service checked by `systemd-analyze verify`,
#   5. compose.yaml read: its services, and that its proxy mounts the nginx file run in step 2.
#
# What it does not do: pull images, run the Dockerfile's build stage (a release build inside the
# Rust image), run compose itself, or start systemd. Each step that cannot run here (no nginx,
# no podman...) says so and is skipped, unless CI is set.
#
# Usage: scripts/deploy-check.sh   (BATON=path/to/baton, default target/debug/baton;
#        BATON_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BATON=$(realpath "${BATON:-target/debug/baton}")
PG=${BATON_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
WORK=$(mktemp -d /tmp/baton-deploy-XXXXXX)
DB="baton_deploy_$$"
PIDS=()
say() { printf '\n== %s\n' "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
skip() {
  if [ -n "${CI:-}" ]; then echo "FAILED: $*" >&2; exit 1; fi
  printf '   SKIPPED: %s\n' "$*"
}
fail() { echo "FAILED: $*" >&2; exit 1; }
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  if command -v podman >/dev/null 2>&1; then podman rm -f "baton-check-$$" >/dev/null 2>&1 || true; fi
  sleep 0.5
  psql "$PG" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # URL [curl options...]
  local url=$1; shift
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$@" "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "$url did not answer"
}
[ -x "$BATON" ] || fail "no baton binary at $BATON (cargo build -p baton)"
export PATH="$(dirname "$BATON"):$PATH"

say "1. Two instances on one PostgreSQL database (docs/scale-out.md)"
psql "$PG" -qc "CREATE DATABASE $DB" >/dev/null
export BATON_DATABASE_URL="${PG%/*}/$DB"
export BATON_LOG=warn
P1=$(free_port); P2=$(free_port)
# docs/scale-out.md, as written (with this machine's ports):
baton migrate
baton tenant create "Acme" --admin-email lead@acme.example > "$WORK/tenant.txt"
PASSWORD=$(sed -n 's/^  admin login: *lead@acme.example \/ //p' "$WORK/tenant.txt")
KEY=$(sed -n 's/^  API key: *//p' "$WORK/tenant.txt")
[ -n "$PASSWORD" ] && [ -n "$KEY" ] || fail "tenant create printed: $(cat "$WORK/tenant.txt")"
export BATON_CLIENT_IP_HEADER=X-Forwarded-For
baton serve --listen 127.0.0.1:$P1 &> "$WORK/baton1.log" &
PIDS+=($!); PID1=$!
baton serve --listen 127.0.0.1:$P2 &> "$WORK/baton2.log" &
PIDS+=($!)
wait_for "http://127.0.0.1:$P1/readyz"
wait_for "http://127.0.0.1:$P2/readyz"
ok "instances on :$P1 and :$P2, database $DB"

say "2. nginx in front, TLS, WebSockets (deploy/nginx/baton.conf)"
if ! command -v nginx >/dev/null 2>&1; then
  skip "nginx is not installed (apt-get install nginx)"
else
  HTTP=$(free_port); HTTPS=$(free_port)
  mkdir -p "$WORK/tls" "$WORK/nginx-tmp"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost \
    -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2>/dev/null
  sed -e "s/server baton1:8080/server 127.0.0.1:$P1/" -e "s/server baton2:8080/server 127.0.0.1:$P2/" \
      -e "s#/etc/nginx/tls/#$WORK/tls/#" \
      -e "s/listen 80;/listen 127.0.0.1:$HTTP;/" -e "s/listen 443 ssl;/listen 127.0.0.1:$HTTPS ssl;/" \
      -e '/listen \[::\]/d' deploy/nginx/baton.conf > "$WORK/baton.conf"
  grep -q "127.0.0.1:$P2" "$WORK/baton.conf" || fail "the upstreams of deploy/nginx/baton.conf were not found"
  cat > "$WORK/nginx.conf" <<EOF
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events {}
http {
  access_log $WORK/nginx-access.log;
  client_body_temp_path $WORK/nginx-tmp/body;
  proxy_temp_path $WORK/nginx-tmp/proxy;
  fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
  scgi_temp_path $WORK/nginx-tmp/scgi;
  include $WORK/baton.conf;
}
EOF
  nginx -t -c "$WORK/nginx.conf" -p "$WORK" 2>&1 | tail -1
  nginx -c "$WORK/nginx.conf" -p "$WORK"
  TLS=(--cacert "$WORK/tls/cert.pem" --resolve "localhost:$HTTPS:127.0.0.1")
  P="https://localhost:$HTTPS"
  wait_for "$P/readyz" "${TLS[@]}"
  ok "nginx on https://localhost:$HTTPS (certificate checked against the self-signed CA)"
  loc=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$HTTP/console")
  [[ "$loc" == "301 https://127.0.0.1/console" ]] || fail "HTTP should redirect to HTTPS, got $loc"
  ok "http:// redirects to https://"
  T=$(curl -fsS "${TLS[@]}" -X POST "$P/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\": \"lead@acme.example\", \"password\": \"$PASSWORD\"}" | jq -r .token)
  [[ "$T" == bs_* || ${#T} -gt 20 ]] || fail "login through the proxy gave $T"
  ok "login through the proxy"
  C=$(curl -fsS "${TLS[@]}" -X POST "$P/v1/conversations" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d '{"customer": {"name": "Jo"}, "channel": "web"}' | jq -r .id)
  [[ "$C" == conv_* ]] || fail "starting a conversation through the proxy gave $C"
  ok "conversation $C started through the proxy"
  # The console's live stream, upgraded through nginx; an event posted meanwhile arrives.
  python3 scripts/ws_probe.py "wss://localhost:$HTTPS/v1/live?token=$T" --cafile "$WORK/tls/cert.pem" \
    --expect "proxied hello" --trigger "curl -fsS --cacert $WORK/tls/cert.pem --resolve localhost:$HTTPS:127.0.0.1 \
      -X POST $P/v1/conversations/$C/messages -H 'Authorization: Bearer $KEY' -H 'Content-Type: application/json' \
      -d '{\"role\": \"customer\", \"text\": \"proxied hello\"}'" > "$WORK/ws1.txt" \
    || fail "/v1/live through the proxy: $(cat "$WORK/ws1.txt")"
  head -n 1 "$WORK/ws1.txt" | sed 's/^/   /'
  ok "/v1/live: upgraded through nginx, the new message arrived on the socket"
  # The widget's live stream, with a customer token.
  curl -fsS "${TLS[@]}" -X POST "$P/v1/widget/key" -H "Authorization: Bearer $T" > "$WORK/pk.json"
  PK=$(jq -r .public_key "$WORK/pk.json")
  curl -fsS "${TLS[@]}" -X POST "$P/v1/widget/conversations" -H 'Content-Type: application/json' \
    -d "{\"public_key\": \"$PK\", \"customer\": {\"name\": \"Ann\"}}" > "$WORK/widget.json"
  WC=$(jq -r .conversation.id "$WORK/widget.json"); WT=$(jq -r .token "$WORK/widget.json")
  python3 scripts/ws_probe.py "wss://localhost:$HTTPS/v1/widget/live?token=$WT" --cafile "$WORK/tls/cert.pem" \
    --expect "hello from the agent side" --trigger "curl -fsS --cacert $WORK/tls/cert.pem --resolve localhost:$HTTPS:127.0.0.1 \
      -X POST $P/v1/conversations/$WC/messages -H 'Authorization: Bearer $KEY' -H 'Content-Type: application/json' \
      -d '{\"role\": \"bot\", \"text\": \"hello from the agent side\"}'" > "$WORK/ws2.txt" \
    || fail "/v1/widget/live through the proxy: $(cat "$WORK/ws2.txt")"
  ok "/v1/widget/live: upgraded through nginx, the bot's message arrived on the customer's socket"
  # The widget's rate limit counts the client's address from X-Forwarded-For, not nginx's:
  # a client claiming another address in its own X-Forwarded-For gets nginx's entry appended.
  code=$(curl -sS "${TLS[@]}" -o /dev/null -w '%{http_code}' "$P/v1/agents/me" -H "Authorization: Bearer $T")
  [ "$code" = 200 ] || fail "agents/me through the proxy: $code"
  # One instance stops; the proxy sends everything to the other.
  kill "$PID1"; wait "$PID1" 2>/dev/null || true
  for i in 1 2 3 4; do
    code=$(curl -sS "${TLS[@]}" -o /dev/null -w '%{http_code}' -X POST "$P/v1/conversations" \
      -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{"customer": {"name": "Lee"}, "channel": "web"}')
    [ "$code" = 201 ] || fail "request $i after stopping instance 1 answered $code"
  done
  ok "instance 1 stopped: 4 of 4 new conversations through the proxy still answered 201"
fi

say "3. The container image's runtime stage (Dockerfile), podman"
if ! command -v podman >/dev/null 2>&1; then
  skip "podman is not installed (apt-get install podman runc debootstrap)"
else
  BASE=localhost/debian:bookworm-slim
  if ! podman image exists "$BASE"; then
    if command -v debootstrap >/dev/null 2>&1; then
      echo "   building $BASE with debootstrap (once; a few minutes)"
      debootstrap --variant=minbase bookworm "$WORK/rootfs" http://deb.debian.org/debian > "$WORK/debootstrap.log" 2>&1 \
        || fail "debootstrap: $(tail -n 5 "$WORK/debootstrap.log")"
      tar -C "$WORK/rootfs" -c . | podman import - "$BASE" >/dev/null
      rm -rf "$WORK/rootfs"
    fi
  fi
  if ! podman image exists "$BASE"; then
    skip "no base image $BASE (and no debootstrap to make one)"
  else
    mkdir -p "$WORK/image"
    cp "$BATON" "$WORK/image/baton"
    # The runtime stage as written, from its FROM line on; the binary comes from the context.
    awk '/^FROM .* AS runtime$/ {on=1} on' Dockerfile \
      | sed -e "s#^FROM .* AS runtime#FROM $BASE AS runtime#" -e 's#^COPY --from=build /out/baton #COPY baton #' \
      > "$WORK/image/Containerfile"
    grep -q '^COPY baton /usr/local/bin/baton' "$WORK/image/Containerfile" || fail "the runtime stage's COPY changed"
    podman build -q --format docker --runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
      -t localhost/baton-check "$WORK/image" > "$WORK/podman-build.log" 2>&1 \
      || fail "podman build: $(tail -n 20 "$WORK/podman-build.log")"
    ok "runtime stage built: $(podman image inspect localhost/baton-check --format '{{.Size}}' | numfmt --to=iec) (with a debug binary)"
    PC=$(free_port)
    # runc with the limits this sandbox allows (crun cannot set rlimits here); host networking.
    podman run -d --name "baton-check-$$" --runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
      --network host -e BATON_LISTEN=127.0.0.1:$PC -e BATON_DATABASE_URL -e BATON_LOG=warn \
      localhost/baton-check > /dev/null 2> "$WORK/podman-run.log" || fail "podman run: $(cat "$WORK/podman-run.log")"
    wait_for "http://127.0.0.1:$PC/readyz"
    ok "container answers /readyz"
    user=$(podman exec "baton-check-$$" id -u)
    [ "$user" = 10001 ] || fail "the container runs as uid $user, not 10001"
    ok "runs as uid 10001 (not root)"
    # The HEALTHCHECK command as written (it probes 8080: run one on that port too).
    podman run -d --name "baton-check-$$-hc" --runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
      --network none -e BATON_DATA_DIR=/var/lib/baton localhost/baton-check serve --listen 127.0.0.1:8080 >/dev/null
    for _ in $(seq 1 50); do
      podman healthcheck run "baton-check-$$-hc" >/dev/null 2>&1 && break
      sleep 0.2
    done
    podman healthcheck run "baton-check-$$-hc" >/dev/null 2>&1 || { podman logs "baton-check-$$-hc" | tail -5; fail "HEALTHCHECK failed"; }
    podman rm -f "baton-check-$$-hc" >/dev/null
    ok "HEALTHCHECK passes on a container using its own SQLite volume"
  fi
fi

say "4. deploy/baton.service"
if ! command -v systemd-analyze >/dev/null 2>&1; then
  skip "systemd-analyze is not installed"
else
  mkdir -p "$WORK/unit"
  sed "s#/usr/local/bin/baton#$BATON#" deploy/baton.service > "$WORK/unit/baton.service"
  out=$(systemd-analyze verify "$WORK/unit/baton.service" 2>&1 || true)
  if grep -v -e 'is not a directory' -e 'Failed to connect to bus' -e 'Cannot find unit' -e '^$' <<<"$out" | grep -q .; then
    fail "systemd-analyze verify: $out"
  fi
  ok "systemd-analyze verify: no complaint"
fi

say "5. compose.yaml"
python3 - "$ROOT" <<'EOF'
import re, sys, yaml, pathlib
root = pathlib.Path(sys.argv[1])
doc = yaml.safe_load((root / "compose.yaml").read_text())
services = doc["services"]
assert set(services) == {"db", "baton1", "baton2", "proxy"}, services
for name in ("baton1", "baton2"):
    s = services[name]
    assert s["build"] == ".", s
    assert s["depends_on"]["db"]["condition"] == "service_healthy"
    config = (root / "crates/baton-server/src/config.rs").read_text()
    for var in s["environment"]:
        assert f'"{var}"' in config, f"{name}: {var} is not a setting Baton reads"
mounts = services["proxy"]["volumes"]
assert "./deploy/nginx/baton.conf:/etc/nginx/conf.d/default.conf:ro" in mounts, mounts
conf = (root / "deploy/nginx/baton.conf").read_text()
assert "server baton1:8080" in conf and "server baton2:8080" in conf
print("   ok: four services; the instances' variables are Baton settings; the proxy mounts deploy/nginx/baton.conf")
EOF

say "All deployment checks passed"
