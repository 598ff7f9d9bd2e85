# One way to do each chore. The README's commands and .ci/run call these targets.
.PHONY: demo test check lint fmt bench

# The main job on the embedded default: run the four-stage release example end to end on this machine
# (source -> build with parallel tests and a CodeBuild buildspec -> approval -> deploy), approving its manual
# approval automatically. State goes to .sluice/ (see `sluice status`, `sluice logs`, `sluice events`).
demo:
	cargo run -q -p sluice-cli -- run examples/release/pipeline.yaml --auto-approve

# Every test: installs the node tools the suites use (asl-validator), then the whole workspace's tests with the
# moto AWS emulator running (scripts/test.sh installs sam and cfn-lint into .venv-sam for the template suite and
# cargo-lambda into .venv-lambda for the function binaries suite, starts moto, points AWS_ENDPOINT_URL at it, and
# stops it even on failure).
test: node_modules/.package-lock.json
	scripts/test.sh

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# Formatting and lints, as CI checks them.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

check: lint test

# Every figure of the performance issue, each with its anchor (make, sh, zip) measured in the same run and the
# ratio; builds the release binary once. Cases and sizes: see bench/all.sh.
bench:
	bench/all.sh
