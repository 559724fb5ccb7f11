#!/usr/bin/env bash
# A bounded fuzzing run of the mail parser, the entry point every inbound message goes
# through: libFuzzer (via cargo-fuzz) feeds it mutations of the mail corpus for
# FUZZ_SECONDS (default 60). A panic, crash, hang or runaway memory fails the run and leaves
# the input in crates/mail/fuzz/artifacts/.
# cargo-fuzz passes compiler flags that only nightly accepts; the machine has one stable
# toolchain, and RUSTC_BOOTSTRAP=1 lets it accept them.
set -euo pipefail
cd "$(dirname "$0")/../crates/mail"

command -v cargo-fuzz >/dev/null || cargo install --locked --quiet cargo-fuzz
export RUSTC_BOOTSTRAP=1
# Its own build cache: the instrumented build must not replace the workspace's.
export CARGO_TARGET_DIR="${OPSDESK_FUZZ_TARGET_DIR:-/var/tmp/opsdesk-fuzz-target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# New inputs go to the first folder (temporary); the checked-in corpus only seeds the run.
cargo fuzz run parse --sanitizer none "$work" tests/corpus -- \
    -max_total_time="${FUZZ_SECONDS:-60}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
