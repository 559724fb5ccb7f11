#!/usr/bin/env bash
# The API contract: Schemathesis (installed by .ci/setup.d/40-schemathesis.sh) runs every
# operation of /api/v1/openapi.json against a real `opsdesk serve` with an admin token, in all
# its phases (examples, coverage, fuzzing, stateful) and with all its checks, first on SQLite
# and then on a fresh PostgreSQL database. Any failure it reports fails the run: a server
# error, a status code or content type the document does not declare, a body that does not
# match its schema.
#
# Checks are configured, and the few departures from Schemathesis' defaults explained, in
# .ci/schemathesis.toml; .ci/openapi-contract-hooks.py keeps the run's own token alive.
#
# OPSDESK_CONTRACT_EXAMPLES (default 50) bounds the generated cases per operation, so each
# backend's run stays around a minute. OPSDESK_CONTRACT_SEED (default 1) fixes the generated
# data, so a red run is reproducible and CI does not turn red by chance; other seeds explore
# other inputs. OPSDESK_CONTRACT_ONLY_SQLITE=1 skips the PostgreSQL run.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/opsdesk-target}"
postgres_admin="${OPSDESK_CONTRACT_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
examples="${OPSDESK_CONTRACT_EXAMPLES:-50}"

cargo build --quiet -p opsdesk --bin opsdesk
opsdesk="$CARGO_TARGET_DIR/debug/opsdesk"

work="$(mktemp -d)"
server_pid=
database=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$database" ]; then
        psql -q "$postgres_admin/postgres" -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# contract NAME [--database-url URL]: one server, one admin, one Schemathesis run.
contract() {
    local name="$1"
    shift
    local data="$work/$name" port base token
    mkdir -p "$data"
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    OPSDESK_LOG=warn "$opsdesk" serve --data-dir "$data" "$@" --listen "127.0.0.1:$port" \
        >"$work/$name.log" 2>&1 &
    server_pid=$!
    local up=
    for _ in $(seq 1 150); do
        if curl -fsS "$base/healthz" >/dev/null 2>&1; then
            up=1
            break
        fi
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.2
    done
    if [ -z "$up" ]; then
        echo "the $name server did not start:" >&2
        cat "$work/$name.log" >&2
        return 1
    fi
    echo 'contract-admin-passphrase' | "$opsdesk" user add --data-dir "$data" "$@" \
        --email admin@contract.test --name 'Contract Admin' --role admin --password-stdin >/dev/null
    token="$("$opsdesk" token create --data-dir "$data" "$@" --email admin@contract.test | tail -n 1)"
    # The hooks keep this token from being revoked mid-run (.ci/openapi-contract-hooks.py).
    OPSDESK_CONTRACT_TOKEN_ID="$(curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/tokens" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')"
    export OPSDESK_CONTRACT_TOKEN_ID
    OPSDESK_CONTRACT_USER_ID="$(curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/me" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
    export OPSDESK_CONTRACT_USER_ID

    echo "== OpenAPI contract ($name)"
    local status=0 attempt
    for attempt in 1 2; do
        status=0
        st --config-file .ci/schemathesis.toml run "$base/api/v1/openapi.json" \
            --header "Authorization: Bearer $token" \
            --phases examples,coverage,fuzzing,stateful \
            --checks all \
            --max-examples "$examples" \
            --seed "${OPSDESK_CONTRACT_SEED:-1}" \
            --generation-database none \
            --request-timeout 30 \
            --workers 2 \
            --no-color \
            2>&1 | tee "$work/$name.contract.txt" || status=$?
        # Hypothesis' two worker threads can trip over each other while it describes a
        # strategy ("dictionary changed size during iteration"): a fault of the tool, not of
        # the API, so that one error earns the run one more try; anything else fails it.
        if [ "$status" -ne 0 ] && [ "$attempt" -eq 1 ] &&
            grep -q 'dictionary changed size during iteration' "$work/$name.contract.txt"; then
            echo "-- the contract tool failed on its own; running it once more" >&2
            continue
        fi
        break
    done
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    if [ "$status" -ne 0 ]; then
        echo "-- server log ($name), last lines:" >&2
        tail -n 40 "$work/$name.log" >&2
        return "$status"
    fi
}

contract sqlite
if [ -n "${OPSDESK_CONTRACT_ONLY_SQLITE:-}" ]; then
    exit 0
fi

database="opsdesk_contract_$$"
psql -q "$postgres_admin/postgres" -c "CREATE DATABASE \"$database\""
contract postgres --database-url "$postgres_admin/$database"
