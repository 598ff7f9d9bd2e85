#!/usr/bin/env bash
# Every figure of issue 17 (local runs against make, cost per action, stage transitions, a large artifact against
# zip), each printed with its anchor from the same run and the ratio. Builds the release binary once.
#
#   bench/all.sh                                   # every case
#   bench/all.sh make100 smallest                  # some: make100 smallest scale stages artifact
#   RUNS=9 SLUICE_BENCH_ARTIFACT_MB=30 bench/all.sh artifact
#
# Needs make, zip and python3. See bench/bench.py for the cases and the environment it reads.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -q -p sluice-cli --manifest-path "$root/Cargo.toml"
exec python3 "$root/bench/bench.py" "$root/target/release/sluice" "$@"
