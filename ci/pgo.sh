#!/usr/bin/env bash
# Profile-guided release builds for campaigns and benchmarks: the same code, laid out and inlined
# by what a campaign actually executes: 13% to 20% less wall time per generated seed (ci/README.md).
#
# Usage: ci/pgo.sh [CARGO_ARGS...]
#   1. builds an instrumented `trial` (release profile) and trains it: a generated campaign
#      (PGO_TRAINING_SEEDS seeds, default 300, campaign seed 1) and every bundled scenario at
#      seed 1;
#   2. builds `trial` again with the merged profile, into $CARGO_TARGET_DIR/pgo (default
#      target/pgo), and checks that it gives every bundled scenario the trace digest and verdict
#      the instrumented build gave: optimisation must never change what a seed does;
#   3. with CARGO_ARGS, runs `cargo CARGO_ARGS` with the same profile and target directory, e.g.
#      `ci/pgo.sh bench -p sim --bench data_plane`.
# The optimised binary is $CARGO_TARGET_DIR/pgo/release/trial. PGO_PROFILE=FILE skips step 1 and
# the digest check, and uses FILE (a profile of older code still builds correct code, only less
# tuned).
#
# Needs the Rust toolchain; installs rustup's llvm-tools component (llvm-profdata) when missing.
# Run from anywhere; works in the repository the script lives in.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-target}
generate_dir=$target_dir/pgo-generate
use_dir=$target_dir/pgo
work_dir=$target_dir/pgo-work
training_seeds=${PGO_TRAINING_SEEDS:-300}
jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)

profdata() {
    local sysroot host tool
    sysroot=$(rustc --print sysroot)
    host=$(rustc -vV | sed -n 's/^host: //p')
    tool=$sysroot/lib/rustlib/$host/bin/llvm-profdata
    if [ ! -x "$tool" ]; then
        echo "== installing rustup's llvm-tools (llvm-profdata)" >&2
        rustup component add llvm-tools >&2
    fi
    echo "$tool"
}

# Prints "SCENARIO digest=... verdict=..." for every bundled scenario at seed 1.
digests() {
    local trial=$1 scenario line
    for scenario in scenarios/*.toml; do
        # A failing verdict exits 1 and is still a result to compare.
        line=$("$trial" run "$scenario" --seed 1 2>&1 | grep -o 'digest=[0-9a-f]* verdict=[a-z]*' || true)
        if [ -z "$line" ]; then
            echo "ci/pgo.sh: $trial run $scenario --seed 1 printed no digest" >&2
            exit 1
        fi
        echo "$scenario $line"
    done
}

mkdir -p "$work_dir"
work_dir=$(cd "$work_dir" && pwd)
tool=$(profdata)
profile=${PGO_PROFILE:-}
rm -f "$work_dir/digests-instrumented.txt"
if [ -z "$profile" ]; then
    echo "== instrumented build ($generate_dir)"
    rm -rf "$work_dir/raw"
    RUSTFLAGS="-Cprofile-generate=$work_dir/raw" \
        cargo build --release --locked --quiet --target-dir "$generate_dir" --bin trial
    echo "== training: $training_seeds generated seeds, then every bundled scenario"
    rm -rf "$work_dir/training-campaign"
    # Exit 1 (a seed failed: an open finding) still trains; exit 2 (bad input) does not.
    status=0
    "$generate_dir/release/trial" fuzz --generate --seeds "$training_seeds" --jobs "$jobs" \
        --campaign-seed 1 --out "$work_dir/training-campaign" >/dev/null || status=$?
    if [ "$status" -gt 1 ]; then
        echo "ci/pgo.sh: the training campaign exited $status" >&2
        exit 1
    fi
    digests "$generate_dir/release/trial" >"$work_dir/digests-instrumented.txt"
    profile=$work_dir/trial.profdata
    "$tool" merge -o "$profile" "$work_dir/raw"
fi
profile=$(cd "$(dirname "$profile")" && pwd)/$(basename "$profile")

echo "== optimised build ($use_dir)"
export RUSTFLAGS="-Cprofile-use=$profile"
cargo build --release --locked --quiet --target-dir "$use_dir" --bin trial
if [ -f "$work_dir/digests-instrumented.txt" ]; then
    digests "$use_dir/release/trial" >"$work_dir/digests-optimised.txt"
    if ! diff "$work_dir/digests-instrumented.txt" "$work_dir/digests-optimised.txt"; then
        echo "ci/pgo.sh: the optimised build changed a trace digest or verdict (above)" >&2
        exit 1
    fi
    echo "== same digests and verdicts as the instrumented build on $(wc -l <"$work_dir/digests-optimised.txt") scenarios"
else
    echo "== PGO_PROFILE given: no instrumented build to compare digests with"
fi
echo "== $use_dir/release/trial"
if [ $# -gt 0 ]; then
    CARGO_TARGET_DIR=$use_dir cargo "$@"
fi
