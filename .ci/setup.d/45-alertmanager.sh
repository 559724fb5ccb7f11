#!/usr/bin/env bash
# Prometheus Alertmanager (the Debian package) for the alert-integration tests
# (crates/cli/tests/alerts.rs), which start their own Alertmanager with a webhook receiver
# pointing at a test server. This script only installs it and says where it is.
set -euo pipefail

binary=/usr/bin/prometheus-alertmanager
if [ ! -x "$binary" ]; then
    export DEBIAN_FRONTEND=noninteractive
    # The package's own service is not wanted: the tests run their own instance.
    if ! apt-get install -y --no-install-recommends prometheus-alertmanager; then
        apt-get update
        apt-get install -y --no-install-recommends prometheus-alertmanager
    fi
fi

if [ -n "${OPSDESK_CI_ENV:-}" ]; then
    echo "export OPSDESK_TEST_ALERTMANAGER=$binary" >>"$OPSDESK_CI_ENV"
fi
