#!/usr/bin/env bash
# The whole workspace's tests, with the moto AWS emulator started first and stopped after (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

# sam and cfn-lint for tests/tests/template.rs (installed into .venv-sam once; silent when already there).
SAM_TOOLS_QUIET=1 infra/sam-tools.sh
# cargo-lambda for tests/tests/functions.rs (installed into .venv-lambda once).
CARGO_LAMBDA_QUIET=1 infra/cargo-lambda.sh

trap 'infra/moto.sh stop' EXIT
infra/moto.sh start

export AWS_ENDPOINT_URL=http://127.0.0.1:5000
export SLUICE_SERIAL_ENDPOINT_URL=http://127.0.0.1:5001
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
cargo test --workspace "$@"
