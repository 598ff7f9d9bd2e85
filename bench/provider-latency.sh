#!/usr/bin/env bash
# Benchmark: how long after a CloudFormation stack reaches CREATE_COMPLETE (on the moto emulator) the pipeline's
# next action starts, in both hosts, each against a baseline measured in the same run:
#   - local: `sluice run` (the provider's poller, backing off from 250 ms to SLUICE_POLL_MAX_SECONDS); baseline:
#     a Commands action done -> the next action started.
#   - AWS: the dispatch function's handler on moto (DynamoDB, S3, Step Functions), the stack's EventBridge event
#     delivered as soon as it is emitted; baseline: an inline S3 deploy done -> the next action started.
# Medians of 5. Starts moto (infra/moto.sh) unless it is running, and stops it again if it started it.
#
#   bench/provider-latency.sh
#   SLUICE_POLL_MAX_SECONDS=2 bench/provider-latency.sh
set -euo pipefail
cd "$(dirname "$0")/.."

started=""
if ! curl -s http://127.0.0.1:5000/moto-api/ >/dev/null; then
    infra/moto.sh start >/dev/null
    started=yes
fi
stop() { if [[ -n $started ]]; then infra/moto.sh stop >/dev/null; fi; }
trap stop EXIT

export AWS_ENDPOINT_URL=http://127.0.0.1:5000 SLUICE_SERIAL_ENDPOINT_URL=http://127.0.0.1:5001
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN

for suite in aws_providers aws_jobs; do
    cargo test -q -p sluice-tests --test "$suite" bench_stack_complete_to_next_action -- --ignored --nocapture \
        --test-threads 1 2>&1 | grep -E '^(local|aws) ' || {
        echo "the $suite benchmark failed: cargo test -p sluice-tests --test $suite bench_ -- --ignored" >&2
        exit 1
    }
done
