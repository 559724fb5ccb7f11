#!/usr/bin/env bash
# axe-core, the accessibility rules engine the browser tests inject into every page
# (crates/cli/tests/web_accessibility.rs). Pinned, fetched once from the npm registry into a
# cache outside the clone.
set -euo pipefail

version=4.10.2
dir=/var/tmp/opsdesk-axe/$version
if [ ! -s "$dir/package/axe.min.js" ]; then
    mkdir -p "$dir"
    tarball="$dir/axe-core-$version.tgz"
    if command -v npm >/dev/null 2>&1; then
        (cd "$dir" && npm pack --silent "axe-core@$version" >/dev/null)
    else
        curl -fsSL -o "$tarball" "https://registry.npmjs.org/axe-core/-/axe-core-$version.tgz"
    fi
    tar -xzf "$tarball" -C "$dir"
fi

if [ -n "${OPSDESK_CI_ENV:-}" ]; then
    echo "export OPSDESK_TEST_AXE=$dir/package/axe.min.js" >>"$OPSDESK_CI_ENV"
fi
