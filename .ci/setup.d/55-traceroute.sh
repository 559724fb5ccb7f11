#!/usr/bin/env bash
# traceroute (the Debian package) for the traceroute diagnostic (crates/cli/tests/operations.rs),
# which runs the system's traceroute. Only installed; nothing to start.
set -euo pipefail

if ! command -v traceroute >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends traceroute; then
        apt-get update
        apt-get install -y --no-install-recommends traceroute
    fi
fi
