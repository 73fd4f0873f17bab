#!/usr/bin/env bash
# Fuzzes the service against its own OpenAPI document with schemathesis: the release server on
# a database of its own (chat_fuzz, on the DATABASE_URL server, which must be on loopback),
# once as an admin, a store and an API key, every check, the stateful phase on, a fixed seed.
# Fails on any finding not in tests/fuzz/baseline.json.
#
# Usage: scripts/dev-db.sh exec scripts/fuzz.sh   (what `make fuzz` runs)
#
# Environment:
#   FUZZ_EXAMPLES  examples per operation and phase (default 100)
#   FUZZ_ACCEPT=1  add this run's findings to the baseline, to be given their reasons there
#   FUZZ_SEED      the seed (default 20261130)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SCHEMATHESIS_VERSION="4.32.5"
SPEC_VALIDATOR_VERSION="0.9.0"
VENV="$ROOT/target/fuzz/venv"
OUT="$ROOT/target/fuzz"
BASELINE="$ROOT/tests/fuzz/baseline.json"
EXAMPLES="${FUZZ_EXAMPLES:-100}"
SEED="${FUZZ_SEED:-20261130}"
SERVER="$ROOT/target/release/chat-server"

log() { printf 'fuzz: %s\n' "$*" >&2; }
die() { printf 'fuzz: error: %s\n' "$*" >&2; exit 1; }

[[ -n "${DATABASE_URL:-}" ]] || die "DATABASE_URL is not set (run through scripts/dev-db.sh exec)"
case "$DATABASE_URL" in
    *@127.0.0.1:* | *@localhost:* | *@\[::1\]:* | *@127.0.0.1/* | *@localhost/*) ;;
    *) die "DATABASE_URL must point at a server on loopback" ;;
esac

# The project-local virtualenv, with the pinned schemathesis and OpenAPI validator.
# Whole outputs first: `grep -q` would stop reading early, and pipefail would count the
# writer's broken pipe as a failure (and reinstall every time).
if [[ ! -x "$VENV/bin/st" ]] || [[ "$("$VENV/bin/st" --version 2>/dev/null)" != *"$SCHEMATHESIS_VERSION"* ]] \
    || [[ "$("$VENV/bin/pip" show openapi-spec-validator 2>/dev/null)" != *$'\nVersion: '"$SPEC_VALIDATOR_VERSION"$'\n'* ]]; then
    log "installing schemathesis $SCHEMATHESIS_VERSION and openapi-spec-validator $SPEC_VALIDATOR_VERSION into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$SPEC_VALIDATOR_VERSION"
fi

log "building the release server"
cargo build --release --quiet -p chat-server

# A database of its own, dropped and made again.
base="${DATABASE_URL%/*}"
FUZZ_URL="$base/chat_fuzz"
PGOPTIONS="-c client_min_messages=warning" psql -q -v ON_ERROR_STOP=1 "$base/postgres" \
    -c "DROP DATABASE IF EXISTS chat_fuzz WITH (FORCE)" -c "CREATE DATABASE chat_fuzz" >/dev/null
export DATABASE_URL="$FUZZ_URL"
"$SERVER" migrate >/dev/null

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
ADMIN_TOKEN="$("$SERVER" create-admin --name "Fuzz Admin" --email fuzz-admin@example.com | json_field token)"
"$SERVER" create-admin --name "Other Admin" --email other-admin@example.com >/dev/null
STORE_TOKEN="$("$SERVER" create-store --id 12 --name "Tech Store" --email store@example.com | json_field token)"
API_KEY="$("$SERVER" create-api-key --name fuzz | json_field key)"

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$OUT"
log "starting the server on 127.0.0.1:$PORT (log: target/fuzz/server.log)"
BIND_ADDR="127.0.0.1:$PORT" RUST_LOG=warn \
    APP__RATE_LIMIT__REQUESTS_PER_SECOND=0 APP__RATE_LIMIT__SENDS_PER_SECOND=0 \
    "$SERVER" serve >"$OUT/server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/readyz', timeout=1)" 2>/dev/null; then
        break
    fi
    kill -0 "$server_pid" 2>/dev/null || die "the server exited (see target/fuzz/server.log)"
    sleep 0.1
done
URL="http://127.0.0.1:$PORT"

# The document the server serves must be valid OpenAPI (3.1, as it says).
python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('$URL/openapi.json', timeout=5).read().decode())" \
    >"$OUT/openapi.json"
log "validating the OpenAPI document: $("$VENV/bin/openapi-spec-validator" "$OUT/openapi.json" 2>&1 | tail -n 1)"
"$VENV/bin/openapi-spec-validator" "$OUT/openapi.json" >/dev/null 2>&1 \
    || die "the served document is not valid OpenAPI (openapi-spec-validator target/fuzz/openapi.json)"

# A conversation to read, so that operations on ids find something.
python3 - "$URL" "$STORE_TOKEN" <<'PY'
import json, sys, urllib.request
url, token = sys.argv[1], sys.argv[2]
req = urllib.request.Request(
    url + "/v1/chat/store/message/send/",
    data=json.dumps({"content": "hello"}).encode(),
    headers={"Authorization": "Token " + token, "Content-Type": "application/json"},
)
urllib.request.urlopen(req, timeout=5).read()
PY

baseline=()
[[ -f "$BASELINE" || "${FUZZ_ACCEPT:-}" == 1 ]] && baseline=(--baseline "$BASELINE")
# FUZZ_ACCEPT=1 adds this run's findings to the baseline (then give each its reason there).
[[ "${FUZZ_ACCEPT:-}" == 1 ]] && baseline+=(--baseline-update)

status=0
run() {
    local name="$1" token="$2"
    shift 2
    log "schemathesis as $name"
    local auth=()
    [[ -n "$token" ]] && auth=(-H "Authorization: Token $token")
    # A bound on a run that hangs, well above what one takes (two to three minutes as an
    # admin on a loaded machine); a run cut by it reports no finding, only the cut.
    local code=0
    timeout 600 "$VENV/bin/st" --no-color run "$URL/openapi.json" \
        --checks all \
        --phases examples,coverage,fuzzing,stateful \
        --seed "$SEED" \
        --max-examples "$EXAMPLES" \
        --request-timeout 5 \
        --report junit --report-dir "$OUT/$name" \
        "${baseline[@]}" "${auth[@]}" "$@" >"$OUT/$name.log" 2>&1 || code=$?
    if ((code == 124)); then
        log "schemathesis as $name did not finish within 600 s (target/fuzz/$name.log)"
        status=1
    elif ((code != 0)); then
        log "findings as $name (target/fuzz/$name.log):"
        tail -n 60 "$OUT/$name.log" >&2
        status=1
    fi
}

run admin "$ADMIN_TOKEN" --include-tag admin
run store "$STORE_TOKEN" --include-tag store
run integration "$API_KEY" --include-tag public
run anonymous "" --include-tag operations

if [[ "$status" -eq 0 ]]; then
    log "no findings"
fi
exit "$status"
