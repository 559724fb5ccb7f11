#!/usr/bin/env bash
# Runs the first command of the README's "Run it" section exactly as a new user would copy
# it, on this clone, and waits for the server it starts to answer /healthz. A README whose
# first command does not start opsdesk fails CI.
set -euo pipefail
cd "$(dirname "$0")/.."

command="$(awk '/^## Run it/ { section = 1 } section && /^```sh/ { getline; print; exit }' README.md)"
if [ -z "$command" ]; then
    echo "README.md has no sh block under '## Run it'" >&2
    exit 1
fi
# The README's server listens on 127.0.0.1:8080 by default; another program there would
# answer /healthz in its place.
if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
    echo "port 8080 is taken; the README's run command cannot be checked" >&2
    exit 1
fi

echo "== the README's run command: $command"
log="$(mktemp)"
rm -rf opsdesk-data
setsid bash -c "$command" >"$log" 2>&1 &
runner=$!
stop() {
    kill -- "-$runner" 2>/dev/null || true
    wait "$runner" 2>/dev/null || true
    rm -rf opsdesk-data
}
trap stop EXIT

# The first run may compile the release build before it starts.
for _ in $(seq 1 1800); do
    if curl -fsS http://127.0.0.1:8080/healthz >/dev/null 2>&1; then
        echo "the README's run command serves /healthz"
        exit 0
    fi
    if ! kill -0 "$runner" 2>/dev/null; then
        echo "the README's run command exited before serving /healthz:" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
    sleep 1
done
echo "the README's run command did not serve /healthz within 30 minutes:" >&2
tail -n 30 "$log" >&2
exit 1
