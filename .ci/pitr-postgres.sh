#!/usr/bin/env bash
# Point-in-time recovery of a PostgreSQL desk, as docs/backup.md tells an admin to do it: a
# cluster that archives its WAL every second, a base backup, tickets written before and
# after a chosen moment, and a recovery to that moment. Every ticket acknowledged before it
# must come back, and none written after it.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${CARGO_TARGET_DIR:-target}/debug/opsdesk"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
work=/var/tmp/opsdesk-pitr
primary_port=5442
recovered_port=5443

as_postgres() { runuser -u postgres -- "$@"; }
stop_all() {
    for cluster in primary recovered; do
        [ -f "$work/$cluster/postmaster.pid" ] && as_postgres "$pg_bin/pg_ctl" -D "$work/$cluster" -m immediate stop >/dev/null 2>&1 || true
    done
    [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
}
trap stop_all EXIT
stop_all
rm -rf "$work"
mkdir -p "$work/archive"
chown -R postgres: "$work"

# The primary: WAL archived as each segment fills, and at least every second.
as_postgres "$pg_bin/initdb" -D "$work/primary" -A trust -U postgres >/dev/null
cat >>"$work/primary/postgresql.conf" <<EOF
port = $primary_port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
wal_level = replica
archive_mode = on
archive_command = 'test ! -f $work/archive/%f && cp %p $work/archive/%f'
archive_timeout = 1
EOF
as_postgres "$pg_bin/pg_ctl" -D "$work/primary" -l "$work/primary.log" -w start >/dev/null
primary="postgres://postgres@127.0.0.1:$primary_port/postgres"

echo 'a long passphrase' | "$bin" user add --email admin@example.com --name Admin --role admin \
    --password-stdin --database-url "$primary" >/dev/null
token="$("$bin" token create --email admin@example.com --database-url "$primary")"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
OPSDESK_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --database-url "$primary" >/dev/null &
server_pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

create() {
    curl -fs -H "Authorization: Bearer $token" -H 'content-type: application/json' \
        -d "{\"type\":\"incident\",\"title\":\"$1\",\"impact\":\"low\",\"urgency\":\"low\"}" \
        "http://127.0.0.1:$port/api/v1/tickets" >/dev/null
}

create "Before the base backup"
as_postgres "$pg_bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$work/base" -X stream
for n in $(seq 1 20); do create "Kept $n"; done
# The moment to go back to, on the database's own clock.
target="$(psql "$primary" -Atc "SELECT now()")"
sleep 1.5
for n in $(seq 1 20); do create "Lost $n"; done
psql "$primary" -qAtc "SELECT pg_switch_wal()" >/dev/null
sleep 2
kill "$server_pid"; server_pid=

# The recovery: the base backup, the archived WAL replayed up to the target, then promoted.
cp -a "$work/base" "$work/recovered"
cat >>"$work/recovered/postgresql.conf" <<EOF
port = $recovered_port
archive_mode = off
restore_command = 'cp $work/archive/%f %p'
recovery_target_time = '$target'
recovery_target_action = 'promote'
EOF
touch "$work/recovered/recovery.signal"
chown -R postgres: "$work/recovered"
as_postgres "$pg_bin/pg_ctl" -D "$work/recovered" -l "$work/recovered.log" -w start >/dev/null
recovered="postgres://postgres@127.0.0.1:$recovered_port/postgres"
for _ in $(seq 1 100); do
    [ "$(psql "$recovered" -Atc 'SELECT pg_is_in_recovery()')" = f ] && break
    sleep 0.2
done

kept="$(psql "$recovered" -Atc "SELECT count(*) FROM tickets WHERE title LIKE 'Kept %' OR title = 'Before the base backup'")"
lost="$(psql "$recovered" -Atc "SELECT count(*) FROM tickets WHERE title LIKE 'Lost %'")"
if [ "$kept" != 21 ] || [ "$lost" != 0 ]; then
    echo "point-in-time recovery to $target brought back $kept of 21 earlier tickets and $lost later ones" >&2
    exit 1
fi
"$bin" audit verify --database-url "$recovered"
echo "point-in-time recovery to $target: 21 earlier tickets back, none of the 20 later ones"
