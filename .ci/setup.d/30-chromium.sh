#!/usr/bin/env bash
# Headless Chromium and chromedriver for the browser end-to-end tests (crates/cli/tests/web_ui.rs).
# The tests start chromedriver themselves; this script only installs it and says where it is.
set -euo pipefail

if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends chromium chromium-driver; then
        apt-get update
        apt-get install -y --no-install-recommends chromium chromium-driver
    fi
fi

if [ -n "${OPSDESK_CI_ENV:-}" ]; then
    {
        echo "export OPSDESK_TEST_CHROMEDRIVER=$(command -v chromedriver)"
        echo "export OPSDESK_TEST_CHROMIUM=$(command -v chromium)"
    } >>"$OPSDESK_CI_ENV"
fi
