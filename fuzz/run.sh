#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 20), one after
# another, on the stable toolchain. Fails if any target finds a crash.
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address and friends) to
# rustc; RUSTC_BOOTSTRAP=1 lets the stable compiler accept them.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
export RUSTC_BOOTSTRAP=1

targets=$(cargo fuzz list)
cargo fuzz build
for target in $targets; do
    echo "== fuzz $target for ${seconds}s"
    mkdir -p "corpus/$target"
    log=$(mktemp)
    status=0
    cargo fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|SUMMARY|==[0-9]+==ERROR)|panicked' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log" >&2
        echo "fuzz target $target failed (exit $status); reproducer in fuzz/artifacts/$target" >&2
        exit "$status"
    fi
    rm -f "$log"
done
