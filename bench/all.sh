#!/usr/bin/env bash
# Every figure of issue 17 (local runs against make, cost per action, stage transitions, a large artifact against
# zip), each printed with its anchor from the same run and the ratio; and what one `release` execution costs on
# AWS (state transitions per action and dollars, counted on moto: bench/cost-per-execution.md), against the goals
# and CodePipeline's price. Builds the release binary once.
#
#   bench/all.sh                                   # every case
#   bench/all.sh make100 smallest                  # some: make100 smallest scale stages artifact cost
#   RUNS=9 SLUICE_BENCH_ARTIFACT_MB=30 bench/all.sh artifact
#
# Needs make, zip and python3 (and, for cost, what infra/moto.sh installs). See bench/bench.py for the local
# cases and the environment it reads.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
wanted=("$@")
if [ ${#wanted[@]} -eq 0 ]; then
    wanted=(make100 smallest scale stages artifact cost)
fi
local_cases=()
cost=0
for c in "${wanted[@]}"; do
    if [ "$c" = cost ]; then cost=1; else local_cases+=("$c"); fi
done
if [ ${#local_cases[@]} -gt 0 ]; then
    cargo build --release -q -p sluice-cli --manifest-path "$root/Cargo.toml"
    python3 "$root/bench/bench.py" "$root/target/release/sluice" "${local_cases[@]}"
fi
if [ "$cost" = 1 ]; then
    "$root/infra/moto.sh" start >/dev/null
    trap '"$root/infra/moto.sh" stop >/dev/null' EXIT
    echo "== cost: one release execution on Step Functions (moto), requests counted at the ports"
    AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
        AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
        cargo test -q -p sluice-tests --manifest-path "$root/Cargo.toml" --test aws_fidelity release -- --nocapture 2>&1 |
        sed -n '/^release on Step Functions/,/^  goals:/p'
fi
