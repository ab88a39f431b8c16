#!/usr/bin/env bash
# Instructions per run of the data-plane benchmark, counted by callgrind.
#
# Why: wall time on a shared 2-core VM moves by 10-25% from run to run, so it cannot show a 2%
# change. An instruction count is exact: the same binary and seed give the same count whatever
# else the machine does. It is the figure to compare two commits by, and a budget that means
# the same on every machine (wall time still depends on the CPU).
#
# Usage: ci/bench-instructions.sh [MODE]   (MODE: none, leadership or all; default none)
# Needs valgrind (Debian: apt-get install valgrind). Takes about a minute after the build.
#
# The benchmark always makes a warm-up run first, so the script counts the program twice, with
# one timed run (seed 0) and with two (seeds 0 and 1); the difference is exactly seed 1's run.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-none}"
case "$mode" in
none | leadership | all) ;;
*)
    echo "bench-instructions.sh: unknown mode '$mode' (none, leadership or all)" >&2
    exit 2
    ;;
esac
if ! command -v valgrind >/dev/null; then
    echo "bench-instructions.sh: valgrind is needed (Debian: apt-get install valgrind)" >&2
    exit 2
fi

binary=$(cargo bench -p sim --bench data_plane --no-run 2>&1 |
    sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -n 1)
if [ -z "$binary" ]; then
    echo "bench-instructions.sh: could not find the data_plane benchmark binary" >&2
    exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Prints "<instructions> <events per run>" for a count of timed runs.
count() {
    local runs="$1"
    DATA_PLANE_RUNS="$runs" valgrind --tool=callgrind --callgrind-out-file="$work/out.$runs" \
        "$binary" "$mode" >"$work/stdout.$runs" 2>"$work/stderr.$runs"
    local instructions events
    instructions=$(sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$work/stderr.$runs")
    events=$(sed -n 's/.*: \([0-9]*\) events and .*/\1/p' "$work/stdout.$runs")
    echo "$instructions $events"
}

read -r one_instructions one_events < <(count 1)
read -r two_instructions two_events < <(count 2)
run_instructions=$((two_instructions - one_instructions))
# The benchmark prints the mean events per run: seed 1's are twice the two-run mean less seed 0's.
run_events=$((2 * two_events - one_events))
echo "data_plane -- $mode, seed 1: $run_instructions instructions per run," \
    "$run_events events, $((run_instructions / run_events)) instructions per event"
