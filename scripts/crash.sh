#!/usr/bin/env bash
# The server crash test at full size: `sluice serve` killed with SIGKILL 300 times while 200 executions of a
# QUEUED and a PARALLEL pipeline run (100 each). Prints executions lost, finished actions rerun and overlaps
# with orphans; all must be 0 (the test fails otherwise). `make test` runs a smaller one (8 + 8 executions,
# 12 kills). SLUICE_CRASH_SEED=N replays a run.
set -euo pipefail
cd "$(dirname "$0")/.."
export SLUICE_CRASH_EXECUTIONS="${SLUICE_CRASH_EXECUTIONS:-100}"
export SLUICE_CRASH_KILLS="${SLUICE_CRASH_KILLS:-300}"
cargo test -p sluice-tests --test crash_serve -- --nocapture 2>&1 | grep -E "server crash test|test result|panicked|lost|rerun|overlap"
