#!/usr/bin/env bash
# Per bug switch: how soon a campaign of generated seeds finds it, and how small the failure
# shrinks. For each switch, runs `trial fuzz --generate --bug SWITCH` (campaign seed 0), takes the
# failure with the lowest job number (the first seed in the campaign's order), sums the wall time
# of the seeds up to and including it, and shrinks it. Prints one Markdown table row per switch.
#
# Usage: ci/switch-campaigns.sh [OUT_DIR] [SEEDS] [SWITCH...]
#   OUT_DIR  where the campaigns go (default /tmp/switch-campaigns; must not hold old campaigns)
#   SEEDS    seeds per campaign (default 2000; the acceptance bound)
#   SWITCH   the switches to measure (default: every switch `trial fuzz --bug` knows)
# TRIAL=PATH runs that binary instead of building one (e.g. ci/pgo.sh's target/pgo/release/trial).
#
# Needs only a Rust toolchain and POSIX tools. Run from the repository root.
set -euo pipefail

out_dir=${1:-/tmp/switch-campaigns}
seeds=${2:-2000}
shift $(( $# > 2 ? 2 : $# ))
switches=("$@")
if [ ${#switches[@]} -eq 0 ]; then
    switches=(
        truncate-to-high-watermark skip-truncation-when-leader-unchanged
        ignore-stale-follower-epoch elect-outside-isr readmit-stale-broker
        high-watermark-at-leader-end grant-two-votes-per-term
        accept-stale-generation-commits assign-before-revoke drop-group-state-on-failover
        lose-producer-state-on-leader-change last-stable-offset-at-high-watermark
        forget-transactions-on-coordinator-failover keep-producer-epoch-on-transaction-timeout
        end-transactions-without-epoch-bump accept-stale-producer-epoch
        transactional-offsets-before-marker
    )
fi

if [ -n "${TRIAL:-}" ]; then
    trial=$TRIAL
else
    cargo build --release --quiet
    trial=${CARGO_TARGET_DIR:-target}/release/trial
fi
mkdir -p "$out_dir"

# The value of a numeric JSON field in one line of seeds.jsonl.
field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }

echo "| Switch | Seeds to first failure | Wall time to it | Failed of $seeds | First violation | Shrunk (faults, records offered) |"
echo "|---|---|---|---|---|---|"
for switch in "${switches[@]}"; do
    campaign="$out_dir/$switch"
    "$trial" fuzz --generate --seeds "$seeds" --bug "$switch" --out "$campaign" >/dev/null 2>&1 || true
    failed=$(grep -c '"verdict":"fail"' "$campaign/seeds.jsonl" || true)
    first=$( (grep '"verdict":"fail"' "$campaign/seeds.jsonl" || true) | field job | sort -n | head -1)
    if [ -z "$first" ]; then
        echo "| $switch | none in $seeds | | 0 | | |"
        continue
    fi
    wall_ns=$(awk -v first="$first" '
        { match($0, /"job":[0-9]+/); job = substr($0, RSTART + 6, RLENGTH - 6) }
        job + 0 <= first + 0 { match($0, /"wall_ns":[0-9]+/); total += substr($0, RSTART + 10, RLENGTH - 10) }
        END { print total }' "$campaign/seeds.jsonl")
    line=$(grep "\"job\":$first," "$campaign/seeds.jsonl")
    violation=$(echo "$line" | sed -n 's/.*"violations":\["\([^"]*\)".*/\1/p')
    seed=$(echo "$line" | field seed)
    artifact=$(grep -l "^$seed\$" "$campaign"/failures/*/seed | head -1 | xargs dirname)
    "$trial" shrink "$artifact" --runs-max 300 >/dev/null 2>&1 || true
    sizes=$(sed -n 's/^\(original\|shrunk\): *\([0-9]*\) faults, ~\([0-9]*\) records.*/\2 faults, \3 records/p' \
        "$artifact/shrunk/shrink.txt" 2>/dev/null | paste -sd '>' | sed 's/>/ → /')
    echo "| $switch | $((first + 1)) | $(awk -v ns="$wall_ns" 'BEGIN { printf "%.2f s", ns / 1e9 }') | $failed | $violation | ${sizes:-not shrunk} |"
done
