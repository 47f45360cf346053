#!/usr/bin/env bash
# `make cluster-demo`: three zoho-vault replicas on one throwaway
# PostgreSQL, the fake Zoho, a token issued through each replica, one
# replica killed with kill -9, the other two still serving.
#
# Everything runs on loopback in one temporary directory, which is removed
# on exit (also on Ctrl-C or a failure). Needs PostgreSQL's server binaries
# (initdb, pg_ctl: on the PATH or under /usr/lib/postgresql/*/bin), curl
# and jq. The binaries are taken from $BIN_DIR (default target/debug, which
# `make cluster-demo` builds with the fake Zoho's feature).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN_DIR=${BIN_DIR:-$ROOT/target/debug}
VAULT=$BIN_DIR/zoho-vault
FAKE=$BIN_DIR/fake-zoho
PORTS=(8701 8702 8703)
PASSPHRASE='cluster demo passphrase, not for production'

say() { printf '\n== %s\n' "$*"; }
die() { printf 'cluster-demo: %s\n' "$*" >&2; exit 1; }

for tool in curl jq; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required (Debian package: $tool)"
done
[ -x "$VAULT" ] && [ -x "$FAKE" ] || die "build first: cargo build --features fake-zoho --bins (or make cluster-demo)"

# PostgreSQL's server binaries: the PATH first, then the newest Debian
# installation.
PG_BIN=
if command -v initdb >/dev/null 2>&1; then
    PG_BIN=$(dirname "$(readlink -f "$(command -v initdb)")")
fi
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] \
    || die "no PostgreSQL server binaries (initdb, pg_ctl) on the PATH or under /usr/lib/postgresql/*/bin; install Debian's postgresql package"

for port in "${PORTS[@]}"; do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
        die "port $port is in use: stop what listens there first"
    fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/zoho-vault-cluster-demo.XXXXXX")
PIDS=()
PG_STARTED=

# PostgreSQL refuses to run as root: as root, run its tools as postgres.
pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$PG_BIN/$1" "${@:2}"
    else
        "$PG_BIN/$1" "${@:2}"
    fi
}

cleanup() {
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$PG_STARTED" ]; then
        pg pg_ctl -D "$WORK/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    echo "== cleaned up: every process this demo started is stopped and $WORK is removed"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits (bounded) until `$@` succeeds: readiness only, never an outcome.
wait_for() {
    local what=$1; shift
    for _ in $(seq 1 300); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    die "$what did not come up"
}

say "PostgreSQL ($PG_BIN) in $WORK/pg, on loopback"
mkdir -p "$WORK/pg"
if [ "$(id -u)" = 0 ]; then
    # The postgres user needs to reach its directory (not to list ours).
    chmod 711 "$WORK"
    chown postgres: "$WORK/pg"
fi
pg initdb -D "$WORK/pg/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 8799)
pg pg_ctl -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$WORK/pg" start >/dev/null
PG_STARTED=1
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
echo "database: $DB_URL"

say "fake Zoho"
"$FAKE" --listen 127.0.0.1:0 >"$WORK/fake.out" 2>"$WORK/fake.log" &
PIDS+=($!)
wait_for "the fake Zoho" grep -q 'listening on' "$WORK/fake.out"
ZOHO_URL=$(sed -n 's/^fake-zoho listening on //p' "$WORK/fake.out" | head -n 1)
echo "fake Zoho: $ZOHO_URL"

export ZOHO_VAULT_STORE__BACKEND=postgres
export ZOHO_VAULT_STORE__POSTGRES__URL=$DB_URL
export ZOHO_VAULT_ZOHO__ALLOW_CUSTOM_ACCOUNTS_URL=true
export ZOHO_VAULT_PASSPHRASE=$PASSPHRASE
unset ZOHO_VAULT_TOKEN ZOHO_VAULT_ADDR ZOHO_VAULT_DATA_DIR

say "zoho-vault init (once, against the empty database)"
INIT=$(ZOHO_VAULT_DATA_DIR="$WORK/init" "$VAULT" init 2>&1)
ADMIN=$(printf '%s\n' "$INIT" | sed -n 's/.*admin token: \(zva_[A-Za-z0-9_-]*\).*/\1/p' | head -n 1)
[ -n "$ADMIN" ] || die "init printed no admin token: $INIT"
echo "admin token: ${ADMIN:0:12}... (printed once by init)"

say "three replicas on ${PORTS[*]}"
for i in 0 1 2; do
    port=${PORTS[$i]}
    ZOHO_VAULT_LISTEN=127.0.0.1:$port ZOHO_VAULT_CLUSTER__NODE_NAME=replica-$((i + 1)) \
        ZOHO_VAULT_DATA_DIR="$WORK/replica-$((i + 1))" \
        "$VAULT" serve >"$WORK/replica-$((i + 1)).out" 2>"$WORK/replica-$((i + 1)).log" &
    PIDS+=($!)
done
for port in "${PORTS[@]}"; do
    wait_for "the replica on $port" sh -c "curl -sf http://127.0.0.1:$port/v1/sys/health | jq -e '.sealed == false'"
    curl -s "http://127.0.0.1:$port/v1/sys/health" | jq -c '{node, backend, sealed}'
done

say "a connection (self_client.json from the fake Zoho) and a service token, through replica-1"
CLIENT_ID=$(curl -sf -X POST "$ZOHO_URL/_fake/clients" -H 'content-type: application/json' -d '{}' | jq -r .client_id)
curl -sf -X POST "$ZOHO_URL/_fake/codes" -H 'content-type: application/json' \
    -d "{\"client_id\":\"$CLIENT_ID\",\"scope\":[\"ZohoInvoice.fullaccess.all\"]}" \
    | jq --arg url "$ZOHO_URL" '. + {accounts_url: $url}' >"$WORK/self_client.json"
curl -sf -X PUT "http://127.0.0.1:${PORTS[0]}/v1/connections/demo" \
    -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' \
    --data @"$WORK/self_client.json" | jq -r '"connection \(.name) created"'
SERVICE=$(curl -sf -X POST "http://127.0.0.1:${PORTS[0]}/v1/service-tokens" \
    -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' \
    -d '{"name":"billing","connections":["demo"]}' | jq -r .token)
echo "service token: ${SERVICE:0:12}..."

# One token issue through the replica on port $1; prints what it got.
issue() {
    local answer
    answer=$(curl -s -w '\n%{http_code}' -X POST "http://127.0.0.1:$1/v1/connections/demo/token" \
        -H "authorization: Bearer $SERVICE" -H 'content-type: application/json' -d '{}') || {
        echo "port $1: no answer (connection refused)"; return 1; }
    local status=${answer##*$'\n'} body=${answer%$'\n'*}
    if [ "$status" = 200 ]; then
        echo "port $1: 200, access token $(printf '%s' "$body" | jq -r '.access_token[0:12]')..., expires in $(printf '%s' "$body" | jq -r .expires_in) s"
    else
        echo "port $1: $status $body"; return 1
    fi
}

say "a token issue through each replica (one upstream call, one token cached for all three)"
for port in "${PORTS[@]}"; do issue "$port"; done
echo "upstream token calls so far: $(curl -sf "$ZOHO_URL/_fake/counters" | jq -c .)"

say "kill -9 replica-2 (port ${PORTS[1]})"
kill -9 "${PIDS[2]}"
wait "${PIDS[2]}" 2>/dev/null || true
issue "${PORTS[1]}" || true

say "the other replicas still serve"
issue "${PORTS[0]}"
issue "${PORTS[2]}"

say "the audit trail, one chain across replicas, verified through replica-3"
curl -sf "http://127.0.0.1:${PORTS[2]}/v1/audit/verify" -H "authorization: Bearer $ADMIN" | jq -c '{ok, count, head_seq}'
