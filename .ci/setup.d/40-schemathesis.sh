#!/usr/bin/env bash
# Schemathesis, the property-based OpenAPI tester that .ci/openapi-contract.sh runs against a
# real server. Pinned: its checks and data generation change between releases, and a new
# release must not turn CI red on its own. Idempotent: installs only when missing or another
# version.
set -euo pipefail

version=4.32.5
if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" != "$version" ]; then
    pip install -q "schemathesis==$version"
fi
