#!/usr/bin/env bash
# A real OpenID Connect provider for the sign-in tests (crates/cli/tests/oidc.rs): the
# certified `oidc-provider` npm package, pinned, run by .ci/oidc-provider.mjs on plain http
# on 127.0.0.1:9471 with test accounts and open dynamic client registration. opsdesk takes
# plain http only from an issuer on loopback (docs/oidc.md). Idempotent: installs once into
# /var/tmp/opsdesk-oidc (with its npm cache there), and starts the provider only when it is
# not answering or its script changed.
set -euo pipefail

version=9.13.3
root=/var/tmp/opsdesk-oidc
port=9471
issuer="http://127.0.0.1:$port"
here="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$root"

if [ "$(node -p "require('$root/node_modules/oidc-provider/package.json').version" 2>/dev/null)" != "$version" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends nodejs npm >/dev/null \
            || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends nodejs npm >/dev/null; }
    fi
    (cd "$root" && npm install --no-audit --no-fund --silent --cache "$root/npm-cache" \
        "oidc-provider@$version" >/dev/null)
fi

# The script runs from beside its node_modules (ES modules resolve packages from there).
if ! cmp -s "$here/oidc-provider.mjs" "$root/provider.mjs"; then
    cp "$here/oidc-provider.mjs" "$root/provider.mjs"
    # A running provider runs the old script.
    if [ -e "$root/provider.pid" ]; then
        kill "$(cat "$root/provider.pid")" 2>/dev/null || true
        rm -f "$root/provider.pid"
        for _ in $(seq 1 50); do
            curl -fsS -o /dev/null "$issuer/.well-known/openid-configuration" 2>/dev/null || break
            sleep 0.1
        done
    fi
fi

up() { curl -fsS -o /dev/null "$issuer/.well-known/openid-configuration"; }
if ! up 2>/dev/null; then
    # Detached, so it outlives this script; its log explains a failure to start.
    (cd "$root" && setsid node provider.mjs "$port" >"$root/provider.log" 2>&1 </dev/null &
        echo $! >"$root/provider.pid")
    for _ in $(seq 1 100); do up 2>/dev/null && break; sleep 0.1; done
    if ! up; then
        echo "the OpenID Connect provider did not start; see $root/provider.log" >&2
        tail -n 20 "$root/provider.log" >&2
        exit 1
    fi
fi

if [ -n "${OPSDESK_CI_ENV:-}" ]; then
    echo "export OPSDESK_TEST_OIDC_ISSUER=$issuer" >>"$OPSDESK_CI_ENV"
    # Tests that need a provider of their own (to restart it) run this script.
    echo "export OPSDESK_TEST_OIDC_PROVIDER_SCRIPT=$root/provider.mjs" >>"$OPSDESK_CI_ENV"
fi
